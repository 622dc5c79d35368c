/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * IMAP command builder. The only place strings become IMAP syntax: every
 * argument goes out as the most restrictive form that can carry it (atom,
 * quoted string, literal), so no byte of it can end the argument early.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/command.h"
#include "imap/mutf7.h"

/* The union in struct imap_cmd relies on this. */
_Static_assert(offsetof(struct imap_cmd, buf) == offsetof(struct imap_cmd, out.data) &&
	       offsetof(struct imap_cmd, len) == offsetof(struct imap_cmd, out.len) &&
	       offsetof(struct imap_cmd, cap) == offsetof(struct imap_cmd, out.cap),
	       "struct imap_cmd: buf, len, cap must alias out");

void imap_cmd_init(struct imap_cmd *c, bool literal_plus)
{
	memset(c, 0, sizeof(*c));
	buf_init(&c->out);
	c->literal_plus = literal_plus;
}

void imap_cmd_free(struct imap_cmd *c)
{
	buf_free(&c->out);
	c->nsync = 0;
}

/* Only the first error is kept: it is the one that explains the rest. */
static void set_err(struct imap_cmd *c, int err)
{
	if (!c->err)
		c->err = err;
}

/* After an error nothing more is added, so the text never has a hole. */
static void append(struct imap_cmd *c, const char *data, size_t n)
{
	int ret;

	if (c->err)
		return;
	ret = buf_append(&c->out, data, n);
	if (ret < 0)
		set_err(c, ret);
}

void imap_cmd_raw(struct imap_cmd *c, const char *text)
{
	append(c, text, strlen(text));
}

void imap_cmd_rawf(struct imap_cmd *c, const char *fmt, ...)
{
	va_list ap;
	int ret;

	if (c->err)
		return;
	va_start(ap, fmt);
	ret = buf_vprintf(&c->out, fmt, ap);
	va_end(ap);
	if (ret < 0)
		set_err(c, ret);
}

void imap_cmd_sp(struct imap_cmd *c)
{
	if (c->out.len)
		append(c, " ", 1);
}

/*
 * ATOM-CHAR (RFC 3501 §9): any CHAR except atom-specials. ']' is allowed in
 * an astring, but some servers' parsers stumble on it, and quoting costs
 * nothing.
 */
static bool is_atom_char(unsigned char ch)
{
	if (ch <= 0x20 || ch >= 0x7f)
		return false;
	return !strchr("(){%*\"\\]", ch);
}

static bool is_atom(const char *s, size_t len)
{
	size_t i;

	if (!len)
		return false;
	for (i = 0; i < len; i++)
		if (!is_atom_char((unsigned char)s[i]))
			return false;
	return true;
}

/* TEXT-CHAR: a CHAR (7-bit, not NUL) other than CR and LF. */
static bool is_quotable(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!ch || ch >= 0x80 || ch == '\r' || ch == '\n')
			return false;
	}
	return true;
}

static void append_quoted(struct imap_cmd *c, const char *s, size_t len)
{
	size_t i, start = 0;

	append(c, "\"", 1);
	for (i = 0; i < len; i++) {
		if (s[i] != '"' && s[i] != '\\')
			continue;
		append(c, s + start, i - start);
		append(c, "\\", 1);
		/* the special itself goes out with the next run */
		start = i;
	}
	append(c, s + start, len - start);
	append(c, "\"", 1);
}

void imap_cmd_literal(struct imap_cmd *c, const char *s, size_t len)
{
	if (c->err)
		return;
	if (c->literal_plus) {
		imap_cmd_rawf(c, "{%zu+}\r\n", len);
	} else {
		if (c->nsync >= IMAP_CMD_MAX_SYNC) {
			set_err(c, -E2BIG);
			return;
		}
		imap_cmd_rawf(c, "{%zu}\r\n", len);
		if (c->err)
			return;
		c->sync[c->nsync++] = c->out.len;
	}
	append(c, s, len);
}

void imap_cmd_string(struct imap_cmd *c, const char *s, size_t len)
{
	if (is_quotable(s, len))
		append_quoted(c, s, len);
	else
		imap_cmd_literal(c, s, len);
}

void imap_cmd_astring(struct imap_cmd *c, const char *s, size_t len)
{
	if (is_atom(s, len))
		append(c, s, len);
	else
		imap_cmd_string(c, s, len);
}

/*
 * RFC 3501 §5.1: INBOX is case-insensitive, but only INBOX itself, so it is
 * sent in the one spelling no server can get wrong. Compared by hand because
 * strcasecmp() follows the locale, and a Turkish one folds 'i' differently.
 */
static bool is_inbox(const char *s)
{
	static const char inbox[] = "INBOX";
	size_t i;

	for (i = 0; i < sizeof(inbox) - 1; i++)
		if (((unsigned char)s[i] & 0xdf) != inbox[i])
			return false;
	return s[i] == '\0';
}

void imap_cmd_mailbox(struct imap_cmd *c, const char *utf8)
{
	char *name;

	if (c->err)
		return;
	if (!utf8) {
		set_err(c, -EINVAL);
		return;
	}
	if (is_inbox(utf8)) {
		imap_cmd_raw(c, "INBOX");
		return;
	}
	name = utf8_to_mutf7(utf8, strlen(utf8));
	if (!name) {
		set_err(c, errno == ENOMEM ? -ENOMEM : -EINVAL);
		return;
	}
	imap_cmd_astring(c, name, strlen(name));
	free(name);
}

void imap_cmd_uid_set(struct imap_cmd *c, const uint32_t *uids, size_t n)
{
	size_t i, next;

	if (c->err)
		return;
	/* Check everything first so a bad set leaves no half-written output. */
	if (!n)
		goto einval;
	for (i = 0; i < n; i++)
		if (!uids[i] || (i && uids[i] < uids[i - 1]))
			goto einval;

	for (i = 0; i < n; i = next) {
		uint32_t first = uids[i], last = first;

		for (next = i + 1; next < n && uids[next] - last <= 1; next++)
			last = uids[next];
		if (i)
			append(c, ",", 1);
		if (last == first)
			imap_cmd_rawf(c, "%" PRIu32, first);
		else
			imap_cmd_rawf(c, "%" PRIu32 ":%" PRIu32, first, last);
	}
	return;

einval:
	set_err(c, -EINVAL);
}
