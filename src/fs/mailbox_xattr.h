/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The extended attributes of a mailbox directory beyond its UIDVALIDITY:
 *
 *   user.imap.myrights       the user's rights (MYRIGHTS), read-only
 *   user.imap.acl            the whole ACL (GETACL), "identifier rights" a line
 *   user.imap.acl.<id>       one identifier's rights: read, set (SETACL),
 *                            removed (DELETEACL); listed one per identifier
 *   user.imap.subscribed     "yes" or "no"; set: SUBSCRIBE, UNSUBSCRIBE
 *   user.imap.special_use    what LIST says it is for ("\Sent"); set where
 *                            the server has METADATA (/private/specialuse)
 *   user.imap.quota          its quota roots (GETQUOTAROOT), read-only
 *
 * Each returns 0 or -errno: -ENODATA for a name it does not have (or one
 * with no value on this server), -ENOTSUP for one it does not own.
 */
#ifndef IMAPFS_FS_MAILBOX_XATTR_H
#define IMAPFS_FS_MAILBOX_XATTR_H

#include "fs/fs_internal.h"
#include "util/buf.h"

/* name's value (the caller frees *out). */
int mailbox_xattr_get(struct fs *fs, uint32_t id, const char *name, char **out);
/* Appends the names that have a value, each NUL-terminated, to list. */
int mailbox_xattr_list(struct fs *fs, uint32_t id, struct buf *list);
int mailbox_xattr_set(struct fs *fs, uint32_t id, const char *name, const char *value,
		      size_t size, int flags);
int mailbox_xattr_remove(struct fs *fs, uint32_t id, const char *name);

#endif
