
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The presence API (a signal_presence location): a room's connections
 * and users across hosts, as the engine knows them, and this host's
 * counts that the engines add up.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_signal_presence.h"
#include "ngx_signal_engine.h"
#include "ngx_signal_http.h"
#include "ngx_signal_name.h"
#include "ngx_signal_zone_sh.h"


static void ngx_signal_presence_done(ngx_signal_presence_query_t *q);
static ngx_int_t ngx_signal_presence_answer(ngx_http_request_t *r,
    ngx_signal_presence_query_t *q);


/*
 * GET on a signal_presence location: {"room":..., "connections":N,
 * "users":N}, across hosts as the engine knows them.  The room is the
 * directive's value or the "room" argument.
 */

ngx_int_t
ngx_signal_presence_handler(ngx_http_request_t *r)
{
    u_char                       *dst, *src;
    ngx_int_t                     rc;
    ngx_str_t                     room, arg;
    const char                   *err;
    ngx_signal_loc_conf_t        *slcf;
    ngx_signal_presence_query_t  *q;

    if (ngx_signal_http_api_get(r, &rc) != NGX_OK) {
        return rc;
    }

    slcf = ngx_http_get_module_loc_conf(r, ngx_signal_module);

    if (slcf->presence_room) {
        if (ngx_http_complex_value(r, slcf->presence_room, &room) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else if (ngx_http_arg(r, (u_char *) "room", 4, &arg) == NGX_OK) {
        room.data = ngx_pnalloc(r->pool, arg.len);
        if (room.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        src = arg.data;
        dst = room.data;
        ngx_unescape_uri(&dst, &src, arg.len, 0);
        room.len = dst - room.data;

    } else {
        return ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST, "bad_room",
                                     "name the room: ?room=<name>");
    }

    err = ngx_signal_name_room(room.data, room.len,
                                slcf->max_name_length, 1);
    if (err) {
        return ngx_signal_http_error(r, NGX_HTTP_BAD_REQUEST, "bad_room",
                                     "room %s", err);
    }

    q = ngx_pcalloc(r->pool, sizeof(ngx_signal_presence_query_t));
    if (q == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    q->room = room;
    q->log = r->connection->log;
    q->done = ngx_signal_presence_done;
    q->data = r;

    if (ngx_signal_engine->presence_get(q) == NGX_AGAIN) {
        r->main->count++;
        return NGX_DONE;
    }

    return ngx_signal_presence_answer(r, q);
}


static void
ngx_signal_presence_done(ngx_signal_presence_query_t *q)
{
    ngx_http_request_t  *r = q->data;

    ngx_http_finalize_request(r, ngx_signal_presence_answer(r, q));
}


/* this host's counts of a room */

void
ngx_signal_presence_count(ngx_signal_presence_query_t *q)
{
    ngx_signal_zone_ctx_t   *ctx;
    ngx_signal_zone_room_t  *zr;

    ctx = ngx_signal_worker_zone->data;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    zr = ngx_signal_zone_lookup(ctx, &q->room);

    q->connections = zr ? zr->connections : 0;
    q->users = zr ? zr->nusers : 0;

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


static ngx_int_t
ngx_signal_presence_answer(ngx_http_request_t *r,
    ngx_signal_presence_query_t *q)
{
    u_char  *body, *p;

    body = ngx_pnalloc(r->pool, sizeof("{\"room\":\"\",\"connections\":,"
                                       "\"users\":,\"partial\":true}\n")
                                + q->room.len + 2 * NGX_INT_T_LEN);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the name rules keep it free of anything JSON would escape */

    p = ngx_sprintf(body, "{\"room\":\"%V\",\"connections\":%ui,"
                    "\"users\":%ui%s}\n", &q->room, q->connections,
                    q->users, q->partial ? ",\"partial\":true" : "");

    return ngx_signal_http_send_json(r, NGX_HTTP_OK, body, p - body);
}
