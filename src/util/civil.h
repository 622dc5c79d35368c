/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Dates of the proleptic Gregorian calendar as days since 1970-01-01, for
 * the parsers of IMAP's INTERNALDATE (imap/datetime.c) and of mail's Date
 * field (mime/headline.c). Howard Hinnant's algorithms: years start in
 * March so the leap day is last, and 400-year eras repeat exactly.
 */
#ifndef IMAPFS_UTIL_CIVIL_H
#define IMAPFS_UTIL_CIVIL_H

#include <stdbool.h>
#include <stdint.h>

static inline bool civil_is_leap(int64_t y)
{
	return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

/* Days in month m (1 to 12) of year y. */
static inline unsigned civil_days_in_month(int64_t y, unsigned m)
{
	static const unsigned char days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};

	return m == 2 && civil_is_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of y-m-d. */
static inline int64_t civil_to_days(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* The inverse of civil_to_days(). */
static inline void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

#endif
