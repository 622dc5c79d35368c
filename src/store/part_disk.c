/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Parts kept on disk whole, beside the bodies (see part_disk.h). */
#include "store/part_disk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/body_cache.h"
#include "store/store_internal.h"
#include "util/array.h"

ssize_t part_disk_read(struct store *st, uint32_t mailbox, uint32_t uidvalidity, uint32_t uid,
		       const char *section, uint64_t size, uint64_t off, size_t len, char *buf)
{
	char *wire;
	ssize_t got;

	if (!store_body_cache(st) || !section || size > PART_DISK_MAX)
		return -ENOENT;
	wire = store_mailbox_wire(st, mailbox);
	if (!wire)
		return -ENOENT;
	got = body_cache_read_part(store_body_cache(st), wire, uidvalidity, uid, section, size, off,
				   len, buf);
	free(wire);
	return got;
}

void part_disk_keep(struct store *st, uint32_t mailbox, uint32_t uidvalidity, uint32_t uid,
		    const char *section, const char *content, size_t len)
{
	struct body_cache_item it = { .uid = uid, .section = section, .body = content, .len = len };
	char *wire;

	if (!store_body_cache(st) || !section || len > PART_DISK_MAX)
		return;
	wire = store_mailbox_wire(st, mailbox);
	if (wire)
		body_cache_put_later(store_body_cache(st), wire, uidvalidity, &it, 1);
	free(wire);
}

void part_gather_free(struct part_gather *g)
{
	free(g->buf);
	*g = (struct part_gather){ 0 };
}

/* Adds [lo, hi) to g's ranges, merging; false if that makes too many. */
static bool add_range(struct part_gather *g, uint64_t lo, uint64_t hi)
{
	unsigned i = 0, j;

	while (i < g->nranges && g->range[i].hi < lo)
		i++;
	/* range[i..j) touch [lo, hi): they become one */
	for (j = i; j < g->nranges && g->range[j].lo <= hi; j++) {
		if (g->range[j].lo < lo)
			lo = g->range[j].lo;
		if (g->range[j].hi > hi)
			hi = g->range[j].hi;
	}
	if (j == i && g->nranges == PART_GATHER_RANGES)
		return false;
	if (j == i) {
		memmove(&g->range[i + 1], &g->range[i], (g->nranges - i) * sizeof(g->range[0]));
		g->nranges++;
	} else if (j > i + 1) {
		memmove(&g->range[i + 1], &g->range[j], (g->nranges - j) * sizeof(g->range[0]));
		g->nranges -= j - i - 1;
	}
	g->range[i].lo = lo;
	g->range[i].hi = hi;
	return true;
}

ssize_t part_gather_add(struct part_gather *g, uint64_t size, uint64_t off, const char *buf,
			size_t got, char **whole)
{
	size_t cap_before = g->cap;

	*whole = NULL;
	if (size > PART_DISK_MAX || got == 0 || off + got > size)
		return 0;
	if (array_reserve(&g->buf, &g->cap, (size_t)(off + got), 1) < 0 ||
	    !add_range(g, off, off + got)) {
		part_gather_free(g);
		return (ssize_t)g->cap - (ssize_t)cap_before;
	}
	memcpy(g->buf + off, buf, got);
	if (g->nranges == 1 && g->range[0].lo == 0 && g->range[0].hi == size) {
		*whole = g->buf;
		*g = (struct part_gather){ 0 };
	}
	return (ssize_t)g->cap - (ssize_t)cap_before;
}
