/* SPDX-License-Identifier: ISC */
/*
 * fl-train - local training on a device's data: read the global model
 * and the data, run SGD (or DP-SGD), write the update local - global with
 * the number of examples as its weight.
 */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "learn.h"

static const char usage[] =
    "fl-train -m model [-e epochs | -s steps] [-b batch] [--lr=rate]\n"
    "       [--dp [--clip=c] [--noise=z] [--poisson | --rate=q | --shuffle]]\n"
    "       [options]\n"
    "       [data | --each data ...]";

static const char options[] =
    "Train the model on the data (CSV, IDX or an FLT data set; none or -\n"
    "is stdin) and write the update: the trained weights minus the\n"
    "model's, with weight = the number of examples.\n"
    "\n"
    "  -b, --batch=N          examples per step (default 32)\n"
    "      --class-weights=FILE  weight each class's loss by a\n"
    "                         class-weights record (fl-stats)\n"
    "      --client=ID        the client metadata of the update\n"
    "      --clip=C           DP-SGD: clip each example's gradient to L2\n"
    "                         norm C (default 1)\n"
    "      --cosine           decay the learning rate to 0 along a half\n"
    "                         cosine over the steps\n"
    "      --dp               DP-SGD: per-example clipping and Gaussian\n"
    "                         noise, for sample-level differential privacy\n"
    "      --each             train on each data file apart, from the same\n"
    "                         model, and write one update per file, in\n"
    "                         order (each as a run on that file alone)\n"
    "  -e, --epochs=N         passes over the data (default 1)\n"
    "      --classes=LIST     CSV labels are the names in LIST, 'a,b,c'\n"
    "                         (class 0, 1, 2), not numbers\n"
    "      --header           the first CSV row is a header (default: if a\n"
    "                         cell of it is not a number)\n"
    "  -h, --help             print this help and exit\n"
    "  -j, --jobs=N           threads (default 1); the result is the same\n"
    "  -l, --label=COL        CSV label column: a header name or a number\n"
    "                         from 1 (default: 'label'; no header: the\n"
    "                         first)\n"
    "      --labels=FILE      the IDX labels file (default: the images\n"
    "                         file's name with labels-idx1)\n"
    "      --lr=RATE          learning rate (default 0.1)\n"
    "  -m, --model=FILE       the global model (a record of kind model)\n"
    "      --momentum=M       momentum, 0 to below 1 (default 0)\n"
    "      --no-header        the first CSV row is data\n"
    "      --noise=Z          DP-SGD: noise std = Z * clip (default 1)\n"
    "      --normalize=FILE   standardize features with a normalizer\n"
    "                         record (fl-stats)\n"
    "  -o, --output=FILE      write to FILE atomically instead of stdout\n"
    "      --poisson          DP-SGD: Poisson sampling at rate batch/n\n"
    "      --rate=Q           DP-SGD: Poisson sampling at the public rate Q,\n"
    "                         ceil(1/Q) steps an epoch (dp.q and dp.steps then\n"
    "                         do not give away the example count)\n"
    "                         (the default)\n"
    "      --prox-mu=MU       FedProx: pull towards the global model\n"
    "                         (default 0)\n"
    "  -q, --quiet            no progress bar on a terminal\n"
    "      --scale=F          multiply features by F (default 1/255 for\n"
    "                         bytes such as IDX pixels, else 1)\n"
    "      --shuffle          DP-SGD: batches from shuffling instead of\n"
    "                         Poisson sampling (fl-account charges them only\n"
    "                         with --shuffle-as-poisson, an approximation)\n"
    "      --seed=SEED        shuffle, sample and noise from SEED instead\n"
    "                         of the OS: reproducible, for tests and\n"
    "                         simulations, not private\n"
    "  -s, --steps=N          optimizer steps instead of epochs\n"
    "      --trained          write the trained model instead of the update\n"
    "  -V, --version          print the version and exit\n"
    "      --weight-decay=WD  L2 weight decay (default 0)\n"
    "  -z, --zlib             compress the payload with zlib\n\n"
    "Environment: FL_MAX_CELL caps a CSV cell in bytes (default 1 MiB).\n";

struct progress {
	int on;
	struct timespec last;
};

static double
since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) +
	    (double)(now.tv_nsec - t->tv_nsec) * 1e-9;
}

/* A bar on stderr, redrawn at most ten times a second. */
static void
show_progress(void *arg, const struct fl_train_progress *p)
{
	struct progress *pr = arg;
	char bar[31];
	int fill;

	if (p->step != p->steps && since(&pr->last) < 0.1)
		return;
	clock_gettime(CLOCK_MONOTONIC, &pr->last);
	fill = (int)(30.0 * (double)p->step / (double)p->steps);
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '.', (size_t)(30 - fill));
	bar[30] = '\0';
	fprintf(stderr, "\r[%s] epoch %llu/%llu step %llu/%llu loss %.4f ",
	    bar, (unsigned long long)p->epoch, (unsigned long long)p->epochs,
	    (unsigned long long)p->step, (unsigned long long)p->steps,
	    p->loss);
	if (p->step == p->steps)
		fputs("\r\033[K", stderr);
	fflush(stderr);
}

/* Metadata that describes one record and must not pass to the next. */
static int
record_specific(const char *key)
{
	static const char *const keys[] = {
		"client", "clients", "kind", "loss", "weight", "modulus", NULL
	};

	for (int i = 0; keys[i]; i++)
		if (strcmp(key, keys[i]) == 0)
			return 1;
	/* ledger.*: the server's anchor of its ledger (fl-apply --ledger),
	 * and ftrl.*: the DP-FTRL tree that made the model, stay with the
	 * model (an update carrying them could not be masked). */
	return strncmp(key, "dp.", 3) == 0 || strncmp(key, "q.", 2) == 0 ||
	    strncmp(key, "ledger.", 7) == 0 || strncmp(key, "ftrl.", 5) == 0;
}

/* What every data set of a run shares. */
struct run {
	struct fl_train_opts o;
	struct learn_data *ld;
	const struct fl_model *global;
	const struct fl_record *grec;   /* the model's record: metadata */
	const struct fl_halves *halves;
	const char *seed, *client;
	int trained, zlevel;
	struct tool_output *out;
};

/* Train on one data set from the global model and write its update (or
 * its trained model) to the output. */
static void
train_one(struct run *r, const char *data)
{
	struct fl_train_result res;
	struct fl_record rec;
	struct fl_model m;
	struct fl_data d;
	struct fl_error err;
	char num[FL_NUMBUF];

	learn_load(&d, data, r->ld, &r->o.prep);
	if (fl_model_copy(&m, r->global, &err) < 0)
		tool_die("%s", err.msg);
	learn_key(r->o.key, r->seed);
	if (fl_train(&m, r->global, &d, &r->o, &res, &err) < 0)
		tool_die("%s: %s", learn_name(data), err.msg);
	memset(r->o.key, 0, sizeof(r->o.key));

	fl_record_init(&rec);
	for (size_t i = 0; i < r->grec->nmeta; i++)
		if (!record_specific(r->grec->meta[i].key) && fl_meta_set(&rec,
		    r->grec->meta[i].key, r->grec->meta[i].value, &err) < 0)
			tool_die("%s", err.msg);
	if (fl_meta_set(&rec, "kind", r->trained ? "model" : "update",
	    &err) < 0 ||
	    fl_meta_set(&rec, "loss", fl_format_double(num, res.loss),
	    &err) < 0 ||
	    (!r->trained && fl_meta_setf(&rec, &err, "weight", "%llu",
	    (unsigned long long)d.n) < 0) ||
	    (r->client != NULL && fl_meta_set(&rec, "client", r->client,
	    &err) < 0))
		tool_die("%s", err.msg);
	/* A DP-SGD update is a release: the example count and the loss
	 * would travel in clear beside what the noise protects. */
	if (r->o.dp)
		fl_release_strip(&rec);
	if (r->o.dp && r->o.noise > 0 && (fl_meta_set(&rec, "dp.sigma",
	    fl_format_double(num, r->o.noise * r->o.clip), &err) < 0 ||
	    fl_meta_set(&rec, "dp.grid", fl_format_double(num, res.grid),
	    &err) < 0 ||
	    /* snapping to the grid moves the sum by at most g sqrt(d) */
	    fl_meta_set(&rec, "dp.sensitivity", fl_format_double(num,
	    r->o.clip + res.grid * sqrt((double)m.nparams)), &err) < 0))
		tool_die("%s", err.msg);
	if (res.skipped > 0)
		tool_warn("%s: %llu times an example whose loss or gradient "
		    "is not finite was left out of a batch (this count stays "
		    "here)", learn_name(data), (unsigned long long)res.skipped);
	if (r->o.dp && (fl_meta_set(&rec, "dp.level", "sample", &err) < 0 ||
	    fl_meta_set(&rec, "dp.mechanism", "gaussian", &err) < 0 ||
	    fl_meta_set(&rec, "dp.clip", fl_format_double(num, r->o.clip),
	    &err) < 0 ||
	    fl_meta_set(&rec, "dp.noise", fl_format_double(num, r->o.noise),
	    &err) < 0 ||
	    fl_meta_set(&rec, "dp.q", fl_format_double(num, res.q), &err) < 0 ||
	    fl_meta_setf(&rec, &err, "dp.steps", "%llu",
	    (unsigned long long)res.steps) < 0 ||
	    fl_meta_set(&rec, "dp.sampling", r->o.poisson ? "poisson" :
	    "shuffle", &err) < 0 ||
	    (r->o.rate > 0 && fl_meta_set(&rec, "dp.rate", "public",
	    &err) < 0) ||
	    fl_meta_set(&rec, "dp.sampler", "ziggurat", &err) < 0 ||
	    fl_meta_setf(&rec, &err, "dp.dim", "%llu",
	    (unsigned long long)m.nparams) < 0 ||
	    (r->seed != NULL && fl_meta_set(&rec, "dp.seeded", "yes",
	    &err) < 0)))
		tool_die("%s", err.msg);
	/* Trained in f32, written in the global model's dtypes (f16 and
	 * bf16 rounded to nearest: a DP-SGD update is noised already). */
	if (fl_model_to_record(&m, r->trained ? NULL : r->global, &rec,
	    &err) < 0 ||
	    fl_record_narrow(&rec, r->halves, &err) < 0)
		tool_die("%s: not writing the %s: %s", learn_name(data),
		    r->trained ? "model" : "update", err.msg);
	tool_output_record(r->out, &rec, r->zlevel);
	fl_record_free(&rec);
	fl_model_free(&m);
	fl_data_free(&d);
	learn_prep_free(&r->o.prep);
}

int
main(int argc, char **argv)
{
	enum {
		OPT_CLASS_WEIGHTS = 256, OPT_CLIENT, OPT_CLIP, OPT_COSINE,
		OPT_DP, OPT_EACH, OPT_LR, OPT_MOMENTUM, OPT_NOISE, OPT_POISSON, OPT_PROX,
		OPT_RATE, OPT_SHUFFLE,
		OPT_SEED, OPT_TRAINED, OPT_WD
	};
	static const struct option longopts[] = {
		{ "batch", required_argument, NULL, 'b' },
		{ "class-weights", required_argument, NULL, OPT_CLASS_WEIGHTS },
		{ "client", required_argument, NULL, OPT_CLIENT },
		{ "clip", required_argument, NULL, OPT_CLIP },
		{ "cosine", no_argument, NULL, OPT_COSINE },
		{ "dp", no_argument, NULL, OPT_DP },
		{ "each", no_argument, NULL, OPT_EACH },
		{ "epochs", required_argument, NULL, 'e' },
		{ "classes", required_argument, NULL, LEARN_OPT_CLASSES },
		{ "header", no_argument, NULL, LEARN_OPT_HEADER },
		{ "help", no_argument, NULL, 'h' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "label", required_argument, NULL, 'l' },
		{ "labels", required_argument, NULL, LEARN_OPT_LABELS },
		{ "lr", required_argument, NULL, OPT_LR },
		{ "model", required_argument, NULL, 'm' },
		{ "momentum", required_argument, NULL, OPT_MOMENTUM },
		{ "no-header", no_argument, NULL, LEARN_OPT_NO_HEADER },
		{ "noise", required_argument, NULL, OPT_NOISE },
		{ "normalize", required_argument, NULL, LEARN_OPT_NORMALIZE },
		{ "output", required_argument, NULL, 'o' },
		{ "poisson", no_argument, NULL, OPT_POISSON },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "prox-mu", required_argument, NULL, OPT_PROX },
		{ "quiet", no_argument, NULL, 'q' },
		{ "scale", required_argument, NULL, LEARN_OPT_SCALE },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "shuffle", no_argument, NULL, OPT_SHUFFLE },
		{ "steps", required_argument, NULL, 's' },
		{ "trained", no_argument, NULL, OPT_TRAINED },
		{ "version", no_argument, NULL, 'V' },
		{ "weight-decay", required_argument, NULL, OPT_WD },
		{ "zlib", no_argument, NULL, 'z' },
		{ NULL, 0, NULL, 0 }
	};
	struct fl_train_opts o;
	struct learn_data ld;
	struct fl_record grec;
	struct fl_halves halves;
	struct fl_model global;
	struct fl_error err;
	struct tool_output out;
	struct progress pr;
	struct run run;
	const char *model = NULL, *output = NULL, *seed = NULL;
	const char *client = NULL, *class_weights = NULL;
	int c, zlevel = 0, quiet = 0, trained = 0, dp_opts = 0;
	int poisson = 0, shuffle = 0, each = 0, ndata;
	char **datas, *stdin_name[] = { "-" };
	uint64_t epochs = 1, steps = 0;
	int have_epochs = 0;

	tool_init(usage, argv);
	memset(&o, 0, sizeof(o));
	o.lr = 0.1;
	o.batch = 32;
	o.threads = 1;
	o.clip = 1;
	o.noise = 1;
	learn_data_init(&ld);
	while ((c = getopt_long(argc, argv, "b:e:hj:l:m:o:qs:Vz", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'b':
			o.batch = tool_opt_u64("--batch", optarg, 1,
			    UINT64_C(1) << 24);
			break;
		case OPT_CLASS_WEIGHTS:
			class_weights = optarg;
			break;
		case OPT_CLIENT:
			client = optarg;
			break;
		case OPT_CLIP:
			o.clip = tool_opt_double("--clip", optarg, 1e-30,
			    1e30);
			dp_opts = 1;
			break;
		case OPT_COSINE:
			o.cosine = 1;
			break;
		case OPT_DP:
			o.dp = 1;
			break;
		case OPT_EACH:
			each = 1;
			break;
		case 'e':
			epochs = tool_opt_u64("--epochs", optarg, 1,
			    UINT64_C(1) << 32);
			have_epochs = 1;
			break;
		case 'h':
			tool_help(options);
		case 'j':
			o.threads = (int)tool_opt_u64("--jobs", optarg, 1, 64);
			break;
		case OPT_LR:
			o.lr = tool_opt_double("--lr", optarg, 1e-30, 1e6);
			break;
		case 'm':
			model = optarg;
			break;
		case OPT_MOMENTUM:
			o.momentum = tool_opt_double("--momentum", optarg, 0,
			    0.999999);
			break;
		case OPT_NOISE:
			o.noise = tool_opt_double("--noise", optarg, 0, 1e6);
			dp_opts = 1;
			break;
		case 'o':
			output = optarg;
			break;
		case OPT_POISSON:
			poisson = 1;
			dp_opts = 1;
			break;
		case OPT_SHUFFLE:
			shuffle = 1;
			dp_opts = 1;
			break;
		case OPT_RATE:
			o.rate = tool_opt_double("--rate", optarg, 0, 1);
			if (!(o.rate > 0))
				tool_die("invalid --rate '%s': must be above 0",
				    optarg);
			dp_opts = 1;
			break;
		case OPT_PROX:
			o.prox_mu = tool_opt_double("--prox-mu", optarg, 0,
			    1e6);
			break;
		case 'q':
			quiet = 1;
			break;
		case OPT_SEED:
			seed = optarg;
			break;
		case 's':
			steps = tool_opt_u64("--steps", optarg, 1,
			    UINT64_C(1) << 40);
			break;
		case OPT_TRAINED:
			trained = 1;
			break;
		case 'V':
			tool_version();
		case OPT_WD:
			o.weight_decay = tool_opt_double("--weight-decay",
			    optarg, 0, 1e6);
			break;
		case 'z':
			zlevel = 6;
			break;
		default:
			if (learn_data_option(&ld, c, optarg))
				break;
			tool_usage_error(NULL);
		}
	}
	/* --each: every operand is a device's data set; otherwise one. */
	if (each && argc > optind) {
		datas = argv + optind;
		ndata = argc - optind;
	} else {
		datas = stdin_name;
		datas[0] = (char *)learn_operand(argc, argv, optind);
		ndata = 1;
	}
	if (model == NULL)
		tool_usage_error("no model: give -m FILE (fl-init makes one)");
	for (int k = 0; k < ndata; k++) {
		if (strcmp(datas[k], "-") != 0)
			continue;
		if (strcmp(model, "-") == 0)
			tool_usage_error("the model and the data cannot both "
			    "be stdin");
		for (int j = k + 1; j < ndata; j++)
			if (strcmp(datas[j], "-") == 0)
				tool_usage_error("--each: the standard input "
				    "once at most");
	}
	if (client != NULL && ndata > 1)
		tool_usage_error("--client names one update: not with several "
		    "data files");
	if (have_epochs && steps)
		tool_usage_error("--epochs and --steps exclude each other");
	if (dp_opts && !o.dp)
		tool_usage_error("--clip, --noise, --poisson, --rate and "
		    "--shuffle need --dp");
	if (o.rate > 0 && shuffle)
		tool_usage_error("--rate is a Poisson rate: not with --shuffle");
	if (poisson && shuffle)
		tool_usage_error("--poisson and --shuffle exclude each other");
	/* Poisson sampling is what the accountants amplify by. */
	o.poisson = o.dp && !shuffle;
	if (client != NULL && fl_meta_check_value(client, strlen(client),
	    &err) < 0)
		tool_die("--client: %s", err.msg);
	o.epochs = epochs;
	o.steps = steps;

	for (int k = 0; k < ndata; k++)
		learn_check_data(datas[k]);
	fl_record_init(&grec);
	learn_read_model(model, &global, &grec, &halves);
	ld.o.features = global.arch.sizes[0];
	ld.o.classes = (uint32_t)global.arch.sizes[global.arch.layers];
	learn_check_classes(&ld, ld.o.classes);
	if (class_weights != NULL)
		o.class_weights = learn_read_vector(class_weights,
		    "class-weights", "weight", ld.o.classes, "classes");
	memset(&pr, 0, sizeof(pr));
	if (!quiet && isatty(STDERR_FILENO)) {
		o.progress = show_progress;
		o.progress_arg = &pr;
	}
	/* Refuse a terminal before the work, not after it. */
	tool_output_open(&out, output, 1);
	/* Each data set as if alone: the same model, options and seed. */
	run.o = o;
	run.ld = &ld;
	run.global = &global;
	run.grec = &grec;
	run.halves = &halves;
	run.seed = seed;
	run.client = client;
	run.trained = trained;
	run.zlevel = zlevel;
	run.out = &out;
	for (int k = 0; k < ndata; k++)
		train_one(&run, datas[k]);
	tool_output_close(&out);

	fl_halves_free(&halves);
	fl_record_free(&grec);
	fl_model_free(&global);
	free((void *)o.class_weights);
	return 0;
}
