/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for readable message names (src/mime/headline.c). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mime/headline.h"

#include "check.h"

/* 2024-03-01 10:12:00 UTC */
#define T0 INT64_C(1709287920)

static bool safe(const char *s)
{
	if (!s || !*s || s[0] == '.' || strlen(s) > MIME_HEADLINE_MAX || !valid_utf8(s))
		return false;
	for (; *s; s++)
		if (*s == '/' || (unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static void headline(int line, const char *header, int64_t internaldate, const char *want)
{
	char *got = mime_headline(header, strlen(header), internaldate);

	check(got && !strcmp(got, want) && safe(got), line, "mime_headline(\"%s\") = \"%s\", want \"%s\"",
	      show0(header), show0(got), want);
	free(got);
}

static void test_headlines(void)
{
	headline(__LINE__,
		 "Date: Fri, 1 Mar 2024 11:12:33 +0100\r\n"
		 "From: \"Alice Example\" <alice@example.org>\r\nSubject: Invoice March\r\n\r\n",
		 0, "2024-03-01 10.12 Alice Example - Invoice March");
	/* No Date: INTERNALDATE; no From, no Subject. */
	headline(__LINE__, "X-Other: 1\r\n\r\n", T0, "2024-03-01 10.12 (no sender) - (no subject)");
	/* An address only; a name in a comment; a bare name before <>. */
	headline(__LINE__, "From: bob@example.org\r\nSubject: Hi\r\n", T0,
		 "2024-03-01 10.12 bob@example.org - Hi");
	headline(__LINE__, "From: bob@example.org (Bob Builder)\r\nSubject: Hi\r\n", T0,
		 "2024-03-01 10.12 Bob Builder - Hi");
	headline(__LINE__, "From: Carol Q <carol@example.org>, dave@example.org\r\nSubject: x\r\n", T0,
		 "2024-03-01 10.12 Carol Q - x");
	headline(__LINE__, "From: <erin@example.org>\r\nSubject: x\r\n", T0,
		 "2024-03-01 10.12 erin@example.org - x");
	/* RFC 2047 in several charsets, folded. */
	headline(__LINE__,
		 "From: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <j@example.de>\r\n"
		 "Subject: =?UTF-8?B?0J/RgNC40LLQtdGC?=\r\n =?koi8-r?B?INPXxdQ=?=\r\n",
		 T0, "2024-03-01 10.12 J\xc3\xb6rg M\xc3\xbcller - \xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2"
		     "\xd0\xb5\xd1\x82 \xd1\x81\xd0\xb2\xd0\xb5\xd1\x82");
	headline(__LINE__, "From: \"=?utf-8?q?Zo=C3=AB?=\" <z@example.org>\r\nSubject: =?gb2312?B?xOO6ww==?=\r\n",
		 T0, "2024-03-01 10.12 Zo\xc3\xab - \xe4\xbd\xa0\xe5\xa5\xbd");
	/* Slashes, control characters and runs of blanks; empty and blank subjects. */
	headline(__LINE__, "From: A/B <a@b>\r\nSubject: Q1/Q2\treport \x01 now  \r\n", T0,
		 "2024-03-01 10.12 A_B - Q1_Q2 report now");
	headline(__LINE__, "From: a@b\r\nSubject:\r\n", T0, "2024-03-01 10.12 a@b - (no subject)");
	headline(__LINE__, "From: a@b\r\nSubject:    \r\n", T0, "2024-03-01 10.12 a@b - (no subject)");
	headline(__LINE__, "From: \"  \" <>\r\nSubject: \x01\x02\r\n", T0,
		 "2024-03-01 10.12 (no sender) - (no subject)");
	/* An address without its closing '>', behind a blank name: the address, nothing past it. */
	headline(__LINE__, "From: \"\" <erin@example.org\r\nSubject: x\r\n", T0,
		 "2024-03-01 10.12 erin@example.org - x");
	/* Direction overrides and zero-width characters show as nothing: blanks. */
	headline(__LINE__, "From: a@b\r\nSubject: =?UTF-8?Q?invoice=E2=80=AEfdp.exe=E2=80=8B?=\r\n",
		 T0, "2024-03-01 10.12 a@b - invoice fdp.exe");
	/* A Date that does not parse falls back; zones are applied. */
	headline(__LINE__, "Date: yesterday\r\nFrom: a@b\r\nSubject: s\r\n", T0,
		 "2024-03-01 10.12 a@b - s");
	headline(__LINE__, "Date: 29 Feb 24 23:30 PST\r\nFrom: a@b\r\nSubject: s\r\n", 0,
		 "2024-03-01 07.30 a@b - s");
	headline(__LINE__, "Date: Thu, 01 Jan 1970 00:00:00 (comment) -0000 (UTC)\r\nSubject: s\r\n", T0,
		 "1970-01-01 00.00 (no sender) - s");
}

static void test_long(void)
{
	char header[4096], *got;
	size_t n;

	/* 1,000 characters of subject, some of them two bytes long. */
	n = (size_t)snprintf(header, sizeof(header), "From: a@b\r\nSubject: ");
	for (int i = 0; i < 500; i++)
		n += (size_t)snprintf(header + n, sizeof(header) - n, "x\xc3\xa9");
	snprintf(header + n, sizeof(header) - n, "\r\n");
	got = mime_headline(header, strlen(header), T0);
	CHECK(safe(got) && strlen(got) > MIME_HEADLINE_MAX - 4, "long subject: %zu bytes",
	      got ? strlen(got) : 0);
	free(got);
	/* A sender as long keeps room for the subject. */
	n = (size_t)snprintf(header, sizeof(header), "From: ");
	for (int i = 0; i < 300; i++)
		n += (size_t)snprintf(header + n, sizeof(header) - n, "Long");
	snprintf(header + n, sizeof(header) - n, " <a@b>\r\nSubject: the subject\r\n");
	got = mime_headline(header, strlen(header), T0);
	CHECK(safe(got) && strstr(got, " - the subject"), "long sender: \"%s\"", show0(got));
	free(got);
}

static void date(int line, const char *s, int64_t want)
{
	int64_t got = -1;
	int r = mime_date_parse(s, &got);

	check(want < 0 ? r < 0 : r == 0 && got == want, line, "mime_date_parse(\"%s\") = %d, %lld",
	      s, r, (long long)got);
}

static void test_dates(void)
{
	date(__LINE__, "Fri, 1 Mar 2024 11:12:00 +0100", T0);
	date(__LINE__, "1 Mar 2024 10:12 GMT", T0);
	date(__LINE__, "Friday, 01 March 2024 05:12:00 EST", T0);
	date(__LINE__, "Fri, 1 Mar 2024 10:12:00 +0000 (UTC)", T0);
	date(__LINE__, "31 Feb 2024 10:12 GMT", -1);
	date(__LINE__, "29 Feb 2023 10:12 GMT", -1);
	date(__LINE__, "29 Feb 2000 00:00 GMT", INT64_C(951782400));
	date(__LINE__, "1 Mar 2024 25:12 GMT", -1);
	date(__LINE__, "Mar 1 2024", -1);
	date(__LINE__, "", -1);
	date(__LINE__, "(((", -1);
}

/* A blank display name as long as a header may be, and no '>': nothing read past it. */
static void test_long_blank_name(void)
{
	size_t n = 100000;
	char *h = malloc(n + 64), *got;

	if (!h)
		return;
	memcpy(h, "From: \"", 7);
	memset(h + 7, ' ', n);
	strcpy(h + 7 + n, "\" <a@b");
	got = mime_headline(h, strlen(h), T0);
	CHECK(got && strcmp(got, "2024-03-01 10.12 a@b - (no subject)") == 0, "\"%s\"",
	      show0(got));
	free(got);
	free(h);
}

int main(void)
{
	test_headlines();
	test_long_blank_name();
	test_long();
	test_dates();
	return check_summary();
}
