/* SPDX-License-Identifier: ISC */
/*
 * Tensor summaries, in three passes over the data:
 *  1. counts, extremes and the largest magnitude;
 *  2. sums of x and x^2 scaled by a power of two chosen from that magnitude
 *     (exact scaling: no overflow for 1e200 or 1e308, no rounding added);
 *  3. squared deviations from the mean, so the standard deviation does not
 *     cancel catastrophically when the mean is large against the spread.
 */
#include <math.h>
#include <string.h>

#include "format/format.h"

/* Element i as a double: as it is, or widened from f16 or bf16. */
#define AS_IS(v, i) ((double)(v)[i])
#define HALF(v, i) ((double)fl_half_to_float(t->dtype, (v)[i]))

#define PASS1_FLOAT(T, GET) do {					\
	const T *v = t->data;						\
	for (uint64_t i = 0; i < n; i++) {				\
		double x = GET(v, i);					\
		if (!isfinite(x)) {					\
			st->nonfinite++;				\
			continue;					\
		}							\
		st->zeros += x == 0;					\
		if (st->finite++ == 0 || x < st->min)			\
			st->min = x;					\
		if (x > st->max || st->finite == 1)			\
			st->max = x;					\
	}								\
} while (0)

#define PASS1_INT(T, LO, HI) do {					\
	const T *v = t->data;						\
	for (uint64_t i = 0; i < n; i++) {				\
		st->zeros += v[i] == 0;					\
		if (i == 0 || v[i] < LO)				\
			LO = v[i];					\
		if (i == 0 || v[i] > HI)				\
			HI = v[i];					\
	}								\
	st->finite = n;							\
	if (n > 0) {							\
		st->min = (double)LO;					\
		st->max = (double)HI;					\
	}								\
} while (0)

#define PASS2(T, GET) do {						\
	const T *v = t->data;						\
	for (uint64_t i = 0; i < n; i++) {				\
		double x = GET(v, i) * scale;				\
		if (isfinite(x)) {					\
			sum += x;					\
			sumsq += x * x;					\
		}							\
	}								\
} while (0)

#define PASS3(T, GET) do {						\
	const T *v = t->data;						\
	for (uint64_t i = 0; i < n; i++) {				\
		double d = GET(v, i) * scale - smean;			\
		if (isfinite(d))					\
			dev += d * d;					\
	}								\
} while (0)

#define EACH_DTYPE(PASS) do {						\
	switch (t->dtype) {						\
	case FL_F32: PASS(float, AS_IS); break;				\
	case FL_F64: PASS(double, AS_IS); break;			\
	case FL_F16: case FL_BF16: PASS(uint16_t, HALF); break;		\
	case FL_I8: PASS(int8_t, AS_IS); break;				\
	case FL_I16: PASS(int16_t, AS_IS); break;			\
	case FL_I32: PASS(int32_t, AS_IS); break;			\
	case FL_I64: PASS(int64_t, AS_IS); break;			\
	case FL_U8: PASS(uint8_t, AS_IS); break;			\
	case FL_U16: PASS(uint16_t, AS_IS); break;			\
	case FL_U32: PASS(uint32_t, AS_IS); break;			\
	case FL_U64: PASS(uint64_t, AS_IS); break;			\
	default: break;							\
	}								\
} while (0)

void
fl_tensor_stats(const struct fl_tensor *t, struct fl_stats *st)
{
	uint64_t n = t->numel;
	double sum = 0, sumsq = 0, dev = 0, scale = 1, smean, big;

	memset(st, 0, sizeof(*st));
	st->count = n;
	switch (t->dtype) {
	case FL_F32: PASS1_FLOAT(float, AS_IS); break;
	case FL_F64: PASS1_FLOAT(double, AS_IS); break;
	case FL_F16: case FL_BF16: PASS1_FLOAT(uint16_t, HALF); break;
	case FL_I8: PASS1_INT(int8_t, st->imin, st->imax); break;
	case FL_I16: PASS1_INT(int16_t, st->imin, st->imax); break;
	case FL_I32: PASS1_INT(int32_t, st->imin, st->imax); break;
	case FL_I64: PASS1_INT(int64_t, st->imin, st->imax); break;
	case FL_U8: PASS1_INT(uint8_t, st->umin, st->umax); break;
	case FL_U16: PASS1_INT(uint16_t, st->umin, st->umax); break;
	case FL_U32: PASS1_INT(uint32_t, st->umin, st->umax); break;
	case FL_U64: PASS1_INT(uint64_t, st->umin, st->umax); break;
	default: break;
	}
	if (st->finite == 0) {
		st->min = st->max = st->mean = st->std = NAN;
		st->l2 = n ? NAN : 0;
		return;
	}
	/* Scale so the largest magnitude is below 1: a power of two. */
	big = fmax(fabs(st->min), fabs(st->max));
	if (big > 0)
		scale = ldexp(1, -ilogb(big) - 1);
	EACH_DTYPE(PASS2);
	smean = sum / (double)st->finite;
	EACH_DTYPE(PASS3);
	st->mean = smean / scale;
	st->l2 = sqrt(sumsq) / scale;
	st->std = sqrt(dev / (double)st->finite) / scale;
}
