/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>

#include "check.h"
#include "imap/codes.h"

static int err_of(enum imap_status status, const char *code, const char *text)
{
	struct imap_response r = { .status = status, .code = code, .text = text };

	return imap_completion_errno(&r);
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
	return check_summary();
}
