
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The opening handshake (RFC 6455 4.2): validate the upgrade request,
 * evaluate the rooms granted to the connection, answer 101.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_sha1.h>
#include "ngx_signal_ws_handshake.h"
#include "ngx_signal_access.h"
#include "ngx_signal_envelope.h"
#include "ngx_signal_http.h"
#include "ngx_signal_session.h"


#define NGX_SIGNAL_HTTP_UPGRADE_REQUIRED  426

#define NGX_SIGNAL_WS_GUID  "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


static ngx_int_t ngx_signal_ws_check(ngx_http_request_t *r, ngx_str_t *key,
    ngx_int_t *rc);
static ngx_int_t ngx_signal_ws_refuse_upgrade(ngx_http_request_t *r,
    const char *detail);
static ngx_int_t ngx_signal_ws_check_key(ngx_http_request_t *r,
    ngx_str_t *key);
static ngx_int_t ngx_signal_ws_accept(ngx_http_request_t *r,
    ngx_str_t *key);
static ngx_int_t ngx_signal_ws_subprotocol(ngx_http_request_t *r,
    ngx_signal_loc_conf_t *slcf);
#define NGX_SIGNAL_JWT_INVALID  "Bearer error=\"invalid_token\""


static ngx_int_t ngx_signal_ws_authenticate(ngx_http_request_t *r,
    ngx_signal_session_t *s, ngx_signal_loc_conf_t *slcf, ngx_int_t *rc);
static ngx_int_t ngx_signal_ws_eval_rooms(ngx_http_request_t *r,
    ngx_array_t *values, ngx_uint_t allow, ngx_array_t **result);
static ngx_uint_t ngx_signal_ws_literal(ngx_str_t *value);


ngx_int_t
ngx_signal_ws_handshake_handler(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_str_t               key;
    ngx_array_t            *join, *allow;
    ngx_table_elt_t        *h;
    ngx_signal_session_t   *s;
    ngx_signal_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_signal_module);

    r->connection->log->action = "upgrading to WebSocket";

    if (ngx_signal_ws_check(r, &key, &rc) != NGX_OK) {
        return rc;
    }

    s = ngx_signal_session_create(r);
    if (s == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (slcf->allow_origin) {
        h = ngx_signal_http_find_header(r, "origin", 6, NULL);

        /* only browsers send Origin, and they always do */

        if (h && !ngx_signal_access_origin_allowed(slcf->allow_origin,
                                                   &h->value))
        {
            return ngx_signal_http_error(r, NGX_HTTP_FORBIDDEN,
                                         "origin_not_allowed",
                                         "signal_allow_origin does not "
                                         "list this origin");
        }
    }

    if (slcf->jwt.keys) {
        /* claims first: signal_join and others may use $signal_claim_ */
        if (ngx_signal_ws_authenticate(r, s, slcf, &rc) != NGX_OK) {
            return rc;
        }
    }

    rc = ngx_signal_ws_eval_rooms(r, slcf->join, 0, &join);
    if (rc != NGX_OK || join == NULL) {
        return rc;
    }

    rc = ngx_signal_ws_eval_rooms(r, slcf->allow_subscribe, 1, &allow);
    if (rc != NGX_OK || allow == NULL) {
        return rc;
    }

    if (join->nelts > slcf->max_rooms) {
        return ngx_signal_http_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                     "too_many_rooms",
                                     "signal_join names more rooms than "
                                     "signal_max_rooms_per_connection");
    }

    if (ngx_signal_ws_accept(r, &key) != NGX_OK
        || ngx_signal_ws_subprotocol(r, slcf) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "signal: handshake accepted, %ui rooms to join, "
                   "%ui patterns", join->nelts, allow->nelts);

    return ngx_signal_session_start(r, join, allow);
}


/*
 * RFC 6455 4.2.1: NGX_OK with the key, or NGX_DECLINED with the answer's
 * status in *rc.
 */

static ngx_int_t
ngx_signal_ws_check(ngx_http_request_t *r, ngx_str_t *key, ngx_int_t *rc)
{
    ngx_table_elt_t  *h;

    if (r->method != NGX_HTTP_GET) {
        if (ngx_signal_http_add_header(r, "Allow", (u_char *) "GET", 3)
            != NGX_OK)
        {
            *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_DECLINED;
        }

        *rc = ngx_signal_http_error(r, NGX_HTTP_NOT_ALLOWED,
                                    "method_not_allowed",
                                    "a WebSocket handshake is a GET");
        return NGX_DECLINED;
    }

    if (r->http_version != NGX_HTTP_VERSION_11) {
        *rc = ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST,
                                    "bad_handshake",
                                    "WebSocket needs HTTP/1.1");
        return NGX_DECLINED;
    }

    if (r->headers_in.upgrade == NULL
        || !ngx_signal_http_has_token(&r->headers_in.upgrade->value,
                                      "websocket", 9))
    {
        *rc = ngx_signal_ws_refuse_upgrade(r, "this location only speaks "
                                           "WebSocket: send "
                                           "\"Upgrade: websocket\"");
        return NGX_DECLINED;
    }

    /* nginx does not keep the Connection header in headers_in; it may
     * also come as several headers */

    for (h = ngx_signal_http_find_header(r, "connection", 10, NULL);
         h && !ngx_signal_http_has_token(&h->value, "upgrade", 7);
         h = ngx_signal_http_find_header(r, "connection", 10, h))
    {
        /* void */
    }

    if (h == NULL) {
        *rc = ngx_signal_ws_refuse_upgrade(r, "the \"Connection\" header "
                                           "must contain \"upgrade\"");
        return NGX_DECLINED;
    }

    h = ngx_signal_http_find_header(r, "sec-websocket-version", 21, NULL);

    if (h == NULL || h->value.len != 2
        || ngx_strncmp(h->value.data, "13", 2) != 0)
    {
        *rc = ngx_signal_ws_refuse_upgrade(r, "only WebSocket version 13 "
                                           "is supported");
        return NGX_DECLINED;
    }

    h = ngx_signal_http_find_header(r, "sec-websocket-key", 17, NULL);

    if (h == NULL) {
        *rc = ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST, "bad_handshake",
                                    "missing \"Sec-WebSocket-Key\"");
        return NGX_DECLINED;
    }

    *key = h->value;

    if (ngx_signal_ws_check_key(r, key) != NGX_OK) {
        *rc = ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST, "bad_handshake",
                                    "\"Sec-WebSocket-Key\" must be the "
                                    "base64 of 16 bytes");
        return NGX_DECLINED;
    }

    if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {
        *rc = ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST, "bad_handshake",
                                    "a WebSocket handshake has no body");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_signal_ws_refuse_upgrade(ngx_http_request_t *r, const char *detail)
{
    if (ngx_signal_http_add_header(r, "Upgrade", (u_char *) "websocket", 9)
        != NGX_OK
        || ngx_signal_http_add_header(r, "Sec-WebSocket-Version",
                                      (u_char *) "13", 2)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_signal_http_error(r, NGX_SIGNAL_HTTP_UPGRADE_REQUIRED,
                                 "upgrade_required", "%s", detail);
}


static ngx_int_t
ngx_signal_ws_check_key(ngx_http_request_t *r, ngx_str_t *key)
{
    u_char     buf[24];
    ngx_str_t  decoded;

    if (key->len != 24 || key->data[22] != '=' || key->data[23] != '=') {
        return NGX_DECLINED;
    }

    decoded.data = buf;

    if (ngx_decode_base64(&decoded, key) != NGX_OK || decoded.len != 16) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_signal_ws_accept(ngx_http_request_t *r, ngx_str_t *key)
{
    u_char     digest[20];
    ngx_str_t  hash, accept;
    ngx_sha1_t sha1;

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, key->data, key->len);
    ngx_sha1_update(&sha1, NGX_SIGNAL_WS_GUID,
                    sizeof(NGX_SIGNAL_WS_GUID) - 1);
    ngx_sha1_final(digest, &sha1);

    hash.data = digest;
    hash.len = sizeof(digest);

    accept.len = ngx_base64_encoded_length(hash.len);
    accept.data = ngx_pnalloc(r->pool, accept.len);
    if (accept.data == NULL) {
        return NGX_ERROR;
    }

    ngx_encode_base64(&accept, &hash);

    return ngx_signal_http_add_header(r, "Sec-WebSocket-Accept",
                                      accept.data, accept.len);
}


/* the first subprotocol the client offers that the location accepts */

static ngx_int_t
ngx_signal_ws_subprotocol(ngx_http_request_t *r, ngx_signal_loc_conf_t *slcf)
{
    ngx_str_t        *name;
    ngx_uint_t        i;
    u_char           *p, *last, *start, *end;
    ngx_table_elt_t  *h;

    if (slcf->subprotocols == NULL) {
        return NGX_OK;
    }

    name = slcf->subprotocols->elts;

    for (h = ngx_signal_http_find_header(r, "sec-websocket-protocol", 22,
                                         NULL);
         h;
         h = ngx_signal_http_find_header(r, "sec-websocket-protocol", 22, h))
    {
        p = h->value.data;
        last = p + h->value.len;

        while (p < last) {
            while (p < last && (*p == ' ' || *p == ',')) {
                p++;
            }

            start = p;

            while (p < last && *p != ',' && *p != ' ') {
                p++;
            }

            end = p;

            for (i = 0; i < slcf->subprotocols->nelts; i++) {
                if ((size_t) (end - start) == name[i].len
                    && ngx_strncmp(start, name[i].data, name[i].len) == 0)
                {
                    return ngx_signal_http_add_header(r,
                                                  "Sec-WebSocket-Protocol",
                                                  name[i].data, name[i].len);
                }
            }
        }
    }

    return NGX_OK;
}


/*
 * Evaluate signal_join (allow == 0) or signal_allow_subscribe patterns.
 * What a variable or claim gives is literal text inside a name: a value
 * that is not made of name characters (a "*" above all, which would turn
 * a room into a family or widen a rule) refuses the handshake, and so
 * does a join that evaluates to an invalid room: the client asked for
 * something its request does not entitle it to.  A pattern that came out
 * invalid otherwise (an absent claim) simply matches nothing.
 * On a refusal *result is NULL and the return value is the handler's.
 */

static ngx_int_t
ngx_signal_ws_eval_rooms(ngx_http_request_t *r, ngx_array_t *values,
    ngx_uint_t allow, ngx_array_t **result)
{
    ngx_int_t                  rc;
    ngx_str_t                 *room;
    ngx_uint_t                 i;
    ngx_array_t               *rooms;
    const char                *err, *name;
    ngx_signal_tpl_t          *tpl;
    ngx_signal_tpl_ctx_t       ctx;
    ngx_signal_loc_conf_t     *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_signal_module);

    rooms = ngx_array_create(r->pool, values ? values->nelts : 1,
                             sizeof(ngx_str_t));
    if (rooms == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *result = rooms;

    if (values == NULL) {
        return NGX_OK;
    }

    name = allow ? "signal_allow_subscribe" : "signal_join";
    tpl = values->elts;

    for (i = 0; i < values->nelts; i++) {

        room = ngx_array_push(rooms);
        if (room == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memzero(&ctx, sizeof(ngx_signal_tpl_ctx_t));
        ctx.resolve = ngx_signal_session_claim;
        ctx.data = ngx_http_get_module_ctx(r, ngx_signal_module);
        ctx.check = ngx_signal_ws_literal;

        rc = ngx_signal_tpl_eval(r, &tpl[i], &ctx, room);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_DECLINED) {
            *result = NULL;
            return ngx_signal_http_error(r, NGX_HTTP_FORBIDDEN,
                                         allow ? "allow_refused"
                                               : "join_refused",
                                         "%s \"%V\": the value of %s%V may "
                                         "only contain A-Z a-z 0-9 "
                                         "_ . : @ / + = -", name,
                                         &tpl[i].source,
                                         (ctx.bad->type
                                          == NGX_SIGNAL_TPL_CLAIM)
                                         ? "$signal_claim_" : "$",
                                         &ctx.bad->text);
        }

        if (allow) {
            continue;
        }

        /* a family ("bulk_upload:*") may be joined too */
        err = ngx_signal_name_room(room->data, room->len,
                                    slcf->max_name_length, 1);
        if (err) {
            *result = NULL;
            return ngx_signal_http_error(r, NGX_HTTP_FORBIDDEN,
                                         "join_refused",
                                         "signal_join room \"%*s\" %s",
                                         ngx_min(room->len, 128), room->data,
                                         err);
        }
    }

    return NGX_OK;
}


/* what a variable gives to a room: name characters only, maybe none */

static ngx_uint_t
ngx_signal_ws_literal(ngx_str_t *value)
{
    return value->len == 0
           || ngx_signal_name_event(value->data, value->len,
                                          value->len)
              == NULL;
}


/*
 * NGX_OK for a valid token with the required claims; otherwise the answer
 * (401 without a valid token, 403 without a required claim) is sent and
 * *rc is what the handler returns.
 */

static ngx_int_t
ngx_signal_ws_authenticate(ngx_http_request_t *r, ngx_signal_session_t *s,
    ngx_signal_loc_conf_t *slcf, ngx_int_t *rc)
{
    ngx_int_t    vrc;
    ngx_str_t    token;
    const char  *reason;

    if (ngx_signal_jwt_find(r, &slcf->jwt, &token) != NGX_OK) {
        if (ngx_signal_http_add_header(r, "WWW-Authenticate",
                                       (u_char *) "Bearer", 6)
            != NGX_OK)
        {
            *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_ERROR;
        }

        *rc = ngx_signal_http_error(r, NGX_HTTP_UNAUTHORIZED,
                                    "missing_token",
                                    "send a JWT as \"Authorization: Bearer "
                                    "<token>\"%s%s%s",
                                    (slcf->jwt.sources
                                     & NGX_SIGNAL_JWT_SUBPROTOCOL)
                                    ? ", or as the subprotocol "
                                      "\"bearer.<token>\"" : "",
                                    (slcf->jwt.sources
                                     & NGX_SIGNAL_JWT_QUERY)
                                    ? ", or in the query" : "",
                                    (slcf->jwt.sources
                                     & NGX_SIGNAL_JWT_COOKIE)
                                    ? ", or in a cookie" : "");
        return NGX_DECLINED;
    }

    reason = "invalid token";

    vrc = ngx_signal_jwt_verify(r, &slcf->jwt, &token, r->pool, &s->jwt,
                                &reason);

    if (vrc == NGX_ERROR) {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    if (vrc != NGX_OK) {
        s->jwt.claims = NULL;

        if (ngx_signal_http_add_header(r, "WWW-Authenticate",
                                       (u_char *) NGX_SIGNAL_JWT_INVALID,
                                       sizeof(NGX_SIGNAL_JWT_INVALID) - 1)
            != NGX_OK)
        {
            *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_ERROR;
        }

        *rc = ngx_signal_http_error(r, NGX_HTTP_UNAUTHORIZED,
                                    "invalid_token", "%s", reason);
        return NGX_DECLINED;
    }

    reason = ngx_signal_jwt_check_required(&slcf->jwt, &s->jwt);

    if (reason) {
        *rc = ngx_signal_http_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                    "%s", reason);
        return NGX_DECLINED;
    }

    s->authenticated = 1;

    return NGX_OK;
}
