
/*
 * Copyright (C) ngx_signal_module authors
 *
 * HTTP helpers of the module's locations: JSON answers and errors,
 * headers, reading a JSON body, the start of a read-only API location.
 */


#ifndef _NGX_SIGNAL_HTTP_H_INCLUDED_
#define _NGX_SIGNAL_HTTP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_signal_http_read_json(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt handler);
ngx_int_t ngx_signal_http_body(ngx_http_request_t *r, ngx_str_t *body);
ngx_int_t ngx_signal_http_api_get(ngx_http_request_t *r, ngx_int_t *rc);
ngx_int_t ngx_signal_http_send_json(ngx_http_request_t *r,
    ngx_uint_t status, u_char *body, size_t len);
ngx_int_t ngx_signal_http_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error, const char *fmt, ...);
ngx_int_t ngx_signal_http_add_header(ngx_http_request_t *r, char *key,
    u_char *value, size_t len);
ngx_table_elt_t *ngx_signal_http_find_header(ngx_http_request_t *r,
    char *name, size_t len, ngx_table_elt_t *after);
ngx_uint_t ngx_signal_http_has_token(ngx_str_t *value, char *token,
    size_t len);


#endif /* _NGX_SIGNAL_HTTP_H_INCLUDED_ */
