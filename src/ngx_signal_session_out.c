
/*
 * Copyright (C) ngx_signal_module authors
 *
 * What a session sends: frames queued by reference on its output queue
 * (ngx_signal_out.c), bounded by signal_send_queue; a client past the
 * bound is a slow consumer, closed from the write handler (never from
 * here: a fan-out may be walking a room).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_session.h"
#include "ngx_signal_status.h"


/*
 * Queue a frame.  Past signal_send_queue (after offering the queue to the
 * kernel) the client is a slow consumer.  An empty queue takes any
 * frame, so one large event does not count as slowness.
 */

void
ngx_signal_session_send(ngx_signal_session_t *s, ngx_signal_frame_t *f)
{
    ngx_signal_out_t  *q;

    if (s->close_sent || s->closed || s->slow) {
        return;
    }

    q = &s->out;

    if (s->transport->held) {
        /*
         * The queue is an answer not sent yet: full, it is sent now; what
         * did not fit follows on the next poll (positions say from where).
         * Past the rooms' positions, the first event fits whatever size.
         */

        if (q->nframes > s->nrooms
            && q->queued + f->len > s->conf->send_queue)
        {
            s->slow = 1;
            ngx_post_event(s->connection->write, &ngx_posted_events);
            return;
        }

    } else if (q->queued && q->queued + f->len > s->conf->send_queue) {

        /* the bound is on what the client has not taken: ask the kernel */

        if (ngx_signal_session_flush(s) == NGX_ERROR) {
            ngx_post_event(s->connection->write, &ngx_posted_events);
            return;
        }

        if (q->queued && q->queued + f->len > s->conf->send_queue) {
            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, s->connection->log, 0,
                           "signal: slow consumer, %uz bytes queued and "
                           "%uz more", q->queued, f->len);

            ngx_signal_session_slow(s);
            return;
        }
    }

    ngx_signal_session_queue(s, f);
}


/* a client that does not keep up: closed (4008) from the write handler */

void
ngx_signal_session_slow(ngx_signal_session_t *s)
{
    s->slow = 1;
    ngx_post_event(s->connection->write, &ngx_posted_events);
}


/* queue a frame whatever the bound (a close frame) */

void
ngx_signal_session_queue(ngx_signal_session_t *s, ngx_signal_frame_t *f)
{
    ngx_connection_t  *c;

    c = s->connection;

    if (ngx_signal_out_push(&s->out, f, c->log) != NGX_OK) {
        /* the connection cannot be served correctly any more */
        c->error = 1;
    }

    if (!c->write->posted) {
        ngx_post_event(c->write, &ngx_posted_events);
    }
}


/* a text frame made here: a reply to one client */

ngx_int_t
ngx_signal_session_send_text(ngx_signal_session_t *s, u_char *text,
    size_t len)
{
    u_char              *p;
    ngx_signal_frame_t  *f;

    f = ngx_signal_out_frame_alloc(ngx_signal_ws_header_size(len) + len,
                               s->connection->log);
    if (f == NULL) {
        return NGX_ERROR;
    }

    p = ngx_signal_ws_write_header(f->data, NGX_SIGNAL_WS_OP_TEXT, len);
    ngx_memcpy(p, text, len);

    ngx_signal_session_send(s, f);
    ngx_signal_out_frame_release(f);

    return NGX_OK;
}


/*
 * Send what the kernel takes: the 101 first while it is on its way, then
 * the queue.  NGX_OK when everything is out, NGX_AGAIN, NGX_ERROR.
 */

ngx_int_t
ngx_signal_session_flush(ngx_signal_session_t *s)
{
    size_t               queued;
    ngx_int_t            rc;
    ngx_http_request_t  *r;

    r = s->request;

    if (r && r->out) {
        if (ngx_http_output_filter(r, NULL) == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (r->out) {
            return NGX_AGAIN;
        }
    }

    queued = s->out.queued;

    rc = ngx_signal_out_flush(&s->out, s->connection);

    ngx_signal_count(bytes_sent, queued - s->out.queued);

    return rc;
}
