/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Milliseconds of CLOCK_MONOTONIC, for lifetimes and deadlines that a change of the wall clock must not move. */
#ifndef IMAPFS_UTIL_CLOCK_H
#define IMAPFS_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
