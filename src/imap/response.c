/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stage 2 of the IMAP response parser (RFC 3501 §9, RFC 9051 §9, RFC 3516):
 * one complete response, as parser.c framed it, into values (the hand-over is
 * described in parser_internal.h), and the helpers for walking them.
 *
 * It parses the response in one pass. It is iterative (nesting costs heap,
 * not stack) and jumps over literals using the side table. Every scanner
 * stops at CR and LF, and the only CR or LF that is not the end of the
 * response comes right after a literal marker, which stage 2 consumes with a
 * jump; so stage 2 cannot wander into literal data either.
 *
 * Everything a response points to lives in one box: the struct itself, arena
 * chunks for values and strings, and, for responses with large literals, the
 * stage-1 buffer itself, so that a message body is copied only once.
 */
#include <errno.h>
#include <limits.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/parser.h"
#include "imap/parser_internal.h"

int imap_parser_set_error(struct imap_parser *p, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->errbuf, sizeof(p->errbuf), fmt, ap);
	va_end(ap);
	return err;
}

/*
 * The first arena block is ARENA_MIN plus 4 bytes per byte of text, up to
 * ARENA_FIRST_MAX; the blocks after it double, up to ARENA_CHUNK_MAX.
 */
#define ARENA_MIN	((size_t)512)
#define ARENA_FIRST_MAX	((size_t)1 << 20)
#define ARENA_CHUNK_MAX	((size_t)64 << 20)

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

static bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
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
	return imap_parser_set_error(ps->p, err, "%s at byte %zu", what, ps->pos - ps->li);
}

static int nomem(struct pstate *ps)
{
	return imap_parser_set_error(ps->p, -ENOMEM, "out of memory");
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

	if (r->kind == IMAP_RESP_UNTAGGED && imap_is_digit((unsigned char)b[ps->pos])) {
		start = ps->pos;
		while (imap_is_digit((unsigned char)b[ps->pos]))
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

int imap_response_parse(struct imap_parser *p, size_t end, bool zero_copy,
			struct imap_response **out)
{
	struct pstate ps = { .p = p, .end = end, .zero_copy = zero_copy };
	struct response_box *box;
	size_t initial, text;
	int ret;

	/* Most responses fit the first arena block; more are added if not. */
	text = p->in.len - (zero_copy ? p->lit_bytes : 0);
	initial = text < (ARENA_FIRST_MAX - ARENA_MIN) / 4 ?
		  ARENA_MIN + 4 * text : ARENA_FIRST_MAX;
	box = box_new(initial);
	if (!box)
		return imap_parser_set_error(p, -ENOMEM, "out of memory");
	ps.box = box;
	ps.b = p->in.data;
	p->nstack = 0;
	p->nframes = 0;

	ret = parse_response(&ps, &box->resp);
	if (ret < 0) {
		box_free(box);
		return ret;
	}
	/* Literal strings point into the buffer: it now lives as long as they do. */
	if (zero_copy)
		box->buf = buf_steal(&p->in);
	*out = &box->resp;
	return 0;
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
