
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The engine interface: what carries events from a publisher to the
 * workers that have members of their rooms, numbers them (seq) and keeps
 * presence across hosts.  Two engines implement it, chosen once by the
 * configuration: memory (the shared zone's event log and the bus, one
 * host) and redis (a Redis function, pub/sub, many hosts).  Nothing
 * outside the engines asks which one runs.
 *
 * An engine never sees an HTTP request: a publish is a batch of
 * validated events with a completion callback.  What an engine receives
 * it hands to ngx_signal_rooms_deliver(), one event at a time, in seq
 * order per room.
 */


#ifndef _NGX_SIGNAL_ENGINE_H_INCLUDED_
#define _NGX_SIGNAL_ENGINE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_signal_common.h"
#include "ngx_signal_status.h"


/* the results of a publish */
#define NGX_SIGNAL_PUBLISHED     0     /* seqs has a number per pair */
#define NGX_SIGNAL_DUPLICATE     1     /* "once" was seen: nothing new */
#define NGX_SIGNAL_REFUSED       2     /* nothing published: error says */
#define NGX_SIGNAL_UNCERTAIN     3     /* may or may not be published */
#define NGX_SIGNAL_REPLAYED      4     /* "once" was seen with this digest:
                                          seqs has what it published */
#define NGX_SIGNAL_CONFLICT      5     /* "once" was seen with another */
#define NGX_SIGNAL_IN_PROGRESS   6     /* "once" is being published now */

/* a body's digest: SHA-256, hex */
#define NGX_SIGNAL_DIGEST_LEN    64


typedef struct ngx_signal_publish_s  ngx_signal_publish_t;

typedef void (*ngx_signal_publish_done_pt)(ngx_signal_publish_t *pub);


struct ngx_signal_publish_s {
    ngx_array_t                *events;   /* ngx_signal_event_t, validated */
    ngx_uint_t                  n;        /* (event, room) pairs */
    ngx_str_t                   once;     /* remembered for ttl, or empty */
    time_t                      ttl;
    ngx_str_t                   digest;   /* of what "once" publishes: a
                                             retry answers the same; empty:
                                             a retry is a duplicate */
    ngx_uint_t                  history;  /* events kept per room; 0: none */
    time_t                      history_age;
    ngx_pool_t                 *pool;     /* for the results */
    ngx_log_t                  *log;

    ngx_uint_t                  result;
    uint64_t                   *seqs;
    uint64_t                   *epochs;
    const char                 *error;    /* "zone_full", ... */
    ngx_str_t                   detail;   /* for a person */

    /* when publish() returned NGX_AGAIN: called once, later */
    ngx_signal_publish_done_pt  done;
    void                       *data;
};


/*
 * A room's events after a position: what a client that comes back (or a
 * worker whose link to the engine came back) missed.  The engine answers
 * the room's current epoch and seq (epoch 0: nothing was ever published
 * there), the newest events history has after "since" of "epoch" (at
 * most limit of them, in at most max_bytes), oldest first, and a gap
 * when that does not cover it: events since+1 .. gap_to are gone or left
 * out (reason "history"), or the position means nothing in this epoch
 * (reason "epoch": the events are the epoch's from gap_to on).  With
 * epoch 0 the caller has no position: it learns where the room is; with
 * current, since is of whatever epoch the room has now.
 */

typedef struct ngx_signal_history_s  ngx_signal_history_t;

/*
 * What an event costs max_bytes beyond its names and data: the frame
 * around them (the JSON, the seq and epoch, a WebSocket header or an
 * event stream's id line).
 */
#define NGX_SIGNAL_HISTORY_OVERHEAD  160

typedef void (*ngx_signal_history_done_pt)(ngx_signal_history_t *h);

struct ngx_signal_history_s {
    ngx_str_t                   room;
    uint64_t                    since;
    uint64_t                    epoch;    /* of since; 0: none */
    ngx_uint_t                  current;  /* since is of the epoch now */
    ngx_uint_t                  limit;
    size_t                      max_bytes;
    ngx_pool_t                 *pool;     /* the events are copied there */
    ngx_log_t                  *log;

    ngx_uint_t                  failed;   /* the engine could not say */
    uint64_t                    now_epoch;
    uint64_t                    now_seq;
    const char                 *gap;      /* NULL, "epoch" or "history" */
    uint64_t                    gap_to;
    ngx_array_t                *events;   /* ngx_signal_delivery_t */

    ngx_signal_history_done_pt  done;
    void                       *data;
};


/* a room's presence on this host, as an engine is told of it */
typedef struct {
    ngx_str_t                   room;
    ngx_uint_t                  connections;
    ngx_uint_t                  users;
    uint64_t                    version;
} ngx_signal_presence_t;


typedef struct ngx_signal_presence_query_s  ngx_signal_presence_query_t;

struct ngx_signal_presence_query_s {
    ngx_str_t                   room;
    ngx_log_t                  *log;

    ngx_uint_t                  connections;
    ngx_uint_t                  users;
    ngx_uint_t                  partial;  /* other hosts could not say */

    void                      (*done)(ngx_signal_presence_query_t *q);
    void                       *data;
};


struct ngx_signal_engine_s {
    const char                 *name;

    /* how long a new connection may wait for ready() rooms */
    ngx_msec_t                  ready_timeout;

    /* the master (and nginx -t), then each worker */
    ngx_int_t                 (*init_module)(ngx_cycle_t *cycle);
    ngx_int_t                 (*init_worker)(ngx_cycle_t *cycle);
    void                      (*exit_worker)(void);

    /* NGX_OK: the result is in pub; NGX_AGAIN: pub->done comes later */
    ngx_int_t                 (*publish)(ngx_signal_publish_t *pub);

    /* a room (or family) got its first member here (want) or lost it */
    ngx_int_t                 (*interest)(ngx_str_t *room, ngx_uint_t want);

    /* 1 when the room's events reach this worker now */
    ngx_uint_t                (*ready)(ngx_str_t *room);

    /* this host's presence in a room changed */
    void                      (*presence_put)(ngx_signal_presence_t *p);

    /* NGX_OK: the counts are in q; NGX_AGAIN: q->done comes later */
    ngx_int_t                 (*presence_get)(ngx_signal_presence_query_t *q);

    /* NGX_OK: the events are in h; NGX_AGAIN: h->done comes later */
    ngx_int_t                 (*history)(ngx_signal_history_t *h);

    /* what signal_status shows of a worker, appended at p */
    u_char                   *(*status)(u_char *p, u_char *last,
                                        ngx_signal_worker_stats_t *w);
};


/* this worker's engine (set by ngx_signal_module.c's init_process) */
extern ngx_signal_engine_t  *ngx_signal_engine;

extern ngx_signal_engine_t   ngx_signal_memory_engine;
extern ngx_signal_engine_t   ngx_signal_redis_engine;


#endif /* _NGX_SIGNAL_ENGINE_H_INCLUDED_ */
