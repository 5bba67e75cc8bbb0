
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The shared memory zone (signal_zone): the per-room sequence numbers that
 * every worker shares, kept across reloads.  A batch gets all its numbers
 * under one lock or none of them, so a publish is never half-applied.
 * Rooms are kept in LRU order; the least recently published are forgotten
 * when the zone needs room.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal.h"


typedef struct {
    ngx_rbtree_node_t       node;        /* key: crc32 of the name */
    ngx_queue_t             lru;
    uint64_t                seq;
    uint64_t                batch;       /* last batch that used it */
    u_short                 len;
    u_char                  name[1];
} ngx_signal_zone_room_t;


typedef struct {
    ngx_rbtree_t            rbtree;
    ngx_rbtree_node_t       sentinel;
    ngx_queue_t             lru;
    uint64_t                batch;

    /* the event log: every (event, room) in publish order */
    ngx_signal_record_t    *head;
    ngx_signal_record_t    *tail;
    uint64_t                last_id;

    ngx_signal_stats_t      stats;
} ngx_signal_zone_sh_t;


typedef struct {
    ngx_signal_zone_sh_t   *sh;
    ngx_slab_pool_t        *shpool;
} ngx_signal_zone_ctx_t;


static ngx_int_t ngx_signal_zone_init(ngx_shm_zone_t *shm_zone, void *data);
static void ngx_signal_zone_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_signal_zone_room_t *ngx_signal_zone_lookup(
    ngx_signal_zone_ctx_t *ctx, ngx_str_t *name, uint32_t hash);
static ngx_signal_zone_room_t *ngx_signal_zone_create(
    ngx_signal_zone_ctx_t *ctx, ngx_str_t *name, uint32_t hash);
static ngx_int_t ngx_signal_zone_append(ngx_signal_zone_ctx_t *ctx,
    ngx_array_t *events, uint64_t *seqs);
static void ngx_signal_zone_log_gc(ngx_signal_zone_ctx_t *ctx);


char *
ngx_signal_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_signal_main_conf_t *smcf = conf;

    u_char                 *p;
    ssize_t                 size;
    ngx_str_t              *value, name, s;
    ngx_signal_zone_ctx_t  *ctx;

    if (smcf->zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    p = (u_char *) ngx_strchr(value[1].data, ':');

    if (p == NULL || p == value[1].data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\", expected name:size, "
                           "e.g. signal:32m", &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data;
    name.len = p - value[1].data;

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small: give it at least %uz",
                           &value[1], 8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_signal_zone_ctx_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    smcf->zone = ngx_shared_memory_add(cf, &name, size, &ngx_signal_module);
    if (smcf->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (smcf->zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used by another module "
                           "or directive", &name);
        return NGX_CONF_ERROR;
    }

    smcf->zone->init = ngx_signal_zone_init;
    smcf->zone->data = ctx;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_signal_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_signal_zone_ctx_t  *octx = data;

    size_t                  len;
    ngx_signal_zone_ctx_t  *ctx;

    ctx = shm_zone->data;

    if (octx) {
        /* a reload: keep the rooms and their numbers */
        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;
        return NGX_OK;
    }

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ctx->sh = ctx->shpool->data;
        return NGX_OK;
    }

    ctx->sh = ngx_slab_calloc(ctx->shpool, sizeof(ngx_signal_zone_sh_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ctx->shpool->data = ctx->sh;

    ngx_rbtree_init(&ctx->sh->rbtree, &ctx->sh->sentinel,
                    ngx_signal_zone_rbtree_insert);
    ngx_queue_init(&ctx->sh->lru);

    len = sizeof(" in signal_zone \"\"") + shm_zone->shm.name.len;

    ctx->shpool->log_ctx = ngx_slab_alloc(ctx->shpool, len);
    if (ctx->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ctx->shpool->log_ctx, " in signal_zone \"%V\"%Z",
                &shm_zone->shm.name);

    ctx->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_signal_zone_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t       **p;
    ngx_signal_zone_room_t   *r, *rt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            r = (ngx_signal_zone_room_t *) node;
            rt = (ngx_signal_zone_room_t *) temp;

            p = (ngx_memn2cmp(r->name, rt->name, r->len, rt->len) < 0)
                ? &temp->left : &temp->right;
        }

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


static ngx_signal_zone_room_t *
ngx_signal_zone_lookup(ngx_signal_zone_ctx_t *ctx, ngx_str_t *name,
    uint32_t hash)
{
    ngx_int_t                rc;
    ngx_rbtree_node_t       *node, *sentinel;
    ngx_signal_zone_room_t  *room;

    node = ctx->sh->rbtree.root;
    sentinel = ctx->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        room = (ngx_signal_zone_room_t *) node;

        rc = ngx_memn2cmp(name->data, room->name, name->len, room->len);

        if (rc == 0) {
            return room;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/* under the lock; forgets the least recently published rooms for space */

static ngx_signal_zone_room_t *
ngx_signal_zone_create(ngx_signal_zone_ctx_t *ctx, ngx_str_t *name,
    uint32_t hash)
{
    size_t                   size;
    ngx_uint_t               evicted;
    ngx_queue_t             *q;
    ngx_signal_zone_room_t  *room, *old;

    size = offsetof(ngx_signal_zone_room_t, name) + name->len;

    for (evicted = 0; /* void */ ; evicted++) {

        room = ngx_slab_alloc_locked(ctx->shpool, size);
        if (room) {
            break;
        }

        if (ngx_queue_empty(&ctx->sh->lru) || evicted == 64) {
            return NULL;
        }

        q = ngx_queue_head(&ctx->sh->lru);
        old = ngx_queue_data(q, ngx_signal_zone_room_t, lru);

        if (old->batch == ctx->sh->batch) {
            /* the whole zone is this batch: it does not fit */
            return NULL;
        }

        ngx_queue_remove(q);
        ngx_rbtree_delete(&ctx->sh->rbtree, &old->node);
        ngx_slab_free_locked(ctx->shpool, old);
        ctx->sh->stats.rooms--;
    }

    room->node.key = hash;
    room->seq = 0;
    room->batch = 0;
    room->len = (u_short) name->len;
    ngx_memcpy(room->name, name->data, name->len);

    ngx_rbtree_insert(&ctx->sh->rbtree, &room->node);
    ngx_queue_insert_tail(&ctx->sh->lru, &room->lru);
    ctx->sh->stats.rooms++;

    return room;
}


/*
 * The next seq of every (event, room) of a batch, in order, into seqs.
 * All or nothing: NGX_DECLINED when the zone cannot hold the batch's
 * rooms, with every number given back.
 */

ngx_int_t
ngx_signal_zone_assign(ngx_shm_zone_t *zone, ngx_array_t *events,
    uint64_t *seqs)
{
    uint32_t                 hash;
    ngx_uint_t               i, j, n;
    ngx_signal_event_t      *ev;
    ngx_signal_zone_ctx_t   *ctx;
    ngx_signal_zone_room_t  *room, **rooms;

    ctx = zone->data;
    ev = events->elts;

    n = 0;
    for (i = 0; i < events->nelts; i++) {
        n += ev[i].nrooms;
    }

    /* the room of each number, to give numbers back on failure */

    rooms = ngx_alloc(n * sizeof(ngx_signal_zone_room_t *), ngx_cycle->log);
    if (rooms == NULL) {
        return NGX_ERROR;
    }

    n = 0;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    ctx->sh->batch++;

    for (i = 0; i < events->nelts; i++) {
        for (j = 0; j < ev[i].nrooms; j++) {

            hash = ngx_crc32_short(ev[i].rooms[j].data, ev[i].rooms[j].len);

            room = ngx_signal_zone_lookup(ctx, &ev[i].rooms[j], hash);

            if (room == NULL) {
                room = ngx_signal_zone_create(ctx, &ev[i].rooms[j], hash);

                if (room == NULL) {
                    goto full;
                }

            } else {
                ngx_queue_remove(&room->lru);
                ngx_queue_insert_tail(&ctx->sh->lru, &room->lru);
            }

            room->batch = ctx->sh->batch;
            rooms[n] = room;
            seqs[n++] = ++room->seq;
        }
    }

    /* the log order is the seq order: append under the same lock */

    if (ngx_signal_zone_append(ctx, events, seqs) != NGX_OK) {
        goto full;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    ngx_free(rooms);

    return NGX_OK;

full:

    /* rooms this batch used are never evicted by it: give numbers back */

    while (n--) {
        rooms[n]->seq--;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    ngx_free(rooms);

    return NGX_DECLINED;
}


ngx_signal_stats_t *
ngx_signal_zone_stats(ngx_shm_zone_t *zone)
{
    ngx_signal_zone_ctx_t  *ctx = zone->data;

    return &ctx->sh->stats;
}


void
ngx_signal_zone_usage(ngx_shm_zone_t *zone, size_t *size, size_t *used)
{
    ngx_uint_t              pages;
    ngx_signal_zone_ctx_t  *ctx = zone->data;

    pages = (ctx->shpool->end - ctx->shpool->start) / ngx_pagesize;

    *size = zone->shm.size;
    *used = (pages - ctx->shpool->pfree) * ngx_pagesize;
}


/*
 * Under the lock: one record per (event, room), linked only when all of
 * them could be allocated.
 */

static ngx_int_t
ngx_signal_zone_append(ngx_signal_zone_ctx_t *ctx, ngx_array_t *events,
    uint64_t *seqs)
{
    size_t                size;
    u_char               *p;
    ngx_uint_t            i, j, n, retried;
    ngx_signal_event_t   *ev;
    ngx_signal_record_t  *first, *last, *rec;

    ev = events->elts;
    first = NULL;
    last = NULL;
    n = 0;
    retried = 0;

    for (i = 0; i < events->nelts; i++) {
        for (j = 0; j < ev[i].nrooms; j++) {

            size = offsetof(ngx_signal_record_t, data) + ev[i].rooms[j].len
                   + ev[i].event.len + ev[i].data.len;

            for ( ;; ) {
                rec = ngx_slab_alloc_locked(ctx->shpool, size);

                if (rec || retried) {
                    break;
                }

                /* make space from what every worker has read */
                ngx_signal_zone_log_gc(ctx);
                retried = 1;
            }

            if (rec == NULL) {
                while (first) {
                    rec = first->next;
                    ngx_slab_free_locked(ctx->shpool, first);
                    first = rec;
                }

                return NGX_DECLINED;
            }

            rec->next = NULL;
            rec->id = ctx->sh->last_id + 1 + n;
            rec->seq = seqs[n++];
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

    /* readers follow "next" without the lock: publish complete records */

    ngx_memory_barrier();

    if (ctx->sh->tail) {
        ctx->sh->tail->next = first;

    } else {
        ctx->sh->head = first;
    }

    ctx->sh->tail = last;
    ctx->sh->last_id += n;

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
        ngx_slab_free_locked(ctx->shpool, rec);
    }

    if (ctx->sh->head == NULL) {
        ctx->sh->tail = NULL;
    }
}


/* a worker starts reading the log where it ends now */

ngx_signal_record_t *
ngx_signal_zone_log_start(ngx_shm_zone_t *zone, ngx_atomic_t *cursor)
{
    ngx_signal_record_t    *rec;
    ngx_signal_zone_ctx_t  *ctx = zone->data;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    *cursor = ctx->sh->last_id;
    rec = ctx->sh->tail;

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return rec;
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
