
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The shared memory zone (signal_zone) as the rest of the module sees
 * it: this worker's slot, the seq of every (event, room) of a batch and
 * the event log that carries them between workers, the reload
 * generation.  Its layout is in ngx_signal_zone_sh.h.
 */


#ifndef _NGX_SIGNAL_ZONE_H_INCLUDED_
#define _NGX_SIGNAL_ZONE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_signal_common.h"
#include "ngx_signal_status.h"
#include "ngx_signal_envelope.h"
#include "ngx_signal_engine.h"


/* one (event, room) in the shared event log, in publish order */
typedef struct ngx_signal_record_s  ngx_signal_record_t;

struct ngx_signal_record_s {
    ngx_signal_record_t * volatile  next;
    uint64_t                        id;
    uint64_t                        seq;
    uint64_t                        epoch;
    uint64_t                        mask;     /* slots with members */

    /* history, under the lock (ngx_signal_zone_history.c) */
    ngx_queue_t                     in_room;  /* its room's, oldest first */
    ngx_queue_t                     in_zone;  /* every room's */
    void                           *room;
    time_t                          expires;
    unsigned                        in_log:1;
    unsigned                        in_history:1;

    uint16_t                        room_len;
    uint16_t                        event_len;
    uint32_t                        data_len;
    u_char                          data[1];  /* room, event, data */
};


/* what the zone holds, for signal_status */
typedef struct {
    size_t                          size;
    size_t                          used;
    size_t                          presence;       /* the quota's bytes */
    size_t                          presence_max;
    size_t                          anonymous;
    size_t                          anonymous_max;
} ngx_signal_zone_usage_t;


/* this worker's place in the zone: NULL / NGX_ERROR until it has one */
extern ngx_shm_zone_t             *ngx_signal_worker_zone;
extern ngx_int_t                   ngx_signal_worker_slot;
extern ngx_atomic_uint_t           ngx_signal_worker_generation;


char *ngx_signal_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_signal_stats_t *ngx_signal_zone_stats(ngx_shm_zone_t *zone);
void ngx_signal_zone_usage(ngx_shm_zone_t *zone,
    ngx_signal_zone_usage_t *u);
ngx_int_t ngx_signal_zone_assign(ngx_shm_zone_t *zone,
    ngx_signal_publish_t *pub, uint64_t *wake);
ngx_int_t ngx_signal_zone_history(ngx_shm_zone_t *zone,
    ngx_signal_history_t *h);
ngx_signal_record_t *ngx_signal_zone_log_next(ngx_shm_zone_t *zone,
    uint64_t cursor);
ngx_int_t ngx_signal_zone_worker_start(ngx_cycle_t *cycle);
void ngx_signal_zone_worker_exit(void);
ngx_atomic_uint_t ngx_signal_zone_generation(ngx_shm_zone_t *zone);
u_char *ngx_signal_zone_instance(ngx_shm_zone_t *zone);


#endif /* _NGX_SIGNAL_ZONE_H_INCLUDED_ */
