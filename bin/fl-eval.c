/* SPDX-License-Identifier: ISC */
/*
 * fl-eval - evaluate a model on local data: loss, accuracy, per-class
 * precision and recall (and class-weighted loss and accuracy); or write
 * the counts behind them as a record that sums across clients (federated
 * evaluation), and report such sums.
 */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "learn.h"

static const char usage[] =
    "fl-eval -m model [--counts | --json] [options] [data]\n"
    "       fl-eval --from-counts [--class-weights=file] [--json]\n"
    "       [-o file] [counts ...]";

static const char options[] =
    "Evaluate the model on the data (CSV, IDX or an FLT data set; none or\n"
    "- is stdin): mean cross-entropy loss, accuracy, and precision, recall\n"
    "and support per class.\n"
    "\n"
    "      --class-weights=FILE  also report the loss and accuracy\n"
    "                         weighted per class by a class-weights\n"
    "                         record (fl-stats)\n"
    "      --counts           write a counts record instead (confusion\n"
    "                         matrix, loss sums, examples): records of\n"
    "                         several clients add up\n"
    "      --from-counts      report on counts records (or their\n"
    "                         aggregate), added up, instead of evaluating\n"
    "      --classes=LIST     CSV labels are the names in LIST, 'a,b,c'\n"
    "                         (class 0, 1, 2), not numbers\n"
    "      --header           the first CSV row is a header (default: if a\n"
    "                         cell of it is not a number)\n"
    "  -h, --help             print this help and exit\n"
    "  -j, --jobs=N           threads (default 1)\n"
    "      --json             one JSON object instead of text\n"
    "  -l, --label=COL        CSV label column: a header name or a number\n"
    "                         from 1 (default: 'label'; no header: the\n"
    "                         first)\n"
    "      --labels=FILE      the IDX labels file (default: the images\n"
    "                         file's name with labels-idx1)\n"
    "  -m, --model=FILE       the model (a record of kind model)\n"
    "      --no-header        the first CSV row is data\n"
    "      --normalize=FILE   standardize features with a normalizer\n"
    "                         record (fl-stats)\n"
    "  -o, --output=FILE      write to FILE atomically instead of stdout\n"
    "      --scale=F          multiply features by F (default 1/255 for\n"
    "                         bytes such as IDX pixels, else 1)\n"
    "  -V, --version          print the version and exit\n"
    "  -z, --zlib             compress the counts record with zlib\n\n"
    "Environment: FL_MAX_CELL caps a CSV cell in bytes (default 1 MiB).\n";

struct counts {
	uint64_t classes;
	uint64_t *confusion;    /* classes x classes: true x predicted */
	double loss;
	double *class_loss;     /* loss sum per true class, or NULL */
	uint64_t n;
};

/* The class-weighted figures, when there are weights. */
struct weighted {
	int on;
	double loss, acc;
};

static void
json_number(FILE *fp, double v)
{
	char buf[FL_NUMBUF];

	if (isfinite(v))
		fputs(fl_format_double(buf, v), fp);
	else
		fputs("null", fp);
}

static void
report(FILE *fp, const struct counts *c, const struct weighted *w, int json)
{
	uint64_t C = c->classes, right = 0;
	double acc, loss = c->n ? c->loss / (double)c->n : NAN;

	for (uint64_t k = 0; k < C; k++)
		right += c->confusion[k * C + k];
	acc = c->n ? (double)right / (double)c->n : NAN;
	if (json) {
		fprintf(fp, "{\"examples\":%llu,\"loss\":",
		    (unsigned long long)c->n);
		json_number(fp, loss);
		fputs(",\"accuracy\":", fp);
		json_number(fp, acc);
		if (w->on) {
			fputs(",\"weighted_loss\":", fp);
			json_number(fp, w->loss);
			fputs(",\"weighted_accuracy\":", fp);
			json_number(fp, w->acc);
		}
		fputs(",\"classes\":[", fp);
	} else if (w->on) {
		/* the same lines, the names padded for the longer ones */
		fprintf(fp, "%-19s%llu\n%-19s%.4f\n%-19s%.4f\n",
		    "examples", (unsigned long long)c->n, "loss", loss,
		    "accuracy", acc);
		if (isnan(w->loss))
			fprintf(fp, "%-19s-\n", "weighted-loss");
		else
			fprintf(fp, "%-19s%.4f\n", "weighted-loss", w->loss);
		fprintf(fp, "%-19s%.4f\n", "weighted-accuracy", w->acc);
		fputs("\nclass  precision  recall  support\n", fp);
	} else {
		fprintf(fp, "examples  %llu\nloss      %.4f\naccuracy  %.4f\n"
		    "\nclass  precision  recall  support\n",
		    (unsigned long long)c->n, loss, acc);
	}
	for (uint64_t k = 0; k < C; k++) {
		uint64_t tp = c->confusion[k * C + k], pred = 0, support = 0;
		double prec, rec;

		for (uint64_t j = 0; j < C; j++) {
			pred += c->confusion[j * C + k];
			support += c->confusion[k * C + j];
		}
		prec = pred ? (double)tp / (double)pred : NAN;
		rec = support ? (double)tp / (double)support : NAN;
		if (json) {
			fprintf(fp, "%s{\"class\":%llu,\"precision\":",
			    k ? "," : "", (unsigned long long)k);
			json_number(fp, prec);
			fputs(",\"recall\":", fp);
			json_number(fp, rec);
			fprintf(fp, ",\"support\":%llu}",
			    (unsigned long long)support);
			continue;
		}
		fprintf(fp, "%-5llu  ", (unsigned long long)k);
		if (isnan(prec))
			fprintf(fp, "%9s  ", "-");
		else
			fprintf(fp, "%9.4f  ", prec);
		if (isnan(rec))
			fprintf(fp, "%6s  ", "-");
		else
			fprintf(fp, "%6.4f  ", rec);
		fprintf(fp, "%7llu\n", (unsigned long long)support);
	}
	if (json)
		fputs("]}\n", fp);
}

static void
write_counts(struct tool_output *out, const struct counts *c,
    const struct fl_model *m, int zlevel)
{
	uint64_t dims[2] = { c->classes, c->classes };
	struct fl_record rec;
	struct fl_tensor *t;
	struct fl_error err;
	char arch[FL_ARCH_MAX];

	fl_record_init(&rec);
	fl_arch_format(&m->arch, arch);
	if (fl_meta_set(&rec, "kind", "counts", &err) < 0 ||
	    fl_meta_set(&rec, "arch", arch, &err) < 0 ||
	    (t = fl_tensor_add(&rec, "confusion", FL_U64, 2, dims,
	    &err)) == NULL)
		tool_die("%s", err.msg);
	memcpy(t->data, c->confusion, t->nbytes);
	if ((t = fl_tensor_add(&rec, "loss_sum", FL_F64, 0, dims,
	    &err)) == NULL)
		tool_die("%s", err.msg);
	*(double *)t->data = c->loss;
	if ((t = fl_tensor_add(&rec, "class_loss_sum", FL_F64, 1, dims,
	    &err)) == NULL)
		tool_die("%s", err.msg);
	memcpy(t->data, c->class_loss, t->nbytes);
	if ((t = fl_tensor_add(&rec, "examples", FL_U64, 0, dims,
	    &err)) == NULL)
		tool_die("%s", err.msg);
	*(uint64_t *)t->data = c->n;
	tool_output_record(out, &rec, zlevel);
	fl_record_free(&rec);
}

/*
 * Add the counts records of the operands.  The loss sums per class are
 * summed when every record has them (an older fl-eval wrote none), else
 * c->class_loss is NULL.
 */
static void
sum_counts(int nfiles, char **files, struct counts *c)
{
	struct tool_input in;
	struct fl_record rec;
	unsigned long total = 0;
	int rc, every = 1;

	memset(c, 0, sizeof(*c));
	fl_record_init(&rec);
	tool_input_init(&in, nfiles, files);
	while ((rc = tool_input_next(&in, &rec)) != 0) {
		const struct fl_tensor *cm, *ls, *ex, *cl;
		const char *kind;

		if (rc < 0)
			continue;
		kind = fl_meta_get(&rec, "kind");
		cm = fl_tensor_find(&rec, "confusion");
		ls = fl_tensor_find(&rec, "loss_sum");
		ex = fl_tensor_find(&rec, "examples");
		cl = fl_tensor_find(&rec, "class_loss_sum");
		if (kind == NULL || (strcmp(kind, "counts") != 0 &&
		    strcmp(kind, "aggregate") != 0))
			tool_die("%s: record %lu: kind=%s, not counts (make "
			    "them with fl-eval --counts)", in.name, in.recno,
			    kind ? kind : "(none)");
		if (cm == NULL || cm->rank != 2 || cm->dims[0] != cm->dims[1] ||
		    cm->dims[0] == 0 || fl_dtype_is_float(cm->dtype) ||
		    ls == NULL || ls->numel != 1 || ex == NULL ||
		    ex->numel != 1 || fl_dtype_is_float(ex->dtype))
			tool_die("%s: record %lu: want tensors confusion [C,C], "
			    "loss_sum and examples", in.name, in.recno);
		if (c->confusion == NULL) {
			c->classes = cm->dims[0];
			if (c->classes > 65536)
				tool_die("%s: record %lu: %llu classes: too "
				    "many", in.name, in.recno,
				    (unsigned long long)c->classes);
			c->confusion = calloc((size_t)(c->classes *
			    c->classes), sizeof(uint64_t));
			c->class_loss = calloc((size_t)c->classes,
			    sizeof(double));
			if (c->confusion == NULL || c->class_loss == NULL)
				tool_die("out of memory");
		} else if (cm->dims[0] != c->classes) {
			tool_die("%s: record %lu: %llu classes, the first "
			    "record has %llu", in.name, in.recno,
			    (unsigned long long)cm->dims[0],
			    (unsigned long long)c->classes);
		}
		if (cl != NULL && (cl->rank != 1 || cl->numel != c->classes ||
		    !fl_dtype_is_float(cl->dtype)))
			tool_die("%s: record %lu: want class_loss_sum [%llu], "
			    "a float per class", in.name, in.recno,
			    (unsigned long long)c->classes);
		if (cl == NULL)
			every = 0;
		else
			for (uint64_t k = 0; k < c->classes; k++)
				c->class_loss[k] += fl_tensor_get(cl, k);
		for (uint64_t i = 0; i < cm->numel; i++) {
			double v = fl_tensor_get(cm, i);

			if (v < 0)
				tool_die("%s: record %lu: a negative count",
				    in.name, in.recno);
			c->confusion[i] += cm->dtype == FL_U64 ?
			    ((const uint64_t *)cm->data)[i] : (uint64_t)v;
		}
		c->loss += fl_tensor_get(ls, 0);
		c->n += ex->dtype == FL_U64 ? *(const uint64_t *)ex->data :
		    (uint64_t)fl_tensor_get(ex, 0);
		total++;
	}
	tool_input_free(&in);
	fl_record_free(&rec);
	if (in.failed)
		exit(1);
	if (total == 0)
		tool_die("no counts records");
	if (!every) {
		free(c->class_loss);
		c->class_loss = NULL;
	}
}

/* The class-weighted figures of c with the weights cw of file path. */
static void
weigh(struct weighted *w, const struct counts *c, const float *cw,
    const char *path)
{
	struct fl_error err;

	memset(w, 0, sizeof(*w));
	if (cw == NULL)
		return;
	if (fl_class_weighted(c->classes, c->confusion, c->class_loss, cw,
	    &w->loss, &w->acc, &err) < 0)
		tool_die("%s: record 1: %s", learn_name(path), err.msg);
	if (c->class_loss == NULL)
		tool_warn("a counts record without class_loss_sum (from an "
		    "older fl-eval): no weighted loss");
	w->on = 1;
}

int
main(int argc, char **argv)
{
	enum {
		OPT_CLASS_WEIGHTS = 256, OPT_COUNTS, OPT_FROM, OPT_JSON
	};
	static const struct option longopts[] = {
		{ "class-weights", required_argument, NULL, OPT_CLASS_WEIGHTS },
		{ "counts", no_argument, NULL, OPT_COUNTS },
		{ "from-counts", no_argument, NULL, OPT_FROM },
		{ "classes", required_argument, NULL, LEARN_OPT_CLASSES },
		{ "header", no_argument, NULL, LEARN_OPT_HEADER },
		{ "help", no_argument, NULL, 'h' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "label", required_argument, NULL, 'l' },
		{ "labels", required_argument, NULL, LEARN_OPT_LABELS },
		{ "model", required_argument, NULL, 'm' },
		{ "no-header", no_argument, NULL, LEARN_OPT_NO_HEADER },
		{ "normalize", required_argument, NULL, LEARN_OPT_NORMALIZE },
		{ "output", required_argument, NULL, 'o' },
		{ "scale", required_argument, NULL, LEARN_OPT_SCALE },
		{ "version", no_argument, NULL, 'V' },
		{ "zlib", no_argument, NULL, 'z' },
		{ NULL, 0, NULL, 0 }
	};
	struct learn_data ld;
	struct tool_output out;
	struct fl_record rec;
	struct fl_model m;
	struct fl_data d;
	struct fl_prep prep;
	struct fl_error err;
	struct counts cnt;
	struct weighted wt;
	const char *model = NULL, *output = NULL, *data;
	const char *class_weights = NULL;
	float *cw = NULL;
	int c, json = 0, counts = 0, from = 0, threads = 1, zlevel = 0;

	tool_init(usage, argv);
	learn_data_init(&ld);
	while ((c = getopt_long(argc, argv, "hj:l:m:o:Vz", longopts, NULL)) !=
	    -1) {
		switch (c) {
		case OPT_CLASS_WEIGHTS:
			class_weights = optarg;
			break;
		case OPT_COUNTS:
			counts = 1;
			break;
		case OPT_FROM:
			from = 1;
			break;
		case 'h':
			tool_help(options);
		case 'j':
			threads = (int)tool_opt_u64("--jobs", optarg, 1, 64);
			break;
		case OPT_JSON:
			json = 1;
			break;
		case 'm':
			model = optarg;
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
	if (counts && json)
		tool_usage_error("--counts writes a record: no --json");
	if (counts && class_weights != NULL)
		tool_usage_error("--counts writes the unweighted sums: give "
		    "--class-weights with --from-counts");
	if (from) {
		if (model != NULL || counts)
			tool_usage_error("--from-counts takes counts records, "
			    "not -m or --counts");
		sum_counts(argc - optind, argv + optind, &cnt);
		if (class_weights != NULL)
			cw = learn_read_vector(class_weights, "class-weights",
			    "weight", cnt.classes, "classes");
		weigh(&wt, &cnt, cw, class_weights);
		tool_output_open(&out, output, 0);
		report(out.fp, &cnt, &wt, json);
		tool_output_close(&out);
		free(cnt.confusion);
		free(cnt.class_loss);
		free(cw);
		return 0;
	}
	data = learn_operand(argc, argv, optind);
	if (model == NULL)
		tool_usage_error("no model: give -m FILE");
	if (strcmp(model, "-") == 0 && strcmp(data, "-") == 0)
		tool_usage_error("the model and the data cannot both be stdin");
	learn_check_data(data);
	fl_record_init(&rec);
	learn_read_model(model, &m, &rec, NULL);
	fl_record_free(&rec);
	ld.o.features = m.arch.sizes[0];
	ld.o.classes = (uint32_t)m.arch.sizes[m.arch.layers];
	learn_check_classes(&ld, ld.o.classes);
	if (class_weights != NULL)
		cw = learn_read_vector(class_weights, "class-weights", "weight",
		    ld.o.classes, "classes");
	learn_load(&d, data, &ld, &prep);
	tool_output_open(&out, output, counts);
	cnt.classes = m.arch.sizes[m.arch.layers];
	cnt.n = d.n;
	cnt.confusion = tool_malloc((size_t)(cnt.classes * cnt.classes) *
	    sizeof(uint64_t));
	cnt.class_loss = tool_malloc((size_t)cnt.classes * sizeof(double));
	if (fl_evaluate_by_class(&m, &d, &prep, threads, cnt.confusion,
	    &cnt.loss, cnt.class_loss, &err) < 0)
		tool_die("%s: %s", learn_name(data), err.msg);
	weigh(&wt, &cnt, cw, class_weights);
	if (counts)
		write_counts(&out, &cnt, &m, zlevel);
	else
		report(out.fp, &cnt, &wt, json);
	tool_output_close(&out);
	free(cnt.confusion);
	free(cnt.class_loss);
	free(cw);
	fl_model_free(&m);
	fl_data_free(&d);
	learn_prep_free(&prep);
	return 0;
}
