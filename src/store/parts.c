/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "store/parts.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "driver/fetch.h"
#include "imap/bodystructure.h"
#include "log.h"
#include "mime/header.h"
#include "mime/name.h"
#include "store/parts_cache.h"
#include "store/parts_record.h"
#include "store/pool.h"
#include "store/store_internal.h"
#include "util/cancel.h"

/* Parts this small are fetched whole while loading: one round trip for all. */
#define SMALL_PART (64u << 10)
/* Header blocks larger than this are refused (a hostile server's). */
#define MAX_HEADER (1u << 20)
/* ---- fetching items of one message ---- */

struct items_job {
	const char *wire;
	uint32_t uidvalidity;
	struct driver_items *f;
};

static int items_job(struct session *s, void *ctx)
{
	struct items_job *j = ctx;

	return driver_fetch_items(s, j->wire, j->uidvalidity, j->f);
}

/* One UID FETCH of f's items of a message of mailbox id, as of uidvalidity. */
static int item_fetch_run(struct store *st, struct driver_items *f, uint32_t id,
			  uint32_t uidvalidity)
{
	struct items_job j = { .uidvalidity = uidvalidity, .f = f };
	char *wire = store_mailbox_wire(st, id);
	int r;

	if (!wire)
		return -ESTALE;
	j.wire = wire;
	r = pool_run(store_pool(st), wire, items_job, &j);
	free(wire);
	return r;
}

/* ---- loading a message's structure ---- */

struct binary_probe {
	bool has;
};

static int binary_job(struct session *s, void *ctx)
{
	struct binary_probe *b = ctx;

	b->has = driver_has_binary(s);
	return 0;
}


static char *header_value(const struct store_parts *p, const char *field)
{
	char *raw = mime_header_field(p->header, p->header_len, field);
	char *v;

	if (!raw)
		return NULL;
	v = mime_header_decode(raw, strlen(raw));
	free(raw);
	return v;
}

static char *params_get(const struct bs_param *bp, size_t n, const char *name)
{
	struct mime_param *mp;
	char *v;

	if (!n)
		return NULL;
	mp = calloc(n, sizeof(*mp));
	if (!mp)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		mp[i].name = bp[i].name;
		mp[i].value = bp[i].value;
	}
	v = mime_param_get(mp, n, name);
	free(mp);
	return v;
}

/* What loading needs to learn about one part, beyond BODYSTRUCTURE. */
struct part_plan {
	int whole, head, tail; /* indexes of the fetch items, or -1 */
	int end;               /* the bytes around the claimed end of a part served raw */
	bool binary;           /* whole comes decoded by the server */
	bool sniff;
	char *filename;
	char *type, *subtype;
};

/* What the message does not say: libmagic looks at the bytes instead. */
static bool declared_opaque(const struct bs_part *bp)
{
	return bp->untyped ||
	       (strcmp(bp->type, "application") == 0 && strcmp(bp->subtype, "octet-stream") == 0);
}

/* A part whose bytes are read as the server has them, ranged (no decoding). */
static bool part_served_raw(const struct store_part *sp)
{
	return sp->kind == PART_MESSAGE || sp->cte == MIME_CTE_IDENTITY ||
	       sp->cte == MIME_CTE_UNKNOWN;
}

static int plan_part(struct driver_items *f, const struct store_part *sp, bool binary,
		     struct part_plan *plan)
{
	int r = 0;

	plan->whole = plan->head = plan->tail = plan->end = -1;
	plan->binary = false;
	plan->sniff = sp->opaque;
	if (sp->kind == PART_HEADER || sp->broken)
		return 0;
	if (part_served_raw(sp)) {
		/*
		 * Its size is BODYSTRUCTURE's word, which a server may get wrong
		 * (issue 15): the byte before the claimed end and the one after it
		 * tell whether the part ends there.
		 */
		plan->end = r = driver_items_add(f, false, sp->section,
						 sp->encoded_size ? sp->encoded_size - 1 : 0,
						 sp->encoded_size ? 2 : 1);
		if (r < 0 || sp->kind != PART_LEAF)
			return r < 0 ? r : 0;
	}
	if (sp->cte == MIME_CTE_QP || (sp->cte == MIME_CTE_BASE64 && sp->encoded_size <= SMALL_PART)) {
		/*
		 * With BINARY the server decodes, and the literal's length is the exact
		 * size. Not for quoted-printable: Dovecot deletes trailing white space
		 * of encoded lines (RFC 2045 §6.7 rule 3) where every mail reader keeps
		 * it, so both paths would not give the same bytes.
		 */
		if (sp->cte == MIME_CTE_QP)
			binary = false;
		plan->whole = driver_items_add(f, binary, sp->section, 0, DRIVER_WHOLE);
		plan->binary = binary;
		return plan->whole < 0 ? plan->whole : 0;
	}
	if (sp->cte == MIME_CTE_BASE64 || plan->sniff) {
		plan->head = r = driver_items_add(f, false, sp->section, 0, B64_PROBE_BYTES);
		if (r < 0)
			return r;
	}
	if (sp->cte == MIME_CTE_BASE64) {
		uint64_t off = sp->encoded_size > B64_PROBE_BYTES ? sp->encoded_size - B64_PROBE_BYTES : 0;

		if (off == 0) {
			plan->tail = plan->head; /* the same bytes */
			return 0;
		}
		/* One byte more: a part longer than BODYSTRUCTURE says shows so. */
		plan->tail = r = driver_items_add(f, false, sp->section, off, B64_PROBE_BYTES + 1);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Decodes fetched encoded bytes of a whole part and keeps them. */
static int keep_decoded(struct store_parts *p, struct store_part *sp, const char *enc, size_t len)
{
	size_t outlen;
	int r;

	if (!enc) {
		/* The server left the item out: the part cannot be sized, so not shown as empty. */
		log_warn("message UID %" PRIu32 " part %s: server sent no content", p->uid, sp->section);
		sp->broken = true;
		return 0;
	}
	/* A part served raw is kept raw, as its ranged reads would give it. */
	r = mime_decode(part_served_raw(sp) ? MIME_CTE_IDENTITY : sp->cte, enc, len, &sp->content,
			&outlen);
	if (r < 0)
		return r;
	sp->size = outlen;
	sp->content_len = outlen;
	return 0;
}

/* Fetches and keeps, one command for all, the parts no cheaper way could size. */
static int fetch_whole(struct store *st, struct store_parts *p, bool *need)
{
	struct driver_items *f = calloc(1, sizeof(*f));
	size_t idx[DRIVER_MAX_ITEMS];
	int r = 0;

	if (!f)
		return -ENOMEM;
	driver_items_init(f, p->uid);
	for (size_t i = 0; i < p->n; i++) {
		if (!need[i])
			continue;
		if (!driver_items_room(f)) {
			/* Plenty in one round trip: the rest go in the next. */
			r = item_fetch_run(st, f, p->mailbox, p->uidvalidity);
			for (size_t j = 0; r == 0 && j < f->nkeys; j++)
				r = keep_decoded(p, &p->parts[idx[j]], f->val[j], f->len[j]);
			driver_items_clear(f);
			driver_items_init(f, p->uid);
			if (r < 0)
				goto out;
		}
		idx[f->nkeys] = i;
		if (driver_items_add(f, false, p->parts[i].section, 0, DRIVER_WHOLE) < 0) {
			/* Cannot be asked for (a section too long): unreadable, not misread. */
			p->parts[i].broken = true;
		}
	}
	if (f->nkeys) {
		r = item_fetch_run(st, f, p->mailbox, p->uidvalidity);
		for (size_t j = 0; r == 0 && j < f->nkeys; j++)
			r = keep_decoded(p, &p->parts[idx[j]], f->val[j], f->len[j]);
	}
out:
	driver_items_clear(f);
	free(f);
	return r;
}

/* Sizes and sniffs parts [first, next) from the answers to their plans in f. */
static int apply_plans(struct store_parts *p, const struct driver_items *f,
		       const struct part_plan *plan, bool *need_whole, size_t first, size_t next)
{
	int r = 0;

	for (size_t i = first; i < next && r == 0; i++) {
		struct store_part *sp = &p->parts[i];
		const struct part_plan *pl = &plan[i];
		const char *head = pl->head >= 0 ? f->val[pl->head] : NULL;
		size_t headlen = pl->head >= 0 ? f->len[pl->head] : 0;

		if (pl->whole >= 0 && pl->binary) {
			enum mime_cte cte = sp->cte;

			sp->cte = MIME_CTE_IDENTITY; /* already decoded: keep as is */
			r = keep_decoded(p, sp, f->val[pl->whole], f->len[pl->whole]);
			sp->cte = cte;
		} else if (pl->whole >= 0) {
			r = keep_decoded(p, sp, f->val[pl->whole], f->len[pl->whole]);
		} else if (pl->end >= 0) {
			size_t want = sp->encoded_size ? 1 : 0;

			/* No answer is no evidence: the claim stands, as before. */
			if (f->val[pl->end] && f->len[pl->end] != want) {
				log_warn("message UID %" PRIu32 " part %s: the server's size of it (%" PRIu64
					 " bytes) is wrong; fetching it whole", p->uid, sp->section,
					 sp->encoded_size);
				need_whole[i] = true;
			}
		} else if (sp->cte == MIME_CTE_BASE64) {
			const char *tail = pl->tail >= 0 ? f->val[pl->tail] : NULL;
			size_t taillen = pl->tail >= 0 ? f->len[pl->tail] : 0;
			uint64_t tail_off = pl->tail == pl->head ? 0 : sp->encoded_size - B64_PROBE_BYTES;

			/* The tail must end where BODYSTRUCTURE says the part ends. */
			if (tail && pl->tail != pl->head && taillen != sp->encoded_size - tail_off) {
				log_warn("message UID %" PRIu32 " part %s: the server's size of it (%" PRIu64
					 " bytes) is wrong; fetching it whole", p->uid, sp->section,
					 sp->encoded_size);
				tail = NULL;
			}
			if (head && tail &&
			    b64_layout_probe(head, headlen, tail, taillen, sp->encoded_size,
					     &sp->layout) == 0) {
				sp->has_layout = true;
				sp->size = sp->layout.decoded_size;
			} else {
				need_whole[i] = true;
			}
		}
		if (pl->sniff && !need_whole[i]) {
			char *sniffed = NULL, *dec = NULL;
			size_t declen = 0;

			if (sp->content)
				sniffed = mime_sniff(sp->content, sp->size < 4096 ? sp->size : 4096);
			else if (head && mime_decode(sp->cte, head, headlen, &dec, &declen) == 0)
				sniffed = mime_sniff(dec, declen);
			free(dec);
			if (sniffed) {
				free(sp->mime_type);
				sp->mime_type = sniffed;
			}
		}
	}
	return r;
}

/*
 * Runs the probes every part needs, then sizes and sniffs them. Starts over
 * from what BODYSTRUCTURE said, so a sizing that failed half way can be tried
 * again.
 */
static int size_parts(struct store *st, struct store_parts *p)
{
	struct driver_items *f = calloc(1, sizeof(*f));
	struct part_plan *plan = calloc(p->n, sizeof(*plan));
	bool *need_whole = calloc(p->n, sizeof(*need_whole));
	struct binary_probe probe = { false };
	size_t next = 1;
	bool binary;
	int r = 0;

	if (!f || !plan || !need_whole) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 1; i < p->n; i++) {
		struct store_part *sp = &p->parts[i];

		free(sp->content);
		sp->content = NULL;
		sp->content_len = 0;
		sp->has_layout = false;
		sp->size = sp->encoded_size;
	}
	binary = p->binary_ok && pool_run(store_pool(st), NULL, binary_job, &probe) == 0 && probe.has;
	while (next < p->n && r == 0) {
		size_t first = next;

		driver_items_init(f, p->uid);
		/* Plan as many parts as fit in one command. */
		for (; next < p->n; next++) {
			size_t saved = f->nkeys;

			r = plan_part(f, &p->parts[next], binary, &plan[next]);
			if (r == -E2BIG) {
				driver_items_truncate(f, saved);
				r = 0;
				break;
			}
			if (r < 0)
				goto out;
		}
		if (next == first) {
			r = -E2BIG;
			break;
		}
		if (f->nkeys)
			r = item_fetch_run(st, f, p->mailbox, p->uidvalidity);
		if (r < 0 && r != -ESTALE && binary) {
			/*
			 * BINARY refused (NO [UNKNOWN-CTE], [PARSE]) or the server hung up
			 * on it (Dovecot does on some truncated base64): this batch again,
			 * decoded locally.
			 */
			log_warn("message UID %" PRIu32 ": BINARY fetch failed (%s); decoding locally",
				 p->uid, strerror(-r));
			binary = false;
			p->binary_ok = false;
			driver_items_clear(f);
			next = first;
			r = 0;
			continue;
		}
		r = apply_plans(p, f, plan, need_whole, first, next);
		driver_items_clear(f);
	}
	if (r == 0)
		r = fetch_whole(st, p, need_whole);
	for (size_t i = 1; i < p->n && r == 0; i++) {
		struct store_part *sp = &p->parts[i];

		if (plan[i].sniff && need_whole[i] && sp->content) {
			char *sniffed = mime_sniff(sp->content, sp->size < 4096 ? sp->size : 4096);

			if (sniffed) {
				free(sp->mime_type);
				sp->mime_type = sniffed;
			}
		}
	}
out:
	if (f)
		driver_items_clear(f);
	free(f);
	free(plan);
	free(need_whole);
	return r;
}

/* Names every part file; called once types are final (after sniffing). */
static int name_parts(struct store_parts *p, const struct bs_tree *tree)
{
	for (size_t i = 1; i < p->n; i++) {
		struct store_part *sp = &p->parts[i];
		const struct bs_part *bp = &tree->parts[i - 1];
		char *filename, *slash, *type;

		if (sp->kind == PART_MESSAGE) {
			if (asprintf(&sp->name, "%s.eml", sp->section) < 0)
				return -ENOMEM;
			continue;
		}
		filename = params_get(bp->disp_params, bp->ndisp_params, "filename");
		if (!filename)
			filename = params_get(bp->params, bp->nparams, "name");
		type = strdup(sp->mime_type);
		if (!type) {
			free(filename);
			return -ENOMEM;
		}
		slash = strchr(type, '/');
		if (slash)
			*slash++ = '\0';
		sp->name = mime_part_filename(sp->section, filename, type, slash ? slash : "");
		free(type);
		free(filename);
		if (!sp->name)
			return -ENOMEM;
	}
	return 0;
}

static int build_parts(struct store_parts *p, const struct bs_tree *tree)
{
	p->parts = calloc(1 + (tree ? tree->n : 0), sizeof(*p->parts));
	if (!p->parts)
		return -ENOMEM;
	p->parts[0].kind = PART_HEADER;
	p->parts[0].name = strdup("header.txt");
	p->parts[0].mime_type = strdup("text/plain");
	p->parts[0].size = p->header_len;
	p->n = 1;
	if (!p->parts[0].name || !p->parts[0].mime_type)
		return -ENOMEM;
	for (size_t i = 0; tree && i < tree->n; i++) {
		const struct bs_part *bp = &tree->parts[i];
		struct store_part *sp = &p->parts[p->n++];

		sp->kind = bp->is_message || (strcmp(bp->type, "message") == 0 &&
					      (strcmp(bp->subtype, "rfc822") == 0 ||
					       strcmp(bp->subtype, "global") == 0))
				   ? PART_MESSAGE : PART_LEAF;
		sp->section = strdup(bp->section);
		if (asprintf(&sp->mime_type, "%s/%s", bp->type, bp->subtype) < 0)
			sp->mime_type = NULL;
		sp->charset = params_get(bp->params, bp->nparams, "charset");
		sp->cte = sp->kind == PART_MESSAGE ? MIME_CTE_IDENTITY : mime_cte_from_name(bp->encoding);
		sp->encoded_size = bp->size;
		sp->size = bp->size;
		sp->opaque = sp->kind == PART_LEAF && declared_opaque(bp);
		if (bp->size > STORE_MAX_FILE) {
			log_warn("message UID %" PRIu32 " part %s: size %" PRIu64 " refused", p->uid,
				 bp->section, bp->size);
			sp->broken = true;
			sp->size = sp->encoded_size = 0;
		}
		if (!sp->section || !sp->mime_type)
			return -ENOMEM;
	}
	return 0;
}

static bool any_opaque(const struct store_parts *p)
{
	for (size_t i = 1; i < p->n; i++)
		if (p->parts[i].opaque && !p->parts[i].broken)
			return true;
	return false;
}

static struct store_parts *parts_new(uint32_t id, uint32_t uidvalidity, uint32_t uid,
				     int64_t date)
{
	struct store_parts *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->size_lock, NULL);
	p->mailbox = id;
	p->uidvalidity = uidvalidity;
	p->uid = uid;
	p->date = date;
	p->binary_ok = true;
	return p;
}

static void header_fields(struct store_parts *p)
{
	p->subject = header_value(p, "Subject");
	p->from = header_value(p, "From");
	p->date_text = header_value(p, "Date");
	p->message_id = header_value(p, "Message-ID");
}

/* The structure kept on disk for the message (store/parts_record.h), or -ENOENT. */
static int parts_from_disk(struct store *st, uint32_t id, uint32_t uidvalidity, uint32_t uid,
			   int64_t date, struct store_parts **out)
{
	struct store_parts *p = parts_new(id, uidvalidity, uid, date);
	int r;

	if (!p)
		return -ENOMEM;
	r = parts_record_load(st, p);
	if (r < 0) {
		store_parts_free(p);
		return r;
	}
	header_fields(p);
	*out = p;
	return 0;
}

/*
 * Builds a message's parts from its header block (taken over) and structure
 * (NULL when the server's was not understood). Sizes them now only where a
 * name may depend on sniffed bytes.
 */
static int parts_from_structure(struct store *st, uint32_t id, uint32_t uidvalidity, uint32_t uid,
				int64_t date, char *header, size_t header_len,
				const struct bs_tree *tree, struct store_parts **out)
{
	struct store_parts *p = parts_new(id, uidvalidity, uid, date);
	int r;

	if (!p) {
		free(header);
		return -ENOMEM;
	}
	p->header = header;
	p->header_len = header_len;
	header_fields(p);
	r = build_parts(p, tree);
	if (r == 0 && any_opaque(p)) {
		r = size_parts(st, p);
		if (r == 0) {
			for (size_t i = 1; i < p->n; i++)
				p->kept_bytes += p->parts[i].content_len;
			atomic_store(&p->sized, true);
		}
	} else if (r == 0 && p->n == 1) {
		atomic_store(&p->sized, true); /* the header alone: its size is known */
	}
	if (r == 0 && tree)
		r = name_parts(p, tree);
	if (r < 0) {
		store_parts_free(p);
		return r;
	}
	*out = p;
	return 0;
}

/* A message's header block, or NULL (when it is refused) after logging why. */
static char *take_header(uint32_t uid, char **val, size_t len)
{
	char *h = *val;

	if (len > MAX_HEADER) {
		log_warn("message UID %" PRIu32 ": header of %zu bytes refused", uid, len);
		return NULL;
	}
	*val = NULL;
	return h ? h : strdup("");
}

static void log_structure(uint32_t uid, const struct bs_tree *tree, int err)
{
	if (!tree)
		log_warn("message UID %" PRIu32 ": body structure not understood (%s); only its "
			 "header is listed", uid, strerror(err ? -err : EPROTO));
	else if (tree->skipped)
		log_warn("message UID %" PRIu32 ": %u part(s) of its structure not understood; "
			 "listing the rest", uid, tree->skipped);
}

static int load_parts(struct store *st, uint32_t id, uint32_t uidvalidity, uint32_t uid,
		      int64_t date, struct store_parts **out)
{
	struct driver_items *f = calloc(1, sizeof(*f));
	const struct bs_tree *tree;
	char *header;
	int r;

	if (!f)
		return -ENOMEM;
	driver_items_init(f, uid);
	f->want_structure = true;
	f->max_parts = STORE_MAX_PARTS - 1;
	driver_items_add(f, false, "HEADER", 0, DRIVER_WHOLE);
	r = item_fetch_run(st, f, id, uidvalidity);
	if (r < 0)
		goto out;
	header = take_header(uid, &f->val[0], f->len[0]);
	if (!header) {
		r = f->len[0] > MAX_HEADER ? -EFBIG : -ENOMEM;
		goto out;
	}
	tree = f->have_tree ? &f->tree : NULL;
	log_structure(uid, tree, f->tree_err);
	r = parts_from_structure(st, id, uidvalidity, uid, date, header, f->len[0], tree, out);
	if (r == 0)
		parts_record_keep(st, out, 1);
out:
	driver_items_clear(f);
	free(f);
	return r;
}

/* ---- loading the structures of messages read one after another ---- */

/* Messages whose structures one command asks for. */
#define BATCH_MESSAGES DRIVER_BATCH_MESSAGES

struct structure_batch {
	const char *wire;
	uint32_t uidvalidity;
	struct store_msg msg[BATCH_MESSAGES];
	struct driver_structures d;
};

static int batch_job(struct session *s, void *ctx)
{
	struct structure_batch *b = ctx;

	return driver_fetch_structures(s, b->wire, b->uidvalidity, &b->d);
}

/*
 * Loads the structures of message uid of mailbox id and of the ones after it
 * (in UID order, up to BATCH_MESSAGES in all, leaving out those cached) with
 * one command. The others go into the cache; uid's is returned in *out, or
 * -ENOENT if the server did not answer for it.
 */
static int load_batch(struct store *st, uint32_t id, uint32_t uidvalidity, uint32_t uid,
		      struct store_parts **out)
{
	struct parts_cache *c = store_parts_cache(st);
	struct structure_batch *b = calloc(1, sizeof(*b));
	struct store_msg next[BATCH_MESSAGES];
	struct store_parts *loaded[BATCH_MESSAGES];
	size_t nloaded = 0;
	ssize_t n;
	int r;

	*out = NULL;
	if (!b)
		return -ENOMEM;
	n = store_next_messages(st, id, uidvalidity, uid - 1, next, BATCH_MESSAGES);
	if (n <= 0 || next[0].uid != uid) {
		r = n < 0 ? (int)n : -ENOENT;
		goto out;
	}
	b->d.max_header = MAX_HEADER;
	b->d.max_parts = STORE_MAX_PARTS - 1;
	for (ssize_t i = 0; i < n; i++) {
		if (i == 0 || !parts_cache_has(c, id, uidvalidity, next[i].uid)) {
			b->msg[b->d.n] = next[i];
			b->d.m[b->d.n++].uid = next[i].uid;
		}
	}
	b->uidvalidity = uidvalidity;
	b->wire = store_mailbox_wire(st, id);
	if (!b->wire) {
		r = -ESTALE;
		goto out;
	}
	r = pool_run(store_pool(st), b->wire, batch_job, b);
	for (size_t i = 0; i < b->d.n && r == 0; i++) {
		struct driver_structure *bm = &b->d.m[i];
		struct store_parts *p;
		char *header;

		if (!bm->found || bm->header_refused)
			continue;
		header = take_header(bm->uid, &bm->header, bm->header_len);
		if (!header)
			continue; /* refused, or out of memory: loading it alone says which */
		log_structure(bm->uid, bm->have_tree ? &bm->tree : NULL, bm->tree_err);
		if (parts_from_structure(st, id, uidvalidity, bm->uid, b->msg[i].date, header,
					 bm->header_len, bm->have_tree ? &bm->tree : NULL, &p) < 0)
			continue;
		loaded[nloaded++] = p;
	}
	parts_record_keep(st, loaded, nloaded);
	for (size_t i = 0; i < nloaded; i++) {
		if (loaded[i]->uid == uid)
			*out = loaded[i];
		else
			parts_cache_insert(c, loaded[i], false);
	}
	if (r == 0 && !*out)
		r = -ENOENT;
out:
	driver_structures_clear(&b->d);
	free((char *)b->wire);
	free(b);
	return r;
}

int store_parts_get(struct store *st, uint32_t id, uint32_t uidvalidity, uint32_t uid,
		    int64_t date, struct store_parts **out)
{
	struct parts_cache *c = store_parts_cache(st);
	struct store_parts *loaded = NULL;
	struct store_msg prev;
	bool in_order;
	int r;

	*out = parts_cache_get(c, id, uidvalidity, uid);
	if (*out)
		return 0;
	/* The message after the last one loaded: a walk (grep -r, find) is going on. */
	in_order = parts_cache_note_wanted(c, id, uidvalidity, uid, &prev.uid);
	r = parts_from_disk(st, id, uidvalidity, uid, date, &loaded);
	if (r == -ENOENT && in_order)
		in_order = store_next_messages(st, id, uidvalidity, prev.uid, &prev, 1) == 1 &&
			   prev.uid == uid;
	if (r == -ENOENT && in_order)
		r = load_batch(st, id, uidvalidity, uid, &loaded);
	if (r == -ENOENT)
		r = load_parts(st, id, uidvalidity, uid, date, &loaded);
	if (r < 0)
		return r;
	*out = parts_cache_insert(c, loaded, true);
	return 0;
}

void store_parts_put(struct store *st, struct store_parts *p)
{
	if (p)
		parts_cache_release(store_parts_cache(st), p);
}

void store_parts_cache_clear(struct store *st)
{
	parts_cache_clear(store_parts_cache(st));
}

bool store_parts_is_sized(const struct store_parts *p)
{
	return atomic_load(&p->sized);
}

int store_parts_sized(struct store *st, struct store_parts *p)
{
	struct parts_cache *c = store_parts_cache(st);
	size_t kept = 0;
	bool sized_now = false;
	int r = 0;

	if (atomic_load(&p->sized))
		return 0;
	r = cancel_lock(&p->size_lock);
	if (r < 0)
		return r;
	if (!atomic_load(&p->sized)) {
		r = size_parts(st, p);
		if (r == 0) {
			for (size_t i = 1; i < p->n; i++)
				kept += p->parts[i].content_len;
			atomic_store(&p->sized, true);
			sized_now = true;
		}
	}
	pthread_mutex_unlock(&p->size_lock);
	/* The sizes on disk too: after a remount, ls -l of the parts asks nothing. */
	if (sized_now)
		parts_record_keep(st, &p, 1);
	/* Decoded copies count against the cache's bound like those kept while loading. */
	if (kept)
		parts_account_kept(c, p, (ssize_t)kept);
	return r;
}

int store_parts_find(const struct store_parts *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->parts[i].name, name) == 0)
			return (int)i;
	return -ENOENT;
}

/* ---- reading ---- */

static void copy_out(const char *src, size_t srclen, uint64_t off, size_t len, char *buf,
		     ssize_t *got)
{
	if (off >= srclen) {
		*got = 0;
		return;
	}
	if (len > srclen - off)
		len = (size_t)(srclen - off);
	memcpy(buf, src + off, len);
	*got = (ssize_t)len;
}

/* Fetches one range of a section (decoded by the server when binary) into buf. */
static ssize_t fetch_one(struct store *st, struct store_parts *p, bool binary,
			 const char *section, uint64_t off, size_t len, char *buf)
{
	struct driver_items *f = calloc(1, sizeof(*f));
	ssize_t got = 0;
	int r;

	if (!f)
		return -ENOMEM;
	driver_items_init(f, p->uid);
	r = driver_items_add(f, binary, section, off, len);
	if (r >= 0)
		r = item_fetch_run(st, f, p->mailbox, p->uidvalidity);
	if (r == 0 && !f->val[0]) {
		log_error("message UID %" PRIu32 ": server answered no %s", p->uid, f->key[0]);
		r = -EIO;
	}
	if (r == 0)
		copy_out(f->val[0], f->len[0], 0, len, buf, &got);
	driver_items_clear(f);
	free(f);
	return r < 0 ? r : got;
}

/*
 * Whether encoded bytes fetched at enc_off have line ends exactly where the
 * layout puts them. The probe saw only the first and last bytes of the body;
 * uneven lines in between would shift every offset, so each range is checked
 * before its bytes are believed.
 */
static bool layout_range_ok(const struct b64_layout *l, uint64_t enc_off, const char *bytes,
			    size_t n)
{
	uint64_t line = (uint64_t)l->line_chars + l->eol;
	/* The last full line ends here; after it the short last line and trailing space. */
	uint64_t full_end = l->eol ? (l->chars / l->line_chars) * line : 0;

	if (!l->eol || !l->line_chars)
		return true; /* a small body decoded whole: nothing to shift */
	for (size_t i = 0; i < n; i++) {
		uint64_t pos = enc_off + i, col = pos % line;
		bool eol_byte = bytes[i] == '\r' || bytes[i] == '\n';

		if (pos >= full_end)
			break;
		if ((col < l->line_chars) == eol_byte)
			return false;
	}
	return true;
}

static ssize_t fetch_base64_range(struct store *st, struct store_parts *p, struct store_part *sp,
				  uint64_t enc_off, uint64_t enc_len, uint32_t skip, size_t len,
				  char *buf)
{
	struct driver_items *f = calloc(1, sizeof(*f));
	ssize_t got = 0;
	bool fits;
	int r;

	if (!f)
		return -ENOMEM;
	driver_items_init(f, p->uid);
	r = driver_items_add(f, false, sp->section, enc_off, enc_len);
	if (r >= 0)
		r = item_fetch_run(st, f, p->mailbox, p->uidvalidity);
	if (r == 0 && !f->val[0])
		r = -EIO;
	if (r < 0)
		goto out;
	fits = layout_range_ok(&sp->layout, enc_off, f->val[0], f->len[0]);
	if (fits) {
		char *dec = NULL;
		size_t declen;

		r = mime_decode(MIME_CTE_BASE64, f->val[0], f->len[0], &dec, &declen);
		if (r == 0)
			copy_out(dec, declen, skip, len, buf, &got);
		free(dec);
	} else {
		log_warn("message UID %" PRIu32 " part %s: base64 lines are uneven; fetching it whole",
			 p->uid, sp->section);
		pthread_mutex_lock(&p->lock);
		sp->has_layout = false;
		pthread_mutex_unlock(&p->lock);
		r = -EAGAIN; /* the caller falls back to the whole part */
	}
out:
	driver_items_clear(f);
	free(f);
	return r < 0 ? r : got;
}

static ssize_t read_base64(struct store *st, struct store_parts *p, struct store_part *sp,
			   uint64_t off, size_t len, char *buf)
{
	struct binary_probe probe = { false };
	uint64_t enc_off, enc_len;
	uint32_t skip;
	bool try_binary;
	ssize_t got;

	pthread_mutex_lock(&p->lock);
	try_binary = p->binary_ok;
	pthread_mutex_unlock(&p->lock);
	if (try_binary && pool_run(store_pool(st), NULL, binary_job, &probe) == 0 && probe.has) {
		got = fetch_one(st, p, true, sp->section, off, len, buf);
		if (got >= 0 && (got == (ssize_t)len || off + (uint64_t)got == sp->size))
			return got;
		/*
		 * The server would not decode it (NO [UNKNOWN-CTE], [PARSE]), dropped
		 * the connection, or answered a length that contradicts the size we
		 * proved: decode locally from now on.
		 */
		log_warn("message UID %" PRIu32 " part %s: BINARY fetch failed (%s); decoding locally",
			 p->uid, sp->section, got < 0 ? strerror((int)-got) : "wrong length");
		pthread_mutex_lock(&p->lock);
		p->binary_ok = false;
		pthread_mutex_unlock(&p->lock);
	}
	b64_layout_map(&sp->layout, off, len, &enc_off, &enc_len, &skip);
	return fetch_base64_range(st, p, sp, enc_off, enc_len, skip, len, buf);
}

/* A part without random access whose kept copy was dropped: fetch it whole again. */
static int refetch_whole(struct store *st, struct store_parts *p, struct store_part *sp)
{
	struct driver_items *f = calloc(1, sizeof(*f));
	int r;

	if (!f)
		return -ENOMEM;
	driver_items_init(f, p->uid);
	r = driver_items_add(f, false, sp->section, 0, DRIVER_WHOLE);
	if (r >= 0)
		r = item_fetch_run(st, f, p->mailbox, p->uidvalidity);
	if (r == 0) {
		char *dec = NULL;
		size_t declen = 0;

		r = mime_decode(sp->cte, f->val[0] ? f->val[0] : "", f->len[0], &dec, &declen);
		if (r == 0 && declen != sp->size) {
			/* Its size was shown already: serving other bytes under it would be wrong. */
			log_error("message UID %" PRIu32 " part %s: decoded %zu bytes where %" PRIu64
				  " were promised; refusing to serve it", p->uid, sp->section, declen,
				  sp->size);
			r = -EIO;
		}
		if (r == 0) {
			pthread_mutex_lock(&p->lock);
			if (!sp->content) {
				sp->content = dec;
				sp->content_len = declen;
				dec = NULL;
			}
			pthread_mutex_unlock(&p->lock);
		}
		free(dec);
	}
	driver_items_clear(f);
	free(f);
	return r;
}

/* Bytes of part sp just read from the server: kept on disk once read whole from its start. */
static void gather(struct store *st, struct store_parts *p, struct store_part *sp, uint64_t off,
		   const char *buf, size_t got)
{
	char *whole = NULL;
	ssize_t delta = 0;

	if (!store_body_cache(st) || !sp->section)
		return;
	pthread_mutex_lock(&p->lock);
	delta = part_gather_add(&sp->gathered, sp->size, off, buf, got, &whole);
	pthread_mutex_unlock(&p->lock);
	if (delta)
		parts_account_kept(store_parts_cache(st), p, delta);
	if (whole)
		part_disk_keep(st, p->mailbox, p->uidvalidity, p->uid, sp->section, whole, sp->size);
	free(whole);
}

ssize_t store_read_part(struct store *st, struct store_parts *p, size_t idx, uint64_t off,
			size_t len, char *buf)
{
	struct store_part *sp;
	bool has_layout;
	ssize_t got;
	int r;

	if (idx >= p->n)
		return -ENOENT;
	r = store_parts_sized(st, p);
	if (r < 0)
		return r;
	sp = &p->parts[idx];
	if (off >= sp->size)
		return 0;
	if (len > sp->size - off)
		len = (size_t)(sp->size - off);
	if (sp->kind == PART_HEADER) {
		copy_out(p->header, p->header_len, off, len, buf, &got);
		return got;
	}
	pthread_mutex_lock(&p->lock);
	if (sp->broken) {
		pthread_mutex_unlock(&p->lock);
		return -EIO;
	}
	if (sp->content) {
		copy_out(sp->content, sp->content_len, off, len, buf, &got);
		pthread_mutex_unlock(&p->lock);
		return got;
	}
	pthread_mutex_unlock(&p->lock);
	got = part_disk_read(st, p->mailbox, p->uidvalidity, p->uid, sp->section, sp->size, off,
			     len, buf);
	if (got >= 0)
		return got;
	if (sp->kind == PART_MESSAGE || sp->cte == MIME_CTE_IDENTITY || sp->cte == MIME_CTE_UNKNOWN) {
		got = fetch_one(st, p, false, sp->section, off, len, buf);
		if (got > 0)
			gather(st, p, sp, off, buf, (size_t)got);
		return got;
	}
	pthread_mutex_lock(&p->lock);
	has_layout = sp->has_layout;
	pthread_mutex_unlock(&p->lock);
	if (sp->cte == MIME_CTE_BASE64 && has_layout) {
		got = read_base64(st, p, sp, off, len, buf);
		if (got > 0)
			gather(st, p, sp, off, buf, (size_t)got);
		if (got != -EAGAIN)
			return got;
	}
	r = refetch_whole(st, p, sp);
	if (r < 0)
		return r;
	char *whole = NULL;
	size_t n = 0;

	pthread_mutex_lock(&p->lock);
	copy_out(sp->content, sp->content_len, off, len, buf, &got);
	/* Whole in memory (while the structure is cached): kept on disk too, for later mounts. */
	if (off == 0 && sp->content_len <= PART_DISK_MAX && store_body_cache(st)) {
		whole = malloc(sp->content_len + 1);
		if (whole) {
			memcpy(whole, sp->content, sp->content_len);
			n = sp->content_len;
		}
	}
	pthread_mutex_unlock(&p->lock);
	if (whole)
		part_disk_keep(st, p->mailbox, p->uidvalidity, p->uid, sp->section, whole, n);
	free(whole);
	return got;
}
