/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Byte streams to the server: TCP with timeouts and TCP_NODELAY, and TLS
 * (OpenSSL) that verifies the chain and the host name. Knows nothing of IMAP.
 *
 * Every wait is bounded by the connection's timeout, and ends early with
 * -EINTR on a thread whose cancellation flag is set (util/cancel.h). Functions return 0 (or a
 * byte count) on success and -errno on failure, with a human-readable reason
 * in the caller's error buffer or net_error().
 *
 * Ownership: a struct net_tls is shared by many connections and outlives them;
 * a struct net_conn is used by one thread at a time.
 */
#ifndef IMAPFS_NET_H
#define IMAPFS_NET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct net_tls;
struct net_conn;

/* Trust store: the system's CAs, plus cafile when given. */
int net_tls_new(const char *cafile, struct net_tls **out, char *err, size_t errlen);
void net_tls_free(struct net_tls *tls);

/* Connects to host:port (TCP), waiting at most timeout_ms. */
int net_connect(const char *host, const char *port, int timeout_ms,
		struct net_conn **out, char *err, size_t errlen);

/*
 * Runs the TLS handshake on an open connection and verifies the server's
 * certificate for the host given to net_connect(). Fails with -EPROTO and a
 * reason naming the certificate problem.
 */
int net_start_tls(struct net_conn *c, struct net_tls *tls);

/* Reads what is available, at least one byte, waiting at most the timeout.
 * Returns the count, -ECONNRESET at end of stream, -ETIMEDOUT, -EIO. */
ssize_t net_read(struct net_conn *c, void *buf, size_t len);

/* Writes what net_write_more() queued, then all of buf, or fails. */
int net_write(struct net_conn *c, const void *buf, size_t len);
/*
 * Queues buf to go with the next net_write(), net_flush() or net_read()
 * (which sends it first): a command's tag, text, literal and CRLF then
 * leave in one send (one TLS record, one TCP segment) instead of four, and
 * wake the server once. Past the queue's 16 KiB it writes.
 */
int net_write_more(struct net_conn *c, const void *buf, size_t len);
int net_flush(struct net_conn *c);

/* Bytes already received but not yet returned by net_read (TLS buffers). */
bool net_has_buffered(struct net_conn *c);

void net_set_timeout(struct net_conn *c, int timeout_ms);
const char *net_error(const struct net_conn *c);
/* Bytes read from the socket since connect (wire, TLS included). */
uint64_t net_bytes_in(const struct net_conn *c);

void net_close(struct net_conn *c);

#endif
