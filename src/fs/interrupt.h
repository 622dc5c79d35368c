/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * FUSE interrupts for operations that only read. A process that gets a
 * signal while the kernel waits on us (^C on a cat of a slow attachment)
 * makes the kernel send FUSE_INTERRUPT; until the request is answered the
 * process cannot even die. Between interruptible_begin() and _end() such an
 * interrupt cancels the calling thread's network waits (util/cancel.h),
 * dropping the connection in use, and the operation answers EINTR.
 *
 * Operations that change the server (APPEND, MOVE, EXPUNGE, STORE, CREATE,
 * DELETE, RENAME) are never interruptible: cut mid-command, nobody could say
 * whether the server carried them out.
 *
 * The struct lives on the operation's stack; _end() must be called before
 * the reply, which frees the request.
 */
#ifndef IMAPFS_FS_INTERRUPT_H
#define IMAPFS_FS_INTERRUPT_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <stdatomic.h>

struct interruptible {
	atomic_bool fired;
	fuse_req_t req;
};

void interruptible_begin(struct interruptible *it, fuse_req_t req);
/* Ends it; returns r, or -EINTR where r is a failure after an interrupt. */
int interruptible_end(struct interruptible *it, int r);

#endif
