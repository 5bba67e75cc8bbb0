
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


typedef struct {
    ngx_str_node_t              sn;
    ngx_queue_t                 members;
    ngx_uint_t                  nmembers;
    u_char                      name[1];
} ngx_signal_room_t;


/* a session's membership of a room */
typedef struct {
    ngx_queue_t                 in_room;
    ngx_queue_t                 in_session;
    ngx_signal_room_t          *room;
    ngx_signal_session_t       *session;
    ngx_str_t                   reply_id;     /* of a deferred reply */
    unsigned                    pending:1;    /* the engine confirms it */
} ngx_signal_member_t;


void ngx_signal_rooms_init(void);
ngx_int_t ngx_signal_rooms_join(ngx_signal_session_t *s, ngx_str_t *name);
ngx_int_t ngx_signal_rooms_leave(ngx_signal_session_t *s, ngx_str_t *name);
void ngx_signal_rooms_leave_all(ngx_signal_session_t *s);
ngx_signal_member_t *ngx_signal_rooms_member(ngx_signal_session_t *s,
    ngx_str_t *name);
ngx_uint_t ngx_signal_rooms_allowed(ngx_array_t *allow, ngx_str_t *room);
ngx_int_t ngx_signal_rooms_deliver(ngx_signal_delivery_t *d,
    ngx_log_t *log);
void ngx_signal_rooms_ready(ngx_str_t *name);


#endif /* _NGX_SIGNAL_ROOMS_H_INCLUDED_ */
