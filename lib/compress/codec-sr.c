/* SPDX-License-Identifier: ISC */
/*
 * Codec sr: plain stochastic rounding of a record to b bits, one scale per
 * record or per tensor, for links without secure aggregation (fl-quantize
 * --bits).  The rounding is unbiased; its uniforms come from ChaCha20
 * stream (tensor << 32 | chunk) of the record's private key, so the output
 * depends on the key alone.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "compress/internal.h"

/* Is t one of the encoded payload tensors (not a side table)? */
static int
side_tensor(const char *name)
{
	return strcmp(name, FL_Q_INDICATOR) == 0 ||
	    strcmp(name, FL_Q_LAYOUT) == 0 || strcmp(name, FL_Q_RANGE) == 0;
}

/* Each float tensor's shape (q.layout: rank, dims) and largest magnitude,
 * or with per_tensor 0 the record's. */
static void
ranges(const struct fl_record *rec, int per_tensor, size_t nf,
    uint64_t *layout, double *range)
{
	double mrec = 0;
	size_t k = 0;

	memset(layout, 0, nf * 9 * sizeof(*layout));
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		double m = 0;

		if (!fl_dtype_is_float(t->dtype))
			continue;
		for (uint64_t j = 0; j < t->numel; j++) {
			double x = fabs(fl_tensor_get(t, j));

			m = x > m ? x : m;
		}
		range[k] = m;
		mrec = m > mrec ? m : mrec;
		layout[k * 9] = (uint64_t)t->rank;
		for (int r = 0; r < t->rank; r++)
			layout[k * 9 + 1 + r] = t->dims[r];
		k++;
	}
	if (!per_tensor)
		for (k = 0; k < nf; k++)
			range[k] = mrec;
}

/* Tensor t (number i of the record) rounded to the grid of range m into
 * w; adds to the error e2 and the sum of squares ss. */
static void
round_tensor(const struct fl_tensor *t, size_t i, struct fl_tensor *w,
    int bits, double m, const unsigned char *rkey, uint32_t *u,
    double *e2, double *ss)
{
	double levels = ldexp(1, bits) - 1, step = 2 * m / levels, inv;
	unsigned char *pk = w->data;
	uint16_t *p16 = w->data;
	uint64_t acc = 0;
	int nbits = 0;

	inv = step > 0 ? 1 / step : 0;
	for (uint64_t j = 0; j < t->numel; j++) {
		double x = fl_tensor_get(t, j), y, f, xhat;
		uint64_t lv;

		if (j % 4096 == 0)
			fl_rng_stream_u32(u, 4096, rkey,
			    (uint64_t)i << 32 | j / 4096, 0);
		y = (x + m) * inv;
		y = y < 0 ? 0 : y > levels ? levels : y;
		f = floor(y);
		lv = (uint64_t)f + ((double)u[j % 4096] < (y - f) * 0x1p32);
		lv = lv > (uint64_t)levels ? (uint64_t)levels : lv;
		xhat = (double)lv * step - m;
		*e2 += (xhat - x) * (xhat - x);
		*ss += x * x;
		if (bits < 8) {
			acc |= lv << nbits;
			nbits += bits;
			while (nbits >= 8) {
				*pk++ = (unsigned char)acc;
				acc >>= 8;
				nbits -= 8;
			}
		} else if (bits == 8) {
			pk[j] = (unsigned char)lv;
		} else {
			p16[j] = (uint16_t)lv;
		}
	}
	if (bits < 8 && nbits > 0)
		*pk = (unsigned char)acc;
}

/* The encoded tensors, then q.layout and q.range. */
static int
sr_tensors(struct fl_record *out, const struct fl_record *rec, int bits,
    const uint64_t *layout, const double *range, size_t nf,
    const unsigned char *rkey, uint32_t *u, double *e2, double *ss,
    struct fl_error *err)
{
	uint64_t dl[2] = { nf, 9 }, dr[1] = { nf };
	struct fl_tensor *w;
	size_t k = 0;

	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		uint64_t nbytes;

		if (strcmp(t->name, FL_Q_INDICATOR) == 0) {
			if (fl_codec_copy(out, t, err) < 0)
				return -1;
			continue;
		}
		if (bits < 8) {
			nbytes = (t->numel * (uint64_t)bits + 7) / 8;
			w = fl_tensor_add(out, t->name, FL_U8, 1, &nbytes, err);
		} else {
			w = fl_tensor_add(out, t->name, bits == 8 ? FL_U8 :
			    FL_U16, t->rank, t->dims, err);
		}
		if (w == NULL)
			return -1;
		round_tensor(t, i, w, bits, range[k], rkey, u, e2, ss);
		k++;
	}
	if ((w = fl_tensor_add(out, FL_Q_LAYOUT, FL_U64, 2, dl, err)) == NULL)
		return -1;
	memcpy(w->data, layout, w->nbytes);
	if ((w = fl_tensor_add(out, FL_Q_RANGE, FL_F64, 1, dr, err)) == NULL)
		return -1;
	memcpy(w->data, range, w->nbytes);
	return 0;
}

int
fl_sr_encode(struct fl_record *out, const struct fl_record *rec, int bits,
    int per_tensor, int seeded, const unsigned char key[FL_RNG_KEYBYTES],
    double *vnmse, struct fl_error *err)
{
	uint32_t u[4096];
	size_t nf = 0;
	double ss = 0, e2 = 0;
	uint64_t d, *layout;
	double *range;
	int rc = -1;

	if (fl_codec_refuse_encoded(rec, err) < 0 ||
	    fl_codec_input(rec, "stochastic rounding", &d, &nf, NULL, err) < 0)
		return -1;
	layout = malloc(nf * 9 * sizeof(*layout));
	range = malloc(nf * sizeof(*range));
	if (layout == NULL || range == NULL) {
		fl_error_set(err, FL_ENOMEM, "out of memory");
		goto out;
	}
	ranges(rec, per_tensor, nf, layout, range);
	fl_record_clear(out);
	if (fl_meta_copy(out, rec, err) < 0)
		goto out;
	rc = sr_tensors(out, rec, bits, layout, range, nf, key, u, &e2, &ss,
	    err);
	memset(u, 0, sizeof(u));
	if (rc < 0)
		goto out;
	rc = -1;
	if (fl_meta_set(out, "q.codec", "sr", err) < 0 ||
	    fl_codec_set_u64(out, "q.bits", (uint64_t)bits, err) < 0 ||
	    fl_meta_set(out, "q.rotation", "none", err) < 0 ||
	    (seeded && fl_meta_set(out, "q.seeded", "yes", err) < 0))
		goto out;
	*vnmse = e2 / ss;
	rc = 0;
out:
	free(layout);
	free(range);
	return rc;
}

int
fl_sr_decode(struct fl_record *out, const struct fl_record *rec,
    struct fl_error *err)
{
	uint64_t bits, nf = 0, k = 0;
	const struct fl_tensor *lt = fl_tensor_find(rec, FL_Q_LAYOUT);
	const struct fl_tensor *rt = fl_tensor_find(rec, FL_Q_RANGE);
	double levels;
	const uint64_t *layout;
	const double *range;

	if (fl_codec_need_u64(rec, "q.bits", 1, 16, &bits, err) < 0)
		return -1;
	levels = ldexp(1, (int)bits) - 1;
	if (lt == NULL || rt == NULL)
		return fl_error_set(err, FL_EFORMAT, "missing quantization "
		    "metadata: tensor '%s'", lt == NULL ? FL_Q_LAYOUT :
		    FL_Q_RANGE);
	for (size_t i = 0; i < rec->ntensors; i++)
		nf += !side_tensor(rec->tensors[i].name);
	if (lt->dtype != FL_U64 || lt->rank != 2 || lt->dims[0] != nf ||
	    lt->dims[1] != 9 || rt->dtype != FL_F64 || rt->numel != nf)
		return fl_error_set(err, FL_EFORMAT, "tensors '%s' and '%s' do "
		    "not describe the %llu encoded tensors", FL_Q_LAYOUT,
		    FL_Q_RANGE, (unsigned long long)nf);
	layout = lt->data;
	range = rt->data;
	fl_record_clear(out);
	if (fl_meta_copy(out, rec, err) < 0)
		return -1;
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		uint64_t dims[FL_MAX_RANK], numel = 1, want;
		struct fl_tensor *w;
		int rank;
		double step;
		float *y;

		if (strcmp(t->name, FL_Q_LAYOUT) == 0 ||
		    strcmp(t->name, FL_Q_RANGE) == 0)
			continue;
		if (strcmp(t->name, FL_Q_INDICATOR) == 0) {
			if (fl_codec_copy(out, t, err) < 0)
				return -1;
			continue;
		}
		rank = (int)layout[k * 9];
		if (rank > FL_MAX_RANK)
			return fl_error_set(err, FL_EFORMAT, "bad rank in '%s'",
			    FL_Q_LAYOUT);
		for (int r = 0; r < rank; r++) {
			dims[r] = layout[k * 9 + 1 + r];
			if (dims[r] != 0 && numel > UINT64_MAX / dims[r])
				return fl_error_set(err, FL_EFORMAT, "bad shape "
				    "in '%s'", FL_Q_LAYOUT);
			numel *= dims[r];
		}
		want = bits < 8 ? (numel * bits + 7) / 8 : numel;
		if (t->dtype != (bits <= 8 ? FL_U8 : FL_U16) ||
		    t->numel != want || !(range[k] >= 0) ||
		    !isfinite(range[k]))
			return fl_error_set(err, FL_EFORMAT, "tensor '%s' does "
			    "not match its layout", t->name);
		step = 2 * range[k] / levels;
		w = fl_tensor_add(out, t->name, FL_F32, rank, dims, err);
		if (w == NULL)
			return -1;
		y = w->data;
		for (uint64_t j = 0; j < numel; j++) {
			uint64_t lv;

			if (bits < 8)
				lv = fl_codec_unpack(t->data, t->numel, j,
				    (int)bits);
			else if (bits == 8)
				lv = ((const unsigned char *)t->data)[j];
			else
				lv = ((const uint16_t *)t->data)[j];
			y[j] = (float)((double)lv * step - range[k]);
		}
		k++;
	}
	fl_codec_drop_keys(out);
	return 0;
}
