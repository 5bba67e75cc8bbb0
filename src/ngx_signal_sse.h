
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Server-Sent Events: an event stream on a signal_websocket location
 * (signal_transports eventsource).
 */


#ifndef _NGX_SIGNAL_SSE_H_INCLUDED_
#define _NGX_SIGNAL_SSE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_session.h"


extern ngx_signal_transport_t  ngx_signal_sse_transport;
extern ngx_signal_protocol_t   ngx_signal_sse_protocol;


ngx_uint_t ngx_signal_sse_wanted(ngx_http_request_t *r);
ngx_int_t ngx_signal_sse_handler(ngx_http_request_t *r);


#endif /* _NGX_SIGNAL_SSE_H_INCLUDED_ */
