/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * IMAP command formatting: the only place that turns strings into IMAP
 * syntax, so nothing from a file name, xattr value or password can inject
 * protocol. Every string argument goes out as an atom only when it is one,
 * else quoted, else as a literal.
 *
 * A command is built without its tag or final CRLF; the session prefixes the
 * tag and appends CRLF. Synchronising literals ("{n}" without LITERAL+) need
 * the sender to wait for a continuation: sync[] records the offsets right after
 * each "{n}\r\n" where it must stop and wait.
 *
 * Ownership: struct imap_cmd owns buf; release with imap_cmd_free().
 */
#ifndef IMAPFS_IMAP_COMMAND_H
#define IMAPFS_IMAP_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define IMAP_CMD_MAX_SYNC 8

struct imap_cmd {
	/*
	 * The text, NUL-terminated: buf and len are what the session sends,
	 * out is the same memory as the struct buf command.c appends to. The
	 * two share their layout, so the union costs no copying.
	 */
	union {
		struct buf out;
		struct {
			char *buf;
			size_t len, cap;
		};
	};
	int err;            /* first error (-ENOMEM, -EINVAL, -E2BIG); later calls are no-ops */
	bool literal_plus;  /* server has LITERAL+ (not LITERAL-: its 4 KiB cap is not honoured) */
	size_t sync[IMAP_CMD_MAX_SYNC];
	unsigned nsync;
};

void imap_cmd_init(struct imap_cmd *c, bool literal_plus);
void imap_cmd_free(struct imap_cmd *c);

/* Appends raw protocol text (a keyword, "UID FETCH", "(UID FLAGS)"); no checks. */
void imap_cmd_raw(struct imap_cmd *c, const char *text);
void imap_cmd_rawf(struct imap_cmd *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends " " unless the buffer is empty. */
void imap_cmd_sp(struct imap_cmd *c);

/*
 * Appends s as an astring: an atom if every byte is ATOM-CHAR, else a quoted
 * string if it is 7-bit without CR, LF or NUL, else a literal ({n} or {n+}).
 */
void imap_cmd_astring(struct imap_cmd *c, const char *s, size_t len);
/* Same but never an atom (for arguments that must be strings). */
void imap_cmd_string(struct imap_cmd *c, const char *s, size_t len);
/* Appends a literal of len bytes: "{len}\r\n" or "{len+}\r\n" then the bytes. */
void imap_cmd_literal(struct imap_cmd *c, const char *s, size_t len);
/* Encodes a UTF-8 mailbox name to modified UTF-7 and appends it as an astring.
 * Sets -EINVAL if utf8 is not valid UTF-8. */
void imap_cmd_mailbox(struct imap_cmd *c, const char *utf8);

/*
 * Appends a sequence set of UIDs (sorted ascending, duplicates allowed),
 * compressing runs: 1,2,3,7 -> "1:3,7". Sets -EINVAL on n == 0 or uid 0.
 */
void imap_cmd_uid_set(struct imap_cmd *c, const uint32_t *uids, size_t n);

#endif
