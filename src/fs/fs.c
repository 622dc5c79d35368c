/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fs/fs.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "fs/fs_internal.h"
#include "fs/inode.h"
#include "fs/interrupt.h"
#include "store/parts.h"
#include "log.h"
#include "util/cancel.h"

/* Reads of a message start small (head -c, file(1)) and grow while sequential. */
#define READ_WINDOW_MIN (128u << 10)
#define READ_WINDOW_MAX (4u << 20)
/* A part's first read stays small: head -c 4096 of an attachment is common. */
#define PART_WINDOW_MIN (64u << 10)

/* A directory listing, snapshotted at opendir so offsets stay valid. */
struct dir_entry {
	char *name;
	uint64_t ino;
	bool is_dir;
	struct store_msg msg;
};

struct dir_snapshot {
	struct dir_entry *e;
	size_t n;
	uint32_t uidvalidity;
	struct store_parts *parts; /* listing of a .parts directory: held */
	bool pending;              /* a .parts directory listed on first readdir */
};

struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

void fill_dir_attr(const struct fs *fs, uint64_t ino, struct stat *stbuf)
{
	memset(stbuf, 0, sizeof(*stbuf));
	stbuf->st_ino = ino;
	/* Writable directories: copying in, moving, deleting and mkdir map to IMAP. */
	stbuf->st_mode = S_IFDIR | (fs->opts.readonly ? 0555 : 0755);
	stbuf->st_nlink = 2;
	stbuf->st_uid = fs->uid;
	stbuf->st_gid = fs->gid;
	stbuf->st_mtime = stbuf->st_ctime = stbuf->st_atime = fs->mounted_at;
	stbuf->st_blksize = 4096;
}

static void fill_parts_dir_attr(const struct fs *fs, uint64_t ino, const struct store_msg *m,
				struct stat *stbuf)
{
	fill_dir_attr(fs, ino, stbuf);
	stbuf->st_mtime = stbuf->st_ctime = stbuf->st_atime = (time_t)m->date;
}

void fill_msg_attr(const struct fs *fs, uint64_t ino, const struct store_msg *m,
			  struct stat *stbuf)
{
	memset(stbuf, 0, sizeof(*stbuf));
	stbuf->st_ino = ino;
	/*
	 * A message's write bit says it may be removed or replaced (rm, mv,
	 * rsync), as the owner of a file may; its bytes are never rewritten in
	 * place (opening it for writing is EACCES). Parts are views: read-only.
	 */
	stbuf->st_mode = S_IFREG | (ino_kind(ino) == INO_MESSAGE && !fs->opts.readonly ? 0644 : 0444);
	/* A message written through the mount shows the bits it was written with. */
	if (ino_kind(ino) == INO_MESSAGE && !fs->opts.readonly) {
		unsigned mode = store_message_mode(fs->st, ino_mailbox(ino), ino_uid(ino));

		if (mode)
			stbuf->st_mode = S_IFREG | mode;
	}
	stbuf->st_nlink = 1;
	stbuf->st_uid = fs->uid;
	stbuf->st_gid = fs->gid;
	stbuf->st_size = (off_t)m->size;
	stbuf->st_blocks = (blkcnt_t)((m->size + 511) / 512);
	stbuf->st_blksize = 4096;
	stbuf->st_mtime = stbuf->st_ctime = stbuf->st_atime = (time_t)m->date;
}

/* "<uid><suffix>" with a canonical decimal UID (no leading zeros, no sign). */
bool parse_uid_name(const char *name, const char *suffix, uint32_t *uid)
{
	uint64_t v = 0;
	const char *p = name;

	if (*p < '1' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return false;
	}
	if (strcmp(p, suffix) != 0)
		return false;
	*uid = (uint32_t)v;
	return true;
}

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	conn->want |= conn->capable & FUSE_CAP_READDIRPLUS;
	/*
	 * Always READDIRPLUS, not the kernel's guess: it stops sending it after
	 * the first page when nothing was stat'ed yet, and grep -r, find and
	 * rsync then look up every message and .parts directory one request at
	 * a time (grep -r of 1,000 messages: 1,798 LOOKUPs, 0.71 s; always plus:
	 * 119, 0.54 s). Plain ls pays a little more per entry.
	 */
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	conn->want |= conn->capable & FUSE_CAP_ASYNC_READ;
	conn->max_readahead = READ_WINDOW_MAX < conn->max_readahead ? READ_WINDOW_MAX
								    : conn->max_readahead;
}

void local_entry_param(const struct fs *fs, uint64_t ino, const struct stat *st,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->attr = *st;
	e->attr.st_ino = ino;
	/* Only we change them, and the kernel sees each change. */
	e->attr_timeout = fs->opts.dir_timeout;
	e->entry_timeout = fs->opts.dir_timeout;
}

/* Entry of a child mailbox directory. */
void dir_entry_param(const struct fs *fs, uint32_t id, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino_make(INO_MAILBOX, id, 0, 0);
	e->attr_timeout = fs->opts.dir_timeout;
	e->entry_timeout = fs->opts.dir_timeout;
	fill_dir_attr(fs, e->ino, &e->attr);
}

void msg_entry_param(const struct fs *fs, uint32_t id, uint32_t uidvalidity,
			    const struct store_msg *m, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino_make(INO_MESSAGE, id, m->uid, 0);
	e->generation = uidvalidity;
	/* The content is immutable; only membership changes, and that is a listing. */
	e->attr_timeout = fs->opts.file_timeout;
	e->entry_timeout = fs->opts.dir_timeout;
	fill_msg_attr(fs, e->ino, m, &e->attr);
}

static void parts_dir_entry_param(const struct fs *fs, uint32_t id, uint32_t uidvalidity,
				  const struct store_msg *m, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino_make(INO_PARTS, id, m->uid, 0);
	e->generation = uidvalidity;
	e->attr_timeout = fs->opts.file_timeout;
	e->entry_timeout = fs->opts.dir_timeout;
	fill_parts_dir_attr(fs, e->ino, m, &e->attr);
}

static void part_attr(const struct fs *fs, uint64_t ino, const struct store_parts *p, size_t idx,
		      struct stat *stbuf)
{
	struct store_msg m = { .uid = p->uid, .size = p->parts[idx].size, .date = p->date };

	fill_msg_attr(fs, ino, &m, stbuf);
}

static void part_entry_param(const struct fs *fs, const struct store_parts *p, size_t idx,
			     struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino_make(INO_PART, p->mailbox, p->uid, (uint32_t)idx);
	e->generation = p->uidvalidity;
	e->attr_timeout = fs->opts.file_timeout;
	e->entry_timeout = fs->opts.file_timeout;
	part_attr(fs, e->ino, p, idx, &e->attr);
}

/* The parts of the message an INO_PARTS or INO_PART inode belongs to. */
static int parts_of(struct fs *fs, fuse_ino_t ino, struct store_parts **out)
{
	uint32_t id = ino_mailbox(ino), uidvalidity;
	struct store_msg m;
	int r = store_message(fs->st, id, ino_uid(ino), &m, &uidvalidity);

	if (r < 0)
		return r;
	return store_parts_get(fs->st, id, uidvalidity, m.uid, m.date, out);
}

static void lookup_part(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct store_parts *p;
	int r = parts_of(fs, parent, &p), idx;

	if (r < 0) {
		fuse_reply_err(req, -r == ESTALE ? ENOENT : -r);
		return;
	}
	idx = store_parts_find(p, name);
	r = idx < 0 ? idx : store_parts_sized(fs->st, p);
	if (r < 0) {
		fuse_reply_err(req, -r == ESTALE ? ENOENT : -r);
	} else {
		part_entry_param(fs, p, (size_t)idx, &e);
		fuse_reply_entry(req, &e);
	}
	store_parts_put(fs->st, p);
}

static void reply_local_entry(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct stat st;
	uint64_t ino;
	int r = local_lookup(fs->local, parent, name, &ino, &st);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	local_entry_param(fs, ino, &st, &e);
	fuse_reply_entry(req, &e);
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	enum ino_kind kind = ino_kind(parent);
	uint32_t pid = ino_mailbox(parent), id, uid, uidvalidity;
	struct fuse_entry_param e;
	struct store_msg m;
	int r;

	if (kind == INO_PARTS) {
		lookup_part(req, parent, name);
		return;
	}
	if (kind == INO_LOCAL) {
		reply_local_entry(req, parent, name);
		return;
	}
	if (kind != INO_ROOT && kind != INO_MAILBOX) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	/*
	 * A mailbox name (or a name that is no message) is checked against a
	 * tree no older than its TTL: a server may tell a watcher of a DELETE
	 * or RENAME late (Dovecot's NOTIFY: 1.5 s), and without NOTIFY nobody
	 * does. Message names never pay for it.
	 */
	r = store_lookup_mailbox(fs->st, pid, name, &id);
	if (r == 0 || (!parse_uid_name(name, ".eml", &uid) &&
		       !parse_uid_name(name, ".parts", &uid))) {
		store_refresh_mailboxes(fs->st, false);
		r = store_lookup_mailbox(fs->st, pid, name, &id);
	}
	if (r == 0) {
		dir_entry_param(fs, id, &e);
		fuse_reply_entry(req, &e);
		return;
	}
	if (kind == INO_MAILBOX && parse_uid_name(name, ".eml", &uid)) {
		r = store_message(fs->st, pid, uid, &m, &uidvalidity);
		if (r == 0) {
			msg_entry_param(fs, pid, uidvalidity, &m, &e);
			fuse_reply_entry(req, &e);
			return;
		}
	} else if (kind == INO_MAILBOX && parse_uid_name(name, ".parts", &uid)) {
		r = store_message(fs->st, pid, uid, &m, &uidvalidity);
		if (r == 0) {
			parts_dir_entry_param(fs, pid, uidvalidity, &m, &e);
			fuse_reply_entry(req, &e);
			return;
		}
		if (r == -ENOENT && removed_here(fs, pid, uid)) {
			/* The empty view rm -r still walks into (fs_opendir); never kept. */
			memset(&e, 0, sizeof(e));
			e.ino = ino_make(INO_PARTS, pid, uid, 0);
			fill_dir_attr(fs, e.ino, &e.attr);
			fuse_reply_entry(req, &e);
			return;
		}
	}
	if (kind == INO_MAILBOX && r != -EIO && upload_lookup(fs, pid, name, &e) == 0) {
		fuse_reply_entry(req, &e);
		return;
	}
	/* A local name is never a message's: no listing is checked for it. */
	if (kind == INO_MAILBOX && r != -EIO && !is_local(fs, parent, name) &&
	    store_named_message(fs->st, pid, name, &uid) == 0 &&
	    store_message(fs->st, pid, uid, &m, &uidvalidity) == 0) {
		msg_entry_param(fs, pid, uidvalidity, &m, &e);
		fuse_reply_entry(req, &e);
		return;
	}
	/* The server's names first: a mailbox ".hidden" is the server's. */
	if (is_local(fs, parent, name) && (r == 0 || r == -ENOENT || r == -ESTALE)) {
		reply_local_entry(req, parent, name);
		return;
	}
	/* Not found is ENOENT; a failure to find out is not. */
	fuse_reply_err(req, r == 0 || r == -ENOENT || r == -ESTALE ? ENOENT : -r);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	uint32_t id = ino_mailbox(ino), uidvalidity;
	struct store_msg m;
	struct stat stbuf;
	bool selectable;
	int r;

	(void)fi;
	switch (ino_kind(ino)) {
	case INO_ROOT:
		fill_dir_attr(fs, ino, &stbuf);
		fuse_reply_attr(req, &stbuf, fs->opts.dir_timeout);
		return;
	case INO_MAILBOX:
		r = store_mailbox_exists(fs->st, id, &selectable);
		if (r < 0)
			break;
		fill_dir_attr(fs, ino, &stbuf);
		fuse_reply_attr(req, &stbuf, fs->opts.dir_timeout);
		return;
	case INO_MESSAGE: {
		fuse_ino_t now = ino;

		r = message_of(fs, &now, &m, &uidvalidity);
		if (r < 0)
			break;
		fill_msg_attr(fs, ino, &m, &stbuf);
		/* A moved message's old inode must not be believed for long. */
		fuse_reply_attr(req, &stbuf, now == ino ? fs->opts.file_timeout : 0);
		return;
	}
	case INO_PARTS:
		r = store_message(fs->st, id, ino_uid(ino), &m, &uidvalidity);
		if (r == -ENOENT && removed_here(fs, id, ino_uid(ino))) {
			fill_dir_attr(fs, ino, &stbuf); /* see fs_lookup */
			fuse_reply_attr(req, &stbuf, 0);
			return;
		}
		if (r < 0)
			break;
		fill_parts_dir_attr(fs, ino, &m, &stbuf);
		fuse_reply_attr(req, &stbuf, fs->opts.file_timeout);
		return;
	case INO_UPLOAD:
		r = upload_getattr(fs, ino, &stbuf);
		if (r < 0)
			break;
		fuse_reply_attr(req, &stbuf, 0);
		return;
	case INO_LOCAL: {
		fuse_ino_t became;

		r = local_stat(fs->local, ino, &stbuf);
		if (r == -ENOENT && local_became(fs, ino, &became) &&
		    store_message(fs->st, ino_mailbox(became), ino_uid(became), &m, &uidvalidity) == 0) {
			fill_msg_attr(fs, ino, &m, &stbuf);
			fuse_reply_attr(req, &stbuf, 0);
			return;
		}
		if (r < 0)
			break;
		fuse_reply_attr(req, &stbuf, fs->opts.dir_timeout);
		return;
	}
	case INO_PART: {
		struct store_parts *p;

		r = parts_of(fs, ino, &p);
		if (r < 0)
			break;
		r = store_parts_sized(fs->st, p);
		if (r < 0) {
			store_parts_put(fs->st, p);
			break;
		}
		if (ino_part(ino) < p->n) {
			part_attr(fs, ino, p, ino_part(ino), &stbuf);
			fuse_reply_attr(req, &stbuf, fs->opts.file_timeout);
		} else {
			fuse_reply_err(req, ENOENT);
		}
		store_parts_put(fs->st, p);
		return;
	}
	default:
		r = -ENOENT;
		break;
	}
	fuse_reply_err(req, r == -ESTALE ? ENOENT : -r);
}

static void snapshot_clear(struct fs *fs, struct dir_snapshot *d)
{
	store_parts_put(fs->st, d->parts);
	d->parts = NULL;
	for (size_t i = 0; i < d->n; i++)
		free(d->e[i].name);
	free(d->e);
	d->e = NULL;
	d->n = 0;
}

static void snapshot_free(struct fs *fs, struct dir_snapshot *d)
{
	if (!d)
		return;
	snapshot_clear(fs, d);
	free(d);
}

static int snapshot_add(struct dir_snapshot *d, size_t *cap, char *name, uint64_t ino,
			bool is_dir, const struct store_msg *m)
{
	if (!name)
		return -ENOMEM;
	if (d->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct dir_entry *grown = realloc(d->e, ncap * sizeof(*grown));

		if (!grown) {
			free(name);
			return -ENOMEM;
		}
		d->e = grown;
		*cap = ncap;
	}
	d->e[d->n].name = name;
	d->e[d->n].ino = ino;
	d->e[d->n].is_dir = is_dir;
	if (m)
		d->e[d->n].msg = *m;
	d->n++;
	return 0;
}

struct snapshot_fill {
	struct dir_snapshot *d;
	size_t *cap;
};

static int add_entry(void *ctx, const char *name, uint64_t ino, const struct stat *st)
{
	struct snapshot_fill *f = ctx;

	return snapshot_add(f->d, f->cap, strdup(name), ino, S_ISDIR(st->st_mode), NULL);
}

/* Lists a .parts directory into d (empty before). */
static int build_parts_snapshot(struct fs *fs, fuse_ino_t ino, struct dir_snapshot *d)
{
	struct store_parts *p;
	size_t cap = 0;
	int r;

	r = parts_of(fs, ino, &p);
	if (r < 0)
		return r;
	d->parts = p;
	d->uidvalidity = p->uidvalidity;
	for (size_t i = 0; i < p->n && r == 0; i++)
		r = snapshot_add(d, &cap, strdup(p->parts[i].name),
				 ino_make(INO_PART, p->mailbox, p->uid, (uint32_t)i), false, NULL);
	if (r < 0)
		snapshot_clear(fs, d);
	return r;
}

static int build_snapshot(struct fs *fs, fuse_ino_t ino, struct dir_snapshot **out)
{
	uint32_t id = ino_mailbox(ino);
	struct dir_snapshot *d = calloc(1, sizeof(*d));
	struct store_child *kids = NULL;
	struct store_msg *msgs = NULL;
	size_t nkids = 0, nmsgs = 0, cap = 0;
	bool selectable = false;
	int r;

	if (!d)
		return -ENOMEM;
	if (ino_kind(ino) == INO_LOCAL) {
		r = local_list(fs->local, ino, add_entry, &(struct snapshot_fill){ d, &cap });
		goto out;
	}
	if (ino_kind(ino) == INO_MAILBOX) {
		r = store_mailbox_exists(fs->st, id, &selectable);
		if (r < 0)
			goto out;
	}
	/* A stale tree is refreshed here: opendir is where a user asks "what is there". */
	store_refresh_mailboxes(fs->st, false);
	r = store_children(fs->st, id, &kids, &nkids);
	if (r < 0)
		goto out;
	if (selectable) {
		r = store_messages(fs->st, id, &msgs, &nmsgs, &d->uidvalidity);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < nkids && r == 0; i++) {
		r = snapshot_add(d, &cap, kids[i].name, ino_make(INO_MAILBOX, kids[i].id, 0, 0),
				 true, NULL);
		kids[i].name = NULL;
	}
	for (size_t i = 0; i < nmsgs && r == 0; i++) {
		/* Under the name it was written as, if it was (cp, rsync), else its UID. */
		char *name = store_message_name(fs->st, id, msgs[i].uid);

		if (!name && asprintf(&name, "%" PRIu32 ".eml", msgs[i].uid) < 0)
			name = NULL;
		r = snapshot_add(d, &cap, name, ino_make(INO_MESSAGE, id, msgs[i].uid, 0), false,
				 &msgs[i]);
		if (r < 0)
			break;
		if (asprintf(&name, "%" PRIu32 ".parts", msgs[i].uid) < 0)
			name = NULL;
		r = snapshot_add(d, &cap, name, ino_make(INO_PARTS, id, msgs[i].uid, 0), true,
				 &msgs[i]);
	}
	/* What the user made here and the server has not: placeholders, local files. */
	if (r == 0 && selectable)
		r = upload_list(fs, id, add_entry, &(struct snapshot_fill){ d, &cap });
	if (r == 0)
		r = local_list(fs->local, ino, add_entry, &(struct snapshot_fill){ d, &cap });
out:
	store_children_free(kids, nkids);
	free(msgs);
	if (r < 0) {
		snapshot_free(fs, d);
		return r;
	}
	*out = d;
	return 0;
}

static void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct interruptible it;
	struct dir_snapshot *d = NULL;
	int r;

	if (ino_kind(ino) != INO_PARTS && ino_kind(ino) != INO_ROOT &&
	    ino_kind(ino) != INO_MAILBOX && ino_kind(ino) != INO_LOCAL) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if (ino_kind(ino) == INO_PARTS) {
		/*
		 * What a message's parts are never changes (a recreated mailbox's
		 * UIDVALIDITY makes new inodes), so the kernel keeps the listing and
		 * it is built only when the kernel has none: a second walk over the
		 * mailbox costs no structure loads.
		 */
		struct store_msg m;
		uint32_t uidvalidity;

		bool removed = false;

		r = store_message(fs_of(req)->st, ino_mailbox(ino), ino_uid(ino), &m, &uidvalidity);
		/*
		 * rm -r removes <uid>.eml, then walks into <uid>.parts, which it
		 * listed before: the view of a message removed through the mount
		 * is empty, and its rmdir succeeds (fs_rmdir).
		 */
		if (r == -ENOENT && removed_here(fs_of(req), ino_mailbox(ino), ino_uid(ino)))
			removed = true;
		else if (r < 0) {
			fuse_reply_err(req, r == -ESTALE ? ENOENT : -r);
			return;
		}
		d = calloc(1, sizeof(*d));
		if (!d) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		d->pending = !removed;
		fi->fh = (uintptr_t)d;
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
		fuse_reply_open(req, fi);
		return;
	}
	interruptible_begin(&it, req);
	r = build_snapshot(fs_of(req), ino, &d);
	r = interruptible_end(&it, r);
	if (r < 0) {
		fuse_reply_err(req, r == -ESTALE ? ENOENT : -r);
		return;
	}
	fi->fh = (uintptr_t)d;
	fi->cache_readdir = 0;
	fuse_reply_open(req, fi);
}

/*
 * A readdirplus entry of a file the user made (local, or an upload): its
 * attributes now; gone meanwhile, a bare entry the kernel looks up itself.
 */
static void readdir_entry_of_own(struct fs *fs, uint64_t ino, struct fuse_entry_param *e)
{
	struct stat st;
	int r = ino_kind(ino) == INO_LOCAL ? local_stat(fs->local, ino, &st)
					   : upload_getattr(fs, ino, &st);

	if (r == 0 && ino_kind(ino) == INO_LOCAL) {
		local_entry_param(fs, ino, &st, e);
	} else if (r == 0) {
		memset(e, 0, sizeof(*e));
		e->ino = ino;
		e->attr = st; /* timeouts 0: it changes as it is written */
	} else {
		e->attr.st_ino = ino;
		e->attr.st_mode = S_IFREG;
	}
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct fs *fs = fs_of(req);
	struct dir_snapshot *d = (struct dir_snapshot *)(uintptr_t)fi->fh;
	char *buf;
	size_t used = 0;

	if (d->pending) {
		struct interruptible it;
		int r;

		interruptible_begin(&it, req);
		r = interruptible_end(&it, build_parts_snapshot(fs, ino, d));
		if (r < 0) {
			fuse_reply_err(req, r == -ESTALE ? ENOENT : -r);
			return;
		}
		d->pending = false;
	}
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* Offsets: 0 ".", 1 "..", then 2 + index into the snapshot. */
	for (off_t i = off; i < (off_t)d->n + 2; i++) {
		struct fuse_entry_param e;
		const char *name;
		size_t n;

		memset(&e, 0, sizeof(e));
		if (i < 2) {
			name = i == 0 ? "." : "..";
			fill_dir_attr(fs, i == 0 ? ino : FUSE_ROOT_ID, &e.attr);
		} else {
			const struct dir_entry *de = &d->e[i - 2];

			name = de->name;
			if (d->parts && !store_parts_is_sized(d->parts)) {
				/*
				 * No attributes yet: ino 0 tells the kernel to look the
				 * entry up when it needs them, so a walk that only wants
				 * names does not make the message's parts be sized.
				 */
				e.attr.st_ino = de->ino;
				e.attr.st_mode = S_IFREG;
			} else if (d->parts) {
				part_entry_param(fs, d->parts, ino_part(de->ino), &e);
			}
			else if (ino_kind(de->ino) == INO_LOCAL || ino_kind(de->ino) == INO_UPLOAD)
				readdir_entry_of_own(fs, de->ino, &e);
			else if (ino_kind(de->ino) == INO_PARTS)
				parts_dir_entry_param(fs, ino_mailbox(de->ino), d->uidvalidity,
						      &de->msg, &e);
			else if (de->is_dir)
				dir_entry_param(fs, ino_mailbox(de->ino), &e);
			else
				msg_entry_param(fs, ino_mailbox(de->ino), d->uidvalidity, &de->msg, &e);
		}
		if (plus && i >= 2) {
			n = fuse_add_direntry_plus(req, buf + used, size - used, name, &e, i + 1);
		} else {
			/* "." and ".." must not take a lookup reference: plain entries. */
			if (plus) {
				memset(&e, 0, sizeof(e));
				e.attr.st_ino = i == 0 ? ino : FUSE_ROOT_ID;
				e.attr.st_mode = S_IFDIR;
				n = fuse_add_direntry_plus(req, buf + used, size - used, name, &e, i + 1);
			} else {
				n = fuse_add_direntry(req, buf + used, size - used, name, &e.attr, i + 1);
			}
		}
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

static void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

static void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	snapshot_free(fs_of(req), (struct dir_snapshot *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct store_parts *parts = NULL;
	struct interruptible it;
	struct open_msg *om;
	struct store_msg m;
	uint32_t uidvalidity;
	int r;

	if (upload_open(req, ino, fi))
		return;
	if (ino_kind(ino) == INO_LOCAL) {
		int fd;

		r = local_open(fs->local, ino, fi->flags, &fd);
		if (r == 0) {
			fi->fh = LOCAL_FH_TAG | (uint64_t)fd;
			fi->direct_io = 1; /* its bytes are in a file of ours: no second copy */
			fuse_reply_open(req, fi);
			return;
		}
		/* Renamed to a plain name, it is a message now: open that. */
		if (r != -ENOENT || !local_became(fs, ino, &ino)) {
			fuse_reply_err(req, -r);
			return;
		}
	}
	if (ino_kind(ino) != INO_MESSAGE && ino_kind(ino) != INO_PART) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		/* A message never changes: its bytes are what the server stored. */
		fuse_reply_err(req, fs->opts.readonly ? EROFS : EACCES);
		return;
	}
	interruptible_begin(&it, req);
	if (ino_kind(ino) == INO_MESSAGE)
		r = message_of(fs, &ino, &m, &uidvalidity);
	else
		r = store_message(fs->st, ino_mailbox(ino), ino_uid(ino), &m, &uidvalidity);
	if (r == 0 && ino_kind(ino) == INO_PART) {
		r = parts_of(fs, ino, &parts);
		if (r == 0 && ino_part(ino) >= parts->n)
			r = -ENOENT;
		if (r == 0)
			r = store_parts_sized(fs->st, parts);
	}
	r = interruptible_end(&it, r);
	if (r < 0) {
		store_parts_put(fs->st, parts);
		fuse_reply_err(req, r == -ESTALE ? ENOENT : -r);
		return;
	}
	om = calloc(1, sizeof(*om));
	if (!om) {
		store_parts_put(fs->st, parts);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_init(&om->lock, NULL);
	om->mailbox = ino_mailbox(ino);
	om->uidvalidity = uidvalidity;
	om->uid = m.uid;
	om->size = m.size;
	om->next_window = READ_WINDOW_MIN;
	if (parts) {
		om->parts = parts;
		om->part = ino_part(ino);
		om->size = parts->parts[om->part].size;
		om->next_window = PART_WINDOW_MIN;
	}
	pthread_mutex_lock(&fs->opens_lock);
	om->next = fs->open_msgs;
	if (om->next)
		om->next->prev = om;
	fs->open_msgs = om;
	pthread_mutex_unlock(&fs->opens_lock);
	fi->fh = (uintptr_t)om;
	fi->keep_cache = 1;
	fi->noflush = 1; /* nothing to do at close(): a request a file fewer */
	fuse_reply_open(req, fi);
}

static void open_msg_free(struct fs *fs, struct open_msg *om)
{
	store_parts_put(fs->st, om->parts);
	pthread_mutex_destroy(&om->lock);
	free(om->win);
	free(om);
}

/* Fetches a window that holds [off, off + want) for process reader; caller holds om->lock. */
static int fetch_window(struct fs *fs, struct open_msg *om, uint64_t off, size_t want,
			pid_t reader)
{
	uint64_t end = om->win_off + om->win_len;
	struct timespec now;
	size_t len;
	ssize_t got;

	/*
	 * The kernel reads ahead with several requests at once, and a later one
	 * can come first: the window then goes on from where the last one ended,
	 * so the pages skipped are in it when their request comes, not fetched
	 * again in a window of their own.
	 */
	if (off > end && off - end < om->next_window) {
		want += (size_t)(off - end);
		off = end;
	}
	len = om->next_window > want ? om->next_window : want;

	/*
	 * The kernel reads ahead in parallel: when one fetch of this file just
	 * failed after a whole timeout, the next must not wait another.
	 */
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (om->failed_at.tv_sec && now.tv_sec - om->failed_at.tv_sec < 2)
		return -EIO;

	/* A small file comes whole in one round trip. */
	if (off == 0 && om->size <= 2 * READ_WINDOW_MIN)
		len = (size_t)om->size;
	if (off + len > om->size)
		len = (size_t)(om->size - off);
	if (len > om->win_cap) {
		char *grown = realloc(om->win, len);

		if (!grown)
			return -ENOMEM;
		om->win = grown;
		om->win_cap = len;
	}
	if (om->parts) {
		got = store_read_part(fs->st, om->parts, om->part, off, len, om->win);
	} else {
		/* Only reads the page cache could not answer tell the order. */
		if (off == 0)
			store_message_reading(fs->st, om->mailbox, om->uidvalidity, om->uid, reader);
		got = store_read_message(fs->st, om->mailbox, om->uidvalidity, om->uid, off, len,
					 om->win);
	}
	/* An interrupted fetch says nothing of the server: the next may go on. */
	if (got == -EIO && !cancel_requested())
		clock_gettime(CLOCK_MONOTONIC, &om->failed_at);
	if (got < 0)
		return (int)got;
	/* Sequential readers get larger windows; a jump starts small again. */
	if (off == om->win_off + om->win_len)
		om->next_window = om->next_window * 2 > READ_WINDOW_MAX ? READ_WINDOW_MAX
									: om->next_window * 2;
	else
		om->next_window = om->parts ? PART_WINDOW_MIN : READ_WINDOW_MIN;
	if ((size_t)got < len) {
		/* A short file would be cached as the truth: fail the read instead. */
		if (!om->short_logged)
			log_error("message UID %" PRIu32 ": server sent %zd bytes at offset %" PRIu64
				  " where %zu were due; failing the read", om->uid, got, off, len);
		om->short_logged = true;
		om->win_len = 0;
		return -EIO;
	}
	om->win_off = off;
	om->win_len = (size_t)got;
	return 0;
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct open_msg *om = (struct open_msg *)(uintptr_t)fi->fh;
	uint64_t uoff = (uint64_t)off;
	struct interruptible it;
	char *out = NULL;
	size_t n = 0;
	int r = 0;

	if (upload_read(req, ino, size, off, fi))
		return;
	if (local_fh(fi->fh) >= 0) {
		char *buf = malloc(size ? size : 1);
		ssize_t got = buf ? pread(local_fh(fi->fh), buf, size, off) : -1;

		if (got < 0)
			fuse_reply_err(req, buf ? errno : ENOMEM);
		else
			fuse_reply_buf(req, buf, (size_t)got);
		free(buf);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	/*
	 * The reply is copied out under the lock and sent after it: once the
	 * kernel has the bytes the file may be closed, and release() may free om
	 * before fuse_reply_buf() returns.
	 */
	pthread_mutex_lock(&om->lock);
	if (uoff < om->size) {
		if (size > om->size - uoff)
			size = (size_t)(om->size - uoff);
		if (uoff < om->win_off || uoff + size > om->win_off + om->win_len) {
			interruptible_begin(&it, req);
			r = interruptible_end(&it, fetch_window(fs, om, uoff, size,
								       fuse_req_ctx(req)->pid));
		}
		if (r == 0 && uoff >= om->win_off && uoff < om->win_off + om->win_len) {
			n = (size_t)(om->win_off + om->win_len - uoff);
			if (n > size)
				n = size;
			out = malloc(n);
			if (out)
				memcpy(out, om->win + (uoff - om->win_off), n);
			else
				r = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&om->lock);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_buf(req, out, n);
	free(out);
}

static void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct open_msg *om = (struct open_msg *)(uintptr_t)fi->fh;
	struct fs *fs = fs_of(req);

	if (upload_release(req, ino, fi))
		return;
	if (local_fh(fi->fh) >= 0) {
		close(local_fh(fi->fh));
		fuse_reply_err(req, 0);
		return;
	}
	pthread_mutex_lock(&fs->opens_lock);
	if (om->prev)
		om->prev->next = om->next;
	else
		fs->open_msgs = om->next;
	if (om->next)
		om->next->prev = om->prev;
	pthread_mutex_unlock(&fs->opens_lock);
	open_msg_free(fs, om);
	fuse_reply_err(req, 0);
}

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	uint64_t used, limit;
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 1024;
	sv.f_frsize = 1024;
	sv.f_namemax = 255;
	/* The IMAP QUOTA in 1 KiB blocks; without one, no size is claimed (df shows 0). */
	if (store_quota(fs_of(req)->st, &used, &limit) == 0) {
		sv.f_blocks = limit;
		sv.f_bfree = sv.f_bavail = limit > used ? limit - used : 0;
	}
	fuse_reply_statfs(req, &sv);
}

/* Extended attributes: what IMAP knows of a message or mailbox beyond its bytes. */

static int dup_or_nodata(const char *v, char **out)
{
	if (!v)
		return -ENODATA;
	*out = strdup(v);
	return *out ? 0 : -ENOMEM;
}

static int message_header_xattr(struct fs *fs, fuse_ino_t ino, const char *name, char **out)
{
	struct store_parts *p;
	const char *v = NULL;
	int r = parts_of(fs, ino, &p);

	if (r < 0)
		return r;
	if (strcmp(name, "user.imap.subject") == 0)
		v = p->subject;
	else if (strcmp(name, "user.imap.from") == 0)
		v = p->from;
	else if (strcmp(name, "user.imap.date") == 0)
		v = p->date_text;
	else
		v = p->message_id;
	r = dup_or_nodata(v, out);
	store_parts_put(fs->st, p);
	return r;
}

static int part_xattr(struct fs *fs, fuse_ino_t ino, const char *name, char **out)
{
	struct store_parts *p;
	const struct store_part *sp;
	int r = parts_of(fs, ino, &p);

	if (r < 0)
		return r;
	if (ino_part(ino) >= p->n) {
		store_parts_put(fs->st, p);
		return -ENOENT;
	}
	sp = &p->parts[ino_part(ino)];
	if (strcmp(name, "user.mime_type") == 0)
		r = dup_or_nodata(sp->mime_type, out);
	else if (strcmp(name, "user.charset") == 0)
		r = dup_or_nodata(sp->charset, out);
	else if (strcmp(name, "user.imap.section") == 0)
		r = dup_or_nodata(sp->kind == PART_HEADER ? "HEADER" : sp->section, out);
	else
		r = -ENODATA;
	store_parts_put(fs->st, p);
	return r;
}

static int xattr_value(struct fs *fs, fuse_ino_t ino, const char *name, char **out)
{
	struct store_msg m;
	uint32_t uidvalidity;
	int r;

	/*
	 * Only user.* attributes exist here. ls -l asks every file for
	 * security.selinux and system.posix_acl_access; "not supported" (not
	 * "no such attribute") makes it stop asking for the rest of the mount:
	 * 2.5 requests a file fewer on a big listing.
	 */
	if (strncmp(name, "user.", 5) != 0)
		return -ENOTSUP;
	switch (ino_kind(ino)) {
	case INO_ROOT:
		if (strcmp(name, "user.imapfs.bytes_received") == 0)
			return asprintf(out, "%" PRIu64, store_bytes_in(fs->st)) < 0 ? -ENOMEM : 0;
		return -ENODATA;
	case INO_MESSAGE:
		r = message_of(fs, &ino, &m, &uidvalidity);
		if (r < 0)
			return r;
		if (strcmp(name, "user.imap.uid") == 0)
			return asprintf(out, "%" PRIu32, m.uid) < 0 ? -ENOMEM : 0;
		if (strcmp(name, "user.imap.flags") == 0) {
			*out = store_flags_text(fs->st, m.flags);
			return *out ? 0 : -ENODATA;
		}
		if (strcmp(name, "user.imap.subject") == 0 || strcmp(name, "user.imap.from") == 0 ||
		    strcmp(name, "user.imap.date") == 0 || strcmp(name, "user.imap.message_id") == 0)
			return message_header_xattr(fs, ino, name, out);
		return -ENODATA;
	case INO_PART:
		return part_xattr(fs, ino, name, out);
	case INO_MAILBOX:
		if (strcmp(name, "user.imap.uidvalidity") == 0) {
			struct store_msg *msgs;
			size_t n;

			r = store_messages(fs->st, ino_mailbox(ino), &msgs, &n, &uidvalidity);
			if (r < 0)
				return r;
			free(msgs);
			if (!uidvalidity)
				return -ENODATA;
			return asprintf(out, "%" PRIu32, uidvalidity) < 0 ? -ENOMEM : 0;
		}
		return -ENODATA;
	default:
		return -ENODATA;
	}
}

static void reply_xattr(fuse_req_t req, const char *value, size_t len, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, value, len);
}

static void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	char *value = NULL;
	int r = xattr_value(fs_of(req), ino, name, &value);

	if (r < 0)
		fuse_reply_err(req, r == -ESTALE ? ENOENT : -r);
	else
		reply_xattr(req, value, strlen(value), size);
	free(value);
}

/* Lists the names of ino's attributes that have a value. */
static void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	static const char *const root_names[] = { "user.imapfs.bytes_received", NULL };
	static const char *const mailbox_names[] = { "user.imap.uidvalidity", NULL };
	static const char *const message_names[] = {
		"user.imap.uid", "user.imap.flags", "user.imap.subject", "user.imap.from",
		"user.imap.date", "user.imap.message_id", NULL
	};
	static const char *const part_names[] = {
		"user.mime_type", "user.charset", "user.imap.section", NULL
	};
	const char *const *names;
	struct fs *fs = fs_of(req);
	char list[512];
	size_t len = 0;

	switch (ino_kind(ino)) {
	case INO_ROOT:
		names = root_names;
		break;
	case INO_MAILBOX:
		names = mailbox_names;
		break;
	case INO_MESSAGE:
		names = message_names;
		break;
	case INO_PART:
		names = part_names;
		break;
	default:
		reply_xattr(req, "", 0, size);
		return;
	}
	for (size_t i = 0; names[i]; i++) {
		char *v = NULL;
		size_t n = strlen(names[i]) + 1;

		/* Only what getxattr would answer: getfattr -d must not meet ENODATA. */
		if (xattr_value(fs, ino, names[i], &v) < 0)
			continue;
		free(v);
		memcpy(list + len, names[i], n);
		len += n;
	}
	reply_xattr(req, list, len, size);
}

/* Mail has no links: a clear refusal, not ENOSYS ("Function not implemented"). */
static void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link;
	(void)parent;
	(void)name;
	fuse_reply_err(req, EPERM);
}

static void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino;
	(void)newparent;
	(void)newname;
	fuse_reply_err(req, EPERM);
}

static const struct fuse_lowlevel_ops ops = {
	.init = fs_init,
	.lookup = fs_lookup,
	.getattr = fs_getattr,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.readdirplus = fs_readdirplus,
	.releasedir = fs_releasedir,
	.open = fs_open,
	.read = fs_read,
	.release = fs_release,
	.statfs = fs_statfs,
	.getxattr = fs_getxattr,
	.listxattr = fs_listxattr,
	.create = fs_create,
	.write = fs_write,
	.flush = fs_flush,
	.setattr = fs_setattr,
	.unlink = fs_unlink,
	.rename = fs_rename,
	.mkdir = fs_mkdir,
	.rmdir = fs_rmdir,
	.setxattr = fs_setxattr,
	.removexattr = fs_removexattr,
	.symlink = fs_symlink,
	.link = fs_link,
};

const struct fuse_lowlevel_ops *fs_operations(void)
{
	return &ops;
}

struct fs *fs_new(struct store *st, const struct fs_options *opts)
{
	struct fs *fs = calloc(1, sizeof(*fs));
	int r;

	if (!fs)
		return NULL;
	fs->st = st;
	fs->opts = *opts;
	fs->uid = getuid();
	fs->gid = getgid();
	fs->mounted_at = time(NULL);
	r = local_new(&fs->local);
	if (r < 0) {
		fprintf(stderr, "imapfs: cannot make a private directory for local files in %s: %s\n",
			getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", strerror(-r));
		free(fs);
		return NULL;
	}
	pthread_mutex_init(&fs->opens_lock, NULL);
	pthread_mutex_init(&fs->uploads_lock, NULL);
	pthread_mutex_init(&fs->defer_lock, NULL);
	pthread_cond_init(&fs->defer_cond, NULL);
	return fs;
}

struct deferred {
	struct deferred *next;
	fuse_ino_t dir; /* EPOCH: every name the kernel holds */
};

#define EPOCH ((fuse_ino_t)0)

/*
 * FUSE_NOTIFY_INC_EPOCH (Linux 6.16): the kernel takes every name it holds
 * for stale at its next use, and takes no lock to do so. libfuse 3.14 has no
 * call for it, so the notification is written as the kernel reads it: a
 * bare fuse_out_header with the code in error and unique 0. Returns false
 * where the kernel does not know it (EINVAL); names then expire by time.
 */
static bool notify_inc_epoch(struct fuse_session *se)
{
	struct {
		uint32_t len;
		int32_t error;
		uint64_t unique;
	} h = { sizeof(h), 8 /* FUSE_NOTIFY_INC_EPOCH */, 0 };

	return write(fuse_session_fd(se), &h, sizeof(h)) == (ssize_t)sizeof(h);
}

/*
 * Sends the queued directory invalidations. A thread of its own, so that no
 * FUSE operation and no store lock ever waits on the kernel.
 */
static void *defer_main(void *arg)
{
	struct fs *fs = arg;

	pthread_mutex_lock(&fs->defer_lock);
	while (!fs->defer_stop || fs->deferred) {
		struct deferred *d = fs->deferred;

		if (!d) {
			pthread_cond_wait(&fs->defer_cond, &fs->defer_lock);
			continue;
		}
		fs->deferred = d->next;
		if (!fs->deferred)
			fs->deferred_tail = NULL;
		pthread_mutex_unlock(&fs->defer_lock);
		/*
		 * Neither takes a lock a request in flight can hold (see fs.h).
		 * -ENOENT when the kernel has no such inode: nothing to forget.
		 */
		if (d->dir == EPOCH) {
			if (fs->epoch_works && !notify_inc_epoch(fs->se)) {
				fs->epoch_works = false;
				log_debug("kernel has no FUSE_NOTIFY_INC_EPOCH: names gone elsewhere expire in %.1f s",
					  fs->opts.dir_timeout);
			}
		} else {
			fuse_lowlevel_notify_inval_inode(fs->se, d->dir, 0, 0);
		}
		free(d);
		pthread_mutex_lock(&fs->defer_lock);
	}
	pthread_mutex_unlock(&fs->defer_lock);
	return NULL;
}

/* Queues dir (or EPOCH) once: a relisting that finds 1,000 messages gone sends one. */
static void defer_inval_dir(struct fs *fs, fuse_ino_t dir)
{
	struct deferred *d;

	if (!fs->se || !fs->defer_running)
		return;
	pthread_mutex_lock(&fs->defer_lock);
	for (d = fs->deferred; d; d = d->next)
		if (d->dir == dir)
			goto out;
	d = malloc(sizeof(*d));
	if (!d)
		goto out;
	d->next = NULL;
	d->dir = dir;
	if (fs->deferred_tail)
		fs->deferred_tail->next = d;
	else
		fs->deferred = d;
	fs->deferred_tail = d;
	pthread_cond_signal(&fs->defer_cond);
out:
	pthread_mutex_unlock(&fs->defer_lock);
}

void fs_set_session(struct fs *fs, struct fuse_session *se)
{
	fs->se = se;
	fs->epoch_works = true;
	fs->defer_running = pthread_create(&fs->defer_thread, NULL, defer_main, fs) == 0;
}

static fuse_ino_t dir_ino(uint32_t id)
{
	return id == STORE_ROOT_ID ? FUSE_ROOT_ID : ino_make(INO_MAILBOX, id, 0, 0);
}

void fs_inval_dir(void *ctx, uint32_t id)
{
	defer_inval_dir(ctx, dir_ino(id));
}

void fs_inval_name(void *ctx, uint32_t parent, const char *name)
{
	(void)name; /* not one name, every name: see fs.h */
	defer_inval_dir(ctx, dir_ino(parent));
	defer_inval_dir(ctx, EPOCH);
}

void fs_inval_message(void *ctx, uint32_t mailbox, uint32_t uid)
{
	(void)uid;
	defer_inval_dir(ctx, dir_ino(mailbox));
	defer_inval_dir(ctx, EPOCH);
}

void fs_free(struct fs *fs)
{
	if (!fs)
		return;
	if (fs->defer_running) {
		pthread_mutex_lock(&fs->defer_lock);
		fs->defer_stop = true;
		pthread_cond_signal(&fs->defer_cond);
		pthread_mutex_unlock(&fs->defer_lock);
		pthread_join(fs->defer_thread, NULL);
	}
	pthread_mutex_destroy(&fs->defer_lock);
	pthread_cond_destroy(&fs->defer_cond);
	uploads_free(fs);
	while (fs->open_msgs) {
		struct open_msg *om = fs->open_msgs;

		fs->open_msgs = om->next;
		open_msg_free(fs, om);
	}
	pthread_mutex_destroy(&fs->opens_lock);
	local_free(fs->local);
	pthread_mutex_destroy(&fs->uploads_lock);
	free(fs);
}
