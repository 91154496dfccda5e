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

#include "base/internal.h"
#include "compress/compress.h"

#define CHUNK 4096
#define MAX_TRIES 1000

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_AVX2_ROUND 1       /* AVX2 kernels, run by fl_use_avx2() */
#endif


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

/* dst[i] = src[i] (a float's bits; zero when src is NULL) with the sign
 * flipped where bit b + i of the keystream bytes is set.  Bit j is bit
 * j % 8 of byte j / 8, the little-endian order of the 64-bit words this
 * used to read, so keys give the same signs. */
static void
flip_scalar(uint32_t *dst, const uint32_t *src, uint64_t m,
    const unsigned char *bits, uint64_t b)
{
	for (uint64_t i = 0; i < m; i++, b++)
		dst[i] = (src ? src[i] : 0) ^ (uint32_t)((bits[b >> 3] >>
		    (b & 7)) & 1) << 31;
}

#ifdef HAVE_AVX2_ROUND
/* Eight floats per keystream byte once b is at a byte boundary: the byte
 * in every lane, each lane's bit tested, the sign bit set where it is 1. */
__attribute__((target("avx2")))
static void
flip_avx2(uint32_t *dst, const uint32_t *src, uint64_t m,
    const unsigned char *bits, uint64_t b)
{
	const __m256i lane_bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64,
	    128);
	uint64_t i = (8 - b % 8) % 8;

	if (i > m)
		i = m;
	flip_scalar(dst, src, i, bits, b);
	for (; i + 8 <= m; i += 8) {
		__m256i bit = _mm256_and_si256(_mm256_set1_epi32(
		    bits[(b + i) >> 3]), lane_bit);
		__m256i flip = _mm256_slli_epi32(_mm256_cmpeq_epi32(bit,
		    lane_bit), 31);
		__m256i x = src ? _mm256_loadu_si256((const __m256i *)
		    (const void *)(src + i)) : _mm256_setzero_si256();

		_mm256_storeu_si256((__m256i *)(void *)(dst + i),
		    _mm256_xor_si256(x, flip));
	}
	flip_scalar(dst + i, src ? src + i : NULL, m - i, bits, b + i);
}
#endif

void
fl_rht_signs_copy(float *dst, const float *src, uint64_t n, uint64_t at,
    const unsigned char key[FL_RNG_KEYBYTES])
{
	unsigned char bits[CHUNK / 8];
	int vector = fl_use_avx2();

	/* Idempotent; selects the SIMD ChaCha20 (the portable one is
	 * several times slower). */
	if (sodium_init() < 0) {
	}
	/* One keystream bit per coordinate: chunk c of CHUNK coordinates
	 * reads stream c of the key. */
	for (uint64_t done = 0; done < n;) {
		uint64_t i = at + done, c = i / CHUNK, b = i % CHUNK;
		uint64_t m = n - done < CHUNK - b ? n - done : CHUNK - b;
		uint32_t *d = (uint32_t *)(void *)(dst + done);
		const uint32_t *s = src ? (const uint32_t *)(const void *)
		    (src + done) : NULL;

		fl_rng_stream(bits, (size_t)((b + m + 7) / 8), key, c, 0);
#ifdef HAVE_AVX2_ROUND
		if (vector)
			flip_avx2(d, s, m, bits, b);
		else
#endif
			flip_scalar(d, s, m, bits, b);
		done += m;
	}
	(void)vector;
}

void
fl_rht_signs(float *v, uint64_t n, const unsigned char key[FL_RNG_KEYBYTES])
{
	fl_rht_signs_copy(v, v, n, 0, key);
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
 * low word.  The squares are summed in double into *approx (not exactly:
 * the caller bounds the error, and decides exactly when it must).  A bad
 * lane is rounded to garbage, harmless here: the caller refuses the
 * record.
 */
__attribute__((target("avx2")))
static int
round_chunk_avx2(const float *y, uint64_t m, double mult,
    const uint32_t *u, uint32_t mask, uint32_t *out,
    unsigned __int128 *ss, double *approx)
{
	const __m256d vmult = _mm256_set1_pd(mult), two32 =
	    _mm256_set1_pd(0x1p32), limit = _mm256_set1_pd(0x1p31);
	const __m256d magic = _mm256_set1_pd(0x1.8p52), one =
	    _mm256_set1_pd(1), two52 = _mm256_set1_pd(0x1p52);
	const __m256d abs_mask = _mm256_castsi256_pd(_mm256_set1_epi64x(
	    INT64_MAX));
	const __m256i two52_bits = _mm256_set1_epi64x(0x4330000000000000);
	/* q mod 2^32 sits in the even 32-bit words: gather them. */
	const __m256i evens = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
	const __m128i vmask = _mm_set1_epi32((int)mask);
	__m256d sum = _mm256_setzero_pd(), bad = _mm256_setzero_pd();
	uint64_t i = 0;
	double lanes[4];

	for (; i + 4 <= m; i += 4) {
		__m256d x = _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(y + i)),
		    vmult);
		__m256d q = _mm256_floor_pd(x), ud, up;
		__m256i w;

		/* Not below 2^31 (NaN included). */
		bad = _mm256_or_pd(bad, _mm256_cmp_pd(_mm256_and_pd(x,
		    abs_mask), limit, _CMP_NLT_UQ));
		ud = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(
		    _mm256_cvtepu32_epi64(_mm_loadu_si128((const __m128i *)
		    (const void *)(u + i))), two52_bits)), two52);
		up = _mm256_cmp_pd(ud, _mm256_mul_pd(_mm256_sub_pd(x, q),
		    two32), _CMP_LT_OQ);
		q = _mm256_add_pd(q, _mm256_and_pd(up, one));
		w = _mm256_castpd_si256(_mm256_add_pd(q, magic));
		_mm_storeu_si128((__m128i *)(void *)(out + i),
		    _mm_and_si128(_mm256_castsi256_si128(
		    _mm256_permutevar8x32_epi32(w, evens)), vmask));
		sum = _mm256_add_pd(sum, _mm256_mul_pd(q, q));
	}
	_mm256_storeu_pd(lanes, sum);
	*approx += (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
	return round_chunk_scalar(y + i, m - i, mult, u + i, mask, out + i,
	    ss) | (_mm256_movemask_pd(bad) != 0);
}
#endif

/* One attempt a: every chunk's keystream, rounded into out.  The sum of
 * squares is exact in *ss, but for the part in *approx when vector is
 * set.  Nonzero if a value was bad. */
static int
round_attempt(const float *y, uint64_t n, double mult, uint32_t mask,
    const unsigned char key[FL_RNG_KEYBYTES], unsigned a, uint32_t *out,
    uint32_t *u, int vector, unsigned __int128 *ss, double *approx)
{
	*ss = 0;
	*approx = 0;
	for (uint64_t from = 0; from < n; from += CHUNK) {
		uint64_t m = n - from < CHUNK ? n - from : CHUNK;
		int bad;

		fl_rng_stream_u32(u, m, key, (uint64_t)a << 32 | from / CHUNK,
		    0);
#ifdef HAVE_AVX2_ROUND
		if (vector)
			bad = round_chunk_avx2(y + from, m, mult, u, mask,
			    out + from, ss, approx);
		else
#endif
			bad = round_chunk_scalar(y + from, m, mult, u, mask,
			    out + from, ss);
		if (bad)
			return 1;
	}
	(void)vector;
	return 0;
}

int
fl_ring_round(const float *y, uint64_t n, double mult, double bound,
    int bits, const unsigned char key[FL_RNG_KEYBYTES], uint32_t *out,
    unsigned *tries, struct fl_error *err)
{
	uint32_t mask = bits >= 32 ? UINT32_MAX :
	    (uint32_t)((UINT64_C(1) << bits) - 1);
	uint32_t u[CHUNK];
	int vector = fl_use_avx2(), bad = 0, ok = 0;
	unsigned a;
	/* The double sum's relative error: a square rounds once, a lane
	 * adds CHUNK/4 of them, the four lanes and the chunks are added on
	 * top, all terms non-negative.  Twice that, to cover the products
	 * by 1 +- e below. */
	double e = ((double)CHUNK / 4 + (double)(n / CHUNK) + 16) * 0x1p-52;

	if (sodium_init() < 0) {        /* as in fl_rht_signs */
	}
	for (a = 0; a < MAX_TRIES && !bad && !ok; a++) {
		unsigned __int128 ss, lo, hi;
		double approx;

		bad = round_attempt(y, n, mult, mask, key, a, out, u, vector,
		    &ss, &approx);
		if (bad)
			break;
		/* approx < 2^62 n: far inside 128 bits. */
		hi = ss + (unsigned __int128)(approx * (1 + e)) + 1;
		lo = ss + (unsigned __int128)(approx * (1 - e));
		if (approx == 0) {
			ok = fl_int_sumsq_le(ss, bound);        /* exact */
		} else if (fl_int_sumsq_le(hi, bound)) {
			ok = 1;
		} else if (fl_int_sumsq_le(lo, bound)) {
			/* Too close to call in double: the same attempt
			 * again, with the exact sum. */
			bad = round_attempt(y, n, mult, mask, key, a, out, u,
			    0, &ss, &approx);
			ok = !bad && fl_int_sumsq_le(ss, bound);
		}
	}
	memset(u, 0, sizeof(u));
	if (bad)
		return fl_error_set(err, FL_EINVAL, "a value is too large "
		    "for the grid (2^31 steps or more)");
	if (!ok)
		return fl_error_set(err, FL_ELIMIT, "rounding exceeded the "
		    "L2 bound %g in %d tries", bound, MAX_TRIES);
	*tries = a;
	return 0;
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
	if (fl_use_avx2()) {
		unwrap_avx2(u, n, mod, f, out);
		return;
	}
#endif
	unwrap_scalar(u, n, mod, f, out);
}
