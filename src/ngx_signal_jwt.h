
/*
 * Copyright (C) ngx_signal_module authors
 *
 * JWT verification (RFC 7519 / 7515) with OpenSSL: HS256/384/512 secrets,
 * RS256/384/512 and ES256/384 public keys, chosen by "kid" or by type.
 */


#ifndef _NGX_SIGNAL_JWT_H_INCLUDED_
#define _NGX_SIGNAL_JWT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <yajl/yajl_tree.h>


/* a token longer than this is refused before anything is decoded */
#define NGX_SIGNAL_JWT_MAX_LENGTH   8192

/* where a WebSocket handshake may carry its token */
#define NGX_SIGNAL_JWT_HEADER       0x01
#define NGX_SIGNAL_JWT_QUERY        0x02
#define NGX_SIGNAL_JWT_COOKIE       0x04
#define NGX_SIGNAL_JWT_SUBPROTOCOL  0x08

/* key types */
#define NGX_SIGNAL_JWT_HMAC         1
#define NGX_SIGNAL_JWT_RSA          2
#define NGX_SIGNAL_JWT_EC           3

/* shorter HMAC secrets are refused (RFC 7518: at least the hash size) */
#define NGX_SIGNAL_JWT_MIN_SECRET   32

/* the prefix of a subprotocol value that carries a token */
#define NGX_SIGNAL_JWT_PROTOCOL     "bearer."


typedef struct {
    ngx_str_t                   kid;          /* empty: any kid */
    ngx_uint_t                  type;         /* NGX_SIGNAL_JWT_HMAC, ... */
    ngx_uint_t                  bits;         /* EC: 256 or 384 */
    void                       *pkey;         /* EVP_PKEY */
    ngx_http_complex_value_t   *secret;       /* HMAC */
} ngx_signal_jwt_key_t;


typedef struct {
    ngx_array_t                *keys;         /* ngx_signal_jwt_key_t */
    ngx_uint_t                  sources;
    ngx_str_t                   query;
    ngx_str_t                   cookie;
    time_t                      leeway;
    ngx_str_t                   issuer;
    ngx_str_t                   audience;
    ngx_array_t                *require;      /* ngx_keyval_t, path=value */
    ngx_flag_t                  require_exp;
} ngx_signal_jwt_conf_t;


/* a verified token */
typedef struct {
    yajl_val                    claims;
    time_t                      exp;          /* 0: none */
    ngx_str_t                   sub;
    u_char                      digest[32];   /* of the granting claims */
} ngx_signal_jwt_t;


char *ngx_signal_jwt_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_signal_jwt_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_signal_jwt_token(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_signal_jwt_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
void ngx_signal_jwt_init_conf(ngx_signal_jwt_conf_t *conf);
void ngx_signal_jwt_merge_conf(ngx_signal_jwt_conf_t *conf,
    ngx_signal_jwt_conf_t *prev);

ngx_int_t ngx_signal_jwt_find(ngx_http_request_t *r,
    ngx_signal_jwt_conf_t *jc, ngx_str_t *token);
ngx_uint_t ngx_signal_jwt_needs_request(ngx_signal_jwt_conf_t *jc);
ngx_int_t ngx_signal_jwt_verify(ngx_http_request_t *r,
    ngx_signal_jwt_conf_t *jc, ngx_str_t *token, ngx_pool_t *pool,
    ngx_signal_jwt_t *jwt, const char **reason);
const char *ngx_signal_jwt_check_required(ngx_signal_jwt_conf_t *jc,
    ngx_signal_jwt_t *jwt);
ngx_int_t ngx_signal_jwt_claim(yajl_val claims, ngx_str_t *path,
    ngx_pool_t *pool, ngx_str_t *value);
ngx_int_t ngx_signal_jwt_claim_digest(ngx_pool_t *pool, yajl_val claims,
    u_char *digest);
ngx_int_t ngx_signal_jwt_add_variables(ngx_conf_t *cf);


#endif /* _NGX_SIGNAL_JWT_H_INCLUDED_ */
