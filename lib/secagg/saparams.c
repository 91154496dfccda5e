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
 *   privacy: some client has more than c corrupt neighbours, or the
 *     survivors' graph falls apart (two runs of k/2 ring positions all
 *     corrupt or dropped: n^2 ((C + D)/n)^k); each at most 2^-41;
 *   failure: some dropped client has fewer than t surviving neighbours to
 *     rebuild its seed from; at most 2^-20.
 *
 * A server that lies about who survived may tell some of a client's
 * holders that it survived and others that it dropped, and get self-mask
 * shares from the first and mask-key shares from the second; the c
 * corrupt holders answer both ways.  Honest holders answer once, so the
 * two sets of t share each other's corrupt holders only: 2t - c <= k + 1
 * holders would do, and the rule takes 2t > k + 1 + c.
 *
 * The smallest even k that admits a t wins, with the largest such t (the
 * most shares needed, the most privacy); small n, or none, use the full
 * graph, where c = C and the events are decided exactly.  Tails are
 * summed in log space so that a million clients neither overflow nor
 * underflow.
 */
#include <math.h>
#include <string.h>

#include "secagg/internal.h"

/* Each of the two privacy events gets half of the 2^-40 budget. */
#define LOG2_EACH (-41.0)
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

/* log2 of the chance that some client has more than c corrupt
 * neighbours out of k. */
static double
log2_corrupt_tail(const struct model *m, double k, double c)
{
	return log2(m->n) + log_hyp_tail(m->n - 1, m->corrupt, k, c + 1) /
	    M_LN2;
}

/* log2 of the chance that the survivors' graph falls apart. */
static double
log2_disconnect(const struct model *m, double k)
{
	if (m->corrupt + m->dropped == 0)
		return -HUGE_VAL;
	return 2 * log2(m->n) + k * log2((m->corrupt + m->dropped) / m->n);
}

/* log2 of the failure bound: a dropped client with more than k - t of its
 * k neighbours dropped. */
static double
log2_failure(const struct model *m, double k, double t)
{
	return log2(m->n) +
	    log_hyp_tail(m->n - 1, m->dropped, k, k - t + 1) / M_LN2;
}

/* The corrupt holders to count for k neighbours: the smallest c such
 * that no client has more than c corrupt neighbours, but with chance at
 * most 2^-41.  With the full graph it is C itself. */
static uint32_t
corrupt_holders(const struct model *m, uint32_t k)
{
	uint32_t lo = 0, hi = (uint32_t)fmin(m->corrupt, k), mid;

	if (k >= m->n - 1)
		return hi;
	while (lo < hi) {       /* the tail falls with c; hi always meets it */
		mid = lo + (hi - lo) / 2;
		if (log2_corrupt_tail(m, k, mid) <= LOG2_EACH)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* The smallest threshold that a server lying about the survivors cannot
 * beat: two sets of t holders that agree only in the c corrupt ones need
 * 2t - c <= k + 1 holders, so 2t > k + 1 + c. */
static uint32_t
safe_threshold(uint32_t k, uint32_t c)
{
	uint32_t t = (uint32_t)(((uint64_t)k + 1 + c) / 2 + 1);

	return t < 2 ? 2 : t;
}

/* 1 and p filled if some t works with k neighbours: the largest t meeting
 * the failure bound (failure grows with t), if it is safe. */
static int
try_k(const struct model *m, uint32_t k, struct fl_secagg_params *p)
{
	uint32_t lo = 2, hi = k + 1, mid, c;
	double dis = log2_disconnect(m, k);

	if (dis > LOG2_EACH || log2_failure(m, k, lo) > LOG2_FAILURE)
		return 0;
	while (lo < hi) {       /* the last t in [lo, hi] meeting it */
		mid = lo + (hi - lo + 1) / 2;
		if (log2_failure(m, k, mid) <= LOG2_FAILURE)
			lo = mid;
		else
			hi = mid - 1;
	}
	c = corrupt_holders(m, k);
	if (lo < safe_threshold(k, c))
		return 0;
	p->k = k;
	p->t = lo;
	p->corrupt_holders = c;
	p->log2_security = lse(log2_corrupt_tail(m, k, c) * M_LN2,
	    dis * M_LN2) / M_LN2;
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
	    ceil((LOG2_EACH - 2 * log2(m->n)) / log2(frac));
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

static int
model_init(struct model *m, uint32_t n, double corrupt, double dropout,
    struct fl_error *err)
{
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
	m->n = n;
	m->corrupt = fl_secagg_count(n, corrupt);
	m->dropped = fl_secagg_count(n, dropout);
	return 0;
}

uint32_t
fl_secagg_count(uint32_t n, double fraction)
{
	double c = fmin(fmax(ceil(fraction * n - 1e-9), 0), (double)n - 1);

	return (uint32_t)c;
}

uint32_t
fl_secagg_quorum(uint32_t n, uint32_t t, uint32_t corrupt)
{
	uint32_t q = (uint32_t)(((uint64_t)n + corrupt) / 2 + 1);

	return q > t ? q : t;
}

int
fl_secagg_params(uint32_t n, double corrupt, double dropout,
    struct fl_secagg_params *p, struct fl_error *err)
{
	struct model m = { 0 };

	memset(p, 0, sizeof(*p));
	if (model_init(&m, n, corrupt, dropout, err) < 0)
		return -1;
	p->n = n;
	p->corrupt = (uint32_t)m.corrupt;
	/* The consistency round needs a majority of all clients, counting
	 * the corrupt ones, to survive: then no two survivor lists are
	 * both confirmed.  Neither graph can do without it. */
	if (2 * (m.n - m.dropped) <= m.n + m.corrupt)
		return fl_error_set(err, FL_EINVAL,
		    "n=%u: with %.4g%% corrupt clients no round survives "
		    "%.4g%% dropout (the survivors must be a majority of the "
		    "clients counting the corrupt ones twice)", (unsigned)n,
		    corrupt * 100, dropout * 100);

	if (n > FULL_GRAPH_N && search_harary(&m, n, p))
		return 0;

	/* The full graph: a client's holders are all n clients, at most C
	 * of them corrupt, and a dropped client keeps n - D. */
	p->k = n - 1;
	p->t = (uint32_t)(m.n - m.dropped);
	p->corrupt_holders = p->corrupt;
	if (p->t < safe_threshold(p->k, p->corrupt))
		return fl_error_set(err, FL_EINVAL,
		    "n=%u: no threshold tolerates %.4g%% dropout with %.4g%% "
		    "corrupt clients", (unsigned)n, dropout * 100,
		    corrupt * 100);
	p->log2_security = -HUGE_VAL;
	p->log2_failure = -HUGE_VAL;
	return 0;
}

int
fl_secagg_check(uint32_t n, uint32_t k, uint32_t t, uint32_t corrupt,
    uint32_t *corrupt_holders_out, struct fl_error *err)
{
	struct model m = { n, corrupt, 0 };
	uint32_t c, safe;

	if (n < 3)
		return fl_error_set(err, FL_EINVAL, "%u clients: secure "
		    "aggregation needs at least 3", (unsigned)n);
	if (corrupt >= n)
		return fl_error_set(err, FL_EINVAL, "%u corrupt clients of %u",
		    (unsigned)corrupt, (unsigned)n);
	if (k < 1 || k > n - 1 || (k < n - 1 && k % 2 != 0))
		return fl_error_set(err, FL_EINVAL, "%u neighbours for %u "
		    "clients: must be even and below %u, or %u (the full "
		    "graph)", (unsigned)k, (unsigned)n, (unsigned)n - 1,
		    (unsigned)n - 1);
	if (t < 2 || t > k + 1)
		return fl_error_set(err, FL_EINVAL, "threshold %u with %u "
		    "neighbours: must be 2 to %u", (unsigned)t, (unsigned)k,
		    (unsigned)k + 1);
	c = corrupt_holders(&m, k);
	safe = safe_threshold(k, c);
	if (t < safe)
		return fl_error_set(err, FL_EINVAL, "threshold %u of %u share "
		    "holders, of which %u may be corrupt: must be at least %u "
		    "(more than (k + 1 + %u) / 2), or a server lying about "
		    "who dropped could unmask a client", (unsigned)t,
		    (unsigned)k + 1, (unsigned)c, (unsigned)safe, (unsigned)c);
	if (corrupt_holders_out != NULL)
		*corrupt_holders_out = c;
	return 0;
}

int
fl_sa_policy_params(uint32_t n, const struct fl_sa_policy *pol,
    struct fl_secagg_params *p, struct fl_error *err)
{
	uint32_t c;

	if (pol->degree == 0) {
		if (fl_secagg_params(n, pol->corrupt, pol->dropout, p, err) < 0)
			return -1;
		if (pol->threshold == 0)
			return 0;
		p->t = pol->threshold;
	} else {
		struct model m = { 0 };

		if (model_init(&m, n, pol->corrupt, pol->dropout, err) < 0)
			return -1;
		if (pol->degree > n - 1)
			return fl_error_set(err, FL_EINVAL, "%u neighbours: %u "
			    "clients have at most %u", (unsigned)pol->degree,
			    (unsigned)n, (unsigned)n - 1);
		memset(p, 0, sizeof(*p));
		p->n = n;
		p->k = pol->degree;
		p->corrupt = (uint32_t)m.corrupt;
		/* A given graph: the smallest safe threshold, which
		 * tolerates the most dropouts. */
		p->t = pol->threshold ? pol->threshold :
		    safe_threshold(p->k, corrupt_holders(&m, p->k));
		p->log2_security = p->log2_failure = NAN;
	}
	if (fl_secagg_check(n, p->k, p->t, p->corrupt, &c, err) < 0)
		return -1;
	p->corrupt_holders = c;
	return 0;
}
