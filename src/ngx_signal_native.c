
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The native protocol (docs/protocol.md): JSON text messages.  Client
 * messages are read with yajl callbacks into a fixed struct (bounded
 * nesting, no tree); what the server sends is in ngx_signal_native_out.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <yajl/yajl_parse.h>
#include "ngx_signal_native.h"
#include "ngx_signal_engine.h"
#include "ngx_signal_envelope.h"
#include "ngx_signal_rooms.h"
#include "ngx_signal_session.h"


#define NGX_SIGNAL_NATIVE_MAX_DEPTH   16


/* the token of a refresh message, copied out of yajl's buffer */
static u_char  ngx_signal_native_token[NGX_SIGNAL_JWT_MAX_LENGTH];


typedef enum {
    ngx_signal_native_key_other = 0,
    ngx_signal_native_key_type,
    ngx_signal_native_key_room,
    ngx_signal_native_key_id,
    ngx_signal_native_key_token,
    ngx_signal_native_key_seq,
    ngx_signal_native_key_epoch
} ngx_signal_native_key_e;


typedef struct {
    yajl_handle               handle;
    u_char                   *text;
    ngx_uint_t                depth;
    ngx_signal_native_key_e   key;
    size_t                    value_start;

    u_char                    type[16];
    size_t                    type_len;
    u_char                    room[NGX_SIGNAL_MAX_NAME_LENGTH + 1];
    size_t                    room_len;
    ngx_str_t                 id;          /* raw JSON, echoed back */
    ngx_str_t                 token;       /* refresh: in the buffer below */
    ngx_signal_position_t     resume;      /* subscribe: seq and epoch */

    const char               *bad;         /* which field is wrong */
    unsigned                  has_type:1;
    unsigned                  has_room:1;
    unsigned                  has_seq:1;
    unsigned                  room_too_long:1;
    unsigned                  too_deep:1;
} ngx_signal_native_msg_t;


static ngx_int_t ngx_signal_native_message(ngx_signal_session_t *s,
    ngx_uint_t binary, u_char *data, size_t len);
static ngx_int_t ngx_signal_native_room(ngx_signal_session_t *s,
    ngx_signal_native_msg_t *m, ngx_str_t *room, ngx_str_t *id);
static void ngx_signal_native_subscribe(ngx_signal_session_t *s,
    ngx_signal_native_msg_t *m, ngx_str_t *room);
static void ngx_signal_native_unsubscribe(ngx_signal_session_t *s,
    ngx_signal_native_msg_t *m, ngx_str_t *room);
static void ngx_signal_native_refresh(ngx_signal_session_t *s,
    ngx_signal_native_msg_t *m);
static int ngx_signal_native_scalar(ngx_signal_native_msg_t *m,
    ngx_uint_t is_string, ngx_uint_t is_integer, const u_char *s,
    size_t len);

static int ngx_signal_native_null(void *ctx);
static int ngx_signal_native_boolean(void *ctx, int value);
static int ngx_signal_native_number(void *ctx, const char *s, size_t len);
static int ngx_signal_native_string(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_signal_native_start(void *ctx);
static int ngx_signal_native_map_key(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_signal_native_end(void *ctx);


static yajl_callbacks  ngx_signal_native_callbacks = {
    ngx_signal_native_null,
    ngx_signal_native_boolean,
    NULL,
    NULL,
    ngx_signal_native_number,
    ngx_signal_native_string,
    ngx_signal_native_start,
    ngx_signal_native_map_key,
    ngx_signal_native_end,
    ngx_signal_native_start,
    ngx_signal_native_end
};


ngx_signal_protocol_t  ngx_signal_native_protocol = {
    ngx_string("native"),
    0,
    ngx_signal_native_event,
    ngx_signal_native_message,
    ngx_signal_native_subscribed,
    ngx_signal_native_gap
};


/* a message of the client: text only */

static ngx_int_t
ngx_signal_native_message(ngx_signal_session_t *s, ngx_uint_t binary,
    u_char *data, size_t len)
{
    u_char                   *p, *last;
    ngx_str_t                 room;
    yajl_status               st;
    ngx_signal_native_msg_t   m;

    if (binary) {
        return NGX_DECLINED;
    }

    ngx_memzero(&m, sizeof(ngx_signal_native_msg_t));

    p = data;
    last = data + len;

    while (p < last && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
    {
        p++;
    }

    if (p == last || *p != '{') {
        /* yajl would accept any value; a message is an object */
        ngx_signal_native_error(s, "invalid_json", "a message is a JSON "
                                "object with a \"type\"", NULL, NULL);
        return NGX_OK;
    }

    m.text = data;
    m.handle = yajl_alloc(&ngx_signal_native_callbacks, NULL, &m);
    if (m.handle == NULL) {
        return NGX_OK;
    }

    st = yajl_parse(m.handle, data, len);

    if (st == yajl_status_ok) {
        st = yajl_complete_parse(m.handle);
    }

    yajl_free(m.handle);

    if (st != yajl_status_ok) {
        if (m.bad) {
            ngx_signal_native_error(s, "invalid_message", m.bad, NULL, NULL);

        } else {
            ngx_signal_native_error(s, "invalid_json",
                                    m.too_deep ? "the message nests too deep"
                                               : "the message is not valid "
                                                 "JSON",
                                    NULL, NULL);
        }

        return NGX_OK;
    }

    if (!m.has_type) {
        ngx_signal_native_error(s, "invalid_message", "\"type\" is missing",
                                NULL, m.id.len ? &m.id : NULL);
        return NGX_OK;
    }

    room.data = m.room;
    room.len = m.room_len;

    if (m.type_len == 4 && ngx_strncmp(m.type, "ping", 4) == 0) {
        ngx_signal_native_reply(s, "pong", NULL, m.id.len ? &m.id : NULL);
        return NGX_OK;
    }

    if (m.type_len == 9 && ngx_strncmp(m.type, "subscribe", 9) == 0) {
        ngx_signal_native_subscribe(s, &m, &room);
        return NGX_OK;
    }

    if (m.type_len == 11 && ngx_strncmp(m.type, "unsubscribe", 11) == 0) {
        ngx_signal_native_unsubscribe(s, &m, &room);
        return NGX_OK;
    }

    if (m.type_len == 7 && ngx_strncmp(m.type, "refresh", 7) == 0) {
        ngx_signal_native_refresh(s, &m);
        return NGX_OK;
    }

    ngx_signal_native_error(s, "unknown_type", "\"type\" must be subscribe, "
                            "unsubscribe, refresh or ping", NULL,
                            m.id.len ? &m.id : NULL);

    return NGX_OK;
}


/* the "room" of a subscribe or unsubscribe; answers the client if bad */

static ngx_int_t
ngx_signal_native_room(ngx_signal_session_t *s, ngx_signal_native_msg_t *m,
    ngx_str_t *room, ngx_str_t *id)
{
    const char  *err;

    if (!m->has_room) {
        ngx_signal_native_error(s, "invalid_message", "\"room\" is missing",
                                NULL, id);
        return NGX_DECLINED;
    }

    err = m->room_too_long ? "is longer than signal_max_name_length"
                           : ngx_signal_name_room(room->data, room->len,
                                                   s->conf->max_name_length,
                                                   1);
    if (err) {
        ngx_signal_native_error(s, "invalid_room", err, NULL, id);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static void
ngx_signal_native_subscribe(ngx_signal_session_t *s,
    ngx_signal_native_msg_t *m, ngx_str_t *room)
{
    ngx_int_t                  rc;
    ngx_str_t                 *id;
    ngx_signal_member_t       *mb;
    ngx_signal_member_wait_t  *wait;

    id = m->id.len ? &m->id : NULL;

    if (ngx_signal_native_room(s, m, room, id) != NGX_OK) {
        return;
    }

    if (!ngx_signal_session_may_subscribe(s)) {
        ngx_signal_native_error(s, "rate_limited", "more subscriptions than "
                                "signal_subscribe_rate allows; slow down",
                                room, id);
        return;
    }

    if (!ngx_signal_rooms_allowed(s->allow, room)) {
        ngx_signal_native_error(s, "forbidden", "signal_allow_subscribe "
                                "does not allow this room", room, id);
        return;
    }

    if (s->nrooms >= s->conf->max_rooms
        && ngx_signal_rooms_member(s, room) == NULL)
    {
        ngx_signal_native_error(s, "too_many_rooms", "the connection is in "
                                "signal_max_rooms_per_connection rooms",
                                room, id);
        return;
    }

    if (m->has_seq != (m->resume.epoch != 0)) {
        ngx_signal_native_error(s, "invalid_message", "\"seq\" and "
                                "\"epoch\" resume together: send both, "
                                "as the server last sent them, or neither",
                                room, id);
        return;
    }

    if (m->resume.epoch && ngx_signal_name_is_family(room->data, room->len)) {
        ngx_signal_native_error(s, "invalid_message", "a family has no "
                                "position to resume from", room, id);
        return;
    }

    rc = ngx_signal_rooms_join(s, room);

    if (rc == NGX_ERROR) {
        ngx_signal_native_error(s, "internal", "out of memory", room, id);
        return;
    }

    if (rc == NGX_BUSY) {
        ngx_signal_native_error(s, "zone_full", "the server has no space "
                                "for this subscription now; retry later",
                                room, id);
        return;
    }

    if (rc == NGX_ABORT) {
        ngx_signal_native_error(s, "user_limit", "this user's connections "
                                "hold their share of the server's memory; "
                                "leave some rooms first", room, id);
        return;
    }

    mb = ngx_signal_rooms_member(s, room);

    if (rc == NGX_DECLINED) {
        /* a member already: where it is, nothing replayed again */
        ngx_signal_native_subscribed(s, room, id,
                                     mb->placed ? &mb->pos : NULL);
        return;
    }

    if (id || m->resume.epoch) {
        wait = ngx_signal_rooms_wait(mb);

        if (wait) {
            wait->want = m->resume;
        }

        if (wait && id) {
            wait->reply_id.data = ngx_alloc(id->len, s->connection->log);

            if (wait->reply_id.data) {
                ngx_memcpy(wait->reply_id.data, id->data, id->len);
                wait->reply_id.len = id->len;
            }
        }

        if (wait == NULL || (id && wait->reply_id.data == NULL)) {
            (void) ngx_signal_rooms_leave(s, room);
            ngx_signal_native_error(s, "internal", "out of memory", room, id);
            return;
        }
    }

    if (!ngx_signal_engine->ready(room)) {
        /* placed once the engine delivers the room's events here */
        mb->pending = 1;
        return;
    }

    (void) ngx_signal_rooms_place(mb);
}


/*
 * {"type":"refresh","token":"..."}: a new token with the same claims
 * (but for exp, iat, nbf and jti) keeps the connection open past the old
 * token's exp.  A token that would grant something else is refused: the
 * rooms were granted by the first token's claims.
 */

static void
ngx_signal_native_refresh(ngx_signal_session_t *s, ngx_signal_native_msg_t *m)
{
    u_char            *p, reply[512];
    ngx_str_t         *id;
    ngx_pool_t        *pool;
    ngx_int_t          rc;
    const char        *reason;
    ngx_signal_jwt_t   jwt;

    id = m->id.len ? &m->id : NULL;

    if (s->conf->jwt.keys == NULL) {
        ngx_signal_native_error(s, "invalid_message", "this location takes "
                                "no tokens", NULL, id);
        return;
    }

    if (m->token.len == 0) {
        ngx_signal_native_error(s, "invalid_message", "\"token\" is missing",
                                NULL, id);
        return;
    }

    if (!ngx_signal_session_may_refresh(s)) {
        ngx_signal_native_error(s, "rate_limited", "more refreshes than "
                                "signal_refresh_rate allows; slow down",
                                NULL, id);
        return;
    }

    /* a pool of its own: refreshes must not grow the connection's */

    pool = ngx_create_pool(4096, s->connection->log);
    if (pool == NULL) {
        return;
    }

    reason = "invalid token";
    rc = ngx_signal_jwt_verify(s->request, &s->conf->jwt, &m->token, pool,
                               &jwt, &reason);

    if (rc == NGX_OK && ngx_signal_jwt_check_required(&s->conf->jwt, &jwt)) {
        rc = NGX_DECLINED;
        reason = "the token lacks a claim this location requires";
    }

    if (rc == NGX_OK
        && (jwt.sub.len != s->jwt.sub.len
            || (jwt.sub.len
                && ngx_memcmp(jwt.sub.data, s->jwt.sub.data, jwt.sub.len)
                   != 0)))
    {
        rc = NGX_DECLINED;
        reason = "the token is for another subject (sub)";
    }

    if (rc == NGX_OK
        && ngx_memcmp(jwt.digest, s->jwt.digest, sizeof(jwt.digest)) != 0)
    {
        /* the rooms were granted by the first token's claims */
        rc = NGX_DECLINED;
        reason = "the token's claims differ from the connection's; "
                 "reconnect to change what the connection may do";
    }

    if (rc != NGX_OK) {
        ngx_destroy_pool(pool);
        ngx_signal_native_error(s, "invalid_token", reason, NULL, id);
        return;
    }

    s->jwt.exp = jwt.exp;
    ngx_destroy_pool(pool);

    ngx_signal_session_expire_at(s);

    p = ngx_sprintf(reply, "{\"type\":\"refreshed\",\"exp\":%T", s->jwt.exp);

    if (id) {
        /* at most NGX_SIGNAL_NATIVE_MAX_ID_RAW bytes */
        p = ngx_sprintf(p, ",\"id\":%V", id);
    }

    *p++ = '}';

    (void) ngx_signal_session_send_text(s, reply, p - reply);
}


static void
ngx_signal_native_unsubscribe(ngx_signal_session_t *s,
    ngx_signal_native_msg_t *m, ngx_str_t *room)
{
    ngx_str_t   *id;

    id = m->id.len ? &m->id : NULL;

    if (ngx_signal_native_room(s, m, room, id) != NGX_OK) {
        return;
    }

    if (ngx_signal_rooms_leave(s, room) != NGX_OK) {
        ngx_signal_native_error(s, "not_subscribed", "the connection is not "
                                "in this room", room, id);
        return;
    }

    ngx_signal_native_reply(s, "unsubscribed", room, id);
}


static int
ngx_signal_native_scalar(ngx_signal_native_msg_t *m, ngx_uint_t is_string,
    ngx_uint_t is_integer, const u_char *s, size_t len)
{
    size_t  end;

    if (m->depth != 1) {
        return 1;
    }

    switch (m->key) {

    case ngx_signal_native_key_type:
        if (!is_string || len >= sizeof(m->type)) {
            m->bad = "\"type\" must be a short string";
            return 0;
        }

        ngx_memcpy(m->type, s, len);
        m->type_len = len;
        m->has_type = 1;
        break;

    case ngx_signal_native_key_room:
        if (!is_string) {
            m->bad = "\"room\" must be a string";
            return 0;
        }

        m->has_room = 1;

        if (len > NGX_SIGNAL_MAX_NAME_LENGTH) {
            /* refused as an invalid room once the message is read */
            m->room_too_long = 1;
            break;
        }

        ngx_memcpy(m->room, s, len);
        m->room_len = len;
        break;

    case ngx_signal_native_key_token:
        if (!is_string || len > NGX_SIGNAL_JWT_MAX_LENGTH) {
            m->bad = "\"token\" must be a string of up to 8k";
            return 0;
        }

        ngx_memcpy(ngx_signal_native_token, s, len);
        m->token.data = ngx_signal_native_token;
        m->token.len = len;
        break;

    case ngx_signal_native_key_seq:
        if (!is_integer || s[0] == '-' || len > 18) {
            m->bad = "\"seq\" must be a non-negative integer";
            return 0;
        }

        m->resume.seq = ngx_atoof((u_char *) s, len);
        m->has_seq = 1;
        break;

    case ngx_signal_native_key_epoch:
        if (!is_string
            || ngx_signal_rooms_parse_epoch((u_char *) s, len,
                                            &m->resume.epoch)
               != NGX_OK)
        {
            m->bad = "\"epoch\" must be the 16 hex digits the server sent";
            return 0;
        }

        break;

    case ngx_signal_native_key_id:
        end = yajl_get_bytes_consumed(m->handle);

        if ((!is_string && !is_integer)
            || len > NGX_SIGNAL_NATIVE_MAX_ID
            || end - m->value_start > NGX_SIGNAL_NATIVE_MAX_ID_RAW)
        {
            m->bad = "\"id\" must be an integer or a string of up to 64 "
                     "bytes";
            return 0;
        }

        m->id.data = m->text + m->value_start;
        m->id.len = end - m->value_start;
        break;

    default:
        break;
    }

    return 1;
}


static int
ngx_signal_native_null(void *ctx)
{
    return ngx_signal_native_scalar(ctx, 0, 0, NULL, 0);
}


static int
ngx_signal_native_boolean(void *ctx, int value)
{
    return ngx_signal_native_scalar(ctx, 0, 0, NULL, 0);
}


static int
ngx_signal_native_number(void *ctx, const char *s, size_t len)
{
    size_t      i;
    ngx_uint_t  integer;

    integer = (len > 0);

    for (i = 0; i < len; i++) {
        if ((s[i] < '0' || s[i] > '9') && !(i == 0 && s[0] == '-')) {
            integer = 0;
        }
    }

    return ngx_signal_native_scalar(ctx, 0, integer, (u_char *) s, len);
}


static int
ngx_signal_native_string(void *ctx, const unsigned char *s, size_t len)
{
    return ngx_signal_native_scalar(ctx, 1, 0, s, len);
}


static int
ngx_signal_native_start(void *ctx)
{
    ngx_signal_native_msg_t  *m = ctx;

    if (m->depth == 1 && m->key != ngx_signal_native_key_other) {
        m->bad = "\"type\", \"room\" and \"id\" must not be objects or "
                 "arrays";
        return 0;
    }

    if (++m->depth > NGX_SIGNAL_NATIVE_MAX_DEPTH) {
        m->too_deep = 1;
        return 0;
    }

    return 1;
}


static int
ngx_signal_native_end(void *ctx)
{
    ngx_signal_native_msg_t  *m = ctx;

    m->depth--;

    return 1;
}


static int
ngx_signal_native_map_key(void *ctx, const unsigned char *s, size_t len)
{
    ngx_signal_native_msg_t  *m = ctx;

    size_t  i;

    if (m->depth != 1) {
        return 1;
    }

    if (len == 4 && ngx_strncmp(s, "type", 4) == 0) {
        m->key = ngx_signal_native_key_type;

    } else if (len == 4 && ngx_strncmp(s, "room", 4) == 0) {
        m->key = ngx_signal_native_key_room;

    } else if (len == 2 && ngx_strncmp(s, "id", 2) == 0) {
        m->key = ngx_signal_native_key_id;

    } else if (len == 5 && ngx_strncmp(s, "token", 5) == 0) {
        m->key = ngx_signal_native_key_token;

    } else if (len == 3 && ngx_strncmp(s, "seq", 3) == 0) {
        m->key = ngx_signal_native_key_seq;

    } else if (len == 5 && ngx_strncmp(s, "epoch", 5) == 0) {
        m->key = ngx_signal_native_key_epoch;

    } else {
        m->key = ngx_signal_native_key_other;
        return 1;
    }

    /* where the value starts, for echoing "id" byte for byte */

    i = yajl_get_bytes_consumed(m->handle);

    while (m->text[i] == ' ' || m->text[i] == '\t' || m->text[i] == '\r'
           || m->text[i] == '\n' || m->text[i] == ':')
    {
        i++;
    }

    m->value_start = i;

    return 1;
}
