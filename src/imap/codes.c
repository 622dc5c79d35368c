/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "imap/codes.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *code;
	int err;
} code_errno[] = {
	{ "NONEXISTENT", ENOENT },
	/* RFC 3501: APPEND or COPY into a mailbox that is not there (deleted meanwhile) */
	{ "TRYCREATE", ENOENT },
	{ "EXPUNGEISSUED", ENOENT },
	{ "ALREADYEXISTS", EEXIST },
	{ "NOPERM", EACCES },
	{ "AUTHORIZATIONFAILED", EACCES },
	{ "AUTHENTICATIONFAILED", EACCES },
	{ "PRIVACYREQUIRED", EACCES },
	{ "EXPIRED", EACCES },
	{ "CONTACTADMIN", EACCES },
	{ "OVERQUOTA", EDQUOT },
	{ "TOOBIG", EFBIG },
	{ "INUSE", EBUSY },
	{ "LIMIT", ENOSPC },
	{ "CANNOT", EPERM },
	{ "READ-ONLY", EROFS },
	{ "UNAVAILABLE", EAGAIN },
	{ "CLIENTBUG", EINVAL },
	{ "BADCHARSET", EINVAL },
	{ "UNKNOWN-CTE", EILSEQ },
	{ "PARSE", EILSEQ },
	{ "CORRUPTION", EIO },
	{ "SERVERBUG", EIO },
};

/* Exchange's refusals while it throttles carry no code, only these words. */
static const char *const busy_texts[] = {
	"Server Unavailable",
	"User is authenticated but not connected",
};

bool imap_completion_throttled(const struct imap_response *r)
{
	const char *text = r->text ? r->text : "";

	if (r->status != IMAP_STATUS_NO)
		return false;
	if (r->code && strcasecmp(r->code, "UNAVAILABLE") == 0)
		return true;
	/* LIMIT is a hard limit (too many mailboxes...) unless it is a rate. */
	if (r->code && strcasecmp(r->code, "LIMIT") == 0)
		return strcasestr(text, "rate limit") != NULL;
	if (r->code)
		return false;
	for (size_t i = 0; i < sizeof(busy_texts) / sizeof(busy_texts[0]); i++)
		if (strcasestr(text, busy_texts[i]))
			return true;
	return false;
}

int imap_completion_errno(const struct imap_response *r)
{
	switch (r->status) {
	case IMAP_STATUS_OK:
	case IMAP_STATUS_PREAUTH:
		return 0;
	case IMAP_STATUS_BAD:
		return -EINVAL;
	case IMAP_STATUS_NO:
		break;
	default:
		return -EIO;
	}
	/* "Try again later" is no "no space left", nor any other lasting refusal. */
	if (imap_completion_throttled(r))
		return -EAGAIN;
	/* Dovecot: "[CANNOT] Mailbox name too long" */
	if (r->code && strcasecmp(r->code, "CANNOT") == 0 && r->text &&
	    strcasestr(r->text, "too long"))
		return -ENAMETOOLONG;
	if (r->code) {
		for (size_t i = 0; i < sizeof(code_errno) / sizeof(code_errno[0]); i++)
			if (strcasecmp(r->code, code_errno[i].code) == 0)
				return -code_errno[i].err;
	}
	return -EIO;
}
