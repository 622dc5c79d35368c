/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "session/session.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "imap/codes.h"
#include "log.h"
#include "util/cancel.h"
#include "util/clock.h"

/*
 * A command the server refused as busy (imap_completion_throttled()) is sent
 * again, after pauses from BUSY_FIRST_PAUSE_MS doubling, at most BUSY_TRIES
 * times in all and for at most -o timeout (BUSY_MAX_PAUSE_MS at most) of
 * pauses: Exchange, Yahoo and Gmail ask clients to back off, and one that
 * never gives up would only keep them throttling.
 */
#define BUSY_TRIES 5
#define BUSY_FIRST_PAUSE_MS 250
#define BUSY_MAX_PAUSE_MS 8000

/* A completion that arrived while another tag was being waited for. */
struct completion {
	unsigned tag;
	int result;
	char *code;
};

struct session {
	const struct session_config *cfg;
	unsigned id;
	struct net_conn *conn;
	struct imap_parser *parser;
	bool dead;
	int fail_code;      /* what killed it: -ETIMEDOUT, -ECONNRESET, -EPROTO ... */
	int64_t deadline_ms; /* the command being waited for must end by then; 0: none */
	char err[512];
	bool throttled;      /* the last command waited for was refused as "busy, later" */
	bool data_given;     /* ... after some of its answer had gone to the caller */

	char **caps;
	size_t ncaps;
	unsigned caps_version;

	unsigned next_tag;
	struct completion *done;
	size_t ndone;

	char *greeting;     /* the greeting's text, for server quirks */
	char *selected;
	bool selected_rw;
	bool ever_selected; /* a mailbox was selected here once (session_has_selected) */
	struct session_mailbox sel;

	char rbuf[65536];
	size_t rpos, rlen;
};

static void fail(struct session *s, int r, const char *why)
{
	if (!s->dead) {
		snprintf(s->err, sizeof(s->err), "%s", why);
		s->fail_code = r;
	}
	s->dead = true;
}

void session_abandon(struct session *s, const char *why)
{
	fail(s, -EIO, why);
}

bool session_timed_out(const struct session *s)
{
	return s->dead && s->fail_code == -ETIMEDOUT;
}

bool session_interrupted(const struct session *s)
{
	return s->dead && s->fail_code == -EINTR;
}

const char *session_error(const struct session *s)
{
	return s->err[0] ? s->err : "no error";
}

bool session_alive(const struct session *s)
{
	return !s->dead;
}

uint64_t session_bytes_in(const struct session *s)
{
	return s->conn ? net_bytes_in(s->conn) : 0;
}

bool session_has_selected(const struct session *s)
{
	return s->ever_selected;
}

const char *session_selected(const struct session *s)
{
	return s->selected;
}

bool session_selected_writable(const struct session *s)
{
	return s->selected && s->selected_rw;
}

const char *session_greeting(const struct session *s)
{
	return s->greeting ? s->greeting : "";
}

static void free_caps(struct session *s)
{
	for (size_t i = 0; i < s->ncaps; i++)
		free(s->caps[i]);
	free(s->caps);
	s->caps = NULL;
	s->ncaps = 0;
}

/* Replaces the capability list with the atoms of list (CAPABILITY data or code). */
static void set_caps(struct session *s, const struct imap_value *list)
{
	char **caps;

	free_caps(s);
	caps = calloc(list->count ? list->count : 1, sizeof(*caps));
	if (!caps)
		return;
	for (size_t i = 0; i < list->count; i++) {
		const char *t = imap_value_text(&list->items[i]);
		char *c;

		if (!t || !(c = strdup(t)))
			continue;
		for (char *p = c; *p; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
		caps[s->ncaps++] = c;
	}
	s->caps = caps;
	s->caps_version++;
}

bool session_has_cap(const struct session *s, const char *cap)
{
	if (s->cfg->hide_binary && strcasecmp(cap, "BINARY") == 0)
		return false;
	for (size_t i = 0; i < s->ncaps; i++)
		if (strcasecmp(s->caps[i], cap) == 0)
			return true;
	return false;
}

/* Reads the next complete response; NULL with the session dead on failure. */
static struct imap_response *read_response(struct session *s)
{
	struct imap_response *r;

	if (s->dead)
		return NULL;
	for (;;) {
		r = imap_parser_take(s->parser);
		if (r)
			return r;
		if (s->rpos == s->rlen) {
			ssize_t n;

			/*
			 * Each read has the timeout, but a server trickling bytes or
			 * chattering untagged lines must not hold a command forever.
			 */
			if (s->deadline_ms && monotonic_ms() > s->deadline_ms) {
				fail(s, -ETIMEDOUT, "the server did not finish answering in time");
				return NULL;
			}
			n = net_read(s->conn, s->rbuf, sizeof(s->rbuf));

			if (n < 0) {
				fail(s, (int)n, net_error(s->conn));
				return NULL;
			}
			if (log_debug_enabled()) {
				char prefix[16];

				snprintf(prefix, sizeof(prefix), "S%u:", s->id);
				log_trace(prefix, s->rbuf, (size_t)n);
			}
			s->rpos = 0;
			s->rlen = (size_t)n;
		}
		ssize_t used = imap_parser_feed(s->parser, s->rbuf + s->rpos, s->rlen - s->rpos);

		if (used < 0) {
			char why[300];

			snprintf(why, sizeof(why), "malformed response from server: %s",
				 imap_parser_error(s->parser));
			log_error("%s", why);
			fail(s, (int)used, why);
			return NULL;
		}
		s->rpos += (size_t)used;
	}
}

/*
 * Like read_response(), but waits at most timeout_ms for a response to start
 * and reports a quiet line as *quiet instead of failing the session.
 */
static struct imap_response *read_response_within(struct session *s, int timeout_ms, bool *quiet,
						  int normal_timeout_ms)
{
	struct imap_response *r;
	char byte;
	ssize_t n;

	*quiet = false;
	r = imap_parser_take(s->parser);
	if (r || s->rpos != s->rlen || imap_parser_pending(s->parser) || net_has_buffered(s->conn))
		return r ? r : read_response(s);
	/* Nothing buffered: wait for the first byte with the short timeout, peeking. */
	net_set_timeout(s->conn, timeout_ms);
	n = net_read(s->conn, &byte, 1);
	net_set_timeout(s->conn, normal_timeout_ms);
	if (n == -ETIMEDOUT) {
		*quiet = true;
		return NULL;
	}
	if (n < 0) {
		fail(s, (int)n, net_error(s->conn));
		return NULL;
	}
	s->rbuf[0] = byte;
	s->rpos = 0;
	s->rlen = 1;
	return read_response(s);
}

/* The last [ALERT] logged, by any connection, and when. */
static pthread_mutex_t alert_lock = PTHREAD_MUTEX_INITIALIZER;
static char alert_last[160];
static int64_t alert_ms;

/*
 * RFC 3501 7.1: the text of an [ALERT] must reach the user. It is how Gmail
 * tells of its download limit and of too many connections; as it comes again
 * with every command on every connection, the same text is logged at most
 * once a minute.
 */
static void note_alert(struct session *s, const struct imap_response *r)
{
	bool repeated;
	int64_t now;

	if (r->status == IMAP_STATUS_NONE || !r->code || strcmp(r->code, "ALERT") != 0 ||
	    !r->text || !*r->text)
		return;
	now = monotonic_ms();
	pthread_mutex_lock(&alert_lock);
	repeated = strncmp(alert_last, r->text, sizeof(alert_last) - 1) == 0 &&
		   now - alert_ms < 60000;
	if (!repeated) {
		snprintf(alert_last, sizeof(alert_last), "%s", r->text);
		alert_ms = now;
	}
	pthread_mutex_unlock(&alert_lock);
	if (!repeated)
		log_warn("server %s says: %s", s->cfg->host, r->text);
}

/*
 * Whether an untagged response is (part of) what a command asked for, as
 * opposed to news of the mailbox that any command may bring.
 */
static bool is_answer_data(const struct imap_response *r)
{
	static const char *const news[] = { "EXISTS", "EXPUNGE", "RECENT", "FLAGS", "CAPABILITY" };

	if (r->status != IMAP_STATUS_NONE)
		return false;
	for (size_t i = 0; i < sizeof(news) / sizeof(news[0]); i++)
		if (strcmp(r->name, news[i]) == 0)
			return false;
	return true;
}

/* Session-wide bookkeeping for an untagged response, before the caller sees it. */
/* A tagged OK may carry the capabilities too (a login's, RFC 3501 7.1). */
static void track_tagged(struct session *s, const struct imap_response *r)
{
	note_alert(s, r);
	if (r->status == IMAP_STATUS_OK && r->code && strcmp(r->code, "CAPABILITY") == 0)
		set_caps(s, &r->code_args);
}

static void track_untagged(struct session *s, const struct imap_response *r)
{
	uint64_t n;

	note_alert(s, r);

	if (strcmp(r->name, "CAPABILITY") == 0) {
		set_caps(s, &r->args);
	} else if (r->status != IMAP_STATUS_NONE && r->code) {
		const struct imap_value *arg = imap_list_item(&r->code_args, 0);

		if (strcmp(r->code, "CAPABILITY") == 0)
			set_caps(s, &r->code_args);
		else if (strcmp(r->code, "UIDVALIDITY") == 0 && imap_value_number(arg, &n))
			s->sel.uidvalidity = (uint32_t)n;
		else if (strcmp(r->code, "UIDNEXT") == 0 && imap_value_number(arg, &n))
			s->sel.uidnext = (uint32_t)n;
		else if (strcmp(r->code, "HIGHESTMODSEQ") == 0 && imap_value_number(arg, &n))
			s->sel.highestmodseq = n;
	}
	if (r->has_number && strcmp(r->name, "EXISTS") == 0)
		s->sel.exists = r->number;
	else if (r->has_number && strcmp(r->name, "EXPUNGE") == 0 && s->sel.exists)
		s->sel.exists--;
	if (r->status == IMAP_STATUS_BYE) {
		char why[300];

		snprintf(why, sizeof(why), "server closed the connection: %s",
			 r->text && *r->text ? r->text : "BYE");
		fail(s, -EIO, why);
	}
}

static int remember_completion(struct session *s, unsigned tag, int result, const char *code)
{
	struct completion *d = realloc(s->done, (s->ndone + 1) * sizeof(*d));

	if (!d)
		return -ENOMEM;
	s->done = d;
	d[s->ndone].tag = tag;
	d[s->ndone].result = result;
	d[s->ndone].code = code ? strdup(code) : NULL;
	s->ndone++;
	return 0;
}

/* "CODE arg1 arg2" of a completion, for APPENDUID/COPYUID and messages. */
static void format_code(const struct imap_response *r, char *out, size_t outlen)
{
	size_t n;

	if (!out || !outlen)
		return;
	out[0] = '\0';
	if (!r->code)
		return;
	n = (size_t)snprintf(out, outlen, "%s", r->code);
	for (size_t i = 0; i < r->code_args.count && n < outlen; i++) {
		const char *t = imap_value_text(&r->code_args.items[i]);

		n += (size_t)snprintf(out + n, outlen - n, " %s", t ? t : "()");
	}
}

/* Appends text to buf (cap bytes), cut to fit. */
static void append_text(char *buf, size_t cap, const char *text, size_t n)
{
	size_t len = strlen(buf);

	if (len + 1 >= cap)
		return;
	if (n > cap - len - 1)
		n = cap - len - 1;
	memcpy(buf + len, text, n);
	buf[len + n] = '\0';
}

/* Appends v as text (a list in parentheses, nested lists as "(...)"), cut to fit cap. */
static void append_value(char *buf, size_t cap, const struct imap_value *v, int depth)
{
	if (v->type != IMAP_LIST) {
		append_text(buf, cap, v->str ? v->str : "NIL", v->str ? v->len : 3);
		return;
	}
	if (depth)
		append_text(buf, cap, "(", 1);
	for (size_t i = 0; i < v->count; i++) {
		if (i)
			append_text(buf, cap, " ", 1);
		if (depth < 2)
			append_value(buf, cap, &v->items[i], depth + 1);
	}
	if (depth)
		append_text(buf, cap, ")", 1);
}

/* The server's words: "[BADCHARSET (US-ASCII)] text", code arguments kept (cut to fit). */
static void note_refusal(struct session *s, const struct imap_response *r)
{
	char code[200] = "";

	if (r->code) {
		/* room kept for "] " however long the code and its arguments */
		append_text(code, sizeof(code) - 2, "[", 1);
		append_text(code, sizeof(code) - 2, r->code, strlen(r->code));
		if (r->code_args.count)
			append_text(code, sizeof(code) - 2, " ", 1);
		append_value(code, sizeof(code) - 2, &r->code_args, 0);
		append_text(code, sizeof(code), "] ", 2);
	}
	snprintf(s->err, sizeof(s->err), "%s%s", code, r->text ? r->text : "");
}

int session_wait(struct session *s, unsigned tag, session_data_fn fn, void *ctx,
		 char *code, size_t codelen)
{
	char tagstr[16];
	int fn_err = 0;

	if (code && codelen)
		code[0] = '\0';
	s->throttled = false;
	s->data_given = false;
	for (size_t i = 0; i < s->ndone; i++) {
		if (s->done[i].tag == tag) {
			int result = s->done[i].result;

			if (code && codelen && s->done[i].code)
				snprintf(code, codelen, "%s", s->done[i].code);
			free(s->done[i].code);
			s->done[i] = s->done[--s->ndone];
			return result;
		}
	}
	snprintf(tagstr, sizeof(tagstr), "A%u", tag);
	/* A whole answer gets two timeouts: room for a transfer, a bound for a stall. */
	s->deadline_ms = monotonic_ms() + 2 * (int64_t)s->cfg->timeout_ms;
	for (;;) {
		struct imap_response *r = read_response(s);
		int result;

		if (!r) {
			s->deadline_ms = 0;
			return -EIO;
		}
		if (r->kind == IMAP_RESP_UNTAGGED) {
			track_untagged(s, r);
			if (fn && !fn_err) {
				fn_err = fn(ctx, r);
				s->data_given |= is_answer_data(r);
			}
			imap_response_free(r);
			if (s->dead) {
				s->deadline_ms = 0;
				return -EIO;
			}
			continue;
		}
		if (r->kind == IMAP_RESP_CONTINUATION) {
			/* We never leave a literal waiting here: a stray '+' is the server's bug. */
			imap_response_free(r);
			fail(s, -EPROTO, "unexpected continuation request from server");
			s->deadline_ms = 0;
			return -EIO;
		}
		track_tagged(s, r);
		result = imap_completion_errno(r);
		if (result)
			note_refusal(s, r);
		if (strcmp(r->tag, tagstr) == 0) {
			s->throttled = result && imap_completion_throttled(r);
			format_code(r, code, codelen);
			imap_response_free(r);
			s->deadline_ms = 0;
			return fn_err && !result ? fn_err : result;
		}
		if (r->tag[0] == 'A') {
			unsigned long other = strtoul(r->tag + 1, NULL, 10);
			char buf[256];

			/* Only tags we sent and still wait for; a server inventing tags gets nowhere. */
			if (other > 0 && other <= s->next_tag && s->ndone < 1024) {
				format_code(r, buf, sizeof(buf));
				remember_completion(s, (unsigned)other, result, buf);
			}
		}
		imap_response_free(r);
	}
}

/*
 * Waits for the '+' that lets a synchronising literal (or a SASL answer) go
 * out: returns 0 then, or 1 when command tag completed instead (its result is
 * kept for session_wait()). A completion before the '+' is a refusal for a
 * literal, but may be success for AUTHENTICATE with an initial response.
 */
static int wait_continuation(struct session *s, unsigned tag, bool ok_may_end)
{
	char tagstr[16];

	snprintf(tagstr, sizeof(tagstr), "A%u", tag);
	for (;;) {
		struct imap_response *r = read_response(s);
		int result;

		if (!r)
			return -EIO;
		if (r->kind == IMAP_RESP_CONTINUATION) {
			imap_response_free(r);
			return 0;
		}
		if (r->kind == IMAP_RESP_UNTAGGED) {
			track_untagged(s, r);
			imap_response_free(r);
			if (s->dead)
				return -EIO;
			continue;
		}
		track_tagged(s, r);
		result = imap_completion_errno(r);
		if (result)
			note_refusal(s, r);
		if (strcmp(r->tag, tagstr) != 0) {
			/* An earlier pipelined command's answer: keep it for its waiter. */
			unsigned long other = strtoul(r->tag + 1, NULL, 10);

			if (r->tag[0] == 'A' && other > 0 && other <= s->next_tag && s->ndone < 1024)
				remember_completion(s, (unsigned)other, result, NULL);
			imap_response_free(r);
			continue;
		}
		remember_completion(s, tag, result || ok_may_end ? result : -EPROTO, NULL);
		imap_response_free(r);
		return 1;
	}
}

static void trace_command(struct session *s, const char *buf, size_t len)
{
	static const char *const secret[] = { "LOGIN ", "AUTHENTICATE " };
	char prefix[16];
	const char *sp = memchr(buf, ' ', len);

	snprintf(prefix, sizeof(prefix), "C%u:", s->id);
	for (size_t i = 0; sp && i < 2; i++) {
		size_t k = strlen(secret[i]);

		if ((size_t)(buf + len - sp - 1) >= k && strncasecmp(sp + 1, secret[i], k) == 0) {
			char shown[64];
			int n = snprintf(shown, sizeof(shown), "%.*s%s<credentials hidden>",
					 (int)(sp + 1 - buf), buf, secret[i]);

			log_trace(prefix, shown, (size_t)n);
			return;
		}
	}
	log_trace(prefix, buf, len);
}

int session_send(struct session *s, struct imap_cmd *cmd, unsigned *tag)
{
	char head[16];
	size_t pos = 0;
	int n, r;

	if (s->dead)
		return -EIO;
	if (cmd->err)
		return cmd->err;
	*tag = ++s->next_tag;
	n = snprintf(head, sizeof(head), "A%u ", *tag);
	if (log_debug_enabled()) {
		char *line = malloc((size_t)n + cmd->len);

		if (line) {
			memcpy(line, head, (size_t)n);
			memcpy(line + n, cmd->buf, cmd->len);
			trace_command(s, line, (size_t)n + cmd->len);
			free(line);
		}
	}
	r = net_write_more(s->conn, head, (size_t)n);
	for (unsigned i = 0; r == 0 && i < cmd->nsync; i++) {
		r = net_write(s->conn, cmd->buf + pos, cmd->sync[i] - pos);
		if (r == 0) {
			r = wait_continuation(s, *tag, false);
			if (r > 0)
				return 0; /* refused: session_wait() returns the refusal */
		}
		pos = cmd->sync[i];
	}
	if (r == 0)
		r = net_write_more(s->conn, cmd->buf + pos, cmd->len - pos);
	if (r == 0)
		r = net_write(s->conn, "\r\n", 2);
	if (r < 0) {
		fail(s, r, net_error(s->conn));
		return -EIO;
	}
	return 0;
}

/* Sleeps ms; -EINTR as soon as the calling thread is cancelled (util/cancel.h). */
static int pause_ms(int ms)
{
	while (ms > 0) {
		int step = ms < CANCEL_POLL_MS ? ms : CANCEL_POLL_MS;
		struct timespec ts = { 0, (long)step * 1000000L };

		if (cancel_requested())
			return -EINTR;
		nanosleep(&ts, NULL);
		ms -= step;
	}
	return cancel_requested() ? -EINTR : 0;
}

int session_run(struct session *s, struct imap_cmd *cmd, session_data_fn fn, void *ctx)
{
	int budget = s->cfg->timeout_ms < BUSY_MAX_PAUSE_MS ? s->cfg->timeout_ms : BUSY_MAX_PAUSE_MS;
	int pause = BUSY_FIRST_PAUSE_MS, paused = 0, tries;
	int64_t start = monotonic_ms();
	unsigned tag;
	int r;

	for (tries = 1;; tries++) {
		r = session_send(s, cmd, &tag);
		if (r < 0)
			return r;
		r = session_wait(s, tag, fn, ctx, NULL, 0);
		/*
		 * Asked again only while none of an answer went to fn (it would see
		 * it twice) and within the bound; a refusal is a refusal, so nothing
		 * was done and the command may go again, whatever it is.
		 */
		if (!s->throttled || s->dead || s->data_given || tries == BUSY_TRIES ||
		    paused + pause > budget)
			break;
		/* Once a command: a throttled grep -r would otherwise log a line a try. */
		if (tries == 1)
			log_info("server %s is busy (%s); asking again in %d ms", s->cfg->host,
				 session_error(s), pause);
		else
			log_debug("server %s is still busy; asking again in %d ms", s->cfg->host,
				  pause);
		r = pause_ms(pause);
		if (r < 0)
			return r;
		paused += pause;
		pause *= 2;
	}
	if (s->throttled && !s->dead) {
		/* Busy all along: the caller gets EIO, the user a reason in the log. */
		log_error("server %s stays busy (%s): gave up after %d tries in %.1f s", s->cfg->host,
			  session_error(s), tries, (double)(monotonic_ms() - start) / 1000);
		return -EIO;
	}
	return r;
}

int session_run_text(struct session *s, const char *text, session_data_fn fn, void *ctx)
{
	struct imap_cmd cmd;
	int r;

	imap_cmd_init(&cmd, false);
	imap_cmd_raw(&cmd, text);
	r = session_run(s, &cmd, fn, ctx);
	imap_cmd_free(&cmd);
	return r;
}

int session_select(struct session *s, const char *wire_name, bool writable,
		   struct session_mailbox *st)
{
	struct imap_cmd cmd;
	int r;

	if (s->dead)
		return -EIO;
	if (s->selected && strcmp(s->selected, wire_name) == 0 && (s->selected_rw || !writable)) {
		*st = s->sel;
		return 0;
	}
	session_unselect(s);
	imap_cmd_init(&cmd, session_has_cap(s, "LITERAL+"));
	/* EXAMINE for reading: it cannot change the mailbox (no \Recent reset, no flags). */
	imap_cmd_raw(&cmd, writable ? "SELECT " : "EXAMINE ");
	imap_cmd_astring(&cmd, wire_name, strlen(wire_name));
	r = session_run(s, &cmd, NULL, NULL);
	imap_cmd_free(&cmd);
	if (r < 0)
		return r;
	s->selected = strdup(wire_name);
	if (!s->selected)
		return -ENOMEM;
	s->ever_selected = true;
	s->selected_rw = writable;
	*st = s->sel;
	return 0;
}

void session_unselect(struct session *s)
{
	free(s->selected);
	s->selected = NULL;
	s->selected_rw = false;
	memset(&s->sel, 0, sizeof(s->sel));
}

int session_idle(struct session *s, session_data_fn fn, int (*tick)(void *ctx), void *ctx,
		 int max_ms)
{
	struct timespec start, now;
	struct imap_cmd cmd;
	unsigned tag;
	int r;

	if (s->dead)
		return -EIO;
	imap_cmd_init(&cmd, false);
	imap_cmd_raw(&cmd, "IDLE");
	r = session_send(s, &cmd, &tag);
	imap_cmd_free(&cmd);
	if (r < 0)
		return r;
	r = wait_continuation(s, tag, false);
	if (r != 0)
		return r < 0 ? r : session_wait(s, tag, fn, ctx, NULL, 0);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		bool quiet;
		struct imap_response *resp = read_response_within(s, 200, &quiet, s->cfg->timeout_ms);

		if (!resp && !quiet)
			return -EIO;
		if (resp) {
			if (resp->kind == IMAP_RESP_UNTAGGED) {
				track_untagged(s, resp);
				if (fn)
					fn(ctx, resp);
			}
			imap_response_free(resp);
			if (s->dead)
				return -EIO;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (tick(ctx) ||
		    (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >= max_ms)
			break;
	}
	if (log_debug_enabled()) {
		char prefix[16];

		snprintf(prefix, sizeof(prefix), "C%u:", s->id);
		log_trace(prefix, "DONE", 4);
	}
	r = net_write(s->conn, "DONE\r\n", 6);
	if (r < 0) {
		fail(s, r, net_error(s->conn));
		return -EIO;
	}
	return session_wait(s, tag, fn, ctx, NULL, 0);
}

/* Streams size bytes of fd to the server. */
static int send_file(struct session *s, int fd, uint64_t size)
{
	char buf[65536];
	uint64_t off = 0;

	while (off < size) {
		size_t want = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);
		ssize_t n = pread(fd, buf, want, (off_t)off);
		int r;

		if (n <= 0) {
			/* The spool file shrank under us: the literal cannot be completed. */
			log_error("reading the message to upload: %s", n < 0 ? strerror(errno) : "short file");
			fail(s, -EIO, "upload source failed");
			return -EIO;
		}
		r = net_write_more(s->conn, buf, (size_t)n);
		if (r < 0) {
			fail(s, r, net_error(s->conn));
			return -EIO;
		}
		off += (uint64_t)n;
	}
	return 0;
}

int session_run_with_file(struct session *s, struct imap_cmd *cmd, int fd, uint64_t size,
			  char *code, size_t codelen)
{
	bool plus = session_has_cap(s, "LITERAL+");
	char head[16];
	unsigned tag;
	int n, r;

	if (code && codelen)
		code[0] = '\0';
	if (s->dead)
		return -EIO;
	imap_cmd_rawf(cmd, " {%" PRIu64 "%s}\r\n", size, plus ? "+" : "");
	if (cmd->err)
		return cmd->err;
	tag = ++s->next_tag;
	n = snprintf(head, sizeof(head), "A%u ", tag);
	if (log_debug_enabled()) {
		char prefix[16];

		snprintf(prefix, sizeof(prefix), "C%u:", s->id);
		log_trace(prefix, cmd->buf, cmd->len);
	}
	r = net_write_more(s->conn, head, (size_t)n);
	if (r == 0)
		r = plus ? net_write_more(s->conn, cmd->buf, cmd->len)
			 : net_write(s->conn, cmd->buf, cmd->len);
	if (r < 0) {
		fail(s, r, net_error(s->conn));
		return -EIO;
	}
	if (!plus) {
		r = wait_continuation(s, tag, false);
		if (r < 0)
			return r;
		if (r > 0) {
			/* Refused before the literal (TOOBIG, OVERQUOTA, NONEXISTENT ...). */
			return session_wait(s, tag, NULL, NULL, code, codelen);
		}
	}
	r = send_file(s, fd, size);
	if (r == 0 && (r = net_write(s->conn, "\r\n", 2)) < 0) {
		fail(s, r, net_error(s->conn));
		r = -EIO;
	}
	if (r < 0)
		return r;
	return session_wait(s, tag, NULL, NULL, code, codelen);
}

/* ---- opening: greeting, TLS, capabilities, login ---- */

static int read_greeting(struct session *s, bool *preauth)
{
	struct imap_response *r = read_response(s);
	int ret = 0;

	if (!r)
		return -EIO;
	if (r->kind != IMAP_RESP_UNTAGGED ||
	    (r->status != IMAP_STATUS_OK && r->status != IMAP_STATUS_PREAUTH)) {
		snprintf(s->err, sizeof(s->err), "server refused the connection: %s",
			 r->text ? r->text : "no IMAP greeting");
		s->dead = true;
		ret = -EPROTO;
	} else {
		track_untagged(s, r);
		*preauth = r->status == IMAP_STATUS_PREAUTH;
		free(s->greeting);
		s->greeting = strdup(r->text ? r->text : "");
	}
	imap_response_free(r);
	return ret;
}

static int starttls(struct session *s)
{
	int r;

	if (!session_has_cap(s, "STARTTLS")) {
		snprintf(s->err, sizeof(s->err),
			 "server %s does not offer STARTTLS: refusing to send the password in the "
			 "clear (use imaps:// or, on a trusted network, -o tls=none)", s->cfg->host);
		return -EPROTO;
	}
	r = session_run_text(s, "STARTTLS", NULL, NULL);
	if (r < 0) {
		char why[sizeof(s->err)];

		snprintf(why, sizeof(why), "server %s refused STARTTLS: %.300s", s->cfg->host,
			 session_error(s));
		snprintf(s->err, sizeof(s->err), "%s", why);
		return -EPROTO;
	}
	/*
	 * Anything already buffered was sent before the handshake and could have
	 * been injected by a man in the middle (CVE-2021-22947 and kin): drop it.
	 */
	if (s->rpos != s->rlen || imap_parser_pending(s->parser))
		log_warn("discarding %zu bytes the server sent before the TLS handshake",
			 s->rlen - s->rpos);
	s->rpos = s->rlen = 0;
	imap_parser_reset(s->parser);
	free_caps(s);
	r = net_start_tls(s->conn, s->cfg->tls_ctx);
	if (r < 0) {
		snprintf(s->err, sizeof(s->err), "%s", net_error(s->conn));
		return -EPROTO;
	}
	return 0;
}

static char *base64(const unsigned char *raw, size_t len)
{
	char *b64 = malloc(4 * ((len + 2) / 3) + 1);

	if (b64)
		EVP_EncodeBlock((unsigned char *)b64, raw, (int)len);
	return b64;
}

/*
 * A refused login, told as what it is: a busy server or one that takes no
 * more connections from this account (Gmail's 15) is no wrong password, and
 * an account that takes only OAuth (Microsoft 365) refuses a password just
 * as it refuses a wrong one, so the user hears that the server offers it.
 */
static int login_refused(struct session *s, const char *what, bool offer_oauth)
{
	const struct session_config *cfg = s->cfg;
	char why[200];

	snprintf(why, sizeof(why), "%.199s", session_error(s));
	if (s->throttled) {
		snprintf(s->err, sizeof(s->err), "server %.100s is busy: %s; try again later",
			 cfg->host, why);
		return -EAGAIN;
	}
	if (strcasestr(why, "too many simultaneous connections") ||
	    strcasestr(why, "too many connections")) {
		snprintf(s->err, sizeof(s->err),
			 "server %.100s takes no more connections for %.100s: %s (other mail clients "
			 "hold the rest; close some, or lower -o connections)", cfg->host, cfg->user, why);
		return -EUSERS;
	}
	if (offer_oauth && (session_has_cap(s, "AUTH=XOAUTH2") ||
			    session_has_cap(s, "AUTH=OAUTHBEARER")))
		snprintf(s->err, sizeof(s->err),
			 "%.40s for %.100s: %s (the server offers OAuth 2.0, which some providers "
			 "require instead of a password: -o auth=xoauth2 -o oauth_token_command=CMD)",
			 what, cfg->user, why);
	else
		snprintf(s->err, sizeof(s->err), "%.40s for %.100s: %s", what, cfg->user, why);
	return -EACCES;
}

/*
 * SASL XOAUTH2 / OAUTHBEARER with the initial response. A refused token gets
 * an error challenge, which the client must answer (empty line, or %x01 for
 * OAUTHBEARER, RFC 7628 §3.2.3) before the tagged NO comes.
 */
static int login_oauth(struct session *s)
{
	const struct session_config *cfg = s->cfg;
	bool bearer = cfg->auth == SESSION_AUTH_OAUTHBEARER;
	const char *mech = bearer ? "OAUTHBEARER" : "XOAUTH2";
	char *token = NULL, *raw = NULL, *b64 = NULL, head[16], capname[32], why[256];
	unsigned tag;
	int n, r;

	snprintf(capname, sizeof(capname), "AUTH=%s", mech);
	if (!session_has_cap(s, capname)) {
		snprintf(s->err, sizeof(s->err), "server does not offer %s", mech);
		return -EPROTO;
	}
	r = cfg->get_token(cfg->token_ctx, &token, why, sizeof(why));
	if (r < 0) {
		snprintf(s->err, sizeof(s->err), "no OAuth token: %s", why);
		return -EACCES;
	}
	if (bearer)
		n = asprintf(&raw, "n,a=%s,\001host=%s\001port=%s\001auth=Bearer %s\001\001", cfg->user,
			     cfg->host, cfg->port, token);
	else
		n = asprintf(&raw, "user=%s\001auth=Bearer %s\001\001", cfg->user, token);
	OPENSSL_cleanse(token, strlen(token));
	free(token);
	if (n < 0)
		return -ENOMEM;
	b64 = base64((unsigned char *)raw, (size_t)n);
	OPENSSL_cleanse(raw, (size_t)n);
	free(raw);
	if (!b64)
		return -ENOMEM;
	tag = ++s->next_tag;
	n = snprintf(head, sizeof(head), "A%u ", tag);
	if (log_debug_enabled()) {
		char prefix[16], shown[64];
		int k = snprintf(shown, sizeof(shown), "A%u AUTHENTICATE %s <credentials hidden>", tag, mech);

		snprintf(prefix, sizeof(prefix), "C%u:", s->id);
		log_trace(prefix, shown, (size_t)k);
	}
	r = net_write(s->conn, head, (size_t)n);
	if (r == 0)
		r = net_write(s->conn, "AUTHENTICATE ", 13);
	if (r == 0)
		r = net_write(s->conn, mech, strlen(mech));
	if (r == 0)
		r = net_write(s->conn, " ", 1);
	if (r == 0)
		r = net_write(s->conn, b64, strlen(b64));
	if (r == 0)
		r = net_write(s->conn, "\r\n", 2);
	OPENSSL_cleanse(b64, strlen(b64));
	free(b64);
	if (r < 0) {
		fail(s, r, net_error(s->conn));
		return -EIO;
	}
	r = wait_continuation(s, tag, true);
	if (r == 0) {
		/* The error challenge: answer it so the server sends its NO. */
		r = net_write(s->conn, bearer ? "AQ==\r\n" : "\r\n", bearer ? 6 : 2);
		if (r < 0) {
			fail(s, r, net_error(s->conn));
			return -EIO;
		}
	} else if (r < 0) {
		return r;
	}
	r = session_wait(s, tag, NULL, NULL, NULL, 0);
	if (r < 0 && !s->dead)
		return login_refused(s, "OAuth token refused", false);
	return r;
}

static int login(struct session *s)
{
	const struct session_config *cfg = s->cfg;
	struct imap_cmd cmd;
	int r;

	if (cfg->auth != SESSION_AUTH_PASSWORD)
		return login_oauth(s);
	if (!cfg->user || !cfg->password) {
		snprintf(s->err, sizeof(s->err), "no user name or password");
		return -EACCES;
	}
	imap_cmd_init(&cmd, session_has_cap(s, "LITERAL+"));
	if (session_has_cap(s, "AUTH=PLAIN")) {
		/* SASL PLAIN: authzid NUL authcid NUL password, base64 so nothing needs quoting. */
		size_t ulen = strlen(cfg->user), plen = strlen(cfg->password);
		size_t rawlen = 1 + ulen + 1 + plen;
		unsigned char *raw = malloc(rawlen);
		char *b64 = malloc(4 * ((rawlen + 2) / 3) + 1);

		if (!raw || !b64) {
			free(raw);
			free(b64);
			imap_cmd_free(&cmd);
			return -ENOMEM;
		}
		raw[0] = '\0';
		memcpy(raw + 1, cfg->user, ulen);
		raw[1 + ulen] = '\0';
		memcpy(raw + 2 + ulen, cfg->password, plen);
		EVP_EncodeBlock((unsigned char *)b64, raw, (int)rawlen);
		OPENSSL_cleanse(raw, rawlen);
		free(raw);
		if (session_has_cap(s, "SASL-IR")) {
			imap_cmd_raw(&cmd, "AUTHENTICATE PLAIN ");
			imap_cmd_raw(&cmd, b64);
		} else {
			/* The response goes as a continuation line: reuse the literal machinery. */
			imap_cmd_raw(&cmd, "AUTHENTICATE PLAIN\r\n");
			cmd.sync[cmd.nsync++] = cmd.len;
			imap_cmd_raw(&cmd, b64);
		}
		OPENSSL_cleanse(b64, strlen(b64));
		free(b64);
	} else if (session_has_cap(s, "LOGINDISABLED")) {
		bool oauth = session_has_cap(s, "AUTH=XOAUTH2") || session_has_cap(s, "AUTH=OAUTHBEARER");

		snprintf(s->err, sizeof(s->err),
			 "server disables LOGIN and offers no AUTH=PLAIN we could use%s",
			 oauth ? "; it offers OAuth 2.0: -o auth=xoauth2 -o oauth_token_command=CMD" : "");
		imap_cmd_free(&cmd);
		return -EPROTO;
	} else {
		imap_cmd_raw(&cmd, "LOGIN ");
		imap_cmd_astring(&cmd, cfg->user, strlen(cfg->user));
		imap_cmd_sp(&cmd);
		imap_cmd_astring(&cmd, cfg->password, strlen(cfg->password));
	}
	r = session_run(s, &cmd, NULL, NULL);
	OPENSSL_cleanse(cmd.buf, cmd.len);
	imap_cmd_free(&cmd);
	if (r < 0 && !s->dead)
		return login_refused(s, "authentication failed", true);
	return r;
}

int session_open(const struct session_config *cfg, unsigned id, struct session **out,
		 char *err, size_t errlen)
{
	struct session *s = calloc(1, sizeof(*s));
	struct imap_parser_limits limits;
	bool preauth = false;
	int r;

	if (!s)
		return -ENOMEM;
	s->cfg = cfg;
	s->id = id;
	/*
	 * Nesting comes from mail senders too (BODYSTRUCTURE of a crafted
	 * message): deep enough that such a message cannot kill the connection;
	 * the parser's stack is its own, not the C stack.
	 */
	limits = imap_parser_default_limits;
	limits.max_depth = 4096;
	s->parser = imap_parser_new(&limits);
	if (!s->parser) {
		r = -ENOMEM;
		goto fail;
	}
	r = net_connect(cfg->host, cfg->port, cfg->timeout_ms, &s->conn, s->err, sizeof(s->err));
	if (r < 0)
		goto fail;
	if (cfg->tls == SESSION_TLS_IMPLICIT) {
		r = net_start_tls(s->conn, cfg->tls_ctx);
		if (r < 0) {
			snprintf(s->err, sizeof(s->err), "%s", net_error(s->conn));
			goto fail;
		}
	}
	r = read_greeting(s, &preauth);
	if (r < 0)
		goto fail;
	if (cfg->tls == SESSION_TLS_STARTTLS) {
		if (preauth) {
			/* PREAUTH leaves no chance to STARTTLS: the session would stay in the clear. */
			snprintf(s->err, sizeof(s->err),
				 "server %s sent PREAUTH where STARTTLS was required", cfg->host);
			r = -EPROTO;
			goto fail;
		}
		if (!s->ncaps && (r = session_run_text(s, "CAPABILITY", NULL, NULL)) < 0)
			goto fail;
		r = starttls(s);
		if (r < 0)
			goto fail;
	}
	if (!s->ncaps && (r = session_run_text(s, "CAPABILITY", NULL, NULL)) < 0)
		goto fail;
	if (!preauth) {
		unsigned caps_before = s->caps_version;

		r = login(s);
		if (r < 0)
			goto fail;
		/* Capabilities may grow after login; ask unless the OK already told us. */
		if (s->caps_version == caps_before &&
		    (r = session_run_text(s, "CAPABILITY", NULL, NULL)) < 0)
			goto fail;
	}
	*out = s;
	return 0;
fail:
	snprintf(err, errlen, "%s", s->err[0] ? s->err : strerror(-r));
	s->dead = true;
	session_close(s);
	return r < 0 ? r : -EIO;
}

void session_close(struct session *s)
{
	if (!s)
		return;
	if (!s->dead && s->conn) {
		/* Best effort and short: a LOGOUT the server never answers must not hold us. */
		net_set_timeout(s->conn, 1000);
		session_run_text(s, "LOGOUT", NULL, NULL);
	}
	net_close(s->conn);
	imap_parser_free(s->parser);
	free_caps(s);
	for (size_t i = 0; i < s->ndone; i++)
		free(s->done[i].code);
	free(s->done);
	free(s->greeting);
	free(s->selected);
	free(s);
}
