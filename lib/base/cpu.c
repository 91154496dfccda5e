/* SPDX-License-Identifier: ISC */
/*
 * Which vector kernels run: the AVX2 ones of gauss.c and quant.c when the
 * CPU has AVX2 (target_clones pick their own in dp.c, hadamard.c, agg.c
 * and train.c).  Every vector kernel gives the scalar code's values bit
 * for bit; the unit tests set fl_simd_limit to 0 to check the scalar code
 * against them.
 */
#include "base/internal.h"

int fl_simd_limit = 1;

int
fl_use_avx2(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
	/* (The CPU model is read once at start-up: safe from any thread.) */
	return fl_simd_limit > 0 && __builtin_cpu_supports("avx2");
#else
	return 0;
#endif
}
