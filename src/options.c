/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pwd.h>

#include <openssl/opensslv.h>

#include "config.h"

enum {
	KEY_HELP,
	KEY_VERSION,
	KEY_RO,
	KEY_DEBUG,
};

#define OPT(templ, field, value) { templ, offsetof(struct imapfs_options, field), value }

static const struct fuse_opt opt_spec[] = {
	OPT("tls=%s", tls, 0),
	OPT("cafile=%s", cafile, 0),
	OPT("password_file=%s", password_file, 0),
	OPT("password_command=%s", password_command, 0),
	OPT("auth=%s", auth, 0),
	OPT("oauth_token_command=%s", oauth_token_command, 0),
	OPT("timeout=%u", timeout, 0),
	OPT("connections=%u", connections, 0),
	OPT("nobinary", nobinary, 1),
	OPT("noidle", noidle, 1),
	OPT("delete=%s", delete, 0),
	OPT("dotfiles=%s", dotfiles, 0),
	OPT("names=%s", names, 0),
	OPT("subscribed", subscribed, 1),
	OPT("offline_writes=%s", offline_writes, 0),
	OPT("writeback", writeback, 1),
	OPT("poll_interval=%u", poll_interval, 0),
	OPT("cache_dir=%s", cache_dir, 0),
	OPT("cache_size=%s", cache_size_text, 0),
	FUSE_OPT_KEY("ro", KEY_RO),
	/* fstab and systemd options that mean something to mount(8), nothing here. */
	FUSE_OPT_KEY("_netdev", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("noauto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("auto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nofail", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("user", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("users", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nouser", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("comment=", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("debug", KEY_DEBUG),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_END
};

static void usage(const char *prog)
{
	printf("usage: %s [options] URL MOUNTPOINT\n"
	       "\n"
	       "Mounts an IMAP account: mailboxes are directories, messages are files.\n"
	       "\n"
	       "URL:\n"
	       "    imaps://[user@]host[:port]   TLS from the start (port 993)\n"
	       "    imap://[user@]host[:port]    STARTTLS, required (port 143)\n"
	       "\n"
	       "imapfs options:\n"
	       "    -o tls=none                 speak plaintext on imap:// (trusted networks only)\n"
	       "    -o cafile=PATH              also trust the CA certificates in PATH\n"
	       "    -o password_file=PATH       read the password from the first line of PATH\n"
	       "    -o password_command=CMD     run CMD (with /bin/sh) and use its first line\n"
	       "                                (else $IMAPFS_PASSWORD, else a terminal prompt)\n"
	       "    -o auth=xoauth2|oauthbearer OAuth 2.0 instead of a password (Gmail, Microsoft 365)\n"
	       "    -o oauth_token_command=CMD  run CMD at every login; its first line is the\n"
	       "                                access token\n"
	       "    -o timeout=SECONDS          network timeout (default 30)\n"
	       "    -o connections=N            IMAP connections for parallel reads (default 4)\n"
	       "    -o ro                       refuse every change (EROFS)\n"
	       "    -o nobinary                 do not use the BINARY extension\n"
	       "    -o noidle                   no live view: no IDLE/NOTIFY watcher, listings kept 0.5 s\n"
	       "    -o delete=trash|expunge     what rm of a message does (default trash: moved\n"
	       "                                to the Trash mailbox; rm in Trash expunges)\n"
	       "    -o dotfiles=local|server    where names beginning with '.' made through the\n"
	       "                                mount go (default local: never to the server)\n"
	       "    -o names=uid|readable       how messages are named (default uid: 1234.eml;\n"
	       "                                readable: '<date> <sender> - <subject> [1234].eml')\n"
	       "    -o subscribed               show only subscribed mailboxes (and their parents)\n"
	       "    -o offline_writes=yes|no    while the server cannot be reached, flag changes\n"
	       "                                are journaled and made when it answers (default\n"
	       "                                yes; no: they fail with EIO)\n"
	       "    -o writeback                mv, rm and flag changes return once journaled;\n"
	       "                                the journal drains in batched commands\n"
	       "    -o poll_interval=SECONDS    without NOTIFY, how often other mailboxes are\n"
	       "                                polled for changes (default 30)\n"
	       "    -o cache_dir=DIR            disk cache of message bodies (default\n"
	       "                                $XDG_CACHE_HOME/imapfs, else ~/.cache/imapfs)\n"
	       "    -o cache_size=SIZE          its bound, in bytes or with K, M, G (default 1G;\n"
	       "                                0 turns the disk cache off)\n"
	       "    -d, -o debug                debug output, IMAP trace with credentials hidden\n"
	       "    -f                          stay in the foreground\n"
	       "    -h, --help                  this help\n"
	       "    -V, --version               versions\n"
	       "\n", prog);
}

/* Percent-decodes s (user names like alice%40example.org). NULL on a bad escape. */
static char *percent_decode(const char *s, size_t len)
{
	char *out = malloc(len + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			unsigned v;

			if (i + 2 >= len || !isxdigit((unsigned char)s[i + 1]) ||
			    !isxdigit((unsigned char)s[i + 2]) || sscanf(s + i + 1, "%2x", &v) != 1 ||
			    v == 0) {
				free(out);
				return NULL;
			}
			*o++ = (char)v;
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

static int parse_url(struct imapfs_options *o)
{
	const char *p = o->url, *at, *hostend, *hoststart, *end;
	const char *default_port;

	if (strncmp(p, "imaps://", 8) == 0) {
		o->tls_mode = SESSION_TLS_IMPLICIT;
		default_port = "993";
		p += 8;
	} else if (strncmp(p, "imap://", 7) == 0) {
		o->tls_mode = SESSION_TLS_STARTTLS;
		default_port = "143";
		p += 7;
	} else {
		fprintf(stderr, "imapfs: %s: the URL must start with imaps:// or imap://\n", o->url);
		return -1;
	}
	end = p + strcspn(p, "/?#");
	if (*end && strcmp(end, "/") != 0) {
		fprintf(stderr, "imapfs: %s: a path in the URL is not supported\n", o->url);
		return -1;
	}
	/* The last '@' ends the user part, so "alice@example.org@host" works too. */
	at = NULL;
	for (const char *q = p; q < end; q++)
		if (*q == '@')
			at = q;
	if (at) {
		if (memchr(p, ':', (size_t)(at - p))) {
			fprintf(stderr, "imapfs: a password in the URL is refused: it would show in "
					"the process list; use -o password_file, -o password_command "
					"or IMAPFS_PASSWORD\n");
			return -1;
		}
		o->user = percent_decode(p, (size_t)(at - p));
		if (!o->user || !*o->user) {
			fprintf(stderr, "imapfs: %s: bad user name in the URL\n", o->url);
			return -1;
		}
		p = at + 1;
	}
	if (*p == '[') {
		hoststart = p + 1;
		hostend = memchr(p, ']', (size_t)(end - p));
		if (!hostend) {
			fprintf(stderr, "imapfs: %s: unterminated [IPv6 address]\n", o->url);
			return -1;
		}
		p = hostend + 1;
	} else {
		hoststart = p;
		hostend = p + strcspn(p, ":/");
		if (hostend > end)
			hostend = end;
		p = hostend;
	}
	if (hostend == hoststart) {
		fprintf(stderr, "imapfs: %s: no host name in the URL\n", o->url);
		return -1;
	}
	o->host = strndup(hoststart, (size_t)(hostend - hoststart));
	if (*p == ':') {
		char *num_end;
		unsigned long port = strtoul(p + 1, &num_end, 10);

		if (num_end == p + 1 || num_end != end || port == 0 || port > 65535) {
			fprintf(stderr, "imapfs: %s: bad port\n", o->url);
			return -1;
		}
		o->port = strndup(p + 1, (size_t)(end - p - 1));
	} else if (p != end) {
		fprintf(stderr, "imapfs: %s: cannot parse the host part\n", o->url);
		return -1;
	} else {
		o->port = strdup(default_port);
	}
	if (!o->user) {
		struct passwd *pw = getpwuid(getuid());

		o->user = strdup(pw ? pw->pw_name : "");
	}
	return o->host && o->port && o->user ? 0 : -1;
}

/* "512M", "2G", "1048576": bytes, or -1 for anything else. */
static int64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case 'K': case 'k': shift = 10; end++; break;
	case 'M': case 'm': shift = 20; end++; break;
	case 'G': case 'g': shift = 30; end++; break;
	case 'T': case 't': shift = 40; end++; break;
	}
	if (*end || v > (UINT64_C(1) << 50) >> shift)
		return -1;
	return (int64_t)(v << shift);
}

/* $XDG_CACHE_HOME/imapfs, else $HOME/.cache/imapfs, else the user's home from passwd. */
static char *default_cache_dir(void)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	struct passwd *pw;
	char *dir = NULL;

	if (xdg && xdg[0] == '/')
		return asprintf(&dir, "%s/imapfs", xdg) < 0 ? NULL : dir;
	if (!home || home[0] != '/') {
		pw = getpwuid(getuid());
		home = pw ? pw->pw_dir : NULL;
	}
	if (!home || home[0] != '/')
		return NULL;
	return asprintf(&dir, "%s/.cache/imapfs", home) < 0 ? NULL : dir;
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct imapfs_options *o = data;

	(void)outargs;
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (!o->url) {
			o->url = strdup(arg);
			return 0;
		}
		return 1; /* the mount point, for libfuse */
	case KEY_HELP:
		o->show_help = 1;
		return 0;
	case KEY_VERSION:
		o->show_version = 1;
		return 0;
	case KEY_RO:
		o->readonly = 1;
		return 1; /* also a mount option */
	case KEY_DEBUG:
		o->debug = 1;
		return 1;
	default:
		return 1;
	}
}

/* cache_size, cache_dir, and what needs the cache (the journal of -o writeback). */
static int cache_options(struct imapfs_options *o)
{
	if (o->cache_size_text) {
		int64_t size = parse_size(o->cache_size_text);

		if (size < 0) {
			fprintf(stderr, "imapfs: -o cache_size=%s: expected a size like 500M or 2G\n",
				o->cache_size_text);
			return -1;
		}
		o->cache_size = (uint64_t)size;
	} else {
		o->cache_size = UINT64_C(1) << 30;
	}
	if (o->cache_dir && o->cache_dir[0] != '/') {
		/* A daemon changes to / once started: a relative path would move. */
		fprintf(stderr, "imapfs: -o cache_dir=%s: must be an absolute path\n", o->cache_dir);
		return -1;
	}
	if (!o->cache_dir && o->cache_size)
		o->cache_dir = default_cache_dir();
	if (!o->cache_dir)
		o->cache_size = 0; /* no home to put it in: without a disk cache */
	if (o->writeback && !o->cache_size) {
		fprintf(stderr, "imapfs: -o writeback needs the journal, which is kept in the disk "
				"cache: not with cache_size=0\n");
		return -1;
	}
	return 0;
}

int options_parse(struct fuse_args *args, struct imapfs_options *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout = 30;
	o->connections = 4;
	o->poll_interval = 30;
	if (fuse_opt_parse(args, o, opt_spec, opt_proc) == -1)
		return -1;
	if (o->show_help) {
		usage(args->argv[0]);
		printf("FUSE options:\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
		return 1;
	}
	if (o->show_version) {
		printf("imapfs %s\nFUSE library %s\n%s\n", IMAPFS_VERSION, fuse_pkgversion(),
		       OPENSSL_VERSION_TEXT);
		return 1;
	}
	if (!o->url) {
		fprintf(stderr, "imapfs: missing URL and mount point (see imapfs --help)\n");
		return -1;
	}
	if (parse_url(o) < 0)
		return -1;
	if (o->tls) {
		if (strcmp(o->tls, "none") == 0) {
			if (o->tls_mode == SESSION_TLS_IMPLICIT) {
				fprintf(stderr, "imapfs: -o tls=none contradicts imaps://\n");
				return -1;
			}
			o->tls_mode = SESSION_TLS_NONE;
		} else if (strcmp(o->tls, "starttls") == 0 || strcmp(o->tls, "implicit") == 0) {
			/* Accepted for clarity; the URL's scheme already says which. */
		} else {
			fprintf(stderr, "imapfs: -o tls=%s: expected none\n", o->tls);
			return -1;
		}
	}
	o->auth_mech = SESSION_AUTH_PASSWORD;
	if (o->auth && strcmp(o->auth, "xoauth2") == 0) {
		o->auth_mech = SESSION_AUTH_XOAUTH2;
	} else if (o->auth && strcmp(o->auth, "oauthbearer") == 0) {
		o->auth_mech = SESSION_AUTH_OAUTHBEARER;
	} else if (o->auth && strcmp(o->auth, "password") != 0) {
		fprintf(stderr, "imapfs: -o auth=%s: expected password, xoauth2 or oauthbearer\n", o->auth);
		return -1;
	}
	if (o->auth_mech != SESSION_AUTH_PASSWORD && !o->oauth_token_command) {
		fprintf(stderr, "imapfs: -o auth=%s needs -o oauth_token_command=CMD\n", o->auth);
		return -1;
	}
	if (o->delete && strcmp(o->delete, "expunge") == 0) {
		o->delete_expunges = 1;
	} else if (o->delete && strcmp(o->delete, "trash") != 0) {
		fprintf(stderr, "imapfs: -o delete=%s: expected trash or expunge\n", o->delete);
		return -1;
	}
	if (o->dotfiles && strcmp(o->dotfiles, "server") == 0) {
		o->dotfiles_server = 1;
	} else if (o->dotfiles && strcmp(o->dotfiles, "local") != 0) {
		fprintf(stderr, "imapfs: -o dotfiles=%s: expected local or server\n", o->dotfiles);
		return -1;
	}
	if (o->names && strcmp(o->names, "readable") == 0) {
		o->readable_names = 1;
	} else if (o->names && strcmp(o->names, "uid") != 0) {
		fprintf(stderr, "imapfs: -o names=%s: expected uid or readable\n", o->names);
		return -1;
	}
	if (o->offline_writes && strcmp(o->offline_writes, "no") == 0) {
		o->no_offline_writes = 1;
	} else if (o->offline_writes && strcmp(o->offline_writes, "yes") != 0) {
		fprintf(stderr, "imapfs: -o offline_writes=%s: expected yes or no\n",
			o->offline_writes);
		return -1;
	}
	if (o->writeback && o->no_offline_writes) {
		fprintf(stderr, "imapfs: -o writeback needs the journal: not with offline_writes=no\n");
		return -1;
	}
	if (o->timeout == 0 || o->timeout > 3600) {
		fprintf(stderr, "imapfs: -o timeout must be 1 to 3600 seconds\n");
		return -1;
	}
	if (o->poll_interval == 0 || o->poll_interval > 86400) {
		fprintf(stderr, "imapfs: -o poll_interval must be 1 to 86400 seconds\n");
		return -1;
	}
	if (o->connections == 0 || o->connections > 64) {
		fprintf(stderr, "imapfs: -o connections must be 1 to 64\n");
		return -1;
	}
	if (cache_options(o) < 0)
		return -1;
	if (asprintf(&o->account, "%s@%s:%s", o->user, o->host, o->port) < 0) {
		o->account = NULL;
		return -1;
	}
	return 0;
}

void options_free(struct imapfs_options *o)
{
	free(o->url);
	free(o->user);
	free(o->host);
	free(o->port);
	free(o->tls);
	free(o->cafile);
	free(o->password_file);
	free(o->password_command);
	free(o->auth);
	free(o->oauth_token_command);
	free(o->delete);
	free(o->dotfiles);
	free(o->names);
	free(o->offline_writes);
	free(o->cache_dir);
	free(o->cache_size_text);
	free(o->account);
}
