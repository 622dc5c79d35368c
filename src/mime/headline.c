/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Headlines: date, sender and subject as the start of a file name.
 *
 * Everything here reads what a sender wrote, so nothing is trusted: a Date
 * that does not parse falls back to INTERNALDATE, an address list that does
 * not parse gives its raw text, and whatever comes out is made safe as a
 * name. Linear in the header's length.
 */
#include "mime/headline.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mime/header.h"
#include "mime/utf8.h"
#include "util/buf.h"
#include "util/civil.h"

/* ---- dates (RFC 5322 §3.3, §4.3) ---- */

static const char *skip_cfws(const char *p)
{
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == ',')
			p++;
		if (*p != '(')
			return p;
		/* Comments nest; an unclosed one ends the text. */
		for (int depth = 0; *p; p++) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '(')
				depth++;
			else if (*p == ')' && --depth == 0) {
				p++;
				break;
			}
		}
	}
}

/* Up to max digits at *p; -1 if none. */
static long digits(const char **p, int max, int *count)
{
	long v = 0;
	int n = 0;

	while (n < max && isdigit((unsigned char)**p)) {
		v = v * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	if (count)
		*count = n;
	return n ? v : -1;
}

static int month_of(const char **p)
{
	static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	char m[4];

	for (int i = 0; i < 3; i++) {
		if (!isalpha((unsigned char)(*p)[i]))
			return -1;
		m[i] = (char)tolower((unsigned char)(*p)[i]);
	}
	m[3] = '\0';
	for (int i = 0; i < 12; i++) {
		if (memcmp(names + 3 * i, m, 3) == 0) {
			*p += 3;
			while (isalpha((unsigned char)**p)) /* "March" */
				(*p)++;
			return i + 1;
		}
	}
	return -1;
}

/* The zone's offset east of UTC in seconds; obsolete names as RFC 5322 §4.3. */
static long zone_of(const char *p)
{
	static const struct {
		const char *name;
		int hours;
	} names[] = { { "UT", 0 },   { "UTC", 0 },  { "GMT", 0 },  { "Z", 0 },   { "EST", -5 },
		      { "EDT", -4 }, { "CST", -6 }, { "CDT", -5 }, { "MST", -7 }, { "MDT", -6 },
		      { "PST", -8 }, { "PDT", -7 } };
	char word[8];
	size_t n = 0;

	if (*p == '+' || *p == '-') {
		int count;
		const char *d = p + 1;
		long v = digits(&d, 4, &count);

		if (count != 4 || v % 100 > 59)
			return 0;
		return (*p == '-' ? -1 : 1) * ((v / 100) * 3600 + (v % 100) * 60);
	}
	while (n < sizeof(word) - 1 && isalpha((unsigned char)p[n])) {
		word[n] = (char)toupper((unsigned char)p[n]);
		n++;
	}
	word[n] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(word, names[i].name) == 0)
			return names[i].hours * 3600L;
	return 0; /* military and unknown zones mean nothing known: UTC (§4.3) */
}

int mime_date_parse(const char *s, int64_t *out)
{
	const char *p = skip_cfws(s ? s : "");
	long day, year, hour, min, sec = 0;
	int month, ny;

	/* An optional day of the week ("Fri,") */
	if (isalpha((unsigned char)*p)) {
		while (isalpha((unsigned char)*p))
			p++;
		p = skip_cfws(p);
	}
	day = digits(&p, 2, NULL);
	p = skip_cfws(p);
	month = month_of(&p);
	p = skip_cfws(p);
	year = digits(&p, 4, &ny);
	if (day < 1 || month < 1 || year < 0)
		return -EINVAL;
	if (ny == 2)
		year += year < 50 ? 2000 : 1900;
	else if (ny == 3)
		year += 1900;
	if ((unsigned)day > civil_days_in_month(year, (unsigned)month))
		return -EINVAL;
	p = skip_cfws(p);
	hour = digits(&p, 2, NULL);
	p = skip_cfws(p);
	if (*p++ != ':')
		return -EINVAL;
	p = skip_cfws(p);
	min = digits(&p, 2, NULL);
	p = skip_cfws(p);
	if (*p == ':') {
		p = skip_cfws(p + 1);
		sec = digits(&p, 2, NULL);
	}
	if (hour < 0 || hour > 23 || min < 0 || min > 59 || sec < 0 || sec > 60 || year < 1900)
		return -EINVAL;
	*out = civil_to_days(year, (unsigned)month, (unsigned)day) * 86400 + hour * 3600 +
	       min * 60 + sec - zone_of(skip_cfws(p));
	return 0;
}

/* ---- names ---- */

/*
 * Format characters that change how a name is shown without being seen:
 * zero-width ones, direction marks and overrides (an RLO makes " [7].eml"
 * display reversed, a fake extension), line and paragraph separators, and
 * the byte order mark. s is a 3-byte UTF-8 sequence.
 */
static bool invisible(const unsigned char *s)
{
	if (s[0] == 0xe2 && s[1] == 0x80)
		return (s[2] >= 0x8b && s[2] <= 0x8f) || (s[2] >= 0xa8 && s[2] <= 0xae);
	if (s[0] == 0xe2 && s[1] == 0x81)
		return s[2] == 0xa0 || (s[2] >= 0xa6 && s[2] <= 0xaf);
	return s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf;
}

/*
 * Appends text (UTF-8) to b made safe as part of a name: control characters
 * (C0, DEL, C1) and runs of white space become one space, '/' becomes '_';
 * at most max bytes, cut on a character boundary.
 */
static int put_clean(struct buf *b, const char *text, size_t max)
{
	size_t start = b->len, n = strlen(text);
	bool space = start == 0 || b->data[start - 1] == ' ';

	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)text[i];
		size_t len = mime_utf8_seq_len((const unsigned char *)text + i, n - i);
		bool blank = c < 0x20 || c == 0x7f || c == ' ' ||
			     (c == 0xc2 && len == 2 && (unsigned char)text[i + 1] < 0xa0) ||
			     (len == 3 && invisible((const unsigned char *)text + i));

		if (blank) {
			if (!space && buf_append(b, " ", 1) < 0)
				return -ENOMEM;
			space = true;
			i += len ? len : 1;
			continue;
		}
		if (!len) {
			if (buf_append_str(b, "\xef\xbf\xbd") < 0) /* U+FFFD */
				return -ENOMEM;
			i++;
		} else {
			if (buf_append(b, c == '/' ? "_" : text + i, len) < 0)
				return -ENOMEM;
			i += len;
		}
		space = false;
		if (b->len - start > max + 4)
			break; /* enough to cut from */
	}
	if (b->len - start > max)
		b->len = start + mime_utf8_cut(b->data + start, b->len - start, max);
	while (b->len > start && b->data[b->len - 1] == ' ')
		b->len--;
	return 0;
}

/* The end of the first address of a list: the first ',' outside quotes, comments and <>. */
static size_t first_address(const char *s)
{
	int depth = 0;
	bool quoted = false, angle = false;
	size_t i;

	for (i = 0; s[i]; i++) {
		if (s[i] == '\\' && s[i + 1] && (quoted || depth))
			i++;
		else if (quoted)
			quoted = s[i] != '"';
		else if (s[i] == '(')
			depth++;
		else if (s[i] == ')' && depth)
			depth--;
		else if (depth)
			continue;
		else if (s[i] == '"')
			quoted = true;
		else if (s[i] == '<')
			angle = true;
		else if (s[i] == '>')
			angle = false;
		else if (s[i] == ',' && !angle)
			break;
	}
	return i;
}

/* s[0..len) without quotes and quoting backslashes, and (when drop_comments) comments. */
static char *unquote(const char *s, size_t len, bool drop_comments, bool comments_only)
{
	char *out = malloc(len + 1);
	size_t n = 0;
	int depth = 0;
	bool quoted = false;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '\\' && i + 1 < len && (quoted || depth)) {
			c = s[++i];
		} else if (!depth && c == '"') {
			quoted = !quoted;
			continue;
		} else if (!quoted && c == '(') {
			if (depth++ == 0)
				continue;
		} else if (!quoted && c == ')' && depth) {
			if (--depth == 0) {
				if (comments_only)
					out[n++] = ' ';
				continue;
			}
		}
		if ((depth && drop_comments) || (!depth && comments_only))
			continue;
		out[n++] = c;
	}
	out[n] = '\0';
	return out;
}

/*
 * The sender as a person reads it: the display name of the first address
 * ("Alice Example" <alice@example.org>, or alice@example.org (Alice
 * Example)), else the address. Decoded UTF-8, or NULL.
 */
static char *sender_of(const char *from)
{
	size_t end = first_address(from);
	const char *lt = memchr(from, '<', end);
	char *raw, *text = NULL;

	if (lt) {
		const char *gt = memchr(lt, '>', end - (size_t)(lt - from));

		raw = unquote(from, (size_t)(lt - from), true, false);
		if (raw)
			text = mime_header_decode(raw, strlen(raw));
		free(raw);
		if (text && strspn(text, " \t") == strlen(text)) {
			free(text);
			text = mime_header_decode(lt + 1, gt ? (size_t)(gt - lt - 1)
							     : end - (size_t)(lt + 1 - from));
		}
		return text;
	}
	raw = unquote(from, end, false, true); /* the comment is the name */
	if (raw)
		text = mime_header_decode(raw, strlen(raw));
	free(raw);
	if (text && strspn(text, " \t") == strlen(text)) {
		free(text);
		raw = unquote(from, end, true, false);
		text = raw ? mime_header_decode(raw, strlen(raw)) : NULL;
		free(raw);
	}
	return text;
}

/* text made clean (put_clean), or instead when nothing of it is left. */
static int put_field(struct buf *b, const char *text, const char *instead, size_t max)
{
	size_t start = b->len;
	int r = text ? put_clean(b, text, max) : 0;

	if (r == 0 && b->len == start)
		r = put_clean(b, instead, max);
	return r;
}

char *mime_headline(const char *header, size_t len, int64_t internaldate)
{
	char *date, *from, *subject_raw, *sender, *subject;
	struct buf b = { 0 };
	char when[32];
	int64_t t;
	struct tm tm;
	time_t tt;
	int r = 0;

	errno = 0;
	date = mime_header_field(header, len, "Date");
	from = mime_header_field(header, len, "From");
	subject_raw = mime_header_field(header, len, "Subject");
	sender = from ? sender_of(from) : NULL;
	subject = subject_raw ? mime_header_decode(subject_raw, strlen(subject_raw)) : NULL;

	/* Out of memory must not change a name for good: no name now rather than another. */
	if ((!date || !from || !subject_raw || (from && !sender) || (subject_raw && !subject)) &&
	    errno == ENOMEM) {
		r = -ENOMEM;
		goto out;
	}
	if (!date || mime_date_parse(date, &t) < 0)
		t = internaldate;
	tt = (time_t)t;
	if (!gmtime_r(&tt, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 1) {
		tt = (time_t)internaldate;
		if (!gmtime_r(&tt, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 1)
			memset(&tm, 0, sizeof(tm)), tm.tm_year = 70, tm.tm_mday = 1;
	}
	snprintf(when, sizeof(when), "%04d-%02d-%02d %02d.%02d ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min);
	r = buf_append_str(&b, when);
	if (r == 0)
		r = put_field(&b, sender, "(no sender)", MIME_HEADLINE_SENDER_MAX);
	if (r == 0)
		r = buf_append_str(&b, " - ");
	if (r == 0)
		r = put_field(&b, subject, "(no subject)", MIME_HEADLINE_MAX - b.len);
	if (r == 0 && !b.data)
		r = -ENOMEM;
out:
	free(date);
	free(from);
	free(subject_raw);
	free(sender);
	free(subject);
	if (r < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}
