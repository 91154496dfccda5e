/* SPDX-License-Identifier: ISC */
/*
 * Unit tests of the streaming reader (fl_record_read_stream) and of the
 * sums fed from it (fl_acc_add_piece, fl_acc_take_result): on records of
 * several MiB, stored and compressed, so that payloads cross many pieces,
 * they must agree byte for byte with fl_record_read, fl_acc_add and
 * fl_acc_result, and fail where those fail.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/fl.h"
#include "unit.h"

/* Tensors of awkward sizes: pieces cut through them, and padding
 * follows each. */
static void
big_record(struct fl_record *rec, unsigned seed)
{
	struct fl_error err;
	uint64_t n1 = 900001, n2 = 7, n3 = 333333, n4 = 50000;
	struct fl_tensor *t;
	uint64_t s = seed * UINT64_C(0x9e3779b97f4a7c15) + 1;

	fl_record_init(rec);
	CHECK(fl_meta_set(rec, "kind", "update", &err) == 0);
	CHECK((t = fl_tensor_add(rec, "a", FL_F32, 1, &n1, &err)) != NULL);
	CHECK((t = fl_tensor_add(rec, "b", FL_I32, 1, &n2, &err)) != NULL);
	CHECK((t = fl_tensor_add(rec, "c", FL_F64, 1, &n3, &err)) != NULL);
	CHECK((t = fl_tensor_add(rec, "d", FL_U32, 1, &n4, &err)) != NULL);
	for (size_t i = 0; i < rec->ntensors; i++) {
		t = &rec->tensors[i];
		for (uint64_t j = 0; j < t->numel; j++) {
			s = s * UINT64_C(6364136223846793005) +
			    UINT64_C(1442695040888963407);
			switch (t->dtype) {
			case FL_F32:
				((float *)t->data)[j] = (float)((double)(s >> 40) /
				    (1 << 20) - 8);
				break;
			case FL_F64:
				((double *)t->data)[j] = (double)(s >> 11) /
				    (1 << 30) - 1000;
				break;
			case FL_I32:
				((int32_t *)t->data)[j] = (int32_t)(s >> 40) -
				    (1 << 23);
				break;
			default:
				((uint32_t *)t->data)[j] = (uint32_t)(s >> 48);
				break;
			}
		}
	}
}

struct collect {
	unsigned char *buf;
	size_t len;
	int heads;
	int fail_at;    /* piece number that fails, or -1 */
	int pieces;
	struct fl_acc *acc;
	struct fl_scan scan;
	double w;
};

static int
on_head(void *ctx, struct fl_record *rec, struct fl_error *err)
{
	struct collect *c = ctx;

	(void)err;
	c->heads++;
	c->len = 0;
	c->pieces = 0;
	memset(&c->scan, 0, sizeof(c->scan));
	free(c->buf);
	c->buf = malloc(rec->rawlen ? rec->rawlen : 1);
	return 0;
}

static int
on_piece(void *ctx, const struct fl_record *rec, size_t off,
    const unsigned char *p, size_t len, struct fl_error *err)
{
	struct collect *c = ctx;

	CHECK(off == c->len && off % 64 == 0 && off + len <= rec->rawlen);
	if (c->pieces++ == c->fail_at)
		return fl_error_set(err, FL_EINVAL, "stopped by the test");
	memcpy(c->buf + off, p, len);
	c->len += len;
	if (c->acc != NULL)
		return fl_acc_add_piece(c->acc, rec, off, p, len, c->w,
		    &c->scan, err);
	return 0;
}

void
test_read_stream(void)
{
	struct fl_record a, b, r;
	struct fl_error err;
	struct collect c = { NULL, 0, 0, -1, 0, NULL, { 0, 0, 0 }, 1 };
	struct fl_stream fs = { on_head, on_piece, &c };
	char *buf = NULL;
	size_t len = 0, first;
	FILE *fp;

	big_record(&a, 1);
	big_record(&b, 2);
	fl_record_init(&r);
	fp = open_memstream(&buf, &len);
	CHECK(fl_record_write(fp, &a, 0, &err) == 0);
	first = (size_t)ftello(fp);
	CHECK(fl_record_write(fp, &b, 6, &err) == 0);
	fclose(fp);

	/* Stored, then compressed: the pieces put together are the
	 * payloads fl_record_read gives. */
	fp = fmemopen(buf, len, "rb");
	CHECK(fl_record_read_stream(&r, fp, NULL, &fs, &err) == 1);
	CHECK(c.heads == 1 && c.pieces > 3 && c.len == a.rawlen);
	CHECK(memcmp(c.buf, a.raw, a.rawlen) == 0);
	CHECK(r.rawlen == a.rawlen && r.ntensors == 4 && r.size == first);
	CHECK(fl_record_read_stream(&r, fp, NULL, &fs, &err) == 1);
	CHECK(c.heads == 2 && c.pieces > 3 && c.len == b.rawlen);
	CHECK(memcmp(c.buf, b.raw, b.rawlen) == 0);
	CHECK(fl_record_read_stream(&r, fp, NULL, &fs, &err) == 0);
	fclose(fp);

	/* Cut inside either payload: truncated, as fl_record_read says. */
	for (size_t cut = first - 5000000; cut < len; cut += 1234567) {
		int want;

		fp = fmemopen(buf, cut, "rb");
		want = fl_record_read(&r, fp, NULL, &err);
		if (want == 1)
			want = fl_record_read(&r, fp, NULL, &err);
		fclose(fp);
		fp = fmemopen(buf, cut, "rb");
		if (cut > first)
			CHECK(fl_record_read_stream(&r, fp, NULL, &fs, &err) ==
			    1);
		CHECK(fl_record_read_stream(&r, fp, NULL, &fs, &err) == want);
		CHECK(want == -1 && strstr(err.msg, "truncated") != NULL);
		fclose(fp);
	}

	/* A flipped bit late in each payload: the pieces went out, and the
	 * checksum fails at the end. */
	for (int k = 0; k < 2; k++) {
		size_t at = k == 0 ? first - 1000 : len - 2000;

		buf[at] ^= 0x10;
		fp = fmemopen(buf, len, "rb");
		if (k == 1)
			CHECK(fl_record_read_stream(&r, fp, NULL, &fs, &err) ==
			    1);
		CHECK(fl_record_read_stream(&r, fp, NULL, &fs, &err) == -1);
		CHECK(strstr(err.msg, "checksum") != NULL ||
		    strstr(err.msg, "compressed") != NULL);
		fclose(fp);
		buf[at] ^= 0x10;
	}

	/* A callback's failure stops the read with its message. */
	c.fail_at = 2;
	fp = fmemopen(buf, len, "rb");
	CHECK(fl_record_read_stream(&r, fp, NULL, &fs, &err) == -1);
	CHECK(strcmp(err.msg, "stopped by the test") == 0);
	fclose(fp);

	/* Record after record, the pieces live in the record's own
	 * buffers: no allocation a record (a buffer a call used to leave
	 * the heap a piece larger each record, every page faulted in anew:
	 * bench/RESULTS-22.md).  The buffers stay those of the first stored
	 * and the first compressed record. */
	c.fail_at = -1;
	fl_record_free(&r);
	fp = fmemopen(buf, len, "rb");
	CHECK(fl_record_read_stream(&r, fp, NULL, &fs, &err) == 1);
	CHECK(fl_record_read_stream(&r, fp, NULL, &fs, &err) == 1);
	{
		unsigned char *raw = r.raw, *zbuf = r.zbuf;
		size_t rawcap = r.rawcap, zcap = r.zcap;

		CHECK(raw != NULL && zbuf != NULL);
		for (int k = 0; k < 20; k++) {
			rewind(fp);
			CHECK(fl_record_read_stream(&r, fp, NULL, &fs, &err) ==
			    1);
			CHECK(fl_record_read_stream(&r, fp, NULL, &fs, &err) ==
			    1);
			CHECK(c.len == b.rawlen &&
			    memcmp(c.buf, b.raw, b.rawlen) == 0);
			CHECK(r.raw == raw && r.rawcap == rawcap &&
			    r.zbuf == zbuf && r.zcap == zcap);
		}
	}
	fclose(fp);

	free(c.buf);
	free(buf);
	fl_record_free(&a);
	fl_record_free(&b);
	fl_record_free(&r);
}

void
test_acc_pieces(void)
{
	struct fl_record recs[3], whole, piecewise, r;
	struct fl_acc acc1, acc2;
	struct fl_scan scan;
	struct fl_error err;
	struct collect c = { NULL, 0, 0, -1, 0, NULL, { 0, 0, 0 }, 1 };
	struct fl_stream fs = { on_head, on_piece, &c };
	const double w[3] = { 1, 1, 1 };
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	/* Integer tensors are summed, not weighted: weights of 1, and the
	 * division only where the dtypes allow (by 1 here). */
	for (int i = 0; i < 3; i++)
		big_record(&recs[i], (unsigned)i + 10);
	fp = open_memstream(&buf, &len);
	for (int i = 0; i < 3; i++)
		CHECK(fl_record_write(fp, &recs[i], i == 1 ? 3 : 0, &err) == 0);
	fclose(fp);

	CHECK(fl_acc_init(&acc1, &recs[0], 0, &err) == 0);
	CHECK(fl_acc_init(&acc2, &recs[0], 0, &err) == 0);
	for (int i = 0; i < 3; i++)
		CHECK(fl_acc_add(&acc1, &recs[i], w[i], &scan, &err) == 0);
	fl_record_init(&whole);
	CHECK(fl_layout_add(&acc1.layout, &whole, &err) == 0);
	CHECK(fl_acc_result(&acc1, &whole, 1, &err) == 0);

	c.acc = &acc2;
	fl_record_init(&r);
	fp = fmemopen(buf, len, "rb");
	for (int i = 0; i < 3; i++) {
		CHECK(fl_record_read_stream(&r, fp, NULL, &fs, &err) == 1);
		CHECK(c.scan.nonfinite == 0 && c.scan.l2 > 0);
	}
	fclose(fp);
	fl_record_init(&piecewise);
	CHECK(fl_acc_take_result(&acc2, &piecewise, 1, &err) == 0);
	CHECK(acc2.block == NULL);
	CHECK(piecewise.rawlen == whole.rawlen &&
	    piecewise.ntensors == whole.ntensors);
	CHECK(memcmp(piecewise.raw, whole.raw, whole.rawlen) == 0);
	for (size_t i = 0; i < whole.ntensors; i++)
		CHECK(piecewise.tensors[i].offset == whole.tensors[i].offset &&
		    piecewise.tensors[i].data == piecewise.raw +
		    piecewise.tensors[i].offset);

	/* Dividing integer sums is refused; a float result that overflows
	 * its dtype too. */
	fl_acc_free(&acc2);
	CHECK(fl_acc_init(&acc2, &recs[0], 0, &err) == 0);
	CHECK(fl_acc_add(&acc2, &recs[0], 1, NULL, &err) == 0);
	fl_record_free(&r);
	fl_record_init(&r);
	CHECK(fl_acc_take_result(&acc2, &r, 3, &err) == -1);
	CHECK(strstr(err.msg, "integer sums cannot be divided") != NULL);

	fl_acc_free(&acc1);
	fl_acc_free(&acc2);
	fl_record_free(&whole);
	fl_record_free(&piecewise);
	fl_record_free(&r);
	for (int i = 0; i < 3; i++)
		fl_record_free(&recs[i]);
	free(c.buf);
	free(buf);
}
