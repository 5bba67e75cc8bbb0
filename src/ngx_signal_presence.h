
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Presence: connections and users per room, across workers, in the
 * shared zone (within its quota), and the signal_presence location.
 */


#ifndef _NGX_SIGNAL_PRESENCE_H_INCLUDED_
#define _NGX_SIGNAL_PRESENCE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_engine.h"


/* why a join was refused (besides NGX_OK) */
#define NGX_SIGNAL_PRESENCE_FULL     1     /* the zone, or a share of it */
#define NGX_SIGNAL_PRESENCE_USER     4     /* the user's share */


ngx_int_t ngx_signal_presence_join(ngx_str_t *room, ngx_str_t *user,
    ngx_str_t *account);
void ngx_signal_presence_leave(ngx_str_t *room, ngx_str_t *user,
    ngx_str_t *account);
ngx_array_t *ngx_signal_presence_snapshot(ngx_pool_t *pool);
void ngx_signal_presence_count(ngx_signal_presence_query_t *q);
ngx_int_t ngx_signal_presence_handler(ngx_http_request_t *r);


#endif /* _NGX_SIGNAL_PRESENCE_H_INCLUDED_ */
