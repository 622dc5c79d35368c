/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * setattr: size, mode, owner and times. A file being written takes them
 * (upload.c), a local file too (local.h); a message keeps what the server
 * has, except the mode of one written through the mount.
 */
#ifndef IMAPFS_FS_SETATTR_H
#define IMAPFS_FS_SETATTR_H

#include "fs/fs_internal.h"

void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		struct fuse_file_info *fi);

#endif
