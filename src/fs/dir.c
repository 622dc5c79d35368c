/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Directory listings (see dir.h). */
#include "fs/dir.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/inode.h"
#include "fs/interrupt.h"
#include "fs/node.h"
#include "fs/recent.h"
#include "fs/search.h"
#include "fs/upload.h"

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

static int add_result(void *ctx, char *name, uint64_t ino, bool is_dir, const struct store_msg *m)
{
	struct snapshot_fill *f = ctx;

	return snapshot_add(f->d, f->cap, name, ino, is_dir, m);
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
	if (ino_kind(ino) == INO_SEARCH) {
		r = search_list(fs, ino, add_result, &(struct snapshot_fill){ d, &cap },
				&d->uidvalidity);
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
		if (r == 0)
			r = store_readable_names(fs->st, id, msgs, nmsgs, d->uidvalidity);
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
		char *name = store_listed_name(fs->st, id, msgs[i].uid);
		r = snapshot_add(d, &cap, name, ino_make(INO_MESSAGE, id, msgs[i].uid, 0), false,
				 &msgs[i]);
		if (r < 0)
			break;
		name = store_parts_name(fs->st, id, msgs[i].uid);
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

void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct interruptible it;
	struct dir_snapshot *d = NULL;
	int r;

	if (ino_kind(ino) != INO_PARTS && ino_kind(ino) != INO_ROOT &&
	    ino_kind(ino) != INO_MAILBOX && ino_kind(ino) != INO_LOCAL &&
	    ino_kind(ino) != INO_SEARCH) {
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
			else if (ino_kind(de->ino) == INO_SEARCH)
				search_entry_param(fs, de->ino, &e);
			else if (de->is_dir)
				dir_entry_param(fs, ino_mailbox(de->ino), &e);
			else
				msg_entry_param(fs, ino_mailbox(de->ino), d->uidvalidity, &de->msg, &e);
			/*
			 * A search's result changes without any message going (one read
			 * leaves UNSEEN): its names are checked again as a listing's.
			 */
			if (ino_kind(ino) == INO_SEARCH)
				e.entry_timeout = fs->opts.dir_timeout;
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

void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	snapshot_free(fs_of(req), (struct dir_snapshot *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}
