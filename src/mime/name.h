/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a MIME part is called as a file, and what it really is.
 */
#ifndef IMAPFS_MIME_NAME_H
#define IMAPFS_MIME_NAME_H

#include <stddef.h>

#define MIME_NAME_MAX 255

/*
 * The file name of a part: "<section>-<filename>" when filename (UTF-8, may be
 * NULL) has something usable, else "<section>.<ext>" with the extension of
 * type/subtype. '/', NUL, control characters and invalid UTF-8 become '_';
 * leading dots of filename are dropped; the result is never "." or "..", and
 * at most MIME_NAME_MAX bytes, cut on a character boundary before the
 * extension so the extension stays. Newly allocated; NULL only on ENOMEM.
 */
char *mime_part_filename(const char *section, const char *filename, const char *type,
			 const char *subtype);

/* The usual extension for a MIME type (lower-case input): "txt", "html", "pdf",
 * "png", "eml" for message/rfc822, "bin" when unknown. Never NULL. */
const char *mime_extension(const char *type, const char *subtype);

/*
 * The MIME type libmagic sees in the first len bytes, as "type/subtype"
 * (newly allocated), or NULL when it cannot tell or on failure. Thread-safe.
 */
char *mime_sniff(const void *buf, size_t len);

#endif
