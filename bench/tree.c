/* SPDX-License-Identifier: ISC */
/*
 * tree - in-process cost of DP-FTRL's server step, the tree noise
 * n(t) - n(t-1) on a sum of N coordinates (fl_tree_noise_tensor), over
 * rounds 1..16 (2 nodes a round on average; round 16 takes 5), beside one
 * Gaussian noise pass of the same size (fl_noise_tensor, as fl-clip-noise
 * -n 1), both one thread.
 *
 *   tree [N]     N coordinates (default 10000000)
 *
 * Lines as noise.c's: name, count, best, mean, sd (seconds); "count" of
 * the round averages is the coordinates times 16 rounds.  Then the error
 * of the prefix sums, in units of the node noise's variance: "error", T,
 * the total variance over t = 1..T and the largest, plain then Honaker.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fl.h"
#include "timing.h"

#define REPS 3

int
main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
	struct fl_record rec = { 0 };
	struct fl_tree tr;
	struct fl_error err;
	struct fl_tensor *x;
	unsigned char secret[FL_RNG_KEYBYTES];
	double t[REPS];

	if (sodium_init() < 0)
		return 1;
	x = fl_tensor_add(&rec, "w", FL_F32, 1, &n, &err);
	if (x == NULL)
		return 1;
	if (gaussian_pass(x, t, REPS) < 0)
		return 1;
	fl_rng_seed_text(secret, "bench tree");
	for (int e = 0; e <= 1; e++) {
		fl_tree_init(&tr, secret, 1, e ? FL_TREE_HONAKER :
		    FL_TREE_PLAIN, 1);
		for (int r = 0; r < REPS; r++) {
			double t0 = now();

			for (uint64_t k = 1; k <= 16; k++)
				if (fl_tree_noise_tensor(x, 0, k, &tr,
				    &err) < 0)
					return 1;
			t[r] = now() - t0;
		}
		report(e ? "tree-honaker-16" : "tree-plain-16", 16.0 * n, t,
		    REPS);
	}
	for (uint64_t T = 64; T <= 4096; T *= 4) {
		double sum[2] = { 0, 0 }, max[2] = { 0, 0 };

		for (uint64_t k = 1; k <= T; k++)
			for (int e = 0; e <= 1; e++) {
				double v = fl_tree_prefix_var(k, e ?
				    FL_TREE_HONAKER : FL_TREE_PLAIN);

				sum[e] += v;
				if (v > max[e])
					max[e] = v;
			}
		printf("error\t%llu\t%.6g\t%.6g\t%.6g\t%.6g\n",
		    (unsigned long long)T, sum[0], sum[1], max[0], max[1]);
	}
	return 0;
}
