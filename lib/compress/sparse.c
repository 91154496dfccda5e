/* SPDX-License-Identifier: ISC */
/*
 * Sparsification: rand-k with a public index set that every client of a
 * round derives from the same seed (so the sparse vectors sum coordinate by
 * coordinate, as secure aggregation needs), top-k by exact selection, and
 * the error-feedback residual arithmetic.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/internal.h"
#include "compress/compress.h"

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

/* ---- sparse records ---- */

#define INDEX_SUFFIX ":idx"

int
fl_sparse_shapes(const struct fl_record *rec, char *buf, size_t cap,
    struct fl_error *err)
{
	size_t len = 0;

	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		int n;

		if (!fl_dtype_is_float(t->dtype))
			continue;
		if (len > 0 && len + 1 < cap)
			buf[len++] = ' ';
		n = fl_shape_format(buf + len, cap - len, t->rank, t->dims);
		if (n < 0 || (size_t)n >= cap - len - 1)
			return fl_error_set(err, FL_ELIMIT, "too many tensors: "
			    "their shapes do not fit in the metadata "
			    "'q.shapes'");
		len += (size_t)n;
	}
	buf[len] = '\0';
	return 0;
}

int
fl_sparse_build(struct fl_record *out, const struct fl_record *rec,
    const uint64_t *idx, const float *vals, uint64_t k, int with_indices,
    struct fl_error *err)
{
	uint64_t off = 0, pos = 0;

	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		char name[FL_MAX_NAME + sizeof(INDEX_SUFFIX)];
		struct fl_tensor *w;
		uint64_t kt, first = pos;

		if (!fl_dtype_is_float(t->dtype)) {
			w = fl_tensor_add(out, t->name, t->dtype, t->rank,
			    t->dims, err);
			if (w == NULL)
				return -1;
			memcpy(w->data, t->data, t->nbytes);
			continue;
		}
		while (pos < k && idx[pos] < off + t->numel)
			pos++;
		kt = pos - first;
		w = fl_tensor_add(out, t->name, FL_F32, 1, &kt, err);
		if (w == NULL)
			return -1;
		memcpy(w->data, vals + first, w->nbytes);
		if (with_indices) {
			uint32_t *u;

			snprintf(name, sizeof(name), "%s%s", t->name,
			    INDEX_SUFFIX);
			w = fl_tensor_add(out, name, FL_U32, 1, &kt, err);
			if (w == NULL)
				return -1;
			u = w->data;
			for (uint64_t j = 0; j < kt; j++)
				u[j] = (uint32_t)(idx[first + j] - off);
		}
		off += t->numel;
	}
	return 0;
}

/* The shapes of a q.shapes text: how many, into arrays the caller frees
 * (all three, also on failure). */
static int
parse_shapes(const char *s, int **ranks, uint64_t (**dims)[FL_MAX_RANK],
    uint64_t **numel, size_t *count, struct fl_error *err)
{
	size_t n = 1, i = 0;
	char *copy, *tok, *save = NULL;
	struct fl_error ignored;

	for (const char *c = s; *c; c++)
		n += *c == ' ';
	*ranks = malloc(n * sizeof(**ranks));
	*dims = malloc(n * sizeof(**dims));
	*numel = malloc(n * sizeof(**numel));
	copy = strdup(s);
	if (*ranks == NULL || *dims == NULL || *numel == NULL ||
	    copy == NULL) {
		free(copy);
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	}
	for (tok = strtok_r(copy, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save)) {
		uint64_t m = 1;

		if (i >= n || fl_shape_parse(tok, &(*ranks)[i], (*dims)[i],
		    &ignored) < 0) {
			free(copy);
			return fl_error_set(err, FL_EFORMAT, "bad metadata "
			    "'q.shapes'");
		}
		for (int r = 0; r < (*ranks)[i]; r++)
			m *= (*dims)[i][r];
		(*numel)[i++] = m;
	}
	free(copy);
	*count = i;
	return 0;
}

/* Tensor t's values into the dense y of a tensor of numel values: at the
 * given indices (rand-k) or at those of the index tensor ti (top-k). */
static int
expand_one(const struct fl_tensor *t, const struct fl_tensor *ti,
    const uint64_t *idx, uint64_t off, uint64_t numel, double divisor,
    float *y, struct fl_error *err)
{
	for (uint64_t j = 0; j < t->numel; j++) {
		uint64_t at;

		if (ti != NULL) {
			const uint32_t *u = ti->data;

			at = u[j];
			if (at >= numel || (j > 0 && at <= u[j - 1]))
				return fl_error_set(err, FL_EFORMAT, "tensor "
				    "'%s': index %llu out of order or range",
				    ti->name, (unsigned long long)at);
		} else {
			at = idx[j] - off;
		}
		y[at] = (float)(fl_tensor_get(t, j) / divisor);
	}
	return 0;
}

int
fl_sparse_expand(struct fl_record *out, const struct fl_record *rec,
    const char *shapes, uint64_t k, uint64_t dim, const uint64_t *idx,
    double divisor, struct fl_error *err)
{
	uint64_t (*dims)[FL_MAX_RANK] = NULL, *numel = NULL;
	uint64_t off = 0, pos = 0, total = 0;
	int *ranks = NULL, rc = -1;
	size_t nf = 0, s = 0;

	if (parse_shapes(shapes, &ranks, &dims, &numel, &nf, err) < 0)
		goto out;
	for (size_t i = 0; i < nf; i++) {
		if (numel[i] > dim - total) {
			fl_error_set(err, FL_EFORMAT, "'q.shapes' does not add "
			    "up to q.dim %llu", (unsigned long long)dim);
			goto out;
		}
		total += numel[i];
	}
	if (total != dim) {
		fl_error_set(err, FL_EFORMAT, "'q.shapes' does not add up to "
		    "q.dim %llu", (unsigned long long)dim);
		goto out;
	}
	total = 0;
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i], *ti = NULL;
		char name[FL_MAX_NAME + sizeof(INDEX_SUFFIX)];
		struct fl_tensor *w;
		uint64_t kt, first = pos;

		if (strcmp(t->name, "clip.indicator") == 0) {
			w = fl_tensor_add(out, t->name, t->dtype, t->rank,
			    t->dims, err);
			if (w == NULL)
				goto out;
			memcpy(w->data, t->data, t->nbytes);
			continue;
		}
		if (s >= nf) {
			fl_error_set(err, FL_EFORMAT, "tensor '%s': more "
			    "tensors than 'q.shapes' lists", t->name);
			goto out;
		}
		if (!fl_dtype_is_float(t->dtype) || t->rank != 1) {
			fl_error_set(err, FL_EFORMAT, "tensor '%s' is not a "
			    "vector of sparse values", t->name);
			goto out;
		}
		if (idx == NULL) {
			snprintf(name, sizeof(name), "%s%s", t->name,
			    INDEX_SUFFIX);
			if (i + 1 < rec->ntensors)
				ti = &rec->tensors[i + 1];
			if (ti == NULL || strcmp(ti->name, name) != 0 ||
			    ti->dtype != FL_U32 || ti->numel != t->numel) {
				fl_error_set(err, FL_EFORMAT, "tensor '%s' has "
				    "no index tensor '%s' (u32 [%llu]) after "
				    "it", t->name, name,
				    (unsigned long long)t->numel);
				goto out;
			}
			kt = t->numel;
		} else {
			while (pos < k && idx[pos] < off + numel[s])
				pos++;
			kt = pos - first;
			if (t->numel != kt) {
				fl_error_set(err, FL_EFORMAT, "tensor '%s' has "
				    "%llu values, the seed chose %llu",
				    t->name, (unsigned long long)t->numel,
				    (unsigned long long)kt);
				goto out;
			}
		}
		w = fl_tensor_add(out, t->name, FL_F32, ranks[s], dims[s],
		    err);
		if (w == NULL || expand_one(t, ti, idx ? idx + first : NULL,
		    off, numel[s], divisor, w->data, err) < 0)
			goto out;
		total += kt;
		off += numel[s++];
		i += ti != NULL;
	}
	if (s != nf) {
		fl_error_set(err, FL_EFORMAT, "%zu sparse tensors, 'q.shapes' "
		    "lists %zu", s, nf);
		goto out;
	}
	if (total != k) {
		fl_error_set(err, FL_EFORMAT, "%llu values, q.k says %llu",
		    (unsigned long long)total, (unsigned long long)k);
		goto out;
	}
	rc = 0;
out:
	free(ranks);
	free(dims);
	free(numel);
	return rc;
}
