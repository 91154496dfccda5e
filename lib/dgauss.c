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

#include "fl.h"

typedef unsigned __int128 u128;

/* Uniform on [0, n), n > 0, for 128-bit n: mask to its bit length and
 * reject, so every value is equally likely. */
static u128
below128(struct fl_rng *r, u128 n)
{
	u128 mask, v;
	int bits = 0;

	if ((n >> 64) == 0)
		return fl_rng_below(r, (uint64_t)n);
	for (u128 m = n - 1; m; m >>= 1)
		bits++;
	mask = bits == 128 ? ~(u128)0 : ((u128)1 << bits) - 1;
	do {
		v = ((u128)fl_rng_u64(r) << 64 | fl_rng_u64(r)) & mask;
	} while (v >= n);
	return v;
}

/* Bernoulli(exp(-num/den)) for 0 <= num/den <= 1 (CKS algorithm 1): draw
 * Bernoulli(gamma/k) for k = 1, 2, ... until one fails; P[k odd] = e^-gamma. */
static int
bern_exp_small(struct fl_rng *r, u128 num, u128 den)
{
	u128 k = 1, dk;

	for (;;) {
		if (__builtin_mul_overflow(den, k, &dk))
			break;  /* gamma/k below 2^-128: the draw fails */
		if (below128(r, dk) >= num)
			break;
		k++;
	}
	return (int)(k & 1);
}

/* Bernoulli(exp(-num/den)) for any num/den >= 0. */
static int
bern_exp(struct fl_rng *r, u128 num, u128 den)
{
	u128 whole = num / den;

	/* e^-gamma = (e^-1)^floor(gamma) e^-frac; stop at the first failure. */
	for (u128 i = 0; i < whole; i++)
		if (!bern_exp_small(r, 1, 1))
			return 0;
	return bern_exp_small(r, num % den, den);
}

/* Discrete Laplace, P[x] proportional to exp(-|x|/t) (CKS algorithm 2). */
static int64_t
discrete_laplace(struct fl_rng *r, uint64_t t)
{
	for (;;) {
		uint64_t u = fl_rng_below(r, t), v = 0, x;
		int negative;

		if (!bern_exp(r, u, t))
			continue;
		while (bern_exp(r, 1, 1))
			v++;
		x = u + t * v;
		negative = (int)(fl_rng_u64(r) & 1);
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
	return 0;
}

int64_t
fl_dgauss(struct fl_rng *r, const struct fl_dgauss *dg)
{
	const u128 t = dg->t, num = dg->num, den = dg->den;
	const u128 d = 2 * num * t * t * den;

	for (;;) {
		int64_t y = discrete_laplace(r, dg->t);
		u128 ay = (u128)(y < 0 ? -(u128)y : (u128)y), n1;

		/* Accept with probability exp(-(|y| - s^2/t)^2 / (2 s^2)),
		 * the exponent being (|y| t den - num)^2 / (2 num t^2 den).
		 * Beyond 64 t it is below e^-1900: such y are rejected. */
		if (ay > 64 * t)
			continue;
		n1 = ay * t * den;
		n1 = n1 > num ? n1 - num : num - n1;
		if (bern_exp(r, n1 * n1, d))
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
