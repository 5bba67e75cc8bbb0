
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The cross-worker bus of the memory engine: an eventfd per worker slot,
 * wakeups by interest mask, and each worker draining the shared event log
 * in order into its rooms.
 */


#ifndef _NGX_SIGNAL_BUS_H_INCLUDED_
#define _NGX_SIGNAL_BUS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


ngx_int_t ngx_signal_bus_init_module(ngx_cycle_t *cycle);
ngx_int_t ngx_signal_bus_init_worker(ngx_cycle_t *cycle);
void ngx_signal_bus_exit_worker(void);
void ngx_signal_bus_wake(uint64_t slots);
void ngx_signal_bus_drain(ngx_log_t *log);


#endif /* _NGX_SIGNAL_BUS_H_INCLUDED_ */
