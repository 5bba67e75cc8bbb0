
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The handlers of the directives that make a location an endpoint
 * (signal_websocket, signal_notify, signal_status, signal_presence) and
 * of the room directives (signal_join, signal_allow_subscribe,
 * signal_user, signal_subprotocols) and signal_history.
 * ngx_signal_module.c lists them.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_directive.h"
#include "ngx_signal_envelope.h"
#include "ngx_signal_history_api.h"
#include "ngx_signal_native.h"
#include "ngx_signal_notify.h"
#include "ngx_signal_presence.h"
#include "ngx_signal_status.h"
#include "ngx_signal_ws_handshake.h"


/* the protocols signal_websocket knows; the first is the default */
static ngx_signal_protocol_t  *ngx_signal_protocols[] = {
    &ngx_signal_native_protocol,
    NULL
};


/* the content handler of a location; the http block needs the zone */

char *
ngx_signal_directive_handler(ngx_conf_t *cf, ngx_http_handler_pt handler)
{
    ngx_signal_main_conf_t  *smcf;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_signal_module);
    smcf->used = 1;

    return ngx_signal_conf_set_handler(cf, handler);
}


/* signal_websocket [protocol]; the protocols this version speaks */

char *
ngx_signal_directive_websocket(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_signal_loc_conf_t *slcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (slcf->protocol) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 0; ngx_signal_protocols[i]; i++) {
        if (cf->args->nelts == 1
            || (value[1].len == ngx_signal_protocols[i]->name.len
                && ngx_strncmp(value[1].data,
                               ngx_signal_protocols[i]->name.data,
                               value[1].len) == 0))
        {
            slcf->protocol = ngx_signal_protocols[i];
            break;
        }
    }

    if (slcf->protocol == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown protocol \"%V\" in "
                           "\"signal_websocket\"; this version "
                           "speaks \"native\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    return ngx_signal_directive_handler(cf, ngx_signal_ws_handshake_handler);
}


char *
ngx_signal_directive_notify(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_signal_loc_conf_t *slcf = conf;

    if (slcf->notify) {
        return "is duplicate";
    }

    slcf->notify = 1;

    return ngx_signal_directive_handler(cf, ngx_signal_notify_handler);
}


char *
ngx_signal_directive_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_signal_directive_handler(cf, ngx_signal_status_handler);
}


/* signal_presence [room]: without a room, the "room" query argument */

char *
ngx_signal_directive_presence(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_signal_loc_conf_t *slcf = conf;

    ngx_str_t                         *value;
    const char                        *err;

    if (slcf->presence) {
        return "is duplicate";
    }

    slcf->presence = 1;

    if (cf->args->nelts == 2) {
        value = cf->args->elts;

        if (ngx_http_script_variables_count(&value[1]) == 0) {
            err = ngx_signal_name_room(value[1].data, value[1].len,
                                        NGX_SIGNAL_MAX_NAME_LENGTH, 1);
            if (err) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid room \"%V\" in "
                                   "\"signal_presence\": it %s",
                                   &value[1], err);
                return NGX_CONF_ERROR;
            }
        }

        slcf->presence_room = ngx_palloc(cf->pool,
                                         sizeof(ngx_http_complex_value_t));
        if (slcf->presence_room == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_signal_conf_complex(cf, &value[1], slcf->presence_room)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return ngx_signal_directive_handler(cf, ngx_signal_presence_handler);
}


/*
 * signal_join and signal_allow_subscribe: room names or patterns that may
 * contain variables and claims, whose values are only ever literal text
 * inside a name (ngx_signal_ws_handshake.c checks them); names without
 * variables are checked here.
 */


char *
ngx_signal_directive_rooms(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t                         *value;
    ngx_uint_t                         i, allow;
    const char                        *err;
    ngx_array_t                      **rooms;
    ngx_signal_tpl_t                  *tpl;

    rooms = (ngx_array_t **) (p + cmd->offset);

    if (*rooms != NGX_CONF_UNSET_PTR) {
        return "is duplicate; list every room in one directive";
    }

    *rooms = ngx_array_create(cf->pool, cf->args->nelts - 1,
                              sizeof(ngx_signal_tpl_t));
    if (*rooms == NULL) {
        return NGX_CONF_ERROR;
    }

    allow = (cmd->offset == offsetof(ngx_signal_loc_conf_t,
                                     allow_subscribe));
    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        tpl = ngx_array_push(*rooms);
        if (tpl == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_signal_tpl_compile(cf, &value[i], NGX_SIGNAL_TPL_CLAIMS, tpl)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        if (tpl->nvars) {
            continue;
        }

        if (allow && value[i].len == 1 && value[i].data[0] == '*') {
            err = NULL;

        } else {
            err = ngx_signal_name_room(value[i].data, value[i].len,
                                        NGX_SIGNAL_MAX_NAME_LENGTH, 1);
        }

        if (err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid room \"%V\" in \"%V\": it %s",
                               &value[i], &cmd->name, err);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* signal_user value; (variables and claims give literal text) */

char *
ngx_signal_directive_user(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_signal_loc_conf_t *slcf = conf;

    ngx_str_t  *value;

    if (slcf->user != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    slcf->user = ngx_palloc(cf->pool, sizeof(ngx_signal_tpl_t));
    if (slcf->user == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_signal_tpl_compile(cf, &value[1], NGX_SIGNAL_TPL_CLAIMS,
                               slcf->user)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_signal_directive_subprotocols(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_signal_loc_conf_t *slcf = conf;

    ngx_str_t   *value, *name;
    ngx_uint_t   i, j;

    if (slcf->subprotocols) {
        return "is duplicate";
    }

    slcf->subprotocols = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                          sizeof(ngx_str_t));
    if (slcf->subprotocols == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        for (j = 0; j < value[i].len; j++) {
            if (value[i].data[j] <= ' ' || value[i].data[j] >= 0x7f
                || ngx_strchr("()<>@,;:\\\"/[]?={}", value[i].data[j]))
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid subprotocol \"%V\": it must be "
                                   "an HTTP token", &value[i]);
                return NGX_CONF_ERROR;
            }
        }

        name = ngx_array_push(slcf->subprotocols);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        *name = value[i];
    }

    return NGX_CONF_OK;
}




/*
 * signal_history <count> [<age>] | off: what a publishing location keeps
 * of each room it publishes to, for clients that come back.
 */

char *
ngx_signal_directive_history(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_signal_loc_conf_t *slcf = conf;

    time_t       age;
    ngx_int_t    count;
    ngx_str_t   *value;

    if (slcf->history != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        if (cf->args->nelts > 2) {
            return "takes no age with \"off\"";
        }

        slcf->history = 0;
        slcf->history_age = 0;
        return NGX_CONF_OK;
    }

    count = ngx_atoi(value[1].data, value[1].len);

    if (count < 1 || count > NGX_SIGNAL_HISTORY_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid event count \"%V\" in "
                           "\"signal_history\": use 1 to %d, or \"off\"",
                           &value[1], NGX_SIGNAL_HISTORY_MAX);
        return NGX_CONF_ERROR;
    }

    age = NGX_SIGNAL_HISTORY_DEFAULT_AGE;

    if (cf->args->nelts > 2) {
        age = ngx_parse_time(&value[2], 1);

        if (age == (time_t) NGX_ERROR || age < 1
            || age > NGX_SIGNAL_HISTORY_MAX_AGE)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid age \"%V\" in \"signal_history\": "
                               "use 1s to 7d (such as 5m)", &value[2]);
            return NGX_CONF_ERROR;
        }
    }

    slcf->history = count;
    slcf->history_age = age;

    return NGX_CONF_OK;
}


char *
ngx_signal_directive_history_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    return ngx_signal_directive_handler(cf, ngx_signal_history_api_handler);
}
