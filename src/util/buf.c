/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The growable byte buffer the command builder, the response parser and the
 * header decoders share (contract in buf.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

/* Small enough for a command or a header, big enough to skip tiny reallocs. */
#define BUF_FIRST_CAP	((size_t)64)

void buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

int buf_reserve_max(struct buf *b, size_t n, size_t max)
{
	size_t need, cap;
	char *data;

	if (n > SIZE_MAX - 1 - b->len)
		return -ENOMEM;
	need = b->len + n + 1;
	if (need > b->cap) {
		cap = b->cap ? b->cap : BUF_FIRST_CAP;
		while (cap < need)
			cap = cap > SIZE_MAX / 2 ? need : cap * 2;
		if (cap > max)
			cap = max;
		if (cap < need)
			cap = need;
		data = realloc(b->data, cap);
		if (!data)
			return -ENOMEM;
		b->data = data;
		b->cap = cap;
	}
	b->data[b->len] = '\0';
	return 0;
}

int buf_reserve(struct buf *b, size_t n)
{
	return buf_reserve_max(b, n, SIZE_MAX);
}

int buf_append(struct buf *b, const void *data, size_t n)
{
	int ret;

	ret = buf_reserve(b, n);
	if (ret < 0)
		return ret;
	/* memcpy() from NULL is undefined even for 0 bytes. */
	if (n)
		memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list again;
	int n, ret;

	/* Measured first, so the text goes in place without a bounce buffer. */
	va_copy(again, ap);
	n = vsnprintf(NULL, 0, fmt, again);
	va_end(again);
	if (n < 0)
		return -EINVAL;
	ret = buf_reserve(b, (size_t)n);
	if (ret < 0)
		return ret;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return ret;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

int buf_shrink(struct buf *b)
{
	char *data;

	if (!b->data || b->cap == b->len + 1)
		return 0;
	data = realloc(b->data, b->len + 1);
	if (!data)
		return -ENOMEM;
	b->data = data;
	b->cap = b->len + 1;
	b->data[b->len] = '\0';
	return 0;
}

void buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

char *buf_steal(struct buf *b)
{
	char *s;

	if (buf_reserve(b, 0) < 0) {
		errno = ENOMEM;
		return NULL;
	}
	s = b->data;
	buf_init(b);
	return s;
}
