/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The command line: imapfs [options] URL MOUNTPOINT.
 *
 * imapfs's own -o options are taken out of the argument list; what remains
 * (mount point, -f, -d, FUSE and mount options) goes to libfuse.
 */
#ifndef IMAPFS_OPTIONS_H
#define IMAPFS_OPTIONS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>

#include "session/session.h"

struct imapfs_options {
	/* From the URL. */
	char *url;
	char *user;
	char *host;
	char *port;
	enum session_tls tls_mode;

	/* -o options (strings owned by fuse_opt: free with options_free). */
	char *tls;
	char *cafile;
	char *password_file;
	char *password_command;
	char *auth;               /* password (default), xoauth2, oauthbearer */
	char *oauth_token_command;
	enum session_auth auth_mech;
	unsigned timeout;     /* seconds */
	unsigned connections;
	int readonly;
	int nobinary;
	int noidle;
	char *delete;           /* trash (default) or expunge */
	int delete_expunges;    /* -o delete=expunge: rm expunges at once */
	char *dotfiles;         /* local (default) or server */
	int dotfiles_server;    /* -o dotfiles=server: dot names go to the server as any */
	char *names;            /* uid (default) or readable */
	int readable_names;     /* -o names=readable */
	char *offline_writes;   /* yes (default) or no */
	int no_offline_writes;  /* -o offline_writes=no */
	int writeback;          /* -o writeback: changes return once journaled */
	int subscribed;         /* -o subscribed: only subscribed mailboxes */
	unsigned poll_interval; /* seconds, STATUS polls without NOTIFY */
	char *cache_dir;        /* default $XDG_CACHE_HOME/imapfs or ~/.cache/imapfs */
	char *cache_size_text;  /* as given, e.g. "2G" */
	uint64_t cache_size;    /* bytes; 0: no disk cache */
	char *account;          /* "user@host:port", the cache's key */
	int debug;
	int show_help;
	int show_version;
};

/*
 * Parses argv into o and args (the arguments left for libfuse). Returns 0 to
 * go on, 1 if help or version was printed (exit 0), -1 after printing an
 * error (exit 1).
 */
int options_parse(struct fuse_args *args, struct imapfs_options *o);
void options_free(struct imapfs_options *o);

#endif
