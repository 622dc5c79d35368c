/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Listings kept on disk: a round trip, and every damaged file refused whole. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "store/body_cache.h"
#include "store/listing_cache.h"

static char root[] = "/tmp/imapfs-listing-cache-XXXXXX";

static struct store_msg rows[] = {
	{ .uid = 1, .flags = 0, .size = 1200, .date = 1700000000 },
	{ .uid = 2, .flags = 1, .size = 0, .date = -5 },
	{ .uid = 9, .flags = 0, .size = UINT64_C(1) << 39, .date = 1800000000 },
};
static char *sets[] = { "", "\\Seen $Work" };

static struct listing_snapshot sample(void)
{
	return (struct listing_snapshot){ .uidvalidity = 77, .uidnext = 10, .exists = 3,
					  .modseq = UINT64_C(1) << 40, .msgs = rows, .n = 3,
					  .flagsets = sets, .nflagsets = 2 };
}

/* The path of wire's listing file. */
static void listing_path(struct body_cache *bc, const char *wire, char *out, size_t len)
{
	char hex[65], dir[4096];
	ssize_t n;
	char fdpath[64];

	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", body_cache_account_fd(bc));
	n = readlink(fdpath, dir, sizeof(dir) - 1);
	dir[n > 0 ? n : 0] = '\0';
	body_cache_hash_hex(wire, strlen(wire), hex);
	snprintf(out, len, "%s/listings/%s", dir, hex);
}

static int load_status(struct body_cache *bc, const char *wire)
{
	struct listing_snapshot got;
	int r = listing_cache_load(bc, wire, &got);

	listing_snapshot_free(&got);
	return r;
}

/* Saves s as wire's listing, then changes the file with edit, then loads it. */
static int load_after(struct body_cache *bc, const char *wire, struct listing_snapshot s,
		      void (*edit)(const char *path))
{
	char path[4200];

	if (listing_cache_save(bc, wire, &s) < 0)
		return 1;
	listing_path(bc, wire, path, sizeof(path));
	if (edit)
		edit(path);
	return load_status(bc, wire);
}

static void flip_middle(const char *path)
{
	int fd = open(path, O_RDWR);
	struct stat st;
	unsigned char c;

	fstat(fd, &st);
	pread(fd, &c, 1, st.st_size / 2);
	c ^= 0x40;
	pwrite(fd, &c, 1, st.st_size / 2);
	close(fd);
}

static void cut_short(const char *path)
{
	struct stat st;

	stat(path, &st);
	truncate(path, st.st_size - 1);
}

static void grow(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	write(fd, "x", 1);
	close(fd);
}

struct seen {
	char text[512];
	size_t n;
};

static void on_record(void *ctx, const char *wire, uint32_t uidvalidity, uint32_t uid,
		      const char *name, unsigned mode)
{
	struct seen *s = ctx;
	size_t len = strlen(s->text);

	snprintf(s->text + len, sizeof(s->text) - len, "%s/%u/%u/%s/%o;", wire, uidvalidity, uid,
		 name ? name : "-", mode);
	s->n++;
}

/* Readable names: appended a batch at a time, read back in order, forgotten with the listing. */
static void test_headlines(struct body_cache *bc)
{
	const uint32_t uids[] = { 3, 4 };
	const char *const names[] = { "2024-03-01 10.12 A - x [3].eml", "2024-03-01 10.12 B - y [4].eml" };
	struct seen seen = { "", 0 };
	char path[4200];

	CHECK(listing_cache_load_headlines(bc, "Box", on_record, &seen) == -ENOENT, "none kept");
	CHECK(listing_cache_add_headlines(bc, "Box", 7, uids, names, 2) == 0, "add two");
	CHECK(listing_cache_add_headlines(bc, "Box", 8, uids, names, 1) == 0, "add one");
	CHECK(listing_cache_add_headlines(bc, "Other", 7, uids, names, 1) == 0, "another mailbox");
	CHECK(listing_cache_load_headlines(bc, "Box", on_record, &seen) == 0 && seen.n == 3,
	      "three records: %zu", seen.n);
	CHECK_STR(seen.text, "Box/7/3/2024-03-01 10.12 A - x [3].eml/0;"
			     "Box/7/4/2024-03-01 10.12 B - y [4].eml/0;"
			     "Box/8/3/2024-03-01 10.12 A - x [3].eml/0;");
	/* A torn last record is left out, the others stand. */
	listing_path(bc, "Box", path, sizeof(path));
	strcat(path, ".headlines");
	cut_short(path);
	seen = (struct seen){ "", 0 };
	CHECK(listing_cache_load_headlines(bc, "Box", on_record, &seen) == 0 && seen.n == 2,
	      "torn: %zu", seen.n);
	listing_cache_forget(bc, "Box");
	CHECK(listing_cache_load_headlines(bc, "Box", on_record, &seen) == -ENOENT, "forgotten");
}

int main(void)
{
	struct body_cache *bc;
	struct listing_snapshot got, s;
	char err[512], path[4200], other[4200];
	struct store_msg bad[3];

	if (!mkdtemp(root))
		return 1;
	CHECK(body_cache_open(root, "alice@host:143", 1 << 20, &bc, err, sizeof(err)) == 0, "%s",
	      err);

	CHECK(load_status(bc, "INBOX") == -ENOENT, "nothing kept yet");
	CHECK(load_status(NULL, "INBOX") == -ENOENT, "no cache");

	s = sample();
	CHECK(listing_cache_save(bc, "INBOX", &s) == 0, "save");
	CHECK(listing_cache_load(bc, "INBOX", &got) == 0, "load");
	CHECK(got.uidvalidity == 77 && got.uidnext == 10 && got.exists == 3 &&
		      got.modseq == UINT64_C(1) << 40,
	      "counters");
	CHECK(got.n == 3 && memcmp(got.msgs, rows, sizeof(rows)) == 0, "rows");
	CHECK(got.nflagsets == 2 && strcmp(got.flagsets[0], "") == 0 &&
		      strcmp(got.flagsets[1], "\\Seen $Work") == 0,
	      "flag sets");
	listing_snapshot_free(&got);
	CHECK(got.msgs == NULL && got.n == 0, "freed and zeroed");

	/* An empty mailbox. */
	s = sample();
	s.n = 0;
	s.nflagsets = 0;
	CHECK(listing_cache_save(bc, "Empty", &s) == 0 && listing_cache_load(bc, "Empty", &got) == 0 &&
		      got.n == 0 && got.uidnext == 10,
	      "empty listing");
	listing_snapshot_free(&got);

	/* Another mailbox's file under this one's name: the wire name inside says so. */
	s = sample();
	listing_cache_save(bc, "Other", &s);
	listing_path(bc, "Other", other, sizeof(other));
	listing_path(bc, "INBOX", path, sizeof(path));
	CHECK(rename(other, path) == 0, "rename");
	CHECK(load_status(bc, "INBOX") == -EINVAL, "a file naming another mailbox is refused");
	CHECK(access(path, F_OK) < 0, "and removed");

	CHECK(load_after(bc, "INBOX", sample(), flip_middle) == -EINVAL, "a changed byte");
	CHECK(load_after(bc, "INBOX", sample(), cut_short) == -EINVAL, "cut short");
	CHECK(load_after(bc, "INBOX", sample(), grow) == -EINVAL, "a byte more");
	CHECK(load_status(bc, "INBOX") == -ENOENT, "a refused file is removed");

	/* What the store would not have held: rows out of order, a flag set that is not there. */
	memcpy(bad, rows, sizeof(bad));
	bad[1].uid = 1;
	s = sample();
	s.msgs = bad;
	CHECK(load_after(bc, "INBOX", s, NULL) == -EINVAL, "repeated UID");
	memcpy(bad, rows, sizeof(bad));
	bad[2].flags = 2;
	s.msgs = bad;
	CHECK(load_after(bc, "INBOX", s, NULL) == -EINVAL, "flag set out of range");
	memcpy(bad, rows, sizeof(bad));
	bad[0].uid = 0;
	s.msgs = bad;
	CHECK(load_after(bc, "INBOX", s, NULL) == -EINVAL, "UID 0");

	/* The last save wins, whole. */
	s = sample();
	CHECK(listing_cache_save(bc, "INBOX", &s) == 0, "save");
	s.n = 1;
	s.uidnext = 2;
	CHECK(listing_cache_save(bc, "INBOX", &s) == 0 && listing_cache_load(bc, "INBOX", &got) == 0 &&
		      got.n == 1 && got.uidnext == 2,
	      "replaced");
	listing_snapshot_free(&got);
	listing_cache_forget(bc, "INBOX");
	CHECK(load_status(bc, "INBOX") == -ENOENT, "forgotten");

	/* The tree: a round trip, an empty one, a damaged one refused. */
	{
		struct listing_tree_entry tree[] = {
			{ .wire = "INBOX", .delim = '/', .noselect = false },
			{ .wire = "Archive", .delim = '/', .noselect = true },
			{ .wire = "Archive/2024", .delim = '/', .noselect = false },
			{ .wire = "flat", .delim = '\0', .noselect = false },
		};
		struct listing_tree_entry *e;
		size_t n;
		char tpath[4200];

		CHECK(listing_cache_load_tree(bc, &e, &n) == -ENOENT && !e && !n, "no tree yet");
		CHECK(listing_cache_save_tree(bc, tree, 4) == 0, "save tree");
		CHECK(listing_cache_load_tree(bc, &e, &n) == 0 && n == 4, "load tree");
		for (size_t i = 0; e && i < n && i < 4; i++)
			CHECK(strcmp(e[i].wire, tree[i].wire) == 0 && e[i].delim == tree[i].delim &&
				      e[i].noselect == tree[i].noselect,
			      "tree entry %zu", i);
		listing_tree_free(e, n);
		CHECK(listing_cache_save_tree(bc, tree, 0) == 0 &&
			      listing_cache_load_tree(bc, &e, &n) == 0 && n == 0,
		      "empty tree");
		listing_tree_free(e, n);
		listing_cache_save_tree(bc, tree, 4);
		listing_path(bc, "INBOX", tpath, sizeof(tpath));
		strcpy(strrchr(tpath, '/') + 1, "tree");
		flip_middle(tpath);
		CHECK(listing_cache_load_tree(bc, &e, &n) == -EINVAL && !e, "damaged tree refused");
		CHECK(access(tpath, F_OK) < 0, "and removed");
	}

	test_headlines(bc);
	body_cache_close(bc);
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
		if (system(cmd) != 0)
			return 1;
	}
	return check_summary();
}
