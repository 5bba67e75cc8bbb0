/*
 * Copyright (C) ngx_signal_module authors
 *
 * bench/floor: the least a WebSocket fan-out server can do, to show how
 * close each system comes to what the kernel allows.  One epoll loop:
 * GET with "Upgrade" gets a 101 and becomes a subscriber; a POST's body is
 * framed once and written to every subscriber with one write() each (a
 * subscriber that cannot take it is dropped, counted on exit).  No rooms,
 * no parsing beyond that, no queues.
 *
 *   floor --port P
 */

#define _GNU_SOURCE

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>


#define FL_MAX_FD   70000
#define FL_BUF      65536


typedef struct {
    int     used;
    int     subscriber;
    size_t  len;
    char   *buf;
} fl_conn_t;


static fl_conn_t  conns[FL_MAX_FD];
static int        subs[FL_MAX_FD];
static int        nsubs;
static long       dropped;


static void
fl_close(int ep, int fd)
{
    int  i;

    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);

    if (conns[fd].subscriber) {
        for (i = 0; i < nsubs; i++) {
            if (subs[i] == fd) {
                subs[i] = subs[--nsubs];
                break;
            }
        }
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


/* one request in c->buf: 1 when handled, 0 when more bytes are needed */

static int
fl_request(int ep, int fd)
{
    fl_conn_t  *c = &conns[fd];
    char       *eoh, *h, *e, accept[64], resp[256], frame[FL_BUF + 16];
    size_t      hl, body, fl;
    int         i, n;

    eoh = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (eoh == NULL) {
        return 0;
    }

    hl = eoh + 4 - c->buf;

    if (strncmp(c->buf, "GET ", 4) == 0) {
        h = memmem(c->buf, hl, "Sec-WebSocket-Key: ", 19);
        if (h == NULL) {
            fl_close(ep, fd);
            return 1;
        }

        h += 19;
        e = memmem(h, hl - (h - c->buf), "\r\n", 2);
        fl_accept_key(h, e - h, accept);

        n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
        if (write(fd, resp, n) != n) {
            fl_close(ep, fd);
            return 1;
        }

        c->subscriber = 1;
        subs[nsubs++] = fd;
        c->len = 0;
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

    for (i = 0; i < nsubs; i++) {
        if (write(subs[i], frame, fl) != (ssize_t) fl) {
            dropped++;
        }
    }

    n = snprintf(resp, sizeof(resp),
                 "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
    if (write(fd, resp, n) != n) {
        fl_close(ep, fd);
        return 1;
    }

    memmove(c->buf, c->buf + hl + body, c->len - hl - body);
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
