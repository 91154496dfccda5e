/* SPDX-License-Identifier: ISC */
/*
 * Training and evaluation: minibatch SGD with momentum, weight decay and
 * the FedProx term; DP-SGD (per-example clipping, Gaussian noise); the
 * forward pass for evaluation.
 *
 * A step runs in two phases.  Phase 1 is row-parallel: each block of four
 * examples goes forward through every layer, through the softmax and back
 * to the gradient of every layer's output (delta), and for DP-SGD gets its
 * clip factor.  Phase 2 is parallel over the rows of the weight matrices:
 * each row of the gradient in^T . delta is summed over the batch in
 * example order and the optimizer updates that row.  Every value is
 * computed by one unit of work whose arithmetic does not depend on which
 * thread runs it, so the result is the same for any thread count.
 *
 * The kernels are plain C loops over fixed 16-float column blocks and
 * four rows at a time, which compilers keep in vector registers; on
 * x86-64 with GCC they are also compiled for AVX2 and AVX-512 and chosen
 * at load time.  Floating-point contraction stays off (ISO C mode), so the
 * clones compute bit-identical results.  Inputs that are exactly zero
 * (half of Fashion-MNIST's pixels, and of the ReLU outputs) are skipped.
 *
 * Per-example gradient norms for DP-SGD come without per-example
 * gradients: for a dense layer the gradient of example i is the outer
 * product a_i delta_i^T, whose squared norm is |a_i|^2 |delta_i|^2 (plus
 * |delta_i|^2 for the bias).  Clipping scales delta_i, and the clipped sum
 * is the same in^T . delta product as without DP.
 */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "base/internal.h"
#include "learn/learn.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__linux__)
#define KERNEL __attribute__((target_clones("default", "avx2", \
    "arch=x86-64-v4")))
#else
#define KERNEL
#endif

#define NB 16                   /* columns per block */
#define RB 4                    /* rows per block */
#define MAX_THREADS 64
#define EVAL_ROWS 256

/* ---- a small persistent thread pool ---- */

typedef void (*unit_fn)(void *ctx, size_t unit, int tid);

struct pool {
	int n;                  /* threads, the caller included */
	pthread_t tid[MAX_THREADS];
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	unsigned long gen;
	int busy, quit;
	unit_fn fn;
	void *ctx;
	size_t units;
	atomic_size_t next;
};

struct worker_arg {
	struct pool *p;
	int id;
};

static void
run_units(struct pool *p, int id)
{
	size_t u;

	while ((u = atomic_fetch_add(&p->next, 1)) < p->units)
		p->fn(p->ctx, u, id);
}

static void *
worker(void *arg)
{
	struct worker_arg *wa = arg;
	struct pool *p = wa->p;
	int id = wa->id;
	unsigned long seen = 0;

	free(wa);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->gen == seen && !p->quit)
			pthread_cond_wait(&p->go, &p->mu);
		if (p->quit)
			break;
		seen = p->gen;
		pthread_mutex_unlock(&p->mu);
		run_units(p, id);
		pthread_mutex_lock(&p->mu);
		if (--p->busy == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static int
pool_start(struct pool *p, int n, struct fl_error *err)
{
	memset(p, 0, sizeof(*p));
	if (n < 1)
		n = 1;
	if (n > MAX_THREADS)
		n = MAX_THREADS;
	p->n = 1;
	if (n == 1)
		return 0;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->go, NULL);
	pthread_cond_init(&p->done, NULL);
	for (int i = 1; i < n; i++) {
		struct worker_arg *wa = malloc(sizeof(*wa));

		if (wa == NULL)
			return fl_error_set(err, FL_ENOMEM, "out of memory");
		wa->p = p;
		wa->id = i;
		if (pthread_create(&p->tid[i], NULL, worker, wa) != 0) {
			free(wa);
			break;
		}
		p->n++;
	}
	return 0;
}

static void
pool_run(struct pool *p, unit_fn fn, void *ctx, size_t units)
{
	p->fn = fn;
	p->ctx = ctx;
	p->units = units;
	atomic_store(&p->next, 0);
	if (p->n == 1 || units == 1) {
		run_units(p, 0);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->gen++;
	p->busy = p->n - 1;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	run_units(p, 0);
	pthread_mutex_lock(&p->mu);
	while (p->busy > 0)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

static void
pool_stop(struct pool *p)
{
	if (p->n == 1)
		return;
	pthread_mutex_lock(&p->mu);
	p->quit = 1;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	for (int i = 1; i < p->n; i++)
		pthread_join(p->tid[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->go);
	pthread_cond_destroy(&p->done);
}

/* ---- kernels ---- */

static inline int
zero4(const float *a, const float *b, const float *c, const float *d)
{
	uint32_t u0, u1, u2, u3;

	memcpy(&u0, a, 4);
	memcpy(&u1, b, 4);
	memcpy(&u2, c, 4);
	memcpy(&u3, d, 4);
	return ((u0 | u1 | u2 | u3) << 1) == 0;         /* +0 or -0 */
}

static inline int
zero1(const float *a)
{
	uint32_t u;

	memcpy(&u, a, 4);
	return (u << 1) == 0;
}

/*
 * The k worth visiting: those where one of the rows has a nonzero input.
 * Building the list without branches costs less than the mispredicted
 * branches of testing inside the product, where zeros fall at random.
 */
#define CHUNK 512

static inline size_t
nonzero4(size_t k0, size_t k1, const float *a0, const float *a1,
    const float *a2, const float *a3, uint32_t *list)
{
	size_t n = 0;

	for (size_t k = k0; k < k1; k++) {
		list[n] = (uint32_t)k;
		n += !zero4(a0 + k, a1 + k, a2 + k, a3 + k);
	}
	return n;
}

/*
 * Four rows: C[r][:] = bias + sum over k of A[r][k] * W[k][:], k in
 * order, over the k where one of the four A[r][k] is not zero.  (bias
 * NULL: zero.)
 */
KERNEL static void
fwd4(size_t K, size_t N, const float *restrict A, size_t lda,
    const float *restrict W, const float *restrict bias, float *restrict C,
    size_t ldc)
{
	const float *a0 = A, *a1 = A + lda, *a2 = A + 2 * lda,
	    *a3 = A + 3 * lda;
	float *c0 = C, *c1 = C + ldc, *c2 = C + 2 * ldc, *c3 = C + 3 * ldc;
	uint32_t list[CHUNK];

	for (size_t j = 0; j < N; j++)
		c0[j] = c1[j] = c2[j] = c3[j] = bias ? bias[j] : 0;
	for (size_t kc = 0; kc < K; kc += CHUNK) {
		size_t kend = K - kc < CHUNK ? K : kc + CHUNK;
		size_t nk = nonzero4(kc, kend, a0, a1, a2, a3, list), j0 = 0;

		for (; j0 + NB <= N; j0 += NB) {
			float acc0[NB], acc1[NB], acc2[NB], acc3[NB];

			for (int j = 0; j < NB; j++) {
				acc0[j] = c0[j0 + j];
				acc1[j] = c1[j0 + j];
				acc2[j] = c2[j0 + j];
				acc3[j] = c3[j0 + j];
			}
			for (size_t i = 0; i < nk; i++) {
				size_t k = list[i];
				const float *w = W + k * N + j0;
				float x0 = a0[k], x1 = a1[k], x2 = a2[k],
				    x3 = a3[k];

				for (int j = 0; j < NB; j++) {
					acc0[j] += x0 * w[j];
					acc1[j] += x1 * w[j];
					acc2[j] += x2 * w[j];
					acc3[j] += x3 * w[j];
				}
			}
			for (int j = 0; j < NB; j++) {
				c0[j0 + j] = acc0[j];
				c1[j0 + j] = acc1[j];
				c2[j0 + j] = acc2[j];
				c3[j0 + j] = acc3[j];
			}
		}
		for (; j0 < N; j0++) {
			float s0 = c0[j0], s1 = c1[j0], s2 = c2[j0],
			    s3 = c3[j0];

			for (size_t i = 0; i < nk; i++) {
				size_t k = list[i];
				float w = W[k * N + j0];

				s0 += a0[k] * w;
				s1 += a1[k] * w;
				s2 += a2[k] * w;
				s3 += a3[k] * w;
			}
			c0[j0] = s0;
			c1[j0] = s1;
			c2[j0] = s2;
			c3[j0] = s3;
		}
	}
}

/* One row, for the rows of a batch after its last full block of four. */
KERNEL static void
fwd1(size_t K, size_t N, const float *restrict a, const float *restrict W,
    const float *restrict bias, float *restrict c)
{
	uint32_t list[CHUNK];

	for (size_t j = 0; j < N; j++)
		c[j] = bias ? bias[j] : 0;
	for (size_t kc = 0; kc < K; kc += CHUNK) {
		size_t kend = K - kc < CHUNK ? K : kc + CHUNK;
		size_t nk = 0, j0 = 0;

		for (size_t k = kc; k < kend; k++) {
			list[nk] = (uint32_t)k;
			nk += !zero1(a + k);
		}
		for (; j0 + NB <= N; j0 += NB) {
			float acc[NB];

			for (int j = 0; j < NB; j++)
				acc[j] = c[j0 + j];
			for (size_t i = 0; i < nk; i++) {
				const float *w = W + list[i] * N + j0;
				float x = a[list[i]];

				for (int j = 0; j < NB; j++)
					acc[j] += x * w[j];
			}
			for (int j = 0; j < NB; j++)
				c[j0 + j] = acc[j];
		}
		for (; j0 < N; j0++) {
			float s = c[j0];

			for (size_t i = 0; i < nk; i++)
				s += a[list[i]] * W[list[i] * N + j0];
			c[j0] = s;
		}
	}
}

/*
 * Four rows k0..k0+3 of a weight gradient: G[r][:] = sum over examples
 * i < M of A[i][k0 + r] * D[i][:], i in order (A: the layer's inputs, K
 * apart), over the examples with one of the four inputs not zero.
 */
KERNEL static void
wgrad4(size_t M, size_t N, const float *restrict A, size_t K,
    const float *restrict D, float *restrict G)
{
	float *g0 = G, *g1 = G + N, *g2 = G + 2 * N, *g3 = G + 3 * N;
	uint32_t list[CHUNK];

	for (size_t j = 0; j < 4 * N; j++)
		G[j] = 0;
	for (size_t ic = 0; ic < M; ic += CHUNK) {
		size_t iend = M - ic < CHUNK ? M : ic + CHUNK;
		size_t ni = 0, j0 = 0;

		for (size_t i = ic; i < iend; i++) {
			const float *a = A + i * K;

			list[ni] = (uint32_t)i;
			ni += !zero4(a, a + 1, a + 2, a + 3);
		}
		for (; j0 + NB <= N; j0 += NB) {
			float acc0[NB], acc1[NB], acc2[NB], acc3[NB];

			for (int j = 0; j < NB; j++) {
				acc0[j] = g0[j0 + j];
				acc1[j] = g1[j0 + j];
				acc2[j] = g2[j0 + j];
				acc3[j] = g3[j0 + j];
			}
			for (size_t t = 0; t < ni; t++) {
				const float *a = A + list[t] * K;
				const float *d = D + list[t] * N + j0;
				float x0 = a[0], x1 = a[1], x2 = a[2], x3 = a[3];

				for (int j = 0; j < NB; j++) {
					acc0[j] += x0 * d[j];
					acc1[j] += x1 * d[j];
					acc2[j] += x2 * d[j];
					acc3[j] += x3 * d[j];
				}
			}
			for (int j = 0; j < NB; j++) {
				g0[j0 + j] = acc0[j];
				g1[j0 + j] = acc1[j];
				g2[j0 + j] = acc2[j];
				g3[j0 + j] = acc3[j];
			}
		}
		for (; j0 < N; j0++) {
			float s0 = g0[j0], s1 = g1[j0], s2 = g2[j0],
			    s3 = g3[j0];

			for (size_t t = 0; t < ni; t++) {
				const float *a = A + list[t] * K;
				float d = D[list[t] * N + j0];

				s0 += a[0] * d;
				s1 += a[1] * d;
				s2 += a[2] * d;
				s3 += a[3] * d;
			}
			g0[j0] = s0;
			g1[j0] = s1;
			g2[j0] = s2;
			g3[j0] = s3;
		}
	}
}

/* One row of a weight gradient (the rows after the last block of 4). */
KERNEL static void
wgrad1(size_t M, size_t N, const float *restrict A, size_t K,
    const float *restrict D, float *restrict g)
{
	for (size_t j = 0; j < N; j++)
		g[j] = 0;
	for (size_t i = 0; i < M; i++) {
		const float *d = D + i * N;
		float x = A[i * K];

		if (zero1(A + i * K))
			continue;
		for (size_t j = 0; j < N; j++)
			g[j] += x * d[j];
	}
}

/*
 * The loops below have run-time lengths: written as blocks of 16 with a
 * fixed trip count, they vectorise at -O2 too, where GCC will not add
 * the scalar remainder loop a run-time length needs.
 */

/* The bias gradient: g = sum over i < M of D[i][:]. */
KERNEL static void
bgrad(size_t M, size_t N, const float *restrict D, float *restrict g)
{
	memset(g, 0, N * sizeof(float));
	for (size_t i = 0; i < M; i++) {
		const float *d = D + i * N;
		size_t j = 0;

		for (; j + NB <= N; j += NB)
			for (int u = 0; u < NB; u++)
				g[j + u] += d[j + u];
		for (; j < N; j++)
			g[j] += d[j];
	}
}

/* ReLU in place. */
KERNEL static void
relu(size_t n, float *restrict x)
{
	size_t i = 0;

	for (; i + NB <= n; i += NB)
		for (int u = 0; u < NB; u++)
			x[i + u] = x[i + u] > 0 ? x[i + u] : 0;
	for (; i < n; i++)
		x[i] = x[i] > 0 ? x[i] : 0;
}

/* ReLU's derivative: zero where the layer's output was not positive. */
KERNEL static void
relu_mask(size_t n, float *restrict d, const float *restrict act)
{
	size_t i = 0;

	for (; i + NB <= n; i += NB)
		for (int u = 0; u < NB; u++)
			d[i + u] = act[i + u] > 0 ? d[i + u] : 0;
	for (; i < n; i++)
		d[i] = act[i] > 0 ? d[i] : 0;
}

/* Sum of squares in 16 partial sums, added in a fixed order. */
static double
sumsq(size_t n, const float *x)
{
	double part[NB] = { 0 }, s = 0;
	size_t i = 0;

	for (; i + NB <= n; i += NB)
		for (int u = 0; u < NB; u++)
			part[u] += (double)x[i + u] * x[i + u];
	for (; i < n; i++)
		s += (double)x[i] * x[i];
	for (int u = 0; u < NB; u++)
		s += part[u];
	return s;
}

static void
scale_vec(size_t n, float *x, float c)
{
	size_t i = 0;

	for (; i + NB <= n; i += NB)
		for (int u = 0; u < NB; u++)
			x[i + u] *= c;
	for (; i < n; i++)
		x[i] *= c;
}

struct upd {
	float gscale;           /* 1/batch */
	float lr, mom, wd, mu;
};

/*
 * Parameters w[0..n): SGD with momentum (v), weight decay and the FedProx
 * term (w0), each only when asked for.
 */
#define UPDATE_LOOP(body) do {						\
	size_t j = 0;							\
	for (; j + NB <= n; j += NB)					\
		for (size_t jj = j; jj < j + NB; jj++) { body(jj); }	\
	for (; j < n; j++) { body(j); }					\
} while (0)

KERNEL static void
update_row(size_t n, float *restrict w, float *restrict v,
    const float *restrict w0, const float *restrict g, const struct upd *u)
{
	const float gs = u->gscale, lr = u->lr, mom = u->mom, wd = u->wd,
	    mu = u->mu;

#define MOM_PROX(j) do {						\
	float gj = g[j] * gs + wd * w[j] + mu * (w[j] - w0[j]);		\
	v[j] = mom * v[j] + gj;						\
	w[j] -= lr * v[j];						\
} while (0)
#define MOM(j) do {							\
	v[j] = mom * v[j] + (g[j] * gs + wd * w[j]);			\
	w[j] -= lr * v[j];						\
} while (0)
#define PROX(j) (w[j] -= lr * (g[j] * gs + wd * w[j] + mu * (w[j] - w0[j])))
#define DECAY(j) (w[j] -= lr * (g[j] * gs + wd * w[j]))
#define PLAIN(j) (w[j] -= lr * (g[j] * gs))
	if (v != NULL && w0 != NULL)
		UPDATE_LOOP(MOM_PROX);
	else if (v != NULL)
		UPDATE_LOOP(MOM);
	else if (w0 != NULL)
		UPDATE_LOOP(PROX);
	else if (wd != 0)
		UPDATE_LOOP(DECAY);
	else
		UPDATE_LOOP(PLAIN);
#undef MOM_PROX
#undef MOM
#undef PROX
#undef DECAY
#undef PLAIN
}

/* ---- Gaussian noise, on a grid ---- */

/*
 * DP-SGD's noise is fl-clip-noise's: the sum of the clipped gradients is
 * snapped to a power-of-two grid g (fl_noise_grid of the noise's std) and
 * whole grid steps of noise (fl_normal_steps) are added, so that every
 * output is a multiple of g whatever the gradients' low bits (Mironov
 * 2012).  Parameter p's noise comes from stream p / NOISE_CHUNK of the
 * step's key, so every parameter gets the same noise whichever thread
 * draws it.  The sampler's tail ends below 14 sigma, 2^19 grid steps at
 * most times 14: whole numbers below 2^24, exact in a float.
 */
#define NOISE_CHUNK 8192

static void
noise_chunk(float *out, size_t n, double steps_sd, const unsigned char *key,
    uint64_t p0, double *buf)
{
	struct fl_rng r;

	fl_rng_init(&r, key, p0 / NOISE_CHUNK);
	fl_normal_steps(&r, buf, n, steps_sd);
	for (size_t i = 0; i < n; i++)
		out[i] = (float)buf[i];
	fl_rng_wipe(&r);
	memset(buf, 0, n * sizeof(*buf));
}

/* g = (round(g / grid) + z) grid: the sum snapped, the noise's steps added
 * exactly in double (both below 2^52 steps). */
KERNEL static void
snap_add(size_t n, float *restrict g, const float *restrict z, double grid)
{
	double inv = 1 / grid;          /* a power of two: exact */

	for (size_t i = 0; i < n; i++)
		g[i] = (float)((fl_round_int(g[i] * inv) + z[i]) * grid);
}

/* ---- the network's working memory for a batch ---- */

struct net {
	const struct fl_model *m;
	const struct fl_data *d;
	const struct fl_prep *prep;
	int L;
	size_t cap;                             /* rows */
	float *act[FL_MAX_LAYERS + 1];          /* act[0]: inputs */
	float *wT[FL_MAX_LAYERS];               /* w[l] transposed, l >= 1 */
	float *delta[FL_MAX_LAYERS];            /* d loss / d output of l */
	double *loss;
	uint32_t *pred;
	float *scale;                           /* DP clip factors */
	float *gbuf[MAX_THREADS];               /* RB rows of gradient */
	double *nbuf[MAX_THREADS];              /* their noise's steps */
	size_t gcap;
	/* the batch */
	const uint64_t *idx;
	uint64_t first;
	size_t rows;
	int train;
	const float *class_weights;
	int dp;
	double clip;
};

static void
net_free(struct net *t)
{
	for (int l = 0; l <= FL_MAX_LAYERS; l++)
		free(t->act[l]);
	for (int l = 0; l < FL_MAX_LAYERS; l++) {
		free(t->wT[l]);
		free(t->delta[l]);
	}
	for (int i = 0; i < MAX_THREADS; i++) {
		free(t->gbuf[i]);
		free(t->nbuf[i]);
	}
	free(t->loss);
	free(t->pred);
	free(t->scale);
	memset(t->act, 0, sizeof(t->act));
	memset(t->wT, 0, sizeof(t->wT));
	memset(t->delta, 0, sizeof(t->delta));
	memset(t->gbuf, 0, sizeof(t->gbuf));
	memset(t->nbuf, 0, sizeof(t->nbuf));
	t->loss = NULL;
	t->pred = NULL;
	t->scale = NULL;
}

static void *
xalloc(size_t nfloats)
{
	return fl_alloc_aligned((nfloats ? nfloats : 1) * sizeof(float));
}

/* Room for rows examples (rounded up to a block).  Returns 0 or -1. */
static int
net_reserve(struct net *t, size_t rows, int threads, int train)
{
	const struct fl_arch *a = &t->m->arch;
	size_t cap = (rows + RB - 1) / RB * RB, maxw = 0;

	if (cap <= t->cap)
		return 0;
	net_free(t);
	t->cap = cap;
	t->L = a->layers;
	for (int l = 0; l <= a->layers; l++) {
		if ((t->act[l] = xalloc(cap * a->sizes[l])) == NULL)
			return -1;
		if (a->sizes[l] > maxw)
			maxw = a->sizes[l];
	}
	if ((t->loss = malloc(cap * sizeof(double))) == NULL ||
	    (t->pred = malloc(cap * sizeof(uint32_t))) == NULL ||
	    (t->scale = xalloc(cap)) == NULL)
		return -1;
	if (!train)
		return 0;
	for (int l = 0; l < a->layers; l++)
		if ((t->delta[l] = xalloc(cap * a->sizes[l + 1])) == NULL ||
		    (l > 0 && (t->wT[l] = xalloc(a->sizes[l] *
		    a->sizes[l + 1])) == NULL))
			return -1;
	for (int i = 0; i < threads; i++)
		if ((t->gbuf[i] = xalloc(RB * maxw)) == NULL ||
		    (t->dp && (t->nbuf[i] = fl_alloc_aligned(NOISE_CHUNK *
		    sizeof(double))) == NULL))
			return -1;
	return 0;
}

/* Softmax cross-entropy of one row of logits z (C classes). */
static void
softmax_row(float *z, size_t C, int32_t y, float wy, int train, double *loss,
    uint32_t *pred)
{
	float zmax = z[0];
	uint32_t arg = 0;
	double s = 0;

	for (size_t j = 1; j < C; j++)
		if (z[j] > zmax) {
			zmax = z[j];
			arg = (uint32_t)j;
		}
	*pred = arg;
	for (size_t j = 0; j < C; j++)
		s += exp((double)z[j] - zmax);
	*loss = wy * (log(s) + zmax - z[y]);
	if (!train)
		return;
	for (size_t j = 0; j < C; j++)
		z[j] = (float)(wy * (exp((double)z[j] - zmax) / s));
	z[y] -= wy;
}

/* The backward pass reads w[l] by columns: keep a transposed copy. */
static void
transpose_weights(struct net *t)
{
	const struct fl_arch *a = &t->m->arch;

	for (int l = 1; l < t->L; l++) {
		size_t K = a->sizes[l], N = a->sizes[l + 1];
		const float *w = t->m->w[l];
		float *wt = t->wT[l];

		for (size_t k = 0; k < K; k++)
			for (size_t n = 0; n < N; n++)
				wt[n * K + k] = w[k * N + n];
	}
}

/* Phase 1 for rows [RB*u, RB*u + RB) of the batch. */
static void
phase1(void *ctx, size_t u, int tid)
{
	struct net *t = ctx;
	const struct fl_arch *a = &t->m->arch;
	const struct fl_model *m = t->m;
	size_t r0 = u * RB, nr = t->rows - r0 < RB ? t->rows - r0 : RB;
	size_t C = a->sizes[t->L];

	(void)tid;
	fl_data_get(t->d, t->prep, t->idx ? t->idx + r0 : NULL, t->first + r0,
	    nr, t->act[0] + r0 * a->sizes[0]);
	for (int l = 0; l < t->L; l++) {
		size_t K = a->sizes[l], N = a->sizes[l + 1];
		float *in = t->act[l] + r0 * K, *out = t->act[l + 1] + r0 * N;

		if (nr == RB)
			fwd4(K, N, in, K, m->w[l], m->b[l], out, N);
		else
			for (size_t r = 0; r < nr; r++)
				fwd1(K, N, in + r * K, m->w[l], m->b[l],
				    out + r * N);
		if (l + 1 < t->L)
			relu(nr * N, out);
	}
	for (size_t r = r0; r < r0 + nr; r++) {
		uint64_t ex = t->idx ? t->idx[r] : t->first + r;
		int32_t y = t->d->y[ex];
		float wy = t->class_weights ? t->class_weights[y] : 1.0f;

		softmax_row(t->act[t->L] + r * C, C, y, wy, t->train,
		    &t->loss[r], &t->pred[r]);
	}
	if (!t->train)
		return;
	/* delta of the last layer is the softmax's gradient, in place */
	memcpy(t->delta[t->L - 1] + r0 * C, t->act[t->L] + r0 * C,
	    nr * C * sizeof(float));
	for (int l = t->L - 1; l > 0; l--) {
		size_t K = a->sizes[l], N = a->sizes[l + 1];

		float *in = t->delta[l] + r0 * N, *out = t->delta[l - 1] +
		    r0 * K;

		/* delta[l-1] = delta[l] . w[l]^T, masked by the ReLU */
		if (nr == RB)
			fwd4(N, K, in, N, t->wT[l], NULL, out, K);
		else
			for (size_t r = 0; r < nr; r++)
				fwd1(N, K, in + r * N, t->wT[l], NULL,
				    out + r * K);
		relu_mask(nr * K, out, t->act[l] + r0 * K);
	}
	if (t->dp) {
		for (size_t r = r0; r < r0 + nr; r++) {
			double norm2 = 0, c;

			for (int l = 0; l < t->L; l++) {
				size_t K = a->sizes[l], N = a->sizes[l + 1];
				const float *x = t->act[l] + r * K;
				const float *dl = t->delta[l] + r * N;

				/* 1 + |a|^2: the bias's input is 1 */
				norm2 += (1 + sumsq(K, x)) * sumsq(N, dl);
			}
			/* An example whose loss or gradient is not finite
			 * gives nothing, not NaN to every weight: its
			 * clipped contribution could be anything within C
			 * anyway.  Its inputs go too (inf times 0 is NaN);
			 * its loss stays NaN for the caller to count. */
			if (!isfinite(norm2) || !isfinite(t->loss[r])) {
				for (int l = 0; l < t->L; l++) {
					memset(t->act[l] + r * a->sizes[l], 0,
					    a->sizes[l] * sizeof(float));
					memset(t->delta[l] + r * a->sizes[l + 1],
					    0, a->sizes[l + 1] * sizeof(float));
				}
				t->loss[r] = NAN;
				t->scale[r] = 0;
				continue;
			}
			c = norm2 > t->clip * t->clip ? t->clip / sqrt(norm2) :
			    1.0;
			t->scale[r] = (float)c;
			if (c < 1.0)
				for (int l = 0; l < t->L; l++)
					scale_vec(a->sizes[l + 1], t->delta[l] +
					    r * a->sizes[l + 1], (float)c);
		}
	}
}

/* Phase 2: the units of layer l are its row blocks, then its bias. */
struct step {
	struct net *t;
	struct fl_model *m;
	const struct fl_model *global;
	float *vel;             /* momentum, parallel to m->params, or NULL */
	struct upd upd;
	size_t ustart[FL_MAX_LAYERS + 1];
	const unsigned char *noise_key; /* this step's, or NULL */
	double grid, steps_sd;          /* the noise's grid, std in steps */
	float *noise;                   /* the step's noise, per parameter */
};

static float *
par(const struct fl_model *m, float *base, const float *p)
{
	return base ? base + (p - m->params) : NULL;
}

static void
phase2(void *ctx, size_t u, int tid)
{
	struct step *s = ctx;
	struct net *t = s->t;
	struct fl_model *m = s->m;
	const struct fl_arch *a = &m->arch;
	float *g = t->gbuf[tid];
	int l = 0;
	size_t K, N, blk, rows, k0;
	float *w, *v;
	const float *w0;

	while (u >= s->ustart[l + 1])
		l++;
	blk = u - s->ustart[l];
	K = a->sizes[l];
	N = a->sizes[l + 1];
	if (blk == (K + RB - 1) / RB) {                 /* the bias */
		bgrad(t->rows, N, t->delta[l], g);
		w = m->b[l];
		rows = 1;
		k0 = K;
	} else {
		k0 = blk * RB;
		rows = K - k0 < RB ? K - k0 : RB;
		if (rows == RB)
			wgrad4(t->rows, N, t->act[l] + k0, K, t->delta[l], g);
		else
			for (size_t r = 0; r < rows; r++)
				wgrad1(t->rows, N, t->act[l] + k0 + r, K,
				    t->delta[l], g + r * N);
		w = m->w[l] + k0 * N;
	}
	v = par(m, s->vel, w);
	w0 = s->global && s->upd.mu != 0 ? s->global->params + (w -
	    m->params) : NULL;
	if (s->noise_key != NULL)
		snap_add(rows * N, g, s->noise + (w - m->params), s->grid);
	update_row(rows * N, w, v, w0, g, &s->upd);
}

/* The noise of a step, chunk u of the parameter block (gaps included:
 * phase 2 reads only the parameters' entries). */
static void
phase_noise(void *ctx, size_t u, int tid)
{
	struct step *s = ctx;
	size_t p0 = u * NOISE_CHUNK, n = s->m->nfloats - p0;

	if (n > NOISE_CHUNK)
		n = NOISE_CHUNK;
	noise_chunk(s->noise + p0, n, s->steps_sd, s->noise_key, p0,
	    s->t->nbuf[tid]);
}

/* ---- sampling ---- */

/* Fisher-Yates over 0..n-1 with the stream of this epoch. */
static void
shuffle(uint64_t *perm, uint64_t n, const unsigned char *key, uint64_t epoch)
{
	struct fl_rng r;

	fl_rng_init(&r, key, epoch);
	for (uint64_t i = 0; i < n; i++)
		perm[i] = i;
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = fl_rng_below(&r, i + 1), tmp = perm[i];

		perm[i] = perm[j];
		perm[j] = tmp;
	}
	fl_rng_wipe(&r);
}

/* ---- training ---- */

int
fl_train(struct fl_model *m, const struct fl_model *global,
    const struct fl_data *d, const struct fl_train_opts *o,
    struct fl_train_result *res, struct fl_error *err)
{
	const struct fl_arch *a = &m->arch;
	uint64_t n = d->n, B = o->batch, spe, total, step;
	uint64_t *perm = NULL, *pidx = NULL, seen_epoch = 0;
	unsigned char kshuf[FL_RNG_KEYBYTES], knoise[FL_RNG_KEYBYTES],
	    ksamp[FL_RNG_KEYBYTES], kstep[FL_RNG_KEYBYTES];
	struct fl_rng samp;
	double epoch_loss = 0;
	struct pool pool;
	struct net t;
	struct step s;
	int threads = o->threads < 1 ? 1 : o->threads, rc = -1;
	size_t pcap = 0;

	memset(&t, 0, sizeof(t));
	memset(&s, 0, sizeof(s));
	memset(res, 0, sizeof(*res));
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	if (d->dim != a->sizes[0])
		return fl_error_set(err, FL_EINVAL, "the data has %llu "
		    "features, the model takes %llu",
		    (unsigned long long)d->dim,
		    (unsigned long long)a->sizes[0]);
	for (uint64_t i = 0; i < n; i++)
		if ((uint64_t)d->y[i] >= a->sizes[a->layers])
			return fl_error_set(err, FL_EINVAL, "example %llu: "
			    "label %d out of range: the model has %llu "
			    "classes", (unsigned long long)(i + 1), d->y[i],
			    (unsigned long long)a->sizes[a->layers]);
	if (B < 1 || !(o->lr > 0) || o->momentum < 0 || o->momentum >= 1 ||
	    o->weight_decay < 0 || o->prox_mu < 0 ||
	    (o->prox_mu > 0 && global == NULL) ||
	    (o->dp && (!(o->clip > 0) || o->noise < 0)))
		return fl_error_set(err, FL_EINVAL, "invalid training "
		    "options");
	if (o->dp && o->noise > 0) {
		s.grid = fl_noise_grid(o->noise * o->clip);
		s.steps_sd = o->noise * o->clip / s.grid;
		/* A step's sum is below n C per coordinate: snapped, it must
		 * stay below 2^50 grid steps, exact in a double; and the grid
		 * must be a normal float. */
		if (!(s.grid >= FLT_MIN) ||
		    !((double)n * o->clip < ldexp(s.grid, 50)))
			return fl_error_set(err, FL_EINVAL, "noise multiplier "
			    "%g is too small for its grid at clip %g and %llu "
			    "examples", o->noise, o->clip,
			    (unsigned long long)n);
		res->grid = s.grid;
	}
	if (o->dp && o->poisson && o->rate > 0) {
		/* A public rate: the rate and the step count a release
		 * states say nothing about n; B is the expected batch. */
		double expected = ceil(o->rate * (double)n);

		B = expected < 1 ? 1 : (uint64_t)expected;
		spe = (uint64_t)ceil(1 / o->rate);
		res->q = o->rate;
	} else {
		if (B > n && !(o->dp && o->poisson))
			B = n;
		spe = (n + B - 1) / B;
		res->q = (double)B / (double)n;
		if (res->q > 1)
			res->q = 1;
	}
	total = o->steps ? o->steps : o->epochs * spe;

	/* libsodium picks its fast ChaCha20 (AVX2) in sodium_init: without
	 * it, a --seed run gets the portable code, four times slower. */
	if (sodium_init() < 0)
		return fl_error_set(err, FL_EIO, "cannot initialise libsodium");
	fl_rng_derive(kshuf, o->key, "shuffle", 0);
	fl_rng_derive(ksamp, o->key, "poisson", 0);
	fl_rng_derive(knoise, o->key, "dp-sgd", 0);
	fl_rng_init(&samp, ksamp, 0);
	if (pool_start(&pool, threads, err) < 0)
		goto out;
	threads = pool.n;
	t.m = m;
	t.d = d;
	t.prep = &o->prep;
	t.train = 1;
	t.class_weights = o->class_weights;
	t.dp = o->dp;
	t.clip = o->clip;
	if (net_reserve(&t, (size_t)B, threads, 1) < 0)
		goto nomem;
	if (!(o->dp && o->poisson) &&
	    (perm = malloc((size_t)n * sizeof(*perm))) == NULL)
		goto nomem;
	if (o->momentum > 0 && (s.vel = xalloc(m->nfloats)) == NULL)
		goto nomem;
	if (o->dp && o->noise > 0 && (s.noise = xalloc(m->nfloats)) == NULL)
		goto nomem;
	if (s.vel)
		memset(s.vel, 0, m->nfloats * sizeof(float));
	s.t = &t;
	s.m = m;
	s.global = global;
	s.upd.lr = (float)o->lr;
	s.upd.mom = (float)o->momentum;
	s.upd.wd = (float)o->weight_decay;
	s.upd.mu = (float)o->prox_mu;
	if (o->momentum == 0)
		s.vel = NULL;
	s.ustart[0] = 0;
	for (int l = 0; l < a->layers; l++)
		s.ustart[l + 1] = s.ustart[l] + (a->sizes[l] + RB - 1) / RB + 1;

	for (step = 0; step < total; step++) {
		uint64_t epoch = step / spe, pos = step % spe;
		double bl = 0;
		size_t rows;

		if (o->dp && o->poisson) {
			int overflow;

			for (;;) {
				struct fl_rng save = samp;

				rows = fl_sample_poisson(pidx, pcap, n,
				    res->q, &samp, &overflow);
				if (!overflow)
					break;
				/* grow and draw the same batch again */
				samp = save;
				pcap = pcap ? pcap * 2 : (size_t)(2 * B + 64);
				free(pidx);
				if ((pidx = malloc(pcap * sizeof(*pidx))) ==
				    NULL)
					goto nomem;
			}
			if (net_reserve(&t, rows, threads, 1) < 0)
				goto nomem;
			t.idx = pidx;
		} else {
			if (pos == 0)
				shuffle(perm, n, kshuf, epoch);
			rows = (size_t)((pos + 1) * B > n ? n - pos * B : B);
			t.idx = perm + pos * B;
		}
		if (pos == 0) {
			epoch_loss = 0;
			seen_epoch = 0;
		}
		t.rows = rows;
		if (rows > 0) {
			transpose_weights(&t);
			pool_run(&pool, phase1, &t, (rows + RB - 1) / RB);
			for (size_t r = 0; r < rows; r++) {
				if (o->dp && isnan(t.loss[r])) {
					res->skipped++;
					continue;
				}
				bl += t.loss[r];
			}
			if (!isfinite(bl)) {
				fl_error_set(err, FL_EINVAL, "training diverged:"
				    " the loss is %s at step %llu (try a "
				    "smaller learning rate)", isnan(bl) ?
				    "nan" : "infinite",
				    (unsigned long long)step + 1);
				goto out;
			}
		}
		epoch_loss += bl;
		seen_epoch += rows;
		res->seen += rows;
		if (o->dp) {
			/* Poisson: the expected batch, so that the batch size
			 * itself reveals nothing. */
			s.upd.gscale = 1.0f / (float)(o->poisson ? res->q *
			    (double)n : (double)(rows ? rows : 1));
			if (o->noise > 0) {
				fl_rng_derive(kstep, knoise, "step", step);
				s.noise_key = kstep;
			}
		} else {
			s.upd.gscale = 1.0f / (float)rows;
		}
		if (o->cosine)
			s.upd.lr = (float)(o->lr * 0.5 * (1 + cos(M_PI *
			    (double)step / (double)total)));
		if (s.noise_key != NULL)
			pool_run(&pool, phase_noise, &s, (m->nfloats +
			    NOISE_CHUNK - 1) / NOISE_CHUNK);
		if (rows > 0 || o->dp)
			pool_run(&pool, phase2, &s, s.ustart[a->layers]);
		res->steps++;
		res->loss = seen_epoch ? epoch_loss / (double)seen_epoch : 0;
		if (o->progress != NULL) {
			struct fl_train_progress p = {
				.step = step + 1, .steps = total,
				.epoch = epoch + 1,
				.epochs = (total + spe - 1) / spe,
				.loss = res->loss,
			};

			o->progress(o->progress_arg, &p);
		}
	}
	/* With DP-SGD a bad example gives nothing; a model that is not
	 * finite is a diverged run all the same (a learning rate too large). */
	for (size_t i = 0; o->dp && i < m->nfloats; i++)
		if (!isfinite(m->params[i])) {
			fl_error_set(err, FL_EINVAL, "training diverged: a "
			    "weight is not finite (try a smaller learning "
			    "rate)");
			goto out;
		}
	rc = 0;
	goto out;
nomem:
	fl_error_set(err, FL_ENOMEM, "out of memory");
out:
	pool_stop(&pool);
	net_free(&t);
	free(perm);
	free(pidx);
	free(s.vel);
	if (s.noise != NULL)
		sodium_memzero(s.noise, m->nfloats * sizeof(float));
	free(s.noise);
	fl_rng_wipe(&samp);
	memset(kshuf, 0, sizeof(kshuf));
	memset(knoise, 0, sizeof(knoise));
	memset(ksamp, 0, sizeof(ksamp));
	memset(kstep, 0, sizeof(kstep));
	return rc;
}

int
fl_evaluate(const struct fl_model *m, const struct fl_data *d,
    const struct fl_prep *p, int threads, uint64_t *confusion,
    double *loss_sum, struct fl_error *err)
{
	return fl_evaluate_by_class(m, d, p, threads, confusion, loss_sum,
	    NULL, err);
}

int
fl_evaluate_by_class(const struct fl_model *m, const struct fl_data *d,
    const struct fl_prep *p, int threads, uint64_t *confusion,
    double *loss_sum, double *class_loss, struct fl_error *err)
{
	const struct fl_arch *a = &m->arch;
	uint64_t C = a->sizes[a->layers];
	struct pool pool;
	struct net t;
	int rc = -1;

	memset(&t, 0, sizeof(t));
	*loss_sum = 0;
	memset(confusion, 0, (size_t)(C * C) * sizeof(*confusion));
	if (class_loss != NULL)
		for (uint64_t k = 0; k < C; k++)
			class_loss[k] = 0;
	if (d->dim != a->sizes[0])
		return fl_error_set(err, FL_EINVAL, "the data has %llu "
		    "features, the model takes %llu",
		    (unsigned long long)d->dim,
		    (unsigned long long)a->sizes[0]);
	for (uint64_t i = 0; i < d->n; i++)
		if ((uint64_t)d->y[i] >= C)
			return fl_error_set(err, FL_EINVAL, "example %llu: "
			    "label %d out of range: the model has %llu "
			    "classes", (unsigned long long)(i + 1), d->y[i],
			    (unsigned long long)C);
	if (pool_start(&pool, threads, err) < 0)
		return -1;
	t.m = m;
	t.d = d;
	t.prep = p;
	if (net_reserve(&t, EVAL_ROWS, pool.n, 0) < 0) {
		fl_error_set(err, FL_ENOMEM, "out of memory");
		goto out;
	}
	for (uint64_t first = 0; first < d->n; first += EVAL_ROWS) {
		t.first = first;
		t.idx = NULL;
		t.rows = (size_t)(d->n - first < EVAL_ROWS ? d->n - first :
		    EVAL_ROWS);
		pool_run(&pool, phase1, &t, (t.rows + RB - 1) / RB);
		for (size_t r = 0; r < t.rows; r++) {
			uint64_t y = (uint64_t)d->y[first + r];

			*loss_sum += t.loss[r];
			if (class_loss != NULL)
				class_loss[y] += t.loss[r];
			confusion[y * C + t.pred[r]]++;
		}
	}
	rc = 0;
out:
	pool_stop(&pool);
	net_free(&t);
	return rc;
}

int
fl_class_weighted(uint64_t classes, const uint64_t *confusion,
    const double *class_loss, const float *weights, double *wloss,
    double *wacc, struct fl_error *err)
{
	double wsum = 0, wright = 0, wl = 0;
	uint64_t n = 0;

	*wloss = NAN;
	*wacc = NAN;
	for (uint64_t k = 0; k < classes; k++) {
		double w = weights[k];
		uint64_t support = 0;

		if (!isfinite(w))
			return fl_error_set(err, FL_EINVAL, "the weight of "
			    "class %llu is not finite",
			    (unsigned long long)k);
		if (w < 0)
			return fl_error_set(err, FL_EINVAL, "the weight of "
			    "class %llu is negative", (unsigned long long)k);
		for (uint64_t j = 0; j < classes; j++)
			support += confusion[k * classes + j];
		n += support;
		if (support == 0 || w == 0)
			continue;
		wsum += w * (double)support;
		wright += w * (double)confusion[k * classes + k];
		if (class_loss != NULL)
			wl += w * class_loss[k];
	}
	if (n == 0)
		return 0;
	if (!(wsum > 0))
		return fl_error_set(err, FL_EINVAL, "every class in the data "
		    "has weight 0");
	*wacc = wright / wsum;
	if (class_loss != NULL)
		*wloss = wl / wsum;
	return 0;
}
