/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stage 1 of the incremental IMAP response parser (RFC 3501 §9, RFC 9051 §9,
 * RFC 3516), framing, and the parser's public interface; stage 2 is in
 * response.c, and what they share in parser_internal.h.
 *
 * Framing copies bytes into p->in until one whole response is there: a line,
 * and whenever a line ends in a literal marker "{n}", "{n+}" or "~{n}",
 * exactly n bytes of data and another line. It looks only for LF in the
 * input and, at each line end, backwards for a marker; literal data is never
 * looked at, so a big literal costs one memcpy(). Where each literal is goes
 * to a side table, and every literal is followed in p->in by one NUL byte the
 * server never sent, so that a literal is a C string in place.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/parser.h"
#include "imap/parser_internal.h"

const struct imap_parser_limits imap_parser_default_limits = {
	.max_literal = (size_t)256 << 20,
	.max_response = (size_t)264 << 20,
	.max_depth = 64,
	.max_values = (size_t)2 << 20,
};

/* From this many literal bytes on, a response takes over the stage-1 buffer. */
#define ZERO_COPY_MIN	((size_t)16 << 10)
/* A stage-1 buffer bigger than this is not kept for the next response. */
#define KEEP_BUF_MAX	((size_t)64 << 10)
/* Nor is a stage-2 scratch stack with more entries than this. */
#define KEEP_STACK_MAX	((size_t)4096)
/* A response taking the stage-1 buffer over gives back more slack than this. */
#define SHRINK_MIN	((size_t)1024)
/* Room reserved after a literal for the rest of the response's line. */
#define LITERAL_SLACK	((size_t)256)

static size_t sat_add(size_t a, size_t b)
{
	return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/* ---- Stage 1: framing -------------------------------------------------- */

static void frame_reset(struct imap_parser *p)
{
	if (p->in.cap > KEEP_BUF_MAX)
		buf_free(&p->in);
	if (p->stack_cap > KEEP_STACK_MAX) {
		free(p->stack);
		p->stack = NULL;
		p->stack_cap = 0;
	}
	if (p->frames_cap > KEEP_STACK_MAX) {
		free(p->frames);
		p->frames = NULL;
		p->frames_cap = 0;
	}
	buf_reset(&p->in);
	p->seg = 0;
	p->bytes = 0;
	p->lit_left = 0;
	p->lit_bytes = 0;
	p->nlits = 0;
	p->nstack = 0;
	p->nframes = 0;
	p->state = FRAME_LINE;
}

static int complete(struct imap_parser *p, size_t end)
{
	bool zero_copy = p->lit_bytes >= ZERO_COPY_MIN;
	int ret;

	/*
	 * Before parsing, as literal strings will point into the buffer; a
	 * failure only leaves the slack in place.
	 */
	if (zero_copy && p->in.cap - p->in.len > SHRINK_MIN)
		buf_shrink(&p->in);
	ret = imap_response_parse(p, end, zero_copy, &p->done);
	if (ret < 0)
		return ret;
	frame_reset(p);
	return 0;
}

/*
 * Room for extra more bytes: doubling, but not far beyond what max_response
 * allows, or exactly (for a literal, whose size is known).
 */
static int reserve(struct imap_parser *p, size_t extra, bool exact)
{
	size_t ceiling = exact ? 0 : sat_add(p->lim.max_response, p->nlits + 2);

	if (buf_reserve_max(&p->in, extra, ceiling) < 0)
		return imap_parser_set_error(p, -ENOMEM, "out of memory");
	return 0;
}

/*
 * Looks for a literal marker "{digits}" or "{digits+}", possibly after "~",
 * at the end of the line buf[seg..end). Returns 1 and fills *lit if there is
 * one, 0 if not, or a negative errno if its size cannot be honoured. Sizes
 * are checked against the limits here, before anything is allocated for them.
 *
 * Anything else in braces, "{}", "{-1}", "{12a}", is not a marker: the line
 * ends the response, and stage 2 rejects the '{' unless it is inside text,
 * where a server may well put braces.
 */
static int find_literal(struct imap_parser *p, size_t end, struct literal *lit)
{
	const char *b = p->in.data;
	size_t i = end, digits_end, brace;
	uint64_t n = 0;

	if (i == p->seg || b[i - 1] != '}')
		return 0;
	i--;
	if (i > p->seg && b[i - 1] == '+')
		i--;
	digits_end = i;
	while (i > p->seg && imap_is_digit((unsigned char)b[i - 1]))
		i--;
	if (i == digits_end || i == p->seg || b[i - 1] != '{')
		return 0;
	brace = i - 1;
	for (; i < digits_end; i++) {
		unsigned d = (unsigned)(b[i] - '0');

		if (n > (UINT64_MAX - d) / 10)
			return imap_parser_set_error(p, -E2BIG, "literal size overflows");
		n = n * 10 + d;
	}
	if (n > p->lim.max_literal)
		return imap_parser_set_error(p, -E2BIG,
					     "literal of %" PRIu64 " bytes exceeds the limit of %zu",
					     n, p->lim.max_literal);
	if (n > p->lim.max_response - p->bytes)
		return imap_parser_set_error(p, -E2BIG,
					     "response exceeds the limit of %zu bytes",
					     p->lim.max_response);

	lit->lit8 = brace > p->seg && b[brace - 1] == '~';
	lit->marker = lit->lit8 ? brace - 1 : brace;
	lit->len = (size_t)n;
	return 1;
}

static void finish_literal(struct imap_parser *p)
{
	/* Room for this NUL was reserved in start_literal(). */
	p->in.data[p->in.len++] = '\0';
	p->seg = p->in.len;
	p->state = FRAME_LINE;
}

static int start_literal(struct imap_parser *p, struct literal *lit)
{
	int ret;

	/* Each literal is a value; "{0}" costs the server little, us more. */
	if (p->nlits >= p->lim.max_values)
		return imap_parser_set_error(p, -E2BIG, "too many values");
	if (p->nlits == p->lits_cap) {
		size_t cap = p->lits_cap ? p->lits_cap * 2 : 8;
		struct literal *l;

		if (cap > SIZE_MAX / sizeof(*l))
			return imap_parser_set_error(p, -ENOMEM, "out of memory");
		l = realloc(p->lits, cap * sizeof(*l));
		if (!l)
			return imap_parser_set_error(p, -ENOMEM, "out of memory");
		p->lits = l;
		p->lits_cap = cap;
	}
	/* All of it at once, so the data is copied in without reallocations. */
	if (lit->len > SIZE_MAX - 1 - LITERAL_SLACK)
		return imap_parser_set_error(p, -ENOMEM, "out of memory");
	ret = reserve(p, lit->len + 1 + LITERAL_SLACK, true);
	if (ret < 0)
		return ret;
	lit->off = p->in.len;
	p->lits[p->nlits++] = *lit;
	p->lit_left = lit->len;
	p->lit_bytes += lit->len;
	p->state = FRAME_LITERAL;
	if (!lit->len)
		finish_literal(p);
	return 0;
}

static int end_of_line(struct imap_parser *p)
{
	size_t end = p->in.len - 1;
	struct literal lit;
	int ret;

	if (end > p->seg && p->in.data[end - 1] == '\r')
		end--;
	ret = find_literal(p, end, &lit);
	if (ret < 0)
		return ret;
	if (ret > 0)
		return start_literal(p, &lit);
	if (!end) {
		/* A blank line between responses carries nothing: drop it. */
		buf_reset(&p->in);
		p->bytes = 0;
		return 0;
	}
	return complete(p, end);
}

static int feed_line(struct imap_parser *p, const char *data, size_t len,
		     size_t *used)
{
	size_t avail = p->lim.max_response - p->bytes;
	size_t look = len < avail ? len : avail;
	const char *lf = memchr(data, '\n', look);
	size_t n;
	int ret;

	if (!lf && look < len)
		return imap_parser_set_error(p, -E2BIG,
					     "response exceeds the limit of %zu bytes",
					     p->lim.max_response);
	n = lf ? (size_t)(lf - data) + 1 : len;
	ret = reserve(p, n, false);
	if (ret < 0)
		return ret;
	memcpy(p->in.data + p->in.len, data, n);
	p->in.len += n;
	p->bytes += n;
	*used = n;
	return lf ? end_of_line(p) : 0;
}

static void feed_literal(struct imap_parser *p, const char *data, size_t len,
			 size_t *used)
{
	size_t n = len < p->lit_left ? len : p->lit_left;

	/* Room was reserved in start_literal(), and limits checked there. */
	memcpy(p->in.data + p->in.len, data, n);
	p->in.len += n;
	p->bytes += n;
	p->lit_left -= n;
	*used = n;
	if (!p->lit_left)
		finish_literal(p);
}

/* ---- Public interface --------------------------------------------------- */

struct imap_parser *imap_parser_new(const struct imap_parser_limits *limits)
{
	struct imap_parser *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->lim = limits ? *limits : imap_parser_default_limits;
	buf_init(&p->in);
	p->state = FRAME_LINE;
	return p;
}

void imap_parser_free(struct imap_parser *p)
{
	if (!p)
		return;
	imap_response_free(p->done);
	buf_free(&p->in);
	free(p->lits);
	free(p->stack);
	free(p->frames);
	free(p);
}

ssize_t imap_parser_feed(struct imap_parser *p, const char *buf, size_t len)
{
	size_t used = 0, n;
	int ret;

	if (p->state == FRAME_FAILED)
		return p->err;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	while (used < len && !p->done) {
		n = 0;
		ret = 0;
		if (p->state == FRAME_LITERAL)
			feed_literal(p, buf + used, len - used, &n);
		else
			ret = feed_line(p, buf + used, len - used, &n);
		if (ret < 0) {
			p->state = FRAME_FAILED;
			p->err = ret;
			return ret;
		}
		used += n;
	}
	return (ssize_t)used;
}

struct imap_response *imap_parser_take(struct imap_parser *p)
{
	struct imap_response *r = p->done;

	p->done = NULL;
	return r;
}

bool imap_parser_pending(const struct imap_parser *p)
{
	return p->in.len > 0;
}

const char *imap_parser_error(const struct imap_parser *p)
{
	return p->state == FRAME_FAILED ? p->errbuf : "no error";
}

void imap_parser_reset(struct imap_parser *p)
{
	imap_response_free(p->done);
	p->done = NULL;
	p->err = 0;
	p->errbuf[0] = '\0';
	frame_reset(p);
}
