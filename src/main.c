/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * imapfs: mounts an IMAP account as a directory tree.
 *
 * Wiring and daemon life: parse options, get the password, log in (so every
 * failure is reported before anything is mounted), then mount and serve.
 */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "credentials.h"
#include "fs/fs.h"
#include "log.h"
#include "options.h"
#include "store/store.h"
#include "watch/watch.h"

/* libfuse reports the signal that ended the loop (as signo in 3.14, -signo in others). */
static bool clean_exit(int ret)
{
	int sig = ret < 0 ? -ret : ret;

	return ret == 0 || sig == SIGTERM || sig == SIGINT || sig == SIGHUP;
}

static int serve(struct fuse_args *args, const struct imapfs_options *o, struct store *st,
		 const struct session_config *sess)
{
	struct fuse_cmdline_opts cmd = { 0 };
	/*
	 * Names and directory attributes are relooked-up after half a second:
	 * that, and the tree's TTL, bound how late a mailbox deleted or renamed
	 * elsewhere shows, whatever the server's notifications do.
	 */
	struct fs_options fso = {
		.readonly = o->readonly,
		.delete_expunges = o->delete_expunges,
		.dotfiles_server = o->dotfiles_server,
		.dir_timeout = 0.5,
		.file_timeout = 3600.0,
	};
	struct watch_options wo = {
		.poll_interval_s = o->poll_interval,
		/*
		 * Not longer with NOTIFY: Dovecot 2.3 was seen to drop the events
		 * of a mailbox deleted and created again, and a listing trusted for
		 * long would then serve the old UIDVALIDITY's bytes. A revalidation
		 * on use is one STATUS.
		 */
		.listing_ttl_ms = 500,
		.fallback_ttl_ms = 500,
	};
	struct fuse_loop_config *loop = NULL;
	struct fuse_session *se = NULL;
	struct watch *watch = NULL;
	struct fs *fs = NULL;
	char fsname[300];
	int ret = 1;

	snprintf(fsname, sizeof(fsname), "-ofsname=imapfs#%s,subtype=imapfs,default_permissions",
		 o->host);
	if (fuse_opt_add_arg(args, fsname) != 0 || fuse_parse_cmdline(args, &cmd) != 0)
		return 1;
	if (!cmd.mountpoint) {
		fprintf(stderr, "imapfs: missing mount point (see imapfs --help)\n");
		goto out;
	}
	fs = fs_new(st, &fso);
	if (!fs)
		goto out;
	se = fuse_session_new(args, fs_operations(), sizeof(struct fuse_lowlevel_ops), fs);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	if (fuse_session_mount(se, cmd.mountpoint) != 0)
		goto out_signals;
	if (fuse_daemonize(cmd.foreground) != 0)
		goto out_unmount;
	if (!cmd.foreground)
		log_to_syslog();
	fs_set_session(fs, se);
	store_set_sink(st, &(struct store_sink){ fs_inval_dir, fs_inval_name, fs_inval_message, fs });
	/* After fuse_daemonize(): its fork would not take the threads along. */
	store_start_threads(st);
	if (!o->noidle) {
		/* After fuse_daemonize(): its fork would not take the thread along. */
		if (watch_start(st, sess, &wo, &watch) < 0)
			log_warn("cannot start the watcher: changes by others show within a second");
		else
			fs_set_watched(fs, true);
	}
	log_info("mounted %s on %s", o->url, cmd.mountpoint);
	if (cmd.singlethread) {
		ret = fuse_session_loop(se);
		ret = clean_exit(ret) ? 0 : 1;
	} else {
		loop = fuse_loop_cfg_create();
		if (!loop)
			goto out_unmount;
		fuse_loop_cfg_set_clone_fd(loop, cmd.clone_fd);
		/* Unset (-1 as unsigned) unless -o max_threads was given: libfuse's default. */
		fuse_loop_cfg_set_max_threads(loop, cmd.max_threads > 0 && cmd.max_threads <= 1000
							  ? cmd.max_threads : 10);
		/* Likewise UINT_MAX when unset, which libfuse 3.14 would log as invalid. */
		if (cmd.max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(loop, cmd.max_idle_threads);
		ret = fuse_session_loop_mt(se, loop);
		/* Stopped by a signal (systemd's SIGTERM, ^C) is a clean end, not a failure. */
		ret = clean_exit(ret) ? 0 : 1;
		fuse_loop_cfg_destroy(loop);
	}
out_unmount:
	watch_stop(watch);
	store_stop_changes(st);
	fs_stop_notifying(fs);
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out:
	/* The fs first: its notification thread still holds the session. */
	fs_free(fs);
	if (se)
		fuse_session_destroy(se);
	free(cmd.mountpoint);
	return ret;
}

/*
 * What libfuse will be given (its options, the mount point) is checked before
 * a password is asked or a server dialled: a typo is reported at once, and a
 * mount point that is a file is never mounted over. Returns 0 or -1 (said).
 */
static int check_fuse_args(const struct fuse_args *args)
{
	struct fuse_args copy = FUSE_ARGS_INIT(0, NULL);
	struct fuse_cmdline_opts cmd = { 0 };
	struct fuse_session *se;
	struct stat sb;
	int r = -1;

	for (int i = 0; i < args->argc; i++)
		if (fuse_opt_add_arg(&copy, args->argv[i]) != 0)
			goto out;
	if (fuse_parse_cmdline(&copy, &cmd) != 0)
		goto out;
	if (!cmd.mountpoint) {
		fprintf(stderr, "imapfs: missing mount point (see imapfs --help)\n");
		goto out;
	}
	if (stat(cmd.mountpoint, &sb) < 0) {
		fprintf(stderr, "imapfs: mount point %s: %s\n", cmd.mountpoint, strerror(errno));
		goto out;
	}
	if (!S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "imapfs: mount point %s is not a directory\n", cmd.mountpoint);
		goto out;
	}
	/* Unknown options: libfuse names them ("fuse: unknown option(s): ..."). */
	se = fuse_session_new(&copy, fs_operations(), sizeof(struct fuse_lowlevel_ops), NULL);
	if (!se)
		goto out;
	fuse_session_destroy(se);
	r = 0;
out:
	free(cmd.mountpoint);
	fuse_opt_free_args(&copy);
	return r;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct imapfs_options o;
	struct store_options so = { 0 };
	struct net_tls *tls = NULL;
	struct store *st = NULL;
	char *password = NULL;
	char err[600];
	int r, ret = 1;

	/* A server that closes first must not kill us through SSL_write (no MSG_NOSIGNAL there). */
	signal(SIGPIPE, SIG_IGN);
	/*
	 * Bodies, read windows and replies of 64 KiB to 4 MiB are made and freed
	 * at the pace of a grep -r. glibc's defaults give the larger ones back to
	 * the kernel (mmap and munmap, trimming the heap) and fault every page of
	 * the next one in again: that took more than half of imapfs's CPU in a
	 * cold grep -r here, and the grep twice the time (doc/performance.md).
	 * Freed memory stays in the heap up to these bounds instead.
	 */
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	mallopt(M_TRIM_THRESHOLD, 32 << 20);
	r = options_parse(&args, &o);
	if (r != 0) {
		ret = r > 0 ? 0 : 1;
		goto out;
	}
	log_setup(o.debug);
	if (check_fuse_args(&args) < 0)
		goto out;
	if (o.auth_mech == SESSION_AUTH_PASSWORD &&
	    credentials_password(&o, &password, err, sizeof(err)) < 0) {
		fprintf(stderr, "imapfs: %s\n", err);
		goto out;
	}
	if (o.tls_mode != SESSION_TLS_NONE &&
	    net_tls_new(o.cafile, &tls, err, sizeof(err)) < 0) {
		fprintf(stderr, "imapfs: %s\n", err);
		goto out;
	}
	so.session = (struct session_config){
		.host = o.host,
		.port = o.port,
		.user = o.user,
		.password = password,
		.tls = o.tls_mode,
		.tls_ctx = tls,
		.timeout_ms = (int)o.timeout * 1000,
		.hide_binary = o.nobinary,
		.auth = o.auth_mech,
		.get_token = credentials_oauth_token,
		.token_ctx = o.oauth_token_command,
	};
	so.connections = o.connections;
	so.listing_ttl_ms = 500;
	so.tree_ttl_ms = 500;
	so.cache_dir = o.cache_dir;
	so.cache_account = o.account;
	so.cache_size = o.cache_size;
	so.readable_names = o.readable_names;
	so.subscribed_only = o.subscribed;
	so.offline_writes = !o.no_offline_writes;
	so.writeback = o.writeback;
	r = store_open(&so, &st, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "imapfs: %s\n", err);
		goto out;
	}
	ret = serve(&args, &o, st, &so.session);
out:
	store_close(st);
	net_tls_free(tls);
	credentials_free(password);
	options_free(&o);
	fuse_opt_free_args(&args);
	return ret;
}
