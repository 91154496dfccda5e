/* SPDX-License-Identifier: ISC */
/*
 * Standard normal samples: the ziggurat method (Marsaglia and Tsang 2000)
 * with 256 layers in double precision.  A draw takes 48 bits of ChaCha20
 * in the common case: 8 pick the layer, 1 the sign and 39 the abscissa,
 * which quantises the output to 2^-37 of its scale (noise added to data on
 * a grid of 2^-18 of its scale, dp.c, so 2^-19 of a grid step).  The wedge
 * test is exact up to exp()'s rounding and the tail uses Marsaglia's method
 * with 53-bit uniforms, so the support is unbounded.  The algorithm is
 * exact in real arithmetic, the floating-point result is not: callers snap
 * values and noise to a power-of-two grid so the output has no porous low
 * bits, and the sampler's deviation is documented in fl-clip-noise(1).
 * The exact alternative is dgauss.c.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>

#include "internal.h"

#define LAYERS 256
#define R 3.6541528853610088    /* start of the tail */
#define V 0.00492867323399      /* area of each layer */

static double xs[LAYERS + 1];   /* layer i spans [0, xs[i]) */
static double fs[LAYERS + 1];   /* exp(-xs[i]^2 / 2) */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static atomic_int ready;

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
	atomic_store_explicit(&ready, 1, memory_order_release);
}

/* Uniform in (0, 1]: 53 bits, never 0, so log() is finite. */
static double
uniform_open0(struct fl_rng *r)
{
	return (double)((fl_rng_u64(r) >> 11) + 1) * 0x1p-53;
}

static double
slow_path(struct fl_rng *r, int i, double x, double sign)
{
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
	return NAN;                     /* rejected: draw again */
}

void
fl_normal_fill(struct fl_rng *r, double *out, size_t n)
{
	static const double signs[2] = { 1.0, -1.0 };

	if (!atomic_load_explicit(&ready, memory_order_acquire))
		pthread_once(&once, build_tables);
	/* The common case inline, in one loop the CPU can pipeline. */
	for (size_t k = 0; k < n; k++) {
		for (;;) {
			uint64_t w = fl_rng_next48(r);
			int i = (int)(w & 0xff);
			double sign = signs[(w >> 8) & 1];
			double x = (double)(w >> 9) * 0x1p-39 * xs[i], y;

			if (x < xs[i + 1]) {
				out[k] = sign * x;
				break;
			}
			if (!isnan(y = slow_path(r, i, x, sign))) {
				out[k] = y;
				break;
			}
		}
	}
}

double
fl_normal(struct fl_rng *r)
{
	if (!atomic_load_explicit(&ready, memory_order_acquire))
		pthread_once(&once, build_tables);
	for (;;) {
		uint64_t w = fl_rng_u48(r);
		int i = (int)(w & 0xff);
		double sign = (w >> 8) & 1 ? -1.0 : 1.0;
		double x = (double)(w >> 9) * 0x1p-39 * xs[i], y;

		/* Inside the part of the layer wholly under the curve: 98.8%
		 * of draws. */
		if (x < xs[i + 1])
			return sign * x;
		if (!isnan(y = slow_path(r, i, x, sign)))
			return y;
	}
}
