
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The layout of the shared memory zone, for the files that work inside it
 * (ngx_signal_zone.c, ngx_signal_presence.c).  Everything here is read and
 * written under the zone's mutex unless a comment says otherwise.
 */


#ifndef _NGX_SIGNAL_ZONE_H_INCLUDED_
#define _NGX_SIGNAL_ZONE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_signal.h"


/* the connections one worker slot has in a room */
typedef struct ngx_signal_zone_count_s  ngx_signal_zone_count_t;

struct ngx_signal_zone_count_s {
    ngx_signal_zone_count_t    *next;
    ngx_uint_t                  slot;
    ngx_uint_t                  connections;
};


/*
 * The connections of one user in a room through one worker slot.  The
 * tree is ordered by (hash, name, slot), so all slots of a user are
 * neighbours and "is this user still here" is one lookup.
 */
typedef struct {
    ngx_rbtree_node_t           node;        /* key: crc32 of the user */
    ngx_uint_t                  slot;
    ngx_uint_t                  connections;
    u_short                     len;
    u_char                      name[1];
} ngx_signal_zone_user_t;


typedef struct {
    ngx_rbtree_t                tree;
    ngx_rbtree_node_t           sentinel;
} ngx_signal_zone_users_t;


typedef struct {
    ngx_rbtree_node_t           node;        /* key: crc32 of the name */
    ngx_queue_t                 lru;         /* only while nobody is in it */
    uint64_t                    seq;
    uint64_t                    batch;       /* last operation that used it */
    uint64_t                    slots;       /* slots with connections */
    ngx_signal_zone_count_t    *counts;
    ngx_signal_zone_users_t    *users;       /* NULL: no user connected */
    ngx_uint_t                  connections;
    ngx_uint_t                  nusers;
    u_short                     len;
    u_char                      name[1];
} ngx_signal_zone_room_t;


/* a webhook id seen lately, for deduplication */
typedef struct {
    ngx_rbtree_node_t           node;        /* key: crc32 of the id */
    ngx_queue_t                 queue;       /* oldest first */
    time_t                      expires;
    u_short                     len;
    u_char                      id[1];
} ngx_signal_zone_seen_t;


/* changes whenever the layout below does: a reload refuses another one */
#define NGX_SIGNAL_ZONE_MAGIC  0x5347e002


typedef struct {
    uint32_t                    magic;

    ngx_rbtree_t                rbtree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 lru;
    uint64_t                    batch;

    ngx_rbtree_t                seen;
    ngx_rbtree_node_t           seen_sentinel;
    ngx_queue_t                 seen_queue;

    /* the event log: every (event, room) in publish order */
    ngx_signal_record_t        *head;
    ngx_signal_record_t        *tail;
    uint64_t                    last_id;

    /* bumped by the master on every reload (no lock: atomic) */
    ngx_atomic_t                generation;

    /* this host in Redis presence; versions order its updates */
    u_char                      instance[NGX_SIGNAL_INSTANCE_LEN + 1];
    uint64_t                    presence_version;

    ngx_signal_stats_t          stats;
} ngx_signal_zone_sh_t;


typedef struct {
    ngx_signal_zone_sh_t       *sh;
    ngx_slab_pool_t            *shpool;
} ngx_signal_zone_ctx_t;


#define ngx_signal_slot_bit(slot)  ((uint64_t) 1 << (slot))


ngx_signal_zone_room_t *ngx_signal_zone_lookup(ngx_signal_zone_ctx_t *ctx,
    ngx_str_t *name, uint32_t hash);
ngx_signal_zone_room_t *ngx_signal_zone_create(ngx_signal_zone_ctx_t *ctx,
    ngx_str_t *name, uint32_t hash);

void ngx_signal_dedupe_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);

uint64_t ngx_signal_presence_interest(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_room_t *room);
void ngx_signal_presence_purge(ngx_signal_zone_ctx_t *ctx, ngx_uint_t slot);


#endif /* _NGX_SIGNAL_ZONE_H_INCLUDED_ */
