
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Positions, replays and recovery.  A connection placed in an exact room
 * learns its position there (the "subscribed" message); one that asks to
 * resume from an older position first gets what the engine's history has
 * after it, and a gap for what history lacks.  Live events that arrive
 * while the history is read wait behind it, and each member drops what
 * it has already (ngx_signal_rooms_admit), so the seam has neither a hole
 * nor a duplicate.  ngx_signal_rooms_recover.c does the same for a whole
 * room when the engine's link came back.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_rooms.h"
#include "ngx_signal_engine.h"


static void ngx_signal_rooms_resumed(ngx_signal_history_t *h);
static void ngx_signal_rooms_replay(ngx_signal_member_t *m,
    ngx_signal_position_t *want, ngx_signal_history_t *h);
static void ngx_signal_rooms_placed(ngx_signal_member_t *m,
    ngx_signal_position_t *pos);
static void ngx_signal_rooms_release(ngx_signal_member_t *m);


/*
 * A member is in its room from now on: "subscribed" with its position.
 * A family has none; an exact room's comes from this worker when it
 * knows it, else from the engine, with what the client asked to resume.
 */

ngx_int_t
ngx_signal_rooms_place(ngx_signal_member_t *m)
{
    ngx_signal_room_t         *room;
    ngx_signal_resume_t       *ctx;
    ngx_signal_session_t      *s;
    ngx_signal_position_t      want;
    ngx_signal_member_wait_t  *wait;

    room = m->room;
    s = m->session;

    if (room->family) {
        ngx_signal_rooms_placed(m, NULL);
        ngx_signal_rooms_unwait(m);
        return NGX_OK;
    }

    want.epoch = 0;
    want.seq = 0;

    if (m->wait) {
        want = m->wait->want;
    }

    if (want.epoch == 0 && room->synced && room->pos.epoch) {
        /* what is delivered here next is after this */
        m->pos = room->pos;
        ngx_signal_rooms_placed(m, &m->pos);
        ngx_signal_rooms_unwait(m);
        return NGX_OK;
    }

    wait = ngx_signal_rooms_wait(m);

    /* the read may outlive the connection: not the connection's log */

    ctx = wait ? ngx_signal_rooms_resume_create(&room->sn.str,
                                                ngx_cycle->log)
               : NULL;

    if (ctx == NULL) {
        ngx_signal_rooms_placed(m, NULL);
        ngx_signal_rooms_unwait(m);
        return NGX_ERROR;
    }

    ctx->member = m;
    wait->resume = ctx;

    ctx->h.since = want.seq;
    ctx->h.epoch = want.epoch;
    ctx->h.limit = want.epoch ? NGX_SIGNAL_REPLAY_MAX : 0;

    /* what is replayed must not make the client a slow consumer */

    ctx->h.max_bytes = s->conf->send_queue / 2;
    ctx->h.max_bytes -= ngx_min(ctx->h.max_bytes, s->out.queued);

    ctx->h.done = ngx_signal_rooms_resumed;

    ngx_signal_rooms_read(ctx);

    return NGX_OK;
}


/* what a member waits with: made when it first needs it */

ngx_signal_member_wait_t *
ngx_signal_rooms_wait(ngx_signal_member_t *m)
{
    if (m->wait) {
        return m->wait;
    }

    m->wait = ngx_calloc(sizeof(ngx_signal_member_wait_t),
                         m->session->connection->log);

    if (m->wait) {
        m->wait->held_last = &m->wait->held;
    }

    return m->wait;
}


/*
 * A member waits no more (placed, or leaving): what it held goes, and
 * its replay is not awaited.
 */

void
ngx_signal_rooms_unwait(ngx_signal_member_t *m)
{
    ngx_signal_held_t         *held, *next;
    ngx_signal_member_wait_t  *wait;

    wait = m->wait;

    if (wait == NULL) {
        return;
    }

    if (wait->resume) {
        wait->resume->member = NULL;
    }

    for (held = wait->held; held; held = next) {
        next = held->next;
        ngx_signal_out_frame_release(held->frame);
        ngx_free(held);
    }

    if (wait->reply_id.data) {
        ngx_free(wait->reply_id.data);
    }

    ngx_free(wait);
    m->wait = NULL;
}


/*
 * Every room a new connection joined, once its 101 is out.  Unless it is
 * to hear of them, they are placed silently: the first event a member
 * gets sets its position.
 */

void
ngx_signal_rooms_place_all(ngx_signal_session_t *s, ngx_uint_t announce)
{
    ngx_queue_t          *q;
    ngx_signal_member_t  *m;

    for (q = ngx_queue_head(&s->members);
         q != ngx_queue_sentinel(&s->members);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_signal_member_t, in_session);

        if (m->placed || (m->wait && m->wait->resume)) {
            continue;
        }

        if (announce) {
            (void) ngx_signal_rooms_place(m);

        } else {
            m->placed = 1;
        }
    }
}


ngx_signal_resume_t *
ngx_signal_rooms_resume_create(ngx_str_t *name, ngx_log_t *log)
{
    ngx_pool_t           *pool;
    ngx_signal_resume_t  *ctx;

    /* a pool of its own: the answer may come after the member left */

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        return NULL;
    }

    ctx = ngx_pcalloc(pool, sizeof(ngx_signal_resume_t));
    if (ctx == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    ctx->h.room.data = ngx_pstrdup(pool, name);
    if (ctx->h.room.data == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    ctx->h.room.len = name->len;
    ctx->h.pool = pool;
    ctx->h.log = pool->log;
    ctx->h.data = ctx;

    return ctx;
}


/* the engine's history: h->done now or later */

void
ngx_signal_rooms_read(ngx_signal_resume_t *ctx)
{
    if (ngx_signal_engine->history == NULL) {
        ctx->h.failed = 1;

    } else if (ngx_signal_engine->history(&ctx->h) == NGX_AGAIN) {
        return;
    }

    ctx->h.done(&ctx->h);
}


static void
ngx_signal_rooms_resumed(ngx_signal_history_t *h)
{
    ngx_signal_gap_t           gap;
    ngx_signal_member_t       *m;
    ngx_signal_resume_t       *ctx;
    ngx_signal_member_wait_t  *wait;

    ctx = h->data;
    m = ctx->member;

    if (m == NULL) {
        ngx_destroy_pool(h->pool);
        return;
    }

    wait = m->wait;
    wait->resume = NULL;

    if (h->failed || h->now_epoch == 0) {

        if (wait->want.epoch) {
            /* the client cannot know what it missed: it refetches */
            ngx_memzero(&gap, sizeof(ngx_signal_gap_t));
            gap.reason = "unavailable";
            m->session->protocol->gap(m->session, &m->room->sn.str, &gap);
        }

        /* the first event it gets sets its position */
        m->pos.epoch = 0;
        m->pos.seq = 0;

        ngx_signal_rooms_placed(m, NULL);

    } else {
        ngx_signal_rooms_replay(m, &wait->want, h);
        ngx_signal_rooms_placed(m, &m->pos);
    }

    ngx_signal_rooms_release(m);
    ngx_signal_rooms_unwait(m);

    ngx_destroy_pool(h->pool);
}


/* the gap and the events a member missed, and its position after them */

static void
ngx_signal_rooms_replay(ngx_signal_member_t *m, ngx_signal_position_t *want,
    ngx_signal_history_t *h)
{
    ngx_uint_t              i;
    ngx_signal_gap_t        gap;
    ngx_signal_frame_t     *f;
    ngx_signal_session_t   *s;
    ngx_signal_delivery_t  *d;

    s = m->session;

    m->pos.epoch = h->now_epoch;
    m->pos.seq = h->now_seq;

    if (want->epoch == 0) {
        /* a new subscription: from now on */
        return;
    }

    ngx_memzero(&gap, sizeof(ngx_signal_gap_t));
    gap.reason = h->gap;

    if (h->gap && h->gap[0] == 'e') {
        /* its position is void: the epoch's events from gap_to on */
        m->pos.seq = h->gap_to;
        gap.now = m->pos;
        s->protocol->gap(s, &m->room->sn.str, &gap);

    } else if (h->gap) {
        /* the position after the gap: what follows is after gap_to */
        m->pos.seq = h->gap_to;

        gap.now = m->pos;
        gap.from = want->seq + 1;
        gap.to = h->gap_to;
        s->protocol->gap(s, &m->room->sn.str, &gap);

    } else {
        m->pos.seq = want->seq;
    }

    d = h->events->elts;

    for (i = 0; i < h->events->nelts; i++) {
        f = s->protocol->encode(&d[i], h->log);
        if (f == NULL) {
            /* cannot be told otherwise: it refetches */
            gap.reason = "unavailable";
            s->protocol->gap(s, &m->room->sn.str, &gap);
            return;
        }

        ngx_signal_session_send(s, f);
        ngx_signal_out_frame_release(f);

        m->pos.seq = d[i].seq;
    }
}


/* "subscribed": the member is in step with its room from here on */

static void
ngx_signal_rooms_placed(ngx_signal_member_t *m, ngx_signal_position_t *pos)
{
    ngx_str_t             *id;
    ngx_signal_session_t  *s;

    s = m->session;
    m->placed = 1;

    id = (m->wait && m->wait->reply_id.data) ? &m->wait->reply_id : NULL;

    s->protocol->subscribed(s, &m->room->sn.str, id, pos);

    if (id) {
        ngx_free(id->data);
        ngx_str_null(id);
    }
}


/*
 * A live event for a member whose replay is being read: kept, by
 * reference, until the replay is out.  Past signal_send_queue the client
 * is a slow consumer.
 */

ngx_int_t
ngx_signal_rooms_hold(ngx_signal_member_t *m, ngx_signal_frame_t *f,
    ngx_signal_delivery_t *d)
{
    ngx_signal_held_t         *held;
    ngx_signal_session_t      *s;
    ngx_signal_member_wait_t  *wait;

    s = m->session;

    wait = ngx_signal_rooms_wait(m);
    if (wait == NULL) {
        return NGX_ERROR;
    }

    if (wait->held_bytes + f->len > s->conf->send_queue) {
        ngx_signal_session_slow(s);
        return NGX_OK;
    }

    held = ngx_alloc(sizeof(ngx_signal_held_t), s->connection->log);
    if (held == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(held, sizeof(ngx_signal_held_t));

    held->frame = f;
    f->refs++;

    held->d.seq = d->seq;
    held->d.epoch = d->epoch;

    *wait->held_last = held;
    wait->held_last = &held->next;
    wait->held_bytes += f->len;

    return NGX_OK;
}


/* what waited behind the replay, but for what the replay had */

static void
ngx_signal_rooms_release(ngx_signal_member_t *m)
{
    ngx_signal_held_t         *held, *next;
    ngx_signal_member_wait_t  *wait;

    wait = m->wait;
    held = wait->held;

    wait->held = NULL;
    wait->held_last = &wait->held;
    wait->held_bytes = 0;

    for ( /* void */ ; held; held = next) {
        next = held->next;

        if (ngx_signal_rooms_admit(m, &held->d)) {
            ngx_signal_session_send(m->session, held->frame);
            ngx_signal_count(delivered, 1);
        }

        ngx_signal_out_frame_release(held->frame);
        ngx_free(held);
    }
}


/* an epoch as the server sends it: 16 hex digits, not all zero */

ngx_int_t
ngx_signal_rooms_parse_epoch(u_char *p, size_t len, uint64_t *epoch)
{
    size_t     i;
    ngx_int_t  digit;
    uint64_t   value;

    if (len != 16) {
        return NGX_ERROR;
    }

    value = 0;

    for (i = 0; i < len; i++) {
        digit = ngx_hextoi(&p[i], 1);
        if (digit == NGX_ERROR) {
            return NGX_ERROR;
        }

        value = value << 4 | (uint64_t) digit;
    }

    if (value == 0) {
        return NGX_ERROR;
    }

    *epoch = value;

    return NGX_OK;
}


/*
 * ?resume=<room>:<seq>:<epoch>[,...], URL-encoded: where to resume the
 * rooms a connection joins at the handshake.  A room it does not join
 * there is left out (the client resumes it with its subscribe message).
 * NULL, or what is wrong with it.
 */

const char *
ngx_signal_rooms_resume_arg(ngx_signal_session_t *s, ngx_str_t *arg,
    ngx_pool_t *pool)
{
    u_char                *text, *dst, *p, *last, *end, *colon;
    ngx_str_t              room;
    ngx_uint_t             n;
    ngx_signal_member_t   *m;
    ngx_signal_position_t  pos;

    text = ngx_pnalloc(pool, arg->len);
    if (text == NULL) {
        return "out of memory";
    }

    dst = text;
    p = arg->data;
    ngx_unescape_uri(&dst, &p, arg->len, 0);

    last = dst;
    n = 0;

    for (p = text; p < last; p = end + 1) {

        end = ngx_strlchr(p, last, ',');
        if (end == NULL) {
            end = last;
        }

        if (++n > s->conf->max_rooms) {
            return "lists more rooms than signal_max_rooms_per_connection";
        }

        /* from the right: the epoch, the seq, and the room */

        for (colon = end - 1; colon > p && *colon != ':'; colon--) {
            /* void */
        }

        if (colon <= p
            || ngx_signal_rooms_parse_epoch(colon + 1, end - colon - 1,
                                            &pos.epoch)
               != NGX_OK)
        {
            return "expects <room>:<seq>:<epoch>, the epoch as the server "
                   "sent it";
        }

        room.data = p;

        for (p = colon - 1; p > room.data && *p != ':'; p--) {
            /* void */
        }

        if (p <= room.data || colon - p - 1 == 0 || colon - p - 1 > 18) {
            return "expects <room>:<seq>:<epoch>";
        }

        pos.seq = ngx_atoof(p + 1, colon - p - 1);
        if (pos.seq == (uint64_t) NGX_ERROR) {
            return "expects <room>:<seq>:<epoch>, seq a number";
        }

        room.len = p - room.data;

        m = ngx_signal_rooms_member(s, &room);

        if (m && !m->room->family) {
            if (ngx_signal_rooms_wait(m) == NULL) {
                return "cannot be kept: out of memory";
            }

            m->wait->want = pos;
        }
    }

    return NULL;
}
