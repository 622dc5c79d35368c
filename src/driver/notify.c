/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "driver/notify.h"

#include <string.h>

#include "imap/parser.h"

bool driver_notify_set(struct session *s)
{
	return session_has_cap(s, "NOTIFY") &&
	       session_run_text(s, "NOTIFY SET (selected (MessageNew MessageExpunge FlagChange)) "
				   "(personal (MessageNew MessageExpunge MailboxName))",
				NULL, NULL) == 0;
}

bool driver_has_idle(const struct session *s)
{
	return session_has_cap(s, "IDLE");
}

struct idle_run {
	void (*fn)(void *ctx, const struct driver_event *e);
	int (*tick)(void *ctx);
	void *ctx;
};

static int on_untagged(void *ctx, const struct imap_response *r)
{
	struct idle_run *run = ctx;
	struct driver_event e = { 0 };

	if (strcmp(r->name, "STATUS") == 0) {
		e.kind = DRIVER_EVENT_STATUS;
		e.wire = imap_value_text(imap_list_item(&r->args, 0));
		if (!e.wire)
			return 0;
	} else if (strcmp(r->name, "LIST") == 0) {
		e.kind = DRIVER_EVENT_TREE;
	} else if (strcmp(r->name, "EXISTS") == 0 || strcmp(r->name, "EXPUNGE") == 0 ||
		   strcmp(r->name, "VANISHED") == 0) {
		e.kind = DRIVER_EVENT_MESSAGES;
	} else if (strcmp(r->name, "FETCH") == 0) {
		/* A flag changed: the counters do not show it, so the listing is refetched. */
		e.kind = DRIVER_EVENT_FLAGS;
	} else {
		return 0;
	}
	run->fn(run->ctx, &e);
	return 0;
}

static int idle_tick(void *ctx)
{
	struct idle_run *run = ctx;

	return run->tick(run->ctx);
}

int driver_idle(struct session *s, void (*fn)(void *ctx, const struct driver_event *e),
		int (*tick)(void *ctx), void *ctx, int max_ms)
{
	struct idle_run run = { fn, tick, ctx };

	return session_idle(s, on_untagged, idle_tick, &run, max_ms);
}
