/* SPDX-License-Identifier: ISC */
/*
 * Partitions of a data set among simulated clients, the usual ones of the
 * federated learning literature: IID, label skew by Dirichlet(alpha) per
 * class (with the balancing rule of NIID-Bench, Li et al. 2022), k label
 * shards per client (McMahan et al. 2017) and quantity skew; and a
 * synthetic data set so that examples run without real data.  All the
 * randomness comes from ChaCha20 streams of the caller's key.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/internal.h"
#include "learn/learn.h"

#define MAX_TRIES 1000

static double
uniform01(struct fl_rng *r)     /* (0, 1) */
{
	return ((double)(fl_rng_u64(r) >> 11) + 0.5) * 0x1p-53;
}

static double
normal(struct fl_rng *r)
{
	return sqrt(-2 * log(uniform01(r))) * cos(2 * M_PI * uniform01(r));
}

/* Gamma(a, 1): Marsaglia and Tsang 2000; a < 1 through Gamma(a + 1). */
static double
gamma_draw(struct fl_rng *r, double a)
{
	double boost = 1, d, c;

	if (a < 1) {
		boost = pow(uniform01(r), 1 / a);
		a += 1;
	}
	d = a - 1.0 / 3;
	c = 1 / sqrt(9 * d);
	for (;;) {
		double x, v, u;

		do {
			x = normal(r);
			v = 1 + c * x;
		} while (v <= 0);
		v = v * v * v;
		u = uniform01(r);
		if (u < 1 - 0.0331 * x * x * x * x ||
		    log(u) < 0.5 * x * x + d * (1 - v + log(v)))
			return boost * d * v;
	}
}

/* p[0..k) ~ Dirichlet(alpha, ..., alpha). */
static void
dirichlet(struct fl_rng *r, double alpha, double *p, uint64_t k)
{
	double s = 0;

	for (uint64_t j = 0; j < k; j++)
		s += p[j] = gamma_draw(r, alpha);
	if (!(s > 0)) {                 /* every draw underflowed */
		p[fl_rng_below(r, k)] = s = 1;
		for (uint64_t j = 0; j < k; j++)
			if (p[j] != 1)
				p[j] = 0;
	}
	for (uint64_t j = 0; j < k; j++)
		p[j] /= s;
}

static void
shuffle(struct fl_rng *r, uint64_t *a, uint64_t n)
{
	for (uint64_t i = n; i > 1; i--) {
		uint64_t j = fl_rng_below(r, i), t = a[i - 1];

		a[i - 1] = a[j];
		a[j] = t;
	}
}

/*
 * Cut items a[0..n) into k consecutive runs by proportions p: run j gets
 * the items up to round(n * (p[0] + ... + p[j])).  Appends to the
 * per-client lists.
 */
struct lists {
	uint64_t **item;
	uint64_t *len, *cap;
	uint64_t k;
};

static int
push(struct lists *l, uint64_t c, uint64_t v)
{
	if (l->len[c] == l->cap[c]) {
		uint64_t ncap = l->cap[c] ? l->cap[c] * 2 : 16;
		uint64_t *p = realloc(l->item[c], (size_t)ncap * sizeof(*p));

		if (p == NULL)
			return -1;
		l->item[c] = p;
		l->cap[c] = ncap;
	}
	l->item[c][l->len[c]++] = v;
	return 0;
}

static int
cut(struct lists *l, const uint64_t *a, uint64_t n, const double *p)
{
	double acc = 0;
	uint64_t from = 0;

	for (uint64_t j = 0; j < l->k; j++) {
		uint64_t to;

		acc += p[j];
		to = j + 1 == l->k ? n : (uint64_t)llround(acc * (double)n);
		if (to > n)
			to = n;
		for (; from < to; from++)
			if (push(l, j, a[from]) < 0)
				return -1;
	}
	return 0;
}

static void
lists_clear(struct lists *l)
{
	for (uint64_t j = 0; j < l->k; j++)
		l->len[j] = 0;
}

static uint64_t
lists_min(const struct lists *l)
{
	uint64_t m = UINT64_MAX;

	for (uint64_t j = 0; j < l->k; j++)
		if (l->len[j] < m)
			m = l->len[j];
	return m;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

int
fl_split(const struct fl_data *d, uint64_t clients,
    const struct fl_split_opts *o, const unsigned char key[FL_RNG_KEYBYTES],
    uint64_t **order, uint64_t *start, struct fl_error *err)
{
	uint64_t n = d->n, C = d->classes, *all = NULL, *byclass = NULL;
	uint64_t *cstart = NULL, min_size;
	double *p = NULL;
	struct lists l;
	struct fl_rng r;
	unsigned char k[FL_RNG_KEYBYTES];
	int rc = -1, tries;

	memset(&l, 0, sizeof(l));
	*order = NULL;
	if (clients < 1 || clients > n)
		return fl_error_set(err, FL_EINVAL, "%llu clients for %llu "
		    "examples: want 1 to %llu", (unsigned long long)clients,
		    (unsigned long long)n, (unsigned long long)n);
	min_size = o->min_size;
	if (min_size > n / clients)
		min_size = n / clients;
	fl_rng_derive(k, key, "split", 0);
	fl_rng_init(&r, k, 0);
	l.k = clients;
	if ((l.item = calloc((size_t)clients, sizeof(*l.item))) == NULL ||
	    (l.len = calloc((size_t)clients, sizeof(*l.len))) == NULL ||
	    (l.cap = calloc((size_t)clients, sizeof(*l.cap))) == NULL ||
	    (all = malloc((size_t)n * sizeof(*all))) == NULL ||
	    (p = malloc((size_t)clients * sizeof(*p))) == NULL)
		goto nomem;
	for (uint64_t i = 0; i < n; i++)
		all[i] = i;
	shuffle(&r, all, n);

	switch (o->method) {
	case FL_SPLIT_IID:
		for (uint64_t j = 0; j < clients; j++)
			p[j] = 1.0 / (double)clients;
		if (cut(&l, all, n, p) < 0)
			goto nomem;
		break;
	case FL_SPLIT_QUANTITY:
		for (tries = 0; ; tries++) {
			if (tries == MAX_TRIES)
				goto unbalanced;
			lists_clear(&l);
			dirichlet(&r, o->alpha, p, clients);
			if (cut(&l, all, n, p) < 0)
				goto nomem;
			if (lists_min(&l) >= (min_size ? min_size : 1))
				break;
		}
		break;
	case FL_SPLIT_DIRICHLET:
		/* the examples of each class, in shuffled order */
		if ((byclass = malloc((size_t)n * sizeof(*byclass))) == NULL ||
		    (cstart = calloc((size_t)C + 1, sizeof(*cstart))) == NULL)
			goto nomem;
		for (uint64_t i = 0; i < n; i++)
			cstart[d->y[i] + 1]++;
		for (uint64_t c = 0; c < C; c++)
			cstart[c + 1] += cstart[c];
		{
			uint64_t *fill = malloc((size_t)C * sizeof(*fill));

			if (fill == NULL)
				goto nomem;
			memcpy(fill, cstart, (size_t)C * sizeof(*fill));
			for (uint64_t i = 0; i < n; i++)
				byclass[fill[d->y[all[i]]]++] = all[i];
			free(fill);
		}
		for (tries = 0; ; tries++) {
			if (tries == MAX_TRIES)
				goto unbalanced;
			lists_clear(&l);
			for (uint64_t c = 0; c < C; c++) {
				double s = 0;

				dirichlet(&r, o->alpha, p, clients);
				/* NIID-Bench: a client holding its share of
				 * the data already gets no more */
				for (uint64_t j = 0; j < clients; j++) {
					if (l.len[j] >= n / clients)
						p[j] = 0;
					s += p[j];
				}
				if (s > 0)
					for (uint64_t j = 0; j < clients; j++)
						p[j] /= s;
				else
					for (uint64_t j = 0; j < clients; j++)
						p[j] = 1.0 / (double)clients;
				if (cut(&l, byclass + cstart[c], cstart[c + 1] -
				    cstart[c], p) < 0)
					goto nomem;
			}
			if (lists_min(&l) >= (min_size ? min_size : 1))
				break;
		}
		break;
	case FL_SPLIT_SHARDS: {
		/* sort by label, cut into clients * k shards, deal them */
		uint64_t ns = clients * o->shards, *deck;

		if (o->shards < 1 || ns > n) {
			fl_error_set(err, FL_EINVAL, "%llu shards of %llu "
			    "examples: want at most one shard per example",
			    (unsigned long long)ns, (unsigned long long)n);
			goto out;
		}
		if ((byclass = malloc((size_t)n * sizeof(*byclass))) == NULL ||
		    (cstart = calloc((size_t)C + 1, sizeof(*cstart))) == NULL ||
		    (deck = malloc((size_t)ns * sizeof(*deck))) == NULL)
			goto nomem;
		for (uint64_t i = 0; i < n; i++)
			cstart[d->y[i] + 1]++;
		for (uint64_t c = 0; c < C; c++)
			cstart[c + 1] += cstart[c];
		for (uint64_t i = 0; i < n; i++)
			byclass[cstart[d->y[all[i]]]++] = all[i];
		for (uint64_t s = 0; s < ns; s++)
			deck[s] = s;
		shuffle(&r, deck, ns);
		for (uint64_t s = 0; s < ns; s++) {
			uint64_t sh = deck[s], c = s / o->shards;
			uint64_t from = sh * n / ns, to = (sh + 1) * n / ns;

			for (uint64_t i = from; i < to; i++)
				if (push(&l, c, byclass[i]) < 0) {
					free(deck);
					goto nomem;
				}
		}
		free(deck);
		break;
	}
	}

	/* flatten, each client's examples in increasing order */
	start[0] = 0;
	for (uint64_t j = 0; j < clients; j++)
		start[j + 1] = start[j] + l.len[j];
	if ((*order = malloc((size_t)n * sizeof(**order))) == NULL)
		goto nomem;
	for (uint64_t j = 0; j < clients; j++) {
		uint64_t *dst = *order + start[j];

		memcpy(dst, l.item[j], (size_t)l.len[j] * sizeof(*dst));
		/* dealt in random order; sorted reads better */
		qsort(dst, (size_t)l.len[j], sizeof(*dst), cmp_u64);
	}
	rc = 0;
	goto out;
unbalanced:
	fl_error_set(err, FL_EINVAL, "no partition with at least %llu "
	    "examples per client after %d tries: use fewer clients or a "
	    "larger alpha", (unsigned long long)(min_size ? min_size : 1),
	    MAX_TRIES);
	goto out;
nomem:
	fl_error_set(err, FL_ENOMEM, "out of memory");
out:
	if (rc < 0) {
		free(*order);
		*order = NULL;
	}
	for (uint64_t j = 0; l.item != NULL && j < clients; j++)
		free(l.item[j]);
	free(l.item);
	free(l.len);
	free(l.cap);
	free(all);
	free(byclass);
	free(cstart);
	free(p);
	fl_rng_wipe(&r);
	memset(k, 0, sizeof(k));
	return rc;
}

int
fl_data_synthetic(struct fl_data *d, uint64_t n, uint64_t features,
    uint32_t classes, const unsigned char key[FL_RNG_KEYBYTES],
    struct fl_error *err)
{
	unsigned char k[FL_RNG_KEYBYTES];
	struct fl_rng r;
	float *mu, *x;

	memset(d, 0, sizeof(*d));
	if (n < 1 || features < 1 || classes < 2 ||
	    features > (UINT64_C(1) << 24) || n > (UINT64_C(1) << 32) ||
	    n * features > (UINT64_C(1) << 32))
		return fl_error_set(err, FL_EINVAL, "synthetic data: want "
		    "examples >= 1, features >= 1, classes >= 2, at most "
		    "2^32 values");
	mu = malloc((size_t)(classes * features) * sizeof(float));
	x = malloc((size_t)(n * features) * sizeof(float));
	d->y = malloc((size_t)n * sizeof(int32_t));
	if (mu == NULL || x == NULL || d->y == NULL) {
		free(mu);
		free(x);
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	}
	fl_rng_derive(k, key, "synth", 0);
	fl_rng_init(&r, k, 0);
	/* Gaussian blobs: class means 2 apart in each feature on average,
	 * unit noise, so that a linear model does well but not perfectly. */
	for (uint64_t i = 0; i < classes * features; i++)
		mu[i] = (float)(1.5 * normal(&r));
	for (uint64_t i = 0; i < n; i++) {
		uint32_t c = (uint32_t)fl_rng_below(&r, classes);

		d->y[i] = (int32_t)c;
		for (uint64_t j = 0; j < features; j++)
			x[i * features + j] = (float)(mu[c * features + j] +
			    normal(&r));
	}
	free(mu);
	d->x = x;
	d->n = n;
	d->dim = features;
	d->xtype = FL_F32;
	d->classes = classes;
	d->scale = 1;
	d->format = FL_DATA_FLT;
	fl_rng_wipe(&r);
	memset(k, 0, sizeof(k));
	return 0;
}
