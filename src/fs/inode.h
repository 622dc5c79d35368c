/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Inode numbers are computed, not allocated: each names its object directly,
 * so the same file has the same number for the life of the mount, lookups need
 * no table, and forget has nothing to free.
 *
 *   63..61 kind   60..45 mailbox id   44..13 UID   12..0 part index
 *
 * The root is FUSE_ROOT_ID (1). A mailbox's UIDVALIDITY goes out as the
 * entry's generation, so when a UID is reused in a recreated mailbox the kernel
 * treats the old inode as stale instead of serving its cached pages.
 */
#ifndef IMAPFS_FS_INODE_H
#define IMAPFS_FS_INODE_H

#include <stdint.h>

#include "store/parts.h"
#include "store/store.h"

enum ino_kind {
	INO_ROOT = 0,
	INO_MAILBOX = 1,
	INO_MESSAGE = 2,
	INO_PARTS = 3,
	INO_PART = 4,
	INO_UPLOAD = 5, /* a file being written through the mount: "uid" is a serial */
	INO_LOCAL = 6,  /* a file or directory of the local side (local.h): "uid" is a serial */
	INO_SEARCH = 7, /* <mailbox>/.search ("uid" 0) or a query under it ("uid": search.c's serial) */
};

#define INO_PART_MAX ((1u << 13) - 1)
#define INO_MAILBOX_MASK ((1u << 16) - 1)

/* The store's limits are what the bits can hold; ids are never reused within a mount. */
_Static_assert(STORE_MAX_MAILBOXES <= INO_MAILBOX_MASK + 1u, "mailbox ids must fit bits 60..45");
_Static_assert(STORE_MAX_PARTS <= INO_PART_MAX + 1u, "part indexes must fit bits 12..0");

static inline uint64_t ino_make(enum ino_kind kind, uint32_t mailbox, uint32_t uid, uint32_t part)
{
	if (kind == INO_ROOT)
		return 1;
	return (uint64_t)kind << 61 | (uint64_t)(mailbox & INO_MAILBOX_MASK) << 45 | (uint64_t)uid << 13 |
	       (part & INO_PART_MAX);
}

static inline enum ino_kind ino_kind(uint64_t ino)
{
	return ino == 1 ? INO_ROOT : (enum ino_kind)(ino >> 61);
}

static inline uint32_t ino_mailbox(uint64_t ino)
{
	return ino == 1 ? 0 : (uint32_t)(ino >> 45) & INO_MAILBOX_MASK;
}

static inline uint32_t ino_uid(uint64_t ino)
{
	return (uint32_t)(ino >> 13);
}

static inline uint32_t ino_part(uint64_t ino)
{
	return (uint32_t)ino & INO_PART_MAX;
}

#endif
