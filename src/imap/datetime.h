/* SPDX-License-Identifier: GPL-2.0-or-later */
/* IMAP date-time (RFC 3501 date-time, INTERNALDATE): "17-Jul-1996 02:44:25 -0700". */
#ifndef IMAPFS_IMAP_DATETIME_H
#define IMAPFS_IMAP_DATETIME_H

#include <stddef.h>
#include <time.h>

/*
 * Parses s (len bytes, no quotes) into seconds since the epoch, UTC.
 * Accepts a day of one digit with or without a leading space. Returns 0 or
 * -EINVAL for anything malformed or out of range.
 */
int imap_datetime_parse(const char *s, size_t len, time_t *out);

/* Formats t as an IMAP date-time in UTC ("+0000") into buf (at least 27 bytes). */
void imap_datetime_format(time_t t, char *buf, size_t size);

#endif
