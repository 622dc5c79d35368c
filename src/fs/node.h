/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What each kind of inode (inode.h) shows the kernel: its attributes, and
 * its entry (attributes, generation and how long the kernel may keep them).
 * Used by the reading and the changing operations alike; calls nothing of
 * theirs.
 */
#ifndef IMAPFS_FS_NODE_H
#define IMAPFS_FS_NODE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "fs/fs_internal.h"
#include "store/parts.h"
#include "util/uid_name.h" /* parse_uid_name, which the files of fs/ use */

void fill_dir_attr(const struct fs *fs, uint64_t ino, struct stat *stbuf);
/* A <uid>.parts directory: dated as its message. */
void fill_parts_dir_attr(const struct fs *fs, uint64_t ino, const struct store_msg *m,
			 struct stat *stbuf);
void fill_msg_attr(const struct fs *fs, uint64_t ino, const struct store_msg *m, struct stat *stbuf);
/* Part idx of p, inode ino. */
void part_attr(const struct fs *fs, uint64_t ino, const struct store_parts *p, size_t idx,
	       struct stat *stbuf);


/* Entry of a child mailbox directory. */
void dir_entry_param(const struct fs *fs, uint32_t id, struct fuse_entry_param *e);
void msg_entry_param(const struct fs *fs, uint32_t id, uint32_t uidvalidity,
		     const struct store_msg *m, struct fuse_entry_param *e);
void parts_dir_entry_param(const struct fs *fs, uint32_t id, uint32_t uidvalidity,
			   const struct store_msg *m, struct fuse_entry_param *e);
void part_entry_param(const struct fs *fs, const struct store_parts *p, size_t idx,
		      struct fuse_entry_param *e);
/* The entry of a local node (local.h) from its attributes. */
void local_entry_param(const struct fs *fs, uint64_t ino, const struct stat *st,
		       struct fuse_entry_param *e);

/*
 * The parts of the message an INO_PARTS or INO_PART inode belongs to, held
 * (store_parts_put). Returns 0 or -errno (-ESTALE as store_message).
 */
int parts_of(struct fs *fs, fuse_ino_t ino, struct store_parts **out);

#endif
