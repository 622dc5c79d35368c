/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "store/name_map.h"

int main(void)
{
	struct name_map m = { 0 };
	char name[32];

	CHECK(name_map_name(&m, 1) == NULL && name_map_uid(&m, "a.eml") == 0, "empty");
	CHECK(name_map_set(&m, 5, "a.eml", 0644) == 0, "set");
	CHECK(strcmp(name_map_name(&m, 5), "a.eml") == 0 && name_map_uid(&m, "a.eml") == 5, "both ways");
	CHECK(name_map_mode(&m, 5) == 0644 && name_map_mode(&m, 6) == 0, "mode");
	/* a name given to another UID leaves the first */
	name_map_set(&m, 6, "a.eml", 0644);
	CHECK(name_map_name(&m, 5) == NULL && name_map_uid(&m, "a.eml") == 6, "name moved");
	/* a UID renamed */
	name_map_set(&m, 6, "b.eml", 0644);
	CHECK(name_map_uid(&m, "a.eml") == 0 && name_map_uid(&m, "b.eml") == 6, "renamed");
	name_map_set(&m, 6, NULL, 0644);
	CHECK(name_map_name(&m, 6) == NULL && m.n == 0, "removed");
	/* many, with removals in between: every one still found both ways */
	for (uint32_t u = 1; u <= 5000; u++) {
		snprintf(name, sizeof(name), "m%u.eml", u);
		name_map_set(&m, u, name, 0644);
	}
	for (uint32_t u = 1; u <= 5000; u += 3)
		name_map_set(&m, u, NULL, 0644);
	{
		unsigned bad = 0;

		for (uint32_t u = 1; u <= 5000; u++) {
			const char *n = name_map_name(&m, u);

			snprintf(name, sizeof(name), "m%u.eml", u);
			if (u % 3 == 1 ? n != NULL : (!n || strcmp(n, name) || name_map_uid(&m, name) != u))
				bad++;
		}
		CHECK(bad == 0, "%u of 5000 wrong after removals", bad);
		CHECK(m.n == 5000 - 1667, "count %zu", m.n);
	}
	name_map_clear(&m);
	CHECK(m.n == 0 && m.cap == 0, "cleared");
	/*
	 * Random sets and removals over few UIDs and names (so names move
	 * between UIDs and runs in the tables collide), against a plain table.
	 */
	{
		enum { UIDS = 300, NAMES = 200 };
		int ref[UIDS + 1]; /* uid -> name number, -1 none */
		unsigned seed = 12345, bad = 0;

		for (int u = 0; u <= UIDS; u++)
			ref[u] = -1;
		for (int step = 0; step < 50000; step++) {
			uint32_t uid;
			int k;

			seed = seed * 1103515245u + 12345u;
			uid = 1 + (seed >> 8) % UIDS;
			k = (int)((seed >> 20) % (NAMES + 40)) - 40; /* some removals */
			if (k < 0) {
				name_map_set(&m, uid, NULL, 0);
				ref[uid] = -1;
				continue;
			}
			snprintf(name, sizeof(name), "n%d.eml", k);
			name_map_set(&m, uid, name, 0600);
			for (int u = 1; u <= UIDS; u++)
				if (ref[u] == k)
					ref[u] = -1;
			ref[uid] = k;
		}
		for (uint32_t u = 1; u <= UIDS; u++) {
			const char *n = name_map_name(&m, u);

			snprintf(name, sizeof(name), "n%d.eml", ref[u]);
			if (ref[u] < 0 ? n != NULL : (!n || strcmp(n, name) || name_map_uid(&m, name) != u))
				bad++;
		}
		CHECK(bad == 0, "%u of %d UIDs differ from the reference", bad, UIDS);
		name_map_clear(&m);
	}
	return check_summary();
}
