/* SPDX-License-Identifier: ISC */
/*
 * noise - in-process cost of clipping and noise, per coordinate, against
 * the ChaCha20 keystream that feeds it (the physical limit).
 *
 *   noise [N]     N coordinates (default 10000000)
 *
 * One line per figure: name, count, best, mean and sd of the seconds of
 * REPS runs (tab-separated).  CPU time of the whole process is not used:
 * figures are wall time of the measured call alone.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "fl.h"
#include "timing.h"

#define REPS 5

static void
fill(struct fl_record *rec, uint64_t n, enum fl_dtype dt)
{
	struct fl_error err;
	struct fl_tensor *t;

	fl_record_free(rec);
	t = fl_tensor_add(rec, "w", dt, 1, &n, &err);
	if (t == NULL) {
		fprintf(stderr, "noise: %s\n", err.msg);
		exit(1);
	}
	if (dt == FL_F32)
		for (uint64_t i = 0; i < n; i++)
			((float *)t->data)[i] = (float)((i * 2654435761u) %
			    1000) * 1e-3f - 0.5f;
}

int
main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
	struct fl_record rec = { 0 };
	struct fl_noise nz;
	struct fl_error err;
	struct fl_tensor *ts[1];
	double t[REPS];
	unsigned char *buf = malloc(4 * n);
	int clipped;

	if (sodium_init() < 0 || buf == NULL)
		return 1;
	memset(&nz, 0, sizeof(nz));
	fl_rng_seed_text(nz.key, "bench");
	nz.threads = 1;

	/* The limit: 4 bytes of ChaCha20 keystream per coordinate. */
	for (int r = 0; r < REPS; r++) {
		double t0 = now();

		fl_rng_stream(buf, 4 * n, nz.key, 0, 0);
		t[r] = now() - t0;
	}
	report("chacha20-4B", (double)n, t, REPS);

	/* Clip and Gaussian noise, ziggurat, as fl-clip-noise -c 1 -n 1
	 * does it: a norm pass for the clip factor, then the noise pass,
	 * which applies the factor (the clip bounding every value). */
	nz.mechanism = FL_MECH_GAUSSIAN;
	nz.sigma = 1;
	nz.max_abs = 1;
	for (int r = 0; r < REPS; r++) {
		double t0;

		fill(&rec, n, FL_F32);
		ts[0] = &rec.tensors[0];
		t0 = now();
		if (fl_clip_factor(ts, 1, 1.0, &nz.scale, &clipped, &err) < 0 ||
		    fl_noise_tensor(ts[0], 0, &nz, &err) < 0)
			return fprintf(stderr, "noise: %s\n", err.msg), 1;
		t[r] = now() - t0;
	}
	report("clip+gaussian-f32", (double)n, t, REPS);

	/* The exact discrete Gaussian, per sample, 1 and 2 threads. */
	{
		/* 42470.7: the demo's noise share (bench/RESULTS-22.md) */
		static const double sigmas[] = { 1, 100, 10000, 42470.7 };
		uint64_t m = n / 100;

		for (size_t s = 0; s < sizeof(sigmas) / sizeof(*sigmas); s++) {
			for (int th = 1; th <= 2; th++) {
				char name[64];

				nz.mechanism = FL_MECH_DGAUSS;
				nz.max_abs = 0;
				nz.scale = 1;
				nz.sigma = sigmas[s];
				nz.threads = th;
				for (int r = 0; r < REPS; r++) {
					double t0;

					fill(&rec, m, FL_I64);
					t0 = now();
					if (fl_noise_tensor(&rec.tensors[0], 0,
					    &nz, &err) < 0)
						return fprintf(stderr,
						    "noise: %s\n", err.msg), 1;
					t[r] = now() - t0;
				}
				snprintf(name, sizeof(name),
				    "dgauss-sigma%g-j%d", sigmas[s], th);
				report(name, (double)m, t, REPS);
			}
		}
	}
	fl_record_free(&rec);
	free(buf);
	return 0;
}
