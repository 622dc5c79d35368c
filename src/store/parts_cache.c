/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The cache of loaded message structures (see parts_cache.h). */
#include "store/parts_cache.h"

#include <pthread.h>
#include <stdlib.h>

#include "store/parts.h"

#define CACHE_MAX_MESSAGES 256
#define CACHE_MAX_KEPT (64u << 20)

struct parts_cache {
	pthread_mutex_t lock;
	struct store_parts *head, *tail; /* most recently used first */
	size_t count;
	size_t kept;
	/* The message whose structure was wanted last, to see walks in UID order. */
	uint32_t last_mailbox, last_uidvalidity, last_uid;
};

struct parts_cache *parts_cache_new(void)
{
	struct parts_cache *c = calloc(1, sizeof(*c));

	if (c)
		pthread_mutex_init(&c->lock, NULL);
	return c;
}

void parts_cache_free(struct parts_cache *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void store_parts_free(struct store_parts *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		struct store_part *sp = &p->parts[i];

		free(sp->name);
		free(sp->section);
		free(sp->mime_type);
		free(sp->charset);
		free(sp->content);
		part_gather_free(&sp->gathered);
	}
	free(p->parts);
	free(p->header);
	free(p->subject);
	free(p->from);
	free(p->date_text);
	free(p->message_id);
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->size_lock);
	free(p);
}

static void lru_unlink(struct parts_cache *c, struct store_parts *p)
{
	if (p->lru_prev)
		p->lru_prev->lru_next = p->lru_next;
	else
		c->head = p->lru_next;
	if (p->lru_next)
		p->lru_next->lru_prev = p->lru_prev;
	else
		c->tail = p->lru_prev;
	p->lru_prev = p->lru_next = NULL;
	c->count--;
	c->kept -= p->kept_bytes;
}

static void lru_push(struct parts_cache *c, struct store_parts *p)
{
	p->lru_prev = NULL;
	p->lru_next = c->head;
	if (c->head)
		c->head->lru_prev = p;
	c->head = p;
	if (!c->tail)
		c->tail = p;
	c->count++;
	c->kept += p->kept_bytes;
}

/* Caller holds c->lock. Drops unused entries from the cold end while over bounds. */
static void lru_trim(struct parts_cache *c)
{
	struct store_parts *p = c->tail;

	while (p && (c->count > CACHE_MAX_MESSAGES || c->kept > CACHE_MAX_KEPT)) {
		struct store_parts *prev = p->lru_prev;

		if (p->refs == 0) {
			lru_unlink(c, p);
			store_parts_free(p);
		}
		p = prev;
	}
}

/* Caller holds c->lock. */
static struct store_parts *find(struct parts_cache *c, uint32_t id, uint32_t uidvalidity,
				uint32_t uid)
{
	for (struct store_parts *p = c->head; p; p = p->lru_next)
		if (p->mailbox == id && p->uid == uid && p->uidvalidity == uidvalidity)
			return p;
	return NULL;
}

void parts_cache_clear(struct parts_cache *c)
{
	pthread_mutex_lock(&c->lock);
	while (c->head) {
		struct store_parts *p = c->head;

		lru_unlink(c, p);
		store_parts_free(p);
	}
	pthread_mutex_unlock(&c->lock);
}

struct store_parts *parts_cache_get(struct parts_cache *c, uint32_t id, uint32_t uidvalidity,
				    uint32_t uid)
{
	struct store_parts *p;

	pthread_mutex_lock(&c->lock);
	p = find(c, id, uidvalidity, uid);
	if (p) {
		lru_unlink(c, p);
		lru_push(c, p);
		p->refs++;
	}
	pthread_mutex_unlock(&c->lock);
	return p;
}

bool parts_cache_has(struct parts_cache *c, uint32_t id, uint32_t uidvalidity, uint32_t uid)
{
	bool has;

	pthread_mutex_lock(&c->lock);
	has = find(c, id, uidvalidity, uid) != NULL;
	pthread_mutex_unlock(&c->lock);
	return has;
}

struct store_parts *parts_cache_insert(struct parts_cache *c, struct store_parts *p, bool ref)
{
	struct store_parts *had;

	pthread_mutex_lock(&c->lock);
	had = find(c, p->mailbox, p->uidvalidity, p->uid);
	if (had) {
		store_parts_free(p);
		p = had;
	} else {
		lru_push(c, p);
	}
	if (ref)
		p->refs++;
	lru_trim(c);
	pthread_mutex_unlock(&c->lock);
	return p;
}

void parts_cache_release(struct parts_cache *c, struct store_parts *p)
{
	pthread_mutex_lock(&c->lock);
	p->refs--;
	lru_trim(c);
	pthread_mutex_unlock(&c->lock);
}

bool parts_cache_note_wanted(struct parts_cache *c, uint32_t id, uint32_t uidvalidity,
			     uint32_t uid, uint32_t *prev)
{
	bool in_order;

	pthread_mutex_lock(&c->lock);
	in_order = c->last_mailbox == id && c->last_uidvalidity == uidvalidity &&
		   c->last_uid < uid;
	*prev = c->last_uid;
	c->last_mailbox = id;
	c->last_uidvalidity = uidvalidity;
	c->last_uid = uid;
	pthread_mutex_unlock(&c->lock);
	return in_order;
}

void parts_account_kept(struct parts_cache *c, struct store_parts *p, ssize_t delta)
{
	pthread_mutex_lock(&c->lock);
	p->kept_bytes += (size_t)delta;
	if (p->lru_prev || c->head == p)
		c->kept += (size_t)delta;
	if (delta > 0)
		lru_trim(c);
	pthread_mutex_unlock(&c->lock);
}
