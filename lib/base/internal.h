/* SPDX-License-Identifier: ISC */
/* base/internal.h - what the library's files share below the record format: byte order, alignment, aligned buffers, rounding, the vector-kernel switch, crc32; not installed. */
#ifndef FL_BASE_INTERNAL_H
#define FL_BASE_INTERNAL_H

#include <endian.h>
#include <stdint.h>
#include <stddef.h>

#include "base/base.h"

static inline uint32_t
fl_load_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static inline uint64_t
fl_load_le64(const unsigned char *p)
{
	return (uint64_t)fl_load_le32(p) | (uint64_t)fl_load_le32(p + 4) << 32;
}

static inline void
fl_store_le32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8 & 0xff;
	p[2] = v >> 16 & 0xff;
	p[3] = v >> 24 & 0xff;
}

static inline void
fl_store_le64(unsigned char *p, uint64_t v)
{
	fl_store_le32(p, (uint32_t)v);
	fl_store_le32(p + 4, (uint32_t)(v >> 32));
}

/* Round up to the format's 64-byte alignment; 0 on overflow. */
static inline uint64_t
fl_align64(uint64_t n)
{
	return n > UINT64_MAX - (FL_ALIGN - 1) ? 0 :
	    (n + FL_ALIGN - 1) & ~(uint64_t)(FL_ALIGN - 1);
}

/* 64-aligned buffers (alloc.c).  fl_grow keeps the first `keep` bytes. */
void *fl_alloc_aligned(size_t n);
int fl_grow(unsigned char **buf, size_t *cap, size_t need, size_t keep,
    struct fl_error *err);

/* The nearest integer to x, ties to even, for |x| < 2^51: adding and
 * removing 1.5 2^52 leaves no fraction bits.  Inline, unlike nearbyint;
 * the vector kernels round the same way. */
static inline double
fl_round_int(double x)
{
	return (x + 0x1.8p52) - 0x1.8p52;
}

/* cpu.c: whether the hand-written AVX2 kernels run (the CPU has AVX2 and
 * fl_simd_limit, a test knob, is not 0).  They give the scalar code's
 * values bit for bit. */
extern int fl_simd_limit;
int fl_use_avx2(void);

/* crc32 over any length (zlib's takes 32-bit lengths on some builds). */
uint32_t fl_crc32(uint32_t crc, const void *buf, size_t len);

/* Tensors hold host-order elements; the record format and every byte-level
 * derivation are little-endian.  Reverse the bytes of each es-byte element
 * of p[0..n) (a no-op for es 1); callers do it on big-endian hosts only. */
#define FL_HOST_BIG_ENDIAN (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)

static inline void
fl_swap_elements(unsigned char *p, size_t n, size_t es)
{
	for (unsigned char *e = p; es > 1 && e + es <= p + n; e += es)
		for (size_t a = 0, b = es - 1; a < b; a++, b--) {
			unsigned char c = e[a];

			e[a] = e[b];
			e[b] = c;
		}
}

#ifdef __SIZEOF_INT128__
/* 128-bit division (quotient; the remainder in *rem unless NULL) and the
 * conversions from and to double, without the compiler's helpers (base/int128.c). */
unsigned __int128 fl_u128_divmod(unsigned __int128 n, unsigned __int128 d,
    unsigned __int128 *rem);
__int128 fl_f64_to_i128(double a);
unsigned __int128 fl_f64_to_u128(double a);
double fl_i128_to_f64(__int128 a);
double fl_u128_to_f64(unsigned __int128 u);
#endif

#endif
