
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The Redis engine, inside: one command and one subscriber connection
 * per worker (ngx_signal_redis_link.c), publishing through a Redis
 * function (ngx_signal_redis.c, ngx_signal_redis_lua.c), per-room
 * subscriptions (ngx_signal_redis_sub.c), presence across hosts
 * (ngx_signal_redis_presence.c), history (ngx_signal_redis_history.c).
 */


#ifndef _NGX_SIGNAL_REDIS_H_INCLUDED_
#define _NGX_SIGNAL_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include "ngx_signal_engine.h"
#include "ngx_signal_redis_conf.h"


/* signal_redis and its settings (http block) */
struct ngx_signal_redis_conf_s {
    ngx_str_t                   url;          /* as configured, for logs */
    u_char                     *host;         /* an IP literal, or NULL */
    int                         port;
    u_char                     *unix_path;    /* or NULL */
    ngx_str_t                   user;
    ngx_str_t                   password;
    ngx_uint_t                  db;

    ngx_msec_t                  connect_timeout;
    ngx_msec_t                  command_timeout;
    ngx_msec_t                  backoff_min;
    ngx_msec_t                  backoff_max;
};


typedef enum {
    NGX_SIGNAL_REDIS_DOWN = 0,
    NGX_SIGNAL_REDIS_CONNECTING,
    NGX_SIGNAL_REDIS_AUTH,
    NGX_SIGNAL_REDIS_SELECT,
    NGX_SIGNAL_REDIS_LOAD,                    /* the function library */
    NGX_SIGNAL_REDIS_READY
} ngx_signal_redis_state_e;


typedef struct ngx_signal_redis_link_s  ngx_signal_redis_link_t;

typedef void (*ngx_signal_redis_link_pt)(ngx_signal_redis_link_t *link);

struct ngx_signal_redis_link_s {
    const char                 *name;         /* "command", "subscriber" */
    ngx_signal_redis_conf_t    *conf;
    redisAsyncContext          *ac;
    ngx_connection_t           *conn;
    ngx_signal_redis_state_e    state;

    ngx_event_t                 setup_timer;  /* connect + setup */
    ngx_event_t                 retry_timer;
    ngx_event_t                 watchdog;     /* a Redis that stalls */
    ngx_msec_t                  backoff;
    ngx_uint_t                  failures;     /* in a row, for the log */

    unsigned                    subscriber:1;
    unsigned                    stopped:1;    /* worker exiting */
    unsigned                    awaiting:1;   /* the watchdog's PING */

    ngx_signal_redis_link_pt    ready;
    ngx_signal_redis_link_pt    down;

    /* the subscriber's own watchdog: 1 when Redis answers in time */
    ngx_uint_t                (*alive)(ngx_signal_redis_link_t *link);
};


#define NGX_SIGNAL_REDIS_CHANNEL        "signal:r:"
#define NGX_SIGNAL_REDIS_CHANNEL_LEN    (sizeof("signal:r:") - 1)

/* how often an instance says it is alive (it is for three times that) */
#define NGX_SIGNAL_REDIS_HEARTBEAT      5000


/* a publish, a presence query or a history read waiting for its FCALL */
typedef struct {
    ngx_signal_publish_t          *pub;      /* NULL once answered */
    ngx_signal_presence_query_t   *query;    /* NULL once answered */
    ngx_signal_history_t          *history;  /* NULL once answered */
    ngx_event_t                    timer;
} ngx_signal_redis_pending_t;


extern ngx_signal_redis_conf_t  *ngx_signal_redis;
extern ngx_signal_redis_link_t   ngx_signal_redis_sub;
extern ngx_signal_redis_link_t  ngx_signal_redis_cmd;


void ngx_signal_redis_link_start(ngx_signal_redis_link_t *link);
void ngx_signal_redis_link_stop(ngx_signal_redis_link_t *link);
void ngx_signal_redis_link_fail(ngx_signal_redis_link_t *link,
    const char *why);
const char *ngx_signal_redis_link_state_name(ngx_signal_redis_state_e state);

extern const char  ngx_signal_redis_library[];

void ngx_signal_redis_presence_heartbeat(ngx_event_t *ev);
void ngx_signal_redis_presence_resync(void);
void ngx_signal_redis_presence_put(ngx_signal_presence_t *p);
ngx_int_t ngx_signal_redis_presence_get(ngx_signal_presence_query_t *q);
ngx_int_t ngx_signal_redis_history(ngx_signal_history_t *h);
ngx_signal_redis_pending_t *ngx_signal_redis_pending(ngx_log_t *log,
    ngx_event_handler_pt timeout);

ngx_uint_t ngx_signal_redis_sub_alive(ngx_signal_redis_link_t *link);
void ngx_signal_redis_subs_init(void);
void ngx_signal_redis_subs_exit(void);
ngx_int_t ngx_signal_redis_sub_interest(ngx_str_t *name, ngx_uint_t want);
ngx_uint_t ngx_signal_redis_sub_confirmed(ngx_str_t *name);
void ngx_signal_redis_sub_ready(ngx_signal_redis_link_t *link);
void ngx_signal_redis_sub_down(ngx_signal_redis_link_t *link);
void ngx_signal_redis_report(void);


#endif /* _NGX_SIGNAL_REDIS_H_INCLUDED_ */
