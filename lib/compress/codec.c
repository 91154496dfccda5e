/* SPDX-License-Identifier: ISC */
/*
 * What the record codecs share (codec-*.c): the metadata a decoder needs,
 * the checks every encoder makes of its input, the float tensors as one
 * vector, packed levels, the mean of a decoded sum, and the state of a
 * decoding run.  Apart from the codecs so that each of them calls down
 * into this file and none calls another.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress/internal.h"

void
fl_decode_run_init(struct fl_decode_run *run, int mean, double denominator)
{
	memset(run, 0, sizeof(*run));
	run->mean = mean;
	run->denominator = denominator;
}

void
fl_decode_run_free(struct fl_decode_run *run)
{
	free(run->seed);
	run->seed = NULL;
}

/* ---- metadata ---- */

const char *
fl_codec_need(const struct fl_record *rec, const char *key,
    struct fl_error *err)
{
	const char *v = fl_meta_get(rec, key);

	if (v == NULL)
		fl_error_set(err, FL_EFORMAT, "missing quantization metadata "
		    "'%s'", key);
	return v;
}

int
fl_codec_need_u64(const struct fl_record *rec, const char *key,
    uint64_t min, uint64_t max, uint64_t *out, struct fl_error *err)
{
	if (fl_codec_need(rec, key, err) == NULL ||
	    fl_meta_u64(rec, key, min, max, out, err) < 0)
		return -1;
	return 0;
}

int
fl_codec_need_double(const struct fl_record *rec, const char *key,
    double min, double max, double *out, struct fl_error *err)
{
	if (fl_codec_need(rec, key, err) == NULL ||
	    fl_meta_double(rec, key, min, max, out, err) < 0)
		return -1;
	return 0;
}

int
fl_codec_set_u64(struct fl_record *rec, const char *key, uint64_t v,
    struct fl_error *err)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	return fl_meta_set(rec, key, buf, err);
}

int
fl_codec_set_double(struct fl_record *rec, const char *key, double v,
    struct fl_error *err)
{
	char buf[FL_NUMBUF];

	return fl_meta_set(rec, key, fl_format_double(buf, v), err);
}

/* ---- an encoder's input ---- */

int
fl_codec_refuse_encoded(const struct fl_record *rec, struct fl_error *err)
{
	const char *v = fl_meta_get(rec, "q.codec");
	char q[FL_QUOTE];

	if (v != NULL)
		return fl_error_set(err, FL_EINVAL, "already encoded "
		    "(q.codec=%s)", fl_escape(q, sizeof(q), v, strlen(v)));
	return 0;
}

/* The names of the tensors the codecs add to a record. */
static int
codec_tensor(const char *name)
{
	return strcmp(name, FL_Q_PAD) == 0 || strcmp(name, FL_Q_LAYOUT) == 0 ||
	    strcmp(name, FL_Q_RANGE) == 0;
}

/* From one pass: a NaN or infinity makes the sum non-finite, and only
 * then are the values searched, to name it. */
int
fl_codec_input(const struct fl_record *rec, const char *what, uint64_t *dp,
    size_t *nf, double *ss, struct fl_error *err)
{
	uint64_t d = 0;
	double s = 0;
	size_t n = 0;

	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];

		if (strcmp(t->name, FL_Q_INDICATOR) == 0) {
			if (t->dtype != FL_U32)
				return fl_error_set(err, FL_EINVAL, "tensor "
				    "'%s' must be u32", t->name);
			continue;
		}
		if (codec_tensor(t->name))
			return fl_error_set(err, FL_EINVAL, "tensor '%s': a "
			    "name the codecs use for their own tensors",
			    t->name);
		if (!fl_dtype_is_float(t->dtype))
			return fl_error_set(err, FL_EINVAL, "tensor '%s' is "
			    "%s: %s takes float tensors", t->name,
			    fl_dtype_name(t->dtype), what);
		s += fl_tensor_sumsq(t);
		d += t->numel;
		n++;
	}
	if (!isfinite(s)) {
		for (size_t i = 0; i < rec->ntensors; i++)
			if (fl_dtype_is_float(rec->tensors[i].dtype) &&
			    fl_tensor_check_finite(&rec->tensors[i], err) < 0)
				return -1;
		return fl_error_set(err, FL_EINVAL, "the values are too "
		    "large: their norm overflows a double");
	}
	if (d == 0)
		return fl_error_set(err, FL_EINVAL, "no float values to "
		    "encode");
	*dp = d;
	if (nf != NULL)
		*nf = n;
	if (ss != NULL)
		*ss = s;
	return 0;
}

int
fl_codec_gather(const struct fl_record *rec, float *x, struct fl_error *err)
{
	uint64_t off = 0;

	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];

		if (t->dtype == FL_F32) {
			memcpy(x + off, t->data, t->nbytes);
		} else if (fl_dtype_is_half(t->dtype)) {
			const uint16_t *v = t->data;

			for (uint64_t j = 0; j < t->numel; j++)
				x[off + j] = fl_half_to_float(t->dtype, v[j]);
		} else if (t->dtype == FL_F64) {
			const double *v = t->data;

			for (uint64_t j = 0; j < t->numel; j++) {
				x[off + j] = (float)v[j];
				if (!isfinite(x[off + j]))
					return fl_error_set(err, FL_EINVAL,
					    "value %llu does not fit in f32",
					    (unsigned long long)(off + j));
			}
		} else {
			continue;
		}
		off += t->numel;
	}
	return 0;
}

int
fl_codec_copy(struct fl_record *out, const struct fl_tensor *t,
    struct fl_error *err)
{
	struct fl_tensor *w = fl_tensor_add(out, t->name, t->dtype, t->rank,
	    t->dims, err);

	if (w == NULL)
		return -1;
	memcpy(w->data, t->data, t->nbytes);
	return 0;
}

/* ---- decoding ---- */

void
fl_codec_drop_keys(struct fl_record *rec)
{
	for (size_t i = 0; i < rec->nmeta; ) {
		char key[FL_MAX_KEY + 1];

		snprintf(key, sizeof(key), "%s", rec->meta[i].key);
		if (strncmp(key, "q.", 2) == 0 || strcmp(key, "modulus") == 0)
			fl_meta_del(rec, key);
		else
			i++;
	}
}

void
fl_codec_pack(unsigned char *out, const unsigned char *lv, uint64_t n, int b)
{
	uint64_t acc = 0;
	int nbits = 0;

	for (uint64_t j = 0; j < n; j++) {
		acc |= (uint64_t)lv[j] << nbits;
		nbits += b;
		while (nbits >= 8) {
			*out++ = (unsigned char)acc;
			acc >>= 8;
			nbits -= 8;
		}
	}
	if (nbits > 0)
		*out = (unsigned char)acc;
}

unsigned
fl_codec_unpack(const unsigned char *pk, uint64_t nbytes, uint64_t j, int b)
{
	uint64_t bit = j * (uint64_t)b;
	unsigned two = pk[bit / 8] | (bit / 8 + 1 < nbytes ?
	    (unsigned)pk[bit / 8 + 1] << 8 : 0);

	return (two >> (bit % 8)) & ((1u << b) - 1);
}

/*
 * The record's exact client count, or the public denominator.  A fixed
 * denominator (McMahan et al. 2018's fixed-denominator estimator) keeps
 * the released mean from depending on how many clients took part: only
 * the noised sum does.
 */
int
fl_codec_divisor(const struct fl_decode_run *run, const struct fl_record *rec,
    int is_sum, double *divisor, struct fl_error *err)
{
	uint64_t n;

	*divisor = 1;
	if (!run->mean || !is_sum)
		return 0;
	if (!isnan(run->denominator)) {
		*divisor = run->denominator;
		return 0;
	}
	if (fl_meta_get(rec, "clients") == NULL)
		return 0;
	if (fl_codec_need_u64(rec, "clients", 1, UINT64_MAX, &n, err) < 0)
		return -1;
	*divisor = (double)n;
	return 0;
}

int
fl_codec_mark_mean(const struct fl_decode_run *run, struct fl_record *out,
    double divisor, struct fl_error *err)
{
	if (!isnan(run->denominator)) {
		if (fl_meta_set(out, "agg", "mean", err) < 0 ||
		    fl_codec_set_double(out, "agg.denominator", divisor,
		    err) < 0)
			return -1;
	} else if (divisor > 1) {
		if (fl_meta_set(out, "agg", "mean", err) < 0)
			return -1;
	}
	return 0;
}
