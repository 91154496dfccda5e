/* SPDX-License-Identifier: ISC */
/*
 * mf - the error of DP-FTRL's two mechanisms at equal privacy: the total
 * variance of the T prefix sums' noise, in units of clip^2 / (2 rho)
 * (both releases are Gaussians of rho = sens^2 / (2 z^2), so at equal rho
 * the total is sens^2 times the variance in units of the noise's):
 *
 *   plain tree    fl_tree_sens2 x sum_t fl_tree_prefix_var(t, plain)
 *   Honaker tree  fl_tree_sens2 x sum_t fl_tree_prefix_var(t, honaker)
 *   banded MF     fl_banded_sens2 x fl_banded_error, c from
 *                 fl_banded_optimize
 *
 *   mf T K SEP B  one line: T k sep b plain honaker banded iterations
 *                 seconds (the optimizer's, CPU) start-loss final-loss
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fl.h"

int
main(int argc, char **argv)
{
	uint64_t T, k, sep, b, s2;
	double plain = 0, honaker = 0, F, bs2, *c, secs;
	struct fl_banded_fit fit = { 0 };
	struct fl_error err;
	clock_t t0;

	if (argc != 5) {
		fprintf(stderr, "usage: mf T K SEP BANDS\n");
		return 2;
	}
	T = strtoull(argv[1], NULL, 10);
	k = strtoull(argv[2], NULL, 10);
	sep = strtoull(argv[3], NULL, 10);
	b = strtoull(argv[4], NULL, 10);
	if ((c = malloc(b * sizeof(*c))) == NULL)
		return 1;
	if (fl_tree_sens2(T, k, sep, &s2, &err) < 0) {
		fprintf(stderr, "mf: %s\n", err.msg);
		return 1;
	}
	for (uint64_t t = 1; t <= T; t++) {
		plain += fl_tree_prefix_var(t, FL_TREE_PLAIN);
		honaker += fl_tree_prefix_var(t, FL_TREE_HONAKER);
	}
	t0 = clock();
	if (fl_banded_optimize(T, b, c, &fit, &err) < 0 ||
	    fl_banded_error(T, b, c, &F, NULL, &err) < 0 ||
	    fl_banded_sens2(T, b, c, k, sep, &bs2, &err) < 0) {
		fprintf(stderr, "mf: %s\n", err.msg);
		return 1;
	}
	secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	printf("%llu\t%llu\t%llu\t%llu\t%.6g\t%.6g\t%.6g\t%llu\t%.3f\t%.9g"
	    "\t%.9g\n", (unsigned long long)T, (unsigned long long)k,
	    (unsigned long long)sep, (unsigned long long)b,
	    (double)s2 * plain, (double)s2 * honaker, bs2 * F,
	    (unsigned long long)fit.iterations, secs, fit.start, fit.loss);
	free(c);
	return 0;
}
