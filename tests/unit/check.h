/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The unit tests' checks: CHECK(cond, fmt, ...) counts a pass or prints the
 * failure with its line; check_summary() prints the counts and is main's
 * exit status. For one test program (its statics are that program's own);
 * single-threaded.
 */
#ifndef IMAPFS_TEST_CHECK_H
#define IMAPFS_TEST_CHECK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static unsigned passed, failed;

#define CHECK(cond, ...) check((cond), __LINE__, __VA_ARGS__)

static void __attribute__((format(printf, 3, 4), unused))
check(bool ok, int line, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		passed++;
		return;
	}
	failed++;
	printf("FAIL line %d: ", line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static int __attribute__((unused)) check_summary(void)
{
	printf("%u passed, %u failed\n", passed, failed);
	return failed != 0;
}

#endif
