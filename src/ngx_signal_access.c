
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Access checks that are not tokens: the shared secret of the API
 * locations (signal_api_secret, compared in constant time) and the origin
 * list of WebSocket handshakes (signal_allow_origin).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include "ngx_signal.h"


/*
 * signal_api_secret: "Authorization: Bearer <secret>" against every
 * configured secret, in constant time (digests of equal length).  NGX_OK,
 * or the 401 is sent and *rc is what the handler returns.
 */

ngx_int_t
ngx_signal_secret_check(ngx_http_request_t *r, ngx_array_t *secrets,
    ngx_int_t *rc)
{
    u_char                     given[32], expected[32];
    ngx_str_t                  token, secret;
    ngx_uint_t                 i, ok;
    unsigned int               len;
    ngx_http_complex_value_t  *cv;

    if (r->headers_in.authorization == NULL
        || r->headers_in.authorization->value.len <= 7
        || ngx_strncasecmp(r->headers_in.authorization->value.data,
                           (u_char *) "Bearer ", 7) != 0)
    {
        goto refused;
    }

    token.data = r->headers_in.authorization->value.data + 7;
    token.len = r->headers_in.authorization->value.len - 7;

    if (EVP_Digest(token.data, token.len, given, &len, EVP_sha256(), NULL)
        != 1)
    {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    cv = secrets->elts;
    ok = 0;

    for (i = 0; i < secrets->nelts; i++) {
        if (ngx_http_complex_value(r, &cv[i], &secret) != NGX_OK) {
            *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_ERROR;
        }

        if (secret.len == 0
            || EVP_Digest(secret.data, secret.len, expected, &len,
                          EVP_sha256(), NULL) != 1)
        {
            continue;
        }

        ok |= (CRYPTO_memcmp(given, expected, sizeof(given)) == 0);
    }

    if (ok) {
        return NGX_OK;
    }

refused:

    if (ngx_signal_http_add_header(r, "WWW-Authenticate",
                                   (u_char *) "Bearer", 6)
        != NGX_OK)
    {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    *rc = ngx_signal_http_error(r, NGX_HTTP_UNAUTHORIZED, "unauthorized",
                                "send \"Authorization: Bearer <secret>\" "
                                "with the secret of signal_api_secret");

    return NGX_DECLINED;
}


/*
 * signal_allow_origin: "https://app.example.com" exactly, or a pattern
 * whose first host label is "*" for any subdomain (lowercased at
 * configuration).
 */

ngx_uint_t
ngx_signal_origin_allowed(ngx_array_t *origins, ngx_str_t *origin)
{
    u_char      *star, *mid;
    size_t       prefix, suffix;
    ngx_str_t   *o;
    ngx_uint_t   i;

    o = origins->elts;

    for (i = 0; i < origins->nelts; i++) {

        star = ngx_strlchr(o[i].data, o[i].data + o[i].len, '*');

        if (star == NULL) {
            if (o[i].len == origin->len
                && ngx_strncasecmp(o[i].data, origin->data, origin->len)
                   == 0)
            {
                return 1;
            }

            continue;
        }

        /* "scheme://" + "*" + ".domain[:port]" */

        prefix = star - o[i].data;
        suffix = o[i].len - prefix - 1;

        if (origin->len <= prefix + suffix
            || ngx_strncasecmp(origin->data, o[i].data, prefix) != 0
            || ngx_strncasecmp(origin->data + origin->len - suffix,
                               star + 1, suffix) != 0)
        {
            continue;
        }

        for (mid = origin->data + prefix;
             mid < origin->data + origin->len - suffix;
             mid++)
        {
            if (*mid == '/' || *mid == ':' || *mid == '@') {
                break;
            }
        }

        if (mid == origin->data + origin->len - suffix) {
            return 1;
        }
    }

    return 0;
}
