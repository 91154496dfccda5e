/* SPDX-License-Identifier: ISC */
/*
 * Tensor summaries.  Two passes (sum, then squared deviations from the
 * mean) so the standard deviation does not cancel catastrophically when the
 * mean is large against the spread.  Sums are in double.
 */
#include <math.h>
#include <string.h>

#include "fl.h"

#define FLOAT_PASS1(T) do {						\
	const T *v = t->data;						\
	for (uint64_t i = 0; i < n; i++) {				\
		double x = v[i];					\
		if (!isfinite(x)) {					\
			st->nonfinite++;				\
			continue;					\
		}							\
		if (x == 0)						\
			st->zeros++;					\
		if (st->finite == 0 || x < st->min)			\
			st->min = x;					\
		if (st->finite == 0 || x > st->max)			\
			st->max = x;					\
		st->finite++;						\
		sum += x;						\
		sumsq += x * x;						\
	}								\
} while (0)

#define INT_PASS1(T, LO, HI) do {					\
	const T *v = t->data;						\
	for (uint64_t i = 0; i < n; i++) {				\
		if (v[i] == 0)						\
			st->zeros++;					\
		if (i == 0 || v[i] < LO)				\
			LO = v[i];					\
		if (i == 0 || v[i] > HI)				\
			HI = v[i];					\
		sum += (double)v[i];					\
		sumsq += (double)v[i] * (double)v[i];			\
	}								\
	st->finite = n;							\
	st->min = (double)LO;						\
	st->max = (double)HI;						\
} while (0)

#define PASS2(T) do {							\
	const T *v = t->data;						\
	for (uint64_t i = 0; i < n; i++) {				\
		double d = (double)v[i] - st->mean;			\
		if (isfinite(d))					\
			dev += d * d;					\
	}								\
} while (0)

void
fl_tensor_stats(const struct fl_tensor *t, struct fl_stats *st)
{
	uint64_t n = t->numel;
	double sum = 0, sumsq = 0, dev = 0;

	memset(st, 0, sizeof(*st));
	st->count = n;
	switch (t->dtype) {
	case FL_F32: FLOAT_PASS1(float); break;
	case FL_F64: FLOAT_PASS1(double); break;
	case FL_I8: INT_PASS1(int8_t, st->imin, st->imax); break;
	case FL_I16: INT_PASS1(int16_t, st->imin, st->imax); break;
	case FL_I32: INT_PASS1(int32_t, st->imin, st->imax); break;
	case FL_I64: INT_PASS1(int64_t, st->imin, st->imax); break;
	case FL_U8: INT_PASS1(uint8_t, st->umin, st->umax); break;
	case FL_U16: INT_PASS1(uint16_t, st->umin, st->umax); break;
	case FL_U32: INT_PASS1(uint32_t, st->umin, st->umax); break;
	case FL_U64: INT_PASS1(uint64_t, st->umin, st->umax); break;
	default: break;
	}
	if (st->finite == 0) {
		st->min = st->max = st->mean = st->std = NAN;
		st->l2 = n ? NAN : 0;
		return;
	}
	st->mean = sum / (double)st->finite;
	st->l2 = sqrt(sumsq);
	switch (t->dtype) {
	case FL_F32: PASS2(float); break;
	case FL_F64: PASS2(double); break;
	case FL_I8: PASS2(int8_t); break;
	case FL_I16: PASS2(int16_t); break;
	case FL_I32: PASS2(int32_t); break;
	case FL_I64: PASS2(int64_t); break;
	case FL_U8: PASS2(uint8_t); break;
	case FL_U16: PASS2(uint16_t); break;
	case FL_U32: PASS2(uint32_t); break;
	case FL_U64: PASS2(uint64_t); break;
	default: break;
	}
	st->std = sqrt(dev / (double)st->finite);
}
