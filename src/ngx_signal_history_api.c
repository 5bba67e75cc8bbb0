
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The history read API (signal_history_api): GET ?room=<room>
 * [&since=<seq>][&epoch=<epoch>][&limit=<n>] answers what the engine's
 * history has of a room after a position, as a resuming client would
 * get it, for backends that rebuild state from events.  Protected like
 * notify (signal_api_secret).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_history_api.h"
#include "ngx_signal_engine.h"
#include "ngx_signal_http.h"
#include "ngx_signal_name.h"
#include "ngx_signal_protocol.h"
#include "ngx_signal_rooms.h"


#define NGX_SIGNAL_HISTORY_API_LIMIT   100
#define NGX_SIGNAL_HISTORY_API_BYTES   (4 * 1024 * 1024)


static ngx_int_t ngx_signal_history_api_args(ngx_http_request_t *r,
    ngx_signal_history_t *h, ngx_int_t *rc);
static ngx_int_t ngx_signal_history_api_arg(ngx_http_request_t *r,
    char *name, ngx_str_t *value);
static void ngx_signal_history_api_done(ngx_signal_history_t *h);
static ngx_int_t ngx_signal_history_api_answer(ngx_http_request_t *r,
    ngx_signal_history_t *h);


ngx_int_t
ngx_signal_history_api_handler(ngx_http_request_t *r)
{
    ngx_int_t              rc;
    ngx_signal_history_t  *h;

    if (ngx_signal_http_api_get(r, &rc) != NGX_OK) {
        return rc;
    }

    h = ngx_pcalloc(r->pool, sizeof(ngx_signal_history_t));
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_signal_history_api_args(r, h, &rc) != NGX_OK) {
        return rc;
    }

    h->max_bytes = NGX_SIGNAL_HISTORY_API_BYTES;
    h->pool = r->pool;
    h->log = r->connection->log;
    h->done = ngx_signal_history_api_done;
    h->data = r;

    if (ngx_signal_engine->history(h) == NGX_AGAIN) {
        r->main->count++;
        return NGX_DONE;
    }

    return ngx_signal_history_api_answer(r, h);
}


/* NGX_OK, or NGX_DECLINED with the answer to a bad argument in *rc */

static ngx_int_t
ngx_signal_history_api_args(ngx_http_request_t *r, ngx_signal_history_t *h,
    ngx_int_t *rc)
{
    off_t                   n;
    ngx_str_t               value;
    const char             *err;
    ngx_signal_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_signal_module);

    if (ngx_signal_history_api_arg(r, "room", &h->room) != NGX_OK) {
        *rc = ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST, "bad_room",
                                    "name the room: ?room=<name>");
        return NGX_DECLINED;
    }

    err = ngx_signal_name_room(h->room.data, h->room.len,
                               slcf->max_name_length, 0);
    if (err) {
        *rc = ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST, "bad_room",
                                    "room %s (families have no history)",
                                    err);
        return NGX_DECLINED;
    }

    /* since is of the room's epoch now, unless epoch says which */

    h->current = 1;

    if (ngx_signal_history_api_arg(r, "epoch", &value) == NGX_OK) {
        if (ngx_signal_rooms_parse_epoch(value.data, value.len, &h->epoch)
            != NGX_OK)
        {
            *rc = ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST,
                                        "bad_epoch", "epoch must be the "
                                        "16 hex digits the server sent");
            return NGX_DECLINED;
        }

        h->current = 0;
    }

    if (ngx_signal_history_api_arg(r, "since", &value) == NGX_OK) {
        n = (value.len && value.len <= 18) ? ngx_atoof(value.data, value.len)
                                           : NGX_ERROR;
        if (n == NGX_ERROR) {
            *rc = ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST,
                                        "bad_since", "since must be a "
                                        "seq: 0 or more");
            return NGX_DECLINED;
        }

        h->since = (uint64_t) n;
    }

    h->limit = NGX_SIGNAL_HISTORY_API_LIMIT;

    if (ngx_signal_history_api_arg(r, "limit", &value) == NGX_OK) {
        n = (value.len && value.len <= 5) ? ngx_atoof(value.data, value.len)
                                          : NGX_ERROR;
        if (n < 1 || n > NGX_SIGNAL_REPLAY_MAX) {
            *rc = ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST,
                                        "bad_limit", "limit must be 1 to "
                                        "%d", NGX_SIGNAL_REPLAY_MAX);
            return NGX_DECLINED;
        }

        h->limit = (ngx_uint_t) n;
    }

    return NGX_OK;
}


/* an argument, URL-decoded: NGX_DECLINED when absent */

static ngx_int_t
ngx_signal_history_api_arg(ngx_http_request_t *r, char *name,
    ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   arg;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &arg) != NGX_OK) {
        return NGX_DECLINED;
    }

    value->data = ngx_pnalloc(r->pool, arg.len + 1);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    src = arg.data;
    dst = value->data;
    ngx_unescape_uri(&dst, &src, arg.len, 0);
    value->len = dst - value->data;

    return NGX_OK;
}


static void
ngx_signal_history_api_done(ngx_signal_history_t *h)
{
    ngx_http_request_t  *r = h->data;

    ngx_http_finalize_request(r, ngx_signal_history_api_answer(r, h));
}


/*
 * {"room":..., "epoch":..., "seq":N, "events":[{"seq":N,"event":...,
 *  "data":...}...], "gap":{"reason":..., "from":N, "to":N}}
 */

static ngx_int_t
ngx_signal_history_api_answer(ngx_http_request_t *r, ngx_signal_history_t *h)
{
    u_char                 *body, *p;
    size_t                  len;
    ngx_uint_t              i, n;
    ngx_signal_delivery_t  *d;

    if (h->failed) {
        return ngx_signal_http_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "history_unavailable", "the %s engine "
                                     "cannot read history now; retry",
                                     ngx_signal_engine->name);
    }

    d = h->events ? h->events->elts : NULL;
    n = h->events ? h->events->nelts : 0;

    len = sizeof("{\"room\":\"\",\"epoch\":\"0123456789abcdef\",\"seq\":,"
                 "\"events\":[],\"gap\":{\"reason\":\"history\","
                 "\"from\":,\"to\":}}\n")
          + h->room.len + 3 * NGX_INT64_LEN;

    for (i = 0; i < n; i++) {
        len += sizeof(",{\"seq\":,\"event\":\"\",\"data\":}") + NGX_INT64_LEN
               + d[i].event.len + d[i].data.len;
    }

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"room\":\"%V\",", &h->room);

    p = h->now_epoch ? ngx_sprintf(p, "\"epoch\":\"%016xL\"", h->now_epoch)
                     : ngx_cpymem(p, "\"epoch\":null", 12);

    p = ngx_sprintf(p, ",\"seq\":%uL,\"events\":[", h->now_seq);

    for (i = 0; i < n; i++) {
        p = ngx_sprintf(p, "%s{\"seq\":%uL,\"event\":\"%V\",\"data\":%V}",
                        i ? "," : "", d[i].seq, &d[i].event, &d[i].data);
    }

    *p++ = ']';

    if (h->gap && h->gap[0] == 'h') {
        p = ngx_sprintf(p, ",\"gap\":{\"reason\":\"history\",\"from\":%uL,"
                        "\"to\":%uL}", h->since + 1, h->gap_to);

    } else if (h->gap) {
        p = ngx_sprintf(p, ",\"gap\":{\"reason\":\"%s\"}", h->gap);
    }

    p = ngx_cpymem(p, "}\n", 2);

    return ngx_signal_http_send_json(r, NGX_HTTP_OK, body, p - body);
}
