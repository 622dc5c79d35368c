/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Mailbox ids by wire name. Applying a LIST looks up every line's mailbox
 * and each of its parent levels; a linear scan made that O(n^2), minutes
 * under the store's lock for a (hostile) server listing 65,536 mailboxes.
 *
 * The index holds ids only: the names live in the caller's mailboxes, and
 * key(ctx, id) returns one (NUL-terminated, not NULL). Id 0 is never
 * indexed. Where two ids share a name, the first added is found, as a scan
 * in id order would. A name that changes under the index (a RENAME) needs
 * wire_index_clear() and every id added again.
 *
 * Not thread-safe: the caller's lock guards it with the names.
 */
#ifndef IMAPFS_WIRE_INDEX_H
#define IMAPFS_WIRE_INDEX_H

#include <stddef.h>
#include <stdint.h>

typedef const char *(*wire_index_key)(const void *ctx, uint32_t id);

struct wire_index {
	uint32_t *slot; /* open addressing, linear probing; 0 is empty */
	size_t cap;     /* a power of two, or 0 */
	size_t n;
	wire_index_key key;
	const void *ctx;
};

void wire_index_init(struct wire_index *ix, wire_index_key key, const void *ctx);
/* 0, or -ENOMEM (the index is then as before). */
int wire_index_add(struct wire_index *ix, uint32_t id);
/* The id named wire[0..len), or 0. */
uint32_t wire_index_find(const struct wire_index *ix, const char *wire, size_t len);
/* Empties it (keeping its memory for the ids added again). */
void wire_index_clear(struct wire_index *ix);
void wire_index_free(struct wire_index *ix);

#endif
