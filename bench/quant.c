/* SPDX-License-Identifier: ISC */
/*
 * quant - in-process cost of the ring encoding and decoding, and of the
 * blocked Walsh-Hadamard transform, against the naive radix-2 transform
 * and the ChaCha20 keystream.
 *
 *   quant [N]     N coordinates (default 10000000)
 *
 * One line per figure: name, count, best, mean and sd of the seconds of
 * REPS runs (tab-separated), wall time of the measured work alone.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fl.h"
#include "naive.h"
#include "timing.h"

#define REPS 5

static void
die(const struct fl_error *err)
{
	bench_die("quant", err);
}

int
main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
	uint64_t big = UINT64_C(1) << 24, dpad = fl_rht_dim(n);
	unsigned char rot[FL_RNG_KEYBYTES], key[FL_RNG_KEYBYTES];
	float *x = malloc(n * sizeof(float)), *buf = malloc(dpad * 4);
	float *y = malloc(n * sizeof(float));
	float *h = malloc(big * sizeof(float)), *h2 = malloc(big * 4);
	uint32_t *ring = malloc(dpad * 4);
	double t[REPS], t2[REPS], t3[REPS], maxdiff = 0, ss = 0, clip;
	struct fl_error err;
	struct fl_rng r;

	fl_rht_key(rot, "bench");
	fl_rng_seed_text(key, "bench rounding");
	fl_rng_init(&r, key, 9);
	for (uint64_t i = 0; i < n; i++) {
		x[i] = (float)fl_normal(&r);
		ss += (double)x[i] * x[i];
	}
	clip = sqrt(ss) * 1.0001;
	for (uint64_t i = 0; i < big; i++)
		h[i] = x[i % n];

	/* The transform alone, 2^24 floats, blocked and naive. */
	for (int k = 0; k < REPS; k++) {
		memcpy(h2, h, big * 4);
		double t0 = now();
		if (fl_fwht(h2, big, &err) < 0)
			die(&err);
		t[k] = now() - t0;
	}
	report("fwht-2^24", (double)big, t, REPS);
	memcpy(h, h2, big * 4);
	memcpy(h2, x, 0);
	for (uint64_t i = 0; i < big; i++)
		h2[i] = x[i % n];
	{
		double t0 = now();
		naive_fwht(h2, big);
		t2[0] = now() - t0;
	}
	for (uint64_t i = 0; i < big; i++) {
		double d = fabs((double)h[i] - h2[i]);
		maxdiff = d > maxdiff ? d : maxdiff;
	}
	report("fwht-naive-2^24", (double)big, t2, 1);
	fprintf(stderr, "quant: blocked vs naive max |diff| %g\n", maxdiff);

	/* Encode (copy with the signs, FWHT, scaled SR with the bound check
	 * and the wrap) and decode (unwrap and scale, FWHT, copy out with
	 * the signs) of n coordinates, as fl-quantize --ring and -d do. */
	{
		double k = fl_ring_k(1e-4);
		double s = fl_ring_scale(20, 100, k, clip, 0, dpad);
		double bound = fl_ring_bound(clip, s, dpad, exp(-0.5));
		double mult = s / sqrt((double)dpad), f = 1 / (s *
		    sqrt((double)dpad));
		unsigned tries;

		for (int rep = 0; rep < REPS; rep++) {
			double t0 = now();

			fl_rht_signs_copy(buf, x, n, 0, rot);
			fl_rht_signs_copy(buf + n, NULL, dpad - n, n, rot);
			if (fl_fwht(buf, dpad, &err) < 0)
				die(&err);
			if (fl_ring_round(buf, dpad, mult, bound, 20, key,
			    ring, &tries, &err) < 0)
				die(&err);
			double t1 = now();
			fl_ring_unwrap(ring, dpad, 1u << 20, f, buf);
			if (fl_fwht(buf, dpad, &err) < 0)
				die(&err);
			fl_rht_signs_copy(y, buf, n, 0, rot);
			t3[rep] = now() - t1;
			t[rep] = t1 - t0;
			t2[rep] = t[rep] + t3[rep];
		}
		report("ring-encode", (double)n, t, REPS);
		report("ring-decode", (double)n, t3, REPS);
		report("ring-encode+decode", (double)n, t2, REPS);
		maxdiff = 0;
		for (uint64_t i = 0; i < n; i++) {
			double d = fabs((double)y[i] - x[i]);
			maxdiff = d > maxdiff ? d : maxdiff;
		}
		fprintf(stderr, "quant: ring round trip max |err| %g (step %g)\n",
		    maxdiff, 1 / s);
	}
	{
		double t0;
		for (int rep = 0; rep < REPS; rep++) {
			t0 = now();
			fl_rng_stream(ring, dpad * 4, key, 1, 0);
			t[rep] = now() - t0;
		}
		report("chacha20-4B", (double)dpad, t, REPS);
	}
	free(x);
	free(y);
	free(buf);
	free(h);
	free(h2);
	free(ring);
	return 0;
}
