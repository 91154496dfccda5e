/* SPDX-License-Identifier: ISC */
/*
 * The privacy loss distribution (PLD) accountant for the Poisson-subsampled
 * Gaussian: each step's PLD is discretised pessimistically by connecting
 * the dots of its exact privacy profile (Doroshenko, Ghazi, Kamath, Kumar,
 * Manurangsi 2022), T steps are composed by one FFT power, releases with
 * different parameters by FFT convolution.  Every approximation moves
 * privacy loss up, never down: a reported epsilon is never below the
 * true one (up to rounding at the 1e-15 level).
 *
 * Add/remove adjacency gives two PLDs (REMOVE: P = (1-q)N(0,s^2) +
 * qN(-1,s^2) against Q = N(0,s^2); ADD: the same pair the other way
 * round); the answer is the worse of the two.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "privacy/privacy.h"

#define PI 3.141592653589793238463
/* The single step's x range: 10 standard deviations (Phi(-10) = 8e-24);
 * the mass beyond it is in p_inf. */
#define XTAIL 10.0
/* Mass allowed outside a composition's window (it goes to p_inf). */
#define TAIL 1e-15
/* Cap on the FFT length and on any one PLD's bins (memory: 3 doubles of
 * FFT work space per bin); above it the interval is made coarser. */
#define MAXBINS ((size_t)1 << 21)
#define DEFAULT_INTERVAL 1e-4

/* log(e^x - (1 - q)) for e^x > 1 - q, without overflow for large x. */
static double
log_exp_minus(double x, double q)
{
	if (x < 1)
		return log(expm1(x) + q);
	return x + log1p(-(1 - q) * exp(-x));
}

/* Exact hockey-stick divergence of one step (see the top comment). */
static double
delta_remove(double q, double s, double eps)
{
	double le, xs, a, b;

	if (q < 1 && eps <= log1p(-q))
		return -expm1(eps);
	le = log_exp_minus(eps, q);
	xs = -s * s * (le - log(q)) - 0.5;
	a = log(q) + fl_log_ndtr((xs + 1) / s);
	b = le + fl_log_ndtr(xs / s);
	if (!(a > b))
		return 0;
	return exp(a) * -expm1(b - a);
}

static double
delta_add(double q, double s, double eps)
{
	double le, xs, a, b;

	if (q < 1 && eps >= -log1p(-q))
		return 0;
	le = log_exp_minus(-eps, q);
	xs = s * s * (le - log(q)) + 0.5;
	a = le + fl_log_ndtr(xs / s);
	b = log(q) + fl_log_ndtr((xs - 1) / s);
	if (!(a > b))
		return 0;
	return exp(eps + a) * -expm1(b - a);
}

static double
loss_at(double q, double s, int add, double x)
{
	double l1q = q < 1 ? log1p(-q) : -INFINITY, lq = log(q);

	if (add)
		return -fl_log_add(l1q, lq + (x - 0.5) / (s * s));
	return fl_log_add(l1q, lq + (-x - 0.5) / (s * s));
}

/* The losses a step's discretisation spans. */
static void
step_range(double q, double s, int add, double *lmin, double *lmax)
{
	double xlo = -s * XTAIL - (add ? 0 : 1), xhi = s * XTAIL;

	*lmin = loss_at(q, s, add, xhi);
	*lmax = loss_at(q, s, add, xlo);
}

void
fl_pld_free(struct fl_pld *pl)
{
	if (pl != NULL) {
		free(pl->p);
		memset(pl, 0, sizeof(*pl));
	}
}

/*
 * Connect the dots: with delta_k the exact profile at eps_k = k d, the
 * discrete PLD with masses
 *   p_1 = 1 - delta_1 + (delta_2 - delta_1)/(e^d - 1)
 *   p_k = ((delta_{k+1} - delta_k) - e^d (delta_k - delta_{k-1}))/(e^d - 1)
 *   p_n = (delta_n - delta_{n-1})/(e^-d - 1),  p_inf = delta_n
 * has exactly the profile delta_k at the grid points, and in between the
 * chord (in e^eps) of a convex curve: above the true profile.
 */
int
fl_pld_sgm(struct fl_pld *pl, double q, double noise, int add, double d,
    struct fl_error *err)
{
	double lmin, lmax, ed, *p;
	int64_t klo, khi;
	size_t n;

	memset(pl, 0, sizeof(*pl));
	if (!(q > 0 && q <= 1) || !(noise > 0) || !(d > 0))
		return fl_error_set(err, FL_EINVAL, "bad PLD parameters");
	step_range(q, noise, add, &lmin, &lmax);
	klo = (int64_t)floor(lmin / d);
	khi = (int64_t)ceil(lmax / d);
	if (khi <= klo)
		khi = klo + 1;
	if ((double)(khi - klo) >= (double)MAXBINS)
		return fl_error_set(err, FL_ELIMIT, "the PLD needs %.0f bins "
		    "(at most %zu): use a coarser interval",
		    (double)(khi - klo) + 1, MAXBINS);
	n = (size_t)(khi - klo) + 1;
	if ((p = malloc(n * sizeof(*p))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	for (size_t k = 0; k < n; k++) {
		double e = (double)(klo + (int64_t)k) * d;

		p[k] = add ? delta_add(q, noise, e) : delta_remove(q, noise, e);
	}
	/* Masses in place: p[k] needs delta_{k-1}, delta_k, delta_{k+1}. */
	ed = expm1(d);
	pl->pinf = p[n - 1];
	{
		double prev = p[0], cur = p[0], next;

		for (size_t k = 0; k < n; k++) {
			double m;

			cur = p[k];
			next = k + 1 < n ? p[k + 1] : 0;
			if (k == 0)
				m = 1 - cur + (next - cur) / ed;
			else if (k + 1 == n)
				m = (cur - prev) / expm1(-d);
			else
				m = ((next - cur) - (ed + 1) * (cur - prev)) / ed;
			prev = cur;
			p[k] = m > 0 ? m : 0;
		}
	}
	pl->d = d;
	pl->lo = klo;
	pl->n = n;
	pl->p = p;
	return 0;
}

/* ---- FFT (iterative radix 2, twiddles from cos/sin each) ---- */

struct fft {
	size_t n;
	double *re, *im, *c, *s;
};

/* Work space for length n; the twiddles are filled by the caller. */
static int
fft_init(struct fft *f, size_t n)
{
	f->n = n;
	f->re = calloc(n, sizeof(double));
	f->im = calloc(n, sizeof(double));
	f->c = malloc(n / 2 * sizeof(double) + 1);
	f->s = malloc(n / 2 * sizeof(double) + 1);
	if (f->re == NULL || f->im == NULL || f->c == NULL || f->s == NULL)
		return -1;
	return 0;
}

static void
fft_free(struct fft *f)
{
	free(f->re);
	free(f->im);
	free(f->c);
	free(f->s);
}

/* In place on (re, im); sign -1 forward, +1 inverse (unscaled). */
static void
fft_run(struct fft *f, double *re, double *im, int sign)
{
	size_t n = f->n;

	for (size_t i = 1, j = 0; i < n; i++) {
		size_t bit = n >> 1;

		for (; j & bit; bit >>= 1)
			j ^= bit;
		j ^= bit;
		if (i < j) {
			double t = re[i];

			re[i] = re[j];
			re[j] = t;
			t = im[i];
			im[i] = im[j];
			im[j] = t;
		}
	}
	for (size_t len = 2; len <= n; len <<= 1) {
		size_t half = len >> 1, step = n / len;

		for (size_t i = 0; i < n; i += len)
			for (size_t k = 0; k < half; k++) {
				double wr = f->c[k * step];
				double wi = sign * f->s[k * step];
				size_t a = i + k, b = a + half;
				double xr = re[b] * wr - im[b] * wi;
				double xi = re[b] * wi + im[b] * wr;

				re[b] = re[a] - xr;
				im[b] = im[a] - xi;
				re[a] += xr;
				im[a] += xi;
			}
	}
}

/*
 * Real-input transforms of length N = 2M through one complex FFT of
 * length M: the even and odd samples as real and imaginary parts, split
 * (or merged) with the twiddles e^(-2 pi i k / N).  Spectra are kept for
 * k = 0..M (the rest is their conjugate).
 */
struct rfft {
	size_t m;
	struct fft f;
	double *wc, *ws;        /* cos, sin of 2 pi k / N, k < M */
};

static void
rfft_free(struct rfft *r)
{
	fft_free(&r->f);
	free(r->wc);
	free(r->ws);
}

static int
rfft_init(struct rfft *r, size_t n)
{
	r->m = n / 2;
	r->wc = malloc(r->m * sizeof(double));
	r->ws = malloc(r->m * sizeof(double));
	if (fft_init(&r->f, r->m) < 0 || r->wc == NULL || r->ws == NULL)
		return -1;
	for (size_t k = 0; k < r->m; k++) {
		double a = PI * (double)k / (double)r->m;

		r->wc[k] = cos(a);
		r->ws[k] = sin(a);
	}
	/* The half-length FFT's twiddles are every other one. */
	for (size_t k = 0; k < r->m / 2; k++) {
		r->f.c[k] = r->wc[2 * k];
		r->f.s[k] = r->ws[2 * k];
	}
	return 0;
}

/* x: N reals (n of them given, the rest zero) to X[0..M] in (xr, xi). */
static void
rfft_forward(struct rfft *r, const double *x, size_t n, double *xr,
    double *xi)
{
	size_t m = r->m;
	double *re = r->f.re, *im = r->f.im;

	memset(re, 0, m * sizeof(double));
	memset(im, 0, m * sizeof(double));
	for (size_t j = 0; j < n; j++) {
		if (j & 1)
			im[j >> 1] = x[j];
		else
			re[j >> 1] = x[j];
	}
	fft_run(&r->f, re, im, -1);
	for (size_t k = 0; k <= m; k++) {
		size_t a = k % m, b = (m - k) % m;
		double er = (re[a] + re[b]) / 2, ei = (im[a] - im[b]) / 2;
		double or_ = (im[a] + im[b]) / 2, oi = -(re[a] - re[b]) / 2;
		double wr = k < m ? r->wc[k] : -1, wi = k < m ? -r->ws[k] : 0;

		xr[k] = er + wr * or_ - wi * oi;
		xi[k] = ei + wr * oi + wi * or_;
	}
}

/* X[0..M] back to the N reals (the inverse, scaled) into x. */
static void
rfft_inverse(struct rfft *r, const double *xr, const double *xi, double *x)
{
	size_t m = r->m;
	double *re = r->f.re, *im = r->f.im;

	for (size_t k = 0; k < m; k++) {
		double er = (xr[k] + xr[m - k]) / 2;
		double ei = (xi[k] - xi[m - k]) / 2;
		double dr = (xr[k] - xr[m - k]) / 2;
		double di = (xi[k] + xi[m - k]) / 2;
		double wr = r->wc[k], wi = r->ws[k];
		double or_ = dr * wr - di * wi, oi = dr * wi + di * wr;

		re[k] = er - oi;
		im[k] = ei + or_;
	}
	fft_run(&r->f, re, im, 1);
	for (size_t j = 0; j < m; j++) {
		x[2 * j] = re[j] / (double)m;
		x[2 * j + 1] = im[j] / (double)m;
	}
}

/* (re, im)^T by repeated squaring. */
static void
cpow_u64(double *re, double *im, uint64_t t)
{
	double rr = 1, ri = 0, br = *re, bi = *im;

	for (;;) {
		if (t & 1) {
			double x = rr * br - ri * bi;

			ri = rr * bi + ri * br;
			rr = x;
		}
		t >>= 1;
		if (t == 0)
			break;
		{
			double x = br * br - bi * bi;

			bi = 2 * br * bi;
			br = x;
		}
	}
	*re = rr;
	*im = ri;
}

static size_t
pow2_at_least(size_t n)
{
	size_t l = 2;

	while (l < n)
		l <<= 1;
	return l;
}

/*
 * Drop the bins at both ends that hold at most TAIL/2 each side: the left
 * mass goes to the first kept bin, the right mass to p_inf (both move
 * loss up).
 */
static void
trim(struct fl_pld *pl)
{
	size_t a = 0, b = pl->n;
	double left = 0, right = 0;

	while (a + 1 < b && left + pl->p[a] <= TAIL / 2)
		left += pl->p[a++];
	while (b - 1 > a && right + pl->p[b - 1] <= TAIL / 2)
		right += pl->p[--b];
	if (a > 0 || b < pl->n) {
		memmove(pl->p, pl->p + a, (b - a) * sizeof(double));
		pl->p[0] += left;
		pl->pinf += right;
		pl->lo += (int64_t)a;
		pl->n = b - a;
	}
}

/*
 * The window [*wa, *wb] (losses) holding the T-fold composition but for
 * at most TAIL/2 on each side, by Chernoff bounds on the MGF of the
 * finite part at a grid of t.  The MGF uses groups of bins with their
 * mass moved to the group's end (up for the upper tail, down for the
 * lower), which can only widen the window.
 */
static void
chernoff_window(const struct fl_pld *pl, uint64_t T, double *wa, double *wb)
{
	size_t g = (pl->n + 4095) / 4096, ng = (pl->n + g - 1) / g;
	double *m = calloc(ng, sizeof(double)), lt = log(TAIL / 2);
	double dT = (double)T, lo = (double)pl->lo * pl->d;
	double hi = (double)(pl->lo + (int64_t)pl->n - 1) * pl->d;
	double best_hi = dT * hi, best_lo = dT * lo;

	if (m == NULL) {
		*wa = best_lo;
		*wb = best_hi;
		return;
	}
	for (size_t i = 0; i < pl->n; i++)
		m[i / g] += pl->p[i];
	for (int k = -60; k <= 40; k++) {
		double t = pow(10, k / 10.0), mu = -INFINITY, ml = -INFINITY;

		for (size_t j = 0; j < ng; j++) {
			double up = (double)(pl->lo + (int64_t)((j + 1) * g - 1)) *
			    pl->d, dn = (double)(pl->lo + (int64_t)(j * g)) * pl->d;

			if (m[j] <= 0)
				continue;
			mu = fl_log_add(mu, log(m[j]) + t * up);
			ml = fl_log_add(ml, log(m[j]) - t * dn);
		}
		best_hi = fmin(best_hi, (dT * mu - lt) / t);
		best_lo = fmax(best_lo, -(dT * ml - lt) / t);
	}
	free(m);
	*wa = best_lo;
	*wb = fmax(best_hi, best_lo);
}

/* Loss width (in loss units) of the T-fold composition's window. */
double
fl_pld_width(const struct fl_pld *pl, uint64_t T)
{
	double wa, wb;

	chernoff_window(pl, T, &wa, &wb);
	return wb - wa;
}

int
fl_pld_self_compose(struct fl_pld *pl, uint64_t T, struct fl_error *err)
{
	double wa, wb, pinf, *out, *xr, *xi;
	int64_t ka, kb, top;
	size_t L, off;
	struct rfft f;
	int clamped;

	if (T <= 1)
		return 0;
	if (T > ((uint64_t)1 << 40))
		return fl_error_set(err, FL_ELIMIT, "too many steps");
	chernoff_window(pl, T, &wa, &wb);
	top = (int64_t)T * (pl->lo + (int64_t)pl->n - 1);
	ka = (int64_t)floor(wa / pl->d);
	kb = (int64_t)ceil(wb / pl->d);
	if (ka < (int64_t)T * pl->lo)
		ka = (int64_t)T * pl->lo;
	clamped = kb >= top;
	if (kb > top)
		kb = top;
	if ((double)(kb - ka) >= (double)MAXBINS)
		return fl_error_set(err, FL_ELIMIT, "the composition needs "
		    "%.0f bins (at most %zu): use a coarser interval",
		    (double)(kb - ka) + 1, MAXBINS);
	L = pow2_at_least((size_t)(kb - ka) + 1);
	out = calloc(L, sizeof(double));
	xr = malloc((L / 2 + 1) * sizeof(double));
	xi = malloc((L / 2 + 1) * sizeof(double));
	if (out == NULL || xr == NULL || xi == NULL || rfft_init(&f, L) < 0) {
		free(out);
		free(xr);
		free(xi);
		rfft_free(&f);
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	}
	/* Fold the step's PMF onto the cycle (position = index mod L). */
	for (size_t i = 0; i < pl->n; i++)
		out[i & (L - 1)] += pl->p[i];
	rfft_forward(&f, out, L, xr, xi);
	for (size_t k = 0; k <= L / 2; k++)
		cpow_u64(&xr[k], &xi[k], T);
	rfft_inverse(&f, xr, xi, out);
	rfft_free(&f);
	free(xr);
	free(xi);
	/* Relative index j of the composition sits at j mod L; the window
	 * starts at j = ka - T lo.  Mass beyond the window has wrapped into
	 * it: below the window it moved up; above it is bounded by TAIL/2,
	 * which goes to p_inf. */
	off = (size_t)((uint64_t)(ka - (int64_t)T * pl->lo) % L);
	if (off > 0) {
		double *rot = malloc(L * sizeof(double));

		if (rot == NULL) {
			free(out);
			return fl_error_set(err, FL_ENOMEM, "out of memory");
		}
		for (size_t m = 0; m < L; m++)
			rot[m] = out[(off + m) & (L - 1)];
		free(out);
		out = rot;
	}
	for (size_t m = 0; m < L; m++)
		if (!(out[m] > 0))
			out[m] = 0;
	pinf = -expm1((double)T * log1p(-pl->pinf));
	if (!clamped)
		pinf += TAIL / 2;
	free(pl->p);
	pl->p = out;
	pl->n = L;
	pl->lo = ka;
	pl->pinf = fmin(1, pinf);
	trim(pl);
	return 0;
}

int
fl_pld_compose(struct fl_pld *a, const struct fl_pld *b, struct fl_error *err)
{
	size_t n = a->n + b->n - 1, L = pow2_at_least(n);
	double *ar, *ai, *br, *bi, *out;
	struct rfft f;

	if (a->d != b->d)
		return fl_error_set(err, FL_EINVAL, "PLDs on different grids");
	if (L > 2 * MAXBINS)
		return fl_error_set(err, FL_ELIMIT, "the composition needs "
		    "%zu bins (at most %zu): use a coarser interval", n, MAXBINS);
	ar = malloc((L / 2 + 1) * sizeof(double));
	ai = malloc((L / 2 + 1) * sizeof(double));
	br = malloc((L / 2 + 1) * sizeof(double));
	bi = malloc((L / 2 + 1) * sizeof(double));
	out = malloc(L * sizeof(double));
	if (ar == NULL || ai == NULL || br == NULL || bi == NULL ||
	    out == NULL || rfft_init(&f, L) < 0) {
		free(ar);
		free(ai);
		free(br);
		free(bi);
		free(out);
		rfft_free(&f);
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	}
	rfft_forward(&f, a->p, a->n, ar, ai);
	rfft_forward(&f, b->p, b->n, br, bi);
	for (size_t k = 0; k <= L / 2; k++) {
		double r = ar[k] * br[k] - ai[k] * bi[k];

		ai[k] = ar[k] * bi[k] + ai[k] * br[k];
		ar[k] = r;
	}
	rfft_inverse(&f, ar, ai, out);
	rfft_free(&f);
	free(ar);
	free(ai);
	free(br);
	free(bi);
	for (size_t m = 0; m < n; m++)
		if (!(out[m] > 0))
			out[m] = 0;
	free(a->p);
	a->p = out;
	a->n = n;
	a->lo += b->lo;
	a->pinf = fmin(1, 1 - (1 - a->pinf) * (1 - b->pinf));
	trim(a);
	return 0;
}

/*
 * The smallest epsilon with delta(epsilon) <= delta, where
 *   delta(eps) = p_inf + sum_{l_i > eps} p_i (1 - e^{eps - l_i}).
 * Between two grid losses delta(eps) = U - e^{eps - l_i} W with
 * U = p_inf + sum_{j >= i} p_j and W = sum_{j >= i} p_j e^{l_i - l_j}
 * (scaled to l_i, so nothing overflows for large losses).
 */
double
fl_pld_epsilon(const struct fl_pld *pl, double delta)
{
	double U = pl->pinf, W = 0, ed = exp(-pl->d);

	if (pl->pinf > delta)
		return INFINITY;
	for (size_t i = pl->n; i-- > 0;) {
		double li = (double)(pl->lo + (int64_t)i) * pl->d, below;

		W = pl->p[i] + ed * W;
		U += pl->p[i];
		below = U - ed * W;     /* delta at the loss l_{i-1} */
		if (i == 0 || below > delta) {
			if (U <= delta)
				return 0;
			return fmax(0, li + log((U - delta) / W));
		}
		if (li - pl->d <= 0)
			return 0;
	}
	return 0;
}

double
fl_pld_delta(const struct fl_pld *pl, double eps)
{
	double sum = pl->pinf;

	for (size_t i = 0; i < pl->n; i++) {
		double li = (double)(pl->lo + (int64_t)i) * pl->d;

		if (li > eps)
			sum += pl->p[i] * -expm1(eps - li);
	}
	return fmin(1, sum);
}

/* ---- the accountant ---- */

struct group {
	double q, noise;
	uint64_t steps;
};

/* Releases with the same (q, noise), their steps summed. */
static struct group *
groups(const struct fl_release *r, size_t n, size_t *ng)
{
	struct group *g = calloc(n ? n : 1, sizeof(*g));

	*ng = 0;
	if (g == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t k;

		for (k = 0; k < *ng; k++)
			if (g[k].q == r[i].q && g[k].noise == r[i].noise)
				break;
		if (k == *ng) {
			g[k].q = r[i].q;
			g[k].noise = r[i].noise;
			(*ng)++;
		}
		g[k].steps += r[i].steps;
	}
	return g;
}

/* The interval to use: the one asked for, or coarser when the
 * compositions would need more than MAXBINS bins. */
static int
choose_interval(const struct fl_release *r, size_t n, double d,
    double *out, struct fl_error *err)
{
	double width = 0, step = 0, dc = fmax(d, 1e-2);
	size_t ng;
	struct group *g = groups(r, n, &ng);

	if (g == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	for (int add = 0; add <= 1; add++) {
		double w = 0;

		for (size_t i = 0; i < ng; i++) {
			struct fl_pld pl;
			double lmin, lmax;

			step_range(g[i].q, g[i].noise, add, &lmin, &lmax);
			step = fmax(step, lmax - lmin);
			if (fl_pld_sgm(&pl, g[i].q, g[i].noise, add,
			    fmax(dc, (lmax - lmin) / 65536), err) < 0) {
				free(g);
				return -1;
			}
			w += fl_pld_width(&pl, g[i].steps) + 2 * pl.d;
			fl_pld_free(&pl);
		}
		width = fmax(width, w);
	}
	free(g);
	*out = fmax(d, fmax(width, step) * 1.25 / (double)MAXBINS);
	return 0;
}

static int
side(const struct fl_release *r, size_t n, int add, double d,
    int cumulative, int given_eps, double given, double *val,
    struct fl_error *err)
{
	struct fl_pld run = { 0 }, step = { 0 }, cache = { 0 };
	struct group *g = NULL;
	double cq = NAN, cz = NAN;
	size_t ng = 0;
	int rc = -1;

	/* Composition commutes: for the total, one self-composition per
	 * distinct (q, noise). */
	if (!cumulative && (g = groups(r, n, &ng)) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	for (size_t i = 0; i < (cumulative ? n : ng); i++) {
		double q = cumulative ? r[i].q : g[i].q;
		double z = cumulative ? r[i].noise : g[i].noise;
		uint64_t T = cumulative ? r[i].steps : g[i].steps;

		if (q != cq || z != cz) {
			fl_pld_free(&cache);
			if (fl_pld_sgm(&cache, q, z, add, d, err) < 0)
				goto out;
			cq = q;
			cz = z;
		}
		step = cache;
		if ((step.p = malloc(cache.n * sizeof(double))) == NULL) {
			fl_error_set(err, FL_ENOMEM, "out of memory");
			goto out;
		}
		memcpy(step.p, cache.p, cache.n * sizeof(double));
		if (fl_pld_self_compose(&step, T, err) < 0)
			goto out;
		if (run.p == NULL) {
			run = step;
			step.p = NULL;
		} else {
			if (fl_pld_compose(&run, &step, err) < 0)
				goto out;
			fl_pld_free(&step);
		}
		if (cumulative)
			val[i] = given_eps ? fl_pld_delta(&run, given) :
			    fl_pld_epsilon(&run, given);
	}
	if (!cumulative)
		val[0] = n == 0 ? 0 : given_eps ? fl_pld_delta(&run, given) :
		    fl_pld_epsilon(&run, given);
	rc = 0;
out:
	fl_pld_free(&run);
	fl_pld_free(&step);
	fl_pld_free(&cache);
	free(g);
	return rc;
}

int
fl_pld_account(const struct fl_account *acct, const struct fl_release *r,
    size_t n, int cumulative, int given_eps, double given,
    struct fl_privacy *out, struct fl_error *err)
{
	size_t nv = cumulative ? (n ? n : 1) : 1;
	double d = 0, *v0, *v1;
	int all_full = 1;

	for (size_t i = 0; i < n; i++) {
		if (fl_release_check(&r[i], err) < 0)
			return -1;
		if (r[i].mech != FL_MECH_GAUSSIAN)
			return fl_error_set(err, FL_EINVAL, "the pld accountant "
			    "takes the gaussian mechanism only (release %zu is "
			    "%s): use rdp", i + 1, fl_mechanism_name(r[i].mech));
		all_full &= r[i].q == 1;
	}
	if (choose_interval(r, n, acct->interval > 0 ? acct->interval :
	    DEFAULT_INTERVAL, &d, err) < 0)
		return -1;
	v0 = calloc(nv, sizeof(double));
	v1 = calloc(nv, sizeof(double));
	if (v0 == NULL || v1 == NULL) {
		free(v0);
		free(v1);
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	}
	/* With q = 1 both directions give the same PLD. */
	if (side(r, n, 0, d, cumulative, given_eps, given, v0, err) < 0 ||
	    (!all_full && side(r, n, 1, d, cumulative, given_eps, given, v1,
	    err) < 0)) {
		free(v0);
		free(v1);
		return -1;
	}
	for (size_t i = 0; i < nv; i++) {
		double v = fmax(v0[i], v1[i]);

		out[i].epsilon = given_eps ? given : v;
		out[i].delta = given_eps ? v : given;
		out[i].order = NAN;
		out[i].interval = d;
	}
	free(v0);
	free(v1);
	return 0;
}
