
/*
 * Copyright (C) ngx_signal_module authors
 *
 * signal_redis: the address of the Redis server, parsed and resolved at
 * configuration time (hiredis would resolve with blocking calls in the
 * workers), and the defaults of its timeouts.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_redis.h"


static char *ngx_signal_redis_parse_tcp(ngx_conf_t *cf,
    ngx_signal_redis_conf_t *rc, ngx_str_t *value);


/*
 * signal_redis redis://[[user]:password@]host[:port][/db];
 * signal_redis unix:/path/to/redis.sock;
 */

char *
ngx_signal_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_signal_main_conf_t *smcf = conf;

    ngx_str_t                *value;
    ngx_signal_redis_conf_t  *rc;

    if (smcf->redis) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rc = ngx_pcalloc(cf->pool, sizeof(ngx_signal_redis_conf_t));
    if (rc == NULL) {
        return NGX_CONF_ERROR;
    }

    if (value[1].len > 5 && ngx_strncmp(value[1].data, "unix:", 5) == 0) {

        if (value[1].data[5] != '/') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid signal_redis \"%V\": a unix socket "
                               "needs an absolute path, e.g. "
                               "unix:/run/redis/redis.sock", &value[1]);
            return NGX_CONF_ERROR;
        }

        rc->unix_path = ngx_pnalloc(cf->pool, value[1].len - 4);
        if (rc->unix_path == NULL) {
            return NGX_CONF_ERROR;
        }

        (void) ngx_cpystrn(rc->unix_path, value[1].data + 5,
                           value[1].len - 4);
        rc->url = value[1];

    } else if (value[1].len > 8
               && ngx_strncmp(value[1].data, "redis://", 8) == 0)
    {
        if (ngx_signal_redis_parse_tcp(cf, rc, &value[1]) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid signal_redis \"%V\": use "
                           "redis://[:password@]host[:port][/db] or "
                           "unix:/path", &value[1]);
        return NGX_CONF_ERROR;
    }

    smcf->redis = rc;
    smcf->engine = &ngx_signal_redis_engine;

    return NGX_CONF_OK;
}


static char *
ngx_signal_redis_parse_tcp(ngx_conf_t *cf, ngx_signal_redis_conf_t *rc,
    ngx_str_t *value)
{
    u_char     *p, *at, *colon, *slash, *last, *text;
    size_t      len;
    ngx_int_t   db;
    ngx_url_t   u;

    p = value->data + 8;
    last = value->data + value->len;

    /* credentials: everything before the last "@" */

    at = NULL;

    for (colon = p; colon < last; colon++) {
        if (*colon == '@') {
            at = colon;
        }
    }

    if (at) {
        colon = ngx_strlchr(p, at, ':');

        if (colon == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid signal_redis: credentials are "
                               "[user]:password@");
            return NGX_CONF_ERROR;
        }

        rc->user.data = p;
        rc->user.len = colon - p;
        rc->password.data = colon + 1;
        rc->password.len = at - colon - 1;
        p = at + 1;
    }

    slash = ngx_strlchr(p, last, '/');

    if (slash) {
        db = ngx_atoi(slash + 1, last - slash - 1);

        if (db == NGX_ERROR || db > 65535) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid database number \"%*s\" in "
                               "signal_redis", (size_t) (last - slash - 1),
                               slash + 1);
            return NGX_CONF_ERROR;
        }

        rc->db = db;
        last = slash;
    }

    /* resolved now, in the master: the workers never block on DNS */

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url.data = p;
    u.url.len = last - p;
    u.default_port = 6379;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid signal_redis host \"%V\": %s",
                           &u.url, u.err ? u.err : "no address");
        return NGX_CONF_ERROR;
    }

    if (u.naddrs > 1) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "signal_redis host \"%V\" has %ui addresses; "
                           "using %V", &u.host, u.naddrs, &u.addrs[0].name);
    }

    text = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    if (text == NULL) {
        return NGX_CONF_ERROR;
    }

    len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, text,
                        NGX_SOCKADDR_STRLEN, 0);
    text[len] = '\0';

    rc->host = text;
    rc->port = u.port;

    /* for logs and status: never the password */

    len = sizeof("redis://:65535/65535") + u.host.len;

    rc->url.data = ngx_pnalloc(cf->pool, len);
    if (rc->url.data == NULL) {
        return NGX_CONF_ERROR;
    }

    rc->url.len = ngx_snprintf(rc->url.data, len, "redis://%V:%d/%ui",
                               &u.host, (int) u.port, rc->db)
                  - rc->url.data;

    return NGX_CONF_OK;
}


char *
ngx_signal_redis_init_conf(ngx_conf_t *cf, ngx_signal_main_conf_t *smcf)
{
    ngx_signal_redis_conf_t  *rc;

    rc = smcf->redis;

    ngx_conf_init_msec_value(smcf->redis_connect_timeout, 2000);
    ngx_conf_init_msec_value(smcf->redis_command_timeout, 1000);
    ngx_conf_init_msec_value(smcf->redis_backoff_min, 100);
    ngx_conf_init_msec_value(smcf->redis_backoff_max, 5000);

    if (rc == NULL) {
        return NGX_CONF_OK;
    }

    if (smcf->redis_backoff_min == 0
        || smcf->redis_backoff_max < smcf->redis_backoff_min)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"signal_redis_backoff\" needs 0 < min <= max");
        return NGX_CONF_ERROR;
    }

    if (smcf->redis_connect_timeout == 0 || smcf->redis_command_timeout == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"signal_redis_connect_timeout\" and "
                           "\"signal_redis_command_timeout\" must be more "
                           "than 0");
        return NGX_CONF_ERROR;
    }

    rc->connect_timeout = smcf->redis_connect_timeout;
    rc->command_timeout = smcf->redis_command_timeout;
    rc->backoff_min = smcf->redis_backoff_min;
    rc->backoff_max = smcf->redis_backoff_max;

    return NGX_CONF_OK;
}


/* signal_redis_backoff min max; */

char *
ngx_signal_redis_backoff(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_signal_main_conf_t *smcf = conf;

    ngx_str_t   *value;
    ngx_msec_t   min, max;

    if (smcf->redis_backoff_min != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    min = ngx_parse_time(&value[1], 0);
    max = ngx_parse_time(&value[2], 0);

    if (min == (ngx_msec_t) NGX_ERROR || max == (ngx_msec_t) NGX_ERROR) {
        return "has an invalid time";
    }

    smcf->redis_backoff_min = min;
    smcf->redis_backoff_max = max;

    return NGX_CONF_OK;
}
