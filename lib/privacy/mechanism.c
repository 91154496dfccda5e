/* SPDX-License-Identifier: ISC */
/*
 * A release: one mechanism's parameters (sampling rate, noise, steps,
 * sensitivity), named, checked in range exactly as on the command line,
 * and read from the metadata of a record that says what it released.
 * The accountants (account.c, pld.c) and the ledger take releases from here.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "privacy/privacy.h"

const char *
fl_mechanism_name(enum fl_mechanism m)
{
	switch (m) {
	case FL_MECH_GAUSSIAN:
		return "gaussian";
	case FL_MECH_DGAUSS:
		return "discrete-gaussian";
	case FL_MECH_SKELLAM:
		return "skellam";
	}
	return NULL;
}

int
fl_mechanism_parse(const char *s, enum fl_mechanism *m)
{
	for (int i = FL_MECH_GAUSSIAN; i <= FL_MECH_SKELLAM; i++)
		if (strcmp(s, fl_mechanism_name((enum fl_mechanism)i)) == 0) {
			*m = (enum fl_mechanism)i;
			return 0;
		}
	return -1;
}

/* ---- releases ---- */

int
fl_release_check(const struct fl_release *r, struct fl_error *err)
{
	char b[FL_NUMBUF];

	if (!(r->q > 0 && r->q <= 1))
		return fl_error_set(err, FL_EINVAL, "sampling rate '%s' is not "
		    "in (0, 1]", fl_format_double(b, r->q));
	if (r->steps < 1)
		return fl_error_set(err, FL_EINVAL, "steps must be at least 1");
	if (r->steps > FL_MAX_STEPS)
		return fl_error_set(err, FL_EINVAL, "steps %llu above 2^40",
		    (unsigned long long)r->steps);
	if (!(r->clip >= 0) || !isfinite(r->clip))
		return fl_error_set(err, FL_EINVAL, "clip '%s' is negative",
		    fl_format_double(b, r->clip));
	if (!(r->indicator >= 0) || !isfinite(r->indicator) ||
	    (r->indicator > 0 && r->mech == FL_MECH_GAUSSIAN))
		return fl_error_set(err, FL_EINVAL, "bad indicator noise '%s'",
		    fl_format_double(b, r->indicator));
	if (r->colluding > 0 && r->colluding >= r->clients)
		return fl_error_set(err, FL_EINVAL, "all %llu shares summed may "
		    "be colluding clients' (%llu assumed): their noise protects "
		    "no one", (unsigned long long)r->clients,
		    (unsigned long long)r->colluding);
	if (r->mech == FL_MECH_GAUSSIAN) {
		if (!(r->noise > 0) || !isfinite(r->noise))
			return fl_error_set(err, FL_EINVAL, "noise multiplier "
			    "'%s' is not above 0", fl_format_double(b, r->noise));
		return 0;
	}
	if (r->mech != FL_MECH_DGAUSS && r->mech != FL_MECH_SKELLAM)
		return fl_error_set(err, FL_EINVAL, "unknown mechanism");
	if (!(r->sigma > 0) || !isfinite(r->sigma))
		return fl_error_set(err, FL_EINVAL, "noise std '%s' is not "
		    "above 0", fl_format_double(b, r->sigma));
	if (!(r->sens2 > 0) || !isfinite(r->sens2))
		return fl_error_set(err, FL_EINVAL, "L2 sensitivity '%s' is "
		    "not above 0", fl_format_double(b, r->sens2));
	if (!(r->sens1 >= 0) || !isfinite(r->sens1))
		return fl_error_set(err, FL_EINVAL, "L1 sensitivity '%s' is "
		    "negative", fl_format_double(b, r->sens1));
	if (r->clients < 1)
		return fl_error_set(err, FL_EINVAL, "clients must be at least 1");
	if (r->dim < 1)
		return fl_error_set(err, FL_EINVAL, "dim must be at least 1");
	return 0;
}

double
fl_release_noise(const struct fl_release *r)
{
	if (r->mech == FL_MECH_GAUSSIAN)
		return r->noise;
	return r->sigma * sqrt((double)fl_release_honest(r)) / r->sens2;
}

double
fl_noise_indicator(double z, double sb)
{
	return 1 / sqrt(1 / (z * z) + 1 / (sb * sb));
}

uint64_t
fl_release_honest(const struct fl_release *r)
{
	return r->clients > r->colluding ? r->clients - r->colluding : 0;
}

/*
 * Clients that collude with the server know their own noise shares and
 * subtract them (Kairouz, Liu, Steinke 2021): of the shares summed, only
 * those of honest clients count.  Colluders never drop, so all of them
 * are assumed among the survivors.
 */
static int
colluding_shares(struct fl_release *r, const struct fl_record *rec,
    uint64_t shares, double corrupt, struct fl_error *err)
{
	uint64_t cohort = shares > r->clients ? shares : r->clients;
	int found;

	if (isnan(corrupt)) {
		found = fl_meta_u64(rec, "secagg.corrupt", 0, UINT64_MAX,
		    &r->colluding, err);
		if (found < 0)
			return -1;
		if (found)
			goto check;
		corrupt = FL_CORRUPT_DEFAULT;
	}
	r->colluding = (uint64_t)ceil(corrupt * (double)cohort);
check:
	if (r->colluding >= r->clients)
		return fl_error_set(err, FL_EINVAL, "all %llu shares summed may "
		    "be colluding clients' (%llu assumed): their noise protects "
		    "no one", (unsigned long long)r->clients,
		    (unsigned long long)r->colluding);
	return 0;
}

int
fl_release_from_record(struct fl_release *r, const struct fl_record *rec,
    uint64_t population, double corrupt, struct fl_error *err)
{
	const char *mech = fl_meta_get(rec, "dp.mechanism");
	double sigma = 0, sens = 0, noise = 0, dq = 0, ind = 0;
	uint64_t shares = 1, clients = 0, steps = 1, round = 0;
	int has_sigma, has_sens, has_noise, has_q, has_clients, has_round;
	char q[FL_QUOTE];

	memset(r, 0, sizeof(*r));
	r->round = FL_ROUND_NONE;
	if (mech == NULL)
		return fl_error_set(err, FL_EINVAL, "no 'dp.mechanism': not a "
		    "noised release");
	if (fl_mechanism_parse(mech, &r->mech) < 0)
		return fl_error_set(err, FL_EINVAL, "unknown dp.mechanism '%s'",
		    fl_escape(q, sizeof(q), mech, strlen(mech)));
	if ((has_sigma = fl_meta_double(rec, "dp.sigma", 0, DBL_MAX, &sigma,
	    err)) < 0 ||
	    (has_sens = fl_meta_double(rec, "dp.sensitivity", 0, DBL_MAX,
	    &sens, err)) < 0 ||
	    (has_noise = fl_meta_double(rec, "dp.noise", 0, DBL_MAX, &noise,
	    err)) < 0 ||
	    (has_q = fl_meta_double(rec, "dp.q", 0, DBL_MAX, &dq, err)) < 0 ||
	    fl_meta_double(rec, "dp.clip", 0, DBL_MAX, &r->clip, err) < 0 ||
	    fl_meta_double(rec, "dp.sensitivity-l1", 0, DBL_MAX, &r->sens1,
	    err) < 0 ||
	    fl_meta_double(rec, "dp.indicator-noise", 0, DBL_MAX, &ind,
	    err) < 0 ||
	    fl_meta_u64(rec, "dp.shares", 1, UINT64_MAX, &shares, err) < 0 ||
	    fl_meta_u64(rec, "dp.steps", 1, UINT64_MAX, &steps, err) < 0 ||
	    fl_meta_u64(rec, "dp.dim", 1, UINT64_MAX, &r->dim, err) < 0 ||
	    (has_clients = fl_meta_u64(rec, "clients", 1, UINT64_MAX,
	    &clients, err)) < 0 ||
	    (has_round = fl_meta_u64(rec, "round", 0, UINT64_MAX, &round,
	    err)) < 0)
		return -1;
	if (has_round)
		r->round = round;
	if (shares > 1 && !has_clients)
		return fl_error_set(err, FL_EINVAL, "noise in %llu shares but "
		    "no 'clients' (the number of shares summed)",
		    (unsigned long long)shares);
	r->clients = has_clients ? clients : 0;
	r->steps = steps;
	r->shares = shares > 1 ? shares : 0;
	r->planned = has_noise ? noise : 0;
	if (shares > 1 && colluding_shares(r, rec, shares, corrupt, err) < 0)
		return -1;

	/* With distributed noise the sum carries the shares of the survivors
	 * only: sigma sqrt(clients), whatever was planned. */
	if (r->mech == FL_MECH_GAUSSIAN) {
		if (shares > 1 && !(has_sigma && has_sens && sens > 0))
			return fl_error_set(err, FL_EINVAL, "noise in %llu "
			    "shares needs 'dp.sigma' and 'dp.sensitivity' to "
			    "charge the shares summed", (unsigned long long)shares);
		if (has_sigma && has_sens && sens > 0)
			r->noise = sigma * (shares > 1 ?
			    sqrt((double)fl_release_honest(r)) : 1) / sens;
		else if (has_noise)
			r->noise = noise;
		else
			return fl_error_set(err, FL_EINVAL, "no 'dp.noise', nor "
			    "'dp.sigma' and 'dp.sensitivity'");
		/* Adaptive clipping's indicator composes with the update
		 * into one Gaussian: z^-2 = z_update^-2 + sigma_b^-2.  The
		 * clients send uncentred 0/1 bits, so one client moves the
		 * sum by 1 (Andrew et al. 2021 charge 1/2 for bits centred
		 * on 1/2, which fltools does not send). */
		if (ind > 0)
			r->noise = fl_noise_indicator(r->noise, ind);
	} else {
		if (!has_sigma || !has_sens || r->dim == 0)
			return fl_error_set(err, FL_EINVAL, "%s noise needs "
			    "'dp.sigma', 'dp.sensitivity' and 'dp.dim'", mech);
		r->sigma = sigma;
		r->sens2 = sens;
		r->clients = shares > 1 ? clients : 1;
		r->indicator = ind;     /* sensitivity 1: see above */
		r->noise = fl_release_noise(r);
	}
	if (has_q)
		r->q = dq;
	else if (population > 0) {
		/* The planned cohort: survivors can only be fewer. */
		uint64_t cohort = shares > 1 && shares > clients ? shares :
		    clients;

		if (cohort == 0)
			return fl_error_set(err, FL_EINVAL, "no 'clients' count "
			    "for q = clients / population: give the sample "
			    "per step (--batch) or the rate");
		r->q = (double)cohort / (double)population;
	}
	if (r->q == 0)
		return 0;       /* the caller supplies q */
	return fl_release_check(r, err);
}
