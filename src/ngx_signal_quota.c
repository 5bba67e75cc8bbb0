
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The presence quota of the shared zone: what connections may make it
 * hold, so that clients cannot fill it and stop publishing or other
 * clients (signal_zone reserve=, anonymous=, user=).  Each record that
 * presence allocates (a room's node while the room has connections, a
 * worker's count in a room, a user's record in a room, a user's account)
 * is charged, at its size in the slab, to whoever made it: the
 * connections without a verified token together, or the account of a
 * token's subject; it is refunded to the same payer when it is freed, and
 * moves to the anonymous connections when its payer leaves a room they
 * stay in.
 * Idle rooms and the event log are not charged: they are what the
 * reserve keeps space for.  Everything here runs under the zone's lock.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_zone_sh.h"


static void ngx_signal_quota_account_free(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_account_t *a);


/* what an allocation of size bytes takes in the slab */

size_t
ngx_signal_quota_size(size_t size)
{
    size_t  n;

    if (size > ngx_pagesize / 2) {
        return ngx_align(size, ngx_pagesize);
    }

    for (n = 8; n < size; n <<= 1) {
        /* void */
    }

    return n;
}


/*
 * The payer of a connection's records: the account of its token's subject
 * (made when it has none yet, if create), or the anonymous connections
 * (account NULL).  NGX_DECLINED: no account and create not set.
 */

ngx_int_t
ngx_signal_quota_payer(ngx_signal_zone_ctx_t *ctx, ngx_str_t *account,
    ngx_uint_t create, ngx_signal_zone_payer_t *payer)
{
    ngx_signal_zone_account_t  *a;

    if (account == NULL) {
        *payer = NGX_SIGNAL_PAYER_ANONYMOUS;
        return NGX_OK;
    }

    *payer = 0;

    a = ngx_signal_zone_node_find(&ctx->sh->accounts, account);

    if (a == NULL) {
        if (!create) {
            return NGX_DECLINED;
        }

        a = ngx_signal_zone_node_alloc(ctx,
                                  offsetof(ngx_signal_zone_account_t, name),
                                  account);
        if (a == NULL) {
            return NGX_ERROR;
        }

        ngx_rbtree_insert(&ctx->sh->accounts, &a->sn.node);

        ctx->sh->presence_bytes += ngx_signal_quota_size(
                            offsetof(ngx_signal_zone_account_t, name)
                            + account->len);
    }

    *payer = (ngx_signal_zone_payer_t) a;

    return NGX_OK;
}


/* an account made for a join that then failed */

void
ngx_signal_quota_release(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_payer_t payer)
{
    ngx_signal_zone_account_t  *a;

    a = (ngx_signal_zone_account_t *) (payer & ~NGX_SIGNAL_PAYER_ANONYMOUS);

    if (a && a->charged == 0) {
        ngx_signal_quota_account_free(ctx, a);
    }
}


/* NGX_OK, or the NGX_SIGNAL_QUOTA_* limit that bytes more would pass */

ngx_int_t
ngx_signal_quota_check(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_payer_t payer, size_t bytes)
{
    ngx_signal_zone_account_t  *a;

    if (bytes == 0) {
        return NGX_OK;
    }

    if (ctx->sh->presence_bytes + bytes > ctx->presence_max) {
        return NGX_SIGNAL_QUOTA_RESERVE;
    }

    if ((payer & NGX_SIGNAL_PAYER_ANONYMOUS)
        && ctx->sh->anonymous_bytes + bytes > ctx->anonymous_max)
    {
        return NGX_SIGNAL_QUOTA_ANONYMOUS;
    }

    a = (ngx_signal_zone_account_t *) (payer & ~NGX_SIGNAL_PAYER_ANONYMOUS);

    if (a && a->charged + bytes > ctx->user_max) {
        return NGX_SIGNAL_QUOTA_USER;
    }

    return NGX_OK;
}


void
ngx_signal_quota_charge(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_payer_t payer, size_t bytes)
{
    ngx_signal_zone_account_t  *a;

    ctx->sh->presence_bytes += bytes;

    if (payer & NGX_SIGNAL_PAYER_ANONYMOUS) {
        ctx->sh->anonymous_bytes += bytes;
        return;
    }

    a = (ngx_signal_zone_account_t *) payer;

    if (a) {
        a->charged += bytes;
    }
}


void
ngx_signal_quota_refund(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_payer_t payer, size_t bytes)
{
    ngx_signal_zone_account_t  *a;

    ctx->sh->presence_bytes -= ngx_min(bytes, ctx->sh->presence_bytes);

    if (payer & NGX_SIGNAL_PAYER_ANONYMOUS) {
        ctx->sh->anonymous_bytes -= ngx_min(bytes,
                                            ctx->sh->anonymous_bytes);
        return;
    }

    a = (ngx_signal_zone_account_t *) payer;

    if (a == NULL) {
        return;
    }

    a->charged -= ngx_min(bytes, a->charged);

    if (a->charged == 0) {
        ngx_signal_quota_account_free(ctx, a);
    }
}


/* a charge that changes payer (the charge itself does not change) */

void
ngx_signal_quota_transfer(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_payer_t from, ngx_signal_zone_payer_t to, size_t bytes)
{
    ngx_signal_quota_charge(ctx, to, bytes);
    ngx_signal_quota_refund(ctx, from, bytes);
}


static void
ngx_signal_quota_account_free(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_account_t *a)
{
    size_t  size;

    size = ngx_signal_quota_size(offsetof(ngx_signal_zone_account_t, name)
                                 + a->sn.str.len);

    ctx->sh->presence_bytes -= ngx_min(size, ctx->sh->presence_bytes);

    ngx_rbtree_delete(&ctx->sh->accounts, &a->sn.node);
    ngx_slab_free_locked(ctx->shpool, a);
}


/* for a log line: what a refusal of the quota means and what to do */

const char *
ngx_signal_quota_reason(ngx_int_t limit)
{
    switch (limit) {

    case NGX_SIGNAL_QUOTA_RESERVE:
        return "connections hold all of it but the part kept for "
               "publishing (reserve=); raise its size";

    case NGX_SIGNAL_QUOTA_ANONYMOUS:
        return "connections without a verified token hold their share of "
               "it (anonymous=)";

    case NGX_SIGNAL_QUOTA_USER:
        return "one user holds its share of it (user=)";

    default:
        return "it is full; raise its size";
    }
}
