
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Signed webhooks: the location and its directives, and what the
 * signature schemes (ngx_signal_webhook_verify.c) hand to the handler and
 * mapping (ngx_signal_webhook.c).
 */


#ifndef _NGX_SIGNAL_WEBHOOK_H_INCLUDED_
#define _NGX_SIGNAL_WEBHOOK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_common.h"


#define NGX_SIGNAL_WEBHOOK_MAX_SIGS   8
#define NGX_SIGNAL_WEBHOOK_MAX_PARTS  5

/* a dedup key: a digest of the location's scope and the delivery, hex */
#define NGX_SIGNAL_WEBHOOK_KEY_LEN    32


typedef struct {
    u_char                     *data;
    size_t                      len;
} ngx_signal_webhook_part_t;


/* a verified delivery */
typedef struct {
    /* what the scheme signs, in order; the body is the last part */
    ngx_signal_webhook_part_t   parts[NGX_SIGNAL_WEBHOOK_MAX_PARTS];
    ngx_uint_t                  nparts;
    ngx_str_t                   sigs[NGX_SIGNAL_WEBHOOK_MAX_SIGS];
    ngx_uint_t                  nsigs;

    time_t                      ts;        /* signed; 0: the scheme has none */
    ngx_str_t                   id;        /* signed id (standard) */
    ngx_str_t                   mac;       /* the signature that matched */
    u_char                      scope[32]; /* location and secret set */
} ngx_signal_webhook_delivery_t;


ngx_int_t ngx_signal_webhook_handler(ngx_http_request_t *r);

char *ngx_signal_webhook_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_signal_webhook_room(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_signal_webhook_event(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_signal_webhook_data(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_signal_webhook_init_conf(ngx_signal_webhook_conf_t *conf);
char *ngx_signal_webhook_merge_conf(ngx_conf_t *cf,
    ngx_signal_webhook_conf_t *conf, ngx_signal_webhook_conf_t *prev);

ngx_int_t ngx_signal_webhook_verify(ngx_http_request_t *r,
    ngx_signal_webhook_conf_t *wh, ngx_str_t *body,
    ngx_signal_webhook_delivery_t *dl);
ngx_int_t ngx_signal_webhook_verify_key(ngx_http_request_t *r,
    ngx_signal_webhook_delivery_t *dl, ngx_str_t *id, ngx_str_t *key);


#endif /* _NGX_SIGNAL_WEBHOOK_H_INCLUDED_ */
