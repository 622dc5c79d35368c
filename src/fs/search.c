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
#include "fs/recent.h"
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
	for (size_t i = 0; i < fs->nsearch_errors; i++)
		free(fs->search_errors[i].text);
	free(fs->search_errors);
	pthread_mutex_destroy(&fs->searches_lock);
}

bool search_owns(fuse_ino_t parent, const char *name)
{
	return ino_kind(parent) == INO_SEARCH ||
	       ((ino_kind(parent) == INO_MAILBOX || ino_kind(parent) == INO_ROOT) &&
		strcmp(name, SEARCH_DIR) == 0);
}

/* The scope of query serial: its mailbox, or STORE_ROOT_ID for the account. */
static uint32_t scope_of(struct fs *fs, uint32_t serial)
{
	uint32_t scope = STORE_ROOT_ID;

	pthread_mutex_lock(&fs->searches_lock);
	if (serial && serial <= fs->nsearches)
		scope = fs->searches[serial - 1].mailbox;
	pthread_mutex_unlock(&fs->searches_lock);
	return scope;
}

/* Whether search inode ino is (in) an account-wide query's tree. */
static bool account_wide(struct fs *fs, fuse_ino_t ino)
{
	return ino_uid(ino) && scope_of(fs, ino_uid(ino)) == STORE_ROOT_ID;
}

/* Keeps why the latest query under .search of mailbox failed (user.imapfs.error). */
static void note_error(struct fs *fs, uint32_t mailbox, const char *query, const char *why)
{
	char *text = NULL;
	size_t i;

	if (asprintf(&text, "%s: %s", query, why) < 0)
		return;
	pthread_mutex_lock(&fs->searches_lock);
	for (i = 0; i < fs->nsearch_errors; i++)
		if (fs->search_errors[i].mailbox == mailbox)
			break;
	if (i < fs->nsearch_errors ||
	    array_reserve(&fs->search_errors, &fs->search_errors_cap, i + 1,
			  sizeof(*fs->search_errors)) == 0) {
		if (i == fs->nsearch_errors) {
			fs->search_errors[i].mailbox = mailbox;
			fs->search_errors[i].text = NULL;
			fs->nsearch_errors++;
		}
		free(fs->search_errors[i].text);
		fs->search_errors[i].text = text;
		text = NULL;
	}
	pthread_mutex_unlock(&fs->searches_lock);
	free(text);
}

int search_error_xattr(struct fs *fs, fuse_ino_t ino, char **out)
{
	int r = -ENODATA;

	if (ino_kind(ino) != INO_SEARCH || ino_uid(ino))
		return -ENODATA;
	pthread_mutex_lock(&fs->searches_lock);
	for (size_t i = 0; i < fs->nsearch_errors; i++) {
		if (fs->search_errors[i].mailbox == ino_mailbox(ino)) {
			*out = strdup(fs->search_errors[i].text);
			r = *out ? 0 : -ENOMEM;
		}
	}
	pthread_mutex_unlock(&fs->searches_lock);
	return r;
}

/* Runs (or finds kept) query in mailbox; logs why one fails. */
static int results(struct fs *fs, uint32_t mailbox, const char *query,
		   struct store_search_result *res)
{
	char err[300];
	int r = store_search(fs->st, mailbox, query, res, err, sizeof(err));

	if (r == -EINVAL) {
		log_warn("search \"%s\": %s", query, err[0] ? err : "refused");
		note_error(fs, mailbox, query, err[0] ? err : "refused");
	}
	return r;
}

/* Runs (or finds kept) query in every mailbox; logs why one fails. */
static int account_results(struct fs *fs, const char *query, struct store_search_hit **hits,
			   size_t *n)
{
	char err[300];
	int r = store_search_account(fs->st, query, hits, n, err, sizeof(err));

	if (r == -EINVAL) {
		log_warn("search \"%s\" in every mailbox: %s", query, err[0] ? err : "refused");
		note_error(fs, STORE_ROOT_ID, query, err[0] ? err : "refused");
	}
	return r;
}

/* Whether mailbox id is ancestor or lies below it (refs: every mailbox, by id). */
static bool within(const struct store_mailbox_ref *refs, size_t n, uint32_t id, uint32_t ancestor)
{
	for (size_t steps = 0; steps <= n; steps++) {
		size_t lo = 0, hi = n;

		if (id == ancestor)
			return true;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (refs[mid].id < id)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == n || refs[lo].id != id || id == STORE_ROOT_ID)
			return false;
		id = refs[lo].parent;
	}
	return false;
}

/* Whether any of the mailboxes in hits is mailbox or lies below it. */
static int has_hits_within(struct fs *fs, const struct store_search_hit *hits, size_t nhits,
			   uint32_t mailbox, bool *yes)
{
	struct store_mailbox_ref *refs;
	size_t nrefs;
	int r;

	*yes = false;
	if (!nhits)
		return 0;
	r = store_mailbox_refs(fs->st, &refs, &nrefs);
	if (r < 0)
		return r;
	for (size_t i = 0; i < nhits && !*yes; i++)
		*yes = within(refs, nrefs, hits[i].mailbox, mailbox);
	store_mailbox_refs_free(refs, nrefs);
	return 0;
}

static bool has_uid(const struct store_search_result *res, uint32_t uid)
{
	const struct store_msg *msgs = res->msgs;
	size_t lo = 0, hi = res->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (msgs[mid].uid == uid)
			return true;
		if (msgs[mid].uid < uid)
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
	*parts = parts_name_form(name) && store_parts_by_name(fs->st, mailbox, name, uid) == 0;
	return *parts || store_message_by_name(fs->st, mailbox, name, uid) == 0;
}

/* Whether name is a result of the query of search inode dir; its UID and kind. */
static int find_result(struct fs *fs, fuse_ino_t dir, const char *name, uint32_t *uid,
		       bool *parts)
{
	uint32_t mailbox = ino_mailbox(dir);
	char *query = query_of(fs, ino_uid(dir));
	struct store_search_result res;
	int r;

	if (!query)
		return -ENOENT;
	r = results(fs, mailbox, query, &res);
	if (r == 0 && (!uid_of_name(fs, mailbox, name, uid, parts) || !has_uid(&res, *uid)))
		r = -ENOENT;
	store_search_result_free(&res);
	free(query);
	return r;
}

void search_entry_param(struct fs *fs, uint64_t ino, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->attr_timeout = fs->opts.dir_timeout;
	e->entry_timeout = fs->opts.dir_timeout;
	fill_dir_attr(fs, ino, &e->attr);
	/* Nothing is made here: the results are the server's. */
	e->attr.st_mode = S_IFDIR | 0555;
}

/* A mailbox's .search, or the root's. */
static int lookup_search_dir(struct fs *fs, fuse_ino_t parent, struct fuse_entry_param *e)
{
	uint32_t mailbox = ino_mailbox(parent);
	bool selectable = false;
	int r = 0;

	if (ino_kind(parent) == INO_MAILBOX) {
		r = store_mailbox_exists(fs->st, mailbox, &selectable);
		if (r == 0 && !selectable)
			r = -ENOENT;
	}
	if (r == 0)
		search_entry_param(fs, ino_make(INO_SEARCH, mailbox, 0, 0), e);
	return r;
}

/* A query typed under .search: run now, so a bad one fails here, where the user typed it. */
static int lookup_query(struct fs *fs, fuse_ino_t parent, const char *name,
			struct fuse_entry_param *e)
{
	uint32_t scope = ino_mailbox(parent), serial;
	struct store_search_result res;
	struct store_search_hit *hits = NULL;
	size_t n = 0;
	int r;

	if (name[0] == '.')
		return -ENOENT; /* .directory, .hidden: what file managers look for is no query */
	if (scope == STORE_ROOT_ID) {
		r = account_results(fs, name, &hits, &n);
		store_search_hits_free(hits, n);
	} else {
		r = results(fs, scope, name, &res);
		if (r == 0)
			store_search_result_free(&res);
	}
	if (r < 0)
		return r;
	serial = query_serial(fs, scope, name);
	if (!serial)
		return -ENOMEM;
	search_entry_param(fs, ino_make(INO_SEARCH, scope, serial, 0), e);
	return 0;
}

/* A mailbox below an account-wide query's directory, if it holds (or has below it) a match. */
static int lookup_account_mailbox(struct fs *fs, fuse_ino_t parent, const char *name,
				  struct fuse_entry_param *e)
{
	uint32_t serial = ino_uid(parent), id;
	struct store_search_hit *hits = NULL;
	char *query;
	size_t n = 0;
	bool found = false;
	int r = store_lookup_mailbox(fs->st, ino_mailbox(parent), name, &id);

	if (r < 0)
		return r;
	query = query_of(fs, serial);
	if (!query)
		return -ENOENT;
	r = account_results(fs, query, &hits, &n);
	if (r == 0)
		r = has_hits_within(fs, hits, n, id, &found);
	store_search_hits_free(hits, n);
	free(query);
	if (r == 0 && !found)
		r = -ENOENT;
	if (r == 0)
		search_entry_param(fs, ino_make(INO_SEARCH, id, serial, 0), e);
	return r;
}

int search_lookup(struct fs *fs, fuse_ino_t parent, const char *name, struct fuse_entry_param *e)
{
	uint32_t mailbox = ino_mailbox(parent), uid, uidvalidity;
	struct store_msg m;
	bool parts;
	int r;

	if (ino_kind(parent) != INO_SEARCH)
		return lookup_search_dir(fs, parent, e);
	if (ino_uid(parent) == 0)
		return lookup_query(fs, parent, name, e);
	if (account_wide(fs, parent)) {
		r = lookup_account_mailbox(fs, parent, name, e);
		if (r != -ENOENT || mailbox == STORE_ROOT_ID)
			return r;
	}
	r = find_result(fs, parent, name, &uid, &parts);
	if (r == -ENOENT && parts_name_form(name) &&
	    store_parts_by_name(fs->st, mailbox, name, &uid) == 0 && removed_here(fs, mailbox, uid)) {
		/* rm -r of results: the .parts of a message just removed, as in its mailbox (lookup.c) */
		memset(e, 0, sizeof(*e));
		e->ino = ino_make(INO_PARTS, mailbox, uid, 0);
		fill_dir_attr(fs, e->ino, &e->attr);
		return 0;
	}
	if (r == 0)
		r = store_message(fs->st, mailbox, uid, &m, &uidvalidity);
	if (r < 0)
		return r == -ESTALE ? -ENOENT : r;
	if (parts)
		parts_dir_entry_param(fs, mailbox, uidvalidity, &m, e);
	else
		msg_entry_param(fs, mailbox, uidvalidity, &m, e);
	/* A result changes without any message going (one read leaves UNSEEN). */
	e->entry_timeout = fs->opts.dir_timeout;
	return 0;
}

int search_getattr(struct fs *fs, fuse_ino_t ino, struct stat *st)
{
	bool selectable;
	int r = ino_mailbox(ino) == STORE_ROOT_ID ? 0 :
		store_mailbox_exists(fs->st, ino_mailbox(ino), &selectable);
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

/* res of mailbox as entries: <UID>.eml (or its written name) and <UID>.parts. */
static int list_results(struct fs *fs, uint32_t mailbox, const struct store_search_result *res,
			search_entry_fn fn, void *ctx, uint32_t *uidvalidity)
{
	char *name;
	int r = 0;

	*uidvalidity = res->uidvalidity;
	r = store_readable_names(fs->st, mailbox, res->msgs, res->n, res->uidvalidity);
	for (size_t i = 0; i < res->n && r == 0; i++) {
		const struct store_msg *m = &res->msgs[i];

		name = store_listed_name(fs->st, mailbox, m->uid);
		r = name ? fn(ctx, name, ino_make(INO_MESSAGE, mailbox, m->uid, 0), false, m)
			 : -ENOMEM;
		if (r < 0)
			break;
		name = store_parts_name(fs->st, mailbox, m->uid);
		r = name ? fn(ctx, name, ino_make(INO_PARTS, mailbox, m->uid, 0), true, m) : -ENOMEM;
	}
	return r;
}

/*
 * A directory of an account-wide query's tree, for mailbox (the root's
 * STORE_ROOT_ID): the child mailboxes with a match in or below them, then
 * mailbox's own results.
 */
static int list_account(struct fs *fs, fuse_ino_t ino, const char *query, search_entry_fn fn,
			void *ctx, uint32_t *uidvalidity)
{
	uint32_t mailbox = ino_mailbox(ino);
	struct store_search_hit *hits = NULL;
	struct store_mailbox_ref *refs = NULL;
	struct store_child *kids = NULL;
	size_t nhits = 0, nrefs = 0, nkids = 0;
	int r = account_results(fs, query, &hits, &nhits);

	if (r == 0 && nhits)
		r = store_mailbox_refs(fs->st, &refs, &nrefs);
	if (r == 0 && nhits)
		r = store_children(fs->st, mailbox, &kids, &nkids);
	for (size_t i = 0; i < nkids && r == 0; i++) {
		bool found = false;

		for (size_t k = 0; k < nhits && !found; k++)
			found = within(refs, nrefs, hits[k].mailbox, kids[i].id);
		if (!found)
			continue;
		r = fn(ctx, kids[i].name, ino_make(INO_SEARCH, kids[i].id, ino_uid(ino), 0), true,
		       NULL);
		kids[i].name = NULL;
	}
	for (size_t k = 0; k < nhits && r == 0; k++)
		if (hits[k].mailbox == mailbox && mailbox != STORE_ROOT_ID)
			r = list_results(fs, mailbox, &hits[k].res, fn, ctx, uidvalidity);
	store_children_free(kids, nkids);
	store_mailbox_refs_free(refs, nrefs);
	store_search_hits_free(hits, nhits);
	return r;
}

int search_list(struct fs *fs, fuse_ino_t ino, search_entry_fn fn, void *ctx,
		uint32_t *uidvalidity)
{
	uint32_t mailbox = ino_mailbox(ino);
	struct store_search_result res;
	char *query;
	int r;

	*uidvalidity = 0;
	if (ino_uid(ino) == 0)
		return 0; /* .search lists nothing: a walk must not search */
	query = query_of(fs, ino_uid(ino));
	if (!query)
		return -ENOENT;
	if (account_wide(fs, ino)) {
		r = list_account(fs, ino, query, fn, ctx, uidvalidity);
	} else {
		r = results(fs, mailbox, query, &res);
		if (r == 0) {
			r = list_results(fs, mailbox, &res, fn, ctx, uidvalidity);
			store_search_result_free(&res);
		}
	}
	free(query);
	return r;
}

int search_mailbox_of(struct fs *fs, fuse_ino_t parent, const char *name, fuse_ino_t *dir)
{
	uint32_t uid;
	bool parts;
	int r;

	if (ino_kind(parent) != INO_SEARCH || ino_uid(parent) == 0 ||
	    ino_mailbox(parent) == STORE_ROOT_ID)
		return -ENOENT;
	r = find_result(fs, parent, name, &uid, &parts);
	if (r == 0)
		*dir = ino_make(INO_MAILBOX, ino_mailbox(parent), 0, 0);
	return r;
}
