/* SPDX-License-Identifier: ISC */
/*
 * Poisson sampling, as the accountants assume it: each of n items
 * independently with probability q.  DP-SGD draws its batches with it, and
 * the server its cohorts (fl-account --sample).  Geometric gaps between the
 * chosen items: one uniform per chosen item instead of one per item.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "privacy/internal.h"

size_t
fl_sample_poisson(uint64_t *idx, size_t cap, uint64_t n, double q,
    struct fl_rng *r, int *overflow)
{
	double lq = log1p(-q);
	uint64_t i = 0;
	size_t b = 0;

	*overflow = 0;
	if (q >= 1) {
		for (i = 0; i < n && b < cap; i++)
			idx[b++] = i;
		*overflow = n > cap;
		return b;
	}
	for (;;) {
		double u = (double)((fl_rng_u64(r) >> 11) + 1) * 0x1p-53;
		double gap = floor(log(u) / lq);

		if (gap >= (double)(n - i))
			break;
		i += (uint64_t)gap;
		if (b == cap) {
			*overflow = 1;
			return b;
		}
		idx[b++] = i++;
		if (i >= n)
			break;
	}
	return b;
}

/*
 * A round's cohort: every client of 0..n-1 with probability q, from a
 * key that is the server's secret (fresh from the OS) unless the caller
 * says it came from a seed.  Whoever can predict the cohort knows who took
 * part, and the amplification by sampling the ledger charges for does not
 * hold against them: the record says so (cohort.seeded) and fl-account
 * refuses to spend it without --not-private.
 */
int
fl_cohort_draw(struct fl_record *out, uint64_t n, double q, uint64_t round,
    const unsigned char key[FL_RNG_KEYBYTES], int seeded,
    struct fl_error *err)
{
	struct fl_rng r, start;
	struct fl_tensor *t;
	uint64_t *idx = NULL, dims[1];
	double mean = q * (double)n;
	char num[FL_NUMBUF];
	size_t cap, m;
	int overflow;

	if (n == 0 || n > FL_COHORT_MAX_POPULATION)
		return fl_error_set(err, FL_EINVAL, "population %llu is not in "
		    "[1, %llu]", (unsigned long long)n,
		    (unsigned long long)FL_COHORT_MAX_POPULATION);
	if (!(q > 0 && q <= 1))
		return fl_error_set(err, FL_EINVAL, "sampling rate is not in "
		    "(0, 1]");
	/* Room for the mean plus 8 standard deviations; past that, drawn
	 * again from the same key (the same cohort) with twice the room. */
	cap = (size_t)fmin((double)n, mean + 8 * sqrt(mean) + 16);
	fl_rng_init(&start, key, 0);
	for (;;) {
		uint64_t *p = realloc(idx, cap * sizeof(*idx));

		if (p == NULL) {
			free(idx);
			fl_rng_wipe(&start);
			return fl_error_set(err, FL_ENOMEM, "out of memory");
		}
		idx = p;
		r = start;
		m = fl_sample_poisson(idx, cap, n, q, &r, &overflow);
		fl_rng_wipe(&r);
		if (!overflow)
			break;
		cap = (size_t)fmin((double)n, 2 * (double)cap);
	}
	fl_rng_wipe(&start);
	fl_record_free(out);
	fl_record_init(out);
	dims[0] = m;
	if (fl_meta_set(out, "kind", "cohort", err) < 0 ||
	    fl_meta_setf(out, err, "round", "%llu",
	    (unsigned long long)round) < 0 ||
	    fl_meta_setf(out, err, "dp.population", "%llu",
	    (unsigned long long)n) < 0 ||
	    fl_meta_set(out, "dp.q", fl_format_double(num, q), err) < 0 ||
	    fl_meta_set(out, "dp.sampling", "poisson", err) < 0 ||
	    (seeded && fl_meta_set(out, "cohort.seeded", "yes", err) < 0) ||
	    (t = fl_tensor_add(out, "clients", FL_U64, 1, dims, err)) == NULL) {
		free(idx);
		return -1;
	}
	for (size_t i = 0; i < m; i++)      /* host order, as every tensor */
		((uint64_t *)t->data)[i] = idx[i];
	free(idx);
	return 0;
}

int
fl_cohort_from_record(struct fl_cohort *c, const struct fl_record *rec,
    struct fl_error *err)
{
	const char *kind = fl_meta_get(rec, "kind"), *v;
	const struct fl_tensor *t = fl_tensor_find(rec, "clients");
	struct fl_error e;

	memset(c, 0, sizeof(*c));
	if (kind == NULL || strcmp(kind, "cohort") != 0)
		return fl_error_set(err, FL_EINVAL, "not a cohort (kind=%s): "
		    "draw one with fl-account --sample", kind ? kind : "none");
	if ((v = fl_meta_get(rec, "round")) == NULL ||
	    fl_parse_u64(v, 0, UINT64_MAX - 1, &c->round, &e) < 0)
		return fl_error_set(err, FL_EINVAL, "cohort without a valid "
		    "round");
	if ((v = fl_meta_get(rec, "dp.population")) == NULL ||
	    fl_parse_u64(v, 1, FL_COHORT_MAX_POPULATION, &c->population,
	    &e) < 0)
		return fl_error_set(err, FL_EINVAL, "cohort without a valid "
		    "dp.population");
	if ((v = fl_meta_get(rec, "dp.q")) == NULL ||
	    fl_parse_double(v, 0, 1, &c->q, &e) < 0 || !(c->q > 0))
		return fl_error_set(err, FL_EINVAL, "cohort without a valid "
		    "dp.q");
	if ((v = fl_meta_get(rec, "dp.sampling")) == NULL ||
	    strcmp(v, "poisson") != 0)
		return fl_error_set(err, FL_EINVAL, "cohort not drawn by "
		    "Poisson sampling (dp.sampling)");
	c->seeded = fl_meta_get(rec, "cohort.seeded") != NULL;
	if (t == NULL || t->dtype != FL_U64 || t->rank != 1)
		return fl_error_set(err, FL_EINVAL, "cohort without its "
		    "'clients' tensor (u64, one dimension)");
	c->size = t->numel;
	/* Ascending client numbers below the population, as drawn. */
	for (uint64_t i = 0; i < t->numel; i++) {
		const uint64_t *ids = t->data;
		uint64_t x = ids[i];

		if (x >= c->population || (i > 0 && x <= ids[i - 1]))
			return fl_error_set(err, FL_EINVAL, "cohort: client "
			    "%llu at position %llu is out of order or not "
			    "below the population", (unsigned long long)x,
			    (unsigned long long)i + 1);
	}
	return 0;
}
