/*
 * Copyright (C) ngx_signal_module authors
 *
 * bench/loadgen: the publisher threads.  Each keeps one keep-alive HTTP
 * connection, posts the events (or batches) of the rooms it owns in
 * global order and reads every response whole before the next request.
 */

#define _GNU_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "loadgen.h"


static int
send_all(int fd, const char *p, size_t n)
{
    ssize_t  r;

    while (n) {
        r = write(fd, p, n);

        if (r <= 0) {
            return -1;
        }

        p += r;
        n -= r;
    }

    return 0;
}


/* a publisher's connection: a server that stops answering ends the run */

static int
pub_connect(void)
{
    int             fd;
    struct timeval  tv;

    fd = tcp_connect(cfg.pub_port);

    if (fd >= 0) {
        tv.tv_sec = 30;
        tv.tv_usec = 0;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    }

    return fd;
}


/* more of a response into resp (size bytes, kept NUL-terminated) */

static int
read_more(int fd, char *resp, size_t *len, size_t size)
{
    ssize_t  r;

    if (*len == size - 1) {
        return -1;
    }

    r = read(fd, resp + *len, size - 1 - *len);
    if (r <= 0) {
        return -1;
    }

    *len += r;
    resp[*len] = '\0';

    return 0;
}


/*
 * one whole response: headers, then the Content-Length body or the chunks
 * up to the last one, so that the next response starts clean on a
 * keep-alive connection; -1 when the connection is gone, else 1 for 2xx
 * and 0 for anything else (resp holds its start)
 */

static int
read_response(int fd, char *resp, size_t size)
{
    char      *eoh, *h;
    size_t     len, hl, clen;
    ssize_t    r;
    int        chunked;

    len = 0;
    eoh = NULL;

    while (eoh == NULL) {
        if (read_more(fd, resp, &len, size) < 0) {
            return -1;
        }

        eoh = strstr(resp, "\r\n\r\n");
    }

    hl = eoh + 4 - resp;
    *eoh = '\0';

    h = strcasestr(resp, "\r\nContent-Length:");
    clen = h ? strtoul(h + 17, NULL, 10) : 0;
    chunked = strcasestr(resp, "\r\nTransfer-Encoding: chunked") != NULL;
    *eoh = '\r';

    if (chunked) {
        /* small bodies in practice: keep reading until the last chunk */

        while (memmem(resp + hl - 2, len - hl + 2, "\r\n0\r\n\r\n", 7)
               == NULL)
        {
            if (read_more(fd, resp, &len, size) < 0) {
                return -1;
            }
        }

    } else {
        len -= hl;

        while (len < clen) {
            r = read(fd, resp + hl, (clen - len < size - 1 - hl)
                                    ? clen - len : size - 1 - hl);
            if (r <= 0) {
                return -1;
            }

            len += r;
        }
    }

    return strncmp(resp, "HTTP/1.1 2", 10) == 0;
}


void *
publisher(void *arg)
{
    lg_pub_t  *p = arg;
    int        fd, n, tries, rc;
    long       i, b, u, units, owner, count;
    char      *body, *req, one[64], resp[16384], room[LG_ROOM_LEN];
    char       path[LG_PATH_LEN];
    size_t     cap, len;
    uint64_t   due;

    cap = (size_t) cfg.batch * (strlen(cfg.room) + 128) + 256;
    body = malloc(cap);
    req = malloc(cap + LG_PATH_LEN + 256);

    fd = pub_connect();

    if (fd < 0 || body == NULL || req == NULL) {
        fprintf(stderr, "loadgen: publisher cannot connect\n");
        goto done;
    }

    units = (cfg.events + cfg.batch - 1) / cfg.batch;

    for (u = 0; u < units && !atomic_load(&stop); u++) {
        i = u * cfg.batch;

        /* see the usage comment: a room always has the same publisher */
        owner = (cfg.batch == 1) ? (i % cfg.rooms) % cfg.publishers
                                 : u % cfg.publishers;
        if (owner != p->index) {
            continue;
        }

        if (cfg.rate > 0) {
            due = pub_start + (uint64_t) (i * 1000000.0 / cfg.rate);

            while (now_us() < due) {
                usleep(50);
            }
        }

        count = (cfg.events - i < cfg.batch) ? cfg.events - i : cfg.batch;
        len = 0;

        if (cfg.bare) {
            len = payload(body, cap, i);

        } else {
            if (cfg.batch > 1) {
                len += snprintf(body + len, cap - len, "{\"events\":[");
            }

            for (b = 0; b < count; b++) {
                payload(one, sizeof(one), i + b);
                room_name(room, sizeof(room), (i + b) % cfg.rooms);
                len += snprintf(body + len, cap - len,
                                "%s{\"room\":\"%s\",\"event\":\"b\","
                                "\"data\":%s}", b ? "," : "", room, one);
            }

            if (cfg.batch > 1) {
                len += snprintf(body + len, cap - len, "]}");
            }
        }

        room_name(room, sizeof(room), i % cfg.rooms);
        subst(path, sizeof(path), cfg.pub, room);

        n = snprintf(req, cap + LG_PATH_LEN + 256,
                     "POST %s HTTP/1.1\r\nHost: localhost\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s", path, len, body);

        rc = -1;

        for (tries = 0; tries < 2; tries++) {
            if (send_all(fd, req, n) == 0) {
                rc = read_response(fd, resp, sizeof(resp));
            }

            if (rc >= 0) {
                break;
            }

            /* the server closed the keep-alive connection (e.g. after
             * keepalive_requests): once more on a new one */

            close(fd);
            fd = pub_connect();

            if (fd < 0) {
                break;
            }
        }

        if (rc < 0) {
            fprintf(stderr, "loadgen: publishing failed\n");
            goto done;
        }

        if (rc == 0) {
            fprintf(stderr, "loadgen: publish refused: %.60s\n", resp);
            goto done;
        }

        for (b = 0; b < count; b++) {
            room_published[(i + b) % cfg.rooms]++;
        }

        atomic_fetch_add(&published, count);
        atomic_fetch_add(&requests, 1);
    }

done:

    p->end = now_us();

    if (fd >= 0) {
        close(fd);
    }

    free(body);
    free(req);

    atomic_fetch_add(&publishers_done, 1);
    check_done();

    return NULL;
}
