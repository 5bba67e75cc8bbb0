
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Server-Sent Events on a signal_websocket location that lists
 * "eventsource" in signal_transports: a GET asking for text/event-stream
 * becomes a one-way session.  The rooms are signal_join's and those of
 * the "rooms" argument that signal_allow_subscribe allows; positions come
 * from "resume" and Last-Event-ID.  Every message is the native
 * protocol's JSON in one "data:" line; events, "subscribed" and "gap"
 * carry the room's position as their "id:" (<room>:<seq>:<epoch>), so
 * that a browser reconnecting by itself resumes the room it heard from
 * last.  An event is encoded once per worker, as for WebSocket.  The
 * response ends with the connection (no chunked framing: the frames are
 * written to the socket as they are), after a "close" message on reload,
 * quit, token expiry or a slow consumer.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_sse.h"
#include "ngx_signal_admit.h"
#include "ngx_signal_http.h"
#include "ngx_signal_native.h"
#include "ngx_signal_rooms.h"
#include "ngx_signal_status.h"
#include "ngx_signal_zone.h"


/* "id: " <room> ":" <seq> ":" <epoch> "\n" */
#define NGX_SIGNAL_SSE_ID_SIZE                                              \
    (sizeof("id: ::0123456789abcdef\n") - 1 + NGX_SIGNAL_MAX_NAME_LENGTH    \
     + NGX_INT64_LEN)

/* what a client may have sent after its request, read and dropped */
#define NGX_SIGNAL_SSE_READS_PER_EVENT  8

/* how long a browser waits before it reconnects by itself */
#define NGX_SIGNAL_SSE_RETRY            "retry: 1000\n\n"


static ngx_int_t ngx_signal_sse_accept(ngx_signal_session_t *s);
static ngx_int_t ngx_signal_sse_read(ngx_signal_session_t *s);
static ngx_int_t ngx_signal_sse_write(ngx_signal_session_t *s);
static ngx_int_t ngx_signal_sse_ping(ngx_signal_session_t *s);
static void ngx_signal_sse_fail(ngx_signal_session_t *s, ngx_uint_t code,
    const char *reason);
static ngx_int_t ngx_signal_sse_shutdown(ngx_signal_session_t *s);
static ngx_int_t ngx_signal_sse_go_away(ngx_signal_session_t *s);
static ngx_signal_frame_t *ngx_signal_sse_frame(ngx_str_t *room,
    ngx_signal_position_t *pos, u_char *json, size_t len, ngx_log_t *log);
static u_char *ngx_signal_sse_data(u_char *p, u_char *json, size_t len);
static ngx_signal_frame_t *ngx_signal_sse_event(ngx_signal_delivery_t *d,
    ngx_log_t *log);
static ngx_int_t ngx_signal_sse_message(ngx_signal_session_t *s,
    ngx_uint_t binary, u_char *data, size_t len);
static void ngx_signal_sse_subscribed(ngx_signal_session_t *s,
    ngx_str_t *room, ngx_str_t *id, ngx_signal_position_t *pos);
static void ngx_signal_sse_gap(ngx_signal_session_t *s, ngx_str_t *room,
    ngx_signal_gap_t *gap);
static void ngx_signal_sse_send(ngx_signal_session_t *s, ngx_str_t *room,
    ngx_signal_position_t *pos, u_char *json, size_t len, ngx_uint_t force);


ngx_signal_transport_t  ngx_signal_sse_transport = {
    "EventSource",
    ngx_signal_sse_accept,
    ngx_signal_sse_read,
    ngx_signal_sse_write,
    ngx_signal_sse_ping,
    ngx_signal_sse_fail,
    1,
    0
};


ngx_signal_protocol_t  ngx_signal_sse_protocol = {
    ngx_string("native over EventSource"),
    1,
    ngx_signal_sse_event,
    ngx_signal_sse_message,
    ngx_signal_sse_subscribed,
    ngx_signal_sse_gap
};


static u_char  ngx_signal_sse_read_buf[4096];


/* a GET that asks for an event stream (Accept, or ?transport=) */

ngx_uint_t
ngx_signal_sse_wanted(ngx_http_request_t *r)
{
    ngx_str_t         arg;
    ngx_table_elt_t  *h;

    if (r->headers_in.upgrade) {
        return 0;
    }

    if (ngx_http_arg(r, (u_char *) "transport", 9, &arg) == NGX_OK) {
        return arg.len == 11
               && ngx_strncmp(arg.data, "eventsource", 11) == 0;
    }

    for (h = ngx_signal_http_find_header(r, "accept", 6, NULL);
         h;
         h = ngx_signal_http_find_header(r, "accept", 6, h))
    {
        if (ngx_strlcasestrn(h->value.data, h->value.data + h->value.len,
                             (u_char *) "text/event-stream", 17 - 1)
            != NULL)
        {
            return 1;
        }
    }

    return 0;
}


ngx_int_t
ngx_signal_sse_handler(ngx_http_request_t *r)
{
    r->connection->log->action = "opening an event stream";

    if (r->method != NGX_HTTP_GET) {
        if (ngx_signal_http_add_header(r, "Allow", (u_char *) "GET", 3)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_signal_http_error(r, NGX_HTTP_NOT_ALLOWED,
                                     "method_not_allowed",
                                     "an event stream is a GET");
    }

    if (r->http_version > NGX_HTTP_VERSION_11) {
        /* the stream is written to the socket: HTTP/1 only */
        return ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST,
                                     "http_version",
                                     "an event stream needs HTTP/1.1 "
                                     "here; use an HTTP/1.1 listener");
    }

    if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {
        return ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "an event stream request has no body");
    }

    return ngx_signal_admit_one_way(r, &ngx_signal_sse_transport,
                                    &ngx_signal_sse_protocol);
}


/*
 * 200 text/event-stream.  The body ends with the connection: answered as
 * to HTTP/1.0 (no chunked framing, "Connection: close"), so that the
 * frames can be written to the socket as they are.
 */

static ngx_int_t
ngx_signal_sse_accept(ngx_signal_session_t *s)
{
    ngx_int_t            rc;
    ngx_uint_t           version;
    ngx_http_request_t  *r;

    r = s->request;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = -1;
    ngx_str_set(&r->headers_out.content_type, "text/event-stream");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->keepalive = 0;

#if (NGX_HTTP_GZIP)
    /* the frames do not go through the body filters */
    r->gzip_tested = 1;
    r->gzip_ok = 0;
#endif

    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    if (ngx_signal_http_add_header(r, "Cache-Control",
                                   (u_char *) "no-cache", 8)
        != NGX_OK
        || ngx_signal_http_add_header(r, "X-Accel-Buffering",
                                      (u_char *) "no", 2)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    version = r->http_version;
    r->http_version = NGX_HTTP_VERSION_10;

    rc = ngx_http_send_header(r);

    r->http_version = version;

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    if (ngx_http_send_special(r, NGX_HTTP_FLUSH) == NGX_ERROR) {
        return NGX_ERROR;
    }

    s->connection->log->action = "in event stream";

    ngx_signal_sse_send(s, NULL, NULL, NULL, 0, 1);

    return NGX_OK;
}


/* a client of an event stream says nothing: what comes is dropped */

static ngx_int_t
ngx_signal_sse_read(ngx_signal_session_t *s)
{
    ssize_t            n;
    ngx_uint_t         i;
    ngx_connection_t  *c;

    c = s->connection;

    if (c->close) {
        /* graceful shutdown (quit, reload) or worker_shutdown_timeout */
        c->close = 0;

        if (c->error || s->close_sent || s->going_away) {
            return NGX_DONE;
        }

        return ngx_signal_sse_shutdown(s);
    }

    for (i = 0; i < NGX_SIGNAL_SSE_READS_PER_EVENT; i++) {

        n = c->recv(c, ngx_signal_sse_read_buf,
                    sizeof(ngx_signal_sse_read_buf));

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0 || n == NGX_ERROR) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "client closed the event stream");
            return NGX_DONE;
        }
    }

    if (i == NGX_SIGNAL_SSE_READS_PER_EVENT && c->read->ready) {
        ngx_post_event(c->read, &ngx_posted_events);
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        return NGX_DONE;
    }

    return NGX_OK;
}


/* the queue out; once a "close" message is out, the stream ends */

static ngx_int_t
ngx_signal_sse_write(ngx_signal_session_t *s)
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
                      "closing the event stream (%d)", s->conf->send_queue,
                      NGX_SIGNAL_CLOSE_SLOW_CONSUMER);

        ngx_signal_sse_fail(s, NGX_SIGNAL_CLOSE_SLOW_CONSUMER,
                            "slow consumer");
    }

    rc = ngx_signal_session_flush(s);

    if (rc == NGX_ERROR) {
        return NGX_DONE;
    }

    if (rc == NGX_OK && s->close_sent) {
        return NGX_DONE;
    }

    return NGX_OK;
}


/*
 * The ping timer: a comment line keeps proxies from timing the stream
 * out and finds dead peers when the send fails; once going away, the
 * shutdown timer.
 */

static ngx_int_t
ngx_signal_sse_ping(ngx_signal_session_t *s)
{
    ngx_signal_frame_t  *f;

    if (s->close_sent) {
        return NGX_OK;
    }

    if (s->going_away) {
        return ngx_signal_sse_go_away(s);
    }

    f = ngx_signal_out_frame_alloc(sizeof(":\n\n") - 1, s->connection->log);

    if (f) {
        ngx_memcpy(f->data, ":\n\n", sizeof(":\n\n") - 1);
        ngx_signal_session_send(s, f);
        ngx_signal_out_frame_release(f);
    }

    ngx_add_timer(&s->ping, s->conf->ping_interval);

    return NGX_OK;
}


/*
 * End the stream with {"type":"close","code":N,"reason":"..."} (the
 * WebSocket close codes): never from here, the write handler ends it
 * once it is out, or signal_close_timeout later.
 */

static void
ngx_signal_sse_fail(ngx_signal_session_t *s, ngx_uint_t code,
    const char *reason)
{
    u_char  *p, json[128];

    if (s->close_sent || s->closed) {
        return;
    }

    if (code == NGX_SIGNAL_CLOSE_SLOW_CONSUMER) {
        ngx_signal_out_drop_unsent(&s->out);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, s->connection->log, 0,
                   "signal: ending the event stream with %ui \"%s\"", code,
                   reason);

    p = ngx_snprintf(json, sizeof(json),
                     "{\"type\":\"close\",\"code\":%ui,\"reason\":\"%s\"}",
                     code, reason);

    s->slow = 0;
    ngx_signal_sse_send(s, NULL, NULL, json, p - json, 1);

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


/* the worker is shutting down: as for WebSocket, at a random moment */

static ngx_int_t
ngx_signal_sse_shutdown(ngx_signal_session_t *s)
{
    ngx_msec_t  window;

    s->going_away = 1;
    window = s->conf->shutdown_window;

    if (window == 0) {
        return ngx_signal_sse_go_away(s);
    }

    if (s->ping.timer_set) {
        ngx_del_timer(&s->ping);
    }

    s->ping.cancelable = 0;
    ngx_add_timer(&s->ping, (ngx_msec_t) ngx_random() % window + 1);

    return NGX_OK;
}


static ngx_int_t
ngx_signal_sse_go_away(ngx_signal_session_t *s)
{
    if (ngx_signal_worker_zone
        && ngx_signal_zone_generation(ngx_signal_worker_zone)
           != ngx_signal_worker_generation)
    {
        ngx_signal_sse_fail(s, NGX_SIGNAL_WS_CLOSE_RESTART,
                            "server restarting");

    } else {
        ngx_signal_sse_fail(s, NGX_SIGNAL_WS_CLOSE_GOING_AWAY,
                            "server shutting down");
    }

    /* nginx 1.22 does not process posted events after shutdown began */
    return ngx_signal_sse_write(s);
}


/*
 * One message: "id: <room>:<seq>:<epoch>" when it moves the room's
 * position, and the JSON in one "data:" line.  Without json: the stream's
 * first bytes (how long a browser waits before reconnecting).
 */

static ngx_signal_frame_t *
ngx_signal_sse_frame(ngx_str_t *room, ngx_signal_position_t *pos,
    u_char *json, size_t len, ngx_log_t *log)
{
    u_char              *p;
    ngx_signal_frame_t  *f;

    f = ngx_signal_out_frame_alloc(NGX_SIGNAL_SSE_ID_SIZE
                                   + sizeof("data: \n\n") - 1 + len
                                   + sizeof(NGX_SIGNAL_SSE_RETRY) - 1, log);
    if (f == NULL) {
        return NULL;
    }

    p = f->data;

    if (json == NULL) {
        p = ngx_cpymem(p, NGX_SIGNAL_SSE_RETRY,
                       sizeof(NGX_SIGNAL_SSE_RETRY) - 1);
        f->len = p - f->data;
        return f;
    }

    if (room && pos && pos->epoch) {
        p = ngx_sprintf(p, "id: %V:%uL:%016xL\n", room, pos->seq,
                        pos->epoch);
    }

    p = ngx_signal_sse_data(p, json, len);

    f->len = p - f->data;

    return f;
}


/*
 * "data: <json>\n\n"; a line break in JSON can only be whitespace
 * between tokens (inside strings it is escaped): it becomes a space, so
 * that the message stays on one line
 */

static u_char *
ngx_signal_sse_data(u_char *p, u_char *json, size_t len)
{
    size_t  i;

    p = ngx_cpymem(p, "data: ", sizeof("data: ") - 1);

    for (i = 0; i < len; i++) {
        *p++ = (json[i] == '\n' || json[i] == '\r') ? ' ' : json[i];
    }

    *p++ = '\n';
    *p++ = '\n';

    return p;
}


/* an event, once per worker, for every event stream member */

static ngx_signal_frame_t *
ngx_signal_sse_event(ngx_signal_delivery_t *d, ngx_log_t *log)
{
    u_char              *p, *json;
    ngx_signal_frame_t  *f;

    f = ngx_signal_out_frame_alloc(NGX_SIGNAL_SSE_ID_SIZE
                                   + ngx_signal_native_event_size(d)
                                   + sizeof("data: \n\n") - 1, log);
    if (f == NULL) {
        return NULL;
    }

    p = ngx_sprintf(f->data, "id: %V:%uL:%016xL\ndata: ", &d->room, d->seq,
                    d->epoch);

    json = p;
    p = ngx_signal_native_event_json(p, d);

    /* the data's line breaks: whitespace between tokens (see above) */

    for ( /* void */ ; json < p; json++) {
        if (*json == '\n' || *json == '\r') {
            *json = ' ';
        }
    }

    *p++ = '\n';
    *p++ = '\n';

    f->len = p - f->data;

    return f;
}


static ngx_int_t
ngx_signal_sse_message(ngx_signal_session_t *s, ngx_uint_t binary,
    u_char *data, size_t len)
{
    return NGX_DECLINED;
}


static void
ngx_signal_sse_subscribed(ngx_signal_session_t *s, ngx_str_t *room,
    ngx_str_t *id, ngx_signal_position_t *pos)
{
    u_char  *p;
    u_char   json[NGX_SIGNAL_NATIVE_MAX_JSON];

    p = ngx_signal_native_subscribed_json(json, room, id, pos);

    ngx_signal_sse_send(s, room, pos, json, p - json, 0);
}


static void
ngx_signal_sse_gap(ngx_signal_session_t *s, ngx_str_t *room,
    ngx_signal_gap_t *gap)
{
    u_char  *p;
    u_char   json[NGX_SIGNAL_NATIVE_MAX_JSON];

    p = ngx_signal_native_gap_json(json, room, gap);

    ngx_signal_sse_send(s, room, &gap->now, json, p - json, 0);
}


/* a message of this session alone; force: whatever the queue's bound */

static void
ngx_signal_sse_send(ngx_signal_session_t *s, ngx_str_t *room,
    ngx_signal_position_t *pos, u_char *json, size_t len, ngx_uint_t force)
{
    ngx_signal_frame_t  *f;

    f = ngx_signal_sse_frame(room, pos, json, len, s->connection->log);
    if (f == NULL) {
        return;
    }

    if (force) {
        ngx_signal_session_queue(s, f);

    } else {
        ngx_signal_session_send(s, f);
    }

    ngx_signal_out_frame_release(f);
}
