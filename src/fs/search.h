/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Search directories: <mailbox>/.search/<query>/ lists the messages of the
 * mailbox that match query (imap/search_query.h), as <UID>.eml (or the name
 * it was written under) and <UID>.parts, the same inodes as in the mailbox.
 * Looking a query up runs it (store_search); ".search" itself lists
 * nothing, so walks of the mount (grep -r, find, rsync) never search.
 *
 * .search/<query>/ at the root runs the query in every selectable mailbox
 * (store_search_account) and lists the mailboxes' tree, with only the
 * mailboxes that hold a match or have one below them, each listing its
 * results as above: .search/invoice/Work/Clients/17.eml.
 *
 * Inodes: INO_SEARCH with the mailbox's id (STORE_ROOT_ID at the root), and
 * "uid" 0 for .search or the serial of the query, kept in the fs for the
 * mount (searches_lock, a leaf) with its scope: the mailbox it searches, or
 * STORE_ROOT_ID for the account. A directory of an account-wide query's
 * tree is (its mailbox, the query's serial).
 */
#ifndef IMAPFS_FS_SEARCH_H
#define IMAPFS_FS_SEARCH_H

#include <stdbool.h>

#include "fs/fs_internal.h"

#define SEARCH_DIR ".search"

/* Whether parent/name is search.c's to answer (.search in a mailbox or the root, or below it). */
bool search_owns(fuse_ino_t parent, const char *name);
/* Looks up parent/name (search_owns): 0 with *e set, or -errno (-EINVAL: a bad query, logged). */
int search_lookup(struct fs *fs, fuse_ino_t parent, const char *name, struct fuse_entry_param *e);
/* The entry of search directory ino (a readdirplus entry of one). */
void search_entry_param(struct fs *fs, uint64_t ino, struct fuse_entry_param *e);
/* Attributes of a search inode. */
int search_getattr(struct fs *fs, fuse_ino_t ino, struct stat *st);

/* One entry of a search directory; name is malloc'd and taken. */
typedef int (*search_entry_fn)(void *ctx, char *name, uint64_t ino, bool is_dir,
			       const struct store_msg *m);
/* The entries of search inode ino, with the mailbox's UIDVALIDITY in *uidvalidity. */
int search_list(struct fs *fs, fuse_ino_t ino, search_entry_fn fn, void *ctx,
		uint32_t *uidvalidity);
/*
 * The mailbox directory a name in search directory parent stands in:
 * unlink and rename of a result act on the message there. -ENOENT if name
 * is no result of the query.
 */
int search_mailbox_of(struct fs *fs, fuse_ino_t parent, const char *name, fuse_ino_t *dir);

/*
 * user.imapfs.error of a .search directory: why the latest query under it
 * failed ("query: reason"); -ENODATA if none did or ino is no .search.
 */
int search_error_xattr(struct fs *fs, fuse_ino_t ino, char **out);

void search_init(struct fs *fs);
void search_free(struct fs *fs);

#endif
