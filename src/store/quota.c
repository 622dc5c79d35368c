/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The account's IMAP QUOTA for df (store.h), asked at most every 30 s. */
#include "store/store_internal.h"

#include <errno.h>

#include "driver/mailbox.h"
#include "store/pool.h"
#include "util/clock.h"

struct quota_job {
	uint64_t used, limit;
};

static int quota_job(struct session *s, void *ctx)
{
	struct quota_job *q = ctx;

	return driver_quota(s, &q->used, &q->limit);
}

int store_quota(struct store *st, uint64_t *used_kib, uint64_t *limit_kib)
{
	struct quota_job q = { 0 };
	int r;

	pthread_mutex_lock(&st->lock);
	/* df runs often (shell prompts, file managers): one GETQUOTAROOT in 30 s is plenty. */
	if (st->quota_at_ms && monotonic_ms() - st->quota_at_ms < 30000) {
		r = st->quota_err;
		*used_kib = st->quota_used;
		*limit_kib = st->quota_limit;
		pthread_mutex_unlock(&st->lock);
		return r;
	}
	pthread_mutex_unlock(&st->lock);
	r = pool_run(st->pool, NULL, quota_job, &q);
	if (r == -EIO)
		return r;
	pthread_mutex_lock(&st->lock);
	st->quota_at_ms = monotonic_ms();
	st->quota_err = r < 0 ? -ENOTSUP : 0;
	st->quota_used = q.used;
	st->quota_limit = q.limit;
	pthread_mutex_unlock(&st->lock);
	*used_kib = q.used;
	*limit_kib = q.limit;
	return r < 0 ? -ENOTSUP : 0;
}

void store_quota_stale(struct store *st)
{
	pthread_mutex_lock(&st->lock);
	st->quota_at_ms = 0;
	pthread_mutex_unlock(&st->lock);
}
