/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the incremental IMAP response parser (src/imap/parser.h).
 *
 * Input: 1 byte choosing the limits, 8 bytes giving the sizes of the pieces
 * the stream is fed in (cycled), then the server's byte stream.
 *
 * The stream is parsed twice with the same limits, once fed whole and once
 * in the chosen pieces; framing must not depend on how the bytes arrive, so
 * both runs must give the same responses, the same error and the same pending
 * state. Every response is checked against the header's promises and walked
 * with the imap_value helpers (and handed to imap_completion_errno(), for
 * date-like strings imap_datetime_parse(), for atoms imap_uid_set_parse()). After an error the piecewise run
 * checks the error is sticky, resets the parser and feeds the rest.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imap/codes.h"
#include "imap/datetime.h"
#include "imap/parser.h"
#include "imap/uid_set.h"
#include "util/buf.h"

#include "fuzz_common.h"

#define CONFIG_BYTES 9

/* ---- The canonical dump of responses, in a struct buf ------------------- */

/* Out of memory is no finding about the parser, but nothing can go on. */
static void dump_put(struct buf *b, const void *p, size_t n)
{
	if (buf_append(b, p, n) < 0)
		abort();
}

static void dump_u64(struct buf *b, uint64_t v)
{
	dump_put(b, &v, sizeof(v));
}

/* Length-prefixed so that no two different dumps look alike; NULL is distinct. */
static void dump_str(struct buf *b, const char *s, size_t n)
{
	if (!s) {
		dump_u64(b, UINT64_MAX);
		return;
	}
	dump_u64(b, n);
	dump_put(b, s, n);
}

/* ---- Checks and helper calls on values ---------------------------------- */

static bool ascii_lower_copy(const char *s, size_t n, char *out, size_t outsz)
{
	if (n + 1 > outsz)
		return false;
	for (size_t i = 0; i < n; i++)
		out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
	out[n] = '\0';
	return true;
}

static void check_datetime(const char *s, size_t n)
{
	time_t t, t2;
	char fmt[64];

	if (n > 64 || imap_datetime_parse(s, n, &t) != 0)
		return;
	imap_datetime_format(t, fmt, sizeof(fmt));
	FUZZ_CHECK(imap_datetime_parse(fmt, strlen(fmt), &t2) == 0 && t2 == t,
		   "datetime \"%s\" -> %lld -> \"%s\" does not parse back", fuzz_show(s, n),
		   (long long)t, fmt);
}

/* An atom read as a UID set (ESEARCH ALL, VANISHED): the ranges keep their promises. */
static void check_uid_set(const char *s, size_t n)
{
	struct imap_uid_range *r;
	size_t count;

	if (imap_uid_set_parse(s, n, &r, &count) != 0)
		return;
	FUZZ_CHECK(count > 0, "UID set \"%s\" parsed to nothing", fuzz_show(s, n));
	for (size_t i = 0; i < count; i++) {
		FUZZ_CHECK(r[i].lo > 0 && r[i].lo <= r[i].hi, "bad range %u:%u", r[i].lo, r[i].hi);
		FUZZ_CHECK(i == 0 || r[i].lo > r[i - 1].hi + UINT64_C(1),
			   "ranges %u:%u and %u:%u not merged", r[i - 1].lo, r[i - 1].hi, r[i].lo,
			   r[i].hi);
		FUZZ_CHECK(imap_uid_set_has(r, count, r[i].lo) && imap_uid_set_has(r, count, r[i].hi),
			   "range %u:%u not found", r[i].lo, r[i].hi);
		FUZZ_CHECK(r[i].lo == 1 || !imap_uid_set_has(r, count, r[i].lo - 1),
			   "%u found before its range", r[i].lo - 1);
	}
	free(r);
}

/* Walks v, checking the structure and every helper on it; returns its bytes. */
static uint64_t walk_value(const struct imap_value *v, unsigned depth, struct buf *dump)
{
	const char *text = imap_value_text(v);
	uint64_t num, bytes = 0;
	char lower[256];

	FUZZ_CHECK(depth < 100000, "absurd nesting");
	dump_u64(dump, v->type);
	switch (v->type) {
	case IMAP_NIL:
		FUZZ_CHECK(!v->str, "NIL with a string");
		FUZZ_CHECK(text == NULL, "imap_value_text(NIL) not NULL");
		break;
	case IMAP_ATOM:
		FUZZ_CHECK(v->str && v->len && strlen(v->str) == v->len,
			   "bad ATOM (len %zu)", v->len);
		check_uid_set(v->str, v->len);
		break;
	case IMAP_NUMBER: {
		uint64_t n = 0;
		bool ok = v->str && v->len && strlen(v->str) == v->len;

		for (size_t i = 0; ok && i < v->len; i++) {
			ok = v->str[i] >= '0' && v->str[i] <= '9' &&
			     n <= (UINT64_MAX - (uint64_t)(v->str[i] - '0')) / 10;
			n = n * 10 + (uint64_t)(v->str[i] - '0');
		}
		FUZZ_CHECK(ok && n == v->num, "bad NUMBER \"%s\" num %" PRIu64,
			   fuzz_show(v->str, v->len), v->num);
		dump_u64(dump, v->num);
		break;
	}
	case IMAP_STRING:
		FUZZ_CHECK(v->str && v->str[v->len] == '\0', "STRING not NUL-terminated");
		dump_u64(dump, v->literal8);
		check_datetime(v->str, v->len);
		break;
	case IMAP_LIST:
		FUZZ_CHECK((v->count == 0) == (v->items == NULL), "LIST count %zu items %p",
			   v->count, (void *)v->items);
		FUZZ_CHECK(text == NULL, "imap_value_text(LIST) not NULL");
		break;
	default:
		FUZZ_CHECK(false, "unknown value type %d", (int)v->type);
	}

	if (v->type == IMAP_ATOM || v->type == IMAP_NUMBER || v->type == IMAP_STRING) {
		FUZZ_CHECK(text == v->str, "imap_value_text() is not the value's text");
		dump_str(dump, v->str, v->len);
		bytes += v->len;
	}
	if (v->type == IMAP_ATOM || v->type == IMAP_NUMBER) {
		FUZZ_CHECK(imap_value_is(v, v->str), "imap_value_is(v, own text \"%s\") false",
			   fuzz_show(v->str, v->len));
		if (ascii_lower_copy(v->str, v->len, lower, sizeof(lower)))
			FUZZ_CHECK(imap_value_is(v, lower), "imap_value_is ignoring case: \"%s\"",
				   fuzz_show(v->str, v->len));
	}
	if (v->type == IMAP_STRING && strlen(v->str) == v->len)
		FUZZ_CHECK(!imap_value_is(v, v->str), "imap_value_is() true for a STRING");
	(void)imap_value_is(v, "NIL");
	FUZZ_CHECK(imap_value_number(v, &num) == (v->type == IMAP_NUMBER) &&
			   (v->type != IMAP_NUMBER || num == v->num),
		   "imap_value_number() disagrees with the type");
	FUZZ_CHECK(imap_value_number(v, NULL) == (v->type == IMAP_NUMBER),
		   "imap_value_number(v, NULL)");

	if (v->type != IMAP_LIST) {
		FUZZ_CHECK(imap_list_item(v, 0) == NULL, "imap_list_item() of a non-list");
		FUZZ_CHECK(imap_list_lookup(v, "UID") == NULL, "imap_list_lookup() of a non-list");
		return bytes;
	}
	dump_u64(dump, v->count);
	FUZZ_CHECK(imap_list_item(v, v->count) == NULL, "imap_list_item(count) not NULL");
	FUZZ_CHECK(imap_list_item(v, SIZE_MAX) == NULL, "imap_list_item(SIZE_MAX) not NULL");
	for (size_t i = 0; i < v->count; i++) {
		FUZZ_CHECK(imap_list_item(v, i) == &v->items[i], "imap_list_item(%zu)", i);
		bytes += walk_value(&v->items[i], depth + 1, dump);
	}
	static const char *const keys[] = { "UID", "FLAGS", "BODYSTRUCTURE", "MESSAGES",
					    "BODY[]", "RFC822.SIZE" };
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		const struct imap_value *got = imap_list_lookup(v, keys[k]);

		if (got) {
			size_t j = (size_t)(got - v->items);

			FUZZ_CHECK(got >= v->items && j >= 1 && j < v->count &&
					   imap_value_is(&v->items[j - 1], keys[k]),
				   "imap_list_lookup(\"%s\") gave item %zu", keys[k], j);
		}
	}
	if (v->count && (v->items[0].type == IMAP_ATOM || v->items[0].type == IMAP_NUMBER))
		FUZZ_CHECK(imap_list_lookup(v, v->items[0].str) ==
				   (v->count >= 2 ? &v->items[1] : NULL),
			   "imap_list_lookup() of the first name");
	return bytes;
}

static const char *const status_names[] = { "", "OK", "NO", "BAD", "BYE", "PREAUTH" };

/* Returns the bytes of strings in the response that stem from distinct input. */
static uint64_t check_response(const struct imap_response *r, struct buf *dump)
{
	uint64_t bytes = 0;

	FUZZ_CHECK(r->name, "response without a name");
	FUZZ_CHECK(r->args.type == IMAP_LIST && r->code_args.type == IMAP_LIST,
		   "args or code_args not a LIST");
	FUZZ_CHECK((r->kind == IMAP_RESP_TAGGED) == (r->tag != NULL), "tag vs kind");
	FUZZ_CHECK(r->kind != IMAP_RESP_TAGGED || r->status != IMAP_STATUS_NONE,
		   "tagged data response");
	FUZZ_CHECK((unsigned)r->status <= IMAP_STATUS_PREAUTH, "bad status");
	FUZZ_CHECK(r->status == IMAP_STATUS_NONE || !strcmp(r->name, status_names[r->status]),
		   "status %d named \"%s\"", (int)r->status, fuzz_show(r->name, strlen(r->name)));
	FUZZ_CHECK(r->text, "text is NULL");
	FUZZ_CHECK(r->code || r->code_args.count == 0, "code args without a code");
	FUZZ_CHECK(r->kind != IMAP_RESP_CONTINUATION || !*r->name, "continuation with a name");
	for (const char *c = r->name; *c; c++)
		FUZZ_CHECK(!(*c >= 'a' && *c <= 'z'), "name not upper-cased: \"%s\"", r->name);
	if (r->code)
		for (const char *c = r->code; *c; c++)
			FUZZ_CHECK(!(*c >= 'a' && *c <= 'z'), "code not upper-cased: \"%s\"",
				   fuzz_show(r->code, strlen(r->code)));

	dump_u64(dump, r->kind);
	dump_str(dump, r->tag, r->tag ? strlen(r->tag) : 0);
	dump_u64(dump, r->has_number);
	dump_u64(dump, r->has_number ? r->number : 0);
	dump_str(dump, r->name, strlen(r->name));
	dump_u64(dump, r->status);
	dump_str(dump, r->code, r->code ? strlen(r->code) : 0);
	dump_str(dump, r->text, strlen(r->text));
	walk_value(&r->code_args, 0, dump);
	bytes += walk_value(&r->args, 0, dump);
	bytes += strlen(r->text) + (r->tag ? strlen(r->tag) : 0);

	if (r->kind == IMAP_RESP_TAGGED) {
		int e = imap_completion_errno(r);

		FUZZ_CHECK(e <= 0, "imap_completion_errno() = %d", e);
		FUZZ_CHECK(r->status != IMAP_STATUS_OK || e == 0,
			   "imap_completion_errno() = %d for OK", e);
		FUZZ_CHECK((r->status != IMAP_STATUS_NO && r->status != IMAP_STATUS_BAD &&
			    r->status != IMAP_STATUS_BYE) || e < 0,
			   "imap_completion_errno() = %d for status %d", e, (int)r->status);
	}
	return bytes;
}

/* ---- Feeding ------------------------------------------------------------ */

struct run {
	struct buf dump;
	int err;
	bool pending;
	size_t responses;
};

static size_t piece_size(const uint8_t *table, size_t i, size_t left)
{
	uint8_t t;
	size_t n;

	if (!table)
		return left;
	t = table[i % 8];
	if (t == 0xff)
		n = left;            /* everything left */
	else if (t >= 0xc0)
		n = 1 + (size_t)(t - 0xc0) * 16; /* medium */
	else
		n = 1 + t % 8;       /* mostly tiny pieces */
	return n < left ? n : left;
}

/*
 * Feeds in to a new parser in pieces (table NULL: whole). When reset_after_error
 * is set, a failed parser is reset and given the rest, which is not recorded.
 */
static void run_parser(const struct imap_parser_limits *lim, const char *in, size_t len,
		       const uint8_t *table, bool reset_after_error, size_t max_response,
		       struct run *out)
{
	struct imap_parser *p = imap_parser_new(lim);
	size_t off = 0, pieces = 0;
	unsigned resets = 0;
	bool failed = false;

	memset(out, 0, sizeof(*out));
	if (!p)
		abort();
	FUZZ_CHECK(!imap_parser_pending(p), "new parser pending");
	FUZZ_CHECK(imap_parser_take(p) == NULL, "new parser has a response");
	while (off < len) {
		size_t piece = piece_size(table, pieces++, len - off);
		const char *q = in + off;
		size_t left = piece;

		while (left) {
			ssize_t n = imap_parser_feed(p, q, left);
			struct imap_response *r;

			if (n < 0) {
				const char *why = imap_parser_error(p);

				FUZZ_CHECK(n == -EPROTO || n == -E2BIG,
					   "imap_parser_feed() = %zd", n);
				FUZZ_CHECK(why && *why && strcmp(why, "no error"),
					   "no reason for error %zd", n);
				FUZZ_CHECK(imap_parser_feed(p, "x", 1) == n,
					   "error %zd is not sticky", n);
				FUZZ_CHECK(imap_parser_take(p) == NULL,
					   "failed parser gives a response");
				if (!failed) {
					failed = true;
					out->err = (int)n;
				}
				if (!reset_after_error || resets++ == 3)
					goto done;
				/* Start over on the rest, as after STARTTLS. */
				imap_parser_reset(p);
				FUZZ_CHECK(!imap_parser_pending(p), "pending after reset");
				FUZZ_CHECK(!strcmp(imap_parser_error(p), "no error"),
					   "error \"%s\" after reset", imap_parser_error(p));
				/* Skip the byte that failed so the rest makes progress. */
				q++;
				left--;
				continue;
			}
			FUZZ_CHECK((size_t)n <= left, "feed consumed %zd of %zu", n, left);
			r = imap_parser_take(p);
			FUZZ_CHECK(r || (size_t)n == left,
				   "feed stopped at %zd of %zu without a response", n, left);
			FUZZ_CHECK(r || n > 0, "feed made no progress on %zu bytes", left);
			if (r) {
				struct buf scratch = BUF_INIT;
				uint64_t bytes = check_response(r, failed ? &scratch : &out->dump);

				FUZZ_CHECK(bytes <= max_response,
					   "response holds %" PRIu64 " bytes of text, limit %zu",
					   bytes, max_response);
				FUZZ_CHECK(imap_parser_take(p) == NULL, "second take not NULL");
				if (!failed)
					out->responses++;
				buf_free(&scratch);
				imap_response_free(r);
			}
			q += n;
			left -= (size_t)n;
		}
		off += piece;
	}
	if (!failed)
		out->pending = imap_parser_pending(p);
done:
	imap_parser_free(p);
}

static const size_t literal_caps[] = { 0, 8, 64, 1024 };
static const size_t response_caps[] = { 16, 128, 1024, 65536 };
static const unsigned depth_caps[] = { 0, 1, 4, 16 };
static const size_t value_caps[] = { 4, 64 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parser_limits lim = imap_parser_default_limits;
	const uint8_t *table;
	const char *in;
	struct run whole, pieces;
	size_t len;
	uint8_t sel;

	if (size < CONFIG_BYTES)
		return 0;
	sel = data[0];
	table = data + 1;
	in = (const char *)data + CONFIG_BYTES;
	len = size - CONFIG_BYTES;
	if (!(sel & 0x80)) {
		lim.max_literal = literal_caps[sel & 3];
		lim.max_response = response_caps[(sel >> 2) & 3];
		lim.max_depth = depth_caps[(sel >> 4) & 3];
		lim.max_values = value_caps[(sel >> 6) & 1];
	}

	/* NULL is accepted everywhere. */
	FUZZ_CHECK(!imap_value_is(NULL, "NIL") && !imap_value_text(NULL) &&
			   !imap_list_item(NULL, 0) && !imap_list_lookup(NULL, "UID") &&
			   !imap_value_number(NULL, NULL),
		   "helpers on NULL");

	run_parser(&lim, in, len, NULL, false, lim.max_response, &whole);
	run_parser(&lim, in, len, table, true, lim.max_response, &pieces);
	FUZZ_CHECK(whole.err == pieces.err,
		   "fed whole: error %d after %zu responses; in pieces: error %d after %zu",
		   whole.err, whole.responses, pieces.err, pieces.responses);
	FUZZ_CHECK(whole.responses == pieces.responses &&
			   whole.dump.len == pieces.dump.len &&
			   (!whole.dump.len || !memcmp(whole.dump.data, pieces.dump.data, whole.dump.len)),
		   "fed whole: %zu responses; in pieces: %zu, or they differ",
		   whole.responses, pieces.responses);
	FUZZ_CHECK(whole.pending == pieces.pending, "pending: whole %d, pieces %d",
		   whole.pending, pieces.pending);
	buf_free(&whole.dump);
	buf_free(&pieces.dump);
	return 0;
}
