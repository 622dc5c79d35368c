/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Modified UTF-7 mailbox names (RFC 3501 §5.1.3) to and from UTF-8.
 *
 * Both functions return a newly allocated NUL-terminated string the caller
 * frees, or NULL with errno set: EINVAL for input that is not valid (bad
 * base64, an unterminated "&" shift, a non-minimal or superfluous encoding, a
 * shifted printable ASCII character, an unpaired surrogate, invalid UTF-8,
 * NUL), ENOMEM.
 */
#ifndef IMAPFS_IMAP_MUTF7_H
#define IMAPFS_IMAP_MUTF7_H

#include <stddef.h>

char *mutf7_to_utf8(const char *mutf7, size_t len);
char *utf8_to_mutf7(const char *utf8, size_t len);

#endif
