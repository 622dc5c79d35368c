/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A new message's bytes before its APPEND: a spool (an unlinked temporary
 * file in $TMPDIR), and the check and line-ending repair that make a file's
 * bytes fit to APPEND. Knows nothing of FUSE or the store.
 */
#ifndef IMAPFS_FS_SPOOL_H
#define IMAPFS_FS_SPOOL_H

#include <stdint.h>

/* A new spool: its descriptor (the caller's to close), or -errno. */
int spool_open(void);
/*
 * Makes the size bytes of fd ready to APPEND as what: refuses content that
 * is no message (EINVAL, one log line), and gives bare LF line endings a CR
 * in a new spool (*out; fd itself when nothing changes, else the caller
 * closes it). Returns 0 or -errno.
 */
int mail_ready(const char *what, int fd, uint64_t size, int *out, uint64_t *out_size);

#endif
