/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "store/store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store/body_cache.h"
#include "store/parts.h"
#include "store/offline.h"
#include "store/parts_cache.h"
#include "store/pool.h"
#include "store/prefetch.h"

void store_set_sink(struct store *st, const struct store_sink *sink)
{
	st->sink = *sink;
}

uint64_t store_bytes_in(struct store *st)
{
	return pool_bytes_in(st->pool);
}

int store_open(const struct store_options *opts, struct store **out, char *err, size_t errlen)
{
	struct store *st = calloc(1, sizeof(*st));
	int r;

	if (!st)
		return -ENOMEM;
	st->opts = *opts;
	pthread_mutex_init(&st->lock, NULL);
	pthread_mutex_init(&st->list_lock, NULL);
	pthread_mutex_init(&st->flag_lock, NULL);
	pthread_mutex_init(&st->rights_lock, NULL);
	pthread_cond_init(&st->flag_done, NULL);
	flagsets_init(&st->flags);
	r = store_tree_init(st);
	if (r < 0)
		goto fail;
	st->parts_cache = parts_cache_new();
	st->searches = store_searches_new();
	if (!st->parts_cache || !st->searches) {
		r = -ENOMEM;
		goto fail;
	}
	if (opts->cache_size && opts->cache_dir) {
		char why[512];

		/* Only ever a saving: a mount without it still works. */
		if (body_cache_open(opts->cache_dir, opts->cache_account, opts->cache_size,
				    &st->bodies, why, sizeof(why)) < 0)
			log_warn("%s; going on without a disk cache", why);
	}
	/* Before the tree: mailboxes made, removed or renamed offline are laid over it. */
	offline_open(st);
	r = pool_new(&st->opts.session, opts->connections, &st->pool, err, errlen);
	if (r < 0 && pool_unreachable_errno(r) && st->bodies &&
	    pool_new_unreachable(&st->opts.session, opts->connections, &st->pool) == 0) {
		/*
		 * Offline (a train, a VPN down): the tree and listings last kept,
		 * bodies from the disk cache; the rest fails with EIO until the
		 * server answers, and then all is as after any reconnection.
		 */
		if (store_tree_apply_kept(st) == 0) {
			log_warn("%s; showing what the disk cache holds until the server answers",
				 err);
			store_load_kept_names(st);
			st->prefetch = prefetch_new(st);
			*out = st;
			return 0;
		}
	}
	if (r < 0)
		goto fail;
	st->prefetch = prefetch_new(st);
	r = store_refresh_mailboxes(st, true);
	if (r < 0) {
		snprintf(err, errlen, "cannot list mailboxes: %s", strerror(-r));
		goto fail;
	}
	store_load_kept_names(st);
	*out = st;
	return 0;
fail:
	store_close(st);
	return r;
}

void store_start_threads(struct store *st)
{
	body_cache_start_writer(st->bodies);
	offline_start(st);
}

void store_close(struct store *st)
{
	if (!st)
		return;
	offline_close(st);
	store_keep_listings(st);
	if (st->parts_cache)
		store_parts_cache_clear(st);
	parts_cache_free(st->parts_cache);
	store_searches_free(st->searches);
	prefetch_free(st->prefetch);
	body_cache_close(st->bodies);
	pool_free(st->pool);
	store_tree_free(st);
	flagsets_free(&st->flags);
	pthread_mutex_destroy(&st->lock);
	pthread_mutex_destroy(&st->list_lock);
	pthread_mutex_destroy(&st->flag_lock);
	pthread_mutex_destroy(&st->rights_lock);
	pthread_cond_destroy(&st->flag_done);
	free(st);
}
