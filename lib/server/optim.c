/* SPDX-License-Identifier: ISC */
/*
 * Server optimizers: the aggregate update is a pseudo-gradient (it points
 * where the clients moved, so it is added, not subtracted) and the server
 * takes one step of SGD, momentum SGD or an adaptive method per round
 * (Reddi et al. 2021, Algorithm 2; no bias correction, as in the paper).
 */
#include <math.h>
#include <string.h>

#include "base/internal.h"
#include "server/server.h"

static const char *const names[] = {
	[FL_OPT_SGD] = "sgd",
	[FL_OPT_AVGM] = "avgm",
	[FL_OPT_ADAGRAD] = "adagrad",
	[FL_OPT_ADAM] = "adam",
	[FL_OPT_YOGI] = "yogi",
};

const char *
fl_opt_name(enum fl_opt_kind k)
{
	if ((unsigned)k >= sizeof(names) / sizeof(names[0]))
		return NULL;
	return names[k];
}

int
fl_opt_parse(const char *s, enum fl_opt_kind *k)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0) {
			*k = (enum fl_opt_kind)i;
			return 0;
		}
	return -1;
}

int
fl_opt_nstate(enum fl_opt_kind k)
{
	return k == FL_OPT_SGD ? 0 : k == FL_OPT_AVGM ? 1 : 2;
}

double
fl_opt_state_init(const struct fl_opt *o, int i)
{
	/* Reddi et al. start the second moment at v >= tau^2. */
	return i == 1 ? o->tau * o->tau : 0;
}

static double
get(const struct fl_tensor *t, uint64_t i)
{
	return t->dtype == FL_F32 ? (double)((const float *)t->data)[i] :
	    ((const double *)t->data)[i];
}

static void
put(struct fl_tensor *t, uint64_t i, double v)
{
	if (t->dtype == FL_F32)
		((float *)t->data)[i] = (float)v;
	else
		((double *)t->data)[i] = v;
}

static int
is_float(const struct fl_tensor *t)
{
	return t->dtype == FL_F32 || t->dtype == FL_F64;
}

int
fl_opt_step(const struct fl_opt *o, struct fl_tensor *x,
    const struct fl_tensor *d, struct fl_tensor *m, struct fl_tensor *v,
    struct fl_error *err)
{
	int ns = fl_opt_nstate(o->kind);

	if (fl_opt_name(o->kind) == NULL)
		return fl_error_set(err, FL_EINVAL, "unknown optimizer");
	if (!is_float(x) || !is_float(d) || d->numel != x->numel)
		return fl_error_set(err, FL_EINVAL, "tensor '%s': the model "
		    "and the update must be float tensors of one size",
		    x->name);
	if ((ns >= 1 && (m == NULL || !is_float(m) || m->numel != x->numel)) ||
	    (ns >= 2 && (v == NULL || !is_float(v) || v->numel != x->numel)))
		return fl_error_set(err, FL_EINVAL, "tensor '%s': %s needs "
		    "%d float state tensors of its size", x->name,
		    fl_opt_name(o->kind), ns);
	for (uint64_t i = 0; i < x->numel; i++) {
		double g = get(d, i), xi = get(x, i), mi = 0, vi = 0, step;

		switch (o->kind) {
		case FL_OPT_SGD:
			step = o->lr * g;
			break;
		case FL_OPT_AVGM:
			mi = o->momentum * get(m, i) + g;
			step = o->lr * mi;
			break;
		default:
			mi = o->beta1 * get(m, i) + (1 - o->beta1) * g;
			vi = get(v, i);
			if (o->kind == FL_OPT_ADAGRAD)
				vi += g * g;
			else if (o->kind == FL_OPT_ADAM)
				vi = o->beta2 * vi + (1 - o->beta2) * g * g;
			else
				vi -= (1 - o->beta2) * g * g *
				    (vi > g * g ? 1 : vi < g * g ? -1 : 0);
			step = o->lr * mi / (sqrt(vi) + o->tau);
			break;
		}
		put(x, i, xi + step);
		if (ns >= 1)
			put(m, i, mi);
		if (ns >= 2)
			put(v, i, vi);
		/* Read back: a finite f64 can still overflow an f32. */
		if (!isfinite(get(x, i)) || (ns >= 1 && !isfinite(get(m, i))) ||
		    (ns >= 2 && !isfinite(get(v, i))))
			return fl_error_set(err, FL_EINVAL, "tensor '%s' element "
			    "%llu: the step gives a non-finite value", x->name,
			    (unsigned long long)i);
	}
	return 0;
}
