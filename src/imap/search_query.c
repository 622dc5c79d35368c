/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Search directory queries to IMAP SEARCH keys (see search_query.h). */
#include "imap/search_query.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TERMS 64

struct term {
	bool negated;
	bool or_next;    /* "or" follows: this and the next are alternatives */
	char *field;     /* NULL for a bare word or phrase */
	char *value;     /* unquoted */
	bool raw;        /* imap: the value is raw SEARCH keys */
	bool gmail;      /* gmail: the value is a Gmail query (X-GM-RAW) */
};

struct parse {
	struct term t[MAX_TERMS];
	size_t n;
	unsigned flags;
	char *err;
	size_t errlen;
};

static int fail(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parse *p, const char *fmt, ...)
{
	va_list ap;

	if (p->err && p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err, p->errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* %XX stands for the byte XX (a file name holds no '/'); a lone '%' stays. */
static char *unescape(const char *q)
{
	size_t len = strlen(q), o = 0;
	char *out = malloc(len + 1);

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if (q[i] == '%' && i + 2 < len + 1 && (hi = hexval(q[i + 1])) >= 0 &&
		    (lo = hexval(q[i + 2])) >= 0 && (hi || lo)) {
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = q[i];
		}
	}
	out[o] = '\0';
	return out;
}

char *imap_search_query_unescape(const char *query)
{
	return unescape(query);
}

bool imap_search_query_utf8(const char *query)
{
	char *q = unescape(query);
	bool utf8 = false;

	/* Out of memory: said to be UTF-8, which costs at most a CHARSET. */
	if (!q)
		return true;
	for (const unsigned char *s = (const unsigned char *)q; *s && !utf8; s++)
		utf8 = *s >= 0x80;
	free(q);
	return utf8;
}

static bool is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/*
 * One token from *pos: its text with quotes removed, into *out (malloc'd).
 * field gets the letters before a ':' outside quotes, if any.
 */
static int next_token(struct parse *p, const char **pos, char **field, char **out)
{
	const char *s = *pos;
	size_t cap = strlen(s) + 1, o = 0;
	bool quoted = false, any_quote = false;
	char *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	*field = NULL;
	for (; *s && (quoted || *s != ' '); s++) {
		if (*s == '"') {
			quoted = !quoted;
			any_quote = true;
			continue;
		}
		if (*s == ':' && !quoted && !*field && !any_quote && o > 0) {
			bool letters = true;

			for (size_t i = 0; i < o; i++)
				letters &= is_alpha(buf[i]);
			if (letters) {
				buf[o] = '\0';
				*field = strdup(buf);
				if (!*field) {
					free(buf);
					return -ENOMEM;
				}
				o = 0;
				continue;
			}
		}
		buf[o++] = *s;
	}
	buf[o] = '\0';
	if (quoted) {
		free(buf);
		free(*field);
		*field = NULL;
		return fail(p, "a quote is not closed");
	}
	*pos = s;
	*out = buf;
	return 0;
}

static int parse(struct parse *p, const char *q)
{
	const char *s = q;
	int r;

	for (;;) {
		struct term *t;
		char *field = NULL, *value = NULL;
		bool negated = false;

		while (*s == ' ')
			s++;
		if (!*s)
			break;
		if (p->n == MAX_TERMS)
			return fail(p, "more than %d terms", MAX_TERMS);
		if (*s == '-' && s[1] && s[1] != ' ') {
			negated = true;
			s++;
		}
		if (strncmp(s, "imap:", 5) == 0 || strncmp(s, "gmail:", 6) == 0) {
			t = &p->t[p->n++];
			t->negated = negated;
			t->raw = s[0] == 'i';
			t->gmail = !t->raw;
			t->value = strdup(s + (t->raw ? 5 : 6));
			if (!t->value)
				return -ENOMEM;
			break;
		}
		r = next_token(p, &s, &field, &value);
		if (r < 0)
			return r;
		if (!negated && !field && (strcmp(value, "or") == 0 || strcmp(value, "OR") == 0)) {
			free(value);
			if (p->n == 0 || p->t[p->n - 1].or_next)
				return fail(p, "'or' needs a term on each side");
			p->t[p->n - 1].or_next = true;
			continue;
		}
		t = &p->t[p->n++];
		t->negated = negated;
		t->field = field;
		t->value = value;
	}
	if (p->n == 0)
		return fail(p, "the query is empty");
	if (p->t[p->n - 1].or_next)
		return fail(p, "'or' needs a term on each side");
	return 0;
}

static int emit_date(struct parse *p, struct imap_cmd *c, const char *key, const char *v)
{
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	int y, m, d, used = 0;

	if (sscanf(v, "%4d-%2d-%2d%n", &y, &m, &d, &used) != 3 || used != (int)strlen(v) ||
	    y < 1900 || m < 1 || m > 12 || d < 1 || d > 31)
		return fail(p, "'%s' is no date (YYYY-MM-DD)", v);
	imap_cmd_rawf(c, "%s %d-%s-%04d", key, d, mon[m - 1], y);
	return 0;
}

static int emit_size(struct parse *p, struct imap_cmd *c, const char *key, const char *v)
{
	char *end;
	unsigned long long n;
	int shift = 0;

	if (!*v || *v == '-' || *v == '+')
		return fail(p, "'%s' is no size", v);
	errno = 0;
	n = strtoull(v, &end, 10);
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M' || *end == 'm')
		shift = 20;
	else if (*end == 'G' || *end == 'g')
		shift = 30;
	if (shift)
		end++;
	if (errno || end == v || *end || n > (UINT32_MAX >> shift))
		return fail(p, "'%s' is no size (bytes, or with K, M, G; under 4G)", v);
	imap_cmd_rawf(c, "%s %llu", key, n << shift);
	return 0;
}

static int emit_is(struct parse *p, struct imap_cmd *c, const char *v)
{
	static const char *const map[][2] = {
		{ "seen", "SEEN" },         { "unseen", "UNSEEN" },   { "flagged", "FLAGGED" },
		{ "unflagged", "UNFLAGGED" }, { "answered", "ANSWERED" },
		{ "unanswered", "UNANSWERED" }, { "draft", "DRAFT" }, { "deleted", "DELETED" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(v, map[i][0]) == 0) {
			imap_cmd_raw(c, map[i][1]);
			return 0;
		}
	}
	return fail(p, "is:%s is unknown (seen, unseen, flagged, unflagged, answered, unanswered, "
		       "draft, deleted)", v);
}

/* Raw keys may not break the command: no line end, NUL or literal, balanced quotes and parentheses. */
static int emit_raw(struct parse *p, struct imap_cmd *c, const char *v)
{
	int depth = 0;
	bool quoted = false;

	for (const char *s = v; *s; s++) {
		if (*s == '\r' || *s == '\n' || *s == '{')
			return fail(p, "imap: keys may not hold a line end or a literal");
		if (quoted && *s == '\\' && s[1]) {
			s++;
			continue;
		}
		if (*s == '"')
			quoted = !quoted;
		else if (!quoted && *s == '(')
			depth++;
		else if (!quoted && *s == ')' && --depth < 0)
			break;
	}
	if (quoted || depth != 0)
		return fail(p, "imap: keys have an unbalanced quote or parenthesis");
	if (!*v)
		return fail(p, "imap: needs SEARCH keys after it");
	imap_cmd_rawf(c, "(%s)", v);
	return 0;
}

static int emit_term(struct parse *p, struct imap_cmd *c, const struct term *t)
{
	static const char *const fields[][2] = {
		{ "from", "FROM" }, { "to", "TO" },           { "cc", "CC" },
		{ "bcc", "BCC" },   { "subject", "SUBJECT" }, { "body", "BODY" },
	};
	const char *f = t->field, *v = t->value;

	if (t->negated)
		imap_cmd_raw(c, "NOT ");
	if (t->raw)
		return emit_raw(p, c, v);
	if (t->gmail) {
		if (!(p->flags & IMAP_SEARCH_GMAIL))
			return fail(p, "gmail: needs a Gmail server (one that offers X-GM-EXT-1)");
		if (!*v)
			return fail(p, "gmail: needs a Gmail query after it");
		imap_cmd_raw(c, "X-GM-RAW ");
		imap_cmd_string(c, v, strlen(v));
		return 0;
	}
	if (!f) {
		if (!*v)
			return fail(p, "an empty phrase");
		imap_cmd_raw(c, "TEXT ");
		imap_cmd_string(c, v, strlen(v));
		return 0;
	}
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (strcmp(f, fields[i][0]) == 0) {
			if (!*v)
				return fail(p, "%s: needs something to look for", f);
			imap_cmd_rawf(c, "%s ", fields[i][1]);
			imap_cmd_string(c, v, strlen(v));
			return 0;
		}
	}
	if (strcmp(f, "header") == 0) {
		const char *colon = strchr(v, ':');
		size_t nlen = colon ? (size_t)(colon - v) : strlen(v);

		if (nlen == 0)
			return fail(p, "header: needs a field name (header:NAME:TEXT)");
		for (size_t i = 0; i < nlen; i++)
			if ((unsigned char)v[i] <= ' ' || (unsigned char)v[i] >= 0x7f)
				return fail(p, "header: '%.*s' is no header field name", (int)nlen, v);
		imap_cmd_raw(c, "HEADER ");
		imap_cmd_string(c, v, nlen);
		imap_cmd_sp(c);
		v = colon ? colon + 1 : "";
		imap_cmd_string(c, v, strlen(v));
		return 0;
	}
	if (strcmp(f, "since") == 0 || strcmp(f, "before") == 0 || strcmp(f, "on") == 0)
		return emit_date(p, c, strcmp(f, "since") == 0 ? "SINCE" :
				       strcmp(f, "before") == 0 ? "BEFORE" : "ON", v);
	if (strcmp(f, "larger") == 0 || strcmp(f, "smaller") == 0)
		return emit_size(p, c, strcmp(f, "larger") == 0 ? "LARGER" : "SMALLER", v);
	if (strcmp(f, "is") == 0)
		return emit_is(p, c, v);
	if (strcmp(f, "keyword") == 0) {
		for (const char *s = v; *s; s++)
			if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f ||
			    strchr("(){%*\"\\]", *s))
				return fail(p, "keyword:%s is no IMAP keyword", v);
		if (!*v)
			return fail(p, "keyword: needs a name");
		imap_cmd_rawf(c, "KEYWORD %s", v);
		return 0;
	}
	return fail(p, "%s: is no search field (quote the word to look for it as text)", f);
}

/* Terms [i, ...) joined by "or": OR a (OR b c). Returns the index after them. */
static int emit_or(struct parse *p, struct imap_cmd *c, size_t i, size_t *next)
{
	int r;

	if (!p->t[i].or_next) {
		*next = i + 1;
		return emit_term(p, c, &p->t[i]);
	}
	imap_cmd_raw(c, "OR ");
	r = emit_term(p, c, &p->t[i]);
	if (r < 0)
		return r;
	imap_cmd_sp(c);
	return emit_or(p, c, i + 1, next);
}

int imap_search_query(struct imap_cmd *c, const char *query, unsigned flags, char *err,
		      size_t errlen)
{
	struct parse p = { .n = 0, .flags = flags, .err = err, .errlen = errlen };
	char *q = unescape(query);
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (!q)
		return -ENOMEM;
	r = parse(&p, q);
	for (size_t i = 0; r == 0 && i < p.n;) {
		if (i)
			imap_cmd_sp(c);
		r = emit_or(&p, c, i, &i);
	}
	if (r == 0 && c->err)
		r = c->err == -ENOMEM ? -ENOMEM : fail(&p, "the query cannot be sent");
	for (size_t i = 0; i < p.n; i++) {
		free(p.t[i].field);
		free(p.t[i].value);
	}
	free(q);
	return r;
}
