/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Parts kept on disk whole, beside the bodies (store/body_cache.h, keyed by
 * message and MIME section, in the same bound and least-recently-used
 * order): a part of up to PART_DISK_MAX read through from its start (cat,
 * cp, a thumbnailer, a viewer) is gathered as it is read (struct
 * part_gather) and kept once whole, so a second view, or a read after a
 * remount or after the kernel forgot the file, fetches nothing. A read of a
 * few bytes (head, file) keeps nothing and costs no more. For store/parts.c.
 */
#ifndef IMAPFS_STORE_PART_DISK_H
#define IMAPFS_STORE_PART_DISK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct store;

#define PART_DISK_MAX ((size_t)16 << 20)

#define PART_GATHER_RANGES 8

/*
 * What was read of a part so far, at its offsets, and which ranges that
 * covers: the kernel's readahead may deliver a file's reads out of order.
 * Guarded by its owner's lock.
 */
struct part_gather {
	char *buf;
	size_t cap;
	struct { uint64_t lo, hi; } range[PART_GATHER_RANGES]; /* sorted, apart */
	unsigned nranges;
};

/*
 * Up to len bytes at off of the part (section) of message uid, size bytes,
 * as kept on disk; -ENOENT if it is not kept there.
 */
ssize_t part_disk_read(struct store *st, uint32_t mailbox, uint32_t uidvalidity, uint32_t uid,
		       const char *section, uint64_t size, uint64_t off, size_t len, char *buf);
/* Keeps content, the whole part (len bytes), on disk. No lock held: this writes a file. */
void part_disk_keep(struct store *st, uint32_t mailbox, uint32_t uidvalidity, uint32_t uid,
		    const char *section, const char *content, size_t len);
/*
 * got bytes of a part of size bytes just read at off, added to g (a reader
 * jumping about, more than PART_GATHER_RANGES ranges apart, drops what was
 * gathered). Once the part is whole, *whole is its bytes (the caller keeps
 * them with part_disk_keep, outside its lock, and frees them). Returns by
 * how much the memory g holds changed, for the caller's bound.
 */
ssize_t part_gather_add(struct part_gather *g, uint64_t size, uint64_t off, const char *buf,
			size_t got, char **whole);
/* Frees what g holds. */
void part_gather_free(struct part_gather *g);

#endif
