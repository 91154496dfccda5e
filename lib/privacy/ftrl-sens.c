/* SPDX-License-Identifier: ISC */
/*
 * The L2 sensitivity of the tree's whole release for a participation
 * pattern: a client takes part in at most k of the rounds 1..T, any two
 * of its rounds at least b apart.  The release is the vector of the
 * complete nodes' noisy sums; a client with contributions x_i (|x_i| <=
 * 1, clip units) in its rounds S moves node v by the sum of its x_i,
 * i in S and v, so the squared norm of the change is at most
 * sum_v |S n v|^2 = sum_{i,j in S} (C^T C)_ij, reached with every x_i
 * equal (the entries, counts of shared nodes, are non-negative).  The
 * sensitivity squared is the maximum of that over the allowed S.
 *
 * Exactly, by dynamic programming over the tree: for a subtree and a
 * count c of chosen rounds in it, the best sum over its nodes for each
 * (a, z), the distances from the subtree's first round to the first
 * chosen one and from the last chosen one to its last round, both capped
 * at b (what a neighbour needs to know for the separation).  Two
 * children combine when the gap z_left + a_right + 1 >= b; a complete
 * node adds c^2.  Complete subtrees of one height have the same table,
 * so a height is computed once, plus the partial ones on the right edge:
 * O(log T k^2 b^3) time.
 */
#include <stdlib.h>
#include <string.h>

#include "privacy/privacy.h"

/* A table: value[c][a][z] for c = 1..k, a and z in 0..b (b: b or more);
 * -1 where nothing fits.  c = 0 (nothing chosen) is always 0. */
struct table {
	uint64_t k, b, size;    /* size: rounds the subtree spans */
	int64_t *v;
};

#define AT(t, c, a, z) ((t)->v[(((c) - 1) * ((t)->b + 1) + (a)) * \
	((t)->b + 1) + (z)])

static int
table_new(struct table *t, uint64_t k, uint64_t b, uint64_t size)
{
	size_t n = (size_t)k * (size_t)(b + 1) * (size_t)(b + 1);

	t->k = k;
	t->b = b;
	t->size = size;
	if ((t->v = malloc(n * sizeof(*t->v))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		t->v[i] = -1;
	return 0;
}

static uint64_t
cap(uint64_t x, uint64_t b)
{
	return x < b ? x : b;
}

static void
leaf(struct table *t, int usable)
{
	if (usable)
		AT(t, 1, 0, 0) = 1;     /* the leaf is a complete node: 1^2 */
}

/* out = L beside R (out's arrays fresh); complete adds c^2. */
static int
combine(struct table *out, const struct table *L, const struct table *R,
    int complete)
{
	uint64_t k = L->k, b = L->b, B = b + 1;
	int64_t *g;

	if (table_new(out, k, b, L->size + R->size) < 0)
		return -1;
	/* g[cR][zR][thr] = max over aR >= thr of R[cR][aR][zR]. */
	if ((g = malloc((size_t)k * B * (B + 1) * sizeof(*g))) == NULL) {
		free(out->v);
		return -1;
	}
	for (uint64_t c = 1; c <= k; c++)
		for (uint64_t z = 0; z <= b; z++) {
			int64_t *row = g + ((c - 1) * B + z) * (B + 1);

			row[B] = -1;
			for (uint64_t a = B; a-- > 0;) {
				int64_t x = AT(R, c, a, z);

				row[a] = x > row[a + 1] ? x : row[a + 1];
			}
		}
	for (uint64_t c = 1; c <= k; c++) {
		/* All in one child. */
		for (uint64_t a = 0; a <= b; a++)
			for (uint64_t z = 0; z <= b; z++) {
				int64_t x = AT(L, c, a, z), y = AT(R, c, a, z);
				int64_t *o;

				if (x >= 0) {
					o = &AT(out, c, a, cap(z + R->size, b));
					if (x > *o)
						*o = x;
				}
				if (y >= 0) {
					o = &AT(out, c, cap(a + L->size, b), z);
					if (y > *o)
						*o = y;
				}
			}
		/* Some in each: the gap between them at least b. */
		for (uint64_t cl = 1; cl < c; cl++) {
			uint64_t cr = c - cl;

			for (uint64_t a = 0; a <= b; a++)
				for (uint64_t zl = 0; zl <= b; zl++) {
					int64_t x = AT(L, cl, a, zl);
					uint64_t thr = zl + 1 >= b ? 0 :
					    b - 1 - zl;

					if (x < 0)
						continue;
					for (uint64_t z = 0; z <= b; z++) {
						int64_t y = g[((cr - 1) * B +
						    z) * (B + 1) + thr];
						int64_t *o = &AT(out, c, a, z);

						if (y >= 0 && x + y > *o)
							*o = x + y;
					}
				}
		}
	}
	free(g);
	if (complete)
		for (uint64_t c = 1; c <= k; c++)
			for (uint64_t i = 0; i < B * B; i++) {
				int64_t *o = &out->v[(c - 1) * B * B + i];

				if (*o >= 0)
					*o += (int64_t)(c * c);
			}
	return 0;
}

/* The table of the subtree of height h whose first round is `first`
 * (1-based), rounds past T unusable.  full[h] caches complete ones. */
static int
subtree(struct table *out, unsigned h, uint64_t first, uint64_t T,
    struct table *full, int *have, struct fl_error *err)
{
	uint64_t size = (uint64_t)1 << h, half = size / 2;
	int complete = first + size - 1 <= T;
	struct table L, R;

	if (complete && have[h]) {
		size_t n = (size_t)full[h].k * (full[h].b + 1) *
		    (full[h].b + 1);

		if (table_new(out, full[h].k, full[h].b, size) < 0)
			return fl_error_set(err, FL_ENOMEM, "out of memory");
		memcpy(out->v, full[h].v, n * sizeof(*out->v));
		return 0;
	}
	if (h == 0) {
		if (table_new(out, full[0].k, full[0].b, 1) < 0)
			return fl_error_set(err, FL_ENOMEM, "out of memory");
		leaf(out, first <= T);
	} else {
		if (subtree(&L, h - 1, first, T, full, have, err) < 0)
			return -1;
		if (subtree(&R, h - 1, first + half, T, full, have, err) < 0) {
			free(L.v);
			return -1;
		}
		if (combine(out, &L, &R, complete) < 0) {
			free(L.v);
			free(R.v);
			return fl_error_set(err, FL_ENOMEM, "out of memory");
		}
		free(L.v);
		free(R.v);
	}
	if (complete && !have[h]) {
		size_t n = (size_t)out->k * (out->b + 1) * (out->b + 1);

		if (table_new(&full[h], out->k, out->b, size) < 0) {
			free(out->v);
			return fl_error_set(err, FL_ENOMEM, "out of memory");
		}
		memcpy(full[h].v, out->v, n * sizeof(*out->v));
		have[h] = 1;
	}
	return 0;
}

int
fl_tree_sens2(uint64_t T, uint64_t k, uint64_t b, uint64_t *sens2,
    struct fl_error *err)
{
	struct table full[64], top;
	int have[64] = { 0 };
	unsigned L = 0;
	int rc;

	if (T < 1 || T > FL_TREE_MAX_ROUNDS)
		return fl_error_set(err, FL_EINVAL, "rounds %llu: must be in "
		    "[1, 2^40]", (unsigned long long)T);
	if (b < 1)
		b = 1;
	/* More participations than fit in T rounds b apart change nothing. */
	if (k < 1)
		return fl_error_set(err, FL_EINVAL, "participations: must be "
		    "at least 1");
	if (k > (T - 1) / b + 1)
		k = (T - 1) / b + 1;
	if (b > T)
		b = T;
	if ((double)k * k * (double)(b + 1) * (b + 1) * (b + 1) > 4e10)
		return fl_error_set(err, FL_ELIMIT, "the pattern (%llu "
		    "participations %llu apart) is too large to solve exactly",
		    (unsigned long long)k, (unsigned long long)b);
	while (((uint64_t)1 << L) < T)
		L++;
	full[0].k = k;
	full[0].b = b;
	rc = subtree(&top, L, 1, T, full, have, err);
	for (unsigned h = 0; h <= L; h++)
		if (have[h])
			free(full[h].v);
	if (rc < 0)
		return -1;
	*sens2 = 0;
	for (uint64_t c = 1; c <= k; c++)
		for (uint64_t i = 0; i < (b + 1) * (b + 1); i++) {
			int64_t x = top.v[(c - 1) * (b + 1) * (b + 1) + i];

			if (x > 0 && (uint64_t)x > *sens2)
				*sens2 = (uint64_t)x;
		}
	free(top.v);
	return 0;
}

/* ---- brute force, for the tests ---- */

static uint64_t
objective(const uint64_t *s, size_t n, uint64_t T)
{
	uint64_t sum = 0;

	for (unsigned h = 0; ((uint64_t)1 << h) <= T; h++)
		for (uint64_t j = 0; (j + 1) << h <= T; j++) {
			uint64_t c = 0;

			for (size_t i = 0; i < n; i++)
				c += (s[i] - 1) >> h == j;
			sum += c * c;
		}
	return sum;
}

static uint64_t
brute(uint64_t *s, size_t n, uint64_t next, uint64_t T, uint64_t k,
    uint64_t b)
{
	uint64_t best = n > 0 ? objective(s, n, T) : 0;

	if (n == k)
		return best;
	for (uint64_t r = next; r <= T; r++) {
		uint64_t v;

		s[n] = r;
		v = brute(s, n + 1, r + b, T, k, b);
		if (v > best)
			best = v;
	}
	return best;
}

uint64_t
fl_tree_sens2_brute(uint64_t T, uint64_t k, uint64_t b)
{
	uint64_t s[64];

	if (k > 64)
		k = 64;
	return brute(s, 0, 1, T, k, b < 1 ? 1 : b);
}
