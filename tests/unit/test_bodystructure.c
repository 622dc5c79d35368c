/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for BODYSTRUCTURE -> part list.
 *
 * Every input goes through the real response parser as the text of a FETCH
 * response, which is freed before the tree is examined: the tree must own all
 * of its strings. Most checks compare a one-line dump of the tree
 * ("<section> <type>/<subtype> <size>", '*' after a message with parts) with
 * the expected one; every tree is also checked for the invariants the store
 * relies on (parents precede children, sections nest under their parent).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/bodystructure.h"
#include "imap/parser.h"
#include "util/buf.h"

#include "check.h"



/* ---- Text for dumps and inputs ----------------------------------------- */

static void dump_repeat(struct buf *b, const char *s, size_t times)
{
	for (size_t i = 0; i < times; i++)
		dump_puts(b, s);
}

/* ---- Running the parsers ------------------------------------------------ */

/* Returned by the helpers when the response text itself did not parse. */
#define NOT_PARSED (-100000)

/*
 * Feeds one complete FETCH response to a parser with the given limits (NULL:
 * defaults) and parses its BODYSTRUCTURE into *t.
 */
static int parse_response(const char *text, size_t len,
			  const struct imap_parser_limits *lim,
			  size_t max_parts, unsigned max_depth, struct bs_tree *t)
{
	struct imap_parser *p = imap_parser_new(lim);
	struct imap_response *r = NULL;
	size_t off = 0;
	int ret = NOT_PARSED;

	memset(t, 0xa5, sizeof(*t)); /* parse must initialise it, even on error */
	if (!p) {
		perror("imap_parser_new");
		exit(2);
	}
	while (off < len && !r) {
		ssize_t n = imap_parser_feed(p, text + off, len - off);

		if (n < 0) {
			fprintf(stderr, "  response did not parse: %s\n",
				imap_parser_error(p));
			goto out;
		}
		off += (size_t)n;
		r = imap_parser_take(p);
	}
	if (!r) {
		fprintf(stderr, "  response incomplete\n");
		goto out;
	}
	ret = bodystructure_parse(imap_list_lookup(imap_list_item(&r->args, 0),
						   "BODYSTRUCTURE"),
				  max_parts, max_depth, t);
out:
	if (ret == NOT_PARSED)
		memset(t, 0, sizeof(*t));
	imap_response_free(r);
	imap_parser_free(p);
	return ret;
}

/* The value after BODYSTRUCTURE given as text. */
static int parse_bs_lim(const char *bs, const struct imap_parser_limits *lim,
			size_t max_parts, unsigned max_depth, struct bs_tree *t)
{
	struct buf b = BUF_INIT;
	int ret;

	dump_puts(&b, "* 1 FETCH (UID 7 BODYSTRUCTURE ");
	dump_puts(&b, bs);
	dump_puts(&b, " RFC822.SIZE 100)\r\n");
	ret = parse_response(b.data, b.len, lim, max_parts, max_depth, t);
	buf_free(&b);
	return ret;
}

static int parse_bs(const char *bs, struct bs_tree *t)
{
	return parse_bs_lim(bs, NULL, 8191, 32, t);
}

/* ---- Looking at trees --------------------------------------------------- */

static char *dump(const struct bs_tree *t)
{
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < t->n; i++) {
		const struct bs_part *p = &t->parts[i];
		char num[32];

		if (i)
			dump_puts(&b, ", ");
		dump_puts(&b, p->section);
		dump_puts(&b, " ");
		dump_puts(&b, p->type);
		dump_puts(&b, "/");
		dump_puts(&b, p->subtype);
		snprintf(num, sizeof(num), " %" PRIu64, p->size);
		dump_puts(&b, num);
		if (p->is_message)
			dump_puts(&b, "*");
	}
	return dump_take(&b);
}

/* The section of the message part a part belongs to, "" at the top. */
static const char *parent_section(const struct bs_tree *t, size_t i)
{
	uint32_t pa = t->parts[i].parent;

	return pa == BS_NO_PARENT ? "" : t->parts[pa].section;
}

/*
 * What every caller may rely on: strings set, parents are earlier message
 * parts whose section prefixes the child's, children of a message part follow
 * it directly, and parts not in a message have no message part enclosing them.
 */
static void check_invariants(const struct bs_tree *t, int line)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct bs_part *p = &t->parts[i];
		bool ok = p->section && p->type && p->subtype && p->encoding &&
			  (p->nparams == 0 || p->params) &&
			  (p->ndisp_params == 0 || p->disp_params);

		if (ok && p->parent != BS_NO_PARENT) {
			const struct bs_part *pa = &t->parts[p->parent];
			size_t pl = strlen(pa->section);

			ok = p->parent < i && pa->is_message &&
			     !strncmp(p->section, pa->section, pl) &&
			     p->section[pl] == '.';
			/* All between the parent and this one share the parent. */
			for (size_t j = p->parent + 1; ok && j < i; j++)
				ok = !strncmp(t->parts[j].section, pa->section, pl) &&
				     t->parts[j].section[pl] == '.';
		}
		if (ok && p->parent == BS_NO_PARENT)
			for (size_t j = 0; ok && j < i; j++) {
				const struct bs_part *q = &t->parts[j];
				size_t ql = strlen(q->section);

				ok = !(q->is_message && !strncmp(p->section, q->section, ql) &&
				       p->section[ql] == '.');
			}
		if (!check(ok, line, "invariant broken at part %zu (%s)", i,
			   p->section ? p->section : "(null)"))
			return;
	}
}

/* Parses bs, expects success and the dump want. */
static void expect_tree(const char *bs, const char *want, unsigned skipped,
			int line)
{
	struct bs_tree t;
	int ret = parse_bs(bs, &t);
	char *got;

	if (!check_int(ret, 0, "bodystructure_parse()", line)) {
		fprintf(stderr, "  input: %s\n", bs);
		return;
	}
	got = dump(&t);

	if (!check_str(got, want, "dump", line))
		fprintf(stderr, "  input: %s\n", bs);
	check_int(t.skipped, skipped, "skipped", line);
	check_invariants(&t, line);
	free(got);
	bodystructure_free(&t);
}

#define EXPECT_TREE(bs, want, skipped) expect_tree((bs), (want), (skipped), __LINE__)

static void expect_error(const char *bs, int err, int line)
{
	struct bs_tree t;
	int ret = parse_bs(bs, &t);

	if (!check_int(ret, err, "bodystructure_parse()", line))
		fprintf(stderr, "  input: %s\n", bs);
	/* A failed parse leaves an empty tree that is safe to free. */
	check(t.n == 0 && t.parts == NULL, line, "empty tree after error");
	bodystructure_free(&t);
}

#define EXPECT_ERROR(bs, err) expect_error((bs), (err), __LINE__)

/* ---- Shorthands for building structures --------------------------------- */

#define TEXT(sub, size) "(\"text\" \"" sub "\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" " #size " 1 NIL NIL NIL NIL)"
#define IMAGE(size) "(\"image\" \"png\" (\"name\" \"a.png\") NIL NIL \"base64\" " #size " NIL (\"attachment\" (\"filename\" \"a.png\")) NIL NIL)"
#define PDF(size) "(\"application\" \"pdf\" NIL NIL NIL \"base64\" " #size " NIL NIL NIL NIL)"
#define MULTI(parts, sub) "(" parts " \"" sub "\" (\"boundary\" \"b\") NIL NIL NIL)"
#define ENVELOPE "(NIL \"subj\" NIL NIL NIL NIL NIL NIL NIL NIL)"
#define MESSAGE(body, size) "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" " #size " " ENVELOPE " " body " 10 NIL NIL NIL NIL)"

/* ---- Tests --------------------------------------------------------------- */

static void test_rfc_examples(void)
{
	struct bs_tree t;

	/* RFC 3501 §7.4.2, FETCH response example, and RFC 9051's. */
	CHECK_INT(parse_bs("(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
			   "\"7BIT\" 3028 92)", &t), 0);
	if (CHECK_INT(t.n, 1)) {
		const struct bs_part *p = &t.parts[0];

		CHECK_STR(p->section, "1");
		CHECK_STR(p->type, "text");
		CHECK_STR(p->subtype, "plain");
		CHECK_STR(p->encoding, "7bit");
		CHECK_INT(p->size, 3028);
		CHECK_INT(p->nparams, 1);
		if (p->nparams == 1) {
			/* Names and values as sent: RFC 2231 names are case-sensitive in form. */
			CHECK_STR(p->params[0].name, "CHARSET");
			CHECK_STR(p->params[0].value, "US-ASCII");
		}
		CHECK_THAT(p->id == NULL && p->description == NULL && p->disposition == NULL);
		CHECK_INT(p->parent, BS_NO_PARENT);
		CHECK_THAT(!p->is_message);
	}
	bodystructure_free(&t);

	/* RFC 3501 §7.4.2 / RFC 9051 §7.5.2 BODYSTRUCTURE example. */
	CHECK_INT(parse_bs("((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1152 "
			   "23)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\" \"NAME\" \"cc.diff\") "
			   "\"<960723163407.20117h@cac.washington.edu>\" \"Compiler diff\" "
			   "\"BASE64\" 4554 73) \"MIXED\")", &t), 0);
	if (CHECK_INT(t.n, 2)) {
		const struct bs_part *p = &t.parts[1];

		CHECK_STR(t.parts[0].section, "1");
		CHECK_INT(t.parts[0].size, 1152);
		CHECK_STR(p->section, "2");
		CHECK_STR(p->encoding, "base64");
		CHECK_INT(p->size, 4554);
		CHECK_STR(p->id, "<960723163407.20117h@cac.washington.edu>");
		CHECK_STR(p->description, "Compiler diff");
		CHECK_INT(p->nparams, 2);
		if (p->nparams == 2) {
			CHECK_STR(p->params[1].name, "NAME");
			CHECK_STR(p->params[1].value, "cc.diff");
		}
		CHECK_INT(p->parent, BS_NO_PARENT);
	}
	CHECK_INT(t.skipped, 0);
	bodystructure_free(&t);

	/*
	 * RFC 3501 §6.4.5's section example: a MULTIPART/MIXED of a text, an
	 * octet-stream, a message (multipart: text, octet-stream) and a
	 * multipart (gif, message (multipart: text, alternative (text,
	 * richtext))).
	 */
	EXPECT_TREE("(" TEXT("plain", 1) PDF(2)
		    MESSAGE(MULTI(TEXT("plain", 31) PDF(32), "mixed"), 3)
		    MULTI(IMAGE(41)
			  MESSAGE(MULTI(TEXT("plain", 421)
					MULTI(TEXT("plain", 4221) TEXT("richtext", 4222),
					      "alternative"), "mixed"), 42),
			  "mixed")
		    " \"MIXED\")",
		    "1 text/plain 1, 2 application/pdf 2, 3 message/rfc822 3*, "
		    "3.1 text/plain 31, 3.2 application/pdf 32, 4.1 image/png 41, "
		    "4.2 message/rfc822 42*, 4.2.1 text/plain 421, "
		    "4.2.2.1 text/plain 4221, 4.2.2.2 text/richtext 4222", 0);
}

static void test_sections(void)
{
	struct bs_tree t;

	EXPECT_TREE(TEXT("plain", 5), "1 text/plain 5", 0);

	/* (text, multipart/alternative (text, html), pdf) */
	EXPECT_TREE(MULTI(TEXT("plain", 1) MULTI(TEXT("plain", 21) TEXT("html", 22),
						 "alternative") PDF(3), "mixed"),
		    "1 text/plain 1, 2.1 text/plain 21, 2.2 text/html 22, "
		    "3 application/pdf 3", 0);

	/* message/rfc822 at 2 whose body is multipart (text, image) */
	EXPECT_TREE(MULTI(TEXT("plain", 1)
			  MESSAGE(MULTI(TEXT("plain", 21) IMAGE(22), "mixed"), 2),
			  "mixed"),
		    "1 text/plain 1, 2 message/rfc822 2*, 2.1 text/plain 21, "
		    "2.2 image/png 22", 0);

	/* message/rfc822 at 2 whose body is a single text */
	EXPECT_TREE(MULTI(TEXT("plain", 1) MESSAGE(TEXT("plain", 21), 2), "mixed"),
		    "1 text/plain 1, 2 message/rfc822 2*, 2.1 text/plain 21", 0);

	/* A whole message that is message/rfc822 (a forward as the body). */
	EXPECT_TREE(MESSAGE(TEXT("plain", 11), 1),
		    "1 message/rfc822 1*, 1.1 text/plain 11", 0);

	/* A message in a message in a multipart; parents checked by index. */
	CHECK_INT(parse_bs(MULTI(TEXT("plain", 1)
				 MESSAGE(MESSAGE(MULTI(TEXT("plain", 2111) PDF(2112),
						       "mixed"), 21), 2)
				 TEXT("plain", 3), "mixed"), &t), 0);
	if (CHECK_INT(t.n, 6)) {
		char *d = dump(&t);

		CHECK_STR(d, "1 text/plain 1, 2 message/rfc822 2*, 2.1 message/rfc822 21*, "
			  "2.1.1 text/plain 2111, 2.1.2 application/pdf 2112, 3 text/plain 3");
		free(d);
		CHECK_INT(t.parts[0].parent, BS_NO_PARENT);
		CHECK_INT(t.parts[1].parent, BS_NO_PARENT);
		CHECK_INT(t.parts[2].parent, 1);
		CHECK_INT(t.parts[3].parent, 2);
		CHECK_INT(t.parts[4].parent, 2);
		CHECK_INT(t.parts[5].parent, BS_NO_PARENT);
		check_invariants(&t, __LINE__);
	}
	bodystructure_free(&t);

	/* A message whose body is a single message whose body is a single text. */
	EXPECT_TREE(MESSAGE(MESSAGE(TEXT("plain", 111), 11), 1),
		    "1 message/rfc822 1*, 1.1 message/rfc822 11*, 1.1.1 text/plain 111", 0);

	/* Multipart at the top of a message inside a multipart. */
	EXPECT_TREE(MULTI(TEXT("plain", 1)
			  MESSAGE(MULTI(TEXT("plain", 21)
					MULTI(TEXT("plain", 221) TEXT("html", 222),
					      "alternative"), "mixed"), 2),
			  "mixed"),
		    "1 text/plain 1, 2 message/rfc822 2*, 2.1 text/plain 21, "
		    "2.2.1 text/plain 221, 2.2.2 text/html 222", 0);

	/* Multipart in multipart at the top: no part "1" of its own. */
	EXPECT_TREE(MULTI(MULTI(TEXT("plain", 11) TEXT("html", 12), "alternative")
			  IMAGE(2), "related"),
		    "1.1 text/plain 11, 1.2 text/html 12, 2 image/png 2", 0);

	/* message/global (RFC 6532) is a message too; message/partial is a leaf. */
	EXPECT_TREE(MULTI("(\"message\" \"global\" NIL NIL NIL \"8bit\" 9 " ENVELOPE " "
			  TEXT("plain", 11) " 2 NIL NIL NIL NIL)"
			  "(\"message\" \"partial\" (\"id\" \"x\" \"number\" \"1\") NIL NIL "
			  "\"7bit\" 8 NIL NIL NIL NIL)", "mixed"),
		    "1 message/global 9*, 1.1 text/plain 11, 2 message/partial 8", 0);

	/* More than nine parts: sections are numbers, not characters. */
	EXPECT_TREE(MULTI(TEXT("plain", 1) TEXT("plain", 2) TEXT("plain", 3)
			  TEXT("plain", 4) TEXT("plain", 5) TEXT("plain", 6)
			  TEXT("plain", 7) TEXT("plain", 8) TEXT("plain", 9)
			  MULTI(TEXT("plain", 101) TEXT("plain", 102), "mixed")
			  TEXT("plain", 11), "mixed"),
		    "1 text/plain 1, 2 text/plain 2, 3 text/plain 3, 4 text/plain 4, "
		    "5 text/plain 5, 6 text/plain 6, 7 text/plain 7, 8 text/plain 8, "
		    "9 text/plain 9, 10.1 text/plain 101, 10.2 text/plain 102, "
		    "11 text/plain 11", 0);
}

/* Output of Dovecot 2.3.19 for CPython's email test messages, APPENDed as is. */
static const struct {
	const char *name;
	const char *response;
	const char *want;
} dovecot[] = {
	{ "msg_01.txt",
	  "* 1 FETCH (BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
		  "\"7bit\" 43 6 NIL NIL NIL NIL))" "\r\n",
	  "1 text/plain 43" },
	{ "msg_02.txt",
	  "* 2 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
		  "\"Masthead (Ppp digest, Vol 1 #2)\" \"7bit\" 419 14 NIL NIL NIL "
		  "NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL \"Today's Topics "
		  "(5 msgs)\" \"7bit\" 199 7 NIL NIL NIL NIL)((\"message\" \"rfc822\" NIL "
		  "NIL NIL \"7bit\" 247 (\"Fri, 20 Apr 2001 20:16:13 -0400\" \"[Ppp] "
		  "testing #1\" ((\"Barry A. Warsaw\" NIL \"barry\" \"digicool.com\")) "
		  "((\"Barry A. Warsaw\" NIL \"barry\" \"digicool.com\")) ((\"Barry A. "
		  "Warsaw\" NIL \"barry\" \"digicool.com\")) ((NIL NIL \"ppp\" "
		  "\"zzz.org\")) NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" "
		  "\"us-ascii\") NIL NIL \"7bit\" 11 3 NIL NIL NIL NIL) 12 NIL NIL NIL "
		  "NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 220 (\"Fri, 20 Apr 2001 "
		  "20:16:21 -0400\" NIL ((\"Barry A. Warsaw\" NIL \"barry\" "
		  "\"digicool.com\")) ((\"Barry A. Warsaw\" NIL \"barry\" "
		  "\"digicool.com\")) ((\"Barry A. Warsaw\" NIL \"barry\" "
		  "\"digicool.com\")) ((NIL NIL \"ppp\" \"zzz.org\")) NIL NIL NIL NIL) "
		  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 3 NIL "
		  "NIL NIL NIL) 11 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL "
		  "\"7bit\" 247 (\"Fri, 20 Apr 2001 20:16:25 -0400\" \"[Ppp] testing #3\" "
		  "((\"Barry A. Warsaw\" NIL \"barry\" \"digicool.com\")) ((\"Barry A. "
		  "Warsaw\" NIL \"barry\" \"digicool.com\")) ((\"Barry A. Warsaw\" NIL "
		  "\"barry\" \"digicool.com\")) ((NIL NIL \"ppp\" \"zzz.org\")) NIL NIL NIL "
		  "NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 "
		  "3 NIL NIL NIL NIL) 12 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL "
		  "NIL \"7bit\" 247 (\"Fri, 20 Apr 2001 20:16:28 -0400\" \"[Ppp] testing "
		  "#4\" ((\"Barry A. Warsaw\" NIL \"barry\" \"digicool.com\")) ((\"Barry A. "
		  "Warsaw\" NIL \"barry\" \"digicool.com\")) ((\"Barry A. Warsaw\" NIL "
		  "\"barry\" \"digicool.com\")) ((NIL NIL \"ppp\" \"zzz.org\")) NIL NIL NIL "
		  "NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 "
		  "3 NIL NIL NIL NIL) 12 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL "
		  "NIL \"7bit\" 251 (\"Fri, 20 Apr 2001 20:16:32 -0400\" \"[Ppp] testing "
		  "#5\" ((\"Barry A. Warsaw\" NIL \"barry\" \"digicool.com\")) ((\"Barry A. "
		  "Warsaw\" NIL \"barry\" \"digicool.com\")) ((\"Barry A. Warsaw\" NIL "
		  "\"barry\" \"digicool.com\")) ((NIL NIL \"ppp\" \"zzz.org\")) NIL NIL NIL "
		  "NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 15 "
		  "5 NIL NIL NIL NIL) 14 NIL NIL NIL NIL) \"digest\" (\"boundary\" "
		  "\"__--__--\") NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") "
		  "NIL \"Digest Footer\" \"7bit\" 123 5 NIL NIL NIL NIL) \"mixed\" "
		  "(\"boundary\" \"192.168.1.2.889.32614.987812255.500.21814\") NIL NIL "
		  "NIL))" "\r\n",
	  "1 text/plain 419, 2 text/plain 199, 3.1 message/rfc822 247*, 3.1.1 "
	  "text/plain 11, 3.2 message/rfc822 220*, 3.2.1 text/plain 11, 3.3 "
	  "message/rfc822 247*, 3.3.1 text/plain 11, 3.4 message/rfc822 247*, 3.4.1 "
	  "text/plain 11, 3.5 message/rfc822 251*, 3.5.1 text/plain 15, 4 "
	  "text/plain 123" },
	{ "msg_04.txt",
	  "* 4 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
		  "\"7bit\" 50 2 NIL (\"inline\" (\"filename\" \"msg.txt\")) NIL "
		  "NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 50 2 "
		  "NIL (\"inline\" (\"filename\" \"msg.txt\")) NIL NIL) \"mixed\" "
		  "(\"boundary\" \"h90VIIIKmx\") NIL NIL NIL))" "\r\n",
	  "1 text/plain 50, 2 text/plain 50" },
	{ "msg_05.txt",
	  "* 5 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
		  "\"7bit\" 19 1 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" "
		  "\"us-ascii\") NIL NIL \"7bit\" 19 1 NIL NIL NIL NIL)(\"message\" "
		  "\"rfc822\" NIL NIL NIL \"7bit\" 46 (NIL NIL ((NIL NIL \"nobody\" "
		  "\"python.org\")) ((NIL NIL \"nobody\" \"python.org\")) ((NIL NIL "
		  "\"nobody\" \"python.org\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" "
		  "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 19 1 NIL NIL NIL NIL) 3 NIL "
		  "NIL NIL NIL) \"report\" (\"report-type\" \"delivery-status\" "
		  "\"boundary\" \"D1690A7AC1.996856090/mail.example.com\") NIL NIL NIL))" "\r\n",
	  "1 text/plain 19, 2 text/plain 19, 3 message/rfc822 46*, 3.1 text/plain "
	  "19" },
	{ "msg_06.txt",
	  "* 6 FETCH (BODYSTRUCTURE (\"message\" \"rfc822\" NIL NIL \"forwarded message\" "
		  "\"7bit\" 497 (\"Thu, 13 Sep 2001 17:28:28 -0400\" \"testing\" ((\"Barry "
		  "A. Warsaw\" NIL \"barry\" \"python.org\")) ((NIL NIL \"barry\" "
		  "\"python.org\")) ((\"Barry A. Warsaw\" NIL \"barry\" \"python.org\")) "
		  "((NIL NIL \"barry\" \"python.org\")) NIL NIL NIL "
		  "\"<15265.9468.713530.98441@python.org>\") (\"text\" \"plain\" "
		  "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 2 1 NIL NIL NIL NIL) 16 NIL "
		  "NIL NIL NIL))" "\r\n",
	  "1 message/rfc822 497*, 1.1 text/plain 2" },
	{ "msg_07.txt",
	  "* 7 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
		  "\"7bit\" 39 3 NIL NIL NIL NIL)(\"image\" \"gif\" (\"name\" "
		  "\"dingusfish.gif\") NIL NIL \"base64\" 4808 NIL (\"attachment\" "
		  "(\"filename\" \"dingusfish.gif\")) NIL NIL) \"mixed\" (\"boundary\" "
		  "\"BOUNDARY\") NIL NIL NIL))" "\r\n",
	  "1 text/plain 39, 2 image/gif 4808" },
	{ "msg_10.txt",
	  "* 10 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
		  "NIL \"7bit\" 33 1 NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" "
		  "\"iso-8859-1\") NIL NIL \"Quoted-Printable\" 48 1 NIL NIL NIL "
		  "NIL)(\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NIL \"Base64\" "
		  "48 2 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"iso-8859-1\") "
		  "NIL NIL \"Base64\" 52 2 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" "
		  "\"iso-8859-1\") NIL NIL \"7bit\" 48 1 NIL NIL NIL NIL) \"mixed\" "
		  "(\"boundary\" \"BOUNDARY\") NIL NIL NIL))" "\r\n",
	  "1 text/plain 33, 2 text/html 48, 3 text/plain 48, 4 text/plain 52, 5 "
	  "text/plain 48" },
	{ "msg_11.txt",
	  "* 11 FETCH (BODYSTRUCTURE (\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 66 (NIL "
		  "\"An enclosed message\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" "
		  "\"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 34 1 NIL NIL NIL "
		  "NIL) 3 NIL NIL NIL NIL))" "\r\n",
	  "1 message/rfc822 66*, 1.1 text/plain 34" },
	{ "msg_12.txt",
	  "* 12 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
		  "NIL \"7bit\" 0 0 NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" "
		  "\"iso-8859-1\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)((\"text\" "
		  "\"plain\" (\"charset\" \"iso-8859-2\") NIL NIL \"7bit\" 0 0 NIL NIL NIL "
		  "NIL)(\"text\" \"plain\" (\"charset\" \"iso-8859-3\") NIL NIL \"7bit\" 0 "
		  "0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"ANOTHER\") NIL NIL "
		  "NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 "
		  "NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"koi8-r\") NIL NIL "
		  "\"7bit\" 0 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"BOUNDARY\") NIL "
		  "NIL NIL))" "\r\n",
	  "1 text/plain 0, 2 text/html 0, 3.1 text/plain 0, 3.2 text/plain 0, 4 "
	  "text/plain 0, 5 text/plain 0" },
	{ "msg_13.txt",
	  "* 14 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
		  "NIL \"7bit\" 19 1 NIL NIL NIL NIL)((\"text\" \"plain\" (\"charset\" "
		  "\"us-ascii\") NIL NIL \"7bit\" 39 3 NIL NIL NIL NIL)(\"image\" \"gif\" "
		  "(\"name\" \"dingusfish.gif\") NIL NIL \"base64\" 4808 NIL "
		  "(\"attachment\" (\"filename\" \"dingusfish.gif\")) NIL NIL) \"mixed\" "
		  "(\"boundary\" \"BOUNDARY\") NIL NIL NIL) \"mixed\" (\"boundary\" "
		  "\"OUTER\") NIL NIL NIL))" "\r\n",
	  "1 text/plain 19, 2.1 text/plain 39, 2.2 image/gif 4808" },
	{ "msg_14.txt",
	  "* 15 FETCH (BODYSTRUCTURE (\"\" \"\" NIL NIL NIL \"7bit\" 235 NIL NIL NIL NIL))" "\r\n",
	  "1 text/plain 235" },
	{ "msg_15.txt",
	  "* 16 FETCH (BODYSTRUCTURE (((\"text\" \"plain\" (\"charset\" \"ISO-8859-1\") NIL "
		  "NIL \"quoted-printable\" 21 1 NIL NIL NIL NIL)(\"text\" \"html\" "
		  "(\"charset\" \"ISO-8859-1\") NIL NIL \"quoted-printable\" 107 9 NIL NIL "
		  "NIL NIL) \"alternative\" (\"boundary\" "
		  "\"MS_Mac_OE_3071477847_720252_MIME_Part\") NIL NIL NIL)(\"image\" "
		  "\"gif\" (\"name\" \"xx.gif\" \"x-mac-creator\" \"6F676C65\" "
		  "\"x-mac-type\" \"47494666\") NIL NIL \"base64\" 36 NIL (\"attachment\" "
		  "NIL) NIL NIL) \"mixed\" (\"boundary\" "
		  "\"MS_Mac_OE_3071477847_720252_MIME_Part\") NIL NIL NIL))" "\r\n",
	  "1.1 text/plain 21, 1.2 text/html 107, 2 image/gif 36" },
	{ "msg_16.txt",
	  "* 17 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"ISO-8859-1\") NIL "
		  "NIL \"7bit\" 451 13 NIL NIL NIL NIL)(\"message\" \"DELIVERY-STATUS\" NIL "
		  "NIL NIL \"7bit\" 272 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL "
		  "\"7bit\" 2701 (\"Sun, 23 Sep 2001 20:10:55 -0700\" \"[scr] yeah for "
		  "Ians!!\" ((\"Ian T. Henry\" NIL \"henryi\" \"oxy.edu\")) ((NIL NIL "
		  "\"scr-admin\" \"socal-raves.org\")) ((\"Ian T. Henry\" NIL \"henryi\" "
		  "\"oxy.edu\")) ((\"SoCal Raves\" NIL \"scr\" \"socal-raves.org\")) NIL "
		  "NIL NIL \"<002001c144a6$8752e060$56104586@oxy.edu>\") (\"text\" "
		  "\"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 206 7 NIL NIL NIL "
		  "NIL) 55 NIL NIL NIL NIL) \"report\" (\"boundary\" "
		  "\"Boundary_(ID_PGS2F2a+z+/jL7hupKgRhA)\") NIL NIL NIL))" "\r\n",
	  "1 text/plain 451, 2 message/delivery-status 272, 3 message/rfc822 2701*, "
	  "3.1 text/plain 206" },
	{ "msg_17.txt",
	  "* 18 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
		  "NIL \"7bit\" 0 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"BOUNDARY\") "
		  "NIL NIL NIL))" "\r\n",
	  "1 text/plain 0" },
	{ "msg_22.txt",
	  "* 23 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\" "
		  "\"format\" \"flowed\") NIL NIL \"7bit\" 15 0 NIL NIL NIL NIL)(\"image\" "
		  "\"jpeg\" (\"name\" \"wibble.JPG\" \"x-mac-type\" \"4A504547\" "
		  "\"x-mac-creator\" \"474B4F4E\") "
		  "\"<a05001902b7f1c33773e9@[134.84.183.138].0.0>\" NIL \"base64\" 374 NIL "
		  "(\"attachment\" (\"filename\" \"wibble.JPG\")) NIL NIL)(\"image\" "
		  "\"jpeg\" (\"name\" \"wibble2.JPG\" \"x-mac-type\" \"4A504547\" "
		  "\"x-mac-creator\" \"474B4F4E\") "
		  "\"<a05001902b7f1c33773e9@[134.84.183.138].0.1>\" NIL \"base64\" 436 NIL "
		  "(\"attachment\" (\"filename\" \"wibble2.JPG\")) NIL NIL)(\"text\" "
		  "\"plain\" (\"charset\" \"us-ascii\" \"format\" \"flowed\") NIL NIL "
		  "\"7bit\" 15 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" "
		  "\"============_-1208892523==_============\") NIL NIL NIL))" "\r\n",
	  "1 text/plain 15, 2 image/jpeg 374, 3 image/jpeg 436, 4 text/plain 15" },
	{ "msg_25.txt",
	  "* 26 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
		  "NIL \"7bit\" 0 0 NIL NIL NIL NIL) \"report\" (\"report-type\" "
		  "\"delivery-status\") NIL NIL NIL))" "\r\n",
	  "1 text/plain 0" },
	{ "msg_26.txt",
	  "* 27 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
		  "NIL \"7bit\" 33 2 NIL NIL NIL NIL)(\"application\" \"riscos\" (\"name\" "
		  "\"clock.bmp,69c\" \"type\" \"BMP\" \"load\" \"&fff69c4b\" \"exec\" "
		  "\"&355dd4d1\" \"access\" \"&03\") NIL NIL \"base64\" 866 NIL "
		  "(\"attachment\" (\"filename\" \"clock.bmp\")) NIL NIL) \"mixed\" "
		  "(\"boundary\" \"1618492860--2051301190--113853680\") NIL NIL NIL))" "\r\n",
	  "1 text/plain 33, 2 application/riscos 866" },
	{ "msg_28.txt",
	  "* 29 FETCH (BODYSTRUCTURE ((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 102 (NIL "
		  "\"ee\" ((NIL NIL \"cc\" \"dd.org\")) ((NIL NIL \"cc\" \"dd.org\")) ((NIL "
		  "NIL \"cc\" \"dd.org\")) ((NIL NIL \"aa\" \"bb.org\")) NIL NIL NIL NIL) "
		  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 1 NIL "
		  "NIL NIL NIL) 6 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL "
		  "\"7bit\" 102 (NIL \"ee\" ((NIL NIL \"cc\" \"dd.org\")) ((NIL NIL \"cc\" "
		  "\"dd.org\")) ((NIL NIL \"cc\" \"dd.org\")) ((NIL NIL \"aa\" \"bb.org\")) "
		  "NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
		  "\"7bit\" 11 1 NIL NIL NIL NIL) 6 NIL NIL NIL NIL) \"digest\" "
		  "(\"boundary\" \"BOUNDARY\") NIL NIL NIL))" "\r\n",
	  "1 message/rfc822 102*, 1.1 text/plain 11, 2 message/rfc822 102*, 2.1 "
	  "text/plain 11" },
	{ "msg_29.txt",
	  "* 30 FETCH (BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\" "
		  "\"title*\" "
		  "\"us-ascii'en'This%20is%20even%20more%20%2A%2A%2Afun%2A%2A%2A%20isn't "
		  "it!\") NIL NIL \"7bit\" 43 6 NIL NIL NIL NIL))" "\r\n",
	  "1 text/plain 43" },
	{ "msg_32.txt",
	  "* 33 FETCH (BODYSTRUCTURE (\"text\" \"plain\" (\"charset*\" "
		  "\"ansi-x3.4-1968''us-ascii\" \"charset\" \"us-ascii\") NIL NIL \"7bit\" "
		  "15 1 NIL (\"inline\" NIL) NIL NIL))" "\r\n",
	  "1 text/plain 15" },
	{ "msg_33.txt",
	  "* 34 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
		  "NIL \"7bit\" 0 0 NIL NIL NIL NIL) \"signed\" (\"boundary*\" "
		  "\"ansi-x3.4-1968''EeQfGwPcQSOJBaQU\" \"micalg*\" "
		  "\"ansi-x3.4-1968''pgp-md5\" \"protocol*\" "
		  "\"ansi-x3.4-1968''application%2Fpgp-signature\") (\"inline\" NIL) NIL "
		  "NIL))" "\r\n",
	  "1 text/plain 0" },
	{ "msg_34.txt",
	  "* 35 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
		  "NIL \"7bit\" 110 3 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL "
		  "\"7bit\" 60 (NIL NIL ((NIL NIL \"cperson\" \"dom.ain\")) ((NIL NIL "
		  "\"cperson\" \"dom.ain\")) ((NIL NIL \"cperson\" \"dom.ain\")) ((NIL NIL "
		  "\"dperson\" \"dom.ain\")) NIL NIL NIL NIL) (\"text\" \"plain\" "
		  "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 14 1 NIL NIL NIL NIL) 4 NIL "
		  "NIL NIL NIL) \"digest\" (\"boundary\" \"XYZ\") NIL NIL NIL))" "\r\n",
	  "1 text/plain 110, 2 message/rfc822 60*, 2.1 text/plain 14" },
	{ "msg_36.txt",
	  "* 37 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
		  "NIL \"7bit\" 16 1 NIL NIL NIL NIL)((\"Message\" \"External-body\" "
		  "(\"access-type\" \"mail-server\" \"server\" \"mailserv@ietf.org\") NIL "
		  "NIL \"7bit\" 138 NIL NIL NIL NIL)(\"Message\" \"External-body\" "
		  "(\"name\" \"draft-ietf-mboned-mix-00.txt\" \"site\" \"ftp.ietf.org\" "
		  "\"access-type\" \"anon-ftp\" \"directory\" \"internet-drafts\") NIL NIL "
		  "\"7bit\" 71 NIL NIL NIL NIL) \"Alternative\" (\"Boundary\" "
		  "\"OtherAccess\") NIL NIL NIL) \"Mixed\" (\"Boundary\" \"NextPart\") NIL "
		  "NIL NIL))" "\r\n",
	  "1 text/plain 16, 2.1 message/external-body 138, 2.2 "
	  "message/external-body 71" },
	{ "msg_37.txt",
	  "* 38 FETCH (BODYSTRUCTURE ((\"text\" \"x-one\" (\"charset\" \"us-ascii\") NIL "
		  "NIL \"7bit\" 6 1 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" "
		  "\"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)(\"text\" \"x-two\" "
		  "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1 NIL NIL NIL "
		  "NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 "
		  "NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
		  "\"7bit\" 0 0 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" "
		  "\"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)(\"text\" \"x-two\" "
		  "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1 NIL NIL NIL NIL) "
		  "\"mixed\" (\"boundary\" \"ABCDE\") NIL NIL NIL))" "\r\n",
	  "1 text/x-one 6, 2 text/plain 0, 3 text/x-two 6, 4 text/plain 0, 5 "
	  "text/plain 0, 6 text/plain 0, 7 text/x-two 6" },
	{ "msg_38.txt",
	  "* 39 FETCH (BODYSTRUCTURE ((((\"text\" \"plain\" (\"charset\" \"us-ascii\") "
		  "\"<20592.1022586929.3@example.com>\" \"very tricky\" \"7bit\" 126 2 NIL "
		  "NIL NIL NIL) \"alternative\" (\"boundary\" \"----- =_aaaaaaaaaa2\") NIL "
		  "NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" "
		  "0 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"----- =_aaaaaaaaaa1\") "
		  "NIL NIL NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "
		  "\"7bit\" 1622 66 NIL NIL NIL NIL)(\"text\" \"plain\" (\"charset\" "
		  "\"us-ascii\") \"<20592.1022586929.15@example.com>\" NIL \"7bit\" 52 2 "
		  "NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"----- =_aaaaaaaaaa0\") NIL "
		  "NIL NIL))" "\r\n",
	  "1.1.1 text/plain 126, 1.2 text/plain 0, 2 text/plain 1622, 3 text/plain "
	  "52" },
	{ "msg_39.txt",
	  "* 40 FETCH (BODYSTRUCTURE ((((\"application\" \"octet-stream\" NIL "
		  "\"<20592.1022586929.3@example.com>\" \"patch1\" \"base64\" 5 NIL NIL NIL "
		  "NIL)(\"application\" \"octet-stream\" NIL "
		  "\"<20592.1022586929.4@example.com>\" \"patch2\" \"base64\" 5 NIL NIL NIL "
		  "NIL) \"alternative\" (\"boundary\" \"----- =_aaaaaaaaaa1\") NIL NIL "
		  "NIL)((\"application\" \"octet-stream\" NIL "
		  "\"<20592.1022586929.7@example.com>\" \"patch3\" \"base64\" 5 NIL NIL NIL "
		  "NIL)(\"application\" \"octet-stream\" NIL "
		  "\"<20592.1022586929.8@example.com>\" \"patch4\" \"base64\" 5 NIL NIL NIL "
		  "NIL) \"alternative\" (\"boundary\" \"----- =_aaaaaaaaaa1\") NIL NIL "
		  "NIL)((\"application\" \"octet-stream\" NIL "
		  "\"<20592.1022586929.11@example.com>\" \"patch5\" \"base64\" 5 NIL NIL "
		  "NIL NIL)(\"application\" \"octet-stream\" NIL "
		  "\"<20592.1022586929.12@example.com>\" \"patch6\" \"base64\" 5 NIL NIL "
		  "NIL NIL) \"alternative\" (\"boundary\" \"----- =_aaaaaaaaaa1\") NIL NIL "
		  "NIL) \"mixed\" (\"boundary\" \"----- =_aaaaaaaaaa1\") NIL NIL "
		  "NIL)(\"text\" \"plain\" (\"charset\" \"us-ascii\") "
		  "\"<20592.1022586929.15@example.com>\" NIL \"7bit\" 52 2 NIL NIL NIL NIL) "
		  "\"mixed\" (\"boundary\" \"----- =_aaaaaaaaaa0\") NIL NIL NIL))" "\r\n",
	  "1.1.1 application/octet-stream 5, 1.1.2 application/octet-stream 5, "
	  "1.2.1 application/octet-stream 5, 1.2.2 application/octet-stream 5, "
	  "1.3.1 application/octet-stream 5, 1.3.2 application/octet-stream 5, 2 "
	  "text/plain 52" },
	{ "msg_40.txt",
	  "* 41 FETCH (BODYSTRUCTURE (\"text\" \"html\" (\"boundary\" "
		  "\"--961284236552522269\" \"charset\" \"us-ascii\") NIL NIL \"7bit\" 128 "
		  "7 NIL NIL NIL NIL))" "\r\n",
	  "1 text/html 128" },
	{ "msg_41.txt",
	  "* 42 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
		  "NIL \"7bit\" 0 0 NIL NIL NIL NIL) \"alternative\" NIL NIL NIL NIL))" "\r\n",
	  "1 text/plain 0" },
	{ "msg_42.txt",
	  "* 43 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
		  "NIL \"7bit\" 7 1 NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL "
		  "\"7bit\" 107 (NIL NIL ((NIL NIL \"webmaster\" \"python.org\")) ((NIL NIL "
		  "\"webmaster\" \"python.org\")) ((NIL NIL \"webmaster\" \"python.org\")) "
		  "((NIL NIL \"zzz\" \"example.com\")) NIL NIL NIL NIL) ((\"text\" "
		  "\"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL "
		  "NIL) \"mixed\" (\"boundary\" \"BBB\") NIL NIL NIL) 5 NIL NIL NIL NIL) "
		  "\"mixed\" (\"boundary\" \"AAA\") NIL NIL NIL))" "\r\n",
	  "1 text/plain 7, 2 message/rfc822 107*, 2.1 text/plain 0" },
	{ "msg_43.txt",
	  "* 44 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL "
		  "\"7bit\" 1178 10 NIL (\"inline\" NIL) NIL NIL)(\"message\" "
		  "\"delivery-status\" NIL NIL \"Delivery error report\" \"7bit\" 6259 NIL "
		  "(\"inline\" NIL) NIL NIL)(\"text\" \"rfc822-headers\" (\"charset\" "
		  "\"us-ascii\") NIL \"Undelivered-message headers\" \"7bit\" 544 14 NIL "
		  "(\"inline\" NIL) NIL NIL) \"report\" (\"report-type\" "
		  "\"delivery-status\" \"charset\" \"utf-8\" \"boundary\" "
		  "\"----------=_1101526904-1956-5\") NIL NIL NIL))" "\r\n",
	  "1 text/plain 1178, 2 message/delivery-status 6259, 3 text/rfc822-headers "
	  "544" },
	{ "msg_45.txt",
	  "* 46 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
		  "NIL \"7bit\" 30 1 NIL NIL NIL NIL)(\"application\" \"pgp-signature\" "
		  "(\"name\" \"signature.asc\") NIL \"OpenPGP digital signature\" \"7bit\" "
		  "196 NIL (\"attachment\" (\"filename\" \"signature.asc\")) NIL NIL) "
		  "\"signed\" (\"boundary\" \"borderline\" \"protocol\" "
		  "\"application/pgp-signature\" \"micalg\" \"pgp-sha1\") NIL NIL NIL))" "\r\n",
	  "1 text/plain 30, 2 application/pgp-signature 196" },
	{ "msg_46.txt",
	  "* 47 FETCH (BODYSTRUCTURE (\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 386 "
		  "(\"Mon, 01 Feb 2010 12:18:40 +0100\" \"GroupwiseForwardingTest\" ((\"Dr. "
		  "Sender\" NIL \"sender\" \"example.net\")) ((\"Dr. Sender\" NIL "
		  "\"sender\" \"example.net\")) ((\"Dr. Sender\" NIL \"sender\" "
		  "\"example.net\")) ((\"Recipient\" NIL \"recipient\" \"example.com\")) "
		  "NIL NIL NIL \"<4B66B890.4070408@teconcept.de>\") (\"text\" \"plain\" "
		  "(\"charset\" \"ISO-8859-15\") NIL NIL \"7bit\" 50 1 NIL NIL NIL NIL) 11 "
		  "NIL NIL NIL NIL))" "\r\n",
	  "1 message/rfc822 386*, 1.1 text/plain 50" },
};

static const struct bs_part *dovecot_part(struct bs_tree *t, const char *name,
					  const char *section)
{
	for (size_t i = 0; i < sizeof(dovecot) / sizeof(dovecot[0]); i++) {
		if (strcmp(dovecot[i].name, name))
			continue;
		bodystructure_free(t);
		if (parse_response(dovecot[i].response, strlen(dovecot[i].response),
				   NULL, 8191, 32, t))
			break;
		for (size_t j = 0; j < t->n; j++)
			if (!strcmp(t->parts[j].section, section))
				return &t->parts[j];
		break;
	}
	fprintf(stderr, "  no part %s in %s\n", section, name);
	return NULL;
}

static void test_dovecot(void)
{
	struct bs_tree t = { 0 };
	const struct bs_part *p;

	for (size_t i = 0; i < sizeof(dovecot) / sizeof(dovecot[0]); i++) {
		int ret = parse_response(dovecot[i].response, strlen(dovecot[i].response),
					 NULL, 8191, 32, &t);
		char *got;

		if (!CHECK_INT(ret, 0)) {
			fprintf(stderr, "  in %s\n", dovecot[i].name);
			continue;
		}
		got = dump(&t);

		if (!CHECK_STR(got, dovecot[i].want))
			fprintf(stderr, "  in %s\n", dovecot[i].name);
		CHECK_INT(t.skipped, 0);
		check_invariants(&t, __LINE__);
		free(got);
		bodystructure_free(&t);
	}

	/* Disposition with a filename, on a text part (lines before it). */
	p = dovecot_part(&t, "msg_04.txt", "2");
	if (CHECK_THAT(p != NULL)) {
		CHECK_STR(p->disposition, "inline");
		if (CHECK_INT(p->ndisp_params, 1)) {
			CHECK_STR(p->disp_params[0].name, "filename");
			CHECK_STR(p->disp_params[0].value, "msg.txt");
		}
	}
	/* ... and on a non-text part (no lines). */
	p = dovecot_part(&t, "msg_07.txt", "2");
	if (CHECK_THAT(p != NULL)) {
		CHECK_STR(p->disposition, "attachment");
		CHECK_STR(p->encoding, "base64");
		if (CHECK_INT(p->ndisp_params, 1))
			CHECK_STR(p->disp_params[0].value, "dingusfish.gif");
		if (CHECK_INT(p->nparams, 1))
			CHECK_STR(p->params[0].name, "name");
	}
	/* ("inline" NIL): a disposition without parameters. */
	p = dovecot_part(&t, "msg_32.txt", "1");
	if (CHECK_THAT(p != NULL)) {
		CHECK_STR(p->disposition, "inline");
		CHECK_INT(p->ndisp_params, 0);
		CHECK_INT(p->nparams, 2);
	}
	/* "Content-Type: text" without a subtype: Dovecot sends "" "". */
	p = dovecot_part(&t, "msg_14.txt", "1");
	if (CHECK_THAT(p != NULL)) {
		CHECK_STR(p->type, "text");
		CHECK_STR(p->subtype, "plain");
		CHECK_THAT(p->disposition == NULL);
	}
	/* Header case passed through by the server, lower-cased here. */
	p = dovecot_part(&t, "msg_10.txt", "2");
	if (CHECK_THAT(p != NULL))
		CHECK_STR(p->encoding, "quoted-printable");
	p = dovecot_part(&t, "msg_36.txt", "2.1");
	if (CHECK_THAT(p != NULL))
		CHECK_STR(p->subtype, "external-body");
	/* Content-ID and Content-Description. */
	p = dovecot_part(&t, "msg_22.txt", "2");
	if (CHECK_THAT(p != NULL)) {
		CHECK_STR(p->id, "<a05001902b7f1c33773e9@[134.84.183.138].0.0>");
		CHECK_THAT(p->description == NULL);
	}
	p = dovecot_part(&t, "msg_45.txt", "2");
	if (CHECK_THAT(p != NULL))
		CHECK_STR(p->description, "OpenPGP digital signature");
	/* A message/rfc822 and its parts: parents by index. */
	p = dovecot_part(&t, "msg_02.txt", "3.4.1");
	if (CHECK_THAT(p != NULL)) {
		CHECK_THAT(p->parent != BS_NO_PARENT && p->parent < t.n);
		if (p->parent < t.n) {
			CHECK_STR(t.parts[p->parent].section, "3.4");
			CHECK_STR(parent_section(&t, (size_t)(p - t.parts)), "3.4");
		}
	}
	bodystructure_free(&t);
}

static void test_gmail_style(void)
{
	struct bs_tree t;

	/* Gmail: upper case everywhere, no location field. */
	CHECK_INT(parse_bs("(((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"UTF-8\") NIL NIL "
			   "\"QUOTED-PRINTABLE\" 120 4 NIL NIL NIL)(\"TEXT\" \"HTML\" "
			   "(\"CHARSET\" \"UTF-8\") NIL NIL \"QUOTED-PRINTABLE\" 450 9 NIL "
			   "NIL NIL) \"ALTERNATIVE\" (\"BOUNDARY\" \"000000000000abc\") NIL NIL)"
			   "(\"APPLICATION\" \"PDF\" (\"NAME\" \"Rechnung.pdf\") "
			   "\"<f_lq1x2>\" NIL \"BASE64\" 81234 NIL (\"ATTACHMENT\" "
			   "(\"FILENAME\" \"Rechnung.pdf\")) NIL) \"MIXED\" (\"BOUNDARY\" "
			   "\"000000000000def\") NIL NIL)", &t), 0);
	if (CHECK_INT(t.n, 3)) {
		char *d = dump(&t);

		CHECK_STR(d, "1.1 text/plain 120, 1.2 text/html 450, 2 application/pdf 81234");
		free(d);
		CHECK_STR(t.parts[0].encoding, "quoted-printable");
		CHECK_STR(t.parts[2].disposition, "attachment");
		CHECK_STR(t.parts[2].id, "<f_lq1x2>");
		if (CHECK_INT(t.parts[2].ndisp_params, 1)) {
			CHECK_STR(t.parts[2].disp_params[0].name, "FILENAME");
			CHECK_STR(t.parts[2].disp_params[0].value, "Rechnung.pdf");
		}
	}
	bodystructure_free(&t);

	/* Atoms instead of strings, in mixed case. */
	CHECK_INT(parse_bs("(Text Plain (charset us-ascii) NIL NIL QUOTED-printable 10 1 "
			   "NIL (Inline (filename a.txt)))", &t), 0);
	if (CHECK_INT(t.n, 1)) {
		CHECK_STR(t.parts[0].type, "text");
		CHECK_STR(t.parts[0].subtype, "plain");
		CHECK_STR(t.parts[0].encoding, "quoted-printable");
		CHECK_STR(t.parts[0].disposition, "inline");
		if (CHECK_INT(t.parts[0].nparams, 1))
			CHECK_STR(t.parts[0].params[0].value, "us-ascii");
		if (CHECK_INT(t.parts[0].ndisp_params, 1))
			CHECK_STR(t.parts[0].disp_params[0].value, "a.txt");
	}
	bodystructure_free(&t);

	/* Literals where strings are expected (a server may send any string so). */
	CHECK_INT(parse_bs("({5}\r\nIMAGE {4}\r\nJPEG NIL NIL {12}\r\nA \"quoted\" \\ "
			   "\"BASE64\" 7 NIL)", &t), 0);
	if (CHECK_INT(t.n, 1)) {
		CHECK_STR(t.parts[0].type, "image");
		CHECK_STR(t.parts[0].subtype, "jpeg");
		CHECK_STR(t.parts[0].description, "A \"quoted\" \\");
	}
	bodystructure_free(&t);
}

static void test_rfc2231(void)
{
	struct bs_tree t;

	CHECK_INT(parse_bs("(\"application\" \"pdf\" (\"name*0*\" \"utf-8''Rechnung%20M\" "
			   "\"name*1*\" \"%C3%A4rz.pdf\") NIL NIL \"base64\" 5000 NIL "
			   "(\"attachment\" (\"filename*0*\" \"utf-8''Rechnung%20M\" "
			   "\"filename*1*\" \"%C3%A4rz.pdf\")) NIL NIL)", &t), 0);
	if (CHECK_INT(t.n, 1)) {
		const struct bs_part *p = &t.parts[0];

		CHECK_STR(p->disposition, "attachment");
		if (CHECK_INT(p->ndisp_params, 2)) {
			CHECK_STR(p->disp_params[0].name, "filename*0*");
			CHECK_STR(p->disp_params[0].value, "utf-8''Rechnung%20M");
			CHECK_STR(p->disp_params[1].name, "filename*1*");
			CHECK_STR(p->disp_params[1].value, "%C3%A4rz.pdf");
		}
		if (CHECK_INT(p->nparams, 2))
			CHECK_STR(p->params[1].name, "name*1*");
	}
	bodystructure_free(&t);
}

static void test_nil_everywhere(void)
{
	struct bs_tree t;

	/* Only the size is there: RFC 2045's defaults. */
	CHECK_INT(parse_bs("(NIL NIL NIL NIL NIL NIL 0)", &t), 0);
	if (CHECK_INT(t.n, 1)) {
		const struct bs_part *p = &t.parts[0];

		CHECK_STR(p->section, "1");
		CHECK_STR(p->type, "text");
		CHECK_STR(p->subtype, "plain");
		CHECK_STR(p->encoding, "7bit");
		CHECK_THAT(p->params == NULL && p->nparams == 0);
		CHECK_THAT(p->id == NULL && p->description == NULL);
		CHECK_THAT(p->disposition == NULL && p->disp_params == NULL &&
		      p->ndisp_params == 0);
		CHECK_INT(p->size, 0);
	}
	bodystructure_free(&t);

	/* All extension fields NIL, and every field after size NIL. */
	EXPECT_TREE("(NIL NIL NIL NIL NIL NIL 3 NIL NIL NIL NIL NIL NIL NIL)",
		    "1 text/plain 3", 0);
	/* A type without a subtype says nothing of the content. */
	EXPECT_TREE("(\"image\" NIL NIL NIL NIL NIL 3)", "1 image/octet-stream 3", 0);
	EXPECT_TREE("(\"text\" \"\" NIL NIL NIL \"\" 3 0)", "1 text/plain 3", 0);

	/* A multipart of NIL parts, with a NIL subtype and NIL extension. */
	EXPECT_TREE("((NIL NIL NIL NIL NIL NIL 1 NIL)(NIL NIL NIL NIL NIL NIL 2 NIL) "
		    "NIL NIL NIL NIL NIL)", "1 text/plain 1, 2 text/plain 2", 0);
	/* A multipart without even a subtype. */
	EXPECT_TREE("(" TEXT("plain", 1) TEXT("html", 2) ")",
		    "1 text/plain 1, 2 text/html 2", 0);

	/* Disposition NIL, (NIL NIL), ("inline" NIL), a bare string. */
	const char *disps[] = { "NIL", "(NIL NIL)", "(\"inline\" NIL)", "\"inline\"",
				"(\"\" (\"a\" \"b\"))", "()" };
	const char *want[] = { NULL, NULL, "inline", NULL, NULL, NULL };

	for (size_t i = 0; i < sizeof(disps) / sizeof(disps[0]); i++) {
		char bs[256];

		snprintf(bs, sizeof(bs), "(\"image\" \"gif\" NIL NIL NIL \"base64\" 10 NIL %s NIL NIL)",
			 disps[i]);
		if (!CHECK_INT(parse_bs(bs, &t), 0))
			continue;
		if (CHECK_INT(t.n, 1)) {
			if (!CHECK_STR(t.parts[0].disposition, want[i]))
				fprintf(stderr, "  disposition %s\n", disps[i]);
			CHECK_INT(t.parts[0].ndisp_params, 0);
		}
		bodystructure_free(&t);
	}

	/* Parameter lists: NIL values, odd counts, lists and non-lists. */
	const struct {
		const char *params;
		size_t n;
		const char *last_name, *last_value;
	} pl[] = {
		{ "NIL", 0, NULL, NULL },
		{ "()", 0, NULL, NULL },
		{ "\"charset\"", 0, NULL, NULL },
		{ "(\"charset\")", 0, NULL, NULL },
		{ "(\"charset\" \"utf-8\" \"name\")", 1, "charset", "utf-8" },
		{ "(\"a\" NIL \"b\" \"c\")", 1, "b", "c" },
		{ "(NIL \"x\" \"b\" \"c\" \"d\")", 1, "b", "c" },
		{ "((\"x\") \"y\" \"format\" \"flowed\")", 1, "format", "flowed" },
		{ "(\"a\" \"\" \"b\" 12)", 2, "b", "12" },
		{ "(NIL NIL)", 0, NULL, NULL },
	};

	for (size_t i = 0; i < sizeof(pl) / sizeof(pl[0]); i++) {
		char bs[256];

		snprintf(bs, sizeof(bs), "(\"text\" \"plain\" %s NIL NIL NIL 10 1 NIL "
			 "(\"attachment\" %s))", pl[i].params, pl[i].params);
		if (!CHECK_INT(parse_bs(bs, &t), 0))
			continue;
		if (!CHECK_INT(t.n, 1))
			goto next;
		if (!CHECK_INT(t.parts[0].nparams, pl[i].n) ||
		    !CHECK_INT(t.parts[0].ndisp_params, pl[i].n))
			fprintf(stderr, "  params %s\n", pl[i].params);
		if (pl[i].n && t.parts[0].nparams == pl[i].n &&
		    t.parts[0].ndisp_params == pl[i].n) {
			CHECK_STR(t.parts[0].params[pl[i].n - 1].name, pl[i].last_name);
			CHECK_STR(t.parts[0].params[pl[i].n - 1].value, pl[i].last_value);
			CHECK_STR(t.parts[0].disp_params[pl[i].n - 1].value, pl[i].last_value);
		}
		CHECK_THAT(pl[i].n || (!t.parts[0].params && !t.parts[0].disp_params));
next:
		bodystructure_free(&t);
	}

	/* A message/rfc822 with NIL envelope still has its parts. */
	EXPECT_TREE("(\"message\" \"rfc822\" NIL NIL NIL NIL 50 NIL " TEXT("plain", 5) " 2)",
		    "1 message/rfc822 50*, 1.1 text/plain 5", 0);
	/* No body, no lines: listed as a message file without parts. */
	EXPECT_TREE("(\"message\" \"rfc822\" NIL NIL NIL NIL 50 NIL NIL NIL)",
		    "1 message/rfc822 50", 1);
}

static void test_malformed(void)
{
	struct bs_tree t;

	/*
	 * Broken parts are left out and counted, their siblings keep the
	 * sections the server gives them.
	 */
	EXPECT_TREE(MULTI(
		"(\"text\" \"plain\" NIL NIL NIL \"7bit\" \"12\" 1)" /* size a string */
		IMAGE(2)
		"()"                                              /* empty */
		"(\"text\" \"plain\" NIL NIL NIL \"7bit\")"       /* too short */
		"(\"text\" \"plain\" NIL NIL NIL \"7bit\" NIL 1)" /* size NIL */
		"(\"text\" \"plain\" NIL NIL NIL \"7bit\" -5 1)"  /* size negative */
		"(\"text\" \"plain\" NIL NIL NIL \"7bit\" 99999999999999999999999 1)"
		"(\"text\" (\"x\") NIL NIL NIL \"7bit\" 8 1)"  /* subtype a list */
		MULTI("(\"text\" NIL NIL NIL NIL \"7bit\" (1) 1)" TEXT("html", 92),
		      "alternative"),
		"mixed"),
		"2 image/png 2, 9.2 text/html 92", 8);

	/* A message/rfc822 whose inner structure is broken is still listed. */
	EXPECT_TREE(MULTI(TEXT("plain", 1)
			  MESSAGE("(\"text\" \"plain\" NIL NIL NIL \"7bit\" \"big\" 1)", 2)
			  TEXT("plain", 3), "mixed"),
		    "1 text/plain 1, 2 message/rfc822 2, 3 text/plain 3", 1);
	/* ... or missing, */
	EXPECT_TREE("(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 70)",
		    "1 message/rfc822 70", 1);
	/* ... or not a list, */
	EXPECT_TREE("(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 70 " ENVELOPE " \"x\" 3)",
		    "1 message/rfc822 70", 1);
	/* ... or an empty list, */
	EXPECT_TREE("(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 70 " ENVELOPE " () 3)",
		    "1 message/rfc822 70", 1);
	/* ... or a multipart of nothing usable. */
	EXPECT_TREE("(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 70 " ENVELOPE
		    " ((NIL NIL NIL NIL NIL NIL NIL)() \"mixed\") 3)",
		    "1 message/rfc822 70", 2);
	/* A message part with one good and one bad part keeps the good one. */
	EXPECT_TREE("(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 70 " ENVELOPE
		    " ((NIL NIL NIL NIL NIL NIL NIL)" TEXT("plain", 12) " \"mixed\") 3)",
		    "1 message/rfc822 70*, 1.2 text/plain 12", 1);

	/* Not a body structure at all. */
	EXPECT_ERROR("NIL", -EPROTO);
	EXPECT_ERROR("TEXT", -EPROTO);
	EXPECT_ERROR("42", -EPROTO);
	EXPECT_ERROR("\"text\"", -EPROTO);
	EXPECT_ERROR("()", -EPROTO);
	EXPECT_ERROR("(\"text\" \"plain\" NIL NIL NIL \"7bit\")", -EPROTO);
	EXPECT_ERROR("(\"text\" \"plain\" NIL NIL NIL \"7bit\" x 1)", -EPROTO);
	EXPECT_ERROR("(() \"mixed\")", -EPROTO);
	EXPECT_ERROR("((NIL) (\"a\") \"mixed\")", -EPROTO);

	CHECK_INT(bodystructure_parse(NULL, 10, 10, &t), -EPROTO);
	CHECK_THAT(t.n == 0 && t.parts == NULL);
	bodystructure_free(&t);
	bodystructure_free(NULL);

	/* A FETCH without BODYSTRUCTURE: the caller passes NULL. */
	const char *resp = "* 1 FETCH (UID 3 FLAGS (\\Seen))\r\n";

	CHECK_INT(parse_response(resp, strlen(resp), NULL, 10, 10, &t), -EPROTO);
	bodystructure_free(&t);
}

/* depth multiparts around one text part: "((((text) "mixed") "mixed") ...)". */
static char *nested_multipart(size_t depth)
{
	struct buf b = BUF_INIT;

	dump_repeat(&b, "(", depth);
	dump_puts(&b, TEXT("plain", 1));
	dump_repeat(&b, " \"mixed\")", depth);
	return dump_take(&b);
}

/* depth message/rfc822 parts around one text part. */
static char *nested_message(size_t depth)
{
	struct buf b = BUF_INIT;

	dump_repeat(&b, "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 1 NIL ", depth);
	dump_puts(&b, TEXT("plain", 1));
	dump_repeat(&b, " 1)", depth);
	return dump_take(&b);
}

static void test_depth(void)
{
	struct imap_parser_limits lim = imap_parser_default_limits;
	struct bs_tree t;
	char *s;

	/* Depth counts multipart and message levels alike. */
	CHECK_INT(parse_bs_lim(TEXT("plain", 1), NULL, 10, 0, &t), 0);
	bodystructure_free(&t);
	CHECK_INT(parse_bs_lim(MULTI(TEXT("plain", 1), "mixed"), NULL, 10, 0, &t), -E2BIG);
	CHECK_THAT(t.n == 0 && t.parts == NULL);
	CHECK_INT(parse_bs_lim(MULTI(TEXT("plain", 1), "mixed"), NULL, 10, 1, &t), 0);
	bodystructure_free(&t);
	CHECK_INT(parse_bs_lim(MESSAGE(TEXT("plain", 1), 2), NULL, 10, 0, &t), -E2BIG);
	CHECK_INT(parse_bs_lim(MESSAGE(TEXT("plain", 1), 2), NULL, 10, 1, &t), 0);
	bodystructure_free(&t);
	CHECK_INT(parse_bs_lim(MULTI(MESSAGE(MULTI(TEXT("plain", 1), "mixed"), 2), "mixed"),
			       NULL, 10, 2, &t), -E2BIG);
	CHECK_INT(parse_bs_lim(MULTI(MESSAGE(MULTI(TEXT("plain", 1), "mixed"), 2), "mixed"),
			       NULL, 10, 3, &t), 0);
	bodystructure_free(&t);
	/* A message without usable inner structure does not descend. */
	CHECK_INT(parse_bs_lim("(\"message\" \"rfc822\" NIL NIL NIL NIL 50 NIL NIL 1)",
			       NULL, 10, 0, &t), 0);
	bodystructure_free(&t);

	/* The parser's own limits must let these through to reach ours. */
	lim.max_depth = 30000;

	/* 10,000 levels: refused at max_depth, long before the stack runs out. */
	s = nested_multipart(10000);
	CHECK_INT(parse_bs_lim(s, &lim, 8191, 32, &t), -E2BIG);
	CHECK_THAT(t.n == 0 && t.parts == NULL);
	CHECK_INT(parse_bs_lim(s, &lim, 8191, 64, &t), -E2BIG);
	CHECK_INT(parse_bs_lim(s, &lim, 8191, 9999, &t), -E2BIG);
	free(s);

	/* Exactly deep enough: one part, "1.1.1...". */
	s = nested_multipart(1000);
	CHECK_INT(parse_bs_lim(s, &lim, 8191, 999, &t), -E2BIG);
	CHECK_INT(parse_bs_lim(s, &lim, 8191, 1000, &t), 0);
	if (CHECK_INT(t.n, 1)) {
		CHECK_INT(strlen(t.parts[0].section), 2 * 1000 - 1);
		CHECK_THAT(!strncmp(t.parts[0].section, "1.1.1.", 6));
	}
	bodystructure_free(&t);
	free(s);

	s = nested_message(10000);
	CHECK_INT(parse_bs_lim(s, &lim, 8191, 32, &t), -E2BIG);
	CHECK_THAT(t.n == 0 && t.parts == NULL);
	free(s);

	/* Parts listed before the limit was hit are freed (ASan: no leak). */
	s = nested_message(100);
	CHECK_INT(parse_bs_lim(s, &lim, 8191, 99, &t), -E2BIG);
	CHECK_INT(parse_bs_lim(s, &lim, 8191, 100, &t), 0);
	if (CHECK_INT(t.n, 101)) {
		CHECK_STR(t.parts[0].section, "1");
		CHECK_STR(t.parts[1].section, "1.1");
		CHECK_STR(t.parts[2].section, "1.1.1");
		CHECK_INT(t.parts[2].parent, 1);
		CHECK_THAT(t.parts[99].is_message);
		CHECK_THAT(!t.parts[100].is_message);
		CHECK_INT(t.parts[100].parent, 99);
		CHECK_INT(strlen(t.parts[100].section), 2 * 101 - 1);
		check_invariants(&t, __LINE__);
	}
	bodystructure_free(&t);
	free(s);
}

static char *many_parts(size_t n)
{
	struct buf b = BUF_INIT;

	dump_puts(&b, "(");
	dump_repeat(&b, "(\"text\" \"plain\" NIL NIL NIL \"7bit\" 1 1)", n);
	dump_puts(&b, " \"mixed\")");
	return dump_take(&b);
}

static void test_max_parts(void)
{
	struct bs_tree t;
	char *s;

	s = many_parts(100000);
	CHECK_INT(parse_bs_lim(s, NULL, 8191, 32, &t), -E2BIG);
	CHECK_THAT(t.n == 0 && t.parts == NULL);
	free(s);

	s = many_parts(8191);
	CHECK_INT(parse_bs_lim(s, NULL, 8191, 32, &t), 0);
	if (CHECK_INT(t.n, 8191)) {
		CHECK_STR(t.parts[8190].section, "8191");
		check_invariants(&t, __LINE__);
	}
	bodystructure_free(&t);
	CHECK_INT(parse_bs_lim(s, NULL, 8190, 32, &t), -E2BIG);
	free(s);

	/* Message parts count too; skipped parts do not. */
	CHECK_INT(parse_bs_lim(MESSAGE(TEXT("plain", 1), 2), NULL, 1, 32, &t), -E2BIG);
	CHECK_INT(parse_bs_lim(MESSAGE(TEXT("plain", 1), 2), NULL, 2, 32, &t), 0);
	bodystructure_free(&t);
	CHECK_INT(parse_bs_lim(MULTI("()()()" TEXT("plain", 1), "mixed"), NULL, 1, 32, &t), 0);
	CHECK_INT(t.skipped, 3);
	bodystructure_free(&t);
	CHECK_INT(parse_bs_lim(TEXT("plain", 1), NULL, 0, 32, &t), -E2BIG);
}

int main(void)
{
	test_rfc_examples();
	test_sections();
	test_dovecot();
	test_gmail_style();
	test_rfc2231();
	test_nil_everywhere();
	test_malformed();
	test_depth();
	test_max_parts();

	return check_summary();
}
