/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * BODYSTRUCTURE (RFC 3501 §7.4.2, RFC 9051) to a flat list of the parts a
 * user sees as files: every leaf part, and every message/rfc822 part (whose
 * own parts follow it). Multipart containers are not listed.
 *
 * Section numbers follow RFC 3501 §6.4.5: a message that is not multipart
 * has the single part "1"; the body of an encapsulated message at "3" is
 * "3.1" when not multipart, and its parts "3.1", "3.2", ... when it is.
 *
 * Pure code. Ownership: everything in a bs_tree is released by
 * bodystructure_free().
 */
#ifndef IMAPFS_IMAP_BODYSTRUCTURE_H
#define IMAPFS_IMAP_BODYSTRUCTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/parser.h"

#define BS_NO_PARENT UINT32_MAX

struct bs_param {
	char *name;  /* as sent, e.g. "filename*0*" */
	char *value;
};

struct bs_part {
	char *section;        /* "1", "2.1", "3.1.2" */
	char *type, *subtype; /* lower-cased; "text"/"plain" if NIL; subtype
	                       * "octet-stream" when only it is missing (non-text) */
	struct bs_param *params;  /* Content-Type parameters */
	size_t nparams;
	char *disposition;        /* lower-cased ("attachment", "inline") or NULL */
	struct bs_param *disp_params;
	size_t ndisp_params;
	char *encoding;       /* lower-cased Content-Transfer-Encoding; "7bit" if NIL */
	char *id, *description; /* or NULL */
	uint64_t size;        /* octets of BODY[section] */
	uint32_t parent;      /* index of the enclosing message/rfc822 part, or BS_NO_PARENT */
	bool is_message;      /* message/rfc822 (or global) with its structure: parts follow */
	bool untyped;         /* the message gave no usable type: type/subtype are defaults */
};

struct bs_tree {
	struct bs_part *parts;
	size_t n;
	unsigned skipped; /* malformed sub-structures left out (the rest is kept) */
};

/*
 * Parses the value that follows BODYSTRUCTURE in a FETCH response. A part
 * that cannot be understood is skipped and counted in skipped rather than
 * failing the whole tree. Returns 0, -EPROTO if v is not a body structure at
 * all, -E2BIG past max_parts listed parts or max_depth nesting, -ENOMEM.
 */
int bodystructure_parse(const struct imap_value *v, size_t max_parts, unsigned max_depth,
			struct bs_tree *out);
void bodystructure_free(struct bs_tree *t);

#endif
