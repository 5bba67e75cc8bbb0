
/*
 * Copyright (C) ngx_signal_module authors
 *
 * What every part of the module shares: the module object, the
 * configuration of the http block and of a location, and the limits that
 * hold everywhere.  The building blocks have headers of their own.
 */


#ifndef _NGX_SIGNAL_COMMON_H_INCLUDED_
#define _NGX_SIGNAL_COMMON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_conf.h"
#include "ngx_signal_jwt.h"
#include "ngx_signal_tpl.h"


/* application close codes */
#define NGX_SIGNAL_CLOSE_TOKEN_EXPIRED   4001
#define NGX_SIGNAL_CLOSE_SLOW_CONSUMER   4008

#define NGX_SIGNAL_MAX_NAME_LENGTH       1024

/* signal_transports (NGX_CONF_BITMASK_SET is bit 0) */
#define NGX_SIGNAL_TRANSPORT_WEBSOCKET   0x0002
#define NGX_SIGNAL_TRANSPORT_EVENTSOURCE 0x0004
#define NGX_SIGNAL_TRANSPORT_LONGPOLL    0x0008

/* signal_history: the bounds, and what applies without the directive */
#define NGX_SIGNAL_HISTORY_MAX           100000
#define NGX_SIGNAL_HISTORY_MAX_AGE       (7 * 86400)
#define NGX_SIGNAL_HISTORY_DEFAULT       100
#define NGX_SIGNAL_HISTORY_DEFAULT_AGE   300

/* the id of one nginx instance (a zone) in Redis: hex digits */
#define NGX_SIGNAL_INSTANCE_LEN          16


typedef struct ngx_signal_engine_s      ngx_signal_engine_t;
typedef struct ngx_signal_protocol_s    ngx_signal_protocol_t;
typedef struct ngx_signal_session_s     ngx_signal_session_t;
typedef struct ngx_signal_redis_conf_s  ngx_signal_redis_conf_t;


typedef struct {
    ngx_shm_zone_t             *zone;             /* signal_zone */
    ngx_signal_engine_t        *engine;           /* memory or redis */
    ngx_signal_redis_conf_t    *redis;            /* signal_redis */
    ngx_msec_t                  redis_connect_timeout;
    ngx_msec_t                  redis_command_timeout;
    ngx_msec_t                  redis_backoff_min;
    ngx_msec_t                  redis_backoff_max;
    unsigned                    used:1;           /* an endpoint exists */
} ngx_signal_main_conf_t;


/* signal_webhook: a preset, its secrets and the event it maps to */
#define NGX_SIGNAL_WEBHOOK_AIRTABLE  1
#define NGX_SIGNAL_WEBHOOK_GITHUB    2
#define NGX_SIGNAL_WEBHOOK_STRIPE    3
#define NGX_SIGNAL_WEBHOOK_STANDARD  4
#define NGX_SIGNAL_WEBHOOK_HMAC      5

typedef struct {
    ngx_uint_t                  preset;           /* 0: not a webhook */
    ngx_str_t                   header;
    ngx_str_t                   prefix;
    const void                 *md;               /* EVP_MD */
    ngx_uint_t                  base64;           /* else hex */
    ngx_array_t                *secrets;          /* complex values */
    ngx_array_t                *rooms;            /* ngx_signal_tpl_t */
    ngx_signal_tpl_t           *event;
    ngx_str_t                   data;             /* JSON pointer */
    time_t                      tolerance;
} ngx_signal_webhook_conf_t;


typedef struct {
    ngx_signal_protocol_t      *protocol;         /* signal_websocket */
    ngx_uint_t                  transports;       /* signal_transports */
    ngx_array_t                *join;             /* ngx_signal_tpl_t */
    ngx_array_t                *allow_subscribe;  /* ngx_signal_tpl_t */
    ngx_array_t                *subprotocols;     /* ngx_str_t */
    ngx_signal_tpl_t           *user;             /* signal_user */
    ngx_signal_jwt_conf_t       jwt;
    ngx_signal_webhook_conf_t   webhook;
    ngx_array_t                *api_secrets;      /* complex values */
    ngx_array_t                *allow_origin;     /* ngx_str_t, lowercase */
    ngx_uint_t                  subscribe_rate;   /* per second */
    ngx_uint_t                  refresh_rate;     /* per minute */
    ngx_http_complex_value_t   *presence_room;    /* signal_presence */

    size_t                      max_message_size;
    size_t                      send_queue;
    ngx_uint_t                  max_rooms;
    ngx_uint_t                  max_name_length;
    ngx_uint_t                  notify_max_events;
    ngx_uint_t                  notify_max_rooms;
    ngx_msec_t                  ping_interval;
    ngx_msec_t                  ping_timeout;
    ngx_msec_t                  close_timeout;
    ngx_msec_t                  shutdown_window;
    ngx_uint_t                  history;          /* events; 0: off */
    time_t                      history_age;      /* 0: no age bound */

    /* taken over from client_max_body_size in notify locations */
    off_t                       notify_max_body;

    unsigned                    notify:1;
    unsigned                    presence:1;
} ngx_signal_loc_conf_t;


extern ngx_module_t  ngx_signal_module;

/*
 * The .data of timers that belong to no connection: nginx's debug log
 * reads an event's data as a connection (its fd).
 */
extern ngx_connection_t  ngx_signal_no_connection;


#endif /* _NGX_SIGNAL_COMMON_H_INCLUDED_ */
