
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The directives of the Redis engine (signal_redis and its settings).
 */


#ifndef _NGX_SIGNAL_REDIS_CONF_H_INCLUDED_
#define _NGX_SIGNAL_REDIS_CONF_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_signal_common.h"


char *ngx_signal_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_signal_redis_backoff(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_signal_redis_init_conf(ngx_conf_t *cf,
    ngx_signal_main_conf_t *smcf);


#endif /* _NGX_SIGNAL_REDIS_CONF_H_INCLUDED_ */
