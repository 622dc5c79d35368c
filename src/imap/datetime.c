/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * IMAP date-time (RFC 3501 §9):
 *
 *   date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
 *
 * Calendar arithmetic is done here rather than with timegm()/mktime(): those
 * depend on TZ or are non-standard, and this runs in a daemon whose
 * environment we do not control. Dates are proleptic Gregorian.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "imap/datetime.h"
#include "util/civil.h"

static const char month_names[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

/* date-year is 4DIGIT; the formatter clamps to what the parser accepts. */
#define YEAR_MIN 0
#define YEAR_MAX 9999

struct cursor {
	const char *s;
	size_t len, pos;
};

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool peek_digit(const struct cursor *cur)
{
	return cur->pos < cur->len && is_digit(cur->s[cur->pos]);
}

static int expect_char(struct cursor *cur, char ch)
{
	if (cur->pos >= cur->len || cur->s[cur->pos] != ch)
		return -EINVAL;
	cur->pos++;
	return 0;
}

/* Exactly n digits. */
static int parse_digits(struct cursor *cur, unsigned n, unsigned *out)
{
	unsigned v = 0, i;

	for (i = 0; i < n; i++) {
		if (!peek_digit(cur))
			return -EINVAL;
		v = v * 10 + (unsigned)(cur->s[cur->pos++] - '0');
	}
	*out = v;
	return 0;
}

/* date-day-fixed is (SP DIGIT) / 2DIGIT; a bare DIGIT is RFC 3501's date-day. */
static int parse_day(struct cursor *cur, unsigned *day)
{
	if (cur->pos < cur->len && cur->s[cur->pos] == ' ') {
		cur->pos++;
		return parse_digits(cur, 1, day);
	}
	if (parse_digits(cur, 1, day))
		return -EINVAL;
	if (peek_digit(cur))
		*day = *day * 10 + (unsigned)(cur->s[cur->pos++] - '0');
	return 0;
}

static int parse_month(struct cursor *cur, unsigned *month)
{
	unsigned m, i;

	if (cur->len - cur->pos < 3)
		return -EINVAL;
	for (m = 0; m < 12; m++) {
		/* | 0x20 folds ASCII case; names are all letters, so no false match */
		for (i = 0; i < 3; i++)
			if ((cur->s[cur->pos + i] | 0x20) != (month_names[m][i] | 0x20))
				break;
		if (i == 3) {
			cur->pos += 3;
			*month = m + 1;
			return 0;
		}
	}
	return -EINVAL;
}

int imap_datetime_parse(const char *s, size_t len, time_t *out)
{
	struct cursor cur = { s, len, 0 };
	unsigned day, month, year, hour, min, sec, zone;
	int64_t t;
	int sign;

	if (parse_day(&cur, &day) || expect_char(&cur, '-') ||
	    parse_month(&cur, &month) || expect_char(&cur, '-') ||
	    parse_digits(&cur, 4, &year) || expect_char(&cur, ' ') ||
	    parse_digits(&cur, 2, &hour) || expect_char(&cur, ':') ||
	    parse_digits(&cur, 2, &min) || expect_char(&cur, ':') ||
	    parse_digits(&cur, 2, &sec) || expect_char(&cur, ' '))
		return -EINVAL;
	if (cur.pos >= len || (s[cur.pos] != '+' && s[cur.pos] != '-'))
		return -EINVAL;
	sign = s[cur.pos++] == '-' ? -1 : 1;
	if (parse_digits(&cur, 4, &zone) || cur.pos != len)
		return -EINVAL;

	/*
	 * Second 60 is a leap second (RFC 5322 allows it); it is taken as
	 * the first second of the next minute, as time_t has no room for it.
	 * The zone's hours are not capped: 4DIGIT is all the grammar says.
	 */
	if (day < 1 || day > civil_days_in_month(year, month) || hour > 23 ||
	    min > 59 || sec > 60 || zone % 100 > 59)
		return -EINVAL;

	t = civil_to_days(year, month, day) * 86400 +
	    hour * 3600 + min * 60 + sec;
	t -= sign * (int64_t)(zone / 100 * 3600 + zone % 100 * 60);
	if ((int64_t)(time_t)t != t)
		return -EINVAL;
	*out = (time_t)t;
	return 0;
}

void imap_datetime_format(time_t t, char *buf, size_t size)
{
	const int64_t lo = civil_to_days(YEAR_MIN, 1, 1) * 86400;
	const int64_t hi = civil_to_days(YEAR_MAX, 12, 31) * 86400 + 86399;
	int64_t secs = t, days, sod, year;
	unsigned month, day;

	/* Out-of-range times would not be a date-time at all; APPEND needs one. */
	if (secs < lo)
		secs = lo;
	if (secs > hi)
		secs = hi;
	days = secs / 86400;
	sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	civil_from_days(days, &year, &month, &day);
	snprintf(buf, size, "%02u-%s-%04d %02d:%02d:%02d +0000",
		 day, month_names[month - 1], (int)year, (int)(sod / 3600),
		 (int)(sod / 60 % 60), (int)(sod % 60));
}
