
/*
 * Copyright (C) ngx_signal_module authors
 *
 * The layout of the shared memory zone, for the files that work inside it
 * (ngx_signal_zone.c, ngx_signal_presence.c, ngx_signal_quota.c,
 * ngx_signal_dedupe.c).  Everything here is read and written under the
 * zone's mutex unless a comment says otherwise.  The name trees are
 * ngx_str_node_t trees (ngx_str_rbtree_insert_value/lookup): the key is a
 * crc32 of the name, the name lives in the node.
 */


#ifndef _NGX_SIGNAL_ZONE_SH_H_INCLUDED_
#define _NGX_SIGNAL_ZONE_SH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_signal_zone.h"


/*
 * Who pays, in the zone's presence quota (ngx_signal_quota.c), for a
 * record a connection made the zone hold: an account of an authenticated
 * user, or none, with NGX_SIGNAL_PAYER_ANONYMOUS for connections without
 * a verified token.
 */
typedef uintptr_t  ngx_signal_zone_payer_t;

#define NGX_SIGNAL_PAYER_ANONYMOUS  1


/* the connections one worker slot has in a room */
typedef struct ngx_signal_zone_count_s  ngx_signal_zone_count_t;

struct ngx_signal_zone_count_s {
    ngx_signal_zone_count_t    *next;
    ngx_signal_zone_payer_t     payer;
    uint32_t                    slot;
    uint32_t                    connections;
    uint32_t                    anonymous;    /* of the connections */
};


/*
 * The connections of one user in a room through one worker slot, keyed
 * by the slot (one byte) followed by the user id.
 */
typedef struct {
    ngx_str_node_t              sn;
    ngx_uint_t                  connections;
    ngx_signal_zone_payer_t     payer;
    u_char                      key[1];
} ngx_signal_zone_user_t;


typedef struct {
    ngx_rbtree_t                tree;
    ngx_rbtree_node_t           sentinel;
} ngx_signal_zone_users_t;


typedef struct {
    ngx_str_node_t              sn;          /* key: crc32 of the name */
    ngx_queue_t                 lru;         /* only while nobody is in it */
    uint64_t                    seq;
    uint64_t                    batch;       /* last operation that used it */
    uint64_t                    slots;       /* slots with connections */
    ngx_signal_zone_count_t    *counts;
    ngx_signal_zone_users_t    *users;       /* NULL: no user connected */
    ngx_uint_t                  connections;
    ngx_uint_t                  nusers;
    ngx_signal_zone_payer_t     payer;       /* of the node while live */
    uint64_t                    epoch;       /* changes when seq restarts */
    uint64_t                    covered;     /* history has every seq from */
    ngx_queue_t                 history;     /* records, oldest first */
    ngx_uint_t                  nhistory;
    u_char                      name[1];
} ngx_signal_zone_room_t;


/*
 * A key seen lately (a webhook delivery, an Idempotency-Key), with the
 * digest of what it published and what that got: a retry answers it.
 */
typedef struct {
    ngx_str_node_t              sn;
    ngx_queue_t                 queue;       /* oldest first */
    time_t                      expires;
    uint64_t                   *result;      /* n seqs, n epochs */
    ngx_uint_t                  n;
    u_char                      digest[NGX_SIGNAL_DIGEST_LEN];
    unsigned                    has_digest:1;
    unsigned                    published:1;
    u_char                      id[1];
} ngx_signal_zone_seen_t;


/* what one authenticated user makes the zone hold, for user=N% */
typedef struct {
    ngx_str_node_t              sn;
    size_t                      charged;
    u_char                      name[1];
} ngx_signal_zone_account_t;


/* changes whenever the layout below does: a reload refuses another one */
#define NGX_SIGNAL_ZONE_MAGIC  0x5347e004


typedef struct {
    uint32_t                    magic;

    ngx_rbtree_t                rbtree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 lru;
    uint64_t                    batch;

    ngx_rbtree_t                seen;
    ngx_rbtree_node_t           seen_sentinel;
    ngx_queue_t                 seen_queue;

    /* presence quota: bytes connections make the zone hold */
    ngx_rbtree_t                accounts;
    ngx_rbtree_node_t           accounts_sentinel;
    size_t                      presence_bytes;
    size_t                      anonymous_bytes;

    /* the event log: every (event, room) in publish order */
    ngx_signal_record_t        *head;
    ngx_signal_record_t        *tail;
    uint64_t                    last_id;

    /* history: every record kept, oldest first; the rooms' epochs */
    ngx_queue_t                 history;
    uint64_t                    epoch_base;
    uint64_t                    rooms_made;

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

    /* signal_zone reserve=, anonymous=, user=: percents, then bytes */
    ngx_uint_t                  reserve;
    ngx_uint_t                  anonymous;
    ngx_uint_t                  user;
    size_t                      presence_max;
    size_t                      anonymous_max;
    size_t                      user_max;
} ngx_signal_zone_ctx_t;


#define ngx_signal_slot_bit(slot)  ((uint64_t) 1 << (slot))

/* idle rooms forgotten at most to make space for one allocation */
#define NGX_SIGNAL_ZONE_MAX_EVICT  1024


ngx_signal_zone_room_t *ngx_signal_zone_lookup(ngx_signal_zone_ctx_t *ctx,
    ngx_str_t *name);
ngx_signal_zone_room_t *ngx_signal_zone_create(ngx_signal_zone_ctx_t *ctx,
    ngx_str_t *name);
ngx_int_t ngx_signal_zone_evict(ngx_signal_zone_ctx_t *ctx);
ngx_int_t ngx_signal_zone_reclaim(ngx_signal_zone_ctx_t *ctx);

/* history (ngx_signal_zone_history.c) */
void ngx_signal_zone_history_keep(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_room_t *room, ngx_signal_record_t *rec,
    ngx_uint_t count, time_t age);
ngx_int_t ngx_signal_zone_history_drop_oldest(ngx_signal_zone_ctx_t *ctx,
    ngx_uint_t expired_only);
void ngx_signal_zone_history_forget(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_room_t *room);
void ngx_signal_zone_record_free(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_record_t *rec);

void *ngx_signal_zone_node_alloc(ngx_signal_zone_ctx_t *ctx, size_t offset,
    ngx_str_t *key);
void *ngx_signal_zone_node_find(ngx_rbtree_t *tree, ngx_str_t *key);

/* presence quota limits (ngx_signal_quota.c) */
#define NGX_SIGNAL_QUOTA_FULL       1     /* the slab has no memory */
#define NGX_SIGNAL_QUOTA_RESERVE    2
#define NGX_SIGNAL_QUOTA_ANONYMOUS  3
#define NGX_SIGNAL_QUOTA_USER       4

size_t ngx_signal_quota_size(size_t size);
ngx_int_t ngx_signal_quota_payer(ngx_signal_zone_ctx_t *ctx,
    ngx_str_t *account, ngx_uint_t create, ngx_signal_zone_payer_t *payer);
void ngx_signal_quota_transfer(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_payer_t from, ngx_signal_zone_payer_t to, size_t bytes);
void ngx_signal_quota_release(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_payer_t payer);
ngx_int_t ngx_signal_quota_check(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_payer_t payer, size_t bytes);
void ngx_signal_quota_charge(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_payer_t payer, size_t bytes);
void ngx_signal_quota_refund(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_payer_t payer, size_t bytes);
const char *ngx_signal_quota_reason(ngx_int_t limit);

uint64_t ngx_signal_presence_interest(ngx_signal_zone_ctx_t *ctx,
    ngx_signal_zone_room_t *room);
void ngx_signal_presence_purge(ngx_signal_zone_ctx_t *ctx, ngx_uint_t slot);


#endif /* _NGX_SIGNAL_ZONE_SH_H_INCLUDED_ */
