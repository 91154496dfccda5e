/* SPDX-License-Identifier: ISC */
/*
 * The server step of adaptive clipping (Andrew, Thakkar, McMahan,
 * Ramaswamy 2021): the clients' summed clip indicator, noised with exact
 * integer noise, gives the fraction of updates that were within the
 * bound, and the bound moves geometrically toward the target quantile.
 * Three steps, so that a caller can tell the noise's failure (a scale out
 * of range) from the record's: read the aggregate, draw the noise, write
 * the next bound.  Moved out of fl-clip-noise --adapt.
 */
#include <math.h>
#include <string.h>

#include <sodium.h>

#include "privacy/internal.h"

int
fl_clip_adapt_read(struct fl_clip_adapt *a, const struct fl_record *rec,
    double sigma, struct fl_error *err)
{
	const struct fl_tensor *t = fl_tensor_find(rec, FL_CLIP_INDICATOR);
	double denominator = NAN;
	uint64_t clients = 0;

	memset(a, 0, sizeof(*a));
	a->clip = NAN;
	if (fl_meta_double(rec, "dp.clip", 0, INFINITY, &a->clip,
	    err) < 0 || fl_meta_u64(rec, "clients", 0, UINT64_MAX, &clients,
	    err) < 0 ||
	    fl_meta_double(rec, "agg.denominator", 0, INFINITY,
	    &denominator, err) < 0)
		return -1;
	a->clients = (double)clients;
	if (t == NULL || t->numel != 1)
		return fl_error_set(err, FL_EFORMAT, "no %s tensor (clients "
		    "add it with --indicator)", FL_CLIP_INDICATOR);
	if (isnan(a->clip) || !(a->clip > 0))
		return fl_error_set(err, FL_EFORMAT, "no dp.clip to adapt");
	if (!(a->clients > 0))
		return fl_error_set(err, FL_EFORMAT, "no 'clients' count "
		    "(adapt an aggregate from fl-aggregate)");
	/* A mean over a public denominator (the expected cohort) takes the
	 * clipped fraction over the same denominator, as Andrew et al. 2021
	 * do: the released bound does not depend on the exact count. */
	if (denominator > 0)
		a->clients = denominator;
	a->count = fl_tensor_get(t, 0);
	if (t->dtype == FL_U32 || t->dtype == FL_U64) {
		uint64_t mod;

		if (fl_dp_ring_modulus(rec, &mod, err) < 0)
			return -1;
		if (mod != 0 && a->count >= (double)(mod - mod / 2))
			a->count -= (double)mod;
	}
	if (isnan(sigma))
		/* TFF's default is 0.05 x clients for indicators centred on
		 * 1/2 (sensitivity 1/2); the same share of the budget for
		 * uncentred ones (sensitivity 1) takes twice the noise. */
		sigma = a->clients / 10;
	a->sigma = sigma;
	return 0;
}

int
fl_clip_adapt_noise(struct fl_clip_adapt *a,
    const unsigned char master[FL_RNG_KEYBYTES], uint64_t index,
    struct fl_error *err)
{
	unsigned char key[FL_RNG_KEYBYTES];
	struct fl_dgauss dg;
	struct fl_rng r;
	int rc = 0;

	a->noise = 0;
	if (!(a->sigma > 0))
		return 0;
	/* The count is an integer: exact integer noise. */
	fl_rng_derive(key, master, "dp-indic", index);
	fl_rng_init(&r, key, 0);
	if (fl_dgauss_init(&dg, a->sigma, err) < 0)
		rc = -1;
	else
		a->noise = fl_dgauss(&r, &dg);
	fl_rng_wipe(&r);
	sodium_memzero(key, sizeof(key));
	return rc;
}

int
fl_clip_adapt_write(struct fl_clip_adapt *a, struct fl_record *rec,
    double lr, double target, struct fl_error *err)
{
	char buf[FL_NUMBUF];

	a->frac = fmin(1, fmax(0, (a->count + (double)a->noise) / a->clients));
	/* Geometric update: the clip follows the target quantile. */
	a->next = a->clip * exp(-lr * (a->frac - target));
	fl_tensor_remove(rec, FL_CLIP_INDICATOR);
	fl_meta_del(rec, "dp.clip-indicator");
	if (fl_meta_set(rec, "dp.clip-next", fl_format_double(buf, a->next),
	    err) < 0 || fl_meta_set(rec, "dp.clip-fraction",
	    fl_format_double(buf, a->frac), err) < 0 ||
	    fl_meta_set(rec, "dp.indicator-noise", fl_format_double(buf,
	    a->sigma), err) < 0)
		return -1;
	return 0;
}
