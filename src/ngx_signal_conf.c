
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Configuration helpers (see ngx_signal_conf.h).  Nothing here knows the
 * module's own structures: this file is at the bottom of the include
 * graph.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_conf.h"


#define NGX_SIGNAL_CLAIM_PREFIX     "signal_claim_"


static ngx_int_t ngx_signal_tpl_push(ngx_conf_t *cf, ngx_array_t *parts,
    ngx_uint_t type, u_char *start, u_char *end);
static u_char *ngx_signal_tpl_variable(ngx_conf_t *cf, ngx_str_t *value,
    u_char *p, ngx_uint_t flags, ngx_array_t *parts);


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


/*
 * Split a value into literal text and variables ("$name", "${name}",
 * "$1"); with NGX_SIGNAL_TPL_CLAIMS "$signal_claim_<path>" is a claim
 * read with the case it is written in, with NGX_SIGNAL_TPL_POINTERS
 * "{/json/pointer}" in the literal text is a pointer into a body.
 */

ngx_int_t
ngx_signal_tpl_compile(ngx_conf_t *cf, ngx_str_t *value, ngx_uint_t flags,
    ngx_signal_tpl_t *tpl)
{
    u_char       *p, *last, *start, *close;
    ngx_uint_t    i;
    ngx_array_t   parts;

    if (ngx_array_init(&parts, cf->pool, 2, sizeof(ngx_signal_tpl_part_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = value->data;
    last = p + value->len;
    start = p;

    while (p < last) {

        if (*p == '$') {
            if (ngx_signal_tpl_push(cf, &parts, NGX_SIGNAL_TPL_LITERAL,
                                    start, p)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            p = ngx_signal_tpl_variable(cf, value, p, flags, &parts);
            if (p == NULL) {
                return NGX_ERROR;
            }

            start = p;
            continue;
        }

        if ((flags & NGX_SIGNAL_TPL_POINTERS)
            && *p == '{' && p + 1 < last && p[1] == '/')
        {
            close = ngx_strlchr(p, last, '}');

            if (close == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "unclosed \"{\" in \"%V\"", value);
                return NGX_ERROR;
            }

            if (ngx_signal_tpl_push(cf, &parts, NGX_SIGNAL_TPL_LITERAL,
                                    start, p)
                != NGX_OK
                || ngx_signal_tpl_push(cf, &parts, NGX_SIGNAL_TPL_POINTER,
                                       p + 1, close)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }

            p = close + 1;
            start = p;
            continue;
        }

        p++;
    }

    if (ngx_signal_tpl_push(cf, &parts, NGX_SIGNAL_TPL_LITERAL, start, last)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    tpl->source = *value;
    tpl->parts = parts.elts;
    tpl->nparts = parts.nelts;
    tpl->nvars = 0;

    for (i = 0; i < parts.nelts; i++) {
        if (tpl->parts[i].type != NGX_SIGNAL_TPL_LITERAL) {
            tpl->nvars++;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_signal_tpl_push(ngx_conf_t *cf, ngx_array_t *parts, ngx_uint_t type,
    u_char *start, u_char *end)
{
    ngx_signal_tpl_part_t  *part;

    if (type == NGX_SIGNAL_TPL_LITERAL && start == end) {
        return NGX_OK;
    }

    part = ngx_array_push(parts);
    if (part == NULL) {
        return NGX_ERROR;
    }

    part->type = type;
    part->text.data = start;
    part->text.len = end - start;
    part->value = NULL;

    return NGX_OK;
}


/* the variable at p ("$..."): the position after it, NULL on error */

static u_char *
ngx_signal_tpl_variable(ngx_conf_t *cf, ngx_str_t *value, u_char *p,
    ngx_uint_t flags, ngx_array_t *parts)
{
    u_char                 *last, *start, *name, *end;
    ngx_str_t               text;
    ngx_signal_tpl_part_t  *part;

    last = value->data + value->len;
    start = p++;

    if (p < last && *p == '{') {
        name = ++p;

        while (p < last && *p != '}') {
            p++;
        }

        if (p == last) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unclosed \"${\" in \"%V\"", value);
            return NULL;
        }

        end = p++;

    } else {
        name = p;

        if (p < last && *p >= '1' && *p <= '9') {
            p++;

        } else {
            while (p < last
                   && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                       || (*p >= '0' && *p <= '9') || *p == '_'))
            {
                p++;
            }
        }

        end = p;
    }

    if (end == name) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid variable name in \"%V\"", value);
        return NULL;
    }

    part = ngx_array_push(parts);
    if (part == NULL) {
        return NULL;
    }

    part->text.data = name;
    part->text.len = end - name;
    part->value = NULL;

    if ((flags & NGX_SIGNAL_TPL_CLAIMS)
        && part->text.len > sizeof(NGX_SIGNAL_CLAIM_PREFIX) - 1
        && ngx_strncmp(name, NGX_SIGNAL_CLAIM_PREFIX,
                       sizeof(NGX_SIGNAL_CLAIM_PREFIX) - 1) == 0)
    {
        /* nginx would lowercase the name; the claim is read as written */
        part->type = NGX_SIGNAL_TPL_CLAIM;
        part->text.data += sizeof(NGX_SIGNAL_CLAIM_PREFIX) - 1;
        part->text.len -= sizeof(NGX_SIGNAL_CLAIM_PREFIX) - 1;
        return p;
    }

    part->type = NGX_SIGNAL_TPL_VARIABLE;

    part->value = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (part->value == NULL) {
        return NULL;
    }

    text.data = start;
    text.len = p - start;

    if (ngx_signal_conf_complex(cf, &text, part->value) != NGX_OK) {
        return NULL;
    }

    return p;
}


ngx_signal_tpl_part_t *
ngx_signal_tpl_first_variable(ngx_signal_tpl_t *tpl)
{
    ngx_uint_t  i;

    for (i = 0; i < tpl->nparts; i++) {
        if (tpl->parts[i].type == NGX_SIGNAL_TPL_VARIABLE) {
            return &tpl->parts[i];
        }
    }

    return NULL;
}


/*
 * The text of a template in r->pool.  NGX_DECLINED: a claim or pointer
 * has no value, or ctx->check refused what a part gave (ctx->bad says
 * which part); NGX_ERROR.
 */

ngx_int_t
ngx_signal_tpl_eval(ngx_http_request_t *r, ngx_signal_tpl_t *tpl,
    ngx_signal_tpl_ctx_t *ctx, ngx_str_t *out)
{
    u_char                 *p;
    size_t                  len;
    ngx_int_t               rc;
    ngx_str_t              *values;
    ngx_uint_t              i;
    ngx_signal_tpl_part_t  *part;

    if (tpl->nvars == 0) {
        *out = tpl->nparts ? tpl->parts[0].text : tpl->source;
        return NGX_OK;
    }

    values = ngx_palloc(r->pool, tpl->nparts * sizeof(ngx_str_t));
    if (values == NULL) {
        return NGX_ERROR;
    }

    len = 0;

    for (i = 0; i < tpl->nparts; i++) {
        part = &tpl->parts[i];

        switch (part->type) {

        case NGX_SIGNAL_TPL_LITERAL:
            values[i] = part->text;
            break;

        case NGX_SIGNAL_TPL_VARIABLE:
            if (ngx_http_complex_value(r, part->value, &values[i])
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            break;

        default:
            rc = (ctx && ctx->resolve)
                 ? ctx->resolve(ctx->data, part, r->pool, &values[i])
                 : NGX_DECLINED;

            if (rc == NGX_ERROR) {
                return NGX_ERROR;
            }

            if (rc != NGX_OK) {
                if (ctx) {
                    ctx->bad = part;
                }

                return NGX_DECLINED;
            }
        }

        if (part->type != NGX_SIGNAL_TPL_LITERAL
            && ctx && ctx->check && !ctx->check(&values[i]))
        {
            ctx->bad = part;
            return NGX_DECLINED;
        }

        len += values[i].len;
    }

    out->data = ngx_pnalloc(r->pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = out->data;

    for (i = 0; i < tpl->nparts; i++) {
        if (values[i].len) {
            p = ngx_cpymem(p, values[i].data, values[i].len);
        }
    }

    out->len = len;

    return NGX_OK;
}


/*
 * Text from outside (a request, Redis) made safe for a log line: quotes,
 * backslashes, control and non-ASCII bytes escaped; cut at last.
 */

u_char *
ngx_signal_escape(u_char *dst, u_char *last, u_char *src, size_t len)
{
    u_char         ch;
    size_t         i;
    static u_char  hex[] = "0123456789abcdef";

    for (i = 0; i < len; i++) {
        ch = src[i];

        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
            if (dst == last) {
                break;
            }

            *dst++ = ch;
            continue;
        }

        if (last - dst < 4) {
            break;
        }

        *dst++ = '\\';

        switch (ch) {
        case '\n':
            *dst++ = 'n';
            break;
        case '\r':
            *dst++ = 'r';
            break;
        case '\t':
            *dst++ = 't';
            break;
        case '"':
        case '\\':
            *dst++ = ch;
            break;
        default:
            *dst++ = 'x';
            *dst++ = hex[ch >> 4];
            *dst++ = hex[ch & 0xf];
        }
    }

    return dst;
}


/*
 * A condition that can repeat on every request (a full zone, a bad
 * message from Redis) is logged once per NGX_SIGNAL_LOG_INTERVAL with
 * the number of times it was not.
 */

void
ngx_signal_log_limited(ngx_uint_t level, ngx_log_t *log,
    ngx_signal_log_limit_t *limit, const char *fmt, ...)
{
    u_char   buf[NGX_MAX_ERROR_STR], *p;
    va_list  args;

    if (log->log_level < level) {
        return;
    }

    if (limit->logged
        && ngx_current_msec - limit->last < NGX_SIGNAL_LOG_INTERVAL)
    {
        limit->suppressed++;
        return;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    if (limit->suppressed) {
        p = ngx_slprintf(p, buf + sizeof(buf), " (and %ui more times "
                         "in the last %ui s)", limit->suppressed,
                         (ngx_uint_t) NGX_SIGNAL_LOG_INTERVAL / 1000);
    }

    ngx_log_error(level, log, 0, "%*s", p - buf, buf);

    limit->last = ngx_current_msec;
    limit->logged = 1;
    limit->suppressed = 0;
}
