/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the two halves of the response parser share; nothing outside
 * parser.c and response.c includes this.
 *
 * parser.c owns stage 1, framing: it copies bytes into p->in until one whole
 * response is there, finds the literals, enforces the limits on sizes, and
 * is the public feed/take interface. response.c owns stage 2, parsing: one
 * complete response into values in an arena, the struct imap_response the
 * caller gets, and the helpers for walking values.
 *
 * The hand-over, imap_response_parse(): p->in.data[0..end) is one response
 * (end is the offset of the CR or LF that ends it). lits[0..nlits) list its
 * literals in order, each marker at the end of a line, each literal's data
 * followed in p->in by one NUL byte the server never sent, and every size
 * already checked against p->lim. Stage 2 reads the text only through these:
 * it never looks into literal data.
 */
#ifndef IMAPFS_IMAP_PARSER_INTERNAL_H
#define IMAPFS_IMAP_PARSER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "imap/parser.h"
#include "util/buf.h"

struct literal {
	size_t marker;	/* offset of "{" or "~{" in the buffer */
	size_t off;	/* offset of the first data byte in the buffer */
	size_t len;
	bool lit8;
};

enum frame_state {
	FRAME_LINE,
	FRAME_LITERAL,
	FRAME_FAILED,
};

struct imap_parser {
	struct imap_parser_limits lim;
	enum frame_state state;
	int err;

	/* Stage 1: the response being framed. */
	struct buf in;
	size_t seg;		/* start of the line being read */
	size_t bytes;		/* server bytes so far, without our NUL gaps */
	size_t lit_left;	/* FRAME_LITERAL: data bytes still to come */
	size_t lit_bytes;	/* sum of the literals' lengths */
	struct literal *lits;
	size_t nlits;
	size_t lits_cap;

	/* Stage 2 scratch, kept between responses to save malloc calls. */
	struct imap_value *stack;
	size_t nstack;
	size_t stack_cap;
	size_t *frames;		/* where each open list starts in stack */
	size_t nframes;
	size_t frames_cap;

	struct imap_response *done;
	char errbuf[160];
};

/* Records the reason of a failure for imap_parser_error(); returns err. */
int imap_parser_set_error(struct imap_parser *p, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Stage 2 on the response framed in p (see above). On success *out is the
 * new response, owned by the caller. With zero_copy, literal strings point
 * into p->in.data and the response takes that buffer over, leaving p->in
 * empty; otherwise they are copied, and p->in is untouched. Uses and leaves
 * behind p's scratch stacks. Returns 0, or -EPROTO, -E2BIG or -ENOMEM with
 * the reason recorded in p.
 */
int imap_response_parse(struct imap_parser *p, size_t end, bool zero_copy,
			struct imap_response **out);

static inline bool imap_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

#endif
