/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * net_write_more(): what is queued stays until the next write, flush or
 * read, then leaves whole and in order. Over a real TCP connection on
 * 127.0.0.1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "net/net.h"

/* A listening socket on 127.0.0.1; *port its number as text. */
static int listen_local(char port[16])
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	snprintf(port, 16, "%u", ntohs(a.sin_port));
	return fd;
}

/* Reads exactly len bytes within 5 s; returns how many came. */
static size_t read_exactly(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 5000) <= 0)
			break;
		n = recv(fd, buf + got, len - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

/* Bytes waiting on fd now, without waiting (0 if none). */
static ssize_t waiting(int fd)
{
	char buf[64];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);

	return n < 0 && errno == EAGAIN ? 0 : n;
}

static void test_queued_until_written(struct net_conn *c, int peer)
{
	char buf[64];

	CHECK_INT(net_write_more(c, "A1 ", 3), 0);
	CHECK_INT(net_write_more(c, "NOOP", 4), 0);
	usleep(50000);
	CHECK(waiting(peer) == 0, "queued bytes were sent before the write");
	CHECK_INT(net_write(c, "\r\n", 2), 0);
	usleep(50000);
	CHECK_INT(waiting(peer), 9);
	CHECK_INT(read_exactly(peer, buf, 9), 9);
	CHECK(memcmp(buf, "A1 NOOP\r\n", 9) == 0, "got %s", show(buf, 9));
}

/* The server's side: answers once the whole command came. */
static void *answer(void *arg)
{
	int peer = *(int *)arg;
	char cmd[16];
	size_t got = read_exactly(peer, cmd, 9);

	(void)!write(peer, got == 9 ? "A3 OK\r\n" : "BAD\r\n", got == 9 ? 7 : 5);
	return NULL;
}

static void test_a_read_sends_the_queue_first(struct net_conn *c, int peer)
{
	char buf[64];
	pthread_t t;
	ssize_t n;

	CHECK_INT(net_write_more(c, "A2 CHECK\r\n", 10), 0);
	/* The peer answers only once it has the command: the read must not wait for it. */
	CHECK_INT(net_write(c, "", 0), 0);
	CHECK_INT(read_exactly(peer, buf, 10), 10);
	CHECK_INT(net_write_more(c, "A3 NOOP\r\n", 9), 0);
	if (pthread_create(&t, NULL, answer, &peer) != 0) {
		CHECK(false, "no thread");
		return;
	}
	net_set_timeout(c, 3000);
	n = net_read(c, buf, sizeof(buf));
	pthread_join(t, NULL);
	CHECK_INT(n, 7);
	CHECK(n == 7 && memcmp(buf, "A3 OK\r\n", 7) == 0, "answer %s", show(buf, n > 0 ? (size_t)n : 0));
}

static void test_large_pieces_keep_their_order(struct net_conn *c, int peer)
{
	static char want[60000], got[60000];
	size_t at = 0;

	for (size_t i = 0; i < sizeof(want); i++)
		want[i] = (char)('a' + (i * 7) % 26);
	/* Under the queue, past it (written through), a byte, and over it again. */
	CHECK_INT(net_write_more(c, want, 10000), 0);
	at = 10000;
	CHECK_INT(net_write_more(c, want + at, 20000), 0);
	at += 20000;
	CHECK_INT(net_write_more(c, want + at, 1), 0);
	at += 1;
	CHECK_INT(net_write_more(c, want + at, 9000), 0);
	at += 9000;
	CHECK_INT(net_write_more(c, want + at, 8000), 0);
	at += 8000;
	CHECK_INT(net_write(c, want + at, sizeof(want) - at), 0);
	CHECK_INT(read_exactly(peer, got, sizeof(got)), sizeof(got));
	CHECK(memcmp(got, want, sizeof(want)) == 0, "bytes out of order or lost");
	CHECK_INT(net_flush(c), 0);
	usleep(20000);
	CHECK_INT(waiting(peer), 0);
}

int main(void)
{
	struct net_conn *c = NULL;
	char port[16], err[256];
	int lfd = listen_local(port), peer = -1;

	CHECK(lfd >= 0, "cannot listen on 127.0.0.1: %s", strerror(errno));
	if (lfd >= 0 && net_connect("127.0.0.1", port, 5000, &c, err, sizeof(err)) == 0)
		peer = accept(lfd, NULL, NULL);
	CHECK(c && peer >= 0, "cannot connect: %s", err);
	if (c && peer >= 0) {
		test_queued_until_written(c, peer);
		test_a_read_sends_the_queue_first(c, peer);
		test_large_pieces_keep_their_order(c, peer);
	}
	net_close(c);
	if (peer >= 0)
		close(peer);
	if (lfd >= 0)
		close(lfd);
	return check_summary();
}
