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
