
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Log helpers (see ngx_signal_log.h).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_signal_log.h"


/*
 * Text from outside (a request, Redis) made safe for a log line:
 * backslashes, control and non-ASCII bytes escaped (a line break in any
 * encoding, a terminal control); cut at last.
 */

u_char *
ngx_signal_log_escape(u_char *dst, u_char *last, u_char *src, size_t len)
{
    u_char         ch;
    size_t         i;
    static u_char  hex[] = "0123456789abcdef";

    for (i = 0; i < len; i++) {
        ch = src[i];

        if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
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
