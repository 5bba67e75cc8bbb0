
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The memory engine's event log in the zone: a batch gets the next seq of
 * each (event, room) and its records appended under one lock, all of them
 * or none, so a publish is never half-applied; the log order is the seq
 * order.  Records every worker has read are collected when space is
 * needed, but for those history keeps (ngx_signal_zone_history.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_zone_sh.h"


/* records a worker with no interest in them may fall behind by */
#define NGX_SIGNAL_LOG_LAG  256


static ngx_int_t ngx_signal_zone_append(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_publish_t *pub, ngx_signal_zone_room_t **rooms,
    uint64_t *masks);
static void ngx_signal_zone_log_gc(ngx_signal_zone_ctx_t *ctx);


/*
 * The next seq of every (event, room) of a batch, in order, into
 * pub->seqs (and the rooms' epochs into pub->epochs), and the records of
 * the batch appended to the event log, kept in history as pub asks.  All
 * or nothing: NGX_DECLINED when the zone cannot hold the batch, with
 * every number given back.  *wake gets the worker slots to wake: those
 * with members of the rooms (or their families) and those far behind in
 * the log.
 */

ngx_int_t
ngx_signal_zone_assign(ngx_shm_zone_t *zone, ngx_signal_publish_t *pub,
    uint64_t *wake)
{
    uint64_t                *masks, mask;
    ngx_uint_t               i, j, n;
    ngx_signal_event_t      *ev;
    ngx_signal_zone_sh_t    *sh;
    ngx_signal_zone_ctx_t   *ctx;
    ngx_signal_zone_room_t  *room, **rooms;

    ctx = zone->data;
    sh = ctx->sh;
    ev = pub->events->elts;

    /* the room of each number, to give numbers back on failure */

    rooms = ngx_palloc(pub->pool, pub->n * sizeof(ngx_signal_zone_room_t *));
    masks = ngx_palloc(pub->pool, pub->n * sizeof(uint64_t));

    if (rooms == NULL || masks == NULL) {
        return NGX_ERROR;
    }

    n = 0;
    mask = 0;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    sh->batch++;

    for (i = 0; i < pub->events->nelts; i++) {
        for (j = 0; j < ev[i].nrooms; j++) {

            room = ngx_signal_zone_lookup(ctx, &ev[i].rooms[j]);

            if (room == NULL) {
                room = ngx_signal_zone_create(ctx, &ev[i].rooms[j]);

                if (room == NULL) {
                    goto full;
                }

            } else if (room->connections == 0) {
                ngx_queue_remove(&room->lru);
                ngx_queue_insert_tail(&sh->lru, &room->lru);
            }

            room->batch = sh->batch;
            rooms[n] = room;
            masks[n] = ngx_signal_presence_interest(ctx, room);
            mask |= masks[n];
            pub->epochs[n] = room->epoch;
            pub->seqs[n++] = ++room->seq;
        }
    }

    /* the log order is the seq order: append under the same lock */

    if (ngx_signal_zone_append(ctx, pub, rooms, masks) != NGX_OK) {
        goto full;
    }

    /*
     * A worker with no members of these rooms is not woken, but one that
     * fell far behind is, so that the log can be freed up to it.
     */

    for (i = 0; i < NGX_SIGNAL_STATUS_WORKERS; i++) {
        if (sh->stats.workers[i].pid != 0
            && sh->last_id - sh->stats.workers[i].cursor
               > NGX_SIGNAL_LOG_LAG)
        {
            mask |= ngx_signal_slot_bit(i);
        }
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    *wake = mask;

    return NGX_OK;

full:

    /* rooms this batch used are never evicted by it: give numbers back */

    while (n--) {
        rooms[n]->seq--;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return NGX_DECLINED;
}


/*
 * Under the lock: one record per (event, room), linked only when all of
 * them could be allocated.
 */

static ngx_int_t
ngx_signal_zone_append(ngx_signal_zone_ctx_t *ctx, ngx_signal_publish_t *pub,
    ngx_signal_zone_room_t **rooms, uint64_t *masks)
{
    size_t                size;
    u_char               *p;
    ngx_uint_t            i, j, n, retried, reclaimed;
    ngx_signal_event_t   *ev;
    ngx_signal_record_t  *first, *last, *rec;

    ev = pub->events->elts;
    first = NULL;
    last = NULL;
    n = 0;
    retried = 0;
    reclaimed = 0;

    for (i = 0; i < pub->events->nelts; i++) {
        for (j = 0; j < ev[i].nrooms; j++) {

            size = offsetof(ngx_signal_record_t, data) + ev[i].rooms[j].len
                   + ev[i].event.len + ev[i].data.len;

            for ( ;; ) {
                rec = ngx_slab_alloc_locked(ctx->shpool, size);

                if (rec) {
                    break;
                }

                if (!retried) {
                    /* make space from what every worker has read */
                    ngx_signal_zone_log_gc(ctx);
                    retried = 1;
                    continue;
                }

                /* and from history, and rooms nobody is in */

                if (reclaimed++ == NGX_SIGNAL_ZONE_MAX_EVICT
                    || ngx_signal_zone_reclaim(ctx) != NGX_OK)
                {
                    break;
                }
            }

            if (rec == NULL) {
                while (first) {
                    rec = first->next;
                    ngx_slab_free_locked(ctx->shpool, first);
                    first = rec;
                }

                return NGX_DECLINED;
            }

            ngx_memzero(rec, offsetof(ngx_signal_record_t, data));

            rec->id = ctx->sh->last_id + 1 + n;
            rec->mask = masks[n];
            rec->epoch = pub->epochs[n];
            rec->seq = pub->seqs[n++];
            rec->in_log = 1;
            rec->room_len = (uint16_t) ev[i].rooms[j].len;
            rec->event_len = (uint16_t) ev[i].event.len;
            rec->data_len = (uint32_t) ev[i].data.len;

            p = ngx_cpymem(rec->data, ev[i].rooms[j].data, rec->room_len);
            p = ngx_cpymem(p, ev[i].event.data, rec->event_len);
            ngx_memcpy(p, ev[i].data.data, rec->data_len);

            if (last) {
                last->next = rec;

            } else {
                first = rec;
            }

            last = rec;
        }
    }

    /* every record allocated: into history, as the publish asks */

    for (rec = first, n = 0, i = 0; i < pub->events->nelts; i++) {
        for (j = 0; j < ev[i].nrooms; j++, n++, rec = rec->next) {

            if (pub->history == 0) {
                /* not kept: a client that missed it gets a gap */
                rooms[n]->covered = rec->seq + 1;

            } else if (!ev[i].no_history) {
                ngx_signal_zone_history_keep(ctx, rooms[n], rec,
                                             pub->history,
                                             pub->history_age);
            }
        }
    }

    /* readers follow "next" without the lock: publish complete records */

    ngx_memory_barrier();

    if (ctx->sh->tail) {
        ctx->sh->tail->next = first;

    } else {
        ctx->sh->head = first;
    }

    ctx->sh->tail = last;
    ctx->sh->last_id += pub->n;

    return NGX_OK;
}


/*
 * Free the records every worker has moved past.  The record at a worker's
 * cursor stays: the worker reads its "next".
 */

static void
ngx_signal_zone_log_gc(ngx_signal_zone_ctx_t *ctx)
{
    uint64_t              min;
    ngx_uint_t            i;
    ngx_signal_record_t  *rec;

    min = ctx->sh->last_id;

    for (i = 0; i < NGX_SIGNAL_STATUS_WORKERS; i++) {
        if (ctx->sh->stats.workers[i].pid != 0
            && ctx->sh->stats.workers[i].cursor < min)
        {
            min = ctx->sh->stats.workers[i].cursor;
        }
    }

    while (ctx->sh->head && ctx->sh->head->id < min) {
        rec = ctx->sh->head;
        ctx->sh->head = rec->next;

        /* a record history keeps lives on, out of the log */
        rec->in_log = 0;
        ngx_signal_zone_record_free(ctx, rec);
    }

    if (ctx->sh->head == NULL) {
        ctx->sh->tail = NULL;
    }
}


/* the first record after cursor, for a worker that holds no record */

ngx_signal_record_t *
ngx_signal_zone_log_next(ngx_shm_zone_t *zone, uint64_t cursor)
{
    ngx_signal_record_t    *rec;
    ngx_signal_zone_ctx_t  *ctx = zone->data;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    for (rec = ctx->sh->head; rec && rec->id <= cursor; rec = rec->next) {
        /* void */
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return rec;
}
