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

#endif
