/*
 * Copyright (C) ngx_signal_module authors
 *
 * Stand-ins for the nginx core functions the pure sources call, so that
 * they can be unit-tested without an nginx binary.
 */

#ifndef _NGX_SIGNAL_TEST_SHIM_H_INCLUDED_
#define _NGX_SIGNAL_TEST_SHIM_H_INCLUDED_

#include <ngx_config.h>
#include <ngx_core.h>

ngx_pool_t *shim_pool_create(void);
void shim_pool_destroy(ngx_pool_t *pool);

#endif
