
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Presence: how many connections, and how many distinct users, each room
 * has across all workers.  The counts live in the zone's room nodes, kept
 * per worker slot so that the share of a worker that died can be taken
 * out (ngx_signal_zone_worker_start), and the slots with connections are
 * the interest mask that decides which workers an event wakes.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal.h"
#include "ngx_signal_zone.h"


static void ngx_signal_presence_users_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_int_t ngx_signal_presence_user_cmp(ngx_str_t *name,
    uint32_t hash, ngx_uint_t slot, ngx_signal_zone_user_t *u);
static ngx_signal_zone_user_t *ngx_signal_presence_user(
    ngx_signal_zone_users_t *users, ngx_str_t *name, uint32_t hash,
    ngx_uint_t slot);
static void ngx_signal_presence_user_remove(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_room_t *room, ngx_signal_zone_user_t *u);
static void ngx_signal_presence_idle(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_room_t *room);
static void ngx_signal_presence_capture(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_room_t *room, ngx_str_t *name, ngx_signal_presence_t *p);


/* any slot: the lookup stops at the first node of the user */
#define NGX_SIGNAL_ANY_SLOT  ((ngx_uint_t) -1)


static ngx_int_t
ngx_signal_presence_user_cmp(ngx_str_t *name, uint32_t hash,
    ngx_uint_t slot, ngx_signal_zone_user_t *u)
{
    ngx_int_t  rc;

    if (hash != u->node.key) {
        return (hash < u->node.key) ? -1 : 1;
    }

    rc = ngx_memn2cmp(name->data, u->name, name->len, u->len);

    if (rc != 0 || slot == NGX_SIGNAL_ANY_SLOT || slot == u->slot) {
        return rc;
    }

    return (slot < u->slot) ? -1 : 1;
}


static void
ngx_signal_presence_users_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_str_t                name;
    ngx_rbtree_node_t      **p;
    ngx_signal_zone_user_t  *u;

    u = (ngx_signal_zone_user_t *) node;
    name.data = u->name;
    name.len = u->len;

    for ( ;; ) {

        p = (ngx_signal_presence_user_cmp(&name, (uint32_t) node->key,
                                          u->slot,
                                          (ngx_signal_zone_user_t *) temp)
             < 0)
            ? &temp->left : &temp->right;

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_signal_zone_user_t *
ngx_signal_presence_user(ngx_signal_zone_users_t *users, ngx_str_t *name,
    uint32_t hash, ngx_uint_t slot)
{
    ngx_int_t                rc;
    ngx_rbtree_node_t       *node, *sentinel;
    ngx_signal_zone_user_t  *u;

    if (users == NULL) {
        return NULL;
    }

    node = users->tree.root;
    sentinel = users->tree.sentinel;

    while (node != sentinel) {
        u = (ngx_signal_zone_user_t *) node;

        rc = ngx_signal_presence_user_cmp(name, hash, slot, u);

        if (rc == 0) {
            return u;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/*
 * Count a connection of this worker in a room, for the user if it has
 * one.  NGX_DECLINED: the zone has no space for it; nothing was counted.
 */

ngx_int_t
ngx_signal_presence_join(ngx_str_t *name, ngx_str_t *user)
{
    size_t                    size;
    uint32_t                  hash, uhash;
    ngx_uint_t                slot;
    ngx_signal_zone_ctx_t    *ctx;
    ngx_signal_zone_room_t   *room;
    ngx_signal_zone_user_t   *u, *new_user;
    ngx_signal_zone_count_t  *count, *new_count;
    ngx_signal_zone_users_t  *new_users;
    ngx_signal_presence_t     p;

    ctx = ngx_signal_worker_zone->data;
    slot = ngx_signal_worker_slot;

    hash = ngx_crc32_short(name->data, name->len);
    uhash = ngx_crc32_short(user->data, user->len);

    new_count = NULL;
    new_users = NULL;
    new_user = NULL;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    /* any idle room may make space, even one the last publish used */
    ctx->sh->batch++;

    room = ngx_signal_zone_lookup(ctx, name, hash);

    if (room == NULL) {
        room = ngx_signal_zone_create(ctx, name, hash);
        if (room == NULL) {
            goto full;
        }
    }

    /* first everything that may fail, then the counts */

    for (count = room->counts; count; count = count->next) {
        if (count->slot == slot) {
            break;
        }
    }

    if (count == NULL) {
        new_count = ngx_slab_alloc_locked(ctx->shpool,
                                          sizeof(ngx_signal_zone_count_t));
        if (new_count == NULL) {
            goto full;
        }

        new_count->slot = slot;
        new_count->connections = 0;
        count = new_count;
    }

    u = NULL;

    if (user->len) {
        if (room->users == NULL) {
            new_users = ngx_slab_alloc_locked(ctx->shpool,
                                              sizeof(ngx_signal_zone_users_t));
            if (new_users == NULL) {
                goto full;
            }

            ngx_rbtree_init(&new_users->tree, &new_users->sentinel,
                            ngx_signal_presence_users_insert);
        }

        u = ngx_signal_presence_user(room->users, user, uhash, slot);

        if (u == NULL) {
            size = offsetof(ngx_signal_zone_user_t, name) + user->len;

            new_user = ngx_slab_alloc_locked(ctx->shpool, size);
            if (new_user == NULL) {
                goto full;
            }

            new_user->node.key = uhash;
            new_user->slot = slot;
            new_user->connections = 0;
            new_user->len = (u_short) user->len;
            ngx_memcpy(new_user->name, user->data, user->len);
            u = new_user;
        }
    }

    if (new_count) {
        new_count->next = room->counts;
        room->counts = new_count;
        room->slots |= ngx_signal_slot_bit(slot);
    }

    count->connections++;

    if (room->connections++ == 0) {
        ngx_queue_remove(&room->lru);
    }

    if (new_users) {
        room->users = new_users;
    }

    if (new_user) {
        if (ngx_signal_presence_user(room->users, user, uhash,
                                     NGX_SIGNAL_ANY_SLOT)
            == NULL)
        {
            room->nusers++;
        }

        ngx_rbtree_insert(&room->users->tree, &new_user->node);
    }

    if (u) {
        u->connections++;
    }

    ngx_signal_presence_capture(ctx, room, name, &p);

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    if (ngx_signal_redis) {
        ngx_signal_redis_presence(&p);
    }

    return NGX_OK;

full:

    if (new_count) {
        ngx_slab_free_locked(ctx->shpool, new_count);
    }

    if (new_users) {
        ngx_slab_free_locked(ctx->shpool, new_users);
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return NGX_DECLINED;
}


void
ngx_signal_presence_leave(ngx_str_t *name, ngx_str_t *user)
{
    uint32_t                   hash;
    ngx_uint_t                 slot;
    ngx_signal_zone_ctx_t     *ctx;
    ngx_signal_zone_room_t    *room;
    ngx_signal_zone_user_t    *u;
    ngx_signal_presence_t      p;
    ngx_signal_zone_count_t  **link, *count;

    ctx = ngx_signal_worker_zone->data;
    slot = ngx_signal_worker_slot;

    hash = ngx_crc32_short(name->data, name->len);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    room = ngx_signal_zone_lookup(ctx, name, hash);

    if (room == NULL || room->connections == 0) {
        /* counted nowhere: cannot happen while the slot is ours */
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return;
    }

    for (link = &room->counts; *link; link = &(*link)->next) {
        count = *link;

        if (count->slot == slot) {
            if (--count->connections == 0) {
                *link = count->next;
                room->slots &= ~ngx_signal_slot_bit(slot);
                ngx_slab_free_locked(ctx->shpool, count);
            }

            room->connections--;
            break;
        }
    }

    if (user->len) {
        u = ngx_signal_presence_user(room->users, user,
                                     ngx_crc32_short(user->data, user->len),
                                     slot);

        if (u && --u->connections == 0) {
            ngx_signal_presence_user_remove(ctx, room, u);
        }
    }

    if (room->connections == 0) {
        ngx_signal_presence_idle(ctx, room);
    }

    ngx_signal_presence_capture(ctx, room, name, &p);

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    if (ngx_signal_redis) {
        ngx_signal_redis_presence(&p);
    }
}


static void
ngx_signal_presence_user_remove(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_room_t *room, ngx_signal_zone_user_t *u)
{
    uint32_t   hash;
    ngx_str_t  name;

    /* ngx_rbtree_delete() clears the key */
    hash = (uint32_t) u->node.key;

    ngx_rbtree_delete(&room->users->tree, &u->node);

    name.data = u->name;
    name.len = u->len;

    if (ngx_signal_presence_user(room->users, &name, hash,
                                 NGX_SIGNAL_ANY_SLOT)
        == NULL)
    {
        room->nusers--;
    }

    ngx_slab_free_locked(ctx->shpool, u);
}


/* nobody is connected any more: the room may be forgotten for space */

static void
ngx_signal_presence_idle(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_room_t *room)
{
    if (room->users) {
        ngx_slab_free_locked(ctx->shpool, room->users);
        room->users = NULL;
    }

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

        p->room.data = ngx_pnalloc(pool, room->len);
        if (p->room.data == NULL) {
            a->nelts--;
            break;
        }

        ngx_memcpy(p->room.data, room->name, room->len);
        p->room.len = room->len;
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
    ngx_signal_zone_count_t  **link, *count;

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

        for (link = &room->counts; *link; link = &(*link)->next) {
            count = *link;

            if (count->slot == slot) {
                *link = count->next;
                room->connections -= count->connections;
                ngx_slab_free_locked(ctx->shpool, count);
                break;
            }
        }

        room->slots &= ~ngx_signal_slot_bit(slot);

        if (room->users
            && room->users->tree.root != room->users->tree.sentinel)
        {
            unode = ngx_rbtree_min(room->users->tree.root,
                                   room->users->tree.sentinel);

            for ( /* void */ ; unode; unode = unext) {
                unext = ngx_rbtree_next(&room->users->tree, unode);
                u = (ngx_signal_zone_user_t *) unode;

                if (u->slot == slot) {
                    ngx_signal_presence_user_remove(ctx, room, u);
                }
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

    for (i = 0; i + 1 < room->len; i++) {

        if (room->name[i] != ':' || i + 2 > sizeof(family)) {
            continue;
        }

        ngx_memcpy(family, room->name, i + 1);
        family[i + 1] = '*';
        fname.len = i + 2;

        fr = ngx_signal_zone_lookup(ctx, &fname,
                                    ngx_crc32_short(family, fname.len));
        if (fr) {
            mask |= fr->slots;
        }
    }

    return mask;
}


/*
 * GET on a signal_presence location: {"room":..., "connections":N,
 * "users":N}.  The room is the directive's value or the "room" argument.
 */

ngx_int_t
ngx_signal_presence_handler(ngx_http_request_t *r)
{
    u_char                 *dst, *src;
    ngx_int_t               rc;
    ngx_str_t               room, arg;
    const char             *err;
    ngx_signal_loc_conf_t  *slcf;

    if (ngx_signal_http_api_get(r, &rc) != NGX_OK) {
        return rc;
    }

    slcf = ngx_http_get_module_loc_conf(r, ngx_signal_module);

    if (slcf->presence_room) {
        if (ngx_http_complex_value(r, slcf->presence_room, &room) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else if (ngx_http_arg(r, (u_char *) "room", 4, &arg) == NGX_OK) {
        room.data = ngx_pnalloc(r->pool, arg.len);
        if (room.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        src = arg.data;
        dst = room.data;
        ngx_unescape_uri(&dst, &src, arg.len, 0);
        room.len = dst - room.data;

    } else {
        return ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST, "bad_room",
                                     "name the room: ?room=<name>");
    }

    err = ngx_signal_room_check(room.data, room.len,
                                slcf->max_name_length, 1);
    if (err) {
        return ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST, "bad_room",
                                     "room %s", err);
    }

    if (ngx_signal_redis) {
        rc = ngx_signal_redis_presence_get(r, &room);

        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    return ngx_signal_presence_local(r, &room);
}


/* this host's counts; "partial" when other hosts could not be asked */

ngx_int_t
ngx_signal_presence_local(ngx_http_request_t *r, ngx_str_t *room)
{
    uint32_t                 hash;
    ngx_uint_t               connections, users;
    ngx_signal_zone_ctx_t   *ctx;
    ngx_signal_zone_room_t  *zr;
    ngx_signal_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_signal_module);

    ctx = smcf->zone->data;
    hash = ngx_crc32_short(room->data, room->len);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    zr = ngx_signal_zone_lookup(ctx, room, hash);

    connections = zr ? zr->connections : 0;
    users = zr ? zr->nusers : 0;

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return ngx_signal_presence_answer(r, room, connections, users,
                                      ngx_signal_redis != NULL);
}


ngx_int_t
ngx_signal_presence_answer(ngx_http_request_t *r, ngx_str_t *room,
    ngx_uint_t connections, ngx_uint_t users, ngx_uint_t partial)
{
    u_char  *body, *p;

    body = ngx_pnalloc(r->pool, sizeof("{\"room\":\"\",\"connections\":,"
                                       "\"users\":,\"partial\":true}\n")
                                + room->len + 2 * NGX_INT_T_LEN);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the name rules keep it free of anything JSON would escape */

    p = ngx_sprintf(body, "{\"room\":\"%V\",\"connections\":%ui,"
                    "\"users\":%ui%s}\n", room, connections, users,
                    partial ? ",\"partial\":true" : "");

    return ngx_signal_http_send_json(r, NGX_HTTP_OK, body, p - body);
}
