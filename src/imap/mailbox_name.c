/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Mailbox levels <-> path components.
 *
 * A level that is valid modified UTF-7 is decoded, and only the bytes that
 * cannot stand in a file name are escaped as "%XX": '%', '/', C0 controls,
 * DEL, and the dots of a level that is exactly "." or "..".
 *
 * A level that is not valid modified UTF-7 keeps its raw bytes, with the same
 * escapes plus '&' and every 8-bit byte. Neither of those is ever escaped in
 * a decoded level ('&' and UTF-8 are fine in file names), so "%26" or
 * "%80".."%FF" in a component marks it as raw bytes on the way back. Escaping
 * 8-bit bytes too (not only '&') keeps a raw, say Latin-1 or unencoded UTF-8,
 * name from showing as a plausible name that would then be re-encoded into a
 * different mailbox.
 *
 * A level that is exactly ".search" has its dot escaped, "%2Esearch": the
 * name ".search" is each mailbox directory's search directory.
 *
 * An empty level (as in "a..b" with delimiter '.') becomes the component
 * "%%". Escaping always puts two hex digits after '%', so "%%" cannot be
 * the image of any other level; mailbox_component_to_wire("%%") returns "".
 * Callers joining levels should beware that a trailing empty level means
 * "the parent, as a container" to CREATE and to some servers' DELETE.
 *
 * mailbox_component_to_wire() only accepts the component that
 * mailbox_component_from_wire() gives for its result, so names and mailboxes
 * are one to one: "%41" or "%2f" are refused rather than becoming "A" or "/"
 * and a second name for an existing directory.
 *
 * One case does not round-trip: a level that is invalid only because it has
 * raw control characters (no '&', no 8-bit byte) has no marker, so it comes
 * back encoded properly ("a\tb" -> "a%09b" -> "a&AAk-b"). Servers do not
 * create such names.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/mailbox_name.h"
#include "imap/mutf7.h"

#define EMPTY_LEVEL "%%"

static bool is_dots(const char *s, size_t len)
{
	return (len == 1 && s[0] == '.') ||
	       (len == 2 && s[0] == '.' && s[1] == '.');
}

static bool must_escape(unsigned char ch, bool raw)
{
	if (ch == '%' || ch == '/' || ch < 0x20 || ch == 0x7f)
		return true;
	return raw && (ch == '&' || ch >= 0x80);
}

static char *escape(const char *s, size_t len, bool raw)
{
	static const char hex[] = "0123456789ABCDEF";
	bool dots = is_dots(s, len);
	bool search = len == 7 && memcmp(s, ".search", 7) == 0;
	char *res, *out;
	size_t i;

	if (len > (SIZE_MAX - 1) / 3) {
		errno = ENOMEM;
		return NULL;
	}
	res = malloc(len * 3 + 1);
	if (!res)
		return NULL;
	out = res;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (dots || (search && i == 0) || must_escape(ch, raw)) {
			*out++ = '%';
			*out++ = hex[ch >> 4];
			*out++ = hex[ch & 0xf];
		} else {
			*out++ = (char)ch;
		}
	}
	*out = '\0';
	return res;
}

char *mailbox_component_from_wire(const char *wire, size_t len)
{
	char *utf8, *res;

	if (!len)
		return strdup(EMPTY_LEVEL);
	utf8 = mutf7_to_utf8(wire, len);
	if (!utf8)
		return errno == EINVAL ? escape(wire, len, true) : NULL;
	/* decoding refuses NUL, so strlen() is the whole name */
	res = escape(utf8, strlen(utf8), false);
	free(utf8);
	return res;
}

/* Upper-case only: that is what escape() writes, and case variants would be second names. */
static int hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/*
 * Undoes %XX escapes from s into out (room for strlen(s) + 1). Sets *raw
 * when an escape only a raw level has (see the top of the file) is present.
 */
static int unescape(const char *s, char *out, size_t *outlen, bool *raw)
{
	size_t i, n = 0;

	*raw = false;
	for (i = 0; s[i]; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '%') {
			/* s[i + 2] is only read once s[i + 1] is a digit, not the NUL */
			int hi = hex_value(s[i + 1]);
			int lo = hi < 0 ? -1 : hex_value(s[i + 2]);

			if (lo < 0)
				return -EINVAL;
			ch = (unsigned char)(hi << 4 | lo);
			i += 2;
			if (ch == '&' || ch >= 0x80)
				*raw = true;
		}
		out[n++] = (char)ch;
	}
	out[n] = '\0';
	*outlen = n;
	return 0;
}

char *mailbox_component_to_wire(const char *component, char delim)
{
	size_t len = strlen(component), n;
	char *bytes = NULL, *wire = NULL, *check = NULL;
	bool raw;
	int err;

	if (!len || is_dots(component, len))
		goto einval;
	if (!strcmp(component, EMPTY_LEVEL))
		return strdup("");

	bytes = malloc(len + 1);
	if (!bytes)
		goto enomem;
	err = unescape(component, bytes, &n, &raw);
	if (err)
		goto fail;
	if (raw) {
		wire = bytes;
		bytes = NULL;
	} else {
		wire = utf8_to_mutf7(bytes, n);
		if (!wire) {
			err = -errno;
			goto fail;
		}
		n = strlen(wire);
	}

	/* A raw level may hold anything; an encoded one never has these. */
	if (memchr(wire, '\0', n) || memchr(wire, '\r', n) ||
	    memchr(wire, '\n', n) || (delim && memchr(wire, delim, n)))
		goto einval;

	check = mailbox_component_from_wire(wire, n);
	if (!check)
		goto enomem;
	if (strcmp(check, component))
		goto einval;

	free(check);
	free(bytes);
	return wire;

enomem:
	err = -ENOMEM;
	goto fail;
einval:
	err = -EINVAL;
fail:
	free(check);
	free(wire);
	free(bytes);
	errno = -err;
	return NULL;
}
