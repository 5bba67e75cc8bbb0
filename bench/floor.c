/*
 * Copyright (C) ngx_signal_module authors
 *
 * bench/floor: the least a WebSocket fan-out server can do, to show how
 * close each system comes to what the kernel allows.  One epoll loop:
 * GET with "Upgrade" gets a 101 and becomes a subscriber, a GET that
 * accepts text/event-stream a 200 and an event stream (Server-Sent
 * Events, ending with the connection); a POST's body is framed once for
 * each (a WebSocket text frame, "data: <body>\n\n") and written to every
 * subscriber with one write() each (a subscriber that cannot take it is
 * dropped, counted on exit).  Rooms at
 * their simplest: a GET with room=X in its query joins room X, a POST with
 * id=X (/pub?id=X) goes to the subscribers of room X only, one without id
 * to every subscriber.  No parsing beyond that, no queues.
 *
 *   floor --port P
 */

#define _GNU_SOURCE

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>


#define FL_MAX_FD   70000
#define FL_BUF      65536
#define FL_ROOMS    65536        /* hash buckets, a power of 2 */


typedef struct fl_room_s  fl_room_t;

/* rooms are never freed: a floor lives for one benchmark */

struct fl_room_s {
    fl_room_t  *next;            /* in its hash bucket */
    int        *fds;
    int         n;
    int         cap;
    size_t      len;
    char        name[];
};


typedef struct {
    int         used;
    int         subscriber;
    int         sse;             /* an event stream, not a WebSocket */
    int         sub_index;       /* in subs, for an O(1) removal */
    int         room_index;      /* in room->fds */
    fl_room_t  *room;
    size_t      len;
    char       *buf;
} fl_conn_t;


static fl_conn_t   conns[FL_MAX_FD];
static int         subs[FL_MAX_FD];
static int         nsubs;
static long        dropped;
static fl_room_t  *rooms[FL_ROOMS];


static fl_room_t *
fl_room(const char *name, size_t len, int create)
{
    size_t      i;
    uint32_t    h;
    fl_room_t  *r;

    h = 2166136261u;                 /* FNV-1a */

    for (i = 0; i < len; i++) {
        h = (h ^ (unsigned char) name[i]) * 16777619u;
    }

    h &= FL_ROOMS - 1;

    for (r = rooms[h]; r; r = r->next) {
        if (r->len == len && memcmp(r->name, name, len) == 0) {
            return r;
        }
    }

    if (!create) {
        return NULL;
    }

    r = calloc(1, sizeof(fl_room_t) + len + 1);
    if (r == NULL) {
        return NULL;
    }

    memcpy(r->name, name, len);
    r->len = len;
    r->next = rooms[h];
    rooms[h] = r;

    return r;
}


static int
fl_join(int fd, const char *name, size_t len)
{
    int        *fds;
    fl_room_t  *r;

    r = fl_room(name, len, 1);
    if (r == NULL) {
        return -1;
    }

    if (r->n == r->cap) {
        fds = realloc(r->fds, (r->cap ? r->cap * 2 : 16) * sizeof(int));
        if (fds == NULL) {
            return -1;
        }

        r->fds = fds;
        r->cap = r->cap ? r->cap * 2 : 16;
    }

    conns[fd].room = r;
    conns[fd].room_index = r->n;
    r->fds[r->n++] = fd;

    return 0;
}


/* the value of query argument name (name=value) in the request line */

static const char *
fl_arg(const char *buf, const char *name, size_t *len)
{
    size_t       n;
    const char  *p, *end;

    n = strlen(name);
    p = strchr(buf, ' ');
    if (p == NULL) {
        return NULL;
    }

    p++;
    end = p + strcspn(p, " \r\n");

    for (p = memchr(p, '?', end - p); p; p = memchr(p, '&', end - p)) {
        p++;

        if ((size_t) (end - p) > n && memcmp(p, name, n) == 0
            && p[n] == '=')
        {
            p += n + 1;
            *len = strcspn(p, "& \r\n");
            return p;
        }
    }

    return NULL;
}


static void
fl_close(int ep, int fd)
{
    int         i, last;
    fl_room_t  *r;

    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);

    if (conns[fd].subscriber) {
        i = conns[fd].sub_index;
        last = subs[--nsubs];
        subs[i] = last;
        conns[last].sub_index = i;
    }

    r = conns[fd].room;

    if (r) {
        i = conns[fd].room_index;
        last = r->fds[--r->n];
        r->fds[i] = last;
        conns[last].room_index = i;
    }

    free(conns[fd].buf);
    memset(&conns[fd], 0, sizeof(fl_conn_t));
}


static void
fl_accept_key(const char *key, size_t len, char *out)
{
    unsigned char  sha[EVP_MAX_MD_SIZE];
    char           in[128];
    int            n;

    n = snprintf(in, sizeof(in), "%.*s258EAFA5-E914-47DA-95CA-C5AB0DC85B11",
                 (int) len, key);
    EVP_Digest(in, n, sha, NULL, EVP_sha1(), NULL);
    EVP_EncodeBlock((unsigned char *) out, sha, 20);
}


/* a GET (hl bytes of head in c->buf): a WebSocket or an event stream */

static void
fl_subscribe(int ep, int fd, size_t hl)
{
    fl_conn_t   *c = &conns[fd];
    char        *h, *e, accept[64], resp[256];
    size_t       idlen;
    int          n;
    const char  *id;

    h = memmem(c->buf, hl, "Sec-WebSocket-Key: ", 19);

    if (h != NULL) {
        h += 19;
        e = memmem(h, hl - (h - c->buf), "\r\n", 2);
        fl_accept_key(h, e - h, accept);

        n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n\r\n", accept);

    } else if (strcasestr(c->buf, "text/event-stream") != NULL) {
        c->sse = 1;
        n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 200 OK\r\n"
                     "Content-Type: text/event-stream\r\n"
                     "Cache-Control: no-cache\r\nConnection: close\r\n\r\n");

    } else {
        fl_close(ep, fd);
        return;
    }

    if (write(fd, resp, n) != n) {
        fl_close(ep, fd);
        return;
    }

    id = fl_arg(c->buf, "room", &idlen);

    if (id && fl_join(fd, id, idlen) < 0) {
        fl_close(ep, fd);
        return;
    }

    c->subscriber = 1;
    c->sub_index = nsubs;
    subs[nsubs++] = fd;
    c->len = 0;
}


/* one request in c->buf: 1 when handled, 0 when more bytes are needed */

static int
fl_request(int ep, int fd)
{
    fl_conn_t   *c = &conns[fd];
    char        *eoh, *h, resp[256], frame[FL_BUF + 16];
    char         event[FL_BUF + 16];
    size_t       hl, body, fl, el, idlen;
    int          i, n, nfds, *fds;
    fl_room_t   *r;
    const char  *id;

    eoh = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (eoh == NULL) {
        return 0;
    }

    hl = eoh + 4 - c->buf;

    if (strncmp(c->buf, "GET ", 4) == 0) {
        fl_subscribe(ep, fd, hl);
        return 1;
    }

    h = strcasestr(c->buf, "Content-Length: ");
    body = h ? strtoul(h + 16, NULL, 10) : 0;

    if (body > FL_BUF - 16) {
        fl_close(ep, fd);
        return 1;
    }

    if (c->len < hl + body) {
        return 0;
    }

    /* the frame, once: header + payload */

    frame[0] = (char) 0x81;

    if (body < 126) {
        frame[1] = (char) body;
        fl = 2;

    } else {
        frame[1] = 126;
        frame[2] = (char) (body >> 8);
        frame[3] = (char) (body & 0xff);
        fl = 4;
    }

    memcpy(frame + fl, c->buf + hl, body);
    fl += body;

    /* and the event, once: its data on one line (a body has no "\n") */

    memcpy(event, "data: ", 6);
    memcpy(event + 6, c->buf + hl, body);
    memcpy(event + 6 + body, "\n\n", 2);
    el = 6 + body + 2;

    /* /pub?id=X: room X only (nobody when it has no subscriber) */

    id = fl_arg(c->buf, "id", &idlen);

    if (id == NULL) {
        fds = subs;
        nfds = nsubs;

    } else {
        r = fl_room(id, idlen, 0);
        fds = r ? r->fds : NULL;
        nfds = r ? r->n : 0;
    }

    for (i = 0; i < nfds; i++) {
        if (conns[fds[i]].sse) {
            if (write(fds[i], event, el) != (ssize_t) el) {
                dropped++;
            }

        } else if (write(fds[i], frame, fl) != (ssize_t) fl) {
            dropped++;
        }
    }

    n = snprintf(resp, sizeof(resp),
                 "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
    if (write(fd, resp, n) != n) {
        fl_close(ep, fd);
        return 1;
    }

    /* with its '\0', for strcasestr on a pipelined next request */
    memmove(c->buf, c->buf + hl + body, c->len - hl - body + 1);
    c->len -= hl + body;

    return 1;
}


static void
fl_stop(int sig)
{
    (void) sig;
    fprintf(stderr, "floor: %ld frames dropped\n", dropped);
    _exit(0);
}


int
main(int argc, char **argv)
{
    int                 ls, ep, fd, n, i, one, port;
    ssize_t             r;
    fl_conn_t          *c;
    struct sockaddr_in  sin;
    struct epoll_event  ev, evs[512];

    port = (argc == 3 && strcmp(argv[1], "--port") == 0) ? atoi(argv[2])
                                                          : 18183;

    signal(SIGTERM, fl_stop);
    signal(SIGPIPE, SIG_IGN);

    ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (bind(ls, (struct sockaddr *) &sin, sizeof(sin)) < 0
        || listen(ls, 8192) < 0)
    {
        perror("floor");
        return 1;
    }

    ep = epoll_create1(0);
    ev.events = EPOLLIN;
    ev.data.fd = ls;
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);

    for ( ;; ) {
        n = epoll_wait(ep, evs, 512, -1);

        for (i = 0; i < n; i++) {
            fd = evs[i].data.fd;

            if (fd == ls) {
                while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (fd >= FL_MAX_FD) {
                        close(fd);
                        continue;
                    }

                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
                               sizeof(one));
                    conns[fd].used = 1;
                    conns[fd].buf = malloc(FL_BUF + 1);
                    ev.events = EPOLLIN;
                    ev.data.fd = fd;
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }

                continue;
            }

            c = &conns[fd];
            r = read(fd, c->buf + c->len, FL_BUF - c->len);

            if (r > 0) {
                c->buf[c->len + r] = '\0';    /* for strcasestr */
            }

            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) {
                    continue;
                }

                fl_close(ep, fd);
                continue;
            }

            if (c->subscriber) {
                /* what subscribers send (pongs, closes) is not read */
                c->len = 0;
                continue;
            }

            c->len += r;

            while (conns[fd].used && !conns[fd].subscriber
                   && fl_request(ep, fd))
            {
                /* void */
            }
        }
    }
}
