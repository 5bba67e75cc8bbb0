
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Templates (see ngx_signal_tpl.h): a configured value split into the
 * configuration's own text and what variables, claims and JSON pointers
 * give, which is only ever inserted as text.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_tpl.h"
#include "ngx_signal_conf.h"


#define NGX_SIGNAL_CLAIM_PREFIX     "signal_claim_"


static ngx_int_t ngx_signal_tpl_push(ngx_conf_t *cf, ngx_array_t *parts,
    ngx_uint_t type, u_char *start, u_char *end);
static u_char *ngx_signal_tpl_variable(ngx_conf_t *cf, ngx_str_t *value,
    u_char *p, ngx_uint_t flags, ngx_array_t *parts);


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
