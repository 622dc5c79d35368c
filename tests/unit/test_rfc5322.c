/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <string.h>

#include "check.h"
#include "mime/rfc5322.h"

#define IS(text, want) \
	CHECK(rfc5322_is_message(text, sizeof(text) - 1, true) == (want), "%s: want %d", #text, want)

static void crlf(const char *in, const char *want)
{
	char out[256];
	bool cr = false;
	size_t n = 0;

	/* fed one byte at a time: the state carries across chunks */
	for (size_t i = 0; in[i]; i++)
		n += rfc5322_crlf(in + i, 1, out + n, &cr);
	CHECK(n == strlen(want) && memcmp(out, want, n) == 0, "crlf of %s", in);
}

int main(void)
{
	IS("From: a@b\r\nSubject: x\r\n\r\nbody\r\n", true);
	IS("From: a@b\nSubject: x\n\nbody\n", true);           /* LF only */
	IS("Subject: folded\r\n  on two lines\r\n\r\n", true);
	IS("Subject: header only\r\n", true);                   /* no body */
	IS("Subject: no newline at all", true);
	IS("X-Empty:\r\n\r\n", true);
	IS("", false);
	IS("\r\nbody without header\r\n", false);
	IS("just some text\nmore text\n", false);
	IS("  continuation first: x\r\n\r\n", false);
	IS("From someone Mon Jan  1 00:00:00 2024\nSubject: x\n\n", false); /* mbox line */
	IS("\x89PNG\r\n\x1a\n", false);
	IS("Subject: ok\r\nnot a field\r\n\r\n", false);
	IS("Sub ject: space in name\r\n\r\n", false);
	CHECK(!rfc5322_is_message("Subject: a\0b\r\n\r\n", 16, true), "NUL refused");
	/* a window that ends inside the header is judged on what it holds */
	CHECK(rfc5322_is_message("Subject: a\r\nFrom: som", 21, false), "cut window");
	CHECK(rfc5322_is_message("Subject: a\r\nFrom: som", 21, true), "last line without newline");

	crlf("a\nb\r\nc\n", "a\r\nb\r\nc\r\n");
	crlf("\n\n", "\r\n\r\n");
	crlf("\r\r\n", "\r\r\n");
	crlf("none", "none");
	{
		bool cr = false;

		CHECK(rfc5322_has_bare_lf("a\r\nb\n", 5, &cr), "bare LF found");
		cr = false;
		CHECK(!rfc5322_has_bare_lf("a\r\nb\r\n", 6, &cr), "no bare LF");
		cr = false;
		CHECK(!rfc5322_has_bare_lf("a\r", 2, &cr) && !rfc5322_has_bare_lf("\n", 1, &cr),
		      "CR and LF split across chunks");
	}
	return check_summary();
}
