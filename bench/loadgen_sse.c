/*
 * Copyright (C) ngx_signal_module authors
 *
 * bench/loadgen: subscribers over Server-Sent Events (--proto sse).  The
 * request is a plain GET with "Accept: text/event-stream"; the answer must
 * be a 200 with Content-Type text/event-stream, its body either as it is
 * (ending with the connection, as this module sends it) or in chunks
 * (Transfer-Encoding: chunked, as nchan sends it over HTTP/1.1).  The body
 * is parsed as it comes: chunks are undone in place, then each event (the
 * lines up to an empty line) has its "data" lines joined by "\n", as an
 * EventSource would, and the result is accounted for like a WebSocket text
 * frame (message() in loadgen_ws.c: the payload's "t" and "i").  Comments,
 * "id", "event" and "retry" lines are skipped; an event without data
 * (this module's "retry", nchan's ": hi") is no message.  Lines may end
 * with "\n" or "\r\n".
 */

#define _GNU_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"


int
sse_request(char *buf, size_t size, const char *path)
{
    return snprintf(buf, size,
                    "GET %s HTTP/1.1\r\nHost: localhost\r\n"
                    "Accept: text/event-stream\r\n"
                    "Cache-Control: no-cache\r\n\r\n", path);
}


/* the response head, eoh at its "\r\n\r\n": 0 for an event stream */

int
sse_head(lg_conn_t *c, char *eoh)
{
    int  ok;

    if (strncmp(c->buf, "HTTP/1.1 200", 12) != 0
        && strncmp(c->buf, "HTTP/1.0 200", 12) != 0)
    {
        return -1;
    }

    /* for strcasestr: the head alone, the "\r" put back after */
    *eoh = '\0';

    ok = strcasestr(c->buf, "\r\nContent-Type: text/event-stream") != NULL;
    c->chunked = strcasestr(c->buf, "\r\nTransfer-Encoding: chunked")
                 != NULL;

    *eoh = '\r';

    c->chunk = 0;
    c->dec = 0;

    return ok ? 0 : -1;
}


/*
 * the chunks in c->buf[c->dec .. c->len) undone: their data moves to
 * c->dec, what is left of an incomplete size line stays after it; -1 at
 * the last chunk (the stream has ended) or something that is no chunk
 */

static int
dechunk(lg_conn_t *c)
{
    char           *b, *nl, *end;
    size_t          pos, n;
    unsigned long   size;

    b = c->buf;
    pos = c->dec;

    while (pos < c->len) {
        if (c->chunk > 0) {
            n = (c->len - pos < c->chunk) ? c->len - pos : c->chunk;
            memmove(b + c->dec, b + pos, n);
            c->dec += n;
            pos += n;
            c->chunk -= n;
            continue;
        }

        /* the "\r\n" that ends the data of the chunk before */

        if (b[pos] == '\r' || b[pos] == '\n') {
            pos++;
            continue;
        }

        nl = memchr(b + pos, '\n', c->len - pos);
        if (nl == NULL) {
            break;
        }

        /* a size in hex, maybe extensions after ';', then "\r\n" */

        size = strtoul(b + pos, &end, 16);

        if (end == b + pos || size == 0) {
            return -1;
        }

        c->chunk = size;
        pos = nl + 1 - b;
    }

    memmove(b + c->dec, b + pos, c->len - pos);
    c->len = c->dec + (c->len - pos);

    return 0;
}


/* the end of the next whole event in [p, end): just after its empty line */

static char *
event_end(char *p, char *end)
{
    char  *nl;

    while (p < end) {
        nl = memchr(p, '\n', end - p);
        if (nl == NULL) {
            return NULL;
        }

        if (nl == p || (nl == p + 1 && *p == '\r')) {
            return nl + 1;
        }

        p = nl + 1;
    }

    return NULL;
}


/*
 * the whole events in c->buf[0 .. c->dec), each one message; their data
 * lines are joined in place, at the event's start (never past the line
 * being read); returns the bytes they took
 */

static size_t
events(lg_conn_t *c, lg_recv_t *r, uint64_t now)
{
    int      ndata;
    char    *b, *p, *nl, *eoe, *w, *v;
    size_t   used, llen, vlen;

    b = c->buf;
    used = 0;

    for ( ;; ) {
        eoe = event_end(b + used, b + c->dec);
        if (eoe == NULL) {
            return used;
        }

        w = b + used;
        ndata = 0;

        for (p = b + used; p < eoe; p = nl + 1) {
            nl = memchr(p, '\n', eoe - p);
            llen = nl - p;

            if (llen && p[llen - 1] == '\r') {
                llen--;
            }

            /* "data", or "data:" and the value, one leading space off */

            if (llen < 4 || memcmp(p, "data", 4) != 0
                || (llen > 4 && p[4] != ':'))
            {
                continue;
            }

            v = p + (llen > 4 ? 5 : 4);
            vlen = llen - (v - p);

            if (vlen && *v == ' ') {
                v++;
                vlen--;
            }

            if (ndata++) {
                *w++ = '\n';
            }

            memmove(w, v, vlen);
            w += vlen;
        }

        if (ndata) {
            message(c, r, b + used, w - (b + used), now);
        }

        used = eoe - b;
    }
}


/* what was read after the head; -1 when the stream is over or unusable */

int
sse_input(lg_conn_t *c, lg_recv_t *r, uint64_t now)
{
    size_t  used;

    if (!c->chunked) {
        c->dec = c->len;

    } else if (dechunk(c) < 0) {
        return -1;
    }

    used = events(c, r, now);

    memmove(c->buf, c->buf + used, c->len - used);
    c->len -= used;
    c->dec -= used;

    return 0;
}
