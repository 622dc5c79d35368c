/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Growing a malloc'd array of fixed-size elements. */
#ifndef IMAPFS_UTIL_ARRAY_H
#define IMAPFS_UTIL_ARRAY_H

#include <errno.h>
#include <stdlib.h>

/*
 * Makes room for want elements of size bytes in *arr (a pointer to the
 * array pointer), which holds *cap: doubling, so that n appends cost O(n)
 * copying, not O(n^2) (a LIST may name tens of thousands of mailboxes).
 * 0 or -ENOMEM (*arr is then unchanged).
 */
static inline int array_reserve(void *arr, size_t *cap, size_t want, size_t size)
{
	void **p = arr;
	size_t ncap = *cap ? *cap : 16;
	void *grown;

	if (want <= *cap)
		return 0;
	while (ncap < want)
		ncap *= 2;
	grown = reallocarray(*p, ncap, size);
	if (!grown)
		return -ENOMEM;
	*p = grown;
	*cap = ncap;
	return 0;
}

#endif
