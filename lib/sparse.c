/* SPDX-License-Identifier: ISC */
/*
 * Sparsification: rand-k with a public index set that every client of a
 * round derives from the same seed (so the sparse vectors sum coordinate by
 * coordinate, as secure aggregation needs), top-k by exact selection, and
 * the error-feedback residual arithmetic.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "internal.h"

int
fl_sparse_k(const char *spec, uint64_t d, uint64_t *k, struct fl_error *err)
{
	size_t len = strlen(spec);
	uint64_t v;

	if (len > 0 && spec[len - 1] == '%') {
		char buf[64];
		double p, dv;

		if (len >= sizeof(buf))
			return fl_error_set(err, FL_EINVAL, "not a number");
		memcpy(buf, spec, len - 1);
		buf[len - 1] = '\0';
		if (fl_parse_double(buf, 0, 100, &p, err) < 0)
			return -1;
		if (!(p > 0))
			return fl_error_set(err, FL_EINVAL,
			    "a percentage must be above 0");
		/* Nearest, at least one: 1% of 1000 is 10, not 11 after a
		 * rounding error upwards. */
		dv = floor(p * ((double)d / 100) + 0.5);
		v = dv < 1 ? 1 : dv >= (double)d ? d : (uint64_t)dv;
	} else if (fl_parse_u64(spec, 1, UINT64_MAX, &v, err) < 0) {
		return -1;
	}
	if (d == 0)
		return fl_error_set(err, FL_EINVAL, "no coordinates to keep");
	if (v > d)
		return fl_error_set(err, FL_EINVAL, "more than the %llu "
		    "coordinates", (unsigned long long)d);
	*k = v;
	return 0;
}

void
fl_sparse_key(unsigned char key[FL_RNG_KEYBYTES], const char *seed)
{
	unsigned char k[FL_RNG_KEYBYTES];

	/* Its own purpose: the same text as a rotation seed ("round-N")
	 * must not give related bits. */
	fl_rng_seed_text(k, seed);
	fl_rng_derive(key, k, "sparse", 0);
	sodium_memzero(k, sizeof(k));
}

int
fl_randk_indices(uint64_t d, uint64_t k,
    const unsigned char key[FL_RNG_KEYBYTES], uint64_t *idx,
    struct fl_error *err)
{
	struct fl_rng r;
	uint64_t *set, n = 0;

	if (k < 1 || k > d)
		return fl_error_set(err, FL_EINVAL, "K %llu is not in [1, %llu]",
		    (unsigned long long)k, (unsigned long long)d);
	if ((set = calloc(d / 64 + 1, sizeof(*set))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	/* Floyd's algorithm: each k-subset equally likely, k draws, no
	 * array of d; the bitmap then yields the indices in order. */
	fl_rng_init(&r, key, 0);
	for (uint64_t j = d - k; j < d; j++) {
		uint64_t t = fl_rng_below(&r, j + 1);

		if (set[t / 64] >> (t % 64) & 1)
			t = j;
		set[t / 64] |= UINT64_C(1) << (t % 64);
	}
	fl_rng_wipe(&r);
	for (uint64_t w = 0; w <= d / 64 && n < k; w++)
		for (uint64_t b = set[w]; b != 0; b &= b - 1)
			idx[n++] = w * 64 + (uint64_t)__builtin_ctzll(b);
	free(set);
	return 0;
}

/* The order of top-k: larger magnitude first, then the lower index. */
static int
before(const float *x, uint64_t a, uint64_t b)
{
	float fa = fabsf(x[a]), fb = fabsf(x[b]);

	return fa > fb || (fa == fb && a < b);
}

static void
swap(uint64_t *p, uint64_t i, uint64_t j)
{
	uint64_t t = p[i];

	p[i] = p[j];
	p[j] = t;
}

static void
sift(const float *x, uint64_t *p, uint64_t root, uint64_t n)
{
	for (;;) {
		uint64_t c = 2 * root + 1;

		if (c >= n)
			return;
		/* A max-heap of "latest in the order" at the root. */
		if (c + 1 < n && before(x, p[c], p[c + 1]))
			c++;
		if (!before(x, p[root], p[c]))
			return;
		swap(p, root, c);
		root = c;
	}
}

/* Heapsort of p[0..n) in the order: the fallback that keeps the selection
 * O(n log n) on inputs that defeat the median of three. */
static void
heapsort_order(const float *x, uint64_t *p, uint64_t n)
{
	for (uint64_t i = n / 2; i-- > 0;)
		sift(x, p, i, n);
	for (uint64_t i = n; i-- > 1;) {
		swap(p, 0, i);
		sift(x, p, 0, i);
	}
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

int
fl_topk_indices(const float *x, uint64_t d, uint64_t k, uint64_t *idx,
    struct fl_error *err)
{
	uint64_t *p, lo = 0, hi = d;
	int depth = 0;

	if (k < 1 || k > d)
		return fl_error_set(err, FL_EINVAL, "K %llu is not in [1, %llu]",
		    (unsigned long long)k, (unsigned long long)d);
	for (uint64_t i = 0; i < d; i++)
		if (!isfinite(x[i]))
			return fl_error_set(err, FL_EINVAL, "non-finite value "
			    "at index %llu", (unsigned long long)i);
	if (d > SIZE_MAX / sizeof(*p) || (p = malloc(d * sizeof(*p))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	for (uint64_t i = 0; i < d; i++)
		p[i] = i;
	for (uint64_t n = d; n > 1; n /= 2)
		depth += 2;
	/* Quickselect until p[0..k) holds the first k in the order (the
	 * order is total: ties go to the lower index, so the set is one). */
	while (k < d && hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2, last = hi - 1, store = lo;

		if (depth-- == 0) {
			heapsort_order(x, p + lo, hi - lo);
			break;
		}
		/* Median of three to p[last]. */
		if (before(x, p[mid], p[lo]))
			swap(p, mid, lo);
		if (before(x, p[last], p[lo]))
			swap(p, last, lo);
		if (before(x, p[mid], p[last]))
			swap(p, mid, last);
		for (uint64_t i = lo; i < last; i++)
			if (before(x, p[i], p[last]))
				swap(p, i, store++);
		swap(p, store, last);
		if (store == k || store + 1 == k)
			break;
		if (store < k)
			lo = store + 1;
		else
			hi = store;
	}
	memcpy(idx, p, k * sizeof(*idx));
	free(p);
	qsort(idx, k, sizeof(*idx), cmp_u64);
	return 0;
}

void
fl_sparse_gather(const float *x, const uint64_t *idx, uint64_t k,
    double scale, float *out)
{
	for (uint64_t j = 0; j < k; j++)
		out[j] = (float)((double)x[idx[j]] * scale);
}

void
fl_sparse_scatter(float *x, uint64_t d, const uint64_t *idx,
    const float *vals, uint64_t k)
{
	memset(x, 0, d * sizeof(*x));
	for (uint64_t j = 0; j < k; j++)
		x[idx[j]] = vals[j];
}

int
fl_ef_add(float *p, const float *e, uint64_t d, struct fl_error *err)
{
	for (uint64_t i = 0; i < d; i++) {
		float s = p[i] + e[i];

		if (!isfinite(s))
			return fl_error_set(err, FL_EINVAL, "update plus "
			    "residual is not finite at index %llu",
			    (unsigned long long)i);
		p[i] = s;
	}
	return 0;
}

void
fl_ef_residual(float *e, const float *p, uint64_t d, const uint64_t *idx,
    const float *sent, uint64_t k)
{
	if (e != p)
		memcpy(e, p, d * sizeof(*e));
	for (uint64_t j = 0; j < k; j++)
		e[idx[j]] -= sent[j];
}
