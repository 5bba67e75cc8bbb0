
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Configuration helpers every directive handler may use, at the bottom of
 * the include graph: complex values, lists of them, secrets read from
 * files, templates whose variables can only ever give literal text, and
 * log helpers (escaping, a limit on how often a line is written).
 */


#ifndef _NGX_SIGNAL_CONF_H_INCLUDED_
#define _NGX_SIGNAL_CONF_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* template parts */
#define NGX_SIGNAL_TPL_LITERAL      0
#define NGX_SIGNAL_TPL_VARIABLE     1     /* an nginx variable */
#define NGX_SIGNAL_TPL_CLAIM        2     /* $signal_claim_<path>, exact */
#define NGX_SIGNAL_TPL_POINTER      3     /* {/json/pointer} of a body */

/* what a template may contain besides literal text and variables */
#define NGX_SIGNAL_TPL_CLAIMS       0x01
#define NGX_SIGNAL_TPL_POINTERS     0x02


typedef struct {
    ngx_uint_t                  type;
    ngx_str_t                   text;     /* literal text, or the name */
    ngx_http_complex_value_t   *value;    /* NGX_SIGNAL_TPL_VARIABLE */
} ngx_signal_tpl_part_t;


/*
 * A configured value such as "startup:$signal_claim_startupId".  Only the
 * configuration's own text is ever interpreted (a "*", a "{/pointer}");
 * what a variable, a claim or a pointer gives is inserted as it is, after
 * the caller's check of that value alone.
 */
typedef struct {
    ngx_str_t                   source;   /* as configured, for messages */
    ngx_signal_tpl_part_t      *parts;
    ngx_uint_t                  nparts;
    ngx_uint_t                  nvars;    /* parts that are not literal */
} ngx_signal_tpl_t;


/* the value of a claim or pointer part; NGX_DECLINED: it has none */
typedef ngx_int_t (*ngx_signal_tpl_resolve_pt)(void *data,
    ngx_signal_tpl_part_t *part, ngx_pool_t *pool, ngx_str_t *value);

/* 1 when what a variable gave may be inserted */
typedef ngx_uint_t (*ngx_signal_tpl_check_pt)(ngx_str_t *value);


typedef struct {
    ngx_signal_tpl_resolve_pt   resolve;
    void                       *data;
    ngx_signal_tpl_check_pt     check;
    ngx_signal_tpl_part_t      *bad;      /* out: the part refused */
} ngx_signal_tpl_ctx_t;


/* a line logged at most once per interval, with how many were not */
typedef struct {
    ngx_msec_t                  last;
    ngx_uint_t                  suppressed;
    unsigned                    logged:1;
} ngx_signal_log_limit_t;

#define NGX_SIGNAL_LOG_INTERVAL     10000


ngx_int_t ngx_signal_conf_complex(ngx_conf_t *cf, ngx_str_t *value,
    ngx_http_complex_value_t *cv);
char *ngx_signal_conf_set_values_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_signal_conf_set_handler(ngx_conf_t *cf,
    ngx_http_handler_pt handler);
ngx_int_t ngx_signal_conf_read_secret(ngx_conf_t *cf, ngx_str_t *value,
    size_t max);

ngx_int_t ngx_signal_tpl_compile(ngx_conf_t *cf, ngx_str_t *value,
    ngx_uint_t flags, ngx_signal_tpl_t *tpl);
ngx_int_t ngx_signal_tpl_eval(ngx_http_request_t *r, ngx_signal_tpl_t *tpl,
    ngx_signal_tpl_ctx_t *ctx, ngx_str_t *out);
ngx_signal_tpl_part_t *ngx_signal_tpl_first_variable(ngx_signal_tpl_t *tpl);

u_char *ngx_signal_escape(u_char *dst, u_char *last, u_char *src,
    size_t len);
void ngx_signal_log_limited(ngx_uint_t level, ngx_log_t *log,
    ngx_signal_log_limit_t *limit, const char *fmt, ...);


#endif /* _NGX_SIGNAL_CONF_H_INCLUDED_ */
