
/*
 * Copyright (C) ngx_signal_module authors
 *
 * History in the zone (the memory engine): the records of the event log
 * are kept past the moment every worker has read them, per room, up to
 * the count and age the publish asked for (signal_history).  A record is
 * freed when it is out of both the log and its room's history.  History
 * is what the zone gives up first when it needs space (oldest first),
 * and every record given up moves the room's "covered" mark: a client
 * that needs what is gone gets a gap, never a silent hole.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_zone_sh.h"
#include "ngx_signal_protocol.h"


static void ngx_signal_zone_history_drop(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_record_t *rec);
static void ngx_signal_zone_history_expire(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_room_t *room, time_t now);
static ngx_int_t ngx_signal_zone_history_copy(ngx_signal_history_t *h,
    ngx_signal_zone_room_t *room, uint64_t since);


/* under the lock: a record appended to the log joins its room's history */

void
ngx_signal_zone_history_keep(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_room_t *room, ngx_signal_record_t *rec,
    ngx_uint_t count, time_t age)
{
    ngx_queue_t          *q;
    ngx_signal_record_t  *old;

    rec->room = room;
    rec->expires = age ? ngx_time() + age : 0;
    rec->in_history = 1;

    ngx_queue_insert_tail(&room->history, &rec->in_room);
    ngx_queue_insert_tail(&ctx->sh->history, &rec->in_zone);
    room->nhistory++;

    while (room->nhistory > count) {
        q = ngx_queue_head(&room->history);
        old = ngx_queue_data(q, ngx_signal_record_t, in_room);
        ngx_signal_zone_history_drop(ctx, old);
    }

    ngx_signal_zone_history_expire(ctx, room, ngx_time());
}


/* a record leaves its room's history: what it held is not covered now */

static void
ngx_signal_zone_history_drop(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_record_t *rec)
{
    ngx_signal_zone_room_t  *room;

    room = rec->room;

    ngx_queue_remove(&rec->in_room);
    ngx_queue_remove(&rec->in_zone);
    room->nhistory--;

    if (room->covered <= rec->seq) {
        room->covered = rec->seq + 1;
    }

    rec->in_history = 0;
    rec->room = NULL;

    ngx_signal_zone_record_free(ctx, rec);
}


static void
ngx_signal_zone_history_expire(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_room_t *room, time_t now)
{
    ngx_queue_t          *q;
    ngx_signal_record_t  *rec;

    while (!ngx_queue_empty(&room->history)) {
        q = ngx_queue_head(&room->history);
        rec = ngx_queue_data(q, ngx_signal_record_t, in_room);

        if (rec->expires == 0 || rec->expires > now) {
            break;
        }

        ngx_signal_zone_history_drop(ctx, rec);
    }
}


/* a record every worker has read and no history holds is freed */

void
ngx_signal_zone_record_free(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_record_t *rec)
{
    if (!rec->in_log && !rec->in_history) {
        ngx_slab_free_locked(ctx->shpool, rec);
    }
}


/*
 * Under the lock, for space: the oldest record of any room's history
 * (only one past its age with expired_only).  NGX_DECLINED when that
 * would free nothing: the oldest is still in the log, and so is every
 * newer one.
 */

ngx_int_t
ngx_signal_zone_history_drop_oldest(ngx_signal_zone_ctx_t *ctx,
    ngx_uint_t expired_only)
{
    ngx_queue_t          *q;
    ngx_signal_record_t  *rec;

    if (ngx_queue_empty(&ctx->sh->history)) {
        return NGX_DECLINED;
    }

    q = ngx_queue_head(&ctx->sh->history);
    rec = ngx_queue_data(q, ngx_signal_record_t, in_zone);

    if (rec->in_log
        || (expired_only && (rec->expires == 0 || rec->expires > ngx_time())))
    {
        return NGX_DECLINED;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "signal: zone full, history of \"%*s\" drops an event",
                   (size_t) rec->room_len, rec->data);

    ngx_signal_zone_history_drop(ctx, rec);

    return NGX_OK;
}


/* under the lock: a room is forgotten, and its history with it */

void
ngx_signal_zone_history_forget(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_room_t *room)
{
    ngx_queue_t          *q;
    ngx_signal_record_t  *rec;

    while (!ngx_queue_empty(&room->history)) {
        q = ngx_queue_head(&room->history);
        rec = ngx_queue_data(q, ngx_signal_record_t, in_room);
        ngx_signal_zone_history_drop(ctx, rec);
    }
}


/*
 * What a room's history has after h->since of h->epoch, copied into
 * h->pool: the reader holds no lock while it sends them.
 */

ngx_int_t
ngx_signal_zone_history(ngx_shm_zone_t *zone, ngx_signal_history_t *h)
{
    uint64_t                 since;
    ngx_int_t                rc;
    ngx_signal_zone_ctx_t   *ctx;
    ngx_signal_zone_room_t  *room;

    ctx = zone->data;

    h->events = ngx_array_create(h->pool, 4, sizeof(ngx_signal_delivery_t));
    if (h->events == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_OK;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    room = ngx_signal_zone_lookup(ctx, &h->room);

    if (room == NULL) {
        /* never published to, or forgotten: a position here is void */
        if (h->epoch) {
            h->gap = "epoch";
        }

        goto done;
    }

    ngx_signal_zone_history_expire(ctx, room, ngx_time());

    h->now_epoch = room->epoch;
    h->now_seq = room->seq;

    if (h->current) {
        h->epoch = room->epoch;
    }

    if (h->epoch == 0) {
        goto done;
    }

    if (h->epoch != room->epoch || h->since > room->seq) {
        /* the position means nothing here: the epoch from its start */
        h->gap = "epoch";
        since = 0;

    } else if (h->since == room->seq) {
        goto done;

    } else {
        since = h->since;
    }

    if (since + 1 < room->covered) {
        /* what is kept from before "covered" would leave a hole: after */
        if (h->gap == NULL) {
            h->gap = "history";
        }

        since = room->covered - 1;
    }

    h->gap_to = h->gap ? since : 0;

    rc = ngx_signal_zone_history_copy(h, room, since);

done:

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return rc;
}


static ngx_int_t
ngx_signal_zone_history_copy(ngx_signal_history_t *h,
    ngx_signal_zone_room_t *room, uint64_t since)
{
    u_char                 *p;
    size_t                  size, len;
    ngx_uint_t              n;
    ngx_queue_t            *q;
    ngx_signal_record_t    *rec;
    ngx_signal_delivery_t  *d;

    /* the newest after since that fit limit and max_bytes */

    n = 0;
    size = 0;

    for (q = ngx_queue_last(&room->history);
         q != ngx_queue_sentinel(&room->history);
         q = ngx_queue_prev(q))
    {
        rec = ngx_queue_data(q, ngx_signal_record_t, in_room);
        len = NGX_SIGNAL_HISTORY_OVERHEAD + 2 * rec->room_len
              + rec->event_len + rec->data_len;

        if (rec->seq <= since) {
            break;
        }

        if (n == h->limit || size + len > h->max_bytes) {
            /* what does not fit is a gap too */
            if (h->gap == NULL) {
                h->gap = "history";
            }

            h->gap_to = rec->seq;
            break;
        }

        size += len;
        n++;
    }

    if (n == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(h->pool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    for (q = ngx_queue_last(&room->history); --n; q = ngx_queue_prev(q)) {
        /* back to the oldest of them */
    }

    for ( /* void */ ;
         q != ngx_queue_sentinel(&room->history);
         q = ngx_queue_next(q))
    {
        rec = ngx_queue_data(q, ngx_signal_record_t, in_room);

        d = ngx_array_push(h->events);
        if (d == NULL) {
            return NGX_ERROR;
        }

        d->seq = rec->seq;
        d->epoch = rec->epoch;

        d->room.data = p;
        d->room.len = rec->room_len;
        p = ngx_cpymem(p, rec->data, rec->room_len);

        d->event.data = p;
        d->event.len = rec->event_len;
        p = ngx_cpymem(p, rec->data + rec->room_len, rec->event_len);

        d->data.data = p;
        d->data.len = rec->data_len;
        p = ngx_cpymem(p, rec->data + rec->room_len + rec->event_len,
                       rec->data_len);
    }

    return NGX_OK;
}
