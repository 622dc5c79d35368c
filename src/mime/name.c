/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Part file names and types.
 *
 * A file name from a message is chosen by its sender, so it is made harmless
 * before it reaches a directory listing: it can name no other directory, hide
 * itself, carry terminal escapes or exceed NAME_MAX. The section prefix keeps
 * names unique within a message whatever the sender wrote.
 */
#include <errno.h>
#include <magic.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mime/name.h"
#include "mime/utf8.h"

/* An extension longer than this is a word of the name, not a type. */
#define EXT_KEEP_MAX 16

/* ------------------------------------------------------------------------ */
/* Names */

/*
 * A copy with '/', C0 and C1 controls, DEL, each byte of invalid UTF-8 and
 * U+FFFD (what the decoders made of NUL and undecodable bytes) replaced by
 * '_'. C1 controls are included because some terminals obey U+009B as CSI.
 */
static char *sanitize(const char *in)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t len = strlen(in), i = 0, o = 0, n;
	char *out = malloc(len + 1);

	if (!out)
		return NULL;
	while (i < len) {
		n = mime_utf8_seq_len(s + i, len - i);
		if (!n || s[i] == '/' || s[i] < 0x20 || s[i] == 0x7f ||
		    (n == 2 && s[i] == 0xc2 && s[i + 1] < 0xa0) ||
		    (n == 3 && memcmp(s + i, "\xef\xbf\xbd", 3) == 0)) {
			out[o++] = '_';
			i += n ? n : 1;
			continue;
		}
		memcpy(out + o, s + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	return out;
}

/*
 * Drops leading dots and spaces (no hidden files, no "." or "..") and
 * trailing spaces, in place.
 */
static void strip(char *s)
{
	size_t a = 0, b = strlen(s);

	while (s[a] == '.' || s[a] == ' ')
		a++;
	while (b > a && s[b - 1] == ' ')
		b--;
	memmove(s, s + a, b - a);
	s[b - a] = '\0';
}

/* A name of nothing but replacement characters says less than its type. */
static bool usable(const char *s)
{
	for (; *s; s++)
		if (*s != '_' && *s != '.' && *s != ' ')
			return true;
	return false;
}

/*
 * sec + sep + name + ext, cut to MIME_NAME_MAX bytes by shortening name,
 * or the whole when even the rest does not fit.
 */
static char *compose(const char *sec, char sep, const char *name, size_t name_len,
		     const char *ext)
{
	size_t slen = strlen(sec), elen = strlen(ext), total, room;
	char *out;

	if (slen + 1 + elen < MIME_NAME_MAX) {
		room = MIME_NAME_MAX - slen - 1 - elen;
		name_len = mime_utf8_cut(name, name_len, room);
	}
	total = slen + 1 + name_len + elen;
	out = malloc(total + 1);
	if (!out)
		return NULL;
	memcpy(out, sec, slen);
	out[slen] = sep;
	memcpy(out + slen + 1, name, name_len);
	memcpy(out + slen + 1 + name_len, ext, elen);
	out[total] = '\0';
	if (total > MIME_NAME_MAX)
		out[mime_utf8_cut(out, total, MIME_NAME_MAX)] = '\0';
	return out;
}

/* The ".ext" that a cut must keep, or "" when there is none worth keeping. */
static const char *kept_extension(const char *name)
{
	const char *dot = strrchr(name, '.');
	size_t n;

	if (!dot || dot == name)
		return "";
	n = strlen(dot + 1);
	return n >= 1 && n <= EXT_KEEP_MAX ? dot : "";
}

char *mime_part_filename(const char *section, const char *filename, const char *type,
			 const char *subtype)
{
	char *sec = NULL, *name = NULL, *res = NULL;
	const char *ext;

	sec = sanitize(section ? section : "");
	if (!sec)
		goto out;
	strip(sec);
	/* Never a bare ".ext" or "-name": a section is what keeps names apart. */
	if (!*sec) {
		free(sec);
		sec = strdup("part");
		if (!sec)
			goto out;
	}
	if (filename) {
		name = sanitize(filename);
		if (!name)
			goto out;
		strip(name);
		if (usable(name)) {
			ext = kept_extension(name);
			res = compose(sec, '-', name, strlen(name) - strlen(ext), ext);
			goto out;
		}
	}
	res = compose(sec, '.', "", 0, mime_extension(type, subtype));
out:
	if (!res)
		errno = ENOMEM;
	free(sec);
	free(name);
	return res;
}

/* ------------------------------------------------------------------------ */
/* Extensions */

static const struct {
	const char *type, *subtype, *ext;
} extensions[] = {
	{ "text", "plain", "txt" },
	{ "text", "html", "html" },
	{ "text", "calendar", "ics" },
	{ "text", "x-vcalendar", "vcs" },
	{ "text", "vcard", "vcf" },
	{ "text", "x-vcard", "vcf" },
	{ "text", "csv", "csv" },
	{ "text", "xml", "xml" },
	{ "text", "css", "css" },
	{ "text", "markdown", "md" },
	{ "text", "x-diff", "diff" },
	{ "text", "x-patch", "patch" },
	{ "text", "rtf", "rtf" },
	{ "text", "enriched", "txt" },
	{ "text", "richtext", "txt" },
	{ "text", "rfc822-headers", "txt" },
	{ "application", "pdf", "pdf" },
	{ "application", "x-pdf", "pdf" },
	{ "application", "rtf", "rtf" },
	{ "application", "postscript", "ps" },
	{ "application", "zip", "zip" },
	{ "application", "x-zip-compressed", "zip" },
	{ "application", "x-zip", "zip" },
	{ "application", "gzip", "gz" },
	{ "application", "x-gzip", "gz" },
	{ "application", "x-bzip2", "bz2" },
	{ "application", "x-xz", "xz" },
	{ "application", "zstd", "zst" },
	{ "application", "x-tar", "tar" },
	{ "application", "x-7z-compressed", "7z" },
	{ "application", "vnd.rar", "rar" },
	{ "application", "x-rar-compressed", "rar" },
	{ "application", "msword", "doc" },
	{ "application", "vnd.openxmlformats-officedocument.wordprocessingml.document", "docx" },
	{ "application", "vnd.openxmlformats-officedocument.wordprocessingml.template", "dotx" },
	{ "application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx" },
	{ "application", "vnd.openxmlformats-officedocument.spreadsheetml.template", "xltx" },
	{ "application", "vnd.openxmlformats-officedocument.presentationml.presentation", "pptx" },
	{ "application", "vnd.openxmlformats-officedocument.presentationml.slideshow", "ppsx" },
	{ "application", "vnd.ms-excel", "xls" },
	{ "application", "vnd.ms-excel.sheet.macroenabled.12", "xlsm" },
	{ "application", "vnd.ms-word.document.macroenabled.12", "docm" },
	{ "application", "vnd.ms-powerpoint", "ppt" },
	{ "application", "vnd.ms-outlook", "msg" },
	{ "application", "ms-tnef", "dat" },
	{ "application", "vnd.ms-tnef", "dat" },
	{ "application", "vnd.oasis.opendocument.text", "odt" },
	{ "application", "vnd.oasis.opendocument.spreadsheet", "ods" },
	{ "application", "vnd.oasis.opendocument.presentation", "odp" },
	{ "application", "vnd.oasis.opendocument.graphics", "odg" },
	{ "application", "json", "json" },
	{ "application", "xml", "xml" },
	{ "application", "javascript", "js" },
	{ "application", "pgp-signature", "asc" },
	{ "application", "pgp-encrypted", "asc" },
	{ "application", "pgp-keys", "asc" },
	{ "application", "pkcs7-signature", "p7s" },
	{ "application", "x-pkcs7-signature", "p7s" },
	{ "application", "pkcs7-mime", "p7m" },
	{ "application", "x-pkcs7-mime", "p7m" },
	{ "application", "ics", "ics" },
	{ "application", "octet-stream", "bin" },
	{ "image", "png", "png" },
	{ "image", "x-png", "png" },
	{ "image", "jpeg", "jpg" },
	{ "image", "jpg", "jpg" },
	{ "image", "pjpeg", "jpg" },
	{ "image", "gif", "gif" },
	{ "image", "webp", "webp" },
	{ "image", "svg+xml", "svg" },
	{ "image", "bmp", "bmp" },
	{ "image", "x-ms-bmp", "bmp" },
	{ "image", "tiff", "tif" },
	{ "image", "heic", "heic" },
	{ "image", "avif", "avif" },
	{ "image", "x-icon", "ico" },
	{ "image", "vnd.microsoft.icon", "ico" },
	{ "audio", "mpeg", "mp3" },
	{ "audio", "mp3", "mp3" },
	{ "audio", "ogg", "ogg" },
	{ "audio", "wav", "wav" },
	{ "audio", "x-wav", "wav" },
	{ "audio", "flac", "flac" },
	{ "audio", "mp4", "m4a" },
	{ "audio", "aac", "aac" },
	{ "video", "mp4", "mp4" },
	{ "video", "mpeg", "mpg" },
	{ "video", "quicktime", "mov" },
	{ "video", "webm", "webm" },
	{ "video", "x-msvideo", "avi" },
	{ "message", "rfc822", "eml" },
	{ "message", "global", "eml" },
	{ "message", "news", "eml" },
	{ "message", "delivery-status", "txt" },
	{ "message", "global-delivery-status", "txt" },
	{ "message", "disposition-notification", "txt" },
	{ "message", "global-disposition-notification", "txt" },
	{ "message", "global-headers", "txt" },
};

/* RFC 6839 structured syntax suffixes say what the bytes are. */
static const struct {
	const char *suffix, *ext;
} suffixes[] = {
	{ "+xml", "xml" },
	{ "+json", "json" },
	{ "+zip", "zip" },
};

/* Case-insensitive on purpose: BODYSTRUCTURE sends "TEXT" "PLAIN". */
const char *mime_extension(const char *type, const char *subtype)
{
	size_t i, slen, xlen;

	if (!type)
		return "bin";
	if (subtype) {
		for (i = 0; i < sizeof(extensions) / sizeof(extensions[0]); i++)
			if (!strcasecmp(type, extensions[i].type) &&
			    !strcasecmp(subtype, extensions[i].subtype))
				return extensions[i].ext;
		slen = strlen(subtype);
		for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
			xlen = strlen(suffixes[i].suffix);
			if (slen > xlen && !strcasecmp(subtype + slen - xlen, suffixes[i].suffix))
				return suffixes[i].ext;
		}
	}
	if (!strcasecmp(type, "text"))
		return "txt";
	return "bin";
}

/* ------------------------------------------------------------------------ */
/* Sniffing */

/*
 * A magic_t is not thread-safe, and FUSE calls come from many threads: each
 * thread gets its own, loaded on first use and closed when the thread ends.
 */
static pthread_once_t magic_once = PTHREAD_ONCE_INIT;
static pthread_key_t magic_key;
static bool magic_key_ok;

/* Stored instead of a magic_t once loading failed, so it is not retried. */
static char magic_broken;

static void magic_destroy(void *m)
{
	if (m != &magic_broken)
		magic_close(m);
}

static void magic_key_create(void)
{
	magic_key_ok = pthread_key_create(&magic_key, magic_destroy) == 0;
}

static magic_t thread_magic(void)
{
	magic_t m;
	void *p;

	pthread_once(&magic_once, magic_key_create);
	if (!magic_key_ok)
		return NULL;
	p = pthread_getspecific(magic_key);
	if (p)
		return p == &magic_broken ? NULL : p;

	/* Looking inside compressed data is more attack surface than use. */
	m = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS);
	if (m && magic_load(m, NULL) != 0) {
		magic_close(m);
		m = NULL;
	}
	if (pthread_setspecific(magic_key, m ? (void *)m : &magic_broken) != 0) {
		if (m)
			magic_close(m);
		return NULL;
	}
	return m;
}

/* libmagic's answers for "no idea". */
static bool says_nothing(const char *t)
{
	return !strcmp(t, "application/octet-stream") || !strcmp(t, "application/x-empty") ||
	       !strcmp(t, "inode/x-empty");
}

char *mime_sniff(const void *buf, size_t len)
{
	const char *t;
	magic_t m;
	char *res;
	size_t i;

	if (!buf || !len)
		return NULL;
	m = thread_magic();
	if (!m)
		return NULL;
	t = magic_buffer(m, buf, len);
	if (!t || !strchr(t, '/') || says_nothing(t))
		return NULL;
	res = strdup(t);
	if (!res)
		return NULL;
	/* MAGIC_MIME_TYPE gives no parameters, but be sure. */
	res[strcspn(res, "; \t")] = '\0';
	for (i = 0; res[i]; i++)
		if (res[i] >= 'A' && res[i] <= 'Z')
			res[i] = (char)(res[i] - 'A' + 'a');
	return res;
}
