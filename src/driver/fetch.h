/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fetching message content over one session: byte ranges of a whole message
 * (BODY.PEEK[]<off.len>), whole bodies of many messages in one command
 * (reading ahead), the structures and headers of many messages in one
 * command, and any set of sections of one message (BODY.PEEK or BINARY.PEEK,
 * whole or a range) in one command.
 *
 * Each function first makes the mailbox the session's selected one as of the
 * caller's UIDVALIDITY (-ESTALE if it has another now) and copies out what it
 * keeps, so nothing points into the session's buffers after it returns.
 * Never \Seen: every item is a .PEEK.
 */
#ifndef IMAPFS_DRIVER_FETCH_H
#define IMAPFS_DRIVER_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/bodystructure.h"
#include "session/session.h"

/* Whether the server decodes parts for us (RFC 3516 BINARY). */
bool driver_has_binary(struct session *s);

/*
 * Bytes [off, off+len) of message uid into buf; *got is how many came (fewer
 * at the end of the message). -EIO if the server sent more than asked or
 * nothing for the message (expunged by another client meanwhile).
 */
int driver_fetch_range(struct session *s, const char *wire, uint32_t uidvalidity, uint32_t uid,
		       uint64_t off, size_t len, char *buf, size_t *got);

/*
 * Whole bodies of uids (sorted), one command: each that comes goes to fn as
 * it arrives (body valid during the call only). Messages the server leaves
 * out are simply not given.
 */
int driver_fetch_bodies(struct session *s, const char *wire, uint32_t uidvalidity,
			const uint32_t *uids, size_t n,
			void (*fn)(void *ctx, uint32_t uid, const char *body, size_t len), void *ctx);

/* UIDs in one command of driver_fetch_header_fields(): some 11 KB of UID set at most. */
#define DRIVER_HEADER_FIELDS_BATCH 1000

/*
 * The header fields (names: "DATE FROM SUBJECT") of uids (sorted), in
 * commands of at most DRIVER_HEADER_FIELDS_BATCH UIDs: each answer goes to
 * fn as it arrives (valid during the call only). Messages the server leaves
 * out are not given.
 */
int driver_fetch_header_fields(struct session *s, const char *wire, uint32_t uidvalidity,
			       const uint32_t *uids, size_t n, const char *fields,
			       void (*fn)(void *ctx, uint32_t uid, const char *header,
					  size_t len),
			       void *ctx);

/* ---- one message's sections ---- */

#define DRIVER_MAX_ITEMS 64
/* As the length of an item: the whole section, not a range. */
#define DRIVER_WHOLE UINT64_MAX

/*
 * The items of one UID FETCH of one message, and their answers. Fill with
 * driver_items_init() and driver_items_add(), run with driver_fetch_items(),
 * read val/len/got by the index driver_items_add() returned, release with
 * driver_items_clear(). Large (some 40 KB): allocate it, do not put it on a
 * FUSE thread's stack.
 */
struct driver_items {
	uint32_t uid;
	char items[16384];
	size_t nkeys;
	size_t item_end[DRIVER_MAX_ITEMS]; /* where each item's text ends in items */
	char key[DRIVER_MAX_ITEMS][320];   /* what each answer comes under: "BODY[2]<0>" */
	char *val[DRIVER_MAX_ITEMS];       /* NUL-terminated copy; NULL if NIL or not sent */
	size_t len[DRIVER_MAX_ITEMS];
	bool got[DRIVER_MAX_ITEMS];
	/* BODYSTRUCTURE too, parsed into tree (at most max_parts parts). */
	bool want_structure;
	unsigned max_parts;
	struct bs_tree tree;
	int tree_err;
	bool have_tree;
};

void driver_items_init(struct driver_items *f, uint32_t uid);
/*
 * Adds section (BINARY.PEEK when binary, else BODY.PEEK; "" is the whole
 * message, "HEADER" its header), whole (len DRIVER_WHOLE) or the range
 * <off.len>. Returns the item's index, or -E2BIG when the command is full.
 */
int driver_items_add(struct driver_items *f, bool binary, const char *section, uint64_t off,
		     uint64_t len);
/* Whether another item of a long section name surely still fits. */
bool driver_items_room(const struct driver_items *f);
/* Drops the items from index n on (a plan that did not fit). */
void driver_items_truncate(struct driver_items *f, size_t n);
/* Frees the answers; the items stay, to be fetched again. */
void driver_items_clear(struct driver_items *f);
/*
 * One UID FETCH of the items (with a NOOP and one more try if the server
 * answered nothing for the message, see driver_catch_up). -EIO if it still
 * answers nothing.
 */
int driver_fetch_items(struct session *s, const char *wire, uint32_t uidvalidity,
		       struct driver_items *f);

/* ---- structures of many messages ---- */

#define DRIVER_BATCH_MESSAGES 64

struct driver_structure {
	uint32_t uid;
	bool found;           /* both items answered */
	bool got_header;      /* BODY[HEADER] answered (header stays NULL if NIL or refused) */
	bool header_refused;  /* larger than max_header: not copied */
	char *header;
	size_t header_len;
	bool have_tree;
	int tree_err;
	struct bs_tree tree;
};

/* BODYSTRUCTURE and BODY.PEEK[HEADER] of up to DRIVER_BATCH_MESSAGES messages. */
struct driver_structures {
	struct driver_structure m[DRIVER_BATCH_MESSAGES]; /* uid set by the caller, ascending */
	size_t n;
	size_t max_header;
	unsigned max_parts;
	int err;
};

int driver_fetch_structures(struct session *s, const char *wire, uint32_t uidvalidity,
			    struct driver_structures *b);
/* Frees the answers (headers and trees); the UIDs stay. */
void driver_structures_clear(struct driver_structures *b);

#endif
