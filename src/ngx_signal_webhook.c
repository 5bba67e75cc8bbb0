
/*
 * Copyright (C) ngx_signal_module authors
 *
 * signal_webhook: a signed third-party webhook becomes a room event.  The
 * signature is checked over the raw body first
 * (ngx_signal_webhook_verify.c); nothing is parsed or published for a
 * request that fails it.  Then the timestamp window, the JSON body, the
 * mapping to rooms, event and data (only the body, which the signature
 * covers, fills "{/json/pointer}" placeholders), deduplication, and the
 * publish shared with the notify location.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <yajl/yajl_gen.h>
#include "ngx_signal_json.h"
#include "ngx_signal_webhook.h"
#include "ngx_signal_envelope.h"
#include "ngx_signal_http.h"
#include "ngx_signal_notify.h"


static void ngx_signal_webhook_body(ngx_http_request_t *r);
static ngx_int_t ngx_signal_webhook_publish(ngx_http_request_t *r,
    ngx_signal_webhook_conf_t *wh, ngx_signal_webhook_delivery_t *dl,
    ngx_str_t *body);
static ngx_uint_t ngx_signal_webhook_fresh(ngx_signal_webhook_conf_t *wh,
    ngx_signal_webhook_delivery_t *dl);
static ngx_int_t ngx_signal_webhook_dedupe_key(ngx_http_request_t *r,
    ngx_signal_webhook_conf_t *wh, ngx_signal_webhook_delivery_t *dl,
    yajl_val json, ngx_uint_t has_nul, ngx_str_t *key, time_t *ttl);
static ngx_int_t ngx_signal_webhook_map(ngx_http_request_t *r,
    ngx_signal_webhook_conf_t *wh, yajl_val json, ngx_str_t *body,
    ngx_uint_t has_nul, ngx_array_t **events, const char **err);
static ngx_int_t ngx_signal_webhook_resolve(void *data,
    ngx_signal_tpl_part_t *part, ngx_pool_t *pool, ngx_str_t *value);
static ngx_int_t ngx_signal_webhook_subtree(ngx_http_request_t *r,
    ngx_signal_webhook_conf_t *wh, yajl_val json, ngx_str_t *data);
static yajl_val ngx_signal_webhook_pointer(yajl_val v, u_char *p,
    size_t len);
static ngx_int_t ngx_signal_webhook_scalar(yajl_val v, ngx_str_t *out);
static ngx_int_t ngx_signal_webhook_serialize(yajl_gen g, yajl_val v);


ngx_int_t
ngx_signal_webhook_handler(ngx_http_request_t *r)
{
    return ngx_signal_http_read_json(r, ngx_signal_webhook_body);
}


static void
ngx_signal_webhook_body(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_str_t                       body;
    ngx_signal_loc_conf_t          *slcf;
    ngx_signal_webhook_conf_t      *wh;
    ngx_signal_webhook_delivery_t   dl;

    slcf = ngx_http_get_module_loc_conf(r, ngx_signal_module);
    wh = &slcf->webhook;

    rc = ngx_signal_http_body(r, &body);

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    /* the signature first: nothing else happens for an unsigned request */

    rc = ngx_signal_webhook_verify(r, wh, &body, &dl);

    if (rc == NGX_DECLINED) {
        ngx_http_finalize_request(r,
            ngx_signal_http_error(r, NGX_HTTP_UNAUTHORIZED, "unauthorized",
                                  "missing or invalid signature"));
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (!ngx_signal_webhook_fresh(wh, &dl)) {
        ngx_http_finalize_request(r,
            ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST,
                                  "timestamp_out_of_window",
                                  "the webhook's timestamp is more than "
                                  "signal_webhook_tolerance away from now"));
        return;
    }

    ngx_http_finalize_request(r, ngx_signal_webhook_publish(r, wh, &dl,
                                                            &body));
}


/*
 * A verified delivery: the body parsed, mapped to an event and published
 * once (the engine remembers its key): the answer's status, or NGX_DONE.
 */

static ngx_int_t
ngx_signal_webhook_publish(ngx_http_request_t *r,
    ngx_signal_webhook_conf_t *wh, ngx_signal_webhook_delivery_t *dl,
    ngx_str_t *body)
{
    u_char       *text;
    time_t        ttl;
    yajl_val      json;
    ngx_int_t     rc;
    ngx_str_t     key;
    ngx_uint_t    has_nul;
    const char   *err;
    ngx_array_t  *events;

    text = ngx_pnalloc(r->pool, body->len + 1);
    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(text, body->data, body->len);
    text[body->len] = '\0';

    json = (ngx_strlen(text) == body->len)
           ? yajl_tree_parse((const char *) text, NULL, 0) : NULL;

    if (json == NULL) {
        return ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST, "invalid_json",
                                     "the webhook body is not JSON");
    }

    /*
     * The tree's strings end at a NUL: a body with "\u0000" cannot give
     * a name or an id without it being cut short, so it gives none.
     */

    has_nul = ngx_signal_json_has_nul(body->data, body->len);

    rc = ngx_signal_webhook_map(r, wh, json, body, has_nul, &events, &err);

    if (rc == NGX_OK) {
        rc = ngx_signal_webhook_dedupe_key(r, wh, dl, json, has_nul, &key,
                                           &ttl);
    }

    yajl_tree_free(json);

    if (rc != NGX_OK) {
        return (rc == NGX_DECLINED)
               ? ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid_event", "%s", err)
               : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_signal_notify_publish(r, events, &key, NULL, ttl);
}


/* signed, and only then: is it fresh? (replays of old deliveries) */

static ngx_uint_t
ngx_signal_webhook_fresh(ngx_signal_webhook_conf_t *wh,
    ngx_signal_webhook_delivery_t *dl)
{
    time_t  now;

    now = ngx_time();

    return dl->ts == 0
           || (dl->ts >= now - wh->tolerance && dl->ts <= now + wh->tolerance);
}


/*
 * The key that makes a replay a duplicate.  Schemes with a signed
 * timestamp remember the sender's id until the timestamp leaves the
 * window, so that a replay is a duplicate for as long as it would be
 * accepted; the others remember the signature itself for
 * signal_webhook_tolerance.
 */

static ngx_int_t
ngx_signal_webhook_dedupe_key(ngx_http_request_t *r,
    ngx_signal_webhook_conf_t *wh, ngx_signal_webhook_delivery_t *dl,
    yajl_val json, ngx_uint_t has_nul, ngx_str_t *key, time_t *ttl)
{
    ngx_str_t  id;

    id = dl->id;

    if (wh->preset == NGX_SIGNAL_WEBHOOK_STRIPE
        && (has_nul
            || ngx_signal_webhook_scalar(
                   ngx_signal_webhook_pointer(json, (u_char *) "/id", 3),
                   &id)
               != NGX_OK))
    {
        /* no usable event id: the signature identifies the delivery */
        ngx_str_null(&id);
    }

    *ttl = dl->ts ? dl->ts + wh->tolerance - ngx_time() + 1 : wh->tolerance;

    return ngx_signal_webhook_verify_key(r, dl, &id, key);
}


/* one event: the rooms, the name and the data the location maps to */

static ngx_int_t
ngx_signal_webhook_map(ngx_http_request_t *r, ngx_signal_webhook_conf_t *wh,
    yajl_val json, ngx_str_t *body, ngx_uint_t has_nul, ngx_array_t **events,
    const char **err)
{
    ngx_int_t                  rc;
    ngx_str_t                 *room;
    ngx_uint_t                 i;
    ngx_signal_tpl_t          *tpl;
    ngx_signal_event_t        *ev;
    ngx_signal_tpl_ctx_t       ctx;
    ngx_signal_loc_conf_t     *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_signal_module);
    *err = NULL;

    ngx_memzero(&ctx, sizeof(ngx_signal_tpl_ctx_t));
    ctx.resolve = has_nul ? NULL : ngx_signal_webhook_resolve;
    ctx.data = json;

    *events = ngx_array_create(r->pool, 1, sizeof(ngx_signal_event_t));
    if (*events == NULL) {
        return NGX_ERROR;
    }

    ev = ngx_array_push(*events);
    ev->rooms = ngx_palloc(r->pool, wh->rooms->nelts * sizeof(ngx_str_t));

    if (ev->rooms == NULL) {
        return NGX_ERROR;
    }

    ev->nrooms = wh->rooms->nelts;
    tpl = wh->rooms->elts;

    for (i = 0; i < wh->rooms->nelts; i++) {
        room = &ev->rooms[i];

        rc = ngx_signal_tpl_eval(r, &tpl[i], &ctx, room);

        if (rc != NGX_OK) {
            *err = has_nul
                   ? "the body has a \\u0000, which no room can have"
                   : "the body lacks a value signal_webhook_room names";
            return rc;
        }

        if (ngx_signal_name_room(room->data, room->len,
                                  slcf->max_name_length, 0))
        {
            *err = "signal_webhook_room maps to an invalid room name";
            return NGX_DECLINED;
        }
    }

    rc = ngx_signal_tpl_eval(r, wh->event, &ctx, &ev->event);

    if (rc != NGX_OK) {
        *err = has_nul
               ? "the body has a \\u0000, which no event name can have"
               : "the body lacks a value signal_webhook_event names";
        return rc;
    }

    if (ngx_signal_name_event(ev->event.data, ev->event.len,
                                    slcf->max_name_length))
    {
        *err = "signal_webhook_event maps to an invalid event name";
        return NGX_DECLINED;
    }

    rc = ngx_signal_webhook_subtree(r, wh, json, &ev->data);

    if (rc == NGX_DECLINED) {
        *err = "the body has no value at signal_webhook_data";
    }

    if (rc == NGX_OK && wh->data.len == 0) {
        /* the body as it came: validated JSON, never re-serialised */
        ev->data = *body;
    }

    return rc;
}


/* a "{/json/pointer}" of a template: a scalar of the body */

static ngx_int_t
ngx_signal_webhook_resolve(void *data, ngx_signal_tpl_part_t *part,
    ngx_pool_t *pool, ngx_str_t *value)
{
    yajl_val  json = data;

    return ngx_signal_webhook_scalar(
               ngx_signal_webhook_pointer(json, part->text.data,
                                          part->text.len),
               value);
}


/* signal_webhook_data: the sub-tree, serialised (the body without it) */

static ngx_int_t
ngx_signal_webhook_subtree(ngx_http_request_t *r, ngx_signal_webhook_conf_t *wh,
    yajl_val json, ngx_str_t *data)
{
    size_t                len;
    yajl_gen              g;
    yajl_val              v;
    const unsigned char  *buf;

    if (wh->data.len == 0) {
        return NGX_OK;
    }

    v = ngx_signal_webhook_pointer(json, wh->data.data, wh->data.len);

    if (v == NULL) {
        return NGX_DECLINED;
    }

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_ERROR;
    }

    if (ngx_signal_webhook_serialize(g, v) != NGX_OK
        || yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
    {
        yajl_gen_free(g);
        return NGX_ERROR;
    }

    data->data = ngx_pnalloc(r->pool, len);
    if (data->data == NULL) {
        yajl_gen_free(g);
        return NGX_ERROR;
    }

    ngx_memcpy(data->data, buf, len);
    data->len = len;

    yajl_gen_free(g);

    return NGX_OK;
}


/* RFC 6901 JSON pointer ("/a/0/b", "~1" is "/", "~0" is "~") */

static yajl_val
ngx_signal_webhook_pointer(yajl_val v, u_char *p, size_t len)
{
    u_char      *last, *end, key[256], *k;
    size_t       i, klen;
    ngx_int_t    n;

    last = p + len;

    if (len == 0) {
        return v;
    }

    if (*p != '/') {
        return NULL;
    }

    while (v && p < last) {
        p++;
        end = ngx_strlchr(p, last, '/');
        end = end ? end : last;

        /* unescape the token */

        for (k = key, i = 0; p + i < end; i++) {
            if ((size_t) (k - key) == sizeof(key)) {
                return NULL;
            }

            if (p[i] == '~' && p + i + 1 < end
                && (p[i + 1] == '0' || p[i + 1] == '1'))
            {
                *k++ = (p[i + 1] == '0') ? '~' : '/';
                i++;

            } else {
                *k++ = p[i];
            }
        }

        klen = k - key;

        if (YAJL_IS_OBJECT(v)) {
            for (i = 0; i < v->u.object.len; i++) {
                if (ngx_strlen(v->u.object.keys[i]) == klen
                    && ngx_strncmp(v->u.object.keys[i], key, klen) == 0)
                {
                    break;
                }
            }

            v = (i < v->u.object.len) ? v->u.object.values[i] : NULL;

        } else if (YAJL_IS_ARRAY(v)) {
            n = ngx_atoi(key, klen);
            v = (n != NGX_ERROR && (size_t) n < v->u.array.len)
                ? v->u.array.values[n] : NULL;

        } else {
            v = NULL;
        }

        p = end;
    }

    return v;
}


/* a string, a number as written, true or false */

static ngx_int_t
ngx_signal_webhook_scalar(yajl_val v, ngx_str_t *out)
{
    if (YAJL_IS_STRING(v)) {
        out->data = (u_char *) v->u.string;

    } else if (YAJL_IS_NUMBER(v)) {
        out->data = (u_char *) v->u.number.r;

    } else if (YAJL_IS_TRUE(v)) {
        out->data = (u_char *) "true";

    } else if (YAJL_IS_FALSE(v)) {
        out->data = (u_char *) "false";

    } else {
        return NGX_DECLINED;
    }

    out->len = ngx_strlen(out->data);

    return NGX_OK;
}


static ngx_int_t
ngx_signal_webhook_serialize(yajl_gen g, yajl_val v)
{
    size_t  i;

    if (YAJL_IS_OBJECT(v)) {
        yajl_gen_map_open(g);

        for (i = 0; i < v->u.object.len; i++) {
            yajl_gen_string(g, (const unsigned char *) v->u.object.keys[i],
                            ngx_strlen(v->u.object.keys[i]));

            if (ngx_signal_webhook_serialize(g, v->u.object.values[i])
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        yajl_gen_map_close(g);
        return NGX_OK;
    }

    if (YAJL_IS_ARRAY(v)) {
        yajl_gen_array_open(g);

        for (i = 0; i < v->u.array.len; i++) {
            if (ngx_signal_webhook_serialize(g, v->u.array.values[i])
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        yajl_gen_array_close(g);
        return NGX_OK;
    }

    if (YAJL_IS_STRING(v)) {
        yajl_gen_string(g, (const unsigned char *) v->u.string,
                        ngx_strlen(v->u.string));

    } else if (YAJL_IS_NUMBER(v)) {
        yajl_gen_number(g, v->u.number.r, ngx_strlen(v->u.number.r));

    } else if (YAJL_IS_TRUE(v)) {
        yajl_gen_bool(g, 1);

    } else if (YAJL_IS_FALSE(v)) {
        yajl_gen_bool(g, 0);

    } else {
        yajl_gen_null(g);
    }

    return NGX_OK;
}
