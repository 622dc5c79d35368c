/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Who may do what in a mailbox, and the account's other views of its
 * mailboxes, over one session: access rights (RFC 4314 ACL: MYRIGHTS,
 * GETACL, SETACL, DELETEACL), subscriptions (SUBSCRIBE, UNSUBSCRIBE, LSUB),
 * namespaces (RFC 2342) and a mailbox's quota root (RFC 9208).
 *
 * As the rest of driver/: each function returns 0 or -errno (the
 * completion's; -EIO when the connection failed) and never retries.
 */
#ifndef IMAPFS_DRIVER_ACL_H
#define IMAPFS_DRIVER_ACL_H

#include <stdbool.h>
#include <stddef.h>

#include "session/session.h"

/* Room for a rights string: RFC 4314's letters, and a server's own, are fewer. */
#define DRIVER_RIGHTS_MAX 64

/* Whether the server has ACL (RFC 4314). */
bool driver_has_acl(struct session *s);
/* MYRIGHTS wire: the user's rights there ("lrs"). -ENOTSUP without ACL. */
int driver_myrights(struct session *s, const char *wire, char rights[DRIVER_RIGHTS_MAX]);
/*
 * MYRIGHTS of each of wires[0..n), pipelined: fn gets each answer (the
 * wire name as asked, its rights); a mailbox refused gives none. Returns
 * 0 unless the connection failed (or -ENOTSUP without ACL).
 */
int driver_myrights_many(struct session *s, char *const *wires, size_t n,
			 void (*fn)(void *ctx, size_t i, const char *rights), void *ctx);
/*
 * GETACL wire: one "identifier rights" line per entry, as the server
 * lists them, into *text (malloc'd; "" for none). -ENOTSUP without ACL.
 */
int driver_getacl(struct session *s, const char *wire, char **text);
/* SETACL wire identifier rights (RFC 4314 §3.1: "+r", "-w" change, else replace). */
int driver_setacl(struct session *s, const char *wire, const char *identifier,
		  const char *rights);
int driver_deleteacl(struct session *s, const char *wire, const char *identifier);

/* SUBSCRIBE (on) or UNSUBSCRIBE wire. */
int driver_subscribe(struct session *s, const char *wire, bool on);
/*
 * Every subscribed mailbox (LSUB "" "*"), each wire name given to fn as it
 * comes; fn's -errno stops and is returned.
 */
int driver_subscriptions(struct session *s, int (*fn)(void *ctx, const char *wire), void *ctx);

/*
 * GETQUOTAROOT wire: its quota roots and their resources as text, one root
 * a line ("User quota: STORAGE 120 102400 MESSAGE 3 1000"; used and limit,
 * STORAGE in KiB) into *text (malloc'd). -ENOTSUP without QUOTA or when
 * the server shows no quota there.
 */
int driver_mailbox_quota(struct session *s, const char *wire, char **text);

/*
 * Sets the special use of wire (RFC 6154 §5.4: SETMETADATA /private/specialuse),
 * use being attributes ("\\Sent"), or "" to clear it. -ENOTSUP without METADATA.
 */
int driver_set_special_use(struct session *s, const char *wire, const char *use);

enum driver_namespace_kind {
	DRIVER_NS_PERSONAL,
	DRIVER_NS_OTHER_USERS,
	DRIVER_NS_SHARED,
};
struct driver_namespace {
	enum driver_namespace_kind kind;
	char *prefix; /* as on the wire: "shared/", "Public/", "" */
	char delim;   /* '\0' for a flat one */
};
/*
 * NAMESPACE: every namespace the server announces, personal first; *out is
 * malloc'd (free with driver_namespaces_free()). -ENOTSUP without NAMESPACE.
 */
int driver_namespaces(struct session *s, struct driver_namespace **out, size_t *n);
void driver_namespaces_free(struct driver_namespace *ns, size_t n);

#endif
