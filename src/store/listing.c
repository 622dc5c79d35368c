/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "store/store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver/listing.h"
#include "driver/mailbox.h"
#include "imap/uid_set.h"
#include "log.h"
#include "store/listing_cache.h"
#include "store/body_cache.h"
#include "store/journal.h"
#include "store/pool.h"
#include "util/array.h"
#include "util/cancel.h"
#include "util/clock.h"

/* A listing being fetched: what was known, and what the driver found. */
struct listing {
	struct store *st;
	const char *wire;
	struct driver_listing_known known;
	struct driver_listing got;
	/* FULL: every message. DELTA: the messages from known.uidnext on. */
	struct store_msg *msgs;
	size_t n, cap;
	/* DELTA: (uid, flags) of known messages whose flags changed. */
	struct store_msg *flag_rows;
	size_t nflag_rows, flag_cap;
};

static int on_message(void *ctx, uint32_t uid, uint64_t size, int64_t date, const char *flags)
{
	struct listing *l = ctx;

	if (size > STORE_MAX_FILE) {
		log_warn("server sent UID %" PRIu32 " with size %" PRIu64 "; ignoring it", uid, size);
		return 0;
	}
	if (array_reserve(&l->msgs, &l->cap, l->n + 1, sizeof(*l->msgs)) < 0)
		return -ENOMEM;
	l->msgs[l->n++] = (struct store_msg){ .uid = uid, .size = size, .date = date,
					      .flags = flagsets_intern(&l->st->flags, flags) };
	return 0;
}

static int on_flags(void *ctx, uint32_t uid, const char *flags)
{
	struct listing *l = ctx;

	if (array_reserve(&l->flag_rows, &l->flag_cap, l->nflag_rows + 1, sizeof(*l->flag_rows)) < 0)
		return -ENOMEM;
	l->flag_rows[l->nflag_rows++] = (struct store_msg){
		.uid = uid, .flags = flagsets_intern(&l->st->flags, flags) };
	return 0;
}

static int listing_job(struct session *s, void *ctx)
{
	struct listing *l = ctx;
	const struct driver_listing_sink sink = { on_message, on_flags, l };

	/* A retry on another connection starts clean. */
	l->n = 0;
	l->nflag_rows = 0;
	return driver_fetch_listing(s, l->wire, &l->known, &sink, &l->got);
}

static int cmp_uid(const void *a, const void *b)
{
	const struct store_msg *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* Sorts by UID and drops repeated UIDs (a server may send a row twice). */
static size_t sort_unique(struct store_msg *m, size_t n)
{
	size_t out = 0;

	if (n == 0)
		return 0; /* m may be NULL */
	qsort(m, n, sizeof(*m), cmp_uid);
	for (size_t i = 0; i < n; i++)
		if (out == 0 || m[out - 1].uid != m[i].uid)
			m[out++] = m[i];
	return out;
}

/*
 * The UIDs m holds that the sorted list now[0..n) does not (all of them for
 * n == 0). Out of memory, none: the kernel forgets them at their timeout.
 */
static void gone_uids(const struct mailbox *m, const struct store_msg *now, size_t n,
		      uint32_t **out, size_t *nout)
{
	uint32_t *g = m->nmsgs ? malloc(m->nmsgs * sizeof(*g)) : NULL;
	size_t k = 0, j = 0;

	if (!g)
		return;
	for (size_t i = 0; i < m->nmsgs; i++) {
		while (j < n && now[j].uid < m->msgs[i].uid)
			j++;
		if (j == n || now[j].uid != m->msgs[i].uid)
			g[k++] = m->msgs[i].uid;
	}
	*out = g;
	*nout = k;
}

/* The row of uid in rows[0..n), sorted by UID; NULL if none. */
static struct store_msg *find_row(struct store_msg *rows, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rows[mid].uid == uid)
			return &rows[mid];
		if (rows[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * The listing a delta makes of the known rows base[0..nbase): those still
 * there, with their new flags, then the new messages. 0 or -ENOMEM.
 */
static int merge_delta(const struct store_msg *base, size_t nbase, struct listing *l,
		       struct store_msg **out, size_t *nout)
{
	struct store_msg *rows;
	size_t n = 0, nnew;

	nnew = sort_unique(l->msgs, l->n);
	rows = malloc((nbase + nnew) * sizeof(*rows) + 1);
	if (!rows)
		return -ENOMEM;
	for (size_t i = 0; i < nbase; i++)
		if (base[i].uid < l->known.uidnext &&
		    (!l->got.have_remaining ||
		     imap_uid_set_has(l->got.remaining, l->got.nremaining, base[i].uid)))
			rows[n++] = base[i];
	for (size_t i = 0; i < l->nflag_rows; i++) {
		struct store_msg *row = find_row(rows, n, l->flag_rows[i].uid);

		if (row)
			row->flags = l->flag_rows[i].flags;
	}
	/* "N:*" names the last message even when it is below N. */
	for (size_t i = 0; i < nnew; i++)
		if (l->msgs[i].uid >= l->known.uidnext)
			rows[n++] = l->msgs[i];
	*out = rows;
	*nout = n;
	return 0;
}

/* The listing kept on disk for wire, its flag sets made the store's. */
static int load_kept(struct store *st, const char *wire, struct listing_snapshot *kept)
{
	uint32_t *map;
	int r = listing_cache_load(st->bodies, wire, kept);

	if (r < 0)
		return r;
	map = malloc((kept->nflagsets + 1) * sizeof(*map));
	if (!map) {
		listing_snapshot_free(kept);
		return -ENOMEM;
	}
	for (size_t i = 0; i < kept->nflagsets; i++)
		map[i] = flagsets_intern(&st->flags, kept->flagsets[i]);
	for (size_t i = 0; i < kept->n; i++)
		kept->msgs[i].flags = map[kept->msgs[i].flags];
	free(map);
	return 0;
}

void store_kept_renamed(struct store *st, const char *old_wire, const char *new_wire)
{
	struct listing_snapshot kept;

	if (!st->bodies || listing_cache_load(st->bodies, old_wire, &kept) < 0)
		return;
	for (size_t i = 0; i < kept.n; i++)
		body_cache_rename(st->bodies, old_wire, new_wire, kept.uidvalidity, kept.msgs[i].uid);
	listing_cache_carry_names(st->bodies, old_wire, new_wire);
	if (listing_cache_save(st->bodies, new_wire, &kept) == 0)
		listing_cache_forget(st->bodies, old_wire);
	listing_snapshot_free(&kept);
}

/*
 * Keeps mailbox m's listing on disk. Called with m->refresh_lock held, so the
 * listings of one mailbox are written in the order they were made.
 */
static void save_kept(struct store *st, struct mailbox *m, const char *wire)
{
	struct listing_snapshot snap = { 0 };
	uint32_t *local = NULL;
	size_t nsets;
	bool ok;

	pthread_mutex_lock(&st->lock);
	nsets = flagsets_count(&st->flags); /* every index m holds is below it */
	snap.uidvalidity = m->uidvalidity;
	snap.uidnext = m->uidnext;
	snap.exists = m->exists;
	snap.modseq = m->modseq;
	snap.n = m->nmsgs;
	snap.msgs = malloc(m->nmsgs * sizeof(*snap.msgs) + 1);
	local = malloc(nsets * sizeof(*local) + 1);
	snap.flagsets = calloc(nsets + 1, sizeof(*snap.flagsets));
	ok = snap.msgs && local && snap.flagsets;
	if (ok) {
		if (m->nmsgs)
			memcpy(snap.msgs, m->msgs, m->nmsgs * sizeof(*snap.msgs));
		for (size_t i = 0; i < nsets; i++)
			local[i] = FLAGS_UNKNOWN;
	}
	/* Only the flag sets this mailbox uses, numbered in the file's own order. */
	for (size_t i = 0; ok && i < snap.n; i++) {
		uint32_t f = snap.msgs[i].flags;

		/* Flags too long to intern (FLAGS_UNKNOWN): this listing is not kept. */
		ok = f < nsets;
		if (ok && local[f] == FLAGS_UNKNOWN) {
			snap.flagsets[snap.nflagsets] = flagsets_text(&st->flags, f);
			ok = snap.flagsets[snap.nflagsets] != NULL;
			if (ok)
				local[f] = (uint32_t)snap.nflagsets++;
		}
		if (ok)
			snap.msgs[i].flags = local[f];
	}
	m->kept_behind = !ok;
	pthread_mutex_unlock(&st->lock);
	if (ok && listing_cache_save(st->bodies, wire, &snap) < 0) {
		pthread_mutex_lock(&st->lock);
		m->kept_behind = true;
		pthread_mutex_unlock(&st->lock);
	}
	free(local);
	listing_snapshot_free(&snap);
}

void store_keep_listings(struct store *st)
{
	size_t n;

	if (!st->bodies)
		return;
	pthread_mutex_lock(&st->lock);
	n = st->nmb;
	pthread_mutex_unlock(&st->lock);
	for (size_t id = 1; id < n; id++) {
		struct mailbox *m;
		char *wire = NULL;

		pthread_mutex_lock(&st->lock);
		m = mailbox_get(st, (uint32_t)id);
		if (m && m->kept_behind && m->has_listing && m->wire)
			wire = strdup(m->wire);
		pthread_mutex_unlock(&st->lock);
		/* The mailbox struct lives until unmount: its lock may be taken unlocked from st. */
		if (wire && pthread_mutex_lock(&m->refresh_lock) == 0) {
			save_kept(st, m, wire);
			pthread_mutex_unlock(&m->refresh_lock);
		}
		free(wire);
	}
}

/* A relisting of one mailbox under way, and what it changed for the sink. */
struct refresh {
	struct store *st;
	uint32_t id;
	struct mailbox *m;
	bool force;
	char *wire;
	struct listing l;
	struct listing_snapshot kept; /* the listing kept on disk, when this mount has none */
	bool from_disk, had_listing, selectable;
	struct store_msg *rows; /* the new listing, sorted by UID */
	size_t nrows;
	uint32_t *gone; /* UIDs gone, for the sink */
	size_t ngone;
	bool changed;   /* the directory's listing changed, for the sink */
};

/*
 * What the relisting starts from: the listing held (its rows stay after
 * store_listing_stale(), they are what a delta starts from), else the one
 * kept on disk. Caller holds m->refresh_lock. 1 if the listing is fresh
 * enough and nothing is to be done, 0 to fetch, or -errno.
 */
static int refresh_begin(struct refresh *rf)
{
	struct store *st = rf->st;
	struct mailbox *m = rf->m;
	struct driver_listing_known *k = &rf->l.known;

	pthread_mutex_lock(&st->lock);
	if (!rf->force && m->listed_at_ms &&
	    monotonic_ms() - m->listed_at_ms < st->opts.listing_ttl_ms) {
		pthread_mutex_unlock(&st->lock);
		return 1;
	}
	rf->wire = strdup(m->wire);
	rf->had_listing = m->has_listing; /* a stale one too: it is what offline shows */
	m->refreshing = true;
	m->ncrossing = 0;
	m->crossing_lost = false;
	k->known = m->uidvalidity != 0;
	k->uidvalidity = m->uidvalidity;
	k->uidnext = m->uidnext;
	k->exists = m->exists;
	k->modseq = m->modseq;
	pthread_mutex_unlock(&st->lock);
	if (!rf->wire)
		return -ENOMEM;
	if (!k->known && load_kept(st, rf->wire, &rf->kept) == 0) {
		rf->from_disk = true;
		*k = (struct driver_listing_known){ .known = true,
						    .uidvalidity = rf->kept.uidvalidity,
						    .uidnext = rf->kept.uidnext,
						    .exists = rf->kept.exists,
						    .modseq = rf->kept.modseq,
						    .flags_changed = k->flags_changed,
						    .counts_only = k->counts_only };
	}
	rf->l.wire = rf->wire;
	return 0;
}

/*
 * A mailbox LIST calls \Noselect that STATUS now says is gone: no message
 * is served on under a UID a new mailbox may reuse.
 */
static void forget_messages(struct refresh *rf)
{
	struct store *st = rf->st;
	struct mailbox *m = rf->m;

	pthread_mutex_lock(&st->lock);
	if (st->sink.message_gone)
		gone_uids(m, NULL, 0, &rf->gone, &rf->ngone);
	free(m->msgs);
	m->msgs = NULL;
	m->nmsgs = 0;
	m->msgs_cap = 0;
	m->newest_stale = true;
	m->uidvalidity = 0;
	m->listed_at_ms = 0;
	m->has_listing = false;
	pthread_mutex_unlock(&st->lock);
	rf->changed = rf->had_listing;
}

/*
 * Asks the server. 0 with rf->l.got to install, 1 when there is nothing to
 * install (and nothing failed), or -errno. Offline, the listing held stays,
 * and a listing kept on disk is installed as if unchanged.
 */
static int refresh_fetch(struct refresh *rf)
{
	struct store *st = rf->st;
	/*
	 * No connection is preferred: the listing starts with STATUS, which
	 * on a connection that has the mailbox selected costs an UNSELECT
	 * (driver_current_status), and that one may be running moves out of it.
	 */
	int r = pool_run(st->pool, NULL, listing_job, &rf->l);

	/* Dovecot 2.3 answers STATUS and EXAMINE of a mailbox deleted meanwhile without a code. */
	if (r == -EIO && !pool_server_down(st->pool) && store_gone_now(st, rf->id)) {
		r = -ENOENT;
	} else if (r == -EIO && !pool_server_down(st->pool)) {
		/*
		 * And of one made again a moment ago, for a moment ("Mailbox was
		 * deleted under us"): asked once more, not failed to the user.
		 */
		struct timespec pause = { 0, 100 * 1000000L };

		nanosleep(&pause, NULL);
		r = pool_run(st->pool, NULL, listing_job, &rf->l);
	}
	/*
	 * Refused still, and listed \Noselect as store_gone_now relisted it:
	 * a deleted mailbox Dovecot 2.3 keeps as a name (a stray file inside)
	 * has nothing to list.
	 */
	if (r == -EIO && !pool_server_down(st->pool) &&
	    store_mailbox_exists(st, rf->id, &rf->selectable) == 0 && !rf->selectable)
		r = -ENOENT;
	if (r == -ENOENT && !rf->selectable) {
		forget_messages(rf);
		return 1;
	}
	if (r == 0)
		return 0;
	/* Offline: the messages as last listed (bodies come from the disk cache). */
	if (!store_unreachable(st, r) || rf->force || !(rf->had_listing || rf->from_disk))
		return r;
	if (!rf->from_disk)
		return 1;
	rf->l.got.kind = DRIVER_LISTING_UNCHANGED; /* installed below as the kept listing */
	rf->l.got.sel = (struct session_mailbox){ .uidvalidity = rf->kept.uidvalidity,
						  .uidnext = rf->kept.uidnext,
						  .exists = rf->kept.exists,
						  .highestmodseq = rf->kept.modseq };
	return 0;
}

/*
 * A message never changes, and neither does its size: where the listing held
 * (same UIDVALIDITY) says another size than the server lists now, ours was
 * measured from the bytes (store_message_resized) and stays. Both sorted by UID.
 */
static void keep_measured_sizes(struct store_msg *rows, size_t n, const struct store_msg *held,
				size_t nheld)
{
	size_t j = 0;

	for (size_t i = 0; i < n && j < nheld; i++) {
		while (j < nheld && held[j].uid < rows[i].uid)
			j++;
		if (j < nheld && held[j].uid == rows[i].uid)
			rows[i].size = held[j].size;
	}
}

/* The new listing's rows from what was fetched. 0 or -ENOMEM. */
static int refresh_rows(struct refresh *rf)
{
	struct store *st = rf->st;
	struct listing *l = &rf->l;
	int r = 0;

	if (l->got.kind == DRIVER_LISTING_DELTA) {
		pthread_mutex_lock(&st->lock);
		if (rf->from_disk)
			r = merge_delta(rf->kept.msgs, rf->kept.n, l, &rf->rows, &rf->nrows);
		else
			r = merge_delta(rf->m->msgs, rf->m->nmsgs, l, &rf->rows, &rf->nrows);
		pthread_mutex_unlock(&st->lock);
	} else if (l->got.kind == DRIVER_LISTING_FULL) {
		rf->nrows = sort_unique(l->msgs, l->n);
		rf->rows = l->msgs;
		l->msgs = NULL;
		pthread_mutex_lock(&st->lock);
		if (rf->from_disk && rf->kept.uidvalidity == l->got.sel.uidvalidity)
			keep_measured_sizes(rf->rows, rf->nrows, rf->kept.msgs, rf->kept.n);
		else if (!rf->from_disk && rf->m->uidvalidity == l->got.sel.uidvalidity)
			keep_measured_sizes(rf->rows, rf->nrows, rf->m->msgs, rf->m->nmsgs);
		pthread_mutex_unlock(&st->lock);
	} else if (rf->from_disk) {
		rf->rows = rf->kept.msgs;
		rf->nrows = rf->kept.n;
		rf->kept.msgs = NULL;
	}
	return r;
}

/* Caller holds st->lock. Removes uid from rows[0..*n) (sorted); whether it was there. */
static bool rows_remove(struct store_msg *rows, size_t *n, uint32_t uid)
{
	struct store_msg *r = find_row(rows, *n, uid);

	if (!r)
		return false;
	memmove(r, r + 1, (size_t)(rows + *n - r - 1) * sizeof(*r));
	(*n)--;
	return true;
}

/*
 * Caller holds st->lock. Makes the changes made through the mount while
 * rf was fetched again on its rows, which may predate them: a message moved
 * away meanwhile is not shown again, one moved in is not lost until the
 * next relisting.
 */
static void replay_crossing(struct refresh *rf)
{
	struct mailbox *m = rf->m;
	size_t cap = rf->nrows;

	for (size_t i = 0; i < m->ncrossing; i++) {
		const struct listing_change *c = &m->crossing[i];
		size_t at;

		if (!c->added) {
			if (rows_remove(rf->rows, &rf->nrows, c->row.uid) && rf->l.got.sel.exists)
				rf->l.got.sel.exists--;
			continue;
		}
		if (find_row(rf->rows, rf->nrows, c->row.uid))
			continue;
		if (array_reserve(&rf->rows, &cap, rf->nrows + 1, sizeof(*rf->rows)) < 0) {
			m->crossing_lost = true;
			return;
		}
		at = rf->nrows;
		while (at > 0 && rf->rows[at - 1].uid > c->row.uid)
			at--;
		memmove(rf->rows + at + 1, rf->rows + at, (rf->nrows - at) * sizeof(*rf->rows));
		rf->rows[at] = c->row;
		rf->nrows++;
		rf->l.got.sel.exists++;
	}
}

/*
 * Caller holds st->lock. The next look asks the server; a relisting under
 * way, which may have fetched before what made it stale, is not trusted.
 */
static void mark_stale(struct mailbox *m)
{
	m->listed_at_ms = 0;
	if (m->refreshing)
		m->crossing_lost = true;
}

/* Caller holds st->lock. Notes a change for a relisting under way (replay_crossing). */
static void note_crossing(struct mailbox *m, bool added, const struct store_msg *row)
{
	m->changes++;
	if (!m->refreshing)
		return;
	if (array_reserve(&m->crossing, &m->crossing_cap, m->ncrossing + 1,
			  sizeof(*m->crossing)) < 0) {
		m->crossing_lost = true;
		return;
	}
	m->crossing[m->ncrossing++] = (struct listing_change){ .added = added, .row = *row };
}

/* Makes the new listing the mailbox's, noting which UIDs went. */
static void refresh_install(struct refresh *rf)
{
	struct store *st = rf->st;
	struct mailbox *m = rf->m;
	const struct session_mailbox *sel = &rf->l.got.sel;

	pthread_mutex_lock(&st->lock);
	if (rf->rows || rf->l.got.kind != DRIVER_LISTING_UNCHANGED) {
		bool new_validity = m->uidvalidity && m->uidvalidity != sel->uidvalidity;

		if (!new_validity)
			replay_crossing(rf);

		if (new_validity)
			log_info("mailbox %s: UIDVALIDITY changed from %u to %u; forgetting its messages",
				 rf->wire, m->uidvalidity, sel->uidvalidity);
		if (st->sink.message_gone)
			gone_uids(m, rf->rows, new_validity ? 0 : rf->nrows, &rf->gone, &rf->ngone);
		rf->changed = rf->had_listing;
		free(m->msgs);
		m->nmsgs = rf->nrows;
		m->msgs_cap = rf->nrows; /* at least */
		m->newest_stale = true;
		m->msgs = rf->rows;
		rf->rows = NULL;
		m->uidvalidity = sel->uidvalidity;
		m->uidnext = sel->uidnext;
		m->exists = sel->exists;
		m->modseq = sel->highestmodseq;
		/* Ours that took the server's UIDNEXT as fetched: none other came before them. */
		for (size_t i = 0; !new_validity && i < m->ncrossing; i++)
			if (m->crossing[i].added && m->crossing[i].row.uid == m->uidnext &&
			    m->uidnext != UINT32_MAX)
				m->uidnext++;
	}
	/* A change noted too late to be made again: good to show, not to trust. */
	m->listed_at_ms = m->crossing_lost ? 0 : monotonic_ms();
	m->has_listing = true;
	pthread_mutex_unlock(&st->lock);
}

/* Tells the sink, outside the locks (it may take its own), and frees rf's state. */
static void refresh_end(struct refresh *rf)
{
	struct store *st = rf->st;

	for (size_t i = 0; i < rf->ngone; i++)
		st->sink.message_gone(st->sink.ctx, rf->id, rf->gone[i]);
	if (rf->changed && st->sink.dir_changed)
		st->sink.dir_changed(st->sink.ctx, rf->id);
	free(rf->gone);
	free(rf->rows);
	free(rf->l.msgs);
	free(rf->l.flag_rows);
	free(rf->l.got.remaining);
	listing_snapshot_free(&rf->kept);
	free(rf->wire);
}

/*
 * Changes made offline and not yet carried out (store/offline.h) shown over
 * what was listed, from the server or from disk, in this mount or the next:
 * what the user added and removed, over the flags listed now; messages
 * moved or expunged, gone.
 */
static void listing_moved(struct store *st, uint32_t from, uint32_t uidvalidity, uint32_t uid,
			  uint32_t to, uint32_t to_uidvalidity, uint32_t newuid, bool made);
static void msg_flags_changed(struct store *st, uint32_t id, uint32_t uid, const char *flags,
			      bool made);

static void overlay_journal(struct store *st, uint32_t id)
{
	struct journal_op *ops;
	size_t n;
	char *wire;

	if (journal_pending(st->journal) == 0 || journal_pending_ops(st->journal, &ops, &n) < 0)
		return;
	wire = store_mailbox_wire(st, id);
	for (size_t i = 0; wire && i < n; i++) {
		struct store_msg msg;
		uint32_t uidvalidity;
		char *cur, *now;

		if (strcmp(ops[i].wire, wire) != 0 ||
		    store_held_message(st, id, ops[i].uid, &msg, &uidvalidity) < 0 ||
		    uidvalidity != ops[i].uidvalidity)
			continue;
		if (ops[i].kind != JOURNAL_FLAGS) {
			listing_moved(st, id, uidvalidity, ops[i].uid, 0, 0, 0, false);
			continue;
		}
		cur = store_flags_text(st, msg.flags);
		now = cur ? flaglist_apply(cur, ops[i].add, ops[i].remove) : NULL;
		if (now && strcmp(now, cur) != 0)
			msg_flags_changed(st, id, ops[i].uid, now, false);
		free(cur);
		free(now);
	}
	free(wire);
	journal_ops_free(ops, n);
}

static int refresh(struct store *st, uint32_t id, bool force, bool flags_changed,
		   bool counts_only);

int store_refresh(struct store *st, uint32_t id, bool force, bool flags_changed)
{
	return refresh(st, id, force, flags_changed, false);
}

int store_recount_listing(struct store *st, uint32_t id)
{
	return refresh(st, id, true, false, true);
}

static int refresh(struct store *st, uint32_t id, bool force, bool flags_changed,
		   bool counts_only)
{
	struct refresh rf = { .st = st, .id = id, .force = force,
			      .l = { .st = st, .known.flags_changed = flags_changed,
				     .known.counts_only = counts_only } };
	int r;

	pthread_mutex_lock(&st->lock);
	rf.m = mailbox_get(st, id);
	/*
	 * One LIST called \Noselect but with messages listed is asked again by
	 * STATUS all the same: Dovecot 2.3 lists a mailbox deleted and created
	 * again \Noselect for a while, and may not tell NOTIFY clients of the
	 * creation, while the kernel, which has the names, would never make us
	 * ask the tree again. STATUS decides (NONEXISTENT forgets the messages).
	 */
	if (!rf.m || !rf.m->wire || (!rf.m->selectable && !rf.m->uidvalidity)) {
		pthread_mutex_unlock(&st->lock);
		return rf.m ? 0 : -ENOENT;
	}
	rf.selectable = rf.m->selectable;
	if (!force)
		st->last_used = id; /* a user's look, not the watcher's */
	/*
	 * Fresh enough: answered without waiting for a relisting under way (the
	 * watcher's, after another client reflagged thousands of messages).
	 */
	if (!force && rf.m->listed_at_ms &&
	    monotonic_ms() - rf.m->listed_at_ms < st->opts.listing_ttl_ms) {
		pthread_mutex_unlock(&st->lock);
		return 0;
	}
	pthread_mutex_unlock(&st->lock);

	/* The mailbox struct lives until unmount, so its lock may be held unlocked from st. */
	r = cancel_lock(&rf.m->refresh_lock);
	if (r < 0)
		return r;
	r = refresh_begin(&rf);
	if (r == 0)
		r = refresh_fetch(&rf);
	if (r == 0)
		r = refresh_rows(&rf);
	if (r == 0) {
		refresh_install(&rf);
		if (st->bodies && rf.l.got.kind != DRIVER_LISTING_UNCHANGED)
			save_kept(st, rf.m, rf.wire);
	}
	pthread_mutex_lock(&st->lock);
	rf.m->refreshing = false;
	rf.m->ncrossing = 0;
	pthread_mutex_unlock(&st->lock);
	pthread_mutex_unlock(&rf.m->refresh_lock);
	refresh_end(&rf);
	if (r >= 0)
		overlay_journal(st, id);
	return r > 0 ? 0 : r;
}

int store_messages(struct store *st, uint32_t id, struct store_msg **out, size_t *n,
		   uint32_t *uidvalidity)
{
	struct mailbox *m;
	int r = store_refresh(st, id, false, false);

	if (r < 0)
		return r;
	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (!m) {
		r = -ENOENT;
	} else if (m->nmsgs) {
		*out = malloc(m->nmsgs * sizeof(**out));
		if (*out) {
			memcpy(*out, m->msgs, m->nmsgs * sizeof(**out));
			*n = m->nmsgs;
		} else {
			r = -ENOMEM;
		}
	}
	if (m && uidvalidity)
		*uidvalidity = m->uidvalidity;
	pthread_mutex_unlock(&st->lock);
	return r;
}

/* Whether the journal holds moves into mailbox id, not made yet. */
static bool moving_into(struct store *st, uint32_t id)
{
	char *wire;
	bool yes;

	if (journal_pending(st->journal) == 0)
		return false;
	wire = store_mailbox_wire(st, id);
	yes = wire && journal_moving_into(st->journal, wire);
	free(wire);
	return yes;
}

/* Caller holds st->lock. */
static const struct store_msg *find_msg(const struct mailbox *m, uint32_t uid)
{
	return find_row(m->msgs, m->nmsgs, uid);
}

struct status_job {
	const char *wire;
	struct driver_status *now;
};

static int status_job(struct session *s, void *ctx)
{
	struct status_job *j = ctx;

	return driver_current_status(s, j->wire, j->now);
}

int store_status_now(struct store *st, const char *wire, struct driver_status *now)
{
	struct status_job j = { .wire = wire, .now = now };

	return pool_run(st->pool, NULL, status_job, &j);
}

/*
 * Whether uid is at or past mailbox id's UIDNEXT as the server says now (as
 * of uidvalidity): then it is no message there yet. One STATUS, where a
 * relisting would also fetch every flag another client changed.
 */
static bool uid_beyond(struct store *st, uint32_t id, uint32_t uid, uint32_t uidvalidity)
{
	char *wire = store_mailbox_wire(st, id);
	struct driver_status now = { 0 };
	bool beyond = false;

	if (wire && store_status_now(st, wire, &now) == 0)
		beyond = uidvalidity && now.uidvalidity == uidvalidity && now.uidnext &&
			 uid >= now.uidnext;
	free(wire);
	return beyond;
}

int store_message(struct store *st, uint32_t id, uint32_t uid, struct store_msg *out,
		  uint32_t *uidvalidity)
{
	for (int pass = 0; pass < 2; pass++) {
		const struct store_msg *msg;
		struct mailbox *m;
		int r = store_refresh(st, id, false, false);

		if (r < 0)
			return r;
		pthread_mutex_lock(&st->lock);
		m = mailbox_get(st, id);
		msg = m ? find_msg(m, uid) : NULL;
		uint32_t uidnext = m ? m->uidnext : 0, held_uidvalidity = m ? m->uidvalidity : 0;
		bool proven = m && m->uidnext_proven_ms && m->proven_uidnext == uidnext &&
			      monotonic_ms() - m->uidnext_proven_ms < st->opts.listing_ttl_ms;

		if (msg) {
			*out = *msg;
			*uidvalidity = m->uidvalidity;
		}
		pthread_mutex_unlock(&st->lock);
		if (msg)
			return 0;
		if (!m)
			return -ENOENT;
		/*
		 * Unknown UID: only a listing older than this moment can say it
		 * is not there, or a UIDNEXT our own change proved a moment ago.
		 * While moves into this mailbox wait in the journal (-o writeback:
		 * mv looks up every name it files), it is relisted once they are
		 * made, not at every name.
		 */
		if (pass == 0 && (uid < uidnext || proven || moving_into(st, id) ||
				  uid_beyond(st, id, uid, held_uidvalidity)))
			return -ENOENT;
		pthread_mutex_lock(&st->lock);
		mark_stale(m);
		pthread_mutex_unlock(&st->lock);
		if (pass == 1)
			return -ENOENT;
	}
	return -ENOENT;
}

int store_held_message(struct store *st, uint32_t id, uint32_t uid, struct store_msg *out,
		       uint32_t *uidvalidity)
{
	const struct store_msg *msg = NULL;
	struct mailbox *m;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m && m->has_listing)
		msg = find_msg(m, uid);
	if (msg) {
		*out = *msg;
		*uidvalidity = m->uidvalidity;
	}
	pthread_mutex_unlock(&st->lock);
	return msg ? 0 : -ENOENT;
}

ssize_t store_next_messages(struct store *st, uint32_t id, uint32_t uidvalidity, uint32_t after,
			    struct store_msg *out, size_t max)
{
	struct mailbox *m;
	size_t lo = 0, hi, n = 0;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (!m || m->uidvalidity != uidvalidity) {
		pthread_mutex_unlock(&st->lock);
		return -ESTALE;
	}
	hi = m->nmsgs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->msgs[mid].uid <= after)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < m->nmsgs && n < max; lo++)
		out[n++] = m->msgs[lo];
	pthread_mutex_unlock(&st->lock);
	return (ssize_t)n;
}

int store_refresh_listing(struct store *st, uint32_t id, bool full)
{
	return store_refresh(st, id, true, full);
}

uint32_t store_last_used(struct store *st)
{
	uint32_t id;

	pthread_mutex_lock(&st->lock);
	id = st->last_used;
	pthread_mutex_unlock(&st->lock);
	return id;
}

void store_set_listing_ttl(struct store *st, int ms)
{
	pthread_mutex_lock(&st->lock);
	st->opts.listing_ttl_ms = ms;
	pthread_mutex_unlock(&st->lock);
}

uint32_t store_known_uidvalidity(struct store *st, uint32_t id)
{
	struct mailbox *m;
	uint32_t uv = 0;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m)
		uv = m->uidvalidity;
	pthread_mutex_unlock(&st->lock);
	return uv;
}

void store_listing_stale(struct store *st, uint32_t id)
{
	struct mailbox *m;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m)
		mark_stale(m);
	pthread_mutex_unlock(&st->lock);
}

/* Caller holds st->lock. Takes message uid out of m's rows into *row; false if it was not there. */
static bool take_row(struct mailbox *m, uint32_t uid, struct store_msg *row)
{
	struct store_msg *msg = find_row(m->msgs, m->nmsgs, uid);
	size_t i;

	if (!msg)
		return false;
	*row = *msg;
	i = (size_t)(msg - m->msgs);
	memmove(msg, msg + 1, (m->nmsgs - i - 1) * sizeof(*msg));
	m->nmsgs--;
	if (m->exists)
		m->exists--;
	if (row->date >= m->newest_date)
		m->newest_stale = true;
	note_crossing(m, false, row);
	return true;
}

/*
 * Caller holds st->lock. Puts row into m's rows, in UID order; false if
 * that cannot be done for certain (the listing is then to be made stale).
 */
static bool put_row(struct mailbox *m, uint32_t uidvalidity, const struct store_msg *row)
{
	struct store_msg *msgs = m->msgs;
	size_t i = m->nmsgs;

	if (!m->has_listing || !uidvalidity || uidvalidity != m->uidvalidity || !row->uid ||
	    row->flags == FLAGS_UNKNOWN)
		return false;
	if (find_row(m->msgs, m->nmsgs, row->uid))
		return true; /* a listing made since has it already */
	if (array_reserve(&msgs, &m->msgs_cap, m->nmsgs + 1, sizeof(*msgs)) < 0)
		return false;
	m->msgs = msgs;
	while (i > 0 && msgs[i - 1].uid > row->uid)
		i--;
	memmove(msgs + i + 1, msgs + i, (m->nmsgs - i) * sizeof(*msgs));
	msgs[i] = *row;
	m->nmsgs++;
	m->exists++;
	if (row->date > m->newest_date)
		m->newest_date = row->date;
	/*
	 * UIDs are handed out in ascending order: taking the UIDNEXT we held,
	 * ours was the only message to come since, and the listing stays whole.
	 * Above it, another client's came first; the next delta fetches from
	 * the UIDNEXT held on, ours again among them.
	 */
	if (row->uid == m->uidnext && row->uid != UINT32_MAX) {
		m->uidnext = row->uid + 1;
		m->proven_uidnext = m->uidnext;
		m->uidnext_proven_ms = monotonic_ms();
	}
	note_crossing(m, true, row);
	return true;
}

/*
 * made: by a change made through the mount (its listing on disk is behind
 * now), not one laid over from the journal (overlay_journal: not made yet,
 * and laid over again at every listing, so never kept on disk).
 */
static void listing_moved(struct store *st, uint32_t from, uint32_t uidvalidity, uint32_t uid,
			  uint32_t to, uint32_t to_uidvalidity, uint32_t newuid, bool made)
{
	struct store_msg row = { 0 };
	struct mailbox *m;
	bool had = false;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, from);
	if (m && m->uidvalidity == uidvalidity)
		had = take_row(m, uid, &row);
	else if (m)
		mark_stale(m);
	if (had && made)
		m->kept_behind = true;
	if (to && mailbox_get(st, from))
		store_readable_moved(mailbox_get(st, from), uid, mailbox_get(st, to), to_uidvalidity,
				     newuid);
	m = to ? mailbox_get(st, to) : NULL;
	if (m) {
		row.uid = newuid;
		/* A message moved keeps its size, date and flags (RFC 6851 §3.3). */
		if (!had || !put_row(m, to_uidvalidity, &row))
			mark_stale(m);
		else
			m->kept_behind = true;
	}
	pthread_mutex_unlock(&st->lock);
	/* What a relisting would have told (its .parts view goes with it, directories change). */
	if (st->sink.message_gone)
		st->sink.message_gone(st->sink.ctx, from, uid);
	if (st->sink.dir_changed) {
		st->sink.dir_changed(st->sink.ctx, from);
		if (to)
			st->sink.dir_changed(st->sink.ctx, to);
	}
}

void store_listing_moved(struct store *st, uint32_t from, uint32_t uidvalidity, uint32_t uid,
			 uint32_t to, uint32_t to_uidvalidity, uint32_t newuid)
{
	listing_moved(st, from, uidvalidity, uid, to, to_uidvalidity, newuid, true);
}

void store_listing_added(struct store *st, uint32_t id, uint32_t uidvalidity,
			 const struct store_msg *row, const char *flags)
{
	struct store_msg r = *row;
	struct mailbox *m;

	r.flags = flagsets_intern(&st->flags, flags);
	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m && !put_row(m, uidvalidity, &r))
		mark_stale(m);
	else if (m)
		m->kept_behind = true;
	pthread_mutex_unlock(&st->lock);
	if (st->sink.dir_changed)
		st->sink.dir_changed(st->sink.ctx, id);
}

/* made: as for listing_moved(). */
static void msg_flags_changed(struct store *st, uint32_t id, uint32_t uid, const char *flags,
			      bool made)
{
	uint32_t idx = flagsets_intern(&st->flags, flags);
	struct mailbox *m;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m) {
		struct store_msg *msg = (struct store_msg *)find_msg(m, uid);

		if (msg && msg->flags != idx) {
			msg->flags = idx;
			m->kept_behind |= made;
		}
	}
	pthread_mutex_unlock(&st->lock);
}

void store_msg_flags_changed(struct store *st, uint32_t id, uint32_t uid, const char *flags)
{
	msg_flags_changed(st, id, uid, flags, true);
}

int64_t store_newest_date(struct store *st, uint32_t id)
{
	struct mailbox *m;
	int64_t newest = 0;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m && m->has_listing) {
		if (m->newest_stale) {
			m->newest_date = 0;
			for (size_t i = 0; i < m->nmsgs; i++)
				if (m->msgs[i].date > m->newest_date)
					m->newest_date = m->msgs[i].date;
			m->newest_stale = false;
		}
		newest = m->newest_date;
	}
	pthread_mutex_unlock(&st->lock);
	return newest;
}

char *store_flags_text(struct store *st, uint32_t flags)
{
	return flagsets_text(&st->flags, flags);
}

void store_message_resized(struct store *st, uint32_t id, uint32_t uidvalidity, uint32_t uid,
			   uint64_t size)
{
	struct store_msg *msg = NULL;
	struct mailbox *m;
	uint64_t claimed = 0;
	char *wire = NULL;
	bool first = false;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m && m->uidvalidity == uidvalidity)
		msg = (struct store_msg *)find_msg(m, uid);
	if (msg && msg->size != size) {
		claimed = msg->size;
		msg->size = size;
		first = !m->sizes_wrong;
		m->sizes_wrong = true;
		wire = strdup(m->wire);
	}
	pthread_mutex_unlock(&st->lock);
	if (!wire)
		return;
	if (first)
		log_warn("mailbox %s: the server's sizes are wrong (UID %" PRIu32 " listed as %" PRIu64
			 " bytes, sent as %" PRIu64 "); showing the bytes it sends", wire, uid, claimed,
			 size);
	/* Kept in the order listings are made: under the mailbox's refresh lock. */
	if (st->bodies && cancel_lock(&m->refresh_lock) == 0) {
		save_kept(st, m, wire);
		pthread_mutex_unlock(&m->refresh_lock);
	}
	free(wire);
}
