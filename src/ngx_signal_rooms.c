
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The worker-local room table: room name -> sessions of this worker,
 * family matching ("bulk_upload:*") and fan-out.  Both engines hand their
 * events to ngx_signal_rooms_deliver(): an event is encoded once per
 * protocol (each member's protocol, through its struct) and the same
 * frame is queued on every member of that protocol.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_rooms.h"
#include "ngx_signal_engine.h"
#include "ngx_signal_envelope.h"
#include "ngx_signal_presence.h"
#include "ngx_signal_status.h"


/* one event's fan-out in this worker */
typedef struct {
    ngx_signal_delivery_t  *d;
    uint64_t                stamp;
    ngx_uint_t              delivered;
    ngx_signal_frame_t     *frames[NGX_SIGNAL_PROTOCOLS];
    ngx_log_t              *log;
} ngx_signal_fanout_t;


static ngx_signal_room_t *ngx_signal_rooms_create(ngx_str_t *name);
static void ngx_signal_rooms_free(ngx_signal_room_t *room);
static void ngx_signal_rooms_remove(ngx_signal_member_t *m);
static ngx_int_t ngx_signal_rooms_fanout(ngx_signal_room_t *room,
    ngx_signal_fanout_t *f);
static ngx_str_t *ngx_signal_rooms_account(ngx_signal_session_t *s);


static ngx_rbtree_t        ngx_signal_rooms;
static ngx_rbtree_node_t   ngx_signal_rooms_sentinel;

/* one stamp per delivered event: a session gets it at most once */
static uint64_t            ngx_signal_rooms_stamp;


void
ngx_signal_rooms_init(void)
{
    ngx_rbtree_init(&ngx_signal_rooms, &ngx_signal_rooms_sentinel,
                    ngx_str_rbtree_insert_value);
}


ngx_signal_room_t *
ngx_signal_rooms_lookup(ngx_str_t *name)
{
    return (ngx_signal_room_t *) ngx_str_rbtree_lookup(&ngx_signal_rooms,
                                   name, ngx_crc32_short(name->data,
                                                         name->len));
}


static ngx_signal_room_t *
ngx_signal_rooms_create(ngx_str_t *name)
{
    ngx_signal_room_t  *room;

    room = ngx_alloc(sizeof(ngx_signal_room_t) + name->len, ngx_cycle->log);
    if (room == NULL) {
        return NULL;
    }

    ngx_memzero(room, sizeof(ngx_signal_room_t));

    ngx_memcpy(room->name, name->data, name->len);
    room->sn.str.data = room->name;
    room->sn.str.len = name->len;
    room->sn.node.key = ngx_crc32_short(name->data, name->len);

    ngx_queue_init(&room->members);
    room->held_last = &room->held;
    room->family = ngx_signal_name_is_family(name->data, name->len);

    /* an engine that confirms rooms knows where they are once it did */
    room->synced = (ngx_signal_engine->interest == NULL);

    if (ngx_signal_engine->interest
        && ngx_signal_engine->interest(&room->sn.str, 1) != NGX_OK)
    {
        ngx_free(room);
        return NULL;
    }

    ngx_rbtree_insert(&ngx_signal_rooms, &room->sn.node);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "signal: room \"%V\" has a first member here", name);

    return room;
}


static void
ngx_signal_rooms_free(ngx_signal_room_t *room)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "signal: room \"%V\" has no member here any more",
                   &room->sn.str);

    if (ngx_signal_engine->interest) {
        (void) ngx_signal_engine->interest(&room->sn.str, 0);
    }

    ngx_signal_rooms_forget(room);
    ngx_rbtree_delete(&ngx_signal_rooms, &room->sn.node);
    ngx_free(room);
}


/*
 * NGX_DECLINED: already a member; NGX_BUSY: the zone has no space to count
 * the connection in the room; NGX_ABORT: the user holds its share of it.
 */

ngx_int_t
ngx_signal_rooms_join(ngx_signal_session_t *s, ngx_str_t *name)
{
    ngx_int_t             rc;
    ngx_signal_room_t    *room;
    ngx_signal_member_t  *m;

    if (ngx_signal_rooms_member(s, name)) {
        return NGX_DECLINED;
    }

    room = ngx_signal_rooms_lookup(name);

    if (room == NULL) {
        room = ngx_signal_rooms_create(name);
        if (room == NULL) {
            return NGX_ERROR;
        }
    }

    m = ngx_alloc(sizeof(ngx_signal_member_t), s->connection->log);
    if (m == NULL) {
        rc = NGX_ERROR;
        goto failed;
    }

    rc = ngx_signal_presence_join(name, &s->user,
                                  ngx_signal_rooms_account(s));

    if (rc != NGX_OK) {
        ngx_free(m);

        /* the quota of one user is the user's to free; the rest is full */
        rc = (rc == NGX_SIGNAL_PRESENCE_USER) ? NGX_ABORT : NGX_BUSY;
        goto failed;
    }

    ngx_memzero(m, sizeof(ngx_signal_member_t));

    m->room = room;
    m->session = s;
    ngx_queue_insert_tail(&room->members, &m->in_room);
    ngx_queue_insert_tail(&s->members, &m->in_session);

    room->nmembers++;
    s->nrooms++;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, s->connection->log, 0,
                   "signal: joined \"%V\", %ui rooms", name, s->nrooms);

    return NGX_OK;

failed:

    if (room->nmembers == 0) {
        ngx_signal_rooms_free(room);
    }

    return rc;
}


/*
 * Who pays, in the zone's quota, for what a session makes it hold: the
 * subject of its verified token, or the anonymous connections together
 * (NULL): signal_user may come from a query argument, the subject cannot.
 */

static ngx_str_t *
ngx_signal_rooms_account(ngx_signal_session_t *s)
{
    return (s->authenticated && s->jwt.sub.len) ? &s->jwt.sub : NULL;
}


static void
ngx_signal_rooms_remove(ngx_signal_member_t *m)
{
    ngx_signal_room_t  *room;

    room = m->room;

    ngx_signal_presence_leave(&room->sn.str, &m->session->user,
                              ngx_signal_rooms_account(m->session));

    ngx_queue_remove(&m->in_room);
    ngx_queue_remove(&m->in_session);

    m->session->nrooms--;
    room->nmembers--;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, m->session->connection->log, 0,
                   "signal: left \"%V\"", &room->sn.str);

    ngx_signal_rooms_unwait(m);
    ngx_free(m);

    if (room->nmembers == 0) {
        ngx_signal_rooms_free(room);
    }
}


ngx_signal_member_t *
ngx_signal_rooms_member(ngx_signal_session_t *s, ngx_str_t *name)
{
    ngx_queue_t          *q;
    ngx_signal_member_t  *m;

    for (q = ngx_queue_head(&s->members);
         q != ngx_queue_sentinel(&s->members);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_signal_member_t, in_session);

        if (m->room->sn.str.len == name->len
            && ngx_memcmp(m->room->name, name->data, name->len) == 0)
        {
            return m;
        }
    }

    return NULL;
}


/* NGX_DECLINED: not a member */

ngx_int_t
ngx_signal_rooms_leave(ngx_signal_session_t *s, ngx_str_t *name)
{
    ngx_signal_member_t  *m;

    m = ngx_signal_rooms_member(s, name);

    if (m == NULL) {
        return NGX_DECLINED;
    }

    ngx_signal_rooms_remove(m);

    return NGX_OK;
}


void
ngx_signal_rooms_leave_all(ngx_signal_session_t *s)
{
    ngx_queue_t  *q;

    while (!ngx_queue_empty(&s->members)) {
        q = ngx_queue_head(&s->members);
        ngx_signal_rooms_remove(ngx_queue_data(q, ngx_signal_member_t,
                                               in_session));
    }
}


/*
 * The one entry point of events into this worker's rooms: the members of
 * the room and of every family that contains it ("a:b:c" -> "a:*",
 * "a:b:*"), each once.  An exact room the engine is recovering holds
 * its events until what came before them is delivered.
 */

ngx_int_t
ngx_signal_rooms_deliver(ngx_signal_delivery_t *d, ngx_log_t *log)
{
    ngx_signal_room_t  *room;

    room = ngx_signal_rooms_lookup(&d->room);

    if (room && room->holding) {
        return ngx_signal_rooms_hold_event(room, d);
    }

    return ngx_signal_rooms_dispatch(room, d, log);
}


/* d to the members of room (its exact room, or NULL) and its families */

ngx_int_t
ngx_signal_rooms_dispatch(ngx_signal_room_t *room, ngx_signal_delivery_t *d,
    ngx_log_t *log)
{
    size_t                i;
    u_char                family[NGX_SIGNAL_MAX_NAME_LENGTH + 2];
    ngx_int_t             rc;
    ngx_str_t             fname;
    ngx_uint_t            k;
    ngx_signal_fanout_t   f;

    ngx_memzero(&f, sizeof(ngx_signal_fanout_t));

    f.d = d;
    f.stamp = ++ngx_signal_rooms_stamp;
    f.log = log;

    rc = NGX_OK;

    if (room) {
        ngx_signal_rooms_track(room, d);
        rc = ngx_signal_rooms_fanout(room, &f);
    }

    fname.data = family;

    for (i = 0; rc == NGX_OK && i + 1 < d->room.len; i++) {

        if (d->room.data[i] != ':' || i + 2 > sizeof(family)) {
            continue;
        }

        ngx_memcpy(family, d->room.data, i + 1);
        family[i + 1] = '*';
        fname.len = i + 2;

        room = ngx_signal_rooms_lookup(&fname);

        if (room) {
            rc = ngx_signal_rooms_fanout(room, &f);
        }
    }

    for (k = 0; k < NGX_SIGNAL_PROTOCOLS; k++) {
        if (f.frames[k]) {
            ngx_signal_out_frame_release(f.frames[k]);
        }
    }

    ngx_signal_count(delivered, f.delivered);

    return rc;
}


/* an exact room's position: the newest event delivered here */

void
ngx_signal_rooms_track(ngx_signal_room_t *room, ngx_signal_delivery_t *d)
{
    if (d->epoch != room->pos.epoch || d->seq > room->pos.seq) {
        room->pos.epoch = d->epoch;
        room->pos.seq = d->seq;
    }
}


static ngx_int_t
ngx_signal_rooms_fanout(ngx_signal_room_t *room, ngx_signal_fanout_t *f)
{
    ngx_queue_t            *q;
    ngx_signal_frame_t    **frame;
    ngx_signal_member_t    *m;
    ngx_signal_session_t   *s;

    for (q = ngx_queue_head(&room->members);
         q != ngx_queue_sentinel(&room->members);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_signal_member_t, in_room);
        s = m->session;

        if (s->last_event == f->stamp || !s->accepted) {
            continue;
        }

        s->last_event = f->stamp;

        /* a client that has the event (replayed to it) does not get it */

        if (!room->family && m->placed
            && !ngx_signal_rooms_admit(m, f->d))
        {
            continue;
        }

        frame = &f->frames[s->protocol->index];

        if (*frame == NULL) {
            /* encoded once per protocol, for the first member of it */
            *frame = s->protocol->encode(f->d, f->log);
            if (*frame == NULL) {
                return NGX_ERROR;
            }
        }

        if (!room->family && !m->placed) {
            /* after what is being replayed to it */
            if (ngx_signal_rooms_hold(m, *frame, f->d) != NGX_OK) {
                return NGX_ERROR;
            }

            continue;
        }

        ngx_signal_session_send(s, *frame);
        f->delivered++;
    }

    return NGX_OK;
}


/*
 * Whether a member of an exact room gets d: not when it has it already.
 * An epoch it does not know means the room's numbers restarted: the
 * client hears of it before the event.
 */

ngx_uint_t
ngx_signal_rooms_admit(ngx_signal_member_t *m, ngx_signal_delivery_t *d)
{
    ngx_signal_gap_t  gap;

    if (d->epoch == m->pos.epoch) {
        if (d->seq <= m->pos.seq) {
            return 0;
        }

    } else if (m->pos.epoch) {
        gap.reason = "epoch";
        gap.from = 0;
        gap.to = 0;
        gap.now.epoch = d->epoch;
        gap.now.seq = d->seq - 1;

        m->session->protocol->gap(m->session, &m->room->sn.str, &gap);
    }

    m->pos.epoch = d->epoch;
    m->pos.seq = d->seq;

    return 1;
}


/*
 * The engine confirmed that a room's events reach this worker (or gave
 * up on it for an outage): the members that waited for it get their
 * answer.
 */

void
ngx_signal_rooms_ready(ngx_str_t *name)
{
    ngx_queue_t           *q, *next;
    ngx_signal_room_t     *room;
    ngx_signal_member_t   *m;
    ngx_signal_session_t  *s;

    room = ngx_signal_rooms_lookup(name);

    if (room == NULL) {
        return;
    }

    for (q = ngx_queue_head(&room->members);
         q != ngx_queue_sentinel(&room->members);
         q = next)
    {
        /* answering may close the session and free its memberships */
        next = ngx_queue_next(q);

        m = ngx_queue_data(q, ngx_signal_member_t, in_room);

        if (!m->pending) {
            continue;
        }

        m->pending = 0;
        s = m->session;

        if (!s->accepted) {
            if (--s->waiting == 0) {
                ngx_signal_session_ready(s);
            }

            continue;
        }

        (void) ngx_signal_rooms_place(m);
    }
}


/* fn for every room of this worker (fn must not free rooms) */

void
ngx_signal_rooms_each(void (*fn)(ngx_signal_room_t *room))
{
    ngx_rbtree_node_t  *node, *root, *sentinel;

    root = ngx_signal_rooms.root;
    sentinel = ngx_signal_rooms.sentinel;

    if (root == sentinel) {
        return;
    }

    for (node = ngx_rbtree_min(root, sentinel);
         node;
         node = ngx_rbtree_next(&ngx_signal_rooms, node))
    {
        fn((ngx_signal_room_t *) node);
    }
}


/*
 * signal_allow_subscribe: "*" allows everything, "prefix:*" allows
 * "prefix:<anything>" (families under it included), anything else is an
 * exact name.
 */

ngx_uint_t
ngx_signal_rooms_allowed(ngx_array_t *allow, ngx_str_t *room)
{
    ngx_str_t   *p;
    ngx_uint_t   i;

    if (allow == NULL) {
        return 0;
    }

    p = allow->elts;

    for (i = 0; i < allow->nelts; i++) {

        if (p[i].len == 1 && p[i].data[0] == '*') {
            return 1;
        }

        if (ngx_signal_name_is_family(p[i].data, p[i].len)) {
            if (room->len > p[i].len - 1
                && ngx_memcmp(room->data, p[i].data, p[i].len - 1) == 0)
            {
                return 1;
            }

            continue;
        }

        if (p[i].len == room->len
            && ngx_memcmp(p[i].data, room->data, room->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}
