
/*
 * Copyright (C) ngx_signal_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_common.h"
#include "ngx_signal_http.h"
#include "ngx_signal_log.h"
#include "ngx_signal_access.h"


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
    u_char   *body, *p, detail[512], logged[1024], *last;
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

    if (status >= NGX_HTTP_BAD_REQUEST) {
        /* the detail may quote the request: nothing of it raw in a log */
        last = ngx_signal_log_escape(logged, logged + sizeof(logged),
                                     detail, last - detail);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "signal: %ui %s: %*s", status, error, last - logged,
                      logged);
    }

    p = ngx_cpymem(p, "\"}\n", 3);

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


/*
 * A POST with a JSON body (notify, webhooks): method, type and size are
 * checked before anything is read, then the body is read for handler.
 */

ngx_int_t
ngx_signal_http_read_json(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt handler)
{
    ngx_int_t               rc;
    ngx_str_t              *type;
    ngx_signal_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_signal_module);

    if (r->method != NGX_HTTP_POST) {
        if (ngx_signal_http_add_header(r, "Allow", (u_char *) "POST", 4)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_signal_http_error(r, NGX_HTTP_NOT_ALLOWED,
                                     "method_not_allowed",
                                     "publish with POST");
    }

    type = r->headers_in.content_type ? &r->headers_in.content_type->value
                                      : NULL;

    if (type == NULL
        || type->len < sizeof("application/json") - 1
        || ngx_strncasecmp(type->data, (u_char *) "application/json",
                           sizeof("application/json") - 1) != 0
        || (type->len > sizeof("application/json") - 1
            && type->data[sizeof("application/json") - 1] != ';'
            && type->data[sizeof("application/json") - 1] != ' '))
    {
        return ngx_signal_http_error(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                     "unsupported_media_type",
                                     "send \"Content-Type: "
                                     "application/json\"");
    }

    if (r->headers_in.content_length_n < 0) {
        /* the body limit is enforced before reading, which needs a length */
        return ngx_signal_http_error(r, NGX_HTTP_LENGTH_REQUIRED,
                                     "length_required",
                                     "send the body with a Content-Length");
    }

    if (slcf->notify_max_body
        && r->headers_in.content_length_n > slcf->notify_max_body)
    {
        return ngx_signal_http_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                     "body_too_large",
                                     "the body is %O bytes; this location "
                                     "takes up to %O (client_max_body_size)",
                                     r->headers_in.content_length_n,
                                     slcf->notify_max_body);
    }

    rc = ngx_http_read_client_request_body(r, handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* the body in one piece: one memory buffer, or gathered from buffers/file */

ngx_int_t
ngx_signal_http_body(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    size_t        len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    ngx_str_null(body);

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        body->data = cl->buf->pos;
        body->len = cl->buf->last - cl->buf->pos;
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    body->data = ngx_pnalloc(r->pool, len);
    if (body->data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = body->data;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                              b->file_pos);

            if (n != b->file_last - b->file_pos) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "signal: could not read the buffered "
                              "request body from %V", &b->file->name);
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            p += n;

        } else {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
        }
    }

    body->len = p - body->data;

    return NGX_OK;
}


/*
 * The start of a read-only API location (status, presence): the shared
 * secret, GET or HEAD, no body.  NGX_OK, or the answer's status in *rc.
 */

ngx_int_t
ngx_signal_http_api_get(ngx_http_request_t *r, ngx_int_t *rc)
{
    ngx_signal_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_signal_module);

    if (slcf->api_secrets
        && ngx_signal_access_secret_check(r, slcf->api_secrets, rc) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (r->method != NGX_HTTP_GET && r->method != NGX_HTTP_HEAD) {
        *rc = (ngx_signal_http_add_header(r, "Allow",
                                          (u_char *) "GET, HEAD", 9)
               == NGX_OK)
              ? ngx_signal_http_error(r, NGX_HTTP_NOT_ALLOWED,
                                      "method_not_allowed", "use GET")
              : NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    return NGX_OK;
}
