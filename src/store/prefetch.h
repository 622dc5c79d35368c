/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Bodies fetched ahead for a reader going through a mailbox's messages in
 * UID order (grep -r, cp -r, tar, rsync): once a few reads in a row went up
 * the UIDs, the next messages come in one pipelined UID FETCH instead of a
 * round trip each.
 *
 * Bodies are held in memory, at most PREFETCH_BUDGET bytes in all, keyed by
 * (mailbox, UIDVALIDITY, UID), until they are read to their end (the
 * kernel's page cache has them then) or pushed out by newer ones. Only
 * messages up to PREFETCH_MAX_MESSAGE bytes are fetched ahead; larger ones
 * are read in windows as before. A body is held only if the server sent
 * exactly the size it listed.
 *
 * One thread of its own sends the fetches, on the store's pool; it starts
 * with the first of them (after the daemon's fork). Thread-safe.
 */
#ifndef IMAPFS_STORE_PREFETCH_H
#define IMAPFS_STORE_PREFETCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PREFETCH_BUDGET (32u << 20)
#define PREFETCH_BATCH 64                /* messages in one FETCH at most */
#define PREFETCH_BATCH_BYTES (8u << 20)  /* bytes asked in one FETCH at most */
#define PREFETCH_MAX_MESSAGE (1u << 20)
#define PREFETCH_STREAK 2                /* reads in UID order before fetching ahead */

struct store;
struct prefetch;

/* NULL if out of memory (reads then simply go one by one). */
struct prefetch *prefetch_new(struct store *st);
/* Stops the thread (after the fetch under way) and frees every body. NULL is fine. */
void prefetch_free(struct prefetch *pf);

/*
 * Process reader asks for message uid of mailbox id (as of uidvalidity) from
 * its start, and the kernel's page cache did not have it (so rereading what
 * the kernel holds fetches nothing ahead): learns that reader's order, and
 * may queue a fetch of the messages after it.
 */
void prefetch_reading(struct prefetch *pf, uint32_t id, uint32_t uidvalidity, uint32_t uid,
		      pid_t reader);

/*
 * Copies len bytes at off of a held body into buf, waiting if it is being
 * fetched. Returns the count (short only at the body's end), or -ENOENT if it
 * is not held (or its fetch failed): the caller then reads it from the server.
 */
ssize_t prefetch_read(struct prefetch *pf, uint32_t id, uint32_t uidvalidity, uint32_t uid,
		      uint64_t off, size_t len, char *buf);

#endif
