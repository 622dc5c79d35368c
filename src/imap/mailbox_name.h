/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Mailbox names as path components.
 *
 * A server's mailbox name is split on its hierarchy delimiter into levels;
 * each level, decoded from modified UTF-7, becomes one directory name. A level
 * that cannot be a path component as it is ("." or "..", empty, containing '/'
 * when the delimiter is something else, control characters, invalid modified
 * UTF-7) is escaped reversibly: '%' followed by two upper-case hex digits for
 * each offending byte, and '%' itself is always escaped as "%25". So every
 * level maps to exactly one component and back; nothing is dropped.
 *
 * An empty level is shown as "%%" (escaping never produces it). A level that
 * is not valid modified UTF-7 is shown as its raw bytes with '&' and every
 * 8-bit byte escaped, which marks it as raw on the way back. Each level has
 * exactly one spelling: mailbox_component_to_wire() accepts only what
 * mailbox_component_from_wire() produces (no "%41" for "A", no lower-case hex),
 * so no mailbox can be reached under two names.
 *
 * Results are newly allocated; the caller frees them. Functions return NULL
 * with errno set on failure (EINVAL, ENOMEM).
 */
#ifndef IMAPFS_IMAP_MAILBOX_NAME_H
#define IMAPFS_IMAP_MAILBOX_NAME_H

#include <stddef.h>

/*
 * One level of a wire (modified UTF-7) mailbox name -> a safe UTF-8 path
 * component. Invalid modified UTF-7 is shown as its raw bytes with '&' escaped
 * as "%26", so it round-trips through mailbox_component_to_wire() to the same
 * wire bytes. Never fails on content, only on ENOMEM.
 */
char *mailbox_component_from_wire(const char *wire, size_t len);

/*
 * A path component (as a user typed it, UTF-8) -> one level of a wire name:
 * %XX escapes undone, then encoded to modified UTF-7, except that a component
 * holding "%26" escapes maps back byte for byte. EINVAL if the result would
 * contain the delimiter (delim, 0 for a flat namespace), NUL or CR/LF, or if
 * the component is "." or "..", empty or invalid UTF-8.
 */
char *mailbox_component_to_wire(const char *component, char delim);

#endif
