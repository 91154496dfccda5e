/* SPDX-License-Identifier: ISC */
/*
 * fl-stats - federated statistics: a client writes the sums behind its
 * label counts and feature moments (a record that adds up across clients,
 * also under secure aggregation); the server turns the sum into a
 * normalizer and class weights for fl-train and fl-eval.
 */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "learn.h"

static const char usage[] =
    "fl-stats [-m model | --classes=n] [-z] [-o file] [options] [data]\n"
    "       fl-stats --normalizer | --class-weights [-o file] [stats ...]";

static const char options[] =
    "Write a stats record of the data (CSV, IDX or an FLT data set; none\n"
    "or - is stdin): class_count per class and, per feature after\n"
    "--scale, feature_sum, feature_sumsq and feature_count.  Stats\n"
    "records of several clients add up (fl-aggregate --rule=sum).\n"
    "With --normalizer or --class-weights, read stats records (adding\n"
    "them up) and write what fl-train and fl-eval take instead.\n"
    "\n"
    "      --class-weights    write class weights n / (classes x count):\n"
    "                         rare classes weigh more (0 for absent ones)\n"
    "      --classes=N        the number of classes, or a LIST 'a,b,c' of\n"
    "                         the CSV labels' names (class 0, 1, 2); default:\n"
    "                         from -m, else\n"
    "                         1 + the largest label)\n"
    "      --header           the first CSV row is a header (default: if a\n"
    "                         cell of it is not a number)\n"
    "  -h, --help             print this help and exit\n"
    "  -l, --label=COL        CSV label column: a header name or a number\n"
    "                         from 1 (default: 'label'; no header: the\n"
    "                         first)\n"
    "      --labels=FILE      the IDX labels file (default: the images\n"
    "                         file's name with labels-idx1)\n"
    "  -m, --model=FILE       take the feature and class counts from this\n"
    "                         model, so that every client's record agrees\n"
    "      --min-std=S        normalizer: a feature whose std is below S\n"
    "                         gets std 1 (default 1e-6)\n"
    "      --no-header        the first CSV row is data\n"
    "      --normalizer       write a normalizer: per-feature mean and std\n"
    "  -o, --output=FILE      write to FILE atomically instead of stdout\n"
    "      --scale=F          multiply features by F (default 1/255 for\n"
    "                         bytes such as IDX pixels, else 1)\n"
    "  -V, --version          print the version and exit\n"
    "  -z, --zlib             compress the payload with zlib\n\n"
    "Environment: FL_MAX_CELL caps a CSV cell in bytes (default 1 MiB).\n";

/* The tensors of a stats record, summed. */
struct sums {
	uint64_t classes, dim;
	double *count;          /* per class */
	double *sum, *sumsq, *fcount;   /* per feature */
};

static void
add_tensor(struct fl_record *rec, const char *name, enum fl_dtype dt,
    uint64_t n)
{
	struct fl_error err;
	struct fl_tensor *t;
	uint64_t dims[1] = { n };

	if ((t = fl_tensor_add(rec, name, dt, 1, dims, &err)) == NULL)
		tool_die("%s", err.msg);
}

/* The client side: sums of the local data. */
static void
client_stats(struct fl_data *d, const struct fl_prep *prep, uint64_t classes,
    struct fl_record *rec)
{
	struct fl_error err;
	uint64_t *cc, *fc;
	double *fs, *fq;
	float *row = tool_malloc((size_t)d->dim * sizeof(float));

	if (fl_meta_set(rec, "kind", "stats", &err) < 0)
		tool_die("%s", err.msg);
	/* adding a tensor may move the others: find them afterwards */
	add_tensor(rec, "class_count", FL_U64, classes);
	add_tensor(rec, "feature_sum", FL_F64, d->dim);
	add_tensor(rec, "feature_sumsq", FL_F64, d->dim);
	add_tensor(rec, "feature_count", FL_U64, d->dim);
	cc = (uint64_t *)fl_tensor_find(rec, "class_count")->data;
	fs = fl_tensor_find(rec, "feature_sum")->data;
	fq = fl_tensor_find(rec, "feature_sumsq")->data;
	fc = (uint64_t *)fl_tensor_find(rec, "feature_count")->data;
	for (uint64_t i = 0; i < d->n; i++) {
		cc[d->y[i]]++;
		fl_data_get(d, prep, NULL, i, 1, row);
		for (uint64_t j = 0; j < d->dim; j++) {
			fs[j] += row[j];
			fq[j] += (double)row[j] * row[j];
		}
	}
	for (uint64_t j = 0; j < d->dim; j++)
		fc[j] = d->n;
	free(row);
}

static const struct fl_tensor *
vector(const struct tool_input *in, const struct fl_record *rec,
    const char *name)
{
	const struct fl_tensor *t = fl_tensor_find(rec, name);

	if (t == NULL || t->rank != 1 || t->numel == 0)
		tool_die("%s: record %lu: no vector %s: not a stats record",
		    in->name, in->recno, name);
	return t;
}

/* The server side: add up stats records (or their aggregate). */
static void
read_sums(int nfiles, char **files, struct sums *s)
{
	struct tool_input in;
	struct fl_record rec;
	unsigned long total = 0;
	int rc;

	memset(s, 0, sizeof(*s));
	fl_record_init(&rec);
	tool_input_init(&in, nfiles, files);
	while ((rc = tool_input_next(&in, &rec)) != 0) {
		const struct fl_tensor *cc, *fs, *fq, *fc;
		const char *kind;

		if (rc < 0)
			continue;
		kind = fl_meta_get(&rec, "kind");
		if (kind == NULL || (strcmp(kind, "stats") != 0 &&
		    strcmp(kind, "aggregate") != 0))
			tool_die("%s: record %lu: kind=%s, not stats (make "
			    "them with fl-stats)", in.name, in.recno,
			    kind ? kind : "(none)");
		cc = vector(&in, &rec, "class_count");
		fs = vector(&in, &rec, "feature_sum");
		fq = vector(&in, &rec, "feature_sumsq");
		fc = vector(&in, &rec, "feature_count");
		if (fq->numel != fs->numel || fc->numel != fs->numel)
			tool_die("%s: record %lu: feature vectors of different "
			    "lengths", in.name, in.recno);
		if (s->count == NULL) {
			s->classes = cc->numel;
			s->dim = fs->numel;
			s->count = calloc((size_t)s->classes, sizeof(double));
			s->sum = calloc((size_t)s->dim, sizeof(double));
			s->sumsq = calloc((size_t)s->dim, sizeof(double));
			s->fcount = calloc((size_t)s->dim, sizeof(double));
			if (!s->count || !s->sum || !s->sumsq || !s->fcount)
				tool_die("out of memory");
		} else if (cc->numel != s->classes || fs->numel != s->dim) {
			tool_die("%s: record %lu: %llu classes and %llu "
			    "features, the first record has %llu and %llu",
			    in.name, in.recno, (unsigned long long)cc->numel,
			    (unsigned long long)fs->numel,
			    (unsigned long long)s->classes,
			    (unsigned long long)s->dim);
		}
		for (uint64_t k = 0; k < s->classes; k++)
			s->count[k] += fl_tensor_get(cc, k);
		for (uint64_t j = 0; j < s->dim; j++) {
			s->sum[j] += fl_tensor_get(fs, j);
			s->sumsq[j] += fl_tensor_get(fq, j);
			s->fcount[j] += fl_tensor_get(fc, j);
		}
		total++;
	}
	tool_input_free(&in);
	fl_record_free(&rec);
	if (in.failed)
		exit(1);
	if (total == 0)
		tool_die("no stats records");
}

static void
normalizer(const struct sums *s, double min_std, struct fl_record *rec)
{
	struct fl_error err;
	float *mean, *sd;

	if (fl_meta_set(rec, "kind", "normalizer", &err) < 0)
		tool_die("%s", err.msg);
	add_tensor(rec, "mean", FL_F32, s->dim);
	add_tensor(rec, "std", FL_F32, s->dim);
	mean = fl_tensor_find(rec, "mean")->data;
	sd = fl_tensor_find(rec, "std")->data;
	for (uint64_t j = 0; j < s->dim; j++) {
		double m, v;

		if (!(s->fcount[j] > 0))
			tool_die("feature %llu: no values",
			    (unsigned long long)j + 1);
		m = s->sum[j] / s->fcount[j];
		v = s->sumsq[j] / s->fcount[j] - m * m;
		v = v > 0 ? sqrt(v) : 0;
		if (!isfinite(m) || !isfinite(v))
			tool_die("feature %llu: the sums are not finite",
			    (unsigned long long)j + 1);
		mean[j] = (float)m;
		sd[j] = v < min_std ? 1.0f : (float)v;
	}
}

static void
class_weights(const struct sums *s, struct fl_record *rec)
{
	struct fl_error err;
	double total = 0;
	float *w;

	if (fl_meta_set(rec, "kind", "class-weights", &err) < 0)
		tool_die("%s", err.msg);
	add_tensor(rec, "weight", FL_F32, s->classes);
	w = fl_tensor_find(rec, "weight")->data;
	for (uint64_t k = 0; k < s->classes; k++)
		total += s->count[k];
	if (!(total > 0))
		tool_die("no examples in the stats");
	for (uint64_t k = 0; k < s->classes; k++)
		w[k] = s->count[k] > 0 ? (float)(total / ((double)s->classes *
		    s->count[k])) : 0.0f;
}

int
main(int argc, char **argv)
{
	enum {
		OPT_CW = 256, OPT_MIN_STD, OPT_NORMALIZER
	};
	static const struct option longopts[] = {
		{ "class-weights", no_argument, NULL, OPT_CW },
		{ "classes", required_argument, NULL, LEARN_OPT_CLASSES },
		{ "header", no_argument, NULL, LEARN_OPT_HEADER },
		{ "help", no_argument, NULL, 'h' },
		{ "label", required_argument, NULL, 'l' },
		{ "labels", required_argument, NULL, LEARN_OPT_LABELS },
		{ "min-std", required_argument, NULL, OPT_MIN_STD },
		{ "model", required_argument, NULL, 'm' },
		{ "no-header", no_argument, NULL, LEARN_OPT_NO_HEADER },
		{ "normalizer", no_argument, NULL, OPT_NORMALIZER },
		{ "output", required_argument, NULL, 'o' },
		{ "scale", required_argument, NULL, LEARN_OPT_SCALE },
		{ "version", no_argument, NULL, 'V' },
		{ "zlib", no_argument, NULL, 'z' },
		{ NULL, 0, NULL, 0 }
	};
	struct learn_data ld;
	struct tool_output out;
	struct fl_record rec;
	struct fl_prep prep;
	struct fl_data d;
	struct sums s;
	const char *model = NULL, *output = NULL;
	uint64_t classes = 0;
	double min_std = 1e-6;
	int c, zlevel = 0, cw = 0, norm = 0;

	tool_init(usage, argv);
	learn_data_init(&ld);
	while ((c = getopt_long(argc, argv, "hl:m:o:Vz", longopts, NULL)) !=
	    -1) {
		switch (c) {
		case OPT_CW:
			cw = 1;
			break;
		case 'h':
			tool_help(options);
		case OPT_MIN_STD:
			min_std = tool_opt_double("--min-std", optarg, 0, 1e30);
			break;
		case 'm':
			model = optarg;
			break;
		case OPT_NORMALIZER:
			norm = 1;
			break;
		case 'o':
			output = optarg;
			break;
		case 'V':
			tool_version();
		case 'z':
			zlevel = 6;
			break;
		default:
			if (learn_data_option(&ld, c, optarg))
				break;
			tool_usage_error(NULL);
		}
	}
	classes = ld.classes;
	if (cw && norm)
		tool_usage_error("--normalizer and --class-weights are two "
		    "runs");
	fl_record_init(&rec);
	if (cw || norm) {
		if (model != NULL || classes != 0)
			tool_usage_error("--normalizer and --class-weights read "
			    "stats records, not -m or --classes");
		read_sums(argc - optind, argv + optind, &s);
		if (norm)
			normalizer(&s, min_std, &rec);
		else
			class_weights(&s, &rec);
		free(s.count);
		free(s.sum);
		free(s.sumsq);
		free(s.fcount);
	} else {
		const char *data = learn_operand(argc, argv, optind);

		if (model != NULL && classes != 0)
			tool_usage_error("-m and --classes exclude each other");
		learn_check_data(data);
		if (model != NULL) {
			struct fl_record mrec;
			struct fl_model m;

			if (strcmp(model, "-") == 0 && strcmp(data, "-") == 0)
				tool_usage_error("the model and the data cannot "
				    "both be stdin");
			fl_record_init(&mrec);
			learn_read_model(model, &m, &mrec, NULL);
			ld.o.features = m.arch.sizes[0];
			classes = m.arch.sizes[m.arch.layers];
			fl_model_free(&m);
			fl_record_free(&mrec);
		}
		ld.o.classes = (uint32_t)classes;
		learn_load(&d, data, &ld, &prep);
		if (classes == 0)
			classes = d.classes;
		client_stats(&d, &prep, classes, &rec);
		fl_data_free(&d);
		learn_prep_free(&prep);
	}
	tool_output_open(&out, output, 1);
	tool_output_record(&out, &rec, zlevel);
	tool_output_close(&out);
	fl_record_free(&rec);
	return 0;
}
