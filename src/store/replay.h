/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The journal's replay (store/journal.h): a thread that carries out the
 * pending changes, oldest first, each at most once, once the server
 * answers. Kicked by every change journaled while it answers (-o writeback),
 * else it looks every 1 to 5 seconds while changes wait.
 *
 * Consecutive changes of one kind to one mailbox (moves to one target, flag
 * changes adding and removing the same flags, expunges) go out together:
 * one UID FETCH to see which of their UIDs are still there, then one UID
 * MOVE, UID STORE or UID EXPUNGE over those, and one journal write for their
 * completions. What the server no longer holds is dropped with a log line
 * (expunged or moved away meanwhile, or already done just before a crash);
 * nothing is applied under another UIDVALIDITY; a move whose target was
 * deleted goes to the mailbox Recovered (made if need be). A change the
 * server refuses is dropped with a log line, and the mailbox is relisted, so
 * the message shows where it still is.
 *
 * Private to the store layer; offline.c starts and stops it.
 */
#ifndef IMAPFS_STORE_REPLAY_H
#define IMAPFS_STORE_REPLAY_H

#include <stdbool.h>

struct store;
struct journal;
struct replay;

/* Starts the thread over j (which outlives it). 0 or -errno. */
int replay_start(struct store *st, struct journal *j, struct replay **out);
/* Something was journaled: carry it out now (if the server answers). NULL is fine. */
void replay_kick(struct replay *r);
/*
 * Waits (kicking) until nothing is pending or ms have passed: true if
 * nothing is pending. For what must not overtake the journal (rmdir).
 */
bool replay_settle(struct replay *r, unsigned ms);
/* The last change that was not made, as the log said it (malloc'd), or NULL. */
char *replay_last_error(struct replay *r);
/* Stops and joins the thread; NULL is fine. */
void replay_stop(struct replay *r);

#endif
