/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the fs layer's files share: the state behind the FUSE operations and
 * the helpers both the reading side (fs.c) and the changing side (write.c)
 * use. Private to src/fs/.
 */
#ifndef IMAPFS_FS_INTERNAL_H
#define IMAPFS_FS_INTERNAL_H

#include <pthread.h>
#include <time.h>
#include <sys/stat.h>

#include "fs/fs.h"
#include "fs/local.h"
#include "store/parts.h"

/* READ_WINDOW sizes and the open-file window live in fs.c. */

struct upload;

struct fs {
	struct store *st;
	struct fs_options opts;
	uid_t uid;
	gid_t gid;
	time_t mounted_at;

	struct fuse_session *se;
	struct local *local; /* names beginning with '.': never the server's (local.h) */

	/* Directory invalidations queued for the kernel (see fs_inval_dir). */
	pthread_mutex_t defer_lock;
	pthread_cond_t defer_cond;
	struct deferred *deferred, *deferred_tail; /* FIFO */
	bool defer_stop;
	bool defer_running;
	bool epoch_works; /* the defer thread's own */
	pthread_t defer_thread;

	/* Recent moves, for the kernel's old inode of a moved message (see moved_to). */
	struct { uint32_t from, uid, to, newuid; bool parts_gone; } moved[256];
	unsigned nmoved;

	/* Names whose message was removed through the mount lately (see note_unlinked). */
	struct { uint32_t mailbox; uint64_t ino; char name[64]; } unlinked[16];
	unsigned nunlinked;

	/*
	 * Open message and part files: the kernel sends no release for those
	 * still open when the session ends, so fs_free() frees what is left.
	 */
	pthread_mutex_t opens_lock;
	struct open_msg *open_msgs;

	pthread_mutex_t uploads_lock; /* the uploads list, every upload's fields, moved[], unlinked[] */
	struct upload *uploads;
	uint32_t upload_serial;
};

/*
 * An open message or part file: the last window of bytes fetched, for the
 * reads that follow.
 */
struct open_msg {
	struct open_msg *prev, *next; /* fs->open_msgs, under fs->opens_lock */
	pthread_mutex_t lock;
	uint32_t mailbox, uidvalidity, uid;
	struct store_parts *parts; /* a part file: its message's parts, held */
	size_t part;
	uint64_t size;
	char *win;
	uint64_t win_off;
	size_t win_len, win_cap;
	size_t next_window;
	bool short_logged;
	struct timespec failed_at; /* last failed fetch: readahead after it fails at once */
};


struct fs *fs_of(fuse_req_t req);
/*
 * Until the kernel forgets it, a moved message's old inode is what the kernel
 * files under its new name (mv stats it right away): where it went, if it
 * was moved recently. Returns true and sets *to, *newuid.
 */
bool moved_to(struct fs *fs, uint32_t from, uint32_t uid, uint32_t *to, uint32_t *newuid);
/*
 * Whether message uid of from was moved, sent to Trash or expunged through
 * the mount lately and its <uid>.parts view not removed yet: rm -r removes
 * <uid>.eml, then the <uid>.parts it listed before, which must still look
 * up, list (empty) and rmdir without error.
 */
bool removed_here(struct fs *fs, uint32_t from, uint32_t uid);
/* Its <uid>.parts view was removed too: it looks up no more. */
void forget_removed(struct fs *fs, uint32_t from, uint32_t uid);
/*
 * The message of an INO_MESSAGE inode, following a recent move (the kernel
 * keeps the old inode under the new name until the entry expires). Sets
 * *ino to the inode of where the message is now, fills *m and *uidvalidity.
 * Returns 0 or -errno (-ENOENT, -ESTALE as store_message).
 */
int message_of(struct fs *fs, fuse_ino_t *ino, struct store_msg *m, uint32_t *uidvalidity);
void fill_dir_attr(const struct fs *fs, uint64_t ino, struct stat *stbuf);
void fill_msg_attr(const struct fs *fs, uint64_t ino, const struct store_msg *m, struct stat *stbuf);
/* "<uid><suffix>" with a canonical decimal UID. */
bool parse_uid_name(const char *name, const char *suffix, uint32_t *uid);
void dir_entry_param(const struct fs *fs, uint32_t id, struct fuse_entry_param *e);
void msg_entry_param(const struct fs *fs, uint32_t id, uint32_t uidvalidity,
		     const struct store_msg *m, struct fuse_entry_param *e);

/* Whether parent/name is on the local side (local.h), as this mount is set. */
static inline bool is_local(const struct fs *fs, uint64_t parent, const char *name)
{
	return !fs->opts.dotfiles_server && local_place(parent, name);
}

/*
 * An open local file's handle: its descriptor, tagged so that a handle of
 * the message a local file became (an open_msg pointer) is never taken for one.
 */
#define LOCAL_FH_TAG (UINT64_C(1) << 63)
static inline int local_fh(uint64_t fh)
{
	return (fh & LOCAL_FH_TAG) ? (int)(fh & 0x7fffffff) : -1;
}
/*
 * The message a local file became when renamed to a plain name (its inode
 * stays under that name in the kernel until the entry expires). Sets *msg.
 */
bool local_became(struct fs *fs, uint64_t ino, uint64_t *msg);

/* The entry of a local node (local.h) from its attributes. */
void local_entry_param(const struct fs *fs, uint64_t ino, const struct stat *st,
		       struct fuse_entry_param *e);

/*
 * Names made through the mount (write.c): files being written before their
 * APPEND, and the names they (or messages moved in) keep afterwards, which
 * refer to the message's UID. Lookups fall back to them after the server's
 * names; readdir does not list them (the message shows as <uid>.eml).
 * Return 0 with e/stbuf filled, or -ENOENT.
 */
int upload_lookup(struct fs *fs, uint32_t mailbox, const char *name, struct fuse_entry_param *e);
int upload_getattr(struct fs *fs, fuse_ino_t ino, struct stat *stbuf);
/*
 * Calls fn for each file of mailbox being written or kept empty (touch): not
 * on the server yet, but a file the user made. Under the uploads lock.
 */
int upload_list(struct fs *fs, uint32_t mailbox,
		int (*fn)(void *ctx, const char *name, uint64_t ino, const struct stat *st),
		void *ctx);
void uploads_free(struct fs *fs);

/* The changing operations (write.c). */
void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi);
void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
	      struct fuse_file_info *fi);
void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
/* Releases an upload's handle; true if fi was one (else fs.c's release applies). */
bool upload_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
/* Reads back an upload still being written; true if ino was one. */
bool upload_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi);
/* Opens an upload that is still being written; true if ino was one. */
bool upload_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		struct fuse_file_info *fi);
void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
	       const char *newname, unsigned int flags);
void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		 size_t size, int flags);
void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

#endif
