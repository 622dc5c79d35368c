/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Changes to the account: copying a message in, moving, deleting and
 * reflagging one, making, removing and renaming mailboxes. The commands are
 * driver/change.h's and driver/mailbox.h's; here is what the model does
 * around them (which listings go stale, what leaves the disk cache), and that
 * nothing is retried where a retry could duplicate (pool_run_once).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "driver/acl.h"
#include "driver/change.h"
#include "driver/mailbox.h"
#include "imap/mailbox_name.h"
#include "log.h"
#include "store/listing_cache.h"
#include "store/pool.h"
#include "store/store_internal.h"

/* ---- flags ---- */

/* A flag: "\" followed by an atom (a system flag), or a keyword atom. */
static bool valid_flag(const char *f, size_t len)
{
	static const char specials[] = "(){ %*\"\\]";
	size_t i = 0;

	if (len && f[0] == '\\')
		i = 1;
	if (i == len)
		return false;
	for (; i < len; i++) {
		unsigned char ch = (unsigned char)f[i];

		if (ch <= 0x20 || ch >= 0x7f || strchr(specials, ch))
			return false;
	}
	/* \Recent is the server's to set; \* only appears in PERMANENTFLAGS. */
	return !(len == 7 && strncasecmp(f, "\\Recent", 7) == 0);
}

int store_normalize_flags(const char *in, char **out)
{
	size_t len = strlen(in), n = 0;
	char *buf = malloc(len + 1);
	const char *p = in;

	if (!buf)
		return -ENOMEM;
	while (*p) {
		size_t w;

		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (!*p)
			break;
		w = strcspn(p, " \t\r\n");
		if (!valid_flag(p, w)) {
			free(buf);
			return -EINVAL;
		}
		if (n)
			buf[n++] = ' ';
		memcpy(buf + n, p, w);
		n += w;
		p += w;
	}
	buf[n] = '\0';
	*out = buf;
	return 0;
}

/* ---- message jobs ---- */

/* One change of one message (or one message copied in), as a pool job. */
struct msg_job {
	const char *wire, *to_wire;
	uint32_t uid;
	const char *flags;
	uint32_t newuid;
	/* APPEND */
	int fd;
	uint64_t size;
	int64_t date;
	uint32_t uidvalidity;
	bool bare_no; /* refused with a NO without a response code (RFC 5530) */
};

static int expunge_job(struct session *s, void *ctx)
{
	struct msg_job *j = ctx;

	return driver_expunge(s, j->wire, j->uid);
}

static int move_job(struct session *s, void *ctx)
{
	struct msg_job *j = ctx;

	return driver_move(s, j->wire, j->uid, j->to_wire, &j->uidvalidity, &j->newuid);
}

/* One flag change waiting in st->flag_queue (store_set_flags). */
struct flag_wait {
	uint32_t id, uid;
	const char *flags;
	int r;
	bool done;
	struct flag_wait *next;
};

/* At most this many UIDs a UID STORE: a set of scattered UIDs is long. */
#define FLAG_BATCH_MAX 512

struct flags_job {
	const char *wire, *flags;
	uint32_t *uids;
	size_t n;
};

static int flags_job(struct session *s, void *ctx)
{
	struct flags_job *j = ctx;

	return driver_set_flags(s, j->wire, j->uids, j->n, j->flags);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int append_job(struct session *s, void *ctx)
{
	struct msg_job *j = ctx;
	int r = driver_append(s, j->wire, j->flags, j->date, j->fd, j->size, &j->uidvalidity,
			      &j->newuid);

	/* -EIO on a session still alive: the server said NO, and not why. */
	j->bare_no = r == -EIO && session_alive(s);
	return r;
}

/* How a job may run: again after a lost connection or not, on a session that has the mailbox selected or any. */
enum run_how { RUN_RETRY = 0, RUN_ONCE = 1, RUN_ANY_SESSION = 2 };

/*
 * Runs job on mailbox id (its wire name in j->wire meanwhile). RUN_ONCE:
 * never run again, where a lost answer may hide a change made (APPEND, MOVE).
 */
static int run_on(struct store *st, uint32_t id, struct msg_job *j,
		  int (*job)(struct session *s, void *ctx), unsigned how)
{
	char *wire = store_mailbox_wire(st, id);
	const char *prefer;
	int r;

	if (!wire)
		return -ENOENT;
	j->wire = wire;
	prefer = how & RUN_ANY_SESSION ? NULL : wire;
	r = how & RUN_ONCE ? pool_run_once(store_pool(st), prefer, job, j)
			   : pool_run(store_pool(st), prefer, job, j);
	j->wire = NULL;
	free(wire);
	return r;
}

/*
 * A refusal without a telling code ([TRYCREATE] is ENOENT already): if the
 * target mailbox is gone (deleted by another client meanwhile; Dovecot 2.3
 * then answers an APPEND "NO [SERVERBUG]" on a connection that had it
 * selected), that is what the user is told. One LIST, on failure only.
 */
static int why_refused(struct store *st, uint32_t target, int r)
{
	return r == -EIO && store_gone_now(st, target) ? -ENOENT : r;
}

/*
 * An APPEND refused with a bare NO (Cyrus 3.6 says "NO Over quota" without
 * [OVERQUOTA]): if the account has no room for size bytes more, that was
 * why (GETQUOTAROOT, asked afresh).
 */
static int why_append_refused(struct store *st, uint64_t size, int r)
{
	uint64_t used, limit;

	if (r != -EIO)
		return r;
	store_quota_stale(st);
	if (store_quota(st, &used, &limit) == 0 && limit && used + (size + 1023) / 1024 > limit) {
		log_info("the server refused an APPEND without saying why; its quota is full "
			 "(%" PRIu64 " of %" PRIu64 " KiB used)", used, limit);
		return -EDQUOT;
	}
	return r;
}

int changes_append(struct store *st, uint32_t id, int fd, uint64_t size, const char *flags,
		   int64_t date, uint32_t *uid)
{
	/*
	 * Dated by us when the caller has no date (the server's "now" but for
	 * clock skew), so that the listing can take the new message in as it
	 * is, without asking the server.
	 */
	struct msg_job j = { .fd = fd, .size = size, .flags = flags,
			     .date = date ? date : (int64_t)time(NULL) };
	int r = why_refused(st, id, run_on(st, id, &j, append_job, RUN_ONCE | RUN_ANY_SESSION));

	if (j.bare_no)
		r = why_append_refused(st, size, r);
	if (r == 0) {
		struct store_msg row = { .uid = j.newuid, .size = size, .date = j.date };

		*uid = j.newuid;
		store_listing_added(st, id, j.uidvalidity, &row, flags ? flags : "");
	}
	if (r == 0 || r == -EDQUOT)
		store_quota_stale(st); /* df right after shows it */
	return r;
}

int changes_move(struct store *st, uint32_t from, uint32_t uid, uint32_t to, uint32_t *newuid)
{
	struct msg_job j = { .uid = uid, .to_wire = store_mailbox_wire(st, to) };
	uint32_t uidvalidity = store_known_uidvalidity(st, from);
	int r = -ENOENT;

	*newuid = 0;
	if (j.to_wire)
		r = why_refused(st, to, run_on(st, from, &j, move_job, RUN_ONCE));
	free((char *)j.to_wire);
	if (r == 0) {
		*newuid = j.newuid;
		store_listing_moved(st, from, uidvalidity, uid, to, j.uidvalidity, j.newuid);
		store_forget_body(st, from, uidvalidity, uid);
	}
	return r;
}

int changes_expunge(struct store *st, uint32_t id, uint32_t uid)
{
	struct msg_job j = { .uid = uid };
	uint32_t uidvalidity = store_known_uidvalidity(st, id);
	/* Again on a fresh connection if need be: expunging twice is expunging once. */
	int r = run_on(st, id, &j, expunge_job, RUN_RETRY);

	if (r == 0) {
		store_listing_moved(st, id, uidvalidity, uid, 0, 0, 0);
		store_forget_body(st, id, uidvalidity, uid);
		store_quota_stale(st);
	}
	return r;
}

/*
 * Caller holds flag_lock and is the sender. Takes from the queue the
 * changes of the first one's mailbox to the same flags, up to out's size.
 */
static size_t take_batch(struct store *st, struct flag_wait **out, size_t max)
{
	struct flag_wait **pp = &st->flag_queue, *head = st->flag_queue;
	size_t n = 0;

	while (*pp && n < max) {
		struct flag_wait *w = *pp;

		if (w->id == head->id && strcmp(w->flags, head->flags) == 0) {
			*pp = w->next;
			out[n++] = w;
		} else {
			pp = &w->next;
		}
	}
	return n;
}

/* Sends one batch (flag_lock not held): one UID STORE over its UIDs. */
static int send_batch(struct store *st, struct flag_wait **batch, size_t n)
{
	struct flags_job j = { .wire = store_mailbox_wire(st, batch[0]->id),
			       .flags = batch[0]->flags, .n = n };
	int r = -ENOMEM;

	j.uids = malloc(n * sizeof(*j.uids));
	if (!j.wire)
		r = -ENOENT;
	else if (j.uids) {
		for (size_t i = 0; i < n; i++)
			j.uids[i] = batch[i]->uid;
		qsort(j.uids, n, sizeof(*j.uids), cmp_u32);
		/* Again on a fresh connection if need be: setting flags twice sets them once. */
		r = pool_run(store_pool(st), j.wire, flags_job, &j);
	}
	free(j.uids);
	free((char *)j.wire);
	return r;
}

/*
 * Flag changes arriving together (xargs -P8 setfattr, a file manager
 * marking a selection) wait while one batch is at the server, then go out
 * together: as many round trips as batches, not as files.
 */
int changes_set_flags(struct store *st, uint32_t id, uint32_t uid, const char *flags)
{
	struct flag_wait me = { .id = id, .uid = uid, .flags = flags }, **tail;
	struct flag_wait *batch[FLAG_BATCH_MAX];

	pthread_mutex_lock(&st->flag_lock);
	for (tail = &st->flag_queue; *tail; tail = &(*tail)->next)
		;
	*tail = &me;
	while (!me.done) {
		size_t n;
		int r;

		if (st->flag_sending) {
			pthread_cond_wait(&st->flag_done, &st->flag_lock);
			continue;
		}
		st->flag_sending = true;
		n = take_batch(st, batch, FLAG_BATCH_MAX);
		pthread_mutex_unlock(&st->flag_lock);
		r = send_batch(st, batch, n);
		pthread_mutex_lock(&st->flag_lock);
		for (size_t i = 0; i < n; i++) {
			batch[i]->r = r;
			batch[i]->done = true;
		}
		st->flag_sending = false;
		pthread_cond_broadcast(&st->flag_done);
	}
	pthread_mutex_unlock(&st->flag_lock);
	if (me.r == 0)
		store_msg_flags_changed(st, id, uid, flags);
	return me.r;
}

/* ---- mailboxes ---- */

/* One mailbox command, as a pool job. */
struct mailbox_job {
	int (*run)(struct session *s, const char *wire, const char *new_wire);
	const char *wire, *new_wire;
	bool bare_no; /* refused with a NO without a response code */
};

static int create_cmd(struct session *s, const char *wire, const char *new_wire)
{
	return driver_create(s, wire);
}

/* -o subscribed shows subscribed mailboxes only: one made here is subscribed, as clients do. */
static int create_subscribed_cmd(struct session *s, const char *wire, const char *new_wire)
{
	int r = driver_create(s, wire);

	if (r == 0 && driver_subscribe(s, wire, true) < 0)
		log_warn("mailbox %s was created but could not be subscribed", wire);
	return r;
}

static int delete_cmd(struct session *s, const char *wire, const char *new_wire)
{
	return driver_delete(s, wire);
}

static int mailbox_job(struct session *s, void *ctx)
{
	struct mailbox_job *m = ctx;
	int r = m->run(s, m->wire, m->new_wire);

	m->bare_no = r == -EIO && session_alive(s);
	return r;
}

struct count_job {
	const char *wire;
	uint32_t messages;
};

static int count_job(struct session *s, void *ctx)
{
	struct count_job *c = ctx;

	return driver_count(s, c->wire, &c->messages);
}

/* The wire name of a new child called name under parent. */
int store_child_wire(struct store *st, uint32_t parent, const char *name, char **out)
{
	char delim = store_delimiter(st, parent);
	char *level, *parent_wire = NULL;
	int r = 0;

	/* Such names would be shadowed by the message files beside them. */
	if (strspn(name, "0123456789") > 0 && name[strspn(name, "0123456789")] == '.' &&
	    (strcmp(name + strspn(name, "0123456789"), ".eml") == 0 ||
	     strcmp(name + strspn(name, "0123456789"), ".parts") == 0))
		return -EINVAL;
	level = mailbox_component_to_wire(name, delim);
	if (!level)
		return errno == ENOMEM ? -ENOMEM : -EINVAL;
	if (parent != STORE_ROOT_ID) {
		parent_wire = store_mailbox_wire(st, parent);
		if (!parent_wire || !delim)
			r = parent_wire ? -EPERM : -ENOENT; /* a flat namespace has no children */
	}
	if (r == 0 && !parent_wire)
		*out = strdup(level);
	else if (r == 0 && asprintf(out, "%s%c%s", parent_wire, delim, level) < 0)
		*out = NULL;
	if (r == 0 && !*out)
		r = -ENOMEM;
	free(level);
	free(parent_wire);
	return r;
}

int changes_create_mailbox(struct store *st, uint32_t parent, const char *name, uint32_t *id)
{
	struct mailbox_job m = { .run = st->opts.subscribed_only ? create_subscribed_cmd : create_cmd };
	char *wire = NULL;
	int r = store_child_wire(st, parent, name, &wire);

	if (r < 0)
		return r;
	m.wire = wire;
	r = pool_run_once(store_pool(st), m.wire, mailbox_job, &m);
	free(wire);
	if (m.bare_no) {
		/*
		 * Refused without a code ("NO Invalid mailbox name"): made by
		 * another client meanwhile, or else a name this server takes not.
		 */
		r = store_refresh_mailboxes(st, true) == 0 &&
		    store_lookup_mailbox(st, parent, name, id) == 0 ? -EEXIST : -EINVAL;
		if (r == -EINVAL)
			log_warn("the server refused to create a mailbox named %s without saying why; "
				 "taking it for a name it does not allow", name);
		return r;
	}
	if (r == -EEXIST) {
		/* Made by another client since we listed: learn it, so mkdir -p finds it. */
		store_refresh_mailboxes(st, true);
		return r;
	}
	if (r == 0)
		r = store_refresh_mailboxes(st, true);
	if (r == 0)
		r = store_lookup_mailbox(st, parent, name, id);
	return r;
}

/*
 * Dovecot 2.3 may bring a mailbox back, empty and with a new UIDVALIDITY,
 * when another of our sessions had it selected while it was deleted (seen
 * when the watcher relists it at that moment): rmdir must still leave it
 * gone. Deleted once more if it is back and empty; never if it holds mail.
 */
static int delete_again_if_back(struct store *st, const char *wire)
{
	struct mailbox_job m = { .run = delete_cmd, .wire = wire };
	struct count_job c = { .wire = wire };
	uint32_t id;
	int r = -EIO;

	if (store_mailbox_by_wire(st, wire, &id) < 0)
		return 0;
	/* Dovecot answers [SERVERBUG] about it for a moment. */
	for (int attempt = 0; attempt < 5 && r < 0; attempt++) {
		struct timespec pause = { 0, 100 * 1000000L };

		if (attempt)
			nanosleep(&pause, NULL);
		r = pool_run(store_pool(st), NULL, count_job, &c);
	}
	if (r < 0 || c.messages != 0)
		return 0; /* someone's mailbox now, or not to be known: left alone */
	log_info("the server brought the mailbox %s back, empty, right after deleting it; "
		 "deleting it again", wire);
	r = pool_run_once(store_pool(st), wire, mailbox_job, &m);
	if (r == 0 || r == -ENOENT)
		r = store_refresh_mailboxes(st, true);
	return r;
}

int store_childless_wire(struct store *st, uint32_t id, bool *selectable, char **wire)
{
	struct store_child *kids;
	size_t nkids;
	int r = store_mailbox_exists(st, id, selectable);

	if (r == 0)
		r = store_children(st, id, &kids, &nkids);
	if (r < 0)
		return r;
	store_children_free(kids, nkids);
	if (nkids)
		return -ENOTEMPTY;
	*wire = store_mailbox_wire(st, id);
	return *wire ? 0 : -ENOENT;
}

int changes_delete_mailbox(struct store *st, uint32_t id)
{
	struct mailbox_job m = { .run = delete_cmd };
	char *wire;
	bool selectable;
	int r = store_childless_wire(st, id, &selectable, &wire);

	if (r < 0)
		return r;
	m.wire = wire;
	if (selectable) {
		/* Never a mailbox full of mail: rmdir means "remove an empty directory". */
		struct count_job c = { .wire = m.wire };

		r = pool_run(store_pool(st), NULL, count_job, &c);
		if (r == 0 && c.messages != 0)
			r = -ENOTEMPTY;
	}
	if (r == 0)
		r = pool_run_once(store_pool(st), m.wire, mailbox_job, &m);
	/* Dovecot 2.3 so refuses a name it keeps listing \Noselect for a stray file inside. */
	if (m.bare_no)
		log_warn("the server refused to delete the mailbox %s without saying why in a code "
			 "(imapfs -d shows its words)", m.wire);
	/* Its listing on disk would only ever be refused (a new one has a new UIDVALIDITY). */
	if (r == 0)
		listing_cache_forget(store_body_cache(st), m.wire);
	if (r == 0)
		r = store_refresh_mailboxes(st, true);
	if (r == 0)
		r = delete_again_if_back(st, m.wire);
	free((char *)m.wire);
	return r;
}

int changes_rename_mailbox(struct store *st, uint32_t id, uint32_t newparent, const char *newname)
{
	struct mailbox_job m = { .run = driver_rename };
	char *new_wire = NULL;
	int r = store_child_wire(st, newparent, newname, &new_wire);

	if (r < 0)
		return r;
	m.wire = store_mailbox_wire(st, id);
	m.new_wire = new_wire;
	if (!m.wire)
		r = -ENOENT;
	if (r == 0)
		r = pool_run_once(store_pool(st), m.wire, mailbox_job, &m);
	if (r == 0) {
		listing_cache_forget(store_body_cache(st), m.wire);
		store_mailbox_renamed(st, m.wire, new_wire);
		r = store_refresh_mailboxes(st, true);
	}
	free((char *)m.wire);
	free(new_wire);
	return r;
}

/* ---- mailbox changes journaled offline, carried out by wire name (replay.c) ---- */

/*
 * Whether the server holds mailbox wire now: 1, 0, or -errno. Asked of the
 * server, not of the tree, over which what is pending is laid.
 */
static int wire_exists(struct store *st, const char *wire)
{
	struct driver_status now;
	int r = store_status_now(st, wire, &now);

	return r == 0 ? 1 : r == -ENOENT ? 0 : r;
}

int changes_create_wire(struct store *st, const char *wire)
{
	struct mailbox_job m = { .run = st->opts.subscribed_only ? create_subscribed_cmd : create_cmd,
				 .wire = wire };
	int r = pool_run_once(store_pool(st), wire, mailbox_job, &m);

	/* Made by another client meanwhile: what was wanted (a bare NO says so on Dovecot 2.3). */
	if (m.bare_no && wire_exists(st, wire) == 1)
		r = -EEXIST;
	return r;
}

int changes_delete_wire(struct store *st, const char *wire, uint32_t uidvalidity,
			uint32_t *messages)
{
	struct count_job c = { .wire = wire };
	struct driver_status now;
	struct mailbox_job m = { .run = delete_cmd, .wire = wire };
	int r = pool_run(store_pool(st), NULL, count_job, &c);

	*messages = c.messages;
	/* A level that is no mailbox (\Noselect) answers no STATUS, and holds no mail. */
	if (r == -ENOENT)
		return pool_run_once(store_pool(st), wire, mailbox_job, &m);
	if (r < 0)
		return r;
	if (c.messages)
		return -ENOTEMPTY; /* UINT32_MAX: not counted, so not known empty */
	if (uidvalidity) {
		r = store_status_now(st, wire, &now);
		if (r < 0)
			return r;
		if (now.uidvalidity != uidvalidity)
			return -ESTALE;
	}
	r = pool_run_once(store_pool(st), wire, mailbox_job, &m);
	if (r == 0)
		listing_cache_forget(store_body_cache(st), wire);
	return r;
}

int changes_rename_wire(struct store *st, const char *wire, const char *to)
{
	struct mailbox_job m = { .run = driver_rename, .wire = wire, .new_wire = to };
	int r = pool_run_once(store_pool(st), wire, mailbox_job, &m);

	/* Its RENAME went out before a connection was lost, and was made. */
	if (r == -ENOENT && wire_exists(st, wire) == 0 && wire_exists(st, to) == 1)
		r = 0;
	return r;
}
