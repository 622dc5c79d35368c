/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Incremental IMAP response parser (RFC 3501 §9, RFC 9051 §9, RFC 3516 literal8).
 *
 * Pure code: no I/O, no threads. The caller feeds bytes as they arrive from the
 * server, in pieces of any size (one byte at a time is correct), and takes out
 * each response once it is complete.
 *
 * Every size the server controls is capped by struct imap_parser_limits, so a
 * hostile server can make feed() fail but cannot make it allocate without bound.
 *
 * Ownership: a struct imap_response returned by imap_parser_take() belongs to
 * the caller and is released with imap_response_free(); every pointer inside it
 * (strings, lists) lives exactly as long as the response.
 */
#ifndef IMAPFS_IMAP_PARSER_H
#define IMAPFS_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum imap_value_type {
	IMAP_NIL,
	IMAP_ATOM,   /* includes flags "\Seen" and fetch items "BODY[1.2]<0>" */
	IMAP_NUMBER, /* an atom of digits that fits in uint64_t; str holds the text */
	IMAP_STRING, /* quoted string (unescaped) or literal; may contain NUL */
	IMAP_LIST,   /* parenthesised list */
};

struct imap_value {
	enum imap_value_type type;
	const char *str;           /* ATOM, NUMBER, STRING: NUL-terminated; NULL for NIL */
	size_t len;                /* ATOM, NUMBER, STRING: bytes in str */
	uint64_t num;              /* NUMBER */
	struct imap_value *items;  /* LIST */
	size_t count;              /* LIST: number of items */
	bool literal8;             /* STRING came as ~{n} */
};

enum imap_resp_kind {
	IMAP_RESP_TAGGED,       /* "a1 OK ..." */
	IMAP_RESP_UNTAGGED,     /* "* ..." */
	IMAP_RESP_CONTINUATION, /* "+ ..." */
};

enum imap_status {
	IMAP_STATUS_NONE, /* a data response such as FETCH or LIST */
	IMAP_STATUS_OK,
	IMAP_STATUS_NO,
	IMAP_STATUS_BAD,
	IMAP_STATUS_BYE,
	IMAP_STATUS_PREAUTH,
};

struct imap_response {
	enum imap_resp_kind kind;
	const char *tag;        /* TAGGED: the tag; otherwise NULL */
	bool has_number;        /* "* 23 EXISTS": number = 23 */
	uint32_t number;
	/*
	 * The response's keyword, upper-cased: "OK", "NO", "BAD", "BYE",
	 * "PREAUTH", "CAPABILITY", "LIST", "FETCH", "EXISTS", ... ; "" for a
	 * continuation.
	 */
	const char *name;
	enum imap_status status;
	/* Status responses: "[CODE args]" upper-cased, or NULL when absent. */
	const char *code;
	struct imap_value code_args; /* always a LIST, possibly empty */
	/* Status responses and continuations: the human-readable rest of the line;
	 * "" (never NULL) otherwise. A continuation's [CODE] stays in the text. */
	const char *text;
	/*
	 * Data responses: the tokens after the name, e.g. for
	 * "* 12 FETCH (UID 7 FLAGS (\Seen))" one LIST item; for
	 * "* LIST (\Noselect) "/" foo" three items. Always a LIST.
	 */
	struct imap_value args;
};

struct imap_parser_limits {
	size_t max_literal;  /* bytes in one literal */
	size_t max_response; /* bytes in one response, literals included */
	unsigned max_depth;  /* nesting of parentheses and brackets */
	size_t max_values;   /* tokens in one response */
};

/* Defaults: 256 MiB literal, 264 MiB response, depth 64, 2M values. Limits
 * are used as given: 0 allows nothing. */
extern const struct imap_parser_limits imap_parser_default_limits;

struct imap_parser;

/* limits may be NULL for the defaults. Returns NULL only on ENOMEM. */
struct imap_parser *imap_parser_new(const struct imap_parser_limits *limits);
void imap_parser_free(struct imap_parser *p);

/*
 * Consumes bytes from buf. Returns the number of bytes consumed, which is less
 * than len only when a response has been completed (the rest belongs to the
 * next response: take the completed one, then feed the rest); 0 while a
 * completed response waits to be taken. On failure returns -EPROTO
 * (malformed), -E2BIG (a limit was exceeded) or -ENOMEM, with the reason in
 * imap_parser_error(); the parser then stays failed until imap_parser_reset().
 */
ssize_t imap_parser_feed(struct imap_parser *p, const char *buf, size_t len);

/* The completed response, or NULL if none is complete yet. Caller owns it. */
struct imap_response *imap_parser_take(struct imap_parser *p);

/* True if bytes of an incomplete response are buffered. */
bool imap_parser_pending(const struct imap_parser *p);

/* Human-readable reason of the last error ("no error" if none), never NULL. */
const char *imap_parser_error(const struct imap_parser *p);

/* Discards buffered input and any error (used after STARTTLS). */
void imap_parser_reset(struct imap_parser *p);

void imap_response_free(struct imap_response *r);

/* Helpers for walking values. All accept NULL and return false/NULL then. */

/* ATOM or NUMBER whose text equals word, ignoring ASCII case. */
bool imap_value_is(const struct imap_value *v, const char *word);
/* ATOM, NUMBER or STRING text; NULL for NIL, LIST or NULL. */
const char *imap_value_text(const struct imap_value *v);
/* Item i of a LIST, or NULL if v is not a list or i is out of range. */
const struct imap_value *imap_list_item(const struct imap_value *v, size_t i);
/*
 * In a LIST of alternating names and values (FETCH msg-att, STATUS), the value
 * following the first name equal to key ignoring case, or NULL.
 */
const struct imap_value *imap_list_lookup(const struct imap_value *v, const char *key);
/* NUMBER value in *out; false if v is not a NUMBER. */
bool imap_value_number(const struct imap_value *v, uint64_t *out);

#endif
