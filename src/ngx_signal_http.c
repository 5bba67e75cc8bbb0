
/*
 * Copyright (C) ngx_signal_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal.h"


ngx_int_t
ngx_signal_http_send_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *body, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body;
    b->last = body + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * {"error":"<error>","detail":"<printf-style detail>"}; error is one of
 * our fixed codes, detail is escaped because it may quote client input.
 */

ngx_int_t
ngx_signal_http_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error, const char *fmt, ...)
{
    u_char   *body, *p, detail[512], *last;
    size_t    len, elen;
    va_list   args;

    /* a refused request's body must not be parsed as the next request */

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    va_start(args, fmt);
    last = ngx_vslprintf(detail, detail + sizeof(detail), fmt, args);
    va_end(args);

    elen = ngx_escape_json(NULL, detail, last - detail);

    len = sizeof("{\"error\":\"\",\"detail\":\"\"}\n") - 1
          + ngx_strlen(error) + (last - detail) + elen;

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"error\":\"%s\",\"detail\":\"", error);

    if (elen) {
        p = (u_char *) ngx_escape_json(p, detail, last - detail);

    } else {
        p = ngx_cpymem(p, detail, last - detail);
    }

    p = ngx_cpymem(p, "\"}\n", 3);

    if (status >= NGX_HTTP_BAD_REQUEST) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "signal: %ui %s: %*s", status, error,
                      last - detail, detail);
    }

    return ngx_signal_http_send_json(r, status, body, p - body);
}


ngx_int_t
ngx_signal_http_add_header(ngx_http_request_t *r, char *key, u_char *value,
    size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = value;
    h->value.len = len;
    h->lowcase_key = NULL;

    return NGX_OK;
}


/* the next request header called name (lowercase) after "after" */

ngx_table_elt_t *
ngx_signal_http_find_header(ngx_http_request_t *r, char *name, size_t len,
    ngx_table_elt_t *after)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    ngx_uint_t        found;

    found = (after == NULL);
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (!found) {
            found = (&h[i] == after);
            continue;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].lowcase_key, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


/* is token one of the comma-separated values (case-insensitive) */

ngx_uint_t
ngx_signal_http_has_token(ngx_str_t *value, char *token, size_t len)
{
    u_char  *p, *last, *start, *end;

    p = value->data;
    last = p + value->len;

    while (p < last) {

        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        start = p;

        while (p < last && *p != ',') {
            p++;
        }

        end = p;

        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }

        if ((size_t) (end - start) == len
            && ngx_strncasecmp(start, (u_char *) token, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}
