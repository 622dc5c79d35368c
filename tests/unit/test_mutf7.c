/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for modified UTF-7 (src/imap/mutf7.c). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/mutf7.h"

#include "check.h"

static void decodes_to(int line, const char *in, const char *want)
{
	char *got = mutf7_to_utf8(in, strlen(in));

	check(got && !strcmp(got, want), line, "mutf7_to_utf8(\"%s\") = \"%s\", want \"%s\"",
	      show(in, strlen(in)), show(got, got ? strlen(got) : 0),
	      show(want, strlen(want)));
	free(got);
}

static void encodes_to(int line, const char *in, const char *want)
{
	char *got = utf8_to_mutf7(in, strlen(in));

	check(got && !strcmp(got, want), line, "utf8_to_mutf7(\"%s\") = \"%s\", want \"%s\"",
	      show(in, strlen(in)), show(got, got ? strlen(got) : 0), want);
	free(got);
}

/* Both directions. */
static void pair(int line, const char *mutf7, const char *utf8)
{
	decodes_to(line, mutf7, utf8);
	encodes_to(line, utf8, mutf7);
}

static void bad_mutf7(int line, const char *in, size_t len)
{
	char *got;

	errno = 0;
	got = mutf7_to_utf8(in, len);
	check(!got && errno == EINVAL, line, "mutf7_to_utf8(\"%s\") = \"%s\" errno %d, want EINVAL",
	      show(in, len), show(got, got ? strlen(got) : 0), errno);
	free(got);
}

static void bad_utf8(int line, const char *in, size_t len)
{
	char *got;

	errno = 0;
	got = utf8_to_mutf7(in, len);
	check(!got && errno == EINVAL, line, "utf8_to_mutf7(\"%s\") = \"%s\" errno %d, want EINVAL",
	      show(in, len), show(got, got ? strlen(got) : 0), errno);
	free(got);
}

/*
 * "&" + base64 of raw UTF-16 units + "-", built independently of the code
 * under test, to make shifts the encoder would never produce.
 */
static char *shift_of(const uint16_t *units, size_t n)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
	static char buf[128];
	uint32_t bits = 0;
	unsigned nbits = 0;
	size_t i, o = 0;

	buf[o++] = '&';
	for (i = 0; i < n; i++) {
		bits = bits << 16 | units[i];
		nbits += 16;
		while (nbits >= 6) {
			nbits -= 6;
			buf[o++] = b64[bits >> nbits & 63];
		}
		bits &= (1u << nbits) - 1;
	}
	if (nbits)
		buf[o++] = b64[bits << (6 - nbits) & 63];
	buf[o++] = '-';
	buf[o] = '\0';
	return buf;
}

#define SHIFT(...) shift_of((const uint16_t[]){ __VA_ARGS__ }, \
	sizeof((const uint16_t[]){ __VA_ARGS__ }) / sizeof(uint16_t))

static void test_rfc_examples(void)
{
	pair(__LINE__, "~peter/mail/&U,BTFw-/&ZeVnLIqe-",
	     "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
	pair(__LINE__, "Entw&APw-rfe", "Entw\xc3\xbc" "rfe");
	pair(__LINE__, "&-", "&");
	pair(__LINE__, "a b", "a b");
	pair(__LINE__, "", "");
	pair(__LINE__, "INBOX", "INBOX");
	pair(__LINE__, "&ZeVnLIqe-", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
	/* U+1F600 and U+1F4E7: surrogate pairs */
	pair(__LINE__, "&2D3eAA-", "\xf0\x9f\x98\x80");
	pair(__LINE__, "Mail &2D3c5w- box", "Mail \xf0\x9f\x93\xa7 box");
	pair(__LINE__, "&2D3eANg93OY-", "\xf0\x9f\x98\x80\xf0\x9f\x93\xa6");
	/* U+10FFFF, the last code point */
	pair(__LINE__, "&2,,f,w-", "\xf4\x8f\xbf\xbf");
	pair(__LINE__, "&-&-", "&&");
	pair(__LINE__, "&AOk-&-", "\xc3\xa9&");
	pair(__LINE__, "&-&AOk-", "&\xc3\xa9");
	pair(__LINE__, "&AOk-&-&AOk-", "\xc3\xa9&\xc3\xa9");
	/* controls and DEL must be shifted */
	pair(__LINE__, "a&AAk-b", "a\tb");
	pair(__LINE__, "&AH8-", "\x7f");
	pair(__LINE__, "&AA0ACg-", "\r\n");
	/* every ASCII character that represents itself */
	pair(__LINE__, " !\"#$%'()*+,-./0123456789:;<=>?@[\\]^_`{|}~",
	     " !\"#$%'()*+,-./0123456789:;<=>?@[\\]^_`{|}~");
	/* '-' right after a shift is a plain character again */
	pair(__LINE__, "&AOk--", "\xc3\xa9-");
	/* U+0080, U+07FF, U+0800, U+FFFD, U+FFFF: UTF-8 length boundaries */
	pair(__LINE__, "&AIAH,wgA,,3,,w-",
	     "\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbd\xef\xbf\xbf");
}

static void test_invalid_mutf7(void)
{
	static const char *const cases[] = {
		"&",          /* unterminated */
		"a&",
		"&AOk",
		"&U,BTFw",
		"&A-",        /* 6 bits: no unit at all */
		"&AO-",       /* 12 bits */
		"&AOkA-",     /* a superfluous base64 character */
		"&AOkAAA-",
		"&AOl-",      /* non-zero padding bits */
		"&AOn-",
		"&AGE-",      /* 'a' shifted */
		"&ACY-",      /* '&' shifted */
		"&ACA-",      /* SP shifted */
		"&AH4-",      /* '~' shifted */
		"&AOkAYQ-",   /* 'a' shifted after a non-ASCII character */
		"&AOk-&AOk-", /* two shifts that should have been one */
		"a&AOk-&AOk-b",
		"&AOk*-",     /* not modified base64 */
		"&AO/-",      /* '/' is standard base64, not modified */
		"&AOk=-",
		"&AO k-",
		"&AAA-",      /* NUL shifted */
		"&AOkAAA-",
		"&2D0-",      /* a lone high surrogate */
		"&3gA-",      /* a lone low surrogate */
		"&2D3eAA",    /* unterminated pair */
	};
	static const uint16_t lone_high[] = { 0x00e9, 0xd83d };
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		bad_mutf7(__LINE__, cases[i], strlen(cases[i]));

	/* surrogate misuse, built unit by unit */
	bad_mutf7(__LINE__, SHIFT(0xd83d), 5);
	bad_mutf7(__LINE__, SHIFT(0xde00), 5);
	bad_mutf7(__LINE__, SHIFT(0xd83d, 0x00e9), strlen(SHIFT(0xd83d, 0x00e9)));
	bad_mutf7(__LINE__, SHIFT(0xde00, 0xd83d), strlen(SHIFT(0xde00, 0xd83d)));
	bad_mutf7(__LINE__, SHIFT(0xd83d, 0xd83d, 0xde00),
		  strlen(SHIFT(0xd83d, 0xd83d, 0xde00)));
	bad_mutf7(__LINE__, shift_of(lone_high, 2), strlen(shift_of(lone_high, 2)));
	/* a pair split over two shifts (also back to back) */
	{
		char split[64];

		snprintf(split, sizeof(split), "%s", SHIFT(0xd83d));
		strcat(split, SHIFT(0xde00));
		bad_mutf7(__LINE__, split, strlen(split));
	}
	/* printable units shifted, one by one */
	for (i = 0x20; i <= 0x7e; i++) {
		const char *s = SHIFT((uint16_t)i);

		bad_mutf7(__LINE__, s, strlen(s));
	}
	/* the builder agrees with the decoder on valid input */
	decodes_to(__LINE__, SHIFT(0x00e9), "\xc3\xa9");
	decodes_to(__LINE__, SHIFT(0xd83d, 0xde00), "\xf0\x9f\x98\x80");

	/* bytes that may never appear unshifted */
	bad_mutf7(__LINE__, "a\0b", 3);
	bad_mutf7(__LINE__, "\0", 1);
	bad_mutf7(__LINE__, "caf\xc3\xa9", 5);
	bad_mutf7(__LINE__, "\x80", 1);
	bad_mutf7(__LINE__, "\xff", 1);
	bad_mutf7(__LINE__, "a\tb", 3);
	bad_mutf7(__LINE__, "a\r\nb", 4);
	bad_mutf7(__LINE__, "\x7f", 1);
	bad_mutf7(__LINE__, "&AOk\xc3\xa9-", 7);
	/* len is honoured: the '-' is past it */
	bad_mutf7(__LINE__, "&AOk-", 4);
	decodes_to(__LINE__, "ab", "ab");
	{
		char *got = mutf7_to_utf8("&-xyz", 2);

		CHECK(got && !strcmp(got, "&"), "mutf7_to_utf8(\"&-\", 2) = %s", show(got, got ? strlen(got) : 0));
		free(got);
	}
}

static void test_invalid_utf8(void)
{
	static const struct {
		const char *s;
		size_t len;
	} cases[] = {
		{ "a\0b", 3 },                   /* NUL */
		{ "\0", 1 },
		{ "\x80", 1 },                   /* lone continuation */
		{ "a\xbf", 2 },
		{ "\xc3", 1 },                   /* truncated */
		{ "\xe6\x97", 2 },
		{ "\xf0\x9f\x98", 3 },
		{ "\xc3\x28", 2 },               /* bad continuation */
		{ "\xe6\x28\xa5", 3 },
		{ "\xf0\x9f\x28\x80", 4 },
		{ "\xc0\xaf", 2 },               /* overlong '/' */
		{ "\xc1\xbf", 2 },
		{ "\xe0\x80\xaf", 3 },
		{ "\xe0\x9f\xbf", 3 },
		{ "\xf0\x80\x80\xaf", 4 },
		{ "\xf0\x8f\xbf\xbf", 4 },
		{ "\xc0\x80", 2 },               /* overlong NUL */
		{ "\xed\xa0\x80", 3 },           /* UTF-16 surrogates */
		{ "\xed\xbf\xbf", 3 },
		{ "\xed\xa0\xbd\xed\xb8\x80", 6 }, /* CESU-8 pair */
		{ "\xf4\x90\x80\x80", 4 },       /* above U+10FFFF */
		{ "\xf5\x80\x80\x80", 4 },
		{ "\xf8\x88\x80\x80\x80", 5 },   /* 5- and 6-byte forms */
		{ "\xfc\x84\x80\x80\x80\x80", 6 },
		{ "\xfe", 1 },
		{ "\xff", 1 },
		{ "caf\xe9", 4 },                /* Latin-1 */
		{ "\xc3\xa9\xc3", 3 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		bad_utf8(__LINE__, cases[i].s, cases[i].len);
	/* len is honoured: a sequence cut by it is truncated */
	bad_utf8(__LINE__, "\xc3\xa9", 1);
	{
		char *got = utf8_to_mutf7("\xc3\xa9\xc3\xa9", 2);

		CHECK(got && !strcmp(got, "&AOk-"), "utf8_to_mutf7(len 2) = %s", show(got, got ? strlen(got) : 0));
		free(got);
	}
	/* boundaries that are valid */
	encodes_to(__LINE__, "\xed\x9f\xbf", "&1,8-");       /* U+D7FF */
	encodes_to(__LINE__, "\xee\x80\x80", "&4AA-");       /* U+E000 */
	encodes_to(__LINE__, "\xf0\x90\x80\x80", "&2ADcAA-"); /* U+10000 */
}

static void test_table_round_trip(void)
{
	static const char *const names[] = {
		"INBOX", "Sent", "Drafts", "Trash", "Junk E-mail",
		"[Gmail]/All Mail", "Entw\xc3\xbcrfe", "Gel\xc3\xb6schte Elemente",
		"\xd0\x92\xd1\x85\xd0\xbe\xd0\xb4\xd1\x8f\xd1\x89\xd0\xb8\xd0\xb5",
		"\xe5\x8f\x97\xe4\xbf\xa1\xe7\xae\xb1",
		"\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d",
		"\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7",
		"\xf0\x9f\x93\xa7 mail \xf0\x9f\x93\xa6",
		"Tom & Jerry", "&&&", "a&b&c", "&", "-", "&-", "--&--",
		"100% done", "a~b", "x\xc3\xa9y\xc3\xa9z", "\xc3\xa9\xc3\xa9\xc3\xa9",
		"\xc3\xa9-\xc3\xa9", "\t", "a\x01\x02\x03" "b", "\x7f\xc2\x80",
		"caf\xc3\xa9 cr\xc3\xa8me br\xc3\xbbl\xc3\xa9" "e",
		"\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac",
		"\xef\xbb\xbf" "BOM", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf",
		"a\xf0\x9f\x98\x80" "b\xf0\x9f\x98\x80" "c",
		"\xf0\x9f\x98\x80\xc3\xa9\xf0\x9f\x98\x80",
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *enc = utf8_to_mutf7(names[i], strlen(names[i]));
		char *dec = enc ? mutf7_to_utf8(enc, strlen(enc)) : NULL;

		CHECK(dec && !strcmp(dec, names[i]), "round trip \"%s\" -> \"%s\" -> \"%s\"",
		      show(names[i], strlen(names[i])), show(enc, enc ? strlen(enc) : 0),
		      show(dec, dec ? strlen(dec) : 0));
		free(enc);
		free(dec);
	}
}

/* A random scalar value, biased to the classes that matter here. */
static uint32_t random_code_point(void)
{
	uint32_t cp;

	switch (rng32() % 8) {
	case 0:
		return '&';
	case 1:
	case 2:
		return 0x20 + rng32() % 0x5f;
	case 3:
		return 1 + rng32() % 0x1f;           /* controls, never NUL */
	case 4:
		return 0x7f + rng32() % 0x781;       /* DEL and 2-byte UTF-8 */
	case 5:
		do
			cp = 0x800 + rng32() % 0xf800;
		while (cp >= 0xd800 && cp <= 0xdfff);
		return cp;
	default:
		return 0x10000 + rng32() % 0x100000;
	}
}

static size_t put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static bool all_printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

static void test_random_round_trip(void)
{
	unsigned i, bad = 0;

	for (i = 0; i < 10000; i++) {
		char utf8[40 * 4 + 1], *enc, *dec;
		size_t len = 0, n = rng32() % 40, k;

		for (k = 0; k < n; k++)
			len += put_utf8(utf8 + len, random_code_point());
		utf8[len] = '\0';
		enc = utf8_to_mutf7(utf8, len);
		dec = enc ? mutf7_to_utf8(enc, strlen(enc)) : NULL;
		if (!dec || strcmp(dec, utf8) || !all_printable(enc)) {
			if (bad++ < 10)
				CHECK(false, "random round trip \"%s\" -> \"%s\" -> \"%s\"",
				      show(utf8, len), show(enc, enc ? strlen(enc) : 0),
				      show(dec, dec ? strlen(dec) : 0));
		}
		free(enc);
		free(dec);
	}
	CHECK(bad == 0, "%u of 10000 random strings did not round-trip", bad);
}

/*
 * Random mUTF-7-ish bytes: whatever decodes must re-encode to exactly the
 * same bytes, i.e. the decoder accepts only the encoder's spelling.
 */
static void test_random_canonical(void)
{
	static const char alphabet[] = "&&&&----AAAOkU,BTFw2D3eZ+a ~\t\xc3";
	unsigned i, accepted = 0, bad = 0;

	for (i = 0; i < 200000; i++) {
		char in[16], *dec, *enc;
		size_t n = 1 + rng32() % sizeof(in), k;

		for (k = 0; k < n; k++)
			in[k] = alphabet[rng32() % (sizeof(alphabet) - 1)];
		dec = mutf7_to_utf8(in, n);
		if (!dec)
			continue;
		accepted++;
		enc = utf8_to_mutf7(dec, strlen(dec));
		if (!enc || strlen(enc) != n || memcmp(enc, in, n)) {
			if (bad++ < 10)
				CHECK(false, "\"%s\" decodes but re-encodes as \"%s\"",
				      show(in, n), show(enc, enc ? strlen(enc) : 0));
		}
		free(enc);
		free(dec);
	}
	CHECK(bad == 0, "%u accepted inputs were not canonical", bad);
	CHECK(accepted > 1000, "only %u random inputs decoded", accepted);
}

int main(void)
{
	test_rfc_examples();
	test_invalid_mutf7();
	test_invalid_utf8();
	test_table_round_trip();
	test_random_round_trip();
	test_random_canonical();
	return check_summary();
}
