
/*
 * Copyright (C) ngx_signal_module authors
 *
 * ngx_signal_module: WebSocket rooms, notify and webhooks inside nginx.
 * This file holds the module tables, configuration and process hooks;
 * the building blocks live in src/.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_common.h"
#include "ngx_signal_directive.h"
#include "ngx_signal_engine.h"
#include "ngx_signal_access.h"
#include "ngx_signal_rooms.h"
#include "ngx_signal_zone.h"
#include "ngx_signal_webhook.h"
#include "ngx_signal_redis_conf.h"


static void *ngx_signal_create_main_conf(ngx_conf_t *cf);
static char *ngx_signal_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_signal_create_loc_conf(ngx_conf_t *cf);
static char *ngx_signal_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_signal_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_signal_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_signal_init_process(ngx_cycle_t *cycle);
static void ngx_signal_exit_process(ngx_cycle_t *cycle);


static ngx_conf_num_bounds_t  ngx_signal_max_rooms_bounds = {
    ngx_conf_check_num_bounds, 1, 100000
};

static ngx_conf_num_bounds_t  ngx_signal_max_name_bounds = {
    ngx_conf_check_num_bounds, 8, NGX_SIGNAL_MAX_NAME_LENGTH
};

static ngx_conf_num_bounds_t  ngx_signal_notify_events_bounds = {
    ngx_conf_check_num_bounds, 1, 100000
};

static ngx_conf_num_bounds_t  ngx_signal_notify_rooms_bounds = {
    ngx_conf_check_num_bounds, 1, 10000
};

static ngx_conf_num_bounds_t  ngx_signal_subscribe_rate_bounds = {
    ngx_conf_check_num_bounds, 1, 100000
};

static ngx_conf_num_bounds_t  ngx_signal_refresh_rate_bounds = {
    ngx_conf_check_num_bounds, 1, 10000
};

static ngx_conf_bitmask_t  ngx_signal_transports[] = {
    { ngx_string("websocket"), NGX_SIGNAL_TRANSPORT_WEBSOCKET },
    { ngx_string("eventsource"), NGX_SIGNAL_TRANSPORT_EVENTSOURCE },
    { ngx_string("longpoll"), NGX_SIGNAL_TRANSPORT_LONGPOLL },
    { ngx_null_string, 0 }
};

#define NGX_SIGNAL_ANY_CONF                                                  \
    (NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF)


static ngx_command_t  ngx_signal_commands[] = {

    { ngx_string("signal_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_signal_zone_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("signal_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_signal_redis_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("signal_redis_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_signal_main_conf_t, redis_connect_timeout),
      NULL },

    { ngx_string("signal_redis_command_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_signal_main_conf_t, redis_command_timeout),
      NULL },

    { ngx_string("signal_redis_backoff"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_signal_redis_backoff,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("signal_websocket"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_signal_directive_websocket,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("signal_transports"),
      NGX_SIGNAL_ANY_CONF|NGX_CONF_1MORE,
      ngx_conf_set_bitmask_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_signal_loc_conf_t, transports),
      &ngx_signal_transports },

    { ngx_string("signal_notify"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_signal_directive_notify,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("signal_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_signal_directive_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("signal_presence"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_signal_directive_presence,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("signal_user"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_signal_directive_user,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("signal_jwt_secret"),
      NGX_SIGNAL_ANY_CONF|NGX_CONF_TAKE12,
      ngx_signal_jwt_secret,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_signal_loc_conf_t, jwt),
      NULL },

    { ngx_string("signal_jwt_key"),
      NGX_SIGNAL_ANY_CONF|NGX_CONF_TAKE12,
      ngx_signal_jwt_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_signal_loc_conf_t, jwt),
      NULL },

    { ngx_string("signal_jwt_token"),
      NGX_SIGNAL_ANY_CONF|NGX_CONF_1MORE,
      ngx_signal_jwt_token,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_signal_loc_conf_t, jwt),
      NULL },

    { ngx_string("signal_jwt_require"),
      NGX_SIGNAL_ANY_CONF|NGX_CONF_1MORE,
      ngx_signal_jwt_require,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_signal_loc_conf_t, jwt),
      NULL },

    { ngx_string("signal_jwt_leeway"),
      NGX_SIGNAL_ANY_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_signal_loc_conf_t, jwt.leeway),
      NULL },

    { ngx_string("signal_jwt_require_exp"),
      NGX_SIGNAL_ANY_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_signal_loc_conf_t, jwt.require_exp),
      NULL },

    { ngx_string("signal_jwt_issuer"),
      NGX_SIGNAL_ANY_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_signal_loc_conf_t, jwt.issuer),
      NULL },

    { ngx_string("signal_jwt_audience"),
      NGX_SIGNAL_ANY_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_signal_loc_conf_t, jwt.audience),
      NULL },

    { ngx_string("signal_api_secret"),
      NGX_SIGNAL_ANY_CONF|NGX_CONF_1MORE,
      ngx_signal_access_api_secret,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("signal_allow_origin"),
      NGX_SIGNAL_ANY_CONF|NGX_CONF_1MORE,
      ngx_signal_access_allow_origin,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("signal_subscribe_rate"),
      NGX_SIGNAL_ANY_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_signal_loc_conf_t, subscribe_rate),
      &ngx_signal_subscribe_rate_bounds },

    { ngx_string("signal_refresh_rate"),
      NGX_SIGNAL_ANY_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_signal_loc_conf_t, refresh_rate),
      &ngx_signal_refresh_rate_bounds },

    { ngx_string("signal_webhook"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_signal_webhook_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("signal_webhook_secret"),
      NGX_SIGNAL_ANY_CONF|NGX_CONF_1MORE,
      ngx_signal_conf_set_values_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_signal_loc_conf_t, webhook.secrets),
      NULL },

    { ngx_string("signal_webhook_room"),
      NGX_SIGNAL_ANY_CONF|NGX_CONF_1MORE,
      ngx_signal_webhook_room,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("signal_webhook_event"),
      NGX_SIGNAL_ANY_CONF|NGX_CONF_TAKE1,
      ngx_signal_webhook_event,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("signal_webhook_data"),
      NGX_SIGNAL_ANY_CONF|NGX_CONF_TAKE1,
      ngx_signal_webhook_data,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("signal_webhook_tolerance"),
      NGX_SIGNAL_ANY_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_signal_loc_conf_t, webhook.tolerance),
      NULL },

    { ngx_string("signal_join"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_signal_directive_rooms,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_signal_loc_conf_t, join),
      NULL },

    { ngx_string("signal_allow_subscribe"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_signal_directive_rooms,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_signal_loc_conf_t, allow_subscribe),
      NULL },

    { ngx_string("signal_subprotocols"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_signal_directive_subprotocols,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("signal_max_message_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_signal_loc_conf_t, max_message_size),
      NULL },

    { ngx_string("signal_send_queue"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_signal_loc_conf_t, send_queue),
      NULL },

    { ngx_string("signal_max_rooms_per_connection"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_signal_loc_conf_t, max_rooms),
      &ngx_signal_max_rooms_bounds },

    { ngx_string("signal_max_name_length"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_signal_loc_conf_t, max_name_length),
      &ngx_signal_max_name_bounds },

    { ngx_string("signal_notify_max_events"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_signal_loc_conf_t, notify_max_events),
      &ngx_signal_notify_events_bounds },

    { ngx_string("signal_notify_max_rooms"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_signal_loc_conf_t, notify_max_rooms),
      &ngx_signal_notify_rooms_bounds },

    { ngx_string("signal_ping_interval"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_signal_loc_conf_t, ping_interval),
      NULL },

    { ngx_string("signal_ping_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_signal_loc_conf_t, ping_timeout),
      NULL },

    { ngx_string("signal_close_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_signal_loc_conf_t, close_timeout),
      NULL },

    { ngx_string("signal_history"),
      NGX_SIGNAL_ANY_CONF|NGX_CONF_TAKE12,
      ngx_signal_directive_history,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("signal_history_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_signal_directive_history_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("signal_shutdown_window"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_signal_loc_conf_t, shutdown_window),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_signal_module_ctx = {
    ngx_signal_preconfiguration,           /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_signal_create_main_conf,           /* create main configuration */
    ngx_signal_init_main_conf,             /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_signal_create_loc_conf,            /* create location configuration */
    ngx_signal_merge_loc_conf              /* merge location configuration */
};


ngx_connection_t  ngx_signal_no_connection;


ngx_module_t  ngx_signal_module = {
    NGX_MODULE_V1,
    &ngx_signal_module_ctx,                /* module context */
    ngx_signal_commands,                   /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_signal_init_module,                /* init module */
    ngx_signal_init_process,               /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_signal_exit_process,               /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_signal_create_main_conf(ngx_conf_t *cf)
{
    ngx_signal_main_conf_t  *smcf;

    smcf = ngx_pcalloc(cf->pool, sizeof(ngx_signal_main_conf_t));
    if (smcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     smcf->zone = NULL;
     *     smcf->engine = NULL;
     *     smcf->redis = NULL;
     *     smcf->used = 0;
     */

    smcf->redis_connect_timeout = NGX_CONF_UNSET_MSEC;
    smcf->redis_command_timeout = NGX_CONF_UNSET_MSEC;
    smcf->redis_backoff_min = NGX_CONF_UNSET_MSEC;
    smcf->redis_backoff_max = NGX_CONF_UNSET_MSEC;

    return smcf;
}


static char *
ngx_signal_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_signal_main_conf_t *smcf = conf;

    if (smcf->used && smcf->zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "signal_websocket, signal_notify, "
                           "signal_presence and signal_status need a "
                           "shared memory zone: add \"signal_zone "
                           "signal:32m;\" to the http block");
        return NGX_CONF_ERROR;
    }

    if (smcf->engine == NULL) {
        /* signal_redis chooses the Redis engine */
        smcf->engine = &ngx_signal_memory_engine;
    }

    return ngx_signal_redis_init_conf(cf, smcf);
}


static void *
ngx_signal_create_loc_conf(ngx_conf_t *cf)
{
    ngx_signal_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_signal_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->protocol = NULL;
     *     conf->subprotocols = NULL;
     *     conf->notify_max_body = 0;
     *     conf->notify = 0;
     *     conf->presence = 0;
     *     conf->presence_room = NULL;
     */

    conf->join = NGX_CONF_UNSET_PTR;
    conf->allow_subscribe = NGX_CONF_UNSET_PTR;
    conf->max_message_size = NGX_CONF_UNSET_SIZE;
    conf->send_queue = NGX_CONF_UNSET_SIZE;
    conf->max_rooms = NGX_CONF_UNSET_UINT;
    conf->max_name_length = NGX_CONF_UNSET_UINT;
    conf->notify_max_events = NGX_CONF_UNSET_UINT;
    conf->notify_max_rooms = NGX_CONF_UNSET_UINT;
    conf->ping_interval = NGX_CONF_UNSET_MSEC;
    conf->ping_timeout = NGX_CONF_UNSET_MSEC;
    conf->close_timeout = NGX_CONF_UNSET_MSEC;
    conf->shutdown_window = NGX_CONF_UNSET_MSEC;
    conf->user = NGX_CONF_UNSET_PTR;
    conf->api_secrets = NGX_CONF_UNSET_PTR;
    conf->allow_origin = NGX_CONF_UNSET_PTR;
    conf->subscribe_rate = NGX_CONF_UNSET_UINT;
    conf->refresh_rate = NGX_CONF_UNSET_UINT;
    conf->history = NGX_CONF_UNSET_UINT;
    conf->history_age = NGX_CONF_UNSET;

    ngx_signal_jwt_init_conf(&conf->jwt);
    ngx_signal_webhook_init_conf(&conf->webhook);

    return conf;
}


static char *
ngx_signal_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_signal_loc_conf_t *prev = parent;
    ngx_signal_loc_conf_t *conf = child;

    ngx_http_core_loc_conf_t  *clcf;

    ngx_conf_merge_ptr_value(conf->join, prev->join, NULL);
    ngx_conf_merge_ptr_value(conf->allow_subscribe, prev->allow_subscribe,
                             NULL);
    ngx_conf_merge_size_value(conf->max_message_size,
                              prev->max_message_size, 64 * 1024);
    ngx_conf_merge_size_value(conf->send_queue, prev->send_queue,
                              1024 * 1024);
    ngx_conf_merge_uint_value(conf->max_rooms, prev->max_rooms, 64);
    ngx_conf_merge_uint_value(conf->max_name_length, prev->max_name_length,
                              128);
    ngx_conf_merge_uint_value(conf->notify_max_events,
                              prev->notify_max_events, 1000);
    ngx_conf_merge_uint_value(conf->notify_max_rooms,
                              prev->notify_max_rooms, 100);
    ngx_conf_merge_msec_value(conf->ping_interval, prev->ping_interval,
                              30000);
    ngx_conf_merge_msec_value(conf->ping_timeout, prev->ping_timeout,
                              10000);
    ngx_conf_merge_msec_value(conf->close_timeout, prev->close_timeout,
                              5000);
    ngx_conf_merge_msec_value(conf->shutdown_window, prev->shutdown_window,
                              2000);
    ngx_conf_merge_ptr_value(conf->user, prev->user, NULL);
    ngx_conf_merge_ptr_value(conf->api_secrets, prev->api_secrets, NULL);
    ngx_conf_merge_ptr_value(conf->allow_origin, prev->allow_origin, NULL);
    ngx_conf_merge_uint_value(conf->subscribe_rate, prev->subscribe_rate,
                              20);
    ngx_conf_merge_uint_value(conf->refresh_rate, prev->refresh_rate, 6);
    ngx_conf_merge_bitmask_value(conf->transports, prev->transports,
                                 (NGX_CONF_BITMASK_SET
                                  |NGX_SIGNAL_TRANSPORT_WEBSOCKET));
    ngx_conf_merge_uint_value(conf->history, prev->history,
                              NGX_SIGNAL_HISTORY_DEFAULT);
    ngx_conf_merge_value(conf->history_age, prev->history_age,
                         NGX_SIGNAL_HISTORY_DEFAULT_AGE);

    ngx_signal_jwt_merge_conf(&conf->jwt, &prev->jwt);

    if (ngx_signal_webhook_merge_conf(cf, &conf->webhook, &prev->webhook)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->max_message_size == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"signal_max_message_size\" must be more than 0");
        return NGX_CONF_ERROR;
    }

    if (conf->ping_interval == 0 || conf->ping_timeout == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"signal_ping_interval\" and "
                           "\"signal_ping_timeout\" must be more than 0");
        return NGX_CONF_ERROR;
    }

    if (conf->send_queue < 4096) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"signal_send_queue\" must be at least 4k");
        return NGX_CONF_ERROR;
    }

    if (conf->protocol && (conf->jwt.sources & NGX_SIGNAL_JWT_COOKIE)
        && conf->allow_origin == NULL)
    {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "a token taken from a cookie is sent by the "
                           "browser whatever page opens the WebSocket: list "
                           "your origins with \"signal_allow_origin\" "
                           "(cross-site WebSocket hijacking)");
    }

    if (conf->notify || conf->webhook.preset) {
        /*
         * The notify and webhook handlers enforce client_max_body_size
         * themselves so that they can answer 413 with a JSON reason;
         * nginx would answer with its HTML page before they run.
         */

        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

        conf->notify_max_body = clcf->client_max_body_size;
        clcf->client_max_body_size = 0;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_signal_preconfiguration(ngx_conf_t *cf)
{
    return ngx_signal_jwt_add_variables(cf);
}


static ngx_int_t
ngx_signal_init_module(ngx_cycle_t *cycle)
{
    ngx_signal_main_conf_t  *smcf;

    smcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_signal_module);

    if (smcf == NULL || smcf->zone == NULL) {
        return NGX_OK;
    }

    return smcf->engine->init_module(cycle);
}


static ngx_int_t
ngx_signal_init_process(ngx_cycle_t *cycle)
{
    ngx_signal_main_conf_t  *smcf;

    smcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_signal_module);

    if (smcf == NULL || smcf->zone == NULL) {
        return NGX_OK;
    }

    ngx_signal_no_connection.fd = (ngx_socket_t) -1;

    ngx_signal_rooms_init();

    if (ngx_signal_zone_worker_start(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_signal_engine = smcf->engine;

    return ngx_signal_engine->init_worker(cycle);
}


static void
ngx_signal_exit_process(ngx_cycle_t *cycle)
{
    if (ngx_signal_engine) {
        ngx_signal_engine->exit_worker();
        ngx_signal_engine = NULL;
    }

    ngx_signal_zone_worker_exit();
}
