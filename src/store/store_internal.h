/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the store's own files share and nobody else sees: the account's state
 * and each mailbox's, and the functions one file of the store offers the
 * others. The store's files, each owning one thing:
 *
 *   store.c     life (open, close), the quota, the sink, the pool and caches
 *   tree.c      the mailbox tree: LIST, lookups, the tree kept on disk
 *   tree_journal.c  mailboxes made, removed, renamed offline, laid over the tree
 *   listing.c   each mailbox's messages: listing, delta, the listing on disk
 *   names.c     names messages were written under, kept on disk
 *   readable.c  readable names (-o names=readable): headlines of messages
 *   rights.c    access rights, the ACL, subscriptions, special use, quota roots
 *   bodies.c    message bytes: read ahead, disk cache, or a ranged fetch
 *   changes.c   APPEND, MOVE, EXPUNGE, STORE, CREATE, DELETE, RENAME
 *   parts.c     MIME parts of messages (parts.h), prefetch.c reading ahead
 *   flagsets.c, name_map.c, wire_index.c, body_cache.c, listing_cache.c,
 *   pool.c      the data structures and caches these use
 *
 * None of them writes IMAP command text: they ask driver/.
 *
 * Locks (doc/architecture.md has the whole order): a mailbox's refresh_lock
 * (one listing fetch at a time) and st->list_lock (one LIST at a time) are
 * held across the server's answer, and taken in that order (a refusal found
 * while listing a mailbox asks the tree again); st->lock guards the tree,
 * every mailbox's fields below it and the store's small state, and is never
 * held across I/O. Under st->lock only leaf locks (flag sets, caches, pool).
 * cancel_lock() takes the two held across I/O, so that an interrupted FUSE
 * request does not wait out another's round trip. A pool job never calls back
 * into a store function that may run a job.
 */
#ifndef IMAPFS_STORE_INTERNAL_H
#define IMAPFS_STORE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/flagsets.h"
#include "store/name_map.h"
#include "store/store.h"
#include "store/wire_index.h"

struct journal;
struct journal_op;
struct listing_tree_entry;

/* A message taken out of (row.uid) or put into a listing held. */
struct listing_change {
	bool added;
	struct store_msg row;
};

struct mailbox {
	char *wire;      /* full name on the wire; NULL for the root */
	char *name;      /* path component shown to users */
	uint32_t parent;
	char delim;      /* '\0' for a flat namespace */
	bool selectable;
	bool trash;      /* LIST says \Trash (RFC 6154) */
	unsigned special_use; /* what LIST says of its use (driver_special_use bits) */
	/* MYRIGHTS (store/rights.c): valid while rights_at_ms is recent */
	char rights[64];
	int64_t rights_at_ms;
	int rights_err;       /* what MYRIGHTS answered last: 0, or why none are known */
	bool gone;       /* no longer listed by the server */
	bool seen;       /* listed by the LIST being applied */

	/* Held across the listing's round trips; the struct lives until unmount. */
	pthread_mutex_t refresh_lock;
	struct store_msg *msgs;
	size_t nmsgs, msgs_cap;
	uint32_t uidvalidity, uidnext, exists;
	uint64_t modseq;      /* HIGHESTMODSEQ of the listing (CONDSTORE), 0 if unknown */
	int64_t listed_at_ms; /* 0: never listed, or the listing is stale */
	/*
	 * When a message of ours took the UIDNEXT we held, proven_uidnext is
	 * the one after it: no other message had come, so none above it is
	 * missing (put_row in listing.c).
	 */
	int64_t uidnext_proven_ms;
	uint32_t proven_uidnext;
	/*
	 * Changes made through the mount (store_listing_moved, _added) while a
	 * relisting is fetched: made again on what it fetched, which may
	 * predate them (listing.c). crossing_lost: one could not be noted.
	 */
	bool refreshing, crossing_lost;
	uint64_t changes; /* made through the mount: search.c's kept results are of a count */
	struct listing_change *crossing;
	size_t ncrossing, crossing_cap;
	bool has_listing;     /* a listing is held (stale or not); false until the first */
	int64_t newest_date;  /* the newest INTERNALDATE of msgs, unless newest_stale */
	bool newest_stale;

	bool sizes_wrong;     /* a message's bytes were not its RFC822.SIZE (said once) */
	/*
	 * Changes made through the mount (rows put, taken, reflagged) since the
	 * listing was last kept on disk: a relisting that finds nothing new
	 * writes nothing (a change costs no rewrite of it all), so they are
	 * written at unmount (store_keep_listings).
	 */
	bool kept_behind;

	struct name_map names;      /* names messages were written under (store_name_message) */
	uint32_t names_uidvalidity; /* the UIDVALIDITY they are of */
	struct name_map readable;   /* readable names, "<headline> [<UID>].eml" (readable.c) */
	uint32_t readable_uidvalidity;
	bool readable_loaded; /* those kept on disk were read (or there are none) */
};

struct store {
	struct store_options opts; /* listing_ttl_ms under lock */
	struct pool *pool;

	pthread_mutex_t lock; /* the tree, every mailbox's fields, and what follows */
	struct mailbox **mb;  /* by id; ids are never reused within a mount */
	size_t nmb, mb_cap;
	struct wire_index by_wire; /* ids of mb[1..nmb) by wire name */
	char delim;                /* the namespace's hierarchy delimiter, from LIST */
	uint32_t last_used;
	int64_t quota_at_ms;
	int quota_err;
	uint64_t quota_used, quota_limit;
	bool acl_unsupported; /* the server has no ACL (rights.c) */
	pthread_mutex_t rights_lock; /* one burst of MYRIGHTS at a time, held across it */

	pthread_mutex_t list_lock; /* one LIST at a time; held across it */
	int64_t list_at_ms;        /* written holding both list_lock and lock */
	bool list_failing;         /* the last LIST failed (under list_lock) */
	int64_t list_cost_ms;      /* how long the last LIST took (under list_lock) */
	bool list_on_new_connection; /* driver_tree_goes_stale (under list_lock) */
	uint64_t tree_kept;        /* fingerprint of the tree last kept on disk (under list_lock) */

	/*
	 * Flag changes waiting (changes.c): those of one mailbox to the same
	 * flags go out as one UID STORE over their set, one batch at a time.
	 * A leaf lock: held across no I/O, nothing taken under it.
	 */
	pthread_mutex_t flag_lock;
	pthread_cond_t flag_done;
	struct flag_wait *flag_queue;
	bool flag_sending;

	struct store_sink sink; /* set before any thread but the caller's runs */
	struct flagsets flags;
	struct parts_cache *parts_cache;
	struct prefetch *prefetch; /* NULL: every body is read on demand */
	struct body_cache *bodies; /* NULL: no disk cache */
	struct offline *offline;   /* NULL: no journal (store/offline.h) */
	struct journal *journal;   /* offline's, for listings to lay its changes over; or NULL */
	struct store_searches *searches; /* search.c: kept results */
};

/* Caller holds st->lock. NULL for an unknown or gone id. */
static inline struct mailbox *mailbox_get(struct store *st, uint32_t id)
{
	if (id >= st->nmb || st->mb[id]->gone)
		return NULL;
	return st->mb[id];
}

static inline struct pool *store_pool(struct store *st)
{
	return st->pool;
}

/* NULL when there is no disk cache. */
static inline struct body_cache *store_body_cache(struct store *st)
{
	return st->bodies;
}

static inline struct parts_cache *store_parts_cache(struct store *st)
{
	return st->parts_cache;
}

/* ---- tree.c ---- */

/* The root node and the index; 0 or -ENOMEM. */
int store_tree_init(struct store *st);
void store_tree_free(struct store *st);
/*
 * The tree kept on disk, applied as if LISTed, for a mount made while the
 * server is unreachable. 0, or -ENOENT if none is kept.
 */
int store_tree_apply_kept(struct store *st);
/*
 * A failure because the server cannot be reached (the pool's last connection
 * attempt failed), not a refusal: a NO without a response code is -EIO too.
 */
bool store_unreachable(struct store *st, int r);
/* After a refusal without a telling code: whether mailbox id is gone now (one LIST). */
bool store_gone_now(struct store *st, uint32_t id);
/* The mailbox's wire name, newly allocated, or NULL if it is gone (or ENOMEM). */
char *store_mailbox_wire(struct store *st, uint32_t id);
/* The hierarchy delimiter under mailbox id ('\0' if flat or unknown). */
char store_delimiter(struct store *st, uint32_t id);
/* The \Trash mailbox, else a top-level "Trash" in any case, as last listed; 0 if none. */
uint32_t store_find_trash(struct store *st);
/*
 * Lays the mailbox changes pending in j (CREATE, DELETE, RENAME) over the
 * tree entries e[0..*n) (a LIST, or the tree kept on disk), in order: made
 * ones added (made_offline), removed ones taken out, renamed ones (and those
 * under them) named anew. delim: the account's, '\0' to take the entries'.
 * *e may be reallocated. 0 or -ENOMEM (the entries are whole either way).
 */
int tree_overlay_journal(struct journal *j, char delim, struct listing_tree_entry **e, size_t *n);
/* Whether a pending change to messages names mailbox wire or one under it (moves into too). */
bool tree_messages_pending(struct journal *j, const char *wire, char delim);
/*
 * Shows a mailbox change just journaled offline (offline.c) in the tree at
 * once: CREATE makes op->wire (empty, *id its id), DELETE takes it out,
 * RENAME names it and those under it op->to, keeping their ids.
 */
int store_tree_journaled(struct store *st, const struct journal_op *op, uint32_t *id);
/* After a RENAME: rewrites wire names from old on (children too), keeping ids. */
void store_mailbox_renamed(struct store *st, const char *old_wire, const char *new_wire);

/* ---- listing.c ---- */

struct driver_status;
/* What STATUS says of mailbox wire now (driver_current_status), on any connection: 0 or -errno. */
int store_status_now(struct store *st, const char *wire, struct driver_status *now);

/*
 * At unmount, once nothing changes them any more: the listings that changes
 * made through the mount left behind their copy on disk are written, so a
 * mount made offline after shows what was copied in, moved and removed.
 */
void store_keep_listings(struct store *st);

/*
 * The listing and bodies kept on disk for mailbox old_wire, kept under
 * new_wire instead: renamed while the server cannot be reached, it stays
 * readable, its messages under the names they had (its decoded parts are
 * not carried: they come again from the server).
 */
void store_kept_renamed(struct store *st, const char *old_wire, const char *new_wire);

/*
 * Brings mailbox id's listing up to date if it is older than the TTL (or
 * force); flags_changed: the watcher heard a flag change. The first listing
 * of a mount starts from the one kept on disk.
 */
int store_refresh(struct store *st, uint32_t id, bool force, bool flags_changed);

/* ---- readable.c ---- */

/*
 * Caller holds st->lock. Message uid of from, moved to newuid of to (as of
 * to_uidvalidity), keeps its headline under its new UID.
 */
void store_readable_moved(struct mailbox *from, uint32_t uid, struct mailbox *to,
			  uint32_t to_uidvalidity, uint32_t newuid);

/* search.c */
struct store_searches *store_searches_new(void);
void store_searches_free(struct store_searches *s);
/*
 * Up to max messages of mailbox id with UIDs above after, as last listed
 * (without asking the server); -ESTALE if its UIDVALIDITY is not uidvalidity.
 */
ssize_t store_next_messages(struct store *st, uint32_t id, uint32_t uidvalidity, uint32_t after,
			    struct store_msg *out, size_t max);
/* The UIDVALIDITY mailbox id was last listed with, 0 if none (no server asked). */
uint32_t store_known_uidvalidity(struct store *st, uint32_t id);
/* Marks a mailbox's listing stale, so the next look asks the server. */
void store_listing_stale(struct store *st, uint32_t id);
/*
 * A change made through the mount, followed in the listings held instead of
 * relisting them (a relisting costs a few round trips and a rewrite of the
 * listing kept on disk, however large the mailbox): message uid of mailbox
 * from (as of uidvalidity) left it; to, if not 0, received it as newuid (as
 * of to_uidvalidity, COPYUID's). What is not known for certain (no COPYUID,
 * another UIDVALIDITY) makes the listing stale instead.
 */
void store_listing_moved(struct store *st, uint32_t from, uint32_t uidvalidity, uint32_t uid,
			 uint32_t to, uint32_t to_uidvalidity, uint32_t newuid);
/* Message row came into mailbox id (as of uidvalidity, APPENDUID's) with the flags given. */
void store_listing_added(struct store *st, uint32_t id, uint32_t uidvalidity,
			 const struct store_msg *row, const char *flags);
/* Sets the flags of a listed message after a STORE. */
void store_msg_flags_changed(struct store *st, uint32_t id, uint32_t uid, const char *flags);

/* ---- names.c ---- */

/* The names log kept on disk, read into the mailboxes at open. */
void store_load_kept_names(struct store *st);

/* ---- bodies.c ---- */

/* Message uid of id (as of uidvalidity) left through the mount: its body leaves the disk cache. */
void store_forget_body(struct store *st, uint32_t id, uint32_t uidvalidity, uint32_t uid);

/* ---- store.c ---- */

/* After a change that moves or frees quota: the next df asks the server. */
void store_quota_stale(struct store *st);

/*
 * store_append(), store_move(), store_expunge() and store_set_flags() at
 * the server, without the journal (changes.c; offline.c decides which way
 * a change goes).
 */
int changes_append(struct store *st, uint32_t id, int fd, uint64_t size, const char *flags,
		   int64_t date, uint32_t *uid);
int changes_move(struct store *st, uint32_t from, uint32_t uid, uint32_t to, uint32_t *newuid);
int changes_expunge(struct store *st, uint32_t id, uint32_t uid);
int changes_set_flags(struct store *st, uint32_t id, uint32_t uid, const char *flags);
/* The same for store_create_mailbox(), store_delete_mailbox(), store_rename_mailbox(). */
int changes_create_mailbox(struct store *st, uint32_t parent, const char *name, uint32_t *id);
int changes_delete_mailbox(struct store *st, uint32_t id);
int changes_rename_mailbox(struct store *st, uint32_t id, uint32_t newparent, const char *newname);
/*
 * What rmdir of mailbox id starts from: its wire name (malloc'd) and
 * whether it is selectable. -ENOTEMPTY if it has children, -ENOENT if gone.
 */
int store_childless_wire(struct store *st, uint32_t id, bool *selectable, char **wire);
/* The wire name of a new child called name under parent (malloc'd). 0, -EINVAL, -errno. */
int store_child_wire(struct store *st, uint32_t parent, const char *name, char **out);
/*
 * Mailbox changes journaled offline, by the wire names they had then, for
 * the replay. CREATE: 0, or -EEXIST if another client made it meanwhile.
 * DELETE only of a mailbox that is empty (else -ENOTEMPTY, *messages its
 * count) and of uidvalidity (else -ESTALE; 0: any); -ENOENT if gone.
 * RENAME: -ENOENT if wire is gone (0 if to is there instead: made by a
 * try whose answer was lost), -EEXIST if to is taken. Else -errno.
 */
int changes_create_wire(struct store *st, const char *wire);
int changes_delete_wire(struct store *st, const char *wire, uint32_t uidvalidity,
			uint32_t *messages);
int changes_rename_wire(struct store *st, const char *wire, const char *to);

#endif
