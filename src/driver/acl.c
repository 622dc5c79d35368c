/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "driver/acl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/command.h"
#include "imap/parser.h"
#include "log.h"
#include "util/buf.h"

bool driver_has_acl(struct session *s)
{
	return session_has_cap(s, "ACL");
}

/* "VERB <wire>[ <a>[ <b>]]" with answers to fn. */
static int run_verb(struct session *s, const char *verb, const char *wire, const char *a,
		    const char *b, session_data_fn fn, void *ctx)
{
	struct imap_cmd cmd;
	int r;

	imap_cmd_init(&cmd, session_has_cap(s, "LITERAL+"));
	imap_cmd_raw(&cmd, verb);
	if (wire) {
		imap_cmd_sp(&cmd);
		imap_cmd_astring(&cmd, wire, strlen(wire));
	}
	if (a) {
		imap_cmd_sp(&cmd);
		imap_cmd_astring(&cmd, a, strlen(a));
	}
	if (b) {
		imap_cmd_sp(&cmd);
		imap_cmd_astring(&cmd, b, strlen(b));
	}
	r = session_run(s, &cmd, fn, ctx);
	imap_cmd_free(&cmd);
	return r;
}

/* Whether v names wire (an answer about another mailbox is not ours). */
static bool names(const struct imap_value *v, const char *wire)
{
	const char *t = v ? imap_value_text(v) : NULL;

	if (!t)
		return false;
	/* A server may answer INBOX in any case. */
	if (strcasecmp(wire, "INBOX") == 0)
		return strcasecmp(t, "INBOX") == 0;
	return strcmp(t, wire) == 0;
}

/* ---- rights ---- */

struct rights_run {
	const char *wire;
	char *rights;
	bool got;
};

static int on_myrights(void *ctx, const struct imap_response *r)
{
	struct rights_run *run = ctx;
	const char *t = imap_value_text(imap_list_item(&r->args, 1));

	if (strcmp(r->name, "MYRIGHTS") != 0 || !names(imap_list_item(&r->args, 0), run->wire) ||
	    !t || strlen(t) >= DRIVER_RIGHTS_MAX)
		return 0;
	strcpy(run->rights, t);
	run->got = true;
	return 0;
}

int driver_myrights(struct session *s, const char *wire, char rights[DRIVER_RIGHTS_MAX])
{
	struct rights_run run = { wire, rights, false };
	int r;

	if (!driver_has_acl(s))
		return -ENOTSUP;
	r = run_verb(s, "MYRIGHTS", wire, NULL, NULL, on_myrights, &run);
	if (r == 0 && !run.got)
		r = -EIO;
	return r;
}

struct many_run {
	char *const *wires;
	size_t n;
	void (*fn)(void *ctx, size_t i, const char *rights);
	void *ctx;
};

static int on_myrights_many(void *ctx, const struct imap_response *r)
{
	struct many_run *run = ctx;
	const struct imap_value *box = imap_list_item(&r->args, 0);
	const char *t = imap_value_text(imap_list_item(&r->args, 1));

	if (strcmp(r->name, "MYRIGHTS") != 0 || !t || strlen(t) >= DRIVER_RIGHTS_MAX)
		return 0;
	for (size_t i = 0; i < run->n; i++)
		if (names(box, run->wires[i]))
			run->fn(run->ctx, i, t);
	return 0;
}

int driver_myrights_many(struct session *s, char *const *wires, size_t n,
			 void (*fn)(void *ctx, size_t i, const char *rights), void *ctx)
{
	struct many_run run = { wires, n, fn, ctx };
	unsigned *tags;
	size_t sent = 0;
	int r = 0;

	if (!driver_has_acl(s))
		return -ENOTSUP;
	tags = malloc((n ? n : 1) * sizeof(*tags));
	if (!tags)
		return -ENOMEM;
	for (; sent < n && r == 0; sent++) {
		struct imap_cmd cmd;

		imap_cmd_init(&cmd, session_has_cap(s, "LITERAL+"));
		imap_cmd_raw(&cmd, "MYRIGHTS ");
		imap_cmd_astring(&cmd, wires[sent], strlen(wires[sent]));
		r = session_send(s, &cmd, &tags[sent]);
		imap_cmd_free(&cmd);
	}
	if (r < 0)
		sent--;
	/* Every command sent is waited for, so the session stays in step. */
	for (size_t i = 0; i < sent; i++) {
		int w = session_wait(s, tags[i], on_myrights_many, &run, NULL, 0);

		if (w == -EIO && !session_alive(s) && r == 0)
			r = -EIO;
	}
	free(tags);
	return r;
}

struct acl_run {
	const char *wire;
	struct buf text;
	bool got, oom;
};

static int on_acl(void *ctx, const struct imap_response *r)
{
	struct acl_run *run = ctx;

	if (strcmp(r->name, "ACL") != 0 || !names(imap_list_item(&r->args, 0), run->wire))
		return 0;
	run->got = true;
	for (size_t i = 1; i + 1 < r->args.count; i += 2) {
		const char *id = imap_value_text(&r->args.items[i]);
		const char *rights = imap_value_text(&r->args.items[i + 1]);

		/*
		 * An identifier with a space or a line break could forge another
		 * line or another identifier's rights, and one too long for an
		 * attribute name (user.imap.acl.<id>, 255 bytes) cannot be shown:
		 * left out.
		 */
		if (!id || !rights || !*id || strpbrk(id, " \t\r\n") || strlen(id) > 240 ||
		    strpbrk(rights, "\r\n \t"))
			continue;
		if (buf_printf(&run->text, "%s %s\n", id, rights) < 0)
			run->oom = true;
	}
	return 0;
}

int driver_getacl(struct session *s, const char *wire, char **text)
{
	struct acl_run run = { .wire = wire };
	int r;

	if (!driver_has_acl(s))
		return -ENOTSUP;
	r = run_verb(s, "GETACL", wire, NULL, NULL, on_acl, &run);
	if (r == 0 && run.oom)
		r = -ENOMEM;
	if (r == 0 && !run.got)
		r = -EIO;
	if (r == 0) {
		*text = buf_steal(&run.text);
		if (!*text)
			r = -ENOMEM;
	}
	buf_free(&run.text);
	return r;
}

/*
 * A change the server refused, with its words in the log: a refusal without
 * a telling code is a value it does not take (a right it does not know, an
 * identifier it has no such user for), EINVAL.
 */
static int refused(struct session *s, int r, const char *verb, const char *wire,
		   const char *arg)
{
	if (r < 0 && r != -EINTR && session_alive(s)) {
		log_warn("%s %s%s%s: the server refused: %s", verb, wire, arg ? " " : "",
			 arg ? arg : "", session_error(s));
		if (r == -EIO)
			r = -EINVAL;
	}
	return r;
}

int driver_setacl(struct session *s, const char *wire, const char *identifier,
		  const char *rights)
{
	if (!driver_has_acl(s))
		return -ENOTSUP;
	return refused(s, run_verb(s, "SETACL", wire, identifier, rights, NULL, NULL), "SETACL",
		       wire, identifier);
}

int driver_deleteacl(struct session *s, const char *wire, const char *identifier)
{
	if (!driver_has_acl(s))
		return -ENOTSUP;
	return refused(s, run_verb(s, "DELETEACL", wire, identifier, NULL, NULL, NULL),
		       "DELETEACL", wire, identifier);
}

/* ---- subscriptions ---- */

int driver_subscribe(struct session *s, const char *wire, bool on)
{
	const char *verb = on ? "SUBSCRIBE" : "UNSUBSCRIBE";

	return refused(s, run_verb(s, verb, wire, NULL, NULL, NULL, NULL), verb, wire, NULL);
}

struct lsub_run {
	int (*fn)(void *ctx, const char *wire);
	void *ctx;
	int err;
};

static int on_lsub(void *ctx, const struct imap_response *r)
{
	struct lsub_run *run = ctx;
	const char *wire = imap_value_text(imap_list_item(&r->args, 2));

	if (strcmp(r->name, "LSUB") != 0 || !wire || run->err)
		return 0;
	run->err = run->fn(run->ctx, wire);
	return 0;
}

int driver_subscriptions(struct session *s, int (*fn)(void *ctx, const char *wire), void *ctx)
{
	struct lsub_run run = { fn, ctx, 0 };
	int r = session_run_text(s, "LSUB \"\" \"*\"", on_lsub, &run);

	return r < 0 ? r : run.err;
}

/* ---- a mailbox's quota ---- */

struct quota_run {
	struct buf text;
	bool oom;
};

static int on_quota(void *ctx, const struct imap_response *r)
{
	struct quota_run *run = ctx;
	const char *root = imap_value_text(imap_list_item(&r->args, 0));
	const struct imap_value *list = imap_list_item(&r->args, 1);

	if (strcmp(r->name, "QUOTA") != 0 || !root || !list || list->type != IMAP_LIST ||
	    strpbrk(root, "\r\n"))
		return 0;
	if (buf_printf(&run->text, "%s:", *root ? root : "\"\"") < 0)
		run->oom = true;
	for (size_t i = 0; i + 2 < list->count; i += 3) {
		const char *res = imap_value_text(&list->items[i]);
		uint64_t used, limit;

		if (res && !strpbrk(res, "\r\n ") && imap_value_number(&list->items[i + 1], &used) &&
		    imap_value_number(&list->items[i + 2], &limit) &&
		    buf_printf(&run->text, " %s %llu %llu", res, (unsigned long long)used,
			       (unsigned long long)limit) < 0)
			run->oom = true;
	}
	if (buf_append_str(&run->text, "\n") < 0)
		run->oom = true;
	return 0;
}

int driver_mailbox_quota(struct session *s, const char *wire, char **text)
{
	struct quota_run run = { 0 };
	int r;

	if (!session_has_cap(s, "QUOTA"))
		return -ENOTSUP;
	r = run_verb(s, "GETQUOTAROOT", wire, NULL, NULL, on_quota, &run);
	if (r == 0 && run.oom)
		r = -ENOMEM;
	if (r == 0 && !run.text.len)
		r = -ENOTSUP;
	if (r == 0) {
		*text = buf_steal(&run.text);
		if (!*text)
			r = -ENOMEM;
	}
	buf_free(&run.text);
	return r;
}

/* ---- special use ---- */

int driver_set_special_use(struct session *s, const char *wire, const char *use)
{
	struct imap_cmd cmd;
	int r;

	if (!session_has_cap(s, "METADATA"))
		return -ENOTSUP;
	imap_cmd_init(&cmd, session_has_cap(s, "LITERAL+"));
	imap_cmd_raw(&cmd, "SETMETADATA ");
	imap_cmd_astring(&cmd, wire, strlen(wire));
	imap_cmd_raw(&cmd, " (/private/specialuse ");
	if (*use)
		imap_cmd_string(&cmd, use, strlen(use));
	else
		imap_cmd_raw(&cmd, "NIL");
	imap_cmd_raw(&cmd, ")");
	r = session_run(s, &cmd, NULL, NULL);
	imap_cmd_free(&cmd);
	return refused(s, r, "SETMETADATA /private/specialuse", wire, use);
}

/* ---- namespaces ---- */

struct ns_run {
	struct driver_namespace *ns;
	size_t n, cap;
	bool got, oom;
};

static int on_namespace(void *ctx, const struct imap_response *r)
{
	struct ns_run *run = ctx;

	if (strcmp(r->name, "NAMESPACE") != 0 || run->got)
		return 0;
	run->got = true;
	for (size_t kind = 0; kind < 3 && kind < r->args.count; kind++) {
		const struct imap_value *list = &r->args.items[kind];

		if (list->type != IMAP_LIST)
			continue; /* NIL: none of that kind */
		for (size_t i = 0; i < list->count; i++) {
			const struct imap_value *e = &list->items[i];
			const char *prefix = imap_value_text(imap_list_item(e, 0));
			const struct imap_value *d = imap_list_item(e, 1);
			const char *delim = d ? imap_value_text(d) : NULL;

			if (e->type != IMAP_LIST || !prefix || (delim && strlen(delim) > 1))
				continue;
			if (run->n == run->cap) {
				size_t cap = run->cap ? 2 * run->cap : 4;
				struct driver_namespace *ns = realloc(run->ns, cap * sizeof(*ns));

				if (!ns) {
					run->oom = true;
					return 0;
				}
				run->ns = ns;
				run->cap = cap;
			}
			run->ns[run->n] = (struct driver_namespace){
				.kind = (enum driver_namespace_kind)kind, .prefix = strdup(prefix),
				.delim = delim ? delim[0] : '\0'
			};
			if (!run->ns[run->n].prefix) {
				run->oom = true;
				return 0;
			}
			run->n++;
		}
	}
	return 0;
}

void driver_namespaces_free(struct driver_namespace *ns, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ns[i].prefix);
	free(ns);
}

int driver_namespaces(struct session *s, struct driver_namespace **out, size_t *n)
{
	struct ns_run run = { 0 };
	int r;

	if (!session_has_cap(s, "NAMESPACE"))
		return -ENOTSUP;
	r = session_run_text(s, "NAMESPACE", on_namespace, &run);
	if (r == 0 && run.oom)
		r = -ENOMEM;
	if (r == 0 && !run.got)
		r = -EIO;
	if (r < 0) {
		driver_namespaces_free(run.ns, run.n);
		return r;
	}
	*out = run.ns;
	*n = run.n;
	return 0;
}
