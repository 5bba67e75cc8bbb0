
/*
 * Copyright (C) ngx_signal_module authors
 */


#ifndef _NGX_SIGNAL_ENVELOPE_H_INCLUDED_
#define _NGX_SIGNAL_ENVELOPE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_signal_name.h"


/*
 * The publish envelope: a notify body (or later a Redis message) parsed
 * with yajl callbacks into events whose "data" stays the raw JSON text of
 * the body, validated once and never re-serialised.
 *
 *   {"room":"a","event":"e","data":<json>[,"history":false]}
 *   {"rooms":["a","b"],"event":"e","data":<json>}
 *   {"events":[{...}, {...}]}
 */


typedef struct {
    ngx_str_t          *rooms;       /* room names, copied to the pool */
    ngx_uint_t          nrooms;
    ngx_str_t           event;
    ngx_str_t           data;        /* raw JSON; "null" when absent */
    unsigned            no_history:1;   /* "history": false */
} ngx_signal_event_t;


typedef struct {
    /* limits, set by the caller */
    ngx_uint_t          max_events;
    ngx_uint_t          max_rooms;       /* per event */
    size_t              max_name_len;    /* room and event names */

    /* result */
    ngx_array_t        *events;          /* of ngx_signal_event_t */

    /* on NGX_ERROR: what is wrong, e.g. "events[2].room: ..." */
    u_char              error[256];
    size_t              error_len;
    unsigned            invalid_json:1;  /* not JSON, or not an object */
} ngx_signal_envelope_t;


ngx_int_t ngx_signal_envelope_parse(ngx_signal_envelope_t *env,
    ngx_pool_t *pool, u_char *body, size_t len);

#endif /* _NGX_SIGNAL_ENVELOPE_H_INCLUDED_ */
