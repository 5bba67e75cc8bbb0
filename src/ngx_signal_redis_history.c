
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The Redis engine's history: FCALL signal_history on the command
 * connection, for a client that resumes and for a room that recovers
 * after the subscriber connection came back (ngx_signal_redis_lua.c
 * keeps it, in a stream per room, in the same function call that
 * numbers and publishes).  What Redis returns is checked as pub/sub
 * messages are: a shared Redis is not a trusted input.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_json.h"
#include "ngx_signal_name.h"
#include "ngx_signal_redis.h"
#include "ngx_signal_rooms.h"


static void ngx_signal_redis_history_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static ngx_int_t ngx_signal_redis_history_parse(ngx_signal_history_t *h,
    redisReply *reply);
static ngx_int_t ngx_signal_redis_history_events(ngx_signal_history_t *h,
    redisReply *list);
static void ngx_signal_redis_history_timeout(ngx_event_t *ev);


/* NGX_AGAIN: h->done comes later; NGX_OK: failed at once */

ngx_int_t
ngx_signal_redis_history(ngx_signal_history_t *h)
{
    int                          rc;
    u_char                      *p, text[2 * NGX_INT64_LEN + 16];
    size_t                       argvlen[7];
    const char                  *argv[7];
    ngx_signal_redis_pending_t  *pending;

    if (ngx_signal_redis_cmd.state != NGX_SIGNAL_REDIS_READY) {
        h->failed = 1;
        return NGX_OK;
    }

    pending = ngx_signal_redis_pending(h->log,
                                       ngx_signal_redis_history_timeout);
    if (pending == NULL) {
        h->failed = 1;
        return NGX_OK;
    }

    pending->history = h;

    argv[0] = "FCALL";
    argv[1] = "signal_history";
    argv[2] = "0";
    argv[3] = (const char *) h->room.data;
    argvlen[3] = h->room.len;

    p = text;

    argv[4] = (const char *) p;
    p = ngx_sprintf(p, "%uL", h->since);
    argvlen[4] = p - (u_char *) argv[4];

    argv[5] = (const char *) p;
    p = h->current ? ngx_cpymem(p, "*", 1)
                   : (h->epoch ? ngx_sprintf(p, "%016xL", h->epoch) : p);
    argvlen[5] = p - (u_char *) argv[5];

    argv[6] = (const char *) p;
    p = ngx_sprintf(p, "%ui", h->limit);
    argvlen[6] = p - (u_char *) argv[6];

    argvlen[0] = 5;
    argvlen[1] = 14;
    argvlen[2] = 1;

    rc = redisAsyncCommandArgv(ngx_signal_redis_cmd.ac,
                               ngx_signal_redis_history_reply, pending, 7,
                               argv, argvlen);
    if (rc != REDIS_OK) {
        ngx_free(pending);
        h->failed = 1;
        return NGX_OK;
    }

    ngx_add_timer(&pending->timer, ngx_signal_redis->command_timeout);

    return NGX_AGAIN;
}


static void
ngx_signal_redis_history_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply                  *reply = r;
    ngx_signal_redis_pending_t  *pending = privdata;

    ngx_signal_history_t  *h;

    h = pending->history;

    if (pending->timer.timer_set) {
        ngx_del_timer(&pending->timer);
    }

    ngx_free(pending);

    if (h == NULL) {
        /* answered already, after signal_redis_command_timeout */
        return;
    }

    if (reply == NULL || ngx_signal_redis_history_parse(h, reply) != NGX_OK)
    {
        h->failed = 1;
    }

    h->done(h);
}


/* {epoch, seq, gap, gap_to, {seq, event, data, ...}} */

static ngx_int_t
ngx_signal_redis_history_parse(ngx_signal_history_t *h, redisReply *reply)
{
    redisReply  **el;

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, h->log, 0,
                      "signal: redis refused to read the history of "
                      "\"%V\": %*s", &h->room, ngx_min(reply->len, 200),
                      reply->str);
        return NGX_ERROR;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 5) {
        goto unexpected;
    }

    el = reply->element;

    if (el[0]->type != REDIS_REPLY_STRING
        || el[1]->type != REDIS_REPLY_INTEGER || el[1]->integer < 0
        || el[2]->type != REDIS_REPLY_STRING
        || el[3]->type != REDIS_REPLY_INTEGER || el[3]->integer < 0
        || el[4]->type != REDIS_REPLY_ARRAY
        || ngx_signal_rooms_parse_epoch((u_char *) el[0]->str, el[0]->len,
                                        &h->now_epoch)
           != NGX_OK)
    {
        goto unexpected;
    }

    h->now_seq = (uint64_t) el[1]->integer;

    if (el[2]->len == 5 && ngx_strncmp(el[2]->str, "epoch", 5) == 0) {
        h->gap = "epoch";
        h->gap_to = (uint64_t) el[3]->integer;

    } else if (el[2]->len == 7 && ngx_strncmp(el[2]->str, "history", 7) == 0)
    {
        h->gap = "history";
        h->gap_to = (uint64_t) el[3]->integer;

    } else if (el[2]->len != 0) {
        goto unexpected;
    }

    return ngx_signal_redis_history_events(h, el[4]);

unexpected:

    ngx_log_error(NGX_LOG_ALERT, h->log, 0,
                  "signal: unexpected reply to signal_history");

    return NGX_ERROR;
}


/*
 * The events, oldest first, copied into h->pool: the newest that fit
 * h->max_bytes; the older ones are a gap.
 */

static ngx_int_t
ngx_signal_redis_history_events(ngx_signal_history_t *h, redisReply *list)
{
    u_char                 *p;
    size_t                  size, len;
    ngx_uint_t              i, first;
    redisReply            **el;
    ngx_signal_delivery_t  *d;

    h->events = ngx_array_create(h->pool, list->elements / 3 + 1,
                                 sizeof(ngx_signal_delivery_t));
    if (h->events == NULL) {
        return NGX_ERROR;
    }

    if (list->elements % 3) {
        return NGX_ERROR;
    }

    el = list->element;
    size = 0;
    first = list->elements;

    for (i = list->elements; i > 0; i -= 3) {
        if (el[i - 3]->type != REDIS_REPLY_INTEGER
            || el[i - 2]->type != REDIS_REPLY_STRING
            || el[i - 1]->type != REDIS_REPLY_STRING)
        {
            return NGX_ERROR;
        }

        len = NGX_SIGNAL_HISTORY_OVERHEAD + 2 * h->room.len
              + el[i - 2]->len + el[i - 1]->len;

        if (size + len > h->max_bytes) {
            /* this one and the older ones are left out */
            if (h->gap == NULL) {
                h->gap = "history";
            }

            if (h->gap_to < (uint64_t) el[i - 3]->integer) {
                h->gap_to = (uint64_t) el[i - 3]->integer;
            }

            break;
        }

        size += len;
        first = i - 3;
    }

    p = ngx_pnalloc(h->pool, size + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    for (i = first; i < list->elements; i += 3) {

        if (ngx_signal_name_event((u_char *) el[i + 1]->str, el[i + 1]->len,
                                  NGX_SIGNAL_MAX_NAME_LENGTH)
            || !ngx_signal_json_valid((u_char *) el[i + 2]->str,
                                      el[i + 2]->len))
        {
            ngx_log_error(NGX_LOG_WARN, h->log, 0,
                          "signal: the history of \"%V\" in redis holds "
                          "an event that is not one; it is left out",
                          &h->room);
            continue;
        }

        d = ngx_array_push(h->events);
        if (d == NULL) {
            return NGX_ERROR;
        }

        d->seq = (uint64_t) el[i]->integer;
        d->epoch = h->now_epoch;
        d->room = h->room;

        d->event.data = p;
        d->event.len = el[i + 1]->len;
        p = ngx_cpymem(p, el[i + 1]->str, el[i + 1]->len);

        d->data.data = p;
        d->data.len = el[i + 2]->len;
        p = ngx_cpymem(p, el[i + 2]->str, el[i + 2]->len);
    }

    return NGX_OK;
}


static void
ngx_signal_redis_history_timeout(ngx_event_t *ev)
{
    ngx_signal_redis_pending_t  *pending = ev->data;

    ngx_signal_history_t  *h;

    h = pending->history;
    pending->history = NULL;

    ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                  "signal: redis did not answer a history read within "
                  "%M ms, reconnecting", ngx_signal_redis->command_timeout);

    h->failed = 1;
    h->done(h);

    ngx_signal_redis_link_fail(&ngx_signal_redis_cmd, "a command timed out");
}
