/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "store/prefetch.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "driver/fetch.h"
#include "log.h"
#include "util/cancel.h"
#include "store/pool.h"
#include "store/body_cache.h"
#include "store/store_internal.h"

#define STREAMS 8

/* A body asked for or held. */
struct held {
	struct held *next;      /* oldest first: the order they are pushed out in */
	uint32_t mailbox, uidvalidity, uid;
	uint64_t size;          /* from the listing */
	char *body;             /* NULL while in flight */
	bool in_flight;
};

/*
 * One reader going through one mailbox in UID order. Readers are told apart
 * by process: xargs -P8 runs several that each go up their own share of the
 * UIDs, and together, interleaved, they would look like a random walk.
 */
struct stream {
	uint32_t mailbox, uidvalidity;
	pid_t reader;
	uint32_t last_uid;      /* the last one read from its start */
	uint32_t ahead_uid;     /* the highest asked for */
	unsigned streak;        /* reads in a row that went up */
	uint64_t used;          /* for replacing the least recently used */
};

struct batch {
	struct batch *next;
	uint32_t mailbox, uidvalidity;
	size_t n;
	uint32_t uids[PREFETCH_BATCH];
	char *wire;
};

struct prefetch {
	struct store *st;
	pthread_mutex_t lock;
	pthread_cond_t changed; /* a body arrived or failed; a batch was queued */
	struct held *held, *held_tail;
	size_t held_bytes;      /* held and in flight */
	struct stream streams[STREAMS];
	uint64_t clock;
	struct batch *queue, *queue_tail;
	bool stop;
	bool running;
	pthread_t thread;
};

/* Caller holds pf->lock. */
static struct held *find_held(struct prefetch *pf, uint32_t id, uint32_t uidvalidity,
			      uint32_t uid, struct held ***link)
{
	for (struct held **p = &pf->held; *p; p = &(*p)->next) {
		struct held *h = *p;

		if (h->mailbox == id && h->uidvalidity == uidvalidity && h->uid == uid) {
			if (link)
				*link = p;
			return h;
		}
	}
	return NULL;
}

/* Caller holds pf->lock; link points at h. */
static void drop_held(struct prefetch *pf, struct held **link)
{
	struct held *h = *link;

	*link = h->next;
	if (pf->held_tail == h) {
		pf->held_tail = NULL;
		for (struct held *t = pf->held; t; t = t->next)
			pf->held_tail = t;
	}
	pf->held_bytes -= h->size;
	free(h->body);
	free(h);
}

/* Caller holds pf->lock: frees the oldest held (not in flight) bodies until want fits. */
static bool make_room(struct prefetch *pf, uint64_t want)
{
	struct held **p = &pf->held;

	while (pf->held_bytes + want > PREFETCH_BUDGET && *p) {
		if ((*p)->in_flight)
			p = &(*p)->next;
		else
			drop_held(pf, p);
	}
	return pf->held_bytes + want <= PREFETCH_BUDGET;
}

/* ---- the fetching thread ---- */

struct batch_fetch {
	struct prefetch *pf;
	struct batch *b;
};

static void on_body(void *ctx, uint32_t uid, const char *val, size_t len)
{
	struct batch_fetch *bf = ctx;
	struct prefetch *pf = bf->pf;
	struct held *h;
	char *body;
	bool kept = false;

	/* Copied before taking the lock: readers wait on it. */
	body = malloc(len ? len : 1);
	if (!body)
		return;
	memcpy(body, val, len);
	pthread_mutex_lock(&pf->lock);
	h = find_held(pf, bf->b->mailbox, bf->b->uidvalidity, uid, NULL);
	/* Only what was asked, once, and exactly the size the listing gave. */
	if (h && h->in_flight && !h->body && len == h->size) {
		h->body = body;
		body = NULL;
		h->in_flight = false;
		kept = true;
		pthread_cond_broadcast(&pf->changed);
	}
	pthread_mutex_unlock(&pf->lock);
	free(body);
	/* For the disk cache: a copy queued, written by the cache's own thread. */
	if (kept) {
		struct body_cache_item it = { .uid = uid, .body = val, .len = len };

		body_cache_put_later(store_body_cache(pf->st), bf->b->wire, bf->b->uidvalidity, &it,
				     1);
	}
}

static int batch_job(struct session *s, void *ctx)
{
	struct batch_fetch *bf = ctx;
	struct batch *b = bf->b;

	return driver_fetch_bodies(s, b->wire, b->uidvalidity, b->uids, b->n, on_body, bf);
}

/* Whatever of b did not arrive is dropped: its readers fetch it themselves. */
static void batch_done(struct prefetch *pf, struct batch *b)
{
	pthread_mutex_lock(&pf->lock);
	for (size_t i = 0; i < b->n; i++) {
		struct held **link;
		struct held *h = find_held(pf, b->mailbox, b->uidvalidity, b->uids[i], &link);

		if (h && h->in_flight)
			drop_held(pf, link);
	}
	pthread_cond_broadcast(&pf->changed);
	pthread_mutex_unlock(&pf->lock);
}

static void *prefetch_main(void *arg)
{
	struct prefetch *pf = arg;

	pthread_mutex_lock(&pf->lock);
	for (;;) {
		struct batch_fetch bf = { .pf = pf };
		int r;

		while (!pf->queue && !pf->stop)
			pthread_cond_wait(&pf->changed, &pf->lock);
		if (pf->stop)
			break;
		bf.b = pf->queue;
		pf->queue = bf.b->next;
		if (!pf->queue)
			pf->queue_tail = NULL;
		pthread_mutex_unlock(&pf->lock);
		r = pool_run(store_pool(pf->st), bf.b->wire, batch_job, &bf);
		if (r < 0 && r != -ESTALE)
			log_debug("fetching ahead in %s failed: %s", bf.b->wire, strerror(-r));
		batch_done(pf, bf.b);
		free(bf.b->wire);
		free(bf.b);
		pthread_mutex_lock(&pf->lock);
	}
	pthread_mutex_unlock(&pf->lock);
	return NULL;
}

/* ---- the readers' side ---- */

struct prefetch *prefetch_new(struct store *st)
{
	struct prefetch *pf = calloc(1, sizeof(*pf));

	if (!pf)
		return NULL;
	pf->st = st;
	pthread_mutex_init(&pf->lock, NULL);
	pthread_cond_init(&pf->changed, NULL);
	return pf;
}

void prefetch_free(struct prefetch *pf)
{
	if (!pf)
		return;
	if (pf->running) {
		pthread_mutex_lock(&pf->lock);
		pf->stop = true;
		pthread_cond_broadcast(&pf->changed);
		pthread_mutex_unlock(&pf->lock);
		pthread_join(pf->thread, NULL);
	}
	while (pf->queue) {
		struct batch *b = pf->queue;

		pf->queue = b->next;
		free(b->wire);
		free(b);
	}
	while (pf->held)
		drop_held(pf, &pf->held);
	pthread_cond_destroy(&pf->changed);
	pthread_mutex_destroy(&pf->lock);
	free(pf);
}

/* Caller holds pf->lock: reader's stream in mailbox id, made anew (least recently used) if need be. */
static struct stream *stream_of(struct prefetch *pf, uint32_t id, uint32_t uidvalidity,
				pid_t reader)
{
	struct stream *lru = &pf->streams[0];

	for (size_t i = 0; i < STREAMS; i++) {
		struct stream *s = &pf->streams[i];

		if (s->used && s->mailbox == id && s->uidvalidity == uidvalidity &&
		    s->reader == reader)
			return s;
		if (s->used < lru->used)
			lru = s;
	}
	memset(lru, 0, sizeof(*lru));
	lru->mailbox = id;
	lru->uidvalidity = uidvalidity;
	lru->reader = reader;
	return lru;
}

void prefetch_reading(struct prefetch *pf, uint32_t id, uint32_t uidvalidity, uint32_t uid,
		      pid_t reader)
{
	struct store_msg next[PREFETCH_BATCH];
	bool on_disk[PREFETCH_BATCH];
	struct batch *b = NULL;
	struct stream *s;
	uint32_t ahead, passed = 0;
	uint64_t bytes = 0;
	size_t ahead_count = 0;
	unsigned streak;
	ssize_t n;

	if (!pf)
		return;
	pthread_mutex_lock(&pf->lock);
	s = stream_of(pf, id, uidvalidity, reader);
	s->used = ++pf->clock;
	s->streak = uid > s->last_uid ? s->streak + 1 : 0;
	s->last_uid = uid;
	streak = s->streak;
	ahead = s->ahead_uid;
	pthread_mutex_unlock(&pf->lock);
	if (streak < PREFETCH_STREAK)
		return;

	/* Ask again when less than half a batch is left ahead of the reader. */
	n = store_next_messages(pf->st, id, uidvalidity, uid, next, PREFETCH_BATCH);
	if (n <= 0)
		return;
	for (ssize_t i = 0; i < n; i++)
		if (next[i].uid <= ahead)
			ahead_count++;
	if (ahead_count >= PREFETCH_BATCH / 2 || ahead_count == (size_t)n)
		return;
	b = calloc(1, sizeof(*b));
	if (!b)
		return;
	b->mailbox = id;
	b->uidvalidity = uidvalidity;
	b->wire = store_mailbox_wire(pf->st, id);
	if (!b->wire) {
		free(b);
		return;
	}
	/* Bodies on disk need no fetching (asked before the lock: it costs a stat each). */
	for (ssize_t i = 0; i < n; i++)
		on_disk[i] = body_cache_has(store_body_cache(pf->st), b->wire, uidvalidity,
					    next[i].uid, next[i].size);
	pthread_mutex_lock(&pf->lock);
	/* Looked up again: another mailbox's reader may have taken its place. */
	s = stream_of(pf, id, uidvalidity, reader);
	s->used = ++pf->clock;
	for (ssize_t i = 0; i < n; i++) {
		struct held *h;

		if (next[i].uid <= s->ahead_uid || next[i].size > PREFETCH_MAX_MESSAGE)
			continue;
		if (on_disk[i]) {
			passed = next[i].uid;
			continue;
		}
		if (bytes + next[i].size > PREFETCH_BATCH_BYTES || !make_room(pf, next[i].size))
			break;
		if (find_held(pf, id, uidvalidity, next[i].uid, NULL))
			continue;
		h = calloc(1, sizeof(*h));
		if (!h)
			break;
		h->mailbox = id;
		h->uidvalidity = uidvalidity;
		h->uid = next[i].uid;
		h->size = next[i].size;
		h->in_flight = true;
		if (pf->held_tail)
			pf->held_tail->next = h;
		else
			pf->held = h;
		pf->held_tail = h;
		pf->held_bytes += h->size;
		bytes += h->size;
		b->uids[b->n++] = h->uid;
	}
	/*
	 * The thread starts with the first batch: the store is opened before
	 * the daemon forks, and a fork keeps no thread but the caller's.
	 */
	if (b->n && !pf->running)
		pf->running = pthread_create(&pf->thread, NULL, prefetch_main, pf) == 0;
	if (b->n && !pf->running) {
		for (size_t i = 0; i < b->n; i++) {
			struct held **link;

			if (find_held(pf, id, uidvalidity, b->uids[i], &link))
				drop_held(pf, link);
		}
		b->n = 0;
	}
	if (!b->n && passed > s->ahead_uid)
		s->ahead_uid = passed; /* all on disk: not to be looked at again */
	if (b->n) {
		s->ahead_uid = b->uids[b->n - 1];
		if (pf->queue_tail)
			pf->queue_tail->next = b;
		else
			pf->queue = b;
		pf->queue_tail = b;
		pthread_cond_broadcast(&pf->changed);
		b = NULL;
	}
	pthread_mutex_unlock(&pf->lock);
	if (b) {
		free(b->wire);
		free(b);
	}
}

ssize_t prefetch_read(struct prefetch *pf, uint32_t id, uint32_t uidvalidity, uint32_t uid,
		      uint64_t off, size_t len, char *buf)
{
	struct held **link;
	struct held *h;
	ssize_t r;

	if (!pf)
		return -ENOENT;
	pthread_mutex_lock(&pf->lock);
	for (;;) {
		h = find_held(pf, id, uidvalidity, uid, &link);
		if (!h || !h->in_flight)
			break;
		/* Bounded: the fetch has its deadline, and batch_done() ends every wait. */
		if (cancel_cond_wait(&pf->changed, &pf->lock) < 0) {
			pthread_mutex_unlock(&pf->lock);
			return -EINTR;
		}
	}
	if (!h) {
		pthread_mutex_unlock(&pf->lock);
		return -ENOENT;
	}
	if (off >= h->size) {
		r = 0;
	} else {
		size_t n = h->size - off < len ? (size_t)(h->size - off) : len;

		memcpy(buf, h->body + off, n);
		r = (ssize_t)n;
	}
	/* Read to its end: the kernel's page cache holds it now. */
	if (off + len >= h->size)
		drop_held(pf, link);
	pthread_mutex_unlock(&pf->lock);
	return r;
}
