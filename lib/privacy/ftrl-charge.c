/* SPDX-License-Identifier: ISC */
/*
 * Charging DP-FTRL's tree to the ledger round by round.  The release of
 * rounds 1..t (every complete node so far) is one Gaussian mechanism of
 * squared sensitivity s(t) = fl_tree_sens2(t, k, b): a row charges the
 * increment s(t) - s(prev) as a Gaussian of multiplier z / sqrt(that), so
 * the rows of a tree compose, under any accountant, to the Gaussian of
 * s(t).  Rounds that complete no node a client can reach add nothing and
 * get no row.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "privacy/internal.h"

#define BESIDE "it goes with ftrl.tree"

int
fl_tree_increment(uint64_t prev, uint64_t t, uint64_t k, uint64_t b,
    double z, double *noise, struct fl_error *err)
{
	uint64_t s0 = 0, s1;

	if (t <= prev)
		return fl_error_set(err, FL_EINVAL, "tree round %llu is not "
		    "after %llu", (unsigned long long)t,
		    (unsigned long long)prev);
	if (!(z > 0) || !isfinite(z))
		return fl_error_set(err, FL_EINVAL, "tree noise must be "
		    "positive");
	if ((prev > 0 && fl_tree_sens2(prev, k, b, &s0, err) < 0) ||
	    fl_tree_sens2(t, k, b, &s1, err) < 0)
		return -1;
	*noise = s1 > s0 ? z / sqrt((double)(s1 - s0)) : 0;
	return 0;
}

/* The strategy of T rounds and `bands` bands into c: the last one
 * computed on this thread when it is the same (a ledger's rows ask for
 * it once each). */
#define CACHE_BANDS 1024
static _Thread_local double cache_c[CACHE_BANDS];
static _Thread_local uint64_t cache_T, cache_b;

static int
strategy(uint64_t T, uint64_t bands, double *c, struct fl_error *err)
{
	struct fl_banded_fit fit = { 0 };

	if (bands <= CACHE_BANDS && cache_T == T && cache_b == bands) {
		memcpy(c, cache_c, bands * sizeof(*c));
		return 0;
	}
	if (fl_banded_optimize(T, bands, c, &fit, err) < 0)
		return -1;
	if (bands <= CACHE_BANDS) {
		memcpy(cache_c, c, bands * sizeof(*c));
		cache_T = T;
		cache_b = bands;
	}
	return 0;
}

int
fl_banded_increment(uint64_t prev, uint64_t t, uint64_t T, uint64_t bands,
    uint64_t k, uint64_t b, double z, double *noise, struct fl_error *err)
{
	double s0 = 0, s1, *c;

	if (t <= prev || t > T)
		return fl_error_set(err, FL_EINVAL, "banded round %llu is not "
		    "after %llu and within the %llu rounds",
		    (unsigned long long)t, (unsigned long long)prev,
		    (unsigned long long)T);
	if (!(z > 0) || !isfinite(z))
		return fl_error_set(err, FL_EINVAL, "noise must be positive");
	if (bands < 1 || bands > T)
		return fl_error_set(err, FL_EINVAL, "bands %llu: must be in "
		    "[1, rounds %llu]", (unsigned long long)bands,
		    (unsigned long long)T);
	/* The strategy's bands, not the first rows' (fewer early on). */
	if (k > 1 && bands > b)
		return fl_error_set(err, FL_EINVAL, "bands %llu exceed the "
		    "separation %llu: two participations of a client would "
		    "share rows of the strategy", (unsigned long long)bands,
		    (unsigned long long)b);
	if ((c = malloc(bands * sizeof(*c))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	/* The release of rounds 1..t is the first t rows of C X + Z: the
	 * strategy's leading t x t block, min(bands, t) bands. */
	if (strategy(T, bands, c, err) < 0 ||
	    (prev > 0 && fl_banded_sens2(prev, bands < prev ? bands : prev,
	    c, k, b, &s0, err) < 0) ||
	    fl_banded_sens2(t, bands < t ? bands : t, c, k, b, &s1, err) < 0) {
		free(c);
		return -1;
	}
	free(c);
	*noise = s1 > s0 ? z / sqrt(s1 - s0) : 0;
	return 0;
}

int
fl_tree_charge(struct fl_release *r, const struct fl_release *rows,
    size_t n, struct fl_error *err)
{
	const struct fl_release *last = NULL;
	char b1[FL_NUMBUF], b2[FL_NUMBUF];
	double noise;

	for (size_t i = 0; i < n; i++)
		if (rows[i].tree_round > 0 && rows[i].tree_id == r->tree_id)
			last = &rows[i];
	if (last != NULL && (last->tree_bands != r->tree_bands ||
	    last->tree_rounds != r->tree_rounds))
		return fl_error_set(err, FL_EINVAL, "tree %016llx was charged "
		    "with %llu bands over %llu rounds, not %llu over %llu "
		    "(0 bands: the tree)", (unsigned long long)r->tree_id,
		    (unsigned long long)last->tree_bands,
		    (unsigned long long)last->tree_rounds,
		    (unsigned long long)r->tree_bands,
		    (unsigned long long)r->tree_rounds);
	if (last != NULL && (last->tree_parts != r->tree_parts ||
	    last->tree_sep != r->tree_sep || last->tree_noise != r->tree_noise))
		return fl_error_set(err, FL_EINVAL, "tree %016llx was charged "
		    "for %llu participations %llu apart at noise %s, not %llu "
		    "%llu apart at noise %s", (unsigned long long)r->tree_id,
		    (unsigned long long)last->tree_parts,
		    (unsigned long long)last->tree_sep,
		    fl_format_double(b1, last->tree_noise),
		    (unsigned long long)r->tree_parts,
		    (unsigned long long)r->tree_sep,
		    fl_format_double(b2, r->tree_noise));
	if (last != NULL && r->tree_round <= last->tree_round)
		return fl_error_set(err, FL_EINVAL, "tree %016llx: round %llu "
		    "was charged already (the ledger is at round %llu)",
		    (unsigned long long)r->tree_id,
		    (unsigned long long)r->tree_round,
		    (unsigned long long)last->tree_round);
	if (r->tree_bands > 0 ? fl_banded_increment(last ? last->tree_round :
	    0, r->tree_round, r->tree_rounds, r->tree_bands, r->tree_parts,
	    r->tree_sep, r->tree_noise, &noise, err) < 0 :
	    fl_tree_increment(last ? last->tree_round : 0, r->tree_round,
	    r->tree_parts, r->tree_sep, r->tree_noise, &noise, err) < 0)
		return -1;
	r->mech = FL_MECH_GAUSSIAN;
	r->q = 1;
	r->steps = 1;
	r->noise = noise;
	return noise > 0 ? 0 : 1;
}

int
fl_tree_release_from_record(struct fl_release *r,
    const struct fl_record *rec, struct fl_error *err)
{
	const char *id = fl_meta_get(rec, "ftrl.tree");
	const char *round = fl_meta_get(rec, "round");
	struct fl_error e;

	const char *mech = fl_meta_get(rec, "ftrl.mechanism");
	char q[FL_QUOTE];

	if (id == NULL)
		return 0;
	if (mech != NULL && strcmp(mech, "tree") != 0 &&
	    strcmp(mech, "banded") != 0)
		return fl_error_set(err, FL_EFORMAT, "unknown DP-FTRL "
		    "mechanism 'ftrl.mechanism=%s': want tree or banded",
		    fl_escape(q, sizeof(q), mech, strlen(mech)));
	memset(r, 0, sizeof(*r));
	r->round = FL_ROUND_NONE;
	if (fl_ftrl_tree_id_parse(id, &r->tree_id) < 0)
		return fl_error_set(err, FL_EFORMAT, "bad 'ftrl.tree': want 16 "
		    "lower-case hex digits");
	if (fl_ftrl_meta_u64(rec, "ftrl.round", 1, FL_TREE_MAX_ROUNDS,
	    &r->tree_round, BESIDE, err) < 0 ||
	    fl_ftrl_meta_u64(rec, "ftrl.participations", 1,
	    FL_TREE_MAX_ROUNDS, &r->tree_parts, BESIDE, err) < 0 ||
	    fl_ftrl_meta_u64(rec, "ftrl.separation", 1, FL_TREE_MAX_ROUNDS,
	    &r->tree_sep, BESIDE, err) < 0 ||
	    fl_ftrl_meta_positive(rec, "ftrl.noise-effective",
	    &r->tree_noise, BESIDE, err) < 0 ||
	    fl_ftrl_meta_positive(rec, "ftrl.clip", &r->clip, BESIDE,
	    err) < 0)
		return -1;
	/* Banded MF: its bands and rounds give the strategy. */
	if (mech != NULL && strcmp(mech, "banded") == 0 &&
	    (fl_ftrl_meta_u64(rec, "ftrl.rounds", 1, FL_BANDED_MAX_ROUNDS,
	    &r->tree_rounds, "it goes with ftrl.mechanism=banded", err) < 0 ||
	    fl_ftrl_meta_u64(rec, "ftrl.bands", 1, r->tree_rounds,
	    &r->tree_bands, "it goes with ftrl.mechanism=banded", err) < 0))
		return -1;
	/* The model's round is the next one's: the release is of the one
	 * before. */
	if (round != NULL) {
		if (fl_parse_u64(round, 1, UINT64_MAX - 1, &r->round, &e) < 0)
			return fl_error_set(err, FL_EFORMAT, "bad 'round': %s",
			    e.msg);
		r->round--;
	}
	if (fl_meta_get(rec, "ftrl.seeded") != NULL)
		r->not_private = FL_NOT_PRIVATE_NOISE;
	r->mech = FL_MECH_GAUSSIAN;
	r->q = 1;
	r->steps = 1;
	return 1;
}

int
fl_zcdp_account(double sens2, double z, int given_eps, double given,
    struct fl_tree_privacy *out, struct fl_error *err)
{
	memset(out, 0, sizeof(*out));
	if (!(z > 0) || !isfinite(z))
		return fl_error_set(err, FL_EINVAL, "tree noise must be "
		    "positive");
	out->sens2 = sens2;
	out->noise = z;
	out->rho = sens2 / (2 * z * z);
	if (given_eps) {
		out->epsilon = given;
		out->delta = fl_zcdp_delta(out->rho, given);
	} else {
		out->delta = given;
		out->epsilon = fl_zcdp_epsilon(out->rho, given);
	}
	out->epsilon10 = fl_zcdp_epsilon(out->rho, 1e-10);
	out->epsilon10_rdp = fl_zcdp_epsilon_rdp(out->rho, 1e-10);
	out->bound = given_eps ? NAN : fl_zcdp_bound(out->rho, given);
	return 0;
}

int
fl_zcdp_noise(double sens2, double target, double delta, double *z,
    struct fl_error *err)
{
	double mu = fl_gaussian_mu(target, delta);

	if (!(mu > 0) || isinf(mu))
		return fl_error_set(err, FL_EINVAL, "no noise gives epsilon "
		    "%g at delta %g", target, delta);
	*z = fl_round_up_6(sqrt(sens2) / mu);
	return 0;
}

int
fl_tree_account(uint64_t T, uint64_t k, uint64_t b, double z, int given_eps,
    double given, struct fl_tree_privacy *out, struct fl_error *err)
{
	uint64_t s2;

	memset(out, 0, sizeof(*out));
	if (!(z > 0) || !isfinite(z))
		return fl_error_set(err, FL_EINVAL, "tree noise must be "
		    "positive");
	if (fl_tree_sens2(T, k, b, &s2, err) < 0)
		return -1;
	return fl_zcdp_account((double)s2, z, given_eps, given, out, err);
}

int
fl_tree_noise(uint64_t T, uint64_t k, uint64_t b, double target,
    double delta, double *z, struct fl_error *err)
{
	uint64_t s2;

	if (fl_tree_sens2(T, k, b, &s2, err) < 0)
		return -1;
	return fl_zcdp_noise((double)s2, target, delta, z, err);
}
