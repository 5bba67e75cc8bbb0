
/*
 * Copyright (C) ngx_signal_module authors
 *
 * WebSocket on a live session, after the handshake: reading and framing,
 * ping/pong, the close handshake and the shutdown close.  Functions that
 * may end the connection return NGX_DONE, and the session finalizes it
 * (ngx_signal_session.c): nothing here closes anything.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_conn.h"
#include "ngx_signal_http.h"
#include "ngx_signal_status.h"
#include "ngx_signal_zone.h"


/* reads per event before yielding to other connections */
#define NGX_SIGNAL_READS_PER_EVENT  8

static ngx_int_t ngx_signal_conn_input(ngx_signal_session_t *s,
    u_char *pos, u_char *last);
static ngx_int_t ngx_signal_conn_message(ngx_signal_session_t *s,
    ngx_signal_ws_message_t *msg);
static ngx_int_t ngx_signal_conn_close_frame(ngx_signal_session_t *s,
    u_char *data, size_t len);
static void ngx_signal_conn_control(ngx_signal_session_t *s,
    ngx_uint_t opcode, u_char *data, size_t len);
static void ngx_signal_conn_send_close(ngx_signal_session_t *s,
    ngx_uint_t code, u_char *payload, size_t len);
static ngx_int_t ngx_signal_conn_accept(ngx_signal_session_t *s);
static ngx_int_t ngx_signal_conn_shutdown(ngx_signal_session_t *s);
static ngx_int_t ngx_signal_conn_go_away(ngx_signal_session_t *s);


static u_char             ngx_signal_read_buf[16384];


ngx_signal_transport_t  ngx_signal_ws_transport = {
    "WebSocket",
    ngx_signal_conn_accept,
    ngx_signal_conn_read,
    ngx_signal_conn_write,
    ngx_signal_conn_ping,
    ngx_signal_conn_fail,
    0,
    0
};


/* the 101 answer: from here on the connection speaks WebSocket */

static ngx_int_t
ngx_signal_conn_accept(ngx_signal_session_t *s)
{
    ngx_int_t            rc;
    ngx_http_request_t  *r;

    r = s->request;

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

    s->connection->log->action = "in WebSocket session";

    return NGX_OK;
}


/* NGX_DONE: the session ends */

ngx_int_t
ngx_signal_conn_read(ngx_signal_session_t *s)
{
    u_char              *pos;
    ssize_t              n;
    ngx_buf_t           *b;
    ngx_uint_t           i;
    ngx_event_t         *rev;
    ngx_connection_t    *c;

    c = s->connection;
    rev = c->read;

    if (c->close) {
        /* graceful shutdown (quit, reload) or worker_shutdown_timeout */
        c->close = 0;

        if (c->error || s->close_sent || s->going_away) {
            return NGX_DONE;
        }

        return ngx_signal_conn_shutdown(s);
    }

    b = s->request ? s->request->header_in : NULL;

    if (b && b->pos < b->last) {
        /* frames pipelined behind the handshake */
        pos = b->pos;
        b->pos = b->last;

        if (ngx_signal_conn_input(s, pos, b->last) == NGX_DONE) {
            return NGX_DONE;
        }

        /* the write handler frees the request now */
        ngx_post_event(c->write, &ngx_posted_events);
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

            return NGX_DONE;
        }

        if (ngx_signal_conn_input(s, ngx_signal_read_buf,
                                  ngx_signal_read_buf + n)
            == NGX_DONE)
        {
            return NGX_DONE;
        }
    }

    if (i == NGX_SIGNAL_READS_PER_EVENT && rev->ready) {
        /* a busy client: let the others have a turn */
        ngx_post_event(rev, &ngx_posted_events);
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        return NGX_DONE;
    }

    return NGX_OK;
}


/* NGX_DONE means the session was closed */

static ngx_int_t
ngx_signal_conn_input(ngx_signal_session_t *s, u_char *pos, u_char *last)
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
            ngx_signal_conn_fail(s, s->reader.close_code, s->reader.error);
            break;
        }

        if (ngx_signal_conn_message(s, &msg) == NGX_DONE) {
            return NGX_DONE;
        }
    }

    return NGX_OK;
}


/* one message or control frame of the client */

static ngx_int_t
ngx_signal_conn_message(ngx_signal_session_t *s, ngx_signal_ws_message_t *msg)
{
    switch (msg->opcode) {

    case NGX_SIGNAL_WS_OP_TEXT:
    case NGX_SIGNAL_WS_OP_BINARY:
        if (s->close_sent) {
            break;
        }

        if (s->protocol->message(s, msg->opcode == NGX_SIGNAL_WS_OP_BINARY,
                                 msg->data, msg->len)
            == NGX_DECLINED)
        {
            s->read_failed = 1;
            ngx_signal_conn_fail(s, NGX_SIGNAL_WS_CLOSE_UNSUPPORTED,
                                 (msg->opcode == NGX_SIGNAL_WS_OP_BINARY)
                                 ? "binary messages are not supported"
                                 : "text messages are not supported");
        }

        break;

    case NGX_SIGNAL_WS_OP_PING:
        if (!s->close_sent) {
            ngx_signal_conn_control(s, NGX_SIGNAL_WS_OP_PONG, msg->data,
                                    msg->len);
        }
        break;

    case NGX_SIGNAL_WS_OP_PONG:
        /* the ping timer is the shutdown timer once going away */
        if (s->awaiting_pong && !s->close_sent && !s->going_away) {
            s->awaiting_pong = 0;
            ngx_add_timer(&s->ping, s->conf->ping_interval);
        }
        break;

    default: /* NGX_SIGNAL_WS_OP_CLOSE */
        return ngx_signal_conn_close_frame(s, msg->data, msg->len);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_signal_conn_close_frame(ngx_signal_session_t *s, u_char *data,
    size_t len)
{
    u_char      code[2];
    ngx_uint_t  status;

    s->close_received = 1;
    s->read_failed = 1;   /* nothing may follow a close frame */

    if (len == 1) {
        ngx_signal_conn_fail(s, NGX_SIGNAL_WS_CLOSE_PROTOCOL,
                                "close frame with a 1-byte payload");
        return NGX_OK;
    }

    status = 0;

    if (len >= 2) {
        status = (data[0] << 8) | data[1];

        if (!ngx_signal_ws_close_code_valid(status)) {
            ngx_signal_conn_fail(s, NGX_SIGNAL_WS_CLOSE_PROTOCOL,
                                    "invalid close code");
            return NGX_OK;
        }

        if (ngx_signal_utf8_validate(NGX_SIGNAL_UTF8_ACCEPT, data + 2,
                                     len - 2)
            != NGX_SIGNAL_UTF8_ACCEPT)
        {
            ngx_signal_conn_fail(s, NGX_SIGNAL_WS_CLOSE_INVALID_DATA,
                                    "close reason is not valid UTF-8");
            return NGX_OK;
        }
    }

    if (s->close_sent) {
        /* the peer answered our close: the handshake is complete */

        if (s->out.head == NULL) {
            return NGX_DONE;
        }

        return NGX_OK;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, s->connection->log, 0,
                   "signal: client closed with %ui", status);

    /* echo the status code, then close the TCP connection first */

    code[0] = (u_char) (status >> 8);
    code[1] = (u_char) (status & 0xff);

    ngx_signal_conn_send_close(s, status, code, status ? 2 : 0);

    return NGX_OK;
}


/*
 * Start the closing handshake with a status code.  Never closes the
 * connection synchronously, so it is safe from any context (publishing,
 * timers); the write handler does the rest.
 */

void
ngx_signal_conn_fail(ngx_signal_session_t *s, ngx_uint_t code,
    const char *reason)
{
    u_char  payload[NGX_SIGNAL_WS_MAX_CONTROL];
    size_t  len;

    if (s->close_sent || s->closed) {
        return;
    }

    if (code == NGX_SIGNAL_CLOSE_SLOW_CONSUMER) {
        ngx_signal_out_drop_unsent(&s->out);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, s->connection->log, 0,
                   "signal: closing with %ui \"%s\"", code, reason);

    payload[0] = (u_char) (code >> 8);
    payload[1] = (u_char) (code & 0xff);

    len = ngx_min(ngx_strlen(reason), NGX_SIGNAL_WS_MAX_CONTROL - 2);
    ngx_memcpy(payload + 2, reason, len);

    ngx_signal_conn_send_close(s, code, payload, len + 2);
}


/* queue our close frame (even past the queue limit) and wait for theirs */

static void
ngx_signal_conn_send_close(ngx_signal_session_t *s, ngx_uint_t code,
    u_char *payload, size_t len)
{
    ngx_signal_conn_control(s, NGX_SIGNAL_WS_OP_CLOSE, payload, len);
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


/* the write event: the queue out, the close handshake; NGX_DONE: end */

ngx_int_t
ngx_signal_conn_write(ngx_signal_session_t *s)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    c = s->connection;

    if (c->error) {
        return NGX_DONE;
    }

    if (s->slow && !s->close_sent) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "client reads too slowly: more than %uz bytes queued, "
                      "closing with %d", s->conf->send_queue,
                      NGX_SIGNAL_CLOSE_SLOW_CONSUMER);

        ngx_signal_conn_fail(s, NGX_SIGNAL_CLOSE_SLOW_CONSUMER,
                             "slow consumer");
    }

    rc = ngx_signal_session_flush(s);

    if (rc == NGX_ERROR) {
        return NGX_DONE;
    }

    if (rc == NGX_OK && s->close_sent) {

        if (s->close_received) {
            return NGX_DONE;
        }

        if (!s->write_shut && c->ssl == NULL) {
            /* the close frame is out: tell the peer no more data comes */
            s->write_shut = 1;
            (void) ngx_shutdown_socket(c->fd, NGX_WRITE_SHUTDOWN);
        }
    }

    return NGX_OK;
}


static void
ngx_signal_conn_control(ngx_signal_session_t *s, ngx_uint_t opcode,
    u_char *data, size_t len)
{
    u_char              *p;
    ngx_signal_frame_t  *f;

    f = ngx_signal_out_frame_alloc(2 + len, s->connection->log);
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

    ngx_signal_out_frame_release(f);
}


/*
 * The worker is shutting down: close the connection at a random moment of
 * signal_shutdown_window, so that clients do not all reconnect at once,
 * and deliver its events until then.  The ping timer is reused; it is
 * made non-cancelable so that the worker waits for it.
 */

static ngx_int_t
ngx_signal_conn_shutdown(ngx_signal_session_t *s)
{
    ngx_msec_t  window;

    s->going_away = 1;
    window = s->conf->shutdown_window;

    if (window == 0) {
        return ngx_signal_conn_go_away(s);
    }

    if (s->ping.timer_set) {
        ngx_del_timer(&s->ping);
    }

    s->ping.cancelable = 0;
    ngx_add_timer(&s->ping, (ngx_msec_t) ngx_random() % window + 1);

    return NGX_OK;
}


static ngx_int_t
ngx_signal_conn_go_away(ngx_signal_session_t *s)
{
    /* a reload bumped the zone's generation: the client may come back */

    if (ngx_signal_worker_zone
        && ngx_signal_zone_generation(ngx_signal_worker_zone)
           != ngx_signal_worker_generation)
    {
        ngx_signal_conn_fail(s, NGX_SIGNAL_WS_CLOSE_RESTART,
                             "server restarting");

    } else {
        ngx_signal_conn_fail(s, NGX_SIGNAL_WS_CLOSE_GOING_AWAY,
                             "server shutting down");
    }

    /*
     * nginx 1.22 does not process posted events after
     * ngx_close_idle_connections(): write the close frame now
     */
    return ngx_signal_conn_write(s);
}


/* the ping timer (the shutdown timer once going away); NGX_DONE: end */

ngx_int_t
ngx_signal_conn_ping(ngx_signal_session_t *s)
{
    if (s->close_sent) {
        return NGX_OK;
    }

    if (s->going_away) {
        return ngx_signal_conn_go_away(s);
    }

    if (s->awaiting_pong) {
        ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                      "client did not answer a ping within %M ms, closing",
                      s->conf->ping_timeout);

        ngx_signal_count(ping_timeouts, 1);

        return NGX_DONE;
    }

    ngx_signal_conn_control(s, NGX_SIGNAL_WS_OP_PING, NULL, 0);

    s->awaiting_pong = 1;
    ngx_add_timer(&s->ping, s->conf->ping_timeout);

    return NGX_OK;
}
