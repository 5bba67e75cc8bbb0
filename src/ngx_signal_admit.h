
/*
 * Copyright (C) ngx_signal_module authors
 *
 * What every transport checks before a session starts: origin, token,
 * rooms (ngx_signal_admit.c).
 */


#ifndef _NGX_SIGNAL_ADMIT_H_INCLUDED_
#define _NGX_SIGNAL_ADMIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_session.h"


ngx_int_t ngx_signal_admit(ngx_http_request_t *r, ngx_signal_session_t *s,
    ngx_array_t **join, ngx_array_t **allow, ngx_int_t *rc);
ngx_int_t ngx_signal_admit_one_way(ngx_http_request_t *r,
    ngx_signal_transport_t *transport, ngx_signal_protocol_t *protocol);


#endif /* _NGX_SIGNAL_ADMIT_H_INCLUDED_ */
