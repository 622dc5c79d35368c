/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

static bool debug_on;
static bool use_syslog;

void log_setup(bool debug)
{
	debug_on = debug;
}

void log_to_syslog(void)
{
	openlog("imapfs", LOG_PID, LOG_DAEMON);
	use_syslog = true;
}

bool log_debug_enabled(void)
{
	return debug_on;
}

static const int syslog_priority[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
static const char *const level_prefix[] = { "error: ", "warning: ", "", "debug: " };

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (use_syslog) {
		vsyslog(syslog_priority[level], fmt, ap);
	} else {
		/*
		 * stdio's own lock, not one of ours: libfuse writes its -d trace
		 * to the same stderr, and a line of its must not land between
		 * the pieces of one of ours.
		 */
		flockfile(stderr);
		fprintf(stderr, "imapfs: %s", level_prefix[level]);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		funlockfile(stderr);
	}
	va_end(ap);
}

void log_trace(const char *prefix, const char *buf, size_t len)
{
	enum { MAX_SHOWN = 512, MAX_LINES = 32 };
	char line[MAX_SHOWN * 4 + 1];
	size_t pos = 0, lines = 0;

	/* One log line a protocol line: a read may hold several responses. */
	while (pos < len && lines < MAX_LINES) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - buf) : len, n = 0;

		for (size_t i = pos; i < end && i - pos < MAX_SHOWN; i++) {
			unsigned char ch = (unsigned char)buf[i];

			if (ch == '\r' && i + 1 == end)
				continue;
			if (ch < 0x20 || ch == 0x7f)
				n += (size_t)snprintf(line + n, sizeof(line) - n, "\\x%02x", ch);
			else
				line[n++] = (char)ch;
		}
		line[n] = '\0';
		log_msg(LOG_LEVEL_DEBUG, "%s %s%s", prefix, line, end - pos > MAX_SHOWN ? " [...]" : "");
		pos = end + 1;
		lines++;
	}
	if (pos < len)
		log_msg(LOG_LEVEL_DEBUG, "%s [... %zu bytes more]", prefix, len - pos);
}
