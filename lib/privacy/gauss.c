/* SPDX-License-Identifier: ISC */
/*
 * Standard normal samples: the ziggurat method (Marsaglia and Tsang 2000)
 * with 256 layers in double precision.  A draw takes 48 bits of ChaCha20
 * in the common case: 8 pick the layer, 1 the sign and 39 the abscissa,
 * which quantises the output to 2^-37 of its scale (noise added to data on
 * a grid of 2^-18 of its scale, dp.c, so 2^-19 of a grid step).  The wedge
 * test is exact up to exp()'s rounding and the tail uses Marsaglia's method
 * with 53-bit uniforms, so the support is unbounded.  The algorithm is
 * exact in real arithmetic, the floating-point result is not: callers snap
 * values and noise to a power-of-two grid so the output has no porous low
 * bits, and the sampler's deviation is documented in fl-clip-noise(1).
 * The exact alternative is dgauss.c.
 */
#include <math.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif
#include <pthread.h>
#include <stdatomic.h>

#include "privacy/internal.h"

#define LAYERS 256
#define R 3.6541528853610088    /* start of the tail */
#define V 0.00492867323399      /* area of each layer */

static double xs[LAYERS + 1];   /* layer i spans [0, xs[i]) */
static double fs[LAYERS + 1];   /* exp(-xs[i]^2 / 2) */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static atomic_int ready;

static void
build_tables(void)
{
	double f = exp(-0.5 * R * R);

	/* Layer 0 is the base strip with the tail folded in: width V/f(R). */
	xs[0] = V / f;
	xs[1] = R;
	for (int i = 1; i < LAYERS - 1; i++)
		xs[i + 1] = sqrt(-2 * log(V / xs[i] + exp(-0.5 * xs[i] *
		    xs[i])));
	xs[LAYERS] = 0;
	for (int i = 0; i <= LAYERS; i++)
		fs[i] = exp(-0.5 * xs[i] * xs[i]);
	atomic_store_explicit(&ready, 1, memory_order_release);
}

/* Uniform in (0, 1]: 53 bits, never 0, so log() is finite. */
static double
uniform_open0(struct fl_rng *r)
{
	return (double)((fl_rng_u64(r) >> 11) + 1) * 0x1p-53;
}

/* x, or with round the nearest integer to x. */
static inline double
steps(double x, int round)
{
	return round ? fl_round_int(x) : x;
}

static double
slow_path(struct fl_rng *r, int i, double x, double sign)
{
	if (i == 0) {
		double a, b;

		do {
			a = -log(uniform_open0(r)) / R;
			b = -log(uniform_open0(r));
		} while (b + b < a * a);
		return sign * (R + a);
	}
	/* The wedge: accept under the curve. */
	if (fs[i] + (double)(fl_rng_u64(r) >> 11) * 0x1p-53 *
	    (fs[i + 1] - fs[i]) < exp(-0.5 * x * x))
		return sign * x;
	return NAN;                     /* rejected: draw again */
}

/* One draw, scaled by s and, with round, rounded to a whole number: the
 * reference that the vector path below must reproduce bit for bit. */
static inline double
draw_one(struct fl_rng *r, double s, int round)
{
	static const double signs[2] = { 1.0, -1.0 };

	for (;;) {
		uint64_t w = fl_rng_next48(r);
		int i = (int)(w & 0xff);
		double sign = signs[(w >> 8) & 1];
		double x = (double)(w >> 9) * 0x1p-39 * xs[i], y;

		/* Inside the part of the layer wholly under the curve: 98.8%
		 * of draws. */
		if (x < xs[i + 1])
			return steps(s * (sign * x), round);
		if (!isnan(y = slow_path(r, i, x, sign)))
			return steps(s * y, round);
	}
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_VECTOR_PATHS 1
/*
 * The fast path four draws at a time (AVX2).  Draws are taken in order; a
 * block whose four draws all fall inside their layers is written whole,
 * and at the first draw that needs the slow path the kernel writes the
 * block's draws before it and returns, so that the caller takes that one
 * the scalar way.  The roundings are the scalar code's (no fused
 * multiply-add: intrinsics only), so the output is draw_one's bit for bit
 * (tests/unit checks both paths against each other).  A block is loaded
 * whole from the buffer: near its end the scalar code takes over, and
 * refills.  The layer bounds are two adjacent doubles, loaded as a pair
 * per draw: gathers measured slower here, and AVX-512 with eight lanes no
 * faster (the keystream and the slow draws dominate).
 */
__attribute__((target("avx2")))
static size_t
fast_blocks_avx2(struct fl_rng *r, double *out, size_t n, double s,
    int round)
{
	/* Words 0-1 from bytes 0-11, words 2-3 from bytes 12-23: move the
	 * dwords so each 128-bit half starts at its first word, then pick
	 * 6 bytes per 64-bit lane and zero the top two. */
	const __m256i perm = _mm256_setr_epi32(0, 1, 2, 3, 3, 4, 5, 6);
	const __m256i pick = _mm256_setr_epi8(0, 1, 2, 3, 4, 5, -1, -1,
	    6, 7, 8, 9, 10, 11, -1, -1, 0, 1, 2, 3, 4, 5, -1, -1,
	    6, 7, 8, 9, 10, 11, -1, -1);
	const __m256i two52_bits = _mm256_set1_epi64x(0x4330000000000000);
	const __m256d two52 = _mm256_set1_pd(0x1p52);
	const __m256d two_m39 = _mm256_set1_pd(0x1p-39);
	const __m256d magic = _mm256_set1_pd(0x1.8p52);
	const __m256d scale = _mm256_set1_pd(s);
	size_t k = 0;

	while (k + 4 <= n && r->pos + 32 <= sizeof(r->buf)) {
		const unsigned char *b = r->buf + r->pos;
		__m256i w = _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(
		    _mm256_loadu_si256((const __m256i *)(const void *)b),
		    perm), pick);
		/* (xs[i], xs[i + 1]) for the layer i, the word's low byte. */
		__m128d p0 = _mm_loadu_pd(&xs[b[0]]);
		__m128d p1 = _mm_loadu_pd(&xs[b[6]]);
		__m128d p2 = _mm_loadu_pd(&xs[b[12]]);
		__m128d p3 = _mm_loadu_pd(&xs[b[18]]);
		__m256d width = _mm256_insertf128_pd(_mm256_castpd128_pd256(
		    _mm_unpacklo_pd(p0, p1)), _mm_unpacklo_pd(p2, p3), 1);
		__m256d under = _mm256_insertf128_pd(_mm256_castpd128_pd256(
		    _mm_unpackhi_pd(p0, p1)), _mm_unpackhi_pd(p2, p3), 1);
		/* w >> 9 < 2^39 as a double: exact, via the 2^52 exponent. */
		__m256d u = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(
		    _mm256_srli_epi64(w, 9), two52_bits)), two52);
		__m256d x = _mm256_mul_pd(_mm256_mul_pd(u, two_m39), width);
		__m256i sign = _mm256_slli_epi64(_mm256_srli_epi64(w, 8), 63);
		unsigned ok = (unsigned)_mm256_movemask_pd(_mm256_cmp_pd(x,
		    under, _CMP_LT_OQ));

		x = _mm256_mul_pd(scale, _mm256_xor_pd(x,
		    _mm256_castsi256_pd(sign)));
		if (round)
			x = _mm256_sub_pd(_mm256_add_pd(x, magic), magic);
		if (ok != 0xf) {
			unsigned take = (unsigned)__builtin_ctz(~ok);
			double lanes[4];

			_mm256_storeu_pd(lanes, x);
			for (unsigned j = 0; j < take; j++)
				out[k + j] = lanes[j];
			r->pos += 6 * take;
			return k + take;
		}
		_mm256_storeu_pd(out + k, x);
		r->pos += 24;
		k += 4;
	}
	return k;
}

#endif

/* n draws scaled by s (and rounded), exactly as n calls of draw_one. */
static void
fill(struct fl_rng *r, double *out, size_t n, double s, int round)
{
	int vector = fl_use_avx2();
	size_t k = 0;

	if (!atomic_load_explicit(&ready, memory_order_acquire))
		pthread_once(&once, build_tables);
	while (k < n) {
#ifdef HAVE_VECTOR_PATHS
		if (vector)
			k += fast_blocks_avx2(r, out + k, n - k, s, round);
#endif
		if (k < n)
			out[k++] = draw_one(r, s, round);
	}
	(void)vector;
}

void
fl_normal_fill(struct fl_rng *r, double *out, size_t n)
{
	fill(r, out, n, 1.0, 0);
}

void
fl_normal_steps(struct fl_rng *r, double *out, size_t n, double s)
{
	fill(r, out, n, s, 1);
}

double
fl_normal(struct fl_rng *r)
{
	if (!atomic_load_explicit(&ready, memory_order_acquire))
		pthread_once(&once, build_tables);
	return draw_one(r, 1.0, 0);
}
