
/*
 * Copyright (C) ngx_signal_module authors
 *
 * JWT verification for WebSocket handshakes and refreshes, and the
 * $signal_claim_ variables.  Signatures are checked with OpenSSL; a key is
 * only ever used with the algorithms of its own type, so an HS256 token
 * can never be checked against an RSA public key taken as a secret.
 * Signatures are compared in constant time; secrets are never logged.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/ecdsa.h>
#include <openssl/crypto.h>
#include "ngx_signal.h"


static ngx_int_t ngx_signal_jwt_alg(ngx_str_t *alg, ngx_uint_t *type,
    const EVP_MD **md, ngx_uint_t *bits);
static ngx_int_t ngx_signal_jwt_check_key(ngx_http_request_t *r,
    ngx_pool_t *pool, ngx_signal_jwt_key_t *key, const EVP_MD *md,
    u_char *input, size_t len, u_char *sig, size_t siglen);
static ngx_int_t ngx_signal_jwt_decode(ngx_pool_t *pool, u_char *p,
    size_t len, ngx_str_t *out);
static yajl_val ngx_signal_jwt_parse(ngx_str_t *json);
static yajl_val ngx_signal_jwt_get(yajl_val obj, const char *name);
static ngx_int_t ngx_signal_jwt_time(yajl_val v, time_t *t);
static ngx_uint_t ngx_signal_jwt_str_eq(yajl_val v, ngx_str_t *s);
static void ngx_signal_jwt_free(void *data);
static ngx_int_t ngx_signal_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


/* finding the token of a handshake */

ngx_int_t
ngx_signal_jwt_find(ngx_http_request_t *r, ngx_signal_jwt_conf_t *jc,
    ngx_str_t *token)
{
    u_char           *p, *last, *start;
    ngx_table_elt_t  *h;

    if ((jc->sources & NGX_SIGNAL_JWT_HEADER)
        && r->headers_in.authorization
        && r->headers_in.authorization->value.len > 7
        && ngx_strncasecmp(r->headers_in.authorization->value.data,
                           (u_char *) "Bearer ", 7) == 0)
    {
        token->data = r->headers_in.authorization->value.data + 7;
        token->len = r->headers_in.authorization->value.len - 7;
        return NGX_OK;
    }

    if ((jc->sources & NGX_SIGNAL_JWT_QUERY)
        && ngx_http_arg(r, jc->query.data, jc->query.len, token) == NGX_OK
        && token->len)
    {
        return NGX_OK;
    }

    if ((jc->sources & NGX_SIGNAL_JWT_COOKIE)
        && ngx_http_parse_multi_header_lines(&r->headers_in.cookies,
                                             &jc->cookie, token)
           != NGX_DECLINED
        && token->len)
    {
        return NGX_OK;
    }

    if (!(jc->sources & NGX_SIGNAL_JWT_SUBPROTOCOL)) {
        return NGX_DECLINED;
    }

    /* Sec-WebSocket-Protocol: signal.v1, bearer.<token> */

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

            if ((size_t) (p - start) > sizeof(NGX_SIGNAL_JWT_PROTOCOL) - 1
                && ngx_strncmp(start, NGX_SIGNAL_JWT_PROTOCOL,
                               sizeof(NGX_SIGNAL_JWT_PROTOCOL) - 1) == 0)
            {
                token->data = start + sizeof(NGX_SIGNAL_JWT_PROTOCOL) - 1;
                token->len = p - token->data;
                return NGX_OK;
            }
        }
    }

    return NGX_DECLINED;
}


/* verification */

static ngx_int_t
ngx_signal_jwt_alg(ngx_str_t *alg, ngx_uint_t *type, const EVP_MD **md,
    ngx_uint_t *bits)
{
    if (alg->len != 5) {
        return NGX_ERROR;
    }

    switch (alg->data[0]) {
    case 'H':
        *type = NGX_SIGNAL_JWT_HMAC;
        break;
    case 'R':
        *type = NGX_SIGNAL_JWT_RSA;
        break;
    case 'E':
        *type = NGX_SIGNAL_JWT_EC;
        break;
    default:
        return NGX_ERROR;
    }

    if (alg->data[1] != 'S') {
        return NGX_ERROR;
    }

    if (ngx_strncmp(alg->data + 2, "256", 3) == 0) {
        *md = EVP_sha256();
        *bits = 256;

    } else if (ngx_strncmp(alg->data + 2, "384", 3) == 0) {
        *md = EVP_sha384();
        *bits = 384;

    } else if (ngx_strncmp(alg->data + 2, "512", 3) == 0
               && *type != NGX_SIGNAL_JWT_EC)
    {
        *md = EVP_sha512();
        *bits = 512;

    } else {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_signal_jwt_check_key(ngx_http_request_t *r, ngx_pool_t *pool,
    ngx_signal_jwt_key_t *key, const EVP_MD *md, u_char *input, size_t len,
    u_char *sig, size_t siglen)
{
    int             ok, n;
    u_char          mac[EVP_MAX_MD_SIZE], *der, *p;
    BIGNUM         *br, *bs;
    ngx_str_t       secret;
    ECDSA_SIG      *es;
    unsigned int    maclen;
    EVP_MD_CTX     *ctx;

    if (key->type == NGX_SIGNAL_JWT_HMAC) {
        /* r is NULL for a detached session: the secret is then constant
         * (ngx_signal_jwt_needs_request) */
        if (ngx_http_complex_value(r, key->secret, &secret) != NGX_OK) {
            return NGX_ERROR;
        }

        if (secret.len < NGX_SIGNAL_JWT_MIN_SECRET) {
            ngx_log_error(NGX_LOG_ERR, pool->log, 0,
                          "signal: the JWT secret from a variable is %uz "
                          "bytes; at least %d are needed, token refused",
                          secret.len, NGX_SIGNAL_JWT_MIN_SECRET);
            return NGX_DECLINED;
        }

        if (HMAC(md, secret.data, (int) secret.len, input, len, mac, &maclen)
            == NULL)
        {
            return NGX_ERROR;
        }

        return (siglen == maclen && CRYPTO_memcmp(mac, sig, maclen) == 0)
               ? NGX_OK : NGX_DECLINED;
    }

    der = NULL;

    if (key->type == NGX_SIGNAL_JWT_EC) {
        /* JWS carries R || S; OpenSSL verifies DER */

        if (siglen != 2 * (key->bits / 8)) {
            return NGX_DECLINED;
        }

        es = ECDSA_SIG_new();
        br = BN_bin2bn(sig, (int) siglen / 2, NULL);
        bs = BN_bin2bn(sig + siglen / 2, (int) siglen / 2, NULL);

        if (es == NULL || br == NULL || bs == NULL
            || ECDSA_SIG_set0(es, br, bs) != 1)
        {
            ECDSA_SIG_free(es);
            BN_free(br);
            BN_free(bs);
            return NGX_ERROR;
        }

        n = i2d_ECDSA_SIG(es, NULL);
        der = (n > 0) ? ngx_pnalloc(pool, n) : NULL;

        if (der == NULL) {
            ECDSA_SIG_free(es);
            return NGX_ERROR;
        }

        p = der;
        (void) i2d_ECDSA_SIG(es, &p);
        ECDSA_SIG_free(es);

        sig = der;
        siglen = n;
    }

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ok = EVP_DigestVerifyInit(ctx, NULL, md, NULL, key->pkey) == 1
         && EVP_DigestVerify(ctx, sig, siglen, input, len) == 1;

    EVP_MD_CTX_free(ctx);

    return ok ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_signal_jwt_decode(ngx_pool_t *pool, u_char *p, size_t len, ngx_str_t *out)
{
    ngx_str_t  src;

    src.data = p;
    src.len = len;

    out->data = ngx_pnalloc(pool, ngx_base64_decoded_length(len) + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    if (len == 0 || ngx_decode_base64url(out, &src) != NGX_OK) {
        return NGX_DECLINED;
    }

    out->data[out->len] = '\0';

    return NGX_OK;
}


static yajl_val
ngx_signal_jwt_parse(ngx_str_t *json)
{
    yajl_val  v;

    if (ngx_strlen(json->data) != json->len) {
        /* a NUL inside: not JSON text */
        return NULL;
    }

    v = yajl_tree_parse((const char *) json->data, NULL, 0);

    if (v && !YAJL_IS_OBJECT(v)) {
        yajl_tree_free(v);
        return NULL;
    }

    return v;
}


static yajl_val
ngx_signal_jwt_get(yajl_val obj, const char *name)
{
    const char  *path[2];

    path[0] = name;
    path[1] = NULL;

    return yajl_tree_get(obj, path, yajl_t_any);
}


static ngx_int_t
ngx_signal_jwt_time(yajl_val v, time_t *t)
{
    if (!YAJL_IS_NUMBER(v)) {
        return NGX_ERROR;
    }

    /* a fraction is fine; a value far beyond any date is not a time */

    if (v->u.number.flags & YAJL_NUMBER_INT_VALID) {
        if (v->u.number.i <= -1000000000000000LL
            || v->u.number.i >= 1000000000000000LL)
        {
            return NGX_ERROR;
        }

        *t = (time_t) v->u.number.i;
        return NGX_OK;
    }

    if (!(v->u.number.d > -1e15 && v->u.number.d < 1e15)) {
        return NGX_ERROR;
    }

    *t = (time_t) v->u.number.d;

    return NGX_OK;
}


static ngx_uint_t
ngx_signal_jwt_str_eq(yajl_val v, ngx_str_t *s)
{
    if (!YAJL_IS_STRING(v)) {
        return 0;
    }

    return ngx_strlen(v->u.string) == s->len
           && ngx_strncmp(v->u.string, s->data, s->len) == 0;
}


static void
ngx_signal_jwt_free(void *data)
{
    yajl_tree_free(data);
}


/*
 * NGX_OK with the claims in jwt (freed with pool), NGX_DECLINED with a
 * reason for the client (never a secret), NGX_ERROR.
 */

/* a refresh must evaluate a secret taken from variables in a request */

ngx_uint_t
ngx_signal_jwt_needs_request(ngx_signal_jwt_conf_t *jc)
{
    ngx_uint_t             i;
    ngx_signal_jwt_key_t  *key;

    if (jc->keys == NULL) {
        return 0;
    }

    key = jc->keys->elts;

    for (i = 0; i < jc->keys->nelts; i++) {
        if (key[i].type == NGX_SIGNAL_JWT_HMAC && key[i].secret->lengths) {
            return 1;
        }
    }

    return 0;
}


ngx_int_t
ngx_signal_jwt_verify(ngx_http_request_t *r, ngx_signal_jwt_conf_t *jc,
    ngx_str_t *token, ngx_pool_t *pool, ngx_signal_jwt_t *jwt,
    const char **reason)
{
    u_char                *dot1, *dot2, *last;
    time_t                 t, now;
    yajl_val               header, claims, v, a;
    ngx_int_t              rc;
    ngx_str_t              json, sig, alg, kid;
    ngx_uint_t             i, type, bits, found, verified, by_kid;
    const EVP_MD          *md;
    ngx_pool_cleanup_t    *cln;
    ngx_signal_jwt_key_t  *key;

    ngx_memzero(jwt, sizeof(ngx_signal_jwt_t));

    if (token->len > NGX_SIGNAL_JWT_MAX_LENGTH) {
        *reason = "the token is longer than 8k";
        return NGX_DECLINED;
    }

    last = token->data + token->len;
    dot1 = ngx_strlchr(token->data, last, '.');
    dot2 = dot1 ? ngx_strlchr(dot1 + 1, last, '.') : NULL;

    if (dot2 == NULL || ngx_strlchr(dot2 + 1, last, '.')) {
        *reason = "malformed token: a JWT has three parts";
        return NGX_DECLINED;
    }

    rc = ngx_signal_jwt_decode(pool, token->data, dot1 - token->data, &json);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    header = (rc == NGX_OK) ? ngx_signal_jwt_parse(&json) : NULL;

    if (header == NULL) {
        *reason = "malformed token header";
        return NGX_DECLINED;
    }

    v = ngx_signal_jwt_get(header, "alg");

    if (!YAJL_IS_STRING(v)) {
        yajl_tree_free(header);
        *reason = "the token header has no alg";
        return NGX_DECLINED;
    }

    alg.data = (u_char *) v->u.string;
    alg.len = ngx_strlen(alg.data);

    if (ngx_signal_jwt_get(header, "crit")) {
        yajl_tree_free(header);
        *reason = "the token has critical header parameters";
        return NGX_DECLINED;
    }

    if (ngx_signal_jwt_alg(&alg, &type, &md, &bits) != NGX_OK) {
        yajl_tree_free(header);
        *reason = "the token's alg is not accepted (HS256/384/512, "
                  "RS256/384/512, ES256/384)";
        return NGX_DECLINED;
    }

    v = ngx_signal_jwt_get(header, "kid");

    kid.data = YAJL_IS_STRING(v) ? (u_char *) v->u.string : NULL;
    kid.len = kid.data ? ngx_strlen(kid.data) : 0;

    rc = ngx_signal_jwt_decode(pool, dot2 + 1, last - dot2 - 1, &sig);
    if (rc != NGX_OK) {
        yajl_tree_free(header);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        *reason = "malformed token signature";
        return NGX_DECLINED;
    }

    found = 0;
    verified = 0;
    key = jc->keys ? jc->keys->elts : NULL;

    /*
     * A kid that names a key selects that key alone; an unknown kid (or
     * none) may be verified by the keys without a kid.
     */

    by_kid = 0;

    for (i = 0; kid.len && key && i < jc->keys->nelts; i++) {
        if (key[i].kid.len == kid.len
            && ngx_strncmp(key[i].kid.data, kid.data, kid.len) == 0)
        {
            by_kid = 1;
        }
    }

    for (i = 0; key && i < jc->keys->nelts && !verified; i++) {

        /* a key is only used with the algorithms of its own type */

        if (key[i].type != type
            || (type == NGX_SIGNAL_JWT_EC && key[i].bits != bits))
        {
            continue;
        }

        if (by_kid
            ? (key[i].kid.len != kid.len
               || ngx_strncmp(key[i].kid.data, kid.data, kid.len) != 0)
            : (key[i].kid.len != 0 && kid.len != 0))
        {
            continue;
        }

        found = 1;

        rc = ngx_signal_jwt_check_key(r, pool, &key[i], md, token->data,
                                      dot2 - token->data, sig.data, sig.len);
        if (rc == NGX_ERROR) {
            yajl_tree_free(header);
            return NGX_ERROR;
        }

        verified = (rc == NGX_OK);
    }

    yajl_tree_free(header);

    if (!found) {
        *reason = "no key here verifies the token's alg or kid";
        return NGX_DECLINED;
    }

    if (!verified) {
        *reason = "the token's signature does not verify";
        return NGX_DECLINED;
    }

    rc = ngx_signal_jwt_decode(pool, dot1 + 1, dot2 - dot1 - 1, &json);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    claims = (rc == NGX_OK) ? ngx_signal_jwt_parse(&json) : NULL;

    if (claims == NULL) {
        *reason = "malformed token claims";
        return NGX_DECLINED;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        yajl_tree_free(claims);
        return NGX_ERROR;
    }

    cln->handler = ngx_signal_jwt_free;
    cln->data = claims;

    jwt->claims = claims;
    now = ngx_time();

    v = ngx_signal_jwt_get(claims, "exp");

    if (v) {
        if (ngx_signal_jwt_time(v, &t) != NGX_OK) {
            *reason = "the token's exp is not a number";
            return NGX_DECLINED;
        }

        if (now > t + jc->leeway) {
            *reason = "the token has expired";
            return NGX_DECLINED;
        }

        jwt->exp = t;
    }

    v = ngx_signal_jwt_get(claims, "nbf");

    if (v) {
        if (ngx_signal_jwt_time(v, &t) != NGX_OK) {
            *reason = "the token's nbf is not a number";
            return NGX_DECLINED;
        }

        if (now + jc->leeway < t) {
            *reason = "the token is not valid yet (nbf)";
            return NGX_DECLINED;
        }
    }

    if (jc->issuer.len) {
        v = ngx_signal_jwt_get(claims, "iss");

        if (!ngx_signal_jwt_str_eq(v, &jc->issuer)) {
            *reason = "the token's issuer (iss) is not accepted here";
            return NGX_DECLINED;
        }
    }

    if (jc->audience.len) {
        v = ngx_signal_jwt_get(claims, "aud");
        found = 0;

        for (i = 0; v && !found; i++) {

            if (YAJL_IS_ARRAY(v)) {
                if (i >= v->u.array.len) {
                    break;
                }

                a = v->u.array.values[i];

            } else {
                a = (i == 0) ? v : NULL;
            }

            if (ngx_signal_jwt_str_eq(a, &jc->audience)) {
                found = 1;
            }

            if (a == NULL) {
                break;
            }
        }

        if (!found) {
            *reason = "the token's audience (aud) is not this service";
            return NGX_DECLINED;
        }
    }

    v = ngx_signal_jwt_get(claims, "sub");

    if (YAJL_IS_STRING(v)) {
        jwt->sub.data = (u_char *) v->u.string;
        jwt->sub.len = ngx_strlen(jwt->sub.data);
    }

    return NGX_OK;
}


/* NULL, or what the token lacks of signal_jwt_require */

const char *
ngx_signal_jwt_check_required(ngx_signal_jwt_conf_t *jc, ngx_signal_jwt_t *jwt)
{
    ngx_str_t      value, path;
    ngx_uint_t     i;
    ngx_keyval_t  *kv;

    if (jc->require == NULL) {
        return NULL;
    }

    kv = jc->require->elts;

    for (i = 0; i < jc->require->nelts; i++) {
        path = kv[i].key;

        if (ngx_signal_jwt_claim(jwt->claims, &path, NULL, &value) != NGX_OK
            || value.len != kv[i].value.len
            || ngx_strncmp(value.data, kv[i].value.data, value.len) != 0)
        {
            return "the token lacks a claim this location requires";
        }
    }

    return NULL;
}


/*
 * The value of a claim by path: segments separated by "." (configuration)
 * or "__" (variable names).  nginx lowercases variable names, so a key
 * that differs only in case matches too ("startupid" finds "startupId").
 * Strings as they are, numbers as written, true/false; NGX_DECLINED for
 * absent, null, objects and arrays.
 */

ngx_int_t
ngx_signal_jwt_claim(yajl_val claims, ngx_str_t *path, ngx_pool_t *pool,
    ngx_str_t *value)
{
    u_char      *p, *last, *seg, *end;
    size_t       n, k;
    yajl_val     v, found;
    ngx_uint_t   i;

    v = claims;
    p = path->data;
    last = p + path->len;

    while (v && p < last) {
        seg = p;

        for (end = p; end < last; end++) {
            if (*end == '.' || (*end == '_' && end + 1 < last
                                && end[1] == '_'))
            {
                break;
            }
        }

        n = end - seg;
        p = (end < last) ? end + (*end == '.' ? 1 : 2) : last;

        if (!YAJL_IS_OBJECT(v) || n == 0) {
            return NGX_DECLINED;
        }

        found = NULL;

        for (i = 0; i < v->u.object.len; i++) {
            k = ngx_strlen(v->u.object.keys[i]);

            if (k != n) {
                continue;
            }

            if (ngx_strncmp(v->u.object.keys[i], seg, n) == 0) {
                found = v->u.object.values[i];
                break;
            }

            if (found == NULL
                && ngx_strncasecmp((u_char *) v->u.object.keys[i], seg, n)
                   == 0)
            {
                found = v->u.object.values[i];
            }
        }

        v = found;
    }

    if (YAJL_IS_STRING(v)) {
        p = (u_char *) v->u.string;

    } else if (YAJL_IS_NUMBER(v)) {
        p = (u_char *) v->u.number.r;

    } else if (YAJL_IS_TRUE(v)) {
        p = (u_char *) "true";

    } else if (YAJL_IS_FALSE(v)) {
        p = (u_char *) "false";

    } else {
        return NGX_DECLINED;
    }

    value->len = ngx_strlen(p);

    if (pool == NULL) {
        value->data = p;
        return NGX_OK;
    }

    value->data = ngx_pnalloc(pool, value->len);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(value->data, p, value->len);

    return NGX_OK;
}


/* $signal_claim_<path>: a claim of the connection's verified token */

ngx_int_t
ngx_signal_jwt_add_variables(ngx_conf_t *cf)
{
    ngx_str_t             name = ngx_string("signal_claim_");
    ngx_http_variable_t  *var;

    var = ngx_http_add_variable(cf, &name, NGX_HTTP_VAR_PREFIX
                                           |NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_signal_claim_variable;

    return NGX_OK;
}


static ngx_int_t
ngx_signal_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t             *name = (ngx_str_t *) data;

    ngx_str_t              path, value;
    ngx_signal_session_t  *s;

    s = ngx_http_get_module_ctx(r, ngx_signal_module);

    path.data = name->data + sizeof("signal_claim_") - 1;
    path.len = name->len - (sizeof("signal_claim_") - 1);

    if (s == NULL || s->jwt.claims == NULL
        || ngx_signal_jwt_claim(s->jwt.claims, &path, r->pool, &value)
           != NGX_OK)
    {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = value.data;
    v->len = value.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
