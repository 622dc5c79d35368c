/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The store's cache of loaded message structures (store_parts): least
 * recently used first out, bounded in count and in decoded bytes kept.
 * Private to the store layer.
 */
#ifndef IMAPFS_STORE_PARTS_CACHE_H
#define IMAPFS_STORE_PARTS_CACHE_H

struct parts_cache;

struct parts_cache *parts_cache_new(void);
/* The cache must be empty (store_parts_cache_clear()). */
void parts_cache_free(struct parts_cache *c);

#endif
