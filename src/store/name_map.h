/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The names a mailbox's messages were written under through the mount
 * ("invoice.eml" for UID 17), both ways: UID -> name for listings, name ->
 * UID for lookups, each a hash lookup; with each, the permission bits the
 * file had (what rsync -a compares). One name a UID, one UID a name:
 * setting either replaces what it had. Pure code; not thread-safe (the
 * store's lock guards it).
 */
#ifndef IMAPFS_STORE_NAME_MAP_H
#define IMAPFS_STORE_NAME_MAP_H

#include <stddef.h>
#include <stdint.h>

struct name_entry;

struct name_map {
	struct name_entry **by_uid;  /* open addressing, NULL: free */
	struct name_entry **by_name; /* the same entries, by the name's hash */
	size_t cap;                  /* of each table: a power of two, or 0 */
	size_t n;
};

/* Gives uid the name (NULL: none) and mode; a UID that had the name loses it. 0 or -ENOMEM. */
int name_map_set(struct name_map *m, uint32_t uid, const char *name, unsigned mode);
/* uid's name, or NULL; valid until the next change. */
const char *name_map_name(const struct name_map *m, uint32_t uid);
/* uid's permission bits as written, or 0. */
unsigned name_map_mode(const struct name_map *m, uint32_t uid);
/* The UID named name, or 0. */
uint32_t name_map_uid(const struct name_map *m, const char *name);
void name_map_clear(struct name_map *m);

#endif
