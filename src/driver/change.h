/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * IMAP commands that change messages, over one session: APPEND, UID MOVE
 * (or UID COPY + \Deleted + UID EXPUNGE), UID EXPUNGE of one UID, UID STORE
 * of flags. Each touches exactly what it names: an expunge is UID EXPUNGE of
 * one UID, never a plain EXPUNGE, which would purge every message other
 * clients marked \Deleted; without UIDPLUS nothing is expunged at all.
 * Nothing here retries (a second APPEND or MOVE after a lost answer could
 * duplicate mail): the caller runs these once.
 */
#ifndef IMAPFS_DRIVER_CHANGE_H
#define IMAPFS_DRIVER_CHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session/session.h"

/*
 * APPENDs size bytes read from fd (at offset 0 on) to mailbox wire, with
 * flags (validated IMAP flag list text without parentheses, or NULL) and
 * date (0 for the server's now). *uidvalidity and *uid are the APPENDUID
 * values, or 0 when the server has no UIDPLUS. -errno of a refusal (RFC
 * 5530: -EDQUOT, -EFBIG, ...).
 */
int driver_append(struct session *s, const char *wire, const char *flags, int64_t date, int fd,
		  uint64_t size, uint32_t *uidvalidity, uint32_t *uid);
/*
 * Moves message uid of wire into to_wire; *uidvalidity and *newuid are the
 * COPYUID values (the target's), 0 if the server does not say. -EXDEV when the server can neither MOVE nor
 * COPY with UIDPLUS (the copy must be known before the original may go).
 */
int driver_move(struct session *s, const char *wire, uint32_t uid, const char *to_wire,
		uint32_t *uidvalidity, uint32_t *newuid);
/* Deletes message uid of wire: \Deleted, then UID EXPUNGE of it alone; -EPERM without UIDPLUS. */
int driver_expunge(struct session *s, const char *wire, uint32_t uid);
/*
 * Selects wire (read-write) and checks that it still holds message uid as
 * of uidvalidity: 0, -ESTALE if the mailbox has another UIDVALIDITY now (the
 * UID may name other mail), -ENOENT if the message is gone (expunged or
 * moved away). What replays a change made offline asks first.
 */
int driver_holds(struct session *s, const char *wire, uint32_t uidvalidity, uint32_t uid);
/*
 * The same for the n UIDs uids (ascending, no duplicates): present[i] says
 * whether uids[i] is still there. 0, -ESTALE, -errno.
 */
int driver_holding(struct session *s, const char *wire, uint32_t uidvalidity,
		   const uint32_t *uids, size_t n, bool *present);
/*
 * One command each over a set of UIDs (ascending) of wire, for changes
 * carried out together (the journal's replay): UID MOVE (or UID COPY and
 * the expunge below) into to_wire, -ENOENT if it does not exist
 * ([TRYCREATE]); \Deleted and UID EXPUNGE of the set; +FLAGS add and
 * -FLAGS remove (validated flag list text, either may be ""). UIDs gone
 * meanwhile are skipped by the server. A move made as COPY succeeds once
 * the copies exist (an expunge of the originals that fails is logged):
 * doing it again would copy twice.
 */
int driver_move_uids(struct session *s, const char *wire, const uint32_t *uids, size_t n,
		     const char *to_wire);
int driver_expunge_uids(struct session *s, const char *wire, const uint32_t *uids, size_t n);
int driver_change_flags_uids(struct session *s, const char *wire, const uint32_t *uids, size_t n,
			     const char *add, const char *remove);
/*
 * Adds the flags add and removes the flags remove (validated flag list text,
 * either may be "") on message uid of wire as of uidvalidity: +FLAGS and
 * -FLAGS, so what another client set meanwhile stays. -ESTALE if the mailbox
 * has another UIDVALIDITY now, -ENOENT if the message is gone (expunged).
 * Doing it twice does it once.
 */
int driver_change_flags(struct session *s, const char *wire, uint32_t uidvalidity, uint32_t uid,
			const char *add, const char *remove);
/*
 * Replaces the flags of messages uids[0..n) (ascending) of wire with flags
 * (validated flag list text): one UID STORE over the set.
 */
int driver_set_flags(struct session *s, const char *wire, const uint32_t *uids, size_t n,
		     const char *flags);

#endif
