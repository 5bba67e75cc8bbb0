
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Webhook ids seen lately, in the shared memory zone: a webhook delivered
 * twice within its tolerance window is answered but published once.  The
 * ids expire in the order they came (oldest first); when the zone needs
 * space the oldest go first.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_signal_dedupe.h"
#include "ngx_signal_zone_sh.h"


/* expired ids dropped per call, to keep the time under the lock short */
#define NGX_SIGNAL_DEDUPE_PRUNE  64


static void ngx_signal_dedupe_free(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_seen_t *seen);


static void
ngx_signal_dedupe_free(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_seen_t *seen)
{
    ngx_queue_remove(&seen->queue);
    ngx_rbtree_delete(&ctx->sh->seen, &seen->sn.node);
    ngx_slab_free_locked(ctx->shpool, seen);
}


/*
 * NGX_OK: the first time within ttl (remembered from now on),
 * NGX_DECLINED: seen within ttl, NGX_ERROR: cannot remember it.
 */

ngx_int_t
ngx_signal_dedupe_check(ngx_shm_zone_t *zone, ngx_str_t *id, time_t ttl)
{
    time_t                   now;
    ngx_uint_t               n;
    ngx_queue_t             *q;
    ngx_signal_zone_ctx_t   *ctx;
    ngx_signal_zone_seen_t  *seen;

    if (id->len == 0 || id->len > NGX_SIGNAL_DEDUPE_MAX_ID) {
        return NGX_ERROR;
    }

    ctx = zone->data;
    now = ngx_time();

    ngx_shmtx_lock(&ctx->shpool->mutex);

    for (n = 0; n < NGX_SIGNAL_DEDUPE_PRUNE; n++) {
        if (ngx_queue_empty(&ctx->sh->seen_queue)) {
            break;
        }

        q = ngx_queue_head(&ctx->sh->seen_queue);
        seen = ngx_queue_data(q, ngx_signal_zone_seen_t, queue);

        if (seen->expires > now) {
            break;
        }

        ngx_signal_dedupe_free(ctx, seen);
    }

    seen = ngx_signal_zone_node_find(&ctx->sh->seen, id);

    if (seen && seen->expires > now) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_DECLINED;
    }

    if (seen) {
        ngx_signal_dedupe_free(ctx, seen);
    }

    for (n = 0; /* void */ ; n++) {
        seen = ngx_signal_zone_node_alloc(ctx,
                                     offsetof(ngx_signal_zone_seen_t, id),
                                     id);
        if (seen || n == NGX_SIGNAL_DEDUPE_PRUNE
            || ngx_queue_empty(&ctx->sh->seen_queue))
        {
            break;
        }

        /* space: the oldest ids go first */
        q = ngx_queue_head(&ctx->sh->seen_queue);
        ngx_signal_dedupe_free(ctx,
                           ngx_queue_data(q, ngx_signal_zone_seen_t, queue));
    }

    if (seen == NULL) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_ERROR;
    }

    seen->expires = now + ttl;

    ngx_rbtree_insert(&ctx->sh->seen, &seen->sn.node);
    ngx_queue_insert_tail(&ctx->sh->seen_queue, &seen->queue);

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return NGX_OK;
}


/* the publish of a remembered id failed: let a retry through */

void
ngx_signal_dedupe_forget(ngx_shm_zone_t *zone, ngx_str_t *id)
{
    ngx_signal_zone_ctx_t   *ctx;
    ngx_signal_zone_seen_t  *seen;

    ctx = zone->data;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    seen = ngx_signal_zone_node_find(&ctx->sh->seen, id);
    if (seen) {
        ngx_signal_dedupe_free(ctx, seen);
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}
