/*
 * Copyright (C) ngx_signal_module authors
 *
 * bench/loadgen: the subscriber side of a connection once it is connected:
 * the 101, the Socket.IO open and connect packets, frames, answers to
 * pings, and the accounting of every event (order, gaps, duplicates,
 * latency); the receiver threads that read them.  Server-Sent Events
 * (--proto sse) take the same path up to the response head and body, which
 * loadgen_sse.c parses.
 */

#define _GNU_SOURCE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loadgen.h"


static int
grow(lg_conn_t *c, size_t size)
{
    char  *p;

    if (size > LG_RBUF_MAX) {
        return -1;
    }

    p = realloc(c->buf, size);
    if (p == NULL) {
        return -1;
    }

    c->buf = p;
    c->cap = size;

    return 0;
}


/* a masked text frame (client frames must be masked, RFC 6455 5.3) */

static int
send_text(int fd, const char *p, size_t len)
{
    size_t          k;
    unsigned char   f[6 + 125];
    unsigned char   key[4] = { 0x37, 0xfa, 0x21, 0x3d };

    f[0] = 0x81;
    f[1] = 0x80 | (unsigned char) len;
    memcpy(f + 2, key, 4);

    for (k = 0; k < len; k++) {
        f[6 + k] = p[k] ^ key[k % 4];
    }

    return (write(fd, f, 6 + len) == (ssize_t) (6 + len)) ? 0 : -1;
}


/* one message: find "t" and "i" and account for it */

void
message(lg_conn_t *c, lg_recv_t *r, const char *p, size_t len, uint64_t now)
{
    const char  *t, *i, *end;
    uint64_t     ts, lat;
    int64_t      idx;

    end = p + len;
    t = memmem(p, len, "\"t\":", 4);
    i = memmem(p, len, "\"i\":", 4);

    if (t == NULL || i == NULL || t + 4 >= end || i + 4 >= end) {
        return;
    }

    ts = strtoull(t + 4, NULL, 10);
    idx = strtoll(i + 4, NULL, 10);

    /* published before this run: a server replaying what it kept (nchan
     * sends its message buffer to a new subscriber of a reused channel);
     * not ours, so neither received nor a duplicate */

    if (ts < pub_start || pub_start == 0) {
        r->stale++;
        return;
    }

    lat = now > ts ? now - ts : 0;
    r->hist[lat / 10 < LG_BUCKETS ? lat / 10 : LG_BUCKETS]++;

    if (lat > r->lat_max) {
        r->lat_max = lat;
    }

    c->got++;

    if (idx < c->next) {
        c->dups++;

    } else {
        c->missing += idx - c->next;
        c->next = idx + 1;
    }
}


/* one text frame: an event, or the Engine.IO / Socket.IO handshake */

static int
text(lg_conn_t *c, lg_recv_t *r, const char *p, size_t len, uint64_t now)
{
    if (!cfg.socketio) {
        if (c->state == LG_OPEN) {
            message(c, r, p, len, now);
        }

        return 0;
    }

    if (len == 1 && p[0] == '2') {
        return send_text(c->fd, "3", 1);
    }

    if (len >= 1 && p[0] == '1') {
        return -1;                   /* Engine.IO close */
    }

    switch (c->state) {

    case LG_EIO_OPEN:
        if (len >= 2 && p[0] == '0' && p[1] == '{') {
            c->state = LG_SIO_CONNECT;
            return send_text(c->fd, "40", 2);
        }

        return 0;

    case LG_SIO_CONNECT:
        if (len >= 2 && p[0] == '4' && p[1] == '0') {
            c->state = LG_OPEN;

        } else if (len >= 2 && p[0] == '4' && p[1] == '4') {
            return -1;               /* connect_error: refused */
        }

        return 0;

    default:
        if (len >= 2 && p[0] == '4' && p[1] == '2') {
            message(c, r, p, len, now);

        } else if (len >= 2 && p[0] == '4' && p[1] == '1') {
            return -1;               /* disconnected by the server */
        }

        return 0;
    }
}


/* frames in c->buf; returns -1 when the connection is unusable */

static int
frames(lg_conn_t *c, lg_recv_t *r, uint64_t now)
{
    size_t          pos, hl, need;
    uint64_t        plen;
    unsigned char  *b, op;

    pos = 0;
    need = 0;
    b = (unsigned char *) c->buf;

    while (c->len - pos >= 2) {
        hl = 2;
        plen = b[pos + 1] & 0x7f;

        if (plen == 126) {
            if (c->len - pos < 4) {
                break;
            }
            plen = (b[pos + 2] << 8) | b[pos + 3];
            hl = 4;

        } else if (plen == 127) {
            if (c->len - pos < 10) {
                break;
            }
            plen = 0;
            for (int k = 0; k < 8; k++) {
                plen = (plen << 8) | b[pos + 2 + k];
            }
            hl = 10;
        }

        if (plen > LG_RBUF_MAX - hl) {
            return -1;
        }

        if (c->len - pos < hl + plen) {
            need = hl + plen;
            break;
        }

        op = b[pos] & 0x0f;

        if (op == 1) {
            if (text(c, r, c->buf + pos + hl, plen, now) < 0) {
                return -1;
            }

        } else if (op == 9) {
            /* a ping: answer with a masked pong (empty payload) */
            unsigned char  pong[6] = { 0x8a, 0x80, 0, 0, 0, 0 };

            if (write(c->fd, pong, sizeof(pong)) < 0) {
                return -1;
            }

        } else if (op == 8) {
            return -1;
        }

        pos += hl + plen;
    }

    memmove(c->buf, c->buf + pos, c->len - pos);
    c->len -= pos;

    /* a frame larger than the buffer: room for all of it */

    if (need > c->cap) {
        return grow(c, need);
    }

    return 0;
}


int
on_read(lg_conn_t *c, lg_recv_t *r)
{
    char      *eoh;
    size_t     room;
    ssize_t    n;
    uint64_t   now;

    for ( ;; ) {
        if (c->len == c->cap && grow(c, c->cap * 2) < 0) {
            return -1;
        }

        room = c->cap - c->len;
        n = read(c->fd, c->buf + c->len, room);

        if (n == 0) {
            return -1;
        }

        if (n < 0) {
            return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
        }

        c->len += n;
        now = now_us();

        if (c->state == LG_HANDSHAKE) {
            eoh = memmem(c->buf, c->len, "\r\n\r\n", 4);
            if (eoh == NULL) {
                continue;
            }

            if (cfg.sse) {
                if (sse_head(c, eoh) < 0) {
                    return -1;
                }

            } else if (strncmp(c->buf, "HTTP/1.1 101", 12) != 0) {
                return -1;
            }

            c->state = cfg.socketio ? LG_EIO_OPEN : LG_OPEN;
            eoh += 4;
            c->len -= eoh - c->buf;
            memmove(c->buf, eoh, c->len);
        }

        if ((cfg.sse ? sse_input(c, r, now) : frames(c, r, now)) < 0) {
            return -1;
        }

        /* a read that filled the buffer: more is queued, so fewer and
         * larger reads from now on; idle connections keep the small one */

        if ((size_t) n == room && c->cap < LG_RBUF_BUSY
            && grow(c, LG_RBUF_BUSY) < 0)
        {
            return -1;
        }
    }
}


void *
receiver(void *arg)
{
    lg_recv_t          *r = arg;
    int                 i, n;
    uint64_t            got, before;
    lg_conn_t          *c;
    struct epoll_event  evs[256];

    while (!atomic_load(&stop)) {
        n = epoll_wait(r->ep, evs, 256, 50);
        got = 0;

        for (i = 0; i < n; i++) {
            c = evs[i].data.ptr;
            before = c->got;

            if (on_read(c, r) < 0 && c->fd >= 0) {
                epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->fd = -1;
            }

            got += c->got - before;
        }

        if (got) {
            atomic_fetch_add(&received, got);
            check_done();
        }
    }

    return NULL;
}
