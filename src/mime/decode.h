/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Content-Transfer-Encoding decoding (RFC 2045 §6). Lenient the way mail
 * readers are, and byte-for-byte what Python's email package gives
 * (binascii.a2b_base64 in its non-strict mode, binascii.a2b_qp), so a part
 * file holds what a user's other tools would decode.
 */
#ifndef IMAPFS_MIME_DECODE_H
#define IMAPFS_MIME_DECODE_H

#include <stddef.h>

enum mime_cte {
	MIME_CTE_IDENTITY, /* 7bit, 8bit, binary, absent */
	MIME_CTE_BASE64,
	MIME_CTE_QP,
	MIME_CTE_UNKNOWN,  /* x-uuencode and anything else: served undecoded */
};

/* From a Content-Transfer-Encoding value, any case; NULL is identity. */
enum mime_cte mime_cte_from_name(const char *name);

/*
 * Decodes len bytes of in into a new buffer *out of *outlen bytes (never
 * larger than len; *out is non-NULL even when empty). Bad input is decoded
 * leniently, never refused. IDENTITY and UNKNOWN copy. Returns 0 or -ENOMEM.
 */
int mime_decode(enum mime_cte cte, const char *in, size_t len, char **out, size_t *outlen);

#endif
