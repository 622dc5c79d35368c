/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Disconnected mode, the store's side (see offline.h). */
#include "store/offline.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mime/header.h"
#include "util/clock.h"
#include "store/body_cache.h"
#include "store/flagsets.h"
#include "store/journal.h"
#include "store/listing_cache.h"
#include "store/pool.h"
#include "store/replay.h"
#include "store/store_internal.h"

struct offline {
	struct journal *j;
	struct replay *replay; /* once started */
	/* The run of removals under way (store_remove()), under run_lock. */
	pthread_mutex_t run_lock;
	uint32_t run_mailbox;
	unsigned run_len;
	int64_t run_last_ms;
};

/*
 * rm -r, rm *.eml: past RUN_SYNC removals from one mailbox, each within
 * RUN_GAP_MS of the last, the next ones are journaled and go out in batches.
 */
#define RUN_SYNC 8
#define RUN_GAP_MS 1000

/* ---- journaling ---- */

/*
 * What every journaled change starts from: message uid of mailbox id as the
 * listing holds it (*m), op's mailbox, UIDVALIDITY and UID. -EIO without a
 * journal (or with offline writes off, or a mailbox never listed), -ENOENT
 * for a message it does not hold, -ENOMEM.
 */
static int op_begin(struct store *st, uint32_t id, uint32_t uid, struct journal_op *op,
		    struct store_msg *m)
{
	int r;

	if (!st->offline || !st->opts.offline_writes)
		return -EIO;
	r = store_held_message(st, id, uid, m, &op->uidvalidity);
	if (r < 0)
		return r == -ENOENT ? -ENOENT : -EIO;
	op->uid = uid;
	op->wire = store_mailbox_wire(st, id);
	return op->wire ? 0 : -ENOMEM;
}

/*
 * Durable before the call returns, but under -o writeback while the server
 * answers, where the replay syncs many at once (journal.h says what a crash
 * of the machine may cost then: the last changes, never mail).
 */
static int journal_put(struct store *st, struct journal_op *op, bool behind)
{
	if ((behind || st->opts.writeback) && !pool_server_down(store_pool(st)))
		return journal_add_unsynced(st->journal, op);
	return journal_add(st->journal, op);
}

/* Whether a change journaled now is worth a log line: only while offline. */
static bool offline_now(struct store *st)
{
	return !st->opts.writeback && pool_server_down(store_pool(st));
}

int offline_set_flags(struct store *st, uint32_t id, uint32_t uid, const char *flags)
{
	struct journal_op op = { .kind = JOURNAL_FLAGS };
	struct store_msg m;
	char *old = NULL;
	size_t pending;
	int r = op_begin(st, id, uid, &op, &m);

	if (r < 0)
		goto out;
	old = store_flags_text(st, m.flags);
	op.add = old ? flaglist_minus(flags, old) : NULL;
	op.remove = old ? flaglist_minus(old, flags) : NULL;
	if (!old || !op.add || !op.remove) {
		r = -ENOMEM;
		goto out;
	}
	if (*op.add || *op.remove)
		r = journal_put(st, &op, false);
	if (r == 0) {
		store_msg_flags_changed(st, id, uid, flags);
		pending = journal_pending(st->journal);
		if (offline_now(st))
			log_info("offline: flags of UID %" PRIu32 " in %s (+%s -%s) kept for when "
				 "the server answers; %zu change(s) pending", uid, op.wire, op.add,
				 op.remove, pending);
	} else if (r == -ENOSPC) {
		log_error("offline: the journal is full (the cache's bound); the flags of UID %"
			  PRIu32 " in %s were not changed", uid, op.wire);
	}
out:
	free(old);
	free(op.wire);
	free(op.add);
	free(op.remove);
	return r;
}

/*
 * A move (to != 0) or an expunge of message uid of mailbox id, journaled:
 * the message leaves its mailbox's listing at once.
 */
static int journal_removal(struct store *st, uint32_t id, uint32_t uid, uint32_t to,
			   bool behind)
{
	struct journal_op op = { .kind = to ? JOURNAL_MOVE : JOURNAL_EXPUNGE };
	struct store_msg m;
	int r = op_begin(st, id, uid, &op, &m);

	if (r < 0)
		goto out;
	op.to = to ? store_mailbox_wire(st, to) : NULL;
	if (to && !op.to) {
		r = -ENOMEM;
		goto out;
	}
	r = journal_put(st, &op, behind);
	if (r == 0) {
		store_listing_moved(st, id, op.uidvalidity, uid, 0, 0, 0);
		if (!offline_now(st))
			; /* write-behind, the usual way: nothing to tell */
		else if (to)
			log_info("offline: UID %" PRIu32 " of %s is moved to %s when the server "
				 "answers; %zu change(s) pending", uid, op.wire, op.to,
				 journal_pending(st->journal));
		else
			log_info("offline: UID %" PRIu32 " of %s is expunged when the server answers; "
				 "%zu change(s) pending", uid, op.wire, journal_pending(st->journal));
	} else if (r == -ENOSPC) {
		log_error("offline: the journal is full (the cache's bound); UID %" PRIu32
			  " of %s was not %s", uid, op.wire, to ? "moved" : "deleted");
	}
out:
	free(op.wire);
	free(op.to);
	return r;
}

/* The Message-ID of the message in fd, "" if none (malloc'd; NULL: ENOMEM). */
static char *message_id(int fd, uint64_t size)
{
	char head[16384], *end, *id;
	ssize_t n = pread(fd, head, size < sizeof(head) ? (size_t)size : sizeof(head), 0);

	if (n <= 0)
		return strdup("");
	end = memmem(head, (size_t)n, "\r\n\r\n", 4);
	id = mime_header_field(head, end ? (size_t)(end - head) + 2 : (size_t)n, "Message-ID");
	return id ? id : strdup("");
}

int offline_append(struct store *st, uint32_t id, int fd, uint64_t size, const char *flags,
		   int64_t date, const char *name, bool maybe_sent)
{
	struct journal_op op = { .kind = JOURNAL_APPEND, .size = size,
				 .date = date ? date : (int64_t)time(NULL) };
	int r = -ENOMEM;

	if (!st->offline || !st->opts.offline_writes)
		return -EIO;
	op.wire = store_mailbox_wire(st, id);
	if (!op.wire)
		return -ENOENT;
	op.uidvalidity = store_known_uidvalidity(st, id);
	op.add = strdup(flags ? flags : "");
	op.name = strdup(name);
	op.msgid = message_id(fd, size);
	if (op.add && op.name && op.msgid)
		r = journal_keep_bytes(st->journal, fd, size, &op.file);
	/*
	 * Always on disk before it returns, -o writeback too: a record lost
	 * with its bytes kept would have them swept away at the next mount.
	 */
	if (r == 0)
		r = journal_add(st->journal, &op);
	/*
	 * Its APPEND may have reached the server before the connection went:
	 * looked for first, anywhere in the mailbox (by size and Message-ID,
	 * or by its bytes: another message must not pass for it).
	 */
	if (r == 0 && maybe_sent &&
	    journal_tried(st->journal, &op.seq, 1, op.uidvalidity, 1) < 0)
		log_warn("offline: cannot record that %s may be on the server already", name);
	if (r < 0 && op.file)
		journal_drop_bytes(st->journal, op.file);
	if (r == 0 && offline_now(st))
		log_info("offline: %s (%" PRIu64 " bytes) is copied into %s when the server "
			 "answers; %zu change(s) pending", name, size, op.wire,
			 journal_pending(st->journal));
	else if (r == -ENOSPC)
		log_error("offline: the journal is full (the cache's bound); %s was not copied "
			  "into %s", name, op.wire);
	free(op.wire);
	free(op.add);
	free(op.name);
	free(op.msgid);
	free(op.file);
	return r;
}

bool store_append_pending(struct store *st, uint32_t id, const char *name)
{
	char *wire;
	bool pending;

	if (!st->journal || journal_pending(st->journal) == 0)
		return false;
	wire = store_mailbox_wire(st, id);
	pending = wire && journal_appending(st->journal, wire, name, NULL, NULL);
	free(wire);
	return pending;
}

int store_cancel_append(struct store *st, uint32_t id, const char *name)
{
	char *wire = store_mailbox_wire(st, id);
	int r = wire && st->journal ? journal_cancel_append(st->journal, wire, name) : -ENOENT;

	if (r == 0)
		log_info("offline: the copy of %s into %s is taken back; %zu change(s) pending", name,
			 wire, journal_pending(st->journal));
	free(wire);
	return r;
}

int store_pending_appends(struct store *st, store_pending_fn fn, void *ctx)
{
	struct journal_op *ops = NULL;
	size_t n = 0;
	int r = st->journal ? journal_pending_ops(st->journal, &ops, &n) : 0;

	for (size_t i = 0; r == 0 && i < n; i++) {
		uint32_t id;
		int fd;

		if (ops[i].kind != JOURNAL_APPEND || store_mailbox_by_wire(st, ops[i].wire, &id) < 0 ||
		    journal_open_bytes(st->journal, ops[i].file, &fd) < 0)
			continue;
		r = fn(ctx, id, ops[i].name, ops[i].size, ops[i].date, fd);
	}
	journal_ops_free(ops, n);
	return r;
}

int offline_move(struct store *st, uint32_t from, uint32_t uid, uint32_t to)
{
	return journal_removal(st, from, uid, to, false);
}

int offline_expunge(struct store *st, uint32_t id, uint32_t uid)
{
	return journal_removal(st, id, uid, 0, false);
}

/* ---- the store's changes: to the server, or to the journal ---- */

/*
 * Into the journal first: under -o writeback, or while changes made offline
 * still wait (a new one goes after them).
 */
static bool journal_first(struct store *st)
{
	return st->offline && st->opts.offline_writes &&
	       (st->opts.writeback || journal_pending(st->journal) > 0);
}

/* A change journaled (r == 0) while the server may answer: carried out now. */
static int journaled(struct store *st, int r)
{
	if (r == 0)
		replay_kick(st->offline->replay);
	return r;
}

int store_append(struct store *st, uint32_t id, int fd, uint64_t size, const char *flags,
		 int64_t date, const char *name, uint32_t *uid, bool *in_journal)
{
	int r;

	*uid = 0;
	*in_journal = false;
	if (journal_first(st))
		r = journaled(st, offline_append(st, id, fd, size, flags, date, name, false));
	else if ((r = changes_append(st, id, fd, size, flags, date, uid)) == 0 ||
		 !store_unreachable(st, r))
		return r;
	else
		r = journaled(st, offline_append(st, id, fd, size, flags, date, name, true));
	*in_journal = r == 0;
	return r;
}

int store_move(struct store *st, uint32_t from, uint32_t uid, uint32_t to, uint32_t *newuid)
{
	int r;

	*newuid = 0;
	if (journal_first(st))
		return journaled(st, offline_move(st, from, uid, to));
	r = changes_move(st, from, uid, to, newuid);
	return r < 0 && store_unreachable(st, r) ? offline_move(st, from, uid, to) : r;
}

int store_expunge(struct store *st, uint32_t id, uint32_t uid)
{
	int r;

	if (journal_first(st))
		return journaled(st, offline_expunge(st, id, uid));
	r = changes_expunge(st, id, uid);
	return r < 0 && store_unreachable(st, r) ? offline_expunge(st, id, uid) : r;
}

int store_set_flags(struct store *st, uint32_t id, uint32_t uid, const char *flags)
{
	int r;

	if (journal_first(st))
		return journaled(st, offline_set_flags(st, id, uid, flags));
	r = changes_set_flags(st, id, uid, flags);
	return r < 0 && store_unreachable(st, r) ? offline_set_flags(st, id, uid, flags) : r;
}

/* Whether a removal from mailbox id now is past the first RUN_SYNC of a run. */
static bool in_removal_run(struct store *st, uint32_t id)
{
	struct offline *o = st->offline;
	bool run;

	pthread_mutex_lock(&o->run_lock);
	run = o->run_mailbox == id && monotonic_ms() - o->run_last_ms <= RUN_GAP_MS &&
	      o->run_len >= RUN_SYNC;
	pthread_mutex_unlock(&o->run_lock);
	return run;
}

/*
 * A removal from mailbox id was made (done, or journaled) or not: only made
 * ones make a run, so a server that refuses them (no MOVE nor UIDPLUS) is
 * never answered for from the journal.
 */
static void note_removal(struct store *st, uint32_t id, bool made)
{
	struct offline *o = st->offline;
	int64_t now = monotonic_ms();

	pthread_mutex_lock(&o->run_lock);
	if (!made)
		o->run_len = 0;
	else if (o->run_mailbox == id && now - o->run_last_ms <= RUN_GAP_MS)
		o->run_len++;
	else
		o->run_len = 1;
	o->run_mailbox = id;
	o->run_last_ms = now;
	pthread_mutex_unlock(&o->run_lock);
}

int store_remove(struct store *st, uint32_t id, uint32_t uid, uint32_t trash, uint32_t *newuid)
{
	struct offline *o = st->offline;
	bool run = o && st->opts.offline_writes && o->replay && in_removal_run(st, id) &&
		   !pool_server_down(store_pool(st));
	int r;

	*newuid = 0;
	if (run || journal_first(st)) {
		r = journaled(st, journal_removal(st, id, uid, trash, true));
		/* A full journal with nothing in it to wait for: the usual way, at once. */
		if (r != -ENOSPC || journal_pending(st->journal) > 0) {
			if (o)
				note_removal(st, id, r == 0);
			return r;
		}
	}
	r = trash ? store_move(st, id, uid, trash, newuid) : store_expunge(st, id, uid);
	if (o)
		note_removal(st, id, r == 0);
	return r;
}

/* ---- mailboxes ---- */

/* Whether wire is top or a mailbox under it. */
static bool wire_under(const char *wire, const char *top, char delim)
{
	size_t len = strlen(top);

	return strncmp(wire, top, len) == 0 && (wire[len] == '\0' || (delim && wire[len] == delim));
}

/* Writes a mailbox change durably and shows it in the tree; the log tells. */
static int journal_mailbox_change(struct store *st, struct journal_op *op, uint32_t *id)
{
	int r = journal_add(st->journal, op);

	if (r == -ENOSPC) {
		log_error("offline: the journal is full (the cache's bound); the mailbox %s was not "
			  "%s", op->wire, op->kind == JOURNAL_CREATE ? "created" :
			  op->kind == JOURNAL_DELETE ? "deleted" : "renamed");
		return r;
	}
	if (r < 0)
		return r;
	r = store_tree_journaled(st, op, id);
	if (op->kind == JOURNAL_RENAME)
		log_info("offline: the mailbox %s is renamed to %s when the server answers; %zu "
			 "change(s) pending", op->wire, op->to, journal_pending(st->journal));
	else
		log_info("offline: the mailbox %s is %s when the server answers; %zu change(s) "
			 "pending", op->wire, op->kind == JOURNAL_CREATE ? "created" : "deleted",
			 journal_pending(st->journal));
	return r;
}

int offline_create_mailbox(struct store *st, uint32_t parent, const char *name, uint32_t *id)
{
	struct journal_op op = { .kind = JOURNAL_CREATE };
	uint32_t there;
	int r;

	if (!st->offline || !st->opts.offline_writes)
		return -EIO;
	if (store_lookup_mailbox(st, parent, name, &there) == 0)
		return -EEXIST;
	r = store_child_wire(st, parent, name, &op.wire);
	if (r == 0)
		r = journal_mailbox_change(st, &op, id);
	/* One of that name removed offline before: what was kept of it is not this one's. */
	if (r == 0)
		listing_cache_forget(store_body_cache(st), op.wire);
	free(op.wire);
	return r;
}

int offline_delete_mailbox(struct store *st, uint32_t id)
{
	struct journal_op op = { .kind = JOURNAL_DELETE };
	struct store_msg *msgs = NULL;
	size_t n = 0;
	bool selectable;
	int r;

	if (!st->offline || !st->opts.offline_writes)
		return -EIO;
	r = store_childless_wire(st, id, &selectable, &op.wire);
	if (r < 0)
		return r;
	if (selectable) {
		/* Empty as last listed, with what waits laid over: never a mailbox of mail. */
		r = store_messages(st, id, &msgs, &n, &op.uidvalidity);
		free(msgs);
		if (r < 0) {
			log_error("offline: the messages of %s were never listed here, so it cannot be "
				  "told empty; it is removed only while the server answers", op.wire);
			r = -EIO;
		} else if (n || journal_moving_into(st->journal, op.wire)) {
			r = -ENOTEMPTY;
		}
	}
	if (r == 0)
		r = journal_mailbox_change(st, &op, &id);
	free(op.wire);
	return r;
}

int offline_rename_mailbox(struct store *st, uint32_t id, uint32_t newparent, const char *newname)
{
	struct journal_op op = { .kind = JOURNAL_RENAME };
	struct store_mailbox_ref *refs = NULL;
	size_t nrefs = 0;
	char delim = store_delimiter(st, id);
	uint32_t there;
	int r;

	if (!st->offline || !st->opts.offline_writes)
		return -EIO;
	op.wire = store_mailbox_wire(st, id);
	if (!op.wire)
		return -ENOENT;
	r = store_child_wire(st, newparent, newname, &op.to);
	if (r < 0)
		goto out;
	if (store_lookup_mailbox(st, newparent, newname, &there) == 0) {
		r = there == id ? 0 : -EEXIST;
		goto out;
	}
	if (strcasecmp(op.wire, "INBOX") == 0) {
		/* RENAME of INBOX moves its mail and leaves it empty (RFC 3501 6.3.5). */
		log_error("offline: INBOX is renamed only while the server answers");
		r = -EIO;
		goto out;
	}
	/* Those name it by its old name: shown and made right only in order. */
	if (tree_messages_pending(st->journal, op.wire, delim)) {
		log_error("offline: changes to messages in %s wait for the server; it is renamed "
			  "only after them (user.imapfs.pending: %zu)", op.wire,
			  journal_pending(st->journal));
		r = -EBUSY;
		goto out;
	}
	r = store_mailbox_refs(st, &refs, &nrefs);
	if (r == 0)
		r = journal_mailbox_change(st, &op, &id);
	/* What is kept on disk goes with it: it stays readable until the server answers. */
	for (size_t i = 0; r == 0 && i < nrefs; i++) {
		char *now;

		if (!wire_under(refs[i].wire, op.wire, delim) ||
		    asprintf(&now, "%s%s", op.to, refs[i].wire + strlen(op.wire)) < 0)
			continue;
		store_kept_renamed(st, refs[i].wire, now);
		free(now);
	}
	store_mailbox_refs_free(refs, nrefs);
out:
	free(op.wire);
	free(op.to);
	return r;
}

/*
 * Mailbox changes name mailboxes by name, so none overtakes a change
 * journaled before it: while the server answers they wait for the journal
 * to drain (rmdir after rm -r: the messages moved out must be out before
 * DELETE); while it is away they are journaled after it. 1: journal it;
 * 0: make it at the server now; -EIO: the journal does not drain.
 */
static int mailbox_change_way(struct store *st)
{
	if (!st->offline || !st->opts.offline_writes)
		return 0;
	if (pool_server_down(store_pool(st)))
		return 1;
	if (store_settle(st, 60000))
		return 0;
	if (pool_server_down(store_pool(st)))
		return 1;
	log_error("changes wait in the journal (user.imapfs.pending: %zu); a mailbox is made, "
		  "removed or renamed only after them", journal_pending(st->journal));
	return -EIO;
}

/* Whether a mailbox change that failed so (r) is journaled instead. */
static bool journal_instead(struct store *st, int r)
{
	return r < 0 && store_unreachable(st, r) && st->offline && st->opts.offline_writes;
}

int store_create_mailbox(struct store *st, uint32_t parent, const char *name, uint32_t *id)
{
	int way = mailbox_change_way(st), r;

	if (way < 0)
		return way;
	if (way == 0 && !journal_instead(st, r = changes_create_mailbox(st, parent, name, id)))
		return r;
	return offline_create_mailbox(st, parent, name, id);
}

int store_delete_mailbox(struct store *st, uint32_t id)
{
	int way = mailbox_change_way(st), r;

	if (way < 0)
		return way;
	if (way == 0 && !journal_instead(st, r = changes_delete_mailbox(st, id)))
		return r;
	return offline_delete_mailbox(st, id);
}

int store_rename_mailbox(struct store *st, uint32_t id, uint32_t newparent, const char *newname)
{
	int way = mailbox_change_way(st), r;

	if (way < 0)
		return way;
	if (way == 0 && !journal_instead(st, r = changes_rename_mailbox(st, id, newparent, newname)))
		return r;
	return offline_rename_mailbox(st, id, newparent, newname);
}

int store_trash_mailbox(struct store *st, uint32_t *id)
{
	int r;

	for (int attempt = 0; attempt < 2; attempt++) {
		*id = store_find_trash(st);
		if (*id)
			return 0;
		/* Offline too: rm then moves its messages to the Trash made for them. */
		r = store_create_mailbox(st, STORE_ROOT_ID, "Trash", id);
		if (r == 0) {
			log_info("created the mailbox Trash for deleted messages");
			return 0;
		}
		if (r != -EEXIST)
			return r;
		/* Another client made it meanwhile: store_create_mailbox relisted. */
	}
	return -EIO;
}

void offline_open(struct store *st)
{
	struct offline *o;
	int r;

	if (!st->bodies)
		return;
	o = calloc(1, sizeof(*o));
	if (!o)
		return;
	r = journal_open(body_cache_account_fd(st->bodies), st->opts.cache_size, &o->j);
	if (r < 0) {
		log_warn("offline: %s; changes fail while the server cannot be reached",
			 r == -EBUSY ? "another mount of this account holds the journal"
				     : "cannot open the journal in the cache directory");
		free(o);
		return;
	}
	if (journal_pending(o->j))
		log_info("offline: %zu change(s) made while the server could not be reached are "
			 "pending", journal_pending(o->j));
	pthread_mutex_init(&o->run_lock, NULL);
	st->offline = o;
	st->journal = o->j;
}

void offline_start(struct store *st)
{
	struct offline *o = st->offline;
	int r;

	if (!o || o->replay)
		return;
	r = replay_start(st, o->j, &o->replay);
	if (r < 0)
		log_error("journal: cannot start replaying: %s; changes journaled wait for the "
			  "next mount", strerror(-r));
}

void offline_close(struct store *st)
{
	struct offline *o = st->offline;

	if (!o)
		return;
	replay_stop(o->replay);
	st->journal = NULL;
	journal_close(o->j);
	pthread_mutex_destroy(&o->run_lock);
	free(o);
	st->offline = NULL;
}

void store_stop_changes(struct store *st)
{
	struct offline *o = st->offline;

	if (!o || !o->replay)
		return;
	/* What -o writeback took is carried out first, if the server lets it. */
	if (journal_pending(o->j) && !pool_server_down(store_pool(st)) &&
	    !replay_settle(o->replay, 30000))
		log_warn("journal: %zu change(s) still pending at unmount; they are carried out by "
			 "the next mount with this cache", journal_pending(o->j));
	replay_stop(o->replay);
	o->replay = NULL;
}

char *store_journal_error(struct store *st)
{
	return st->offline ? replay_last_error(st->offline->replay) : NULL;
}

bool store_settle(struct store *st, unsigned ms)
{
	if (!st->offline || journal_pending(st->journal) == 0)
		return true;
	/* Nothing drains while the server is away, or without the thread: no use waiting. */
	if (pool_server_down(store_pool(st)) || !st->offline->replay)
		return false;
	return replay_settle(st->offline->replay, ms);
}

size_t store_pending_changes(struct store *st)
{
	return journal_pending(st->journal);
}

uint64_t store_changes_ended(struct store *st)
{
	return journal_ended(st->journal);
}
