
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Templates: configured values such as "startup:$signal_claim_startupId"
 * or "repo:{/repository/name}" whose variables, claims and pointers can
 * only ever give literal text.  At the bottom of the include graph.
 */


#ifndef _NGX_SIGNAL_TPL_H_INCLUDED_
#define _NGX_SIGNAL_TPL_H_INCLUDED_


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


ngx_int_t ngx_signal_tpl_compile(ngx_conf_t *cf, ngx_str_t *value,
    ngx_uint_t flags, ngx_signal_tpl_t *tpl);
ngx_int_t ngx_signal_tpl_eval(ngx_http_request_t *r, ngx_signal_tpl_t *tpl,
    ngx_signal_tpl_ctx_t *ctx, ngx_str_t *out);
ngx_signal_tpl_part_t *ngx_signal_tpl_first_variable(ngx_signal_tpl_t *tpl);


#endif /* _NGX_SIGNAL_TPL_H_INCLUDED_ */
