/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The FUSE session's fs: the operations table, each operation's file named
 * in fs_internal.h; fs_new, fs_set_session and fs_free; and the two
 * operations of the mount as a whole, init and statfs.
 */
#include "fs/search.h"
#include "fs/fs.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "fs/dir.h"
#include "fs/file.h"
#include "fs/fs_internal.h"
#include "fs/inval.h"
#include "fs/lookup.h"
#include "fs/names.h"
#include "fs/setattr.h"
#include "fs/upload.h"
#include "fs/xattr.h"

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;

	/* FUSE_NOTIFY_INC_EPOCH came with 7.44 (Linux 6.16). */
	atomic_store(&fs->long_names, fs->watched && (conn->proto_major > 7 ||
						     (conn->proto_major == 7 &&
						      conn->proto_minor >= 44)));
	conn->want |= conn->capable & FUSE_CAP_READDIRPLUS;
	/*
	 * Always READDIRPLUS, not the kernel's guess: it stops sending it after
	 * the first page when nothing was stat'ed yet, and grep -r, find and
	 * rsync then look up every message and .parts directory one request at
	 * a time (grep -r of 1,000 messages: 1,798 LOOKUPs, 0.71 s; always plus:
	 * 119, 0.54 s). Plain ls pays a little more per entry.
	 */
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	conn->want |= conn->capable & FUSE_CAP_ASYNC_READ;
	conn->max_readahead = READ_WINDOW_MAX < conn->max_readahead ? READ_WINDOW_MAX
								    : conn->max_readahead;
}

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	uint64_t used, limit;
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 1024;
	sv.f_frsize = 1024;
	sv.f_namemax = 255;
	/* The IMAP QUOTA in 1 KiB blocks; without one, no size is claimed (df shows 0). */
	if (store_quota(fs_of(req)->st, &used, &limit) == 0) {
		sv.f_blocks = limit;
		sv.f_bfree = sv.f_bavail = limit > used ? limit - used : 0;
	}
	fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops ops = {
	.init = fs_init,
	.lookup = fs_lookup,
	.getattr = fs_getattr,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.readdirplus = fs_readdirplus,
	.releasedir = fs_releasedir,
	.open = fs_open,
	.read = fs_read,
	.release = fs_release,
	.statfs = fs_statfs,
	.getxattr = fs_getxattr,
	.listxattr = fs_listxattr,
	.create = fs_create,
	.write = fs_write,
	.flush = fs_flush,
	.setattr = fs_setattr,
	.unlink = fs_unlink,
	.rename = fs_rename,
	.mkdir = fs_mkdir,
	.rmdir = fs_rmdir,
	.setxattr = fs_setxattr,
	.removexattr = fs_removexattr,
	.symlink = fs_symlink,
	.link = fs_link,
};

const struct fuse_lowlevel_ops *fs_operations(void)
{
	return &ops;
}

struct fs *fs_new(struct store *st, const struct fs_options *opts)
{
	struct fs *fs = calloc(1, sizeof(*fs));
	int r;

	if (!fs)
		return NULL;
	fs->st = st;
	fs->opts = *opts;
	fs->uid = getuid();
	fs->gid = getgid();
	fs->mounted_at = time(NULL);
	r = local_new(&fs->local);
	if (r < 0) {
		fprintf(stderr, "imapfs: cannot make a private directory for local files in %s: %s\n",
			getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", strerror(-r));
		free(fs);
		return NULL;
	}
	pthread_mutex_init(&fs->opens_lock, NULL);
	pthread_mutex_init(&fs->uploads_lock, NULL);
	search_init(fs);
	inval_init(fs);
	return fs;
}

void fs_set_watched(struct fs *fs, bool on)
{
	fs->watched = on;
}

void fs_set_session(struct fs *fs, struct fuse_session *se)
{
	fs->se = se;
	inval_start(fs);
}

void fs_stop_notifying(struct fs *fs)
{
	if (fs)
		inval_stop(fs);
}

void fs_free(struct fs *fs)
{
	if (!fs)
		return;
	inval_stop(fs);
	inval_free(fs);
	uploads_free(fs);
	open_files_free(fs);
	pthread_mutex_destroy(&fs->opens_lock);
	local_free(fs->local);
	pthread_mutex_destroy(&fs->uploads_lock);
	search_free(fs);
	free(fs);
}
