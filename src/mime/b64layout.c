/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Random access into a base64 body without decoding all of it.
 *
 * The model: lines 0..N-1 of exactly L alphabet characters, each followed by
 * the same line ending, at byte offsets that are multiples of L + eol; then a
 * final data line of 1..L characters starting on such a multiple, its last
 * one or two possibly '='; then nothing but whitespace (its own line ending,
 * blank lines, stray spaces). The first line in head gives L and the line
 * ending; the last non-blank byte in tail gives the final line, since it
 * starts on the multiple of L + eol at or below it. Then every byte of head
 * and tail is checked against what the model puts at its offset, which also
 * proves the tail's lines line up with head's. What lies between head and
 * tail is not seen: a body broken only there is caught when it is read whole.
 *
 * Bodies of at most B64_PROBE_BYTES are in head entirely; they are decoded,
 * whatever their shape, and mapped as one range.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "mime/b64layout.h"
#include "mime/decode.h"

/* The most '=' a final group can carry. */
#define MAX_PADS 2

struct shape {
	uint64_t size;        /* encoded bytes */
	uint32_t line_chars;  /* L */
	uint32_t eol;         /* 1 or 2 */
	uint64_t final_start; /* offset of the final data line */
	uint64_t final_len;   /* its bytes, padding included */
	uint32_t pads;        /* '=' ending it */
};

static bool is_alphabet(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

static bool is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* L and the line ending from the first line, which must end within head. */
static int first_line(const unsigned char *head, size_t headlen, struct shape *s)
{
	size_t i;

	for (i = 0; i < headlen && head[i] != '\n'; i++)
		;
	if (i == headlen)
		return -EINVAL;
	if (i > 0 && head[i - 1] == '\r') {
		s->eol = 2;
		s->line_chars = (uint32_t)(i - 1);
	} else {
		s->eol = 1;
		s->line_chars = (uint32_t)i;
	}
	return s->line_chars ? 0 : -EINVAL;
}

/*
 * The final data line ends at the last non-blank byte and starts on the line
 * boundary at or below it; all of it must be in tail to be checked.
 */
static int final_line(const unsigned char *tail, size_t taillen, struct shape *s)
{
	uint64_t tail_start = s->size - taillen, last, stride = (uint64_t)s->line_chars + s->eol;
	size_t i = taillen;

	while (i > 0 && is_blank(tail[i - 1]))
		i--;
	if (i == 0)
		return -EINVAL;
	last = tail_start + i - 1;
	s->final_start = last - last % stride;
	s->final_len = last + 1 - s->final_start;
	if (s->final_len > s->line_chars || s->final_start < tail_start)
		return -EINVAL;
	for (s->pads = 0; s->pads < s->final_len && tail[i - 1 - s->pads] == '='; s->pads++)
		;
	return s->pads <= MAX_PADS ? 0 : -EINVAL;
}

/* Whether the model allows byte c at offset x. */
static bool fits(const struct shape *s, uint64_t x, unsigned char c)
{
	uint64_t col;

	if (x < s->final_start) {
		col = x % ((uint64_t)s->line_chars + s->eol);
		if (col < s->line_chars)
			return is_alphabet(c);
		if (s->eol == 2 && col == s->line_chars)
			return c == '\r';
		return c == '\n';
	}
	if (x < s->final_start + s->final_len - s->pads)
		return is_alphabet(c);
	if (x < s->final_start + s->final_len)
		return c == '=';
	return is_blank(c);
}

static bool all_fit(const struct shape *s, const unsigned char *buf, size_t len, uint64_t at)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!fits(s, at + i, buf[i]))
			return false;
	return true;
}

/*
 * The line before the final one must be seen whole, or nothing shows that
 * tail's line boundaries are where head's predict.
 */
static bool line_before_final_seen(const struct shape *s, size_t headlen, size_t taillen)
{
	uint64_t stride = (uint64_t)s->line_chars + s->eol, tail_start = s->size - taillen;

	if (s->final_start == 0 || tail_start <= headlen)
		return true;
	return s->final_start - stride >= tail_start;
}

/* Chars before any '=', for the record; the size is the decoder's own. */
static int probe_whole(const char *body, size_t len, struct b64_layout *out)
{
	struct shape s = { 0 };
	char *dec;
	size_t declen, i;
	int rc;

	rc = mime_decode(MIME_CTE_BASE64, body, len, &dec, &declen);
	if (rc < 0)
		return rc;
	free(dec);
	out->encoded_size = len;
	out->decoded_size = declen;
	out->chars = 0;
	for (i = 0; i < len && body[i] != '='; i++)
		out->chars += is_alphabet((unsigned char)body[i]);
	/* A body of one unended line has no line ending to report: eol is 0. */
	if (first_line((const unsigned char *)body, len, &s) == 0) {
		out->line_chars = s.line_chars;
		out->eol = s.eol;
	} else {
		out->line_chars = (uint32_t)len;
		out->eol = 0;
	}
	return 0;
}

int b64_layout_probe(const char *head, size_t headlen, const char *tail, size_t taillen,
		     uint64_t encoded_size, struct b64_layout *out)
{
	const unsigned char *h = (const unsigned char *)head, *t = (const unsigned char *)tail;
	struct shape s = { .size = encoded_size };
	uint64_t chars;

	if (headlen > encoded_size || taillen > encoded_size)
		return -EINVAL;
	if (encoded_size <= B64_PROBE_BYTES) {
		if (headlen != encoded_size)
			return -EINVAL;
		return probe_whole(head, headlen, out);
	}
	if (first_line(h, headlen, &s) < 0 || final_line(t, taillen, &s) < 0)
		return -EINVAL;
	if (!all_fit(&s, h, headlen, 0) || !all_fit(&s, t, taillen, encoded_size - taillen) ||
	    !line_before_final_seen(&s, headlen, taillen))
		return -EINVAL;
	chars = s.final_start / ((uint64_t)s.line_chars + s.eol) * s.line_chars + s.final_len -
		s.pads;
	/* One character over a group decodes to nothing the map could place. */
	if (chars % 4 == 1)
		return -EINVAL;
	out->encoded_size = encoded_size;
	out->line_chars = s.line_chars;
	out->eol = s.eol;
	out->chars = chars;
	out->decoded_size = chars / 4 * 3 + (chars % 4 ? chars % 4 - 1 : 0);
	return 0;
}

/* Byte offset of base64 character c. */
static uint64_t char_offset(const struct b64_layout *l, uint64_t c)
{
	return c / l->line_chars * ((uint64_t)l->line_chars + l->eol) + c % l->line_chars;
}

void b64_layout_map(const struct b64_layout *l, uint64_t off, uint64_t len, uint64_t *enc_off,
		    uint64_t *enc_len, uint32_t *skip)
{
	uint64_t first, last, end;

	if (off > l->decoded_size)
		off = l->decoded_size;
	if (len > l->decoded_size - off)
		len = l->decoded_size - off;
	/* A small body is fetched whole: its shape was never required to fit. */
	if (l->encoded_size <= B64_PROBE_BYTES) {
		*enc_off = 0;
		*enc_len = len ? l->encoded_size : 0;
		*skip = (uint32_t)off;
		return;
	}
	first = off / 3;
	*skip = (uint32_t)(off - first * 3);
	*enc_off = char_offset(l, first * 4);
	if (*enc_off > l->encoded_size)
		*enc_off = l->encoded_size;
	if (!len) {
		*enc_len = 0;
		return;
	}
	/*
	 * Through the end of the last group, padding included; past the data
	 * the formula lands on line endings or blanks, which decode to
	 * nothing, or beyond the body, hence the clip.
	 */
	last = (off + len - 1) / 3;
	end = char_offset(l, last * 4 + 3) + 1;
	if (end > l->encoded_size)
		end = l->encoded_size;
	*enc_len = end - *enc_off;
}
