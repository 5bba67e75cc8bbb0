/*
 * Copyright (C) ngx_signal_module authors
 *
 * bench/loadgen: one process, thousands of WebSocket (or Server-Sent
 * Events) subscribers read by --threads epoll threads, and --publishers
 * HTTP keep-alive publisher threads.  Every published payload carries
 * {"t":<microseconds>,"i":<k>}, k the event's index within its room; each
 * subscriber checks that the indexes arrive in order (missing and
 * duplicate counts) and the publish-to-receive latency goes into a
 * histogram.  This file: options, the connect phase and the results;
 * loadgen_ws.c reads the subscribers (loadgen_sse.c their event streams),
 * loadgen_pub.c runs the publishers.
 *
 *   loadgen --port P[,P,...] --ws PATH --connections N --events E
 *           [--rate R] [--batch B] [--pub PATH] [--pub-port P]
 *           [--target signal|socketio|nchan|floor]
 *           [--proto native|socketio|sse]
 *           [--room R] [--rooms N] [--publishers P] [--threads T]
 *           [--hold SECONDS] [--timeout SECONDS] [--pids PID,PID,...]
 *
 * --port       a comma list: connection i connects to port i % nports
 *              (several servers sharing a bus); --pub-port is where the
 *              publishers post, the first --port by default.
 * --proto      native: plain WebSocket.  socketio: Engine.IO 4 and
 *              Socket.IO 5 over WebSocket: "EIO=4&transport=websocket" is
 *              added to the query of --ws, the open packet 0{...} is
 *              answered with 40 and the connection counts as open when 40
 *              comes back; pings 2 are answered with 3, events arrive as
 *              42["b",{...}].  sse: a GET of --ws with "Accept:
 *              text/event-stream", each event's data a message.
 * --rooms      1: every connection in --room (default "bench").  N > 1:
 *              connection i in room <room><i % N>.  Global event i goes to
 *              room i % N as {"t":..,"i":i / N}, so every connection
 *              expects 0, 1, 2, ...; missing counts are per room.
 * --ws, --pub  may contain one %s, replaced by the connection's room and
 *              by the room of the event (of a batch's first event).
 * --target     signal, socketio: {"room":R,"event":"b","data":{...}}, or
 *              with --batch B > 1 {"events":[...]} of B consecutive global
 *              events (so B different rooms when N >= B).  nchan, floor:
 *              the payload itself; no batches.
 * --publishers P threads, each on its own keep-alive connection.  Room r
 *              belongs to publisher (r / B) % P, which publishes its events
 *              in global order: per-room order holds.  Batch b goes to
 *              publisher b % P; with B > 1 and P > 1 the rooms must be a
 *              multiple of B * P, so that a batch's rooms all belong to it.
 * --rate       events/s over all publishers: event i is due at start + i/R
 *              (a batch at its first event's); 0 means as fast as possible.
 * --threads    receiver threads, each with its own epoll and histogram:
 *              connection i is read by thread i % T.
 * --hold       connect, print {"opened":..,"connect_seconds":..}, keep the
 *              connections open SECONDS, exit (idle footprint).
 *
 * A connect or a handshake that fails is retried, up to LG_TRIES attempts
 * per connection; "connect_failures" counts the failed attempts, and a
 * connection that never opened is not part of "connections", "expected"
 * and "missing".  Events stamped before publishing started (a server
 * replaying an earlier run's, e.g. nchan's message buffer) are counted as
 * "stale" and otherwise ignored.  Prints one JSON object with the results;
 * exits 3 when anything was missing or duplicated.
 */

#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>


#include "loadgen.h"


lg_cfg_t  cfg = {
    .ports = { 8080 }, .nports = 1, .pub_port = 0, .ws = "/ws",
    .pub = "/notify", .room = "bench", .target = "signal",
    .proto = "native", .connections = 100, .events = 1000, .rooms = 1,
    .batch = 1, .publishers = 1, .threads = 1, .timeout = 120
};


static lg_conn_t      *conns;
int64_t        *room_published;   /* each written by its publisher */
static uint64_t        expected;
uint64_t        pub_start;        /* 0 until publishing starts */
static long            connect_failures;
atomic_long     published;
atomic_long     requests;
atomic_int      publishers_done;
atomic_ullong   received;
static atomic_ullong   end_us;
atomic_int      stop;


uint64_t
now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


int
tcp_connect(int port)
{
    int                 fd, one;
    struct sockaddr_in  sin;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }

    one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) < 0) {
        close(fd);
        return -1;
    }

    return fd;
}


void
room_name(char *buf, size_t size, long r)
{
    if (cfg.rooms == 1) {
        snprintf(buf, size, "%s", cfg.room);

    } else {
        snprintf(buf, size, "%s%ld", cfg.room, r);
    }
}


/* fmt with its first "%s" replaced by room; fmt is never a printf format */

void
subst(char *buf, size_t size, const char *fmt, const char *room)
{
    const char  *p;

    p = strstr(fmt, "%s");

    if (p == NULL) {
        snprintf(buf, size, "%s", fmt);

    } else {
        snprintf(buf, size, "%.*s%s%s", (int) (p - fmt), fmt, room, p + 2);
    }
}


/* how many of the events go to room r: event i goes to room i % rooms */

static uint64_t
room_events(long r)
{
    return cfg.events / cfg.rooms + (r < cfg.events % cfg.rooms ? 1 : 0);
}


/* the payload of one event: latency and order are read back from it */

int
payload(char *p, size_t size, long i)
{
    return snprintf(p, size, "{\"t\":%llu,\"i\":%ld}",
                    (unsigned long long) now_us(), i / cfg.rooms);
}


static void
finish(void)
{
    unsigned long long  zero;

    zero = 0;
    atomic_compare_exchange_strong(&end_us, &zero, now_us());
    atomic_store(&stop, 1);
}


/* called by receivers, the publishers and main: the end is seen at once */

void
check_done(void)
{
    if (atomic_load(&publishers_done) == cfg.publishers
        && atomic_load(&received) >= expected)
    {
        finish();
    }
}


static int
conn_start(lg_conn_t *c, int i, int ep)
{
    int                 n;
    char                room[LG_ROOM_LEN], path[LG_PATH_LEN];
    char                req[LG_PATH_LEN + 256];
    struct epoll_event  ev;

    room_name(room, sizeof(room), c->room);
    subst(path, sizeof(path), cfg.ws, room);

    if (cfg.socketio) {
        n = strlen(path);
        snprintf(path + n, sizeof(path) - n, "%sEIO=4&transport=websocket",
                 strchr(path, '?') ? "&" : "?");
    }

    if (cfg.sse) {
        n = sse_request(req, sizeof(req), path);

    } else {
        n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: localhost\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n", path);
    }

    c->fd = tcp_connect(cfg.ports[i % cfg.nports]);
    if (c->fd < 0) {
        return -1;
    }

    c->state = LG_HANDSHAKE;
    c->len = 0;

    if (write(c->fd, req, n) != n) {
        return -1;
    }

    fcntl(c->fd, F_SETFL, O_NONBLOCK);

    ev.events = EPOLLIN;
    ev.data.ptr = c;

    return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}


/* an attempt failed: a later one, with a growing pause, or give up */

static void
conn_failed(lg_conn_t *c, int ep, uint64_t now)
{
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }

    connect_failures++;
    c->state = LG_DOWN;
    c->len = 0;
    c->tries++;
    c->retry_at = (c->tries < LG_TRIES) ? now + 100000 * c->tries : 0;
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
percentile(uint64_t *hist, uint64_t lat_max, uint64_t total, double q)
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


static int
parse_ports(const char *v)
{
    char  *end;
    long   p;

    cfg.nports = 0;

    for ( ;; ) {
        p = strtol(v, &end, 10);

        if (end == v || p < 1 || p > 65535 || cfg.nports == LG_MAX_PORTS) {
            return -1;
        }

        cfg.ports[cfg.nports++] = (int) p;

        if (*end == '\0') {
            return 0;
        }

        if (*end != ',') {
            return -1;
        }

        v = end + 1;
    }
}


int
main(int argc, char **argv)
{
    int                 ep, i, k, n, opened, given_up;
    long                cpu0, cpu1, pubs, reqs;
    double              seconds, connect_seconds, pub_seconds, hs_rate;
    uint64_t            start, got, missing, dups, deadline, now, lat_max;
    uint64_t            next_scan, pub_end, stale;
    lg_conn_t          *c;
    lg_recv_t          *recv;
    lg_pub_t           *pub;
    struct rlimit       rl;
    struct epoll_event  ev, evs[256];

    for (i = 1; i + 1 < argc; i += 2) {
        const char  *o = argv[i], *v = argv[i + 1];

        if (!strcmp(o, "--port")) {
            if (parse_ports(v) < 0) {
                fprintf(stderr, "loadgen: bad --port %s\n", v);
                return 2;
            }
        }
        else if (!strcmp(o, "--pub-port")) cfg.pub_port = atoi(v);
        else if (!strcmp(o, "--ws")) cfg.ws = v;
        else if (!strcmp(o, "--pub")) cfg.pub = v;
        else if (!strcmp(o, "--room")) cfg.room = v;
        else if (!strcmp(o, "--rooms")) cfg.rooms = atol(v);
        else if (!strcmp(o, "--target")) cfg.target = v;
        else if (!strcmp(o, "--proto")) cfg.proto = v;
        else if (!strcmp(o, "--pids")) cfg.pids = v;
        else if (!strcmp(o, "--connections")) cfg.connections = atoi(v);
        else if (!strcmp(o, "--events")) cfg.events = atol(v);
        else if (!strcmp(o, "--rate")) cfg.rate = atol(v);
        else if (!strcmp(o, "--batch")) cfg.batch = atoi(v);
        else if (!strcmp(o, "--publishers")) cfg.publishers = atoi(v);
        else if (!strcmp(o, "--threads")) cfg.threads = atoi(v);
        else if (!strcmp(o, "--hold")) cfg.hold = atoi(v);
        else if (!strcmp(o, "--timeout")) cfg.timeout = atoi(v);
        else {
            fprintf(stderr, "loadgen: unknown option %s\n", o);
            return 2;
        }
    }

    if (i < argc) {
        fprintf(stderr, "loadgen: %s needs a value\n", argv[i]);
        return 2;
    }

    if (cfg.batch < 1 || cfg.connections < 1 || cfg.rooms < 1
        || cfg.events < 0)
    {
        fprintf(stderr, "loadgen: --batch, --connections and --rooms must "
                "be >= 1\n");
        return 2;
    }

    if (cfg.publishers < 1 || cfg.publishers > LG_MAX_THREADS
        || cfg.threads < 1 || cfg.threads > LG_MAX_THREADS)
    {
        fprintf(stderr, "loadgen: --publishers and --threads: 1 to %d\n",
                LG_MAX_THREADS);
        return 2;
    }

    if (!strcmp(cfg.proto, "socketio")) {
        cfg.socketio = 1;

    } else if (!strcmp(cfg.proto, "sse")) {
        cfg.sse = 1;

    } else if (strcmp(cfg.proto, "native")) {
        fprintf(stderr, "loadgen: --proto native, socketio or sse\n");
        return 2;
    }

    if (!strcmp(cfg.target, "nchan") || !strcmp(cfg.target, "floor")) {
        cfg.bare = 1;

    } else if (strcmp(cfg.target, "signal")
               && strcmp(cfg.target, "socketio"))
    {
        fprintf(stderr, "loadgen: --target signal, socketio, nchan or "
                "floor\n");
        return 2;
    }

    if (cfg.bare && cfg.batch > 1) {
        fprintf(stderr, "loadgen: --target %s posts one event per request: "
                "no --batch\n", cfg.target);
        return 2;
    }

    if (cfg.batch > 1 && cfg.publishers > 1
        && cfg.rooms % ((long) cfg.batch * cfg.publishers) != 0)
    {
        /* otherwise a room would be in batches of two publishers, and
         * its events could arrive out of order */
        fprintf(stderr, "loadgen: with --batch and --publishers, --rooms "
                "must be a multiple of batch * publishers\n");
        return 2;
    }

    if (cfg.pub_port == 0) {
        cfg.pub_port = cfg.ports[0];
    }

    /* 10,000 connections and more: as many descriptors as allowed */
    /* a server that resets a connection must not kill the run */
    signal(SIGPIPE, SIG_IGN);

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    conns = calloc(cfg.connections, sizeof(lg_conn_t));
    room_published = calloc(cfg.rooms, sizeof(int64_t));
    recv = calloc(cfg.threads, sizeof(lg_recv_t));
    pub = calloc(cfg.publishers, sizeof(lg_pub_t));
    ep = epoll_create1(0);

    if (conns == NULL || room_published == NULL || recv == NULL
        || pub == NULL || ep < 0)
    {
        perror("loadgen");
        return 1;
    }

    for (k = 0; k < cfg.threads; k++) {
        recv[k].index = k;
        recv[k].hist = calloc(LG_BUCKETS + 1, sizeof(uint64_t));
        recv[k].ep = epoll_create1(0);

        if (recv[k].hist == NULL || recv[k].ep < 0) {
            perror("loadgen");
            return 1;
        }
    }

    /* connect storm: all of them, then wait for the handshakes */

    start = now_us();

    for (i = 0; i < cfg.connections; i++) {
        c = &conns[i];
        c->fd = -1;
        c->room = i % cfg.rooms;
        c->cap = LG_RBUF_MIN;
        c->buf = malloc(c->cap);

        if (c->buf == NULL) {
            perror("loadgen");
            return 1;
        }

        if (conn_start(c, i, ep) < 0) {
            conn_failed(c, ep, now_us());
        }
    }

    opened = 0;
    deadline = now_us() + 30000000;
    next_scan = 0;

    while (opened < cfg.connections && now_us() < deadline) {
        n = epoll_wait(ep, evs, 256, 20);

        for (i = 0; i < n; i++) {
            c = evs[i].data.ptr;
            k = (c->state == LG_OPEN);

            if (on_read(c, &recv[0]) < 0) {
                opened -= k;
                conn_failed(c, ep, now_us());
                continue;
            }

            if (!k && c->state == LG_OPEN) {
                opened++;
            }
        }

        /* the failed ones whose pause is over */

        now = now_us();

        if (now < next_scan) {
            continue;
        }

        next_scan = now + 20000;
        given_up = 0;

        for (i = 0; i < cfg.connections; i++) {
            c = &conns[i];

            if (c->state != LG_DOWN) {
                continue;
            }

            if (c->retry_at == 0) {
                given_up++;

            } else if (c->retry_at <= now && conn_start(c, i, ep) < 0) {
                conn_failed(c, ep, now);
            }
        }

        if (opened + given_up == cfg.connections) {
            break;
        }
    }

    connect_seconds = (now_us() - start) / 1e6;
    hs_rate = connect_seconds > 0 ? opened / connect_seconds : 0.0;

    /* the late ones are failures too: out, so that nothing opens later */

    for (i = 0; i < cfg.connections; i++) {
        c = &conns[i];

        if (c->state == LG_OPEN) {
            c->member = 1;
            expected += room_events(c->room);
            continue;
        }

        if (c->fd >= 0) {
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            c->fd = -1;
            connect_failures++;
        }
    }

    fprintf(stderr, "loadgen: %d of %d connections open in %.2f s, "
            "%ld failed attempts\n", opened, cfg.connections,
            connect_seconds, connect_failures);

    if (opened == 0) {
        /* no server there: nothing to measure */
        fprintf(stderr, "loadgen: no connection opened\n");
        return 1;
    }

    if (cfg.hold) {
        /* the idle footprint is measured from outside meanwhile */
        printf("{\"opened\":%d,\"connect_seconds\":%.3f,"
               "\"handshakes_per_second\":%.0f,\"connect_failures\":%ld}\n",
               opened, connect_seconds, hs_rate,
               connect_failures);
        fflush(stdout);
        sleep(cfg.hold);
        return 0;
    }

    /* each receiver thread its share of the connections */

    for (i = 0; i < cfg.connections; i++) {
        c = &conns[i];

        if (!c->member) {
            continue;
        }

        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);

        ev.events = EPOLLIN;
        ev.data.ptr = c;
        epoll_ctl(recv[i % cfg.threads].ep, EPOLL_CTL_ADD, c->fd, &ev);
    }

    close(ep);

    cpu0 = cpu_ticks();
    start = now_us();
    pub_start = start;

    for (k = 0; k < cfg.threads; k++) {
        if (pthread_create(&recv[k].tid, NULL, receiver, &recv[k]) != 0) {
            perror("loadgen");
            return 1;
        }
    }

    for (k = 0; k < cfg.publishers; k++) {
        pub[k].index = k;

        if (pthread_create(&pub[k].tid, NULL, publisher, &pub[k]) != 0) {
            perror("loadgen");
            return 1;
        }
    }

    deadline = 0;

    while (!atomic_load(&stop)) {
        usleep(1000);
        check_done();

        now = now_us();

        if (atomic_load(&publishers_done) == cfg.publishers
            && deadline == 0)
        {
            deadline = now + 5000000;   /* 5 s for stragglers */
        }

        if (now - start > (uint64_t) cfg.timeout * 1000000) {
            fprintf(stderr, "loadgen: gave up after %d s\n", cfg.timeout);
            finish();
        }

        if (deadline && now > deadline) {
            finish();
        }
    }

    seconds = (atomic_load(&end_us) - start) / 1e6;
    cpu1 = cpu_ticks();

    pub_end = start;

    for (k = 0; k < cfg.publishers; k++) {
        pthread_join(pub[k].tid, NULL);

        if (pub[k].end > pub_end) {
            pub_end = pub[k].end;
        }
    }

    lat_max = 0;
    stale = 0;

    for (k = 0; k < cfg.threads; k++) {
        pthread_join(recv[k].tid, NULL);
        stale += recv[k].stale;

        if (recv[k].lat_max > lat_max) {
            lat_max = recv[k].lat_max;
        }

        if (k > 0) {
            for (i = 0; i <= LG_BUCKETS; i++) {
                recv[0].hist[i] += recv[k].hist[i];
            }
        }
    }

    pub_seconds = (pub_end - start) / 1e6;
    pubs = atomic_load(&published);
    reqs = atomic_load(&requests);

    got = missing = dups = 0;

    for (i = 0; i < cfg.connections; i++) {
        c = &conns[i];

        if (!c->member) {
            continue;
        }

        got += c->got;
        missing += c->missing;
        dups += c->dups;

        /* what never came after the last one received is missing too */
        if (c->next < room_published[c->room]) {
            missing += room_published[c->room] - c->next;
        }
    }

    printf("{\"target\":\"%s\",\"connections\":%d,\"events\":%ld,"
           "\"batch\":%d,\"rate\":%ld,\"published\":%ld,"
           "\"publish_seconds\":%.3f,\"expected\":%llu,\"received\":%llu,"
           "\"missing\":%llu,\"duplicates\":%llu,\"seconds\":%.3f,"
           "\"deliveries_per_second\":%.0f,\"latency_us\":{\"p50\":%llu,"
           "\"p90\":%llu,\"p99\":%llu,\"max\":%llu},"
           "\"server_cpu_seconds\":%.2f,\"cpu_us_per_delivery\":%.3f,"
           "\"proto\":\"%s\",\"rooms\":%ld,\"threads\":%d,"
           "\"publishers\":%d,\"publish_requests\":%ld,"
           "\"publishes_per_second\":%.0f,\"events_per_second\":%.0f,"
           "\"connect_seconds\":%.3f,\"handshakes_per_second\":%.0f,"
           "\"connect_failures\":%ld,\"stale\":%llu}\n",
           cfg.target, opened, cfg.events, cfg.batch, cfg.rate, pubs,
           pub_seconds, (unsigned long long) expected,
           (unsigned long long) got, (unsigned long long) missing,
           (unsigned long long) dups, seconds,
           seconds > 0 ? got / seconds : 0.0,
           (unsigned long long) percentile(recv[0].hist, lat_max, got, 0.5),
           (unsigned long long) percentile(recv[0].hist, lat_max, got, 0.9),
           (unsigned long long) percentile(recv[0].hist, lat_max, got, 0.99),
           (unsigned long long) lat_max,
           (cpu1 - cpu0) / (double) sysconf(_SC_CLK_TCK),
           got ? (cpu1 - cpu0) * 1e6 / sysconf(_SC_CLK_TCK) / got : 0.0,
           cfg.proto, cfg.rooms, cfg.threads, cfg.publishers, reqs,
           pub_seconds > 0 ? reqs / pub_seconds : 0.0,
           pub_seconds > 0 ? pubs / pub_seconds : 0.0,
           connect_seconds, hs_rate, connect_failures,
           (unsigned long long) stale);

    return (missing || dups) ? 3 : 0;
}
