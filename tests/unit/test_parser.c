/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the IMAP response parser.
 *
 * Most checks compare a canonical dump of the parsed responses with the
 * expected one, and do so for the same input fed whole, one byte at a time and
 * split at pseudo-random points: framing must not depend on how the bytes
 * arrive.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imap/parser.h"
#include "util/buf.h"

#include "check.h"

/* "ERR:<-E2BIG>", as parse_dump() reports it. */
static char err_e2big[32];

/* Non-printable bytes and '"' as \xHH; in strings also '\'. */
static void dump_escaped(struct buf *b, const char *s, size_t n, bool string)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c > 0x7e || c == '"' || (string && c == '\\'))
			dump_printf(b, "\\x%02x", c);
		else
			dump_put(b, (const char *)&c, 1);
	}
}

static void dump_value(struct buf *b, const struct imap_value *v)
{
	size_t i;

	switch (v->type) {
	case IMAP_NIL:
		dump_puts(b, "NIL");
		break;
	case IMAP_ATOM:
		dump_puts(b, "a:");
		dump_escaped(b, v->str, v->len, false);
		break;
	case IMAP_NUMBER:
		dump_printf(b, "n:%s", v->str);
		break;
	case IMAP_STRING:
		dump_puts(b, v->literal8 ? "s8:\"" : "s:\"");
		dump_escaped(b, v->str, v->len, true);
		dump_puts(b, "\"");
		break;
	case IMAP_LIST:
		dump_puts(b, "(");
		for (i = 0; i < v->count; i++) {
			if (i)
				dump_puts(b, " ");
			dump_value(b, &v->items[i]);
		}
		dump_puts(b, ")");
		break;
	default:
		dump_puts(b, "?BADTYPE?");
		break;
	}
}

static void dump_response(struct buf *b, const struct imap_response *r)
{
	switch (r->kind) {
	case IMAP_RESP_TAGGED:
		dump_printf(b, "tag:%s", r->tag ? r->tag : "(null)");
		break;
	case IMAP_RESP_UNTAGGED:
		dump_puts(b, "*");
		break;
	case IMAP_RESP_CONTINUATION:
		dump_puts(b, "+");
		break;
	}
	if (r->has_number)
		dump_printf(b, " #%u", (unsigned)r->number);
	if (r->name && *r->name)
		dump_printf(b, " %s", r->name);
	if (r->status != IMAP_STATUS_NONE || r->kind == IMAP_RESP_CONTINUATION) {
		if (r->code) {
			dump_printf(b, " [%s ", r->code);
			dump_value(b, &r->code_args);
			dump_puts(b, "]");
		}
		dump_puts(b, " text:\"");
		if (r->text)
			dump_escaped(b, r->text, strlen(r->text), true);
		dump_puts(b, "\"");
	} else {
		dump_puts(b, " ");
		dump_value(b, &r->args);
	}
}

/* ---- Structural invariants ------------------------------------------------ */

/* Iterative, so that deeply nested test input does not need a deep stack. */
static bool value_ok(const struct imap_value *root)
{
	const struct imap_value **todo;
	size_t n = 0, cap = 64;
	bool ok = true;

	todo = malloc(cap * sizeof(*todo));
	if (!todo)
		exit(2);
	todo[n++] = root;
	while (n && ok) {
		const struct imap_value *v = todo[--n];
		uint64_t num;
		size_t i;

		switch (v->type) {
		case IMAP_NIL:
			ok = !v->str;
			break;
		case IMAP_ATOM:
			ok = v->str && v->len && strlen(v->str) == v->len;
			break;
		case IMAP_NUMBER:
			ok = v->str && strlen(v->str) == v->len &&
			     sscanf(v->str, "%" SCNu64, &num) == 1 && num == v->num;
			break;
		case IMAP_STRING:
			ok = v->str && v->str[v->len] == '\0';
			break;
		case IMAP_LIST:
			ok = (v->count == 0) == (v->items == NULL);
			for (i = 0; ok && i < v->count; i++) {
				if (n == cap) {
					cap *= 2;
					todo = realloc(todo, cap * sizeof(*todo));
					if (!todo)
						exit(2);
				}
				todo[n++] = &v->items[i];
			}
			break;
		default:
			ok = false;
		}
	}
	free(todo);
	return ok;
}

static bool response_ok(const struct imap_response *r)
{
	static const char *const names[] = { "", "OK", "NO", "BAD", "BYE", "PREAUTH" };

	if (!r->name || r->args.type != IMAP_LIST || r->code_args.type != IMAP_LIST)
		return false;
	if ((r->kind == IMAP_RESP_TAGGED) != (r->tag != NULL))
		return false;
	if (r->kind == IMAP_RESP_TAGGED && r->status == IMAP_STATUS_NONE)
		return false;
	if (r->status != IMAP_STATUS_NONE && strcmp(r->name, names[r->status]))
		return false;
	if ((r->status != IMAP_STATUS_NONE || r->kind == IMAP_RESP_CONTINUATION) &&
	    !r->text)
		return false;
	if (!r->code && r->code_args.count)
		return false;
	return value_ok(&r->args) && value_ok(&r->code_args);
}

/* ---- Feeding harness ---------------------------------------------------- */

enum split {
	SPLIT_WHOLE,
	SPLIT_BYTES,
	SPLIT_RANDOM,
};

static uint64_t split_rng_state;

/* xorshift64*: deterministic across platforms; the splits and mutations this test always made. */
static uint64_t split_rng(void)
{
	split_rng_state ^= split_rng_state >> 12;
	split_rng_state ^= split_rng_state << 25;
	split_rng_state ^= split_rng_state >> 27;
	return split_rng_state * 2685821657736338717ULL;
}

static size_t next_piece(enum split mode, size_t left)
{
	size_t n;

	switch (mode) {
	case SPLIT_WHOLE:
		return left;
	case SPLIT_BYTES:
		return 1;
	default:
		/* Mostly small pieces, sometimes large ones. */
		n = split_rng() % 4 ? 1 + split_rng() % 7 : 1 + split_rng() % (left ? left : 1);
		return n < left ? n : left;
	}
}

/*
 * Parses in into a dump of every response, one per line, followed by
 * "ERR:<errno>" if the parser failed or "PENDING" if bytes were left over.
 */
static char *parse_dump(const struct imap_parser_limits *lim, const char *in,
			size_t len, enum split mode, uint64_t seed, int *err)
{
	struct imap_parser *p = imap_parser_new(lim);
	struct buf b = BUF_INIT;
	size_t off = 0;

	*err = 0;
	split_rng_state = seed * 0x9e3779b97f4a7c15ULL + 1;
	if (!p) {
		*err = -ENOMEM;
		return strdup("ENOMEM");
	}
	while (off < len) {
		size_t piece = next_piece(mode, len - off);
		const char *q = in + off;
		size_t left = piece;

		while (left) {
			size_t before = left;
			ssize_t n = imap_parser_feed(p, q, left);
			struct imap_response *r;

			if (n < 0) {
				*err = (int)n;
				/* A failed parser keeps failing the same way. */
				if (imap_parser_feed(p, "x", 1) != n)
					dump_puts(&b, "NOT-STICKY ");
				if (!*imap_parser_error(p))
					dump_puts(&b, "NO-MESSAGE ");
				dump_printf(&b, "ERR:%d", (int)n);
				goto out;
			}
			q += n;
			left -= (size_t)n;
			r = imap_parser_take(p);
			if (r) {
				if (!response_ok(r))
					dump_puts(&b, "BAD-INVARIANTS ");
				dump_response(&b, r);
				dump_puts(&b, "\n");
				imap_response_free(r);
			} else if ((size_t)n < before) {
				dump_puts(&b, "SHORT-WITHOUT-RESPONSE ");
			}
			if (!r && !n) {
				dump_puts(&b, "NO-PROGRESS");
				goto out;
			}
		}
		off += piece;
	}
	if (imap_parser_pending(p))
		dump_puts(&b, "PENDING");
out:
	imap_parser_free(p);
	return dump_take(&b);
}

/* Dumps in under every split mode and checks each against want. */
static void check_parse(const struct imap_parser_limits *lim, const char *in,
			size_t len, const char *want, int line)
{
	static const char *const modes[] = { "whole", "bytes", "random" };
	char what[96];
	uint64_t seed;
	int err;

	for (int m = SPLIT_WHOLE; m <= SPLIT_RANDOM; m++) {
		unsigned rounds = m == SPLIT_RANDOM ? 16 : 1;

		for (seed = 1; seed <= rounds; seed++) {
			char *got = parse_dump(lim, in, len, (enum split)m, seed, &err);

			snprintf(what, sizeof(what), "case %d parsed %s (seed %u)", line,
				 modes[m], (unsigned)seed);
			check_str(got, want, what, line);
			free(got);
		}
	}
}

#define S(lit) lit, sizeof(lit) - 1

struct example {
	const char *in;
	size_t len;
	const char *want;
};

static const struct example examples[] = {
	{ S("* 12 FETCH (UID 7 RFC822.SIZE 1234 FLAGS (\\Seen $Work) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" BODY[]<0> {5}\r\nhello)\r\n"),
	  "* #12 FETCH ((a:UID n:7 a:RFC822.SIZE n:1234 a:FLAGS (a:\\Seen a:$Work) a:INTERNALDATE s:\"17-Jul-1996 02:44:25 -0700\" a:BODY[]<0> s:\"hello\"))" },
	{ S("* LIST (\\HasNoChildren \\Noselect) \"/\" \"INBOX/a b\"\r\n"),
	  "* LIST ((a:\\HasNoChildren a:\\Noselect) s:\"/\" s:\"INBOX/a b\")" },
	{ S("* LIST () NIL INBOX\r\n"),
	  "* LIST (() NIL a:INBOX)" },
	/* A literal mailbox name that contains CRLF. */
	{ S("* LIST (\\HasChildren) \".\" {6}\r\nab\r\ncd\r\n"),
	  "* LIST ((a:\\HasChildren) s:\".\" s:\"ab\\x0d\\x0acd\")" },
	{ S("* CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN\r\n"),
	  "* CAPABILITY (a:IMAP4rev1 a:LITERAL+ a:AUTH=PLAIN)" },
	{ S("* STATUS \"x\" (MESSAGES 2 UIDNEXT 5)\r\n"),
	  "* STATUS (s:\"x\" (a:MESSAGES n:2 a:UIDNEXT n:5))" },
	{ S("* SEARCH 2 3\r\n"),
	  "* SEARCH (n:2 n:3)" },
	{ S("* SEARCH\r\n"),
	  "* SEARCH ()" },
	{ S("* VANISHED (EARLIER) 1:3,5\r\n"),
	  "* VANISHED ((a:EARLIER) a:1:3,5)" },
	{ S("* 3 EXPUNGE\r\n"),
	  "* #3 EXPUNGE ()" },
	{ S("* 4294967295 EXISTS\r\n"),
	  "* #4294967295 EXISTS ()" },
	{ S("* BYE server going down\r\n"),
	  "* BYE text:\"server going down\"" },
	{ S("* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"),
	  "* OK [UIDVALIDITY (n:3857529045)] text:\"UIDs valid\"" },
	{ S("a1 NO [OVERQUOTA] quota exceeded\r\n"),
	  "tag:a1 NO [OVERQUOTA ()] text:\"quota exceeded\"" },
	{ S("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"),
	  "* FLAGS ((a:\\Answered a:\\Flagged a:\\Deleted a:\\Seen a:\\Draft))" },
	{ S("* 1 FETCH (BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1152 23)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\" \"NAME\" \"cc.diff\") \"<960723163407.20117h@cac.washington.edu>\" \"Compiler diff\" \"BASE64\" 4554 73) \"MIXED\"))\r\n"),
	  "* #1 FETCH ((a:BODYSTRUCTURE ((s:\"TEXT\" s:\"PLAIN\" (s:\"CHARSET\" s:\"US-ASCII\") NIL NIL s:\"7BIT\" n:1152 n:23) (s:\"TEXT\" s:\"PLAIN\" (s:\"CHARSET\" s:\"US-ASCII\" s:\"NAME\" s:\"cc.diff\") s:\"<960723163407.20117h@cac.washington.edu>\" s:\"Compiler diff\" s:\"BASE64\" n:4554 n:73) s:\"MIXED\")))" },
	{ S("* 1 FETCH (BINARY[1] ~{3}\r\n\x00\x01\x02)\r\n"),
	  "* #1 FETCH ((a:BINARY[1] s8:\"\\x00\\x01\\x02\"))" },
	{ S("* 1 FETCH (BINARY.SIZE[2] 4000)\r\n"),
	  "* #1 FETCH ((a:BINARY.SIZE[2] n:4000))" },
	{ S("* 2 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {14}\r\nSubject: x\r\n\r\n)\r\n"),
	  "* #2 FETCH ((a:BODY[HEADER.FIELDS (SUBJECT FROM)] s:\"Subject: x\\x0d\\x0a\\x0d\\x0a\"))" },
	{ S("* 2 FETCH (BODY[HEADER.FIELDS (\"X-A]\" FROM)]<10> \"\")\r\n"),
	  "* #2 FETCH ((a:BODY[HEADER.FIELDS (\\x22X-A]\\x22 FROM)]<10> s:\"\"))" },
	/* Literal data is opaque: "(", CRLF, NUL, a quote and even a marker. */
	{ S("* 2 FETCH (BODY[] {12}\r\n(a\r\n\0)\"{1}\r\n UID 4)\r\n"),
	  "* #2 FETCH ((a:BODY[] s:\"(a\\x0d\\x0a\\x00)\\x22{1}\\x0d\\x0a\" a:UID n:4))" },
	{ S("* LIST () \"/\" {0}\r\n\r\n"),
	  "* LIST (() s:\"/\" s:\"\")" },
	{ S("* X {3+}\r\nabc {2}\r\nde ~{1}\r\nf\r\n"),
	  "* X (s:\"abc\" s:\"de\" s8:\"f\")" },
	{ S("* LIST () nil Nil\r\n"),
	  "* LIST (() NIL NIL)" },
	{ S("* SEARCH 99999999999999999999 18446744073709551615 18446744073709551616 0012\r\n"),
	  "* SEARCH (a:99999999999999999999 n:18446744073709551615 a:18446744073709551616 n:0012)" },
	{ S("* LIST () \"\\\\\" \"a\\\"b\" \"a\\qb\" \"caf\xc3\xa9\"\r\n"),
	  "* LIST (() s:\"\\x5c\" s:\"a\\x22b\" s:\"a\\x5cqb\" s:\"caf\\xc3\\xa9\")" },
	{ S("*  SEARCH  2   3 \r\n"),
	  "* SEARCH (n:2 n:3)" },
	{ S("* 5  exists \r\n"),
	  "* #5 EXISTS ()" },
	{ S("* 4 EXISTS\n"),
	  "* #4 EXISTS ()" },
	{ S("* X ( a  ( b ) )\r\n"),
	  "* X ((a:a (a:b)))" },
	{ S("* X %a* ]x\r\n"),
	  "* X (a:%a* a:]x)" },
	{ S("+ idling\r\n"),
	  "+ text:\"idling\"" },
	{ S("+\r\n"),
	  "+ text:\"\"" },
	{ S("+ \r\n"),
	  "+ text:\"\"" },
	{ S("+ dGVzdA==\r\n"),
	  "+ text:\"dGVzdA==\"" },
	/* Response codes. */
	{ S("* OK [PERMANENTFLAGS (\\Seen \\*)] Limited\r\n"),
	  "* OK [PERMANENTFLAGS ((a:\\Seen a:\\*))] text:\"Limited\"" },
	{ S("a2 NO [BADCHARSET (UTF-8 \"x\")] bad\r\n"),
	  "tag:a2 NO [BADCHARSET ((a:UTF-8 s:\"x\"))] text:\"bad\"" },
	{ S("a3 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n"),
	  "tag:a3 OK [COPYUID (n:38505 a:304,319:320 a:3956:3958)] text:\"Done\"" },
	{ S("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] ready\r\n"),
	  "* OK [CAPABILITY (a:IMAP4rev1 a:SASL-IR a:AUTH=PLAIN)] text:\"ready\"" },
	{ S("a4 OK done\r\n"),
	  "tag:a4 OK text:\"done\"" },
	{ S("a5 ok\r\n"),
	  "tag:a5 OK text:\"\"" },
	{ S("* ok [alert] Hello  there \r\n"),
	  "* OK [ALERT ()] text:\"Hello  there \"" },
	{ S("* OK [HIGHESTMODSEQ 715194045007]\r\n"),
	  "* OK [HIGHESTMODSEQ (n:715194045007)] text:\"\"" },
	{ S("* OK [REFERRAL imap://user;AUTH=*@SERVER2/] see\r\n"),
	  "* OK [REFERRAL (a:imap://user;AUTH=*@SERVER2/)] text:\"see\"" },
	{ S("* OK [BADCHARSET ({5}\r\nUTF-8)] x\r\n"),
	  "* OK [BADCHARSET ((s:\"UTF-8\"))] text:\"x\"" },
	/* An unparseable code is taken as words rather than failing. */
	{ S("* OK [X-WEIRD \"unbalanced (] text\r\n"),
	  "* OK [X-WEIRD (a:\\x22unbalanced a:()] text:\"text\"" },
	{ S("* PREAUTH [ALERT] hi\r\n"),
	  "* PREAUTH [ALERT ()] text:\"hi\"" },
	{ S("A0001 BAD [CLIENTBUG] what\r\n"),
	  "tag:A0001 BAD [CLIENTBUG ()] text:\"what\"" },
	{ S("* BYE\r\n"),
	  "* BYE text:\"\"" },
	/* Braces that are no literal marker are fine in text. */
	{ S("* OK see {x}\r\n"),
	  "* OK text:\"see {x}\"" },
	{ S("a1 NO {} {-1}\r\n"),
	  "tag:a1 NO text:\"{} {-1}\"" },
	/* Blank lines between responses are dropped. */
	{ S("\r\n\n* 1 RECENT\r\n"),
	  "* #1 RECENT ()" },
};

struct bad {
	const char *in;
	size_t len;
	int err;
};

static const struct bad bads[] = {
	{ S("* 1 FETCH (BODY[] {2147483648}\r\n"), -E2BIG },
	{ S("* 1 FETCH (BODY[] {9223372036854775808}\r\n"), -E2BIG },
	{ S("* 1 FETCH (BODY[] {18446744073709551617}\r\n"), -E2BIG },
	{ S("* 1 FETCH (BODY[] {99999999999999999999}\r\n"), -E2BIG },
	{ S("* 1 FETCH (BODY[] ~{18446744073709551616}\r\n"), -E2BIG },
	{ S("* 1 FETCH (BODY[] {-1}\r\n"), -EPROTO },
	{ S("* 1 FETCH (BODY[] {}\r\n"), -EPROTO },
	{ S("* 1 FETCH (BODY[] {+}\r\n"), -EPROTO },
	{ S("* 1 FETCH (BODY[] {12a}\r\n"), -EPROTO },
	{ S("* 1 FETCH (BODY[] {0x10}\r\n"), -EPROTO },
	{ S("* X \"abc\r\n"), -EPROTO },
	{ S("* X \"abc\\\r\n"), -EPROTO },
	{ S("* X \"a\0b\"\r\n"), -EPROTO },
	{ S("* 99999999999 EXISTS\r\n"), -EPROTO },
	{ S("* 4294967296 EXISTS\r\n"), -EPROTO },
	{ S("* 3EXISTS\r\n"), -EPROTO },
	{ S("* 3\r\n"), -EPROTO },
	{ S("a1 FETCH (UID 1)\r\n"), -EPROTO },
	{ S("a1 5 OK\r\n"), -EPROTO },
	{ S("a1\r\n"), -EPROTO },
	{ S("*\r\n"), -EPROTO },
	{ S("* \r\n"), -EPROTO },
	{ S("(a) OK\r\n"), -EPROTO },
	{ S("a*b OK\r\n"), -EPROTO },
	{ S(" * OK\r\n"), -EPROTO },
	{ S("* X (a b\r\n"), -EPROTO },
	{ S("* X a)\r\n"), -EPROTO },
	{ S("* X a\"b\"\r\n"), -EPROTO },
	{ S("* X \"a\"b\r\n"), -EPROTO },
	{ S("* X \x01\r\n"), -EPROTO },
	{ S("* X a\rb\r\n"), -EPROTO },
	{ S("* X BODY[1\r\n"), -EPROTO },
	{ S("* X { 5}\r\n"), -EPROTO },
	{ S("* X {5} a\r\n"), -EPROTO },
	/* Miscounted literals must not be silently resynchronised. */
	{ S("* X {5}\r\nabcdefg\r\n"), -EPROTO },
	{ S("* X {3}\r\nabc{3}\r\ndef\r\n"), -EPROTO },
	{ S("* LIST (\\HasChildren) \".\" {5}\r\nab\r\ncd\r\n"), -EPROTO },
	/* Text is not a place for literals. */
	{ S("* OK [ALERT] see {3}\r\nabc\r\n"), -EPROTO },
	{ S("* OK see {3}\r\nabc\r\n"), -EPROTO },
	{ S("* OK [ALERT\r\n"), -EPROTO },
	{ S("* OK []\r\n"), -EPROTO },
	{ S("* OK a\0b\r\n"), -EPROTO },
};

static void test_examples(void)
{
	struct buf all = BUF_INIT, want = BUF_INIT;
	size_t i;

	for (i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
		const struct example *e = &examples[i];
		struct buf w = BUF_INIT;
		char *ws;

		dump_puts(&w, e->want);
		dump_puts(&w, "\n");
		ws = dump_take(&w);
		check_parse(NULL, e->in, e->len, ws, (int)i);
		free(ws);

		dump_put(&all, e->in, e->len);
		dump_puts(&want, e->want);
		dump_puts(&want, "\n");
	}
	/* All of them in one buffer. */
	check_parse(NULL, all.data, all.len, want.data, __LINE__);
	buf_free(&all);
	buf_free(&want);
}

static void test_errors(void)
{
	char what[64];
	size_t i;

	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		char want[32];

		snprintf(want, sizeof(want), "ERR:%d", bads[i].err);
		check_parse(NULL, bads[i].in, bads[i].len, want, (int)(1000 + i));
	}

	/* After an error the parser stays failed until reset, then works. */
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct imap_parser *p = imap_parser_new(NULL);
		struct imap_response *r;
		ssize_t n;

		n = imap_parser_feed(p, bads[i].in, bads[i].len);
		snprintf(what, sizeof(what), "bad[%zu] error", i);
		check_int(n, bads[i].err, what, __LINE__);
		CHECK_THAT(strlen(imap_parser_error(p)) > 0);
		CHECK_THAT(imap_parser_feed(p, S("* OK x\r\n")) == bads[i].err);
		CHECK_THAT(imap_parser_take(p) == NULL);
		imap_parser_reset(p);
		CHECK_THAT(!imap_parser_pending(p));
		CHECK_INT(imap_parser_feed(p, S("* OK x\r\n")), 8);
		r = imap_parser_take(p);
		CHECK_THAT(r && r->status == IMAP_STATUS_OK && !strcmp(r->text, "x"));
		imap_response_free(r);
		imap_parser_free(p);
	}
}

static void test_feed_semantics(void)
{
	struct imap_parser *p = imap_parser_new(NULL);
	const char in[] = "* A\r\n* B\r\n* C";
	struct imap_response *r;

	CHECK_THAT(p);
	CHECK_THAT(!imap_parser_pending(p));
	CHECK_THAT(imap_parser_take(p) == NULL);
	CHECK_INT(imap_parser_feed(p, in, 0), 0);
	/* Stops right after the first response's LF. */
	CHECK_INT(imap_parser_feed(p, in, sizeof(in) - 1), 5);
	/* Nothing more is consumed until that response is taken. */
	CHECK_INT(imap_parser_feed(p, in + 5, sizeof(in) - 6), 0);
	r = imap_parser_take(p);
	CHECK_THAT(r && !strcmp(r->name, "A") && r->kind == IMAP_RESP_UNTAGGED &&
	      r->status == IMAP_STATUS_NONE && !r->tag && !r->has_number);
	imap_response_free(r);
	CHECK_THAT(imap_parser_take(p) == NULL);
	CHECK_INT(imap_parser_feed(p, in + 5, sizeof(in) - 6), 5);
	r = imap_parser_take(p);
	CHECK_THAT(r && !strcmp(r->name, "B"));
	imap_response_free(r);
	CHECK_INT(imap_parser_feed(p, in + 10, 3), 3);
	CHECK_THAT(imap_parser_pending(p));
	CHECK_THAT(imap_parser_take(p) == NULL);
	CHECK_STR(imap_parser_error(p), "no error");

	/* reset() drops a partial response, including one inside a literal. */
	imap_parser_reset(p);
	CHECK_THAT(!imap_parser_pending(p));
	CHECK_INT(imap_parser_feed(p, S("* 1 FETCH (BODY[] {10}\r\nabc")), 27);
	CHECK_THAT(imap_parser_pending(p));
	imap_parser_reset(p);
	CHECK_INT(imap_parser_feed(p, S("* OK fine\r\n")), 11);
	r = imap_parser_take(p);
	CHECK_THAT(r && r->status == IMAP_STATUS_OK && !strcmp(r->text, "fine"));
	imap_response_free(r);

	/* ... and a completed one not yet taken. */
	CHECK_INT(imap_parser_feed(p, S("* OK one\r\n")), 10);
	imap_parser_reset(p);
	CHECK_THAT(imap_parser_take(p) == NULL);

	/* Freeing with a response not taken must not leak. */
	CHECK_INT(imap_parser_feed(p, S("* OK one\r\n")), 10);
	imap_parser_free(p);
	imap_response_free(NULL);
}

static void test_statuses(void)
{
	static const struct {
		const char *in;
		enum imap_resp_kind kind;
		enum imap_status status;
	} cases[] = {
		{ "* OK x\r\n", IMAP_RESP_UNTAGGED, IMAP_STATUS_OK },
		{ "t NO x\r\n", IMAP_RESP_TAGGED, IMAP_STATUS_NO },
		{ "t BAD x\r\n", IMAP_RESP_TAGGED, IMAP_STATUS_BAD },
		{ "* BYE x\r\n", IMAP_RESP_UNTAGGED, IMAP_STATUS_BYE },
		{ "* PREAUTH x\r\n", IMAP_RESP_UNTAGGED, IMAP_STATUS_PREAUTH },
		{ "* LIST () NIL x\r\n", IMAP_RESP_UNTAGGED, IMAP_STATUS_NONE },
		{ "+ x\r\n", IMAP_RESP_CONTINUATION, IMAP_STATUS_NONE },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imap_parser *p = imap_parser_new(NULL);
		struct imap_response *r;

		CHECK_INT(imap_parser_feed(p, cases[i].in, strlen(cases[i].in)),
			  strlen(cases[i].in));
		r = imap_parser_take(p);
		CHECK_THAT(r != NULL);
		if (r) {
			CHECK_INT(r->kind, cases[i].kind);
			CHECK_INT(r->status, cases[i].status);
			CHECK_THAT(!r->code);
			CHECK_THAT(r->code_args.type == IMAP_LIST && r->code_args.count == 0);
			if (r->status != IMAP_STATUS_NONE || r->kind == IMAP_RESP_CONTINUATION)
				CHECK_STR(r->text, "x");
			if (r->kind == IMAP_RESP_TAGGED)
				CHECK_STR(r->tag, "t");
			if (r->kind == IMAP_RESP_CONTINUATION)
				CHECK_STR(r->name, "");
		}
		imap_response_free(r);
		imap_parser_free(p);
	}
}

static void test_codes(void)
{
	struct imap_parser *p = imap_parser_new(NULL);
	struct imap_response *r;
	uint64_t n = 0;

	imap_parser_feed(p, S("* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"));
	r = imap_parser_take(p);
	CHECK_THAT(r && r->code && !strcmp(r->code, "UIDVALIDITY"));
	CHECK_THAT(r && imap_value_number(imap_list_item(&r->code_args, 0), &n) &&
	      n == 3857529045u);
	CHECK_THAT(r && !strcmp(r->text, "UIDs valid"));
	imap_response_free(r);

	imap_parser_feed(p, S("* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n"));
	r = imap_parser_take(p);
	CHECK_THAT(r && r->code && !strcmp(r->code, "PERMANENTFLAGS"));
	if (r) {
		const struct imap_value *l = imap_list_item(&r->code_args, 0);

		CHECK_THAT(l && l->type == IMAP_LIST && l->count == 3);
		CHECK_THAT(imap_value_is(imap_list_item(l, 2), "\\*"));
		CHECK_THAT(imap_value_is(imap_list_item(l, 0), "\\deleted"));
	}
	imap_response_free(r);

	imap_parser_feed(p, S("a7 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n"));
	r = imap_parser_take(p);
	CHECK_THAT(r && r->kind == IMAP_RESP_TAGGED && !strcmp(r->tag, "a7"));
	CHECK_THAT(r && r->code && !strcmp(r->code, "COPYUID") && r->code_args.count == 3);
	CHECK_THAT(r && imap_value_is(imap_list_item(&r->code_args, 1), "304,319:320"));
	CHECK_THAT(r && !strcmp(imap_value_text(imap_list_item(&r->code_args, 2)),
			   "3956:3958"));
	imap_response_free(r);

	imap_parser_feed(p, S("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] ready\r\n"));
	r = imap_parser_take(p);
	CHECK_THAT(r && r->code && !strcmp(r->code, "CAPABILITY") && r->code_args.count == 3);
	CHECK_THAT(r && imap_value_is(imap_list_item(&r->code_args, 2), "auth=plain"));
	imap_response_free(r);

	imap_parser_feed(p, S("* OK Dovecot ready.\r\n"));
	r = imap_parser_take(p);
	CHECK_THAT(r && !r->code && r->code_args.type == IMAP_LIST &&
	      r->code_args.count == 0 && !strcmp(r->text, "Dovecot ready."));
	imap_response_free(r);
	imap_parser_free(p);
}

static void test_helpers(void)
{
	struct imap_parser *p = imap_parser_new(NULL);
	const struct imap_value *msg, *v;
	struct imap_response *r;
	uint64_t n = 0;

	imap_parser_feed(p, S("* 12 FETCH (UID 7 RFC822.SIZE 1234 FLAGS (\\Seen $Work) "
			      "INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" "
			      "ENVELOPE NIL BODY[]<0> {5}\r\nhello)\r\n"));
	r = imap_parser_take(p);
	CHECK_THAT(r != NULL);
	if (!r) {
		imap_parser_free(p);
		return;
	}
	CHECK_THAT(r->has_number && r->number == 12);
	CHECK_STR(r->name, "FETCH");
	CHECK_STR(r->text, "");
	CHECK_THAT(r->args.count == 1);
	msg = imap_list_item(&r->args, 0);
	CHECK_THAT(msg && msg->type == IMAP_LIST && msg->count == 12);

	CHECK_THAT(imap_value_number(imap_list_lookup(msg, "UID"), &n) && n == 7);
	CHECK_THAT(imap_value_number(imap_list_lookup(msg, "rfc822.size"), &n) && n == 1234);
	CHECK_THAT(imap_value_number(imap_list_lookup(msg, "UID"), NULL));
	v = imap_list_lookup(msg, "FLAGS");
	CHECK_THAT(v && v->type == IMAP_LIST && v->count == 2);
	CHECK_THAT(imap_value_is(imap_list_item(v, 0), "\\SEEN"));
	CHECK_THAT(!imap_value_is(imap_list_item(v, 0), "\\See"));
	CHECK_THAT(!imap_value_is(imap_list_item(v, 0), "\\Seenx"));
	CHECK_THAT(imap_list_item(v, 2) == NULL);
	v = imap_list_lookup(msg, "internaldate");
	CHECK_THAT(v && v->type == IMAP_STRING && !imap_value_is(v, "17-Jul-1996 02:44:25 -0700"));
	CHECK_STR(imap_value_text(v), "17-Jul-1996 02:44:25 -0700");
	v = imap_list_lookup(msg, "ENVELOPE");
	CHECK_THAT(v && v->type == IMAP_NIL && imap_value_text(v) == NULL);
	v = imap_list_lookup(msg, "body[]<0>");
	CHECK_THAT(v && v->type == IMAP_STRING && v->len == 5 && !v->literal8);
	CHECK_STR(imap_value_text(v), "hello");
	/* Values are not keys: "7" sits at an odd index. */
	CHECK_THAT(imap_list_lookup(msg, "7") == NULL);
	CHECK_THAT(imap_list_lookup(msg, "hello") == NULL);
	CHECK_THAT(imap_list_lookup(msg, "MODSEQ") == NULL);
	CHECK_THAT(imap_list_lookup(imap_list_item(msg, 0), "UID") == NULL);
	CHECK_THAT(imap_list_lookup(NULL, "UID") == NULL);
	CHECK_THAT(imap_list_lookup(msg, NULL) == NULL);

	CHECK_THAT(imap_value_is(imap_list_item(msg, 1), "7"));
	CHECK_THAT(!imap_value_is(NULL, "x"));
	CHECK_THAT(!imap_value_is(imap_list_item(msg, 0), NULL));
	CHECK_THAT(imap_value_text(NULL) == NULL);
	CHECK_THAT(imap_value_text(msg) == NULL);
	CHECK_STR(imap_value_text(imap_list_item(msg, 1)), "7");
	CHECK_THAT(imap_list_item(NULL, 0) == NULL);
	CHECK_THAT(imap_list_item(imap_list_item(msg, 0), 0) == NULL);
	CHECK_THAT(imap_list_item(msg, 12) == NULL);
	CHECK_THAT(imap_list_item(msg, SIZE_MAX) == NULL);
	CHECK_THAT(!imap_value_number(NULL, &n));
	CHECK_THAT(!imap_value_number(imap_list_item(msg, 0), &n));
	CHECK_THAT(!imap_value_number(imap_list_lookup(msg, "FLAGS"), &n));
	imap_response_free(r);

	/* STATUS: a list of names and values after the mailbox. */
	imap_parser_feed(p, S("* STATUS \"x\" (MESSAGES 2 UIDNEXT 5)\r\n"));
	r = imap_parser_take(p);
	CHECK_THAT(r && imap_value_number(imap_list_lookup(imap_list_item(&r->args, 1),
						      "uidnext"), &n) && n == 5);
	imap_response_free(r);
	imap_parser_free(p);
}

/* Literal data is stored, not scanned; all bytes come back, NUL-terminated. */
static void test_literal_bytes(void)
{
	const size_t sizes[] = { 1, 100, (size_t)16 << 10, ((size_t)16 << 10) + 1, 100000 };
	size_t i, k;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t len = sizes[i];
		struct buf in = BUF_INIT;
		char *data = malloc(len);
		struct imap_parser *p = imap_parser_new(NULL);
		struct imap_response *r;
		const struct imap_value *v;
		size_t off = 0;

		for (k = 0; k < len; k++)
			data[k] = "(\r\n\0\")[]{5}\\"[k % 13];
		/* Two literals, to cover a taken-over buffer with several. */
		dump_printf(&in, "* 9 FETCH (BODY[1] {%zu}\r\n", len);
		dump_put(&in, data, len);
		dump_printf(&in, " BINARY[2] ~{%zu}\r\n", len);
		dump_put(&in, data, len);
		dump_puts(&in, ")\r\n* 1 EXISTS\r\n");

		split_rng_state = 77 + i;
		r = NULL;
		while (off < in.len && !r) {
			size_t piece = i % 2 ? next_piece(SPLIT_RANDOM, in.len - off) :
					       in.len - off;
			ssize_t n = imap_parser_feed(p, in.data + off, piece);

			CHECK_THAT(n >= 0);
			if (n < 0)
				break;
			off += (size_t)n;
			r = imap_parser_take(p);
		}
		CHECK_THAT(r != NULL);
		if (r) {
			const struct imap_value *msg = imap_list_item(&r->args, 0);

			v = imap_list_lookup(msg, "BODY[1]");
			CHECK_THAT(v && v->len == len && !memcmp(v->str, data, len) &&
			      v->str[len] == '\0' && !v->literal8);
			v = imap_list_lookup(msg, "BINARY[2]");
			CHECK_THAT(v && v->len == len && !memcmp(v->str, data, len) &&
			      v->str[len] == '\0' && v->literal8);
			CHECK_THAT(response_ok(r));
		}
		imap_response_free(r);
		/* The parser goes on normally after a taken-over buffer. */
		CHECK_INT(imap_parser_feed(p, in.data + off, in.len - off), in.len - off);
		r = imap_parser_take(p);
		CHECK_THAT(r && r->has_number && r->number == 1 && !strcmp(r->name, "EXISTS"));
		imap_response_free(r);
		imap_parser_free(p);
		buf_free(&in);
		free(data);
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_big_literal(void)
{
	const size_t len = (size_t)1 << 20;
	const char head[] = "* 1 FETCH (UID 3 BODY[] {1048576}\r\n";
	const char tail[] = ")\r\n";
	size_t total = sizeof(head) - 1 + len + sizeof(tail) - 1;
	char *in = malloc(total);
	struct imap_parser *p = imap_parser_new(NULL);
	struct imap_response *r;
	const struct imap_value *v;
	double t;
	size_t k;

	memcpy(in, head, sizeof(head) - 1);
	for (k = 0; k < len; k++)
		in[sizeof(head) - 1 + k] = (char)(k * 7 + (k >> 9));
	memcpy(in + sizeof(head) - 1 + len, tail, sizeof(tail) - 1);

	t = now();
	CHECK_INT(imap_parser_feed(p, in, total), total);
	r = imap_parser_take(p);
	t = now() - t;
	printf("1 MiB literal in one feed: %.3f ms\n", t * 1e3);
	v = r ? imap_list_lookup(imap_list_item(&r->args, 0), "BODY[]") : NULL;
	CHECK_THAT(v && v->len == len && !memcmp(v->str, in + sizeof(head) - 1, len) &&
	      v->str[len] == '\0');
	imap_response_free(r);
	imap_parser_free(p);
	free(in);
}

static void test_limits(void)
{
	struct imap_parser_limits lim = imap_parser_default_limits;
	struct buf b = BUF_INIT;
	char *s;
	int err;

	CHECK_THAT(imap_parser_default_limits.max_literal == (size_t)256 << 20);
	CHECK_THAT(imap_parser_default_limits.max_depth == 64);

	/* The literal cap. */
	lim.max_literal = 10;
	s = parse_dump(&lim, S("* X {10}\r\n0123456789\r\n"), SPLIT_WHOLE, 0, &err);
	CHECK_STR(s, "* X (s:\"0123456789\")\n");
	free(s);
	check_parse(&lim, S("* X {11}\r\n"), err_e2big, __LINE__);
	check_parse(&lim, S("* X ~{11}\r\n"), err_e2big, __LINE__);

	/*
	 * With no literal cap, a huge size must still be refused by the
	 * response cap before anything is allocated for it; an attempt to
	 * allocate 2^63 bytes would abort under ASan.
	 */
	lim.max_literal = SIZE_MAX;
	lim.max_response = (size_t)1 << 20;
	check_parse(&lim, S("* X {9223372036854775808}\r\n"), err_e2big, __LINE__);
	check_parse(&lim, S("* X {18446744073709551615}\r\n"), err_e2big, __LINE__);

	/* The response cap counts every byte, literals included. */
	lim = imap_parser_default_limits;
	lim.max_response = 16;
	check_parse(&lim, S("* X 0123456789\r\n"), "* X (n:0123456789)\n", __LINE__);
	check_parse(&lim, S("* X 01234567890\r\n"), err_e2big, __LINE__);
	check_parse(&lim, S("* X 0123456789012345678901234567"), err_e2big, __LINE__);
	check_parse(&lim, S("* X {3}\r\nabc\r\n"), "* X (s:\"abc\")\n", __LINE__);
	check_parse(&lim, S("* X {6}\r\nabcdef\r\n"), err_e2big, __LINE__);
	check_parse(&lim, S("* X {8}\r\n"), err_e2big, __LINE__);
	/* ... per response, not per connection. */
	check_parse(&lim, S("* X 0123456789\r\n* X 0123456789\r\n"),
		    "* X (n:0123456789)\n* X (n:0123456789)\n", __LINE__);

	/* The value cap: lists count as values too. */
	lim = imap_parser_default_limits;
	lim.max_values = 3;
	check_parse(&lim, S("* X a b c\r\n"), "* X (a:a a:b a:c)\n", __LINE__);
	check_parse(&lim, S("* X (a b)\r\n"), "* X ((a:a a:b))\n", __LINE__);
	check_parse(&lim, S("* X a b c d\r\n"), err_e2big, __LINE__);
	check_parse(&lim, S("* X (a b c)\r\n"), err_e2big, __LINE__);
	check_parse(&lim, S("* OK [X a b c d] t\r\n"), err_e2big, __LINE__);
	/* Literals are refused in framing already, before the response ends. */
	check_parse(&lim, S("* X {0}\r\n {0}\r\n {0}\r\n {0}\r\n"), err_e2big, __LINE__);

	/* The depth cap, for parentheses and for brackets inside atoms. */
	lim = imap_parser_default_limits;
	lim.max_depth = 2;
	check_parse(&lim, S("* X ((a))\r\n"), "* X (((a:a)))\n", __LINE__);
	check_parse(&lim, S("* X (((a)))\r\n"), err_e2big, __LINE__);
	check_parse(&lim, S("* X (BODY[A])\r\n"), "* X ((a:BODY[A]))\n", __LINE__);
	check_parse(&lim, S("* X (BODY[A (B)])\r\n"), err_e2big, __LINE__);
	check_parse(&lim, S("* X BODY[A (B)]\r\n"), "* X (a:BODY[A (B)])\n", __LINE__);
	check_parse(&lim, S("* X BODY[[[]]]\r\n"), err_e2big, __LINE__);
	check_parse(&lim, S("* OK [X (a)] t\r\n"), "* OK [X ((a:a))] text:\"t\"\n", __LINE__);
	check_parse(&lim, S("* OK [X ((a))] t\r\n"), err_e2big, __LINE__);

	/* Defaults: 64 levels are fine, 65 are not. */
	for (int depth = 64; depth <= 65; depth++) {
		b.len = 0;
		dump_puts(&b, "* X ");
		for (int i = 0; i < depth; i++)
			dump_puts(&b, "(");
		for (int i = 0; i < depth; i++)
			dump_puts(&b, ")");
		dump_puts(&b, "\r\n");
		s = parse_dump(NULL, b.data, b.len, SPLIT_WHOLE, 0, &err);
		CHECK_INT(err, depth == 64 ? 0 : -E2BIG);
		free(s);
	}
	buf_free(&b);
}

static void test_deep_nesting(void)
{
	const size_t deep = 10000, deeper = 200000;
	struct imap_parser_limits lim = imap_parser_default_limits;
	struct imap_parser *p;
	struct imap_response *r;
	const struct imap_value *v;
	char *in;
	size_t i, levels;

	/* 10,000 '(': refused, and without using the C stack for it. */
	in = malloc(deep + 8);
	memcpy(in, "* X ", 4);
	memset(in + 4, '(', deep);
	memcpy(in + 4 + deep, "\r\n", 2);
	p = imap_parser_new(NULL);
	CHECK_INT(imap_parser_feed(p, in, deep + 6), -E2BIG);
	imap_parser_free(p);
	free(in);

	/* Even when allowed, deep nesting costs heap, not stack. */
	lim.max_depth = UINT_MAX;
	in = malloc(2 * deeper + 8);
	memcpy(in, "* X ", 4);
	memset(in + 4, '(', deeper);
	memset(in + 4 + deeper, ')', deeper);
	memcpy(in + 4 + 2 * deeper, "\r\n", 2);
	p = imap_parser_new(&lim);
	CHECK_INT(imap_parser_feed(p, in, 2 * deeper + 6), 2 * deeper + 6);
	r = imap_parser_take(p);
	CHECK_THAT(r != NULL);
	levels = 0;
	for (v = r ? imap_list_item(&r->args, 0) : NULL; v && v->type == IMAP_LIST;
	     v = imap_list_item(v, 0))
		levels++;
	CHECK_INT(levels, deeper);
	for (i = 0; i < 2; i++) {
		/* The parser is reusable after such a response. */
		CHECK_INT(imap_parser_feed(p, S("* 1 EXISTS\r\n")), 12);
		imap_response_free(imap_parser_take(p));
	}
	imap_response_free(r);
	imap_parser_free(p);
	free(in);
}

static void test_long_line(void)
{
	const size_t len = (size_t)10 << 20;
	struct imap_parser_limits lim = imap_parser_default_limits;
	struct imap_parser *p;
	char *in = malloc(len);
	size_t off = 0;
	ssize_t n = 0;

	memcpy(in, "* X ", 4);
	memset(in + 4, 'a', len - 4);
	lim.max_response = (size_t)64 << 10;

	/* In one call. */
	p = imap_parser_new(&lim);
	CHECK_INT(imap_parser_feed(p, in, len), -E2BIG);
	imap_parser_free(p);

	/* In 4 KiB pieces: refused as soon as the cap is crossed. */
	p = imap_parser_new(&lim);
	while (off < len) {
		n = imap_parser_feed(p, in + off, 4096);
		if (n < 0)
			break;
		off += (size_t)n;
	}
	CHECK_INT(n, -E2BIG);
	CHECK_THAT(off <= lim.max_response);
	imap_parser_free(p);
	free(in);
}

static void test_many_fetches(void)
{
	const unsigned count = 100000;
	struct imap_parser *p = imap_parser_new(NULL);
	struct buf in = BUF_INIT;
	unsigned got = 0, i;
	uint64_t sum = 0, uid;
	size_t off = 0;
	double t;

	for (i = 1; i <= count; i++)
		dump_printf(&in, "* %u FETCH (UID %u MODSEQ (%u) FLAGS (\\Seen $Work) "
			  "RFC822.SIZE %u INTERNALDATE \"17-Jul-1996 02:44:25 -0700\")\r\n",
			  i, i + 1000, i * 3, i * 10);

	t = now();
	while (off < in.len) {
		/* Network-sized reads, as the session will do. */
		size_t piece = in.len - off < 16384 ? in.len - off : 16384;
		ssize_t n = imap_parser_feed(p, in.data + off, piece);
		struct imap_response *r;

		if (n < 0)
			break;
		off += (size_t)n;
		r = imap_parser_take(p);
		if (r) {
			if (imap_value_number(imap_list_lookup(imap_list_item(&r->args, 0),
							       "UID"), &uid))
				sum += uid;
			got++;
			imap_response_free(r);
		}
	}
	t = now() - t;
	printf("%u FETCH responses (%zu bytes): %.1f ms\n", count, in.len, t * 1e3);
	CHECK_INT(got, count);
	CHECK_THAT(sum == (uint64_t)count * (count + 1) / 2 + (uint64_t)count * 1000);
	if (timing_checked())
		CHECK_THAT(t < 2.0);
	imap_parser_free(p);
	buf_free(&in);
}

/*
 * Mutated examples: whatever the outcome, it must not depend on how the
 * input is split, and must not crash (run this under ASan).
 */
static void test_fuzz(void)
{
	static const char alphabet[] = "(){}[]\"\\ \r\n~+0123456789aNIL*";
	struct imap_parser_limits lim = imap_parser_default_limits;
	char buf[1024], what[64];
	unsigned inputs = 0, clean = 0;
	size_t i, k;
	int round, err;

	lim.max_literal = 4096;
	lim.max_response = 8192;
	split_rng_state = 12345;
	for (i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
		const struct example *e = &examples[i];

		if (e->len > sizeof(buf))
			continue;
		for (round = 0; round < 60; round++) {
			uint64_t seed = split_rng();
			size_t len = e->len, muts;
			char *whole, *bytes, *random;

			memcpy(buf, e->in, len);
			split_rng_state = seed;
			muts = 1 + split_rng() % 3;
			for (k = 0; k < muts; k++) {
				size_t at = split_rng() % len;

				if (split_rng() % 4)
					buf[at] = alphabet[split_rng() % (sizeof(alphabet) - 1)];
				else
					buf[at] = (char)split_rng();
			}
			if (split_rng() % 8 == 0)
				len = split_rng() % len;
			whole = parse_dump(&lim, buf, len, SPLIT_WHOLE, 0, &err);
			inputs++;
			clean += !err;
			bytes = parse_dump(&lim, buf, len, SPLIT_BYTES, 0, &err);
			random = parse_dump(&lim, buf, len, SPLIT_RANDOM, seed, &err);
			snprintf(what, sizeof(what), "fuzz example %zu round %d bytes", i, round);
			check_str(bytes, whole, what, __LINE__);
			snprintf(what, sizeof(what), "fuzz example %zu round %d random", i, round);
			check_str(random, whole, what, __LINE__);
			free(whole);
			free(bytes);
			free(random);
			split_rng_state = seed;
		}
	}
	printf("fuzz: %u mutated inputs, %u parsed without error\n", inputs, clean);
}

int main(void)
{
	snprintf(err_e2big, sizeof(err_e2big), "ERR:%d", -E2BIG);
	test_examples();
	test_errors();
	test_feed_semantics();
	test_statuses();
	test_codes();
	test_helpers();
	test_literal_bytes();
	test_big_literal();
	test_limits();
	test_deep_nesting();
	test_long_line();
	test_fuzz();
	test_many_fetches();

	return check_summary();
}
