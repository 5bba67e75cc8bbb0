
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The rules of room and event names (see ngx_signal_name.h).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_signal_name.h"


static ngx_uint_t ngx_signal_name_char(u_char ch);


ngx_uint_t
ngx_signal_name_is_family(u_char *p, size_t len)
{
    return len >= 3 && p[len - 1] == '*' && p[len - 2] == ':';
}


static ngx_uint_t
ngx_signal_name_char(u_char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
        || (ch >= '0' && ch <= '9'))
    {
        return 1;
    }

    switch (ch) {
    case '_':
    case '.':
    case ':':
    case '@':
    case '/':
    case '+':
    case '=':
    case '-':
        return 1;
    }

    return 0;
}


const char *
ngx_signal_name_room(u_char *p, size_t len, size_t max,
    ngx_uint_t allow_family)
{
    size_t      i, n;
    ngx_uint_t  family;

    if (len == 0) {
        return "is empty";
    }

    if (len > max) {
        return "is longer than signal_max_name_length";
    }

    family = ngx_signal_name_is_family(p, len);

    if (family && !allow_family) {
        return "is a family (prefix:*); events go to concrete rooms";
    }

    n = family ? len - 1 : len;

    for (i = 0; i < n; i++) {
        if (!ngx_signal_name_char(p[i])) {
            return "may only contain A-Z a-z 0-9 _ . : @ / + = -";
        }
    }

    if (!family && p[len - 1] == ':') {
        return "must not end with ':'";
    }

    return NULL;
}


const char *
ngx_signal_name_event(u_char *p, size_t len, size_t max)
{
    size_t  i;

    if (len == 0) {
        return "is empty";
    }

    if (len > max) {
        return "is longer than signal_max_name_length";
    }

    for (i = 0; i < len; i++) {
        if (!ngx_signal_name_char(p[i])) {
            return "may only contain A-Z a-z 0-9 _ . : @ / + = -";
        }
    }

    return NULL;
}
