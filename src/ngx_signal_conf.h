
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Configuration helpers every directive handler may use, at the bottom of
 * the include graph: complex values, lists of them, secrets read from
 * files, the content handler of a location.
 */


#ifndef _NGX_SIGNAL_CONF_H_INCLUDED_
#define _NGX_SIGNAL_CONF_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_signal_conf_complex(ngx_conf_t *cf, ngx_str_t *value,
    ngx_http_complex_value_t *cv);
char *ngx_signal_conf_set_values_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_signal_conf_set_handler(ngx_conf_t *cf,
    ngx_http_handler_pt handler);
ngx_int_t ngx_signal_conf_read_secret(ngx_conf_t *cf, ngx_str_t *value,
    size_t max);


#endif /* _NGX_SIGNAL_CONF_H_INCLUDED_ */
