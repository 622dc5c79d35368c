/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the MIME layer (src/mime/decode.h, b64layout.h, header.h).
 *
 * Input: 8 configuration bytes, then a body (or header block).
 *  - mime_decode() with every transfer encoding: never refuses, never grows;
 *  - b64_layout_probe() on the body's head and tail (and on shortened slices,
 *    and with a wrong encoded size), and when it accepts, b64_layout_map() for
 *    a few decoded ranges. The mapped encoded range, decoded on its own, must
 *    give the same bytes as the full decode, but that is only promised for
 *    bodies that are small (decoded whole) or genuinely follow the layout, so
 *    a strict uniform-lines check of the whole body, written here
 *    independently of b64layout.c, decides when to compare. For such bodies
 *    the probe must also agree with the check (sizes, line length) and, when
 *    lines are short enough to be seen in the probe's slices, accept them;
 *  - mime_header_decode(), mime_header_field() and mime_param_get() give
 *    valid UTF-8 without control characters where the header promises it;
 *  - mime_charset_to_utf8() with a charset named in the input (its first
 *    line) or picked from a list, giving valid UTF-8.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mime/b64layout.h"
#include "mime/decode.h"
#include "mime/header.h"

#include "fuzz_common.h"

#define CONFIG_BYTES 8

/* ---- Transfer encodings ------------------------------------------------- */

static void check_decode(const char *body, size_t len)
{
	static const enum mime_cte ctes[] = { MIME_CTE_IDENTITY, MIME_CTE_BASE64, MIME_CTE_QP,
					      MIME_CTE_UNKNOWN };

	for (size_t i = 0; i < sizeof(ctes) / sizeof(ctes[0]); i++) {
		char *out = NULL;
		size_t outlen = SIZE_MAX;
		int rc = mime_decode(ctes[i], body, len, &out, &outlen);

		FUZZ_CHECK(rc == 0, "mime_decode(%d) = %d", (int)ctes[i], rc);
		FUZZ_CHECK(out != NULL, "mime_decode(%d) gave NULL", (int)ctes[i]);
		FUZZ_CHECK(outlen <= len, "mime_decode(%d) grew %zu to %zu", (int)ctes[i], len,
			   outlen);
		if (ctes[i] == MIME_CTE_IDENTITY || ctes[i] == MIME_CTE_UNKNOWN)
			FUZZ_CHECK(outlen == len && (!len || !memcmp(out, body, len)),
				   "mime_decode(%d) changed the bytes", (int)ctes[i]);
		free(out);
	}
}

static void check_cte_names(const char *body, size_t len)
{
	char name[64];
	size_t n = 0;
	enum mime_cte c;

	while (n < len && n < sizeof(name) - 1 && body[n] != '\n' && body[n] != '\0') {
		name[n] = body[n];
		n++;
	}
	name[n] = '\0';
	c = mime_cte_from_name(name);
	FUZZ_CHECK(c == MIME_CTE_IDENTITY || c == MIME_CTE_BASE64 || c == MIME_CTE_QP ||
			   c == MIME_CTE_UNKNOWN,
		   "mime_cte_from_name(\"%s\") = %d", fuzz_show(name, n), (int)c);
	FUZZ_CHECK(mime_cte_from_name(NULL) == MIME_CTE_IDENTITY, "NULL is not identity");
	FUZZ_CHECK(mime_cte_from_name("BaSe64") == MIME_CTE_BASE64, "BaSe64");
	FUZZ_CHECK(mime_cte_from_name("Quoted-Printable") == MIME_CTE_QP, "Quoted-Printable");
}

/* ---- base64 layout ------------------------------------------------------ */

static bool is_b64(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

static bool is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

struct strict {
	uint32_t line_chars, eol;
	uint64_t chars;
	size_t trailing; /* blank bytes after the data */
};

/*
 * Whether the whole body is what a mailer writes: lines of exactly L base64
 * characters, each ended by the same line ending (LF or CRLF) as the first;
 * then a final line of 1..L characters whose padding is the standard one
 * ("==" after 2 characters of a group, "=" after 3, none after 4); then only
 * blanks. Independent of b64layout.c on purpose.
 */
static bool strict_layout(const char *body, size_t len, struct strict *st)
{
	const unsigned char *b = (const unsigned char *)body;
	size_t i, last, pos, L, E, f, pads = 0;
	uint64_t chars = 0, data;

	for (i = 0; i < len && b[i] != '\n'; i++)
		;
	if (i == len)
		return false;
	if (i > 0 && b[i - 1] == '\r') {
		E = 2;
		L = i - 1;
	} else {
		E = 1;
		L = i;
	}
	if (L == 0)
		return false;
	for (last = len; last > 0 && is_blank(b[last - 1]); last--)
		;
	if (last == 0)
		return false;
	last--; /* the last data byte */
	pos = 0;
	while (last + 1 - pos > L) {
		for (i = 0; i < L; i++)
			if (!is_b64(b[pos + i]))
				return false;
		if (E == 2 ? (b[pos + L] != '\r' || b[pos + L + 1] != '\n') : b[pos + L] != '\n')
			return false;
		pos += L + E;
		chars += L;
		if (pos > last)
			return false;
	}
	f = last + 1 - pos;
	while (pads < f && b[last - pads] == '=')
		pads++;
	for (i = 0; i < f - pads; i++)
		if (!is_b64(b[pos + i]))
			return false;
	data = chars + (f - pads);
	if (data == 0)
		return false;
	if (!((pads == 0 && data % 4 != 1) || (pads == 2 && data % 4 == 2) ||
	      (pads == 1 && data % 4 == 3)))
		return false;
	st->line_chars = (uint32_t)L;
	st->eol = (uint32_t)E;
	st->chars = data;
	st->trailing = len - (last + 1);
	return true;
}

/* Maps decoded [off, off + n) and, when promised, compares with the full decode. */
static void check_range(const struct b64_layout *l, const char *body, size_t len,
			const char *full, size_t fulllen, uint64_t off, uint64_t n, bool compare)
{
	uint64_t enc_off = UINT64_MAX, enc_len = UINT64_MAX, want;
	uint32_t skip = UINT32_MAX;
	char *part;
	size_t partlen;

	b64_layout_map(l, off, n, &enc_off, &enc_len, &skip);
	FUZZ_CHECK(enc_off <= l->encoded_size && enc_len <= l->encoded_size - enc_off,
		   "map(%" PRIu64 ", %" PRIu64 ") = [%" PRIu64 ", +%" PRIu64 ") of %" PRIu64, off,
		   n, enc_off, enc_len, l->encoded_size);
	if (l->encoded_size > B64_PROBE_BYTES)
		FUZZ_CHECK(skip <= 2, "map(%" PRIu64 ", %" PRIu64 ") skip %u", off, n, skip);
	if (!compare)
		return;
	FUZZ_CHECK(l->encoded_size == len, "layout of %" PRIu64 " bytes for %zu",
		   l->encoded_size, len);
	if (off > fulllen)
		off = fulllen;
	want = n < fulllen - off ? n : fulllen - off;
	if (!want)
		return; /* nothing to fetch: skip means nothing either */
	FUZZ_CHECK(mime_decode(MIME_CTE_BASE64, body + enc_off, (size_t)enc_len, &part,
			       &partlen) == 0,
		   "mime_decode of a range");
	FUZZ_CHECK(partlen >= skip && partlen - skip >= want &&
			   (!want || !memcmp(part + skip, full + off, (size_t)want)),
		   "decoded [%" PRIu64 ", +%" PRIu64 ") of %zu: encoded [%" PRIu64 ", +%" PRIu64
		   ") skip %u decodes to %zu bytes %s the full decode (L %u eol %u)",
		   off, want, fulllen, enc_off, enc_len, skip, partlen,
		   partlen >= skip && partlen - skip >= want ? "that differ from" : "short of",
		   l->line_chars, l->eol);
	free(part);
}

static void check_layout(const uint8_t *cfg, const char *body, size_t len)
{
	size_t hl = len < B64_PROBE_BYTES ? len : B64_PROBE_BYTES, tl = hl, fulllen;
	struct b64_layout l;
	struct strict st;
	bool strict = strict_layout(body, len, &st);
	char *full;
	int rc;

	if (mime_decode(MIME_CTE_BASE64, body, len, &full, &fulllen) != 0)
		abort();

	for (int attempt = 0; attempt < 3; attempt++) {
		size_t h = hl, t = tl;
		uint64_t size = len;
		bool exact = true;

		if (attempt == 1) {
			/* Shorter slices than the probe asks for. */
			h = hl - cfg[1] % (hl + 1);
			t = tl - cfg[2] % (tl + 1);
		} else if (attempt == 2) {
			/* A caller that got the size wrong. */
			if (!(cfg[0] & 1))
				continue;
			size = len + cfg[3] * (uint64_t)(cfg[4] + 1);
			exact = false;
		}
		memset(&l, 0x5a, sizeof(l));
		rc = b64_layout_probe(body, h, body + len - t, t, size, &l);
		FUZZ_CHECK(rc == 0 || rc == -EINVAL, "b64_layout_probe() = %d", rc);
		if (attempt == 0 && strict && len > B64_PROBE_BYTES && st.line_chars + st.eol <= 200 &&
		    st.trailing <= 100)
			FUZZ_CHECK(rc == 0,
				   "probe refused a uniform body: %zu bytes, L %u, eol %u, "
				   "%" PRIu64 " chars, %zu trailing blanks",
				   len, st.line_chars, st.eol, st.chars, st.trailing);
		if (rc)
			continue;
		FUZZ_CHECK(l.encoded_size == size, "encoded_size %" PRIu64 " for %" PRIu64,
			   l.encoded_size, size);
		FUZZ_CHECK(l.eol <= 2, "eol %u", l.eol);
		bool compare = exact && (len <= B64_PROBE_BYTES || strict);

		if (exact && len <= B64_PROBE_BYTES)
			FUZZ_CHECK(l.decoded_size == fulllen,
				   "small body: decoded_size %" PRIu64 ", decodes to %zu",
				   l.decoded_size, fulllen);
		if (exact && strict && len > B64_PROBE_BYTES) {
			FUZZ_CHECK(l.decoded_size == fulllen,
				   "uniform body: decoded_size %" PRIu64 ", decodes to %zu",
				   l.decoded_size, fulllen);
			FUZZ_CHECK(l.line_chars == st.line_chars && l.eol == st.eol &&
					   l.chars == st.chars,
				   "probe says L %u eol %u chars %" PRIu64 ", body has %u %u %" PRIu64,
				   l.line_chars, l.eol, l.chars, st.line_chars, st.eol, st.chars);
		}
		uint64_t ds = l.decoded_size;
		uint64_t a = ds ? (cfg[5] | (uint64_t)cfg[6] << 8) % (ds + 1) : 0;
		uint64_t n = 1 + cfg[7] * 7u;

		check_range(&l, body, len, full, fulllen, 0, 1, compare);
		check_range(&l, body, len, full, fulllen, 0, ds, compare);
		check_range(&l, body, len, full, fulllen, ds ? ds - 1 : 0, 1, compare);
		check_range(&l, body, len, full, fulllen, a, n, compare);
		check_range(&l, body, len, full, fulllen, a, 0, compare);
		check_range(&l, body, len, full, fulllen, ds / 2, ds, compare);
		check_range(&l, body, len, full, fulllen, ds + 5, 3, compare);
		check_range(&l, body, len, full, fulllen, UINT64_MAX - 1, UINT64_MAX, compare);
	}
	free(full);
}

/* ---- Headers and charsets ----------------------------------------------- */

static void check_text(const char *what, const char *arg, const char *s, bool no_controls)
{
	size_t n;

	FUZZ_CHECK(s, "%s(%s) = NULL", what, arg);
	n = strlen(s);
	FUZZ_CHECK(fuzz_utf8_valid(s, n), "%s(%s) = \"%s\": not UTF-8", what, arg, fuzz_show(s, n));
	if (!no_controls)
		return;
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(((unsigned char)s[i] >= 0x20 && s[i] != 0x7f) || s[i] == '\t',
			   "%s(%s) = \"%s\" has control 0x%02x", what, arg, fuzz_show(s, n),
			   (unsigned char)s[i]);
}

static void check_header(const char *body, size_t len)
{
	static const char *const fields[] = { "Subject", "content-type", "From", "X-Raw" };
	char name[65], *v, *dec;
	size_t n = 0;

	dec = mime_header_decode(body, len);
	check_text("mime_header_decode", "input", dec, true);
	free(dec);

	/* The name before the first ':', if it is a plausible one. */
	while (n < len && n < sizeof(name) - 1 && body[n] != ':' && body[n] != '\0' &&
	       body[n] != '\n')
		n++;
	name[n] = '\0';
	if (n < len && body[n] == ':')
		memcpy(name, body, n);
	else
		n = 0;
	for (size_t i = 0; i <= sizeof(fields) / sizeof(fields[0]); i++) {
		const char *f = i < sizeof(fields) / sizeof(fields[0]) ? fields[i] : name;
		size_t vl;

		if (!*f)
			continue;
		v = mime_header_field(body, len, f);
		if (!v)
			continue;
		vl = strlen(v);
		check_text("mime_header_field", f, v, false);
		FUZZ_CHECK(!memchr(v, '\n', vl), "field %s = \"%s\" not unfolded", f,
			   fuzz_show(v, vl));
		FUZZ_CHECK(!vl || (v[0] != ' ' && v[0] != '\t' && v[vl - 1] != ' ' &&
				   v[vl - 1] != '\t'),
			   "field %s = \"%s\" not trimmed", f, fuzz_show(v, vl));
		/* As store/parts.c reads a header value. */
		dec = mime_header_decode(v, vl);
		check_text("mime_header_decode", f, dec, true);
		free(dec);
		free(v);
	}
}

static void check_charset(const uint8_t *cfg, const char *body, size_t len)
{
	static const char *const charsets[] = {
		NULL, "utf-8", "iso-8859-1", "windows-1252", "koi8-r", "iso-2022-jp",
		"shift_jis", "euc-jp", "utf-16le", "gb2312", "UTF-7", "utf-32", "us-ascii",
		"big5", "iso-8859-15", "x-unknown",
	};
	char cs[41];
	size_t n = 0;
	char *out;

	out = mime_charset_to_utf8(charsets[cfg[0] >> 4], body, len);
	check_text("mime_charset_to_utf8", charsets[cfg[0] >> 4] ? charsets[cfg[0] >> 4] : "NULL",
		   out, false);
	free(out);

	/* The charset named by the first line, the rest converted. */
	while (n < len && n < sizeof(cs) - 1 && body[n] != '\n' && body[n] != '\0')
		n++;
	if (n == len || body[n] != '\n')
		return;
	memcpy(cs, body, n);
	cs[n] = '\0';
	out = mime_charset_to_utf8(cs, body + n + 1, len - n - 1);
	check_text("mime_charset_to_utf8", fuzz_show(cs, n), out, false);
	free(out);
}

/* Lines "name=value" as Content-Type parameters. */
static void check_params(const char *body, size_t len)
{
	struct mime_param ps[16];
	char *copy = fuzz_strndup((const uint8_t *)body, len), *line = copy, *v;
	size_t n = 0;

	while (line && n < 16) {
		char *nl = strchr(line, '\n'), *eq = strchr(line, '=');

		if (nl)
			*nl = '\0';
		if (eq && eq != line) {
			*eq = '\0';
			ps[n].name = line;
			ps[n].value = eq + 1;
			n++;
		}
		line = nl ? nl + 1 : NULL;
	}
	if (n) {
		static const char *const names[] = { "filename", "name", "charset" };

		for (size_t i = 0; i <= 3; i++) {
			const char *nm = i < 3 ? names[i] : ps[0].name;

			v = mime_param_get(ps, n, nm);
			if (v)
				check_text("mime_param_get", nm, v, false);
			free(v);
		}
	}
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body;
	size_t len;

	if (size < CONFIG_BYTES)
		return 0;
	body = (const char *)data + CONFIG_BYTES;
	len = size - CONFIG_BYTES;

	check_decode(body, len);
	check_cte_names(body, len);
	check_layout(data, body, len);
	check_header(body, len);
	check_charset(data, body, len);
	check_params(body, len);
	return 0;
}
