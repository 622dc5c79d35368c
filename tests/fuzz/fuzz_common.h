/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared helpers of the libFuzzer harnesses under tests/fuzz/ (built by meson
 * with -Dfuzz=true, see tests/fuzz/meson.build; tests/fuzz/run runs them).
 *
 * FUZZ_CHECK() states a property the code under test promises in its header;
 * when it fails the harness prints what and where and aborts, so libFuzzer
 * keeps the input as a crash reproducer.
 */
#ifndef IMAPFS_FUZZ_COMMON_H
#define IMAPFS_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond, ...)                                                        \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "\nFUZZ PROPERTY FAILED at %s:%d: %s\n  ",   \
				__FILE__, __LINE__, #cond);                          \
			fprintf(stderr, __VA_ARGS__);                                \
			fprintf(stderr, "\n");                                       \
			abort();                                                     \
		}                                                                    \
	} while (0)

/* Length of the RFC 3629 well-formed sequence at s (no overlongs, no
 * surrogates, nothing past U+10FFFF), or 0 if there is none. */
static inline size_t fuzz_utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t need;

	if (!n)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 1;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		need = 2;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		need = 3;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (n < need + 1 || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i <= need; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return need + 1;
}

static inline bool fuzz_utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;

	for (size_t i = 0; i < n;) {
		size_t k = fuzz_utf8_seq(s + i, n - i);

		if (!k)
			return false;
		i += k;
	}
	return true;
}

/* A short printable rendering of bytes for failure messages (static buffer). */
static inline const char *fuzz_show(const char *s, size_t n)
{
	static char buf[4][512];
	static unsigned which;
	char *b = buf[which++ % 4], *o = b;

	if (!s)
		return "(null)";
	for (size_t i = 0; i < n && o < b + sizeof(buf[0]) - 8; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			*o++ = (char)c;
		else
			o += sprintf(o, "\\x%02x", c);
	}
	*o = '\0';
	return b;
}

/* A NUL-terminated copy of n bytes (aborts on ENOMEM: not a finding). */
static inline char *fuzz_strndup(const uint8_t *data, size_t n)
{
	char *s = malloc(n + 1);

	if (!s)
		abort();
	memcpy(s, data, n);
	s[n] = '\0';
	return s;
}

#endif
