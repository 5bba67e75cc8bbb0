
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Frames and output queues (see ngx_signal_out.h): frames are encoded
 * once and shared by reference; each queued frame costs one small link
 * taken from a per-worker free list.  The bound of a queue and what to do
 * past it are the session's (ngx_signal_session_send).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "ngx_signal_out.h"


/* spare output links kept per worker */
#define NGX_SIGNAL_OUT_FREE_MAX     4096


/* one queued frame on one connection: a chain link and its buffer */
typedef struct {
    ngx_chain_t                 cl;
    ngx_buf_t                   buf;
    ngx_signal_frame_t         *frame;
} ngx_signal_out_link_t;


static void ngx_signal_out_release(ngx_chain_t *cl);


static ngx_chain_t       *ngx_signal_out_free;
static ngx_uint_t         ngx_signal_out_nfree;


ngx_signal_frame_t *
ngx_signal_out_frame_alloc(size_t len, ngx_log_t *log)
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
ngx_signal_out_frame_release(ngx_signal_frame_t *f)
{
    if (--f->refs == 0) {
        ngx_free(f);
    }
}


void
ngx_signal_out_init(ngx_signal_out_t *q)
{
    q->head = NULL;
    q->last = &q->head;
    q->queued = 0;
    q->nframes = 0;
}


/* queue a reference to a frame: no bytes are copied */

ngx_int_t
ngx_signal_out_push(ngx_signal_out_t *q, ngx_signal_frame_t *f,
    ngx_log_t *log)
{
    ngx_chain_t            *cl;
    ngx_signal_out_link_t  *out;

    if (ngx_signal_out_free) {
        cl = ngx_signal_out_free;
        ngx_signal_out_free = cl->next;
        ngx_signal_out_nfree--;
        out = (ngx_signal_out_link_t *) cl;

    } else {
        out = ngx_alloc(sizeof(ngx_signal_out_link_t), log);
        if (out == NULL) {
            return NGX_ERROR;
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

    *q->last = &out->cl;
    q->last = &out->cl.next;
    q->queued += f->len;
    q->nframes++;

    return NGX_OK;
}


/*
 * Send what the kernel takes: NGX_OK when the queue is empty, NGX_AGAIN
 * when something is left (the write event is armed), NGX_ERROR.
 */

ngx_int_t
ngx_signal_out_flush(ngx_signal_out_t *q, ngx_connection_t *c)
{
    off_t         sent;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl, *ln;

    if (q->head == NULL) {
        return NGX_OK;
    }

    if (q->head->next == NULL) {
        /* one frame, the usual case: send() costs less than writev() */

        b = q->head->buf;
        n = c->send(c, b->pos, b->last - b->pos);

        if (n == NGX_ERROR) {
            c->error = 1;
            return NGX_ERROR;
        }

        if (n > 0) {
            b->pos += n;
            q->queued -= n;

            if (b->pos == b->last) {
                ngx_signal_out_release(q->head);
                ngx_signal_out_init(q);
                return NGX_OK;
            }
        }

        goto again;
    }

    sent = c->sent;

    cl = c->send_chain(c, q->head, 0);

    if (cl == NGX_CHAIN_ERROR) {
        c->error = 1;
        return NGX_ERROR;
    }

    q->queued -= (size_t) (c->sent - sent);

    while (q->head && q->head != cl) {
        ln = q->head;
        q->head = ln->next;
        q->nframes--;
        ngx_signal_out_release(ln);
    }

    if (q->head == NULL) {
        ngx_signal_out_init(q);
        return NGX_OK;
    }

again:

    if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


static void
ngx_signal_out_release(ngx_chain_t *cl)
{
    ngx_signal_out_link_t  *out = (ngx_signal_out_link_t *) cl;

    ngx_signal_out_frame_release(out->frame);

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
ngx_signal_out_drop_unsent(ngx_signal_out_t *q)
{
    ngx_chain_t  *cl, *next;

    if (q->head == NULL) {
        return;
    }

    cl = q->head;

    if (cl->buf->pos == cl->buf->start) {
        q->head = NULL;
        q->last = &q->head;

    } else {
        q->last = &cl->next;
        cl = cl->next;
        q->head->next = NULL;
    }

    while (cl) {
        next = cl->next;
        q->queued -= ngx_buf_size(cl->buf);
        q->nframes--;
        ngx_signal_out_release(cl);
        cl = next;
    }
}


void
ngx_signal_out_drop_all(ngx_signal_out_t *q)
{
    ngx_chain_t  *cl;

    while (q->head) {
        cl = q->head;
        q->head = cl->next;
        ngx_signal_out_release(cl);
    }

    ngx_signal_out_init(q);
}
