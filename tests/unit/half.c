/* SPDX-License-Identifier: ISC */
/*
 * Half precision (lib/format/half.c): f16 and bf16 to and from f32 and f64,
 * every bit pattern and the boundary cases by known answers, text in and
 * out, and records widened to f32 and narrowed back.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/fl.h"
#include "format/internal.h"
#include "unit.h"

static uint32_t
bits_of(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

static float
float_of(uint32_t u)
{
	float f;

	memcpy(&f, &u, 4);
	return f;
}

/* Significant digits of a number as text (before any exponent). */
static size_t
digits(const char *s)
{
	size_t n = 0;
	int lead = 1;

	for (; *s != '\0' && *s != 'e'; s++) {
		if (*s < '0' || *s > '9' || (lead && *s == '0'))
			continue;
		lead = 0;
		n++;
	}
	return n;
}

static int
is_nan16(enum fl_dtype dt, uint16_t h)
{
	return dt == FL_F16 ? (h & 0x7c00) == 0x7c00 && (h & 0x3ff) :
	    (h & 0x7f80) == 0x7f80 && (h & 0x7f);
}

/* Every pattern: widened and narrowed again, from float and from double
 * (a signalling NaN made a double comes back quiet: NaN, not the bits),
 * and as text. */
static void
every_pattern(enum fl_dtype dt)
{
	char buf[FL_NUMBUF];

	for (uint32_t i = 0; i < 65536; i++) {
		uint16_t h = (uint16_t)i, back;
		float f = fl_half_to_float(dt, h);

		CHECK(fl_half_from_float(dt, f) == h);
		if (is_nan16(dt, h)) {
			CHECK(isnan(f));
			CHECK(!!signbit(f) == !!(h & 0x8000));
			CHECK(is_nan16(dt, fl_half_from_double(dt, f)));
		} else {
			CHECK(!isnan(f));
			CHECK(fl_half_from_double(dt, f) == h);
			CHECK(fl_half_toward_zero(dt, f) == h);
		}
		/* bf16 is the top half of an f32. */
		if (dt == FL_BF16)
			CHECK(bits_of(f) == (uint32_t)h << 16);
		fl_format_half(buf, dt, h);
		CHECK(fl_half_parse(dt, buf, &back) == 0);
		CHECK(is_nan16(dt, h) ? is_nan16(dt, back) : back == h);
		/* 5 digits tell f16 values apart, 4 bf16 ones; integers
		 * below 1e17 are written whole. */
		CHECK(digits(buf) <= (dt == FL_F16 ? 5u : 4u) ||
		    (fabsf(f) < 1e17f && fabsf(f) == floorf(fabsf(f)) &&
		    strchr(buf, 'e') == NULL));
	}
}

struct kat {
	double x;
	uint16_t nearest, toward_zero;
};

static void
test_half_convert(void)
{
	/* f16: the largest finite, overflow at the half-way point 65520,
	 * the smallest subnormal 2^-24 and the ties around it, ties to even
	 * at 1 and across the subnormal/normal border, values a narrowing
	 * through f32 would round twice. */
	static const struct kat f16[] = {
		{ 0, 0x0000, 0x0000 }, { -0.0, 0x8000, 0x8000 },
		{ 1, 0x3c00, 0x3c00 }, { -2, 0xc000, 0xc000 },
		{ 65504, 0x7bff, 0x7bff }, { 65519.99, 0x7bff, 0x7bff },
		{ 65520, 0x7c00, 0x7bff }, { -65520, 0xfc00, 0xfbff },
		{ 1e300, 0x7c00, 0x7bff }, { INFINITY, 0x7c00, 0x7c00 },
		{ -INFINITY, 0xfc00, 0xfc00 },
		{ 0x1p-24, 0x0001, 0x0001 }, { 0x1p-25, 0x0000, 0x0000 },
		{ 0x1.0000000000001p-25, 0x0001, 0x0000 },
		{ 0x1.8p-24, 0x0002, 0x0001 }, { 0x1.4p-23, 0x0002, 0x0002 },
		{ 0x1p-14, 0x0400, 0x0400 }, { 0x1p-14 - 0x1p-25, 0x0400, 0x03ff },
		{ 0x1p-14 - 0x1p-24, 0x03ff, 0x03ff }, { 1e-30, 0x0000, 0x0000 },
		{ 1 + 0x1p-11, 0x3c00, 0x3c00 }, { 1 + 0x3p-11, 0x3c02, 0x3c01 },
		{ 1 + 0x1p-11 + 0x1p-40, 0x3c01, 0x3c00 },
		{ 0.1, 0x2e66, 0x2e66 }, { -0.1, 0xae66, 0xae66 },
		{ 3.140625, 0x4248, 0x4248 }, { 2047.5, 0x6800, 0x67ff },
		{ 2048 + 1, 0x6800, 0x6800 }, { 2048 + 3, 0x6802, 0x6801 },
	};
	/* bf16: the largest finite 0x7f7f, overflow past it, ties to even,
	 * subnormals down to 2^-133. */
	static const struct kat bf16[] = {
		{ 1, 0x3f80, 0x3f80 }, { -1, 0xbf80, 0xbf80 },
		{ 0x1.fep127, 0x7f7f, 0x7f7f }, { 0x1.ffp127, 0x7f80, 0x7f7f },
		{ 0x1.fefffffp127, 0x7f7f, 0x7f7f }, { 1e39, 0x7f80, 0x7f7f },
		{ 1 + 0x1p-8, 0x3f80, 0x3f80 }, { 1 + 0x3p-8, 0x3f82, 0x3f81 },
		{ 1 + 0x1p-8 + 0x1p-30, 0x3f81, 0x3f80 },
		{ 0x1p-133, 0x0001, 0x0001 }, { 0x1p-134, 0x0000, 0x0000 },
		{ 0x1.8p-133, 0x0002, 0x0001 }, { 0x1p-126, 0x0080, 0x0080 },
		{ 0.1, 0x3dcd, 0x3dcc }, { 3.140625, 0x4049, 0x4049 },
		{ 1e-50, 0x0000, 0x0000 }, { -0.0, 0x8000, 0x8000 },
	};
	uint64_t s = 1;

	for (size_t i = 0; i < sizeof(f16) / sizeof(f16[0]); i++) {
		CHECK(fl_half_from_double(FL_F16, f16[i].x) == f16[i].nearest);
		CHECK(fl_half_toward_zero(FL_F16, f16[i].x) ==
		    f16[i].toward_zero);
		if ((double)(float)f16[i].x == f16[i].x)
			CHECK(fl_half_from_float(FL_F16, (float)f16[i].x) ==
			    f16[i].nearest);
	}
	for (size_t i = 0; i < sizeof(bf16) / sizeof(bf16[0]); i++) {
		CHECK(fl_half_from_double(FL_BF16, bf16[i].x) ==
		    bf16[i].nearest);
		CHECK(fl_half_toward_zero(FL_BF16, bf16[i].x) ==
		    bf16[i].toward_zero);
	}
	CHECK(fl_half_to_float(FL_F16, 0x7bff) == 65504);
	CHECK(fl_half_to_float(FL_F16, 0x0001) == 0x1p-24f);
	CHECK(fl_half_to_float(FL_F16, 0x03ff) == 0x3ffp-24f);
	CHECK(fl_half_to_float(FL_F16, 0x3555) == 0x1.554p-2f);
	CHECK(fl_half_to_float(FL_BF16, 0x7f7f) == 0x1.fep127f);
	CHECK(fl_half_to_float(FL_BF16, 0x0001) == 0x1p-133f);
	/* NaN: sign and top payload bits kept, never infinity. */
	CHECK(fl_half_from_float(FL_F16, float_of(0x7fc00000)) == 0x7e00);
	CHECK(fl_half_from_float(FL_F16, float_of(0xff800001)) == 0xfe00);
	CHECK(fl_half_from_float(FL_F16, float_of(0x7f802000)) == 0x7c01);
	CHECK(fl_half_from_float(FL_BF16, float_of(0x7f800001)) == 0x7fc0);
	CHECK(fl_half_from_float(FL_BF16, float_of(0xff810000)) == 0xff81);
	CHECK(is_nan16(FL_F16, fl_half_from_double(FL_F16, NAN)));
	CHECK(is_nan16(FL_BF16, fl_half_toward_zero(FL_BF16, -NAN)));
	every_pattern(FL_F16);
	every_pattern(FL_BF16);

	/* bf16 from f32 against the usual bit formula, on random floats. */
	for (int i = 0; i < 1000000; i++) {
		uint32_t u;

		s = s * 6364136223846793005u + 1442695040888963407u;
		u = (uint32_t)(s >> 32);
		if (isnan(float_of(u)))
			continue;
		CHECK(fl_half_from_float(FL_BF16, float_of(u)) ==
		    (uint16_t)((u + 0x7fff + (u >> 16 & 1)) >> 16));
		CHECK(fl_half_toward_zero(FL_BF16, float_of(u)) ==
		    (uint16_t)(u >> 16) ||
		    (u & 0x7fffffff) >= 0x7f800000);
	}
}

static void
parses(enum fl_dtype dt, const char *s, uint16_t want)
{
	uint16_t h = 0xdead;

	CHECK(fl_half_parse(dt, s, &h) == 0);
	if (h != want)
		fprintf(stderr, "'%s' as %s: %04x, want %04x\n", s,
		    fl_dtype_name(dt), h, want);
	CHECK(h == want);
}

/* Decimal text, correctly rounded: a decimal a hair off a half-way point
 * that strtod rounds onto it must still round away from it. */
static void
test_half_text(void)
{
	char buf[FL_NUMBUF];
	uint16_t h;

	parses(FL_F16, "1.00048828125", 0x3c00);
	parses(FL_F16, "1.000488281250000000000000000001", 0x3c01);
	parses(FL_F16, "1.000488281249999999999999999999", 0x3c00);
	parses(FL_F16, "-1.000488281250000000000000000001", 0xbc01);
	parses(FL_F16, "1.00146484375", 0x3c02);
	parses(FL_F16, "100146484374999999999999999e-26", 0x3c01);
	parses(FL_F16, "0.00000000000000000000000000100146484375e27",
	    0x3c02);
	parses(FL_F16, "65504", 0x7bff);
	parses(FL_F16, "65519.99999999999999999999", 0x7bff);
	parses(FL_F16, "65520", 0x7c00);
	parses(FL_F16, "6e-8", 0x0001);
	parses(FL_F16, "2.98023223876953125e-8", 0x0000);
	parses(FL_F16, "2.980232238769531250000000001e-8", 0x0001);
	parses(FL_F16, "0.0000000298023223876953125000000001", 0x0001);
	parses(FL_F16, "-0", 0x8000);
	parses(FL_F16, "0.1", 0x2e66);
	parses(FL_F16, "inf", 0x7c00);
	parses(FL_F16, "-inf", 0xfc00);
	parses(FL_F16, "1e999", 0x7c00);
	parses(FL_F16, "1e-999", 0x0000);
	parses(FL_BF16, "1.00390625", 0x3f80);
	parses(FL_BF16, "1.003906250000000000000000001", 0x3f81);
	parses(FL_BF16, "1.01171875", 0x3f82);
	parses(FL_BF16, "3.3895313892515355e38", 0x7f7f);
	/* 2^128 - 2^119, half-way from the largest to infinity. */
	parses(FL_BF16, "339617752923046005526922703901628039168", 0x7f80);
	parses(FL_BF16, "3.396177529230460055269227039016280391679e38",
	    0x7f7f);
	parses(FL_BF16, "3.3961775292304601e38", 0x7f80);
	parses(FL_BF16, "0.1", 0x3dcd);
	CHECK(fl_half_parse(FL_F16, "nan", &h) == 0 && is_nan16(FL_F16, h));
	CHECK(fl_half_parse(FL_F16, "-nan", &h) == 0 && h & 0x8000);
	CHECK(fl_half_parse(FL_F16, "", &h) < 0);
	CHECK(fl_half_parse(FL_F16, "1x", &h) < 0);
	CHECK(strcmp(fl_format_half(buf, FL_F16, 0x7bff), "65504") == 0);
	CHECK(strcmp(fl_format_half(buf, FL_F16, 0x2e66), "0.1") == 0);
	CHECK(strcmp(fl_format_half(buf, FL_F16, 0x0001), "6e-08") == 0);
	CHECK(strcmp(fl_format_half(buf, FL_F16, 0x6800), "2048") == 0);
	CHECK(strcmp(fl_format_half(buf, FL_F16, 0xfc00), "-inf") == 0);
	CHECK(strcmp(fl_format_half(buf, FL_BF16, 0x3dcd), "0.1") == 0);
	CHECK(strcmp(fl_format_half(buf, FL_BF16, 0x7f7f), "3.39e+38") == 0);
	CHECK(strcmp(fl_format_half(buf, FL_BF16, 0x8000), "-0") == 0);
}

static struct fl_tensor *
add(struct fl_record *rec, const char *name, enum fl_dtype dt,
    const char *values)
{
	struct fl_error err;
	uint64_t n = fl_values_count(values, strlen(values));
	struct fl_tensor *t = fl_tensor_add(rec, name, dt, 1, &n, &err);

	CHECK(t != NULL);
	CHECK(t != NULL && fl_values_parse(t, values, strlen(values),
	    &err) == 0);
	return t;
}

/* rec written and read back: the payload keeps the format's rules. */
static void
valid(const struct fl_record *rec)
{
	struct fl_record back;
	struct fl_error err;
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	CHECK(fp != NULL && fl_record_write(fp, rec, 0, &err) == 0);
	fclose(fp);
	fl_record_init(&back);
	CHECK(fl_record_parse(&back, buf, len, NULL, &err) == 1);
	CHECK(back.rawlen == rec->rawlen &&
	    memcmp(back.raw, rec->raw, rec->rawlen) == 0);
	fl_record_free(&back);
	free(buf);
}

static void
test_half_records(void)
{
	struct fl_record rec;
	struct fl_halves h;
	struct fl_error err;
	struct fl_tensor *t;
	struct fl_stats st;

	fl_record_init(&rec);
	add(&rec, "z", FL_F16, "0.1, -2, 65504, 6e-8, -0, inf");
	add(&rec, "b", FL_F32, "1.5, 2.5");
	add(&rec, "a", FL_BF16, "0.1, 3.39e38, -1");
	add(&rec, "i", FL_I32, "-7");
	valid(&rec);
	t = fl_tensor_find(&rec, "z");
	CHECK(fl_tensor_get(t, 0) == (double)0x1.998p-4f);
	CHECK(fl_tensor_get(t, 2) == 65504 && fl_tensor_get(t, 3) == 0x1p-24);
	fl_tensor_stats(t, &st);
	CHECK(st.count == 6 && st.finite == 5 && st.nonfinite == 1 &&
	    st.zeros == 1 && st.max == 65504 && st.min == -2);

	CHECK(fl_record_widen(&rec, &h, &err) == 0);
	CHECK(h.n == 2 && strcmp(h.names[0], "a") == 0 &&
	    h.dtypes[0] == FL_BF16 && strcmp(h.names[1], "z") == 0 &&
	    h.dtypes[1] == FL_F16);
	CHECK(rec.ntensors == 4 && strcmp(rec.tensors[0].name, "z") == 0 &&
	    strcmp(rec.tensors[3].name, "i") == 0);
	for (size_t i = 0; i < 3; i++)
		CHECK(rec.tensors[i].dtype == FL_F32);
	CHECK(rec.tensors[3].dtype == FL_I32);
	valid(&rec);
	t = fl_tensor_find(&rec, "z");
	CHECK(((float *)t->data)[0] == 0x1.998p-4f &&
	    ((float *)t->data)[3] == 0x1p-24f && isinf(((float *)t->data)[5]));
	t = fl_tensor_find(&rec, "a");
	CHECK(((float *)t->data)[1] == 0x1.fep127f);

	/* Computed in f32, narrowed to nearest; "b" stays f32. */
	t = fl_tensor_find(&rec, "z");
	((float *)t->data)[0] = 1 + 0x1p-11f;   /* a tie: to even, 1 */
	((float *)t->data)[1] = 1 + 0x3p-11f;   /* a tie: up, to even */
	CHECK(fl_record_narrow(&rec, &h, &err) == 0);
	CHECK(rec.tensors[0].dtype == FL_F16 && rec.tensors[1].dtype == FL_F32 &&
	    rec.tensors[2].dtype == FL_BF16 && rec.tensors[3].dtype == FL_I32);
	CHECK(((uint16_t *)rec.tensors[0].data)[0] == 0x3c00);
	CHECK(((uint16_t *)rec.tensors[0].data)[1] == 0x3c02);
	CHECK(((uint16_t *)rec.tensors[0].data)[2] == 0x7bff);
	CHECK(((uint16_t *)rec.tensors[0].data)[5] == 0x7c00);
	CHECK(((uint16_t *)rec.tensors[2].data)[1] == 0x7f7f);
	CHECK(fl_tensor_get(&rec.tensors[3], 0) == -7);
	valid(&rec);

	/* A value past f16's largest fails the narrowing, which leaves the
	 * record as it was; an f64 tensor narrows as well. */
	CHECK(fl_record_widen(&rec, NULL, &err) == 0);
	((float *)rec.tensors[0].data)[4] = 65520;
	CHECK(fl_record_narrow(&rec, &h, &err) < 0);
	CHECK(err.code == FL_ELIMIT &&
	    strcmp(err.msg, "tensor 'z' element 4: 65520 overflows f16") == 0);
	CHECK(rec.tensors[0].dtype == FL_F32 &&
	    ((float *)rec.tensors[0].data)[4] == 65520);
	fl_record_clear(&rec);
	add(&rec, "a", FL_F64, "0.1, 1e-300");
	CHECK(fl_record_narrow(&rec, &h, &err) == 0);
	CHECK(rec.tensors[0].dtype == FL_BF16 &&
	    ((uint16_t *)rec.tensors[0].data)[0] == 0x3dcd &&
	    ((uint16_t *)rec.tensors[0].data)[1] == 0);
	valid(&rec);
	fl_halves_free(&h);
	fl_halves_free(&h);

	/* Nothing half: nothing to do, nothing noted. */
	fl_record_clear(&rec);
	add(&rec, "w", FL_F32, "1");
	CHECK(fl_record_widen(&rec, &h, &err) == 0 && h.n == 0);
	CHECK(fl_record_narrow(&rec, &h, &err) == 0 &&
	    rec.tensors[0].dtype == FL_F32);
	fl_halves_free(&h);
	fl_record_free(&rec);
}

/* fl_record_cast: every float tensor to one dtype, rounded once to
 * nearest; integers stay; an overflow fails and leaves the record. */
static void
test_half_cast(void)
{
	struct fl_record rec;
	struct fl_error err;

	fl_record_init(&rec);
	add(&rec, "d", FL_F64, "0.1, 1e300, -3");
	add(&rec, "h", FL_F16, "0.5, -2");
	add(&rec, "i", FL_I64, "117");
	/* f64 to f32 overflows: nothing changes. */
	CHECK(fl_record_cast(&rec, FL_F32, &err) < 0 && err.code == FL_ELIMIT &&
	    strcmp(err.msg, "tensor 'd' element 1: 1e+300 overflows f32") == 0);
	CHECK(rec.tensors[0].dtype == FL_F64 && rec.tensors[1].dtype == FL_F16);
	((double *)rec.tensors[0].data)[1] = 1 + 0x1p-24;   /* a tie: even */
	CHECK(fl_record_cast(&rec, FL_F32, &err) == 0);
	CHECK(rec.tensors[0].dtype == FL_F32 && rec.tensors[1].dtype == FL_F32 &&
	    rec.tensors[2].dtype == FL_I64);
	CHECK(((float *)rec.tensors[0].data)[0] == 0.1f &&
	    ((float *)rec.tensors[0].data)[1] == 1.0f &&
	    ((float *)rec.tensors[1].data)[1] == -2.0f);
	CHECK(fl_tensor_get(&rec.tensors[2], 0) == 117);
	valid(&rec);
	/* To bf16 from f64 rounds the double once (0.1 -> 0x3dcd), and
	 * back to f64 exactly. */
	fl_record_clear(&rec);
	add(&rec, "d", FL_F64, "0.1");
	CHECK(fl_record_cast(&rec, FL_BF16, &err) == 0 &&
	    rec.tensors[0].dtype == FL_BF16 &&
	    ((uint16_t *)rec.tensors[0].data)[0] == 0x3dcd);
	CHECK(fl_record_cast(&rec, FL_F64, &err) == 0 &&
	    ((double *)rec.tensors[0].data)[0] ==
	    (double)fl_half_to_float(FL_BF16, 0x3dcd));
	/* The same dtype: the bytes stay; not a float dtype: refused. */
	CHECK(fl_record_cast(&rec, FL_F64, &err) == 0);
	CHECK(fl_record_cast(&rec, FL_I32, &err) < 0 && err.code == FL_EINVAL);
	valid(&rec);
	fl_record_free(&rec);
}

/* ---- computing on half tensors: clipping, noise, sums ---- */

/* n values of dtype dt, normal with mixed magnitudes, from seed. */
static struct fl_tensor *
random_tensor(struct fl_record *rec, const char *name, enum fl_dtype dt,
    uint64_t n, uint64_t seed)
{
	struct fl_error err;
	struct fl_tensor *t = fl_tensor_add(rec, name, dt, 1, &n, &err);
	unsigned char key[FL_RNG_KEYBYTES];
	char text[32];
	struct fl_rng r;

	CHECK(t != NULL);
	snprintf(text, sizeof(text), "half %llu", (unsigned long long)seed);
	fl_rng_seed_text(key, text);
	fl_rng_init(&r, key, 0);
	for (uint64_t i = 0; t != NULL && i < n; i++) {
		double x = fl_normal(&r) * exp2(3 * fl_normal(&r));

		if (dt == FL_F32)
			((float *)t->data)[i] = (float)x;
		else
			((uint16_t *)t->data)[i] = fl_half_from_double(dt, x);
	}
	fl_rng_wipe(&r);
	return t;
}

/* Clipping keeps the bound after the rounding to f16 or bf16 (toward
 * zero), and does not shrink more than a step per value; noise adds to
 * the widened values as for f32 and rounds once. */
static void
test_half_dp(void)
{
	static const uint64_t sizes[] = { 1, 7, 1000, 100000 };
	struct fl_error err;

	for (int h = 0; h < 2; h++) {
		enum fl_dtype dt = h ? FL_BF16 : FL_F16;
		/* a step toward zero loses at most 2^-mant of a value */
		double lose = h ? 0x1p-7 : 0x1p-10;

		for (size_t z = 0; z < sizeof(sizes) / sizeof(*sizes); z++) {
			for (uint64_t seed = 0; seed < 5; seed++) {
				struct fl_record rec;
				struct fl_tensor *ts[2];
				double norm;
				int clipped;

				fl_record_init(&rec);
				random_tensor(&rec, "a", dt, sizes[z], seed);
				random_tensor(&rec, "b", FL_F32, 3, seed + 9);
				ts[0] = &rec.tensors[0];
				ts[1] = &rec.tensors[1];
				CHECK(fl_clip_tensors(ts, 2, 0.5, &clipped,
				    &err) == 0 && clipped);
				norm = sqrt(fl_tensor_sumsq(ts[0]) +
				    fl_tensor_sumsq(ts[1]));
				CHECK(norm <= 0.5 && norm >= 0.5 * (1 - lose));
				CHECK(rec.tensors[0].dtype == dt);
				fl_record_free(&rec);
			}
		}
	}

	/* Noise on an f16 tensor and on its f32 twin (the same values, the
	 * same key): the f16 result is the exact noised value rounded once,
	 * so within half an f16 step of the f32 result (which rounded it
	 * once to f32). */
	for (int h = 0; h < 2; h++) {
		enum fl_dtype dt = h ? FL_BF16 : FL_F16;
		struct fl_record a, b;
		struct fl_noise nz;
		uint64_t n = 5000;

		fl_record_init(&a);
		fl_record_init(&b);
		random_tensor(&a, "w", dt, n, 42);
		CHECK(fl_tensor_add(&b, "w", FL_F32, 1, &n, &err) != NULL);
		for (uint64_t i = 0; i < n; i++)
			((float *)b.tensors[0].data)[i] = (float)fl_tensor_get(
			    &a.tensors[0], i);
		memset(&nz, 0, sizeof(nz));
		nz.mechanism = FL_MECH_GAUSSIAN;
		nz.sigma = 0.25;
		nz.threads = 1;
		fl_rng_seed_text(nz.key, "noise");
		CHECK(fl_noise_tensor(&a.tensors[0], 0, &nz, &err) == 0);
		CHECK(fl_noise_tensor(&b.tensors[0], 0, &nz, &err) == 0);
		for (uint64_t i = 0; i < n; i++) {
			double x = fl_tensor_get(&a.tensors[0], i);
			double y = fl_tensor_get(&b.tensors[0], i);
			int e;

			/* half a step of the dtype at y, plus y's own
			 * rounding to f32 */
			frexp(y, &e);
			if (h == 0 && fabs(y) < 0x1p-14)
				e = -13;
			CHECK(fabs(x - y) <= ldexp(1, e - (h ? 9 : 12)) +
			    ldexp(1, e - 25));
		}
		/* Noise past f16's range is refused, not turned to infinity. */
		nz.sigma = 1000;
		CHECK(fl_noise_tensor(&a.tensors[0], 0, &nz, &err) ==
		    (h ? 0 : -1));
		fl_record_free(&a);
		fl_record_free(&b);
	}
}

/* Sums and robust rules over f16 updates equal those over their f32
 * twins, bit for bit (the widening is exact), and are written as f32. */
static void
test_half_agg(void)
{
	struct fl_record u[3], w[3], out1, out2;
	const void *rows[3], *rows32[3];
	struct fl_acc acc1, acc2;
	struct fl_layout l;
	struct fl_error err;
	uint64_t n = 700;
	float med1[700], med2[700];

	for (int k = 0; k < 3; k++) {
		fl_record_init(&u[k]);
		fl_record_init(&w[k]);
		random_tensor(&u[k], "w", FL_F16, n, (uint64_t)k);
		CHECK(fl_tensor_add(&w[k], "w", FL_F32, 1, &n, &err) != NULL);
		for (uint64_t i = 0; i < n; i++)
			((float *)w[k].tensors[0].data)[i] = (float)fl_tensor_get(
			    &u[k].tensors[0], i);
		rows[k] = u[k].tensors[0].data;
		rows32[k] = w[k].tensors[0].data;
	}
	CHECK(fl_agg_dtype(FL_F16) == FL_F32 && fl_agg_dtype(FL_BF16) ==
	    FL_F32 && fl_agg_dtype(FL_F64) == FL_F64 &&
	    fl_agg_dtype(FL_U32) == FL_U32);
	CHECK(fl_acc_init(&acc1, &u[0], 0, &err) == 0);
	CHECK(fl_acc_init(&acc2, &w[0], 0, &err) == 0);
	for (int k = 0; k < 3; k++) {
		struct fl_scan s1, s2;

		CHECK(fl_acc_add(&acc1, &u[k], 0.5 + k, &s1, &err) == 0);
		CHECK(fl_acc_add(&acc2, &w[k], 0.5 + k, &s2, &err) == 0);
		CHECK(fabs(s1.l2 - s2.l2) <= 1e-12 * s2.l2);
		/* An f32 record is not an f16 one: layouts must agree. */
		CHECK(fl_acc_add(&acc1, &w[k], 1, NULL, &err) < 0);
	}
	fl_record_init(&out1);
	fl_record_init(&out2);
	CHECK(fl_layout_add(&acc1.layout, &out1, &err) == 0);
	CHECK(out1.tensors[0].dtype == FL_F32);
	CHECK(fl_layout_add(&acc2.layout, &out2, &err) == 0);
	CHECK(fl_acc_result(&acc1, &out1, 4.5, &err) == 0);
	CHECK(fl_acc_result(&acc2, &out2, 4.5, &err) == 0);
	CHECK(memcmp(out1.tensors[0].data, out2.tensors[0].data, n * 4) == 0);
	fl_record_clear(&out1);
	CHECK(fl_acc_take_result(&acc1, &out1, 4.5, &err) == 0);
	CHECK(out1.tensors[0].dtype == FL_F32 &&
	    memcmp(out1.tensors[0].data, out2.tensors[0].data, n * 4) == 0);

	CHECK(fl_agg_coordinate(FL_COORD_MEDIAN, 0, rows, NULL, 3, n, FL_F16,
	    med1, &err) == 0);
	CHECK(fl_agg_coordinate(FL_COORD_MEDIAN, 0, rows32, NULL, 3, n,
	    FL_F32, med2, &err) == 0);
	CHECK(memcmp(med1, med2, sizeof(med1)) == 0);
	{
		double d1[9] = { 0 }, d2[9] = { 0 };

		CHECK(fl_agg_sqdist(rows, NULL, 3, n, FL_F16, d1, &err) == 0);
		CHECK(fl_agg_sqdist(rows32, NULL, 3, n, FL_F32, d2,
		    &err) == 0);
		CHECK(memcmp(d1, d2, sizeof(d1)) == 0);
	}
	CHECK(fl_layout_init(&l, &u[0], &err) == 0 && l.t[0].dtype == FL_F16);
	fl_layout_free(&l);
	fl_acc_free(&acc1);
	fl_acc_free(&acc2);
	fl_record_free(&out1);
	fl_record_free(&out2);
	for (int k = 0; k < 3; k++) {
		fl_record_free(&u[k]);
		fl_record_free(&w[k]);
	}
}

void
test_half(void)
{
	test_half_convert();
	test_half_text();
	test_half_records();
	test_half_cast();
	test_half_dp();
	test_half_agg();
}
