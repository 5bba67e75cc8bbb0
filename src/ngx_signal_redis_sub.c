
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The Redis engine's subscriptions.  Each worker subscribes to the
 * channels of the rooms it has members in (a family "a:*" is the pattern
 * "signal:r:a:*"), so a host receives only what it serves, once per
 * worker, in publish order.  A room a worker no longer needs is
 * unsubscribed by a sweep a few seconds later, so that clients coming and
 * going do not churn subscriptions, and SUBSCRIBE and UNSUBSCRIBE of one
 * channel are never in flight together.  What arrives is checked, then
 * handed to the rooms.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_json.h"
#include "ngx_signal_log.h"
#include "ngx_signal_redis.h"
#include "ngx_signal_envelope.h"
#include "ngx_signal_rooms.h"


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
    ngx_msec_t                  sent;         /* of what is in flight */
    unsigned                    wanted:1;
    unsigned                    family:1;
    u_char                      name[1];
} ngx_signal_redis_sub_t;


static ngx_signal_redis_sub_t *ngx_signal_redis_sub_find(ngx_str_t *name);
static void ngx_signal_redis_sub_send(ngx_signal_redis_sub_t *sub,
    ngx_uint_t subscribe);
static void ngx_signal_redis_sub_free(ngx_signal_redis_sub_t *sub);
static void ngx_signal_redis_message(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_signal_redis_deliver(redisReply *channel,
    redisReply *payload);
static void ngx_signal_redis_sub_sweep(ngx_event_t *ev);


static ngx_rbtree_t               ngx_signal_redis_subs;
static ngx_rbtree_node_t          ngx_signal_redis_subs_sentinel;
static ngx_event_t                ngx_signal_redis_sweep_ev;

/* the event last delivered, to recognise its copies */
static u_char                     ngx_signal_redis_last_room[
                                      NGX_SIGNAL_MAX_NAME_LENGTH];
static size_t                     ngx_signal_redis_last_room_len;
static uint64_t                   ngx_signal_redis_last_seq;

static ngx_signal_log_limit_t     ngx_signal_redis_bad_message;


void
ngx_signal_redis_subs_init(void)
{
    ngx_rbtree_init(&ngx_signal_redis_subs, &ngx_signal_redis_subs_sentinel,
                    ngx_str_rbtree_insert_value);

    ngx_signal_redis_sweep_ev.handler = ngx_signal_redis_sub_sweep;
    ngx_signal_redis_sweep_ev.data = &ngx_signal_no_connection;
    ngx_signal_redis_sweep_ev.log = ngx_cycle->log;
    ngx_signal_redis_sweep_ev.cancelable = 1;
    ngx_add_timer(&ngx_signal_redis_sweep_ev, NGX_SIGNAL_REDIS_SWEEP);
}


/*
 * The subscriber's watchdog: Redis answers subscriptions within
 * signal_redis_command_timeout (the connection carries nothing else).
 */

ngx_uint_t
ngx_signal_redis_sub_alive(ngx_signal_redis_link_t *link)
{
    ngx_rbtree_node_t       *node, *root, *sentinel;
    ngx_signal_redis_sub_t  *sub;

    root = ngx_signal_redis_subs.root;
    sentinel = ngx_signal_redis_subs.sentinel;

    if (root == sentinel) {
        return 1;
    }

    for (node = ngx_rbtree_min(root, sentinel);
         node;
         node = ngx_rbtree_next(&ngx_signal_redis_subs, node))
    {
        sub = (ngx_signal_redis_sub_t *) node;

        if ((sub->state == NGX_SIGNAL_SUB_SUBSCRIBING
             || sub->state == NGX_SIGNAL_SUB_UNSUBSCRIBING)
            && ngx_current_msec - sub->sent > link->conf->command_timeout)
        {
            return 0;
        }
    }

    return 1;
}


void
ngx_signal_redis_subs_exit(void)
{
    if (ngx_signal_redis_sweep_ev.timer_set) {
        ngx_del_timer(&ngx_signal_redis_sweep_ev);
    }
}


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
ngx_signal_redis_sub_interest(ngx_str_t *name, ngx_uint_t want)
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
        sub->family = ngx_signal_name_is_family(name->data, name->len);

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
ngx_signal_redis_sub_confirmed(ngx_str_t *name)
{
    ngx_signal_redis_sub_t  *sub;

    if (ngx_signal_redis_sub.state != NGX_SIGNAL_REDIS_READY) {
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

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "signal: redis %s \"%V\"",
                   subscribe ? "subscribe" : "unsubscribe", &sub->sn.str);

    /* room names have no glob characters: a family is a plain pattern */

    sub->sent = ngx_current_msec;

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


void
ngx_signal_redis_sub_ready(ngx_signal_redis_link_t *link)
{
    ngx_rbtree_node_t       *node, *next, *root, *sentinel;
    ngx_signal_redis_sub_t  *sub;

    ngx_signal_redis_report();

    /* what was published meanwhile is not here: the next message is */
    ngx_signal_redis_last_room_len = 0;
    ngx_signal_redis_last_seq = 0;

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


void
ngx_signal_redis_sub_down(ngx_signal_redis_link_t *link)
{
    ngx_str_t                name;
    ngx_rbtree_node_t       *node, *next, *root, *sentinel;
    ngx_signal_redis_sub_t  *sub;

    ngx_signal_redis_report();

    /* from now on events are missed: each room recovers when back */
    ngx_signal_rooms_desync_all();

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
            ngx_signal_rooms_ready(&name);
        }

        sub->state = NGX_SIGNAL_SUB_NONE;
    }
}


static void
ngx_signal_redis_sub_sweep(ngx_event_t *ev)
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
        ngx_signal_redis_deliver(el[1], el[2]);
        return;
    }

    if (ngx_strcmp(type, "pmessage") == 0) {
        if (reply->elements == 4 && el[2]->type == REDIS_REPLY_STRING) {
            ngx_signal_redis_deliver(el[2], el[3]);
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
            /* what was missed while away first, then who waited */
            ngx_signal_rooms_recover(&name);
            ngx_signal_rooms_ready(&name);
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
 * "<seq> <epoch> <event> <data>" on channel "signal:r:<room>", for its
 * members.  A shared Redis is not a trusted input: a message PUBLISHed
 * there by anyone else must not inject anything into a frame, so the
 * room, the event name and the data are checked as notify checks them.
 */

static void
ngx_signal_redis_deliver(redisReply *channel, redisReply *payload)
{
    u_char                 *p, *last, *sp, text[256];
    uint64_t                seq, epoch;
    ngx_str_t               room;
    const char             *why;
    ngx_signal_delivery_t   d;

    if (payload->type != REDIS_REPLY_STRING
        || channel->len <= NGX_SIGNAL_REDIS_CHANNEL_LEN)
    {
        return;
    }

    room.data = (u_char *) channel->str + NGX_SIGNAL_REDIS_CHANNEL_LEN;
    room.len = channel->len - NGX_SIGNAL_REDIS_CHANNEL_LEN;

    why = "it is not \"<seq> <epoch> <event> <data>\"";

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
    if (sp == NULL || ngx_signal_rooms_parse_epoch(p, sp - p, &epoch)
                      != NGX_OK)
    {
        goto invalid;
    }

    p = sp + 1;

    sp = ngx_strlchr(p, last, ' ');
    if (sp == NULL || sp == p) {
        goto invalid;
    }

    d.event.data = p;
    d.event.len = sp - p;

    d.data.data = sp + 1;
    d.data.len = last - d.data.data;

    if (ngx_signal_name_room(room.data, room.len,
                              NGX_SIGNAL_MAX_NAME_LENGTH, 0)
        || ngx_signal_name_event(d.event.data, d.event.len,
                                       NGX_SIGNAL_MAX_NAME_LENGTH))
    {
        why = "its room or event name is invalid";
        goto invalid;
    }

    if (!ngx_signal_json_valid(d.data.data, d.data.len)) {
        why = "its data is not JSON";
        goto invalid;
    }

    /*
     * The copies of one event (through the room and its families) come
     * one after another: the first is delivered to every member here.
     */

    if (seq == ngx_signal_redis_last_seq
        && room.len == ngx_signal_redis_last_room_len
        && ngx_memcmp(room.data, ngx_signal_redis_last_room, room.len) == 0)
    {
        return;
    }

    ngx_signal_redis_last_seq = seq;
    ngx_signal_redis_last_room_len = room.len;
    ngx_memcpy(ngx_signal_redis_last_room, room.data, room.len);

    d.room = room;
    d.seq = seq;
    d.epoch = epoch;

    if (ngx_signal_rooms_deliver(&d, ngx_cycle->log) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "signal: delivering \"%V\" to \"%V\" failed",
                      &d.event, &room);
    }

    return;

invalid:

    p = ngx_signal_log_escape(text, text + sizeof(text),
                              (u_char *) channel->str, channel->len);

    ngx_signal_log_limited(NGX_LOG_WARN, ngx_cycle->log,
                           &ngx_signal_redis_bad_message,
                           "signal: dropped a message on redis channel "
                           "\"%*s\": %s; publish with FCALL signal_publish "
                           "(a PUBLISH of its own is not an event)",
                           p - text, text, why);
}
