/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "store/store_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "driver/fetch.h"
#include "store/body_cache.h"
#include "store/pool.h"
#include "store/prefetch.h"

struct body_read {
	const char *wire;
	uint32_t uidvalidity, uid;
	uint64_t off;
	size_t len;
	char *buf;
	size_t got;
};

static int body_job(struct session *s, void *ctx)
{
	struct body_read *b = ctx;

	return driver_fetch_range(s, b->wire, b->uidvalidity, b->uid, b->off, b->len, b->buf,
				  &b->got);
}

ssize_t store_read_message(struct store *st, uint32_t id, uint32_t uidvalidity, uint32_t uid,
			   uint64_t off, size_t len, char *buf)
{
	struct body_read b = { .uidvalidity = uidvalidity, .uid = uid, .off = off, .len = len,
			       .buf = buf };
	struct store_msg listed;
	struct mailbox *m;
	char *wire = NULL;
	bool sized;
	ssize_t got;
	int r;

	got = prefetch_read(st->prefetch, id, uidvalidity, uid, off, len, buf);
	if (got != -ENOENT)
		return got;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m && m->wire)
		wire = strdup(m->wire);
	pthread_mutex_unlock(&st->lock);
	if (!wire)
		return m ? -ENOMEM : -ESTALE;
	/* The disk cache serves only a body of the size the listing gives. */
	sized = st->bodies && uid > 0 &&
		store_next_messages(st, id, uidvalidity, uid - 1, &listed, 1) == 1 &&
		listed.uid == uid;
	if (sized) {
		got = body_cache_read(st->bodies, wire, uidvalidity, uid, listed.size, off, len, buf);
		if (got != -ENOENT) {
			free(wire);
			return got;
		}
	}
	b.wire = wire;
	r = pool_run(st->pool, wire, body_job, &b);
	/* Whole: the listed size, or less than asked (the end came; the listing is told so). */
	if (r == 0 && sized && off == 0 && (b.got == listed.size || b.got < len))
		body_cache_put_later(st->bodies, wire, uidvalidity,
				     &(struct body_cache_item){ .uid = uid, .body = buf, .len = b.got }, 1);
	free(wire);
	return r < 0 ? r : (ssize_t)b.got;
}

void store_message_reading(struct store *st, uint32_t id, uint32_t uidvalidity, uint32_t uid,
			   pid_t reader)
{
	prefetch_reading(st->prefetch, id, uidvalidity, uid, reader);
}

void store_forget_body(struct store *st, uint32_t id, uint32_t uidvalidity, uint32_t uid)
{
	char *wire;

	if (!st->bodies || !uidvalidity)
		return;
	wire = store_mailbox_wire(st, id);
	if (wire)
		body_cache_forget(st->bodies, wire, uidvalidity, uid);
	free(wire);
}
