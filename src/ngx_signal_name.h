
/*
 * Copyright (C) ngx_signal_module authors
 *
 * Room and event names.
 */


#ifndef _NGX_SIGNAL_NAME_H_INCLUDED_
#define _NGX_SIGNAL_NAME_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * Room and event names: 1..max bytes of [A-Za-z0-9_.:@/+=-]; a room may
 * end in ":*" (a family) when allow_family is set.  Returns NULL when the
 * name is valid, otherwise a reason for a human.
 */
const char *ngx_signal_name_room(u_char *p, size_t len, size_t max,
    ngx_uint_t allow_family);
const char *ngx_signal_name_event(u_char *p, size_t len, size_t max);

/* "prefix:*" → returns 1 */
ngx_uint_t ngx_signal_name_is_family(u_char *p, size_t len);


#endif /* _NGX_SIGNAL_NAME_H_INCLUDED_ */
