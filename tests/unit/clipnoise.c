/* SPDX-License-Identifier: ISC */
/*
 * Unit tests of a record's DP step (lib/privacy/dprecord.c, adapt.c):
 * clipping with the weight of DP-FedAvg and the loss coordinate, in place
 * and as factors for the noise pass; per-tensor bounds; the noise's
 * metadata for the accountant; the update's share of the noise multiplier;
 * the server step of adaptive clipping; and the errors, message and all.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/fl.h"
#include "unit.h"

/* A float tensor name = vals[0..n) added to rec. */
static void
add_f(struct fl_record *rec, const char *name, enum fl_dtype dt,
    const double *vals, uint64_t n)
{
	struct fl_error err;
	struct fl_tensor *t = fl_tensor_add(rec, name, dt, 1, &n, &err);

	CHECK(t != NULL);
	for (uint64_t i = 0; t != NULL && i < n; i++) {
		if (dt == FL_F32)
			((float *)t->data)[i] = (float)vals[i];
		else if (dt == FL_F64)
			((double *)t->data)[i] = vals[i];
		else if (dt == FL_I32)
			((int32_t *)t->data)[i] = (int32_t)vals[i];
		else if (dt == FL_U32)
			((uint32_t *)t->data)[i] = (uint32_t)vals[i];
	}
}

static void
meta(struct fl_record *rec, const char *key, const char *value)
{
	struct fl_error err;

	CHECK(fl_meta_set(rec, key, value, &err) == 0);
}

static int
meta_is(const struct fl_record *rec, const char *key, const char *want)
{
	const char *v = fl_meta_get(rec, key);

	if (want == NULL)
		return v == NULL;
	return v != NULL && strcmp(v, want) == 0;
}

static double
norm_of(const struct fl_record *rec)
{
	double ss = 0;

	for (size_t i = 0; i < rec->ntensors; i++)
		if (fl_dtype_is_float(rec->tensors[i].dtype))
			ss += fl_tensor_sumsq(&rec->tensors[i]);
	return sqrt(ss);
}

static const double big[] = { 3, -4, 12, 0.5, -7.25, 1e-3, 2, 9 };
#define NBIG (sizeof(big) / sizeof(*big))

static const struct fl_dp_clip plain = { 1, NAN, NAN, 0, NULL, 0 };

/* fl_dp_clip_record's error for rec under c: -1, the code, the message. */
static void
clip_fails(struct fl_record *rec, const struct fl_dp_clip *c,
    enum fl_errcode code, const char *msg)
{
	struct fl_error err;

	memset(&err, 0, sizeof(err));
	CHECK(fl_dp_clip_record(rec, c, NULL, &err) == -1);
	CHECK(err.code == code);
	CHECK(strcmp(err.msg, msg) == 0);
	if (strcmp(err.msg, msg) != 0)
		fprintf(stderr, "  got '%s'\n  want '%s'\n", err.msg, msg);
}

void
test_dp_clip_record(void)
{
	struct fl_dp_clip c = { 1, 10, 2, 0, NULL, 1 };
	struct fl_record rec, ref;
	struct fl_tensor *ts[1];
	struct fl_error err;
	double inner = sqrt(1 - FL_LOSS_SHARE * FL_LOSS_SHARE) *
	    (1 - 4 * DBL_EPSILON), coord, factor[3], f;
	int clipped;

	/* In place: clipped to C sqrt(1 - s^2) as fl_clip_tensors does it,
	 * then scaled by the capped weight 5/10 in a pass of its own, the
	 * loss coordinate s C ell / B times the weight beside it. */
	fl_record_init(&rec);
	fl_record_init(&ref);
	meta(&rec, "weight", "5");
	meta(&rec, "loss", "0.5");
	meta(&rec, "kind", "update");
	add_f(&rec, "w", FL_F32, big, NBIG);
	add_f(&ref, "w", FL_F32, big, NBIG);
	ts[0] = &ref.tensors[0];
	CHECK(fl_clip_tensors(ts, 1, inner, &clipped, &err) == 0);
	CHECK(clipped == 1);
	fl_scale_tensors(ts, 1, 0.5);
	CHECK(fl_dp_clip_record(&rec, &c, NULL, &err) == 0);
	CHECK(memcmp(rec.tensors[0].data, ref.tensors[0].data,
	    NBIG * sizeof(float)) == 0);
	coord = FL_LOSS_SHARE * 1 * (1 - 4 * DBL_EPSILON) * 0.5 / 2;
	CHECK(fl_tensor_find(&rec, FL_LOSS_TENSOR) != NULL &&
	    fl_tensor_get(fl_tensor_find(&rec, FL_LOSS_TENSOR), 0) ==
	    coord * 0.5);
	CHECK(norm_of(&rec) <= 1);
	CHECK(meta_is(&rec, "dp.clip", "1"));
	CHECK(meta_is(&rec, "dp.weight-cap", "10"));
	CHECK(meta_is(&rec, "dp.loss-bound", "2"));
	CHECK(meta_is(&rec, "dp.loss-scale", "0.05"));
	CHECK(meta_is(&rec, "weight", NULL) && meta_is(&rec, "loss", NULL));
	CHECK(meta_is(&rec, "kind", "update"));
	CHECK(meta_is(&rec, "dp.clip-indicator", FL_CLIP_INDICATOR));
	CHECK(fl_tensor_find(&rec, FL_CLIP_INDICATOR) != NULL &&
	    fl_tensor_get(fl_tensor_find(&rec, FL_CLIP_INDICATOR), 0) == 0);
	fl_record_free(&ref);

	/* With noise to follow: nothing scaled, the factors f w and, for
	 * the loss (the last target), w. */
	fl_record_free(&rec);
	fl_record_init(&rec);
	meta(&rec, "weight", "40");
	meta(&rec, "loss", "7");
	add_f(&rec, "w", FL_F64, big, NBIG);
	ts[0] = &rec.tensors[0];
	CHECK(fl_clip_factor(ts, 1, inner, &f, &clipped, &err) == 0);
	CHECK(fl_dp_clip_record(&rec, &c, factor, &err) == 0);
	CHECK(factor[0] == f * 1 && factor[1] == 1);
	CHECK(((double *)rec.tensors[0].data)[0] == 3);
	CHECK(fl_tensor_get(fl_tensor_find(&rec, FL_LOSS_TENSOR), 0) ==
	    FL_LOSS_SHARE * (1 - 4 * DBL_EPSILON));   /* clamped to B */
	fl_record_free(&rec);

	/* Within the bound: unchanged, the indicator 1. */
	fl_record_init(&rec);
	add_f(&rec, "w", FL_F32, (const double[]){ 0.5, 0.5 }, 2);
	c = plain;
	c.indicator = 1;
	CHECK(fl_dp_clip_record(&rec, &c, NULL, &err) == 0);
	CHECK(fl_tensor_get(&rec.tensors[0], 0) == 0.5);
	CHECK(fl_tensor_get(fl_tensor_find(&rec, FL_CLIP_INDICATOR), 0) ==
	    1);
	fl_record_free(&rec);

	/* Per tensor, by size: a has 3 of the 4 values, so C sqrt(3/4). */
	fl_record_init(&rec);
	add_f(&rec, "a", FL_F64, (const double[]){ 30, 40, 0 }, 3);
	add_f(&rec, "b", FL_F64, (const double[]){ 0.1 }, 1);
	c = plain;
	c.clip = 2;
	c.per_tensor = 1;
	c.split = "size";
	CHECK(fl_dp_clip_record(&rec, &c, NULL, &err) == 0);
	CHECK(fabs(sqrt(fl_tensor_sumsq(&rec.tensors[0])) - sqrt(3)) <
	    1e-12);
	CHECK(sqrt(fl_tensor_sumsq(&rec.tensors[0])) <= sqrt(3));
	CHECK(fl_tensor_get(&rec.tensors[1], 0) == 0.1);
	CHECK(meta_is(&rec, "dp.clip-split", "size"));
	fl_record_free(&rec);

	/* ...by NAME=W: a 1, b 3: a to C/2; a later entry wins. */
	fl_record_init(&rec);
	add_f(&rec, "a", FL_F64, (const double[]){ 30, 40 }, 2);
	add_f(&rec, "b", FL_F64, (const double[]){ 300, 400 }, 2);
	c.split = "a=5,b=3,a=1";
	CHECK(fl_dp_clip_record(&rec, &c, NULL, &err) == 0);
	CHECK(fabs(sqrt(fl_tensor_sumsq(&rec.tensors[0])) - 1) < 1e-12);
	CHECK(fabs(sqrt(fl_tensor_sumsq(&rec.tensors[1])) - sqrt(3)) <
	    1e-12);
	fl_record_free(&rec);

	/* The errors, as fl-clip-noise prints them after its prefix. */
	fl_record_init(&rec);
	add_f(&rec, "a", FL_F32, (const double[]){ 1 }, 1);
	add_f(&rec, "b", FL_F32, (const double[]){ 1 }, 1);
	c.split = "a=x,b=1";
	clip_fails(&rec, &c, FL_EINVAL, "invalid --per-tensor weight 'x': "
	    "not a number");
	c.split = "a=1";
	clip_fails(&rec, &c, FL_EFORMAT, "--per-tensor gives no weight for "
	    "tensor 'b'");
	c.split = "a=0,b=0";
	clip_fails(&rec, &c, FL_EFORMAT, "--per-tensor weights sum to 0");
	c = plain;
	c.weight_cap = 3;
	clip_fails(&rec, &c, FL_EFORMAT, "--weight-cap needs the update's "
	    "example count (weight, from fl-train)");
	meta(&rec, "weight", "many");
	clip_fails(&rec, &c, FL_EFORMAT, "metadata weight 'many': not a "
	    "number");
	meta(&rec, "weight", "0");
	clip_fails(&rec, &c, FL_EFORMAT, "weight must be positive");
	c = plain;
	c.loss_bound = 1;
	clip_fails(&rec, &c, FL_EFORMAT, "--loss-bound needs the update's "
	    "training loss (loss, from fl-train without --dp)");
	meta(&rec, "loss", "nan");
	clip_fails(&rec, &c, FL_EFORMAT, "metadata loss 'nan': not a "
	    "number");
	meta(&rec, "dp.mechanism", "gaussian");
	clip_fails(&rec, &plain, FL_EFORMAT, "already noised "
	    "(dp.mechanism=gaussian): clip before adding noise");
	fl_meta_del(&rec, "dp.mechanism");
	add_f(&rec, "q", FL_I32, (const double[]){ 1 }, 1);
	clip_fails(&rec, &plain, FL_EFORMAT, "tensor 'q' is i32: clipping "
	    "applies to float tensors (clip before fl-quantize)");
	fl_record_free(&rec);
}

/*
 * Without noise, the weight scales the clipped values in a pass of its
 * own: fl(fl(x f) w).  Folding it into the clipping's pass, fl(x fl(f w)),
 * would round once instead of twice and change bits (a third of the values
 * here), so the output keeps the two passes.
 */
void
test_dp_weight_pass(void)
{
	struct fl_dp_clip c = { 1, 10, NAN, 0, NULL, 0 };
	struct fl_record rec, orig;
	unsigned char key[FL_RNG_KEYBYTES];
	struct fl_error err;
	struct fl_rng r;
	uint64_t n = 1000, differ = 0;
	double f;

	fl_record_init(&rec);
	fl_record_init(&orig);
	CHECK(fl_tensor_add(&rec, "w", FL_F32, 1, &n, &err) != NULL);
	CHECK(fl_tensor_add(&orig, "w", FL_F32, 1, &n, &err) != NULL);
	if (rec.ntensors != 1 || orig.ntensors != 1)
		return;
	fl_rng_seed_text(key, "unit weight pass");
	fl_rng_init(&r, key, 0);
	for (uint64_t i = 0; i < n; i++)
		((float *)rec.tensors[0].data)[i] =
		    ((float *)orig.tensors[0].data)[i] = (float)fl_normal(&r);
	fl_rng_wipe(&r);
	meta(&rec, "weight", "3");
	CHECK(fl_dp_clip_record(&rec, &c, NULL, &err) == 0);
	/* fl_clip_tensors' first (here only) factor, as float. */
	f = 1 / sqrt(fl_tensor_sumsq(&orig.tensors[0]));
	for (uint64_t i = 0; i < n; i++) {
		float x = ((float *)orig.tensors[0].data)[i];
		float twice = (x * (float)f) * (float)0.3;
		float once = x * (float)(f * 0.3);
		float got = ((float *)rec.tensors[0].data)[i];

		CHECK(got == twice);
		differ += once != got;
	}
	CHECK(differ > n / 10);
	fl_record_free(&rec);
	fl_record_free(&orig);
}

void
test_dp_noise_record(void)
{
	struct fl_dp_noise p = { 1, NAN, NAN, NAN, -1, 0, 1, 1 };
	unsigned char master[FL_RNG_KEYBYTES];
	struct fl_record rec, again;
	struct fl_error err;
	double z, g, dim = NBIG;
	char buf[FL_NUMBUF];

	/* The update's multiplier: 1/z^2 = 1/z_u^2 + 1/sigma_b^2. */
	CHECK(fl_dp_update_multiplier(1, NAN, &z, &err) == 0 && z == 1);
	CHECK(fl_dp_update_multiplier(1, 2, &z, &err) == 0);
	CHECK(fabs(z - 2 / sqrt(3)) < 1e-15);
	CHECK(fabs(1 / (z * z) + 1 / 4.0 - 1) < 1e-15);
	CHECK(fl_dp_update_multiplier(2, 2, &z, &err) == -1);
	CHECK(strcmp(err.msg, "--noise 2 needs --indicator-noise above 2 "
	    "(z < sigma_b)") == 0);

	/* Float: noise on the grid, and the accountant's metadata. */
	fl_rng_seed_text(master, "unit dp noise");
	fl_record_init(&rec);
	fl_record_init(&again);
	meta(&rec, "dp.clip", "1");
	meta(&again, "dp.clip", "1");
	add_f(&rec, "w", FL_F64, big, NBIG);
	add_f(&again, "w", FL_F64, big, NBIG);
	CHECK(fl_dp_noise_record(&rec, &p, master, 3, NULL, &err) == 0);
	CHECK(fl_dp_noise_marks(&rec, 0, 1, &err) == 0);
	CHECK(fl_dp_noise_record(&again, &p, master, 3, NULL, &err) == 0);
	CHECK(memcmp(rec.tensors[0].data, again.tensors[0].data,
	    NBIG * sizeof(double)) == 0);
	g = fl_noise_grid(1);
	for (size_t i = 0; i < NBIG; i++) {
		double v = fl_tensor_get(&rec.tensors[0], i) / g;

		CHECK(v == floor(v));
	}
	CHECK(memcmp(rec.tensors[0].data, big, sizeof(big)) != 0);
	CHECK(meta_is(&rec, "dp.mechanism", "gaussian"));
	CHECK(meta_is(&rec, "dp.noise", "1") && meta_is(&rec, "dp.sigma",
	    "1") && meta_is(&rec, "dp.shares", "1") &&
	    meta_is(&rec, "dp.dim", "8"));
	CHECK(meta_is(&rec, "dp.grid", fl_format_double(buf, g)));
	CHECK(meta_is(&rec, "dp.sensitivity", fl_format_double(buf, 1 + g *
	    sqrt(dim))));
	CHECK(meta_is(&rec, "dp.sampler", "ziggurat"));
	CHECK(meta_is(&rec, "dp.seeded", "yes"));
	CHECK(meta_is(&again, "dp.seeded", NULL) &&
	    meta_is(&again, "dp.sampler", NULL));
	/* Another record index: other noise. */
	fl_record_free(&again);
	fl_record_init(&again);
	add_f(&again, "w", FL_F64, big, NBIG);
	CHECK(fl_dp_noise_record(&again, &(struct fl_dp_noise){ 1, 1, NAN,
	    NAN, -1, 0, 1, 1 }, master, 4, NULL, &err) == 0);
	CHECK(memcmp(rec.tensors[0].data, again.tensors[0].data,
	    NBIG * sizeof(double)) != 0);
	/* Noised once, never twice. */
	CHECK(fl_dp_noise_record(&rec, &p, master, 3, NULL, &err) == -1);
	CHECK(strcmp(err.msg, "already noised (dp.mechanism=gaussian)") ==
	    0);
	fl_record_free(&rec);
	fl_record_free(&again);

	/* Integer: Skellam with its L1 bound; a share checked exactly. */
	fl_record_init(&rec);
	meta(&rec, "dp.sensitivity", "5");
	add_f(&rec, "q", FL_I32, (const double[]){ 3, 4, 0, 0 }, 4);
	p.mechanism = FL_MECH_SKELLAM;
	p.shares = 4;
	CHECK(fl_dp_noise_record(&rec, &p, master, 0, NULL, &err) == 0);
	CHECK(meta_is(&rec, "dp.mechanism", "skellam"));
	CHECK(meta_is(&rec, "dp.sigma", "2.5"));        /* 1 x 5 / sqrt(4) */
	CHECK(meta_is(&rec, "dp.sensitivity", "5"));
	CHECK(meta_is(&rec, "dp.sensitivity-l1", "10"));    /* 5 sqrt(4) */
	CHECK(fl_dp_noise_marks(&rec, 0, 0, &err) == 0);
	CHECK(meta_is(&rec, "dp.sampler", NULL));
	fl_record_free(&rec);
	fl_record_init(&rec);
	meta(&rec, "dp.sensitivity", "4.99");
	add_f(&rec, "q", FL_I32, (const double[]){ 3, 4 }, 2);
	CHECK(fl_dp_noise_record(&rec, &p, master, 0, NULL, &err) == -1);
	CHECK(strcmp(err.msg, "the update exceeds its L2 sensitivity bound "
	    "4.99") == 0);
	CHECK(fl_tensor_get(&rec.tensors[0], 0) == 3);  /* nothing noised */
	/* The discrete Gaussian's scale is rounded up, and said. */
	p.mechanism = -1;
	p.shares = 1;
	p.noise = 0.3;
	meta(&rec, "dp.sensitivity", "1");
	CHECK(fl_dp_noise_record(&rec, &p, master, 0, NULL, &err) == 0);
	CHECK(meta_is(&rec, "dp.mechanism", "discrete-gaussian"));
	CHECK(atof(fl_meta_get(&rec, "dp.sigma")) >= 0.3);
	fl_record_free(&rec);

	/* Errors. */
	p.noise = 1;
	fl_record_init(&rec);
	CHECK(fl_dp_noise_record(&rec, &p, master, 0, NULL, &err) == -1);
	CHECK(strcmp(err.msg, "no tensors to noise") == 0);
	add_f(&rec, "w", FL_F32, big, 2);
	CHECK(fl_dp_noise_record(&rec, &p, master, 0, NULL, &err) == -1);
	CHECK(strcmp(err.msg, "no clip bound: clip first (-c) or give "
	    "--sensitivity") == 0);
	p.mechanism = FL_MECH_DGAUSS;
	CHECK(fl_dp_noise_record(&rec, &p, master, 0, NULL, &err) == -1);
	CHECK(strcmp(err.msg, "discrete-gaussian noise asked of float "
	    "tensors") == 0);
	p.mechanism = -1;
	add_f(&rec, "u", FL_U32, (const double[]){ 1 }, 1);
	CHECK(fl_dp_noise_record(&rec, &p, master, 0, NULL, &err) == -1);
	CHECK(strcmp(err.msg, "tensors 'w' and 'u' mix float and integer "
	    "values") == 0);
	fl_tensor_remove(&rec, "w");
	meta(&rec, "dp.sensitivity", "1");
	CHECK(fl_dp_noise_record(&rec, &p, master, 0, NULL, &err) == -1);
	CHECK(strcmp(err.msg, "missing quantization metadata: u32 tensor 'u' "
	    "without a 'modulus'") == 0);
	meta(&rec, "modulus", "-3");
	CHECK(fl_dp_noise_record(&rec, &p, master, 0, NULL, &err) == -1);
	CHECK(strncmp(err.msg, "metadata modulus '-3': ", 23) == 0);
	fl_record_free(&rec);
}

void
test_clip_adapt(void)
{
	unsigned char master[FL_RNG_KEYBYTES];
	struct fl_clip_adapt a;
	struct fl_record rec;
	struct fl_error err;

	fl_rng_seed_text(master, "unit adapt");
	/* 3 of 4 within the bound, no noise: the bound moves by
	 * exp(-lr (3/4 - q)). */
	fl_record_init(&rec);
	meta(&rec, "dp.clip", "2");
	meta(&rec, "clients", "4");
	meta(&rec, "modulus", "16");
	meta(&rec, "dp.clip-indicator", FL_CLIP_INDICATOR);
	add_f(&rec, FL_CLIP_INDICATOR, FL_U32, (const double[]){ 3 }, 1);
	CHECK(fl_clip_adapt_read(&a, &rec, 0, &err) == 0);
	CHECK(a.clip == 2 && a.clients == 4 && a.count == 3 && a.sigma == 0);
	CHECK(fl_clip_adapt_noise(&a, master, 0, &err) == 0 && a.noise == 0);
	CHECK(fl_clip_adapt_write(&a, &rec, 0.2, 0.5, &err) == 0);
	CHECK(a.frac == 0.75 && a.next == 2 * exp(-0.2 * 0.25));
	CHECK(fl_tensor_find(&rec, FL_CLIP_INDICATOR) == NULL);
	CHECK(meta_is(&rec, "dp.clip-indicator", NULL));
	CHECK(meta_is(&rec, "dp.clip-fraction", "0.75"));
	CHECK(meta_is(&rec, "dp.indicator-noise", "0"));
	fl_record_free(&rec);

	/* A ring sum past half the modulus is negative: the fraction 0;
	 * a public denominator counts instead of clients; the default
	 * noise is clients / 10, drawn the same for the same key. */
	fl_record_init(&rec);
	meta(&rec, "dp.clip", "2");
	meta(&rec, "clients", "4");
	meta(&rec, "modulus", "16");
	add_f(&rec, FL_CLIP_INDICATOR, FL_U32, (const double[]){ 15 }, 1);
	CHECK(fl_clip_adapt_read(&a, &rec, 0, &err) == 0 && a.count == -1);
	CHECK(fl_clip_adapt_write(&a, &rec, 0.2, 0.5, &err) == 0);
	CHECK(a.frac == 0 && a.next == 2 * exp(0.2 * 0.5));
	fl_record_free(&rec);
	fl_record_init(&rec);
	meta(&rec, "dp.clip", "1");
	meta(&rec, "clients", "4");
	meta(&rec, "agg.denominator", "50");
	add_f(&rec, FL_CLIP_INDICATOR, FL_F32, (const double[]){ 20 }, 1);
	CHECK(fl_clip_adapt_read(&a, &rec, NAN, &err) == 0);
	CHECK(a.clients == 50 && a.sigma == 5);
	CHECK(fl_clip_adapt_noise(&a, master, 7, &err) == 0);
	{
		int64_t first = a.noise;

		CHECK(fl_clip_adapt_noise(&a, master, 7, &err) == 0 &&
		    a.noise == first);
	}
	CHECK(fl_clip_adapt_write(&a, &rec, 1, 0.5, &err) == 0);
	CHECK(a.frac == fmin(1, fmax(0, (20 + (double)a.noise) / 50)));
	/* A noise scale out of range fails in the noise step alone. */
	a.sigma = 1e9;
	CHECK(fl_clip_adapt_noise(&a, master, 0, &err) == -1);
	CHECK(err.code == FL_ELIMIT);
	fl_record_free(&rec);

	/* What an aggregate must carry. */
	fl_record_init(&rec);
	meta(&rec, "dp.clip", "1");
	CHECK(fl_clip_adapt_read(&a, &rec, 0, &err) == -1);
	CHECK(strcmp(err.msg, "no clip.indicator tensor (clients add it "
	    "with --indicator)") == 0);
	add_f(&rec, FL_CLIP_INDICATOR, FL_U32, (const double[]){ 1 }, 1);
	CHECK(fl_clip_adapt_read(&a, &rec, 0, &err) == -1);
	CHECK(strcmp(err.msg, "no 'clients' count (adapt an aggregate from "
	    "fl-aggregate)") == 0);
	meta(&rec, "clients", "x");
	CHECK(fl_clip_adapt_read(&a, &rec, 0, &err) == -1);
	CHECK(strcmp(err.msg, "metadata clients 'x': not a whole number") == 0);
	meta(&rec, "clients", "2");
	fl_meta_del(&rec, "dp.clip");
	CHECK(fl_clip_adapt_read(&a, &rec, 0, &err) == -1);
	CHECK(strcmp(err.msg, "no dp.clip to adapt") == 0);
	fl_record_free(&rec);
}
