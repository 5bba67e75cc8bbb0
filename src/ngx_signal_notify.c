
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The notify location: POST a JSON envelope, get 202 with the seq of every
 * (event, room) published.  The whole batch is validated before anything is
 * published, so a 400 means nothing went out.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal.h"


static void ngx_signal_notify_body(ngx_http_request_t *r);


static ngx_signal_log_limit_t  ngx_signal_notify_full;


ngx_int_t
ngx_signal_notify_handler(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_signal_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_signal_module);

    /* before anything else: nothing is read for an unknown caller */

    if (slcf->api_secrets
        && ngx_signal_secret_check(r, slcf->api_secrets, &rc) != NGX_OK)
    {
        return rc;
    }

    return ngx_signal_http_read_json(r, ngx_signal_notify_body);
}


static void
ngx_signal_notify_body(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_str_t               body;
    ngx_signal_envelope_t   env;
    ngx_signal_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_signal_module);

    rc = ngx_signal_http_body(r, &body);

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (body.len == 0) {
        ngx_http_finalize_request(r,
            ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST, "invalid_json",
                                  "the body is empty; send a JSON object "
                                  "such as {\"room\":\"r\",\"event\":\"e\","
                                  "\"data\":{}}"));
        return;
    }

    ngx_memzero(&env, sizeof(ngx_signal_envelope_t));

    env.max_events = slcf->notify_max_events;
    env.max_rooms = slcf->notify_max_rooms;
    env.max_name_len = slcf->max_name_length;

    if (ngx_signal_envelope_parse(&env, r->pool, body.data, body.len)
        != NGX_OK)
    {
        if (env.error_len == 0) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_http_finalize_request(r,
            ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST,
                                  env.invalid_json ? "invalid_json"
                                                   : "invalid_event",
                                  "%*s", env.error_len, env.error));
        return;
    }

    ngx_http_finalize_request(r, ngx_signal_publish(r, env.events, NULL, 0));
}


/*
 * Publish validated events (notify, webhooks): the answer's status, or
 * NGX_DONE while Redis works on it.  "once" is a webhook id that Redis
 * deduplicates for ttl seconds (the memory engine does it before).
 */

ngx_int_t
ngx_signal_publish(ngx_http_request_t *r, ngx_array_t *events,
    ngx_str_t *once, time_t ttl)
{
    uint64_t                *seqs, wake;
    ngx_int_t                rc;
    ngx_uint_t               i, n;
    ngx_signal_event_t      *ev;
    ngx_signal_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_signal_module);

    ev = events->elts;
    n = 0;

    for (i = 0; i < events->nelts; i++) {
        n += ev[i].nrooms;
    }

    if (ngx_signal_redis) {
        /* Redis numbers and carries the batch, atomically */
        return ngx_signal_redis_publish(r, events, n, once, ttl);
    }

    seqs = ngx_palloc(r->pool, n * sizeof(uint64_t));
    if (seqs == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* every number of the batch, or none: nothing is half-published */

    rc = ngx_signal_zone_assign(smcf->zone, events, seqs, r->pool, &wake);

    if (rc == NGX_DECLINED) {
        ngx_signal_log_limited(NGX_LOG_ERR, r->connection->log,
                               &ngx_signal_notify_full,
                               "signal: signal_zone \"%V\" cannot hold the "
                               "rooms of a %ui-room publish; raise its size",
                               &smcf->zone->shm.name, n);

        return ngx_signal_http_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "zone_full",
                                     "the shared memory zone cannot hold "
                                     "these rooms; nothing was published");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_signal_count(published, n);

    /*
     * The workers with members read the log; this one delivers in log
     * order too.
     */

    ngx_signal_bus_wake(wake);
    ngx_signal_bus_drain(r->connection->log);

    return ngx_signal_notify_answer(r, events, seqs);
}


/* 202 with the (room, event, seq) of every published event */

ngx_int_t
ngx_signal_notify_answer(ngx_http_request_t *r, ngx_array_t *events,
    uint64_t *seqs)
{
    u_char              *out, *p;
    size_t               len;
    ngx_uint_t           i, j, n;
    ngx_signal_event_t  *ev;

    ev = events->elts;
    len = sizeof("{\"published\":[]}\n") - 1;

    for (i = 0; i < events->nelts; i++) {
        for (j = 0; j < ev[i].nrooms; j++) {
            len += sizeof(",{\"room\":\"\",\"event\":\"\",\"seq\":}") - 1
                   + ev[i].rooms[j].len + ev[i].event.len + NGX_INT64_LEN;
        }
    }

    out = ngx_pnalloc(r->pool, len);
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(out, "{\"published\":[", sizeof("{\"published\":[") - 1);
    n = 0;

    for (i = 0; i < events->nelts; i++) {
        for (j = 0; j < ev[i].nrooms; j++, n++) {
            p = ngx_sprintf(p, "%s{\"room\":\"%V\",\"event\":\"%V\","
                            "\"seq\":%uL}", n ? "," : "",
                            &ev[i].rooms[j], &ev[i].event, seqs[n]);
        }
    }

    p = ngx_cpymem(p, "]}\n", 3);

    return ngx_signal_http_send_json(r, NGX_HTTP_ACCEPTED, out, p - out);
}
