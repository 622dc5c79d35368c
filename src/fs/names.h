/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The operations on names in the server's tree: unlink (to Trash, or
 * EXPUNGE of one UID), rename (MOVE of a message, RENAME of a mailbox, or a
 * local file becoming a message by APPEND), mkdir and rmdir (CREATE,
 * DELETE), and the links mail has none of. Names on the local side go to
 * local.h; names made through the mount to upload.h.
 */
#ifndef IMAPFS_FS_NAMES_H
#define IMAPFS_FS_NAMES_H

#include "fs/fs_internal.h"

void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
	       const char *newname, unsigned int flags);
void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);

#endif
