/* SPDX-License-Identifier: ISC */
/*
 * Codecs randk and topk: the sparse record of an update and its decoding,
 * and top-k's error-feedback residual carried from record to record (Stich
 * et al. 2018).  The index sets and the residual arithmetic are sparse.c's;
 * this file takes a record's tensors to them and back, with the codec's
 * metadata.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "compress/internal.h"

int
fl_ef_state_check(const struct fl_record *state, struct fl_error *err)
{
	const char *k = fl_meta_get(state, "kind");
	const char *c = fl_meta_get(state, "q.codec");
	char q[FL_QUOTE];

	if (k == NULL || strcmp(k, "state") != 0 || (c != NULL &&
	    strcmp(c, "topk") != 0))
		return fl_error_set(err, FL_EFORMAT, "not a top-k residual "
		    "(kind=state%s%s)", c ? ", q.codec=" : "", c ?
		    fl_escape(q, sizeof(q), c, strlen(c)) : "");
	return 0;
}

/* A zero residual for the float tensors of rec. */
static int
ef_new(struct fl_ef_state *ef, const struct fl_record *rec,
    struct fl_error *err)
{
	fl_record_clear(&ef->rec);
	if (fl_meta_set(&ef->rec, "kind", "state", err) < 0)
		return -1;
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];

		if (fl_dtype_is_float(t->dtype) && fl_tensor_add(&ef->rec,
		    t->name, FL_F32, t->rank, t->dims, err) == NULL)
			return -1;
	}
	ef->loaded = 1;
	return 0;
}

/* The residual's tensors must be the update's float tensors, in order. */
static int
ef_match(const struct fl_ef_state *ef, const struct fl_record *rec,
    struct fl_error *err)
{
	size_t j = 0;

	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i], *r;
		char s1[64], s2[64];

		if (!fl_dtype_is_float(t->dtype))
			continue;
		if (j >= ef->rec.ntensors)
			return fl_error_set(err, FL_EFORMAT, "no tensor '%s'",
			    t->name);
		r = &ef->rec.tensors[j++];
		if (strcmp(r->name, t->name) != 0)
			return fl_error_set(err, FL_EFORMAT, "tensor '%s' where "
			    "the update has '%s'", r->name, t->name);
		fl_shape_format(s1, sizeof(s1), r->rank, r->dims);
		fl_shape_format(s2, sizeof(s2), t->rank, t->dims);
		if (r->dtype != FL_F32 || strcmp(s1, s2) != 0)
			return fl_error_set(err, FL_EFORMAT, "tensor '%s' is %s "
			    "%s, the update's %s", r->name,
			    fl_dtype_name(r->dtype), s1, s2);
	}
	if (j != ef->rec.ntensors)
		return fl_error_set(err, FL_EFORMAT, "tensor '%s' is not in "
		    "the update", ef->rec.tensors[j].name);
	return 0;
}

/* The residual, made or matched to the update, with finite values. */
static int
ef_ready(struct fl_ef_state *ef, const struct fl_record *rec,
    enum fl_sparse_fault *fault, struct fl_error *err)
{
	if (!ef->loaded) {
		*fault = FL_SPARSE_NEW;
		if (ef_new(ef, rec, err) < 0)
			return -1;
	} else {
		*fault = FL_SPARSE_MATCH;
		if (ef_match(ef, rec, err) < 0)
			return -1;
	}
	*fault = FL_SPARSE_STATE;
	for (size_t i = 0; i < ef->rec.ntensors; i++)
		if (fl_tensor_check_finite(&ef->rec.tensors[i], err) < 0)
			return -1;
	*fault = FL_SPARSE_RECORD;
	return 0;
}

/* Every check that can fail before the buffers: *k, *scale (d/K for
 * rand-k, else 1) and the rand-k seed (in seedbuf when made). */
static int
plan(const struct fl_record *rec, const struct fl_sparse_params *p,
    uint64_t *dp, uint64_t *k, double *scale, const char **seed,
    char *seedbuf, size_t seedcap, struct fl_error *err)
{
	uint64_t d = 0;
	struct fl_error why;

	if (fl_codec_refuse_encoded(rec, err) < 0 ||
	    fl_codec_input(rec, "sparsification", &d, NULL, NULL, err) < 0)
		return -1;
	for (size_t i = 0; i < rec->ntensors; i++)
		if (rec->tensors[i].numel > UINT32_MAX)   /* top-k's u32 idx */
			return fl_error_set(err, FL_ELIMIT, "tensor '%s' has "
			    "more than 2^32 values", rec->tensors[i].name);
	if (fl_sparse_k(p->k, d, k, &why) < 0)
		return fl_error_set(err, FL_EINVAL, "invalid --%s '%s': %s",
		    p->topk ? "top-k" : "rand-k", p->k, why.msg);
	*scale = 1;
	*seed = NULL;
	if (!p->topk) {
		if ((*seed = p->seed) == NULL) {
			uint64_t round;

			if (fl_meta_get(rec, "round") == NULL)
				return fl_error_set(err, FL_EINVAL, "no sparse "
				    "seed: give --sparse-seed or a record with "
				    "a round");
			if (fl_codec_need_u64(rec, "round", 0, UINT64_MAX,
			    &round, err) < 0)
				return -1;
			snprintf(seedbuf, seedcap, "round-%llu",
			    (unsigned long long)round);
			*seed = seedbuf;
		}
		*scale = (double)d / (double)*k;
	}
	if (d > SIZE_MAX / sizeof(uint64_t))
		return fl_error_set(err, FL_ELIMIT, "too many values");
	*dp = d;
	return 0;
}

/* The error of the sparse record against the update x read. */
static double
sparse_vnmse(const float *x, uint64_t d, const uint64_t *idx,
    const float *vals, uint64_t k)
{
	double ss = 0, e2;

	for (uint64_t i = 0; i < d; i++)
		ss += (double)x[i] * x[i];
	e2 = ss;
	for (uint64_t j = 0; j < k; j++) {
		double xi = x[idx[j]], e = (double)vals[j] - xi;

		e2 += e * e - xi * xi;
	}
	return e2 / ss;
}

/* The residual becomes what was not sent, p less vals at idx. */
static int
ef_update(struct fl_ef_state *ef, const struct fl_record *rec, float *p,
    uint64_t d, const uint64_t *idx, const float *vals, uint64_t k,
    struct fl_error *err)
{
	uint64_t off = 0;
	const char *v;

	fl_ef_residual(p, p, d, idx, vals, k);
	for (size_t i = 0; i < ef->rec.ntensors; i++) {
		struct fl_tensor *t = &ef->rec.tensors[i];

		memcpy(t->data, p + off, t->nbytes);
		off += t->numel;
	}
	if ((v = fl_meta_get(rec, "round")) != NULL) {
		if (fl_meta_set(&ef->rec, "round", v, err) < 0)
			return -1;
	} else {
		fl_meta_del(&ef->rec, "round");
	}
	if (fl_meta_set(&ef->rec, "q.codec", "topk", err) < 0)
		return -1;
	ef->used = 1;
	return 0;
}

/* The chosen indices and values: from p = update plus residual (or the
 * update x), top-k's or the seed's, times scale. */
static int
choose(const struct fl_sparse_params *p, struct fl_ef_state *ef,
    float *x, float *pv, uint64_t d, uint64_t k, double scale,
    const char *seed, uint64_t *idx, float *vals,
    enum fl_sparse_fault *fault, struct fl_error *err)
{
	unsigned char key[FL_RNG_KEYBYTES];
	uint64_t off = 0;
	int rc;

	/* Error feedback: select from update + residual. */
	if (ef != NULL) {
		for (size_t i = 0; i < ef->rec.ntensors; i++) {
			const struct fl_tensor *t = &ef->rec.tensors[i];

			memcpy(pv + off, t->data, t->nbytes);
			off += t->numel;
		}
		if (fl_ef_add(pv, x, d, err) < 0) {
			*fault = FL_SPARSE_SUM;
			return -1;
		}
	}
	if (p->topk) {
		if (fl_topk_indices(pv, d, k, idx, err) < 0)
			return -1;
	} else {
		fl_sparse_key(key, seed);
		rc = fl_randk_indices(d, k, key, idx, err);
		sodium_memzero(key, sizeof(key));
		if (rc < 0)
			return -1;
	}
	fl_sparse_gather(pv, idx, k, scale, vals);
	for (uint64_t j = 0; j < k; j++)
		if (!isfinite(vals[j]))
			return fl_error_set(err, FL_EINVAL, "value %llu times "
			    "d/K = %g does not fit in f32",
			    (unsigned long long)idx[j], scale);
	return 0;
}

static int
sparse_meta(struct fl_record *out, const struct fl_record *rec,
    const struct fl_sparse_params *p, uint64_t k, uint64_t d,
    const char *seed, struct fl_error *err)
{
	char buf[FL_MAX_VALUE + 1];

	if (fl_meta_set(out, "q.codec", p->topk ? "topk" : "randk", err) < 0 ||
	    fl_codec_set_u64(out, "q.k", k, err) < 0 ||
	    fl_codec_set_u64(out, "q.dim", d, err) < 0 ||
	    fl_sparse_shapes(rec, buf, sizeof(buf), err) < 0 ||
	    fl_meta_set(out, FL_Q_SHAPES, buf, err) < 0 ||
	    (!p->topk && fl_meta_set(out, "q.sparse-seed", seed, err) < 0))
		return -1;
	return 0;
}

int
fl_sparse_encode(struct fl_record *out, const struct fl_record *rec,
    const struct fl_sparse_params *p, struct fl_ef_state *ef, double *vnmse,
    enum fl_sparse_fault *fault, struct fl_error *err)
{
	uint64_t d = 0, k = 0;
	char seedbuf[64];
	const char *seed = NULL;
	double scale = 1;
	float *x = NULL, *pv = NULL, *vals = NULL;
	uint64_t *idx = NULL;
	int rc = -1;

	*fault = FL_SPARSE_RECORD;
	if (plan(rec, p, &d, &k, &scale, &seed, seedbuf, sizeof(seedbuf),
	    err) < 0)
		return -1;
	if (ef != NULL && ef_ready(ef, rec, fault, err) < 0)
		return -1;
	x = malloc(d ? d * sizeof(float) : 1);
	pv = ef != NULL ? malloc(d ? d * sizeof(float) : 1) : x;
	idx = malloc(k ? k * sizeof(*idx) : 1);
	vals = malloc(k ? k * sizeof(*vals) : 1);
	if (x == NULL || pv == NULL || idx == NULL || vals == NULL) {
		fl_error_set(err, FL_ENOMEM, "out of memory");
		goto out;
	}
	if (fl_codec_gather(rec, x, err) < 0 ||
	    choose(p, ef, x, pv, d, k, scale, seed, idx, vals, fault,
	    err) < 0)
		goto out;
	*vnmse = sparse_vnmse(x, d, idx, vals, k);
	if (ef != NULL && ef_update(ef, rec, pv, d, idx, vals, k, err) < 0)
		goto out;

	/* The sparse record: per float tensor its chosen values in index
	 * order (f32 [k_t]), and for top-k their flat indices within the
	 * tensor (u32 [k_t], NAME:idx). */
	fl_record_clear(out);
	if (fl_meta_copy(out, rec, err) < 0 ||
	    fl_sparse_build(out, rec, idx, vals, k, p->topk, err) < 0)
		goto out;
	free(vals);
	free(idx);
	if (pv != x)
		free(pv);
	free(x);
	vals = pv = x = NULL;
	idx = NULL;
	if (sparse_meta(out, rec, p, k, d, seed, err) < 0)
		return -1;
	return 0;
out:
	free(vals);
	free(idx);
	if (pv != x)
		free(pv);
	free(x);
	return rc;
}

int
fl_sparse_decode(struct fl_record *out, const struct fl_record *rec,
    const struct fl_decode_run *run, int topk, struct fl_error *err)
{
	const char *agg = fl_meta_get(rec, "agg"), *kind, *seed;
	uint64_t k, dim, total;
	double count;
	uint64_t *idx = NULL;
	unsigned char key[FL_RNG_KEYBYTES];
	int rc = -1;

	kind = fl_meta_get(rec, "kind");
	if (topk && (agg != NULL || fl_meta_get(rec, "clients") != NULL ||
	    (kind != NULL && strcmp(kind, "aggregate") == 0)))
		return fl_error_set(err, FL_EINVAL, "a sum of top-k records "
		    "cannot be decoded (each client sent other coordinates): "
		    "decode each client's record before fl-aggregate");
	if (fl_codec_need_u64(rec, "q.k", 1, UINT64_C(1) << 40, &k, err) < 0 ||
	    fl_codec_need_u64(rec, "q.dim", 1, UINT64_C(1) << 40, &dim,
	    err) < 0)
		return -1;
	if (k > dim)
		return fl_error_set(err, FL_EFORMAT, "q.k %llu is more than "
		    "q.dim %llu", (unsigned long long)k,
		    (unsigned long long)dim);
	if (fl_codec_need(rec, FL_Q_SHAPES, err) == NULL)
		return -1;
	/* The record's own values bound what the header may ask for: a
	 * header claiming more is refused before anything is allocated. */
	total = 0;
	for (size_t i = 0; i < rec->ntensors; i++)
		if (fl_dtype_is_float(rec->tensors[i].dtype) &&
		    strcmp(rec->tensors[i].name, FL_Q_INDICATOR) != 0)
			total += rec->tensors[i].numel;
	if (total != k)
		return fl_error_set(err, FL_EFORMAT, "%llu values, q.k says "
		    "%llu", (unsigned long long)total, (unsigned long long)k);
	if (!topk) {
		/* The public seed gives the coordinates back: every client
		 * of the round sent the same ones, so sums decode too. */
		if ((idx = malloc(k * sizeof(*idx))) == NULL)
			return fl_error_set(err, FL_ENOMEM, "out of memory");
		if ((seed = fl_codec_need(rec, "q.sparse-seed", err)) == NULL)
			goto out;
		fl_sparse_key(key, seed);
		rc = fl_randk_indices(dim, k, key, idx, err);
		sodium_memzero(key, sizeof(key));
		if (rc < 0)
			goto out;
		rc = -1;
	}
	if (fl_codec_divisor(run, rec, agg == NULL || strcmp(agg, "sum") == 0,
	    &count, err) < 0)
		goto out;

	fl_record_clear(out);
	if (fl_meta_copy(out, rec, err) < 0 || fl_sparse_expand(out, rec,
	    fl_meta_get(rec, FL_Q_SHAPES), k, dim, idx, count, err) < 0)
		goto out;
	fl_codec_drop_keys(out);
	if (fl_codec_mark_mean(run, out, count, err) < 0)
		goto out;
	rc = 0;
out:
	free(idx);
	return rc;
}
