/* SPDX-License-Identifier: ISC */
/*
 * fl-pack - make an FLT record from numbers written as text and key=value
 * metadata, so people and tests can build records without writing C.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

static const char usage[] =
    "fl-pack [-z] [-m key=value]... [-o file] [-t spec]...";

static const char options[] =
    "Write one record holding the metadata given with -m and the tensors\n"
    "given with -t, in that order.\n"
    "\n"
    "  -h, --help             print this help and exit\n"
    "  -m, --meta=KEY=VALUE   set a metadata entry (repeatable)\n"
    "  -o, --output=FILE      write to FILE atomically instead of stdout\n"
    "  -t, --tensor=SPEC      add a tensor: NAME:DTYPE[:SHAPE]=VALUES or\n"
    "                         NAME:DTYPE[:SHAPE]=@FILE (@- is stdin);\n"
    "                         SHAPE is 2x3 or [2,3], [] for a scalar,\n"
    "                         default one dimension of the value count;\n"
    "                         VALUES are separated by commas or spaces\n"
    "  -V, --version          print the version and exit\n"
    "  -z, --zlib             compress the payload with zlib\n";

struct text {
	char *buf;
	size_t len;
};

static struct text
slurp(const char *path)
{
	struct text t = { NULL, 0 };
	size_t cap = 0;
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	const char *name = fp == stdin ? "<stdin>" : path;

	if (fp == NULL)
		tool_die("%s: %m", path);
	for (;;) {
		size_t n;

		if (t.len == cap) {
			cap = cap ? cap * 2 : 65536;
			if ((t.buf = realloc(t.buf, cap)) == NULL)
				tool_die("out of memory");
		}
		n = fread(t.buf + t.len, 1, cap - t.len, fp);
		t.len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp))
		tool_die("%s: read error: %m", name);
	if (fp != stdin)
		fclose(fp);
	return t;
}

/* The dtype of "NAME:DTYPE[:SHAPE]", found from the right because names
 * may themselves hold ':' (companion tensors such as "fc.w:scale"). */
static void
split_spec(char *spec, enum fl_dtype *dtype, char **shape)
{
	char *colon = strrchr(spec, ':'), *prev;

	*shape = NULL;
	if (fl_dtype_parse(colon + 1, strlen(colon + 1), dtype) == 0) {
		*colon = '\0';
		return;
	}
	*colon = '\0';
	if ((prev = strrchr(spec, ':')) == NULL ||
	    fl_dtype_parse(prev + 1, strlen(prev + 1), dtype) < 0)
		tool_die("tensor '%s': unknown dtype '%s'", spec,
		    prev ? prev + 1 : colon + 1);
	*prev = '\0';
	*shape = colon + 1;
}

/* NAME:DTYPE[:SHAPE]=VALUES or NAME:DTYPE[:SHAPE]=@FILE */
static void
add_tensor(struct fl_record *rec, char *spec)
{
	char *eq = strchr(spec, '='), *shape;
	uint64_t dims[FL_MAX_RANK];
	struct text vals = { NULL, 0 };
	struct fl_tensor *t;
	struct fl_error err;
	enum fl_dtype dtype;
	const char *text, *where = "-t";
	int rank = 1;

	if (eq == NULL || memchr(spec, ':', (size_t)(eq - spec)) == NULL)
		tool_usage_error("bad tensor spec '%s': want "
		    "NAME:DTYPE[:SHAPE]=VALUES", spec);
	*eq = '\0';
	split_spec(spec, &dtype, &shape);
	if (eq[1] == '@') {
		vals = slurp(eq + 2);
		where = strcmp(eq + 2, "-") == 0 ? "<stdin>" : eq + 2;
		text = vals.buf;
	} else {
		text = eq + 1;
		vals.len = strlen(text);
	}
	if (shape == NULL)
		dims[0] = fl_values_count(text, vals.len);
	else if (fl_shape_parse(shape, &rank, dims, &err) < 0)
		tool_die("tensor '%s': %s", spec, err.msg);
	if ((t = fl_tensor_add(rec, spec, dtype, rank, dims, &err)) == NULL)
		tool_die("tensor '%s': %s", spec, err.msg);
	if (fl_values_parse(t, text, vals.len, &err) < 0)
		tool_die("%s: %s", where, err.msg);
	free(vals.buf);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "meta", required_argument, NULL, 'm' },
		{ "output", required_argument, NULL, 'o' },
		{ "tensor", required_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ "zlib", no_argument, NULL, 'z' },
		{ NULL, 0, NULL, 0 }
	};
	struct fl_record rec;
	struct tool_output out;
	struct fl_error err;
	const char *output = NULL;
	int c, zlevel = 0;

	tool_init(usage, argv);
	fl_record_init(&rec);
	while ((c = getopt_long(argc, argv, "hm:o:t:Vz", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			tool_help(options);
		case 'm': {
			char *eq = strchr(optarg, '=');

			if (eq == NULL)
				tool_usage_error("bad metadata '%s': want "
				    "KEY=VALUE", optarg);
			*eq = '\0';
			if (fl_meta_set(&rec, optarg, eq + 1, &err) < 0)
				tool_die("-m: %s", err.msg);
			break;
		}
		case 'o':
			output = optarg;
			break;
		case 't':
			add_tensor(&rec, optarg);
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
	tool_output_open(&out, output, 1);
	tool_output_record(&out, &rec, zlevel);
	tool_output_close(&out);
	fl_record_free(&rec);
	return 0;
}
