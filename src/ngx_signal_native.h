
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The native protocol (docs/protocol.md): JSON text messages over
 * WebSocket.  ngx_signal_native.c reads the client's messages,
 * ngx_signal_native_out.c writes what the server sends.
 */


#ifndef _NGX_SIGNAL_NATIVE_H_INCLUDED_
#define _NGX_SIGNAL_NATIVE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_signal_protocol.h"


#define NGX_SIGNAL_NATIVE_MAX_ID      64

/* an id is echoed as sent: 64 characters, each up to 6 bytes escaped */
#define NGX_SIGNAL_NATIVE_MAX_ID_RAW  (NGX_SIGNAL_NATIVE_MAX_ID * 6 + 2)


extern ngx_signal_protocol_t  ngx_signal_native_protocol;


/* a subscribed or gap message's JSON, at most (a room and an id) */
#define NGX_SIGNAL_NATIVE_MAX_JSON                                          \
    (NGX_SIGNAL_MAX_NAME_LENGTH + NGX_SIGNAL_NATIVE_MAX_ID_RAW + 192)


/* what it sends (ngx_signal_native_out.c) */
size_t ngx_signal_native_event_size(ngx_signal_delivery_t *d);
u_char *ngx_signal_native_event_json(u_char *p, ngx_signal_delivery_t *d);
u_char *ngx_signal_native_subscribed_json(u_char *p, ngx_str_t *room,
    ngx_str_t *id, ngx_signal_position_t *pos);
u_char *ngx_signal_native_gap_json(u_char *p, ngx_str_t *room,
    ngx_signal_gap_t *gap);
ngx_signal_frame_t *ngx_signal_native_event(ngx_signal_delivery_t *d,
    ngx_log_t *log);
void ngx_signal_native_subscribed(ngx_signal_session_t *s, ngx_str_t *room,
    ngx_str_t *id, ngx_signal_position_t *pos);
void ngx_signal_native_gap(ngx_signal_session_t *s, ngx_str_t *room,
    ngx_signal_gap_t *gap);
void ngx_signal_native_reply(ngx_signal_session_t *s, const char *type,
    ngx_str_t *room, ngx_str_t *id);
void ngx_signal_native_error(ngx_signal_session_t *s, const char *code,
    const char *message, ngx_str_t *room, ngx_str_t *id);


#endif /* _NGX_SIGNAL_NATIVE_H_INCLUDED_ */
