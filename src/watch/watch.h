/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The live view: a connection of its own that listens for other clients'
 * changes and turns them into store updates and kernel invalidations.
 *
 * With NOTIFY (RFC 5465) it hears about every mailbox: new and expunged
 * messages as STATUS, mailboxes created, deleted or renamed as LIST, and the
 * flags of the mailbox used last (which it keeps selected). Without NOTIFY it
 * IDLEs (RFC 2177) on the mailbox used last and polls the others' STATUS at a
 * bounded rate. IDLE is renewed before the server's 30-minute limit; a lost
 * connection is retried with backoff, and while it is down listings fall back
 * to short lifetimes.
 *
 * What it hears it hands to the store, whose sink (see store_set_sink) turns
 * what changed into kernel invalidations.
 */
#ifndef IMAPFS_WATCH_H
#define IMAPFS_WATCH_H

#include <stdint.h>

#include "store/store.h"

struct watch_options {
	unsigned poll_interval_s; /* STATUS poll of the other mailboxes without NOTIFY */
	int listing_ttl_ms;       /* listings' lifetime while the watcher is connected */
	int fallback_ttl_ms;      /* ... and while it is not */
};

struct watch;

/* Starts the watcher thread. cfg and st must outlive it. */
int watch_start(struct store *st, const struct session_config *cfg,
		const struct watch_options *opts, struct watch **out);
/* Stops it (within about a second) and frees it. NULL is fine. */
void watch_stop(struct watch *w);

#endif
