/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "watch/watch.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver/mailbox.h"
#include "driver/notify.h"
#include "log.h"
#include "util/clock.h"

/* Servers may drop an IDLE after 30 minutes (RFC 2177): renew well before. */
#define IDLE_RENEW_MS (25 * 60 * 1000)
#define BACKOFF_MAX_MS 30000
#define MAX_PENDING 256

struct watch {
	struct store *st;
	const struct session_config *cfg;
	struct watch_options opts;
	pthread_t thread;
	atomic_bool stop;

	struct session *s;
	bool notify;
	uint32_t selected;     /* mailbox the watcher has selected, 0 for none */
	uint32_t passed_over;  /* mailbox in use left unselected: listed \Noselect */
	int64_t next_poll_ms;

	/* Events heard during IDLE, handled at the next tick. */
	uint32_t pending[MAX_PENDING];
	bool pending_full[MAX_PENDING];
	size_t npending;
	bool tree_changed;
	bool overflow; /* too many to track one by one: look at everything */
	int64_t handled_at_ms; /* when tick() last handled what was heard */
};

/*
 * What IDLE hears is handled at most this often: tick() runs after every
 * response, and another client reflagging thousands of messages (or a
 * filing through this mount) would otherwise relist a mailbox per response.
 */
#define SETTLE_MS 100

static bool stopping(struct watch *w)
{
	return atomic_load(&w->stop);
}

static void note_mailbox(struct watch *w, uint32_t id, bool full)
{
	for (size_t i = 0; i < w->npending; i++) {
		if (w->pending[i] == id) {
			w->pending_full[i] |= full;
			return;
		}
	}
	if (w->npending == MAX_PENDING) {
		w->overflow = true;
		return;
	}
	w->pending[w->npending] = id;
	w->pending_full[w->npending++] = full;
}

static void on_event(void *ctx, const struct driver_event *e)
{
	struct watch *w = ctx;
	uint32_t id;

	switch (e->kind) {
	case DRIVER_EVENT_STATUS:
		if (store_mailbox_by_wire(w->st, e->wire, &id) == 0)
			note_mailbox(w, id, false);
		break;
	case DRIVER_EVENT_TREE:
		w->tree_changed = true;
		break;
	case DRIVER_EVENT_MESSAGES:
	case DRIVER_EVENT_FLAGS:
		/* A flag change does not move the counters: the listing is fetched whole. */
		if (w->selected)
			note_mailbox(w, w->selected, e->kind == DRIVER_EVENT_FLAGS);
		break;
	}
}

/*
 * Relists mailbox id; the store's sink tells the kernel which names went.
 * Not full: only messages came or went, so the counts tell.
 */
static void mailbox_changed(struct watch *w, uint32_t id, bool full)
{
	if (full)
		store_refresh_listing(w->st, id, true);
	else
		store_recount_listing(w->st, id);
}

static bool has_ref(const struct store_mailbox_ref *r, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].id == id)
			return true;
	return false;
}

/*
 * Relists the tree (the store's sink tells the kernel which names went)
 * and relists the messages of every mailbox a user looked at: one deleted
 * and created again meanwhile holds other messages now.
 */
static void tree_changed(struct watch *w)
{
	struct store_mailbox_ref *before = NULL, *after = NULL;
	size_t nbefore = 0, nafter = 0;

	if (store_mailbox_refs(w->st, &before, &nbefore) < 0)
		return;
	if (store_refresh_mailboxes(w->st, true) == 0 &&
	    store_mailbox_refs(w->st, &after, &nafter) == 0) {
		for (size_t i = 0; i < nbefore; i++)
			if (before[i].listed && has_ref(after, nafter, before[i].id))
				note_mailbox(w, before[i].id, false);
		store_mailbox_refs_free(after, nafter);
	}
	store_mailbox_refs_free(before, nbefore);
}

static void handle_pending(struct watch *w)
{
	if (w->tree_changed) {
		w->tree_changed = false;
		tree_changed(w);
	}
	if (w->overflow) {
		struct store_mailbox_ref *refs;
		size_t n;

		w->overflow = false;
		w->npending = 0;
		if (store_mailbox_refs(w->st, &refs, &n) == 0) {
			for (size_t i = 0; i < n; i++)
				if (refs[i].listed)
					mailbox_changed(w, refs[i].id, true);
			store_mailbox_refs_free(refs, n);
		}
	}
	/* Taken one at a time: handling may note more. */
	while (w->npending) {
		uint32_t id = w->pending[0];
		bool full = w->pending_full[0];

		memmove(w->pending, w->pending + 1, (w->npending - 1) * sizeof(w->pending[0]));
		memmove(w->pending_full, w->pending_full + 1,
			(w->npending - 1) * sizeof(w->pending_full[0]));
		w->npending--;
		mailbox_changed(w, id, full);
	}
}

static int tick(void *ctx)
{
	struct watch *w = ctx;
	int64_t now = monotonic_ms();
	uint32_t used;

	if (now - w->handled_at_ms >= SETTLE_MS) {
		handle_pending(w);
		w->handled_at_ms = now;
	}
	if (stopping(w))
		return 1;
	used = store_last_used(w->st);
	if (used && used != w->selected && used != w->passed_over)
		return 1; /* follow the user to the mailbox now in use */
	return !w->notify && monotonic_ms() >= w->next_poll_ms;
}

/* Without NOTIFY: STATUS of every mailbox a user has looked at, and the tree. */
static int poll_others(struct watch *w)
{
	struct store_mailbox_ref *refs;
	size_t n;
	int r = 0;

	w->tree_changed = true;
	handle_pending(w);
	if (store_mailbox_refs(w->st, &refs, &n) < 0)
		return 0;
	for (size_t i = 0; i < n && r >= 0 && !stopping(w); i++) {
		struct driver_status p;

		if (!refs[i].listed || refs[i].id == w->selected)
			continue;
		r = driver_status(w->s, refs[i].wire, &p);
		if (r == -EIO && !session_alive(w->s))
			break;
		/*
		 * Refused: gone, maybe while the STATUS ran, and then Dovecot 2.3
		 * keeps its lock in the renamed mailbox while this connection
		 * lives (see driver_current_status). Elsewhere a refusal (a
		 * throttled server) is no reason to log in again.
		 */
		if (r == -EIO && driver_tree_goes_stale(w->s)) {
			session_abandon(w->s, "a mailbox went away while the server answered its STATUS");
			break;
		}
		if (r == 0 && (p.uidvalidity != refs[i].uidvalidity || p.uidnext != refs[i].uidnext ||
			       p.messages != refs[i].exists))
			note_mailbox(w, refs[i].id, false);
		r = 0;
	}
	store_mailbox_refs_free(refs, n);
	handle_pending(w);
	w->next_poll_ms = monotonic_ms() + (int64_t)w->opts.poll_interval_s * 1000;
	return r;
}

/* Selects (read-only) the mailbox in use, so its flag changes are heard too. */
static int follow_mailbox(struct watch *w)
{
	uint32_t used = store_last_used(w->st);
	struct store_mailbox_ref *refs;
	struct session_mailbox sel;
	size_t n;
	int r = 0;

	if (!used && !w->notify) {
		/* Nothing used yet: INBOX is where new mail lands. */
		if (store_mailbox_refs(w->st, &refs, &n) == 0) {
			for (size_t i = 0; i < n; i++)
				if (strcmp(refs[i].wire, "INBOX") == 0)
					used = refs[i].id;
			store_mailbox_refs_free(refs, n);
		}
	}
	if (!used || used == w->selected)
		return 0;
	if (store_mailbox_refs(w->st, &refs, &n) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (refs[i].id != used)
			continue;
		/*
		 * Listed \Noselect now (deleted by another client, and kept by
		 * Dovecot 2.3 as a name): its EXAMINE fails without a code,
		 * which would drop this connection at every tick. Looked at
		 * again whenever IDLE ends for another reason.
		 */
		if (!refs[i].selectable) {
			w->passed_over = used;
			break;
		}
		r = session_select(w->s, refs[i].wire, false, &sel);
		if (r == 0) {
			w->passed_over = 0;
			w->selected = used;
			/* What changed before it was selected came as nothing we heard. */
			note_mailbox(w, used, true);
		}
		break;
	}
	store_mailbox_refs_free(refs, n);
	return r == -EIO ? r : 0;
}

static void sleep_ms(struct watch *w, int ms)
{
	for (int waited = 0; waited < ms && !stopping(w); waited += 100) {
		struct timespec ts = { 0, 100 * 1000000L };

		nanosleep(&ts, NULL);
	}
}

static void *watch_main(void *arg)
{
	struct watch *w = arg;
	int backoff = 500;

	while (!stopping(w)) {
		char err[512];
		int r;

		if (!w->s) {
			store_set_listing_ttl(w->st, w->opts.fallback_ttl_ms);
			r = session_open(w->cfg, 0, &w->s, err, sizeof(err));
			if (r < 0) {
				log_warn("watcher: cannot connect (%s); retrying in %d ms", err, backoff);
				w->s = NULL;
				sleep_ms(w, backoff);
				backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
				continue;
			}
			backoff = 500;
			w->selected = 0;
			w->notify = driver_notify_set(w->s);
			if (!driver_has_idle(w->s)) {
				log_warn("watcher: server has no IDLE; polling every %u s",
					 w->opts.poll_interval_s);
			}
			log_info("watcher: %s", w->notify ? "NOTIFY on every mailbox"
							  : "IDLE on the mailbox in use, STATUS polls");
			w->next_poll_ms = monotonic_ms() + (int64_t)w->opts.poll_interval_s * 1000;
			/*
			 * With NOTIFY every listing is kept current by what we hear; with
			 * IDLE alone only one mailbox is, so the short lifetimes stay.
			 */
			if (w->notify)
				store_set_listing_ttl(w->st, w->opts.listing_ttl_ms);
			/* Whatever changed while we were away. */
			w->overflow = true;
			w->tree_changed = true;
			handle_pending(w);
		}
		r = follow_mailbox(w);
		if (r == 0 && driver_has_idle(w->s))
			r = driver_idle(w->s, on_event, tick, w, IDLE_RENEW_MS);
		else if (r == 0) {
			sleep_ms(w, 1000);
			r = driver_catch_up(w->s);
		}
		if (r == 0)
			handle_pending(w);
		if (r == 0 && !w->notify && monotonic_ms() >= w->next_poll_ms)
			r = poll_others(w);
		if (r == -EIO || (w->s && !session_alive(w->s))) {
			log_warn("watcher: connection lost (%s); reconnecting",
				 w->s ? session_error(w->s) : "?");
			session_close(w->s);
			w->s = NULL;
		}
	}
	session_close(w->s);
	w->s = NULL;
	return NULL;
}

int watch_start(struct store *st, const struct session_config *cfg,
		const struct watch_options *opts,
		struct watch **out)
{
	struct watch *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	w->st = st;
	w->cfg = cfg;
	w->opts = *opts;
	r = pthread_create(&w->thread, NULL, watch_main, w);
	if (r) {
		free(w);
		return -r;
	}
	*out = w;
	return 0;
}

void watch_stop(struct watch *w)
{
	if (!w)
		return;
	atomic_store(&w->stop, true);
	pthread_join(w->thread, NULL);
	free(w);
}
