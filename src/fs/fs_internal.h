/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The state behind the FUSE operations, shared by every file of src/fs/,
 * and the conventions they all follow. Private to src/fs/.
 *
 * The files and what each owns (a file calls only those listed after it):
 *
 *   fs.c      the operations table, fs_new/fs_free, init and statfs
 *   lookup.c  lookup and getattr: what a name or an inode is
 *   dir.c     opendir, readdir(plus), releasedir: directory listings
 *   file.c    open, read, release: reading messages, parts and local files
 *   xattr.c   the extended attributes, read and set (flags)
 *   names.c   unlink, rename, mkdir, rmdir, symlink, link: names on the server
 *   setattr.c setattr: size, mode, owner and times
 *   upload.c  create, write, flush: files written through the mount, and the
 *             names they keep
 *   spool.c   a new message's bytes before its APPEND
 *   recent.c  what was moved or removed through the mount lately
 *   node.c    each kind of inode's attributes and entry
 *   inval.c   the kernel invalidations and their thread
 *   local.c   the local side (local.h), interrupt.c FUSE interrupts
 *
 * Operations reply themselves; helpers return 0 or -errno and never reply.
 */
#ifndef IMAPFS_FS_INTERNAL_H
#define IMAPFS_FS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <sys/stat.h>

#include "fs/fs.h"
#include "fs/local.h"
#include "store/store.h"
#include "util/uid_name.h"

#define UPLOAD_BUCKETS 4096

struct deferred;
struct open_msg;
struct upload;

/* A message moved or removed through the mount lately (recent.h). */
struct moved_entry {
	uint32_t from, uid, to, newuid;
	bool parts_gone;
	bool has_was;              /* moved with no new UID known (offline: journaled) */
	struct store_msg was;      /* then: the message as it was listed */
	uint32_t was_uidvalidity;
	char name[64];             /* and the name it was moved to, if it fits */
	int64_t at_ms;             /* when (monotonic): the above answers for a moment only */
};

struct fs {
	struct store *st;
	struct fs_options opts;
	uid_t uid;
	gid_t gid;
	time_t mounted_at;

	struct fuse_session *se;
	struct local *local; /* names beginning with '.': never the server's (local.h) */

	/* Directory invalidations queued for the kernel (inval.c, see fs_inval_dir). */
	pthread_mutex_t defer_lock;
	pthread_cond_t defer_cond;
	struct deferred *deferred, *deferred_tail; /* FIFO */
	bool defer_stop;
	bool defer_running;
	bool epoch_works; /* the defer thread's own */
	bool watched;            /* fs_set_watched() */
	atomic_bool long_names;  /* watched, and the kernel has INC_EPOCH (msg_name_timeout()) */
	pthread_t defer_thread;

	/* Recent moves, for the kernel's old inode of a moved message (recent.c). */
	struct moved_entry moved[256];
	unsigned nmoved;

	/* Names whose message was removed through the mount lately (recent.c). */
	struct { uint32_t mailbox; uint64_t ino; char name[64]; } unlinked[16];
	unsigned nunlinked;

	/*
	 * Open message and part files (file.c): the kernel sends no release
	 * for those still open when the session ends, so fs_free() frees what
	 * is left.
	 */
	pthread_mutex_t opens_lock;
	struct open_msg *open_msgs;

	/* The queries of search directories, by serial (search.c). */
	pthread_mutex_t searches_lock; /* a leaf */
	struct { uint32_t mailbox; char *query; } *searches;
	size_t nsearches, searches_cap;
	/* Per .search (its mailbox, STORE_ROOT_ID at the root): why its latest query failed. */
	struct { uint32_t mailbox; char *text; } *search_errors;
	size_t nsearch_errors, search_errors_cap;

	pthread_mutex_t uploads_lock; /* the uploads list, every upload's fields, moved[], unlinked[] */
	/*
	 * upload.c: every name written through the mount stays here while the
	 * kernel may ask for it (cp of 50,000 makes 50,000), so each is found
	 * by hash, not by a walk of the list.
	 */
	struct upload *uploads;       /* newest first */
	struct upload *upload_names[UPLOAD_BUCKETS]; /* by mailbox and name */
	struct upload *upload_inos[UPLOAD_BUCKETS];  /* by inode number */
	uint64_t uploads_pruned_at; /* store_changes_ended() when journaled ones were last pruned, + 1 */
	uint32_t upload_serial;
	bool uploads_restored; /* copies journaled by an earlier mount are in the table (upload.c) */
};

static inline struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Whether parent/name is on the local side (local.h), as this mount is set. */
static inline bool is_local(const struct fs *fs, uint64_t parent, const char *name)
{
	return !fs->opts.dotfiles_server && local_place(parent, name);
}

/*
 * Whether name has the form of a message's name (<UID>.eml, <UID>~.eml, a
 * readable name) or of its parts directory's: what it names, the store says.
 */
static inline bool message_name_form(const char *name)
{
	uint32_t uid;

	return parse_uid_name(name, ".eml", &uid) || parse_uid_name(name, DISPLACED_SUFFIX, &uid) ||
	       parse_readable_name(name, ".eml", &uid);
}

static inline bool parts_name_form(const char *name)
{
	uint32_t uid;

	return parse_uid_name(name, ".parts", &uid) || parse_readable_name(name, ".parts", &uid);
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

#endif
