
/*
 * Copyright (C) ngx_signal_module authors
 *
 * A session leaves its handshake request behind once the 101 is out:
 * the request pool and header buffers are most of what an idle
 * connection would otherwise hold.  What the session still needs is
 * copied first.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_session.h"


static void ngx_signal_session_detached_read(ngx_event_t *rev);
static void ngx_signal_session_detached_write(ngx_event_t *wev);


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

void
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

    if (own == NULL) {
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


/*
 * What the session keeps from the request pool and the token's claims,
 * in one allocation, made when it starts: the claims are freed by a pool
 * cleanup that may run before the session's own.
 */

ngx_int_t
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
ngx_signal_session_detached_read(ngx_event_t *rev)
{
    ngx_connection_t  *c = rev->data;

    ngx_signal_session_read(c->data);
}


static void
ngx_signal_session_detached_write(ngx_event_t *wev)
{
    ngx_connection_t  *c = wev->data;

    ngx_signal_session_write(c->data);
}
