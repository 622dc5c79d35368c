/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Message structures kept on disk: a round trip keeps every field; a record
 * of another message, truncated anywhere, changed in any byte, or saying
 * what no loaded structure could, is refused whole and leaves nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "store/parts.h"
#include "store/parts_record.h"

/* parts_record.c's disk half asks the store for wire names; not used here. */
char *store_mailbox_wire(struct store *st, uint32_t id);
char *store_mailbox_wire(struct store *st, uint32_t id)
{
	return NULL;
}

static char header[] = "From: a@example.org\r\nSubject: t\r\n\r\n";

static struct store_part sample_parts[] = {
	{ .kind = PART_HEADER, .name = "header.txt", .mime_type = "text/plain",
	  .size = sizeof(header) - 1 },
	{ .kind = PART_LEAF, .name = "1-body.txt", .section = "1", .mime_type = "text/plain",
	  .charset = "utf-8", .cte = MIME_CTE_QP, .encoded_size = 300, .size = 280 },
	{ .kind = PART_LEAF, .name = "2-photo.png", .section = "2", .mime_type = "image/png",
	  .cte = MIME_CTE_BASE64, .encoded_size = 1402, .size = 1024, .has_layout = true,
	  .opaque = true,
	  .layout = { .encoded_size = 1402, .line_chars = 76, .eol = 2, .chars = 1366,
		      .decoded_size = 1024 } },
	{ .kind = PART_MESSAGE, .name = "3-fwd.eml", .section = "3", .mime_type = "message/rfc822",
	  .encoded_size = 5000, .size = 5000, .broken = true },
};

static struct store_parts sample(void)
{
	struct store_parts p = { .mailbox = 4, .uidvalidity = 77, .uid = 1234, .header = header,
				 .header_len = sizeof(header) - 1, .parts = sample_parts, .n = 4 };

	atomic_store(&p.sized, true);
	return p;
}

static void release(struct store_parts *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->parts[i].name);
		free(p->parts[i].section);
		free(p->parts[i].mime_type);
		free(p->parts[i].charset);
	}
	free(p->parts);
	free(p->header);
}

static bool same_part(const struct store_part *a, const struct store_part *b)
{
	return a->kind == b->kind && strcmp(a->name, b->name) == 0 &&
	       (a->section ? b->section && strcmp(a->section, b->section) == 0 : !b->section) &&
	       strcmp(a->mime_type, b->mime_type) == 0 &&
	       (a->charset ? b->charset && strcmp(a->charset, b->charset) == 0 : !b->charset) &&
	       a->cte == b->cte && a->encoded_size == b->encoded_size && a->size == b->size &&
	       a->has_layout == b->has_layout && a->broken == b->broken &&
	       a->opaque == b->opaque && memcmp(&a->layout, &b->layout, sizeof(a->layout)) == 0 &&
	       !b->content;
}

static void test_round_trip(void)
{
	struct store_parts p = sample(), q = { 0 };
	char *rec;
	size_t len;

	CHECK_INT(parts_record_encode(&p, &rec, &len), 0);
	CHECK_INT(parts_record_decode(rec, len, 77, 1234, &q), 0);
	CHECK_INT(q.n, 4);
	CHECK_INT(q.header_len, p.header_len);
	CHECK_THAT(q.header && memcmp(q.header, header, p.header_len) == 0);
	CHECK_THAT(atomic_load(&q.sized));
	for (size_t i = 0; i < q.n && i < p.n; i++)
		CHECK(same_part(&p.parts[i], &q.parts[i]), "part %zu differs", i);
	release(&q);

	/* Not yet sized: said so, and the sizes are what BODYSTRUCTURE gave. */
	atomic_store(&p.sized, false);
	free(rec);
	CHECK_INT(parts_record_encode(&p, &rec, &len), 0);
	q = (struct store_parts){ 0 };
	CHECK_INT(parts_record_decode(rec, len, 77, 1234, &q), 0);
	CHECK_THAT(!atomic_load(&q.sized));
	release(&q);
	free(rec);
}

static void expect_refused(const char *rec, size_t len, uint32_t uidvalidity, uint32_t uid,
			   const char *what)
{
	struct store_parts q = { 0 };

	CHECK(parts_record_decode(rec, len, uidvalidity, uid, &q) == -EINVAL, "%s accepted", what);
	CHECK(!q.parts && !q.header && q.n == 0, "%s left something behind", what);
}

static void test_refused(void)
{
	struct store_parts p = sample();
	struct store_part bad[4];
	char *rec;
	size_t len;

	CHECK_INT(parts_record_encode(&p, &rec, &len), 0);
	expect_refused(rec, len, 77, 1235, "another UID's record");
	expect_refused(rec, len, 78, 1234, "another UIDVALIDITY's record");
	for (size_t cut = 0; cut < len; cut++)
		expect_refused(rec, cut, 77, 1234, "a truncated record");
	for (size_t i = 0; i < len; i++) {
		rec[i] ^= 0x20;
		expect_refused(rec, len, 77, 1234, "a changed byte");
		rec[i] ^= 0x20;
	}
	free(rec);

	/* Well formed and digested, but nothing parts.c would build. */
	memcpy(bad, sample_parts, sizeof(bad));
	p.parts = bad;
	bad[1].name = "a/b";
	CHECK_INT(parts_record_encode(&p, &rec, &len), 0);
	expect_refused(rec, len, 77, 1234, "a name with '/'");
	free(rec);
	memcpy(bad, sample_parts, sizeof(bad));
	bad[2].layout.decoded_size = 1000;
	CHECK_INT(parts_record_encode(&p, &rec, &len), 0);
	expect_refused(rec, len, 77, 1234, "a layout of another size");
	free(rec);
	memcpy(bad, sample_parts, sizeof(bad));
	bad[0].size = 3;
	CHECK_INT(parts_record_encode(&p, &rec, &len), 0);
	expect_refused(rec, len, 77, 1234, "a header of another size");
	free(rec);
	memcpy(bad, sample_parts, sizeof(bad));
	bad[2].section = NULL;
	CHECK_INT(parts_record_encode(&p, &rec, &len), 0);
	expect_refused(rec, len, 77, 1234, "a part without a section");
	free(rec);
}

int main(void)
{
	test_round_trip();
	test_refused();
	return check_summary();
}
