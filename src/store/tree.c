/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "store/store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "driver/acl.h"
#include "driver/mailbox.h"
#include "imap/mailbox_name.h"
#include "log.h"
#include "store/journal.h"
#include "store/listing_cache.h"
#include "store/pool.h"
#include "util/array.h"
#include "util/cancel.h"
#include "util/clock.h"

static struct mailbox *mailbox_new(const char *wire, const char *name, uint32_t parent, char delim)
{
	struct mailbox *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->wire = wire ? strdup(wire) : NULL;
	m->name = strdup(name);
	if ((wire && !m->wire) || !m->name) {
		free(m->wire);
		free(m->name);
		free(m);
		return NULL;
	}
	m->parent = parent;
	m->delim = delim;
	pthread_mutex_init(&m->refresh_lock, NULL);
	return m;
}

static void mailbox_free(struct mailbox *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->refresh_lock);
	free(m->wire);
	free(m->name);
	free(m->msgs);
	free(m->crossing);
	name_map_clear(&m->names);
	name_map_clear(&m->readable);
	free(m);
}

struct list_result {
	struct store *st;
	struct listing_tree_entry *e;
	size_t n, cap;
	int err;
	bool goes_stale; /* the server's connections miss others' tree changes */
};

static int on_list(void *ctx, const struct driver_list_entry *d)
{
	struct list_result *res = ctx;
	struct listing_tree_entry e = { .delim = d->delim, .noselect = d->noselect,
					.trash = d->trash, .special_use = d->special_use };

	e.wire = strdup(d->wire);
	if (!e.wire || array_reserve(&res->e, &res->cap, res->n + 1, sizeof(*res->e)) < 0) {
		free(e.wire);
		res->err = -ENOMEM;
		return -ENOMEM;
	}
	res->e[res->n++] = e;
	return 0;
}

/* The index's key of id: its wire name (caller holds st->lock). */
static const char *mailbox_wire_key(const void *ctx, uint32_t id)
{
	const struct store *st = ctx;

	return st->mb[id]->wire;
}

/* Caller holds st->lock. Finds or creates the node of wire[0..len). */
static int ensure_node(struct store *st, const char *wire, size_t len, char delim,
		       uint32_t parent, uint32_t *id)
{
	const char *level = wire;
	struct mailbox *m;
	char *full, *name;
	uint32_t found;

	if (delim) {
		for (const char *p = wire; p < wire + len; p++)
			if (*p == delim)
				level = p + 1;
	}
	found = wire_index_find(&st->by_wire, wire, len);
	if (found) {
		m = st->mb[found];
		m->seen = true;
		m->gone = false;
		/* A RENAME keeps the id but moves the node: follow it. */
		name = mailbox_component_from_wire(level, (size_t)(wire + len - level));
		if (!name)
			return -ENOMEM;
		free(m->name);
		m->name = name;
		m->parent = parent;
		*id = found;
		return 0;
	}
	if (st->nmb >= STORE_MAX_MAILBOXES)
		return -ENOSPC;
	full = strndup(wire, len);
	name = mailbox_component_from_wire(level, (size_t)(wire + len - level));
	m = full && name ? mailbox_new(full, name, parent, delim) : NULL;
	free(full);
	free(name);
	if (!m || array_reserve(&st->mb, &st->mb_cap, st->nmb + 1, sizeof(*st->mb)) < 0) {
		mailbox_free(m);
		return -ENOMEM;
	}
	m->seen = true;
	st->mb[st->nmb] = m;
	if (wire_index_add(&st->by_wire, (uint32_t)st->nmb) < 0) {
		mailbox_free(m);
		return -ENOMEM;
	}
	*id = (uint32_t)st->nmb++;
	return 0;
}

/* Caller holds st->lock. Adds e and every level above it. */
static int apply_list_entry(struct store *st, const struct listing_tree_entry *e)
{
	size_t len = strlen(e->wire);
	uint32_t parent = STORE_ROOT_ID, id;
	int r;

	if (e->delim && !st->delim)
		st->delim = e->delim;

	/* Levels above: each prefix ending before a delimiter (not a leading one). */
	for (size_t i = 1; e->delim && i < len; i++) {
		if (e->wire[i] != e->delim)
			continue;
		r = ensure_node(st, e->wire, i, e->delim, parent, &id);
		if (r < 0)
			return r;
		parent = id;
	}
	r = ensure_node(st, e->wire, len, e->delim, parent, &id);
	if (r < 0)
		return r;
	st->mb[id]->selectable = !e->noselect;
	st->mb[id]->trash = e->trash;
	st->mb[id]->special_use = e->special_use;
	st->mb[id]->parent = parent;
	/* Made offline: empty until the server lists it (offline, nothing else will). */
	if (e->made_offline && !st->mb[id]->uidvalidity)
		st->mb[id]->has_listing = true;
	return 0;
}

/* The subscribed wire names, sorted (-o subscribed). */
struct subscribed {
	char **wire;
	size_t n, cap;
};

static int on_subscribed(void *ctx, const char *wire)
{
	struct subscribed *sub = ctx;

	if (array_reserve(&sub->wire, &sub->cap, sub->n + 1, sizeof(*sub->wire)) < 0)
		return -ENOMEM;
	sub->wire[sub->n] = strdup(wire);
	if (!sub->wire[sub->n])
		return -ENOMEM;
	sub->n++;
	return 0;
}

static int cmp_wire(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * -o subscribed: only the subscribed mailboxes are kept; the levels above
 * them come back as plain directories (apply_list_entry makes them).
 */
static int keep_subscribed(struct session *s, struct list_result *res)
{
	struct subscribed sub = { 0 };
	size_t kept = 0;
	int r = driver_subscriptions(s, on_subscribed, &sub);

	if (r == 0)
		qsort(sub.wire, sub.n, sizeof(*sub.wire), cmp_wire);
	for (size_t i = 0; r == 0 && i < res->n; i++) {
		const char *key = res->e[i].wire;
		/* INBOX, and the Trash rm moves to, whether subscribed or not. */
		bool on = strcasecmp(key, "INBOX") == 0 || res->e[i].trash ||
			  strcasecmp(key, "Trash") == 0 ||
			  bsearch(&key, sub.wire, sub.n, sizeof(*sub.wire), cmp_wire);

		if (on)
			res->e[kept++] = res->e[i];
		else
			free(res->e[i].wire);
	}
	if (r == 0)
		res->n = kept;
	for (size_t i = 0; i < sub.n; i++)
		free(sub.wire[i]);
	free(sub.wire);
	return r;
}

static int list_job(struct session *s, void *ctx)
{
	struct list_result *res = ctx;
	int r;

	/* A retry on another connection starts clean. */
	for (size_t i = 0; i < res->n; i++)
		free(res->e[i].wire);
	res->n = 0;
	res->goes_stale = driver_tree_goes_stale(s);
	r = driver_list(s, on_list, res);
	if (r == 0 && res->st->opts.subscribed_only)
		r = keep_subscribed(s, res);
	return r;
}

/* What a relisting changed in the tree, for the sink. */
struct tree_event {
	uint32_t dir;
	char *name; /* a name gone from dir; NULL: dir's listing changed */
};

struct tree_was {
	bool present;
	uint32_t parent;
	char *name;
};

static int tree_snapshot(struct store *st, struct tree_was **out, size_t *n)
{
	struct tree_was *w = calloc(st->nmb, sizeof(*w));

	if (!w)
		return -ENOMEM;
	for (size_t i = 1; i < st->nmb; i++) {
		if (st->mb[i]->gone)
			continue;
		w[i].name = strdup(st->mb[i]->name);
		if (!w[i].name)
			goto fail;
		w[i].present = true;
		w[i].parent = st->mb[i]->parent;
	}
	*out = w;
	*n = st->nmb;
	return 0;
fail:
	for (size_t i = 0; i < st->nmb; i++)
		free(w[i].name);
	free(w);
	return -ENOMEM;
}

struct tree_events {
	struct tree_event *e;
	size_t n, cap;
};

static void tree_event_add(struct tree_events *ev, uint32_t dir, const char *name)
{
	/* Out of memory: the kernel keeps the name until its timeout. */
	if (array_reserve(&ev->e, &ev->cap, ev->n + 1, sizeof(*ev->e)) < 0)
		return;
	ev->e[ev->n].dir = dir;
	ev->e[ev->n].name = name ? strdup(name) : NULL;
	if (name && !ev->e[ev->n].name)
		return;
	ev->n++;
}

/* Compares the tree with the snapshot taken before a relisting. */
static void tree_diff(struct store *st, const struct tree_was *was, size_t nwas,
		      struct tree_events *ev)
{
	for (size_t i = 1; i < nwas; i++) {
		const struct mailbox *m = st->mb[i];
		bool here = !m->gone;

		if (!was[i].present)
			continue;
		if (!here || m->parent != was[i].parent || strcmp(m->name, was[i].name) != 0) {
			tree_event_add(ev, was[i].parent, was[i].name);
			tree_event_add(ev, was[i].parent, NULL);
		}
		if (here && m->parent != was[i].parent)
			tree_event_add(ev, m->parent, NULL);
	}
	for (size_t i = 1; i < st->nmb; i++)
		if (!st->mb[i]->gone && (i >= nwas || !was[i].present))
			tree_event_add(ev, st->mb[i]->parent, NULL);
}

bool store_unreachable(struct store *st, int r)
{
	return r == -EIO && pool_server_down(st->pool);
}

/* FNV-1a of a LIST's entries: whether the tree kept on disk is still right. */
static uint64_t tree_fingerprint(const struct list_result *res)
{
	uint64_t h = UINT64_C(14695981039346656037);

	for (size_t i = 0; i < res->n; i++) {
		const struct listing_tree_entry *e = &res->e[i];
		const unsigned char *p = (const unsigned char *)e->wire;
		size_t len = strlen(e->wire) + 1; /* with its NUL: no name runs into the next */

		for (size_t k = 0; k < len; k++)
			h = (h ^ p[k]) * UINT64_C(1099511628211);
		h = (h ^ (unsigned char)e->delim) * UINT64_C(1099511628211);
		h = (h ^ e->noselect) * UINT64_C(1099511628211);
	}
	return h | 1; /* never 0, which means nothing kept yet */
}

/* Caller holds list_lock: keeps the tree for a mount made while the server is unreachable. */
static void keep_tree(struct store *st, const struct list_result *res)
{
	uint64_t f;

	if (!st->bodies)
		return;
	f = tree_fingerprint(res);
	if (f != st->tree_kept && listing_cache_save_tree(st->bodies, res->e, res->n) == 0)
		st->tree_kept = f;
}

int store_tree_apply_kept(struct store *st)
{
	struct listing_tree_entry *e;
	size_t n;
	int r = listing_cache_load_tree(st->bodies, &e, &n);

	if (r < 0)
		return r;
	pthread_mutex_lock(&st->list_lock);
	if (tree_overlay_journal(st->journal, '\0', &e, &n) < 0)
		log_warn("offline: no memory to show the mailboxes made or removed offline");
	pthread_mutex_lock(&st->lock);
	for (size_t i = 0; i < n && r == 0; i++)
		r = apply_list_entry(st, &e[i]);
	st->list_at_ms = monotonic_ms();
	pthread_mutex_unlock(&st->lock);
	pthread_mutex_unlock(&st->list_lock);
	listing_tree_free(e, n);
	return r;
}

int store_refresh_mailboxes(struct store *st, bool force)
{
	struct list_result res = { .st = st };
	struct tree_was *was = NULL;
	struct tree_events ev = { 0 };
	size_t nwas = 0;
	int64_t ttl, started;
	bool offline;
	int r;

	r = cancel_lock(&st->list_lock);
	if (r < 0)
		return r;
	/*
	 * A look relists a tree older than tree_ttl_ms (other clients' changes
	 * show so, whatever the server announces; on a new connection where
	 * only that sees them), but never spends more than a sixth of the
	 * time listing: a tree of thousands of mailboxes waits longer.
	 */
	ttl = st->opts.tree_ttl_ms > 5 * st->list_cost_ms ? st->opts.tree_ttl_ms : 5 * st->list_cost_ms;
	if (!force && st->list_at_ms && monotonic_ms() - st->list_at_ms < ttl) {
		pthread_mutex_unlock(&st->list_lock);
		return 0;
	}
	started = monotonic_ms();
	if (st->list_on_new_connection)
		r = pool_run_fresh(st->pool, list_job, &res);
	else
		r = pool_run(st->pool, NULL, list_job, &res);
	st->list_cost_ms = monotonic_ms() - started;
	log_debug("tree: listed in %lld ms%s", (long long)st->list_cost_ms,
		  st->list_on_new_connection ? " on a new connection" : "");
	if (r == 0)
		st->list_on_new_connection = res.goes_stale;
	if (r == 0 && res.err)
		r = res.err;
	if (r == 0)
		keep_tree(st, &res);
	/* What was made offline and is not made yet stays in sight meanwhile. */
	if (r == 0 && tree_overlay_journal(st->journal, '\0', &res.e, &res.n) < 0)
		log_warn("offline: no memory to show the mailboxes made or removed offline");
	if (r == 0) {
		pthread_mutex_lock(&st->lock);
		r = tree_snapshot(st, &was, &nwas);
		for (size_t i = 1; i < st->nmb && r == 0; i++)
			st->mb[i]->seen = false;
		for (size_t i = 0; i < res.n && r == 0; i++)
			r = apply_list_entry(st, &res.e[i]);
		if (r == 0) {
			for (size_t i = 1; i < st->nmb; i++)
				st->mb[i]->gone = !st->mb[i]->seen;
			st->list_at_ms = monotonic_ms();
			if (st->sink.dir_changed)
				tree_diff(st, was, nwas, &ev);
		}
		pthread_mutex_unlock(&st->lock);
	}
	/* Said once per outage (lookups retry it at every expiry meanwhile); a user's interrupt is none. */
	if (r < 0 && r != -EINTR && !st->list_failing)
		log_error("listing mailboxes failed: %s%s", strerror(-r),
			  store_unreachable(st, r) && st->list_at_ms ? "; showing the last known tree" : "");
	if (r != -EINTR)
		st->list_failing = r < 0;
	/* Offline, the tree stays as last listed (and is asked again at each look). */
	offline = store_unreachable(st, r) && !force && st->list_at_ms;
	pthread_mutex_unlock(&st->list_lock);
	/* Outside the store's locks (see store_set_sink). */
	for (size_t i = 0; i < ev.n; i++) {
		if (ev.e[i].name)
			st->sink.name_gone(st->sink.ctx, ev.e[i].dir, ev.e[i].name);
		else
			st->sink.dir_changed(st->sink.ctx, ev.e[i].dir);
		free(ev.e[i].name);
	}
	free(ev.e);
	for (size_t i = 0; i < nwas; i++)
		free(was[i].name);
	free(was);
	for (size_t i = 0; i < res.n; i++)
		free(res.e[i].wire);
	free(res.e);
	return offline ? 0 : r;
}

int store_lookup_mailbox(struct store *st, uint32_t parent, const char *name, uint32_t *id)
{
	int r = -ENOENT;

	pthread_mutex_lock(&st->lock);
	for (size_t i = 1; i < st->nmb; i++) {
		struct mailbox *m = st->mb[i];

		/* INBOX is case-insensitive (RFC 3501 5.1): "inbox" is it too. */
		if (!m->gone && m->parent == parent &&
		    (strcmp(m->name, name) == 0 ||
		     (parent == STORE_ROOT_ID && strcmp(m->wire, "INBOX") == 0 &&
		      strcasecmp(name, "INBOX") == 0))) {
			*id = (uint32_t)i;
			r = 0;
			break;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return r;
}

/* Caller holds st->lock: the \Trash mailbox, else a top-level "Trash" (any case). */
static uint32_t find_trash(struct store *st)
{
	uint32_t named = 0;

	for (size_t i = 1; i < st->nmb; i++) {
		struct mailbox *m = st->mb[i];

		if (m->gone || !m->selectable)
			continue;
		if (m->trash)
			return (uint32_t)i;
		if (!named && m->parent == STORE_ROOT_ID && strcasecmp(m->name, "Trash") == 0)
			named = (uint32_t)i;
	}
	return named;
}

uint32_t store_find_trash(struct store *st)
{
	uint32_t id;

	pthread_mutex_lock(&st->lock);
	id = find_trash(st);
	pthread_mutex_unlock(&st->lock);
	return id;
}

int store_mailbox_exists(struct store *st, uint32_t id, bool *selectable)
{
	struct mailbox *m;
	int r = -ENOENT;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m) {
		*selectable = m->wire && m->selectable;
		r = 0;
	}
	pthread_mutex_unlock(&st->lock);
	return r;
}

int store_children(struct store *st, uint32_t parent, struct store_child **out, size_t *n)
{
	struct store_child *c = NULL;
	size_t count = 0, cap = 0;
	int r = 0;

	pthread_mutex_lock(&st->lock);
	for (size_t i = 1; i < st->nmb; i++) {
		struct mailbox *m = st->mb[i];

		if (m->gone || m->parent != parent)
			continue;
		r = array_reserve(&c, &cap, count + 1, sizeof(*c));
		if (r < 0)
			break;
		c[count].id = (uint32_t)i;
		c[count].name = strdup(m->name);
		if (!c[count].name) {
			r = -ENOMEM;
			break;
		}
		count++;
	}
	pthread_mutex_unlock(&st->lock);
	if (r < 0) {
		store_children_free(c, count);
		return r;
	}
	*out = c;
	*n = count;
	return 0;
}

void store_children_free(struct store_child *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(c[i].name);
	free(c);
}

bool store_gone_now(struct store *st, uint32_t id)
{
	bool selectable;

	return store_refresh_mailboxes(st, true) == 0 &&
	       store_mailbox_exists(st, id, &selectable) == -ENOENT;
}

int store_mailbox_refs(struct store *st, struct store_mailbox_ref **out, size_t *n)
{
	struct store_mailbox_ref *r;
	size_t count = 0;
	int err = 0;

	pthread_mutex_lock(&st->lock);
	r = calloc(st->nmb, sizeof(*r));
	for (size_t i = 1; r && i < st->nmb; i++) {
		struct mailbox *m = st->mb[i];

		if (m->gone)
			continue;
		r[count].id = (uint32_t)i;
		r[count].parent = m->parent;
		r[count].name = strdup(m->name);
		r[count].wire = strdup(m->wire);
		r[count].uidvalidity = m->uidvalidity;
		r[count].uidnext = m->uidnext;
		r[count].exists = m->exists;
		r[count].selectable = m->selectable;
		r[count].listed = m->listed_at_ms != 0 && m->selectable;
		if (!r[count].name || !r[count].wire)
			err = -ENOMEM;
		count++;
	}
	pthread_mutex_unlock(&st->lock);
	if (!r)
		return -ENOMEM;
	if (err) {
		store_mailbox_refs_free(r, count);
		return err;
	}
	*out = r;
	*n = count;
	return 0;
}

void store_mailbox_refs_free(struct store_mailbox_ref *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].name);
		free(r[i].wire);
	}
	free(r);
}

int store_mailbox_by_wire(struct store *st, const char *wire, uint32_t *id)
{
	int r = -ENOENT;

	pthread_mutex_lock(&st->lock);
	for (size_t i = 1; i < st->nmb; i++) {
		if (!st->mb[i]->gone && strcmp(st->mb[i]->wire, wire) == 0) {
			*id = (uint32_t)i;
			r = 0;
			break;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return r;
}

char store_delimiter(struct store *st, uint32_t id)
{
	struct mailbox *m;
	char d;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	d = m && m->delim ? m->delim : st->delim;
	pthread_mutex_unlock(&st->lock);
	return d;
}

void store_mailbox_renamed(struct store *st, const char *old_wire, const char *new_wire)
{
	size_t oldlen = strlen(old_wire);

	pthread_mutex_lock(&st->lock);
	for (size_t i = 1; i < st->nmb; i++) {
		struct mailbox *m = st->mb[i];
		char *w;

		if (strncmp(m->wire, old_wire, oldlen) != 0 ||
		    (m->wire[oldlen] && (!m->delim || m->wire[oldlen] != m->delim)))
			continue;
		if (asprintf(&w, "%s%s", new_wire, m->wire + oldlen) < 0)
			continue;
		free(m->wire);
		m->wire = w;
	}
	/* Names changed under the index. Out of memory, an id is left out; a
	 * LIST naming it then makes a node anew, and the old one is gone. */
	wire_index_clear(&st->by_wire);
	/* Those there first: a gone one of the same name (rmdir B; mv A B) is not found for it. */
	for (int gone = 0; gone < 2; gone++)
		for (size_t i = 1; i < st->nmb; i++)
			if (st->mb[i]->gone == gone)
				wire_index_add(&st->by_wire, (uint32_t)i);
	pthread_mutex_unlock(&st->lock);
}

int store_tree_journaled(struct store *st, const struct journal_op *op, uint32_t *id)
{
	uint32_t was_parent = STORE_ROOT_ID, parent = STORE_ROOT_ID, at;
	char delim;
	int r = 0;

	if (op->kind == JOURNAL_RENAME)
		store_mailbox_renamed(st, op->wire, op->to);
	pthread_mutex_lock(&st->list_lock);
	pthread_mutex_lock(&st->lock);
	delim = st->delim;
	if (op->kind == JOURNAL_CREATE) {
		struct listing_tree_entry e = { .wire = op->wire, .delim = delim,
						.made_offline = true };

		/* One removed before (rmdir X; mkdir X) comes back new: none of its mail. */
		at = wire_index_find(&st->by_wire, op->wire, strlen(op->wire));
		if (at && st->mb[at]->gone) {
			struct mailbox *m = st->mb[at];

			free(m->msgs);
			m->msgs = NULL;
			m->nmsgs = m->msgs_cap = 0;
			m->uidvalidity = m->uidnext = m->exists = 0;
			m->modseq = 0;
			m->listed_at_ms = 0;
		}
		r = apply_list_entry(st, &e);
		at = r == 0 ? wire_index_find(&st->by_wire, op->wire, strlen(op->wire)) : 0;
		if (r == 0 && !at)
			r = -ENOMEM;
		if (r == 0)
			parent = st->mb[at]->parent;
		*id = at;
	} else if ((at = wire_index_find(&st->by_wire, op->kind == JOURNAL_RENAME ? op->to : op->wire,
					 strlen(op->kind == JOURNAL_RENAME ? op->to : op->wire)))) {
		was_parent = st->mb[at]->parent;
		if (op->kind == JOURNAL_DELETE) {
			st->mb[at]->gone = true;
		} else {
			/* The levels above its new name, and its own name and place. */
			struct listing_tree_entry e = { .wire = op->to, .delim = delim };
			bool selectable = st->mb[at]->selectable, trash = st->mb[at]->trash;
			unsigned special_use = st->mb[at]->special_use;

			e.noselect = !selectable;
			e.trash = trash;
			e.special_use = special_use;
			r = apply_list_entry(st, &e);
			parent = st->mb[at]->parent;
		}
		*id = at;
	} else {
		r = -ENOENT;
	}
	pthread_mutex_unlock(&st->lock);
	pthread_mutex_unlock(&st->list_lock);
	/* Outside the store's locks (see store_set_sink). */
	if (r == 0 && st->sink.dir_changed) {
		st->sink.dir_changed(st->sink.ctx, parent);
		if (was_parent != parent)
			st->sink.dir_changed(st->sink.ctx, was_parent);
	}
	return r;
}

char *store_mailbox_wire(struct store *st, uint32_t id)
{
	struct mailbox *m;
	char *wire = NULL;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m && m->wire)
		wire = strdup(m->wire);
	pthread_mutex_unlock(&st->lock);
	return wire;
}

int store_tree_init(struct store *st)
{
	struct mailbox *root = mailbox_new(NULL, "", STORE_ROOT_ID, '\0');

	st->mb = calloc(1, sizeof(*st->mb));
	if (!root || !st->mb) {
		mailbox_free(root);
		return -ENOMEM;
	}
	st->mb[0] = root;
	st->nmb = 1;
	st->mb_cap = 1;
	wire_index_init(&st->by_wire, mailbox_wire_key, st);
	return 0;
}

void store_tree_free(struct store *st)
{
	for (size_t i = 0; i < st->nmb; i++)
		mailbox_free(st->mb[i]);
	free(st->mb);
	wire_index_free(&st->by_wire);
}
