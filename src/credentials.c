/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "credentials.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "log.h"

#define PASSWORD_MAX 4096

/* Reads the first line of f into a new string (without its line end). */
static char *read_first_line(FILE *f)
{
	char *buf = calloc(1, PASSWORD_MAX + 1);
	size_t n = 0;
	int ch;

	if (!buf)
		return NULL;
	while ((ch = fgetc(f)) != EOF && ch != '\n' && n < PASSWORD_MAX)
		buf[n++] = (char)ch;
	if (n && buf[n - 1] == '\r')
		buf[--n] = '\0';
	/* Drain the rest so a command writing more does not die of SIGPIPE. */
	while (ch != EOF)
		ch = fgetc(f);
	return buf;
}

static int from_file(const char *path, char **out, char *err, size_t errlen)
{
	struct stat sb;
	FILE *f = fopen(path, "re");

	if (!f) {
		snprintf(err, errlen, "cannot read password file %s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fileno(f), &sb) == 0 && !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "password file %s is %s, not a file", path,
			 S_ISDIR(sb.st_mode) ? "a directory" : "something else");
		fclose(f);
		return -EINVAL;
	}
	if (sb.st_mode & 0077)
		log_warn("password file %s is readable by others (mode %o)", path,
			 (unsigned)(sb.st_mode & 0777));
	*out = read_first_line(f);
	fclose(f);
	if (!*out)
		return -ENOMEM;
	if (!**out) {
		snprintf(err, errlen, "password file %s is empty", path);
		credentials_free(*out);
		*out = NULL;
		return -EINVAL;
	}
	return 0;
}

static int from_command(const char *cmd, char **out, char *err, size_t errlen)
{
	FILE *f = popen(cmd, "re");
	int status;

	if (!f) {
		snprintf(err, errlen, "cannot run password command: %s", strerror(errno));
		return -errno;
	}
	*out = read_first_line(f);
	status = pclose(f);
	if (!*out)
		return -ENOMEM;
	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || !**out) {
		/* The command itself is not shown: it may hold a secret of its own. */
		snprintf(err, errlen, "password command failed (exit status %d)%s",
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1,
			 **out ? "" : " or printed nothing");
		credentials_free(*out);
		*out = NULL;
		return -EINVAL;
	}
	return 0;
}

static int from_terminal(const struct imapfs_options *o, char **out, char *err, size_t errlen)
{
	struct termios old, quiet;
	FILE *tty = fopen("/dev/tty", "r+e");
	int r = 0;

	if (!tty) {
		snprintf(err, errlen, "no password given: use -o password_file=PATH, "
				      "-o password_command=CMD or IMAPFS_PASSWORD, or run on a terminal");
		return -EINVAL;
	}
	fprintf(tty, "Password for %s@%s: ", o->user, o->host);
	fflush(tty);
	if (tcgetattr(fileno(tty), &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	}
	*out = read_first_line(tty);
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputc('\n', tty);
	fclose(tty);
	if (!*out)
		r = -ENOMEM;
	return r;
}

int credentials_password(const struct imapfs_options *o, char **password, char *err,
			 size_t errlen)
{
	const char *env;

	if (o->password_file)
		return from_file(o->password_file, password, err, errlen);
	if (o->password_command)
		return from_command(o->password_command, password, err, errlen);
	env = getenv("IMAPFS_PASSWORD");
	if (env) {
		*password = strdup(env);
		/* Children (password commands, a shell) need not inherit it. */
		OPENSSL_cleanse((char *)env, strlen(env));
		unsetenv("IMAPFS_PASSWORD");
		return *password ? 0 : -ENOMEM;
	}
	return from_terminal(o, password, err, errlen);
}

int credentials_oauth_token(void *ctx, char **token, char *err, size_t errlen)
{
	return from_command(ctx, token, err, errlen);
}

void credentials_free(char *password)
{
	if (!password)
		return;
	OPENSSL_cleanse(password, strlen(password));
	free(password);
}
