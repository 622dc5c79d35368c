/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Header text to UTF-8: RFC 2047 encoded-words, RFC 2231 parameters, charset
 * conversion.
 *
 * Mail in the wild breaks every one of these RFCs, and a header that does not
 * decode still has to become a file name or an xattr value. So decoding never
 * fails on bad input: a malformed encoded-word stays literal text, bytes no
 * charset explains become U+FFFD, and unlabelled 8-bit text is read as UTF-8
 * where it is valid and as Windows-1252 where it is not.
 *
 * Everything here is linear in its input: headers are attacker-controlled.
 */
#include <errno.h>
#include <iconv.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mime/header.h"
#include "mime/utf8.h"
#include "util/buf.h"

/* A decoded header longer than this is a hostile one; the rest is dropped. */
#define HEADER_OUT_MAX (64 * 1024)

/* The longest charset name in the IANA registry is 45 characters. */
#define CHARSET_NAME_MAX 64

/* RFC 2231 continuations beyond this are a hostile message, not a file name. */
#define PARAM_SEGMENT_MAX 9999

/* ------------------------------------------------------------------------ */
/* Text being built */

/*
 * A struct buf with what decoding adds: an optional bound, and a flag for
 * running out of memory that sticks, so the many puts need no checks and the
 * result says once whether the text is whole.
 */
struct text {
	struct buf b;
	size_t max;	/* 0: unbounded; else text past max bytes is dropped */
	bool full;	/* max was reached */
	bool oom;
};

static int text_reserve(struct text *t, size_t extra)
{
	if (t->oom)
		return -ENOMEM;
	if (buf_reserve(&t->b, extra) < 0) {
		t->oom = true;
		return -ENOMEM;
	}
	return 0;
}

/*
 * Appends n bytes of UTF-8. A bounded text takes what fits, cut before a
 * continuation byte so it stays valid, and is full from then on.
 */
static void text_put(struct text *t, const char *s, size_t n)
{
	if (t->full)
		return;
	if (t->max && n > t->max - t->b.len) {
		n = mime_utf8_cut(s, n, t->max - t->b.len);
		t->full = true;
	}
	if (!n || t->oom)
		return;
	if (buf_append(&t->b, s, n) < 0)
		t->oom = true;
}

static void text_putc(struct text *t, char c)
{
	text_put(t, &c, 1);
}

static void text_put_cp(struct text *t, uint32_t cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	text_put(t, u, n);
}

/* The NUL-terminated text, which the caller frees, or NULL with errno ENOMEM. */
static char *text_finish(struct text *t)
{
	if (t->oom) {
		buf_free(&t->b);
		errno = ENOMEM;
		return NULL;
	}
	return buf_steal(&t->b);
}

/* ------------------------------------------------------------------------ */
/* Bytes to UTF-8 */

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = ascii_lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Windows-1252 for 0x80-0x9f, the five holes as their C1 code points (as
 * WHATWG does). Mail labelled ISO-8859-1 is nearly always Windows-1252 in
 * truth, and there 0x80-0x9f are quotes, dashes and the euro sign, never the
 * C1 controls ISO-8859-1 would make of them.
 */
static const uint16_t cp1252_high[32] = {
	0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d, 0x017d, 0x008f,
	0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

static void put_cp1252_byte(struct text *out, unsigned char c)
{
	if (c >= 0x80 && c < 0xa0)
		text_put_cp(out, cp1252_high[c - 0x80]);
	else
		text_put_cp(out, c);
}

static void put_latin1(struct text *out, const char *in, size_t len)
{
	size_t i;

	for (i = 0; i < len && !out->full; i++)
		if (in[i])
			put_cp1252_byte(out, (unsigned char)in[i]);
}

/*
 * UTF-8 where it is well-formed; each other byte becomes fallback(byte):
 * U+FFFD for text declared UTF-8, Windows-1252 for unlabelled text.
 */
static void put_utf8_or(struct text *out, const char *in, size_t len, bool latin1)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, run = 0, n;

	/* Valid runs are copied whole: most headers are plain ASCII. */
	while (i < len && !out->full) {
		n = s[i] ? mime_utf8_seq_len(s + i, len - i) : 0;
		if (n) {
			i += n;
			continue;
		}
		text_put(out, in + run, i - run);
		/* A NUL is no text: shown as U+FFFD, so a file name policy can see it was there. */
		if (s[i] && latin1)
			put_cp1252_byte(out, s[i]);
		else
			text_put_cp(out, 0xfffd);
		run = ++i;
	}
	text_put(out, in + run, i - run);
}

enum cs_kind {
	CS_AUTO,	/* unlabelled or unknown: UTF-8, else Windows-1252 */
	CS_UTF8,
	CS_LATIN1,	/* ISO-8859-1 and Windows-1252 */
	CS_ICONV,
};

struct charset {
	enum cs_kind kind;
	char name[CHARSET_NAME_MAX + 1]; /* for iconv, lower case */
};

/*
 * Names iconv lacks or gets less right than the mail clients that wrote them.
 * Where a label names a subset of what its writers really used (GB2312,
 * EUC-KR, Shift_JIS), the superset reads both.
 */
static const struct {
	const char *alias;
	enum cs_kind kind;
	const char *iconv;
} charset_aliases[] = {
	{ "utf-8", CS_UTF8, NULL },
	{ "utf8", CS_UTF8, NULL },
	{ "unicode-1-1-utf-8", CS_UTF8, NULL },
	{ "x-unicode20utf8", CS_UTF8, NULL },
	/* Labelled ASCII with 8-bit bytes is common; guess instead of U+FFFD. */
	{ "us-ascii", CS_AUTO, NULL },
	{ "ascii", CS_AUTO, NULL },
	{ "us", CS_AUTO, NULL },
	{ "ansi_x3.4-1968", CS_AUTO, NULL },
	{ "iso646-us", CS_AUTO, NULL },
	{ "646", CS_AUTO, NULL },
	{ "x-unknown", CS_AUTO, NULL },
	{ "unknown", CS_AUTO, NULL },
	{ "unknown-8bit", CS_AUTO, NULL },
	{ "x-user-defined", CS_AUTO, NULL },
	{ "default", CS_AUTO, NULL },
	{ "charset", CS_AUTO, NULL },
	{ "iso-8859-1", CS_LATIN1, NULL },
	{ "iso8859-1", CS_LATIN1, NULL },
	{ "iso_8859-1", CS_LATIN1, NULL },
	{ "iso_8859-1:1987", CS_LATIN1, NULL },
	{ "latin1", CS_LATIN1, NULL },
	{ "latin-1", CS_LATIN1, NULL },
	{ "l1", CS_LATIN1, NULL },
	{ "cp819", CS_LATIN1, NULL },
	{ "ibm819", CS_LATIN1, NULL },
	{ "windows-1252", CS_LATIN1, NULL },
	{ "cp1252", CS_LATIN1, NULL },
	{ "x-cp1252", CS_LATIN1, NULL },
	{ "ks_c_5601-1987", CS_ICONV, "cp949" },
	{ "ks_c_5601", CS_ICONV, "cp949" },
	{ "euc-kr", CS_ICONV, "cp949" },
	{ "korean", CS_ICONV, "cp949" },
	{ "gb2312", CS_ICONV, "gb18030" },
	{ "gbk", CS_ICONV, "gb18030" },
	{ "x-gbk", CS_ICONV, "gb18030" },
	{ "cp936", CS_ICONV, "gb18030" },
	{ "euc-cn", CS_ICONV, "gb18030" },
	{ "shift_jis", CS_ICONV, "cp932" },
	{ "shift-jis", CS_ICONV, "cp932" },
	{ "x-sjis", CS_ICONV, "cp932" },
	{ "sjis", CS_ICONV, "cp932" },
	{ "ms_kanji", CS_ICONV, "cp932" },
	{ "windows-31j", CS_ICONV, "cp932" },
	{ "x-euc-jp", CS_ICONV, "euc-jp" },
	{ "iso-8859-8-i", CS_ICONV, "iso-8859-8" },
	{ "iso-8859-8-e", CS_ICONV, "iso-8859-8" },
	{ "iso-8859-6-i", CS_ICONV, "iso-8859-6" },
	{ "iso-8859-6-e", CS_ICONV, "iso-8859-6" },
	{ "x-mac-roman", CS_ICONV, "macintosh" },
	{ "mac", CS_ICONV, "macintosh" },
	{ "tis-620", CS_ICONV, "windows-874" },
	{ "x-x-big5", CS_ICONV, "big5-hkscs" },
	{ "big5", CS_ICONV, "big5-hkscs" },
};

static bool is_charset_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
	       c == ':' || c == '+';
}

/*
 * What to convert a label with. The RFC 2231 §5 language ("US-ASCII*EN") is
 * dropped; a name with other characters is unknown rather than handed to
 * iconv, whose names may carry "//" options.
 */
static void charset_resolve(const char *cs, size_t len, struct charset *out)
{
	size_t i;

	out->kind = CS_AUTO;
	out->name[0] = '\0';
	if (!cs)
		return;
	while (len && is_wsp(*cs)) {
		cs++;
		len--;
	}
	for (i = 0; i < len && cs[i] != '*'; i++)
		;
	len = i;
	while (len && is_wsp(cs[len - 1]))
		len--;
	if (!len || len > CHARSET_NAME_MAX)
		return;
	for (i = 0; i < len; i++) {
		if (!is_charset_char(cs[i]))
			return;
		out->name[i] = ascii_lower(cs[i]);
	}
	out->name[len] = '\0';
	out->kind = CS_ICONV;
	for (i = 0; i < sizeof(charset_aliases) / sizeof(charset_aliases[0]); i++) {
		if (strcmp(out->name, charset_aliases[i].alias))
			continue;
		out->kind = charset_aliases[i].kind;
		if (charset_aliases[i].iconv)
			strcpy(out->name, charset_aliases[i].iconv);
		return;
	}
}

static bool charset_same(const struct charset *a, const struct charset *b)
{
	return a->kind == b->kind && (a->kind != CS_ICONV || !strcmp(a->name, b->name));
}

static void put_fffd_raw(struct text *t)
{
	text_put(t, "\xef\xbf\xbd", 3);
}

/*
 * iconv into a scratch buffer, then through the UTF-8 check, which drops
 * NULs and makes sure of the promise whatever the converter did.
 */
static void put_iconv(struct text *out, iconv_t cd, const char *in, size_t len)
{
	struct text tmp = { 0 };
	char *ip = (char *)in, *op;
	size_t il = len, ol, r;
	int err;

	while (il > 0) {
		if (text_reserve(&tmp, il + il / 2 + 16) < 0)
			goto out;
		op = tmp.b.data + tmp.b.len;
		ol = tmp.b.cap - 1 - tmp.b.len;
		r = iconv(cd, &ip, &il, &op, &ol);
		tmp.b.len = (size_t)(op - tmp.b.data);
		if (r != (size_t)-1)
			break;
		err = errno;
		if (err == E2BIG)
			continue;
		put_fffd_raw(&tmp);
		/* An invalid byte is skipped; a truncated tail ends the text. */
		if (err != EILSEQ)
			break;
		ip++;
		il--;
	}
	/* Stateful charsets (ISO-2022-JP) may hold output back until reset. */
	if (text_reserve(&tmp, 64) < 0)
		goto out;
	op = tmp.b.data + tmp.b.len;
	ol = tmp.b.cap - 1 - tmp.b.len;
	iconv(cd, NULL, NULL, &op, &ol);
	tmp.b.len = (size_t)(op - tmp.b.data);
	put_utf8_or(out, tmp.b.data, tmp.b.len, false);
out:
	if (tmp.oom)
		out->oom = true;
	buf_free(&tmp.b);
}

static void convert(struct text *out, const struct charset *cs, const char *in, size_t len)
{
	iconv_t cd;

	switch (cs->kind) {
	case CS_UTF8:
		put_utf8_or(out, in, len, false);
		return;
	case CS_LATIN1:
		put_latin1(out, in, len);
		return;
	case CS_ICONV:
		/* A converter per call: iconv_t is not shareable between threads. */
		cd = iconv_open("UTF-8", cs->name);
		if (cd != (iconv_t)-1) {
			put_iconv(out, cd, in, len);
			iconv_close(cd);
			return;
		}
		if (errno == ENOMEM) {
			out->oom = true;
			return;
		}
		break;
	case CS_AUTO:
		break;
	}
	put_utf8_or(out, in, len, true);
}

char *mime_charset_to_utf8(const char *charset, const char *in, size_t len)
{
	struct text out = { 0 };
	struct charset cs;

	if (!in) {
		in = "";
		len = 0;
	}
	charset_resolve(charset, charset ? strlen(charset) : 0, &cs);
	convert(&out, &cs, in, len);
	return text_finish(&out);
}

/* ------------------------------------------------------------------------ */
/* RFC 2047 */

/*
 * RFC 5322 unfolding: a line break followed by whitespace goes. A bare line
 * break elsewhere (never in a well-formed header) becomes a space, and one at
 * the very end goes too. A raw NUL is a control character like the others
 * (a space), not the end of the text.
 */
static size_t unfold(const char *s, size_t len, char *out)
{
	size_t i, o = 0, j;

	for (i = 0; i < len; i++) {
		if (s[i] != '\r' && s[i] != '\n') {
			out[o++] = s[i] ? s[i] : ' ';
			continue;
		}
		j = i;
		if (s[j] == '\r' && j + 1 < len && s[j + 1] == '\n')
			j++;
		if (j + 1 < len && !is_wsp(s[j + 1]))
			out[o++] = ' ';
		i = j;
	}
	return o;
}

struct encoded_word {
	const char *charset;
	size_t charset_len;
	char encoding;		/* 'b' or 'q' */
	const char *text;
	size_t text_len;
	size_t len;		/* of the whole "=?...?=" */
};

static bool is_b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : 63;
}

/* Whitespace and controls end an encoded-word; 8-bit bytes are tolerated. */
static bool is_word_byte(char c)
{
	unsigned char u = (unsigned char)c;

	return u > 0x20 && u != 0x7f;
}

/*
 * Parses the encoded-word at s, which starts with "=?". Returns false if
 * there is none.
 *
 * Q text may hold a raw '?' (as Python's decoder allows) and ends at the
 * first "?=". B text ends at its first non-base64 byte, which must start
 * "?=". So a B scan stops at the next '?', and a Q scan at the next "?=" or
 * whitespace. When a Q scan finds whitespace (or the end) first, no word
 * that starts before there can end before it either: *dead_end says where
 * that is, and the caller does not look for words up to it again. That
 * keeps "=?a?q?x=?a?q?x=?a?q?x..." linear rather than quadratic.
 */
static bool parse_word(const char *s, size_t n, struct encoded_word *w, size_t *dead_end)
{
	size_t i = 2;

	*dead_end = 0;
	while (i < n && i - 2 <= CHARSET_NAME_MAX && s[i] != '?' && is_word_byte(s[i]))
		i++;
	if (i >= n || s[i] != '?' || i == 2 || i - 2 > CHARSET_NAME_MAX)
		return false;
	w->charset = s + 2;
	w->charset_len = i - 2;
	i++;
	if (i + 1 >= n || s[i + 1] != '?')
		return false;
	w->encoding = ascii_lower(s[i]);
	if (w->encoding != 'b' && w->encoding != 'q')
		return false;
	i += 2;
	w->text = s + i;
	if (w->encoding == 'b') {
		while (i < n && is_b64_char(s[i]))
			i++;
	} else {
		while (i < n && is_word_byte(s[i]) && !(s[i] == '?' && i + 1 < n && s[i + 1] == '='))
			i++;
	}
	if (i + 1 >= n || s[i] != '?' || s[i + 1] != '=') {
		/* No Q text starting before i could end past the whitespace at i. */
		if (w->encoding == 'q')
			*dead_end = i;
		return false;
	}
	w->text_len = (size_t)(s + i - w->text);
	w->len = i + 2;
	return true;
}

/* Lenient base64: padding optional, anything after the first '=' ignored. */
static void b_decode(struct text *out, const char *s, size_t n)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t i;

	for (i = 0; i < n && s[i] != '='; i++) {
		acc = acc << 6 | (uint32_t)b64_value(s[i]);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			text_putc(out, (char)(acc >> bits & 0xff));
		}
		acc &= (1u << bits) - 1;
	}
}

/* '_' is a space; an '=' not followed by two hex digits stays itself. */
static void q_decode(struct text *out, const char *s, size_t n)
{
	size_t i;
	int hi, lo;

	for (i = 0; i < n; i++) {
		if (s[i] == '_') {
			text_putc(out, ' ');
		} else if (s[i] == '=' && i + 2 < n && (hi = hex_value(s[i + 1])) >= 0 &&
			   (lo = hex_value(s[i + 2])) >= 0) {
			text_putc(out, (char)(hi << 4 | lo));
			i += 2;
		} else {
			text_putc(out, s[i]);
		}
	}
}

struct header_decoder {
	struct text out;
	/*
	 * The raw bytes of adjacent encoded-words in one charset, converted
	 * together: encoders split multibyte characters across words.
	 */
	struct text pending;
	struct charset pending_cs;
};

static void flush_pending(struct header_decoder *d)
{
	if (d->pending.oom)
		d->out.oom = true;
	if (!d->pending.b.len)
		return;
	convert(&d->out, &d->pending_cs, d->pending.b.data, d->pending.b.len);
	buf_reset(&d->pending.b);
}

static void put_word(struct header_decoder *d, const struct encoded_word *w)
{
	struct charset cs;

	charset_resolve(w->charset, w->charset_len, &cs);
	if (d->pending.b.len && (!charset_same(&cs, &d->pending_cs) ||
				 d->pending.b.len > HEADER_OUT_MAX))
		flush_pending(d);
	d->pending_cs = cs;
	if (w->encoding == 'b')
		b_decode(&d->pending, w->text, w->text_len);
	else
		q_decode(&d->pending, w->text, w->text_len);
}

static void put_literal(struct header_decoder *d, const char *s, size_t n)
{
	if (!n)
		return;
	flush_pending(d);
	put_utf8_or(&d->out, s, n, true);
}

static bool all_wsp(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!is_wsp(s[i]))
			return false;
	return true;
}

static void decode_words(struct header_decoder *d, const char *t, size_t n)
{
	struct encoded_word w;
	size_t i = 0, lit = 0, dead_end = 0, skip;
	bool after_word = false;

	while (i + 1 < n && !d->out.full && !d->out.oom) {
		if (t[i] != '=' || t[i + 1] != '?' || i < dead_end) {
			i++;
			continue;
		}
		if (!parse_word(t + i, n - i, &w, &skip)) {
			if (skip)
				dead_end = i + skip;
			i++;
			continue;
		}
		/* RFC 2047 §6.2: whitespace between encoded-words is not text. */
		if (!after_word || !all_wsp(t + lit, i - lit))
			put_literal(d, t + lit, i - lit);
		put_word(d, &w);
		i += w.len;
		lit = i;
		after_word = true;
	}
	if (!d->out.full)
		put_literal(d, t + lit, n - lit);
	flush_pending(d);
}

/* Control characters would reach terminals and xattr values; TAB is text. */
static void blank_controls(char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
			s[i] = ' ';
}

char *mime_header_decode(const char *value, size_t len)
{
	struct header_decoder d = { .out.max = HEADER_OUT_MAX };
	char *text;
	size_t n;

	text = malloc(len + 1);
	if (!text) {
		errno = ENOMEM;
		return NULL;
	}
	n = unfold(value ? value : "", value ? len : 0, text);
	decode_words(&d, text, n);
	free(text);
	buf_free(&d.pending.b);
	blank_controls(d.out.b.data, d.out.b.len);
	return text_finish(&d.out);
}

/* ------------------------------------------------------------------------ */
/* Header fields */

/* The end of the line at pos (before its CR LF or LF); *next is past it. */
static size_t line_end(const char *s, size_t len, size_t pos, size_t *next)
{
	const char *lf = memchr(s + pos, '\n', len - pos);
	size_t end;

	if (!lf) {
		*next = len;
		return len;
	}
	end = (size_t)(lf - s);
	*next = end + 1;
	if (end > pos && s[end - 1] == '\r')
		end--;
	return end;
}

/* Joins the field's first line and its continuations, dropping the breaks. */
static char *field_value(const char *s, size_t len, size_t pos, size_t eol, size_t next)
{
	struct text raw = { 0 };
	struct text out = { 0 };
	size_t a, b;

	for (;;) {
		text_put(&raw, s + pos, eol - pos);
		if (next >= len || !is_wsp(s[next]))
			break;
		pos = next;
		eol = line_end(s, len, pos, &next);
	}
	a = 0;
	b = raw.b.len;
	while (a < b && is_wsp(raw.b.data[a]))
		a++;
	while (b > a && is_wsp(raw.b.data[b - 1]))
		b--;
	if (raw.oom)
		out.oom = true;
	else if (b > a)
		put_utf8_or(&out, raw.b.data + a, b - a, true);
	buf_free(&raw.b);
	return text_finish(&out);
}

char *mime_header_field(const char *block, size_t len, const char *name)
{
	size_t nlen = strlen(name), pos = 0, eol, next, fend;
	const char *colon;

	while (pos < len) {
		eol = line_end(block, len, pos, &next);
		if (eol == pos)
			break;
		colon = is_wsp(block[pos]) ? NULL : memchr(block + pos, ':', eol - pos);
		if (colon) {
			/* RFC 5322 §4.5.3 (obsolete) allows "Subject :". */
			fend = (size_t)(colon - block);
			while (fend > pos && is_wsp(block[fend - 1]))
				fend--;
			if (fend - pos == nlen && !strncasecmp(block + pos, name, nlen))
				return field_value(block, len, (size_t)(colon - block) + 1, eol,
						   next);
		}
		pos = next;
	}
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* RFC 2231 parameters */

struct segment {
	unsigned long index;
	size_t order;		/* in the list, so the first of duplicates wins */
	bool extended;
	const char *value;
};

enum param_kind {
	PARAM_OTHER,
	PARAM_PLAIN,		/* name= */
	PARAM_EXTENDED,		/* name*= */
	PARAM_SEGMENT,		/* name*N= or name*N*= */
};

static enum param_kind param_kind(const char *pname, const char *name, size_t nlen,
				  struct segment *seg)
{
	const char *s;
	unsigned long index = 0;

	if (!pname || strncasecmp(pname, name, nlen))
		return PARAM_OTHER;
	s = pname + nlen;
	if (*s == '\0')
		return PARAM_PLAIN;
	if (*s++ != '*')
		return PARAM_OTHER;
	if (*s == '\0')
		return PARAM_EXTENDED;
	if (*s < '0' || *s > '9')
		return PARAM_OTHER;
	for (; *s >= '0' && *s <= '9'; s++) {
		index = index * 10 + (unsigned long)(*s - '0');
		if (index > PARAM_SEGMENT_MAX)
			return PARAM_OTHER;
	}
	seg->extended = *s == '*';
	if (seg->extended)
		s++;
	if (*s != '\0')
		return PARAM_OTHER;
	seg->index = index;
	return PARAM_SEGMENT;
}

static int segment_cmp(const void *a, const void *b)
{
	const struct segment *x = a, *y = b;

	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* %XX to a byte; a '%' without two hex digits stays itself. */
static void percent_decode(struct text *out, const char *s)
{
	int hi, lo;

	for (; *s; s++) {
		if (*s == '%' && (hi = hex_value(s[1])) >= 0 && (lo = hex_value(s[2])) >= 0) {
			text_putc(out, (char)(hi << 4 | lo));
			s += 2;
		} else {
			text_putc(out, *s);
		}
	}
}

/*
 * Splits charset'language'text. Without both quotes the whole value is
 * text in an unknown charset: senders forget the prefix.
 */
static const char *split_extended(const char *value, struct charset *cs)
{
	const char *q1 = strchr(value, '\''), *q2;

	if (!q1 || !(q2 = strchr(q1 + 1, '\''))) {
		charset_resolve(NULL, 0, cs);
		return value;
	}
	charset_resolve(value, (size_t)(q1 - value), cs);
	return q2 + 1;
}

static char *decode_extended(const char *value)
{
	struct text raw = { 0 }, out = { 0 };
	struct charset cs;

	percent_decode(&raw, split_extended(value, &cs));
	if (raw.oom)
		out.oom = true;
	else
		convert(&out, &cs, raw.b.data ? raw.b.data : "", raw.b.len);
	buf_free(&raw.b);
	return text_finish(&out);
}

/*
 * Joins segments 0, 1, ... up to the first gap. Only the first segment may
 * carry charset'language'; it covers the extended segments after it.
 * Without any extended segment the result is an ordinary value, so
 * RFC 2047 words in it are decoded as in a plain parameter.
 */
static char *join_segments(struct segment *segs, size_t n)
{
	struct text raw = { 0 }, out = { 0 };
	struct charset cs;
	unsigned long next = 0;
	bool any_extended = false;
	const char *v;
	char *res;
	size_t i;

	qsort(segs, n, sizeof(*segs), segment_cmp);
	charset_resolve(NULL, 0, &cs);
	for (i = 0; i < n && segs[i].index <= next; i++) {
		if (segs[i].index < next)
			continue;
		v = segs[i].value ? segs[i].value : "";
		if (segs[i].extended) {
			if (next == 0)
				v = split_extended(v, &cs);
			percent_decode(&raw, v);
			any_extended = true;
		} else {
			text_put(&raw, v, strlen(v));
		}
		next++;
	}
	if (raw.oom) {
		buf_free(&raw.b);
		errno = ENOMEM;
		return NULL;
	}
	if (!any_extended) {
		res = mime_header_decode(raw.b.data ? raw.b.data : "", raw.b.len);
		buf_free(&raw.b);
		return res;
	}
	convert(&out, &cs, raw.b.data ? raw.b.data : "", raw.b.len);
	buf_free(&raw.b);
	return text_finish(&out);
}

char *mime_param_get(const struct mime_param *params, size_t n, const char *name)
{
	const struct mime_param *plain = NULL, *extended = NULL;
	struct segment *segs, seg;
	size_t nlen = strlen(name), nsegs = 0, i;
	bool have_zero = false;
	char *res;

	segs = calloc(n ? n : 1, sizeof(*segs));
	if (!segs) {
		errno = ENOMEM;
		return NULL;
	}
	for (i = 0; i < n; i++) {
		switch (param_kind(params[i].name, name, nlen, &seg)) {
		case PARAM_PLAIN:
			if (!plain)
				plain = &params[i];
			break;
		case PARAM_EXTENDED:
			if (!extended)
				extended = &params[i];
			break;
		case PARAM_SEGMENT:
			seg.order = i;
			seg.value = params[i].value;
			segs[nsegs++] = seg;
			have_zero |= seg.index == 0;
			break;
		case PARAM_OTHER:
			break;
		}
	}
	/* RFC 2231 values first: a plain one beside them is for old readers. */
	if (have_zero)
		res = join_segments(segs, nsegs);
	else if (extended)
		res = decode_extended(extended->value ? extended->value : "");
	else if (plain)
		res = mime_header_decode(plain->value ? plain->value : "",
					 plain->value ? strlen(plain->value) : 0);
	else
		res = NULL;
	free(segs);
	return res;
}
