/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "store/flagsets.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Few distinct sets serve a whole account; many more means flags gone wild. */
#define MAX_FLAG_SETS 4096

void flagsets_init(struct flagsets *f)
{
	pthread_mutex_init(&f->lock, NULL);
	f->sets = NULL;
	f->n = 0;
}

void flagsets_free(struct flagsets *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->sets[i]);
	free(f->sets);
	pthread_mutex_destroy(&f->lock);
}

uint32_t flagsets_intern(struct flagsets *f, const char *text)
{
	uint32_t idx = FLAGS_UNKNOWN;

	if (!text)
		return FLAGS_UNKNOWN;
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->n; i++) {
		if (strcmp(f->sets[i], text) == 0) {
			idx = (uint32_t)i;
			goto out;
		}
	}
	if (f->n < MAX_FLAG_SETS) {
		char **grown = realloc(f->sets, (f->n + 1) * sizeof(*grown));
		char *copy = strdup(text);

		if (grown)
			f->sets = grown;
		if (grown && copy) {
			f->sets[f->n] = copy;
			idx = (uint32_t)f->n++;
		} else {
			free(copy);
		}
	}
out:
	pthread_mutex_unlock(&f->lock);
	return idx;
}

char *flagsets_text(struct flagsets *f, uint32_t idx)
{
	char *text = NULL;

	pthread_mutex_lock(&f->lock);
	if (idx < f->n)
		text = strdup(f->sets[idx]);
	pthread_mutex_unlock(&f->lock);
	return text;
}

size_t flagsets_count(struct flagsets *f)
{
	size_t n;

	pthread_mutex_lock(&f->lock);
	n = f->n;
	pthread_mutex_unlock(&f->lock);
	return n;
}

/* ---- flag lists as sets ---- */

/* Whether the flag list text holds flag (IMAP flags are case-insensitive). */
static bool has_flag(const char *list, const char *flag, size_t flen)
{
	const char *p = list;

	while (p && *p) {
		size_t w;

		p += strspn(p, " ");
		w = strcspn(p, " ");
		if (w == flen && w && strncasecmp(p, flag, w) == 0)
			return true;
		p += w;
	}
	return false;
}

char *flaglist_minus(const char *a, const char *b)
{
	char *out = malloc(strlen(a) + 1);
	size_t n = 0;
	const char *p = a;

	if (!out)
		return NULL;
	while (*p) {
		size_t w;

		p += strspn(p, " ");
		w = strcspn(p, " ");
		if (w && !has_flag(b, p, w) && strncasecmp(p, "\\Recent", w) != 0) {
			if (n)
				out[n++] = ' ';
			memcpy(out + n, p, w);
			n += w;
		}
		p += w;
	}
	out[n] = '\0';
	return out;
}

char *flaglist_apply(const char *cur, const char *add, const char *remove)
{
	char *kept = flaglist_minus(cur, remove), *extra = kept ? flaglist_minus(add, kept) : NULL, *out = NULL;

	if (kept && extra && asprintf(&out, "%s%s%s", kept, *kept && *extra ? " " : "", extra) < 0)
		out = NULL;
	free(kept);
	free(extra);
	return out;
}
