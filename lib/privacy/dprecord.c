/* SPDX-License-Identifier: ISC */
/*
 * The DP step on one record, as a device (or a server noising a sum) takes
 * it: the update clipped to its L2 bound, weighted for DP-FedAvg, the
 * training loss carried as one more coordinate inside the bound, the clip
 * indicator added; then the noise, with the metadata the accountant reads
 * (dp.*).  The arithmetic is dp.c's; here is the policy that says which
 * tensors, which bound, which sensitivity, and what the record then says.
 * Moved out of fl-clip-noise, which keeps the options and the messages'
 * prefixes.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "privacy/internal.h"

/* ---- metadata, read with the programs' messages ---- */

int
fl_dp_ring_modulus(const struct fl_record *rec, uint64_t *modulus,
    struct fl_error *err)
{
	const char *v = fl_meta_get(rec, "modulus");

	*modulus = 0;
	if (v != NULL && strcmp(v, "18446744073709551616") == 0)
		return 0;
	return fl_meta_u64(rec, "modulus", 0, UINT64_MAX, modulus,
	    err) < 0 ? -1 : 0;
}

/* A number as the shortest text that reads back (fmt NULL), or printf'd. */
static int
set_num(struct fl_record *rec, const char *key, const char *fmt, double v,
    struct fl_error *err)
{
	char buf[FL_NUMBUF];

	if (fmt == NULL)
		fl_format_double(buf, v);
	else
		snprintf(buf, sizeof(buf), fmt, v);
	return fl_meta_set(rec, key, buf, err);
}

/* The tensors clipping and noise act on: all but the indicator, which the
 * server noises after the sum.  *ts is allocated (rec->ntensors). */
static int
targets(struct fl_record *rec, struct fl_tensor ***ts, size_t *n,
    struct fl_error *err)
{
	*n = 0;
	if ((*ts = malloc((rec->ntensors ? rec->ntensors : 1) *
	    sizeof(**ts))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	for (size_t i = 0; i < rec->ntensors; i++)
		if (strcmp(rec->tensors[i].name, FL_CLIP_INDICATOR) != 0)
			(*ts)[(*n)++] = &rec->tensors[i];
	return 0;
}

/* ---- clipping ---- */

/* Per-tensor bounds: C_i = C sqrt(w_i / sum w), so sum C_i^2 = C^2. */
static int
split_bounds(const char *split, double clip, struct fl_tensor **ts,
    size_t n, double *bound, struct fl_error *err)
{
	double total = 0;

	for (size_t i = 0; i < n; i++) {
		double w = 1;

		if (split != NULL && strcmp(split, "size") == 0) {
			w = (double)ts[i]->numel;
		} else if (split != NULL && strcmp(split, "equal") != 0) {
			/* NAME=W,NAME=W,... */
			const char *p = split;
			size_t len = strlen(ts[i]->name);

			w = NAN;
			while (p && *p) {
				if (strncmp(p, ts[i]->name, len) == 0 &&
				    p[len] == '=') {
					char buf[64], q[FL_QUOTE];
					size_t m = strcspn(p + len + 1, ",");
					struct fl_error e;

					snprintf(buf, sizeof(buf), "%.*s",
					    (int)m, p + len + 1);
					if (fl_parse_double(buf, 0, INFINITY,
					    &w, &e) < 0)
						return fl_error_set(err,
						    FL_EINVAL, "invalid "
						    "--per-tensor weight "
						    "'%s': %s", fl_escape(q,
						    sizeof(q), buf,
						    strlen(buf)), e.msg);
				}
				p = strchr(p, ',');
				p = p ? p + 1 : NULL;
			}
			if (isnan(w))
				return fl_error_set(err, FL_EFORMAT,
				    "--per-tensor gives no weight for tensor "
				    "'%s'", ts[i]->name);
		}
		bound[i] = w;
		total += w;
	}
	if (!(total > 0))
		return fl_error_set(err, FL_EFORMAT, "--per-tensor weights sum "
		    "to 0");
	for (size_t i = 0; i < n; i++)
		bound[i] = clip * sqrt(bound[i] / total);
	return 0;
}

/*
 * Clip a set of tensors to `bound`: in place, or, when noise follows, only
 * find the factor and write it to factor[0..n), for the noise pass to
 * apply.  *clipped says whether the set was over the bound.
 */
static int
clip_set(struct fl_tensor **ts, size_t n, double bound, double *factor,
    int *clipped, struct fl_error *err)
{
	double f;
	int rc;

	if (factor == NULL) {
		rc = fl_clip_tensors(ts, n, bound, clipped, err);
	} else {
		rc = fl_clip_factor(ts, n, bound, &f, clipped, err);
		for (size_t i = 0; i < n && rc == 0; i++)
			factor[i] = f;
	}
	return rc;
}

/*
 * Weighted DP-FedAvg (McMahan, Ramage, Talwar, Zhang 2018): a client's
 * clipped update counts min(n, W) / W, n its example count, so the weight
 * is bounded and sits inside the clip bound C (the sensitivity stays C);
 * the server divides the sum by a public denominator, never by the sum
 * of the weights, which it does not see.
 */
static int
capped_weight(const struct fl_dp_clip *c, const struct fl_record *rec,
    double *weight, struct fl_error *err)
{
	double n = NAN;

	*weight = 1;
	if (isnan(c->weight_cap))
		return 0;
	if (fl_meta_get(rec, "weight") == NULL)
		return fl_error_set(err, FL_EFORMAT, "--weight-cap needs the "
		    "update's example count (weight, from fl-train)");
	if (fl_meta_double(rec, "weight", 0, INFINITY, &n, err) < 0)
		return -1;
	if (!(n > 0))
		return fl_error_set(err, FL_EFORMAT, "weight must be "
		    "positive");
	*weight = fmin(n, c->weight_cap) / c->weight_cap;
	return 0;
}

/*
 * The training loss as one more coordinate of the vector that is clipped,
 * noised and masked: clamped to [0, B] and scaled to s C ell / B, s =
 * FL_LOSS_SHARE, beside an update clipped to C sqrt(1 - s^2).  The summed
 * coordinate over dp.loss-scale = s C / B is the clients' summed loss,
 * with noise sigma B / (s C) in loss units.  *coord is the coordinate's
 * value, or NAN without a loss bound.
 */
static int
loss_coordinate(const struct fl_dp_clip *c, const struct fl_record *rec,
    double *coord, struct fl_error *err)
{
	double loss = NAN;

	*coord = NAN;
	if (isnan(c->loss_bound))
		return 0;
	if (fl_tensor_find(rec, FL_LOSS_TENSOR) != NULL)
		return fl_error_set(err, FL_EFORMAT, "already carries a tensor "
		    "'%s'", FL_LOSS_TENSOR);
	if (fl_meta_get(rec, "loss") == NULL)
		return fl_error_set(err, FL_EFORMAT, "--loss-bound needs the "
		    "update's training loss (loss, from fl-train without "
		    "--dp)");
	if (fl_meta_double(rec, "loss", -INFINITY, INFINITY, &loss,
	    err) < 0)
		return -1;
	if (!isfinite(loss))
		return fl_error_set(err, FL_EFORMAT, "loss must be a finite "
		    "number");
	/* (1 - 4 eps) on both parts: their roundings never take the
	 * joint norm above C. */
	*coord = FL_LOSS_SHARE * c->clip * (1 - 4 * DBL_EPSILON) *
	    fmin(fmax(loss, 0), c->loss_bound) / c->loss_bound;
	return 0;
}

/* The clipping itself, once the record is checked: the update's tensors
 * ts[0..n) to `clip` (per tensor, or jointly), then the weight. */
static int
clip_update(const struct fl_dp_clip *c, struct fl_record *rec,
    struct fl_tensor **ts, size_t n, double clip, double weight,
    double *factor, int *clipped, struct fl_error *err)
{
	*clipped = 0;
	if (c->per_tensor) {
		double *bound = malloc((n ? n : 1) * sizeof(*bound));
		int one;

		if (bound == NULL)
			return fl_error_set(err, FL_ENOMEM, "out of memory");
		if (split_bounds(c->split, clip, ts, n, bound, err) < 0) {
			free(bound);
			return -1;
		}
		for (size_t i = 0; i < n; i++) {
			if (clip_set(&ts[i], 1, bound[i], factor != NULL ?
			    &factor[i] : NULL, &one, err) < 0) {
				free(bound);
				return -1;
			}
			*clipped |= one;
		}
		free(bound);
		if (fl_meta_set(rec, "dp.clip-split", c->split ? c->split :
		    "equal", err) < 0)
			return -1;
	} else if (clip_set(ts, n, clip, factor, clipped, err) < 0) {
		return -1;
	}
	/* The weight only shrinks what is already within the bound.  (It
	 * stays a pass of its own without noise: x f w rounded twice is not
	 * x (f w) rounded once, and the output keeps its bits.) */
	if (factor != NULL)
		for (size_t i = 0; i < n; i++)
			factor[i] *= weight;
	else
		fl_scale_tensors(ts, n, weight);
	return 0;
}

/* What follows the clipping: dp.* for the accountant, the loss tensor,
 * the device's data-dependent keys dropped, the indicator. */
static int
clip_finish(const struct fl_dp_clip *c, struct fl_record *rec, size_t n,
    double weight, double loss, int clipped, double *factor,
    struct fl_error *err)
{
	uint64_t one = 1;
	struct fl_tensor *t;

	if (set_num(rec, "dp.clip", NULL, c->clip, err) < 0)
		return -1;
	if (!isnan(c->weight_cap) && set_num(rec, "dp.weight-cap", NULL,
	    c->weight_cap, err) < 0)
		return -1;
	if (!isnan(loss)) {
		/* After the update's tensors, so that it is the last target:
		 * the noise pass scales it by the weight alone. */
		if ((t = fl_tensor_add(rec, FL_LOSS_TENSOR, FL_F64, 1, &one,
		    err)) == NULL)
			return -1;
		if (factor != NULL) {
			factor[n] = weight;
			((double *)t->data)[0] = loss;
		} else {
			((double *)t->data)[0] = loss * weight;
		}
		if (set_num(rec, "dp.loss-bound", NULL, c->loss_bound,
		    err) < 0 || set_num(rec, "dp.loss-scale", NULL,
		    FL_LOSS_SHARE * c->clip / c->loss_bound, err) < 0)
			return -1;
	}
	/* A clipped update is made to leave the device, and the clip bounds
	 * only its values: the example count and the loss would travel in
	 * clear beside them. */
	fl_release_strip(rec);
	if (c->indicator) {
		/* Only this bit leaves the device, never the norm itself. */
		fl_tensor_remove(rec, FL_CLIP_INDICATOR);
		if ((t = fl_tensor_add(rec, FL_CLIP_INDICATOR, FL_U32, 1, &one,
		    err)) == NULL)
			return -1;
		((uint32_t *)t->data)[0] = !clipped;
		if (fl_meta_set(rec, "dp.clip-indicator", FL_CLIP_INDICATOR,
		    err) < 0)
			return -1;
	}
	return 0;
}

int
fl_dp_clip_record(struct fl_record *rec, const struct fl_dp_clip *c,
    double *factor, struct fl_error *err)
{
	struct fl_tensor **ts;
	size_t n;
	double weight, loss, clip;
	const char *mech;
	int clipped, rc = -1;

	if (targets(rec, &ts, &n, err) < 0)
		return -1;
	if (capped_weight(c, rec, &weight, err) < 0 ||
	    loss_coordinate(c, rec, &loss, err) < 0)
		goto out;
	clip = isnan(loss) ? c->clip : c->clip * sqrt(1 - FL_LOSS_SHARE *
	    FL_LOSS_SHARE) * (1 - 4 * DBL_EPSILON);
	if ((mech = fl_meta_get(rec, "dp.mechanism")) != NULL) {
		fl_error_set(err, FL_EFORMAT, "already noised (dp.mechanism="
		    "%s): clip before adding noise", mech);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (!fl_dtype_is_float(ts[i]->dtype)) {
			fl_error_set(err, FL_EFORMAT, "tensor '%s' is %s: "
			    "clipping applies to float tensors (clip before "
			    "fl-quantize)", ts[i]->name,
			    fl_dtype_name(ts[i]->dtype));
			goto out;
		}
	}
	if (clip_update(c, rec, ts, n, clip, weight, factor, &clipped,
	    err) < 0)
		goto out;
	free(ts);
	ts = NULL;
	rc = clip_finish(c, rec, n, weight, loss, clipped, factor, err);
out:
	free(ts);
	return rc;
}

/* ---- noise ---- */

static int
pick_mechanism(const struct fl_dp_noise *p, int is_float,
    enum fl_mechanism *m, struct fl_error *err)
{
	*m = is_float ? FL_MECH_GAUSSIAN : FL_MECH_DGAUSS;
	if (p->mechanism < 0)
		return 0;
	*m = (enum fl_mechanism)p->mechanism;
	if (is_float != (*m == FL_MECH_GAUSSIAN))
		return fl_error_set(err, FL_EINVAL, "%s noise asked of %s "
		    "tensors", fl_mechanism_name(*m),
		    is_float ? "float" : "integer");
	return 0;
}

/*
 * The noise multiplier for the update when adaptive clipping spends part
 * of the budget on the indicator (Andrew et al. 2021): the two Gaussian
 * queries compose to z where z^-2 = z_update^-2 + sigma_b^-2: the summed
 * 0/1 indicator has sensitivity 1.
 */
int
fl_dp_update_multiplier(double noise, double indicator_noise, double *z,
    struct fl_error *err)
{
	double rest;

	*z = noise;
	if (!(indicator_noise > 0))
		return 0;
	rest = 1 / (noise * noise) - 1 / (indicator_noise * indicator_noise);
	if (!(rest > 0))
		return fl_error_set(err, FL_EINVAL, "--noise %g needs "
		    "--indicator-noise above %g (z < sigma_b)", noise, noise);
	*z = 1 / sqrt(rest);
	return 0;
}

/* The tensors to noise, checked: one kind (float or integer), float ones
 * finite unless just clipped; *dim counts their values. */
static int
check_targets(const struct fl_dp_noise *p, struct fl_record *rec,
    struct fl_tensor **ts, size_t n, int *is_float, double *dim,
    struct fl_error *err)
{
	const char *mech;

	if (n == 0)
		return fl_error_set(err, FL_EFORMAT, "no tensors to noise");
	if ((mech = fl_meta_get(rec, "dp.mechanism")) != NULL)
		return fl_error_set(err, FL_EFORMAT, "already noised "
		    "(dp.mechanism=%s)", mech);
	*is_float = fl_dtype_is_float(ts[0]->dtype);
	*dim = 0;
	for (size_t i = 0; i < n; i++) {
		if (fl_dtype_is_float(ts[i]->dtype) != *is_float)
			return fl_error_set(err, FL_EFORMAT, "tensors '%s' and "
			    "'%s' mix float and integer values", ts[0]->name,
			    ts[i]->name);
		/* (A record clipped just now was checked already.) */
		if (*is_float && isnan(p->clip) &&
		    fl_tensor_check_finite(ts[i], err) < 0)
			return -1;
		*dim += (double)ts[i]->numel;
	}
	return 0;
}

/* The sensitivity, in the units the noise is added in: given, else the
 * record's dp.sensitivity, else (float) its dp.clip. */
static int
sensitivity(const struct fl_dp_noise *p, const struct fl_record *rec,
    int is_float, double *sens, struct fl_error *err)
{
	const char *agg = fl_meta_get(rec, "agg");
	char q[FL_QUOTE];

	*sens = p->sensitivity;
	/* A sum moves by the clip bound when one client changes; a mean by
	 * the bound over the weight, a robust rule by something else.  The
	 * record's dp.clip is a sensitivity only for a sum (or one update). */
	if (isnan(*sens) && agg != NULL && strcmp(agg, "sum") != 0)
		return fl_error_set(err, FL_EFORMAT, "noise on an aggregate of "
		    "agg=%s, whose sensitivity is not the clip bound%s: noise "
		    "the sum before dividing (fl-aggregate -r sum | "
		    "fl-clip-noise --noise Z | fl-aggregate --denominator W), "
		    "or give --sensitivity",
		    fl_escape(q, sizeof(q), agg, strlen(agg)),
		    strcmp(agg, "mean") == 0 ? " (a mean moves by the bound "
		    "over the weight)" : "");
	if (isnan(*sens) && fl_meta_double(rec, "dp.sensitivity", 0,
	    INFINITY, sens, err) < 0)
		return -1;
	if (isnan(*sens) && is_float && fl_meta_double(rec, "dp.clip",
	    0, INFINITY, sens, err) < 0)
		return -1;
	if (isnan(*sens))
		return fl_error_set(err, FL_EFORMAT, "%s", is_float ?
		    "no clip bound: clip first (-c) or give --sensitivity" :
		    "missing quantization metadata: integer noise needs "
		    "dp.sensitivity (from fl-quantize --ring) or "
		    "--sensitivity");
	if (!(*sens > 0))
		return fl_error_set(err, FL_EFORMAT, "sensitivity must be "
		    "positive");
	return 0;
}

/* One client's share: its integer vector must be within the bound it
 * claims, checked exactly before any noise is added. */
static int
check_share(struct fl_tensor **ts, size_t n, uint64_t modulus, double sens,
    struct fl_error *err)
{
	fl_u128 ss = 0;
	char q[FL_NUMBUF];
	int over = 0;

	for (size_t i = 0; i < n && !over; i++)
		over = fl_int_sumsq(ts[i], modulus, &ss) < 0;
	if (over || !fl_int_sumsq_le(ss, sens))
		return fl_error_set(err, FL_EFORMAT, "the update exceeds its "
		    "L2 sensitivity bound %s", fl_format_double(q, sens));
	return 0;
}

/* What the accountant needs, never the seed. */
static int
noise_meta(const struct fl_dp_noise *p, struct fl_record *rec,
    const struct fl_noise *nz, int is_float, double sens, double z_update,
    double dim, struct fl_error *err)
{
	if (fl_meta_set(rec, "dp.mechanism", fl_mechanism_name(nz->mechanism),
	    err) < 0 ||
	    set_num(rec, "dp.noise", NULL, p->noise, err) < 0 ||
	    set_num(rec, "dp.sigma", NULL, nz->sigma, err) < 0 ||
	    set_num(rec, "dp.shares", "%.0f", (double)p->shares, err) < 0 ||
	    set_num(rec, "dp.dim", "%.0f", dim, err) < 0)
		return -1;
	if (p->indicator_noise > 0 && (set_num(rec, "dp.noise-update", NULL,
	    z_update, err) < 0 || set_num(rec, "dp.indicator-noise", NULL,
	    p->indicator_noise, err) < 0))
		return -1;
	if (is_float) {
		double g = fl_noise_grid(nz->sigma);

		/* Snapping moves each coordinate by at most g/2: charge g
		 * sqrt(d) on top of the clip bound (both neighbours). */
		return set_num(rec, "dp.grid", NULL, g, err) < 0 ? -1 :
		    set_num(rec, "dp.sensitivity", NULL, sens + g * sqrt(dim),
		    err);
	}
	if (set_num(rec, "dp.sensitivity", NULL, sens, err) < 0)
		return -1;
	if (nz->mechanism == FL_MECH_SKELLAM &&
	    fl_meta_get(rec, "dp.sensitivity-l1") == NULL)
		/* Integer vectors: ||x||_1 <= ||x||_2^2 and
		 * ||x||_1 <= sqrt(d) ||x||_2. */
		return set_num(rec, "dp.sensitivity-l1", "%.0f",
		    ceil(sens * fmin(sqrt(dim), sens)), err);
	return 0;
}

/* Everything before the noise itself: nz set up, the checks made. */
static int
noise_setup(const struct fl_dp_noise *p, struct fl_record *rec,
    struct fl_tensor **ts, size_t n, struct fl_noise *nz, int *is_float,
    double *sens, double *z_update, double *dim, struct fl_error *err)
{
	memset(nz, 0, sizeof(*nz));
	if (check_targets(p, rec, ts, n, is_float, dim, err) < 0 ||
	    pick_mechanism(p, *is_float, &nz->mechanism, err) < 0)
		return -1;
	nz->threads = p->threads;
	nz->exact = p->exact;
	/* Clipped just now to C, its values checked finite: no value
	 * exceeds C, and the noise needs no scan for huge ones. */
	if (*is_float && !isnan(p->clip))
		nz->max_abs = p->clip;
	if (sensitivity(p, rec, *is_float, sens, err) < 0)
		return -1;
	if (!*is_float) {
		if (fl_dp_ring_modulus(rec, &nz->modulus, err) < 0)
			return -1;
		for (size_t i = 0; i < n; i++)
			if (ts[i]->dtype == FL_U32 && nz->modulus == 0)
				return fl_error_set(err, FL_EFORMAT, "missing "
				    "quantization metadata: u32 tensor '%s' "
				    "without a 'modulus'", ts[i]->name);
	}
	if (fl_dp_update_multiplier(p->noise, p->indicator_noise, z_update,
	    err) < 0)
		return -1;
	nz->sigma = *z_update * *sens / sqrt((double)p->shares);
	if (!*is_float && p->shares > 1 && check_share(ts, n, nz->modulus,
	    *sens, err) < 0)
		return -1;
	return 0;
}

int
fl_dp_noise_record(struct fl_record *rec, const struct fl_dp_noise *p,
    const unsigned char master[FL_RNG_KEYBYTES], uint64_t index,
    const double *factor, struct fl_error *err)
{
	struct fl_tensor **ts;
	struct fl_noise nz;
	double sens = NAN, z_update = NAN, dim = 0;
	size_t n;
	int is_float = 0, rc = -1;

	if (targets(rec, &ts, &n, err) < 0)
		return -1;
	if (noise_setup(p, rec, ts, n, &nz, &is_float, &sens, &z_update,
	    &dim, err) < 0)
		goto out;
	fl_rng_derive(nz.key, master, "dp-noise", index);
	if (nz.mechanism == FL_MECH_DGAUSS) {
		struct fl_dgauss dg;

		if (fl_dgauss_init(&dg, nz.sigma, err) < 0)
			goto out;
		nz.sigma = dg.sigma;    /* rounded up: the scale really used */
	}
	for (size_t i = 0; i < n; i++) {
		size_t k = (size_t)(ts[i] - rec->tensors);

		/* The clip factor is applied here, in the noise pass
		 * (factors are in the order of the targets). */
		nz.scale = factor != NULL ? factor[i] : 1;
		if (fl_noise_tensor(ts[i], k, &nz, err) < 0)
			goto out;
	}
	sodium_memzero(nz.key, sizeof(nz.key));
	free(ts);
	ts = NULL;
	rc = noise_meta(p, rec, &nz, is_float, sens, z_update, dim, err);
out:
	sodium_memzero(nz.key, sizeof(nz.key));
	free(ts);
	return rc;
}

int
fl_dp_noise_marks(struct fl_record *rec, int exact, int seeded,
    struct fl_error *err)
{
	const char *mech = fl_meta_get(rec, "dp.mechanism");

	if (mech != NULL && strcmp(mech, "gaussian") == 0 &&
	    fl_meta_set(rec, "dp.sampler", exact ? "exact-discrete-gaussian" :
	    "ziggurat", err) < 0)
		return -1;
	if (seeded && fl_meta_set(rec, "dp.seeded", "yes", err) < 0)
		return -1;
	return 0;
}
