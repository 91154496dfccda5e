/* SPDX-License-Identifier: ISC */
/*
 * One aggregation's records: what the server admits into a sum or a
 * robust rule, and what the aggregate says of them.  Every input must be
 * an update (or, for the mean and the sum, a partial aggregate of the same
 * rule), of the first record's layout, ring and masking, agreeing on the
 * keys that make a sum meaningful (model, ring, quantizer, masking
 * session) and on the round, from a client not seen before; the weights
 * and client counts are summed, the norms kept for the log, and the
 * metadata every input agrees on kept for the aggregate.  Out of
 * fl-aggregate, where it was the program's first pass.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

static const char *const rule_names[] = {
	[FL_AGG_MEAN] = "mean", [FL_AGG_SUM] = "sum",
	[FL_AGG_MEDIAN] = "median", [FL_AGG_TRIMMED] = "trimmed-mean",
	[FL_AGG_KRUM] = "krum",
};

#define NRULES (sizeof(rule_names) / sizeof(rule_names[0]))

const char *
fl_agg_rule_name(enum fl_agg_rule rule)
{
	return (unsigned)rule < NRULES ? rule_names[rule] : NULL;
}

int
fl_agg_rule_parse(const char *s, enum fl_agg_rule *rule)
{
	for (size_t i = 0; i < NRULES; i++) {
		if (strcmp(s, rule_names[i]) == 0) {
			*rule = (enum fl_agg_rule)i;
			return 0;
		}
	}
	return -1;
}

void
fl_aggregation_init(struct fl_aggregation *g, enum fl_agg_rule rule,
    int unweighted, double denominator, double norm_bound, uint64_t select)
{
	memset(g, 0, sizeof(*g));
	g->rule = rule;
	g->unweighted = unweighted;
	g->denominator = denominator;
	g->norm_bound = norm_bound;
	g->select = select;
	g->all_weighted = 1;
	fl_record_init(&g->keep);
}

void
fl_aggregation_free(struct fl_aggregation *g)
{
	for (size_t i = 0; i < g->seencap; i++)
		free(g->seen[i].id);
	free(g->seen);
	free(g->norms);
	fl_acc_free(&g->acc);
	fl_layout_free(&g->layout);
	fl_record_free(&g->keep);
	memset(g, 0, sizeof(*g));
}

static int
summed(const struct fl_aggregation *g)
{
	return g->rule == FL_AGG_MEAN || g->rule == FL_AGG_SUM;
}

/* A failure about the record, of kind why. */
static int __attribute__((format(printf, 4, 5)))
refuse(struct fl_aggregation *g, enum fl_agg_refusal why,
    struct fl_error *err, const char *fmt, ...)
{
	va_list ap;

	g->refusal = why;
	if (err == NULL)
		return -1;
	err->code = FL_EFORMAT;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- client ids ---- */

static uint64_t
hash_str(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static int
note_client(struct fl_aggregation *g, const char *id, const char *file,
    unsigned long recno, struct fl_error *err)
{
	size_t i;

	if (g->nseen * 2 >= g->seencap) {
		struct fl_agg_client *old = g->seen;
		size_t oldcap = g->seencap;
		size_t cap = oldcap ? oldcap * 2 : 64;
		struct fl_agg_client *seen = calloc(cap, sizeof(*seen));

		if (seen == NULL)
			return fl_error_set(err, FL_ENOMEM, "out of memory");
		g->seen = seen;
		g->seencap = cap;
		for (size_t j = 0; j < oldcap; j++) {
			if (old[j].id == NULL)
				continue;
			i = hash_str(old[j].id) & (g->seencap - 1);
			while (g->seen[i].id != NULL)
				i = (i + 1) & (g->seencap - 1);
			g->seen[i] = old[j];
		}
		free(old);
	}
	i = hash_str(id) & (g->seencap - 1);
	for (; g->seen[i].id != NULL; i = (i + 1) & (g->seencap - 1)) {
		if (strcmp(g->seen[i].id, id) == 0) {
			g->dup = &g->seen[i];
			return refuse(g, FL_AGG_DUPLICATE, err,
			    "duplicate client '%s'", id);
		}
	}
	if ((g->seen[i].id = strdup(id)) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	g->seen[i].file = file;
	g->seen[i].recno = recno;
	g->nseen++;
	return 0;
}

/* ---- the checks of a record's header ---- */

/* Keys whose values must be equal in every input (presence included):
 * summing records of different models, rings or masking sessions is
 * meaningless. */
static int
must_agree(const char *key)
{
	return strcmp(key, "arch") == 0 || strcmp(key, "mask") == 0 ||
	    strcmp(key, "modulus") == 0 || strncmp(key, "q.", 2) == 0 ||
	    strncmp(key, "secagg.", 7) == 0;
}

static int
check_agree(struct fl_aggregation *g, const struct fl_record *r,
    struct fl_error *err)
{
	const struct fl_record *first_meta = &g->keep;
	char q1[FL_QUOTE], q2[FL_QUOTE];

	/* Every must-agree key of either record. */
	for (int pass = 0; pass < 2; pass++) {
		const struct fl_record *x = pass ? r : first_meta;

		for (size_t i = 0; i < x->nmeta; i++) {
			const char *k = x->meta[i].key, *v1, *v2;

			if (!must_agree(k))
				continue;
			v1 = fl_meta_get(r, k);
			v2 = fl_meta_get(first_meta, k);
			if (v1 != NULL && v2 != NULL && strcmp(v1, v2) == 0)
				continue;
			g->key = k;
			return refuse(g, FL_AGG_DISAGREE, err, "%s: %s%s%s here, "
			    "%s%s%s in the first record", k, v1 ? "'" : "",
			    v1 ? fl_escape(q1, sizeof(q1), v1, strlen(v1)) :
			    "absent", v1 ? "'" : "", v2 ? "'" : "",
			    v2 ? fl_escape(q2, sizeof(q2), v2, strlen(v2)) :
			    "absent", v2 ? "'" : "");
		}
	}
	return 0;
}

static int
check_kind(struct fl_aggregation *g, const struct fl_record *rec,
    struct fl_error *err)
{
	const char *kind = fl_meta_get(rec, "kind");
	const char *agg = fl_meta_get(rec, "agg");
	char q[FL_QUOTE];

	if (kind != NULL && (strcmp(kind, "model") == 0 ||
	    strcmp(kind, "state") == 0 || strcmp(kind, "account") == 0))
		return refuse(g, FL_AGG_REFUSED, err, "record is a %s, not an "
		    "update", kind);
	if (agg == NULL)
		return 0;
	fl_escape(q, sizeof(q), agg, strlen(agg));
	if (!summed(g))
		return refuse(g, FL_AGG_REFUSED, err, "record is an aggregate "
		    "(agg=%s): %s takes updates", q, rule_names[g->rule]);
	if (strcmp(agg, "mean") != 0 && strcmp(agg, "sum") != 0)
		return refuse(g, FL_AGG_REFUSED, err, "record is a '%s' "
		    "aggregate: robust aggregates do not merge", q);
	/* --denominator divides a plain sum: partial sums merge into it
	 * (noised by the server, say); a mean does not give its sum back. */
	if (!isnan(g->denominator)) {
		if (strcmp(agg, "sum") != 0)
			return refuse(g, FL_AGG_REFUSED, err, "record is a "
			    "partial mean: --denominator divides sums (merge "
			    "with -r sum, then divide once)");
		return 0;
	}
	if (strcmp(agg, rule_names[g->rule]) != 0)
		return refuse(g, FL_AGG_REFUSED, err, "record is a partial %s: "
		    "merge it with --rule=%s", q, q);
	return 0;
}

static int
check_round(struct fl_aggregation *g, const struct fl_record *rec,
    struct fl_error *err)
{
	const char *r = fl_meta_get(rec, "round");
	struct fl_error e;
	uint64_t v;
	char q[FL_QUOTE];

	if (r == NULL)
		return 0;
	if (fl_parse_u64(r, 0, UINT64_MAX, &v, &e) < 0)
		return refuse(g, FL_AGG_REFUSED, err, "bad round '%s': %s",
		    fl_escape(q, sizeof(q), r, strlen(r)), e.msg);
	if (!g->have_round) {
		g->have_round = 1;
		g->round = v;
	} else if (v != g->round) {
		return refuse(g, FL_AGG_REFUSED, err, "round %llu, but other "
		    "inputs are of round %llu", (unsigned long long)v,
		    (unsigned long long)g->round);
	}
	return 0;
}

/* What the first record fixes: layout, ring, masking. */
static int
start(struct fl_aggregation *g, const struct fl_record *rec,
    const char *file, unsigned long recno, struct fl_error *err)
{
	const char *mod = fl_meta_get(rec, "modulus");
	struct fl_error e;
	char q[FL_QUOTE];

	g->started = 1;
	g->first_file = file;
	g->first_recno = recno;
	g->masked = fl_meta_get(rec, "mask") != NULL;
	if (fl_meta_copy(&g->keep, rec, err) < 0)
		return -1;
	if (mod != NULL && fl_parse_u64(mod, 2, UINT64_MAX, &g->modulus,
	    &e) < 0)
		return refuse(g, FL_AGG_REFUSED, err, "bad modulus '%s': %s",
		    fl_escape(q, sizeof(q), mod, strlen(mod)), e.msg);
	if (g->masked && mod == NULL)
		return refuse(g, FL_AGG_REFUSED, err, "masked record without a "
		    "modulus");
	if (mod != NULL && g->rule != FL_AGG_SUM)
		return refuse(g, FL_AGG_REFUSED, err, "%s records (modulus %s) "
		    "can only be summed: use --rule=sum", g->masked ? "masked" :
		    "ring-encoded", fl_escape(q, sizeof(q), mod, strlen(mod)));
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];

		g->tensor = i;
		if (fl_dtype_is_float(t->dtype)) {
			g->have_float = 1;
			continue;
		}
		/* The way out depends on what the integers are: a codec's
		 * (decode them), or a model's own counter such as BatchNorm's
		 * num_batches_tracked (leave it out: the mean, like the other
		 * rules, takes --exclude, and a sum of plain integers is
		 * exact). */
		if (g->rule != FL_AGG_SUM && fl_meta_get(rec, "q.codec"))
			return refuse(g, FL_AGG_INTEGER, err, "tensor '%s' is %s: "
			    "%s takes float tensors; decode the record first "
			    "(fl-quantize -d), or use --rule=sum", t->name,
			    fl_dtype_name(t->dtype), rule_names[g->rule]);
		if (g->rule == FL_AGG_MEAN)
			return refuse(g, FL_AGG_INTEGER, err, "tensor '%s' is %s: "
			    "%s takes float tensors; leave it out (--exclude "
			    "'%s')", t->name, fl_dtype_name(t->dtype),
			    rule_names[g->rule], t->name);
		if (g->rule != FL_AGG_SUM)
			return refuse(g, FL_AGG_INTEGER, err, "tensor '%s' is %s: "
			    "%s takes float tensors; leave it out of the "
			    "updates (fl-clip-noise --exclude '%s')", t->name,
			    fl_dtype_name(t->dtype), rule_names[g->rule],
			    t->name);
		if (g->norm_bound > 0)
			return refuse(g, FL_AGG_INTEGER_BOUND, err, "tensor '%s' "
			    "is %s: --norm-bound takes float tensors", t->name,
			    fl_dtype_name(t->dtype));
	}
	if (summed(g)) {
		if (fl_acc_init(&g->acc, rec, g->modulus, err) < 0) {
			g->refusal = FL_AGG_REFUSED;
			return -1;
		}
	} else if (fl_layout_init(&g->layout, rec, err) < 0) {
		return -1;
	}
	return 0;
}

int
fl_aggregation_admit(struct fl_aggregation *g, const struct fl_record *rec,
    const char *file, unsigned long recno, struct fl_error *err)
{
	const char *client;

	g->refusal = FL_AGG_NOT_REFUSED;
	if (check_kind(g, rec, err) < 0)
		return -1;
	if (!g->started) {
		if (start(g, rec, file, recno, err) < 0)
			return -1;
	} else {
		int masked = fl_meta_get(rec, "mask") != NULL;

		if (masked != g->masked)
			return refuse(g, FL_AGG_MIXED, err, "record is %s, the "
			    "first record is %s: masked and plain updates never "
			    "mix", masked ? "masked" : "plain",
			    g->masked ? "masked" : "plain");
		if (check_agree(g, rec, err) < 0)
			return -1;
	}
	if (check_round(g, rec, err) < 0)
		return -1;
	if ((client = fl_meta_get(rec, "client")) != NULL &&
	    note_client(g, client, file, recno, err) < 0)
		return -1;
	return 0;
}

int
fl_aggregation_weigh(struct fl_aggregation *g, const struct fl_record *rec,
    double *weight, uint64_t *clients, struct fl_error *err)
{
	const char *w = fl_meta_get(rec, "weight");
	const char *c = fl_meta_get(rec, "clients");
	struct fl_error e;
	char q[FL_QUOTE];
	double v = 0;

	g->refusal = FL_AGG_NOT_REFUSED;
	*clients = 1;
	if (c != NULL && fl_parse_u64(c, 1, UINT64_MAX, clients, &e) < 0)
		return refuse(g, FL_AGG_REFUSED, err, "bad clients '%s': %s",
		    fl_escape(q, sizeof(q), c, strlen(c)), e.msg);
	if (w != NULL) {
		if (fl_parse_double(w, 0, INFINITY, &v, &e) < 0)
			return refuse(g, FL_AGG_REFUSED, err, "bad weight '%s': "
			    "%s", fl_escape(q, sizeof(q), w, strlen(w)), e.msg);
		if (!(v > 0))
			return refuse(g, FL_AGG_REFUSED, err, "weight '%s' is "
			    "not positive", fl_escape(q, sizeof(q), w, strlen(w)));
	} else {
		g->all_weighted = 0;
		if (g->rule == FL_AGG_MEAN && !g->unweighted &&
		    isnan(g->denominator))
			return refuse(g, FL_AGG_REFUSED, err, "no weight: give "
			    "every update a weight, or use --unweighted");
	}
	if (g->rule == FL_AGG_MEAN && !isnan(g->denominator))
		*weight = 1;    /* an update, or a partial sum: as it is */
	else if (g->rule == FL_AGG_MEAN && g->unweighted)
		*weight = (double)*clients;
	else
		*weight = v;
	if (fl_layout_check(summed(g) ? &g->acc.layout : &g->layout, rec,
	    err) < 0) {
		g->refusal = FL_AGG_LAYOUT;
		return -1;
	}
	return 0;
}

double
fl_aggregation_scale(struct fl_aggregation *g, double l2)
{
	double scale = 1;

	if (g->norm_bound > 0 && l2 > g->norm_bound) {
		scale = g->norm_bound / l2;
		g->bounded++;
	}
	return scale;
}

int
fl_aggregation_count(struct fl_aggregation *g, const struct fl_record *rec,
    double l2, double weight, uint64_t clients, struct fl_error *err)
{
	if (g->nnorms == g->normcap) {
		size_t cap = g->normcap ? g->normcap * 2 : 64;
		void *p = cap > SIZE_MAX / sizeof(*g->norms) ? NULL :
		    realloc(g->norms, cap * sizeof(*g->norms));

		if (p == NULL)
			return fl_error_set(err, FL_ENOMEM, "out of memory");
		g->norms = p;
		g->normcap = cap;
	}
	g->norms[g->nnorms++] = l2;
	/* Drop from keep the keys this record lacks or disagrees on. */
	for (size_t i = g->keep.nmeta; i-- > 0;) {
		const char *v = fl_meta_get(rec, g->keep.meta[i].key);

		if (v == NULL || strcmp(v, g->keep.meta[i].value) != 0)
			fl_meta_del(&g->keep, g->keep.meta[i].key);
	}
	g->records++;
	g->clients += clients;
	g->wsum += weight;
	return 0;
}

const char *
fl_aggregation_label(const struct fl_aggregation *g)
{
	if (g->rule == FL_AGG_KRUM && g->select > 1)
		return "multi-krum";
	return rule_names[g->rule];
}

int
fl_aggregation_meta(const struct fl_aggregation *g, struct fl_record *out,
    struct fl_error *err)
{
	char buf[FL_NUMBUF];

	if (fl_meta_copy(out, &g->keep, err) < 0)
		return -1;
	fl_meta_del(out, "client");
	fl_meta_del(out, "weight");
	fl_meta_del(out, "round");
	if (fl_meta_set(out, "kind", "aggregate", err) < 0 ||
	    fl_meta_set(out, "agg", fl_aggregation_label(g), err) < 0 ||
	    fl_meta_setf(out, err, "clients", "%llu",
	    (unsigned long long)g->clients) < 0 ||
	    (g->have_round && fl_meta_setf(out, err, "round", "%llu",
	    (unsigned long long)g->round) < 0) ||
	    (isnan(g->denominator) && (g->all_weighted ||
	    (g->rule == FL_AGG_MEAN && g->unweighted)) && fl_meta_set(out,
	    "weight", fl_format_double(buf, g->wsum), err) < 0) ||
	    (!isnan(g->denominator) && fl_meta_set(out, "agg.denominator",
	    fl_format_double(buf, g->denominator), err) < 0))
		return -1;
	return 0;
}

void
fl_aggregation_norms(struct fl_aggregation *g, double *lo, double *mid,
    double *hi)
{
	*lo = *mid = *hi = NAN;
	if (g->have_float && g->nnorms > 0) {
		*lo = *hi = g->norms[0];
		for (size_t i = 1; i < g->nnorms; i++) {
			*lo = fmin(*lo, g->norms[i]);
			*hi = fmax(*hi, g->norms[i]);
		}
		*mid = fl_agg_median(g->norms, g->nnorms);
	}
}
