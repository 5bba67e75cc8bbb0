
/*
 * Copyright (C) ngx_signal_module authors
 *
 * One live client connection (a session): made by the WebSocket
 * handshake, in rooms, with a bounded output queue, finalized in one
 * place.  ngx_signal_session.c has its life, ngx_signal_session_detach.c
 * frees its handshake request, ngx_signal_conn.c speaks WebSocket on it.
 */


#ifndef _NGX_SIGNAL_SESSION_H_INCLUDED_
#define _NGX_SIGNAL_SESSION_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_common.h"
#include "ngx_signal_out.h"
#include "ngx_signal_protocol.h"
#include "ngx_signal_ws_parse.h"


/*
 * How a session talks to its client: WebSocket (ngx_signal_conn.c) or
 * Server-Sent Events (ngx_signal_sse.c).  Each function that may end the
 * connection returns NGX_DONE and the session finalizes it; fail() only
 * starts a close and never ends anything itself.
 */
typedef struct {
    const char                 *name;

    /* the response head that opens the session (101, 200) */
    ngx_int_t                 (*accept)(ngx_signal_session_t *s);
    ngx_int_t                 (*read)(ngx_signal_session_t *s);
    ngx_int_t                 (*write)(ngx_signal_session_t *s);
    ngx_int_t                 (*ping)(ngx_signal_session_t *s);
    void                      (*fail)(ngx_signal_session_t *s,
                                      ngx_uint_t code, const char *reason);

    /* a one-way stream: positions are always told, Last-Event-ID read */
    unsigned                    stream:1;

    /* one HTTP answer (long-poll): nginx's request handlers stay */
    unsigned                    held:1;
} ngx_signal_transport_t;


/* a token bucket: what a client may do so often */
typedef struct {
    ngx_msec_t                  time;         /* of the last refill */
    ngx_uint_t                  tokens;
} ngx_signal_bucket_t;


/*
 * It outlives the handshake request: once the 101 is out, the request
 * and its pool are freed (see ngx_signal_session_detach) and c->data
 * points here.
 */
struct ngx_signal_session_s {
    ngx_http_request_t         *request;       /* NULL once detached */
    ngx_connection_t           *connection;
    ngx_signal_loc_conf_t      *conf;
    ngx_signal_transport_t     *transport;
    ngx_signal_protocol_t      *protocol;

    ngx_signal_ws_reader_t      reader;
    ngx_signal_out_t            out;

    ngx_queue_t                 members;       /* ngx_signal_member_t */
    ngx_uint_t                  nrooms;
    ngx_uint_t                  waiting;       /* rooms the engine confirms */
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
    unsigned                    resuming:1;    /* ?resume at the handshake */
};


ngx_signal_session_t *ngx_signal_session_create(ngx_http_request_t *r,
    ngx_signal_transport_t *transport, ngx_signal_protocol_t *protocol);
ngx_int_t ngx_signal_session_start(ngx_http_request_t *r,
    ngx_array_t *join, ngx_array_t *allow);
void ngx_signal_session_ready(ngx_signal_session_t *s);
void ngx_signal_session_finalize(ngx_signal_session_t *s);
void ngx_signal_session_release(ngx_signal_session_t *s);
void ngx_signal_session_detach(ngx_signal_session_t *s);
ngx_int_t ngx_signal_session_copy(ngx_signal_session_t *s);
void ngx_signal_session_cleanup(void *data);
void ngx_signal_session_read(ngx_signal_session_t *s);
void ngx_signal_session_write(ngx_signal_session_t *s);
ngx_int_t ngx_signal_session_flush(ngx_signal_session_t *s);

void ngx_signal_session_send(ngx_signal_session_t *s,
    ngx_signal_frame_t *f);
ngx_int_t ngx_signal_session_send_text(ngx_signal_session_t *s,
    u_char *text, size_t len);
void ngx_signal_session_queue(ngx_signal_session_t *s,
    ngx_signal_frame_t *f);
void ngx_signal_session_slow(ngx_signal_session_t *s);

void ngx_signal_session_expire_at(ngx_signal_session_t *s);
ngx_uint_t ngx_signal_session_may_subscribe(ngx_signal_session_t *s);
ngx_uint_t ngx_signal_session_may_refresh(ngx_signal_session_t *s);

ngx_int_t ngx_signal_session_claim(void *data, ngx_signal_tpl_part_t *part,
    ngx_pool_t *pool, ngx_str_t *value);


#endif /* _NGX_SIGNAL_SESSION_H_INCLUDED_ */
