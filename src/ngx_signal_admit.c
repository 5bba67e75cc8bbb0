
/*
 * Copyright (C) ngx_signal_module authors
 *
 * What every transport checks before a session starts, whatever it
 * speaks: the origin (signal_allow_origin), the token (signal_jwt_*,
 * required claims), the rooms granted (signal_join) and the patterns
 * the client may subscribe to (signal_allow_subscribe).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_admit.h"
#include "ngx_signal_access.h"
#include "ngx_signal_http.h"
#include "ngx_signal_name.h"
#include "ngx_signal_rooms.h"


#define NGX_SIGNAL_JWT_INVALID  "Bearer error=\"invalid_token\""


static ngx_int_t ngx_signal_admit_token(ngx_http_request_t *r,
    ngx_signal_session_t *s, ngx_signal_loc_conf_t *slcf, ngx_int_t *rc);
static ngx_int_t ngx_signal_admit_rooms(ngx_http_request_t *r,
    ngx_array_t *values, ngx_uint_t allow, ngx_array_t **result);
static ngx_uint_t ngx_signal_admit_literal(ngx_str_t *value);
static ngx_int_t ngx_signal_admit_more_rooms(ngx_http_request_t *r,
    ngx_array_t *join, ngx_array_t *allow, ngx_int_t *rc);


/*
 * NGX_OK with the rooms to join and the patterns allowed, or
 * NGX_DECLINED with the answer's status in *rc.
 */

ngx_int_t
ngx_signal_admit(ngx_http_request_t *r, ngx_signal_session_t *s,
    ngx_array_t **join, ngx_array_t **allow, ngx_int_t *rc)
{
    ngx_table_elt_t        *h;
    ngx_signal_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_signal_module);

    if (slcf->allow_origin) {
        h = ngx_signal_http_find_header(r, "origin", 6, NULL);

        /* only browsers send Origin, and they always do */

        if (h && !ngx_signal_access_origin_allowed(slcf->allow_origin,
                                                   &h->value))
        {
            *rc = ngx_signal_http_error(r, NGX_HTTP_FORBIDDEN,
                                        "origin_not_allowed",
                                        "signal_allow_origin does not "
                                        "list this origin");
            return NGX_DECLINED;
        }
    }

    if (slcf->jwt.keys) {
        /* claims first: signal_join and others may use $signal_claim_ */
        if (ngx_signal_admit_token(r, s, slcf, rc) != NGX_OK) {
            return NGX_DECLINED;
        }
    }

    *rc = ngx_signal_admit_rooms(r, slcf->join, 0, join);
    if (*rc != NGX_OK || *join == NULL) {
        return NGX_DECLINED;
    }

    *rc = ngx_signal_admit_rooms(r, slcf->allow_subscribe, 1, allow);
    if (*rc != NGX_OK || *allow == NULL) {
        return NGX_DECLINED;
    }

    if ((*join)->nelts > slcf->max_rooms) {
        *rc = ngx_signal_http_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                    "too_many_rooms",
                                    "signal_join names more rooms than "
                                    "signal_max_rooms_per_connection");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * A session of a transport that cannot subscribe later (an event stream,
 * a poll): admitted, its ?rooms= joined too, and started.
 */

ngx_int_t
ngx_signal_admit_one_way(ngx_http_request_t *r,
    ngx_signal_transport_t *transport, ngx_signal_protocol_t *protocol)
{
    ngx_int_t              rc;
    ngx_array_t           *join, *allow;
    ngx_signal_session_t  *s;

    s = ngx_signal_session_create(r, transport, protocol);
    if (s == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_signal_admit(r, s, &join, &allow, &rc) != NGX_OK) {
        return rc;
    }

    if (ngx_signal_admit_more_rooms(r, join, allow, &rc) != NGX_OK) {
        return rc;
    }

    return ngx_signal_session_start(r, join, allow);
}


/*
 * ?rooms=a,b,prefix:* (URL-encoded): rooms to join as well, each allowed
 * by signal_allow_subscribe.
 * NGX_OK, or NGX_DECLINED with the answer's status in *rc.
 */

static ngx_int_t
ngx_signal_admit_more_rooms(ngx_http_request_t *r, ngx_array_t *join,
    ngx_array_t *allow, ngx_int_t *rc)
{
    u_char                 *text, *dst, *p, *last, *end;
    ngx_str_t               arg, room, *added;
    const char             *err;
    ngx_signal_loc_conf_t  *slcf;

    if (ngx_http_arg(r, (u_char *) "rooms", 5, &arg) != NGX_OK) {
        return NGX_OK;
    }

    slcf = ngx_http_get_module_loc_conf(r, ngx_signal_module);

    text = ngx_pnalloc(r->pool, arg.len);
    if (text == NULL) {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    dst = text;
    p = arg.data;
    ngx_unescape_uri(&dst, &p, arg.len, 0);
    last = dst;

    for (p = text; p < last; p = end + 1) {

        end = ngx_strlchr(p, last, ',');
        if (end == NULL) {
            end = last;
        }

        room.data = p;
        room.len = end - p;

        err = ngx_signal_name_room(room.data, room.len,
                                   slcf->max_name_length, 1);
        if (err) {
            *rc = ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_room", "room \"%*s\" %s",
                                        ngx_min(room.len, 128), room.data,
                                        err);
            return NGX_DECLINED;
        }

        if (!ngx_signal_rooms_allowed(allow, &room)) {
            *rc = ngx_signal_http_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                        "signal_allow_subscribe does not "
                                        "allow room \"%V\"", &room);
            return NGX_DECLINED;
        }

        if (join->nelts >= slcf->max_rooms) {
            *rc = ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST,
                                        "too_many_rooms",
                                        "more rooms than "
                                        "signal_max_rooms_per_connection");
            return NGX_DECLINED;
        }

        added = ngx_array_push(join);
        if (added == NULL) {
            *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_DECLINED;
        }

        *added = room;
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
ngx_signal_admit_rooms(ngx_http_request_t *r, ngx_array_t *values,
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
        ctx.check = ngx_signal_admit_literal;

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
ngx_signal_admit_literal(ngx_str_t *value)
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
ngx_signal_admit_token(ngx_http_request_t *r, ngx_signal_session_t *s,
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
