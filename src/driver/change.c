/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "driver/change.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "driver/listing.h"
#include "driver/mailbox.h"
#include "imap/command.h"
#include "imap/datetime.h"
#include "imap/parser.h"
#include "log.h"

int driver_append(struct session *s, const char *wire, const char *flags, int64_t date, int fd,
		  uint64_t size, uint32_t *uidvalidity, uint32_t *uid)
{
	char code[256], when[40];
	struct imap_cmd cmd;
	int r;

	*uidvalidity = *uid = 0;
	imap_cmd_init(&cmd, session_has_cap(s, "LITERAL+"));
	imap_cmd_raw(&cmd, "APPEND ");
	imap_cmd_astring(&cmd, wire, strlen(wire));
	if (flags)
		imap_cmd_rawf(&cmd, " (%s)", flags);
	if (date) {
		imap_datetime_format((time_t)date, when, sizeof(when));
		imap_cmd_rawf(&cmd, " \"%s\"", when);
	}
	r = session_run_with_file(s, &cmd, fd, size, code, sizeof(code));
	imap_cmd_free(&cmd);
	if (r == 0 && strncmp(code, "APPENDUID ", 10) == 0) {
		unsigned long v, u;

		if (sscanf(code + 10, "%lu %lu", &v, &u) == 2 && v && u && v <= UINT32_MAX &&
		    u <= UINT32_MAX) {
			*uidvalidity = (uint32_t)v;
			*uid = (uint32_t)u;
		}
	}
	return r;
}

/* Sends cmd and waits for it, keeping the completion's code; frees cmd. */
static int run_cmd(struct session *s, struct imap_cmd *c, session_data_fn fn, void *ctx,
		   char *code, size_t codelen)
{
	unsigned tag;
	int r = session_send(s, c, &tag);

	if (r == 0)
		r = session_wait(s, tag, fn, ctx, code, codelen);
	imap_cmd_free(c);
	return r;
}

struct move_result {
	uint32_t uid, uidvalidity, newuid;
};

/* COPYUID <uidvalidity> <source set> <dest set>, for one message. */
static void parse_copyuid(const char *code, struct move_result *m)
{
	unsigned long v, src, dst;

	if (code && sscanf(code, "COPYUID %lu %lu %lu", &v, &src, &dst) == 3 && src == m->uid &&
	    v && v <= UINT32_MAX && dst && dst <= UINT32_MAX) {
		m->uidvalidity = (uint32_t)v;
		m->newuid = (uint32_t)dst;
	}
}

/* MOVE sends COPYUID in an untagged OK before the EXPUNGE (RFC 6851 §4.3). */
static int on_move_data(void *ctx, const struct imap_response *r)
{
	struct move_result *m = ctx;
	char code[128];
	size_t n;

	if (r->status != IMAP_STATUS_OK || !r->code || strcmp(r->code, "COPYUID") != 0)
		return 0;
	n = (size_t)snprintf(code, sizeof(code), "COPYUID");
	for (size_t i = 0; i < r->code_args.count && n < sizeof(code); i++) {
		const char *t = imap_value_text(&r->code_args.items[i]);

		n += (size_t)snprintf(code + n, sizeof(code) - n, " %s", t ? t : "");
	}
	parse_copyuid(code, m);
	return 0;
}

/* UID STORE +FLAGS.SILENT (\Deleted) then UID EXPUNGE of those UIDs (ascending) alone. */
static int delete_uids(struct session *s, const uint32_t *uids, size_t n)
{
	struct imap_cmd c;
	int r;

	if (!session_has_cap(s, "UIDPLUS")) {
		/*
		 * Without UID EXPUNGE the only expunge there is would also purge
		 * what other clients marked \Deleted: refuse rather than risk it.
		 */
		log_error("server lacks UIDPLUS: not expunging UID %" PRIu32 "%s (a plain EXPUNGE "
			  "could remove other clients' deleted mail)", uids[0],
			  n > 1 ? " and others" : "");
		return -EPERM;
	}
	imap_cmd_init(&c, false);
	imap_cmd_raw(&c, "UID STORE ");
	imap_cmd_uid_set(&c, uids, n);
	imap_cmd_raw(&c, " +FLAGS.SILENT (\\Deleted)");
	r = run_cmd(s, &c, NULL, NULL, NULL, 0);
	if (r < 0)
		return r;
	imap_cmd_init(&c, false);
	imap_cmd_raw(&c, "UID EXPUNGE ");
	imap_cmd_uid_set(&c, uids, n);
	return run_cmd(s, &c, NULL, NULL, NULL, 0);
}

int driver_expunge(struct session *s, const char *wire, uint32_t uid)
{
	struct session_mailbox sel;
	int r = session_select(s, wire, true, &sel);

	return r < 0 ? r : delete_uids(s, &uid, 1);
}

int driver_move(struct session *s, const char *wire, uint32_t uid, const char *to_wire,
		uint32_t *uidvalidity, uint32_t *newuid)
{
	struct move_result m = { .uid = uid };
	struct session_mailbox sel;
	struct imap_cmd c;
	char code[256];
	int r = session_select(s, wire, true, &sel);

	*uidvalidity = *newuid = 0;
	if (r < 0)
		return r;
	if (session_has_cap(s, "MOVE")) {
		imap_cmd_init(&c, session_has_cap(s, "LITERAL+"));
		imap_cmd_rawf(&c, "UID MOVE %" PRIu32 " ", uid);
		imap_cmd_astring(&c, to_wire, strlen(to_wire));
		r = run_cmd(s, &c, on_move_data, &m, code, sizeof(code));
		/* Some servers give COPYUID in the completion instead. */
		if (r == 0 && !m.newuid)
			parse_copyuid(code, &m);
		*uidvalidity = m.uidvalidity;
		*newuid = m.newuid;
		return r;
	}
	/* Without MOVE: the copy must exist before the original may go. */
	if (!session_has_cap(s, "UIDPLUS"))
		return -EXDEV;
	imap_cmd_init(&c, session_has_cap(s, "LITERAL+"));
	imap_cmd_rawf(&c, "UID COPY %" PRIu32 " ", uid);
	imap_cmd_astring(&c, to_wire, strlen(to_wire));
	r = run_cmd(s, &c, NULL, NULL, code, sizeof(code));
	if (r < 0)
		return r;
	parse_copyuid(code, &m);
	*uidvalidity = m.uidvalidity;
	*newuid = m.newuid;
	return delete_uids(s, &uid, 1);
}

int driver_move_uids(struct session *s, const char *wire, const uint32_t *uids, size_t n,
		     const char *to_wire)
{
	struct session_mailbox sel;
	struct imap_cmd c;
	bool move = session_has_cap(s, "MOVE");
	int r = session_select(s, wire, true, &sel);

	if (r < 0)
		return r;
	if (!move && !session_has_cap(s, "UIDPLUS"))
		return -EXDEV;
	imap_cmd_init(&c, session_has_cap(s, "LITERAL+"));
	imap_cmd_raw(&c, move ? "UID MOVE " : "UID COPY ");
	imap_cmd_uid_set(&c, uids, n);
	imap_cmd_raw(&c, " ");
	imap_cmd_astring(&c, to_wire, strlen(to_wire));
	r = run_cmd(s, &c, NULL, NULL, NULL, 0);
	if (r < 0 || move)
		return r;
	/*
	 * Without MOVE: the copies exist before the originals go. Once they
	 * exist this is done: an error now must not make the caller copy again.
	 */
	r = delete_uids(s, uids, n);
	if (r < 0)
		log_warn("copied %zu message(s) from %s to %s, but the originals could not be "
			 "expunged (%s): they are in both", n, wire, to_wire, strerror(-r));
	return 0;
}

int driver_expunge_uids(struct session *s, const char *wire, const uint32_t *uids, size_t n)
{
	struct session_mailbox sel;
	int r = session_select(s, wire, true, &sel);

	return r < 0 ? r : delete_uids(s, uids, n);
}

struct holding {
	const uint32_t *uids;
	size_t n;
	bool *present;
};

static int row_seen(void *ctx, uint32_t uid, uint64_t size, int64_t date, const char *flags)
{
	struct holding *h = ctx;
	size_t lo = 0, hi = h->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (h->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < h->n && h->uids[lo] == uid)
		h->present[lo] = true;
	return 0;
}

static size_t count_true(const bool *v, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += v[i];
	return k;
}

int driver_holding(struct session *s, const char *wire, uint32_t uidvalidity,
		   const uint32_t *uids, size_t n, bool *present)
{
	struct session_mailbox sel;
	struct holding h = { uids, n, present };
	struct driver_listing_sink sink = { .message = row_seen, .ctx = &h };
	int r = session_select(s, wire, true, &sel);

	memset(present, 0, n * sizeof(*present));
	if (r < 0)
		return r;
	if (sel.uidvalidity != uidvalidity)
		return -ESTALE;
	r = driver_fetch_rows(s, uids, n, &sink);
	if (r == 0 && count_true(present, n) < n) {
		/* Expunges another client made may not have reached this session yet. */
		r = driver_catch_up(s);
		if (r == 0)
			r = driver_fetch_rows(s, uids, n, &sink);
	}
	return r;
}

int driver_holds(struct session *s, const char *wire, uint32_t uidvalidity, uint32_t uid)
{
	bool present = false;
	int r = driver_holding(s, wire, uidvalidity, &uid, 1, &present);

	return r == 0 && !present ? -ENOENT : r;
}

int driver_change_flags_uids(struct session *s, const char *wire, const uint32_t *uids, size_t n,
			     const char *add, const char *remove)
{
	struct session_mailbox sel;
	struct imap_cmd c;
	int r = session_select(s, wire, true, &sel);

	for (int pass = 0; r == 0 && pass < 2; pass++) {
		const char *set = pass == 0 ? add : remove;

		if (!set || !*set)
			continue;
		imap_cmd_init(&c, false);
		imap_cmd_raw(&c, "UID STORE ");
		imap_cmd_uid_set(&c, uids, n);
		imap_cmd_rawf(&c, " %cFLAGS.SILENT (%s)", pass == 0 ? '+' : '-', set);
		r = run_cmd(s, &c, NULL, NULL, NULL, 0);
	}
	return r;
}

int driver_change_flags(struct session *s, const char *wire, uint32_t uidvalidity, uint32_t uid,
			const char *add, const char *remove)
{
	int r = driver_holds(s, wire, uidvalidity, uid);

	return r < 0 ? r : driver_change_flags_uids(s, wire, &uid, 1, add, remove);
}

int driver_set_flags(struct session *s, const char *wire, const uint32_t *uids, size_t n,
		     const char *flags)
{
	struct session_mailbox sel;
	struct imap_cmd c;
	int r = session_select(s, wire, true, &sel);

	if (r < 0)
		return r;
	imap_cmd_init(&c, false);
	imap_cmd_raw(&c, "UID STORE ");
	imap_cmd_uid_set(&c, uids, n);
	imap_cmd_rawf(&c, " FLAGS.SILENT (%s)", flags);
	return run_cmd(s, &c, NULL, NULL, NULL, 0);
}
