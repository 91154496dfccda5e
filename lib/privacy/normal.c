/* SPDX-License-Identifier: ISC */
/*
 * The standard normal distribution in log space, where its tails underflow
 * in linear space, and the exact privacy curve of the Gaussian mechanism
 * (Balle and Wang 2018), which the RDP and PLD accountants both use.
 */
#include <math.h>

#include "privacy/privacy.h"

#define LN2 0.693147180559945309417
#define LNPI 1.144729885849400174143
#define SQRT2 1.414213562373095048802

/* log(e^a + e^b) without overflow. */
double
fl_log_add(double a, double b)
{
	if (a < b) {
		double t = a;

		a = b;
		b = t;
	}
	if (b == -INFINITY)
		return a;
	return a + log1p(exp(b - a));
}

/* log(e^a - e^b) for a >= b; -inf when they are equal. */
double
fl_log_sub(double a, double b)
{
	if (b == -INFINITY)
		return a;
	if (b >= a)
		return -INFINITY;
	return a + log(-expm1(b - a));
}

/* log erfc(x), also where erfc underflows (x > 26.5): the asymptotic
 * series, whose first omitted term is below 1e-12 relative there. */
double
fl_log_erfc(double x)
{
	double r, s;

	if (x < 26.0)
		return log(erfc(x));
	r = 1.0 / (x * x);
	s = 1.0 - r / 2 * (1.0 - 3 * r / 2 * (1.0 - 5 * r / 2 *
	    (1.0 - 7 * r / 2 * (1.0 - 9 * r / 2))));
	return -x * x - log(x) - 0.5 * LNPI + log(s);
}

/* log Phi(x), the standard normal CDF. */
double
fl_log_ndtr(double x)
{
	return fl_log_erfc(-x / SQRT2) - LN2;
}

/* ---- the exact Gaussian (Balle and Wang 2018) ---- */

double
fl_gaussian_delta(double mu, double eps)
{
	double a, b;

	if (!(mu > 0))
		return 0;
	if (isinf(mu))
		return 1;
	a = fl_log_ndtr(mu / 2 - eps / mu);
	b = eps + fl_log_ndtr(-mu / 2 - eps / mu);
	if (!(a > b))
		return 0;
	return exp(a) * -expm1(b - a);
}

double
fl_gaussian_epsilon(double mu, double delta)
{
	double lo = 0, hi = 1;

	if (fl_gaussian_delta(mu, 0) <= delta)
		return 0;
	while (fl_gaussian_delta(mu, hi) > delta) {
		lo = hi;
		hi *= 2;
		if (hi > 1e9)
			return INFINITY;
	}
	for (int i = 0; i < 200 && hi - lo > 1e-14 * hi; i++) {
		double m = (lo + hi) / 2;

		if (fl_gaussian_delta(mu, m) > delta)
			lo = m;
		else
			hi = m;
	}
	return hi;
}
