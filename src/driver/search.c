/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "driver/search.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/command.h"
#include "imap/parser.h"
#include "imap/search_query.h"
#include "imap/uid_set.h"
#include "log.h"
#include "util/array.h"

/*
 * More UIDs than this in one answer is a hostile server (ESEARCH "ALL
 * 1:4294967295" would otherwise cost 16 GB): no mailbox holds that many.
 */
#define MAX_RESULTS (1u << 24)

struct search_run {
	uint32_t *uids;
	size_t n, cap;
	int err;
	/* ESEARCH IN (RFC 7377): each mailbox's matches, and how many UIDs in all. */
	bool multi;
	struct driver_search_hit *hits;
	size_t nhits, hits_cap, total;
};

static int add_uid(struct search_run *run, uint64_t uid)
{
	if (uid == 0 || uid > UINT32_MAX)
		return 0; /* not a UID: ignored, as any nonsense from a server */
	if (run->total++ >= MAX_RESULTS) {
		log_warn("server sent more search results than a mailbox can hold");
		return -EIO;
	}
	if (array_reserve(&run->uids, &run->cap, run->n + 1, sizeof(*run->uids)) < 0)
		return -ENOMEM;
	run->uids[run->n++] = (uint32_t)uid;
	return 0;
}

/* The UIDs of an ESEARCH's "ALL set" into run->uids. */
static int add_all(struct search_run *run, const struct imap_response *r)
{
	for (size_t i = 0; i + 1 < r->args.count && !run->err; i++) {
		const struct imap_value *all = &r->args.items[i + 1];
		struct imap_uid_range *ranges = NULL;
		size_t nranges = 0;

		if (!imap_value_is(&r->args.items[i], "ALL"))
			continue;
		if (!imap_value_text(all) ||
		    imap_uid_set_parse(all->str, all->len, &ranges, &nranges) < 0) {
			log_warn("server sent a malformed ESEARCH result");
			return -EIO;
		}
		for (size_t k = 0; k < nranges && !run->err; k++)
			for (uint64_t u = ranges[k].lo; u <= ranges[k].hi && !run->err; u++)
				run->err = add_uid(run, u);
		free(ranges);
	}
	return run->err;
}

/*
 * "* ESEARCH (TAG "A5" MAILBOX "Work" UIDVALIDITY 7) UID ALL 3:9" (RFC
 * 7377): one mailbox's matches. A mailbox without a match may get none.
 */
static int add_mailbox_hit(struct search_run *run, const struct imap_response *r)
{
	const struct imap_value *corr = imap_list_item(&r->args, 0);
	const struct imap_value *mbox = imap_list_lookup(corr, "MAILBOX");
	uint64_t uidvalidity;
	struct driver_search_hit *h;

	if (!mbox || !imap_value_text(mbox) || mbox->len == 0 || strlen(mbox->str) != mbox->len ||
	    !imap_value_number(imap_list_lookup(corr, "UIDVALIDITY"), &uidvalidity) ||
	    uidvalidity == 0 || uidvalidity > UINT32_MAX) {
		log_warn("server sent an ESEARCH result without its mailbox or UIDVALIDITY");
		return -EIO;
	}
	run->uids = NULL;
	run->n = run->cap = 0;
	if (add_all(run, r) < 0) {
		free(run->uids);
		return run->err ? run->err : -EIO;
	}
	if (array_reserve(&run->hits, &run->hits_cap, run->nhits + 1, sizeof(*run->hits)) < 0) {
		free(run->uids);
		return -ENOMEM;
	}
	h = &run->hits[run->nhits];
	*h = (struct driver_search_hit){ .wire = strdup(mbox->str), .uidvalidity = (uint32_t)uidvalidity,
					 .uids = run->uids, .n = run->n };
	run->uids = NULL;
	if (!h->wire) {
		free(h->uids);
		return -ENOMEM;
	}
	run->nhits++;
	return 0;
}

/* "* SEARCH 2 84 882" (RFC 3501) or "* ESEARCH (TAG "A5") UID ALL 2,84:90" (RFC 4731). */
static int on_search(void *ctx, const struct imap_response *r)
{
	struct search_run *run = ctx;

	if (run->err)
		return 0;
	if (strcmp(r->name, "SEARCH") == 0 && !run->multi) {
		for (size_t i = 0; i < r->args.count && !run->err; i++) {
			uint64_t uid;

			if (imap_value_number(&r->args.items[i], &uid))
				run->err = add_uid(run, uid);
		}
	} else if (strcmp(r->name, "ESEARCH") == 0 && run->multi) {
		run->err = add_mailbox_hit(run, r);
	} else if (strcmp(r->name, "ESEARCH") == 0) {
		run->err = add_all(run, r);
	}
	return 0;
}

static int cmp_uid(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* One UID SEARCH of query (already in charset, NULL for none). */
static int search_once(struct session *s, const char *query, const char *charset,
		       struct search_run *run, char *err, size_t errlen)
{
	struct imap_cmd cmd;
	int r;

	imap_cmd_init(&cmd, session_has_cap(s, "LITERAL+"));
	if (run->multi)
		imap_cmd_raw(&cmd, "ESEARCH IN (personal) RETURN (ALL)");
	else
		imap_cmd_raw(&cmd, session_has_cap(s, "ESEARCH") ? "UID SEARCH RETURN (ALL)"
								 : "UID SEARCH");
	if (charset)
		imap_cmd_rawf(&cmd, " CHARSET %s", charset);
	imap_cmd_sp(&cmd);
	r = imap_search_query(&cmd, query, session_has_cap(s, "X-GM-EXT-1") ? IMAP_SEARCH_GMAIL : 0,
			      err, errlen);
	if (r == 0)
		r = session_run(s, &cmd, on_search, run);
	imap_cmd_free(&cmd);
	return r == 0 ? run->err : r;
}

/*
 * query in charset, or NULL if it cannot be written in it: its %XX escapes
 * undone first (they may stand for UTF-8 bytes), and every '%' of the
 * result escaped again, so that the query language reads back these bytes.
 */
static char *convert(const char *query, const char *charset)
{
	char *text = imap_search_query_unescape(query);
	iconv_t cd = iconv_open(charset, "UTF-8");
	size_t inleft = text ? strlen(text) : 0, outleft = inleft * 4 + 1, o = 0;
	char *in = text, *out = malloc(outleft), *w = out, *esc = NULL;

	if (!text || cd == (iconv_t)-1 || !out || iconv(cd, &in, &inleft, &w, &outleft) == (size_t)-1 ||
	    iconv(cd, NULL, NULL, &w, &outleft) == (size_t)-1 || outleft == 0)
		goto out;
	*w = '\0';
	esc = malloc(3 * (size_t)(w - out) + 1);
	for (const char *c = out; esc && *c; c++) {
		if (*c == '%') {
			memcpy(esc + o, "%25", 3);
			o += 3;
		} else {
			esc[o++] = *c;
		}
	}
	if (esc)
		esc[o] = '\0';
out:
	if (cd != (iconv_t)-1)
		iconv_close(cd);
	free(text);
	free(out);
	return esc;
}

/*
 * A server that cannot search in UTF-8 says which charsets it can
 * ("[BADCHARSET (US-ASCII ISO-8859-1)]", RFC 3501 7.1): the query is sent
 * again in the first of them that can write it.
 */
static int search_other_charset(struct session *s, const char *query, struct search_run *run,
				char *err, size_t errlen)
{
	char offered[200], *save = NULL, *cs, *q;
	const char *said = session_error(s);
	/* only the list that follows the code: the human text may hold parentheses too */
	const char *list = strncasecmp(said, "[BADCHARSET (", 13) == 0 ? said + 12 : NULL;
	size_t len = list ? strcspn(list + 1, ")") : 0;
	int r = -EINVAL;

	snprintf(offered, sizeof(offered), "%.*s", (int)(len < sizeof(offered) ? len : 0),
		 list ? list + 1 : "");
	snprintf(err, errlen, "the server cannot search for text beyond ASCII (it offers: %s)",
		 offered[0] ? offered : "US-ASCII");
	for (cs = strtok_r(offered, " ", &save); cs; cs = strtok_r(NULL, " ", &save)) {
		if (strcasecmp(cs, "UTF-8") == 0 || strcasecmp(cs, "US-ASCII") == 0)
			continue;
		for (const char *c = cs; *c; c++)
			if (!isalnum((unsigned char)*c) && !strchr("-_:.", *c))
				goto next; /* not a charset name: not echoed into a command */
		q = convert(query, cs);
		if (!q)
			continue;
		r = search_once(s, q, cs, run, err, errlen);
		free(q);
		if (r == 0)
			log_info("the server searches in %s, not UTF-8: the query was sent in it", cs);
		return r;
next:;
	}
	return r;
}

static void run_reset(struct search_run *run)
{
	free(run->uids);
	run->uids = NULL;
	run->n = run->cap = run->total = 0;
	run->err = 0;
	driver_search_hits_free(run->hits, run->nhits);
	run->hits = NULL;
	run->nhits = run->hits_cap = 0;
}

/* Sorts uids and drops repeats; returns how many are left. */
static size_t sort_unique(uint32_t *uids, size_t n)
{
	size_t o = 0;

	if (n)
		qsort(uids, n, sizeof(*uids), cmp_uid);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || uids[i] != uids[o - 1])
			uids[o++] = uids[i];
	return o;
}

/* The search of run (its kind set), with the charset fallback; the refusal's words in err. */
static int run_search(struct session *s, const char *query, struct search_run *run, char *err,
		      size_t errlen)
{
	bool utf8 = imap_search_query_utf8(query);
	int r = search_once(s, query, utf8 ? "UTF-8" : NULL, run, err, errlen);

	if (r < 0 && utf8 && session_alive(s) && !err[0] &&
	    strncasecmp(session_error(s), "[BADCHARSET", 11) == 0) {
		bool multi = run->multi;

		run_reset(run);
		run->multi = multi;
		r = search_other_charset(s, query, run, err, errlen);
	}
	if (r < 0 && r != -ENOMEM && !run->err && session_alive(s) && !err[0]) {
		/* Refused: the query is at fault, and the server's words say how. */
		snprintf(err, errlen, "the server refused the search: %s", session_error(s));
		r = -EINVAL;
	}
	if (r < 0)
		run_reset(run);
	return r;
}

int driver_search(struct session *s, const char *query, uint32_t **uids, size_t *n, char *err,
		  size_t errlen)
{
	struct search_run run = { 0 };
	int r = run_search(s, query, &run, err, errlen);

	if (r < 0)
		return r;
	*n = sort_unique(run.uids, run.n);
	*uids = run.uids;
	return 0;
}

int driver_find_appended(struct session *s, const char *wire, uint32_t uidvalidity,
			 uint32_t uidnext, const char *msgid, uint64_t size, uint32_t **uids,
			 size_t *n, uint32_t *now)
{
	struct session_mailbox sel;
	struct search_run run = { 0 };
	struct imap_cmd cmd;
	size_t k = 0;
	int r = session_select(s, wire, true, &sel);

	*uids = NULL;
	*n = 0;
	if (r < 0)
		return r;
	*now = sel.uidvalidity;
	if (sel.uidvalidity != uidvalidity || !uidnext)
		uidnext = 1;
	imap_cmd_init(&cmd, session_has_cap(s, "LITERAL+"));
	imap_cmd_raw(&cmd, session_has_cap(s, "ESEARCH") ? "UID SEARCH RETURN (ALL)" : "UID SEARCH");
	imap_cmd_rawf(&cmd, " UID %" PRIu32 ":* LARGER %" PRIu64 " SMALLER %" PRIu64, uidnext,
		      size ? size - 1 : 0, size + 1);
	/* One of a sane length (a header can be long: size is what matters then). */
	if (*msgid && strlen(msgid) <= 998) {
		imap_cmd_raw(&cmd, " HEADER Message-ID ");
		imap_cmd_string(&cmd, msgid, strlen(msgid));
	}
	r = session_run(s, &cmd, on_search, &run);
	imap_cmd_free(&cmd);
	if (r == 0)
		r = run.err;
	if (r < 0) {
		run_reset(&run);
		return r;
	}
	run.n = sort_unique(run.uids, run.n);
	/* UID n:* holds the last message even below n. */
	for (size_t i = 0; i < run.n; i++)
		if (run.uids[i] >= uidnext)
			run.uids[k++] = run.uids[i];
	*uids = run.uids;
	*n = k;
	if (!k) {
		free(run.uids);
		*uids = NULL;
	}
	return 0;
}

bool driver_can_multisearch(const struct session *s)
{
	return session_has_cap(s, "MULTISEARCH");
}

int driver_multisearch(struct session *s, const char *query, struct driver_search_hit **hits,
		       size_t *n, char *err, size_t errlen)
{
	struct search_run run = { .multi = true };
	size_t o = 0;
	int r = run_search(s, query, &run, err, errlen);

	if (r < 0)
		return r;
	for (size_t i = 0; i < run.nhits; i++) {
		run.hits[i].n = sort_unique(run.hits[i].uids, run.hits[i].n);
		if (run.hits[i].n) {
			run.hits[o++] = run.hits[i];
		} else {
			free(run.hits[i].wire);
			free(run.hits[i].uids);
		}
	}
	*hits = run.hits;
	*n = o;
	return 0;
}

void driver_search_hits_free(struct driver_search_hit *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(h[i].wire);
		free(h[i].uids);
	}
	free(h);
}
