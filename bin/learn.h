/* SPDX-License-Identifier: ISC */
/*
 * learn.h - what the learning programs (fl-init, fl-train, fl-eval,
 * fl-stats, fl-split) share on top of tool.h: reading a model or a side
 * record (normalizer, class weights), loading data with the common data
 * options, and the seed.  Header-only so that the build stays one shared
 * object (tool.o) for every program.
 */
#ifndef FL_BIN_LEARN_H
#define FL_BIN_LEARN_H

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

/* The data options every learning program takes, as parsed. */
struct learn_data {
	struct fl_data_opts o;
	uint32_t classes;       /* --classes: N, or the names' count; 0 */
	double scale;           /* < 0: the data's default */
	const char *normalize;  /* normalizer record file, or NULL */
};

static inline void
learn_data_init(struct learn_data *ld)
{
	const char *cell = getenv("FL_MAX_CELL");

	memset(ld, 0, sizeof(*ld));
	ld->scale = -1;
	/* The CSV reader's longest cell (default 1 MiB). */
	if (cell != NULL && *cell != '\0')
		ld->o.max_cell = tool_opt_u64("FL_MAX_CELL", cell, 1,
		    (uint64_t)1 << 40);
}

/* The one record of path ("-": stdin); anything wrong is fatal. */
static inline void
learn_read_one(const char *path, struct fl_record *rec)
{
	tool_read_one(path, rec);
}

static inline const char *
learn_name(const char *path)
{
	return strcmp(path, "-") == 0 ? "<stdin>" : path;
}

/* A model from the file path: a record of kind "model".  Its f16 and
 * bf16 tensors are widened to f32, the models' dtype; h (if not NULL)
 * notes them, for an output that keeps them (fl_record_narrow). */
static inline void
learn_read_model(const char *path, struct fl_model *m, struct fl_record *rec,
    struct fl_halves *h)
{
	struct fl_error err;

	learn_read_one(path, rec);
	if (fl_record_widen(rec, h, &err) < 0 ||
	    fl_model_from_record(m, rec, &err) < 0)
		tool_die("%s: record 1: %s", learn_name(path), err.msg);
}

/* The f32 vector `name` of length n in a record of kind `kind`. */
static inline float *
learn_read_vector(const char *path, const char *kind, const char *name,
    uint64_t n, const char *what)
{
	struct fl_record rec;
	const struct fl_tensor *t;
	const char *k;
	float *v;

	fl_record_init(&rec);
	learn_read_one(path, &rec);
	k = fl_meta_get(&rec, "kind");
	if (k == NULL || strcmp(k, kind) != 0)
		tool_die("%s: record 1: kind=%s, not a %s record (make one "
		    "with fl-stats)", learn_name(path), k ? k : "(none)",
		    kind);
	t = fl_tensor_find(&rec, name);
	if (t == NULL || t->rank != 1 || !fl_dtype_is_float(t->dtype))
		tool_die("%s: record 1: no float vector '%s'",
		    learn_name(path), name);
	if (t->numel != n)
		tool_die("%s: record 1: %s of %llu %s, the model has %llu",
		    learn_name(path), name, (unsigned long long)t->numel, what,
		    (unsigned long long)n);
	v = tool_malloc((size_t)n * sizeof(float));
	for (uint64_t i = 0; i < n; i++) {
		double x = fl_tensor_get(t, i);

		if (!isfinite(x) || fabs(x) > 3.4e38)
			tool_die("%s: record 1: %s: value %llu is not finite",
			    learn_name(path), name, (unsigned long long)i);
		v[i] = (float)x;
	}
	fl_record_free(&rec);
	return v;
}

/*
 * Load the data of path with the options, and fill prep (scale and the
 * normalizer, which the caller frees with learn_prep_free).
 */
static inline void
learn_load(struct fl_data *d, const char *path, struct learn_data *ld,
    struct fl_prep *prep)
{
	struct fl_error err;

	if (fl_data_load(d, path, &ld->o, &err) < 0)
		tool_die("%s", err.msg);
	memset(prep, 0, sizeof(*prep));
	prep->scale = ld->scale >= 0 ? (float)ld->scale : d->scale;
	if (ld->normalize != NULL) {
		float *mean = learn_read_vector(ld->normalize, "normalizer",
		    "mean", d->dim, "features");
		float *sd = learn_read_vector(ld->normalize, "normalizer",
		    "std", d->dim, "features");

		for (uint64_t j = 0; j < d->dim; j++) {
			if (!(sd[j] > 0))
				tool_die("%s: record 1: std of feature %llu is "
				    "not positive", learn_name(ld->normalize),
				    (unsigned long long)j + 1);
			sd[j] = 1 / sd[j];
		}
		prep->mean = mean;
		prep->invstd = sd;
	}
}

static inline void
learn_prep_free(struct fl_prep *prep)
{
	free((void *)prep->mean);
	free((void *)prep->invstd);
}

/* The master key: from --seed (reproducible, not private) or the OS. */
static inline void
learn_key(unsigned char key[FL_RNG_KEYBYTES], const char *seed)
{
	struct fl_error err;

	if (seed != NULL)
		fl_rng_seed_text(key, seed);
	else if (fl_rng_seed_os(key, &err) < 0)
		tool_die("%s", err.msg);
}

/* Which of the data operands: none or one, "-" for stdin. */
static inline const char *
learn_operand(int argc, char **argv, int optind_)
{
	if (argc - optind_ > 1)
		tool_usage_error("one data file at most ('%s' is extra)",
		    argv[optind_ + 1]);
	return argc > optind_ ? argv[optind_] : "-";
}

/* Fail early, before reading a model, when the data file is missing. */
static inline void
learn_check_data(const char *path)
{
	if (strcmp(path, "-") != 0 && access(path, R_OK) != 0)
		tool_die("%s: %s", path, strerror(errno));
}

/* --label: a column name or number; --header/--no-header. */
static inline void
learn_opt_label(struct learn_data *ld, const char *arg)
{
	if (*arg == '\0')
		tool_usage_error("empty --label");
	ld->o.label = arg;
}

/* --classes against the model's classes (fl-train, fl-eval): the same
 * count, or a usage error. */
static inline void
learn_check_classes(const struct learn_data *ld, uint32_t model_classes)
{
	if (ld->classes != 0 && ld->classes != model_classes)
		tool_usage_error("--classes names %u classes, the model has %u",
		    (unsigned)ld->classes, (unsigned)model_classes);
}

/* The data options' getopt codes (and 'l' for -l/--label), above every
 * program's own codes. */
enum {
	LEARN_OPT_HEADER = 1024, LEARN_OPT_LABELS, LEARN_OPT_NO_HEADER,
	LEARN_OPT_NORMALIZE, LEARN_OPT_SCALE, LEARN_OPT_CLASSES
};

/* Take option c if it is a data option: 1, else 0. */
static inline int
learn_data_option(struct learn_data *ld, int c, const char *arg)
{
	switch (c) {
	case LEARN_OPT_CLASSES: {
		struct fl_error err;
		int n;

		/* A number: how many classes; names: the CSV labels, class
		 * 0, 1, ... in their order. */
		if (*arg != '\0' && strspn(arg, "0123456789") == strlen(arg)) {
			ld->classes = (uint32_t)tool_opt_u64("--classes", arg, 2,
			    UINT64_C(1) << 24);
			return 1;
		}
		if ((n = fl_class_names_check(arg, &err)) < 0)
			tool_usage_error("invalid --classes '%s': %s", arg,
			    err.msg);
		ld->o.class_names = arg;
		ld->classes = (uint32_t)n;
		return 1;
	}
	case LEARN_OPT_HEADER:
		ld->o.header = 1;
		return 1;
	case 'l':
		learn_opt_label(ld, arg);
		return 1;
	case LEARN_OPT_LABELS:
		ld->o.labels = arg;
		return 1;
	case LEARN_OPT_NO_HEADER:
		ld->o.header = -1;
		return 1;
	case LEARN_OPT_NORMALIZE:
		ld->normalize = arg;
		return 1;
	case LEARN_OPT_SCALE:
		ld->scale = tool_opt_double("--scale", arg, 0, 1e30);
		return 1;
	default:
		return 0;
	}
}

#endif
