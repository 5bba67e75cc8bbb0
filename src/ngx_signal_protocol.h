
/*
 * Copyright (C) ngx_signal_module authors
 *
 * What a wire protocol supplies (the native JSON protocol today).  The
 * rooms only ever call a member's protocol through this struct: to encode
 * an event, once per worker and protocol, into a frame every member of
 * that protocol shares.  The connection hands it the client's messages.
 * A protocol's frames include their transport's framing (a WebSocket
 * header); another transport (SSE, long-poll) registers its own encoder
 * with its own index, so that a room with members of several is still
 * encoded once per event and kind of member.
 */


#ifndef _NGX_SIGNAL_PROTOCOL_H_INCLUDED_
#define _NGX_SIGNAL_PROTOCOL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_signal_common.h"
#include "ngx_signal_out.h"


/* encoders a fan-out keeps one frame of (the index of a protocol) */
#define NGX_SIGNAL_PROTOCOLS  4


/* one event as it reaches the rooms of a worker, whatever engine */
typedef struct {
    ngx_str_t                   room;      /* the room it was published to */
    ngx_str_t                   event;
    ngx_str_t                   data;      /* raw JSON, as published */
    uint64_t                    seq;
} ngx_signal_delivery_t;


struct ngx_signal_protocol_s {
    ngx_str_t                   name;
    ngx_uint_t                  index;     /* < NGX_SIGNAL_PROTOCOLS */

    /* the frame of an event, shared by every member of this protocol */
    ngx_signal_frame_t       *(*encode)(ngx_signal_delivery_t *d,
                                        ngx_log_t *log);

    /* a message of the client; NGX_DECLINED: not one it speaks */
    ngx_int_t                 (*message)(ngx_signal_session_t *s,
                                         ngx_uint_t binary, u_char *data,
                                         size_t len);

    /* a room the client subscribed to is confirmed (the Redis engine) */
    void                      (*subscribed)(ngx_signal_session_t *s,
                                            ngx_str_t *room, ngx_str_t *id);
};


#endif /* _NGX_SIGNAL_PROTOCOL_H_INCLUDED_ */
