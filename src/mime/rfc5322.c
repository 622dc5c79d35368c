/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "mime/rfc5322.h"

#include <string.h>

/* A field name: printable US-ASCII but ':' (RFC 5322 section 3.6.8). */
static bool is_field_line(const char *line, size_t len)
{
	size_t i = 0;

	while (i < len && line[i] != ':') {
		unsigned char c = (unsigned char)line[i];

		if (c < 33 || c > 126)
			return false;
		i++;
	}
	return i > 0 && i < len;
}

bool rfc5322_is_message(const char *buf, size_t len, bool complete)
{
	size_t pos = 0, fields = 0;

	if (memchr(buf, '\0', len))
		return false;
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - buf) : len, l = end - pos;

		if (l && buf[end - 1] == '\r' && nl)
			l--;
		if (!nl && !complete)
			return fields > 0; /* a line cut by the window: judged on the rest */
		if (l == 0)
			return fields > 0 && nl; /* the empty line that ends the header */
		if (buf[pos] == ' ' || buf[pos] == '\t') {
			if (fields == 0)
				return false;
		} else if (is_field_line(buf + pos, l)) {
			fields++;
		} else {
			return false;
		}
		pos = end + 1;
	}
	return fields > 0;
}

size_t rfc5322_crlf(const char *in, size_t len, char *out, bool *cr)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\n' && !*cr)
			out[o++] = '\r';
		out[o++] = in[i];
		*cr = in[i] == '\r';
	}
	return o;
}

bool rfc5322_has_bare_lf(const char *in, size_t len, bool *cr)
{
	bool bare = false;

	for (size_t i = 0; i < len && !bare; i++) {
		bare = in[i] == '\n' && !*cr;
		*cr = in[i] == '\r';
	}
	return bare;
}
