/* SPDX-License-Identifier: ISC */
/* 128-bit division and double conversion from shifts, compares and
 * subtractions only.  The exact arithmetic (discrete Gaussian sampling,
 * ring noise, sums of squares) uses unsigned __int128; on 32-bit ARM clang
 * has the type (-fforce-enable-int128, make ARCH=armhf) but neither libgcc
 * nor Debian's compiler-rt has the helpers it calls (__udivti3, __umodti3,
 * __fixdfti, __fixunsdfti, __floattidf, __floatuntidf): with FL_INT128_BUILTINS they are defined here over these.
 * Elsewhere the functions are compiled and unit-tested against the
 * compiler's own division. */
#include <math.h>
#include <string.h>

#include "base/internal.h"

#ifdef __SIZEOF_INT128__

unsigned __int128
fl_u128_divmod(unsigned __int128 n, unsigned __int128 d,
    unsigned __int128 *rem)
{
	unsigned __int128 q = 0, r = 0;

	if (d == 0) {           /* undefined in C; 0 rather than a trap */
		if (rem)
			*rem = 0;
		return 0;
	}
	if ((n >> 64) == 0 && (d >> 64) == 0) {
		if (rem)
			*rem = (uint64_t)n % (uint64_t)d;
		return (uint64_t)n / (uint64_t)d;
	}
	for (int i = 127; i >= 0; i--) {
		int carry = (int)(r >> 127);

		r = r << 1 | (n >> i & 1);
		if (carry || r >= d) {
			r -= d;         /* modulo 2^128: right with a carry too */
			q |= (unsigned __int128)1 << i;
		}
	}
	if (rem)
		*rem = r;
	return q;
}

/* |a| truncated toward zero, saturating at 2^e_max - 1 (NaN gives 0). */
static unsigned __int128
magnitude(double a, int e_max)
{
	uint64_t bits, frac, mant;
	int e;

	memcpy(&bits, &a, sizeof(bits));
	e = (int)(bits >> 52 & 0x7ff) - 1023;
	frac = bits & ((UINT64_C(1) << 52) - 1);
	mant = frac | UINT64_C(1) << 52;
	if (e < 0 || (e == 1024 && frac))
		return 0;                               /* |a| < 1, NaN */
	if (e >= e_max)
		return ~(unsigned __int128)0 >> (128 - e_max);
	return e >= 52 ? (unsigned __int128)mant << (e - 52) : mant >> (52 - e);
}

/* Truncation toward zero, as a C cast; NaN gives 0 and values beyond the
 * type saturate (a cast would be undefined). */
__int128
fl_f64_to_i128(double a)
{
	unsigned __int128 u = magnitude(a, 127);

	if (!signbit(a))
		return (__int128)u;
	/* saturated: INT128_MIN (no double is -INT128_MAX exactly) */
	return u == ~(unsigned __int128)0 >> 1 ? -(__int128)u - 1 : -(__int128)u;
}

unsigned __int128
fl_f64_to_u128(double a)
{
	return signbit(a) ? 0 : magnitude(a, 128);
}

/* Rounded to nearest, ties to even, as a C cast: the top 64 significant
 * bits with a sticky bit for the rest round as the whole value would. */
double
fl_u128_to_f64(unsigned __int128 u)
{
	uint64_t top;
	int s = 0;

	while (u >> 64 >> s)
		s++;
	top = (uint64_t)(u >> s);
	if (s > 0 && (u & (((unsigned __int128)1 << s) - 1)))
		top |= 1;
	return ldexp((double)top, s);
}

double
fl_i128_to_f64(__int128 a)
{
	return a < 0 ? -fl_u128_to_f64(-(unsigned __int128)a) :
	    fl_u128_to_f64((unsigned __int128)a);
}

#ifdef FL_INT128_BUILTINS
unsigned __int128 __udivti3(unsigned __int128, unsigned __int128);
unsigned __int128 __umodti3(unsigned __int128, unsigned __int128);
__int128 __fixdfti(double);
unsigned __int128 __fixunsdfti(double);
double __floattidf(__int128);
double __floatuntidf(unsigned __int128);

unsigned __int128
__udivti3(unsigned __int128 n, unsigned __int128 d)
{
	return fl_u128_divmod(n, d, NULL);
}

unsigned __int128
__umodti3(unsigned __int128 n, unsigned __int128 d)
{
	unsigned __int128 r;

	fl_u128_divmod(n, d, &r);
	return r;
}

__int128
__fixdfti(double a)
{
	return fl_f64_to_i128(a);
}

double
__floattidf(__int128 a)
{
	return fl_i128_to_f64(a);
}

unsigned __int128
__fixunsdfti(double a)
{
	return fl_f64_to_u128(a);
}

double
__floatuntidf(unsigned __int128 u)
{
	return fl_u128_to_f64(u);
}
#endif
#endif
