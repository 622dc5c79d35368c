/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The journal of changes made while offline (see journal.h). */
#include "store/journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "log.h"
#include "util/array.h"

#define FILE_NAME "journal"
#define DAMAGED_NAME "journal.damaged"
#define DIGEST 32
/* No record is larger: a wire name and two flag lists. */
#define RECORD_MAX ((size_t)1 << 20)
/* Room kept past the bound for the completions of what is pending. */
#define DONE_RECORD (4 + 1 + 8 + DIGEST)

enum record_type { REC_OP = 1, REC_DONE = 2, REC_TRIED = 3 };

/* The files of bytes kept for APPENDs: <prefix><16 hex digits>. */
#define BYTES_PREFIX "journal-append-"

struct journal {
	pthread_mutex_t lock;
	int dirfd, fd;
	uint64_t max, size, next_seq;
	uint64_t kept;          /* bytes kept for pending APPENDs */
	bool unsynced;          /* written by journal_add_unsynced(), not yet fdatasync'ed */
	struct journal_op *ops; /* pending, oldest first */
	size_t n, cap;
	uint64_t ended;         /* operations that left ops (done, dropped or taken back) */
};

/* ---- encoding ---- */

struct enc {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void put(struct enc *e, const void *src, size_t n)
{
	if (e->failed || array_reserve(&e->buf, &e->cap, e->len + n, 1) < 0) {
		e->failed = true;
		return;
	}
	memcpy(e->buf + e->len, src, n);
	e->len += n;
}

static void put_u32(struct enc *e, uint32_t v) { put(e, &v, sizeof(v)); }
static void put_u64(struct enc *e, uint64_t v) { put(e, &v, sizeof(v)); }

static void put_str(struct enc *e, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	put_u32(e, (uint32_t)n);
	put(e, s, n);
}

static void digest(const void *buf, size_t len, unsigned char md[DIGEST])
{
	unsigned mdlen = 0;

	EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL);
}

/* A record around payload e: length first, digest last. */
static int frame(struct enc *payload, struct enc *out)
{
	unsigned char md[DIGEST];

	if (payload->failed || payload->len > RECORD_MAX)
		return payload->failed ? -ENOMEM : -E2BIG;
	put_u32(out, (uint32_t)payload->len);
	put(out, payload->buf, payload->len);
	if (out->failed)
		return -ENOMEM;
	digest(out->buf, out->len, md);
	put(out, md, DIGEST);
	return out->failed ? -ENOMEM : 0;
}

static void encode_op(const struct journal_op *op, struct enc *e)
{
	uint8_t type = REC_OP, kind = (uint8_t)op->kind;

	put(e, &type, 1);
	put_u64(e, op->seq);
	put(e, &kind, 1);
	put_str(e, op->wire);
	put_u32(e, op->uidvalidity);
	put_u32(e, op->uid);
	if (op->kind == JOURNAL_FLAGS) {
		put_str(e, op->add);
		put_str(e, op->remove);
	} else if (op->kind == JOURNAL_MOVE || op->kind == JOURNAL_RENAME) {
		put_str(e, op->to);
	} else if (op->kind == JOURNAL_APPEND) {
		put_str(e, op->add);
		put_str(e, op->file);
		put_str(e, op->name);
		put_str(e, op->msgid);
		put_u64(e, (uint64_t)op->date);
		put_u64(e, op->size);
	}
}

struct dec {
	const char *buf;
	size_t len, pos;
	bool failed;
};

static const char *take(struct dec *d, size_t n)
{
	const char *at;

	if (d->failed || n > d->len - d->pos) {
		d->failed = true;
		return NULL;
	}
	at = d->buf + d->pos;
	d->pos += n;
	return at;
}

static uint64_t take_u(struct dec *d, size_t n)
{
	uint64_t v64 = 0;
	uint32_t v32 = 0;
	uint8_t v8 = 0;
	const char *at = take(d, n);

	if (!at)
		return 0;
	if (n == 1)
		memcpy(&v8, at, 1);
	else if (n == 4)
		memcpy(&v32, at, 4);
	else
		memcpy(&v64, at, 8);
	return n == 1 ? v8 : n == 4 ? v32 : v64;
}

static char *take_str(struct dec *d)
{
	uint32_t n = (uint32_t)take_u(d, 4);
	const char *at = take(d, n);
	char *s;

	if (!at || memchr(at, '\0', n)) {
		d->failed = true;
		return NULL;
	}
	s = strndup(at, n);
	if (!s)
		d->failed = true;
	return s;
}

static void op_clear(struct journal_op *op)
{
	free(op->wire);
	free(op->add);
	free(op->remove);
	free(op->to);
	free(op->file);
	free(op->name);
	free(op->msgid);
	memset(op, 0, sizeof(*op));
}

void journal_ops_free(struct journal_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++)
		op_clear(&ops[i]);
	free(ops);
}

static int op_copy(const struct journal_op *from, struct journal_op *to)
{
	*to = *from;
	to->wire = strdup(from->wire ? from->wire : "");
	to->add = strdup(from->add ? from->add : "");
	to->remove = strdup(from->remove ? from->remove : "");
	to->to = strdup(from->to ? from->to : "");
	to->file = strdup(from->file ? from->file : "");
	to->name = strdup(from->name ? from->name : "");
	to->msgid = strdup(from->msgid ? from->msgid : "");
	if (!to->wire || !to->add || !to->remove || !to->to || !to->file || !to->name ||
	    !to->msgid) {
		op_clear(to);
		return -ENOMEM;
	}
	return 0;
}

/* ---- the pending list ---- */

static int pending_add(struct journal *j, const struct journal_op *op)
{
	int r = array_reserve((char **)&j->ops, &j->cap, j->n + 1, sizeof(*j->ops));

	if (r < 0)
		return r;
	r = op_copy(op, &j->ops[j->n]);
	if (r == 0 && op->kind == JOURNAL_APPEND)
		j->kept += op->size;
	if (r == 0)
		j->n++;
	return r;
}

static void pending_done(struct journal *j, uint64_t seq)
{
	for (size_t i = 0; i < j->n; i++) {
		if (j->ops[i].seq != seq)
			continue;
		if (j->ops[i].kind == JOURNAL_APPEND) {
			/* Done, or set aside (journal_set_aside: then there is nothing to remove). */
			if (unlinkat(j->dirfd, j->ops[i].file, 0) < 0 && errno != ENOENT)
				log_warn("journal: cannot remove %s: %s", j->ops[i].file,
					 strerror(errno));
			j->kept -= j->ops[i].size < j->kept ? j->ops[i].size : j->kept;
		}
		op_clear(&j->ops[i]);
		memmove(&j->ops[i], &j->ops[i + 1], (j->n - i - 1) * sizeof(*j->ops));
		j->n--;
		j->ended++;
		return;
	}
}

/* ---- the file ---- */

/* Writes at off: where the records end is j->size, whatever the file offset says. */
static int write_all(int fd, const char *p, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Appends a record durably. A failed write is cut off again, so the file
 * never holds half a record that a later one would follow.
 */
static int append(struct journal *j, const struct enc *rec, bool sync)
{
	int r = write_all(j->fd, rec->buf, rec->len, (off_t)j->size);

	if (r == 0 && sync && fdatasync(j->fd) < 0)
		r = -errno;
	if (r == 0)
		j->unsynced = !sync;
	if (r < 0) {
		/* If this fails too, the next record overwrites the torn one: it starts at size. */
		if (ftruncate(j->fd, (off_t)j->size) < 0)
			log_warn("journal: cannot cut off a failed write: %s", strerror(errno));
		return r;
	}
	j->size += rec->len;
	return 0;
}

/* Applies one record's payload; false if it is not one this journal writes. */
static bool apply(struct journal *j, const char *payload, size_t len)
{
	struct dec d = { .buf = payload, .len = len };
	struct journal_op op = { 0 };
	uint8_t type = (uint8_t)take_u(&d, 1);
	uint64_t seq = take_u(&d, 8);
	bool ok;

	if (d.failed)
		return false;
	if (seq >= j->next_seq)
		j->next_seq = seq + 1;
	if (type == REC_DONE) {
		pending_done(j, seq);
		return d.pos == d.len;
	}
	if (type == REC_TRIED) {
		uint32_t uidvalidity = (uint32_t)take_u(&d, 4), uidnext = (uint32_t)take_u(&d, 4);

		for (size_t i = 0; i < j->n; i++) {
			if (j->ops[i].seq == seq) {
				j->ops[i].tried_uidvalidity = uidvalidity;
				j->ops[i].tried_uidnext = uidnext;
			}
		}
		return !d.failed && d.pos == d.len;
	}
	if (type != REC_OP)
		return false;
	op.seq = seq;
	op.kind = (enum journal_kind)take_u(&d, 1);
	op.wire = take_str(&d);
	op.uidvalidity = (uint32_t)take_u(&d, 4);
	op.uid = (uint32_t)take_u(&d, 4);
	if (op.kind == JOURNAL_FLAGS) {
		op.add = take_str(&d);
		op.remove = take_str(&d);
	} else if (op.kind == JOURNAL_MOVE || op.kind == JOURNAL_RENAME) {
		op.to = take_str(&d);
	} else if (op.kind == JOURNAL_APPEND) {
		op.add = take_str(&d);
		op.file = take_str(&d);
		op.name = take_str(&d);
		op.msgid = take_str(&d);
		op.date = (int64_t)take_u(&d, 8);
		op.size = take_u(&d, 8);
		/* Only a name this journal makes: a damaged one must not reach outside. */
		if (op.file && (strncmp(op.file, BYTES_PREFIX, strlen(BYTES_PREFIX)) != 0 ||
				strchr(op.file, '/')))
			d.failed = true;
	}
	ok = !d.failed && d.pos == d.len && op.kind >= JOURNAL_FLAGS &&
	     op.kind <= JOURNAL_RENAME &&
	     pending_add(j, &op) == 0;
	op_clear(&op);
	return ok;
}

/* Reads the records of the file; j->size is where the valid ones end. */
static int load(struct journal *j)
{
	struct stat st;
	char *buf;
	size_t len, pos = 0;
	bool damaged = false;

	if (fstat(j->fd, &st) < 0)
		return -errno;
	len = (size_t)st.st_size;
	buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	if (pread(j->fd, buf, len, 0) != (ssize_t)len) {
		free(buf);
		return -EIO;
	}
	while (pos < len) {
		unsigned char md[DIGEST];
		uint32_t plen;

		if (len - pos < 4 + DIGEST) {
			break; /* torn */
		}
		memcpy(&plen, buf + pos, 4);
		if (plen > RECORD_MAX || len - pos - 4 - DIGEST < plen)
			break; /* torn, or damaged: told apart below */
		digest(buf + pos, 4 + (size_t)plen, md);
		if (memcmp(md, buf + pos + 4 + plen, DIGEST) != 0 ||
		    !apply(j, buf + pos + 4, plen)) {
			damaged = true;
			break;
		}
		pos += 4 + (size_t)plen + DIGEST;
	}
	/*
	 * A crash can only tear the last record: whatever fails to read is the
	 * end, unless a whole record's worth follows it. Whatever is cut off,
	 * the file as it was is kept aside (it is small).
	 */
	if (pos < len) {
		int out = openat(j->dirfd, DAMAGED_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
				 0600);

		if (out >= 0) {
			if (write_all(out, buf, len, 0) < 0)
				log_warn("journal: cannot keep the damaged journal aside");
			close(out);
		}
	}
	if (pos < len && (damaged || len - pos > RECORD_MAX + 4 + DIGEST))
		log_error("journal: damaged at byte %zu of %zu; the %zu change(s) read before it "
			  "are kept, the file as it was is in %s", pos, len, j->n, DAMAGED_NAME);
	else if (pos < len)
		log_warn("journal: the last change was cut short by a crash (%zu bytes); it was "
			 "never reported done and is dropped (the file as it was is in %s)",
			 len - pos, DAMAGED_NAME);
	free(buf);
	if (pos < len && ftruncate(j->fd, (off_t)pos) < 0)
		return -errno;
	j->size = pos;
	return 0;
}

/* Whether a pending APPEND keeps its bytes in file. Caller holds the lock (or owns j). */
static bool bytes_named(const struct journal *j, const char *file)
{
	for (size_t i = 0; i < j->n; i++)
		if (j->ops[i].kind == JOURNAL_APPEND && strcmp(j->ops[i].file, file) == 0)
			return true;
	return false;
}

/* Removes kept bytes that no pending APPEND names (a crash before its record). */
static void sweep_bytes(struct journal *j)
{
	int fd = openat(j->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, BYTES_PREFIX, strlen(BYTES_PREFIX)) != 0 ||
		    bytes_named(j, e->d_name))
			continue;
		if (unlinkat(j->dirfd, e->d_name, 0) == 0)
			log_info("journal: removed %s, kept for a copy that was never journaled",
				 e->d_name);
	}
	closedir(d);
}

int journal_open(int dirfd, uint64_t max_bytes, struct journal **out)
{
	struct journal *j = calloc(1, sizeof(*j));
	int r;

	*out = NULL;
	if (!j)
		return -ENOMEM;
	pthread_mutex_init(&j->lock, NULL);
	j->dirfd = dirfd;
	j->max = max_bytes;
	j->next_seq = 1;
	j->fd = openat(dirfd, FILE_NAME, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	/* One mount of the account at a time writes it: -EBUSY for the others. */
	if (j->fd < 0 || flock(j->fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		journal_close(j);
		return r;
	}
	r = load(j);
	if (r < 0) {
		journal_close(j);
		return r;
	}
	sweep_bytes(j);
	*out = j;
	return 0;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	journal_ops_free(j->ops, j->n);
	pthread_mutex_destroy(&j->lock);
	free(j);
}

static int add(struct journal *j, struct journal_op *op, bool sync)
{
	struct enc payload = { 0 }, rec = { 0 };
	int r;

	pthread_mutex_lock(&j->lock);
	op->seq = j->next_seq;
	encode_op(op, &payload);
	r = frame(&payload, &rec);
	/* Room for what is there, this, and the completion of everything pending. */
	if (r == 0 && j->size + rec.len + (j->n + 1) * DONE_RECORD + j->kept +
			      (op->kind == JOURNAL_APPEND ? op->size : 0) > j->max)
		r = -ENOSPC;
	if (r == 0)
		r = append(j, &rec, sync);
	if (r == 0) {
		j->next_seq++;
		r = pending_add(j, op);
	}
	pthread_mutex_unlock(&j->lock);
	free(payload.buf);
	free(rec.buf);
	return r;
}

int journal_add(struct journal *j, struct journal_op *op)
{
	return add(j, op, true);
}

int journal_add_unsynced(struct journal *j, struct journal_op *op)
{
	return add(j, op, false);
}

int journal_sync(struct journal *j)
{
	int r = 0;

	pthread_mutex_lock(&j->lock);
	if (j->unsynced) {
		r = fdatasync(j->fd) < 0 ? -errno : 0;
		j->unsynced = r < 0;
	}
	pthread_mutex_unlock(&j->lock);
	return r;
}

/*
 * Records of type for each of seqs[0..n) into recs, one after another (one
 * write): REC_DONE, or REC_TRIED with at's UIDVALIDITY and UIDNEXT.
 */
static int encode_marks(struct enc *recs, uint8_t type, const uint64_t *seqs, size_t n,
			const uint32_t *at)
{
	struct enc payload = { 0 }, rec = { 0 };
	int r = 0;

	for (size_t i = 0; i < n && r == 0; i++) {
		payload.len = 0;
		put(&payload, &type, 1);
		put_u64(&payload, seqs[i]);
		if (at) {
			put_u32(&payload, at[0]);
			put_u32(&payload, at[1]);
		}
		rec.len = 0;
		r = frame(&payload, &rec);
		if (r == 0)
			put(recs, rec.buf, rec.len);
		if (recs->failed || payload.failed)
			r = -ENOMEM;
	}
	free(payload.buf);
	free(rec.buf);
	return r;
}

/* Caller holds j->lock. Records seqs[0..n) done, durably. */
static int done_locked(struct journal *j, const uint64_t *seqs, size_t n)
{
	struct enc recs = { 0 };
	int r = encode_marks(&recs, REC_DONE, seqs, n, NULL);

	/* One write and one fdatasync for the lot: a batch's completions come together. */
	if (r == 0 && n)
		r = append(j, &recs, true);
	if (r == 0) {
		for (size_t i = 0; i < n; i++)
			pending_done(j, seqs[i]);
		/* Nothing pending: the file starts over (its records are all done). */
		if (j->n == 0 && ftruncate(j->fd, 0) == 0) {
			j->size = 0;
			if (fdatasync(j->fd) < 0)
				log_debug("journal: emptied, not yet on disk: %s", strerror(errno));
		}
	}
	free(recs.buf);
	return r;
}

int journal_done_many(struct journal *j, const uint64_t *seqs, size_t n)
{
	int r;

	pthread_mutex_lock(&j->lock);
	r = done_locked(j, seqs, n);
	pthread_mutex_unlock(&j->lock);
	return r;
}

int journal_cancel_append(struct journal *j, const char *wire, const char *name)
{
	int r = -ENOENT;

	pthread_mutex_lock(&j->lock);
	/* The newest of that name: the one the name shows. */
	for (size_t i = j->n; i-- > 0;) {
		const struct journal_op *op = &j->ops[i];

		if (op->kind != JOURNAL_APPEND || strcmp(op->wire, wire) != 0 ||
		    strcmp(op->name, name) != 0)
			continue;
		r = op->tried_uidnext ? -EBUSY : done_locked(j, &op->seq, 1);
		break;
	}
	pthread_mutex_unlock(&j->lock);
	return r;
}

bool journal_holds(struct journal *j, uint64_t seq)
{
	bool held = false;

	pthread_mutex_lock(&j->lock);
	for (size_t i = 0; i < j->n && !held; i++)
		held = j->ops[i].seq == seq;
	pthread_mutex_unlock(&j->lock);
	return held;
}

int journal_keep_bytes(struct journal *j, int fd, uint64_t size, char **file)
{
	char name[sizeof(BYTES_PREFIX) + 16], buf[65536];
	uint64_t token, done = 0;
	bool room;
	int out, r = 0;

	*file = NULL;
	pthread_mutex_lock(&j->lock);
	room = j->size + (j->n + 1) * DONE_RECORD + j->kept + size <= j->max;
	pthread_mutex_unlock(&j->lock);
	if (!room)
		return -ENOSPC;
	if (RAND_bytes((unsigned char *)&token, sizeof(token)) != 1)
		return -EIO;
	snprintf(name, sizeof(name), BYTES_PREFIX "%016llx", (unsigned long long)token);
	out = openat(j->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0)
		return -errno;
	while (r == 0 && done < size) {
		size_t want = size - done < sizeof(buf) ? (size_t)(size - done) : sizeof(buf);
		ssize_t n = pread(fd, buf, want, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			r = n < 0 ? -errno : -EIO;
		else
			r = write_all(out, buf, (size_t)n, (off_t)done);
		done += n > 0 ? (uint64_t)n : 0;
	}
	/* Its name is in the directory before the record that names it is. */
	if (r == 0 && (fsync(out) < 0 || fsync(j->dirfd) < 0))
		r = -errno;
	close(out);
	if (r < 0) {
		unlinkat(j->dirfd, name, 0);
		return r;
	}
	*file = strdup(name);
	if (!*file) {
		unlinkat(j->dirfd, name, 0);
		return -ENOMEM;
	}
	return 0;
}

void journal_drop_bytes(struct journal *j, const char *file)
{
	if (file && unlinkat(j->dirfd, file, 0) < 0)
		log_warn("journal: cannot remove %s: %s", file, strerror(errno));
}

int journal_open_bytes(struct journal *j, const char *file, int *fd)
{
	*fd = openat(j->dirfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	return *fd < 0 ? -errno : 0;
}

int journal_set_aside(struct journal *j, const char *file, const char *name, char **aside)
{
	int r;

	/* "refused-<its token>-<name>": unique, and says what it was (cut short: NAME_MAX). */
	if (asprintf(aside, "refused-%s-%.100s", file + strlen(BYTES_PREFIX), name) < 0) {
		*aside = NULL;
		return -ENOMEM;
	}
	for (char *c = *aside; *c; c++)
		if (*c == '/')
			*c = '_';
	r = renameat(j->dirfd, file, j->dirfd, *aside) < 0 ? -errno : 0;
	if (r < 0) {
		free(*aside);
		*aside = NULL;
	}
	return r;
}

int journal_tried(struct journal *j, const uint64_t *seqs, size_t n, uint32_t uidvalidity,
		  uint32_t uidnext)
{
	const uint32_t at[2] = { uidvalidity, uidnext };
	struct enc recs = { 0 };
	int r = encode_marks(&recs, REC_TRIED, seqs, n, at);

	pthread_mutex_lock(&j->lock);
	/* One write and one fdatasync for a batch of copies. */
	if (r == 0 && n)
		r = append(j, &recs, true);
	for (size_t i = 0; r == 0 && i < j->n; i++) {
		for (size_t x = 0; x < n; x++) {
			if (j->ops[i].seq == seqs[x]) {
				j->ops[i].tried_uidvalidity = uidvalidity;
				j->ops[i].tried_uidnext = uidnext;
			}
		}
	}
	pthread_mutex_unlock(&j->lock);
	free(recs.buf);
	return r;
}

bool journal_appending(struct journal *j, const char *wire, const char *name, uint64_t *size,
		       int64_t *date)
{
	bool found = false;

	if (!j)
		return false;
	pthread_mutex_lock(&j->lock);
	for (size_t i = 0; i < j->n && !found; i++) {
		const struct journal_op *op = &j->ops[i];

		found = op->kind == JOURNAL_APPEND && strcmp(op->wire, wire) == 0 &&
			strcmp(op->name, name) == 0;
		if (found && size)
			*size = op->size;
		if (found && date)
			*date = op->date;
	}
	pthread_mutex_unlock(&j->lock);
	return found;
}

int journal_done(struct journal *j, uint64_t seq)
{
	return journal_done_many(j, &seq, 1);
}

bool journal_moving_into(struct journal *j, const char *wire)
{
	bool found = false;

	if (!j)
		return false;
	pthread_mutex_lock(&j->lock);
	for (size_t i = 0; i < j->n && !found; i++)
		found = (j->ops[i].kind == JOURNAL_MOVE && strcmp(j->ops[i].to, wire) == 0) ||
			(j->ops[i].kind == JOURNAL_APPEND && strcmp(j->ops[i].wire, wire) == 0);
	pthread_mutex_unlock(&j->lock);
	return found;
}

size_t journal_pending(struct journal *j)
{
	size_t n;

	if (!j)
		return 0;
	pthread_mutex_lock(&j->lock);
	n = j->n;
	pthread_mutex_unlock(&j->lock);
	return n;
}

uint64_t journal_ended(struct journal *j)
{
	uint64_t n;

	if (!j)
		return 0;
	pthread_mutex_lock(&j->lock);
	n = j->ended;
	pthread_mutex_unlock(&j->lock);
	return n;
}

int journal_pending_ops(struct journal *j, struct journal_op **ops, size_t *n)
{
	int r = 0;

	*ops = NULL;
	*n = 0;
	pthread_mutex_lock(&j->lock);
	if (j->n) {
		*ops = calloc(j->n, sizeof(**ops));
		if (!*ops)
			r = -ENOMEM;
	}
	for (size_t i = 0; r == 0 && i < j->n; i++) {
		r = op_copy(&j->ops[i], &(*ops)[i]);
		if (r == 0)
			(*n)++;
	}
	pthread_mutex_unlock(&j->lock);
	if (r < 0) {
		journal_ops_free(*ops, *n);
		*ops = NULL;
		*n = 0;
	}
	return r;
}
