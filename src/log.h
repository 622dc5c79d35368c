/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging for every layer: stderr while in the foreground, syslog once
 * daemonized. Thread-safe. Never pass a credential to these functions: the
 * protocol trace (log_trace) is redacted by its callers before it gets here.
 */
#ifndef IMAPFS_LOG_H
#define IMAPFS_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARNING, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Called once by main before any thread starts. */
void log_setup(bool debug);
/* Switches to syslog (after fuse_daemonize()). */
void log_to_syslog(void);
bool log_debug_enabled(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_debug_enabled()) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__); } while (0)

/*
 * Protocol trace for -d: prefix ("C3" or "S3" for connection 3), then the
 * bytes shown printable (control bytes escaped), cut at max_shown bytes.
 */
void log_trace(const char *prefix, const char *buf, size_t len);

#endif
