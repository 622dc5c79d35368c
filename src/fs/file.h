/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Open files: open, read and release of messages and parts (a window of
 * bytes fetched, for the reads that follow), of local files (local.h), and
 * of files still being written (upload.h). A message never changes: opening
 * one for writing is refused.
 */
#ifndef IMAPFS_FS_FILE_H
#define IMAPFS_FS_FILE_H

#include "fs/fs_internal.h"

/* Reads of a message start small (head -c, file(1)) and grow while sequential. */
#define READ_WINDOW_MIN (128u << 10)
#define READ_WINDOW_MAX (4u << 20) /* also the kernel's readahead at most (fs_init) */
/* A part's first read stays small: head -c 4096 of an attachment is common. */
#define PART_WINDOW_MIN (64u << 10)
/* Asked past the end a message's listing claims, to see a longer body. */
#define SIZE_SLACK (64u << 10)

void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi);
void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
/* At unmount: frees the message and part files the kernel never released. */
void open_files_free(struct fs *fs);

#endif
