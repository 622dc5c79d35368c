/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the user may do in each mailbox, and the mailbox's other facts the
 * server keeps: access rights (RFC 4314), the ACL itself, subscriptions,
 * special use (as LIST said) and the quota root.
 *
 * Rights are asked with MYRIGHTS when wanted and trusted for RIGHTS_TTL_MS
 * (an owner changing them is seen that late), or until changed through the
 * mount. Where they are not known (no ACL on the server, a level that is no
 * mailbox, a failure to ask), nothing is refused here: the server decides,
 * and its [NOPERM] is EACCES all the same.
 */
#include "store/store_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "driver/acl.h"
#include "driver/mailbox.h"
#include "log.h"
#include "store/pool.h"
#include "util/clock.h"

#define RIGHTS_TTL_MS 3000

struct mailbox_job {
	const char *wire;
	const char *a, *b;   /* arguments */
	bool on;
	char *text;
	bool yes;
};

static bool has_8bit(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* MYRIGHTS asked in one pipelined burst at most: a big account's folders in a few. */
#define RIGHTS_BURST 512

struct rights_burst {
	uint32_t *ids;
	char **wires;
	char (*rights)[DRIVER_RIGHTS_MAX];
	bool *got;
	size_t n;
};

static void on_rights(void *ctx, size_t i, const char *rights)
{
	struct rights_burst *b = ctx;

	strcpy(b->rights[i], rights);
	b->got[i] = true;
}

static int rights_job(struct session *s, void *ctx)
{
	struct rights_burst *b = ctx;

	memset(b->got, 0, b->n * sizeof(*b->got));
	return driver_myrights_many(s, b->wires, b->n, on_rights, b);
}

/* Caller holds st->lock. Whether m's rights are known and recent. */
static bool rights_fresh(const struct mailbox *m, int64_t now)
{
	return m->rights_at_ms && now - m->rights_at_ms < RIGHTS_TTL_MS;
}

/*
 * Asks the rights of id and of every other mailbox whose rights are not
 * recent, in one burst: a listing of a directory of mailboxes (ls -l,
 * readdirplus) then costs one round trip, not one a mailbox.
 */
static int ask_rights(struct store *st, uint32_t id)
{
	struct rights_burst b = { 0 };
	int64_t now;
	int r = 0;

	/* One burst at a time: a thread that waited finds the rights it wanted fresh. */
	pthread_mutex_lock(&st->rights_lock);
	now = monotonic_ms();

	b.ids = calloc(RIGHTS_BURST, sizeof(*b.ids));
	b.wires = calloc(RIGHTS_BURST, sizeof(*b.wires));
	b.rights = calloc(RIGHTS_BURST, sizeof(*b.rights));
	b.got = calloc(RIGHTS_BURST, sizeof(*b.got));
	if (!b.ids || !b.wires || !b.rights || !b.got) {
		r = -ENOMEM;
		goto out;
	}
	pthread_mutex_lock(&st->lock);
	for (size_t i = 0; i < st->nmb && b.n < RIGHTS_BURST; i++) {
		/* id first, then the others */
		uint32_t k = i == 0 ? id : (uint32_t)i == id ? 0 : (uint32_t)i;
		struct mailbox *m = mailbox_get(st, k);

		if (!m || !m->wire || !m->selectable || rights_fresh(m, now))
			continue;
		/*
		 * Pipelined commands must not need a synchronising literal (an
		 * 8-bit name without LITERAL+): asked one at a time, never here.
		 */
		if (strpbrk(m->wire, "\r\n") || has_8bit(m->wire))
			continue;
		b.wires[b.n] = strdup(m->wire);
		if (!b.wires[b.n])
			break;
		b.ids[b.n++] = k;
	}
	pthread_mutex_unlock(&st->lock);
	if (!b.n)
		goto out;
	r = pool_run(st->pool, b.wires[0], rights_job, &b);
	pthread_mutex_lock(&st->lock);
	if (r == -ENOTSUP)
		st->acl_unsupported = true;
	now = monotonic_ms();
	for (size_t i = 0; r == 0 && i < b.n; i++) {
		struct mailbox *m = mailbox_get(st, b.ids[i]);

		if (!m || strcmp(m->wire, b.wires[i]) != 0)
			continue; /* renamed meanwhile */
		/* A refusal (no right to look up) is kept too, so it is not asked again at once. */
		m->rights_err = b.got[i] ? 0 : -EACCES;
		memcpy(m->rights, b.rights[i], sizeof(m->rights));
		m->rights_at_ms = now;
	}
	pthread_mutex_unlock(&st->lock);
out:
	pthread_mutex_unlock(&st->rights_lock);
	for (size_t i = 0; i < b.n; i++)
		free(b.wires[i]);
	free(b.wires);
	free(b.ids);
	free(b.rights);
	free(b.got);
	return r;
}

int store_rights(struct store *st, uint32_t id, char rights[STORE_RIGHTS_MAX])
{
	struct mailbox *m;
	int r;

	for (int pass = 0; pass < 2; pass++) {
		pthread_mutex_lock(&st->lock);
		m = mailbox_get(st, id);
		if (!m)
			r = -ENOENT;
		else if (!m->wire || !m->selectable || st->acl_unsupported)
			r = -ENOTSUP; /* the root, a level that is no mailbox, no ACL: the server decides */
		else if (rights_fresh(m, monotonic_ms()))
			r = m->rights_err;
		else
			r = 1;
		if (r == 0)
			memcpy(rights, m->rights, STORE_RIGHTS_MAX);
		pthread_mutex_unlock(&st->lock);
		if (r != 1)
			return r;
		if (pass == 0) {
			r = ask_rights(st, id);
			if (r < 0)
				return r;
		}
	}
	return -EIO; /* asked, and still not known (renamed meanwhile) */
}

/*
 * Whether rights grant right. RFC 4314 §2.1.1: a server of RFC 2086's time
 * says "d" when any of "te" (and "x") is granted and "c" when any of "kx"
 * is, so those letters stand in only for a server that sends none of "kxte".
 */
static bool grants(const char *rights, char right)
{
	if (strchr(rights, right))
		return true;
	if (strpbrk(rights, "kxte"))
		return false;
	switch (right) {
	case 't':
	case 'e':
		return strchr(rights, 'd') != NULL;
	case 'k':
		return strchr(rights, 'c') != NULL;
	case 'x':
		return strchr(rights, 'c') || strchr(rights, 'd');
	default:
		return false;
	}
}

int store_may_known(struct store *st, uint32_t id, const char *need)
{
	struct mailbox *m;
	char rights[STORE_RIGHTS_MAX] = "";
	bool known = false;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m && m->rights_at_ms && !m->rights_err && !st->acl_unsupported) {
		memcpy(rights, m->rights, sizeof(rights));
		known = true;
	}
	pthread_mutex_unlock(&st->lock);
	if (!known)
		return 0;
	for (const char *p = need; *p; p++)
		if (!grants(rights, *p))
			return -EACCES;
	return 0;
}

int store_may(struct store *st, uint32_t id, const char *need)
{
	char rights[STORE_RIGHTS_MAX];

	if (store_rights(st, id, rights) < 0)
		return 0; /* not known: the server decides */
	for (const char *p = need; *p; p++)
		if (!grants(rights, *p))
			return -EACCES;
	return 0;
}

/* Forgets the rights held for id: changed through the mount. */
static void rights_changed(struct store *st, uint32_t id)
{
	struct mailbox *m;

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m)
		m->rights_at_ms = 0;
	pthread_mutex_unlock(&st->lock);
}

/* Runs job with j->wire set to mailbox id's wire name. */
static int run_on(struct store *st, uint32_t id, pool_job job, struct mailbox_job *j)
{
	char *wire = store_mailbox_wire(st, id);
	int r;

	if (!wire)
		return id == STORE_ROOT_ID ? -ENOTSUP : -ENOENT;
	j->wire = wire;
	r = pool_run(st->pool, wire, job, j);
	free(wire);
	j->wire = NULL;
	return r;
}

static int getacl_job(struct session *s, void *ctx)
{
	struct mailbox_job *j = ctx;

	free(j->text);
	j->text = NULL;
	return driver_getacl(s, j->wire, &j->text);
}

int store_acl(struct store *st, uint32_t id, char **text)
{
	struct mailbox_job j = { 0 };
	int r = run_on(st, id, getacl_job, &j);

	if (r == 0)
		*text = j.text;
	else
		free(j.text);
	return r;
}

static int setacl_job(struct session *s, void *ctx)
{
	struct mailbox_job *j = ctx;

	return j->b ? driver_setacl(s, j->wire, j->a, j->b) : driver_deleteacl(s, j->wire, j->a);
}

int store_set_acl(struct store *st, uint32_t id, const char *identifier, const char *rights)
{
	struct mailbox_job j = { .a = identifier, .b = rights };
	int r = run_on(st, id, setacl_job, &j);

	rights_changed(st, id); /* an identifier may be the user's own, or a group of it */
	return r;
}

static int subscribed_one(void *ctx, const char *wire)
{
	struct mailbox_job *j = ctx;

	if (strcmp(wire, j->wire) == 0)
		j->yes = true;
	return 0;
}

static int subscribed_job(struct session *s, void *ctx)
{
	struct mailbox_job *j = ctx;

	j->yes = false;
	return driver_subscriptions(s, subscribed_one, j);
}

int store_subscribed(struct store *st, uint32_t id, bool *yes)
{
	struct mailbox_job j = { 0 };
	int r = run_on(st, id, subscribed_job, &j);

	if (r == 0)
		*yes = j.yes;
	return r;
}

static int subscribe_job(struct session *s, void *ctx)
{
	struct mailbox_job *j = ctx;

	return driver_subscribe(s, j->wire, j->on);
}

int store_subscribe(struct store *st, uint32_t id, bool on)
{
	struct mailbox_job j = { .on = on };

	return run_on(st, id, subscribe_job, &j);
}

char *store_special_use(struct store *st, uint32_t id)
{
	struct mailbox *m;
	unsigned bits = 0;
	char text[128];

	pthread_mutex_lock(&st->lock);
	m = mailbox_get(st, id);
	if (m)
		bits = m->special_use;
	pthread_mutex_unlock(&st->lock);
	driver_special_use_text(bits, text, sizeof(text));
	return *text ? strdup(text) : NULL;
}

static int special_use_job(struct session *s, void *ctx)
{
	struct mailbox_job *j = ctx;

	return driver_set_special_use(s, j->wire, j->a);
}

int store_set_special_use(struct store *st, uint32_t id, const char *use)
{
	struct mailbox_job j = { .a = use };
	int r = run_on(st, id, special_use_job, &j);

	/* What LIST says now is what the attribute shows. */
	if (r == 0)
		store_refresh_mailboxes(st, true);
	return r;
}

static int quota_job(struct session *s, void *ctx)
{
	struct mailbox_job *j = ctx;

	free(j->text);
	j->text = NULL;
	return driver_mailbox_quota(s, j->wire, &j->text);
}

int store_mailbox_quota(struct store *st, uint32_t id, char **text)
{
	struct mailbox_job j = { 0 };
	int r = run_on(st, id, quota_job, &j);

	if (r == 0)
		*text = j.text;
	else
		free(j.text);
	return r;
}
