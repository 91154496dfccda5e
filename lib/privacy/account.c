/* SPDX-License-Identifier: ISC */
/*
 * Privacy accounting: Renyi DP of the Poisson-subsampled Gaussian and of
 * the distributed discrete Gaussian and Skellam mechanisms, conversion to
 * (epsilon, delta), composition of releases with different parameters,
 * and the inverse problems.  The PLD accountant is in pld.c.
 *
 * Everything is in log space: A_alpha can be e^1000 and the terms of its
 * series e^-1000 in the same sum.  Orders compose by adding RDP per order;
 * epsilons are never added.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "privacy/privacy.h"

#define LN2 0.693147180559945309417
#define LNPI 1.144729885849400174143
#define SQRT2 1.414213562373095048802
#define PI 3.141592653589793238463

/* The fractional series: terms to sum before giving up on the series and
 * integrating numerically instead (2153 is the most seen with sigma >= 0.3
 * on the grid of the reference values). */
#define FRAC_CAP 10000
/* Stop the series once its terms are below this fraction of the total. */
#define FRAC_REL (-30.0)

/* ---- RDP of the Poisson-subsampled Gaussian ---- */

/*
 * A sum of e^t in log space with one exp per term: the sum is kept scaled
 * by its largest term so far.
 */
struct lsum {
	double m, s;
};

static void
lsum_add(struct lsum *a, double t)
{
	if (t == -INFINITY)
		return;
	if (t > a->m) {
		a->s = a->s * exp(a->m - t) + 1;
		a->m = t;
	} else
		a->s += exp(t - a->m);
}

static double
lsum_log(const struct lsum *a)
{
	return a->s > 0 ? a->m + log(a->s) : -INFINITY;
}

#define LSUM_INIT { -INFINITY, 0 }

/* log k! for k <= n: lf[k]; NULL if n is too large to tabulate. */
static double *
log_factorials(long n)
{
	double *lf;

	if (n < 0 || n > FL_RDP_MAX_ORDER)
		return NULL;
	if ((lf = malloc(((size_t)n + 1) * sizeof(double))) == NULL)
		return NULL;
	for (long k = 0; k <= n; k++)
		lf[k] = lgamma((double)k + 1);
	return lf;
}

/* log A_alpha for integer alpha: the binomial expansion, all terms
 * positive (Mironov, Talwar, Zhang 2019, sec. 3.3).  lf: log factorials
 * up to alpha, or NULL. */
static double
log_a_int(double q, double sigma, double alpha, const double *lf)
{
	double lq = log(q), l1q = log1p(-q), s2 = 2 * sigma * sigma;
	double lg = lf ? lf[(long)alpha] : lgamma(alpha + 1);
	struct lsum acc = LSUM_INIT;
	long n = (long)alpha;

	for (long k = 0; k <= n; k++) {
		double kk = (double)k;
		double lb = lf ? lg - lf[k] - lf[n - k] :
		    lg - lgamma(kk + 1) - lgamma(alpha - kk + 1);

		lsum_add(&acc, lb + (alpha - kk) * l1q + kk * lq +
		    (kk * kk - kk) / s2);
	}
	return lsum_log(&acc);
}

/*
 * log A_alpha for fractional alpha: the integral split at z0 and each half
 * expanded with the generalised binomial series.  C(alpha, i) is positive
 * up to i = floor(alpha) + 1 and alternates after, so positive and
 * negative terms are summed apart and subtracted once.  The terms decay
 * only polynomially (their exponential parts cancel), so the stop rule is
 * relative: past the positive part, both terms decreasing and below
 * e^-30 of the total.  log |C(alpha, i)| follows its recurrence.  Returns
 * NAN if the series did not converge.
 */
static double
log_a_frac(double q, double sigma, double alpha)
{
	double lq = log(q), l1q = log1p(-q), s2 = 2 * sigma * sigma;
	double rs = SQRT2 * sigma, z0 = sigma * sigma * (l1q - lq) + 0.5;
	double fa = floor(alpha), lb = 0, p0 = INFINITY, p1 = INFINITY;
	struct lsum pos = LSUM_INIT, neg = LSUM_INIT;

	for (int i = 0; i < FRAC_CAP; i++) {
		double di = (double)i, j = alpha - di, t0, t1;
		int negative = di > fa + 1 && fmod(di - fa - 1, 2) == 1;

		if (i > 0)
			lb += log(fabs(alpha - di + 1)) - log(di);
		t0 = lb + di * lq + j * l1q + (di * di - di) / s2 +
		    fl_log_erfc((di - z0) / rs) - LN2;
		t1 = lb + j * lq + di * l1q + (j * j - j) / s2 +
		    fl_log_erfc((z0 - j) / rs) - LN2;
		lsum_add(negative ? &neg : &pos, t0);
		lsum_add(negative ? &neg : &pos, t1);
		if (di > fa + 1 && t0 < p0 && t1 < p1) {
			double tot = fl_log_sub(lsum_log(&pos), lsum_log(&neg));

			if (fmax(t0, t1) < tot + FRAC_REL)
				return tot;
		}
		p0 = t0;
		p1 = t1;
	}
	return NAN;
}

/*
 * log A_alpha by the trapezoid rule on the real line, the fallback when
 * the series does not converge.  The integrand is analytic in a strip of
 * half-width pi sigma^2 (its branch point), so with a step of a twelfth of
 * that the rule's error is about e^-38; the range covers both Gaussian
 * bumps (at 0 and at alpha) by 38 sigma.
 */
static double
log_a_quad(double q, double sigma, double alpha)
{
	double lq = log(q), l1q = log1p(-q), s2 = 2 * sigma * sigma;
	double h = fmin(sigma / 8, PI * sigma * sigma / 12);
	double lo = fmin(0, alpha) - 38 * sigma, hi = fmax(0, alpha) + 38 * sigma;
	double acc = -INFINITY, norm = log(sigma) + 0.5 * log(2 * PI);
	long n = (long)ceil((hi - lo) / h);

	for (long k = 0; k <= n; k++) {
		double z = lo + (double)k * h;
		double t = -z * z / s2 - norm +
		    alpha * fl_log_add(l1q, lq + (2 * z - 1) / s2);

		acc = fl_log_add(acc, t);
	}
	return acc + log(h);
}

static double
rdp_sgm(double q, double noise, double alpha, const double *lf)
{
	double la;

	if (!(q > 0) || !(alpha > 1))
		return 0;
	if (!(noise > 0) || isinf(alpha))
		return INFINITY;
	if (q >= 1)
		return alpha / (2 * noise * noise);
	if (alpha == floor(alpha) && alpha <= 1e6)
		la = log_a_int(q, noise, alpha, lf);
	else {
		la = log_a_frac(q, noise, alpha);
		if (isnan(la))
			la = log_a_quad(q, noise, alpha);
	}
	/* A_alpha >= 1 in exact arithmetic. */
	return fmax(0, la / (alpha - 1));
}

double
fl_rdp_sgm(double q, double noise, double alpha)
{
	return rdp_sgm(q, noise, alpha, NULL);
}

/* ---- distributed discrete Gaussian and Skellam ---- */

/*
 * tau of Kairouz, Liu, Steinke 2021 (Thm 1): how far the sum of n discrete
 * Gaussians of std sigma (grid units) is from one discrete Gaussian.  Past
 * a million terms, the rest is bounded by its largest term (k/(k+1) < 1).
 */
static double
ddg_tau(double sigma, uint64_t n)
{
	double c = 2 * PI * PI * sigma * sigma, tau = 0;
	uint64_t k, kmax = n - 1 < 1000000 ? n - 1 : 1000000;

	if (n < 2 || c / 2 > 800)
		return 0;
	for (k = 1; k <= kmax; k++)
		tau += exp(-c * (double)k / (double)(k + 1));
	if (n - 1 > kmax)
		tau += (double)(n - 1 - kmax) * exp(-c);
	return 10 * tau;
}

struct dist {
	enum fl_mechanism mech;
	double a, b, tau, d;    /* DDG: A, B, tau, dim */
	double s2, s1, mu;      /* Skellam: D2, D1, central variance */
	double ind;             /* the indicator query's noise multiplier */
};

static void
dist_init(struct dist *ds, const struct fl_release *r)
{
	double n = (double)fl_release_honest(r), sd = sqrt(n) * r->sigma;
	double d1 = r->sens1 > 0 ? r->sens1 :
	    r->sens2 * fmin(sqrt((double)r->dim), r->sens2);

	memset(ds, 0, sizeof(*ds));
	ds->mech = r->mech;
	ds->a = r->sens2 / sd;
	ds->b = d1 / sd;
	ds->d = (double)r->dim;
	ds->tau = ddg_tau(r->sigma, fl_release_honest(r));
	ds->s2 = r->sens2;
	ds->s1 = d1;
	ds->mu = n * r->sigma * r->sigma;
	ds->ind = r->indicator;
}

/* Unsampled RDP at order alpha (DDG: KLS21 Prop. 14; Skellam: AKL21),
 * composed with the indicator's Gaussian query if any. */
static double
dist_rdp(const struct dist *ds, double alpha)
{
	double e = ds->ind > 0 ? alpha / (2 * ds->ind * ds->ind) : 0;

	if (ds->mech == FL_MECH_DGAUSS) {
		double a2 = ds->a * ds->a, t = ds->tau;
		double e1 = alpha * a2 / 2 + t * ds->d;
		double e2 = alpha * (a2 + 2 * ds->b * t + t * t * ds->d) / 2;
		double e3 = alpha * pow(ds->a + sqrt(ds->d) * t, 2) / 2;

		return e + fmin(e1, fmin(e2, e3));
	}
	return e + alpha * ds->s2 * ds->s2 / (2 * ds->mu) +
	    fmin(((2 * alpha - 1) * ds->s2 * ds->s2 + 6 * ds->s1) /
	    (4 * ds->mu * ds->mu), 3 * ds->s1 / (2 * ds->mu));
}

/*
 * Poisson subsampling of a mechanism known only through its RDP: Zhu and
 * Wang 2019, Thm 5, at integer orders.  The bound is looser than the exact
 * subsampled Gaussian (its factor 3), so it is only used where no exact
 * analysis exists, and the unsampled value is taken when smaller.
 */
static double
zhu_wang(const struct dist *ds, double q, long alpha, const double *lf)
{
	double lq = log(q), l1q = log1p(-q), al = (double)alpha;
	double lg = lf ? lf[alpha] : lgamma(al + 1);
	struct lsum acc = LSUM_INIT;

	lsum_add(&acc, (al - 1) * l1q + log1p(q * (al - 1)));
	lsum_add(&acc, lg - LN2 - (lf ? lf[alpha - 2] : lgamma(al - 1)) +
	    2 * lq + (al - 2) * l1q + dist_rdp(ds, 2));
	for (long l = 3; l <= alpha; l++) {
		double dl = (double)l;
		double lb = lf ? lg - lf[l] - lf[alpha - l] :
		    lg - lgamma(dl + 1) - lgamma(al - dl + 1);

		lsum_add(&acc, log(3.0) + lb + (al - dl) * l1q + dl * lq +
		    (dl - 1) * dist_rdp(ds, dl));
	}
	return lsum_log(&acc) / (al - 1);
}

static double
dist_rdp_sampled(const struct dist *ds, double q, double alpha,
    const double *lf)
{
	double plain = dist_rdp(ds, alpha);
	double up = ceil(alpha);

	if (q >= 1)
		return plain;
	/* RDP grows with the order: a fractional order takes the bound of
	 * the next integer. */
	if (up > 1e5)
		return plain;
	return fmin(plain, zhu_wang(ds, q, (long)up, lf));
}

/* ---- orders ---- */

static int
add_order(struct fl_orders *o, double a, struct fl_error *err)
{
	char b[FL_NUMBUF];

	if (!(a > 1) || a > FL_RDP_MAX_ORDER)
		return fl_error_set(err, FL_EINVAL, "order '%s' is not in "
		    "(1, %d]", fl_format_double(b, a), FL_RDP_MAX_ORDER);
	if (o->n == FL_RDP_MAX_ORDERS)
		return fl_error_set(err, FL_ELIMIT, "more than %d orders",
		    FL_RDP_MAX_ORDERS);
	o->a[o->n++] = a;
	return 0;
}

static int
cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

/* 1.1, 1.2, ..., 10.9 as Opacus and dp_accounting write them. */
static void
add_tenths(struct fl_orders *o)
{
	for (int k = 1; k < 100; k++)
		o->a[o->n++] = 1.0 + k / 10.0;
}

int
fl_orders_parse(struct fl_orders *o, const char *spec, struct fl_error *err)
{
	static const double big[] = { 72, 80, 96, 112, 128, 160, 192, 224,
		256, 320, 384, 448, 512, 640, 768, 896, 1024, 1280, 1536, 2048 };
	size_t k = 0;

	o->n = 0;
	if (spec == NULL || strcmp(spec, "default") == 0) {
		add_tenths(o);
		for (int a = 11; a <= 64; a++)
			o->a[o->n++] = a;
		for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++)
			o->a[o->n++] = big[i];
	} else if (strcmp(spec, "opacus") == 0) {
		add_tenths(o);
		for (int a = 12; a <= 63; a++)
			o->a[o->n++] = a;
	} else if (strcmp(spec, "dp-accounting") == 0) {
		add_tenths(o);
		for (int a = 11; a <= 63; a++)
			o->a[o->n++] = a;
		for (int a = 128; a <= 1024; a *= 2)
			o->a[o->n++] = a;
	} else {
		char item[64];

		for (const char *p = spec; ; p += k + 1) {
			char *dash;
			double a, b;
			struct fl_error e;

			k = strcspn(p, ",");
			if (k == 0 || k >= sizeof(item))
				return fl_error_set(err, FL_EINVAL, "bad order "
				    "list '%s'", spec);
			memcpy(item, p, k);
			item[k] = '\0';
			/* LO-HI: every integer from LO to HI. */
			if ((dash = strchr(item + 1, '-')) != NULL) {
				*dash = '\0';
				if (fl_parse_double(item, 2, FL_RDP_MAX_ORDER, &a,
				    &e) < 0 || fl_parse_double(dash + 1, a,
				    FL_RDP_MAX_ORDER, &b, &e) < 0 ||
				    a != floor(a) || b != floor(b))
					return fl_error_set(err, FL_EINVAL, "bad "
					    "order range '%s-%s': want integers "
					    "2 <= LO <= HI <= %d", item, dash + 1,
					    FL_RDP_MAX_ORDER);
				for (; a <= b; a++)
					if (add_order(o, a, err) < 0)
						return -1;
			} else {
				if (fl_parse_double(item, -DBL_MAX, DBL_MAX, &a,
				    &e) < 0)
					return fl_error_set(err, FL_EINVAL, "bad "
					    "order '%s': %s", item, e.msg);
				if (add_order(o, a, err) < 0)
					return -1;
			}
			if (p[k] == '\0')
				break;
		}
	}
	qsort(o->a, o->n, sizeof(o->a[0]), cmp_double);
	k = 0;
	for (size_t i = 0; i < o->n; i++)
		if (k == 0 || o->a[i] != o->a[k - 1])
			o->a[k++] = o->a[i];
	o->n = k;
	return 0;
}

/* ---- RDP of a release, conversion ---- */

int
fl_rdp_release(const struct fl_release *r, const struct fl_orders *o,
    double *rdp, struct fl_error *err)
{
	struct dist ds;
	double *lf;

	if (fl_release_check(r, err) < 0)
		return -1;
	/* The orders are sorted: log factorials up to the last. */
	lf = o->n > 0 ? log_factorials((long)ceil(o->a[o->n - 1])) : NULL;
	if (r->mech == FL_MECH_GAUSSIAN) {
		for (size_t i = 0; i < o->n; i++)
			rdp[i] = rdp_sgm(r->q, r->noise, o->a[i], lf);
	} else {
		dist_init(&ds, r);
		for (size_t i = 0; i < o->n; i++)
			rdp[i] = dist_rdp_sampled(&ds, r->q, o->a[i], lf);
	}
	free(lf);
	return 0;
}

/*
 * epsilon from RDP at each order, the smallest over the orders.  The
 * tight conversion is Balle et al. 2020, Thm 21 (orders <= 1.01 are left
 * out: it is unstable there), with the total-variation shortcut: when
 * delta >= sqrt(1 - e^-r), (0, delta)-DP holds outright.  The classic one
 * is Mironov 2017, Prop. 3, which every number published before 2021 used.
 */
double
fl_rdp_epsilon(const struct fl_orders *o, const double *rdp, double delta,
    int classic, size_t *best)
{
	double eps = INFINITY, ld = log(delta);

	if (best != NULL)
		*best = 0;
	for (size_t i = 0; i < o->n; i++) {
		double a = o->a[i], r = fmax(0, rdp[i]), e;

		if (!(r < INFINITY))
			continue;
		if (classic)
			e = r - ld / (a - 1);
		else if (a <= 1.01)
			continue;
		else if (delta * delta + expm1(-r) > 0)
			e = 0;
		else
			e = r + log1p(-1 / a) - (ld + log(a)) / (a - 1);
		if (e < eps) {
			eps = e;
			if (best != NULL)
				*best = i;
		}
	}
	return fmax(0, eps);
}

/* The inverse of fl_rdp_epsilon: the smallest delta for epsilon. */
double
fl_rdp_delta(const struct fl_orders *o, const double *rdp, double epsilon,
    int classic, size_t *best)
{
	double ld = 0;

	if (best != NULL)
		*best = 0;
	for (size_t i = 0; i < o->n; i++) {
		double a = o->a[i], r = fmax(0, rdp[i]), l;

		if (!(r < INFINITY))
			continue;
		if (classic)
			l = (a - 1) * (r - epsilon);
		else if (a <= 1.01)
			continue;
		else
			l = fmin((a - 1) * (r - epsilon + log1p(-1 / a)) - log(a),
			    r > 0 ? 0.5 * log(-expm1(-r)) : -INFINITY);
		if (l < ld) {
			ld = l;
			if (best != NULL)
				*best = i;
		}
	}
	return exp(ld);
}

/* ---- accountants over a list of releases ---- */

static int
same_params(const struct fl_release *a, const struct fl_release *b)
{
	return a->mech == b->mech && a->q == b->q && a->noise == b->noise &&
	    (a->mech == FL_MECH_GAUSSIAN || (a->sigma == b->sigma &&
	    a->sens2 == b->sens2 && a->sens1 == b->sens1 &&
	    a->dim == b->dim && a->clients == b->clients &&
	    a->colluding == b->colluding && a->indicator == b->indicator));
}

/* Index of the first release with the same parameters as r[i]. */
static size_t *
distinct(const struct fl_release *r, size_t n)
{
	size_t *first = malloc((n ? n : 1) * sizeof(*first));
	size_t *uniq = malloc((n ? n : 1) * sizeof(*uniq)), nu = 0;

	if (first == NULL || uniq == NULL) {
		free(first);
		free(uniq);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		size_t u;

		for (u = 0; u < nu; u++)
			if (same_params(&r[uniq[u]], &r[i]))
				break;
		if (u == nu)
			uniq[nu++] = i;
		first[i] = uniq[u];
	}
	free(uniq);
	return first;
}

static void
set_answer(struct fl_privacy *p, int given_eps, double given, double v,
    double order)
{
	if (given_eps) {
		p->epsilon = given;
		p->delta = v;
	} else {
		p->epsilon = v;
		p->delta = given;
	}
	p->order = order;
}

static int
run_rdp(const struct fl_account *acct, const struct fl_release *r, size_t n,
    int cumulative, int given_eps, double given, struct fl_privacy *out,
    struct fl_error *err)
{
	struct fl_orders defo;
	const struct fl_orders *o = acct->orders;
	int classic = acct->accountant == FL_ACC_RDP_CLASSIC;
	double *step, *total;
	size_t *first, no;
	int rc = -1;

	if (o == NULL) {
		fl_orders_parse(&defo, NULL, NULL);
		o = &defo;
	}
	no = o->n;
	step = calloc(n * no + 1, sizeof(double));
	total = calloc(no + 1, sizeof(double));
	first = distinct(r, n);
	if (step == NULL || total == NULL || first == NULL) {
		fl_error_set(err, FL_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (first[i] == i && fl_rdp_release(&r[i], o, step + i * no,
		    err) < 0)
			goto out;
		for (size_t k = 0; k < no; k++)
			total[k] += (double)r[i].steps * step[first[i] * no + k];
		if (cumulative || i == n - 1) {
			size_t b;
			double v = given_eps ?
			    fl_rdp_delta(o, total, given, classic, &b) :
			    fl_rdp_epsilon(o, total, given, classic, &b);

			set_answer(&out[cumulative ? i : 0], given_eps, given, v,
			    o->a[b]);
		}
	}
	if (n == 0)
		set_answer(out, given_eps, given, 0, NAN);
	rc = 0;
out:
	free(step);
	free(total);
	free(first);
	return rc;
}

static int
run_exact(const struct fl_release *r, size_t n, int cumulative,
    int given_eps, double given, struct fl_privacy *out, struct fl_error *err)
{
	double mu2 = 0;
	char b[FL_NUMBUF];

	for (size_t i = 0; i < n; i++) {
		if (fl_release_check(&r[i], err) < 0)
			return -1;
		if (r[i].mech != FL_MECH_GAUSSIAN || r[i].q != 1)
			return fl_error_set(err, FL_EINVAL, "the exact accountant "
			    "takes the gaussian mechanism with q = 1 only "
			    "(release %zu: %s, q '%s')", i + 1,
			    fl_mechanism_name(r[i].mech),
			    fl_format_double(b, r[i].q));
		/* T Gaussians of std z compose to one of std z / sqrt(T). */
		mu2 += (double)r[i].steps / (r[i].noise * r[i].noise);
		if (cumulative || i == n - 1) {
			double mu = sqrt(mu2), v = given_eps ?
			    fl_gaussian_delta(mu, given) :
			    fl_gaussian_epsilon(mu, given);

			set_answer(&out[cumulative ? i : 0], given_eps, given, v,
			    NAN);
		}
	}
	if (n == 0)
		set_answer(out, given_eps, given, 0, NAN);
	return 0;
}

const char *
fl_accountant_name(enum fl_accountant a)
{
	switch (a) {
	case FL_ACC_RDP:
		return "rdp";
	case FL_ACC_RDP_CLASSIC:
		return "rdp-classic";
	case FL_ACC_PLD:
		return "pld";
	case FL_ACC_EXACT:
		return "exact";
	}
	return NULL;
}

int
fl_accountant_parse(const char *s, enum fl_accountant *a)
{
	for (int k = FL_ACC_RDP; k <= FL_ACC_EXACT; k++)
		if (strcmp(s, fl_accountant_name((enum fl_accountant)k)) == 0) {
			*a = (enum fl_accountant)k;
			return 0;
		}
	return -1;
}

int
fl_account_run(const struct fl_account *acct, const struct fl_release *r,
    size_t n, int cumulative, int given_eps, double given,
    struct fl_privacy *out, struct fl_error *err)
{
	int rc;

	switch (acct->accountant) {
	case FL_ACC_RDP:
	case FL_ACC_RDP_CLASSIC:
		rc = run_rdp(acct, r, n, cumulative, given_eps, given, out, err);
		break;
	case FL_ACC_EXACT:
		rc = run_exact(r, n, cumulative, given_eps, given, out, err);
		break;
	case FL_ACC_PLD:
		rc = fl_pld_account(acct, r, n, cumulative, given_eps, given,
		    out, err);
		break;
	default:
		return fl_error_set(err, FL_EINVAL, "unknown accountant");
	}
	if (rc == 0)
		for (size_t i = 0; i < (cumulative ? n : 1); i++)
			if (acct->accountant != FL_ACC_PLD)
				out[i].interval = NAN;
	return rc;
}

/*
 * The noise multiplier that meets a target epsilon: fixed releases (the
 * ledger so far) plus tmpl with its noise to be found.  epsilon falls as
 * the noise grows; the root is bracketed by doubling and found by the
 * Illinois variant of regula falsi on log(noise), and the upper end of the
 * final bracket is returned, so the answer always meets the target.
 */
/* Noise multiplier z: the Gaussian's, or for distributed noise each
 * share's sigma = z sens / sqrt(clients), so that the clients' shares sum
 * to z sens (before the colluding ones are taken out). */
static void
set_multiplier(struct fl_release *r, double z)
{
	if (r->mech != FL_MECH_GAUSSIAN) {
		r->sigma = z * r->sens2 / sqrt((double)r->clients);
		r->noise = fl_release_noise(r);
	} else {
		r->noise = z;
	}
}

double
fl_round_up_6(double x)
{
	char buf[32];
	double y;

	snprintf(buf, sizeof(buf), "%.5e", x);
	y = strtod(buf, NULL);
	if (y < x) {
		/* One unit in the sixth digit up, snapped to its decimal. */
		snprintf(buf, sizeof(buf), "%.5e",
		    y + pow(10, floor(log10(y)) - 5));
		y = strtod(buf, NULL);
	}
	return y;
}

int
fl_account_noise(const struct fl_account *acct,
    const struct fl_release *fixed, size_t nfixed,
    const struct fl_release *tmpl, double target, double delta,
    double *noise, struct fl_privacy *got, struct fl_error *err)
{
	struct fl_release *all;
	struct fl_privacy p;
	double lo, hi, flo, fhi, x;
	int side = 0;

#define EVAL(z, f) do { \
	set_multiplier(&all[nfixed], (z)); \
	if (fl_account_run(acct, all, nfixed + 1, 0, 0, delta, &p, err) < 0) \
		goto fail; \
	(f) = p.epsilon - target; \
} while (0)

	if (tmpl->mech != FL_MECH_GAUSSIAN && (tmpl->clients == 0 ||
	    !(tmpl->sens2 > 0)))
		return fl_error_set(err, FL_EINVAL, "distributed noise needs "
		    "its clients and sensitivity to be solved for");
	if ((all = malloc((nfixed + 1) * sizeof(*all))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	if (nfixed > 0)
		memcpy(all, fixed, nfixed * sizeof(*all));
	all[nfixed] = *tmpl;

	/* Bracket: f(lo) > 0 >= f(hi). */
	hi = 1;
	EVAL(hi, fhi);
	lo = hi;
	flo = fhi;
	if (fhi > 0) {
		while (fhi > 0) {
			lo = hi;
			flo = fhi;
			hi *= 2;
			if (hi > 1e6) {
				free(all);
				return fl_error_set(err, FL_EINVAL, "no noise "
				    "multiplier up to 1e6 meets the target "
				    "(spent so far, or delta too small)");
			}
			EVAL(hi, fhi);
		}
	} else {
		while (flo <= 0) {
			hi = lo;
			fhi = flo;
			lo /= 2;
			if (lo < 1e-6) {
				/* Anything above hi is fine. */
				*noise = fl_round_up_6(hi);
				EVAL(*noise, fhi);
				*got = p;
				free(all);
				return 0;
			}
			EVAL(lo, flo);
		}
	}
	for (int it = 0; it < 200 && hi - lo > 1e-9 * hi; it++) {
		double f, llo = log(lo), lhi = log(hi);

		x = isfinite(flo) ? exp((llo * fhi - lhi * flo) / (fhi - flo)) :
		    sqrt(lo * hi);
		/* Keep strictly inside; bisect when regula falsi stalls. */
		if (!(x > lo && x < hi) || it % 8 == 7)
			x = sqrt(lo * hi);
		EVAL(x, f);
		if (f > 0) {
			lo = x;
			flo = f;
			if (side == -1)
				fhi /= 2;
			side = -1;
		} else {
			hi = x;
			fhi = f;
			if (side == 1)
				flo /= 2;
			side = 1;
		}
	}
	/* What a user copies is the text's 6 digits: rounded up, so that the
	 * printed multiplier meets the target too, and charged as printed. */
	*noise = fl_round_up_6(hi);
	EVAL(*noise, fhi);
	*got = p;
	free(all);
	return 0;
fail:
	free(all);
	return -1;
#undef EVAL
}
