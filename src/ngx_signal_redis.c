
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The Redis engine.  A publish is one FCALL of the signal_publish function
 * (loaded by every command connection): Redis gives each (event, room) the
 * next seq of "signal:seq:<room>" and publishes "<seq> <event> <data>" on
 * "signal:r:<room>", atomically for the whole batch.  Each worker
 * subscribes to the channels of the rooms it has members in (a family
 * "a:*" is the pattern "signal:r:a:*"), so a host receives only what it
 * serves, once per worker, in publish order.  The copies of one event that
 * a worker gets through a room and its families arrive back to back (one
 * script run): they share a delivery stamp, so a connection gets it once.
 *
 * A room a worker no longer needs is unsubscribed by a sweep a few seconds
 * later, so that clients coming and going do not churn subscriptions, and
 * SUBSCRIBE and UNSUBSCRIBE of one channel are never in flight together.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal.h"
#include "ngx_signal_redis.h"


/* how often rooms nobody here is in any more are unsubscribed */
#define NGX_SIGNAL_REDIS_SWEEP          5000


typedef enum {
    NGX_SIGNAL_SUB_NONE = 0,
    NGX_SIGNAL_SUB_SUBSCRIBING,
    NGX_SIGNAL_SUB_SUBSCRIBED,
    NGX_SIGNAL_SUB_UNSUBSCRIBING
} ngx_signal_sub_state_e;


/* one room (or family) this worker is, or was lately, subscribed to */
typedef struct {
    ngx_str_node_t              sn;
    ngx_signal_sub_state_e      state;
    unsigned                    wanted:1;
    unsigned                    family:1;
    u_char                      name[1];
} ngx_signal_redis_sub_t;




static void ngx_signal_redis_cmd_ready(ngx_signal_redis_link_t *link);
static void ngx_signal_redis_cmd_down(ngx_signal_redis_link_t *link);
static void ngx_signal_redis_sub_ready(ngx_signal_redis_link_t *link);
static void ngx_signal_redis_sub_down(ngx_signal_redis_link_t *link);
static void ngx_signal_redis_published(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_signal_redis_publish_timeout(ngx_event_t *ev);
static ngx_signal_redis_sub_t *ngx_signal_redis_sub_find(ngx_str_t *name);
static void ngx_signal_redis_sub_send(ngx_signal_redis_sub_t *sub,
    ngx_uint_t subscribe);
static void ngx_signal_redis_sub_free(ngx_signal_redis_sub_t *sub);
static void ngx_signal_redis_message(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_signal_redis_deliver(ngx_str_t *target, redisReply *channel,
    redisReply *payload);
static void ngx_signal_redis_sweep(ngx_event_t *ev);
static void ngx_signal_redis_report(void);


ngx_signal_redis_conf_t          *ngx_signal_redis;

ngx_signal_redis_link_t           ngx_signal_redis_cmd;
static ngx_signal_redis_link_t    ngx_signal_redis_sub;

static ngx_rbtree_t               ngx_signal_redis_subs;
static ngx_rbtree_node_t          ngx_signal_redis_subs_sentinel;
static ngx_event_t                ngx_signal_redis_sweep_ev;
static ngx_event_t                ngx_signal_redis_heartbeat_ev;

/* the event last delivered, to recognise its copies */
static u_char                     ngx_signal_redis_last_room[
                                      NGX_SIGNAL_MAX_NAME_LENGTH];
static size_t                     ngx_signal_redis_last_room_len;
static uint64_t                   ngx_signal_redis_last_seq;
static uint64_t                   ngx_signal_redis_last_stamp;

static ngx_signal_log_limit_t     ngx_signal_redis_bad_message;


ngx_int_t
ngx_signal_redis_init_worker(ngx_cycle_t *cycle)
{
    ngx_signal_main_conf_t  *smcf;

    smcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_signal_module);

    if (smcf == NULL || smcf->redis == NULL) {
        return NGX_OK;
    }

    ngx_signal_redis = smcf->redis;

    ngx_rbtree_init(&ngx_signal_redis_subs, &ngx_signal_redis_subs_sentinel,
                    ngx_str_rbtree_insert_value);

    ngx_signal_redis_cmd.name = "command";
    ngx_signal_redis_cmd.conf = smcf->redis;
    ngx_signal_redis_cmd.ready = ngx_signal_redis_cmd_ready;
    ngx_signal_redis_cmd.down = ngx_signal_redis_cmd_down;

    ngx_signal_redis_sub.name = "subscriber";
    ngx_signal_redis_sub.conf = smcf->redis;
    ngx_signal_redis_sub.subscriber = 1;
    ngx_signal_redis_sub.ready = ngx_signal_redis_sub_ready;
    ngx_signal_redis_sub.down = ngx_signal_redis_sub_down;

    ngx_signal_redis_sweep_ev.handler = ngx_signal_redis_sweep;
    ngx_signal_redis_sweep_ev.log = cycle->log;
    ngx_signal_redis_sweep_ev.cancelable = 1;
    ngx_add_timer(&ngx_signal_redis_sweep_ev, NGX_SIGNAL_REDIS_SWEEP);

    ngx_signal_redis_heartbeat_ev.handler = ngx_signal_redis_heartbeat;
    ngx_signal_redis_heartbeat_ev.log = cycle->log;
    ngx_signal_redis_heartbeat_ev.cancelable = 1;

    ngx_signal_redis_link_start(&ngx_signal_redis_cmd);
    ngx_signal_redis_link_start(&ngx_signal_redis_sub);

    return NGX_OK;
}


void
ngx_signal_redis_exit_worker(void)
{
    if (ngx_signal_redis == NULL) {
        return;
    }

    if (ngx_signal_redis_sweep_ev.timer_set) {
        ngx_del_timer(&ngx_signal_redis_sweep_ev);
    }

    if (ngx_signal_redis_heartbeat_ev.timer_set) {
        ngx_del_timer(&ngx_signal_redis_heartbeat_ev);
    }

    ngx_signal_redis_link_stop(&ngx_signal_redis_sub);
    ngx_signal_redis_link_stop(&ngx_signal_redis_cmd);
}


/* the link states of this worker, for signal_status */

static void
ngx_signal_redis_report(void)
{
    if (ngx_signal_worker_stats) {
        ngx_signal_worker_stats->redis_command = ngx_signal_redis_cmd.state;
        ngx_signal_worker_stats->redis_subscriber =
                                                 ngx_signal_redis_sub.state;
    }
}


static void
ngx_signal_redis_cmd_ready(ngx_signal_redis_link_t *link)
{
    ngx_signal_redis_report();

    ngx_signal_redis_heartbeat(&ngx_signal_redis_heartbeat_ev);

    /* what changed while the connection was down: tell all again */
    ngx_signal_redis_presence_resync();
}


static void
ngx_signal_redis_cmd_down(ngx_signal_redis_link_t *link)
{
    ngx_signal_redis_report();
}


/*
 * Publish a validated batch; NGX_DONE while Redis works on it, or the
 * status of an answer already sent.
 */

ngx_int_t
ngx_signal_redis_publish(ngx_http_request_t *r, ngx_array_t *events,
    ngx_uint_t n, ngx_str_t *once, time_t ttl)
{
    int                      rc;
    u_char                  *ttl_text;
    size_t                  *argvlen;
    ngx_uint_t               i, j, k;
    const char             **argv;
    ngx_signal_event_t      *ev;
    ngx_signal_redis_pub_t  *pub;

    if (ngx_signal_redis_cmd.state != NGX_SIGNAL_REDIS_READY) {
        return ngx_signal_http_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "redis_unavailable",
                                     "Redis at %V is unreachable; nothing "
                                     "was published, retry later",
                                     &ngx_signal_redis->url);
    }

    argv = ngx_palloc(r->pool, (5 + 3 * n) * sizeof(char *));
    argvlen = ngx_palloc(r->pool, (5 + 3 * n) * sizeof(size_t));
    ttl_text = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);

    if (argv == NULL || argvlen == NULL || ttl_text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv[0] = "FCALL";
    argvlen[0] = 5;
    argv[2] = "0";
    argvlen[2] = 1;
    k = 3;

    if (once && once->len) {
        /* a webhook id: Redis remembers it, for every host */
        argv[1] = "signal_publish_once";
        argvlen[1] = 19;
        argv[k] = (const char *) once->data;
        argvlen[k++] = once->len;
        argv[k] = (const char *) ttl_text;
        argvlen[k++] = ngx_sprintf(ttl_text, "%T", ttl) - ttl_text;

    } else {
        argv[1] = "signal_publish";
        argvlen[1] = 14;
    }

    ev = events->elts;

    for (i = 0; i < events->nelts; i++) {
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
        }
    }

    /* the reply may come after the request is gone: not in its pool */

    pub = ngx_calloc(sizeof(ngx_signal_redis_pub_t), r->connection->log);
    if (pub == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pub->request = r;
    pub->events = events;
    pub->n = n;

    rc = redisAsyncCommandArgv(ngx_signal_redis_cmd.ac,
                               ngx_signal_redis_published, pub, (int) k,
                               argv, argvlen);
    if (rc != REDIS_OK) {
        ngx_free(pub);
        return ngx_signal_http_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "redis_unavailable",
                                     "the Redis connection is closing; "
                                     "nothing was published, retry");
    }

    pub->timer.handler = ngx_signal_redis_publish_timeout;
    pub->timer.data = pub;
    pub->timer.log = r->connection->log;
    ngx_add_timer(&pub->timer, ngx_signal_redis->command_timeout);

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_signal_redis_published(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply              *reply = r;
    ngx_signal_redis_pub_t  *pub = privdata;

    u_char              *p, text[256];
    uint64_t            *seqs;
    ngx_int_t            rc;
    ngx_uint_t           i, n;
    ngx_array_t         *events;
    ngx_http_request_t  *req;

    req = pub->request;
    n = pub->n;
    events = pub->events;

    if (pub->timer.timer_set) {
        ngx_del_timer(&pub->timer);
    }

    ngx_free(pub);

    if (req == NULL) {
        /* answered already, after signal_redis_command_timeout */
        return;
    }

    if (reply == NULL) {
        rc = ngx_signal_http_error(req, NGX_HTTP_SERVICE_UNAVAILABLE,
                                   "redis_unavailable",
                                   "the Redis connection was lost before it "
                                   "answered; the events may or may not "
                                   "have been published");
        ngx_http_finalize_request(req, rc);
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        p = ngx_signal_escape(text, text + sizeof(text), (u_char *) reply->str,
                              reply->len);

        ngx_log_error(NGX_LOG_ERR, req->connection->log, 0,
                      "signal: redis refused a publish: %*s", p - text, text);

        rc = ngx_signal_http_error(req, NGX_HTTP_SERVICE_UNAVAILABLE,
                                   "redis_error",
                                   "Redis refused the publish: %*s; nothing "
                                   "was published",
                                   (size_t) ngx_min(reply->len, 256),
                                   reply->str);
        ngx_http_finalize_request(req, rc);
        return;
    }

    if (reply->type == REDIS_REPLY_STRING && reply->len == 9
        && ngx_strncmp(reply->str, "duplicate", 9) == 0)
    {
        ngx_http_finalize_request(req,
            ngx_signal_http_send_json(req, NGX_HTTP_OK, (u_char *)
                                      "{\"duplicate\":true}\n", 19));
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != n) {
        ngx_log_error(NGX_LOG_ALERT, req->connection->log, 0,
                      "signal: unexpected reply to signal_publish");
        ngx_http_finalize_request(req, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    seqs = ngx_palloc(req->pool, n * sizeof(uint64_t));
    if (seqs == NULL) {
        ngx_http_finalize_request(req, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    for (i = 0; i < n; i++) {
        seqs[i] = (uint64_t) reply->element[i]->integer;
    }

    ngx_signal_count(published, reply->elements);

    ngx_http_finalize_request(req, ngx_signal_notify_answer(req, events,
                                                            seqs));
}


static void
ngx_signal_redis_publish_timeout(ngx_event_t *ev)
{
    ngx_signal_redis_pub_t  *pub = ev->data;

    ngx_int_t            rc;
    ngx_http_request_t  *r;

    r = pub->request;
    pub->request = NULL;

    ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                  "signal: redis did not answer a publish within %M ms, "
                  "reconnecting", ngx_signal_redis->command_timeout);

    rc = ngx_signal_http_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                               "redis_timeout",
                               "Redis did not answer within "
                               "signal_redis_command_timeout; the events may "
                               "or may not have been published");
    ngx_http_finalize_request(r, rc);

    /* a stalled connection: start over (what waits gets a 503 too) */
    ngx_signal_redis_link_fail(&ngx_signal_redis_cmd, "a command timed out");
}


/* subscriptions */

static ngx_signal_redis_sub_t *
ngx_signal_redis_sub_find(ngx_str_t *name)
{
    return (ngx_signal_redis_sub_t *) ngx_str_rbtree_lookup(
                   &ngx_signal_redis_subs, name,
                   ngx_crc32_short(name->data, name->len));
}


/*
 * A room (or family) got its first member in this worker (want) or lost
 * its last one.
 */

ngx_int_t
ngx_signal_redis_want(ngx_str_t *name, ngx_uint_t want)
{
    ngx_signal_redis_sub_t  *sub;

    sub = ngx_signal_redis_sub_find(name);

    if (!want) {
        if (sub) {
            sub->wanted = 0;   /* the sweep unsubscribes */
        }

        return NGX_OK;
    }

    if (sub == NULL) {
        sub = ngx_alloc(sizeof(ngx_signal_redis_sub_t) + name->len,
                        ngx_cycle->log);
        if (sub == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(sub, sizeof(ngx_signal_redis_sub_t));

        ngx_memcpy(sub->name, name->data, name->len);
        sub->sn.str.data = sub->name;
        sub->sn.str.len = name->len;
        sub->sn.node.key = ngx_crc32_short(name->data, name->len);
        sub->family = ngx_signal_room_is_family(name->data, name->len);

        ngx_rbtree_insert(&ngx_signal_redis_subs, &sub->sn.node);
    }

    sub->wanted = 1;

    if (sub->state == NGX_SIGNAL_SUB_NONE
        && ngx_signal_redis_sub.state == NGX_SIGNAL_REDIS_READY)
    {
        ngx_signal_redis_sub_send(sub, 1);
    }

    /* UNSUBSCRIBING: subscribed again when Redis confirms */

    return NGX_OK;
}


/*
 * 1 when this worker receives the room's events now: it is subscribed, or
 * the subscriber connection is down (then nothing reaches any room here
 * and the subscription is made when it is back).
 */

ngx_uint_t
ngx_signal_redis_confirmed(ngx_str_t *name)
{
    ngx_signal_redis_sub_t  *sub;

    if (ngx_signal_redis == NULL
        || ngx_signal_redis_sub.state != NGX_SIGNAL_REDIS_READY)
    {
        return 1;
    }

    sub = ngx_signal_redis_sub_find(name);

    return sub && sub->state == NGX_SIGNAL_SUB_SUBSCRIBED;
}


static void
ngx_signal_redis_sub_send(ngx_signal_redis_sub_t *sub, ngx_uint_t subscribe)
{
    int          rc;
    const char  *cmd;

    if (subscribe) {
        cmd = sub->family ? "PSUBSCRIBE " NGX_SIGNAL_REDIS_CHANNEL "%b"
                          : "SUBSCRIBE " NGX_SIGNAL_REDIS_CHANNEL "%b";
        sub->state = NGX_SIGNAL_SUB_SUBSCRIBING;

    } else {
        cmd = sub->family ? "PUNSUBSCRIBE " NGX_SIGNAL_REDIS_CHANNEL "%b"
                          : "UNSUBSCRIBE " NGX_SIGNAL_REDIS_CHANNEL "%b";
        sub->state = NGX_SIGNAL_SUB_UNSUBSCRIBING;
    }

    /* room names have no glob characters: a family is a plain pattern */

    rc = redisAsyncCommand(ngx_signal_redis_sub.ac, ngx_signal_redis_message,
                           NULL, cmd, sub->name, sub->sn.str.len);

    if (rc != REDIS_OK) {
        ngx_signal_redis_link_fail(&ngx_signal_redis_sub,
                                   "cannot queue a subscription");
    }
}


static void
ngx_signal_redis_sub_free(ngx_signal_redis_sub_t *sub)
{
    ngx_rbtree_delete(&ngx_signal_redis_subs, &sub->sn.node);
    ngx_free(sub);
}


static void
ngx_signal_redis_sub_ready(ngx_signal_redis_link_t *link)
{
    ngx_rbtree_node_t       *node, *next, *root, *sentinel;
    ngx_signal_redis_sub_t  *sub;

    ngx_signal_redis_report();

    root = ngx_signal_redis_subs.root;
    sentinel = ngx_signal_redis_subs.sentinel;

    if (root == sentinel) {
        return;
    }

    /* subscribe again to everything this worker has members of */

    for (node = ngx_rbtree_min(root, sentinel); node; node = next) {
        next = ngx_rbtree_next(&ngx_signal_redis_subs, node);
        sub = (ngx_signal_redis_sub_t *) node;

        if (!sub->wanted) {
            ngx_signal_redis_sub_free(sub);
            continue;
        }

        ngx_signal_redis_sub_send(sub, 1);

        if (ngx_signal_redis_sub.ac == NULL) {
            return;
        }
    }
}


static void
ngx_signal_redis_sub_down(ngx_signal_redis_link_t *link)
{
    ngx_str_t                name;
    ngx_rbtree_node_t       *node, *next, *root, *sentinel;
    ngx_signal_redis_sub_t  *sub;

    ngx_signal_redis_report();

    root = ngx_signal_redis_subs.root;
    sentinel = ngx_signal_redis_subs.sentinel;

    if (root == sentinel) {
        return;
    }

    for (node = ngx_rbtree_min(root, sentinel); node; node = next) {
        next = ngx_rbtree_next(&ngx_signal_redis_subs, node);
        sub = (ngx_signal_redis_sub_t *) node;

        if (!sub->wanted) {
            ngx_signal_redis_sub_free(sub);
            continue;
        }

        name = sub->sn.str;

        if (sub->state == NGX_SIGNAL_SUB_SUBSCRIBING) {
            /* whoever waits for it is not kept waiting for the outage */
            sub->state = NGX_SIGNAL_SUB_NONE;
            ngx_signal_rooms_confirmed(&name);
        }

        sub->state = NGX_SIGNAL_SUB_NONE;
    }
}


static void
ngx_signal_redis_sweep(ngx_event_t *ev)
{
    ngx_rbtree_node_t       *node, *next, *root, *sentinel;
    ngx_signal_redis_sub_t  *sub;

    ngx_add_timer(ev, NGX_SIGNAL_REDIS_SWEEP);

    root = ngx_signal_redis_subs.root;
    sentinel = ngx_signal_redis_subs.sentinel;

    if (root == sentinel) {
        return;
    }

    for (node = ngx_rbtree_min(root, sentinel); node; node = next) {
        next = ngx_rbtree_next(&ngx_signal_redis_subs, node);
        sub = (ngx_signal_redis_sub_t *) node;

        if (sub->wanted) {
            continue;
        }

        if (sub->state == NGX_SIGNAL_SUB_NONE) {
            ngx_signal_redis_sub_free(sub);

        } else if (sub->state == NGX_SIGNAL_SUB_SUBSCRIBED) {
            ngx_signal_redis_sub_send(sub, 0);

            if (ngx_signal_redis_sub.ac == NULL) {
                return;
            }
        }
    }
}


/*
 * Every reply on the subscriber connection: (p)subscribe and
 * (p)unsubscribe confirmations, and the events.
 */

static void
ngx_signal_redis_message(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply              *reply = r;

    u_char                  *type;
    ngx_str_t                name;
    redisReply             **el;
    ngx_signal_redis_sub_t  *sub;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 3)
    {
        return;
    }

    el = reply->element;
    type = (u_char *) el[0]->str;

    if (el[0]->type != REDIS_REPLY_STRING || el[1]->type != REDIS_REPLY_STRING
        || el[1]->len < NGX_SIGNAL_REDIS_CHANNEL_LEN)
    {
        return;
    }

    /* the room or family: the channel or pattern without the prefix */

    name.data = (u_char *) el[1]->str + NGX_SIGNAL_REDIS_CHANNEL_LEN;
    name.len = el[1]->len - NGX_SIGNAL_REDIS_CHANNEL_LEN;

    if (ngx_strcmp(type, "message") == 0) {
        ngx_signal_redis_deliver(&name, el[1], el[2]);
        return;
    }

    if (ngx_strcmp(type, "pmessage") == 0) {
        if (reply->elements == 4 && el[2]->type == REDIS_REPLY_STRING) {
            ngx_signal_redis_deliver(&name, el[2], el[3]);
        }

        return;
    }

    sub = ngx_signal_redis_sub_find(&name);

    if (sub == NULL) {
        return;
    }

    if (ngx_strcmp(type, "subscribe") == 0
        || ngx_strcmp(type, "psubscribe") == 0)
    {
        sub->state = NGX_SIGNAL_SUB_SUBSCRIBED;

        if (sub->wanted) {
            ngx_signal_rooms_confirmed(&name);
        }

        return;
    }

    if (ngx_strcmp(type, "unsubscribe") == 0
        || ngx_strcmp(type, "punsubscribe") == 0)
    {
        sub->state = NGX_SIGNAL_SUB_NONE;

        if (sub->wanted) {
            /* a member came back meanwhile */
            ngx_signal_redis_sub_send(sub, 1);

        } else {
            ngx_signal_redis_sub_free(sub);
        }
    }
}


/*
 * "<seq> <event> <data>" on channel "signal:r:<room>", for target's
 * members.  A shared Redis is not a trusted input: a message PUBLISHed
 * there by anyone else must not inject anything into a frame, so the
 * room, the event name and the data are checked as notify checks them.
 */

static void
ngx_signal_redis_deliver(ngx_str_t *target, redisReply *channel,
    redisReply *payload)
{
    u_char      *p, *last, *sp, text[256];
    uint64_t     seq;
    ngx_str_t    room, event, data;
    const char  *why;

    if (payload->type != REDIS_REPLY_STRING
        || channel->len <= NGX_SIGNAL_REDIS_CHANNEL_LEN)
    {
        return;
    }

    room.data = (u_char *) channel->str + NGX_SIGNAL_REDIS_CHANNEL_LEN;
    room.len = channel->len - NGX_SIGNAL_REDIS_CHANNEL_LEN;

    why = "it is not \"<seq> <event> <data>\"";

    p = (u_char *) payload->str;
    last = p + payload->len;

    sp = ngx_strlchr(p, last, ' ');
    if (sp == NULL || sp == p || (size_t) (sp - p) > NGX_INT64_LEN) {
        goto invalid;
    }

    seq = 0;

    for ( /* void */ ; p < sp; p++) {
        if (*p < '0' || *p > '9') {
            goto invalid;
        }

        seq = seq * 10 + (*p - '0');
    }

    p = sp + 1;

    sp = ngx_strlchr(p, last, ' ');
    if (sp == NULL || sp == p) {
        goto invalid;
    }

    event.data = p;
    event.len = sp - p;

    data.data = sp + 1;
    data.len = last - data.data;

    if (ngx_signal_room_check(room.data, room.len,
                              NGX_SIGNAL_MAX_NAME_LENGTH, 0)
        || ngx_signal_event_name_check(event.data, event.len,
                                       NGX_SIGNAL_MAX_NAME_LENGTH))
    {
        why = "its room or event name is invalid";
        goto invalid;
    }

    if (!ngx_signal_json_valid(data.data, data.len)) {
        why = "its data is not JSON";
        goto invalid;
    }

    /* the copies of one event (room, families) come one after another */

    if (seq != ngx_signal_redis_last_seq
        || room.len != ngx_signal_redis_last_room_len
        || ngx_memcmp(room.data, ngx_signal_redis_last_room, room.len) != 0)
    {
        ngx_signal_redis_last_stamp = ngx_signal_rooms_new_stamp();
        ngx_signal_redis_last_seq = seq;
        ngx_signal_redis_last_room_len = room.len;
        ngx_memcpy(ngx_signal_redis_last_room, room.data, room.len);
    }

    if (ngx_signal_rooms_deliver(target, &room, &event, &data, seq,
                                 ngx_signal_redis_last_stamp,
                                 ngx_cycle->log)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "signal: delivering \"%V\" to \"%V\" failed",
                      &event, &room);
    }

    return;

invalid:

    p = ngx_signal_escape(text, text + sizeof(text), (u_char *) channel->str,
                          channel->len);

    ngx_signal_log_limited(NGX_LOG_WARN, ngx_cycle->log,
                           &ngx_signal_redis_bad_message,
                           "signal: dropped a message on redis channel "
                           "\"%*s\": %s; publish with FCALL signal_publish "
                           "(a PUBLISH of its own is not an event)",
                           p - text, text, why);
}
