
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The worker-local room table: room name -> connections of this worker,
 * family matching ("bulk_upload:*") and fan-out.  An event is encoded once
 * and the same frame is queued on every member connection.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal.h"


typedef struct {
    ngx_str_t            *room;
    ngx_str_t            *event;
    ngx_str_t            *data;
    uint64_t              seq;
    uint64_t              stamp;
    ngx_uint_t            delivered;
    ngx_signal_frame_t   *frame;
    ngx_log_t            *log;
} ngx_signal_delivery_t;


static ngx_signal_room_t *ngx_signal_room_lookup(ngx_str_t *name);
static ngx_signal_room_t *ngx_signal_room_create(ngx_str_t *name);
static void ngx_signal_room_free(ngx_signal_room_t *room);
static void ngx_signal_member_remove(ngx_signal_member_t *m);
static ngx_int_t ngx_signal_room_deliver(ngx_signal_room_t *room,
    ngx_signal_delivery_t *d);


static ngx_rbtree_t        ngx_signal_rooms;
static ngx_rbtree_node_t   ngx_signal_rooms_sentinel;

/* one stamp per published event: a connection gets it at most once */
static uint64_t            ngx_signal_delivery_stamp;


void
ngx_signal_rooms_init(void)
{
    ngx_rbtree_init(&ngx_signal_rooms, &ngx_signal_rooms_sentinel,
                    ngx_str_rbtree_insert_value);
}


static ngx_signal_room_t *
ngx_signal_room_lookup(ngx_str_t *name)
{
    uint32_t         hash;
    ngx_str_node_t  *sn;

    hash = ngx_crc32_short(name->data, name->len);

    sn = ngx_str_rbtree_lookup(&ngx_signal_rooms, name, hash);

    return (ngx_signal_room_t *) sn;
}


static ngx_signal_room_t *
ngx_signal_room_create(ngx_str_t *name)
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

    if (ngx_signal_redis && ngx_signal_redis_want(&room->sn.str, 1) != NGX_OK)
    {
        ngx_free(room);
        return NULL;
    }

    ngx_rbtree_insert(&ngx_signal_rooms, &room->sn.node);

    return room;
}


static void
ngx_signal_room_free(ngx_signal_room_t *room)
{
    if (ngx_signal_redis) {
        (void) ngx_signal_redis_want(&room->sn.str, 0);
    }

    ngx_rbtree_delete(&ngx_signal_rooms, &room->sn.node);
    ngx_free(room);
}


/*
 * NGX_DECLINED: already a member; NGX_BUSY: the zone has no space to count
 * the connection in the room; NGX_ABORT: the user holds its share of it.
 */

ngx_int_t
ngx_signal_room_join(ngx_signal_session_t *s, ngx_str_t *name)
{
    ngx_int_t             rc;
    ngx_queue_t          *q;
    ngx_signal_room_t    *room;
    ngx_signal_member_t  *m;

    room = ngx_signal_room_lookup(name);

    if (room) {
        for (q = ngx_queue_head(&s->members);
             q != ngx_queue_sentinel(&s->members);
             q = ngx_queue_next(q))
        {
            m = ngx_queue_data(q, ngx_signal_member_t, in_session);

            if (m->room == room) {
                return NGX_DECLINED;
            }
        }

    } else {
        room = ngx_signal_room_create(name);
        if (room == NULL) {
            return NGX_ERROR;
        }
    }

    m = ngx_alloc(sizeof(ngx_signal_member_t), s->connection->log);
    if (m == NULL) {
        if (room->nmembers == 0) {
            ngx_signal_room_free(room);
        }

        return NGX_ERROR;
    }

    rc = ngx_signal_presence_join(name, &s->user, !s->authenticated);

    if (rc != NGX_OK) {
        ngx_free(m);

        if (room->nmembers == 0) {
            ngx_signal_room_free(room);
        }

        /* the quota of one user is the user's to free; the rest is full */
        return (rc == NGX_SIGNAL_PRESENCE_USER) ? NGX_ABORT : NGX_BUSY;
    }

    ngx_memzero(m, sizeof(ngx_signal_member_t));

    m->room = room;
    m->session = s;
    ngx_queue_insert_tail(&room->members, &m->in_room);
    ngx_queue_insert_tail(&s->members, &m->in_session);

    room->nmembers++;
    s->nrooms++;

    return NGX_OK;
}


static void
ngx_signal_member_remove(ngx_signal_member_t *m)
{
    ngx_signal_room_t  *room;

    room = m->room;

    ngx_signal_presence_leave(&room->sn.str, &m->session->user);

    ngx_queue_remove(&m->in_room);
    ngx_queue_remove(&m->in_session);

    m->session->nrooms--;
    room->nmembers--;

    if (m->reply_id.data) {
        ngx_free(m->reply_id.data);
    }

    ngx_free(m);

    if (room->nmembers == 0) {
        ngx_signal_room_free(room);
    }
}


ngx_signal_member_t *
ngx_signal_member_find(ngx_signal_session_t *s, ngx_str_t *name)
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


ngx_uint_t
ngx_signal_room_member(ngx_signal_session_t *s, ngx_str_t *name)
{
    return ngx_signal_member_find(s, name) != NULL;
}


/* NGX_DECLINED: not a member */

ngx_int_t
ngx_signal_room_leave(ngx_signal_session_t *s, ngx_str_t *name)
{
    ngx_signal_member_t  *m;

    m = ngx_signal_member_find(s, name);

    if (m == NULL) {
        return NGX_DECLINED;
    }

    ngx_signal_member_remove(m);

    return NGX_OK;
}


void
ngx_signal_room_leave_all(ngx_signal_session_t *s)
{
    ngx_queue_t  *q;

    while (!ngx_queue_empty(&s->members)) {
        q = ngx_queue_head(&s->members);
        ngx_signal_member_remove(ngx_queue_data(q, ngx_signal_member_t,
                                                in_session));
    }
}


/*
 * Deliver an event (its seq assigned in the zone) to this worker's members
 * of the room and of every family that contains it ("a:b:c" -> "a:*",
 * "a:b:*").
 */

ngx_int_t
ngx_signal_rooms_publish(ngx_str_t *name, ngx_str_t *event, ngx_str_t *data,
    uint64_t seq, ngx_log_t *log)
{
    size_t                  i;
    u_char                  family[NGX_SIGNAL_MAX_NAME_LENGTH + 2];
    ngx_int_t               rc;
    ngx_str_t               fname;
    ngx_signal_room_t      *room;
    ngx_signal_delivery_t   d;

    d.room = name;
    d.event = event;
    d.data = data;
    d.seq = seq;
    d.stamp = ++ngx_signal_delivery_stamp;
    d.frame = NULL;
    d.delivered = 0;
    d.log = log;

    rc = NGX_OK;

    room = ngx_signal_room_lookup(name);

    if (room) {
        rc = ngx_signal_room_deliver(room, &d);
    }

    fname.data = family;

    for (i = 0; rc == NGX_OK && i + 1 < name->len; i++) {

        if (name->data[i] != ':' || i + 2 > sizeof(family)) {
            continue;
        }

        ngx_memcpy(family, name->data, i + 1);
        family[i + 1] = '*';
        fname.len = i + 2;

        room = ngx_signal_room_lookup(&fname);

        if (room) {
            rc = ngx_signal_room_deliver(room, &d);
        }
    }

    if (d.frame) {
        ngx_signal_frame_release(d.frame);
    }

    ngx_signal_count(delivered, d.delivered);

    return rc;
}


uint64_t
ngx_signal_rooms_new_stamp(void)
{
    return ++ngx_signal_delivery_stamp;
}


/*
 * The Redis engine's delivery: an event of "room" to this worker's members
 * of "target" (the room itself, or a family it is in), with the stamp its
 * other copies share.
 */

ngx_int_t
ngx_signal_rooms_deliver(ngx_str_t *target, ngx_str_t *name,
    ngx_str_t *event, ngx_str_t *data, uint64_t seq, uint64_t stamp,
    ngx_log_t *log)
{
    ngx_int_t               rc;
    ngx_signal_room_t      *room;
    ngx_signal_delivery_t   d;

    room = ngx_signal_room_lookup(target);

    if (room == NULL) {
        return NGX_OK;
    }

    d.room = name;
    d.event = event;
    d.data = data;
    d.seq = seq;
    d.stamp = stamp;
    d.frame = NULL;
    d.delivered = 0;
    d.log = log;

    rc = ngx_signal_room_deliver(room, &d);

    if (d.frame) {
        ngx_signal_frame_release(d.frame);
    }

    ngx_signal_count(delivered, d.delivered);

    return rc;
}


/*
 * Redis confirmed the subscription of a room (or gave up on it for an
 * outage): the members that waited for it get their answer.
 */

void
ngx_signal_rooms_confirmed(ngx_str_t *name)
{
    ngx_queue_t           *q, *next;
    ngx_signal_room_t     *room;
    ngx_signal_member_t   *m;
    ngx_signal_session_t  *s;

    room = ngx_signal_room_lookup(name);

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
                ngx_signal_session_accept_later(s);
            }

            continue;
        }

        ngx_signal_native_subscribed(s, name,
                                     m->reply_id.data ? &m->reply_id : NULL);

        if (m->reply_id.data) {
            ngx_free(m->reply_id.data);
            ngx_str_null(&m->reply_id);
        }
    }
}


static ngx_int_t
ngx_signal_room_deliver(ngx_signal_room_t *room, ngx_signal_delivery_t *d)
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

        if (s->last_event == d->stamp || !s->accepted) {
            continue;
        }

        s->last_event = d->stamp;

        if (d->frame == NULL) {
            /* encoded once, on the first member that needs it */
            d->frame = ngx_signal_native_event(d->room, d->event, d->data,
                                               d->seq, d->log);
            if (d->frame == NULL) {
                return NGX_ERROR;
            }
        }

        ngx_signal_session_send(s, d->frame);
        d->delivered++;
    }

    return NGX_OK;
}


/*
 * signal_allow_subscribe: "*" allows everything, "prefix:*" allows
 * "prefix:<anything>" (families under it included), anything else is an
 * exact name.
 */

ngx_uint_t
ngx_signal_room_allowed(ngx_array_t *allow, ngx_str_t *room)
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

        if (ngx_signal_room_is_family(p[i].data, p[i].len)) {
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
