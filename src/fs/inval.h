/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel invalidations (fs_inval_dir, _name, _message in fs.h): queued
 * from any thread, and sent from a thread of their own, so that no FUSE
 * operation and no store lock ever waits on the kernel. Owns struct fs's
 * defer_* fields and epoch_works; calls nothing else of src/fs/.
 */
#ifndef IMAPFS_FS_INVAL_H
#define IMAPFS_FS_INVAL_H

#include "fs/fs_internal.h"

/* Before anything is queued (fs_new). */
void inval_init(struct fs *fs);
/* Starts the thread; fs->se is set. Until then nothing is queued. */
void inval_start(struct fs *fs);
/*
 * Sends what is queued and ends the thread; nothing is queued after it. Before
 * the session's fd closes (fs_stop_notifying); again from fs_free, a no-op.
 */
void inval_stop(struct fs *fs);
/* Frees what inval_init made, and anything queued too late to send (fs_free). */
void inval_free(struct fs *fs);

#endif
