/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "net/net.h"

#include "util/cancel.h"
#include "util/clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct net_tls {
	SSL_CTX *ctx;
};

struct net_conn {
	int fd;
	int timeout_ms;
	char *host;
	SSL *ssl;
	_Atomic uint64_t bytes_in; /* read by other threads (the bytes_received xattr) */
	char err[256];
	size_t out_len;
	char out[16384]; /* net_write_more(): a command's pieces leave in one segment */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The most specific OpenSSL reason queued for this thread, or fallback. */
static const char *ssl_reason(const char *fallback)
{
	static __thread char buf[160];
	unsigned long e = ERR_peek_last_error();

	if (!e)
		return fallback;
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

int net_tls_new(const char *cafile, struct net_tls **out, char *err, size_t errlen)
{
	struct net_tls *tls = calloc(1, sizeof(*tls));

	if (!tls)
		return -ENOMEM;
	tls->ctx = SSL_CTX_new(TLS_client_method());
	if (!tls->ctx) {
		set_err(err, errlen, "cannot create TLS context: %s", ssl_reason("?"));
		goto fail;
	}
	SSL_CTX_set_min_proto_version(tls->ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(tls->ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_set_default_verify_paths(tls->ctx) != 1) {
		set_err(err, errlen, "cannot load the system's CA certificates: %s",
			ssl_reason("?"));
		goto fail;
	}
	if (cafile) {
		struct stat sb;

		/* OpenSSL says "system lib" for all of these: name them. */
		if (stat(cafile, &sb) < 0) {
			set_err(err, errlen, "CA file %s: %s", cafile, strerror(errno));
			goto fail;
		}
		if (!S_ISREG(sb.st_mode)) {
			set_err(err, errlen, "CA file %s is %s, not a file", cafile,
				S_ISDIR(sb.st_mode) ? "a directory" : "something else");
			goto fail;
		}
	}
	if (cafile && SSL_CTX_load_verify_locations(tls->ctx, cafile, NULL) != 1) {
		set_err(err, errlen, "cannot load CA file %s: %s", cafile, ssl_reason("?"));
		goto fail;
	}
	*out = tls;
	return 0;
fail:
	net_tls_free(tls);
	return -EINVAL;
}

void net_tls_free(struct net_tls *tls)
{
	if (!tls)
		return;
	SSL_CTX_free(tls->ctx);
	free(tls);
}

/* Waits for events on fd until deadline (ms, CLOCK_MONOTONIC) or cancellation. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	for (;;) {
		int64_t left = deadline - monotonic_ms();
		int r;

		if (cancel_requested())
			return -EINTR;
		if (left <= 0)
			return -ETIMEDOUT;
		/* A cancellable wait looks at its flag between short polls. */
		if (cancel_enabled() && left > CANCEL_POLL_MS)
			left = CANCEL_POLL_MS;
		r = poll(&pfd, 1, (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

static int connect_one(const struct addrinfo *ai, int64_t deadline, int *fd_out)
{
	int fd, r, one = 1;
	socklen_t len = sizeof(r);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
	if (fd < 0)
		return -errno;
	/* Nagle would hold each pipelined command 40 ms waiting for an ACK. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			r = -errno;
			goto fail;
		}
		r = wait_fd(fd, POLLOUT, deadline);
		if (r < 0)
			goto fail;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &r, &len) < 0) {
			r = -errno;
			goto fail;
		}
		if (r) {
			r = -r;
			goto fail;
		}
	}
	*fd_out = fd;
	return 0;
fail:
	close(fd);
	return r;
}

int net_connect(const char *host, const char *port, int timeout_ms,
		struct net_conn **out, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res = NULL;
	int64_t deadline = monotonic_ms() + timeout_ms;
	struct net_conn *c;
	int r, fd = -1;

	r = getaddrinfo(host, port, &hints, &res);
	if (r) {
		set_err(err, errlen, "cannot resolve %s: %s", host, gai_strerror(r));
		return r == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	}
	r = -EHOSTUNREACH;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		r = connect_one(ai, deadline, &fd);
		if (r == 0 || r == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	if (r < 0) {
		set_err(err, errlen, "cannot connect to %s port %s: %s", host, port, strerror(-r));
		return r;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->host = strdup(host))) {
		free(c);
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->timeout_ms = timeout_ms;
	*out = c;
	return 0;
}

static bool host_is_ip(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/*
 * Drives one SSL call that may need to wait: returns its result > 0, or
 * -errno after waiting past the deadline or on a failure.
 */
static int ssl_wait(struct net_conn *c, int ret, int64_t deadline)
{
	int e = SSL_get_error(c->ssl, ret);
	int r;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		r = wait_fd(c->fd, POLLIN, deadline);
		return r < 0 ? r : 1;
	case SSL_ERROR_WANT_WRITE:
		r = wait_fd(c->fd, POLLOUT, deadline);
		return r < 0 ? r : 1;
	case SSL_ERROR_ZERO_RETURN:
		return -ECONNRESET;
	case SSL_ERROR_SYSCALL:
		return errno ? -errno : -ECONNRESET;
	default:
		return -EPROTO;
	}
}

int net_start_tls(struct net_conn *c, struct net_tls *tls)
{
	int64_t deadline = monotonic_ms() + c->timeout_ms;
	long verify;
	int r;

	c->ssl = SSL_new(tls->ctx);
	if (!c->ssl)
		return -ENOMEM;
	SSL_set_fd(c->ssl, c->fd);
	if (host_is_ip(c->host)) {
		X509_VERIFY_PARAM *param = SSL_get0_param(c->ssl);

		if (X509_VERIFY_PARAM_set1_ip_asc(param, c->host) != 1)
			return -EINVAL;
	} else {
		SSL_set_tlsext_host_name(c->ssl, c->host);
		if (SSL_set1_host(c->ssl, c->host) != 1)
			return -EINVAL;
	}
	ERR_clear_error();
	for (;;) {
		int ret = SSL_connect(c->ssl);

		if (ret == 1)
			break;
		r = ssl_wait(c, ret, deadline);
		if (r < 0)
			goto fail;
	}
	verify = SSL_get_verify_result(c->ssl);
	if (verify != X509_V_OK) {
		r = -EPROTO;
		goto fail;
	}
	return 0;
fail:
	verify = SSL_get_verify_result(c->ssl);
	if (verify != X509_V_OK)
		snprintf(c->err, sizeof(c->err), "server certificate refused for %s: %s",
			 c->host, X509_verify_cert_error_string(verify));
	else if (r == -ETIMEDOUT)
		snprintf(c->err, sizeof(c->err), "TLS handshake with %s timed out", c->host);
	else
		snprintf(c->err, sizeof(c->err), "TLS handshake with %s failed: %s", c->host,
			 r == -EPROTO ? ssl_reason("protocol error") : strerror(-r));
	return r == -ETIMEDOUT ? r : -EPROTO;
}

/*
 * Linux delays an ACK by up to 40 ms, and a server with Nagle's algorithm on
 * (Cyrus) holds the last piece of an answer until the previous one is
 * ACKed: one FETCH at a time then costs 44 ms instead of 4. Quick-ACK mode
 * lapses by itself, so it is asked for again after every read.
 */
static void ack_now(struct net_conn *c)
{
	int one = 1;

	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

ssize_t net_read(struct net_conn *c, void *buf, size_t len)
{
	int64_t deadline = monotonic_ms() + c->timeout_ms;
	int r = net_flush(c); /* an answer to what is still queued never comes */

	/* Half a command on the wire is no quiet line (a timeout may mean one). */
	if (r < 0)
		return -EIO;

	for (;;) {
		ssize_t n;

		if (c->ssl) {
			int ret;

			ERR_clear_error();
			ret = SSL_read(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
			if (ret > 0) {
				ack_now(c);
				atomic_fetch_add_explicit(&c->bytes_in, (uint64_t)ret, memory_order_relaxed);
				return ret;
			}
			r = ssl_wait(c, ret, deadline);
			if (r < 0)
				goto fail;
			continue;
		}
		n = recv(c->fd, buf, len, 0);
		if (n > 0) {
			ack_now(c);
			atomic_fetch_add_explicit(&c->bytes_in, (uint64_t)n, memory_order_relaxed);
			return n;
		}
		if (n == 0) {
			r = -ECONNRESET;
			goto fail;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			r = -errno;
			goto fail;
		}
		r = wait_fd(c->fd, POLLIN, deadline);
		if (r < 0)
			goto fail;
	}
fail:
	if (r == -ECONNRESET)
		snprintf(c->err, sizeof(c->err), "connection closed by %s", c->host);
	else if (r == -ETIMEDOUT)
		snprintf(c->err, sizeof(c->err), "no answer from %s within %d ms", c->host,
			 c->timeout_ms);
	else if (r == -EINTR)
		snprintf(c->err, sizeof(c->err), "interrupted while reading from %s", c->host);
	else
		snprintf(c->err, sizeof(c->err), "reading from %s: %s", c->host, strerror(-r));
	return r;
}

static int write_all(struct net_conn *c, const void *buf, size_t len)
{
	int64_t deadline = monotonic_ms() + c->timeout_ms;
	const char *p = buf;
	int r;

	while (len) {
		ssize_t n;

		if (c->ssl) {
			int ret;

			ERR_clear_error();
			ret = SSL_write(c->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
			if (ret <= 0) {
				r = ssl_wait(c, ret, deadline);
				if (r < 0)
					goto fail;
				continue;
			}
			n = ret;
		} else {
			n = send(c->fd, p, len, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN) {
					r = -errno;
					goto fail;
				}
				r = wait_fd(c->fd, POLLOUT, deadline);
				if (r < 0)
					goto fail;
				continue;
			}
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
fail:
	snprintf(c->err, sizeof(c->err), "writing to %s: %s", c->host, strerror(-r));
	return r;
}

int net_flush(struct net_conn *c)
{
	size_t len = c->out_len;
	int r;

	if (!len)
		return 0;
	c->out_len = 0; /* a failed write ends the connection: nothing is sent twice */
	r = write_all(c, c->out, len);
	OPENSSL_cleanse(c->out, len); /* LOGIN's password passes through it */
	return r;
}

int net_write_more(struct net_conn *c, const void *buf, size_t len)
{
	int r;

	if (c->out_len + len > sizeof(c->out) && (r = net_flush(c)) < 0)
		return r;
	if (len >= sizeof(c->out))
		return write_all(c, buf, len);
	memcpy(c->out + c->out_len, buf, len);
	c->out_len += len;
	return 0;
}

int net_write(struct net_conn *c, const void *buf, size_t len)
{
	int r;

	if (c->out_len == 0)
		return write_all(c, buf, len);
	r = net_write_more(c, buf, len);
	return r < 0 ? r : net_flush(c);
}

bool net_has_buffered(struct net_conn *c)
{
	return c->ssl && SSL_pending(c->ssl) > 0;
}

void net_set_timeout(struct net_conn *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms;
}

const char *net_error(const struct net_conn *c)
{
	return c->err[0] ? c->err : "no error";
}

/* Read by other threads (the bytes_received xattr) while the owner counts. */
uint64_t net_bytes_in(const struct net_conn *c)
{
	return atomic_load_explicit(&c->bytes_in, memory_order_relaxed);
}

void net_close(struct net_conn *c)
{
	if (!c)
		return;
	OPENSSL_cleanse(c->out, c->out_len); /* a literal cut short (its spool failed) */
	if (c->ssl) {
		/* No close_notify round trip: the peer may be gone, and we wait for nothing. */
		SSL_set_quiet_shutdown(c->ssl, 1);
		SSL_free(c->ssl);
	}
	close(c->fd);
	free(c->host);
	free(c);
}
