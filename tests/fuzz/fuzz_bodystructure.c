/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: BODYSTRUCTURE to part list (src/imap/bodystructure.h) and
 * the naming of the parts (src/mime/name.h, mime_param_get()).
 *
 * The input is what a server sends after "BODYSTRUCTURE ": it is wrapped as
 * "* 1 FETCH (BODYSTRUCTURE <input>)\r\n", parsed with the response parser
 * and, when that gives one FETCH response, handed to bodystructure_parse()
 * with the store's limits (4095 parts, depth 32). Every part is then named
 * the way the store does it: the disposition's filename, else the type's
 * name parameter, through mime_param_get(), then mime_part_filename().
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/bodystructure.h"
#include "imap/parser.h"
#include "mime/header.h"
#include "mime/name.h"

#include "fuzz_common.h"

#define MAX_PARTS 4095
#define MAX_DEPTH 32

static const char prefix[] = "* 1 FETCH (BODYSTRUCTURE ";
static const char suffix[] = ")\r\n";

/* As store/parts.c does it: bs_param to mime_param, then mime_param_get(). */
static char *params_get(const struct bs_param *bp, size_t n, const char *name)
{
	struct mime_param *mp;
	char *v;

	if (!n)
		return NULL;
	mp = calloc(n, sizeof(*mp));
	if (!mp)
		abort();
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(bp[i].name && bp[i].value, "parameter %zu has a NULL name or value", i);
		mp[i].name = bp[i].name;
		mp[i].value = bp[i].value;
	}
	v = mime_param_get(mp, n, name);
	free(mp);
	if (v)
		FUZZ_CHECK(fuzz_utf8_valid(v, strlen(v)),
			   "mime_param_get(\"%s\") = \"%s\": not UTF-8", name,
			   fuzz_show(v, strlen(v)));
	return v;
}

/* What mime/name.h promises of a part's file name. */
static void check_name(const char *name, const char *section)
{
	size_t n = strlen(name), sl = strlen(section);
	const unsigned char *s = (const unsigned char *)name;

	FUZZ_CHECK(n > 0 && n <= MIME_NAME_MAX, "name of %zu bytes", n);
	FUZZ_CHECK(strcmp(name, ".") && strcmp(name, "..") && name[0] != '.',
		   "name \"%s\"", fuzz_show(name, n));
	FUZZ_CHECK(fuzz_utf8_valid(name, n), "name \"%s\" is not UTF-8", fuzz_show(name, n));
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(s[i] != '/' && s[i] >= 0x20 && s[i] != 0x7f,
			   "name \"%s\" has byte 0x%02x", fuzz_show(name, n), s[i]);
		/* C1 controls (U+0080..U+009F) are C2 80..C2 9F. */
		FUZZ_CHECK(!(s[i] == 0xc2 && i + 1 < n && s[i + 1] < 0xa0),
			   "name \"%s\" has a C1 control", fuzz_show(name, n));
	}
	if (sl + 1 < MIME_NAME_MAX)
		FUZZ_CHECK(!strncmp(name, section, sl) && (name[sl] == '-' || name[sl] == '.'),
			   "name \"%s\" does not start with section %s", fuzz_show(name, n),
			   section);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The invariants bodystructure.h and tests/unit/test_bodystructure.c state. */
static void check_tree(const struct bs_tree *t)
{
	const char **sections;

	FUZZ_CHECK(t->n <= MAX_PARTS, "%zu parts, limit %d", t->n, MAX_PARTS);
	FUZZ_CHECK(t->n >= 1 && t->parts, "success with %zu parts", t->n);
	for (size_t i = 0; i < t->n; i++) {
		const struct bs_part *p = &t->parts[i];

		FUZZ_CHECK(p->section && p->type && p->subtype && p->encoding,
			   "part %zu has a NULL string", i);
		FUZZ_CHECK(p->nparams == 0 || p->params, "part %zu params", i);
		FUZZ_CHECK(p->ndisp_params == 0 || p->disp_params, "part %zu disp_params", i);
		/* "1", "2.1", "3.1.2": numbers from 1 joined by dots. */
		const char *c = p->section;
		bool ok = *c != '\0';

		while (ok && *c) {
			ok = *c >= '1' && *c <= '9';
			while (*c >= '0' && *c <= '9')
				c++;
			if (ok && *c == '.')
				ok = *++c != '\0';
			else if (ok)
				ok = *c == '\0';
		}
		FUZZ_CHECK(ok, "part %zu has section \"%s\"", i,
			   fuzz_show(p->section, strlen(p->section)));
		for (const char *s = p->type; *s; s++)
			FUZZ_CHECK(!(*s >= 'A' && *s <= 'Z'), "type \"%s\" not lower-cased", p->type);
		for (const char *s = p->subtype; *s; s++)
			FUZZ_CHECK(!(*s >= 'A' && *s <= 'Z'), "subtype \"%s\" not lower-cased",
				   p->subtype);
		for (const char *s = p->encoding; *s; s++)
			FUZZ_CHECK(!(*s >= 'A' && *s <= 'Z'), "encoding \"%s\" not lower-cased",
				   p->encoding);
		if (p->disposition)
			for (const char *s = p->disposition; *s; s++)
				FUZZ_CHECK(!(*s >= 'A' && *s <= 'Z'),
					   "disposition \"%s\" not lower-cased", p->disposition);

		if (p->parent != BS_NO_PARENT) {
			const struct bs_part *pa;
			size_t pl;

			FUZZ_CHECK(p->parent < i, "part %zu has parent %u", i, p->parent);
			pa = &t->parts[p->parent];
			pl = strlen(pa->section);
			FUZZ_CHECK(pa->is_message && !strncmp(p->section, pa->section, pl) &&
					   p->section[pl] == '.',
				   "part %s has parent %s", p->section, pa->section);
			/* All between the parent and this one share the parent. */
			for (size_t j = p->parent + 1; j < i; j++)
				FUZZ_CHECK(!strncmp(t->parts[j].section, pa->section, pl) &&
						   t->parts[j].section[pl] == '.',
					   "part %s between %s and its child %s",
					   t->parts[j].section, pa->section, p->section);
		} else {
			/* No earlier message part encloses it. Checked against the
			 * nearest earlier message parts only, to stay linear enough. */
			for (size_t j = i, seen = 0; j-- > 0 && seen < 64;) {
				const struct bs_part *q = &t->parts[j];
				size_t ql = strlen(q->section);

				if (!q->is_message)
					continue;
				seen++;
				FUZZ_CHECK(!(!strncmp(p->section, q->section, ql) &&
					     p->section[ql] == '.'),
					   "part %s has no parent but is inside %s", p->section,
					   q->section);
			}
		}
	}
	/* Every part is a file: sections must be unique. */
	if (t->n > 1) {
		sections = malloc(t->n * sizeof(*sections));
		if (!sections)
			abort();
		for (size_t i = 0; i < t->n; i++)
			sections[i] = t->parts[i].section;
		qsort(sections, t->n, sizeof(*sections), cmp_str);
		for (size_t i = 1; i < t->n; i++)
			FUZZ_CHECK(strcmp(sections[i - 1], sections[i]), "section %s twice",
				   sections[i]);
		free(sections);
	}
}

static void name_parts(const struct bs_tree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct bs_part *p = &t->parts[i];
		char *filename, *name;

		filename = params_get(p->disp_params, p->ndisp_params, "filename");
		if (!filename)
			filename = params_get(p->params, p->nparams, "name");
		name = mime_part_filename(p->section, filename, p->type, p->subtype);
		FUZZ_CHECK(name, "mime_part_filename() = NULL");
		check_name(name, p->section);
		free(name);
		free(filename);
		/* And the other parameters the way a caller might ask for them. */
		free(params_get(p->params, p->nparams, "charset"));
		free(params_get(p->disp_params, p->ndisp_params, "size"));
		FUZZ_CHECK(mime_extension(p->type, p->subtype), "mime_extension() = NULL");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len = sizeof(prefix) - 1 + size + sizeof(suffix) - 1, off = 0;
	struct imap_parser *p;
	struct imap_response *r = NULL;
	struct bs_tree t;
	char *text;
	int ret;

	text = malloc(len);
	if (!text)
		abort();
	memcpy(text, prefix, sizeof(prefix) - 1);
	if (size)
		memcpy(text + sizeof(prefix) - 1, data, size);
	memcpy(text + sizeof(prefix) - 1 + size, suffix, sizeof(suffix) - 1);

	p = imap_parser_new(NULL);
	if (!p)
		abort();
	while (off < len && !r) {
		ssize_t n = imap_parser_feed(p, text + off, len - off);

		if (n < 0)
			break;
		off += (size_t)n;
		r = imap_parser_take(p);
	}
	if (!r)
		goto out;

	memset(&t, 0xa5, sizeof(t)); /* parse must initialise it, even on error */
	ret = bodystructure_parse(imap_list_lookup(imap_list_item(&r->args, 0), "BODYSTRUCTURE"),
				  MAX_PARTS, MAX_DEPTH, &t);
	FUZZ_CHECK(ret == 0 || ret == -EPROTO || ret == -E2BIG,
		   "bodystructure_parse() = %d", ret);
	if (ret < 0) {
		FUZZ_CHECK(t.n == 0 && t.parts == NULL, "tree not empty after error %d", ret);
	} else {
		check_tree(&t);
		name_parts(&t);
	}
	bodystructure_free(&t);

	/* NULL is "not a body structure at all". */
	memset(&t, 0xa5, sizeof(t));
	FUZZ_CHECK(bodystructure_parse(NULL, MAX_PARTS, MAX_DEPTH, &t) == -EPROTO,
		   "bodystructure_parse(NULL)");
	bodystructure_free(&t);
out:
	imap_response_free(r);
	imap_parser_free(p);
	free(text);
	return 0;
}
