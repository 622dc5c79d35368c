/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "store/store.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/datetime.h"
#include "imap/uid_set.h"
#include "imap/mailbox_name.h"
#include "log.h"
#include "util/cancel.h"
#include "store/parts.h"
#include "store/parts_cache.h"
#include "store/pool.h"
#include "store/body_cache.h"
#include "store/listing_cache.h"
#include "store/name_map.h"
#include "store/prefetch.h"
#include "store/wire_index.h"

/* Interned flag sets: a few distinct ones serve a whole mailbox. */
#define MAX_FLAG_SETS 4096
#define FLAGS_UNKNOWN UINT32_MAX

struct mailbox {
	char *wire;      /* full name on the wire; NULL for the root */
	char *name;      /* path component shown to users */
	uint32_t parent;
	char delim;      /* '\0' for a flat namespace */
	bool selectable;
	bool trash;      /* LIST says \Trash (RFC 6154) */
	bool gone;       /* no longer listed by the server */
	bool seen;       /* listed by the LIST being applied */

	pthread_mutex_t refresh_lock; /* one listing fetch at a time */
	struct store_msg *msgs;
	size_t nmsgs;
	uint32_t uidvalidity, uidnext, exists;
	uint64_t modseq;      /* HIGHESTMODSEQ of the listing (CONDSTORE), 0 if unknown */
	int64_t listed_at_ms; /* 0: never listed */

	struct name_map names;      /* names messages were written under (store_name_message) */
	uint32_t names_uidvalidity; /* the UIDVALIDITY they are of */
};

struct store {
	struct store_options opts;
	struct pool *pool;

	pthread_mutex_t lock; /* mailboxes and flag sets */
	struct mailbox **mb;
	size_t nmb, mb_cap;
	struct wire_index by_wire; /* ids of mb[1..nmb) by wire name */
	int64_t list_at_ms;
	pthread_mutex_t list_lock; /* one LIST at a time */
	struct store_sink sink; /* set before any thread but the caller's runs */
	bool list_failing;      /* the last LIST failed (under list_lock) */
	uint64_t tree_kept;     /* fingerprint of the tree last kept on disk (under list_lock) */

	char **flagsets;
	size_t nflagsets;
	char delim; /* the namespace's hierarchy delimiter, from LIST */
	uint32_t last_used;
	int64_t quota_at_ms;
	int quota_err;
	uint64_t quota_used, quota_limit;

	struct parts_cache *parts_cache;
	struct prefetch *prefetch; /* NULL: every body is read on demand */
	struct body_cache *bodies; /* NULL: no disk cache */
};

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
	name_map_clear(&m->names);
	free(m);
}

/* Caller holds st->lock. NULL for an unknown or gone id. */
static struct mailbox *mailbox_get(struct store *st, uint32_t id)
{
	if (id >= st->nmb || st->mb[id]->gone)
		return NULL;
	return st->mb[id];
}

/* ---- flag sets ---- */

static uint32_t intern_text(struct store *st, const char *text);

static uint32_t intern_flags(struct store *st, const struct imap_value *list)
{
	char text[1024];
	size_t n = 0;

	text[0] = '\0';
	for (size_t i = 0; list && i < list->count; i++) {
		const char *f = imap_value_text(&list->items[i]);
		int w;

		/* \Recent belongs to one session, not to the message: never shown or set. */
		if (!f || strcasecmp(f, "\\Recent") == 0)
			continue;
		w = snprintf(text + n, sizeof(text) - n, "%s%s", n ? " " : "", f);
		if (w < 0 || (size_t)w >= sizeof(text) - n)
			return FLAGS_UNKNOWN;
		n += (size_t)w;
	}
	return intern_text(st, text);
}

static uint32_t intern_text(struct store *st, const char *text)
{
	uint32_t idx = FLAGS_UNKNOWN;

	pthread_mutex_lock(&st->lock);
	for (size_t i = 0; i < st->nflagsets; i++) {
		if (strcmp(st->flagsets[i], text) == 0) {
			idx = (uint32_t)i;
			goto out;
		}
	}
	if (st->nflagsets < MAX_FLAG_SETS) {
		char **grown = realloc(st->flagsets, (st->nflagsets + 1) * sizeof(*grown));
		char *copy = strdup(text);

		if (grown)
			st->flagsets = grown;
		if (grown && copy) {
			st->flagsets[st->nflagsets] = copy;
			idx = (uint32_t)st->nflagsets++;
		} else {
			free(copy);
		}
	}
out:
	pthread_mutex_unlock(&st->lock);
	return idx;
}

char *store_flags_text(struct store *st, uint32_t flags)
{
	char *text = NULL;

	pthread_mutex_lock(&st->lock);
	if (flags < st->nflagsets)
		text = strdup(st->flagsets[flags]);
	pthread_mutex_unlock(&st->lock);
	return text;
}

/* ---- the mailbox tree ---- */

struct list_result {
	struct store *st;
	struct listing_tree_entry *e;
	size_t n, cap;
	int err;
};

/*
 * Makes room for want elements of size bytes in *arr, which holds *cap:
 * doubling, so that n appends cost O(n) copying, not O(n^2) (a LIST may name
 * tens of thousands of mailboxes). 0 or -ENOMEM (*arr is then unchanged).
 */
static int array_reserve(void *arr, size_t *cap, size_t want, size_t size)
{
	void **p = arr;
	size_t ncap = *cap ? *cap : 16;
	void *grown;

	if (want <= *cap)
		return 0;
	while (ncap < want)
		ncap *= 2;
	grown = reallocarray(*p, ncap, size);
	if (!grown)
		return -ENOMEM;
	*p = grown;
	*cap = ncap;
	return 0;
}

static int on_list(void *ctx, const struct imap_response *r)
{
	struct list_result *res = ctx;
	const struct imap_value *flags = imap_list_item(&r->args, 0);
	const struct imap_value *delim = imap_list_item(&r->args, 1);
	const struct imap_value *name = imap_list_item(&r->args, 2);
	struct listing_tree_entry e = { 0 };

	if (strcmp(r->name, "LIST") != 0)
		return 0;
	if (!flags || flags->type != IMAP_LIST || !name || !imap_value_text(name)) {
		log_warn("ignoring a malformed LIST response");
		return 0;
	}
	if (strlen(name->str) != name->len || name->len == 0) {
		log_warn("ignoring a mailbox whose name is empty or holds NUL");
		return 0;
	}
	if (delim && delim->type == IMAP_STRING && delim->len == 1)
		e.delim = delim->str[0];
	for (size_t i = 0; i < flags->count; i++)
		if (imap_value_is(&flags->items[i], "\\Noselect") ||
		    imap_value_is(&flags->items[i], "\\NonExistent"))
			e.noselect = true;
		else if (imap_value_is(&flags->items[i], "\\Trash"))
			e.trash = true;
	/* INBOX is case-insensitive (RFC 3501 §5.1): one spelling for all. */
	e.wire = strcasecmp(name->str, "INBOX") == 0 ? strdup("INBOX") : strdup(name->str);
	if (!e.wire || array_reserve(&res->e, &res->cap, res->n + 1, sizeof(*res->e)) < 0) {
		free(e.wire);
		res->err = -ENOMEM;
		return -ENOMEM;
	}
	res->e[res->n++] = e;
	return 0;
}

/* Caller holds st->lock. Finds or creates the node of wire[0..len). */
static const char *mailbox_wire_key(const void *ctx, uint32_t id)
{
	const struct store *st = ctx;

	return st->mb[id]->wire;
}

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
	st->mb[id]->parent = parent;
	return 0;
}

static int list_job(struct session *s, void *ctx)
{
	struct list_result *res = ctx;
	struct imap_cmd cmd;
	int r;

	/* A retry on another connection starts clean. */
	for (size_t i = 0; i < res->n; i++)
		free(res->e[i].wire);
	res->n = 0;
	imap_cmd_init(&cmd, false);
	imap_cmd_raw(&cmd, "LIST \"\" \"*\"");
	r = session_run(s, &cmd, on_list, ctx);
	imap_cmd_free(&cmd);
	return r;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

/*
 * A failure because the server cannot be reached (the pool's last connection
 * attempt failed), not a refusal: a NO without a response code is -EIO too.
 */
static bool unreachable(struct store *st, int r)
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

/*
 * The tree kept on disk, applied as if LISTed, for a mount made while the
 * server is unreachable. 0, or -ENOENT if none is kept.
 */
static int apply_kept_tree(struct store *st)
{
	struct listing_tree_entry *e;
	size_t n;
	int r = listing_cache_load_tree(st->bodies, &e, &n);

	if (r < 0)
		return r;
	pthread_mutex_lock(&st->list_lock);
	pthread_mutex_lock(&st->lock);
	for (size_t i = 0; i < n && r == 0; i++)
		r = apply_list_entry(st, &e[i]);
	st->list_at_ms = now_ms();
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
	int r;

	r = cancel_lock(&st->list_lock);
	if (r < 0)
		return r;
	if (!force && st->list_at_ms && now_ms() - st->list_at_ms < st->opts.tree_ttl_ms) {
		pthread_mutex_unlock(&st->list_lock);
		return 0;
	}
	r = pool_run(st->pool, NULL, list_job, &res);
	if (r == 0 && res.err)
		r = res.err;
	if (r == 0)
		keep_tree(st, &res);
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
			st->list_at_ms = now_ms();
			if (st->sink.dir_changed)
				tree_diff(st, was, nwas, &ev);
		}
		pthread_mutex_unlock(&st->lock);
	}
	pthread_mutex_unlock(&st->list_lock);
	/* Outside the locks: the sink may take its own. */
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
	/* Said once per outage: lookups retry it at every expiry meanwhile. */
	pthread_mutex_lock(&st->list_lock);
	if (r < 0 && !st->list_failing)
		log_error("listing mailboxes failed: %s%s", strerror(-r),
			  unreachable(st, r) && st->list_at_ms ? "; showing the last known tree" : "");
	st->list_failing = r < 0;
	/* Offline, the tree stays as last listed (and is asked again at each look). */
	if (unreachable(st, r) && !force && st->list_at_ms)
		r = 0;
	pthread_mutex_unlock(&st->list_lock);
	return r;
}

void store_set_sink(struct store *st, const struct store_sink *sink)
{
	st->sink = *sink;
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

/* ---- names messages were written under ---- */

/* Caller holds st->lock. The names of m as of UIDVALIDITY uv, emptied if they were of another. */
static struct name_map *names_of(struct mailbox *m, uint32_t uv)
{
	if (m->names_uidvalidity != uv) {
		name_map_clear(&m->names);
		m->names_uidvalidity = uv;
	}
	return &m->names;
}

static int refresh_listing(struct store *st, uint32_t id, bool force, bool flags_changed);

/* Caller holds st->lock. Whether m's names are of its UIDVALIDITY. */
static bool names_current(const struct mailbox *m)
{
	return m->uidvalidity && m->names_uidvalidity == m->uidvalidity;
}

/* "<digits>.eml": a UID's own name, never kept for another. */
static bool uid_form(const char *name)
{
	const char *p = name;

	while (*p >= '0' && *p <= '9')
		p++;
	return p != name && strcmp(p, ".eml") == 0;
}

int store_name_message(struct store *st, uint32_t id, uint32_t uid, const char *name,
		       unsigned mode)
{
	struct mailbox *m;
	uint32_t uv = 0;
	char *wire = NULL;
	int r = -ENOENT;

	if (name && uid_form(name))
		name = NULL; /* listed by its UID, as the name suggests */
	/* A mailbox made a moment ago (rsync's mkdir) has no UIDVALIDITY known yet. */
	if (!store_known_uidvalidity(st, id))
		refresh_listing(st, id, false, false);
	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m && m->uidvalidity) {
		uv = m->uidvalidity;
		r = name_map_set(names_of(m, uv), uid, name, mode & 07777);
		wire = r == 0 ? strdup(m->wire) : NULL;
	}
	pthread_mutex_unlock(&st->lock);
	if (wire && st->bodies)
		listing_cache_add_name(st->bodies, wire, uv, uid, name, mode & 07777);
	free(wire);
	return r;
}

char *store_message_name(struct store *st, uint32_t id, uint32_t uid)
{
	const char *name = NULL;
	struct mailbox *m;
	char *copy = NULL;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m && m->names.n)
		name = name_map_name(&m->names, uid);
	if (name && names_current(m))
		copy = strdup(name);
	pthread_mutex_unlock(&st->lock);
	return copy;
}

unsigned store_message_mode(struct store *st, uint32_t id, uint32_t uid)
{
	struct mailbox *m;
	unsigned mode = 0;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m && m->names.n && names_current(m))
		mode = name_map_mode(&m->names, uid);
	pthread_mutex_unlock(&st->lock);
	return mode;
}

int store_named_message(struct store *st, uint32_t id, const char *name, uint32_t *uid)
{
	struct mailbox *m;
	int r = refresh_listing(st, id, false, false); /* names are of its UIDVALIDITY */

	if (r < 0)
		return r;
	r = -ENOENT;
	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	*uid = m && m->names.n ? name_map_uid(&m->names, name) : 0;
	if (*uid && names_current(m))
		r = 0;
	pthread_mutex_unlock(&st->lock);
	return r;
}

/* A record of the names log (listing_cache_load_names), applied in order. */
static void on_kept_name(void *ctx, const char *wire, uint32_t uidvalidity, uint32_t uid,
			 const char *name, unsigned mode)
{
	struct store *st = ctx;
	uint32_t id = wire_index_find(&st->by_wire, wire, strlen(wire));

	if (id && name_map_set(names_of(st->mb[id], uidvalidity), uid, name, mode) < 0)
		log_debug("no memory for the kept names");
}

static void load_kept_names(struct store *st)
{
	if (!st->bodies)
		return;
	pthread_mutex_lock(&st->lock);
	listing_cache_load_names(st->bodies, on_kept_name, st);
	pthread_mutex_unlock(&st->lock);
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

/* ---- message listings ---- */

/* What a listing job found, for refresh_listing() to apply. */
enum listing_kind {
	LISTING_FULL,      /* msgs holds every message */
	LISTING_UNCHANGED, /* the known listing is still right */
	LISTING_DELTA,     /* what changed since the known listing (below) */
};

struct listing {
	struct store *st;
	const char *wire;
	struct session_mailbox sel;
	/* The listing held before, from this mount or kept on disk. */
	bool known;
	uint32_t known_uidvalidity, known_uidnext, known_exists;
	uint64_t known_modseq;
	/* The watcher saw a flag change: without CONDSTORE only a full listing shows it. */
	bool flags_changed;

	enum listing_kind kind;
	/* FULL: every message. DELTA: the messages from known_uidnext on. */
	struct store_msg *msgs;
	size_t n, cap;
	/* DELTA: (uid, flags) of known messages whose flags changed. */
	struct store_msg *flag_rows;
	size_t nflag_rows, flag_cap;
	/* DELTA, when messages came or went: the known UIDs still there (ESEARCH ALL). */
	bool have_remaining;
	struct imap_uid_range *remaining;
	size_t nremaining;
	int err;
};

static int on_listing_fetch(void *ctx, const struct imap_response *r)
{
	struct listing *l = ctx;
	const struct imap_value *att = imap_list_item(&r->args, 0);
	const struct imap_value *date;
	struct store_msg m = { 0 };
	uint64_t uid, size;

	if (strcmp(r->name, "FETCH") != 0 || !att || att->type != IMAP_LIST)
		return 0;
	/* Unsolicited flag updates carry no size: they are not listing rows. */
	if (!imap_value_number(imap_list_lookup(att, "UID"), &uid) ||
	    !imap_value_number(imap_list_lookup(att, "RFC822.SIZE"), &size))
		return 0;
	if (uid == 0 || uid > UINT32_MAX || size > STORE_MAX_FILE) {
		log_warn("server sent UID %" PRIu64 " with size %" PRIu64 "; ignoring it", uid, size);
		return 0;
	}
	m.uid = (uint32_t)uid;
	m.size = size;
	m.flags = intern_flags(l->st, imap_list_lookup(att, "FLAGS"));
	date = imap_list_lookup(att, "INTERNALDATE");
	if (date && imap_value_text(date)) {
		time_t t;

		if (imap_datetime_parse(date->str, date->len, &t) == 0)
			m.date = t;
	}
	if (array_reserve(&l->msgs, &l->cap, l->n + 1, sizeof(*l->msgs)) < 0) {
		l->err = -ENOMEM;
		return -ENOMEM;
	}
	l->msgs[l->n++] = m;
	return 0;
}

static int on_flags_fetch(void *ctx, const struct imap_response *r)
{
	struct listing *l = ctx;
	const struct imap_value *att = imap_list_item(&r->args, 0);
	const struct imap_value *flags = imap_list_lookup(att, "FLAGS");
	uint64_t uid;

	if (strcmp(r->name, "FETCH") != 0 || !flags || flags->type != IMAP_LIST ||
	    !imap_value_number(imap_list_lookup(att, "UID"), &uid) || uid == 0 || uid > UINT32_MAX)
		return 0;
	if (array_reserve(&l->flag_rows, &l->flag_cap, l->nflag_rows + 1, sizeof(*l->flag_rows)) < 0) {
		l->err = -ENOMEM;
		return -ENOMEM;
	}
	l->flag_rows[l->nflag_rows++] = (struct store_msg){ .uid = (uint32_t)uid,
							    .flags = intern_flags(l->st, flags) };
	return 0;
}

/* "* ESEARCH (TAG "A5") UID ALL 1:7,9": the UIDs a UID SEARCH matched. */
static int on_esearch(void *ctx, const struct imap_response *r)
{
	struct listing *l = ctx;
	const struct imap_value *all = NULL;
	int e;

	if (strcmp(r->name, "ESEARCH") != 0 || l->have_remaining)
		return 0;
	for (size_t i = 0; i + 1 < r->args.count; i++)
		if (imap_value_is(&r->args.items[i], "ALL"))
			all = &r->args.items[i + 1];
	l->have_remaining = true; /* no ALL: nothing matched */
	if (!all)
		return 0;
	if (!imap_value_text(all) ||
	    (e = imap_uid_set_parse(all->str, all->len, &l->remaining, &l->nremaining)) == -EINVAL) {
		log_warn("mailbox %s: server sent a malformed ESEARCH result", l->wire);
		l->err = -EIO;
		return 0;
	}
	if (e < 0)
		l->err = e;
	return 0;
}

/* EXAMINEs wire afresh if this session's view of it is not the server's present one. */
/*
 * Dovecot 2.3 can answer STATUS, and EXAMINE, of a mailbox deleted and
 * created again "NO Mailbox was deleted under us" on a connection that had
 * the old one selected, for as long as that connection lives; a new
 * connection sees the new mailbox. Such a refusal drops the session, so the
 * pool runs the job again on a fresh one (pool_run). Returns r.
 */
static int refused_here(struct session *s, int r)
{
	if (r == -EIO && session_alive(s))
		session_abandon(s, "the server refuses on this connection a mailbox that "
				   "exists (deleted and created again?); reconnecting");
	return r;
}

static int select_current(struct session *s, const char *wire, uint32_t uidvalidity,
			  struct session_mailbox *sel)
{
	int r = session_select(s, wire, false, sel);

	if (r == 0 && sel->uidvalidity != uidvalidity) {
		/* Deleted and created again since this session selected it. */
		session_unselect(s);
		r = session_select(s, wire, false, sel);
	}
	return refused_here(s, r);
}

int store_select_valid(struct session *s, const char *wire, uint32_t uidvalidity)
{
	struct session_mailbox sel;
	int r = select_current(s, wire, uidvalidity, &sel);

	if (r == 0 && sel.uidvalidity != uidvalidity)
		r = -ESTALE;
	return r;
}

int store_catch_up(struct session *s)
{
	struct imap_cmd cmd;
	int r;

	imap_cmd_init(&cmd, false);
	imap_cmd_raw(&cmd, "NOOP");
	r = session_run(s, &cmd, NULL, NULL);
	imap_cmd_free(&cmd);
	return r;
}

/* Every message of the selected mailbox l->wire. */
static int listing_full(struct session *s, struct listing *l)
{
	struct imap_cmd cmd;
	int r;

	l->kind = LISTING_FULL;
	l->n = 0;
	if (l->sel.exists == 0)
		return 0;
	imap_cmd_init(&cmd, false);
	imap_cmd_raw(&cmd, "UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)");
	r = session_run(s, &cmd, on_listing_fetch, l);
	imap_cmd_free(&cmd);
	return r;
}

/*
 * What changed since the known listing (RFC 7162 CONDSTORE): the messages
 * from the known UIDNEXT on, the flags changed since the known HIGHESTMODSEQ,
 * and, when messages came or went, which known UIDs are still there (ESEARCH,
 * a few ranges however many messages). Without ESEARCH a count cannot tell
 * which went, so the listing is fetched whole.
 */
static int listing_delta(struct session *s, struct listing *l, const struct session_status *c)
{
	bool moved = c->uidnext != l->known_uidnext || c->messages != l->known_exists;
	struct imap_cmd cmd;
	int r;

	if (moved && !session_has_cap(s, "ESEARCH"))
		return listing_full(s, l);
	l->kind = LISTING_DELTA;
	if (c->uidnext > l->known_uidnext) {
		imap_cmd_init(&cmd, false);
		imap_cmd_rawf(&cmd, "UID FETCH %" PRIu32 ":* (UID FLAGS RFC822.SIZE INTERNALDATE)",
			      l->known_uidnext);
		r = session_run(s, &cmd, on_listing_fetch, l);
		imap_cmd_free(&cmd);
		if (r < 0)
			return r;
	}
	if (l->known_uidnext <= 1)
		return 0; /* nothing was known */
	if (c->highestmodseq != l->known_modseq) {
		imap_cmd_init(&cmd, false);
		imap_cmd_rawf(&cmd, "UID FETCH 1:%" PRIu32 " (UID FLAGS) (CHANGEDSINCE %" PRIu64 ")",
			      l->known_uidnext - 1, l->known_modseq);
		r = session_run(s, &cmd, on_flags_fetch, l);
		imap_cmd_free(&cmd);
		if (r < 0)
			return r;
	}
	if (moved) {
		imap_cmd_init(&cmd, false);
		imap_cmd_rawf(&cmd, "UID SEARCH RETURN (ALL) UID 1:%" PRIu32, l->known_uidnext - 1);
		r = session_run(s, &cmd, on_esearch, l);
		imap_cmd_free(&cmd);
		if (r == 0 && !l->have_remaining) {
			log_warn("mailbox %s: server sent no ESEARCH result", l->wire);
			r = -EIO;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int listing_job(struct session *s, void *ctx)
{
	struct listing *l = ctx;
	struct session_status c;
	bool condstore = session_has_cap(s, "CONDSTORE");
	struct imap_cmd cmd;
	int r;

	/* A retry on another connection starts clean. */
	l->n = 0;
	l->nflag_rows = 0;
	free(l->remaining);
	l->remaining = NULL;
	l->nremaining = 0;
	l->have_remaining = false;
	/* STATUS of the selected mailbox may answer from this session's old view. */
	if (session_selected(s) && strcmp(session_selected(s), l->wire) == 0) {
		imap_cmd_init(&cmd, false);
		imap_cmd_raw(&cmd, session_has_cap(s, "UNSELECT") ? "UNSELECT" : "CLOSE");
		r = session_run(s, &cmd, NULL, NULL);
		imap_cmd_free(&cmd);
		/* A refusal is no harm: the EXAMINE below replaces the view anyway. */
		if (r < 0 && !session_alive(s))
			return r;
		session_unselect(s);
	}
	r = session_status(s, l->wire, &c);
	if (r == -EIO && session_alive(s)) {
		/* Refused on this connection? EXAMINE tells (see refused_here). */
		struct session_mailbox sel;

		r = refused_here(s, session_select(s, l->wire, false, &sel));
		c = (struct session_status){ .uidvalidity = sel.uidvalidity, .uidnext = sel.uidnext,
					     .messages = sel.exists,
					     .highestmodseq = sel.highestmodseq };
	}
	if (r < 0)
		return r;
	/*
	 * UIDs only grow: with the same UIDVALIDITY, UIDNEXT and count, no
	 * message came or went since the known listing; with the same
	 * HIGHESTMODSEQ, no flag changed either.
	 */
	if (l->known && c.uidvalidity == l->known_uidvalidity && c.uidnext != 0 &&
	    c.uidnext == l->known_uidnext && c.messages == l->known_exists &&
	    (condstore ? c.highestmodseq == l->known_modseq : !l->flags_changed)) {
		l->kind = LISTING_UNCHANGED;
		l->sel = (struct session_mailbox){ .uidvalidity = c.uidvalidity,
						   .uidnext = c.uidnext,
						   .exists = c.messages,
						   .highestmodseq = c.highestmodseq };
		return 0;
	}
	r = select_current(s, l->wire, c.uidvalidity, &l->sel);
	if (r < 0)
		return r;
	/*
	 * What is stored is STATUS's snapshot, taken before anything was fetched:
	 * whatever changed after it is asked again next time, never missed.
	 */
	l->sel.uidnext = c.uidnext;
	l->sel.exists = c.messages;
	l->sel.highestmodseq = c.highestmodseq;
	if (l->known && condstore && l->known_modseq && c.highestmodseq && c.uidnext &&
	    l->sel.uidvalidity == l->known_uidvalidity && c.uidvalidity == l->known_uidvalidity &&
	    c.uidnext >= l->known_uidnext && c.highestmodseq >= l->known_modseq)
		return listing_delta(s, l, &c);
	return listing_full(s, l);
}

static int cmp_uid(const void *a, const void *b)
{
	const struct store_msg *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* Sorts by UID and drops repeated UIDs (a server may send a row twice). */
static size_t sort_unique(struct store_msg *m, size_t n)
{
	size_t out = 0;

	if (n == 0)
		return 0; /* m may be NULL */
	qsort(m, n, sizeof(*m), cmp_uid);
	for (size_t i = 0; i < n; i++)
		if (out == 0 || m[out - 1].uid != m[i].uid)
			m[out++] = m[i];
	return out;
}

static const struct store_msg *find_msg(const struct mailbox *m, uint32_t uid);

/*
 * The UIDs m holds that the sorted list now[0..n) does not (all of them for
 * n == 0). Out of memory, none: the kernel forgets them at their timeout.
 */
static void gone_uids(const struct mailbox *m, const struct store_msg *now, size_t n,
		      uint32_t **out, size_t *nout)
{
	uint32_t *g = m->nmsgs ? malloc(m->nmsgs * sizeof(*g)) : NULL;
	size_t k = 0, j = 0;

	if (!g)
		return;
	for (size_t i = 0; i < m->nmsgs; i++) {
		while (j < n && now[j].uid < m->msgs[i].uid)
			j++;
		if (j == n || now[j].uid != m->msgs[i].uid)
			g[k++] = m->msgs[i].uid;
	}
	*out = g;
	*nout = k;
}

/* The row of uid in rows[0..n), sorted by UID; NULL if none. */
static struct store_msg *find_row(struct store_msg *rows, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rows[mid].uid == uid)
			return &rows[mid];
		if (rows[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * The listing a delta makes of the known rows base[0..nbase): those still
 * there, with their new flags, then the new messages. 0 or -ENOMEM.
 */
static int merge_delta(const struct store_msg *base, size_t nbase, struct listing *l,
		       struct store_msg **out, size_t *nout)
{
	struct store_msg *rows;
	size_t n = 0, nnew;

	nnew = sort_unique(l->msgs, l->n);
	rows = malloc((nbase + nnew) * sizeof(*rows) + 1);
	if (!rows)
		return -ENOMEM;
	for (size_t i = 0; i < nbase; i++)
		if (base[i].uid < l->known_uidnext &&
		    (!l->have_remaining || imap_uid_set_has(l->remaining, l->nremaining, base[i].uid)))
			rows[n++] = base[i];
	for (size_t i = 0; i < l->nflag_rows; i++) {
		struct store_msg *row = find_row(rows, n, l->flag_rows[i].uid);

		if (row)
			row->flags = l->flag_rows[i].flags;
	}
	/* "N:*" names the last message even when it is below N. */
	for (size_t i = 0; i < nnew; i++)
		if (l->msgs[i].uid >= l->known_uidnext)
			rows[n++] = l->msgs[i];
	*out = rows;
	*nout = n;
	return 0;
}

/* The listing kept on disk for wire, its flag sets made the store's. */
static int load_kept(struct store *st, const char *wire, struct listing_snapshot *kept)
{
	uint32_t *map;
	int r = listing_cache_load(st->bodies, wire, kept);

	if (r < 0)
		return r;
	map = malloc((kept->nflagsets + 1) * sizeof(*map));
	if (!map) {
		listing_snapshot_free(kept);
		return -ENOMEM;
	}
	for (size_t i = 0; i < kept->nflagsets; i++)
		map[i] = intern_text(st, kept->flagsets[i]);
	for (size_t i = 0; i < kept->n; i++)
		kept->msgs[i].flags = map[kept->msgs[i].flags];
	free(map);
	return 0;
}

/*
 * Keeps mailbox m's listing on disk. Called with m->refresh_lock held, so the
 * listings of one mailbox are written in the order they were made.
 */
static void save_kept(struct store *st, struct mailbox *m, const char *wire)
{
	struct listing_snapshot snap = { 0 };
	uint32_t *local = NULL;
	size_t nsets;
	bool ok;

	pthread_mutex_lock(&st->lock);
	nsets = st->nflagsets;
	snap.uidvalidity = m->uidvalidity;
	snap.uidnext = m->uidnext;
	snap.exists = m->exists;
	snap.modseq = m->modseq;
	snap.n = m->nmsgs;
	snap.msgs = malloc(m->nmsgs * sizeof(*snap.msgs) + 1);
	local = malloc(nsets * sizeof(*local) + 1);
	snap.flagsets = calloc(nsets + 1, sizeof(*snap.flagsets));
	ok = snap.msgs && local && snap.flagsets;
	if (ok) {
		if (m->nmsgs)
			memcpy(snap.msgs, m->msgs, m->nmsgs * sizeof(*snap.msgs));
		for (size_t i = 0; i < nsets; i++)
			local[i] = FLAGS_UNKNOWN;
	}
	/* Only the flag sets this mailbox uses, numbered in the file's own order. */
	for (size_t i = 0; ok && i < snap.n; i++) {
		uint32_t f = snap.msgs[i].flags;

		/* Flags too long to intern (FLAGS_UNKNOWN): this listing is not kept. */
		ok = f < nsets;
		if (ok && local[f] == FLAGS_UNKNOWN) {
			snap.flagsets[snap.nflagsets] = strdup(st->flagsets[f]);
			ok = snap.flagsets[snap.nflagsets] != NULL;
			if (ok)
				local[f] = (uint32_t)snap.nflagsets++;
		}
		if (ok)
			snap.msgs[i].flags = local[f];
	}
	pthread_mutex_unlock(&st->lock);
	if (ok)
		listing_cache_save(st->bodies, wire, &snap);
	free(local);
	listing_snapshot_free(&snap);
}

/*
 * Brings mailbox id's listing up to date if it is older than the TTL (or
 * force). The first listing of a mount starts from the one kept on disk, so
 * it asks only what changed since the last mount; a listing that changed is
 * kept again.
 */
bool store_gone_now(struct store *st, uint32_t id)
{
	bool selectable;

	return store_refresh_mailboxes(st, true) == 0 &&
	       store_mailbox_exists(st, id, &selectable) == -ENOENT;
}

static int refresh_listing(struct store *st, uint32_t id, bool force, bool flags_changed)
{
	struct listing l = { .st = st, .flags_changed = flags_changed };
	struct listing_snapshot kept = { 0 };
	struct store_msg *rows = NULL;
	size_t nrows = 0;
	struct mailbox *m;
	char *wire = NULL;
	uint32_t *gone = NULL;
	size_t ngone = 0;
	bool changed = false, had_listing = false, from_disk = false, selectable;
	int r = 0;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	/*
	 * One LIST called \Noselect but with messages listed is asked again by
	 * STATUS all the same: Dovecot 2.3 lists a mailbox deleted and created
	 * again \Noselect for a while, and may not tell NOTIFY clients of the
	 * creation, while the kernel, which has the names, would never make us
	 * ask the tree again. STATUS decides (NONEXISTENT forgets the messages).
	 */
	if (!m || !m->wire || (!m->selectable && !m->uidvalidity)) {
		pthread_mutex_unlock(&st->lock);
		return m ? 0 : -ENOENT;
	}
	selectable = m->selectable;
	if (!force)
		st->last_used = id; /* a user's look, not the watcher's */
	pthread_mutex_unlock(&st->lock);

	/* The mailbox struct lives until unmount, so its lock may be held unlocked from st. */
	r = cancel_lock(&m->refresh_lock);
	if (r < 0)
		return r;
	pthread_mutex_lock(&st->lock);
	if (!force && m->listed_at_ms && now_ms() - m->listed_at_ms < st->opts.listing_ttl_ms) {
		pthread_mutex_unlock(&st->lock);
		goto out;
	}
	wire = strdup(m->wire);
	had_listing = m->listed_at_ms != 0;
	/* Rows stay after store_listing_stale(): they are what a delta starts from. */
	l.known = m->uidvalidity != 0;
	l.known_uidvalidity = m->uidvalidity;
	l.known_uidnext = m->uidnext;
	l.known_exists = m->exists;
	l.known_modseq = m->modseq;
	pthread_mutex_unlock(&st->lock);
	if (!wire) {
		r = -ENOMEM;
		goto out;
	}
	if (!l.known && load_kept(st, wire, &kept) == 0) {
		from_disk = true;
		l.known = true;
		l.known_uidvalidity = kept.uidvalidity;
		l.known_uidnext = kept.uidnext;
		l.known_exists = kept.exists;
		l.known_modseq = kept.modseq;
	}
	l.wire = wire;
	r = pool_run(st->pool, wire, listing_job, &l);
	if (r == 0 && l.err)
		r = l.err;
	/* Dovecot 2.3 answers STATUS and EXAMINE of a mailbox deleted meanwhile without a code. */
	if (r == -EIO && !pool_server_down(st->pool) && store_gone_now(st, id))
		r = -ENOENT;
	if (r == -ENOENT && !selectable) {
		/* Gone indeed: no message is served on under a UID a new mailbox may reuse. */
		pthread_mutex_lock(&st->lock);
		if (st->sink.message_gone)
			gone_uids(m, NULL, 0, &gone, &ngone);
		free(m->msgs);
		m->msgs = NULL;
		m->nmsgs = 0;
		m->uidvalidity = 0;
		m->listed_at_ms = 0;
		pthread_mutex_unlock(&st->lock);
		changed = had_listing;
		r = 0;
		goto out;
	}
	if (r < 0) {
		/* Offline: the messages as last listed (bodies come from the disk cache). */
		if (!unreachable(st, r) || force || !(had_listing || from_disk))
			goto out;
		r = 0;
		if (!from_disk)
			goto out;
		l.kind = LISTING_UNCHANGED; /* installed below as the kept listing */
		l.sel = (struct session_mailbox){ .uidvalidity = kept.uidvalidity,
						  .uidnext = kept.uidnext,
						  .exists = kept.exists,
						  .highestmodseq = kept.modseq };
	}
	if (l.kind == LISTING_DELTA) {
		pthread_mutex_lock(&st->lock);
		if (from_disk)
			r = merge_delta(kept.msgs, kept.n, &l, &rows, &nrows);
		else
			r = merge_delta(m->msgs, m->nmsgs, &l, &rows, &nrows);
		pthread_mutex_unlock(&st->lock);
		if (r < 0)
			goto out;
	} else if (l.kind == LISTING_FULL) {
		nrows = sort_unique(l.msgs, l.n);
		rows = l.msgs;
		l.msgs = NULL;
	} else if (from_disk) {
		rows = kept.msgs;
		nrows = kept.n;
		kept.msgs = NULL;
	}
	pthread_mutex_lock(&st->lock);
	if (rows || l.kind != LISTING_UNCHANGED) {
		bool new_validity = m->uidvalidity && m->uidvalidity != l.sel.uidvalidity;

		if (new_validity)
			log_info("mailbox %s: UIDVALIDITY changed from %u to %u; forgetting its messages",
				 wire, m->uidvalidity, l.sel.uidvalidity);
		if (st->sink.message_gone)
			gone_uids(m, rows, new_validity ? 0 : nrows, &gone, &ngone);
		changed = had_listing;
		free(m->msgs);
		m->nmsgs = nrows;
		m->msgs = rows;
		rows = NULL;
		m->uidvalidity = l.sel.uidvalidity;
		m->uidnext = l.sel.uidnext;
		m->exists = l.sel.exists;
		m->modseq = l.sel.highestmodseq;
	}
	m->listed_at_ms = now_ms();
	pthread_mutex_unlock(&st->lock);
	if (st->bodies && l.kind != LISTING_UNCHANGED)
		save_kept(st, m, wire);
out:
	pthread_mutex_unlock(&m->refresh_lock);
	/* Outside the locks: the sink may take its own. */
	for (size_t i = 0; i < ngone; i++)
		st->sink.message_gone(st->sink.ctx, id, gone[i]);
	if (changed && st->sink.dir_changed)
		st->sink.dir_changed(st->sink.ctx, id);
	free(gone);
	free(rows);
	free(l.msgs);
	free(l.flag_rows);
	free(l.remaining);
	listing_snapshot_free(&kept);
	free(wire);
	return r;
}

int store_messages(struct store *st, uint32_t id, struct store_msg **out, size_t *n,
		   uint32_t *uidvalidity)
{
	struct mailbox *m;
	int r = refresh_listing(st, id, false, false);

	if (r < 0)
		return r;
	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (!m) {
		r = -ENOENT;
	} else if (m->nmsgs) {
		*out = malloc(m->nmsgs * sizeof(**out));
		if (*out) {
			memcpy(*out, m->msgs, m->nmsgs * sizeof(**out));
			*n = m->nmsgs;
		} else {
			r = -ENOMEM;
		}
	}
	if (m && uidvalidity)
		*uidvalidity = m->uidvalidity;
	pthread_mutex_unlock(&st->lock);
	return r;
}

/* Caller holds st->lock. */
static const struct store_msg *find_msg(const struct mailbox *m, uint32_t uid)
{
	return find_row(m->msgs, m->nmsgs, uid);
}

int store_message(struct store *st, uint32_t id, uint32_t uid, struct store_msg *out,
		  uint32_t *uidvalidity)
{
	for (int pass = 0; pass < 2; pass++) {
		const struct store_msg *msg;
		struct mailbox *m;
		int r = refresh_listing(st, id, false, false);

		if (r < 0)
			return r;
		pthread_mutex_lock(&st->lock);
		m = mailbox_get(st, id);
		msg = m ? find_msg(m, uid) : NULL;
		uint32_t uidnext = m ? m->uidnext : 0;

		if (msg) {
			*out = *msg;
			*uidvalidity = m->uidvalidity;
		}
		pthread_mutex_unlock(&st->lock);
		if (msg)
			return 0;
		if (!m)
			return -ENOENT;
		/* Unknown UID: only a listing older than this moment can say it is not there. */
		if (pass == 0 && uid < uidnext)
			return -ENOENT;
		pthread_mutex_lock(&st->lock);
		m->listed_at_ms = 0;
		pthread_mutex_unlock(&st->lock);
		if (pass == 1)
			return -ENOENT;
	}
	return -ENOENT;
}

/* ---- message bodies ---- */

struct body_read {
	const char *wire;
	uint32_t uidvalidity, uid;
	uint64_t off;
	size_t len;
	char *buf;
	size_t got;
	bool found;
	bool oversized;
};

static int on_body_fetch(void *ctx, const struct imap_response *r)
{
	struct body_read *b = ctx;
	const struct imap_value *att = imap_list_item(&r->args, 0);
	uint64_t uid;

	if (strcmp(r->name, "FETCH") != 0 || !att || att->type != IMAP_LIST)
		return 0;
	if (!imap_value_number(imap_list_lookup(att, "UID"), &uid) || uid != b->uid)
		return 0;
	for (size_t i = 0; i + 1 < att->count; i += 2) {
		const struct imap_value *key = &att->items[i], *val = &att->items[i + 1];
		char want[48];

		/* Bytes from another origin than asked must never land at off. */
		snprintf(want, sizeof(want), "BODY[]<%" PRIu64 ">", b->off);
		if (key->type != IMAP_ATOM || strcasecmp(key->str, want) != 0)
			continue;
		b->found = true;
		if (val->type == IMAP_STRING && val->len > b->len) {
			/* More than asked for: the server's sizes cannot be believed. */
			log_error("message UID %" PRIu32 ": server sent %zu bytes where %zu were asked",
				  b->uid, val->len, b->len);
			b->oversized = true;
		} else if (val->type == IMAP_STRING) {
			b->got = val->len;
			memcpy(b->buf, val->str, b->got);
		}
	}
	return 0;
}

static int body_job(struct session *s, void *ctx)
{
	struct body_read *b = ctx;
	struct imap_cmd cmd;
	int r;

	r = store_select_valid(s, b->wire, b->uidvalidity);
	for (int attempt = 0; r == 0 && attempt < 2; attempt++) {
		if (attempt && (r = store_catch_up(s)) < 0)
			break;
		b->found = false;
		b->oversized = false;
		b->got = 0;
		imap_cmd_init(&cmd, false);
		imap_cmd_rawf(&cmd, "UID FETCH %" PRIu32 " (UID BODY.PEEK[]<%" PRIu64 ".%zu>)",
			      b->uid, b->off, b->len);
		r = session_run(s, &cmd, on_body_fetch, b);
		imap_cmd_free(&cmd);
		if (b->found)
			break;
	}
	if (r == 0 && (b->oversized || !b->found)) {
		/* Expunged by another client, or a server answering something else. */
		if (!b->found)
			log_warn("message UID %" PRIu32 ": server sent no data for it", b->uid);
		r = -EIO;
	}
	return r;
}

ssize_t store_read_message(struct store *st, uint32_t id, uint32_t uidvalidity, uint32_t uid,
			   uint64_t off, size_t len, char *buf)
{
	struct body_read b = { .uidvalidity = uidvalidity, .uid = uid, .off = off, .len = len,
			       .buf = buf };
	struct store_msg listed;
	struct mailbox *m;
	char *wire = NULL;
	bool sized;
	ssize_t got;
	int r;

	got = prefetch_read(st->prefetch, id, uidvalidity, uid, off, len, buf);
	if (got != -ENOENT)
		return got;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m && m->wire)
		wire = strdup(m->wire);
	pthread_mutex_unlock(&st->lock);
	if (!wire)
		return m ? -ENOMEM : -ESTALE;
	/* The disk cache serves only a body of the size the listing gives. */
	sized = st->bodies && uid > 0 &&
		store_next_messages(st, id, uidvalidity, uid - 1, &listed, 1) == 1 &&
		listed.uid == uid;
	if (sized) {
		got = body_cache_read(st->bodies, wire, uidvalidity, uid, listed.size, off, len, buf);
		if (got != -ENOENT) {
			free(wire);
			return got;
		}
	}
	b.wire = wire;
	r = pool_run(st->pool, wire, body_job, &b);
	if (r == 0 && sized && off == 0 && b.got == listed.size)
		body_cache_put(st->bodies, wire, uidvalidity, uid, buf, b.got);
	free(wire);
	return r < 0 ? r : (ssize_t)b.got;
}

void store_message_reading(struct store *st, uint32_t id, uint32_t uidvalidity, uint32_t uid,
			   pid_t reader)
{
	prefetch_reading(st->prefetch, id, uidvalidity, uid, reader);
}

ssize_t store_next_messages(struct store *st, uint32_t id, uint32_t uidvalidity, uint32_t after,
			    struct store_msg *out, size_t max)
{
	struct mailbox *m;
	size_t lo = 0, hi, n = 0;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (!m || m->uidvalidity != uidvalidity) {
		pthread_mutex_unlock(&st->lock);
		return -ESTALE;
	}
	hi = m->nmsgs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->msgs[mid].uid <= after)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < m->nmsgs && n < max; lo++)
		out[n++] = m->msgs[lo];
	pthread_mutex_unlock(&st->lock);
	return (ssize_t)n;
}

struct quota_job {
	uint64_t used, limit;
};

static int quota_job(struct session *s, void *ctx)
{
	struct quota_job *q = ctx;

	return session_quota(s, &q->used, &q->limit);
}

int store_quota(struct store *st, uint64_t *used_kib, uint64_t *limit_kib)
{
	struct quota_job q = { 0 };
	int r;

	pthread_mutex_lock(&st->lock);
	/* df runs often (shell prompts, file managers): one GETQUOTAROOT in 30 s is plenty. */
	if (st->quota_at_ms && now_ms() - st->quota_at_ms < 30000) {
		r = st->quota_err;
		*used_kib = st->quota_used;
		*limit_kib = st->quota_limit;
		pthread_mutex_unlock(&st->lock);
		return r;
	}
	pthread_mutex_unlock(&st->lock);
	r = pool_run(st->pool, NULL, quota_job, &q);
	if (r == -EIO)
		return r;
	pthread_mutex_lock(&st->lock);
	st->quota_at_ms = now_ms();
	st->quota_err = r < 0 ? -ENOTSUP : 0;
	st->quota_used = q.used;
	st->quota_limit = q.limit;
	pthread_mutex_unlock(&st->lock);
	*used_kib = q.used;
	*limit_kib = q.limit;
	return r < 0 ? -ENOTSUP : 0;
}

int store_refresh_listing(struct store *st, uint32_t id, bool full)
{
	return refresh_listing(st, id, true, full);
}

uint32_t store_last_used(struct store *st)
{
	uint32_t id;

	pthread_mutex_lock(&st->lock);
	id = st->last_used;
	pthread_mutex_unlock(&st->lock);
	return id;
}

void store_set_listing_ttl(struct store *st, int ms)
{
	pthread_mutex_lock(&st->lock);
	st->opts.listing_ttl_ms = ms;
	pthread_mutex_unlock(&st->lock);
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

int store_cached_uids(struct store *st, uint32_t id, uint32_t **uids, size_t *n,
		      uint32_t *uidvalidity)
{
	struct mailbox *m;
	int r = 0;

	*uids = NULL;
	*n = 0;
	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (!m) {
		r = -ENOENT;
	} else {
		*uidvalidity = m->uidvalidity;
		if (m->nmsgs && !(*uids = malloc(m->nmsgs * sizeof(**uids))))
			r = -ENOMEM;
		for (size_t i = 0; r == 0 && i < m->nmsgs; i++)
			(*uids)[i] = m->msgs[i].uid;
		if (r == 0)
			*n = m->nmsgs;
	}
	pthread_mutex_unlock(&st->lock);
	return r;
}

uint64_t store_bytes_in(struct store *st)
{
	return pool_bytes_in(st->pool);
}

struct pool *store_pool(struct store *st)
{
	return st->pool;
}

struct body_cache *store_body_cache(struct store *st)
{
	return st->bodies;
}

struct parts_cache *store_parts_cache(struct store *st)
{
	return st->parts_cache;
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

uint32_t store_known_uidvalidity(struct store *st, uint32_t id)
{
	struct mailbox *m;
	uint32_t uv = 0;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m)
		uv = m->uidvalidity;
	pthread_mutex_unlock(&st->lock);
	return uv;
}

void store_quota_stale(struct store *st)
{
	pthread_mutex_lock(&st->lock);
	st->quota_at_ms = 0;
	pthread_mutex_unlock(&st->lock);
}

void store_forget_body(struct store *st, uint32_t id, uint32_t uidvalidity, uint32_t uid)
{
	char *wire;

	if (!st->bodies || !uidvalidity)
		return;
	wire = store_mailbox_wire(st, id);
	if (wire)
		body_cache_forget(st->bodies, wire, uidvalidity, uid);
	free(wire);
}

void store_listing_stale(struct store *st, uint32_t id)
{
	struct mailbox *m;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m)
		m->listed_at_ms = 0;
	pthread_mutex_unlock(&st->lock);
}

void store_msg_flags_changed(struct store *st, uint32_t id, uint32_t uid, const char *flags)
{
	uint32_t idx = intern_text(st, flags);
	struct mailbox *m;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m) {
		struct store_msg *msg = (struct store_msg *)find_msg(m, uid);

		if (msg)
			msg->flags = idx;
	}
	pthread_mutex_unlock(&st->lock);
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
	for (size_t i = 1; i < st->nmb; i++)
		wire_index_add(&st->by_wire, (uint32_t)i);
	pthread_mutex_unlock(&st->lock);
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

/* ---- life ---- */

int store_open(const struct store_options *opts, struct store **out, char *err, size_t errlen)
{
	struct store *st = calloc(1, sizeof(*st));
	struct mailbox *root;
	int r;

	if (!st)
		return -ENOMEM;
	st->opts = *opts;
	pthread_mutex_init(&st->lock, NULL);
	pthread_mutex_init(&st->list_lock, NULL);
	root = mailbox_new(NULL, "", STORE_ROOT_ID, '\0');
	st->mb = calloc(1, sizeof(*st->mb));
	if (!root || !st->mb) {
		mailbox_free(root);
		r = -ENOMEM;
		goto fail;
	}
	st->mb[0] = root;
	st->nmb = 1;
	st->mb_cap = 1;
	wire_index_init(&st->by_wire, mailbox_wire_key, st);
	st->parts_cache = parts_cache_new();
	if (!st->parts_cache) {
		r = -ENOMEM;
		goto fail;
	}
	if (opts->cache_size && opts->cache_dir) {
		char why[512];

		/* Only ever a saving: a mount without it still works. */
		if (body_cache_open(opts->cache_dir, opts->cache_account, opts->cache_size,
				    &st->bodies, why, sizeof(why)) < 0)
			log_warn("%s; going on without a disk cache", why);
	}
	r = pool_new(&st->opts.session, opts->connections, &st->pool, err, errlen);
	if (r < 0 && pool_unreachable_errno(r) && st->bodies &&
	    pool_new_unreachable(&st->opts.session, opts->connections, &st->pool) == 0) {
		/*
		 * Offline (a train, a VPN down): the tree and listings last kept,
		 * bodies from the disk cache; the rest fails with EIO until the
		 * server answers, and then all is as after any reconnection.
		 */
		if (apply_kept_tree(st) == 0) {
			log_warn("%s; showing what the disk cache holds until the server answers",
				 err);
			load_kept_names(st);
			st->prefetch = prefetch_new(st);
			*out = st;
			return 0;
		}
	}
	if (r < 0)
		goto fail;
	st->prefetch = prefetch_new(st);
	r = store_refresh_mailboxes(st, true);
	if (r < 0) {
		snprintf(err, errlen, "cannot list mailboxes: %s", strerror(-r));
		goto fail;
	}
	load_kept_names(st);
	*out = st;
	return 0;
fail:
	store_close(st);
	return r;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	if (st->parts_cache)
		store_parts_cache_clear(st);
	parts_cache_free(st->parts_cache);
	prefetch_free(st->prefetch);
	body_cache_close(st->bodies);
	pool_free(st->pool);
	for (size_t i = 0; i < st->nmb; i++)
		mailbox_free(st->mb[i]);
	free(st->mb);
	wire_index_free(&st->by_wire);
	for (size_t i = 0; i < st->nflagsets; i++)
		free(st->flagsets[i]);
	free(st->flagsets);
	pthread_mutex_destroy(&st->lock);
	pthread_mutex_destroy(&st->list_lock);
	free(st);
}
