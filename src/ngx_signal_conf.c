
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Configuration helpers (see ngx_signal_conf.h).  Nothing here knows the
 * module's own structures: this file is at the bottom of the include
 * graph, with ngx_signal_tpl.c and ngx_signal_log.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_conf.h"


/* a value with variables, compiled for ngx_http_complex_value() */

ngx_int_t
ngx_signal_conf_complex(ngx_conf_t *cf, ngx_str_t *value,
    ngx_http_complex_value_t *cv)
{
    ngx_http_compile_complex_value_t  ccv;

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = value;
    ccv.complex_value = cv;

    return ngx_http_compile_complex_value(&ccv);
}


/*
 * A directive that takes a list of values (variables allowed) into an
 * array of complex values at cmd->offset; a second one is refused, so
 * that a list is never silently cut in two.
 */

char *
ngx_signal_conf_set_values_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char  *p = conf;

    ngx_str_t                 *value;
    ngx_uint_t                 i;
    ngx_array_t              **list;
    ngx_http_complex_value_t  *cv;

    list = (ngx_array_t **) (p + cmd->offset);

    if (*list != NGX_CONF_UNSET_PTR) {
        return "is duplicate; list every value in one directive";
    }

    *list = ngx_array_create(cf->pool, cf->args->nelts - 1,
                             sizeof(ngx_http_complex_value_t));
    if (*list == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 0) {
            return "takes no empty value";
        }

        cv = ngx_array_push(*list);
        if (cv == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_signal_conf_complex(cf, &value[i], cv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


char *
ngx_signal_conf_set_handler(ngx_conf_t *cf, ngx_http_handler_pt handler)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "this location already has a content handler "
                           "(signal_websocket, signal_notify, proxy_pass, "
                           "...); give each its own location");
        return NGX_CONF_ERROR;
    }

    clcf->handler = handler;

    return NGX_CONF_OK;
}


/*
 * "file=/path": the value becomes the file's content (a trailing newline
 * is not part of it); anything else is left as it is.
 */

ngx_int_t
ngx_signal_conf_read_secret(ngx_conf_t *cf, ngx_str_t *value, size_t max)
{
    u_char           *p;
    ssize_t           size;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    if (value->len <= 5 || ngx_strncmp(value->data, "file=", 5) != 0) {
        return NGX_OK;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));

    file.name.data = value->data + 5;
    file.name.len = value->len - 5;
    file.log = cf->log;

    if (ngx_conf_full_name(cf->cycle, &file.name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    file.fd = ngx_open_file(file.name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN,
                            0);
    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot open the secret file \"%V\"; create it "
                           "(or mount it) with the secret in it",
                           &file.name);
        return NGX_ERROR;
    }

    size = (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR)
           ? -1 : (ssize_t) ngx_file_size(&fi);

    if (size < 0 || (size_t) size > max) {
        ngx_close_file(file.fd);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the secret file \"%V\" is unreadable or larger "
                           "than %uz bytes", &file.name, max);
        return NGX_ERROR;
    }

    p = ngx_pnalloc(cf->pool, size + 1);
    if (p == NULL) {
        ngx_close_file(file.fd);
        return NGX_ERROR;
    }

    size = ngx_read_file(&file, p, size, 0);
    ngx_close_file(file.fd);

    if (size == NGX_ERROR) {
        return NGX_ERROR;
    }

    while (size && (p[size - 1] == '\n' || p[size - 1] == '\r')) {
        size--;
    }

    if (size == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the secret file \"%V\" is empty", &file.name);
        return NGX_ERROR;
    }

    /* the content is a secret, never a template: "$" stays "$" */

    value->data = p;
    value->len = size;

    return NGX_DONE;
}
