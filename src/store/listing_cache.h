/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Mailbox listings, and the mailbox tree (below), kept on disk beside the
 * bodies (store/body_cache.h), so a remount starts from the last known
 * listing and asks the server only what changed since (RFC 7162: the
 * HIGHESTMODSEQ kept here goes into CHANGEDSINCE), and a mailbox listed once
 * can still be listed while the server is unreachable, even by a new mount.
 *
 *   <cache_dir>/<account hash>/listings/<SHA-256 of the wire name>
 *
 * A file holds the wire name (checked when loading: a hash never stands in
 * for a name), UIDVALIDITY, UIDNEXT, EXISTS, HIGHESTMODSEQ, the flag sets
 * used, one 24-byte row per message, and a SHA-256 of all that: a damaged,
 * truncated or foreign file is refused whole and the mailbox is listed from
 * the server as if nothing were kept. Written to a temporary and renamed, so
 * a reader sees the old listing or the new one. Not counted in cache_size
 * (24 bytes a message).
 *
 * Saves only work: any failure is logged at debug level and the caller
 * lists from the server. Thread-safe (no state of its own).
 */
#ifndef IMAPFS_STORE_LISTING_CACHE_H
#define IMAPFS_STORE_LISTING_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct body_cache;

struct listing_snapshot {
	uint32_t uidvalidity, uidnext, exists;
	uint64_t modseq; /* HIGHESTMODSEQ, 0 without CONDSTORE */
	/* Sorted by UID, no repeats; msgs[i].flags indexes flagsets. */
	struct store_msg *msgs;
	size_t n;
	char **flagsets; /* IMAP flag list text ("\\Seen $Work"), maybe "" */
	size_t nflagsets;
};

/*
 * Loads the listing kept for mailbox wire into *out (free it with
 * listing_snapshot_free()). Returns 0, -ENOENT if none is kept (or bc is
 * NULL), -EINVAL if the file is damaged or not this mailbox's, -errno.
 */
int listing_cache_load(struct body_cache *bc, const char *wire, struct listing_snapshot *out);
/* Keeps in as mailbox wire's listing, replacing the one kept before. */
int listing_cache_save(struct body_cache *bc, const char *wire, const struct listing_snapshot *in);
/* One mailbox of the tree as LIST named it. */
struct listing_tree_entry {
	char *wire;     /* the name on the wire (modified UTF-7) */
	char delim;     /* hierarchy delimiter, '\0' for none */
	bool noselect;  /* \Noselect or \NonExistent */
	bool trash;     /* \Trash (RFC 6154); not kept on disk */
	unsigned special_use; /* enum driver_special_use bits; not kept on disk */
	bool made_offline; /* a mkdir journaled offline (store/tree_journal.c): empty until listed */
};

/*
 * The mailbox tree as last LISTed, kept so a mount made while the server is
 * unreachable can show what was there:
 *   <cache_dir>/<account hash>/listings/tree
 * Same guarantees as a listing (whole or refused, SHA-256 checked).
 */
int listing_cache_save_tree(struct body_cache *bc, const struct listing_tree_entry *e, size_t n);
/* *out is malloc'd (free it with listing_tree_free()); -ENOENT if none is kept. */
int listing_cache_load_tree(struct body_cache *bc, struct listing_tree_entry **out, size_t *n);
void listing_tree_free(struct listing_tree_entry *e, size_t n);

/*
 * The names messages were written under through the mount (store_name_message),
 * kept so that a remount lists them under those names (rsync run again
 * transfers nothing): an append-only log, listings/names, of records
 * (UIDVALIDITY, UID, mode, wire, name; an empty name drops the UID's name); a
 * torn last record is ignored. Not compacted (about 40 bytes a name).
 */
int listing_cache_add_name(struct body_cache *bc, const char *wire, uint32_t uidvalidity,
			   uint32_t uid, const char *name, unsigned mode);
typedef void (*listing_name_fn)(void *ctx, const char *wire, uint32_t uidvalidity, uint32_t uid,
				const char *name, unsigned mode);
/* Calls fn for each record, oldest first. -ENOENT if none is kept. */
int listing_cache_load_names(struct body_cache *bc, listing_name_fn fn, void *ctx);

/*
 * The readable names of mailbox wire's messages (store/readable.c), kept so
 * a remount made while the server cannot be reached lists them under the
 * same names: an append-only log beside its listing,
 * listings/<SHA-256 of the wire name>.headlines, of records as the names
 * log's (the name "<headline> [<UID>].eml"), all of one call in one write.
 * Records of another UIDVALIDITY are the caller's to ignore; not compacted
 * (some 150 bytes a message), removed with the listing.
 */
int listing_cache_add_headlines(struct body_cache *bc, const char *wire, uint32_t uidvalidity,
				const uint32_t *uids, const char *const *names, size_t n);
/* Calls fn for each record kept for wire (mode 0), oldest first. -ENOENT if none. */
int listing_cache_load_headlines(struct body_cache *bc, const char *wire, listing_name_fn fn,
				 void *ctx);

/*
 * The names written and the readable names kept for mailbox old_wire, kept
 * for new_wire too (renamed while the server could not be reached).
 */
void listing_cache_carry_names(struct body_cache *bc, const char *old_wire, const char *new_wire);
/* Forgets the listing kept for wire (the mailbox is gone), and its readable names. */
void listing_cache_forget(struct body_cache *bc, const char *wire);
/* Frees what load gave; zeroes *s. */
void listing_snapshot_free(struct listing_snapshot *s);

#endif
