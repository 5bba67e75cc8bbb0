
/*
 * Copyright (C) ngx_signal_module authors
 *
 * What the native protocol sends (docs/protocol.md): events, encoded
 * once per event and worker, and the replies, gaps and errors of one
 * client.  Room names are checked to need no escaping; an "id" is the
 * client's own raw, valid JSON, echoed.  An epoch is 16 hex digits.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_native.h"
#include "ngx_signal_session.h"


/*
 * {"type":"event","room":"<room>","event":"<event>","data":<data>,
 *  "seq":<seq>,"epoch":"<epoch>"}: the JSON text of an event, at most
 * ngx_signal_native_event_size() bytes; every transport frames it
 */

size_t
ngx_signal_native_event_size(ngx_signal_delivery_t *d)
{
    return sizeof("{\"type\":\"event\",\"room\":\"\",\"event\":\"\","
                  "\"data\":,\"seq\":,\"epoch\":\"0123456789abcdef\"}") - 1
           + d->room.len + d->event.len + d->data.len + NGX_INT64_LEN;
}


u_char *
ngx_signal_native_event_json(u_char *p, ngx_signal_delivery_t *d)
{
    return ngx_sprintf(p, "{\"type\":\"event\",\"room\":\"%V\","
                       "\"event\":\"%V\",\"data\":%V,\"seq\":%uL,"
                       "\"epoch\":\"%016xL\"}", &d->room, &d->event,
                       &d->data, d->seq, d->epoch);
}


/* the event in one WebSocket text frame */

ngx_signal_frame_t *
ngx_signal_native_event(ngx_signal_delivery_t *d, ngx_log_t *log)
{
    u_char              *p;
    size_t               len;
    ngx_signal_frame_t  *f;

    f = ngx_signal_out_frame_alloc(NGX_SIGNAL_WS_MAX_HEADER
                                   + ngx_signal_native_event_size(d), log);
    if (f == NULL) {
        return NULL;
    }

    /* write the payload after the largest header, then place the header */

    p = ngx_signal_native_event_json(f->data + NGX_SIGNAL_WS_MAX_HEADER, d);

    len = p - (f->data + NGX_SIGNAL_WS_MAX_HEADER);

    f->data += NGX_SIGNAL_WS_MAX_HEADER - ngx_signal_ws_header_size(len);
    (void) ngx_signal_ws_write_header(f->data, NGX_SIGNAL_WS_OP_TEXT, len);

    f->len = ngx_signal_ws_header_size(len) + len;

    return f;
}


/*
 * {"type":"subscribed","room":"<room>","seq":<seq>,"epoch":"<epoch>"}:
 * the client is in the room from here on; what it gets next is after
 * seq.  No position for a family, or when the engine could not say.
 */

u_char *
ngx_signal_native_subscribed_json(u_char *p, ngx_str_t *room, ngx_str_t *id,
    ngx_signal_position_t *pos)
{
    p = ngx_sprintf(p, "{\"type\":\"subscribed\",\"room\":\"%V\"", room);

    if (pos && pos->epoch) {
        p = ngx_sprintf(p, ",\"seq\":%uL,\"epoch\":\"%016xL\"", pos->seq,
                        pos->epoch);
    }

    if (id) {
        p = ngx_sprintf(p, ",\"id\":%V", id);
    }

    *p++ = '}';

    return p;
}


void
ngx_signal_native_subscribed(ngx_signal_session_t *s, ngx_str_t *room,
    ngx_str_t *id, ngx_signal_position_t *pos)
{
    u_char  *p;
    u_char   buf[NGX_SIGNAL_NATIVE_MAX_JSON];

    p = ngx_signal_native_subscribed_json(buf, room, id, pos);

    (void) ngx_signal_session_send_text(s, buf, p - buf);
}


/*
 * {"type":"gap","room":"<room>","reason":"history","from":<seq>,
 *  "to":<seq>,"epoch":"<epoch>"}, {..."reason":"epoch","seq":<seq>,
 * "epoch":"<new epoch>"} or {..."reason":"unavailable"}
 */

u_char *
ngx_signal_native_gap_json(u_char *p, ngx_str_t *room, ngx_signal_gap_t *gap)
{
    p = ngx_sprintf(p, "{\"type\":\"gap\",\"room\":\"%V\",\"reason\":\"%s\"",
                    room, gap->reason);

    if (gap->to) {
        p = ngx_sprintf(p, ",\"from\":%uL,\"to\":%uL", gap->from, gap->to);

    } else if (gap->now.epoch) {
        p = ngx_sprintf(p, ",\"seq\":%uL", gap->now.seq);
    }

    if (gap->now.epoch) {
        p = ngx_sprintf(p, ",\"epoch\":\"%016xL\"", gap->now.epoch);
    }

    *p++ = '}';

    return p;
}


void
ngx_signal_native_gap(ngx_signal_session_t *s, ngx_str_t *room,
    ngx_signal_gap_t *gap)
{
    u_char  *p;
    u_char   buf[NGX_SIGNAL_NATIVE_MAX_JSON];

    p = ngx_signal_native_gap_json(buf, room, gap);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, s->connection->log, 0,
                   "signal: gap in \"%V\": %s", room, gap->reason);

    (void) ngx_signal_session_send_text(s, buf, p - buf);
}


void
ngx_signal_native_reply(ngx_signal_session_t *s, const char *type,
    ngx_str_t *room, ngx_str_t *id)
{
    u_char  *p;
    u_char   buf[NGX_SIGNAL_MAX_NAME_LENGTH + NGX_SIGNAL_NATIVE_MAX_ID_RAW
                 + 64];

    p = ngx_sprintf(buf, "{\"type\":\"%s\"", type);

    if (room) {
        p = ngx_sprintf(p, ",\"room\":\"%V\"", room);
    }

    if (id) {
        p = ngx_sprintf(p, ",\"id\":%V", id);
    }

    *p++ = '}';

    (void) ngx_signal_session_send_text(s, buf, p - buf);
}


void
ngx_signal_native_error(ngx_signal_session_t *s, const char *code,
    const char *message, ngx_str_t *room, ngx_str_t *id)
{
    u_char  *p, *last;
    size_t   len;
    u_char   buf[NGX_SIGNAL_MAX_NAME_LENGTH + NGX_SIGNAL_NATIVE_MAX_ID_RAW
                 + 512];

    last = buf + sizeof(buf) - 1;

    len = ngx_strlen(message);

    p = ngx_slprintf(buf, last, "{\"type\":\"error\",\"code\":\"%s\","
                     "\"message\":\"", code);

    if ((size_t) (last - p) > 2 * len + 2) {
        /* the messages are ours, short and ASCII; quotes need escaping */
        p = (u_char *) ngx_escape_json(p, (u_char *) message, len);
    }

    *p++ = '"';

    if (room) {
        p = ngx_slprintf(p, last, ",\"room\":\"%V\"", room);
    }

    if (id) {
        p = ngx_slprintf(p, last, ",\"id\":%V", id);
    }

    *p++ = '}';

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, s->connection->log, 0,
                   "signal: client message refused: %s: %s", code, message);

    (void) ngx_signal_session_send_text(s, buf, p - buf);
}
