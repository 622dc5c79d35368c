/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The setattr operation (see setattr.h). */
#include "fs/setattr.h"

#include <errno.h>
#include <stdlib.h>

#include "fs/inode.h"
#include "fs/node.h"
#include "fs/recent.h"
#include "fs/upload.h"

/*
 * Mode, owner and date have nowhere to go on the server: a change would
 * succeed and change nothing, so it is refused (chmod, chown, touch -d);
 * setting what is there already (cp -p of a message's own date) is no
 * change. The access time means nothing. The mode of a message written
 * through the mount is kept with its name (install -m sets it after close),
 * so that one changes. Returns 0 with *stbuf filled, or -errno.
 */
static int message_setattr(struct fs *fs, fuse_ino_t ino, const struct stat *attr, int to_set,
			   struct stat *stbuf)
{
	struct store_msg m;
	uint32_t uidvalidity;
	int r;

	r = store_message(fs->st, ino_mailbox(ino), ino_uid(ino), &m, &uidvalidity);
	if (r < 0)
		return r;
	fill_msg_attr(fs, ino, &m, stbuf);
	if ((to_set & FUSE_SET_ATTR_MODE) &&
	    (attr->st_mode & 07777) != (stbuf->st_mode & 07777) &&
	    store_message_mode(fs->st, ino_mailbox(ino), ino_uid(ino))) {
		char *name = store_message_name(fs->st, ino_mailbox(ino), ino_uid(ino));

		r = name ? store_name_message(fs->st, ino_mailbox(ino), ino_uid(ino), name,
					      attr->st_mode) : -EPERM;
		free(name);
		if (r < 0)
			return r;
		stbuf->st_mode = S_IFREG | (attr->st_mode & 07777);
	}
	if (((to_set & FUSE_SET_ATTR_MODE) &&
	     (attr->st_mode & 07777) != (stbuf->st_mode & 07777)) ||
	    ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != stbuf->st_uid) ||
	    ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != stbuf->st_gid) ||
	    ((to_set & FUSE_SET_ATTR_MTIME) &&
	     ((to_set & FUSE_SET_ATTR_MTIME_NOW) || attr->st_mtime != stbuf->st_mtime)))
		return -EPERM;
	return 0;
}

void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct stat stbuf;
	int r = 0;

	(void)fi;
	if (fs->opts.readonly) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (ino_kind(ino) == INO_UPLOAD) {
		r = upload_setattr(fs, ino, attr, to_set, &stbuf);
		if (r < 0)
			fuse_reply_err(req, -r);
		else
			fuse_reply_attr(req, &stbuf, 0);
		return;
	}
	if (ino_kind(ino) == INO_LOCAL) {
		r = local_setattr(fs->local, ino, attr, to_set, &stbuf);
		/* Renamed to a plain name, it is a message now: that is what is changed. */
		if (r != -ENOENT || !local_became(fs, ino, &ino)) {
			if (r < 0)
				fuse_reply_err(req, -r);
			else
				fuse_reply_attr(req, &stbuf, fs->opts.dir_timeout);
			return;
		}
	}
	/* A message's bytes and date are fixed: a size change is refused. */
	if (to_set & FUSE_SET_ATTR_SIZE) {
		fuse_reply_err(req, ino_kind(ino) == INO_MESSAGE || ino_kind(ino) == INO_PART ? EACCES
											: EISDIR);
		return;
	}
	switch (ino_kind(ino)) {
	case INO_ROOT:
	case INO_MAILBOX:
	case INO_PARTS:
		fill_dir_attr(fs, ino, &stbuf);
		fuse_reply_attr(req, &stbuf, fs->opts.dir_timeout);
		return;
	case INO_MESSAGE:
		r = message_setattr(fs, ino, attr, to_set, &stbuf);
		if (r < 0)
			break;
		fuse_reply_attr(req, &stbuf, fs->opts.file_timeout);
		return;
	case INO_PART:
		r = -EPERM;
		break;
	default:
		r = -EACCES;
		break;
	}
	fuse_reply_err(req, r == -ESTALE ? ENOENT : -r);
}
