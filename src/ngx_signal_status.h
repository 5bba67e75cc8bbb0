
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The counters behind signal_status, kept in the shared zone and updated
 * with atomics; each worker owns a pid-tagged slot.
 */


#ifndef _NGX_SIGNAL_STATUS_H_INCLUDED_
#define _NGX_SIGNAL_STATUS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* worker slots in the status counters (pid-tagged, reused when dead) */
#define NGX_SIGNAL_STATUS_WORKERS        64

/* close codes counted one by one; the rest count as "other" */
#define NGX_SIGNAL_STATUS_CODES          11


typedef struct {
    ngx_atomic_t                pid;
    ngx_atomic_t                connections;
    ngx_atomic_t                wakeups;      /* by other workers */
    ngx_atomic_t                redis_command;     /* link states */
    ngx_atomic_t                redis_subscriber;
    ngx_atomic_t                cursor;       /* last event log id read */
} ngx_signal_worker_stats_t;


typedef struct {
    ngx_atomic_t                connections_total;
    ngx_atomic_t                published;
    ngx_atomic_t                delivered;
    ngx_atomic_t                bytes_sent;
    ngx_atomic_t                ping_timeouts;
    ngx_atomic_t                closes[NGX_SIGNAL_STATUS_CODES];
    ngx_atomic_t                rooms;
    ngx_signal_worker_stats_t   workers[NGX_SIGNAL_STATUS_WORKERS];
} ngx_signal_stats_t;


/* this worker's counters: NULL until it has a slot in the zone */
extern ngx_signal_stats_t         *ngx_signal_stats;
extern ngx_signal_worker_stats_t  *ngx_signal_worker_stats;

#define ngx_signal_count(field, n)                                           \
    do {                                                                     \
        if (ngx_signal_stats) {                                              \
            (void) ngx_atomic_fetch_add(&ngx_signal_stats->field, n);        \
        }                                                                    \
    } while (0)


void ngx_signal_status_count_close(ngx_uint_t code);
ngx_int_t ngx_signal_status_handler(ngx_http_request_t *r);


#endif /* _NGX_SIGNAL_STATUS_H_INCLUDED_ */
