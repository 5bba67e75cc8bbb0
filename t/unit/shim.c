/*
 * Copyright (C) ngx_signal_module authors
 *
 * Minimal, honest versions of the nginx functions used by the pure code:
 * a pool that frees everything at destroy time, arrays, and a printf that
 * knows the formats our sources use (%s %*s %V %d %i %ui %uz %O %uL %c %%).
 */

#include <stdlib.h>
#include <string.h>
#include "shim.h"


void *
ngx_alloc(size_t size, ngx_log_t *log)
{
    return malloc(size);
}


ngx_pool_t *
shim_pool_create(void)
{
    return calloc(1, sizeof(ngx_pool_t));
}


void
shim_pool_destroy(ngx_pool_t *pool)
{
    ngx_pool_large_t  *l, *next;

    for (l = pool->large; l; l = next) {
        next = l->next;
        free(l->alloc);
        free(l);
    }

    free(pool);
}


void *
ngx_palloc(ngx_pool_t *pool, size_t size)
{
    ngx_pool_large_t  *l;

    l = malloc(sizeof(ngx_pool_large_t));
    if (l == NULL) {
        return NULL;
    }

    l->alloc = malloc(size ? size : 1);
    if (l->alloc == NULL) {
        free(l);
        return NULL;
    }

    l->next = pool->large;
    pool->large = l;

    return l->alloc;
}


void *
ngx_pnalloc(ngx_pool_t *pool, size_t size)
{
    return ngx_palloc(pool, size);
}


void *
ngx_pcalloc(ngx_pool_t *pool, size_t size)
{
    void  *p;

    p = ngx_palloc(pool, size);
    if (p) {
        memset(p, 0, size);
    }

    return p;
}


ngx_array_t *
ngx_array_create(ngx_pool_t *p, ngx_uint_t n, size_t size)
{
    ngx_array_t  *a;

    a = ngx_palloc(p, sizeof(ngx_array_t));
    if (a == NULL) {
        return NULL;
    }

    a->elts = ngx_palloc(p, n * size);
    if (a->elts == NULL) {
        return NULL;
    }

    a->nelts = 0;
    a->size = size;
    a->nalloc = n;
    a->pool = p;

    return a;
}


void *
ngx_array_push(ngx_array_t *a)
{
    void  *elts;

    if (a->nelts == a->nalloc) {
        elts = ngx_palloc(a->pool, 2 * a->nalloc * a->size);
        if (elts == NULL) {
            return NULL;
        }

        memcpy(elts, a->elts, a->nelts * a->size);
        a->elts = elts;
        a->nalloc *= 2;
    }

    return (u_char *) a->elts + a->size * a->nelts++;
}


static u_char *
shim_copy(u_char *buf, u_char *last, const u_char *s, size_t len)
{
    while (len-- && buf < last) {
        *buf++ = *s++;
    }

    return buf;
}


u_char *
ngx_vslprintf(u_char *buf, u_char *last, const char *fmt, va_list args)
{
    char        num[32];
    size_t      len;
    ngx_str_t  *v;
    u_char     *s;
    ngx_uint_t  is_unsigned, width;

    while (*fmt && buf < last) {

        if (*fmt != '%') {
            *buf++ = *fmt++;
            continue;
        }

        fmt++;
        is_unsigned = 0;
        width = 0;

        if (*fmt == '*') {
            width = 1;
            fmt++;
        }

        if (*fmt == 'u') {
            is_unsigned = 1;
            fmt++;
        }

        switch (*fmt++) {

        case 's':
            if (width) {
                /* "%*s": the length comes first */
                len = va_arg(args, size_t);
                s = va_arg(args, u_char *);

            } else {
                s = va_arg(args, u_char *);
                len = strlen((char *) s);
            }

            buf = shim_copy(buf, last, s, len);
            break;

        case 'V':
            v = va_arg(args, ngx_str_t *);
            buf = shim_copy(buf, last, v->data, v->len);
            break;

        case 'z':
            snprintf(num, sizeof(num), "%zu", va_arg(args, size_t));
            buf = shim_copy(buf, last, (u_char *) num, strlen(num));
            break;

        case 'i':
            if (is_unsigned) {
                snprintf(num, sizeof(num), "%lu",
                         (unsigned long) va_arg(args, ngx_uint_t));
            } else {
                snprintf(num, sizeof(num), "%ld",
                         (long) va_arg(args, ngx_int_t));
            }
            buf = shim_copy(buf, last, (u_char *) num, strlen(num));
            break;

        case 'd':
            snprintf(num, sizeof(num), is_unsigned ? "%u" : "%d",
                     va_arg(args, int));
            buf = shim_copy(buf, last, (u_char *) num, strlen(num));
            break;

        case 'O':
            snprintf(num, sizeof(num), "%lld",
                     (long long) va_arg(args, off_t));
            buf = shim_copy(buf, last, (u_char *) num, strlen(num));
            break;

        case 'L':
            snprintf(num, sizeof(num), "%llu",
                     (unsigned long long) va_arg(args, uint64_t));
            buf = shim_copy(buf, last, (u_char *) num, strlen(num));
            break;

        case 'c':
            *buf++ = (u_char) va_arg(args, int);
            break;

        case '%':
            *buf++ = '%';
            break;

        default:
            /* a format the shim does not know: make it visible */
            buf = shim_copy(buf, last, (u_char *) "<?fmt>", 6);
            break;
        }
    }

    return buf;
}


u_char *
ngx_slprintf(u_char *buf, u_char *last, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, last, fmt, args);
    va_end(args);

    return p;
}


u_char *
ngx_snprintf(u_char *buf, size_t max, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + max, fmt, args);
    va_end(args);

    return p;
}
