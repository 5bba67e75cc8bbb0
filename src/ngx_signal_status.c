
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
#include "ngx_signal_common.h"
#include "ngx_signal_engine.h"
#include "ngx_signal_http.h"
#include "ngx_signal_status.h"
#include "ngx_signal_zone.h"


static ngx_uint_t  ngx_signal_status_codes[NGX_SIGNAL_STATUS_CODES - 1] = {
    1000, 1001, 1002, 1003, 1007, 1009, 1011, 1012,
    NGX_SIGNAL_CLOSE_TOKEN_EXPIRED, NGX_SIGNAL_CLOSE_SLOW_CONSUMER
};


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
    size_t                      len;
    ngx_uint_t                  i, n, total;
    ngx_atomic_uint_t           pid;
    ngx_int_t                   rc;
    ngx_signal_stats_t         *st;
    ngx_signal_main_conf_t     *smcf;
    ngx_signal_worker_stats_t  *w;
    ngx_signal_zone_usage_t     u;

    if (ngx_signal_http_api_get(r, &rc) != NGX_OK) {
        return rc;
    }

    smcf = ngx_http_get_module_main_conf(r, ngx_signal_module);
    st = ngx_signal_zone_stats(smcf->zone);
    ngx_signal_zone_usage(smcf->zone, &u);

    len = 1024 + NGX_SIGNAL_STATUS_WORKERS * (3 * NGX_ATOMIC_T_LEN + 112)
          + smcf->zone->shm.name.len;

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"engine\":\"%s\",\"workers\":[",
                    smcf->engine->name);
    n = 0;
    total = 0;

    for (i = 0; i < NGX_SIGNAL_STATUS_WORKERS; i++) {
        w = &st->workers[i];
        pid = w->pid;

        if (pid == 0 || kill((ngx_pid_t) pid, 0) != 0) {
            /* free, or a worker that died (counted no more) */
            continue;
        }

        p = ngx_sprintf(p, "%s{\"pid\":%uA,\"connections\":%uA,"
                        "\"wakeups\":%uA",
                        n++ ? "," : "", pid, w->connections, w->wakeups);

        if (smcf->engine->status) {
            p = smcf->engine->status(p, body + len, w);
        }

        *p++ = '}';
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
                    "\"size\":%uz,\"used\":%uz,\"presence\":%uz,"
                    "\"presence_max\":%uz,\"anonymous\":%uz,"
                    "\"anonymous_max\":%uz}}\n",
                    st->closes[NGX_SIGNAL_STATUS_CODES - 1],
                    &smcf->zone->shm.name, u.size, u.used, u.presence,
                    u.presence_max, u.anonymous, u.anonymous_max);

    return ngx_signal_http_send_json(r, NGX_HTTP_OK, body, p - body);
}
