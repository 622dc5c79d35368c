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

/*
 * What every journaled change starts from: message uid of mailbox id as the
 * listing holds it (*m), op's mailbox, UIDVALIDITY and UID. -EIO without a
 * journal (or with offline writes off, or a mailbox never listed), -ENOENT
 * for a message it does not hold, -ENOMEM.
 */
static int op_begin(struct store *st, uint32_t id, uint32_t uid, struct journal_op *op,
		    struct store_msg *m)
{
	int r;

	if (!st->offline || !st->opts.offline_writes)
		return -EIO;
	r = store_held_message(st, id, uid, m, &op->uidvalidity);
	if (r < 0)
		return r == -ENOENT ? -ENOENT : -EIO;
	op->uid = uid;
	op->wire = store_mailbox_wire(st, id);
	return op->wire ? 0 : -ENOMEM;
}

int offline_set_flags(struct store *st, uint32_t id, uint32_t uid, const char *flags)
{
	struct journal_op op = { .kind = JOURNAL_FLAGS };
	struct store_msg m;
	char *old = NULL;
	size_t pending;
	int r = op_begin(st, id, uid, &op, &m);

	if (r < 0)
		goto out;
	old = store_flags_text(st, m.flags);
	op.add = old ? flaglist_minus(flags, old) : NULL;
	op.remove = old ? flaglist_minus(old, flags) : NULL;
	if (!old || !op.add || !op.remove) {
		r = -ENOMEM;
		goto out;
	}
	if (*op.add || *op.remove)
		r = journal_add(st->journal, &op);
	if (r == 0) {
		store_msg_flags_changed(st, id, uid, flags);
		pending = journal_pending(st->journal);
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

/*
 * A move (to != 0) or an expunge of message uid of mailbox id, journaled:
 * the message leaves its mailbox's listing at once.
 */
static int journal_removal(struct store *st, uint32_t id, uint32_t uid, uint32_t to)
{
	struct journal_op op = { .kind = to ? JOURNAL_MOVE : JOURNAL_EXPUNGE };
	struct store_msg m;
	int r = op_begin(st, id, uid, &op, &m);

	if (r < 0)
		goto out;
	op.to = to ? store_mailbox_wire(st, to) : NULL;
	if (to && !op.to) {
		r = -ENOMEM;
		goto out;
	}
	r = journal_add(st->journal, &op);
	if (r == 0) {
		store_listing_moved(st, id, op.uidvalidity, uid, 0, 0, 0);
		if (to)
			log_info("offline: UID %" PRIu32 " of %s is moved to %s when the server "
				 "answers; %zu change(s) pending", uid, op.wire, op.to,
				 journal_pending(st->journal));
		else
			log_info("offline: UID %" PRIu32 " of %s is expunged when the server answers; "
				 "%zu change(s) pending", uid, op.wire, journal_pending(st->journal));
	} else if (r == -ENOSPC) {
		log_error("offline: the journal is full (the cache's bound); UID %" PRIu32
			  " of %s was not %s", uid, op.wire, to ? "moved" : "deleted");
	}
out:
	free(op.wire);
	free(op.to);
	return r;
}

int offline_move(struct store *st, uint32_t from, uint32_t uid, uint32_t to)
{
	return journal_removal(st, from, uid, to);
}

int offline_expunge(struct store *st, uint32_t id, uint32_t uid)
{
	return journal_removal(st, id, uid, 0);
}

/* ---- the store's changes: to the server, or to the journal ---- */

/* Changes made offline still wait: a new one goes after them, into the journal. */
static bool after_pending(struct store *st)
{
	return st->opts.offline_writes && journal_pending(st->journal) > 0;
}

int store_move(struct store *st, uint32_t from, uint32_t uid, uint32_t to, uint32_t *newuid)
{
	int r;

	*newuid = 0;
	if (after_pending(st))
		return offline_move(st, from, uid, to);
	r = changes_move(st, from, uid, to, newuid);
	return r < 0 && store_unreachable(st, r) ? offline_move(st, from, uid, to) : r;
}

int store_expunge(struct store *st, uint32_t id, uint32_t uid)
{
	int r;

	if (after_pending(st))
		return offline_expunge(st, id, uid);
	r = changes_expunge(st, id, uid);
	return r < 0 && store_unreachable(st, r) ? offline_expunge(st, id, uid) : r;
}

int store_set_flags(struct store *st, uint32_t id, uint32_t uid, const char *flags)
{
	int r;

	if (after_pending(st))
		return offline_set_flags(st, id, uid, flags);
	r = changes_set_flags(st, id, uid, flags);
	return r < 0 && store_unreachable(st, r) ? offline_set_flags(st, id, uid, flags) : r;
}

/* ---- replay ---- */

/* Where mail goes whose target mailbox was deleted meanwhile (doc/user-guide.md). */
#define RECOVERED "Recovered"

struct op_job {
	const struct journal_op *op;
	const char *to;    /* JOURNAL_MOVE: where to, now */
	bool target_gone;  /* the server said the target is missing */
};

static int op_job(struct session *s, void *ctx)
{
	struct op_job *j = ctx;
	const struct journal_op *op = j->op;
	uint32_t uidvalidity, newuid;
	int r;

	if (op->kind == JOURNAL_FLAGS)
		return driver_change_flags(s, op->wire, op->uidvalidity, op->uid, op->add,
					   op->remove);
	/* Carried out once: after a crash between the server's OK and the journal's record, the UID is gone. */
	r = driver_holds(s, op->wire, op->uidvalidity, op->uid);
	if (r < 0)
		return r;
	if (op->kind == JOURNAL_EXPUNGE)
		return driver_expunge(s, op->wire, op->uid);
	r = driver_move(s, op->wire, op->uid, j->to, &uidvalidity, &newuid);
	if (r == -ENOENT)
		j->target_gone = true; /* NO [TRYCREATE] */
	return r;
}

/* The mailbox RECOVERED, made if need be; its wire name (the caller frees it), or NULL. */
static char *recovered_mailbox(struct store *st)
{
	uint32_t id = 0;
	int r = store_lookup_mailbox(st, STORE_ROOT_ID, RECOVERED, &id);

	if (r < 0) {
		r = store_create_mailbox(st, STORE_ROOT_ID, RECOVERED, &id);
		if (r == -EEXIST)
			r = store_lookup_mailbox(st, STORE_ROOT_ID, RECOVERED, &id);
		if (r == 0)
			log_info("offline: created the mailbox %s for mail whose target was deleted",
				 RECOVERED);
	}
	return r == 0 ? store_mailbox_wire(st, id) : NULL;
}

/* Carries out op; a move whose target was deleted meanwhile goes to RECOVERED. */
static int carry_out(struct store *st, const struct journal_op *op)
{
	struct op_job job = { .op = op, .to = op->to };
	char *recovered = NULL;
	int r = pool_run(store_pool(st), op->wire, op_job, &job);

	if (r == -ENOENT && job.target_gone) {
		recovered = recovered_mailbox(st);
		if (!recovered)
			return -EIO; /* kept, and tried again */
		log_warn("offline: %s was deleted meanwhile; UID %" PRIu32 " of %s goes to %s "
			 "instead", op->to, op->uid, op->wire, recovered);
		job.to = recovered;
		job.target_gone = false;
		r = pool_run(store_pool(st), op->wire, op_job, &job);
		free(recovered);
	}
	return r;
}

/* What op was, for the log. */
static void describe(const struct journal_op *op, char *out, size_t len)
{
	if (op->kind == JOURNAL_FLAGS)
		snprintf(out, len, "flag change (+%s -%s)", op->add, op->remove);
	else if (op->kind == JOURNAL_MOVE)
		snprintf(out, len, "move to %s", op->to);
	else
		snprintf(out, len, "expunge");
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
		uint32_t id = 0, to = 0;
		char what[600];
		int r = carry_out(st, &ops[i]);

		describe(&ops[i], what, sizeof(what));
		if (try_again(st, r)) {
			log_debug("offline: the %s of UID %" PRIu32 " in %s waits (%s)", what,
				  ops[i].uid, ops[i].wire, strerror(-r));
			reached = false;
			break;
		}
		if (done == 0)
			log_info("offline: the server answers; carrying out %zu pending change(s)",
				 n - i);
		if (r == -ENOENT)
			log_warn("offline: UID %" PRIu32 " in %s was expunged meanwhile (or moved "
				 "away); its %s is dropped", ops[i].uid, ops[i].wire, what);
		else if (r == -ESTALE)
			log_warn("offline: %s has another UIDVALIDITY now: UID %" PRIu32 " may name "
				 "other mail, so its %s is not made", ops[i].wire, ops[i].uid, what);
		else if (r < 0)
			log_warn("offline: the server refused the %s of UID %" PRIu32
				 " in %s: %s; dropped", what, ops[i].uid, ops[i].wire, strerror(-r));
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
		if (r == 0 && ops[i].kind != JOURNAL_FLAGS)
			store_forget_body(st, id, ops[i].uidvalidity, ops[i].uid);
		if (ops[i].kind == JOURNAL_MOVE && store_mailbox_by_wire(st, ops[i].to, &to) == 0)
			store_listing_stale(st, to);
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
