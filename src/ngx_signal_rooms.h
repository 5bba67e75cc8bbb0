
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The worker-local room table: room name -> this worker's sessions in
 * it, family matching ("bulk_upload:*") and fan-out.  Every engine hands
 * its events to ngx_signal_rooms_deliver(); each member's protocol
 * encodes an event once per worker, and the same frame is queued on every
 * member of that protocol.
 */


#ifndef _NGX_SIGNAL_ROOMS_H_INCLUDED_
#define _NGX_SIGNAL_ROOMS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_signal_session.h"
#include "ngx_signal_protocol.h"
#include "ngx_signal_engine.h"


typedef struct ngx_signal_held_s    ngx_signal_held_t;
typedef struct ngx_signal_resume_s  ngx_signal_resume_t;


/* an event that waits while a replay before it is read */
struct ngx_signal_held_s {
    ngx_signal_held_t          *next;
    ngx_signal_frame_t         *frame;      /* a member's: encoded */
    ngx_signal_delivery_t       d;          /* a room's: copied */
};


typedef struct {
    ngx_str_node_t              sn;
    ngx_queue_t                 members;
    ngx_uint_t                  nmembers;

    /* an exact room: the last event delivered here, in order */
    ngx_signal_position_t       pos;

    /* events held while the engine's history is read to recover */
    ngx_signal_resume_t        *recovery;   /* the read in flight */
    ngx_signal_held_t          *held;
    ngx_signal_held_t         **held_last;
    ngx_uint_t                  nheld;
    size_t                      held_bytes;
    ngx_uint_t                  attempts;
    ngx_uint_t                  drops;      /* the engine's link dropped */

    unsigned                    family:1;
    unsigned                    synced:1;   /* pos is the engine's too */
    unsigned                    holding:1;  /* desynced or recovering */
    unsigned                    recover_again:1;
    u_char                      name[1];
} ngx_signal_room_t;


/*
 * What a member waits for, while it does: the engine's confirmation of
 * its room (the reply to send then), its replay (and the live events
 * held behind it).  Most members never need one.
 */
typedef struct {
    ngx_str_t                   reply_id;     /* of a deferred reply */
    ngx_signal_position_t       want;         /* resume from; epoch 0: no */
    ngx_signal_resume_t        *resume;       /* the read in flight */
    ngx_signal_held_t          *held;
    ngx_signal_held_t         **held_last;
    size_t                      held_bytes;
} ngx_signal_member_wait_t;


/* a session's membership of a room */
typedef struct {
    ngx_queue_t                 in_room;
    ngx_queue_t                 in_session;
    ngx_signal_room_t          *room;
    ngx_signal_session_t       *session;

    /* an exact room: the last event the client has */
    ngx_signal_position_t       pos;

    ngx_signal_member_wait_t   *wait;         /* NULL: nothing to wait for */

    unsigned                    pending:1;    /* the engine confirms it */
    unsigned                    placed:1;     /* in step with the room */
} ngx_signal_member_t;


/* a resume replays at most this many events per room */
#define NGX_SIGNAL_REPLAY_MAX  1000


/* a history read for a member (resume) or a room (recovery) */
struct ngx_signal_resume_s {
    ngx_signal_history_t        h;
    ngx_signal_member_t        *member;     /* NULL: it left meanwhile */
    ngx_signal_room_t          *room;       /* recovering; NULL: freed */
    ngx_uint_t                  drops;      /* room->drops when started */
};


void ngx_signal_rooms_init(void);
ngx_signal_room_t *ngx_signal_rooms_lookup(ngx_str_t *name);
ngx_int_t ngx_signal_rooms_join(ngx_signal_session_t *s, ngx_str_t *name);
ngx_int_t ngx_signal_rooms_leave(ngx_signal_session_t *s, ngx_str_t *name);
void ngx_signal_rooms_leave_all(ngx_signal_session_t *s);
ngx_signal_member_t *ngx_signal_rooms_member(ngx_signal_session_t *s,
    ngx_str_t *name);
ngx_uint_t ngx_signal_rooms_allowed(ngx_array_t *allow, ngx_str_t *room);
ngx_int_t ngx_signal_rooms_deliver(ngx_signal_delivery_t *d,
    ngx_log_t *log);
ngx_int_t ngx_signal_rooms_dispatch(ngx_signal_room_t *room,
    ngx_signal_delivery_t *d, ngx_log_t *log);
void ngx_signal_rooms_track(ngx_signal_room_t *room,
    ngx_signal_delivery_t *d);
ngx_uint_t ngx_signal_rooms_admit(ngx_signal_member_t *m,
    ngx_signal_delivery_t *d);
void ngx_signal_rooms_ready(ngx_str_t *name);
void ngx_signal_rooms_each(void (*fn)(ngx_signal_room_t *room));

/* positions, replays (ngx_signal_rooms_resume.c) and recovery
 * (ngx_signal_rooms_recover.c) */
ngx_signal_resume_t *ngx_signal_rooms_resume_create(ngx_str_t *name,
    ngx_log_t *log);
void ngx_signal_rooms_read(ngx_signal_resume_t *ctx);
ngx_int_t ngx_signal_rooms_place(ngx_signal_member_t *m);
void ngx_signal_rooms_place_all(ngx_signal_session_t *s,
    ngx_uint_t announce);
ngx_int_t ngx_signal_rooms_hold(ngx_signal_member_t *m,
    ngx_signal_frame_t *f, ngx_signal_delivery_t *d);
ngx_signal_member_wait_t *ngx_signal_rooms_wait(ngx_signal_member_t *m);
void ngx_signal_rooms_unwait(ngx_signal_member_t *m);
ngx_int_t ngx_signal_rooms_hold_event(ngx_signal_room_t *room,
    ngx_signal_delivery_t *d);
void ngx_signal_rooms_desync_all(void);
void ngx_signal_rooms_recover(ngx_str_t *name);
void ngx_signal_rooms_forget(ngx_signal_room_t *room);
ngx_int_t ngx_signal_rooms_parse_epoch(u_char *p, size_t len,
    uint64_t *epoch);
const char *ngx_signal_rooms_resume_arg(ngx_signal_session_t *s,
    ngx_str_t *arg, ngx_pool_t *pool);


#endif /* _NGX_SIGNAL_ROOMS_H_INCLUDED_ */
