/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * UID sets as servers send them (RFC 9051 sequence-set: "1:3,7,9:12"), in
 * ESEARCH ALL results (RFC 4731) and VANISHED (RFC 7162). Parsed into sorted,
 * merged ranges so a lookup is a binary search. Pure: no I/O, no state.
 */
#ifndef IMAPFS_IMAP_UID_SET_H
#define IMAPFS_IMAP_UID_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct imap_uid_range {
	uint32_t lo, hi; /* lo <= hi, both > 0 */
};

/*
 * Parses len bytes of text. "a:b" may come in either order; ranges may
 * overlap or repeat. "*" is refused: a server's result names numbers. *out
 * is malloc'd (the caller frees it), sorted by lo, without overlapping or
 * adjacent ranges. Returns 0, -EINVAL for anything malformed (a 0, a number
 * over 2^32-1, an empty item, a stray character), -ENOMEM.
 */
int imap_uid_set_parse(const char *text, size_t len, struct imap_uid_range **out, size_t *n);

/* Whether uid is in the parsed set r[0..n). */
bool imap_uid_set_has(const struct imap_uid_range *r, size_t n, uint32_t uid);

#endif
