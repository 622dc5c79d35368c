/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Readable names (-o names=readable): "<headline> [<UID>].eml", the headline
 * made from the message's Date, From and Subject (mime/headline.h), fetched
 * with BODY.PEEK[HEADER.FIELDS (DATE FROM SUBJECT)] for the messages a
 * listing shows that have none yet, and held per mailbox for its UIDVALIDITY.
 *
 * A name is a function of the message's header and UID, both immutable, so
 * the same message has the same name in every listing and every mount. The
 * names are kept on disk beside the listing (listing_cache.h), so a mount
 * made while the server is unreachable lists the same names; a message whose
 * header was never fetched is listed as <UID>.eml until it can be.
 */
#include "store/store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/fetch.h"
#include "log.h"
#include "mime/headline.h"
#include "store/listing_cache.h"
#include "store/pool.h"
#include "util/uid_name.h"

#define READABLE_FIELDS "DATE FROM SUBJECT"

/* Caller holds st->lock. m's readable names for UIDVALIDITY uv, emptied if they were of another. */
static struct name_map *readable_of(struct mailbox *m, uint32_t uv)
{
	if (m->readable_uidvalidity != uv) {
		name_map_clear(&m->readable);
		m->readable_uidvalidity = uv;
	}
	return &m->readable;
}

/* Caller holds st->lock. uid's readable name (ending ".eml") in m, or NULL. */
static const char *readable_known(const struct mailbox *m, uint32_t uid)
{
	/* A mailbox only searched, never listed, has the UIDVALIDITY of its results. */
	if ((m->uidvalidity && m->readable_uidvalidity != m->uidvalidity) || !m->readable.n)
		return NULL;
	return name_map_name(&m->readable, uid);
}

struct headline_job {
	char *wire;
	uint32_t uidvalidity;
	uint32_t *uids; /* ascending */
	int64_t *dates; /* INTERNALDATE of each, for a message without Date */
	char **names;   /* what came, by index */
	size_t n;
	int err;
};

static void on_header(void *ctx, uint32_t uid, const char *header, size_t len)
{
	struct headline_job *j = ctx;
	size_t lo = 0, hi = j->n;
	char *stem;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (j->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == j->n || j->uids[lo] != uid || j->names[lo])
		return; /* not asked for, or said twice: the first answer stands */
	stem = mime_headline(header, len, j->dates[lo]);
	if (!stem || asprintf(&j->names[lo], "%s [%" PRIu32 "].eml", stem, uid) < 0) {
		j->names[lo] = NULL;
		j->err = -ENOMEM;
	}
	free(stem);
}

static void names_clear(struct headline_job *j)
{
	for (size_t i = 0; i < j->n; i++) {
		free(j->names[i]);
		j->names[i] = NULL;
	}
}

static int headline_job(struct session *s, void *ctx)
{
	struct headline_job *j = ctx;

	names_clear(j); /* run again after a dead session: start afresh */
	j->err = 0;
	int r = driver_fetch_header_fields(s, j->wire, j->uidvalidity, j->uids, j->n,
					   READABLE_FIELDS, on_header, j);
	return r < 0 ? r : j->err;
}

struct kept_headlines {
	const char *wire;
	uint32_t uidvalidity;
	uint32_t *uids;
	char **names;
	size_t n, cap;
	bool oom;
};

static void on_kept_headline(void *ctx, const char *wire, uint32_t uidvalidity, uint32_t uid,
			     const char *name, unsigned mode)
{
	struct kept_headlines *k = ctx;
	uint32_t claimed;

	(void)mode;
	/*
	 * A hash never stands in for a name; a name must be one for its UID,
	 * and as safe as one made now (a damaged cache must not make a bad one).
	 */
	if (k->oom || uidvalidity != k->uidvalidity || strcmp(wire, k->wire) != 0 || !name ||
	    !parse_readable_name(name, ".eml", &claimed) || claimed != uid ||
	    strlen(name) > 255 - strlen(".parts") + strlen(".eml") || strchr(name, '/'))
		return;
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return;
	if (k->n == k->cap) {
		size_t cap = k->cap ? 2 * k->cap : 256;
		uint32_t *uids = realloc(k->uids, cap * sizeof(*uids));
		char **names = uids ? realloc(k->names, cap * sizeof(*names)) : NULL;

		if (uids)
			k->uids = uids;
		if (!uids || !names) {
			k->oom = true;
			return;
		}
		k->names = names;
		k->cap = cap;
	}
	k->names[k->n] = strdup(name);
	if (!k->names[k->n]) {
		k->oom = true;
		return;
	}
	k->uids[k->n++] = uid;
}

/* The first time mailbox id's names are wanted in this mount: those kept on disk. */
static void load_kept(struct store *st, uint32_t id, uint32_t uidvalidity)
{
	struct kept_headlines k = { .uidvalidity = uidvalidity };
	struct mailbox *m;
	char *wire = NULL;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m && !m->readable_loaded)
		wire = strdup(m->wire);
	pthread_mutex_unlock(&st->lock);
	if (!wire)
		return;
	k.wire = wire;
	if (st->bodies)
		listing_cache_load_headlines(st->bodies, wire, on_kept_headline, &k);
	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m && !m->readable_loaded) {
		struct name_map *map = readable_of(m, uidvalidity);

		for (size_t i = 0; i < k.n; i++)
			if (name_map_set(map, k.uids[i], k.names[i], 0) < 0)
				break;
		m->readable_loaded = true;
	}
	pthread_mutex_unlock(&st->lock);
	for (size_t i = 0; i < k.n; i++)
		free(k.names[i]);
	free(k.names);
	free(k.uids);
	free(wire);
}

int store_readable_names(struct store *st, uint32_t id, const struct store_msg *msgs, size_t n,
			 uint32_t uidvalidity)
{
	struct headline_job j = { .uidvalidity = uidvalidity };
	struct mailbox *m;
	size_t named = 0;
	int r = 0;

	if (!st->opts.readable_names || !n)
		return 0;
	j.uids = malloc(n * sizeof(*j.uids));
	j.dates = malloc(n * sizeof(*j.dates));
	j.names = calloc(n, sizeof(*j.names));
	if (!j.uids || !j.dates || !j.names) {
		r = -ENOMEM;
		goto out;
	}
	load_kept(st, id, uidvalidity);
	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m && (m->uidvalidity == uidvalidity || !m->uidvalidity)) {
		j.wire = strdup(m->wire);
		for (size_t i = 0; i < n; i++) {
			if (m->readable_uidvalidity == uidvalidity && readable_known(m, msgs[i].uid))
				continue;
			j.uids[j.n] = msgs[i].uid;
			j.dates[j.n++] = msgs[i].date;
		}
	}
	pthread_mutex_unlock(&st->lock);
	if (!j.n || !j.wire)
		goto out;
	r = pool_run(store_pool(st), j.wire, headline_job, &j);
	if (r < 0) {
		/* Listed as <UID>.eml meanwhile; asked again at the next listing. */
		log_debug("%s: no headers for readable names (%s)", j.wire, strerror(-r));
		r = r == -ENOMEM ? r : 0;
	}
	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m && (m->uidvalidity == uidvalidity || !m->uidvalidity)) {
		struct name_map *map = readable_of(m, uidvalidity);

		for (size_t i = 0; i < j.n && r == 0; i++) {
			if (!j.names[i])
				continue;
			r = name_map_set(map, j.uids[i], j.names[i], 0);
			named++;
		}
	}
	pthread_mutex_unlock(&st->lock);
	if (named && st->bodies) {
		/* Those named now, compacted to the front, kept in one write. */
		size_t k = 0;

		for (size_t i = 0; i < j.n; i++) {
			if (!j.names[i])
				continue;
			j.uids[k] = j.uids[i];
			j.names[k++] = j.names[i];
			if (k - 1 != i)
				j.names[i] = NULL;
		}
		listing_cache_add_headlines(st->bodies, j.wire, uidvalidity, j.uids,
					    (const char *const *)j.names, k);
	}
	if (named < j.n && r == 0)
		log_debug("%s: %zu of %zu messages without a readable name", j.wire, j.n - named, j.n);
out:
	if (j.names)
		names_clear(&j);
	free(j.names);
	free(j.dates);
	free(j.uids);
	free(j.wire);
	return r;
}

char *store_readable_name(struct store *st, uint32_t id, uint32_t uid, const char *suffix)
{
	const char *name = NULL;
	struct mailbox *m;
	char *copy = NULL;

	if (!st->opts.readable_names)
		return NULL;
	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m)
		name = readable_known(m, uid);
	if (name) {
		size_t stem = strlen(name) - strlen(".eml");

		if (asprintf(&copy, "%.*s%s", (int)stem, name, suffix) < 0)
			copy = NULL;
	}
	pthread_mutex_unlock(&st->lock);
	return copy;
}

void store_readable_moved(struct mailbox *from, uint32_t uid, struct mailbox *to,
			  uint32_t to_uidvalidity, uint32_t newuid)
{
	const char *name = readable_known(from, uid);
	char *moved;
	size_t stem;

	/* Without COPYUID the new UID is not known: the next listing names it. */
	if (!name || !to || !newuid || !to_uidvalidity)
		return;
	stem = strlen(name) - strlen(".eml");
	while (stem > 0 && name[stem] != '[') /* " [<uid>]" */
		stem--;
	if (stem < 1)
		return;
	if (asprintf(&moved, "%.*s[%" PRIu32 "].eml", (int)stem, name, newuid) < 0)
		return;
	if (name_map_set(readable_of(to, to_uidvalidity), newuid, moved, 0) < 0)
		log_debug("no memory for a readable name");
	free(moved);
}
