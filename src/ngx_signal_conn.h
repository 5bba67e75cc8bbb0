
/*
 * Copyright (C) ngx_signal_module authors
 *
 * WebSocket on a session (RFC 6455 after the handshake): reading and
 * framing, ping/pong, the close handshake, the shutdown close.  Each
 * function returns NGX_DONE when the session must be finalized now; the
 * caller (ngx_signal_session.c) does it: nothing here ends a connection.
 */


#ifndef _NGX_SIGNAL_CONN_H_INCLUDED_
#define _NGX_SIGNAL_CONN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_signal_session.h"


extern ngx_signal_transport_t  ngx_signal_ws_transport;


ngx_int_t ngx_signal_conn_read(ngx_signal_session_t *s);
ngx_int_t ngx_signal_conn_write(ngx_signal_session_t *s);
ngx_int_t ngx_signal_conn_ping(ngx_signal_session_t *s);
void ngx_signal_conn_fail(ngx_signal_session_t *s, ngx_uint_t code,
    const char *reason);


#endif /* _NGX_SIGNAL_CONN_H_INCLUDED_ */
