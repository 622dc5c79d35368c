/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Search directories' results (store_search): UID SEARCH through the pool,
 * kept per mailbox and query for the mount, at most MAX_KEPT of them. A kept
 * result stands while the mailbox's listing says nothing changed: the same
 * UIDVALIDITY, UIDNEXT, count and HIGHESTMODSEQ (a flag change moves it);
 * without CONDSTORE a flag change shows in none of them, so a result is
 * then kept for at most FLAGLESS_TTL_MS.
 *
 * An account-wide query (store_search_account) is one such search per
 * selectable mailbox, spread over as many threads as the pool has
 * connections, each mailbox's result kept as above.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/mailbox.h"
#include "driver/search.h"
#include "log.h"
#include "store/pool.h"
#include "store/store_internal.h"
#include "util/array.h"
#include "util/clock.h"

/* Enough for an account-wide query over a few hundred mailboxes to stay kept. */
#define MAX_KEPT 1024
#define FLAGLESS_TTL_MS 500
/* -o connections is at most 64 (options.c): no more threads than that. */
#define MAX_WORKERS 64

struct kept {
	uint32_t mailbox;
	char *query;
	uint32_t uidvalidity, uidnext, exists;
	uint64_t modseq;
	int64_t at_ms, used_ms;
	uint32_t *uids;
	size_t n;
};

struct store_searches {
	pthread_mutex_t lock; /* a leaf */
	struct kept k[MAX_KEPT];
	size_t n;
};

struct store_searches *store_searches_new(void)
{
	struct store_searches *s = calloc(1, sizeof(*s));

	if (s)
		pthread_mutex_init(&s->lock, NULL);
	return s;
}

static void kept_clear(struct kept *k)
{
	free(k->query);
	free(k->uids);
	memset(k, 0, sizeof(*k));
}

void store_searches_free(struct store_searches *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		kept_clear(&s->k[i]);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

struct state {
	char *wire;
	uint32_t uidvalidity, uidnext, exists;
	uint64_t modseq;
};

static bool same_state(const struct kept *k, const struct state *st, int64_t now)
{
	return k->uidvalidity == st->uidvalidity && k->uidnext == st->uidnext &&
	       k->exists == st->exists && k->modseq == st->modseq &&
	       (st->modseq || now - k->at_ms < FLAGLESS_TTL_MS);
}

/* A copy of the kept result of (id, query) if it still stands. */
static bool find_kept(struct store_searches *s, uint32_t id, const char *query,
		      const struct state *st, uint32_t **uids, size_t *n, int *err)
{
	int64_t now = monotonic_ms();
	bool hit = false;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n; i++) {
		struct kept *k = &s->k[i];

		if (k->mailbox != id || strcmp(k->query, query) != 0 || !same_state(k, st, now))
			continue;
		k->used_ms = now;
		*n = k->n;
		*uids = k->n ? malloc(k->n * sizeof(**uids)) : NULL;
		if (k->n && !*uids)
			*err = -ENOMEM;
		else if (k->n)
			memcpy(*uids, k->uids, k->n * sizeof(**uids));
		hit = true;
		break;
	}
	pthread_mutex_unlock(&s->lock);
	return hit;
}

/* Keeps a copy of a result, in place of the same query's or the least used one. */
static void keep(struct store_searches *s, uint32_t id, const char *query, const struct state *st,
		 const uint32_t *uids, size_t n)
{
	struct kept k = { .mailbox = id, .uidvalidity = st->uidvalidity, .uidnext = st->uidnext,
			  .exists = st->exists, .modseq = st->modseq, .n = n };
	size_t slot;

	k.at_ms = k.used_ms = monotonic_ms();
	k.query = strdup(query);
	k.uids = n ? malloc(n * sizeof(*uids)) : NULL;
	if (!k.query || (n && !k.uids)) {
		kept_clear(&k);
		return; /* only a saving */
	}
	if (n)
		memcpy(k.uids, uids, n * sizeof(*uids));
	pthread_mutex_lock(&s->lock);
	for (slot = 0; slot < s->n; slot++)
		if (s->k[slot].mailbox == id && strcmp(s->k[slot].query, query) == 0)
			break;
	if (slot == s->n && s->n < MAX_KEPT) {
		s->n++;
	} else if (slot == s->n) {
		slot = 0;
		for (size_t i = 1; i < s->n; i++)
			if (s->k[i].used_ms < s->k[slot].used_ms)
				slot = i;
	}
	kept_clear(&s->k[slot]);
	s->k[slot] = k;
	pthread_mutex_unlock(&s->lock);
}

struct search_job {
	const char *wire, *query;
	uint32_t uidvalidity;
	uint32_t *uids;
	size_t n;
	char *err;
	size_t errlen;
};

static int search_job(struct session *s, void *ctx)
{
	struct search_job *j = ctx;
	struct session_mailbox before, after;
	int r = driver_select_valid(s, j->wire, j->uidvalidity);

	for (int attempt = 0; r == 0 && attempt < 2; attempt++) {
		free(j->uids);
		j->uids = NULL;
		j->n = 0;
		r = driver_select_current(s, j->wire, j->uidvalidity, &before);
		if (r == 0)
			r = driver_search(s, j->query, &j->uids, &j->n, j->err, j->errlen);
		/*
		 * A connection that had the mailbox selected searches the messages
		 * it knew of; mail that came meanwhile is announced with the answer
		 * (EXISTS), and then searched for once more.
		 */
		if (r < 0 || driver_select_current(s, j->wire, j->uidvalidity, &after) < 0 ||
		    after.exists == before.exists)
			break;
	}
	return driver_refused_here(s, r);
}

int store_search(struct store *st, uint32_t id, const char *query, uint32_t **uids, size_t *n,
		 char *err, size_t errlen)
{
	struct search_job j = { .query = query, .err = err, .errlen = errlen };
	struct state now = { NULL, 0, 0, 0, 0 };
	struct mailbox *m;
	int r = 0;

	err[0] = '\0';
	r = store_refresh(st, id, false, false);
	if (r < 0)
		return r;
	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (!m || !m->selectable) {
		r = -ENOENT;
	} else {
		now.wire = strdup(m->wire);
		now.uidvalidity = m->uidvalidity;
		now.uidnext = m->uidnext;
		now.exists = m->exists;
		now.modseq = m->modseq;
		if (!now.wire)
			r = -ENOMEM;
	}
	pthread_mutex_unlock(&st->lock);
	if (r == 0 && !find_kept(st->searches, id, query, &now, uids, n, &r)) {
		j.wire = now.wire;
		j.uidvalidity = now.uidvalidity;
		r = pool_run(st->pool, now.wire, search_job, &j);
		/* Mail newer than the listing: it catches up, so the results can be listed. */
		if (r == 0 && j.n && j.uids[j.n - 1] >= now.uidnext)
			store_refresh(st, id, true, false);
		if (r == 0) {
			keep(st->searches, id, query, &now, j.uids, j.n);
			*uids = j.uids;
			*n = j.n;
			j.uids = NULL;
		}
		free(j.uids);
	}
	free(now.wire);
	return r;
}

struct account_run {
	struct store *st;
	const char *query;
	struct store_mailbox_ref *refs;
	size_t nrefs;
	pthread_mutex_t lock; /* guards what follows */
	size_t next;
	struct store_search_hit *hits;
	size_t nhits, cap;
	int err;
	char *errmsg;
	size_t errlen;
};

/* Takes mailboxes from run until none is left or one failed. */
static void *account_worker(void *arg)
{
	struct account_run *run = arg;
	char err[300];

	for (;;) {
		struct store_mailbox_ref *ref;
		uint32_t *uids = NULL;
		size_t n = 0;
		int r;

		pthread_mutex_lock(&run->lock);
		ref = run->err || run->next == run->nrefs ? NULL : &run->refs[run->next++];
		pthread_mutex_unlock(&run->lock);
		if (!ref)
			break;
		r = store_search(run->st, ref->id, run->query, &uids, &n, err, sizeof(err));
		if (r == -EACCES || r == -EPERM)
			log_warn("search \"%s\": mailbox %s not searched: %s", run->query, ref->wire,
				 strerror(-r));
		pthread_mutex_lock(&run->lock);
		if (r == 0 && n &&
		    array_reserve(&run->hits, &run->cap, run->nhits + 1, sizeof(*run->hits)) < 0)
			r = -ENOMEM;
		if (r == 0 && n) {
			run->hits[run->nhits++] = (struct store_search_hit){ ref->id, uids, n };
			uids = NULL;
		} else if (r < 0 && r != -ENOENT && r != -EACCES && r != -EPERM && !run->err) {
			/* A mailbox gone meanwhile has no results; any other failure ends the search. */
			run->err = r;
			snprintf(run->errmsg, run->errlen, "%s", err);
		}
		pthread_mutex_unlock(&run->lock);
		free(uids);
	}
	return NULL;
}

static int cmp_hit(const void *a, const void *b)
{
	uint32_t x = ((const struct store_search_hit *)a)->mailbox;
	uint32_t y = ((const struct store_search_hit *)b)->mailbox;

	return x < y ? -1 : x > y;
}

int store_search_account(struct store *st, const char *query, struct store_search_hit **hits,
			 size_t *n, char *err, size_t errlen)
{
	struct account_run run = { .st = st, .query = query, .errmsg = err, .errlen = errlen };
	pthread_t threads[MAX_WORKERS];
	size_t nthreads = 0, o = 0;
	uint32_t last_used;
	int r;

	err[0] = '\0';
	store_refresh_mailboxes(st, false);
	r = store_mailbox_refs(st, &run.refs, &run.nrefs);
	if (r < 0)
		return r;
	for (size_t i = 0; i < run.nrefs; i++) {
		if (!run.refs[i].selectable) {
			free(run.refs[i].name);
			free(run.refs[i].wire);
			continue;
		}
		run.refs[o++] = run.refs[i];
	}
	run.nrefs = o;
	pthread_mutex_init(&run.lock, NULL);
	/* Searching every mailbox is no user's look at one: the watcher stays where it was. */
	pthread_mutex_lock(&st->lock);
	last_used = st->last_used;
	pthread_mutex_unlock(&st->lock);
	while (nthreads + 1 < st->opts.connections && nthreads + 1 < run.nrefs &&
	       nthreads < MAX_WORKERS &&
	       pthread_create(&threads[nthreads], NULL, account_worker, &run) == 0)
		nthreads++;
	account_worker(&run);
	for (size_t i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_lock(&st->lock);
	st->last_used = last_used;
	pthread_mutex_unlock(&st->lock);
	pthread_mutex_destroy(&run.lock);
	store_mailbox_refs_free(run.refs, run.nrefs);
	if (run.err) {
		store_search_hits_free(run.hits, run.nhits);
		return run.err;
	}
	if (run.nhits)
		qsort(run.hits, run.nhits, sizeof(*run.hits), cmp_hit);
	*hits = run.hits;
	*n = run.nhits;
	return 0;
}

void store_search_hits_free(struct store_search_hit *h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(h[i].uids);
	free(h);
}
