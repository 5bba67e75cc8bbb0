/*
 * Copyright (C) ngx_signal_module authors
 *
 * bench/loadgen: what the subscriber side (loadgen.c, loadgen_ws.c,
 * loadgen_sse.c) and the publishers (loadgen_pub.c) share.
 */

#ifndef LG_LOADGEN_H
#define LG_LOADGEN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>


#define LG_BUCKETS      100000       /* 10 us each: up to 1 s */
#define LG_RBUF_MIN     2048         /* a handshake and a few frames */
#define LG_RBUF_BUSY    65536        /* once a read fills the buffer */
#define LG_RBUF_MAX     (16 << 20)   /* the largest frame accepted */
#define LG_MAX_PORTS    16
#define LG_MAX_THREADS  64
#define LG_TRIES        5            /* attempts per connection */
#define LG_ROOM_LEN     256
#define LG_PATH_LEN     2048


enum {
    LG_DOWN = 0,                     /* not connected: retry or given up */
    LG_HANDSHAKE,                    /* waiting for the 101 (sse: 200) */
    LG_EIO_OPEN,                     /* socketio: waiting for 0{...} */
    LG_SIO_CONNECT,                  /* socketio: waiting for 40 */
    LG_OPEN
};


typedef struct {
    int         fd;
    int         state;
    int         tries;
    int         member;              /* open after the connect phase */
    uint64_t    retry_at;            /* 0 with LG_DOWN: given up */
    long        room;
    size_t      len;
    size_t      cap;
    char       *buf;
    int         chunked;             /* sse: Transfer-Encoding: chunked */
    size_t      chunk;               /* sse: what the chunk still holds */
    size_t      dec;                 /* sse: buf up to dec is unchunked */
    int64_t     next;                /* the index expected next */
    uint64_t    got;
    uint64_t    missing;
    uint64_t    dups;
} lg_conn_t;


typedef struct {
    pthread_t   tid;
    int         index;
    int         ep;
    uint64_t   *hist;
    uint64_t    lat_max;
    uint64_t    stale;
} lg_recv_t;


typedef struct {
    pthread_t   tid;
    int         index;
    uint64_t    end;
} lg_pub_t;


typedef struct {
    int         ports[LG_MAX_PORTS];
    int         nports;
    int         pub_port;
    const char *ws;
    const char *pub;
    const char *room;
    const char *target;
    const char *proto;
    const char *pids;
    int         connections;
    long        events;
    long        rate;
    long        rooms;
    int         batch;
    int         publishers;
    int         threads;
    int         hold;
    int         timeout;
    int         socketio;            /* --proto socketio */
    int         sse;                 /* --proto sse */
    int         bare;                /* --target posts the payload itself */
} lg_cfg_t;


extern lg_cfg_t        cfg;
extern int64_t        *room_published;
extern uint64_t        pub_start;
extern atomic_long     published;
extern atomic_long     requests;
extern atomic_int      publishers_done;
extern atomic_int      stop;
extern atomic_ullong   received;


uint64_t now_us(void);
int tcp_connect(int port);
void room_name(char *buf, size_t size, long r);
void subst(char *buf, size_t size, const char *fmt, const char *room);
int payload(char *p, size_t size, long i);
void check_done(void);
void *publisher(void *arg);
void message(lg_conn_t *c, lg_recv_t *r, const char *p, size_t len,
    uint64_t now);
int on_read(lg_conn_t *c, lg_recv_t *r);
void *receiver(void *arg);
int sse_request(char *buf, size_t size, const char *path);
int sse_head(lg_conn_t *c, char *eoh);
int sse_input(lg_conn_t *c, lg_recv_t *r, uint64_t now);


#endif /* LG_LOADGEN_H */
