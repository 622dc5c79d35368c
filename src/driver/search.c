/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "driver/search.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/command.h"
#include "imap/parser.h"
#include "imap/search_query.h"
#include "imap/uid_set.h"
#include "log.h"
#include "util/array.h"

struct search_run {
	uint32_t *uids;
	size_t n, cap;
	int err;
};

static int add_uid(struct search_run *run, uint64_t uid)
{
	if (uid == 0 || uid > UINT32_MAX)
		return 0; /* not a UID: ignored, as any nonsense from a server */
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

int driver_search(struct session *s, const char *query, uint32_t **uids, size_t *n, char *err,
		  size_t errlen)
{
	struct search_run run = { NULL, 0, 0, 0 };
	struct imap_cmd cmd;
	size_t o = 0;
	int r;

	imap_cmd_init(&cmd, session_has_cap(s, "LITERAL+"));
	imap_cmd_raw(&cmd, "UID SEARCH");
	if (session_has_cap(s, "ESEARCH"))
		imap_cmd_raw(&cmd, " RETURN (ALL)");
	if (imap_search_query_utf8(query))
		imap_cmd_raw(&cmd, " CHARSET UTF-8");
	imap_cmd_sp(&cmd);
	r = imap_search_query(&cmd, query, err, errlen);
	if (r == 0)
		r = session_run(s, &cmd, on_search, &run);
	imap_cmd_free(&cmd);
	if (r == 0)
		r = run.err;
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
