
/*
 * Copyright (C) ngx_signal_module authors
 *
 * JSON text checked without a tree: one valid value, or whether it has a
 * NUL escape (which a parser handing out C strings cuts short).
 */


#ifndef _NGX_SIGNAL_JSON_H_INCLUDED_
#define _NGX_SIGNAL_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


ngx_uint_t ngx_signal_json_valid(u_char *p, size_t len);
ngx_uint_t ngx_signal_json_has_nul(u_char *p, size_t len);


#endif /* _NGX_SIGNAL_JSON_H_INCLUDED_ */
