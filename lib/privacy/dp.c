/* SPDX-License-Identifier: ISC */
/*
 * Clipping and noise for differential privacy.
 *
 * Noise is drawn chunk by chunk: chunk c of tensor k reads its own ChaCha20
 * stream (k, c) of the record's noise key, so the output is the same
 * whatever the number of threads.  Each chunk's noise is generated into a
 * buffer before it touches the data: the time a chunk takes is a sum over
 * 16Ki draws, not a view of one draw's magnitude (rejection samplers run
 * longer for larger noise: Jin et al. 2022).
 *
 * Float noise is added on a power-of-two grid g: x is snapped to the
 * nearest multiple of g, integer noise in grid steps is added in int64, and
 * the exact integer sum times g is the output.  The set of possible outputs
 * is the lattice gZ whatever x is, so the low-order bits say nothing of x
 * (Mironov 2012).  Snapping moves x by at most g/2 per coordinate; the
 * sensitivity this costs, g sqrt(d), is reported for the accountant.
 */
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "privacy/internal.h"

#define CHUNK 16384
/* Grid steps per noise standard deviation: sigma/g in [2^18, 2^19). */
#define GRID_BITS 18

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__linux__)
/* The streaming loops: GCC vectorises them only at -O3, and the AVX2
 * clone has twice the SSE2 lanes and, without FMA, the same roundings. */
#define KERNEL __attribute__((optimize("O3"), \
    target_clones("default", "avx2")))
#elif defined(__GNUC__) && !defined(__clang__)
#define KERNEL __attribute__((optimize("O3")))
#else
#define KERNEL
#endif

/* Eight partial sums: the additions no longer wait for each other, and the
 * loop vectorises without reassociating a single sum (-ffast-math). */
#define SUMSQ(T) do {							\
	const T *v = t->data;						\
	double a[8] = { 0 };						\
	uint64_t i = 0;							\
	for (; i + 8 <= t->numel; i += 8)				\
		for (int k = 0; k < 8; k++)				\
			a[k] += (double)v[i + k] * v[i + k];		\
	for (; i < t->numel; i++)					\
		a[0] += (double)v[i] * v[i];				\
	s = ((a[0] + a[1]) + (a[2] + a[3])) +				\
	    ((a[4] + a[5]) + (a[6] + a[7]));				\
} while (0)

KERNEL static double
sumsq_f32(const struct fl_tensor *t)
{
	double s;

	SUMSQ(float);
	return s;
}

KERNEL static double
sumsq_f64(const struct fl_tensor *t)
{
	double s;

	SUMSQ(double);
	return s;
}

/* f16 and bf16 values are widened (exactly) and computed as f32 ones. */
#define HALF(t, i) ((double)fl_half_to_float((t)->dtype,		\
	((const uint16_t *)(t)->data)[i]))

static double
sumsq_half(const struct fl_tensor *t)
{
	double s = 0;

	for (uint64_t i = 0; i < t->numel; i++)
		s += HALF(t, i) * HALF(t, i);
	return s;
}

double
fl_tensor_sumsq(const struct fl_tensor *t)
{
	if (t->dtype == FL_F32)
		return sumsq_f32(t);
	if (t->dtype == FL_F64)
		return sumsq_f64(t);
	if (fl_dtype_is_half(t->dtype))
		return sumsq_half(t);
	return 0;
}

/* Index of the first value whose magnitude is not <= limit (NaN, inf, or
 * too large), or numel.  The scan is branch-free per block of 64 so it
 * vectorises; the block with a hit is searched again. */
#define FIND_BAD(T) do {						\
	const T *v = t->data;						\
	for (uint64_t b = 0; b < t->numel; b += 64) {			\
		uint64_t e = b + 64 < t->numel ? b + 64 : t->numel;	\
		int bad = 0;						\
		for (uint64_t i = b; i < e; i++)			\
			bad |= !(fabs((double)v[i]) <= limit);		\
		if (bad)						\
			for (uint64_t i = b; i < e; i++)		\
				if (!(fabs((double)v[i]) <= limit))	\
					return i;			\
	}								\
} while (0)

KERNEL static uint64_t
find_bad_f32(const struct fl_tensor *t, double limit)
{
	FIND_BAD(float);
	return t->numel;
}

KERNEL static uint64_t
find_bad_f64(const struct fl_tensor *t, double limit)
{
	FIND_BAD(double);
	return t->numel;
}

uint64_t
fl_find_bad(const struct fl_tensor *t, double limit)
{
	if (t->dtype == FL_F32)
		return find_bad_f32(t, limit);
	if (t->dtype == FL_F64)
		return find_bad_f64(t, limit);
	if (fl_dtype_is_half(t->dtype))
		for (uint64_t i = 0; i < t->numel; i++)
			if (!(fabs(HALF(t, i)) <= limit))
				return i;
	return t->numel;
}

int
fl_tensor_check_finite(const struct fl_tensor *t, struct fl_error *err)
{
	uint64_t i = fl_find_bad(t, DBL_MAX);     /* inf too */

	if (i < t->numel)
		return fl_error_set(err, FL_EFORMAT,
		    "tensor '%s': non-finite value at index %llu",
		    t->name, (unsigned long long)i);
	return 0;
}

/* Multiply by f < 1 and return the new sum of squares, in one pass; a
 * factor that rounds to 1 in the tensor's precision becomes the largest
 * one below 1, so every call shrinks the values. */
#define SCALE(T, F) do {						\
	T *v = t->data;							\
	double a[8] = { 0 };						\
	uint64_t i = 0;							\
	for (; i + 8 <= t->numel; i += 8)				\
		for (int k = 0; k < 8; k++) {				\
			v[i + k] *= F;					\
			a[k] += (double)v[i + k] * v[i + k];		\
		}							\
	for (; i < t->numel; i++) {					\
		v[i] *= F;						\
		a[0] += (double)v[i] * v[i];				\
	}								\
	s = ((a[0] + a[1]) + (a[2] + a[3])) +				\
	    ((a[4] + a[5]) + (a[6] + a[7]));				\
} while (0)

KERNEL static double
scale_f32(struct fl_tensor *t, float f)
{
	double s;

	SCALE(float, f);
	return s;
}

KERNEL static double
scale_f64(struct fl_tensor *t, double f)
{
	double s;

	SCALE(double, f);
	return s;
}

/* Half values are scaled in double and rounded toward zero: no value
 * grows, so neither does the norm, and every round of fl_clip_tensors
 * moves each nonzero value down by a step at least (a rounding to
 * nearest could leave the norm a hair over, and the next factor, a hair
 * below 1, would move nothing). */
static double
scale_half(struct fl_tensor *t, double f)
{
	uint16_t *v = t->data;
	double s = 0;

	for (uint64_t i = 0; i < t->numel; i++) {
		double x;

		v[i] = fl_half_toward_zero(t->dtype, HALF(t, i) * f);
		x = HALF(t, i);
		s += x * x;
	}
	return s;
}

static double
scale_tensor(struct fl_tensor *t, double f)
{
	if (fl_dtype_is_half(t->dtype))
		return scale_half(t, f < 1.0 ? f : nextafter(1.0, 0.0));
	if (t->dtype == FL_F32) {
		float ff = (float)f;

		return scale_f32(t, ff < 1.0f ? ff : nextafterf(1.0f, 0.0f));
	}
	return scale_f64(t, f < 1.0 ? f : nextafter(1.0, 0.0));
}

void
fl_scale_tensors(struct fl_tensor **ts, size_t n, double f)
{
	if (f >= 1)
		return;
	for (size_t i = 0; i < n; i++)
		(void)scale_tensor(ts[i], f > 0 ? f : 0);
}

/* The largest magnitude of ts[0..n), all finite. */
static double
max_abs(struct fl_tensor **ts, size_t n)
{
	double m = 0;

	for (size_t i = 0; i < n; i++)
		for (uint64_t j = 0; j < ts[i]->numel; j++) {
			double a = fabs(fl_tensor_get(ts[i], j));

			if (a > m)
				m = a;
		}
	return m;
}

/* The joint L2 norm of ts[0..n) from the sum of their squares ss.  Below
 * 2^-511 a double's square underflows (to a subnormal, then to zero), and
 * a vector of subnormal f64 values would have the norm 0: such a sum is
 * computed again on the values divided by the largest one. */
static double
norm_of(struct fl_tensor **ts, size_t n, double ss)
{
	double m;

	if (ss >= 0x1p-900 || (m = max_abs(ts, n)) == 0)
		return sqrt(ss);
	ss = 0;
	for (size_t i = 0; i < n; i++)
		for (uint64_t j = 0; j < ts[i]->numel; j++) {
			double x = fl_tensor_get(ts[i], j) / m;

			ss += x * x;
		}
	return m * sqrt(ss);
}

/* The joint L2 norm of ts[0..n), in double; -1 naming a value that is
 * not finite (it makes the sum so) or for a norm past a double. */
static int
joint_norm(struct fl_tensor **ts, size_t n, double *norm,
    struct fl_error *err)
{
	double ss = 0;

	for (size_t i = 0; i < n; i++)
		ss += fl_tensor_sumsq(ts[i]);
	if (!isfinite(ss)) {
		for (size_t i = 0; i < n; i++)
			if (fl_tensor_check_finite(ts[i], err) < 0)
				return -1;
		return fl_error_set(err, FL_ELIMIT, "the values are too "
		    "large to clip: their norm overflows a double");
	}
	*norm = norm_of(ts, n, ss);
	return 0;
}

/*
 * Scale the tensors so that their joint L2 norm is at most clip.  Rounding
 * the scaled values to their type can push the norm a hair over: shrink
 * again until the norm computed in double is <= clip (once, in practice).
 * Subnormal values round to a fixed step, not a relative one, and may not
 * move at all for a factor near 1: then the factor is halved, which moves
 * every nonzero value toward zero, so the loop ends (within the type's
 * exponent range) whatever the values.
 */
int
fl_clip_tensors(struct fl_tensor **ts, size_t n, double clip, int *clipped,
    struct fl_error *err)
{
	double norm, push = 1;

	if (joint_norm(ts, n, &norm, err) < 0)
		return -1;
	*clipped = norm > clip;
	for (int round = 0; norm > clip; round++) {
		double f = clip / norm * push, was = norm, ss = 0;

		if (round > 4 * DBL_MAX_EXP)
			return fl_error_set(err, FL_ELIMIT, "cannot clip to "
			    "%g: the values do not shrink", clip);
		for (size_t i = 0; i < n; i++)
			ss += scale_tensor(ts[i], f);
		norm = norm_of(ts, n, ss);
		if (!(norm < was))
			push *= 0.5;
	}
	return 0;
}

/*
 * The clip factor without scaling: the noise pass applies it (one pass over
 * the data fewer).  The norm is computed in double, so the factor carries
 * a margin e that covers every rounding: a square is exact for f32 (24-bit
 * products fit in 53 bits) and within 2^-53 for f64; a square goes through
 * at most numel/8 + 10 additions in its tensor's sum (eight partial sums,
 * the tail, three to combine them) and n more across tensors, each of
 * non-negative terms and within 2^-53; the square root, the division, the
 * product by 1 - e and the product x f each round once more.  So with
 * K = max numel/8 + n + 11 the values fl(x f) have a norm of at most
 * clip (1 + 2^-53)^4 (1 - 2^-53)^(-K/2) (1 - e) <= clip for
 * e = (K + 8) 2^-52, four times what is needed; e is below 3e-10 for 10M
 * coordinates.
 */
int
fl_clip_factor(struct fl_tensor **ts, size_t n, double clip, double *factor,
    int *clipped, struct fl_error *err)
{
	double norm, e;
	uint64_t longest = 0;

	if (joint_norm(ts, n, &norm, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (ts[i]->numel > longest)
			longest = ts[i]->numel;
	e = ((double)(longest / 8) + (double)n + 19) * 0x1p-52;
	*clipped = norm > clip;
	*factor = norm > clip * (1 - e) ? clip * (1 - e) / norm : 1;
	return 0;
}

double
fl_noise_grid(double sigma)
{
	int e;

	frexp(sigma, &e);               /* sigma in [2^(e-1), 2^e) */
	return ldexp(1, e - 1 - GRID_BITS);
}

double
fl_noise_sigma_for(double z, double bound, uint64_t d, double *sens)
{
	double sigma = z * bound, g = 0, root = sqrt((double)d);

	/* sigma only grows, so g does, through powers of two: a handful
	 * of steps reach the g of the sigma it gives. */
	for (int i = 0; i < 64 && fl_noise_grid(sigma) != g; i++) {
		g = fl_noise_grid(sigma);
		sigma = z * (bound + g * root);
	}
	*sens = bound + g * root;
	return sigma;
}

struct job {
	struct fl_tensor *t;
	const struct fl_noise *nz;
	uint64_t tensor_index;
	double grid, sigma_grid, scale;
	struct fl_dgauss dg;
	atomic_int overflow;
};

/* v = (round(v fi) + z) g: the value snapped to the grid (fi is the clip
 * factor over the grid step), the noise's whole grid steps added exactly
 * in double, the sum scaled back to float units. */
#define ADD_STEPS(T) do {						\
	for (uint64_t i = 0; i < n; i++)				\
		v[i] = (T)((fl_round_int(v[i] * fi) + z[i]) * g);		\
} while (0)

/* (Also the DP-FTRL tree's last step: tree.c.) */
KERNEL void
fl_add_steps_f32(float *restrict v, const double *restrict z, uint64_t n,
    double fi, double g)
{
	ADD_STEPS(float);
}

KERNEL void
fl_add_steps_f64(double *restrict v, const double *restrict z, uint64_t n,
    double fi, double g)
{
	ADD_STEPS(double);
}

/* Gaussian noise on the grid, for a float chunk: all of it drawn first,
 * in whole grid steps, then added to the snapped values. */
static void
float_chunk(struct job *j, struct fl_rng *r, uint64_t from, uint64_t n,
    double *z)
{
	struct fl_tensor *t = j->t;
	/* scale is 1 or a clip factor, the grid a power of two: fi is
	 * exact, and x * fi is the clipped value x * scale in grid steps
	 * with no other rounding. */
	const double fi = j->scale / j->grid;

	if (j->nz->exact) {
		for (uint64_t i = 0; i < n; i++)
			z[i] = (double)fl_dgauss(r, &j->dg);
	} else {
		fl_normal_steps(r, z, n, j->sigma_grid);
	}
	if (t->dtype == FL_F32) {
		fl_add_steps_f32((float *)t->data + from, z, n, fi, j->grid);
	} else if (t->dtype == FL_F64) {
		fl_add_steps_f64((double *)t->data + from, z, n, fi, j->grid);
	} else {
		/* Half: the noised value as for f32, in double, then rounded
		 * to the dtype once (post-processing of the noised value). */
		uint16_t *v = (uint16_t *)t->data + from;

		for (uint64_t i = 0; i < n; i++)
			v[i] = fl_half_from_double(t->dtype, (fl_round_int(
			    (double)fl_half_to_float(t->dtype, v[i]) * fi) +
			    z[i]) * j->grid);
	}
}

static void
noise_chunk(void *ctx, size_t c)
{
	struct job *j = ctx;
	struct fl_tensor *t = j->t;
	uint64_t from = (uint64_t)c * CHUNK, n = t->numel - from;
	int64_t noise[CHUNK];
	struct fl_rng r;

	if (n > CHUNK)
		n = CHUNK;
	fl_rng_init(&r, j->nz->key, j->tensor_index << 32 | c);
	if (fl_dtype_is_float(t->dtype)) {
		/* The int64 buffer holds the chunk's doubles just as well. */
		float_chunk(j, &r, from, n, (double *)(void *)noise);
		fl_rng_wipe(&r);
		memset(noise, 0, sizeof(noise));
		return;
	}
	/* Integer noise: all of the chunk's noise first, then the data. */
	if (j->nz->mechanism == FL_MECH_DGAUSS)
		for (uint64_t i = 0; i < n; i++)
			noise[i] = fl_dgauss(&r, &j->dg);
	else
		for (uint64_t i = 0; i < n; i++)
			noise[i] = fl_skellam(&r, j->nz->sigma);
	fl_rng_wipe(&r);

	switch (t->dtype) {
	case FL_U32: {
		/* Ring values: the noise is added mod the modulus. */
		uint32_t *v = (uint32_t *)t->data + from;
		uint64_t m = j->nz->modulus;

		for (uint64_t i = 0; i < n; i++) {
			int64_t k = noise[i] % (int64_t)m;

			v[i] = (uint32_t)(((uint64_t)v[i] + (uint64_t)(k < 0 ?
			    k + (int64_t)m : k)) % m);
		}
		break;
	}
	case FL_U64: {
		uint64_t *v = (uint64_t *)t->data + from, m = j->nz->modulus;

		for (uint64_t i = 0; i < n; i++) {
			uint64_t k;

			if (m == 0) {   /* mod 2^64: wrap-around is the ring */
				v[i] += (uint64_t)noise[i];
				continue;
			}
			k = noise[i] < 0 ? m - (uint64_t)(-(noise[i] + 1)) % m -
			    1 : (uint64_t)noise[i] % m;
			v[i] = (uint64_t)(((unsigned __int128)v[i] + k) % m);
		}
		break;
	}
	case FL_I32: {
		int32_t *v = (int32_t *)t->data + from;

		for (uint64_t i = 0; i < n; i++) {
			int64_t s = (int64_t)v[i] + noise[i];

			if (s < INT32_MIN || s > INT32_MAX)
				atomic_store(&j->overflow, 1);
			else
				v[i] = (int32_t)s;
		}
		break;
	}
	case FL_I64: {
		int64_t *v = (int64_t *)t->data + from;

		for (uint64_t i = 0; i < n; i++)
			if (__builtin_add_overflow(v[i], noise[i], &v[i]))
				atomic_store(&j->overflow, 1);
		break;
	}
	default:
		break;
	}
	memset(noise, 0, sizeof(noise));
}

int
fl_noise_tensor(struct fl_tensor *t, uint64_t tensor_index,
    const struct fl_noise *nz, struct fl_error *err)
{
	struct job j;
	int is_float = fl_dtype_is_float(t->dtype);

	memset(&j, 0, sizeof(j));
	j.t = t;
	j.nz = nz;
	j.tensor_index = tensor_index;
	atomic_init(&j.overflow, 0);
	if (is_float != (nz->mechanism == FL_MECH_GAUSSIAN))
		return fl_error_set(err, FL_EINVAL, "tensor '%s': %s noise "
		    "does not apply to %s tensors", t->name,
		    is_float ? "integer" : "float",
		    fl_dtype_name(t->dtype));
	if (!is_float && t->dtype != FL_U32 && t->dtype != FL_U64 &&
	    t->dtype != FL_I32 && t->dtype != FL_I64)
		return fl_error_set(err, FL_EINVAL, "tensor '%s': integer "
		    "noise needs i32, i64, u32 or u64, not %s", t->name,
		    fl_dtype_name(t->dtype));
	if (t->dtype == FL_U32 && (nz->modulus == 0 ||
	    nz->modulus > UINT64_C(1) << 32))
		return fl_error_set(err, FL_EINVAL, "tensor '%s': u32 values "
		    "need a modulus of at most 2^32", t->name);
	if (is_float) {
		/* Half values are noised as f32 ones, then rounded to their
		 * dtype: the grid is f32's, the overflow the dtype's. */
		double tiny = t->dtype == FL_F64 ? DBL_MIN : FLT_MIN;
		double huge = t->dtype == FL_F64 ? DBL_MAX :
		    t->dtype == FL_F32 ? FLT_MAX :
		    t->dtype == FL_F16 ? 65504 : 0x1.fep127;

		j.scale = nz->scale > 0 ? nz->scale : 1;
		j.grid = fl_noise_grid(nz->sigma);
		j.sigma_grid = nz->sigma / j.grid;
		/* The outputs are multiples of the grid: exact in the type
		 * only while the grid is a normal number of it.  And the
		 * noise, whose draws stay within 64 sigma, must not carry a
		 * value past the type's largest. */
		if (!(j.grid >= tiny))
			return fl_error_set(err, FL_EINVAL, "tensor '%s': noise "
			    "of std %g has its grid below the smallest normal "
			    "%s: raise the clip bound or the noise multiplier",
			    t->name, nz->sigma, fl_dtype_name(t->dtype));
		if (!(64 * nz->sigma < huge / 2))
			return fl_error_set(err, FL_EINVAL, "tensor '%s': noise "
			    "of std %g would overflow %s", t->name, nz->sigma,
			    fl_dtype_name(t->dtype));
		if (nz->exact && fl_dgauss_init(&j.dg, j.sigma_grid, err) < 0)
			return -1;
		/* Snapped values and their sums with the noise must be
		 * exact integers in a double: below 2^50 grid steps.  A
		 * caller that knows a bound (a clipped record) skips the
		 * scan. */
		double limit = fmin(ldexp(j.grid, 50), huge / 2);
		uint64_t bad = nz->max_abs > 0 && nz->max_abs <= limit ?
		    t->numel : fl_find_bad(t, limit / j.scale);

		if (bad < t->numel) {
			double x = fl_tensor_get(t, bad);

			return fl_error_set(err, FL_EINVAL, isfinite(x) ?
			    "tensor '%s': value at index %llu is too large for "
			    "the noise grid" : "tensor '%s': non-finite value "
			    "at index %llu", t->name, (unsigned long long)bad);
		}
	} else if (nz->mechanism == FL_MECH_DGAUSS &&
	    fl_dgauss_init(&j.dg, nz->sigma, err) < 0) {
		return -1;
	}
	fl_parallel_for((t->numel + CHUNK - 1) / CHUNK, nz->threads,
	    noise_chunk, &j, err);
	if (atomic_load(&j.overflow))
		return fl_error_set(err, FL_ELIMIT, "tensor '%s': noise "
		    "overflows %s", t->name, fl_dtype_name(t->dtype));
	return 0;
}

/* Centred value of a ring element: [m/2, m) stands for negatives. */
static __int128
centred(uint64_t v, uint64_t m)
{
	if (m == 0)
		return (int64_t)v;
	return v >= m - m / 2 ? (__int128)v - (__int128)m : (__int128)v;
}

int
fl_int_sumsq(const struct fl_tensor *t, uint64_t modulus,
    unsigned __int128 *acc)
{
	for (uint64_t i = 0; i < t->numel; i++) {
		__int128 x;
		unsigned __int128 a;

		switch (t->dtype) {
		case FL_U32:
			x = centred(((const uint32_t *)t->data)[i], modulus);
			break;
		case FL_U64:
			x = centred(((const uint64_t *)t->data)[i], modulus);
			break;
		case FL_I64:
			x = ((const int64_t *)t->data)[i];
			break;
		default:
			x = (__int128)fl_tensor_get(t, i);
			break;
		}
		/* |x| <= 2^64, so x^2 fits; the sum saturates as an error. */
		a = (unsigned __int128)(x < 0 ? -x : x);
		if (__builtin_add_overflow(*acc, a * a, acc))
			return -1;
	}
	return 0;
}

int
fl_int_sumsq_le(unsigned __int128 ss, double bound)
{
	/* ss <= bound^2 exactly: bound = m 2^e with an integer m < 2^53. */
	int e;
	double frac = frexp(bound, &e);
	uint64_t m = (uint64_t)ldexp(frac, 53);
	unsigned __int128 m2 = (unsigned __int128)m * m;
	int shift = 2 * (e - 53);       /* bound^2 = m2 2^shift */

	if (bound < 0)
		return 0;
	if (shift >= 0) {
		if (shift >= 128 || (m2 >> (127 - shift)) > 1)
			return 1;       /* bound^2 beyond any 128-bit sum */
		return ss <= m2 << shift;
	}
	/* ss <= m2 / 2^-shift  <=>  ss * 2^-shift <= m2 */
	if (-shift >= 128)
		return ss == 0;
	if (ss > (~(unsigned __int128)0 >> -shift))
		return 0;
	return (ss << -shift) <= m2;
}
