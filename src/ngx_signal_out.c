
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The output queue of a connection: frames are encoded once and shared by
 * reference; each queued frame costs one small link taken from a per-worker
 * free list.  The queue is bounded by signal_send_queue.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal.h"


/* spare output links kept per worker */
#define NGX_SIGNAL_OUT_FREE_MAX     4096


static void ngx_signal_out_release(ngx_chain_t *cl);


static ngx_chain_t       *ngx_signal_out_free;
static ngx_uint_t         ngx_signal_out_nfree;


ngx_int_t
ngx_signal_session_flush(ngx_signal_session_t *s)
{
    off_t                sent;
    ssize_t              n;
    ngx_buf_t           *b;
    ngx_chain_t         *cl, *ln;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = s->request;
    c = s->connection;

    if (r && r->out) {
        /* the 101 response is still on its way */

        if (ngx_http_output_filter(r, NULL) == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (r->out) {
            return NGX_AGAIN;
        }
    }

    if (s->out == NULL) {
        return NGX_OK;
    }

    if (s->out->next == NULL) {
        /* one frame, the usual case: send() costs less than writev() */

        b = s->out->buf;
        n = c->send(c, b->pos, b->last - b->pos);

        if (n == NGX_ERROR) {
            c->error = 1;
            return NGX_ERROR;
        }

        if (n > 0) {
            b->pos += n;
            s->queued -= n;
            ngx_signal_count(bytes_sent, n);

            if (b->pos == b->last) {
                ngx_signal_out_release(s->out);
                s->out = NULL;
                s->out_last = &s->out;
                return NGX_OK;
            }
        }

        goto again;
    }

    sent = c->sent;

    cl = c->send_chain(c, s->out, 0);

    if (cl == NGX_CHAIN_ERROR) {
        c->error = 1;
        return NGX_ERROR;
    }

    s->queued -= (size_t) (c->sent - sent);
    ngx_signal_count(bytes_sent, c->sent - sent);

    while (s->out && s->out != cl) {
        ln = s->out;
        s->out = ln->next;
        ngx_signal_out_release(ln);
    }

    if (s->out == NULL) {
        s->out_last = &s->out;
        return NGX_OK;
    }

again:

    if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


ngx_signal_frame_t *
ngx_signal_frame_alloc(size_t len, ngx_log_t *log)
{
    ngx_signal_frame_t  *f;

    f = ngx_alloc(sizeof(ngx_signal_frame_t) + len, log);
    if (f == NULL) {
        return NULL;
    }

    f->refs = 1;
    f->len = len;
    f->data = (u_char *) (f + 1);

    return f;
}


void
ngx_signal_frame_release(ngx_signal_frame_t *f)
{
    if (--f->refs == 0) {
        ngx_free(f);
    }
}


/*
 * Queue a frame: the connection takes a reference, no bytes are copied.
 * Past signal_send_queue (after offering the queue to the kernel) the
 * client is a slow consumer and is closed from the write handler, never
 * from here: we may be inside a room walk.  An empty queue takes any
 * frame, so one large event does not count as slowness.
 */

void
ngx_signal_session_send(ngx_signal_session_t *s, ngx_signal_frame_t *f)
{
    if (s->close_sent || s->closed || s->slow) {
        return;
    }

    if (s->queued && s->queued + f->len > s->conf->send_queue) {

        /* the bound is on what the client has not taken: ask the kernel */

        if (ngx_signal_session_flush(s) == NGX_ERROR) {
            ngx_post_event(s->connection->write, &ngx_posted_events);
            return;
        }

        if (s->queued && s->queued + f->len > s->conf->send_queue) {
            s->slow = 1;
            ngx_post_event(s->connection->write, &ngx_posted_events);
            return;
        }
    }

    ngx_signal_session_queue(s, f);
}


void
ngx_signal_session_queue(ngx_signal_session_t *s, ngx_signal_frame_t *f)
{
    ngx_chain_t       *cl;
    ngx_signal_out_t  *out;

    if (ngx_signal_out_free) {
        cl = ngx_signal_out_free;
        ngx_signal_out_free = cl->next;
        ngx_signal_out_nfree--;
        out = (ngx_signal_out_t *) cl;

    } else {
        out = ngx_alloc(sizeof(ngx_signal_out_t), s->connection->log);
        if (out == NULL) {
            /* the connection cannot be served correctly any more */
            s->connection->error = 1;
            ngx_post_event(s->connection->read, &ngx_posted_events);
            s->connection->close = 1;
            return;
        }
    }

    ngx_memzero(&out->buf, sizeof(ngx_buf_t));

    out->frame = f;
    f->refs++;

    out->buf.pos = f->data;
    out->buf.last = f->data + f->len;
    out->buf.start = out->buf.pos;
    out->buf.end = out->buf.last;
    out->buf.memory = 1;

    out->cl.buf = &out->buf;
    out->cl.next = NULL;

    *s->out_last = &out->cl;
    s->out_last = &out->cl.next;
    s->queued += f->len;

    if (!s->connection->write->posted) {
        ngx_post_event(s->connection->write, &ngx_posted_events);
    }
}


ngx_int_t
ngx_signal_session_send_text(ngx_signal_session_t *s, u_char *text,
    size_t len)
{
    u_char              *p;
    ngx_signal_frame_t  *f;

    f = ngx_signal_frame_alloc(ngx_signal_ws_header_size(len) + len,
                               s->connection->log);
    if (f == NULL) {
        return NGX_ERROR;
    }

    p = ngx_signal_ws_write_header(f->data, NGX_SIGNAL_WS_OP_TEXT, len);
    ngx_memcpy(p, text, len);

    ngx_signal_session_send(s, f);
    ngx_signal_frame_release(f);

    return NGX_OK;
}


static void
ngx_signal_out_release(ngx_chain_t *cl)
{
    ngx_signal_out_t  *out = (ngx_signal_out_t *) cl;

    ngx_signal_frame_release(out->frame);

    if (ngx_signal_out_nfree >= NGX_SIGNAL_OUT_FREE_MAX) {
        ngx_free(out);
        return;
    }

    cl->next = ngx_signal_out_free;
    ngx_signal_out_free = cl;
    ngx_signal_out_nfree++;
}


/* keep only a partly written frame: its tail must still go out */

void
ngx_signal_session_drop_unsent(ngx_signal_session_t *s)
{
    ngx_chain_t  *cl, *next;

    if (s->out == NULL) {
        return;
    }

    cl = s->out;

    if (cl->buf->pos == cl->buf->start) {
        s->out = NULL;
        s->out_last = &s->out;

    } else {
        s->out_last = &cl->next;
        cl = cl->next;
        s->out->next = NULL;
    }

    while (cl) {
        next = cl->next;
        s->queued -= ngx_buf_size(cl->buf);
        ngx_signal_out_release(cl);
        cl = next;
    }
}



void
ngx_signal_session_drop_all(ngx_signal_session_t *s)
{
    ngx_chain_t  *cl;

    while (s->out) {
        cl = s->out;
        s->out = cl->next;
        ngx_signal_out_release(cl);
    }

    s->out_last = &s->out;
    s->queued = 0;
}
