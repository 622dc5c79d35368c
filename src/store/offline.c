/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Disconnected mode, the store's side (see offline.h). */
#include "store/offline.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "driver/change.h"
#include "log.h"
#include "store/body_cache.h"
#include "store/flagsets.h"
#include "store/journal.h"
#include "store/pool.h"
#include "store/store_internal.h"

/* The replay thread looks again this often while the server stays away (seconds). */
#define RETRY_MIN 1
#define RETRY_MAX 5

struct offline {
	struct store *st;
	struct journal *j;
	pthread_mutex_t lock; /* stop; a leaf */
	pthread_cond_t wake;
	bool stop;
	pthread_t thread;
	bool running;
};

/* ---- journaling ---- */

int offline_set_flags(struct store *st, uint32_t id, uint32_t uid, const char *flags)
{
	struct offline *o = st->offline;
	struct journal_op op = { .kind = JOURNAL_FLAGS, .uid = uid };
	struct store_msg m;
	char *old = NULL;
	size_t pending;
	int r;

	if (!o || !st->opts.offline_writes)
		return -EIO;
	r = store_held_message(st, id, uid, &m, &op.uidvalidity);
	if (r < 0)
		return r == -ENOENT ? -ENOENT : -EIO;
	old = store_flags_text(st, m.flags);
	op.wire = store_mailbox_wire(st, id);
	op.add = old ? flaglist_minus(flags, old) : NULL;
	op.remove = old ? flaglist_minus(old, flags) : NULL;
	if (!old || !op.wire || !op.add || !op.remove) {
		r = -ENOMEM;
		goto out;
	}
	if (*op.add || *op.remove)
		r = journal_add(o->j, &op);
	if (r == 0) {
		store_msg_flags_changed(st, id, uid, flags);
		pending = journal_pending(o->j);
		log_info("offline: flags of UID %" PRIu32 " in %s (+%s -%s) kept for when the "
			 "server answers; %zu change(s) pending", uid, op.wire, op.add, op.remove,
			 pending);
	} else if (r == -ENOSPC) {
		log_error("offline: the journal is full (the cache's bound); the flags of UID %"
			  PRIu32 " in %s were not changed", uid, op.wire);
	}
out:
	free(old);
	free(op.wire);
	free(op.add);
	free(op.remove);
	return r;
}

/* ---- replay ---- */

struct flags_job {
	const struct journal_op *op;
};

static int flags_job(struct session *s, void *ctx)
{
	const struct journal_op *op = ((struct flags_job *)ctx)->op;

	return driver_change_flags(s, op->wire, op->uidvalidity, op->uid, op->add, op->remove);
}

/*
 * Carries out what is pending, oldest first. Returns false if the server
 * could not be reached (the rest waits for the next round).
 */
static bool stopping(struct offline *o)
{
	bool stop;

	pthread_mutex_lock(&o->lock);
	stop = o->stop;
	pthread_mutex_unlock(&o->lock);
	return stop;
}

/*
 * Not the server's answer to this change, but the way to it: the change is
 * kept and tried again (a connection lost halfway, a bare NO that may pass).
 */
static bool try_again(struct store *st, int r)
{
	return store_unreachable(st, r) || r == -EIO || r == -EINTR || r == -ETIMEDOUT ||
	       r == -ECONNRESET || r == -ENOMEM || r == -EAGAIN;
}

static bool replay(struct offline *o)
{
	struct store *st = o->st;
	struct journal_op *ops;
	size_t n, done = 0, dropped = 0;
	bool reached = true;

	if (journal_pending_ops(o->j, &ops, &n) < 0 || n == 0)
		return true;
	for (size_t i = 0; i < n && !stopping(o); i++) {
		struct flags_job job = { &ops[i] };
		uint32_t id = 0;
		int r = pool_run(store_pool(st), ops[i].wire, flags_job, &job);

		if (try_again(st, r)) {
			log_debug("offline: the flag change of UID %" PRIu32 " in %s waits (%s)",
				  ops[i].uid, ops[i].wire, strerror(-r));
			reached = false;
			break;
		}
		if (done == 0)
			log_info("offline: the server answers; carrying out %zu pending change(s)",
				 n - i);
		if (r == -ENOENT)
			log_warn("offline: UID %" PRIu32 " in %s was expunged meanwhile; its flag "
				 "change (+%s -%s) is dropped", ops[i].uid, ops[i].wire, ops[i].add,
				 ops[i].remove);
		else if (r == -ESTALE)
			log_warn("offline: %s has another UIDVALIDITY now: UID %" PRIu32 " may name "
				 "other mail, so its flag change (+%s -%s) is not made", ops[i].wire,
				 ops[i].uid, ops[i].add, ops[i].remove);
		else if (r < 0)
			log_warn("offline: the server refused the flag change of UID %" PRIu32
				 " in %s (+%s -%s): %s; dropped", ops[i].uid, ops[i].wire, ops[i].add,
				 ops[i].remove, strerror(-r));
		dropped += r < 0;
		if (journal_done(o->j, ops[i].seq) < 0) {
			/* Not recorded: made again next time, which flags allow; later, not at once. */
			log_warn("offline: cannot record a change as done in the journal");
			reached = false;
			break;
		}
		done++;
		if (store_mailbox_by_wire(st, ops[i].wire, &id) < 0)
			continue;
		/*
		 * Made: the server's flags moved, and the next look fetches them.
		 * Dropped: nothing moved on the server, and the listing held shows
		 * the change still; every flag is fetched again.
		 */
		if (r == 0)
			store_listing_stale(st, id);
		else
			store_refresh_listing(st, id, true);
	}
	if (done)
		log_info("offline: %zu change(s) carried out, %zu of them dropped (see above); %zu "
			 "pending", done, dropped, journal_pending(o->j));
	journal_ops_free(ops, n);
	return reached;
}

static void *replay_main(void *arg)
{
	struct offline *o = arg;
	unsigned wait_s = RETRY_MIN;

	pthread_mutex_lock(&o->lock);
	while (!o->stop) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += wait_s;
		pthread_cond_timedwait(&o->wake, &o->lock, &until);
		if (o->stop)
			break;
		pthread_mutex_unlock(&o->lock);
		if (journal_pending(o->j) == 0 || replay(o))
			wait_s = RETRY_MIN;
		else if (wait_s < RETRY_MAX)
			wait_s++;
		pthread_mutex_lock(&o->lock);
	}
	pthread_mutex_unlock(&o->lock);
	return NULL;
}

void offline_open(struct store *st)
{
	struct offline *o;
	int r;

	if (!st->bodies)
		return;
	o = calloc(1, sizeof(*o));
	if (!o)
		return;
	o->st = st;
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->wake, NULL);
	r = journal_open(body_cache_account_fd(st->bodies), st->opts.cache_size, &o->j);
	if (r < 0) {
		log_warn("offline: %s; changes fail while the server cannot be reached",
			 r == -EBUSY ? "another mount of this account holds the journal"
				     : "cannot open the journal in the cache directory");
		pthread_cond_destroy(&o->wake);
		pthread_mutex_destroy(&o->lock);
		free(o);
		return;
	}
	if (journal_pending(o->j))
		log_info("offline: %zu change(s) made while the server could not be reached are "
			 "pending", journal_pending(o->j));
	st->offline = o;
	st->journal = o->j;
}

void offline_start(struct store *st)
{
	struct offline *o = st->offline;

	if (o && !o->running)
		o->running = pthread_create(&o->thread, NULL, replay_main, o) == 0;
}

void offline_close(struct store *st)
{
	struct offline *o = st->offline;

	if (!o)
		return;
	if (o->running) {
		pthread_mutex_lock(&o->lock);
		o->stop = true;
		pthread_cond_signal(&o->wake);
		pthread_mutex_unlock(&o->lock);
		pthread_join(o->thread, NULL);
	}
	st->journal = NULL;
	journal_close(o->j);
	pthread_cond_destroy(&o->wake);
	pthread_mutex_destroy(&o->lock);
	free(o);
	st->offline = NULL;
}

size_t store_pending_changes(struct store *st)
{
	return journal_pending(st->journal);
}
