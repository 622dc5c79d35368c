/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The operations that change mail: copying a file in (APPEND when it is
 * closed), rename (MOVE), unlink (EXPUNGE of one UID), mkdir, rmdir and
 * rename of directories (CREATE, DELETE, RENAME), and flags as an xattr.
 *
 * A file written through the mount is spooled to an unlinked temporary file
 * and APPENDed at its first close (flush), so close() reports a refusal; the
 * name it was written under then refers to the new message, so tools that
 * set times or rename after closing (cp -p, rsync, install) find it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs/fs_internal.h"
#include "fs/inode.h"
#include "log.h"
#include "mime/rfc5322.h"

struct upload {
	struct upload *next;
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
	bool listed;      /* still in fs->uploads */
	unsigned opens;
	unsigned writers; /* opens for writing: one at a time, so bytes never mix */
	uint64_t shown_ino; /* st_ino shown, when it recycles an unlinked message's (see below) */
	unsigned mode;      /* permission bits given (create, chmod): kept with the name */
};

/* ---- the table (caller holds fs->uploads_lock) ---- */

static struct upload *find_name(struct fs *fs, uint32_t mailbox, const char *name)
{
	for (struct upload *u = fs->uploads; u; u = u->next)
		if (u->mailbox == mailbox && strcmp(u->name, name) == 0)
			return u;
	return NULL;
}

static struct upload *find_ino(struct fs *fs, uint64_t ino)
{
	for (struct upload *u = fs->uploads; u; u = u->next)
		if (u->ino == ino)
			return u;
	return NULL;
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
	for (struct upload **pp = &fs->uploads; *pp; pp = &(*pp)->next) {
		if (*pp == u) {
			*pp = u->next;
			break;
		}
	}
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
	fs->uploads = u;
	return u;
}

/* Remembers that uid of from went to newuid of to (to 0: expunged). */
static void note_moved(struct fs *fs, uint32_t from, uint32_t uid, uint32_t to, uint32_t newuid)
{
	unsigned slot;

	pthread_mutex_lock(&fs->uploads_lock);
	slot = fs->nmoved++ % (sizeof(fs->moved) / sizeof(fs->moved[0]));
	fs->moved[slot].from = from;
	fs->moved[slot].uid = uid;
	fs->moved[slot].to = to;
	fs->moved[slot].newuid = newuid;
	fs->moved[slot].parts_gone = false;
	pthread_mutex_unlock(&fs->uploads_lock);
}

bool removed_here(struct fs *fs, uint32_t from, uint32_t uid)
{
	unsigned n = sizeof(fs->moved) / sizeof(fs->moved[0]);
	bool found = false;

	pthread_mutex_lock(&fs->uploads_lock);
	for (unsigned i = 0; i < n && i < fs->nmoved && !found; i++)
		found = fs->moved[i].from == from && fs->moved[i].uid == uid &&
			!fs->moved[i].parts_gone;
	pthread_mutex_unlock(&fs->uploads_lock);
	return found;
}

void forget_removed(struct fs *fs, uint32_t from, uint32_t uid)
{
	unsigned n = sizeof(fs->moved) / sizeof(fs->moved[0]);

	pthread_mutex_lock(&fs->uploads_lock);
	for (unsigned i = 0; i < n && i < fs->nmoved; i++)
		if (fs->moved[i].from == from && fs->moved[i].uid == uid)
			fs->moved[i].parts_gone = true;
	pthread_mutex_unlock(&fs->uploads_lock);
}

/* moved[] entries of local files that became messages: from this, uid the node's serial. */
#define LOCAL_FROM UINT32_MAX

bool local_became(struct fs *fs, uint64_t ino, uint64_t *msg)
{
	uint32_t to, uid;

	if (ino_kind(ino) != INO_LOCAL || !moved_to(fs, LOCAL_FROM, ino_uid(ino), &to, &uid))
		return false;
	*msg = ino_make(INO_MESSAGE, to, uid, 0);
	return true;
}

bool moved_to(struct fs *fs, uint32_t from, uint32_t uid, uint32_t *to, uint32_t *newuid)
{
	unsigned n = sizeof(fs->moved) / sizeof(fs->moved[0]);
	bool found = false;

	pthread_mutex_lock(&fs->uploads_lock);
	for (unsigned i = 0; i < n && i < fs->nmoved; i++) {
		if (fs->moved[i].from == from && fs->moved[i].uid == uid && fs->moved[i].newuid) {
			*to = fs->moved[i].to;
			*newuid = fs->moved[i].newuid;
			found = true;
		}
	}
	pthread_mutex_unlock(&fs->uploads_lock);
	return found;
}

int message_of(struct fs *fs, fuse_ino_t *ino, struct store_msg *m, uint32_t *uidvalidity)
{
	uint32_t to, newuid;
	int r = store_message(fs->st, ino_mailbox(*ino), ino_uid(*ino), m, uidvalidity);

	if (r != -ENOENT || !moved_to(fs, ino_mailbox(*ino), ino_uid(*ino), &to, &newuid))
		return r;
	r = store_message(fs->st, to, newuid, m, uidvalidity);
	if (r == 0)
		*ino = ino_make(INO_MESSAGE, to, newuid, 0);
	return r;
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

/*
 * A name made again right after its message was removed through the mount
 * shows the removed message's inode number, as a local file system that
 * recycles the freed inode does: vim's ":w!" of a read-only file unlinks it,
 * creates the name again and refuses to write unless fstat() shows the inode
 * it read ("E949: File changed while writing"). Only the number shown is
 * recycled; the kernel's node is the new file's own.
 */
static void note_unlinked(struct fs *fs, uint32_t mailbox, const char *name, uint64_t ino)
{
	unsigned slot;

	if (strlen(name) >= sizeof(fs->unlinked[0].name))
		return;
	pthread_mutex_lock(&fs->uploads_lock);
	slot = fs->nunlinked++ % (sizeof(fs->unlinked) / sizeof(fs->unlinked[0]));
	fs->unlinked[slot].mailbox = mailbox;
	fs->unlinked[slot].ino = ino;
	strcpy(fs->unlinked[slot].name, name);
	pthread_mutex_unlock(&fs->uploads_lock);
}

/* Caller holds uploads_lock. The inode number last unlinked under mailbox/name, or 0 (taken once). */
static uint64_t take_unlinked(struct fs *fs, uint32_t mailbox, const char *name)
{
	unsigned n = sizeof(fs->unlinked) / sizeof(fs->unlinked[0]);

	for (unsigned i = 0; i < n && i < fs->nunlinked; i++) {
		if (fs->unlinked[i].ino && fs->unlinked[i].mailbox == mailbox &&
		    strcmp(fs->unlinked[i].name, name) == 0) {
			uint64_t ino = fs->unlinked[i].ino;

			fs->unlinked[i].ino = 0;
			return ino;
		}
	}
	return 0;
}

int upload_lookup(struct fs *fs, uint32_t mailbox, const char *name, struct fuse_entry_param *e)
{
	struct store_msg m;
	uint32_t uid = 0, uidvalidity;
	struct upload *u;
	int r = -ENOENT;

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

static int spool_open(void)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	int fd;

	if (!dir || !*dir)
		dir = "/tmp";
	/* Unlinked from the start: nothing of the mail outlives the process. */
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	snprintf(path, sizeof(path), "%s/imapfs-spool-XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

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
	else if (u->appended || u->fd < 0)
		err = EACCES; /* sent: a message never changes */
	else if (writing && u->writers)
		err = EEXIST; /* another process is writing this new message */
	else {
		u->opens++;
		u->writers += writing;
		u->refused = false;
	}
	pthread_mutex_unlock(&fs->uploads_lock);
	if (err) {
		fuse_reply_err(req, err);
		return true;
	}
	if ((fi->flags & O_TRUNC) && ftruncate(u->fd, 0) == 0)
		u->size = 0;
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
	int fd;

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
	fd = u->appended || u->appending ? -1 : u->fd;
	pthread_mutex_unlock(&fs->uploads_lock);
	if (fd < 0) {
		/* Written after the APPEND (through a second descriptor): it would be lost. */
		fuse_reply_err(req, EBADF);
		return;
	}
	n = pwrite(fd, buf, size, off);
	if (n < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	pthread_mutex_lock(&fs->uploads_lock);
	if ((uint64_t)off + (uint64_t)n > u->size)
		u->size = (uint64_t)off + (uint64_t)n;
	pthread_mutex_unlock(&fs->uploads_lock);
	fuse_reply_write(req, (size_t)n);
}

/*
 * Makes the size bytes of fd ready to APPEND as what: refuses content that
 * is no message (EINVAL, one log line), and gives bare LF line endings a CR
 * in a new spool (*out; fd itself when nothing changes, else the caller
 * closes it). Returns 0 or -errno.
 */
static int mail_ready(const char *what, int fd, uint64_t size, int *out, uint64_t *out_size)
{
	enum { CHUNK = 1 << 16 };
	char *buf = malloc(CHUNK * 3), *conv = buf + CHUNK;
	bool cr = false, bare = false;
	uint64_t off = 0;
	ssize_t n;
	int r = 0, spool = -1;

	*out = fd;
	*out_size = size;
	if (!buf)
		return -ENOMEM;
	n = pread(fd, buf, CHUNK, 0);
	if (n < 0) {
		r = -errno;
		goto out;
	}
	if (!rfc5322_is_message(buf, (size_t)n, (uint64_t)n >= size)) {
		log_error("%s is not a mail message (no header block before the first empty "
			  "line): not appended", what);
		r = -EINVAL;
		goto out;
	}
	for (off = 0; off < size && !bare; off += (uint64_t)n) {
		n = pread(fd, buf, CHUNK, (off_t)off);
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			goto out;
		}
		bare = rfc5322_has_bare_lf(buf, (size_t)n, &cr);
	}
	if (!bare)
		goto out;
	/* LF-only lines: IMAP stores CRLF (the stored size is larger). */
	spool = spool_open();
	if (spool < 0) {
		r = spool;
		goto out;
	}
	cr = false;
	*out_size = 0;
	for (off = 0; off < size; off += (uint64_t)n) {
		size_t m;

		n = pread(fd, buf, CHUNK, (off_t)off);
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			goto out;
		}
		m = rfc5322_crlf(buf, (size_t)n, conv, &cr);
		if (write(spool, conv, m) != (ssize_t)m) {
			r = -EIO;
			goto out;
		}
		*out_size += m;
	}
	*out = spool;
	spool = -1;
out:
	if (spool >= 0)
		close(spool);
	free(buf);
	return r;
}

/* APPENDs u if it has content and was not sent yet. Returns 0 or -errno. */
static int send_upload(struct fs *fs, struct upload *u)
{
	uint64_t size;
	uint32_t uid = 0;
	char *flags;
	int64_t date;
	int fd, ready, r;

	pthread_mutex_lock(&fs->uploads_lock);
	/* Unlinked while open: the file is gone, and so is the message it would have been. */
	if (u->appended || u->appending || u->size == 0 || u->fd < 0 || !u->listed) {
		pthread_mutex_unlock(&fs->uploads_lock);
		return 0;
	}
	u->appending = true;
	fd = u->fd;
	size = u->size;
	date = u->date;
	flags = u->flags ? strdup(u->flags) : NULL;
	pthread_mutex_unlock(&fs->uploads_lock);

	r = mail_ready(u->name, fd, size, &ready, &size);
	if (r == 0)
		r = store_append(fs->st, u->mailbox, ready, size, flags, date, &uid);
	if (ready != fd)
		close(ready);
	free(flags);
	pthread_mutex_lock(&fs->uploads_lock);
	u->appending = false;
	u->refused = r < 0;
	if (r == 0) {
		u->appended = true;
		u->uid = uid;
		close(u->fd);
		u->fd = -1;
	}
	pthread_mutex_unlock(&fs->uploads_lock);
	if (r == 0 && uid)
		store_name_message(fs->st, u->mailbox, uid, u->name, u->mode);
	if (r < 0 && r != -EINVAL)
		log_error("APPEND of %s (%" PRIu64 " bytes) failed: %s", u->name, size, strerror(-r));
	else
		log_debug("appended %s as UID %" PRIu32, u->name, uid);
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
	if (u->opens == 0 && !u->appended && u->listed && (u->refused || u->size)) {
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

/* ---- attributes ---- */

void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct stat stbuf;
	int r = 0;

	(void)fi;
	if (fs->opts.readonly) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (ino_kind(ino) == INO_UPLOAD) {
		struct upload *u;

		pthread_mutex_lock(&fs->uploads_lock);
		u = find_ino(fs, ino);
		if (!u) {
			r = -ENOENT;
		} else if (to_set & FUSE_SET_ATTR_SIZE) {
			if (u->appended || u->fd < 0)
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
			upload_attr(fs, u, &stbuf);
		pthread_mutex_unlock(&fs->uploads_lock);
		if (r < 0)
			fuse_reply_err(req, -r);
		else
			fuse_reply_attr(req, &stbuf, 0);
		return;
	}
	if (ino_kind(ino) == INO_LOCAL) {
		r = local_setattr(fs->local, ino, attr, to_set, &stbuf);
		/* Renamed to a plain name, it is a message now: that is what is changed. */
		if (r != -ENOENT || !local_became(fs, ino, &ino)) {
			if (r < 0)
				fuse_reply_err(req, -r);
			else
				fuse_reply_attr(req, &stbuf, fs->opts.dir_timeout);
			return;
		}
	}
	/* A message's bytes and date are fixed: a size change is refused. */
	if (to_set & FUSE_SET_ATTR_SIZE) {
		fuse_reply_err(req, ino_kind(ino) == INO_MESSAGE || ino_kind(ino) == INO_PART ? EACCES
											: EISDIR);
		return;
	}
	switch (ino_kind(ino)) {
	case INO_ROOT:
	case INO_MAILBOX:
	case INO_PARTS:
		fill_dir_attr(fs, ino, &stbuf);
		fuse_reply_attr(req, &stbuf, fs->opts.dir_timeout);
		return;
	case INO_MESSAGE: {
		struct store_msg m;
		uint32_t uidvalidity;

		r = store_message(fs->st, ino_mailbox(ino), ino_uid(ino), &m, &uidvalidity);
		if (r < 0)
			break;
		fill_msg_attr(fs, ino, &m, &stbuf);
		/*
		 * Mode, owner and date have nowhere to go on the server: a change
		 * would succeed and change nothing, so it is refused (chmod,
		 * chown, touch -d); setting what is there already (cp -p of a
		 * message's own date) is no change. The access time means nothing.
		 * The mode of a message written through the mount is kept with
		 * its name (install -m sets it after close), so that one changes.
		 */
		if ((to_set & FUSE_SET_ATTR_MODE) &&
		    (attr->st_mode & 07777) != (stbuf.st_mode & 07777) &&
		    store_message_mode(fs->st, ino_mailbox(ino), ino_uid(ino))) {
			char *name = store_message_name(fs->st, ino_mailbox(ino), ino_uid(ino));

			r = name ? store_name_message(fs->st, ino_mailbox(ino), ino_uid(ino), name,
						      attr->st_mode) : -EPERM;
			free(name);
			if (r < 0)
				break;
			stbuf.st_mode = S_IFREG | (attr->st_mode & 07777);
		}
		if (((to_set & FUSE_SET_ATTR_MODE) &&
		     (attr->st_mode & 07777) != (stbuf.st_mode & 07777)) ||
		    ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != stbuf.st_uid) ||
		    ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != stbuf.st_gid) ||
		    ((to_set & FUSE_SET_ATTR_MTIME) &&
		     ((to_set & FUSE_SET_ATTR_MTIME_NOW) || attr->st_mtime != stbuf.st_mtime))) {
			r = -EPERM;
			break;
		}
		fuse_reply_attr(req, &stbuf, fs->opts.file_timeout);
		return;
	}
	case INO_PART:
		r = -EPERM;
		break;
	default:
		r = -EACCES;
		break;
	}
	fuse_reply_err(req, r == -ESTALE ? ENOENT : -r);
}

/* ---- what a name in a mailbox directory refers to ---- */

enum target_kind { T_NONE, T_MAILBOX, T_MESSAGE, T_PARTS, T_UPLOAD };

struct target {
	enum target_kind kind;
	uint32_t id;   /* T_MAILBOX: the mailbox */
	uint32_t uid;  /* T_MESSAGE: the message (also a sent upload's) */
	struct upload *upload; /* a name made through the mount, if any */
};

/* Caller must not hold uploads_lock. */
static int resolve(struct fs *fs, fuse_ino_t parent, const char *name, struct target *t)
{
	uint32_t pid = ino_mailbox(parent), uid, uidvalidity;
	struct store_msg m;
	int r;

	memset(t, 0, sizeof(*t));
	if (ino_kind(parent) == INO_PARTS)
		return -EPERM;
	if (ino_kind(parent) != INO_ROOT && ino_kind(parent) != INO_MAILBOX)
		return -ENOTDIR;
	if (store_lookup_mailbox(fs->st, pid, name, &t->id) == 0) {
		t->kind = T_MAILBOX;
		return 0;
	}
	if (ino_kind(parent) != INO_MAILBOX)
		return -ENOENT;
	if (parse_uid_name(name, ".parts", &uid)) {
		t->kind = T_PARTS;
		return 0;
	}
	if (parse_uid_name(name, ".eml", &uid)) {
		r = store_message(fs->st, pid, uid, &m, &uidvalidity);
		if (r == 0) {
			t->kind = T_MESSAGE;
			t->uid = uid;
			return 0;
		}
		if (r == -EIO)
			return r;
	}
	pthread_mutex_lock(&fs->uploads_lock);
	t->upload = find_name(fs, pid, name);
	if (t->upload) {
		t->kind = t->upload->appended ? T_MESSAGE : T_UPLOAD;
		t->uid = t->upload->uid;
	}
	pthread_mutex_unlock(&fs->uploads_lock);
	if (t->kind == T_MESSAGE && !t->uid)
		return -ENOENT; /* sent to a server that did not say its UID */
	if (t->kind == T_NONE && store_named_message(fs->st, pid, name, &uid) == 0 &&
	    store_message(fs->st, pid, uid, &m, &uidvalidity) == 0) {
		t->kind = T_MESSAGE; /* a name it was written under, in an earlier mount */
		t->uid = uid;
	}
	return t->kind == T_NONE ? -ENOENT : 0;
}

/*
 * rm of a message: recoverable, as in every mail client: UID MOVE to the
 * account's Trash; expunged (that UID only) when it is in Trash already or
 * with -o delete=expunge.
 */
static int delete_message(struct fs *fs, uint32_t mailbox, uint32_t uid)
{
	uint32_t trash, newuid = 0;
	int r;

	if (!fs->opts.delete_expunges) {
		r = store_trash_mailbox(fs->st, &trash);
		if (r < 0) {
			log_error("cannot find or create the Trash mailbox: %s; nothing deleted",
				  strerror(-r));
			return r;
		}
		if (trash != mailbox) {
			r = store_move(fs->st, mailbox, uid, trash, &newuid);
			if (r == 0)
				note_moved(fs, mailbox, uid, trash, newuid);
			return r;
		}
	}
	r = store_expunge(fs->st, mailbox, uid);
	if (r == 0)
		note_moved(fs, mailbox, uid, 0, 0);
	return r;
}

void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct target t;
	int r;

	if (fs->opts.readonly) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (ino_kind(parent) == INO_LOCAL) {
		fuse_reply_err(req, -local_remove(fs->local, parent, name, false));
		return;
	}
	r = resolve(fs, parent, name, &t);
	if (r == -ENOENT && is_local(fs, parent, name)) {
		fuse_reply_err(req, -local_remove(fs->local, parent, name, false));
		return;
	}
	if (r == 0) {
		switch (t.kind) {
		case T_MESSAGE:
			r = delete_message(fs, ino_mailbox(parent), t.uid);
			if (r == 0)
				note_unlinked(fs, ino_mailbox(parent), name,
					      ino_make(INO_MESSAGE, ino_mailbox(parent), t.uid, 0));
			break;
		case T_UPLOAD:
			break;
		case T_PARTS:
		case T_MAILBOX:
			r = -EISDIR;
			break;
		default:
			r = -ENOENT;
			break;
		}
	}
	if (r == 0 && t.upload) {
		pthread_mutex_lock(&fs->uploads_lock);
		if (t.upload->listed)
			unlist(fs, t.upload);
		pthread_mutex_unlock(&fs->uploads_lock);
	}
	fuse_reply_err(req, -r);
}

/* ---- rename ---- */

/* name in mailbox is message uid now: kept by the store, and at once here. */
static void name_sent(struct fs *fs, uint32_t mailbox, const char *name, uint32_t uid,
		      unsigned mode)
{
	struct upload *u;

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
static int rename_upload(struct fs *fs, struct upload *u, uint32_t mailbox, const char *newname)
{
	struct upload *clash;
	unsigned mode;
	uint32_t uid;
	char *copy = strdup(newname);

	if (!copy)
		return -ENOMEM;
	pthread_mutex_lock(&fs->uploads_lock);
	clash = find_name(fs, mailbox, newname);
	if (clash && clash != u)
		unlist(fs, clash); /* replaced: its message stays on the server */
	free(u->name);
	u->name = copy;
	u->mailbox = mailbox;
	uid = u->appended ? u->uid : 0;
	mode = u->mode;
	pthread_mutex_unlock(&fs->uploads_lock);
	if (uid)
		store_name_message(fs->st, mailbox, uid, newname, mode);
	return 0;
}

static int rename_message(struct fs *fs, fuse_ino_t parent, const struct target *src,
			  fuse_ino_t newparent, const char *newname)
{
	uint32_t from = ino_mailbox(parent), to = ino_mailbox(newparent), newuid = 0;
	struct target dst;
	int r;

	r = resolve(fs, newparent, newname, &dst);
	if (r < 0 && r != -ENOENT)
		return r;
	if (dst.kind == T_MAILBOX || dst.kind == T_PARTS)
		return -EISDIR;
	if (from == to) {
		/* Only names made through the mount may change within a mailbox. */
		if (!src->upload)
			return -EPERM;
		if (dst.kind == T_MESSAGE && !dst.upload) {
			/* sed -i, or an editor's temporary: the one replaced goes to Trash. */
			r = delete_message(fs, to, dst.uid);
			if (r < 0)
				return r;
		}
		return rename_upload(fs, src->upload, to, newname);
	}
	if (src->kind == T_UPLOAD)
		return rename_upload(fs, src->upload, to, newname);
	r = store_move(fs->st, from, src->uid, to, &newuid);
	if (r < 0)
		return r;
	/*
	 * The kernel now files the old inode under newname until that entry
	 * expires (never invalidated: see fs.h): moved_to() answers for it.
	 */
	note_moved(fs, from, src->uid, to, newuid);
	if (src->upload) {
		pthread_mutex_lock(&fs->uploads_lock);
		if (src->upload->listed)
			unlist(fs, src->upload);
		pthread_mutex_unlock(&fs->uploads_lock);
	}
	/*
	 * The moved message is <newuid>.eml there; the name it was moved to
	 * refers to it too, unless a message of the server's has that name (then
	 * both stay: a rename never destroys a message).
	 */
	if (newuid && !(dst.kind == T_MESSAGE && !dst.upload))
		name_sent(fs, to, newname, newuid, store_message_mode(fs->st, from, src->uid));
	return 0;
}

/*
 * A local file renamed to a plain name in a mailbox (rsync's .name.XXXXXX
 * once written and dated) becomes a message: APPENDed now, its mtime the
 * INTERNALDATE; a message of the server's that had the name goes to Trash,
 * and the name refers to the new message.
 */
static int append_local(struct fs *fs, fuse_ino_t parent, const char *name, uint32_t mailbox,
			const char *newname)
{
	struct target dst;
	struct stat st;
	uint64_t ino, size;
	uint32_t uid = 0;
	int fd = -1, ready = -1, r;

	r = local_lookup(fs->local, parent, name, &ino, &st);
	if (r < 0)
		return r;
	if (!S_ISREG(st.st_mode))
		return S_ISDIR(st.st_mode) ? -EPERM : -EINVAL;
	r = resolve(fs, ino_make(INO_MAILBOX, mailbox, 0, 0), newname, &dst);
	if (r < 0 && r != -ENOENT)
		return r;
	if (dst.kind == T_MAILBOX || dst.kind == T_PARTS)
		return -EISDIR;
	if (dst.kind == T_UPLOAD)
		return -EEXIST; /* being written by another process */
	if (st.st_size == 0) {
		log_error("%s is empty: not appended as %s", name, newname);
		return -EINVAL;
	}
	r = local_open(fs->local, ino, O_RDONLY, &fd);
	if (r == 0)
		r = mail_ready(newname, fd, (uint64_t)st.st_size, &ready, &size);
	if (r == 0)
		r = store_append(fs->st, mailbox, ready, size, NULL, st.st_mtime, &uid);
	if (ready >= 0 && ready != fd)
		close(ready);
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		if (r != -EINVAL)
			log_error("APPEND of %s as %s failed: %s", name, newname, strerror(-r));
		return r;
	}
	local_remove(fs->local, parent, name, false);
	note_moved(fs, LOCAL_FROM, ino_uid(ino), mailbox, uid);
	if (dst.kind == T_MESSAGE && !dst.upload && delete_message(fs, mailbox, dst.uid) < 0)
		log_warn("%s: the message it replaced (UID %" PRIu32 ") stays", newname, dst.uid);
	if (uid)
		name_sent(fs, mailbox, newname, uid, st.st_mode);
	return 0;
}

void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
	       const char *newname, unsigned int flags)
{
	struct fs *fs = fs_of(req);
	struct target src;
	int r;

	if (fs->opts.readonly) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (flags & RENAME_EXCHANGE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (ino_kind(newparent) == INO_PARTS) {
		fuse_reply_err(req, EPERM);
		return;
	}
	r = ino_kind(parent) == INO_LOCAL ? -ENOENT : resolve(fs, parent, name, &src);
	if (r == -ENOENT && is_local(fs, parent, name)) {
		/* A local name: it stays local, or becomes a message now. */
		if (is_local(fs, newparent, newname))
			r = local_rename(fs->local, parent, name, newparent, newname, flags);
		else if (ino_kind(newparent) == INO_MAILBOX)
			r = append_local(fs, parent, name, ino_mailbox(newparent), newname);
		else
			r = -EPERM;
		fuse_reply_err(req, -r);
		return;
	}
	if (r == 0 && src.kind != T_MAILBOX && is_local(fs, newparent, newname)) {
		fuse_reply_err(req, EPERM); /* mail never becomes a local file */
		return;
	}
	if (r == 0) {
		switch (src.kind) {
		case T_MAILBOX:
			if (ino_kind(newparent) != INO_ROOT && ino_kind(newparent) != INO_MAILBOX)
				r = -ENOTDIR;
			else
				r = store_rename_mailbox(fs->st, src.id, ino_mailbox(newparent), newname);
			break;
		case T_MESSAGE:
		case T_UPLOAD:
			if (ino_kind(newparent) != INO_MAILBOX)
				r = ino_kind(newparent) == INO_ROOT ? -EPERM : -ENOTDIR;
			else
				r = rename_message(fs, parent, &src, newparent, newname);
			break;
		default:
			r = -EPERM; /* .parts directories are the message's */
			break;
		}
	}
	fuse_reply_err(req, -r);
}

/* ---- mailboxes ---- */

void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	uint32_t id;
	int r;

	if (fs->opts.readonly) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (is_local(fs, parent, name)) {
		/* .Trash-1000 and the like (-o dotfiles=server makes mailboxes of them) */
		struct stat st;
		uint64_t ino;

		r = local_mkdir(fs->local, parent, name, mode, &ino, &st);
		if (r < 0) {
			fuse_reply_err(req, -r);
			return;
		}
		local_entry_param(fs, ino, &st, &e);
		fuse_reply_entry(req, &e);
		return;
	}
	if (ino_kind(parent) != INO_ROOT && ino_kind(parent) != INO_MAILBOX) {
		fuse_reply_err(req, EPERM);
		return;
	}
	r = store_create_mailbox(fs->st, ino_mailbox(parent), name, &id);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	dir_entry_param(fs, id, &e);
	fuse_reply_entry(req, &e);
}

/*
 * A <uid>.parts directory is a view of its message: removing it removes
 * nothing. rm -r of a mailbox removes <uid>.eml first (to Trash), then this:
 * gone with its message, it is removed at no cost; while the message is
 * there, it cannot be removed on its own.
 */
static int parts_rmdir(struct fs *fs, uint32_t mailbox, const char *name)
{
	struct store_msg m;
	uint32_t uid, uidvalidity;
	int r;

	if (!parse_uid_name(name, ".parts", &uid))
		return -ENOENT;
	r = store_message(fs->st, mailbox, uid, &m, &uidvalidity);
	if (r == 0)
		return -EPERM;
	if (r == -ENOENT && removed_here(fs, mailbox, uid)) {
		forget_removed(fs, mailbox, uid);
		return 0;
	}
	return r;
}

void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct target t;
	int r;

	if (fs->opts.readonly) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (ino_kind(parent) == INO_LOCAL) {
		fuse_reply_err(req, -local_remove(fs->local, parent, name, true));
		return;
	}
	r = resolve(fs, parent, name, &t);
	if (r == -ENOENT && is_local(fs, parent, name)) {
		fuse_reply_err(req, -local_remove(fs->local, parent, name, true));
		return;
	}
	if (r == 0) {
		if (t.kind == T_MAILBOX)
			r = store_delete_mailbox(fs->st, t.id);
		else if (t.kind == T_PARTS)
			r = parts_rmdir(fs, ino_mailbox(parent), name);
		else
			r = -ENOTDIR;
	}
	fuse_reply_err(req, -r);
}

/* ---- flags ---- */

static bool read_only_xattr(const char *name)
{
	static const char *const names[] = {
		"user.imap.uid", "user.imap.subject", "user.imap.from", "user.imap.date",
		"user.imap.message_id", "user.imap.uidvalidity", "user.mime_type", "user.charset",
		"user.imap.section", "user.imapfs.bytes_received", NULL
	};

	for (size_t i = 0; names[i]; i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

static int set_flags(struct fs *fs, fuse_ino_t ino, const char *value, size_t size, int flags)
{
	char *text = NULL, *norm = NULL;
	int r;

	if (flags & XATTR_CREATE)
		return -EEXIST; /* a message always has a flag list, if empty */
	text = strndup(value, size);
	if (!text)
		return -ENOMEM;
	r = store_normalize_flags(text, &norm);
	free(text);
	if (r < 0)
		return r;
	if (ino_kind(ino) == INO_UPLOAD) {
		struct upload *u;

		pthread_mutex_lock(&fs->uploads_lock);
		u = find_ino(fs, ino);
		if (!u) {
			r = -ENOENT;
		} else if (u->appended) {
			r = -EAGAIN; /* resolved below through its UID */
		} else {
			free(u->flags);
			u->flags = norm;
			norm = NULL;
		}
		pthread_mutex_unlock(&fs->uploads_lock);
		if (r != -EAGAIN) {
			free(norm);
			return r;
		}
		pthread_mutex_lock(&fs->uploads_lock);
		u = find_ino(fs, ino);
		ino = u && u->uid ? ino_make(INO_MESSAGE, u->mailbox, u->uid, 0) : 0;
		pthread_mutex_unlock(&fs->uploads_lock);
		if (!ino) {
			free(norm);
			return -ENOENT;
		}
	}
	if (ino_kind(ino) == INO_MESSAGE) {
		struct store_msg m;
		uint32_t uidvalidity;

		r = message_of(fs, &ino, &m, &uidvalidity);
		if (r < 0) {
			free(norm);
			return r;
		}
	}
	r = store_set_flags(fs->st, ino_mailbox(ino), ino_uid(ino), norm);
	free(norm);
	return r;
}

void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		 size_t size, int flags)
{
	struct fs *fs = fs_of(req);
	int r;

	if (fs->opts.readonly) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (strcmp(name, "user.imap.flags") == 0 &&
	    (ino_kind(ino) == INO_MESSAGE || ino_kind(ino) == INO_UPLOAD))
		r = set_flags(fs, ino, value, size, flags);
	else if (read_only_xattr(name))
		r = -EPERM;
	else
		r = -ENOTSUP;
	fuse_reply_err(req, r == -ESTALE ? ENOENT : -r);
}

void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fs *fs = fs_of(req);
	int r;

	if (fs->opts.readonly) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (strcmp(name, "user.imap.flags") == 0 &&
	    (ino_kind(ino) == INO_MESSAGE || ino_kind(ino) == INO_UPLOAD))
		r = set_flags(fs, ino, "", 0, 0); /* removing the list is clearing it */
	else if (read_only_xattr(name))
		r = -EPERM;
	else
		r = -ENODATA;
	fuse_reply_err(req, r == -ESTALE ? ENOENT : -r);
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
