
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Long-polling on a signal_websocket location that lists "longpoll" in
 * signal_transports, for clients behind proxies that buffer streamed
 * answers: GET ?transport=longpoll[&rooms=...][&resume=...] is a session
 * for one answer, {"messages":[...]}, the native protocol's messages.
 * It holds until something is there for the client (a replay, a gap, an
 * event) or for signal_ping_interval, then answers with everything
 * queued, with each room's position ("subscribed"): the next poll, to
 * any worker or host, resumes from those positions.  Nothing is kept
 * between polls: history makes them stateless.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_poll.h"
#include "ngx_signal_admit.h"
#include "ngx_signal_http.h"
#include "ngx_signal_native.h"
#include "ngx_signal_rooms.h"
#include "ngx_signal_status.h"


static ngx_int_t ngx_signal_poll_accept(ngx_signal_session_t *s);
static ngx_int_t ngx_signal_poll_read(ngx_signal_session_t *s);
static ngx_int_t ngx_signal_poll_write(ngx_signal_session_t *s);
static ngx_int_t ngx_signal_poll_ping(ngx_signal_session_t *s);
static void ngx_signal_poll_fail(ngx_signal_session_t *s, ngx_uint_t code,
    const char *reason);
static void ngx_signal_poll_due(ngx_signal_session_t *s);
static void ngx_signal_poll_answer(ngx_signal_session_t *s);
static ngx_signal_frame_t *ngx_signal_poll_event(ngx_signal_delivery_t *d,
    ngx_log_t *log);
static ngx_int_t ngx_signal_poll_message(ngx_signal_session_t *s,
    ngx_uint_t binary, u_char *data, size_t len);
static void ngx_signal_poll_subscribed(ngx_signal_session_t *s,
    ngx_str_t *room, ngx_str_t *id, ngx_signal_position_t *pos);
static void ngx_signal_poll_gap(ngx_signal_session_t *s, ngx_str_t *room,
    ngx_signal_gap_t *gap);
static void ngx_signal_poll_send(ngx_signal_session_t *s, u_char *json,
    size_t len);


ngx_signal_transport_t  ngx_signal_poll_transport = {
    "long-poll",
    ngx_signal_poll_accept,
    ngx_signal_poll_read,
    ngx_signal_poll_write,
    ngx_signal_poll_ping,
    ngx_signal_poll_fail,
    1,
    1
};


/* a message is its JSON alone: the answer puts them in an array */

ngx_signal_protocol_t  ngx_signal_poll_protocol = {
    ngx_string("native over long-poll"),
    2,
    ngx_signal_poll_event,
    ngx_signal_poll_message,
    ngx_signal_poll_subscribed,
    ngx_signal_poll_gap
};


/* GET ?transport=longpoll */

ngx_uint_t
ngx_signal_poll_wanted(ngx_http_request_t *r)
{
    ngx_str_t  arg;

    return r->headers_in.upgrade == NULL
           && ngx_http_arg(r, (u_char *) "transport", 9, &arg) == NGX_OK
           && arg.len == 8 && ngx_strncmp(arg.data, "longpoll", 8) == 0;
}


ngx_int_t
ngx_signal_poll_handler(ngx_http_request_t *r)
{
    r->connection->log->action = "admitting a poll";

    if (r->method != NGX_HTTP_GET) {
        if (ngx_signal_http_add_header(r, "Allow", (u_char *) "GET", 3)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_signal_http_error(r, NGX_HTTP_NOT_ALLOWED,
                                     "method_not_allowed", "a poll is a GET");
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_signal_admit_one_way(r, &ngx_signal_poll_transport,
                                    &ngx_signal_poll_protocol);
}


/*
 * Nothing goes out before the answer: the request stays the session's
 * (it is never detached) and answers once.
 */

static ngx_int_t
ngx_signal_poll_accept(ngx_signal_session_t *s)
{
    s->settled = 1;
    s->connection->log->action = "holding a poll";

    return NGX_OK;
}


/*
 * A held poll reads nothing: the end of the connection ends it; bytes of
 * a next request stay where they are.
 */

static ngx_int_t
ngx_signal_poll_read(ngx_signal_session_t *s)
{
    u_char             ch;
    ssize_t            n;
    ngx_err_t          err;
    ngx_connection_t  *c;

    c = s->connection;

    /* (a shutdown terminates the request: the client polls elsewhere) */

    n = recv(c->fd, &ch, 1, MSG_PEEK);
    err = ngx_socket_errno;

    if (n == 0 || (n == -1 && err != NGX_EAGAIN && err != NGX_EINTR)) {
        ngx_log_error(NGX_LOG_INFO, c->log, err,
                      "client closed a held poll");
        return NGX_DONE;
    }

    return NGX_OK;
}


/*
 * Something was queued: once every room has its position, what is more
 * than the positions (an event, a gap) is worth an answer now.
 */

static ngx_int_t
ngx_signal_poll_write(ngx_signal_session_t *s)
{
    ngx_queue_t          *q;
    ngx_signal_member_t  *m;

    if (s->connection->error) {
        return NGX_DONE;
    }

    if (s->slow || s->going_away) {
        ngx_signal_poll_due(s);
        return NGX_OK;
    }

    for (q = ngx_queue_head(&s->members);
         q != ngx_queue_sentinel(&s->members);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_signal_member_t, in_session);

        if (!m->placed) {
            return NGX_OK;
        }
    }

    if (s->out.nframes > s->nrooms) {
        ngx_signal_poll_due(s);
    }

    return NGX_OK;
}


/* the ping timer is the poll's: signal_ping_interval without news */

static ngx_int_t
ngx_signal_poll_ping(ngx_signal_session_t *s)
{
    ngx_signal_poll_answer(s);
    return NGX_OK;
}


/* a token that expires, a reload: answered with what there is */

static void
ngx_signal_poll_fail(ngx_signal_session_t *s, ngx_uint_t code,
    const char *reason)
{
    u_char  *p, json[128];

    if (s->close_sent || s->closed) {
        return;
    }

    p = ngx_snprintf(json, sizeof(json),
                     "{\"type\":\"close\",\"code\":%ui,\"reason\":\"%s\"}",
                     code, reason);

    ngx_signal_poll_send(s, json, p - json);
    s->close_sent = 1;

    ngx_signal_status_count_close(code);

    ngx_signal_poll_due(s);
}


/* the answer, from the ping timer's event: nothing runs after it */

static void
ngx_signal_poll_due(ngx_signal_session_t *s)
{
    if (s->ping.timer_set) {
        ngx_del_timer(&s->ping);
    }

    s->going_away = 1;

    if (!s->ping.posted) {
        ngx_post_event(&s->ping, &ngx_posted_events);
    }
}


/*
 * {"messages":[...]} with every queued message, and the request ends
 * (kept alive for the next poll).  The session leaves its rooms first:
 * nothing is queued any more.
 */

static void
ngx_signal_poll_answer(ngx_signal_session_t *s)
{
    u_char              *body, *p;
    size_t               len;
    ngx_int_t            rc;
    ngx_chain_t         *cl;
    ngx_http_request_t  *r;

    r = s->request;

    ngx_signal_rooms_leave_all(s);

    len = sizeof("{\"messages\":[]}\n") - 1;

    for (cl = s->out.head; cl; cl = cl->next) {
        len += cl->buf->last - cl->buf->pos + 1;
    }

    body = ngx_pnalloc(r->pool, len);

    if (body == NULL) {
        ngx_signal_out_drop_all(&s->out);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = ngx_cpymem(body, "{\"messages\":[", sizeof("{\"messages\":[") - 1);

    for (cl = s->out.head; cl; cl = cl->next) {
        if (cl != s->out.head) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    p = ngx_cpymem(p, "]}\n", 3);

    ngx_signal_out_drop_all(&s->out);

    s->closed = 1;

    /* the HTTP side has the request again */

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    if (ngx_signal_http_add_header(r, "Cache-Control",
                                   (u_char *) "no-store", 8)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_signal_http_send_json(r, NGX_HTTP_OK, body, p - body);

    ngx_http_finalize_request(r, rc);
}


/* an event: its JSON, once per worker */

static ngx_signal_frame_t *
ngx_signal_poll_event(ngx_signal_delivery_t *d, ngx_log_t *log)
{
    u_char              *p;
    ngx_signal_frame_t  *f;

    f = ngx_signal_out_frame_alloc(ngx_signal_native_event_size(d), log);
    if (f == NULL) {
        return NULL;
    }

    p = ngx_signal_native_event_json(f->data, d);
    f->len = p - f->data;

    return f;
}


static ngx_int_t
ngx_signal_poll_message(ngx_signal_session_t *s, ngx_uint_t binary,
    u_char *data, size_t len)
{
    return NGX_DECLINED;
}


static void
ngx_signal_poll_subscribed(ngx_signal_session_t *s, ngx_str_t *room,
    ngx_str_t *id, ngx_signal_position_t *pos)
{
    u_char  *p;
    u_char   json[NGX_SIGNAL_NATIVE_MAX_JSON];

    p = ngx_signal_native_subscribed_json(json, room, id, pos);

    ngx_signal_poll_send(s, json, p - json);
}


static void
ngx_signal_poll_gap(ngx_signal_session_t *s, ngx_str_t *room,
    ngx_signal_gap_t *gap)
{
    u_char  *p;
    u_char   json[NGX_SIGNAL_NATIVE_MAX_JSON];

    p = ngx_signal_native_gap_json(json, room, gap);

    ngx_signal_poll_send(s, json, p - json);
}


static void
ngx_signal_poll_send(ngx_signal_session_t *s, u_char *json, size_t len)
{
    ngx_signal_frame_t  *f;

    f = ngx_signal_out_frame_alloc(len, s->connection->log);
    if (f == NULL) {
        return;
    }

    ngx_memcpy(f->data, json, len);

    ngx_signal_session_send(s, f);
    ngx_signal_out_frame_release(f);
}
