/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "driver/fetch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "driver/mailbox.h"
#include "imap/command.h"
#include "imap/parser.h"
#include "log.h"

bool driver_has_binary(struct session *s)
{
	return session_has_cap(s, "BINARY");
}

/* The attribute list of a FETCH response for uid (any uid when want is 0), or NULL. */
static const struct imap_value *fetch_of(const struct imap_response *r, uint64_t want,
					 uint64_t *uid)
{
	const struct imap_value *att = imap_list_item(&r->args, 0);

	if (strcmp(r->name, "FETCH") != 0 || !att || att->type != IMAP_LIST)
		return NULL;
	if (!imap_value_number(imap_list_lookup(att, "UID"), uid) || (want && *uid != want))
		return NULL;
	return att;
}

/*
 * A read the server refused (NO) fails with EIO and nothing else to show for
 * it: the log says why, in the server's words (Gmail's download limit,
 * Yahoo's "Server error while fetching messages").
 */
static void note_refused(struct session *s, uint32_t uid, int r)
{
	if (r < 0 && r != -EINTR && session_alive(s))
		log_warn("message UID %" PRIu32 ": the server refused to send it: %s", uid,
			 session_error(s));
}

/* ---- a range of one message ---- */

struct range_read {
	uint32_t uid;
	uint64_t off;
	size_t len;
	char *buf;
	size_t got;
	bool found;
	bool oversized;
};

static int on_range(void *ctx, const struct imap_response *r)
{
	struct range_read *b = ctx;
	uint64_t uid;
	const struct imap_value *att = fetch_of(r, b->uid, &uid);
	char want[48];

	if (!att)
		return 0;
	/* Bytes from another origin than asked must never land at off. */
	snprintf(want, sizeof(want), "BODY[]<%" PRIu64 ">", b->off);
	for (size_t i = 0; i + 1 < att->count; i += 2) {
		const struct imap_value *key = &att->items[i], *val = &att->items[i + 1];

		if (key->type != IMAP_ATOM || strcasecmp(key->str, want) != 0)
			continue;
		b->found = true;
		if (val->type == IMAP_STRING && val->len > b->len) {
			/* More than asked for: the server's sizes cannot be believed. */
			log_error("message UID %" PRIu32 ": server sent %zu bytes where %zu were asked",
				  b->uid, val->len, b->len);
			b->oversized = true;
		} else if (val->type == IMAP_STRING) {
			b->got = val->len;
			memcpy(b->buf, val->str, b->got);
		}
	}
	return 0;
}

int driver_fetch_range(struct session *s, const char *wire, uint32_t uidvalidity, uint32_t uid,
		       uint64_t off, size_t len, char *buf, size_t *got)
{
	struct range_read b = { .uid = uid, .off = off, .len = len, .buf = buf };
	struct imap_cmd cmd;
	int r;

	*got = 0;
	r = driver_select_valid(s, wire, uidvalidity);
	for (int attempt = 0; r == 0 && attempt < 2; attempt++) {
		if (attempt && (r = driver_catch_up(s)) < 0)
			break;
		b.found = false;
		b.oversized = false;
		b.got = 0;
		imap_cmd_init(&cmd, false);
		imap_cmd_rawf(&cmd, "UID FETCH %" PRIu32 " (UID BODY.PEEK[]<%" PRIu64 ".%zu>)", uid,
			      off, len);
		r = session_run(s, &cmd, on_range, &b);
		imap_cmd_free(&cmd);
		note_refused(s, uid, r);
		if (b.found)
			break;
	}
	if (r == 0 && (b.oversized || !b.found)) {
		/* Expunged by another client, or a server answering something else. */
		if (!b.found)
			log_warn("message UID %" PRIu32 ": server sent no data for it", uid);
		r = -EIO;
	}
	*got = b.got;
	return r;
}

/* ---- whole bodies of many messages ---- */

struct bodies_run {
	void (*fn)(void *ctx, uint32_t uid, const char *body, size_t len);
	void *ctx;
	const char *key; /* the answer's item, up to its first space ("BODY[HEADER.FIELDS") */
};

static int on_bodies(void *ctx, const struct imap_response *r)
{
	struct bodies_run *run = ctx;
	const struct imap_value *val = NULL;
	uint64_t uid;
	const struct imap_value *att = fetch_of(r, 0, &uid);

	if (!att || uid == 0 || uid > UINT32_MAX)
		return 0;
	for (size_t i = 0; i + 1 < att->count; i += 2) {
		const struct imap_value *k = &att->items[i];
		size_t klen = strlen(run->key);

		if (k->type == IMAP_ATOM && strncasecmp(k->str, run->key, klen) == 0 &&
		    (k->str[klen] == '\0' || k->str[klen] == ' '))
			val = &att->items[i + 1];
	}
	if (val && val->type == IMAP_STRING)
		run->fn(run->ctx, (uint32_t)uid, val->str, val->len);
	return 0;
}

int driver_fetch_bodies(struct session *s, const char *wire, uint32_t uidvalidity,
			const uint32_t *uids, size_t n,
			void (*fn)(void *ctx, uint32_t uid, const char *body, size_t len), void *ctx)
{
	struct bodies_run run = { fn, ctx, "BODY[]" };
	struct imap_cmd cmd;
	int r;

	r = driver_select_valid(s, wire, uidvalidity);
	if (r < 0)
		return r;
	imap_cmd_init(&cmd, false);
	imap_cmd_raw(&cmd, "UID FETCH ");
	imap_cmd_uid_set(&cmd, uids, n);
	imap_cmd_raw(&cmd, " (UID BODY.PEEK[])");
	r = session_run(s, &cmd, on_bodies, &run);
	imap_cmd_free(&cmd);
	return r;
}

int driver_fetch_header_fields(struct session *s, const char *wire, uint32_t uidvalidity,
			       const uint32_t *uids, size_t n, const char *fields,
			       void (*fn)(void *ctx, uint32_t uid, const char *header,
					  size_t len),
			       void *ctx)
{
	struct bodies_run run = { fn, ctx, "BODY[HEADER.FIELDS" };
	int r;

	r = driver_select_valid(s, wire, uidvalidity);
	for (size_t i = 0; r == 0 && i < n; i += DRIVER_HEADER_FIELDS_BATCH) {
		struct imap_cmd cmd;

		imap_cmd_init(&cmd, false);
		imap_cmd_raw(&cmd, "UID FETCH ");
		imap_cmd_uid_set(&cmd, uids + i,
				 n - i < DRIVER_HEADER_FIELDS_BATCH ? n - i : DRIVER_HEADER_FIELDS_BATCH);
		imap_cmd_rawf(&cmd, " (UID BODY.PEEK[HEADER.FIELDS (%s)])", fields);
		r = session_run(s, &cmd, on_bodies, &run);
		imap_cmd_free(&cmd);
	}
	return r;
}

/* ---- one message's sections ---- */

void driver_items_init(struct driver_items *f, uint32_t uid)
{
	memset(f, 0, sizeof(*f));
	f->uid = uid;
}

int driver_items_add(struct driver_items *f, bool binary, const char *section, uint64_t off,
		     uint64_t len)
{
	const char *kind = binary ? "BINARY" : "BODY";
	size_t used = f->nkeys ? f->item_end[f->nkeys - 1] : 0;
	char item[400];
	int ni, nk;

	if (f->nkeys == DRIVER_MAX_ITEMS)
		return -E2BIG;
	if (len == DRIVER_WHOLE) {
		ni = snprintf(item, sizeof(item), "%s.PEEK[%s]", kind, section);
		nk = snprintf(f->key[f->nkeys], sizeof(f->key[0]), "%s[%s]", kind, section);
	} else {
		ni = snprintf(item, sizeof(item), "%s.PEEK[%s]<%" PRIu64 ".%" PRIu64 ">", kind,
			      section, off, len);
		nk = snprintf(f->key[f->nkeys], sizeof(f->key[0]), "%s[%s]<%" PRIu64 ">", kind,
			      section, off);
	}
	if (ni < 0 || (size_t)ni >= sizeof(item) || nk < 0 || (size_t)nk >= sizeof(f->key[0]) - 1 ||
	    used + (size_t)ni + 2 > sizeof(f->items))
		return -E2BIG;
	snprintf(f->items + used, sizeof(f->items) - used, "%s%s", used ? " " : "", item);
	f->item_end[f->nkeys] = used + (used ? 1 : 0) + (size_t)ni;
	return (int)f->nkeys++;
}

bool driver_items_room(const struct driver_items *f)
{
	size_t used = f->nkeys ? f->item_end[f->nkeys - 1] : 0;

	return f->nkeys < DRIVER_MAX_ITEMS && used + 700 <= sizeof(f->items);
}

void driver_items_truncate(struct driver_items *f, size_t n)
{
	if (n >= f->nkeys)
		return;
	f->nkeys = n;
	f->items[n ? f->item_end[n - 1] : 0] = '\0';
}

void driver_items_clear(struct driver_items *f)
{
	for (size_t i = 0; i < f->nkeys; i++) {
		free(f->val[i]);
		f->val[i] = NULL;
		f->len[i] = 0;
		f->got[i] = false;
	}
	if (f->have_tree)
		bodystructure_free(&f->tree);
	f->have_tree = false;
	f->tree_err = 0;
}

struct items_run {
	struct driver_items *f;
	bool found;
	int err;
};

/* Copies v (a string, or NIL) as the answer to item j. */
static int keep_answer(struct driver_items *f, size_t j, const struct imap_value *v)
{
	f->got[j] = true;
	if (v->type != IMAP_STRING)
		return 0; /* NIL: the part is empty or gone */
	f->val[j] = malloc(v->len + 1);
	if (!f->val[j])
		return -ENOMEM;
	memcpy(f->val[j], v->str, v->len);
	f->val[j][v->len] = '\0';
	f->len[j] = v->len;
	return 0;
}

static int on_items(void *ctx, const struct imap_response *r)
{
	struct items_run *run = ctx;
	struct driver_items *f = run->f;
	uint64_t uid;
	const struct imap_value *att = fetch_of(r, f->uid, &uid);

	if (!att)
		return 0;
	run->found = true;
	for (size_t i = 0; i + 1 < att->count; i += 2) {
		const struct imap_value *k = &att->items[i], *v = &att->items[i + 1];

		if (k->type != IMAP_ATOM)
			continue;
		if (f->want_structure && strcasecmp(k->str, "BODYSTRUCTURE") == 0) {
			if (f->have_tree)
				continue;
			f->tree_err = bodystructure_parse(v, f->max_parts, 32, &f->tree);
			f->have_tree = f->tree_err == 0;
			continue;
		}
		for (size_t j = 0; j < f->nkeys; j++) {
			if (f->got[j] || strcasecmp(k->str, f->key[j]) != 0)
				continue;
			if (keep_answer(f, j, v) < 0) {
				run->err = -ENOMEM;
				return -ENOMEM;
			}
			break;
		}
	}
	return 0;
}

int driver_fetch_items(struct session *s, const char *wire, uint32_t uidvalidity,
		       struct driver_items *f)
{
	struct items_run run = { .f = f };
	struct imap_cmd cmd;
	int r;

	r = driver_select_valid(s, wire, uidvalidity);
	for (int attempt = 0; r == 0 && attempt < 2; attempt++) {
		if (attempt && (r = driver_catch_up(s)) < 0)
			break;
		driver_items_clear(f);
		run.found = false;
		run.err = 0;
		imap_cmd_init(&cmd, false);
		imap_cmd_rawf(&cmd, "UID FETCH %" PRIu32 " (UID %s%s%s)", f->uid,
			      f->want_structure ? "BODYSTRUCTURE" : "",
			      f->want_structure && f->nkeys ? " " : "", f->items);
		r = session_run(s, &cmd, on_items, &run);
		imap_cmd_free(&cmd);
		note_refused(s, f->uid, r);
		if (run.found || run.err)
			break;
	}
	if (r == 0 && run.err)
		r = run.err;
	if (r == 0 && !run.found) {
		log_warn("message UID %" PRIu32 ": server sent no data for it", f->uid);
		r = -EIO; /* expunged meanwhile, or a server answering something else */
	}
	return r;
}

/* ---- structures of many messages ---- */

void driver_structures_clear(struct driver_structures *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct driver_structure *bm = &b->m[i];

		free(bm->header);
		bm->header = NULL;
		bm->header_len = 0;
		if (bm->have_tree)
			bodystructure_free(&bm->tree);
		bm->have_tree = false;
		bm->tree_err = 0;
		bm->found = false;
		bm->got_header = false;
		bm->header_refused = false;
	}
	b->err = 0;
}

static struct driver_structure *structure_of(struct driver_structures *b, uint64_t uid)
{
	size_t lo = 0, hi = b->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (b->m[mid].uid == uid)
			return &b->m[mid];
		if (b->m[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int keep_header(struct driver_structures *b, struct driver_structure *bm,
		       const struct imap_value *v)
{
	bm->got_header = true;
	if (v->type != IMAP_STRING)
		return 0;
	if (v->len > b->max_header) {
		/* Not copied: loading the message alone refuses it. */
		bm->header_refused = true;
		return 0;
	}
	bm->header = malloc(v->len + 1);
	if (!bm->header) {
		b->err = -ENOMEM;
		return -ENOMEM;
	}
	memcpy(bm->header, v->str, v->len);
	bm->header[v->len] = '\0';
	bm->header_len = v->len;
	return 0;
}

static int on_structures(void *ctx, const struct imap_response *r)
{
	struct driver_structures *b = ctx;
	struct driver_structure *bm;
	uint64_t uid;
	const struct imap_value *att = fetch_of(r, 0, &uid);

	if (!att)
		return 0;
	bm = structure_of(b, uid);
	if (!bm || bm->found)
		return 0; /* not asked for, or said twice: the first answer stands */
	/* A server may answer the items of one message in several FETCH responses. */
	for (size_t i = 0; i + 1 < att->count; i += 2) {
		const struct imap_value *k = &att->items[i], *v = &att->items[i + 1];

		if (k->type != IMAP_ATOM)
			continue;
		if (strcasecmp(k->str, "BODYSTRUCTURE") == 0 && !bm->have_tree && !bm->tree_err) {
			bm->tree_err = bodystructure_parse(v, b->max_parts, 32, &bm->tree);
			bm->have_tree = bm->tree_err == 0;
		} else if (strcasecmp(k->str, "BODY[HEADER]") == 0 && !bm->got_header &&
			   keep_header(b, bm, v) < 0) {
			return -ENOMEM;
		}
	}
	/* Until both items came, the message counts as unanswered (loaded on its own). */
	bm->found = (bm->have_tree || bm->tree_err) && bm->got_header;
	return 0;
}

int driver_fetch_structures(struct session *s, const char *wire, uint32_t uidvalidity,
			    struct driver_structures *b)
{
	uint32_t uids[DRIVER_BATCH_MESSAGES];
	struct imap_cmd cmd;
	int r;

	driver_structures_clear(b);
	r = driver_select_valid(s, wire, uidvalidity);
	if (r < 0)
		return r;
	for (size_t i = 0; i < b->n; i++)
		uids[i] = b->m[i].uid;
	imap_cmd_init(&cmd, false);
	imap_cmd_raw(&cmd, "UID FETCH ");
	imap_cmd_uid_set(&cmd, uids, b->n);
	imap_cmd_raw(&cmd, " (UID BODYSTRUCTURE BODY.PEEK[HEADER])");
	r = session_run(s, &cmd, on_structures, b);
	imap_cmd_free(&cmd);
	return r == 0 ? b->err : r;
}
