/* SPDX-License-Identifier: ISC */
/*
 * Unit tests of the ring encoding's kernels: the blocked vector Hadamard
 * transform against the plain radix-2 one, and the vector paths of the
 * sign flips, the stochastic rounding and the unwrap against the scalar
 * code, bit for bit (fl_simd_limit 0 is scalar only).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/fl.h"
#include "privacy/internal.h"
#include "unit.h"
#include "../../bench/naive.h"

static void
normals(float *x, uint64_t n, const char *seed, double scale)
{
	unsigned char key[FL_RNG_KEYBYTES];
	struct fl_rng r;

	fl_rng_seed_text(key, seed);
	fl_rng_init(&r, key, 0);
	for (uint64_t i = 0; i < n; i++)
		x[i] = (float)(fl_normal(&r) * scale);
	fl_rng_wipe(&r);
}

void
test_fwht_blocked(void)
{
	uint64_t most = UINT64_C(1) << 20;
	float *a = malloc(most * sizeof(*a)), *b = malloc(most * sizeof(*b));
	struct fl_error err;

	CHECK(a != NULL && b != NULL);
	if (a == NULL || b == NULL)
		goto out;
	/* Every length from 1 to 2^20: the small cases, one block, and
	 * 2 to 256 rows of blocks.  The same additions in the same order:
	 * equal to the last bit. */
	for (uint64_t n = 1; n <= most; n <<= 1) {
		normals(a, n, "fwht", 1);
		memcpy(b, a, n * sizeof(*a));
		CHECK(fl_fwht(a, n, &err) == 0);
		naive_fwht(b, n);
		CHECK(memcmp(a, b, n * sizeof(*a)) == 0);
	}
	CHECK(fl_fwht(a, 12, &err) == -1 && err.code == FL_EINVAL);
out:
	free(a);
	free(b);
}

void
test_quant_paths(void)
{
	static const uint64_t sizes[] = { 1, 3, 4, 5, 8, 13, 4095, 4096, 4097,
	    20000 };
	static const int bits[] = { 2, 8, 20, 32 };
	uint64_t most = 20000;
	float *y = malloc(most * sizeof(*y)), *v[2];
	uint32_t *out[2];
	unsigned char key[FL_RNG_KEYBYTES], rot[FL_RNG_KEYBYTES];
	int saved = fl_simd_limit;
	struct fl_error err;

	v[0] = malloc(most * sizeof(float));
	v[1] = malloc(most * sizeof(float));
	out[0] = malloc(most * sizeof(uint32_t));
	out[1] = malloc(most * sizeof(uint32_t));
	CHECK(y && v[0] && v[1] && out[0] && out[1]);
	if (!(y && v[0] && v[1] && out[0] && out[1]))
		goto out;
	fl_rng_seed_text(key, "unit rounding");
	fl_rht_key(rot, "unit rotation");
	for (size_t z = 0; z < sizeof(sizes) / sizeof(*sizes); z++) {
		uint64_t n = sizes[z];

		normals(y, n, "paths", 300);	/* under 2^31 / 2^18 */
		/* Exact integers, halves and negative zero: the edges of
		 * floor and of the fraction. */
		for (uint64_t i = 0; i < n; i += 7)
			y[i] = i % 3 ? (float)(int64_t)y[i] : -0.0f;
		for (uint64_t i = 3; i < n; i += 11)
			y[i] = (float)(int64_t)y[i] + 0.5f;
		for (size_t b = 0; b < sizeof(bits) / sizeof(*bits); b++) {
			uint64_t mod = UINT64_C(1) << bits[b];
			unsigned tries[2];
			int rc[2];

			for (int path = 0; path < 2; path++) {
				/* Small steps at 8 bits and under, large ones
				 * (squares over 2^32) above. */
				fl_simd_limit = path;
				rc[path] = fl_ring_round(y, n, bits[b] > 8 ?
				    0x1p18 : 1.75, 1e30, bits[b], key,
				    out[path], &tries[path], &err);
				fl_ring_unwrap(out[path], n, mod, 0.25,
				    v[path]);
			}
			CHECK(rc[0] == 0 && rc[1] == 0);
			CHECK(tries[0] == tries[1]);
			CHECK(memcmp(out[0], out[1], n * sizeof(uint32_t)) ==
			    0);
			CHECK(memcmp(v[0], v[1], n * sizeof(float)) == 0);
		}
		/* The same L2 bound decision, exactly at the edge: a bound
		 * that one path's sum meets and one below it. */
		{
			unsigned __int128 ss = 0;
			unsigned t;
			double edge;

			fl_simd_limit = 0;
			CHECK(fl_ring_round(y, n, 0x1p18, 1e30, 32, key,
			    out[0], &t, &err) == 0);
			for (uint64_t i = 0; i < n; i++) {
				int64_t q = (int32_t)out[0][i];

				ss += (unsigned __int128)(q * q);
			}
			/* The smallest bound the first draw meets: too
			 * close for the vector path's double sum, which
			 * must then decide exactly. */
			edge = nextafter(sqrt((double)ss), 0);
			while (!fl_int_sumsq_le(ss, edge))
				edge = nextafter(edge, INFINITY);
			for (int path = 0; path < 2; path++) {
				fl_simd_limit = path;
				CHECK(fl_ring_round(y, n, 0x1p18, edge, 32,
				    key, out[path], &t, &err) == 0 && t == 1);
			}
			/* Just under it the first draw fails on both, and
			 * the redraws agree. */
			{
				unsigned tu[2];
				int ru[2];
				double under = nextafter(sqrt((double)ss) *
				    (1 - 1e-12), 0);

				for (int path = 0; path < 2; path++) {
					fl_simd_limit = path;
					ru[path] = fl_ring_round(y, n, 0x1p18,
					    under, 32, key, out[path],
					    &tu[path], &err);
				}
				CHECK(ru[0] == ru[1]);
				CHECK(ru[0] != 0 || (tu[0] == tu[1] &&
				    (tu[0] > 1 || ss == 0) && memcmp(out[0],
				    out[1], n * sizeof(uint32_t)) == 0));
			}
		}
		/* A value 2^31 steps out, or NaN, is refused on both. */
		for (int path = 0; path < 2; path++) {
			unsigned t;
			float keep = y[n - 1];

			fl_simd_limit = path;
			y[n - 1] = 0x1p31f;
			CHECK(fl_ring_round(y, n, 1, 1e30, 32, key, out[path],
			    &t, &err) == -1 && err.code == FL_EINVAL);
			y[n - 1] = NAN;
			CHECK(fl_ring_round(y, n, 1, 1e30, 32, key, out[path],
			    &t, &err) == -1 && err.code == FL_EINVAL);
			y[n - 1] = keep;
		}
		/* Sign flips. */
		for (int path = 0; path < 2; path++) {
			fl_simd_limit = path;
			memcpy(v[path], y, n * sizeof(float));
			fl_rht_signs(v[path], n, rot);
		}
		CHECK(memcmp(v[0], v[1], n * sizeof(float)) == 0);
		CHECK(n < 64 || memcmp(v[0], y, n * sizeof(float)) != 0);
	}
out:
	fl_simd_limit = saved;
	free(y);
	free(v[0]);
	free(v[1]);
	free(out[0]);
	free(out[1]);
}
