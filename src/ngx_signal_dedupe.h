
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Keys seen lately, in the shared zone: the memory engine's memory of
 * webhook deliveries and Idempotency-Key, with what their publish got.
 */


#ifndef _NGX_SIGNAL_DEDUPE_H_INCLUDED_
#define _NGX_SIGNAL_DEDUPE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_signal_engine.h"


#define NGX_SIGNAL_DEDUPE_MAX_ID  256


ngx_int_t ngx_signal_dedupe_check(ngx_shm_zone_t *zone,
    ngx_signal_publish_t *pub);
void ngx_signal_dedupe_done(ngx_shm_zone_t *zone, ngx_signal_publish_t *pub);
void ngx_signal_dedupe_forget(ngx_shm_zone_t *zone, ngx_str_t *id);


#endif /* _NGX_SIGNAL_DEDUPE_H_INCLUDED_ */
