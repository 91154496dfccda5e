/* SPDX-License-Identifier: ISC */
/*
 * fl-clip-noise - L2 clipping and differential-privacy noise for updates
 * and aggregates: continuous Gaussian on a power-of-two grid for float
 * tensors, exact discrete Gaussian or Skellam for ring-encoded integer
 * tensors (distributed DP with secure aggregation), and the server step of
 * adaptive clipping.
 */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tool.h"

static const char usage[] =
    "fl-clip-noise [-j n] [-c clip [--per-tensor[=split]] [--indicator]]\n"
    "           [-n noise [-m mechanism] [--exact] [--shares=n]\n"
    "           [--sensitivity=d] [--indicator-noise=s]] [--weight-cap=w]\n"
    "           [--loss-bound=b] [--seed=text]\n"
    "           [--participation=file [--participations=k] [--separation=b]]\n"
    "           [--only=patterns] [--exclude=patterns] [-o file] [file ...]\n"
    "       fl-clip-noise --adapt [--clip-lr=eta] [--indicator-noise=s]\n"
    "           [--target-quantile=q] [--seed=text] [-o file] [file ...]\n"
    "       fl-clip-noise --may-join=round --participation=file\n"
    "           [--participations=k] [--separation=b]";

static const char options[] =
    "Clip updates to an L2 bound and add differential-privacy noise.\n"
    "\n"
    "      --adapt               server step of adaptive clipping: noise the\n"
    "                            summed clip indicator, write the next clip bound\n"
    "                            as dp.clip-next, drop the indicator\n"
    "  -c, --clip=C              scale the update so its L2 norm is at most C\n"
    "      --clip-lr=ETA         adaptive clipping learning rate (0.2)\n"
    "      --exclude=PATTERNS    leave out the tensors whose names match a glob\n"
    "                            pattern (comma-separated; repeatable): they\n"
    "                            are dropped, since the noise does not cover them\n"
    "      --exact               float noise from the exact discrete Gaussian on\n"
    "                            the grid (slower) instead of the ziggurat\n"
    "  -h, --help                print this help and exit\n"
    "      --indicator           add the summable tensor clip.indicator: 1 if the\n"
    "                            update was within the bound, else 0\n"
    "      --indicator-noise=S   std of the noise on the summed indicator\n"
    "                            (default clients/10); with --noise, split the\n"
    "                            noise multiplier between the two\n"
    "  -j, --threads=N           noise with N threads (same output for any N)\n"
    "      --loss-bound=B        carry the training loss, clamped to [0, B], as\n"
    "                            the coordinate fl.loss inside the clip bound\n"
    "      --may-join=R          with one --participation: read no records; exit\n"
    "                            0 if the pattern lets this device send an\n"
    "                            update of round R, else 3 saying why\n"
    "  -m, --mechanism=M         gaussian (float tensors), discrete-gaussian or\n"
    "                            skellam (integer tensors)\n"
    "  -n, --noise=Z             add noise of std Z x S, S the sensitivity: the\n"
    "                            clip bound for floats, dp.sensitivity for\n"
    "                            ring integers (dp.sigma; one share's with\n"
    "                            --shares: Z S / sqrt(n))\n"
    "      --only=PATTERNS       clip and noise only the tensors whose names match\n"
    "                            (integer tensors only by full name); the rest\n"
    "                            are dropped.  Default: the float tensors; an\n"
    "                            integer tensor must be left out (--exclude)\n"
    "  -o, --output=FILE         write to FILE atomically instead of stdout\n"
    "      --participation=FILE  DP-FTRL: this device's record of the rounds it\n"
    "                            took part in; refuse an update that breaks\n"
    "                            the pattern, else record its round (0600);\n"
    "                            one a device: the Nth for the Nth record\n"
    "      --participations=K    with --participation: at most K rounds\n"
    "                            (default 1)\n"
    "      --per-tensor[=SPLIT]  clip each tensor to its share of C: equal\n"
    "                            (default), size, or NAME=W,... weights\n"
    "      --seed=TEXT           derive the noise from TEXT: reproducible and NOT\n"
    "                            PRIVATE (tests and simulations only)\n"
    "      --sensitivity=D       L2 sensitivity (default: the record's\n"
    "                            dp.sensitivity, or the clip bound)\n"
    "      --separation=B        with --participation: at least B rounds\n"
    "                            between two (default 1)\n"
    "      --shares=N            add 1/N of the noise variance: N clients' shares\n"
    "                            sum to the full noise\n"
    "      --target-quantile=Q   adaptive clipping target quantile (0.5)\n"
    "      --weight-cap=W        weighted DP-FedAvg: scale the clipped update by\n"
    "                            min(weight, W) / W (its norm stays within C)\n"
    "  -V, --version             print the version and exit\n";

struct opts {
	struct fl_dp_clip clip;         /* clip.clip NAN: no clipping */
	struct fl_dp_noise noise;       /* noise.noise NAN: no noise */
	double clip_lr, target_quantile;
	const char *seed;
	const char **participation;     /* every --participation, in order */
	size_t nparticipation;          /* 0: no pattern kept */
	uint64_t parts, sep;
	uint64_t may_join;              /* --may-join's round */
	int check_only;                 /* --may-join: no records */
	int adapt;
	struct fl_select sel;           /* --only, --exclude */
};

/* The tensors fl-clip-noise makes itself: never selected away. */
static const char *const own[] = { FL_CLIP_INDICATOR, FL_LOSS_TENSOR, NULL };

/* A record's failure: "FILE: record N: why". */
static _Noreturn void
record_die(const struct tool_input *in, const struct fl_error *err)
{
	tool_die("%s: record %lu: %s", in->name, in->recno, err->msg);
}

static void
clip_record(const struct opts *o, struct fl_record *rec,
    const struct tool_input *in, double *factor)
{
	struct fl_error err;

	if (fl_dp_clip_record(rec, &o->clip, factor, &err) == 0)
		return;
	/* A --per-tensor weight that is not a number is the option's
	 * fault, said as for any option. */
	if (err.code == FL_EINVAL)
		tool_die("%s", err.msg);
	record_die(in, &err);
}

/* The device's record of its participations in file (none yet when
 * there is no file). */
static struct fl_participation
participation_read(const char *file)
{
	struct fl_participation p = { 0, 0 };
	struct fl_record pr;
	struct fl_error err;
	FILE *fp;

	if ((fp = fopen(file, "rb")) == NULL)
		return p;
	fclose(fp);
	fl_record_init(&pr);
	tool_read_one(file, &pr);
	if (fl_participation_from_record(&p, &pr, &err) < 0)
		tool_die("%s: record 1: %s", file, err.msg);
	fl_record_free(&pr);
	return p;
}

/* --may-join=R: whether the pattern lets this device send an update of
 * round R, the file unchanged: what a device asks before it joins a
 * round (examples/cron/client.sh), by the rule the update will meet. */
static _Noreturn void
may_join(const struct opts *o)
{
	struct fl_participation p = participation_read(o->participation[0]);
	struct fl_error err;

	if (fl_participation_take(&p, o->may_join, o->parts ? o->parts : 1,
	    o->sep ? o->sep : 1, &err) < 0) {
		tool_warn("%s: round %llu refused: %s", o->participation[0],
		    (unsigned long long)o->may_join, err.msg);
		exit(3);
	}
	exit(0);
}

/*
 * --participation: the update of round R leaves only if this device's
 * record says the pattern allows it; the record is replaced (0600,
 * atomically) before the update is written, so that an update that may
 * have left is never forgotten.  The Nth record of the stream is the
 * device of the Nth --participation (a simulation's batch of devices in
 * one run, each as its own run would do); a record beyond them is
 * refused.
 */
static void
participate(const struct opts *o, struct fl_record *rec,
    const struct tool_input *in, unsigned long index)
{
	const char *file;
	struct fl_participation p;
	struct fl_record pr;
	struct fl_atomic at;
	struct fl_error err;
	const char *r = fl_meta_get(rec, "round");
	uint64_t round;

	if (index >= o->nparticipation)
		tool_die("%s: record %lu: --participation takes one update "
		    "per file (%zu given)", in->name, in->recno,
		    o->nparticipation);
	file = o->participation[index];
	if (r == NULL || fl_parse_u64(r, 0, UINT64_MAX - 1, &round, &err) < 0)
		tool_die("%s: record %lu: no round (or a bad one): "
		    "--participation needs the update's round", in->name,
		    in->recno);
	p = participation_read(file);
	fl_record_init(&pr);
	if (fl_participation_take(&p, round, o->parts ? o->parts : 1,
	    o->sep ? o->sep : 1, &err) < 0)
		tool_die("%s: record %lu: refused: %s (%s)", in->name,
		    in->recno, err.msg, file);
	if (fl_participation_to_record(&pr, &p, &err) < 0 ||
	    fl_atomic_open(&at, file, 0600, &err) < 0)
		tool_die("%s: %s", file, err.msg);
	if (fl_record_write(at.fp, &pr, 0, &err) < 0) {
		fl_atomic_abort(&at);
		tool_die("%s: %s", file, err.msg);
	}
	if (fl_atomic_commit(&at, &err) < 0)
		tool_die("%s: %s", file, err.msg);
	fl_record_free(&pr);
}

static void
noise_record(const struct opts *o, struct fl_record *rec,
    const struct tool_input *in, const unsigned char *master,
    unsigned long index, const double *factor)
{
	struct fl_dp_noise p = o->noise;
	struct fl_error err;

	/* The bound the record was clipped to just now (NAN: none). */
	p.clip = o->clip.clip;
	if (fl_dp_noise_record(rec, &p, master, index, factor, &err) < 0)
		record_die(in, &err);
	/* (These two keys' failures have always been named by the file
	 * alone.) */
	if (fl_dp_noise_marks(rec, p.exact, o->seed != NULL, &err) < 0)
		tool_die("%s: %s", in->name, err.msg);
}

/*
 * The tensors this record's clipping and noise act on.  A record of
 * integer tensors (a ring record of fl-quantize --ring, or integers noised
 * with their --sensitivity) is one vector: all of it.  Otherwise the
 * selection: an integer tensor beside float ones cannot be clipped or
 * noised, and must be left out by name or pattern.  What is left out is
 * DROPPED, not passed through: the record leaves with a DP claim (dp.*),
 * and a tensor beside the noised ones would travel in clear under it
 * (tests/privacy-attacks.bats).
 */
static void
select_record(const struct opts *o, struct fl_record *rec,
    const struct tool_input *in)
{
	struct fl_error err;
	int floats = 0;

	for (size_t i = 0; i < rec->ntensors; i++)
		floats |= fl_dtype_is_float(rec->tensors[i].dtype) &&
		    strcmp(rec->tensors[i].name, FL_LOSS_TENSOR) != 0;
	if (fl_meta_get(rec, "modulus") != NULL || !floats) {
		if (fl_select_active(&o->sel))
			tool_die("%s: record %lu: --only and --exclude select "
			    "float tensors: a record of integers (fl-quantize "
			    "--ring) is noised whole", in->name, in->recno);
		return;
	}
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];

		if (fl_dtype_is_float(t->dtype) ||
		    fl_select_why(&o->sel, t) == FL_SELECT_EXCLUDED ||
		    strcmp(t->name, FL_CLIP_INDICATOR) == 0)
			continue;
		tool_die("%s: record %lu: tensor '%s' is %s: integer tensors "
		    "are not clipped or noised; leave it out of the update "
		    "(--exclude '%s')", in->name, in->recno, t->name,
		    fl_dtype_name(t->dtype), t->name);
	}
	if (fl_select_active(&o->sel))
		tool_select_check(&o->sel, rec, in->name, in->recno, own);
	if (fl_select_split(&o->sel, rec, own, NULL, &err) < 0)
		tool_die("%s: record %lu: %s", in->name, in->recno, err.msg);
}

/* ---- the server step of adaptive clipping ---- */

static void
adapt_record(const struct opts *o, struct fl_record *rec,
    const struct tool_input *in, const unsigned char *master,
    unsigned long index)
{
	struct fl_clip_adapt a;
	struct fl_error err;

	if (fl_clip_adapt_read(&a, rec, o->noise.indicator_noise, &err) < 0)
		record_die(in, &err);
	/* (A noise scale out of range has always been named by the file
	 * alone.) */
	if (fl_clip_adapt_noise(&a, master, index, &err) < 0)
		tool_die("%s: %s", in->name, err.msg);
	if (fl_clip_adapt_write(&a, rec, o->clip_lr, o->target_quantile,
	    &err) < 0)
		record_die(in, &err);
}

int
main(int argc, char **argv)
{
	enum { OPT_ADAPT = 256, OPT_CLIP_LR, OPT_EXACT, OPT_INDICATOR,
	    OPT_INDICATOR_NOISE, OPT_PER_TENSOR, OPT_SEED, OPT_SENSITIVITY,
	    OPT_SHARES, OPT_TARGET, OPT_WEIGHT_CAP, OPT_LOSS_BOUND,
	    OPT_PARTICIPATION, OPT_PARTS, OPT_SEP, OPT_MAY_JOIN };
	static const struct option longopts[] = {
		{ "adapt", no_argument, NULL, OPT_ADAPT },
		{ "clip", required_argument, NULL, 'c' },
		{ "clip-lr", required_argument, NULL, OPT_CLIP_LR },
		{ "exact", no_argument, NULL, OPT_EXACT },
		{ "help", no_argument, NULL, 'h' },
		{ "indicator", no_argument, NULL, OPT_INDICATOR },
		{ "indicator-noise", required_argument, NULL,
		    OPT_INDICATOR_NOISE },
		{ "loss-bound", required_argument, NULL, OPT_LOSS_BOUND },
		{ "may-join", required_argument, NULL, OPT_MAY_JOIN },
		{ "mechanism", required_argument, NULL, 'm' },
		{ "noise", required_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ "participation", required_argument, NULL, OPT_PARTICIPATION },
		{ "participations", required_argument, NULL, OPT_PARTS },
		{ "per-tensor", optional_argument, NULL, OPT_PER_TENSOR },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "sensitivity", required_argument, NULL, OPT_SENSITIVITY },
		{ "separation", required_argument, NULL, OPT_SEP },
		{ "shares", required_argument, NULL, OPT_SHARES },
		{ "target-quantile", required_argument, NULL, OPT_TARGET },
		{ "threads", required_argument, NULL, 'j' },
		{ "version", no_argument, NULL, 'V' },
		{ "weight-cap", required_argument, NULL, OPT_WEIGHT_CAP },
		TOOL_SELECT_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct opts o = {
		.clip = { NAN, NAN, NAN, 0, NULL, 0 },
		.noise = { NAN, NAN, NAN, NAN, -1, 0, 1, 1 },
		.clip_lr = 0.2, .target_quantile = 0.5,
	};
	enum fl_mechanism m;
	unsigned char master[FL_RNG_KEYBYTES];
	struct tool_output out;
	struct tool_input in;
	struct fl_record rec;
	struct fl_error err;
	const char *output = NULL;
	unsigned long index = 0;
	int c, rc;

	tool_init(usage, argv);
	fl_select_init(&o.sel);
	/* Every --participation is one of argv's words: argc bounds them. */
	o.participation = tool_malloc((size_t)argc * sizeof(*o.participation));
	while ((c = getopt_long(argc, argv, "c:hj:m:n:o:V", longopts,
	    NULL)) != -1) {
		if (tool_select_option(c, optarg, &o.sel))
			continue;
		switch (c) {
		case OPT_ADAPT:
			o.adapt = 1;
			break;
		case 'c':
			o.clip.clip = tool_opt_positive("--clip", optarg);
			break;
		case OPT_CLIP_LR:
			o.clip_lr = tool_opt_double("--clip-lr", optarg, 0,
			    100);
			break;
		case OPT_EXACT:
			o.noise.exact = 1;
			break;
		case 'h':
			tool_help(options);
		case OPT_INDICATOR:
			o.clip.indicator = 1;
			break;
		case OPT_INDICATOR_NOISE:
			o.noise.indicator_noise = tool_opt_double(
			    "--indicator-noise", optarg, 0, INFINITY);
			break;
		case 'j':
			o.noise.threads = (int)tool_opt_u64("--threads", optarg,
			    1, 256);
			break;
		case 'm':
			if (fl_mechanism_parse(optarg, &m) < 0)
				tool_die("invalid --mechanism '%s': want "
				    "gaussian, discrete-gaussian or skellam",
				    optarg);
			o.noise.mechanism = (int)m;
			break;
		case 'n':
			o.noise.noise = tool_opt_double("--noise", optarg, 0,
			    INFINITY);
			break;
		case 'o':
			output = optarg;
			break;
		case OPT_PER_TENSOR:
			o.clip.per_tensor = 1;
			o.clip.split = optarg;
			break;
		case OPT_SEED:
			o.seed = optarg;
			break;
		case OPT_PARTICIPATION:
			o.participation[o.nparticipation++] = optarg;
			break;
		case OPT_MAY_JOIN:
			o.may_join = tool_opt_u64("--may-join", optarg, 0,
			    UINT64_MAX - 1);
			o.check_only = 1;
			break;
		case OPT_PARTS:
			o.parts = tool_opt_u64("--participations", optarg, 1,
			    UINT64_MAX);
			break;
		case OPT_SEP:
			o.sep = tool_opt_u64("--separation", optarg, 1,
			    UINT64_MAX);
			break;
		case OPT_SENSITIVITY:
			o.noise.sensitivity = tool_opt_positive("--sensitivity",
			    optarg);
			break;
		case OPT_SHARES:
			o.noise.shares = tool_opt_u64("--shares", optarg, 1,
			    UINT32_MAX);
			break;
		case OPT_TARGET:
			o.target_quantile = tool_opt_double(
			    "--target-quantile", optarg, 0, 1);
			break;
		case OPT_LOSS_BOUND:
			o.clip.loss_bound = tool_opt_positive("--loss-bound",
			    optarg);
			break;
		case OPT_WEIGHT_CAP:
			o.clip.weight_cap = tool_opt_positive("--weight-cap",
			    optarg);
			break;
		case 'V':
			tool_version();
		default:
			tool_usage_error(NULL);
		}
	}
	argc -= optind;
	argv += optind;
	if (o.check_only) {
		if (o.nparticipation != 1)
			tool_usage_error("--may-join needs one "
			    "--participation=FILE");
		if (argc > 0 || o.adapt || !isnan(o.clip.clip) ||
		    !isnan(o.noise.noise) || fl_select_active(&o.sel) ||
		    output != NULL)
			tool_usage_error("--may-join reads and writes no "
			    "records: only --participation, --participations "
			    "and --separation go with it");
		may_join(&o);
	}
	if (o.adapt && (!isnan(o.clip.clip) || !isnan(o.noise.noise)))
		tool_usage_error("--adapt takes no --clip or --noise");
	if (o.adapt && fl_select_active(&o.sel))
		tool_usage_error("--adapt takes no --only or --exclude");
	if (!o.adapt && isnan(o.clip.clip) && isnan(o.noise.noise))
		tool_usage_error("nothing to do: give --clip, --noise or "
		    "--adapt");
	if ((o.clip.per_tensor || o.clip.indicator ||
	    !isnan(o.clip.weight_cap) || !isnan(o.clip.loss_bound)) &&
	    isnan(o.clip.clip))
		tool_usage_error("--per-tensor, --indicator, --weight-cap and "
		    "--loss-bound need --clip");
	if ((o.noise.exact || o.noise.mechanism >= 0 || o.noise.shares > 1 ||
	    !isnan(o.noise.sensitivity)) && isnan(o.noise.noise))
		tool_usage_error("--exact, --mechanism, --shares and "
		    "--sensitivity need --noise");

	if ((o.parts > 0 || o.sep > 0) && o.nparticipation == 0)
		tool_usage_error("--participations and --separation need "
		    "--participation=FILE");
	if (o.nparticipation > 0 && (o.adapt || isnan(o.clip.clip)))
		tool_usage_error("--participation goes with a device's --clip");
	if (o.seed != NULL)
		fl_rng_seed_text(master, o.seed);
	else if (fl_rng_seed_os(master, &err) < 0)
		tool_die("%s", err.msg);

	fl_record_init(&rec);
	tool_input_init(&in, argc, argv);
	tool_output_open(&out, output, 1);
	while ((rc = tool_input_next(&in, &rec)) != 0) {
		if (rc < 0)
			break;
		if (o.adapt) {
			adapt_record(&o, &rec, &in, master, index);
		} else {
			int noise = !isnan(o.noise.noise) &&
			    o.noise.noise > 0;
			double *factor = NULL;

			select_record(&o, &rec, &in);
			if (!isnan(o.clip.clip)) {
				/* With noise to follow, clipping only finds
				 * the factors: the noise pass applies them. */
				if (noise)
					factor = tool_malloc((rec.ntensors + 1) *
					    sizeof(*factor));
				clip_record(&o, &rec, &in, factor);
			}
			if (noise)
				noise_record(&o, &rec, &in, master, index,
				    factor);
			free(factor);
		}
		if (o.nparticipation > 0)
			participate(&o, &rec, &in, index);
		index++;
		tool_output_record(&out, &rec, 0);
	}
	sodium_memzero(master, sizeof(master));
	fl_record_free(&rec);
	fl_select_free(&o.sel);
	free(o.participation);
	tool_input_free(&in);
	/* A stream that failed part-way is not published (the -o file is
	 * removed at exit). */
	if (in.failed)
		exit(1);
	tool_output_close(&out);
	return 0;
}
