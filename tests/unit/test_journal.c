/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The offline journal: what is added survives a close (a crash: nothing is
 * flushed at close), completions take operations out, a torn last record is
 * cut off, a damaged one stops the reading and is kept aside, the bound
 * refuses with ENOSPC without touching what is there, and a journal with
 * nothing pending is an empty file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "store/journal.h"
#include "store/listing_cache.h"
#include "store/store_internal.h"

static char root[] = "/tmp/imapfs-journal-XXXXXX";
static int dir_fd = -1;

static struct journal_op flags_op(const char *wire, uint32_t uid, const char *add,
				  const char *remove)
{
	return (struct journal_op){ .kind = JOURNAL_FLAGS, .wire = (char *)wire,
				    .uidvalidity = 7, .uid = uid, .add = (char *)add,
				    .remove = (char *)remove };
}

static off_t file_size(const char *name)
{
	struct stat st;

	return fstatat(dir_fd, name, &st, 0) == 0 ? st.st_size : -1;
}

static struct journal *reopen(struct journal *j)
{
	struct journal *k = NULL;

	journal_close(j);
	CHECK_INT(journal_open(dir_fd, 1 << 20, &k), 0);
	return k;
}

static void test_survives_and_completes(void)
{
	struct journal *j = NULL;
	struct journal_op a = flags_op("INBOX", 3, "\\Seen", ""), b = flags_op("Work/2026", 9, "",
										  "\\Flagged $Todo"),
			  c = flags_op("INBOX", 4, "$Done", "\\Seen");
	struct journal_op *ops;
	size_t n;

	CHECK_INT(journal_open(dir_fd, 1 << 20, &j), 0);
	CHECK_INT(journal_pending(j), 0);
	CHECK_INT(journal_add(j, &a), 0);
	CHECK_INT(journal_add(j, &b), 0);
	CHECK_INT(journal_add(j, &c), 0);
	CHECK_THAT(a.seq < b.seq && b.seq < c.seq);
	CHECK_INT(journal_done(j, b.seq), 0);
	j = reopen(j);
	CHECK_INT(journal_pending(j), 2);
	CHECK_INT(journal_pending_ops(j, &ops, &n), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(ops[0].wire, "INBOX");
		CHECK_INT(ops[0].uid, 3);
		CHECK_INT(ops[0].uidvalidity, 7);
		CHECK_STR(ops[0].add, "\\Seen");
		CHECK_STR(ops[0].remove, "");
		CHECK_INT(ops[1].uid, 4);
		CHECK_STR(ops[1].add, "$Done");
		CHECK_STR(ops[1].remove, "\\Seen");
		CHECK_THAT(ops[0].seq == a.seq && ops[1].seq == c.seq);
	}
	journal_ops_free(ops, n);
	/* New operations after a reopen never reuse a pending one's number. */
	struct journal_op d = flags_op("INBOX", 5, "\\Answered", "");

	CHECK_INT(journal_add(j, &d), 0);
	CHECK_THAT(d.seq > c.seq);
	/* Counted as they end (the opening's reading too); a seq done twice counts once. */
	uint64_t ended = journal_ended(j);

	CHECK_INT(journal_done(j, a.seq), 0);
	CHECK_INT(journal_done(j, a.seq), 0);
	CHECK_INT(journal_ended(j), ended + 1);
	CHECK_INT(journal_done(j, c.seq), 0);
	CHECK_INT(journal_done(j, d.seq), 0);
	CHECK_INT(journal_ended(j), ended + 3);
	CHECK_INT(journal_pending(j), 0);
	CHECK_INT(journal_ended(NULL), 0);
	CHECK_INT(file_size("journal"), 0);
	j = reopen(j);
	CHECK_INT(journal_pending(j), 0);
	journal_close(j);
}

/* Moves and expunges keep their own fields, in order with flag changes. */
static void test_kinds(void)
{
	struct journal *j = NULL;
	struct journal_op f = flags_op("INBOX", 3, "\\Seen", ""),
			  m = { .kind = JOURNAL_MOVE, .wire = "INBOX", .uidvalidity = 7, .uid = 3,
				.to = "Archive/2026" },
			  x = { .kind = JOURNAL_EXPUNGE, .wire = "Trash", .uidvalidity = 9, .uid = 12 };
	struct journal_op *ops;
	size_t n;

	CHECK_INT(journal_open(dir_fd, 1 << 20, &j), 0);
	CHECK_INT(journal_add(j, &f), 0);
	CHECK_INT(journal_add(j, &m), 0);
	CHECK_INT(journal_add(j, &x), 0);
	j = reopen(j);
	CHECK_INT(journal_pending_ops(j, &ops, &n), 0);
	CHECK_INT(n, 3);
	if (n == 3) {
		CHECK_INT(ops[0].kind, JOURNAL_FLAGS);
		CHECK_STR(ops[0].add, "\\Seen");
		CHECK_INT(ops[1].kind, JOURNAL_MOVE);
		CHECK_STR(ops[1].wire, "INBOX");
		CHECK_INT(ops[1].uid, 3);
		CHECK_STR(ops[1].to, "Archive/2026");
		CHECK_INT(ops[2].kind, JOURNAL_EXPUNGE);
		CHECK_STR(ops[2].wire, "Trash");
		CHECK_INT(ops[2].uidvalidity, 9);
		CHECK_INT(ops[2].uid, 12);
		for (size_t i = 0; i < n; i++)
			CHECK_INT(journal_done(j, ops[i].seq), 0);
	}
	journal_ops_free(ops, n);
	CHECK_INT(journal_pending(j), 0);
	journal_close(j);
}

/*
 * -o writeback's path: added without a sync, moves looked up by target,
 * completions of a batch in one write; what was added survives a close.
 */
static void test_writeback_path(void)
{
	struct journal *j = NULL;
	struct journal_op m[3] = {
		{ .kind = JOURNAL_MOVE, .wire = "INBOX", .uidvalidity = 7, .uid = 1, .to = "Archive" },
		{ .kind = JOURNAL_MOVE, .wire = "INBOX", .uidvalidity = 7, .uid = 2, .to = "Archive" },
		{ .kind = JOURNAL_MOVE, .wire = "INBOX", .uidvalidity = 7, .uid = 3, .to = "Old" },
	};
	uint64_t seqs[2];

	CHECK_INT(journal_open(dir_fd, 1 << 20, &j), 0);
	CHECK_THAT(!journal_moving_into(j, "Archive"));
	for (int i = 0; i < 3; i++)
		CHECK_INT(journal_add_unsynced(j, &m[i]), 0);
	CHECK_THAT(journal_moving_into(j, "Archive") && journal_moving_into(j, "Old"));
	CHECK_THAT(!journal_moving_into(j, "INBOX"));
	CHECK_INT(journal_sync(j), 0);
	j = reopen(j);
	CHECK_INT(journal_pending(j), 3);
	seqs[0] = m[0].seq;
	seqs[1] = m[1].seq;
	CHECK_INT(journal_done_many(j, seqs, 2), 0);
	CHECK_INT(journal_pending(j), 1);
	CHECK_THAT(!journal_moving_into(j, "Archive") && journal_moving_into(j, "Old"));
	j = reopen(j);
	CHECK_INT(journal_pending(j), 1);
	CHECK_INT(journal_done_many(j, &m[2].seq, 1), 0);
	CHECK_INT(journal_pending(j), 0);
	CHECK_INT(file_size("journal"), 0);
	journal_close(j);
}

static void test_torn_and_damaged(void)
{
	struct journal *j = NULL;
	struct journal_op a = flags_op("INBOX", 1, "\\Seen", ""), b = flags_op("INBOX", 2, "\\Seen", "");
	off_t one, two;
	int fd;

	CHECK_INT(journal_open(dir_fd, 1 << 20, &j), 0);
	CHECK_INT(journal_add(j, &a), 0);
	one = file_size("journal");
	CHECK_INT(journal_add(j, &b), 0);
	two = file_size("journal");
	journal_close(j);

	/* A crash in the middle of writing b: its first bytes only. */
	fd = openat(dir_fd, "journal", O_WRONLY);
	CHECK_INT(ftruncate(fd, one + 10), 0);
	close(fd);
	CHECK_INT(journal_open(dir_fd, 1 << 20, &j), 0);
	CHECK_INT(journal_pending(j), 1);
	CHECK_INT(file_size("journal"), one);
	/* And it goes on from there. */
	CHECK_INT(journal_add(j, &b), 0);
	CHECK_INT(file_size("journal"), two);
	journal_close(j);

	/* One changed byte in the first record: nothing after it is trusted. */
	fd = openat(dir_fd, "journal", O_RDWR);
	CHECK_INT(pwrite(fd, "X", 1, 12), 1);
	close(fd);
	CHECK_INT(journal_open(dir_fd, 1 << 20, &j), 0);
	CHECK_INT(journal_pending(j), 0);
	CHECK_INT(file_size("journal.damaged"), two);
	CHECK_INT(journal_done(j, 999), 0);
	journal_close(j);
	unlinkat(dir_fd, "journal.damaged", 0);
	unlinkat(dir_fd, "journal", 0);
}

static void test_bound(void)
{
	struct journal *j = NULL;
	struct journal_op a = flags_op("INBOX", 1, "\\Seen", "");
	off_t before;
	int r = 0;
	unsigned added = 0;

	CHECK_INT(journal_open(dir_fd, 4096, &j), 0);
	for (unsigned i = 0; i < 1000 && r == 0; i++) {
		a.uid = i + 1;
		r = journal_add(j, &a);
		added += r == 0;
	}
	CHECK_INT(r, -ENOSPC);
	CHECK_THAT(added > 10);
	CHECK_INT(journal_pending(j), added);
	before = file_size("journal");
	CHECK_INT(journal_add(j, &a), -ENOSPC);
	CHECK_INT(file_size("journal"), before);
	/* Every pending one can still be completed. */
	j = reopen(j);
	{
		struct journal_op *ops;
		size_t n;

		CHECK_INT(journal_pending_ops(j, &ops, &n), 0);
		CHECK_INT(n, added);
		for (size_t i = 0; i < n; i++)
			CHECK_INT(journal_done(j, ops[i].seq), 0);
		journal_ops_free(ops, n);
	}
	CHECK_INT(journal_pending(j), 0);
	journal_close(j);
	unlinkat(dir_fd, "journal", 0);
}

/* How many kept-bytes files the directory holds. */
static int kept_files(void)
{
	int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY);
	DIR *d = fdopendir(fd);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)) != NULL)
		n += strncmp(e->d_name, "journal-append-", 15) == 0;
	if (d)
		closedir(d);
	return n;
}

static void test_appends(void)
{
	static const char mail[] = "Subject: x\r\nMessage-ID: <a@b>\r\n\r\nbody\r\n";
	struct journal *j = NULL;
	struct journal_op a = { .kind = JOURNAL_APPEND, .wire = "Drafts", .uidvalidity = 5,
				.add = "\\Seen", .name = "draft.eml", .msgid = "<a@b>",
				.date = 1500000000, .size = sizeof(mail) - 1 };
	struct journal_op *ops;
	char *file = NULL, back[sizeof(mail)] = "";
	uint64_t size = 0;
	int64_t date = 0;
	size_t n;
	int src = openat(dir_fd, "src", O_RDWR | O_CREAT | O_TRUNC, 0600), fd;

	CHECK_THAT(src >= 0 && write(src, mail, sizeof(mail) - 1) == (ssize_t)sizeof(mail) - 1);
	CHECK_INT(journal_open(dir_fd, 1 << 20, &j), 0);
	CHECK_INT(journal_keep_bytes(j, src, sizeof(mail) - 1, &file), 0);
	a.file = file;
	CHECK_INT(journal_add(j, &a), 0);
	CHECK_THAT(journal_appending(j, "Drafts", "draft.eml", &size, &date));
	CHECK_INT(size, sizeof(mail) - 1);
	CHECK_INT(date, 1500000000);
	CHECK_THAT(!journal_appending(j, "Drafts", "other.eml", NULL, NULL));
	CHECK_THAT(journal_moving_into(j, "Drafts"));
	CHECK_INT(journal_tried(j, &a.seq, 1, 5, 42), 0);
	/* A file no record names (a crash before the record) goes at the next open. */
	{
		char *stray = NULL;

		CHECK_INT(journal_keep_bytes(j, src, 4, &stray), 0);
		CHECK_INT(kept_files(), 2);
		free(stray);
	}
	j = reopen(j);
	CHECK_INT(kept_files(), 1);
	CHECK_INT(journal_pending_ops(j, &ops, &n), 0);
	CHECK_INT(n, 1);
	CHECK_INT(ops[0].kind, JOURNAL_APPEND);
	CHECK_STR(ops[0].wire, "Drafts");
	CHECK_STR(ops[0].add, "\\Seen");
	CHECK_STR(ops[0].name, "draft.eml");
	CHECK_STR(ops[0].msgid, "<a@b>");
	CHECK_STR(ops[0].file, file);
	CHECK_INT(ops[0].date, 1500000000);
	CHECK_INT(ops[0].size, sizeof(mail) - 1);
	CHECK_INT(ops[0].tried_uidvalidity, 5);
	CHECK_INT(ops[0].tried_uidnext, 42);
	CHECK_INT(journal_open_bytes(j, ops[0].file, &fd), 0);
	CHECK_INT(pread(fd, back, sizeof(back), 0), sizeof(mail) - 1);
	CHECK_STR(back, mail);
	close(fd);
	/* Its completion takes the bytes away. */
	CHECK_INT(journal_done(j, ops[0].seq), 0);
	CHECK_INT(kept_files(), 0);
	journal_ops_free(ops, n);
	/* The bytes count towards the bound. */
	journal_close(j);
	CHECK_INT(journal_open(dir_fd, 1024, &j), 0);
	CHECK_INT(journal_keep_bytes(j, src, 2000, &file), -ENOSPC);
	CHECK_INT(kept_files(), 0);
	journal_close(j);
	free(a.file);
	close(src);
	unlinkat(dir_fd, "src", 0);
	unlinkat(dir_fd, "journal", 0);
}

/* The tree's entries' wire names, sorted, joined by spaces. */
static void names_of(const struct listing_tree_entry *e, size_t n, char *out, size_t len)
{
	const char *w[16];

	for (size_t i = 0; i < n && i < 16; i++)
		w[i] = e[i].wire;
	for (size_t i = 1; i < n && i < 16; i++)
		for (size_t k = i; k > 0 && strcmp(w[k - 1], w[k]) > 0; k--) {
			const char *t = w[k];

			w[k] = w[k - 1];
			w[k - 1] = t;
		}
	*out = '\0';
	for (size_t i = 0; i < n && i < 16; i++)
		snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? " " : "", w[i]);
}

/*
 * Mailboxes made, removed and renamed offline: kept across a reopen, and
 * laid over a listed tree in order (a "New Folder" named afterwards, a
 * folder moved with what is under it).
 */
static void test_mailbox_changes(void)
{
	static const char *listed[] = { "INBOX", "Empty", "Old", "Old/Sub" };
	struct journal_op ops[] = {
		{ .kind = JOURNAL_CREATE, .wire = "New Folder" },
		{ .kind = JOURNAL_RENAME, .wire = "New Folder", .to = "Projects" },
		{ .kind = JOURNAL_DELETE, .wire = "Empty", .uidvalidity = 7 },
		{ .kind = JOURNAL_CREATE, .wire = "Archive" },
		{ .kind = JOURNAL_RENAME, .wire = "Old", .to = "Archive/Old" },
	};
	struct journal_op moved = { .kind = JOURNAL_MOVE, .wire = "INBOX", .uidvalidity = 7,
				    .uid = 3, .to = "Archive/Old/Sub" };
	struct listing_tree_entry *e = calloc(4, sizeof(*e));
	struct journal *j = NULL;
	struct journal_op *got;
	size_t n = 4, ngot;
	char names[256];

	CHECK_INT(journal_open(dir_fd, 1 << 20, &j), 0);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		CHECK_INT(journal_add(j, &ops[i]), 0);
	j = reopen(j);
	CHECK_INT(journal_pending_ops(j, &got, &ngot), 0);
	CHECK_INT(ngot, 5);
	CHECK_STR(got[1].to, "Projects");
	CHECK_INT(got[2].uidvalidity, 7);
	CHECK_INT(got[4].kind, JOURNAL_RENAME);
	journal_ops_free(got, ngot);

	for (size_t i = 0; i < n; i++)
		e[i] = (struct listing_tree_entry){ .wire = strdup(listed[i]), .delim = '/' };
	CHECK_INT(tree_overlay_journal(j, '\0', &e, &n), 0);
	names_of(e, n, names, sizeof(names));
	CHECK_STR(names, "Archive Archive/Old Archive/Old/Sub INBOX Projects");
	for (size_t i = 0; i < n; i++)
		CHECK_THAT(e[i].made_offline == (strcmp(e[i].wire, "Projects") == 0 ||
					    strcmp(e[i].wire, "Archive") == 0));
	/* Changes to messages name mailboxes too: one of those is not renamed under them. */
	CHECK_THAT(!tree_messages_pending(j, "Archive", '/'));
	CHECK_INT(journal_add(j, &moved), 0);
	CHECK_THAT(tree_messages_pending(j, "Archive", '/'));
	CHECK_THAT(tree_messages_pending(j, "INBOX", '/'));
	CHECK_THAT(!tree_messages_pending(j, "Arch", '/'));
	for (size_t i = 0; i < n; i++)
		free(e[i].wire);
	free(e);
	journal_close(j);
	unlinkat(dir_fd, "journal", 0);
}

int main(void)
{
	if (!mkdtemp(root))
		return 1;
	dir_fd = open(root, O_RDONLY | O_DIRECTORY);
	test_survives_and_completes();
	unlinkat(dir_fd, "journal", 0);
	test_kinds();
	test_writeback_path();
	test_torn_and_damaged();
	test_bound();
	test_appends();
	test_mailbox_changes();
	close(dir_fd);
	rmdir(root);
	return check_summary();
}
