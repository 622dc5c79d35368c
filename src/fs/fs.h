/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The FUSE low-level operations: what the kernel asks, answered from the store.
 * The only layer besides main that includes FUSE headers.
 */
#ifndef IMAPFS_FS_H
#define IMAPFS_FS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <stdbool.h>

#include "store/store.h"

struct fs_options {
	bool readonly;
	bool delete_expunges; /* rm expunges; else it moves to Trash (rm in Trash expunges) */
	bool dotfiles_server; /* names beginning with '.' go to the server (no local side) */
	double dir_timeout;   /* entry/attr timeout of directories and listings */
	double file_timeout;  /* attr timeout of messages (immutable content) */
};

struct fs;

/* The fs borrows st; both must outlive the FUSE session. */
struct fs *fs_new(struct store *st, const struct fs_options *opts);
void fs_free(struct fs *fs);
const struct fuse_lowlevel_ops *fs_operations(void);

/*
 * A watcher tells of others' changes: set before the session loop runs. The
 * names of messages and .parts directories then live as long as
 * file_timeout in the kernel where it has FUSE_NOTIFY_INC_EPOCH (a
 * relisting that finds one gone makes the kernel drop them all), not
 * dir_timeout: a walk longer than dir_timeout (grep -r) otherwise looks
 * every message up twice, in READDIRPLUS and again when it opens it.
 */
void fs_set_watched(struct fs *fs, bool on);

/* The session the kernel notifications go to; set before the watcher starts. */
void fs_set_session(struct fs *fs, struct fuse_session *se);
/*
 * Sends the notifications queued and stops sending: call it before
 * fuse_session_unmount(), which closes the fd they are written to. NULL is fine.
 */
void fs_stop_notifying(struct fs *fs);
/*
 * Kernel invalidations, the store's sink (store_set_sink): mailbox id's
 * directory attributes, a name under a mailbox (or the root, id 0), and a
 * message's two names. Any thread, a FUSE operation's included: they are
 * queued and sent from the fs's own thread.
 *
 * Only a directory's attributes and readdir cache are ever invalidated,
 * never a name (no notify_inval_entry, no notify_delete): to forget a name
 * the kernel takes the directory's lock, and a lookup, create, rename or
 * unlink in that directory holds it while it waits for our reply. While we
 * live the notifier only waits; if we die meanwhile (SIGKILL, a crash, the
 * OOM killer) the notifying thread sleeps uninterruptibly for good, the
 * process never ends, /dev/fuse is never closed, and the mount and every
 * process on it hang. When a relisting finds a name gone elsewhere, the
 * kernel is told instead to take every name it holds for stale
 * (FUSE_NOTIFY_INC_EPOCH, Linux 6.16, lock-free; each is looked up again
 * once at its next use); on older kernels the name expires by itself
 * (dir_timeout, half a second after the kernel last looked it up). readdir
 * always asks us. Likewise no page of a regular file is ever invalidated:
 * readahead keeps pages locked while it waits for us.
 */
void fs_inval_dir(void *fs, uint32_t id);
void fs_inval_name(void *fs, uint32_t parent, const char *name);
void fs_inval_message(void *fs, uint32_t mailbox, uint32_t uid);

#endif
