
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
    uint64_t                    epoch;     /* of seq: a restart changes it */
} ngx_signal_delivery_t;


/* where a client is in a room: the last event it has */
typedef struct {
    uint64_t                    epoch;     /* 0: not known */
    uint64_t                    seq;
} ngx_signal_position_t;


/*
 * Events a client cannot get: "history" (from..to are gone; what follows
 * is after to), "epoch" (the room's numbers restarted: its position is
 * void, the room is now at seq of epoch) or "unavailable" (the engine
 * could not say).  Either way the client refetches what it shows.
 */
typedef struct {
    const char                 *reason;
    uint64_t                    from;
    uint64_t                    to;
    ngx_signal_position_t       now;
} ngx_signal_gap_t;


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

    /*
     * The connection is in a room from here on (after what was replayed):
     * its position there, NULL for a family; id: of the client's request.
     */
    void                      (*subscribed)(ngx_signal_session_t *s,
                                            ngx_str_t *room, ngx_str_t *id,
                                            ngx_signal_position_t *pos);

    /* events of a room the client will not get */
    void                      (*gap)(ngx_signal_session_t *s,
                                     ngx_str_t *room, ngx_signal_gap_t *gap);
};


#endif /* _NGX_SIGNAL_PROTOCOL_H_INCLUDED_ */
