/* SPDX-License-Identifier: ISC */
/*
 * Standard normal samples: the ziggurat method (Marsaglia and Tsang 2000)
 * with 256 layers in double precision, one 64-bit ChaCha20 word per draw in
 * the common case (8 bits pick the layer, 1 the sign, 53 the abscissa), an
 * exact wedge test and Marsaglia's tail method beyond r, so the support is
 * unbounded.  The algorithm is exact in real arithmetic; in doubles each
 * output value is quantised to about 2^-51 and exp() is correctly rounded
 * within an ulp.  Callers that add this noise to data snap both to a
 * power-of-two grid (dp.c), so the floating-point porosity of the output is
 * gone; what remains is the sampler's deviation from an exact Gaussian,
 * documented in fl-clip-noise(1).  The exact alternative is dgauss.c.
 */
#include <math.h>
#include <pthread.h>

#include "fl.h"

#define LAYERS 256
#define R 3.6541528853610088    /* start of the tail */
#define V 0.00492867323399      /* area of each layer */

static double xs[LAYERS + 1];   /* layer i spans [0, xs[i]) */
static double fs[LAYERS + 1];   /* exp(-xs[i]^2 / 2) */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void
build_tables(void)
{
	double f = exp(-0.5 * R * R);

	/* Layer 0 is the base strip with the tail folded in: width V/f(R). */
	xs[0] = V / f;
	xs[1] = R;
	for (int i = 1; i < LAYERS - 1; i++)
		xs[i + 1] = sqrt(-2 * log(V / xs[i] + exp(-0.5 * xs[i] *
		    xs[i])));
	xs[LAYERS] = 0;
	for (int i = 0; i <= LAYERS; i++)
		fs[i] = exp(-0.5 * xs[i] * xs[i]);
}

/* Uniform in (0, 1]: 53 bits, never 0, so log() is finite. */
static double
uniform_open0(struct fl_rng *r)
{
	return (double)((fl_rng_u64(r) >> 11) + 1) * 0x1p-53;
}

double
fl_normal(struct fl_rng *r)
{
	pthread_once(&once, build_tables);
	for (;;) {
		uint64_t w = fl_rng_u64(r);
		int i = (int)(w & 0xff);
		double sign = (w >> 8) & 1 ? -1.0 : 1.0;
		double x = (double)(w >> 11) * 0x1p-53 * xs[i];

		/* Inside the part of the layer wholly under the curve. */
		if (x < xs[i + 1])
			return sign * x;
		if (i == 0) {
			double a, b;

			do {
				a = -log(uniform_open0(r)) / R;
				b = -log(uniform_open0(r));
			} while (b + b < a * a);
			return sign * (R + a);
		}
		/* The wedge: accept under the curve. */
		if (fs[i] + (double)(fl_rng_u64(r) >> 11) * 0x1p-53 *
		    (fs[i + 1] - fs[i]) < exp(-0.5 * x * x))
			return sign * x;
	}
}
