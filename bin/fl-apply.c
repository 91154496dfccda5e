/* SPDX-License-Identifier: ISC */
/*
 * fl-apply - the server step: apply an aggregate update to the global model
 * with a server optimizer (SGD, FedAvgM, FedAdagrad, FedAdam, FedYogi) and
 * write the next model, with its round incremented.  The optimizer's state
 * lives in a record of its own, read if present and replaced atomically;
 * the model is written atomically too: a crash never leaves a half model.
 * With --ftrl, DP-FTRL: the tree's noise n(t) - n(t-1) is added to round
 * t's summed clipped updates first, from a 0600 state record that keeps
 * the tree's secret and round counter (no noise vectors).  With
 * --mechanism=banded, banded matrix factorization instead: round t gets
 * w_t = z_t - sum c_l w_{t-l}, the state keeping the strategy and the
 * last bands - 1 noise vectors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tool.h"

static const char usage[] =
    "fl-apply -m model [-s state] [--optimizer=name] [--ledger=file]\n"
    "       [--only=patterns] [--exclude=patterns] [option ...] [-o file] [file]\n"
    "       fl-apply -m model --ftrl=state [--ftrl-init --noise=z --clip=c\n"
    "           --rounds=T [--participations=k --separation=b]\n"
    "           [--estimator=name | --mechanism=banded --bands=B]\n"
    "           [--seed=text]] [option ...] [-o file] [file]";

static const char options[] =
    "Apply the aggregate update in FILE (default: standard input) to the\n"
    "model: new = model + step, where the step is server-lr x aggregate for\n"
    "sgd (FedAvg), or given by the optimizer (Reddi et al. 2021).\n"
    "\n"
    "      --bands=B          --ftrl-init --mechanism=banded: the strategy's\n"
    "                         bands (at most --rounds, and --separation when\n"
    "                         --participations is above 1)\n"
    "      --beta1=B          first-moment decay of adagrad, adam and yogi\n"
    "                         (default 0.9)\n"
    "      --beta2=B          second-moment decay of adam and yogi\n"
    "                         (default 0.99)\n"
    "      --clip=C           --ftrl-init: the clients' clip bound (the\n"
    "                         aggregates' dp.clip must be C)\n"
    "      --dtype=TYPE       write the model's float tensors as TYPE (f32,\n"
    "                         f64, f16 or bf16; default: the model's own)\n"
    "      --estimator=NAME   --ftrl-init: plain (default) or honaker (the\n"
    "                         variance-optimal tree estimate)\n"
    "      --exclude=GLOBS    leave out the aggregate's tensors whose names\n"
    "                         match a glob pattern (comma-separated;\n"
    "                         repeatable): the model keeps those tensors\n"
    "      --ftrl=FILE        DP-FTRL: add the tree's noise n(t) - n(t-1) to\n"
    "                         round t's sum of clipped updates (not noised),\n"
    "                         from the state FILE (0600, replaced atomically)\n"
    "      --ftrl-init        start a tree: create the state FILE (it must\n"
    "                         not exist) with a secret from the OS\n"
    "  -h, --help             print this help and exit\n"
    "      --ledger=FILE      anchor the privacy ledger's head in the new\n"
    "                         model (fl-account --anchor checks it)\n"
    "  -l, --server-lr=ETA    server learning rate (default 1 for sgd and\n"
    "                         avgm, 0.01 for the adaptive optimizers)\n"
    "  -m, --model=FILE       the global model (required)\n"
    "      --mechanism=NAME   --ftrl-init: tree (default) or banded (banded\n"
    "                         matrix factorization: less noise, bands - 1\n"
    "                         model-sized vectors of f64 in the state)\n"
    "      --momentum=B       server momentum of avgm (default 0.9)\n"
    "      --noise=Z          --ftrl-init: noise multiplier of each tree node\n"
    "                         (std Z x C on the sum)\n"
    "      --only=GLOBS       apply only the aggregate's tensors whose names\n"
    "                         match (integer tensors are never applied: leave\n"
    "                         them out by name); the model keeps the others\n"
    "  -o, --output=FILE      write to FILE atomically instead of stdout\n"
    "      --optimizer=NAME   sgd (default), avgm (FedAvgM), adagrad, adam\n"
    "                         or yogi\n"
    "      --participations=K  --ftrl-init: rounds a client may take part\n"
    "                         in (default 1), recorded for the accountant\n"
    "      --rounds=T         --ftrl-init: the rounds of the tree; round T+1\n"
    "                         is refused\n"
    "      --seed=TEXT        --ftrl-init: the secret from TEXT: reproducible\n"
    "                         and NOT PRIVATE (tests and simulations only)\n"
    "      --separation=B     --ftrl-init: rounds between two participations\n"
    "                         of a client, at least (default 1)\n"
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
static struct fl_atomic *pending_state, *pending_ftrl;

static void
remove_pending_state(void)
{
	if (pending_state != NULL)
		fl_atomic_abort(pending_state);
	pending_state = NULL;
	if (pending_ftrl != NULL)
		fl_atomic_abort(pending_ftrl);
	pending_ftrl = NULL;
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

/* ---- DP-FTRL ---- */

/* What --ftrl-init was given. */
struct ftrl_args {
	const char *path, *noise, *clip, *rounds, *parts, *sep, *estimator;
	const char *seed, *mechanism, *bands;
	int init;
};

/* Banded MF: the strategy (fl_banded_optimize's, checked against the
 * state's), the state record read (its past noise, "w<l>:<tensor>"), and
 * for each tensor of the aggregate the rows of its past noise, updated in
 * place (rows of ftrl_past, or in round 1 zeros of its own), in the order
 * of the next state: w[0] is w_t after the step. */
static double *ftrl_coef;
static struct fl_record ftrl_past;
static struct banded_rows {
	const struct fl_tensor *x;
	double **w, *own;
} *ftrl_rows;
static size_t ftrl_nrows;
static uint64_t ftrl_bands;

/* The strategy of st's rounds and bands, into ftrl_coef. */
static void
banded_strategy(const struct fl_ftrl_state *st, const char *what)
{
	struct fl_banded_fit fit = { 0 };
	struct fl_error err;
	double s2;

	if ((ftrl_coef = malloc(st->bands * sizeof(*ftrl_coef))) == NULL)
		tool_die("out of memory");
	if (fl_banded_optimize(st->rounds, st->bands, ftrl_coef, &fit,
	    &err) < 0 || fl_banded_sens2(st->rounds, st->bands, ftrl_coef,
	    st->participations, st->separation, &s2, &err) < 0)
		tool_die("%s: %s", what, err.msg);
}

/* A new tree's state: the secret from the OS (or --seed), its id. */
static void
ftrl_new(struct fl_ftrl_state *st, const struct ftrl_args *fa,
    const struct fl_record *model, const char *mpath, uint64_t round)
{
	unsigned char id[FL_RNG_KEYBYTES];
	struct fl_error err;
	uint64_t s2;
	FILE *fp;

	if ((fp = fopen(fa->path, "rb")) != NULL) {
		fclose(fp);
		tool_die("%s: exists: --ftrl-init starts a new tree, never "
		    "over one (its rounds would be charged twice)", fa->path);
	}
	if (fl_meta_get(model, "ftrl.tree") != NULL)
		tool_die("%s: record 1: was made by tree '%s': continue it with "
		    "its state, a new tree's noise would average out", mpath,
		    fl_meta_get(model, "ftrl.tree"));
	memset(st, 0, sizeof(*st));
	st->noise = tool_opt_positive("--noise", fa->noise);
	st->clip = tool_opt_positive("--clip", fa->clip);
	st->rounds = tool_opt_u64("--rounds", fa->rounds, 1,
	    FL_TREE_MAX_ROUNDS);
	st->participations = fa->parts == NULL ? 1 : tool_opt_u64(
	    "--participations", fa->parts, 1, FL_TREE_MAX_ROUNDS);
	st->separation = fa->sep == NULL ? 1 : tool_opt_u64("--separation",
	    fa->sep, 1, FL_TREE_MAX_ROUNDS);
	if (fa->estimator != NULL && fl_tree_estimator_parse(fa->estimator,
	    &st->estimator) < 0)
		tool_die("invalid --estimator '%s': want plain or honaker",
		    fa->estimator);
	if (round > UINT64_MAX - 1 - FL_TREE_MAX_ROUNDS)
		tool_die("%s: record 1: round %llu is too large for a tree",
		    mpath, (unsigned long long)round);
	if (fa->bands != NULL) {
		/* Banded MF: bands the pattern allows (no shared rows). */
		st->bands = tool_opt_u64("--bands", fa->bands, 1,
		    FL_BANDED_MAX_ROUNDS);
		if (fl_banded_check(st->rounds, st->bands,
		    st->participations, st->separation, &err) < 0)
			tool_die("%s", err.msg);
		banded_strategy(st, "--bands");
	} else if (fl_tree_sens2(st->rounds, st->participations,
	    st->separation, &s2, &err) < 0) {
		/* The pattern must be one the accountant can solve. */
		tool_die("--participations, --separation: %s", err.msg);
	}
	st->start = round;
	if (fa->seed != NULL) {
		fl_rng_seed_text(st->secret, fa->seed);
		st->seeded = 1;
		tool_warn("warning: tree noise from --seed: whoever knows the "
		    "seed can remove it: NOT PRIVATE");
		fl_rng_derive(id, st->secret, "ftrl-id", 0);
	} else if (fl_rng_seed_os(st->secret, &err) < 0 ||
	    fl_rng_seed_os(id, &err) < 0) {
		tool_die("%s", err.msg);
	}
	memcpy(&st->tree_id, id, sizeof(st->tree_id));
	sodium_memzero(id, sizeof(id));
}

/* The state of an ongoing tree, checked against the model. */
static void
ftrl_load(struct fl_ftrl_state *st, const char *path,
    const struct fl_record *model, const char *mpath, uint64_t round,
    const struct fl_limits *lim)
{
	struct fl_record rec;
	struct fl_error err;
	const char *mt = fl_meta_get(model, "ftrl.tree");
	const char *mr = fl_meta_get(model, "ftrl.round");
	char q[FL_QUOTE];
	uint64_t id, r;

	fl_record_init(&rec);
	if (read_one(path, &rec, 1, lim) < 0)
		tool_die("%s: no DP-FTRL state: a tree's state is never made "
		    "again (fresh noise would average out); --ftrl-init "
		    "starts a new tree on a model no tree made", path);
	if (fl_ftrl_state_from_record(st, &rec, &err) < 0)
		tool_die("%s: record 1: %s", path, err.msg);
	if (st->bands > 0) {
		const struct fl_tensor *ct = fl_tensor_find(&rec,
		    "coefficients");

		/* The strategy is recomputed, and must be the one whose
		 * noise the state holds, to the byte. */
		banded_strategy(st, path);
		if (ct == NULL || ct->dtype != FL_F64 ||
		    ct->numel != st->bands || memcmp(ct->data, ftrl_coef,
		    st->bands * sizeof(double)) != 0)
			tool_die("%s: record 1: the tensor 'coefficients' is not "
			    "the strategy of %llu bands over %llu rounds this "
			    "fltools computes", path,
			    (unsigned long long)st->bands,
			    (unsigned long long)st->rounds);
		ftrl_past = rec;
	} else {
		fl_record_free(&rec);
	}
	if (mt == NULL && st->done > 0)
		tool_die("%s: record 1: no ftrl.tree, but the state %s has "
		    "applied %llu rounds: not the tree's latest model", mpath,
		    path, (unsigned long long)st->done);
	if (mt != NULL && (fl_ftrl_tree_id_parse(mt, &id) < 0 ||
	    id != st->tree_id))
		tool_die("%s: record 1: made by tree '%s', the state %s is of "
		    "tree '%016llx'", mpath, fl_escape(q, sizeof(q), mt,
		    strlen(mt)), path, (unsigned long long)st->tree_id);
	if (mt != NULL && (mr == NULL || fl_parse_u64(mr, 0, UINT64_MAX, &r,
	    &err) < 0 || r != st->done))
		tool_die("%s: record 1: tree round '%s', the state %s has "
		    "applied %llu: they do not belong together", mpath,
		    mr ? fl_escape(q, sizeof(q), mr, strlen(mr)) : "(none)",
		    path, (unsigned long long)st->done);
	if (round != st->start + st->done)
		tool_die("%s: record 1: round %llu, the state %s expects round "
		    "%llu (tree started at %llu, %llu rounds applied)", mpath,
		    (unsigned long long)round, path,
		    (unsigned long long)(st->start + st->done),
		    (unsigned long long)st->start,
		    (unsigned long long)st->done);
}

static void
wipe_free(struct fl_record *rec)
{
	for (size_t i = 0; i < rec->ntensors; i++)
		sodium_memzero(rec->tensors[i].data, rec->tensors[i].nbytes);
	fl_record_free(rec);
}

/* The state's past-noise tensors of round 1's tensors ("w1:..."). */
static size_t
past_count(void)
{
	size_t n = 0;

	for (size_t i = 0; i < ftrl_past.ntensors; i++)
		n += strncmp(ftrl_past.tensors[i].name, "w1:", 3) == 0;
	return n;
}

/* Banded MF's round t on the aggregate's tensor x: its rows of past
 * noise w_{t-1}..w_{t-b+1} (the state's; zeros in round 1), w_t added to
 * x, the rows left as the next state's (fl_banded_noise_tensor: in place,
 * nothing copied). */
static void
banded_tensor(const struct fl_ftrl_state *st, const char *spath,
    const char *name, struct fl_tensor *x, uint64_t idx, uint64_t t,
    const struct fl_tree *tr)
{
	uint64_t b = st->bands, n = x->numel;
	struct banded_rows *r = &ftrl_rows[ftrl_nrows++];
	char tn[FL_MAX_NAME + 32];
	struct fl_error err;

	r->x = x;
	r->w = tool_malloc((b > 1 ? b - 1 : 1) * sizeof(*r->w));
	r->own = NULL;
	if (t == 1 && b > 1 &&
	    (r->own = calloc((b - 1) * n, sizeof(*r->own))) == NULL)
		tool_die("out of memory for the past noise (%llu bands of "
		    "%llu values)", (unsigned long long)b,
		    (unsigned long long)n);
	for (uint64_t l = 1; l < b; l++) {
		const struct fl_tensor *p;

		if (r->own != NULL) {
			r->w[l - 1] = r->own + (l - 1) * n;
			continue;
		}
		snprintf(tn, sizeof(tn), "w%llu:%s", (unsigned long long)l,
		    x->name);
		p = fl_tensor_find(&ftrl_past, tn);
		if (p == NULL || p->dtype != FL_F64 || p->numel != n)
			tool_die("%s: record 1: no past noise '%s' of %llu f64 "
			    "for tensor '%s' of %s: a banded tree noises the "
			    "same tensors every round", spath, tn,
			    (unsigned long long)n, x->name, name);
		r->w[l - 1] = p->data;
	}
	if (fl_banded_noise_tensor(x, idx, t, tr, b, ftrl_coef, r->w,
	    &err) < 0)
		tool_die("%s: record 1: %s", name, err.msg);
}

/* The rows of banded_tensor, as the next state's tensors. */
static void
banded_rows_to_record(struct fl_record *fr, uint64_t bands, const char *spath)
{
	char tn[FL_MAX_NAME + 32];
	struct fl_error err;

	for (size_t i = 0; i < ftrl_nrows; i++) {
		const struct fl_tensor *x = ftrl_rows[i].x;

		for (uint64_t l = 1; l < bands; l++) {
			struct fl_tensor *o;

			snprintf(tn, sizeof(tn), "w%llu:%s",
			    (unsigned long long)l, x->name);
			if ((o = fl_tensor_add(fr, tn, FL_F64, x->rank,
			    x->dims, &err)) == NULL)
				tool_die("%s: %s", spath, err.msg);
			memcpy(o->data, ftrl_rows[i].w[l - 1], o->nbytes);
		}
	}
}

/* Banded MF's rows of round 1 are the secret's: wiped, then freed. */
static void
banded_rows_free(void)
{
	for (size_t i = 0; i < ftrl_nrows; i++) {
		if (ftrl_rows[i].own != NULL) {
			sodium_memzero(ftrl_rows[i].own, (ftrl_bands - 1) *
			    ftrl_rows[i].x->numel * sizeof(double));
			free(ftrl_rows[i].own);
		}
		free(ftrl_rows[i].w);
	}
	free(ftrl_rows);
}

/*
 * Round t = done + 1 of the tree: the aggregate, a sum of clipped updates
 * (or their mean over a public denominator) that carries no noise, gets
 * n(t) - n(t-1); the model gets ftrl.* (the tree, the round, what the
 * accountant needs).
 */
static void
ftrl_round(struct fl_ftrl_state *st, const char *spath, struct fl_record *agg,
    const char *name, struct fl_record *model, int threads)
{
	const char *clip = fl_meta_get(agg, "dp.clip");
	const char *kind = fl_meta_get(agg, "agg");
	const char *den = fl_meta_get(agg, "agg.denominator");
	static const char *noised[] = { "dp.noise", "dp.sigma",
	    "dp.mechanism", "dp.loss-bound" };
	struct fl_tree tr;
	struct fl_error err;
	double c, scale = 1, sigma, sens;
	uint64_t t = st->done + 1, d = 0;
	char q[FL_QUOTE], b1[FL_NUMBUF], b2[FL_NUMBUF];

	if (t > st->rounds)
		tool_die("%s: the tree's %llu rounds are done: round %llu is "
		    "past what was declared (and accounted)", spath,
		    (unsigned long long)st->rounds, (unsigned long long)t);
	for (size_t i = 0; i < sizeof(noised) / sizeof(*noised); i++)
		if (fl_meta_get(agg, noised[i]) != NULL)
			tool_die("%s: record 1: already carries noise or a loss "
			    "(%s): with --ftrl the tree adds the noise to "
			    "clipped updates", name, noised[i]);
	if (clip == NULL)
		tool_die("%s: record 1: no dp.clip: --ftrl takes a sum of "
		    "updates clipped by fl-clip-noise -c", name);
	if (fl_parse_double(clip, 0, INFINITY, &c, &err) < 0 ||
	    c != st->clip)
		tool_die("%s: record 1: clip bound '%s', the tree's is '%s' "
		    "(%s): its sensitivity would not be the one accounted",
		    name, fl_escape(q, sizeof(q), clip, strlen(clip)),
		    fl_format_double(b1, st->clip), spath);
	if (kind != NULL && strcmp(kind, "mean") == 0 && den != NULL) {
		double n;

		if (fl_parse_double(den, 1, INFINITY, &n, &err) < 0)
			tool_die("%s: record 1: bad agg.denominator: %s", name,
			    err.msg);
		scale = 1 / n;
	} else if (kind == NULL || strcmp(kind, "sum") != 0) {
		tool_die("%s: record 1: agg '%s': --ftrl takes a sum "
		    "(fl-aggregate -r sum) or a mean over a public "
		    "denominator (--denominator)", name, kind ?
		    fl_escape(q, sizeof(q), kind, strlen(kind)) : "(none)");
	}
	/* Snapping to the grid moves a sum by g/2 a coordinate at most: the
	 * round's sensitivity is C' = C + g sqrt(d) (as fl-clip-noise's
	 * dp.sensitivity).  The noise is sized on C', so the multiplier
	 * accounted is the tree's own (the plan's), not a hair below. */
	for (size_t i = 0; i < agg->ntensors; i++)
		d += agg->tensors[i].numel;
	sigma = fl_noise_sigma_for(st->noise, st->clip * scale, d, &sens);
	if (st->bands > 0 && t > 1 && past_count() != agg->ntensors)
		tool_die("%s: record 1: %zu tensors, the state %s keeps the "
		    "noise of %zu: a banded tree noises the same tensors every "
		    "round", name, agg->ntensors, spath, past_count());
	if (st->bands > 0) {
		ftrl_rows = tool_malloc((agg->ntensors ? agg->ntensors : 1) *
		    sizeof(*ftrl_rows));
		ftrl_bands = st->bands;
	}
	fl_tree_init(&tr, st->secret, st->tree_id, st->estimator, sigma);
	tr.threads = threads;
	for (size_t i = 0; i < agg->ntensors; i++) {
		struct fl_tensor *x = &agg->tensors[i];
		uint64_t idx = (uint64_t)(fl_tensor_find(model, x->name) -
		    model->tensors);

		/* The model's index: the same tensor, the same streams,
		 * whatever the aggregate holds. */
		if (st->bands > 0)
			banded_tensor(st, spath, name, x, idx, t, &tr);
		else if (fl_tree_noise_tensor(x, idx, t, &tr, &err) < 0)
			tool_die("%s: record 1: %s", name, err.msg);
	}
	fl_tree_wipe(&tr);
	if (fl_meta_setf(model, &err, "ftrl.tree", "%016llx",
	    (unsigned long long)st->tree_id) < 0 ||
	    fl_meta_setf(model, &err, "ftrl.round", "%llu",
	    (unsigned long long)t) < 0 ||
	    fl_meta_set(model, "ftrl.noise", fl_format_double(b1, st->noise),
	    &err) < 0 ||
	    fl_meta_set(model, "ftrl.clip", fl_format_double(b1, st->clip),
	    &err) < 0 ||
	    fl_meta_setf(model, &err, "ftrl.participations", "%llu",
	    (unsigned long long)st->participations) < 0 ||
	    fl_meta_setf(model, &err, "ftrl.separation", "%llu",
	    (unsigned long long)st->separation) < 0 ||
	    fl_meta_set(model, "ftrl.noise-effective", fl_format_double(b2,
	    sigma / sens), &err) < 0 ||
	    (st->seeded && fl_meta_set(model, "ftrl.seeded", "yes",
	    &err) < 0) || (st->bands > 0 && (fl_meta_set(model,
	    "ftrl.mechanism", "banded", &err) < 0 || fl_meta_setf(model,
	    &err, "ftrl.bands", "%llu", (unsigned long long)st->bands) < 0 ||
	    fl_meta_setf(model, &err, "ftrl.rounds", "%llu",
	    (unsigned long long)st->rounds) < 0)))
		tool_die("%s", err.msg);
	st->done = t;
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
		OPT_OPTIMIZER, OPT_TAU, OPT_CLIP, OPT_ESTIMATOR, OPT_FTRL,
		OPT_FTRL_INIT, OPT_NOISE, OPT_PARTS, OPT_ROUNDS, OPT_SEED,
		OPT_SEP, OPT_DTYPE, OPT_MECH, OPT_BANDS };
	static const struct option longopts[] = {
		{ "bands", required_argument, NULL, OPT_BANDS },
		{ "beta1", required_argument, NULL, OPT_BETA1 },
		{ "beta2", required_argument, NULL, OPT_BETA2 },
		{ "clip", required_argument, NULL, OPT_CLIP },
		{ "dtype", required_argument, NULL, OPT_DTYPE },
		{ "estimator", required_argument, NULL, OPT_ESTIMATOR },
		{ "ftrl", required_argument, NULL, OPT_FTRL },
		{ "ftrl-init", no_argument, NULL, OPT_FTRL_INIT },
		{ "help", no_argument, NULL, 'h' },
		{ "ledger", required_argument, NULL, OPT_LEDGER },
		{ "mechanism", required_argument, NULL, OPT_MECH },
		{ "model", required_argument, NULL, 'm' },
		{ "momentum", required_argument, NULL, OPT_MOMENTUM },
		{ "noise", required_argument, NULL, OPT_NOISE },
		{ "optimizer", required_argument, NULL, OPT_OPTIMIZER },
		{ "output", required_argument, NULL, 'o' },
		{ "participations", required_argument, NULL, OPT_PARTS },
		{ "rounds", required_argument, NULL, OPT_ROUNDS },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "separation", required_argument, NULL, OPT_SEP },
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
	struct ftrl_args fa;
	struct fl_ftrl_state fst;
	struct fl_atomic fatomic;
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
	memset(&fa, 0, sizeof(fa));
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
		case OPT_CLIP:
			fa.clip = optarg;
			break;
		case OPT_ESTIMATOR:
			fa.estimator = optarg;
			break;
		case OPT_MECH:
			fa.mechanism = optarg;
			break;
		case OPT_BANDS:
			fa.bands = optarg;
			break;
		case OPT_FTRL:
			fa.path = optarg;
			break;
		case OPT_FTRL_INIT:
			fa.init = 1;
			break;
		case OPT_NOISE:
			fa.noise = optarg;
			break;
		case OPT_PARTS:
			fa.parts = optarg;
			break;
		case OPT_ROUNDS:
			fa.rounds = optarg;
			break;
		case OPT_SEED:
			fa.seed = optarg;
			break;
		case OPT_SEP:
			fa.sep = optarg;
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
	if (fa.init && fa.path == NULL)
		tool_usage_error("--ftrl-init needs --ftrl=FILE");
	if (fa.init && (fa.noise == NULL || fa.clip == NULL ||
	    fa.rounds == NULL))
		tool_usage_error("--ftrl-init needs --noise, --clip and "
		    "--rounds");
	if (!fa.init && (fa.noise != NULL || fa.clip != NULL ||
	    fa.rounds != NULL || fa.parts != NULL || fa.sep != NULL ||
	    fa.estimator != NULL || fa.seed != NULL))
		tool_usage_error("--noise, --clip, --rounds, --participations, "
		    "--separation, --estimator and --seed go with --ftrl-init "
		    "(the state keeps them)");
	if (!fa.init && (fa.mechanism != NULL || fa.bands != NULL))
		tool_usage_error("--mechanism and --bands go with --ftrl-init "
		    "(the state keeps them)");
	if (fa.mechanism != NULL && strcmp(fa.mechanism, "tree") != 0 &&
	    strcmp(fa.mechanism, "banded") != 0)
		tool_usage_error("unknown --mechanism '%s': tree or banded",
		    fa.mechanism);
	if ((fa.mechanism != NULL && strcmp(fa.mechanism, "banded") == 0) !=
	    (fa.bands != NULL))
		tool_usage_error("--mechanism=banded and --bands go together");
	if (fa.bands != NULL && fa.estimator != NULL)
		tool_usage_error("--estimator is the tree's: not with "
		    "--mechanism=banded");
	if (fa.path != NULL && fl_select_active(&sel))
		tool_usage_error("--ftrl noises every tensor of the aggregate: "
		    "no --only or --exclude");
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
	if (fa.path != NULL && fl_meta_get(&agg, "dp.loss-bound") != NULL)
		tool_die("%s: record 1: carries a loss (dp.loss-bound): --ftrl "
		    "does not noise it", in.name);
	if (fl_release_take_loss(&agg, &loss, &err) < 0)
		tool_die("%s: record 1: %s", in.name, err.msg);
	check_aggregate(in.name, &agg, &model, model_path, &sel);
	if (fa.path != NULL) {
		if (fa.init)
			ftrl_new(&fst, &fa, &model, model_path, round);
		else
			ftrl_load(&fst, fa.path, &model, model_path, round,
			    &in.limits);
		ftrl_round(&fst, fa.path, &agg, in.name, &model, 1);
	}

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
	if (fa.path != NULL) {
		struct fl_record fr;

		fl_record_init(&fr);
		if (fl_ftrl_state_to_record(&fr, &fst, &err) < 0)
			tool_die("%s: %s", fa.path, err.msg);
		if (fst.bands > 0) {
			uint64_t dims[1] = { fst.bands };
			struct fl_tensor *t;

			/* The strategy, then the past noise. */
			if ((t = fl_tensor_add(&fr, "coefficients", FL_F64, 1,
			    dims, &err)) == NULL)
				tool_die("%s: %s", fa.path, err.msg);
			memcpy(t->data, ftrl_coef, fst.bands * sizeof(double));
			banded_rows_to_record(&fr, fst.bands, fa.path);
		}
		fl_ftrl_state_wipe(&fst);
		if (fl_atomic_open(&fatomic, fa.path, 0600, &err) < 0)
			tool_die("%s: %s", fa.path, err.msg);
		pending_ftrl = &fatomic;
		atexit(remove_pending_state);
		if (fl_record_write(fatomic.fp, &fr, 0, &err) < 0)
			tool_die("%s: %s", fa.path, err.msg);
		for (size_t i = 0; i < fr.ntensors; i++)
			sodium_memzero(fr.tensors[i].data, fr.tensors[i].nbytes);
		fl_record_free(&fr);
	}
	if (output != NULL)
		tool_output_open(&out, output, 1);
	tool_output_record(&out, &model, 0);
	tool_output_close(&out);
	pending_state = NULL;
	if (state_path != NULL && fl_atomic_commit(&atomic, &err) < 0)
		tool_die("%s: %s (the model was written: the next run will "
		    "refuse the stale state)", state_path, err.msg);
	/* After the model: a crash between the two leaves the state behind
	 * the model, which the next round refuses (never fresh noise). */
	pending_ftrl = NULL;
	if (fa.path != NULL && (fa.init ? fl_atomic_commit_new(&fatomic,
	    &err) : fl_atomic_commit(&fatomic, &err)) < 0)
		tool_die("%s: %s (the model was written: the next run will "
		    "refuse the stale state)", fa.path, err.msg);

	/* Banded MF's past noise is the secret's: wiped, then freed. */
	if (ftrl_rows != NULL)
		banded_rows_free();
	wipe_free(&ftrl_past);
	free(ftrl_coef);
	fl_record_free(&agg);
	fl_record_free(&model);
	fl_record_free(&old);
	fl_record_free(&ns);
	fl_select_free(&sel);
	tool_input_free(&in);
	return 0;
}
