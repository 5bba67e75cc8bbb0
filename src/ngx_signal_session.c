
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The life of a WebSocket session: made by the handshake, counted and
 * joined to its rooms, answered with 101 (after Redis confirmed its rooms
 * with that engine), detached from its handshake request, closed.
 * Every path that ends a connection goes through ngx_signal_session_close.
 * Until the session is detached from its handshake request, the request
 * pool's cleanup releases what the connection holds; afterwards
 * ngx_signal_session_close does.  Reading, writing, pings and the close
 * handshake are in ngx_signal_conn.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal.h"
#include "ngx_signal_redis.h"


static void ngx_signal_session_accepted(ngx_event_t *ev);
static void ngx_signal_session_expired(ngx_event_t *ev);
static void ngx_signal_session_wait_timeout(ngx_event_t *ev);
static ngx_int_t ngx_signal_session_accept(ngx_signal_session_t *s);
static void ngx_signal_session_detach(ngx_signal_session_t *s);
static ngx_int_t ngx_signal_session_copy(ngx_signal_session_t *s);
static void ngx_signal_session_read_handler(ngx_event_t *rev);
static void ngx_signal_session_write_handler(ngx_event_t *wev);
static void ngx_signal_session_detached_read(ngx_event_t *rev);
static void ngx_signal_session_detached_write(ngx_event_t *wev);
static void ngx_signal_session_release(ngx_signal_session_t *s);
static void ngx_signal_session_cleanup(void *data);
static ngx_uint_t ngx_signal_session_user_ok(ngx_str_t *value);
static ngx_uint_t ngx_signal_bucket_take(ngx_signal_bucket_t *b,
    ngx_uint_t rate, ngx_uint_t burst, ngx_msec_t period);


/*
 * The session is allocated outside the request pool, so that it can
 * outlive the request; until it does, the pool's cleanup frees it.
 */

ngx_signal_session_t *
ngx_signal_session_create(ngx_http_request_t *r)
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

    ngx_http_set_ctx(r, s, ngx_signal_module);

    return s;
}


ngx_int_t
ngx_signal_session_start(ngx_http_request_t *r, ngx_array_t *join,
    ngx_array_t *allow)
{
    ngx_int_t               rc;
    ngx_str_t              *room;
    ngx_uint_t              i;
    ngx_queue_t            *q;
    ngx_connection_t       *c;
    ngx_signal_member_t    *m;
    ngx_signal_tpl_ctx_t    ctx;
    ngx_signal_session_t   *s;
    ngx_signal_loc_conf_t  *slcf;

    c = r->connection;
    slcf = ngx_http_get_module_loc_conf(r, ngx_signal_module);

    /* made by the handshake, which may have verified a token into it */
    s = ngx_http_get_module_ctx(r, ngx_signal_module);

    if (ngx_signal_worker_stats == NULL) {
        /* see ngx_signal_zone_worker_start() */
        return ngx_signal_http_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "no_worker_slot",
                                     "this worker has no slot in "
                                     "signal_zone; retry");
    }

    if (slcf->user) {
        ngx_memzero(&ctx, sizeof(ngx_signal_tpl_ctx_t));
        ctx.resolve = ngx_signal_ws_claim;
        ctx.data = s;
        ctx.check = ngx_signal_session_user_ok;

        rc = ngx_signal_tpl_eval(r, slcf->user, &ctx, &s->user);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_DECLINED) {
            return ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST,
                                         "bad_user", "the user id (%V) may "
                                         "only contain visible ASCII "
                                         "characters other than * \" and "
                                         "\\", &slcf->user->source);
        }

        if (s->user.len > slcf->max_name_length) {
            return ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST,
                                         "bad_user", "the user id is longer "
                                         "than signal_max_name_length");
        }
    }

    s->request = r;
    s->connection = c;
    s->conf = slcf;
    s->allow = allow;
    s->out_last = &s->out;
    ngx_queue_init(&s->members);

    ngx_signal_ws_reader_init(&s->reader, slcf->max_message_size, c->log);

    ngx_signal_count(connections_total, 1);

    if (ngx_signal_worker_stats) {
        (void) ngx_atomic_fetch_add(&ngx_signal_worker_stats->connections, 1);
    }

    room = join->elts;

    for (i = 0; i < join->nelts; i++) {
        rc = ngx_signal_room_join(s, &room[i]);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* the pool cleanup takes the connection out of what it joined */

        if (rc == NGX_BUSY) {
            return ngx_signal_http_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         "zone_full",
                                         "the server has no space for this "
                                         "connection now; retry later");
        }

        if (rc == NGX_ABORT) {
            return ngx_signal_http_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                         "user_limit",
                                         "this user's connections hold "
                                         "their share of the server's "
                                         "memory; close some first");
        }
    }

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

    /*
     * With the Redis engine, the 101 waits until Redis confirmed the
     * subscriptions of the joined rooms: from then on nothing published to
     * them is missed.
     */

    for (q = ngx_queue_head(&s->members);
         q != ngx_queue_sentinel(&s->members);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_signal_member_t, in_session);

        if (!ngx_signal_redis_confirmed(&m->room->sn.str)) {
            m->pending = 1;
            s->waiting++;
        }
    }

    if (s->waiting) {
        s->ping.handler = ngx_signal_session_wait_timeout;
        ngx_add_timer(&s->ping, ngx_signal_redis->command_timeout);

        r->main->count++;
        return NGX_DONE;
    }

    return ngx_signal_session_accept(s);
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


/* the rooms Redis confirmed: answer the handshake from a posted event */

void
ngx_signal_session_accept_later(ngx_signal_session_t *s)
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
                  "signal: redis did not confirm the rooms of a new "
                  "connection within %M ms", ngx_signal_redis->command_timeout);

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

    ngx_signal_session_fail(s, NGX_SIGNAL_CLOSE_TOKEN_EXPIRED,
                            "token expired");
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


/* the 101 answer: from here on the connection speaks WebSocket */

static ngx_int_t
ngx_signal_session_accept(ngx_signal_session_t *s)
{
    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = s->request;
    c = s->connection;

    r->headers_out.status = NGX_HTTP_SWITCHING_PROTOCOLS;
    ngx_str_set(&r->headers_out.status_line, "101 Switching Protocols");
    r->headers_out.content_length_n = -1;
    r->keepalive = 0;

    if (ngx_signal_http_add_header(r, "Upgrade", (u_char *) "websocket", 9)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    if (ngx_http_send_special(r, NGX_HTTP_FLUSH) == NGX_ERROR) {
        return NGX_ERROR;
    }

    c->log->action = "in WebSocket session";

    c->read->handler = ngx_signal_session_read_handler;
    c->write->handler = ngx_signal_session_write_handler;

    /* ngx_close_idle_connections() tells us about graceful shutdown */
    c->idle = 1;

    s->accepted = 1;

    s->ping.handler = ngx_signal_session_ping;
    s->ping.cancelable = 1;

    ngx_add_timer(&s->ping, s->conf->ping_interval);

    ngx_signal_session_expire_at(s);

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


/*
 * Free the handshake request once the 101 is out: its pool
 * (request_pool_size, 4k by default) and the header buffers are most of
 * what an idle connection would otherwise hold.  The request is kept
 * while the 101 or bytes pipelined behind the handshake are pending, and
 * for the connection's life when something still needs it: another
 * module's cleanup on the request (limit_conn counts the connection until
 * the request ends) or JWT secrets from variables (a refresh evaluates
 * them).
 * The access log line is written here, with status 101.
 */

static void
ngx_signal_session_detach(ngx_signal_session_t *s)
{
    ngx_chain_t            *cl;
    ngx_connection_t       *c;
    ngx_pool_cleanup_t     *cln, *own;
    ngx_http_request_t     *r;
    ngx_http_connection_t  *hc;

    if (s->settled || s->closed || !s->accepted) {
        return;
    }

    r = s->request;
    c = s->connection;

    if (r->out || c->buffered || r->header_in->pos < r->header_in->last) {
        return;
    }

    if (r->cleanup || ngx_signal_jwt_needs_request(&s->conf->jwt)) {
        goto keep;
    }

    own = NULL;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_signal_session_cleanup && cln->data == s) {
            own = cln;
            continue;
        }

        if (cln->handler && !(s->jwt.claims && cln->data == s->jwt.claims)) {
            goto keep;
        }
    }

    if (own == NULL || ngx_signal_session_copy(s) != NGX_OK) {
        return;
    }

    /* the pool must no longer free the session */
    own->handler = NULL;

    /* the claims live in the request pool; only the handshake used them */
    s->jwt.claims = NULL;

    hc = r->http_connection;
    s->request = NULL;
    s->settled = 1;

    ngx_http_free_request(r, 0);

    c->destroyed = 0;
    c->data = s;
    c->log->action = "in WebSocket session";

    /* the header buffers, as ngx_http_set_keepalive() frees them */

    if (c->buffer && ngx_pfree(c->pool, c->buffer->start) == NGX_OK) {
        c->buffer->start = NULL;
        c->buffer->pos = NULL;
        c->buffer->last = NULL;
        c->buffer->end = NULL;
    }

    for (cl = hc->busy; cl; cl = cl->next) {
        ngx_pfree(c->pool, cl->buf->start);
    }

    for (cl = hc->free; cl; cl = cl->next) {
        ngx_pfree(c->pool, cl->buf->start);
    }

    hc->busy = NULL;
    hc->nbusy = 0;
    hc->free = NULL;

#if (NGX_HTTP_SSL)
    if (c->ssl) {
        ngx_ssl_free_buffer(c);
    }
#endif

    c->read->handler = ngx_signal_session_detached_read;
    c->write->handler = ngx_signal_session_detached_write;

    return;

keep:

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "signal: the handshake request is kept for the "
                   "connection's life");

    s->settled = 1;
}


/* what the session keeps from the request pool, in one allocation */

static ngx_int_t
ngx_signal_session_copy(ngx_signal_session_t *s)
{
    u_char       *p;
    size_t        size;
    ngx_str_t    *from, *to;
    ngx_uint_t    i, n;
    ngx_array_t  *allow;

    n = s->allow ? s->allow->nelts : 0;
    from = n ? s->allow->elts : NULL;

    size = s->user.len + s->jwt.sub.len;

    for (i = 0; i < n; i++) {
        size += from[i].len;
    }

    if (n == 0 && size == 0) {
        s->allow = NULL;
        return NGX_OK;
    }

    size += sizeof(ngx_array_t) + n * sizeof(ngx_str_t);

    p = ngx_alloc(size, s->connection->log);
    if (p == NULL) {
        return NGX_ERROR;
    }

    s->copied = p;

    allow = (ngx_array_t *) p;
    p += sizeof(ngx_array_t);

    to = (ngx_str_t *) p;
    p += n * sizeof(ngx_str_t);

    for (i = 0; i < n; i++) {
        to[i].len = from[i].len;
        to[i].data = p;

        if (from[i].len) {
            p = ngx_cpymem(p, from[i].data, from[i].len);
        }
    }

    allow->elts = to;
    allow->nelts = n;
    allow->size = sizeof(ngx_str_t);
    allow->nalloc = n;
    allow->pool = NULL;

    s->allow = n ? allow : NULL;

    if (s->user.len) {
        ngx_memcpy(p, s->user.data, s->user.len);
        s->user.data = p;
        p += s->user.len;
    }

    if (s->jwt.sub.len) {
        ngx_memcpy(p, s->jwt.sub.data, s->jwt.sub.len);
        s->jwt.sub.data = p;
    }

    return NGX_OK;
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
    ngx_connection_t      *c;
    ngx_http_request_t    *r;
    ngx_signal_session_t  *s;

    c = wev->data;
    r = c->data;
    s = ngx_http_get_module_ctx(r, ngx_signal_module);

    if (ngx_signal_session_write(s) != NGX_DONE) {
        ngx_signal_session_detach(s);
    }
}


static void
ngx_signal_session_detached_read(ngx_event_t *rev)
{
    ngx_connection_t  *c = rev->data;

    ngx_signal_session_read(c->data);
}


static void
ngx_signal_session_detached_write(ngx_event_t *wev)
{
    ngx_connection_t  *c = wev->data;

    (void) ngx_signal_session_write(c->data);
}


/* end the connection now; s is freed */

void
ngx_signal_session_close(ngx_signal_session_t *s)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    if (s->closed) {
        return;
    }

    s->closed = 1;

    r = s->request;
    c = s->connection;

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

static void
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


static void
ngx_signal_session_release(ngx_signal_session_t *s)
{
    ngx_signal_room_leave_all(s);
    ngx_signal_session_drop_all(s);

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
