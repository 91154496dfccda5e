/* SPDX-License-Identifier: ISC */
/*
 * The fast Walsh-Hadamard transform, in place, in two passes over memory.
 *
 * A naive radix-2 transform of 2^24 floats walks the 64 MiB array 24
 * times.  Here the stages whose butterflies stay inside a block of BLOCK
 * floats (in L1) all run while the block is hot; the remaining stages,
 * whose partners are whole blocks apart, run on strips of STRIP columns
 * (one cache line per row) gathered into a scratch buffer that fits L2:
 * memory is crossed twice, whatever the length.  Same arithmetic as the
 * radix-2 transform (same additions in the same order per element pair),
 * so the result does not depend on the blocking; pairs of stages are fused
 * (radix 4) to halve the passes inside the cache.
 */
#include <stdlib.h>
#include <string.h>

#include "fl.h"

#define BLOCK 4096      /* floats: 16 KiB */
#define STRIP 16        /* floats: one 64-byte cache line */

/* Four floats at once with the compiler's vector extension: SSE on any
 * x86-64, NEON on arm64, scalar code elsewhere; loads and stores through
 * memcpy, so no alignment is assumed. */
typedef float v4 __attribute__((vector_size(16)));

static inline v4
ld(const float *p)
{
	v4 x;

	memcpy(&x, p, sizeof(x));
	return x;
}

static inline void
st(float *p, v4 x)
{
	memcpy(p, &x, sizeof(x));
}

/* Stages h and 2h together over n values at p, stride h apart: one pass
 * over the data instead of two. */
static void
radix4(float *restrict p, size_t n, size_t h)
{
	for (size_t i = 0; i < n; i += 4 * h)
		for (size_t j = i; j < i + h; j += 4) {
			v4 a = ld(p + j), b = ld(p + j + h);
			v4 c = ld(p + j + 2 * h), d = ld(p + j + 3 * h);
			v4 s0 = a + b, s1 = a - b, s2 = c + d, s3 = c - d;

			st(p + j, s0 + s2);
			st(p + j + h, s1 + s3);
			st(p + j + 2 * h, s0 - s2);
			st(p + j + 3 * h, s1 - s3);
		}
}

static void
radix2(float *restrict p, size_t n, size_t h)
{
	for (size_t i = 0; i < n; i += 2 * h)
		for (size_t j = i; j < i + h; j += 4) {
			v4 a = ld(p + j), b = ld(p + j + h);

			st(p + j, a + b);
			st(p + j + h, a - b);
		}
}

/* Every stage of the transform of v[0..n), n a power of two <= BLOCK. */
static void
fwht_small(float *restrict v, size_t n)
{
	size_t h = 4;

	if (n < 4) {
		if (n == 2) {
			float a = v[0], b = v[1];

			v[0] = a + b;
			v[1] = a - b;
		}
		return;
	}
	/* The first two stages together, four values at a time. */
	for (size_t i = 0; i < n; i += 4) {
		float a0 = v[i], a1 = v[i + 1], a2 = v[i + 2], a3 = v[i + 3];
		float b0 = a0 + a1, b1 = a0 - a1, b2 = a2 + a3, b3 = a2 - a3;

		v[i] = b0 + b2;
		v[i + 1] = b1 + b3;
		v[i + 2] = b0 - b2;
		v[i + 3] = b1 - b3;
	}
	for (; 4 * h <= n; h *= 4)
		radix4(v, n, h);
	if (h < n)
		radix2(v, n, h);
}

/* The stages across rows of a rows x STRIP scratch strip: the same
 * butterflies with rows in place of single values. */
static void
fwht_rows(float *restrict s, size_t rows)
{
	size_t h = 1;

	for (; 4 * h <= rows; h *= 4)
		radix4(s, rows * STRIP, h * STRIP);
	if (h < rows)
		radix2(s, rows * STRIP, h * STRIP);
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
	for (size_t c = 0; c < BLOCK; c += STRIP) {
		for (size_t r = 0; r < rows; r++)
			memcpy(s + r * STRIP, v + r * BLOCK + c,
			    STRIP * sizeof(float));
		fwht_rows(s, rows);
		for (size_t r = 0; r < rows; r++)
			memcpy(v + r * BLOCK + c, s + r * STRIP,
			    STRIP * sizeof(float));
	}
	free(s);
	return 0;
}
