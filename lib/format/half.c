/* SPDX-License-Identifier: ISC */
/*
 * Half precision: f16 (IEEE 754 binary16) and bf16 (bfloat16, the upper
 * half of an f32), held as their 16 bits.
 *
 * Widening to f32 is exact.  Narrowing rounds the exact value once, so a
 * double narrows without passing through f32 (no double rounding).  A
 * normal result comes from the double's bits: the top fraction bits, and
 * the rest to round them.  The others (zero, subnormal, past the range)
 * scale |x| by a power of two so that one unit is the format's last place
 * at x's exponent (clamped to the subnormal range), which leaves the
 * integer part q and the fraction r exact in a double, and round q by r.
 * Either way the bits are (e - emin) 2^mant + q: a carry out of q moves to
 * the next binade, and past the largest finite value to infinity.
 *
 * Text is correctly rounded too: strtod rounds the decimal to a double,
 * which is right unless that double lies exactly halfway between two half
 * values and the decimal does not; then the decimal is compared digit by
 * digit with the exact expansion of the halfway point.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/internal.h"

struct fmt {
	int mant;               /* fraction bits */
	int emin, emax;         /* exponents of the normal range */
};

static const struct fmt f16 = { 10, -14, 15 };
static const struct fmt bf16 = { 7, -126, 127 };

enum round { NEAREST, TOWARD_ZERO, TIES_UP, TIES_DOWN };

static const struct fmt *
fmt_of(enum fl_dtype dt)
{
	return dt == FL_BF16 ? &bf16 : &f16;
}

float
fl_half_to_float(enum fl_dtype dt, uint16_t h)
{
	uint32_t s = (uint32_t)(h & 0x8000) << 16, e, m, u;
	float f;

	if (dt == FL_BF16) {
		u = (uint32_t)h << 16;
		memcpy(&f, &u, 4);
		return f;
	}
	e = h >> 10 & 0x1f;
	m = h & 0x3ff;
	if (e == 0x1f) {                /* infinity, or NaN with its payload */
		u = s | 0x7f800000u | m << 13;
	} else if (e != 0) {
		u = s | (e + 112) << 23 | m << 13;
	} else {                        /* zero or subnormal: m 2^-24 */
		f = ldexpf((float)m, -24);
		return s ? -f : f;
	}
	memcpy(&f, &u, 4);
	return f;
}

/* The half bits of |x| (not NaN), rounded as asked. */
static uint32_t
encode(const struct fmt *f, double a, enum round mode)
{
	uint32_t inf = (uint32_t)(f->emax - f->emin + 2) << f->mant;
	double y, q, r;
	uint64_t u;
	int e;

	/* A normal result, the common case, from the double's bits: the
	 * fraction's top mant bits, then the rest decides; the parity of
	 * q is that of the bits' last one. */
	memcpy(&u, &a, 8);
	e = (int)(u >> 52) - 1023;
	if (e >= f->emin && e <= f->emax) {
		int shift = 52 - f->mant;
		uint64_t m = u & ((UINT64_C(1) << 52) - 1);
		uint64_t rest = m & ((UINT64_C(1) << shift) - 1);
		uint64_t half = UINT64_C(1) << (shift - 1);
		uint32_t bits = ((uint32_t)(e - f->emin + 1) << f->mant) +
		    (uint32_t)(m >> shift);

		switch (mode) {
		case NEAREST:
			bits += rest > half || (rest == half && (bits & 1));
			break;
		case TIES_UP:
			bits += rest >= half;
			break;
		case TIES_DOWN:
			bits += rest > half;
			break;
		case TOWARD_ZERO:
			break;
		}
		return bits;            /* a carry is the next binade, or inf */
	}
	/* Zero, subnormal results, overflow, infinity: the arithmetic way.
	 * |x| is scaled so that one unit is the last place at its exponent
	 * (clamped to the subnormal range). */
	if (a == 0)
		return 0;
	if (isinf(a))
		return inf;
	e = ilogb(a);
	if (e < f->emin)
		e = f->emin;
	if (e > f->emax)
		return mode == TOWARD_ZERO ? inf - 1 : inf;
	y = ldexp(a, f->mant - e);      /* below 2^(mant + 1): exact */
	q = floor(y);
	r = y - q;
	switch (mode) {
	case NEAREST:
		q += r > 0.5 || (r == 0.5 && fmod(q, 2) == 1);
		break;
	case TIES_UP:
		q += r >= 0.5;
		break;
	case TIES_DOWN:
		q += r > 0.5;
		break;
	case TOWARD_ZERO:
		break;
	}
	/* q may reach 2^(mant + 1): the carry is the next binade. */
	return ((uint32_t)(e - f->emin) << f->mant) + (uint32_t)q;
}

/* A NaN keeps its sign and the top bits of its payload, and stays a NaN
 * (a payload that keeps no bit becomes the quiet one). */
static uint16_t
nan_bits(const struct fmt *f, int neg, uint64_t top)
{
	uint32_t inf = (uint32_t)(f->emax - f->emin + 2) << f->mant;

	if (top == 0)
		top = (uint64_t)1 << (f->mant - 1);
	return (uint16_t)((neg ? 0x8000u : 0) | inf | (uint32_t)top);
}

static uint16_t
from_double(enum fl_dtype dt, double x, enum round mode)
{
	const struct fmt *f = fmt_of(dt);
	uint64_t u;

	if (isnan(x)) {
		memcpy(&u, &x, 8);
		return nan_bits(f, signbit(x) != 0,
		    (u & 0xfffffffffffffu) >> (52 - f->mant));
	}
	return (uint16_t)((signbit(x) ? 0x8000u : 0) |
	    encode(f, fabs(x), mode));
}

uint16_t
fl_half_from_double(enum fl_dtype dt, double x)
{
	return from_double(dt, x, NEAREST);
}

uint16_t
fl_half_toward_zero(enum fl_dtype dt, double x)
{
	return from_double(dt, x, TOWARD_ZERO);
}

uint16_t
fl_half_from_float(enum fl_dtype dt, float x)
{
	uint32_t u;

	/* A float NaN is read from its own bits: made a double, a
	 * signalling NaN would come back quiet, and f16 -> f32 -> f16 would
	 * not give every pattern back. */
	if (isnan(x)) {
		memcpy(&u, &x, 4);
		return nan_bits(fmt_of(dt), (u >> 31) != 0,
		    (u & 0x7fffffu) >> (23 - fmt_of(dt)->mant));
	}
	return from_double(dt, (double)x, NEAREST);
}

/* ---- text ---- */

/*
 * A decimal number as its significant digits (no leading or trailing
 * zeros, at most cap kept) and the exponent e with value = 0.DIGITS 10^e.
 * s is what strtod accepted: an optional sign, digits with an optional
 * point, an optional exponent.
 */
static size_t
decimal(const char *s, char *dig, size_t cap, long *e)
{
	size_t n = 0;
	long point = 0, ex = 0;
	int seen_point = 0, lead = 1;

	if (*s == '+' || *s == '-')
		s++;
	for (; (*s >= '0' && *s <= '9') || *s == '.'; s++) {
		if (*s == '.') {
			seen_point = 1;
			continue;
		}
		if (lead && *s == '0') {
			point -= seen_point;    /* 0.00d: the point moves */
			continue;
		}
		lead = 0;
		if (!seen_point)
			point++;
		if (n < cap)
			dig[n++] = *s;
	}
	if (*s == 'e' || *s == 'E') {
		int neg = *++s == '-';

		if (*s == '+' || *s == '-')
			s++;
		for (; *s >= '0' && *s <= '9'; s++)
			if (ex < 100000)
				ex = ex * 10 + (*s - '0');
		ex = neg ? -ex : ex;
	}
	while (n > 0 && dig[n - 1] == '0')
		n--;
	*e = point + ex;
	return n;
}

/* The sign of |s| - d, for d > 0 with a short exact expansion (a
 * half-way point: at most about a hundred significant digits). */
static int
compare_decimal(const char *s, double d)
{
	char a[80], b[200], text[220];
	long ea, eb;
	size_t na, nb;

	na = decimal(s, a, sizeof(a), &ea);
	snprintf(text, sizeof(text), "%.180e", d);
	nb = decimal(text, b, sizeof(b), &eb);
	if (na == 0)
		return -1;
	if (ea != eb)
		return ea < eb ? -1 : 1;
	for (size_t i = 0; i < na || i < nb; i++) {
		char x = i < na ? a[i] : '0', y = i < nb ? b[i] : '0';

		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

int
fl_half_parse(enum fl_dtype dt, const char *s, uint16_t *out)
{
	uint16_t up, down;
	char *end;
	double d = strtod(s, &end);

	if (end == s || *end != '\0')
		return -1;
	up = from_double(dt, d, TIES_UP);
	down = from_double(dt, d, TIES_DOWN);
	/* Different only when d is half-way: then the text decides. */
	if (up != down && isfinite(d))
		*out = compare_decimal(s, fabs(d)) > 0 ? up :
		    compare_decimal(s, fabs(d)) < 0 ? down :
		    from_double(dt, d, NEAREST);
	else
		*out = from_double(dt, d, NEAREST);
	return 0;
}

char *
fl_format_half(char buf[FL_NUMBUF], enum fl_dtype dt, uint16_t h)
{
	float v = fl_half_to_float(dt, h);
	double a = fabs((double)v);
	/* As fl_format_double: never fewer digits than an integer below
	 * 1e17 has, so 2048 prints as 2048 and not 2e+03. */
	int lo = a >= 1 && a < 1e17 ? (int)floor(log10(a)) + 1 : 1;
	uint16_t back;

	for (int prec = lo < 17 ? lo : 17; prec <= 17; prec++) {
		snprintf(buf, FL_NUMBUF, "%.*g", prec, (double)v);
		if (isnan(v) || (fl_half_parse(dt, buf, &back) == 0 &&
		    back == h))
			return buf;
	}
	return buf;
}
