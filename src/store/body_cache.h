/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Message bodies kept on disk across mounts, so a second grep -r after a
 * remount reads local files, and a message read once stays readable while
 * the server is unreachable.
 *
 * A body is keyed by (account, mailbox wire name, UIDVALIDITY, UID), which
 * IMAP promises names one message forever. Its file is named by the SHA-256
 * of that key, so nothing a server says ever becomes part of a path:
 *
 *   <cache_dir>/<hash of user@host:port>/<2 hex digits>/<64 hex digits>
 *
 * Written whole to a temporary file, then renamed into place: a crash of
 * imapfs leaves at most a stray temporary (removed once old), never a partial
 * body under a body's name. A body is served only if its size is the size the
 * listing gives (RFC822.SIZE); one of any other size is removed. Bodies are
 * not fsync'ed (1.4 ms each here would double a cold grep): after a power
 * loss, a file whose data never reached the disk is shorter than listed on
 * ext4 and XFS, which do not expose unwritten blocks, and the size check
 * refuses it. The account's directory must be the user's own
 * and not writable by others, or the cache is not used.
 *
 * Bounded: when the bodies together pass max_bytes, the least recently used
 * (by mtime, which a hit refreshes) are removed until they fill 90% of it.
 *
 * The cache only ever saves work: every failure to write or read it is
 * logged once and the caller goes to the server. Thread-safe.
 */
#ifndef IMAPFS_STORE_BODY_CACHE_H
#define IMAPFS_STORE_BODY_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct body_cache;

/*
 * Opens (creating, mode 0700) the cache of account (e.g. "alice@host:993")
 * under dir. Returns 0, or -errno with a message for the user in err.
 */
int body_cache_open(const char *dir, const char *account, uint64_t max_bytes,
		    struct body_cache **out, char *err, size_t errlen);
/* NULL is fine. */
void body_cache_close(struct body_cache *bc);

/*
 * Copies up to len bytes at off of the cached body into buf. Returns the count
 * (0 at or past its end), or -ENOENT if no body of exactly size bytes is kept.
 */
ssize_t body_cache_read(struct body_cache *bc, const char *wire, uint32_t uidvalidity,
			uint32_t uid, uint64_t size, uint64_t off, size_t len, char *buf);
/*
 * The same for a decoded MIME part (section, "2.1") of the message, kept
 * beside the bodies (body_cache_put_many with a section), counted in the
 * same bound and evicted in the same order: a thumbnail made after a
 * remount, or after the kernel forgot the file, fetches nothing.
 */
ssize_t body_cache_read_part(struct body_cache *bc, const char *wire, uint32_t uidvalidity,
			     uint32_t uid, const char *section, uint64_t size, uint64_t off,
			     size_t len, char *buf);
/*
 * The whole of what is kept under section for the message (a record of
 * unknown size, at most max bytes: store/parts_record.h), malloc'd into
 * *out. Returns 0, or -ENOENT if nothing (or something larger) is kept.
 */
int body_cache_load_part(struct body_cache *bc, const char *wire, uint32_t uidvalidity,
			 uint32_t uid, const char *section, size_t max, char **out, size_t *len);
/* Whether a body of exactly size bytes is kept (without refreshing its use). */
bool body_cache_has(struct body_cache *bc, const char *wire, uint32_t uidvalidity, uint32_t uid,
		    uint64_t size);
/* Keeps the len bytes of body as the message's (replacing any kept before). */
void body_cache_put(struct body_cache *bc, const char *wire, uint32_t uidvalidity, uint32_t uid,
		    const char *body, size_t len);

/*
 * Keeps the message's body under the mailbox's new name (renamed while the
 * server could not be reached, so it stays readable). Nothing if none is kept.
 */
void body_cache_rename(struct body_cache *bc, const char *old_wire, const char *new_wire,
		       uint32_t uidvalidity, uint32_t uid);
/* Removes the message's body (moved or deleted through the mount: not its any more). */
void body_cache_forget(struct body_cache *bc, const char *wire, uint32_t uidvalidity, uint32_t uid);

struct body_cache_item {
	uint32_t uid;
	const char *section; /* NULL: the message's body; else this decoded part of it */
	const char *body;
	size_t len;
};
/* Keeps several bodies (or parts) of one mailbox (one eviction pass for all). */
void body_cache_put_many(struct body_cache *bc, const char *wire, uint32_t uidvalidity,
			 const struct body_cache_item *items, size_t n);

/*
 * The same, written later by the cache's own thread, so that no reader
 * waits on the disk (creating a file took ext4 up to a millisecond here,
 * after many were removed). The bodies are copied. Until written, they are
 * read from the queue as if on disk, and forgetting one drops it; at most
 * 64 MiB wait, and what comes past that is not kept (the disk is behind).
 * body_cache_close() writes what waits.
 */
void body_cache_put_later(struct body_cache *bc, const char *wire, uint32_t uidvalidity,
			  const struct body_cache_item *items, size_t n);
/*
 * Starts the writer thread; until then body_cache_put_later() writes at
 * once. After the daemon's fork (fuse_daemonize): a fork takes no thread along.
 */
void body_cache_start_writer(struct body_cache *bc);

/* Bytes of bodies kept now (as far as this process knows). */
uint64_t body_cache_used(struct body_cache *bc);

/*
 * The account's directory, an fd the cache owns (checked to be the user's own
 * at open), for what is kept beside the bodies (store/listing_cache.h).
 */
int body_cache_account_fd(const struct body_cache *bc);
/* The SHA-256 of data as 64 hex digits: how anything is named in the cache. */
void body_cache_hash_hex(const void *data, size_t len, char out[65]);

#endif
