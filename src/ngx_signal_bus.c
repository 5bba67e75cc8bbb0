
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The cross-worker bus of the memory engine.  A publish appends its
 * (event, room) records to the shared event log (ngx_signal_zone.c) and
 * wakes the other workers through eventfds created by the master before
 * fork.  Every worker drains the log in id order, which is seq order, and
 * delivers each record to its own members; no worker owns a room.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <sys/eventfd.h>
#include "ngx_signal.h"


static void ngx_signal_bus_cleanup(void *data);
static void ngx_signal_bus_read(ngx_event_t *rev);


static int                  *ngx_signal_bus_fds;
static ngx_uint_t            ngx_signal_bus_nfds;

static ngx_connection_t     *ngx_signal_bus_conn;
static ngx_shm_zone_t       *ngx_signal_bus_zone;
static ngx_signal_record_t  *ngx_signal_bus_last;


/* in the master: one eventfd per worker, inherited through fork */

ngx_int_t
ngx_signal_bus_init_module(ngx_cycle_t *cycle)
{
    ngx_uint_t           i;
    ngx_core_conf_t     *ccf;
    ngx_pool_cleanup_t  *cln;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    ngx_signal_bus_nfds = ccf->worker_processes;
    ngx_signal_bus_fds = ngx_palloc(cycle->pool,
                                    ngx_signal_bus_nfds * sizeof(int));
    if (ngx_signal_bus_fds == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cycle->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < ngx_signal_bus_nfds; i++) {
        ngx_signal_bus_fds[i] = eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC);

        if (ngx_signal_bus_fds[i] == -1) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "signal: eventfd() failed");
            ngx_signal_bus_nfds = i;
            ngx_signal_bus_cleanup(ngx_signal_bus_fds);
            return NGX_ERROR;
        }
    }

    cln->handler = ngx_signal_bus_cleanup;
    cln->data = ngx_signal_bus_fds;

    return NGX_OK;
}


static void
ngx_signal_bus_cleanup(void *data)
{
    int  *fds = data;

    ngx_uint_t  i;

    if (fds != ngx_signal_bus_fds) {
        /* the master already moved on to a newer cycle's descriptors */
        return;
    }

    for (i = 0; i < ngx_signal_bus_nfds; i++) {
        (void) close(fds[i]);
    }

    ngx_signal_bus_nfds = 0;
}


ngx_int_t
ngx_signal_bus_init_worker(ngx_cycle_t *cycle)
{
    ngx_connection_t        *c;
    ngx_signal_main_conf_t  *smcf;

    smcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_signal_module);

    if (smcf == NULL || smcf->zone == NULL || ngx_worker >= ngx_signal_bus_nfds)
    {
        return NGX_OK;
    }

    if (ngx_signal_worker_stats == NULL) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "signal: no worker slot in signal_zone: this worker "
                      "delivers only the events it publishes");
        return NGX_OK;
    }

    ngx_signal_bus_zone = smcf->zone;
    ngx_signal_bus_last = ngx_signal_zone_log_start(smcf->zone,
                                            &ngx_signal_worker_stats->cursor);

    c = ngx_get_connection(ngx_signal_bus_fds[ngx_worker], cycle->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->read->handler = ngx_signal_bus_read;
    c->read->log = cycle->log;
    c->write->log = cycle->log;
    c->data = NULL;

    /* level-triggered, as nginx's own channel */

    if (ngx_add_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
        ngx_free_connection(c);
        return NGX_ERROR;
    }

    ngx_signal_bus_conn = c;

    return NGX_OK;
}


void
ngx_signal_bus_exit_worker(void)
{
    if (ngx_signal_bus_conn) {
        ngx_close_connection(ngx_signal_bus_conn);
        ngx_signal_bus_conn = NULL;
    }

    ngx_signal_bus_zone = NULL;
}


void
ngx_signal_bus_wake(void)
{
    uint64_t    one;
    ngx_uint_t  i;

    one = 1;

    for (i = 0; i < ngx_signal_bus_nfds; i++) {
        if (i != ngx_worker) {
            /* a full counter (EAGAIN) is awake already */
            (void) write(ngx_signal_bus_fds[i], &one, sizeof(uint64_t));
        }
    }
}


static void
ngx_signal_bus_read(ngx_event_t *rev)
{
    uint64_t           n;
    ngx_connection_t  *c;

    c = rev->data;

    (void) read(c->fd, &n, sizeof(uint64_t));

    ngx_signal_bus_drain(rev->log);
}


/* deliver every record this worker has not read yet, in log order */

void
ngx_signal_bus_drain(ngx_log_t *log)
{
    u_char               *p;
    ngx_str_t             room, event, data;
    ngx_signal_record_t  *rec;

    if (ngx_signal_bus_zone == NULL) {
        return;
    }

    for ( ;; ) {

        if (ngx_signal_bus_last) {
            rec = ngx_signal_bus_last->next;

        } else {
            rec = ngx_signal_zone_log_next(ngx_signal_bus_zone,
                                           ngx_signal_worker_stats->cursor);
        }

        if (rec == NULL) {
            return;
        }

        /* the record was complete before it was linked */
        ngx_memory_barrier();

        p = rec->data;

        room.data = p;
        room.len = rec->room_len;
        p += room.len;

        event.data = p;
        event.len = rec->event_len;
        p += event.len;

        data.data = p;
        data.len = rec->data_len;

        if (ngx_signal_rooms_publish(&room, &event, &data, rec->seq, log)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "signal: delivering \"%V\" to \"%V\" failed",
                          &event, &room);
        }

        ngx_signal_bus_last = rec;
        ngx_signal_worker_stats->cursor = rec->id;
    }
}
