/* SPDX-License-Identifier: ISC */
/*
 * SecAgg+ graph parameters (Bell, Bonawitz, Gascon, Lepoint, Raykova
 * 2020): how many neighbours k each client shares its mask seeds with,
 * and the threshold t of the Shamir sharing among the k + 1 holders (the
 * neighbours and the client itself), for n clients of which a fraction may
 * be corrupt (colluding with the server) and a fraction may drop.  The
 * graph is a randomly relabelled Harary ring: each client is linked to the
 * k/2 positions either side of it.  A client's neighbours are bounded as a
 * uniform k-subset of the other n - 1 clients (hypergeometric counts), and
 * the bad events are union-bounded over the n clients:
 *
 *   privacy: some client has t corrupt neighbours, or the survivors'
 *     graph falls apart (two runs of k/2 ring positions all corrupt or
 *     dropped: n^2 ((C + D)/n)^k); together at most 2^-40;
 *   failure: some dropped client has fewer than t surviving neighbours to
 *     rebuild its seed from; at most 2^-20.
 *
 * The smallest even k that admits a t wins, with the largest such t (the
 * most shares needed, the most privacy); small n, or none, use the full
 * graph, where both events are decided exactly.  Tails are summed in log
 * space so that a million clients neither overflow nor underflow.
 */
#include <math.h>

#include "internal.h"

#define LOG2_SECURITY (-40.0)
#define LOG2_FAILURE (-20.0)
/* Up to here every even k is tried; beyond it (only for fractions near
 * the limits), k is found by doubling and bisection. */
#define LINEAR_K 2048
#define FULL_GRAPH_N 64

static double
lse(double a, double b)
{
	double hi = a > b ? a : b, lo = a > b ? b : a;

	if (lo == -HUGE_VAL)
		return hi;
	return hi + log1p(exp(lo - hi));
}

static double
lbinom(double n, double r)
{
	return lgamma(n + 1) - lgamma(r + 1) - lgamma(n - r + 1);
}

/*
 * ln P[X >= a], X hypergeometric: draws out of a population of N of which
 * K are marked.  Terms go up from a by the ratio of successive
 * probabilities; once past the mode they fall, and the sum stops when
 * they no longer count (e^-45 relative: below 2^-40 even times 10^6 terms).
 */
static double
log_hyp_tail(double N, double K, double draws, double a)
{
	double lo = fmax(0, draws - (N - K)), hi = fmin(draws, K);
	double mode = floor((draws + 1) * (K + 1) / (N + 2));
	double lp, sum;

	if (a <= lo)
		return 0;
	if (a > hi)
		return -HUGE_VAL;
	lp = lbinom(K, a) + lbinom(N - K, draws - a) - lbinom(N, draws);
	sum = lp;
	for (double x = a; x < hi; x++) {
		lp += log((K - x) * (draws - x)) -
		    log((x + 1) * (N - K - draws + x + 1));
		sum = lse(sum, lp);
		if (x >= mode && lp < sum - 45)
			break;
	}
	return sum > 0 ? 0 : sum;
}

struct model {
	double n, corrupt, dropped;     /* n, C, D */
};

/* log2 of the privacy bound for (k, t). */
static double
log2_security(const struct model *m, double k, double t)
{
	double sec, conn;

	sec = log2(m->n) + log_hyp_tail(m->n - 1, m->corrupt, k, t) / M_LN2;
	conn = m->corrupt + m->dropped == 0 ? -HUGE_VAL :
	    2 * log2(m->n) + k * log2((m->corrupt + m->dropped) / m->n);
	return lse(sec * M_LN2, conn * M_LN2) / M_LN2;
}

/* log2 of the failure bound: a dropped client with more than k - t of its
 * k neighbours dropped. */
static double
log2_failure(const struct model *m, double k, double t)
{
	return log2(m->n) +
	    log_hyp_tail(m->n - 1, m->dropped, k, k - t + 1) / M_LN2;
}

/* 1 and (t, bounds) if some t works with k neighbours: the largest t
 * meeting the failure bound (failure grows with t), if it meets the
 * privacy bound (which falls with t). */
static int
try_k(const struct model *m, uint32_t k, struct fl_secagg_params *p)
{
	uint32_t lo = 2, hi = k + 1, mid;
	double sec;

	if (log2_failure(m, k, lo) > LOG2_FAILURE)
		return 0;
	while (lo < hi) {       /* the last t in [lo, hi] meeting it */
		mid = lo + (hi - lo + 1) / 2;
		if (log2_failure(m, k, mid) <= LOG2_FAILURE)
			lo = mid;
		else
			hi = mid - 1;
	}
	/* A majority of the k + 1 holders: otherwise a server that tells
	 * two halves different survivor lists collects both shares of a
	 * client (each holder answers once, but only to its half). */
	if (2 * (uint64_t)lo <= (uint64_t)k + 1)
		return 0;
	if ((sec = log2_security(m, k, lo)) > LOG2_SECURITY)
		return 0;
	p->k = k;
	p->t = lo;
	p->log2_security = sec;
	p->log2_failure = log2_failure(m, k, lo);
	return 1;
}

/* 1 if an even k < n - 1 works, with p filled. */
static int
search_harary(const struct model *m, uint32_t n, struct fl_secagg_params *p)
{
	double frac = (m->corrupt + m->dropped) / m->n, kmin;
	uint32_t k, lo, hi, mid;

	/* The connectivity term alone needs k >= kmin. */
	if (frac >= 1)
		return 0;
	kmin = frac == 0 ? 2 :
	    ceil((LOG2_SECURITY - 2 * log2(m->n)) / log2(frac));
	if (kmin >= (double)n - 1)
		return 0;
	k = kmin < 2 ? 2 : (uint32_t)kmin;
	k += k & 1;
	for (; k < n - 1 && k <= LINEAR_K; k += 2)
		if (try_k(m, k, p))
			return 1;
	if (k >= n - 1)
		return 0;

	/* Far out: double until some k works, then bisect for the first
	 * (the bounds are monotone in k but for rounding of t).  lo
	 * always fails, hi works. */
	lo = k - 2;
	for (;;) {
		hi = lo > (n - 2) / 2 ? n - 2 : 2 * lo;
		hi -= hi & 1;
		if (hi <= lo)
			return 0;
		if (try_k(m, hi, p))
			break;
		lo = hi;
	}
	while (hi - lo > 2) {
		mid = lo + (hi - lo) / 2;
		mid -= mid & 1;
		if (try_k(m, mid, p))
			hi = mid;
		else
			lo = mid;
	}
	return try_k(m, hi, p);
}

int
fl_secagg_params(uint32_t n, double corrupt, double dropout,
    struct fl_secagg_params *p, struct fl_error *err)
{
	struct model m;
	double c, d;

	if (n < 3)
		return fl_error_set(err, FL_EINVAL,
		    "secure aggregation needs at least 3 clients, not %u",
		    (unsigned)n);
	if (!(corrupt >= 0 && corrupt < 1))
		return fl_error_set(err, FL_EINVAL,
		    "the corrupt fraction %g is not in [0, 1)", corrupt);
	if (!(dropout >= 0 && dropout < 1))
		return fl_error_set(err, FL_EINVAL,
		    "the dropout fraction %g is not in [0, 1)", dropout);
	c = fmin(fmax(ceil(corrupt * n - 1e-9), 0), (double)n);
	d = fmin(fmax(ceil(dropout * n - 1e-9), 0), (double)n);
	m.n = n;
	m.corrupt = fmin(c, (double)n - 1);
	m.dropped = fmin(d, (double)n - 1);
	p->n = n;

	if (n > FULL_GRAPH_N && search_harary(&m, n, p))
		return 0;

	/* The full graph: a client's holders are all n clients; at most C
	 * of them are corrupt, and a dropped client keeps n - D. */
	if (n - d < fmax(c + 1, 2) || 2 * (n - d) <= n)
		return fl_error_set(err, FL_EINVAL,
		    "n=%u: no threshold tolerates %.4g%% dropout with %.4g%% "
		    "corrupt clients", (unsigned)n, dropout * 100,
		    corrupt * 100);
	p->k = n - 1;
	p->t = (uint32_t)(n - d);
	p->log2_security = -HUGE_VAL;
	p->log2_failure = -HUGE_VAL;
	return 0;
}
