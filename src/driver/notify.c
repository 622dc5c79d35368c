/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "driver/notify.h"

#include <errno.h>
#include <string.h>

#include "driver/acl.h"
#include "imap/command.h"
#include "imap/parser.h"

#define NOTIFY_BASE                                                                                \
	"NOTIFY SET (selected (MessageNew MessageExpunge FlagChange)) "                            \
	"(personal (MessageNew MessageExpunge MailboxName))"

/*
 * NOTIFY SET with, beside the personal namespace, the subtrees of the
 * others the server announces (shared folders, public ones): their owners'
 * changes are seen too. 0, or -errno.
 */
static int notify_other_namespaces(struct session *s)
{
	struct driver_namespace *ns = NULL;
	struct imap_cmd cmd;
	size_t n = 0, others = 0;
	int r = driver_namespaces(s, &ns, &n);

	if (r < 0)
		return r;
	imap_cmd_init(&cmd, session_has_cap(s, "LITERAL+"));
	imap_cmd_raw(&cmd, NOTIFY_BASE " (subtree (");
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(ns[i].prefix);

		if (ns[i].kind == DRIVER_NS_PERSONAL || !len)
			continue;
		/* "shared/" names the subtree "shared" */
		if (ns[i].delim && ns[i].prefix[len - 1] == ns[i].delim)
			len--;
		if (others++)
			imap_cmd_sp(&cmd);
		imap_cmd_string(&cmd, ns[i].prefix, len);
	}
	imap_cmd_raw(&cmd, ") (MessageNew MessageExpunge MailboxName))");
	r = others ? session_run(s, &cmd, NULL, NULL) : -ENOENT;
	imap_cmd_free(&cmd);
	driver_namespaces_free(ns, n);
	return r;
}

bool driver_notify_set(struct session *s)
{
	if (!session_has_cap(s, "NOTIFY"))
		return false;
	if (notify_other_namespaces(s) == 0)
		return true;
	return session_alive(s) && session_run_text(s, NOTIFY_BASE, NULL, NULL) == 0;
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
