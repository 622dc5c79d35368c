/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The store's cache of loaded message structures (store_parts): least
 * recently used first out, bounded in count and in decoded bytes kept.
 * Private to the store layer.
 */
#ifndef IMAPFS_STORE_PARTS_CACHE_H
#define IMAPFS_STORE_PARTS_CACHE_H

#include <sys/types.h>

struct parts_cache;
struct store_parts;

struct parts_cache *parts_cache_new(void);
/* The cache must be empty (store_parts_cache_clear()). */
void parts_cache_free(struct parts_cache *c);
/*
 * Memory p holds beyond its structure (decoded copies, parts being
 * gathered) grew or shrank by delta: counted against the cache's bound,
 * which evicts unused structures when it is passed. Takes the cache's lock
 * (a leaf): the caller holds no leaf lock.
 */
void parts_account_kept(struct parts_cache *c, struct store_parts *p, ssize_t delta);

#endif
