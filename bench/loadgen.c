/*
 * Copyright (C) ngx_signal_module authors
 *
 * bench/loadgen: one process, epoll, thousands of WebSocket subscribers
 * and one HTTP keep-alive publisher thread.  Every published payload
 * carries {"t":<microseconds>,"i":<index>}; each subscriber checks that
 * the indexes arrive in order (missing and duplicate counts) and the
 * publish-to-receive latency goes into a histogram.
 *
 *   loadgen --port P --ws PATH --connections N --events E [--rate R]
 *           [--batch B] [--target signal|nchan] [--pub PATH]
 *           [--room R] [--hold SECONDS] [--timeout SECONDS]
 *           [--pids PID,PID,...]
 *
 * --target signal publishes {"room":R,"event":"b","data":{...}} (batches
 * as {"events":[...]}) to --pub; nchan posts the payload itself.  Prints
 * one JSON object with the results.
 */

#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>


#define LG_BUCKETS   100000      /* 10 us each: up to 1 s */
#define LG_RBUF      65536


typedef struct {
    int         fd;
    int         open;
    size_t      len;
    int64_t     next;            /* the index expected next */
    uint64_t    got;
    uint64_t    missing;
    uint64_t    dups;
    char        buf[LG_RBUF];
} lg_conn_t;


static struct {
    int         port;
    const char *ws;
    const char *pub;
    const char *room;
    const char *target;
    const char *pids;
    int         connections;
    long        events;
    long        rate;
    int         batch;
    int         hold;
    int         timeout;
} cfg = { 8080, "/ws", "/notify", "bench", "signal", NULL, 100, 1000, 0, 1,
          0, 120 };


static uint64_t    hist[LG_BUCKETS + 1];
static uint64_t    lat_max;
static volatile long published;
static volatile int  publisher_done;
static double      publish_seconds;


static uint64_t
now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


static int
tcp_connect(int nonblock)
{
    int                 fd, one;
    struct sockaddr_in  sin;

    fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) {
        return -1;
    }

    one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(cfg.port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) < 0
        && errno != EINPROGRESS)
    {
        close(fd);
        return -1;
    }

    return fd;
}


/* the payload of one event: latency and order are read back from it */

static int
payload(char *p, size_t size, long i)
{
    return snprintf(p, size, "{\"t\":%llu,\"i\":%ld}",
                    (unsigned long long) now_us(), i);
}


static void *
publisher(void *arg)
{
    int       fd, n, k, tries;
    long      i, b;
    char     *body, *req, one[64], resp[8192];
    size_t    cap, len;
    ssize_t   r;
    uint64_t  start, due;

    (void) arg;

    cap = (size_t) cfg.batch * 160 + 256;
    body = malloc(cap);
    req = malloc(cap + 512);

    fd = tcp_connect(0);
    if (fd < 0 || body == NULL || req == NULL) {
        fprintf(stderr, "loadgen: publisher cannot connect\n");
        publisher_done = 1;
        return NULL;
    }

    start = now_us();

    for (i = 0; i < cfg.events; i += cfg.batch) {

        if (cfg.rate > 0) {
            due = start + (uint64_t) (i * 1000000.0 / cfg.rate);

            while (now_us() < due) {
                usleep(50);
            }
        }

        len = 0;

        if (strcmp(cfg.target, "nchan") == 0) {
            len = payload(body, cap, i);

        } else {
            if (cfg.batch > 1) {
                len += snprintf(body + len, cap - len, "{\"events\":[");
            }

            for (b = 0; b < cfg.batch && i + b < cfg.events; b++) {
                payload(one, sizeof(one), i + b);
                len += snprintf(body + len, cap - len,
                                "%s{\"room\":\"%s\",\"event\":\"b\","
                                "\"data\":%s}", b ? "," : "", cfg.room, one);
            }

            if (cfg.batch > 1) {
                len += snprintf(body + len, cap - len, "]}");
            }
        }

        n = snprintf(req, cap + 512,
                     "POST %s HTTP/1.1\r\nHost: localhost\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s", cfg.pub, len, body);

        for (tries = 0; tries < 2; tries++) {

            for (k = 0, r = 1; k < n && r > 0; k += r) {
                r = write(fd, req + k, n - k);
            }

            /* one response per request; small, one read in practice */

            if (r > 0) {
                r = read(fd, resp, sizeof(resp) - 1);
            }

            if (r > 0) {
                break;
            }

            /* the server closed the keep-alive connection (e.g. after
             * keepalive_requests): once more on a new one */

            close(fd);
            fd = tcp_connect(0);

            if (fd < 0) {
                break;
            }
        }

        if (r <= 0) {
            fprintf(stderr, "loadgen: publishing failed\n");
            goto done;
        }

        resp[r] = '\0';

        if (strncmp(resp, "HTTP/1.1 2", 10) != 0) {
            fprintf(stderr, "loadgen: publish refused: %.60s\n", resp);
            goto done;
        }

        published += (cfg.events - i < cfg.batch) ? cfg.events - i
                                                   : cfg.batch;
    }

done:

    publish_seconds = (now_us() - start) / 1e6;

    if (fd >= 0) {
        close(fd);
    }

    free(body);
    free(req);
    publisher_done = 1;

    return NULL;
}


/* one message: find "t" and "i" and account for it */

static void
message(lg_conn_t *c, const char *p, size_t len, uint64_t now)
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

    lat = now > ts ? now - ts : 0;
    hist[lat / 10 < LG_BUCKETS ? lat / 10 : LG_BUCKETS]++;

    if (lat > lat_max) {
        lat_max = lat;
    }

    c->got++;

    if (idx < c->next) {
        c->dups++;

    } else {
        c->missing += idx - c->next;
        c->next = idx + 1;
    }
}


/* frames in c->buf; returns -1 when the connection is unusable */

static int
frames(lg_conn_t *c, uint64_t now)
{
    size_t          pos, hl;
    uint64_t        plen;
    unsigned char  *b;

    pos = 0;
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

        if (hl + plen > LG_RBUF) {
            return -1;
        }

        if (c->len - pos < hl + plen) {
            break;
        }

        if ((b[pos] & 0x0f) == 1) {
            message(c, c->buf + pos + hl, plen, now);

        } else if ((b[pos] & 0x0f) == 9) {
            /* a ping: answer with a masked pong (empty payload) */
            unsigned char  pong[6] = { 0x8a, 0x80, 0, 0, 0, 0 };

            if (write(c->fd, pong, sizeof(pong)) < 0) {
                return -1;
            }

        } else if ((b[pos] & 0x0f) == 8) {
            return -1;
        }

        pos += hl + plen;
    }

    memmove(c->buf, c->buf + pos, c->len - pos);
    c->len -= pos;

    return 0;
}


static int
on_read(lg_conn_t *c)
{
    char      *eoh;
    ssize_t    n;
    uint64_t   now;

    for ( ;; ) {
        n = read(c->fd, c->buf + c->len, LG_RBUF - c->len);

        if (n == 0) {
            return -1;
        }

        if (n < 0) {
            return (errno == EAGAIN) ? 0 : -1;
        }

        c->len += n;
        now = now_us();

        if (!c->open) {
            eoh = memmem(c->buf, c->len, "\r\n\r\n", 4);
            if (eoh == NULL) {
                continue;
            }

            if (strncmp(c->buf, "HTTP/1.1 101", 12) != 0) {
                return -1;
            }

            c->open = 1;
            eoh += 4;
            c->len -= eoh - c->buf;
            memmove(c->buf, eoh, c->len);
        }

        if (frames(c, now) < 0) {
            return -1;
        }
    }
}


static long
cpu_ticks(void)
{
    char   path[64], line[1024], *p, *save, *pid;
    char   pids[4096];
    long   total, utime, stime;
    int    k;
    FILE  *f;

    if (cfg.pids == NULL) {
        return 0;
    }

    snprintf(pids, sizeof(pids), "%s", cfg.pids);
    total = 0;

    for (pid = strtok_r(pids, ",", &save); pid;
         pid = strtok_r(NULL, ",", &save))
    {
        snprintf(path, sizeof(path), "/proc/%s/stat", pid);

        f = fopen(path, "r");
        if (f == NULL) {
            continue;
        }

        if (fgets(line, sizeof(line), f)) {
            /* after "(comm)": field 14 utime, 15 stime */
            p = strrchr(line, ')');

            for (k = 0; p && k < 12; k++) {
                p = strchr(p + 1, ' ');
            }

            if (p && sscanf(p + 1, "%ld %ld", &utime, &stime) == 2) {
                total += utime + stime;
            }
        }

        fclose(f);
    }

    return total;
}


static uint64_t
percentile(uint64_t total, double q)
{
    uint64_t  want, seen;
    size_t    k;

    want = (uint64_t) (total * q);
    seen = 0;

    for (k = 0; k <= LG_BUCKETS; k++) {
        seen += hist[k];

        if (seen > want) {
            return k * 10;
        }
    }

    return lat_max;
}


int
main(int argc, char **argv)
{
    int                 ep, i, n, opened;
    char                req[1024];
    long                cpu0, cpu1;
    double              seconds;
    uint64_t            start, expected, got, missing, dups, deadline;
    pthread_t           tid;
    lg_conn_t          *conns, *c;
    struct epoll_event  ev, evs[256];

    for (i = 1; i + 1 < argc; i += 2) {
        const char  *k = argv[i], *v = argv[i + 1];

        if (!strcmp(k, "--port")) cfg.port = atoi(v);
        else if (!strcmp(k, "--ws")) cfg.ws = v;
        else if (!strcmp(k, "--pub")) cfg.pub = v;
        else if (!strcmp(k, "--room")) cfg.room = v;
        else if (!strcmp(k, "--target")) cfg.target = v;
        else if (!strcmp(k, "--pids")) cfg.pids = v;
        else if (!strcmp(k, "--connections")) cfg.connections = atoi(v);
        else if (!strcmp(k, "--events")) cfg.events = atol(v);
        else if (!strcmp(k, "--rate")) cfg.rate = atol(v);
        else if (!strcmp(k, "--batch")) cfg.batch = atoi(v);
        else if (!strcmp(k, "--hold")) cfg.hold = atoi(v);
        else if (!strcmp(k, "--timeout")) cfg.timeout = atoi(v);
        else {
            fprintf(stderr, "loadgen: unknown option %s\n", k);
            return 2;
        }
    }

    if (cfg.batch < 1 || cfg.connections < 1) {
        fprintf(stderr, "loadgen: --batch and --connections must be >= 1\n");
        return 2;
    }

    conns = calloc(cfg.connections, sizeof(lg_conn_t));
    ep = epoll_create1(0);

    if (conns == NULL || ep < 0) {
        perror("loadgen");
        return 1;
    }

    n = snprintf(req, sizeof(req),
                 "GET %s HTTP/1.1\r\nHost: localhost\r\n"
                 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n", cfg.ws);

    /* connect storm: all of them, then wait for the 101s */

    start = now_us();

    for (i = 0; i < cfg.connections; i++) {
        c = &conns[i];
        c->fd = tcp_connect(0);

        if (c->fd < 0 || write(c->fd, req, n) != n) {
            fprintf(stderr, "loadgen: connection %d failed\n", i);
            return 1;
        }

        fcntl(c->fd, F_SETFL, O_NONBLOCK);

        ev.events = EPOLLIN;
        ev.data.ptr = c;
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }

    opened = 0;
    deadline = now_us() + 30000000;

    while (opened < cfg.connections && now_us() < deadline) {
        n = epoll_wait(ep, evs, 256, 100);

        for (i = 0; i < n; i++) {
            c = evs[i].data.ptr;

            if (!c->open && on_read(c) == 0 && c->open) {
                opened++;
            }
        }
    }

    seconds = (now_us() - start) / 1e6;

    fprintf(stderr, "loadgen: %d of %d connections open in %.2f s\n",
            opened, cfg.connections, seconds);

    if (cfg.hold) {
        /* the idle footprint is measured from outside meanwhile */
        printf("{\"opened\":%d,\"connect_seconds\":%.3f}\n", opened,
               seconds);
        fflush(stdout);
        sleep(cfg.hold);
        return 0;
    }

    cpu0 = cpu_ticks();
    start = now_us();

    pthread_create(&tid, NULL, publisher, NULL);

    expected = (uint64_t) cfg.events * opened;
    got = 0;
    deadline = 0;

    for ( ;; ) {
        n = epoll_wait(ep, evs, 256, 50);

        for (i = 0; i < n; i++) {
            c = evs[i].data.ptr;

            if (on_read(c) < 0 && c->fd >= 0) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->fd = -1;
            }
        }

        got = 0;
        for (i = 0; i < cfg.connections; i++) {
            got += conns[i].got;
        }

        if (got >= expected && publisher_done) {
            break;
        }

        if (publisher_done && deadline == 0) {
            deadline = now_us() + 5000000;   /* 5 s for stragglers */
        }

        if (now_us() - start > (uint64_t) cfg.timeout * 1000000) {
            fprintf(stderr, "loadgen: gave up after %d s\n", cfg.timeout);
            break;
        }

        if (deadline && now_us() > deadline) {
            break;
        }
    }

    seconds = (now_us() - start) / 1e6;
    cpu1 = cpu_ticks();

    pthread_join(tid, NULL);

    missing = dups = 0;

    for (i = 0; i < cfg.connections; i++) {
        c = &conns[i];
        /* what never came after the last one received is missing too */
        missing += c->missing + (uint64_t) (published - c->next);
        dups += c->dups;
    }

    printf("{\"target\":\"%s\",\"connections\":%d,\"events\":%ld,"
           "\"batch\":%d,\"rate\":%ld,\"published\":%ld,"
           "\"publish_seconds\":%.3f,\"expected\":%llu,\"received\":%llu,"
           "\"missing\":%llu,\"duplicates\":%llu,\"seconds\":%.3f,"
           "\"deliveries_per_second\":%.0f,\"latency_us\":{\"p50\":%llu,"
           "\"p90\":%llu,\"p99\":%llu,\"max\":%llu},"
           "\"server_cpu_seconds\":%.2f,\"cpu_us_per_delivery\":%.3f}\n",
           cfg.target, opened, cfg.events, cfg.batch, cfg.rate, published,
           publish_seconds, (unsigned long long) expected,
           (unsigned long long) got, (unsigned long long) missing,
           (unsigned long long) dups, seconds, got / seconds,
           (unsigned long long) percentile(got, 0.5),
           (unsigned long long) percentile(got, 0.9),
           (unsigned long long) percentile(got, 0.99),
           (unsigned long long) lat_max,
           (cpu1 - cpu0) / (double) sysconf(_SC_CLK_TCK),
           got ? (cpu1 - cpu0) * 1e6 / sysconf(_SC_CLK_TCK) / got : 0.0);

    return (missing || dups) ? 3 : 0;
}
