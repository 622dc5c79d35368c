/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unlink, rename, mkdir, rmdir, symlink and link (see names.h). */
#include "fs/search.h"
#include "fs/names.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fs/inode.h"
#include "fs/node.h"
#include "fs/recent.h"
#include "fs/spool.h"
#include "fs/upload.h"
#include "log.h"

/* ---- what a name in a mailbox directory refers to ---- */

enum target_kind { T_NONE, T_MAILBOX, T_MESSAGE, T_PARTS, T_UPLOAD };

struct target {
	enum target_kind kind;
	uint32_t id;   /* T_MAILBOX: the mailbox */
	uint32_t uid;  /* T_MESSAGE: the message (also a sent upload's) */
	bool upload;   /* a name made through the mount */
};

/* Caller must not hold uploads_lock. */
static int resolve(struct fs *fs, fuse_ino_t parent, const char *name, struct target *t)
{
	uint32_t pid = ino_mailbox(parent), uid, uidvalidity;
	struct store_msg m;
	bool sent;
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
	if (parts_name_form(name) && store_parts_by_name(fs->st, pid, name, &uid) == 0) {
		t->kind = T_PARTS;
		return 0;
	}
	if (message_name_form(name)) {
		r = store_message_by_name(fs->st, pid, name, &uid);
		if (r == 0)
			r = store_message(fs->st, pid, uid, &m, &uidvalidity);
		if (r == 0) {
			uint32_t sent_uid;

			t->kind = T_MESSAGE;
			t->uid = uid;
			/* cp of an export's 7.eml, come in as UID 3: a name made here */
			t->upload = upload_find(fs, pid, name, &sent, &sent_uid) && sent &&
				    sent_uid == uid;
			return 0;
		}
		if (r == -EIO)
			return r;
	}
	t->upload = upload_find(fs, pid, name, &sent, &t->uid);
	if (t->upload)
		t->kind = sent ? T_MESSAGE : T_UPLOAD;
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
	uint32_t trash, newuid = 0, uidvalidity = 0;
	struct store_msg was;
	bool held;
	int r;

	/* Rights first: a shared folder's refusal must come before any Trash is made. */
	r = store_may(fs->st, mailbox, "te");
	if (r < 0)
		return r;
	if (!fs->opts.delete_expunges) {
		r = store_trash_mailbox(fs->st, &trash);
		if (r < 0) {
			log_error("cannot find or create the Trash mailbox: %s; nothing deleted",
				  strerror(-r));
			return r;
		}
		if (trash != mailbox) {
			held = store_held_message(fs->st, mailbox, uid, &was, &uidvalidity) == 0;
			r = store_remove(fs->st, mailbox, uid, trash, &newuid);
			if (r == 0 && !newuid && held)
				note_moved_unknown(fs, mailbox, uid, trash, NULL, &was, uidvalidity);
			else if (r == 0)
				note_moved(fs, mailbox, uid, trash, newuid);
			return r;
		}
	}
	r = store_remove(fs->st, mailbox, uid, 0, &newuid);
	if (r == 0)
		note_moved(fs, mailbox, uid, 0, 0);
	return r;
}

/*
 * What unlink and rmdir share: a read-only mount, and the local side (dot
 * names) answer at once (true); else t is what name resolves to, r the result.
 */
static bool answered_locally(fuse_req_t req, fuse_ino_t parent, const char *name, bool dir,
			     struct target *t, int *r)
{
	struct fs *fs = fs_of(req);

	if (fs->opts.readonly) {
		fuse_reply_err(req, EROFS);
		return true;
	}
	if (ino_kind(parent) == INO_LOCAL) {
		fuse_reply_err(req, -local_remove(fs->local, parent, name, dir));
		return true;
	}
	*r = resolve(fs, parent, name, t);
	if (*r == -ENOENT && is_local(fs, parent, name)) {
		fuse_reply_err(req, -local_remove(fs->local, parent, name, dir));
		return true;
	}
	return false;
}

/*
 * A name in a search directory stands for the message in its mailbox: the
 * operation acts there. Replies and returns true when it cannot.
 */
static bool search_result_parent(fuse_req_t req, fuse_ino_t *parent, const char *name)
{
	int r;

	if (ino_kind(*parent) != INO_SEARCH)
		return false;
	r = search_mailbox_of(fs_of(req), *parent, name, parent);
	if (r < 0)
		fuse_reply_err(req, ino_uid(*parent) == 0 ? EPERM : -r);
	return r < 0;
}

void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct target t;
	int r;

	if (search_result_parent(req, &parent, name))
		return;
	if (answered_locally(req, parent, name, false, &t, &r))
		return;
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
	if (r == 0 && t.upload)
		r = upload_forget(fs, ino_mailbox(parent), name);
	fuse_reply_err(req, -r);
}

/* ---- rename ---- */

static int rename_message(struct fs *fs, fuse_ino_t parent, const char *name,
			  const struct target *src, fuse_ino_t newparent, const char *newname)
{
	uint32_t from = ino_mailbox(parent), to = ino_mailbox(newparent), newuid = 0;
	uint32_t uidvalidity = 0;
	struct store_msg was;
	struct target dst;
	bool held;
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
		return upload_rename(fs, from, name, to, newname);
	}
	if (src->kind == T_UPLOAD) {
		r = store_may(fs->st, to, "i");
		return r < 0 ? r : upload_rename(fs, from, name, to, newname);
	}
	r = store_may(fs->st, from, "te");
	if (r == 0)
		r = store_may(fs->st, to, "i");
	held = r == 0 && store_held_message(fs->st, from, src->uid, &was, &uidvalidity) == 0;
	if (r == 0)
		r = store_move(fs->st, from, src->uid, to, &newuid);
	if (r < 0)
		return r;
	/*
	 * The kernel now files the old inode under newname until that entry
	 * expires (never invalidated: see fs.h): moved_to() answers for it.
	 */
	if (!newuid && held)
		note_moved_unknown(fs, from, src->uid, to, newname, &was, uidvalidity);
	else
		note_moved(fs, from, src->uid, to, newuid);
	if (src->upload)
		upload_forget(fs, from, name);
	/*
	 * The moved message is <newuid>.eml there; the name it was moved to
	 * refers to it too, unless a message of the server's has that name (then
	 * both stay: a rename never destroys a message).
	 */
	if (newuid && !(dst.kind == T_MESSAGE && !dst.upload))
		upload_name_sent(fs, to, newname, newuid, store_message_mode(fs->st, from, src->uid),
				 true);
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
	bool in_journal = false;
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
	r = store_may(fs->st, mailbox, "i");
	if (r == 0)
		r = local_open(fs->local, ino, O_RDONLY, &fd);
	if (r == 0)
		r = mail_ready(newname, fd, (uint64_t)st.st_size, &ready, &size);
	if (r == 0)
		r = store_append(fs->st, mailbox, ready, size, NULL, st.st_mtime, newname, &uid,
				 &in_journal);
	/* Waiting in the journal (offline): shown under its name, read from these bytes. */
	if (r == 0 && in_journal) {
		int keep = dup(ready);

		if (keep >= 0)
			upload_journaled(fs, mailbox, newname, keep, size, st.st_mtime, true);
	}
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
		upload_name_sent(fs, mailbox, newname, uid, st.st_mode, false);
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
	/* Nothing is made in a search directory: its results are the server's. */
	if (ino_kind(newparent) == INO_PARTS || ino_kind(newparent) == INO_SEARCH) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (search_result_parent(req, &parent, name))
		return;
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
			else if ((r = store_may(fs->st, src.id, "x")) == 0 &&
				 (ino_kind(newparent) == INO_ROOT ||
				  (r = store_may(fs->st, ino_mailbox(newparent), "k")) == 0))
				r = store_rename_mailbox(fs->st, src.id, ino_mailbox(newparent), newname);
			break;
		case T_MESSAGE:
		case T_UPLOAD:
			if (ino_kind(newparent) != INO_MAILBOX)
				r = ino_kind(newparent) == INO_ROOT ? -EPERM : -ENOTDIR;
			else
				r = rename_message(fs, parent, name, &src, newparent, newname);
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
	r = ino_kind(parent) == INO_MAILBOX ? store_may(fs->st, ino_mailbox(parent), "k") : 0;
	if (r == 0)
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

	r = store_parts_by_name(fs->st, mailbox, name, &uid);
	if (r < 0)
		return r;
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

	if (search_owns(parent, name) &&
	    (ino_uid(parent) == 0 || ino_mailbox(parent) == STORE_ROOT_ID ||
	     !parts_name_form(name))) {
		/* .search, its queries and the mailboxes of their trees are no mailboxes to remove */
		fuse_reply_err(req, EPERM);
		return;
	}
	/*
	 * A result's <UID>.parts is its message's, as in the mailbox (rm -r:
	 * gone with the message, kept while it is there), whether or not the
	 * search still finds the message.
	 */
	if (ino_kind(parent) == INO_SEARCH)
		parent = ino_make(INO_MAILBOX, ino_mailbox(parent), 0, 0);
	if (answered_locally(req, parent, name, true, &t, &r))
		return;
	if (r == 0) {
		if (t.kind == T_MAILBOX) {
			r = store_may(fs->st, t.id, "x");
			if (r == 0)
				r = store_delete_mailbox(fs->st, t.id);
		}
		else if (t.kind == T_PARTS)
			r = parts_rmdir(fs, ino_mailbox(parent), name);
		else
			r = -ENOTDIR;
	}
	fuse_reply_err(req, -r);
}

/* Mail has no links: a clear refusal, not ENOSYS ("Function not implemented"). */
void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link;
	(void)parent;
	(void)name;
	fuse_reply_err(req, EPERM);
}

void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino;
	(void)newparent;
	(void)newname;
	fuse_reply_err(req, EPERM);
}
