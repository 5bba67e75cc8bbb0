
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Webhook signature schemes.  Each preset's headers are parsed strictly
 * (each header exactly once, one timestamp, no unknown shapes): what is
 * checked against the window must be what was signed.  The HMAC is
 * computed over the raw body with every configured secret and compared
 * in constant time.  A verified delivery carries the digest of its
 * location and secret set, so that deduplication never crosses from one
 * location (or tenant) to another.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>
#include "ngx_signal_webhook.h"
#include "ngx_signal_http.h"


static ngx_int_t ngx_signal_webhook_stripe(ngx_http_request_t *r,
    ngx_signal_webhook_delivery_t *dl);
static ngx_int_t ngx_signal_webhook_standard(ngx_http_request_t *r,
    ngx_signal_webhook_delivery_t *dl);
static ngx_int_t ngx_signal_webhook_single(ngx_http_request_t *r,
    ngx_signal_webhook_conf_t *wh, ngx_signal_webhook_delivery_t *dl);
static ngx_int_t ngx_signal_webhook_header(ngx_http_request_t *r,
    ngx_str_t *name, ngx_table_elt_t **found);
static time_t ngx_signal_webhook_time(u_char *p, size_t len);
static ngx_int_t ngx_signal_webhook_match(ngx_http_request_t *r,
    ngx_signal_webhook_conf_t *wh, ngx_signal_webhook_delivery_t *dl);
static ngx_int_t ngx_signal_webhook_secret(ngx_http_request_t *r,
    ngx_signal_webhook_conf_t *wh, ngx_str_t *secret, ngx_str_t *key);
static ngx_int_t ngx_signal_webhook_scope(ngx_http_request_t *r,
    ngx_signal_webhook_conf_t *wh, EVP_MD_CTX *ctx);
static ngx_int_t ngx_signal_webhook_decode(ngx_pool_t *pool, ngx_str_t *in,
    ngx_uint_t base64, ngx_str_t *out);


/*
 * NGX_OK when a configured secret signs the request (dl filled in),
 * NGX_DECLINED when it does not or the signature headers are malformed,
 * NGX_ERROR.
 */

ngx_int_t
ngx_signal_webhook_verify(ngx_http_request_t *r,
    ngx_signal_webhook_conf_t *wh, ngx_str_t *body,
    ngx_signal_webhook_delivery_t *dl)
{
    ngx_int_t  rc;

    ngx_memzero(dl, sizeof(ngx_signal_webhook_delivery_t));

    switch (wh->preset) {

    case NGX_SIGNAL_WEBHOOK_STRIPE:
        rc = ngx_signal_webhook_stripe(r, dl);
        break;

    case NGX_SIGNAL_WEBHOOK_STANDARD:
        rc = ngx_signal_webhook_standard(r, dl);
        break;

    default:
        rc = ngx_signal_webhook_single(r, wh, dl);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    dl->parts[dl->nparts].data = body->data;
    dl->parts[dl->nparts++].len = body->len;

    return ngx_signal_webhook_match(r, wh, dl);
}


/*
 * Stripe-Signature: t=<ts>,v1=<hex>[,v1=<hex>][,v0=<hex>], signed over
 * "<t>.<body>".  Exactly one t; other schemes (v0, ...) are ignored;
 * anything else is refused.
 */

static ngx_int_t
ngx_signal_webhook_stripe(ngx_http_request_t *r,
    ngx_signal_webhook_delivery_t *dl)
{
    u_char           *p, *last, *end, *eq, *k;
    ngx_str_t         name;
    ngx_table_elt_t  *h;

    ngx_str_set(&name, "stripe-signature");

    if (ngx_signal_webhook_header(r, &name, &h) != NGX_OK) {
        return NGX_DECLINED;
    }

    p = h->value.data;
    last = p + h->value.len;

    while (p < last) {
        end = ngx_strlchr(p, last, ',');
        end = end ? end : last;

        eq = ngx_strlchr(p, end, '=');

        if (eq == NULL || eq == p || eq + 1 == end
            || (end < last && end + 1 == last))
        {
            return NGX_DECLINED;
        }

        if (eq - p == 1 && *p == 't') {
            if (dl->ts) {
                return NGX_DECLINED;
            }

            dl->ts = ngx_signal_webhook_time(eq + 1, end - eq - 1);

            if (dl->ts <= 0) {
                return NGX_DECLINED;
            }

            dl->parts[0].data = eq + 1;
            dl->parts[0].len = end - eq - 1;

        } else if (*p == 'v' && eq - p > 1) {

            for (k = p + 1; k < eq; k++) {
                if (*k < '0' || *k > '9') {
                    return NGX_DECLINED;
                }
            }

            if (eq - p == 2 && p[1] == '1') {
                if (dl->nsigs == NGX_SIGNAL_WEBHOOK_MAX_SIGS) {
                    return NGX_DECLINED;
                }

                dl->sigs[dl->nsigs].data = eq + 1;
                dl->sigs[dl->nsigs++].len = end - eq - 1;
            }

        } else {
            return NGX_DECLINED;
        }

        p = end + 1;
    }

    if (dl->ts == 0 || dl->nsigs == 0) {
        return NGX_DECLINED;
    }

    dl->parts[1].data = (u_char *) ".";
    dl->parts[1].len = 1;
    dl->nparts = 2;

    return NGX_OK;
}


/*
 * Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature
 * ("v1,<base64>" entries separated by spaces), signed over
 * "<id>.<timestamp>.<body>".
 */

static ngx_int_t
ngx_signal_webhook_standard(ngx_http_request_t *r,
    ngx_signal_webhook_delivery_t *dl)
{
    u_char           *p, *last, *start, *comma;
    ngx_str_t         name;
    ngx_table_elt_t  *h, *th, *ih;

    ngx_str_set(&name, "webhook-id");

    if (ngx_signal_webhook_header(r, &name, &ih) != NGX_OK) {
        return NGX_DECLINED;
    }

    ngx_str_set(&name, "webhook-timestamp");

    if (ngx_signal_webhook_header(r, &name, &th) != NGX_OK) {
        return NGX_DECLINED;
    }

    ngx_str_set(&name, "webhook-signature");

    if (ngx_signal_webhook_header(r, &name, &h) != NGX_OK) {
        return NGX_DECLINED;
    }

    dl->ts = ngx_signal_webhook_time(th->value.data, th->value.len);

    if (dl->ts <= 0 || ih->value.len == 0) {
        return NGX_DECLINED;
    }

    p = h->value.data;
    last = p + h->value.len;

    while (p < last) {

        if (*p == ' ') {
            p++;
            continue;
        }

        start = p;

        while (p < last && *p != ' ') {
            p++;
        }

        comma = ngx_strlchr(start, p, ',');

        if (comma == NULL || comma == start || comma + 1 == p) {
            return NGX_DECLINED;
        }

        if (comma - start != 2 || start[0] != 'v' || start[1] != '1') {
            /* another version (v1a: asymmetric keys) */
            continue;
        }

        if (dl->nsigs == NGX_SIGNAL_WEBHOOK_MAX_SIGS) {
            return NGX_DECLINED;
        }

        dl->sigs[dl->nsigs].data = comma + 1;
        dl->sigs[dl->nsigs++].len = p - comma - 1;
    }

    if (dl->nsigs == 0) {
        return NGX_DECLINED;
    }

    dl->parts[0].data = ih->value.data;
    dl->parts[0].len = ih->value.len;
    dl->parts[1].data = (u_char *) ".";
    dl->parts[1].len = 1;
    dl->parts[2].data = th->value.data;
    dl->parts[2].len = th->value.len;
    dl->parts[3].data = (u_char *) ".";
    dl->parts[3].len = 1;
    dl->nparts = 4;

    dl->id = ih->value;

    return NGX_OK;
}


/* GitHub, Airtable, generic hmac: one header, [prefix]<hex or base64> */

static ngx_int_t
ngx_signal_webhook_single(ngx_http_request_t *r,
    ngx_signal_webhook_conf_t *wh, ngx_signal_webhook_delivery_t *dl)
{
    ngx_table_elt_t  *h;

    if (ngx_signal_webhook_header(r, &wh->header, &h) != NGX_OK
        || h->value.len <= wh->prefix.len
        || ngx_strncasecmp(h->value.data, wh->prefix.data, wh->prefix.len)
           != 0)
    {
        return NGX_DECLINED;
    }

    dl->sigs[0].data = h->value.data + wh->prefix.len;
    dl->sigs[0].len = h->value.len - wh->prefix.len;
    dl->nsigs = 1;

    return NGX_OK;
}


/* the header called name, when the request has exactly one */

static ngx_int_t
ngx_signal_webhook_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_table_elt_t **found)
{
    u_char            low[64];
    ngx_table_elt_t  *h;

    if (name->len >= sizeof(low)) {
        return NGX_DECLINED;
    }

    ngx_strlow(low, name->data, name->len);

    h = ngx_signal_http_find_header(r, (char *) low, name->len, NULL);

    if (h == NULL
        || ngx_signal_http_find_header(r, (char *) low, name->len, h))
    {
        return NGX_DECLINED;
    }

    *found = h;

    return NGX_OK;
}


/* a timestamp: decimal digits only; 0 when it is not one */

static time_t
ngx_signal_webhook_time(u_char *p, size_t len)
{
    time_t  t;

    if (len == 0 || len > 12) {
        return 0;
    }

    t = ngx_atotm(p, len);

    return (t == NGX_ERROR) ? 0 : t;
}


/*
 * Any configured secret signs any of the signatures (constant time).
 * dl->mac gets the signature that matched, dl->scope the digest of the
 * location and of every secret of the set.
 */

static ngx_int_t
ngx_signal_webhook_match(ngx_http_request_t *r,
    ngx_signal_webhook_conf_t *wh, ngx_signal_webhook_delivery_t *dl)
{
    u_char                    *p, mac[EVP_MAX_MD_SIZE], digest[32];
    size_t                     len;
    ngx_int_t                  rc;
    ngx_str_t                  secret, key, input, sig;
    ngx_uint_t                 i, j, ok;
    unsigned int               maclen, dlen;
    EVP_MD_CTX                *ctx;
    ngx_http_complex_value_t  *cv;

    len = 0;

    for (i = 0; i < dl->nparts; i++) {
        len += dl->parts[i].len;
    }

    input.data = ngx_pnalloc(r->pool, len + 1);
    if (input.data == NULL) {
        return NGX_ERROR;
    }

    p = input.data;

    for (i = 0; i < dl->nparts; i++) {
        p = ngx_cpymem(p, dl->parts[i].data, dl->parts[i].len);
    }

    input.len = p - input.data;

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (ngx_signal_webhook_scope(r, wh, ctx) != NGX_OK) {
        EVP_MD_CTX_free(ctx);
        return NGX_ERROR;
    }

    cv = wh->secrets->elts;
    ok = 0;

    for (i = 0; i < wh->secrets->nelts; i++) {

        if (ngx_http_complex_value(r, &cv[i], &secret) != NGX_OK) {
            EVP_MD_CTX_free(ctx);
            return NGX_ERROR;
        }

        rc = ngx_signal_webhook_secret(r, wh, &secret, &key);

        if (rc == NGX_ERROR) {
            EVP_MD_CTX_free(ctx);
            return NGX_ERROR;
        }

        if (rc != NGX_OK) {
            continue;
        }

        /* the set of secrets is part of the scope (tenants, rotation) */

        if (EVP_Digest(key.data, key.len, digest, &dlen, EVP_sha256(), NULL)
            != 1
            || EVP_DigestUpdate(ctx, digest, dlen) != 1
            || HMAC(wh->md, key.data, (int) key.len, input.data, input.len,
                    mac, &maclen)
               == NULL)
        {
            EVP_MD_CTX_free(ctx);
            return NGX_ERROR;
        }

        for (j = 0; j < dl->nsigs; j++) {
            if (ngx_signal_webhook_decode(r->pool, &dl->sigs[j], wh->base64,
                                          &sig)
                == NGX_OK
                && sig.len == maclen
                && CRYPTO_memcmp(sig.data, mac, maclen) == 0)
            {
                ok = 1;
                dl->mac = sig;
            }
        }
    }

    rc = (EVP_DigestFinal_ex(ctx, dl->scope, &dlen) == 1) ? NGX_OK
                                                          : NGX_ERROR;
    EVP_MD_CTX_free(ctx);

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    return ok ? NGX_OK : NGX_DECLINED;
}


/* the HMAC key of a secret: Airtable and Standard Webhooks give base64 */

static ngx_int_t
ngx_signal_webhook_secret(ngx_http_request_t *r,
    ngx_signal_webhook_conf_t *wh, ngx_str_t *secret, ngx_str_t *key)
{
    if (secret->len == 0) {
        return NGX_DECLINED;
    }

    *key = *secret;

    if (wh->preset == NGX_SIGNAL_WEBHOOK_STANDARD
        && secret->len > 6 && ngx_strncmp(secret->data, "whsec_", 6) == 0)
    {
        secret->data += 6;
        secret->len -= 6;
    }

    if (wh->preset != NGX_SIGNAL_WEBHOOK_AIRTABLE
        && wh->preset != NGX_SIGNAL_WEBHOOK_STANDARD)
    {
        return NGX_OK;
    }

    if (ngx_signal_webhook_decode(r->pool, secret, 1, key) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "signal: a webhook secret of this location is not "
                      "base64; check signal_webhook_secret");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the location: its server's name, its own name and the scheme */

static ngx_int_t
ngx_signal_webhook_scope(ngx_http_request_t *r,
    ngx_signal_webhook_conf_t *wh, EVP_MD_CTX *ctx)
{
    ngx_http_core_srv_conf_t  *cscf;
    ngx_http_core_loc_conf_t  *clcf;

    cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1
        || EVP_DigestUpdate(ctx, cscf->server_name.data,
                            cscf->server_name.len) != 1
        || EVP_DigestUpdate(ctx, "\0", 1) != 1
        || EVP_DigestUpdate(ctx, clcf->name.data, clcf->name.len) != 1
        || EVP_DigestUpdate(ctx, "\0", 1) != 1
        || EVP_DigestUpdate(ctx, &wh->preset, sizeof(ngx_uint_t)) != 1)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
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


/*
 * The key that identifies a delivery for deduplication, the same on
 * every host: a digest of the scope and the sender's id, or of the
 * signature itself for the schemes without a signed id.
 */

ngx_int_t
ngx_signal_webhook_verify_key(ngx_http_request_t *r,
    ngx_signal_webhook_delivery_t *dl, ngx_str_t *id, ngx_str_t *key)
{
    u_char        digest[EVP_MAX_MD_SIZE];
    ngx_str_t    *what;
    unsigned int  len;
    EVP_MD_CTX   *ctx;

    what = id->len ? id : &dl->mac;

    key->data = ngx_pnalloc(r->pool, 2 * sizeof(digest));
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1
        || EVP_DigestUpdate(ctx, dl->scope, sizeof(dl->scope)) != 1
        || EVP_DigestUpdate(ctx, id->len ? "i" : "s", 1) != 1
        || EVP_DigestUpdate(ctx, what->data, what->len) != 1
        || EVP_DigestFinal_ex(ctx, digest, &len) != 1)
    {
        EVP_MD_CTX_free(ctx);
        return NGX_ERROR;
    }

    EVP_MD_CTX_free(ctx);

    key->len = ngx_hex_dump(key->data, digest, NGX_SIGNAL_WEBHOOK_KEY_LEN / 2)
               - key->data;

    return NGX_OK;
}
