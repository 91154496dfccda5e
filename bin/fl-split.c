/* SPDX-License-Identifier: ISC */
/*
 * fl-split - partition a data set among simulated clients (IID, label
 * skew, label shards, quantity skew), or make a synthetic one.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "learn.h"

static const char usage[] =
    "fl-split [-n clients] [--iid | --dirichlet=alpha | --shards=k |\n"
    "       --quantity=alpha] [--seed=seed] [-p prefix] [--csv] [options]\n"
    "       [data]\n"
    "       fl-split --synthetic=n [--features=d] [--classes=c] [options]";

static const char options[] =
    "Split the data (CSV, IDX or an FLT data set; none or - is stdin)\n"
    "among clients: one FLT record of kind dataset per client, all on\n"
    "stdout (or -o), or one file per client with --prefix.\n"
    "\n"
    "      --classes=C        synthetic: classes (default 3); CSV data: a\n"
    "                         LIST 'a,b,c' of the labels' names (class 0,\n"
    "                         1, 2)\n"
    "      --csv              write CSV (label first, a header row) instead\n"
    "                         of FLT records: needs --prefix or -n 1\n"
    "      --dirichlet=ALPHA  label skew: each class shared out by\n"
    "                         Dirichlet(ALPHA) proportions (NIID-Bench)\n"
    "      --features=D       synthetic: features (default 4)\n"
    "      --header           the first CSV row is a header (default: if a\n"
    "                         cell of it is not a number)\n"
    "  -h, --help             print this help and exit\n"
    "      --iid              shuffle and cut into equal parts (default)\n"
    "  -l, --label=COL        CSV label column: a header name or a number\n"
    "                         from 1 (default: 'label'; no header: the\n"
    "                         first)\n"
    "      --labels=FILE      the IDX labels file (default: the images\n"
    "                         file's name with labels-idx1)\n"
    "      --min-size=N       dirichlet, quantity: redraw until every\n"
    "                         client has N examples (default 10)\n"
    "  -n, --clients=N        number of clients (default 1)\n"
    "      --no-header        the first CSV row is data\n"
    "  -o, --output=FILE      write to FILE atomically instead of stdout\n"
    "  -p, --prefix=PREFIX    one file per client: PREFIX0.flt ... (the\n"
    "                         number zero-padded, .csv with --csv),\n"
    "                         all files or none\n"
    "      --quantity=ALPHA   quantity skew: client sizes by\n"
    "                         Dirichlet(ALPHA) proportions, labels IID\n"
    "      --seed=SEED        draw from SEED instead of the OS:\n"
    "                         reproducible, for tests and simulations\n"
    "      --shards=K         sort by label, cut into clients x K shards\n"
    "                         and deal K to each client (McMahan et al.)\n"
    "      --synthetic=N      no data file: N examples of Gaussian blobs\n"
    "  -V, --version          print the version and exit\n"
    "  -z, --zlib             compress the payloads with zlib\n\n"
    "Environment: FL_MAX_CELL caps a CSV cell in bytes (default 1 MiB).\n";

static void
write_csv(FILE *fp, const struct fl_data *d, const uint64_t *idx,
    uint64_t m)
{
	char num[FL_NUMBUF];

	fputs(d->label_name ? d->label_name : "label", fp);
	for (uint64_t j = 0; j < d->dim; j++) {
		if (d->names != NULL)
			fprintf(fp, ",%s", d->names[j]);
		else
			fprintf(fp, ",x%llu", (unsigned long long)j + 1);
	}
	fputc('\n', fp);
	for (uint64_t r = 0; r < m; r++) {
		uint64_t i = idx[r];

		fprintf(fp, "%d", d->y[i]);
		for (uint64_t j = 0; j < d->dim; j++) {
			if (d->xtype == FL_U8)
				fprintf(fp, ",%u", ((const unsigned char *)
				    d->x)[i * d->dim + j]);
			else
				fprintf(fp, ",%s", fl_format_float(num,
				    ((const float *)d->x)[i * d->dim + j]));
		}
		fputc('\n', fp);
	}
}

static void
write_record(struct tool_output *out, const struct fl_data *d,
    const uint64_t *idx, uint64_t m, uint64_t client, int zlevel)
{
	struct fl_record rec;
	struct fl_error err;

	fl_record_init(&rec);
	if (fl_data_to_record(d, idx, m, &rec, &err) < 0 ||
	    fl_meta_setf(&rec, &err, "client", "%llu",
	    (unsigned long long)client) < 0)
		tool_die("%s", err.msg);
	tool_output_record(out, &rec, zlevel);
	fl_record_free(&rec);
}

int
main(int argc, char **argv)
{
	enum {
		OPT_CSV = 256, OPT_DIRICHLET, OPT_FEATURES,
		OPT_IID, OPT_MIN, OPT_QUANTITY, OPT_SEED, OPT_SHARDS, OPT_SYNTH
	};
	static const struct option longopts[] = {
		{ "clients", required_argument, NULL, 'n' },
		{ "csv", no_argument, NULL, OPT_CSV },
		{ "dirichlet", required_argument, NULL, OPT_DIRICHLET },
		{ "features", required_argument, NULL, OPT_FEATURES },
		{ "classes", required_argument, NULL, LEARN_OPT_CLASSES },
		{ "header", no_argument, NULL, LEARN_OPT_HEADER },
		{ "help", no_argument, NULL, 'h' },
		{ "iid", no_argument, NULL, OPT_IID },
		{ "label", required_argument, NULL, 'l' },
		{ "labels", required_argument, NULL, LEARN_OPT_LABELS },
		{ "min-size", required_argument, NULL, OPT_MIN },
		{ "no-header", no_argument, NULL, LEARN_OPT_NO_HEADER },
		{ "output", required_argument, NULL, 'o' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "quantity", required_argument, NULL, OPT_QUANTITY },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "shards", required_argument, NULL, OPT_SHARDS },
		{ "synthetic", required_argument, NULL, OPT_SYNTH },
		{ "version", no_argument, NULL, 'V' },
		{ "zlib", no_argument, NULL, 'z' },
		{ NULL, 0, NULL, 0 }
	};
	unsigned char key[FL_RNG_KEYBYTES];
	struct fl_split_opts so;
	struct learn_data ld;
	struct tool_output out;
	struct fl_data d;
	struct fl_error err;
	const char *output = NULL, *prefix = NULL, *seed = NULL, *data;
	uint64_t clients = 1, synthetic = 0, features = 4, classes = 3;
	uint64_t *order, *start;
	int c, csv = 0, zlevel = 0, methods = 0, width = 1;

	tool_init(usage, argv);
	learn_data_init(&ld);
	memset(&so, 0, sizeof(so));
	so.min_size = 10;
	while ((c = getopt_long(argc, argv, "hl:n:o:p:Vz", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'n':
			clients = tool_opt_u64("--clients", optarg, 1,
			    UINT64_C(1) << 24);
			break;
		case OPT_CSV:
			csv = 1;
			break;
		case OPT_DIRICHLET:
			so.method = FL_SPLIT_DIRICHLET;
			so.alpha = tool_opt_double("--dirichlet", optarg,
			    1e-6, 1e6);
			methods++;
			break;
		case OPT_FEATURES:
			features = tool_opt_u64("--features", optarg, 1,
			    UINT64_C(1) << 24);
			break;
		case 'h':
			tool_help(options);
		case OPT_IID:
			so.method = FL_SPLIT_IID;
			methods++;
			break;
		case OPT_MIN:
			so.min_size = tool_opt_u64("--min-size", optarg, 1,
			    UINT64_MAX);
			break;
		case 'o':
			output = optarg;
			break;
		case 'p':
			prefix = optarg;
			break;
		case OPT_QUANTITY:
			so.method = FL_SPLIT_QUANTITY;
			so.alpha = tool_opt_double("--quantity", optarg,
			    1e-6, 1e6);
			methods++;
			break;
		case OPT_SEED:
			seed = optarg;
			break;
		case OPT_SHARDS:
			so.method = FL_SPLIT_SHARDS;
			so.shards = tool_opt_u64("--shards", optarg, 1,
			    UINT64_C(1) << 24);
			methods++;
			break;
		case OPT_SYNTH:
			synthetic = tool_opt_u64("--synthetic", optarg, 1,
			    UINT64_C(1) << 32);
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
	if (methods > 1)
		tool_usage_error("--iid, --dirichlet, --shards and --quantity "
		    "exclude each other");
	if (prefix != NULL && output != NULL)
		tool_usage_error("--prefix and --output exclude each other");
	if (csv && prefix == NULL && clients > 1)
		tool_usage_error("--csv with several clients needs --prefix");
	if (ld.classes != 0)
		classes = ld.classes;
	if (synthetic && optind != argc)
		tool_usage_error("--synthetic takes no data file");
	learn_key(key, seed);
	if (synthetic) {
		if (fl_data_synthetic(&d, synthetic, features,
		    (uint32_t)classes, key, &err) < 0)
			tool_die("%s", err.msg);
	} else {
		data = learn_operand(argc, argv, optind);
		if (fl_data_load(&d, data, &ld.o, &err) < 0)
			tool_die("%s", err.msg);
	}
	start = tool_malloc((size_t)(clients + 1) * sizeof(*start));
	if (fl_split(&d, clients, &so, key, &order, start, &err) < 0)
		tool_die("%s", err.msg);
	memset(key, 0, sizeof(key));

	if (prefix == NULL) {
		tool_output_open(&out, output, !csv);
		for (uint64_t j = 0; j < clients; j++) {
			if (csv)
				write_csv(out.fp, &d, order + start[j],
				    start[j + 1] - start[j]);
			else
				write_record(&out, &d, order + start[j],
				    start[j + 1] - start[j], j, zlevel);
		}
		tool_output_close(&out);
	} else {
		size_t plen = strlen(prefix) + 32;
		char *path = tool_malloc(plen);

		for (uint64_t v = clients - 1; v >= 10; v /= 10)
			width++;
		for (uint64_t j = 0; j < clients; j++) {
			char num[32];
			uint64_t v = j;

			/* j in decimal, zero-padded to width digits */
			num[width] = '\0';
			for (int i = width - 1; i >= 0; i--, v /= 10)
				num[i] = (char)('0' + v % 10);
			strcpy(path, prefix);
			strcat(path, num);
			strcat(path, csv ? ".csv" : ".flt");
			tool_output_open(&out, path, !csv);
			if (csv)
				write_csv(out.fp, &d, order + start[j],
				    start[j + 1] - start[j]);
			else
				write_record(&out, &d, order + start[j],
				    start[j + 1] - start[j], j, zlevel);
			/* all shards or none: a full disk at the last one
			 * must not leave the first ones looking like a
			 * finished split */
			tool_output_hold(&out);
		}
		tool_output_place_held();
		free(path);
	}
	free(order);
	free(start);
	fl_data_free(&d);
	return 0;
}
