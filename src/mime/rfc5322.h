/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What makes a file a message before it is APPENDed: a header block (RFC
 * 5322 section 2.2: fields "name: value", continuation lines) before the
 * first empty line; and line endings made CRLF, as IMAP stores them.
 * Pure code, no I/O.
 */
#ifndef IMAPFS_MIME_RFC5322_H
#define IMAPFS_MIME_RFC5322_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Whether buf, the first len bytes of a file (all of it when complete),
 * opens with a header block: one field at least, every line up to the first
 * empty one a field or a continuation, no NUL. A header without a body
 * (complete, no empty line) is a message too; one longer than buf is judged
 * on what buf holds. An image, random bytes or text without a header fail.
 */
bool rfc5322_is_message(const char *buf, size_t len, bool complete);

/*
 * Copies in[0..len) to out as CRLF: a LF without a CR before it gets one.
 * *cr carries whether the last byte of the previous chunk was a CR (start
 * false). out must hold 2 * len bytes; returns the bytes written.
 */
size_t rfc5322_crlf(const char *in, size_t len, char *out, bool *cr);

/* Whether in[0..len) holds a LF without a CR before it (*cr as above). */
bool rfc5322_has_bare_lf(const char *in, size_t len, bool *cr);

#endif
