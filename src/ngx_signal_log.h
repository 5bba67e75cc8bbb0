
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Log helpers: text from outside made safe for a log line, and a line
 * logged at most once per interval.  At the bottom of the include graph.
 */


#ifndef _NGX_SIGNAL_LOG_H_INCLUDED_
#define _NGX_SIGNAL_LOG_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* a line logged at most once per interval, with how many were not */
typedef struct {
    ngx_msec_t                  last;
    ngx_uint_t                  suppressed;
    unsigned                    logged:1;
} ngx_signal_log_limit_t;

#define NGX_SIGNAL_LOG_INTERVAL     10000


u_char *ngx_signal_log_escape(u_char *dst, u_char *last, u_char *src,
    size_t len);
void ngx_signal_log_limited(ngx_uint_t level, ngx_log_t *log,
    ngx_signal_log_limit_t *limit, const char *fmt, ...);


#endif /* _NGX_SIGNAL_LOG_H_INCLUDED_ */
