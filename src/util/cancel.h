/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Cancellation of one thread's waits, for a FUSE operation the user
 * interrupted (Ctrl-C on a cat of a large attachment).
 *
 * A thread turns it on with cancel_on(flag); from then on, while *flag (set
 * by another thread) is true, every wait that thread makes through this
 * module or through net/ ends within CANCEL_POLL_MS with -EINTR. A thread
 * without a flag waits as plain pthread calls do. The flag is borrowed: it
 * must outlive the time it is on (cancel_on(NULL) turns it off).
 *
 * Everything that waits on behalf of a FUSE request uses these instead of
 * pthread_mutex_lock/pthread_cond_wait when the other party may be stuck on
 * the network: a mutex held across I/O (a mailbox's refresh lock), a
 * condition signalled when a fetch ends (prefetch, pool slots).
 */
#ifndef IMAPFS_CANCEL_H
#define IMAPFS_CANCEL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#define CANCEL_POLL_MS 50

void cancel_on(const atomic_bool *flag);
/* The calling thread's flag (NULL if none): a helper thread working for it takes it on. */
const atomic_bool *cancel_flag_of_thread(void);
/* Whether the calling thread has a flag, and whether it is set. */
bool cancel_enabled(void);
bool cancel_requested(void);

/* Locks mu; a cancellable thread gives up with -EINTR once its flag is set. */
int cancel_lock(pthread_mutex_t *mu);
/*
 * pthread_cond_wait on cv with mu held; a cancellable thread wakes at least
 * every CANCEL_POLL_MS and returns -EINTR (mu held again) once its flag is
 * set. Returns 0 otherwise; as with any condition wait, the caller rechecks
 * its predicate in a loop.
 */
int cancel_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu);

#endif
