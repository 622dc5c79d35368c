/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Header text to UTF-8: RFC 2047 encoded-words, RFC 2231 parameters, and
 * charset conversion (iconv). All results are newly allocated, NUL-terminated
 * and valid UTF-8; the caller frees them. NULL means absent, or ENOMEM.
 */
#ifndef IMAPFS_MIME_HEADER_H
#define IMAPFS_MIME_HEADER_H

#include <stddef.h>

/*
 * len bytes in charset (any case, with aliases iconv knows; NULL or unknown
 * charsets: UTF-8 if the bytes are valid UTF-8, else Latin-1) to UTF-8.
 * Invalid sequences and NUL bytes become U+FFFD.
 */
char *mime_charset_to_utf8(const char *charset, const char *in, size_t len);

/*
 * An unstructured header value (Subject, From, ...) to UTF-8: unfolded,
 * RFC 2047 encoded-words (B and Q, any charset, with the whitespace between
 * adjacent encoded-words removed) decoded, raw 8-bit text taken as UTF-8 when
 * valid, else Latin-1. Control characters other than TAB become spaces.
 */
char *mime_header_decode(const char *value, size_t len);

/*
 * The raw value (unfolded, leading and trailing whitespace removed) of the
 * first field called name (any case) in a header block, or NULL.
 */
char *mime_header_field(const char *block, size_t len, const char *name);

struct mime_param {
	const char *name;  /* as the message has it, e.g. "filename*0*" */
	const char *value; /* already unquoted */
};

/*
 * The UTF-8 value of parameter name among params: RFC 2231 continuations
 * (name*0, name*1*, ...) joined and charset'language'%XX decoded, else the
 * plain name=value with RFC 2047 encoded-words decoded (common in the wild).
 * NULL if absent.
 */
char *mime_param_get(const struct mime_param *params, size_t n, const char *name);

#endif
