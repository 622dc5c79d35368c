/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What was moved or removed through the mount lately (see recent.h). */
#include "fs/recent.h"

#include <errno.h>
#include <string.h>

#include "fs/inode.h"

/* Remembers that uid of from went to newuid of to (to 0: expunged). */
void note_moved(struct fs *fs, uint32_t from, uint32_t uid, uint32_t to, uint32_t newuid)
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

/*
 * A name made again right after its message was removed through the mount
 * shows the removed message's inode number, as a local file system that
 * recycles the freed inode does: vim's ":w!" of a read-only file unlinks it,
 * creates the name again and refuses to write unless fstat() shows the inode
 * it read ("E949: File changed while writing"). Only the number shown is
 * recycled; the kernel's node is the new file's own.
 */
void note_unlinked(struct fs *fs, uint32_t mailbox, const char *name, uint64_t ino)
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
uint64_t take_unlinked(struct fs *fs, uint32_t mailbox, const char *name)
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
