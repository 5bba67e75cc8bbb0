
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
#include "ngx_signal.h"
#include "ngx_signal_redis.h"


static void ngx_signal_redis_presence_reply(redisAsyncContext *ac, void *r,
    void *privdata);
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

        for (i = 0; i < a->nelts; i++) {
            ngx_signal_redis_presence(&p[i]);
        }
    }

    ngx_destroy_pool(pool);
}


/*
 * This instance is alive (15 s) and known (an hour): presence counts the
 * fields of live instances and forgets those of instances long gone.
 */

void
ngx_signal_redis_heartbeat(ngx_event_t *ev)
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
ngx_signal_redis_presence(ngx_signal_presence_t *p)
{
    if (ngx_signal_redis_cmd.state != NGX_SIGNAL_REDIS_READY) {
        /* sent again, all of it, when the connection is back */
        return;
    }

    (void) redisAsyncCommand(ngx_signal_redis_cmd.ac, NULL, NULL,
                             "FCALL signal_presence_set 0 %b %s %llu %llu "
                             "%llu", p->room.data, p->room.len,
                             ngx_signal_zone_instance(ngx_signal_worker_zone),
                             (unsigned long long) p->connections,
                             (unsigned long long) p->users,
                             (unsigned long long) p->version);
}


/*
 * GET on a signal_presence location with the Redis engine: the counts of
 * every live instance; this host's alone ("partial") if Redis cannot say.
 */

ngx_int_t
ngx_signal_redis_presence_get(ngx_http_request_t *r, ngx_str_t *room)
{
    int                      rc;
    ngx_signal_redis_pub_t  *q;

    if (ngx_signal_redis_cmd.state != NGX_SIGNAL_REDIS_READY) {
        return NGX_DECLINED;
    }

    q = ngx_calloc(sizeof(ngx_signal_redis_pub_t), r->connection->log);
    if (q == NULL) {
        return NGX_DECLINED;
    }

    q->request = r;
    q->room = *room;

    rc = redisAsyncCommand(ngx_signal_redis_cmd.ac,
                           ngx_signal_redis_presence_reply, q,
                           "FCALL signal_presence_get 0 %b", room->data,
                           room->len);
    if (rc != REDIS_OK) {
        ngx_free(q);
        return NGX_DECLINED;
    }

    q->timer.handler = ngx_signal_redis_presence_timeout;
    q->timer.data = q;
    q->timer.log = r->connection->log;
    ngx_add_timer(&q->timer, ngx_signal_redis->command_timeout);

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_signal_redis_presence_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply              *reply = r;
    ngx_signal_redis_pub_t  *q = privdata;

    ngx_str_t            room;
    ngx_http_request_t  *req;

    req = q->request;
    room = q->room;

    if (q->timer.timer_set) {
        ngx_del_timer(&q->timer);
    }

    ngx_free(q);

    if (req == NULL) {
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || reply->element[1]->type != REDIS_REPLY_INTEGER)
    {
        ngx_http_finalize_request(req, ngx_signal_presence_local(req, &room));
        return;
    }

    ngx_http_finalize_request(req,
        ngx_signal_presence_answer(req, &room,
                                   (ngx_uint_t) reply->element[0]->integer,
                                   (ngx_uint_t) reply->element[1]->integer,
                                   0));
}


static void
ngx_signal_redis_presence_timeout(ngx_event_t *ev)
{
    ngx_signal_redis_pub_t  *q = ev->data;

    ngx_http_request_t  *r;

    r = q->request;
    q->request = NULL;

    ngx_http_finalize_request(r, ngx_signal_presence_local(r, &q->room));
}
