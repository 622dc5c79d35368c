/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Disconnected mode, the store's side (RFC 4549): changes made while the
 * server cannot be reached go into the journal (store/journal.h) kept with
 * the disk cache, show in the model at once, and are carried out by a thread
 * of their own once the server answers again, oldest first, each once.
 *
 * Copies in (cp), flag changes (user.imap.flags), moves (mv, rm to Trash)
 * and expunges of messages, and mailboxes made, removed and renamed (mkdir,
 * rmdir, mv; laid over the tree by store/tree_journal.c). A copy in is carried out exactly once: before its APPEND
 * is sent, the mailbox's UIDNEXT is journaled, and after a crash the
 * message is looked for from there on (by size and Message-ID) before it
 * is sent again. A
 * flag change is journaled as what the user added and removed, and replayed
 * as +FLAGS and -FLAGS, so what another client changed meanwhile stays.
 * Replay drops (with a log line) a change whose message was expunged (or
 * moved away) meanwhile, or whose mailbox has another UIDVALIDITY now (the
 * UID may name other mail); a move whose target was deleted goes to the
 * mailbox Recovered. Each is made at most once: replay first checks that
 * the mailbox still holds the UID, so one carried out just before a crash,
 * and not yet recorded, is not made twice. Until replayed, a change is laid
 * over every listing of its mailbox, from the server or from disk, in this
 * mount and the next (the journal survives a crash or kill -9).
 *
 * Private to the store layer; store.c opens and closes it with the store.
 */
#ifndef IMAPFS_STORE_OFFLINE_H
#define IMAPFS_STORE_OFFLINE_H

#include <stdbool.h>
#include <stdint.h>

struct store;

/* Opens the journal beside the disk cache (none without one). */
void offline_open(struct store *st);
/* Starts the replay thread (store_start_threads()). */
void offline_start(struct store *st);
/* Stops the replay thread and closes the journal. */
void offline_close(struct store *st);
/*
 * Journals the flags of message uid of mailbox id becoming flags (validated
 * text), the server being unreachable: 0 once it is durably journaled and
 * the model shows it, -EIO when there is no journal (or offline writes are
 * off), -ENOSPC past the journal's bound.
 */
int offline_set_flags(struct store *st, uint32_t id, uint32_t uid, const char *flags);
/*
 * Journals the move of message uid of mailbox from to mailbox to (mv, rm to
 * Trash), or its expunge: 0 once durably journaled, the message gone from
 * its mailbox's listing; errors as offline_set_flags(). The moved message
 * shows in its target once the server has it.
 */
int offline_move(struct store *st, uint32_t from, uint32_t uid, uint32_t to);
int offline_expunge(struct store *st, uint32_t id, uint32_t uid);
/*
 * Journals a copy in (cp) of size bytes of fd into mailbox id, written under
 * name: its bytes kept beside the journal, durably, before it returns 0;
 * errors as offline_set_flags(). maybe_sent: an APPEND of it failed with
 * the connection, so the server may hold it already (looked for first).
 */
int offline_append(struct store *st, uint32_t id, int fd, uint64_t size, const char *flags,
		   int64_t date, const char *name, bool maybe_sent);
/*
 * mkdir, rmdir and a rename of a mailbox (with those under it), journaled
 * while the server cannot be reached: 0 once durably journaled and shown in
 * the tree; errors as offline_set_flags(), and as the same calls at the
 * server: -EEXIST, -ENOTEMPTY (a mailbox to delete must be empty as last
 * listed, with nothing moving or copied into it; -EIO if its messages were
 * never listed), -EBUSY to rename one that journaled changes to messages
 * name (they name it by its old name), -EIO for INBOX. A renamed mailbox's
 * listing and bodies on disk go with it, so it stays readable.
 */
int offline_create_mailbox(struct store *st, uint32_t parent, const char *name, uint32_t *id);
int offline_delete_mailbox(struct store *st, uint32_t id);
int offline_rename_mailbox(struct store *st, uint32_t id, uint32_t newparent, const char *newname);

#endif
