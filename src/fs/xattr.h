/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Extended attributes: what IMAP knows of a message, part or mailbox beyond
 * its bytes (user.imap.*, user.mime_type, ...), and the one that can be
 * set, a message's flags (user.imap.flags: STORE, or kept for the APPEND of
 * a file still being written).
 */
#ifndef IMAPFS_FS_XATTR_H
#define IMAPFS_FS_XATTR_H

#include "fs/fs_internal.h"

void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
/* Lists the names of ino's attributes that have a value. */
void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		 size_t size, int flags);
void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

#endif
