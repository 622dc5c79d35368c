/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "driver/listing.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "driver/mailbox.h"
#include "imap/command.h"
#include "imap/datetime.h"
#include "imap/parser.h"
#include "log.h"

/* UID ranges in one UID FETCH of driver_fetch_rows(): some 8 KB of command at most. */
#define FETCH_ROWS_RANGES 400

struct listing_run {
	const char *wire;
	const struct driver_listing_known *known;
	const struct driver_listing_sink *sink;
	struct driver_listing *out;
	int err;
};

/* A FLAGS list as text, \Recent left out (it belongs to one session, not the message). */
static const char *flags_text(const struct imap_value *list, char *text, size_t size)
{
	size_t n = 0;

	text[0] = '\0';
	for (size_t i = 0; list && i < list->count; i++) {
		const char *f = imap_value_text(&list->items[i]);
		int w;

		if (!f || strcasecmp(f, "\\Recent") == 0)
			continue;
		w = snprintf(text + n, size - n, "%s%s", n ? " " : "", f);
		if (w < 0 || (size_t)w >= size - n)
			return NULL;
		n += (size_t)w;
	}
	return text;
}

static int on_listing_fetch(void *ctx, const struct imap_response *r)
{
	struct listing_run *run = ctx;
	const struct imap_value *att = imap_list_item(&r->args, 0);
	const struct imap_value *date;
	char text[1024];
	uint64_t uid, size;
	int64_t when = 0;
	int e;

	if (strcmp(r->name, "FETCH") != 0 || !att || att->type != IMAP_LIST)
		return 0;
	/* Unsolicited flag updates carry no size: they are not listing rows. */
	if (!imap_value_number(imap_list_lookup(att, "UID"), &uid) ||
	    !imap_value_number(imap_list_lookup(att, "RFC822.SIZE"), &size))
		return 0;
	if (uid == 0 || uid > UINT32_MAX) {
		log_warn("server sent UID %" PRIu64 " in a listing; ignoring it", uid);
		return 0;
	}
	date = imap_list_lookup(att, "INTERNALDATE");
	if (date && imap_value_text(date)) {
		time_t t;

		if (imap_datetime_parse(date->str, date->len, &t) == 0)
			when = t;
	}
	e = run->sink->message(run->sink->ctx, (uint32_t)uid, size, when,
			       flags_text(imap_list_lookup(att, "FLAGS"), text, sizeof(text)));
	if (e < 0)
		run->err = e;
	return e;
}

static int on_flags_fetch(void *ctx, const struct imap_response *r)
{
	struct listing_run *run = ctx;
	const struct imap_value *att = imap_list_item(&r->args, 0);
	const struct imap_value *flags = imap_list_lookup(att, "FLAGS");
	char text[1024];
	uint64_t uid;
	int e;

	if (strcmp(r->name, "FETCH") != 0 || !flags || flags->type != IMAP_LIST ||
	    !imap_value_number(imap_list_lookup(att, "UID"), &uid) || uid == 0 || uid > UINT32_MAX)
		return 0;
	e = run->sink->flags(run->sink->ctx, (uint32_t)uid, flags_text(flags, text, sizeof(text)));
	if (e < 0)
		run->err = e;
	return e;
}

/* "* ESEARCH (TAG "A5") UID ALL 1:7,9": the UIDs a UID SEARCH matched. */
static int on_esearch(void *ctx, const struct imap_response *r)
{
	struct listing_run *run = ctx;
	struct driver_listing *l = run->out;
	const struct imap_value *all = NULL;
	int e;

	if (strcmp(r->name, "ESEARCH") != 0 || l->have_remaining)
		return 0;
	for (size_t i = 0; i + 1 < r->args.count; i++)
		if (imap_value_is(&r->args.items[i], "ALL"))
			all = &r->args.items[i + 1];
	l->have_remaining = true; /* no ALL: nothing matched */
	if (!all)
		return 0;
	if (!imap_value_text(all) ||
	    (e = imap_uid_set_parse(all->str, all->len, &l->remaining, &l->nremaining)) == -EINVAL) {
		log_warn("mailbox %s: server sent a malformed ESEARCH result", run->wire);
		run->err = -EIO;
		return 0;
	}
	if (e < 0)
		run->err = e;
	return 0;
}

/* Runs cmd (and frees it) with fn for its answers. */
static int run_fetch(struct session *s, struct listing_run *run, session_data_fn fn,
		     struct imap_cmd *cmd)
{
	int r = session_run(s, cmd, fn, run);

	imap_cmd_free(cmd);
	return r < 0 ? r : run->err;
}

/* UID FETCH from..* of every listing item. */
static int fetch_rows(struct session *s, struct listing_run *run, uint32_t from)
{
	struct imap_cmd cmd;

	imap_cmd_init(&cmd, false);
	imap_cmd_rawf(&cmd, "UID FETCH %" PRIu32 ":* (UID FLAGS RFC822.SIZE INTERNALDATE)", from);
	return run_fetch(s, run, on_listing_fetch, &cmd);
}

int driver_fetch_rows(struct session *s, const uint32_t *uids, size_t n,
		      const struct driver_listing_sink *sink)
{
	struct driver_listing out = { 0 };
	struct listing_run run = { .wire = "", .sink = sink, .out = &out };
	size_t i = 0;
	int r = 0;

	while (i < n && r == 0) {
		struct imap_cmd cmd;

		imap_cmd_init(&cmd, false);
		imap_cmd_raw(&cmd, "UID FETCH ");
		/* Ranges of consecutive UIDs, a bounded number a command (servers cap line lengths). */
		for (size_t ranges = 0; i < n && ranges < FETCH_ROWS_RANGES; ranges++) {
			size_t j = i;

			while (j + 1 < n && uids[j + 1] == uids[j] + 1)
				j++;
			if (j > i)
				imap_cmd_rawf(&cmd, "%s%" PRIu32 ":%" PRIu32, ranges ? "," : "", uids[i],
					      uids[j]);
			else
				imap_cmd_rawf(&cmd, "%s%" PRIu32, ranges ? "," : "", uids[i]);
			i = j + 1;
		}
		imap_cmd_raw(&cmd, " (UID FLAGS RFC822.SIZE INTERNALDATE)");
		r = run_fetch(s, &run, on_listing_fetch, &cmd);
	}
	return r;
}

/* Every message of the selected mailbox. */
static int listing_full(struct session *s, struct listing_run *run)
{
	run->out->kind = DRIVER_LISTING_FULL;
	if (run->out->sel.exists == 0)
		return 0;
	return fetch_rows(s, run, 1);
}

/*
 * What changed since the known listing (RFC 7162 CONDSTORE): the messages
 * from the known UIDNEXT on, the flags changed since the known HIGHESTMODSEQ,
 * and, when messages came or went, which known UIDs are still there (ESEARCH,
 * a few ranges however many messages). Without ESEARCH a count cannot tell
 * which went, so the listing is fetched whole.
 */
static int listing_delta(struct session *s, struct listing_run *run, const struct driver_status *c)
{
	const struct driver_listing_known *k = run->known;
	bool moved = c->uidnext != k->uidnext || c->messages != k->exists;
	struct imap_cmd cmd;
	int r;

	if (moved && !session_has_cap(s, "ESEARCH"))
		return listing_full(s, run);
	run->out->kind = DRIVER_LISTING_DELTA;
	if (c->uidnext > k->uidnext) {
		r = fetch_rows(s, run, k->uidnext);
		if (r < 0)
			return r;
	}
	if (k->uidnext <= 1)
		return 0; /* nothing was known */
	if (c->highestmodseq != k->modseq) {
		imap_cmd_init(&cmd, false);
		imap_cmd_rawf(&cmd, "UID FETCH 1:%" PRIu32 " (UID FLAGS) (CHANGEDSINCE %" PRIu64 ")",
			      k->uidnext - 1, k->modseq);
		r = run_fetch(s, run, on_flags_fetch, &cmd);
		if (r < 0)
			return r;
	}
	if (moved) {
		imap_cmd_init(&cmd, false);
		imap_cmd_rawf(&cmd, "UID SEARCH RETURN (ALL) UID 1:%" PRIu32, k->uidnext - 1);
		r = run_fetch(s, run, on_esearch, &cmd);
		if (r == 0 && !run->out->have_remaining) {
			log_warn("mailbox %s: server sent no ESEARCH result", run->wire);
			r = -EIO;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int driver_fetch_listing(struct session *s, const char *wire,
			 const struct driver_listing_known *known,
			 const struct driver_listing_sink *sink, struct driver_listing *out)
{
	struct listing_run run = { .wire = wire, .known = known, .sink = sink, .out = out };
	bool condstore = session_has_cap(s, "CONDSTORE");
	struct driver_status c;
	int r;

	free(out->remaining);
	*out = (struct driver_listing){ .kind = DRIVER_LISTING_FULL };
	r = driver_current_status(s, wire, &c);
	if (r < 0)
		return r;
	out->sel = (struct session_mailbox){ .uidvalidity = c.uidvalidity, .uidnext = c.uidnext,
					     .exists = c.messages,
					     .highestmodseq = c.highestmodseq };
	/*
	 * UIDs only grow: with the same UIDVALIDITY, UIDNEXT and count, no
	 * message came or went since the known listing; with the same
	 * HIGHESTMODSEQ, no flag changed either.
	 */
	if (known->known && c.uidvalidity == known->uidvalidity && c.uidnext != 0 &&
	    c.uidnext == known->uidnext && c.messages == known->exists &&
	    (known->counts_only ||
	     (condstore ? c.highestmodseq == known->modseq : !known->flags_changed))) {
		out->kind = DRIVER_LISTING_UNCHANGED;
		out->sel.highestmodseq = known->modseq; /* what changed since is asked next time */
		return 0;
	}
	r = driver_select_current(s, wire, c.uidvalidity, &out->sel);
	if (r < 0)
		return r;
	out->sel.uidnext = c.uidnext;
	out->sel.exists = c.messages;
	out->sel.highestmodseq = c.highestmodseq;
	if (known->known && condstore && known->modseq && c.highestmodseq && c.uidnext &&
	    out->sel.uidvalidity == known->uidvalidity && c.uidvalidity == known->uidvalidity &&
	    c.uidnext >= known->uidnext && c.highestmodseq >= known->modseq)
		return listing_delta(s, &run, &c);
	return listing_full(s, &run);
}
