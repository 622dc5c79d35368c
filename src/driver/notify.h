/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Hearing other clients' changes on one session: NOTIFY SET (RFC 5465) for
 * every personal mailbox, IDLE (RFC 2177) with what the server says during it
 * decoded into events, and NOOP where there is no IDLE.
 */
#ifndef IMAPFS_DRIVER_NOTIFY_H
#define IMAPFS_DRIVER_NOTIFY_H

#include <stdbool.h>

#include "session/session.h"

enum driver_event_kind {
	DRIVER_EVENT_STATUS,   /* wire's counters changed (NOTIFY's STATUS) */
	DRIVER_EVENT_TREE,     /* a mailbox was created, deleted or renamed (LIST) */
	DRIVER_EVENT_MESSAGES, /* the selected mailbox gained or lost messages */
	DRIVER_EVENT_FLAGS,    /* a flag of a message of the selected mailbox changed */
};

struct driver_event {
	enum driver_event_kind kind;
	const char *wire; /* STATUS: the mailbox; valid during the call only */
};

/*
 * Asks the server to tell new and expunged messages and flag changes of the
 * selected mailbox, and new and expunged messages and mailbox name changes
 * of every personal one. Whether it is on (false: no NOTIFY, or refused).
 */
bool driver_notify_set(struct session *s);
bool driver_has_idle(const struct session *s);
/*
 * IDLE until tick(ctx), called about every 200 ms, returns non-zero, or
 * max_ms have passed; every change heard goes to fn as it comes.
 */
int driver_idle(struct session *s, void (*fn)(void *ctx, const struct driver_event *e),
		int (*tick)(void *ctx), void *ctx, int max_ms);

#endif
