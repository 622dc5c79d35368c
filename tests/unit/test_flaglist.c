/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Flag lists as sets: what an offline change adds and removes, and applying it. */
#include <stdlib.h>

#include "check.h"
#include "store/flagsets.h"

static void check_minus(const char *a, const char *b, const char *want)
{
	char *got = flaglist_minus(a, b);

	CHECK(got && strcmp(got, want) == 0, "%s minus %s: %s, want %s", a, b, got ? got : "NULL",
	      want);
	free(got);
}

static void check_apply(const char *cur, const char *add, const char *remove, const char *want)
{
	char *got = flaglist_apply(cur, add, remove);

	CHECK(got && strcmp(got, want) == 0, "%s +(%s) -(%s): %s, want %s", cur, add, remove,
	      got ? got : "NULL", want);
	free(got);
}

int main(void)
{
	check_minus("", "", "");
	check_minus("\\Seen \\Flagged", "\\Seen", "\\Flagged");
	check_minus("\\Seen", "\\Seen \\Flagged", "");
	check_minus("\\SEEN $work", "\\seen $Work", "");          /* case-insensitive */
	check_minus("  \\Seen   $Todo  ", "", "\\Seen $Todo");    /* spacing normalised */
	check_minus("\\Recent \\Seen", "", "\\Seen");              /* never \Recent */
	check_minus("$Work", "$Workload", "$Work");               /* whole names only */

	/* Another client's flags stay; only what the user changed moves. */
	check_apply("$Other", "\\Answered", "$Work", "$Other \\Answered");
	check_apply("\\Seen $Work", "", "\\Seen", "$Work");
	check_apply("\\Seen", "\\Seen", "", "\\Seen");             /* twice is once */
	check_apply("", "\\Seen \\Flagged", "", "\\Seen \\Flagged");
	check_apply("\\Flagged", "", "\\Flagged \\Seen", "");
	return check_summary();
}
