/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where the password comes from, in this order: -o password_file, -o
 * password_command, $IMAPFS_PASSWORD (removed from the environment once read),
 * or a prompt on the terminal. Never the URL or the command line itself.
 */
#ifndef IMAPFS_CREDENTIALS_H
#define IMAPFS_CREDENTIALS_H

#include <stddef.h>

#include "options.h"

/* On success *password is malloc'd; wipe it with credentials_free(). */
int credentials_password(const struct imapfs_options *o, char **password, char *err,
			 size_t errlen);
void credentials_free(char *password);

/*
 * Runs the OAuth token command (ctx: the command line) and returns its first
 * line in *token. Called at every login, from any thread.
 */
int credentials_oauth_token(void *ctx, char **token, char *err, size_t errlen);

#endif
