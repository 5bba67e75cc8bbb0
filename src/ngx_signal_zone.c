
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The shared memory zone (signal_zone): its directive and initialisation,
 * the name trees, the room nodes (kept in LRU order while nobody is in
 * them; the least recently published are forgotten when the zone needs
 * room), the worker slots.  The event log is ngx_signal_zone_log.c's.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_zone_sh.h"
#include "ngx_signal_presence.h"




ngx_shm_zone_t             *ngx_signal_worker_zone;
ngx_int_t                   ngx_signal_worker_slot = NGX_ERROR;
ngx_atomic_uint_t           ngx_signal_worker_generation;
ngx_signal_stats_t         *ngx_signal_stats;
ngx_signal_worker_stats_t  *ngx_signal_worker_stats;


static ngx_int_t ngx_signal_zone_percent(ngx_conf_t *cf, ngx_str_t *value,
    char *name, ngx_uint_t min, ngx_uint_t max, ngx_uint_t *percent);
static ngx_int_t ngx_signal_zone_init(ngx_shm_zone_t *shm_zone, void *data);
static void ngx_signal_zone_limits(ngx_signal_zone_ctx_t *ctx);


/*
 * signal_zone name:size [reserve=N%] [anonymous=N%] [user=N%];
 */

char *
ngx_signal_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_signal_main_conf_t *smcf = conf;

    u_char                 *p;
    ssize_t                 size;
    ngx_str_t              *value, name, s;
    ngx_uint_t              i;
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

    ctx->reserve = 25;
    ctx->anonymous = 50;
    ctx->user = 10;

    for (i = 2; i < cf->args->nelts; i++) {
        if (ngx_signal_zone_percent(cf, &value[i], "reserve=", 0, 90,
                                    &ctx->reserve)
            == NGX_OK
            || ngx_signal_zone_percent(cf, &value[i], "anonymous=", 1, 100,
                                       &ctx->anonymous)
               == NGX_OK
            || ngx_signal_zone_percent(cf, &value[i], "user=", 1, 100,
                                       &ctx->user)
               == NGX_OK)
        {
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" of signal_zone: use "
                           "reserve=N%% (0-90), anonymous=N%% (1-100), "
                           "user=N%% (1-100)", &value[i]);
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


/* "name=N%": NGX_OK, NGX_DECLINED for another parameter, or refused */

static ngx_int_t
ngx_signal_zone_percent(ngx_conf_t *cf, ngx_str_t *value, char *name,
    ngx_uint_t min, ngx_uint_t max, ngx_uint_t *percent)
{
    size_t     len;
    ngx_int_t  n;

    len = ngx_strlen(name);

    if (value->len <= len || ngx_strncmp(value->data, name, len) != 0) {
        return NGX_DECLINED;
    }

    n = NGX_ERROR;

    if (value->data[value->len - 1] == '%') {
        n = ngx_atoi(value->data + len, value->len - len - 1);
    }

    if (n == NGX_ERROR || (ngx_uint_t) n < min || (ngx_uint_t) n > max) {
        return NGX_DECLINED;
    }

    *percent = n;

    return NGX_OK;
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

        if (ctx->sh->magic != NGX_SIGNAL_ZONE_MAGIC) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "signal_zone \"%V\" was made by another version "
                          "of ngx_signal_module: restart nginx (or change "
                          "the zone's size) to use this one",
                          &shm_zone->shm.name);
            return NGX_ERROR;
        }

        /* tells the old workers they are being replaced, not stopped */
        (void) ngx_atomic_fetch_add(&ctx->sh->generation, 1);

        ngx_signal_zone_limits(ctx);

        return NGX_OK;
    }

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    ngx_signal_zone_limits(ctx);

    if (shm_zone->shm.exists) {
        ctx->sh = ctx->shpool->data;
        return NGX_OK;
    }

    ctx->sh = ngx_slab_calloc(ctx->shpool, sizeof(ngx_signal_zone_sh_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ctx->shpool->data = ctx->sh;

    ctx->sh->magic = NGX_SIGNAL_ZONE_MAGIC;

    ngx_rbtree_init(&ctx->sh->rbtree, &ctx->sh->sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_queue_init(&ctx->sh->lru);

    ngx_rbtree_init(&ctx->sh->seen, &ctx->sh->seen_sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_queue_init(&ctx->sh->seen_queue);

    ngx_rbtree_init(&ctx->sh->accounts, &ctx->sh->accounts_sentinel,
                    ngx_str_rbtree_insert_value);

    /* a new zone numbers rooms afresh: their epochs are new ones */
    ngx_queue_init(&ctx->sh->history);
    ctx->sh->epoch_base = ((uint64_t) ngx_random() << 32
                           ^ (uint64_t) ngx_random() << 8
                           ^ (uint64_t) ngx_time())
                          & 0x7fffffffff000000ULL;

    /* a new id for every new zone: a restarted nginx is another instance */

    (void) ngx_snprintf(ctx->sh->instance, NGX_SIGNAL_INSTANCE_LEN + 1,
                        "%08xD%08xD%Z", (uint32_t) ngx_random(),
                        (uint32_t) (ngx_random() ^ ngx_time()));

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


/* the byte limits of the presence quota, from this cycle's percents */

static void
ngx_signal_zone_limits(ngx_signal_zone_ctx_t *ctx)
{
    size_t  usable;

    usable = ctx->shpool->end - ctx->shpool->start;

    ctx->presence_max = usable / 100 * (100 - ctx->reserve);
    ctx->anonymous_max = usable / 100 * ctx->anonymous;
    ctx->user_max = usable / 100 * ctx->user;
}


/*
 * A node of a name tree, its key copied in at offset (the key bytes at
 * the end of the node); not inserted.  Under the lock.
 */

void *
ngx_signal_zone_node_alloc(ngx_signal_zone_ctx_t *ctx, size_t offset,
    ngx_str_t *key)
{
    u_char          *p;
    ngx_str_node_t  *sn;

    p = ngx_slab_alloc_locked(ctx->shpool, offset + key->len);
    if (p == NULL) {
        return NULL;
    }

    ngx_memzero(p, offset);
    ngx_memcpy(p + offset, key->data, key->len);

    sn = (ngx_str_node_t *) p;
    sn->str.data = p + offset;
    sn->str.len = key->len;
    sn->node.key = ngx_crc32_short(key->data, key->len);

    return p;
}


void *
ngx_signal_zone_node_find(ngx_rbtree_t *tree, ngx_str_t *key)
{
    return ngx_str_rbtree_lookup(tree, key,
                                 ngx_crc32_short(key->data, key->len));
}


ngx_signal_zone_room_t *
ngx_signal_zone_lookup(ngx_signal_zone_ctx_t *ctx, ngx_str_t *name)
{
    return ngx_signal_zone_node_find(&ctx->sh->rbtree, name);
}


/*
 * Under the lock; forgets the least recently published rooms nobody is
 * connected to when it needs space.  A new room is idle (in the LRU).
 */

ngx_signal_zone_room_t *
ngx_signal_zone_create(ngx_signal_zone_ctx_t *ctx, ngx_str_t *name)
{
    ngx_uint_t               evicted;
    ngx_signal_zone_room_t  *room;

    for (evicted = 0; /* void */ ; evicted++) {

        room = ngx_signal_zone_node_alloc(ctx,
                                     offsetof(ngx_signal_zone_room_t, name),
                                     name);
        if (room) {
            break;
        }

        /*
         * Slab pages are per size class: small rooms may have to go
         * before a page frees up for a larger one.  Bounded, as this
         * runs under the lock.
         */

        if (evicted == NGX_SIGNAL_ZONE_MAX_EVICT
            || ngx_signal_zone_reclaim(ctx) != NGX_OK)
        {
            return NULL;
        }
    }

    /* a room numbered from 1 again is another epoch */
    room->epoch = ctx->sh->epoch_base + ++ctx->sh->rooms_made;
    room->covered = 1;
    ngx_queue_init(&room->history);

    ngx_rbtree_insert(&ctx->sh->rbtree, &room->sn.node);
    ngx_queue_insert_tail(&ctx->sh->lru, &room->lru);
    ctx->sh->stats.rooms++;

    return room;
}


/*
 * Under the lock: forget the least recently published room nobody is
 * connected to.  NGX_DECLINED when there is none, or when it is used by
 * the operation under way (the whole zone is that operation).
 */

ngx_int_t
ngx_signal_zone_evict(ngx_signal_zone_ctx_t *ctx)
{
    ngx_queue_t             *q;
    ngx_signal_zone_room_t  *old;

    if (ngx_queue_empty(&ctx->sh->lru)) {
        return NGX_DECLINED;
    }

    q = ngx_queue_head(&ctx->sh->lru);
    old = ngx_queue_data(q, ngx_signal_zone_room_t, lru);

    if (old->batch == ctx->sh->batch) {
        return NGX_DECLINED;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "signal: zone full, forgetting idle room \"%V\"",
                   &old->sn.str);

    ngx_queue_remove(q);
    ngx_signal_zone_history_forget(ctx, old);
    ngx_rbtree_delete(&ctx->sh->rbtree, &old->sn.node);
    ngx_slab_free_locked(ctx->shpool, old);
    ctx->sh->stats.rooms--;

    return NGX_OK;
}


/*
 * Under the lock: space for an allocation that failed, from what matters
 * least: history past its age, then the oldest history, then rooms
 * nobody is in (their seq goes, and they come back with a new epoch).
 */

ngx_int_t
ngx_signal_zone_reclaim(ngx_signal_zone_ctx_t *ctx)
{
    if (ngx_signal_zone_history_drop_oldest(ctx, 1) == NGX_OK
        || ngx_signal_zone_history_drop_oldest(ctx, 0) == NGX_OK)
    {
        return NGX_OK;
    }

    return ngx_signal_zone_evict(ctx);
}


ngx_signal_stats_t *
ngx_signal_zone_stats(ngx_shm_zone_t *zone)
{
    ngx_signal_zone_ctx_t  *ctx = zone->data;

    return &ctx->sh->stats;
}


void
ngx_signal_zone_usage(ngx_shm_zone_t *zone, ngx_signal_zone_usage_t *u)
{
    ngx_uint_t              pages;
    ngx_signal_zone_ctx_t  *ctx = zone->data;

    pages = (ctx->shpool->end - ctx->shpool->start) / ngx_pagesize;

    u->size = zone->shm.size;
    u->used = (pages - ctx->shpool->pfree) * ngx_pagesize;

    /* read without the lock: a snapshot for a person */
    u->presence = ctx->sh->presence_bytes;
    u->presence_max = ctx->presence_max;
    u->anonymous = ctx->sh->anonymous_bytes;
    u->anonymous_max = ctx->anonymous_max;
}


/*
 * A worker takes a pid-tagged slot in the zone: its bit in the interest
 * masks, its eventfd on the bus, its connection count and log cursor.
 * The slots of workers that died (SIGKILL, crash) are freed first, with
 * their presence counts, so they neither count nor hold back the log.
 */

ngx_int_t
ngx_signal_zone_worker_start(ngx_cycle_t *cycle)
{
    ngx_uint_t                  i;
    ngx_atomic_uint_t           pid;
    ngx_signal_zone_sh_t       *sh;
    ngx_signal_zone_ctx_t      *ctx;
    ngx_signal_main_conf_t     *smcf;
    ngx_signal_worker_stats_t  *w;

    smcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_signal_module);

    if (smcf == NULL || smcf->zone == NULL) {
        return NGX_OK;
    }

    ctx = smcf->zone->data;
    sh = ctx->sh;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    for (i = 0; i < NGX_SIGNAL_STATUS_WORKERS; i++) {
        pid = sh->stats.workers[i].pid;

        if (pid != 0 && pid != (ngx_atomic_uint_t) ngx_pid
            && kill((ngx_pid_t) pid, 0) == -1 && ngx_errno == NGX_ESRCH)
        {
            ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                          "signal: worker %P is gone, freeing its slot",
                          (ngx_pid_t) pid);

            ngx_signal_presence_purge(ctx, i);
            sh->stats.workers[i].connections = 0;
            sh->stats.workers[i].pid = 0;
        }
    }

    for (i = 0; i < NGX_SIGNAL_STATUS_WORKERS; i++) {
        w = &sh->stats.workers[i];

        if (w->pid == 0) {
            w->pid = ngx_pid;
            w->connections = 0;
            w->wakeups = 0;
            w->redis_command = 0;
            w->redis_subscriber = 0;
            w->cursor = sh->last_id;   /* reads what comes from now on */

            ngx_signal_worker_stats = w;
            ngx_signal_worker_slot = i;
            ngx_signal_worker_generation = sh->generation;
            break;
        }
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    ngx_signal_stats = &sh->stats;
    ngx_signal_worker_zone = smcf->zone;

    if (ngx_signal_worker_stats == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "signal: more than %d worker processes share "
                      "signal_zone \"%V\" (old ones during a reload count "
                      "too); this worker refuses WebSocket connections",
                      NGX_SIGNAL_STATUS_WORKERS, &smcf->zone->shm.name);
    }

    return NGX_OK;
}


void
ngx_signal_zone_worker_exit(void)
{
    ngx_signal_zone_ctx_t  *ctx;

    if (ngx_signal_worker_stats) {
        ctx = ngx_signal_worker_zone->data;

        ngx_shmtx_lock(&ctx->shpool->mutex);

        /* normally nothing is left: every connection has left its rooms */
        ngx_signal_presence_purge(ctx, ngx_signal_worker_slot);

        ngx_signal_worker_stats->connections = 0;
        ngx_signal_worker_stats->pid = 0;

        ngx_shmtx_unlock(&ctx->shpool->mutex);
    }

    ngx_signal_worker_stats = NULL;
    ngx_signal_worker_slot = NGX_ERROR;
    ngx_signal_worker_zone = NULL;
    ngx_signal_stats = NULL;
}


u_char *
ngx_signal_zone_instance(ngx_shm_zone_t *zone)
{
    ngx_signal_zone_ctx_t  *ctx = zone->data;

    return ctx->sh->instance;
}


/* the reload count: a worker that sees it change is being replaced */

ngx_atomic_uint_t
ngx_signal_zone_generation(ngx_shm_zone_t *zone)
{
    ngx_signal_zone_ctx_t  *ctx = zone->data;

    return ctx->sh->generation;
}
