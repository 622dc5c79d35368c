/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A message's structure (struct store_parts: its header block and its parts'
 * names, sections, types, encodings and, once known, exact sizes) kept on
 * disk beside its body, so that a walk over .parts directories after a
 * remount, or after the structure left the memory cache, asks the server
 * nothing. IMAP promises that (mailbox, UIDVALIDITY, UID) names one message
 * forever, so a kept structure never goes stale; it is kept under that key
 * in the body cache (store/body_cache.h, section "structure"), counted in
 * the same bound and evicted in the same order.
 *
 * The record (host byte order; it never leaves this machine):
 *   magic, UID, UIDVALIDITY, whether sizes are exact, part count,
 *   the header block, then for each part its kind, encoding, flags, sizes,
 *   base64 layout and four strings (name, section, type, charset),
 *   and a SHA-256 of all the above.
 * A record that is damaged, truncated, of another message, or that says
 * something no loaded structure could (a name with '/', a layout that does
 * not match its size) is refused whole: the structure is loaded from the
 * server as if nothing were kept. Decoded copies of parts are not in the
 * record (parts have their own place on disk: store/part_disk.h).
 */
#ifndef IMAPFS_STORE_PARTS_RECORD_H
#define IMAPFS_STORE_PARTS_RECORD_H

#include <stddef.h>
#include <stdint.h>

struct store;
struct store_parts;

/* The largest record kept or loaded. */
#define PARTS_RECORD_MAX ((size_t)4 << 20)

/* p as a record, malloc'd into *out. Returns 0, -ENOMEM, -E2BIG. */
int parts_record_encode(const struct store_parts *p, char **out, size_t *len);
/*
 * A structure from the record buf of message uid (of uidvalidity): fills
 * header, header_len, parts, n and sized of *p (which holds none of them
 * yet; on failure it still holds none). Returns 0 or -EINVAL, -ENOMEM.
 */
int parts_record_decode(const char *buf, size_t len, uint32_t uidvalidity, uint32_t uid,
			struct store_parts *p);

/* Keeps the records of the structures p[0..n) of mailbox id (one eviction pass). */
void parts_record_keep(struct store *st, struct store_parts *const *p, size_t n);
/*
 * Fills *p (mailbox, uidvalidity and uid set; header and parts not) from
 * the record kept for it. Returns 0, -ENOENT (none kept, or refused).
 */
int parts_record_load(struct store *st, struct store_parts *p);

#endif
