
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The notify location, and the HTTP side of a publish that notify and
 * webhooks share: the engine's result as an HTTP answer.
 */


#ifndef _NGX_SIGNAL_NOTIFY_H_INCLUDED_
#define _NGX_SIGNAL_NOTIFY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_signal_notify_handler(ngx_http_request_t *r);
ngx_int_t ngx_signal_notify_publish(ngx_http_request_t *r,
    ngx_array_t *events, ngx_str_t *once, ngx_str_t *digest, time_t ttl);


#endif /* _NGX_SIGNAL_NOTIFY_H_INCLUDED_ */
