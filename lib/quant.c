/* SPDX-License-Identifier: ISC */
/*
 * Quantization for secure aggregation: the randomized Hadamard rotation,
 * the global scale of the ring encoding (TFF's DistributedDpSumFactory
 * rule), its rounding-inflated L2 bound, and stochastic rounding to the
 * ring Z_2^b with conditional re-rounding.
 *
 * The rotation key is public (every client and the server derive it from
 * the same text); the rounding key is private and per client.  Rounding
 * randomness comes in chunks: chunk c of attempt a reads ChaCha20 stream
 * (a << 32 | c) of the rounding key, so output depends only on the key.
 * The bound is checked on the integers with exact 128-bit arithmetic, so
 * float error before that point cannot make a record exceed the
 * sensitivity it declares.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fl.h"

#define CHUNK 4096
#define MAX_TRIES 1000

uint64_t
fl_rht_dim(uint64_t n)
{
	uint64_t p = 1;

	while (p < n && p < (UINT64_C(1) << 62))
		p <<= 1;
	return p;
}

void
fl_rht_key(unsigned char key[FL_RNG_KEYBYTES], const char *seed)
{
	unsigned char k[FL_RNG_KEYBYTES];

	fl_rng_seed_text(k, seed);
	fl_rng_derive(key, k, "rotation", 0);
}

void
fl_rht_signs(float *v, uint64_t n, const unsigned char key[FL_RNG_KEYBYTES])
{
	uint64_t bits[CHUNK / 64];
	uint32_t *u = (uint32_t *)v;

	/* Idempotent; selects the SIMD ChaCha20 (the portable one is
	 * several times slower). */
	if (sodium_init() < 0) {
	}

	/* One keystream bit per coordinate: flip the float's sign bit. */
	for (uint64_t from = 0; from < n; from += CHUNK) {
		uint64_t m = n - from < CHUNK ? n - from : CHUNK;

		fl_rng_stream(bits, sizeof(bits), key, from / CHUNK, 0);
		for (uint64_t i = 0; i < m; i++)
			u[from + i] ^= (uint32_t)((bits[i >> 6] >> (i & 63)) &
			    1) << 31;
	}
}

int
fl_rht(float *v, uint64_t n, const unsigned char key[FL_RNG_KEYBYTES],
    int inverse, struct fl_error *err)
{
	float f = (float)(1 / sqrt((double)n));

	if (!inverse)
		fl_rht_signs(v, n, key);
	if (fl_fwht(v, n, err) < 0)
		return -1;
	for (uint64_t i = 0; i < n; i++)
		v[i] *= f;
	if (inverse)
		fl_rht_signs(v, n, key);
	return 0;
}

double
fl_ring_k(double p)
{
	double lo = 0, hi = 40;

	/* erfc(k / sqrt 2) = p, by bisection: erfc is decreasing. */
	for (int i = 0; i < 200; i++) {
		double mid = (lo + hi) / 2;

		if (erfc(mid / sqrt(2)) > p)
			lo = mid;
		else
			hi = mid;
	}
	return (lo + hi) / 2;
}

uint64_t
fl_ring_max_clients(int bits, double k)
{
	/* 2^(2b) > n k^2 (the scale must be real) and n <= 2^b. */
	double lim = ldexp(1, 2 * bits) / (k * k);
	uint64_t n = lim >= 0x1p63 ? UINT64_C(1) << 63 : (uint64_t)ceil(lim) - 1;

	if (n > (UINT64_C(1) << bits))
		n = UINT64_C(1) << bits;
	return n;
}

double
fl_ring_scale(int bits, uint64_t clients, double k, double clip,
    double sigma_local, uint64_t dim)
{
	double n = (double)clients, d = (double)dim;
	double num = ldexp(1, 2 * bits) - n * k * k;
	double s = sqrt(num) / (2 * k * sqrt(clip * clip * n * n / d +
	    n * sigma_local * sigma_local));

	if (!(num > 0))
		return 0;
	return s < 1e6 ? s : 1e6;
}

double
fl_ring_bound(double clip, double scale, uint64_t dim, double beta)
{
	double g = 1 / scale, d = (double)dim;
	double b1 = clip + g * sqrt(d), b2;

	if (beta > 0) {
		b2 = sqrt(clip * clip + g * g * d / 4 + sqrt(2 * log(1 /
		    beta)) * g * (clip + g * sqrt(d) / 2));
		if (b2 < b1)
			b1 = b2;
	}
	/* A hair of slack for the float error of clipping and rotating;
	 * the bound itself is enforced exactly on the integers. */
	return b1 * scale * (1 + 0x1p-20);
}

int
fl_ring_round(const float *y, uint64_t n, double mult, double bound,
    int bits, const unsigned char key[FL_RNG_KEYBYTES], uint32_t *out,
    unsigned *tries, struct fl_error *err)
{
	uint32_t mask = bits >= 32 ? UINT32_MAX :
	    (uint32_t)((UINT64_C(1) << bits) - 1);
	uint32_t u[CHUNK];

	if (sodium_init() < 0) {        /* as in fl_rht_signs */
	}
	for (unsigned a = 0; a < MAX_TRIES; a++) {
		unsigned __int128 ss = 0;

		for (uint64_t from = 0; from < n; from += CHUNK) {
			uint64_t m = n - from < CHUNK ? n - from : CHUNK;
			int bad = 0;

			fl_rng_stream(u, m * sizeof(*u), key,
			    (uint64_t)a << 32 | from / CHUNK, 0);
			for (uint64_t i = 0; i < m; i++) {
				double x = y[from + i] * mult;
				int ok = fabs(x) < 0x1p31;
				int64_t q;

				/* NaN and huge values fail ok: the
				 * conversion below must stay defined. */
				bad |= !ok;
				x = ok ? x : 0;
				/* floor without a libm call: truncate, then
				 * step down for negative fractions. */
				q = (int64_t)x;
				q -= x < (double)q;
				q += (double)u[i] < (x - (double)q) * 0x1p32;
				ss += (unsigned __int128)((uint64_t)(q * q));
				out[from + i] = (uint32_t)q & mask;
			}
			if (bad) {
				memset(u, 0, sizeof(u));
				return fl_error_set(err, FL_EINVAL, "a value "
				    "is too large for the grid (2^31 steps "
				    "or more)");
			}
		}
		if (fl_int_sumsq_le(ss, bound)) {
			memset(u, 0, sizeof(u));
			*tries = a + 1;
			return 0;
		}
	}
	memset(u, 0, sizeof(u));
	return fl_error_set(err, FL_ELIMIT, "rounding exceeded the L2 bound "
	    "%g in %d tries", bound, MAX_TRIES);
}
