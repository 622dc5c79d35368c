/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A message's headline: the date, sender and subject a person reads in a
 * file manager, made into the start of a file name (-o names=readable):
 *
 *   "2024-03-01 10.12 Alice Example - Invoice March"
 *
 * Pure code: the same header always gives the same headline, whatever the
 * machine's time zone or locale, so a message's name never changes.
 */
#ifndef IMAPFS_MIME_HEADLINE_H
#define IMAPFS_MIME_HEADLINE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Room a headline leaves in a 255-byte name for " [4294967295].parts", the
 * longest end the store puts after it.
 */
#define MIME_HEADLINE_MAX 236
/* What of the headline the sender may take, so the subject is still seen. */
#define MIME_HEADLINE_SENDER_MAX 64

/*
 * The headline of the header block (len bytes; Date, From and Subject are
 * read, other fields ignored): "YYYY-MM-DD HH.MM <sender> - <subject>".
 *  - The date is the Date field's, in UTC; internaldate (seconds since the
 *    epoch) stands in when Date is missing or cannot be read.
 *  - The sender is the first From address's display name (RFC 2047
 *    decoded), else its address; "(no sender)" without one.
 *  - The subject is decoded; "(no subject)" when empty or blank.
 * Runs of white space and control characters become one space, '/' becomes
 * '_', invalid UTF-8 U+FFFD; at most MIME_HEADLINE_MAX bytes, cut on a
 * character boundary. Never begins with '.'. Newly allocated; NULL only on
 * ENOMEM.
 */
char *mime_headline(const char *header, size_t len, int64_t internaldate);

/*
 * An RFC 5322 date-time ("Fri, 1 Mar 2024 10:12:33 +0100"), the obsolete
 * forms included (two-digit years, zone names, comments, no seconds), to
 * seconds since the epoch. 0, or -EINVAL for what is not one.
 */
int mime_date_parse(const char *s, int64_t *out);

#endif
