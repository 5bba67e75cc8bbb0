
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
#include "ngx_signal_admit.h"
#include "ngx_signal_envelope.h"
#include "ngx_signal_http.h"
#include "ngx_signal_session.h"
#include "ngx_signal_conn.h"
#include "ngx_signal_poll.h"
#include "ngx_signal_sse.h"


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


ngx_int_t
ngx_signal_ws_handshake_handler(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_str_t               key;
    ngx_array_t            *join, *allow;
    ngx_signal_session_t   *s;
    ngx_signal_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_signal_module);

    if ((slcf->transports & NGX_SIGNAL_TRANSPORT_EVENTSOURCE)
        && ngx_signal_sse_wanted(r))
    {
        return ngx_signal_sse_handler(r);
    }

    if ((slcf->transports & NGX_SIGNAL_TRANSPORT_LONGPOLL)
        && ngx_signal_poll_wanted(r))
    {
        return ngx_signal_poll_handler(r);
    }

    if (!(slcf->transports & NGX_SIGNAL_TRANSPORT_WEBSOCKET)) {
        return ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST,
                                     "no_websocket",
                                     "this location serves %s%s%s",
                                     (slcf->transports
                                      & NGX_SIGNAL_TRANSPORT_EVENTSOURCE)
                                     ? "event streams (send \"Accept: "
                                       "text/event-stream\")" : "",
                                     (slcf->transports
                                      & NGX_SIGNAL_TRANSPORT_EVENTSOURCE)
                                     && (slcf->transports
                                         & NGX_SIGNAL_TRANSPORT_LONGPOLL)
                                     ? " and " : "",
                                     (slcf->transports
                                      & NGX_SIGNAL_TRANSPORT_LONGPOLL)
                                     ? "polls (?transport=longpoll)" : "");
    }

    r->connection->log->action = "upgrading to WebSocket";

    if (ngx_signal_ws_check(r, &key, &rc) != NGX_OK) {
        return rc;
    }

    s = ngx_signal_session_create(r, &ngx_signal_ws_transport,
                                  slcf->protocol);
    if (s == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_signal_admit(r, s, &join, &allow, &rc) != NGX_OK) {
        return rc;
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
    u_char                 *p, detail[160];
    ngx_table_elt_t        *h;
    ngx_signal_loc_conf_t  *slcf;

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
        slcf = ngx_http_get_module_loc_conf(r, ngx_signal_module);

        p = ngx_cpymem(detail, "send \"Upgrade: websocket\" for a "
                       "WebSocket", sizeof("send \"Upgrade: websocket\" for "
                                           "a WebSocket") - 1);

        if (slcf->transports & NGX_SIGNAL_TRANSPORT_EVENTSOURCE) {
            p = ngx_cpymem(p, ", \"Accept: text/event-stream\" for an "
                           "event stream", sizeof(", \"Accept: "
                           "text/event-stream\" for an event stream") - 1);
        }

        if (slcf->transports & NGX_SIGNAL_TRANSPORT_LONGPOLL) {
            p = ngx_cpymem(p, ", ?transport=longpoll for a poll",
                           sizeof(", ?transport=longpoll for a poll") - 1);
        }

        *p = '\0';

        *rc = ngx_signal_ws_refuse_upgrade(r, (char *) detail);
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
