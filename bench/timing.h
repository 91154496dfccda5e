/* SPDX-License-Identifier: ISC */
/*
 * timing.h - what the in-process benchmark drivers (noise.c, quant.c,
 * mask.c) share: a monotonic clock, and one tab-separated report line per
 * figure (name, count, best, mean, sd in seconds) that the section scripts
 * turn into tables.  Header-only: each driver is one file compiled alone.
 */
#ifndef FL_BENCH_TIMING_H
#define FL_BENCH_TIMING_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fl.h"

static inline double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The best, mean and sample sd of n times t, for `count` items. */
static inline void
report(const char *name, double count, const double *t, int n)
{
	double best = t[0], mean = 0, sd = 0;

	for (int i = 0; i < n; i++) {
		best = t[i] < best ? t[i] : best;
		mean += t[i] / n;
	}
	for (int i = 0; i < n; i++)
		sd += (t[i] - mean) * (t[i] - mean) / (n > 1 ? n - 1 : 1);
	printf("%s\t%.0f\t%.6f\t%.6f\t%.6f\n", name, count, best, mean,
	    sqrt(sd));
	fflush(stdout);
}

/* A libfl failure ends the benchmark: its numbers would mean nothing. */
static inline void
bench_die(const char *prog, const struct fl_error *err)
{
	fprintf(stderr, "%s: %s\n", prog, err->msg);
	exit(1);
}

/*
 * The baseline of the DP-FTRL server steps (tree.c, mf.c): reps passes of
 * one Gaussian noise tensor over x (zeroed first), one thread, reported
 * as "gaussian-pass".  0, or -1 when a pass fails.
 */
static inline int
gaussian_pass(struct fl_tensor *x, double *t, int reps)
{
	struct fl_noise nz;
	struct fl_error err;

	memset(x->data, 0, x->nbytes);
	memset(&nz, 0, sizeof(nz));
	fl_rng_seed_text(nz.key, "bench");
	nz.mechanism = FL_MECH_GAUSSIAN;
	nz.sigma = 1;
	nz.max_abs = 1;
	nz.threads = 1;
	for (int r = 0; r < reps; r++) {
		double t0 = now();

		if (fl_noise_tensor(x, 0, &nz, &err) < 0)
			return -1;
		t[r] = now() - t0;
	}
	report("gaussian-pass", (double)x->numel, t, reps);
	return 0;
}

#endif
