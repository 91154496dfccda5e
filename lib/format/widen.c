/* SPDX-License-Identifier: ISC */
/*
 * Half tensors computed in f32: a record's f16 and bf16 tensors widened to
 * f32 in place (a new payload, the same names, shapes and order), and
 * narrowed back by name, or every float tensor cast to one dtype (the
 * outputs' --dtype; the conversions are half.c's).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/internal.h"

void
fl_halves_free(struct fl_halves *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->n; i++)
		free(h->names[i]);
	free(h->names);
	free(h->dtypes);
	memset(h, 0, sizeof(*h));
}

/* Index of name in h (names sorted), or -1. */
static long
halves_find(const struct fl_halves *h, const char *name)
{
	size_t lo = 0, hi = h->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, h->names[mid]);

		if (c == 0)
			return (long)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* Element i of a float tensor, exactly. */
static double
float_at(const struct fl_tensor *t, uint64_t i)
{
	switch (t->dtype) {
	case FL_F16:
	case FL_BF16:
		return fl_half_to_float(t->dtype, ((const uint16_t *)t->data)[i]);
	case FL_F32:
		return ((const float *)t->data)[i];
	default:
		return ((const double *)t->data)[i];
	}
}

/* The values of src into dst, both float tensors of different dtypes:
 * each value rounded once to nearest (ties to even; a value that came
 * from f32 is exact in a double, so rounding it from there is rounding
 * the float): 0, or -1 when a finite value overflows dst's dtype. */
static int
convert(const struct fl_tensor *src, struct fl_tensor *dst,
    struct fl_error *err)
{
	for (uint64_t i = 0; i < src->numel; i++) {
		double x = float_at(src, i), y;

		switch (dst->dtype) {
		case FL_F16:
		case FL_BF16:
			((uint16_t *)dst->data)[i] = fl_half_from_double(
			    dst->dtype, x);
			break;
		case FL_F32:
			((float *)dst->data)[i] = (float)x;
			break;
		default:
			((double *)dst->data)[i] = x;
			break;
		}
		y = float_at(dst, i);
		if (isfinite(x) && isinf(y)) {
			char num[FL_NUMBUF];

			return fl_error_set(err, FL_ELIMIT, "tensor '%s' element "
			    "%llu: %s overflows %s", src->name,
			    (unsigned long long)i, fl_format_double(num, x),
			    fl_dtype_name(dst->dtype));
		}
	}
	return 0;
}

/* Give rec's tensors the dtypes to[] (each a float dtype when it changes),
 * converting the values: a new payload, swapped in at the end, so that a
 * failure leaves rec as it was. */
static int
recast(struct fl_record *rec, const enum fl_dtype *to, struct fl_error *err)
{
	struct fl_record tmp;

	fl_record_init(&tmp);
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		struct fl_tensor *u = fl_tensor_add(&tmp, t->name, to[i],
		    t->rank, t->dims, err);

		if (u == NULL)
			goto fail;
		if (to[i] == t->dtype)
			memcpy(u->data, t->data, t->nbytes);
		else if (convert(t, u, err) < 0)
			goto fail;
	}
	/* The converted tensors and payload into rec, the old ones out. */
#define SWAP(a, b) do { __typeof__(a) s_ = (a); (a) = (b); (b) = s_; } while (0)
	SWAP(rec->tensors, tmp.tensors);
	SWAP(rec->ntensors, tmp.ntensors);
	SWAP(rec->tensorcap, tmp.tensorcap);
	SWAP(rec->raw, tmp.raw);
	SWAP(rec->rawlen, tmp.rawlen);
	SWAP(rec->rawcap, tmp.rawcap);
#undef SWAP
	fl_record_free(&tmp);
	return 0;
fail:
	fl_record_free(&tmp);
	return -1;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
fl_record_widen(struct fl_record *rec, struct fl_halves *h,
    struct fl_error *err)
{
	enum fl_dtype *to;
	size_t n = 0;
	int rc;

	if (h != NULL)
		memset(h, 0, sizeof(*h));
	for (size_t i = 0; i < rec->ntensors; i++)
		n += fl_dtype_is_half(rec->tensors[i].dtype);
	if (n == 0)
		return 0;
	if ((to = malloc(rec->ntensors * sizeof(*to))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	if (h != NULL && ((h->names = calloc(n, sizeof(*h->names))) == NULL ||
	    (h->dtypes = malloc(n * sizeof(*h->dtypes))) == NULL))
		goto nomem;
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];

		to[i] = fl_dtype_is_half(t->dtype) ? FL_F32 : t->dtype;
		if (h == NULL || !fl_dtype_is_half(t->dtype))
			continue;
		if ((h->names[h->n] = strdup(t->name)) == NULL)
			goto nomem;
		h->n++;
	}
	if (h != NULL) {
		/* Sorted by name for the lookups, each dtype beside its
		 * name again. */
		qsort(h->names, h->n, sizeof(*h->names), by_name);
		for (size_t i = 0; i < h->n; i++)
			h->dtypes[i] = fl_tensor_find(rec, h->names[i])->dtype;
	}
	rc = recast(rec, to, err);
	free(to);
	if (rc < 0)
		fl_halves_free(h);
	return rc;
nomem:
	free(to);
	fl_halves_free(h);
	return fl_error_set(err, FL_ENOMEM, "out of memory");
}

int
fl_record_narrow(struct fl_record *rec, const struct fl_halves *h,
    struct fl_error *err)
{
	enum fl_dtype *to;
	int rc, any = 0;

	if (h == NULL || h->n == 0 || rec->ntensors == 0)
		return 0;
	if ((to = malloc(rec->ntensors * sizeof(*to))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		long k = halves_find(h, t->name);

		to[i] = t->dtype;
		if (k >= 0 && (t->dtype == FL_F32 || t->dtype == FL_F64)) {
			to[i] = h->dtypes[k];
			any = 1;
		}
	}
	rc = any ? recast(rec, to, err) : 0;
	free(to);
	return rc;
}

int
fl_record_cast(struct fl_record *rec, enum fl_dtype dt, struct fl_error *err)
{
	enum fl_dtype *to;
	int rc, any = 0;

	if (!fl_dtype_is_float(dt))
		return fl_error_set(err, FL_EINVAL, "%s is not a float dtype",
		    fl_dtype_name(dt));
	if (rec->ntensors == 0)
		return 0;
	if ((to = malloc(rec->ntensors * sizeof(*to))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	for (size_t i = 0; i < rec->ntensors; i++) {
		enum fl_dtype d = rec->tensors[i].dtype;

		to[i] = fl_dtype_is_float(d) ? dt : d;
		any |= to[i] != d;
	}
	rc = any ? recast(rec, to, err) : 0;
	free(to);
	return rc;
}
