/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * UID SEARCH of the selected mailbox with a search directory's query
 * (imap/search_query.h), answered as SEARCH or, where offered, ESEARCH
 * (RFC 4731: RETURN (ALL), a few ranges however many messages match); and
 * where offered, the search of every mailbox in one command (RFC 7377).
 */
#ifndef IMAPFS_DRIVER_SEARCH_H
#define IMAPFS_DRIVER_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session/session.h"

/*
 * The UIDs of the selected mailbox that match query, ascending, in *uids
 * (malloc'd, the caller frees; NULL when none) and *n. Returns 0; -EINVAL
 * with the reason in err when the query does not parse or the server
 * refuses it (BAD, NO, [BADCHARSET]: its words); -EIO and the like when the
 * connection fails.
 */
int driver_search(struct session *s, const char *query, uint32_t **uids, size_t *n, char *err,
		  size_t errlen);

/*
 * Looks in mailbox wire for a message an APPEND whose answer was lost (a
 * crash between the server's OK and its record) may have made: size bytes
 * long, with Message-ID msgid ("" if none), at a UID from uidnext on (the
 * UIDNEXT before the APPEND, as of uidvalidity; under another, anywhere).
 * *uids (malloc'd, ascending; NULL if none) and *n are every such, as of
 * the mailbox's UIDVALIDITY now, *now. 0, -errno.
 */
int driver_find_appended(struct session *s, const char *wire, uint32_t uidvalidity,
			 uint32_t uidnext, const char *msgid, uint64_t size, uint32_t **uids,
			 size_t *n, uint32_t *now);

/* One mailbox's matches of a search of many (RFC 7377 MULTISEARCH). */
struct driver_search_hit {
	char *wire;           /* the mailbox's name as the server sent it */
	uint32_t uidvalidity; /* the UIDVALIDITY the UIDs are of */
	uint32_t *uids;       /* ascending, n > 0 */
	size_t n;
};

/* Whether the server searches many mailboxes in one command (MULTISEARCH). */
bool driver_can_multisearch(const struct session *s);
/*
 * ESEARCH IN (personal) of query (RFC 7377): needs no selected mailbox;
 * *hits (malloc'd, free with driver_search_hits_free()) holds the mailboxes
 * with a match. Errors as driver_search(); an answer without its mailbox
 * or UIDVALIDITY is -EIO.
 */
int driver_multisearch(struct session *s, const char *query, struct driver_search_hit **hits,
		       size_t *n, char *err, size_t errlen);
void driver_search_hits_free(struct driver_search_hit *h, size_t n);

#endif
