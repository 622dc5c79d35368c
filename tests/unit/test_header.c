/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for header decoding (src/mime/header.c). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mime/header.h"

#include "check.h"

static void expect(int line, const char *what, const char *in, char *got, const char *want)
{
	if (!want)
		check(!got, line, "%s(\"%s\") = \"%s\", want NULL", what, show0(in), show0(got));
	else
		check(got && !strcmp(got, want) && valid_utf8(got), line,
		      "%s(\"%s\") = \"%s\", want \"%s\"", what, show0(in), show0(got), show0(want));
	free(got);
}

static void dec(int line, const char *in, const char *want)
{
	expect(line, "mime_header_decode", in, mime_header_decode(in, strlen(in)), want);
}

static void conv(int line, const char *cs, const char *in, size_t len, const char *want)
{
	char what[128];

	snprintf(what, sizeof(what), "mime_charset_to_utf8[%s]", cs ? cs : "NULL");
	expect(line, what, in, mime_charset_to_utf8(cs, in, len), want);
}

#define CONV(cs, in, want) conv(__LINE__, cs, in, sizeof(in) - 1, want)

static void test_rfc2047_examples(void)
{
	/* RFC 2047 §8 */
	dec(__LINE__, "=?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>",
	    "Keith Moore <moore@cs.utk.edu>");
	dec(__LINE__, "=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>",
	    "Keld J\xc3\xb8rn Simonsen <keld@dkuug.dk>");
	dec(__LINE__, "=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>",
	    "Andr\xc3\xa9 Pirard <PIRARD@vm1.ulg.ac.be>");
	dec(__LINE__, "=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n"
		      "    =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=",
	    "If you can read this you understand the example.");
	dec(__LINE__, "Nathaniel Borenstein <nsb@thumper.bellcore.com>\r\n"
		      "    (=?iso-8859-8?b?7eXs+SDv4SDp7Oj08A==?=)",
	    "Nathaniel Borenstein <nsb@thumper.bellcore.com>    (\xd7\x9d\xd7\x95\xd7\x9c"
	    "\xd7\xa9 \xd7\x9f\xd7\x91 \xd7\x99\xd7\x9c\xd7\x98\xd7\xa4\xd7\xa0)");
	dec(__LINE__, "=?ISO-8859-1?Q?Olle_J=E4rnefors?= <ojarnef@admin.kth.se>",
	    "Olle J\xc3\xa4rnefors <ojarnef@admin.kth.se>");
	dec(__LINE__, "=?ISO-8859-1?Q?Patrik_F=E4ltstr=F6m?= <paf@nada.kth.se>",
	    "Patrik F\xc3\xa4ltstr\xc3\xb6m <paf@nada.kth.se>");
	dec(__LINE__, "(=?ISO-8859-1?Q?a?=)", "(a)");
	dec(__LINE__, "(=?ISO-8859-1?Q?a?= b)", "(a b)");
	dec(__LINE__, "(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)");
	dec(__LINE__, "(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)", "(ab)");
	dec(__LINE__, "(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)", "(ab)");
	dec(__LINE__, "(=?ISO-8859-1?Q?a?=\n\t=?ISO-8859-1?Q?b?=)", "(ab)");
	dec(__LINE__, "(=?ISO-8859-1?Q?a_b?=)", "(a b)");
	dec(__LINE__, "=?ISO-8859-1?Q?a_b?=", "a b");
	dec(__LINE__, "(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", "(a b)");
	/* RFC 2231 §5: a language after the charset */
	dec(__LINE__, "=?US-ASCII*EN?Q?Keith_Moore?=", "Keith Moore");
	dec(__LINE__, "=?utf-8*de?B?TcOkcno=?=", "M\xc3\xa4rz");
}

static void test_charsets_in_words(void)
{
	dec(__LINE__, "=?UTF-8?B?UmVjaG51bmcgTcOkcnoucGRm?=", "Rechnung M\xc3\xa4rz.pdf");
	dec(__LINE__, "=?utf-8?q?Gr=C3=BC=C3=9Fe?=", "Gr\xc3\xbc\xc3\x9f" "e");
	/* a character split across two words of one charset */
	dec(__LINE__, "=?utf-8?Q?M=C3?= =?utf-8?Q?=A4rz?=", "M\xc3\xa4rz");
	dec(__LINE__, "=?UTF-8?B?w6Q=?==?UTF-8?B?w7Y=?=", "\xc3\xa4\xc3\xb6");
	dec(__LINE__, "=?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
	dec(__LINE__, "=?iso-2022-jp?B?GyRCRnxLXBsoQg==?= =?iso-2022-jp?B?GyRCOGwbKEI=?=",
	    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
	dec(__LINE__, "=?windows-1252?Q?=84Gr=FC=DFe=93_=96_=80?=",
	    "\xe2\x80\x9eGr\xc3\xbc\xc3\x9f" "e\xe2\x80\x9c \xe2\x80\x93 \xe2\x82\xac");
	dec(__LINE__, "=?koi8-r?B?8NLJ18XU?=", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
	dec(__LINE__, "=?KOI8-R?Q?=F0=D2=C9=D7=C5=D4?=",
	    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
	dec(__LINE__, "=?iso-8859-2?Q?=B1?=", "\xc4\x85");
	dec(__LINE__, "=?shift_jis?B?gqA=?=", "\xe3\x81\x82");
	dec(__LINE__, "=?gb2312?B?xOO6ww==?=", "\xe4\xbd\xa0\xe5\xa5\xbd");
	/* unknown charsets: UTF-8 if valid, else Latin-1 */
	dec(__LINE__, "=?x-foo?Q?caf=C3=A9?=", "caf\xc3\xa9");
	dec(__LINE__, "=?x-foo?Q?caf=E9?=", "caf\xc3\xa9");
	dec(__LINE__, "=?unknown-8bit?Q?caf=E9?=", "caf\xc3\xa9");
	dec(__LINE__, "=?x-unknown?B?Y2Fmw6k=?=", "caf\xc3\xa9");
	dec(__LINE__, "=?utf-8//TRANSLIT?Q?caf=C3=A9?=", "caf\xc3\xa9");
	/* invalid bytes in a known charset */
	dec(__LINE__, "=?utf-8?Q?a=FFb?=", "a\xef\xbf\xbd" "b");
	dec(__LINE__, "=?utf-8?Q?a=C3?=", "a\xef\xbf\xbd");
	dec(__LINE__, "=?utf-8?Q?a=00b?=", "a\xef\xbf\xbd" "b");
}

static void test_malformed_words(void)
{
	dec(__LINE__, "=?utf-8?X?abc?=", "=?utf-8?X?abc?=");
	dec(__LINE__, "=?utf-8?Q?abc", "=?utf-8?Q?abc");
	dec(__LINE__, "=??Q?abc?=", "=??Q?abc?=");
	dec(__LINE__, "=?utf-8?B?a b?=", "=?utf-8?B?a b?=");
	dec(__LINE__, "=?utf-8?B?!!!?=", "=?utf-8?B?!!!?=");
	dec(__LINE__, "=?utf-8?Q?a b?=", "=?utf-8?Q?a b?=");
	dec(__LINE__, "=?utf-8?Q?a=ZZb=4?=", "a=ZZb=4");
	dec(__LINE__, "=?", "=?");
	dec(__LINE__, "=?=?=?", "=?=?=?");
	dec(__LINE__, "a =?utf-8?Q?b?= c", "a b c");
	dec(__LINE__, "=?utf-8?Q?a?= =?bad =?utf-8?Q?b?=", "a =?bad b");
	/* a raw '?' in Q text, as Python accepts */
	dec(__LINE__, "=?utf-8?Q?Wie_geht's?" "?=", "Wie geht's?");
	dec(__LINE__, "=?utf-8?Q?" "?=", "");
	/* not separated by whitespace: decoded all the same */
	dec(__LINE__, "foo=?utf-8?Q?bar?=baz", "foobarbaz");
	dec(__LINE__, "\"=?utf-8?Q?M=C3=BCller?=\" <m@x>", "\"M\xc3\xbcller\" <m@x>");
	/* the second word's broken, so the space before it is text */
	dec(__LINE__, "=?utf-8?Q?a?= =?utf-8?Z?b?=", "a =?utf-8?Z?b?=");
}

static void test_raw_text(void)
{
	dec(__LINE__, "", "");
	dec(__LINE__, "plain ascii", "plain ascii");
	dec(__LINE__, "Gr\xfc\xdf" "e", "Gr\xc3\xbc\xc3\x9f" "e");
	dec(__LINE__, "Gr\xc3\xbc\xc3\x9f" "e", "Gr\xc3\xbc\xc3\x9f" "e");
	dec(__LINE__, "\xc3\xa4 \xe4", "\xc3\xa4 \xc3\xa4");
	dec(__LINE__, "\x80 5", "\xe2\x82\xac 5");
	dec(__LINE__, "a\x01" "b\x7f" "c\td", "a b c\td");
	dec(__LINE__, "=?utf-8?Q?a=0D=0Ab?=", "a  b");
	dec(__LINE__, "folded\r\n line", "folded line");
	dec(__LINE__, "folded\n\tline", "folded\tline");
	dec(__LINE__, "bare\nbreak", "bare break");
	dec(__LINE__, "trailing\r\n", "trailing");
	/* embedded NUL in a length-delimited value */
	expect(__LINE__, "mime_header_decode", "a\\0b", mime_header_decode("a\0b", 3), "a b");
	expect(__LINE__, "mime_header_decode", "NULL", mime_header_decode(NULL, 0), "");
}

static void test_charset_to_utf8(void)
{
	CONV(NULL, "abc", "abc");
	CONV(NULL, "\xe4", "\xc3\xa4");
	CONV(NULL, "\xc3\xa4", "\xc3\xa4");
	CONV("utf-8", "a\xff" "b", "a\xef\xbf\xbd" "b");
	CONV("UTF8", "\xc3\xa4", "\xc3\xa4");
	CONV("utf-8", "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	CONV("utf-8", "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd");
	CONV("utf-8", "a\0b", "a\xef\xbf\xbd" "b");
	CONV("latin1", "\xe4", "\xc3\xa4");
	CONV("ISO-8859-1", "\xe9t\xe9", "\xc3\xa9t\xc3\xa9");
	CONV("x-unknown", "\xc3\xa4", "\xc3\xa4");
	CONV("unknown-8bit", "\xe4", "\xc3\xa4");
	CONV("us-ascii", "abc", "abc");
	CONV("us-ascii", "\xe4", "\xc3\xa4");
	CONV("no-such-charset", "\xe4", "\xc3\xa4");
	CONV("utf-8//IGNORE", "\xe4", "\xc3\xa4");
	CONV("koi8-r", "\xf0\xd2\xc9\xd7\xc5\xd4",
	     "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
	CONV("windows-1251", "\xcf\xf0\xe8", "\xd0\x9f\xd1\x80\xd0\xb8");
	CONV("iso-8859-15", "\xa4", "\xe2\x82\xac");
	CONV("utf-16le", "a\0b\0", "ab");
	CONV("euc-jp", "\xa4\xa2", "\xe3\x81\x82");
	CONV("euc-jp", "\xa4\xa2\xff" "x", "\xe3\x81\x82\xef\xbf\xbdx");
	CONV("euc-jp", "a\xa4", "a\xef\xbf\xbd");
	CONV("shift_jis", "\x87@", "\xe2\x91\xa0");
	CONV("iso-2022-jp", "\x1b$BF|K\\8l\x1b(B", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
	CONV("utf-8", "", "");
	expect(__LINE__, "mime_charset_to_utf8", "NULL", mime_charset_to_utf8("utf-8", NULL, 0), "");
}

static const char block[] =
	"From alice@example.org Mon Jan  1 00:00:00 2024\r\n"
	"Return-Path: <a@b>\r\n"
	"Subject: Hello\r\n"
	" world\r\n"
	"Subject-Extra: not this\r\n"
	"X-Long:\r\n"
	"\tfolded\r\n"
	"  value \r\n"
	"content-type: text/plain;\r\n"
	" charset=utf-8\r\n"
	"X-Obs : obsolete\r\n"
	"X-Empty:\r\n"
	"X-Raw: M\xe4rz\r\n"
	"Received: first\r\n"
	"Received: second\r\n"
	"\r\n"
	"X-Body: not a header\r\n";

static void field(int line, const char *blk, size_t len, const char *name, const char *want)
{
	expect(line, "mime_header_field", name, mime_header_field(blk, len, name), want);
}

static void test_header_field(void)
{
	static const char lf[] = "A: 1\nB: two\n  lines\nC:3";
	static const char bare[] = "Subject: no end";

	field(__LINE__, block, sizeof(block) - 1, "Subject", "Hello world");
	field(__LINE__, block, sizeof(block) - 1, "SUBJECT", "Hello world");
	field(__LINE__, block, sizeof(block) - 1, "Return-Path", "<a@b>");
	field(__LINE__, block, sizeof(block) - 1, "x-long", "folded  value");
	field(__LINE__, block, sizeof(block) - 1, "Content-Type", "text/plain; charset=utf-8");
	field(__LINE__, block, sizeof(block) - 1, "X-Obs", "obsolete");
	field(__LINE__, block, sizeof(block) - 1, "X-Empty", "");
	field(__LINE__, block, sizeof(block) - 1, "X-Raw", "M\xc3\xa4rz");
	field(__LINE__, block, sizeof(block) - 1, "Received", "first");
	field(__LINE__, block, sizeof(block) - 1, "X-Body", NULL);
	field(__LINE__, block, sizeof(block) - 1, "Missing", NULL);
	field(__LINE__, block, sizeof(block) - 1, "Subj", NULL);
	field(__LINE__, block, sizeof(block) - 1, "From", NULL);
	field(__LINE__, lf, sizeof(lf) - 1, "b", "two  lines");
	field(__LINE__, lf, sizeof(lf) - 1, "C", "3");
	field(__LINE__, lf, sizeof(lf) - 1, "A", "1");
	field(__LINE__, bare, sizeof(bare) - 1, "subject", "no end");
	field(__LINE__, bare, 0, "subject", NULL);
	/* a length cuts the block */
	field(__LINE__, block, 60, "Subject", NULL);
}

#define P(n, v) { (n), (v) }
#define PARAMS(...) (const struct mime_param[]){ __VA_ARGS__ }, \
	sizeof((const struct mime_param[]){ __VA_ARGS__ }) / sizeof(struct mime_param)

static void param(int line, const struct mime_param *p, size_t n, const char *name,
		  const char *want)
{
	expect(line, "mime_param_get", name, mime_param_get(p, n, name), want);
}

static void test_params(void)
{
	/* RFC 2231 §3 */
	param(__LINE__, PARAMS(P("access-type", "URL"),
			       P("URL*0", "ftp://"),
			       P("URL*1", "cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar")),
	      "url", "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar");
	/* RFC 2231 §4 */
	param(__LINE__, PARAMS(P("title*", "us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A")),
	      "title", "This is ***fun***");
	/* RFC 2231 §4.1 */
	param(__LINE__, PARAMS(P("title*0*", "us-ascii'en'This%20is%20even%20more%20"),
			       P("title*1*", "%2A%2A%2Afun%2A%2A%2A%20"),
			       P("title*2", "isn't it!")),
	      "title", "This is even more ***fun*** isn't it!");
	param(__LINE__, PARAMS(P("title*2", "isn't it!"),
			       P("title*0*", "us-ascii'en'This%20is%20even%20more%20"),
			       P("title*1*", "%2A%2A%2Afun%2A%2A%2A%20")),
	      "title", "This is even more ***fun*** isn't it!");
	/* a gap ends the join; duplicates: the first wins */
	param(__LINE__, PARAMS(P("name*0", "a"), P("name*2", "c")), "name", "a");
	param(__LINE__, PARAMS(P("name*1", "b"), P("name*0", "a"), P("name*1", "x"),
			       P("name*10", "k"), P("name*2", "c")),
	      "name", "abc");
	param(__LINE__, PARAMS(P("name*1", "b"), P("name", "plain")), "name", "plain");
	/* charsets */
	param(__LINE__, PARAMS(P("filename*", "utf-8''Rechnung%20M%C3%A4rz.pdf")),
	      "filename", "Rechnung M\xc3\xa4rz.pdf");
	param(__LINE__, PARAMS(P("filename*", "UTF-8'de'Rechnung%20M%C3%A4rz.pdf")),
	      "filename", "Rechnung M\xc3\xa4rz.pdf");
	param(__LINE__, PARAMS(P("filename*", "iso-8859-1''M%E4rz.pdf")),
	      "filename", "M\xc3\xa4rz.pdf");
	param(__LINE__, PARAMS(P("filename*0*", "utf-8''Rechnung%20M%C3"),
			       P("filename*1*", "%A4rz.pdf")),
	      "filename", "Rechnung M\xc3\xa4rz.pdf");
	param(__LINE__, PARAMS(P("filename*0*", "koi8-r''%F0%D2%C9"), P("filename*1", ".txt")),
	      "filename", "\xd0\x9f\xd1\x80\xd0\xb8.txt");
	param(__LINE__, PARAMS(P("filename*", "M%C3%A4rz.pdf")), "filename",
	      "M\xc3\xa4rz.pdf");
	param(__LINE__, PARAMS(P("filename*", "''M%E4rz.pdf")), "filename", "M\xc3\xa4rz.pdf");
	param(__LINE__, PARAMS(P("filename*", "utf-8''a%FFb%ZZ%4")), "filename",
	      "a\xef\xbf\xbd" "b%ZZ%4");
	param(__LINE__, PARAMS(P("filename*", "utf-8''a%00b")), "filename", "a\xef\xbf\xbd" "b");
	/* RFC 2047 inside a quoted value (Thunderbird, Outlook) */
	param(__LINE__, PARAMS(P("filename", "=?UTF-8?B?UmVjaG51bmcgTcOkcnoucGRm?=")),
	      "filename", "Rechnung M\xc3\xa4rz.pdf");
	param(__LINE__, PARAMS(P("name", "=?utf-8?Q?M=C3=A4rz?= =?utf-8?Q?.pdf?=")),
	      "name", "M\xc3\xa4rz.pdf");
	param(__LINE__, PARAMS(P("name*0", "=?utf-8?Q?M=C3=A4?="), P("name*1", "rz.pdf")),
	      "name", "M\xc3\xa4rz.pdf");
	param(__LINE__, PARAMS(P("filename", "M\xe4rz.pdf")), "filename", "M\xc3\xa4rz.pdf");
	/* RFC 2231 is preferred over the plain fallback */
	param(__LINE__, PARAMS(P("filename", "fallback.pdf"),
			       P("filename*", "utf-8''M%C3%A4rz.pdf")),
	      "filename", "M\xc3\xa4rz.pdf");
	param(__LINE__, PARAMS(P("filename", "fallback.pdf"), P("filename*0", "a"),
			       P("filename*1", "b")),
	      "filename", "ab");
	/* names: any case, exact */
	param(__LINE__, PARAMS(P("FileName", "a.txt")), "filename", "a.txt");
	param(__LINE__, PARAMS(P("FILENAME*0*", "utf-8''a"), P("Filename*1", "b")),
	      "filename", "ab");
	param(__LINE__, PARAMS(P("filenamex", "a"), P("filename*x", "b"), P("file", "c"),
			       P("filename*0x", "d"), P("filename**", "e")),
	      "filename", NULL);
	param(__LINE__, PARAMS(P("charset", "utf-8")), "filename", NULL);
	param(__LINE__, NULL, 0, "filename", NULL);
	param(__LINE__, PARAMS(P("name", "")), "name", "");
	param(__LINE__, PARAMS(P("name", NULL)), "name", "");
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *repeat(const char *unit, size_t times, size_t *len)
{
	size_t u = strlen(unit), i;
	char *s = malloc(u * times + 1);

	if (!s)
		abort();
	for (i = 0; i < times; i++)
		memcpy(s + i * u, unit, u);
	s[u * times] = '\0';
	*len = u * times;
	return s;
}

/* Hostile sizes: bounded output, valid UTF-8, and no quadratic time. */
static void test_limits(void)
{
	static const char *const hostile[] = {
		"=?a?q?c",		/* Q text that never ends */
		"=?a?b?!",		/* B text that is never base64 */
		"=?",
		"=?utf-8?Q?=E2=82=AC?= ",
		"=?utf-8?B?4oKs?=",
		"\xe2\x82\xac",
		"=?utf-8?Q?=E2=82?= =?utf-8?Q?=AC?= ",
		"=?x?q?a?b?c?d?",
	};
	size_t i, len;
	double t;
	char *in, *got;

	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		in = repeat(hostile[i], 200000, &len);
		t = now();
		got = mime_header_decode(in, len);
		t = now() - t;
		check(got && strlen(got) <= 64 * 1024 && strlen(got) > 60 * 1024 &&
		      valid_utf8(got), __LINE__, "hostile %zu: %zu bytes out, valid %d",
		      i, got ? strlen(got) : 0, got ? valid_utf8(got) : 0);
		check(!timing_checked() || t < 2.0, __LINE__, "hostile %zu took %.2f s", i, t);
		free(got);
		free(in);
	}

	/* many short words, each joined to the next */
	in = repeat("=?utf-8?Q?ab?= ", 10000, &len);
	got = mime_header_decode(in, len);
	check(got && strlen(got) == 20001, __LINE__, "10000 words: %zu bytes", got ? strlen(got) : 0);
	free(got);
	free(in);
}

int main(void)
{
	test_rfc2047_examples();
	test_charsets_in_words();
	test_malformed_words();
	test_raw_text();
	test_charset_to_utf8();
	test_header_field();
	test_params();
	test_limits();
	return check_summary();
}
