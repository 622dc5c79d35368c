/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "store/store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store/listing_cache.h"
#include "util/uid_name.h"

/* Caller holds st->lock. The names of m as of UIDVALIDITY uv, emptied if they were of another. */
static struct name_map *names_of(struct mailbox *m, uint32_t uv)
{
	if (m->names_uidvalidity != uv) {
		name_map_clear(&m->names);
		m->names_uidvalidity = uv;
	}
	return &m->names;
}

/* Caller holds st->lock. Whether m's names are of its UIDVALIDITY. */
static bool names_current(const struct mailbox *m)
{
	return m->uidvalidity && m->names_uidvalidity == m->uidvalidity;
}

int store_name_message(struct store *st, uint32_t id, uint32_t uid, const char *name,
		       unsigned mode)
{
	struct mailbox *m;
	uint32_t uv = 0;
	char *wire = NULL;
	int r = -ENOENT;
	uint32_t n;

	/* Its own name; or <N>~.eml, which names a displaced message (store_listed_name). */
	if (name && ((parse_uid_name(name, ".eml", &n) && n == uid) ||
		     parse_uid_name(name, DISPLACED_SUFFIX, &n)))
		name = NULL;
	/* A mailbox made a moment ago (rsync's mkdir) has no UIDVALIDITY known yet. */
	if (!store_known_uidvalidity(st, id))
		store_refresh(st, id, false, false);
	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m && m->uidvalidity) {
		uv = m->uidvalidity;
		r = name_map_set(names_of(m, uv), uid, name, mode & 07777);
		wire = r == 0 ? strdup(m->wire) : NULL;
	}
	pthread_mutex_unlock(&st->lock);
	if (wire && st->bodies)
		listing_cache_add_name(st->bodies, wire, uv, uid, name, mode & 07777);
	free(wire);
	return r;
}

char *store_message_name(struct store *st, uint32_t id, uint32_t uid)
{
	const char *name = NULL;
	struct mailbox *m;
	char *copy = NULL;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m && m->names.n)
		name = name_map_name(&m->names, uid);
	if (name && names_current(m))
		copy = strdup(name);
	pthread_mutex_unlock(&st->lock);
	return copy;
}

unsigned store_message_mode(struct store *st, uint32_t id, uint32_t uid)
{
	struct mailbox *m;
	unsigned mode = 0;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m && m->names.n && names_current(m))
		mode = name_map_mode(&m->names, uid);
	pthread_mutex_unlock(&st->lock);
	return mode;
}

int store_named_message(struct store *st, uint32_t id, const char *name, uint32_t *uid)
{
	struct mailbox *m;
	int r = store_refresh(st, id, false, false); /* names are of its UIDVALIDITY */

	if (r < 0)
		return r;
	r = -ENOENT;
	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	*uid = m && m->names.n ? name_map_uid(&m->names, name) : 0;
	if (*uid && names_current(m))
		r = 0;
	pthread_mutex_unlock(&st->lock);
	return r;
}

int store_message_by_name(struct store *st, uint32_t id, const char *name, uint32_t *uid)
{
	struct mailbox *m;
	uint32_t n;
	int r;

	r = store_named_message(st, id, name, uid);
	if (r != -ENOENT)
		return r;
	r = store_readable_lookup(st, id, name, ".eml", uid);
	if (r != -ENOENT)
		return r;
	if (parse_uid_name(name, DISPLACED_SUFFIX, &n)) {
		/* Only while another message was written as its <N>.eml. */
		char own[16];
		uint32_t other = 0;

		snprintf(own, sizeof(own), "%" PRIu32 ".eml", n);
		pthread_mutex_lock(&st->lock);
		m = mailbox_get(st, id);
		if (m && m->names.n && names_current(m))
			other = name_map_uid(&m->names, own);
		pthread_mutex_unlock(&st->lock);
		if (!other || other == n)
			return -ENOENT;
		*uid = n;
		return 0;
	}
	if (!parse_uid_name(name, ".eml", &n))
		return -ENOENT;
	/*
	 * A message written under another <N>.eml (cp of an export) is known
	 * by that name only: its own is free for the export's file of that name.
	 */
	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m && m->names.n && names_current(m)) {
		const char *written = name_map_name(&m->names, n);
		uint32_t other;

		r = written && parse_uid_name(written, ".eml", &other) ? -ENOENT : 0;
	} else {
		r = 0;
	}
	pthread_mutex_unlock(&st->lock);
	if (r == 0)
		*uid = n;
	return r;
}

char *store_listed_name(struct store *st, uint32_t id, uint32_t uid)
{
	char own[16 + sizeof(DISPLACED_SUFFIX)], *name = store_message_name(st, id, uid);
	struct mailbox *m;
	bool displaced = false;

	if (name)
		return name;
	name = store_readable_name(st, id, uid, ".eml");
	if (name)
		return name;
	snprintf(own, sizeof(own), "%" PRIu32 ".eml", uid);
	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m && m->names.n && names_current(m))
		displaced = name_map_uid(&m->names, own) != 0;
	pthread_mutex_unlock(&st->lock);
	if (displaced)
		snprintf(own, sizeof(own), "%" PRIu32 "%s", uid, DISPLACED_SUFFIX);
	return strdup(own);
}

/* A record of the names log (listing_cache_load_names), applied in order. */
static void on_kept_name(void *ctx, const char *wire, uint32_t uidvalidity, uint32_t uid,
			 const char *name, unsigned mode)
{
	struct store *st = ctx;
	uint32_t id = wire_index_find(&st->by_wire, wire, strlen(wire));

	if (id && name_map_set(names_of(st->mb[id], uidvalidity), uid, name, mode) < 0)
		log_debug("no memory for the kept names");
}

void store_load_kept_names(struct store *st)
{
	if (!st->bodies)
		return;
	pthread_mutex_lock(&st->lock);
	listing_cache_load_names(st->bodies, on_kept_name, st);
	pthread_mutex_unlock(&st->lock);
}

/* Here, not in readable.c: it asks the listing, which tells readable.c of moves. */
int store_readable_lookup(struct store *st, uint32_t id, const char *name, const char *suffix,
			  uint32_t *uid)
{
	struct store_msg row;
	uint32_t claimed, uv;
	char *want;
	int r;

	if (!st->opts.readable_names || !parse_readable_name(name, suffix, &claimed))
		return -ENOENT;
	want = store_readable_name(st, id, claimed, suffix);
	if (!want) {
		/* Not listed yet in this mount (a path typed, a remount): its header tells. */
		r = store_message(st, id, claimed, &row, &uv);
		if (r == 0)
			r = store_readable_names(st, id, &row, 1, uv);
		if (r < 0)
			return r;
		want = store_readable_name(st, id, claimed, suffix);
	}
	r = want && strcmp(want, name) == 0 ? 0 : -ENOENT;
	free(want);
	if (r == 0)
		*uid = claimed;
	return r;
}

int store_parts_by_name(struct store *st, uint32_t id, const char *name, uint32_t *uid)
{
	if (parse_uid_name(name, ".parts", uid))
		return 0;
	return store_readable_lookup(st, id, name, ".parts", uid);
}

char *store_parts_name(struct store *st, uint32_t id, uint32_t uid)
{
	char *name = store_readable_name(st, id, uid, ".parts");

	if (!name && asprintf(&name, "%" PRIu32 ".parts", uid) < 0)
		name = NULL;
	return name;
}
