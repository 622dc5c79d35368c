/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>

#include "check.h"
#include "imap/codes.h"

static int err_of(enum imap_status status, const char *code, const char *text)
{
	struct imap_response r = { .status = status, .code = code, .text = text };

	return imap_completion_errno(&r);
}

static bool throttled(enum imap_status status, const char *code, const char *text)
{
	struct imap_response r = { .status = status, .code = code, .text = text };

	return imap_completion_throttled(&r);
}

int main(void)
{
	CHECK(err_of(IMAP_STATUS_OK, NULL, "done") == 0, "OK");
	CHECK(err_of(IMAP_STATUS_NO, NULL, "no") == -EIO, "NO without a code");
	CHECK(err_of(IMAP_STATUS_BAD, NULL, "what") == -EINVAL, "BAD");
	CHECK(err_of(IMAP_STATUS_NO, "NONEXISTENT", "x") == -ENOENT, "NONEXISTENT");
	CHECK(err_of(IMAP_STATUS_NO, "TRYCREATE", "Mailbox doesn't exist: B") == -ENOENT,
	      "TRYCREATE: deleted meanwhile");
	CHECK(err_of(IMAP_STATUS_NO, "overquota", "x") == -EDQUOT, "codes are case-insensitive");
	CHECK(err_of(IMAP_STATUS_NO, "CANNOT", "Mailbox name too long") == -ENAMETOOLONG,
	      "CANNOT, name too long");
	CHECK(err_of(IMAP_STATUS_NO, "CANNOT", "Invalid mailbox name") == -EPERM, "CANNOT");
	CHECK(err_of(IMAP_STATUS_NO, "ALREADYEXISTS", "x") == -EEXIST, "ALREADYEXISTS");
	CHECK(err_of(IMAP_STATUS_NO, "LIMIT", "Too many mailboxes") == -ENOSPC, "LIMIT");
	/* refusals that say "not now" (issue 15: the big providers' throttling) */
	CHECK(throttled(IMAP_STATUS_NO, "UNAVAILABLE", "Server Unavailable. 15"),
	      "Exchange: [UNAVAILABLE]");
	CHECK(throttled(IMAP_STATUS_NO, NULL, "Server Unavailable. 15"),
	      "Exchange: Server Unavailable without a code");
	CHECK(throttled(IMAP_STATUS_NO, NULL, "User is authenticated but not connected."),
	      "Exchange: authenticated but not connected");
	CHECK(throttled(IMAP_STATUS_NO, "UNAVAILABLE", "UID FETCH Server error while fetching messages"),
	      "Yahoo: server error");
	CHECK(throttled(IMAP_STATUS_NO, "limit", "UID FETCH Rate limit hit."), "Yahoo: rate limit");
	CHECK(err_of(IMAP_STATUS_NO, "LIMIT", "UID FETCH Rate limit hit.") == -EAGAIN,
	      "a rate limit is EAGAIN, not ENOSPC");
	CHECK(err_of(IMAP_STATUS_NO, NULL, "Server Unavailable. 15") == -EAGAIN,
	      "Exchange's busy refusal is EAGAIN");
	CHECK(err_of(IMAP_STATUS_NO, "UNAVAILABLE", "x") == -EAGAIN, "UNAVAILABLE");
	CHECK(!throttled(IMAP_STATUS_NO, "ALERT",
			 "Account exceeded command or bandwidth limits. (Failure)"),
	      "Gmail's daily download limit is no pause");
	CHECK(!throttled(IMAP_STATUS_NO, "LIMIT", "Too many mailboxes"), "a hard LIMIT");
	CHECK(!throttled(IMAP_STATUS_NO, "NONEXISTENT", "Server Unavailable"),
	      "a code that says otherwise wins over the words");
	CHECK(!throttled(IMAP_STATUS_OK, NULL, "Success [THROTTLED]"), "OK is no refusal");
	CHECK(!throttled(IMAP_STATUS_BAD, "UNAVAILABLE", "x"), "BAD is no pause");
	CHECK(!throttled(IMAP_STATUS_NO, NULL, NULL), "no text");
	return check_summary();
}
