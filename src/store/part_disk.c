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
		body_cache_put_many(store_body_cache(st), wire, uidvalidity, &it, 1);
	free(wire);
}

void part_gather_free(struct part_gather *g)
{
	free(g->buf);
	*g = (struct part_gather){ 0 };
}

ssize_t part_gather_add(struct part_gather *g, uint64_t size, uint64_t off, const char *buf,
			size_t got, char **whole)
{
	size_t cap_before = g->cap;

	*whole = NULL;
	if (size > PART_DISK_MAX || got == 0)
		return 0;
	/* A new reading from the start, or a gap: nothing to keep of what came before. */
	if ((off == 0 && !g->len) || off > g->len)
		part_gather_free(g);
	if (off <= g->len && off + got > g->len && (g->len || off == 0) &&
	    array_reserve(&g->buf, &g->cap, (size_t)(off + got), 1) == 0) {
		memcpy(g->buf + g->len, buf + (g->len - off), (size_t)(off + got) - g->len);
		g->len = (size_t)(off + got);
	}
	if (g->len == size) {
		*whole = g->buf;
		*g = (struct part_gather){ 0 };
	}
	return (ssize_t)g->cap - (ssize_t)cap_before;
}
