/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Files written through the mount, and the names they keep (see upload.h).
 *
 * A file written through the mount is spooled to an unlinked temporary file
 * and APPENDed at its first close (flush), so close() reports a refusal; the
 * name it was written under then refers to the new message, so tools that
 * set times or rename after closing (cp -p, rsync, install) find it.
 */
#include "fs/upload.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/inode.h"
#include "fs/node.h"
#include "fs/recent.h"
#include "fs/spool.h"
#include "log.h"
#include "util/array.h"

struct upload {
	struct upload *next, *prev;          /* fs->uploads */
	struct upload *name_next, *ino_next; /* its chains in fs->upload_names, fs->upload_inos */
	uint64_t ino;
	uint32_t mailbox;
	char *name;
	int fd;           /* spool file until the APPEND, then -1 */
	uint64_t size;
	char *flags;      /* user.imap.flags set before the APPEND */
	int64_t date;     /* mtime set before the APPEND (cp -p): the INTERNALDATE */
	bool appending;
	bool appended;    /* then uid is the message, 0 if the server did not say */
	uint32_t uid;
	bool refused;     /* its APPEND failed: the name goes at the last close */
	bool journaled;   /* its APPEND waits in the journal (offline): fd kept, it reads back */
	bool listed;      /* still in fs->uploads */
	unsigned opens;
	unsigned writers; /* opens for writing: one at a time, so bytes never mix */
	unsigned writing; /* pwrites in flight: no APPEND reads the spool meanwhile */
	uint64_t shown_ino; /* st_ino shown, when it recycles an unlinked message's (note_unlinked) */
	unsigned mode;      /* permission bits given (create, chmod): kept with the name */
};

/* ---- the table (caller holds fs->uploads_lock) ---- */

/* FNV-1a: names are the user's own, not a server's. */
static struct upload **name_bucket(struct fs *fs, uint32_t mailbox, const char *name)
{
	uint32_t h = 2166136261u ^ mailbox;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 16777619u;
	return &fs->upload_names[h % UPLOAD_BUCKETS];
}

/* Serials are handed out in turn: they spread over the buckets by themselves. */
static struct upload **ino_bucket(struct fs *fs, uint64_t ino)
{
	return &fs->upload_inos[ino_uid(ino) % UPLOAD_BUCKETS];
}

static struct upload *find_name(struct fs *fs, uint32_t mailbox, const char *name)
{
	for (struct upload *u = *name_bucket(fs, mailbox, name); u; u = u->name_next)
		if (u->mailbox == mailbox && strcmp(u->name, name) == 0)
			return u;
	return NULL;
}

static struct upload *find_ino(struct fs *fs, uint64_t ino)
{
	for (struct upload *u = *ino_bucket(fs, ino); u; u = u->ino_next)
		if (u->ino == ino)
			return u;
	return NULL;
}

static void hash_name(struct fs *fs, struct upload *u)
{
	struct upload **b = name_bucket(fs, u->mailbox, u->name);

	u->name_next = *b;
	*b = u;
}

/* Before u's mailbox or name changes, and when it leaves the table. */
static void unhash_name(struct fs *fs, struct upload *u)
{
	for (struct upload **pp = name_bucket(fs, u->mailbox, u->name); *pp;
	     pp = &(*pp)->name_next) {
		if (*pp == u) {
			*pp = u->name_next;
			return;
		}
	}
}

static void upload_destroy(struct upload *u)
{
	if (u->fd >= 0)
		close(u->fd);
	free(u->name);
	free(u->flags);
	free(u);
}

/* Takes u out of the table; it is freed now or at its last release. */
static void unlist(struct fs *fs, struct upload *u)
{
	unhash_name(fs, u);
	for (struct upload **pp = ino_bucket(fs, u->ino); *pp; pp = &(*pp)->ino_next) {
		if (*pp == u) {
			*pp = u->ino_next;
			break;
		}
	}
	if (u->prev)
		u->prev->next = u->next;
	else
		fs->uploads = u->next;
	if (u->next)
		u->next->prev = u->prev;
	u->listed = false;
	if (u->opens == 0)
		upload_destroy(u);
}

static struct upload *add_name(struct fs *fs, uint32_t mailbox, const char *name)
{
	struct upload *u = calloc(1, sizeof(*u)), *old;

	if (!u || !(u->name = strdup(name))) {
		free(u);
		return NULL;
	}
	/* A name written again replaces the old reference (the old message stays). */
	old = find_name(fs, mailbox, name);
	if (old)
		unlist(fs, old);
	u->fd = -1;
	u->mailbox = mailbox;
	u->ino = ino_make(INO_UPLOAD, mailbox, ++fs->upload_serial, 0);
	u->listed = true;
	u->next = fs->uploads;
	if (u->next)
		u->next->prev = u;
	fs->uploads = u;
	hash_name(fs, u);
	u->ino_next = *ino_bucket(fs, u->ino);
	*ino_bucket(fs, u->ino) = u;
	return u;
}

void uploads_free(struct fs *fs)
{
	while (fs->uploads) {
		struct upload *u = fs->uploads;

		fs->uploads = u->next;
		upload_destroy(u);
	}
}

static void upload_attr(const struct fs *fs, const struct upload *u, struct stat *stbuf)
{
	struct store_msg m = { .size = u->size, .date = u->date ? u->date : fs->mounted_at };

	fill_msg_attr(fs, u->shown_ino ? u->shown_ino : u->ino, &m, stbuf);
	stbuf->st_mode = S_IFREG | (u->mode ? u->mode : 0644);
}

/* A copy journaled by an earlier mount, to be put in the table. */
struct restored {
	uint32_t mailbox;
	char *name;
	uint64_t size;
	int64_t date;
	int fd;
};

struct restoring {
	struct restored *v;
	size_t n, cap;
};

static int restore_one(void *ctx, uint32_t mailbox, const char *name, uint64_t size,
		       int64_t date, int fd)
{
	struct restoring *rs = ctx;
	char *copy = strdup(name);

	if (!copy || array_reserve((char **)&rs->v, &rs->cap, rs->n + 1, sizeof(*rs->v)) < 0) {
		free(copy);
		close(fd);
		return -ENOMEM;
	}
	rs->v[rs->n++] = (struct restored){ mailbox, copy, size, date, fd };
	return 0;
}

/*
 * Once a mount: what an earlier mount copied in while offline, still in the
 * journal, shows under its name and reads back as this mount's own do.
 */
static void restore_journaled(struct fs *fs)
{
	struct restoring rs = { 0 };
	bool done;

	pthread_mutex_lock(&fs->uploads_lock);
	done = fs->uploads_restored;
	fs->uploads_restored = true;
	pthread_mutex_unlock(&fs->uploads_lock);
	if (done || store_pending_changes(fs->st) == 0)
		return;
	if (store_pending_appends(fs->st, restore_one, &rs) < 0)
		log_warn("cannot show the copies waiting in the journal; they are sent all the same");
	for (size_t i = 0; i < rs.n; i++) {
		upload_journaled(fs, rs.v[i].mailbox, rs.v[i].name, rs.v[i].fd, rs.v[i].size,
				 rs.v[i].date, false);
		free(rs.v[i].name);
	}
	free(rs.v);
}

/*
 * Upload ino, just marked journaled as name in mailbox: the replay may have
 * carried it out already, before it was marked, and a prune_journaled()
 * meanwhile passed it by; none looks again until another change ends. Once
 * marked, a later end moves store_changes_ended(). Takes the lock.
 */
static void unlist_if_carried_out(struct fs *fs, uint32_t mailbox, const char *name,
				  uint64_t ino)
{
	struct upload *u;

	if (store_append_pending(fs->st, mailbox, name))
		return;
	pthread_mutex_lock(&fs->uploads_lock);
	u = find_ino(fs, ino); /* by its own number: the upload itself may be gone */
	if (u && u->journaled)
		unlist(fs, u);
	pthread_mutex_unlock(&fs->uploads_lock);
}

void upload_journaled(struct fs *fs, uint32_t mailbox, const char *name, int fd, uint64_t size,
		      int64_t date, bool replace)
{
	uint64_t ino = 0;
	struct upload *u;

	pthread_mutex_lock(&fs->uploads_lock);
	u = !replace && find_name(fs, mailbox, name) ? NULL : add_name(fs, mailbox, name);
	if (u) {
		u->fd = fd;
		u->size = size;
		u->date = date;
		u->journaled = true;
		ino = u->ino;
	} else {
		close(fd);
	}
	pthread_mutex_unlock(&fs->uploads_lock);
	if (ino)
		unlist_if_carried_out(fs, mailbox, name, ino);
}

/*
 * Uploads whose journaled APPEND has been carried out since leave the
 * table: the name is the server's message now (the replay named it so).
 * Only after some journaled change ended: every lookup of a cp asks, and
 * each answer costs a walk of the journal. The store is asked without the
 * uploads lock held.
 */
static void prune_journaled(struct fs *fs)
{
	uint64_t ended = store_changes_ended(fs->st);
	struct { uint32_t mailbox; char *name; } *v = NULL;
	size_t n = 0, cap = 0;
	bool failed = false;

	pthread_mutex_lock(&fs->uploads_lock);
	if (fs->uploads_pruned_at == ended + 1) {
		pthread_mutex_unlock(&fs->uploads_lock);
		return;
	}
	for (struct upload *u = fs->uploads; u && !failed; u = u->next) {
		if (!u->journaled)
			continue;
		failed = array_reserve((char **)&v, &cap, n + 1, sizeof(*v)) < 0 ||
			 !(v[n].name = strdup(u->name));
		if (!failed)
			v[n++].mailbox = u->mailbox;
	}
	/* Read before the walk: a change ending meanwhile has the next lookup walk again. */
	if (!failed)
		fs->uploads_pruned_at = ended + 1;
	pthread_mutex_unlock(&fs->uploads_lock);
	for (size_t i = 0; i < n; i++) {
		if (!store_append_pending(fs->st, v[i].mailbox, v[i].name)) {
			struct upload *u;

			pthread_mutex_lock(&fs->uploads_lock);
			u = find_name(fs, v[i].mailbox, v[i].name);
			if (u && u->journaled)
				unlist(fs, u);
			pthread_mutex_unlock(&fs->uploads_lock);
		}
		free(v[i].name);
	}
	free(v);
}

int upload_lookup(struct fs *fs, uint32_t mailbox, const char *name, struct fuse_entry_param *e)
{
	struct store_msg m;
	uint32_t uid = 0, uidvalidity;
	struct upload *u;
	int r = -ENOENT;

	restore_journaled(fs);
	prune_journaled(fs);
	pthread_mutex_lock(&fs->uploads_lock);
	u = find_name(fs, mailbox, name);
	if (u && !(u->appended && u->uid)) {
		memset(e, 0, sizeof(*e));
		e->ino = u->ino;
		upload_attr(fs, u, &e->attr);
		r = 0;
	} else if (u) {
		uid = u->uid;
	}
	pthread_mutex_unlock(&fs->uploads_lock);
	/* Sent: the name is the message now. */
	if (uid && store_message(fs->st, mailbox, uid, &m, &uidvalidity) == 0) {
		msg_entry_param(fs, mailbox, uidvalidity, &m, e);
		r = 0;
	}
	return r;
}

int upload_getattr(struct fs *fs, fuse_ino_t ino, struct stat *stbuf)
{
	struct upload *u;
	int r = -ENOENT;

	pthread_mutex_lock(&fs->uploads_lock);
	u = find_ino(fs, ino);
	if (u) {
		upload_attr(fs, u, stbuf);
		r = 0;
	}
	pthread_mutex_unlock(&fs->uploads_lock);
	return r;
}

int upload_list(struct fs *fs, uint32_t mailbox,
		int (*fn)(void *ctx, const char *name, uint64_t ino, const struct stat *st),
		void *ctx)
{
	struct stat st;
	int r = 0;

	restore_journaled(fs);
	prune_journaled(fs);
	pthread_mutex_lock(&fs->uploads_lock);
	for (struct upload *u = fs->uploads; u && r == 0; u = u->next) {
		if (u->mailbox != mailbox || u->appended)
			continue;
		upload_attr(fs, u, &st);
		r = fn(ctx, u->name, u->ino, &st);
	}
	pthread_mutex_unlock(&fs->uploads_lock);
	return r;
}

/* ---- writing a new message ---- */

void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct upload *u;
	bool selectable;
	int fd, r;

	if (fs->opts.readonly) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (is_local(fs, parent, name)) {
		struct stat st;
		uint64_t ino;

		r = local_create(fs->local, parent, name, fi->flags, mode, &ino, &st, &fd);
		if (r < 0) {
			fuse_reply_err(req, -r);
			return;
		}
		local_entry_param(fs, ino, &st, &e);
		fi->fh = LOCAL_FH_TAG | (uint64_t)fd;
		fi->direct_io = 1;
		fuse_reply_create(req, &e, fi);
		return;
	}
	if (ino_kind(parent) != INO_MAILBOX) {
		/* The root and .parts directories hold no messages. */
		fuse_reply_err(req, ino_kind(parent) == INO_ROOT ? EPERM : EACCES);
		return;
	}
	r = store_mailbox_exists(fs->st, ino_mailbox(parent), &selectable);
	if (r == 0 && !selectable)
		r = -EPERM; /* \Noselect: a folder of folders holds no mail */
	if (r == 0)
		r = store_may(fs->st, ino_mailbox(parent), "i"); /* before any upload */
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	fd = spool_open();
	if (fd < 0) {
		log_error("cannot create a spool file for %s: %s", name, strerror(-fd));
		fuse_reply_err(req, -fd);
		return;
	}
	pthread_mutex_lock(&fs->uploads_lock);
	u = add_name(fs, ino_mailbox(parent), name);
	if (u) {
		u->fd = fd;
		u->opens = 1;
		u->writers = (fi->flags & O_ACCMODE) != O_RDONLY;
		u->shown_ino = take_unlinked(fs, ino_mailbox(parent), name);
		u->mode = mode & 07777;
		memset(&e, 0, sizeof(e));
		e.ino = u->ino;
		upload_attr(fs, u, &e.attr);
		/*
		 * Its attributes are the kernel's own for a second: cp's fstat and
		 * the write's checks ask for nothing (two requests a file). Its
		 * size grows by the kernel's own writes; its name stays uncached,
		 * for the message it becomes at close.
		 */
		e.attr_timeout = 1.0;
	}
	pthread_mutex_unlock(&fs->uploads_lock);
	if (!u) {
		close(fd);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fi->fh = (uintptr_t)u;
	fi->direct_io = 1; /* the bytes go to the spool, not to a page cache of a message */
	fuse_reply_create(req, &e, fi);
}

bool upload_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct upload *u;
	int err = 0;

	if (ino_kind(ino) != INO_UPLOAD)
		return false;
	pthread_mutex_lock(&fs->uploads_lock);
	u = find_ino(fs, ino);
	bool writing = (fi->flags & O_ACCMODE) != O_RDONLY;

	if (!u)
		err = ENOENT;
	else if (u->appended || u->fd < 0 || (writing && u->journaled))
		err = EACCES; /* sent, or its bytes journaled: a message never changes */
	else if (writing && u->writers)
		err = EEXIST; /* another process is writing this new message */
	else {
		u->opens++;
		u->writers += writing;
		u->refused = false;
		/* Under the lock: a flush may APPEND and close the spool at any time. */
		if ((fi->flags & O_TRUNC) && ftruncate(u->fd, 0) == 0)
			u->size = 0;
	}
	pthread_mutex_unlock(&fs->uploads_lock);
	if (err) {
		fuse_reply_err(req, err);
		return true;
	}
	fi->fh = (uintptr_t)u;
	fi->direct_io = 1;
	fuse_reply_open(req, fi);
	return true;
}

void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
	      struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct upload *u = (struct upload *)(uintptr_t)fi->fh;
	ssize_t n;
	int fd, err;

	if (local_fh(fi->fh) >= 0) {
		n = pwrite(local_fh(fi->fh), buf, size, off);
		if (n < 0)
			fuse_reply_err(req, errno);
		else
			fuse_reply_write(req, (size_t)n);
		return;
	}
	if (ino_kind(ino) != INO_UPLOAD) {
		fuse_reply_err(req, EACCES);
		return;
	}
	pthread_mutex_lock(&fs->uploads_lock);
	fd = u->appended || u->appending || u->journaled ? -1 : u->fd;
	if (fd >= 0)
		u->writing++; /* the spool stays open and unread until it is done */
	pthread_mutex_unlock(&fs->uploads_lock);
	if (fd < 0) {
		/* Written after the APPEND (through a second descriptor): it would be lost. */
		fuse_reply_err(req, EBADF);
		return;
	}
	n = pwrite(fd, buf, size, off);
	err = errno;
	pthread_mutex_lock(&fs->uploads_lock);
	u->writing--;
	if (n > 0 && (uint64_t)off + (uint64_t)n > u->size)
		u->size = (uint64_t)off + (uint64_t)n;
	pthread_mutex_unlock(&fs->uploads_lock);
	if (n < 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_write(req, (size_t)n);
}

/* APPENDs u if it has content and was not sent yet. Returns 0 or -errno. */
static int send_upload(struct fs *fs, struct upload *u)
{
	uint64_t size, ino;
	uint32_t uid = 0, mailbox;
	char *flags, *name;
	bool in_journal = false;
	unsigned mode;
	int64_t date;
	int fd, ready, r;

	pthread_mutex_lock(&fs->uploads_lock);
	/*
	 * Unlinked while open: the file is gone, and so is the message it would
	 * have been. Still being written through another descriptor: that
	 * writer's own close sends it.
	 */
	if (u->appended || u->appending || u->journaled || u->size == 0 || u->fd < 0 || !u->listed ||
	    u->writing) {
		pthread_mutex_unlock(&fs->uploads_lock);
		return 0;
	}
	/* Copies: a rename may replace the name meanwhile. */
	name = strdup(u->name);
	flags = u->flags ? strdup(u->flags) : NULL;
	if (!name || (u->flags && !flags)) {
		pthread_mutex_unlock(&fs->uploads_lock);
		free(name);
		free(flags);
		return -ENOMEM;
	}
	u->appending = true;
	fd = u->fd;
	size = u->size;
	date = u->date;
	mailbox = u->mailbox;
	mode = u->mode;
	pthread_mutex_unlock(&fs->uploads_lock);

	r = mail_ready(name, fd, size, &ready, &size);
	if (r == 0)
		r = store_append(fs->st, mailbox, ready, size, flags, date, name, &uid, &in_journal);
	if (ready != fd)
		close(ready);
	free(flags);
	pthread_mutex_lock(&fs->uploads_lock);
	u->appending = false;
	u->refused = r < 0;
	/* Journaled: listed under its name, and read from the spool, until it is carried out. */
	u->journaled = r == 0 && in_journal;
	if (r == 0 && !u->journaled) {
		u->appended = true;
		u->uid = uid;
		close(u->fd);
		u->fd = -1;
	}
	ino = u->ino;
	pthread_mutex_unlock(&fs->uploads_lock);
	if (r == 0 && in_journal)
		unlist_if_carried_out(fs, mailbox, name, ino);
	if (r == 0 && uid)
		store_name_message(fs->st, mailbox, uid, name, mode);
	if (r < 0 && r != -EINVAL)
		log_error("APPEND of %s (%" PRIu64 " bytes) failed: %s", name, size, strerror(-r));
	else if (u->journaled)
		log_debug("%s waits in the journal", name);
	else
		log_debug("appended %s as UID %" PRIu32, name, uid);
	free(name);
	return r;
}

void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	int r = 0;

	if (ino_kind(ino) == INO_UPLOAD)
		r = send_upload(fs, (struct upload *)(uintptr_t)fi->fh);
	fuse_reply_err(req, -r);
}

bool upload_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct upload *u = (struct upload *)(uintptr_t)fi->fh;

	if (ino_kind(ino) != INO_UPLOAD)
		return false;
	pthread_mutex_lock(&fs->uploads_lock);
	u->opens--;
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		u->writers--;
	if (u->opens == 0 && !u->appended && !u->journaled && u->listed &&
	    (u->refused || u->size)) {
		/* Refused (not mail, over quota...): the name goes with it. */
		unlist(fs, u);
	} else if (u->opens == 0 && !u->listed) {
		upload_destroy(u);
	}
	/* Empty and closed (touch): a placeholder that stays, until written. */
	pthread_mutex_unlock(&fs->uploads_lock);
	fuse_reply_err(req, 0);
	return true;
}

bool upload_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct upload *u = (struct upload *)(uintptr_t)fi->fh;
	char *buf;
	ssize_t n;
	int fd;

	if (ino_kind(ino) != INO_UPLOAD)
		return false;
	pthread_mutex_lock(&fs->uploads_lock);
	fd = u->fd >= 0 ? dup(u->fd) : -1;
	pthread_mutex_unlock(&fs->uploads_lock);
	buf = fd >= 0 ? malloc(size ? size : 1) : NULL;
	if (!buf) {
		/* After the APPEND the bytes are the message's: read them as <uid>.eml. */
		if (fd >= 0)
			close(fd);
		fuse_reply_err(req, fd >= 0 ? ENOMEM : EBADF);
		return true;
	}
	n = pread(fd, buf, size, off);
	close(fd);
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
	return true;
}

/* ---- what the other operations change ---- */

int upload_setattr(struct fs *fs, fuse_ino_t ino, const struct stat *attr, int to_set,
		   struct stat *stbuf)
{
	struct upload *u;
	int r = 0;

	pthread_mutex_lock(&fs->uploads_lock);
	u = find_ino(fs, ino);
	if (!u) {
		r = -ENOENT;
	} else if (u->journaled && (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MODE))) {
		r = -EPERM; /* journaled as it was: as for a message, the date cannot change */
	} else if (to_set & FUSE_SET_ATTR_SIZE) {
		if (u->appended || u->fd < 0 || u->journaled)
			r = -EACCES;
		else if (ftruncate(u->fd, attr->st_size) < 0)
			r = -errno;
		else
			u->size = (uint64_t)attr->st_size;
	}
	/* cp -p and rsync set the time before the APPEND: it becomes the INTERNALDATE. */
	if (u && r == 0 && (to_set & FUSE_SET_ATTR_MTIME) && !u->appended)
		u->date = attr->st_mtime;
	if (u && r == 0 && (to_set & FUSE_SET_ATTR_MODE) && !u->appended)
		u->mode = attr->st_mode & 07777;
	if (u && r == 0)
		upload_attr(fs, u, stbuf);
	pthread_mutex_unlock(&fs->uploads_lock);
	return r;
}

int upload_set_flags(struct fs *fs, fuse_ino_t ino, char **norm)
{
	struct upload *u;
	int r = 0;

	pthread_mutex_lock(&fs->uploads_lock);
	u = find_ino(fs, ino);
	if (!u) {
		r = -ENOENT;
	} else if (u->appended) {
		r = -EAGAIN;
	} else if (u->journaled) {
		r = -EBUSY; /* journaled with the flags it had; set them once it is sent */
	} else {
		free(u->flags);
		u->flags = *norm;
		*norm = NULL;
	}
	pthread_mutex_unlock(&fs->uploads_lock);
	return r;
}

uint64_t upload_sent_as(struct fs *fs, fuse_ino_t ino)
{
	struct upload *u;
	uint64_t msg;

	pthread_mutex_lock(&fs->uploads_lock);
	u = find_ino(fs, ino);
	msg = u && u->uid ? ino_make(INO_MESSAGE, u->mailbox, u->uid, 0) : 0;
	pthread_mutex_unlock(&fs->uploads_lock);
	return msg;
}

bool upload_find(struct fs *fs, uint32_t mailbox, const char *name, bool *sent, uint32_t *uid)
{
	struct upload *u;

	pthread_mutex_lock(&fs->uploads_lock);
	u = find_name(fs, mailbox, name);
	if (u) {
		*sent = u->appended;
		*uid = u->uid;
	}
	pthread_mutex_unlock(&fs->uploads_lock);
	return u != NULL;
}

int upload_forget(struct fs *fs, uint32_t mailbox, const char *name)
{
	struct upload *u;
	bool journaled;
	int r = 0;

	pthread_mutex_lock(&fs->uploads_lock);
	u = find_name(fs, mailbox, name);
	journaled = u && u->journaled;
	if (u && !journaled)
		unlist(fs, u);
	pthread_mutex_unlock(&fs->uploads_lock);
	if (!journaled)
		return 0;
	/* Its APPEND is taken back from the journal if it cannot have gone out. */
	r = store_cancel_append(fs->st, mailbox, name);
	if (r == -ENOENT) {
		log_error("%s was copied in meanwhile; remove it again to remove the message", name);
		return -EBUSY; /* prune_journaled() shows the message in its place */
	}
	if (r < 0) {
		log_error("%s is being copied in now; it can be removed once the server has it",
			  name);
		return r;
	}
	pthread_mutex_lock(&fs->uploads_lock);
	u = find_name(fs, mailbox, name);
	if (u && u->journaled)
		unlist(fs, u);
	pthread_mutex_unlock(&fs->uploads_lock);
	return 0;
}

/* name in mailbox is message uid now: kept by the store, and at once here. */
void upload_name_sent(struct fs *fs, uint32_t mailbox, const char *name, uint32_t uid,
		      unsigned mode, bool moved)
{
	struct upload *u;
	uint32_t n;

	/* A message moved under its name of the other mailbox is known by its own there. */
	if (!moved || !(parse_uid_name(name, ".eml", &n) || parse_readable_name(name, ".eml", &n)))
		store_name_message(fs->st, mailbox, uid, name, mode);
	pthread_mutex_lock(&fs->uploads_lock);
	u = add_name(fs, mailbox, name);
	if (u) {
		u->appended = true;
		u->uid = uid;
	}
	pthread_mutex_unlock(&fs->uploads_lock);
}

/* Renames a name made through the mount within its mailbox: nothing on the server. */
int upload_rename(struct fs *fs, uint32_t mailbox, const char *name, uint32_t to,
		  const char *newname)
{
	struct upload *u, *clash;
	unsigned mode = 0;
	uint32_t uid = 0;
	char *copy = strdup(newname);
	int r = 0;

	if (!copy)
		return -ENOMEM;
	pthread_mutex_lock(&fs->uploads_lock);
	u = find_name(fs, mailbox, name);
	if (u && u->journaled) {
		r = -EBUSY; /* journaled under this name and mailbox: moved once it is sent */
	} else if (u) {
		clash = find_name(fs, to, newname);
		if (clash && clash != u)
			unlist(fs, clash); /* replaced: its message stays on the server */
		unhash_name(fs, u);
		free(u->name);
		u->name = copy;
		copy = NULL;
		u->mailbox = to;
		hash_name(fs, u);
		uid = u->appended ? u->uid : 0;
		mode = u->mode;
	} else {
		r = -ENOENT; /* its last close took it, refused, meanwhile */
	}
	pthread_mutex_unlock(&fs->uploads_lock);
	free(copy);
	if (uid)
		store_name_message(fs->st, to, uid, newname, mode);
	return r;
}
