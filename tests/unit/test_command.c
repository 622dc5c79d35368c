/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for the IMAP command builder (src/imap/command.c). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/command.h"

#include "check.h"

/* want is compared with its length given, so it may hold NUL. */
static void expect_len(int line, const struct imap_cmd *c, const char *want, size_t want_len)
{
	bool ok = !c->err && c->len == want_len && c->buf &&
		  !memcmp(c->buf, want, want_len) && c->buf[c->len] == '\0';

	check(ok, line, "got \"%s\" (err %d), want \"%s\"",
	      show(c->buf, c->len), c->err, show(want, want_len));
}

#define EXPECT(c, want) expect_len(__LINE__, (c), (want), sizeof(want) - 1)

/* Formats s (len bytes) with fn on a fresh builder and compares. */
static void one(int line, void (*fn)(struct imap_cmd *, const char *, size_t),
		bool literal_plus, const char *s, size_t len,
		const char *want, size_t want_len)
{
	struct imap_cmd c;

	imap_cmd_init(&c, literal_plus);
	fn(&c, s, len);
	expect_len(line, &c, want, want_len);
	imap_cmd_free(&c);
}

#define ASTRING(s, want) one(__LINE__, imap_cmd_astring, false, (s), sizeof(s) - 1, (want), sizeof(want) - 1)
#define STRING(s, want) one(__LINE__, imap_cmd_string, false, (s), sizeof(s) - 1, (want), sizeof(want) - 1)

static void test_atom_quoted_literal(void)
{
	/* atoms */
	ASTRING("INBOX", "INBOX");
	ASTRING("foo.bar", "foo.bar");
	ASTRING("Entw&APw-rfe", "Entw&APw-rfe");
	ASTRING("a+b,c-d_e~f!#$&'.:;<=>?@[^`|}", "a+b,c-d_e~f!#$&'.:;<=>?@[^`|}");
	ASTRING("12345", "12345");

	/* each atom-special forces quoting */
	ASTRING("", "\"\"");
	ASTRING("a b", "\"a b\"");
	ASTRING("a(b", "\"a(b\"");
	ASTRING("a)b", "\"a)b\"");
	ASTRING("a{b", "\"a{b\"");
	ASTRING("a%b", "\"a%b\"");
	ASTRING("*", "\"*\"");
	ASTRING("a]b", "\"a]b\"");
	ASTRING("[Gmail]/Sent Mail", "\"[Gmail]/Sent Mail\"");
	ASTRING("a\tb", "\"a\tb\"");
	ASTRING("a\x01" "b", "\"a\x01" "b\"");
	ASTRING("a\x7f" "b", "\"a\x7f" "b\"");
	ASTRING(" ", "\" \"");

	/* escaping inside quotes */
	ASTRING("a\"b", "\"a\\\"b\"");
	ASTRING("a\\b", "\"a\\\\b\"");
	ASTRING("\"", "\"\\\"\"");
	ASTRING("\\", "\"\\\\\"");
	ASTRING("\\\"\\\"", "\"\\\\\\\"\\\\\\\"\"");
	ASTRING("pass\\word\"", "\"pass\\\\word\\\"\"");

	/* what a quoted string cannot carry */
	ASTRING("a\r\nb", "{4}\r\na\r\nb");
	ASTRING("a\rb", "{3}\r\na\rb");
	ASTRING("a\nb", "{3}\r\na\nb");
	ASTRING("a\0b", "{3}\r\na\0b");
	ASTRING("\0", "{1}\r\n\0");
	ASTRING("caf\xc3\xa9", "{5}\r\ncaf\xc3\xa9");
	ASTRING("\xff", "{1}\r\n\xff");
	ASTRING("\"\\\r", "{3}\r\n\"\\\r");

	/* string: never an atom */
	STRING("INBOX", "\"INBOX\"");
	STRING("", "\"\"");
	STRING("a\"b", "\"a\\\"b\"");
	STRING("x\ny", "{3}\r\nx\ny");

	/* LITERAL+ */
	one(__LINE__, imap_cmd_astring, true, "a\r\nb", 4, "{4+}\r\na\r\nb", 10);
	one(__LINE__, imap_cmd_literal, true, "", 0, "{0+}\r\n", 6);
	one(__LINE__, imap_cmd_literal, false, "", 0, "{0}\r\n", 5);
	one(__LINE__, imap_cmd_literal, false, "abc", 3, "{3}\r\nabc", 8);
	one(__LINE__, imap_cmd_literal, true, "INBOX", 5, "{5+}\r\nINBOX", 11);
}

static void test_sync_offsets(void)
{
	struct imap_cmd c;
	unsigned i;

	imap_cmd_init(&c, false);
	imap_cmd_raw(&c, "LOGIN");
	imap_cmd_sp(&c);
	imap_cmd_astring(&c, "us\xc3\xa9r", 5);
	imap_cmd_sp(&c);
	imap_cmd_astring(&c, "p\r\nw", 4);
	EXPECT(&c, "LOGIN {5}\r\nus\xc3\xa9r {4}\r\np\r\nw");
	CHECK(c.nsync == 2, "nsync %u, want 2", c.nsync);
	CHECK(c.sync[0] == 11, "sync[0] %zu, want 11", c.sync[0]);
	CHECK(c.sync[1] == 22, "sync[1] %zu, want 22", c.sync[1]);
	/* each offset is right after a "}\r\n" */
	for (i = 0; i < c.nsync; i++)
		CHECK(c.sync[i] >= 3 && !memcmp(c.buf + c.sync[i] - 3, "}\r\n", 3),
		      "sync[%u] = %zu not after }CRLF", i, c.sync[i]);
	imap_cmd_free(&c);

	/* LITERAL+: nothing to wait for */
	imap_cmd_init(&c, true);
	imap_cmd_raw(&c, "LOGIN");
	imap_cmd_sp(&c);
	imap_cmd_astring(&c, "us\xc3\xa9r", 5);
	imap_cmd_sp(&c);
	imap_cmd_astring(&c, "p\r\nw", 4);
	EXPECT(&c, "LOGIN {5+}\r\nus\xc3\xa9r {4+}\r\np\r\nw");
	CHECK(c.nsync == 0, "nsync %u with LITERAL+, want 0", c.nsync);
	imap_cmd_free(&c);

	/* quoted strings and atoms record nothing */
	imap_cmd_init(&c, false);
	imap_cmd_astring(&c, "a b", 3);
	imap_cmd_astring(&c, "ab", 2);
	CHECK(c.nsync == 0, "nsync %u for non-literals", c.nsync);
	imap_cmd_free(&c);

	/* exactly the maximum is fine; one more is E2BIG and sticks */
	imap_cmd_init(&c, false);
	for (i = 0; i < IMAP_CMD_MAX_SYNC; i++) {
		imap_cmd_sp(&c);
		imap_cmd_literal(&c, "x", 1);
	}
	CHECK(c.err == 0 && c.nsync == IMAP_CMD_MAX_SYNC, "err %d nsync %u at the limit", c.err, c.nsync);
	for (i = 0; i < c.nsync; i++)
		CHECK(c.sync[i] == 5 + 7 * i, "sync[%u] = %zu, want %u", i, c.sync[i], 5 + 7 * i);
	imap_cmd_sp(&c);
	imap_cmd_astring(&c, "\r", 1);
	CHECK(c.err == -E2BIG, "err %d past the limit, want -E2BIG", c.err);
	CHECK(c.nsync == IMAP_CMD_MAX_SYNC, "nsync %u past the limit", c.nsync);
	imap_cmd_free(&c);

	/* with LITERAL+ there is no limit */
	imap_cmd_init(&c, true);
	for (i = 0; i < 3 * IMAP_CMD_MAX_SYNC; i++)
		imap_cmd_literal(&c, "x", 1);
	CHECK(c.err == 0 && c.nsync == 0, "LITERAL+ many literals: err %d nsync %u", c.err, c.nsync);
	imap_cmd_free(&c);
}

static void uid_set(int line, const uint32_t *uids, size_t n, const char *want)
{
	struct imap_cmd c;

	imap_cmd_init(&c, false);
	imap_cmd_uid_set(&c, uids, n);
	expect_len(line, &c, want, strlen(want));
	imap_cmd_free(&c);
}

static void uid_set_bad(int line, const uint32_t *uids, size_t n)
{
	struct imap_cmd c;

	imap_cmd_init(&c, false);
	imap_cmd_raw(&c, "UID FETCH ");
	imap_cmd_uid_set(&c, uids, n);
	check(c.err == -EINVAL && c.len == 10, line, "bad uid set: err %d, \"%s\"",
	      c.err, show(c.buf, c.len));
	imap_cmd_free(&c);
}

#define UIDS(...) (const uint32_t[]){ __VA_ARGS__ }, \
	sizeof((const uint32_t[]){ __VA_ARGS__ }) / sizeof(uint32_t)

static void test_uid_set(void)
{
	uid_set(__LINE__, UIDS(1, 2, 3, 7), "1:3,7");
	uid_set(__LINE__, UIDS(5), "5");
	uid_set(__LINE__, UIDS(5, 5, 5), "5");
	uid_set(__LINE__, UIDS(1, 3, 5), "1,3,5");
	uid_set(__LINE__, UIDS(1, 1, 2, 2, 4, 5, 6, 10), "1:2,4:6,10");
	uid_set(__LINE__, UIDS(7, 8), "7:8");
	uid_set(__LINE__, UIDS(1, 3, 4, 5, 9, 10, 20), "1,3:5,9:10,20");
	uid_set(__LINE__, UIDS(4294967294u, 4294967295u), "4294967294:4294967295");
	uid_set(__LINE__, UIDS(1, 4294967295u), "1,4294967295");
	uid_set(__LINE__, UIDS(4294967295u, 4294967295u), "4294967295");

	uid_set_bad(__LINE__, NULL, 0);
	uid_set_bad(__LINE__, UIDS(0));
	uid_set_bad(__LINE__, UIDS(0, 1, 2));
	uid_set_bad(__LINE__, UIDS(1, 2, 0));
	uid_set_bad(__LINE__, UIDS(3, 2));
	uid_set_bad(__LINE__, UIDS(1, 5, 4, 6));

	/* a long run compresses to one range */
	{
		uint32_t many[1000];
		unsigned i;

		for (i = 0; i < 1000; i++)
			many[i] = 100 + i;
		uid_set(__LINE__, many, 1000, "100:1099");
		for (i = 0; i < 1000; i++)
			many[i] = 1 + 2 * i;
		{
			struct imap_cmd c;

			imap_cmd_init(&c, false);
			imap_cmd_uid_set(&c, many, 1000);
			CHECK(!c.err && !strncmp(c.buf, "1,3,5,", 6) &&
			      c.len > 5 && !strcmp(c.buf + c.len - 5, ",1999"),
			      "odd uids: \"%.40s\"", c.buf ? c.buf : "(null)");
			imap_cmd_free(&c);
		}
	}
}

static void mailbox(int line, const char *utf8, const char *want)
{
	struct imap_cmd c;

	imap_cmd_init(&c, false);
	imap_cmd_mailbox(&c, utf8);
	expect_len(line, &c, want, strlen(want));
	imap_cmd_free(&c);
}

static void mailbox_bad(int line, const char *utf8)
{
	struct imap_cmd c;

	imap_cmd_init(&c, false);
	imap_cmd_mailbox(&c, utf8);
	check(c.err == -EINVAL && c.len == 0, line, "mailbox \"%s\": err %d, \"%s\"",
	      show(utf8, utf8 ? strlen(utf8) : 0), c.err, show(c.buf, c.len));
	imap_cmd_free(&c);
}

static void test_mailbox(void)
{
	mailbox(__LINE__, "INBOX", "INBOX");
	mailbox(__LINE__, "inbox", "INBOX");
	mailbox(__LINE__, "InBoX", "INBOX");
	mailbox(__LINE__, "iNBOX", "INBOX");
	/* only INBOX itself is case-insensitive */
	mailbox(__LINE__, "inbox.Sent", "inbox.Sent");
	mailbox(__LINE__, "INBOX/Sent", "INBOX/Sent");
	mailbox(__LINE__, "inboxx", "inboxx");
	mailbox(__LINE__, "inbo", "inbo");
	mailbox(__LINE__, "Entw\xc3\xbcrfe", "Entw&APw-rfe");
	mailbox(__LINE__, "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
		"~peter/mail/&U,BTFw-/&ZeVnLIqe-");
	mailbox(__LINE__, "Tom & Jerry", "\"Tom &- Jerry\"");
	mailbox(__LINE__, "[Gmail]/Sent Mail", "\"[Gmail]/Sent Mail\"");
	mailbox(__LINE__, "a\"b", "\"a\\\"b\"");
	mailbox(__LINE__, "50%", "\"50%\"");
	mailbox(__LINE__, "", "\"\"");
	/* CR and LF are encoded, so a mailbox never needs a literal */
	mailbox(__LINE__, "a\r\nb", "a&AA0ACg-b");
	mailbox(__LINE__, "\xf0\x9f\x93\xa7", "&2D3c5w-");

	mailbox_bad(__LINE__, "caf\xe9");
	mailbox_bad(__LINE__, "\xc0\xaf");
	mailbox_bad(__LINE__, "\xed\xa0\x80");
	mailbox_bad(__LINE__, NULL);
}

static void test_errors_stick(void)
{
	struct imap_cmd c;

	imap_cmd_init(&c, false);
	imap_cmd_raw(&c, "SELECT");
	imap_cmd_sp(&c);
	imap_cmd_mailbox(&c, "\xff");
	CHECK(c.err == -EINVAL, "err %d, want -EINVAL", c.err);
	imap_cmd_raw(&c, "X");
	imap_cmd_rawf(&c, "%d", 42);
	imap_cmd_sp(&c);
	imap_cmd_astring(&c, "abc", 3);
	imap_cmd_string(&c, "abc", 3);
	imap_cmd_literal(&c, "abc", 3);
	imap_cmd_mailbox(&c, "INBOX");
	imap_cmd_uid_set(&c, UIDS(1, 2));
	CHECK(c.len == 7 && !memcmp(c.buf, "SELECT ", 7), "output after error: \"%s\"", show(c.buf, c.len));
	CHECK(c.nsync == 0, "nsync %u after error", c.nsync);
	/* a later, different error does not replace the first */
	imap_cmd_uid_set(&c, NULL, 0);
	CHECK(c.err == -EINVAL, "err %d", c.err);
	imap_cmd_free(&c);

	imap_cmd_init(&c, false);
	imap_cmd_uid_set(&c, NULL, 0);
	for (unsigned i = 0; i < IMAP_CMD_MAX_SYNC + 2; i++)
		imap_cmd_literal(&c, "x", 1);
	CHECK(c.err == -EINVAL && c.len == 0 && c.nsync == 0, "err %d len %zu nsync %u",
	      c.err, c.len, c.nsync);
	imap_cmd_free(&c);

	/* free leaves a reusable, empty builder; init on it is fine */
	imap_cmd_init(&c, true);
	imap_cmd_raw(&c, "NOOP");
	imap_cmd_free(&c);
	CHECK(c.buf == NULL && c.len == 0, "after free: buf %p len %zu", (void *)c.buf, c.len);
	imap_cmd_free(&c);
}

static void test_raw(void)
{
	struct imap_cmd c;
	char big[5000];

	imap_cmd_init(&c, false);
	imap_cmd_sp(&c);
	CHECK(c.len == 0, "sp on empty buffer appended");
	imap_cmd_raw(&c, "UID FETCH");
	imap_cmd_sp(&c);
	imap_cmd_rawf(&c, "%u:%s", 1u, "*");
	imap_cmd_sp(&c);
	imap_cmd_raw(&c, "(UID FLAGS)");
	EXPECT(&c, "UID FETCH 1:* (UID FLAGS)");
	imap_cmd_free(&c);

	/* growth past the first allocation */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	imap_cmd_init(&c, false);
	imap_cmd_raw(&c, "X ");
	imap_cmd_rawf(&c, "%s", big);
	imap_cmd_astring(&c, big, sizeof(big) - 1);
	CHECK(!c.err && c.len == 2 + 2 * (sizeof(big) - 1) && c.buf[c.len] == '\0',
	      "big: err %d len %zu", c.err, c.len);
	imap_cmd_free(&c);

	/* an empty raw append still leaves a valid string */
	imap_cmd_init(&c, false);
	imap_cmd_raw(&c, "");
	CHECK(!c.err && c.len == 0, "empty raw: err %d len %zu", c.err, c.len);
	imap_cmd_free(&c);
}

/*
 * Tokenises an IMAP command the way a server would and returns the number of
 * top-level arguments, or -1 if it is malformed. Enough to show that hostile
 * strings stay one argument.
 */
static int count_args(const char *s, size_t len)
{
	size_t i = 0;
	int n = 0;

	while (i < len) {
		if (s[i] == ' ') {
			i++;
			continue;
		}
		n++;
		if (s[i] == '"') {
			for (i++; i < len && s[i] != '"'; i++) {
				if (s[i] == '\r' || s[i] == '\n')
					return -1;
				if (s[i] == '\\' && ++i == len)
					return -1;
			}
			if (i == len)
				return -1;
			i++;
		} else if (s[i] == '{') {
			char *end;
			unsigned long lit = strtoul(s + i + 1, &end, 10);

			if (*end == '+')
				end++;
			if (*end != '}' || end[1] != '\r' || end[2] != '\n')
				return -1;
			i = (size_t)(end + 3 - s) + lit;
			if (i > len)
				return -1;
		} else {
			for (; i < len && s[i] != ' '; i++)
				if (s[i] == '\r' || s[i] == '\n' || s[i] == '"' ||
				    s[i] == '(' || s[i] == ')')
					return -1;
		}
		if (i < len && s[i] != ' ')
			return -1;
	}
	return n;
}

static void test_injection(void)
{
#define S(x) { x, sizeof(x) - 1 }
	static const struct {
		const char *s;
		size_t len;
	} hostile[] = {
		S("x\" ) UID EXPUNGE 1:* ("),
		S("x\r\nA1 LOGOUT"),
		S("x\"\r\na2 DELETE INBOX\r\n"),
		S("\\\" \\"),
		S("{5}\r\nhello"),
		S("{5+}"),
		S("a) (b"),
		S("\" \""),
		S("\\"),
		S("\""),
		S("x\0y\r\n"),
	};
#undef S
	struct imap_cmd c;
	size_t i;
	int plus;

	for (plus = 0; plus < 2; plus++) {
		for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
			int n;

			imap_cmd_init(&c, plus);
			imap_cmd_raw(&c, "RENAME");
			imap_cmd_sp(&c);
			imap_cmd_astring(&c, hostile[i].s, hostile[i].len);
			imap_cmd_sp(&c);
			imap_cmd_string(&c, hostile[i].s, hostile[i].len);
			imap_cmd_sp(&c);
			imap_cmd_raw(&c, "END");
			n = count_args(c.buf, c.len);
			CHECK(!c.err && n == 4, "\"%s\" gave %d arguments: \"%s\"",
			      show(hostile[i].s, hostile[i].len), n, show(c.buf, c.len));
			imap_cmd_free(&c);
		}
	}

	imap_cmd_init(&c, false);
	imap_cmd_raw(&c, "SELECT");
	imap_cmd_sp(&c);
	imap_cmd_mailbox(&c, "x\" ) UID EXPUNGE 1:* (");
	EXPECT(&c, "SELECT \"x\\\" ) UID EXPUNGE 1:* (\"");
	imap_cmd_free(&c);

	ASTRING("x\" ) UID EXPUNGE 1:* (", "\"x\\\" ) UID EXPUNGE 1:* (\"");
}

int main(void)
{
	test_atom_quoted_literal();
	test_sync_offsets();
	test_uid_set();
	test_mailbox();
	test_errors_stick();
	test_raw();
	test_injection();
	return check_summary();
}
