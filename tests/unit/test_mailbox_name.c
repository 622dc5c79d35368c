/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for mailbox levels <-> path components (src/imap/mailbox_name.c). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/mailbox_name.h"
#include "imap/mutf7.h"

#include "check.h"

/* A wire level, its component, and a delimiter it is valid under. */
static const struct {
	const char *wire;
	size_t len;
	const char *component;
	char delim;
} table[] = {
#define W(w, c, d) { w, sizeof(w) - 1, c, d }
	W("INBOX", "INBOX", '/'),
	W("Entw&APw-rfe", "Entw\xc3\xbcrfe", '/'),
	W("&ZeVnLIqe-", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", '.'),
	W("&U,BTFw-", "\xe5\x8f\xb0\xe5\x8c\x97", '/'),
	W("a b", "a b", '/'),
	W(".", "%2E", '/'),
	W("..", "%2E%2E", '/'),
	W("...", "...", '/'),
	W(".a", ".a", '/'),
	W("a.", "a.", '/'),
	W("%", "%25", '/'),
	W("100%", "100%25", '.'),
	W("%25", "%2525", '.'),
	W("a/b", "a%2Fb", '.'),
	W("/", "%2F", 0),
	W("a.b", "a.b", '/'),
	W("a.b/c", "a.b%2Fc", 0),
	W("&-", "&", '/'),
	W("Tom &- Jerry", "Tom & Jerry", '/'),
	W("&AAk-", "%09", '/'),
	W("a&AA0ACg-b", "a%0D%0Ab", '/'),
	W("&AH8-", "%7F", '/'),
	W("&AB8-x", "%1Fx", '/'),
	W("&AIA-", "\xc2\x80", '/'),
	W("&2D3eAA-", "\xf0\x9f\x98\x80", '/'),
	W("[Gmail]", "[Gmail]", '/'),
	W("~user", "~user", '/'),
	W("\\", "\\", '/'),
	W(":*?\"<>|", ":*?\"<>|", '/'),
	W("", "%%", '/'),
	/* invalid modified UTF-7: raw bytes, '&' escaped */
	W("&Jjo", "%26Jjo", '/'),
	W("&AGE-", "%26AGE-", '/'),
	W("&AOk-&AOk-", "%26AOk-%26AOk-", '/'),
	W("&", "%26", '/'),
	W("a&b", "a%26b", '/'),
	W("&Jjo/x", "%26Jjo%2Fx", '.'),
	W("&Jjo%", "%26Jjo%25", '/'),
	W("&Jjo\x01", "%26Jjo%01", '/'),
	W("&Jjo\x7f", "%26Jjo%7F", '/'),
	W("&Jjo.", "%26Jjo.", '/'),
	/* invalid because 8-bit: those bytes are escaped as well */
	W("caf\xc3\xa9", "caf%C3%A9", '/'),
	W("caf\xe9", "caf%E9", '/'),
	W("\xff", "%FF", '/'),
	W("&Jjo\xc3\xa9", "%26Jjo%C3%A9", '/'),
#undef W
};

static void test_from_wire(void)
{
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		char *got = mailbox_component_from_wire(table[i].wire, table[i].len);

		CHECK(got && !strcmp(got, table[i].component),
		      "from_wire(\"%s\") = \"%s\", want \"%s\"",
		      show(table[i].wire, table[i].len), show0(got),
		      show0(table[i].component));
		free(got);
	}
	/* len is honoured */
	{
		char *got = mailbox_component_from_wire("a/bcd", 3);

		CHECK(got && !strcmp(got, "a%2Fb"), "from_wire(len 3) = %s", show0(got));
		free(got);
	}
}

static void test_round_trip(void)
{
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		char *comp = mailbox_component_from_wire(table[i].wire, table[i].len);
		char *wire = comp ? mailbox_component_to_wire(comp, table[i].delim) : NULL;

		CHECK(wire && strlen(wire) == table[i].len &&
		      !memcmp(wire, table[i].wire, table[i].len),
		      "\"%s\" -> \"%s\" -> \"%s\" (delim '%c', errno %d)",
		      show(table[i].wire, table[i].len), show0(comp), show0(wire),
		      table[i].delim ? table[i].delim : '0', wire ? 0 : errno);
		free(comp);
		free(wire);
	}
}

static void to_wire(int line, const char *comp, char delim, const char *want)
{
	char *got = mailbox_component_to_wire(comp, delim);

	check(got && !strcmp(got, want), line, "to_wire(\"%s\", '%c') = \"%s\" (errno %d), want \"%s\"",
	      show0(comp), delim ? delim : '0', show0(got), got ? 0 : errno, want);
	free(got);
}

static void to_wire_bad(int line, const char *comp, char delim)
{
	char *got;

	errno = 0;
	got = mailbox_component_to_wire(comp, delim);
	check(!got && errno == EINVAL, line, "to_wire(\"%s\", '%c') = \"%s\" (errno %d), want EINVAL",
	      show0(comp), delim ? delim : '0', show0(got), errno);
	free(got);
}

static void test_to_wire(void)
{
	/* what a user would type */
	to_wire(__LINE__, "Entw\xc3\xbcrfe", '/', "Entw&APw-rfe");
	to_wire(__LINE__, "Tom & Jerry", '.', "Tom &- Jerry");
	to_wire(__LINE__, "a b", 0, "a b");
	to_wire(__LINE__, "a.b", '/', "a.b");
	to_wire(__LINE__, "a.b", 0, "a.b");
	to_wire(__LINE__, "a%2Fb", '.', "a/b");
	to_wire(__LINE__, "a%2Fb", 0, "a/b");
	to_wire(__LINE__, "%2E", '/', ".");
	to_wire(__LINE__, "%2E%2E", '/', "..");
	to_wire(__LINE__, "100%25", '/', "100%");
	to_wire(__LINE__, "%%", '/', "");
	to_wire(__LINE__, "%26Jjo", '/', "&Jjo");
	to_wire(__LINE__, "caf%C3%A9", '/', "caf\xc3\xa9");
	to_wire(__LINE__, "%0D", '/', "&AA0-");
	to_wire(__LINE__, "\xf0\x9f\x98\x80", '/', "&2D3eAA-");

	/* not components at all */
	to_wire_bad(__LINE__, "", '/');
	to_wire_bad(__LINE__, ".", '/');
	to_wire_bad(__LINE__, "..", '/');
	to_wire_bad(__LINE__, ".", 0);
	/* the delimiter cannot be inside a level */
	to_wire_bad(__LINE__, "a.b", '.');
	to_wire_bad(__LINE__, "a%2Fb", '/');
	to_wire_bad(__LINE__, "%2E", '.');
	to_wire_bad(__LINE__, "%26Jjo.", '.');
	to_wire_bad(__LINE__, "%26Jjo%2F", '/');
	/* malformed escapes */
	to_wire_bad(__LINE__, "%", '/');
	to_wire_bad(__LINE__, "a%", '/');
	to_wire_bad(__LINE__, "%2", '/');
	to_wire_bad(__LINE__, "%zz", '/');
	to_wire_bad(__LINE__, "%G0", '/');
	to_wire_bad(__LINE__, "%%x", '/');
	to_wire_bad(__LINE__, "x%%", '/');
	to_wire_bad(__LINE__, "%%%%", '/');
	to_wire_bad(__LINE__, "50%off", '/');
	/* escapes from_wire would not write: second names for one mailbox */
	to_wire_bad(__LINE__, "%2f", '.');
	to_wire_bad(__LINE__, "%41", '/');
	to_wire_bad(__LINE__, "a%2Eb", '/');
	to_wire_bad(__LINE__, "%2E.", '/');
	to_wire_bad(__LINE__, "%26-", '/');       /* "&-" is valid: its name is "&" */
	to_wire_bad(__LINE__, "%26AOk-", '/');    /* valid: its name is U+00E9 */
	to_wire_bad(__LINE__, "%C3%A9&", '/');    /* a raw level has '&' escaped too */
	/* raw controls must be escaped; '/' cannot come raw */
	to_wire_bad(__LINE__, "a\tb", '/');
	to_wire_bad(__LINE__, "a\x7f", '/');
	to_wire_bad(__LINE__, "a/b", '.');
	/* NUL, CR and LF never go out */
	to_wire_bad(__LINE__, "%00", '/');
	to_wire_bad(__LINE__, "a%00b", 0);
	to_wire_bad(__LINE__, "%26Jjo%00", '/');
	to_wire_bad(__LINE__, "%26Jjo%0D", '/');
	to_wire_bad(__LINE__, "%26Jjo%0A", '/');
	/* invalid UTF-8 */
	to_wire_bad(__LINE__, "caf\xe9", '/');
	to_wire_bad(__LINE__, "\xc0\xaf", '/');
	to_wire_bad(__LINE__, "\xed\xa0\x80", '/');
	to_wire_bad(__LINE__, "%2E%2E", '.');

	/* raw 8-bit bytes are a broken server's name, kept byte for byte */
	to_wire(__LINE__, "%C3%A9", '/', "\xc3\xa9");
	to_wire(__LINE__, "%ED%A0%80", '/', "\xed\xa0\x80");
	to_wire(__LINE__, "%26Jjo%09", '/', "&Jjo\t");
}

/*
 * Random wire levels must round-trip, except the documented ones: raw levels
 * holding NUL, CR, LF or the delimiter, and levels whose only fault is a raw
 * control character.
 */
static void test_random_wire(void)
{
	static const char alphabet[] = "&&&---AOkU,BTFw2D3eAA%./ a\t\r\xc3\xa9\xff";
	unsigned i, bad = 0, raw = 0;

	for (i = 0; i < 100000; i++) {
		char in[12], *comp, *wire, *utf8;
		size_t n = rng32() % sizeof(in), k;
		bool invalid, excused;

		for (k = 0; k < n; k++)
			in[k] = alphabet[rng32() % (sizeof(alphabet) - 1)];
		utf8 = mutf7_to_utf8(in, n);
		invalid = !utf8;
		free(utf8);
		raw += invalid;

		comp = mailbox_component_from_wire(in, n);
		if (!comp) {
			CHECK(false, "from_wire(\"%s\") failed", show(in, n));
			continue;
		}
		wire = mailbox_component_to_wire(comp, '.');
		excused = memchr(in, '.', n) ||
			  (invalid && (memchr(in, '\r', n) ||
				       (!memchr(in, '&', n) && !memchr(in, '\xc3', n) &&
					!memchr(in, '\xa9', n) && !memchr(in, '\xff', n))));
		if (!excused && (!wire || strlen(wire) != n || memcmp(wire, in, n))) {
			if (bad++ < 10)
				CHECK(false, "\"%s\" -> \"%s\" -> \"%s\"", show(in, n),
				      show0(comp), show0(wire));
		}
		if (excused && wire && (strlen(wire) != n || memcmp(wire, in, n)))
			CHECK(!memchr(wire, '\r', strlen(wire)) && !memchr(wire, '.', strlen(wire)),
			      "excused \"%s\" gave unsafe \"%s\"", show(in, n), show0(wire));
		free(comp);
		free(wire);
	}
	CHECK(bad == 0, "%u random wire levels did not round-trip", bad);
	CHECK(raw > 1000 && raw < 99000, "%u of 100000 random levels were raw", raw);
}

/* Whatever component to_wire() accepts, from_wire() gives back unchanged. */
static void test_random_component(void)
{
	static const char alphabet[] = "%%%%%%0123456789ABCDEFaf&./ -\xc3\xa9";
	unsigned i, accepted = 0, bad = 0;

	for (i = 0; i < 200000; i++) {
		char in[10], *wire, *comp;
		size_t n = 1 + rng32() % (sizeof(in) - 1), k;

		for (k = 0; k < n; k++)
			in[k] = alphabet[rng32() % (sizeof(alphabet) - 1)];
		in[n] = '\0';
		wire = mailbox_component_to_wire(in, '/');
		if (!wire)
			continue;
		accepted++;
		comp = mailbox_component_from_wire(wire, strlen(wire));
		if (!comp || strcmp(comp, in) || strchr(wire, '/')) {
			if (bad++ < 10)
				CHECK(false, "\"%s\" -> \"%s\" -> \"%s\"", show0(in),
				      show0(wire), show0(comp));
		}
		free(comp);
		free(wire);
	}
	CHECK(bad == 0, "%u accepted components did not come back", bad);
	CHECK(accepted > 1000, "only %u random components accepted", accepted);
}

int main(void)
{
	/* The sequence this test's random levels were always drawn from. */
	rng32_state = 88172645u;
	test_from_wire();
	test_round_trip();
	test_to_wire();
	test_random_wire();
	test_random_component();
	/* The search directory's name: a mailbox of that name is reached escaped. */
	{
		char *c = mailbox_component_from_wire(".search", 7), *w;

		CHECK_STR(c, "%2Esearch");
		w = mailbox_component_to_wire("%2Esearch", '/');
		CHECK_STR(w, ".search");
		free(w);
		free(c);
		CHECK_THAT(mailbox_component_to_wire(".search", '/') == NULL);
		c = mailbox_component_from_wire(".searches", 9);
		CHECK_STR(c, ".searches");
		free(c);
	}
	return check_summary();
}
