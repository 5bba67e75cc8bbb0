
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Presence across hosts with the Redis engine: each instance keeps its
 * counts per room in signal:presence:<room> (one versioned field per
 * instance, written on every change and in full after a reconnect) and
 * says it is alive; a presence request sums the live instances.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_redis.h"
#include "ngx_signal_presence.h"
#include "ngx_signal_zone.h"


static void ngx_signal_redis_presence_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_signal_redis_presence_send(ngx_signal_presence_t *p);
static void ngx_signal_redis_presence_sent(redisAsyncContext *ac, void *r,
    void *privdata);


/* presence updates Redis has not answered yet, and at most */
#define NGX_SIGNAL_REDIS_PRESENCE_INFLIGHT  4096

static ngx_uint_t  ngx_signal_redis_presence_inflight;
static ngx_uint_t  ngx_signal_redis_presence_behind;
static void ngx_signal_redis_presence_timeout(ngx_event_t *ev);


/* every room of the zone, for a command connection that (re)connected */

void
ngx_signal_redis_presence_resync(void)
{
    ngx_uint_t              i;
    ngx_pool_t             *pool;
    ngx_array_t            *a;
    ngx_signal_presence_t  *p;

    pool = ngx_create_pool(4096, ngx_cycle->log);
    if (pool == NULL) {
        return;
    }

    a = ngx_signal_presence_snapshot(pool);

    if (a) {
        p = a->elts;

        ngx_signal_redis_presence_behind = 0;

        for (i = 0; i < a->nelts && ngx_signal_redis_cmd.ac; i++) {
            ngx_signal_redis_presence_send(&p[i]);
        }
    }

    ngx_destroy_pool(pool);
}


/*
 * An update answered (or dropped with the connection): once none is left
 * and some were not sent, everything is sent again.
 */

static void
ngx_signal_redis_presence_sent(redisAsyncContext *ac, void *r,
    void *privdata)
{
    ngx_signal_redis_presence_inflight--;

    if (r && ngx_signal_redis_presence_inflight == 0
        && ngx_signal_redis_presence_behind)
    {
        ngx_signal_redis_presence_resync();
    }
}


/*
 * This instance is alive (15 s) and known (an hour): presence counts the
 * fields of live instances and forgets those of instances long gone.
 */

void
ngx_signal_redis_presence_heartbeat(ngx_event_t *ev)
{
    u_char  *id;

    if (!ev->timer_set) {
        ngx_add_timer(ev, NGX_SIGNAL_REDIS_HEARTBEAT);
    }

    if (ngx_signal_redis_cmd.state != NGX_SIGNAL_REDIS_READY) {
        return;
    }

    id = ngx_signal_zone_instance(ngx_signal_worker_zone);

    (void) redisAsyncCommand(ngx_signal_redis_cmd.ac, NULL, NULL,
                             "SET signal:alive:%s 1 PX %d", id,
                             3 * NGX_SIGNAL_REDIS_HEARTBEAT);
    (void) redisAsyncCommand(ngx_signal_redis_cmd.ac, NULL, NULL,
                             "SET signal:known:%s 1 PX 3600000", id);
}


/* a room's counts on this host changed: fire and forget, versioned */

void
ngx_signal_redis_presence_put(ngx_signal_presence_t *p)
{
    if (ngx_signal_redis_cmd.state != NGX_SIGNAL_REDIS_READY
        || ngx_signal_redis_presence_inflight
           >= NGX_SIGNAL_REDIS_PRESENCE_INFLIGHT)
    {
        /* sent again, all of it, when the connection is back */
        ngx_signal_redis_presence_behind = 1;
        return;
    }

    ngx_signal_redis_presence_send(p);
}


static void
ngx_signal_redis_presence_send(ngx_signal_presence_t *p)
{
    ngx_signal_redis_presence_inflight++;

    if (redisAsyncCommand(ngx_signal_redis_cmd.ac,
                          ngx_signal_redis_presence_sent, NULL,
                          "FCALL signal_presence_set 0 %b %s %llu %llu "
                          "%llu", p->room.data, p->room.len,
                          ngx_signal_zone_instance(ngx_signal_worker_zone),
                          (unsigned long long) p->connections,
                          (unsigned long long) p->users,
                          (unsigned long long) p->version)
        != REDIS_OK)
    {
        ngx_signal_redis_presence_inflight--;
        ngx_signal_redis_presence_behind = 1;
    }
}


/*
 * The counts of a room over every live instance; this host's alone
 * ("partial") if Redis cannot say.
 */

ngx_int_t
ngx_signal_redis_presence_get(ngx_signal_presence_query_t *q)
{
    int                          rc;
    ngx_signal_redis_pending_t  *pending;

    if (ngx_signal_redis_cmd.state != NGX_SIGNAL_REDIS_READY) {
        goto local;
    }

    pending = ngx_signal_redis_pending(q->log,
                                       ngx_signal_redis_presence_timeout);
    if (pending == NULL) {
        goto local;
    }

    pending->query = q;

    rc = redisAsyncCommand(ngx_signal_redis_cmd.ac,
                           ngx_signal_redis_presence_reply, pending,
                           "FCALL signal_presence_get 0 %b", q->room.data,
                           q->room.len);
    if (rc != REDIS_OK) {
        ngx_free(pending);
        goto local;
    }

    ngx_add_timer(&pending->timer, ngx_signal_redis->command_timeout);

    return NGX_AGAIN;

local:

    ngx_signal_presence_count(q);
    q->partial = 1;

    return NGX_OK;
}


static void
ngx_signal_redis_presence_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply                  *reply = r;
    ngx_signal_redis_pending_t  *pending = privdata;

    ngx_signal_presence_query_t  *q;

    q = pending->query;

    if (pending->timer.timer_set) {
        ngx_del_timer(&pending->timer);
    }

    ngx_free(pending);

    if (q == NULL) {
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || reply->element[1]->type != REDIS_REPLY_INTEGER)
    {
        ngx_signal_presence_count(q);
        q->partial = 1;

    } else {
        q->connections = (ngx_uint_t) reply->element[0]->integer;
        q->users = (ngx_uint_t) reply->element[1]->integer;
    }

    q->done(q);
}


static void
ngx_signal_redis_presence_timeout(ngx_event_t *ev)
{
    ngx_signal_redis_pending_t  *pending = ev->data;

    ngx_signal_presence_query_t  *q;

    q = pending->query;
    pending->query = NULL;

    ngx_signal_presence_count(q);
    q->partial = 1;

    q->done(q);
}
