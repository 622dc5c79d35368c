/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * UTF-8 byte-level helpers the header decoders and the name policy share, so
 * that what one calls valid UTF-8 the other does too. Pure functions.
 */
#ifndef IMAPFS_MIME_UTF8_H
#define IMAPFS_MIME_UTF8_H

#include <stddef.h>

/*
 * The length of the well-formed UTF-8 sequence at s, of the n >= 1 bytes
 * there (RFC 3629: no overlong forms, surrogates or values past U+10FFFF),
 * or 0 if there is none.
 */
size_t mime_utf8_seq_len(const unsigned char *s, size_t n);

/*
 * The largest length <= max that does not split the UTF-8 character there:
 * len itself if len <= max. s must have more than max bytes otherwise.
 */
size_t mime_utf8_cut(const char *s, size_t len, size_t max);

#endif
