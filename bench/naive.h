/* SPDX-License-Identifier: ISC */
/*
 * naive.h - the plain radix-2 Walsh-Hadamard transform, one stage after
 * another over the whole array: the reference lib/compress/hadamard.c must equal
 * bit for bit (tests/unit/quant.c) and the baseline it is timed against
 * (bench/quant.c).
 */
#ifndef FL_BENCH_NAIVE_H
#define FL_BENCH_NAIVE_H

#include <stdint.h>

static void
naive_fwht(float *v, uint64_t n)
{
	for (uint64_t h = 1; h < n; h <<= 1)
		for (uint64_t i = 0; i < n; i += 2 * h)
			for (uint64_t j = i; j < i + h; j++) {
				float a = v[j], b = v[j + h];

				v[j] = a + b;
				v[j + h] = a - b;
			}
}

#endif
