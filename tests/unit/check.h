/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The unit tests' checks and shared helpers.
 *
 * CHECK(cond, fmt, ...) counts a pass or prints the failure with its line;
 * CHECK_THAT(cond) prints the condition itself; CHECK_STR(got, want) and
 * CHECK_INT(got, want) print both sides. Each returns whether it passed.
 * check_summary() prints the counts and is main's exit status.
 *
 * For one test program: its statics are that program's own. The counts are
 * kept under a lock, so a test's threads may check too; show() and rng() are
 * for one thread.
 */
#ifndef IMAPFS_TEST_CHECK_H
#define IMAPFS_TEST_CHECK_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

static unsigned passed, failed;
static pthread_mutex_t check_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Whether a time limit means anything in this build: sanitizers slow code
 * down 2 to 5 times and valgrind some 50, so limits are set for plain builds
 * and only printed otherwise (a loaded CI machine failed ASan's 2 s bound).
 */
static bool __attribute__((unused)) timing_checked(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return false;
#else
	const char *pre = getenv("LD_PRELOAD");

	return !(pre && (strstr(pre, "vgpreload") || strstr(pre, "valgrind")));
#endif
}

#define CHECK(cond, ...) check((cond), __LINE__, __VA_ARGS__)
#define CHECK_THAT(cond) check((cond), __LINE__, "%s", #cond)
#define CHECK_STR(got, want) check_str((got), (want), #got, __LINE__)
#define CHECK_INT(got, want) check_int((long long)(got), (long long)(want), #got, __LINE__)

static bool __attribute__((format(printf, 3, 4), unused))
check(bool ok, int line, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&check_lock);
	if (ok) {
		passed++;
		pthread_mutex_unlock(&check_lock);
		return true;
	}
	failed++;
	printf("FAIL line %d: ", line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	/* Tests add context on stderr; keep it after the failure it explains. */
	fflush(stdout);
	pthread_mutex_unlock(&check_lock);
	return false;
}

/* Equal strings, or both NULL. */
static bool __attribute__((unused))
check_str(const char *got, const char *want, const char *what, int line)
{
	bool ok = (!got && !want) || (got && want && !strcmp(got, want));

	return check(ok, line, "%s\n  got:  %s\n  want: %s", what, got ? got : "(null)",
		     want ? want : "(null)");
}

static bool __attribute__((unused))
check_int(long long got, long long want, const char *what, int line)
{
	return check(got == want, line, "%s: got %lld, want %lld", what, got, want);
}

static int __attribute__((unused)) check_summary(void)
{
	printf("%u passed, %u failed\n", passed, failed);
	return failed != 0;
}

/*
 * A printable rendering of len bytes for failure messages: bytes outside
 * printable ASCII, and '\', as \xHH; cut at about 2 KiB. Four calls' results
 * are valid at once, so one message may show several.
 */
static __attribute__((unused)) const char *show(const char *s, size_t len)
{
	static char bufs[4][2048];
	static unsigned slot;
	char *b = bufs[slot++ % 4], *o = b;
	size_t i;

	if (!s)
		return "(null)";
	for (i = 0; i < len && o < b + sizeof(bufs[0]) - 5; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			*o++ = (char)ch;
		else
			o += sprintf(o, "\\x%02x", ch);
	}
	*o = '\0';
	return b;
}

/* The same for a NUL-terminated string (or NULL). */
static __attribute__((unused)) const char *show0(const char *s)
{
	return show(s, s ? strlen(s) : 0);
}

/* RFC 3629 well-formed, no NUL expected in str: independent of the code under test. */
static bool __attribute__((unused)) valid_utf8(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, n, k;
	uint32_t cp, min;

	while (s[i]) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			n = 1, cp = s[i] & 0x1f, min = 0x80;
		} else if ((s[i] & 0xf0) == 0xe0) {
			n = 2, cp = s[i] & 0x0f, min = 0x800;
		} else if ((s[i] & 0xf8) == 0xf0) {
			n = 3, cp = s[i] & 0x07, min = 0x10000;
		} else {
			return false;
		}
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/*
 * Deterministic pseudo-random numbers (xorshift64), so a failure reproduces.
 * A test wanting another sequence sets rng_state before the first call.
 */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t __attribute__((unused)) rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* The same in 32 bits (xorshift32), for the tests drawn from it. */
static uint32_t rng32_state = 2463534242u;

static uint32_t __attribute__((unused)) rng32(void)
{
	rng32_state ^= rng32_state << 13;
	rng32_state ^= rng32_state >> 17;
	rng32_state ^= rng32_state << 5;
	return rng32_state;
}

static void __attribute__((unused)) fill_random(unsigned char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)rng();
}

/*
 * Text built for comparison (dumps, inputs) in a struct buf: a test that
 * runs out of memory has nothing left to report, so these exit instead of
 * failing.
 */
static void __attribute__((unused)) dump_put(struct buf *b, const char *s, size_t n)
{
	if (buf_append(b, s, n) < 0) {
		fputs("out of memory\n", stderr);
		exit(2);
	}
}

static void __attribute__((unused)) dump_puts(struct buf *b, const char *s)
{
	if (buf_append_str(b, s) < 0) {
		fputs("out of memory\n", stderr);
		exit(2);
	}
}

static void __attribute__((format(printf, 2, 3), unused))
dump_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = buf_vprintf(b, fmt, ap);
	va_end(ap);
	if (ret < 0) {
		fputs("out of memory\n", stderr);
		exit(2);
	}
}

/* The text, which the caller frees ("" if nothing was put); b is left empty. */
static __attribute__((unused)) char *dump_take(struct buf *b)
{
	char *s = buf_steal(b);

	if (!s) {
		fputs("out of memory\n", stderr);
		exit(2);
	}
	return s;
}

#endif
