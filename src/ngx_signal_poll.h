
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Long-polling on a signal_websocket location (signal_transports
 * longpoll).
 */


#ifndef _NGX_SIGNAL_POLL_H_INCLUDED_
#define _NGX_SIGNAL_POLL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_session.h"


extern ngx_signal_transport_t  ngx_signal_poll_transport;
extern ngx_signal_protocol_t   ngx_signal_poll_protocol;


ngx_uint_t ngx_signal_poll_wanted(ngx_http_request_t *r);
ngx_int_t ngx_signal_poll_handler(ngx_http_request_t *r);


#endif /* _NGX_SIGNAL_POLL_H_INCLUDED_ */
