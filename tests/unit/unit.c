/* SPDX-License-Identifier: ISC */
/*
 * Unit tests of libfl.  `unit NAME` runs one test, `unit --list` names them
 * all (tests/unit.bats runs each, and checks that none is left out).  A
 * failed check prints file:line and the expression, and the test exits 1.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "../../lib/fl.h"
#include "base/internal.h"
#include "format/internal.h"
#include "privacy/internal.h"
#include "unit.h"

int failures;

/* A deterministic test sequence (splitmix64): not for anything private. */
static uint64_t
next_u64(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Write rec to memory; the caller frees *buf. */
static int
to_memory(const struct fl_record *rec, int zlevel, char **buf, size_t *len)
{
	struct fl_error err;
	FILE *fp = open_memstream(buf, len);
	int rc;

	if (fp == NULL)
		return -1;
	rc = fl_record_write(fp, rec, zlevel, &err);
	if (fclose(fp) != 0)
		return -1;
	return rc;
}

static void
test_dtype(void)
{
	enum fl_dtype dt;

	for (int i = 0; i < FL_DTYPE_COUNT; i++) {
		const char *name = fl_dtype_name((enum fl_dtype)i);

		CHECK(name != NULL);
		CHECK(fl_dtype_parse(name, strlen(name), &dt) == 0);
		CHECK(dt == (enum fl_dtype)i);
		CHECK(fl_dtype_size(dt) == (size_t)(name[1] == '8' ? 1 :
		    atoi(name + strcspn(name, "0123456789")) / 8));
		CHECK(fl_dtype_is_half(dt) == (dt == FL_F16 || dt == FL_BF16));
	}
	/* The codes are fixed: new dtypes came after the first ten. */
	CHECK(FL_U64 == 9 && FL_F16 == 10 && FL_BF16 == 11);
	CHECK(fl_dtype_parse("bf16", 4, &dt) == 0 && dt == FL_BF16);
	CHECK(fl_dtype_parse("f16", 3, &dt) == 0 && dt == FL_F16);
	CHECK(fl_dtype_parse("BF16", 4, &dt) < 0);
	CHECK(fl_dtype_parse("f8", 2, &dt) < 0);
	CHECK(fl_dtype_parse("f3", 2, &dt) < 0);
	CHECK(fl_dtype_parse("f32 ", 4, &dt) < 0);
	CHECK(fl_dtype_name(FL_DTYPE_COUNT) == NULL);
	CHECK(fl_dtype_size(FL_DTYPE_COUNT) == 0);
	CHECK(fl_dtype_is_float(FL_F64) && !fl_dtype_is_float(FL_I32));
	CHECK(fl_dtype_is_float(FL_F16) && fl_dtype_is_float(FL_BF16));
	CHECK(fl_dtype_is_signed_int(FL_I8) && !fl_dtype_is_signed_int(FL_U8));
}

static void
test_parse_numbers(void)
{
	struct fl_error err;
	uint64_t u;
	int64_t i;
	double d;

	CHECK(fl_parse_u64("0", 0, 10, &u, &err) == 0 && u == 0);
	CHECK(fl_parse_u64("18446744073709551615", 0, UINT64_MAX, &u,
	    &err) == 0 && u == UINT64_MAX);
	CHECK(fl_parse_u64("18446744073709551616", 0, UINT64_MAX, &u,
	    &err) < 0);
	CHECK(fl_parse_u64("-1", 0, UINT64_MAX, &u, &err) < 0);
	CHECK(fl_parse_u64(" 1", 0, 10, &u, &err) < 0);
	CHECK(fl_parse_u64("1 ", 0, 10, &u, &err) < 0);
	CHECK(fl_parse_u64("", 0, 10, &u, &err) < 0);
	CHECK(fl_parse_u64("+1", 0, 10, &u, &err) < 0);
	CHECK(fl_parse_u64("11", 0, 10, &u, &err) < 0);
	CHECK(strstr(err.msg, "at most 10") != NULL);
	CHECK(fl_parse_u64("1", 2, 10, &u, &err) < 0);
	CHECK(strstr(err.msg, "at least 2") != NULL);

	CHECK(fl_parse_i64("-9223372036854775808", INT64_MIN, INT64_MAX, &i,
	    &err) == 0 && i == INT64_MIN);
	CHECK(fl_parse_i64("-9223372036854775809", INT64_MIN, INT64_MAX, &i,
	    &err) < 0);
	CHECK(fl_parse_i64("9223372036854775808", INT64_MIN, INT64_MAX, &i,
	    &err) < 0);
	CHECK(fl_parse_i64("-", INT64_MIN, INT64_MAX, &i, &err) < 0);
	CHECK(fl_parse_i64("--1", INT64_MIN, INT64_MAX, &i, &err) < 0);

	CHECK(fl_parse_double("1.5", 0, 2, &d, &err) == 0 && d == 1.5);
	CHECK(fl_parse_double("-2e-3", -1, 1, &d, &err) == 0 && d == -2e-3);
	CHECK(fl_parse_double("1e309", -INFINITY, INFINITY, &d, &err) < 0);
	CHECK(fl_parse_double("nan", -INFINITY, INFINITY, &d, &err) < 0);
	CHECK(fl_parse_double("inf", -INFINITY, INFINITY, &d, &err) < 0);
	CHECK(fl_parse_double("0x10", -INFINITY, INFINITY, &d, &err) < 0);
	CHECK(fl_parse_double("1.5x", -INFINITY, INFINITY, &d, &err) < 0);
	CHECK(fl_parse_double("", -INFINITY, INFINITY, &d, &err) < 0);
	CHECK(fl_parse_double(".", -INFINITY, INFINITY, &d, &err) < 0);
	CHECK(fl_parse_double("3", 0, 2, &d, &err) < 0);
	CHECK(strstr(err.msg, "at most 2") != NULL);
}

static void
test_format_numbers(void)
{
	static const double specials[] = { 0, -0.0, 0.1, 1.0 / 3, 1e-300,
		5e-324, DBL_MAX, -DBL_MIN, 123456789012345678.0, 2.5 };
	char buf[FL_NUMBUF];
	uint64_t s = 1;

	CHECK(strcmp(fl_format_double(buf, 0.1), "0.1") == 0);
	CHECK(strcmp(fl_format_double(buf, 1e-5), "1e-05") == 0);
	CHECK(strcmp(fl_format_double(buf, -0.0), "-0") == 0);
	CHECK(strcmp(fl_format_double(buf, 100), "100") == 0);
	/* Just below 1e17, where log10 rounds up to 17 (found by fuzzing). */
	strcpy(buf, "stale");
	CHECK(strcmp(fl_format_double(buf, 99999999999999984.0),
	    "99999999999999984") == 0);
	CHECK(strtod(fl_format_double(buf, nextafter(1e17, 0)), NULL) ==
	    nextafter(1e17, 0));
	CHECK(strcmp(fl_format_float(buf, 0.1f), "0.1") == 0);
	CHECK(strcmp(fl_format_float(buf, 1e-45f), "1e-45") == 0);
	for (size_t k = 0; k < sizeof(specials) / sizeof(*specials); k++) {
		fl_format_double(buf, specials[k]);
		CHECK(strtod(buf, NULL) == specials[k]);
	}
	/* Random bit patterns: every finite double and float round-trips
	 * (a tenth of them under valgrind: FL_UNIT_QUICK, tests/unit.bats). */
	int patterns = getenv("FL_UNIT_QUICK") ? 10000 : 100000;
	for (int k = 0; k < patterns; k++) {
		uint64_t bits = next_u64(&s);
		uint32_t fbits = (uint32_t)bits;
		double d;
		float f;

		memcpy(&d, &bits, sizeof(d));
		memcpy(&f, &fbits, sizeof(f));
		if (isfinite(d)) {
			fl_format_double(buf, d);
			CHECK(strtod(buf, NULL) == d);
		}
		if (isfinite(f)) {
			fl_format_float(buf, f);
			CHECK(strtof(buf, NULL) == f);
		}
	}
}

static void
test_meta(void)
{
	static const char *keys[] = { "round", "kind", "a", "z9", "x-user.key",
		"clip", "q.bits", "weight" };
	char longval[FL_MAX_VALUE + 2], key[80];
	struct fl_record rec;
	struct fl_error err;

	fl_record_init(&rec);
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++)
		CHECK(fl_meta_set(&rec, keys[i], keys[i], &err) == 0);
	for (size_t i = 1; i < rec.nmeta; i++)
		CHECK(strcmp(rec.meta[i - 1].key, rec.meta[i].key) < 0);
	CHECK(strcmp(fl_meta_get(&rec, "kind"), "kind") == 0);
	CHECK(fl_meta_set(&rec, "kind", "update", &err) == 0);
	CHECK(strcmp(fl_meta_get(&rec, "kind"), "update") == 0);
	CHECK(rec.nmeta == sizeof(keys) / sizeof(*keys));
	CHECK(fl_meta_del(&rec, "kind") == 1);
	CHECK(fl_meta_del(&rec, "kind") == 0);
	CHECK(fl_meta_get(&rec, "kind") == NULL);
	CHECK(fl_meta_setf(&rec, &err, "round", "%d", 42) == 0);
	CHECK(strcmp(fl_meta_get(&rec, "round"), "42") == 0);

	/* Keys. */
	CHECK(fl_meta_set(&rec, "Kind", "x", &err) < 0);
	CHECK(fl_meta_set(&rec, ".kind", "x", &err) < 0);
	CHECK(fl_meta_set(&rec, "-kind", "x", &err) < 0);
	CHECK(fl_meta_set(&rec, "", "x", &err) < 0);
	CHECK(fl_meta_set(&rec, "tensor", "x", &err) < 0);
	CHECK(fl_meta_set(&rec, "k y", "x", &err) < 0);
	memset(key, 'k', 64);
	key[64] = '\0';
	CHECK(fl_meta_set(&rec, key, "x", &err) == 0);
	key[64] = 'k';
	key[65] = '\0';
	CHECK(fl_meta_set(&rec, key, "x", &err) < 0);

	/* Values. */
	CHECK(fl_meta_set(&rec, "v", "", &err) == 0);
	CHECK(fl_meta_set(&rec, "v", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	    &err) == 0);
	CHECK(fl_meta_set(&rec, "v", " lead", &err) < 0);
	CHECK(fl_meta_set(&rec, "v", "trail ", &err) < 0);
	CHECK(fl_meta_set(&rec, "v", "tab\there", &err) < 0);
	CHECK(fl_meta_set(&rec, "v", "del\x7f", &err) < 0);
	CHECK(fl_meta_set(&rec, "v", "\xc0\xaf", &err) < 0);       /* overlong */
	CHECK(fl_meta_set(&rec, "v", "\xed\xa0\x80", &err) < 0);   /* surrogate */
	CHECK(fl_meta_set(&rec, "v", "\xf4\x90\x80\x80", &err) < 0); /* > U+10FFFF */
	CHECK(fl_meta_set(&rec, "v", "\xe2\x82", &err) < 0);       /* cut short */
	memset(longval, 'v', FL_MAX_VALUE);
	longval[FL_MAX_VALUE] = '\0';
	CHECK(fl_meta_set(&rec, "v", longval, &err) == 0);
	longval[FL_MAX_VALUE] = 'v';
	longval[FL_MAX_VALUE + 1] = '\0';
	CHECK(fl_meta_set(&rec, "v", longval, &err) < 0);
	fl_record_free(&rec);

	/* The count cap. */
	fl_record_init(&rec);
	for (int i = 0; i < FL_MAX_META; i++) {
		snprintf(key, sizeof(key), "k%05d", i);
		CHECK(fl_meta_set(&rec, key, "1", &err) == 0);
	}
	CHECK(fl_meta_set(&rec, "overflow", "1", &err) < 0);
	CHECK(err.code == FL_ELIMIT);
	fl_record_free(&rec);
}

static void
test_tensor_add(void)
{
	uint64_t d3[] = { 3 }, d23[] = { 2, 3 }, d100[] = { 100 };
	uint64_t big[] = { UINT64_C(1) << 32, UINT64_C(1) << 32 };
	uint64_t d9[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	struct fl_record rec;
	struct fl_error err;
	struct fl_tensor *t;
	float *w;

	fl_record_init(&rec);
	t = fl_tensor_add(&rec, "a", FL_F32, 1, d3, &err);
	CHECK(t != NULL && t->offset == 0 && t->nbytes == 12);
	((float *)t->data)[2] = 7;
	t = fl_tensor_add(&rec, "b/w:0", FL_F64, 2, d23, &err);
	CHECK(t != NULL && t->offset == 64 && t->nbytes == 48);
	t = fl_tensor_add(&rec, "c", FL_U8, 0, NULL, &err);
	CHECK(t != NULL && t->offset == 128 && t->numel == 1);
	t = fl_tensor_add(&rec, "big", FL_U32, 1, d100, &err);
	CHECK(t != NULL && t->offset == 192 && rec.rawlen == 640);
	/* Growth moved the payload: data pointers follow. */
	w = fl_tensor_find(&rec, "a")->data;
	CHECK(w[2] == 7);
	CHECK((unsigned char *)fl_tensor_find(&rec, "big")->data ==
	    rec.raw + 192);
	CHECK(((uintptr_t)rec.raw % 64) == 0);
	for (size_t i = 12; i < 64; i++)
		CHECK(rec.raw[i] == 0);

	CHECK(fl_tensor_add(&rec, "a", FL_F32, 1, d3, &err) == NULL);
	CHECK(strstr(err.msg, "duplicate") != NULL);
	CHECK(fl_tensor_add(&rec, "-a", FL_F32, 1, d3, &err) == NULL);
	CHECK(fl_tensor_add(&rec, "a b", FL_F32, 1, d3, &err) == NULL);
	CHECK(fl_tensor_add(&rec, "", FL_F32, 1, d3, &err) == NULL);
	CHECK(fl_tensor_add(&rec, "r9", FL_F32, 9, d9, &err) == NULL);
	CHECK(fl_tensor_add(&rec, "huge", FL_F64, 2, big, &err) == NULL);
	CHECK(err.code == FL_ELIMIT);
	CHECK(fl_tensor_add(&rec, "bad", FL_DTYPE_COUNT, 1, d3, &err) == NULL);
	CHECK(fl_tensor_find(&rec, "nope") == NULL);
	CHECK(rec.ntensors == 4);
	fl_record_free(&rec);
}

/* Numbers under a key: found, absent (untouched), or refused with the
 * key and the escaped value. */
static void
test_meta_numbers(void)
{
	struct fl_record rec;
	struct fl_error err;
	double d = -1;
	uint64_t u = 7;

	fl_record_init(&rec);
	CHECK(fl_meta_set(&rec, "a", "2.5", &err) == 0);
	CHECK(fl_meta_set(&rec, "n", "12", &err) == 0);
	CHECK(fl_meta_set(&rec, "bad", "1e", &err) == 0);
	CHECK(fl_meta_double(&rec, "a", 0, 10, &d, &err) == 1 && d == 2.5);
	CHECK(fl_meta_double(&rec, "none", 0, 10, &d, &err) == 0 && d == 2.5);
	CHECK(fl_meta_u64(&rec, "n", 0, 100, &u, &err) == 1 && u == 12);
	CHECK(fl_meta_u64(&rec, "none", 0, 100, &u, &err) == 0 && u == 12);
	CHECK(fl_meta_u64(&rec, "n", 13, 100, &u, &err) == -1);
	CHECK(err.code == FL_EFORMAT &&
	    strncmp(err.msg, "metadata n '12': ", 17) == 0);
	CHECK(fl_meta_double(&rec, "a", 0, 1, &d, &err) == -1);
	CHECK(fl_meta_double(&rec, "bad", 0, 1, &d, &err) == -1);
	CHECK(strncmp(err.msg, "metadata bad '1e': ", 19) == 0);
	CHECK(fl_meta_u64(&rec, "a", 0, 100, &u, &err) == -1 && u == 12);
	fl_record_free(&rec);
}

/* Integer elements: each dtype's range, and its extremes stored and read
 * back exactly through the widened accessors. */
static void
test_int_elements(void)
{
	static const enum fl_dtype dts[] = {
		FL_I8, FL_U8, FL_I16, FL_U16, FL_I32, FL_U32, FL_I64, FL_U64
	};
	static const unsigned bits[] = { 8, 8, 16, 16, 32, 32, 64, 64 };
	uint64_t d2[] = { 2 };
	struct fl_record rec;
	struct fl_error err;
	int64_t min;
	uint64_t max;

	fl_record_init(&rec);
	for (size_t k = 0; k < sizeof(dts) / sizeof(dts[0]); k++) {
		int sgn = fl_dtype_is_signed_int(dts[k]);
		char name[8];
		struct fl_tensor *t;

		fl_dtype_int_range(dts[k], &min, &max);
		CHECK(max == (sgn ? UINT64_MAX >> (65 - bits[k]) :
		    UINT64_MAX >> (64 - bits[k])));
		CHECK(sgn ? min == -(int64_t)max - 1 : min == 0);
		snprintf(name, sizeof(name), "t%zu", k);
		t = fl_tensor_add(&rec, name, dts[k], 1, d2, &err);
		CHECK(t != NULL);
		if (t == NULL)
			continue;
		fl_tensor_set_int(t, 0, min, 0);
		fl_tensor_set_int(t, 1, (int64_t)max, max);
		if (sgn) {
			CHECK(fl_tensor_get_i64(t, 0) == min);
			CHECK(fl_tensor_get_i64(t, 1) == (int64_t)max);
			CHECK(fl_tensor_get_u64(t, 1) == 0);
		} else {
			CHECK(fl_tensor_get_u64(t, 0) == 0);
			CHECK(fl_tensor_get_u64(t, 1) == max);
			CHECK(fl_tensor_get_i64(t, 1) == 0);
		}
	}
	fl_dtype_int_range(FL_F32, &min, &max);
	CHECK(min == 0 && max == 0);
	fl_record_free(&rec);
}

static void
test_shape_parse(void)
{
	uint64_t dims[FL_MAX_RANK];
	struct fl_error err;
	char buf[64];
	int rank;

	CHECK(fl_shape_parse("[2,3]", &rank, dims, &err) == 0 && rank == 2 &&
	    dims[0] == 2 && dims[1] == 3);
	CHECK(fl_shape_parse("2x3x4", &rank, dims, &err) == 0 && rank == 3 &&
	    dims[2] == 4);
	CHECK(fl_shape_parse("[]", &rank, dims, &err) == 0 && rank == 0);
	CHECK(fl_shape_parse("7", &rank, dims, &err) == 0 && rank == 1);
	CHECK(fl_shape_parse("[0]", &rank, dims, &err) == 0 && dims[0] == 0);
	CHECK(fl_shape_parse("", &rank, dims, &err) < 0);
	CHECK(fl_shape_parse("[2,]", &rank, dims, &err) < 0);
	CHECK(fl_shape_parse("[2", &rank, dims, &err) < 0);
	CHECK(fl_shape_parse("2x", &rank, dims, &err) < 0);
	CHECK(fl_shape_parse("[2x3]", &rank, dims, &err) < 0);
	CHECK(fl_shape_parse("[2]x", &rank, dims, &err) < 0);
	CHECK(fl_shape_parse("1x1x1x1x1x1x1x1x1", &rank, dims, &err) < 0);
	CHECK(fl_shape_parse("1x1x1x1x1x1x1x1", &rank, dims, &err) == 0);
	CHECK(fl_shape_parse("99999999999999999999", &rank, dims, &err) < 0);
	CHECK(fl_shape_parse("4294967296x4294967296", &rank, dims, &err) < 0);
	dims[0] = 2;
	dims[1] = 3;
	CHECK(fl_shape_format(buf, sizeof(buf), 2, dims) == 5);
	CHECK(strcmp(buf, "[2,3]") == 0);
	CHECK(fl_shape_format(buf, sizeof(buf), 0, dims) == 2);
	CHECK(strcmp(buf, "[]") == 0);
	/* Too small a buffer: truncated, and the length it needs. */
	CHECK(fl_shape_format(buf, 3, 2, dims) == 5 && strlen(buf) == 2);
}

/* A record with every dtype, metadata and odd sizes. */
static void
build_sample(struct fl_record *rec, uint64_t seed)
{
	struct fl_error err;

	fl_record_init(rec);
	fl_meta_set(rec, "kind", "update", &err);
	fl_meta_set(rec, "round", "3", &err);
	fl_meta_set(rec, "x-note", "caf\xc3\xa9", &err);
	for (int dt = 0; dt < FL_DTYPE_COUNT; dt++) {
		uint64_t dims[2] = { 3 + (uint64_t)dt, 5 };
		char name[16];
		struct fl_tensor *t;

		snprintf(name, sizeof(name), "t%d", dt);
		t = fl_tensor_add(rec, name, (enum fl_dtype)dt, dt % 3, dims,
		    &err);
		for (size_t i = 0; i < t->nbytes; i++)
			((unsigned char *)t->data)[i] =
			    (unsigned char)next_u64(&seed);
	}
}

static int
records_equal(const struct fl_record *a, const struct fl_record *b)
{
	if (a->nmeta != b->nmeta || a->ntensors != b->ntensors ||
	    a->rawlen != b->rawlen || memcmp(a->raw, b->raw, a->rawlen) != 0)
		return 0;
	for (size_t i = 0; i < a->nmeta; i++)
		if (strcmp(a->meta[i].key, b->meta[i].key) != 0 ||
		    strcmp(a->meta[i].value, b->meta[i].value) != 0)
			return 0;
	for (size_t i = 0; i < a->ntensors; i++) {
		const struct fl_tensor *x = &a->tensors[i], *y = &b->tensors[i];

		if (strcmp(x->name, y->name) != 0 || x->dtype != y->dtype ||
		    x->rank != y->rank || x->numel != y->numel ||
		    x->offset != y->offset ||
		    memcmp(x->dims, y->dims, sizeof(x->dims[0]) * x->rank))
			return 0;
	}
	return 1;
}

static void
test_roundtrip(void)
{
	struct fl_record a, b;
	struct fl_error err;

	build_sample(&a, 7);
	fl_record_init(&b);
	for (int z = 0; z <= 9; z += 3) {
		char *buf = NULL, *buf2 = NULL;
		size_t len = 0, len2 = 0;

		CHECK(to_memory(&a, z, &buf, &len) == 0);
		CHECK(len % 64 == 0);
		CHECK(fl_record_parse(&b, buf, len, NULL, &err) == 1);
		CHECK(records_equal(&a, &b));
		CHECK(b.size == len);
		CHECK((b.pre.flags & FL_FLAG_ZLIB) == (z ? FL_FLAG_ZLIB : 0u));
		/* Read then written again: the same bytes (one canonical
		 * form). */
		CHECK(to_memory(&b, z, &buf2, &len2) == 0);
		CHECK(len == len2 && memcmp(buf, buf2, len) == 0);
		/* Trailing bytes are not part of one record. */
		buf = realloc(buf, len + 1);
		buf[len] = 0;
		CHECK(fl_record_parse(&b, buf, len + 1, NULL, &err) < 0);
		CHECK(b.ntensors == 0 && b.nmeta == 0);
		free(buf);
		free(buf2);
	}
	fl_record_free(&a);
	fl_record_free(&b);
}

static void
test_stream(void)
{
	struct fl_record a, b, c;
	struct fl_error err;
	char *buf = NULL;
	size_t len = 0, first = 0;
	FILE *fp;

	build_sample(&a, 1);
	build_sample(&b, 2);
	fl_record_init(&c);
	fp = open_memstream(&buf, &len);
	CHECK(fl_record_write(fp, &a, 0, &err) == 0);
	CHECK(fl_record_write(fp, &b, 6, &err) == 0);
	CHECK(fl_record_write(fp, &a, 1, &err) == 0);
	fclose(fp);

	/* Three records, then a clean end; the same record struct is
	 * reused, buffers and all. */
	fp = fmemopen(buf, len, "rb");
	CHECK(fl_record_read(&c, fp, NULL, &err) == 1 && records_equal(&a, &c));
	first = c.size;
	CHECK(fl_record_read(&c, fp, NULL, &err) == 1 && records_equal(&b, &c));
	CHECK(fl_record_read(&c, fp, NULL, &err) == 1 && records_equal(&a, &c));
	CHECK(fl_record_read(&c, fp, NULL, &err) == 0);
	CHECK(fl_record_read(&c, fp, NULL, &err) == 0);
	fclose(fp);

	/* Cut anywhere inside the second record: a truncation error after
	 * one good record. */
	for (size_t cut = first + 1; cut < first + 300; cut += 37) {
		fp = fmemopen(buf, cut, "rb");
		CHECK(fl_record_read(&c, fp, NULL, &err) == 1);
		CHECK(fl_record_read(&c, fp, NULL, &err) == -1);
		CHECK(err.code == FL_ETRUNC);
		CHECK(strstr(err.msg, "truncated") != NULL);
		fclose(fp);
	}
	free(buf);
	fl_record_free(&a);
	fl_record_free(&b);
	fl_record_free(&c);
}

static void
test_limits(void)
{
	struct fl_limits lim = { 100 };
	uint64_t dims[] = { 64 };
	struct fl_record a, b;
	struct fl_error err;
	char *buf = NULL;
	size_t len = 0;

	fl_record_init(&a);
	fl_record_init(&b);
	fl_tensor_add(&a, "w", FL_F32, 1, dims, &err);
	CHECK(to_memory(&a, 0, &buf, &len) == 0);
	CHECK(fl_record_parse(&b, buf, len, &lim, &err) == -1);
	CHECK(err.code == FL_ELIMIT);
	lim.max_payload = 256;
	CHECK(fl_record_parse(&b, buf, len, &lim, &err) == 1);
	free(buf);
	fl_record_free(&a);
	fl_record_free(&b);
}

static void
test_header_padding(void)
{
	char val[200];
	struct fl_record a, b;
	struct fl_error err;

	/* Every header length lands on a 64-byte boundary, including the
	 * case where the text fills it exactly (a bare newline pads). */
	for (int n = 0; n < 130; n++) {
		char *buf = NULL;
		size_t len = 0;

		fl_record_init(&a);
		fl_record_init(&b);
		memset(val, 'x', (size_t)n);
		val[n] = '\0';
		fl_meta_set(&a, "k", val, &err);
		CHECK(to_memory(&a, 0, &buf, &len) == 0);
		CHECK(len % 64 == 0);
		CHECK(fl_record_parse(&b, buf, len, NULL, &err) == 1);
		CHECK(strcmp(fl_meta_get(&b, "k"), val) == 0);
		free(buf);
		fl_record_free(&a);
		fl_record_free(&b);
	}
}

static void
test_stats(void)
{
	uint64_t d4[] = { 4 }, d3[] = { 3 }, d2[] = { 2 };
	struct fl_record rec;
	struct fl_error err;
	struct fl_tensor *t;
	struct fl_stats st;
	float *f;
	double *d;

	fl_record_init(&rec);
	t = fl_tensor_add(&rec, "f", FL_F32, 1, d4, &err);
	f = t->data;
	f[0] = 1;
	f[1] = -3;
	f[2] = 0;
	f[3] = NAN;
	fl_tensor_stats(t, &st);
	CHECK(st.count == 4 && st.finite == 3 && st.nonfinite == 1);
	CHECK(st.zeros == 1 && st.min == -3 && st.max == 1);
	CHECK(fabs(st.mean - (-2.0 / 3)) < 1e-15);
	CHECK(fabs(st.l2 - sqrt(10)) < 1e-15);
	CHECK(fabs(st.std - sqrt(((1 + 2.0 / 3) * (1 + 2.0 / 3) +
	    (-3 + 2.0 / 3) * (-3 + 2.0 / 3) + (4.0 / 9)) / 3)) < 1e-12);

	/* A large mean against a small spread: no cancellation. */
	t = fl_tensor_add(&rec, "d", FL_F64, 1, d3, &err);
	d = t->data;
	d[0] = 1e9;
	d[1] = 1e9 + 1;
	d[2] = 1e9 + 2;
	fl_tensor_stats(t, &st);
	CHECK(fabs(st.std - sqrt(2.0 / 3)) < 1e-9);

	/* Integer extremes are exact. */
	t = fl_tensor_add(&rec, "i", FL_I64, 1, d2, &err);
	((int64_t *)t->data)[0] = INT64_MIN;
	((int64_t *)t->data)[1] = INT64_MAX;
	fl_tensor_stats(t, &st);
	CHECK(st.imin == INT64_MIN && st.imax == INT64_MAX);
	t = fl_tensor_add(&rec, "u", FL_U64, 1, d2, &err);
	((uint64_t *)t->data)[0] = UINT64_MAX;
	((uint64_t *)t->data)[1] = 5;
	fl_tensor_stats(t, &st);
	CHECK(st.umin == 5 && st.umax == UINT64_MAX);

	/* Magnitudes near the top of the double range do not overflow. */
	t = fl_tensor_add(&rec, "huge", FL_F64, 1, d2, &err);
	((double *)t->data)[0] = 1e308;
	((double *)t->data)[1] = -1e308;
	fl_tensor_stats(t, &st);
	CHECK(st.mean == 0 && fabs(st.std / 1e308 - 1) < 1e-15);
	CHECK(fabs(st.l2 / (sqrt(2) * 1e308) - 1) < 1e-15);
	((double *)t->data)[1] = 1e308;
	fl_tensor_stats(t, &st);
	CHECK(fabs(st.mean / 1e308 - 1) < 1e-15 && st.std == 0);

	/* All non-finite: undefined statistics, not zeros. */
	t = fl_tensor_add(&rec, "n", FL_F32, 1, d2, &err);
	((float *)t->data)[0] = INFINITY;
	((float *)t->data)[1] = NAN;
	fl_tensor_stats(t, &st);
	CHECK(st.nonfinite == 2 && isnan(st.mean) && isnan(st.min));
	fl_record_free(&rec);
}

static void
test_values(void)
{
	static const char text[] = "1, 2\t3\n# a comment, 9 9\n4,5 6 # end\n";
	uint64_t d6[] = { 6 }, d2[] = { 2 };
	struct fl_record rec;
	struct fl_error err;
	struct fl_tensor *t;

	fl_record_init(&rec);
	CHECK(fl_values_count(text, strlen(text)) == 6);
	CHECK(fl_values_count("", 0) == 0);
	CHECK(fl_values_count(" ,,\n", 4) == 0);
	t = fl_tensor_add(&rec, "i", FL_I16, 1, d6, &err);
	CHECK(fl_values_parse(t, text, strlen(text), &err) == 0);
	CHECK(((int16_t *)t->data)[5] == 6);
	t = fl_tensor_add(&rec, "u", FL_U8, 1, d2, &err);
	CHECK(fl_values_parse(t, "255 0", 5, &err) == 0);
	CHECK(fl_values_parse(t, "256 0", 5, &err) < 0);
	CHECK(strstr(err.msg, "value 1 '256'") != NULL);
	CHECK(fl_values_parse(t, "1 -1", 4, &err) < 0);
	CHECK(fl_values_parse(t, "1", 1, &err) < 0);
	CHECK(fl_values_parse(t, "1 2 3", 5, &err) < 0);
	CHECK(fl_values_parse(t, "1\n2.5", 5, &err) < 0);
	CHECK(strstr(err.msg, "line 2") != NULL);
	t = fl_tensor_add(&rec, "f", FL_F32, 1, d2, &err);
	CHECK(fl_values_parse(t, "nan -inf", 8, &err) == 0);
	CHECK(isnan(((float *)t->data)[0]) && isinf(((float *)t->data)[1]));
	CHECK(fl_values_parse(t, "1.5 x", 5, &err) < 0);
	/* Overflow, underflow to zero and hex floats are errors; denormals
	 * and explicit non-finite words are values. */
	CHECK(fl_values_parse(t, "3.5e38 0", 8, &err) < 0);
	CHECK(strstr(err.msg, "too large for f32") != NULL);
	CHECK(fl_values_parse(t, "1e-46 0", 7, &err) < 0);
	CHECK(strstr(err.msg, "rounds to zero") != NULL);
	CHECK(fl_values_parse(t, "0x10 0", 6, &err) < 0);
	CHECK(fl_values_parse(t, "infinity 0", 10, &err) < 0);
	CHECK(fl_values_parse(t, "1e-45 0e-99", 11, &err) == 0);
	CHECK(((float *)t->data)[0] > 0 && ((float *)t->data)[1] == 0);
	CHECK(fl_values_parse(t, "-inf +nan", 9, &err) == 0);
	t = fl_tensor_add(&rec, "u2", FL_U16, 1, d2, &err);
	CHECK(fl_values_parse(t, "-1 0", 4, &err) < 0);
	CHECK(strstr(err.msg, "at least 0") != NULL);
	fl_record_free(&rec);
}

static void
test_atomic(void)
{
	char dir[] = "/tmp/fl-unit.XXXXXX", path[64], cmd[96];
	struct fl_atomic a;
	struct fl_error err;
	struct stat st;
	mode_t old;
	FILE *fp;
	char buf[8];

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/out", dir);
	old = umask(022);
	CHECK(fl_atomic_open(&a, path, 0666, &err) == 0);
	fputs("new", a.fp);
	CHECK(access(path, F_OK) != 0);         /* not there until commit */
	CHECK(fl_atomic_commit(&a, &err) == 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
	CHECK(fl_atomic_open(&a, path, 0600, &err) == 0);
	fputs("partial", a.fp);
	fl_atomic_abort(&a);                    /* the old file stands */
	fp = fopen(path, "r");
	CHECK(fp != NULL && fgets(buf, sizeof(buf), fp) != NULL);
	CHECK(strcmp(buf, "new") == 0);
	fclose(fp);
	CHECK(fl_atomic_open(&a, "/nonexistent-dir/x", 0666, &err) < 0);
	umask(old);
	snprintf(cmd, sizeof(cmd), "test $(ls -A %s | wc -l) -eq 1", dir);
	CHECK(system(cmd) == 0);                /* no temporary left */
	unlink(path);
	rmdir(dir);
}

/* The record CRC (PCLMULQDQ where the CPU has it) equals zlib's crc32 for
 * every length, alignment and starting value. */
static void
test_crc32(void)
{
	unsigned char *buf = malloc(1 << 20);
	uint64_t s = 3;

	for (size_t i = 0; i < 1 << 20; i++)
		buf[i] = (unsigned char)next_u64(&s);
	for (int k = 0; k < 3000; k++) {
		size_t off = next_u64(&s) % 64, len = k < 300 ? (size_t)k :
		    next_u64(&s) % (k < 2900 ? 5000 : (1 << 20) - 64);
		uint32_t init = k % 3 ? (uint32_t)next_u64(&s) : 0;

		CHECK(fl_crc32(init, buf + off, len) ==
		    (uint32_t)crc32(init, buf + off, (uInt)len));
	}
	/* Known value: the CRC-32 of "123456789". */
	CHECK(fl_crc32(0, "123456789", 9) == 0xcbf43926u);
	free(buf);
}

/* 128-bit division and the double conversions from base/int128.c, which stand
 * in for the compiler's helpers on 32-bit ARM: against the compiler's own
 * operators (on armhf those are these functions) and fixed answers. */
static void
test_int128(void)
{
	typedef unsigned __int128 u128;
	const u128 max = ~(u128)0;
	u128 r, q;
	uint64_t s = 11;

	q = fl_u128_divmod(max, 3, &r);
	CHECK((uint64_t)(q >> 64) == UINT64_C(0x5555555555555555) &&
	    (uint64_t)q == UINT64_C(0x5555555555555555) && r == 0);
	q = fl_u128_divmod(max, max - 1, &r);
	CHECK(q == 1 && r == 1);
	q = fl_u128_divmod((u128)1 << 127 | 12345, (u128)1 << 64 | 7, &r);
	CHECK((uint64_t)(q >> 64) == 0 && (uint64_t)q ==
	    UINT64_C(0x7ffffffffffffffc) && (uint64_t)(r >> 64) == 0 &&
	    (uint64_t)r == UINT64_C(0x8000000000003055));
	q = fl_u128_divmod(1000, 7, &r);
	CHECK(q == 142 && r == 6);
	CHECK(fl_u128_divmod(5, 0, &r) == 0 && r == 0);
	for (int k = 0; k < 20000; k++) {
		u128 n = (u128)next_u64(&s) << 64 | next_u64(&s);
		u128 d = (u128)(next_u64(&s) >> (k % 64)) << (k % 3 ? 64 : 0) |
		    (next_u64(&s) >> (k % 61));

		if (d == 0)
			d = 1;
		q = fl_u128_divmod(n, d, &r);
		CHECK(q * d + r == n && r < d);
		CHECK(q == n / d && r == n % d);
	}
	CHECK(fl_f64_to_i128(0.0) == 0 && fl_f64_to_i128(-0.9) == 0);
	CHECK(fl_f64_to_i128(-3.7) == -3 && fl_f64_to_i128(1e18) ==
	    (__int128)1000000000000000000);
	CHECK(fl_f64_to_i128(0x1p100) == (__int128)1 << 100);
	CHECK(fl_f64_to_i128(-0x1p126) == -((__int128)1 << 126));
	CHECK(fl_f64_to_i128(0x1p200) == (__int128)(max >> 1));
	CHECK(fl_f64_to_i128(NAN) == 0);
	for (int k = 0; k < 20000; k++) {
		double x = ldexp((double)(next_u64(&s) >> 11), k % 120 - 53);

		if (k & 1)
			x = -x;
		CHECK(fl_f64_to_i128(x) == (__int128)x);
		if (x >= 0)
			CHECK(fl_f64_to_u128(x) == (u128)x);
	}
	CHECK(fl_f64_to_u128(0x1p127 + 0x1p100) == ((u128)1 << 127 | (u128)1 << 100));
	CHECK(fl_f64_to_u128(0x1p128) == max && fl_f64_to_u128(-5.0) == 0);
	CHECK(fl_f64_to_i128(-0x1p127) == -(__int128)(max >> 1) - 1);
	CHECK(fl_u128_to_f64(max) == 0x1p128);
	CHECK(fl_i128_to_f64(-((__int128)1 << 100)) == -0x1p100);
	/* 2^64 + 2^12 + 1 rounds up: the sticky bit decides a would-be tie */
	CHECK(fl_i128_to_f64((__int128)1 << 64 | 1 << 11 | 1) == 0x1p64 + 0x1p12);
	CHECK(fl_i128_to_f64((__int128)1 << 64 | 1 << 11) == 0x1p64);
	for (int k = 0; k < 20000; k++) {
		__int128 a = (__int128)((u128)next_u64(&s) << 64 |
		    next_u64(&s)) >> (k % 127);

		CHECK(fl_i128_to_f64(a) == (double)a);
		CHECK(fl_u128_to_f64((u128)a) == (double)(u128)a);
	}
}

static void
test_sniff(void)
{
	CHECK(strstr(fl_sniff_format((const unsigned char *)"\x1f\x8b\x08",
	    3), "gzip") != NULL);
	CHECK(strstr(fl_sniff_format((const unsigned char *)"\x28\xb5\x2f\xfd",
	    4), "zstd") != NULL);
	CHECK(strstr(fl_sniff_format((const unsigned char *)"\x93NUMPY\x01",
	    7), ".npy") != NULL);
	CHECK(strstr(fl_sniff_format((const unsigned char *)
	    "\x10\x00\x00\x00\x00\x00\x00\x00{\"a\"", 12), "safetensors") !=
	    NULL);
	CHECK(fl_sniff_format((const unsigned char *)"hello world", 11) ==
	    NULL);
	CHECK(fl_sniff_format((const unsigned char *)"", 0) == NULL);
}

static void
test_class_weighted(void)
{
	/* true x predicted: 4 of class 0 (3 right), 0 of 1, 6 of 2 (3 right) */
	static const uint64_t cm[9] = { 3, 1, 0, 0, 0, 0, 2, 1, 3 };
	static const uint64_t none[9];
	static const double cl[3] = { 2, 0, 9 };
	static const float ones[3] = { 1, 1, 1 }, w[3] = { 3, 0, 1 };
	static const float only1[3] = { 0, 5, 0 }, neg[3] = { 1, -1, 1 };
	struct fl_error err;
	double l, a;

	CHECK(fl_class_weighted(3, cm, cl, ones, &l, &a, &err) == 0);
	CHECK(fabs(l - 11.0 / 10) < 1e-15 && fabs(a - 6.0 / 10) < 1e-15);
	CHECK(fl_class_weighted(3, cm, cl, w, &l, &a, &err) == 0);
	CHECK(fabs(l - 15.0 / 18) < 1e-15 && fabs(a - 12.0 / 18) < 1e-15);
	CHECK(fl_class_weighted(3, cm, NULL, w, &l, &a, &err) == 0);
	CHECK(isnan(l) && fabs(a - 12.0 / 18) < 1e-15);
	/* a weight only on a class without examples */
	CHECK(fl_class_weighted(3, cm, cl, only1, &l, &a, &err) == -1);
	CHECK(err.code == FL_EINVAL);
	CHECK(fl_class_weighted(3, cm, cl, neg, &l, &a, &err) == -1);
	CHECK(strstr(err.msg, "class 1 is negative") != NULL);
	/* no examples: undefined, not an error */
	CHECK(fl_class_weighted(3, none, cl, only1, &l, &a, &err) == 0);
	CHECK(isnan(l) && isnan(a));
}

static const struct {
	const char *name;
	void (*fn)(void);
} tests[] = {
	{ "dtype", test_dtype },
	{ "parse_numbers", test_parse_numbers },
	{ "format_numbers", test_format_numbers },
	{ "meta", test_meta },
	{ "meta_numbers", test_meta_numbers },
	{ "tensor_add", test_tensor_add },
	{ "int_elements", test_int_elements },
	{ "shape_parse", test_shape_parse },
	{ "roundtrip", test_roundtrip },
	{ "stream", test_stream },
	{ "limits", test_limits },
	{ "header_padding", test_header_padding },
	{ "stats", test_stats },
	{ "values", test_values },
	{ "half", test_half },
	{ "select", test_select },
	{ "atomic", test_atomic },
	{ "sniff", test_sniff },
	{ "crc32", test_crc32 },
	{ "int128", test_int128 },
	{ "read_stream", test_read_stream },
	{ "acc_pieces", test_acc_pieces },
	{ "shamir", test_shamir },
	{ "secagg_params", test_secagg_params },
	{ "verify_memory", test_verify_memory },
	{ "class_weighted", test_class_weighted },
	{ "sparse_k", test_sparse_k },
	{ "randk", test_randk },
	{ "topk", test_topk },
	{ "error_feedback", test_error_feedback },
	{ "sparse_record", test_sparse_record },
	{ "normal_paths", test_normal_paths },
	{ "clip_factor", test_clip_factor },
	{ "dgauss_bits", test_dgauss_bits },
	{ "fwht_blocked", test_fwht_blocked },
	{ "quant_paths", test_quant_paths },
	{ "release_protection", test_release_protection },
	{ "account_steps", test_account_steps },
	{ "account_shares", test_account_shares },
	{ "account_charge", test_account_charge },
	{ "account_options", test_account_options },
	{ "account_report", test_account_report },
	{ "account_names", test_account_names },
	{ "account_plan", test_account_plan },
	{ "account_ledger_path", test_account_ledger_path },
	{ "sa_keyfile", test_sa_keyfile },
	{ "sa_identity_files", test_sa_identity_files },
	{ "sa_keygen", test_sa_keygen },
	{ "sa_roster_make", test_sa_roster_make },
	{ "aggregation_admit", test_aggregation_admit },
	{ "robust_chunked", test_robust_chunked },
	{ "sa_unmasking", test_sa_unmasking },
	{ "dp_clip_record", test_dp_clip_record },
	{ "dp_weight_pass", test_dp_weight_pass },
	{ "dp_noise_record", test_dp_noise_record },
	{ "clip_adapt", test_clip_adapt },
	{ "tree_cover", test_tree_cover },
	{ "tree_variance", test_tree_variance },
	{ "tree_telescope", test_tree_telescope },
	{ "tree_sens", test_tree_sens },
	{ "zcdp_rdp", test_zcdp_rdp },
	{ "banded_error", test_banded_error },
	{ "banded_optimize", test_banded_optimize },
	{ "banded_sens", test_banded_sens },
	{ "banded_noise", test_banded_noise },
	{ "codec_ring", test_codec_ring },
	{ "codec_sr", test_codec_sr },
	{ "codec_eden", test_codec_eden },
	{ "codec_sparse", test_codec_sparse },
	{ "codec_decode", test_codec_decode },
	{ "codec_common", test_codec_common },
};

int
main(int argc, char **argv)
{
	size_t n = sizeof(tests) / sizeof(*tests);

	if (argc == 2 && strcmp(argv[1], "--vectors") == 0) {
		print_secagg_vectors(stdout);
		return failures ? 1 : 0;
	}
	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (size_t i = 0; i < n; i++)
			puts(tests[i].name);
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: unit --list | unit --vectors | "
		    "unit NAME\n");
		return 2;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(argv[1], tests[i].name) == 0) {
			tests[i].fn();
			return failures ? 1 : 0;
		}
	}
	fprintf(stderr, "unit: no test '%s'\n", argv[1]);
	return 2;
}
