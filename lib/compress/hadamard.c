/* SPDX-License-Identifier: ISC */
/*
 * The fast Walsh-Hadamard transform, in place, in two passes over memory.
 *
 * A naive radix-2 transform of 2^24 floats walks the 64 MiB array 24
 * times.  Here the stages whose butterflies stay inside a block of BLOCK
 * floats (in L1) all run while the block is hot; the remaining stages,
 * whose partners are whole blocks apart, run on strips of STRIP columns
 * (two cache lines per row) gathered into a scratch buffer that fits L2:
 * memory is crossed twice, whatever the length.
 *
 * Same arithmetic as the radix-2 transform: every stage's butterfly is
 * a + b and a - b on the same pair, and stages run in the same order for
 * every element, so the result does not depend on the blocking or on the
 * vector width.  Three stages are fused per pass (radix 8) so that a pass
 * inside the cache does three stages' work; the three smallest ones
 * (partners 1, 2 and 4 apart) are done inside a vector by shuffles.
 * Eight floats at once with the compiler's vector extension: one AVX2
 * register in the AVX2 clone, two SSE ones (or NEON, or scalar code)
 * elsewhere.
 */
#include <stdlib.h>
#include <string.h>

#include "compress/compress.h"

#define BLOCK 4096      /* floats: 16 KiB */
#define STRIP 32        /* floats: two 64-byte cache lines */

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__linux__)
#define KERNEL __attribute__((target_clones("default", "avx2")))
#else
#define KERNEL
#endif

#if defined(__GNUC__) || defined(__clang__)
/* The helpers below pass 32-byte vectors between static functions that
 * are all inlined: no call crosses the ABI the warning is about. */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

typedef float v8 __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));

/* Loads and stores through memcpy: no alignment is assumed. */
static inline __attribute__((always_inline)) v8
ld(const float *p)
{
	v8 x;

	memcpy(&x, p, sizeof(x));
	return x;
}

static inline __attribute__((always_inline)) void
st(float *p, v8 x)
{
	memcpy(p, &x, sizeof(x));
}

/* One stage inside a vector: y holds each lane's partner; the lower lane
 * of a pair gets a + b, the upper one a - b (y - x there). */
static inline __attribute__((always_inline)) v8
butterfly_lanes(v8 x, v8 y, v8i upper)
{
	v8i s = (v8i)(x + y), d = (v8i)(y - x);

	return (v8)((s & ~upper) | (d & upper));
}

/* Stages 1, 2 and 4 on every group of 8 values of p[0..n). */
static inline __attribute__((always_inline)) void
radix8_lanes(float *restrict p, size_t n)
{
	const v8i up1 = { 0, -1, 0, -1, 0, -1, 0, -1 };
	const v8i up2 = { 0, 0, -1, -1, 0, 0, -1, -1 };
	const v8i up4 = { 0, 0, 0, 0, -1, -1, -1, -1 };

	for (size_t i = 0; i < n; i += 8) {
		v8 x = ld(p + i);

		x = butterfly_lanes(x, __builtin_shufflevector(x, x, 1, 0, 3,
		    2, 5, 4, 7, 6), up1);
		x = butterfly_lanes(x, __builtin_shufflevector(x, x, 2, 3, 0,
		    1, 6, 7, 4, 5), up2);
		x = butterfly_lanes(x, __builtin_shufflevector(x, x, 4, 5, 6,
		    7, 0, 1, 2, 3), up4);
		st(p + i, x);
	}
}

/* Three stages on eight vectors: a[k] is paired with a[k ^ 1], then
 * a[k ^ 2], then a[k ^ 4], the lower one of each pair getting the sum. */
#define BUTTERFLY(x, y) do {					\
	v8 t_ = x;							\
	x = t_ + y;							\
	y = t_ - y;							\
} while (0)

static inline __attribute__((always_inline)) void
butterfly8(v8 *a)
{
	/* Written out: the compiler keeps all eight in registers. */
	v8 a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
	v8 a4 = a[4], a5 = a[5], a6 = a[6], a7 = a[7];

	BUTTERFLY(a0, a1);
	BUTTERFLY(a2, a3);
	BUTTERFLY(a4, a5);
	BUTTERFLY(a6, a7);
	BUTTERFLY(a0, a2);
	BUTTERFLY(a1, a3);
	BUTTERFLY(a4, a6);
	BUTTERFLY(a5, a7);
	BUTTERFLY(a0, a4);
	BUTTERFLY(a1, a5);
	BUTTERFLY(a2, a6);
	BUTTERFLY(a3, a7);
	a[0] = a0;
	a[1] = a1;
	a[2] = a2;
	a[3] = a3;
	a[4] = a4;
	a[5] = a5;
	a[6] = a6;
	a[7] = a7;
}

/* Stages h, 2h and 4h together over n values at p (h a multiple of 8):
 * one pass over the data instead of three. */
static inline __attribute__((always_inline)) void
radix8(float *restrict p, size_t n, size_t h)
{
	for (size_t i = 0; i < n; i += 8 * h)
		for (size_t j = i; j < i + h; j += 8) {
			/* Written out: loops over the eight are not unrolled
			 * at -O2, and the vectors then go through memory. */
			float *q = p + j;
			v8 a[8] = { ld(q), ld(q + h), ld(q + 2 * h),
			    ld(q + 3 * h), ld(q + 4 * h), ld(q + 5 * h),
			    ld(q + 6 * h), ld(q + 7 * h) };

			butterfly8(a);
			st(q, a[0]);
			st(q + h, a[1]);
			st(q + 2 * h, a[2]);
			st(q + 3 * h, a[3]);
			st(q + 4 * h, a[4]);
			st(q + 5 * h, a[5]);
			st(q + 6 * h, a[6]);
			st(q + 7 * h, a[7]);
		}
}

static inline __attribute__((always_inline)) void
radix4(float *restrict p, size_t n, size_t h)
{
	for (size_t i = 0; i < n; i += 4 * h)
		for (size_t j = i; j < i + h; j += 8) {
			v8 a = ld(p + j), b = ld(p + j + h);
			v8 c = ld(p + j + 2 * h), d = ld(p + j + 3 * h);
			v8 s0 = a + b, s1 = a - b, s2 = c + d, s3 = c - d;

			st(p + j, s0 + s2);
			st(p + j + h, s1 + s3);
			st(p + j + 2 * h, s0 - s2);
			st(p + j + 3 * h, s1 - s3);
		}
}

static inline __attribute__((always_inline)) void
radix2(float *restrict p, size_t n, size_t h)
{
	for (size_t i = 0; i < n; i += 2 * h)
		for (size_t j = i; j < i + h; j += 8) {
			v8 a = ld(p + j), b = ld(p + j + h);

			st(p + j, a + b);
			st(p + j + h, a - b);
		}
}

/* The stages with partners h, 2h, ... up to below end apart, over n
 * values at p, three at a time while three remain. */
static inline __attribute__((always_inline)) void
stages(float *restrict p, size_t n, size_t h, size_t end)
{
	for (; 8 * h <= end; h *= 8)
		radix8(p, n, h);
	if (4 * h <= end)
		radix4(p, n, h);
	else if (2 * h <= end)
		radix2(p, n, h);
}

/* Every stage of the transform of v[0..n), n a power of two <= BLOCK. */
KERNEL static void
fwht_small(float *restrict v, size_t n)
{
	if (n < 8) {
		for (size_t h = 1; h < n; h *= 2)
			for (size_t i = 0; i < n; i += 2 * h)
				for (size_t j = i; j < i + h; j++) {
					float a = v[j], b = v[j + h];

					v[j] = a + b;
					v[j + h] = a - b;
				}
		return;
	}
	radix8_lanes(v, n);
	stages(v, n, 8, n);
}

/* The stages across blocks: strip by strip, the same butterflies with
 * rows of STRIP values in place of single values, on a copy in s.  (Doing
 * the first and last three stages while gathering and scattering the rows
 * measured slower: eight rows a block apart share their cache sets.) */
KERNEL static void
fwht_rows(float *restrict v, float *restrict s, size_t rows)
{
	for (size_t c = 0; c < BLOCK; c += STRIP) {
		for (size_t r = 0; r < rows; r++)
			memcpy(s + r * STRIP, v + r * BLOCK + c,
			    STRIP * sizeof(float));
		stages(s, rows * STRIP, STRIP, rows * STRIP);
		for (size_t r = 0; r < rows; r++)
			memcpy(v + r * BLOCK + c, s + r * STRIP,
			    STRIP * sizeof(float));
	}
}

int
fl_fwht(float *v, uint64_t n, struct fl_error *err)
{
	size_t rows;
	float *s;

	if (n == 0 || (n & (n - 1)) != 0)
		return fl_error_set(err, FL_EINVAL, "hadamard transform: "
		    "length %llu is not a power of two", (unsigned long long)n);
	if (n <= BLOCK) {
		fwht_small(v, (size_t)n);
		return 0;
	}
	for (uint64_t b = 0; b < n; b += BLOCK)
		fwht_small(v + b, BLOCK);
	rows = (size_t)(n / BLOCK);
	s = aligned_alloc(64, rows * STRIP * sizeof(float));
	if (s == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	fwht_rows(v, s, rows);
	free(s);
	return 0;
}
