/* SPDX-License-Identifier: ISC */
/*
 * fl-init - make the first global model: a record of kind "model" with
 * the architecture in its metadata and weights drawn from ChaCha20.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "learn.h"

static const char usage[] =
    "fl-init -a arch [-z] [-o file] [-r round] [--seed=seed]";

static const char options[] =
    "Write a model record with freshly initialised weights: He-normal for\n"
    "the ReLU layers, Glorot-uniform for the output layer, zero biases.\n"
    "\n"
    "  -a, --arch=ARCH        logreg:IN-CLASSES (multinomial logistic\n"
    "                         regression) or mlp:IN-HIDDEN-...-CLASSES\n"
    "                         (ReLU between the dense layers)\n"
    "  -h, --help             print this help and exit\n"
    "  -o, --output=FILE      write to FILE atomically instead of stdout\n"
    "  -r, --round=N          the round metadata (default 0)\n"
    "      --seed=SEED        draw the weights from SEED instead of the OS:\n"
    "                         reproducible, for tests and simulations\n"
    "  -V, --version          print the version and exit\n"
    "  -z, --zlib             compress the payload with zlib\n";

int
main(int argc, char **argv)
{
	enum { OPT_SEED = 256 };
	static const struct option longopts[] = {
		{ "arch", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ "output", required_argument, NULL, 'o' },
		{ "round", required_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "version", no_argument, NULL, 'V' },
		{ "zlib", no_argument, NULL, 'z' },
		{ NULL, 0, NULL, 0 }
	};
	unsigned char key[FL_RNG_KEYBYTES];
	const char *arch = NULL, *output = NULL, *seed = NULL;
	char archbuf[FL_ARCH_MAX];
	struct tool_output out;
	struct fl_record rec;
	struct fl_model m;
	struct fl_error err;
	struct fl_arch a;
	uint64_t round = 0;
	int c, zlevel = 0;

	tool_init(usage, argv);
	while ((c = getopt_long(argc, argv, "a:ho:r:Vz", longopts, NULL)) !=
	    -1) {
		switch (c) {
		case 'a':
			arch = optarg;
			break;
		case 'h':
			tool_help(options);
		case 'o':
			output = optarg;
			break;
		case 'r':
			round = tool_opt_u64("--round", optarg, 0, UINT64_MAX);
			break;
		case OPT_SEED:
			seed = optarg;
			break;
		case 'V':
			tool_version();
		case 'z':
			zlevel = 6;
			break;
		default:
			tool_usage_error(NULL);
		}
	}
	if (optind != argc)
		tool_usage_error("unexpected operand '%s'", argv[optind]);
	if (arch == NULL)
		tool_usage_error("no architecture: give -a, e.g. "
		    "-a mlp:784-128-10");
	if (fl_arch_parse(&a, arch, &err) < 0)
		tool_die("--arch: %s", err.msg);
	if (fl_model_new(&m, &a, &err) < 0)
		tool_die("%s", err.msg);
	learn_key(key, seed);
	fl_model_init_random(&m, key);
	memset(key, 0, sizeof(key));
	fl_record_init(&rec);
	fl_arch_format(&a, archbuf);
	if (fl_meta_set(&rec, "kind", "model", &err) < 0 ||
	    fl_meta_setf(&rec, &err, "round", "%llu",
	    (unsigned long long)round) < 0 ||
	    fl_model_to_record(&m, NULL, &rec, &err) < 0)
		tool_die("%s", err.msg);
	tool_output_open(&out, output, 1);
	tool_output_record(&out, &rec, zlevel);
	tool_output_close(&out);
	fl_record_free(&rec);
	fl_model_free(&m);
	return 0;
}
