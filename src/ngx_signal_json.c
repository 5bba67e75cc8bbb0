
/*
 * Copyright (C) ngx_signal_module authors
 *
 * JSON checks (see ngx_signal_json.h).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <yajl/yajl_parse.h>
#include "ngx_signal_json.h"


/* one complete JSON value (strings valid UTF-8), nothing around it */

ngx_uint_t
ngx_signal_json_valid(u_char *p, size_t len)
{
    yajl_handle  h;
    yajl_status  st;

    h = yajl_alloc(NULL, NULL, NULL);
    if (h == NULL) {
        return 0;
    }

    st = yajl_parse(h, p, len);

    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }

    yajl_free(h);

    return st == yajl_status_ok;
}


/*
 * Whether JSON text has a "\u0000" escape: a parser that hands out C
 * strings (yajl's tree) cuts such a string short.
 */

ngx_uint_t
ngx_signal_json_has_nul(u_char *p, size_t len)
{
    size_t  i;

    for (i = 0; i + 5 < len; i++) {
        if (p[i] != '\\') {
            continue;
        }

        if (p[i + 1] == 'u' && p[i + 2] == '0' && p[i + 3] == '0'
            && p[i + 4] == '0' && p[i + 5] == '0')
        {
            return 1;
        }

        /* an escaped character, a backslash included, is skipped */
        i++;
    }

    return 0;
}
