/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * File names made of a UID: "17.eml", "17.parts", "17~.eml", and readable
 * names ending in one: "2024-03-01 10.12 Alice - Hi [17].eml".
 */
#ifndef IMAPFS_UTIL_UID_NAME_H
#define IMAPFS_UTIL_UID_NAME_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* "<uid><suffix>" with a canonical decimal UID (1 to 2^32-1, no leading zero). */
static inline bool parse_uid_name(const char *name, const char *suffix, uint32_t *uid)
{
	uint64_t v = 0;
	const char *p = name;

	if (*p < '1' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return false;
	}
	if (strcmp(p, suffix) != 0)
		return false;
	*uid = (uint32_t)v;
	return true;
}

/* "<something> [<uid>]<suffix>", the UID canonical as above: the UID a readable name claims. */
static inline bool parse_readable_name(const char *name, const char *suffix, uint32_t *uid)
{
	size_t len = strlen(name), slen = strlen(suffix), nd;
	const char *close, *open;
	char digits[16];

	if (len < slen + 5 || strcmp(name + len - slen, suffix) != 0)
		return false;
	close = name + len - slen - 1;
	if (*close != ']')
		return false;
	for (open = close - 1; open > name && *open >= '0' && *open <= '9'; open--)
		;
	nd = (size_t)(close - open - 1);
	if (*open != '[' || open - name < 2 || open[-1] != ' ' || nd == 0 || nd > 10)
		return false;
	memcpy(digits, open + 1, nd);
	digits[nd] = '\0';
	return parse_uid_name(digits, "", uid);
}

#endif
