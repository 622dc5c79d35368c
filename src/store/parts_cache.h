/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The store's cache of loaded message structures (store_parts): least
 * recently used first out, bounded in count and in decoded bytes kept.
 * Private to the store layer. Every function takes the cache's lock (a
 * leaf): the caller holds no other leaf lock.
 */
#ifndef IMAPFS_STORE_PARTS_CACHE_H
#define IMAPFS_STORE_PARTS_CACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct parts_cache;
struct store_parts;

struct parts_cache *parts_cache_new(void);
/* The cache must be empty (parts_cache_clear()). */
void parts_cache_free(struct parts_cache *c);
/* Drops every structure (unmount: none is in use). */
void parts_cache_clear(struct parts_cache *c);

/* The cached structure of the message, with a reference taken; NULL if none. */
struct store_parts *parts_cache_get(struct parts_cache *c, uint32_t id, uint32_t uidvalidity,
				    uint32_t uid);
/* Whether the message's structure is cached (without touching it). */
bool parts_cache_has(struct parts_cache *c, uint32_t id, uint32_t uidvalidity, uint32_t uid);
/*
 * Keeps p (taken over), or frees it if another thread cached the same
 * message meanwhile; returns the one kept, with a reference taken if ref.
 */
struct store_parts *parts_cache_insert(struct parts_cache *c, struct store_parts *p, bool ref);
/* Gives back a reference parts_cache_get() or parts_cache_insert() took. */
void parts_cache_release(struct parts_cache *c, struct store_parts *p);

/*
 * Notes that uid's structure is wanted now; returns whether the one wanted
 * before was of the same mailbox and a lower UID (a walk in UID order may
 * be going on), with that UID in *prev.
 */
bool parts_cache_note_wanted(struct parts_cache *c, uint32_t id, uint32_t uidvalidity,
			     uint32_t uid, uint32_t *prev);

/*
 * Memory p holds beyond its structure (decoded copies, parts being
 * gathered) grew or shrank by delta: counted against the cache's bound,
 * which evicts unused structures when it is passed.
 */
void parts_account_kept(struct parts_cache *c, struct store_parts *p, ssize_t delta);

/* Frees a structure no one else holds (store/parts.c makes them). */
void store_parts_free(struct store_parts *p);

#endif
