
/*
 * Copyright (C) ngx_signal_module authors
 *
 * One live WebSocket connection after the handshake: reading and framing,
 * ping/pong and the close handshake (the output queue is in
 * ngx_signal_out.c).
 * Every path that ends a connection goes through ngx_signal_session_close;
 * the request pool cleanup releases what the connection holds.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal.h"
#include "ngx_signal_redis.h"


/* reads per event before yielding to other connections */
#define NGX_SIGNAL_READS_PER_EVENT  8

static void ngx_signal_session_accepted(ngx_event_t *ev);
static void ngx_signal_session_expired(ngx_event_t *ev);
static void ngx_signal_session_wait_timeout(ngx_event_t *ev);
static ngx_int_t ngx_signal_session_accept(ngx_signal_session_t *s);
static void ngx_signal_session_read(ngx_event_t *rev);
static void ngx_signal_session_write(ngx_event_t *wev);
static ngx_int_t ngx_signal_session_input(ngx_signal_session_t *s,
    u_char *pos, u_char *last);
static ngx_int_t ngx_signal_session_close_frame(ngx_signal_session_t *s,
    u_char *data, size_t len);
static void ngx_signal_session_control(ngx_signal_session_t *s,
    ngx_uint_t opcode, u_char *data, size_t len);
static void ngx_signal_session_send_close(ngx_signal_session_t *s,
    ngx_uint_t code, u_char *payload, size_t len);
static void ngx_signal_session_shutdown(ngx_signal_session_t *s);
static void ngx_signal_session_go_away(ngx_signal_session_t *s);
static void ngx_signal_session_ping(ngx_event_t *ev);
static void ngx_signal_session_close_timeout(ngx_event_t *ev);
static void ngx_signal_session_close(ngx_signal_session_t *s);
static void ngx_signal_session_cleanup(void *data);


static u_char             ngx_signal_read_buf[16384];


ngx_int_t
ngx_signal_session_start(ngx_http_request_t *r, ngx_array_t *join,
    ngx_array_t *allow)
{
    ngx_int_t               rc;
    ngx_str_t              *room;
    ngx_uint_t              i;
    ngx_queue_t            *q;
    ngx_connection_t       *c;
    ngx_pool_cleanup_t     *cln;
    ngx_signal_member_t    *m;
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
        if (ngx_http_complex_value(r, slcf->user, &s->user) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (s->user.len > slcf->max_name_length) {
            return ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST,
                                         "bad_user", "the user id is longer "
                                         "than signal_max_name_length");
        }
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    s->request = r;
    s->connection = c;
    s->conf = slcf;
    s->allow = allow;
    s->out_last = &s->out;
    ngx_queue_init(&s->members);

    ngx_signal_ws_reader_init(&s->reader, slcf->max_message_size, c->log);

    cln->handler = ngx_signal_session_cleanup;
    cln->data = s;

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

        if (rc == NGX_BUSY) {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "signal: signal_zone is full, cannot count a "
                          "connection in \"%V\"; raise its size", &room[i]);

            /* the pool cleanup takes the connection out of what it joined */
            return ngx_signal_http_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         "zone_full",
                                         "the server has no space for this "
                                         "connection now; retry later");
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

    s->sub_tokens = ngx_max(slcf->subscribe_rate, slcf->max_rooms);
    s->sub_time = ngx_current_msec;

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
    ngx_msec_t  elapsed;
    ngx_uint_t  rate, burst;

    rate = s->conf->subscribe_rate;
    burst = ngx_max(rate, s->conf->max_rooms);
    elapsed = ngx_current_msec - s->sub_time;

    if (elapsed >= 1000) {
        s->sub_tokens = ngx_min(burst,
                                s->sub_tokens + rate * (elapsed / 1000));
        s->sub_time += (elapsed / 1000) * 1000;
    }

    if (s->sub_tokens == 0) {
        return 0;
    }

    s->sub_tokens--;

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

    c->read->handler = ngx_signal_session_read;
    c->write->handler = ngx_signal_session_write;

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

    return NGX_DONE;
}


static void
ngx_signal_session_read(ngx_event_t *rev)
{
    u_char                *pos;
    ssize_t                n;
    ngx_uint_t             i;
    ngx_connection_t      *c;
    ngx_http_request_t    *r;
    ngx_signal_session_t  *s;

    c = rev->data;
    r = c->data;
    s = ngx_http_get_module_ctx(r, ngx_signal_module);

    if (c->close) {
        /* graceful shutdown (quit, reload) or worker_shutdown_timeout */
        c->close = 0;

        if (c->error || s->close_sent || s->going_away) {
            ngx_signal_session_close(s);
            return;
        }

        ngx_signal_session_shutdown(s);
        return;
    }

    if (r->header_in->pos < r->header_in->last) {
        pos = r->header_in->pos;
        r->header_in->pos = r->header_in->last;

        if (ngx_signal_session_input(s, pos, r->header_in->last) == NGX_DONE)
        {
            return;
        }
    }

    for (i = 0; i < NGX_SIGNAL_READS_PER_EVENT; i++) {

        n = c->recv(c, ngx_signal_read_buf, sizeof(ngx_signal_read_buf));

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0 || n == NGX_ERROR) {
            if (n == 0 && !s->close_sent) {
                ngx_log_error(NGX_LOG_INFO, c->log, 0,
                              "client closed the connection without a "
                              "close frame");
            }

            ngx_signal_session_close(s);
            return;
        }

        if (ngx_signal_session_input(s, ngx_signal_read_buf,
                                     ngx_signal_read_buf + n)
            == NGX_DONE)
        {
            return;
        }
    }

    if (i == NGX_SIGNAL_READS_PER_EVENT && rev->ready) {
        /* a busy client: let the others have a turn */
        ngx_post_event(rev, &ngx_posted_events);
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_signal_session_close(s);
    }
}


/* NGX_DONE means the session was closed */

static ngx_int_t
ngx_signal_session_input(ngx_signal_session_t *s, u_char *pos, u_char *last)
{
    ngx_int_t                 rc;
    ngx_signal_ws_message_t   msg;

    while (pos < last && !s->read_failed) {

        rc = ngx_signal_ws_read(&s->reader, &pos, last, &msg);

        if (rc == NGX_AGAIN) {
            break;
        }

        if (rc == NGX_ERROR) {
            ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                          "client sent an invalid frame: %s, closing with %ui",
                          s->reader.error, s->reader.close_code);

            s->read_failed = 1;
            ngx_signal_session_fail(s, s->reader.close_code, s->reader.error);
            break;
        }

        switch (msg.opcode) {

        case NGX_SIGNAL_WS_OP_TEXT:
            if (!s->close_sent) {
                ngx_signal_native_message(s, msg.data, msg.len);
            }
            break;

        case NGX_SIGNAL_WS_OP_BINARY:
            s->read_failed = 1;
            ngx_signal_session_fail(s, NGX_SIGNAL_WS_CLOSE_UNSUPPORTED,
                                    "binary messages are not supported");
            break;

        case NGX_SIGNAL_WS_OP_PING:
            if (!s->close_sent) {
                ngx_signal_session_control(s, NGX_SIGNAL_WS_OP_PONG,
                                           msg.data, msg.len);
            }
            break;

        case NGX_SIGNAL_WS_OP_PONG:
            if (s->awaiting_pong && !s->close_sent) {
                s->awaiting_pong = 0;
                ngx_add_timer(&s->ping, s->conf->ping_interval);
            }
            break;

        default: /* NGX_SIGNAL_WS_OP_CLOSE */
            if (ngx_signal_session_close_frame(s, msg.data, msg.len)
                == NGX_DONE)
            {
                return NGX_DONE;
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_signal_session_close_frame(ngx_signal_session_t *s, u_char *data,
    size_t len)
{
    u_char      code[2];
    ngx_uint_t  status;

    s->close_received = 1;
    s->read_failed = 1;   /* nothing may follow a close frame */

    if (len == 1) {
        ngx_signal_session_fail(s, NGX_SIGNAL_WS_CLOSE_PROTOCOL,
                                "close frame with a 1-byte payload");
        return NGX_OK;
    }

    status = 0;

    if (len >= 2) {
        status = (data[0] << 8) | data[1];

        if (!ngx_signal_ws_close_code_valid(status)) {
            ngx_signal_session_fail(s, NGX_SIGNAL_WS_CLOSE_PROTOCOL,
                                    "invalid close code");
            return NGX_OK;
        }

        if (ngx_signal_utf8_validate(NGX_SIGNAL_UTF8_ACCEPT, data + 2,
                                     len - 2)
            != NGX_SIGNAL_UTF8_ACCEPT)
        {
            ngx_signal_session_fail(s, NGX_SIGNAL_WS_CLOSE_INVALID_DATA,
                                    "close reason is not valid UTF-8");
            return NGX_OK;
        }
    }

    if (s->close_sent) {
        /* the peer answered our close: the handshake is complete */

        if (s->out == NULL) {
            ngx_signal_session_close(s);
            return NGX_DONE;
        }

        return NGX_OK;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, s->connection->log, 0,
                   "signal: client closed with %ui", status);

    /* echo the status code, then close the TCP connection first */

    code[0] = (u_char) (status >> 8);
    code[1] = (u_char) (status & 0xff);

    ngx_signal_session_send_close(s, status, code, status ? 2 : 0);

    return NGX_OK;
}


/*
 * Start the closing handshake with a status code.  Never closes the
 * connection synchronously, so it is safe from any context (publishing,
 * timers); the write handler does the rest.
 */

void
ngx_signal_session_fail(ngx_signal_session_t *s, ngx_uint_t code,
    const char *reason)
{
    u_char  payload[NGX_SIGNAL_WS_MAX_CONTROL];
    size_t  len;

    if (s->close_sent || s->closed) {
        return;
    }

    if (code == NGX_SIGNAL_CLOSE_SLOW_CONSUMER) {
        ngx_signal_session_drop_unsent(s);
    }

    payload[0] = (u_char) (code >> 8);
    payload[1] = (u_char) (code & 0xff);

    len = ngx_min(ngx_strlen(reason), NGX_SIGNAL_WS_MAX_CONTROL - 2);
    ngx_memcpy(payload + 2, reason, len);

    ngx_signal_session_send_close(s, code, payload, len + 2);
}


/* queue our close frame (even past the queue limit) and wait for theirs */

static void
ngx_signal_session_send_close(ngx_signal_session_t *s, ngx_uint_t code,
    u_char *payload, size_t len)
{
    ngx_signal_session_control(s, NGX_SIGNAL_WS_OP_CLOSE, payload, len);
    s->close_sent = 1;
    ngx_signal_status_count_close(code);

    if (s->ping.timer_set) {
        ngx_del_timer(&s->ping);
    }

    if (s->expire.timer_set) {
        ngx_del_timer(&s->expire);
    }

    ngx_add_timer(&s->close_timer, s->conf->close_timeout);
}


static void
ngx_signal_session_write(ngx_event_t *wev)
{
    ngx_int_t              rc;
    ngx_connection_t      *c;
    ngx_http_request_t    *r;
    ngx_signal_session_t  *s;

    c = wev->data;
    r = c->data;
    s = ngx_http_get_module_ctx(r, ngx_signal_module);

    if (s->slow && !s->close_sent) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "client reads too slowly: more than %uz bytes queued, "
                      "closing with %d", s->conf->send_queue,
                      NGX_SIGNAL_CLOSE_SLOW_CONSUMER);

        ngx_signal_session_fail(s, NGX_SIGNAL_CLOSE_SLOW_CONSUMER,
                                "slow consumer");
    }

    rc = ngx_signal_session_flush(s);

    if (rc == NGX_ERROR) {
        ngx_signal_session_close(s);
        return;
    }

    if (rc == NGX_OK && s->close_sent) {

        if (s->close_received) {
            ngx_signal_session_close(s);
            return;
        }

        if (!s->write_shut && c->ssl == NULL) {
            /* the close frame is out: tell the peer no more data comes */
            s->write_shut = 1;
            (void) ngx_shutdown_socket(c->fd, NGX_WRITE_SHUTDOWN);
        }
    }
}


static void
ngx_signal_session_control(ngx_signal_session_t *s, ngx_uint_t opcode,
    u_char *data, size_t len)
{
    u_char              *p;
    ngx_signal_frame_t  *f;

    f = ngx_signal_frame_alloc(2 + len, s->connection->log);
    if (f == NULL) {
        return;
    }

    p = ngx_signal_ws_write_header(f->data, opcode, len);

    if (len) {
        ngx_memcpy(p, data, len);
    }

    if (opcode == NGX_SIGNAL_WS_OP_CLOSE) {
        s->slow = 0;
        ngx_signal_session_queue(s, f);

    } else {
        ngx_signal_session_send(s, f);
    }

    ngx_signal_frame_release(f);
}


/*
 * The worker is shutting down: close the connection at a random moment of
 * signal_shutdown_window, so that clients do not all reconnect at once,
 * and deliver its events until then.  The ping timer is reused; it is
 * made non-cancelable so that the worker waits for it.
 */

static void
ngx_signal_session_shutdown(ngx_signal_session_t *s)
{
    ngx_msec_t  window;

    s->going_away = 1;
    window = s->conf->shutdown_window;

    if (window == 0) {
        ngx_signal_session_go_away(s);
        return;
    }

    if (s->ping.timer_set) {
        ngx_del_timer(&s->ping);
    }

    s->ping.cancelable = 0;
    ngx_add_timer(&s->ping, (ngx_msec_t) ngx_random() % window + 1);
}


static void
ngx_signal_session_go_away(ngx_signal_session_t *s)
{
    ngx_signal_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(s->request, ngx_signal_module);

    /* a reload bumped the zone's generation: the client may come back */

    if (ngx_signal_zone_generation(smcf->zone) != ngx_signal_worker_generation)
    {
        ngx_signal_session_fail(s, NGX_SIGNAL_WS_CLOSE_RESTART,
                                "server restarting");

    } else {
        ngx_signal_session_fail(s, NGX_SIGNAL_WS_CLOSE_GOING_AWAY,
                                "server shutting down");
    }

    /*
     * nginx 1.22 does not process posted events after
     * ngx_close_idle_connections(): write the close frame now
     */
    ngx_signal_session_write(s->connection->write);
}


static void
ngx_signal_session_ping(ngx_event_t *ev)
{
    ngx_signal_session_t  *s = ev->data;

    if (s->close_sent) {
        return;
    }

    if (s->going_away) {
        ngx_signal_session_go_away(s);
        return;
    }

    if (s->awaiting_pong) {
        ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                      "client did not answer a ping within %M ms, closing",
                      s->conf->ping_timeout);

        ngx_signal_count(ping_timeouts, 1);

        ngx_signal_session_close(s);
        return;
    }

    ngx_signal_session_control(s, NGX_SIGNAL_WS_OP_PING, NULL, 0);

    s->awaiting_pong = 1;
    ngx_add_timer(ev, s->conf->ping_timeout);
}


static void
ngx_signal_session_close_timeout(ngx_event_t *ev)
{
    ngx_signal_session_t  *s = ev->data;

    ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                  "client did not complete the close handshake within %M ms",
                  s->conf->close_timeout);

    ngx_signal_session_close(s);
}


/* end the connection now; the pool cleanup releases everything */

static void
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

    ngx_http_finalize_request(r, NGX_HTTP_CLOSE);
    ngx_http_run_posted_requests(c);
}


static void
ngx_signal_session_cleanup(void *data)
{
    ngx_signal_session_t  *s = data;

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


