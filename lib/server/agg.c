/* SPDX-License-Identifier: ISC */
/*
 * Aggregation arithmetic.  Streaming sums hold one accumulator per model
 * (f64 for floats, so that a million small updates do not drown in f32
 * rounding; exact 64-bit integers otherwise).  The robust rules work on rows
 * of values given by pointer, so a caller can hand them whole records held
 * in memory or coordinate chunks re-read from files: both go through the
 * same fixed blocks of FL_AGG_BLOCK coordinates and give the same bits.
 *
 * The hot loops use GCC/clang vector extensions: the build's -O2 does not
 * vectorise loops of unknown length, and f64 reductions never vectorise
 * without reassociation, which we want to control (several accumulators in
 * a fixed order keep results reproducible).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/internal.h"
#include "server/server.h"

typedef double v2d __attribute__((vector_size(16)));
typedef float v2f __attribute__((vector_size(8)));

/* ---- layouts ---- */

void
fl_layout_free(struct fl_layout *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->t[i].name);
	free(l->t);
	l->t = NULL;
	l->n = 0;
}

int
fl_layout_init(struct fl_layout *l, const struct fl_record *rec,
    struct fl_error *err)
{
	l->t = NULL;
	l->n = 0;
	if (rec->ntensors == 0)
		return 0;
	if ((l->t = calloc(rec->ntensors, sizeof(*l->t))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		struct fl_layout_tensor *lt = &l->t[i];

		if ((lt->name = strdup(t->name)) == NULL) {
			l->n = i;
			fl_layout_free(l);
			return fl_error_set(err, FL_ENOMEM, "out of memory");
		}
		lt->dtype = t->dtype;
		lt->rank = t->rank;
		memcpy(lt->dims, t->dims, sizeof(lt->dims));
		lt->numel = t->numel;
		lt->offset = t->offset;
	}
	l->n = rec->ntensors;
	return 0;
}

static void
describe(char *buf, size_t n, enum fl_dtype dt, int rank,
    const uint64_t *dims)
{
	char shape[256];

	fl_shape_format(shape, sizeof(shape), rank, dims);
	snprintf(buf, n, "%s %s", fl_dtype_name(dt), shape);
}

enum fl_dtype
fl_agg_dtype(enum fl_dtype dt)
{
	return fl_dtype_is_half(dt) ? FL_F32 : dt;
}

/* rec against l: as the inputs are, or (result) as their aggregate is. */
static int
layout_check(const struct fl_layout *l, const struct fl_record *rec,
    int result, struct fl_error *err)
{
	char a[300], b[300];

	for (size_t i = 0; i < l->n && i < rec->ntensors; i++) {
		const struct fl_layout_tensor *lt = &l->t[i];
		const struct fl_tensor *t = &rec->tensors[i];
		enum fl_dtype dt = result ? fl_agg_dtype(lt->dtype) : lt->dtype;
		int same = t->dtype == dt && t->rank == lt->rank;

		if (strcmp(t->name, lt->name) != 0)
			return fl_error_set(err, FL_EINVAL, "tensor %zu is "
			    "'%s', the first record has '%s' there", i + 1,
			    t->name, lt->name);
		for (int d = 0; same && d < t->rank; d++)
			same = t->dims[d] == lt->dims[d];
		if (!same) {
			describe(a, sizeof(a), t->dtype, t->rank, t->dims);
			describe(b, sizeof(b), dt, lt->rank, lt->dims);
			return fl_error_set(err, FL_EINVAL, "tensor '%s' is %s, "
			    "the first record has %s", t->name, a, b);
		}
	}
	if (rec->ntensors != l->n)
		return fl_error_set(err, FL_EINVAL, "%zu tensors, the first "
		    "record has %zu", rec->ntensors, l->n);
	return 0;
}

int
fl_layout_check(const struct fl_layout *l, const struct fl_record *rec,
    struct fl_error *err)
{
	return layout_check(l, rec, 0, err);
}

int
fl_layout_add(const struct fl_layout *l, struct fl_record *rec,
    struct fl_error *err)
{
	for (size_t i = 0; i < l->n; i++)
		if (fl_tensor_add(rec, l->t[i].name,
		    fl_agg_dtype(l->t[i].dtype), l->t[i].rank, l->t[i].dims,
		    err) == NULL)
			return -1;
	return 0;
}

/* ---- norms and non-finite values ---- */

/* Sum of squares, with several accumulators for speed; any non-finite
 * value makes the result non-finite. */
static double half_pass(double *restrict acc, const struct fl_tensor *t,
    double w);

static double
ssq_f32(const float *x, size_t n)
{
	v2d a0 = { 0, 0 }, a1 = a0, a2 = a0, a3 = a0;
	size_t i = 0;
	double s;

	for (; i + 8 <= n; i += 8) {
		v2f f0, f1, f2, f3;
		v2d d0, d1, d2, d3;

		memcpy(&f0, x + i, 8);
		memcpy(&f1, x + i + 2, 8);
		memcpy(&f2, x + i + 4, 8);
		memcpy(&f3, x + i + 6, 8);
		d0 = __builtin_convertvector(f0, v2d);
		d1 = __builtin_convertvector(f1, v2d);
		d2 = __builtin_convertvector(f2, v2d);
		d3 = __builtin_convertvector(f3, v2d);
		a0 += d0 * d0;
		a1 += d1 * d1;
		a2 += d2 * d2;
		a3 += d3 * d3;
	}
	a0 = (a0 + a1) + (a2 + a3);
	s = a0[0] + a0[1];
	for (; i < n; i++)
		s += (double)x[i] * x[i];
	return s;
}

static double
ssq_f64(const double *x, size_t n)
{
	v2d a0 = { 0, 0 }, a1 = a0, a2 = a0, a3 = a0;
	size_t i = 0;
	double s;

	for (; i + 8 <= n; i += 8) {
		v2d d0, d1, d2, d3;

		memcpy(&d0, x + i, 16);
		memcpy(&d1, x + i + 2, 16);
		memcpy(&d2, x + i + 4, 16);
		memcpy(&d3, x + i + 6, 16);
		a0 += d0 * d0;
		a1 += d1 * d1;
		a2 += d2 * d2;
		a3 += d3 * d3;
	}
	a0 = (a0 + a1) + (a2 + a3);
	s = a0[0] + a0[1];
	for (; i < n; i++)
		s += x[i] * x[i];
	return s;
}

/* Half values, widened (exactly) into a float buffer a block at a time
 * and handed to the f32 kernels.  HALF_BLOCK is a multiple of 8, so the
 * kernels' steps fall as on an f32 tensor. */
#define HALF_BLOCK 256

static void
widen_block(float *f, const struct fl_tensor *t, uint64_t from, size_t n)
{
	const uint16_t *h = (const uint16_t *)t->data + from;

	for (size_t k = 0; k < n; k++)
		f[k] = fl_half_to_float(t->dtype, h[k]);
}

/*
 * The slow, exact path, taken only when the fast sum of squares is not
 * finite: count the non-finite values, and compute the norm of finite
 * values too large to square (f64 above 1e154) by scaling.
 */
static double
l2_careful(const struct fl_tensor *t, uint64_t *nonfinite)
{
	double big = 0, s = 0;
	uint64_t bad = 0;

	for (uint64_t i = 0; i < t->numel; i++) {
		double v = fl_tensor_get(t, i);

		if (!isfinite(v))
			bad++;
		else if (fabs(v) > big)
			big = fabs(v);
	}
	*nonfinite = bad;
	if (bad)
		return NAN;
	if (big == 0)
		return 0;
	for (uint64_t i = 0; i < t->numel; i++) {
		double v = fl_tensor_get(t, i) / big;

		s += v * v;
	}
	return big * sqrt(s);
}

/* Fold one tensor's sum of squares into the scan. */
static void
scan_tensor(const struct fl_tensor *t, size_t idx, double ssq,
    struct fl_scan *s)
{
	double l2;
	uint64_t bad = 0;

	if (isfinite(ssq))
		l2 = sqrt(ssq);
	else
		l2 = l2_careful(t, &bad);
	if (bad && s->nonfinite == 0)
		s->bad_tensor = idx;
	s->nonfinite += bad;
	s->l2 = hypot(s->l2, l2);
}

void
fl_record_scan(const struct fl_record *rec, struct fl_scan *s)
{
	s->l2 = 0;
	s->nonfinite = 0;
	s->bad_tensor = 0;
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];

		if (t->dtype == FL_F32)
			scan_tensor(t, i, ssq_f32(t->data, t->numel), s);
		else if (t->dtype == FL_F64)
			scan_tensor(t, i, ssq_f64(t->data, t->numel), s);
		else if (fl_dtype_is_half(t->dtype))
			scan_tensor(t, i, half_pass(NULL, t, 0), s);
	}
}

/* ---- streaming sums ---- */

void
fl_acc_free(struct fl_acc *a)
{
	if (a == NULL)
		return;
	free(a->block);
	a->block = NULL;
	free(a->off);
	a->off = NULL;
	free(a->zeroed);
	a->zeroed = NULL;
	fl_layout_free(&a->layout);
}

int
fl_acc_init(struct fl_acc *a, const struct fl_record *first,
    uint64_t modulus, struct fl_error *err)
{
	size_t total = 0;

	memset(a, 0, sizeof(*a));
	if (modulus == 1)
		return fl_error_set(err, FL_EINVAL, "modulus 1");
	if (fl_layout_init(&a->layout, first, err) < 0)
		return -1;
	a->modulus = modulus;
	if ((a->off = calloc(a->layout.n ? a->layout.n : 1,
	    sizeof(*a->off))) == NULL ||
	    (a->zeroed = calloc(a->layout.n ? a->layout.n : 1,
	    sizeof(*a->zeroed))) == NULL)
		goto nomem;
	for (size_t i = 0; i < a->layout.n; i++) {
		const struct fl_layout_tensor *t = &a->layout.t[i];
		size_t size = t->numel ? t->numel : 1;

		if (modulus != 0 && (fl_dtype_is_float(t->dtype) ||
		    fl_dtype_is_signed_int(t->dtype))) {
			fl_error_set(err, FL_EINVAL, "tensor '%s' is %s: "
			    "modular sums take unsigned integer tensors",
			    t->name, fl_dtype_name(t->dtype));
			fl_acc_free(a);
			return -1;
		}
		if (modulus != 0 && fl_dtype_size(t->dtype) < 8 &&
		    modulus > (UINT64_C(1) << (8 * fl_dtype_size(t->dtype)))) {
			fl_error_set(err, FL_EINVAL, "modulus %llu does not fit "
			    "tensor '%s' (%s)", (unsigned long long)modulus,
			    t->name, fl_dtype_name(t->dtype));
			fl_acc_free(a);
			return -1;
		}
		/* Each sum starts on a 64-byte boundary, at or after where
		 * its tensor starts in a record's payload: the result can be
		 * written over the sums in one forward pass. */
		if (size > SIZE_MAX / 8 - total - FL_ALIGN)
			goto nomem;
		a->off[i] = total;
		total += (size * 8 + FL_ALIGN - 1) & ~(size_t)(FL_ALIGN - 1);
	}
	/* Nothing allocated for the sums yet: add_tensor grows the block
	 * as the payload arrives. */
	a->total = total;
	return 0;

nomem:
	fl_acc_free(a);
	return fl_error_set(err, FL_ENOMEM, "out of memory for the sums");
}

/* Two elements of x as doubles. */
#define LOAD2_F32(d, p) do {						\
	v2f f_;								\
	memcpy(&f_, (p), 8);						\
	(d) = __builtin_convertvector(f_, v2d);				\
} while (0)
#define LOAD2_F64(d, p) memcpy(&(d), (p), 16)

/* acc += w x, returning the sum of squares of x: one kernel per dtype,
 * four elements a step in two double pairs. */
#define DEFINE_ADD(name, T, LOAD2)					\
static double								\
name(double *restrict acc, const T *restrict x, size_t n, double w)	\
{									\
	v2d a0 = { 0, 0 }, a1 = a0, wv = { w, w };			\
	size_t i = 0;							\
	double s;							\
									\
	for (; i + 4 <= n; i += 4) {					\
		v2d d0, d1, s0, s1;					\
									\
		LOAD2(d0, x + i);					\
		LOAD2(d1, x + i + 2);					\
		memcpy(&s0, acc + i, 16);				\
		memcpy(&s1, acc + i + 2, 16);				\
		s0 += wv * d0;						\
		s1 += wv * d1;						\
		memcpy(acc + i, &s0, 16);				\
		memcpy(acc + i + 2, &s1, 16);				\
		a0 += d0 * d0;						\
		a1 += d1 * d1;						\
	}								\
	a0 += a1;							\
	s = a0[0] + a0[1];						\
	for (; i < n; i++) {						\
		acc[i] += w * (double)x[i];				\
		s += (double)x[i] * x[i];				\
	}								\
	return s;							\
}

DEFINE_ADD(add_f32, float, LOAD2_F32)
DEFINE_ADD(add_f64, double, LOAD2_F64)

/* A half tensor in f32 blocks: added into acc with weight w, or (acc
 * NULL) only its sum of squares; either way the sum of squares. */
static double
half_pass(double *restrict acc, const struct fl_tensor *t, double w)
{
	float f[HALF_BLOCK];
	double s = 0;

	for (uint64_t j = 0; j < t->numel; j += HALF_BLOCK) {
		size_t n = t->numel - j < HALF_BLOCK ? (size_t)(t->numel - j) :
		    HALF_BLOCK;

		widen_block(f, t, j, n);
		s += acc != NULL ? add_f32(acc + j, f, n, w) : ssq_f32(f, n);
	}
	return s;
}

/* Error messages count elements from `first`: t may be a piece of the
 * tensor. */
static int
add_modular(uint64_t *restrict acc, const struct fl_tensor *t, uint64_t m,
    uint64_t first, struct fl_error *err)
{
	if (t->dtype == FL_U32) {
		const uint32_t *x = t->data;

		/* The ring encoding's case, kept tight: no 64-bit overflow is
		 * possible below 2^32. */
		if (m <= (UINT64_C(1) << 32)) {
			uint32_t bad = 0;

			for (uint64_t i = 0; i < t->numel; i++) {
				uint64_t s = acc[i] + x[i];

				bad |= x[i] >= m;
				acc[i] = s >= m ? s - m : s;
			}
			if (!bad)
				return 0;
		}
	}
	for (uint64_t i = 0; i < t->numel; i++) {
		uint64_t v = fl_tensor_get_u64(t, i), s;

		if (v >= m)
			return fl_error_set(err, FL_EINVAL, "tensor '%s' element "
			    "%llu: value %llu is not below the modulus %llu",
			    t->name, (unsigned long long)(first + i),
			    (unsigned long long)v, (unsigned long long)m);
		/* The fast path above may have added this tensor already. */
		if (t->dtype == FL_U32 && m <= (UINT64_C(1) << 32))
			continue;
		if (__builtin_add_overflow(acc[i], v, &s) || s >= m)
			s -= m;
		acc[i] = s;
	}
	return 0;
}

static int
add_int(void *sum, const struct fl_tensor *t, struct fl_error *err)
{
	if (fl_dtype_is_signed_int(t->dtype)) {
		int64_t *acc = sum;

		for (uint64_t i = 0; i < t->numel; i++)
			if (__builtin_add_overflow(acc[i], fl_tensor_get_i64(t, i),
			    &acc[i]))
				goto overflow;
	} else {
		uint64_t *acc = sum;

		for (uint64_t i = 0; i < t->numel; i++)
			if (__builtin_add_overflow(acc[i], fl_tensor_get_u64(t, i),
			    &acc[i]))
				goto overflow;
	}
	return 0;

overflow:
	return fl_error_set(err, FL_EINVAL, "tensor '%s': the sum overflows "
	    "64 bits", t->name);
}

/* The sums of tensor i. */
static void *
sum_of(const struct fl_acc *a, size_t i)
{
	return a->block + a->off[i];
}

/* Grow the block to hold its first `need` bytes: doubling, never past
 * the whole layout's sums. */
static int
acc_reserve(struct fl_acc *a, size_t need, struct fl_error *err)
{
	size_t target = a->blocksize * 2;

	if (need <= a->blocksize && a->block != NULL)
		return 0;
	if (target < need)
		target = need;
	if (target > a->total)
		target = a->total;
	if (fl_grow(&a->block, &a->blocksize, target, a->blocksize, err) < 0)
		return fl_error_set(err, FL_ENOMEM, "out of memory for the "
		    "sums");
	return 0;
}

/* Add t (tensor i of the layout, or a piece of it starting at element
 * `first`) to its sums, folding floats into scan. */
static int
add_tensor(struct fl_acc *a, size_t i, const struct fl_tensor *t,
    uint64_t first, double w, struct fl_scan *scan, struct fl_error *err)
{
	/* Zero bits are 0.0, 0 and 0u alike.  Pieces arrive in order, so
	 * this zeroes each sum once, just before its first addition. */
	if (first + t->numel > a->zeroed[i]) {
		if (acc_reserve(a, a->off[i] + (size_t)(first + t->numel) * 8,
		    err) < 0)
			return -1;
		memset((uint64_t *)sum_of(a, i) + a->zeroed[i], 0,
		    (size_t)(first + t->numel - a->zeroed[i]) * 8);
		a->zeroed[i] = first + t->numel;
	}
	if (t->dtype == FL_F32) {
		scan_tensor(t, i, add_f32((double *)sum_of(a, i) + first,
		    t->data, t->numel, w), scan);
		return 0;
	}
	if (t->dtype == FL_F64) {
		scan_tensor(t, i, add_f64((double *)sum_of(a, i) + first,
		    t->data, t->numel, w), scan);
		return 0;
	}
	if (fl_dtype_is_half(t->dtype)) {
		scan_tensor(t, i, half_pass((double *)sum_of(a, i) + first, t,
		    w), scan);
		return 0;
	}
	if (w != 1)
		return fl_error_set(err, FL_EINVAL, "tensor '%s' is %s: "
		    "integer tensors are summed, not weighted", t->name,
		    fl_dtype_name(t->dtype));
	if (a->modulus != 0)
		return add_modular((uint64_t *)sum_of(a, i) + first, t,
		    a->modulus, first, err);
	return add_int((uint64_t *)sum_of(a, i) + first, t, err);
}

int
fl_acc_add(struct fl_acc *a, const struct fl_record *rec, double w,
    struct fl_scan *scan, struct fl_error *err)
{
	struct fl_scan local;

	if (fl_layout_check(&a->layout, rec, err) < 0)
		return -1;
	if (scan == NULL)
		scan = &local;
	scan->l2 = 0;
	scan->nonfinite = 0;
	scan->bad_tensor = 0;
	for (size_t i = 0; i < rec->ntensors; i++)
		if (add_tensor(a, i, &rec->tensors[i], 0, w, scan, err) < 0)
			return -1;
	return 0;
}

int
fl_acc_add_piece(struct fl_acc *a, const struct fl_record *rec, size_t offset,
    const unsigned char *p, size_t len, double w, struct fl_scan *scan,
    struct fl_error *err)
{
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		size_t lo = t->offset > offset ? t->offset : offset;
		size_t hi = t->offset + t->nbytes < offset + len ?
		    t->offset + t->nbytes : offset + len;
		size_t esize = fl_dtype_size(t->dtype);
		struct fl_tensor view;

		if (lo >= hi)
			continue;
		/* Pieces are cut at multiples of 64: whole elements. */
		view = *t;
		view.data = (void *)(p + (lo - offset));
		view.numel = (hi - lo) / esize;
		view.nbytes = hi - lo;
		if (add_tensor(a, i, &view, (lo - t->offset) / esize, w, scan,
		    err) < 0)
			return -1;
	}
	return 0;
}

/* The low esize bytes of u as a host-order element (a memcpy of the first
 * esize bytes would take the high ones on a big-endian host). */
static void
put_low(unsigned char *dst, uint64_t u, size_t esize)
{
	uint8_t b = (uint8_t)u;
	uint16_t h = (uint16_t)u;
	uint32_t w = (uint32_t)u;

	switch (esize) {
	case 1: memcpy(dst, &b, 1); break;
	case 2: memcpy(dst, &h, 2); break;
	case 4: memcpy(dst, &w, 4); break;
	default: memcpy(dst, &u, 8); break;
	}
}

/*
 * Write each 8-byte sum of a tensor as an element of its dtype at dst,
 * which is at or before the sums and moves half as fast or as fast: a
 * forward pass through a small buffer never overwrites a sum not yet read
 * (memcpy keeps the compiler from reordering across the aliasing).
 */
static int
narrow_forward(unsigned char *dst, const unsigned char *src, uint64_t n,
    enum fl_dtype dt, double div, const char *name, struct fl_error *err)
{
	enum { B = 64 };
	size_t esize = fl_dtype_size(dt);
	unsigned char out[B * 8];
	uint64_t s[B];

	for (uint64_t j = 0; j < n; j += B) {
		size_t m = n - j < B ? (size_t)(n - j) : B;

		memcpy(s, src + 8 * j, m * 8);
		for (size_t k = 0; k < m; k++) {
			double d;
			float f;
			int64_t v = 0;
			uint64_t u = s[k];
			int ok = 1;

			switch (dt) {
			case FL_F32:
				memcpy(&d, &u, 8);
				f = (float)(d / div);
				ok = !isinf(f);
				memcpy(out + 4 * k, &f, 4);
				break;
			case FL_F64:
				memcpy(&d, &u, 8);
				d /= div;
				ok = !isinf(d);
				memcpy(out + 8 * k, &d, 8);
				break;
			case FL_I8: case FL_I16: case FL_I32: case FL_I64:
				memcpy(&v, &u, 8);
				ok = esize == 8 || (v >= -(INT64_C(1) <<
				    (8 * esize - 1)) && v < (INT64_C(1) <<
				    (8 * esize - 1)));
				put_low(out + esize * k, (uint64_t)v, esize);
				break;
			default:
				ok = esize == 8 || u < (UINT64_C(1) <<
				    (8 * esize));
				put_low(out + esize * k, u, esize);
				break;
			}
			if (ok)
				continue;
			if (fl_dtype_is_float(dt))
				return fl_error_set(err, FL_EINVAL, "tensor '%s': "
				    "the result overflows %s", name,
				    fl_dtype_name(dt));
			if (fl_dtype_is_signed_int(dt))
				return fl_error_set(err, FL_EINVAL, "tensor '%s' "
				    "element %llu: the sum %lld does not fit %s",
				    name, (unsigned long long)(j + k),
				    (long long)v, fl_dtype_name(dt));
			return fl_error_set(err, FL_EINVAL, "tensor '%s' element "
			    "%llu: the sum %llu does not fit %s", name,
			    (unsigned long long)(j + k), (unsigned long long)u,
			    fl_dtype_name(dt));
		}
		memcpy(dst + esize * j, out, m * esize);
	}
	return 0;
}

/* Every sum has had a whole record added. */
static int
acc_complete(const struct fl_acc *a)
{
	for (size_t i = 0; i < a->layout.n; i++)
		if (a->zeroed[i] < a->layout.t[i].numel)
			return 0;
	return 1;
}

int
fl_acc_take_result(struct fl_acc *a, struct fl_record *out, double div,
    struct fl_error *err)
{
	size_t off = 0;

	if (out->ntensors != 0 || !acc_complete(a))
		return fl_error_set(err, FL_EINVAL, "bad result record");
	if (!(div > 0) || !isfinite(div))
		return fl_error_set(err, FL_EINVAL, "bad divisor");
	/* Whole, padding included: the block becomes the payload. */
	if (acc_reserve(a, a->total, err) < 0)
		return -1;
	for (size_t i = 0; i < a->layout.n; i++) {
		const struct fl_layout_tensor *t = &a->layout.t[i];
		enum fl_dtype dt = fl_agg_dtype(t->dtype);
		size_t nbytes = (size_t)t->numel * fl_dtype_size(dt);
		size_t end = (off + nbytes + FL_ALIGN - 1) &
		    ~(size_t)(FL_ALIGN - 1);

		if (!fl_dtype_is_float(dt) && div != 1)
			return fl_error_set(err, FL_EINVAL, "tensor '%s' is "
			    "%s: integer sums cannot be divided", t->name,
			    fl_dtype_name(dt));
		if (narrow_forward(a->block + off, sum_of(a, i), t->numel,
		    dt, div, t->name, err) < 0)
			return -1;
		/* The padding lies before the next tensor's sums. */
		memset(a->block + off + nbytes, 0, end - off - nbytes);
		off = end;
	}
	/* The block becomes the payload, and the tensors are laid out over
	 * it as fl_tensor_add lays them out. */
	free(out->raw);
	out->raw = a->block;
	out->rawcap = a->blocksize;
	out->rawlen = 0;
	a->block = NULL;
	for (size_t i = 0; i < a->layout.n; i++) {
		const struct fl_layout_tensor *t = &a->layout.t[i];

		if (fl_tensor_add_over(out, t->name, fl_agg_dtype(t->dtype),
		    t->rank, t->dims, err) == NULL)
			return -1;
	}
	return 0;
}

static int
result_int(const void *sum, struct fl_tensor *t, struct fl_error *err)
{
	for (uint64_t i = 0; i < t->numel; i++) {
		int64_t lo = 0, v = 0;
		uint64_t hi = 0, u = 0;
		int neg = 0;

		if (fl_dtype_is_signed_int(t->dtype)) {
			v = ((const int64_t *)sum)[i];
			neg = v < 0;
			u = (uint64_t)v;
		} else {
			u = ((const uint64_t *)sum)[i];
		}
		fl_dtype_int_range(t->dtype, &lo, &hi);
		if (neg ? v < lo : u > hi) {
			if (neg)
				return fl_error_set(err, FL_EINVAL, "tensor '%s' "
				    "element %llu: the sum %lld does not fit %s",
				    t->name, (unsigned long long)i,
				    (long long)v, fl_dtype_name(t->dtype));
			return fl_error_set(err, FL_EINVAL, "tensor '%s' element "
			    "%llu: the sum %llu does not fit %s", t->name,
			    (unsigned long long)i, (unsigned long long)u,
			    fl_dtype_name(t->dtype));
		}
		fl_tensor_set_int(t, i, v, u);
	}
	return 0;
}

int
fl_acc_result(const struct fl_acc *a, struct fl_record *out, double div,
    struct fl_error *err)
{
	if (layout_check(&a->layout, out, 1, err) < 0)
		return -1;
	if (!acc_complete(a))
		return fl_error_set(err, FL_EINVAL, "no whole record summed");
	if (!(div > 0) || !isfinite(div))
		return fl_error_set(err, FL_EINVAL, "bad divisor");
	for (size_t i = 0; i < out->ntensors; i++) {
		struct fl_tensor *t = &out->tensors[i];
		const double *s;

		if (t->numel == 0)      /* no sums, maybe no block */
			continue;
		s = sum_of(a, i);

		if (t->dtype == FL_F32) {
			float *x = t->data;
			int bad = 0;

			for (uint64_t j = 0; j < t->numel; j++) {
				x[j] = (float)(s[j] / div);
				bad |= isinf(x[j]);
			}
			if (!bad)
				continue;
		} else if (t->dtype == FL_F64) {
			double *x = t->data;
			int bad = 0;

			for (uint64_t j = 0; j < t->numel; j++) {
				x[j] = s[j] / div;
				bad |= isinf(x[j]);
			}
			if (!bad)
				continue;
		} else {
			if (div != 1)
				return fl_error_set(err, FL_EINVAL, "tensor '%s' is "
				    "%s: integer sums cannot be divided",
				    t->name, fl_dtype_name(t->dtype));
			if (result_int(sum_of(a, i), t, err) < 0)
				return -1;
			continue;
		}
		return fl_error_set(err, FL_EINVAL, "tensor '%s': the result "
		    "overflows %s", t->name, fl_dtype_name(t->dtype));
	}
	return 0;
}

/* ---- robust rules ---- */

/* Block [j0, j0 + b) of every row, scaled, into cols[k * n + i]
 * (coordinate-major: each coordinate's n values are contiguous). */
static void
gather_cols(double *cols, const void *const *rows, const double *scale,
    size_t n, size_t j0, size_t b, enum fl_dtype dt)
{
	for (size_t i = 0; i < n; i++) {
		double s = scale ? scale[i] : 1;

		if (dt == FL_F32) {
			const float *r = (const float *)rows[i] + j0;

			for (size_t k = 0; k < b; k++)
				cols[k * n + i] = s * r[k];
		} else if (fl_dtype_is_half(dt)) {
			const uint16_t *r = (const uint16_t *)rows[i] + j0;

			for (size_t k = 0; k < b; k++)
				cols[k * n + i] = s *
				    (double)fl_half_to_float(dt, r[k]);
		} else {
			const double *r = (const double *)rows[i] + j0;

			for (size_t k = 0; k < b; k++)
				cols[k * n + i] = s * r[k];
		}
	}
}

/*
 * Rearrange a[0..n) so that a[k] is the k-th smallest, nothing before it
 * larger and nothing after it smaller; returns a[k].  Quickselect with a
 * branch-free Lomuto partition (the comparison feeds an index, not a
 * branch: on random data half of all branches would be mispredicted).  When
 * the pivot is the least value, a second pass gathers the values equal to
 * it, so that runs of equal values (zeros of sparse updates) take linear
 * time.  Values are
 * finite: the callers reject the rest.
 */
static double
select_k(double *a, size_t n, size_t k)
{
	size_t lo = 0, hi = n;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2, lt, le;
		double x = a[lo], y = a[mid], z = a[hi - 1], pivot, t;

		pivot = x < y ? (y < z ? y : (x < z ? z : x)) :
		    (x < z ? x : (y < z ? z : y));
		/* [lo, lt) < pivot */
		lt = lo;
		for (size_t i = lo; i < hi; i++) {
			t = a[i];
			a[i] = a[lt];
			a[lt] = t;
			lt += t < pivot;
		}
		if (k < lt) {
			hi = lt;
			continue;
		}
		if (lt > lo) {
			lo = lt;
			continue;
		}
		/* The pivot is the least value: [lt, le) == pivot */
		le = lt;
		for (size_t i = lt; i < hi; i++) {
			t = a[i];
			a[i] = a[le];
			a[le] = t;
			le += t <= pivot;
		}
		if (k < le)
			return pivot;
		lo = le;
	}
	return a[k];
}

double
fl_agg_median(double *v, size_t n)
{
	double lo, hi;

	if (n == 0)
		return NAN;
	if (n % 2)
		return select_k(v, n, n / 2);
	lo = select_k(v, n, n / 2 - 1);
	hi = v[n / 2];
	for (size_t i = n / 2 + 1; i < n; i++)
		if (v[i] < hi)
			hi = v[i];
	return lo / 2 + hi / 2;
}

static double
trimmed(double *a, size_t n, size_t k)
{
	double s = 0;
	size_t keep = n - 2 * k;

	if (k > 0) {
		select_k(a, n, k);
		if (keep > 1)
			select_k(a + k + 1, n - k - 1, keep - 2);
	}
	for (size_t i = k; i < k + keep; i++)
		s += a[i];
	return s / (double)keep;
}

static double
mean_of(const double *a, size_t n)
{
	double s = 0;

	for (size_t i = 0; i < n; i++)
		s += a[i];
	return s / (double)n;
}

int
fl_agg_coordinate(enum fl_coord rule, size_t trim, const void *const *rows,
    const double *scale, size_t n, size_t len, enum fl_dtype dt, void *out,
    struct fl_error *err)
{
	double *cols;

	if (n == 0 || !fl_dtype_is_float(dt))
		return fl_error_set(err, FL_EINVAL, "no rows or not floats");
	if (rule == FL_COORD_TRIMMED && trim >= (n + 1) / 2)
		return fl_error_set(err, FL_EINVAL, "cannot trim %zu values "
		    "from each end of %zu", trim, n);
	if (n > SIZE_MAX / sizeof(double) / FL_AGG_BLOCK ||
	    (cols = malloc(n * FL_AGG_BLOCK * sizeof(double))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	for (size_t j0 = 0; j0 < len; j0 += FL_AGG_BLOCK) {
		size_t b = len - j0 < FL_AGG_BLOCK ? len - j0 : FL_AGG_BLOCK;

		gather_cols(cols, rows, scale, n, j0, b, dt);
		for (size_t k = 0; k < b; k++) {
			double *c = cols + k * n, v;

			if (rule == FL_COORD_MEDIAN)
				v = fl_agg_median(c, n);
			else if (rule == FL_COORD_TRIMMED)
				v = trimmed(c, n, trim);
			else
				v = mean_of(c, n);
			if (fl_agg_dtype(dt) == FL_F32)
				((float *)out)[j0 + k] = (float)v;
			else
				((double *)out)[j0 + k] = v;
		}
	}
	free(cols);
	return 0;
}

/* Sum of (a[k] - b[k])^2 over b0 values. */
static double
sqdist_block(const double *a, const double *b, size_t len)
{
	v2d s0 = { 0, 0 }, s1 = s0;
	size_t k = 0;
	double s;

	for (; k + 4 <= len; k += 4) {
		v2d x0, x1, y0, y1;

		memcpy(&x0, a + k, 16);
		memcpy(&x1, a + k + 2, 16);
		memcpy(&y0, b + k, 16);
		memcpy(&y1, b + k + 2, 16);
		x0 -= y0;
		x1 -= y1;
		s0 += x0 * x0;
		s1 += x1 * x1;
	}
	s0 += s1;
	s = s0[0] + s0[1];
	for (; k < len; k++)
		s += (a[k] - b[k]) * (a[k] - b[k]);
	return s;
}

int
fl_agg_sqdist(const void *const *rows, const double *scale, size_t n,
    size_t len, enum fl_dtype dt, double *d2, struct fl_error *err)
{
	double *blk;

	if (!fl_dtype_is_float(dt))
		return fl_error_set(err, FL_EINVAL, "not floats");
	if (n == 0)
		return 0;
	if (n > SIZE_MAX / sizeof(double) / FL_AGG_BLOCK ||
	    (blk = fl_alloc_aligned(n * FL_AGG_BLOCK * sizeof(double))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	for (size_t j0 = 0; j0 < len; j0 += FL_AGG_BLOCK) {
		size_t b = len - j0 < FL_AGG_BLOCK ? len - j0 : FL_AGG_BLOCK;

		/* Row-major here: each pair reads two contiguous runs. */
		for (size_t i = 0; i < n; i++) {
			double s = scale ? scale[i] : 1, *dst = blk + i *
			    FL_AGG_BLOCK;

			if (dt == FL_F32) {
				const float *r = (const float *)rows[i] + j0;

				for (size_t k = 0; k < b; k++)
					dst[k] = s * r[k];
			} else if (fl_dtype_is_half(dt)) {
				const uint16_t *r = (const uint16_t *)rows[i] +
				    j0;

				for (size_t k = 0; k < b; k++)
					dst[k] = s * (double)fl_half_to_float(dt,
					    r[k]);
			} else {
				const double *r = (const double *)rows[i] + j0;

				for (size_t k = 0; k < b; k++)
					dst[k] = s * r[k];
			}
		}
		for (size_t i = 0; i < n; i++)
			for (size_t j = i + 1; j < n; j++)
				d2[i * n + j] += sqdist_block(blk +
				    i * FL_AGG_BLOCK, blk + j * FL_AGG_BLOCK, b);
	}
	free(blk);
	return 0;
}

int
fl_agg_krum(const double *d2, size_t n, size_t f, size_t m,
    size_t *selected, double *score, struct fl_error *err)
{
	size_t near, *order;
	double *sc, *row;

	if (n < 3 || f > (n - 3) / 2)
		return fl_error_set(err, FL_EINVAL, "krum with f = %zu needs at "
		    "least %zu updates, not %zu", f, 2 * f + 3, n);
	if (m < 1 || m > n - f)
		return fl_error_set(err, FL_EINVAL, "cannot select %zu of %zu "
		    "updates with f = %zu (at most n - f = %zu)", m, n, f,
		    n - f);
	near = n - f - 2;
	sc = malloc(n * sizeof(*sc));
	row = malloc(n * sizeof(*row));
	order = malloc(n * sizeof(*order));
	if (sc == NULL || row == NULL || order == NULL) {
		free(sc);
		free(row);
		free(order);
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		size_t c = 0;
		double s = 0;

		for (size_t j = 0; j < n; j++)
			if (j != i)
				row[c++] = i < j ? d2[i * n + j] : d2[j * n + i];
		select_k(row, c, near - 1);
		/* The near smallest, summed in ascending order for
		 * reproducible bits. */
		for (size_t a = 1; a < near; a++)
			for (size_t b = a; b > 0 && row[b - 1] > row[b]; b--) {
				double t = row[b];

				row[b] = row[b - 1];
				row[b - 1] = t;
			}
		for (size_t a = 0; a < near; a++)
			s += row[a];
		sc[i] = s;
		order[i] = i;
	}
	/* Stable insertion sort by score: ties keep input order. */
	for (size_t a = 1; a < n; a++)
		for (size_t b = a; b > 0 && sc[order[b - 1]] > sc[order[b]];
		    b--) {
			size_t t = order[b];

			order[b] = order[b - 1];
			order[b - 1] = t;
		}
	for (size_t a = 0; a < m; a++)
		selected[a] = order[a];
	for (size_t a = 1; a < m; a++)
		for (size_t b = a; b > 0 && selected[b - 1] > selected[b]; b--) {
			size_t t = selected[b];

			selected[b] = selected[b - 1];
			selected[b - 1] = t;
		}
	if (score != NULL)
		memcpy(score, sc, n * sizeof(*sc));
	free(sc);
	free(row);
	free(order);
	return 0;
}
