/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lookup and getattr: what a name in a directory is, and what an inode's
 * attributes are now. The server's names first (mailboxes, <uid>.eml,
 * <uid>.parts, names messages were written under), then the names made
 * through the mount (upload.h), then the local side (local.h).
 */
#ifndef IMAPFS_FS_LOOKUP_H
#define IMAPFS_FS_LOOKUP_H

#include "fs/fs_internal.h"

void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

#endif
