
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The Redis engine.  A publish is one FCALL of the signal_publish
 * function (loaded by every command connection): Redis gives each
 * (event, room) the next seq of "signal:seq:<room>" and publishes
 * "<seq> <event> <data>" on "signal:r:<room>", atomically for the whole
 * batch.  The subscriber side is ngx_signal_redis_sub.c, presence across
 * hosts ngx_signal_redis_presence.c, the connections
 * ngx_signal_redis_link.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_log.h"
#include "ngx_signal_redis.h"
#include "ngx_signal_rooms.h"
#include "ngx_signal_zone.h"


static ngx_int_t ngx_signal_redis_init_worker(ngx_cycle_t *cycle);
static void ngx_signal_redis_exit_worker(void);
static ngx_int_t ngx_signal_redis_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_signal_redis_publish(ngx_signal_publish_t *pub);
static void ngx_signal_redis_published(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_signal_redis_publish_result(ngx_signal_publish_t *pub,
    redisReply *reply);
static void ngx_signal_redis_publish_timeout(ngx_event_t *ev);
static void ngx_signal_redis_fail(ngx_signal_publish_t *pub,
    ngx_uint_t result, const char *error, const char *detail);
static void ngx_signal_redis_cmd_ready(ngx_signal_redis_link_t *link);
static void ngx_signal_redis_cmd_down(ngx_signal_redis_link_t *link);
static u_char *ngx_signal_redis_status(u_char *p, u_char *last,
    ngx_signal_worker_stats_t *w);


ngx_signal_engine_t  ngx_signal_redis_engine = {
    "redis",
    0,
    ngx_signal_redis_init_module,
    ngx_signal_redis_init_worker,
    ngx_signal_redis_exit_worker,
    ngx_signal_redis_publish,
    ngx_signal_redis_sub_interest,
    ngx_signal_redis_sub_confirmed,
    ngx_signal_redis_presence_put,
    ngx_signal_redis_presence_get,
    ngx_signal_redis_history,
    ngx_signal_redis_status
};


ngx_signal_redis_conf_t          *ngx_signal_redis;

ngx_signal_redis_link_t           ngx_signal_redis_cmd;
ngx_signal_redis_link_t           ngx_signal_redis_sub;

static ngx_event_t                ngx_signal_redis_heartbeat_ev;


static ngx_int_t
ngx_signal_redis_init_module(ngx_cycle_t *cycle)
{
    return NGX_OK;
}


static ngx_int_t
ngx_signal_redis_init_worker(ngx_cycle_t *cycle)
{
    ngx_signal_main_conf_t  *smcf;

    smcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_signal_module);

    ngx_signal_redis = smcf->redis;
    ngx_signal_redis_engine.ready_timeout = smcf->redis->command_timeout;

    ngx_signal_redis_subs_init();

    ngx_signal_redis_cmd.name = "command";
    ngx_signal_redis_cmd.conf = smcf->redis;
    ngx_signal_redis_cmd.ready = ngx_signal_redis_cmd_ready;
    ngx_signal_redis_cmd.down = ngx_signal_redis_cmd_down;

    ngx_signal_redis_sub.name = "subscriber";
    ngx_signal_redis_sub.conf = smcf->redis;
    ngx_signal_redis_sub.subscriber = 1;
    ngx_signal_redis_sub.alive = ngx_signal_redis_sub_alive;
    ngx_signal_redis_sub.ready = ngx_signal_redis_sub_ready;
    ngx_signal_redis_sub.down = ngx_signal_redis_sub_down;

    ngx_signal_redis_heartbeat_ev.handler = ngx_signal_redis_presence_heartbeat;
    ngx_signal_redis_heartbeat_ev.data = &ngx_signal_no_connection;
    ngx_signal_redis_heartbeat_ev.log = cycle->log;
    ngx_signal_redis_heartbeat_ev.cancelable = 1;

    ngx_signal_redis_link_start(&ngx_signal_redis_cmd);
    ngx_signal_redis_link_start(&ngx_signal_redis_sub);

    return NGX_OK;
}


static void
ngx_signal_redis_exit_worker(void)
{
    ngx_signal_redis_subs_exit();

    if (ngx_signal_redis_heartbeat_ev.timer_set) {
        ngx_del_timer(&ngx_signal_redis_heartbeat_ev);
    }

    ngx_signal_redis_link_stop(&ngx_signal_redis_sub);
    ngx_signal_redis_link_stop(&ngx_signal_redis_cmd);
}


/* the link states of this worker, for signal_status */

void
ngx_signal_redis_report(void)
{
    if (ngx_signal_worker_stats) {
        ngx_signal_worker_stats->redis_command = ngx_signal_redis_cmd.state;
        ngx_signal_worker_stats->redis_subscriber =
                                                 ngx_signal_redis_sub.state;
    }
}


static u_char *
ngx_signal_redis_status(u_char *p, u_char *last, ngx_signal_worker_stats_t *w)
{
    return ngx_slprintf(p, last, ",\"redis\":{\"command\":\"%s\","
                        "\"subscriber\":\"%s\"}",
                        ngx_signal_redis_link_state_name(w->redis_command),
                        ngx_signal_redis_link_state_name(w->redis_subscriber));
}


static void
ngx_signal_redis_cmd_ready(ngx_signal_redis_link_t *link)
{
    ngx_signal_redis_report();

    ngx_signal_redis_presence_heartbeat(&ngx_signal_redis_heartbeat_ev);

    /* what changed while the connection was down: tell all again */
    ngx_signal_redis_presence_resync();
}


static void
ngx_signal_redis_cmd_down(ngx_signal_redis_link_t *link)
{
    ngx_signal_redis_report();
}


/*
 * Something waiting for a reply of the command connection, with its
 * timer: outside any pool, as the reply may come after whoever asked is
 * gone.
 */

ngx_signal_redis_pending_t *
ngx_signal_redis_pending(ngx_log_t *log, ngx_event_handler_pt timeout)
{
    ngx_signal_redis_pending_t  *pending;

    pending = ngx_calloc(sizeof(ngx_signal_redis_pending_t), log);
    if (pending == NULL) {
        return NULL;
    }

    pending->timer.handler = timeout;
    pending->timer.data = pending;
    pending->timer.log = log;

    return pending;
}


/* FCALL signal_publish[_once] with the batch: NGX_AGAIN, or the result */

static ngx_int_t
ngx_signal_redis_publish(ngx_signal_publish_t *pub)
{
    int                          rc;
    u_char                      *text, *p;
    size_t                      *argvlen;
    ngx_uint_t                   i, j, k;
    const char                 **argv;
    ngx_signal_event_t          *ev;
    ngx_signal_redis_pending_t  *pending;

    if (ngx_signal_redis_cmd.state != NGX_SIGNAL_REDIS_READY) {
        ngx_signal_redis_fail(pub, NGX_SIGNAL_REFUSED, "redis_unavailable",
                              NULL);

        pub->detail.data = ngx_pnalloc(pub->pool,
                                       ngx_signal_redis->url.len + 64);
        if (pub->detail.data) {
            pub->detail.len = ngx_sprintf(pub->detail.data, "Redis at %V is "
                                          "unreachable; nothing was "
                                          "published, retry later",
                                          &ngx_signal_redis->url)
                              - pub->detail.data;
        }

        return NGX_OK;
    }

    argv = ngx_palloc(pub->pool, (8 + 4 * pub->n) * sizeof(char *));
    argvlen = ngx_palloc(pub->pool, (8 + 4 * pub->n) * sizeof(size_t));
    text = ngx_pnalloc(pub->pool, 3 * NGX_INT64_LEN);

    if (argv == NULL || argvlen == NULL || text == NULL) {
        ngx_signal_redis_fail(pub, NGX_SIGNAL_REFUSED, NULL, NULL);
        return NGX_OK;
    }

    /* signal_emit: count, age, key, seconds, digest, then quads */

    argv[0] = "FCALL";
    argvlen[0] = 5;
    argv[1] = "signal_emit";
    argvlen[1] = 11;
    argv[2] = "0";
    argvlen[2] = 1;

    p = text;
    argv[3] = (const char *) p;
    p = ngx_sprintf(p, "%ui", pub->history);
    argvlen[3] = p - (u_char *) argv[3];

    argv[4] = (const char *) p;
    p = ngx_sprintf(p, "%T", pub->history_age * 1000);
    argvlen[4] = p - (u_char *) argv[4];

    /* Redis remembers the key, for every host */

    argv[5] = pub->once.len ? (const char *) pub->once.data : "";
    argvlen[5] = pub->once.len;

    argv[6] = (const char *) p;
    p = ngx_sprintf(p, "%T", pub->ttl);
    argvlen[6] = p - (u_char *) argv[6];

    argv[7] = pub->digest.len ? (const char *) pub->digest.data : "";
    argvlen[7] = pub->digest.len;

    k = 8;
    ev = pub->events->elts;

    for (i = 0; i < pub->events->nelts; i++) {
        for (j = 0; j < ev[i].nrooms; j++) {
            argv[k] = (const char *) ev[i].rooms[j].data;
            argvlen[k++] = ev[i].rooms[j].len;
            argv[k] = (const char *) ev[i].event.data;
            argvlen[k++] = ev[i].event.len;

            if (ev[i].data.len) {
                argv[k] = (const char *) ev[i].data.data;
                argvlen[k++] = ev[i].data.len;

            } else {
                argv[k] = "null";
                argvlen[k++] = 4;
            }

            argv[k] = ev[i].no_history ? "0" : "1";
            argvlen[k++] = 1;
        }
    }

    pending = ngx_signal_redis_pending(pub->log,
                                       ngx_signal_redis_publish_timeout);
    if (pending == NULL) {
        ngx_signal_redis_fail(pub, NGX_SIGNAL_REFUSED, NULL, NULL);
        return NGX_OK;
    }

    pending->pub = pub;

    rc = redisAsyncCommandArgv(ngx_signal_redis_cmd.ac,
                               ngx_signal_redis_published, pending, (int) k,
                               argv, argvlen);
    if (rc != REDIS_OK) {
        ngx_free(pending);
        ngx_signal_redis_fail(pub, NGX_SIGNAL_REFUSED, "redis_unavailable",
                              "the Redis connection is closing; nothing "
                              "was published, retry");
        return NGX_OK;
    }

    ngx_add_timer(&pending->timer, ngx_signal_redis->command_timeout);

    return NGX_AGAIN;
}


static void
ngx_signal_redis_published(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply                  *reply = r;
    ngx_signal_redis_pending_t  *pending = privdata;

    ngx_signal_publish_t  *pub;

    pub = pending->pub;

    if (pending->timer.timer_set) {
        ngx_del_timer(&pending->timer);
    }

    ngx_free(pending);

    if (pub == NULL) {
        /* answered already, after signal_redis_command_timeout */
        return;
    }

    ngx_signal_redis_publish_result(pub, reply);

    pub->done(pub);
}


static void
ngx_signal_redis_publish_result(ngx_signal_publish_t *pub, redisReply *reply)
{
    u_char      *p, text[256];
    ngx_uint_t   i;
    redisReply  *status, *pair;

    if (reply == NULL) {
        ngx_signal_redis_fail(pub, NGX_SIGNAL_UNCERTAIN, "redis_unavailable",
                              "the Redis connection was lost before it "
                              "answered; the events may or may not have "
                              "been published");
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR
        && ngx_strlcasestrn((u_char *) reply->str,
                            (u_char *) reply->str + reply->len,
                            (u_char *) "idempotency key reused", 22 - 1)
           != NULL)
    {
        pub->result = NGX_SIGNAL_CONFLICT;
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        p = ngx_signal_log_escape(text, text + sizeof(text),
                                  (u_char *) reply->str, reply->len);

        ngx_log_error(NGX_LOG_ERR, pub->log, 0,
                      "signal: redis refused a publish: %*s", p - text, text);

        pub->result = NGX_SIGNAL_REFUSED;
        pub->error = "redis_error";

        pub->detail.data = ngx_pnalloc(pub->pool, sizeof(text) + 64);
        if (pub->detail.data == NULL) {
            pub->error = NULL;
            return;
        }

        pub->detail.len = ngx_sprintf(pub->detail.data, "Redis refused the "
                                      "publish: %*s; nothing was published",
                                      p - text, text)
                          - pub->detail.data;
        return;
    }

    /* {"published" | "replayed", {seq, epoch}...} or {"duplicate"} */

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        goto unexpected;
    }

    status = reply->element[0];

    if (status->len == 9 && ngx_strncmp(status->str, "duplicate", 9) == 0) {
        pub->result = NGX_SIGNAL_DUPLICATE;
        return;
    }

    if (reply->elements != pub->n + 1) {
        goto unexpected;
    }

    pub->seqs = ngx_palloc(pub->pool, 2 * pub->n * sizeof(uint64_t));
    if (pub->seqs == NULL) {
        ngx_signal_redis_fail(pub, NGX_SIGNAL_UNCERTAIN, NULL, NULL);
        return;
    }

    pub->epochs = pub->seqs + pub->n;

    for (i = 0; i < pub->n; i++) {
        pair = reply->element[i + 1];

        if (pair->type != REDIS_REPLY_ARRAY || pair->elements != 2
            || pair->element[0]->type != REDIS_REPLY_INTEGER
            || pair->element[1]->type != REDIS_REPLY_STRING
            || ngx_signal_rooms_parse_epoch((u_char *) pair->element[1]->str,
                                            pair->element[1]->len,
                                            &pub->epochs[i])
               != NGX_OK)
        {
            goto unexpected;
        }

        pub->seqs[i] = (uint64_t) pair->element[0]->integer;
    }

    if (status->len == 8 && ngx_strncmp(status->str, "replayed", 8) == 0) {
        pub->result = NGX_SIGNAL_REPLAYED;
        return;
    }

    ngx_signal_count(published, pub->n);

    pub->result = NGX_SIGNAL_PUBLISHED;

    return;

unexpected:

    ngx_log_error(NGX_LOG_ALERT, pub->log, 0,
                  "signal: unexpected reply to signal_emit");

    ngx_signal_redis_fail(pub, NGX_SIGNAL_UNCERTAIN, NULL, NULL);
}


static void
ngx_signal_redis_publish_timeout(ngx_event_t *ev)
{
    ngx_signal_redis_pending_t  *pending = ev->data;

    ngx_signal_publish_t  *pub;

    pub = pending->pub;
    pending->pub = NULL;

    ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                  "signal: redis did not answer a publish within %M ms, "
                  "reconnecting", ngx_signal_redis->command_timeout);

    ngx_signal_redis_fail(pub, NGX_SIGNAL_UNCERTAIN, "redis_timeout",
                          "Redis did not answer within "
                          "signal_redis_command_timeout; the events may or "
                          "may not have been published");

    pub->done(pub);

    /* a stalled connection: start over (what waits gets a 503 too) */
    ngx_signal_redis_link_fail(&ngx_signal_redis_cmd, "a command timed out");
}


/* a result other than published; error NULL: an internal error */

static void
ngx_signal_redis_fail(ngx_signal_publish_t *pub, ngx_uint_t result,
    const char *error, const char *detail)
{
    pub->result = result;
    pub->error = error;

    if (detail) {
        pub->detail.data = (u_char *) detail;
        pub->detail.len = ngx_strlen(detail);
    }
}
