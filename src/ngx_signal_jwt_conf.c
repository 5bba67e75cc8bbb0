
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The JWT directives: secrets and public keys (checked when the
 * configuration is loaded: key types, sizes, secret lengths), token
 * sources, required claims.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "ngx_signal_common.h"


static void ngx_signal_jwt_free_key(void *data);


void
ngx_signal_jwt_init_conf(ngx_signal_jwt_conf_t *conf)
{
    conf->keys = NGX_CONF_UNSET_PTR;
    conf->leeway = NGX_CONF_UNSET;
    conf->require = NGX_CONF_UNSET_PTR;
    conf->require_exp = NGX_CONF_UNSET;
}


void
ngx_signal_jwt_merge_conf(ngx_signal_jwt_conf_t *conf,
    ngx_signal_jwt_conf_t *prev)
{
    ngx_conf_merge_ptr_value(conf->keys, prev->keys, NULL);
    ngx_conf_merge_ptr_value(conf->require, prev->require, NULL);
    ngx_conf_merge_sec_value(conf->leeway, prev->leeway, 30);
    ngx_conf_merge_value(conf->require_exp, prev->require_exp, 0);
    ngx_conf_merge_str_value(conf->issuer, prev->issuer, "");
    ngx_conf_merge_str_value(conf->audience, prev->audience, "");

    if (conf->sources == 0) {
        conf->sources = prev->sources;
        conf->query = prev->query;
        conf->cookie = prev->cookie;
    }

    if (conf->sources == 0) {
        conf->sources = NGX_SIGNAL_JWT_HEADER|NGX_SIGNAL_JWT_SUBPROTOCOL;
    }
}


static ngx_signal_jwt_key_t *
ngx_signal_jwt_new_key(ngx_conf_t *cf, ngx_signal_jwt_conf_t *jc,
    ngx_str_t **value, ngx_uint_t *n)
{
    ngx_str_t             *v;
    ngx_signal_jwt_key_t  *key;

    if (jc->keys == NGX_CONF_UNSET_PTR) {
        jc->keys = ngx_array_create(cf->pool, 2, sizeof(ngx_signal_jwt_key_t));
        if (jc->keys == NULL) {
            return NULL;
        }
    }

    key = ngx_array_push(jc->keys);
    if (key == NULL) {
        return NULL;
    }

    ngx_memzero(key, sizeof(ngx_signal_jwt_key_t));

    v = *value;

    if (*n == 3 && v[1].len > 4 && ngx_strncmp(v[1].data, "kid=", 4) == 0) {
        key->kid.data = v[1].data + 4;
        key->kid.len = v[1].len - 4;
        *value = &v[1];
    }

    return key;
}


/* signal_jwt_secret [kid=ID] secret | file=/path | $variable; */

char *
ngx_signal_jwt_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_signal_jwt_conf_t  *jc = (ngx_signal_jwt_conf_t *)
                                     ((u_char *) conf + cmd->offset);

    ngx_int_t                          rc;
    ngx_str_t                         *value, secret;
    ngx_uint_t                         n;
    ngx_signal_jwt_key_t              *key;

    value = cf->args->elts;
    n = cf->args->nelts;

    key = ngx_signal_jwt_new_key(cf, jc, &value, &n);
    if (key == NULL) {
        return NGX_CONF_ERROR;
    }

    key->type = NGX_SIGNAL_JWT_HMAC;
    secret = value[1];

    rc = ngx_signal_conf_read_secret(cf, &secret, 4096);

    if (rc == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    if ((rc == NGX_DONE || ngx_http_script_variables_count(&secret) == 0)
        && secret.len < NGX_SIGNAL_JWT_MIN_SECRET)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the JWT secret is %uz bytes; use at least %d "
                           "random bytes", secret.len,
                           NGX_SIGNAL_JWT_MIN_SECRET);
        return NGX_CONF_ERROR;
    }

    key->secret = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (key->secret == NULL) {
        return NGX_CONF_ERROR;
    }

    if (rc == NGX_DONE) {
        /* a file's content is the secret, "$" included */
        ngx_memzero(key->secret, sizeof(ngx_http_complex_value_t));
        key->secret->value = secret;

    } else if (ngx_signal_conf_complex(cf, &secret, key->secret) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* signal_jwt_key [kid=ID] /path/to/public.pem; (RSA or EC P-256/P-384) */

char *
ngx_signal_jwt_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_signal_jwt_conf_t  *jc = (ngx_signal_jwt_conf_t *)
                                     ((u_char *) conf + cmd->offset);

    BIO                   *bio;
    EVP_PKEY              *pkey;
    ngx_str_t             *value, name;
    ngx_uint_t             n;
    ngx_pool_cleanup_t    *cln;
    ngx_signal_jwt_key_t  *key;

    value = cf->args->elts;
    n = cf->args->nelts;

    key = ngx_signal_jwt_new_key(cf, jc, &value, &n);
    if (key == NULL) {
        return NGX_CONF_ERROR;
    }

    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    bio = BIO_new_file((char *) name.data, "r");
    if (bio == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot open the JWT public key \"%V\"; put the "
                           "PEM public key of your token issuer there",
                           &name);
        return NGX_CONF_ERROR;
    }

    pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);

    if (pkey == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is not a PEM public key "
                           "(\"-----BEGIN PUBLIC KEY-----\")", &name);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        EVP_PKEY_free(pkey);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_signal_jwt_free_key;
    cln->data = pkey;

    key->pkey = pkey;

    switch (EVP_PKEY_base_id(pkey)) {

    case EVP_PKEY_RSA:
        if (EVP_PKEY_bits(pkey) < 2048) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the RSA key \"%V\" has %d bits; use at "
                               "least 2048", &name, EVP_PKEY_bits(pkey));
            return NGX_CONF_ERROR;
        }

        key->type = NGX_SIGNAL_JWT_RSA;
        break;

    case EVP_PKEY_EC:
        key->bits = EVP_PKEY_bits(pkey);

        if (key->bits != 256 && key->bits != 384) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the EC key \"%V\" is not P-256 or P-384 "
                               "(ES256, ES384)", &name);
            return NGX_CONF_ERROR;
        }

        key->type = NGX_SIGNAL_JWT_EC;
        break;

    default:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the key \"%V\" is neither RSA nor EC", &name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void
ngx_signal_jwt_free_key(void *data)
{
    EVP_PKEY_free(data);
}


/* signal_jwt_token header | query=NAME | cookie=NAME | subprotocol ...; */

char *
ngx_signal_jwt_token(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_signal_jwt_conf_t  *jc = (ngx_signal_jwt_conf_t *)
                                     ((u_char *) conf + cmd->offset);

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (jc->sources) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "header") == 0) {
            jc->sources |= NGX_SIGNAL_JWT_HEADER;

        } else if (ngx_strcmp(value[i].data, "subprotocol") == 0) {
            jc->sources |= NGX_SIGNAL_JWT_SUBPROTOCOL;

        } else if (value[i].len > 6
                   && ngx_strncmp(value[i].data, "query=", 6) == 0)
        {
            jc->sources |= NGX_SIGNAL_JWT_QUERY;
            jc->query.data = value[i].data + 6;
            jc->query.len = value[i].len - 6;

        } else if (value[i].len > 7
                   && ngx_strncmp(value[i].data, "cookie=", 7) == 0)
        {
            jc->sources |= NGX_SIGNAL_JWT_COOKIE;
            jc->cookie.data = value[i].data + 7;
            jc->cookie.len = value[i].len - 7;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid token source \"%V\": use header, "
                               "query=NAME, cookie=NAME or subprotocol",
                               &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* signal_jwt_require claim=value ...; (claim: a path, "org.role") */

char *
ngx_signal_jwt_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_signal_jwt_conf_t  *jc = (ngx_signal_jwt_conf_t *)
                                     ((u_char *) conf + cmd->offset);

    u_char        *eq;
    ngx_str_t     *value;
    ngx_uint_t     i;
    ngx_keyval_t  *kv;

    if (jc->require != NGX_CONF_UNSET_PTR) {
        return "is duplicate; list every claim in one directive";
    }

    jc->require = ngx_array_create(cf->pool, cf->args->nelts,
                                   sizeof(ngx_keyval_t));
    if (jc->require == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        eq = (u_char *) ngx_strchr(value[i].data, '=');

        if (eq == NULL || eq == value[i].data) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"%V\": use claim=value, e.g. "
                               "role=admin", &value[i]);
            return NGX_CONF_ERROR;
        }

        kv = ngx_array_push(jc->require);
        if (kv == NULL) {
            return NGX_CONF_ERROR;
        }

        kv->key.data = value[i].data;
        kv->key.len = eq - value[i].data;
        kv->value.data = eq + 1;
        kv->value.len = value[i].data + value[i].len - eq - 1;
    }

    return NGX_CONF_OK;
}
