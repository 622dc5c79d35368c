/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: modified UTF-7 (src/imap/mutf7.h), mailbox names as path
 * components (src/imap/mailbox_name.h) and how command.h sends strings and
 * mailbox names.
 *
 * The input is taken both as a wire name and as UTF-8 / a path component:
 *  - mutf7_to_utf8() succeeding means utf8_to_mutf7() of its result gives
 *    the input back (the decoder refuses every non-canonical spelling);
 *  - utf8_to_mutf7() succeeds exactly for valid UTF-8 without NUL, and
 *    decoding its result gives the input back;
 *  - mailbox_component_from_wire() -> mailbox_component_to_wire() gives the
 *    wire level back, except for the cases mailbox_name.h documents (NUL, CR,
 *    LF, the delimiter, a raw level whose only fault is a control character);
 *    a component to_wire() accepts comes back from from_wire() unchanged;
 *  - a string formatted by imap_cmd_astring()/imap_cmd_string()/
 *    imap_cmd_mailbox() reads back, through the response parser, as exactly
 *    one argument holding the same bytes: nothing in it can end it early.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/command.h"
#include "imap/mailbox_name.h"
#include "imap/mutf7.h"
#include "imap/parser.h"

#include "fuzz_common.h"

static bool all_printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

static bool has_8bit(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

static bool is_hex_upper(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

static bool ascii_caseeq(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);

	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++) {
		char x = a[i], y = b[i];

		if (x >= 'a' && x <= 'z')
			x = (char)(x - 32);
		if (y >= 'a' && y <= 'z')
			y = (char)(y - 32);
		if (x != y)
			return false;
	}
	return true;
}

static void check_mutf7(const char *in, size_t n)
{
	char *d, *e, *back;
	bool valid = fuzz_utf8_valid(in, n) && !memchr(in, '\0', n);

	errno = 0;
	d = mutf7_to_utf8(in, n);
	if (!d) {
		FUZZ_CHECK(errno == EINVAL, "mutf7_to_utf8(\"%s\") = NULL, errno %d",
			   fuzz_show(in, n), errno);
	} else {
		size_t dl = strlen(d);

		FUZZ_CHECK(all_printable(in, n), "mutf7_to_utf8() accepted \"%s\"",
			   fuzz_show(in, n));
		FUZZ_CHECK(fuzz_utf8_valid(d, dl), "mutf7_to_utf8(\"%s\") = \"%s\": not UTF-8",
			   fuzz_show(in, n), fuzz_show(d, dl));
		back = utf8_to_mutf7(d, dl);
		FUZZ_CHECK(back && strlen(back) == n && !memcmp(back, in, n),
			   "\"%s\" -> \"%s\" -> \"%s\"", fuzz_show(in, n), fuzz_show(d, dl),
			   back ? fuzz_show(back, strlen(back)) : "NULL");
		free(back);
		free(d);
	}

	errno = 0;
	e = utf8_to_mutf7(in, n);
	FUZZ_CHECK(!e == !valid, "utf8_to_mutf7(\"%s\") = %s (errno %d) for %s input",
		   fuzz_show(in, n), e ? "a result" : "NULL", errno, valid ? "valid" : "invalid");
	if (!e) {
		FUZZ_CHECK(errno == EINVAL, "utf8_to_mutf7() = NULL, errno %d", errno);
		return;
	}
	FUZZ_CHECK(all_printable(e, strlen(e)), "utf8_to_mutf7(\"%s\") = \"%s\"",
		   fuzz_show(in, n), fuzz_show(e, strlen(e)));
	back = mutf7_to_utf8(e, strlen(e));
	FUZZ_CHECK(back && strlen(back) == n && !memcmp(back, in, n),
		   "\"%s\" -> \"%s\" -> \"%s\"", fuzz_show(in, n), fuzz_show(e, strlen(e)),
		   back ? fuzz_show(back, strlen(back)) : "NULL");
	free(back);
	free(e);
}

/* What mailbox_name.h says a component from the wire looks like. */
static void check_component(const char *c, const char *wire, size_t n)
{
	size_t cl = strlen(c);

	FUZZ_CHECK(cl > 0 && strcmp(c, ".") && strcmp(c, ".."), "from_wire(\"%s\") = \"%s\"",
		   fuzz_show(wire, n), fuzz_show(c, cl));
	FUZZ_CHECK(fuzz_utf8_valid(c, cl), "from_wire(\"%s\") = \"%s\": not UTF-8",
		   fuzz_show(wire, n), fuzz_show(c, cl));
	FUZZ_CHECK(!strcmp(c, "%%") == (n == 0), "from_wire(\"%s\") = \"%s\"",
		   fuzz_show(wire, n), c);
	if (n == 0)
		return;
	for (size_t i = 0; i < cl; i++) {
		unsigned char ch = (unsigned char)c[i];

		FUZZ_CHECK(ch != '/' && ch >= 0x20 && ch != 0x7f,
			   "from_wire(\"%s\") = \"%s\" has byte 0x%02x", fuzz_show(wire, n),
			   fuzz_show(c, cl), ch);
		if (ch == '%')
			FUZZ_CHECK(i + 2 < cl && is_hex_upper(c[i + 1]) &&
					   is_hex_upper(c[i + 2]),
				   "from_wire(\"%s\") = \"%s\": bad escape at %zu",
				   fuzz_show(wire, n), fuzz_show(c, cl), i);
	}
}

static void check_mailbox_name(const char *in, size_t n)
{
	char *c, *w, *comp, *back, *u;
	bool raw, plain_controls;
	char delim;

	/* Wire level -> component -> wire level. */
	c = mailbox_component_from_wire(in, n);
	FUZZ_CHECK(c, "mailbox_component_from_wire(\"%s\") = NULL", fuzz_show(in, n));
	check_component(c, in, n);
	if (!memchr(in, '\0', n) && !memchr(in, '\r', n) && !memchr(in, '\n', n)) {
		delim = !memchr(in, '/', n) ? '/' : !memchr(in, '.', n) ? '.' : 0;
		u = mutf7_to_utf8(in, n);
		raw = !u;
		free(u);
		/* Invalid only for raw control characters: shown decoded, so it
		 * goes back shifted (documented in tests/unit/test_mailbox_name.c). */
		plain_controls = raw && !memchr(in, '&', n) && !has_8bit(in, n);
		errno = 0;
		w = mailbox_component_to_wire(c, delim);
		if (!plain_controls)
			FUZZ_CHECK(w && strlen(w) == n && !memcmp(w, in, n),
				   "\"%s\" -> \"%s\" -> \"%s\" (delim 0x%02x, errno %d)",
				   fuzz_show(in, n), fuzz_show(c, strlen(c)),
				   w ? fuzz_show(w, strlen(w)) : "NULL", delim, errno);
		else if (w)
			FUZZ_CHECK(!strpbrk(w, "\r\n") && (!delim || !strchr(w, delim)),
				   "\"%s\" -> \"%s\" -> unsafe \"%s\"", fuzz_show(in, n),
				   fuzz_show(c, strlen(c)), fuzz_show(w, strlen(w)));
		free(w);
	}
	free(c);

	/* Component -> wire level -> component. */
	comp = fuzz_strndup((const uint8_t *)in, n);
	for (const char *dp = "/.", *end = dp + 3; dp < end; dp++) {
		delim = *dp;
		errno = 0;
		w = mailbox_component_to_wire(comp, delim);
		if (!w) {
			FUZZ_CHECK(errno == EINVAL, "to_wire() = NULL, errno %d", errno);
			continue;
		}
		FUZZ_CHECK(*comp && strcmp(comp, ".") && strcmp(comp, ".."),
			   "to_wire(\"%s\") accepted", fuzz_show(comp, strlen(comp)));
		FUZZ_CHECK(fuzz_utf8_valid(comp, strlen(comp)),
			   "to_wire() accepted invalid UTF-8 \"%s\"", fuzz_show(comp, strlen(comp)));
		FUZZ_CHECK(!strpbrk(w, "\r\n") && (!delim || !strchr(w, delim)),
			   "to_wire(\"%s\", 0x%02x) = \"%s\"", fuzz_show(comp, strlen(comp)), delim,
			   fuzz_show(w, strlen(w)));
		back = mailbox_component_from_wire(w, strlen(w));
		FUZZ_CHECK(back && !strcmp(back, comp), "\"%s\" -> \"%s\" -> \"%s\" (delim 0x%02x)",
			   fuzz_show(comp, strlen(comp)), fuzz_show(w, strlen(w)),
			   back ? fuzz_show(back, strlen(back)) : "NULL", delim);
		free(back);
		free(w);
	}
	free(comp);
}

/* ---- Commands read back by the response parser ------------------------- */

/* Parses "* X <arg>\r\n" as built in c; returns the one response or aborts. */
static struct imap_response *read_back(const struct imap_cmd *c)
{
	struct imap_parser *p = imap_parser_new(NULL);
	struct imap_response *r = NULL;
	size_t off = 0;

	if (!p)
		abort();
	while (off < c->len && !r) {
		ssize_t n = imap_parser_feed(p, c->buf + off, c->len - off);

		FUZZ_CHECK(n >= 0, "command \"%s\" does not parse back: %s",
			   fuzz_show(c->buf, c->len), imap_parser_error(p));
		off += (size_t)n;
		r = imap_parser_take(p);
	}
	FUZZ_CHECK(r && off == c->len, "command \"%s\" is %s", fuzz_show(c->buf, c->len),
		   r ? "more than one response" : "incomplete");
	FUZZ_CHECK(!imap_parser_pending(p), "command \"%s\" leaves bytes",
		   fuzz_show(c->buf, c->len));
	FUZZ_CHECK(r->args.count == 1, "command \"%s\" has %zu arguments",
		   fuzz_show(c->buf, c->len), r->args.count);
	imap_parser_free(p);
	return r;
}

/* The argument as sent: an atom (not quoted, not a literal)? */
static bool sent_as_atom(const struct imap_cmd *c)
{
	char first = c->buf[4]; /* after "* X " */

	return first != '"' && first != '{';
}

/* Whether what came back is what was sent; v is the parsed argument. */
static bool same_text(const struct imap_value *v, const char *s, size_t n)
{
	if (v->type == IMAP_NIL)
		return ascii_caseeq(s, n, "NIL");
	if (v->type != IMAP_ATOM && v->type != IMAP_NUMBER && v->type != IMAP_STRING)
		return false;
	return v->len == n && !memcmp(v->str, s, n);
}

static void check_commands(const char *in, size_t n, bool literal_plus)
{
	struct imap_cmd c;
	struct imap_response *r;
	char *mbox;

	/* imap_cmd_astring(): atom, quoted or literal. */
	imap_cmd_init(&c, literal_plus);
	imap_cmd_raw(&c, "* X ");
	imap_cmd_astring(&c, in, n);
	imap_cmd_raw(&c, "\r\n");
	FUZZ_CHECK(c.err == 0 || c.err == -E2BIG, "imap_cmd_astring() err %d", c.err);
	/* An atom with '[' is a fine astring, but responses read '[' as a section. */
	if (c.err == 0 && !(sent_as_atom(&c) && memchr(in, '[', n))) {
		r = read_back(&c);
		FUZZ_CHECK(same_text(&r->args.items[0], in, n),
			   "astring \"%s\" sent as \"%s\" reads back differently", fuzz_show(in, n),
			   fuzz_show(c.buf, c.len));
		imap_response_free(r);
	}
	imap_cmd_free(&c);

	/* imap_cmd_string(): never an atom. */
	imap_cmd_init(&c, literal_plus);
	imap_cmd_raw(&c, "* X ");
	imap_cmd_string(&c, in, n);
	imap_cmd_raw(&c, "\r\n");
	FUZZ_CHECK(c.err == 0, "imap_cmd_string() err %d", c.err);
	FUZZ_CHECK(!sent_as_atom(&c), "imap_cmd_string() sent an atom: \"%s\"",
		   fuzz_show(c.buf, c.len));
	r = read_back(&c);
	FUZZ_CHECK(r->args.items[0].type == IMAP_STRING && same_text(&r->args.items[0], in, n),
		   "string \"%s\" sent as \"%s\" reads back differently", fuzz_show(in, n),
		   fuzz_show(c.buf, c.len));
	imap_response_free(r);
	imap_cmd_free(&c);

	/* imap_cmd_mailbox(): UTF-8 to modified UTF-7, then an astring. */
	mbox = fuzz_strndup((const uint8_t *)in, n);
	imap_cmd_init(&c, literal_plus);
	imap_cmd_raw(&c, "* X ");
	imap_cmd_mailbox(&c, mbox);
	imap_cmd_raw(&c, "\r\n");
	FUZZ_CHECK((c.err == 0) == fuzz_utf8_valid(mbox, strlen(mbox)),
		   "imap_cmd_mailbox(\"%s\") err %d", fuzz_show(mbox, strlen(mbox)), c.err);
	/* As for astrings: an atom with '[' is not for the response parser. */
	if (c.err == 0 && !(sent_as_atom(&c) && memchr(c.buf, '[', c.len))) {
		const struct imap_value *v;
		char *u;

		r = read_back(&c);
		v = &r->args.items[0];
		if (ascii_caseeq(mbox, strlen(mbox), "INBOX")) {
			FUZZ_CHECK(v->type == IMAP_ATOM && !strcmp(v->str, "INBOX"),
				   "mailbox \"%s\" sent as \"%s\"", mbox, fuzz_show(c.buf, c.len));
		} else if (v->type == IMAP_NIL) {
			FUZZ_CHECK(ascii_caseeq(mbox, strlen(mbox), "NIL"),
				   "mailbox \"%s\" sent as \"%s\" reads back as NIL",
				   fuzz_show(mbox, strlen(mbox)), fuzz_show(c.buf, c.len));
		} else {
			FUZZ_CHECK(v->type == IMAP_ATOM || v->type == IMAP_NUMBER ||
					   v->type == IMAP_STRING,
				   "mailbox sent as \"%s\" reads back as type %d",
				   fuzz_show(c.buf, c.len), (int)v->type);
			u = mutf7_to_utf8(v->str, v->len);
			FUZZ_CHECK(u && !strcmp(u, mbox), "mailbox \"%s\" sent as \"%s\" decodes to \"%s\"",
				   fuzz_show(mbox, strlen(mbox)), fuzz_show(c.buf, c.len),
				   u ? fuzz_show(u, strlen(u)) : "NULL");
			free(u);
		}
		imap_response_free(r);
	}
	imap_cmd_free(&c);
	free(mbox);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;

	/* Mailbox names are short; long inputs only slow the search down. */
	if (size > 4096)
		return 0;
	check_mutf7(in, size);
	check_mailbox_name(in, size);
	check_commands(in, size, size && (data[0] & 1));
	return 0;
}
