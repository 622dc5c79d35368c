/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "util/cancel.h"

#include <errno.h>

static _Thread_local const atomic_bool *cancel_flag;

void cancel_on(const atomic_bool *flag)
{
	cancel_flag = flag;
}

const atomic_bool *cancel_flag_of_thread(void)
{
	return cancel_flag;
}

bool cancel_enabled(void)
{
	return cancel_flag != NULL;
}

bool cancel_requested(void)
{
	return cancel_flag && atomic_load(cancel_flag);
}

/* pthread timed waits count in CLOCK_REALTIME. */
static void poll_deadline(struct timespec *until)
{
	clock_gettime(CLOCK_REALTIME, until);
	until->tv_nsec += CANCEL_POLL_MS * 1000000L;
	if (until->tv_nsec >= 1000000000L) {
		until->tv_sec++;
		until->tv_nsec -= 1000000000L;
	}
}

int cancel_lock(pthread_mutex_t *mu)
{
	if (!cancel_flag) {
		pthread_mutex_lock(mu);
		return 0;
	}
	for (;;) {
		struct timespec until;

		if (cancel_requested())
			return -EINTR;
		poll_deadline(&until);
		if (pthread_mutex_timedlock(mu, &until) == 0)
			return 0;
	}
}

int cancel_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu)
{
	struct timespec until;

	if (!cancel_flag) {
		pthread_cond_wait(cv, mu);
		return 0;
	}
	if (cancel_requested())
		return -EINTR;
	poll_deadline(&until);
	pthread_cond_timedwait(cv, mu, &until);
	return cancel_requested() ? -EINTR : 0;
}
