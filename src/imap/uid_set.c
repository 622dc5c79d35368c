/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "imap/uid_set.h"

#include <errno.h>
#include <stdlib.h>

/* One number of a set: 1 .. 2^32-1, digits only. */
static int parse_number(const char *p, const char *end, const char **stop, uint32_t *out)
{
	uint64_t v = 0;
	const char *q = p;

	while (q < end && *q >= '0' && *q <= '9') {
		v = v * 10 + (uint64_t)(*q - '0');
		if (v > UINT32_MAX)
			return -EINVAL;
		q++;
	}
	if (q == p || v == 0)
		return -EINVAL;
	*stop = q;
	*out = (uint32_t)v;
	return 0;
}

static int by_lo(const void *a, const void *b)
{
	const struct imap_uid_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

int imap_uid_set_parse(const char *text, size_t len, struct imap_uid_range **out, size_t *n)
{
	const char *p = text, *end = text + len;
	struct imap_uid_range *r;
	size_t count = 1, k = 0, merged = 0;

	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < len; i++)
		count += text[i] == ',';
	r = malloc(count * sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (;;) {
		uint32_t a, b;

		if (parse_number(p, end, &p, &a) < 0)
			goto invalid;
		b = a;
		if (p < end && *p == ':' && parse_number(p + 1, end, &p, &b) < 0)
			goto invalid;
		r[k].lo = a < b ? a : b;
		r[k++].hi = a < b ? b : a;
		if (p == end)
			break;
		if (*p++ != ',')
			goto invalid;
	}
	qsort(r, k, sizeof(*r), by_lo);
	for (size_t i = 0; i < k; i++) {
		if (merged && r[i].lo <= r[merged - 1].hi + UINT64_C(1)) {
			if (r[i].hi > r[merged - 1].hi)
				r[merged - 1].hi = r[i].hi;
		} else {
			r[merged++] = r[i];
		}
	}
	*out = r;
	*n = merged;
	return 0;
invalid:
	free(r);
	return -EINVAL;
}

bool imap_uid_set_has(const struct imap_uid_range *r, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (uid < r[mid].lo)
			hi = mid;
		else if (uid > r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}
