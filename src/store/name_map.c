/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "store/name_map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * One table of entries hashed by UID; a name is found by its own hash into
 * the same slots' second index (names[]), kept in step.
 */
struct name_entry {
	uint32_t uid;
	uint32_t name_hash;
	char *name;
	unsigned mode;
};

static size_t uid_slot(uint32_t uid, size_t cap)
{
	return (uid * 2654435761u) & (cap - 1);
}

static uint32_t hash_name(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static struct name_entry *find_uid(const struct name_map *m, uint32_t uid)
{
	if (!m->cap)
		return NULL;
	for (size_t i = uid_slot(uid, m->cap), k = 0; k < m->cap; i = (i + 1) & (m->cap - 1), k++) {
		if (m->e[i].uid == uid)
			return &m->e[i];
		if (m->e[i].uid == 0)
			return NULL;
	}
	return NULL;
}

/* Removes the entry at slot i, moving later ones of its run back (no tombstones). */
static void remove_at(struct name_map *m, size_t i)
{
	size_t j = i;

	free(m->e[i].name);
	m->e[i] = (struct name_entry){ 0 };
	m->n--;
	for (;;) {
		size_t home;

		j = (j + 1) & (m->cap - 1);
		if (m->e[j].uid == 0)
			return;
		home = uid_slot(m->e[j].uid, m->cap);
		/* Move e[j] into the hole if its home is not within (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			m->e[i] = m->e[j];
			m->e[j] = (struct name_entry){ 0 };
			i = j;
		}
	}
}

static int grow(struct name_map *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 64;
	struct name_entry *old = m->e, *ne = calloc(ncap, sizeof(*ne));
	size_t ocap = m->cap;

	if (!ne)
		return -ENOMEM;
	m->e = ne;
	m->cap = ncap;
	for (size_t i = 0; i < ocap; i++) {
		if (!old[i].uid)
			continue;
		size_t j = uid_slot(old[i].uid, ncap);

		while (ne[j].uid)
			j = (j + 1) & (ncap - 1);
		ne[j] = old[i];
	}
	free(old);
	return 0;
}

uint32_t name_map_uid(const struct name_map *m, const char *name)
{
	uint32_t h = hash_name(name);

	/* Names are looked up far less often than listed: a scan of the hashes. */
	for (size_t i = 0; i < m->cap; i++)
		if (m->e[i].uid && m->e[i].name_hash == h && strcmp(m->e[i].name, name) == 0)
			return m->e[i].uid;
	return 0;
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
	struct name_entry *e;
	uint32_t other;
	char *copy = NULL;

	if (!uid)
		return 0;
	if (name && !(copy = strdup(name)))
		return -ENOMEM;
	other = name ? name_map_uid(m, name) : 0;
	if (other && other != uid)
		remove_at(m, (size_t)(find_uid(m, other) - m->e));
	e = find_uid(m, uid);
	if (e && !name) {
		remove_at(m, (size_t)(e - m->e));
		return 0;
	}
	if (e) {
		free(e->name);
		e->name = copy;
		e->name_hash = hash_name(copy);
		e->mode = mode;
		return 0;
	}
	if (!name)
		return 0;
	if ((m->n + 1) * 4 > m->cap * 3 && grow(m) < 0) {
		free(copy);
		return -ENOMEM;
	}
	for (size_t i = uid_slot(uid, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (m->e[i].uid == 0) {
			m->e[i] = (struct name_entry){ uid, hash_name(copy), copy, mode };
			m->n++;
			return 0;
		}
	}
}

void name_map_clear(struct name_map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->e[i].name);
	free(m->e);
	*m = (struct name_map){ 0 };
}
