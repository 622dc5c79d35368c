/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * passthrough_fs: a minimal read-only passthrough FUSE filesystem, the bound
 * bench/requests.py sets beside imapfs. It shows a local directory (a copy of
 * a mailbox out of an imapfs mount: <uid>.eml files and <uid>.parts
 * directories) through FUSE with the cache settings imapfs uses, so that what
 * differs in a grep over the two is imapfs's own work, not the kernel's.
 *
 *     cc -O2 -Wall -Wextra -Werror passthrough_fs.c $(pkg-config --cflags --libs fuse3)
 *     ./passthrough_fs [-f] [-d] [-o dir_timeout=S,file_timeout=S]
 *                      [-o no_open] [-o no_opendir] SOURCE MOUNTPOINT
 *
 * The low-level API (fuse_session_new, fuse_lowlevel_ops), as imapfs: it is
 * what lets a reply carry its own timeouts and cache flags per entry and per
 * open (imapfs gives directories and message files different entry and
 * attribute timeouts, and caches the listing of a .parts directory but not of
 * a mailbox), and it runs the same multi-threaded loop; the high-level API
 * has one timeout for everything and its own path layer in between.
 *
 * Mirrored from imapfs (src/fs/fs.c, src/fs/node.c, src/fs/dir.c,
 * src/fs/file.c, src/main.c):
 *   init: READDIRPLUS always (not the kernel's AUTO guess), ASYNC_READ,
 *         max_readahead at most 4 MiB (READ_WINDOW_MAX);
 *   timeouts: directory 0.5 s entry and attributes (dir_timeout); a file's
 *         attributes 3600 s (file_timeout) but its entry 0.5 s, as a message;
 *         a *.parts directory's attributes 3600 s, entry 0.5 s; a file inside
 *         a *.parts directory 3600 s both, as a part;
 *   opendir: cache_readdir and keep_cache for *.parts directories only;
 *   open: keep_cache and noflush (no FLUSH at close());
 *   mount options fsname, subtype and default_permissions; the multi-threaded
 *         loop with at most 10 threads.
 * Anything written is refused (EROFS at open; with no_open, below, ENOSYS
 * later); nothing is ever changed in SOURCE.
 *
 * Not in imapfs: -o no_open and -o no_opendir, the bound that
 * FUSE_CAP_NO_OPEN_SUPPORT and FUSE_CAP_NO_OPENDIR_SUPPORT would give (the
 * speed issue; imapfs itself cannot take them: they hold for the whole
 * connection, and its writes and uploads need OPEN). The open (opendir)
 * handler replies ENOSYS; the kernel then takes that as success, sets
 * no_open (no_opendir) on the connection and sends no OPEN and RELEASE
 * (OPENDIR and RELEASEDIR) any more. The open flags of every file it opens
 * itself are FOPEN_KEEP_CACHE, of every directory FOPEN_KEEP_CACHE |
 * FOPEN_CACHE_DIR (fs/fuse/file.c, fuse_file_open: "Default for no-open"):
 * the page cache of a file is kept as with keep_cache here, but no longer
 * noflush (one FLUSH, answered ENOSYS, and the kernel sends no more), and the
 * listing of every directory is cached, a mailbox's too, which imapfs does
 * not do (a listing served from that cache makes no entries: once a name's
 * 0.5 s entry has expired, a LOOKUP each, where READDIRPLUS would have
 * renewed them all). With no handle, the state is per inode, in the node:
 *   read: one O_RDONLY descriptor a node, opened at its first READ and
 *         closed at its FORGET;
 *   readdir: one DIR stream a node, made at its first READDIR(PLUS) and
 *         closed at its FORGET, under a lock of the node; a request at
 *         another offset than where the stream stands seeks it (seekdir()
 *         to the d_off of an entry, as with a handle).
 * Nothing can be refused at open then: a write comes as WRITE or SETATTR,
 * which have no handler (ENOSYS).
 */
/*
 * 312, as imapfs: below it fuse_session_loop_mt() is the 3.2 entry point,
 * which reads a fuse_loop_config made by fuse_loop_cfg_create() as the old
 * two-field struct: clone_fd on, max_idle_threads 0, a thread made and
 * destroyed for every request.
 */
#define FUSE_USE_VERSION 312
#define _GNU_SOURCE

#include <fuse_lowlevel.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#define READ_WINDOW_MAX (4u << 20)
#define NBUCKETS 65536u

struct node {
	struct node *next; /* hash chain */
	int fd;            /* O_PATH */
	dev_t dev;
	ino_t ino;
	uint64_t nlookup;  /* guarded by pt.lock */
	double attr_timeout;
	double entry_timeout;
	bool parts_dir;    /* a directory named *.parts: its listing is cached */
	int rfd;           /* no_open: O_RDONLY, from the first READ, or -1 */
	pthread_mutex_t dir_lock; /* no_opendir: guards dir */
	struct dir *dir;   /* no_opendir: from the first READDIR, or NULL */
};

struct pt {
	pthread_mutex_t lock;
	struct node root;
	struct node *table[NBUCKETS];
	double dir_timeout;
	double file_timeout;
	char *source;
	int no_open;       /* -o no_open: open replies ENOSYS */
	int no_opendir;    /* -o no_opendir: opendir replies ENOSYS */
	bool unsupported;  /* asked for what the kernel cannot do: exit 1 */
	struct fuse_session *se;
};

static struct pt pt = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.root = { .fd = -1, .rfd = -1, .dir_lock = PTHREAD_MUTEX_INITIALIZER },
	.dir_timeout = 0.5,
	.file_timeout = 3600.0,
};

static struct node *node_of(fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? &pt.root : (struct node *)(uintptr_t)ino;
}

static size_t bucket(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev;

	return (size_t)(h >> 48) % NBUCKETS;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The timeouts imapfs gives an entry of this kind (src/fs/node.c). */
static void timeouts(const struct node *parent, const char *name, mode_t mode,
		     double *attr, double *entry)
{
	if (parent->parts_dir) {
		*attr = *entry = pt.file_timeout;      /* a part */
	} else if (S_ISDIR(mode)) {
		*attr = ends_with(name, ".parts") ? pt.file_timeout : pt.dir_timeout;
		*entry = pt.dir_timeout;
	} else {
		*attr = pt.file_timeout;               /* a message */
		*entry = pt.dir_timeout;
	}
}

/*
 * Finds or makes the node of name in parent and takes a lookup reference:
 * 0 and e filled, or an errno.
 */
static int do_lookup(struct node *parent, const char *name, struct fuse_entry_param *e)
{
	struct node *n, *fresh = NULL;
	struct stat st;
	size_t b;
	int fd;

	memset(e, 0, sizeof(*e));
	if (fstatat(parent->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno;
	b = bucket(st.st_dev, st.st_ino);
	pthread_mutex_lock(&pt.lock);
	for (n = pt.table[b]; n; n = n->next)
		if (n->ino == st.st_ino && n->dev == st.st_dev)
			break;
	if (n)
		n->nlookup++;
	pthread_mutex_unlock(&pt.lock);
	if (!n) {
		fd = openat(parent->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return errno;
		fresh = calloc(1, sizeof(*fresh));
		if (!fresh) {
			close(fd);
			return ENOMEM;
		}
		fresh->fd = fd;
		fresh->rfd = -1;
		pthread_mutex_init(&fresh->dir_lock, NULL);
		fresh->dev = st.st_dev;
		fresh->ino = st.st_ino;
		fresh->nlookup = 1;
		fresh->parts_dir = S_ISDIR(st.st_mode) && ends_with(name, ".parts");
		timeouts(parent, name, st.st_mode, &fresh->attr_timeout, &fresh->entry_timeout);
		pthread_mutex_lock(&pt.lock);
		/* Another thread may have made it meanwhile. */
		for (n = pt.table[b]; n; n = n->next)
			if (n->ino == st.st_ino && n->dev == st.st_dev)
				break;
		if (n) {
			n->nlookup++;
		} else {
			n = fresh;
			n->next = pt.table[b];
			pt.table[b] = n;
			fresh = NULL;
		}
		pthread_mutex_unlock(&pt.lock);
		if (fresh) {
			close(fresh->fd);
			pthread_mutex_destroy(&fresh->dir_lock);
			free(fresh);
		}
	}
	e->ino = (uintptr_t)n;
	e->attr = st;
	e->attr_timeout = n->attr_timeout;
	e->entry_timeout = n->entry_timeout;
	return 0;
}

static void node_free(struct node *n);

static void forget_one(fuse_ino_t ino, uint64_t count)
{
	struct node *n = node_of(ino), **pp;

	if (n == &pt.root)
		return;
	pthread_mutex_lock(&pt.lock);
	if (n->nlookup > count) {
		n->nlookup -= count;
		pthread_mutex_unlock(&pt.lock);
		return;
	}
	for (pp = &pt.table[bucket(n->dev, n->ino)]; *pp; pp = &(*pp)->next)
		if (*pp == n) {
			*pp = n->next;
			break;
		}
	pthread_mutex_unlock(&pt.lock);
	node_free(n);
}

static void pt_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/*
	 * The kernel offers them since FUSE 7.23 and 7.29 (Linux 3.15, 5.1);
	 * unoffered, an ENOSYS from open would fail the open(2). Wanting them
	 * changes nothing on the wire (the ENOSYS reply does it: fuse_common.h,
	 * "has no effect"), but says what is used.
	 */
	if ((pt.no_open && !(conn->capable & FUSE_CAP_NO_OPEN_SUPPORT)) ||
	    (pt.no_opendir && !(conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT))) {
		fprintf(stderr, "passthrough_fs: the kernel does not offer %s\n",
			pt.no_open && !(conn->capable & FUSE_CAP_NO_OPEN_SUPPORT)
			? "FUSE_CAP_NO_OPEN_SUPPORT" : "FUSE_CAP_NO_OPENDIR_SUPPORT");
		pt.unsupported = true;
		fuse_session_exit(pt.se);
		return;
	}
	if (pt.no_open)
		conn->want |= FUSE_CAP_NO_OPEN_SUPPORT;
	if (pt.no_opendir)
		conn->want |= FUSE_CAP_NO_OPENDIR_SUPPORT;
	conn->want |= conn->capable & FUSE_CAP_READDIRPLUS;
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	conn->want |= conn->capable & FUSE_CAP_ASYNC_READ;
	if (conn->max_readahead > READ_WINDOW_MAX)
		conn->max_readahead = READ_WINDOW_MAX;
}

static void pt_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int r = do_lookup(node_of(parent), name, &e);

	if (r)
		fuse_reply_err(req, r);
	else
		fuse_reply_entry(req, &e);
}

static void pt_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	forget_one(ino, nlookup);
	fuse_reply_none(req);
}

static void pt_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		forget_one(forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void pt_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node *n = node_of(ino);
	struct stat st;

	(void)fi;
	if (fstatat(n->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_attr(req, &st, n->attr_timeout);
}

/* A directory stream: an opendir's handle, or with no_opendir a node's. */
struct dir {
	DIR *dp;
	struct dirent *entry; /* read but not yet replied */
	off_t offset;
};

/* A stream on n's directory from its start, or NULL and errno. */
static struct dir *dir_open(struct node *n)
{
	struct dir *d = calloc(1, sizeof(*d));
	int fd;

	if (!d)
		return NULL;
	fd = openat(n->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d->dp = fdopendir(fd))) {
		int err = errno;

		if (fd >= 0)
			close(fd);
		free(d);
		errno = err;
		return NULL;
	}
	return d;
}

static void dir_close(struct dir *d)
{
	closedir(d->dp);
	free(d);
}

/* At its FORGET (no READ or READDIR of it can come after): its descriptors. */
static void node_free(struct node *n)
{
	if (n->rfd >= 0)
		close(n->rfd);
	if (n->dir)
		dir_close(n->dir);
	pthread_mutex_destroy(&n->dir_lock);
	close(n->fd);
	free(n);
}

static void pt_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct node *n = node_of(ino);
	struct dir *d;

	if (pt.no_opendir) {
		/* Success to the kernel, which opens every directory itself from now on. */
		fuse_reply_err(req, ENOSYS);
		return;
	}
	d = dir_open(n);
	if (!d) {
		fuse_reply_err(req, errno);
		return;
	}
	fi->fh = (uintptr_t)d;
	fi->cache_readdir = n->parts_dir;
	fi->keep_cache = n->parts_dir;
	fuse_reply_open(req, fi);
}

static bool dot_or_dotdot(const char *name)
{
	return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

/* Replies to a READDIR(PLUS) of parent at off from the stream d. */
static void readdir_from(fuse_req_t req, struct node *parent, struct dir *d, size_t size,
			 off_t off, bool plus)
{
	char *buf = calloc(1, size);
	size_t used = 0;
	int err = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (off != d->offset) {
		seekdir(d->dp, off);
		d->entry = NULL;
		d->offset = off;
	}
	for (;;) {
		struct fuse_entry_param e;
		size_t n;

		if (!d->entry) {
			errno = 0;
			d->entry = readdir(d->dp);
			if (!d->entry) {
				err = errno;
				break;
			}
		}
		const char *name = d->entry->d_name;
		off_t next = d->entry->d_off;

		if (plus) {
			if (dot_or_dotdot(name)) {
				/* No lookup reference for these: a bare entry. */
				memset(&e, 0, sizeof(e));
				e.attr.st_ino = d->entry->d_ino;
				e.attr.st_mode = (mode_t)d->entry->d_type << 12;
			} else {
				err = do_lookup(parent, name, &e);
				if (err)
					break;
			}
			n = fuse_add_direntry_plus(req, buf + used, size - used, name, &e, next);
			if (n > size - used) {
				if (!dot_or_dotdot(name))
					forget_one(e.ino, 1); /* not sent: the kernel takes no reference */
				break;
			}
		} else {
			struct stat st = { .st_ino = d->entry->d_ino,
					   .st_mode = (mode_t)d->entry->d_type << 12 };

			n = fuse_add_direntry(req, buf + used, size - used, name, &st, next);
			if (n > size - used)
				break;
		}
		used += n;
		d->entry = NULL;
		d->offset = next;
	}
	/* An error after some entries: reply with those, the next call sees it again. */
	if (err && used == 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

/*
 * With a handle, its own stream; with no_opendir, the node's (made at the
 * first request), one request at a time since readers at other offsets
 * share it: each seeks it where it asks.
 */
static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct node *n = node_of(ino);

	if (!pt.no_opendir) {
		readdir_from(req, n, (struct dir *)(uintptr_t)fi->fh, size, off, plus);
		return;
	}
	pthread_mutex_lock(&n->dir_lock);
	if (!n->dir)
		n->dir = dir_open(n);
	if (n->dir)
		readdir_from(req, n, n->dir, size, off, plus);
	else
		fuse_reply_err(req, errno);
	pthread_mutex_unlock(&n->dir_lock);
}

static void pt_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

static void pt_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

static void pt_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir *d = (struct dir *)(uintptr_t)fi->fh;

	(void)ino;
	dir_close(d);
	fuse_reply_err(req, 0);
}

static void pt_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	char path[64];
	int fd;

	if (pt.no_open) {
		/* Success to the kernel, which opens every file itself from now on. */
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", node_of(ino)->fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	fi->fh = (uint64_t)fd;
	fi->keep_cache = 1;
	fi->noflush = 1;
	fuse_reply_open(req, fi);
}

/*
 * no_open: the node's O_RDONLY descriptor, opened at its first READ (the
 * first of racing threads to store it wins), or -1 and errno.
 */
static int node_rfd(struct node *n)
{
	char path[64];
	int fd = __atomic_load_n(&n->rfd, __ATOMIC_ACQUIRE), none = -1;

	if (fd >= 0)
		return fd;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", n->fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (!__atomic_compare_exchange_n(&n->rfd, &none, fd, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		close(fd);
		fd = none;
	}
	return fd;
}

static void pt_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	int fd = pt.no_open ? node_rfd(node_of(ino)) : (int)fi->fh;

	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void pt_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	close((int)fi->fh);
	fuse_reply_err(req, 0);
}

static void pt_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	if (fstatvfs(node_of(ino)->fd, &sv) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

/* getxattr and listxattr: size 0 asks for the length (the xattr(7) protocol). */
static void reply_xattr(fuse_req_t req, size_t size, ssize_t (*get)(const char *, const char *,
								      void *, size_t),
			fuse_ino_t ino, const char *name)
{
	char path[64], *value = NULL;
	ssize_t r;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", node_of(ino)->fd);
	if (size) {
		value = malloc(size);
		if (!value) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	r = get(path, name, value, size);
	if (r < 0)
		fuse_reply_err(req, errno);
	else if (size)
		fuse_reply_buf(req, value, (size_t)r);
	else
		fuse_reply_xattr(req, (size_t)r);
	free(value);
}

static ssize_t get_one(const char *path, const char *name, void *value, size_t size)
{
	return getxattr(path, name, value, size);
}

static ssize_t get_list(const char *path, const char *name, void *value, size_t size)
{
	(void)name;
	return listxattr(path, value, size);
}

static void pt_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	reply_xattr(req, size, get_one, ino, name);
}

static void pt_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	reply_xattr(req, size, get_list, ino, NULL);
}

static const struct fuse_lowlevel_ops ops = {
	.init = pt_init,
	.lookup = pt_lookup,
	.forget = pt_forget,
	.forget_multi = pt_forget_multi,
	.getattr = pt_getattr,
	.opendir = pt_opendir,
	.readdir = pt_readdir,
	.readdirplus = pt_readdirplus,
	.releasedir = pt_releasedir,
	.open = pt_open,
	.read = pt_read,
	.release = pt_release,
	.statfs = pt_statfs,
	.getxattr = pt_getxattr,
	.listxattr = pt_listxattr,
};

struct opts {
	char *dir_timeout;
	char *file_timeout;
	int no_open;
	int no_opendir;
};

static const struct fuse_opt opt_spec[] = {
	{ "dir_timeout=%s", offsetof(struct opts, dir_timeout), 0 },
	{ "file_timeout=%s", offsetof(struct opts, file_timeout), 0 },
	{ "no_open", offsetof(struct opts, no_open), 1 },
	{ "no_opendir", offsetof(struct opts, no_opendir), 1 },
	FUSE_OPT_END
};

/* The first non-option is SOURCE; the second, the mount point, is libfuse's. */
static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)data;
	(void)outargs;
	if (key == FUSE_OPT_KEY_NONOPT && !pt.source) {
		pt.source = realpath(arg, NULL);
		if (!pt.source) {
			fprintf(stderr, "passthrough_fs: %s: %s\n", arg, strerror(errno));
			return -1;
		}
		return 0;
	}
	return 1;
}

static int parse_timeout(const char *text, double *out)
{
	char *end;
	double v;

	if (!text)
		return 0;
	errno = 0;
	v = strtod(text, &end);
	if (errno || end == text || *end || v < 0) {
		fprintf(stderr, "passthrough_fs: bad timeout %s\n", text);
		return -1;
	}
	*out = v;
	return 0;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd = { 0 };
	struct fuse_loop_config *loop = NULL;
	struct fuse_session *se = NULL;
	struct opts o = { 0 };
	struct rlimit rl;
	char fsname[PATH_MAX + 64];
	int ret = 1;

	if (fuse_opt_parse(&args, &o, opt_spec, opt_proc) != 0)
		return 1;
	if (parse_timeout(o.dir_timeout, &pt.dir_timeout) < 0 ||
	    parse_timeout(o.file_timeout, &pt.file_timeout) < 0)
		goto out_args;
	pt.no_open = o.no_open;
	pt.no_opendir = o.no_opendir;
	if (!pt.source) {
		fprintf(stderr, "usage: %s [-f] [-d] [-o dir_timeout=S,file_timeout=S] "
			"[-o no_open] [-o no_opendir] SOURCE MOUNTPOINT\n", argv[0]);
		goto out_args;
	}
	snprintf(fsname, sizeof(fsname),
		 "-ofsname=passthrough_fs#%s,subtype=passthrough_fs,default_permissions", pt.source);
	if (fuse_opt_add_arg(&args, fsname) != 0 || fuse_parse_cmdline(&args, &cmd) != 0)
		goto out_args;
	if (cmd.show_help || cmd.show_version || !cmd.mountpoint) {
		fprintf(stderr, "usage: %s [-f] [-d] [-o dir_timeout=S,file_timeout=S] "
			"[-o no_open] [-o no_opendir] SOURCE MOUNTPOINT\n", argv[0]);
		goto out;
	}
	/* One O_PATH descriptor a node the kernel knows: as many as it allows. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	pt.root.fd = open(pt.source, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (pt.root.fd < 0) {
		fprintf(stderr, "passthrough_fs: %s: %s\n", pt.source, strerror(errno));
		goto out;
	}
	pt.root.nlookup = 1;
	pt.root.attr_timeout = pt.root.entry_timeout = pt.dir_timeout;
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se)
		goto out;
	pt.se = se;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, cmd.mountpoint) != 0)
		goto out_signals;
	if (fuse_daemonize(cmd.foreground) != 0)
		goto out_unmount;
	if (cmd.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		loop = fuse_loop_cfg_create();
		if (!loop)
			goto out_unmount;
		fuse_loop_cfg_set_clone_fd(loop, cmd.clone_fd);
		fuse_loop_cfg_set_max_threads(loop, cmd.max_threads > 0 && cmd.max_threads <= 1000
							  ? cmd.max_threads : 10);
		if (cmd.max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(loop, cmd.max_idle_threads);
		ret = fuse_session_loop_mt(se, loop);
		fuse_loop_cfg_destroy(loop);
	}
	/* Stopped by fusermount3 -u (0) or a signal (SIGTERM, ^C): a clean end. */
	ret = ret == 0 || ret == -SIGTERM || ret == SIGTERM || ret == -SIGINT ||
	      ret == SIGINT || ret == -SIGHUP || ret == SIGHUP ? 0 : 1;
	if (pt.unsupported)
		ret = 1;
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out:
	if (pt.root.rfd >= 0)
		close(pt.root.rfd);
	if (pt.root.dir)
		dir_close(pt.root.dir);
	if (pt.root.fd >= 0)
		close(pt.root.fd);
	free(cmd.mountpoint);
out_args:
	free(pt.source);
	free(o.dir_timeout);
	free(o.file_timeout);
	fuse_opt_free_args(&args);
	return ret;
}
