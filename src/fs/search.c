/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Search directories (see search.h). */
#include "fs/search.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/inode.h"
#include "fs/node.h"
#include "log.h"
#include "util/array.h"

/* The serial of (mailbox, query), registered on first use; 0 if out of memory. */
static uint32_t query_serial(struct fs *fs, uint32_t mailbox, const char *query)
{
	uint32_t serial = 0;

	pthread_mutex_lock(&fs->searches_lock);
	for (size_t i = 0; i < fs->nsearches; i++) {
		if (fs->searches[i].mailbox == mailbox && strcmp(fs->searches[i].query, query) == 0) {
			serial = (uint32_t)i + 1;
			goto out;
		}
	}
	if (fs->nsearches < UINT32_MAX - 1 &&
	    array_reserve(&fs->searches, &fs->searches_cap, fs->nsearches + 1,
			  sizeof(*fs->searches)) == 0) {
		char *q = strdup(query);

		if (q) {
			fs->searches[fs->nsearches].mailbox = mailbox;
			fs->searches[fs->nsearches].query = q;
			serial = (uint32_t)++fs->nsearches;
		}
	}
out:
	pthread_mutex_unlock(&fs->searches_lock);
	return serial;
}

/* A copy of the query of serial (NULL if unknown). */
static char *query_of(struct fs *fs, uint32_t serial)
{
	char *q = NULL;

	pthread_mutex_lock(&fs->searches_lock);
	if (serial && serial <= fs->nsearches)
		q = strdup(fs->searches[serial - 1].query);
	pthread_mutex_unlock(&fs->searches_lock);
	return q;
}

void search_init(struct fs *fs)
{
	pthread_mutex_init(&fs->searches_lock, NULL);
}

void search_free(struct fs *fs)
{
	for (size_t i = 0; i < fs->nsearches; i++)
		free(fs->searches[i].query);
	free(fs->searches);
	pthread_mutex_destroy(&fs->searches_lock);
}

bool search_owns(fuse_ino_t parent, const char *name)
{
	return ino_kind(parent) == INO_SEARCH ||
	       (ino_kind(parent) == INO_MAILBOX && strcmp(name, SEARCH_DIR) == 0);
}

/* Runs (or finds kept) the query of search inode ino; logs why one fails. */
static int results(struct fs *fs, uint32_t mailbox, const char *query, uint32_t **uids,
		   size_t *n)
{
	char err[300];
	int r = store_search(fs->st, mailbox, query, uids, n, err, sizeof(err));

	if (r == -EINVAL)
		log_warn("search \"%s\": %s", query, err[0] ? err : "refused");
	return r;
}

static bool has_uid(const uint32_t *uids, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (uids[mid] == uid)
			return true;
		if (uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* The UID a result's name stands for: <UID>.eml, <UID>.parts, or a name written through the mount. */
static bool uid_of_name(struct fs *fs, uint32_t mailbox, const char *name, uint32_t *uid,
			bool *parts)
{
	*parts = parse_uid_name(name, ".parts", uid);
	return *parts || parse_uid_name(name, ".eml", uid) ||
	       store_named_message(fs->st, mailbox, name, uid) == 0;
}

/* Whether name is a result of the query of search inode dir; its UID and kind. */
static int find_result(struct fs *fs, fuse_ino_t dir, const char *name, uint32_t *uid,
		       bool *parts)
{
	uint32_t mailbox = ino_mailbox(dir), *uids = NULL;
	char *query = query_of(fs, ino_uid(dir));
	size_t n = 0;
	int r;

	if (!query)
		return -ENOENT;
	r = results(fs, mailbox, query, &uids, &n);
	if (r == 0 && (!uid_of_name(fs, mailbox, name, uid, parts) || !has_uid(uids, n, *uid)))
		r = -ENOENT;
	free(uids);
	free(query);
	return r;
}

static void search_entry_param(struct fs *fs, uint64_t ino, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->attr_timeout = fs->opts.dir_timeout;
	e->entry_timeout = fs->opts.dir_timeout;
	fill_dir_attr(fs, ino, &e->attr);
	/* Nothing is made here: the results are the server's. */
	e->attr.st_mode = S_IFDIR | 0555;
}

int search_lookup(struct fs *fs, fuse_ino_t parent, const char *name, struct fuse_entry_param *e)
{
	uint32_t mailbox = ino_mailbox(parent), uid, uidvalidity, serial, *uids = NULL;
	struct store_msg m;
	bool selectable, parts;
	size_t n = 0;
	int r;

	if (ino_kind(parent) == INO_MAILBOX) {
		r = store_mailbox_exists(fs->st, mailbox, &selectable);
		if (r == 0 && !selectable)
			r = -ENOENT;
		if (r == 0)
			search_entry_param(fs, ino_make(INO_SEARCH, mailbox, 0, 0), e);
		return r;
	}
	if (ino_uid(parent) == 0 && name[0] == '.')
		return -ENOENT; /* .directory, .hidden: what file managers look for is no query */
	if (ino_uid(parent) == 0) {
		/* A query: run now, so a bad one fails here, where the user typed it. */
		r = results(fs, mailbox, name, &uids, &n);
		free(uids);
		if (r < 0)
			return r;
		serial = query_serial(fs, mailbox, name);
		if (!serial)
			return -ENOMEM;
		search_entry_param(fs, ino_make(INO_SEARCH, mailbox, serial, 0), e);
		return 0;
	}
	r = find_result(fs, parent, name, &uid, &parts);
	if (r == 0)
		r = store_message(fs->st, mailbox, uid, &m, &uidvalidity);
	if (r < 0)
		return r == -ESTALE ? -ENOENT : r;
	if (parts)
		parts_dir_entry_param(fs, mailbox, uidvalidity, &m, e);
	else
		msg_entry_param(fs, mailbox, uidvalidity, &m, e);
	return 0;
}

int search_getattr(struct fs *fs, fuse_ino_t ino, struct stat *st)
{
	bool selectable;
	int r = store_mailbox_exists(fs->st, ino_mailbox(ino), &selectable);
	char *query;

	if (r < 0)
		return r;
	if (ino_uid(ino)) {
		query = query_of(fs, ino_uid(ino));
		if (!query)
			return -ENOENT;
		free(query);
	}
	fill_dir_attr(fs, ino, st);
	st->st_mode = S_IFDIR | 0555;
	return 0;
}

int search_list(struct fs *fs, fuse_ino_t ino, search_entry_fn fn, void *ctx,
		uint32_t *uidvalidity)
{
	uint32_t mailbox = ino_mailbox(ino), *uids = NULL;
	struct store_msg m;
	char *query, *name;
	size_t n = 0;
	int r;

	*uidvalidity = 0;
	if (ino_uid(ino) == 0)
		return 0; /* .search lists nothing: a walk must not search */
	query = query_of(fs, ino_uid(ino));
	if (!query)
		return -ENOENT;
	r = results(fs, mailbox, query, &uids, &n);
	for (size_t i = 0; i < n && r == 0; i++) {
		/* Expunged since the search: not listed. */
		if (store_message(fs->st, mailbox, uids[i], &m, uidvalidity) < 0)
			continue;
		name = store_message_name(fs->st, mailbox, uids[i]);
		if (!name && asprintf(&name, "%" PRIu32 ".eml", uids[i]) < 0)
			name = NULL;
		r = name ? fn(ctx, name, ino_make(INO_MESSAGE, mailbox, uids[i], 0), false, &m)
			 : -ENOMEM;
		if (r < 0)
			break;
		if (asprintf(&name, "%" PRIu32 ".parts", uids[i]) < 0)
			name = NULL;
		r = name ? fn(ctx, name, ino_make(INO_PARTS, mailbox, uids[i], 0), true, &m) : -ENOMEM;
	}
	free(uids);
	free(query);
	return r;
}

int search_mailbox_of(struct fs *fs, fuse_ino_t parent, const char *name, fuse_ino_t *dir)
{
	uint32_t uid;
	bool parts;
	int r;

	if (ino_kind(parent) != INO_SEARCH || ino_uid(parent) == 0)
		return -ENOENT;
	r = find_result(fs, parent, name, &uid, &parts);
	if (r == 0)
		*dir = ino_make(INO_MAILBOX, ino_mailbox(parent), 0, 0);
	return r;
}
