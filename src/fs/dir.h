/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Directory listings: opendir takes a snapshot of the root, a mailbox (its
 * child mailboxes, then <uid>.eml or the name it was written under and
 * <uid>.parts a message, then the files the user made there), a local
 * directory, or a message's parts; readdir and readdirplus read it by
 * offset; releasedir frees it.
 */
#ifndef IMAPFS_FS_DIR_H
#define IMAPFS_FS_DIR_H

#include "fs/fs_internal.h"

void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi);
void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi);
void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

#endif
