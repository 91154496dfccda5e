/* SPDX-License-Identifier: ISC */
/*
 * fl-account - the privacy accountant and budget ledger: epsilon (or
 * delta, or the noise multiplier) of releases given on the command line
 * or read from the dp.* metadata of records, and an append-only ledger
 * that refuses a spend over budget before writing anything.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tool.h"

/* Exit status of a spend (or a report) over the budget. */
#define EXIT_BUDGET 3

static const char usage[] =
    "fl-account [-a name] [-d delta | -e eps] [--every=k] [-j] [-o file]\n"
    "           [release] [file ...]\n"
    "       fl-account --target-epsilon=eps [-a name] [-d delta] [-j]\n"
    "           [-o file] [-l ledger] release\n"
    "       fl-account -l ledger [-s [-n]] [-B eps] [-a name]\n"
    "           [-d delta | -e eps] [--cohort=file] [--anchor=file] [-j]\n"
    "           [-o file] [release] [file ...]\n"
    "       fl-account --sample -q rate | -b K -N population --round=R\n"
    "           [--seed=text] [-o file]\n"
    "       fl-account -m tree -z noise | --target-epsilon=eps -T rounds\n"
    "           [--participations=k --separation=b] [-d delta | -e eps] [-j]\n"
    "       fl-account -m banded --bands=B -z noise | --target-epsilon=eps\n"
    "           -T rounds [--participations=k --separation=b]\n"
    "           [-d delta | -e eps] [-j]";

static const char options[] =
    "Privacy accounting for DP-SGD and DP-FedAvg rounds: epsilon at delta\n"
    "(or delta at epsilon, or the noise multiplier for a target epsilon)\n"
    "of releases composed, and an append-only budget ledger.  A release\n"
    "comes from the options below, else from the dp.* metadata of each\n"
    "record read (files, or stdin).  With -l and no release: a report, the\n"
    "epsilon after each release of the ledger.\n"
    "\n"
    "  -a, --accountant=NAME       rdp (default), rdp-classic (Mironov's\n"
    "                              2017 conversion, as papers before 2021),\n"
    "                              pld (tight), exact (q = 1 only)\n"
    "      --anchor=FILE           with -l: refuse a ledger that does not\n"
    "                              reach the head anchored in the model FILE\n"
    "                              (fl-apply --ledger writes it)\n"
    "  -b, --batch=K               expected sample per step: clients per\n"
    "                              round or examples per batch; q = K/N\n"
    "      --bands=B               -m banded: the strategy's bands, at most\n"
    "                              the rounds and (k > 1) the separation\n"
    "  -B, --budget=EPS            refuse a spend that would take epsilon\n"
    "                              above EPS: exit 3, the ledger untouched\n"
    "      --cohort=FILE           the round's cohort (from --sample): its\n"
    "                              sampling rate and round, and whether it\n"
    "                              was drawn from a seed\n"
    "      --clients=N             clients summed (distributed noise: the\n"
    "                              shares in the sum, the survivors)\n"
    "      --clip=C                L2 clip bound, recorded in the ledger\n"
    "      --corrupt=F             distributed noise: the fraction of the\n"
    "                              cohort assumed to collude with the\n"
    "                              server, whose noise shares are not\n"
    "                              charged (default: the sum's\n"
    "                              secagg.corrupt, else 0.05)\n"
    "  -d, --delta=DELTA           target delta (default 1e-5)\n"
    "      --dim=D                 coordinates noised (distributed noise)\n"
    "  -n, --dry-run               with --spend: check, print, write nothing\n"
    "      --dropout=P             distributed noise: plan it for the shares\n"
    "                              that reach the sum with probability 0.99\n"
    "                              when each of --clients (or of the\n"
    "                              population's sample) drops with\n"
    "                              probability P; prints them as shares\n"
    "      --epochs=E              steps = ceil(E / q)\n"
    "      --force                 with --spend: charge distributed noise\n"
    "                              from fewer shares than planned (refused\n"
    "                              otherwise; without --spend, a warning)\n"
    "  -e, --epsilon=EPS           print delta at EPS instead of epsilon\n"
    "      --every=K               a curve: epsilon after every K steps of\n"
    "                              the release (after the ledger, if -l)\n"
    "  -h, --help                  print this help and exit\n"
    "      --indicator-noise=S     adaptive clipping: std of the noise on\n"
    "                              the clients' summed 0/1 clip indicators\n"
    "                              (sensitivity 1), charged with the release\n"
    "      --interval=D            PLD loss grid (default 1e-4; made\n"
    "                              coarser when memory needs it)\n"
    "  -j, --json                  print one JSON object\n"
    "  -l, --ledger=FILE           the budget ledger\n"
    "  -m, --mechanism=NAME        gaussian (default), discrete-gaussian or\n"
    "                              skellam (integer noise summed over\n"
    "                              clients: --sigma, --clients,\n"
    "                              --sensitivity, --dim), or tree (DP-FTRL,\n"
    "                              no sampling: -z, -T rounds, the pattern;\n"
    "                              prints rho-zCDP), or banded (DP-FTRL by\n"
    "                              banded matrix factorization: the same\n"
    "                              and --bands)\n"
    "  -z, --noise=Z               noise multiplier: noise std / L2\n"
    "                              sensitivity (gaussian)\n"
    "      --not-private           --spend: take releases whose noise came\n"
    "                              from a seed (dp.seeded), which is not\n"
    "                              private\n"
    "      --orders=LIST           RDP orders: default, opacus,\n"
    "                              dp-accounting or a list: 1.5,2,4-64,256\n"
    "  -o, --output=FILE           write to FILE atomically instead of stdout\n"
    "      --participations=K      -m tree, banded: rounds a client takes part in, at\n"
    "                              most (default 1)\n"
    "  -N, --population=N          clients (user level) or examples (sample\n"
    "                              level) sampled from: q = K/N, K from\n"
    "                              --batch or the records' cohort\n"
    "      --round=R               round number for the ledger (default:\n"
    "                              the record's round)\n"
    "  -q, --sample-rate=Q         Poisson sampling rate in (0, 1], or A/B\n"
    "      --sensitivity=D2        L2 sensitivity in grid units\n"
    "      --sensitivity-l1=D1     L1 sensitivity in grid units (default\n"
    "                              D2 min(sqrt(dim), D2))\n"
    "      --separation=B          -m tree, banded: rounds between two participations\n"
    "                              of a client, at least (default 1)\n"
    "      --shuffle-as-poisson    charge shuffled DP-SGD batches\n"
    "                              (dp.sampling=shuffle) as Poisson sampling:\n"
    "                              an approximation, refused otherwise\n"
    "      --sigma=S               std of one client's noise share, grid\n"
    "                              units (distributed noise)\n"
    "      --sample                draw a round's cohort by Poisson sampling\n"
    "                              from the OS's CSPRNG: a record of the\n"
    "                              client numbers (0 to N-1) for --cohort\n"
    "      --seed=TEXT             --sample: draw from TEXT: reproducible\n"
    "                              and NOT PRIVATE (tests and simulations)\n"
    "  -s, --spend                 append the releases to the ledger\n"
    "  -T, --steps=T               compositions: rounds, or DP-SGD steps\n"
    "                              (default 1)\n"
    "      --target-epsilon=EPS    print the smallest noise multiplier that\n"
    "                              keeps epsilon (with the ledger's spend,\n"
    "                              if -l) at most EPS (6 digits, rounded up)\n"
    "  -V, --version               print the version and exit\n"
    "\n"
    "Exit status: 0 success, 1 failure, 2 usage error, 3 over the budget.\n";

/* Option values as given: parsed after the options, so --help always
 * wins. */
struct args {
	const char *accountant, *batch, *budget, *clients, *clip, *corrupt;
	const char *cohort, *delta, *dropout, *indicator, *seed, *anchor;
	const char *dim, *epochs, *epsilon, *every, *interval, *ledger;
	const char *mechanism;
	const char *noise, *orders, *output, *population, *round, *q;
	const char *sens, *sens1, *sigma, *steps, *target;
	const char *participations, *separation, *bands;
	int dry_run, force, json, spend, not_private, shuffle_as_poisson;
	int sample;
};

#define ARG(name, letter, field) \
	TOOL_OPT(name, letter, TOOL_ARG, struct args, field)
#define FLAG(name, letter, field) \
	TOOL_OPT(name, letter, TOOL_FLAG, struct args, field)

static const struct tool_opt opt_table[] = {
	ARG("accountant", 'a', accountant),
	ARG("batch", 'b', batch),
	ARG("bands", 0, bands),
	ARG("budget", 'B', budget),
	ARG("clients", 0, clients),
	ARG("clip", 0, clip),
	ARG("cohort", 0, cohort),
	ARG("corrupt", 0, corrupt),
	ARG("delta", 'd', delta),
	ARG("dim", 0, dim),
	ARG("anchor", 0, anchor),
	FLAG("dry-run", 'n', dry_run),
	ARG("dropout", 0, dropout),
	FLAG("force", 0, force),
	ARG("epochs", 0, epochs),
	ARG("epsilon", 'e', epsilon),
	ARG("every", 0, every),
	{ "help", 'h', TOOL_HELP, 0 },
	ARG("indicator-noise", 0, indicator),
	ARG("interval", 0, interval),
	FLAG("json", 'j', json),
	ARG("ledger", 'l', ledger),
	ARG("mechanism", 'm', mechanism),
	ARG("noise", 'z', noise),
	FLAG("not-private", 0, not_private),
	ARG("orders", 0, orders),
	ARG("output", 'o', output),
	ARG("participations", 0, participations),
	ARG("population", 'N', population),
	ARG("round", 0, round),
	FLAG("sample", 0, sample),
	ARG("sample-rate", 'q', q),
	ARG("seed", 0, seed),
	ARG("sensitivity", 0, sens),
	ARG("sensitivity-l1", 0, sens1),
	ARG("separation", 0, separation),
	FLAG("shuffle-as-poisson", 0, shuffle_as_poisson),
	ARG("sigma", 0, sigma),
	FLAG("spend", 's', spend),
	ARG("steps", 'T', steps),
	ARG("target-epsilon", 0, target),
	{ "version", 'V', TOOL_VERSION, 0 },
	{ NULL, 0, 0, 0 }
};

struct opts {
	struct fl_account acct;
	struct fl_orders orders;
	struct fl_question ask; /* accountant, delta or epsilon, budget */
	double target, q;
	double corrupt;         /* NAN: the records' or the default */
	uint64_t population, batch, every;
	int has_release;
	struct fl_release cli;  /* the release of the options */
	double epochs;
	int tree;               /* -m tree: cli.steps rounds, the pattern */
	uint64_t tree_k, tree_b;
	int banded;             /* -m banded (tree set too): the bands */
	uint64_t bands;
};

/* ---- parsing ---- */

/* A rate in (0, 1]: a number, or A/B. */
static double
parse_rate(const char *opt, const char *arg)
{
	const char *slash = strchr(arg, '/');
	double v;

	if (slash != NULL) {
		char num[64];
		size_t k = (size_t)(slash - arg);
		double a, b;

		if (k >= sizeof(num))
			tool_die("invalid %s '%s': not a number", opt, arg);
		memcpy(num, arg, k);
		num[k] = '\0';
		a = tool_opt_double(opt, num, 0, INFINITY);
		b = tool_opt_double(opt, slash + 1, 0, INFINITY);
		v = a / b;
	} else
		v = tool_opt_double(opt, arg, -INFINITY, INFINITY);
	if (!(v > 0 && v <= 1))
		tool_die("invalid %s '%s': must be in (0, 1]", opt, arg);
	return v;
}

/* --dropout: distributed noise planned for the shares that reach the sum
 * (fl_shares_planned): of the population's Poisson sample when -N is
 * given, else of the --clients a round asks. */
static void
plan_shares(const struct args *a, struct opts *o)
{
	struct fl_release *c = &o->cli;
	double d = tool_opt_double("--dropout", a->dropout, 0, 1);
	int sampled = o->population > 0 && o->batch == 0;

	if (!(d < 1))
		tool_die("invalid --dropout '%s': must be below 1", a->dropout);
	if (c->mech == FL_MECH_GAUSSIAN || (c->clients == 0 && !sampled))
		tool_usage_error("--dropout plans the shares of distributed "
		    "noise: -m discrete-gaussian or skellam, with --clients "
		    "or --population");
	c->clients = sampled ? fl_shares_planned(o->population,
	    o->q * (1 - d)) : fl_shares_planned(c->clients, 1 - d);
	if (c->clients == 0)
		tool_die("--dropout '%s': no share count that enough clients "
		    "reach with probability %g", a->dropout, 1 - FL_SHORT_RISK);
	o->ask.shares = c->clients;
}

/* -m tree or banded: DP-FTRL over -T rounds, no sampling. */
static void
parse_tree(const struct args *a, struct opts *o, int banded)
{
	const char *m = banded ? "-m banded" : "-m tree";
	const char *no[] = { a->q, a->batch, a->population, a->sigma,
	    a->clients, a->dim, a->sens1, a->indicator, a->epochs, a->dropout,
	    a->cohort, a->every, a->corrupt, a->epsilon != NULL &&
	    a->target != NULL ? a->epsilon : NULL };
	struct fl_release *c = &o->cli;

	for (size_t i = 0; i < sizeof(no) / sizeof(*no); i++)
		if (no[i] != NULL)
			tool_usage_error("%s takes -z (or "
			    "--target-epsilon), -T rounds, --participations, "
			    "--separation, --clip, --sensitivity, -d or -e, and "
			    "-l with --target-epsilon: no sampling, no shares",
			    m);
	if (a->noise == NULL && a->target == NULL)
		tool_usage_error("%s needs -z or --target-epsilon", m);
	if (banded && a->bands == NULL)
		tool_usage_error("-m banded needs --bands");
	if (a->noise != NULL && a->target != NULL)
		tool_usage_error("-z and --target-epsilon: give one");
	o->tree = 1;
	if (a->noise != NULL)
		c->noise = tool_opt_positive("--noise", a->noise);
	c->steps = a->steps == NULL ? 1 : tool_opt_u64("--steps", a->steps, 1,
	    FL_TREE_MAX_ROUNDS);
	o->tree_k = a->participations == NULL ? 1 : tool_opt_u64(
	    "--participations", a->participations, 1, FL_TREE_MAX_ROUNDS);
	o->tree_b = a->separation == NULL ? 1 : tool_opt_u64("--separation",
	    a->separation, 1, FL_TREE_MAX_ROUNDS);
	if (banded) {
		o->banded = 1;
		o->bands = tool_opt_u64("--bands", a->bands, 1,
		    FL_BANDED_MAX_ROUNDS);
	}
	/* The noise is a multiplier of the per-round sensitivity: a
	 * sensitivity other than the clip bound is another mechanism. */
	if (a->sens != NULL && a->clip != NULL &&
	    tool_opt_positive("--sensitivity", a->sens) !=
	    tool_opt_positive("--clip", a->clip))
		tool_die("--sensitivity '%s' does not match the clip bound "
		    "'%s': a %s round's L2 sensitivity is its clip bound",
		    a->sens, a->clip, banded ? "banded" : "tree");
}

/* What the tree's release gives, as fl-account(1) OUTPUT says. */
static void
tree_write(FILE *fp, const struct fl_tree_privacy *t, const struct opts *o,
    int solved, int json, const double *c, double F)
{
	const struct fl_question *q = &o->ask;

	if (json) {
		fprintf(fp, "{\"mechanism\":\"%s\",\"rho\":", o->banded ?
		    "banded" : "tree");
		fl_json_number(fp, t->rho);
		fprintf(fp, ",\"epsilon\":");
		fl_json_number(fp, t->epsilon);
		fprintf(fp, ",\"delta\":");
		fl_json_number(fp, t->delta);
		fprintf(fp, ",\"conversion\":\"exact-gaussian\","
		    "\"epsilon_at_1e-10\":");
		fl_json_number(fp, t->epsilon10);
		fprintf(fp, ",\"zcdp_epsilon_at_1e-10\":");
		fl_json_number(fp, t->epsilon10_rdp);
		fprintf(fp, ",\"noise\":");
		fl_json_number(fp, t->noise);
		fprintf(fp, ",\"sensitivity\":");
		fl_json_number(fp, sqrt(t->sens2));
		fprintf(fp, ",\"rounds\":%llu,\"participations\":%llu,"
		    "\"separation\":%llu",
		    (unsigned long long)o->cli.steps,
		    (unsigned long long)o->tree_k,
		    (unsigned long long)o->tree_b);
		if (o->banded) {
			fprintf(fp, ",\"bands\":%llu,\"prefix_sum_variance\":",
			    (unsigned long long)o->bands);
			fl_json_number(fp, t->noise * t->noise * F);
			fprintf(fp, ",\"coefficients\":[");
			for (uint64_t i = 0; i < o->bands; i++) {
				if (i > 0)
					fputc(',', fp);
				fl_json_number(fp, c[i]);
			}
			fputc(']', fp);
		}
		fprintf(fp, "}\n");
		return;
	}
	if (solved)
		fprintf(fp, "noise %.6g ", t->noise);
	if (q->given_eps)
		fprintf(fp, "rho %.6g delta %.6g epsilon %.6g", t->rho,
		    t->delta, t->epsilon);
	else
		fprintf(fp, "rho %.6g epsilon %.6g delta %.6g", t->rho,
		    t->epsilon, t->delta);
	fprintf(fp, " conversion exact-gaussian epsilon-at-1e-10 %.6g "
	    "zcdp-epsilon-at-1e-10 %.6g", t->epsilon10, t->epsilon10_rdp);
	if (!solved)
		fprintf(fp, " noise %.6g", t->noise);
	fprintf(fp, " sensitivity %.6g rounds %llu participations %llu "
	    "separation %llu", sqrt(t->sens2),
	    (unsigned long long)o->cli.steps, (unsigned long long)o->tree_k,
	    (unsigned long long)o->tree_b);
	if (o->banded)
		fprintf(fp, " bands %llu prefix-sum-variance %.6g",
		    (unsigned long long)o->bands, t->noise * t->noise * F);
	fputc('\n', fp);
}

/* -m tree: the release's rho and epsilon, or the noise for a target
 * (after the ledger's spend, with -l). */
static int
tree_mode(const struct args *a, struct opts *o, int nops)
{
	struct fl_tree_privacy t;
	struct tool_output out;
	struct fl_error err;
	double z = o->cli.noise, s2, F = 0, *c = NULL;
	uint64_t ts2;

	if (a->spend)
		tool_usage_error("a tree's rounds are spent from the models "
		    "fl-apply --ftrl writes: fl-account -l ledger -s MODEL");
	if (a->ledger != NULL && a->target == NULL)
		tool_usage_error("-m %s with --ledger takes --target-epsilon",
		    o->banded ? "banded" : "tree");
	if (nops > 0)
		tool_usage_error("unexpected operand (the release is given by "
		    "options)");
	/* The release's squared sensitivity: the tree's for the pattern,
	 * or the banded strategy's (computed here, deterministically). */
	if (o->banded) {
		struct fl_banded_fit fit = { 0 };

		if (fl_banded_check(o->cli.steps, o->bands, o->tree_k,
		    o->tree_b, &err) < 0)
			tool_die("%s", err.msg);
		if ((c = malloc(o->bands * sizeof(*c))) == NULL)
			tool_die("out of memory");
		if (fl_banded_optimize(o->cli.steps, o->bands, c, &fit,
		    &err) < 0 || fl_banded_error(o->cli.steps, o->bands, c,
		    &F, NULL, &err) < 0 || fl_banded_sens2(o->cli.steps,
		    o->bands, c, o->tree_k, o->tree_b, &s2, &err) < 0)
			tool_die("%s", err.msg);
	} else {
		if (fl_tree_sens2(o->cli.steps, o->tree_k, o->tree_b, &ts2,
		    &err) < 0)
			tool_die("%s", err.msg);
		s2 = (double)ts2;
	}
	if (a->ledger != NULL) {
		struct fl_ledger led;
		struct fl_release tmpl;
		struct fl_privacy p;
		double zg;

		/* The release is one Gaussian of multiplier z / sqrt(s2),
		 * composed after the ledger's rows. */
		memset(&tmpl, 0, sizeof(tmpl));
		tmpl.round = FL_ROUND_NONE;
		tmpl.mech = FL_MECH_GAUSSIAN;
		tmpl.q = 1;
		tmpl.steps = 1;
		tmpl.noise = 1;
		memset(&led, 0, sizeof(led));
		led.fd = -1;
		if (!fl_ledger_missing(a->ledger) &&
		    fl_ledger_open(&led, a->ledger, 0, &err) < 0)
			tool_die("%s: %s", a->ledger, err.msg);
		if (fl_account_noise(&o->acct, led.rows, led.nrows, &tmpl,
		    o->target, o->ask.delta, &zg, &p, &err) < 0)
			tool_die("%s", err.msg);
		z = fl_round_up_6(zg * sqrt(s2));
		zg = z / sqrt(s2);
		tool_output_open(&out, a->output, 0);
		fl_answer_write(out.fp, &o->ask, &p, &z, 1 +
		    fl_release_steps(led.rows, led.nrows), 0, NULL, a->json);
		tool_output_close(&out);
		fl_ledger_close(&led);
		free(c);
		return 0;
	}
	if (a->target != NULL && fl_zcdp_noise(s2, o->target, o->ask.delta,
	    &z, &err) < 0)
		tool_die("--target-epsilon '%s': %s", a->target, err.msg);
	if (fl_zcdp_account(s2, z, o->ask.given_eps, o->ask.given_eps ?
	    o->ask.epsilon : o->ask.delta, &t, &err) < 0)
		tool_die("%s", err.msg);
	tool_output_open(&out, a->output, 0);
	tree_write(out.fp, &t, o, a->target != NULL, a->json, c, F);
	tool_output_close(&out);
	free(c);
	return 0;
}

static void
parse_args(const struct args *a, struct opts *o)
{
	struct fl_error err;
	struct fl_release *c = &o->cli;
	double ind = 0;

	memset(o, 0, sizeof(*o));
	c->round = FL_ROUND_NONE;
	c->steps = 1;
	o->acct.accountant = FL_ACC_RDP;
	if (a->accountant != NULL && fl_accountant_parse(a->accountant,
	    &o->acct.accountant) < 0)
		tool_die("invalid --accountant '%s': want rdp, rdp-classic, "
		    "pld or exact", a->accountant);
	o->ask.accountant = o->acct.accountant;
	if (fl_orders_parse(&o->orders, a->orders, &err) < 0)
		tool_die("invalid --orders '%s': %s", a->orders, err.msg);
	o->acct.orders = &o->orders;
	if (a->interval != NULL) {
		o->acct.interval = tool_opt_positive("--interval", a->interval);
		if (o->acct.interval < 1e-6 || o->acct.interval > 1)
			tool_die("invalid --interval '%s': must be in "
			    "[1e-06, 1]", a->interval);
	}
	o->ask.delta = 1e-5;
	if (a->delta != NULL) {
		o->ask.delta = tool_opt_double("--delta", a->delta, -INFINITY,
		    INFINITY);
		if (!(o->ask.delta > 0 && o->ask.delta < 1))
			tool_die("invalid --delta '%s': must be in (0, 1)",
			    a->delta);
	}
	if (a->epsilon != NULL) {
		o->ask.epsilon = tool_opt_double("--epsilon", a->epsilon, 0,
		    INFINITY);
		o->ask.given_eps = 1;
	}
	if (a->budget != NULL) {
		o->ask.budget = tool_opt_double("--budget", a->budget, 0,
		    INFINITY);
		o->ask.has_budget = 1;
	}
	if (a->target != NULL)
		o->target = tool_opt_positive("--target-epsilon", a->target);
	if (a->every != NULL)
		o->every = tool_opt_u64("--every", a->every, 1, UINT64_MAX);

	if ((a->participations != NULL || a->separation != NULL) &&
	    (a->mechanism == NULL || (strcmp(a->mechanism, "tree") != 0 &&
	    strcmp(a->mechanism, "banded") != 0)))
		tool_usage_error("--participations and --separation go with "
		    "-m tree or banded");
	if (a->bands != NULL && (a->mechanism == NULL ||
	    strcmp(a->mechanism, "banded") != 0))
		tool_usage_error("--bands goes with -m banded");
	if (a->mechanism != NULL && (strcmp(a->mechanism, "tree") == 0 ||
	    strcmp(a->mechanism, "banded") == 0)) {
		parse_tree(a, o, strcmp(a->mechanism, "banded") == 0);
		return;
	}
	/* The release of the options (its fields also override records'). */
	if (a->mechanism != NULL && fl_mechanism_parse(a->mechanism,
	    &c->mech) < 0)
		tool_die("invalid --mechanism '%s': want gaussian, "
		    "discrete-gaussian or skellam", a->mechanism);
	if (a->q != NULL)
		o->q = parse_rate("--sample-rate", a->q);
	if (a->population != NULL)
		o->population = tool_opt_u64("--population", a->population, 1,
		    UINT64_MAX);
	if (a->batch != NULL)
		o->batch = tool_opt_u64("--batch", a->batch, 1, UINT64_MAX);
	if (o->batch > 0) {
		if (o->population == 0)
			tool_usage_error("--batch needs --population");
		if (a->q != NULL)
			tool_usage_error("--batch with --sample-rate: give one");
		if (o->batch > o->population)
			tool_die("invalid --batch '%s': above the population "
			    "'%s'", a->batch, a->population);
		o->q = (double)o->batch / (double)o->population;
	}
	if (a->noise != NULL)
		c->noise = tool_opt_positive("--noise", a->noise);
	if (a->sigma != NULL)
		c->sigma = tool_opt_positive("--sigma", a->sigma);
	if (a->sens != NULL)
		c->sens2 = tool_opt_positive("--sensitivity", a->sens);
	if (a->sens1 != NULL)
		c->sens1 = tool_opt_positive("--sensitivity-l1", a->sens1);
	if (a->clients != NULL)
		c->clients = tool_opt_u64("--clients", a->clients, 1,
		    UINT64_MAX);
	if (a->dim != NULL)
		c->dim = tool_opt_u64("--dim", a->dim, 1, UINT64_MAX);
	if (a->clip != NULL)
		c->clip = tool_opt_positive("--clip", a->clip);
	o->corrupt = NAN;
	if (a->corrupt != NULL) {
		o->corrupt = tool_opt_double("--corrupt", a->corrupt, 0, 1);
		if (!(o->corrupt < 1))
			tool_die("invalid --corrupt '%s': must be below 1",
			    a->corrupt);
	}
	if (a->round != NULL)
		c->round = tool_opt_u64("--round", a->round, 0,
		    UINT64_MAX - 1);
	if (a->steps != NULL && a->epochs != NULL)
		tool_usage_error("--steps and --epochs: give one");
	if (a->steps != NULL)
		c->steps = tool_opt_u64("--steps", a->steps, 1,
		    FL_MAX_STEPS);
	if (a->epochs != NULL)
		o->epochs = tool_opt_positive("--epochs", a->epochs);

	o->has_release = a->noise != NULL || a->sigma != NULL ||
	    a->target != NULL;
	if (!o->has_release) {
		if (a->indicator != NULL)
			tool_usage_error("--indicator-noise goes with a release "
			    "given by options (records carry theirs)");
		return;
	}
	if (o->q == 0)
		tool_usage_error("a release needs --sample-rate (or --batch "
		    "and --population)");
	c->q = o->q;
	if (o->epochs > 0 && fl_steps_epochs(&c->steps, o->epochs,
	    o->population, o->batch, o->q, &err) < 0)
		tool_die("invalid --epochs '%s': %s", a->epochs, err.msg);
	if (a->indicator != NULL)
		ind = tool_opt_positive("--indicator-noise", a->indicator);
	if (a->dropout != NULL)
		plan_shares(a, o);
	if (a->target != NULL)
		o->ask.target = o->target;
	if (fl_release_from_options(c, ind, o->corrupt, a->target != NULL,
	    &err) < 0)
		tool_usage_error("%s", err.msg);
	if (fl_release_check(c, &err) < 0)
		tool_die("%s", err.msg);
}

/* ---- cohorts ---- */

/* fl-account --sample: one round's cohort, from the OS unless --seed. */
static int
draw_cohort(const struct args *a, const struct opts *o)
{
	unsigned char key[FL_RNG_KEYBYTES];
	struct tool_output out;
	struct fl_record rec;
	struct fl_error err;

	if (a->seed != NULL) {
		fl_rng_seed_text(key, a->seed);
		tool_warn("warning: a cohort drawn from --seed: whoever knows "
		    "the seed knows who took part: not private");
	} else if (fl_rng_seed_os(key, &err) < 0)
		tool_die("%s", err.msg);
	fl_record_init(&rec);
	if (fl_cohort_draw(&rec, o->population, o->q, o->cli.round, key,
	    a->seed != NULL, &err) < 0)
		tool_die("--sample: %s", err.msg);
	sodium_memzero(key, sizeof(key));
	tool_output_open(&out, a->output, 1);
	tool_output_record(&out, &rec, 0);
	tool_output_close(&out);
	fl_record_free(&rec);
	return 0;
}

static void
read_cohort(const char *path, struct fl_cohort *c)
{
	struct fl_record rec;
	struct fl_error err;

	fl_record_init(&rec);
	tool_read_one(path, &rec);
	if (fl_cohort_from_record(c, &rec, &err) < 0)
		tool_die("%s: %s", path, err.msg);
	fl_record_free(&rec);
}

/* ---- releases from records ---- */

static struct fl_release *
read_releases(int nfiles, char **files, const struct args *a,
    const struct opts *o, size_t *n)
{
	struct tool_input in;
	struct fl_record rec;
	struct fl_release *r = NULL;
	struct fl_error err;
	struct fl_cohort cohort;
	struct fl_charge ch = {
		.population = o->batch > 0 ? 0 : o->population,
		.corrupt = o->corrupt,
		.allow_seeded = !(a->spend && !a->not_private),
		.allow_shuffle = a->shuffle_as_poisson,
		.allow_short = !a->spend || a->force,
		.cohort = a->cohort != NULL ? &cohort : NULL,
		.cohort_name = a->cohort,
		.q = o->q, .steps = a->steps != NULL ? o->cli.steps : 0,
		.epochs = o->epochs, .round = o->cli.round, .clip = o->cli.clip
	};
	size_t cap = 0;
	unsigned seen, warned = 0;
	char why[FL_SHORT_TEXT];
	int rc;

	*n = 0;
	if (a->cohort != NULL)
		read_cohort(a->cohort, &cohort);
	tool_input_init(&in, nfiles, files);
	fl_record_init(&rec);
	while ((rc = tool_input_next(&in, &rec)) != 0) {
		struct fl_release x;

		if (rc < 0)
			exit(1);
		/* A model of DP-FTRL's tree: charged against the ledger's
		 * rows once it is open (charge_trees). */
		if ((rc = fl_tree_release_from_record(&x, &rec, &err)) < 0)
			tool_die("%s: record %lu: %s", in.name, in.recno,
			    err.msg);
		if (rc == 1 && x.not_private && !ch.allow_seeded)
			tool_die("%s: record %lu: tree noise from a seed "
			    "(ftrl.seeded): not private (--not-private to "
			    "charge it anyway)", in.name, in.recno);
		if (rc == 1 && x.not_private && !(warned & FL_CHARGE_SEEDED)) {
			tool_warn("warning: %s: record %lu: noise from a seed: "
			    "not private (accounted as if it were)", in.name,
			    in.recno);
			warned |= FL_CHARGE_SEEDED;
		}
		if (rc == 1)
			goto add;
		rc = fl_release_charge(&x, &rec, &ch, &seen, &err);
		if (seen & ~warned & FL_CHARGE_SEEDED)
			tool_warn("warning: %s: record %lu: noise from a seed: "
			    "not private (accounted as if it were)", in.name,
			    in.recno);
		if (seen & ~warned & FL_CHARGE_SHUFFLED)
			tool_warn("warning: %s: record %lu: shuffled batches "
			    "charged as Poisson sampling: an approximation, "
			    "which may understate epsilon", in.name, in.recno);
		if (rc == 0 && seen & ~warned & FL_CHARGE_SHORT)
			tool_warn("warning: %s: record %lu: %s", in.name,
			    in.recno, fl_release_short(&x, why));
		warned |= seen;
		if (rc < 0)
			tool_die("%s: record %lu: %s", in.name, in.recno,
			    err.msg);
		if (fl_charge_check(&ch, &err) < 0)
			tool_die("%s: %s", a->cohort, err.msg);
		if (fl_release_override(&x, &ch, &err) < 0)
			tool_die("%s: record %lu: %s", in.name, in.recno,
			    err.msg);
add:
		if (*n == cap) {
			cap = cap ? 2 * cap : 8;
			if ((r = realloc(r, cap * sizeof(*r))) == NULL)
				tool_die("out of memory");
		}
		r[(*n)++] = x;
	}
	fl_record_free(&rec);
	tool_input_free(&in);
	if (*n == 0)
		tool_die("no records: nothing to account");
	return r;
}

/* The tree rounds among rel[0..*n) charged after rows[0..nrows) (a
 * ledger's) and the releases before them: each the increment of its
 * pattern's sensitivity; a round that adds nothing is dropped. */
static void
charge_trees(struct fl_release *rel, size_t *n, const struct fl_release *rows,
    size_t nrows, const char *ledger)
{
	struct fl_release *all = tool_malloc((nrows + *n + 1) * sizeof(*all));
	struct fl_error err;
	size_t na = nrows, k = 0;

	if (nrows > 0)
		memcpy(all, rows, nrows * sizeof(*all));
	for (size_t i = 0; i < *n; i++) {
		int rc = 0;

		if (rel[i].tree_round > 0 && (rc = fl_tree_charge(&rel[i], all,
		    na, &err)) < 0)
			tool_die("%s: %s", ledger != NULL ? ledger : "tree",
			    err.msg);
		if (rc == 1 && rel[i].tree_bands > 0) {
			tool_warn("%s: banded tree %016llx round %llu adds "
			    "nothing to the sensitivity beyond the ledger's: "
			    "nothing to charge", ledger != NULL ? ledger :
			    "tree", (unsigned long long)rel[i].tree_id,
			    (unsigned long long)rel[i].tree_round);
			continue;
		}
		if (rc == 1) {
			tool_warn("%s: tree %016llx round %llu completes no "
			    "node a client's rounds can reach beyond the "
			    "ledger's: nothing to charge", ledger != NULL ?
			    ledger : "tree", (unsigned long long)rel[i].tree_id,
			    (unsigned long long)rel[i].tree_round);
			continue;
		}
		all[na++] = rel[i];
		rel[k++] = rel[i];
	}
	*n = k;
	free(all);
}

/* The ledger head anchored in the record of path (a model). */
static void
read_anchor(const char *path, uint64_t *releases, uint32_t *check)
{
	struct fl_record rec;
	struct fl_error err;
	int rc;

	fl_record_init(&rec);
	tool_read_one(path, &rec);
	rc = fl_ledger_anchor_read(&rec, releases, check, &err);
	if (rc < 0)
		tool_die("%s: record 1: %s", path, err.msg);
	if (rc == 0)
		tool_die("%s: record 1: no ledger anchor (fl-apply --ledger "
		    "writes one)", path);
	fl_record_free(&rec);
}

/* ---- modes ---- */

/* The releases r after the fixed ones, by the options' accountant; an
 * error is prefixed with what (NULL: nothing). */
static void
account(const struct opts *o, const struct fl_release *fixed, size_t nfixed,
    const struct fl_release *r, size_t n, int cumulative,
    struct fl_privacy *out, const char *what)
{
	struct fl_error err;

	if (fl_account_after(&o->acct, fixed, nfixed, r, n, cumulative,
	    o->ask.given_eps, o->ask.given_eps ? o->ask.epsilon :
	    o->ask.delta, out, &err) < 0) {
		if (what != NULL)
			tool_die("%s: %s", what, err.msg);
		tool_die("%s", err.msg);
	}
}

/*
 * epsilon (or delta) after every K steps of the release of the options,
 * following the fixed releases: a planning curve.
 */
static void
curve(FILE *fp, const struct opts *o, const struct fl_release *fixed,
    size_t nfixed, int json)
{
	uint64_t K = o->every, npts = fl_curve_points(o->cli.steps, K), *at;
	struct fl_privacy *p;
	struct fl_error err;

	if (npts > 1000000)
		tool_die("--every '%llu': %llu points, more than 1000000",
		    (unsigned long long)K, (unsigned long long)npts);
	p = tool_malloc(npts * sizeof(*p));
	at = tool_malloc(npts * sizeof(*at));
	if (fl_account_curve(&o->acct, fixed, nfixed, &o->cli, K,
	    o->ask.given_eps, o->ask.given_eps ? o->ask.epsilon :
	    o->ask.delta, p, at, &err) < 0)
		tool_die("%s", err.msg);
	fl_curve_write(fp, &o->ask, p, at, npts, json);
	free(at);
	free(p);
}

int
main(int argc, char **argv)
{
	struct args a;
	struct opts o;
	struct tool_output out;
	struct fl_ledger led;
	struct fl_release *rel = NULL;
	struct fl_privacy p;
	struct fl_error err;
	size_t nrel = 0;
	int first, rc = 0;
	uint64_t anchored = 0;
	uint32_t anchor_check = 0;

	tool_init(usage, argv);
	memset(&a, 0, sizeof(a));
	first = tool_options(argc, argv, opt_table, &a, options);

	/* Which mode: usage errors before any work. */
	if (a.sample && (a.ledger != NULL || a.cohort != NULL ||
	    a.noise != NULL || a.sigma != NULL || a.target != NULL ||
	    a.every != NULL || first < argc))
		tool_usage_error("--sample draws a cohort: it takes the rate "
		    "(-q, or --batch), --population, --round, --seed and -o");
	if (a.sample && (a.population == NULL || a.round == NULL ||
	    (a.q == NULL && a.batch == NULL)))
		tool_usage_error("--sample needs the rate (-q, or --batch), "
		    "--population and --round");
	if (a.seed != NULL && !a.sample)
		tool_usage_error("--seed goes with --sample");
	if (a.cohort != NULL && (a.q != NULL || a.batch != NULL))
		tool_usage_error("--cohort gives the sampling rate: drop "
		    "--sample-rate and --batch");
	if (a.spend && a.ledger == NULL)
		tool_usage_error("--spend needs --ledger");
	if (a.dry_run && !a.spend)
		tool_usage_error("--dry-run goes with --spend");
	if (a.force && !a.spend)
		tool_usage_error("--force goes with --spend");
	if (a.not_private && !a.spend)
		tool_usage_error("--not-private goes with --spend");
	if (a.target != NULL && (a.spend || a.epsilon != NULL))
		tool_usage_error("--target-epsilon goes with neither --spend "
		    "nor --epsilon");
	if (a.budget != NULL && a.ledger == NULL)
		tool_usage_error("--budget needs --ledger");
	if (a.anchor != NULL && a.ledger == NULL)
		tool_usage_error("--anchor needs --ledger");
	if (a.every != NULL && (a.spend || a.target != NULL))
		tool_usage_error("--every goes with neither --spend nor "
		    "--target-epsilon");
	if (a.budget != NULL && a.epsilon != NULL)
		tool_usage_error("--budget is an epsilon: drop --epsilon");
	parse_args(&a, &o);
	if (o.tree)
		return tree_mode(&a, &o, argc - first);
	if (a.sample)
		return draw_cohort(&a, &o);
	if (a.cohort != NULL && o.has_release)
		tool_usage_error("--cohort goes with releases from records");
	if (o.has_release && first < argc)
		tool_usage_error("unexpected operand '%s' (the release is "
		    "given by options)", argv[first]);
	if (a.every != NULL && !o.has_release)
		tool_usage_error("--every needs a release given by options");
	if (a.ledger != NULL && !a.spend && a.target == NULL &&
	    a.every == NULL && (o.has_release || first < argc))
		tool_usage_error("a release with --ledger needs --spend (and "
		    "--dry-run to try it)");
	if (fl_delta_check(&o.ask, o.population, &err) < 0)
		tool_warn("warning: %s", err.msg);

	/* The releases: from the options, or from records. */
	if (o.has_release) {
		rel = tool_malloc(sizeof(*rel));
		rel[0] = o.cli;
		nrel = 1;
	} else if (a.ledger == NULL || a.spend)
		rel = read_releases(argc - first, argv + first, &a, &o, &nrel);

	/* A spend on a ledger that does not exist yet: judge it before
	 * creating the file, so a refused spend leaves nothing behind. */
	if (a.anchor != NULL) {
		read_anchor(a.anchor, &anchored, &anchor_check);
		/* Not even made again, empty, by the spend's open. */
		if (fl_ledger_check_anchor_path(a.ledger, anchored, &err) < 0)
			tool_die("%s: %s (anchor: %s)", a.ledger, err.msg,
			    a.anchor);
	}
	if (a.spend && o.ask.has_budget && fl_ledger_missing(a.ledger)) {
		charge_trees(rel, &nrel, NULL, 0, a.ledger);
		account(&o, NULL, 0, rel, nrel, 0, &p, NULL);
		if (fl_over_budget(&o.ask, &p))
			goto refuse;
	}
	/* No ledger, or a dry run on one not yet made: an empty one. */
	memset(&led, 0, sizeof(led));
	led.fd = -1;
	if (a.ledger != NULL && !(a.dry_run && fl_ledger_missing(a.ledger))) {
		if (fl_ledger_open(&led, a.ledger, a.spend && !a.dry_run,
		    &err) < 0)
			tool_die("%s: %s", a.ledger, err.msg);
		/* A ledger behind its anchor lost releases: refuse before
		 * it is read as a budget barely spent. */
		if (a.anchor != NULL && fl_ledger_check_anchor(&led, anchored,
		    anchor_check, &err) < 0)
			tool_die("%s: %s (anchor: %s)", a.ledger, err.msg,
			    a.anchor);
	}
	if (rel != NULL)
		charge_trees(rel, &nrel, led.rows, led.nrows, a.ledger);
	tool_output_open(&out, a.output, 0);

	if (a.every != NULL) {
		curve(out.fp, &o, led.rows, led.nrows, a.json);
	} else if (a.target != NULL) {
		double z;

		if (fl_account_noise(&o.acct, led.rows, led.nrows, &o.cli,
		    o.target, o.ask.delta, &z, &p, &err) < 0)
			tool_die("%s", err.msg);
		fl_answer_write(out.fp, &o.ask, &p, &z, o.cli.steps +
		    fl_release_steps(led.rows, led.nrows), 0, NULL, a.json);
	} else if (a.ledger != NULL && !a.spend) {
		struct fl_privacy *ps = tool_malloc((led.nrows + 1) *
		    sizeof(*ps));

		account(&o, NULL, 0, led.rows, led.nrows, 1, ps, a.ledger);
		fl_report_write(out.fp, &o.ask, led.rows, led.nrows, ps,
		    a.json);
		if (led.nrows > 0 && fl_over_budget(&o.ask,
		    &ps[led.nrows - 1]))
			rc = EXIT_BUDGET;
		free(ps);
	} else {
		size_t nall = led.nrows + nrel;

		account(&o, led.rows, led.nrows, rel, nrel, 0, &p, a.ledger);
		if (a.spend && fl_over_budget(&o.ask, &p)) {
			fl_ledger_close(&led);
			goto refuse;
		}
		if (a.spend && !a.dry_run && fl_ledger_append(&led, rel, nrel,
		    &err) < 0)
			tool_die("%s: %s", a.ledger, err.msg);
		fl_answer_write(out.fp, &o.ask, &p, NULL, fl_release_steps(rel,
		    nrel) +
		    fl_release_steps(led.rows, led.nrows - (a.spend &&
		    !a.dry_run ? nrel : 0)), a.spend ? (uint64_t)nall : 0,
		    "release", a.json);
	}
	fl_ledger_close(&led);
	tool_output_close(&out);
	free(rel);
	return rc;

refuse:
	{
		char b2[FL_NUMBUF], b3[FL_NUMBUF];

		/* 6 digits, as the output: the last ones of a recomputed
		 * epsilon are rounding noise. */
		tool_warn("%s: spend refused%s: epsilon would be '%.6g', over "
		    "the budget '%s' (delta '%s', %s)", a.ledger,
		    a.dry_run ? " (dry run)" : "", p.epsilon,
		    fl_format_double(b2, o.ask.budget),
		    fl_format_double(b3, o.ask.delta),
		    fl_accountant_name(o.acct.accountant));
		free(rel);
		return EXIT_BUDGET;
	}
}
