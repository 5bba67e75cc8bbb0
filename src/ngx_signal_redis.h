
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The Redis engine: one command and one subscriber connection per worker
 * (ngx_signal_redis_link.c), publishing through a Redis function and
 * per-room subscriptions (ngx_signal_redis.c).
 */


#ifndef _NGX_SIGNAL_REDIS_H_INCLUDED_
#define _NGX_SIGNAL_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>


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
    ngx_msec_t                  backoff;
    ngx_uint_t                  failures;     /* in a row, for the log */

    unsigned                    subscriber:1;
    unsigned                    stopped:1;    /* worker exiting */

    ngx_signal_redis_link_pt    ready;
    ngx_signal_redis_link_pt    down;
};


#define NGX_SIGNAL_REDIS_CHANNEL        "signal:r:"
#define NGX_SIGNAL_REDIS_CHANNEL_LEN    (sizeof("signal:r:") - 1)

/* how often an instance says it is alive (it is for three times that) */
#define NGX_SIGNAL_REDIS_HEARTBEAT      5000


/* a notify or presence request waiting for its FCALL */
typedef struct {
    ngx_http_request_t         *request;     /* NULL once answered */
    ngx_array_t                *events;
    ngx_uint_t                  n;
    ngx_str_t                   room;        /* presence: in the request */
    ngx_event_t                 timer;
} ngx_signal_redis_pub_t;


extern ngx_signal_redis_link_t  ngx_signal_redis_cmd;


void ngx_signal_redis_link_start(ngx_signal_redis_link_t *link);
void ngx_signal_redis_link_stop(ngx_signal_redis_link_t *link);
void ngx_signal_redis_link_fail(ngx_signal_redis_link_t *link,
    const char *why);
const char *ngx_signal_redis_state_name(ngx_signal_redis_state_e state);

extern const char  ngx_signal_redis_library[];

void ngx_signal_redis_heartbeat(ngx_event_t *ev);
void ngx_signal_redis_presence_resync(void);


#endif /* _NGX_SIGNAL_REDIS_H_INCLUDED_ */
