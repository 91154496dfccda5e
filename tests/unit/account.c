/* SPDX-License-Identifier: ISC */
/*
 * Unit tests of what fl-account's front end handed to the library: steps
 * from epochs (charge.c), a record's release as charged with its cohort
 * and the command line's overrides, the shares of distributed noise and
 * the indicator's composition (mechanism.c), which options make a release
 * given on the command line (charge.c), accountant names (account.c),
 * composition after a ledger, the budget and the planning curve (plan.c),
 * the answers as text and JSON (report.c), and a ledger missing where its
 * anchor says releases (ledger.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/fl.h"
#include "unit.h"

/* |a - b| <= rel |b|. */
static int
near(double a, double b, double rel)
{
	return fabs(a - b) <= rel * fabs(b);
}

static void
record_of(struct fl_record *rec, const char *const *meta)
{
	struct fl_error err;

	fl_record_init(rec);
	for (size_t i = 0; meta[i] != NULL; i += 2)
		CHECK(fl_meta_set(rec, meta[i], meta[i + 1], &err) == 0);
}

void
test_account_steps(void)
{
	struct fl_release r[2];
	struct fl_error err;
	uint64_t s = 0;

	/* Within rounding of an integer: that integer; else up. */
	CHECK(fl_steps_ceil(2.0) == 2);
	CHECK(fl_steps_ceil(2.0000000001) == 2);
	CHECK(fl_steps_ceil(2.01) == 3);
	CHECK(fl_steps_ceil(0.3) == 1);
	CHECK(fl_steps_ceil(14062.5) == 14063);
	CHECK(fl_steps_ceil(1e-12) == 0);
	/* 60 epochs of batches of 256 from 60000 examples: 14063 steps
	 * (MNIST, as Opacus counts them). */
	CHECK(fl_steps_epochs(&s, 60, 60000, 256, 256.0 / 60000, &err) == 0);
	CHECK(s == 14063);
	/* No batch: epochs / q, and at least one step. */
	CHECK(fl_steps_epochs(&s, 1, 0, 0, 0.3, &err) == 0 && s == 4);
	CHECK(fl_steps_epochs(&s, 1e-12, 0, 0, 1, &err) == 0 && s == 1);
	s = 5;
	CHECK(fl_steps_epochs(&s, 1e12, 0, 0, 0.001, &err) < 0);
	CHECK(strcmp(err.msg, "too many steps") == 0 && s == 5);
	/* Total steps, saturating. */
	memset(r, 0, sizeof(r));
	r[0].steps = 3;
	r[1].steps = 4;
	CHECK(fl_release_steps(r, 2) == 7);
	CHECK(fl_release_steps(r, 0) == 0);
	r[0].steps = UINT64_MAX;
	CHECK(fl_release_steps(r, 2) == UINT64_MAX);
}

void
test_account_shares(void)
{
	static const char *const ind[] = { "dp.mechanism", "gaussian",
	    "dp.sigma", "1.2", "dp.sensitivity", "1", "dp.indicator-noise",
	    "3", NULL };
	struct fl_release r;
	struct fl_record rec;
	struct fl_error err;

	/* z^-2 = z_update^-2 + sigma_b^-2; a record's indicator the same. */
	CHECK(fl_noise_indicator(1.2, 3) == 1 / sqrt(1 / (1.2 * 1.2) +
	    1 / (3.0 * 3.0)));
	CHECK(near(fl_noise_indicator(1, 1), 1 / sqrt(2), 1e-15));
	record_of(&rec, ind);
	CHECK(fl_release_from_record(&r, &rec, 0, NAN, &err) == 0);
	CHECK(r.noise == fl_noise_indicator(1.2, 3));
	fl_record_free(&rec);

	/* Solving: each share's sigma for multiplier 1, the default 5%
	 * colluding, and the noise of the 95 honest shares. */
	memset(&r, 0, sizeof(r));
	r.mech = FL_MECH_SKELLAM;
	r.sens2 = 10;
	r.clients = 100;
	r.sigma = 7;
	fl_release_shares(&r, NAN, 1);
	CHECK(r.sigma == 1 && r.colluding == 5);
	CHECK(r.noise == sqrt(95.0) / 10);
	CHECK(r.noise == fl_release_noise(&r));
	/* Given sigma kept; a fraction rounds up. */
	r.sigma = 7;
	r.clients = 3;
	fl_release_shares(&r, 0.2, 0);
	CHECK(r.sigma == 7 && r.colluding == 1);
	CHECK(r.noise == 7 * sqrt(2.0) / 10);
}

void
test_account_charge(void)
{
	static const char *const seeded[] = { "dp.mechanism", "gaussian",
	    "dp.noise", "1", "dp.seeded", "yes", NULL };
	static const char *const both[] = { "dp.mechanism", "gaussian",
	    "dp.noise", "1", "dp.seeded", "yes", "dp.sampling", "shuffle",
	    NULL };
	static const char *const agg[] = { "dp.mechanism", "gaussian",
	    "dp.noise", "1", "round", "3", "clients", "10", "dp.clip", "0.5",
	    NULL };
	struct fl_cohort co = { .round = 3, .population = 100, .size = 50,
	    .q = 0.5, .seeded = 1 };
	struct fl_charge c;
	struct fl_release r;
	struct fl_record rec;
	struct fl_error err;
	unsigned seen = 99;

	memset(&c, 0, sizeof(c));
	c.corrupt = NAN;
	c.round = FL_ROUND_NONE;
	/* Noise from a seed: refused unless allowed, then marked. */
	record_of(&rec, seeded);
	CHECK(fl_release_charge(&r, &rec, &c, &seen, &err) < 0);
	CHECK(seen == 0);
	CHECK(strcmp(err.msg, "noise from a seed (dp.seeded=yes), which "
	    "anyone who knows the seed can remove: not private (spend it "
	    "with --not-private)") == 0);
	c.allow_seeded = 1;
	CHECK(fl_release_charge(&r, &rec, &c, &seen, &err) == 0);
	CHECK(seen == FL_CHARGE_SEEDED);
	CHECK(r.not_private == FL_NOT_PRIVATE_NOISE && r.q == 0);
	/* No rate anywhere: the override says so. */
	CHECK(fl_release_override(&r, &c, &err) < 0);
	CHECK(strncmp(err.msg, "no sampling rate: give --sample-rate", 36) == 0);
	fl_record_free(&rec);

	/* Shuffled: refused after the seed was seen (the caller warns of
	 * it), taken when allowed. */
	record_of(&rec, both);
	CHECK(fl_release_charge(&r, &rec, &c, &seen, &err) < 0);
	CHECK(seen == FL_CHARGE_SEEDED);
	CHECK(strncmp(err.msg, "batches drawn by shuffling", 26) == 0);
	c.allow_shuffle = 1;
	CHECK(fl_release_charge(&r, &rec, &c, &seen, &err) == 0);
	CHECK(seen == (FL_CHARGE_SEEDED | FL_CHARGE_SHUFFLED));
	fl_record_free(&rec);

	/* The cohort: its round and rate, and a seeded draw is marked. */
	record_of(&rec, agg);
	c.cohort = &co;
	c.cohort_name = "c.flt";
	CHECK(fl_release_charge(&r, &rec, &c, &seen, &err) == 0);
	CHECK(seen == 0 && r.round == 3 && r.q == 0.5 && r.clients == 10);
	CHECK(r.not_private == FL_NOT_PRIVATE_SAMPLING);
	/* Taken only where releases that are not private are. */
	CHECK(fl_charge_check(&c, &err) == 0);
	c.allow_seeded = 0;
	CHECK(fl_charge_check(&c, &err) < 0 && err.code == FL_EINVAL);
	CHECK(strncmp(err.msg, "a cohort drawn from a seed (cohort.seeded="
	    "yes)", 44) == 0);
	c.allow_seeded = 1;
	co.round = 4;
	CHECK(fl_release_charge(&r, &rec, &c, &seen, &err) < 0);
	CHECK(strcmp(err.msg, "round 3, but the cohort c.flt is for round 4")
	    == 0);
	co.round = 3;
	co.size = 9;
	CHECK(fl_release_charge(&r, &rec, &c, &seen, &err) < 0);
	CHECK(strcmp(err.msg, "10 clients summed, more than the 9 of the "
	    "cohort c.flt") == 0);
	/* A release of no round takes the cohort's. */
	co.size = 50;
	co.seeded = 0;
	memset(&r, 0, sizeof(r));
	r.round = FL_ROUND_NONE;
	CHECK(fl_cohort_apply(&r, &co, "c.flt", &err) == 0);
	CHECK(r.round == 3 && r.q == 0.5 && r.not_private == 0);

	/* The overrides, over the record's. */
	c.cohort = NULL;
	CHECK(fl_release_charge(&r, &rec, &c, &seen, &err) == 0);
	CHECK(r.q == 0 && r.steps == 1 && r.round == 3 && r.clip == 0.5);
	c.q = 0.1;
	c.epochs = 2;
	c.round = 9;
	c.clip = 2;
	CHECK(fl_release_override(&r, &c, &err) == 0);
	CHECK(r.q == 0.1 && r.steps == 20 && r.round == 9 && r.clip == 2);
	c.epochs = 0;
	c.steps = 7;
	CHECK(fl_release_override(&r, &c, &err) == 0 && r.steps == 7);
	/* Then checked as a release. */
	r.noise = 0;
	CHECK(fl_release_override(&r, &c, &err) < 0);
	CHECK(strcmp(err.msg, "noise multiplier '0' is not above 0") == 0);
	fl_record_free(&rec);

	/* Fewer shares summed than planned: refused unless allowed, then
	 * marked, with the plan kept beside the charge. */
	{
		static const char *const short4[] = { "dp.mechanism",
		    "gaussian", "dp.noise", "2", "dp.sigma", "0.5",
		    "dp.sensitivity", "1", "dp.shares", "16", "clients", "4",
		    "secagg.corrupt", "0", NULL };
		char why[FL_SHORT_TEXT];

		record_of(&rec, short4);
		CHECK(fl_release_charge(&r, &rec, &c, &seen, &err) < 0);
		CHECK(seen == FL_CHARGE_SHORT);
		CHECK(strcmp(err.msg, "noise from 4 of the 16 planned shares: "
		    "multiplier 1, planned 2 (spend it anyway with --force)")
		    == 0);
		c.allow_short = 1;
		CHECK(fl_release_charge(&r, &rec, &c, &seen, &err) == 0);
		CHECK(seen == FL_CHARGE_SHORT && r.shares == 16 &&
		    r.planned == 2 && r.noise == 1);
		CHECK(strcmp(fl_release_short(&r, why), "noise from 4 of the "
		    "16 planned shares: multiplier 1, planned 2") == 0);
		fl_record_free(&rec);
	}
	/* The share count to plan for: exact binomial quantiles, then the
	 * normal approximation above 10^6 trials. */
	CHECK(fl_shares_planned(150, 1) == 150);
	CHECK(fl_shares_planned(150, 0.95) == 136);
	CHECK(fl_shares_planned(3, 0.1) == 0);
	CHECK(fl_shares_planned(2000000, 0.5) == 998355);
}

/* A release given by options: its mechanism and what was given. */
static struct fl_release
given(enum fl_mechanism mech, double noise, double sigma, double sens2,
    uint64_t clients, uint64_t dim)
{
	struct fl_release r;

	memset(&r, 0, sizeof(r));
	r.mech = mech;
	r.q = 0.1;
	r.steps = 1;
	r.round = FL_ROUND_NONE;
	r.noise = noise;
	r.sigma = sigma;
	r.sens2 = sens2;
	r.clients = clients;
	r.dim = dim;
	return r;
}

void
test_account_options(void)
{
	/* What does not go together, and what is said. */
	static const struct {
		enum fl_mechanism mech;
		double noise, sigma, sens2;
		uint64_t clients, dim;
		double indicator, corrupt;
		int solve;
		const char *msg;
	} bad[] = {
		{ FL_MECH_GAUSSIAN, 1, 0, 0, 0, 0, 0, 0.1, 0, "--corrupt is "
		    "for noise summed from clients' shares (-m "
		    "discrete-gaussian or skellam, or records with dp.shares)" },
		{ FL_MECH_GAUSSIAN, 1, 0, 0, 0, 7, 0, NAN, 0, "--sigma, "
		    "--sensitivity and --dim are for -m discrete-gaussian or "
		    "skellam" },
		{ FL_MECH_GAUSSIAN, 1, 0, 0, 0, 0, 0, NAN, 1, "--target-epsilon "
		    "solves for the noise: drop --noise" },
		{ FL_MECH_GAUSSIAN, 0, 0, 0, 0, 0, 0, NAN, 0, "a gaussian "
		    "release needs --noise" },
		{ FL_MECH_GAUSSIAN, 0, 0, 0, 0, 0, 3, NAN, 1,
		    "--indicator-noise with --target-epsilon: give --noise" },
		{ FL_MECH_SKELLAM, 1, 500, 5000, 90, 65536, 0, NAN, 0, "-m "
		    "skellam takes --sigma, not --noise" },
		{ FL_MECH_SKELLAM, 0, 500, 5000, 90, 65536, 0, NAN, 1,
		    "--target-epsilon solves for the noise: drop --sigma" },
		{ FL_MECH_DGAUSS, 0, 500, 5000, 90, 0, 0, NAN, 0, "-m "
		    "discrete-gaussian needs --sigma (or --target-epsilon), "
		    "--clients, --sensitivity and --dim" },
		{ FL_MECH_SKELLAM, 0, 0, 5000, 90, 65536, 0, NAN, 0, "-m "
		    "skellam needs --sigma (or --target-epsilon), --clients, "
		    "--sensitivity and --dim" },
	};
	struct fl_release r;
	struct fl_error err;

	/* Gaussian: the multiplier as given, 1 to solve for, the indicator
	 * composed in. */
	r = given(FL_MECH_GAUSSIAN, 1.1, 0, 0, 5, 0);
	CHECK(fl_release_from_options(&r, 0, NAN, 0, &err) == 0);
	CHECK(r.noise == 1.1 && r.clients == 5 && r.colluding == 0);
	CHECK(fl_release_check(&r, &err) == 0);
	r = given(FL_MECH_GAUSSIAN, 0, 0, 0, 0, 0);
	CHECK(fl_release_from_options(&r, 0, NAN, 1, &err) == 0);
	CHECK(r.noise == 1);
	r = given(FL_MECH_GAUSSIAN, 1.2, 0, 0, 0, 0);
	CHECK(fl_release_from_options(&r, 3, NAN, 0, &err) == 0);
	CHECK(r.noise == fl_noise_indicator(1.2, 3) && r.indicator == 0);

	/* Shares: sigma, clients, sensitivity and dim, the colluding ones
	 * (the default fraction, or corrupt), the indicator kept apart. */
	r = given(FL_MECH_SKELLAM, 0, 500, 5000, 90, 65536);
	CHECK(fl_release_from_options(&r, 3, NAN, 0, &err) == 0);
	CHECK(r.colluding == 5 && r.indicator == 3);
	CHECK(r.noise == fl_release_noise(&r) && r.noise == 500 * sqrt(85.0) /
	    5000);
	r = given(FL_MECH_DGAUSS, 0, 0, 10, 100, 1000);
	CHECK(fl_release_from_options(&r, 0, 0.2, 1, &err) == 0);
	CHECK(r.sigma == 1 && r.colluding == 20);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = given(bad[i].mech, bad[i].noise, bad[i].sigma,
		    bad[i].sens2, bad[i].clients, bad[i].dim);
		CHECK(fl_release_from_options(&r, bad[i].indicator,
		    bad[i].corrupt, bad[i].solve, &err) < 0);
		CHECK(err.code == FL_EINVAL && strcmp(err.msg, bad[i].msg) == 0);
	}
}

/* What fn wrote to a stream, compared with want. */
#define WRITES(want, call) do {						\
	char *buf_ = NULL;						\
	size_t len_ = 0;						\
	FILE *fp = open_memstream(&buf_, &len_);			\
									\
	CHECK(fp != NULL);						\
	if (fp != NULL) {						\
		call;							\
		fclose(fp);						\
		CHECK(strcmp(buf_, (want)) == 0);			\
		if (strcmp(buf_, (want)) != 0)				\
			fprintf(stderr, "got:  %s\nwant: %s\n", buf_,	\
			    (want));					\
	}								\
	free(buf_);							\
} while (0)

void
test_account_report(void)
{
	struct fl_question q = { FL_ACC_RDP, 0, 0, 1e-5, 0, 0 };
	struct fl_privacy p[3] = { { 0.5, 1e-5, 10.5, NAN },
		{ 1.25, 1e-5, 8, NAN }, { INFINITY, 1e-5, NAN, 1e-4 } };
	struct fl_release r[2];
	uint64_t at[2] = { 10, 25 };
	double z = 1.5;

	memset(r, 0, sizeof(r));
	r[0] = given(FL_MECH_GAUSSIAN, 1.1, 0, 0, 0, 0);
	r[0].release = 1;
	r[0].round = 12;
	r[0].clip = 0.5;
	r[0].steps = 100;
	r[1] = given(FL_MECH_SKELLAM, 0, 500, 5000, 90, 65536);
	r[1].release = 2;
	r[1].q = 0.02;
	fl_release_shares(&r[1], NAN, 0);

	/* The answer line: what was asked first; JSON numbers exact, null
	 * when unbounded. */
	WRITES("epsilon 0.5 delta 1e-05 accountant rdp order 10.5 steps 100\n",
	    fl_answer_write(fp, &q, &p[0], NULL, 100, 0, NULL, 0));
	WRITES("{\"accountant\":\"rdp\",\"epsilon\":0.5,\"delta\":1e-05,"
	    "\"order\":10.5,\"steps\":100,\"release\":3}\n",
	    fl_answer_write(fp, &q, &p[0], NULL, 100, 3, "release", 1));
	q.accountant = FL_ACC_PLD;
	q.has_budget = 1;
	q.budget = 2;
	WRITES("noise 1.5 epsilon inf delta 1e-05 accountant pld interval "
	    "0.0001 steps 7 budget 2\n",
	    fl_answer_write(fp, &q, &p[2], &z, 7, 0, NULL, 0));
	WRITES("{\"accountant\":\"pld\",\"epsilon\":null,\"delta\":1e-05,"
	    "\"noise\":1.5,\"interval\":0.0001,\"steps\":7,\"budget\":2}\n",
	    fl_answer_write(fp, &q, &p[2], &z, 7, 0, NULL, 1));
	q.accountant = FL_ACC_RDP;
	q.has_budget = 0;

	/* A report: columns as wide as their cells, then the answer after
	 * all the releases; an empty ledger has spent nothing. */
	WRITES("release  round  mechanism     q  steps     noise  clients  "
	    "epsilon\n"
	    "      1     12  gaussian    0.1    100       1.1        -      "
	    "0.5\n"
	    "      2      -  skellam    0.02      1  0.921954       90     "
	    "1.25\n"
	    "epsilon 1.25 delta 1e-05 accountant rdp order 8 steps 101 "
	    "releases 2\n",
	    fl_report_write(fp, &q, r, 2, p, 0));
	WRITES("{\"accountant\":\"rdp\",\"epsilon\":1.25,\"delta\":1e-05,"
	    "\"releases\":[{\"release\":1,\"round\":12,\"mechanism\":"
	    "\"gaussian\",\"q\":0.1,\"steps\":100,\"noise\":1.1,\"clip\":"
	    "0.5,\"epsilon\":0.5,\"order\":10.5},{\"release\":2,\"round\":"
	    "null,\"mechanism\":\"skellam\",\"q\":0.02,\"steps\":1,"
	    "\"noise\":0.9219544457292886,\"clients\":90,\"sigma\":500,"
	    "\"sensitivity\":5000,\"dim\":65536,\"epsilon\":1.25,"
	    "\"order\":8}]}\n",
	    fl_report_write(fp, &q, r, 2, p, 1));
	WRITES("release  round  mechanism  q  steps  noise  clients  epsilon\n"
	    "epsilon 0 delta 1e-05 accountant rdp steps 0\n",
	    fl_report_write(fp, &q, r, 0, p, 0));
	WRITES("{\"accountant\":\"rdp\",\"epsilon\":0,\"delta\":1e-05,"
	    "\"releases\":[]}\n", fl_report_write(fp, &q, r, 0, p, 1));
	/* delta at an epsilon: the last column is delta. */
	q.given_eps = 1;
	q.epsilon = 3;
	WRITES("release  round  mechanism  q  steps  noise  clients  delta\n"
	    "delta 0 epsilon 3 accountant rdp steps 0\n",
	    fl_report_write(fp, &q, r, 0, p, 0));

	/* A curve. */
	WRITES("steps delta\n10 1e-05\n25 1e-05\n",
	    fl_curve_write(fp, &q, p, at, 2, 0));
	q.given_eps = 0;
	WRITES("{\"accountant\":\"rdp\",\"delta\":1e-05,\"points\":["
	    "{\"steps\":10,\"epsilon\":0.5,\"order\":10.5},{\"steps\":25,"
	    "\"epsilon\":1.25,\"order\":8}]}\n",
	    fl_curve_write(fp, &q, p, at, 2, 1));
}

void
test_account_names(void)
{
	enum fl_accountant a = FL_ACC_RDP;

	for (int k = FL_ACC_RDP; k <= FL_ACC_EXACT; k++) {
		CHECK(fl_accountant_parse(fl_accountant_name(
		    (enum fl_accountant)k), &a) == 0);
		CHECK((int)a == k);
	}
	CHECK(strcmp(fl_accountant_name(FL_ACC_RDP_CLASSIC), "rdp-classic")
	    == 0);
	CHECK(fl_accountant_parse("pld", &a) == 0 && a == FL_ACC_PLD);
	CHECK(fl_accountant_parse("PLD", &a) < 0 && a == FL_ACC_PLD);
	CHECK(fl_accountant_parse("", &a) < 0);
}

void
test_account_plan(void)
{
	struct fl_account acct = { FL_ACC_RDP, NULL, 0 };
	struct fl_question q = { FL_ACC_RDP, 0, 0, 1e-5, 1, 2 };
	struct fl_release rel[3], tmpl;
	struct fl_privacy all[3], p, cum[3], out[4];
	struct fl_error err;
	uint64_t at[4];

	memset(rel, 0, sizeof(rel));
	for (int i = 0; i < 3; i++) {
		rel[i].mech = FL_MECH_GAUSSIAN;
		rel[i].round = FL_ROUND_NONE;
		rel[i].q = 0.01 * (i + 1);
		rel[i].noise = 1 + 0.1 * i;
		rel[i].steps = 100 * (i + 1);
	}
	/* After two fixed releases: the same as the three in a row. */
	CHECK(fl_account_run(&acct, rel, 3, 0, 0, 1e-5, all, &err) == 0);
	CHECK(fl_account_after(&acct, rel, 2, rel + 2, 1, 0, 0, 1e-5, &p,
	    &err) == 0);
	CHECK(p.epsilon == all[0].epsilon && p.order == all[0].order);
	CHECK(fl_account_after(&acct, NULL, 0, rel, 3, 0, 0, 1e-5, &p,
	    &err) == 0 && p.epsilon == all[0].epsilon);
	CHECK(fl_account_after(&acct, rel, 1, rel + 1, 2, 1, 0, 1e-5, cum,
	    &err) == 0 && cum[2].epsilon == all[0].epsilon);
	CHECK(cum[0].epsilon < cum[1].epsilon && cum[1].epsilon <
	    cum[2].epsilon);
	/* delta at an epsilon, the other way round. */
	CHECK(fl_account_after(&acct, rel, 2, rel + 2, 1, 0, 1, 2, &p,
	    &err) == 0 && p.epsilon == 2 && p.delta > 0 && p.delta < 1);

	/* The curve: 1000 steps every 300 after rel[0]; the last point is
	 * the whole release's, the steps count the fixed ones. */
	tmpl = rel[1];
	tmpl.steps = 1000;
	CHECK(fl_curve_points(1000, 300) == 4);
	CHECK(fl_curve_points(1000, 1000) == 1);
	CHECK(fl_curve_points(1000, 1) == 1000);
	CHECK(fl_account_curve(&acct, rel, 1, &tmpl, 300, 0, 1e-5, out, at,
	    &err) == 0);
	CHECK(at[0] == 400 && at[1] == 700 && at[2] == 1000 && at[3] == 1100);
	CHECK(fl_account_after(&acct, rel, 1, &tmpl, 1, 0, 0, 1e-5, &p,
	    &err) == 0);
	CHECK(near(out[3].epsilon, p.epsilon, 1e-12));
	for (int i = 1; i < 4; i++)
		CHECK(out[i].epsilon > out[i - 1].epsilon);
	/* An error of the accountant comes back. */
	acct.accountant = FL_ACC_EXACT;
	CHECK(fl_account_curve(&acct, NULL, 0, &tmpl, 300, 0, 1e-5, out, at,
	    &err) < 0);
	CHECK(strncmp(err.msg, "the exact accountant takes", 26) == 0);

	/* Over the budget: epsilon above it, or not a number; delta at an
	 * epsilon has no budget. */
	p.epsilon = 2;
	CHECK(!fl_over_budget(&q, &p));
	p.epsilon = 2.000001;
	CHECK(fl_over_budget(&q, &p));
	p.epsilon = NAN;
	CHECK(fl_over_budget(&q, &p));
	q.given_eps = 1;
	CHECK(!fl_over_budget(&q, &p));
	q.given_eps = 0;
	q.has_budget = 0;
	CHECK(!fl_over_budget(&q, &p));
	/* delta below 1/population, or the warning. */
	q.delta = 1e-3;
	CHECK(fl_delta_check(&q, 999, &err) == 0);
	CHECK(fl_delta_check(&q, 0, &err) == 0);
	CHECK(fl_delta_check(&q, 1000, &err) < 0 && err.code == FL_EINVAL);
	CHECK(strcmp(err.msg, "delta '0.001' is not below 1/population "
	    "('0.001'): a release of one whole record would be allowed") == 0);
	q.given_eps = 1;
	CHECK(fl_delta_check(&q, 1000, &err) == 0);
}

void
test_account_ledger_path(void)
{
	char dir[] = "/tmp/fl-unit.XXXXXX", path[64];
	struct fl_error err;
	FILE *fp;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/L", dir);
	CHECK(fl_ledger_missing(path) == 1);
	/* An anchor of no releases is reached by no ledger. */
	CHECK(fl_ledger_check_anchor_path(path, 0, &err) == 0);
	CHECK(fl_ledger_check_anchor_path(path, 3, &err) < 0);
	CHECK(err.code == FL_EFORMAT);
	CHECK(strcmp(err.msg, "no ledger, where its anchor says 3 releases: "
	    "the ledger lost its past; restore it from a copy") == 0);
	fp = fopen(path, "w");
	CHECK(fp != NULL);
	if (fp != NULL)
		fclose(fp);
	CHECK(fl_ledger_missing(path) == 0);
	CHECK(fl_ledger_check_anchor_path(path, 3, &err) == 0);
	unlink(path);
	rmdir(dir);
}
