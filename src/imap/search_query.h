/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The query language of search directories (<mailbox>/.search/<query>/),
 * turned into IMAP SEARCH keys (RFC 3501 6.4.4). Pure: no I/O.
 *
 *   word            TEXT word (header or body holds it; each word must)
 *   "a phrase"      TEXT "a phrase"
 *   from:X to:X cc:X bcc:X subject:X body:X      FROM X ... BODY X
 *   header:NAME:X   HEADER NAME X
 *   since:D before:D on:D   (D is YYYY-MM-DD) SINCE/BEFORE/ON
 *   larger:N smaller:N      (N bytes, with K, M or G) LARGER/SMALLER
 *   is:seen|unseen|flagged|unflagged|answered|unanswered|draft|deleted
 *   keyword:NAME    KEYWORD NAME
 *   -TERM           NOT TERM
 *   A or B          OR A B (or binds tighter than the implied AND)
 *   imap:KEYS       the rest of the query as raw SEARCH keys
 *   gmail:QUERY     the rest of the query as a Gmail query (X-GM-RAW, with
 *                   IMAP_SEARCH_GMAIL only)
 *
 * X may be "quoted" to hold spaces. A file name cannot hold '/', so %XX in
 * the query stands for the byte XX (%2F for '/', %25 for '%').
 */
#ifndef IMAPFS_IMAP_SEARCH_QUERY_H
#define IMAPFS_IMAP_SEARCH_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#include "imap/command.h"

/* The server offers Gmail's X-GM-EXT-1: gmail: may be used. */
#define IMAP_SEARCH_GMAIL 1u

/*
 * Appends the SEARCH keys of query to c (nothing else: the caller writes
 * "UID SEARCH" and any CHARSET before them, see imap_search_query_utf8()).
 * flags: IMAP_SEARCH_*. Returns 0, or -EINVAL with a one-line reason in err
 * (a query that does not parse, a date or size that is none, raw keys that
 * could break the command's framing, gmail: without IMAP_SEARCH_GMAIL), or
 * -ENOMEM.
 */
int imap_search_query(struct imap_cmd *c, const char *query, unsigned flags, char *err,
		      size_t errlen);

/* Whether the query holds bytes beyond ASCII, %XX escapes undone (the search then needs CHARSET UTF-8). */
bool imap_search_query_utf8(const char *query);
/* The query with its %XX escapes undone (malloc'd; NULL if out of memory). */
char *imap_search_query_unescape(const char *query);

#endif
