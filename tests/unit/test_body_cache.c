/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The disk cache of bodies: keys, exact sizes, damaged files, the bound. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "check.h"
#include "store/body_cache.h"

static char root[] = "/tmp/imapfs-body-cache-XXXXXX";

/* Bytes in regular files under dir, and their count. */
static unsigned long long du(const char *dir, unsigned *files)
{
	unsigned long long total = 0;
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char path[4096];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			total += du(path, files);
		} else if (S_ISREG(st.st_mode)) {
			total += (unsigned long long)st.st_size;
			(*files)++;
		}
	}
	closedir(d);
	return total;
}

/* The one body file under dir whose contents start with prefix, into out. */
static int find_body(const char *dir, const char *prefix, char *out, size_t outlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int found = -1;

	if (!d)
		return -1;
	while (found < 0 && (de = readdir(d))) {
		char path[4096], buf[64] = "";
		struct stat st;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			found = find_body(path, prefix, out, outlen);
			continue;
		}
		f = fopen(path, "rb");
		if (f && fread(buf, 1, strlen(prefix), f) == strlen(prefix) &&
		    memcmp(buf, prefix, strlen(prefix)) == 0) {
			snprintf(out, outlen, "%s", path);
			found = 0;
		}
		if (f)
			fclose(f);
	}
	closedir(d);
	return found;
}

static void test_put_and_read(void)
{
	struct body_cache *bc;
	char err[256], buf[64];
	const char *body = "From: a@b\r\n\r\nhello\r\n";
	size_t len = strlen(body);
	ssize_t n;

	CHECK(body_cache_open(root, "alice@host:143", 1 << 20, &bc, err, sizeof(err)) == 0,
	      "open: %s", err);
	CHECK(body_cache_read(bc, "INBOX", 7, 1, len, 0, sizeof(buf), buf) == -ENOENT,
	      "empty cache answers ENOENT");
	body_cache_put(bc, "INBOX", 7, 1, body, len);
	CHECK(body_cache_has(bc, "INBOX", 7, 1, len), "has after put");
	n = body_cache_read(bc, "INBOX", 7, 1, len, 0, sizeof(buf), buf);
	CHECK(n == (ssize_t)len && memcmp(buf, body, len) == 0, "read back: %zd", n);
	n = body_cache_read(bc, "INBOX", 7, 1, len, 6, 4, buf);
	CHECK(n == 4 && memcmp(buf, body + 6, 4) == 0, "read at an offset: %zd", n);
	CHECK(body_cache_read(bc, "INBOX", 7, 1, len, len, 4, buf) == 0, "read at the end");
	/* Every part of the key counts. */
	CHECK(!body_cache_has(bc, "INBOX", 8, 1, len), "another UIDVALIDITY");
	CHECK(!body_cache_has(bc, "INBOX", 7, 2, len), "another UID");
	CHECK(!body_cache_has(bc, "Archive", 7, 1, len), "another mailbox");
	CHECK(!body_cache_has(bc, "INBOX7", 7, 1, len), "a name ending where a number begins");
	/* Another size than listed: never served, and removed. */
	CHECK(body_cache_read(bc, "INBOX", 7, 1, len + 1, 0, sizeof(buf), buf) == -ENOENT,
	      "wrong size refused");
	CHECK(!body_cache_has(bc, "INBOX", 7, 1, len), "wrong-sized body removed");
	body_cache_close(bc);

	/* Another account does not see it. */
	CHECK(body_cache_open(root, "alice@host:143", 1 << 20, &bc, err, sizeof(err)) == 0,
	      "reopen: %s", err);
	body_cache_put(bc, "INBOX", 7, 3, body, len);
	body_cache_close(bc);
	CHECK(body_cache_open(root, "bob@host:143", 1 << 20, &bc, err, sizeof(err)) == 0,
	      "open bob: %s", err);
	CHECK(!body_cache_has(bc, "INBOX", 7, 3, len), "bob does not see alice's body");
	body_cache_close(bc);
}

static void test_damaged_file(void)
{
	struct body_cache *bc;
	char err[256], path[4096], buf[64];
	const char *body = "DAMAGE: this body will be cut short";
	size_t len = strlen(body);

	CHECK(body_cache_open(root, "dmg@host:1", 1 << 20, &bc, err, sizeof(err)) == 0,
	      "open: %s", err);
	body_cache_put(bc, "INBOX", 1, 1, body, len);
	CHECK(find_body(root, "DAMAGE", path, sizeof(path)) == 0, "body file found");
	CHECK(truncate(path, 10) == 0, "truncate");
	CHECK(body_cache_read(bc, "INBOX", 1, 1, len, 0, sizeof(buf), buf) == -ENOENT,
	      "a cut body is not served");
	CHECK(access(path, F_OK) < 0, "and is removed");
	body_cache_close(bc);
}

static void test_bound(void)
{
	struct body_cache *bc;
	char err[256], body[10000], dir[4200], buf[16];
	unsigned long long before, after;
	unsigned files = 0;
	const unsigned max = 100000;

	snprintf(dir, sizeof(dir), "%s/bound", root);
	CHECK(body_cache_open(dir, "bound@host:1", max, &bc, err, sizeof(err)) == 0,
	      "open: %s", err);
	before = du(dir, &files);
	CHECK(before == 0 && files == 0, "empty to start");
	for (unsigned i = 1; i <= 40; i++) {
		memset(body, 'a' + (int)(i % 26), sizeof(body));
		body_cache_put(bc, "INBOX", 1, i, body, sizeof(body));
		files = 0;
		after = du(dir, &files);
		CHECK(after <= max, "after %u bodies %llu bytes on disk", i, after);
		if (i == 5) {
			/*
			 * Bodies 1 and 2 (bytes 'b' and 'c') made old; then 1 is read,
			 * which makes it the most recently used: 2 must go first.
			 */
			struct timeval old[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
			char path[4200];

			CHECK(find_body(dir, "b", path, sizeof(path)) == 0, "body 1 found");
			utimes(path, old);
			CHECK(find_body(dir, "c", path, sizeof(path)) == 0, "body 2 found");
			utimes(path, old);
			CHECK(body_cache_read(bc, "INBOX", 1, 1, sizeof(body), 0, sizeof(buf), buf) ==
				      (ssize_t)sizeof(buf), "body 1 read");
		}
		if (i == 11) {
			/* The first eviction: from the least recently used on. */
			CHECK(body_cache_has(bc, "INBOX", 1, 1, sizeof(body)), "the one read is kept");
			CHECK(!body_cache_has(bc, "INBOX", 1, 2, sizeof(body)), "the old one went");
			CHECK(!body_cache_has(bc, "INBOX", 1, 3, sizeof(body)), "then the next oldest");
			CHECK(body_cache_has(bc, "INBOX", 1, 4, sizeof(body)), "but no more");
		}
	}
	CHECK(body_cache_has(bc, "INBOX", 1, 40, sizeof(body)), "the last one is kept");
	CHECK(body_cache_used(bc) <= max, "used %llu", (unsigned long long)body_cache_used(bc));
	/* One body larger than a quarter of the bound is not kept at all. */
	{
		char *big = calloc(1, max / 2);

		body_cache_put(bc, "INBOX", 1, 99, big, max / 2);
		CHECK(!body_cache_has(bc, "INBOX", 1, 99, max / 2), "a huge body is not kept");
		free(big);
	}
	body_cache_close(bc);
}

static void test_bad_dir(void)
{
	struct body_cache *bc;
	char err[256] = "", file[4200];
	int fd;

	snprintf(file, sizeof(file), "%s/a-file", root);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	close(fd);
	CHECK(body_cache_open(file, "x@y:1", 1000, &bc, err, sizeof(err)) < 0 && bc == NULL,
	      "a file as the cache directory is refused");
	CHECK(strstr(err, "a-file") != NULL, "the message names it: %s", err);
}

int main(void)
{
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	test_put_and_read();
	test_damaged_file();
	test_bound();
	test_bad_dir();
	{
		char cmd[200];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", root);
	}
	return check_summary();
}
