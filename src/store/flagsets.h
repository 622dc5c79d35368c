/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Interned flag sets: a mailbox of 100,000 messages holds a few distinct flag
 * lists ("\Seen", "\Seen \Answered", ...), so each message keeps a small
 * index into this table instead of its own text. Indexes stay valid for the
 * life of the table. Thread-safe: its lock is a leaf (nothing else is taken
 * under it), so it may be called with any store lock held.
 */
#ifndef IMAPFS_STORE_FLAGSETS_H
#define IMAPFS_STORE_FLAGSETS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Not a set: flags too long to keep, or the table full. */
#define FLAGS_UNKNOWN UINT32_MAX

struct flagsets {
	pthread_mutex_t lock;
	char **sets;
	size_t n;
};

void flagsets_init(struct flagsets *f);
void flagsets_free(struct flagsets *f);
/* The index of text ("\Seen $Work"); FLAGS_UNKNOWN for NULL or when full. */
uint32_t flagsets_intern(struct flagsets *f, const char *text);
/* A copy of the text of idx (the caller frees it), or NULL. */
char *flagsets_text(struct flagsets *f, uint32_t idx);
size_t flagsets_count(struct flagsets *f);

/*
 * Flag lists as sets (IMAP flags are case-insensitive; \Recent is never
 * part of a result). The result is malloc'd, "" for none; NULL without
 * memory. flaglist_minus: the flags of a that b lacks. flaglist_apply: cur
 * with add added and remove removed.
 */
char *flaglist_minus(const char *a, const char *b);
char *flaglist_apply(const char *cur, const char *add, const char *remove);

#endif
