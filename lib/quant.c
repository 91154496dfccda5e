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
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "internal.h"

#define CHUNK 4096
#define MAX_TRIES 1000

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_AVX2_ROUND 1       /* AVX2 kernels, chosen at run time */
#endif

int fl_quant_path_limit = 1;

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

/* Flip the sign of u[i] (a float's bits) where bit i of the keystream
 * bytes is set: bit i is bit i % 8 of byte i / 8, the little-endian order
 * of the 64-bit words this used to read, so keys give the same signs. */
static void
flip_scalar(uint32_t *u, uint64_t m, const unsigned char *bits)
{
	for (uint64_t i = 0; i < m; i++)
		u[i] ^= (uint32_t)((bits[i >> 3] >> (i & 7)) & 1) << 31;
}

#ifdef HAVE_AVX2_ROUND
/* Eight floats per keystream byte: the byte in every lane, each lane's
 * bit tested, the sign bit set where it is 1. */
__attribute__((target("avx2")))
static void
flip_avx2(uint32_t *u, uint64_t m, const unsigned char *bits)
{
	const __m256i lane_bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64,
	    128);
	uint64_t i = 0;

	for (; i + 8 <= m; i += 8) {
		__m256i b = _mm256_and_si256(_mm256_set1_epi32(bits[i >> 3]),
		    lane_bit);
		__m256i flip = _mm256_slli_epi32(_mm256_cmpeq_epi32(b,
		    lane_bit), 31);
		__m256i x = _mm256_loadu_si256((const __m256i *)(const void *)
		    (u + i));

		_mm256_storeu_si256((__m256i *)(void *)(u + i),
		    _mm256_xor_si256(x, flip));
	}
	flip_scalar(u + i, m - i, bits + (i >> 3));
}
#endif

void
fl_rht_signs(float *v, uint64_t n, const unsigned char key[FL_RNG_KEYBYTES])
{
	unsigned char bits[CHUNK / 8];
	uint32_t *u = (uint32_t *)v;
	int vector = 0;

	/* Idempotent; selects the SIMD ChaCha20 (the portable one is
	 * several times slower). */
	if (sodium_init() < 0) {
	}
#ifdef HAVE_AVX2_ROUND
	vector = __builtin_cpu_supports("avx2") && fl_quant_path_limit > 0;
#endif
	/* One keystream bit per coordinate: flip the float's sign bit. */
	for (uint64_t from = 0; from < n; from += CHUNK) {
		uint64_t m = n - from < CHUNK ? n - from : CHUNK;

		fl_rng_stream(bits, sizeof(bits), key, from / CHUNK, 0);
#ifdef HAVE_AVX2_ROUND
		if (vector) {
			flip_avx2(u + from, m, bits);
			continue;
		}
#endif
		(void)vector;
		flip_scalar(u + from, m, bits);
	}
}

int
fl_rht_hd(float *v, uint64_t n, const unsigned char key[FL_RNG_KEYBYTES],
    int inverse, struct fl_error *err)
{
	if (!inverse)
		fl_rht_signs(v, n, key);
	if (fl_fwht(v, n, err) < 0)
		return -1;
	if (inverse)
		fl_rht_signs(v, n, key);
	return 0;
}

int
fl_rht(float *v, uint64_t n, const unsigned char key[FL_RNG_KEYBYTES],
    int inverse, struct fl_error *err)
{
	float f = (float)(1 / sqrt((double)n));

	if (fl_rht_hd(v, n, key, inverse, err) < 0)
		return -1;
	for (uint64_t i = 0; i < n; i++)
		v[i] *= f;
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

/*
 * Stochastic rounding of y[i] * mult to q = floor(x) + [u_i 2^-32 < frac],
 * q mod 2^b into out and q^2 added to *ss; nonzero if a value was NaN or
 * 2^31 steps or more from zero (those are rounded as 0, for the caller to
 * refuse).  The scalar loop is the definition; the AVX2 one gives the same
 * integers and the same sum.
 */
static int
round_chunk_scalar(const float *y, uint64_t m, double mult,
    const uint32_t *u, uint32_t mask, uint32_t *out,
    unsigned __int128 *ss)
{
	int bad = 0;

	for (uint64_t i = 0; i < m; i++) {
		double x = y[i] * mult;
		int ok = fabs(x) < 0x1p31;
		int64_t q;

		/* NaN and huge values fail ok: the conversion below must
		 * stay defined. */
		bad |= !ok;
		x = ok ? x : 0;
		/* floor without a libm call: truncate, then step down for
		 * negative fractions. */
		q = (int64_t)x;
		q -= x < (double)q;
		q += (double)u[i] < (x - (double)q) * 0x1p32;
		*ss += (unsigned __int128)((uint64_t)(q * q));
		out[i] = (uint32_t)q & mask;
	}
	return bad;
}

#ifdef HAVE_AVX2_ROUND
/*
 * Four values at a time.  Every step is exact or the scalar code's own
 * rounding: x = y * mult rounds once in both; floor, the fraction x - q
 * and its product by 2^32 are exact; u as a double is exact.  q is an
 * integer below 2^31 in magnitude, so q + 1.5 2^52 holds q mod 2^32 in its
 * low word, and |q| (at most 2^31) squared by the 32-bit multiply is q^2
 * exactly; the squares are summed as 32-bit halves in 64-bit lanes, which
 * cannot overflow within a chunk.
 */
__attribute__((target("avx2")))
static int
round_chunk_avx2(const float *y, uint64_t m, double mult,
    const uint32_t *u, uint32_t mask, uint32_t *out,
    unsigned __int128 *ss)
{
	const __m256d vmult = _mm256_set1_pd(mult), two32 =
	    _mm256_set1_pd(0x1p32), limit = _mm256_set1_pd(0x1p31);
	const __m256d magic = _mm256_set1_pd(0x1.8p52), one =
	    _mm256_set1_pd(1), two52 = _mm256_set1_pd(0x1p52);
	const __m256d abs_mask = _mm256_castsi256_pd(_mm256_set1_epi64x(
	    INT64_MAX));
	const __m256i two52_bits = _mm256_set1_epi64x(0x4330000000000000);
	const __m256i low32 = _mm256_set1_epi64x(0xffffffff);
	/* q mod 2^32 sits in the even 32-bit words: gather them. */
	const __m256i evens = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
	__m256i hi = _mm256_setzero_si256(), lo = _mm256_setzero_si256();
	__m256d bad = _mm256_setzero_pd();
	uint64_t i = 0;
	int any;

	for (; i + 4 <= m; i += 4) {
		__m256d x = _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(y + i)),
		    vmult);
		__m256d ok = _mm256_cmp_pd(_mm256_and_pd(x, abs_mask), limit,
		    _CMP_LT_OQ);
		__m256d q, ud, up, sq;
		__m256i w;

		bad = _mm256_or_pd(bad, _mm256_xor_pd(ok,
		    _mm256_castsi256_pd(_mm256_set1_epi64x(-1))));
		x = _mm256_and_pd(x, ok);
		q = _mm256_floor_pd(x);
		ud = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(
		    _mm256_cvtepu32_epi64(_mm_loadu_si128((const __m128i *)
		    (const void *)(u + i))), two52_bits)), two52);
		up = _mm256_cmp_pd(ud, _mm256_mul_pd(_mm256_sub_pd(x, q),
		    two32), _CMP_LT_OQ);
		q = _mm256_add_pd(q, _mm256_and_pd(up, one));
		w = _mm256_castpd_si256(_mm256_add_pd(q, magic));
		_mm_storeu_si128((__m128i *)(void *)(out + i),
		    _mm_and_si128(_mm256_castsi256_si128(
		    _mm256_permutevar8x32_epi32(w, evens)),
		    _mm_set1_epi32((int)mask)));
		sq = _mm256_add_pd(_mm256_and_pd(q, abs_mask), magic);
		w = _mm256_mul_epu32(_mm256_castpd_si256(sq),
		    _mm256_castpd_si256(sq));
		hi = _mm256_add_epi64(hi, _mm256_srli_epi64(w, 32));
		lo = _mm256_add_epi64(lo, _mm256_and_si256(w, low32));
	}
	any = _mm256_movemask_pd(bad) != 0;
	{
		uint64_t h[4], l[4];

		_mm256_storeu_si256((__m256i *)(void *)h, hi);
		_mm256_storeu_si256((__m256i *)(void *)l, lo);
		for (int k = 0; k < 4; k++)
			*ss += ((unsigned __int128)h[k] << 32) + l[k];
	}
	return round_chunk_scalar(y + i, m - i, mult, u + i, mask, out + i,
	    ss) | any;
}
#endif

static int
round_chunk(const float *y, uint64_t m, double mult, const uint32_t *u,
    uint32_t mask, uint32_t *out, unsigned __int128 *ss)
{
#ifdef HAVE_AVX2_ROUND
	static int have = -1;

	if (have < 0)
		have = __builtin_cpu_supports("avx2");
	if (have && fl_quant_path_limit > 0)
		return round_chunk_avx2(y, m, mult, u, mask, out, ss);
#endif
	return round_chunk_scalar(y, m, mult, u, mask, out, ss);
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
			int bad;

			fl_rng_stream(u, m * sizeof(*u), key,
			    (uint64_t)a << 32 | from / CHUNK, 0);
			bad = round_chunk(y + from, m, mult, u, mask,
			    out + from, &ss);
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

/* (float)((u - (u >= half ? mod : 0)) * f): every step but the last two
 * is exact in double, so both paths give the same floats. */
static void
unwrap_scalar(const uint32_t *u, uint64_t n, uint64_t mod, double f,
    float *out)
{
	uint64_t half = mod / 2;

	for (uint64_t i = 0; i < n; i++)
		out[i] = (float)(((double)u[i] - (u[i] >= half ? (double)mod :
		    0.0)) * f);
}

#ifdef HAVE_AVX2_ROUND
__attribute__((target("avx2")))
static void
unwrap_avx2(const uint32_t *u, uint64_t n, uint64_t mod, double f,
    float *out)
{
	const __m256i two52_bits = _mm256_set1_epi64x(0x4330000000000000);
	const __m256d two52 = _mm256_set1_pd(0x1p52);
	const __m256d half = _mm256_set1_pd((double)(mod / 2));
	const __m256d vmod = _mm256_set1_pd((double)mod);
	const __m256d vf = _mm256_set1_pd(f);
	uint64_t i = 0;

	for (; i + 4 <= n; i += 4) {
		__m256d x = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(
		    _mm256_cvtepu32_epi64(_mm_loadu_si128((const __m128i *)
		    (const void *)(u + i))), two52_bits)), two52);
		__m256d neg = _mm256_cmp_pd(x, half, _CMP_GE_OQ);

		x = _mm256_sub_pd(x, _mm256_and_pd(neg, vmod));
		_mm_storeu_ps(out + i, _mm256_cvtpd_ps(_mm256_mul_pd(x, vf)));
	}
	unwrap_scalar(u + i, n - i, mod, f, out + i);
}
#endif

void
fl_ring_unwrap(const uint32_t *u, uint64_t n, uint64_t mod, double f,
    float *out)
{
#ifdef HAVE_AVX2_ROUND
	if (__builtin_cpu_supports("avx2") && fl_quant_path_limit > 0) {
		unwrap_avx2(u, n, mod, f, out);
		return;
	}
#endif
	unwrap_scalar(u, n, mod, f, out);
}
