/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A small pool of sessions shared by the threads serving FUSE requests.
 *
 * Sessions are opened on demand up to the pool's size; a dead one is replaced
 * by a fresh login the next time it is needed. While the server is unreachable
 * reconnects back off (up to a few seconds), and requests in that window fail
 * with -EIO at once instead of each waiting for a timeout.
 *
 * Ownership: the pool borrows cfg, which must outlive it.
 */
#ifndef IMAPFS_STORE_POOL_H
#define IMAPFS_STORE_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session/session.h"

struct pool;

/* Opens the first session now, so a refused login fails here with err set. */
int pool_new(const struct session_config *cfg, unsigned size, struct pool **out,
	     char *err, size_t errlen);
/*
 * A pool for a server that could not be reached (pool_unreachable_errno() of
 * what pool_new() returned): no session yet, pool_server_down() true until
 * one connects; the first use tries at once.
 */
int pool_new_unreachable(const struct session_config *cfg, unsigned size, struct pool **out);
/* Whether pool_new() failed only for want of the network or the server, not a refusal. */
bool pool_unreachable_errno(int r);
void pool_free(struct pool *p);

/* A unit of work on one session. Must be safe to run twice: see pool_run(). */
typedef int (*pool_job)(struct session *s, void *ctx);

/*
 * Runs job on a free session, preferring one that has mailbox prefer (wire
 * name, may be NULL) selected. If the job fails with -EIO because a session
 * that had been idle in the pool turned out dead (the server closed it), it is
 * run once more on a fresh connection.
 */
int pool_run(struct pool *p, const char *prefer, pool_job job, void *ctx);

/*
 * As pool_run, on a connection opened for it (an idle one is closed to make
 * room): for what only a new connection sees right (driver_tree_goes_stale).
 */
int pool_run_fresh(struct pool *p, pool_job job, void *ctx);
/* Runs job once, never again: for changes that must not happen twice (APPEND). */
int pool_run_once(struct pool *p, const char *prefer, pool_job job, void *ctx);

uint64_t pool_bytes_in(struct pool *p);

/*
 * Whether the last attempt to connect failed (and none has succeeded since):
 * the server is down or unreachable, as opposed to refusing a command.
 */
bool pool_server_down(struct pool *p);

#endif
