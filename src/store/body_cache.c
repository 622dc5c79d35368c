/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "store/body_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log.h"

#define HEX_NAME (2 * 32)
#define TMP_PREFIX "tmp."
/* A temporary older than this is a crash's leftover. */
#define TMP_STALE_SECONDS 600
/* A hit refreshes the body's mtime (its place in the LRU order) at most this often. */
#define TOUCH_SECONDS 60

struct body_cache {
	char *dir; /* <cache_dir>/<account hash> */
	int dirfd;
	uint64_t max;
	pthread_mutex_t put_lock; /* writers, scanned, serial */
	bool scanned;             /* used counts what was on disk at the first put */
	unsigned serial;
	pthread_mutex_t lock;     /* used, warned */
	uint64_t used;
	bool warned;
	/* Bodies waiting for the writer thread (body_cache_put_later). */
	pthread_mutex_t q_lock;
	pthread_cond_t q_cond;
	struct pending *q_head, *q_tail;
	size_t q_bytes;
	bool q_stop, q_running;
	pthread_t q_thread;
};

/* A body (or part) queued for the disk, with the name it will have there. */
struct pending {
	struct pending *next;
	char rel[HEX_NAME + 4];
	char *body;
	size_t len;
	bool writing;   /* the writer has it: forgetting it only marks it */
	bool forgotten; /* removed from disk once written */
};

/* Bytes that may wait for the writer; past them new bodies are not kept. */
#define QUEUE_MAX ((size_t)64 << 20)

/*
 * Caller holds q_lock: the queued body named rel, or NULL. The last one
 * queued wins, as on disk.
 */
static struct pending *queued(struct body_cache *bc, const char *rel)
{
	struct pending *found = NULL;

	for (struct pending *p = bc->q_head; p; p = p->next)
		if (strcmp(p->rel, rel) == 0)
			found = p;
	return found;
}

/*
 * Up to len bytes at off of the body named rel while it waits for the
 * writer, if it has size bytes (buf NULL: only whether it is there);
 * -ENOENT if it is not queued.
 */
static ssize_t read_queued(struct body_cache *bc, const char *rel, uint64_t size, uint64_t off,
			   size_t len, char *buf)
{
	struct pending *p;
	ssize_t got = -ENOENT;

	pthread_mutex_lock(&bc->q_lock);
	p = queued(bc, rel);
	if (p && !p->forgotten && p->len == size) {
		got = off < size ? (ssize_t)(len < size - off ? len : size - off) : 0;
		if (buf && got > 0)
			memcpy(buf, p->body + off, (size_t)got);
	}
	pthread_mutex_unlock(&bc->q_lock);
	return got;
}

/* A copy of the whole body named rel while it waits for the writer, or NULL. */
static char *copy_queued(struct body_cache *bc, const char *rel, size_t max, size_t *len)
{
	struct pending *p;
	char *copy = NULL;

	pthread_mutex_lock(&bc->q_lock);
	p = queued(bc, rel);
	if (p && !p->forgotten && p->len <= max && (copy = malloc(p->len + 1))) {
		memcpy(copy, p->body, p->len);
		*len = p->len;
	}
	pthread_mutex_unlock(&bc->q_lock);
	return copy;
}

void body_cache_hash_hex(const void *data, size_t len, char out[HEX_NAME + 1])
{
	unsigned char md[32];
	unsigned mdlen = 0;

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/*
 * "<2 hex>/<64 hex>" for a message (section NULL) or one of its decoded
 * parts, relative to the account directory. The wire name is hashed with
 * its NUL: no name ends where a number begins; a part's key goes on with
 * " part <section>", which no message's key holds.
 */
static int body_path(const char *wire, uint32_t uidvalidity, uint32_t uid, const char *section,
		     char out[HEX_NAME + 4])
{
	size_t wlen = strlen(wire) + 1, slen = section ? strlen(section) : 0;
	char *key = malloc(wlen + 24 + 6 + slen + 1), hex[HEX_NAME + 1];
	int n;

	if (!key)
		return -ENOMEM;
	memcpy(key, wire, wlen);
	n = snprintf(key + wlen, 24, "%" PRIu32 " %" PRIu32, uidvalidity, uid);
	if (section)
		n += snprintf(key + wlen + n, 6 + slen + 1, " part %s", section);
	body_cache_hash_hex(key, wlen + (size_t)n, hex);
	free(key);
	snprintf(out, HEX_NAME + 4, "%.2s/%s", hex, hex);
	return 0;
}

static void warn_once(struct body_cache *bc, const char *what, int err)
{
	bool first;

	pthread_mutex_lock(&bc->lock);
	first = !bc->warned;
	bc->warned = true;
	pthread_mutex_unlock(&bc->lock);
	if (first)
		log_warn("disk cache %s: %s: %s (reading from the server instead)", bc->dir, what,
			 strerror(err));
}

static int mkdir_p(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			*p = '/';
			return -errno;
		}
		*p = '/';
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Calls fn for every body file (and removes stray temporaries). */
static void for_each_body(struct body_cache *bc,
			  void (*fn)(void *ctx, const char *rel, const struct stat *st), void *ctx)
{
	for (unsigned b = 0; b < 256; b++) {
		char sub[3];
		int fd;
		DIR *d;
		struct dirent *de;

		snprintf(sub, sizeof(sub), "%02x", b);
		fd = openat(bc->dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue;
		d = fdopendir(fd);
		if (!d) {
			close(fd);
			continue;
		}
		while ((de = readdir(d))) {
			char rel[HEX_NAME + 4];
			struct stat st;

			if (de->d_name[0] == '.')
				continue;
			if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0) {
				/* Another mount may be writing it: only a crash's leftovers go. */
				if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
				    time(NULL) - st.st_mtim.tv_sec > TMP_STALE_SECONDS)
					unlinkat(fd, de->d_name, 0);
				continue;
			}
			if (strlen(de->d_name) != HEX_NAME || fstatat(fd, de->d_name, &st, 0) < 0 ||
			    !S_ISREG(st.st_mode))
				continue;
			snprintf(rel, sizeof(rel), "%s/%s", sub, de->d_name);
			fn(ctx, rel, &st);
		}
		closedir(d);
	}
}

static void add_size(void *ctx, const char *rel, const struct stat *st)
{
	(void)rel;
	*(uint64_t *)ctx += (uint64_t)st->st_size;
}

struct lru_entry {
	char rel[HEX_NAME + 4];
	struct timespec mtime;
	uint64_t size;
};

struct lru_list {
	struct lru_entry *e;
	size_t n, cap;
	bool failed;
};

static void collect(void *ctx, const char *rel, const struct stat *st)
{
	struct lru_list *l = ctx;

	if (l->failed)
		return;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 256;
		struct lru_entry *grown = realloc(l->e, ncap * sizeof(*grown));

		if (!grown) {
			l->failed = true;
			return;
		}
		l->e = grown;
		l->cap = ncap;
	}
	snprintf(l->e[l->n].rel, sizeof(l->e[l->n].rel), "%s", rel);
	l->e[l->n].mtime = st->st_mtim;
	l->e[l->n].size = (uint64_t)st->st_size;
	l->n++;
}

static int older_first(const void *a, const void *b)
{
	const struct lru_entry *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	return 0;
}

/*
 * Removes least recently used bodies until they fill at most target bytes.
 * Reads the directory again, so bodies another mount of the account added
 * count too.
 */
static void evict(struct body_cache *bc, uint64_t target)
{
	struct lru_list l = { 0 };
	uint64_t total = 0;
	size_t removed = 0;

	for_each_body(bc, collect, &l);
	if (l.failed) {
		free(l.e);
		return;
	}
	for (size_t i = 0; i < l.n; i++)
		total += l.e[i].size;
	qsort(l.e, l.n, sizeof(*l.e), older_first);
	for (size_t i = 0; i < l.n && total > target; i++) {
		if (unlinkat(bc->dirfd, l.e[i].rel, 0) == 0 || errno == ENOENT) {
			total -= l.e[i].size;
			removed++;
		}
	}
	free(l.e);
	pthread_mutex_lock(&bc->lock);
	bc->used = total;
	pthread_mutex_unlock(&bc->lock);
	log_debug("disk cache: removed %zu least recently used bodies; %" PRIu64 " bytes kept",
		  removed, total);
}

static void *writer_main(void *arg);

int body_cache_open(const char *dir, const char *account, uint64_t max_bytes,
		    struct body_cache **out, char *err, size_t errlen)
{
	struct body_cache *bc = calloc(1, sizeof(*bc));
	char hex[HEX_NAME + 1];
	int r;

	*out = NULL;
	snprintf(err, errlen, "cannot use the cache directory %s: %s", dir, strerror(ENOMEM));
	if (!bc)
		return -ENOMEM;
	pthread_mutex_init(&bc->lock, NULL);
	pthread_mutex_init(&bc->put_lock, NULL);
	pthread_mutex_init(&bc->q_lock, NULL);
	pthread_cond_init(&bc->q_cond, NULL);
	bc->dirfd = -1;
	bc->max = max_bytes;
	body_cache_hash_hex(account, strlen(account), hex);
	if (asprintf(&bc->dir, "%s/%.16s", dir, hex) < 0) {
		bc->dir = NULL;
		r = -ENOMEM;
		goto fail;
	}
	r = mkdir_p(bc->dir);
	if (r == 0) {
		struct stat st;

		bc->dirfd = open(bc->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (bc->dirfd < 0)
			r = -errno;
		/* Another user who could write there could plant mail under a body's name. */
		else if (fstat(bc->dirfd, &st) < 0)
			r = -errno;
		else if (st.st_uid != geteuid() || (st.st_mode & 022))
			r = -EPERM;
	}
	for (unsigned b = 0; r == 0 && b < 256; b++) {
		char sub[3];

		snprintf(sub, sizeof(sub), "%02x", b);
		if (mkdirat(bc->dirfd, sub, 0700) < 0 && errno != EEXIST) {
			r = -errno;
		} else {
			struct stat st;

			if (fstatat(bc->dirfd, sub, &st, AT_SYMLINK_NOFOLLOW) < 0)
				r = -errno;
			else if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))
				r = -EPERM;
		}
	}
	if (r < 0) {
		snprintf(err, errlen, "cannot use the cache directory %s: %s", bc->dir,
			 r == -EPERM ? "not yours alone (another user may write there)" : strerror(-r));
		goto fail;
	}
	*out = bc;
	return 0;
fail:
	body_cache_close(bc);
	return r;
}

void body_cache_close(struct body_cache *bc)
{
	if (!bc)
		return;
	if (bc->q_running) {
		/* What is queued is written first: the next mount finds it. */
		pthread_mutex_lock(&bc->q_lock);
		bc->q_stop = true;
		pthread_cond_signal(&bc->q_cond);
		pthread_mutex_unlock(&bc->q_lock);
		pthread_join(bc->q_thread, NULL);
	}
	while (bc->q_head) {
		struct pending *p = bc->q_head;

		bc->q_head = p->next;
		free(p->body);
		free(p);
	}
	pthread_cond_destroy(&bc->q_cond);
	pthread_mutex_destroy(&bc->q_lock);
	if (bc->dirfd >= 0)
		close(bc->dirfd);
	pthread_mutex_destroy(&bc->lock);
	pthread_mutex_destroy(&bc->put_lock);
	free(bc->dir);
	free(bc);
}

/*
 * Marks a body used now. The time is set explicitly, to the nanosecond: the
 * kernel's own file times advance in clock ticks, and bodies written within
 * one tick would tie in the eviction order.
 */
static void mark_used(int fd)
{
	struct timespec now[2];

	clock_gettime(CLOCK_REALTIME, &now[0]);
	now[1] = now[0];
	futimens(fd, now);
}

/* Caller holds put_lock. Removes rel if it still is the file described by st. */
static void remove_if_same(struct body_cache *bc, const char *rel, const struct stat *st)
{
	struct stat now;

	if (fstatat(bc->dirfd, rel, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_ino == st->st_ino &&
	    now.st_dev == st->st_dev && unlinkat(bc->dirfd, rel, 0) == 0) {
		pthread_mutex_lock(&bc->lock);
		bc->used -= bc->used < (uint64_t)now.st_size ? bc->used : (uint64_t)now.st_size;
		pthread_mutex_unlock(&bc->lock);
	}
}

/* The body's file, open for reading, if it has exactly size bytes; else -ENOENT. */
static int open_body(struct body_cache *bc, const char *rel, uint64_t size, struct stat *st)
{
	int fd = openat(bc->dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return -ENOENT;
	if (fstat(fd, st) < 0) {
		close(fd);
		return -ENOENT;
	}
	if (!S_ISREG(st->st_mode) || (uint64_t)st->st_size != size) {
		/*
		 * Not what the server lists under this key: never served, and made
		 * room for; but only this file, not one a writer just put there.
		 */
		close(fd);
		pthread_mutex_lock(&bc->put_lock);
		remove_if_same(bc, rel, st);
		pthread_mutex_unlock(&bc->put_lock);
		return -ENOENT;
	}
	return fd;
}

static void forget_rel(struct body_cache *bc, const char *rel)
{
	struct stat st;

	if (fstatat(bc->dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	pthread_mutex_lock(&bc->put_lock);
	remove_if_same(bc, rel, &st);
	pthread_mutex_unlock(&bc->put_lock);
}

void body_cache_forget(struct body_cache *bc, const char *wire, uint32_t uidvalidity, uint32_t uid)
{
	char rel[HEX_NAME + 4];

	if (!bc || body_path(wire, uidvalidity, uid, NULL, rel) < 0)
		return;
	/* Not written later either. */
	pthread_mutex_lock(&bc->q_lock);
	for (struct pending **link = &bc->q_head, *prev = NULL; *link;) {
		struct pending *p = *link;

		if (strcmp(p->rel, rel) != 0 || p->writing) {
			p->forgotten |= strcmp(p->rel, rel) == 0;
			prev = p;
			link = &p->next;
			continue;
		}
		*link = p->next;
		if (bc->q_tail == p)
			bc->q_tail = prev;
		bc->q_bytes -= p->len;
		free(p->body);
		free(p);
	}
	pthread_mutex_unlock(&bc->q_lock);
	forget_rel(bc, rel);
}

void body_cache_rename(struct body_cache *bc, const char *old_wire, const char *new_wire,
		       uint32_t uidvalidity, uint32_t uid)
{
	char from[HEX_NAME + 4], to[HEX_NAME + 4];

	if (!bc || body_path(old_wire, uidvalidity, uid, NULL, from) < 0 ||
	    body_path(new_wire, uidvalidity, uid, NULL, to) < 0)
		return;
	pthread_mutex_lock(&bc->put_lock);
	/* A body not kept (or evicted meanwhile) is fetched again once the server answers. */
	if (renameat(bc->dirfd, from, bc->dirfd, to) < 0 && errno != ENOENT)
		warn_once(bc, "cannot rename a body", errno);
	pthread_mutex_unlock(&bc->put_lock);
}

bool body_cache_has(struct body_cache *bc, const char *wire, uint32_t uidvalidity, uint32_t uid,
		    uint64_t size)
{
	char rel[HEX_NAME + 4];
	struct stat st;

	if (!bc || body_path(wire, uidvalidity, uid, NULL, rel) < 0)
		return false;
	if (read_queued(bc, rel, size, 0, 0, NULL) >= 0)
		return true;
	return fstatat(bc->dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
	       (uint64_t)st.st_size == size;
}

ssize_t body_cache_read(struct body_cache *bc, const char *wire, uint32_t uidvalidity,
			uint32_t uid, uint64_t size, uint64_t off, size_t len, char *buf)
{
	return body_cache_read_part(bc, wire, uidvalidity, uid, NULL, size, off, len, buf);
}

ssize_t body_cache_read_part(struct body_cache *bc, const char *wire, uint32_t uidvalidity,
			     uint32_t uid, const char *section, uint64_t size, uint64_t off,
			     size_t len, char *buf)
{
	char rel[HEX_NAME + 4];
	struct stat st;
	size_t done = 0;
	ssize_t got;
	int fd;

	if (!bc || body_path(wire, uidvalidity, uid, section, rel) < 0)
		return -ENOENT;
	got = read_queued(bc, rel, size, off, len, buf);
	if (got >= 0)
		return got;
	fd = open_body(bc, rel, size, &st);
	if (fd < 0)
		return fd;
	if (off >= size) {
		close(fd);
		return 0;
	}
	if (len > size - off)
		len = (size_t)(size - off);
	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* Shorter than it said a moment ago: not to be trusted. */
			int e = n < 0 ? errno : EIO;

			close(fd);
			warn_once(bc, "reading a body failed", e);
			return -ENOENT;
		}
		done += (size_t)n;
	}
	if (off == 0 && time(NULL) - st.st_mtim.tv_sec > TOUCH_SECONDS)
		mark_used(fd); /* last in line to be evicted */
	close(fd);
	return (ssize_t)done;
}

int body_cache_load_part(struct body_cache *bc, const char *wire, uint32_t uidvalidity,
			 uint32_t uid, const char *section, size_t max, char **out, size_t *len)
{
	char rel[HEX_NAME + 4];
	struct stat st;
	char *buf;
	ssize_t got;
	int fd;

	*out = NULL;
	*len = 0;
	if (!bc || body_path(wire, uidvalidity, uid, section, rel) < 0)
		return -ENOENT;
	*out = copy_queued(bc, rel, max, len);
	if (*out)
		return 0;
	fd = openat(bc->dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -ENOENT;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		close(fd);
		return -ENOENT;
	}
	buf = malloc((size_t)st.st_size + 1);
	got = buf ? body_cache_read_part(bc, wire, uidvalidity, uid, section,
					 (uint64_t)st.st_size, 0, (size_t)st.st_size, buf)
		  : -ENOMEM;
	close(fd);
	if (got != st.st_size) {
		free(buf);
		return -ENOENT;
	}
	*out = buf;
	*len = (size_t)got;
	return 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void body_cache_put(struct body_cache *bc, const char *wire, uint32_t uidvalidity, uint32_t uid,
		    const char *body, size_t len)
{
	struct body_cache_item it = { .uid = uid, .body = body, .len = len };

	body_cache_put_many(bc, wire, uidvalidity, &it, 1);
}

#define PUT_MAX 64

/* Writes the n (at most PUT_MAX) bodies p[i] under their names. */
static void put_pending(struct body_cache *bc, struct pending *const *p, size_t nkept)
{
	char tmp[PUT_MAX][HEX_NAME + 32];
	uint64_t total = 0;
	int r = 0;

	for (size_t k = 0; k < nkept; k++)
		total += p[k]->len;
	/* One writer at a time, room made first: the bound holds at every moment. */
	pthread_mutex_lock(&bc->put_lock);
	if (!bc->scanned) {
		/* What earlier mounts left. */
		uint64_t on_disk = 0;

		for_each_body(bc, add_size, &on_disk);
		bc->scanned = true;
		pthread_mutex_lock(&bc->lock);
		bc->used = on_disk;
		pthread_mutex_unlock(&bc->lock);
	}
	if (body_cache_used(bc) + total > bc->max)
		evict(bc, bc->max / 10 * 9 > total ? bc->max / 10 * 9 - total : 0);
	for (size_t k = 0; k < nkept; k++) {
		int fd;

		snprintf(tmp[k], sizeof(tmp[k]), "%.2s/" TMP_PREFIX "%ld.%u", p[k]->rel,
			 (long)getpid(), bc->serial++);
		fd = openat(bc->dirfd, tmp[k], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			r = -errno;
		} else {
			r = write_all(fd, p[k]->body, p[k]->len);
			if (r == 0)
				mark_used(fd);
			if (close(fd) < 0 && r == 0)
				r = -errno;
		}
		if (r < 0) {
			for (size_t j = 0; j <= k; j++)
				unlinkat(bc->dirfd, tmp[j], 0);
			goto out;
		}
	}
	for (size_t k = 0; k < nkept; k++) {
		struct stat old;
		uint64_t replaced = 0;

		if (fstatat(bc->dirfd, p[k]->rel, &old, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(old.st_mode))
			replaced = (uint64_t)old.st_size;
		if (renameat(bc->dirfd, tmp[k], bc->dirfd, p[k]->rel) < 0) {
			r = -errno;
			unlinkat(bc->dirfd, tmp[k], 0);
			continue;
		}
		pthread_mutex_lock(&bc->lock);
		bc->used += p[k]->len;
		bc->used -= bc->used < replaced ? bc->used : replaced;
		pthread_mutex_unlock(&bc->lock);
	}
out:
	pthread_mutex_unlock(&bc->put_lock);
	if (r < 0)
		warn_once(bc, "writing a body failed", -r);
}

/*
 * items as struct pending, those the cache takes (one body may not push out
 * a quarter of it); the bodies are borrowed (copy false) or copied. Returns
 * how many are in out.
 */
static size_t make_pending(struct body_cache *bc, const char *wire, uint32_t uidvalidity,
			   const struct body_cache_item *items, size_t n, bool copy,
			   struct pending **out)
{
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		struct pending *p = calloc(1, sizeof(*p));

		if (!p)
			break;
		p->len = items[i].len;
		p->body = (char *)items[i].body;
		if (items[i].len > bc->max / 4 ||
		    body_path(wire, uidvalidity, items[i].uid, items[i].section, p->rel) < 0 ||
		    (copy && !(p->body = malloc(p->len ? p->len : 1)))) {
			free(p);
			continue;
		}
		if (copy)
			memcpy(p->body, items[i].body, p->len);
		out[m++] = p;
	}
	return m;
}

void body_cache_put_many(struct body_cache *bc, const char *wire, uint32_t uidvalidity,
			 const struct body_cache_item *items, size_t n)
{
	struct pending *p[PUT_MAX];
	size_t m;

	if (!bc)
		return;
	m = make_pending(bc, wire, uidvalidity, items, n < PUT_MAX ? n : PUT_MAX, false, p);
	if (m)
		put_pending(bc, p, m);
	for (size_t i = 0; i < m; i++)
		free(p[i]);
}

void body_cache_start_writer(struct body_cache *bc)
{
	if (bc && !bc->q_running)
		bc->q_running = pthread_create(&bc->q_thread, NULL, writer_main, bc) == 0;
}

void body_cache_put_later(struct body_cache *bc, const char *wire, uint32_t uidvalidity,
			  const struct body_cache_item *items, size_t n)
{
	struct pending *p[PUT_MAX];
	size_t m;

	if (!bc || !bc->q_running) {
		body_cache_put_many(bc, wire, uidvalidity, items, n);
		return;
	}
	m = make_pending(bc, wire, uidvalidity, items, n < PUT_MAX ? n : PUT_MAX, true, p);
	pthread_mutex_lock(&bc->q_lock);
	for (size_t i = 0; i < m; i++) {
		if (bc->q_bytes + p[i]->len > QUEUE_MAX) {
			/* The disk is behind: this one is simply not kept. */
			free(p[i]->body);
			free(p[i]);
			continue;
		}
		bc->q_bytes += p[i]->len;
		if (bc->q_tail)
			bc->q_tail->next = p[i];
		else
			bc->q_head = p[i];
		bc->q_tail = p[i];
	}
	pthread_cond_signal(&bc->q_cond);
	pthread_mutex_unlock(&bc->q_lock);
}

/*
 * The writer: takes what is queued, PUT_MAX at a time, and writes it. An
 * item stays in the queue (readable there) until it is on disk.
 */
static void *writer_main(void *arg)
{
	struct body_cache *bc = arg;

	pthread_mutex_lock(&bc->q_lock);
	for (;;) {
		struct pending *p[PUT_MAX];
		size_t m = 0;

		while (!bc->q_head && !bc->q_stop)
			pthread_cond_wait(&bc->q_cond, &bc->q_lock);
		if (!bc->q_head)
			break;
		for (struct pending *it = bc->q_head; it && m < PUT_MAX; it = it->next) {
			it->writing = true;
			p[m++] = it;
		}
		pthread_mutex_unlock(&bc->q_lock);
		put_pending(bc, p, m);
		pthread_mutex_lock(&bc->q_lock);
		/* Written: out of the queue, which they head still. */
		for (size_t i = 0; i < m; i++) {
			bc->q_head = p[i]->next;
			if (bc->q_tail == p[i])
				bc->q_tail = NULL;
			bc->q_bytes -= p[i]->len;
		}
		pthread_mutex_unlock(&bc->q_lock);
		for (size_t i = 0; i < m; i++) {
			if (p[i]->forgotten)
				forget_rel(bc, p[i]->rel);
			free(p[i]->body);
			free(p[i]);
		}
		pthread_mutex_lock(&bc->q_lock);
	}
	pthread_mutex_unlock(&bc->q_lock);
	return NULL;
}

uint64_t body_cache_used(struct body_cache *bc)
{
	uint64_t used;

	if (!bc)
		return 0;
	pthread_mutex_lock(&bc->lock);
	used = bc->used;
	pthread_mutex_unlock(&bc->lock);
	return used;
}

int body_cache_account_fd(const struct body_cache *bc)
{
	return bc->dirfd;
}
