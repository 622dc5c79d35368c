/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The extended attributes, read and set (see xattr.h). */
#include "fs/xattr.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/xattr.h>

#include "fs/inode.h"
#include "fs/mailbox_xattr.h"
#include "fs/node.h"
#include "fs/recent.h"
#include "fs/search.h"
#include "fs/upload.h"
#include "util/buf.h"

/* ---- reading ---- */

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
		if (strcmp(name, "user.imapfs.pending") == 0)
			return asprintf(out, "%zu", store_pending_changes(fs->st)) < 0 ? -ENOMEM : 0;
		if (strcmp(name, "user.imapfs.error") == 0) {
			*out = store_journal_error(fs->st);
			return *out ? 0 : -ENODATA;
		}
		return -ENODATA;
	case INO_MESSAGE:
		r = message_of(fs, &ino, &m, &uidvalidity);
		if (r < 0)
			return r;
		if (strcmp(name, "user.imap.uid") == 0)
			return asprintf(out, "%" PRIu32, m.uid) < 0 ? -ENOMEM : 0;
		/* What a file manager asks before it picks an application (shared-mime-info's key). */
		if (strcmp(name, "user.mime_type") == 0)
			return dup_or_nodata("message/rfc822", out);
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
	case INO_SEARCH:
		if (strcmp(name, "user.imapfs.error") == 0)
			return search_error_xattr(fs, ino, out);
		return -ENODATA;
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
		r = mailbox_xattr_get(fs, ino_mailbox(ino), name, out);
		return r == -ENOTSUP ? -ENODATA : r;
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

void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
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
void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	static const char *const root_names[] = { "user.imapfs.bytes_received",
						   "user.imapfs.pending", "user.imapfs.error",
						   NULL };
	static const char *const mailbox_names[] = { "user.imap.uidvalidity", NULL };
	static const char *const search_names[] = { "user.imapfs.error", NULL };
	static const char *const message_names[] = {
		"user.imap.uid", "user.imap.flags", "user.imap.subject", "user.imap.from",
		"user.imap.date", "user.imap.message_id", "user.mime_type", NULL
	};
	static const char *const part_names[] = {
		"user.mime_type", "user.charset", "user.imap.section", NULL
	};
	const char *const *names;
	struct fs *fs = fs_of(req);
	struct buf list = BUF_INIT;
	int r = 0;

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
	case INO_SEARCH:
		names = search_names;
		break;
	default:
		reply_xattr(req, "", 0, size);
		return;
	}
	for (size_t i = 0; names[i] && r == 0; i++) {
		char *v = NULL;

		/* Only what getxattr would answer: getfattr -d must not meet ENODATA. */
		if (xattr_value(fs, ino, names[i], &v) < 0)
			continue;
		free(v);
		r = buf_append(&list, names[i], strlen(names[i]) + 1);
	}
	if (r == 0 && ino_kind(ino) == INO_MAILBOX)
		r = mailbox_xattr_list(fs, ino_mailbox(ino), &list);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		reply_xattr(req, list.data ? list.data : "", list.len, size);
	buf_free(&list);
}

/* ---- flags ---- */

static bool read_only_xattr(const char *name)
{
	static const char *const names[] = {
		"user.imap.uid", "user.imap.subject", "user.imap.from", "user.imap.date",
		"user.imap.message_id", "user.imap.uidvalidity", "user.mime_type", "user.charset",
		"user.imap.section", "user.imapfs.bytes_received", "user.imapfs.error",
		"user.imapfs.pending", NULL
	};

	for (size_t i = 0; names[i]; i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

/* Whether the flag list text (space-separated) holds flag, in any case. */
static bool has_flag(const char *list, const char *flag, size_t len)
{
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, " ");

		if (n == len && strncasecmp(p, flag, len) == 0)
			return true;
		p += n;
		p += strspn(p, " ");
	}
	return false;
}

/*
 * The rights going from flags was to flags want needs (RFC 4314 §4): "s"
 * for \Seen, "t" for \Deleted, "w" for any other flag set or cleared.
 */
static void rights_to_change(const char *was, const char *want, char need[4])
{
	size_t n = 0;
	const char *lists[2] = { was, want };

	need[0] = '\0';
	for (int k = 0; k < 2; k++) {
		for (const char *p = lists[k]; *p;) {
			size_t len = strcspn(p, " ");
			char right = len == 5 && strncasecmp(p, "\\Seen", 5) == 0 ? 's' :
				     len == 8 && strncasecmp(p, "\\Deleted", 8) == 0 ? 't' : 'w';

			if (!has_flag(lists[1 - k], p, len) && !memchr(need, right, n))
				need[n++] = right;
			need[n] = '\0';
			p += len;
			p += strspn(p, " ");
		}
	}
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
		r = upload_set_flags(fs, ino, &norm);
		if (r != -EAGAIN) {
			free(norm);
			return r;
		}
		/* Sent: resolved through its UID. */
		ino = upload_sent_as(fs, ino);
		if (!ino) {
			free(norm);
			return -ENOENT;
		}
	}
	if (ino_kind(ino) == INO_MESSAGE) {
		struct store_msg m;
		uint32_t uidvalidity;
		char *old, need[4];

		r = message_of(fs, &ino, &m, &uidvalidity);
		old = r == 0 ? store_flags_text(fs->st, m.flags) : NULL;
		if (old) {
			rights_to_change(old, norm, need);
			r = store_may(fs->st, ino_mailbox(ino), need);
		}
		free(old);
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
	else if (ino_kind(ino) == INO_MAILBOX &&
		 (r = mailbox_xattr_set(fs, ino_mailbox(ino), name, value, size, flags)) != -ENOTSUP)
		; /* its own */
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
	else if (ino_kind(ino) == INO_MAILBOX &&
		 (r = mailbox_xattr_remove(fs, ino_mailbox(ino), name)) != -ENOTSUP)
		; /* its own */
	else if (read_only_xattr(name))
		r = -EPERM;
	else
		r = -ENODATA;
	fuse_reply_err(req, r == -ESTALE ? ENOENT : -r);
}
