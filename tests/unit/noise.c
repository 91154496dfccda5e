/* SPDX-License-Identifier: ISC */
/*
 * Unit tests of the float noise path: the vector and scalar normal
 * samplers give the same values, bit for bit; the clip factor keeps the
 * norm of the scaled values at most the clip, checked in double-double
 * arithmetic.
 */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/fl.h"
#include "privacy/internal.h"
#include "unit.h"

/* out[k] = fl_normal(), or round(s fl_normal()) when s > 0: the scalar
 * reference, one call per value. */
static void
reference(const unsigned char *key, uint64_t stream, double *out, size_t n,
    double s)
{
	struct fl_rng r;

	fl_rng_init(&r, key, stream);
	for (size_t k = 0; k < n; k++) {
		double x = fl_normal(&r), y = s * x;

		/* Rounded as the library does it: a zero is +0.  (Two
		 * statements: no compiler may fuse the product in.) */
		out[k] = s > 0 ? (y + 0x1.8p52) - 0x1.8p52 : x;
	}
	fl_rng_wipe(&r);
}

void
test_normal_paths(void)
{
	static const size_t sizes[] = { 1, 3, 4, 5, 7, 8, 9, 681, 682, 683,
	    4096, 16384, 100000 };
	static const double scales[] = { 0, 1, 3.5, 370727.25 };
	size_t most = 100000, tails = 0;
	double *want = malloc((most + 1) * sizeof(*want));
	double *got = malloc(most * sizeof(*got));
	unsigned char key[FL_RNG_KEYBYTES];
	int saved = fl_simd_limit;

	CHECK(want != NULL && got != NULL);
	if (want == NULL || got == NULL)
		goto out;
	fl_rng_seed_text(key, "unit normal paths");
	for (size_t z = 0; z < sizeof(sizes) / sizeof(*sizes); z++) {
		for (size_t c = 0; c < sizeof(scales) / sizeof(*scales); c++) {
			uint64_t stream = z * 16 + c;

			reference(key, stream, want, sizes[z], scales[c]);
			for (int path = 0; path <= 1; path++) {
				struct fl_rng r;

				fl_simd_limit = path;
				fl_rng_init(&r, key, stream);
				if (scales[c] > 0)
					fl_normal_steps(&r, got, sizes[z],
					    scales[c]);
				else
					fl_normal_fill(&r, got, sizes[z]);
				CHECK(memcmp(got, want, sizes[z] *
				    sizeof(*got)) == 0);
				/* The stream is left where the scalar
				 * draws leave it: the next value agrees. */
				got[0] = fl_normal(&r);
				reference(key, stream, want, sizes[z] + 1, 0);
				CHECK(got[0] == want[sizes[z]]);
				reference(key, stream, want, sizes[z],
				    scales[c]);
				fl_rng_wipe(&r);
			}
		}
	}
	/* The slow paths were exercised: the top layer, the wedges and the
	 * tail beyond 3.654 all occur in 100000 draws. */
	reference(key, 0, want, most, 0);
	for (size_t k = 0; k < most; k++)
		tails += fabs(want[k]) > 3.6541528853610088;
	CHECK(tails > 5);
out:
	fl_simd_limit = saved;
	free(want);
	free(got);
}

/* Double-double accumulation of x^2: products split exactly with fma,
 * sums with error-free transformations. */
struct dd {
	double hi, lo;
};

static void
dd_add(struct dd *a, double x)
{
	double s = a->hi + x, bb = s - a->hi;
	double err = (a->hi - (s - bb)) + (x - bb);

	a->hi = s;
	a->lo += err;
}

static void
dd_add_square(struct dd *a, double y)
{
	double p = y * y;

	dd_add(a, p);
	a->lo += fma(y, y, -p);
}

/* sum of squares <= clip^2, in double-double */
static int
dd_le_square(struct dd a, double clip)
{
	double c2 = clip * clip, c2lo = fma(clip, clip, -c2);

	return (a.hi - c2) + (a.lo - c2lo) <= 0;
}

static void
fill_tensor(struct fl_tensor *t, uint64_t seed, double spread)
{
	struct fl_rng r;
	unsigned char key[FL_RNG_KEYBYTES];
	char text[32];

	snprintf(text, sizeof(text), "clip %llu", (unsigned long long)seed);
	fl_rng_seed_text(key, text);
	fl_rng_init(&r, key, 0);
	for (uint64_t i = 0; i < t->numel; i++) {
		/* Mixed magnitudes make the rounding of the sum bite. */
		double x = fl_normal(&r) * exp2(spread * fl_normal(&r));

		if (t->dtype == FL_F32)
			((float *)t->data)[i] = (float)x;
		else
			((double *)t->data)[i] = x;
	}
	fl_rng_wipe(&r);
}

void
test_clip_factor(void)
{
	static const uint64_t sizes[] = { 1, 9, 1000, 300000 };
	struct fl_error err;

	for (int dt = 0; dt < 2; dt++) {
		for (size_t z = 0; z < sizeof(sizes) / sizeof(*sizes); z++) {
			struct fl_record rec;
			struct fl_tensor *ts[2];
			uint64_t n = sizes[z], m = sizes[z] / 3 + 1;
			struct dd ss = { 0, 0 };
			double f, f2, norm, clip;
			int clipped;

			fl_record_init(&rec);
			ts[0] = fl_tensor_add(&rec, "a", dt ? FL_F64 : FL_F32,
			    1, &n, &err);
			ts[1] = fl_tensor_add(&rec, "b", dt ? FL_F64 : FL_F32,
			    1, &m, &err);
			CHECK(ts[0] != NULL && ts[1] != NULL);
			if (ts[0] == NULL || ts[1] == NULL)
				return;
			ts[0] = &rec.tensors[0];
			fill_tensor(ts[0], z * 2 + (uint64_t)dt, 6);
			fill_tensor(ts[1], z * 2 + (uint64_t)dt + 100, 6);
			norm = sqrt(fl_tensor_sumsq(ts[0]) +
			    fl_tensor_sumsq(ts[1]));
			/* A bound just under the norm: the hardest case. */
			clip = norm * (1 - 1e-14);
			CHECK(fl_clip_factor(ts, 2, clip, &f, &clipped,
			    &err) == 0);
			CHECK(clipped == 1 && f < 1);
			for (int k = 0; k < 2; k++)
				for (uint64_t i = 0; i < ts[k]->numel; i++)
					dd_add_square(&ss, fl_tensor_get(ts[k],
					    i) * f);
			CHECK(dd_le_square(ss, clip));
			/* ...and not needlessly far under it. */
			CHECK(sqrt(ss.hi) > clip * (1 - 1e-9));
			/* Within the bound (with the margin): unchanged. */
			CHECK(fl_clip_factor(ts, 2, norm * 1.001, &f2,
			    &clipped, &err) == 0);
			CHECK(clipped == 0 && f2 == 1);
			/* A NaN is named, with its index. */
			if (dt)
				((double *)ts[1]->data)[m - 1] = NAN;
			else
				((float *)ts[1]->data)[m - 1] = NAN;
			CHECK(fl_clip_factor(ts, 2, 1, &f, &clipped,
			    &err) == -1);
			CHECK(strstr(err.msg, "tensor 'b': non-finite") !=
			    NULL);
			fl_record_free(&rec);
		}
	}
	/* Finite doubles whose norm overflows: an error, not a zero. */
	{
		struct fl_record rec;
		struct fl_tensor *t;
		uint64_t n = 2;
		double f;
		int clipped;

		fl_record_init(&rec);
		t = fl_tensor_add(&rec, "w", FL_F64, 1, &n, &err);
		CHECK(t != NULL);
		if (t == NULL)
			return;
		((double *)t->data)[0] = 1e300;
		((double *)t->data)[1] = -1e300;
		CHECK(fl_clip_factor(&t, 1, 1, &f, &clipped, &err) == -1);
		CHECK(strstr(err.msg, "overflows") != NULL);
		fl_record_free(&rec);
	}
}
