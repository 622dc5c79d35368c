/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "driver/search.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
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
};

static int add_uid(struct search_run *run, uint64_t uid)
{
	if (uid == 0 || uid > UINT32_MAX)
		return 0; /* not a UID: ignored, as any nonsense from a server */
	if (run->n >= MAX_RESULTS) {
		log_warn("server sent more search results than a mailbox can hold");
		return -EIO;
	}
	if (array_reserve(&run->uids, &run->cap, run->n + 1, sizeof(*run->uids)) < 0)
		return -ENOMEM;
	run->uids[run->n++] = (uint32_t)uid;
	return 0;
}

/* "* SEARCH 2 84 882" (RFC 3501) or "* ESEARCH (TAG "A5") UID ALL 2,84:90" (RFC 4731). */
static int on_search(void *ctx, const struct imap_response *r)
{
	struct search_run *run = ctx;

	if (strcmp(r->name, "SEARCH") == 0) {
		for (size_t i = 0; i < r->args.count && !run->err; i++) {
			uint64_t uid;

			if (imap_value_number(&r->args.items[i], &uid))
				run->err = add_uid(run, uid);
		}
	} else if (strcmp(r->name, "ESEARCH") == 0) {
		for (size_t i = 0; i + 1 < r->args.count && !run->err; i++) {
			const struct imap_value *all = &r->args.items[i + 1];
			struct imap_uid_range *ranges = NULL;
			size_t nranges = 0;

			if (!imap_value_is(&r->args.items[i], "ALL"))
				continue;
			if (!imap_value_text(all) ||
			    imap_uid_set_parse(all->str, all->len, &ranges, &nranges) < 0) {
				log_warn("server sent a malformed ESEARCH result");
				run->err = -EIO;
				break;
			}
			for (size_t k = 0; k < nranges && !run->err; k++)
				for (uint64_t u = ranges[k].lo; u <= ranges[k].hi && !run->err; u++)
					run->err = add_uid(run, u);
			free(ranges);
		}
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
	imap_cmd_raw(&cmd, "UID SEARCH");
	if (session_has_cap(s, "ESEARCH"))
		imap_cmd_raw(&cmd, " RETURN (ALL)");
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

/* query (UTF-8) in charset, or NULL if it cannot be written in it. */
static char *convert(const char *query, const char *charset)
{
	iconv_t cd = iconv_open(charset, "UTF-8");
	size_t inleft = strlen(query), outleft = inleft * 4 + 1;
	char *in = (char *)query, *out = malloc(outleft), *o = out;

	if (cd == (iconv_t)-1 || !out || iconv(cd, &in, &inleft, &o, &outleft) == (size_t)-1 ||
	    iconv(cd, NULL, NULL, &o, &outleft) == (size_t)-1 || outleft == 0) {
		free(out);
		out = NULL;
	} else {
		*o = '\0';
	}
	if (cd != (iconv_t)-1)
		iconv_close(cd);
	return out;
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
	const char *list = strchr(session_error(s), '(');
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

int driver_search(struct session *s, const char *query, uint32_t **uids, size_t *n, char *err,
		  size_t errlen)
{
	struct search_run run = { NULL, 0, 0, 0 };
	bool utf8 = imap_search_query_utf8(query);
	size_t o = 0;
	int r;

	r = search_once(s, query, utf8 ? "UTF-8" : NULL, &run, err, errlen);
	if (r < 0 && utf8 && session_alive(s) && !err[0] &&
	    strncasecmp(session_error(s), "[BADCHARSET", 11) == 0) {
		run.n = 0;
		run.err = 0;
		r = search_other_charset(s, query, &run, err, errlen);
	}
	if (r < 0 && r != -ENOMEM && session_alive(s) && !(err && err[0])) {
		/* Refused: the query is at fault, and the server's words say how. */
		snprintf(err, errlen, "the server refused the search: %s", session_error(s));
		r = -EINVAL;
	}
	if (r < 0) {
		free(run.uids);
		return r;
	}
	qsort(run.uids, run.n, sizeof(*run.uids), cmp_uid);
	for (size_t i = 0; i < run.n; i++)
		if (i == 0 || run.uids[i] != run.uids[o - 1])
			run.uids[o++] = run.uids[i];
	*uids = run.uids;
	*n = o;
	return 0;
}
