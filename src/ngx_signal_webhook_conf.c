
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The signal_webhook directives: a preset (airtable, github, stripe,
 * standard) or a generic hmac scheme, its secrets, and the rooms, event
 * and data a webhook maps to.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/evp.h>
#include "ngx_signal_directive.h"
#include "ngx_signal_webhook.h"


static ngx_int_t ngx_signal_webhook_template(ngx_conf_t *cf,
    ngx_command_t *cmd, ngx_str_t *value, ngx_signal_tpl_t *tpl);


void
ngx_signal_webhook_init_conf(ngx_signal_webhook_conf_t *conf)
{
    conf->secrets = NGX_CONF_UNSET_PTR;
    conf->rooms = NGX_CONF_UNSET_PTR;
    conf->event = NGX_CONF_UNSET_PTR;
    conf->tolerance = NGX_CONF_UNSET;
}


char *
ngx_signal_webhook_merge_conf(ngx_conf_t *cf, ngx_signal_webhook_conf_t *conf,
    ngx_signal_webhook_conf_t *prev)
{
    ngx_conf_merge_ptr_value(conf->secrets, prev->secrets, NULL);
    ngx_conf_merge_ptr_value(conf->rooms, prev->rooms, NULL);
    ngx_conf_merge_ptr_value(conf->event, prev->event, NULL);
    ngx_conf_merge_str_value(conf->data, prev->data, "");
    ngx_conf_merge_sec_value(conf->tolerance, prev->tolerance, 300);

    if (conf->preset
        && (conf->secrets == NULL || conf->rooms == NULL
            || conf->event == NULL))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "signal_webhook needs signal_webhook_secret, "
                           "signal_webhook_room and signal_webhook_event");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * signal_webhook airtable | github | stripe | standard
 *              | hmac header=NAME [prefix=TEXT] [digest=sha256|sha512]
 *                     [encoding=hex|base64];
 */

char *
ngx_signal_webhook_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_signal_loc_conf_t *slcf = conf;

    ngx_str_t                  *value;
    ngx_uint_t                  i;
    ngx_signal_webhook_conf_t  *wh;

    wh = &slcf->webhook;

    if (wh->preset) {
        return "is duplicate";
    }

    value = cf->args->elts;
    wh->md = EVP_sha256();

    if (ngx_strcmp(value[1].data, "airtable") == 0) {
        wh->preset = NGX_SIGNAL_WEBHOOK_AIRTABLE;
        ngx_str_set(&wh->header, "X-Airtable-Content-MAC");
        ngx_str_set(&wh->prefix, "hmac-sha256=");

    } else if (ngx_strcmp(value[1].data, "github") == 0) {
        wh->preset = NGX_SIGNAL_WEBHOOK_GITHUB;
        ngx_str_set(&wh->header, "X-Hub-Signature-256");
        ngx_str_set(&wh->prefix, "sha256=");

    } else if (ngx_strcmp(value[1].data, "stripe") == 0) {
        wh->preset = NGX_SIGNAL_WEBHOOK_STRIPE;

    } else if (ngx_strcmp(value[1].data, "standard") == 0) {
        wh->preset = NGX_SIGNAL_WEBHOOK_STANDARD;
        wh->base64 = 1;

    } else if (ngx_strcmp(value[1].data, "hmac") == 0) {
        wh->preset = NGX_SIGNAL_WEBHOOK_HMAC;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown webhook scheme \"%V\": use airtable, "
                           "github, stripe, standard or hmac", &value[1]);
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (wh->preset != NGX_SIGNAL_WEBHOOK_HMAC) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" only goes with the hmac scheme; the "
                               "%V preset fixes it", &value[i], &value[1]);
            return NGX_CONF_ERROR;
        }

        if (ngx_strncmp(value[i].data, "header=", 7) == 0
            && value[i].len > 7)
        {
            wh->header.data = value[i].data + 7;
            wh->header.len = value[i].len - 7;

        } else if (ngx_strncmp(value[i].data, "prefix=", 7) == 0) {
            wh->prefix.data = value[i].data + 7;
            wh->prefix.len = value[i].len - 7;

        } else if (ngx_strcmp(value[i].data, "digest=sha256") == 0) {
            wh->md = EVP_sha256();

        } else if (ngx_strcmp(value[i].data, "digest=sha512") == 0) {
            wh->md = EVP_sha512();

        } else if (ngx_strcmp(value[i].data, "encoding=hex") == 0) {
            wh->base64 = 0;

        } else if (ngx_strcmp(value[i].data, "encoding=base64") == 0) {
            wh->base64 = 1;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"%V\": use header=NAME, "
                               "prefix=TEXT, digest=sha256|sha512, "
                               "encoding=hex|base64", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    if (wh->preset == NGX_SIGNAL_WEBHOOK_HMAC && wh->header.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the hmac webhook scheme needs header=NAME");
        return NGX_CONF_ERROR;
    }

    return ngx_signal_directive_handler(cf, ngx_signal_webhook_handler);
}


/*
 * signal_webhook_room and signal_webhook_event: templates with
 * "{/json/pointer}" placeholders from the signed body.  A variable is
 * allowed but warned about: the signature does not cover it.
 */

static ngx_int_t
ngx_signal_webhook_template(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *value, ngx_signal_tpl_t *tpl)
{
    ngx_signal_tpl_part_t  *var;

    if (value->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" takes no empty "
                           "value", &cmd->name);
        return NGX_ERROR;
    }

    if (ngx_signal_tpl_compile(cf, value, NGX_SIGNAL_TPL_POINTERS, tpl)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    var = ngx_signal_tpl_first_variable(tpl);

    if (var) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"%V\" uses $%V, which the webhook signature "
                           "does not cover: a replayed delivery could be "
                           "published under another name; map from the "
                           "signed body with {/json/pointer} instead",
                           &cmd->name, &var->text);
    }

    return NGX_OK;
}


char *
ngx_signal_webhook_room(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_signal_loc_conf_t *slcf = conf;

    ngx_str_t         *value;
    ngx_uint_t         i;
    ngx_signal_tpl_t  *tpl;

    if (slcf->webhook.rooms != NGX_CONF_UNSET_PTR) {
        return "is duplicate; list every room in one directive";
    }

    slcf->webhook.rooms = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                           sizeof(ngx_signal_tpl_t));
    if (slcf->webhook.rooms == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        tpl = ngx_array_push(slcf->webhook.rooms);
        if (tpl == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_signal_webhook_template(cf, cmd, &value[i], tpl) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


char *
ngx_signal_webhook_event(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_signal_loc_conf_t *slcf = conf;

    ngx_str_t  *value;

    if (slcf->webhook.event != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    slcf->webhook.event = ngx_palloc(cf->pool, sizeof(ngx_signal_tpl_t));
    if (slcf->webhook.event == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_signal_webhook_template(cf, cmd, &value[1], slcf->webhook.event)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* signal_webhook_data /json/pointer; (the whole body without it) */

char *
ngx_signal_webhook_data(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_signal_loc_conf_t *slcf = conf;

    ngx_str_t  *value;

    if (slcf->webhook.data.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid JSON pointer \"%V\": it starts with "
                           "\"/\", e.g. /payload", &value[1]);
        return NGX_CONF_ERROR;
    }

    slcf->webhook.data = value[1];

    return NGX_CONF_OK;
}
