/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Content-Transfer-Encoding decoding (RFC 2045 §6).
 *
 * The reference is what Python's email package returns from
 * Message.get_payload(decode=True), since that is what a user's other tools
 * show and what the integration tests compare with:
 *
 * - base64: email._encoded_words.decode_b() of the body with its CRs and LFs
 *   removed. It tries binascii.a2b_base64() strictly, then leniently, then
 *   leniently with "==" appended. Padding never produces bytes, so whichever
 *   attempt succeeds the bytes are those of the lenient decoder run over the
 *   body; only when all three fail (a lone character left over in the last
 *   group) does it give up and return the body itself, minus CR and LF.
 * - quoted-printable: quopri.decodestring(), i.e. binascii.a2b_qp() with
 *   header=False, quirks included.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mime/decode.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static bool name_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && !strncasecmp(name, want, len);
}

enum mime_cte mime_cte_from_name(const char *name)
{
	size_t len;

	if (!name)
		return MIME_CTE_IDENTITY;
	while (is_space(*name))
		name++;
	len = strlen(name);
	while (len && is_space(name[len - 1]))
		len--;
	if (!len || name_is(name, len, "7bit") || name_is(name, len, "8bit") ||
	    name_is(name, len, "binary"))
		return MIME_CTE_IDENTITY;
	if (name_is(name, len, "base64"))
		return MIME_CTE_BASE64;
	if (name_is(name, len, "quoted-printable"))
		return MIME_CTE_QP;
	return MIME_CTE_UNKNOWN;
}

/*
 * One lookup per input byte: B64_DIGIT | value for the alphabet, B64_PAD for
 * '=', 0 for everything else (skipped). A flag bit rather than a sentinel lets
 * the fast path test four characters with one AND.
 */
#define B64_DIGIT 0x40
#define B64_PAD 0x80
#define D(c, v) [c] = B64_DIGIT | (v)

static const unsigned char b64_table[256] = {
	D('A', 0),  D('B', 1),  D('C', 2),  D('D', 3),  D('E', 4),  D('F', 5),  D('G', 6),
	D('H', 7),  D('I', 8),  D('J', 9),  D('K', 10), D('L', 11), D('M', 12), D('N', 13),
	D('O', 14), D('P', 15), D('Q', 16), D('R', 17), D('S', 18), D('T', 19), D('U', 20),
	D('V', 21), D('W', 22), D('X', 23), D('Y', 24), D('Z', 25), D('a', 26), D('b', 27),
	D('c', 28), D('d', 29), D('e', 30), D('f', 31), D('g', 32), D('h', 33), D('i', 34),
	D('j', 35), D('k', 36), D('l', 37), D('m', 38), D('n', 39), D('o', 40), D('p', 41),
	D('q', 42), D('r', 43), D('s', 44), D('t', 45), D('u', 46), D('v', 47), D('w', 48),
	D('x', 49), D('y', 50), D('z', 51), D('0', 52), D('1', 53), D('2', 54), D('3', 55),
	D('4', 56), D('5', 57), D('6', 58), D('7', 59), D('8', 60), D('9', 61), D('+', 62),
	D('/', 63), ['='] = B64_PAD,
};

#undef D

/* What decode_b() falls back to: the body with line breaks taken out. */
static size_t strip_crlf(const unsigned char *in, size_t len, unsigned char *out)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (in[i] != '\r' && in[i] != '\n')
			out[n++] = in[i];
	return n;
}

/*
 * binascii.a2b_base64() in its lenient mode, state for state: characters
 * outside the alphabet are skipped, '=' counts only once two characters of a
 * group are in, and a group completed by padding ends the data.
 */
static size_t decode_base64(const unsigned char *in, size_t len, unsigned char *out)
{
	const unsigned char *p = in, *end = in + len;
	unsigned char *o = out;
	unsigned pos = 0, pads = 0, left = 0, t;

	while (p < end) {
		/* Whole groups of four alphabet characters make up nearly every line. */
		if (pos == 0) {
			while (end - p >= 4) {
				unsigned a = b64_table[p[0]], b = b64_table[p[1]];
				unsigned c = b64_table[p[2]], d = b64_table[p[3]];
				uint32_t v;

				if (!(a & b & c & d & B64_DIGIT))
					break;
				v = (a & 63) << 18 | (b & 63) << 12 | (c & 63) << 6 | (d & 63);
				o[0] = (unsigned char)(v >> 16);
				o[1] = (unsigned char)(v >> 8);
				o[2] = (unsigned char)v;
				o += 3;
				p += 4;
			}
			if (p == end)
				break;
		}
		t = b64_table[*p++];
		if (t == B64_PAD) {
			if (pos >= 2 && pos + ++pads >= 4)
				return (size_t)(o - out);
			continue;
		}
		if (!(t & B64_DIGIT))
			continue;
		t &= 63;
		pads = 0;
		switch (pos) {
		case 0:
			left = t;
			pos = 1;
			break;
		case 1:
			*o++ = (unsigned char)(left << 2 | t >> 4);
			left = t & 0x0f;
			pos = 2;
			break;
		case 2:
			*o++ = (unsigned char)(left << 4 | t >> 2);
			left = t & 0x03;
			pos = 3;
			break;
		default:
			*o++ = (unsigned char)(left << 6 | t);
			pos = 0;
			break;
		}
	}
	/*
	 * A group cut short after two or three characters is only missing its
	 * padding, which decode_b() supplies; after one character nothing can
	 * be decoded and decode_b() returns its input.
	 */
	if (pos == 1)
		return strip_crlf(in, len, out);
	return (size_t)(o - out);
}

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * binascii.a2b_qp(header=False). Notably lenient: trailing whitespace is
 * kept, an escape that is not two hex digits (either case) stays as a literal
 * '=', a '=' ending the data vanishes, and a soft break "=\r" swallows
 * everything up to and including the next LF.
 */
static size_t decode_qp(const unsigned char *in, size_t len, unsigned char *out)
{
	size_t i = 0, n = 0;

	while (i < len) {
		const unsigned char *eq = memchr(in + i, '=', len - i);
		size_t run = eq ? (size_t)(eq - (in + i)) : len - i;
		int hi, lo;

		memcpy(out + n, in + i, run);
		n += run;
		i += run;
		if (i == len)
			break;
		if (++i == len)
			break; /* a '=' ending the data */
		if (in[i] == '\n' || in[i] == '\r') {
			if (in[i] == '\r') {
				const unsigned char *lf = memchr(in + i, '\n', len - i);

				i = lf ? (size_t)(lf - in) : len;
			}
			if (i < len)
				i++;
		} else if (in[i] == '=') {
			out[n++] = '=';
			i++;
		} else if (i + 1 < len && (hi = hex_value(in[i])) >= 0 &&
			   (lo = hex_value(in[i + 1])) >= 0) {
			out[n++] = (unsigned char)(hi << 4 | lo);
			i += 2;
		} else {
			out[n++] = '=';
		}
	}
	return n;
}

int mime_decode(enum mime_cte cte, const char *in, size_t len, char **out, size_t *outlen)
{
	const unsigned char *src = (const unsigned char *)in;
	unsigned char *buf;
	size_t n = 0;

	/* Every decoding here shrinks or keeps the size, so len bytes always do. */
	buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	if (len) {
		switch (cte) {
		case MIME_CTE_BASE64:
			n = decode_base64(src, len, buf);
			break;
		case MIME_CTE_QP:
			n = decode_qp(src, len, buf);
			break;
		case MIME_CTE_IDENTITY:
		case MIME_CTE_UNKNOWN:
		default:
			memcpy(buf, src, len);
			n = len;
			break;
		}
	}
	/* base64 leaves a quarter unused: give it back for large parts. */
	if (n < len - len / 8) {
		unsigned char *shrunk = realloc(buf, n ? n : 1);

		if (shrunk)
			buf = shrunk;
	}
	*out = (char *)buf;
	*outlen = n;
	return 0;
}
