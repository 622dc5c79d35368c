/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The lookup and getattr operations (see lookup.h). */
#include "fs/lookup.h"

#include <errno.h>
#include <string.h>

#include "fs/inode.h"
#include "fs/node.h"
#include "fs/recent.h"
#include "fs/search.h"
#include "fs/upload.h"

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

void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	enum ino_kind kind = ino_kind(parent);
	uint32_t pid = ino_mailbox(parent), id, uid, uidvalidity, from;
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
	if (search_owns(parent, name)) {
		r = search_lookup(fs, parent, name, &e);
		if (r == 0)
			fuse_reply_entry(req, &e);
		else
			fuse_reply_err(req, -r);
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
	if (r == 0 || (!message_name_form(name) && !parts_name_form(name))) {
		store_refresh_mailboxes(fs->st, false);
		r = store_lookup_mailbox(fs->st, pid, name, &id);
	}
	if (r == 0) {
		dir_entry_param(fs, id, &e);
		fuse_reply_entry(req, &e);
		return;
	}
	if (kind == INO_MAILBOX && message_name_form(name)) {
		r = store_message_by_name(fs->st, pid, name, &uid);
		if (r == 0)
			r = store_message(fs->st, pid, uid, &m, &uidvalidity);
		if (r == 0) {
			msg_entry_param(fs, pid, uidvalidity, &m, &e);
			fuse_reply_entry(req, &e);
			return;
		}
		/* Moved here with no UID known yet (offline): its old inode, not kept. */
		if (r == -ENOENT && moved_unknown_named(fs, pid, name, &from, &uid, &m, &uidvalidity)) {
			msg_entry_param(fs, from, uidvalidity, &m, &e);
			e.entry_timeout = e.attr_timeout = 0;
			fuse_reply_entry(req, &e);
			return;
		}
	} else if (kind == INO_MAILBOX && parts_name_form(name) &&
		   store_parts_by_name(fs->st, pid, name, &uid) == 0) {
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
	if (r == 0 || r == -ENOENT || r == -ESTALE) {
		/*
		 * Kept by the kernel as long as a name that is there (cp, rsync
		 * and editors look a new name up two or three times before they
		 * create it); a create replaces it, and a name that comes from
		 * elsewhere is as late as a listing checked again.
		 */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->opts.dir_timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	fuse_reply_err(req, -r);
}

void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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
	case INO_SEARCH:
		r = search_getattr(fs, ino, &stbuf);
		if (r < 0)
			break;
		fuse_reply_attr(req, &stbuf, fs->opts.dir_timeout);
		return;
	default:
		r = -ENOENT;
		break;
	}
	fuse_reply_err(req, r == -ESTALE ? ENOENT : -r);
}
