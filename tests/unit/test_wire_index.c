/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for the mailbox index by wire name (src/store/wire_index.c). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/wire_index.h"

#include "check.h"

#define MAX_NAMES 70000
static char *names[MAX_NAMES + 1]; /* names[id], id >= 1 */

static const char *key(const void *ctx, uint32_t id)
{
	(void)ctx;
	return names[id];
}

static uint32_t find(const struct wire_index *ix, const char *s)
{
	return wire_index_find(ix, s, strlen(s));
}

static void test_basics(void)
{
	struct wire_index ix;

	wire_index_init(&ix, key, NULL);
	CHECK(find(&ix, "INBOX") == 0, "empty index finds nothing");
	names[1] = "INBOX";
	names[2] = "INBOX/Sub";
	names[3] = "";
	names[4] = "INBOX"; /* the same name again: the first stays found */
	for (uint32_t id = 1; id <= 4; id++)
		CHECK(wire_index_add(&ix, id) == 0, "add %u", id);
	CHECK(wire_index_add(&ix, 0) == 0 && ix.n == 3, "id 0 and a repeated name are not added");
	CHECK(find(&ix, "INBOX") == 1, "INBOX is 1, not 4: %u", find(&ix, "INBOX"));
	CHECK(find(&ix, "INBOX/Sub") == 2, "INBOX/Sub");
	CHECK(find(&ix, "") == 3, "the empty name");
	CHECK(find(&ix, "inbox") == 0, "names are bytes: no case folding");
	/* a prefix of a longer buffer, as ensure_node asks for each level */
	CHECK(wire_index_find(&ix, "INBOX/Sub/Deeper", 5) == 1, "prefix INBOX");
	CHECK(wire_index_find(&ix, "INBOX/Sub/Deeper", 9) == 2, "prefix INBOX/Sub");
	CHECK(wire_index_find(&ix, "INBOX/Sub/Deeper", 10) == 0, "prefix INBOX/Sub/");
	/* an asked name holding NUL matches nothing and reads nothing past its length */
	CHECK(wire_index_find(&ix, "INBOX\0/Sub", 10) == 0, "NUL inside the asked name");

	/* a RENAME: names change under the index, which is rebuilt */
	names[1] = "Archive";
	names[2] = "Archive/Sub";
	wire_index_clear(&ix);
	for (uint32_t id = 1; id <= 4; id++)
		wire_index_add(&ix, id);
	CHECK(find(&ix, "Archive/Sub") == 2, "renamed child found under its new name");
	CHECK(find(&ix, "INBOX") == 4, "the other INBOX is found now: %u", find(&ix, "INBOX"));
	CHECK(find(&ix, "INBOX/Sub") == 0, "the old name is gone");
	wire_index_free(&ix);
	CHECK(find(&ix, "INBOX") == 0, "a freed index finds nothing");
}

static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* As many mailboxes as a hostile LIST may name: linear, not quadratic. */
static void test_many(void)
{
	struct wire_index ix;
	bool all = true;
	double t0;
	char buf[64];

	for (uint32_t id = 1; id <= MAX_NAMES; id++) {
		snprintf(buf, sizeof(buf), "Folder/%u/x", id);
		names[id] = strdup(buf);
	}
	wire_index_init(&ix, key, NULL);
	t0 = seconds();
	for (uint32_t id = 1; id <= MAX_NAMES; id++)
		all = wire_index_add(&ix, id) == 0 && all;
	for (uint32_t id = 1; id <= MAX_NAMES; id++) {
		snprintf(buf, sizeof(buf), "Folder/%u/x", id);
		all = find(&ix, buf) == id && all;
	}
	CHECK(all && ix.n == MAX_NAMES, "every one of %d names is found as itself", MAX_NAMES);
	CHECK(seconds() - t0 < 1.0, "%d adds and finds took %.2f s", MAX_NAMES, seconds() - t0);
	CHECK(find(&ix, "Folder/0/x") == 0 && find(&ix, "Folder/1/") == 0, "near misses");
	wire_index_free(&ix);
	for (uint32_t id = 1; id <= MAX_NAMES; id++)
		free(names[id]);
}

int main(void)
{
	test_basics();
	test_many();
	return check_summary();
}
