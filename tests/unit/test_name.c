/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for part names, extensions and sniffing (src/mime/name.c). */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mime/name.h"

#include "check.h"

/* What every name must be, whatever went in. */
static bool safe_name(const char *s)
{
	size_t i;

	if (!s || !*s || strlen(s) > MIME_NAME_MAX || !strcmp(s, ".") || !strcmp(s, "..") ||
	    s[0] == '.' || !valid_utf8(s))
		return false;
	for (i = 0; s[i]; i++)
		if (s[i] == '/' || (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static void name(int line, const char *sec, const char *fn, const char *type, const char *sub,
		 const char *want)
{
	char *got = mime_part_filename(sec, fn, type, sub);

	check(got && !strcmp(got, want) && safe_name(got), line,
	      "mime_part_filename(\"%s\", \"%s\", %s/%s) = \"%s\", want \"%s\"", show0(sec),
	      show0(fn), type ? type : "NULL", sub ? sub : "NULL", show0(got), show0(want));
	free(got);
}

static void test_names(void)
{
	name(__LINE__, "2", "Rechnung M\xc3\xa4rz.pdf", "application", "pdf",
	     "2-Rechnung M\xc3\xa4rz.pdf");
	name(__LINE__, "2", "report.pdf", "application", "octet-stream", "2-report.pdf");
	name(__LINE__, "1.2", NULL, "text", "html", "1.2.html");
	name(__LINE__, "1", NULL, "TEXT", "PLAIN", "1.txt");
	name(__LINE__, "3", NULL, "message", "rfc822", "3.eml");
	name(__LINE__, "4", NULL, NULL, NULL, "4.bin");
	name(__LINE__, "2", "README", "text", "plain", "2-README");
	/* '/' becomes '_', then leading dots go */
	name(__LINE__, "2", "../../etc/passwd", "text", "plain", "2-_.._etc_passwd");
	name(__LINE__, "2", "/etc/passwd", "text", "plain", "2-_etc_passwd");
	name(__LINE__, "2", "a/b", "text", "plain", "2-a_b");
	name(__LINE__, "2", "..", "application", "pdf", "2.pdf");
	name(__LINE__, "2", ".", "application", "pdf", "2.pdf");
	name(__LINE__, "2", "...", "application", "pdf", "2.pdf");
	name(__LINE__, "2", ".bashrc", "text", "plain", "2-bashrc");
	name(__LINE__, "2", " . .hidden ", "text", "plain", "2-hidden");
	name(__LINE__, "2", "  report.pdf  ", "application", "pdf", "2-report.pdf");
	name(__LINE__, "2", "name.", "text", "plain", "2-name.");
	/* controls, C1 controls, invalid UTF-8 */
	name(__LINE__, "2", "a\tb\x01" "c\x7f.txt", "text", "plain", "2-a_b_c_.txt");
	name(__LINE__, "2", "a\r\nb.txt", "text", "plain", "2-a__b.txt");
	name(__LINE__, "2", "a\xc2\x9b" "b", "text", "plain", "2-a_b");
	name(__LINE__, "2", "M\xe4rz.pdf", "application", "pdf", "2-M_rz.pdf");
	name(__LINE__, "2", "\xc3\xa4\xff\xc3", "text", "plain", "2-\xc3\xa4__");
	name(__LINE__, "2", "\xed\xa0\x80x", "text", "plain", "2-___x");
	name(__LINE__, "2", "\xe2\x82\xac\xf0\x9f\x93\x8e.txt", "text", "plain",
	     "2-\xe2\x82\xac\xf0\x9f\x93\x8e.txt");
	/* nothing usable left: the type's extension */
	name(__LINE__, "2", "\xc0\xaf", "application", "octet-stream", "2.bin");
	name(__LINE__, "2", "", "image", "png", "2.png");
	name(__LINE__, "2", "   ", "image", "png", "2.png");
	name(__LINE__, "2", "\x01\x02", "image", "png", "2.png");
	name(__LINE__, "2", "/", "image", "png", "2.png");
	/* sections are sanitized too */
	name(__LINE__, NULL, "a.txt", "text", "plain", "part-a.txt");
	name(__LINE__, "", NULL, "text", "plain", "part.txt");
	name(__LINE__, "1/2", NULL, "text", "plain", "1_2.txt");
}

static char *repeat(const char *unit, size_t times, const char *tail)
{
	size_t u = strlen(unit), i;
	char *s = malloc(u * times + strlen(tail) + 1);

	if (!s)
		abort();
	for (i = 0; i < times; i++)
		memcpy(s + i * u, unit, u);
	strcpy(s + u * times, tail);
	return s;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return n >= t && !strcmp(s + n - t, tail);
}

static void long_name(int line, const char *sec, char *fn, size_t want_len, const char *want_tail)
{
	char *got = mime_part_filename(sec, fn, "application", "pdf");

	check(got && safe_name(got) && strlen(got) == want_len && ends_with(got, want_tail) &&
	      !strncmp(got, sec, strlen(sec)) && got[strlen(sec)] == '-',
	      line, "long name: \"%s\" (%zu bytes), want %zu bytes ending \"%s\"", show0(got),
	      got ? strlen(got) : 0, want_len, want_tail);
	free(got);
	free(fn);
}

static void test_long_names(void)
{
	/* "2-" + 124 x 2 bytes (125 would split a character at 249) + ".pdf" */
	long_name(__LINE__, "2", repeat("\xc3\xa4", 150, ".pdf"), 254, "\xc3\xa4.pdf");
	/* 83 x 3 bytes fit exactly */
	long_name(__LINE__, "2", repeat("\xe2\x82\xac", 100, ".pdf"), 255, "\xe2\x82\xac.pdf");
	long_name(__LINE__, "2", repeat("\xf0\x9f\x93\x8e", 100, ".pdf"), 254, "\x8e.pdf");
	long_name(__LINE__, "1.2.3", repeat("a", 300, ".pdf"), 255, "aaa.pdf");
	long_name(__LINE__, "2", repeat("a", 300, ".0123456789abcdef"), 255, "a.0123456789abcdef");
	/* an "extension" too long to be one is cut like the rest */
	long_name(__LINE__, "2", repeat("a", 300, ".0123456789abcdefg"), 255, "aaa");
	long_name(__LINE__, "2", repeat("x", 300, ""), 255, "xxx");
	long_name(__LINE__, "2", repeat("x", 253, ""), 255, "xxx");
	long_name(__LINE__, "2", repeat("x", 252, ".a"), 255, "x.a");
	long_name(__LINE__, "2", repeat("x", 253, ".a"), 255, "x.a");
	long_name(__LINE__, "2", repeat("\xc3\xa4", 200, ""), 254, "\xc3\xa4");
	/* a sender's name cannot stretch the section's name either */
	long_name(__LINE__, "2", repeat("/", 300, ".pdf"), 255, "_.pdf");
}

/* Everything that goes in comes out safe. */
static void test_never_unsafe(void)
{
	static const char *const hostile[] = {
		".", "..", "...", "./", "../", "/..", "/", "//", "\n", "\x01", "..\x00",
		" .. ", ".\xc2\xa0", "\xef\xbb\xbf..", "a/../b", "\xc0\xae\xc0\xae",
		"\xe0\x80\xae", ". ", " ", "\x7f", "-", "-rf", "*", "~",
	};
	size_t i;
	char *got;

	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		got = mime_part_filename("1", hostile[i], "text", "plain");
		check(safe_name(got), __LINE__, "\"%s\" -> \"%s\"", show0(hostile[i]), show0(got));
		free(got);
		got = mime_part_filename(hostile[i], hostile[i], "text", "plain");
		check(safe_name(got), __LINE__, "section \"%s\" -> \"%s\"", show0(hostile[i]),
		      show0(got));
		free(got);
	}
}

static void ext(int line, const char *type, const char *sub, const char *want)
{
	const char *got = mime_extension(type, sub);

	check(got && !strcmp(got, want), line, "mime_extension(%s, %s) = %s, want %s",
	      type ? type : "NULL", sub ? sub : "NULL", got ? got : "NULL", want);
}

static void test_extensions(void)
{
	static const char *const table[][3] = {
		{ "text", "plain", "txt" },
		{ "text", "html", "html" },
		{ "text", "calendar", "ics" },
		{ "text", "csv", "csv" },
		{ "text", "xml", "xml" },
		{ "text", "enriched", "txt" },
		{ "text", "rtf", "rtf" },
		{ "text", "rfc822-headers", "txt" },
		{ "text", "x-whatever", "txt" },
		{ "application", "pdf", "pdf" },
		{ "application", "zip", "zip" },
		{ "application", "gzip", "gz" },
		{ "application", "x-tar", "tar" },
		{ "application", "msword", "doc" },
		{ "application", "vnd.openxmlformats-officedocument.wordprocessingml.document", "docx" },
		{ "application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx" },
		{ "application", "vnd.openxmlformats-officedocument.presentationml.presentation", "pptx" },
		{ "application", "vnd.ms-excel", "xls" },
		{ "application", "vnd.ms-powerpoint", "ppt" },
		{ "application", "vnd.oasis.opendocument.text", "odt" },
		{ "application", "vnd.oasis.opendocument.spreadsheet", "ods" },
		{ "application", "vnd.oasis.opendocument.presentation", "odp" },
		{ "application", "json", "json" },
		{ "application", "xml", "xml" },
		{ "application", "pgp-signature", "asc" },
		{ "application", "pkcs7-signature", "p7s" },
		{ "application", "x-pkcs7-signature", "p7s" },
		{ "application", "ics", "ics" },
		{ "application", "octet-stream", "bin" },
		{ "application", "atom+xml", "xml" },
		{ "application", "ld+json", "json" },
		{ "application", "x-unheard-of", "bin" },
		{ "image", "png", "png" },
		{ "image", "jpeg", "jpg" },
		{ "image", "gif", "gif" },
		{ "image", "webp", "webp" },
		{ "image", "svg+xml", "svg" },
		{ "image", "bmp", "bmp" },
		{ "image", "tiff", "tif" },
		{ "image", "x-unheard-of", "bin" },
		{ "audio", "mpeg", "mp3" },
		{ "audio", "ogg", "ogg" },
		{ "audio", "wav", "wav" },
		{ "video", "mp4", "mp4" },
		{ "message", "rfc822", "eml" },
		{ "message", "global", "eml" },
		{ "message", "delivery-status", "txt" },
		{ "message", "disposition-notification", "txt" },
		{ "multipart", "mixed", "bin" },
		{ "TEXT", "HTML", "html" },
		{ "Application", "PDF", "pdf" },
	};
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		ext(__LINE__, table[i][0], table[i][1], table[i][2]);
	ext(__LINE__, NULL, NULL, "bin");
	ext(__LINE__, "text", NULL, "txt");
	ext(__LINE__, NULL, "plain", "bin");
	ext(__LINE__, "", "", "bin");
}

static const unsigned char png[] = {
	0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
	0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0, 16, 0, 0, 0, 16, 8, 6, 0, 0, 0,
	0x1f, 0xf3, 0xff, 0x61,
};
static const char pdf[] = "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n";
static const char text[] = "Hello,\n\nthis is plain text in a part that said nothing.\n";
/*
 * A whole zip of a.txt ("hello", stored) as Python's zipfile writes it:
 * libmagic 5.44 looks past the local header, so 4 bytes are not enough.
 */
static const unsigned char zip[] = {
	0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0xab, 0x26, 0x76, 0x5d,
	0x86, 0xa6, 0x10, 0x36, 0x05, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x05, 0x00,
	0x00, 0x00, 0x61, 0x2e, 0x74, 0x78, 0x74, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x50, 0x4b,
	0x01, 0x02, 0x14, 0x03, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0xab, 0x26, 0x76, 0x5d,
	0x86, 0xa6, 0x10, 0x36, 0x05, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x05, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x01, 0x00, 0x00,
	0x00, 0x00, 0x61, 0x2e, 0x74, 0x78, 0x74, 0x50, 0x4b, 0x05, 0x06, 0x00, 0x00, 0x00,
	0x00, 0x01, 0x00, 0x01, 0x00, 0x33, 0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00,
	0x00,
};
static const unsigned char gif[] = "GIF89a\x01\x00\x01\x00\x80\x00\x00";

static struct sample {
	const void *buf;
	size_t len;
	const char *want;
} samples[] = {
	{ png, sizeof(png), "image/png" },
	{ pdf, sizeof(pdf) - 1, "application/pdf" },
	{ text, sizeof(text) - 1, "text/plain" },
	{ zip, sizeof(zip), "application/zip" },
	{ gif, sizeof(gif) - 1, "image/gif" },
};

static void sniff(int line, const void *buf, size_t len, const char *want)
{
	char *got = mime_sniff(buf, len);

	if (want)
		check(got && !strcmp(got, want), line, "mime_sniff = %s, want %s",
		      got ? got : "NULL", want);
	else
		check(!got, line, "mime_sniff = %s, want NULL", got);
	free(got);
}

static void test_sniff(void)
{
	unsigned char noise[512];
	uint32_t x = 12345;
	char *got;
	size_t i;

	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
		sniff(__LINE__, samples[i].buf, samples[i].len, samples[i].want);
	sniff(__LINE__, "%PDF-1.4", 8, "application/pdf");
	/* libmagic 5.44 wants more than the signature of a zip; never a wrong answer */
	got = mime_sniff("PK\x03\x04", 4);
	check(!got || !strcmp(got, "application/zip"), __LINE__, "bare zip signature: %s", got);
	free(got);
	/* libmagic cannot tell what noise is */
	for (i = 0; i < sizeof(noise); i++) {
		x = x * 1103515245 + 12345;
		noise[i] = (unsigned char)(x >> 16);
	}
	noise[0] = 0;
	sniff(__LINE__, noise, sizeof(noise), NULL);
	sniff(__LINE__, text, 0, NULL);
	sniff(__LINE__, NULL, 10, NULL);
}

#define THREADS 8
#define ROUNDS 100

static void *sniffer(void *arg)
{
	size_t k = (size_t)(uintptr_t)arg, r, nsamples = sizeof(samples) / sizeof(samples[0]);
	struct sample *s;
	char *got;

	for (r = 0; r < ROUNDS; r++) {
		s = &samples[(k + r) % nsamples];
		got = mime_sniff(s->buf, s->len);
		check(got && !strcmp(got, s->want), __LINE__, "thread %zu round %zu: %s, want %s",
		      k, r, got ? got : "NULL", s->want);
		free(got);
	}
	return NULL;
}

/* One magic_t per thread: concurrent sniffs must agree with serial ones. */
static void test_sniff_threads(void)
{
	pthread_t t[THREADS];
	size_t i;
	int started = 0;

	for (i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, sniffer, (void *)(uintptr_t)i) == 0)
			started++;
	check(started == THREADS, __LINE__, "started %d of %d threads", started, THREADS);
	for (i = 0; i < (size_t)started; i++)
		pthread_join(t[i], NULL);
}

int main(void)
{
	test_names();
	test_long_names();
	test_never_unsafe();
	test_extensions();
	test_sniff();
	test_sniff_threads();
	return check_summary();
}
