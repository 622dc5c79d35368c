/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What a server's refusal means to a caller: RFC 5530 response codes to errno. */
#ifndef IMAPFS_IMAP_CODES_H
#define IMAPFS_IMAP_CODES_H

#include <stdbool.h>

#include "imap/parser.h"

/*
 * The negative errno for a tagged completion: 0 for OK; for NO by its response
 * code (NONEXISTENT and TRYCREATE -ENOENT, ALREADYEXISTS -EEXIST, NOPERM
 * -EACCES, OVERQUOTA -EDQUOT, TOOBIG -EFBIG, INUSE -EBUSY, LIMIT -ENOSPC,
 * CANNOT -EPERM, or -ENAMETOOLONG when its text says "too long", ...),
 * -EIO when there is none; -EAGAIN for a server that is only busy (see
 * imap_completion_throttled(), also without a code); -EINVAL for BAD (we sent
 * something the server did not accept); -EIO for BYE.
 */
int imap_completion_errno(const struct imap_response *r);

/*
 * Whether a NO says "not now" rather than "no": the server is busy or
 * limiting the rate of commands, so the same command may well succeed after
 * a pause. RFC 5530's UNAVAILABLE (Exchange's throttling, Yahoo's "UID FETCH
 * Server error - Please try again later"), Yahoo's "[LIMIT] UID FETCH Rate
 * limit hit.", and Exchange's code-less "Server Unavailable. 15" and "User
 * is authenticated but not connected.". Gmail's daily download limit
 * ("[ALERT] Account exceeded command or bandwidth limits") is not: it lasts
 * until the next day, and asking again only counts against it.
 * imap_completion_errno() gives such a refusal -EAGAIN.
 */
bool imap_completion_throttled(const struct imap_response *r);

#endif
