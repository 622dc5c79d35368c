/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "store/name_map.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/*
 * Each entry is allocated on its own, so the two tables (linear probing,
 * removal by shifting back: no tombstones) hold stable pointers to it.
 */
struct name_entry {
	uint32_t uid;
	uint32_t name_hash;
	unsigned mode;
	char name[];
};

static size_t hash_uid(uint32_t uid)
{
	return uid * 2654435761u;
}

static uint32_t hash_name(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static size_t home_of(const struct name_entry *e, bool by_name, size_t cap)
{
	return (by_name ? e->name_hash : hash_uid(e->uid)) & (cap - 1);
}

/* The slot holding e in table t (it is there). */
static size_t slot_of(struct name_entry **t, size_t cap, const struct name_entry *e, bool by_name)
{
	size_t i = home_of(e, by_name, cap);

	while (t[i] != e)
		i = (i + 1) & (cap - 1);
	return i;
}

static void put(struct name_entry **t, size_t cap, struct name_entry *e, bool by_name)
{
	size_t i = home_of(e, by_name, cap);

	while (t[i])
		i = (i + 1) & (cap - 1);
	t[i] = e;
}

/* Empties slot i of t, moving later entries of its run back. */
static void take_out(struct name_entry **t, size_t cap, size_t i, bool by_name)
{
	t[i] = NULL;
	for (size_t j = (i + 1) & (cap - 1); t[j]; j = (j + 1) & (cap - 1)) {
		size_t home = home_of(t[j], by_name, cap);

		/* Move t[j] into the hole unless its home lies cyclically in (i, j]. */
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			t[i] = t[j];
			t[j] = NULL;
			i = j;
		}
	}
}

static struct name_entry *find_uid(const struct name_map *m, uint32_t uid)
{
	if (!m->cap)
		return NULL;
	for (size_t i = hash_uid(uid) & (m->cap - 1); m->by_uid[i]; i = (i + 1) & (m->cap - 1))
		if (m->by_uid[i]->uid == uid)
			return m->by_uid[i];
	return NULL;
}

static struct name_entry *find_name(const struct name_map *m, const char *name)
{
	uint32_t h = hash_name(name);

	if (!m->cap)
		return NULL;
	for (size_t i = h & (m->cap - 1); m->by_name[i]; i = (i + 1) & (m->cap - 1))
		if (m->by_name[i]->name_hash == h && strcmp(m->by_name[i]->name, name) == 0)
			return m->by_name[i];
	return NULL;
}

static void drop(struct name_map *m, struct name_entry *e)
{
	take_out(m->by_uid, m->cap, slot_of(m->by_uid, m->cap, e, false), false);
	take_out(m->by_name, m->cap, slot_of(m->by_name, m->cap, e, true), true);
	m->n--;
	free(e);
}

static int grow(struct name_map *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 64;
	struct name_entry **u = calloc(ncap, sizeof(*u)), **n = calloc(ncap, sizeof(*n));

	if (!u || !n) {
		free(u);
		free(n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (m->by_uid[i]) {
			put(u, ncap, m->by_uid[i], false);
			put(n, ncap, m->by_uid[i], true);
		}
	}
	free(m->by_uid);
	free(m->by_name);
	m->by_uid = u;
	m->by_name = n;
	m->cap = ncap;
	return 0;
}

uint32_t name_map_uid(const struct name_map *m, const char *name)
{
	const struct name_entry *e = find_name(m, name);

	return e ? e->uid : 0;
}

const char *name_map_name(const struct name_map *m, uint32_t uid)
{
	const struct name_entry *e = find_uid(m, uid);

	return e ? e->name : NULL;
}

unsigned name_map_mode(const struct name_map *m, uint32_t uid)
{
	const struct name_entry *e = find_uid(m, uid);

	return e ? e->mode : 0;
}

int name_map_set(struct name_map *m, uint32_t uid, const char *name, unsigned mode)
{
	struct name_entry *e, *old;
	size_t len;

	if (!uid)
		return 0;
	old = find_uid(m, uid);
	if (old)
		drop(m, old);
	if (!name)
		return 0;
	old = find_name(m, name);
	if (old)
		drop(m, old);
	if ((m->n + 1) * 4 > m->cap * 3 && grow(m) < 0)
		return -ENOMEM;
	len = strlen(name);
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return -ENOMEM;
	e->uid = uid;
	e->name_hash = hash_name(name);
	e->mode = mode;
	memcpy(e->name, name, len + 1);
	put(m->by_uid, m->cap, e, false);
	put(m->by_name, m->cap, e, true);
	m->n++;
	return 0;
}

void name_map_clear(struct name_map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->by_uid[i]);
	free(m->by_uid);
	free(m->by_name);
	*m = (struct name_map){ 0 };
}
