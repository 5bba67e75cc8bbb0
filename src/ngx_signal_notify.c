
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
#include "ngx_signal_notify.h"
#include "ngx_signal_access.h"
#include "ngx_signal_engine.h"
#include "ngx_signal_envelope.h"
#include "ngx_signal_http.h"
#include "ngx_signal_dedupe.h"
#include <openssl/evp.h>


static void ngx_signal_notify_body(ngx_http_request_t *r);
static ngx_int_t ngx_signal_notify_idempotency(ngx_http_request_t *r,
    ngx_str_t *body, ngx_str_t *key, ngx_str_t *digest, ngx_int_t *rc);
static void ngx_signal_notify_published(ngx_signal_publish_t *pub);
static ngx_int_t ngx_signal_notify_answer(ngx_http_request_t *r,
    ngx_signal_publish_t *pub);


ngx_int_t
ngx_signal_notify_handler(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_signal_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_signal_module);

    /* before anything else: nothing is read for an unknown caller */

    if (slcf->api_secrets
        && ngx_signal_access_secret_check(r, slcf->api_secrets, &rc) != NGX_OK)
    {
        return rc;
    }

    return ngx_signal_http_read_json(r, ngx_signal_notify_body);
}


static void
ngx_signal_notify_body(ngx_http_request_t *r)
{
    time_t                  ttl;
    ngx_int_t               rc;
    ngx_str_t               body, key, digest;
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

    if (ngx_signal_notify_idempotency(r, &body, &key, &digest, &rc)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, rc);
        return;
    }

    /* a key is remembered as long as history is kept */

    ttl = slcf->history_age ? slcf->history_age
                            : NGX_SIGNAL_HISTORY_DEFAULT_AGE;

    rc = ngx_signal_notify_publish(r, env.events, key.len ? &key : NULL,
                                   digest.len ? &digest : NULL, ttl);

    ngx_http_finalize_request(r, rc);
}


/*
 * Idempotency-Key: a retry within the history age (signal_history) gets
 * the answer of the first publish and publishes nothing; the key with
 * another body is refused.  NGX_OK (key empty without the header), or
 * NGX_DECLINED with the answer's status in *rc.
 */

static ngx_int_t
ngx_signal_notify_idempotency(ngx_http_request_t *r, ngx_str_t *body,
    ngx_str_t *key, ngx_str_t *digest, ngx_int_t *rc)
{
    size_t            i;
    u_char           *p;
    unsigned int      len;
    ngx_table_elt_t  *h;
    u_char            md[EVP_MAX_MD_SIZE];

    ngx_str_null(key);
    ngx_str_null(digest);

    h = ngx_signal_http_find_header(r, "Idempotency-Key", 15, NULL);

    if (h == NULL) {
        return NGX_OK;
    }

    for (i = 0; i < h->value.len; i++) {
        if (h->value.data[i] <= 0x20 || h->value.data[i] >= 0x7f) {
            break;
        }
    }

    if (h->value.len == 0 || i < h->value.len || h->value.len > 200
        || ngx_signal_http_find_header(r, "Idempotency-Key", 15, h))
    {
        *rc = ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST,
                                    "invalid_idempotency_key",
                                    "Idempotency-Key must be one value of "
                                    "1 to 200 visible ASCII characters, "
                                    "such as a UUID");
        return NGX_DECLINED;
    }

    key->data = ngx_pnalloc(r->pool, sizeof("notify:") - 1 + h->value.len);
    digest->data = ngx_pnalloc(r->pool, NGX_SIGNAL_DIGEST_LEN);

    if (key->data == NULL || digest->data == NULL
        || EVP_Digest(body->data, body->len, md, &len, EVP_sha256(), NULL)
           != 1)
    {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    /* a namespace of its own: never a webhook delivery's key */

    p = ngx_cpymem(key->data, "notify:", sizeof("notify:") - 1);
    p = ngx_cpymem(p, h->value.data, h->value.len);
    key->len = p - key->data;

    digest->len = ngx_hex_dump(digest->data, md, len) - digest->data;

    return NGX_OK;
}


/*
 * Publish validated events (notify, webhooks) through the engine: the
 * answer's status, or NGX_DONE while the engine works on it.  "once" is
 * a key the engine remembers for ttl seconds: a second publish with it
 * is a duplicate, or with a digest, answered as the first was.
 */

ngx_int_t
ngx_signal_notify_publish(ngx_http_request_t *r, ngx_array_t *events,
    ngx_str_t *once, ngx_str_t *digest, time_t ttl)
{
    ngx_uint_t              i;
    ngx_signal_event_t     *ev;
    ngx_signal_publish_t   *pub;
    ngx_signal_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_signal_module);

    pub = ngx_pcalloc(r->pool, sizeof(ngx_signal_publish_t));
    if (pub == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ev = events->elts;

    for (i = 0; i < events->nelts; i++) {
        pub->n += ev[i].nrooms;
    }

    pub->events = events;
    pub->ttl = ttl;
    pub->history = slcf->history;
    pub->history_age = slcf->history_age;
    pub->pool = r->pool;
    pub->log = r->connection->log;
    pub->done = ngx_signal_notify_published;
    pub->data = r;

    if (once) {
        pub->once = *once;
    }

    if (digest) {
        pub->digest = *digest;
    }

    if (ngx_signal_engine->publish(pub) == NGX_AGAIN) {
        r->main->count++;
        return NGX_DONE;
    }

    return ngx_signal_notify_answer(r, pub);
}


static void
ngx_signal_notify_published(ngx_signal_publish_t *pub)
{
    ngx_http_request_t  *r = pub->data;

    ngx_http_finalize_request(r, ngx_signal_notify_answer(r, pub));
}


/*
 * The engine's result: 202 with the (room, event, seq, epoch) of every
 * published event, 200 for a duplicate, 503 with the engine's reason.
 */

static ngx_int_t
ngx_signal_notify_answer(ngx_http_request_t *r, ngx_signal_publish_t *pub)
{
    u_char              *out, *p;
    size_t               len;
    ngx_uint_t           i, j, n;
    ngx_signal_event_t  *ev;

    switch (pub->result) {

    case NGX_SIGNAL_PUBLISHED:
        break;

    case NGX_SIGNAL_REPLAYED:
        if (ngx_signal_http_add_header(r, "Idempotent-Replayed",
                                       (u_char *) "true", 4)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        break;

    case NGX_SIGNAL_CONFLICT:
        return ngx_signal_http_error(r, 422,
                                     "idempotency_key_reused",
                                     "this Idempotency-Key was used for "
                                     "another body; nothing was published");

    case NGX_SIGNAL_IN_PROGRESS:
        return ngx_signal_http_error(r, NGX_HTTP_CONFLICT,
                                     "idempotency_key_in_progress",
                                     "a publish with this Idempotency-Key "
                                     "is in progress; retry in a moment");

    case NGX_SIGNAL_DUPLICATE:
        return ngx_signal_http_send_json(r, NGX_HTTP_OK,
                                         (u_char *) "{\"duplicate\":true}\n",
                                         sizeof("{\"duplicate\":true}\n")
                                         - 1);

    default:
        if (pub->error == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_signal_http_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     pub->error, "%V", &pub->detail);
    }

    ev = pub->events->elts;
    len = sizeof("{\"published\":[]}\n") - 1;

    for (i = 0; i < pub->events->nelts; i++) {
        for (j = 0; j < ev[i].nrooms; j++) {
            len += sizeof(",{\"room\":\"\",\"event\":\"\",\"seq\":,"
                          "\"epoch\":\"0123456789abcdef\"}") - 1
                   + ev[i].rooms[j].len + ev[i].event.len + NGX_INT64_LEN;
        }
    }

    out = ngx_pnalloc(r->pool, len);
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(out, "{\"published\":[", sizeof("{\"published\":[") - 1);
    n = 0;

    for (i = 0; i < pub->events->nelts; i++) {
        for (j = 0; j < ev[i].nrooms; j++, n++) {
            p = ngx_sprintf(p, "%s{\"room\":\"%V\",\"event\":\"%V\","
                            "\"seq\":%uL,\"epoch\":\"%016xL\"}",
                            n ? "," : "", &ev[i].rooms[j], &ev[i].event,
                            pub->seqs[n], pub->epochs ? pub->epochs[n] : 0);
        }
    }

    p = ngx_cpymem(p, "]}\n", 3);

    return ngx_signal_http_send_json(r, NGX_HTTP_ACCEPTED, out, p - out);
}
