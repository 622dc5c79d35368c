/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for IMAP date-time (src/imap/datetime.c). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imap/datetime.h"

#include "check.h"

static void parses(int line, const char *s, int64_t want)
{
	time_t t = 12345;
	int r = imap_datetime_parse(s, strlen(s), &t);

	check(r == 0 && (int64_t)t == want, line, "parse(\"%s\") = %d, %lld; want %lld",
	      s, r, (long long)t, (long long)want);
}

static void rejects(int line, const char *s, size_t len)
{
	time_t t = 12345;
	int r = imap_datetime_parse(s, len, &t);

	check(r == -EINVAL && t == 12345, line, "parse(\"%.*s\") = %d, %lld; want -EINVAL, untouched",
	      (int)len, s, r, (long long)t);
}

#define REJECTS(s) rejects(__LINE__, (s), strlen(s))

static void formats(int line, int64_t t, const char *want)
{
	char buf[64];

	memset(buf, 'x', sizeof(buf));
	imap_datetime_format((time_t)t, buf, sizeof(buf));
	check(!strcmp(buf, want), line, "format(%lld) = \"%s\", want \"%s\"",
	      (long long)t, buf, want);
}

static void test_parse_valid(void)
{
	/* RFC 3501's example, and the day forms */
	parses(__LINE__, "17-Jul-1996 02:44:25 -0700", 837596665);
	parses(__LINE__, "17-Jul-1996 09:44:25 +0000", 837596665);
	parses(__LINE__, "17-Jul-1996 11:44:25 +0200", 837596665);
	parses(__LINE__, "18-Jul-1996 01:14:25 +1530", 837596665);
	parses(__LINE__, "17-Jul-1996 00:14:25 -0930", 837596665);
	parses(__LINE__, " 7-Jul-1996 09:44:25 +0000", 837596665 - 10 * 86400);
	parses(__LINE__, "7-Jul-1996 09:44:25 +0000", 837596665 - 10 * 86400);
	parses(__LINE__, "07-Jul-1996 09:44:25 +0000", 837596665 - 10 * 86400);
	/* month names in any case */
	parses(__LINE__, "17-jul-1996 09:44:25 +0000", 837596665);
	parses(__LINE__, "17-JUL-1996 09:44:25 +0000", 837596665);
	parses(__LINE__, "17-jUl-1996 09:44:25 +0000", 837596665);
	/* the epoch, either side of it */
	parses(__LINE__, "01-Jan-1970 00:00:00 +0000", 0);
	parses(__LINE__, "01-Jan-1970 01:00:00 +0100", 0);
	parses(__LINE__, "31-Dec-1969 19:00:00 -0500", 0);
	parses(__LINE__, "31-Dec-1969 23:59:59 +0000", -1);
	parses(__LINE__, "01-Jan-1970 00:00:00 -0000", 0);
	/* leap years */
	parses(__LINE__, "29-Feb-2000 12:00:00 +0000", 951825600);
	parses(__LINE__, "29-Feb-2024 23:59:59 +0000", 1709251199);
	parses(__LINE__, "29-Feb-1600 00:00:00 +0000", -11670998400LL);
	parses(__LINE__, "01-Mar-1900 00:00:00 +0000", -2203891200LL);
	parses(__LINE__, "28-Feb-1900 00:00:00 +0000", -2203891200LL - 86400);
	/* past 2038 and the ends of the 4-digit years */
	parses(__LINE__, "19-Jan-2038 03:14:08 +0000", 2147483648LL);
	parses(__LINE__, "31-Dec-9999 23:59:59 +0000", 253402300799LL);
	parses(__LINE__, "01-Jan-0001 00:00:00 +0000", -62135596800LL);
	parses(__LINE__, "01-Jan-0000 00:00:00 +0000", -62167219200LL);
	/* each month's last day */
	parses(__LINE__, "31-Jan-2021 00:00:00 +0000", 1612051200);
	parses(__LINE__, "28-Feb-2021 00:00:00 +0000", 1614470400);
	parses(__LINE__, "31-Mar-2021 00:00:00 +0000", 1617148800);
	parses(__LINE__, "30-Apr-2021 00:00:00 +0000", 1619740800);
	parses(__LINE__, "31-May-2021 00:00:00 +0000", 1622419200);
	parses(__LINE__, "30-Jun-2021 00:00:00 +0000", 1625011200);
	parses(__LINE__, "31-Jul-2021 00:00:00 +0000", 1627689600);
	parses(__LINE__, "31-Aug-2021 00:00:00 +0000", 1630368000);
	parses(__LINE__, "30-Sep-2021 00:00:00 +0000", 1632960000);
	parses(__LINE__, "31-Oct-2021 00:00:00 +0000", 1635638400);
	parses(__LINE__, "30-Nov-2021 00:00:00 +0000", 1638230400);
	parses(__LINE__, "31-Dec-2021 00:00:00 +0000", 1640908800);
	/* a leap second is the next minute's first */
	parses(__LINE__, "31-Dec-2016 23:59:60 +0000", 1483228800);
	/* zone hours are not capped by the grammar */
	parses(__LINE__, "02-Jan-1970 00:00:00 +2400", 0);
	/* len is honoured: what follows is not looked at */
	{
		static const char s[] = "17-Jul-1996 09:44:25 +0000garbage";
		time_t t = 0;

		CHECK(imap_datetime_parse(s, 26, &t) == 0 && t == 837596665,
		      "parse with len 26: %lld", (long long)t);
	}
}

static void test_parse_invalid(void)
{
	static const char *const cases[] = {
		"",
		"17-Jul-1996 09:44:25",             /* no zone */
		"17-Jul-1996 09:44:25 ",
		"17-Jul-1996 09:44:25 +000",
		"17-Jul-1996 09:44:25 +00000",
		"17-Jul-1996 09:44:25 0000",        /* no sign */
		"17-Jul-1996 09:44:25 +-100",
		"17-Jul-1996 09:44:25 GMT",
		"17-Jul-1996 09:44:25 +0060",       /* zone minutes */
		"17-Jul-1996 09:44:25 +0099",
		"17-Jul-1996 09:44:25 +0000 ",      /* trailing */
		"17-Jul-1996 09:44:25 +0000x",
		"\"17-Jul-1996 09:44:25 +0000\"",   /* quotes are the caller's */
		" 17-Jul-1996 09:44:25 +0000",      /* SP only before one digit */
		"  7-Jul-1996 09:44:25 +0000",
		"117-Jul-1996 09:44:25 +0000",
		"-Jul-1996 09:44:25 +0000",
		"00-Jul-1996 09:44:25 +0000",       /* day 0 */
		"0-Jul-1996 09:44:25 +0000",
		"32-Jul-1996 09:44:25 +0000",
		"31-Apr-2020 00:00:00 +0000",       /* days per month */
		"31-Jun-2020 00:00:00 +0000",
		"31-Sep-2020 00:00:00 +0000",
		"31-Nov-2020 00:00:00 +0000",
		"30-Feb-2000 00:00:00 +0000",
		"29-Feb-2023 00:00:00 +0000",       /* not leap years */
		"29-Feb-1900 00:00:00 +0000",
		"29-Feb-2100 00:00:00 +0000",
		"17-Foo-1996 09:44:25 +0000",       /* month */
		"17-Ju-1996 09:44:25 +0000",
		"17-July-1996 09:44:25 +0000",
		"17-07-1996 09:44:25 +0000",
		"17-J\x95l-1996 09:44:25 +0000",
		"17-Jul-96 09:44:25 +0000",         /* year */
		"17-Jul-996 09:44:25 +0000",
		"17-Jul-19960 09:44:25 +0000",
		"17-Jul-199x 09:44:25 +0000",
		"17-Jul-1996 24:00:00 +0000",       /* time ranges */
		"17-Jul-1996 09:60:25 +0000",
		"17-Jul-1996 09:44:61 +0000",
		"17-Jul-1996 99:44:25 +0000",
		"17-Jul-1996 9:44:25 +0000",        /* time digits */
		"17-Jul-1996 09:4:25 +0000",
		"17-Jul-1996 09:44:5 +0000",
		"17-Jul-1996 09:44 +0000",
		"17-Jul-1996 09-44-25 +0000",       /* separators */
		"17 Jul 1996 09:44:25 +0000",
		"17-Jul-1996T09:44:25 +0000",
		"17-Jul-1996  09:44:25 +0000",
		"17-Jul-1996 09:44:25  +0000",
		"17-Jul-1996\t09:44:25 +0000",
		"17-Jul-1996 09:44:25\t+0000",
		"+7-Jul-1996 09:44:25 +0000",
		"Wed, 17 Jul 1996 09:44:25 +0000",  /* RFC 5322 is not IMAP */
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		rejects(__LINE__, cases[i], strlen(cases[i]));
	/* cut short by len */
	rejects(__LINE__, "17-Jul-1996 09:44:25 +0000", 25);
	rejects(__LINE__, "17-Jul-1996 09:44:25 +0000", 0);
	rejects(__LINE__, "17-Jul-1996 09:44:25 +0000", 3);
	/* NUL inside */
	rejects(__LINE__, "17-Jul-1996 09:44:25 +0\0" "00", 26);
}

static void test_format(void)
{
	formats(__LINE__, 0, "01-Jan-1970 00:00:00 +0000");
	formats(__LINE__, 837596665, "17-Jul-1996 09:44:25 +0000");
	formats(__LINE__, 837596665 - 10 * 86400, "07-Jul-1996 09:44:25 +0000");
	formats(__LINE__, -1, "31-Dec-1969 23:59:59 +0000");
	formats(__LINE__, -86400, "31-Dec-1969 00:00:00 +0000");
	formats(__LINE__, -86401, "30-Dec-1969 23:59:59 +0000");
	formats(__LINE__, 951825600, "29-Feb-2000 12:00:00 +0000");
	formats(__LINE__, 2147483648LL, "19-Jan-2038 03:14:08 +0000");
	formats(__LINE__, 253402300799LL, "31-Dec-9999 23:59:59 +0000");
	formats(__LINE__, -62167219200LL, "01-Jan-0000 00:00:00 +0000");
	/* out of the 4-digit range: clamped to a valid date-time */
	formats(__LINE__, 253402300800LL, "31-Dec-9999 23:59:59 +0000");
	formats(__LINE__, INT64_MAX, "31-Dec-9999 23:59:59 +0000");
	formats(__LINE__, -62167219201LL, "01-Jan-0000 00:00:00 +0000");
	formats(__LINE__, INT64_MIN, "01-Jan-0000 00:00:00 +0000");

	/* exactly 27 bytes is enough; less truncates but stays a string */
	{
		char buf[27], small[10];

		imap_datetime_format(0, buf, sizeof(buf));
		CHECK(!strcmp(buf, "01-Jan-1970 00:00:00 +0000"), "27-byte buffer: \"%s\"", buf);
		imap_datetime_format(0, small, sizeof(small));
		CHECK(!strcmp(small, "01-Jan-19"), "small buffer: \"%s\"", small);
	}
}

/* format -> parse is the identity, and agrees with the C library's gmtime_r(). */
static void test_round_trip(void)
{
	const int64_t lo = -62167219200LL, hi = 253402300799LL;
	unsigned i, bad = 0;

	for (i = 0; i < 200000; i++) {
		int64_t t;
		char buf[32], want[32];
		time_t back = 0;
		struct tm tm;

		switch (i % 4) {
		case 0:
			t = lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1));
			break;
		case 1:   /* near midnight and year ends, where off-by-ones live */
			t = (int64_t)(rng() % 20000) * 86400 - 5000LL * 86400 +
			    (int64_t)(rng() % 3) - 1;
			break;
		default:  /* the mail era */
			t = (int64_t)(rng() % 4102444800ULL);
			break;
		}
		imap_datetime_format((time_t)t, buf, sizeof(buf));
		if (imap_datetime_parse(buf, strlen(buf), &back) || back != t) {
			if (bad++ < 10)
				CHECK(false, "%lld -> \"%s\" -> %lld", (long long)t, buf,
				      (long long)back);
			continue;
		}
		if (t >= -62135596800LL) {
			time_t tt = (time_t)t;

			static const char mon[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
							 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

			gmtime_r(&tt, &tm);
			snprintf(want, sizeof(want), "%02d-%s-%04d %02d:%02d:%02d +0000",
				 tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900,
				 tm.tm_hour, tm.tm_min, tm.tm_sec);
			if (strcmp(want, buf) && bad++ < 10)
				CHECK(false, "%lld: \"%s\", gmtime_r says \"%s\"",
				      (long long)t, buf, want);
		}
	}
	CHECK(bad == 0, "%u round-trip failures", bad);

	/* every day of a leap year, parsed with a zone that moves it a day, and formatted */
	{
		static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
						   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
		static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
		int64_t expect = 946684800LL; /* 01-Jan-2000 */
		unsigned m, d;

		bad = 0;
		for (m = 0; m < 12; m++) {
			for (d = 1; d <= mdays[m]; d++, expect += 86400) {
				char s[40], out[32];
				time_t t;

				snprintf(s, sizeof(s), "%2u-%s-2000 23:30:00 -0130", d, mon[m]);
				if (imap_datetime_parse(s, strlen(s), &t) ||
				    t != expect + 25 * 3600) {
					if (bad++ < 10)
						CHECK(false, "\"%s\" -> %lld", s, (long long)t);
					continue;
				}
				imap_datetime_format((time_t)expect, out, sizeof(out));
				snprintf(s, sizeof(s), "%02u-%s-2000 00:00:00 +0000", d, mon[m]);
				if (strcmp(out, s) && bad++ < 10)
					CHECK(false, "format(%lld) = \"%s\", want \"%s\"",
					      (long long)expect, out, s);
			}
		}
		CHECK(bad == 0, "%u days of 2000 misparsed", bad);
		CHECK(expect == 978307200LL, "2000 had %lld days", (long long)(expect - 946684800LL) / 86400);
	}
}

int main(void)
{
	/* The code must not depend on TZ; make a dependence show. */
	setenv("TZ", "Pacific/Chatham", 1);
	tzset();
	test_parse_valid();
	test_parse_invalid();
	test_format();
	test_round_trip();
	return check_summary();
}
