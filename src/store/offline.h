/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Disconnected mode, the store's side (RFC 4549): changes made while the
 * server cannot be reached go into the journal (store/journal.h) kept with
 * the disk cache, show in the model at once, and are carried out by a thread
 * of their own once the server answers again, oldest first, each once.
 *
 * So far flag changes only (user.imap.flags): other changes still fail with
 * EIO while offline. A flag change is journaled as what the user added and
 * removed, and replayed as +FLAGS and -FLAGS, so what another client changed
 * meanwhile stays. Replay drops (with a log line) a change whose message was
 * expunged meanwhile or whose mailbox has another UIDVALIDITY now (the UID
 * may name other mail). Until replayed, the change is laid over every
 * listing of its mailbox, from the server or from disk, in this mount and
 * the next (the journal survives a crash or kill -9).
 *
 * Private to the store layer; store.c opens and closes it with the store.
 */
#ifndef IMAPFS_STORE_OFFLINE_H
#define IMAPFS_STORE_OFFLINE_H

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

#endif
