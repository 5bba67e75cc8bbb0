
/*
 * Copyright (C) ngx_signal_module authors
 *
 * What is read of a token and its claims: where a handshake carries its
 * token, the claims signal_jwt_require asks for, a claim by path (exact
 * names), and the $signal_claim_ variables.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/evp.h>
#include "ngx_signal_jwt.h"
#include "ngx_signal_http.h"
#include "ngx_signal_session.h"


static ngx_int_t ngx_signal_jwt_claim_digest_value(ngx_pool_t *pool,
    EVP_MD_CTX *ctx, yajl_val v, ngx_uint_t top);
static ngx_int_t ngx_signal_jwt_claim_variable(ngx_http_request_t *r,
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
 * or "__" (variable names).  Claim names match exactly: JWT claim names
 * are case-sensitive (nginx lowercases the names of variables, so
 * $signal_claim_x outside the module's directives finds only lowercase
 * claims).  Strings as they are, numbers as written, true/false;
 * NGX_DECLINED for absent, null, objects and arrays.
 */

ngx_int_t
ngx_signal_jwt_claim(yajl_val claims, ngx_str_t *path, ngx_pool_t *pool,
    ngx_str_t *value)
{
    u_char      *p, *last, *seg, *end;
    size_t       n;
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
            if (ngx_strlen(v->u.object.keys[i]) == n
                && ngx_strncmp(v->u.object.keys[i], seg, n) == 0)
            {
                found = v->u.object.values[i];
                break;
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

    var->get_handler = ngx_signal_jwt_claim_variable;

    return NGX_OK;
}


static ngx_int_t
ngx_signal_jwt_claim_variable(ngx_http_request_t *r,
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


/*
 * A digest of the claims that may grant something: all but exp, iat,
 * nbf and jti, whatever the order of keys.  A refresh must carry the
 * same.
 */

ngx_int_t
ngx_signal_jwt_claim_digest(ngx_pool_t *pool, yajl_val claims, u_char *digest)
{
    ngx_int_t    rc;
    EVP_MD_CTX  *ctx;

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    rc = (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1
          && ngx_signal_jwt_claim_digest_value(pool, ctx, claims, 1) == NGX_OK
          && EVP_DigestFinal_ex(ctx, digest, NULL) == 1)
         ? NGX_OK : NGX_ERROR;

    EVP_MD_CTX_free(ctx);

    return rc;
}


static ngx_int_t
ngx_signal_jwt_claim_digest_value(ngx_pool_t *pool, EVP_MD_CTX *ctx, yajl_val v,
    ngx_uint_t top)
{
    size_t        i, j, n, len;
    ngx_uint_t   *order, k;
    const char   *key, *text;

    if (YAJL_IS_OBJECT(v)) {
        n = v->u.object.len;

        order = ngx_palloc(pool, (n + 1) * sizeof(ngx_uint_t));
        if (order == NULL) {
            return NGX_ERROR;
        }

        /* insertion sort of the keys: claims are a handful */

        for (i = 0; i < n; i++) {
            for (j = i; j > 0; j--) {
                if (ngx_strcmp(v->u.object.keys[order[j - 1]],
                               v->u.object.keys[i]) <= 0)
                {
                    break;
                }

                order[j] = order[j - 1];
            }

            order[j] = i;
        }

        if (EVP_DigestUpdate(ctx, "{", 1) != 1) {
            return NGX_ERROR;
        }

        for (i = 0; i < n; i++) {
            k = order[i];
            key = v->u.object.keys[k];

            if (top && (ngx_strcmp(key, "exp") == 0
                        || ngx_strcmp(key, "iat") == 0
                        || ngx_strcmp(key, "nbf") == 0
                        || ngx_strcmp(key, "jti") == 0))
            {
                continue;
            }

            len = ngx_strlen(key);

            if (EVP_DigestUpdate(ctx, &len, sizeof(size_t)) != 1
                || EVP_DigestUpdate(ctx, key, len) != 1
                || ngx_signal_jwt_claim_digest_value(pool, ctx,
                                               v->u.object.values[k], 0)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        return (EVP_DigestUpdate(ctx, "}", 1) == 1) ? NGX_OK : NGX_ERROR;
    }

    if (YAJL_IS_ARRAY(v)) {
        if (EVP_DigestUpdate(ctx, "[", 1) != 1) {
            return NGX_ERROR;
        }

        for (i = 0; i < v->u.array.len; i++) {
            if (ngx_signal_jwt_claim_digest_value(pool, ctx,
                                                  v->u.array.values[i], 0)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        return (EVP_DigestUpdate(ctx, "]", 1) == 1) ? NGX_OK : NGX_ERROR;
    }

    if (YAJL_IS_STRING(v)) {
        text = v->u.string;
        key = "s";

    } else if (YAJL_IS_NUMBER(v)) {
        text = v->u.number.r;
        key = "n";

    } else {
        text = YAJL_IS_TRUE(v) ? "t" : YAJL_IS_FALSE(v) ? "f" : "z";
        key = "c";
    }

    len = ngx_strlen(text);

    return (EVP_DigestUpdate(ctx, key, 1) == 1
            && EVP_DigestUpdate(ctx, &len, sizeof(size_t)) == 1
            && EVP_DigestUpdate(ctx, text, len) == 1)
           ? NGX_OK : NGX_ERROR;
}
