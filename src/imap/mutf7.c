/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Modified UTF-7 (RFC 3501 §5.1.3).
 *
 * Decoding is strict on purpose: a mailbox name is an identity, so every
 * accepted spelling must be the one spelling the encoder produces, i.e.
 * utf8_to_mutf7(mutf7_to_utf8(s)) == s for every s that decodes. Were two
 * spellings accepted, one mailbox could appear as two directories, or two
 * mailboxes as one.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "imap/mutf7.h"

/* RFC 2045 base64 with ',' instead of '/', and no '=' padding. */
static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* Bits carried between base64 characters, at most 16 + 5 of them. */
struct b64_state {
	uint32_t bits;
	unsigned nbits;
};

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

/* The characters that must represent themselves and may never be shifted. */
static bool is_printable(uint32_t c)
{
	return c >= 0x20 && c <= 0x7e;
}

static bool is_high_surrogate(uint32_t u)
{
	return u >= 0xd800 && u <= 0xdbff;
}

static bool is_low_surrogate(uint32_t u)
{
	return u >= 0xdc00 && u <= 0xdfff;
}

static char *put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		*out++ = (char)cp;
	} else if (cp < 0x800) {
		*out++ = (char)(0xc0 | cp >> 6);
		*out++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*out++ = (char)(0xe0 | cp >> 12);
		*out++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*out++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*out++ = (char)(0xf0 | cp >> 18);
		*out++ = (char)(0x80 | (cp >> 12 & 0x3f));
		*out++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*out++ = (char)(0x80 | (cp & 0x3f));
	}
	return out;
}

/*
 * Decodes one well-formed UTF-8 sequence at s[*pos] and advances *pos.
 * Returns the code point, or -1 for anything ill-formed: a bad lead or
 * continuation byte, a truncated sequence, an overlong form, a surrogate or
 * a value above U+10FFFF.
 */
static int32_t next_utf8(const unsigned char *s, size_t len, size_t *pos)
{
	unsigned char c = s[*pos];
	uint32_t cp, min;
	unsigned n, i;

	if (c < 0x80) {
		*pos += 1;
		return c;
	} else if ((c & 0xe0) == 0xc0) {
		n = 1;
		cp = c & 0x1f;
		min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 2;
		cp = c & 0x0f;
		min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 3;
		cp = c & 0x07;
		min = 0x10000;
	} else {
		return -1;
	}
	if (len - *pos <= n)
		return -1;
	for (i = 1; i <= n; i++) {
		c = s[*pos + i];
		if ((c & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (c & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || is_high_surrogate(cp) ||
	    is_low_surrogate(cp))
		return -1;
	*pos += n + 1;
	return (int32_t)cp;
}

/*
 * Decodes the base64 part of a shift: s[*pos] is the character after '&'.
 * On success *pos is past the closing '-'.
 */
static int decode_shift(const unsigned char *s, size_t len, size_t *pos,
			char **out)
{
	struct b64_state st = { 0, 0 };
	uint32_t high = 0;
	size_t i;

	for (i = *pos; i < len && s[i] != '-'; i++) {
		int v = b64_value(s[i]);
		uint32_t u;

		if (v < 0)
			return -EINVAL;
		st.bits = st.bits << 6 | (uint32_t)v;
		st.nbits += 6;
		if (st.nbits < 16)
			continue;
		st.nbits -= 16;
		u = st.bits >> st.nbits & 0xffff;
		st.bits &= (1u << st.nbits) - 1;

		if (high) {
			if (!is_low_surrogate(u))
				return -EINVAL;
			*out = put_utf8(*out, 0x10000 + ((high - 0xd800) << 10) +
					      (u - 0xdc00));
			high = 0;
		} else if (is_high_surrogate(u)) {
			high = u;
		} else if (is_low_surrogate(u) || u == 0 || is_printable(u)) {
			return -EINVAL;
		} else {
			*out = put_utf8(*out, u);
		}
	}
	/*
	 * Unterminated, a dangling high surrogate, a whole base64 character
	 * that carries no UTF-16 unit (non-minimal) or non-zero padding bits.
	 */
	if (i == len || high || st.nbits >= 6 || st.bits)
		return -EINVAL;
	*pos = i + 1;
	return 0;
}

char *mutf7_to_utf8(const char *mutf7, size_t len)
{
	const unsigned char *s = (const unsigned char *)mutf7;
	size_t i = 0, shift_end = SIZE_MAX;
	char *res, *out;
	int err;

	/*
	 * 16 bits of UTF-16 take at least 8/3 base64 characters and give at
	 * most 3 bytes of UTF-8 (a surrogate pair: 32 bits, 4 bytes), so the
	 * output is at most 9/8 of the input.
	 */
	if (len > (SIZE_MAX - 2) / 9 * 8) {
		errno = ENOMEM;
		return NULL;
	}
	res = malloc(len + len / 8 + 2);
	if (!res)
		return NULL;
	out = res;

	while (i < len) {
		unsigned char c = s[i];

		/* NUL, controls and 8-bit bytes may only appear shifted. */
		if (!is_printable(c)) {
			err = -EINVAL;
			goto fail;
		}
		if (c != '&') {
			*out++ = (char)c;
			i++;
			continue;
		}
		if (i + 1 < len && s[i + 1] == '-') {
			*out++ = '&';
			i += 2;
			continue;
		}
		/* Back-to-back shifts should have been one. */
		if (i == shift_end) {
			err = -EINVAL;
			goto fail;
		}
		i++;
		err = decode_shift(s, len, &i, &out);
		if (err)
			goto fail;
		shift_end = i;
	}
	*out = '\0';
	return res;

fail:
	free(res);
	errno = -err;
	return NULL;
}

static char *put_unit(char *out, struct b64_state *st, uint32_t unit)
{
	st->bits = st->bits << 16 | unit;
	st->nbits += 16;
	while (st->nbits >= 6) {
		st->nbits -= 6;
		*out++ = b64_alphabet[st->bits >> st->nbits & 0x3f];
	}
	st->bits &= (1u << st->nbits) - 1;
	return out;
}

static char *end_shift(char *out, struct b64_state *st)
{
	if (st->nbits)
		*out++ = b64_alphabet[st->bits << (6 - st->nbits) & 0x3f];
	*out++ = '-';
	st->bits = 0;
	st->nbits = 0;
	return out;
}

char *utf8_to_mutf7(const char *utf8, size_t len)
{
	const unsigned char *s = (const unsigned char *)utf8;
	struct b64_state st = { 0, 0 };
	bool shifted = false;
	char *res, *out;
	size_t i = 0;

	/*
	 * The worst case is a lone control character between printable
	 * ones: one byte becomes "&AAE-".
	 */
	if (len > (SIZE_MAX - 1) / 5) {
		errno = ENOMEM;
		return NULL;
	}
	res = malloc(len * 5 + 1);
	if (!res)
		return NULL;
	out = res;

	while (i < len) {
		int32_t cp = next_utf8(s, len, &i);

		if (cp <= 0) {
			free(res);
			errno = EINVAL;
			return NULL;
		}
		if (is_printable((uint32_t)cp)) {
			if (shifted) {
				out = end_shift(out, &st);
				shifted = false;
			}
			*out++ = (char)cp;
			if (cp == '&')
				*out++ = '-';
			continue;
		}
		if (!shifted) {
			*out++ = '&';
			shifted = true;
		}
		if (cp >= 0x10000) {
			uint32_t v = (uint32_t)cp - 0x10000;

			out = put_unit(out, &st, 0xd800 | v >> 10);
			out = put_unit(out, &st, 0xdc00 | (v & 0x3ff));
		} else {
			out = put_unit(out, &st, (uint32_t)cp);
		}
	}
	if (shifted)
		out = end_shift(out, &st);
	*out = '\0';
	return res;
}
