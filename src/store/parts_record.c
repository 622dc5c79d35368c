/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Message structures kept on disk (see parts_record.h). */
#include "store/parts_record.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "store/body_cache.h"
#include "store/parts.h"
#include "store/store_internal.h"
#include "util/array.h"

#define MAGIC "imapfs structure 1\n"
#define SECTION "structure"
#define DIGEST 32
#define NO_STRING UINT32_MAX

#define FLAG_LAYOUT 1u
#define FLAG_BROKEN 2u
#define FLAG_OPAQUE 4u

struct out {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void put(struct out *o, const void *src, size_t n)
{
	if (o->failed || array_reserve(&o->buf, &o->cap, o->len + n, 1) < 0) {
		o->failed = true;
		return;
	}
	memcpy(o->buf + o->len, src, n);
	o->len += n;
}

static void put_u8(struct out *o, uint8_t v) { put(o, &v, sizeof(v)); }
static void put_u32(struct out *o, uint32_t v) { put(o, &v, sizeof(v)); }
static void put_u64(struct out *o, uint64_t v) { put(o, &v, sizeof(v)); }

static void put_str(struct out *o, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	put_u32(o, s ? (uint32_t)n : NO_STRING);
	put(o, s, n);
}

static void digest(const char *buf, size_t len, unsigned char md[DIGEST])
{
	unsigned mdlen = 0;

	EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL);
}

int parts_record_encode(const struct store_parts *p, char **out, size_t *len)
{
	struct out o = { 0 };
	unsigned char md[DIGEST];

	put(&o, MAGIC, strlen(MAGIC));
	put_u32(&o, p->uid);
	put_u32(&o, p->uidvalidity);
	put_u8(&o, atomic_load(&p->sized));
	put_u32(&o, (uint32_t)p->n);
	put_u64(&o, p->header_len);
	put(&o, p->header, p->header_len);
	for (size_t i = 0; i < p->n; i++) {
		const struct store_part *sp = &p->parts[i];

		put_u8(&o, (uint8_t)sp->kind);
		put_u8(&o, (uint8_t)sp->cte);
		put_u8(&o, (uint8_t)((sp->has_layout ? FLAG_LAYOUT : 0) |
				     (sp->broken ? FLAG_BROKEN : 0) | (sp->opaque ? FLAG_OPAQUE : 0)));
		put_u64(&o, sp->encoded_size);
		put_u64(&o, sp->size);
		put_u64(&o, sp->layout.encoded_size);
		put_u32(&o, sp->layout.line_chars);
		put_u32(&o, sp->layout.eol);
		put_u64(&o, sp->layout.chars);
		put_u64(&o, sp->layout.decoded_size);
		put_str(&o, sp->name);
		put_str(&o, sp->section);
		put_str(&o, sp->mime_type);
		put_str(&o, sp->charset);
	}
	if (!o.failed && o.len > PARTS_RECORD_MAX - DIGEST) {
		free(o.buf);
		return -E2BIG;
	}
	if (!o.failed)
		digest(o.buf, o.len, md);
	put(&o, md, DIGEST);
	if (o.failed) {
		free(o.buf);
		return -ENOMEM;
	}
	*out = o.buf;
	*len = o.len;
	return 0;
}

struct in {
	const char *buf;
	size_t len, pos;
	bool failed;
};

static const char *take(struct in *in, size_t n)
{
	const char *at;

	if (in->failed || n > in->len - in->pos) {
		in->failed = true;
		return NULL;
	}
	at = in->buf + in->pos;
	in->pos += n;
	return at;
}

static uint8_t take_u8(struct in *in)
{
	const char *at = take(in, 1);

	return at ? (uint8_t)*at : 0;
}

static uint32_t take_u32(struct in *in)
{
	uint32_t v = 0;
	const char *at = take(in, sizeof(v));

	if (at)
		memcpy(&v, at, sizeof(v));
	return v;
}

static uint64_t take_u64(struct in *in)
{
	uint64_t v = 0;
	const char *at = take(in, sizeof(v));

	if (at)
		memcpy(&v, at, sizeof(v));
	return v;
}

/* A copy of the next string (NULL stays NULL: *ok tells the two apart). */
static char *take_str(struct in *in, bool may_be_null)
{
	uint32_t n = take_u32(in);
	const char *at;
	char *s;

	if (n == NO_STRING) {
		if (!may_be_null)
			in->failed = true;
		return NULL;
	}
	at = take(in, n);
	if (!at || memchr(at, '\0', n)) {
		in->failed = true;
		return NULL;
	}
	s = strndup(at, n);
	if (!s)
		in->failed = true;
	return s;
}

/* What no structure parts.c builds could hold: a record that says it is refused. */
static bool part_plausible(const struct store_part *sp, size_t i, bool sized)
{
	if ((i == 0) != (sp->kind == PART_HEADER) || sp->kind > PART_MESSAGE ||
	    sp->cte > MIME_CTE_UNKNOWN || !sp->name || !*sp->name || strchr(sp->name, '/') ||
	    strcmp(sp->name, ".") == 0 || strcmp(sp->name, "..") == 0 || !sp->mime_type)
		return false;
	if (i > 0 && !sp->section)
		return false;
	if (sp->has_layout && (sp->cte != MIME_CTE_BASE64 || (sized && sp->layout.decoded_size !=
								   sp->size)))
		return false;
	return true;
}

int parts_record_decode(const char *buf, size_t len, uint32_t uidvalidity, uint32_t uid,
			struct store_parts *p)
{
	struct in in = { .buf = buf, .len = len };
	unsigned char md[DIGEST];
	const char *magic;
	uint64_t header_len;
	uint32_t n;
	bool sized;
	int r = -EINVAL;

	if (len < DIGEST)
		return -EINVAL;
	digest(buf, len - DIGEST, md);
	if (memcmp(md, buf + len - DIGEST, DIGEST) != 0)
		return -EINVAL;
	in.len = len - DIGEST;
	magic = take(&in, strlen(MAGIC));
	if (!magic || memcmp(magic, MAGIC, strlen(MAGIC)) != 0 || take_u32(&in) != uid ||
	    take_u32(&in) != uidvalidity)
		return -EINVAL;
	sized = take_u8(&in) != 0;
	n = take_u32(&in);
	header_len = take_u64(&in);
	if (in.failed || n == 0 || n > STORE_MAX_PARTS || header_len > in.len - in.pos)
		return -EINVAL;
	p->parts = calloc(n, sizeof(*p->parts));
	p->header = malloc((size_t)header_len + 1);
	if (!p->parts || !p->header) {
		r = -ENOMEM;
		goto fail;
	}
	memcpy(p->header, take(&in, (size_t)header_len), (size_t)header_len);
	p->header[header_len] = '\0';
	p->header_len = (size_t)header_len;
	for (p->n = 0; p->n < n && !in.failed; p->n++) {
		struct store_part *sp = &p->parts[p->n];
		uint8_t flags;

		sp->kind = (enum part_kind)take_u8(&in);
		sp->cte = (enum mime_cte)take_u8(&in);
		flags = take_u8(&in);
		sp->has_layout = flags & FLAG_LAYOUT;
		sp->broken = flags & FLAG_BROKEN;
		sp->opaque = flags & FLAG_OPAQUE;
		sp->encoded_size = take_u64(&in);
		sp->size = take_u64(&in);
		sp->layout.encoded_size = take_u64(&in);
		sp->layout.line_chars = take_u32(&in);
		sp->layout.eol = take_u32(&in);
		sp->layout.chars = take_u64(&in);
		sp->layout.decoded_size = take_u64(&in);
		sp->name = take_str(&in, false);
		sp->section = take_str(&in, true);
		sp->mime_type = take_str(&in, false);
		sp->charset = take_str(&in, true);
		if (!in.failed && !part_plausible(sp, p->n, sized))
			in.failed = true;
	}
	if (in.failed || in.pos != in.len)
		goto fail;
	if (p->parts[0].size != p->header_len)
		goto fail;
	atomic_store(&p->sized, sized);
	return 0;
fail:
	for (size_t i = 0; i < n && p->parts; i++) {
		free(p->parts[i].name);
		free(p->parts[i].section);
		free(p->parts[i].mime_type);
		free(p->parts[i].charset);
	}
	free(p->parts);
	free(p->header);
	p->parts = NULL;
	p->header = NULL;
	p->n = 0;
	p->header_len = 0;
	return r;
}

void parts_record_keep(struct store *st, struct store_parts *const *p, size_t n)
{
	struct body_cache_item *items;
	size_t kept = 0;
	char *wire;

	if (!store_body_cache(st) || n == 0)
		return;
	items = calloc(n, sizeof(*items));
	wire = store_mailbox_wire(st, p[0]->mailbox);
	if (!items || !wire)
		goto out;
	for (size_t i = 0; i < n; i++) {
		char *rec;
		size_t len;
		int r;

		/* has_layout and broken may change under it while parts are read. */
		pthread_mutex_lock(&p[i]->lock);
		r = parts_record_encode(p[i], &rec, &len);
		pthread_mutex_unlock(&p[i]->lock);
		if (r == 0)
			items[kept++] = (struct body_cache_item){ .uid = p[i]->uid, .section = SECTION,
								  .body = rec, .len = len };
	}
	body_cache_put_later(store_body_cache(st), wire, p[0]->uidvalidity, items, kept);
out:
	for (size_t i = 0; i < kept; i++)
		free((char *)items[i].body);
	free(items);
	free(wire);
}

int parts_record_load(struct store *st, struct store_parts *p)
{
	char *wire, *rec;
	size_t len;
	int r;

	if (!store_body_cache(st))
		return -ENOENT;
	wire = store_mailbox_wire(st, p->mailbox);
	if (!wire)
		return -ENOENT;
	r = body_cache_load_part(store_body_cache(st), wire, p->uidvalidity, p->uid, SECTION,
				 PARTS_RECORD_MAX, &rec, &len);
	free(wire);
	if (r < 0)
		return r;
	r = parts_record_decode(rec, len, p->uidvalidity, p->uid, p);
	free(rec);
	return r < 0 ? -ENOENT : 0;
}
