/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The local side (see local.h): a node table over a private directory. A
 * node is a name in a mailbox (parent 0: the subdirectory m<anchor>) or in
 * a local directory (parent: that node's serial); its path on disk is made
 * from the chain of parents, so a directory renamed carries its contents.
 */
#define FUSE_USE_VERSION 312
#include "fs/local.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/inode.h"

#define HASH_SIZE 4096u
#define MAX_DEPTH 64

struct node {
	struct node *hnext;
	uint32_t serial;
	uint32_t anchor; /* the mailbox (top-level nodes only) */
	uint32_t parent; /* 0: the mailbox itself */
	char *name;      /* NULL once removed */
};

struct local {
	pthread_mutex_t lock; /* everything below */
	int root;             /* the private directory */
	char *path;
	struct node **nodes;  /* by serial; [0] unused */
	size_t n, cap;
	struct node *hash[HASH_SIZE];
};

bool local_name(const char *name)
{
	return name[0] == '.' && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

bool local_place(uint64_t parent, const char *name)
{
	switch (ino_kind(parent)) {
	case INO_ROOT:
	case INO_MAILBOX:
		return local_name(name);
	case INO_LOCAL:
		return true;
	default:
		return false;
	}
}

int local_new(struct local **out)
{
	const char *tmp = getenv("TMPDIR");
	struct local *l = calloc(1, sizeof(*l));
	char *path = NULL;

	if (!l)
		return -ENOMEM;
	if (asprintf(&path, "%s/imapfs-local-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0) {
		free(l);
		return -ENOMEM;
	}
	if (!mkdtemp(path)) {
		int e = -errno;

		free(path);
		free(l);
		return e;
	}
	l->root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->root < 0) {
		int e = -errno;

		rmdir(path);
		free(path);
		free(l);
		return e;
	}
	l->path = path;
	l->n = 1;
	pthread_mutex_init(&l->lock, NULL);
	*out = l;
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void local_free(struct local *l)
{
	if (!l)
		return;
	close(l->root);
	nftw(l->path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	for (size_t i = 1; i < l->n; i++) {
		if (l->nodes[i])
			free(l->nodes[i]->name);
		free(l->nodes[i]);
	}
	free(l->nodes);
	free(l->path);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/* ---- the table (caller holds l->lock) ---- */

static unsigned hash_of(uint32_t anchor, uint32_t parent, const char *name)
{
	unsigned h = 2166136261u ^ (parent ? parent : anchor | 0x80000000u);

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % HASH_SIZE;
}

static struct node *node_at(struct local *l, uint32_t serial)
{
	return serial && serial < l->n && l->nodes[serial] && l->nodes[serial]->name
		       ? l->nodes[serial] : NULL;
}

static struct node *find(struct local *l, uint32_t anchor, uint32_t parent, const char *name)
{
	for (struct node *n = l->hash[hash_of(anchor, parent, name)]; n; n = n->hnext)
		if (n->parent == parent && (parent || n->anchor == anchor) &&
		    strcmp(n->name, name) == 0)
			return n;
	return NULL;
}

static void unhash(struct local *l, struct node *n)
{
	for (struct node **pp = &l->hash[hash_of(n->anchor, n->parent, n->name)]; *pp;
	     pp = &(*pp)->hnext) {
		if (*pp == n) {
			*pp = n->hnext;
			return;
		}
	}
}

static void rehash(struct local *l, struct node *n)
{
	unsigned h = hash_of(n->anchor, n->parent, n->name);

	n->hnext = l->hash[h];
	l->hash[h] = n;
}

static struct node *add(struct local *l, uint32_t anchor, uint32_t parent, const char *name)
{
	struct node *n;

	if (l->n >= UINT32_MAX)
		return NULL;
	if (l->n >= l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 64;
		struct node **grown = reallocarray(l->nodes, ncap, sizeof(*grown));

		if (!grown)
			return NULL;
		l->nodes = grown;
		l->cap = ncap;
	}
	n = calloc(1, sizeof(*n));
	if (!n || !(n->name = strdup(name))) {
		free(n);
		return NULL;
	}
	n->serial = (uint32_t)l->n;
	n->anchor = anchor;
	n->parent = parent;
	l->nodes[l->n++] = n;
	rehash(l, n);
	return n;
}

static void drop(struct local *l, struct node *n)
{
	unhash(l, n);
	free(n->name);
	n->name = NULL;
}

/* The mailbox a node sits in: its top-level ancestor's. */
static uint32_t anchor_of(struct local *l, const struct node *n)
{
	for (int depth = 0; n && n->parent && depth < MAX_DEPTH; depth++)
		n = node_at(l, n->parent);
	return n ? n->anchor : 0;
}

/* Where the children of directory ino go: (anchor, parent serial). */
static int place_of(struct local *l, uint64_t dir, uint32_t *anchor, uint32_t *parent)
{
	struct node *n;

	switch (ino_kind(dir)) {
	case INO_ROOT:
	case INO_MAILBOX:
		*anchor = ino_mailbox(dir);
		*parent = 0;
		return 0;
	case INO_LOCAL:
		n = node_at(l, ino_uid(dir));
		if (!n)
			return -ENOENT;
		*anchor = anchor_of(l, n);
		*parent = n->serial;
		return 0;
	default:
		return -ENOTDIR;
	}
}

/* "m<anchor>/a/b/name" of a child name of (anchor, parent); name NULL: the directory itself. */
static int path_of(struct local *l, uint32_t anchor, uint32_t parent, const char *name,
		   char *buf, size_t size)
{
	const char *chain[MAX_DEPTH];
	int depth = 0, len;
	size_t pos;

	for (uint32_t p = parent; p; ) {
		struct node *n = node_at(l, p);

		if (!n)
			return -ENOENT;
		if (depth == MAX_DEPTH)
			return -ELOOP;
		chain[depth++] = n->name;
		p = n->parent;
	}
	len = snprintf(buf, size, "m%u", anchor);
	if (len < 0 || (size_t)len >= size)
		return -ENAMETOOLONG;
	pos = (size_t)len;
	while (depth > 0 || name) {
		const char *part = depth > 0 ? chain[--depth] : name;

		if (part == name)
			name = NULL;
		len = snprintf(buf + pos, size - pos, "/%s", part);
		if (len < 0 || (size_t)len >= size - pos)
			return -ENAMETOOLONG;
		pos += (size_t)len;
	}
	return 0;
}

/* The serial alone: a directory moved to another mailbox keeps its children's inodes. */
static uint64_t ino_of(const struct node *n)
{
	return ino_make(INO_LOCAL, 0, n->serial, 0);
}

/* The anchor's own directory, made on first use. */
static int ensure_anchor(struct local *l, uint32_t anchor, uint32_t parent)
{
	char dir[32];

	if (parent)
		return 0;
	snprintf(dir, sizeof(dir), "m%u", anchor);
	if (mkdirat(l->root, dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * Where parent/name is: its place (anchor, parent serial) and its path; the
 * anchor's directory made first when make is set (the name is to be made).
 */
static int child_path(struct local *l, uint64_t parent, const char *name, bool make,
		      uint32_t *anchor, uint32_t *p, char path[PATH_MAX])
{
	int r = place_of(l, parent, anchor, p);

	if (r == 0 && make)
		r = ensure_anchor(l, *anchor, *p);
	if (r == 0)
		r = path_of(l, *anchor, *p, name, path, PATH_MAX);
	return r;
}

/* Stats (anchor, parent)/name and finds or makes its node. */
static int known(struct local *l, uint32_t anchor, uint32_t parent, const char *name,
		 uint64_t *ino, struct stat *st)
{
	char path[PATH_MAX];
	struct node *n = find(l, anchor, parent, name);
	int r = path_of(l, anchor, parent, name, path, sizeof(path));

	if (r < 0)
		return r;
	if (fstatat(l->root, path, st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = -errno;
		if (n)
			drop(l, n);
		return r;
	}
	if (!n)
		n = add(l, anchor, parent, name);
	if (!n)
		return -ENOMEM;
	*ino = ino_of(n);
	st->st_ino = *ino;
	return 0;
}

/* ---- operations ---- */

int local_lookup(struct local *l, uint64_t parent, const char *name, uint64_t *ino,
		 struct stat *st)
{
	uint32_t anchor, p;
	int r;

	pthread_mutex_lock(&l->lock);
	r = place_of(l, parent, &anchor, &p);
	if (r == 0)
		r = known(l, anchor, p, name, ino, st);
	pthread_mutex_unlock(&l->lock);
	return r;
}

/* The path of node ino into path; caller holds the lock. */
static int node_path(struct local *l, uint64_t ino, char *path, size_t size)
{
	struct node *n = node_at(l, ino_uid(ino));

	if (ino_kind(ino) != INO_LOCAL || !n)
		return -ENOENT;
	return path_of(l, anchor_of(l, n), n->parent, n->name, path, size);
}

int local_stat(struct local *l, uint64_t ino, struct stat *st)
{
	char path[PATH_MAX];
	int r;

	pthread_mutex_lock(&l->lock);
	r = node_path(l, ino, path, sizeof(path));
	if (r == 0 && fstatat(l->root, path, st, AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	pthread_mutex_unlock(&l->lock);
	if (r == 0)
		st->st_ino = ino;
	return r;
}

int local_create(struct local *l, uint64_t parent, const char *name, int flags, mode_t mode,
		 uint64_t *ino, struct stat *st, int *fd)
{
	char path[PATH_MAX];
	uint32_t anchor, p;
	int r;

	pthread_mutex_lock(&l->lock);
	r = child_path(l, parent, name, true, &anchor, &p, path);
	if (r == 0) {
		*fd = openat(l->root, path, (flags & ~O_NOCTTY) | O_CREAT | O_CLOEXEC, mode & 07777);
		if (*fd < 0)
			r = -errno;
	}
	if (r == 0) {
		r = known(l, anchor, p, name, ino, st);
		if (r < 0)
			close(*fd);
	}
	pthread_mutex_unlock(&l->lock);
	return r;
}

int local_open(struct local *l, uint64_t ino, int flags, int *fd)
{
	char path[PATH_MAX];
	int r;

	pthread_mutex_lock(&l->lock);
	r = node_path(l, ino, path, sizeof(path));
	if (r == 0) {
		*fd = openat(l->root, path, (flags & ~(O_CREAT | O_EXCL | O_NOCTTY)) | O_CLOEXEC);
		if (*fd < 0)
			r = -errno;
	}
	pthread_mutex_unlock(&l->lock);
	return r;
}

int local_mkdir(struct local *l, uint64_t parent, const char *name, mode_t mode,
		uint64_t *ino, struct stat *st)
{
	char path[PATH_MAX];
	uint32_t anchor, p;
	int r;

	pthread_mutex_lock(&l->lock);
	r = child_path(l, parent, name, true, &anchor, &p, path);
	if (r == 0 && mkdirat(l->root, path, mode & 07777) < 0)
		r = -errno;
	if (r == 0)
		r = known(l, anchor, p, name, ino, st);
	pthread_mutex_unlock(&l->lock);
	return r;
}

int local_remove(struct local *l, uint64_t parent, const char *name, bool dir)
{
	char path[PATH_MAX];
	uint32_t anchor, p;
	struct node *n;
	int r;

	pthread_mutex_lock(&l->lock);
	r = child_path(l, parent, name, false, &anchor, &p, path);
	if (r == 0 && unlinkat(l->root, path, dir ? AT_REMOVEDIR : 0) < 0)
		r = -errno;
	n = r == 0 ? find(l, anchor, p, name) : NULL;
	if (n)
		drop(l, n);
	pthread_mutex_unlock(&l->lock);
	return r;
}

int local_rename(struct local *l, uint64_t parent, const char *name, uint64_t newparent,
		 const char *newname, unsigned flags)
{
	char from[PATH_MAX], to[PATH_MAX];
	uint32_t a1, p1, a2, p2;
	struct node *n, *over;
	int r;

	if (flags & RENAME_EXCHANGE)
		return -EINVAL;
	pthread_mutex_lock(&l->lock);
	r = child_path(l, parent, name, false, &a1, &p1, from);
	if (r == 0)
		r = child_path(l, newparent, newname, true, &a2, &p2, to);
	if (r == 0 && renameat2(l->root, from, l->root, to, flags) < 0)
		r = -errno;
	if (r == 0) {
		over = find(l, a2, p2, newname);
		if (over)
			drop(l, over);
		n = find(l, a1, p1, name);
		if (n) {
			char *copy = strdup(newname);

			unhash(l, n);
			if (copy) {
				free(n->name);
				n->name = copy;
				n->anchor = a2;
				n->parent = p2;
				rehash(l, n);
			} else {
				free(n->name); /* looked up again from disk */
				n->name = NULL;
			}
		}
	}
	pthread_mutex_unlock(&l->lock);
	return r;
}

int local_setattr(struct local *l, uint64_t ino, const struct stat *attr, int to_set,
		  struct stat *out)
{
	char path[PATH_MAX];
	int r;

	pthread_mutex_lock(&l->lock);
	r = node_path(l, ino, path, sizeof(path));
	if (r == 0 && (to_set & FUSE_SET_ATTR_MODE) &&
	    fchmodat(l->root, path, attr->st_mode & 07777, 0) < 0)
		r = -errno;
	if (r == 0 && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) &&
	    fchownat(l->root, path, (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1,
		     (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1,
		     AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	if (r == 0 && (to_set & FUSE_SET_ATTR_SIZE)) {
		int fd = openat(l->root, path, O_WRONLY | O_CLOEXEC);

		if (fd < 0 || ftruncate(fd, attr->st_size) < 0)
			r = -errno;
		if (fd >= 0)
			close(fd);
	}
	if (r == 0 && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };

		if (to_set & FUSE_SET_ATTR_ATIME)
			ts[0] = (to_set & FUSE_SET_ATTR_ATIME_NOW) ? (struct timespec){ .tv_nsec = UTIME_NOW }
								   : attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME)
			ts[1] = (to_set & FUSE_SET_ATTR_MTIME_NOW) ? (struct timespec){ .tv_nsec = UTIME_NOW }
								   : attr->st_mtim;
		if (utimensat(l->root, path, ts, AT_SYMLINK_NOFOLLOW) < 0)
			r = -errno;
	}
	if (r == 0 && fstatat(l->root, path, out, AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	pthread_mutex_unlock(&l->lock);
	if (r == 0)
		out->st_ino = ino;
	return r;
}

int local_list(struct local *l, uint64_t dir, local_entry_fn fn, void *ctx)
{
	char path[PATH_MAX];
	uint32_t anchor, p;
	struct dirent *de;
	DIR *d = NULL;
	int fd, r;

	pthread_mutex_lock(&l->lock);
	r = place_of(l, dir, &anchor, &p);
	if (r == 0)
		r = p ? node_path(l, dir, path, sizeof(path)) : path_of(l, anchor, 0, NULL, path,
									 sizeof(path));
	if (r == 0) {
		fd = openat(l->root, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			r = errno == ENOENT && !p ? 1 : -errno; /* a mailbox with nothing local */
		else if (!(d = fdopendir(fd))) {
			r = -errno;
			close(fd);
		}
	}
	while (r == 0 && (de = readdir(d))) {
		struct stat st;
		uint64_t ino;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (known(l, anchor, p, de->d_name, &ino, &st) == 0)
			r = fn(ctx, de->d_name, ino, &st);
	}
	if (d)
		closedir(d);
	pthread_mutex_unlock(&l->lock);
	return r == 1 ? 0 : r;
}
