/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A mailbox's extended attributes: rights, ACL, subscription, use, quota (see mailbox_xattr.h). */
#include "fs/mailbox_xattr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/xattr.h>


#define ACL_PREFIX "user.imap.acl."

/* The rights of identifier in an ACL's text ("id rights" lines), or NULL. */
static char *rights_in(const char *acl, const char *identifier)
{
	size_t len = strlen(identifier);

	for (const char *line = acl; line && *line;) {
		const char *end = strchr(line, '\n');

		if (!end)
			end = line + strlen(line);
		if ((size_t)(end - line) > len && strncmp(line, identifier, len) == 0 &&
		    line[len] == ' ')
			return strndup(line + len + 1, (size_t)(end - line - len - 1));
		line = *end ? end + 1 : end;
	}
	return NULL;
}

/* What a refusal of ours means to the caller; 0 or -errno as is otherwise. */
static int nodata_if_unknown(int r)
{
	return r == -ENOTSUP ? -ENODATA : r;
}

int mailbox_xattr_get(struct fs *fs, uint32_t id, const char *name, char **out)
{
	char rights[STORE_RIGHTS_MAX];
	char *acl = NULL;
	bool yes;
	int r;

	if (strcmp(name, "user.imap.myrights") == 0) {
		r = store_rights(fs->st, id, rights);
		if (r < 0)
			return nodata_if_unknown(r);
		*out = strdup(rights);
		return *out ? 0 : -ENOMEM;
	}
	if (strcmp(name, "user.imap.acl") == 0) {
		r = store_acl(fs->st, id, out);
		return nodata_if_unknown(r);
	}
	if (strncmp(name, ACL_PREFIX, strlen(ACL_PREFIX)) == 0) {
		r = store_acl(fs->st, id, &acl);
		if (r < 0)
			return nodata_if_unknown(r);
		*out = rights_in(acl, name + strlen(ACL_PREFIX));
		free(acl);
		return *out ? 0 : -ENODATA;
	}
	if (strcmp(name, "user.imap.subscribed") == 0) {
		r = store_subscribed(fs->st, id, &yes);
		if (r < 0)
			return nodata_if_unknown(r);
		*out = strdup(yes ? "yes" : "no");
		return *out ? 0 : -ENOMEM;
	}
	if (strcmp(name, "user.imap.special_use") == 0) {
		*out = store_special_use(fs->st, id);
		return *out ? 0 : -ENODATA;
	}
	if (strcmp(name, "user.imap.quota") == 0)
		return nodata_if_unknown(store_mailbox_quota(fs->st, id, out));
	return -ENOTSUP;
}

int mailbox_xattr_list(struct fs *fs, uint32_t id, struct buf *list)
{
	static const char *const names[] = { "user.imap.myrights", "user.imap.acl",
					     "user.imap.subscribed", "user.imap.special_use",
					     "user.imap.quota", NULL };
	char *acl = NULL;

	for (size_t i = 0; names[i]; i++) {
		char *v = NULL;

		/* Only what getxattr would answer: getfattr -d must not meet ENODATA. */
		if (mailbox_xattr_get(fs, id, names[i], &v) < 0)
			continue;
		free(v);
		if (buf_append(list, names[i], strlen(names[i]) + 1) < 0)
			return -ENOMEM;
	}
	/* One attribute an identifier, so getfattr -d shows who may do what. */
	if (store_acl(fs->st, id, &acl) == 0) {
		for (const char *line = acl; *line;) {
			const char *sp = strchr(line, ' ');
			const char *end = strchr(line, '\n');

			if (!end)
				end = line + strlen(line);
			/* Within what listxattr may answer (64 KiB), the rest left out. */
			if (sp && sp < end && list->len + strlen(ACL_PREFIX) + (size_t)(sp - line) < 60000 &&
			    (buf_append_str(list, ACL_PREFIX) < 0 ||
			     buf_append(list, line, (size_t)(sp - line)) < 0 ||
			     buf_append(list, "", 1) < 0)) {
				free(acl);
				return -ENOMEM;
			}
			line = *end ? end + 1 : end;
		}
		free(acl);
	}
	return 0;
}

/* RFC 6154's attributes, one or more, separated by single spaces. */
static bool special_use_valid(const char *value, size_t size)
{
	static const char *const uses[] = { "\\All",  "\\Archive", "\\Drafts", "\\Flagged",
					     "\\Junk", "\\Sent",    "\\Trash" };
	size_t pos = 0;

	if (size == 0)
		return false;
	while (pos < size) {
		size_t len = 0;
		bool known = false;

		while (pos + len < size && value[pos + len] != ' ')
			len++;
		for (size_t i = 0; i < sizeof(uses) / sizeof(uses[0]); i++)
			if (strlen(uses[i]) == len && strncasecmp(value + pos, uses[i], len) == 0)
				known = true;
		if (!known)
			return false;
		pos += len;
		if (pos < size && ++pos == size)
			return false; /* a trailing space */
	}
	return true;
}

int mailbox_xattr_set(struct fs *fs, uint32_t id, const char *name, const char *value,
		      size_t size, int flags)
{
	char *text;
	int r;

	if (strncmp(name, ACL_PREFIX, strlen(ACL_PREFIX)) == 0) {
		const char *identifier = name + strlen(ACL_PREFIX);

		if (!*identifier || size == 0 || size >= STORE_RIGHTS_MAX ||
		    memchr(value, '\0', size) || (flags & XATTR_CREATE) || (flags & XATTR_REPLACE))
			return -EINVAL;
		text = strndup(value, size);
		if (!text)
			return -ENOMEM;
		r = store_set_acl(fs->st, id, identifier, text);
		free(text);
		return r;
	}
	if (strcmp(name, "user.imap.subscribed") == 0) {
		bool on;

		if (size == 3 && memcmp(value, "yes", 3) == 0)
			on = true;
		else if (size == 2 && memcmp(value, "no", 2) == 0)
			on = false;
		else
			return -EINVAL;
		return store_subscribe(fs->st, id, on);
	}
	if (strcmp(name, "user.imap.special_use") == 0) {
		if (!special_use_valid(value, size))
			return -EINVAL;
		text = strndup(value, size);
		if (!text)
			return -ENOMEM;
		r = store_set_special_use(fs->st, id, text);
		free(text);
		return r;
	}
	if (strcmp(name, "user.imap.myrights") == 0 || strcmp(name, "user.imap.acl") == 0 ||
	    strcmp(name, "user.imap.quota") == 0)
		return -EPERM;
	return -ENOTSUP;
}

int mailbox_xattr_remove(struct fs *fs, uint32_t id, const char *name)
{
	if (strncmp(name, ACL_PREFIX, strlen(ACL_PREFIX)) == 0) {
		const char *identifier = name + strlen(ACL_PREFIX);
		char *acl = NULL, *had;
		int r;

		if (!*identifier)
			return -EINVAL;
		r = store_acl(fs->st, id, &acl);
		if (r < 0)
			return nodata_if_unknown(r);
		had = rights_in(acl, identifier);
		free(acl);
		if (!had)
			return -ENODATA;
		free(had);
		return store_set_acl(fs->st, id, identifier, NULL);
	}
	if (strcmp(name, "user.imap.subscribed") == 0)
		return store_subscribe(fs->st, id, false);
	if (strcmp(name, "user.imap.special_use") == 0)
		return store_set_special_use(fs->st, id, "");
	if (strcmp(name, "user.imap.myrights") == 0 || strcmp(name, "user.imap.acl") == 0 ||
	    strcmp(name, "user.imap.quota") == 0)
		return -EPERM;
	return -ENOTSUP;
}
