/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A growable byte buffer.
 *
 * Contract: data holds len bytes; cap is what is allocated at data, always
 * at least len + 1, and data is NULL (len and cap 0) until something is
 * allocated. Once it is, every function here leaves a NUL byte, not counted
 * in len, at data[len], so the contents are a C string whenever they hold no
 * NUL of their own. The bytes may be read and written in place, and a caller
 * that reserved room may write past len itself and advance len (staying
 * below cap); data[len] is then a NUL again after the next call here.
 *
 * Every function that may allocate returns 0 or -ENOMEM; on -ENOMEM the
 * buffer is as it was. Nothing is sticky: a caller that wants the first
 * error to stop later appends keeps it itself.
 *
 * Ownership: struct buf owns data; release it with buf_free(), or take it
 * over with buf_steal(). No locking: one thread at a time.
 */
#ifndef IMAPFS_UTIL_BUF_H
#define IMAPFS_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

/* An empty buffer; allocates nothing. */
void buf_init(struct buf *b);

/*
 * Makes room for n more bytes and the NUL after them. Capacity grows by
 * doubling (from 64 bytes), so appending is amortised O(1).
 */
int buf_reserve(struct buf *b, size_t n);

/*
 * The same, but the doubling stops at max bytes of capacity: past that, the
 * buffer grows to exactly what is needed. For a buffer whose size a peer
 * controls, so slack never adds much to a limit it is held to; max 0
 * reserves exactly (a size known up front).
 */
int buf_reserve_max(struct buf *b, size_t n, size_t max);

/* Appends n bytes of data (which may hold NUL bytes; may be NULL if n is 0). */
int buf_append(struct buf *b, const void *data, size_t n);

/* Appends the NUL-terminated string s, without its NUL. */
int buf_append_str(struct buf *b, const char *s);

/* Appends printf output. -EINVAL if fmt cannot be formatted. */
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The same with a va_list, for callers that are printf-like themselves. */
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Empties the buffer and keeps its memory for reuse. */
void buf_reset(struct buf *b);

/*
 * Gives back the capacity beyond len + 1 (pointers into data may change).
 * On -ENOMEM the buffer keeps its memory, which is still valid.
 */
int buf_shrink(struct buf *b);

/* Frees the memory; the buffer is empty again and may be reused. */
void buf_free(struct buf *b);

/*
 * The contents as a NUL-terminated string the caller now owns and frees,
 * "" (allocated if need be) when empty; the buffer is left as after
 * buf_init(). NULL with errno ENOMEM only when that "" cannot be allocated.
 */
char *buf_steal(struct buf *b);

#endif
