/* SPDX-License-Identifier: ISC */
/*
 * Codec eden (Vargaftik et al. 2022): rotate (y = H D x, padded),
 * normalise z = y / ||x|| (coordinates close to N(0, 1)), round each to the
 * nearest Lloyd-Max level c (deterministic), and send the levels with the
 * one scale S = ||x||^2 sqrt(d_pad) / <y, c> that makes the estimate
 * x = D H (S c) / d_pad unbiased over the rotation.  Few bits a value at a
 * small error, for links without secure aggregation (fl-quantize --eden).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress/internal.h"

/* The Lloyd-Max quantizer of N(0, 1) with 2^b levels, b = 1..4: the
 * positive half (the negative half mirrors it). */
static const double lloyd_max[5][8] = {
	{ 0 },
	{ 0.7979 },
	{ 0.4528, 1.5104 },
	{ 0.2451, 0.7560, 1.3439, 2.1519 },
	{ 0.1284, 0.3881, 0.6568, 0.9424, 1.2562, 1.6181, 2.0690, 2.7326 },
};

/* Level k of 2^b, ascending: the negatives first. */
static double
eden_level(int b, unsigned k)
{
	unsigned half = 1u << (b - 1);

	return k < half ? -lloyd_max[b][half - 1 - k] : lloyd_max[b][k - half];
}

static int
side_tensor(const char *name)
{
	return strcmp(name, FL_Q_INDICATOR) == 0 ||
	    strcmp(name, FL_Q_LAYOUT) == 0 || strcmp(name, FL_Q_RANGE) == 0;
}

/* The rotated values to levels lv; returns the scale S. */
static double
levels(const float *buf, uint64_t dpad, double ss, int b, unsigned char *lv)
{
	double norm = sqrt(ss), dot = 0;

	for (uint64_t j = 0; j < dpad; j++) {
		double z = norm > 0 ? buf[j] / norm : 0;
		unsigned half = 1u << (b - 1), m = 0;

		/* The nearest level: count the midpoints below z. */
		while (m + 1 < half && fabs(z) > (lloyd_max[b][m] +
		    lloyd_max[b][m + 1]) / 2)
			m++;
		lv[j] = (unsigned char)(z < 0 ? half - 1 - m : half + m);
		dot += buf[j] * eden_level(b, lv[j]);
	}
	return dot > 0 ? ss * sqrt((double)dpad) / dot : 0;
}

/* Decode the levels to measure the error on the d real values. */
static int
eden_vnmse(const struct fl_record *rec, float *buf, const unsigned char *lv,
    uint64_t dpad, int b, double S, double ss, const unsigned char *key,
    double *vnmse, struct fl_error *err)
{
	uint64_t off = 0;
	double e2 = 0;

	for (uint64_t j = 0; j < dpad; j++)
		buf[j] = (float)(S * eden_level(b, lv[j]) /
		    sqrt((double)dpad));
	if (fl_rht_hd(buf, dpad, key, 1, err) < 0)
		return -1;
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];

		if (!fl_dtype_is_float(t->dtype))
			continue;
		for (uint64_t j = 0; j < t->numel; j++) {
			double e = buf[off + j] - fl_tensor_get(t, j);

			e2 += e * e;
		}
		off += t->numel;
	}
	*vnmse = e2 / ss;
	return 0;
}

/* The packed levels per tensor (the padding's as q.pad), q.layout and
 * q.range (S), then the metadata. */
static int
eden_record(struct fl_record *out, const struct fl_record *rec,
    const unsigned char *lv, const uint64_t *layout, size_t nf, uint64_t d,
    uint64_t dpad, int b, double S, const char *seed, struct fl_error *err)
{
	uint64_t dl[2] = { nf, 9 }, dr[1] = { 1 }, off = 0;
	struct fl_tensor *w;

	fl_record_clear(out);
	if (fl_meta_copy(out, rec, err) < 0)
		return -1;
	for (size_t i = 0; i <= rec->ntensors; i++) {
		const struct fl_tensor *t = i < rec->ntensors ?
		    &rec->tensors[i] : NULL;
		uint64_t n = t ? t->numel : dpad - d, nbytes;

		if (t == NULL && n == 0)
			break;
		if (t != NULL && strcmp(t->name, FL_Q_INDICATOR) == 0) {
			if (fl_codec_copy(out, t, err) < 0)
				return -1;
			continue;
		}
		nbytes = (n * (uint64_t)b + 7) / 8;
		w = fl_tensor_add(out, t ? t->name : FL_Q_PAD, FL_U8, 1,
		    &nbytes, err);
		if (w == NULL)
			return -1;
		fl_codec_pack(w->data, lv + off, n, b);
		off += n;
	}
	if ((w = fl_tensor_add(out, FL_Q_LAYOUT, FL_U64, 2, dl, err)) == NULL)
		return -1;
	memcpy(w->data, layout, w->nbytes);
	if ((w = fl_tensor_add(out, FL_Q_RANGE, FL_F64, 1, dr, err)) == NULL)
		return -1;
	memcpy(w->data, &S, sizeof(S));
	if (fl_meta_set(out, "q.codec", "eden", err) < 0 ||
	    fl_codec_set_u64(out, "q.bits", (uint64_t)b, err) < 0 ||
	    fl_meta_set(out, "q.rotation", "hd", err) < 0 ||
	    fl_meta_set(out, "q.rotation-seed", seed, err) < 0 ||
	    fl_codec_set_u64(out, "q.dim", d, err) < 0)
		return -1;
	return 0;
}

int
fl_eden_encode(struct fl_record *out, const struct fl_record *rec, int b,
    const char *rotation_seed, double *vnmse, struct fl_error *err)
{
	uint64_t d = 0, dpad, *layout = NULL;
	double ss = 0, S;
	unsigned char key[FL_RNG_KEYBYTES], *lv = NULL;
	char seedbuf[256];
	const char *seed = rotation_seed;
	size_t nf = 0, k = 0;
	float *buf = NULL;
	int rc = -1;

	if (fl_codec_refuse_encoded(rec, err) < 0 ||
	    fl_codec_input(rec, "EDEN", &d, &nf, &ss, err) < 0)
		return -1;
	if (seed == NULL) {
		const char *c = fl_meta_get(rec, "client");
		uint64_t round;

		if (fl_meta_get(rec, "round") == NULL)
			return fl_error_set(err, FL_EINVAL, "no rotation seed: "
			    "give --rotation-seed or a record with a round");
		if (fl_codec_need_u64(rec, "round", 0, UINT64_MAX, &round,
		    err) < 0)
			return -1;
		/* Each client its own rotation, so that errors average out
		 * over clients. */
		snprintf(seedbuf, sizeof(seedbuf), "round-%llu%s%.64s",
		    (unsigned long long)round, c ? ":" : "", c ? c : "");
		seed = seedbuf;
	}
	dpad = fl_rht_dim(d);
	if (dpad > SIZE_MAX / sizeof(float))
		return fl_error_set(err, FL_ELIMIT, "too many values");
	buf = malloc(dpad * sizeof(float));
	lv = malloc(dpad);
	layout = malloc(nf ? nf * 9 * sizeof(*layout) : 1);
	if (buf == NULL || lv == NULL || layout == NULL) {
		fl_error_set(err, FL_ENOMEM, "out of memory");
		goto out;
	}
	memset(layout, 0, nf * 9 * sizeof(*layout));
	if (fl_codec_gather(rec, buf, err) < 0)
		goto out;
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];

		if (!fl_dtype_is_float(t->dtype))
			continue;
		layout[k * 9] = (uint64_t)t->rank;
		for (int r = 0; r < t->rank; r++)
			layout[k * 9 + 1 + r] = t->dims[r];
		k++;
	}
	memset(buf + d, 0, (dpad - d) * sizeof(float));
	fl_rht_key(key, seed);
	if (fl_rht_hd(buf, dpad, key, 0, err) < 0)
		goto out;
	S = levels(buf, dpad, ss, b, lv);
	if (vnmse != NULL && eden_vnmse(rec, buf, lv, dpad, b, S, ss, key,
	    vnmse, err) < 0)
		goto out;
	free(buf);
	buf = NULL;
	if (eden_record(out, rec, lv, layout, nf, d, dpad, b, S, seed,
	    err) < 0)
		goto out;
	rc = 0;
out:
	free(buf);
	free(lv);
	free(layout);
	return rc;
}

/* The values of the packed tensors, times S / sqrt(dpad), into buf:
 * checked against q.layout as they go. */
static int
unpack_all(const struct fl_record *rec, const uint64_t *layout, int b,
    double S, uint64_t dim, uint64_t dpad, float *buf, struct fl_error *err)
{
	uint64_t k = 0, off = 0;

	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		uint64_t n = 1;

		if (side_tensor(t->name))
			continue;
		if (strcmp(t->name, FL_Q_PAD) == 0) {
			n = dpad - dim;
		} else {
			if (layout[k * 9] > FL_MAX_RANK)
				return fl_error_set(err, FL_EFORMAT, "bad rank "
				    "in '%s'", FL_Q_LAYOUT);
			for (uint64_t r = 0; r < layout[k * 9]; r++) {
				uint64_t dr = layout[k * 9 + 1 + r];

				if (dr != 0 && n > UINT64_MAX / dr)
					return fl_error_set(err, FL_EFORMAT,
					    "bad shape in '%s'", FL_Q_LAYOUT);
				n *= dr;
			}
			k++;
		}
		if (t->dtype != FL_U8 || off + n > dpad ||
		    t->numel != (n * (uint64_t)b + 7) / 8)
			return fl_error_set(err, FL_EFORMAT, "tensor '%s' does "
			    "not match its layout", t->name);
		for (uint64_t j = 0; j < n; j++)
			buf[off + j] = (float)(S * eden_level(b,
			    fl_codec_unpack(t->data, t->numel, j, b)) /
			    sqrt((double)dpad));
		off += n;
	}
	if (off != dpad)
		return fl_error_set(err, FL_EFORMAT, "%llu values, q.dim %llu "
		    "wants %llu", (unsigned long long)off,
		    (unsigned long long)dim, (unsigned long long)dpad);
	return 0;
}

/* The decoded tensors in their shapes, from the rotated-back buf. */
static int
eden_out(struct fl_record *out, const struct fl_record *rec,
    const uint64_t *layout, const float *buf, struct fl_error *err)
{
	uint64_t k = 0, off = 0;

	fl_record_clear(out);
	if (fl_meta_copy(out, rec, err) < 0)
		return -1;
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		uint64_t dims[FL_MAX_RANK];
		struct fl_tensor *w;
		int rank;

		if (strcmp(t->name, FL_Q_INDICATOR) == 0) {
			if (fl_codec_copy(out, t, err) < 0)
				return -1;
			continue;
		}
		if (side_tensor(t->name) || strcmp(t->name, FL_Q_PAD) == 0)
			continue;
		rank = (int)layout[k * 9];
		for (int r = 0; r < rank; r++)
			dims[r] = layout[k * 9 + 1 + r];
		k++;
		w = fl_tensor_add(out, t->name, FL_F32, rank, dims, err);
		if (w == NULL)
			return -1;
		memcpy(w->data, buf + off, w->nbytes);
		off += w->numel;
	}
	return 0;
}

int
fl_eden_decode(struct fl_record *out, const struct fl_record *rec,
    struct fl_error *err)
{
	uint64_t bits, dim, dpad, nf = 0;
	const char *seed;
	const struct fl_tensor *lt = fl_tensor_find(rec, FL_Q_LAYOUT);
	const struct fl_tensor *rt = fl_tensor_find(rec, FL_Q_RANGE);
	unsigned char key[FL_RNG_KEYBYTES];
	const uint64_t *layout;
	double S;
	float *buf;
	int b, rc = -1;

	if (fl_codec_need_u64(rec, "q.bits", 1, 4, &bits, err) < 0 ||
	    fl_codec_need_u64(rec, "q.dim", 1, UINT64_C(1) << 40, &dim,
	    err) < 0 || (seed = fl_codec_need(rec, "q.rotation-seed",
	    err)) == NULL)
		return -1;
	b = (int)bits;
	dpad = fl_rht_dim(dim);
	if (lt == NULL || rt == NULL)
		return fl_error_set(err, FL_EFORMAT, "missing quantization "
		    "metadata: tensor '%s'", lt == NULL ? FL_Q_LAYOUT :
		    FL_Q_RANGE);
	for (size_t i = 0; i < rec->ntensors; i++)
		nf += !side_tensor(rec->tensors[i].name) &&
		    strcmp(rec->tensors[i].name, FL_Q_PAD) != 0;
	if (lt->dtype != FL_U64 || lt->rank != 2 || lt->dims[0] != nf ||
	    lt->dims[1] != 9 || rt->dtype != FL_F64 || rt->numel != 1)
		return fl_error_set(err, FL_EFORMAT, "tensors '%s' and '%s' do "
		    "not describe the %llu encoded tensors", FL_Q_LAYOUT,
		    FL_Q_RANGE, (unsigned long long)nf);
	layout = lt->data;
	S = ((const double *)rt->data)[0];
	if (!isfinite(S))
		return fl_error_set(err, FL_EFORMAT, "bad scale in '%s'",
		    FL_Q_RANGE);
	if ((buf = malloc(dpad * sizeof(float))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	if (unpack_all(rec, layout, b, S, dim, dpad, buf, err) < 0)
		goto out;
	fl_rht_key(key, seed);
	if (fl_rht_hd(buf, dpad, key, 1, err) < 0 ||
	    eden_out(out, rec, layout, buf, err) < 0)
		goto out;
	fl_codec_drop_keys(out);
	rc = 0;
out:
	free(buf);
	return rc;
}
