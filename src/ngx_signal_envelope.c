
/*
 * Copyright (C) ngx_signal_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <yajl/yajl_parse.h>
#include "ngx_signal_envelope.h"


/* which field the next value belongs to */
typedef enum {
    ngx_signal_field_none = 0,
    ngx_signal_field_room,
    ngx_signal_field_rooms,
    ngx_signal_field_event,
    ngx_signal_field_data,
    ngx_signal_field_events,
    ngx_signal_field_history
} ngx_signal_field_e;


/* the containers the parser can be in, outside "data" */
typedef enum {
    ngx_signal_level_top = 0,      /* top object: an event or a batch */
    ngx_signal_level_events,       /* the "events" array */
    ngx_signal_level_event,        /* an object inside "events" */
    ngx_signal_level_rooms         /* a "rooms" array */
} ngx_signal_level_e;


typedef struct {
    ngx_signal_envelope_t  *env;
    ngx_pool_t             *pool;
    yajl_handle             handle;
    u_char                 *body;
    size_t                  len;

    ngx_signal_level_e      stack[4];
    ngx_uint_t              depth;
    ngx_signal_field_e      field;

    ngx_uint_t              data_depth;
    size_t                  data_start;

    /* the event being read */
    ngx_array_t            *rooms;
    ngx_str_t               room;
    ngx_str_t               event;
    ngx_str_t               data;
    ngx_uint_t              no_history;
    ngx_uint_t              seen;          /* bit per ngx_signal_field_e */
    ngx_uint_t              top_seen;      /* the batch object's fields */

    ngx_uint_t              batch;
    ngx_uint_t              index;
    unsigned                failed:1;
} ngx_signal_envelope_parser_t;


#define ngx_signal_env_seen(p, f)   ((p)->seen & (1 << (f)))


static ngx_int_t ngx_signal_env_fail(ngx_signal_envelope_parser_t *p,
    const char *fmt, ...);
static ngx_int_t ngx_signal_env_value(ngx_signal_envelope_parser_t *p,
    ngx_uint_t container, u_char *s, size_t len, ngx_uint_t is_string);
static ngx_int_t ngx_signal_env_string(ngx_signal_envelope_parser_t *p,
    u_char *s, size_t len);
static ngx_int_t ngx_signal_env_end(ngx_signal_envelope_parser_t *p);
static void ngx_signal_env_event_start(ngx_signal_envelope_parser_t *p);
static ngx_int_t ngx_signal_env_event_end(ngx_signal_envelope_parser_t *p);
static ngx_int_t ngx_signal_env_data_start(ngx_signal_envelope_parser_t *p);
static const char *ngx_signal_env_field_name(ngx_signal_field_e field);
static size_t ngx_signal_env_utf8_cut(const u_char *s, size_t len,
    size_t max);

static int ngx_signal_env_null(void *ctx);
static int ngx_signal_env_boolean(void *ctx, int value);
static int ngx_signal_env_number(void *ctx, const char *s, size_t len);
static int ngx_signal_env_on_string(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_signal_env_start_map(void *ctx);
static int ngx_signal_env_map_key(void *ctx, const unsigned char *s,
    size_t len);
static int ngx_signal_env_end_map(void *ctx);
static int ngx_signal_env_start_array(void *ctx);
static int ngx_signal_env_end_array(void *ctx);


static yajl_callbacks  ngx_signal_env_callbacks = {
    ngx_signal_env_null,
    ngx_signal_env_boolean,
    NULL,
    NULL,
    ngx_signal_env_number,
    ngx_signal_env_on_string,
    ngx_signal_env_start_map,
    ngx_signal_env_map_key,
    ngx_signal_env_end_map,
    ngx_signal_env_start_array,
    ngx_signal_env_end_array
};


ngx_int_t
ngx_signal_envelope_parse(ngx_signal_envelope_t *env, ngx_pool_t *pool,
    u_char *body, size_t len)
{
    yajl_status                    st;
    ngx_signal_envelope_parser_t   p;

    ngx_memzero(&p, sizeof(ngx_signal_envelope_parser_t));

    p.env = env;
    p.pool = pool;
    p.body = body;
    p.len = len;

    env->error_len = 0;

    env->events = ngx_array_create(pool, 4, sizeof(ngx_signal_event_t));
    if (env->events == NULL) {
        return NGX_ERROR;
    }

    p.handle = yajl_alloc(&ngx_signal_env_callbacks, NULL, &p);
    if (p.handle == NULL) {
        return NGX_ERROR;
    }

    st = yajl_parse(p.handle, body, len);

    if (st == yajl_status_ok) {
        st = yajl_complete_parse(p.handle);
    }

    if (st != yajl_status_ok && !p.failed) {
        env->invalid_json = 1;
        env->error_len = ngx_snprintf(env->error, sizeof(env->error),
                                      "invalid JSON near byte %uz",
                                      yajl_get_bytes_consumed(p.handle))
                         - env->error;
    }

    yajl_free(p.handle);

    if (st != yajl_status_ok) {
        return NGX_ERROR;
    }

    if (env->events->nelts == 0) {
        env->error_len = ngx_snprintf(env->error, sizeof(env->error),
                                      "events: no event to publish")
                         - env->error;
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_signal_env_fail(ngx_signal_envelope_parser_t *p, const char *fmt, ...)
{
    u_char                 *last, *q;
    va_list                 args;
    ngx_signal_envelope_t  *env;

    if (p->failed) {
        return NGX_ERROR;
    }

    env = p->env;
    q = env->error;
    last = env->error + sizeof(env->error);

    if (p->batch && p->depth > 1) {
        q = ngx_slprintf(q, last, "events[%ui].", p->index);
    }

    va_start(args, fmt);
    q = ngx_vslprintf(q, last, fmt, args);
    va_end(args);

    env->error_len = q - env->error;
    p->failed = 1;

    return NGX_ERROR;
}


/* at most max bytes of s, not splitting a UTF-8 character */

static size_t
ngx_signal_env_utf8_cut(const u_char *s, size_t len, size_t max)
{
    size_t  n;

    if (len <= max) {
        return len;
    }

    n = max;

    while (n > 0 && (s[n] & 0xc0) == 0x80) {
        n--;
    }

    return n;
}


static const char *
ngx_signal_env_field_name(ngx_signal_field_e field)
{
    switch (field) {
    case ngx_signal_field_room:
        return "room";
    case ngx_signal_field_rooms:
        return "rooms";
    case ngx_signal_field_event:
        return "event";
    case ngx_signal_field_data:
        return "data";
    case ngx_signal_field_events:
        return "events";
    case ngx_signal_field_history:
        return "history";
    default:
        return "(value)";
    }
}


/*
 * A scalar (container == 0) or the start of an object (1) or array (2).
 */

static ngx_int_t
ngx_signal_env_value(ngx_signal_envelope_parser_t *p, ngx_uint_t container,
    u_char *s, size_t len, ngx_uint_t is_string)
{
    ngx_signal_level_e  level;

    if (p->data_depth) {
        /* inside "data": only the nesting matters */
        p->data_depth += container ? 1 : 0;
        return NGX_OK;
    }

    if (p->depth == 0) {
        if (container != 1) {
            p->env->invalid_json = 1;
            return ngx_signal_env_fail(p, "the body must be a JSON object");
        }

        p->stack[p->depth++] = ngx_signal_level_top;
        ngx_signal_env_event_start(p);
        return NGX_OK;
    }

    level = p->stack[p->depth - 1];

    if (level == ngx_signal_level_rooms) {
        if (!is_string) {
            return ngx_signal_env_fail(p, "rooms[%ui]: must be a string",
                                       p->rooms->nelts);
        }

        return ngx_signal_env_string(p, s, len);
    }

    if (level == ngx_signal_level_events) {
        if (container != 1) {
            p->index = p->env->events->nelts;
            p->depth++;
            return ngx_signal_env_fail(p, "must be an object");
        }

        p->index = p->env->events->nelts;
        p->stack[p->depth++] = ngx_signal_level_event;
        ngx_signal_env_event_start(p);
        return NGX_OK;
    }

    /* a value inside the top object or an event object */

    switch (p->field) {

    case ngx_signal_field_data:
        if (container) {
            p->data_depth = 1;
            return NGX_OK;
        }

        p->data.data = p->body + p->data_start;
        p->data.len = yajl_get_bytes_consumed(p->handle) - p->data_start;
        return NGX_OK;

    case ngx_signal_field_room:
    case ngx_signal_field_event:
        if (!is_string) {
            return ngx_signal_env_fail(p, "%s: must be a string",
                                       ngx_signal_env_field_name(p->field));
        }

        return ngx_signal_env_string(p, s, len);

    case ngx_signal_field_rooms:
        if (container != 2) {
            return ngx_signal_env_fail(p, "rooms: must be an array of "
                                       "strings");
        }

        p->stack[p->depth++] = ngx_signal_level_rooms;
        return NGX_OK;

    case ngx_signal_field_events:
        if (container != 2) {
            return ngx_signal_env_fail(p, "events: must be an array of "
                                       "objects");
        }

        p->batch = 1;
        p->top_seen = p->seen;
        p->stack[p->depth++] = ngx_signal_level_events;
        return NGX_OK;

    case ngx_signal_field_history:
        return ngx_signal_env_fail(p, "history: must be true or false");

    default:
        return ngx_signal_env_fail(p, "unexpected value");
    }
}


static ngx_int_t
ngx_signal_env_string(ngx_signal_envelope_parser_t *p, u_char *s, size_t len)
{
    u_char      *copy;
    ngx_str_t   *room;
    ngx_uint_t   i;
    const char  *err;

    if (p->stack[p->depth - 1] == ngx_signal_level_rooms) {

        if (p->rooms->nelts >= p->env->max_rooms) {
            return ngx_signal_env_fail(p, "rooms: more than %ui rooms",
                                       p->env->max_rooms);
        }

        err = ngx_signal_name_room(s, len, p->env->max_name_len, 0);
        if (err) {
            return ngx_signal_env_fail(p, "rooms[%ui]: room name %s",
                                       p->rooms->nelts, err);
        }

        room = p->rooms->elts;

        for (i = 0; i < p->rooms->nelts; i++) {
            if (room[i].len == len && ngx_memcmp(room[i].data, s, len) == 0) {
                return ngx_signal_env_fail(p, "rooms[%ui]: duplicate room",
                                           p->rooms->nelts);
            }
        }
    }

    if (p->field == ngx_signal_field_room) {
        err = ngx_signal_name_room(s, len, p->env->max_name_len, 0);
        if (err) {
            return ngx_signal_env_fail(p, "room: room name %s", err);
        }

    } else if (p->field == ngx_signal_field_event) {
        err = ngx_signal_name_event(s, len, p->env->max_name_len);
        if (err) {
            return ngx_signal_env_fail(p, "event: event name %s", err);
        }
    }

    /* yajl may hand out a transient buffer: keep a copy */

    copy = ngx_pnalloc(p->pool, len);
    if (copy == NULL) {
        return ngx_signal_env_fail(p, "out of memory");
    }

    ngx_memcpy(copy, s, len);

    if (p->stack[p->depth - 1] == ngx_signal_level_rooms) {
        room = ngx_array_push(p->rooms);
        if (room == NULL) {
            return ngx_signal_env_fail(p, "out of memory");
        }

        room->data = copy;
        room->len = len;
        return NGX_OK;
    }

    if (p->field == ngx_signal_field_room) {
        p->room.data = copy;
        p->room.len = len;

    } else {
        p->event.data = copy;
        p->event.len = len;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_signal_env_end(ngx_signal_envelope_parser_t *p)
{
    ngx_signal_level_e  level;

    if (p->data_depth) {
        if (--p->data_depth == 0) {
            p->data.data = p->body + p->data_start;
            p->data.len = yajl_get_bytes_consumed(p->handle)
                          - p->data_start;
        }

        return NGX_OK;
    }

    level = p->stack[--p->depth];

    switch (level) {

    case ngx_signal_level_top:
        if (p->batch) {
            if (p->seen & ~(1 << ngx_signal_field_events)) {
                return ngx_signal_env_fail(p, "a body with \"events\" must "
                                           "not have other fields");
            }

            return NGX_OK;
        }

        return ngx_signal_env_event_end(p);

    case ngx_signal_level_event:
        p->depth++;
        if (ngx_signal_env_event_end(p) != NGX_OK) {
            return NGX_ERROR;
        }
        p->depth--;
        return NGX_OK;

    case ngx_signal_level_rooms:
        p->depth++;
        if (p->rooms->nelts == 0) {
            return ngx_signal_env_fail(p, "rooms: must not be empty");
        }
        p->depth--;
        return NGX_OK;

    default: /* events: back in the batch object */
        p->seen = p->top_seen;
        p->field = ngx_signal_field_none;
        return NGX_OK;
    }
}


static void
ngx_signal_env_event_start(ngx_signal_envelope_parser_t *p)
{
    p->rooms = NULL;
    ngx_str_null(&p->room);
    ngx_str_null(&p->event);
    ngx_str_set(&p->data, "null");
    p->no_history = 0;
    p->seen = 0;
    p->field = ngx_signal_field_none;
}


static ngx_int_t
ngx_signal_env_event_end(ngx_signal_envelope_parser_t *p)
{
    ngx_str_t           *room;
    ngx_signal_event_t  *ev;

    if (p->event.len == 0) {
        return ngx_signal_env_fail(p, "event: missing (the event name, "
                                   "e.g. \"signal:assigned\")");
    }

    if (p->room.len == 0 && p->rooms == NULL) {
        return ngx_signal_env_fail(p, "room: missing (give \"room\" or "
                                   "\"rooms\")");
    }

    if (p->env->events->nelts >= p->env->max_events) {
        return ngx_signal_env_fail(p, "more than %ui events in one request",
                                   p->env->max_events);
    }

    ev = ngx_array_push(p->env->events);
    if (ev == NULL) {
        return ngx_signal_env_fail(p, "out of memory");
    }

    if (p->rooms) {
        ev->rooms = p->rooms->elts;
        ev->nrooms = p->rooms->nelts;

    } else {
        room = ngx_palloc(p->pool, sizeof(ngx_str_t));
        if (room == NULL) {
            return ngx_signal_env_fail(p, "out of memory");
        }

        *room = p->room;
        ev->rooms = room;
        ev->nrooms = 1;
    }

    ev->event = p->event;
    ev->data = p->data;
    ev->no_history = p->no_history;

    return NGX_OK;
}



static ngx_int_t
ngx_signal_env_data_start(ngx_signal_envelope_parser_t *p)
{
    size_t  i;

    /* the value starts after the ':' that follows the key */

    i = yajl_get_bytes_consumed(p->handle);

    while (i < p->len
           && (p->body[i] == ' ' || p->body[i] == '\t' || p->body[i] == '\r'
               || p->body[i] == '\n' || p->body[i] == ':'))
    {
        i++;
    }

    p->data_start = i;

    return NGX_OK;
}


static int
ngx_signal_env_null(void *ctx)
{
    return ngx_signal_env_value(ctx, 0, NULL, 0, 0) == NGX_OK;
}


static int
ngx_signal_env_boolean(void *ctx, int value)
{
    ngx_signal_envelope_parser_t  *p = ctx;

    if (p->data_depth == 0 && p->depth > 0
        && p->field == ngx_signal_field_history)
    {
        /* "history": false keeps the event out of history */
        p->no_history = !value;
        p->field = ngx_signal_field_none;
        return 1;
    }

    return ngx_signal_env_value(ctx, 0, NULL, 0, 0) == NGX_OK;
}


static int
ngx_signal_env_number(void *ctx, const char *s, size_t len)
{
    return ngx_signal_env_value(ctx, 0, NULL, 0, 0) == NGX_OK;
}


static int
ngx_signal_env_on_string(void *ctx, const unsigned char *s, size_t len)
{
    return ngx_signal_env_value(ctx, 0, (u_char *) s, len, 1) == NGX_OK;
}


static int
ngx_signal_env_start_map(void *ctx)
{
    ngx_signal_envelope_parser_t  *p = ctx;

    return ngx_signal_env_value(p, 1, NULL, 0, 0) == NGX_OK;
}


static int
ngx_signal_env_start_array(void *ctx)
{
    ngx_signal_envelope_parser_t  *p = ctx;

    if (p->data_depth == 0
        && p->depth > 0
        && (p->stack[p->depth - 1] == ngx_signal_level_top
            || p->stack[p->depth - 1] == ngx_signal_level_event)
        && p->field == ngx_signal_field_rooms)
    {
        p->rooms = ngx_array_create(p->pool, 4, sizeof(ngx_str_t));
        if (p->rooms == NULL) {
            return ngx_signal_env_fail(p, "out of memory") == NGX_OK;
        }
    }

    return ngx_signal_env_value(p, 2, NULL, 0, 0) == NGX_OK;
}


static int
ngx_signal_env_end_map(void *ctx)
{
    return ngx_signal_env_end(ctx) == NGX_OK;
}


static int
ngx_signal_env_end_array(void *ctx)
{
    return ngx_signal_env_end(ctx) == NGX_OK;
}


static int
ngx_signal_env_map_key(void *ctx, const unsigned char *s, size_t len)
{
    ngx_signal_envelope_parser_t  *p = ctx;

    ngx_signal_field_e  field;

    if (p->data_depth) {
        return 1;
    }

    if (len == 4 && ngx_strncmp(s, "room", 4) == 0) {
        field = ngx_signal_field_room;

    } else if (len == 5 && ngx_strncmp(s, "rooms", 5) == 0) {
        field = ngx_signal_field_rooms;

    } else if (len == 5 && ngx_strncmp(s, "event", 5) == 0) {
        field = ngx_signal_field_event;

    } else if (len == 4 && ngx_strncmp(s, "data", 4) == 0) {
        field = ngx_signal_field_data;

    } else if (len == 6 && ngx_strncmp(s, "events", 6) == 0
               && p->stack[p->depth - 1] == ngx_signal_level_top)
    {
        field = ngx_signal_field_events;

    } else if (len == 7 && ngx_strncmp(s, "history", 7) == 0) {
        field = ngx_signal_field_history;

    } else {
        return ngx_signal_env_fail(p, "unknown field \"%*s\" (expected "
                                   "room, rooms, event, data, history%s)",
                                   ngx_signal_env_utf8_cut(s, len, 32), s,
                                   p->depth == 1 ? " or events" : "")
               == NGX_OK;
    }

    if (ngx_signal_env_seen(p, field)) {
        return ngx_signal_env_fail(p, "%s: given twice",
                                   ngx_signal_env_field_name(field))
               == NGX_OK;
    }

    if ((field == ngx_signal_field_room
         && ngx_signal_env_seen(p, ngx_signal_field_rooms))
        || (field == ngx_signal_field_rooms
            && ngx_signal_env_seen(p, ngx_signal_field_room)))
    {
        return ngx_signal_env_fail(p, "give either \"room\" or \"rooms\", "
                                   "not both")
               == NGX_OK;
    }

    p->seen |= 1 << field;
    p->field = field;

    if (field == ngx_signal_field_data) {
        (void) ngx_signal_env_data_start(p);
    }

    return 1;
}
