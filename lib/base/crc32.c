/* SPDX-License-Identifier: ISC */
/*
 * CRC-32 (the zlib/PNG polynomial, reflected) by carry-less multiplication:
 * four 128-bit lanes fold 64 bytes per step, then one lane, then a Barrett
 * reduction to 32 bits (Gopal et al., "Fast CRC computation for generic
 * polynomials using PCLMULQDQ", Intel 2009).  About three times zlib's
 * table-driven crc32 here, and every record read pays a CRC over its whole
 * payload.  CPUs without PCLMULQDQ, and the unaligned tails, use zlib.
 */
#include <zlib.h>

#include "base/internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define TARGET __attribute__((target("pclmul,sse4.1")))

/* x^(4*128+32) mod P and x^(4*128-32) mod P, for folding four lanes; the
 * same for one lane; x^64 mod P; P' and mu for the Barrett step. */
#define K1 0x154442bd4ULL
#define K2 0x1c6e41596ULL
#define K3 0x1751997d0ULL
#define K4 0x0ccaa009eULL
#define K5 0x163cd6124ULL
#define POLY 0x1db710641ULL
#define MU 0x1f7011641ULL

static inline TARGET __m128i
fold(__m128i x, __m128i k, __m128i next)
{
	__m128i lo = _mm_clmulepi64_si128(x, k, 0x00);
	__m128i hi = _mm_clmulepi64_si128(x, k, 0x11);

	return _mm_xor_si128(_mm_xor_si128(lo, hi), next);
}

/* The raw (not inverted) CRC of len bytes, len >= 64 and a multiple of 16. */
static TARGET uint32_t
crc_clmul(uint32_t crc, const unsigned char *p, size_t len)
{
	const __m128i k12 = _mm_set_epi64x((long long)K2, (long long)K1);
	const __m128i k34 = _mm_set_epi64x((long long)K4, (long long)K3);
	const __m128i mask32 = _mm_set_epi32(0, 0, 0, -1);
	__m128i x0, x1, x2, x3, t;

	x0 = _mm_loadu_si128((const __m128i *)p);
	x1 = _mm_loadu_si128((const __m128i *)(p + 16));
	x2 = _mm_loadu_si128((const __m128i *)(p + 32));
	x3 = _mm_loadu_si128((const __m128i *)(p + 48));
	x0 = _mm_xor_si128(x0, _mm_cvtsi32_si128((int)crc));
	p += 64;
	len -= 64;
	for (; len >= 64; p += 64, len -= 64) {
		x0 = fold(x0, k12, _mm_loadu_si128((const __m128i *)p));
		x1 = fold(x1, k12, _mm_loadu_si128((const __m128i *)(p + 16)));
		x2 = fold(x2, k12, _mm_loadu_si128((const __m128i *)(p + 32)));
		x3 = fold(x3, k12, _mm_loadu_si128((const __m128i *)(p + 48)));
	}
	x0 = fold(x0, k34, x1);
	x0 = fold(x0, k34, x2);
	x0 = fold(x0, k34, x3);
	for (; len >= 16; p += 16, len -= 16)
		x0 = fold(x0, k34, _mm_loadu_si128((const __m128i *)p));

	/* 128 to 64 bits (appending 32 zero bits), then 64 to 32. */
	t = _mm_clmulepi64_si128(k34, x0, 0x01);
	x0 = _mm_xor_si128(_mm_srli_si128(x0, 8), t);
	t = _mm_clmulepi64_si128(_mm_and_si128(x0, mask32),
	    _mm_set_epi64x(0, (long long)K5), 0x00);
	x0 = _mm_xor_si128(_mm_srli_si128(x0, 4), t);
	/* Barrett reduction. */
	t = _mm_and_si128(x0, mask32);
	t = _mm_clmulepi64_si128(t, _mm_set_epi64x((long long)MU,
	    (long long)POLY), 0x10);
	t = _mm_and_si128(t, mask32);
	t = _mm_clmulepi64_si128(t, _mm_set_epi64x((long long)MU,
	    (long long)POLY), 0x00);
	x0 = _mm_xor_si128(x0, t);
	return (uint32_t)_mm_extract_epi32(x0, 1);
}

static int
have_clmul(void)
{
	static int have = -1;

	if (have < 0)
		have = __builtin_cpu_supports("pclmul") &&
		    __builtin_cpu_supports("sse4.1");
	return have;
}
#endif

uint32_t
fl_crc32(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
	if (len >= 64 && have_clmul()) {
		size_t n = len & ~(size_t)15;

		/* zlib's CRC is the raw one of the inverted register. */
		crc = ~crc_clmul(~crc, p, n);
		p += n;
		len -= n;
	}
#endif
	return (uint32_t)crc32_z(crc, p, len);
}
