/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fetching a mailbox's listing (UID, size, INTERNALDATE, flags of every
 * message) over one session, as cheaply as the server allows: nothing when
 * STATUS shows nothing changed since the listing the caller knows, a delta
 * (RFC 7162 CONDSTORE: new messages, flags changed since a MODSEQ, and with
 * ESEARCH the known UIDs still there) when it can, else everything.
 *
 * Rows go to the caller's sink as they arrive; the caller owns what it makes
 * of them. A retry (the pool runs a job again on another session) calls the
 * sink afresh from the start, so the caller empties what it gathered before
 * each driver_fetch_listing().
 */
#ifndef IMAPFS_DRIVER_LISTING_H
#define IMAPFS_DRIVER_LISTING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/uid_set.h"
#include "session/session.h"

/* The listing the caller holds, from this mount or kept on disk. */
struct driver_listing_known {
	bool known;
	uint32_t uidvalidity, uidnext, exists;
	uint64_t modseq;
	/* The watcher saw a flag change: without CONDSTORE only a full listing shows it. */
	bool flags_changed;
	/*
	 * The watcher heard of messages come or gone, and of nothing else
	 * (NOTIFY's MessageNew and MessageExpunge): with the same UIDNEXT and
	 * count the listing is unchanged, even if HIGHESTMODSEQ moved (our own
	 * APPEND, or flags: those the next listing asks, as the known modseq
	 * is kept).
	 */
	bool counts_only;
};

struct driver_listing_sink {
	/*
	 * A message of the listing; flags is its flag list as text ("\Seen
	 * $Work", \Recent left out) or NULL if too long to keep. -errno stops.
	 */
	int (*message)(void *ctx, uint32_t uid, uint64_t size, int64_t date, const char *flags);
	/* DELTA: a known message whose flags changed. */
	int (*flags)(void *ctx, uint32_t uid, const char *flags);
	void *ctx;
};

enum driver_listing_kind {
	DRIVER_LISTING_FULL,      /* the messages given are every message */
	DRIVER_LISTING_UNCHANGED, /* the known listing is still right; none given */
	DRIVER_LISTING_DELTA,     /* new messages and flag changes given; remaining below */
};

struct driver_listing {
	enum driver_listing_kind kind;
	/*
	 * The mailbox's state the listing is of: STATUS's snapshot, taken
	 * before anything was fetched, so whatever changed after it is asked
	 * again next time, never missed.
	 */
	struct session_mailbox sel;
	/* DELTA, when messages came or went: the known UIDs still there (ESEARCH ALL). */
	bool have_remaining;
	struct imap_uid_range *remaining; /* malloc'd; the caller frees it */
	size_t nremaining;
};

int driver_fetch_listing(struct session *s, const char *wire,
			 const struct driver_listing_known *known,
			 const struct driver_listing_sink *sink, struct driver_listing *out);

/*
 * The listing rows (sink->message) of the given UIDs (ascending) of the
 * selected mailbox only: UIDs no longer there give no row.
 */
int driver_fetch_rows(struct session *s, const uint32_t *uids, size_t n,
		      const struct driver_listing_sink *sink);

#endif
