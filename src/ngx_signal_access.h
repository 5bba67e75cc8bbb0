
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Access checks that are not tokens: the API secret (signal_api_secret)
 * and the origins of browser handshakes (signal_allow_origin).
 */


#ifndef _NGX_SIGNAL_ACCESS_H_INCLUDED_
#define _NGX_SIGNAL_ACCESS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_signal_access_secret_check(ngx_http_request_t *r,
    ngx_array_t *secrets, ngx_int_t *rc);
ngx_uint_t ngx_signal_access_origin_allowed(ngx_array_t *origins,
    ngx_str_t *origin);
char *ngx_signal_access_api_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_signal_access_allow_origin(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_SIGNAL_ACCESS_H_INCLUDED_ */
