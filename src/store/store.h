/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The model of the account: the mailbox tree, each mailbox's messages (UID,
 * size, date, flags), and the pool of sessions that fetch them.
 *
 * Mailboxes are named by a small integer id, stable for the life of the mount:
 * id 0 is the account root; a mailbox keeps its id across relistings while the
 * server keeps it (by wire name). Messages are named by (mailbox id, UID) and
 * are valid for the mailbox's UIDVALIDITY, which callers pass back so a reused
 * UID in a recreated mailbox is never served as the old message.
 *
 * Thread-safe: any thread may call any function. Functions return 0 or -errno
 * (-ENOENT unknown name, -EIO connection lost or server unreachable, -ESTALE
 * UIDVALIDITY changed); results are copies the caller owns.
 */
#ifndef IMAPFS_STORE_H
#define IMAPFS_STORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>

#include "session/session.h"

#define STORE_ROOT_ID 0u
#define STORE_MAX_MAILBOXES (1u << 16)
/* Sizes a server reports beyond this are refused as nonsense (1 TiB). */
#define STORE_MAX_FILE (UINT64_C(1) << 40)

struct store;

struct store_options {
	struct session_config session;
	unsigned connections; /* pool size, >= 1 */
	int listing_ttl_ms;   /* how long a mailbox's message list is trusted */
	int tree_ttl_ms;      /* how long the mailbox tree (LIST) is trusted */
	/* Disk cache of bodies (store/body_cache.h); none if cache_size is 0. */
	const char *cache_dir;
	const char *cache_account; /* "user@host:port": whose bodies they are */
	uint64_t cache_size;
	/* -o names=readable: messages listed as "<date> <sender> - <subject> [<UID>].eml" */
	bool readable_names;
	/* -o subscribed: only subscribed mailboxes (and the levels above them) */
	bool subscribed_only;
	/* Changes made while the server is unreachable are journaled (store/offline.h). */
	bool offline_writes;
	/* -o writeback: moves, expunges and flag changes are always journaled, drained at once. */
	bool writeback;
};

/*
 * Logs in once (so a bad password or certificate fails here, before anything
 * is mounted) and lists the mailboxes. err receives a message for the user.
 */
int store_open(const struct store_options *opts, struct store **out, char *err, size_t errlen);
void store_close(struct store *st);
/*
 * Starts the store's own threads (the disk cache's writer, the replay of
 * changes made offline): after fuse_daemonize(), whose fork would not take
 * them along. Until then the cache writes at once and nothing is replayed.
 */
void store_start_threads(struct store *st);

/* A child of parent named name (a path component). */
int store_lookup_mailbox(struct store *st, uint32_t parent, const char *name, uint32_t *id);
/* Whether id names a mailbox that still exists; fills selectable. */
int store_mailbox_exists(struct store *st, uint32_t id, bool *selectable);
/*
 * Re-runs LIST if the last one is older than the tree TTL (or force), and
 * tells the sink what it changed.
 */
int store_refresh_mailboxes(struct store *st, bool force);

/*
 * What a relisting found gone or changed, told after it by whichever thread
 * relisted (a FUSE operation among them), outside st->lock and list_lock but
 * possibly while a mailbox's refresh_lock is held (a mailbox relisting may
 * ask the tree again): so these must only queue work, never wait for the
 * kernel nor call into the store. They tell: a mailbox name gone from dir
 * (deleted, renamed away), a message gone from mailbox dir (expunged, or its
 * UIDVALIDITY ended), and each directory whose listing changed. Set once,
 * before the mount serves.
 */
struct store_sink {
	void (*dir_changed)(void *ctx, uint32_t dir);
	void (*name_gone)(void *ctx, uint32_t dir, const char *name);
	void (*message_gone)(void *ctx, uint32_t dir, uint32_t uid);
	void *ctx;
};
void store_set_sink(struct store *st, const struct store_sink *sink);

struct store_child {
	uint32_t id;
	char *name; /* path component, UTF-8 */
};
/* The child mailboxes of parent; free with store_children_free(). */
int store_children(struct store *st, uint32_t parent, struct store_child **out, size_t *n);
void store_children_free(struct store_child *c, size_t n);

struct store_msg {
	uint32_t uid;
	uint32_t flags;    /* index into the store's table of flag sets */
	uint64_t size;     /* RFC822.SIZE */
	int64_t date;      /* INTERNALDATE, seconds since the epoch */
};

/* What a search found in one mailbox. */
struct store_search_result {
	uint32_t uidvalidity;   /* the mailbox's, which the UIDs are of */
	struct store_msg *msgs; /* the matching messages, ascending by UID; malloc'd */
	size_t n;
};
/*
 * The messages of mailbox id that match query (a search directory's name,
 * see imap/search_query.h), into *out (free with store_search_result_free).
 * A listed mailbox's listing is refreshed as by store_messages and gives
 * the rows; one never listed is not listed for it (the rows come with the
 * search). A result is kept and given again while the mailbox shows no
 * change. -EINVAL with the reason in err (errlen > 0) for a query that
 * does not parse or that the server refuses; -ENOENT for a mailbox gone or
 * not selectable.
 */
int store_search(struct store *st, uint32_t id, const char *query,
		 struct store_search_result *out, char *err, size_t errlen);
void store_search_result_free(struct store_search_result *r);

struct store_search_hit {
	uint32_t mailbox;
	struct store_search_result res; /* res.n > 0 */
};
/*
 * query in every selectable mailbox (store_search each, spread over the
 * pool's connections): *hits, sorted by mailbox id, holds the mailboxes with
 * a match only; free with store_search_hits_free(). Mailboxes gone or not
 * readable meanwhile are left out; any other failure (-EINVAL with err, as
 * store_search) fails the whole search.
 */
int store_search_account(struct store *st, const char *query, struct store_search_hit **hits,
			 size_t *n, char *err, size_t errlen);
void store_search_hits_free(struct store_search_hit *h, size_t n);
/*
 * The messages of mailbox id, sorted by UID, fetched or revalidated when the
 * listing is older than the TTL. *out is malloc'd (NULL when n is 0).
 */
int store_messages(struct store *st, uint32_t id, struct store_msg **out, size_t *n,
		   uint32_t *uidvalidity);
/* Message uid as the listing held now says, asking nothing; -ENOENT if it holds none. */
int store_held_message(struct store *st, uint32_t id, uint32_t uid, struct store_msg *out,
		       uint32_t *uidvalidity);
/* One message by UID (revalidating the listing if it is not found and stale). */
int store_message(struct store *st, uint32_t id, uint32_t uid, struct store_msg *out,
		  uint32_t *uidvalidity);
/*
 * Names messages were written under through the mount (cp, rsync: "a.eml"
 * for UID 17), kept on disk beside the listings: a mailbox's listing shows a
 * message under its name, and the name looks it up, in this mount and the
 * next, for the mailbox's UIDVALIDITY. The message's own <UID>.eml (or
 * NULL) drops uid's name; another UID's (cp of an export) is kept; <N>~.eml
 * (store_listed_name's) is never kept. mode:
 * the permission bits the file had, shown for the message (so rsync -a of
 * mail files that are rw------- finds nothing to change).
 */
int store_name_message(struct store *st, uint32_t id, uint32_t uid, const char *name,
		       unsigned mode);
/* The permission bits uid was written with, 0 if none are kept. */
unsigned store_message_mode(struct store *st, uint32_t id, uint32_t uid);
/* uid's name (the caller frees it), or NULL: it is listed as <uid>.eml. */
char *store_message_name(struct store *st, uint32_t id, uint32_t uid);
/* The UID name was given to; -ENOENT if none. */
int store_named_message(struct store *st, uint32_t id, const char *name, uint32_t *uid);
/*
 * The name a message of mailbox id is listed under: the name it was written
 * under, else <UID>.eml, else (when that is the name another message was
 * written under: cp of an export whose 7.eml came in as UID 3) <UID>~.eml.
 * The caller frees it; NULL only without memory.
 */
#define DISPLACED_SUFFIX "~.eml"
char *store_listed_name(struct store *st, uint32_t id, uint32_t uid);
/*
 * The UID name refers to in mailbox id, as store_listed_name() names
 * messages: a written name first; <UID>.eml too, but not for a message
 * written under another <N>.eml (that name is its only one). -ENOENT if it
 * names none (whether the message is still there is store_message()'s to
 * say).
 */
int store_message_by_name(struct store *st, uint32_t id, const char *name, uint32_t *uid);
/*
 * A message's parts directory: <UID>.parts, or its readable name with
 * ".parts" (store_parts_name, what listings show; the caller frees it).
 * store_parts_by_name: the UID either names (whether the message is still
 * there is store_message()'s to say for <UID>.parts), or -ENOENT.
 */
char *store_parts_name(struct store *st, uint32_t id, uint32_t uid);
int store_parts_by_name(struct store *st, uint32_t id, const char *name, uint32_t *uid);
/*
 * Readable names (store_options.readable_names; without it these name
 * nothing): "<headline> [<UID>].eml" (mime/headline.h), the same in every
 * mount. store_readable_names() fetches the headers of those of msgs (rows
 * of mailbox id as of uidvalidity) that have no name yet, in one command a
 * thousand; a message whose header cannot be fetched keeps none for now
 * (listed as <UID>.eml). 0 or -ENOMEM: a failure to fetch is not an error.
 */
int store_readable_names(struct store *st, uint32_t id, const struct store_msg *msgs, size_t n,
			 uint32_t uidvalidity);
/* uid's readable name with suffix (".eml", ".parts") instead of ".eml"; NULL if none (yet). */
char *store_readable_name(struct store *st, uint32_t id, uint32_t uid, const char *suffix);
/*
 * The UID whose readable name with suffix is name, fetching its header if
 * it is not known yet; -ENOENT if it names none. As for <UID>.eml, whether
 * the message is still there is store_message()'s to say.
 */
int store_readable_lookup(struct store *st, uint32_t id, const char *name, const char *suffix,
			  uint32_t *uid);

/*
 * The INTERNALDATE of mailbox id's newest message as last listed (without
 * asking the server): 0 if no listing is held (it was not looked at yet), or
 * it is empty.
 */
int64_t store_newest_date(struct store *st, uint32_t id);
/* The flags of a flag-set index as IMAP text ("\Seen $Work"); caller frees. */
char *store_flags_text(struct store *st, uint32_t flags);

/*
 * Reads up to len bytes of message uid at offset off into buf: from a body
 * fetched ahead, from the disk cache, or with BODY.PEEK[]<off.len> (a read
 * that brings a whole body puts it in the disk cache). Returns the byte count (0 at or past the end), or
 * -ESTALE if the mailbox's UIDVALIDITY is no longer uidvalidity or the message
 * is gone, -EIO if the connection failed.
 */
ssize_t store_read_message(struct store *st, uint32_t id, uint32_t uidvalidity, uint32_t uid,
			   uint64_t off, size_t len, char *buf);

/*
 * The server sent size bytes for message uid where its listing claimed
 * another RFC822.SIZE (Exchange approximates it): the listing, here and on
 * disk, holds the true size from now on, and the log says once per mailbox
 * that the server's sizes are wrong.
 */
void store_message_resized(struct store *st, uint32_t id, uint32_t uidvalidity, uint32_t uid,
			   uint64_t size);

/*
 * Process reader asks for message uid (as of uidvalidity) from its start, and
 * the kernel's page cache did not have it: readers that go up the UIDs get
 * the next messages fetched ahead (see prefetch.h).
 */
void store_message_reading(struct store *st, uint32_t id, uint32_t uidvalidity, uint32_t uid,
			   pid_t reader);

/* Changes journaled and not carried out yet (user.imapfs.pending). */
size_t store_pending_changes(struct store *st);
/*
 * A count that grows whenever a journaled change ends (carried out, dropped
 * or taken back): unchanged, no store_append_pending() answer has changed.
 */
uint64_t store_changes_ended(struct store *st);
/*
 * The last journaled change that was not made (dropped or refused), as the
 * log said it, malloc'd; NULL if none in this mount (user.imapfs.error).
 */
char *store_journal_error(struct store *st);
/*
 * Waits until the journal is empty (replaying it if the server answers), at
 * most ms: true if it is. What must not overtake a journaled change calls
 * this first (rmdir: the messages moved out must be out before DELETE).
 */
bool store_settle(struct store *st, unsigned ms);
/*
 * At unmount, before the sink's fs goes: carries out what the journal holds
 * (bounded, if the server answers; the rest waits for the next mount) and
 * stops replaying.
 */
void store_stop_changes(struct store *st);
/* Application bytes received from the server on all connections so far. */
uint64_t store_bytes_in(struct store *st);

/* ---- changes (src/store/changes.c): each maps to IMAP and never loses mail ---- */

/*
 * APPENDs size bytes of fd to mailbox id with flags (validated IMAP flag
 * list text, or NULL) and date (0: now). *uid is the new UID, or 0 if the
 * server does not say (no UIDPLUS). Not retried: a lost connection is -EIO.
 * While the server cannot be reached (or changes wait in the journal, or
 * under -o writeback), the bytes and the APPEND are journaled instead:
 * *in_journal, *uid 0, and store_append_pending() true until it is carried
 * out, exactly once (store/offline.h); name is the file name it was
 * written under.
 */
int store_append(struct store *st, uint32_t id, int fd, uint64_t size, const char *flags,
		 int64_t date, const char *name, uint32_t *uid, bool *in_journal);
/*
 * rm of a copy waiting in the journal: its APPEND is taken back (done, its
 * bytes removed) unless the replay has begun to send it: then -EBUSY (it
 * may be on the server). -ENOENT if none waits (sent meanwhile).
 */
int store_cancel_append(struct store *st, uint32_t id, const char *name);
/* Whether a journaled APPEND of name into mailbox id waits. */
bool store_append_pending(struct store *st, uint32_t id, const char *name);
/*
 * Calls fn for each journaled APPEND waiting, into a mailbox of the tree as
 * known: fd reads its bytes, and is fn's to close. fn returns 0 or -errno;
 * the first error stops the walk and is returned.
 */
typedef int (*store_pending_fn)(void *ctx, uint32_t id, const char *name, uint64_t size,
				int64_t date, int fd);
int store_pending_appends(struct store *st, store_pending_fn fn, void *ctx);
/*
 * These three are carried out at once, or, while the server cannot be
 * reached (or earlier ones wait in the journal), journaled and shown at once
 * (store/offline.h: *newuid is 0 then).
 *
 * Moves message uid of from into to: UID MOVE, else UID COPY + \Deleted + UID EXPUNGE.
 */
int store_move(struct store *st, uint32_t from, uint32_t uid, uint32_t to, uint32_t *newuid);
/* Deletes message uid: \Deleted + UID EXPUNGE of that UID only (never a plain EXPUNGE). */
int store_expunge(struct store *st, uint32_t id, uint32_t uid);
/*
 * rm of message uid of mailbox id: store_move() to trash, or store_expunge()
 * when trash is 0. A run of them (rm -r, rm *.eml: more than a few from one
 * mailbox, each soon after the last) is journaled past its first few and
 * carried out in batches, one UID MOVE or UID EXPUNGE over many (a journal
 * is needed: a disk cache); store_settle() waits for them.
 */
int store_remove(struct store *st, uint32_t id, uint32_t uid, uint32_t trash, uint32_t *newuid);
/* Replaces the flags of message uid (UID STORE FLAGS). -EINVAL for a bad flag. */
int store_set_flags(struct store *st, uint32_t id, uint32_t uid, const char *flags);
/* Checks and normalises a user's flag list ("\\Seen  $Work" -> "\\Seen $Work"). */
int store_normalize_flags(const char *in, char **out);
int store_create_mailbox(struct store *st, uint32_t parent, const char *name, uint32_t *id);
/*
 * The account's Trash, where rm moves messages: the mailbox LIST marks
 * \Trash (RFC 6154), else a top-level one named "Trash" in any case, else
 * one CREATEd now as "Trash".
 */
int store_trash_mailbox(struct store *st, uint32_t *id);
/* DELETE of a mailbox without messages or children; -ENOTEMPTY otherwise. */
int store_delete_mailbox(struct store *st, uint32_t id);
int store_rename_mailbox(struct store *st, uint32_t id, uint32_t newparent, const char *newname);

/* The account's STORAGE quota in KiB (cached a little); -ENOTSUP if none. */
int store_quota(struct store *st, uint64_t *used_kib, uint64_t *limit_kib);

/* ---- rights and the mailbox's other facts (src/store/rights.c) ---- */

#define STORE_RIGHTS_MAX 64
/*
 * The user's rights on mailbox id (RFC 4314 letters, "lrswipkxte"), asked
 * with MYRIGHTS and kept a few seconds. -ENOTSUP when they are not known
 * (no ACL on the server, the root, a level that is no mailbox).
 */
int store_rights(struct store *st, uint32_t id, char rights[STORE_RIGHTS_MAX]);
/*
 * -EACCES if the rights on id are known and lack a letter of need (each is
 * needed; RFC 2086's "c" and "d" count for "kx" and "te"); 0 otherwise:
 * where rights are not known the server decides.
 */
int store_may(struct store *st, uint32_t id, const char *need);
/* The same from the rights held only, asking nothing (0 where none are held). */
int store_may_known(struct store *st, uint32_t id, const char *need);
/* GETACL: "identifier rights" lines (the caller frees text). */
int store_acl(struct store *st, uint32_t id, char **text);
/* SETACL identifier rights; rights NULL: DELETEACL identifier. */
int store_set_acl(struct store *st, uint32_t id, const char *identifier, const char *rights);
/* Whether id is subscribed (LSUB); SUBSCRIBE or UNSUBSCRIBE it. */
int store_subscribed(struct store *st, uint32_t id, bool *yes);
int store_subscribe(struct store *st, uint32_t id, bool on);
/* What LIST says id is for ("\\Sent", "\\Archive \\Flagged"; the caller frees it), NULL if none. */
char *store_special_use(struct store *st, uint32_t id);
/*
 * Sets what id is for: use is RFC 6154 attributes ("\\Sent"), "" for none
 * (SETMETADATA /private/specialuse). -ENOTSUP where the server has no METADATA.
 */
int store_set_special_use(struct store *st, uint32_t id, const char *use);
/* GETQUOTAROOT of id: a line a quota root (the caller frees text); -ENOTSUP if none shown. */
int store_mailbox_quota(struct store *st, uint32_t id, char **text);

/* ---- for the watcher ---- */

/* Refetches mailbox id's listing now; full even if its counters did not move
 * (a flag changed). */
int store_refresh_listing(struct store *st, uint32_t id, bool full);
/*
 * The same, for the watcher's news of messages come or gone in mailbox id
 * and nothing else: nothing is fetched if its UIDNEXT and count are as
 * listed (the news was of our own change).
 */
int store_recount_listing(struct store *st, uint32_t id);
/* The mailbox most recently listed or read, STORE_ROOT_ID if none. */
uint32_t store_last_used(struct store *st);
/* How long listings are trusted: long while a watcher reports changes. */
void store_set_listing_ttl(struct store *st, int ms);

struct store_mailbox_ref {
	uint32_t id, parent;
	char *name, *wire;
	uint32_t uidvalidity, uidnext, exists;
	bool selectable;
	bool listed; /* its messages were listed at least once */
};
/* Every mailbox there is now; free with store_mailbox_refs_free(). */
int store_mailbox_refs(struct store *st, struct store_mailbox_ref **out, size_t *n);
void store_mailbox_refs_free(struct store_mailbox_ref *r, size_t n);
int store_mailbox_by_wire(struct store *st, const char *wire, uint32_t *id);

#endif
