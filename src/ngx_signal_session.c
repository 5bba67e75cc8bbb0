
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The life of a session: made by the handshake, counted and joined to its
 * rooms, answered with 101 (once the engine confirmed its rooms), detached
 * from its handshake request (ngx_signal_session_detach.c), finalized.
 * Every path that ends a connection goes through
 * ngx_signal_session_finalize: the event and timer handlers here call the
 * WebSocket side (ngx_signal_conn.c), which says with NGX_DONE when the
 * session must end.  Until the session is detached from its handshake
 * request, the request pool's cleanup releases what the connection holds;
 * afterwards ngx_signal_session_finalize does.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_session.h"
#include "ngx_signal_engine.h"
#include "ngx_signal_http.h"
#include "ngx_signal_rooms.h"
#include "ngx_signal_status.h"
#include "ngx_signal_zone.h"


static ngx_int_t ngx_signal_session_user(ngx_http_request_t *r,
    ngx_signal_session_t *s, ngx_int_t *rc);
static ngx_uint_t ngx_signal_session_user_ok(ngx_str_t *value);
static void ngx_signal_session_init(ngx_http_request_t *r,
    ngx_signal_session_t *s, ngx_array_t *allow);
static ngx_int_t ngx_signal_session_join(ngx_http_request_t *r,
    ngx_signal_session_t *s, ngx_array_t *join, ngx_int_t *rc);
static ngx_uint_t ngx_signal_session_wait(ngx_signal_session_t *s);
static void ngx_signal_session_accepted(ngx_event_t *ev);
static void ngx_signal_session_wait_timeout(ngx_event_t *ev);
static ngx_int_t ngx_signal_session_accept(ngx_signal_session_t *s);
static void ngx_signal_session_expired(ngx_event_t *ev);
static ngx_uint_t ngx_signal_bucket_take(ngx_signal_bucket_t *b,
    ngx_uint_t rate, ngx_uint_t burst, ngx_msec_t period);
static void ngx_signal_session_read_handler(ngx_event_t *rev);
static void ngx_signal_session_write_handler(ngx_event_t *wev);
static void ngx_signal_session_request_read(ngx_http_request_t *r);
static void ngx_signal_session_request_write(ngx_http_request_t *r);
static void ngx_signal_session_ping_handler(ngx_event_t *ev);
static void ngx_signal_session_close_timeout(ngx_event_t *ev);


/*
 * The session is allocated outside the request pool, so that it can
 * outlive the request; until it does, the pool's cleanup frees it.
 */

ngx_signal_session_t *
ngx_signal_session_create(ngx_http_request_t *r,
    ngx_signal_transport_t *transport, ngx_signal_protocol_t *protocol)
{
    ngx_pool_cleanup_t    *cln;
    ngx_signal_session_t  *s;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    s = ngx_calloc(sizeof(ngx_signal_session_t), r->connection->log);
    if (s == NULL) {
        return NULL;
    }

    cln->handler = ngx_signal_session_cleanup;
    cln->data = s;

    s->transport = transport;
    s->protocol = protocol;

    ngx_http_set_ctx(r, s, ngx_signal_module);

    return s;
}


ngx_int_t
ngx_signal_session_start(ngx_http_request_t *r, ngx_array_t *join,
    ngx_array_t *allow)
{
    ngx_int_t              rc;
    ngx_str_t              arg;
    const char            *err;
    ngx_table_elt_t       *h;
    ngx_signal_session_t  *s;

    /* made by the handshake, which may have verified a token into it */
    s = ngx_http_get_module_ctx(r, ngx_signal_module);

    if (ngx_signal_worker_stats == NULL) {
        /* see ngx_signal_zone_worker_start() */
        return ngx_signal_http_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "no_worker_slot",
                                     "this worker has no slot in "
                                     "signal_zone; retry");
    }

    if (ngx_signal_session_user(r, s, &rc) != NGX_OK) {
        return rc;
    }

    ngx_signal_session_init(r, s, allow);

    if (ngx_signal_session_copy(s) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_signal_session_join(r, s, join, &rc) != NGX_OK) {
        /* the pool cleanup takes the connection out of what it joined */
        return rc;
    }

    if (ngx_http_arg(r, (u_char *) "resume", 6, &arg) == NGX_OK) {
        s->resuming = 1;
        err = ngx_signal_rooms_resume_arg(s, &arg, r->pool);

        if (err) {
            return ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST,
                                         "bad_resume", "the \"resume\" "
                                         "argument %s", err);
        }
    }

    if (s->transport->stream) {
        /*
         * A browser's own reconnection: the last id it got, newer than
         * the URL's "resume"; an id this server did not send is ignored.
         */
        h = ngx_signal_http_find_header(r, "last-event-id", 13, NULL);

        if (h && h->value.len) {
            (void) ngx_signal_rooms_resume_arg(s, &h->value, r->pool);
        }
    }

    if (ngx_signal_session_wait(s)) {
        r->main->count++;
        return NGX_DONE;
    }

    return ngx_signal_session_accept(s);
}


/* signal_user: NGX_OK, or NGX_DECLINED with the answer's status in *rc */

static ngx_int_t
ngx_signal_session_user(ngx_http_request_t *r, ngx_signal_session_t *s,
    ngx_int_t *rc)
{
    ngx_signal_tpl_ctx_t    ctx;
    ngx_signal_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_signal_module);

    if (slcf->user == NULL) {
        return NGX_OK;
    }

    ngx_memzero(&ctx, sizeof(ngx_signal_tpl_ctx_t));
    ctx.resolve = ngx_signal_session_claim;
    ctx.data = s;
    ctx.check = ngx_signal_session_user_ok;

    *rc = ngx_signal_tpl_eval(r, slcf->user, &ctx, &s->user);

    if (*rc == NGX_ERROR) {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    if (*rc == NGX_DECLINED) {
        *rc = ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST,
                                     "bad_user", "the user id (%V) may "
                                     "only contain visible ASCII "
                                     "characters other than * \" and "
                                     "\\", &slcf->user->source);
        return NGX_DECLINED;
    }

    if (s->user.len > slcf->max_name_length) {
        *rc = ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST,
                                    "bad_user", "the user id is longer "
                                    "than signal_max_name_length");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * A user id (signal_user): visible ASCII other than the characters that
 * would need escaping or could act as a wildcard.
 */

static ngx_uint_t
ngx_signal_session_user_ok(ngx_str_t *value)
{
    size_t  i;

    for (i = 0; i < value->len; i++) {
        if (value->data[i] <= 0x20 || value->data[i] >= 0x7f
            || value->data[i] == '*' || value->data[i] == '"'
            || value->data[i] == '\\')
        {
            return 0;
        }
    }

    return 1;
}


/* a claim of the handshake's token; an absent one is empty */

ngx_int_t
ngx_signal_session_claim(void *data, ngx_signal_tpl_part_t *part,
    ngx_pool_t *pool, ngx_str_t *value)
{
    ngx_int_t              rc;
    ngx_signal_session_t  *s = data;

    if (s == NULL || s->jwt.claims == NULL) {
        ngx_str_null(value);
        return NGX_OK;
    }

    rc = ngx_signal_jwt_claim(s->jwt.claims, &part->text, pool, value);

    if (rc == NGX_DECLINED) {
        ngx_str_null(value);
        return NGX_OK;
    }

    return rc;
}


/* the session counted: its queue, reader, timers and buckets */

static void
ngx_signal_session_init(ngx_http_request_t *r, ngx_signal_session_t *s,
    ngx_array_t *allow)
{
    ngx_connection_t       *c;
    ngx_signal_loc_conf_t  *slcf;

    c = r->connection;
    slcf = ngx_http_get_module_loc_conf(r, ngx_signal_module);

    s->request = r;
    s->connection = c;
    s->conf = slcf;
    s->allow = allow;
    ngx_signal_out_init(&s->out);
    ngx_queue_init(&s->members);

    ngx_signal_ws_reader_init(&s->reader, slcf->max_message_size, c->log);

    ngx_signal_count(connections_total, 1);
    (void) ngx_atomic_fetch_add(&ngx_signal_worker_stats->connections, 1);

    s->ping.data = s;
    s->ping.log = c->log;

    s->close_timer.handler = ngx_signal_session_close_timeout;
    s->close_timer.data = s;
    s->close_timer.log = c->log;

    s->expire.handler = ngx_signal_session_expired;
    s->expire.data = s;
    s->expire.log = c->log;
    s->expire.cancelable = 1;

    s->subscribes.tokens = ngx_max(slcf->subscribe_rate, slcf->max_rooms);
    s->subscribes.time = ngx_current_msec;
    s->refreshes.tokens = slcf->refresh_rate;
    s->refreshes.time = ngx_current_msec;
}


/* the rooms of signal_join: NGX_OK, or NGX_DECLINED with *rc */

static ngx_int_t
ngx_signal_session_join(ngx_http_request_t *r, ngx_signal_session_t *s,
    ngx_array_t *join, ngx_int_t *rc)
{
    ngx_str_t   *room;
    ngx_uint_t   i;

    room = join->elts;

    for (i = 0; i < join->nelts; i++) {

        switch (ngx_signal_rooms_join(s, &room[i])) {

        case NGX_ERROR:
            *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_DECLINED;

        case NGX_BUSY:
            *rc = ngx_signal_http_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "zone_full",
                                        "the server has no space for this "
                                        "connection now; retry later");
            return NGX_DECLINED;

        case NGX_ABORT:
            *rc = ngx_signal_http_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                        "user_limit",
                                        "this user's connections hold "
                                        "their share of the server's "
                                        "memory; close some first");
            return NGX_DECLINED;

        default:
            break;
        }
    }

    return NGX_OK;
}


/*
 * Whether the 101 waits for the engine to confirm the joined rooms (the
 * Redis engine's subscriptions): from then on nothing published to them
 * is missed.
 */

static ngx_uint_t
ngx_signal_session_wait(ngx_signal_session_t *s)
{
    ngx_queue_t          *q;
    ngx_signal_member_t  *m;

    for (q = ngx_queue_head(&s->members);
         q != ngx_queue_sentinel(&s->members);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_signal_member_t, in_session);

        if (!ngx_signal_engine->ready(&m->room->sn.str)) {
            m->pending = 1;
            s->waiting++;
        }
    }

    if (s->waiting == 0) {
        return 0;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, s->connection->log, 0,
                   "signal: the 101 waits for %ui rooms", s->waiting);

    s->ping.handler = ngx_signal_session_wait_timeout;
    ngx_add_timer(&s->ping, ngx_signal_engine->ready_timeout);

    return 1;
}


/* the engine confirmed the rooms: answer the handshake from an event */

void
ngx_signal_session_ready(ngx_signal_session_t *s)
{
    if (s->ping.timer_set) {
        ngx_del_timer(&s->ping);
    }

    s->ping.handler = ngx_signal_session_accepted;
    ngx_post_event(&s->ping, &ngx_posted_events);
}


static void
ngx_signal_session_accepted(ngx_event_t *ev)
{
    ngx_signal_session_t  *s = ev->data;

    ngx_http_finalize_request(s->request, ngx_signal_session_accept(s));
}


static void
ngx_signal_session_wait_timeout(ngx_event_t *ev)
{
    ngx_int_t              rc;
    ngx_signal_session_t  *s = ev->data;

    ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                  "signal: the %s engine did not confirm the rooms of a new "
                  "connection within %M ms", ngx_signal_engine->name,
                  ngx_signal_engine->ready_timeout);

    rc = ngx_signal_http_error(s->request, NGX_HTTP_SERVICE_UNAVAILABLE,
                               "redis_timeout",
                               "Redis did not confirm the subscriptions in "
                               "time; retry");

    ngx_http_finalize_request(s->request, rc);
}


/*
 * A connection authenticated by a token lives until its exp (plus
 * signal_jwt_leeway), unless a refresh moved it.
 */

void
ngx_signal_session_expire_at(ngx_signal_session_t *s)
{
    time_t  left;

    if (s->jwt.exp == 0) {
        return;
    }

    left = s->jwt.exp + s->conf->jwt.leeway - ngx_time();

    if (left < 0) {
        left = 0;
    }

    /* timers are ngx_msec_t: far expiries are checked again later */

    if (left > 86400) {
        left = 86400;
    }

    ngx_add_timer(&s->expire, (ngx_msec_t) left * 1000 + 1);
}


static void
ngx_signal_session_expired(ngx_event_t *ev)
{
    ngx_signal_session_t  *s = ev->data;

    if (s->jwt.exp + s->conf->jwt.leeway > ngx_time()) {
        ngx_signal_session_expire_at(s);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                  "signal: the connection's token expired, closing");

    s->transport->fail(s, NGX_SIGNAL_CLOSE_TOKEN_EXPIRED, "token expired");
}


/*
 * signal_subscribe_rate per second; a connection may first fill all its
 * rooms at once (the bucket holds signal_max_rooms_per_connection).
 */

ngx_uint_t
ngx_signal_session_may_subscribe(ngx_signal_session_t *s)
{
    return ngx_signal_bucket_take(&s->subscribes, s->conf->subscribe_rate,
                                  ngx_max(s->conf->subscribe_rate,
                                          s->conf->max_rooms),
                                  1000);
}


/* signal_refresh_rate per minute: each costs a signature verification */

ngx_uint_t
ngx_signal_session_may_refresh(ngx_signal_session_t *s)
{
    return ngx_signal_bucket_take(&s->refreshes, s->conf->refresh_rate,
                                  s->conf->refresh_rate, 60000);
}


/* one token, if the bucket (refilled rate per period) has one */

static ngx_uint_t
ngx_signal_bucket_take(ngx_signal_bucket_t *b, ngx_uint_t rate,
    ngx_uint_t burst, ngx_msec_t period)
{
    ngx_msec_t  elapsed;

    elapsed = ngx_current_msec - b->time;

    if (elapsed >= period) {
        b->tokens = ngx_min(burst, b->tokens + rate * (elapsed / period));
        b->time += (elapsed / period) * period;
    }

    if (b->tokens == 0) {
        return 0;
    }

    b->tokens--;

    return 1;
}


/* the response head (101 for WebSocket): from here on the session lives */

static ngx_int_t
ngx_signal_session_accept(ngx_signal_session_t *s)
{
    ngx_int_t                  rc;
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_core_loc_conf_t  *clcf;

    r = s->request;
    c = s->connection;

    rc = s->transport->accept(s);

    if (rc != NGX_OK) {
        return rc;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "signal: %s session open, %ui rooms, user \"%V\"",
                   s->transport->name, s->nrooms, &s->user);

    if (s->transport->held) {
        /* the request answers: nginx's handlers call the session's */
        r->read_event_handler = ngx_signal_session_request_read;
        r->write_event_handler = ngx_signal_session_request_write;

    } else {
        c->read->handler = ngx_signal_session_read_handler;
        c->write->handler = ngx_signal_session_write_handler;

        /*
         * Small frames, each wanted now: Nagle's algorithm would hold one
         * behind an unacknowledged one (tcp_nodelay, as nginx does for
         * keepalive and upgraded connections)
         */
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

        if (clcf->tcp_nodelay && ngx_tcp_nodelay(c) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    /* ngx_close_idle_connections() tells us about graceful shutdown */
    c->idle = 1;

    s->accepted = 1;

    s->ping.handler = ngx_signal_session_ping_handler;
    s->ping.cancelable = 1;

    ngx_add_timer(&s->ping, s->conf->ping_interval);

    if (ngx_exiting) {
        /*
         * Accepted after ngx_close_idle_connections() (its request was
         * being read then): told now, as it would have been; a timer
         * that is not cancelable keeps the worker until it is.
         */
        c->close = 1;
        s->ping.cancelable = 0;
        ngx_post_event(c->read, &ngx_posted_events);
    }

    ngx_signal_session_expire_at(s);

    /*
     * A client that resumes (even from nowhere, "?resume=") hears where
     * it is in each room it joined, after what it missed there.
     */
    ngx_signal_rooms_place_all(s, s->resuming || s->transport->stream);

    r->main->count++;

    /* frames pipelined behind the handshake sit in r->header_in */

    if (r->header_in->pos < r->header_in->last) {
        ngx_post_event(c->read, &ngx_posted_events);
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the request is finalized on return: it is freed from the write
     * handler, which runs next */
    ngx_post_event(c->write, &ngx_posted_events);

    return NGX_DONE;
}


/* the event and timer handlers: the WebSocket side says when to end */

void
ngx_signal_session_read(ngx_signal_session_t *s)
{
    if (s->transport->read(s) == NGX_DONE) {
        ngx_signal_session_finalize(s);
    }
}


void
ngx_signal_session_write(ngx_signal_session_t *s)
{
    if (s->transport->write(s) == NGX_DONE) {
        ngx_signal_session_finalize(s);
        return;
    }

    /* once the 101 and what came with it are out, the request can go */
    ngx_signal_session_detach(s);
}


static void
ngx_signal_session_read_handler(ngx_event_t *rev)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    c = rev->data;
    r = c->data;

    ngx_signal_session_read(ngx_http_get_module_ctx(r, ngx_signal_module));
}


static void
ngx_signal_session_write_handler(ngx_event_t *wev)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    c = wev->data;
    r = c->data;

    ngx_signal_session_write(ngx_http_get_module_ctx(r, ngx_signal_module));
}


static void
ngx_signal_session_request_read(ngx_http_request_t *r)
{
    ngx_signal_session_read(ngx_http_get_module_ctx(r, ngx_signal_module));
}


static void
ngx_signal_session_request_write(ngx_http_request_t *r)
{
    ngx_signal_session_write(ngx_http_get_module_ctx(r, ngx_signal_module));
}


static void
ngx_signal_session_ping_handler(ngx_event_t *ev)
{
    ngx_signal_session_t  *s = ev->data;

    if (s->transport->ping(s) == NGX_DONE) {
        ngx_signal_session_finalize(s);
    }
}


static void
ngx_signal_session_close_timeout(ngx_event_t *ev)
{
    ngx_signal_session_t  *s = ev->data;

    ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                  "client did not complete the close handshake within %M ms",
                  s->conf->close_timeout);

    ngx_signal_session_finalize(s);
}


/* end the connection now; s is freed */

void
ngx_signal_session_finalize(ngx_signal_session_t *s)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    if (s->closed) {
        return;
    }

    s->closed = 1;

    r = s->request;
    c = s->connection;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "signal: session finalized, %uz bytes unsent",
                   s->out.queued);

    if (r) {
        /* the request pool's cleanup releases the session */
        ngx_http_finalize_request(r, NGX_HTTP_CLOSE);
        ngx_http_run_posted_requests(c);
        return;
    }

    ngx_signal_session_release(s);
    ngx_free(s->copied);
    ngx_free(s);

    ngx_http_close_connection(c);
}


/* the request pool goes: a session that never detached goes with it */

void
ngx_signal_session_cleanup(void *data)
{
    ngx_signal_session_t  *s = data;

    if (s->connection) {
        /* ngx_signal_session_start() counted and joined */
        ngx_signal_session_release(s);
    }

    ngx_free(s->copied);
    ngx_free(s);
}


void
ngx_signal_session_release(ngx_signal_session_t *s)
{
    ngx_signal_rooms_leave_all(s);
    ngx_signal_out_drop_all(&s->out);

    if (ngx_signal_worker_stats) {
        (void) ngx_atomic_fetch_add(&ngx_signal_worker_stats->connections,
                                    -1);
    }

    ngx_signal_ws_reader_free(&s->reader);

    if (s->ping.timer_set) {
        ngx_del_timer(&s->ping);
    }

    if (s->close_timer.timer_set) {
        ngx_del_timer(&s->close_timer);
    }

    if (s->expire.timer_set) {
        ngx_del_timer(&s->expire);
    }

    if (s->ping.posted) {
        ngx_delete_posted_event(&s->ping);
    }

    if (s->close_timer.posted) {
        ngx_delete_posted_event(&s->close_timer);
    }
}
