/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * IMAP commands about mailboxes, over one session: selecting one as of a
 * UIDVALIDITY, LIST, STATUS, GETQUOTAROOT, CREATE, DELETE, RENAME.
 *
 * This folder (driver/) is the one place that writes IMAP command text and
 * reads the answers into typed results; the store above decides what to ask
 * and keeps the model. Every function runs on a session the caller holds
 * (the store's pool hands them out), returns 0 or -errno (the completion's,
 * see imap/codes.h; -EIO when the connection failed) and never retries: the
 * pool decides that.
 */
#ifndef IMAPFS_DRIVER_MAILBOX_H
#define IMAPFS_DRIVER_MAILBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session/session.h"

/*
 * Makes wire the session's selected mailbox (EXAMINE, read-only), and
 * selects it afresh when the session's view is of an older UIDVALIDITY (the
 * mailbox was deleted and created again). sel is what the server reported.
 * uidvalidity 0 (not known yet): the view the session has, or gets.
 */
int driver_select_current(struct session *s, const char *wire, uint32_t uidvalidity,
			  struct session_mailbox *sel);
/* The same, and -ESTALE if the mailbox now has another UIDVALIDITY. */
int driver_select_valid(struct session *s, const char *wire, uint32_t uidvalidity);
/*
 * Dovecot 2.3 can answer STATUS and EXAMINE of a mailbox deleted and created
 * again "NO Mailbox was deleted under us" on a connection that had the old
 * one selected, for as long as that connection lives; a new connection sees
 * the new mailbox. Given such a code-less refusal r (-EIO on a live session
 * that has had a mailbox selected), drops the session so that the pool runs
 * the job again on a fresh one. Returns r.
 */
int driver_refused_here(struct session *s, int r);
/*
 * NOOP: a session that has had a mailbox selected for a while sees messages
 * another client added only once the server told it (EXISTS), so a UID FETCH
 * of one listed on another session may answer nothing. Call it when a fetch
 * found nothing, then fetch once more.
 */
int driver_catch_up(struct session *s);
/* UNSELECT (or CLOSE, which cannot expunge after EXAMINE) and forget the selection. */
int driver_unselect(struct session *s);

/* Special uses of a mailbox (RFC 6154), as LIST marks them: a bit each. */
enum driver_special_use {
	DRIVER_USE_ALL = 1 << 0,
	DRIVER_USE_ARCHIVE = 1 << 1,
	DRIVER_USE_DRAFTS = 1 << 2,
	DRIVER_USE_FLAGGED = 1 << 3,
	DRIVER_USE_JUNK = 1 << 4,
	DRIVER_USE_SENT = 1 << 5,
	DRIVER_USE_TRASH = 1 << 6,
};
/* The attributes of the uses in bits, "\\Sent \\Trash", into buf; "" for none. */
void driver_special_use_text(unsigned bits, char *buf, size_t size);

/* One mailbox as LIST names it. wire is valid during the call only. */
struct driver_list_entry {
	const char *wire; /* "INBOX" spelt so, whatever the server's case */
	char delim;       /* '\0' for a flat namespace */
	bool noselect;    /* \Noselect or \NonExistent */
	bool trash;       /* \Trash (RFC 6154) */
	unsigned special_use; /* enum driver_special_use bits */
};
/*
 * Whether this server's connections stop seeing other clients' changes to
 * the mailbox tree: Dovecot 2.3's long-lived connections keep listing a
 * mailbox another client renamed and deleted (maildir with LAYOUT=fs) and
 * miss ones it created (sdbox, after a while), and its NOTIFY tells of
 * renames and deletions late or never; a new connection lists the truth.
 * Known by the greeting ("Dovecot ready." unless the admin changed it).
 */
bool driver_tree_goes_stale(const struct session *s);
/*
 * LIST "" "*": every mailbox, each given to fn; fn's -errno stops and is
 * returned. On Dovecot (driver_tree_goes_stale) with LIST-STATUS, each
 * selectable mailbox's STATUS is asked too, and one the server then says
 * does not exist ("* NO Mailbox doesn't exist") is left out: Dovecot writes
 * a deletion into its list index up to a second late, and until then even
 * a new connection lists the mailbox.
 */
int driver_list(struct session *s, int (*fn)(void *ctx, const struct driver_list_entry *e),
		void *ctx);

struct driver_status {
	uint32_t uidvalidity, uidnext, messages;
	uint64_t highestmodseq; /* 0 without CONDSTORE */
};
/*
 * STATUS of wire: what the server holds now, even where this session has an
 * older view of the mailbox selected (asks HIGHESTMODSEQ where CONDSTORE is).
 */
int driver_status(struct session *s, const char *wire, struct driver_status *out);
/*
 * STATUS of wire as the server holds it now, even on a session that has it
 * selected (whose own view may lag: Dovecot's [CLIENTBUG]); EXAMINE where
 * STATUS is refused on this connection.
 */
int driver_current_status(struct session *s, const char *wire, struct driver_status *c);

/* STATUS (MESSAGES) only: how many messages wire holds. */
int driver_count(struct session *s, const char *wire, uint32_t *messages);

/* GETQUOTAROOT INBOX: STORAGE used and limit in KiB; -ENOTSUP without QUOTA. */
int driver_quota(struct session *s, uint64_t *used_kib, uint64_t *limit_kib);

/* CREATE, DELETE, RENAME of wire names; a mailbox selected here is unselected first. */
int driver_create(struct session *s, const char *wire);
int driver_delete(struct session *s, const char *wire);
int driver_rename(struct session *s, const char *wire, const char *new_wire);

#endif
