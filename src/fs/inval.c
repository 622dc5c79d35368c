/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The kernel invalidations and their thread (see inval.h, fs.h). */
#include "fs/inval.h"

#include <stdlib.h>
#include <unistd.h>

#include "fs/inode.h"
#include "log.h"

struct deferred {
	struct deferred *next;
	fuse_ino_t dir; /* EPOCH: every name the kernel holds */
};

#define EPOCH ((fuse_ino_t)0)

/*
 * FUSE_NOTIFY_INC_EPOCH (Linux 6.16): the kernel takes every name it holds
 * for stale at its next use, and takes no lock to do so. libfuse 3.14 has no
 * call for it, so the notification is written as the kernel reads it: a
 * bare fuse_out_header with the code in error and unique 0. Returns false
 * where the kernel does not know it (EINVAL); names then expire by time.
 */
static bool notify_inc_epoch(struct fuse_session *se)
{
	struct {
		uint32_t len;
		int32_t error;
		uint64_t unique;
	} h = { sizeof(h), 8 /* FUSE_NOTIFY_INC_EPOCH */, 0 };

	return write(fuse_session_fd(se), &h, sizeof(h)) == (ssize_t)sizeof(h);
}

/*
 * Sends the queued directory invalidations. A thread of its own, so that no
 * FUSE operation and no store lock ever waits on the kernel.
 */
static void *defer_main(void *arg)
{
	struct fs *fs = arg;

	pthread_mutex_lock(&fs->defer_lock);
	while (!fs->defer_stop || fs->deferred) {
		struct deferred *d = fs->deferred;

		if (!d) {
			pthread_cond_wait(&fs->defer_cond, &fs->defer_lock);
			continue;
		}
		fs->deferred = d->next;
		if (!fs->deferred)
			fs->deferred_tail = NULL;
		pthread_mutex_unlock(&fs->defer_lock);
		/*
		 * Neither takes a lock a request in flight can hold (see fs.h).
		 * -ENOENT when the kernel has no such inode: nothing to forget.
		 */
		if (d->dir == EPOCH) {
			if (fs->epoch_works && !notify_inc_epoch(fs->se)) {
				fs->epoch_works = false;
				atomic_store(&fs->long_names, false);
				log_debug("kernel has no FUSE_NOTIFY_INC_EPOCH: names gone elsewhere expire in %.1f s",
					  fs->opts.dir_timeout);
			}
		} else {
			fuse_lowlevel_notify_inval_inode(fs->se, d->dir, 0, 0);
		}
		free(d);
		pthread_mutex_lock(&fs->defer_lock);
	}
	pthread_mutex_unlock(&fs->defer_lock);
	return NULL;
}

/* Queues dir (or EPOCH) once: a relisting that finds 1,000 messages gone sends one. */
static void defer_inval_dir(struct fs *fs, fuse_ino_t dir)
{
	struct deferred *d;

	if (!fs->se)
		return;
	pthread_mutex_lock(&fs->defer_lock);
	/* Stopped: the session's fd is closing, and nobody would send it. */
	if (!fs->defer_running)
		goto out;
	for (d = fs->deferred; d; d = d->next)
		if (d->dir == dir)
			goto out;
	d = malloc(sizeof(*d));
	if (!d)
		goto out;
	d->next = NULL;
	d->dir = dir;
	if (fs->deferred_tail)
		fs->deferred_tail->next = d;
	else
		fs->deferred = d;
	fs->deferred_tail = d;
	pthread_cond_signal(&fs->defer_cond);
out:
	pthread_mutex_unlock(&fs->defer_lock);
}

static fuse_ino_t dir_ino(uint32_t id)
{
	return id == STORE_ROOT_ID ? FUSE_ROOT_ID : ino_make(INO_MAILBOX, id, 0, 0);
}

void fs_inval_dir(void *ctx, uint32_t id)
{
	defer_inval_dir(ctx, dir_ino(id));
}

void fs_inval_name(void *ctx, uint32_t parent, const char *name)
{
	(void)name; /* not one name, every name: see fs.h */
	defer_inval_dir(ctx, dir_ino(parent));
	defer_inval_dir(ctx, EPOCH);
}

void fs_inval_message(void *ctx, uint32_t mailbox, uint32_t uid)
{
	(void)uid;
	defer_inval_dir(ctx, dir_ino(mailbox));
	defer_inval_dir(ctx, EPOCH);
}

void inval_init(struct fs *fs)
{
	pthread_mutex_init(&fs->defer_lock, NULL);
	pthread_cond_init(&fs->defer_cond, NULL);
}

void inval_start(struct fs *fs)
{
	fs->epoch_works = true;
	fs->defer_running = pthread_create(&fs->defer_thread, NULL, defer_main, fs) == 0;
}

void inval_stop(struct fs *fs)
{
	bool running;

	pthread_mutex_lock(&fs->defer_lock);
	running = fs->defer_running;
	fs->defer_stop = true;
	pthread_cond_signal(&fs->defer_cond);
	pthread_mutex_unlock(&fs->defer_lock);
	if (!running)
		return;
	pthread_join(fs->defer_thread, NULL); /* it sends what was queued first */
	pthread_mutex_lock(&fs->defer_lock);
	fs->defer_running = false;
	pthread_mutex_unlock(&fs->defer_lock);
}

void inval_free(struct fs *fs)
{
	while (fs->deferred) {
		struct deferred *d = fs->deferred;

		fs->deferred = d->next;
		free(d);
	}
	fs->deferred_tail = NULL;
	pthread_mutex_destroy(&fs->defer_lock);
	pthread_cond_destroy(&fs->defer_cond);
}
