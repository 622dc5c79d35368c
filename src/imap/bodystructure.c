/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * BODYSTRUCTURE (RFC 3501 §7.4.2, RFC 9051 §7.5.2) to a flat list of parts.
 *
 * Servers differ in the details (quoted strings or atoms, upper or lower
 * case, NIL where a string belongs, missing extension data), and one odd part
 * must not hide the rest of a message, so the walk is lenient about what it
 * does not need and strict only about what a part file cannot do without: its
 * place in the tree and its size.
 *
 * Depth is the number of containers (multipart or message/rfc822) around a
 * body: a plain message is at depth 0, the parts of a multipart/mixed at
 * depth 1. Recursion is bounded by max_depth, which is checked before every
 * descent.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/bodystructure.h"

struct walk {
	struct bs_tree *t;
	size_t cap;          /* allocated entries in t->parts */
	size_t max_parts;
	unsigned max_depth;
	/*
	 * Section of the body being walked, built in place while descending so
	 * that deep trees cost memory linear in their depth.
	 */
	char *sec;
	size_t sec_len;
	size_t sec_cap;
};

static int walk_body(struct walk *w, const struct imap_value *v, bool msg_root,
		     unsigned depth, uint32_t parent);

static bool is_list(const struct imap_value *v)
{
	return v && v->type == IMAP_LIST;
}

/* Text of an ATOM, NUMBER or STRING; NULL for NIL, a list or "". */
static const char *nonempty_text(const struct imap_value *v)
{
	const char *s = imap_value_text(v);

	return s && *s ? s : NULL;
}

static bool text_is(const struct imap_value *v, const char *word)
{
	const char *s = imap_value_text(v);

	return s && !strcasecmp(s, word);
}

/* Copies text that may hold a NUL (a literal may): C users see up to it. */
static char *dup_value(const struct imap_value *v, bool lower)
{
	char *s = malloc(v->len + 1);

	if (!s)
		return NULL;
	memcpy(s, v->str, v->len);
	s[v->len] = '\0';
	if (lower)
		for (char *c = s; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
	return s;
}

/*
 * *out = copy of v's text, or of dflt when v is NIL, a list or empty (dflt
 * may be NULL: *out stays NULL then).
 */
static int dup_text(const struct imap_value *v, bool lower, const char *dflt,
		    char **out)
{
	if (nonempty_text(v))
		*out = dup_value(v, lower);
	else if (dflt)
		*out = strdup(dflt);
	else
		return 0;
	return *out ? 0 : -ENOMEM;
}

/*
 * body-fld-param: NIL or alternating names and values. A pair that is not
 * two strings, and an odd last name, carry nothing usable and are dropped.
 */
static int parse_params(const struct imap_value *v, struct bs_param **out,
			size_t *n)
{
	struct bs_param *ps;

	*out = NULL;
	*n = 0;
	if (!is_list(v) || v->count < 2)
		return 0;
	ps = calloc(v->count / 2, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	*out = ps;
	for (size_t i = 0; i + 1 < v->count; i += 2) {
		const struct imap_value *name = &v->items[i], *val = &v->items[i + 1];

		if (!imap_value_text(name) || !imap_value_text(val))
			continue;
		ps[*n].name = dup_value(name, false);
		ps[*n].value = dup_value(val, false);
		if (!ps[*n].name || !ps[*n].value) {
			/* Counted so that bodystructure_free() releases it. */
			(*n)++;
			return -ENOMEM;
		}
		(*n)++;
	}
	if (!*n) {
		free(ps);
		*out = NULL;
	}
	return 0;
}

/* body-fld-dsp: ("attachment" (params)) or NIL. */
static int parse_disposition(const struct imap_value *v, struct bs_part *p)
{
	int ret;

	if (!is_list(v) || !nonempty_text(imap_list_item(v, 0)))
		return 0;
	ret = dup_text(&v->items[0], true, NULL, &p->disposition);
	if (ret < 0)
		return ret;
	return parse_params(imap_list_item(v, 1), &p->disp_params,
			    &p->ndisp_params);
}

/*
 * Single-part extension data starting at index ext: md5, disposition,
 * language, location, ... Only the disposition is kept. body-fld-md5 is
 * never a list, so a list in its place is a disposition sent without the md5
 * before it; taking it costs nothing on well-formed input.
 */
static int parse_extension(const struct imap_value *v, size_t ext,
			   struct bs_part *p)
{
	const struct imap_value *md5 = imap_list_item(v, ext);

	if (is_list(md5))
		return parse_disposition(md5, p);
	return parse_disposition(imap_list_item(v, ext + 1), p);
}

/* Appends component n to the section being built; *saved restores it. */
static int sec_push(struct walk *w, size_t n, size_t *saved)
{
	size_t need = w->sec_len + 1 + 20 + 1;
	int len;

	if (need > w->sec_cap) {
		size_t cap = w->sec_cap ? w->sec_cap * 2 : 64;
		char *s;

		while (cap < need)
			cap *= 2;
		s = realloc(w->sec, cap);
		if (!s)
			return -ENOMEM;
		w->sec = s;
		w->sec_cap = cap;
	}
	*saved = w->sec_len;
	len = snprintf(w->sec + w->sec_len, w->sec_cap - w->sec_len, "%s%zu",
		       w->sec_len ? "." : "", n);
	w->sec_len += (size_t)len;
	return 0;
}

static void sec_pop(struct walk *w, size_t saved)
{
	w->sec_len = saved;
	w->sec[saved] = '\0';
}

/* A new zeroed entry at the end of the list, its index in *idx. */
static int add_part(struct walk *w, uint32_t *idx)
{
	struct bs_tree *t = w->t;

	/* parent indices are uint32_t, with UINT32_MAX meaning "none". */
	if (t->n >= w->max_parts || t->n >= UINT32_MAX)
		return -E2BIG;
	if (t->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 8;
		struct bs_part *parts = reallocarray(t->parts, cap, sizeof(*parts));

		if (!parts)
			return -ENOMEM;
		t->parts = parts;
		w->cap = cap;
	}
	memset(&t->parts[t->n], 0, sizeof(t->parts[t->n]));
	t->parts[t->n].parent = BS_NO_PARENT;
	*idx = (uint32_t)t->n++;
	return 0;
}

/*
 * The fields every part has. Type and subtype default as RFC 2045 §5.2
 * does; a subtype missing from a type that is there says nothing about the
 * content, which is what application/octet-stream means.
 */
static int fill_basic(const struct imap_value *v, struct bs_part *p)
{
	const struct imap_value *it = v->items;
	bool has_type = nonempty_text(&it[0]) != NULL;
	const char *dflt_sub;
	int ret;

	ret = dup_text(&it[0], true, "text", &p->type);
	if (ret < 0)
		return ret;
	p->untyped = !has_type;
	dflt_sub = !has_type || !strcmp(p->type, "text") ? "plain" : "octet-stream";
	ret = dup_text(&it[1], true, dflt_sub, &p->subtype);
	if (!ret)
		ret = parse_params(&it[2], &p->params, &p->nparams);
	if (!ret)
		ret = dup_text(&it[3], false, NULL, &p->id);
	if (!ret)
		ret = dup_text(&it[4], false, NULL, &p->description);
	if (!ret)
		ret = dup_text(&it[5], true, "7bit", &p->encoding);
	p->size = it[6].num;
	return ret;
}

/*
 * body-type-1part. What a part cannot be listed without is a type that is
 * not a list and a size that is a number; anything less is skipped.
 */
static int walk_single(struct walk *w, const struct imap_value *v,
		       unsigned depth, uint32_t parent)
{
	const struct imap_value *it = v->items;
	bool message, inner;
	size_t ext;
	uint32_t idx;
	size_t before;
	int ret;

	if (v->count < 7 || is_list(&it[0]) || is_list(&it[1]) ||
	    it[6].type != IMAP_NUMBER) {
		w->t->skipped++;
		return 0;
	}
	message = text_is(&it[0], "message") &&
		  (text_is(&it[1], "rfc822") || text_is(&it[1], "global"));

	ret = add_part(w, &idx);
	if (ret < 0)
		return ret;
	w->t->parts[idx].parent = parent;
	w->t->parts[idx].section = strdup(w->sec);
	if (!w->t->parts[idx].section)
		return -ENOMEM;
	ret = fill_basic(v, &w->t->parts[idx]);
	if (ret < 0)
		return ret;

	/* Where the extension data starts depends on the type-specific fields. */
	if (message)
		ext = v->count >= 10 ? 10 : SIZE_MAX;
	else if (text_is(&it[0], "text"))
		ext = 8; /* after body-fld-lines */
	else if (v->count > 7 && it[7].type == IMAP_NUMBER)
		ext = 8; /* lines sent for a type that has none */
	else
		ext = 7;
	if (ext != SIZE_MAX) {
		ret = parse_extension(v, ext, &w->t->parts[idx]);
		if (ret < 0)
			return ret;
	}
	if (!message)
		return 0;

	/*
	 * envelope body body-fld-lines: without a usable inner body the part
	 * is still a message file, just not one with parts of its own.
	 */
	inner = v->count > 8 && is_list(&it[8]) && it[8].count > 0;
	if (!inner) {
		w->t->skipped++;
		return 0;
	}
	if (depth >= w->max_depth)
		return -E2BIG;
	before = w->t->n;
	ret = walk_body(w, &it[8], true, depth + 1, idx);
	if (ret < 0)
		return ret;
	w->t->parts[idx].is_message = w->t->n > before;
	return 0;
}

/*
 * body-type-mpart: the leading lists are the parts, numbered by position
 * whether or not they turn out usable, so that the sections of the rest
 * still match the server's. Its own extension data is not needed: a
 * multipart is not listed.
 */
static int walk_multipart(struct walk *w, const struct imap_value *v,
			  unsigned depth, uint32_t parent)
{
	if (depth >= w->max_depth)
		return -E2BIG;
	for (size_t i = 0; i < v->count && is_list(&v->items[i]); i++) {
		size_t saved;
		int ret;

		ret = sec_push(w, i + 1, &saved);
		if (ret < 0)
			return ret;
		ret = walk_body(w, &v->items[i], false, depth + 1, parent);
		sec_pop(w, saved);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * A body whose section is w->sec. The body of a whole message (msg_root) is
 * special (RFC 3501 §6.4.5): when it is not multipart, its one part is
 * "<sec>.1" ("1" for the top level), not "<sec>".
 */
static int walk_body(struct walk *w, const struct imap_value *v, bool msg_root,
		     unsigned depth, uint32_t parent)
{
	size_t saved;
	int ret;

	if (!is_list(v) || v->count == 0) {
		w->t->skipped++;
		return 0;
	}
	if (is_list(&v->items[0]))
		return walk_multipart(w, v, depth, parent);
	if (!msg_root)
		return walk_single(w, v, depth, parent);
	ret = sec_push(w, 1, &saved);
	if (ret < 0)
		return ret;
	ret = walk_single(w, v, depth, parent);
	sec_pop(w, saved);
	return ret;
}

int bodystructure_parse(const struct imap_value *v, size_t max_parts, unsigned max_depth,
			struct bs_tree *out)
{
	struct walk w = {
		.t = out,
		.max_parts = max_parts,
		.max_depth = max_depth,
	};
	int ret;

	memset(out, 0, sizeof(*out));
	if (!is_list(v) || v->count == 0)
		return -EPROTO;
	w.sec = calloc(1, 64);
	if (!w.sec)
		return -ENOMEM;
	w.sec_cap = 64;

	ret = walk_body(&w, v, true, 0, BS_NO_PARENT);
	/* A body structure has at least one part; none usable is none at all. */
	if (ret == 0 && out->n == 0)
		ret = -EPROTO;
	free(w.sec);
	if (ret < 0)
		bodystructure_free(out);
	return ret;
}

static void free_params(struct bs_param *ps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(ps[i].name);
		free(ps[i].value);
	}
	free(ps);
}

void bodystructure_free(struct bs_tree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		struct bs_part *p = &t->parts[i];

		free(p->section);
		free(p->type);
		free(p->subtype);
		free_params(p->params, p->nparams);
		free(p->disposition);
		free_params(p->disp_params, p->ndisp_params);
		free(p->encoding);
		free(p->id);
		free(p->description);
	}
	free(t->parts);
	memset(t, 0, sizeof(*t));
}
