/* SPDX-License-Identifier: ISC */
/*
 * Integer noise.
 *
 * The discrete Gaussian is sampled exactly (Canonne, Kamath and Steinke
 * 2020, algorithms 1-3): only integer and rational arithmetic, uniform
 * integers by rejection, the variance a rational num/den.  Intermediate
 * values are 128-bit; the variance is capped so they cannot overflow.
 *
 * The Skellam distribution (difference of two Poisson(sigma^2/2)) uses
 * Hormann's transformed rejection (PTRS) for Poisson means of 10 and above
 * and inversion below, in double precision: accurate to rounding, not
 * exact.  fl-clip-noise(1) says so; the discrete Gaussian is the default.
 */
#include <math.h>
#include <pthread.h>

#include "privacy/privacy.h"

typedef unsigned __int128 u128;

/*
 * Random bits one at a time, from 64-bit words: the samplers below spend
 * about two bits per Bernoulli trial instead of a word, which makes them
 * several times faster and leaves them exact.  A word's bits are used
 * from its least significant up; the word is kept reversed, so that the
 * next bits are its top ones and several can be taken at once (a new
 * word is read exactly when the next bit is needed, as one at a time).
 */
struct bits {
	struct fl_rng *r;
	uint64_t word;
	int left;
};

static inline uint64_t
reverse64(uint64_t x)
{
	x = (x >> 1 & UINT64_C(0x5555555555555555)) |
	    (x & UINT64_C(0x5555555555555555)) << 1;
	x = (x >> 2 & UINT64_C(0x3333333333333333)) |
	    (x & UINT64_C(0x3333333333333333)) << 2;
	x = (x >> 4 & UINT64_C(0x0f0f0f0f0f0f0f0f)) |
	    (x & UINT64_C(0x0f0f0f0f0f0f0f0f)) << 4;
	return __builtin_bswap64(x);
}

static inline void
refill(struct bits *b)
{
	b->word = reverse64(fl_rng_u64(b->r));
	b->left = 64;
}

static inline unsigned
bit(struct bits *b)
{
	unsigned v;

	if (b->left == 0)
		refill(b);
	v = (unsigned)(b->word >> 63);
	b->word <<= 1;
	b->left--;
	return v;
}

/* The next len bits (1 <= len <= 63), the first the most significant:
 * the value of len calls of bit() shifted in one after another. */
static inline uint64_t
bits_take(struct bits *b, int len)
{
	uint64_t v = 0;

	if (b->left < len) {
		int have = b->left;

		if (have > 0)
			v = b->word >> (64 - have);
		len -= have;
		refill(b);
		v <<= len;
	}
	v |= b->word >> (64 - len);
	b->word <<= len;
	b->left -= len;
	return v;
}

static inline int bernoulli64_bits(struct bits *b, uint64_t n, uint64_t d);

#if defined(__x86_64__)
/*
 * Bernoulli(n/d) as bernoulli64_bits below draws it, the digits of n/d
 * produced a word at a time: one division gives as many digits of n/d
 * as the current word has bits left, and the first random bit that
 * differs from its digit is found at once (count leading zeros), where
 * the bit-at-a-time loop took a mispredicted branch or two per digit.
 * The same bits are consumed and the same value returned: the loop also
 * stops where n/d's expansion ends, which a division's zero remainder
 * shows (rare: then the loop itself runs).  x86-64 has the 128-by-64-bit
 * division in one instruction; elsewhere the loop is kept.
 */
static inline int
bernoulli64(struct bits *b, uint64_t n, uint64_t d)
{
	for (;;) {
		uint64_t q, rem, diff, hi, lo;
		int len, used;

		if (b->left == 0)
			refill(b);
		len = b->left;
		hi = len == 64 ? n : n >> (64 - len);   /* n 2^len, n < d: */
		lo = len == 64 ? 0 : n << len;          /* q < 2^len fits */
		__asm__("divq %4" : "=a"(q), "=d"(rem) : "a"(lo), "d"(hi),
		    "rm"(d));
		if (rem == 0)
			return bernoulli64_bits(b, n, d);
		diff = (b->word >> (64 - len)) ^ q;
		if (diff == 0) {                        /* all equal: go on */
			b->word = 0;
			b->left = 0;
			n = rem;
			continue;
		}
		used = __builtin_clzll(diff) - (64 - len) + 1;
		b->word = used == 64 ? 0 : b->word << used;
		b->left -= used;
		return (int)(q >> (len - used) & 1);
	}
}
#else
#define bernoulli64 bernoulli64_bits
#endif

/* Bernoulli(num/den) for num < den < 2^63 (num << 1 fits): compare uniform
 * random bits with the binary expansion of num/den, produced by long
 * division, until they differ (expected two steps). */
static inline int
bernoulli64_bits(struct bits *b, uint64_t n, uint64_t d)
{
	for (;;) {
		unsigned digit;

		n <<= 1;
		digit = n >= d;
		if (digit)
			n -= d;
		if (bit(b) != digit)
			return (int)digit;      /* the random bit is below */
		if (n == 0)
			return 0;               /* p's expansion ended: u >= p */
	}
}

/* Bernoulli(num/den), num <= den <= 2^126, exactly: the same steps in
 * 128-bit numbers. */
static int
bernoulli(struct bits *b, u128 num, u128 den)
{
	if (num >= den)
		return 1;
	if ((den >> 63) == 0)
		return bernoulli64(b, (uint64_t)num, (uint64_t)den);
	for (;;) {
		unsigned digit;

		num <<= 1;
		digit = num >= den;
		if (digit)
			num -= den;
		if (bit(b) != digit)
			return (int)digit;
		if (num == 0)
			return 0;
	}
}

/* Uniform on [0, n), n >= 1: the bit length of n - 1 in random bits,
 * rejected until below n (at most two draws expected). */
static uint64_t
uniform_below(struct bits *b, uint64_t n)
{
	int len = n <= 1 ? 0 : 64 - __builtin_clzll(n - 1);

	if (len == 0)
		return 0;
	for (;;) {
		uint64_t v;

		if (len == 64)
			v = bits_take(b, 32) << 32 | bits_take(b, 32);
		else
			v = bits_take(b, len);
		if (v < n)
			return v;
	}
}

/* Bernoulli(exp(-num/den)) for 0 <= num/den <= 1 (CKS algorithm 1): draw
 * Bernoulli(gamma/k) for k = 1, 2, ... until one fails; P[k odd] = e^-gamma.
 * This is the rest of the draws from k on, dk = den k. */
static int
bern_exp_wide(struct bits *b, u128 num, u128 den, u128 k, u128 dk)
{
	for (;;) {
		if ((dk >> 126) != 0)
			break;  /* gamma/k below 2^-100: the draw fails */
		if (!bernoulli(b, num, dk))
			break;
		k++;
		/* dk = den k, without a multiplication; den < 2^126 and
		 * dk < 2^126 before, so the sum cannot wrap. */
		dk += den;
	}
	return (int)(k & 1);
}

/* The same draws, while den k stays below 2^63 in 64-bit words (num <=
 * den < 2^62); the rest 128-bit. */
static inline int
bern_exp_small(struct bits *b, u128 num, u128 den)
{
	uint64_t n = (uint64_t)num, d = (uint64_t)den, dk = d;
	unsigned k = 1;

	if ((den >> 62) != 0)
		return bern_exp_wide(b, num, den, 1, den);
	for (;;) {
		if (n < dk && !bernoulli64(b, n, dk))
			return (int)(k & 1);
		k++;
		if (dk >= (UINT64_C(1) << 63) - d)  /* den k reaches 2^63 */
			return bern_exp_wide(b, num, den, k, (u128)dk + d);
		dk += d;
	}
}

/* Bernoulli(exp(-num/den)) for any num/den >= 0. */
static int
bern_exp(struct bits *b, u128 num, u128 den)
{
	u128 whole, frac;

	if (num < den)          /* the common case: no division */
		return bern_exp_small(b, num, den);
	if ((num >> 64) == 0) {
		whole = (uint64_t)num / (uint64_t)den;
		frac = (uint64_t)num % (uint64_t)den;
	} else {
		whole = num / den;
		frac = num % den;
	}
	/* e^-gamma = (e^-1)^floor(gamma) e^-frac; stop at the first failure. */
	for (u128 i = 0; i < whole; i++)
		if (!bern_exp_small(b, 1, 1))
			return 0;
	return bern_exp_small(b, frac, den);
}

/*
 * The geometric part of the discrete Laplace, v = the successes of
 * Bernoulli(exp(-1)) before its first failure, depends on nothing but
 * the random bits: for each GEO_BITS-bit prefix of them the loop's v and
 * the bits it consumed are tabulated (once, from the loop itself), when
 * it ends within the prefix.  A lookup replaces some eight branches on
 * random bits; the values and the bits consumed are the loop's.
 */
#define GEO_BITS 12
static uint16_t geo_table[1 << GEO_BITS];       /* v << 4 | bits, or 0 */
static pthread_once_t geo_once = PTHREAD_ONCE_INIT;

static uint64_t
geometric_loop(struct bits *b)
{
	uint64_t v = 0;

	while (bern_exp(b, 1, 1))
		v++;
	return v;
}

static void
geo_table_fill(void)
{
	for (uint64_t prefix = 0; prefix < (1u << GEO_BITS); prefix++) {
		/* Ones after the prefix end the loop within a few bits
		 * (every Bernoulli(1/k), k >= 2, then fails), so it never
		 * reads a word; an outcome past the prefix is not kept. */
		struct bits b = { NULL, prefix << (64 - GEO_BITS) |
		    ((UINT64_C(1) << (64 - GEO_BITS)) - 1), 64 };
		uint64_t v = geometric_loop(&b);
		int used = 64 - b.left;

		geo_table[prefix] = used <= GEO_BITS && v < 4096 ?
		    (uint16_t)(v << 4 | (uint64_t)used) : 0;
	}
}

static inline uint64_t
geometric(struct bits *b)
{
	if (b->left >= GEO_BITS) {
		unsigned e = geo_table[b->word >> (64 - GEO_BITS)];

		if (e != 0) {
			b->word <<= e & 15;
			b->left -= (int)(e & 15);
			return e >> 4;
		}
	}
	return geometric_loop(b);
}

/* Discrete Laplace, P[x] proportional to exp(-|x|/t) (CKS algorithm 2). */
static int64_t
discrete_laplace(struct bits *b, uint64_t t)
{
	for (;;) {
		uint64_t u = uniform_below(b, t), v = 0, x;
		int negative;

		if (!bern_exp(b, u, t))
			continue;
		v = geometric(b);
		x = u + t * v;
		negative = (int)bit(b);
		if (negative && x == 0)
			continue;
		return negative ? -(int64_t)x : (int64_t)x;
	}
}

int
fl_dgauss_init(struct fl_dgauss *dg, double sigma, struct fl_error *err)
{
	double var = sigma * sigma;
	uint64_t t;

	if (!(sigma > 0) || !isfinite(sigma))
		return fl_error_set(err, FL_EINVAL,
		    "discrete Gaussian scale must be positive");
	if (var > FL_DGAUSS_MAX_VAR)
		return fl_error_set(err, FL_ELIMIT,
		    "discrete Gaussian variance above %g", FL_DGAUSS_MAX_VAR);
	/* The variance as num/den, rounded up: never less noise than asked.
	 * Small variances keep 16 fractional bits; large ones are integers
	 * (an error below 1/1024 of the variance, and on the safe side). */
	dg->den = var < 1024 ? 65536 : 1;
	dg->num = (uint64_t)ceil(var * (double)dg->den);
	/* t = floor(sigma) + 1 with sigma = sqrt(num/den), in integers. */
	t = (uint64_t)sqrt((double)dg->num / (double)dg->den);
	while (t > 0 && (u128)t * t * dg->den > dg->num)
		t--;
	while ((u128)(t + 1) * (t + 1) * dg->den <= dg->num)
		t++;
	dg->t = t + 1;
	dg->sigma = sqrt((double)dg->num / (double)dg->den);
	pthread_once(&geo_once, geo_table_fill);
	return 0;
}

int64_t
fl_dgauss(struct fl_rng *r, const struct fl_dgauss *dg)
{
	const u128 t = dg->t, num = dg->num, den = dg->den;
	const u128 d = 2 * num * t * t * den;
	struct bits b = { r, 0, 0 };

	for (;;) {
		int64_t y = discrete_laplace(&b, dg->t);
		u128 ay = (u128)(y < 0 ? -(u128)y : (u128)y), n1;

		/* Accept with probability exp(-(|y| - s^2/t)^2 / (2 s^2)),
		 * the exponent being (|y| t den - num)^2 / (2 num t^2 den).
		 * Beyond 64 t it is below e^-1900: such y are rejected. */
		if (ay > 64 * t)
			continue;
		n1 = ay * t * den;
		n1 = n1 > num ? n1 - num : num - n1;
		if (bern_exp(&b, n1 * n1, d))
			return y;
	}
}

static double
uniform01(struct fl_rng *r)
{
	return (double)(fl_rng_u64(r) >> 11) * 0x1p-53;
}

/* Poisson(lambda): inversion for small means, PTRS (Hormann 1993) above. */
static uint64_t
poisson(struct fl_rng *r, double lambda)
{
	if (lambda < 10) {
		double p = exp(-lambda), s = p, u = uniform01(r);
		uint64_t k = 0;

		while (u > s && k < 1000) {
			k++;
			p *= lambda / (double)k;
			s += p;
		}
		return k;
	}
	{
		double slam = sqrt(lambda), loglam = log(lambda);
		double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
		double invalpha = 1.1239 + 1.1328 / (b - 3.4);
		double vr = 0.9277 - 3.6224 / (b - 2);

		for (;;) {
			double u = uniform01(r) - 0.5, v = uniform01(r);
			double us = 0.5 - fabs(u), k;

			k = floor((2 * a / us + b) * u + lambda + 0.43);
			if (us >= 0.07 && v <= vr)
				return (uint64_t)k;
			if (k < 0 || (us < 0.013 && v > us))
				continue;
			if (log(v) + log(invalpha) - log(a / (us * us) + b) <=
			    -lambda + k * loglam - lgamma(k + 1))
				return (uint64_t)k;
		}
	}
}

int64_t
fl_skellam(struct fl_rng *r, double sigma)
{
	double lambda = sigma * sigma / 2;

	return (int64_t)poisson(r, lambda) - (int64_t)poisson(r, lambda);
}
