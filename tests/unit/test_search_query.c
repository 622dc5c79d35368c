/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>

#include "check.h"
#include "imap/search_query.h"

/* The keys a query becomes with flags, or "EINVAL: reason". */
static char *keys_with(const char *query, unsigned flags)
{
	static char out[512];
	struct imap_cmd c;
	char err[200];
	int r;

	imap_cmd_init(&c, true);
	r = imap_search_query(&c, query, flags, err, sizeof(err));
	if (r == -EINVAL)
		snprintf(out, sizeof(out), "EINVAL: %s", err);
	else if (r < 0)
		snprintf(out, sizeof(out), "error %d", r);
	else
		snprintf(out, sizeof(out), "%s", c.buf);
	imap_cmd_free(&c);
	return out;
}

static char *keys(const char *query)
{
	return keys_with(query, 0);
}

static bool refused(const char *query)
{
	return strncmp(keys(query), "EINVAL: ", 8) == 0 && strlen(keys(query)) > 8;
}

int main(void)
{
	CHECK_STR(keys("invoice"), "TEXT \"invoice\"");
	CHECK_STR(keys("invoice march"), "TEXT \"invoice\" TEXT \"march\"");
	CHECK_STR(keys("\"quarterly report\""), "TEXT \"quarterly report\"");
	CHECK_STR(keys("from:alice subject:\"the plan\""),
		  "FROM \"alice\" SUBJECT \"the plan\"");
	CHECK_STR(keys("to:a cc:b bcc:c body:d"), "TO \"a\" CC \"b\" BCC \"c\" BODY \"d\"");
	CHECK_STR(keys("header:X-Mailer:mutt"), "HEADER \"X-Mailer\" \"mutt\"");
	CHECK_STR(keys("header:List-Id"), "HEADER \"List-Id\" \"\"");
	CHECK_STR(keys("since:2024-03-01 before:2024-12-31 on:2024-06-09"),
		  "SINCE 1-Mar-2024 BEFORE 31-Dec-2024 ON 9-Jun-2024");
	CHECK_STR(keys("larger:10K smaller:2M"), "LARGER 10240 SMALLER 2097152");
	CHECK_STR(keys("is:unseen is:flagged"), "UNSEEN FLAGGED");
	CHECK_STR(keys("keyword:$Label1"), "KEYWORD $Label1");
	CHECK_STR(keys("-from:bob"), "NOT FROM \"bob\"");
	CHECK_STR(keys("a or b"), "OR TEXT \"a\" TEXT \"b\"");
	CHECK_STR(keys("a or b or -c d"), "OR TEXT \"a\" OR TEXT \"b\" NOT TEXT \"c\" TEXT \"d\"");
	CHECK_STR(keys("from:x imap:UID 1:5 NOT DELETED"), "FROM \"x\" (UID 1:5 NOT DELETED)");
	CHECK_STR(keys("a%2Fb"), "TEXT \"a/b\"");
	CHECK_STR(keys("100%"), "TEXT \"100%\"");
	CHECK_STR(keys("12:30"), "TEXT \"12:30\"");
	CHECK_THAT(strncmp(keys("Grüße"), "TEXT {7+}\r\nGrüße", 18) == 0);
	CHECK_THAT(imap_search_query_utf8("Grüße"));
	CHECK_THAT(!imap_search_query_utf8("plain"));
	CHECK_THAT(imap_search_query_utf8("caf%C3%A9")); /* an escaped UTF-8 byte is one */
	CHECK_THAT(!imap_search_query_utf8("a%2Fb"));

	CHECK_THAT(refused(""));
	CHECK_THAT(refused("   "));
	CHECK_THAT(refused("\"open"));
	CHECK_THAT(refused("or a"));
	CHECK_THAT(refused("a or"));
	CHECK_THAT(refused("a or or b"));
	CHECK_THAT(refused("since:2024-13-01"));
	CHECK_THAT(refused("since:yesterday"));
	CHECK_THAT(refused("larger:lots"));
	CHECK_THAT(refused("larger:5G"));
	CHECK_THAT(refused("is:important"));
	CHECK_THAT(refused("keyword:a(b"));
	CHECK_THAT(refused("colour:red"));
	CHECK_THAT(refused("from:"));
	/* gmail: only where the server offers it; the rest of the query is Gmail's */
	CHECK_STR(keys_with("gmail:has:attachment in:inbox", IMAP_SEARCH_GMAIL),
		  "X-GM-RAW \"has:attachment in:inbox\"");
	CHECK_STR(keys_with("from:x gmail:older_than:1y", IMAP_SEARCH_GMAIL),
		  "FROM \"x\" X-GM-RAW \"older_than:1y\"");
	CHECK_STR(keys_with("-gmail:label:work", IMAP_SEARCH_GMAIL), "NOT X-GM-RAW \"label:work\"");
	CHECK_THAT(refused("gmail:has:attachment"));
	CHECK_THAT(strstr(keys("gmail:x"), "X-GM-EXT-1") != NULL);
	CHECK_STR(keys_with("gmail:", IMAP_SEARCH_GMAIL), "EINVAL: gmail: needs a Gmail query after it");
	CHECK_THAT(refused("imap:"));
	CHECK_THAT(refused("imap:TEXT \"x"));
	CHECK_THAT(refused("imap:(TEXT x"));
	CHECK_THAT(refused("imap:TEXT {3}"));
	CHECK_THAT(refused("imap:TEXT x%0D%0AA1 LOGOUT"));
	CHECK_THAT(refused("header::x"));
	return check_summary();
}
