/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Incremental IMAP response parser (RFC 3501 §9, RFC 9051 §9, RFC 3516).
 *
 * Two stages.
 *
 * Stage 1 (framing) copies bytes into p->buf until one whole response is
 * there: a line, and whenever a line ends in a literal marker "{n}", "{n+}"
 * or "~{n}", exactly n bytes of data and another line. It looks only for LF in
 * the input and, at each line end, backwards for a marker; literal data is
 * never looked at, so a big literal costs one memcpy(). Where each literal is
 * goes to a side table, and every literal is followed in p->buf by one NUL
 * byte the server never sent, so that a literal is a C string in place.
 *
 * Stage 2 parses the complete response in one pass. It is iterative (nesting
 * costs heap, not stack) and jumps over literals using the side table. Every
 * scanner stops at CR and LF, and the only CR or LF that is not the end of the
 * response comes right after a literal marker, which stage 2 consumes with a
 * jump; so stage 2 cannot wander into literal data either.
 *
 * Everything a response points to lives in one box: the struct itself, arena
 * chunks for values and strings, and, for responses with large literals, the
 * stage-1 buffer itself, so that a message body is copied only once.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/parser.h"

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
#define BUF_MIN		((size_t)1024)
/* Room reserved after a literal for the rest of the response's line. */
#define LITERAL_SLACK	((size_t)256)
#define ARENA_MIN	((size_t)512)
#define ARENA_FIRST_MAX	((size_t)1 << 20)
#define ARENA_CHUNK_MAX	((size_t)64 << 20)

struct literal {
	size_t marker;	/* offset of "{" or "~{" in buf */
	size_t off;	/* offset of the first data byte in buf */
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
	char *buf;
	size_t len;
	size_t cap;
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

struct chunk {
	struct chunk *next;
};

struct response_box {
	struct imap_response resp;	/* first: imap_response_free() casts back */
	char *buf;			/* stage-1 buffer, when literals point into it */
	struct chunk *chunks;
	uintptr_t cur;
	uintptr_t lim;
	size_t next_chunk;
};

/* Stage 2 state for one response. */
struct pstate {
	struct imap_parser *p;
	const char *b;
	size_t pos;
	size_t end;		/* the CR or LF ending the response */
	size_t li;		/* next literal in p->lits */
	size_t nvalues;
	struct response_box *box;
	bool zero_copy;		/* literal strings point into b */
};

__attribute__((format(printf, 3, 4)))
static int set_error(struct imap_parser *p, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->errbuf, sizeof(p->errbuf), fmt, ap);
	va_end(ap);
	return err;
}

static bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/*
 * RFC 3501 ATOM-CHAR, plus what real atoms contain: '\' of flags, the list
 * wildcards, ']' and 8-bit bytes.
 */
static bool is_atom_char(unsigned char c)
{
	return c > ' ' && c != 0x7f && c != '(' && c != ')' && c != '{' &&
	       c != '"';
}

/* A tag is an atom without '+', and '*' or '%' or '\' would be confusing. */
static bool is_tag_char(unsigned char c)
{
	return is_atom_char(c) && c != '%' && c != '*' && c != '\\' && c != '+';
}

static char ascii_upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

static bool ascii_eq_nocase(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ascii_upper(a[i]) != ascii_upper(b[i]))
			return false;
	return true;
}

static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (!n)
		return false;
	for (i = 0; i < n; i++) {
		unsigned d = (unsigned)((unsigned char)s[i] - '0');

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static size_t sat_add(size_t a, size_t b)
{
	return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/* ---- Response arena ---------------------------------------------------- */

static struct response_box *box_new(size_t initial)
{
	struct response_box *box = malloc(sizeof(*box) + initial);

	if (!box)
		return NULL;
	memset(box, 0, sizeof(*box));
	box->cur = (uintptr_t)(box + 1);
	box->lim = box->cur + initial;
	box->next_chunk = initial < 4096 ? 4096 : initial;
	return box;
}

static void box_free(struct response_box *box)
{
	struct chunk *c, *next;

	for (c = box->chunks; c; c = next) {
		next = c->next;
		free(c);
	}
	free(box->buf);
	free(box);
}

static uintptr_t align_up(uintptr_t x, size_t align)
{
	return (x + align - 1) & ~(uintptr_t)(align - 1);
}

static void *box_alloc(struct response_box *box, size_t size, size_t align)
{
	uintptr_t at = align_up(box->cur, align);
	struct chunk *c;
	size_t csize;

	if (at < box->cur || at > box->lim || size > box->lim - at) {
		if (size > SIZE_MAX - sizeof(*c) - align)
			return NULL;
		csize = size + sizeof(*c) + align;
		if (csize < box->next_chunk)
			csize = box->next_chunk;
		c = malloc(csize);
		if (!c)
			return NULL;
		c->next = box->chunks;
		box->chunks = c;
		/* Geometric, so a response of many values costs few mallocs. */
		if (box->next_chunk < ARENA_CHUNK_MAX)
			box->next_chunk *= 2;
		box->cur = (uintptr_t)(c + 1);
		box->lim = (uintptr_t)c + csize;
		at = align_up(box->cur, align);
	}
	box->cur = at + size;
	return (void *)at;
}

static char *box_strndup(struct response_box *box, const char *s, size_t n,
			 bool upper)
{
	char *d;
	size_t i;

	if (n == SIZE_MAX)
		return NULL;
	d = box_alloc(box, n + 1, 1);
	if (!d)
		return NULL;
	if (upper) {
		for (i = 0; i < n; i++)
			d[i] = ascii_upper(s[i]);
	} else {
		memcpy(d, s, n);
	}
	d[n] = '\0';
	return d;
}

/* ---- Stage 2: parsing a complete response ------------------------------ */

static int perr(struct pstate *ps, int err, const char *what)
{
	/* Minus the NUL gaps before pos, to count bytes as the server sent them. */
	return set_error(ps->p, err, "%s at byte %zu", what, ps->pos - ps->li);
}

static int nomem(struct pstate *ps)
{
	return set_error(ps->p, -ENOMEM, "out of memory");
}

static void skip_sp(struct pstate *ps)
{
	while (ps->b[ps->pos] == ' ')
		ps->pos++;
}

/*
 * Counts one more value and returns the free stack slot for it; the caller
 * fills it in place (copying values around showed up in profiles) and then
 * bumps nstack.
 */
static int new_slot(struct pstate *ps, struct imap_value **slot)
{
	struct imap_parser *p = ps->p;

	if (++ps->nvalues > p->lim.max_values)
		return perr(ps, -E2BIG, "too many values");
	if (p->nstack == p->stack_cap) {
		size_t cap = p->stack_cap ? p->stack_cap * 2 : 64;
		struct imap_value *s;

		if (cap > SIZE_MAX / sizeof(*s))
			return nomem(ps);
		s = realloc(p->stack, cap * sizeof(*s));
		if (!s)
			return nomem(ps);
		p->stack = s;
		p->stack_cap = cap;
	}
	*slot = &p->stack[p->nstack];
	return 0;
}

static int push_value(struct pstate *ps, const struct imap_value *v)
{
	struct imap_value *slot;
	int ret;

	ret = new_slot(ps, &slot);
	if (ret < 0)
		return ret;
	*slot = *v;
	ps->p->nstack++;
	return 0;
}

static int push_frame(struct pstate *ps)
{
	struct imap_parser *p = ps->p;

	if (p->nframes == p->frames_cap) {
		size_t cap = p->frames_cap ? p->frames_cap * 2 : 16;
		size_t *f;

		if (cap > SIZE_MAX / sizeof(*f))
			return nomem(ps);
		f = realloc(p->frames, cap * sizeof(*f));
		if (!f)
			return nomem(ps);
		p->frames = f;
		p->frames_cap = cap;
	}
	p->frames[p->nframes++] = p->nstack;
	return 0;
}

/* Turns stack[from..] into a LIST in the arena and pops it. */
static int make_list(struct pstate *ps, size_t from, struct imap_value *out)
{
	struct imap_parser *p = ps->p;
	size_t count = p->nstack - from;
	struct imap_value *items = NULL;

	if (count) {
		if (count > SIZE_MAX / sizeof(*items))
			return nomem(ps);
		items = box_alloc(ps->box, count * sizeof(*items),
				  alignof(struct imap_value));
		if (!items)
			return nomem(ps);
		memcpy(items, p->stack + from, count * sizeof(*items));
	}
	memset(out, 0, sizeof(*out));
	out->type = IMAP_LIST;
	out->items = items;
	out->count = count;
	p->nstack = from;
	return 0;
}

/*
 * Finds the closing quote of the quoted string at pos. Only \" and \\ are
 * escapes; a backslash before anything else is kept as it is, which is what
 * lenient servers that do not escape mean.
 */
static int quoted_extent(struct pstate *ps, size_t *qend, size_t *ulen,
			 bool *escaped)
{
	const char *b = ps->b;
	size_t i = ps->pos + 1, n = 0;
	bool esc = false;

	for (;;) {
		unsigned char c = (unsigned char)b[i];

		if (c == '"')
			break;
		if (c == '\\' && (b[i + 1] == '"' || b[i + 1] == '\\')) {
			i += 2;
			n++;
			esc = true;
			continue;
		}
		if (c == '\r' || c == '\n') {
			ps->pos = i;
			return perr(ps, -EPROTO, "unterminated quoted string");
		}
		if (c == '\0') {
			ps->pos = i;
			return perr(ps, -EPROTO, "NUL in quoted string");
		}
		i++;
		n++;
	}
	*qend = i;
	*ulen = n;
	*escaped = esc;
	return 0;
}

static int parse_quoted(struct pstate *ps, struct imap_value *v)
{
	const char *b = ps->b;
	size_t qend, n, i, j;
	bool esc;
	char *s;
	int ret;

	ret = quoted_extent(ps, &qend, &n, &esc);
	if (ret < 0)
		return ret;
	s = box_alloc(ps->box, n + 1, 1);
	if (!s)
		return nomem(ps);
	if (!esc) {
		memcpy(s, b + ps->pos + 1, n);
	} else {
		for (i = ps->pos + 1, j = 0; i < qend; j++) {
			if (b[i] == '\\' && (b[i + 1] == '"' || b[i + 1] == '\\'))
				i++;
			s[j] = b[i++];
		}
	}
	s[n] = '\0';
	v->type = IMAP_STRING;
	v->str = s;
	v->len = n;
	ps->pos = qend + 1;
	return 0;
}

static int parse_literal(struct pstate *ps, struct imap_value *v)
{
	struct imap_parser *p = ps->p;
	const struct literal *lit;

	/* Stage 1 recorded every marker it acted on; any other '{' is garbage. */
	if (ps->li >= p->nlits || p->lits[ps->li].marker != ps->pos)
		return perr(ps, -EPROTO, "'{' that is not a literal");
	lit = &p->lits[ps->li];
	v->type = IMAP_STRING;
	v->len = lit->len;
	v->literal8 = lit->lit8;
	if (ps->zero_copy) {
		v->str = ps->b + lit->off;
	} else {
		v->str = box_strndup(ps->box, ps->b + lit->off, lit->len, false);
		if (!v->str)
			return nomem(ps);
	}
	ps->li++;
	ps->pos = lit->off + lit->len + 1;
	return 0;
}

/*
 * Skips a "[...]" inside an atom, as in BODY[HEADER.FIELDS (A B)] where
 * spaces and parentheses belong to the atom. Its nesting counts towards
 * max_depth like any other.
 */
static int skip_section(struct pstate *ps, unsigned depth)
{
	const char *b = ps->b;
	unsigned brackets = 0, parens = 0;
	size_t qend, n;
	bool esc;
	int ret;

	for (;;) {
		unsigned char c = (unsigned char)b[ps->pos];

		switch (c) {
		case '[':
		case '(':
			if (c == '[')
				brackets++;
			else
				parens++;
			if (brackets + parens > ps->p->lim.max_depth - depth)
				return perr(ps, -E2BIG, "nesting too deep");
			break;
		case ']':
			if (!--brackets) {
				ps->pos++;
				return 0;
			}
			break;
		case ')':
			if (parens)
				parens--;
			break;
		case '"':
			ret = quoted_extent(ps, &qend, &n, &esc);
			if (ret < 0)
				return ret;
			ps->pos = qend;
			break;
		default:
			if (is_ctl(c))
				return perr(ps, -EPROTO, "unterminated '['");
			break;
		}
		ps->pos++;
	}
}

/* An atom, a NUMBER or NIL; in a response code, ']' ends it. */
static int parse_atom(struct pstate *ps, bool in_code, unsigned depth,
		      struct imap_value *v)
{
	const char *b = ps->b;
	size_t start = ps->pos, n;
	int ret;

	for (;;) {
		unsigned char c = (unsigned char)b[ps->pos];

		if (c == '[' && !in_code) {
			ret = skip_section(ps, depth);
			if (ret < 0)
				return ret;
			continue;
		}
		if (!is_atom_char(c) || (c == ']' && in_code))
			break;
		ps->pos++;
	}
	n = ps->pos - start;
	if (!n)
		return perr(ps, -EPROTO, "expected a value");
	if (n == 3 && ascii_eq_nocase(b + start, "NIL", 3)) {
		v->type = IMAP_NIL;
		return 0;
	}
	v->type = parse_u64(b + start, n, &v->num) ? IMAP_NUMBER : IMAP_ATOM;
	v->str = box_strndup(ps->box, b + start, n, false);
	if (!v->str)
		return nomem(ps);
	v->len = n;
	return 0;
}

static int parse_token(struct pstate *ps, bool in_code, unsigned depth,
		       struct imap_value *v)
{
	const char *b = ps->b;
	unsigned char c = (unsigned char)b[ps->pos];

	memset(v, 0, sizeof(*v));
	if (c == '"')
		return parse_quoted(ps, v);
	/* pos < end here, so pos + 1 is still inside the buffer. */
	if (c == '{' || (c == '~' && b[ps->pos + 1] == '{'))
		return parse_literal(ps, v);
	if (is_ctl(c))
		return perr(ps, -EPROTO, "unexpected control character");
	return parse_atom(ps, in_code, depth, v);
}

/*
 * Parses values up to the end of the response or, in a response code, up to
 * its ']', into the LIST *out. depth is the nesting already around them.
 */
static int parse_values(struct pstate *ps, bool in_code, unsigned depth,
			struct imap_value *out)
{
	struct imap_parser *p = ps->p;
	const char *b = ps->b;
	size_t base = p->nstack, fbase = p->nframes;
	struct imap_value v, *slot;
	int ret;

	for (;;) {
		unsigned level = depth + (unsigned)(p->nframes - fbase);
		unsigned char c;

		skip_sp(ps);
		if (ps->pos == ps->end) {
			if (p->nframes > fbase)
				return perr(ps, -EPROTO, "unterminated list");
			if (in_code)
				return perr(ps, -EPROTO, "unterminated response code");
			break;
		}
		c = (unsigned char)b[ps->pos];
		if (c == ']' && in_code && p->nframes == fbase) {
			ps->pos++;
			break;
		}
		if (c == '(') {
			if (level >= p->lim.max_depth)
				return perr(ps, -E2BIG, "nesting too deep");
			ret = push_frame(ps);
			if (ret < 0)
				return ret;
			ps->pos++;
			continue;
		}
		if (c == ')') {
			if (p->nframes == fbase)
				return perr(ps, -EPROTO, "unexpected ')'");
			ret = make_list(ps, p->frames[--p->nframes], &v);
			if (ret < 0)
				return ret;
			ps->pos++;
			/* No separator needed after a list: BODYSTRUCTURE has ")(". */
			ret = push_value(ps, &v);
			if (ret < 0)
				return ret;
			continue;
		}
		ret = new_slot(ps, &slot);
		if (ret < 0)
			return ret;
		ret = parse_token(ps, in_code, level, slot);
		if (ret < 0)
			return ret;
		p->nstack++;
		/*
		 * Insisting on a separator catches a miscounted literal, after
		 * which nothing that follows could be trusted.
		 */
		c = (unsigned char)b[ps->pos];
		if (ps->pos != ps->end && c != ' ' && c != ')' &&
		    !(c == ']' && in_code))
			return perr(ps, -EPROTO, "expected a space");
	}
	return make_list(ps, base, out);
}

/*
 * Fallback for a response code the structured parse rejects: its content is
 * taken as space-separated atoms up to the first ']'. Codes are advisory, so
 * an odd one from a server should not kill the connection.
 */
static int parse_code_raw(struct pstate *ps, struct imap_value *out)
{
	struct imap_parser *p = ps->p;
	const char *b = ps->b;
	size_t base = p->nstack, start;
	struct imap_value v;
	int ret;

	for (;;) {
		skip_sp(ps);
		if (b[ps->pos] == ']') {
			ps->pos++;
			break;
		}
		if (ps->pos == ps->end || is_ctl((unsigned char)b[ps->pos]))
			return perr(ps, -EPROTO, "unterminated response code");
		start = ps->pos;
		while (b[ps->pos] != ' ' && b[ps->pos] != ']' &&
		       !is_ctl((unsigned char)b[ps->pos]))
			ps->pos++;
		memset(&v, 0, sizeof(v));
		v.type = IMAP_ATOM;
		v.len = ps->pos - start;
		v.str = box_strndup(ps->box, b + start, v.len, false);
		if (!v.str)
			return nomem(ps);
		ret = push_value(ps, &v);
		if (ret < 0)
			return ret;
	}
	return make_list(ps, base, out);
}

/* "[CODE args]" at pos; pos is left after the ']'. */
static int parse_code(struct pstate *ps, struct imap_response *r)
{
	struct imap_parser *p = ps->p;
	const char *b = ps->b;
	size_t start, save_pos, save_li, save_nvalues;
	size_t base = p->nstack, fbase = p->nframes;
	int ret;

	start = ++ps->pos;
	while (b[ps->pos] != ']' && b[ps->pos] != ' ' &&
	       !is_ctl((unsigned char)b[ps->pos]))
		ps->pos++;
	if (ps->pos == start)
		return perr(ps, -EPROTO, "empty response code");
	r->code = box_strndup(ps->box, b + start, ps->pos - start, true);
	if (!r->code)
		return nomem(ps);

	save_pos = ps->pos;
	save_li = ps->li;
	save_nvalues = ps->nvalues;
	ret = parse_values(ps, true, 1, &r->code_args);
	if (ret != -EPROTO)
		return ret;
	ps->pos = save_pos;
	ps->li = save_li;
	ps->nvalues = save_nvalues;
	p->nstack = base;
	p->nframes = fbase;
	return parse_code_raw(ps, &r->code_args);
}

/* The rest of the line, as free text. */
static int parse_text(struct pstate *ps, const char **text)
{
	size_t n;

	skip_sp(ps);
	/* A literal left means the text line ended in a marker. */
	if (ps->li < ps->p->nlits)
		return perr(ps, -EPROTO, "literal in response text");
	n = ps->end - ps->pos;
	if (memchr(ps->b + ps->pos, '\0', n))
		return perr(ps, -EPROTO, "NUL in response text");
	*text = box_strndup(ps->box, ps->b + ps->pos, n, false);
	if (!*text)
		return nomem(ps);
	ps->pos = ps->end;
	return 0;
}

static enum imap_status status_of(const char *name)
{
	if (!strcmp(name, "OK"))
		return IMAP_STATUS_OK;
	if (!strcmp(name, "NO"))
		return IMAP_STATUS_NO;
	if (!strcmp(name, "BAD"))
		return IMAP_STATUS_BAD;
	if (!strcmp(name, "BYE"))
		return IMAP_STATUS_BYE;
	if (!strcmp(name, "PREAUTH"))
		return IMAP_STATUS_PREAUTH;
	return IMAP_STATUS_NONE;
}

/* "*" or a tag, then for untagged responses an optional number. */
static int parse_head(struct pstate *ps, struct imap_response *r)
{
	const char *b = ps->b;
	size_t start = 0, n;
	uint64_t num;

	while (is_atom_char((unsigned char)b[ps->pos]))
		ps->pos++;
	n = ps->pos;
	if (n == 1 && b[0] == '*') {
		r->kind = IMAP_RESP_UNTAGGED;
	} else {
		if (!n)
			return perr(ps, -EPROTO, "malformed tag");
		for (start = 0; start < n; start++)
			if (!is_tag_char((unsigned char)b[start]))
				return perr(ps, -EPROTO, "malformed tag");
		r->kind = IMAP_RESP_TAGGED;
		r->tag = box_strndup(ps->box, b, n, false);
		if (!r->tag)
			return nomem(ps);
	}
	if (b[ps->pos] != ' ')
		return perr(ps, -EPROTO, "expected a space after the tag");
	skip_sp(ps);

	if (r->kind == IMAP_RESP_UNTAGGED && is_digit((unsigned char)b[ps->pos])) {
		start = ps->pos;
		while (is_digit((unsigned char)b[ps->pos]))
			ps->pos++;
		if (!parse_u64(b + start, ps->pos - start, &num) ||
		    num > UINT32_MAX)
			return perr(ps, -EPROTO, "message number too large");
		if (b[ps->pos] != ' ')
			return perr(ps, -EPROTO, "expected a space after the number");
		r->has_number = true;
		r->number = (uint32_t)num;
		skip_sp(ps);
	}
	return 0;
}

static int parse_response(struct pstate *ps, struct imap_response *r)
{
	const char *b = ps->b;
	size_t start;
	int ret;

	r->args.type = IMAP_LIST;
	r->code_args.type = IMAP_LIST;

	if (b[0] == '+') {
		r->kind = IMAP_RESP_CONTINUATION;
		r->name = "";
		ps->pos = 1;
		return parse_text(ps, &r->text);
	}

	ret = parse_head(ps, r);
	if (ret < 0)
		return ret;

	start = ps->pos;
	while (is_atom_char((unsigned char)b[ps->pos]) && b[ps->pos] != '[' &&
	       b[ps->pos] != ']')
		ps->pos++;
	if (ps->pos == start)
		return perr(ps, -EPROTO, "missing response name");
	r->name = box_strndup(ps->box, b + start, ps->pos - start, true);
	if (!r->name)
		return nomem(ps);
	r->status = status_of(r->name);

	if (r->status == IMAP_STATUS_NONE) {
		if (r->kind == IMAP_RESP_TAGGED)
			return perr(ps, -EPROTO, "tagged response is not a status");
		r->text = "";
		ret = parse_values(ps, false, 0, &r->args);
		if (ret < 0)
			return ret;
		if (ps->li != ps->p->nlits)
			return perr(ps, -EPROTO, "literal not consumed");
		return 0;
	}

	skip_sp(ps);
	if (b[ps->pos] == '[') {
		ret = parse_code(ps, r);
		if (ret < 0)
			return ret;
	}
	return parse_text(ps, &r->text);
}

/* ---- Stage 1: framing -------------------------------------------------- */

static void frame_reset(struct imap_parser *p)
{
	if (p->cap > KEEP_BUF_MAX) {
		free(p->buf);
		p->buf = NULL;
		p->cap = 0;
	}
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
	p->len = 0;
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
	struct pstate ps = { .p = p, .end = end };
	struct response_box *box;
	size_t initial, text;
	int ret;

	ps.zero_copy = p->lit_bytes >= ZERO_COPY_MIN;
	if (ps.zero_copy && p->cap - p->len > BUF_MIN) {
		/* Before parsing: literal strings will point into buf. */
		char *nb = realloc(p->buf, p->len);

		if (nb) {
			p->buf = nb;
			p->cap = p->len;
		}
	}

	/* Most responses fit the first arena block; more are added if not. */
	text = p->len - (ps.zero_copy ? p->lit_bytes : 0);
	initial = text < (ARENA_FIRST_MAX - ARENA_MIN) / 4 ?
		  ARENA_MIN + 4 * text : ARENA_FIRST_MAX;
	box = box_new(initial);
	if (!box)
		return set_error(p, -ENOMEM, "out of memory");
	ps.box = box;
	ps.b = p->buf;
	p->nstack = 0;
	p->nframes = 0;

	ret = parse_response(&ps, &box->resp);
	if (ret < 0) {
		box_free(box);
		return ret;
	}
	if (ps.zero_copy) {
		box->buf = p->buf;
		p->buf = NULL;
		p->cap = 0;
	}
	p->done = &box->resp;
	frame_reset(p);
	return 0;
}

static int buf_reserve(struct imap_parser *p, size_t extra, bool exact)
{
	size_t need, cap;
	char *nb;

	if (extra > SIZE_MAX - p->len)
		return set_error(p, -ENOMEM, "out of memory");
	need = p->len + extra;
	if (need <= p->cap)
		return 0;
	if (exact) {
		cap = need;
	} else {
		size_t ceiling = sat_add(p->lim.max_response, p->nlits + 2);

		/* Doubling, but not far beyond what max_response allows. */
		cap = p->cap > SIZE_MAX / 2 ? SIZE_MAX : p->cap * 2;
		if (cap < BUF_MIN)
			cap = BUF_MIN;
		if (cap > ceiling)
			cap = ceiling;
		if (cap < need)
			cap = need;
	}
	nb = realloc(p->buf, cap);
	if (!nb)
		return set_error(p, -ENOMEM, "out of memory");
	p->buf = nb;
	p->cap = cap;
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
	const char *b = p->buf;
	size_t i = end, digits_end, brace;
	uint64_t n = 0;

	if (i == p->seg || b[i - 1] != '}')
		return 0;
	i--;
	if (i > p->seg && b[i - 1] == '+')
		i--;
	digits_end = i;
	while (i > p->seg && is_digit((unsigned char)b[i - 1]))
		i--;
	if (i == digits_end || i == p->seg || b[i - 1] != '{')
		return 0;
	brace = i - 1;
	for (; i < digits_end; i++) {
		unsigned d = (unsigned)(b[i] - '0');

		if (n > (UINT64_MAX - d) / 10)
			return set_error(p, -E2BIG, "literal size overflows");
		n = n * 10 + d;
	}
	if (n > p->lim.max_literal)
		return set_error(p, -E2BIG,
				 "literal of %" PRIu64 " bytes exceeds the limit of %zu",
				 n, p->lim.max_literal);
	if (n > p->lim.max_response - p->bytes)
		return set_error(p, -E2BIG, "response exceeds the limit of %zu bytes",
				 p->lim.max_response);

	lit->lit8 = brace > p->seg && b[brace - 1] == '~';
	lit->marker = lit->lit8 ? brace - 1 : brace;
	lit->len = (size_t)n;
	return 1;
}

static void finish_literal(struct imap_parser *p)
{
	/* Room for this NUL was reserved in start_literal(). */
	p->buf[p->len++] = '\0';
	p->seg = p->len;
	p->state = FRAME_LINE;
}

static int start_literal(struct imap_parser *p, struct literal *lit)
{
	int ret;

	/* Each literal is a value; "{0}" costs the server little, us more. */
	if (p->nlits >= p->lim.max_values)
		return set_error(p, -E2BIG, "too many values");
	if (p->nlits == p->lits_cap) {
		size_t cap = p->lits_cap ? p->lits_cap * 2 : 8;
		struct literal *l;

		if (cap > SIZE_MAX / sizeof(*l))
			return set_error(p, -ENOMEM, "out of memory");
		l = realloc(p->lits, cap * sizeof(*l));
		if (!l)
			return set_error(p, -ENOMEM, "out of memory");
		p->lits = l;
		p->lits_cap = cap;
	}
	/* All of it at once, so the data is copied in without reallocations. */
	if (lit->len > SIZE_MAX - 1 - LITERAL_SLACK)
		return set_error(p, -ENOMEM, "out of memory");
	ret = buf_reserve(p, lit->len + 1 + LITERAL_SLACK, true);
	if (ret < 0)
		return ret;
	lit->off = p->len;
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
	size_t end = p->len - 1;
	struct literal lit;
	int ret;

	if (end > p->seg && p->buf[end - 1] == '\r')
		end--;
	ret = find_literal(p, end, &lit);
	if (ret < 0)
		return ret;
	if (ret > 0)
		return start_literal(p, &lit);
	if (!end) {
		/* A blank line between responses carries nothing: drop it. */
		p->len = 0;
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
		return set_error(p, -E2BIG, "response exceeds the limit of %zu bytes",
				 p->lim.max_response);
	n = lf ? (size_t)(lf - data) + 1 : len;
	ret = buf_reserve(p, n, false);
	if (ret < 0)
		return ret;
	memcpy(p->buf + p->len, data, n);
	p->len += n;
	p->bytes += n;
	*used = n;
	return lf ? end_of_line(p) : 0;
}

static void feed_literal(struct imap_parser *p, const char *data, size_t len,
			 size_t *used)
{
	size_t n = len < p->lit_left ? len : p->lit_left;

	/* Room was reserved in start_literal(), and limits checked there. */
	memcpy(p->buf + p->len, data, n);
	p->len += n;
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
	p->state = FRAME_LINE;
	return p;
}

void imap_parser_free(struct imap_parser *p)
{
	if (!p)
		return;
	imap_response_free(p->done);
	free(p->buf);
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
	return p->len > 0;
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

void imap_response_free(struct imap_response *r)
{
	if (r)
		box_free((struct response_box *)r);
}

/* ---- Helpers for walking values ------------------------------------------ */

bool imap_value_is(const struct imap_value *v, const char *word)
{
	size_t n;

	if (!v || !word || (v->type != IMAP_ATOM && v->type != IMAP_NUMBER))
		return false;
	n = strlen(word);
	return v->len == n && ascii_eq_nocase(v->str, word, n);
}

const char *imap_value_text(const struct imap_value *v)
{
	if (!v)
		return NULL;
	switch (v->type) {
	case IMAP_ATOM:
	case IMAP_NUMBER:
	case IMAP_STRING:
		return v->str;
	default:
		return NULL;
	}
}

const struct imap_value *imap_list_item(const struct imap_value *v, size_t i)
{
	if (!v || v->type != IMAP_LIST || i >= v->count)
		return NULL;
	return &v->items[i];
}

const struct imap_value *imap_list_lookup(const struct imap_value *v,
					  const char *key)
{
	size_t i;

	if (!v || !key || v->type != IMAP_LIST)
		return NULL;
	for (i = 0; i + 1 < v->count; i += 2)
		if (imap_value_is(&v->items[i], key))
			return &v->items[i + 1];
	return NULL;
}

bool imap_value_number(const struct imap_value *v, uint64_t *out)
{
	if (!v || v->type != IMAP_NUMBER)
		return false;
	if (out)
		*out = v->num;
	return true;
}
