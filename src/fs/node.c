/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The attributes and entries of each kind of inode (see node.h). */
#include "fs/node.h"

#include <errno.h>
#include <string.h>

#include "fs/inode.h"

/*
 * Whether the user's rights on mailbox id (store_rights) grant one of any;
 * true where they are not known (the server decides).
 */
static bool granted(const struct fs *fs, uint32_t id, const char *any, bool ask)
{
	for (const char *p = any; *p; p++)
		if ((ask ? store_may : store_may_known)(fs->st, id, (char[]){ *p, '\0' }) == 0)
			return true;
	return false;
}

void fill_dir_attr(const struct fs *fs, uint64_t ino, struct stat *stbuf)
{
	memset(stbuf, 0, sizeof(*stbuf));
	stbuf->st_ino = ino;
	/*
	 * Writable directories: copying in, moving, deleting and mkdir map to
	 * IMAP. A mailbox the user may not insert into (no "i" right) is not.
	 */
	stbuf->st_mode = S_IFDIR | (fs->opts.readonly ? 0555 : 0755);
	if (ino_kind(ino) == INO_MAILBOX && !fs->opts.readonly &&
	    !granted(fs, ino_mailbox(ino), "i", true))
		stbuf->st_mode = S_IFDIR | 0555;
	stbuf->st_nlink = 2;
	stbuf->st_uid = fs->uid;
	stbuf->st_gid = fs->gid;
	stbuf->st_mtime = stbuf->st_ctime = stbuf->st_atime = fs->mounted_at;
	stbuf->st_blksize = 4096;
	/* A file manager sorting folders by date shows the ones with new mail first. */
	if (ino_kind(ino) == INO_MAILBOX) {
		int64_t newest = store_newest_date(fs->st, ino_mailbox(ino));

		if (newest)
			stbuf->st_mtime = stbuf->st_ctime = (time_t)newest;
	}
}

void fill_parts_dir_attr(const struct fs *fs, uint64_t ino, const struct store_msg *m,
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
	/*
	 * Nothing to change where the rights allow neither removing nor
	 * flagging: as last asked for the mailbox (its directory's attributes
	 * ask), since this may run under the uploads' lock.
	 */
	if (ino_kind(ino) == INO_MESSAGE && !fs->opts.readonly &&
	    !granted(fs, ino_mailbox(ino), "tws", false))
		stbuf->st_mode &= ~(mode_t)0222;
	stbuf->st_nlink = 1;
	stbuf->st_uid = fs->uid;
	stbuf->st_gid = fs->gid;
	stbuf->st_size = (off_t)m->size;
	stbuf->st_blocks = (blkcnt_t)((m->size + 511) / 512);
	stbuf->st_blksize = 4096;
	stbuf->st_mtime = stbuf->st_ctime = stbuf->st_atime = (time_t)m->date;
}

/* "<uid><suffix>" with a canonical decimal UID (no leading zeros, no sign). */
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

/* How long the kernel may keep the name of a message or of its .parts directory. */
static double msg_name_timeout(const struct fs *fs)
{
	return atomic_load(&fs->long_names) ? fs->opts.file_timeout : fs->opts.dir_timeout;
}

void msg_entry_param(const struct fs *fs, uint32_t id, uint32_t uidvalidity,
		     const struct store_msg *m, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino_make(INO_MESSAGE, id, m->uid, 0);
	e->generation = uidvalidity;
	/* The content is immutable; only membership changes, and that is a listing. */
	e->attr_timeout = fs->opts.file_timeout;
	e->entry_timeout = msg_name_timeout(fs);
	fill_msg_attr(fs, e->ino, m, &e->attr);
}

void parts_dir_entry_param(const struct fs *fs, uint32_t id, uint32_t uidvalidity,
			   const struct store_msg *m, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino_make(INO_PARTS, id, m->uid, 0);
	e->generation = uidvalidity;
	e->attr_timeout = fs->opts.file_timeout;
	e->entry_timeout = msg_name_timeout(fs);
	fill_parts_dir_attr(fs, e->ino, m, &e->attr);
}

void part_attr(const struct fs *fs, uint64_t ino, const struct store_parts *p, size_t idx,
	       struct stat *stbuf)
{
	struct store_msg m = { .uid = p->uid, .size = p->parts[idx].size, .date = p->date };

	fill_msg_attr(fs, ino, &m, stbuf);
}

void part_entry_param(const struct fs *fs, const struct store_parts *p, size_t idx,
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
int parts_of(struct fs *fs, fuse_ino_t ino, struct store_parts **out)
{
	uint32_t id = ino_mailbox(ino), uidvalidity;
	struct store_msg m;
	int r = store_message(fs->st, id, ino_uid(ino), &m, &uidvalidity);

	if (r < 0)
		return r;
	return store_parts_get(fs->st, id, uidvalidity, m.uid, m.date, out);
}
