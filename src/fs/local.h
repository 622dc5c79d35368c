/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The local side of the mount. A file or directory whose name begins with
 * '.', made through the mount in a mailbox or at the root (editor swap and
 * backup files, rsync's temporaries .name.XXXXXX, .directory, .DS_Store,
 * ._*, .Trash-1000/...), and everything made inside such a directory, never
 * reaches the server. It lives in a private directory,
 * $TMPDIR/imapfs-local-XXXXXX (one subdirectory m<id> a mailbox), for the
 * life of the mount, and works as a file there does; unmounting removes it.
 * Names on the server that begin with '.' (a mailbox ".hidden") are the
 * server's, as before: they are looked up first.
 *
 * Nodes are named by a serial that is never reused (INO_LOCAL inodes: the
 * mailbox and the serial). Thread-safe; functions return 0 or -errno.
 */
#ifndef IMAPFS_FS_LOCAL_H
#define IMAPFS_FS_LOCAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

struct local;

int local_new(struct local **out);
/* Removes the private directory and everything in it. */
void local_free(struct local *l);

/* A name that is local wherever it is made: begins with '.', not "." or "..". */
bool local_name(const char *name);
/*
 * Whether parent/name belongs to the local side: a local name in the root or
 * a mailbox (parent_ino of kind INO_ROOT or INO_MAILBOX), or any name in a
 * local directory.
 */
bool local_place(uint64_t parent, const char *name);

/* parent/name: its inode and attributes (st_ino set), -ENOENT if none. */
int local_lookup(struct local *l, uint64_t parent, const char *name, uint64_t *ino,
		 struct stat *st);
int local_stat(struct local *l, uint64_t ino, struct stat *st);
/* Creates parent/name (open(2) flags and mode); *fd is the caller's to close. */
int local_create(struct local *l, uint64_t parent, const char *name, int flags, mode_t mode,
		 uint64_t *ino, struct stat *st, int *fd);
/* Opens a local file with open(2) flags; *fd is the caller's to close. */
int local_open(struct local *l, uint64_t ino, int flags, int *fd);
int local_mkdir(struct local *l, uint64_t parent, const char *name, mode_t mode,
		uint64_t *ino, struct stat *st);
/* unlink (dir false) or rmdir of parent/name. */
int local_remove(struct local *l, uint64_t parent, const char *name, bool dir);
/* Both sides local (see local_place); flags as renameat2(2). */
int local_rename(struct local *l, uint64_t parent, const char *name, uint64_t newparent,
		 const char *newname, unsigned flags);
/* FUSE_SET_ATTR_* of to_set from attr; *out the attributes after. */
int local_setattr(struct local *l, uint64_t ino, const struct stat *attr, int to_set,
		  struct stat *out);

/*
 * Calls fn for each entry of dir: a local directory, or the local entries of
 * a mailbox or the root. fn returns 0 or -errno; the first error stops the
 * walk and is returned. Called under the side's lock: fn must not call back.
 */
typedef int (*local_entry_fn)(void *ctx, const char *name, uint64_t ino, const struct stat *st);
int local_list(struct local *l, uint64_t dir, local_entry_fn fn, void *ctx);

#endif
