/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for the growable byte buffer (src/util/buf.c). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

#include "check.h"

/* The contract every call keeps once memory is allocated. */
static bool well_formed(const struct buf *b)
{
	if (!b->data)
		return !b->len && !b->cap;
	return b->cap >= b->len + 1 && b->data[b->len] == '\0';
}

static void test_append(void)
{
	struct buf b = BUF_INIT;
	char big[1000];
	size_t i;

	CHECK(buf_append(&b, NULL, 0) == 0 && well_formed(&b) && b.len == 0 && b.data,
	      "empty append allocates a terminated buffer");
	CHECK(buf_append_str(&b, "abc") == 0 && b.len == 3 && !strcmp(b.data, "abc"),
	      "append_str: \"%s\"", show(b.data, b.len));
	CHECK(buf_append(&b, "d\0e", 3) == 0 && b.len == 6 && !memcmp(b.data, "abcd\0e", 6) &&
		      well_formed(&b),
	      "NUL bytes are data: %s", show(b.data, b.len));
	memset(big, 'x', sizeof(big));
	for (i = 0; i < 100; i++)
		CHECK(buf_append(&b, big, sizeof(big)) == 0, "append %zu", i);
	CHECK(b.len == 6 + 100 * sizeof(big) && well_formed(&b), "grown to %zu", b.len);
	/* Doubling: the capacity is never more than twice what was needed. */
	CHECK(b.cap <= 2 * (b.len + 1), "cap %zu for len %zu", b.cap, b.len);
	buf_free(&b);
	CHECK(!b.data && !b.len && !b.cap, "free empties");
}

static void test_printf(void)
{
	struct buf b = BUF_INIT;

	CHECK(buf_printf(&b, "%s-%d", "a", 42) == 0 && !strcmp(b.data, "a-42"), "printf: %s",
	      show0(b.data));
	CHECK(buf_printf(&b, "%0200d", 7) == 0 && b.len == 204 && well_formed(&b) &&
		      b.data[203] == '7',
	      "printf grows: len %zu", b.len);
	buf_free(&b);
}

static void test_reserve(void)
{
	struct buf b = BUF_INIT;

	CHECK(buf_reserve_max(&b, 1000, 0) == 0 && b.cap == 1001 && well_formed(&b),
	      "max 0 is exact: cap %zu", b.cap);
	b.len = 1000;
	memset(b.data, 'y', b.len);
	CHECK(buf_reserve_max(&b, 10, 1500) == 0 && b.cap == 1500,
	      "doubling stops at max: cap %zu", b.cap);
	CHECK(buf_reserve_max(&b, 1000, 1500) == 0 && b.cap == 2001 && well_formed(&b),
	      "past max, exactly what is needed: cap %zu", b.cap);
	CHECK(buf_reserve(&b, SIZE_MAX) == -ENOMEM && b.len == 1000 && well_formed(&b),
	      "an impossible size is ENOMEM and changes nothing");
	CHECK(buf_append(&b, "z", SIZE_MAX - 1) == -ENOMEM && b.len == 1000,
	      "an impossible append is ENOMEM");
	buf_reset(&b);
	CHECK(b.len == 0 && b.cap == 2001 && well_formed(&b), "reset keeps the memory");
	CHECK(buf_append_str(&b, "short") == 0 && buf_shrink(&b) == 0 && b.cap == 6 &&
		      !strcmp(b.data, "short"),
	      "shrink: cap %zu", b.cap);
	buf_free(&b);
}

static void test_steal(void)
{
	struct buf b;
	char *s;

	buf_init(&b);
	s = buf_steal(&b);
	CHECK(s && !strcmp(s, ""), "steal of nothing is \"\"");
	free(s);
	CHECK(buf_append_str(&b, "mine") == 0, "append");
	s = buf_steal(&b);
	CHECK(s && !strcmp(s, "mine") && !b.data && !b.len && !b.cap,
	      "steal hands over and empties");
	free(s);
}

int main(void)
{
	test_append();
	test_printf();
	test_reserve();
	test_steal();
	return check_summary();
}
