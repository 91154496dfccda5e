/* SPDX-License-Identifier: ISC */
/*
 * fl-clip-noise - L2 clipping and differential-privacy noise for updates
 * and aggregates: continuous Gaussian on a power-of-two grid for float
 * tensors, exact discrete Gaussian or Skellam for ring-encoded integer
 * tensors (distributed DP with secure aggregation), and the server step of
 * adaptive clipping.
 */
#include <float.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tool.h"

#define INDICATOR "clip.indicator"
#define LOSS FL_LOSS_TENSOR
/* The loss coordinate's share of the clip bound: the update is clipped to
 * C sqrt(1 - s^2), the loss to s C, so the two together stay within C. */
#define LOSS_SHARE 0.1

static const char usage[] =
    "fl-clip-noise [-j n] [-c clip [--per-tensor[=split]] [--indicator]]\n"
    "           [-n noise [-m mechanism] [--exact] [--shares=n]\n"
    "           [--sensitivity=d] [--indicator-noise=s]] [--weight-cap=w]\n"
    "           [--loss-bound=b] [--seed=text]\n"
    "           [-o file] [file ...]\n"
    "       fl-clip-noise --adapt [--clip-lr=eta] [--indicator-noise=s]\n"
    "           [--target-quantile=q] [--seed=text] [-o file] [file ...]";

static const char options[] =
    "Clip updates to an L2 bound and add differential-privacy noise.\n"
    "\n"
    "      --adapt               server step of adaptive clipping: noise the\n"
    "                            summed clip indicator, write the next clip bound\n"
    "                            as dp.clip-next, drop the indicator\n"
    "  -c, --clip=C              scale the update so its L2 norm is at most C\n"
    "      --clip-lr=ETA         adaptive clipping learning rate (0.2)\n"
    "      --exact               float noise from the exact discrete Gaussian on\n"
    "                            the grid (slower) instead of the ziggurat\n"
    "  -h, --help                print this help and exit\n"
    "      --indicator           add the summable tensor clip.indicator: 1 if the\n"
    "                            update was within the bound, else 0\n"
    "      --indicator-noise=S   std of the noise on the summed indicator\n"
    "                            (default clients/10); with --noise, split the\n"
    "                            noise multiplier between the two\n"
    "  -j, --threads=N           noise with N threads (same output for any N)\n"
    "      --loss-bound=B        carry the training loss, clamped to [0, B], as\n"
    "                            the coordinate fl.loss inside the clip bound\n"
    "  -m, --mechanism=M         gaussian (float tensors), discrete-gaussian or\n"
    "                            skellam (integer tensors)\n"
    "  -n, --noise=Z             add noise of std Z x sensitivity (split into\n"
    "                            shares with --shares)\n"
    "  -o, --output=FILE         write to FILE atomically instead of stdout\n"
    "      --per-tensor[=SPLIT]  clip each tensor to its share of C: equal\n"
    "                            (default), size, or NAME=W,... weights\n"
    "      --seed=TEXT           derive the noise from TEXT: reproducible and NOT\n"
    "                            PRIVATE (tests and simulations only)\n"
    "      --sensitivity=D       L2 sensitivity (default: the record's\n"
    "                            dp.sensitivity, or the clip bound)\n"
    "      --shares=N            add 1/N of the noise variance: N clients' shares\n"
    "                            sum to the full noise\n"
    "      --target-quantile=Q   adaptive clipping target quantile (0.5)\n"
    "      --weight-cap=W        weighted DP-FedAvg: scale the clipped update by\n"
    "                            min(weight, W) / W (its norm stays within C)\n"
    "  -V, --version             print the version and exit\n";

struct opts {
	double clip, noise, sensitivity, indicator_noise;
	double clip_lr, target_quantile, weight_cap, loss_bound;
	const char *split, *seed, *mechanism;
	int per_tensor, indicator, exact, adapt, threads;
	uint64_t shares;
};

/* ---- metadata helpers ---- */

static void
set_meta(struct fl_record *rec, const struct tool_input *in, const char *key,
    const char *fmt, double v)
{
	struct fl_error err;
	char buf[FL_NUMBUF];

	if (fmt == NULL)
		fl_format_double(buf, v);
	else
		snprintf(buf, sizeof(buf), fmt, v);
	if (fl_meta_set(rec, key, buf, &err) < 0)
		tool_die("%s: record %lu: %s", in->name, in->recno, err.msg);
}

static double
meta_double(const struct fl_record *rec, const struct tool_input *in,
    const char *key, double min, double max)
{
	double d = NAN;

	tool_meta_double(rec, in, key, min, max, &d);
	return d;
}

static uint64_t
meta_u64(const struct fl_record *rec, const struct tool_input *in,
    const char *key, uint64_t dflt)
{
	tool_meta_u64(rec, in, key, 0, UINT64_MAX, &dflt);
	return dflt;
}

/* The ring modulus of integer tensors ("modulus", up to 2^64). */
static uint64_t
ring_modulus(const struct fl_record *rec, const struct tool_input *in)
{
	const char *v = fl_meta_get(rec, "modulus");

	if (v != NULL && strcmp(v, "18446744073709551616") == 0)
		return 0;
	return meta_u64(rec, in, "modulus", 0);
}

/* ---- clipping ---- */

/* Per-tensor bounds: C_i = C sqrt(w_i / sum w), so sum C_i^2 = C^2. */
static void
split_bounds(const struct opts *o, double clip, struct fl_tensor **ts,
    size_t n, double *bound, const struct tool_input *in)
{
	double total = 0;

	for (size_t i = 0; i < n; i++) {
		double w = 1;

		if (o->split != NULL && strcmp(o->split, "size") == 0) {
			w = (double)ts[i]->numel;
		} else if (o->split != NULL && strcmp(o->split, "equal") != 0) {
			/* NAME=W,NAME=W,... */
			const char *p = o->split;
			size_t len = strlen(ts[i]->name);

			w = NAN;
			while (p && *p) {
				if (strncmp(p, ts[i]->name, len) == 0 &&
				    p[len] == '=') {
					char buf[64];
					size_t m = strcspn(p + len + 1, ",");

					snprintf(buf, sizeof(buf), "%.*s",
					    (int)m, p + len + 1);
					w = tool_opt_double("--per-tensor "
					    "weight", buf, 0, INFINITY);
				}
				p = strchr(p, ',');
				p = p ? p + 1 : NULL;
			}
			if (isnan(w))
				tool_die("%s: record %lu: --per-tensor gives "
				    "no weight for tensor '%s'", in->name,
				    in->recno, ts[i]->name);
		}
		bound[i] = w;
		total += w;
	}
	if (!(total > 0))
		tool_die("%s: record %lu: --per-tensor weights sum to 0",
		    in->name, in->recno);
	for (size_t i = 0; i < n; i++)
		bound[i] = clip * sqrt(bound[i] / total);
}

/* The tensors noise acts on: all but the indicator, which the server
 * noises after the sum. */
static size_t
targets(struct fl_record *rec, struct fl_tensor **ts)
{
	size_t n = 0;

	for (size_t i = 0; i < rec->ntensors; i++)
		if (strcmp(rec->tensors[i].name, INDICATOR) != 0)
			ts[n++] = &rec->tensors[i];
	return n;
}

/*
 * Clip a set of tensors to `bound`: in place, or, when noise follows, only
 * find the factor and write it to factor[0..n), for the noise pass to
 * apply.  Returns whether the set was over the bound.
 */
static int
clip_set(struct fl_tensor **ts, size_t n, double bound, double *factor,
    const struct tool_input *in)
{
	struct fl_error err;
	double f;
	int clipped, rc;

	if (factor == NULL) {
		rc = fl_clip_tensors(ts, n, bound, &clipped, &err);
	} else {
		rc = fl_clip_factor(ts, n, bound, &f, &clipped, &err);
		for (size_t i = 0; i < n && rc == 0; i++)
			factor[i] = f;
	}
	if (rc < 0)
		tool_die("%s: record %lu: %s", in->name, in->recno, err.msg);
	return clipped;
}
/*
 * Weighted DP-FedAvg (McMahan, Ramage, Talwar, Zhang 2018): a client's
 * clipped update counts min(n, W) / W, n its example count, so the weight
 * is bounded and sits inside the clip bound C (the sensitivity stays C);
 * the server divides the sum by a public denominator, never by the sum
 * of the weights, which it does not see.
 */
static double
capped_weight(const struct opts *o, const struct fl_record *rec,
    const struct tool_input *in)
{
	double n;

	if (isnan(o->weight_cap))
		return 1;
	if (fl_meta_get(rec, "weight") == NULL)
		tool_die("%s: record %lu: --weight-cap needs the update's "
		    "example count (weight, from fl-train)", in->name,
		    in->recno);
	n = meta_double(rec, in, "weight", 0, INFINITY);
	if (!(n > 0))
		tool_die("%s: record %lu: weight must be positive", in->name,
		    in->recno);
	return fmin(n, o->weight_cap) / o->weight_cap;
}

/*
 * The training loss as one more coordinate of the vector that is clipped,
 * noised and masked: clamped to [0, B] and scaled to s C ell / B, s =
 * LOSS_SHARE, beside an update clipped to C sqrt(1 - s^2).  The summed
 * coordinate over dp.loss-scale = s C / B is the clients' summed loss,
 * with noise sigma B / (s C) in loss units.  Returns the coordinate's
 * value, or NAN without --loss-bound.
 */
static double
loss_coordinate(const struct opts *o, const struct fl_record *rec,
    const struct tool_input *in)
{
	double loss;

	if (isnan(o->loss_bound))
		return NAN;
	if (fl_tensor_find(rec, LOSS) != NULL)
		tool_die("%s: record %lu: already carries a tensor '%s'",
		    in->name, in->recno, LOSS);
	if (fl_meta_get(rec, "loss") == NULL)
		tool_die("%s: record %lu: --loss-bound needs the update's "
		    "training loss (loss, from fl-train without --dp)",
		    in->name, in->recno);
	loss = meta_double(rec, in, "loss", -INFINITY, INFINITY);
	if (!isfinite(loss))
		tool_die("%s: record %lu: loss must be a finite number",
		    in->name, in->recno);
	/* (1 - 4 eps) on both parts: their roundings never take the
	 * joint norm above C. */
	return LOSS_SHARE * o->clip * (1 - 4 * DBL_EPSILON) *
	    fmin(fmax(loss, 0), o->loss_bound) / o->loss_bound;
}

static void
clip_record(const struct opts *o, struct fl_record *rec,
    const struct tool_input *in, double *factor)
{
	struct fl_tensor **ts = tool_malloc(rec->ntensors * sizeof(*ts));
	size_t n = targets(rec, ts);
	double weight = capped_weight(o, rec, in);
	double loss = loss_coordinate(o, rec, in);
	double clip = isnan(loss) ? o->clip : o->clip * sqrt(1 - LOSS_SHARE *
	    LOSS_SHARE) * (1 - 4 * DBL_EPSILON);
	struct fl_error err;
	int clipped = 0;

	if (fl_meta_get(rec, "dp.mechanism") != NULL)
		tool_die("%s: record %lu: already noised (dp.mechanism=%s): "
		    "clip before adding noise", in->name, in->recno,
		    fl_meta_get(rec, "dp.mechanism"));
	for (size_t i = 0; i < n; i++) {
		if (!fl_dtype_is_float(ts[i]->dtype))
			tool_die("%s: record %lu: tensor '%s' is %s: clipping "
			    "applies to float tensors (clip before "
			    "fl-quantize)", in->name, in->recno, ts[i]->name,
			    fl_dtype_name(ts[i]->dtype));
	}
	if (o->per_tensor) {
		double *bound = tool_malloc(n * sizeof(*bound));

		split_bounds(o, clip, ts, n, bound, in);
		for (size_t i = 0; i < n; i++)
			clipped |= clip_set(&ts[i], 1, bound[i],
			    factor != NULL ? &factor[i] : NULL, in);
		free(bound);
		if (fl_meta_set(rec, "dp.clip-split", o->split ? o->split :
		    "equal", &err) < 0)
			tool_die("%s: record %lu: %s", in->name, in->recno,
			    err.msg);
	} else {
		clipped = clip_set(ts, n, clip, factor, in);
	}
	/* The weight only shrinks what is already within the bound. */
	if (factor != NULL)
		for (size_t i = 0; i < n; i++)
			factor[i] *= weight;
	else
		fl_scale_tensors(ts, n, weight);
	free(ts);
	set_meta(rec, in, "dp.clip", NULL, o->clip);
	if (!isnan(o->weight_cap))
		set_meta(rec, in, "dp.weight-cap", NULL, o->weight_cap);
	if (!isnan(loss)) {
		/* After the update's tensors, so that it is the last target:
		 * the noise pass scales it by the weight alone. */
		uint64_t one = 1;
		struct fl_tensor *t = fl_tensor_add(rec, LOSS, FL_F64, 1,
		    &one, &err);

		if (t == NULL)
			tool_die("%s: record %lu: %s", in->name, in->recno,
			    err.msg);
		if (factor != NULL) {
			factor[n] = weight;
			((double *)t->data)[0] = loss;
		} else {
			((double *)t->data)[0] = loss * weight;
		}
		set_meta(rec, in, "dp.loss-bound", NULL, o->loss_bound);
		set_meta(rec, in, "dp.loss-scale", NULL, LOSS_SHARE * o->clip /
		    o->loss_bound);
	}
	/* A clipped update is made to leave the device, and the clip bounds
	 * only its values: the example count and the loss would travel in
	 * clear beside them. */
	fl_release_strip(rec);
	if (o->indicator) {
		/* Only this bit leaves the device, never the norm itself. */
		uint64_t one = 1;
		struct fl_tensor *t;

		fl_tensor_remove(rec, INDICATOR);
		t = fl_tensor_add(rec, INDICATOR, FL_U32, 1, &one, &err);
		if (t == NULL)
			tool_die("%s: record %lu: %s", in->name, in->recno,
			    err.msg);
		((uint32_t *)t->data)[0] = !clipped;
		if (fl_meta_set(rec, "dp.clip-indicator", INDICATOR, &err) < 0)
			tool_die("%s: record %lu: %s", in->name, in->recno,
			    err.msg);
	}
}

/* ---- noise ---- */

static enum fl_mechanism
pick_mechanism(const struct opts *o, int is_float,
    const struct tool_input *in)
{
	enum fl_mechanism m = is_float ? FL_MECH_GAUSSIAN : FL_MECH_DGAUSS;

	if (o->mechanism == NULL)
		return m;
	if (strcmp(o->mechanism, "gaussian") == 0)
		m = FL_MECH_GAUSSIAN;
	else if (strcmp(o->mechanism, "discrete-gaussian") == 0)
		m = FL_MECH_DGAUSS;
	else if (strcmp(o->mechanism, "skellam") == 0)
		m = FL_MECH_SKELLAM;
	if (is_float != (m == FL_MECH_GAUSSIAN))
		tool_die("%s: record %lu: %s noise asked of %s tensors",
		    in->name, in->recno, o->mechanism,
		    is_float ? "float" : "integer");
	return m;
}

static const char *
mechanism_name(enum fl_mechanism m)
{
	return m == FL_MECH_GAUSSIAN ? "gaussian" : m == FL_MECH_DGAUSS ?
	    "discrete-gaussian" : "skellam";
}

/*
 * The noise multiplier for the update when adaptive clipping spends part
 * of the budget on the indicator (Andrew et al. 2021): the two Gaussian
 * queries compose to z where z^-2 = z_update^-2 + sigma_b^-2: the summed
 * 0/1 indicator has sensitivity 1.
 */
static double
update_multiplier(const struct opts *o, const struct tool_input *in)
{
	double rest;

	if (!(o->indicator_noise > 0))
		return o->noise;
	rest = 1 / (o->noise * o->noise) - 1 / (o->indicator_noise *
	    o->indicator_noise);
	if (!(rest > 0))
		tool_die("%s: record %lu: --noise %g needs --indicator-noise "
		    "above %g (z < sigma_b)", in->name, in->recno, o->noise,
		    o->noise);
	return 1 / sqrt(rest);
}

static void
noise_record(const struct opts *o, struct fl_record *rec,
    const struct tool_input *in, const unsigned char *master,
    unsigned long index, const double *factor)
{
	struct fl_tensor **ts = tool_malloc(rec->ntensors * sizeof(*ts));
	size_t n = targets(rec, ts);
	struct fl_noise nz;
	struct fl_error err;
	double sens = o->sensitivity, z_update, sigma_total, dim = 0;
	int is_float;
	char q[FL_QUOTE];

	if (n == 0)
		tool_die("%s: record %lu: no tensors to noise", in->name,
		    in->recno);
	if (fl_meta_get(rec, "dp.mechanism") != NULL)
		tool_die("%s: record %lu: already noised (dp.mechanism=%s)",
		    in->name, in->recno, fl_meta_get(rec, "dp.mechanism"));
	is_float = fl_dtype_is_float(ts[0]->dtype);
	for (size_t i = 0; i < n; i++) {
		if (fl_dtype_is_float(ts[i]->dtype) != is_float)
			tool_die("%s: record %lu: tensors '%s' and '%s' mix "
			    "float and integer values", in->name, in->recno,
			    ts[0]->name, ts[i]->name);
		/* (A record clipped just now was checked already.) */
		if (is_float && isnan(o->clip) &&
		    fl_tensor_check_finite(ts[i], &err) < 0)
			tool_die("%s: record %lu: %s", in->name, in->recno,
			    err.msg);
		dim += (double)ts[i]->numel;
	}
	memset(&nz, 0, sizeof(nz));
	nz.mechanism = pick_mechanism(o, is_float, in);
	nz.threads = o->threads;
	nz.exact = o->exact;
	/* Clipped just now to C, its values checked finite: no value
	 * exceeds C, and the noise needs no scan for huge ones. */
	if (is_float && !isnan(o->clip))
		nz.max_abs = o->clip;

	/* The sensitivity, in the units the noise is added in. */
	if (isnan(sens))
		sens = meta_double(rec, in, "dp.sensitivity", 0, INFINITY);
	if (isnan(sens) && is_float)
		sens = meta_double(rec, in, "dp.clip", 0, INFINITY);
	if (isnan(sens))
		tool_die("%s: record %lu: %s", in->name, in->recno, is_float ?
		    "no clip bound: clip first (-c) or give --sensitivity" :
		    "missing quantization metadata: integer noise needs "
		    "dp.sensitivity (from fl-quantize --ring) or "
		    "--sensitivity");
	if (!(sens > 0))
		tool_die("%s: record %lu: sensitivity must be positive",
		    in->name, in->recno);
	if (!is_float) {
		nz.modulus = ring_modulus(rec, in);
		for (size_t i = 0; i < n; i++)
			if (ts[i]->dtype == FL_U32 && nz.modulus == 0)
				tool_die("%s: record %lu: missing "
				    "quantization metadata: u32 tensor '%s' "
				    "without a 'modulus'", in->name, in->recno,
				    ts[i]->name);
	}

	z_update = update_multiplier(o, in);
	sigma_total = z_update * sens;
	nz.sigma = sigma_total / sqrt((double)o->shares);

	/* One client's share: its integer vector must be within the bound
	 * it claims, checked exactly before any noise is added. */
	if (!is_float && o->shares > 1) {
		unsigned __int128 ss = 0;
		int over = 0;

		for (size_t i = 0; i < n && !over; i++)
			over = fl_int_sumsq(ts[i], nz.modulus, &ss) < 0;
		if (over || !fl_int_sumsq_le(ss, sens))
			tool_die("%s: record %lu: the update exceeds its L2 "
			    "sensitivity bound %s", in->name, in->recno,
			    fl_format_double(q, sens));
	}
	fl_rng_derive(nz.key, master, "dp-noise", index);
	if (nz.mechanism == FL_MECH_DGAUSS) {
		struct fl_dgauss dg;

		if (fl_dgauss_init(&dg, nz.sigma, &err) < 0)
			tool_die("%s: record %lu: %s", in->name, in->recno,
			    err.msg);
		nz.sigma = dg.sigma;    /* rounded up: the scale really used */
	}
	for (size_t i = 0; i < n; i++) {
		size_t k = (size_t)(ts[i] - rec->tensors);

		/* The clip factor is applied here, in the noise pass
		 * (factors are in the order of targets()). */
		nz.scale = factor != NULL ? factor[i] : 1;
		if (fl_noise_tensor(ts[i], k, &nz, &err) < 0)
			tool_die("%s: record %lu: %s", in->name, in->recno,
			    err.msg);
	}
	sodium_memzero(nz.key, sizeof(nz.key));
	free(ts);

	/* What the accountant needs, never the seed. */
	if (fl_meta_set(rec, "dp.mechanism", mechanism_name(nz.mechanism),
	    &err) < 0)
		tool_die("%s: record %lu: %s", in->name, in->recno, err.msg);
	set_meta(rec, in, "dp.noise", NULL, o->noise);
	set_meta(rec, in, "dp.sigma", NULL, nz.sigma);
	set_meta(rec, in, "dp.shares", "%.0f", (double)o->shares);
	set_meta(rec, in, "dp.dim", "%.0f", dim);
	if (o->indicator_noise > 0) {
		set_meta(rec, in, "dp.noise-update", NULL, z_update);
		set_meta(rec, in, "dp.indicator-noise", NULL,
		    o->indicator_noise);
	}
	if (is_float) {
		double g = fl_noise_grid(nz.sigma);

		/* Snapping moves each coordinate by at most g/2: charge g
		 * sqrt(d) on top of the clip bound (both neighbours). */
		set_meta(rec, in, "dp.grid", NULL, g);
		set_meta(rec, in, "dp.sensitivity", NULL, sens + g *
		    sqrt(dim));
		if (fl_meta_set(rec, "dp.sampler", o->exact ?
		    "exact-discrete-gaussian" : "ziggurat", &err) < 0)
			tool_die("%s: %s", in->name, err.msg);
	} else {
		set_meta(rec, in, "dp.sensitivity", NULL, sens);
		if (nz.mechanism == FL_MECH_SKELLAM &&
		    fl_meta_get(rec, "dp.sensitivity-l1") == NULL)
			/* Integer vectors: ||x||_1 <= ||x||_2^2 and
			 * ||x||_1 <= sqrt(d) ||x||_2. */
			set_meta(rec, in, "dp.sensitivity-l1", "%.0f",
			    ceil(sens * fmin(sqrt(dim), sens)));
	}
	if (o->seed != NULL && fl_meta_set(rec, "dp.seeded", "yes",
	    &err) < 0)
		tool_die("%s: %s", in->name, err.msg);
}

/* ---- the server step of adaptive clipping ---- */

static void
adapt_record(const struct opts *o, struct fl_record *rec,
    const struct tool_input *in, const unsigned char *master,
    unsigned long index)
{
	const struct fl_tensor *t = fl_tensor_find(rec, INDICATOR);
	double clip = meta_double(rec, in, "dp.clip", 0, INFINITY);
	double m = (double)meta_u64(rec, in, "clients", 0);
	double denominator = meta_double(rec, in, "agg.denominator", 0,
	    INFINITY);
	double sigma_b = o->indicator_noise, count, frac, next;
	unsigned char key[FL_RNG_KEYBYTES];
	struct fl_dgauss dg;
	struct fl_error err;
	struct fl_rng r;
	int64_t noise = 0;

	if (t == NULL || t->numel != 1)
		tool_die("%s: record %lu: no %s tensor (clients add it with "
		    "--indicator)", in->name, in->recno, INDICATOR);
	if (isnan(clip) || !(clip > 0))
		tool_die("%s: record %lu: no dp.clip to adapt", in->name,
		    in->recno);
	if (!(m > 0))
		tool_die("%s: record %lu: no 'clients' count (adapt an "
		    "aggregate from fl-aggregate)", in->name, in->recno);
	/* A mean over a public denominator (the expected cohort) takes the
	 * clipped fraction over the same denominator, as Andrew et al. 2021
	 * do: the released bound does not depend on the exact count. */
	if (denominator > 0)
		m = denominator;
	count = fl_tensor_get(t, 0);
	if (t->dtype == FL_U32 || t->dtype == FL_U64) {
		uint64_t mod = ring_modulus(rec, in);

		if (mod != 0 && count >= (double)(mod - mod / 2))
			count -= (double)mod;
	}
	if (isnan(sigma_b))
		/* TFF's default is 0.05 x clients for indicators centred on
		 * 1/2 (sensitivity 1/2); the same share of the budget for
		 * uncentred ones (sensitivity 1) takes twice the noise. */
		sigma_b = m / 10;
	if (sigma_b > 0) {
		/* The count is an integer: exact integer noise. */
		fl_rng_derive(key, master, "dp-indic", index);
		fl_rng_init(&r, key, 0);
		if (fl_dgauss_init(&dg, sigma_b, &err) < 0)
			tool_die("%s: %s", in->name, err.msg);
		noise = fl_dgauss(&r, &dg);
		fl_rng_wipe(&r);
		sodium_memzero(key, sizeof(key));
	}
	frac = fmin(1, fmax(0, (count + (double)noise) / m));
	/* Geometric update: the clip follows the target quantile. */
	next = clip * exp(-o->clip_lr * (frac - o->target_quantile));
	fl_tensor_remove(rec, INDICATOR);
	fl_meta_del(rec, "dp.clip-indicator");
	set_meta(rec, in, "dp.clip-next", NULL, next);
	set_meta(rec, in, "dp.clip-fraction", NULL, frac);
	set_meta(rec, in, "dp.indicator-noise", NULL, sigma_b);
}

int
main(int argc, char **argv)
{
	enum { OPT_ADAPT = 256, OPT_CLIP_LR, OPT_EXACT, OPT_INDICATOR,
	    OPT_INDICATOR_NOISE, OPT_PER_TENSOR, OPT_SEED, OPT_SENSITIVITY,
	    OPT_SHARES, OPT_TARGET, OPT_WEIGHT_CAP, OPT_LOSS_BOUND };
	static const struct option longopts[] = {
		{ "adapt", no_argument, NULL, OPT_ADAPT },
		{ "clip", required_argument, NULL, 'c' },
		{ "clip-lr", required_argument, NULL, OPT_CLIP_LR },
		{ "exact", no_argument, NULL, OPT_EXACT },
		{ "help", no_argument, NULL, 'h' },
		{ "indicator", no_argument, NULL, OPT_INDICATOR },
		{ "indicator-noise", required_argument, NULL,
		    OPT_INDICATOR_NOISE },
		{ "loss-bound", required_argument, NULL, OPT_LOSS_BOUND },
		{ "mechanism", required_argument, NULL, 'm' },
		{ "noise", required_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ "per-tensor", optional_argument, NULL, OPT_PER_TENSOR },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "sensitivity", required_argument, NULL, OPT_SENSITIVITY },
		{ "shares", required_argument, NULL, OPT_SHARES },
		{ "target-quantile", required_argument, NULL, OPT_TARGET },
		{ "threads", required_argument, NULL, 'j' },
		{ "version", no_argument, NULL, 'V' },
		{ "weight-cap", required_argument, NULL, OPT_WEIGHT_CAP },
		{ NULL, 0, NULL, 0 }
	};
	struct opts o = { NAN, NAN, NAN, NAN, 0.2, 0.5, NAN, NAN, NULL, NULL,
		NULL, 0, 0, 0, 0, 1, 1 };
	unsigned char master[FL_RNG_KEYBYTES];
	struct tool_output out;
	struct tool_input in;
	struct fl_record rec;
	struct fl_error err;
	const char *output = NULL;
	unsigned long index = 0;
	int c, rc;

	tool_init(usage);
	while ((c = getopt_long(argc, argv, "c:hj:m:n:o:V", longopts,
	    NULL)) != -1) {
		switch (c) {
		case OPT_ADAPT:
			o.adapt = 1;
			break;
		case 'c':
			o.clip = tool_opt_positive("--clip", optarg);
			break;
		case OPT_CLIP_LR:
			o.clip_lr = tool_opt_double("--clip-lr", optarg, 0,
			    100);
			break;
		case OPT_EXACT:
			o.exact = 1;
			break;
		case 'h':
			tool_help(options);
		case OPT_INDICATOR:
			o.indicator = 1;
			break;
		case OPT_INDICATOR_NOISE:
			o.indicator_noise = tool_opt_double("--indicator-noise",
			    optarg, 0, INFINITY);
			break;
		case 'j':
			o.threads = (int)tool_opt_u64("--threads", optarg, 1,
			    256);
			break;
		case 'm':
			if (strcmp(optarg, "gaussian") != 0 &&
			    strcmp(optarg, "discrete-gaussian") != 0 &&
			    strcmp(optarg, "skellam") != 0)
				tool_die("invalid --mechanism '%s': want "
				    "gaussian, discrete-gaussian or skellam",
				    optarg);
			o.mechanism = optarg;
			break;
		case 'n':
			o.noise = tool_opt_double("--noise", optarg, 0,
			    INFINITY);
			break;
		case 'o':
			output = optarg;
			break;
		case OPT_PER_TENSOR:
			o.per_tensor = 1;
			o.split = optarg;
			break;
		case OPT_SEED:
			o.seed = optarg;
			break;
		case OPT_SENSITIVITY:
			o.sensitivity = tool_opt_positive("--sensitivity", optarg);
			break;
		case OPT_SHARES:
			o.shares = tool_opt_u64("--shares", optarg, 1,
			    UINT32_MAX);
			break;
		case OPT_TARGET:
			o.target_quantile = tool_opt_double(
			    "--target-quantile", optarg, 0, 1);
			break;
		case OPT_LOSS_BOUND:
			o.loss_bound = tool_opt_positive("--loss-bound",
			    optarg);
			break;
		case OPT_WEIGHT_CAP:
			o.weight_cap = tool_opt_positive("--weight-cap",
			    optarg);
			break;
		case 'V':
			tool_version();
		default:
			tool_usage_error(NULL);
		}
	}
	argc -= optind;
	argv += optind;
	if (o.adapt && (!isnan(o.clip) || !isnan(o.noise)))
		tool_usage_error("--adapt takes no --clip or --noise");
	if (!o.adapt && isnan(o.clip) && isnan(o.noise))
		tool_usage_error("nothing to do: give --clip, --noise or "
		    "--adapt");
	if ((o.per_tensor || o.indicator || !isnan(o.weight_cap) ||
	    !isnan(o.loss_bound)) && isnan(o.clip))
		tool_usage_error("--per-tensor, --indicator, --weight-cap and "
		    "--loss-bound need --clip");
	if ((o.exact || o.mechanism || o.shares > 1 ||
	    !isnan(o.sensitivity)) && isnan(o.noise))
		tool_usage_error("--exact, --mechanism, --shares and "
		    "--sensitivity need --noise");

	if (o.seed != NULL)
		fl_rng_seed_text(master, o.seed);
	else if (fl_rng_seed_os(master, &err) < 0)
		tool_die("%s", err.msg);

	fl_record_init(&rec);
	tool_input_init(&in, argc, argv);
	tool_output_open(&out, output, 1);
	while ((rc = tool_input_next(&in, &rec)) != 0) {
		if (rc < 0)
			break;
		if (o.adapt) {
			adapt_record(&o, &rec, &in, master, index);
		} else {
			int noise = !isnan(o.noise) && o.noise > 0;
			double *factor = NULL;

			if (!isnan(o.clip)) {
				/* With noise to follow, clipping only finds
				 * the factors: the noise pass applies them. */
				if (noise)
					factor = tool_malloc((rec.ntensors + 1) *
					    sizeof(*factor));
				clip_record(&o, &rec, &in, factor);
			}
			if (noise)
				noise_record(&o, &rec, &in, master, index,
				    factor);
			free(factor);
		}
		index++;
		tool_output_record(&out, &rec, 0);
	}
	sodium_memzero(master, sizeof(master));
	fl_record_free(&rec);
	tool_input_free(&in);
	/* A stream that failed part-way is not published (the -o file is
	 * removed at exit). */
	if (in.failed)
		exit(1);
	tool_output_close(&out);
	return 0;
}
