/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The journal of changes accepted while the server could not be reached
 * (disconnected mode, RFC 1733 and 4549), to be carried out when it answers
 * again, each exactly once:
 *
 *   <cache_dir>/<account hash>/journal
 *
 * An append-only file of records. A change is written and fdatasync'ed
 * before it is reported done to the user, so one accepted is never lost by a
 * crash or kill -9. A record is
 *   [u32 length][payload][SHA-256 of length and payload]
 * (host byte order: the file never leaves this machine). A torn record at
 * the end (a crash during a write) is cut off when the journal is opened;
 * a damaged one elsewhere ends the reading there, and the file is kept
 * aside as journal.damaged, with a log line, for a human to look at.
 *
 * A record holds an operation (its sequence number, kind and fields), the
 * completion of one (its sequence number), or the attempt of an APPEND.
 * The bytes of a message copied in live in a file of their own beside it,
 * named by the operation and removed with its completion. Pending are the operations
 * without a completion, in the order they were added; journal_done() appends
 * a completion durably once the server has done one, and the file is
 * emptied when nothing is pending.
 *
 * Bounded: past max_bytes of file and kept bytes, journal_add() and
 * journal_keep_bytes() fail with -ENOSPC and nothing already journaled is
 * touched; completions are always written.
 * Thread-safe (one lock, a leaf: nothing is called under it but the file).
 */
#ifndef IMAPFS_STORE_JOURNAL_H
#define IMAPFS_STORE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum journal_kind {
	JOURNAL_FLAGS = 1,   /* flags added and removed on one message */
	JOURNAL_MOVE = 2,    /* one message moved to another mailbox (mv, rm to Trash) */
	JOURNAL_EXPUNGE = 3, /* one message expunged (rm in Trash, -o delete=expunge) */
	JOURNAL_APPEND = 4,  /* a message copied in (cp): its bytes kept beside the journal */
	JOURNAL_CREATE = 5,  /* a mailbox made (mkdir) */
	JOURNAL_DELETE = 6,  /* an empty mailbox removed (rmdir), as of uidvalidity */
	JOURNAL_RENAME = 7,  /* a mailbox renamed (mv of a directory), with those under it */
};

/*
 * The first three kinds name one message: uid of wire as of uidvalidity.
 * JOURNAL_APPEND names its target wire (uidvalidity as last known, uid 0);
 * the last three name a mailbox by wire (uidvalidity as last known, or 0;
 * uid 0), JOURNAL_RENAME its new name in to.
 */
struct journal_op {
	enum journal_kind kind;
	uint64_t seq;          /* set by journal_add() */
	char *wire;            /* the mailbox's name on the wire */
	uint32_t uidvalidity, uid;
	char *add, *remove;    /* JOURNAL_FLAGS: IMAP flag lists ("\\Seen $Work"), maybe "" */
	char *to;              /* JOURNAL_MOVE: the target mailbox's name on the wire; RENAME: the new name */
	/* JOURNAL_APPEND, with its flags in add: */
	char *file;            /* where its bytes are kept (journal_keep_bytes()) */
	char *name;            /* the file name it was written under */
	char *msgid;           /* its Message-ID, "" if none: how a lost APPEND is found */
	int64_t date;          /* its INTERNALDATE */
	uint64_t size;
	/* Set by journal_tried(): an APPEND was sent when the mailbox had these. */
	uint32_t tried_uidvalidity, tried_uidnext;
};

struct journal;

/*
 * Opens (creating) the journal in the directory dirfd (the account's
 * directory of the cache), loading what is pending, and locks it (flock):
 * -EBUSY while another mount of the account has it. Returns 0, -errno.
 */
int journal_open(int dirfd, uint64_t max_bytes, struct journal **out);
/* NULL is fine. */
void journal_close(struct journal *j);

/* Appends op durably (fdatasync) and sets op->seq. 0, -ENOSPC, -errno. */
int journal_add(struct journal *j, struct journal_op *op);
/*
 * The same without the fdatasync, for -o writeback while the server
 * answers: a crash of imapfs loses nothing (the bytes are in the kernel),
 * a crash of the machine may lose the last changes, never mail (a move or
 * delete not journaled was not made). journal_sync(), any durable write or
 * completion makes it durable.
 */
int journal_add_unsynced(struct journal *j, struct journal_op *op);
int journal_sync(struct journal *j);
/*
 * Keeps size bytes of fd (from offset 0) in a new file beside the journal,
 * durably, for a JOURNAL_APPEND: *file (malloc'd) is its name, for
 * op->file. The bytes count towards the bound: -ENOSPC past it. A file no
 * pending operation names is removed at the next journal_open(); the
 * completion of its operation removes it.
 */
int journal_keep_bytes(struct journal *j, int fd, uint64_t size, char **file);
/* Removes a kept file that was not journaled after all. */
void journal_drop_bytes(struct journal *j, const char *file);
/* Opens a kept file for reading: 0 and *fd, or -errno. */
int journal_open_bytes(struct journal *j, const char *file, int *fd);
/*
 * Keeps a kept file, beside the journal, when its APPEND is given up (the
 * server refused it for good): mail is never thrown away. *aside is its new
 * name there, "refused-<token>-<name>" (malloc'd), for the log. 0, -errno.
 */
int journal_set_aside(struct journal *j, const char *file, const char *name, char **aside);
/*
 * Records durably, before the APPENDs seqs[0..n) are sent, the mailbox's
 * UIDVALIDITY and UIDNEXT then (one write): the next replay, if no
 * completion follows, looks for each message from there on before sending
 * it again.
 */
int journal_tried(struct journal *j, const uint64_t *seqs, size_t n, uint32_t uidvalidity,
		  uint32_t uidnext);
/*
 * Whether a pending APPEND into wire was written under name; if so, *size
 * and *date are its (either may be NULL). False for a NULL journal.
 */
bool journal_appending(struct journal *j, const char *wire, const char *name, uint64_t *size,
		       int64_t *date);
/*
 * Takes back the newest pending APPEND of name into wire (rm of it), as if
 * done, its bytes removed: 0; -EBUSY once journal_tried() named it (it may
 * be on the server), -ENOENT if none is pending. Atomic with journal_tried():
 * a copy is taken back before the replay tries it, or not at all.
 */
int journal_cancel_append(struct journal *j, const char *wire, const char *name);
/* Whether operation seq is still pending (not done, nor taken back). */
bool journal_holds(struct journal *j, uint64_t seq);
/* Records durably that operation seq was carried out (or dropped for good). */
int journal_done(struct journal *j, uint64_t seq);
/* The same for n operations at once, with one write and one fdatasync. */
int journal_done_many(struct journal *j, const uint64_t *seqs, size_t n);
/* Operations pending now (0 for a NULL journal). */
size_t journal_pending(struct journal *j);
/*
 * How many operations have left the journal since it was opened (done,
 * dropped or taken back, or read as done when opened; 0 for NULL): a
 * count that only grows, so what asks whether any of its own
 * pending ones ended compares this, not every one (store_changes_ended).
 */
uint64_t journal_ended(struct journal *j);
/* Whether a pending operation moves or copies a message into mailbox wire (false for NULL). */
bool journal_moving_into(struct journal *j, const char *wire);
/* Copies of the pending operations, oldest first; free with journal_ops_free(). */
int journal_pending_ops(struct journal *j, struct journal_op **ops, size_t *n);
void journal_ops_free(struct journal_op *ops, size_t n);

#endif
