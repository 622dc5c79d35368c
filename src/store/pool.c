/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "store/pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util/clock.h"
#include "util/cancel.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 4000
#define CAP_MS 60000

struct slot {
	struct session *s;
	bool busy;
	uint64_t used; /* p->uses when last taken: which idle one was used last */
};

struct pool {
	const struct session_config *cfg;
	pthread_mutex_t lock;
	pthread_cond_t freed;
	struct slot *slots;
	unsigned nslots;
	unsigned next_id;
	uint64_t uses;
	int64_t down_until_ms;
	unsigned down_fails;
	/*
	 * Sessions the server lets us have (0: as many as slots): a login
	 * refused for too many connections (Gmail's 15 per account, shared with
	 * the user's other clients) while others of ours live caps the pool
	 * at those, for CAP_MS, instead of failing the request.
	 */
	unsigned max_live;
	int64_t max_live_until_ms;
	uint64_t bytes_in_closed;
};

static struct pool *pool_alloc(const struct session_config *cfg, unsigned size)
{
	struct pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->cfg = cfg;
	p->nslots = size ? size : 1;
	p->slots = calloc(p->nslots, sizeof(*p->slots));
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->freed, NULL);
	if (!p->slots) {
		pool_free(p);
		return NULL;
	}
	return p;
}

int pool_new(const struct session_config *cfg, unsigned size, struct pool **out,
	     char *err, size_t errlen)
{
	struct pool *p = pool_alloc(cfg, size);
	int r;

	if (!p)
		return -ENOMEM;
	r = session_open(cfg, ++p->next_id, &p->slots[0].s, err, errlen);
	if (r < 0) {
		pool_free(p);
		return r;
	}
	*out = p;
	return 0;
}

int pool_new_unreachable(const struct session_config *cfg, unsigned size, struct pool **out)
{
	struct pool *p = pool_alloc(cfg, size);

	if (!p)
		return -ENOMEM;
	p->down_fails = 1; /* down, and the first use tries again at once */
	*out = p;
	return 0;
}

bool pool_unreachable_errno(int r)
{
	/* Not a refusal, nor TLS: a certificate that fails must never be taken for "offline". */
	return r == -ECONNREFUSED || r == -ETIMEDOUT || r == -EHOSTUNREACH || r == -ENETUNREACH ||
	       r == -ENETDOWN || r == -EHOSTDOWN;
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->nslots && p->slots; i++)
		session_close(p->slots[i].s);
	free(p->slots);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->freed);
	free(p);
}

/* Of two slots with the preferred mailbox selected: SELECTed first, then the one used last. */
static bool better_match(const struct slot *a, const struct slot *b)
{
	bool wa = session_selected_writable(a->s), wb = session_selected_writable(b->s);

	return wa != wb ? wa : a->used > b->used;
}

/*
 * Caller holds p->lock: the best idle live slot, or NULL. Work goes where it
 * went last: of the slots with prefer selected the one used last, else one
 * with nothing selected, else the one idle longest. So a run of commands on
 * one mailbox (mv: a UID MOVE a file) stays on one connection, whose
 * selection other work leaves alone; a connection taken over must first
 * catch up with every change other clients made to its selected mailbox
 * since its last command (a flag change on all of them, for each one).
 */
static struct slot *find_live(struct pool *p, const char *prefer)
{
	struct slot *match = NULL, *unselected = NULL, *oldest = NULL;

	for (unsigned i = 0; i < p->nslots; i++) {
		struct slot *sl = &p->slots[i];
		const char *sel;

		if (sl->busy || !sl->s || !session_alive(sl->s))
			continue;
		sel = session_selected(sl->s);
		if (prefer && sel && strcmp(sel, prefer) == 0) {
			if (!match || better_match(sl, match))
				match = sl;
		} else if (!sel) {
			if (!unselected || sl->used > unselected->used)
				unselected = sl;
		} else if (!oldest || sl->used < oldest->used) {
			oldest = sl;
		}
	}
	return match ? match : unselected ? unselected : oldest;
}

/* Caller holds p->lock: the idle live slot used longest ago, or NULL (see pool_run_fresh). */
static struct slot *find_oldest(struct pool *p)
{
	struct slot *oldest = NULL;

	for (unsigned i = 0; i < p->nslots; i++) {
		struct slot *sl = &p->slots[i];

		if (!sl->busy && sl->s && session_alive(sl->s) && (!oldest || sl->used < oldest->used))
			oldest = sl;
	}
	return oldest;
}

/* Caller holds p->lock. */
static unsigned count_live(struct pool *p)
{
	unsigned n = 0;

	for (unsigned i = 0; i < p->nslots; i++)
		if (p->slots[i].s && session_alive(p->slots[i].s))
			n++;
	return n;
}

/* Caller holds p->lock: an idle slot without a live session (within the server's cap), or NULL. */
static struct slot *find_empty(struct pool *p)
{
	if (p->max_live && monotonic_ms() >= p->max_live_until_ms)
		p->max_live = 0;
	if (p->max_live && count_live(p) >= p->max_live)
		return NULL;
	for (unsigned i = 0; i < p->nslots; i++)
		if (!p->slots[i].busy && (!p->slots[i].s || !session_alive(p->slots[i].s)))
			return &p->slots[i];
	return NULL;
}

/* Closes sl's session, if any (sl marked busy by the caller, p->lock not held). */
static void drop_session(struct pool *p, struct slot *sl)
{
	struct session *old;

	if (!sl->s)
		return;
	/* Out of the slot first: pool_bytes_in() reads the slots under the lock. */
	pthread_mutex_lock(&p->lock);
	old = sl->s;
	sl->s = NULL;
	p->bytes_in_closed += session_bytes_in(old);
	pthread_mutex_unlock(&p->lock);
	session_close(old);
}

/* Opens a session in sl (marked busy by the caller, p->lock not held). */
static int reconnect(struct pool *p, struct slot *sl, unsigned id)
{
	char err[512];
	struct session *s = NULL;
	int r;

	drop_session(p, sl);
	r = session_open(p->cfg, id, &s, err, sizeof(err));
	pthread_mutex_lock(&p->lock);
	if (r < 0 && cancel_requested()) {
		/* The user gave up waiting: that says nothing of the server. */
		pthread_mutex_unlock(&p->lock);
		return -EINTR;
	}
	if (r == -EUSERS && count_live(p) > 0) {
		/* The server is up: wait for one of ours instead (see max_live). */
		if (!p->max_live)
			log_warn("%s; using %u connections for a minute", err, count_live(p));
		p->max_live = count_live(p);
		p->max_live_until_ms = monotonic_ms() + CAP_MS;
		pthread_mutex_unlock(&p->lock);
		return -EUSERS;
	}
	if (r < 0) {
		int64_t wait = (int64_t)BACKOFF_MIN_MS << (p->down_fails < 5 ? p->down_fails : 5);

		p->down_fails++;
		p->down_until_ms = monotonic_ms() + (wait < BACKOFF_MAX_MS ? wait : BACKOFF_MAX_MS);
		pthread_mutex_unlock(&p->lock);
		log_error("cannot reconnect: %s", err);
		return -EIO;
	}
	if (p->down_fails)
		log_info("reconnected to %s", p->cfg->host);
	p->down_fails = 0;
	p->down_until_ms = 0;
	sl->s = s;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

static int acquire(struct pool *p, const char *prefer, bool renew, struct slot **out,
		   bool *fresh)
{
	struct slot *sl;
	unsigned id;
	int r;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		/* A new connection takes an empty slot if there is one, else an idle one's. */
		sl = renew ? find_empty(p) : NULL;
		if (renew && sl)
			break;
		sl = renew ? find_oldest(p) : find_live(p, prefer);
		if (sl && renew)
			break;
		if (sl) {
			sl->busy = true;
			sl->used = ++p->uses;
			pthread_mutex_unlock(&p->lock);
			*out = sl;
			*fresh = false;
			return 0;
		}
		sl = find_empty(p);
		if (sl)
			break;
		if (cancel_cond_wait(&p->freed, &p->lock) < 0) {
			/* Hand on a wakeup this thread may have taken. */
			pthread_cond_signal(&p->freed);
			pthread_mutex_unlock(&p->lock);
			return -EINTR;
		}
	}
	if (monotonic_ms() < p->down_until_ms) {
		/*
		 * The free slot stays free: wake the other waiters too, or with
		 * no slot busy nobody would (each release wakes only one).
		 */
		pthread_cond_broadcast(&p->freed);
		pthread_mutex_unlock(&p->lock);
		return -EIO;
	}
	sl->busy = true;
	sl->used = ++p->uses;
	id = ++p->next_id;
	pthread_mutex_unlock(&p->lock);
	r = reconnect(p, sl, id);
	if (r < 0) {
		pthread_mutex_lock(&p->lock);
		sl->busy = false;
		pthread_cond_signal(&p->freed);
		pthread_mutex_unlock(&p->lock);
		if (r == -EUSERS)
			return acquire(p, prefer, false, out, fresh);
		return r;
	}
	*out = sl;
	*fresh = true;
	return 0;
}

static void release(struct pool *p, struct slot *sl)
{
	/*
	 * A dead session is closed now, not when its slot is next reused: the
	 * server may keep what that connection holds (Dovecot: a process, and
	 * its locks) while the socket stays open.
	 */
	if (sl->s && !session_alive(sl->s))
		drop_session(p, sl);
	pthread_mutex_lock(&p->lock);
	sl->busy = false;
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&p->lock);
}

static int run(struct pool *p, const char *prefer, bool renew, pool_job job, void *ctx)
{
	int r = -EIO;

	for (int attempt = 0; attempt < 2; attempt++) {
		struct slot *sl;
		bool fresh, alive, timed_out, interrupted; /* fresh: unused here */

		/* Once more on a new connection: the other idle ones may be as dead (a server restart). */
		r = acquire(p, prefer, renew || attempt > 0, &sl, &fresh);
		if (r < 0)
			return r;
		r = job(sl->s, ctx);
		alive = session_alive(sl->s);
		interrupted = !alive && session_interrupted(sl->s);
		if (interrupted)
			log_info("operation interrupted; its connection is dropped");
		else if (!alive)
			log_warn("connection lost: %s", session_error(sl->s));
		/*
		 * Retried when the connection was closed under it: an idle one
		 * the server dropped, or (fresh) one a loaded server cut (Exchange:
		 * "* BYE Connection is closed. 13"); jobs run here may run twice.
		 * Not a server that stopped answering: that would only make the
		 * caller wait a second timeout.
		 */
		timed_out = !alive && session_timed_out(sl->s);
		release(p, sl);
		if (r != -EIO || alive || timed_out || interrupted)
			return r;
	}
	return r;
}

int pool_run(struct pool *p, const char *prefer, pool_job job, void *ctx)
{
	return run(p, prefer, false, job, ctx);
}

int pool_run_fresh(struct pool *p, pool_job job, void *ctx)
{
	return run(p, NULL, true, job, ctx);
}

int pool_run_once(struct pool *p, const char *prefer, pool_job job, void *ctx)
{
	struct slot *sl;
	bool fresh;
	int r = acquire(p, prefer, false, &sl, &fresh);

	if (r < 0)
		return r;
	r = job(sl->s, ctx);
	if (!session_alive(sl->s))
		log_warn("connection lost: %s", session_error(sl->s));
	release(p, sl);
	return r;
}

uint64_t pool_bytes_in(struct pool *p)
{
	uint64_t n;

	pthread_mutex_lock(&p->lock);
	n = p->bytes_in_closed;
	for (unsigned i = 0; i < p->nslots; i++)
		if (p->slots[i].s)
			n += session_bytes_in(p->slots[i].s);
	pthread_mutex_unlock(&p->lock);
	return n;
}

bool pool_server_down(struct pool *p)
{
	bool down;

	pthread_mutex_lock(&p->lock);
	down = p->down_fails > 0;
	pthread_mutex_unlock(&p->lock);
	return down;
}
