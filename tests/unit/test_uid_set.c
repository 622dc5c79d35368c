/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "imap/uid_set.h"

/* Parses text and prints the ranges back as "lo-hi lo-hi", or "EINVAL". */
static const char *shown(const char *text)
{
	static char buf[256];
	struct imap_uid_range *r;
	size_t n, pos = 0;
	int e = imap_uid_set_parse(text, strlen(text), &r, &n);

	if (e < 0)
		return e == -EINVAL ? "EINVAL" : "error";
	buf[0] = '\0';
	for (size_t i = 0; i < n && pos < sizeof(buf) - 24; i++)
		pos += (size_t)snprintf(buf + pos, sizeof(buf) - pos, "%s%u-%u", i ? " " : "",
					r[i].lo, r[i].hi);
	free(r);
	return buf;
}

#define SHOWS(text, want) \
	CHECK(strcmp(shown(text), want) == 0, "%s -> %s, want %s", text, shown(text), want)

int main(void)
{
	struct imap_uid_range *r;
	size_t n;

	SHOWS("7", "7-7");
	SHOWS("1:3,7,9:12", "1-3 7-7 9-12");
	/* Reversed ranges, overlaps, repeats, adjacency and disorder are merged. */
	SHOWS("12:9", "9-12");
	SHOWS("5,1:3,4", "1-5");
	SHOWS("1:10,3:4,10,20:15,11", "1-11 15-20");
	SHOWS("4294967295", "4294967295-4294967295");
	SHOWS("1:4294967295,4294967295", "1-4294967295");

	/* Malformed: nothing is guessed. */
	SHOWS("", "EINVAL");
	SHOWS("0", "EINVAL");
	SHOWS("1:0", "EINVAL");
	SHOWS("4294967296", "EINVAL");
	SHOWS("99999999999999999999999", "EINVAL");
	SHOWS("1,", "EINVAL");
	SHOWS(",1", "EINVAL");
	SHOWS("1,,2", "EINVAL");
	SHOWS("1:", "EINVAL");
	SHOWS("1:*", "EINVAL");
	SHOWS("*", "EINVAL");
	SHOWS("1 2", "EINVAL");
	SHOWS("1:2:3", "EINVAL");
	SHOWS("-1", "EINVAL");
	SHOWS("1x", "EINVAL");

	/* The length is honoured: what follows is not read. */
	CHECK(imap_uid_set_parse("3:5,junk", 3, &r, &n) == 0 && n == 1 && r[0].lo == 3 &&
		      r[0].hi == 5,
	      "length honoured");
	free(r);

	CHECK(imap_uid_set_parse("1:3,7,9:12,100", 14, &r, &n) == 0 && n == 4, "parse");
	for (uint32_t u = 0; u < 110; u++) {
		bool want = (u >= 1 && u <= 3) || u == 7 || (u >= 9 && u <= 12) || u == 100;

		CHECK(imap_uid_set_has(r, n, u) == want, "has(%u) = %d", u, !want);
	}
	CHECK(!imap_uid_set_has(r, n, UINT32_MAX), "has(max)");
	free(r);
	CHECK(!imap_uid_set_has(NULL, 0, 1), "empty set has nothing");
	return check_summary();
}
