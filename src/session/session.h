/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One authenticated IMAP connection: greeting, TLS or STARTTLS, capabilities,
 * login, tagged commands (pipelined when the caller sends several before
 * waiting), and the state of the selected mailbox.
 *
 * A session is used by one thread at a time; the store's pool hands it out.
 * Once the connection fails (I/O error, timeout, BYE, unparseable response) the
 * session is dead: every later call fails with -EIO at once, and the owner
 * replaces it with a fresh session_open().
 *
 * Ownership: the session borrows cfg's strings and tls context, which must
 * outlive it.
 */
#ifndef IMAPFS_SESSION_H
#define IMAPFS_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/command.h"
#include "imap/parser.h"
#include "net/net.h"

enum session_tls {
	SESSION_TLS_IMPLICIT, /* imaps:// */
	SESSION_TLS_STARTTLS, /* imap://, STARTTLS required */
	SESSION_TLS_NONE,     /* imap:// with -o tls=none */
};

struct session_config {
	const char *host;
	const char *port;
	const char *user;
	const char *password;
	enum session_tls tls;
	struct net_tls *tls_ctx;  /* required unless tls == SESSION_TLS_NONE */
	int timeout_ms;
	bool hide_binary;         /* act as if the server lacked BINARY (tests) */
	/*
	 * OAuth 2.0 (Gmail, Microsoft 365): SASL XOAUTH2 or OAUTHBEARER (RFC
	 * 7628) instead of the password. get_token is asked for a fresh access
	 * token at every login, so one that expired is replaced on reconnect.
	 */
	enum session_auth { SESSION_AUTH_PASSWORD, SESSION_AUTH_XOAUTH2,
			    SESSION_AUTH_OAUTHBEARER } auth;
	int (*get_token)(void *ctx, char **token, char *err, size_t errlen);
	void *token_ctx;
};

struct session;

/*
 * Connects, secures and logs in. On failure returns -errno and a message fit
 * for the user in err: -EACCES for refused credentials, -EPROTO for a TLS or
 * protocol failure, other -errno for the network.
 */
int session_open(const struct session_config *cfg, unsigned id, struct session **out,
		 char *err, size_t errlen);
/* Logs out politely when the connection is alive, then frees. NULL is fine. */
void session_close(struct session *s);

bool session_alive(const struct session *s);
/*
 * Gives the session up: dead from now on, with why as its error. For a
 * connection whose server-side view went wrong, so the owner replaces it.
 */
void session_abandon(struct session *s, const char *why);
/* Upper-case capability name, e.g. "MOVE", "AUTH=PLAIN". */
bool session_has_cap(const struct session *s, const char *cap);
/* Text of the last failure: the server's NO/BAD text or the network error. */
const char *session_error(const struct session *s);
uint64_t session_bytes_in(const struct session *s);
/* Dead because the server stopped answering (not because it hung up). */
bool session_timed_out(const struct session *s);
/* Whether it died because its thread was cancelled (util/cancel.h). */
bool session_interrupted(const struct session *s);

/* Called for every untagged response while waiting for a command. Return 0 to
 * go on or -errno to make the command fail with it (the rest is still read). */
typedef int (*session_data_fn)(void *ctx, const struct imap_response *r);

/*
 * Sends cmd (without tag) and returns its tag number in *tag. Several commands
 * may be sent before waiting for any: they are pipelined.
 */
int session_send(struct session *s, struct imap_cmd *cmd, unsigned *tag);
/*
 * Reads responses until command tag completes; untagged ones go to fn. Returns
 * the completion's errno (imap_completion_errno), the first error fn returned,
 * or -EIO if the connection failed. The completion's response code is copied
 * into code (if not NULL) as "CODE arg1 arg2" (e.g. "APPENDUID 38505 3955").
 */
int session_wait(struct session *s, unsigned tag, session_data_fn fn, void *ctx,
		 char *code, size_t codelen);
/* session_send + session_wait. */
int session_run(struct session *s, struct imap_cmd *cmd, session_data_fn fn, void *ctx);
/* session_run of a command of fixed text that holds nothing from outside ("NOOP"). */
int session_run_text(struct session *s, const char *text, session_data_fn fn, void *ctx);

struct session_mailbox {
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t exists;
	uint64_t highestmodseq;
};

/*
 * Selects wire_name (modified UTF-7) unless it is already selected, and fills
 * st with what SELECT (or the unsolicited responses since) reported. Reading
 * uses EXAMINE, so it cannot change the mailbox; writable asks for SELECT.
 */
int session_select(struct session *s, const char *wire_name, bool writable,
		   struct session_mailbox *st);
/* Forgets the selection (after the mailbox was renamed or deleted). */
void session_unselect(struct session *s);

/*
 * IDLE (RFC 2177) until tick(ctx), called about every 200 ms, returns
 * non-zero, or max_ms have passed: every untagged response goes to fn as it
 * comes. Then DONE. Quiet time is not a timeout here. Returns 0 or -errno.
 */
int session_idle(struct session *s, session_data_fn fn, int (*tick)(void *ctx), void *ctx,
		 int max_ms);

/*
 * Runs cmd followed by a literal of size bytes read from fd (from offset 0):
 * " {size+}" with LITERAL+, else " {size}" and the bytes only once the server
 * asked for them (a refusal before the literal is the command's answer).
 * Returns as session_wait, the completion's code in code. For APPEND.
 */
int session_run_with_file(struct session *s, struct imap_cmd *cmd, int fd, uint64_t size,
			  char *code, size_t codelen);
/* The selected mailbox's wire name, or NULL. */
const char *session_selected(const struct session *s);
/* Whether it was selected with SELECT (changes may be made there), not EXAMINE. */
bool session_selected_writable(const struct session *s);
/* Whether a mailbox was ever selected on this connection (it may hold an old view of one). */
bool session_has_selected(const struct session *s);
/* The text of the server's greeting ("" if it had none), for telling servers apart. */
const char *session_greeting(const struct session *s);

#endif
