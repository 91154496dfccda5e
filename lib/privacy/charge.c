/* SPDX-License-Identifier: ISC */
/*
 * What a release is charged: the release a noised record stands for
 * (fl_release_from_record) held to the rules a spend must follow (noise
 * from a seed, shuffled batches), set by the round's cohort and by what a
 * command line overrides (rate, steps or epochs, round, clip), and the
 * rules and arithmetic of a release given by options (which options go
 * with which mechanism, epochs to steps, the shares of distributed noise).
 * fl-account's record loop and option parsing were where this lived; here
 * it is one place the accountant's input is built, and unit-tested.
 */
#include <math.h>
#include <string.h>

#include "privacy/privacy.h"

uint64_t
fl_steps_ceil(double x)
{
	double r = round(x);

	if (fabs(x - r) <= 1e-9 * fmax(1, r))
		return (uint64_t)r;
	return (uint64_t)ceil(x);
}

uint64_t
fl_release_steps(const struct fl_release *r, size_t n)
{
	uint64_t t = 0;

	/* At most 2^40 a release: only some 2^24 of them could wrap it;
	 * the count saturates instead. */
	for (size_t i = 0; i < n; i++)
		if (__builtin_add_overflow(t, r[i].steps, &t))
			return UINT64_MAX;
	return t;
}

int
fl_steps_epochs(uint64_t *steps, double epochs, uint64_t population,
    uint64_t batch, double q, struct fl_error *err)
{
	double t = population > 0 && batch > 0 ?
	    epochs * (double)population / (double)batch : epochs / q;

	if (t > (double)((uint64_t)1 << 40))
		return fl_error_set(err, FL_EINVAL, "too many steps");
	*steps = fl_steps_ceil(t);
	if (*steps < 1)
		*steps = 1;
	return 0;
}

void
fl_release_shares(struct fl_release *r, double corrupt, int solve)
{
	/* Solving: a share's sigma for multiplier 1, to be replaced by the
	 * solver's. */
	if (solve)
		r->sigma = r->sens2 / sqrt((double)r->clients);
	/* The shares of colluding clients protect no one. */
	r->colluding = (uint64_t)ceil((isnan(corrupt) ?
	    FL_CORRUPT_DEFAULT : corrupt) * (double)r->clients);
	r->noise = fl_release_noise(r);
}

int
fl_release_from_options(struct fl_release *r, double indicator,
    double corrupt, int solve, struct fl_error *err)
{
	const char *m = fl_mechanism_name(r->mech);

	if (r->mech != FL_MECH_GAUSSIAN) {
		if (r->noise > 0)
			return fl_error_set(err, FL_EINVAL, "-m %s takes "
			    "--sigma, not --noise", m);
		if (solve && r->sigma > 0)
			return fl_error_set(err, FL_EINVAL, "--target-epsilon "
			    "solves for the noise: drop --sigma");
		if ((r->sigma == 0 && !solve) || r->sens2 == 0 ||
		    r->clients == 0 || r->dim == 0)
			return fl_error_set(err, FL_EINVAL, "-m %s needs "
			    "--sigma (or --target-epsilon), --clients, "
			    "--sensitivity and --dim", m);
		r->indicator = indicator;
		fl_release_shares(r, corrupt, solve);
		return 0;
	}
	if (!isnan(corrupt))
		return fl_error_set(err, FL_EINVAL, "--corrupt is for noise "
		    "summed from clients' shares (-m discrete-gaussian or "
		    "skellam, or records with dp.shares)");
	if (r->sigma > 0 || r->sens2 > 0 || r->sens1 > 0 || r->dim > 0)
		return fl_error_set(err, FL_EINVAL, "--sigma, --sensitivity "
		    "and --dim are for -m discrete-gaussian or skellam");
	if (solve && r->noise > 0)
		return fl_error_set(err, FL_EINVAL, "--target-epsilon solves "
		    "for the noise: drop --noise");
	if (!solve && r->noise == 0)
		return fl_error_set(err, FL_EINVAL, "a gaussian release needs "
		    "--noise");
	if (solve)
		r->noise = 1;
	/* The update's and the indicator's Gaussian queries compose into
	 * one: z^-2 = z_update^-2 + sigma_b^-2. */
	if (indicator > 0) {
		if (solve)
			return fl_error_set(err, FL_EINVAL, "--indicator-noise "
			    "with --target-epsilon: give --noise");
		r->noise = fl_noise_indicator(r->noise, indicator);
	}
	return 0;
}

int
fl_cohort_apply(struct fl_release *r, const struct fl_cohort *c,
    const char *name, struct fl_error *err)
{
	if (r->round != FL_ROUND_NONE && r->round != c->round)
		return fl_error_set(err, FL_EINVAL, "round %llu, but the cohort "
		    "%s is for round %llu", (unsigned long long)r->round, name,
		    (unsigned long long)c->round);
	if (r->clients > c->size)
		return fl_error_set(err, FL_EINVAL, "%llu clients summed, more "
		    "than the %llu of the cohort %s",
		    (unsigned long long)r->clients,
		    (unsigned long long)c->size, name);
	r->round = c->round;
	r->q = c->q;
	if (c->seeded)
		r->not_private |= FL_NOT_PRIVATE_SAMPLING;
	return 0;
}

int
fl_release_charge(struct fl_release *r, const struct fl_record *rec,
    const struct fl_charge *c, unsigned *seen, struct fl_error *err)
{
	unsigned not_private = 0;
	const char *v;

	*seen = 0;
	/* Noise from --seed can be recomputed and removed: the ledger takes
	 * it only when told the spend is not private. */
	if (fl_meta_get(rec, "dp.seeded") != NULL) {
		if (!c->allow_seeded)
			return fl_error_set(err, FL_EINVAL, "noise from a seed "
			    "(dp.seeded=yes), which anyone who knows the seed "
			    "can remove: not private (spend it with "
			    "--not-private)");
		*seen |= FL_CHARGE_SEEDED;
		not_private |= FL_NOT_PRIVATE_NOISE;
	}
	/* The accountants amplify by Poisson sampling; shuffled batches are
	 * not that, and the gap is real (Chua et al. 2024). */
	if ((v = fl_meta_get(rec, "dp.sampling")) != NULL &&
	    strcmp(v, "shuffle") == 0) {
		if (!c->allow_shuffle)
			return fl_error_set(err, FL_EINVAL, "batches drawn by "
			    "shuffling (dp.sampling=shuffle), which the "
			    "accountant's Poisson sampling does not cover: "
			    "train with Poisson sampling (fl-train --dp's "
			    "default), or charge it as Poisson with "
			    "--shuffle-as-poisson (an approximation)");
		*seen |= FL_CHARGE_SHUFFLED;
	}
	if (fl_release_from_record(r, rec, c->population, c->corrupt, err) < 0)
		return -1;
	/* Fewer shares summed than the noise was split into: each share
	 * carried 1/shares of the variance, so the sum has less noise than
	 * the plan, and costs more than the operator budgeted for. */
	if (r->shares > 1 && r->clients < r->shares) {
		char why[FL_SHORT_TEXT];

		*seen |= FL_CHARGE_SHORT;
		if (!c->allow_short)
			return fl_error_set(err, FL_EINVAL, "%s (spend it anyway "
			    "with --force)", fl_release_short(r, why));
	}
	r->not_private = not_private;
	if (c->cohort != NULL && fl_cohort_apply(r, c->cohort, c->cohort_name,
	    err) < 0)
		return -1;
	return 0;
}

/*
 * The planned share count when clients drop: the largest m with
 * P(X < m) <= FL_SHORT_RISK, X ~ Binomial(n, p) the clients whose shares
 * reach the sum.  Exact (the pmf summed in log space) up to 10^6 trials;
 * beyond, the normal approximation, whose error there is far below one
 * client.
 */
uint64_t
fl_shares_planned(uint64_t n, double p)
{
	const double z = 2.3263478740408408;   /* Phi^-1(0.99) */
	double lc, cdf = 0, lp = log(p), lq = log1p(-p);
	uint64_t m;

	if (p >= 1)
		return n;
	if (n > 1000000) {
		double mean = (double)n * p, sd = sqrt(mean * (1 - p));
		double low = floor(mean - z * sd);

		return low < 1 ? 0 : (uint64_t)low;
	}
	lc = lgamma((double)n + 1);
	for (m = 0; m < n; m++) {
		double k = (double)m;

		cdf += exp(lc - lgamma(k + 1) - lgamma((double)n - k + 1) +
		    k * lp + ((double)n - k) * lq);
		if (cdf > FL_SHORT_RISK)
			break;
	}
	return m;       /* P(X < m) <= risk < P(X < m + 1) */
}

const char *
fl_release_short(const struct fl_release *r, char buf[FL_SHORT_TEXT])
{
	int k = snprintf(buf, FL_SHORT_TEXT, "noise from %llu of the %llu "
	    "planned shares: multiplier %.4g", (unsigned long long)r->clients,
	    (unsigned long long)r->shares, fl_release_noise(r));

	if (r->planned > 0 && k > 0 && k < FL_SHORT_TEXT)
		snprintf(buf + k, (size_t)(FL_SHORT_TEXT - k), ", planned %.4g",
		    r->planned);
	return buf;
}

int
fl_charge_check(const struct fl_charge *c, struct fl_error *err)
{
	if (c->cohort != NULL && c->cohort->seeded && !c->allow_seeded)
		return fl_error_set(err, FL_EINVAL, "a cohort drawn from a "
		    "seed (cohort.seeded=yes): whoever knows the seed knows "
		    "who took part, and sampling amplifies nothing against "
		    "them: not private (spend it with --not-private)");
	return 0;
}

int
fl_release_override(struct fl_release *r, const struct fl_charge *c,
    struct fl_error *err)
{
	if (c->q > 0)
		r->q = c->q;
	if (r->q == 0)
		return fl_error_set(err, FL_EINVAL, "no sampling rate: give "
		    "--sample-rate, or --population (q = cohort / "
		    "population)");
	if (c->steps > 0)
		r->steps = c->steps;
	if (c->epochs > 0)
		r->steps = fl_steps_ceil(c->epochs / r->q);
	if (c->round != FL_ROUND_NONE)
		r->round = c->round;
	if (c->clip > 0)
		r->clip = c->clip;
	return fl_release_check(r, err);
}
