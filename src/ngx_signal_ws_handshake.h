
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The opening handshake of a signal_websocket location.
 */


#ifndef _NGX_SIGNAL_WS_HANDSHAKE_H_INCLUDED_
#define _NGX_SIGNAL_WS_HANDSHAKE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_signal_ws_handshake_handler(ngx_http_request_t *r);


#endif /* _NGX_SIGNAL_WS_HANDSHAKE_H_INCLUDED_ */
