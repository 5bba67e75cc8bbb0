
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Access checks that are not tokens, with their directives: the shared
 * secret of the API locations (signal_api_secret, compared in constant
 * time) and the origin list of WebSocket handshakes (signal_allow_origin).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include "ngx_signal_common.h"
#include "ngx_signal_access.h"
#include "ngx_signal_http.h"


/*
 * signal_api_secret: "Authorization: Bearer <secret>" against every
 * configured secret, in constant time (digests of equal length).  NGX_OK,
 * or the 401 is sent and *rc is what the handler returns.
 */

ngx_int_t
ngx_signal_access_secret_check(ngx_http_request_t *r, ngx_array_t *secrets,
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
ngx_signal_access_origin_allowed(ngx_array_t *origins, ngx_str_t *origin)
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


/*
 * signal_api_secret secret [next-secret]; (variables allowed, or
 * file=/path)
 */

char *
ngx_signal_access_api_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_signal_loc_conf_t *slcf = conf;

    ngx_int_t                          rc;
    ngx_str_t                         *value, secret;
    ngx_uint_t                         i;
    ngx_http_complex_value_t          *cv;

    if (slcf->api_secrets != NGX_CONF_UNSET_PTR) {
        return "is duplicate; list every accepted secret in one directive";
    }

    slcf->api_secrets = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                         sizeof(ngx_http_complex_value_t));
    if (slcf->api_secrets == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        secret = value[i];

        rc = ngx_signal_conf_read_secret(cf, &secret, 4096);

        if (rc == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        if ((rc == NGX_DONE || ngx_http_script_variables_count(&secret) == 0)
            && secret.len < 16)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "a signal_api_secret of %uz bytes is too "
                               "easy to guess; use at least 16 random bytes",
                               secret.len);
            return NGX_CONF_ERROR;
        }

        cv = ngx_array_push(slcf->api_secrets);
        if (cv == NULL) {
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_DONE) {
            /* a file's content is the secret, "$" included */
            ngx_memzero(cv, sizeof(ngx_http_complex_value_t));
            cv->value = secret;

        } else if (ngx_signal_conf_complex(cf, &secret, cv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* signal_allow_origin: exact origins, or "*." as the first host label */

char *
ngx_signal_access_allow_origin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_signal_loc_conf_t *slcf = conf;

    u_char      *star, *host;
    ngx_str_t   *value, *o;
    ngx_uint_t   i;

    if (slcf->allow_origin != NGX_CONF_UNSET_PTR) {
        return "is duplicate; list every origin in one directive";
    }

    slcf->allow_origin = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                          sizeof(ngx_str_t));
    if (slcf->allow_origin == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        host = (u_char *) ngx_strstr(value[i].data, "://");
        star = (u_char *) ngx_strchr(value[i].data, '*');

        if (host == NULL || host == value[i].data
            || value[i].data[value[i].len - 1] == '/'
            || (star && (star != host + 3 || star[1] != '.'
                         || ngx_strchr(star + 1, '*'))))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid origin \"%V\": use "
                               "scheme://host[:port], optionally with \"*.\" "
                               "as the first label, e.g. "
                               "https://*.example.com", &value[i]);
            return NGX_CONF_ERROR;
        }

        o = ngx_array_push(slcf->allow_origin);
        if (o == NULL) {
            return NGX_CONF_ERROR;
        }

        o->len = value[i].len;
        o->data = ngx_pnalloc(cf->pool, o->len);
        if (o->data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_strlow(o->data, value[i].data, o->len);
    }

    return NGX_CONF_OK;
}
