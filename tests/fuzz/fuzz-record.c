/* SPDX-License-Identifier: ISC */
/*
 * fuzz-record - libFuzzer harness for the record reader and writer.
 *
 * The input goes to fl_record_parse (one whole record in memory) and, as a
 * stream over fmemopen, to fl_record_read (records back to back, buffers
 * reused).  Invariants, each an abort() when broken:
 *   - both paths agree: parse accepts the input exactly when the stream holds
 *     one valid record of the input's size, and they read the same record;
 *   - an accepted record is self-consistent: tensors tile a payload of
 *     rawlen bytes, data points inside it, uncovered bytes are zero;
 *   - round trip: the record written back (stored and zlib) reads again to
 *     the same record, and an uncompressed record is written back to the
 *     very bytes it was read from (one canonical form).
 *   - the streaming reader (fl_record_read_stream) agrees with the stream
 *     reader record by record: same outcome, same header, and pieces that
 *     are 64-byte aligned, in order, and put together are the payload;
 * Every tensor's elements are summarised (fl_tensor_stats), so a tensor that
 * points outside its payload is an ASan report, and every record goes to
 * the readers of its meaning (fl_release_from_record, fl_cohort_from_record,
 * fl_release_take_loss).
 *
 * The fuzzer rarely forges a CRC, so each input is also tried with the
 * CRCs of its first record repaired: the mutations then reach the header
 * grammar and the payload rules.
 *
 * Build with -DFUZZ_NO_CANONICAL to skip the canonical-form check (to fuzz
 * past a known finding).
 *
 * Reader limits: the default caps, except the raw payload, capped at
 * FUZZ_MAX_PAYLOAD so a zlib record claiming gigabytes (a legal claim) does
 * not trip libFuzzer's malloc limit.  Uncompressed records are also read
 * with the largest limit (UINT64_MAX): their allocation is bounded by the
 * input, and the size arithmetic must survive it.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "../../lib/fl.h"

#ifndef FUZZ_MAX_PAYLOAD
#define FUZZ_MAX_PAYLOAD (UINT64_C(64) << 20)
#endif

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz-record: invariant broken: %s "	\
		    "(line %d)\n", #cond, __LINE__);			\
		abort();						\
	}								\
} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
same_record(const struct fl_record *a, const struct fl_record *b)
{
	if (a->nmeta != b->nmeta || a->ntensors != b->ntensors ||
	    a->rawlen != b->rawlen)
		return 0;
	for (size_t i = 0; i < a->nmeta; i++)
		if (strcmp(a->meta[i].key, b->meta[i].key) != 0 ||
		    strcmp(a->meta[i].value, b->meta[i].value) != 0)
			return 0;
	for (size_t i = 0; i < a->ntensors; i++) {
		const struct fl_tensor *x = &a->tensors[i], *y = &b->tensors[i];

		if (strcmp(x->name, y->name) != 0 || x->dtype != y->dtype ||
		    x->rank != y->rank || x->numel != y->numel ||
		    x->offset != y->offset || x->nbytes != y->nbytes ||
		    memcmp(x->dims, y->dims, (size_t)x->rank *
		    sizeof(x->dims[0])) != 0)
			return 0;
	}
	return a->rawlen == 0 || memcmp(a->raw, b->raw, a->rawlen) == 0;
}

/* The readers of a record's meaning on whatever a record says: the
 * release the accountant charges and the cohort a spend is given.  What
 * they accept must pass their own checks. */
static void
check_readers(const struct fl_record *rec)
{
	struct fl_release r;
	struct fl_cohort c;
	struct fl_error err;

	if (fl_release_from_record(&r, rec, 1000, NAN, &err) == 0 && r.q > 0)
		CHECK(fl_release_check(&r, &err) == 0);
	if (fl_cohort_from_record(&c, rec, &err) == 0)
		CHECK(c.q > 0 && c.q <= 1 && c.size <= c.population);
}

/* What a reader promises about a record it returned. */
static void
check_record(const struct fl_record *rec)
{
	uint64_t end = 0;
	struct fl_stats st;

	CHECK(rec->rawlen % 64 == 0);
	CHECK(rec->rawlen == 0 || rec->raw != NULL);
	CHECK(rec->ntensors <= FL_MAX_TENSORS && rec->nmeta <= FL_MAX_META);
	for (size_t i = 1; i < rec->nmeta; i++)
		CHECK(strcmp(rec->meta[i - 1].key, rec->meta[i].key) < 0);
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		uint64_t numel = 1, nbytes;

		CHECK(t->rank >= 0 && t->rank <= FL_MAX_RANK);
		CHECK(fl_dtype_size(t->dtype) != 0);
		for (int d = 0; d < t->rank; d++)
			CHECK(!__builtin_mul_overflow(numel, t->dims[d],
			    &numel));
		CHECK(numel == t->numel);
		CHECK(!__builtin_mul_overflow(numel,
		    (uint64_t)fl_dtype_size(t->dtype), &nbytes));
		CHECK(nbytes == t->nbytes);
		CHECK(t->offset == end);
		CHECK(t->nbytes <= rec->rawlen &&
		    t->offset <= rec->rawlen - t->nbytes);
		CHECK(t->data == rec->raw + t->offset);
		end = (t->offset + t->nbytes + 63) & ~(uint64_t)63;
		fl_tensor_stats(t, &st);
		CHECK(st.count == t->numel);
		CHECK(st.finite + st.nonfinite == t->numel);
	}
	CHECK(end == rec->rawlen);
	check_readers(rec);
}

/* Write rec (stored and compressed), read it back, compare.  orig/len: the
 * bytes rec was read from, for the canonical-form check. */
static void
round_trip(const struct fl_record *rec, const uint8_t *orig, size_t len,
    const struct fl_limits *lim)
{
	for (int zlevel = 0; zlevel <= 6; zlevel += 6) {
		struct fl_record back;
		struct fl_error err;
		char *buf = NULL;
		size_t blen = 0;
		FILE *fp = open_memstream(&buf, &blen);

		CHECK(fp != NULL);
		CHECK(fl_record_write(fp, rec, zlevel, &err) == 0);
		CHECK(fclose(fp) == 0);
		fl_record_init(&back);
		if (fl_record_parse(&back, buf, blen, lim, &err) != 1) {
			fprintf(stderr, "fuzz-record: re-read: %s\n", err.msg);
			abort();
		}
		CHECK(same_record(rec, &back));
		CHECK(back.size == blen);
		/* The server's reader of a carried loss, on a copy (it
		 * removes the tensor): what it accepts is gone after. */
		{
			double loss;

			if (fl_release_take_loss(&back, &loss, &err) == 0)
				CHECK(fl_tensor_find(&back, FL_LOSS_TENSOR) ==
				    NULL);
		}
#ifndef FUZZ_NO_CANONICAL
		if (zlevel == 0 && !(rec->pre.flags & FL_FLAG_ZLIB)) {
			CHECK(blen == len);
			CHECK(memcmp(buf, orig, len) == 0);
		}
#else
		(void)orig;
		(void)len;
#endif
		fl_record_free(&back);
		free(buf);
	}
}

/* The streaming reader's pieces, put together. */
struct pieces {
	unsigned char *buf;
	size_t len, cap;
	int heads;
};

static int
on_head(void *ctx, struct fl_record *rec, struct fl_error *err)
{
	struct pieces *p = ctx;

	(void)err;
	CHECK(rec->raw == NULL || rec->rawlen == 0 ||
	    rec->ntensors == 0 || rec->tensors[0].data == NULL);
	p->heads++;
	p->len = 0;
	return 0;
}

static int
on_piece(void *ctx, const struct fl_record *rec, size_t off,
    const unsigned char *b, size_t len, struct fl_error *err)
{
	struct pieces *p = ctx;

	(void)err;
	CHECK(off == p->len && len > 0 && off + len <= rec->rawlen);
	CHECK(off % 64 == 0);
	if (p->len + len > p->cap) {
		p->cap = (p->len + len) * 2;
		p->buf = realloc(p->buf, p->cap);
		CHECK(p->buf != NULL);
	}
	memcpy(p->buf + p->len, b, len);
	p->len += len;
	return 0;
}

/* Records read by fl_record_read_stream match those of fl_record_read. */
static void
fuzz_stream(const uint8_t *data, size_t size, const struct fl_limits *lim)
{
	struct fl_record a, b;
	struct fl_error ea, eb;
	struct pieces p = { NULL, 0, 0, 0 };
	struct fl_stream fs = { on_head, on_piece, &p };
	FILE *fa, *fb;
	int ra, rb;

	if (size == 0 || (fa = fmemopen((void *)data, size, "rb")) == NULL)
		return;
	if ((fb = fmemopen((void *)data, size, "rb")) == NULL) {
		fclose(fa);
		return;
	}
	fl_record_init(&a);
	fl_record_init(&b);
	do {
		ra = fl_record_read(&a, fa, lim, &ea);
		rb = fl_record_read_stream(&b, fb, lim, &fs, &eb);
		CHECK(ra == rb);
		if (rb < 0)
			CHECK(eb.msg[0] != '\0' && strchr(eb.msg, '\n') == NULL);
		if (ra == 1) {
			CHECK(b.rawlen == a.rawlen && b.size == a.size);
			CHECK(p.len == a.rawlen);
			CHECK(a.rawlen == 0 || memcmp(p.buf, a.raw, a.rawlen) == 0);
			CHECK(b.nmeta == a.nmeta && b.ntensors == a.ntensors);
		}
	} while (ra == 1);
	free(p.buf);
	fl_record_free(&a);
	fl_record_free(&b);
	fclose(fa);
	fclose(fb);
}

static void
fuzz(const uint8_t *data, size_t size, const struct fl_limits *lim)
{
	struct fl_record whole, rec;
	struct fl_error err;
	FILE *fp;
	size_t off = 0;
	int rc_whole, rc, n = 0, first_whole = 0;

	fl_record_init(&whole);
	rc_whole = fl_record_parse(&whole, data, size, lim, &err);
	CHECK(rc_whole == 1 || rc_whole == 0 || rc_whole == -1);
	CHECK(rc_whole != 0 || size == 0);
	if (rc_whole == 1) {
		CHECK(whole.size == size);
		check_record(&whole);
	} else if (rc_whole < 0) {
		CHECK(err.msg[0] != '\0' && strchr(err.msg, '\n') == NULL);
		CHECK(whole.nmeta == 0 && whole.ntensors == 0);
	}

	if (size > 0 && (fp = fmemopen((void *)data, size, "rb")) != NULL) {
		fl_record_init(&rec);
		while ((rc = fl_record_read(&rec, fp, lim, &err)) == 1) {
			CHECK(rec.size <= size - off);
			check_record(&rec);
			if (n == 0 && rec.size == size) {
				first_whole = 1;
				CHECK(rc_whole == 1);
				CHECK(same_record(&whole, &rec));
			}
			round_trip(&rec, data + off, (size_t)rec.size, lim);
			off += (size_t)rec.size;
			n++;
		}
		if (rc < 0)
			CHECK(err.msg[0] != '\0' &&
			    strchr(err.msg, '\n') == NULL);
		/* The stream read the first record exactly when parse did
		 * (then it must also find the clean end after it). */
		if (rc_whole == 1)
			CHECK(first_whole && n == 1 && rc == 0);
		fl_record_free(&rec);
		fclose(fp);
	}
	fl_record_free(&whole);
}

static void
store_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A copy of data whose first record has correct hcrc and pcrc, or NULL. */
static uint8_t *
repair(const uint8_t *data, size_t size)
{
	uint64_t hlen, plen = 0;
	uint8_t *c;

	if (size < FL_PREAMBLE_SIZE || memcmp(data, FL_MAGIC, 8) != 0)
		return NULL;
	hlen = (uint64_t)data[12] | (uint64_t)data[13] << 8 |
	    (uint64_t)data[14] << 16 | (uint64_t)data[15] << 24;
	for (int i = 7; i >= 0; i--)
		plen = plen << 8 | data[16 + i];
	if (hlen > size - FL_PREAMBLE_SIZE || (c = malloc(size)) == NULL)
		return NULL;
	memcpy(c, data, size);
	if (plen > size - FL_PREAMBLE_SIZE - hlen)
		plen = size - FL_PREAMBLE_SIZE - hlen;
	store_le32(c + 24, (uint32_t)crc32(0, c + FL_PREAMBLE_SIZE + hlen,
	    (uInt)plen));
	store_le32(c + 28, (uint32_t)crc32(crc32(0, c, 28), c +
	    FL_PREAMBLE_SIZE, (uInt)hlen));
	return c;
}

static void
fuzz_limits(const uint8_t *data, size_t size)
{
	struct fl_limits lim = { FUZZ_MAX_PAYLOAD };

	fuzz(data, size, &lim);
	fuzz_stream(data, size, &lim);
	/* flags byte: zlib bit clear (or no preamble at all). */
	if (size < 10 || !(data[9] & FL_FLAG_ZLIB)) {
		lim.max_payload = UINT64_MAX;
		fuzz(data, size, &lim);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed;

	fuzz_limits(data, size);
	if ((fixed = repair(data, size)) != NULL) {
		if (memcmp(fixed, data, size) != 0)
			fuzz_limits(fixed, size);
		free(fixed);
	}
	return 0;
}
