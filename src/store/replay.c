/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The journal's replay (see replay.h). */
#include "store/replay.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "driver/change.h"
#include "driver/fetch.h"
#include "driver/mailbox.h"
#include "driver/search.h"
#include "log.h"
#include "store/journal.h"
#include "store/pool.h"
#include "store/store_internal.h"
#include "util/array.h"
#include "util/clock.h"

/* The thread looks again this often while the server stays away (seconds). */
#define RETRY_MIN 1
#define RETRY_MAX 5

/* At most this many changes in one command (a set of scattered UIDs is long). */
#define GROUP_MAX 1000
/* At most this many copies a batch: each holds its bytes' file open meanwhile. */
#define APPEND_GROUP_MAX 64

/* Where mail goes whose target mailbox was deleted meanwhile (doc/user-guide.md). */
#define RECOVERED "Recovered"

struct replay {
	struct store *st;
	struct journal *j;
	pthread_mutex_t lock;    /* stop, kicked; nothing but the journal is taken under it */
	pthread_cond_t wake;     /* a kick, or stop */
	pthread_cond_t settled;  /* a round ended */
	bool stop, kicked;
	char *last_error;        /* the last change not made, for user.imapfs.error */
	uint64_t stuck_seq;      /* the first change of a group that failed lately, */
	unsigned stuck_tries;    /* and how many rounds in a row it failed (the thread's) */
	pthread_t thread;
	/*
	 * Whether what is pending waited for the server (made offline, or left
	 * by the last mount), as opposed to changes written behind while it
	 * answers (-o writeback, a run of rm): only the first is worth telling.
	 * The thread's own.
	 */
	bool backlog;
	char aside[1200]; /* how the last copy refused for good was kept (the thread's) */
	/* Targets of moves made, relisted once the journal is drained (the thread's own). */
	uint32_t *targets;
	size_t ntargets, targets_cap;
};

/* ---- one group of changes, one command ---- */

static bool same_group(const struct journal_op *a, const struct journal_op *b)
{
	if (a->kind >= JOURNAL_CREATE)
		return false; /* one mailbox change at a time */
	if (a->kind != b->kind || a->uidvalidity != b->uidvalidity || strcmp(a->wire, b->wire) != 0)
		return false;
	if (a->kind == JOURNAL_MOVE)
		return strcmp(a->to, b->to) == 0;
	if (a->kind == JOURNAL_FLAGS)
		return strcmp(a->add, b->add) == 0 && strcmp(a->remove, b->remove) == 0;
	return true;
}

struct group_job {
	const struct journal_op *op; /* the first: mailbox, kind, flags */
	const char *to;              /* JOURNAL_MOVE: where to, now */
	const uint32_t *uids;        /* ascending, no duplicates */
	size_t n;
	bool *present;               /* per uid: still there, so done now */
	uint32_t *act;               /* room for n */
	bool target_gone;            /* the server said the target is missing */
};

static int group_job(struct session *s, void *ctx)
{
	struct group_job *g = ctx;
	const struct journal_op *op = g->op;
	size_t k = 0;
	/* At most once: one made just before a crash, not yet recorded, is gone from here. */
	int r = driver_holding(s, op->wire, op->uidvalidity, g->uids, g->n, g->present);

	if (r < 0)
		return r;
	for (size_t i = 0; i < g->n; i++)
		if (g->present[i])
			g->act[k++] = g->uids[i];
	if (k == 0)
		return 0;
	switch (op->kind) {
	case JOURNAL_FLAGS:
		return driver_change_flags_uids(s, op->wire, g->act, k, op->add, op->remove);
	case JOURNAL_EXPUNGE:
		return driver_expunge_uids(s, op->wire, g->act, k);
	case JOURNAL_MOVE:
		r = driver_move_uids(s, op->wire, g->act, k, g->to);
		if (r == -ENOENT)
			g->target_gone = true; /* NO [TRYCREATE] */
		return r;
	case JOURNAL_APPEND: /* appends_job */
	case JOURNAL_CREATE: /* carry_out_mailbox */
	case JOURNAL_DELETE:
	case JOURNAL_RENAME:
		break;
	}
	return -EINVAL;
}

/* The mailbox RECOVERED, made if need be; its wire name (the caller frees it), or NULL. */
static char *recovered_mailbox(struct store *st)
{
	uint32_t id = 0;
	int r = store_lookup_mailbox(st, STORE_ROOT_ID, RECOVERED, &id);

	if (r < 0) {
		r = changes_create_mailbox(st, STORE_ROOT_ID, RECOVERED, &id);
		if (r == -EEXIST)
			r = store_lookup_mailbox(st, STORE_ROOT_ID, RECOVERED, &id);
		if (r == 0)
			log_info("journal: created the mailbox %s for mail whose target was deleted",
				 RECOVERED);
	}
	return r == 0 ? store_mailbox_wire(st, id) : NULL;
}

/* Whether mailbox wire is gone from the server's tree (asked again, not as held). */
static bool target_gone(struct store *st, const char *wire)
{
	uint32_t id;

	if (store_refresh_mailboxes(st, true) < 0)
		return false;
	return store_mailbox_by_wire(st, wire, &id) < 0;
}

/* ---- a message copied in, exactly once ---- */

/* Where a test stops imapfs dead (IMAPFS_TEST_KILL_AT, doc/testing.md). */
static void test_kill_at(const char *point)
{
	const char *at = getenv("IMAPFS_TEST_KILL_AT");

	if (at && strcmp(at, point) == 0)
		raise(SIGKILL);
}

struct appends_job {
	struct journal *j;
	const struct journal_op *ops; /* copies into one mailbox, in order */
	size_t n;
	const char *wire;  /* where to, now */
	const int *fds;
	uint32_t uidvalidity;
	uint32_t *uids;    /* APPENDUID's, or the one found; 0 if not known */
	bool *found;       /* it was there already */
	size_t done;       /* ops[0..done) are on the server */
	bool sending;      /* an APPEND went out: an error before is no copy's fault */
	bool target_gone;
};

/* Whether uid is one that ops[0..i) of a were found as or sent as. */
static bool claimed(const struct appends_job *a, size_t i, uint32_t uid)
{
	for (size_t x = 0; x < i; x++)
		if (a->uids[x] == uid)
			return true;
	return false;
}

/* Candidates for a copy without a Message-ID, and which of them hold its very bytes. */
struct same_bytes {
	int fd;
	uint64_t size;
	const uint32_t *uids;
	bool *same;
	size_t n;
};

static void compare_body(void *ctx, uint32_t uid, const char *body, size_t len)
{
	struct same_bytes *c = ctx;
	char buf[65536];
	size_t at = 0, k = 0;

	while (k < c->n && c->uids[k] != uid)
		k++;
	if (k == c->n || len != c->size)
		return;
	while (at < len) {
		ssize_t got = pread(c->fd, buf, len - at < sizeof(buf) ? len - at : sizeof(buf),
				    (off_t)at);

		if (got <= 0 || memcmp(buf, body + at, (size_t)got) != 0)
			return;
		at += (size_t)got;
	}
	c->same[k] = true;
}

/*
 * Keeps of uids[0..*n) (ascending) those whose bytes are those of fd: a copy
 * without a Message-ID is not taken for another message of its size.
 */
static int keep_same_bytes(struct session *s, const char *wire, uint32_t uidvalidity, int fd,
			   uint64_t size, uint32_t *uids, size_t *n)
{
	struct same_bytes c = { .fd = fd, .size = size, .uids = uids, .n = *n,
				.same = calloc(*n, sizeof(bool)) };
	size_t k = 0;
	int r = c.same ? 0 : -ENOMEM;

	/* A few at a time: each comes whole into memory. */
	for (size_t i = 0; r == 0 && i < *n; i += 16)
		r = driver_fetch_bodies(s, wire, uidvalidity, uids + i, *n - i < 16 ? *n - i : 16,
					compare_body, &c);
	for (size_t i = 0; r == 0 && i < *n; i++)
		if (c.same[i])
			uids[k++] = uids[i];
	if (r == 0)
		*n = k;
	free(c.same);
	return r;
}

/*
 * Those of a's copies sent once before without an answer recorded are
 * looked for, in order, each as the first match no earlier one took: sent in
 * order, they have ascending UIDs, so copies alike are told apart. A match
 * is by size and Message-ID, or, for a copy without one, by its bytes.
 */
static int look_for_earlier(struct session *s, struct appends_job *a)
{
	for (size_t i = 0; i < a->n; i++) {
		const struct journal_op *op = &a->ops[i];
		uint32_t *uids, uidvalidity;
		size_t n;
		int r;

		if (!op->tried_uidnext)
			continue;
		r = driver_find_appended(s, a->wire, op->tried_uidvalidity, op->tried_uidnext,
					 op->msgid, op->size, &uids, &n, &uidvalidity);
		/* Without a Message-ID to search by (none, or too long for one): by bytes. */
		if (r == 0 && n && (!*op->msgid || strlen(op->msgid) > 998))
			r = keep_same_bytes(s, a->wire, uidvalidity, a->fds[i], op->size, uids, &n);
		if (r < 0) {
			free(uids);
			return r;
		}
		for (size_t x = 0; x < n && !a->found[i]; x++) {
			if (!claimed(a, i, uids[x])) {
				a->uids[i] = uids[x];
				a->found[i] = true;
			}
		}
		free(uids);
	}
	return 0;
}

/*
 * A copy sent once before without its answer recorded is looked for first;
 * before the others are sent, the mailbox's UIDNEXT is recorded with each.
 * So a crash at any point leaves every message on the server once. They go
 * one after another on one connection, their completions in one write.
 */
static int appends_job(struct session *s, void *ctx)
{
	struct appends_job *a = ctx;
	struct driver_status now;
	uint64_t *seqs = malloc(a->n * sizeof(*seqs));
	size_t k = 0;
	int r = seqs ? look_for_earlier(s, a) : -ENOMEM;

	if (r == 0)
		r = driver_status(s, a->wire, &now);
	for (size_t i = 0; r == 0 && i < a->n; i++)
		if (!a->found[i])
			seqs[k++] = a->ops[i].seq;
	if (r == 0 && k)
		r = journal_tried(a->j, seqs, k, now.uidvalidity, now.uidnext);
	for (size_t i = 0; r == 0 && i < a->n; i++) {
		const struct journal_op *op = &a->ops[i];

		/* Taken back (rm) before it was marked tried: never sent. */
		if (!a->found[i] && !journal_holds(a->j, op->seq)) {
			a->done = i + 1;
			continue;
		}
		if (!a->found[i]) {
			test_kill_at("append-tried");
			a->sending = true;
			r = driver_append(s, a->wire, op->add, op->date, a->fds[i], op->size,
					  &a->uidvalidity, &a->uids[i]);
			if (r < 0)
				break;
			test_kill_at("append-ok");
		}
		a->done = i + 1;
	}
	/*
	 * Part sent: the rest are looked for after the last one sent, not
	 * among those (a crash before the completions are written is covered
	 * by the order of the search above).
	 */
	k = 0;
	if (r < 0 && a->done && a->uids[a->done - 1] && a->uidvalidity)
		for (size_t i = a->done; i < a->n; i++)
			seqs[k++] = a->ops[i].seq;
	if (k && journal_tried(a->j, seqs, k, a->uidvalidity, a->uids[a->done - 1] + 1) < 0)
		log_warn("journal: cannot record where the copies into %s go on", a->wire);
	free(seqs);
	a->target_gone = r == -ENOENT;
	return r;
}

/* After a->done copies: each shows in its listing, under the name it was written. */
static void appended(struct store *st, const struct appends_job *a)
{
	uint32_t id;

	for (size_t i = 0; i < a->done; i++) {
		if (a->found[i])
			log_info("journal: %s was in %s already (UID %" PRIu32 ", sent before a "
				 "crash); not sent again", a->ops[i].name, a->wire, a->uids[i]);
	}
	if (store_mailbox_by_wire(st, a->wire, &id) < 0)
		return;
	for (size_t i = 0; i < a->done; i++) {
		const struct journal_op *op = &a->ops[i];
		struct store_msg row = { .uid = a->uids[i], .size = op->size, .date = op->date };

		if (a->uids[i] && !a->found[i])
			store_listing_added(st, id, a->uidvalidity, &row, op->add);
		else
			store_listing_stale(st, id);
		if (a->uids[i])
			store_name_message(st, id, a->uids[i], op->name, 0644);
	}
	store_quota_stale(st);
}

/*
 * Carries out ops[0..n), copies into one mailbox: on 0, applied[i] says
 * whether ops[i] is on the server (sent now, or found there from an attempt
 * before). On an error, *taken of them are on the server (and applied); the
 * error is ops[*taken]'s.
 */
static int carry_out_appends(struct store *st, struct journal *j, const struct journal_op *ops,
			     size_t n, bool *applied, size_t *taken)
{
	struct appends_job a = { .j = j, .ops = ops, .n = n, .wire = ops[0].wire };
	int *fds = malloc(n * sizeof(*fds));
	char *recovered = NULL;
	size_t opened = 0;
	int r = -ENOMEM;

	*taken = 0;
	a.uids = calloc(n, sizeof(*a.uids));
	a.found = calloc(n, sizeof(*a.found));
	if (!fds || !a.uids || !a.found)
		goto out;
	/* One taken back (rm) since the round began: nothing to send, nothing to say. */
	if (!journal_holds(j, ops[0].seq)) {
		applied[0] = true;
		*taken = 1;
		r = 0;
		goto out;
	}
	for (; opened < n; opened++) {
		/* The batch ends before one taken back: it comes next, on its own. */
		if (opened > 0 && !journal_holds(j, ops[opened].seq)) {
			n = a.n = opened;
			break;
		}
		r = journal_open_bytes(j, ops[opened].file, &fds[opened]);
		if (r < 0)
			break;
	}
	if (opened < n && r != -ENOENT) {
		/* Out of descriptors, say: the bytes are there, and wait. */
		log_warn("journal: cannot open the bytes of %s: %s", ops[opened].name, strerror(-r));
		n = a.n = opened;
		if (n == 0) {
			r = -EAGAIN;
			goto out;
		}
	} else if (opened < n && !journal_holds(j, ops[opened].seq)) {
		/* Taken back (rm) just now, its bytes with it. */
		n = a.n = opened;
		if (n == 0) {
			applied[0] = true;
			*taken = 1;
			r = 0;
			goto out;
		}
	} else if (opened < n) {
		/* Its bytes are gone: nothing to send, ever (report_dropped says so). */
		log_error("journal: the bytes of %s, copied into %s, are missing from the cache "
			  "directory (%s)", ops[opened].name, ops[opened].wire, strerror(-r));
		n = a.n = opened;
		if (n == 0) {
			*taken = 1;
			r = 0;
			goto out;
		}
	}
	a.fds = fds;
	r = pool_run_once(store_pool(st), NULL, appends_job, &a);
	if (r == -ENOENT && a.target_gone && a.done == 0 && target_gone(st, ops[0].wire)) {
		recovered = recovered_mailbox(st);
		if (!recovered) {
			r = -EIO;
			goto out;
		}
		log_warn("journal: %s was deleted meanwhile; %zu message(s) copied there go to %s "
			 "instead", ops[0].wire, n, recovered);
		a.wire = recovered;
		a.target_gone = false;
		r = pool_run_once(store_pool(st), NULL, appends_job, &a);
	} else if (r == -ENOENT && a.target_gone && a.done == 0) {
		r = -EAGAIN;
	}
	/* Looking, STATUS, the journal: nothing of a copy; tried again, never dropped. */
	if (r < 0 && !a.sending && !(r == -ENOENT && a.target_gone))
		r = store_unreachable(st, r) ? r : -EAGAIN;
	appended(st, &a);
	for (size_t i = 0; i < a.done; i++)
		applied[i] = true;
	*taken = r == 0 ? n : a.done;
out:
	for (size_t i = 0; i < opened; i++)
		close(fds[i]);
	free(fds);
	free(a.uids);
	free(a.found);
	free(recovered);
	return r;
}

/*
 * APPEND op given up (the server refused it for good): its bytes stay in
 * the cache directory, and the log says where.
 */
static int set_aside(struct journal *j, const struct journal_op *op, int r, char *line,
		     size_t len)
{
	char *aside = NULL;
	int e = journal_set_aside(j, op->file, op->name, &aside);

	if (e == 0)
		snprintf(line, len, "the server refused %s, copied into %s: %s; its bytes are "
			 "kept in the cache directory as %s", op->name, op->wire, strerror(-r), aside);
	else
		log_error("journal: the server refused %s, copied into %s (%s), and its bytes "
			  "cannot be set aside (%s): it stays in the journal", op->name, op->wire,
			  strerror(-r), strerror(-e));
	free(aside);
	return e;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Carries out ops[0..n), one group. On 0, applied[i] says whether ops[i]
 * was made (else its message was no longer there).
 */
static int carry_out(struct store *st, const struct journal_op *ops, size_t n, bool *applied)
{
	uint32_t *uids = malloc(n * sizeof(*uids)), *act = malloc(n * sizeof(*act));
	bool *present = calloc(n, sizeof(*present));
	struct group_job g = { .op = &ops[0], .to = ops[0].to, .uids = uids, .present = present,
			       .act = act };
	char *recovered = NULL;
	size_t m = 0;
	int r = -ENOMEM;

	if (!uids || !act || !present)
		goto out;
	for (size_t i = 0; i < n; i++)
		uids[i] = ops[i].uid;
	qsort(uids, n, sizeof(*uids), cmp_u32);
	for (size_t i = 0; i < n; i++)
		if (m == 0 || uids[m - 1] != uids[i])
			uids[m++] = uids[i];
	g.n = m;
	r = pool_run(store_pool(st), ops[0].wire, group_job, &g);
	if (r == -ENOENT && g.target_gone && !target_gone(st, ops[0].to))
		r = -EAGAIN; /* [EXPUNGEISSUED] and the like: the next round checks again */
	if (r == -ENOENT && g.target_gone) {
		recovered = recovered_mailbox(st);
		if (!recovered) {
			r = -EIO; /* kept, and tried again */
			goto out;
		}
		log_warn("journal: %s was deleted meanwhile; %zu message(s) moved there from %s go "
			 "to %s instead", ops[0].to, n, ops[0].wire, recovered);
		g.to = recovered;
		g.target_gone = false;
		r = pool_run(store_pool(st), ops[0].wire, group_job, &g);
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		uint32_t *at = bsearch(&ops[i].uid, uids, m, sizeof(*uids), cmp_u32);

		applied[i] = at && present[at - uids];
	}
out:
	free(recovered);
	free(uids);
	free(act);
	free(present);
	return r;
}

/* ---- a mailbox made, removed or renamed offline ---- */

/*
 * Carries out op, a mailbox change, by the names it had when it was made.
 * 0 when it is made (or was found made), else why not: -ENOTEMPTY (mail
 * came meanwhile), -ESTALE (deleted and made anew by another client),
 * -ENOENT (a renamed one gone), -EEXIST (a rename's new name taken), or
 * what the server said. Never deletes a mailbox holding mail.
 */
static int carry_out_mailbox(struct store *st, const struct journal_op *op)
{
	uint32_t messages;
	int r;

	switch (op->kind) {
	case JOURNAL_CREATE:
		r = changes_create_wire(st, op->wire);
		return r == -EEXIST ? 0 : r;
	case JOURNAL_DELETE:
		r = changes_delete_wire(st, op->wire, op->uidvalidity, &messages);
		return r == -ENOENT ? 0 : r; /* gone already: as wanted */
	case JOURNAL_RENAME:
		return changes_rename_wire(st, op->wire, op->to);
	default:
		return -EINVAL;
	}
}

/* Why mailbox change op was not made (r), for the log. */
static void mailbox_not_made(const struct journal_op *op, int r, char *line, size_t len)
{
	if (op->kind == JOURNAL_DELETE && r == -ENOTEMPTY)
		snprintf(line, len, "the mailbox %s holds mail now (another client's); it is not "
			 "deleted", op->wire);
	else if (op->kind == JOURNAL_DELETE && r == -ESTALE)
		snprintf(line, len, "the mailbox %s was deleted and made anew by another client "
			 "meanwhile; it is not deleted", op->wire);
	else if (op->kind == JOURNAL_RENAME && r == -ENOENT)
		snprintf(line, len, "the mailbox %s is gone (deleted or renamed by another client "
			 "meanwhile); it is not renamed to %s", op->wire, op->to);
	else if (op->kind == JOURNAL_RENAME && r == -EEXIST)
		snprintf(line, len, "a mailbox %s exists now; %s is not renamed and keeps its name",
			 op->to, op->wire);
	else if (op->kind == JOURNAL_RENAME)
		snprintf(line, len, "the server refused to rename the mailbox %s to %s: %s; it keeps "
			 "its name", op->wire, op->to, strerror(-r));
	else
		snprintf(line, len, "the server refused to %s the mailbox %s: %s; dropped",
			 op->kind == JOURNAL_CREATE ? "create" : "delete", op->wire, strerror(-r));
}

/* Whether wire is top or a mailbox under it. */
static bool wire_under(const char *wire, const char *top, char delim)
{
	size_t len = strlen(top);

	return strncmp(wire, top, len) == 0 && (wire[len] == '\0' || (delim && wire[len] == delim));
}

/* *wire (malloc'd) named anew if it is from or under it: to, and what follows. */
static void rename_wire(char **wire, const char *from, const char *to, char delim)
{
	char *now;

	if (!*wire || !wire_under(*wire, from, delim) ||
	    asprintf(&now, "%s%s", to, *wire + strlen(from)) < 0)
		return;
	free(*wire);
	*wire = now;
}

/*
 * The RENAME op (wire -> to) was not made: the mailbox keeps its old name.
 * What was kept on disk under the new one goes back, and the changes after
 * it in this round (later[0..n)), which name it by the new name, are made
 * on it by its old one: never on another client's mailbox of that name.
 */
static void rename_not_made(struct store *st, const struct journal_op *op,
			    struct journal_op *later, size_t n)
{
	struct store_mailbox_ref *refs;
	size_t nrefs;
	char delim = store_delimiter(st, STORE_ROOT_ID);

	if (store_mailbox_refs(st, &refs, &nrefs) == 0) {
		for (size_t i = 0; i < nrefs; i++) {
			char *back = strdup(refs[i].wire);

			if (back && wire_under(back, op->to, delim)) {
				rename_wire(&back, op->to, op->wire, delim);
				store_kept_renamed(st, refs[i].wire, back);
			}
			free(back);
		}
		store_mailbox_refs_free(refs, nrefs);
	}
	for (size_t i = 0; i < n; i++) {
		rename_wire(&later[i].wire, op->to, op->wire, delim);
		if (later[i].kind == JOURNAL_MOVE || later[i].kind == JOURNAL_RENAME)
			rename_wire(&later[i].to, op->to, op->wire, delim);
	}
}

/* ---- a round ---- */

static bool stopping(struct replay *rp)
{
	bool stop;

	pthread_mutex_lock(&rp->lock);
	stop = rp->stop;
	pthread_mutex_unlock(&rp->lock);
	return stop;
}

/* Rounds in a row a change may fail with a bare NO (EIO) while the server answers. */
#define STUCK_MAX 3

/*
 * Not the server's answer to this change, but the way to it: the change is
 * kept and tried again (the server away, a connection lost halfway, a bare
 * NO that may pass). A change failing so STUCK_MAX rounds in a row while
 * the server answers is taken for refused: it must not hold up all that
 * comes after it.
 */
static bool try_again(struct replay *rp, const struct journal_op *op, int r)
{
	struct store *st = rp->st;

	if (store_unreachable(st, r))
		return true;
	if (!(r == -EIO || r == -EINTR || r == -ETIMEDOUT || r == -ECONNRESET || r == -ENOMEM ||
	      r == -EAGAIN))
		return false;
	if (rp->stuck_seq != op->seq) {
		rp->stuck_seq = op->seq;
		rp->stuck_tries = 0;
	}
	return ++rp->stuck_tries < STUCK_MAX;
}

/* What op was, for the log. */
static void describe(const struct journal_op *op, char *out, size_t len)
{
	if (op->kind == JOURNAL_FLAGS)
		snprintf(out, len, "flag change (+%s -%s)", op->add, op->remove);
	else if (op->kind == JOURNAL_MOVE)
		snprintf(out, len, "move to %s", op->to);
	else if (op->kind == JOURNAL_APPEND)
		snprintf(out, len, "copy of %s", op->name);
	else if (op->kind >= JOURNAL_CREATE)
		snprintf(out, len, "%s", op->kind == JOURNAL_CREATE ? "creation" :
			 op->kind == JOURNAL_DELETE ? "deletion" : "renaming");
	else
		snprintf(out, len, "expunge");
}

/* Logs what of a group was not made, and keeps the last for user.imapfs.error; returns how many. */
static size_t report_dropped(struct replay *rp, const struct journal_op *ops, size_t n, int r,
			     const bool *applied)
{
	size_t dropped = 0;
	char what[600], line[1200] = "";

	for (size_t i = 0; i < n; i++) {
		if (r == 0 && applied[i])
			continue;
		dropped++;
		describe(&ops[i], what, sizeof(what));
		if (ops[i].kind >= JOURNAL_CREATE)
			mailbox_not_made(&ops[i], r, line, sizeof(line));
		else if (ops[i].kind == JOURNAL_APPEND && r < 0)
			snprintf(line, sizeof(line), "%s", rp->aside); /* set aside, said how */
		else if (ops[i].kind == JOURNAL_APPEND)
			snprintf(line, sizeof(line), "%s, copied into %s, is not sent: its bytes are "
				 "missing", ops[i].name, ops[i].wire);
		else if (r == 0 || r == -ENOENT)
			snprintf(line, sizeof(line), "message UID %" PRIu32 " in %s was expunged "
				 "meanwhile (or moved away); its %s is dropped", ops[i].uid,
				 ops[i].wire, what);
		else if (r == -ESTALE)
			snprintf(line, sizeof(line), "%s has another UIDVALIDITY now: UID %" PRIu32
				 " may name other mail, so its %s is not made", ops[i].wire,
				 ops[i].uid, what);
		else
			snprintf(line, sizeof(line), "the server refused the %s of UID %" PRIu32
				 " in %s: %s; dropped", what, ops[i].uid, ops[i].wire, strerror(-r));
		log_warn("journal: %s", line);
	}
	if (dropped) {
		char *keep = strdup(line);

		pthread_mutex_lock(&rp->lock);
		if (keep) {
			free(rp->last_error);
			rp->last_error = keep;
		}
		pthread_mutex_unlock(&rp->lock);
	}
	return dropped;
}

char *replay_last_error(struct replay *rp)
{
	char *s = NULL;

	if (!rp)
		return NULL;
	pthread_mutex_lock(&rp->lock);
	if (rp->last_error)
		s = strdup(rp->last_error);
	pthread_mutex_unlock(&rp->lock);
	return s;
}

/*
 * The listings after a group. The source's held listing already shows the
 * change (offline.c took the rows out, or laid the flags over), which the
 * server now agrees with; if some were dropped, it is fetched again whole.
 * The target learns its new messages once the journal is drained
 * (flush_targets): relisted once, not after every batch.
 */
static void settle_listings(struct replay *rp, const struct journal_op *ops, size_t n,
			    size_t dropped, const bool *applied)
{
	struct store *st = rp->st;
	uint32_t id = 0, to = 0;

	if (ops[0].kind == JOURNAL_APPEND)
		return; /* carry_out_appends() did */
	if (ops[0].kind >= JOURNAL_CREATE) {
		/* The tree as the server has it now, with what is still pending laid over. */
		store_refresh_mailboxes(st, true);
		return;
	}
	if (store_mailbox_by_wire(st, ops[0].wire, &id) == 0) {
		for (size_t i = 0; i < n && ops[0].kind != JOURNAL_FLAGS; i++)
			if (applied[i])
				store_forget_body(st, id, ops[i].uidvalidity, ops[i].uid);
		if (dropped)
			store_refresh_listing(st, id, true);
	}
	if (ops[0].kind != JOURNAL_MOVE || store_mailbox_by_wire(st, ops[0].to, &to) < 0)
		return;
	for (size_t i = 0; i < rp->ntargets; i++)
		if (rp->targets[i] == to)
			return;
	if (array_reserve((char **)&rp->targets, &rp->targets_cap, rp->ntargets + 1,
			  sizeof(*rp->targets)) < 0)
		store_listing_stale(st, to); /* no room to wait: at once */
	else
		rp->targets[rp->ntargets++] = to;
}

static void flush_targets(struct replay *rp)
{
	for (size_t i = 0; i < rp->ntargets; i++)
		store_listing_stale(rp->st, rp->targets[i]);
	rp->ntargets = 0;
}

/* Carries out what is pending, oldest first. False if the rest must wait (server away). */
static bool replay_round(struct replay *rp)
{
	struct store *st = rp->st;
	struct journal_op *ops;
	uint64_t *seqs = NULL;
	bool *applied = NULL;
	size_t n, done = 0, dropped = 0, i = 0;
	bool reached = true;
	int synced;

	if (journal_pending_ops(rp->j, &ops, &n) < 0 || n == 0)
		return true;
	/* What -o writeback wrote without a sync is on disk before the server acts on it. */
	synced = journal_sync(rp->j);
	if (synced < 0)
		log_warn("journal: cannot sync it to disk: %s", strerror(-synced));
	seqs = malloc(n * sizeof(*seqs));
	applied = calloc(n, sizeof(*applied));
	if (!seqs || !applied)
		reached = false;
	while (reached && i < n && !stopping(rp)) {
		size_t k = i + 1, lost;
		size_t max = ops[i].kind == JOURNAL_APPEND ? APPEND_GROUP_MAX : GROUP_MAX;
		int r;

		while (k < n && k - i < max && same_group(&ops[i], &ops[k]))
			k++;
		if (ops[i].kind == JOURNAL_APPEND) {
			size_t taken;

			r = carry_out_appends(st, rp->j, ops + i, k - i, applied + i, &taken);
			/* Those on the server are recorded now; the one that failed comes next. */
			if (r < 0 && taken > 0)
				r = 0;
			if (taken > 0)
				k = i + taken;
			else if (r < 0)
				k = i + 1; /* only the first was tried */
		} else if (ops[i].kind >= JOURNAL_CREATE) {
			r = carry_out_mailbox(st, &ops[i]);
			applied[i] = r == 0;
		} else {
			r = carry_out(st, ops + i, k - i, applied + i);
		}
		/* A copy waits as long as it takes: never dropped for what is not its fault. */
		if ((ops[i].kind == JOURNAL_APPEND && r == -EAGAIN) || try_again(rp, &ops[i], r)) {
			log_debug("journal: %zu change(s) to %s wait (%s)", k - i, ops[i].wire,
				  strerror(-r));
			reached = false;
			break;
		}
		/* A copy refused for good: its bytes kept aside first, or it stays. */
		if (ops[i].kind == JOURNAL_APPEND && r < 0 &&
		    set_aside(rp->j, &ops[i], r, rp->aside, sizeof(rp->aside)) < 0) {
			reached = false;
			break;
		}
		if (done == 0 && rp->backlog)
			log_info("journal: the server answers; carrying out %zu pending change(s)",
				 n - i);
		lost = report_dropped(rp, ops + i, k - i, r, applied + i);
		if (ops[i].kind == JOURNAL_RENAME && !applied[i])
			rename_not_made(st, &ops[i], ops + k, n - k);
		for (size_t x = i; x < k; x++)
			seqs[x - i] = ops[x].seq;
		if (journal_done_many(rp->j, seqs, k - i) < 0) {
			/* Not recorded: looked at again next time, and made at most once. */
			log_warn("journal: cannot record changes as done");
			reached = false;
			break;
		}
		settle_listings(rp, ops + i, k - i, lost, applied + i);
		done += k - i;
		dropped += lost;
		i = k;
	}
	if (!reached || journal_pending(rp->j) == 0)
		flush_targets(rp);
	if (done && (dropped || rp->backlog))
		log_info("journal: %zu change(s) carried out, %zu of them dropped (see above); %zu "
			 "pending", done, dropped, journal_pending(rp->j));
	free(seqs);
	free(applied);
	journal_ops_free(ops, n);
	return reached;
}

/* ---- the thread ---- */

/* How long a round waits for more changes to come (-o writeback: mv; rm -r). */
#define GATHER_QUIET_MS 3
#define GATHER_MAX_MS 50

/*
 * Changes made one system call at a time come a millisecond or so apart:
 * waiting while they keep coming (a little) makes one command of many.
 */
static void gather(struct replay *rp)
{
	int64_t end = monotonic_ms() + GATHER_MAX_MS;
	size_t before;

	do {
		struct timespec quiet = { 0, GATHER_QUIET_MS * 1000000L };

		before = journal_pending(rp->j);
		nanosleep(&quiet, NULL);
	} while (journal_pending(rp->j) != before && monotonic_ms() < end && !stopping(rp));
}

static void *replay_main(void *arg)
{
	struct replay *rp = arg;
	unsigned wait_s = RETRY_MIN;
	bool reached, more;

	pthread_mutex_lock(&rp->lock);
	while (!rp->stop) {
		if (!rp->kicked) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += wait_s;
			pthread_cond_timedwait(&rp->wake, &rp->lock, &until);
		}
		if (rp->stop)
			break;
		rp->kicked = false;
		pthread_mutex_unlock(&rp->lock);
		if (!rp->backlog)
			gather(rp);
		reached = journal_pending(rp->j) == 0 || replay_round(rp);
		rp->backlog = !reached;
		/* What came during the round goes out at once: the next batch. */
		more = reached && journal_pending(rp->j) > 0;
		pthread_mutex_lock(&rp->lock);
		wait_s = reached ? RETRY_MIN : wait_s < RETRY_MAX ? wait_s + 1 : RETRY_MAX;
		if (more)
			rp->kicked = true;
		pthread_cond_broadcast(&rp->settled);
	}
	pthread_mutex_unlock(&rp->lock);
	return NULL;
}

int replay_start(struct store *st, struct journal *j, struct replay **out)
{
	struct replay *rp = calloc(1, sizeof(*rp));
	int r;

	if (!rp)
		return -ENOMEM;
	rp->st = st;
	rp->j = j;
	rp->backlog = journal_pending(j) > 0;
	pthread_mutex_init(&rp->lock, NULL);
	pthread_cond_init(&rp->wake, NULL);
	pthread_cond_init(&rp->settled, NULL);
	r = -pthread_create(&rp->thread, NULL, replay_main, rp);
	if (r < 0) {
		pthread_cond_destroy(&rp->settled);
		pthread_cond_destroy(&rp->wake);
		pthread_mutex_destroy(&rp->lock);
		free(rp);
		return r;
	}
	*out = rp;
	return 0;
}

void replay_kick(struct replay *rp)
{
	if (!rp)
		return;
	pthread_mutex_lock(&rp->lock);
	rp->kicked = true;
	pthread_cond_signal(&rp->wake);
	pthread_mutex_unlock(&rp->lock);
}

bool replay_settle(struct replay *rp, unsigned ms)
{
	int64_t deadline = monotonic_ms() + ms;
	bool settled;

	if (!rp)
		return true;
	replay_kick(rp);
	pthread_mutex_lock(&rp->lock);
	while (!(settled = journal_pending(rp->j) == 0) && monotonic_ms() < deadline) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 100 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&rp->settled, &rp->lock, &until);
	}
	pthread_mutex_unlock(&rp->lock);
	return settled;
}

void replay_stop(struct replay *rp)
{
	if (!rp)
		return;
	pthread_mutex_lock(&rp->lock);
	rp->stop = true;
	pthread_cond_signal(&rp->wake);
	pthread_mutex_unlock(&rp->lock);
	pthread_join(rp->thread, NULL);
	pthread_cond_destroy(&rp->settled);
	pthread_cond_destroy(&rp->wake);
	pthread_mutex_destroy(&rp->lock);
	free(rp->targets);
	free(rp->last_error);
	free(rp);
}
