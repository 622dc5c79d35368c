/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "driver/mailbox.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "imap/command.h"
#include "imap/parser.h"
#include "log.h"

/* Runs a command of fixed text and its mailbox argument, then the rest. */
static int run_on_mailbox(struct session *s, const char *verb, const char *wire,
			  const char *wire2, const char *tail, session_data_fn fn, void *ctx)
{
	struct imap_cmd cmd;
	int r;

	imap_cmd_init(&cmd, session_has_cap(s, "LITERAL+"));
	imap_cmd_raw(&cmd, verb);
	imap_cmd_sp(&cmd);
	imap_cmd_astring(&cmd, wire, strlen(wire));
	if (wire2) {
		imap_cmd_sp(&cmd);
		imap_cmd_astring(&cmd, wire2, strlen(wire2));
	}
	if (tail)
		imap_cmd_raw(&cmd, tail);
	r = session_run(s, &cmd, fn, ctx);
	imap_cmd_free(&cmd);
	return r;
}

/* ---- selection ---- */

int driver_refused_here(struct session *s, int r)
{
	/*
	 * Only a connection that has had a mailbox selected holds such an old
	 * view; one that never had (the pool's retry, just logged in) is
	 * refused because the mailbox is gone, and reconnecting again would
	 * only delay the relisting that shows it.
	 */
	if (r == -EIO && session_alive(s) && session_has_selected(s))
		session_abandon(s, "the server refuses on this connection a mailbox that "
				   "exists (deleted and created again?); reconnecting");
	return r;
}

int driver_select_current(struct session *s, const char *wire, uint32_t uidvalidity,
			  struct session_mailbox *sel)
{
	int r = session_select(s, wire, false, sel);

	if (r == 0 && uidvalidity && sel->uidvalidity != uidvalidity) {
		/* Deleted and created again since this session selected it. */
		session_unselect(s);
		r = session_select(s, wire, false, sel);
	}
	return driver_refused_here(s, r);
}

int driver_select_valid(struct session *s, const char *wire, uint32_t uidvalidity)
{
	struct session_mailbox sel;
	int r = driver_select_current(s, wire, uidvalidity, &sel);

	if (r == 0 && sel.uidvalidity != uidvalidity)
		r = -ESTALE;
	return r;
}

int driver_catch_up(struct session *s)
{
	return session_run_text(s, "NOOP", NULL, NULL);
}

/*
 * Without UNSELECT, CLOSE leaves a mailbox opened by EXAMINE harmlessly, but
 * one opened by SELECT only after expunging every message marked \Deleted
 * there, other clients' too (RFC 3501 6.4.2). A SELECT or EXAMINE that
 * fails leaves no mailbox selected and expunges nothing (6.3.1): one of a
 * name no server has.
 */
#define NO_SUCH_MAILBOX "EXAMINE imapfs-unselect-2f6b91c4e0d8"

int driver_unselect(struct session *s)
{
	const char *how = session_has_cap(s, "UNSELECT")      ? "UNSELECT"
			  : session_selected_writable(s) ? NO_SUCH_MAILBOX
							 : "CLOSE";
	int r = session_run_text(s, how, NULL, NULL);

	/* A refusal is no harm: the next SELECT or EXAMINE replaces the view anyway. */
	if (r < 0 && !session_alive(s))
		return r;
	session_unselect(s);
	return 0;
}

/* ---- LIST ---- */

bool driver_tree_goes_stale(const struct session *s)
{
	return strstr(session_greeting(s), "Dovecot") != NULL;
}

struct list_run {
	int (*fn)(void *ctx, const struct driver_list_entry *e);
	void *ctx;
	bool checked;                      /* RETURN (STATUS) asked: see driver_list */
	bool has_pending;
	struct driver_list_entry pending;  /* a selectable one, until its STATUS or NO */
};

/* Gives the pending entry to fn. */
static int flush(struct list_run *run)
{
	int r = 0;

	if (run->has_pending) {
		r = run->fn(run->ctx, &run->pending);
		free((char *)run->pending.wire);
		run->pending.wire = NULL;
		run->has_pending = false;
	}
	return r;
}

static const struct {
	const char *name;
	unsigned bit;
} special_uses[] = {
	{ "\\All", DRIVER_USE_ALL },       { "\\Archive", DRIVER_USE_ARCHIVE },
	{ "\\Drafts", DRIVER_USE_DRAFTS }, { "\\Flagged", DRIVER_USE_FLAGGED },
	{ "\\Junk", DRIVER_USE_JUNK },     { "\\Sent", DRIVER_USE_SENT },
	{ "\\Trash", DRIVER_USE_TRASH },
};

void driver_special_use_text(unsigned bits, char *buf, size_t size)
{
	size_t len = 0;

	if (size)
		buf[0] = '\0';
	for (size_t u = 0; u < sizeof(special_uses) / sizeof(special_uses[0]); u++) {
		int n;

		if (!(bits & special_uses[u].bit))
			continue;
		n = snprintf(buf + len, size - len, "%s%s", len ? " " : "", special_uses[u].name);
		if (n < 0 || (size_t)n >= size - len)
			return;
		len += (size_t)n;
	}
}

static int on_list(void *ctx, const struct imap_response *r)
{
	struct list_run *run = ctx;
	const struct imap_value *flags = imap_list_item(&r->args, 0);
	const struct imap_value *delim = imap_list_item(&r->args, 1);
	const struct imap_value *name = imap_list_item(&r->args, 2);
	struct driver_list_entry e = { 0 };
	int err;

	if (run->has_pending && r->status == IMAP_STATUS_NO) {
		/* Listed, but it cannot be opened: deleted, and the list not yet told. */
		log_debug("mailbox %s is listed but does not exist (%s); left out",
			  run->pending.wire, r->text ? r->text : "");
		free((char *)run->pending.wire);
		run->pending.wire = NULL;
		run->has_pending = false;
		return 0;
	}
	if (strcmp(r->name, "STATUS") == 0)
		return flush(run);
	if (strcmp(r->name, "LIST") != 0)
		return 0;
	err = flush(run);
	if (err < 0)
		return err;
	if (!flags || flags->type != IMAP_LIST || !name || !imap_value_text(name)) {
		log_warn("ignoring a malformed LIST response");
		return 0;
	}
	if (strlen(name->str) != name->len || name->len == 0) {
		log_warn("ignoring a mailbox whose name is empty or holds NUL");
		return 0;
	}
	if (delim && delim->type == IMAP_STRING && delim->len == 1)
		e.delim = delim->str[0];
	for (size_t i = 0; i < flags->count; i++) {
		if (imap_value_is(&flags->items[i], "\\Noselect") ||
		    imap_value_is(&flags->items[i], "\\NonExistent"))
			e.noselect = true;
		for (size_t u = 0; u < sizeof(special_uses) / sizeof(special_uses[0]); u++)
			if (imap_value_is(&flags->items[i], special_uses[u].name))
				e.special_use |= special_uses[u].bit;
	}
	e.trash = e.special_use & DRIVER_USE_TRASH;
	/* INBOX is case-insensitive (RFC 3501 §5.1): one spelling for all. */
	e.wire = strcasecmp(name->str, "INBOX") == 0 ? "INBOX" : name->str;
	if (!run->checked || e.noselect)
		return run->fn(run->ctx, &e);
	run->pending = e;
	run->pending.wire = strdup(e.wire);
	if (!run->pending.wire)
		return -ENOMEM;
	run->has_pending = true;
	return 0;
}

int driver_list(struct session *s, int (*fn)(void *ctx, const struct driver_list_entry *e),
		void *ctx)
{
	struct list_run run = { fn, ctx, false, false, { 0 } };
	int r;

	run.checked = driver_tree_goes_stale(s) && session_has_cap(s, "LIST-STATUS");
	/* An extended LIST gives special-use attributes (\Trash) only when asked (RFC 6154). */
	if (run.checked && session_has_cap(s, "SPECIAL-USE"))
		r = session_run_text(s, "LIST \"\" \"*\" RETURN (SPECIAL-USE STATUS (UIDVALIDITY))",
				     on_list, &run);
	else if (run.checked)
		r = session_run_text(s, "LIST \"\" \"*\" RETURN (STATUS (UIDVALIDITY))", on_list,
				     &run);
	else
		r = session_run_text(s, "LIST \"\" \"*\"", on_list, &run);
	if (r == 0)
		r = flush(&run);
	free((char *)run.pending.wire); /* left by a failure */
	return r;
}

/* ---- STATUS and QUOTA ---- */

struct status_result {
	struct driver_status *out;
	bool got;
};

static int on_status(void *ctx, const struct imap_response *r)
{
	struct status_result *res = ctx;
	const struct imap_value *att = imap_list_item(&r->args, 1);
	uint64_t v;

	if (strcmp(r->name, "STATUS") != 0)
		return 0;
	res->got = true;
	if (imap_value_number(imap_list_lookup(att, "UIDVALIDITY"), &v))
		res->out->uidvalidity = (uint32_t)v;
	if (imap_value_number(imap_list_lookup(att, "UIDNEXT"), &v))
		res->out->uidnext = (uint32_t)v;
	if (imap_value_number(imap_list_lookup(att, "MESSAGES"), &v))
		res->out->messages = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	if (imap_value_number(imap_list_lookup(att, "HIGHESTMODSEQ"), &v))
		res->out->highestmodseq = v;
	return 0;
}

int driver_status(struct session *s, const char *wire, struct driver_status *out)
{
	struct status_result res = { .out = out };
	int r;

	memset(out, 0, sizeof(*out));
	r = run_on_mailbox(s, "STATUS", wire, NULL,
			   session_has_cap(s, "CONDSTORE")
				   ? " (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)"
				   : " (MESSAGES UIDNEXT UIDVALIDITY)",
			   on_status, &res);
	if (r == 0 && !res.got)
		r = -EIO; /* OK without the answer: a server we cannot follow */
	return r;
}

int driver_current_status(struct session *s, const char *wire, struct driver_status *c)
{
	int r;

	if (session_selected(s) && strcmp(session_selected(s), wire) == 0) {
		r = driver_unselect(s);
		if (r < 0)
			return r;
	}
	r = driver_status(s, wire, c);
	if (r == -EIO && session_alive(s)) {
		/* Refused on this connection? EXAMINE tells (see driver_refused_here). */
		struct session_mailbox sel;

		r = driver_refused_here(s, session_select(s, wire, false, &sel));
		*c = (struct driver_status){ .uidvalidity = sel.uidvalidity, .uidnext = sel.uidnext,
					     .messages = sel.exists,
					     .highestmodseq = sel.highestmodseq };
		/*
		 * Refused both, without a code: the mailbox is gone, maybe while
		 * the STATUS ran ("Mailbox was deleted under us"). Dovecot 2.3
		 * (maildir) then leaves that STATUS's uidlist lock in the renamed
		 * mailbox for as long as this connection's server process lives,
		 * and every connection that opens the new name waits for it: the
		 * tree's LIST-STATUS until our timeout, other clients of the
		 * account up to the lock's stale time (2 minutes). Ending the
		 * connection ends the process; they wait 2 to 3 s more. A
		 * mailbox simply gone costs two new connections (the pool runs
		 * the job once more on a new one). Other servers keep theirs:
		 * there a refusal may be throttling, which logging in again
		 * would only make worse.
		 */
		if (r == -EIO && session_alive(s) && driver_tree_goes_stale(s))
			session_abandon(s, "the mailbox went away while the server answered its STATUS; "
					   "reconnecting");
	}
	return r;
}

int driver_count(struct session *s, const char *wire, uint32_t *messages)
{
	struct driver_status st = { .messages = UINT32_MAX };
	struct status_result res = { .out = &st };
	const char *sel = session_selected(s);
	int r = 0;

	/*
	 * STATUS of the mailbox this connection has selected answers its own
	 * view (Dovecot: [CLIENTBUG]), blind to what other connections just
	 * moved out: counted from outside it.
	 */
	if (sel && strcmp(sel, wire) == 0)
		/* Never CLOSE (it expunges what others marked \Deleted): NOOP shows the expunges. */
		r = session_has_cap(s, "UNSELECT") ? driver_unselect(s) : driver_catch_up(s);
	if (r == 0)
		r = run_on_mailbox(s, "STATUS", wire, NULL, " (MESSAGES)", on_status, &res);
	/* No answer counts as full: rmdir must never remove a mailbox it could not see empty. */
	*messages = st.messages;
	return r;
}

struct quota_result {
	uint64_t used, limit;
	bool got;
};

static int on_quota(void *ctx, const struct imap_response *r)
{
	struct quota_result *q = ctx;
	const struct imap_value *list = imap_list_item(&r->args, 1);

	if (strcmp(r->name, "QUOTA") != 0 || !list || list->type != IMAP_LIST)
		return 0;
	for (size_t i = 0; i + 2 < list->count; i += 3) {
		uint64_t used, limit;

		if (imap_value_is(&list->items[i], "STORAGE") &&
		    imap_value_number(&list->items[i + 1], &used) &&
		    imap_value_number(&list->items[i + 2], &limit)) {
			q->used = used;
			q->limit = limit;
			q->got = true;
		}
	}
	return 0;
}

int driver_quota(struct session *s, uint64_t *used_kib, uint64_t *limit_kib)
{
	struct quota_result q = { 0 };
	int r;

	if (!session_has_cap(s, "QUOTA"))
		return -ENOTSUP;
	r = session_run_text(s, "GETQUOTAROOT INBOX", on_quota, &q);
	if (r < 0)
		return r;
	if (!q.got)
		return -ENOTSUP;
	*used_kib = q.used;
	*limit_kib = q.limit;
	return 0;
}

/* ---- CREATE, DELETE, RENAME ---- */

/*
 * A selected mailbox about to go or move must not stay selected here, on
 * the server's side too: Dovecot 2.3 ends a session whose selected mailbox
 * was renamed or deleted, at its next command ("* BYE IMAP session state is
 * inconsistent"), which would fail whatever runs there next (an APPEND).
 */
static int leave(struct session *s, const char *wire)
{
	const char *sel = session_selected(s);

	return sel && strcmp(sel, wire) == 0 ? driver_unselect(s) : 0;
}

int driver_create(struct session *s, const char *wire)
{
	int r = leave(s, wire);

	return r < 0 ? r : run_on_mailbox(s, "CREATE", wire, NULL, NULL, NULL, NULL);
}

int driver_delete(struct session *s, const char *wire)
{
	int r = leave(s, wire);

	return r < 0 ? r : run_on_mailbox(s, "DELETE", wire, NULL, NULL, NULL, NULL);
}

int driver_rename(struct session *s, const char *wire, const char *new_wire)
{
	int r = leave(s, wire);

	return r < 0 ? r : run_on_mailbox(s, "RENAME", wire, new_wire, NULL, NULL, NULL);
}
