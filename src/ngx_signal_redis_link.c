
/*
 * Copyright (C) ngx_signal_module authors
 *
 * One Redis connection of a worker: a hiredis async context wired into
 * the nginx event loop, set up by a state machine (connecting -> auth ->
 * select -> load -> ready) under a connect timer, and reconnected from a
 * timer with capped exponential backoff and jitter.
 *
 * hiredis reads the socket itself, so the events are registered
 * level-triggered (flags 0, as nginx's own channel) and nginx's "ready"
 * flags are not used.  hiredis calls the cleanup hook before it closes
 * the descriptor: the hook only frees the nginx connection.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "ngx_signal_log.h"
#include "ngx_signal_redis.h"


static void ngx_signal_redis_link_state(ngx_signal_redis_link_t *link,
    ngx_signal_redis_state_e state);
static void ngx_signal_redis_connect(ngx_signal_redis_link_t *link);
static void ngx_signal_redis_add_read(void *data);
static void ngx_signal_redis_del_read(void *data);
static void ngx_signal_redis_add_write(void *data);
static void ngx_signal_redis_del_write(void *data);
static void ngx_signal_redis_cleanup(void *data);
static void ngx_signal_redis_read_handler(ngx_event_t *ev);
static void ngx_signal_redis_write_handler(ngx_event_t *ev);
static void ngx_signal_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_signal_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_signal_redis_setup(ngx_signal_redis_link_t *link);
static void ngx_signal_redis_setup_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_signal_redis_setup_timeout(ngx_event_t *ev);
static void ngx_signal_redis_retry(ngx_event_t *ev);
static void ngx_signal_redis_watchdog(ngx_event_t *ev);
static void ngx_signal_redis_pong(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_signal_redis_lost(ngx_signal_redis_link_t *link,
    const char *why);


const char *
ngx_signal_redis_link_state_name(ngx_signal_redis_state_e state)
{
    static const char  *names[] = {
        "down", "connecting", "auth", "select", "load", "ready"
    };

    return names[state];
}


/* every change is in signal_status at once (a step can fail silently) */

static void
ngx_signal_redis_link_state(ngx_signal_redis_link_t *link,
    ngx_signal_redis_state_e state)
{
    link->state = state;
    ngx_signal_redis_report();
}


void
ngx_signal_redis_link_start(ngx_signal_redis_link_t *link)
{
    link->setup_timer.handler = ngx_signal_redis_setup_timeout;
    link->setup_timer.data = link;
    link->setup_timer.log = ngx_cycle->log;
    link->setup_timer.cancelable = 1;

    link->retry_timer.handler = ngx_signal_redis_retry;
    link->retry_timer.data = link;
    link->retry_timer.log = ngx_cycle->log;
    link->retry_timer.cancelable = 1;

    link->watchdog.handler = ngx_signal_redis_watchdog;
    link->watchdog.data = link;
    link->watchdog.log = ngx_cycle->log;
    link->watchdog.cancelable = 1;

    ngx_signal_redis_connect(link);
}


/* the worker exits: drop the connection, answer what waits with NULL */

void
ngx_signal_redis_link_stop(ngx_signal_redis_link_t *link)
{
    redisAsyncContext  *ac;

    link->stopped = 1;

    if (link->setup_timer.timer_set) {
        ngx_del_timer(&link->setup_timer);
    }

    if (link->retry_timer.timer_set) {
        ngx_del_timer(&link->retry_timer);
    }

    if (link->watchdog.timer_set) {
        ngx_del_timer(&link->watchdog);
    }

    ac = link->ac;

    if (ac) {
        ac->onDisconnect = NULL;
        link->ac = NULL;
        redisAsyncFree(ac);
    }

    ngx_signal_redis_link_state(link, NGX_SIGNAL_REDIS_DOWN);
}


static void
ngx_signal_redis_connect(ngx_signal_redis_link_t *link)
{
    ngx_connection_t         *c;
    redisAsyncContext        *ac;
    ngx_signal_redis_conf_t  *conf;

    conf = link->conf;

    /* the host is an IP literal (resolved at configuration): no blocking */

    if (conf->unix_path) {
        ac = redisAsyncConnectUnix((char *) conf->unix_path);

    } else {
        ac = redisAsyncConnect((char *) conf->host, conf->port);
    }

    if (ac == NULL) {
        ngx_signal_redis_lost(link, "out of memory");
        return;
    }

    if (ac->err) {
        ngx_signal_redis_lost(link, ac->errstr);
        redisAsyncFree(ac);
        return;
    }

    c = ngx_get_connection(ac->c.fd, ngx_cycle->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_signal_redis_lost(link, "no free connection");
        return;
    }

    c->data = link;
    c->read->handler = ngx_signal_redis_read_handler;
    c->write->handler = ngx_signal_redis_write_handler;
    c->read->log = ngx_cycle->log;
    c->write->log = ngx_cycle->log;

    ac->data = link;
    ac->ev.data = c;
    ac->ev.addRead = ngx_signal_redis_add_read;
    ac->ev.delRead = ngx_signal_redis_del_read;
    ac->ev.addWrite = ngx_signal_redis_add_write;
    ac->ev.delWrite = ngx_signal_redis_del_write;
    ac->ev.cleanup = ngx_signal_redis_cleanup;

    link->ac = ac;
    link->conn = c;
    ngx_signal_redis_link_state(link, NGX_SIGNAL_REDIS_CONNECTING);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "signal: redis %s connection: connecting to %V",
                   link->name, &link->conf->url);

    /* only now: it asks for the write event that signals the connect */

    (void) redisAsyncSetConnectCallback(ac, ngx_signal_redis_on_connect);
    (void) redisAsyncSetDisconnectCallback(ac,
                                           ngx_signal_redis_on_disconnect);

    ngx_add_timer(&link->setup_timer, conf->connect_timeout);
}


static void
ngx_signal_redis_add_read(void *data)
{
    ngx_connection_t  *c = data;

    if (!c->read->active) {
        (void) ngx_add_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_signal_redis_del_read(void *data)
{
    ngx_connection_t  *c = data;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_signal_redis_add_write(void *data)
{
    ngx_connection_t  *c = data;

    if (!c->write->active) {
        (void) ngx_add_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


static void
ngx_signal_redis_del_write(void *data)
{
    ngx_connection_t  *c = data;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


/* hiredis is about to close the descriptor: release the nginx side only */

static void
ngx_signal_redis_cleanup(void *data)
{
    ngx_connection_t  *c = data;

    ngx_signal_redis_link_t  *link;

    link = c->data;

    ngx_signal_redis_del_read(c);
    ngx_signal_redis_del_write(c);

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;

    if (link->conn == c) {
        link->conn = NULL;
    }
}


static void
ngx_signal_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t         *c;
    ngx_signal_redis_link_t  *link;

    c = ev->data;
    link = c->data;

    /* the callbacks it runs may free the context: nothing after it */
    redisAsyncHandleRead(link->ac);
}


static void
ngx_signal_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t         *c;
    ngx_signal_redis_link_t  *link;

    c = ev->data;
    link = c->data;

    redisAsyncHandleWrite(link->ac);
}


static void
ngx_signal_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_signal_redis_link_t  *link = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees the context after this, without onDisconnect */
        link->ac = NULL;
        ngx_signal_redis_lost(link, ac->errstr);
        return;
    }

    if (link->conf->unix_path == NULL) {
        /* a peer that vanished is noticed even on an idle subscriber */
        (void) redisEnableKeepAlive((redisContext *) &ac->c);
    }

    ngx_signal_redis_setup(link);
}


static void
ngx_signal_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    ngx_signal_redis_link_t  *link = ac->data;

    link->ac = NULL;

    ngx_signal_redis_lost(link, (status == REDIS_OK) ? "closed by Redis"
                                                      : ac->errstr);
}


/* the next setup step after the current state, or ready */

static void
ngx_signal_redis_setup(ngx_signal_redis_link_t *link)
{
    int                       rc;
    ngx_signal_redis_conf_t  *conf;

    conf = link->conf;
    rc = REDIS_OK;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "signal: redis %s connection: %s done", link->name,
                   ngx_signal_redis_link_state_name(link->state));

    switch (link->state) {

    case NGX_SIGNAL_REDIS_CONNECTING:

        if (conf->password.len) {
            ngx_signal_redis_link_state(link, NGX_SIGNAL_REDIS_AUTH);

            if (conf->user.len) {
                rc = redisAsyncCommand(link->ac,
                                       ngx_signal_redis_setup_reply, link,
                                       "AUTH %b %b",
                                       conf->user.data, conf->user.len,
                                       conf->password.data,
                                       conf->password.len);
            } else {
                rc = redisAsyncCommand(link->ac,
                                       ngx_signal_redis_setup_reply, link,
                                       "AUTH %b", conf->password.data,
                                       conf->password.len);
            }

            break;
        }

        /* fall through */

    case NGX_SIGNAL_REDIS_AUTH:

        /* channels are not per database: the subscriber needs no SELECT */

        if (conf->db && !link->subscriber) {
            ngx_signal_redis_link_state(link, NGX_SIGNAL_REDIS_SELECT);
            rc = redisAsyncCommand(link->ac, ngx_signal_redis_setup_reply,
                                   link, "SELECT %d", (int) conf->db);
            break;
        }

        /* fall through */

    case NGX_SIGNAL_REDIS_SELECT:

        if (!link->subscriber) {
            ngx_signal_redis_link_state(link, NGX_SIGNAL_REDIS_LOAD);
            rc = redisAsyncCommand(link->ac, ngx_signal_redis_setup_reply,
                                   link, "FUNCTION LOAD REPLACE %s",
                                   ngx_signal_redis_library);
            break;
        }

        /* fall through */

    default:

        ngx_signal_redis_link_state(link, NGX_SIGNAL_REDIS_READY);
        link->backoff = 0;
        link->failures = 0;

        if (link->setup_timer.timer_set) {
            ngx_del_timer(&link->setup_timer);
        }

        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "signal: redis %s connection to %V is ready",
                      link->name, &conf->url);

        link->awaiting = 0;
        ngx_add_timer(&link->watchdog, conf->command_timeout);

        link->ready(link);
        return;
    }

    if (rc != REDIS_OK) {
        ngx_signal_redis_link_fail(link, "cannot queue a setup command");
    }
}


static void
ngx_signal_redis_setup_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply               *reply = r;
    ngx_signal_redis_link_t  *link = privdata;

    u_char  *p, text[256];

    if (reply == NULL) {
        /* the connection is going away: its disconnect path reconnects */
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        p = ngx_signal_log_escape(text, text + sizeof(text),
                                  (u_char *) reply->str, reply->len);

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "signal: redis at %V refused the %s step of the %s "
                      "connection: %*s%s", &link->conf->url,
                      ngx_signal_redis_link_state_name(link->state), link->name,
                      p - text, text,
                      (link->state == NGX_SIGNAL_REDIS_LOAD)
                      ? " (signal_redis needs Redis 7.0 or later)" : "");

        ngx_signal_redis_link_fail(link, "setup refused");
        return;
    }

    ngx_signal_redis_setup(link);
}


static void
ngx_signal_redis_setup_timeout(ngx_event_t *ev)
{
    ngx_signal_redis_link_t  *link = ev->data;

    ngx_signal_redis_link_fail(link,
                               "timed out (signal_redis_connect_timeout)");
}


/* give the connection up on purpose and reconnect later */

void
ngx_signal_redis_link_fail(ngx_signal_redis_link_t *link, const char *why)
{
    redisAsyncContext  *ac;

    ac = link->ac;

    if (ac) {
        /* this path handles the loss, not the disconnect callback */
        ac->onDisconnect = NULL;
        link->ac = NULL;
        redisAsyncFree(ac);
    }

    ngx_signal_redis_lost(link, why);
}


static void
ngx_signal_redis_lost(ngx_signal_redis_link_t *link, const char *why)
{
    ngx_uint_t                 level;
    ngx_msec_t                 delay;
    ngx_signal_redis_state_e   was;

    was = link->state;
    ngx_signal_redis_link_state(link, NGX_SIGNAL_REDIS_DOWN);

    if (link->setup_timer.timer_set) {
        ngx_del_timer(&link->setup_timer);
    }

    if (link->watchdog.timer_set) {
        ngx_del_timer(&link->watchdog);
    }

    if (link->stopped) {
        return;
    }

    link->backoff = link->backoff ? ngx_min(link->backoff * 2,
                                            link->conf->backoff_max)
                                  : link->conf->backoff_min;

    /* jitter: somewhere in the second half, so workers do not all retry */
    delay = link->backoff / 2 + (ngx_msec_t) ngx_random() % (link->backoff / 2
                                                                + 1);

    if (was == NGX_SIGNAL_REDIS_READY) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "signal: lost the redis %s connection to %V: %s; "
                      "reconnecting in %M ms", link->name, &link->conf->url,
                      why, delay);

    } else {
        level = link->failures++ ? NGX_LOG_INFO : NGX_LOG_ERR;

        ngx_log_error(level, ngx_cycle->log, 0,
                      "signal: cannot connect the redis %s connection to "
                      "%V (%s): %s; retrying in %M ms", link->name,
                      &link->conf->url, ngx_signal_redis_link_state_name(was),
                      why, delay);
    }

    if (was == NGX_SIGNAL_REDIS_READY) {
        link->down(link);
    }

    ngx_add_timer(&link->retry_timer, delay);
}


/*
 * A connection that stays open while Redis answers nothing (a stopped
 * server, a network that drops without a reset) would pile up commands
 * in hiredis's buffer: every signal_redis_command_timeout the command
 * connection sends a PING, and one not answered by the next round fails
 * the connection; the subscriber asks its subscriptions.
 */

static void
ngx_signal_redis_watchdog(ngx_event_t *ev)
{
    ngx_signal_redis_link_t  *link = ev->data;

    if (link->state != NGX_SIGNAL_REDIS_READY || link->ac == NULL) {
        return;
    }

    if (link->alive) {
        if (!link->alive(link)) {
            ngx_signal_redis_link_fail(link, "Redis did not answer within "
                                       "signal_redis_command_timeout");
            return;
        }

    } else if (link->awaiting) {
        ngx_signal_redis_link_fail(link, "Redis did not answer a PING "
                                   "within signal_redis_command_timeout");
        return;

    } else {
        if (redisAsyncCommand(link->ac, ngx_signal_redis_pong, link, "PING")
            != REDIS_OK)
        {
            ngx_signal_redis_link_fail(link, "cannot queue a PING");
            return;
        }

        link->awaiting = 1;
    }

    ngx_add_timer(ev, link->conf->command_timeout);
}


static void
ngx_signal_redis_pong(redisAsyncContext *ac, void *r, void *privdata)
{
    ngx_signal_redis_link_t  *link = privdata;

    if (r) {
        link->awaiting = 0;
    }
}


static void
ngx_signal_redis_retry(ngx_event_t *ev)
{
    ngx_signal_redis_link_t  *link = ev->data;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "signal: redis %s connection: retrying", link->name);

    ngx_signal_redis_connect(link);
}
