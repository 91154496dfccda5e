/* SPDX-License-Identifier: ISC */
/*
 * DP-FTRL's second mechanism: banded matrix factorization (Choquette-Choo,
 * McMahan, Rush, Thakurta, ICML 2023; Choquette-Choo et al., NeurIPS
 * 2023).  The workload is A, the T x T prefix-sum matrix (ones on and
 * below the diagonal): the server releases A X, X the rounds' summed
 * clipped updates.  A strategy C, lower-triangular, b-banded and Toeplitz
 * with c_0 = 1, c_1 .. c_{b-1}, factors A = (A C^-1) C: the server
 * releases A C^-1 (C X + Z) = A X + A C^-1 Z, Z of i.i.d. N(0, (z clip)^2)
 * entries, and C X + Z is a Gaussian mechanism of sensitivity clip
 * sens(C).  The model moves by the rounds' x_t + w_t, w = C^-1 Z, which
 * is w_t = z_t - sum_{i=1}^{b-1} c_i w_{t-i}.
 *
 * Sensitivity.  A client in rounds S changes C X by sum_{j in S} C e_j
 * x_j^T, |x_j| <= 1.  Column j of C is nonzero in rows j .. j+b-1 only:
 * two of a client's rounds at least b apart never share a row, the
 * cross terms vanish, and the change's squared norm is sum_{j in S}
 * |C e_j|^2 |x_j|^2.  The column norms n_j = sum_{i <= min(b-1, T-1-j)}
 * c_i^2 do not grow with j, so the worst S takes the earliest rounds
 * allowed: 0, s, 2s, ... (s the separation), and sens^2 = sum of their
 * n_j, exactly.  Bands above the separation (k > 1) are refused: the
 * cross terms (C^T C)_{jj'}, of either sign, would enter.
 *
 * Error.  C^-1 is lower-triangular Toeplitz with the inverse series r_0
 * = 1, r_m = -sum_{i=1}^{min(m,b-1)} c_i r_{m-i}; A C^-1 is Toeplitz
 * with s_m = r_0 + .. + r_m; so the total variance of the T prefix sums'
 * noise is (z clip)^2 F, F = |A C^-1|_F^2 = sum_{m<T} (T - m) s_m^2,
 * O(T b).  At equal rho the noise scales with sens, so what the strategy
 * is optimized for is loss(c) = (sum_i c_i^2) F(c): k times it is
 * sens^2 F when no column is cut by the end (k only scales it).
 *
 * The gradient by reverse mode through the recursion: with g_m = 2 (T -
 * m) s_m, the adjoint of r_m starts as G_m = g_m + .. + g_{T-1}, and for
 * m = T-1 down to 1 each term c_i r_{m-i} of r_m gives dF/dc_i -=
 * rbar_m r_{m-i} and rbar_{m-i} -= c_i rbar_m.
 *
 * The optimizer: L-BFGS (8 pairs) with a backtracking Armijo line search
 * (so the loss decreases at every step), from the series of sqrt(A)'s
 * symbol (1 - x)^-1/2: c_i = binom(2i, i) / 4^i, cut to b terms.  Plain
 * double arithmetic in a fixed order: the same bytes on every run.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "privacy/internal.h"

#define MEM 8
#define MAX_ITER 20000

static int
check_shape(uint64_t T, uint64_t b, struct fl_error *err)
{
	if (T < 1 || T > FL_BANDED_MAX_ROUNDS)
		return fl_error_set(err, FL_EINVAL, "rounds %llu: must be in "
		    "[1, %llu]", (unsigned long long)T,
		    (unsigned long long)FL_BANDED_MAX_ROUNDS);
	if (b < 1 || b > T)
		return fl_error_set(err, FL_EINVAL, "bands %llu: must be in "
		    "[1, rounds %llu]", (unsigned long long)b,
		    (unsigned long long)T);
	return 0;
}

/* F and, with grad, dF/dc_i (i >= 1; grad[0] = 0) into grad; work has
 * room for 2 T doubles. */
static double
error_grad(uint64_t T, uint64_t b, const double *c, double *grad,
    double *work)
{
	double *r = work, *rb = work + T, s = 0, F = 0, G = 0;

	for (uint64_t m = 0; m < T; m++) {
		double v = m == 0 ? 1 : 0;
		uint64_t top = m < b - 1 ? m : b - 1;

		for (uint64_t i = 1; i <= top; i++)
			v -= c[i] * r[m - i];
		r[m] = v;
		s += v;
		F += (double)(T - m) * s * s;
		rb[m] = 2 * (double)(T - m) * s;  /* g_m, made G_m below */
	}
	if (grad == NULL)
		return F;
	for (uint64_t m = T; m-- > 0;) {
		G += rb[m];
		rb[m] = G;
	}
	memset(grad, 0, b * sizeof(*grad));
	for (uint64_t m = T; m-- > 1;) {
		uint64_t top = m < b - 1 ? m : b - 1;
		double a = rb[m];

		for (uint64_t i = 1; i <= top; i++) {
			grad[i] -= a * r[m - i];
			rb[m - i] -= c[i] * a;
		}
	}
	return F;
}

int
fl_banded_error(uint64_t T, uint64_t b, const double *c, double *F,
    double *grad, struct fl_error *err)
{
	double *work;

	if (check_shape(T, b, err) < 0)
		return -1;
	if (c[0] != 1)
		return fl_error_set(err, FL_EINVAL, "strategy's c_0 is %g, "
		    "not 1", c[0]);
	if ((work = malloc(2 * T * sizeof(*work))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	*F = error_grad(T, b, c, grad, work);
	free(work);
	return 0;
}

/* loss = (sum c^2) F and its gradient in c_1..c_{b-1} (g[0] = 0). */
static double
loss_grad(uint64_t T, uint64_t b, const double *c, double *g, double *work)
{
	double n2 = 0, F;

	for (uint64_t i = 0; i < b; i++)
		n2 += c[i] * c[i];
	F = error_grad(T, b, c, g, work);
	if (g != NULL) {
		for (uint64_t i = 1; i < b; i++)
			g[i] = 2 * c[i] * F + n2 * g[i];
		g[0] = 0;
	}
	return n2 * F;
}

int
fl_banded_loss(uint64_t T, uint64_t b, const double *c, double *loss,
    double *grad, struct fl_error *err)
{
	double *work;

	if (check_shape(T, b, err) < 0)
		return -1;
	if ((work = malloc(2 * T * sizeof(*work))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	*loss = loss_grad(T, b, c, grad, work);
	free(work);
	return 0;
}

void
fl_banded_start(uint64_t b, double *c)
{
	c[0] = 1;
	for (uint64_t i = 1; i < b; i++)
		c[i] = c[i - 1] * (2.0 * (double)i - 1) / (2.0 * (double)i);
}

static double
dot(const double *x, const double *y, uint64_t n)
{
	double s = 0;

	for (uint64_t i = 0; i < n; i++)
		s += x[i] * y[i];
	return s;
}

int
fl_banded_optimize(uint64_t T, uint64_t b, double *c,
    struct fl_banded_fit *fit, struct fl_error *err)
{
	/* x = c (c[0] stays 1), g its gradient, d the direction, S and Y
	 * the L-BFGS pairs. */
	double *mem, *work, *g, *d, *xn, *gn, *S, *Y, rho[MEM], al[MEM];
	double f, fn;
	uint64_t n = b, used = 0, head = 0, it;
	int ls_fail = 0;

	fit->start = fit->loss = fit->gradient = 0;
	fit->iterations = 0;
	fit->converged = 0;
	if (check_shape(T, b, err) < 0)
		return -1;
	if ((double)T * (double)b > FL_BANDED_MAX_WORK)
		return fl_error_set(err, FL_ELIMIT, "%llu rounds of %llu bands "
		    "are too many to optimize (rounds x bands above %g)",
		    (unsigned long long)T, (unsigned long long)b,
		    (double)FL_BANDED_MAX_WORK);
	if ((mem = calloc(2 * T + 4 * n + 2 * MEM * n, sizeof(*mem))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	work = mem;
	g = work + 2 * T;
	d = g + n;
	xn = d + n;
	gn = xn + n;
	S = gn + n;
	Y = S + MEM * n;
	fl_banded_start(b, c);
	f = loss_grad(T, b, c, g, work);
	fit->start = f;
	for (it = 0; it < MAX_ITER && b > 1; it++) {
		double gg = sqrt(dot(g, g, n)), slope, step = 1, q;

		fit->gradient = gg * sqrt(1 + dot(c, c, n)) / f;
		if (fit->gradient <= FL_BANDED_TOL)
			break;
		/* d = -H g, the two-loop recursion over the pairs. */
		for (uint64_t i = 0; i < n; i++)
			d[i] = -g[i];
		for (uint64_t k = 0; k < used; k++) {
			uint64_t j = (head + MEM - 1 - k) % MEM;

			al[j] = rho[j] * dot(S + j * n, d, n);
			for (uint64_t i = 0; i < n; i++)
				d[i] -= al[j] * Y[j * n + i];
		}
		if (used > 0) {
			uint64_t j = (head + MEM - 1) % MEM;

			q = dot(S + j * n, Y + j * n, n) /
			    dot(Y + j * n, Y + j * n, n);
			for (uint64_t i = 0; i < n; i++)
				d[i] *= q;
		} else {
			/* The first step: a small move along -g. */
			for (uint64_t i = 0; i < n; i++)
				d[i] *= 1e-3 / gg;
		}
		for (uint64_t k = used; k-- > 0;) {
			uint64_t j = (head + MEM - 1 - k) % MEM;
			double be = rho[j] * dot(Y + j * n, d, n);

			for (uint64_t i = 0; i < n; i++)
				d[i] += (al[j] - be) * S[j * n + i];
		}
		slope = dot(g, d, n);
		if (!(slope < 0)) {
			/* Not a descent direction: forget the pairs. */
			used = 0;
			for (uint64_t i = 0; i < n; i++)
				d[i] = -g[i] * 1e-3 / gg;
			slope = dot(g, d, n);
		}
		/* Backtracking: the Armijo condition, halving the step. */
		for (;;) {
			xn[0] = 1;
			for (uint64_t i = 1; i < n; i++)
				xn[i] = c[i] + step * d[i];
			fn = loss_grad(T, b, xn, gn, work);
			if (fn <= f + 1e-4 * step * slope)
				break;
			step /= 2;
			if (step < 1e-20)
				break;
		}
		if (!(fn < f)) {
			/* No decrease left at this precision. */
			ls_fail = 1;
			break;
		}
		/* The new pair, kept when the curvature is positive. */
		{
			double *s = S + head * n, *y = Y + head * n, sy;

			for (uint64_t i = 0; i < n; i++) {
				s[i] = xn[i] - c[i];
				y[i] = gn[i] - g[i];
			}
			sy = dot(s, y, n);
			if (sy > 1e-300) {
				rho[head] = 1 / sy;
				head = (head + 1) % MEM;
				if (used < MEM)
					used++;
			}
		}
		memcpy(c, xn, n * sizeof(*c));
		memcpy(g, gn, n * sizeof(*g));
		f = fn;
		if (fit->trace != NULL && it < fit->trace_cap)
			fit->trace[it] = f;
	}
	fit->iterations = it;
	fit->loss = f;
	fit->gradient = b > 1 ? sqrt(dot(g, g, n)) * sqrt(1 + dot(c, c, n)) /
	    f : 0;
	fit->converged = fit->gradient <= FL_BANDED_TOL || (ls_fail &&
	    fit->gradient <= 100 * FL_BANDED_TOL);
	free(mem);
	if (!fit->converged)
		return fl_error_set(err, FL_ELIMIT, "the strategy of %llu "
		    "bands over %llu rounds did not converge (relative "
		    "gradient %g after %llu steps)", (unsigned long long)b,
		    (unsigned long long)T, fit->gradient,
		    (unsigned long long)it);
	return 0;
}

int
fl_banded_check(uint64_t T, uint64_t b, uint64_t k, uint64_t sep,
    struct fl_error *err)
{
	if (T >= 1 && T <= FL_BANDED_MAX_ROUNDS && b > T)
		return fl_error_set(err, FL_EINVAL, "bands %llu: more than the "
		    "%llu rounds", (unsigned long long)b,
		    (unsigned long long)T);
	if (check_shape(T, b, err) < 0)
		return -1;
	if (k < 1)
		return fl_error_set(err, FL_EINVAL, "participations: must be "
		    "at least 1");
	if (k > 1 && b > (sep < 1 ? 1 : sep))
		return fl_error_set(err, FL_EINVAL, "bands %llu exceed the "
		    "separation %llu: two participations of a client would "
		    "share rows of the strategy (bands must be at most the "
		    "separation)", (unsigned long long)b,
		    (unsigned long long)sep);
	return 0;
}

int
fl_banded_sens2(uint64_t T, uint64_t b, const double *c, uint64_t k,
    uint64_t sep, double *sens2, struct fl_error *err)
{
	uint64_t kk;

	if (fl_banded_check(T, b, k, sep, err) < 0)
		return -1;
	if (sep < 1)
		sep = 1;
	kk = (T - 1) / sep + 1;
	if (k < kk)
		kk = k;
	*sens2 = 0;
	for (uint64_t p = 0; p < kk; p++) {
		uint64_t j = p * sep, top = T - 1 - j < b - 1 ? T - 1 - j :
		    b - 1;

		for (uint64_t i = 0; i <= top; i++)
			*sens2 += c[i] * c[i];
	}
	return 0;
}

/* ---- brute force, for the tests ---- */

/* Row sums of C's columns in S with signs x: |sum_j x_j C e_j|^2. */
static double
brute_value(uint64_t T, uint64_t b, const double *c, const uint64_t *S,
    size_t n, unsigned signs)
{
	double tot = 0;

	for (uint64_t row = 0; row < T; row++) {
		double v = 0;

		for (size_t q = 0; q < n; q++)
			if (row >= S[q] && row - S[q] < b)
				v += (signs >> q & 1 ? -1 : 1) * c[row - S[q]];
		tot += v * v;
	}
	return tot;
}

static double
brute(uint64_t T, uint64_t b, const double *c, uint64_t *S, size_t n,
    uint64_t next, uint64_t k, uint64_t sep)
{
	double best = 0;

	for (unsigned sg = 0; n > 0 && sg < 1u << (n - 1); sg++) {
		double v = brute_value(T, b, c, S, n, sg << 1);

		if (v > best)
			best = v;
	}
	if (n == k)
		return best;
	for (uint64_t r = next; r < T; r++) {
		double v;

		S[n] = r;
		v = brute(T, b, c, S, n + 1, r + sep, k, sep);
		if (v > best)
			best = v;
	}
	return best;
}

double
fl_banded_sens2_brute(uint64_t T, uint64_t b, const double *c, uint64_t k,
    uint64_t sep)
{
	uint64_t S[16];

	if (k > 16)
		k = 16;
	return brute(T, b, c, S, 0, 0, k, sep < 1 ? 1 : sep);
}


/* ---- the server's step ---- */

int
fl_banded_noise_tensor(struct fl_tensor *x, uint64_t tensor_index,
    uint64_t t, const struct fl_tree *tr, uint64_t b, const double *c,
    double **past, struct fl_error *err)
{
	double *oldest = b > 1 ? past[b - 2] : NULL;
	double *z, g, steps, fi;
	uint64_t n = x->numel;

	if (t < 1 || t > FL_BANDED_MAX_ROUNDS)
		return fl_error_set(err, FL_EINVAL, "round %llu: must be in "
		    "[1, %llu]", (unsigned long long)t,
		    (unsigned long long)FL_BANDED_MAX_ROUNDS);
	if (b < 1 || c[0] != 1)
		return fl_error_set(err, FL_EINVAL, "not a banded strategy");
	if (!(tr->sigma > 0) || !isfinite(tr->sigma))
		return fl_error_set(err, FL_EINVAL, "noise of std %g: must be "
		    "positive and finite", tr->sigma);
	if (fl_tree_check_tensor(x, tr->sigma, err) < 0)
		return -1;
	if ((z = malloc(FL_TREE_CHUNK * sizeof(*z))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	g = fl_noise_grid(tr->sigma);
	steps = tr->sigma / g;
	fi = 1 / g;
	for (uint64_t from = 0, ch = 0; from < n; from += FL_TREE_CHUNK, ch++) {
		uint64_t m = n - from < FL_TREE_CHUNK ? n - from :
		    FL_TREE_CHUNK;

		/* z_t: the leaf of round t, as the tree's. */
		fl_tree_node_normal(tr, 0, t - 1, tensor_index, ch, z, m);
		for (uint64_t i = 0; i < m; i++) {
			uint64_t at = from + i;
			double w = z[i];

			for (uint64_t l = 1; l < b; l++)
				w -= c[l] * past[l - 1][at];
			/* w_{t-b+1} is read for the last time: its place
			 * takes w_t (the rows are renamed below, not moved). */
			if (b > 1)
				oldest[at] = w;
			z[i] = fl_round_int(w * steps);
		}
		/* x snapped to the grid plus whole steps of noise (as the
		 * tree's: a lattice point), by dp.c's vectorised pass. */
		if (x->dtype == FL_F32)
			fl_add_steps_f32((float *)x->data + from, z, m, fi, g);
		else
			fl_add_steps_f64((double *)x->data + from, z, m, fi, g);
	}
	sodium_memzero(z, FL_TREE_CHUNK * sizeof(*z));
	free(z);
	/* Round t+1's past: w_t first, then w_{t-1}, ... */
	if (b > 2)
		memmove(past + 1, past, (b - 2) * sizeof(*past));
	if (b > 1)
		past[0] = oldest;
	return 0;
}
