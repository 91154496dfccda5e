/* SPDX-License-Identifier: ISC */
/*
 * zCDP of a Gaussian mechanism, as DP-FTRL reports it (rho, as Gboard
 * does), and its conversion to (epsilon, delta): exact, through the
 * Gaussian's privacy curve, since rho = mu^2 / 2 comes from one Gaussian.
 */
#include <math.h>

#include "privacy/privacy.h"

double
fl_zcdp_epsilon(double rho, double delta)
{
	return fl_gaussian_epsilon(sqrt(2 * rho), delta);
}

double
fl_zcdp_delta(double rho, double epsilon)
{
	return fl_gaussian_delta(sqrt(2 * rho), epsilon);
}

double
fl_zcdp_bound(double rho, double delta)
{
	return rho + 2 * sqrt(rho * log(1 / delta));
}

/* The RDP conversion at order a of rho-zCDP (RDP a rho at every order). */
static double
rdp_epsilon_at(double rho, double delta, double a)
{
	return a * rho + log1p(-1 / a) + (-log(delta) - log(a)) / (a - 1);
}

double
fl_zcdp_epsilon_rdp(double rho, double delta)
{
	double lo = log(1e-9), hi = log(1e9), best = INFINITY, at = 0;
	const double step = (hi - lo) / 400;

	/* A scan of log(a - 1) brackets the minimum (the function of the
	 * order is smooth with one minimum), golden sections refine it. */
	for (int i = 0; i <= 400; i++) {
		double x = lo + step * i;
		double e = rdp_epsilon_at(rho, delta, 1 + exp(x));

		if (e < best) {
			best = e;
			at = x;
		}
	}
	lo = at - step;
	hi = at + step;
	for (int i = 0; i < 200 && hi - lo > 1e-13; i++) {
		double g = 0.3819660112501051 * (hi - lo);
		double x1 = lo + g, x2 = hi - g;

		if (rdp_epsilon_at(rho, delta, 1 + exp(x1)) <
		    rdp_epsilon_at(rho, delta, 1 + exp(x2)))
			hi = x2;
		else
			lo = x1;
	}
	best = fmin(best, rdp_epsilon_at(rho, delta, 1 + exp((lo + hi) / 2)));
	return best > 0 ? best : 0;
}

double
fl_gaussian_mu(double epsilon, double delta)
{
	double lo = 0, hi = 1;

	/* epsilon grows with mu: the largest mu at or under it. */
	while (fl_gaussian_epsilon(hi, delta) <= epsilon) {
		lo = hi;
		hi *= 2;
		if (hi > 1e9)
			return INFINITY;
	}
	for (int i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
		double m = (lo + hi) / 2;

		if (fl_gaussian_epsilon(m, delta) <= epsilon)
			lo = m;
		else
			hi = m;
	}
	return lo;
}
