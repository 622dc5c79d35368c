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

#include "driver/listing.h"
#include "driver/mailbox.h"
#include "driver/search.h"
#include "log.h"
#include "store/pool.h"
#include "store/store_internal.h"
#include "util/array.h"
#include "util/cancel.h"
#include "util/clock.h"

/* Enough for an account-wide query over a few hundred mailboxes to stay kept. */
#define MAX_KEPT 1024
#define FLAGLESS_TTL_MS 500
/*
 * An account-wide result stands for ACCOUNT_TTL_MS after it was found, or
 * twice as long as finding it took: every lookup and listing of its tree
 * asks for it, and a walk (find, ls -R) must not search the account again
 * at each directory. ACCOUNT_KEPT of them are kept.
 */
#define ACCOUNT_TTL_MS 1000
#define ACCOUNT_KEPT 8
/* -o connections is at most 64 (options.c): no more threads than that. */
#define MAX_WORKERS 64

struct kept {
	uint32_t mailbox;
	char *query;
	uint32_t uidvalidity, uidnext, exists;
	uint64_t modseq, changes;
	int64_t at_ms, used_ms;
	uint32_t *uids;
	size_t n;
	/* Searched before the mailbox was listed: its rows came with it (below). */
	bool unlisted;
	struct store_msg *rows;
	size_t nrows;
};

/* An account-wide result, kept while a walk of its tree goes on. */
struct kept_account {
	char *query;
	int64_t until_ms, used_ms;
	struct store_search_hit *hits;
	size_t n;
};

struct store_searches {
	pthread_mutex_t lock; /* a leaf */
	struct kept k[MAX_KEPT];
	size_t n;
	struct kept_account a[ACCOUNT_KEPT];
	bool no_multisearch; /* the server does not offer MULTISEARCH */
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
	free(k->rows);
	memset(k, 0, sizeof(*k));
}

void store_searches_free(struct store_searches *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		kept_clear(&s->k[i]);
	for (size_t i = 0; i < ACCOUNT_KEPT; i++) {
		free(s->a[i].query);
		store_search_hits_free(s->a[i].hits, s->a[i].n);
	}
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* A mailbox's state as its listing shows it; listed false if it was never listed. */
struct state {
	char *wire;
	bool listed;
	uint32_t uidvalidity, uidnext, exists;
	uint64_t modseq;
	uint64_t changes; /* made through the mount, which leave the counters as they were */
};

/*
 * A result of a listed mailbox stands while the listing shows the state it
 * was found in; one found before any listing (no state to compare with)
 * stands for FLAGLESS_TTL_MS, while the mailbox is still not listed.
 */
static bool still_stands(const struct kept *k, const struct state *st, int64_t now)
{
	/* Listed since: the listing's state is what tells (a change through the mount lists it). */
	if (k->unlisted)
		return !st->listed && now - k->at_ms < FLAGLESS_TTL_MS;
	if (!st->listed)
		return false;
	return k->uidvalidity == st->uidvalidity && k->uidnext == st->uidnext &&
	       k->exists == st->exists && k->modseq == st->modseq && k->changes == st->changes &&
	       (st->modseq || now - k->at_ms < FLAGLESS_TTL_MS);
}

static void *dup_array(const void *a, size_t n, size_t size, int *err)
{
	void *copy = n ? malloc(n * size) : NULL;

	if (n && !copy)
		*err = -ENOMEM;
	else if (n)
		memcpy(copy, a, n * size);
	return copy;
}

/* A copy of the kept result of (id, query) if it still stands. */
static bool find_kept(struct store_searches *s, uint32_t id, const char *query,
		      const struct state *st, struct kept *out, int *err)
{
	int64_t now = monotonic_ms();
	bool hit = false;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n; i++) {
		struct kept *k = &s->k[i];

		if (k->mailbox != id || strcmp(k->query, query) != 0 || !still_stands(k, st, now))
			continue;
		k->used_ms = now;
		*out = *k;
		out->query = NULL;
		out->uids = dup_array(k->uids, k->n, sizeof(*k->uids), err);
		out->rows = dup_array(k->rows, k->nrows, sizeof(*k->rows), err);
		hit = true;
		break;
	}
	pthread_mutex_unlock(&s->lock);
	return hit;
}

/* Keeps a copy of k (its query and arrays copied), in place of the same query's or the least used. */
static void keep(struct store_searches *s, const struct kept *k)
{
	struct kept c = *k;
	int err = 0;
	size_t slot;

	c.at_ms = c.used_ms = monotonic_ms();
	c.query = strdup(k->query);
	c.uids = dup_array(k->uids, k->n, sizeof(*k->uids), &err);
	c.rows = dup_array(k->rows, k->nrows, sizeof(*k->rows), &err);
	if (!c.query || err) {
		kept_clear(&c);
		return; /* only a saving */
	}
	pthread_mutex_lock(&s->lock);
	for (slot = 0; slot < s->n; slot++)
		if (s->k[slot].mailbox == c.mailbox && strcmp(s->k[slot].query, c.query) == 0)
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
	s->k[slot] = c;
	pthread_mutex_unlock(&s->lock);
}

struct search_job {
	struct store *st;
	const char *wire, *query;
	uint32_t uidvalidity;
	bool rows_too; /* the mailbox is not listed: fetch the results' rows */
	uint32_t *uids;
	size_t n;
	struct store_msg *rows;
	size_t nrows, rows_cap;
	struct session_mailbox sel;
	char *err;
	size_t errlen;
};

static int on_row(void *ctx, uint32_t uid, uint64_t size, int64_t date, const char *flags)
{
	struct search_job *j = ctx;

	if (size > STORE_MAX_FILE)
		return 0; /* as a listing: a size no file can have is nonsense */
	if (array_reserve(&j->rows, &j->rows_cap, j->nrows + 1, sizeof(*j->rows)) < 0)
		return -ENOMEM;
	j->rows[j->nrows++] = (struct store_msg){ .uid = uid, .size = size, .date = date,
						  .flags = flagsets_intern(&j->st->flags, flags) };
	return 0;
}

static int cmp_row(const void *a, const void *b)
{
	uint32_t x = ((const struct store_msg *)a)->uid, y = ((const struct store_msg *)b)->uid;

	return x < y ? -1 : x > y;
}

/* The rows in UID order, each once: a server answers a FETCH in the order it likes. */
static void sort_rows(struct search_job *j)
{
	size_t o = 0;

	if (j->nrows)
		qsort(j->rows, j->nrows, sizeof(*j->rows), cmp_row);
	for (size_t i = 0; i < j->nrows; i++)
		if (i == 0 || j->rows[i].uid != j->rows[o - 1].uid)
			j->rows[o++] = j->rows[i];
	j->nrows = o;
}

static int search_job(struct session *s, void *ctx)
{
	struct search_job *j = ctx;
	struct session_mailbox before;
	struct driver_listing_sink sink = { .message = on_row, .ctx = j };
	int r = 0;

	/* A mailbox never listed: its UIDVALIDITY is the one SELECT finds. */
	if (!j->uidvalidity)
		r = driver_select_current(s, j->wire, 0, &j->sel);
	if (r == 0 && !j->uidvalidity)
		j->uidvalidity = j->sel.uidvalidity;
	if (r == 0)
		r = driver_select_valid(s, j->wire, j->uidvalidity);

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
		if (r < 0 || driver_select_current(s, j->wire, j->uidvalidity, &j->sel) < 0 ||
		    j->sel.exists == before.exists)
			break;
	}
	if (r == 0 && j->rows_too) {
		j->nrows = 0;
		r = driver_fetch_rows(s, j->uids, j->n, &sink);
		sort_rows(j);
	}
	return driver_refused_here(s, r);
}

/* The state of mailbox id (its wire name copied), or -ENOENT. */
static int state_of(struct store *st, uint32_t id, struct state *now)
{
	struct mailbox *m;
	int r = 0;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (!m || !m->selectable) {
		r = -ENOENT;
	} else {
		*now = (struct state){ .wire = strdup(m->wire), .listed = m->has_listing,
				       .uidvalidity = m->uidvalidity, .uidnext = m->uidnext,
				       .exists = m->exists, .modseq = m->modseq,
				       .changes = m->changes };
		if (!now->wire)
			r = -ENOMEM;
	}
	pthread_mutex_unlock(&st->lock);
	return r;
}

/*
 * The state of mailbox id as a search needs it: a listed mailbox's listing
 * refreshed first; one not listed yet is searched without listing it
 * (100,000 messages take a second to list, a header search of them a few
 * milliseconds), the results' rows coming with the search.
 */
static int current_state(struct store *st, uint32_t id, struct state *now)
{
	int r = state_of(st, id, now);

	if (r == 0 && now->listed) {
		free(now->wire);
		now->wire = NULL;
		r = store_refresh(st, id, false, false);
		if (r == 0)
			r = state_of(st, id, now);
	}
	return r;
}

/* The listing's rows of the UIDs of k (those still there), into out. */
static int rows_from_listing(struct store *st, uint32_t id, const uint32_t *uids, size_t n,
			     struct store_search_result *out)
{
	struct store_msg row;
	size_t cap = 0;
	int r = 0;

	for (size_t i = 0; i < n && r == 0; i++) {
		/* Expunged since the search: not a result. */
		if (store_message(st, id, uids[i], &row, &out->uidvalidity) < 0)
			continue;
		r = array_reserve(&out->msgs, &cap, out->n + 1, sizeof(*out->msgs));
		if (r == 0)
			out->msgs[out->n++] = row;
	}
	return r;
}

int store_search(struct store *st, uint32_t id, const char *query,
		 struct store_search_result *out, char *err, size_t errlen)
{
	struct search_job j = { .st = st, .query = query, .err = err, .errlen = errlen };
	struct state now = { 0 };
	struct kept k = { 0 };
	int r;

	err[0] = '\0';
	memset(out, 0, sizeof(*out));
	r = current_state(st, id, &now);
	if (r == 0 && !find_kept(st->searches, id, query, &now, &k, &r)) {
		j.wire = now.wire;
		j.uidvalidity = now.uidvalidity;
		j.rows_too = !now.listed;
		r = pool_run(st->pool, now.wire, search_job, &j);
		/* Mail newer than the listing: it catches up, so the results can be listed. */
		if (r == 0 && now.listed && j.n && j.uids[j.n - 1] >= now.uidnext)
			store_refresh(st, id, true, false);
		k = (struct kept){ .mailbox = id, .query = (char *)query, .uids = j.uids, .n = j.n,
				   .unlisted = !now.listed, .rows = j.rows, .nrows = j.nrows };
		if (now.listed) {
			k.uidvalidity = now.uidvalidity;
			k.uidnext = now.uidnext;
			k.exists = now.exists;
			k.modseq = now.modseq;
			k.changes = now.changes;
		} else {
			k.uidvalidity = j.sel.uidvalidity;
		}
		if (r == 0)
			keep(st->searches, &k);
		k.query = NULL;
	}
	if (r == 0 && k.unlisted) {
		out->uidvalidity = k.uidvalidity;
		out->msgs = k.rows;
		out->n = k.nrows;
		k.rows = NULL;
	} else if (r == 0) {
		r = rows_from_listing(st, id, k.uids, k.n, out);
	}
	if (r < 0)
		store_search_result_free(out);
	free(k.uids);
	free(k.rows);
	free(now.wire);
	return r;
}

void store_search_result_free(struct store_search_result *r)
{
	free(r->msgs);
	memset(r, 0, sizeof(*r));
}

/*
 * Whether a mailbox's failure ends the whole search: a bad query, no
 * memory, the user's interrupt, a server that cannot be reached. Any other
 * (a mailbox that refuses to be opened, one gone or recreated meanwhile) is
 * that mailbox's, which is then left out.
 */
static bool ends_search(struct store *st, int r)
{
	return r == -EINVAL || r == -ENOMEM || r == -EINTR || store_unreachable(st, r);
}

struct multi_job {
	const char *query;
	struct driver_search_hit *hits;
	size_t n;
	char *err;
	size_t errlen;
};

static int multi_job(struct session *s, void *ctx)
{
	struct multi_job *j = ctx;

	driver_search_hits_free(j->hits, j->n);
	j->hits = NULL;
	j->n = 0;
	if (!driver_can_multisearch(s))
		return -ENOTSUP;
	return driver_multisearch(s, j->query, &j->hits, &j->n, j->err, j->errlen);
}

struct rows_job {
	struct search_job j;
	const uint32_t *uids;
	size_t n;
};

/* The listing rows of the matches of a mailbox not listed (its UIDVALIDITY the search's). */
static int rows_job(struct session *s, void *ctx)
{
	struct rows_job *rj = ctx;
	struct driver_listing_sink sink = { .message = on_row, .ctx = &rj->j };
	int r = driver_select_valid(s, rj->j.wire, rj->j.uidvalidity);

	rj->j.nrows = 0;
	if (r == 0)
		r = driver_fetch_rows(s, rj->uids, rj->n, &sink);
	sort_rows(&rj->j);
	return driver_refused_here(s, r);
}

/*
 * One mailbox's matches from a search of many: its rows (from its listing,
 * or fetched for a mailbox not listed), kept as store_search keeps them.
 * -ESTALE when the UIDs are of another UIDVALIDITY than the mailbox has now.
 */
static int hit_rows(struct store *st, const char *query, uint32_t id,
		    const struct driver_search_hit *h, struct store_search_result *out)
{
	struct rows_job rj = { .j = { .st = st, .wire = h->wire, .uidvalidity = h->uidvalidity },
			       .uids = h->uids, .n = h->n };
	struct state now = { 0 };
	struct kept k = { .mailbox = id, .query = (char *)query, .uids = h->uids, .n = h->n,
			  .uidvalidity = h->uidvalidity };
	int r = current_state(st, id, &now);

	memset(out, 0, sizeof(*out));
	if (r == 0 && now.listed) {
		if (now.uidvalidity != h->uidvalidity)
			r = -ESTALE;
		if (r == 0)
			r = rows_from_listing(st, id, h->uids, h->n, out);
		k.uidnext = now.uidnext;
		k.exists = now.exists;
		k.modseq = now.modseq;
		k.changes = now.changes;
	} else if (r == 0) {
		r = pool_run(st->pool, now.wire, rows_job, &rj);
		if (r == 0) {
			*out = (struct store_search_result){ h->uidvalidity, rj.j.rows, rj.j.nrows };
			k.unlisted = true;
			k.rows = rj.j.rows;
			k.nrows = rj.j.nrows;
		} else {
			free(rj.j.rows);
		}
	}
	if (r == 0)
		keep(st->searches, &k);
	free(now.wire);
	return r;
}

/*
 * The account-wide search in one command (RFC 7377), where offered:
 * -ENOTSUP where not (remembered, so asked once).
 */
static int search_account_at_once(struct store *st, const char *query,
				  struct store_search_hit **hits, size_t *n, char *err,
				  size_t errlen)
{
	struct multi_job j = { .query = query, .err = err, .errlen = errlen };
	struct store_search_hit *out = NULL;
	size_t nout = 0, cap = 0;
	bool asked;
	int r;

	pthread_mutex_lock(&st->searches->lock);
	asked = st->searches->no_multisearch;
	pthread_mutex_unlock(&st->searches->lock);
	if (asked)
		return -ENOTSUP;
	r = pool_run(st->pool, NULL, multi_job, &j);
	if (r == -ENOTSUP) {
		pthread_mutex_lock(&st->searches->lock);
		st->searches->no_multisearch = true;
		pthread_mutex_unlock(&st->searches->lock);
	}
	for (size_t i = 0; r == 0 && i < j.n; i++) {
		struct store_search_result res;
		uint32_t id;
		int e = store_mailbox_by_wire(st, j.hits[i].wire, &id);

		if (e == 0)
			e = hit_rows(st, query, id, &j.hits[i], &res);
		if (e < 0 && !ends_search(st, e)) {
			/* A mailbox this mount does not know (yet), or of another UIDVALIDITY: its UIDs may name other mail. */
			log_warn("search \"%s\": results in %s left out: %s", query, j.hits[i].wire,
				 e == -ESTALE ? "its UIDVALIDITY changed" : strerror(-e));
			continue;
		}
		r = e;
		if (r == 0 && res.n && array_reserve(&out, &cap, nout + 1, sizeof(*out)) < 0)
			r = -ENOMEM;
		if (r == 0 && res.n)
			out[nout++] = (struct store_search_hit){ id, res };
		else
			store_search_result_free(&res);
	}
	driver_search_hits_free(j.hits, j.n);
	if (r < 0) {
		store_search_hits_free(out, nout);
		return r;
	}
	*hits = out;
	*n = nout;
	return 0;
}

struct account_run {
	struct store *st;
	const char *query;
	struct store_mailbox_ref *refs;
	size_t nrefs;
	const atomic_bool *cancel; /* the caller's: an interrupt ends the workers' waits too */
	pthread_mutex_t lock;      /* guards what follows */
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
	const atomic_bool *was = cancel_flag_of_thread(); /* the caller's own, when it works too */
	char err[300];

	cancel_on(run->cancel);
	for (;;) {
		struct store_mailbox_ref *ref;
		struct store_search_result res;
		int r;

		pthread_mutex_lock(&run->lock);
		ref = run->err || run->next == run->nrefs ? NULL : &run->refs[run->next++];
		pthread_mutex_unlock(&run->lock);
		if (!ref)
			break;
		r = store_search(run->st, ref->id, run->query, &res, err, sizeof(err));
		if (r < 0 && r != -ENOENT && !ends_search(run->st, r))
			log_warn("search \"%s\": mailbox %s left out: %s", run->query, ref->wire,
				 err[0] ? err : strerror(-r));
		pthread_mutex_lock(&run->lock);
		if (r == 0 && res.n &&
		    array_reserve(&run->hits, &run->cap, run->nhits + 1, sizeof(*run->hits)) < 0)
			r = -ENOMEM;
		if (r == 0 && res.n) {
			run->hits[run->nhits++] = (struct store_search_hit){ ref->id, res };
			memset(&res, 0, sizeof(res));
		} else if (r < 0 && ends_search(run->st, r) && !run->err) {
			run->err = r;
			snprintf(run->errmsg, run->errlen, "%s", err);
		}
		pthread_mutex_unlock(&run->lock);
		store_search_result_free(&res);
	}
	cancel_on(was);
	return NULL;
}

static int cmp_hit(const void *a, const void *b)
{
	uint32_t x = ((const struct store_search_hit *)a)->mailbox;
	uint32_t y = ((const struct store_search_hit *)b)->mailbox;

	return x < y ? -1 : x > y;
}

/* The account-wide search one mailbox at a time, spread over the pool's connections. */
static int search_account_spread(struct store *st, const char *query,
				 struct store_search_hit **hits, size_t *n, char *err,
				 size_t errlen)
{
	struct account_run run = { .st = st, .query = query, .errmsg = err, .errlen = errlen,
				   .cancel = cancel_flag_of_thread() };
	pthread_t threads[MAX_WORKERS];
	size_t nthreads = 0, o = 0;
	int r = store_mailbox_refs(st, &run.refs, &run.nrefs);

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
	while (nthreads + 1 < st->opts.connections && nthreads + 1 < run.nrefs &&
	       nthreads < MAX_WORKERS &&
	       pthread_create(&threads[nthreads], NULL, account_worker, &run) == 0)
		nthreads++;
	account_worker(&run);
	for (size_t i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_destroy(&run.lock);
	store_mailbox_refs_free(run.refs, run.nrefs);
	if (run.err) {
		store_search_hits_free(run.hits, run.nhits);
		return run.err;
	}
	*hits = run.hits;
	*n = run.nhits;
	return 0;
}

/* A deep copy of hits (NULL and 0 for none); -ENOMEM. */
static int copy_hits(const struct store_search_hit *hits, size_t n, struct store_search_hit **out)
{
	struct store_search_hit *c = n ? calloc(n, sizeof(*c)) : NULL;
	int err = 0;

	if (n && !c)
		return -ENOMEM;
	for (size_t i = 0; i < n && !err; i++) {
		c[i].mailbox = hits[i].mailbox;
		c[i].res.uidvalidity = hits[i].res.uidvalidity;
		c[i].res.msgs = dup_array(hits[i].res.msgs, hits[i].res.n, sizeof(*c[i].res.msgs),
					  &err);
		c[i].res.n = err ? 0 : hits[i].res.n;
	}
	if (err) {
		store_search_hits_free(c, n);
		return err;
	}
	*out = c;
	return 0;
}

/* A copy of the kept account-wide result of query, if it stands. */
static bool find_kept_account(struct store_searches *s, const char *query,
			      struct store_search_hit **hits, size_t *n)
{
	int64_t now = monotonic_ms();
	bool hit = false;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < ACCOUNT_KEPT && !hit; i++) {
		struct kept_account *a = &s->a[i];

		if (!a->query || strcmp(a->query, query) != 0 || now >= a->until_ms)
			continue;
		a->used_ms = now;
		hit = copy_hits(a->hits, a->n, hits) == 0;
		if (hit)
			*n = a->n;
	}
	pthread_mutex_unlock(&s->lock);
	return hit;
}

static void keep_account(struct store_searches *s, const char *query,
			 const struct store_search_hit *hits, size_t n, int64_t cost_ms)
{
	struct kept_account k = { .query = strdup(query), .n = n };
	size_t slot = 0;

	k.used_ms = monotonic_ms();
	k.until_ms = k.used_ms + (2 * cost_ms > ACCOUNT_TTL_MS ? 2 * cost_ms : ACCOUNT_TTL_MS);
	if (!k.query || copy_hits(hits, n, &k.hits) < 0) {
		free(k.query);
		return; /* only a saving */
	}
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < ACCOUNT_KEPT; i++) {
		if (s->a[i].query && strcmp(s->a[i].query, query) == 0) {
			slot = i;
			break;
		}
		if (!s->a[i].query || s->a[i].used_ms < s->a[slot].used_ms)
			slot = i;
		if (!s->a[i].query)
			break;
	}
	free(s->a[slot].query);
	store_search_hits_free(s->a[slot].hits, s->a[slot].n);
	s->a[slot] = k;
	pthread_mutex_unlock(&s->lock);
}

int store_search_account(struct store *st, const char *query, struct store_search_hit **hits,
			 size_t *n, char *err, size_t errlen)
{
	uint32_t last_used;
	int r;

	int64_t started = monotonic_ms();

	err[0] = '\0';
	*hits = NULL;
	*n = 0;
	if (find_kept_account(st->searches, query, hits, n))
		return 0;
	store_refresh_mailboxes(st, false);
	/* Searching every mailbox is no user's look at one: the watcher stays where it was. */
	pthread_mutex_lock(&st->lock);
	last_used = st->last_used;
	pthread_mutex_unlock(&st->lock);
	r = search_account_at_once(st, query, hits, n, err, errlen);
	if (r == -ENOTSUP)
		r = search_account_spread(st, query, hits, n, err, errlen);
	pthread_mutex_lock(&st->lock);
	st->last_used = last_used;
	pthread_mutex_unlock(&st->lock);
	if (r == 0 && *n)
		qsort(*hits, *n, sizeof(**hits), cmp_hit);
	if (r == 0)
		keep_account(st->searches, query, *hits, *n, monotonic_ms() - started);
	return r;
}

void store_search_hits_free(struct store_search_hit *h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_search_result_free(&h[i].res);
	free(h);
}
