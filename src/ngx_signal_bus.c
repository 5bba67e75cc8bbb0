
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The cross-worker bus of the memory engine.  A publish appends its
 * (event, room) records to the shared event log (ngx_signal_zone.c) and
 * wakes, through eventfds, only the worker slots with members of the rooms
 * (presence keeps that mask).  Every worker reads the log in id order,
 * which is seq order, and delivers the records meant for it to its own
 * members; no worker owns a room.
 *
 * There is one eventfd per worker slot, made by the master and kept across
 * reloads that keep the zone: old and new workers find each other through
 * the slots.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <sys/eventfd.h>
#include "ngx_signal_bus.h"
#include "ngx_signal_rooms.h"
#include "ngx_signal_status.h"
#include "ngx_signal_zone.h"


static void ngx_signal_bus_read(ngx_event_t *rev);


/* made by the master for the zone at ngx_signal_bus_zone_addr */
static int                   ngx_signal_bus_fds[NGX_SIGNAL_STATUS_WORKERS];
static ngx_uint_t            ngx_signal_bus_ready;
static u_char               *ngx_signal_bus_zone_addr;

static ngx_connection_t     *ngx_signal_bus_conn;
static ngx_signal_record_t  *ngx_signal_bus_last;


/*
 * In the master (and nginx -t): inherited by every worker through fork.
 * A reload that keeps the zone keeps them; a new zone (its size changed)
 * gets new ones, as its slots are not the old zone's slots.
 */

ngx_int_t
ngx_signal_bus_init_module(ngx_cycle_t *cycle)
{
    ngx_uint_t               i;
    ngx_signal_main_conf_t  *smcf;

    smcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_signal_module);

    if (smcf == NULL || smcf->zone == NULL) {
        return NGX_OK;
    }

    if (ngx_signal_bus_ready) {
        if (ngx_signal_bus_zone_addr == smcf->zone->shm.addr) {
            return NGX_OK;
        }

        /* the old workers have their own copies */

        for (i = 0; i < NGX_SIGNAL_STATUS_WORKERS; i++) {
            (void) close(ngx_signal_bus_fds[i]);
        }

        ngx_signal_bus_ready = 0;
    }

    for (i = 0; i < NGX_SIGNAL_STATUS_WORKERS; i++) {
        ngx_signal_bus_fds[i] = eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC);

        if (ngx_signal_bus_fds[i] == -1) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "signal: eventfd() failed");

            while (i--) {
                (void) close(ngx_signal_bus_fds[i]);
            }

            return NGX_ERROR;
        }
    }

    ngx_signal_bus_ready = 1;
    ngx_signal_bus_zone_addr = smcf->zone->shm.addr;

    return NGX_OK;
}


ngx_int_t
ngx_signal_bus_init_worker(ngx_cycle_t *cycle)
{
    ngx_connection_t  *c;

    if (!ngx_signal_bus_ready || ngx_signal_worker_slot == NGX_ERROR) {
        return NGX_OK;
    }

    /* the other slots' descriptors stay open: this worker writes to them */

    c = ngx_get_connection(ngx_signal_bus_fds[ngx_signal_worker_slot],
                           cycle->log);
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
    ngx_signal_bus_last = NULL;

    return NGX_OK;
}


void
ngx_signal_bus_exit_worker(void)
{
    if (ngx_signal_bus_conn) {
        ngx_close_connection(ngx_signal_bus_conn);
        ngx_signal_bus_conn = NULL;
    }
}


void
ngx_signal_bus_wake(uint64_t slots)
{
    uint64_t    one;
    ngx_uint_t  i;

    if (!ngx_signal_bus_ready) {
        return;
    }

    one = 1;

    for (i = 0; slots; i++, slots >>= 1) {
        if ((slots & 1) && (ngx_int_t) i != ngx_signal_worker_slot) {
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

    ngx_signal_worker_stats->wakeups++;    /* written by this worker only */

    ngx_signal_bus_drain(rev->log);
}


/* deliver every record meant for this worker that it has not read yet */

void
ngx_signal_bus_drain(ngx_log_t *log)
{
    u_char                 *p;
    uint64_t                bit;
    ngx_signal_record_t    *rec;
    ngx_signal_delivery_t   d;

    if (ngx_signal_bus_conn == NULL) {
        return;
    }

    bit = (uint64_t) 1 << ngx_signal_worker_slot;

    for ( ;; ) {

        if (ngx_signal_bus_last) {
            rec = ngx_signal_bus_last->next;

        } else {
            rec = ngx_signal_zone_log_next(ngx_signal_worker_zone,
                                           ngx_signal_worker_stats->cursor);
        }

        if (rec == NULL) {
            return;
        }

        /* the record was complete before it was linked */
        ngx_memory_barrier();

        if (rec->mask & bit) {
            p = rec->data;

            d.room.data = p;
            d.room.len = rec->room_len;
            p += d.room.len;

            d.event.data = p;
            d.event.len = rec->event_len;
            p += d.event.len;

            d.data.data = p;
            d.data.len = rec->data_len;
            d.seq = rec->seq;
            d.epoch = rec->epoch;

            if (ngx_signal_rooms_deliver(&d, log) != NGX_OK) {
                ngx_log_error(NGX_LOG_ALERT, log, 0,
                              "signal: delivering \"%V\" to \"%V\" failed",
                              &d.event, &d.room);
            }
        }

        ngx_signal_bus_last = rec;
        ngx_signal_worker_stats->cursor = rec->id;
    }
}
