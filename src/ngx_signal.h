
/*
 * Copyright (C) ngx_signal_module authors
 */


#ifndef _NGX_SIGNAL_H_INCLUDED_
#define _NGX_SIGNAL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_conf.h"
#include "ngx_signal_ws_parse.h"
#include "ngx_signal_envelope.h"
#include "ngx_signal_jwt.h"


/* application close codes */
#define NGX_SIGNAL_CLOSE_TOKEN_EXPIRED   4001
#define NGX_SIGNAL_CLOSE_SLOW_CONSUMER   4008

#define NGX_SIGNAL_MAX_NAME_LENGTH       1024

/* the id of one nginx instance (a zone) in Redis: hex digits */
#define NGX_SIGNAL_INSTANCE_LEN          16


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


/* one (event, room) in the shared event log, in publish order */
typedef struct ngx_signal_record_s  ngx_signal_record_t;

struct ngx_signal_record_s {
    ngx_signal_record_t * volatile  next;
    uint64_t                        id;
    uint64_t                        seq;
    uint64_t                        mask;     /* slots with members */
    uint16_t                        room_len;
    uint16_t                        event_len;
    uint32_t                        data_len;
    u_char                          data[1];  /* room, event, data */
};


/* shared-memory counters behind signal_status, updated with atomics */
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


typedef struct ngx_signal_redis_conf_s  ngx_signal_redis_conf_t;


typedef struct {
    ngx_shm_zone_t             *zone;             /* signal_zone */
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

    /* taken over from client_max_body_size in notify locations */
    off_t                       notify_max_body;

    unsigned                    websocket:1;
    unsigned                    notify:1;
    unsigned                    presence:1;
} ngx_signal_loc_conf_t;


/* an encoded frame, shared by every connection it is queued on */
typedef struct {
    ngx_uint_t                  refs;
    size_t                      len;
    u_char                     *data;
} ngx_signal_frame_t;


/* one queued frame on one connection: a chain link and its buffer */
typedef struct {
    ngx_chain_t                 cl;
    ngx_buf_t                   buf;
    ngx_signal_frame_t         *frame;
} ngx_signal_out_t;


typedef struct ngx_signal_session_s  ngx_signal_session_t;


/* a token bucket: what a client may do so often */
typedef struct {
    ngx_msec_t                  time;         /* of the last refill */
    ngx_uint_t                  tokens;
} ngx_signal_bucket_t;


/* a worker-local room: the connections of this worker that are in it */
typedef struct {
    ngx_str_node_t              sn;
    ngx_queue_t                 members;
    ngx_uint_t                  nmembers;
    u_char                      name[1];
} ngx_signal_room_t;


/* a connection's membership of a room */
typedef struct {
    ngx_queue_t                 in_room;
    ngx_queue_t                 in_session;
    ngx_signal_room_t          *room;
    ngx_signal_session_t       *session;
    ngx_str_t                   reply_id;     /* of a deferred reply */
    unsigned                    pending:1;    /* waits for Redis */
} ngx_signal_member_t;


/*
 * One live WebSocket connection.  It outlives the handshake request: once
 * the 101 is out, the request and its pool are freed (see
 * ngx_signal_session_detach) and c->data points here.
 */
struct ngx_signal_session_s {
    ngx_http_request_t         *request;       /* NULL once detached */
    ngx_connection_t           *connection;
    ngx_signal_loc_conf_t      *conf;

    ngx_signal_ws_reader_t      reader;

    ngx_chain_t                *out;
    ngx_chain_t               **out_last;
    size_t                      queued;

    ngx_queue_t                 members;
    ngx_uint_t                  nrooms;
    ngx_uint_t                  waiting;       /* rooms Redis must confirm */
    uint64_t                    last_event;    /* delivery stamp */

    ngx_array_t                *allow;         /* ngx_str_t patterns */
    ngx_str_t                   user;          /* empty: anonymous */
    void                       *copied;        /* allow, user, sub */

    ngx_event_t                 ping;
    ngx_event_t                 close_timer;
    ngx_event_t                 expire;        /* the token's exp */

    ngx_signal_jwt_t            jwt;           /* claims: NULL without */
    ngx_signal_bucket_t         subscribes;    /* signal_subscribe_rate */
    ngx_signal_bucket_t         refreshes;     /* signal_refresh_rate */

    unsigned                    awaiting_pong:1;
    unsigned                    close_sent:1;
    unsigned                    close_received:1;
    unsigned                    read_failed:1;
    unsigned                    write_shut:1;
    unsigned                    slow:1;
    unsigned                    going_away:1;  /* shutdown close planned */
    unsigned                    accepted:1;    /* 101 sent */
    unsigned                    authenticated:1;  /* a verified token */
    unsigned                    settled:1;     /* request freed or kept */
    unsigned                    closed:1;
};


extern ngx_module_t  ngx_signal_module;


/* the WebSocket endpoint */
ngx_int_t ngx_signal_ws_handler(ngx_http_request_t *r);
ngx_int_t ngx_signal_ws_claim(void *data, ngx_signal_tpl_part_t *part,
    ngx_pool_t *pool, ngx_str_t *value);
ngx_signal_session_t *ngx_signal_session_create(ngx_http_request_t *r);
void ngx_signal_session_close(ngx_signal_session_t *s);
void ngx_signal_session_read(ngx_signal_session_t *s);
ngx_int_t ngx_signal_session_write(ngx_signal_session_t *s);
void ngx_signal_session_ping(ngx_event_t *ev);
void ngx_signal_session_close_timeout(ngx_event_t *ev);
ngx_int_t ngx_signal_session_start(ngx_http_request_t *r,
    ngx_array_t *join, ngx_array_t *allow);
void ngx_signal_session_accept_later(ngx_signal_session_t *s);
void ngx_signal_session_expire_at(ngx_signal_session_t *s);
ngx_uint_t ngx_signal_session_may_subscribe(ngx_signal_session_t *s);
ngx_uint_t ngx_signal_session_may_refresh(ngx_signal_session_t *s);

/* output queue */
ngx_signal_frame_t *ngx_signal_frame_alloc(size_t len, ngx_log_t *log);
void ngx_signal_frame_release(ngx_signal_frame_t *f);
void ngx_signal_session_send(ngx_signal_session_t *s,
    ngx_signal_frame_t *f);
ngx_int_t ngx_signal_session_send_text(ngx_signal_session_t *s,
    u_char *text, size_t len);
void ngx_signal_session_queue(ngx_signal_session_t *s,
    ngx_signal_frame_t *f);
ngx_int_t ngx_signal_session_flush(ngx_signal_session_t *s);
void ngx_signal_session_drop_unsent(ngx_signal_session_t *s);
void ngx_signal_session_drop_all(ngx_signal_session_t *s);
void ngx_signal_session_fail(ngx_signal_session_t *s, ngx_uint_t code,
    const char *reason);

/* the native protocol */
void ngx_signal_native_message(ngx_signal_session_t *s, u_char *data,
    size_t len);
void ngx_signal_native_subscribed(ngx_signal_session_t *s, ngx_str_t *room,
    ngx_str_t *id);
ngx_signal_frame_t *ngx_signal_native_event(ngx_str_t *room,
    ngx_str_t *event, ngx_str_t *data, uint64_t seq, ngx_log_t *log);

/* this worker's place in the zone: NULL / NGX_ERROR until it has one */
extern ngx_shm_zone_t             *ngx_signal_worker_zone;
extern ngx_int_t                   ngx_signal_worker_slot;
extern ngx_atomic_uint_t           ngx_signal_worker_generation;
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

/* the shared memory zone */
ngx_signal_stats_t *ngx_signal_zone_stats(ngx_shm_zone_t *zone);
void ngx_signal_zone_usage(ngx_shm_zone_t *zone, size_t *size,
    size_t *used);
char *ngx_signal_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_signal_zone_assign(ngx_shm_zone_t *zone, ngx_array_t *events,
    uint64_t *seqs, ngx_pool_t *pool, uint64_t *wake);
ngx_signal_record_t *ngx_signal_zone_log_next(ngx_shm_zone_t *zone,
    uint64_t cursor);
ngx_int_t ngx_signal_zone_worker_start(ngx_cycle_t *cycle);
void ngx_signal_zone_worker_exit(void);
ngx_atomic_uint_t ngx_signal_zone_generation(ngx_shm_zone_t *zone);
u_char *ngx_signal_zone_instance(ngx_shm_zone_t *zone);

/* a room's presence on this host, as Redis is told */
typedef struct {
    ngx_str_t                   room;
    ngx_uint_t                  connections;
    ngx_uint_t                  users;
    uint64_t                    version;
} ngx_signal_presence_t;

ngx_array_t *ngx_signal_presence_snapshot(ngx_pool_t *pool);

/* webhook ids seen lately (ngx_signal_dedupe.c) */
#define NGX_SIGNAL_DEDUPE_MAX_ID  256

ngx_int_t ngx_signal_dedupe_check(ngx_shm_zone_t *zone, ngx_str_t *id,
    time_t ttl);
void ngx_signal_dedupe_forget(ngx_shm_zone_t *zone, ngx_str_t *id);

/* presence: connections and users per room, across workers */
#define NGX_SIGNAL_PRESENCE_USER   4     /* = NGX_SIGNAL_QUOTA_USER */
ngx_int_t ngx_signal_presence_join(ngx_str_t *room, ngx_str_t *user,
    ngx_uint_t anonymous);
void ngx_signal_presence_leave(ngx_str_t *room, ngx_str_t *user);
ngx_int_t ngx_signal_presence_handler(ngx_http_request_t *r);
ngx_int_t ngx_signal_presence_answer(ngx_http_request_t *r, ngx_str_t *room,
    ngx_uint_t connections, ngx_uint_t users, ngx_uint_t partial);
ngx_int_t ngx_signal_presence_local(ngx_http_request_t *r, ngx_str_t *room);

/* the cross-worker bus: wake the other workers, drain the event log */
ngx_int_t ngx_signal_bus_init_module(ngx_cycle_t *cycle);
ngx_int_t ngx_signal_bus_init_worker(ngx_cycle_t *cycle);
void ngx_signal_bus_exit_worker(void);
void ngx_signal_bus_wake(uint64_t slots);
void ngx_signal_bus_drain(ngx_log_t *log);

/* rooms */
void ngx_signal_rooms_init(void);
ngx_int_t ngx_signal_room_join(ngx_signal_session_t *s, ngx_str_t *name);
ngx_int_t ngx_signal_room_leave(ngx_signal_session_t *s, ngx_str_t *name);
void ngx_signal_room_leave_all(ngx_signal_session_t *s);
ngx_uint_t ngx_signal_room_member(ngx_signal_session_t *s, ngx_str_t *name);
ngx_signal_member_t *ngx_signal_member_find(ngx_signal_session_t *s,
    ngx_str_t *name);
uint64_t ngx_signal_rooms_new_stamp(void);
ngx_int_t ngx_signal_rooms_deliver(ngx_str_t *target, ngx_str_t *room,
    ngx_str_t *event, ngx_str_t *data, uint64_t seq, uint64_t stamp,
    ngx_log_t *log);
void ngx_signal_rooms_confirmed(ngx_str_t *name);
ngx_int_t ngx_signal_rooms_publish(ngx_str_t *room, ngx_str_t *event,
    ngx_str_t *data, uint64_t seq, ngx_log_t *log);
ngx_uint_t ngx_signal_room_allowed(ngx_array_t *allow, ngx_str_t *room);

/* the Redis engine (NULL: the memory engine) */
extern ngx_signal_redis_conf_t    *ngx_signal_redis;

char *ngx_signal_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_signal_redis_backoff(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_signal_redis_init_conf(ngx_conf_t *cf,
    ngx_signal_main_conf_t *smcf);
ngx_int_t ngx_signal_redis_init_worker(ngx_cycle_t *cycle);
void ngx_signal_redis_exit_worker(void);
ngx_int_t ngx_signal_redis_publish(ngx_http_request_t *r,
    ngx_array_t *events, ngx_uint_t n, ngx_str_t *once, time_t ttl);
ngx_int_t ngx_signal_redis_want(ngx_str_t *name, ngx_uint_t want);
ngx_uint_t ngx_signal_redis_confirmed(ngx_str_t *name);
void ngx_signal_redis_presence(ngx_signal_presence_t *p);
ngx_int_t ngx_signal_redis_presence_get(ngx_http_request_t *r,
    ngx_str_t *room);

char *ngx_signal_set_handler(ngx_conf_t *cf, ngx_http_handler_pt handler);
char *ngx_signal_api_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_signal_allow_origin(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* signed webhooks */
ngx_int_t ngx_signal_webhook_handler(ngx_http_request_t *r);
char *ngx_signal_webhook_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_signal_webhook_room(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_signal_webhook_event(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_signal_webhook_data(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_signal_webhook_init_conf(ngx_signal_webhook_conf_t *conf);
char *ngx_signal_webhook_merge_conf(ngx_conf_t *cf,
    ngx_signal_webhook_conf_t *conf, ngx_signal_webhook_conf_t *prev);

/* HTTP helpers and the notify endpoint */
ngx_int_t ngx_signal_notify_handler(ngx_http_request_t *r);
ngx_int_t ngx_signal_notify_answer(ngx_http_request_t *r, ngx_array_t *events,
    uint64_t *seqs);
ngx_int_t ngx_signal_publish(ngx_http_request_t *r, ngx_array_t *events,
    ngx_str_t *once, time_t ttl);
ngx_int_t ngx_signal_http_read_json(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt handler);
ngx_int_t ngx_signal_http_body(ngx_http_request_t *r, ngx_str_t *body);
ngx_int_t ngx_signal_http_api_get(ngx_http_request_t *r, ngx_int_t *rc);
ngx_int_t ngx_signal_http_send_json(ngx_http_request_t *r,
    ngx_uint_t status, u_char *body, size_t len);
ngx_int_t ngx_signal_http_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error, const char *fmt, ...);
ngx_int_t ngx_signal_http_add_header(ngx_http_request_t *r, char *key,
    u_char *value, size_t len);
ngx_table_elt_t *ngx_signal_http_find_header(ngx_http_request_t *r,
    char *name, size_t len, ngx_table_elt_t *after);
ngx_uint_t ngx_signal_http_has_token(ngx_str_t *value, char *token,
    size_t len);


#endif /* _NGX_SIGNAL_H_INCLUDED_ */
