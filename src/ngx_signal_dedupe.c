
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Keys seen lately, in the shared memory zone (the memory engine's store
 * for webhook deliveries and Idempotency-Key): a key published again
 * within its time is not published twice.  A key with a digest keeps
 * what its publish got, so that a retry of the same body gets the same
 * answer.  Keys expire in the order they came (oldest first); when the
 * zone needs space the oldest go first.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_signal_dedupe.h"
#include "ngx_signal_zone_sh.h"


/* expired keys dropped per call, to keep the time under the lock short */
#define NGX_SIGNAL_DEDUPE_PRUNE  64


static void ngx_signal_dedupe_prune(ngx_signal_zone_ctx_t *ctx, time_t now);
static ngx_int_t ngx_signal_dedupe_seen(ngx_signal_zone_seen_t *seen,
    ngx_signal_publish_t *pub);
static void ngx_signal_dedupe_free(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_seen_t *seen);


static void
ngx_signal_dedupe_free(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_seen_t *seen)
{
    ngx_queue_remove(&seen->queue);
    ngx_rbtree_delete(&ctx->sh->seen, &seen->sn.node);

    if (seen->result) {
        ngx_slab_free_locked(ctx->shpool, seen->result);
    }

    ngx_slab_free_locked(ctx->shpool, seen);
}


static void
ngx_signal_dedupe_prune(ngx_signal_zone_ctx_t *ctx, time_t now)
{
    ngx_uint_t               n;
    ngx_queue_t             *q;
    ngx_signal_zone_seen_t  *seen;

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
}


/*
 * pub->once for pub->ttl: NGX_OK the first time (remembered from now
 * on: publish, then ngx_signal_dedupe_done()), NGX_DECLINED when seen,
 * with pub->result saying what to answer, NGX_ERROR: cannot remember it.
 */

ngx_int_t
ngx_signal_dedupe_check(ngx_shm_zone_t *zone, ngx_signal_publish_t *pub)
{
    time_t                   now;
    ngx_int_t                rc;
    ngx_uint_t               n;
    ngx_queue_t             *q;
    ngx_signal_zone_ctx_t   *ctx;
    ngx_signal_zone_seen_t  *seen;

    if (pub->once.len == 0 || pub->once.len > NGX_SIGNAL_DEDUPE_MAX_ID) {
        return NGX_ERROR;
    }

    ctx = zone->data;
    now = ngx_time();

    ngx_shmtx_lock(&ctx->shpool->mutex);

    ngx_signal_dedupe_prune(ctx, now);

    seen = ngx_signal_zone_node_find(&ctx->sh->seen, &pub->once);

    if (seen && seen->expires > now) {
        rc = ngx_signal_dedupe_seen(seen, pub);
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return rc;
    }

    if (seen) {
        ngx_signal_dedupe_free(ctx, seen);
    }

    for (n = 0; /* void */ ; n++) {
        seen = ngx_signal_zone_node_alloc(ctx,
                                     offsetof(ngx_signal_zone_seen_t, id),
                                     &pub->once);
        if (seen || n == NGX_SIGNAL_DEDUPE_PRUNE
            || ngx_queue_empty(&ctx->sh->seen_queue))
        {
            break;
        }

        /* space: the oldest keys go first */
        q = ngx_queue_head(&ctx->sh->seen_queue);
        ngx_signal_dedupe_free(ctx,
                           ngx_queue_data(q, ngx_signal_zone_seen_t, queue));
    }

    if (seen == NULL) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_ERROR;
    }

    seen->expires = now + pub->ttl;

    if (pub->digest.len == NGX_SIGNAL_DIGEST_LEN) {
        ngx_memcpy(seen->digest, pub->digest.data, NGX_SIGNAL_DIGEST_LEN);
        seen->has_digest = 1;
    }

    ngx_rbtree_insert(&ctx->sh->seen, &seen->sn.node);
    ngx_queue_insert_tail(&ctx->sh->seen_queue, &seen->queue);

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return NGX_OK;
}


/* under the lock: what a key seen within its time answers */

static ngx_int_t
ngx_signal_dedupe_seen(ngx_signal_zone_seen_t *seen,
    ngx_signal_publish_t *pub)
{
    if (pub->digest.len == 0) {
        pub->result = NGX_SIGNAL_DUPLICATE;
        return NGX_DECLINED;
    }

    if (!seen->has_digest
        || ngx_memcmp(seen->digest, pub->digest.data, NGX_SIGNAL_DIGEST_LEN)
           != 0)
    {
        pub->result = NGX_SIGNAL_CONFLICT;
        return NGX_DECLINED;
    }

    if (!seen->published) {
        /* the first is on its way (another worker) */
        pub->result = NGX_SIGNAL_IN_PROGRESS;
        return NGX_DECLINED;
    }

    if (seen->result == NULL || seen->n != pub->n) {
        /* published, but the zone had no space for its positions */
        pub->result = NGX_SIGNAL_DUPLICATE;
        return NGX_DECLINED;
    }

    pub->seqs = ngx_palloc(pub->pool, 2 * pub->n * sizeof(uint64_t));
    if (pub->seqs == NULL) {
        pub->result = NGX_SIGNAL_REFUSED;
        return NGX_DECLINED;
    }

    ngx_memcpy(pub->seqs, seen->result, 2 * pub->n * sizeof(uint64_t));
    pub->epochs = pub->seqs + pub->n;

    pub->result = NGX_SIGNAL_REPLAYED;

    return NGX_DECLINED;
}


/* the publish of a key is done: what it got, for the retries */

void
ngx_signal_dedupe_done(ngx_shm_zone_t *zone, ngx_signal_publish_t *pub)
{
    uint64_t                *result;
    ngx_signal_zone_ctx_t   *ctx;
    ngx_signal_zone_seen_t  *seen;

    ctx = zone->data;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    seen = ngx_signal_zone_node_find(&ctx->sh->seen, &pub->once);

    if (seen && seen->has_digest && !seen->published) {
        result = ngx_slab_alloc_locked(ctx->shpool,
                                       2 * pub->n * sizeof(uint64_t));

        /* without space a retry is told to wait: never published twice */

        if (result) {
            ngx_memcpy(result, pub->seqs, pub->n * sizeof(uint64_t));
            ngx_memcpy(result + pub->n, pub->epochs,
                       pub->n * sizeof(uint64_t));

            seen->result = result;
            seen->n = pub->n;
        }
    }

    if (seen) {
        seen->published = 1;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


/* the publish of a remembered key failed: let a retry through */

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
