/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Random access into a base64 body without decoding all of it.
 *
 * Nearly every mailer writes base64 as lines of one fixed length (76 or 64
 * characters) with one line ending, the last line shorter. From the first and
 * the last bytes of the encoded body and its exact encoded size, such a layout
 * is recognised, and then the decoded size is exact and any decoded byte
 * range maps to an encoded range that can be fetched on its own
 * (BODY.PEEK[section]<offset.length>). A body that does not fit the model is
 * refused, and the caller decodes it whole instead.
 */
#ifndef IMAPFS_MIME_B64LAYOUT_H
#define IMAPFS_MIME_B64LAYOUT_H

#include <stddef.h>
#include <stdint.h>

/* Enough to hold several full lines and the end of the body. */
#define B64_PROBE_BYTES 1024

struct b64_layout {
	uint64_t encoded_size; /* bytes of the encoded body */
	uint32_t line_chars;   /* base64 characters in each full line */
	uint32_t eol;          /* bytes of each line ending: 1 (LF) or 2 (CRLF); 0 for a
	                        * body of one line without an ending */
	uint64_t chars;        /* base64 alphabet characters before any padding */
	uint64_t decoded_size; /* exact */
};

/*
 * head: the first min(B64_PROBE_BYTES, encoded_size) bytes of the body; tail:
 * its last min(B64_PROBE_BYTES, encoded_size) bytes. Returns 0 with *out set if
 * the body is uniform lines as described (a trailing run of blank lines or
 * whitespace after the data is allowed; so is a body that fits in head
 * entirely, whatever its shape), -EINVAL if not, -ENOMEM. A body of at most
 * B64_PROBE_BYTES is decoded whole to size it, and b64_layout_map() then maps
 * any range to the whole body.
 */
int b64_layout_probe(const char *head, size_t headlen, const char *tail, size_t taillen,
		     uint64_t encoded_size, struct b64_layout *out);

/*
 * The encoded range [*enc_off, *enc_off + *enc_len) that starts on a 4-char
 * group and covers decoded bytes [off, off + len) (clipped to decoded_size):
 * decoding it with mime_decode() and skipping *skip bytes yields them.
 */
void b64_layout_map(const struct b64_layout *l, uint64_t off, uint64_t len, uint64_t *enc_off,
		    uint64_t *enc_len, uint32_t *skip);

#endif
