/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Names made through the mount: files being written before their APPEND,
 * and the names they (or messages moved in) keep afterwards, which refer to
 * the message's UID. Lookups fall back to them after the server's names;
 * readdir does not list them (the message shows as <uid>.eml). Also the
 * operations that write a new file (create, write, flush), and the open,
 * read and release of one still being written.
 *
 * The table is struct fs's uploads, under fs->uploads_lock; every function
 * here takes the lock itself (callers must not hold it). A struct upload is
 * the table's: others only pass the pointer back. Operations reply; the
 * rest return 0 or -errno.
 */
#ifndef IMAPFS_FS_UPLOAD_H
#define IMAPFS_FS_UPLOAD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "fs/fs_internal.h"

/* Return 0 with e/stbuf filled, or -ENOENT. */
int upload_lookup(struct fs *fs, uint32_t mailbox, const char *name, struct fuse_entry_param *e);
int upload_getattr(struct fs *fs, fuse_ino_t ino, struct stat *stbuf);
/*
 * Calls fn for each file of mailbox being written or kept empty (touch): not
 * on the server yet, but a file the user made. Under the uploads lock.
 */
int upload_list(struct fs *fs, uint32_t mailbox,
		int (*fn)(void *ctx, const char *name, uint64_t ino, const struct stat *st),
		void *ctx);
/*
 * A copy into mailbox waits in the journal (offline) as name: listed, read
 * back from fd (the table's now), size bytes dated date, until it is sent.
 * replace: it takes the name from an entry there (else it is kept).
 */
void upload_journaled(struct fs *fs, uint32_t mailbox, const char *name, int fd, uint64_t size,
		      int64_t date, bool replace);
/* At unmount: frees the table (nothing is open any more). */
void uploads_free(struct fs *fs);

/* The operations: a local name's file (local.h) or a new message's spool. */
void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi);
void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
	      struct fuse_file_info *fi);
/* The first close APPENDs: close() reports a refusal. */
void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
/* Opens an upload that is still being written; true if ino was one (then replied). */
bool upload_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
/* Reads back an upload still being written; true if ino was one (then replied). */
bool upload_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi);
/* Releases an upload's handle; true if ino was one (then replied). */
bool upload_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

/*
 * FUSE_SET_ATTR_* of to_set from attr on upload ino: its size while it is
 * written, and the date (the INTERNALDATE) and mode it is sent with.
 * *stbuf the attributes after.
 */
int upload_setattr(struct fs *fs, fuse_ino_t ino, const struct stat *attr, int to_set,
		   struct stat *stbuf);
/*
 * Upload ino is sent with the flags *norm: taken (set to NULL), returns 0;
 * -ENOENT. Once it was sent, -EAGAIN with *norm left: the message's flags
 * are set instead (upload_sent_as).
 */
int upload_set_flags(struct fs *fs, fuse_ino_t ino, char **norm);
/* The INO_MESSAGE inode upload ino became once sent, or 0 (no UID known). */
uint64_t upload_sent_as(struct fs *fs, fuse_ino_t ino);

/*
 * Whether mailbox/name was made through the mount: *sent whether it was
 * APPENDed, *uid its message then (0 if the server did not say). No pointer
 * is handed out: the last close of a refused upload may free it at any time
 * (RELEASE is not serialised with directory operations), so the functions
 * below find it again by name.
 */
bool upload_find(struct fs *fs, uint32_t mailbox, const char *name, bool *sent, uint32_t *uid);
/*
 * Takes mailbox/name out of the table if it is still there (its message
 * went elsewhere, or rm): a copy waiting in the journal is taken back from
 * it (store_cancel_append()). 0, or -EBUSY for one that may be sent already
 * (rm of it waits until it is).
 */
int upload_forget(struct fs *fs, uint32_t mailbox, const char *name);
/*
 * Renames mailbox/name to to/newname: nothing on the server. -ENOENT if it
 * is gone, -EBUSY while it waits in the journal.
 */
int upload_rename(struct fs *fs, uint32_t mailbox, const char *name, uint32_t to,
		  const char *newname);
/*
 * name in mailbox is message uid now: at once here, and kept by the store
 * unless the name is of the form <N>.eml and the message was moved (its
 * new UID is what the server and the user's listing call it then).
 */
void upload_name_sent(struct fs *fs, uint32_t mailbox, const char *name, uint32_t uid,
		      unsigned mode, bool moved);

#endif
