
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Directive handlers listed by ngx_signal_module.c.
 */


#ifndef _NGX_SIGNAL_DIRECTIVE_H_INCLUDED_
#define _NGX_SIGNAL_DIRECTIVE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_common.h"


char *ngx_signal_directive_handler(ngx_conf_t *cf,
    ngx_http_handler_pt handler);
char *ngx_signal_directive_websocket(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_signal_directive_notify(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_signal_directive_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_signal_directive_presence(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_signal_directive_rooms(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_signal_directive_user(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_signal_directive_history(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_signal_directive_history_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_signal_directive_subprotocols(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_SIGNAL_DIRECTIVE_H_INCLUDED_ */
