/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A message's MIME parts as files: the header block, every leaf part
 * (transfer-decoded) and every attached message (raw), each with an exact
 * size known before it is read, and read on its own with partial fetches.
 *
 * How a part's size is made exact without fetching it whole: identity
 * encodings and attached messages have the size BODYSTRUCTURE gives; base64
 * is measured from its first and last bytes when its lines are uniform (see
 * mime/b64layout.h); anything else (quoted-printable, irregular base64) is
 * fetched whole once, decoded, and kept in memory while the structure is
 * cached. Sizes the server reports (BINARY.SIZE) are never trusted: Dovecot
 * 2.3 answers them wrongly for many parts.
 *
 * Sizing costs round trips, and a walk over many messages (grep -r, find
 * -name) needs only names: so a structure is loaded with names and declared
 * types, and its sizes are made exact on first need (store_parts_sized()).
 * Only a message with a part whose type must be sniffed (its file name may
 * depend on it) is sized while loading. When messages are loaded one after
 * another in UID order, the structures of the next ones come in the same
 * command.
 *
 * Thread-safe. A struct store_parts is shared and reference-counted: take one
 * with store_parts_get(), give it back with store_parts_put(). Names, sections,
 * types, charsets and the header never change; size, layout and content are
 * valid once store_parts_sized() has returned 0.
 */
#ifndef IMAPFS_STORE_PARTS_H
#define IMAPFS_STORE_PARTS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mime/b64layout.h"
#include "mime/decode.h"
#include "store/part_disk.h"
#include "store/store.h"

/* Parts listed per message; the rest is left out (and logged). */
#define STORE_MAX_PARTS 4096

enum part_kind {
	PART_HEADER,  /* header.txt: BODY[HEADER] */
	PART_LEAF,    /* a leaf part, transfer-decoded */
	PART_MESSAGE, /* an attached message/rfc822, raw */
};

struct store_part {
	enum part_kind kind;
	char *name;          /* file name in <uid>.parts/ */
	char *section;       /* NULL for the header */
	char *mime_type;     /* "type/subtype", sniffed when declared octet-stream */
	char *charset;       /* or NULL */
	enum mime_cte cte;
	uint64_t encoded_size; /* octets of BODY[section] */
	uint64_t size;         /* exact size of the file */
	bool has_layout;       /* base64 with uniform lines: random access */
	struct b64_layout layout;
	char *content;         /* whole decoded content when kept, else NULL */
	size_t content_len;
	bool broken;           /* its size cannot be believed: reads fail with EIO */
	struct part_gather gathered; /* read so far from its start (store/part_disk.h) */
	bool opaque;           /* declared octet-stream or untyped: sniffed with libmagic */
};

struct store_parts {
	uint32_t mailbox, uidvalidity, uid;
	int64_t date;
	char *header;
	size_t header_len;
	char *subject, *from, *date_text, *message_id; /* decoded UTF-8, or NULL */
	struct store_part *parts; /* parts[0] is the header */
	size_t n;

	/* Everything below is private to parts.c. */
	pthread_mutex_t lock;       /* content and binary_ok */
	pthread_mutex_t size_lock;  /* one thread sizes; the others wait for it */
	atomic_bool sized;
	bool binary_ok;             /* BINARY has not failed for this message */
	unsigned refs;
	struct store_parts *lru_prev, *lru_next;
	size_t kept_bytes;
};

/*
 * The parts of message uid in mailbox id (valid for uidvalidity), loaded from
 * the server on first use and cached. Returns 0, -ENOENT, -ESTALE, -EIO.
 */
int store_parts_get(struct store *st, uint32_t id, uint32_t uidvalidity, uint32_t uid,
		    int64_t date, struct store_parts **out);
void store_parts_put(struct store *st, struct store_parts *p);

/*
 * Makes every part's size exact (asking the server the first time). Returns 0,
 * -ESTALE (mailbox gone or recreated), -EIO, -EINTR.
 */
int store_parts_sized(struct store *st, struct store_parts *p);
/* Whether sizes are exact already: store_parts_sized() would not block. */
bool store_parts_is_sized(const struct store_parts *p);

/* Index of the part called name, or -ENOENT. */
int store_parts_find(const struct store_parts *p, const char *name);

/*
 * Reads up to len bytes of part idx at offset off into buf (sizing the parts
 * first if need be). Returns the byte count (0 past the end) or -errno.
 */
ssize_t store_read_part(struct store *st, struct store_parts *p, size_t idx, uint64_t off,
			size_t len, char *buf);

/* Drops every cached structure (unmount). */
void store_parts_cache_clear(struct store *st);

#endif
