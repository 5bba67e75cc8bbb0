
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Presence: how many connections, and how many distinct users, each room
 * has across all workers.  The counts live in the zone's room nodes, kept
 * per worker slot so that the share of a worker that died can be taken
 * out (ngx_signal_zone_worker_start), and the slots with connections are
 * the interest mask that decides which workers an event wakes.  What a
 * join makes the zone hold is charged to the presence quota
 * (ngx_signal_quota.c); ngx_signal_presence_api.c answers the API.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_log.h"
#include "ngx_signal_presence.h"
#include "ngx_signal_envelope.h"
#include "ngx_signal_zone_sh.h"


/* what a join needs, found or made before anything is counted */
typedef struct {
    ngx_signal_zone_room_t     *room;
    ngx_signal_zone_count_t    *count;
    ngx_signal_zone_users_t    *users;       /* made for this join */
    ngx_signal_zone_user_t     *user;
    ngx_signal_zone_payer_t     payer;
    size_t                      charge;      /* to the payer */
    size_t                      users_charge; /* to the room's payer */
    unsigned                    new_count:1;
    unsigned                    new_user:1;
} ngx_signal_presence_join_t;


static ngx_int_t ngx_signal_presence_reserve(ngx_signal_zone_ctx_t *ctx,
    ngx_str_t *name, ngx_str_t *user, ngx_str_t *account,
    ngx_signal_presence_join_t *j);
static void ngx_signal_presence_reassign(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_room_t *room, ngx_signal_zone_payer_t payer);
static ngx_int_t ngx_signal_presence_alloc(ngx_signal_zone_ctx_t *ctx,
    ngx_str_t *key, ngx_signal_presence_join_t *j);
static void ngx_signal_presence_commit(ngx_signal_zone_ctx_t *ctx,
    ngx_str_t *user, ngx_signal_presence_join_t *j);
static void ngx_signal_presence_user_key(ngx_str_t *key, u_char *buf,
    ngx_uint_t slot, ngx_str_t *user);
static ngx_uint_t ngx_signal_presence_user_elsewhere(
    ngx_signal_zone_room_t *room, ngx_str_t *user, ngx_uint_t slot);
static void ngx_signal_presence_user_remove(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_room_t *room, ngx_signal_zone_user_t *u);
static void ngx_signal_presence_count_remove(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_room_t *room, ngx_signal_zone_count_t **link);
static void ngx_signal_presence_idle(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_room_t *room);
static void ngx_signal_presence_capture(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_room_t *room, ngx_str_t *name, ngx_signal_presence_t *p);


/* refusals are logged once per interval and limit, not per request */
static ngx_signal_log_limit_t  ngx_signal_presence_refusals[5];


#define ngx_signal_room_size(len)                                            \
    ngx_signal_quota_size(offsetof(ngx_signal_zone_room_t, name) + (len))

#define ngx_signal_user_size(len)                                            \
    ngx_signal_quota_size(offsetof(ngx_signal_zone_user_t, key) + 1 + (len))


/*
 * Count a connection of this worker in a room, for the user if it has
 * one.  NGX_OK, or the NGX_SIGNAL_QUOTA_* reason it was refused (nothing
 * was counted then).
 */

ngx_int_t
ngx_signal_presence_join(ngx_str_t *name, ngx_str_t *user,
    ngx_str_t *account)
{
    ngx_int_t                    rc;
    ngx_signal_zone_ctx_t       *ctx;
    ngx_signal_presence_t        p;
    ngx_signal_presence_join_t   j;

    ctx = ngx_signal_worker_zone->data;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    /* any idle room may make space, even one the last publish used */
    ctx->sh->batch++;

    rc = ngx_signal_presence_reserve(ctx, name, user, account, &j);

    if (rc == NGX_OK) {
        ngx_signal_presence_commit(ctx, user, &j);
        ngx_signal_presence_capture(ctx, j.room, name, &p);
    }

    /* an account made for a join that charged it nothing goes again */
    ngx_signal_quota_release(ctx, j.payer);

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    if (rc != NGX_OK) {
        ngx_signal_log_limited(NGX_LOG_WARN, ngx_cycle->log,
                               &ngx_signal_presence_refusals[rc],
                               "signal: signal_zone \"%V\" refused to count "
                               "a connection in a room: %s",
                               &ngx_signal_worker_zone->shm.name,
                               ngx_signal_quota_reason(rc));
        return rc;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "signal: presence of \"%V\": %ui connections", name,
                   p.connections);

    if (ngx_signal_engine->presence_put) {
        ngx_signal_engine->presence_put(&p);
    }

    return NGX_OK;
}


/* under the lock: find or make everything, within the quota */

static ngx_int_t
ngx_signal_presence_reserve(ngx_signal_zone_ctx_t *ctx, ngx_str_t *name,
    ngx_str_t *user, ngx_str_t *account, ngx_signal_presence_join_t *j)
{
    u_char                     buf[1 + NGX_SIGNAL_MAX_NAME_LENGTH];
    ngx_int_t                  rc;
    ngx_str_t                  key;
    ngx_signal_zone_room_t    *room;
    ngx_signal_zone_count_t   *count;

    ngx_memzero(j, sizeof(ngx_signal_presence_join_t));

    if (user->len > NGX_SIGNAL_MAX_NAME_LENGTH
        || ngx_signal_quota_payer(ctx, account, 1, &j->payer) != NGX_OK)
    {
        return NGX_SIGNAL_QUOTA_FULL;
    }

    /* what the join would charge, checked before anything is made */

    room = ngx_signal_zone_lookup(ctx, name);
    count = NULL;

    if (room == NULL || room->connections == 0) {
        j->charge += ngx_signal_room_size(name->len);
    }

    for (count = room ? room->counts : NULL; count; count = count->next) {
        if (count->slot == (ngx_uint_t) ngx_signal_worker_slot) {
            break;
        }
    }

    j->count = count;

    if (count == NULL) {
        j->charge += ngx_signal_quota_size(sizeof(ngx_signal_zone_count_t));
    }

    if (user->len) {
        ngx_signal_presence_user_key(&key, buf, ngx_signal_worker_slot, user);

        if (room == NULL || room->users == NULL) {
            j->users_charge = ngx_signal_quota_size(
                                          sizeof(ngx_signal_zone_users_t));

        } else {
            j->user = ngx_signal_zone_node_find(&room->users->tree, &key);
        }

        if (j->user == NULL) {
            j->charge += ngx_signal_user_size(user->len);
        }
    }

    rc = ngx_signal_quota_check(ctx, j->payer, j->charge + j->users_charge);

    if (rc != NGX_OK) {
        return rc;
    }

    if (room == NULL) {
        room = ngx_signal_zone_create(ctx, name);
        if (room == NULL) {
            return NGX_SIGNAL_QUOTA_FULL;
        }
    }

    j->room = room;

    return ngx_signal_presence_alloc(ctx, user->len ? &key : NULL, j);
}


/* the records the join needs that do not exist yet; all or none */

static ngx_int_t
ngx_signal_presence_alloc(ngx_signal_zone_ctx_t *ctx, ngx_str_t *key,
    ngx_signal_presence_join_t *j)
{
    if (j->count == NULL) {
        j->count = ngx_slab_alloc_locked(ctx->shpool,
                                         sizeof(ngx_signal_zone_count_t));
        if (j->count == NULL) {
            return NGX_SIGNAL_QUOTA_FULL;
        }

        ngx_memzero(j->count, sizeof(ngx_signal_zone_count_t));
        j->count->slot = ngx_signal_worker_slot;
        j->count->payer = j->payer;
        j->new_count = 1;
    }

    if (key && j->room->users == NULL) {
        j->users = ngx_slab_alloc_locked(ctx->shpool,
                                         sizeof(ngx_signal_zone_users_t));
        if (j->users == NULL) {
            goto failed;
        }

        ngx_rbtree_init(&j->users->tree, &j->users->sentinel,
                        ngx_str_rbtree_insert_value);
    }

    if (key && j->user == NULL) {
        j->user = ngx_signal_zone_node_alloc(ctx,
                                       offsetof(ngx_signal_zone_user_t, key),
                                       key);
        if (j->user == NULL) {
            goto failed;
        }

        j->user->payer = j->payer;
        j->new_user = 1;
    }

    return NGX_OK;

failed:

    if (j->new_count) {
        ngx_slab_free_locked(ctx->shpool, j->count);
    }

    if (j->users) {
        ngx_slab_free_locked(ctx->shpool, j->users);
    }

    return NGX_SIGNAL_QUOTA_FULL;
}


/* under the lock: count the connection and charge what it made */

static void
ngx_signal_presence_commit(ngx_signal_zone_ctx_t *ctx, ngx_str_t *user,
    ngx_signal_presence_join_t *j)
{
    ngx_signal_zone_room_t  *room;

    room = j->room;

    if (room->connections++ == 0) {
        ngx_queue_remove(&room->lru);
        room->payer = j->payer;
    }

    if (j->new_count) {
        j->count->next = room->counts;
        room->counts = j->count;
        room->slots |= ngx_signal_slot_bit(ngx_signal_worker_slot);
    }

    j->count->connections++;

    if (j->payer & NGX_SIGNAL_PAYER_ANONYMOUS) {
        j->count->anonymous++;
    }

    ngx_signal_quota_charge(ctx, j->payer, j->charge);

    if (j->users) {
        room->users = j->users;
        ngx_signal_quota_charge(ctx, room->payer, j->users_charge);
    }

    if (j->new_user) {
        if (!ngx_signal_presence_user_elsewhere(room, user,
                                                ngx_signal_worker_slot))
        {
            room->nusers++;
        }

        ngx_rbtree_insert(&room->users->tree, &j->user->sn.node);
    }

    if (j->user) {
        j->user->connections++;
    }
}


/* a user's record in a room is keyed by the slot and the user id */

static void
ngx_signal_presence_user_key(ngx_str_t *key, u_char *buf, ngx_uint_t slot,
    ngx_str_t *user)
{
    buf[0] = (u_char) slot;
    ngx_memcpy(buf + 1, user->data, user->len);

    key->data = buf;
    key->len = user->len + 1;
}


/* whether the user has connections in the room through another slot */

static ngx_uint_t
ngx_signal_presence_user_elsewhere(ngx_signal_zone_room_t *room,
    ngx_str_t *user, ngx_uint_t slot)
{
    u_char      buf[1 + NGX_SIGNAL_MAX_NAME_LENGTH];
    uint64_t    slots;
    ngx_str_t   key;
    ngx_uint_t  i;

    if (room->users == NULL) {
        return 0;
    }

    slots = room->slots & ~ngx_signal_slot_bit(slot);

    for (i = 0; slots; i++, slots >>= 1) {
        if (!(slots & 1)) {
            continue;
        }

        ngx_signal_presence_user_key(&key, buf, i, user);

        if (ngx_signal_zone_node_find(&room->users->tree, &key)) {
            return 1;
        }
    }

    return 0;
}


void
ngx_signal_presence_leave(ngx_str_t *name, ngx_str_t *user,
    ngx_str_t *account)
{
    u_char                     buf[1 + NGX_SIGNAL_MAX_NAME_LENGTH];
    ngx_str_t                  key;
    ngx_uint_t                 slot;
    ngx_signal_zone_payer_t    payer;
    ngx_signal_zone_ctx_t     *ctx;
    ngx_signal_zone_room_t    *room;
    ngx_signal_zone_user_t    *u;
    ngx_signal_presence_t      p;
    ngx_signal_zone_count_t  **link;

    ctx = ngx_signal_worker_zone->data;
    slot = ngx_signal_worker_slot;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    room = ngx_signal_zone_lookup(ctx, name);

    if (room == NULL || room->connections == 0) {
        /* counted nowhere: cannot happen while the slot is ours */
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return;
    }

    if (user->len && room->users && user->len <= NGX_SIGNAL_MAX_NAME_LENGTH) {
        ngx_signal_presence_user_key(&key, buf, slot, user);
        u = ngx_signal_zone_node_find(&room->users->tree, &key);

        if (u && --u->connections == 0) {
            ngx_signal_presence_user_remove(ctx, room, u);
        }
    }

    if (ngx_signal_quota_payer(ctx, account, 0, &payer) != NGX_OK) {
        payer = 0;
    }

    for (link = &room->counts; *link; link = &(*link)->next) {
        if ((*link)->slot == slot) {
            room->connections--;

            if ((payer & NGX_SIGNAL_PAYER_ANONYMOUS) && (*link)->anonymous) {
                (*link)->anonymous--;
            }

            if (--(*link)->connections == 0) {
                ngx_signal_presence_count_remove(ctx, room, link);
            }

            break;
        }
    }

    if (room->connections == 0) {
        ngx_signal_presence_idle(ctx, room);

    } else if (payer && !(payer & NGX_SIGNAL_PAYER_ANONYMOUS)) {
        ngx_signal_presence_reassign(ctx, room, payer);
    }

    ngx_signal_presence_capture(ctx, room, name, &p);

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    if (ngx_signal_engine->presence_put) {
        ngx_signal_engine->presence_put(&p);
    }
}


/*
 * An account's connection left a room that anonymous connections stay
 * in: what the account paid for the room (its node, the counts it made)
 * is the anonymous connections' now, or they would hold it on the
 * account's share.
 */

static void
ngx_signal_presence_reassign(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_room_t *room, ngx_signal_zone_payer_t payer)
{
    size_t                    size;
    ngx_uint_t                anonymous;
    ngx_signal_zone_count_t  *count;

    anonymous = 0;

    for (count = room->counts; count; count = count->next) {
        anonymous += count->anonymous;
    }

    if (anonymous == 0) {
        return;
    }

    size = ngx_signal_quota_size(sizeof(ngx_signal_zone_count_t));

    for (count = room->counts; count; count = count->next) {
        if (count->payer == payer) {
            count->payer = NGX_SIGNAL_PAYER_ANONYMOUS;
            ngx_signal_quota_transfer(ctx, payer, count->payer, size);
        }
    }

    if (room->payer != payer) {
        return;
    }

    size = ngx_signal_room_size(room->sn.str.len);

    if (room->users) {
        size += ngx_signal_quota_size(sizeof(ngx_signal_zone_users_t));
    }

    room->payer = NGX_SIGNAL_PAYER_ANONYMOUS;
    ngx_signal_quota_transfer(ctx, payer, room->payer, size);
}


static void
ngx_signal_presence_user_remove(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_room_t *room, ngx_signal_zone_user_t *u)
{
    ngx_str_t  user;

    ngx_rbtree_delete(&room->users->tree, &u->sn.node);

    user.data = u->key + 1;
    user.len = u->sn.str.len - 1;

    if (!ngx_signal_presence_user_elsewhere(room, &user, u->key[0])) {
        room->nusers--;
    }

    ngx_signal_quota_refund(ctx, u->payer, ngx_signal_user_size(user.len));
    ngx_slab_free_locked(ctx->shpool, u);
}


static void
ngx_signal_presence_count_remove(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_room_t *room, ngx_signal_zone_count_t **link)
{
    ngx_signal_zone_count_t  *count;

    count = *link;
    *link = count->next;

    room->slots &= ~ngx_signal_slot_bit(count->slot);

    ngx_signal_quota_refund(ctx, count->payer,
                        ngx_signal_quota_size(sizeof(ngx_signal_zone_count_t)));
    ngx_slab_free_locked(ctx->shpool, count);
}


/* nobody is connected any more: the room may be forgotten for space */

static void
ngx_signal_presence_idle(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_room_t *room)
{
    if (room->users) {
        ngx_signal_quota_refund(ctx, room->payer,
                        ngx_signal_quota_size(sizeof(ngx_signal_zone_users_t)));
        ngx_slab_free_locked(ctx->shpool, room->users);
        room->users = NULL;
    }

    ngx_signal_quota_refund(ctx, room->payer,
                            ngx_signal_room_size(room->sn.str.len));

    room->payer = 0;
    room->nusers = 0;
    ngx_queue_insert_tail(&ctx->sh->lru, &room->lru);
}


/*
 * Under the lock: the counts of a room after a change, with the version
 * that orders it for Redis.  The name is the caller's, not the zone's: an
 * idle room may be forgotten as soon as the lock is released.
 */

static void
ngx_signal_presence_capture(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_room_t *room, ngx_str_t *name, ngx_signal_presence_t *p)
{
    p->room = *name;
    p->connections = room->connections;
    p->users = room->nusers;
    p->version = ++ctx->sh->presence_version;
}


/*
 * Every room of the zone with its counts, for a Redis connection that
 * (re)connects: one version, newer than anything sent before.
 */

ngx_array_t *
ngx_signal_presence_snapshot(ngx_pool_t *pool)
{
    uint64_t                 version;
    ngx_array_t             *a;
    ngx_rbtree_node_t       *node, *root, *sentinel;
    ngx_signal_presence_t   *p;
    ngx_signal_zone_ctx_t   *ctx;
    ngx_signal_zone_room_t  *room;

    ctx = ngx_signal_worker_zone->data;

    a = ngx_array_create(pool, 64, sizeof(ngx_signal_presence_t));
    if (a == NULL) {
        return NULL;
    }

    ngx_shmtx_lock(&ctx->shpool->mutex);

    version = ++ctx->sh->presence_version;
    root = ctx->sh->rbtree.root;
    sentinel = ctx->sh->rbtree.sentinel;

    for (node = (root == sentinel) ? NULL : ngx_rbtree_min(root, sentinel);
         node;
         node = ngx_rbtree_next(&ctx->sh->rbtree, node))
    {
        room = (ngx_signal_zone_room_t *) node;

        p = ngx_array_push(a);
        if (p == NULL) {
            break;
        }

        p->room.data = ngx_pnalloc(pool, room->sn.str.len);
        if (p->room.data == NULL) {
            a->nelts--;
            break;
        }

        ngx_memcpy(p->room.data, room->name, room->sn.str.len);
        p->room.len = room->sn.str.len;
        p->connections = room->connections;
        p->users = room->nusers;
        p->version = version;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return a;
}


/* under the lock: take out everything a worker slot counted */

void
ngx_signal_presence_purge(ngx_signal_zone_ctx_t *ctx, ngx_uint_t slot)
{
    ngx_rbtree_node_t         *node, *next, *unode, *unext;
    ngx_signal_zone_room_t    *room;
    ngx_signal_zone_user_t    *u;
    ngx_signal_zone_count_t  **link;

    if (ctx->sh->rbtree.root == ctx->sh->rbtree.sentinel) {
        return;
    }

    node = ngx_rbtree_min(ctx->sh->rbtree.root, ctx->sh->rbtree.sentinel);

    for ( /* void */ ; node; node = next) {
        next = ngx_rbtree_next(&ctx->sh->rbtree, node);
        room = (ngx_signal_zone_room_t *) node;

        if (!(room->slots & ngx_signal_slot_bit(slot))) {
            continue;
        }

        if (room->users
            && room->users->tree.root != room->users->tree.sentinel)
        {
            unode = ngx_rbtree_min(room->users->tree.root,
                                   room->users->tree.sentinel);

            for ( /* void */ ; unode; unode = unext) {
                unext = ngx_rbtree_next(&room->users->tree, unode);
                u = (ngx_signal_zone_user_t *) unode;

                if (u->key[0] == slot) {
                    ngx_signal_presence_user_remove(ctx, room, u);
                }
            }
        }

        for (link = &room->counts; *link; link = &(*link)->next) {
            if ((*link)->slot == slot) {
                room->connections -= (*link)->connections;
                ngx_signal_presence_count_remove(ctx, room, link);
                break;
            }
        }

        if (room->connections == 0) {
            ngx_signal_presence_idle(ctx, room);
        }
    }
}


/*
 * Under the lock: the worker slots with members of a room or of one of
 * its families ("a:b:c" is in "a:*" and "a:b:*").
 */

uint64_t
ngx_signal_presence_interest(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_room_t *room)
{
    u_char                   family[NGX_SIGNAL_MAX_NAME_LENGTH + 2];
    uint64_t                 mask;
    ngx_uint_t               i;
    ngx_str_t                fname;
    ngx_signal_zone_room_t  *fr;

    mask = room->slots;
    fname.data = family;

    for (i = 0; i + 1 < room->sn.str.len; i++) {

        if (room->name[i] != ':' || i + 2 > sizeof(family)) {
            continue;
        }

        ngx_memcpy(family, room->name, i + 1);
        family[i + 1] = '*';
        fname.len = i + 2;

        fr = ngx_signal_zone_lookup(ctx, &fname);
        if (fr) {
            mask |= fr->slots;
        }
    }

    return mask;
}
