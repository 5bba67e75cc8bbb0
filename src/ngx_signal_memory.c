
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The memory engine, for one host: a publish takes the zone's lock once,
 * numbers the batch and appends it to the shared event log
 * (ngx_signal_zone.c), then wakes the workers with members of its rooms
 * (ngx_signal_bus.c), which hand each record to their rooms in log order.
 * A "once" key is remembered in the zone (ngx_signal_dedupe.c).  Every
 * room is ready at once: the log reaches every worker.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_log.h"
#include "ngx_signal_engine.h"
#include "ngx_signal_bus.h"
#include "ngx_signal_dedupe.h"
#include "ngx_signal_presence.h"
#include "ngx_signal_zone.h"


static ngx_int_t ngx_signal_memory_init_worker(ngx_cycle_t *cycle);
static void ngx_signal_memory_exit_worker(void);
static ngx_int_t ngx_signal_memory_publish(ngx_signal_publish_t *pub);
static ngx_uint_t ngx_signal_memory_ready(ngx_str_t *room);
static ngx_int_t ngx_signal_memory_presence_get(
    ngx_signal_presence_query_t *q);
static ngx_int_t ngx_signal_memory_history(ngx_signal_history_t *h);


ngx_signal_engine_t  ngx_signal_memory_engine = {
    "memory",
    0,
    ngx_signal_bus_init_module,
    ngx_signal_memory_init_worker,
    ngx_signal_memory_exit_worker,
    ngx_signal_memory_publish,
    NULL,                                  /* interest: presence masks */
    ngx_signal_memory_ready,
    NULL,                                  /* presence_put: in the zone */
    ngx_signal_memory_presence_get,
    ngx_signal_memory_history,
    NULL                                   /* status */
};


ngx_signal_engine_t  *ngx_signal_engine;


static ngx_signal_log_limit_t  ngx_signal_memory_full;


static ngx_int_t
ngx_signal_memory_init_worker(ngx_cycle_t *cycle)
{
    return ngx_signal_bus_init_worker(cycle);
}


static void
ngx_signal_memory_exit_worker(void)
{
    ngx_signal_bus_exit_worker();
}


/*
 * Every number of the batch, or none: nothing is half-published.  The
 * workers with members read the log; this one delivers in log order too,
 * before it answers.
 */

static ngx_int_t
ngx_signal_memory_publish(ngx_signal_publish_t *pub)
{
    uint64_t    wake;
    ngx_int_t   rc;

    if (pub->once.len) {
        rc = ngx_signal_dedupe_check(ngx_signal_worker_zone, pub);

        if (rc == NGX_DECLINED) {
            /* pub->result says how */
            return NGX_OK;
        }

        if (rc == NGX_ERROR) {
            /* delivered once at least, maybe twice: better than never */
            ngx_signal_log_limited(NGX_LOG_WARN, pub->log,
                                   &ngx_signal_memory_full,
                                   "signal: cannot remember a delivery: "
                                   "signal_zone is full; a replay of it "
                                   "would be published again");
            ngx_str_null(&pub->once);
        }
    }

    pub->seqs = ngx_palloc(pub->pool, pub->n * sizeof(uint64_t));
    pub->epochs = ngx_palloc(pub->pool, pub->n * sizeof(uint64_t));

    if (pub->seqs == NULL || pub->epochs == NULL) {
        rc = NGX_ERROR;
        goto failed;
    }

    rc = ngx_signal_zone_assign(ngx_signal_worker_zone, pub, &wake);

    if (rc != NGX_OK) {
        goto failed;
    }

    ngx_signal_count(published, pub->n);

    if (pub->once.len) {
        ngx_signal_dedupe_done(ngx_signal_worker_zone, pub);
    }

    ngx_signal_bus_wake(wake);
    ngx_signal_bus_drain(pub->log);

    pub->result = NGX_SIGNAL_PUBLISHED;

    return NGX_OK;

failed:

    if (pub->once.len) {
        /* not published: a retry must get through */
        ngx_signal_dedupe_forget(ngx_signal_worker_zone, &pub->once);
    }

    pub->result = NGX_SIGNAL_REFUSED;

    if (rc == NGX_DECLINED) {
        ngx_signal_log_limited(NGX_LOG_ERR, pub->log,
                               &ngx_signal_memory_full,
                               "signal: signal_zone \"%V\" cannot hold the "
                               "rooms of a %ui-room publish; raise its size",
                               &ngx_signal_worker_zone->shm.name, pub->n);

        pub->error = "zone_full";
        ngx_str_set(&pub->detail, "the shared memory zone cannot hold "
                                  "these rooms; nothing was published");
        return NGX_OK;
    }

    pub->error = NULL;

    return NGX_OK;
}


static ngx_uint_t
ngx_signal_memory_ready(ngx_str_t *room)
{
    return 1;
}


/* the zone's history: at once */

static ngx_int_t
ngx_signal_memory_history(ngx_signal_history_t *h)
{
    if (ngx_signal_zone_history(ngx_signal_worker_zone, h) != NGX_OK) {
        h->failed = 1;
    }

    return NGX_OK;
}


/* this host is all there is */

static ngx_int_t
ngx_signal_memory_presence_get(ngx_signal_presence_query_t *q)
{
    ngx_signal_presence_count(q);

    return NGX_OK;
}
