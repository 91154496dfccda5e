/* SPDX-License-Identifier: ISC */
/*
 * DP-FTRL's tree aggregation (Kairouz et al. 2021): the noise of the
 * prefix sum of rounds 1..t from a binary tree whose nodes each carry
 * one Gaussian noise vector, regenerated on demand from a ChaCha20
 * keystream addressed by (tree key, node, tensor, chunk), so that the
 * server keeps a 32-byte secret and a round counter, never a vector.
 *
 * Node (h, j) covers rounds j 2^h + 1 .. (j + 1) 2^h; it is used once
 * complete.  Prefix t is covered by one node per set bit h of t, node
 * (h, (t >> h) - 1).  Going from t - 1 to t (j the lowest set bit of t)
 * drops the j nodes below height j of t - 1's cover and adds node
 * (j, (t >> j) - 1): what a round adds is n(t) - n(t - 1) over those
 * j + 1 nodes, 2 on average.  (For Honaker's estimator those j nodes
 * are the left children down the new node's right spine: one recursion
 * over its subtree, 2^(j+1) - 1 nodes, gives all of them.)
 *
 * Honaker's estimator, as TF Privacy's "efficient" tree aggregation uses
 * it online: a complete node's estimate combines its own noisy value
 * (variance s^2) with the sum of its children's estimates (variance
 * 2 v(h-1)) by inverse variances, so v(h) = 1 / (1/s^2 + 1/(2 v(h-1))),
 * v(0) = s^2; the weights are v(h)/s^2 on the node and v(h)/(2 v(h-1)) on
 * the children's sum, which add up to 1 (unbiased).  Only the subtree
 * is used, never a later round: the estimate is fixed once the node is
 * complete.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "privacy/internal.h"

#define CHUNK FL_TREE_CHUNK
#define MAX_HEIGHT 48

const char *
fl_tree_estimator_name(enum fl_tree_estimator e)
{
	return e == FL_TREE_HONAKER ? "honaker" : "plain";
}

int
fl_tree_estimator_parse(const char *s, enum fl_tree_estimator *e)
{
	if (strcmp(s, "plain") == 0)
		*e = FL_TREE_PLAIN;
	else if (strcmp(s, "honaker") == 0)
		*e = FL_TREE_HONAKER;
	else
		return -1;
	return 0;
}

uint64_t
fl_tree_node_id(unsigned h, uint64_t j)
{
	return (uint64_t)h << 56 | (j & ((UINT64_C(1) << 56) - 1));
}

size_t
fl_tree_cover(uint64_t t, unsigned *h, uint64_t *j)
{
	size_t n = 0;

	for (int b = 63; b >= 0; b--)
		if (t >> b & 1) {
			h[n] = (unsigned)b;
			j[n++] = (t >> b) - 1;
		}
	return n;
}

void
fl_tree_honaker(unsigned h, double *v, double *own, double *child)
{
	double prev = 1, cur = 1;

	for (unsigned k = 1; k <= h; k++) {
		prev = cur;
		cur = 1 / (1 + 1 / (2 * prev));
	}
	*v = cur;
	*own = h == 0 ? 1 : cur;
	*child = h == 0 ? 0 : cur / (2 * prev);
}

double
fl_tree_prefix_var(uint64_t t, enum fl_tree_estimator e)
{
	unsigned h[64];
	uint64_t j[64];
	size_t n = fl_tree_cover(t, h, j);
	double s = 0;

	for (size_t i = 0; i < n; i++) {
		double v, a, b;

		fl_tree_honaker(h[i], &v, &a, &b);
		s += e == FL_TREE_HONAKER ? v : 1;
	}
	return s;
}

void
fl_tree_init(struct fl_tree *tr, const unsigned char secret[FL_RNG_KEYBYTES],
    uint64_t tree_id, enum fl_tree_estimator e, double sigma)
{
	memset(tr, 0, sizeof(*tr));
	fl_rng_derive(tr->key, secret, "ftrl", tree_id);
	tr->estimator = e;
	tr->sigma = sigma;
	tr->threads = 1;
}

void
fl_tree_wipe(struct fl_tree *tr)
{
	sodium_memzero(tr->key, sizeof(tr->key));
}

/* What a pass computes: the signed sum of the estimates of nodes
 * (h[i], j[i]) with sign[i], in grid steps, for tensor tensor_index. */
struct combo {
	const struct fl_tree *tr;
	unsigned h[66];
	uint64_t j[66];
	int sign[66];
	size_t n;
	uint64_t tensor_index, numel;
	double sigma_steps;     /* node noise std in grid steps */
	/* the output: out[] (NULL: apply to x), or the tensor x on grid g */
	double *out;
	struct fl_tensor *x;
	double grid;
	/* Honaker's step: node 0's estimate less those of the left children
	 * down its right spine (t - 1's cover below it), in one pass. */
	int spine;
	atomic_int failed;      /* a chunk could not get its memory */
};

/* Node (h, j)'s stream for tensor tensor_index, chunk c. */
static void
node_stream(struct fl_rng *r, const struct fl_tree *tr, unsigned h,
    uint64_t j, uint64_t tensor_index, uint64_t c)
{
	unsigned char key[FL_RNG_KEYBYTES];

	fl_rng_derive(key, tr->key, "ftrl-nod", fl_tree_node_id(h, j));
	fl_rng_init(r, key, tensor_index << 32 | c);
	sodium_memzero(key, sizeof(key));
}

void
fl_tree_node_normal(const struct fl_tree *tr, unsigned h, uint64_t j,
    uint64_t tensor_index, uint64_t chunk, double *out, size_t n)
{
	struct fl_rng r;

	node_stream(&r, tr, h, j, tensor_index, chunk);
	fl_normal_fill(&r, out, n);
	fl_rng_wipe(&r);
}

/* Node (h, j)'s noise for chunk c: n values, in grid steps (rounded to
 * whole steps for the plain tree, whose sums stay exact integers). */
static void
node_noise(const struct combo *cb, unsigned h, uint64_t j, size_t c,
    double *out, size_t n)
{
	struct fl_rng r;

	if (cb->tr->estimator != FL_TREE_PLAIN) {
		fl_tree_node_normal(cb->tr, h, j, cb->tensor_index, c, out, n);
		for (size_t i = 0; i < n; i++)
			out[i] *= cb->sigma_steps;
		return;
	}
	node_stream(&r, cb->tr, h, j, cb->tensor_index, c);
	fl_normal_steps(&r, out, n, cb->sigma_steps);
	fl_rng_wipe(&r);
}

/* Honaker's estimate of node (h, j) into out; scratch[k] (k < h) is the
 * room for level k's right child. */
static void
estimate(const struct combo *cb, unsigned h, uint64_t j, size_t c,
    double *out, double **scratch, size_t n)
{
	double v, a, b, *s;

	if (h == 0) {
		node_noise(cb, 0, j, c, out, n);
		return;
	}
	s = scratch[h - 1];
	estimate(cb, h - 1, 2 * j, c, out, scratch, n);
	estimate(cb, h - 1, 2 * j + 1, c, s, scratch, n);
	for (size_t i = 0; i < n; i++)
		out[i] += s[i];
	node_noise(cb, h, j, c, s, n);
	fl_tree_honaker(h, &v, &a, &b);
	for (size_t i = 0; i < n; i++)
		out[i] = a * s[i] + b * out[i];
}

/* estimate() of node (h, j) into out, and from acc the estimates of the
 * left children down its right spine: the nodes of the cover of the
 * round before the subtree's last (what a round's step takes off), found
 * on the way at no cost of their own. */
static void
estimate_spine(const struct combo *cb, unsigned h, uint64_t j, size_t c,
    double *out, double **scratch, size_t n, double *acc)
{
	double v, a, b, *s;

	if (h == 0) {
		node_noise(cb, 0, j, c, out, n);
		return;
	}
	s = scratch[h - 1];
	estimate(cb, h - 1, 2 * j, c, out, scratch, n);
	for (size_t i = 0; i < n; i++)
		acc[i] -= out[i];
	estimate_spine(cb, h - 1, 2 * j + 1, c, s, scratch, n, acc);
	for (size_t i = 0; i < n; i++)
		out[i] += s[i];
	node_noise(cb, h, j, c, s, n);
	fl_tree_honaker(h, &v, &a, &b);
	for (size_t i = 0; i < n; i++)
		out[i] = a * s[i] + b * out[i];
}

static void
combo_chunk(void *ctx, size_t c)
{
	const struct combo *cb = ctx;
	uint64_t from = (uint64_t)c * CHUNK, n = cb->numel - from;
	unsigned maxh = 0, levels;
	double two[2 * CHUNK], *acc, *buf, *scratch[MAX_HEIGHT];

	if (n > CHUNK)
		n = CHUNK;
	/* The sum, one node's values, and for Honaker's recursion a level
	 * of scratch per height. */
	if (cb->tr->estimator == FL_TREE_HONAKER)
		for (size_t k = 0; k < cb->n; k++)
			if (cb->h[k] > maxh)
				maxh = cb->h[k];
	levels = maxh + 2;
	/* The plain tree's two buffers on the stack (as dp.c's): a fresh
	 * heap block of this size would be mapped, and faulted in, anew for
	 * every chunk. */
	acc = maxh == 0 ? two : malloc((size_t)levels * CHUNK *
	    sizeof(double));
	if (acc == NULL) {
		atomic_store(&((struct combo *)ctx)->failed, 1);
		return;
	}
	buf = acc + CHUNK;
	for (unsigned k = 0; k < maxh; k++)
		scratch[k] = buf + (size_t)(k + 1) * CHUNK;
	if (cb->spine) {
		memset(acc, 0, n * sizeof(*acc));
		estimate_spine(cb, cb->h[0], cb->j[0], c, buf, scratch, n, acc);
		for (uint64_t i = 0; i < n; i++)
			acc[i] += buf[i];
	}
	for (size_t k = 0; k < cb->n && !cb->spine; k++) {
		/* The first node straight into the sum. */
		double *out = k == 0 ? acc : buf;

		if (cb->tr->estimator == FL_TREE_PLAIN)
			node_noise(cb, cb->h[k], cb->j[k], c, out, n);
		else
			estimate(cb, cb->h[k], cb->j[k], c, out, scratch, n);
		if (k == 0 && cb->sign[0] < 0)
			for (uint64_t i = 0; i < n; i++)
				acc[i] = -acc[i];
		else if (k > 0 && cb->sign[k] > 0)
			for (uint64_t i = 0; i < n; i++)
				acc[i] += buf[i];
		else if (k > 0)
			for (uint64_t i = 0; i < n; i++)
				acc[i] -= buf[i];
	}
	if (cb->out != NULL) {
		for (uint64_t i = 0; i < n; i++)
			cb->out[from + i] = acc[i] * cb->grid;
	} else {
		/* x snapped to the grid plus whole steps of noise: the
		 * output is a lattice point (see dp.c); rounding the noise
		 * to whole steps rounds the sum, x being on the grid.  The
		 * plain tree's sum is whole steps already. */
		if (cb->tr->estimator != FL_TREE_PLAIN)
			for (uint64_t i = 0; i < n; i++)
				acc[i] = fl_round_int(acc[i]);
		if (cb->x->dtype == FL_F32)
			fl_add_steps_f32((float *)cb->x->data + from, acc, n,
			    1 / cb->grid, cb->grid);
		else
			fl_add_steps_f64((double *)cb->x->data + from, acc, n,
			    1 / cb->grid, cb->grid);
	}
	/* The noise was the secret's: wipe what held it. */
	sodium_memzero(acc, (size_t)levels * CHUNK * sizeof(double));
	if (acc != two)
		free(acc);
}

static int
run(struct combo *cb, struct fl_error *err)
{
	if (!(cb->tr->sigma > 0) || !isfinite(cb->tr->sigma))
		return fl_error_set(err, FL_EINVAL, "tree noise of std %g: "
		    "must be positive and finite", cb->tr->sigma);
	for (size_t k = 0; k < cb->n; k++)
		if (cb->h[k] >= MAX_HEIGHT)
			return fl_error_set(err, FL_EINVAL, "tree too tall");
	cb->grid = fl_noise_grid(cb->tr->sigma);
	cb->sigma_steps = cb->tr->sigma / cb->grid;
	atomic_init(&cb->failed, 0);
	if (fl_parallel_for((cb->numel + CHUNK - 1) / CHUNK,
	    cb->tr->threads, combo_chunk, cb, err) < 0)
		return -1;
	if (atomic_load(&cb->failed))
		return fl_error_set(err, FL_ENOMEM, "out of memory for the "
		    "tree's noise");
	return 0;
}

int
fl_tree_prefix_noise(const struct fl_tree *tr, uint64_t t,
    uint64_t tensor_index, double *out, uint64_t numel, struct fl_error *err)
{
	struct combo cb;

	memset(&cb, 0, sizeof(cb));
	cb.tr = tr;
	cb.n = fl_tree_cover(t, cb.h, cb.j);
	for (size_t k = 0; k < cb.n; k++)
		cb.sign[k] = 1;
	cb.tensor_index = tensor_index;
	cb.numel = numel;
	cb.out = out;
	if (cb.n == 0) {
		memset(out, 0, numel * sizeof(*out));
		return 0;
	}
	return run(&cb, err);
}

int
fl_tree_check_tensor(const struct fl_tensor *x, double sigma,
    struct fl_error *err)
{
	double limit;

	if (x->dtype != FL_F32 && x->dtype != FL_F64)
		return fl_error_set(err, FL_EINVAL, "tensor '%s': tree noise "
		    "takes f32 or f64, not %s", x->name,
		    fl_dtype_name(x->dtype));
	/* Snapped values and the noise must stay exact integers in a
	 * double: below 2^50 grid steps, as dp.c asks. */
	if (sigma > 0 && isfinite(sigma)) {
		uint64_t i;

		limit = ldexp(fl_noise_grid(sigma), 50);
		if ((i = fl_find_bad(x, limit)) < x->numel)
			return fl_error_set(err, FL_EINVAL,
			    isfinite(fl_tensor_get(x, i)) ?
			    "tensor '%s': value at index %llu is too "
			    "large for the noise grid" : "tensor '%s': "
			    "non-finite value at index %llu", x->name,
			    (unsigned long long)i);
	}
	return 0;
}

int
fl_tree_noise_tensor(struct fl_tensor *x, uint64_t tensor_index, uint64_t t,
    const struct fl_tree *tr, struct fl_error *err)
{
	struct combo cb;
	unsigned low;

	if (t < 1 || t > FL_TREE_MAX_ROUNDS)
		return fl_error_set(err, FL_EINVAL, "tree round %llu: must "
		    "be in [1, 2^40]", (unsigned long long)t);
	if (fl_tree_check_tensor(x, tr->sigma, err) < 0)
		return -1;
	memset(&cb, 0, sizeof(cb));
	cb.tr = tr;
	cb.tensor_index = tensor_index;
	cb.numel = x->numel;
	cb.x = x;
	/* n(t) - n(t - 1): node (low, t >> low - 1) in, the nodes of t - 1
	 * below height low out. */
	low = (unsigned)__builtin_ctzll(t);
	cb.h[0] = low;
	cb.j[0] = (t >> low) - 1;
	cb.sign[0] = 1;
	cb.n = 1;
	cb.spine = tr->estimator == FL_TREE_HONAKER;
	for (unsigned h = 0; h < low && !cb.spine; h++) {
		cb.h[cb.n] = h;
		cb.j[cb.n] = ((t - 1) >> h) - 1;
		cb.sign[cb.n++] = -1;
	}
	return run(&cb, err);
}
