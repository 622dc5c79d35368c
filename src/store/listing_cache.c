/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "store/listing_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log.h"
#include "store/body_cache.h"

#define DIR_NAME "listings"
#define MAGIC "imapfsL1"
#define ORDER_MARK UINT32_C(0x01020304) /* a file from a machine of the other byte order is refused */
#define DIGEST 32
/* Refused beyond these: no real listing comes near them. */
#define MAX_FILE (UINT64_C(1) << 30)
#define MAX_FLAGSETS 4096
#define MAX_FLAGSET_TEXT 65536
#define MAX_TREE STORE_MAX_MAILBOXES
#define MAX_WIRE 65536
#define TREE_NAME "tree"
#define TREE_MAGIC "imapfsT1"

struct file_head {
	char magic[8];
	uint32_t order;
	uint32_t uidvalidity, uidnext, exists;
	uint64_t modseq;
	uint64_t nmsgs;
	uint32_t nflagsets;
	uint32_t wire_len;
};

/* What a row is on disk: struct store_msg's fields, no padding. */
#define ROW_SIZE (4 + 4 + 8 + 8)

static atomic_uint serial;

static int listings_dir(struct body_cache *bc, bool create)
{
	int fd, dirfd;

	if (!bc)
		return -ENOENT;
	dirfd = body_cache_account_fd(bc);
	if (create && mkdirat(dirfd, DIR_NAME, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(dirfd, DIR_NAME, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? -errno : fd;
}

static void file_name(const char *wire, char out[65])
{
	body_cache_hash_hex(wire, strlen(wire), out);
}

/* Readable names of mailbox wire (listing_cache_add_headlines). */
static void headlines_file(const char *wire, char out[80])
{
	file_name(wire, out);
	strcat(out, ".headlines");
}

void listing_snapshot_free(struct listing_snapshot *s)
{
	for (size_t i = 0; i < s->nflagsets; i++)
		free(s->flagsets[i]);
	free(s->flagsets);
	free(s->msgs);
	memset(s, 0, sizeof(*s));
}

/* Reads all of fd (at most MAX_FILE bytes) into a malloc'd buffer. */
static int read_file(int fd, unsigned char **out, size_t *len)
{
	struct stat st;
	unsigned char *buf;
	size_t done = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > MAX_FILE)
		return -EINVAL;
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf)
		return -ENOMEM;
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? -errno : -EINVAL;

			free(buf);
			return e;
		}
		done += (size_t)n;
	}
	*out = buf;
	*len = done;
	return 0;
}

/* A kept file as read: its contents without the digest, and which file it was. */
struct kept {
	unsigned char *buf;
	size_t len;
	dev_t dev;
	ino_t ino;
};

/* Reads file name of the listings directory and checks its digest (-EINVAL if wrong). */
static int kept_read(struct body_cache *bc, const char *name, struct kept *k)
{
	unsigned char md[DIGEST];
	unsigned mdlen = 0;
	struct stat st;
	int dirfd, fd, r;

	memset(k, 0, sizeof(*k));
	dirfd = listings_dir(bc, false);
	if (dirfd < 0)
		return dirfd;
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	close(dirfd);
	if (fd < 0)
		return -errno;
	r = fstat(fd, &st) < 0 ? -errno : read_file(fd, &k->buf, &k->len);
	close(fd);
	if (r < 0)
		return r;
	k->dev = st.st_dev;
	k->ino = st.st_ino;
	if (k->len < DIGEST)
		return -EINVAL;
	k->len -= DIGEST;
	EVP_Digest(k->buf, k->len, md, &mdlen, EVP_sha256(), NULL);
	if (mdlen != DIGEST || memcmp(md, k->buf + k->len, DIGEST) != 0)
		return -EINVAL;
	return 0;
}

/*
 * Removes a kept file found damaged, with a warning; only that same file:
 * another mount may have renamed a good one in since.
 */
static void kept_refuse(struct body_cache *bc, const char *name, const struct kept *k,
			const char *what)
{
	struct stat now;
	int dirfd = listings_dir(bc, false);

	log_warn("%s kept in the disk cache is damaged; asking the server instead", what);
	if (dirfd < 0)
		return;
	if (fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == k->dev &&
	    now.st_ino == k->ino)
		unlinkat(dirfd, name, 0);
	close(dirfd);
}

/* Appends n bytes to the growing buffer *b. */
static bool put(unsigned char **b, size_t *len, size_t *cap, const void *src, size_t n)
{
	if (*cap - *len < n) {
		size_t want = *cap ? *cap : 4096;
		unsigned char *grown;

		while (want - *len < n)
			want *= 2;
		grown = realloc(*b, want);
		if (!grown)
			return false;
		*b = grown;
		*cap = want;
	}
	memcpy(*b + *len, src, n);
	*len += n;
	return true;
}

/* Writes buf[0..len) and its digest as file name, replacing it whole. Frees buf. */
static int kept_write(struct body_cache *bc, const char *name, unsigned char *buf, size_t len,
		      size_t cap, const char *what)
{
	unsigned char md[DIGEST];
	unsigned mdlen = 0;
	size_t done = 0;
	char tmp[96];
	int dirfd, fd = -1, r = 0;

	EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL);
	if (!put(&buf, &len, &cap, md, DIGEST)) {
		free(buf);
		return -ENOMEM;
	}
	dirfd = listings_dir(bc, true);
	if (dirfd < 0) {
		free(buf);
		return dirfd;
	}
	snprintf(tmp, sizeof(tmp), "tmp.%ld.%u", (long)getpid(), atomic_fetch_add(&serial, 1));
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		r = -errno;
	while (r == 0 && done < len) {
		ssize_t n = write(fd, buf + done, len - done);

		if (n < 0 && errno != EINTR)
			r = -errno;
		else if (n > 0)
			done += (size_t)n;
	}
	if (fd >= 0 && close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r < 0 && fd >= 0)
		unlinkat(dirfd, tmp, 0);
	if (r < 0)
		log_debug("keeping %s failed: %s", what, strerror(-r));
	close(dirfd);
	free(buf);
	return r;
}

/* Takes len bytes at *pos of buf[0..end), or fails when they are not there. */
static bool take(const unsigned char *buf, size_t end, size_t *pos, void *dst, size_t len)
{
	if (end - *pos < len)
		return false;
	memcpy(dst, buf + *pos, len);
	*pos += len;
	return true;
}

static int parse_listing(const unsigned char *buf, size_t end, const char *wire,
			 struct listing_snapshot *out)
{
	struct file_head h;
	size_t pos = 0;

	if (!take(buf, end, &pos, &h, sizeof(h)) || memcmp(h.magic, MAGIC, sizeof(h.magic)) != 0 ||
	    h.order != ORDER_MARK || h.wire_len != strlen(wire) || h.nflagsets > MAX_FLAGSETS ||
	    h.nmsgs > (end - pos) / ROW_SIZE)
		return -EINVAL;
	if (end - pos < h.wire_len || memcmp(buf + pos, wire, h.wire_len) != 0)
		return -EINVAL;
	pos += h.wire_len;
	out->uidvalidity = h.uidvalidity;
	out->uidnext = h.uidnext;
	out->exists = h.exists;
	out->modseq = h.modseq;
	out->flagsets = calloc(h.nflagsets ? h.nflagsets : 1, sizeof(*out->flagsets));
	out->msgs = malloc(h.nmsgs ? (size_t)h.nmsgs * sizeof(*out->msgs) : 1);
	if (!out->flagsets || !out->msgs)
		return -ENOMEM;
	for (uint32_t i = 0; i < h.nflagsets; i++) {
		uint32_t tlen;

		if (!take(buf, end, &pos, &tlen, sizeof(tlen)) || tlen > MAX_FLAGSET_TEXT ||
		    end - pos < tlen || memchr(buf + pos, '\0', tlen))
			return -EINVAL;
		out->flagsets[i] = strndup((const char *)buf + pos, tlen);
		if (!out->flagsets[i])
			return -ENOMEM;
		out->nflagsets++;
		pos += tlen;
	}
	for (uint64_t i = 0; i < h.nmsgs; i++) {
		struct store_msg m;

		if (!take(buf, end, &pos, &m.uid, 4) || !take(buf, end, &pos, &m.flags, 4) ||
		    !take(buf, end, &pos, &m.size, 8) || !take(buf, end, &pos, &m.date, 8))
			return -EINVAL;
		/* What the store would have refused from a server is refused here too. */
		if (m.uid == 0 || (out->n && m.uid <= out->msgs[out->n - 1].uid) ||
		    m.flags >= h.nflagsets || m.size > STORE_MAX_FILE)
			return -EINVAL;
		out->msgs[out->n++] = m;
	}
	return pos == end ? 0 : -EINVAL;
}

int listing_cache_load(struct body_cache *bc, const char *wire, struct listing_snapshot *out)
{
	struct kept k;
	char name[65];
	int r;

	memset(out, 0, sizeof(*out));
	file_name(wire, name);
	r = kept_read(bc, name, &k);
	if (r == 0)
		r = parse_listing(k.buf, k.len, wire, out);
	if (r == -EINVAL) {
		char what[300];

		snprintf(what, sizeof(what), "the listing of mailbox %.200s", wire);
		kept_refuse(bc, name, &k, what);
	}
	free(k.buf);
	if (r < 0)
		listing_snapshot_free(out);
	return r;
}

int listing_cache_save(struct body_cache *bc, const char *wire, const struct listing_snapshot *in)
{
	struct file_head h = { .order = ORDER_MARK };
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0;
	char name[65];
	bool ok;

	if (!bc)
		return -ENOENT;
	if (in->nflagsets > MAX_FLAGSETS)
		return -EINVAL;
	memcpy(h.magic, MAGIC, sizeof(h.magic));
	h.uidvalidity = in->uidvalidity;
	h.uidnext = in->uidnext;
	h.exists = in->exists;
	h.modseq = in->modseq;
	h.nmsgs = in->n;
	h.nflagsets = (uint32_t)in->nflagsets;
	h.wire_len = (uint32_t)strlen(wire);
	ok = put(&buf, &len, &cap, &h, sizeof(h)) && put(&buf, &len, &cap, wire, h.wire_len);
	for (size_t i = 0; ok && i < in->nflagsets; i++) {
		uint32_t tlen = (uint32_t)strlen(in->flagsets[i]);

		ok = tlen <= MAX_FLAGSET_TEXT && put(&buf, &len, &cap, &tlen, sizeof(tlen)) &&
		     put(&buf, &len, &cap, in->flagsets[i], tlen);
	}
	for (size_t i = 0; ok && i < in->n; i++) {
		const struct store_msg *m = &in->msgs[i];

		ok = put(&buf, &len, &cap, &m->uid, 4) && put(&buf, &len, &cap, &m->flags, 4) &&
		     put(&buf, &len, &cap, &m->size, 8) && put(&buf, &len, &cap, &m->date, 8);
	}
	if (!ok) {
		free(buf);
		return -ENOMEM;
	}
	file_name(wire, name);
	return kept_write(bc, name, buf, len, cap, wire);
}

/* ---- the mailbox tree ---- */

struct tree_head {
	char magic[8];
	uint32_t order;
	uint32_t count;
};

void listing_tree_free(struct listing_tree_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].wire);
	free(e);
}

int listing_cache_save_tree(struct body_cache *bc, const struct listing_tree_entry *e, size_t n)
{
	struct tree_head h = { .order = ORDER_MARK, .count = (uint32_t)n };
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0;
	bool ok;

	if (!bc)
		return -ENOENT;
	if (n > MAX_TREE)
		return -EINVAL;
	memcpy(h.magic, TREE_MAGIC, sizeof(h.magic));
	ok = put(&buf, &len, &cap, &h, sizeof(h));
	for (size_t i = 0; ok && i < n; i++) {
		uint32_t wlen = (uint32_t)strlen(e[i].wire);
		unsigned char flags[2] = { (unsigned char)e[i].delim, e[i].noselect };

		ok = wlen <= MAX_WIRE && put(&buf, &len, &cap, &wlen, sizeof(wlen)) &&
		     put(&buf, &len, &cap, flags, 2) && put(&buf, &len, &cap, e[i].wire, wlen);
	}
	if (!ok) {
		free(buf);
		return -ENOMEM;
	}
	return kept_write(bc, TREE_NAME, buf, len, cap, "the mailbox tree");
}

static int parse_tree(const unsigned char *buf, size_t end, struct listing_tree_entry **out,
		      size_t *nout)
{
	struct listing_tree_entry *e;
	struct tree_head h;
	size_t pos = 0, n = 0;

	if (!take(buf, end, &pos, &h, sizeof(h)) ||
	    memcmp(h.magic, TREE_MAGIC, sizeof(h.magic)) != 0 || h.order != ORDER_MARK ||
	    h.count > MAX_TREE || h.count > (end - pos) / 6)
		return -EINVAL;
	e = calloc(h.count ? h.count : 1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	for (; n < h.count; n++) {
		uint32_t wlen;
		unsigned char flags[2];

		if (!take(buf, end, &pos, &wlen, sizeof(wlen)) || !take(buf, end, &pos, flags, 2) ||
		    wlen == 0 || wlen > MAX_WIRE || end - pos < wlen ||
		    memchr(buf + pos, '\0', wlen) || flags[1] > 1)
			goto invalid;
		e[n].wire = strndup((const char *)buf + pos, wlen);
		if (!e[n].wire) {
			listing_tree_free(e, n);
			return -ENOMEM;
		}
		e[n].delim = (char)flags[0];
		e[n].noselect = flags[1];
		pos += wlen;
	}
	if (pos != end)
		goto invalid;
	*out = e;
	*nout = n;
	return 0;
invalid:
	listing_tree_free(e, n);
	return -EINVAL;
}

int listing_cache_load_tree(struct body_cache *bc, struct listing_tree_entry **out, size_t *n)
{
	struct kept k;
	int r;

	*out = NULL;
	*n = 0;
	r = kept_read(bc, TREE_NAME, &k);
	if (r == 0)
		r = parse_tree(k.buf, k.len, out, n);
	if (r == -EINVAL)
		kept_refuse(bc, TREE_NAME, &k, "the mailbox tree");
	free(k.buf);
	return r;
}

void listing_cache_forget(struct body_cache *bc, const char *wire)
{
	char name[80];
	int dirfd = listings_dir(bc, false);

	if (dirfd < 0)
		return;
	file_name(wire, name);
	unlinkat(dirfd, name, 0);
	headlines_file(wire, name);
	unlinkat(dirfd, name, 0);
	close(dirfd);
}

/* ---- names ---- */

#define NAMES_FILE "names"
/* A log of names larger than this is not read (a million names of 250 bytes). */
#define MAX_LOG (256 << 20)
#define MAX_NAME 4096

struct name_head {
	uint32_t uidvalidity, uid, mode, wlen, nlen;
};

/*
 * Appends n records (UIDVALIDITY, UIDs, modes, wire, names) to the log
 * file in one write: O_APPEND keeps the records of two threads whole.
 */
static int append_records(struct body_cache *bc, const char *file, const char *wire,
			  uint32_t uidvalidity, const uint32_t *uids, const char *const *names,
			  const unsigned *modes, size_t n)
{
	size_t wlen = strlen(wire), len = 0, pos = 0;
	unsigned char *buf;
	int dirfd, fd, r = 0;

	if (wlen > MAX_WIRE)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (names[i] && strlen(names[i]) > MAX_NAME)
			return -EINVAL;
		len += sizeof(struct name_head) + wlen + (names[i] ? strlen(names[i]) : 0);
	}
	buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct name_head h = { uidvalidity, uids[i], modes ? modes[i] : 0, (uint32_t)wlen,
				       (uint32_t)(names[i] ? strlen(names[i]) : 0) };

		memcpy(buf + pos, &h, sizeof(h));
		memcpy(buf + pos + sizeof(h), wire, wlen);
		memcpy(buf + pos + sizeof(h) + wlen, names[i] ? names[i] : "", h.nlen);
		pos += sizeof(h) + wlen + h.nlen;
	}
	dirfd = listings_dir(bc, true);
	if (dirfd < 0) {
		free(buf);
		return dirfd;
	}
	fd = openat(dirfd, file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = -errno;
	} else {
		struct stat st;
		off_t was = fstat(fd, &st) == 0 ? st.st_size : -1;

		if (write(fd, buf, len) != (ssize_t)len) {
			/* A torn record would hide every one after it: cut it off. */
			r = -EIO;
			if (was >= 0 && ftruncate(fd, was) < 0)
				log_debug("cutting a torn record off %s failed", file);
		}
	}
	if (fd >= 0)
		close(fd);
	close(dirfd);
	free(buf);
	return r;
}

/* Calls fn for each whole record of the log file, oldest first. */
static int load_records(struct body_cache *bc, const char *file, listing_name_fn fn, void *ctx)
{
	unsigned char *buf = NULL;
	size_t len = 0, pos = 0;
	struct stat st;
	int dirfd, fd, r = 0;

	dirfd = listings_dir(bc, false);
	if (dirfd < 0)
		return dirfd;
	fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	close(dirfd);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > MAX_LOG) {
		close(fd);
		log_warn("%s in the disk cache is larger than %d MiB: not read", file, MAX_LOG >> 20);
		return -EFBIG;
	}
	len = (size_t)st.st_size;
	buf = malloc(len ? len : 1);
	if (!buf || pread(fd, buf, len, 0) != (ssize_t)len)
		r = buf ? -EIO : -ENOMEM;
	close(fd);
	while (r == 0 && len - pos >= sizeof(struct name_head)) {
		struct name_head h;
		char *wire, *name;

		memcpy(&h, buf + pos, sizeof(h));
		if (h.wlen == 0 || h.wlen > MAX_WIRE || h.nlen > MAX_NAME ||
		    len - pos - sizeof(h) < (size_t)h.wlen + h.nlen)
			break; /* torn or damaged: what follows cannot be trusted */
		wire = strndup((const char *)buf + pos + sizeof(h), h.wlen);
		name = strndup((const char *)buf + pos + sizeof(h) + h.wlen, h.nlen);
		if (wire && name && strlen(wire) == h.wlen && strlen(name) == h.nlen)
			fn(ctx, wire, h.uidvalidity, h.uid, h.nlen ? name : NULL, h.mode & 07777);
		free(wire);
		free(name);
		pos += sizeof(h) + h.wlen + h.nlen;
	}
	free(buf);
	return r;
}

int listing_cache_add_name(struct body_cache *bc, const char *wire, uint32_t uidvalidity,
			   uint32_t uid, const char *name, unsigned mode)
{
	int r = append_records(bc, NAMES_FILE, wire, uidvalidity, &uid, &name, &mode, 1);

	if (r < 0)
		log_debug("keeping the name %s failed: %s", name ? name : "", strerror(-r));
	return r;
}

int listing_cache_load_names(struct body_cache *bc, listing_name_fn fn, void *ctx)
{
	return load_records(bc, NAMES_FILE, fn, ctx);
}

/* ---- readable names ---- */

int listing_cache_add_headlines(struct body_cache *bc, const char *wire, uint32_t uidvalidity,
				const uint32_t *uids, const char *const *names, size_t n)
{
	char file[80];
	int r;

	if (!n)
		return 0;
	headlines_file(wire, file);
	r = append_records(bc, file, wire, uidvalidity, uids, names, NULL, n);
	if (r < 0)
		log_debug("keeping readable names of %s failed: %s", wire, strerror(-r));
	return r;
}

int listing_cache_load_headlines(struct body_cache *bc, const char *wire, listing_name_fn fn,
				 void *ctx)
{
	char file[80];

	headlines_file(wire, file);
	return load_records(bc, file, fn, ctx);
}

/* ---- a mailbox renamed offline ---- */

struct carried {
	const char *old_wire, *new_wire;
	struct body_cache *bc;
	const char *file; /* NAMES_FILE, or the new headlines file */
};

static void carry_record(void *ctx, const char *wire, uint32_t uidvalidity, uint32_t uid,
			 const char *name, unsigned mode)
{
	const struct carried *c = ctx;

	/* One at a time, in order: a name dropped later stays dropped. */
	if (strcmp(wire, c->old_wire) == 0)
		append_records(c->bc, c->file, c->new_wire, uidvalidity, &uid, &name, &mode, 1);
}

void listing_cache_carry_names(struct body_cache *bc, const char *old_wire, const char *new_wire)
{
	struct carried c = { .old_wire = old_wire, .new_wire = new_wire, .bc = bc,
			     .file = NAMES_FILE };
	char file[80];

	if (!bc)
		return;
	load_records(bc, NAMES_FILE, carry_record, &c);
	headlines_file(new_wire, file);
	c.file = file;
	listing_cache_load_headlines(bc, old_wire, carry_record, &c);
}
