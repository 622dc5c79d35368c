/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Mailboxes made, removed and renamed while the server could not be reached
 * (store/offline.h), laid over the tree as the server lists it, or as it was
 * kept on disk, until the replay has made them: a mount made while the
 * server is still down, or one whose LIST comes before the replay, shows
 * the tree the user left. In the order they were made, by wire name, as
 * the replay makes them.
 */
#include "store/store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/journal.h"
#include "store/listing_cache.h"

/* Whether wire is top or a mailbox under it. */
static bool under(const char *wire, const char *top, char delim)
{
	size_t len = strlen(top);

	return strncmp(wire, top, len) == 0 && (wire[len] == '\0' || (delim && wire[len] == delim));
}

static ssize_t find(const struct listing_tree_entry *e, size_t n, const char *wire)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(e[i].wire, wire) == 0)
			return (ssize_t)i;
	return -1;
}

static int lay_create(const struct journal_op *op, char delim, struct listing_tree_entry **e,
		      size_t *n)
{
	struct listing_tree_entry *grown;
	char *wire;

	if (find(*e, *n, op->wire) >= 0)
		return 0;
	wire = strdup(op->wire);
	grown = wire ? realloc(*e, (*n + 1) * sizeof(**e)) : NULL;
	if (!grown) {
		free(wire);
		return -ENOMEM;
	}
	*e = grown;
	(*e)[(*n)++] = (struct listing_tree_entry){ .wire = wire, .delim = delim,
						    .made_offline = true };
	return 0;
}

static void lay_delete(const struct journal_op *op, struct listing_tree_entry *e, size_t *n)
{
	ssize_t at = find(e, *n, op->wire);

	if (at < 0)
		return;
	free(e[at].wire);
	memmove(e + at, e + at + 1, (*n - (size_t)at - 1) * sizeof(*e));
	(*n)--;
}

static int lay_rename(const struct journal_op *op, char delim, struct listing_tree_entry *e,
		      size_t n)
{
	size_t len = strlen(op->wire);

	for (size_t i = 0; i < n; i++) {
		char *w;

		if (!under(e[i].wire, op->wire, delim))
			continue;
		if (asprintf(&w, "%s%s", op->to, e[i].wire + len) < 0)
			return -ENOMEM;
		free(e[i].wire);
		e[i].wire = w;
	}
	return 0;
}

int tree_overlay_journal(struct journal *j, char delim, struct listing_tree_entry **e, size_t *n)
{
	struct journal_op *ops;
	size_t nops;
	int r;

	if (journal_pending(j) == 0)
		return 0;
	r = journal_pending_ops(j, &ops, &nops);
	if (r < 0)
		return r;
	for (size_t i = 0; !delim && i < *n; i++)
		delim = (*e)[i].delim;
	for (size_t i = 0; r == 0 && i < nops; i++) {
		if (ops[i].kind == JOURNAL_CREATE)
			r = lay_create(&ops[i], delim, e, n);
		else if (ops[i].kind == JOURNAL_DELETE)
			lay_delete(&ops[i], *e, n);
		else if (ops[i].kind == JOURNAL_RENAME)
			r = lay_rename(&ops[i], delim, *e, *n);
	}
	journal_ops_free(ops, nops);
	return r;
}

bool tree_messages_pending(struct journal *j, const char *wire, char delim)
{
	struct journal_op *ops;
	size_t n;
	bool named = false;

	if (journal_pending(j) == 0 || journal_pending_ops(j, &ops, &n) < 0)
		return false;
	for (size_t i = 0; i < n && !named; i++) {
		if (ops[i].kind >= JOURNAL_CREATE)
			continue;
		named = under(ops[i].wire, wire, delim) ||
			(ops[i].kind == JOURNAL_MOVE && under(ops[i].to, wire, delim));
	}
	journal_ops_free(ops, n);
	return named;
}
