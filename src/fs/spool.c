/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A new message's bytes before its APPEND (see spool.h). */
#include "fs/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "mime/rfc5322.h"

int spool_open(void)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	int fd;

	if (!dir || !*dir)
		dir = "/tmp";
	/* Unlinked from the start: nothing of the mail outlives the process. */
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	snprintf(path, sizeof(path), "%s/imapfs-spool-XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

/*
 * Makes the size bytes of fd ready to APPEND as what: refuses content that
 * is no message (EINVAL, one log line), and gives bare LF line endings a CR
 * in a new spool (*out; fd itself when nothing changes, else the caller
 * closes it). Returns 0 or -errno.
 */
int mail_ready(const char *what, int fd, uint64_t size, int *out, uint64_t *out_size)
{
	enum { CHUNK = 1 << 16 };
	char *buf = malloc(CHUNK * 3), *conv = buf + CHUNK;
	bool cr = false, bare = false;
	uint64_t off = 0;
	ssize_t n;
	int r = 0, spool = -1;

	*out = fd;
	*out_size = size;
	if (!buf)
		return -ENOMEM;
	n = pread(fd, buf, CHUNK, 0);
	if (n < 0) {
		r = -errno;
		goto out;
	}
	if (!rfc5322_is_message(buf, (size_t)n, (uint64_t)n >= size)) {
		log_error("%s is not a mail message (no header block before the first empty "
			  "line): not appended", what);
		r = -EINVAL;
		goto out;
	}
	for (off = 0; off < size && !bare; off += (uint64_t)n) {
		n = pread(fd, buf, CHUNK, (off_t)off);
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			goto out;
		}
		bare = rfc5322_has_bare_lf(buf, (size_t)n, &cr);
	}
	if (!bare)
		goto out;
	/* LF-only lines: IMAP stores CRLF (the stored size is larger). */
	spool = spool_open();
	if (spool < 0) {
		r = spool;
		goto out;
	}
	cr = false;
	*out_size = 0;
	for (off = 0; off < size; off += (uint64_t)n) {
		size_t m;

		n = pread(fd, buf, CHUNK, (off_t)off);
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			goto out;
		}
		m = rfc5322_crlf(buf, (size_t)n, conv, &cr);
		if (write(spool, conv, m) != (ssize_t)m) {
			r = -EIO;
			goto out;
		}
		*out_size += m;
	}
	*out = spool;
	spool = -1;
out:
	if (spool >= 0)
		close(spool);
	free(buf);
	return r;
}

