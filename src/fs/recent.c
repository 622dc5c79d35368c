/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What was moved or removed through the mount lately (see recent.h). */
#include "fs/recent.h"

#include <errno.h>
#include <string.h>

#include "fs/inode.h"
#include "util/clock.h"

#define NMOVED (sizeof(((struct fs *)0)->moved) / sizeof(((struct fs *)0)->moved[0]))

/*
 * How long a message moved with no UID known answers as it was: for mv's
 * stat right after the rename; once the move is made it shows where it went.
 */
#define UNKNOWN_MS 3000

/* Caller holds fs->uploads_lock. */
static bool unknown_fresh(const struct moved_entry *e)
{
	return e->has_was && monotonic_ms() - e->at_ms < UNKNOWN_MS;
}

/* Caller holds fs->uploads_lock: a cleared entry, in place of the oldest. */
static struct moved_entry *new_entry(struct fs *fs, uint32_t from, uint32_t uid, uint32_t to)
{
	struct moved_entry *e = &fs->moved[fs->nmoved++ % NMOVED];

	*e = (struct moved_entry){ .from = from, .uid = uid, .to = to };
	return e;
}

/* Caller holds fs->uploads_lock: the entry for uid of from noted last with a was, or NULL. */
static const struct moved_entry *find_unknown(struct fs *fs, uint32_t from, uint32_t uid)
{
	const struct moved_entry *found = NULL;

	for (unsigned i = 0; i < NMOVED && i < fs->nmoved; i++)
		if (fs->moved[i].from == from && fs->moved[i].uid == uid &&
		    unknown_fresh(&fs->moved[i]))
			found = &fs->moved[i];
	return found;
}

/* Remembers that uid of from went to newuid of to (to 0: expunged). */
void note_moved(struct fs *fs, uint32_t from, uint32_t uid, uint32_t to, uint32_t newuid)
{
	pthread_mutex_lock(&fs->uploads_lock);
	new_entry(fs, from, uid, to)->newuid = newuid;
	pthread_mutex_unlock(&fs->uploads_lock);
}

void note_moved_unknown(struct fs *fs, uint32_t from, uint32_t uid, uint32_t to,
			const char *name, const struct store_msg *was, uint32_t uidvalidity)
{
	struct moved_entry *e;

	pthread_mutex_lock(&fs->uploads_lock);
	e = new_entry(fs, from, uid, to);
	e->has_was = true;
	e->at_ms = monotonic_ms();
	e->was = *was;
	e->was_uidvalidity = uidvalidity;
	if (name && strlen(name) < sizeof(e->name))
		strcpy(e->name, name);
	pthread_mutex_unlock(&fs->uploads_lock);
}

bool moved_unknown(struct fs *fs, uint32_t from, uint32_t uid, struct store_msg *was,
		   uint32_t *uidvalidity)
{
	const struct moved_entry *e;

	pthread_mutex_lock(&fs->uploads_lock);
	e = find_unknown(fs, from, uid);
	if (e) {
		*was = e->was;
		*uidvalidity = e->was_uidvalidity;
	}
	pthread_mutex_unlock(&fs->uploads_lock);
	return e != NULL;
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

bool moved_unknown_named(struct fs *fs, uint32_t to, const char *name, uint32_t *from,
			 uint32_t *uid, struct store_msg *was, uint32_t *uidvalidity)
{
	const struct moved_entry *found = NULL;

	pthread_mutex_lock(&fs->uploads_lock);
	for (unsigned i = 0; i < NMOVED && i < fs->nmoved; i++)
		if (fs->moved[i].to == to && unknown_fresh(&fs->moved[i]) &&
		    strcmp(fs->moved[i].name, name) == 0)
			found = &fs->moved[i];
	if (found) {
		*from = found->from;
		*uid = found->uid;
		*was = found->was;
		*uidvalidity = found->was_uidvalidity;
	}
	pthread_mutex_unlock(&fs->uploads_lock);
	return found != NULL;
}

int message_of(struct fs *fs, fuse_ino_t *ino, struct store_msg *m, uint32_t *uidvalidity)
{
	uint32_t to, newuid;
	int r = store_message(fs->st, ino_mailbox(*ino), ino_uid(*ino), m, uidvalidity);

	if (r == -ENOENT && moved_unknown(fs, ino_mailbox(*ino), ino_uid(*ino), m, uidvalidity))
		return 0;
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
