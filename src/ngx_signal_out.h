
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Frames and output queues.  A frame is encoded once and shared by
 * reference by every connection it is queued on; a queue is a chain of
 * small links, taken from a per-worker free list, that point into frames.
 * Nothing here knows what a frame means or what a connection is for.
 */


#ifndef _NGX_SIGNAL_OUT_H_INCLUDED_
#define _NGX_SIGNAL_OUT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* an encoded frame, shared by every queue it is on */
typedef struct {
    ngx_uint_t                  refs;
    size_t                      len;
    u_char                     *data;
} ngx_signal_frame_t;


/* the frames waiting to be sent on one connection */
typedef struct {
    ngx_chain_t                *head;
    ngx_chain_t               **last;
    size_t                      queued;       /* bytes not sent yet */
    ngx_uint_t                  nframes;
} ngx_signal_out_t;


ngx_signal_frame_t *ngx_signal_out_frame_alloc(size_t len, ngx_log_t *log);
void ngx_signal_out_frame_release(ngx_signal_frame_t *f);

void ngx_signal_out_init(ngx_signal_out_t *q);
ngx_int_t ngx_signal_out_push(ngx_signal_out_t *q, ngx_signal_frame_t *f,
    ngx_log_t *log);
ngx_int_t ngx_signal_out_flush(ngx_signal_out_t *q, ngx_connection_t *c);
void ngx_signal_out_drop_unsent(ngx_signal_out_t *q);
void ngx_signal_out_drop_all(ngx_signal_out_t *q);


#endif /* _NGX_SIGNAL_OUT_H_INCLUDED_ */
