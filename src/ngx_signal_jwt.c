
/*
 * Copyright (C) ngx_signal_module authors
 *
 * JWT verification for WebSocket handshakes and refreshes (the token in a
 * request and the claims are ngx_signal_jwt_claim.c's).  Signatures are
 * checked with OpenSSL; a key is only ever used with the algorithms of
 * its own type, so an HS256 token can never be checked against an RSA
 * public key taken as a secret.  Signatures are compared in constant
 * time; secrets are never logged.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/ecdsa.h>
#include <openssl/crypto.h>
#include "ngx_signal_json.h"
#include "ngx_signal_common.h"


/* a token split and its header read, before the signature is checked */
typedef struct {
    ngx_str_t                   token;
    u_char                     *dot1;
    u_char                     *dot2;
    yajl_val                    header;
    ngx_uint_t                  type;
    ngx_uint_t                  bits;
    const EVP_MD               *md;
    ngx_str_t                   kid;
    ngx_str_t                   sig;
} ngx_signal_jwt_parsed_t;


static ngx_int_t ngx_signal_jwt_alg(ngx_str_t *alg, ngx_uint_t *type,
    const EVP_MD **md, ngx_uint_t *bits);
static ngx_int_t ngx_signal_jwt_check_key(ngx_http_request_t *r,
    ngx_pool_t *pool, ngx_signal_jwt_key_t *key, const EVP_MD *md,
    u_char *input, size_t len, u_char *sig, size_t siglen);
static ngx_int_t ngx_signal_jwt_decode(ngx_pool_t *pool, u_char *p,
    size_t len, ngx_str_t *out);
static ngx_int_t ngx_signal_jwt_header(ngx_pool_t *pool, ngx_str_t *token,
    ngx_signal_jwt_parsed_t *t, const char **reason);
static ngx_int_t ngx_signal_jwt_signature(ngx_http_request_t *r,
    ngx_signal_jwt_conf_t *jc, ngx_pool_t *pool, ngx_signal_jwt_parsed_t *t,
    const char **reason);
static ngx_int_t ngx_signal_jwt_claims(ngx_signal_jwt_conf_t *jc,
    ngx_signal_jwt_t *jwt, const char **reason);
static yajl_val ngx_signal_jwt_parse(ngx_str_t *json);
static yajl_val ngx_signal_jwt_get(yajl_val obj, const char *name);
static ngx_int_t ngx_signal_jwt_time(yajl_val v, time_t *t);
static ngx_uint_t ngx_signal_jwt_str_eq(yajl_val v, ngx_str_t *s);
static void ngx_signal_jwt_free(void *data);


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


/*
 * base64url as RFC 7515 has it: no padding, nothing but the alphabet, no
 * bits left over that are not zero; any other spelling of the same bytes
 * is refused, so a token has one form only.
 */

static ngx_int_t
ngx_signal_jwt_decode(ngx_pool_t *pool, u_char *p, size_t len, ngx_str_t *out)
{
    u_char     ch, last;
    size_t     i;
    ngx_str_t  src;

    if (len == 0 || len % 4 == 1) {
        return NGX_DECLINED;
    }

    last = 0;

    for (i = 0; i < len; i++) {
        ch = p[i];

        if (ch >= 'A' && ch <= 'Z') {
            last = ch - 'A';

        } else if (ch >= 'a' && ch <= 'z') {
            last = ch - 'a' + 26;

        } else if (ch >= '0' && ch <= '9') {
            last = ch - '0' + 52;

        } else if (ch == '-' || ch == '_') {
            last = (ch == '-') ? 62 : 63;

        } else {
            return NGX_DECLINED;
        }
    }

    if ((len % 4 == 2 && (last & 0x0f)) || (len % 4 == 3 && (last & 0x03))) {
        return NGX_DECLINED;
    }

    src.data = p;
    src.len = len;

    out->data = ngx_pnalloc(pool, ngx_base64_decoded_length(len) + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_decode_base64url(out, &src) != NGX_OK) {
        return NGX_DECLINED;
    }

    out->data[out->len] = '\0';

    return NGX_OK;
}


static yajl_val
ngx_signal_jwt_parse(ngx_str_t *json)
{
    yajl_val  v;

    /*
     * A NUL inside, raw or escaped: yajl's strings are C strings, so
     * "admin\u0000x" would compare equal to "admin"
     */

    if (ngx_strlen(json->data) != json->len
        || ngx_signal_json_has_nul(json->data, json->len))
    {
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


/*
 * NGX_OK with the claims in jwt (freed with pool), NGX_DECLINED with a
 * reason for the client (never a secret), NGX_ERROR.  In three stages:
 * the header and its algorithm, the signature with the keys the kid
 * selects, the claims.
 */

ngx_int_t
ngx_signal_jwt_verify(ngx_http_request_t *r, ngx_signal_jwt_conf_t *jc,
    ngx_str_t *token, ngx_pool_t *pool, ngx_signal_jwt_t *jwt,
    const char **reason)
{
    ngx_int_t                 rc;
    ngx_str_t                 json;
    yajl_val                  claims;
    ngx_pool_cleanup_t       *cln;
    ngx_signal_jwt_parsed_t   t;

    ngx_memzero(jwt, sizeof(ngx_signal_jwt_t));

    rc = ngx_signal_jwt_header(pool, token, &t, reason);

    if (rc == NGX_OK) {
        rc = ngx_signal_jwt_signature(r, jc, pool, &t, reason);
    }

    if (t.header) {
        yajl_tree_free(t.header);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_signal_jwt_decode(pool, t.dot1 + 1, t.dot2 - t.dot1 - 1, &json);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK && ngx_signal_json_has_nul(json.data, json.len)) {
        *reason = "the token's claims contain a NUL character";
        return NGX_DECLINED;
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

    rc = ngx_signal_jwt_claims(jc, jwt, reason);

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_signal_jwt_claim_digest(pool, claims, jwt->digest);
}


/* the three parts, the header parsed, its alg and kid */

static ngx_int_t
ngx_signal_jwt_header(ngx_pool_t *pool, ngx_str_t *token,
    ngx_signal_jwt_parsed_t *t, const char **reason)
{
    u_char     *last;
    yajl_val    v;
    ngx_int_t   rc;
    ngx_str_t   json, alg;

    ngx_memzero(t, sizeof(ngx_signal_jwt_parsed_t));

    if (token->len > NGX_SIGNAL_JWT_MAX_LENGTH) {
        *reason = "the token is longer than 8k";
        return NGX_DECLINED;
    }

    t->token = *token;
    last = token->data + token->len;
    t->dot1 = ngx_strlchr(token->data, last, '.');
    t->dot2 = t->dot1 ? ngx_strlchr(t->dot1 + 1, last, '.') : NULL;

    if (t->dot2 == NULL || ngx_strlchr(t->dot2 + 1, last, '.')) {
        *reason = "malformed token: a JWT has three parts";
        return NGX_DECLINED;
    }

    rc = ngx_signal_jwt_decode(pool, token->data, t->dot1 - token->data,
                               &json);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK && ngx_signal_json_has_nul(json.data, json.len)) {
        *reason = "the token's header contains a NUL character";
        return NGX_DECLINED;
    }

    t->header = (rc == NGX_OK) ? ngx_signal_jwt_parse(&json) : NULL;

    if (t->header == NULL) {
        *reason = "malformed token header";
        return NGX_DECLINED;
    }

    v = ngx_signal_jwt_get(t->header, "alg");

    if (!YAJL_IS_STRING(v)) {
        *reason = "the token header has no alg";
        return NGX_DECLINED;
    }

    alg.data = (u_char *) v->u.string;
    alg.len = ngx_strlen(alg.data);

    if (ngx_signal_jwt_get(t->header, "crit")) {
        *reason = "the token has critical header parameters";
        return NGX_DECLINED;
    }

    if (ngx_signal_jwt_alg(&alg, &t->type, &t->md, &t->bits) != NGX_OK) {
        *reason = "the token's alg is not accepted (HS256/384/512, "
                  "RS256/384/512, ES256/384)";
        return NGX_DECLINED;
    }

    v = ngx_signal_jwt_get(t->header, "kid");

    if (v && !YAJL_IS_STRING(v)) {
        *reason = "the token's kid is not a string";
        return NGX_DECLINED;
    }

    t->kid.data = v ? (u_char *) v->u.string : NULL;
    t->kid.len = v ? ngx_strlen(t->kid.data) : 0;

    rc = ngx_signal_jwt_decode(pool, t->dot2 + 1, last - t->dot2 - 1,
                               &t->sig);
    if (rc == NGX_DECLINED) {
        *reason = "malformed token signature";
    }

    return rc;
}


/*
 * A kid that names a key selects that key alone; without a kid, or with
 * one no key has, the keys configured without a kid are tried.  A key is
 * only ever used with the algorithms of its own type.
 */

static ngx_int_t
ngx_signal_jwt_signature(ngx_http_request_t *r, ngx_signal_jwt_conf_t *jc,
    ngx_pool_t *pool, ngx_signal_jwt_parsed_t *t, const char **reason)
{
    ngx_int_t              rc;
    ngx_uint_t             i, found, by_kid;
    ngx_signal_jwt_key_t  *key;

    key = jc->keys ? jc->keys->elts : NULL;
    by_kid = 0;

    for (i = 0; t->kid.len && key && i < jc->keys->nelts; i++) {
        if (key[i].kid.len == t->kid.len
            && ngx_strncmp(key[i].kid.data, t->kid.data, t->kid.len) == 0)
        {
            by_kid = 1;
        }
    }

    found = 0;

    for (i = 0; key && i < jc->keys->nelts; i++) {

        if (key[i].type != t->type
            || (t->type == NGX_SIGNAL_JWT_EC && key[i].bits != t->bits))
        {
            continue;
        }

        if (by_kid
            ? (key[i].kid.len != t->kid.len
               || ngx_strncmp(key[i].kid.data, t->kid.data, t->kid.len) != 0)
            : (key[i].kid.len != 0))
        {
            continue;
        }

        found = 1;

        rc = ngx_signal_jwt_check_key(r, pool, &key[i], t->md,
                                      t->token.data,
                                      t->dot2 - t->token.data, t->sig.data,
                                      t->sig.len);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    *reason = found ? "the token's signature does not verify"
                    : "no key here verifies the token's alg or kid";

    return NGX_DECLINED;
}


/* the registered claims: exp, nbf, iss, aud; sub kept */

static ngx_int_t
ngx_signal_jwt_claims(ngx_signal_jwt_conf_t *jc, ngx_signal_jwt_t *jwt,
    const char **reason)
{
    time_t      t, now;
    yajl_val    v, a;
    ngx_uint_t  i, found;

    now = ngx_time();

    v = ngx_signal_jwt_get(jwt->claims, "exp");

    if (v == NULL && jc->require_exp) {
        *reason = "the token has no exp (signal_jwt_require_exp)";
        return NGX_DECLINED;
    }

    if (v) {
        if (ngx_signal_jwt_time(v, &t) != NGX_OK) {
            *reason = "the token's exp is not a number";
            return NGX_DECLINED;
        }

        if (now >= t + jc->leeway) {
            *reason = "the token has expired";
            return NGX_DECLINED;
        }

        jwt->exp = t;
    }

    v = ngx_signal_jwt_get(jwt->claims, "nbf");

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

    if (jc->issuer.len
        && !ngx_signal_jwt_str_eq(ngx_signal_jwt_get(jwt->claims, "iss"),
                                  &jc->issuer))
    {
        *reason = "the token's issuer (iss) is not accepted here";
        return NGX_DECLINED;
    }

    if (jc->audience.len) {
        v = ngx_signal_jwt_get(jwt->claims, "aud");
        found = ngx_signal_jwt_str_eq(v, &jc->audience);

        for (i = 0; !found && YAJL_IS_ARRAY(v) && i < v->u.array.len; i++) {
            a = v->u.array.values[i];
            found = ngx_signal_jwt_str_eq(a, &jc->audience);
        }

        if (!found) {
            *reason = "the token's audience (aud) is not this service";
            return NGX_DECLINED;
        }
    }

    v = ngx_signal_jwt_get(jwt->claims, "sub");

    if (YAJL_IS_STRING(v)) {
        jwt->sub.data = (u_char *) v->u.string;
        jwt->sub.len = ngx_strlen(jwt->sub.data);
    }

    return NGX_OK;
}
