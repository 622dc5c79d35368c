/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The local side (src/fs/local.h) on a private directory under $TMPDIR. */
#define FUSE_USE_VERSION 312
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "fs/inode.h"
#include "fs/local.h"

static int count_entry(void *ctx, const char *name, uint64_t ino, const struct stat *st)
{
	(void)name;
	(void)st;
	CHECK(ino_kind(ino) == INO_LOCAL, "listed inode is local");
	(*(int *)ctx)++;
	return 0;
}

static int entries(struct local *l, uint64_t dir)
{
	int n = 0;

	CHECK(local_list(l, dir, count_entry, &n) == 0, "list");
	return n;
}

int main(void)
{
	uint64_t box = ino_make(INO_MAILBOX, 3, 0, 0), other = ino_make(INO_MAILBOX, 4, 0, 0);
	uint64_t root = 1, trash, files, f, again;
	struct local *l;
	struct stat st;
	char buf[16];
	int fd;

	CHECK(local_name(".directory") && local_name(".a") && !local_name(".") &&
	      !local_name("..") && !local_name("a.eml"), "which names are local");
	CHECK(local_place(box, ".swp") && !local_place(box, "x.eml") && local_place(root, ".T"),
	      "local places");
	CHECK(local_new(&l) == 0, "new");
	CHECK(entries(l, box) == 0, "a mailbox with nothing local lists nothing");
	CHECK(local_lookup(l, box, ".nothing", &f, &st) == -ENOENT, "unknown name");

	/* a file: create, write, read back through a second open */
	CHECK(local_create(l, box, ".1.eml.swp", O_RDWR, 0600, &f, &st, &fd) == 0, "create");
	CHECK(write(fd, "swap", 4) == 4, "write");
	close(fd);
	CHECK(local_open(l, f, O_RDONLY, &fd) == 0 && read(fd, buf, sizeof(buf)) == 4 &&
	      memcmp(buf, "swap", 4) == 0, "read back");
	close(fd);
	CHECK(local_stat(l, f, &st) == 0 && st.st_size == 4 && st.st_ino == f, "stat");
	CHECK(local_lookup(l, box, ".1.eml.swp", &again, &st) == 0 && again == f, "same inode");
	CHECK(local_lookup(l, other, ".1.eml.swp", &again, &st) == -ENOENT, "other mailbox");

	/* a freedesktop trash at the root: directories inside directories */
	CHECK(local_mkdir(l, root, ".Trash-1000", 0700, &trash, &st) == 0, "mkdir");
	CHECK(local_mkdir(l, trash, "files", 0700, &files, &st) == 0, "mkdir inside");
	CHECK(local_create(l, files, "note.txt", O_WRONLY, 0644, &f, &st, &fd) == 0, "file inside");
	close(fd);
	CHECK(entries(l, root) == 1 && entries(l, trash) == 1 && entries(l, files) == 1, "lists");
	/* a directory renamed into a mailbox carries its contents, inodes kept */
	CHECK(local_rename(l, root, ".Trash-1000", box, ".moved", 0) == 0, "rename dir");
	CHECK(local_lookup(l, files, "note.txt", &again, &st) == 0 && again == f,
	      "child found through the moved parent");
	CHECK(entries(l, root) == 0 && entries(l, box) == 2, "moved out of the root");
	CHECK(local_rename(l, box, ".1.eml.swp", box, ".moved", RENAME_NOREPLACE) == -EEXIST,
	      "renameat2 flags kept");
	/* remove: a full directory is refused, then emptied and removed */
	CHECK(local_remove(l, box, ".moved", true) == -ENOTEMPTY, "rmdir of a full directory");
	CHECK(local_remove(l, files, "note.txt", false) == 0, "unlink");
	CHECK(local_remove(l, trash, "files", true) == 0, "rmdir");
	CHECK(local_remove(l, box, ".moved", true) == 0, "rmdir of the moved directory");
	CHECK(local_stat(l, f, &st) == -ENOENT, "removed node is gone");
	/* setattr: size and times */
	{
		struct stat want = { .st_size = 2 };
		struct stat out;

		CHECK(local_lookup(l, box, ".1.eml.swp", &f, &st) == 0, "lookup again");
		CHECK(local_setattr(l, f, &want, FUSE_SET_ATTR_SIZE, &out) == 0 && out.st_size == 2,
		      "truncate");
		want.st_mtim.tv_sec = 1600000000;
		CHECK(local_setattr(l, f, &want, FUSE_SET_ATTR_MTIME, &out) == 0 &&
		      out.st_mtime == 1600000000, "mtime");
	}
	local_free(l);
	return check_summary();
}
