/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * UID SEARCH of the selected mailbox with a search directory's query
 * (imap/search_query.h), answered as SEARCH or, where offered, ESEARCH
 * (RFC 4731: RETURN (ALL), a few ranges however many messages match).
 */
#ifndef IMAPFS_DRIVER_SEARCH_H
#define IMAPFS_DRIVER_SEARCH_H

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

#endif
