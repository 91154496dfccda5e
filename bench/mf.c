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
 *   mf time N     the server step's cost on N f32 coordinates, one
 *                 thread: lines as noise.c's (name, count, best, mean,
 *                 sd) for one Gaussian noise pass, the plain tree's step
 *                 averaged over rounds 1-16, and banded MF's step
 *                 (fl_banded_noise_tensor, rounds 1-16, strategy of 16
 *                 rounds) for 2, 4 and 8 bands
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "fl.h"
#include "timing.h"

#define REPS 3

static int
timing(uint64_t n)
{
	struct fl_record rec = { 0 };
	struct fl_tree tr;
	struct fl_error err;
	struct fl_tensor *x;
	unsigned char secret[FL_RNG_KEYBYTES];
	double t[REPS];

	if (sodium_init() < 0 ||
	    (x = fl_tensor_add(&rec, "w", FL_F32, 1, &n, &err)) == NULL)
		return 1;
	if (gaussian_pass(x, t, REPS) < 0)
		return 1;
	fl_rng_seed_text(secret, "bench mf");
	fl_tree_init(&tr, secret, 1, FL_TREE_PLAIN, 1);
	for (int r = 0; r < REPS; r++) {
		double t0 = now();

		for (uint64_t k = 1; k <= 16; k++)
			if (fl_tree_noise_tensor(x, 0, k, &tr, &err) < 0)
				return 1;
		t[r] = now() - t0;
	}
	report("tree-plain-16", 16.0 * n, t, REPS);
	for (uint64_t b = 2; b <= 8; b *= 2) {
		struct fl_banded_fit fit = { 0 };
		double c[8], *hist, *past[8];
		char name[32];

		if (fl_banded_optimize(16, b, c, &fit, &err) < 0 ||
		    (hist = calloc((b - 1) * n, sizeof(*hist))) == NULL)
			return 1;
		for (int r = 0; r < REPS; r++) {
			double t0 = now();

			memset(hist, 0, (b - 1) * n * sizeof(*hist));
			for (uint64_t l = 0; l + 1 < b; l++)
				past[l] = hist + l * n;
			for (uint64_t k = 1; k <= 16; k++)
				if (fl_banded_noise_tensor(x, 0, k, &tr, b, c,
				    past, &err) < 0)
					return 1;
			t[r] = now() - t0;
		}
		snprintf(name, sizeof(name), "banded-%llu-16",
		    (unsigned long long)b);
		report(name, 16.0 * n, t, REPS);
		free(hist);
	}
	fl_tree_wipe(&tr);
	fl_record_free(&rec);
	return 0;
}

int
main(int argc, char **argv)
{
	uint64_t T, k, sep, b, s2;
	double plain = 0, honaker = 0, F, bs2, *c, secs;
	struct fl_banded_fit fit = { 0 };
	struct fl_error err;
	clock_t t0;

	if (argc == 3 && strcmp(argv[1], "time") == 0)
		return timing(strtoull(argv[2], NULL, 10));
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
