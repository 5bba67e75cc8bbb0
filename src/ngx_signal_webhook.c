
/*
 * Copyright (C) ngx_signal_module authors
 *
 * signal_webhook: a signed third-party webhook becomes a room event.  The
 * signature is checked over the raw body first (HMAC, constant time, any
 * of the configured secrets); nothing is parsed or published for a
 * request that fails it.  Then the timestamp window, the JSON body, the
 * deduplication of ids, the mapping to rooms, event and data, and the
 * publish shared with the notify location.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>
#include <yajl/yajl_gen.h>
#include "ngx_signal.h"


#define NGX_SIGNAL_WEBHOOK_MAX_SIGS  8


typedef struct {
    u_char                     *data;
    size_t                      len;
} ngx_signal_webhook_part_t;


static void ngx_signal_webhook_body(ngx_http_request_t *r);
static ngx_int_t ngx_signal_webhook_verify(ngx_http_request_t *r,
    ngx_signal_webhook_conf_t *wh, ngx_str_t *body, ngx_str_t *id,
    ngx_int_t *rc);
static ngx_uint_t ngx_signal_webhook_match(ngx_http_request_t *r,
    ngx_signal_webhook_conf_t *wh, ngx_signal_webhook_part_t *parts,
    ngx_uint_t nparts, ngx_str_t *sigs, ngx_uint_t nsigs);
static ngx_int_t ngx_signal_webhook_decode(ngx_pool_t *pool, ngx_str_t *in,
    ngx_uint_t base64, ngx_str_t *out);
static ngx_table_elt_t *ngx_signal_webhook_header(ngx_http_request_t *r,
    ngx_str_t *name);
static ngx_int_t ngx_signal_webhook_map(ngx_http_request_t *r,
    ngx_signal_webhook_conf_t *wh, yajl_val json, ngx_str_t *body,
    ngx_array_t **events, const char **err);
static ngx_int_t ngx_signal_webhook_expand(ngx_http_request_t *r,
    ngx_http_complex_value_t *cv, yajl_val json, ngx_str_t *out);
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
    u_char                     *text;
    ngx_int_t                   rc;
    ngx_str_t                   body, id, key;
    yajl_val                    json;
    const char                 *err;
    ngx_array_t                *events;
    ngx_signal_loc_conf_t      *slcf;
    ngx_signal_main_conf_t     *smcf;
    ngx_signal_webhook_conf_t  *wh;

    slcf = ngx_http_get_module_loc_conf(r, ngx_signal_module);
    smcf = ngx_http_get_module_main_conf(r, ngx_signal_module);
    wh = &slcf->webhook;

    rc = ngx_signal_http_body(r, &body);

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    /* the signature first: nothing else happens for an unsigned request */

    if (ngx_signal_webhook_verify(r, wh, &body, &id, &rc) != NGX_OK) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    text = ngx_pnalloc(r->pool, body.len + 1);
    if (text == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(text, body.data, body.len);
    text[body.len] = '\0';

    json = (ngx_strlen(text) == body.len)
           ? yajl_tree_parse((const char *) text, NULL, 0) : NULL;

    if (json == NULL) {
        ngx_http_finalize_request(r,
            ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST, "invalid_json",
                                  "the webhook body is not JSON"));
        return;
    }

    if (ngx_signal_webhook_map(r, wh, json, &body, &events, &err) != NGX_OK) {
        yajl_tree_free(json);
        ngx_http_finalize_request(r,
            err ? ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_event", "%s", err)
                : NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* a Stripe id is in the body; the others came from headers */

    if (wh->preset == NGX_SIGNAL_WEBHOOK_STRIPE
        && ngx_signal_webhook_scalar(
               ngx_signal_webhook_pointer(json, (u_char *) "/id", 3), &id)
           == NGX_OK)
    {
        /* it lives in the tree freed below */
        id.data = ngx_pstrdup(r->pool, &id);
        if (id.data == NULL) {
            yajl_tree_free(json);
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    yajl_tree_free(json);

    ngx_str_null(&key);

    if (id.len) {
        /* the same on every host: the scheme and the sender's id */

        key.data = ngx_pnalloc(r->pool, id.len + NGX_INT_T_LEN + 1);
        if (key.data == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        key.len = ngx_sprintf(key.data, "%ui:%V", wh->preset, &id)
                  - key.data;
    }

    if (key.len && ngx_signal_redis == NULL) {
        rc = ngx_signal_dedupe_check(smcf->zone, &key, wh->tolerance);

        if (rc == NGX_DECLINED) {
            ngx_http_finalize_request(r,
                ngx_signal_http_send_json(r, NGX_HTTP_OK, (u_char *)
                                          "{\"duplicate\":true}\n", 19));
            return;
        }

        if (rc == NGX_ERROR) {
            /* delivered once at least, maybe twice: better than never */
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "signal: cannot remember webhook id \"%V\" "
                          "(too long, or signal_zone full)", &id);
            ngx_str_null(&key);
        }
    }

    /* with Redis, the id is remembered there, atomically with the publish */

    rc = ngx_signal_publish(r, events, ngx_signal_redis ? &key : NULL,
                            wh->tolerance);

    if (key.len && ngx_signal_redis == NULL
        && rc >= NGX_HTTP_SPECIAL_RESPONSE)
    {
        /* not published: a retry must get through */
        ngx_signal_dedupe_forget(smcf->zone, &key);
    }

    ngx_http_finalize_request(r, rc);
}


/*
 * NGX_OK when a configured secret signs the request; otherwise the answer
 * is sent and *rc is what to finalize with.  *id is the webhook id of the
 * "standard" preset.
 */

static ngx_int_t
ngx_signal_webhook_verify(ngx_http_request_t *r,
    ngx_signal_webhook_conf_t *wh, ngx_str_t *body, ngx_str_t *id,
    ngx_int_t *rc)
{
    u_char                     *p, *last, *start, *end;
    time_t                      ts;
    ngx_str_t                   name, sigs[NGX_SIGNAL_WEBHOOK_MAX_SIGS];
    ngx_uint_t                  nsigs, nparts;
    ngx_table_elt_t            *h, *th, *ih;
    ngx_signal_webhook_part_t   parts[5];

    ngx_str_null(id);
    nsigs = 0;
    ts = 0;
    nparts = 0;

    switch (wh->preset) {

    case NGX_SIGNAL_WEBHOOK_STRIPE:

        /* Stripe-Signature: t=<ts>,v1=<hex>[,v1=<hex>][,v0=...] */

        ngx_str_set(&name, "Stripe-Signature");
        h = ngx_signal_webhook_header(r, &name);

        if (h == NULL) {
            goto unauthorized;
        }

        p = h->value.data;
        last = p + h->value.len;
        start = NULL;

        while (p < last) {
            start = p;
            end = ngx_strlchr(p, last, ',');
            end = end ? end : last;

            if (end - start > 2 && start[0] == 't' && start[1] == '=') {
                ts = ngx_atotm(start + 2, end - start - 2);

            } else if (end - start > 3 && ngx_strncmp(start, "v1=", 3) == 0
                       && nsigs < NGX_SIGNAL_WEBHOOK_MAX_SIGS)
            {
                sigs[nsigs].data = start + 3;
                sigs[nsigs++].len = end - start - 3;
            }

            p = (end < last) ? end + 1 : last;
        }

        if (ts <= 0 || nsigs == 0) {
            goto unauthorized;
        }

        parts[0].data = h->value.data;   /* "t=<ts>": the digits */
        parts[0].len = 0;

        for (p = h->value.data; p < last; p++) {
            if (p + 1 < last && p[0] == 't' && p[1] == '='
                && (p == h->value.data || p[-1] == ','))
            {
                parts[0].data = p + 2;

                for (start = p + 2; start < last && *start != ','; start++) {
                    /* void */
                }

                parts[0].len = start - parts[0].data;
                break;
            }
        }

        parts[1].data = (u_char *) ".";
        parts[1].len = 1;
        nparts = 2;
        break;

    case NGX_SIGNAL_WEBHOOK_STANDARD:

        /* webhook-id, webhook-timestamp, webhook-signature: v1,<b64> ... */

        ngx_str_set(&name, "webhook-id");
        ih = ngx_signal_webhook_header(r, &name);
        ngx_str_set(&name, "webhook-timestamp");
        th = ngx_signal_webhook_header(r, &name);
        ngx_str_set(&name, "webhook-signature");
        h = ngx_signal_webhook_header(r, &name);

        if (ih == NULL || th == NULL || h == NULL) {
            goto unauthorized;
        }

        ts = ngx_atotm(th->value.data, th->value.len);

        if (ts <= 0) {
            goto unauthorized;
        }

        p = h->value.data;
        last = p + h->value.len;

        while (p < last && nsigs < NGX_SIGNAL_WEBHOOK_MAX_SIGS) {
            while (p < last && *p == ' ') {
                p++;
            }

            start = p;

            while (p < last && *p != ' ') {
                p++;
            }

            if (p - start > 3 && ngx_strncmp(start, "v1,", 3) == 0) {
                sigs[nsigs].data = start + 3;
                sigs[nsigs++].len = p - start - 3;
            }
        }

        if (nsigs == 0) {
            goto unauthorized;
        }

        parts[0].data = ih->value.data;
        parts[0].len = ih->value.len;
        parts[1].data = (u_char *) ".";
        parts[1].len = 1;
        parts[2].data = th->value.data;
        parts[2].len = th->value.len;
        parts[3].data = (u_char *) ".";
        parts[3].len = 1;
        nparts = 4;

        *id = ih->value;
        break;

    default:

        /* one header: [prefix]<hex or base64> */

        h = ngx_signal_webhook_header(r, &wh->header);

        if (h == NULL || h->value.len <= wh->prefix.len
            || ngx_strncasecmp(h->value.data, wh->prefix.data,
                               wh->prefix.len) != 0)
        {
            goto unauthorized;
        }

        sigs[0].data = h->value.data + wh->prefix.len;
        sigs[0].len = h->value.len - wh->prefix.len;
        nsigs = 1;
    }

    parts[nparts].data = body->data;
    parts[nparts++].len = body->len;

    if (!ngx_signal_webhook_match(r, wh, parts, nparts, sigs, nsigs)) {
        goto unauthorized;
    }

    /* signed, and only then: is it fresh? (replays of old deliveries) */

    if (ts && (ts < ngx_time() - wh->tolerance
               || ts > ngx_time() + wh->tolerance))
    {
        *rc = ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST,
                                    "timestamp_out_of_window",
                                    "the webhook's timestamp is more than "
                                    "signal_webhook_tolerance away from now");
        return NGX_DECLINED;
    }

    return NGX_OK;

unauthorized:

    *rc = ngx_signal_http_error(r, NGX_HTTP_UNAUTHORIZED, "unauthorized",
                                "missing or invalid signature");
    return NGX_DECLINED;
}


/* any configured secret signs any of the signatures (constant time) */

static ngx_uint_t
ngx_signal_webhook_match(ngx_http_request_t *r,
    ngx_signal_webhook_conf_t *wh, ngx_signal_webhook_part_t *parts,
    ngx_uint_t nparts, ngx_str_t *sigs, ngx_uint_t nsigs)
{
    u_char                    *p, mac[EVP_MAX_MD_SIZE];
    size_t                     len;
    ngx_str_t                  secret, key, input, sig;
    ngx_uint_t                 i, j, ok;
    unsigned int               maclen;
    ngx_http_complex_value_t  *cv;

    len = 0;

    for (i = 0; i < nparts; i++) {
        len += parts[i].len;
    }

    input.data = ngx_pnalloc(r->pool, len + 1);
    if (input.data == NULL) {
        return 0;
    }

    p = input.data;

    for (i = 0; i < nparts; i++) {
        p = ngx_cpymem(p, parts[i].data, parts[i].len);
    }

    input.len = p - input.data;

    cv = wh->secrets->elts;
    ok = 0;

    for (i = 0; i < wh->secrets->nelts; i++) {

        if (ngx_http_complex_value(r, &cv[i], &secret) != NGX_OK
            || secret.len == 0)
        {
            continue;
        }

        key = secret;

        /* Airtable and Standard Webhooks secrets are base64 keys */

        if (wh->preset == NGX_SIGNAL_WEBHOOK_STANDARD
            && secret.len > 6 && ngx_strncmp(secret.data, "whsec_", 6) == 0)
        {
            secret.data += 6;
            secret.len -= 6;
        }

        if ((wh->preset == NGX_SIGNAL_WEBHOOK_AIRTABLE
             || wh->preset == NGX_SIGNAL_WEBHOOK_STANDARD)
            && ngx_signal_webhook_decode(r->pool, &secret, 1, &key) != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "signal: a webhook secret of this location is not "
                          "base64; check signal_webhook_secret");
            continue;
        }

        if (HMAC(wh->md, key.data, (int) key.len, input.data, input.len,
                 mac, &maclen)
            == NULL)
        {
            continue;
        }

        for (j = 0; j < nsigs; j++) {
            if (ngx_signal_webhook_decode(r->pool, &sigs[j], wh->base64, &sig)
                == NGX_OK
                && sig.len == maclen)
            {
                ok |= (CRYPTO_memcmp(sig.data, mac, maclen) == 0);
            }
        }
    }

    return ok;
}


static ngx_int_t
ngx_signal_webhook_decode(ngx_pool_t *pool, ngx_str_t *in,
    ngx_uint_t base64, ngx_str_t *out)
{
    u_char    *dst;
    size_t     i;
    ngx_int_t  hi, lo;

    if (base64) {
        dst = ngx_pnalloc(pool, ngx_base64_decoded_length(in->len) + 1);
        if (dst == NULL) {
            return NGX_ERROR;
        }

        out->data = dst;
        return ngx_decode_base64(out, in);
    }

    if (in->len % 2) {
        return NGX_ERROR;
    }

    dst = ngx_pnalloc(pool, in->len / 2 + 1);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < in->len; i += 2) {
        hi = ngx_hextoi(&in->data[i], 1);
        lo = ngx_hextoi(&in->data[i + 1], 1);

        if (hi == NGX_ERROR || lo == NGX_ERROR) {
            return NGX_ERROR;
        }

        dst[i / 2] = (u_char) (hi * 16 + lo);
    }

    out->data = dst;
    out->len = in->len / 2;

    return NGX_OK;
}


static ngx_table_elt_t *
ngx_signal_webhook_header(ngx_http_request_t *r, ngx_str_t *name)
{
    u_char  low[64];

    if (name->len >= sizeof(low)) {
        return NULL;
    }

    ngx_strlow(low, name->data, name->len);

    return ngx_signal_http_find_header(r, (char *) low, name->len, NULL);
}


/* one event: the rooms, the name and the data the location maps to */

static ngx_int_t
ngx_signal_webhook_map(ngx_http_request_t *r, ngx_signal_webhook_conf_t *wh,
    yajl_val json, ngx_str_t *body, ngx_array_t **events, const char **err)
{
    size_t                     len;
    ngx_str_t                 *room;
    yajl_gen                   g;
    yajl_val                   v;
    ngx_uint_t                 i;
    const char                *e;
    const unsigned char       *buf;
    ngx_signal_event_t        *ev;
    ngx_signal_loc_conf_t     *slcf;
    ngx_http_complex_value_t  *cv;

    slcf = ngx_http_get_module_loc_conf(r, ngx_signal_module);
    *err = NULL;

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
    cv = wh->rooms->elts;

    for (i = 0; i < wh->rooms->nelts; i++) {
        room = &ev->rooms[i];

        if (ngx_signal_webhook_expand(r, &cv[i], json, room) != NGX_OK) {
            *err = "the body lacks a value signal_webhook_room names";
            return NGX_DECLINED;
        }

        e = ngx_signal_room_check(room->data, room->len,
                                  slcf->max_name_length, 0);
        if (e) {
            *err = "signal_webhook_room maps to an invalid room name";
            return NGX_DECLINED;
        }
    }

    if (ngx_signal_webhook_expand(r, wh->event, json, &ev->event) != NGX_OK)
    {
        *err = "the body lacks a value signal_webhook_event names";
        return NGX_DECLINED;
    }

    if (ngx_signal_event_name_check(ev->event.data, ev->event.len,
                                    slcf->max_name_length))
    {
        *err = "signal_webhook_event maps to an invalid event name";
        return NGX_DECLINED;
    }

    if (wh->data.len == 0) {
        /* the body as it came: validated JSON, never re-serialised */
        ev->data = *body;
        return NGX_OK;
    }

    v = ngx_signal_webhook_pointer(json, wh->data.data, wh->data.len);

    if (v == NULL) {
        *err = "the body has no value at signal_webhook_data";
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

    ev->data.data = ngx_pnalloc(r->pool, len);
    if (ev->data.data == NULL) {
        yajl_gen_free(g);
        return NGX_ERROR;
    }

    ngx_memcpy(ev->data.data, buf, len);
    ev->data.len = len;

    yajl_gen_free(g);

    return NGX_OK;
}


/* nginx variables first, then "{/json/pointer}" from the body */

static ngx_int_t
ngx_signal_webhook_expand(ngx_http_request_t *r, ngx_http_complex_value_t *cv,
    yajl_val json, ngx_str_t *out)
{
    u_char     *p, *last, *open, *close, *dst;
    size_t      len;
    ngx_str_t   tpl, value;

    if (ngx_http_complex_value(r, cv, &tpl) != NGX_OK) {
        return NGX_ERROR;
    }

    last = tpl.data + tpl.len;
    len = 0;

    /* two passes: the length, then the text */

    for (dst = NULL; /* void */ ; dst = out->data) {
        p = tpl.data;

        while (p < last) {
            open = ngx_strlchr(p, last, '{');
            close = open ? ngx_strlchr(open, last, '}') : NULL;

            if (open == NULL || close == NULL || open + 1 == close
                || open[1] != '/')
            {
                close = last;
                open = last;
            }

            if (dst) {
                dst = ngx_cpymem(dst, p, open - p);

            } else {
                len += open - p;
            }

            if (open == last) {
                break;
            }

            if (ngx_signal_webhook_scalar(
                    ngx_signal_webhook_pointer(json, open + 1,
                                               close - open - 1),
                    &value)
                != NGX_OK)
            {
                return NGX_DECLINED;
            }

            if (dst) {
                dst = ngx_cpymem(dst, value.data, value.len);

            } else {
                len += value.len;
            }

            p = close + 1;
        }

        if (dst) {
            out->len = dst - out->data;
            return NGX_OK;
        }

        out->data = ngx_pnalloc(r->pool, len + 1);
        if (out->data == NULL) {
            return NGX_ERROR;
        }
    }
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
