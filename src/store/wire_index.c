/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "store/wire_index.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a: names are short, and a server choosing them gains nothing from collisions
 * but a slower lookup, bounded by the load factor of 1/2. */
static uint64_t hash(const char *s, size_t len)
{
	uint64_t h = UINT64_C(14695981039346656037);

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= UINT64_C(1099511628211);
	}
	return h;
}

static bool same(const struct wire_index *ix, uint32_t id, const char *wire, size_t len)
{
	const char *k = ix->key(ix->ctx, id);

	return strlen(k) == len && memcmp(k, wire, len) == 0;
}

void wire_index_init(struct wire_index *ix, wire_index_key key, const void *ctx)
{
	memset(ix, 0, sizeof(*ix));
	ix->key = key;
	ix->ctx = ctx;
}

/* Puts id in its place in slot[0..cap); false if its name is there already. */
static bool place(const struct wire_index *ix, uint32_t *slot, size_t cap, uint32_t id)
{
	const char *k = ix->key(ix->ctx, id);
	size_t len = strlen(k);

	for (size_t i = (size_t)hash(k, len) & (cap - 1);; i = (i + 1) & (cap - 1)) {
		if (!slot[i]) {
			slot[i] = id;
			return true;
		}
		if (same(ix, slot[i], k, len))
			return false;
	}
}

static int grow(struct wire_index *ix)
{
	size_t cap = ix->cap ? ix->cap * 2 : 64;
	uint32_t *slot = calloc(cap, sizeof(*slot));

	if (!slot)
		return -ENOMEM;
	for (size_t i = 0; i < ix->cap; i++)
		if (ix->slot[i])
			place(ix, slot, cap, ix->slot[i]);
	free(ix->slot);
	ix->slot = slot;
	ix->cap = cap;
	return 0;
}

int wire_index_add(struct wire_index *ix, uint32_t id)
{
	if (!id)
		return 0;
	if ((ix->n + 1) * 2 > ix->cap) {
		int r = grow(ix);

		if (r < 0)
			return r;
	}
	if (place(ix, ix->slot, ix->cap, id))
		ix->n++;
	return 0;
}

uint32_t wire_index_find(const struct wire_index *ix, const char *wire, size_t len)
{
	if (!ix->cap)
		return 0;
	for (size_t i = (size_t)hash(wire, len) & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
		if (!ix->slot[i])
			return 0;
		if (same(ix, ix->slot[i], wire, len))
			return ix->slot[i];
	}
}

void wire_index_clear(struct wire_index *ix)
{
	if (ix->slot)
		memset(ix->slot, 0, ix->cap * sizeof(*ix->slot));
	ix->n = 0;
}

void wire_index_free(struct wire_index *ix)
{
	free(ix->slot);
	ix->slot = NULL;
	ix->cap = ix->n = 0;
}
