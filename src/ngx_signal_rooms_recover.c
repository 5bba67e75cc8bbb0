
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Recovery: a worker whose link to the engine came back reads, for each
 * of its rooms, what was published meanwhile from the engine's history,
 * and delivers it to all their members before anything newer; live
 * events wait behind it.  What history lacks is a gap for each member,
 * from where it stands.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_rooms.h"
#include "ngx_signal_engine.h"


/* live events a room holds while it recovers, at most, and their bytes */
#define NGX_SIGNAL_RECOVERY_HOLD        65536
#define NGX_SIGNAL_RECOVERY_HOLD_BYTES  (16 * 1024 * 1024)

/* what one recovery reads per room, at most */
#define NGX_SIGNAL_RECOVERY_BYTES     (4 * 1024 * 1024)

/* a recovery the engine cannot answer is tried again, this often */
#define NGX_SIGNAL_RECOVERY_RETRY     250
#define NGX_SIGNAL_RECOVERY_ATTEMPTS  20


static void ngx_signal_rooms_start(ngx_signal_room_t *room);
static void ngx_signal_rooms_learn(ngx_signal_room_t *room);
static void ngx_signal_rooms_learned(ngx_signal_history_t *h);
static void ngx_signal_rooms_recovered(ngx_signal_history_t *h);
static void ngx_signal_rooms_recovered_again(ngx_signal_room_t *room,
    ngx_signal_history_t *h);
static void ngx_signal_rooms_recovery_apply(ngx_signal_room_t *room,
    ngx_signal_history_t *h);
static void ngx_signal_rooms_recovery_end(ngx_signal_room_t *room);
static void ngx_signal_rooms_retry(ngx_event_t *ev);
static void ngx_signal_rooms_retry_room(ngx_signal_room_t *room);
static void ngx_signal_rooms_desync(ngx_signal_room_t *room);
static void ngx_signal_rooms_recovery_gaps(ngx_signal_room_t *room,
    ngx_signal_history_t *h);
static void ngx_signal_rooms_release_room(ngx_signal_room_t *room);
static void ngx_signal_rooms_tell_all(ngx_signal_room_t *room,
    ngx_signal_gap_t *gap);


static ngx_event_t  ngx_signal_rooms_retry_ev;


/*
 * The engine's events stopped reaching this worker for a while: no room
 * here knows what it missed until the engine recovers it.
 */

void
ngx_signal_rooms_desync_all(void)
{
    ngx_signal_rooms_each(ngx_signal_rooms_desync);
}


/*
 * An exact room holds its events from now on: one that arrives first
 * (through a family resubscribed sooner) would move its position past
 * what its recovery must read.
 */

static void
ngx_signal_rooms_desync(ngx_signal_room_t *room)
{
    room->synced = 0;

    if (!room->family) {
        room->holding = 1;
        room->drops++;
        room->attempts = 0;
    }
}


/*
 * The engine's link came back and a room's events reach this worker
 * again: what was published meanwhile is read from history and
 * delivered before anything newer, which waits meanwhile.
 */

void
ngx_signal_rooms_recover(ngx_str_t *name)
{
    ngx_signal_room_t  *room;

    room = ngx_signal_rooms_lookup(name);

    if (room == NULL || room->family || room->synced) {
        return;
    }

    if (room->recovery) {
        /* a read from before the last drop: another one after it */
        if (room->recovery->drops != room->drops) {
            room->recover_again = 1;
        }

        return;
    }

    ngx_signal_rooms_start(room);
}


static void
ngx_signal_rooms_start(ngx_signal_room_t *room)
{
    ngx_queue_t            *q;
    ngx_signal_gap_t        gap;
    ngx_signal_member_t    *m;
    ngx_signal_resume_t    *ctx;
    ngx_signal_position_t   pos;

    /* from what this worker delivered last, or its members have */

    pos = room->pos;

    for (q = ngx_queue_head(&room->members);
         pos.epoch == 0 && q != ngx_queue_sentinel(&room->members);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_signal_member_t, in_room);

        if (m->placed && m->pos.epoch) {
            pos = m->pos;
        }
    }

    if (pos.epoch == 0) {
        /* nobody here has a position: from now on, once it is known */
        ngx_signal_rooms_recovery_end(room);
        ngx_signal_rooms_learn(room);
        return;
    }

    for (q = ngx_queue_head(&room->members);
         q != ngx_queue_sentinel(&room->members);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_signal_member_t, in_room);

        if (m->placed && m->pos.epoch == pos.epoch && m->pos.seq < pos.seq) {
            pos.seq = m->pos.seq;
        }
    }

    ctx = ngx_signal_rooms_resume_create(&room->sn.str, ngx_cycle->log);

    if (ctx == NULL) {
        ngx_memzero(&gap, sizeof(ngx_signal_gap_t));
        gap.reason = "unavailable";
        ngx_signal_rooms_tell_all(room, &gap);
        ngx_signal_rooms_recovery_end(room);
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "signal: recovering \"%V\" after seq %uL", &room->sn.str,
                   pos.seq);

    ctx->room = room;
    ctx->drops = room->drops;
    room->recovery = ctx;
    room->holding = 1;
    room->recover_again = 0;

    ctx->h.since = pos.seq;
    ctx->h.epoch = pos.epoch;
    ctx->h.limit = NGX_SIGNAL_REPLAY_MAX;
    ctx->h.max_bytes = NGX_SIGNAL_RECOVERY_BYTES;
    ctx->h.done = ngx_signal_rooms_recovered;

    ngx_signal_rooms_read(ctx);
}


/*
 * A room new here, or whose members have no position yet: where it is,
 * so that a later recovery knows where to start.  Live events are not
 * held: they are after what was before the subscription.
 */

static void
ngx_signal_rooms_learn(ngx_signal_room_t *room)
{
    ngx_signal_resume_t  *ctx;

    room->synced = 1;

    ctx = ngx_signal_rooms_resume_create(&room->sn.str, ngx_cycle->log);

    if (ctx == NULL) {
        return;
    }

    ctx->room = room;
    room->recovery = ctx;

    ctx->h.done = ngx_signal_rooms_learned;

    ngx_signal_rooms_read(ctx);
}


static void
ngx_signal_rooms_learned(ngx_signal_history_t *h)
{
    ngx_signal_room_t    *room;
    ngx_signal_resume_t  *ctx;

    ctx = h->data;
    room = ctx->room;

    if (room) {
        room->recovery = NULL;

        if (!h->failed && room->pos.epoch == 0) {
            room->pos.epoch = h->now_epoch;
            room->pos.seq = h->now_seq;
        }
    }

    ngx_destroy_pool(h->pool);
}


static void
ngx_signal_rooms_recovered(ngx_signal_history_t *h)
{
    ngx_signal_gap_t       gap;
    ngx_signal_room_t     *room;
    ngx_signal_resume_t   *ctx;

    ctx = h->data;
    room = ctx->room;

    if (room == NULL) {
        ngx_destroy_pool(h->pool);
        return;
    }

    room->recovery = NULL;

    if (ctx->drops != room->drops) {
        ngx_signal_rooms_recovered_again(room, h);
        ngx_destroy_pool(h->pool);
        return;
    }

    if (h->failed || h->now_epoch == 0) {

        if (++room->attempts < NGX_SIGNAL_RECOVERY_ATTEMPTS) {
            /* the engine is not back yet: still holding, try again */
            if (!ngx_signal_rooms_retry_ev.timer_set) {
                ngx_signal_rooms_retry_ev.handler = ngx_signal_rooms_retry;
                ngx_signal_rooms_retry_ev.data = &ngx_signal_no_connection;
                ngx_signal_rooms_retry_ev.log = ngx_cycle->log;
                ngx_signal_rooms_retry_ev.cancelable = 1;
                ngx_add_timer(&ngx_signal_rooms_retry_ev,
                              NGX_SIGNAL_RECOVERY_RETRY);
            }

            ngx_destroy_pool(h->pool);
            return;
        }

        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "signal: cannot read what \"%V\" missed while the "
                      "%s engine was away; its clients are told of a gap",
                      &room->sn.str, ngx_signal_engine->name);

        ngx_memzero(&gap, sizeof(ngx_signal_gap_t));
        gap.reason = "unavailable";
        ngx_signal_rooms_tell_all(room, &gap);

    } else {
        ngx_signal_rooms_recovery_apply(room, h);
    }

    ngx_signal_rooms_recovery_end(room);

    ngx_destroy_pool(h->pool);
}


/*
 * The link dropped again while the history was read: what it read is
 * delivered, and a read from there follows once the room's events reach
 * this worker again (now, or when resubscribed).
 */

static void
ngx_signal_rooms_recovered_again(ngx_signal_room_t *room,
    ngx_signal_history_t *h)
{
    if (!h->failed && h->now_epoch) {
        ngx_signal_rooms_recovery_apply(room, h);
    }

    if (room->recover_again) {
        ngx_signal_rooms_start(room);
    }
}


/* what a read found: the members' gaps, then the events, in order */

static void
ngx_signal_rooms_recovery_apply(ngx_signal_room_t *room,
    ngx_signal_history_t *h)
{
    ngx_uint_t              i;
    ngx_signal_delivery_t  *d;

    ngx_signal_rooms_recovery_gaps(room, h);

    d = h->events->elts;

    for (i = 0; i < h->events->nelts; i++) {
        if (ngx_signal_rooms_dispatch(room, &d[i], h->log) != NGX_OK) {
            break;
        }
    }

    if (h->events->nelts) {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "signal: \"%V\" recovered %ui events",
                      &room->sn.str, h->events->nelts);
    }
}


/* what waited is delivered, and the room is in step again */

static void
ngx_signal_rooms_recovery_end(ngx_signal_room_t *room)
{
    room->synced = 1;
    room->holding = 0;
    room->attempts = 0;

    ngx_signal_rooms_release_room(room);
}


static void
ngx_signal_rooms_retry(ngx_event_t *ev)
{
    ngx_signal_rooms_each(ngx_signal_rooms_retry_room);
}


static void
ngx_signal_rooms_retry_room(ngx_signal_room_t *room)
{
    /* (a room desynced since waits for its resubscription: attempts 0) */

    if (room->holding && room->recovery == NULL && room->attempts) {
        ngx_signal_rooms_start(room);
    }
}


/* what the members of a recovered room cannot get, each as it stands */

static void
ngx_signal_rooms_recovery_gaps(ngx_signal_room_t *room,
    ngx_signal_history_t *h)
{
    ngx_queue_t           *q;
    ngx_signal_gap_t       gap;
    ngx_signal_member_t   *m;
    ngx_signal_session_t  *s;

    if (h->gap == NULL) {
        return;
    }

    ngx_memzero(&gap, sizeof(ngx_signal_gap_t));
    gap.reason = h->gap;
    gap.now.epoch = h->now_epoch;
    gap.now.seq = h->gap_to;

    if (h->gap[0] == 'e') {
        /* the new epoch's events from gap_to on follow */
        room->pos = gap.now;
    }

    for (q = ngx_queue_head(&room->members);
         q != ngx_queue_sentinel(&room->members);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_signal_member_t, in_room);
        s = m->session;

        if (!m->placed || m->pos.epoch == 0 || !s->accepted) {
            continue;
        }

        if (h->gap[0] == 'e') {
            if (m->pos.epoch != gap.now.epoch) {
                s->protocol->gap(s, &room->sn.str, &gap);
                m->pos = gap.now;
            }

            continue;
        }

        if (m->pos.epoch == h->epoch && m->pos.seq < h->gap_to) {
            gap.from = m->pos.seq + 1;
            gap.to = h->gap_to;
            s->protocol->gap(s, &room->sn.str, &gap);
            m->pos.seq = h->gap_to;
        }
    }
}


static void
ngx_signal_rooms_tell_all(ngx_signal_room_t *room, ngx_signal_gap_t *gap)
{
    ngx_queue_t           *q;
    ngx_signal_member_t   *m;
    ngx_signal_session_t  *s;

    for (q = ngx_queue_head(&room->members);
         q != ngx_queue_sentinel(&room->members);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_signal_member_t, in_room);
        s = m->session;

        if (m->placed && s->accepted) {
            s->protocol->gap(s, &room->sn.str, gap);
        }
    }
}


/*
 * A live event for a room that recovers: copied, to be delivered after
 * what it recovers.  Past NGX_SIGNAL_RECOVERY_HOLD the recovery is given
 * up: the members hear of a gap, then get what was held.
 */

ngx_int_t
ngx_signal_rooms_hold_event(ngx_signal_room_t *room, ngx_signal_delivery_t *d)
{
    u_char             *p;
    size_t              size;
    ngx_signal_gap_t    gap;
    ngx_signal_held_t  *held;

    size = sizeof(ngx_signal_held_t) + d->room.len + d->event.len
           + d->data.len;

    if (room->nheld == NGX_SIGNAL_RECOVERY_HOLD
        || room->held_bytes + size > NGX_SIGNAL_RECOVERY_HOLD_BYTES)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "signal: \"%V\" waited too long for its recovery; "
                      "its clients are told of a gap", &room->sn.str);

        if (room->recovery) {
            room->recovery->room = NULL;
            room->recovery = NULL;
        }

        ngx_memzero(&gap, sizeof(ngx_signal_gap_t));
        gap.reason = "unavailable";
        ngx_signal_rooms_tell_all(room, &gap);

        ngx_signal_rooms_recovery_end(room);

        return ngx_signal_rooms_dispatch(room, d, ngx_cycle->log);
    }

    held = ngx_alloc(size, ngx_cycle->log);
    if (held == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(held, sizeof(ngx_signal_held_t));

    p = (u_char *) (held + 1);

    held->d.room.data = p;
    held->d.room.len = d->room.len;
    p = ngx_cpymem(p, d->room.data, d->room.len);

    held->d.event.data = p;
    held->d.event.len = d->event.len;
    p = ngx_cpymem(p, d->event.data, d->event.len);

    held->d.data.data = p;
    held->d.data.len = d->data.len;
    ngx_memcpy(p, d->data.data, d->data.len);

    held->d.seq = d->seq;
    held->d.epoch = d->epoch;

    *room->held_last = held;
    room->held_last = &held->next;
    room->nheld++;
    room->held_bytes += size;

    return NGX_OK;
}


static void
ngx_signal_rooms_release_room(ngx_signal_room_t *room)
{
    ngx_signal_held_t  *held, *next;

    held = room->held;

    room->held = NULL;
    room->held_last = &room->held;
    room->nheld = 0;
    room->held_bytes = 0;

    for ( /* void */ ; held; held = next) {
        next = held->next;

        if (room) {
            /* members drop what the recovery gave them already */
            if (ngx_signal_rooms_dispatch(room, &held->d, ngx_cycle->log)
                != NGX_OK)
            {
                room = NULL;
            }
        }

        ngx_free(held);
    }
}


/* a room without members any more: its recovery is not awaited */

void
ngx_signal_rooms_forget(ngx_signal_room_t *room)
{
    ngx_signal_held_t  *held, *next;

    if (room->recovery) {
        room->recovery->room = NULL;
        room->recovery = NULL;
    }

    room->holding = 0;
    room->recover_again = 0;

    for (held = room->held; held; held = next) {
        next = held->next;
        ngx_free(held);
    }

    room->held = NULL;
    room->held_last = &room->held;
    room->nheld = 0;
    room->held_bytes = 0;
}
