
/*
 * Copyright (C) ngx_signal_module authors
 *
 * signal_status: JSON counters kept in the shared memory zone with atomic
 * updates.  Each worker owns a pid-tagged slot for its connection count;
 * the slot of a worker that died is taken over by the next one.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal.h"


static ngx_uint_t  ngx_signal_status_codes[NGX_SIGNAL_STATUS_CODES - 1] = {
    1000, 1001, 1002, 1003, 1007, 1009, 1011, NGX_SIGNAL_CLOSE_SLOW_CONSUMER
};


ngx_signal_stats_t         *ngx_signal_stats;
ngx_signal_worker_stats_t  *ngx_signal_worker_stats;


ngx_int_t
ngx_signal_status_init_worker(ngx_cycle_t *cycle)
{
    ngx_uint_t                  i;
    ngx_atomic_uint_t           pid;
    ngx_signal_stats_t         *st;
    ngx_signal_main_conf_t     *smcf;
    ngx_signal_worker_stats_t  *w;

    smcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_signal_module);

    if (smcf == NULL || smcf->zone == NULL) {
        return NGX_OK;
    }

    st = ngx_signal_zone_stats(smcf->zone);

    /*
     * Free the slots of workers that died (SIGKILL, crash): their
     * connections no longer count and their log cursor must not hold
     * back the event log.
     */

    for (i = 0; i < NGX_SIGNAL_STATUS_WORKERS; i++) {
        pid = st->workers[i].pid;

        if (pid != 0 && pid != (ngx_atomic_uint_t) ngx_pid
            && kill((ngx_pid_t) pid, 0) == -1 && ngx_errno == NGX_ESRCH)
        {
            (void) ngx_atomic_cmp_set(&st->workers[i].pid, pid, 0);
        }
    }

    for (i = 0; i < NGX_SIGNAL_STATUS_WORKERS; i++) {
        w = &st->workers[i];
        pid = w->pid;

        /* a free slot, or one left by a worker that is gone */

        if (pid != 0 && (pid == (ngx_atomic_uint_t) ngx_pid
                         || kill((ngx_pid_t) pid, 0) == 0))
        {
            continue;
        }

        if (ngx_atomic_cmp_set(&w->pid, pid, ngx_pid)) {
            w->connections = 0;
            ngx_signal_worker_stats = w;
            break;
        }
    }

    if (ngx_signal_worker_stats == NULL) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "signal: more than %d workers share signal_zone; "
                      "signal_status leaves this one out",
                      NGX_SIGNAL_STATUS_WORKERS);
    }

    ngx_signal_stats = st;

    return NGX_OK;
}


void
ngx_signal_status_exit_worker(void)
{
    if (ngx_signal_worker_stats) {
        ngx_signal_worker_stats->connections = 0;
        ngx_signal_worker_stats->pid = 0;
        ngx_signal_worker_stats = NULL;
    }

    ngx_signal_stats = NULL;
}


void
ngx_signal_status_count_close(ngx_uint_t code)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_SIGNAL_STATUS_CODES - 1; i++) {
        if (ngx_signal_status_codes[i] == code) {
            break;
        }
    }

    ngx_signal_count(closes[i], 1);
}


ngx_int_t
ngx_signal_status_handler(ngx_http_request_t *r)
{
    u_char                     *body, *p;
    size_t                      size, used, len;
    ngx_uint_t                  i, n, total;
    ngx_atomic_uint_t           pid;
    ngx_signal_stats_t         *st;
    ngx_signal_main_conf_t     *smcf;
    ngx_signal_worker_stats_t  *w;

    if (r->method != NGX_HTTP_GET && r->method != NGX_HTTP_HEAD) {
        if (ngx_signal_http_add_header(r, "Allow", (u_char *) "GET, HEAD", 9)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_signal_http_error(r, NGX_HTTP_NOT_ALLOWED,
                                     "method_not_allowed", "use GET");
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    smcf = ngx_http_get_module_main_conf(r, ngx_signal_module);
    st = ngx_signal_zone_stats(smcf->zone);
    ngx_signal_zone_usage(smcf->zone, &size, &used);

    len = 1024 + NGX_SIGNAL_STATUS_WORKERS * (2 * NGX_ATOMIC_T_LEN + 32)
          + smcf->zone->shm.name.len;

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"workers\":[");
    n = 0;
    total = 0;

    for (i = 0; i < NGX_SIGNAL_STATUS_WORKERS; i++) {
        w = &st->workers[i];
        pid = w->pid;

        if (pid == 0 || kill((ngx_pid_t) pid, 0) != 0) {
            /* free, or a worker that died (counted no more) */
            continue;
        }

        p = ngx_sprintf(p, "%s{\"pid\":%uA,\"connections\":%uA}",
                        n++ ? "," : "", pid, w->connections);
        total += w->connections;
    }

    p = ngx_sprintf(p, "],\"connections\":%ui,\"connections_total\":%uA,"
                    "\"rooms\":%uA,\"events\":{\"published\":%uA,"
                    "\"delivered\":%uA},\"bytes_sent\":%uA,"
                    "\"ping_timeouts\":%uA,\"closes\":{",
                    total, st->connections_total, st->rooms, st->published,
                    st->delivered, st->bytes_sent, st->ping_timeouts);

    for (i = 0; i < NGX_SIGNAL_STATUS_CODES - 1; i++) {
        p = ngx_sprintf(p, "\"%ui\":%uA,", ngx_signal_status_codes[i],
                        st->closes[i]);
    }

    p = ngx_sprintf(p, "\"other\":%uA},\"zone\":{\"name\":\"%V\","
                    "\"size\":%uz,\"used\":%uz}}\n",
                    st->closes[NGX_SIGNAL_STATUS_CODES - 1],
                    &smcf->zone->shm.name, size, used);

    return ngx_signal_http_send_json(r, NGX_HTTP_OK, body, p - body);
}
