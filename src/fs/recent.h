/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What was moved or removed through the mount lately. The kernel keeps an
 * old inode under a name until the entry expires (names are never
 * invalidated: see fs.h), so the inode of a message moved, sent to Trash
 * or expunged must still answer for where it went, and rm -r must still
 * find the <uid>.parts it listed before. Also the inode numbers of names
 * just unlinked, for a name made again (see note_unlinked).
 *
 * Bounded rings in struct fs (moved[], unlinked[]), under fs->uploads_lock:
 * fs_create takes an unlinked number while it adds its name (upload.c).
 * Calls nothing else of src/fs/.
 */
#ifndef IMAPFS_FS_RECENT_H
#define IMAPFS_FS_RECENT_H

#include <stdbool.h>
#include <stdint.h>

#include "fs/fs_internal.h"

/* moved[] entries of local files that became messages: from this, uid the node's serial. */
#define LOCAL_FROM UINT32_MAX

/* Remembers that uid of from went to newuid of to (to 0: expunged). Takes the lock. */
void note_moved(struct fs *fs, uint32_t from, uint32_t uid, uint32_t to, uint32_t newuid);
/*
 * Remembers that uid of from went to mailbox to with no UID known yet (a
 * move journaled offline, or a server without COPYUID): for a few seconds
 * the old inode, and the new name in to, answer as the message was (was,
 * of uidvalidity), since mv stats what it just moved.
 */
void note_moved_unknown(struct fs *fs, uint32_t from, uint32_t uid, uint32_t to,
			const char *name, const struct store_msg *was, uint32_t uidvalidity);
/*
 * Until the kernel forgets it, a moved message's old inode is what the kernel
 * files under its new name (mv stats it right away): where it went, if it
 * was moved recently. Returns true and sets *to, *newuid.
 */
bool moved_to(struct fs *fs, uint32_t from, uint32_t uid, uint32_t *to, uint32_t *newuid);
/* For note_moved_unknown()'s messages: true and *was, *uidvalidity as they were. */
bool moved_unknown(struct fs *fs, uint32_t from, uint32_t uid, struct store_msg *was,
		   uint32_t *uidvalidity);
/*
 * The same, by the name it was moved to in mailbox to (mv looks it up right
 * after): true and *from, *uid of the old inode, *was and *uidvalidity.
 */
bool moved_unknown_named(struct fs *fs, uint32_t to, const char *name, uint32_t *from,
			 uint32_t *uid, struct store_msg *was, uint32_t *uidvalidity);
/*
 * Whether message uid of from was moved, sent to Trash or expunged through
 * the mount lately and its <uid>.parts view not removed yet: rm -r removes
 * <uid>.eml, then the <uid>.parts it listed before, which must still look
 * up, list (empty) and rmdir without error.
 */
bool removed_here(struct fs *fs, uint32_t from, uint32_t uid);
/* Its <uid>.parts view was removed too: it looks up no more. */
void forget_removed(struct fs *fs, uint32_t from, uint32_t uid);
/*
 * The message a local file became when renamed to a plain name (its inode
 * stays under that name in the kernel until the entry expires). Sets *msg.
 */
bool local_became(struct fs *fs, uint64_t ino, uint64_t *msg);
/*
 * The message of an INO_MESSAGE inode, following a recent move (the kernel
 * keeps the old inode under the new name until the entry expires). Sets
 * *ino to the inode of where the message is now, fills *m and *uidvalidity.
 * Returns 0 or -errno (-ENOENT, -ESTALE as store_message).
 */
int message_of(struct fs *fs, fuse_ino_t *ino, struct store_msg *m, uint32_t *uidvalidity);

/* Message ino, named mailbox/name, was removed through the mount. Takes the lock. */
void note_unlinked(struct fs *fs, uint32_t mailbox, const char *name, uint64_t ino);
/* Caller holds uploads_lock. The inode number last unlinked under mailbox/name, or 0 (taken once). */
uint64_t take_unlinked(struct fs *fs, uint32_t mailbox, const char *name);

#endif
