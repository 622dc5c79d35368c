/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What a server's refusal means to a caller: RFC 5530 response codes to errno. */
#ifndef IMAPFS_IMAP_CODES_H
#define IMAPFS_IMAP_CODES_H

#include "imap/parser.h"

/*
 * The negative errno for a tagged completion: 0 for OK; for NO by its response
 * code (NONEXISTENT and TRYCREATE -ENOENT, ALREADYEXISTS -EEXIST, NOPERM
 * -EACCES, OVERQUOTA -EDQUOT, TOOBIG -EFBIG, INUSE -EBUSY, LIMIT -ENOSPC,
 * CANNOT -EPERM, or -ENAMETOOLONG when its text says "too long", ...),
 * -EIO when there is none; -EINVAL for BAD (we sent something the server did
 * not accept); -EIO for BYE.
 */
int imap_completion_errno(const struct imap_response *r);

#endif
