/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Open files and their reads (see file.h). */
#include "fs/file.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs/inode.h"
#include "fs/interrupt.h"
#include "fs/node.h"
#include "fs/recent.h"
#include "fs/upload.h"
#include "log.h"
#include "store/parts.h"
#include "util/cancel.h"

/* Bytes of the file fetched at off, for the reads that follow. */
struct read_window {
	char *buf;
	uint64_t off;
	size_t len, cap;
};

/*
 * An open message or part file: the last two windows of bytes fetched. Two,
 * because the kernel's parallel readahead may ask a later range first: the
 * earlier one then comes in a window of its own, and the later window must
 * still be there for the reads that follow it (with one, a loaded machine
 * fetched a third of a large attachment twice).
 */
struct open_msg {
	struct open_msg *prev, *next; /* fs->open_msgs, under fs->opens_lock */
	pthread_mutex_t lock;
	fuse_ino_t ino; /* as the kernel opened it */
	uint32_t mailbox, uidvalidity, uid;
	struct store_parts *parts; /* a part file: its message's parts, held */
	size_t part;
	uint64_t size;
	struct read_window win[2]; /* win[0] the last fetched */
	size_t next_window;
	bool short_logged;
	struct timespec failed_at; /* last failed fetch: readahead after it fails at once */
};

void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct store_parts *parts = NULL;
	struct interruptible it;
	struct open_msg *om;
	struct store_msg m;
	uint32_t uidvalidity;
	fuse_ino_t opened = ino;
	int r;

	if (upload_open(req, ino, fi))
		return;
	if (ino_kind(ino) == INO_LOCAL) {
		int fd;

		r = local_open(fs->local, ino, fi->flags, &fd);
		if (r == 0) {
			fi->fh = LOCAL_FH_TAG | (uint64_t)fd;
			fi->direct_io = 1; /* its bytes are in a file of ours: no second copy */
			fuse_reply_open(req, fi);
			return;
		}
		/* Renamed to a plain name, it is a message now: open that. */
		if (r != -ENOENT || !local_became(fs, ino, &ino)) {
			fuse_reply_err(req, -r);
			return;
		}
	}
	if (ino_kind(ino) != INO_MESSAGE && ino_kind(ino) != INO_PART) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		/* A message never changes: its bytes are what the server stored. */
		fuse_reply_err(req, fs->opts.readonly ? EROFS : EACCES);
		return;
	}
	interruptible_begin(&it, req);
	if (ino_kind(ino) == INO_MESSAGE)
		r = message_of(fs, &ino, &m, &uidvalidity);
	else
		r = store_message(fs->st, ino_mailbox(ino), ino_uid(ino), &m, &uidvalidity);
	if (r == 0 && ino_kind(ino) == INO_PART) {
		r = parts_of(fs, ino, &parts);
		if (r == 0 && ino_part(ino) >= parts->n)
			r = -ENOENT;
		if (r == 0)
			r = store_parts_sized(fs->st, parts);
	}
	r = interruptible_end(&it, r);
	if (r < 0) {
		store_parts_put(fs->st, parts);
		fuse_reply_err(req, r == -ESTALE ? ENOENT : -r);
		return;
	}
	om = calloc(1, sizeof(*om));
	if (!om) {
		store_parts_put(fs->st, parts);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_init(&om->lock, NULL);
	om->ino = ino_kind(opened) == INO_LOCAL ? ino : opened;
	om->mailbox = ino_mailbox(ino);
	om->uidvalidity = uidvalidity;
	om->uid = m.uid;
	om->size = m.size;
	om->next_window = READ_WINDOW_MIN;
	if (parts) {
		om->parts = parts;
		om->part = ino_part(ino);
		om->size = parts->parts[om->part].size;
		om->next_window = PART_WINDOW_MIN;
	}
	pthread_mutex_lock(&fs->opens_lock);
	om->next = fs->open_msgs;
	if (om->next)
		om->next->prev = om;
	fs->open_msgs = om;
	pthread_mutex_unlock(&fs->opens_lock);
	fi->fh = (uintptr_t)om;
	fi->keep_cache = 1;
	fi->noflush = 1; /* nothing to do at close(): a request a file fewer */
	fuse_reply_open(req, fi);
}

static void open_msg_free(struct fs *fs, struct open_msg *om)
{
	store_parts_put(fs->st, om->parts);
	pthread_mutex_destroy(&om->lock);
	free(om->win[0].buf);
	free(om->win[1].buf);
	free(om);
}

/* Whether message om has a byte at off: 1, 0, or -errno. */
static int byte_at(struct fs *fs, struct open_msg *om, uint64_t off)
{
	char c;
	ssize_t got = store_read_message(fs->st, om->mailbox, om->uidvalidity, om->uid, off, 1, &c);

	return got < 0 ? (int)got : got > 0;
}

/*
 * The end of a message known to hold more than lo bytes (a full window came
 * past the end its listing claimed): found with one-byte reads, doubling
 * past lo, then halving, some 2 log2(extra) round trips. Only a server whose
 * sizes are wrong pays it, and once a message (the listing keeps the end).
 */
static int find_end(struct fs *fs, struct open_msg *om, uint64_t lo, uint64_t *end)
{
	uint64_t step = SIZE_SLACK, hi = lo;
	int r;

	/* Byte lo - 1 exists; find a hi with no byte. */
	while ((r = byte_at(fs, om, hi)) == 1) {
		lo = hi + 1;
		if (lo >= STORE_MAX_FILE) {
			*end = STORE_MAX_FILE;
			return 0;
		}
		hi = lo + step;
		step *= 2;
	}
	if (r < 0)
		return r;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		r = byte_at(fs, om, mid);
		if (r < 0)
			return r;
		if (r)
			lo = mid + 1;
		else
			hi = mid;
	}
	*end = lo;
	return 0;
}

/*
 * What a fetch of [off, off + len) that brought got bytes says of the
 * message's true size: less than asked is its end; all of it, past the
 * claimed end, that the end lies further (found now, exactly). The bytes the
 * server sends are the message, whatever RFC822.SIZE claimed: the store
 * keeps the true size (for getattr, listings, the listing on disk) and the
 * kernel learns it. A smaller one it learns by itself from the short read
 * (FUSE shrinks i_size then). A larger one needs its attributes invalidated
 * now, before the reply, or the reader stops at the claimed end: only the
 * attributes, which takes no page or directory lock, so it is safe from
 * here, and only once, so no other read of the file in flight loses the
 * shrinking a short read does.
 */
static int message_size_seen(struct fs *fs, struct open_msg *om, uint64_t off, size_t got,
			     size_t len)
{
	uint64_t size = off + got;
	int r;

	if (got == len && size <= om->size)
		return 0;
	if (got == len) {
		r = find_end(fs, om, size, &size);
		if (r < 0)
			return r;
	}
	if (size == om->size)
		return 0;
	store_message_resized(fs->st, om->mailbox, om->uidvalidity, om->uid, size);
	if (size > om->size && fs->se)
		fuse_lowlevel_notify_inval_inode(fs->se, om->ino, -1, 0);
	om->size = size;
	return 0;
}

/* Fetches a window that holds [off, off + want) for process reader; caller holds om->lock. */
static int fetch_window(struct fs *fs, struct open_msg *om, uint64_t off, size_t want,
			pid_t reader)
{
	uint64_t end = om->win[0].off + om->win[0].len;
	struct read_window fresh = om->win[1];
	struct timespec now;
	size_t len;
	ssize_t got;

	/*
	 * The kernel reads ahead with several requests at once, and a later one
	 * can come first: the window then goes on from where the last one ended,
	 * so the pages skipped are in it when their request comes, not fetched
	 * again in a window of their own.
	 */
	if (off > end && off - end < om->next_window) {
		want += (size_t)(off - end);
		off = end;
	}
	len = om->next_window > want ? om->next_window : want;

	/*
	 * The kernel reads ahead in parallel: when one fetch of this file just
	 * failed after a whole timeout, the next must not wait another.
	 */
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (om->failed_at.tv_sec && now.tv_sec - om->failed_at.tv_sec < 2)
		return -EIO;

	/* A small file comes whole in one round trip. */
	if (off == 0 && om->size <= 2 * READ_WINDOW_MIN)
		len = (size_t)om->size;
	if (off + len > om->size)
		len = (size_t)(om->size - off);
	/*
	 * A message's last window asks past the end the listing claims: servers
	 * approximate RFC822.SIZE (Exchange), and a longer body must be noticed,
	 * not cut. A part's size was measured, not claimed.
	 */
	if (!om->parts && off + len >= om->size && om->size < STORE_MAX_FILE)
		len += SIZE_SLACK;
	/* The older window's buffer takes the new bytes; the last one becomes the older. */
	if (len > fresh.cap) {
		char *grown = realloc(fresh.buf, len);

		if (!grown)
			return -ENOMEM;
		fresh.buf = grown;
		fresh.cap = len;
	}
	fresh.len = 0;
	om->win[1] = om->win[0];
	om->win[0] = fresh;
	if (om->parts) {
		got = store_read_part(fs->st, om->parts, om->part, off, len, fresh.buf);
	} else {
		/* Only reads the page cache could not answer tell the order. */
		if (off == 0)
			store_message_reading(fs->st, om->mailbox, om->uidvalidity, om->uid, reader);
		got = store_read_message(fs->st, om->mailbox, om->uidvalidity, om->uid, off, len,
					 fresh.buf);
	}
	/* An interrupted fetch says nothing of the server: the next may go on. */
	if (got == -EIO && !cancel_requested())
		clock_gettime(CLOCK_MONOTONIC, &om->failed_at);
	if (got < 0)
		return (int)got;
	/* Sequential readers get larger windows; a jump starts small again. */
	if (off == end)
		om->next_window = om->next_window * 2 > READ_WINDOW_MAX ? READ_WINDOW_MAX
									: om->next_window * 2;
	else
		om->next_window = om->parts ? PART_WINDOW_MIN : READ_WINDOW_MIN;
	if (!om->parts) {
		int r = message_size_seen(fs, om, off, (size_t)got, len);

		if (r < 0)
			return r;
	} else if ((size_t)got < len) {
		/* A short file would be cached as the truth: fail the read instead. */
		if (!om->short_logged)
			log_error("message UID %" PRIu32 " part %zu: server sent %zd bytes at offset %"
				  PRIu64 " where %zu were due; failing the read", om->uid, om->part,
				  got, off, len);
		om->short_logged = true;
		return -EIO;
	}
	om->win[0].off = off;
	om->win[0].len = (size_t)got;
	return 0;
}

/* The window that holds all of [off, off + size), or NULL; caller holds om->lock. */
static const struct read_window *window_holding(const struct open_msg *om, uint64_t off,
						size_t size)
{
	for (size_t i = 0; i < 2; i++)
		if (off >= om->win[i].off && off + size <= om->win[i].off + om->win[i].len)
			return &om->win[i];
	return NULL;
}

void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct open_msg *om = (struct open_msg *)(uintptr_t)fi->fh;
	uint64_t uoff = (uint64_t)off;
	struct interruptible it;
	char *out = NULL;
	size_t n = 0;
	int r = 0;

	if (upload_read(req, ino, size, off, fi))
		return;
	if (local_fh(fi->fh) >= 0) {
		char *buf = malloc(size ? size : 1);
		ssize_t got = buf ? pread(local_fh(fi->fh), buf, size, off) : -1;

		if (got < 0)
			fuse_reply_err(req, buf ? errno : ENOMEM);
		else
			fuse_reply_buf(req, buf, (size_t)got);
		free(buf);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	/*
	 * The reply is copied out under the lock and sent after it: once the
	 * kernel has the bytes the file may be closed, and release() may free om
	 * before fuse_reply_buf() returns.
	 */
	/* Interruptible from the start: another read of the file may hold the lock across a fetch. */
	interruptible_begin(&it, req);
	r = cancel_lock(&om->lock);
	if (r < 0)
		goto out;
	if (uoff < om->size) {
		if (size > om->size - uoff)
			size = (size_t)(om->size - uoff);
		const struct read_window *w = window_holding(om, uoff, size);

		if (!w) {
			r = fetch_window(fs, om, uoff, size, fuse_req_ctx(req)->pid);
			w = &om->win[0];
		}
		if (r == 0 && uoff >= w->off && uoff < w->off + w->len) {
			n = (size_t)(w->off + w->len - uoff);
			if (n > size)
				n = size;
			out = malloc(n);
			if (out)
				memcpy(out, w->buf + (uoff - w->off), n);
			else
				r = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&om->lock);
out:
	r = interruptible_end(&it, r);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_buf(req, out, n);
	free(out);
}

void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct open_msg *om = (struct open_msg *)(uintptr_t)fi->fh;
	struct fs *fs = fs_of(req);

	if (upload_release(req, ino, fi))
		return;
	if (local_fh(fi->fh) >= 0) {
		close(local_fh(fi->fh));
		fuse_reply_err(req, 0);
		return;
	}
	pthread_mutex_lock(&fs->opens_lock);
	if (om->prev)
		om->prev->next = om->next;
	else
		fs->open_msgs = om->next;
	if (om->next)
		om->next->prev = om->prev;
	pthread_mutex_unlock(&fs->opens_lock);
	open_msg_free(fs, om);
	fuse_reply_err(req, 0);
}

void open_files_free(struct fs *fs)
{
	while (fs->open_msgs) {
		struct open_msg *om = fs->open_msgs;

		fs->open_msgs = om->next;
		open_msg_free(fs, om);
	}
}
