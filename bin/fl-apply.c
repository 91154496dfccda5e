/* SPDX-License-Identifier: ISC */
/*
 * fl-apply - the server step: apply an aggregate update to the global model
 * with a server optimizer (SGD, FedAvgM, FedAdagrad, FedAdam, FedYogi) and
 * write the next model, with its round incremented.  The optimizer's state
 * lives in a record of its own, read if present and replaced atomically;
 * the model is written atomically too: a crash never leaves a half model.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

static const char usage[] =
    "fl-apply -m model [-s state] [--optimizer=name] [--ledger=file]\n"
    "       [--only=patterns] [--exclude=patterns] [option ...] [-o file] [file]";

static const char options[] =
    "Apply the aggregate update in FILE (default: standard input) to the\n"
    "model: new = model + step, where the step is server-lr x aggregate for\n"
    "sgd (FedAvg), or given by the optimizer (Reddi et al. 2021).\n"
    "\n"
    "      --beta1=B          first-moment decay of adagrad, adam and yogi\n"
    "                         (default 0.9)\n"
    "      --beta2=B          second-moment decay of adam and yogi\n"
    "                         (default 0.99)\n"
    "      --dtype=TYPE       write the model's float tensors as TYPE (f32,\n"
    "                         f64, f16 or bf16; default: the model's own)\n"
    "      --exclude=GLOBS    leave out the aggregate's tensors whose names\n"
    "                         match a glob pattern (comma-separated;\n"
    "                         repeatable): the model keeps those tensors\n"
    "  -h, --help             print this help and exit\n"
    "      --ledger=FILE      anchor the privacy ledger's head in the new\n"
    "                         model (fl-account --anchor checks it)\n"
    "  -l, --server-lr=ETA    server learning rate (default 1 for sgd and\n"
    "                         avgm, 0.01 for the adaptive optimizers)\n"
    "  -m, --model=FILE       the global model (required)\n"
    "      --momentum=B       server momentum of avgm (default 0.9)\n"
    "      --only=GLOBS       apply only the aggregate's tensors whose names\n"
    "                         match (integer tensors are never applied: leave\n"
    "                         them out by name); the model keeps the others\n"
    "  -o, --output=FILE      write to FILE atomically instead of stdout\n"
    "      --optimizer=NAME   sgd (default), avgm (FedAvgM), adagrad, adam\n"
    "                         or yogi\n"
    "  -s, --state=FILE       the optimizer state: read if FILE exists,\n"
    "                         then replaced atomically\n"
    "      --tau=T            adaptivity of adagrad, adam and yogi\n"
    "                         (default 0.001)\n"
    "  -V, --version          print the version and exit\n"
    "\n"
    "Environment: FL_MAX_PAYLOAD caps a record's payload in bytes "
    "(default 4 GiB).\n";

/* The state's temporary file until it is renamed: removed however the
 * program ends before that. */
static struct fl_atomic *pending_state;

static void
remove_pending_state(void)
{
	if (pending_state != NULL)
		fl_atomic_abort(pending_state);
	pending_state = NULL;
}

/* Read the one record of path into rec.  Returns 0, or -1 when the file
 * does not exist and may_be_absent. */
static int
read_one(const char *path, struct fl_record *rec, int may_be_absent,
    const struct fl_limits *lim)
{
	struct fl_record extra;
	struct fl_error err;
	FILE *fp;
	int rc;

	if ((fp = fopen(path, "rb")) == NULL) {
		if (errno == ENOENT && may_be_absent)
			return -1;
		tool_die("%s: %s", path, strerror(errno));
	}
	if ((rc = fl_record_read(rec, fp, lim, &err)) < 0)
		tool_die("%s: record 1: %s", path, err.msg);
	if (rc == 0)
		tool_die("%s: no record", path);
	fl_record_init(&extra);
	if ((rc = fl_record_read(&extra, fp, lim, &err)) < 0)
		tool_die("%s: record 2: %s", path, err.msg);
	if (rc == 1)
		tool_die("%s: record 2: more than one record", path);
	fl_record_free(&extra);
	fclose(fp);
	return 0;
}

static uint64_t
round_of(const char *path, const struct fl_record *rec, int *present)
{
	const char *r = fl_meta_get(rec, "round");
	struct fl_error err;
	char q[FL_QUOTE];
	uint64_t v = 0;

	*present = r != NULL;
	if (r != NULL && fl_parse_u64(r, 0, UINT64_MAX - 1, &v, &err) < 0)
		tool_die("%s: record 1: bad round '%s': %s", path,
		    fl_escape(q, sizeof(q), r, strlen(r)), err.msg);
	return v;
}

/*
 * The aggregate's tensors that update the model: the selection (--only,
 * --exclude); the others are dropped from the aggregate, and the model
 * keeps those tensors as they are.  An integer tensor is never applied:
 * it is a quantized record to decode, or a buffer (num_batches_tracked)
 * to leave out by name.
 */
static void
select_aggregate(const char *name, struct fl_record *agg,
    const struct fl_select *sel)
{
	struct fl_error err;

	for (size_t i = 0; i < agg->ntensors; i++) {
		const struct fl_tensor *t = &agg->tensors[i];

		if (fl_dtype_is_float(t->dtype) ||
		    fl_select_why(sel, t) == FL_SELECT_EXCLUDED)
			continue;
		tool_die("%s: record 1: tensor '%s' is %s: fl-apply adds float "
		    "updates; decode it first (fl-quantize -d), or leave it "
		    "out (--exclude '%s'; the model keeps its value)", name,
		    t->name, fl_dtype_name(t->dtype), t->name);
	}
	if (fl_select_active(sel))
		tool_select_check(sel, agg, name, 1, NULL);
	if (fl_select_split(sel, agg, NULL, NULL, &err) < 0)
		tool_die("%s: record 1: %s", name, err.msg);
}

static void
check_aggregate(const char *name, struct fl_record *agg,
    const struct fl_record *model, const char *mpath,
    const struct fl_select *sel)
{
	const char *kind = fl_meta_get(agg, "kind");
	struct fl_scan s;
	char q[FL_QUOTE];

	if (kind != NULL && (strcmp(kind, "model") == 0 ||
	    strcmp(kind, "state") == 0 || strcmp(kind, "account") == 0))
		tool_die("%s: record 1: is a %s, not an aggregate update", name,
		    fl_escape(q, sizeof(q), kind, strlen(kind)));
	if (fl_meta_get(agg, "mask") != NULL)
		tool_die("%s: record 1: is masked: unmask it first", name);
	select_aggregate(name, agg, sel);
	for (size_t i = 0; i < agg->ntensors; i++) {
		const struct fl_tensor *t = &agg->tensors[i], *x;
		char s1[256], s2[256];

		if ((x = fl_tensor_find(model, t->name)) == NULL)
			tool_die("%s: record 1: tensor '%s' is not in the model "
			    "%s", name, t->name, mpath);
		fl_shape_format(s1, sizeof(s1), t->rank, t->dims);
		fl_shape_format(s2, sizeof(s2), x->rank, x->dims);
		if (strcmp(s1, s2) != 0 || !fl_dtype_is_float(x->dtype))
			tool_die("%s: record 1: tensor '%s' is %s %s, the model "
			    "has %s %s", name, t->name, fl_dtype_name(t->dtype),
			    s1, fl_dtype_name(x->dtype), s2);
	}
	fl_record_scan(agg, &s);
	if (s.nonfinite)
		tool_die("%s: record 1: %llu NaN or infinite values, the "
		    "first in tensor '%s'", name, (unsigned long long)s.nonfinite,
		    agg->tensors[s.bad_tensor].name);
}

/* The state tensor NAME:m or NAME:v of model tensor x: found in the old
 * state (checked), or new. */
static void
state_tensor(struct fl_record *ns, const struct fl_record *old,
    const char *spath, const struct fl_tensor *x, const char *suffix,
    double init, const struct fl_opt *opt)
{
	char name[FL_MAX_NAME + 8];
	const struct fl_tensor *o = NULL;
	struct fl_tensor *t;
	struct fl_error err;

	snprintf(name, sizeof(name), "%s:%s", x->name, suffix);
	if (old != NULL && (o = fl_tensor_find(old, name)) == NULL)
		tool_die("%s: record 1: no state tensor '%s' for %s", spath,
		    name, fl_opt_name(opt->kind));
	if (o != NULL && (o->dtype != x->dtype || o->numel != x->numel))
		tool_die("%s: record 1: state tensor '%s' does not match the "
		    "model's tensor '%s'", spath, name, x->name);
	if ((t = fl_tensor_add(ns, name, x->dtype, x->rank, x->dims,
	    &err)) == NULL)
		tool_die("%s: %s", spath, err.msg);
	if (o != NULL) {
		memcpy(t->data, o->data, t->nbytes);
		return;
	}
	for (uint64_t i = 0; i < t->numel; i++) {
		if (t->dtype == FL_F32)
			((float *)t->data)[i] = (float)init;
		else
			((double *)t->data)[i] = init;
	}
}

static double
unit(const char *opt, const char *arg, int open_top)
{
	double v = tool_opt_double(opt, arg, 0, 1);

	if (open_top && !(v < 1))
		tool_die("invalid %s '%s': must be below 1", opt, arg);
	return v;
}

int
main(int argc, char **argv)
{
	enum { OPT_BETA1 = 256, OPT_BETA2, OPT_LEDGER, OPT_MOMENTUM,
		OPT_OPTIMIZER, OPT_TAU, OPT_DTYPE };
	static const struct option longopts[] = {
		{ "beta1", required_argument, NULL, OPT_BETA1 },
		{ "beta2", required_argument, NULL, OPT_BETA2 },
		{ "dtype", required_argument, NULL, OPT_DTYPE },
		{ "help", no_argument, NULL, 'h' },
		{ "ledger", required_argument, NULL, OPT_LEDGER },
		{ "model", required_argument, NULL, 'm' },
		{ "momentum", required_argument, NULL, OPT_MOMENTUM },
		{ "optimizer", required_argument, NULL, OPT_OPTIMIZER },
		{ "output", required_argument, NULL, 'o' },
		{ "server-lr", required_argument, NULL, 'l' },
		{ "state", required_argument, NULL, 's' },
		{ "tau", required_argument, NULL, OPT_TAU },
		{ "version", no_argument, NULL, 'V' },
		TOOL_SELECT_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct fl_select sel;
	struct fl_opt opt = { FL_OPT_SGD, NAN, 0.9, 0.9, 0.99, 1e-3 };
	const char *model_path = NULL, *state_path = NULL, *output = NULL;
	const char *ledger_path = NULL;
	struct fl_record agg, model, old, ns, extra;
	struct fl_halves halves;
	struct tool_input in;
	struct tool_output out;
	struct fl_atomic atomic;
	struct fl_error err;
	uint64_t round, r;
	int c, have_state = 0, has_round, present, nstate, dtype = -1;
	char q[FL_QUOTE], num[FL_NUMBUF];
	double loss;

	tool_init(usage, argv);
	fl_select_init(&sel);
	while ((c = getopt_long(argc, argv, "hl:m:o:s:V", longopts,
	    NULL)) != -1) {
		if (tool_select_option(c, optarg, &sel))
			continue;
		switch (c) {
		case OPT_BETA1:
			opt.beta1 = unit("--beta1", optarg, 1);
			break;
		case OPT_BETA2:
			opt.beta2 = unit("--beta2", optarg, 1);
			break;
		case OPT_DTYPE:
			dtype = (int)tool_opt_dtype("--dtype", optarg);
			break;
		case 'h':
			tool_help(options);
		case 'l':
			opt.lr = tool_opt_double("--server-lr", optarg, 0,
			    INFINITY);
			if (!(opt.lr > 0))
				tool_die("invalid --server-lr '%s': must be "
				    "positive", optarg);
			break;
		case OPT_LEDGER:
			ledger_path = optarg;
			break;
		case 'm':
			model_path = optarg;
			break;
		case OPT_MOMENTUM:
			opt.momentum = unit("--momentum", optarg, 1);
			break;
		case 'o':
			output = optarg;
			break;
		case OPT_OPTIMIZER:
			if (fl_opt_parse(optarg, &opt.kind) < 0)
				tool_usage_error("unknown optimizer '%s': sgd, "
				    "avgm, adagrad, adam or yogi", optarg);
			break;
		case 's':
			state_path = optarg;
			break;
		case OPT_TAU:
			opt.tau = tool_opt_double("--tau", optarg, 0, INFINITY);
			if (!(opt.tau > 0))
				tool_die("invalid --tau '%s': must be positive",
				    optarg);
			break;
		case 'V':
			tool_version();
		default:
			tool_usage_error(NULL);
		}
	}
	if (model_path == NULL)
		tool_usage_error("the model is missing: -m FILE");
	if (argc - optind > 1)
		tool_usage_error("one aggregate at a time");
	nstate = fl_opt_nstate(opt.kind);
	if (nstate > 0 && state_path == NULL)
		tool_usage_error("--optimizer=%s keeps a state: give -s FILE",
		    fl_opt_name(opt.kind));
	if (isnan(opt.lr))
		opt.lr = opt.kind == FL_OPT_SGD || opt.kind == FL_OPT_AVGM ?
		    1 : 0.01;
	if (output == NULL)
		tool_output_open(&out, NULL, 1);

	/* The aggregate: exactly one record. */
	fl_record_init(&agg);
	fl_record_init(&extra);
	tool_input_init(&in, argc - optind, argv + optind);
	if ((c = tool_input_next(&in, &agg)) < 0)
		exit(1);
	if (c == 0)
		tool_die("%s: no aggregate", in.name ? in.name : "<stdin>");
	if ((c = tool_input_next(&in, &extra)) < 0)
		exit(1);
	if (c == 1)
		tool_die("%s: record %lu: more than one aggregate: fl-apply "
		    "applies one", in.name, in.recno);
	fl_record_free(&extra);
	/* f16 and bf16 are computed in f32: the aggregate (an aggregate
	 * of them is f32 already), the model, its state. */
	if (fl_record_widen(&agg, NULL, &err) < 0)
		tool_die("%s: record 1: %s", in.name, err.msg);

	fl_record_init(&model);
	read_one(model_path, &model, 0, &in.limits);
	if (fl_record_widen(&model, &halves, &err) < 0)
		tool_die("%s: record 1: %s", model_path, err.msg);
	{
		const char *kind = fl_meta_get(&model, "kind");

		if (kind != NULL && strcmp(kind, "model") != 0)
			tool_die("%s: record 1: is a%s %s, not a model",
			    model_path, strchr("aeiou", kind[0]) &&
			    kind[0] ? "n" : "",
			    fl_escape(q, sizeof(q), kind, strlen(kind)));
	}
	round = round_of(model_path, &model, &has_round);
	r = round_of(in.name, &agg, &present);
	if (present && has_round && r != round)
		tool_die("%s: record 1: the aggregate is of round %llu, the "
		    "model %s of round %llu", in.name, (unsigned long long)r,
		    model_path, (unsigned long long)round);
	/* The clients' loss, if they carried it inside the noised vector:
	 * not a tensor of the model, but its monitoring value. */
	if (fl_release_take_loss(&agg, &loss, &err) < 0)
		tool_die("%s: record 1: %s", in.name, err.msg);
	check_aggregate(in.name, &agg, &model, model_path, &sel);

	/* The state. */
	fl_record_init(&old);
	fl_record_init(&ns);
	if (state_path != NULL &&
	    read_one(state_path, &old, 1, &in.limits) == 0) {
		const char *k = fl_meta_get(&old, "kind");
		const char *o = fl_meta_get(&old, "opt");
		uint64_t sr;

		have_state = 1;
		if (fl_record_widen(&old, NULL, &err) < 0)
			tool_die("%s: record 1: %s", state_path, err.msg);
		if (k == NULL || strcmp(k, "state") != 0)
			tool_die("%s: record 1: not an optimizer state "
			    "(kind=state)", state_path);
		if (o == NULL || strcmp(o, fl_opt_name(opt.kind)) != 0)
			tool_die("%s: record 1: the state is for optimizer "
			    "'%s', not %s: remove it to start afresh",
			    state_path, o ? fl_escape(q, sizeof(q), o,
			    strlen(o)) : "(none)", fl_opt_name(opt.kind));
		sr = round_of(state_path, &old, &present);
		if (present != has_round || sr != round)
			tool_die("%s: record 1: the state is of round %s, the "
			    "model %s of round %s: they do not belong together",
			    state_path, present ? fl_meta_get(&old, "round") :
			    "(none)", model_path, has_round ?
			    fl_meta_get(&model, "round") : "(none)");
	}
	if (fl_meta_set(&ns, "kind", "state", &err) < 0 ||
	    fl_meta_set(&ns, "opt", fl_opt_name(opt.kind), &err) < 0 ||
	    fl_meta_setf(&ns, &err, "round", "%llu",
	    (unsigned long long)round + 1) < 0 ||
	    (fl_meta_get(&model, "arch") != NULL && fl_meta_set(&ns, "arch",
	    fl_meta_get(&model, "arch"), &err) < 0))
		tool_die("%s", err.msg);
	/* State tensors first (adding tensors moves the payload), then the
	 * steps through pointers that stay put. */
	for (size_t i = 0; i < agg.ntensors && nstate > 0; i++) {
		const struct fl_tensor *x = fl_tensor_find(&model,
		    agg.tensors[i].name);

		state_tensor(&ns, have_state ? &old : NULL, state_path, x, "m",
		    fl_opt_state_init(&opt, 0), &opt);
		if (nstate > 1)
			state_tensor(&ns, have_state ? &old : NULL, state_path,
			    x, "v", fl_opt_state_init(&opt, 1), &opt);
	}
	/* Tensors of the old state that this aggregate does not touch stay. */
	for (size_t i = 0; have_state && i < old.ntensors; i++) {
		const struct fl_tensor *o = &old.tensors[i];
		struct fl_tensor *t;

		if (fl_tensor_find(&ns, o->name) != NULL)
			continue;
		if ((t = fl_tensor_add(&ns, o->name, o->dtype, o->rank, o->dims,
		    &err)) == NULL)
			tool_die("%s: %s", state_path, err.msg);
		memcpy(t->data, old.tensors[i].data, t->nbytes);
	}
	for (size_t i = 0; i < agg.ntensors; i++) {
		struct fl_tensor *x = fl_tensor_find(&model,
		    agg.tensors[i].name);
		char name[FL_MAX_NAME + 8];
		struct fl_tensor *m = NULL, *v = NULL;

		snprintf(name, sizeof(name), "%s:m", x->name);
		m = nstate > 0 ? fl_tensor_find(&ns, name) : NULL;
		snprintf(name, sizeof(name), "%s:v", x->name);
		v = nstate > 1 ? fl_tensor_find(&ns, name) : NULL;
		if (fl_opt_step(&opt, x, &agg.tensors[i], m, v, &err) < 0)
			tool_die("%s: %s", model_path, err.msg);
	}
	/* The model keeps its dtypes (f16 and bf16 rounded to nearest), or
	 * takes --dtype's; the state stays f32, where small second moments
	 * live. */
	if (dtype >= 0 && fl_record_cast(&model, (enum fl_dtype)dtype,
	    &err) < 0)
		tool_die("%s: the new model does not fit --dtype %s: %s",
		    model_path, fl_dtype_name((enum fl_dtype)dtype), err.msg);
	if (dtype < 0 && fl_record_narrow(&model, &halves, &err) < 0)
		tool_die("%s: the new model does not fit its dtype: %s",
		    model_path, err.msg);
	fl_halves_free(&halves);
	if (fl_meta_setf(&model, &err, "round", "%llu",
	    (unsigned long long)round + 1) < 0 || (isnan(loss) ?
	    (fl_meta_del(&model, "loss"), 0) : fl_meta_set(&model, "loss",
	    fl_format_double(num, loss), &err)) < 0)
		tool_die("%s", err.msg);
	/* The ledger's head, read under its shared lock, travels with the
	 * model: a ledger later cut or reset no longer reaches it. */
	if (ledger_path != NULL) {
		struct fl_ledger led;

		if (fl_ledger_open(&led, ledger_path, 0, &err) < 0)
			tool_die("%s: %s", ledger_path, err.msg);
		if (fl_ledger_anchor_write(&led, &model, &err) < 0)
			tool_die("%s: %s", ledger_path, err.msg);
		fl_ledger_close(&led);
	}

	/* State first into its temporary file, then the model, then the
	 * renames: a failure before the end leaves both files as they were. */
	if (state_path != NULL) {
		if (fl_atomic_open(&atomic, state_path, 0666, &err) < 0)
			tool_die("%s: %s", state_path, err.msg);
		pending_state = &atomic;
		atexit(remove_pending_state);
		if (fl_record_write(atomic.fp, &ns, 0, &err) < 0)
			tool_die("%s: %s", state_path, err.msg);
	}
	if (output != NULL)
		tool_output_open(&out, output, 1);
	tool_output_record(&out, &model, 0);
	tool_output_close(&out);
	pending_state = NULL;
	if (state_path != NULL && fl_atomic_commit(&atomic, &err) < 0)
		tool_die("%s: %s (the model was written: the next run will "
		    "refuse the stale state)", state_path, err.msg);

	fl_record_free(&agg);
	fl_record_free(&model);
	fl_record_free(&old);
	fl_record_free(&ns);
	fl_select_free(&sel);
	tool_input_free(&in);
	return 0;
}
