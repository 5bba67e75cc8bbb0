
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The history read API: a signal_history_api location.
 */


#ifndef _NGX_SIGNAL_HISTORY_API_H_INCLUDED_
#define _NGX_SIGNAL_HISTORY_API_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_signal_history_api_handler(ngx_http_request_t *r);


#endif /* _NGX_SIGNAL_HISTORY_API_H_INCLUDED_ */
