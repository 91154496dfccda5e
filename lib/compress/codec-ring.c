/* SPDX-License-Identifier: ISC */
/*
 * The ring encoding of a record for secure aggregation, and its decoding:
 * the shared randomized Hadamard rotation, one global scale for all
 * clients, stochastic rounding with conditional re-rounding to the
 * integers mod 2^b (stored as u32), and the decoding of a modular sum of
 * such records.  The arithmetic is in quant.c and hadamard.c; this file
 * lays a record's tensors out for it and back, with the codec's metadata.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress/internal.h"

/*
 * A rand-k record goes through the ring (and so through secure
 * aggregation) as its K values: the ring record keeps the rand-k keys
 * under these names, and decoding a sum gives them back.
 */
static const char *const sparse_keys[][2] = {
	{ "q.codec", "q.sparse.codec" },
	{ "q.k", "q.sparse.k" },
	{ "q.dim", "q.sparse.dim" },
	{ "q.shapes", "q.sparse.shapes" },
};

#define NSPARSE_KEYS (sizeof(sparse_keys) / sizeof(*sparse_keys))

/* Rename metadata key from to `to` in rec (a missing key is an error). */
static int
move_meta(struct fl_record *rec, const char *from, const char *to,
    struct fl_error *err)
{
	const char *v = fl_codec_need(rec, from, err);
	char *copy;
	int rc;

	if (v == NULL)
		return -1;
	if ((copy = strdup(v)) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	rc = fl_meta_set(rec, to, copy, err);
	free(copy);
	if (rc < 0)
		return -1;
	fl_meta_del(rec, from);
	return 0;
}

/*
 * The values of a rand-k record are the chosen coordinates times d/K.
 * The ring takes them divided by d/K again: the sum is scaled back after
 * decoding (public post-processing), so the sensitivity stays the clip
 * bound instead of d/K times it.  *scale: d/K.
 */
static int
unscale_randk(struct fl_record *rec, double *scalep, struct fl_error *err)
{
	uint64_t k, d;
	double scale;

	if (fl_codec_need_u64(rec, "q.k", 1, UINT64_C(1) << 40, &k, err) < 0 ||
	    fl_codec_need_u64(rec, "q.dim", 1, UINT64_C(1) << 40, &d,
	    err) < 0)
		return -1;
	scale = (double)d / (double)k;
	if (k > d)
		return fl_error_set(err, FL_EINVAL, "q.k %llu is more than "
		    "q.dim %llu", (unsigned long long)k, (unsigned long long)d);
	if (fl_codec_need(rec, "q.shapes", err) == NULL ||
	    fl_codec_need(rec, "q.sparse-seed", err) == NULL)
		return -1;
	for (size_t i = 0; i < rec->ntensors; i++) {
		struct fl_tensor *t = &rec->tensors[i];

		if (t->dtype != FL_F32)
			continue;
		for (uint64_t j = 0; j < t->numel; j++)
			((float *)t->data)[j] = (float)(((float *)t->data)[j] /
			    scale);
	}
	*scalep = scale;
	return 0;
}

/* What the checks before the buffers find out. */
struct plan {
	uint64_t d, dpad;
	double clip, ss, scale, bound;
	double sparse;          /* d/K of a rand-k record, else 0 */
};

/* Everything before the buffers: the checks of the record, the clip
 * bound, the padded length, the scale and the bound. */
static int
plan(struct fl_record *rec, const struct fl_ring_params *p, struct plan *pl,
    struct fl_ring_info *info, struct fl_error *err)
{
	uint64_t d = 0, dpad;
	double clip = p->clip, ss = 0, scale, k;
	const char *v;
	double sparse = 0;

	v = fl_meta_get(rec, "q.codec");
	if (v != NULL && strcmp(v, "randk") == 0) {
		if (unscale_randk(rec, &sparse, err) < 0)
			return -1;
	} else if (fl_codec_refuse_encoded(rec, err) < 0) {
		return -1;
	}
	if (fl_meta_get(rec, "dp.mechanism") != NULL)
		return fl_error_set(err, FL_EINVAL, "already noised: encode "
		    "before fl-clip-noise --noise");
	if (fl_codec_input(rec, "the ring encoding", &d, NULL, &ss, err) < 0)
		return -1;
	if (isnan(clip)) {
		if ((v = fl_meta_get(rec, "dp.clip")) == NULL)
			return fl_error_set(err, FL_EINVAL, "no clip bound: "
			    "clip first (fl-clip-noise -c) or give --clip");
		if (fl_codec_need_double(rec, "dp.clip", 0, INFINITY, &clip,
		    err) < 0)
			return -1;
		if (!(clip > 0))
			return fl_error_set(err, FL_EINVAL, "dp.clip must be "
			    "positive");
	}
	/* (Rand-k values times K/d carry the float error of the two
	 * scalings: the bound's own slack covers it.) */
	if (sqrt(ss) > clip * (sparse > 0 ? 1 + 0x1p-20 : 1))
		return fl_error_set(err, FL_EINVAL, "L2 norm %g exceeds the "
		    "clip bound %g: clip first (fl-clip-noise -c)", sqrt(ss),
		    clip);

	dpad = p->rotate ? fl_rht_dim(d) : d;
	k = fl_ring_k(p->modclip);
	scale = p->scale;
	if (isnan(scale)) {
		scale = fl_ring_scale(p->bits, p->clients, k, clip,
		    p->noise * clip / sqrt((double)p->clients), dpad);
		if (!(scale > 0)) {
			info->scale = 0;
			return fl_error_set(err, FL_EINVAL, "a ring of %d bits "
			    "is too small for %llu clients", p->bits,
			    (unsigned long long)p->clients);
		}
	}
	info->scale = scale;
	pl->bound = fl_ring_bound(clip, scale, dpad, p->beta);
	if (dpad > SIZE_MAX / sizeof(float))
		return fl_error_set(err, FL_ELIMIT, "too many values");
	pl->d = d;
	pl->dpad = dpad;
	pl->clip = clip;
	pl->ss = ss;
	pl->scale = scale;
	pl->sparse = sparse;
	return 0;
}

/* The values in one vector buf, padded with zeros; with the rotation,
 * their signs flipped (D) on the way in, then H. */
static int
rotate_in(const struct fl_record *rec, int rotate, float *buf, uint64_t d,
    uint64_t dpad, const unsigned char *key, struct fl_error *err)
{
	uint64_t off = 0;

	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		const float *from = buf + off;

		if (t->dtype == FL_F32) {
			from = t->data;
		} else if (t->dtype == FL_F64) {
			const double *x = t->data;

			for (uint64_t j = 0; j < t->numel; j++)
				buf[off + j] = (float)x[j];
		} else if (fl_dtype_is_half(t->dtype)) {
			const uint16_t *x = t->data;

			for (uint64_t j = 0; j < t->numel; j++)
				buf[off + j] = fl_half_to_float(t->dtype, x[j]);
		} else {
			continue;
		}
		if (rotate)
			fl_rht_signs_copy(buf + off, from, t->numel, off, key);
		else if (from != buf + off)
			memcpy(buf + off, from, t->numel * sizeof(float));
		off += t->numel;
	}
	if (rotate) {
		fl_rht_signs_copy(buf + d, NULL, dpad - d, d, key);
		if (fl_fwht(buf, dpad, err) < 0)
			return -1;
	} else {
		memset(buf + d, 0, (dpad - d) * sizeof(float));
	}
	return 0;
}

/* The error of decoding this record alone, measured by decoding it:
 * padding coordinates are dropped on the way back, and so is the error
 * that lands on them. */
static int
ring_vnmse(const struct fl_record *rec, const struct fl_ring_params *p,
    const struct plan *pl, const uint32_t *ring, float *buf,
    const unsigned char *key, double *vnmse, struct fl_error *err)
{
	uint64_t m = UINT64_C(1) << p->bits, off, dpad = pl->dpad;
	double f = p->rotate ? 1 / (pl->scale * sqrt((double)dpad)) :
	    1 / pl->scale, e2 = 0;

	fl_ring_unwrap(ring, dpad, m, f, buf);
	if (p->rotate && fl_rht_hd(buf, dpad, key, 1, err) < 0)
		return -1;
	off = 0;
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];

		if (!fl_dtype_is_float(t->dtype))
			continue;
		for (uint64_t j = 0; j < t->numel; j++) {
			double e = (double)buf[off + j] - fl_tensor_get(t, j);

			e2 += e * e;
		}
		off += t->numel;
	}
	*vnmse = e2 / pl->ss;
	return 0;
}

/* The clip indicator passes through both ways as it is: a u32 count, the
 * only dtype the copy is sized for (a u64 one overran it). */
static int
copy_indicator(struct fl_record *out, const struct fl_tensor *t,
    struct fl_error *err)
{
	struct fl_tensor *u;

	if (t->dtype != FL_U32)
		return fl_error_set(err, FL_EFORMAT, "tensor '%s' is %s, not "
		    "u32", t->name, fl_dtype_name(t->dtype));
	if ((u = fl_tensor_add(out, t->name, FL_U32, t->rank, t->dims,
	    err)) == NULL)
		return -1;
	memcpy(u->data, t->data, t->nbytes);
	return 0;
}

/* The encoded record: each float tensor becomes u32 of the same shape,
 * the indicator stays, the padding goes last. */
static int
ring_tensors(struct fl_record *out, const struct fl_record *rec,
    const uint32_t *ring, uint64_t d, uint64_t dpad, struct fl_error *err)
{
	uint64_t off = 0;

	fl_record_clear(out);
	if (fl_meta_copy(out, rec, err) < 0)
		return -1;
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		struct fl_tensor *u;

		if (strcmp(t->name, FL_Q_INDICATOR) == 0) {
			if (copy_indicator(out, t, err) < 0)
				return -1;
			continue;
		}
		if ((u = fl_tensor_add(out, t->name, FL_U32, t->rank,
		    t->dims, err)) == NULL)
			return -1;
		memcpy(u->data, ring + off, u->nbytes);
		off += t->numel;
	}
	if (dpad > d) {
		uint64_t dims[1] = { dpad - d };
		struct fl_tensor *u = fl_tensor_add(out, FL_Q_PAD, FL_U32, 1,
		    dims, err);

		if (u == NULL)
			return -1;
		memcpy(u->data, ring + d, u->nbytes);
	}
	return 0;
}

static int
ring_meta(struct fl_record *out, const struct fl_ring_params *p,
    const struct plan *pl, const char *seed, struct fl_error *err)
{
	if (pl->sparse > 0)
		for (size_t i = 0; i < NSPARSE_KEYS; i++)
			if (move_meta(out, sparse_keys[i][0],
			    sparse_keys[i][1], err) < 0)
				return -1;
	if (fl_meta_set(out, "q.codec", "ring", err) < 0 ||
	    fl_codec_set_u64(out, "q.bits", (uint64_t)p->bits, err) < 0 ||
	    fl_codec_set_double(out, "q.scale", pl->scale, err) < 0 ||
	    fl_meta_set(out, "q.rotation", p->rotate ? "hd" : "none",
	    err) < 0 ||
	    (p->rotate && fl_meta_set(out, "q.rotation-seed", seed,
	    err) < 0) ||
	    fl_codec_set_u64(out, "q.dim", pl->d, err) < 0 ||
	    fl_codec_set_u64(out, "q.clients", p->clients, err) < 0 ||
	    fl_codec_set_double(out, "q.beta", p->beta, err) < 0 ||
	    (p->seeded && fl_meta_set(out, "q.seeded", "yes", err) < 0) ||
	    fl_codec_set_u64(out, "modulus", UINT64_C(1) << p->bits,
	    err) < 0 ||
	    fl_codec_set_double(out, "dp.clip", pl->clip, err) < 0 ||
	    fl_codec_set_double(out, "dp.sensitivity", pl->bound, err) < 0)
		return -1;
	fl_meta_del(out, "dp.sensitivity-l1");
	return 0;
}

int
fl_ring_encode(struct fl_record *out, struct fl_record *rec,
    const struct fl_ring_params *p, const unsigned char rkey[FL_RNG_KEYBYTES],
    struct fl_ring_info *info, struct fl_error *err)
{
	struct plan pl = { 0, 0, 0, 0, 0, 0, 0 };
	unsigned char key[FL_RNG_KEYBYTES];
	char seedbuf[64];
	const char *seed = p->rotation_seed;
	unsigned tries;
	float *buf = NULL;
	uint32_t *ring = NULL;
	double mult;
	int rc = -1;

	info->scale = NAN;
	info->vnmse = NAN;
	if (plan(rec, p, &pl, info, err) < 0)
		return -1;
	mult = pl.scale;
	if (p->rotate) {
		if (seed == NULL) {
			uint64_t round;

			if (fl_meta_get(rec, "round") == NULL)
				return fl_error_set(err, FL_EINVAL, "no "
				    "rotation seed: give --rotation-seed or a "
				    "record with a round");
			if (fl_codec_need_u64(rec, "round", 0, UINT64_MAX,
			    &round, err) < 0)
				return -1;
			snprintf(seedbuf, sizeof(seedbuf), "round-%llu",
			    (unsigned long long)round);
			seed = seedbuf;
		}
		fl_rht_key(key, seed);
		mult = pl.scale / sqrt((double)pl.dpad);
	}
	buf = malloc(pl.dpad ? pl.dpad * sizeof(float) : 1);
	ring = malloc(pl.dpad ? pl.dpad * sizeof(uint32_t) : 1);
	if (buf == NULL || ring == NULL) {
		fl_error_set(err, FL_ENOMEM, "out of memory");
		goto out;
	}
	if (rotate_in(rec, p->rotate, buf, pl.d, pl.dpad, key, err) < 0 ||
	    fl_ring_round(buf, pl.dpad, mult, pl.bound, p->bits, rkey, ring,
	    &tries, err) < 0)
		goto out;
	if (p->stats && ring_vnmse(rec, p, &pl, ring, buf, key, &info->vnmse,
	    err) < 0)
		goto out;
	if (ring_tensors(out, rec, ring, pl.d, pl.dpad, err) < 0)
		goto out;
	free(buf);
	free(ring);
	buf = NULL;
	ring = NULL;
	if (ring_meta(out, p, &pl, seed, err) < 0)
		goto out;
	rc = 0;
out:
	free(buf);
	free(ring);
	return rc;
}

/* ---- decoding ---- */

/* One decoding run is one round: every record must share the rotation,
 * or the sums were of different rounds' encodings. */
static int
same_round(struct fl_decode_run *run, const char *seed, struct fl_error *err)
{
	char q[FL_QUOTE], q2[FL_QUOTE];

	if (run->seed == NULL) {
		run->seed = strdup(seed ? seed : "");
		if (run->seed == NULL)
			return fl_error_set(err, FL_ENOMEM, "out of memory");
		run->seed_recno = run->recno;
		run->seed_file = run->file;
	} else if (strcmp(run->seed, seed ? seed : "") != 0) {
		return fl_error_set(err, FL_EFORMAT, "mixed rotation seeds: "
		    "'%s' here, '%s' in %s record %lu", fl_escape(q,
		    sizeof(q), seed ? seed : "", seed ? strlen(seed) : 0),
		    fl_escape(q2, sizeof(q2), run->seed, strlen(run->seed)),
		    run->seed_file, run->seed_recno);
	}
	return 0;
}

/* The parameters of a ring record from its metadata: d/K of rand-k
 * values (else 1), bits, scale, dim, dpad, modulus, the rotation seed
 * (NULL: no rotation). */
struct ring_meta {
	double unsparse, scale;
	uint64_t bits, dim, dpad, mod;
	const char *seed, *sparse;
};

static int
read_meta(const struct fl_record *rec, struct ring_meta *m,
    struct fl_error *err)
{
	const char *rot;
	char q[FL_QUOTE];

	m->unsparse = 1;
	m->seed = NULL;
	m->sparse = fl_meta_get(rec, "q.sparse.codec");
	if (m->sparse != NULL) {
		uint64_t k, d;

		if (strcmp(m->sparse, "randk") != 0)
			return fl_error_set(err, FL_EFORMAT, "q.sparse.codec "
			    "'%s': only rand-k values go through the ring",
			    fl_escape(q, sizeof(q), m->sparse,
			    strlen(m->sparse)));
		if (fl_codec_need_u64(rec, "q.sparse.k", 1, UINT64_C(1) << 40,
		    &k, err) < 0 || fl_codec_need_u64(rec, "q.sparse.dim", 1,
		    UINT64_C(1) << 40, &d, err) < 0)
			return -1;
		m->unsparse = (double)d / (double)k;
	}
	if (fl_codec_need_u64(rec, "q.bits", 2, 32, &m->bits, err) < 0 ||
	    fl_codec_need_double(rec, "q.scale", 0, INFINITY, &m->scale,
	    err) < 0)
		return -1;
	if (!(m->scale > 0))
		return fl_error_set(err, FL_EFORMAT, "metadata q.scale must be "
		    "positive");
	if (fl_codec_need_u64(rec, "q.dim", 1, UINT64_C(1) << 40, &m->dim,
	    err) < 0 || fl_codec_need_u64(rec, "modulus", 2, UINT64_MAX,
	    &m->mod, err) < 0)
		return -1;
	if (m->mod != UINT64_C(1) << m->bits)
		return fl_error_set(err, FL_EFORMAT, "modulus %llu is not "
		    "2^q.bits", (unsigned long long)m->mod);
	if ((rot = fl_codec_need(rec, "q.rotation", err)) == NULL)
		return -1;
	if (strcmp(rot, "hd") == 0) {
		if ((m->seed = fl_codec_need(rec, "q.rotation-seed",
		    err)) == NULL)
			return -1;
		m->dpad = fl_rht_dim(m->dim);
	} else if (strcmp(rot, "none") == 0) {
		m->dpad = m->dim;
	} else {
		return fl_error_set(err, FL_EFORMAT, "unknown q.rotation '%s'",
		    fl_escape(q, sizeof(q), rot, strlen(rot)));
	}
	return 0;
}

/* The decoded tensors: H was applied in buf, D as the values are copied
 * out (the padding needs none). */
static int
ring_out(struct fl_record *out, const struct fl_record *rec, const float *buf,
    const unsigned char *key, int rotated, uint64_t *offp,
    struct fl_error *err)
{
	uint64_t off = 0;

	fl_record_clear(out);
	if (fl_meta_copy(out, rec, err) < 0)
		return -1;
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		struct fl_tensor *u;

		if (strcmp(t->name, FL_Q_PAD) == 0)
			continue;
		if (strcmp(t->name, FL_Q_INDICATOR) == 0) {
			if (copy_indicator(out, t, err) < 0)
				return -1;
			continue;
		}
		if ((u = fl_tensor_add(out, t->name, FL_F32, t->rank, t->dims,
		    err)) == NULL)
			return -1;
		if (rotated)
			fl_rht_signs_copy(u->data, buf + off, t->numel, off,
			    key);
		else
			memcpy(u->data, buf + off, u->nbytes);
		off += t->numel;
	}
	*offp = off;
	return 0;
}

int
fl_ring_decode(struct fl_record *out, const struct fl_record *rec,
    struct fl_decode_run *run, struct fl_error *err)
{
	struct ring_meta m;
	uint64_t n = 0, off;
	unsigned char key[FL_RNG_KEYBYTES];
	double f, count;
	float *buf;
	int rc = -1;

	if (read_meta(rec, &m, err) < 0 || same_round(run, m.seed, err) < 0)
		return -1;
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];

		if (strcmp(t->name, FL_Q_INDICATOR) == 0)
			continue;
		if (t->dtype != FL_U32)
			return fl_error_set(err, FL_EFORMAT, "tensor '%s' is "
			    "%s, not a ring value (u32)", t->name,
			    fl_dtype_name(t->dtype));
		n += t->numel;
	}
	if (n != m.dpad)
		return fl_error_set(err, FL_EFORMAT, "%llu ring values, q.dim "
		    "%llu wants %llu", (unsigned long long)n,
		    (unsigned long long)m.dim, (unsigned long long)m.dpad);
	if (fl_codec_divisor(run, rec, m.sparse == NULL, &count, err) < 0)
		return -1;

	if ((buf = malloc(m.dpad ? m.dpad * sizeof(float) : 1)) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	f = m.unsparse / (m.scale * count);
	if (m.seed != NULL)
		f /= sqrt((double)m.dpad);
	off = 0;
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		const uint32_t *u = t->data;

		if (strcmp(t->name, FL_Q_INDICATOR) == 0)
			continue;
		fl_ring_unwrap(u, t->numel, m.mod, f, buf + off);
		off += t->numel;
	}
	if (m.seed != NULL) {
		fl_rht_key(key, m.seed);
		if (fl_fwht(buf, m.dpad, err) < 0)
			goto out;
	}
	if (ring_out(out, rec, buf, key, m.seed != NULL, &off, err) < 0)
		goto out;
	free(buf);
	buf = NULL;
	if (off != m.dim) {
		fl_error_set(err, FL_EFORMAT, "%llu values, q.dim says %llu",
		    (unsigned long long)off, (unsigned long long)m.dim);
		goto out;
	}
	fl_codec_drop_keys(out);
	if (m.sparse != NULL) {
		for (size_t i = 0; i < NSPARSE_KEYS; i++) {
			const char *v = fl_codec_need(rec, sparse_keys[i][1],
			    err);

			if (v == NULL || fl_meta_set(out, sparse_keys[i][0], v,
			    err) < 0)
				goto out;
		}
		{
			const char *v = fl_codec_need(rec, "q.sparse-seed",
			    err);

			if (v == NULL || fl_meta_set(out, "q.sparse-seed", v,
			    err) < 0)
				goto out;
		}
	}
	if (fl_codec_mark_mean(run, out, count, err) < 0)
		goto out;
	rc = 0;
out:
	free(buf);
	return rc;
}
