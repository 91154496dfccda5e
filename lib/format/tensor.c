/* SPDX-License-Identifier: ISC */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/internal.h"

int
fl_tensor_check_name(const char *name, size_t len, struct fl_error *err)
{
	char q[FL_QUOTE];

	if (len == 0)
		return fl_error_set(err, FL_EFORMAT, "empty tensor name");
	if (len > FL_MAX_NAME)
		return fl_error_set(err, FL_ELIMIT,
		    "tensor name longer than %d bytes", FL_MAX_NAME);
	if (name[0] == '-')
		return fl_error_set(err, FL_EFORMAT,
		    "tensor name '%s' starts with '-'",
		    fl_escape(q, sizeof(q), name, len));
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("_.:/-", c) != NULL) ||
		    c == '\0')
			return fl_error_set(err, FL_EFORMAT,
			    "bad tensor name '%s': names are letters, digits "
			    "and _ . : / -", fl_escape(q, sizeof(q), name, len));
	}
	return 0;
}

struct fl_tensor *
fl_tensor_find(const struct fl_record *rec, const char *name)
{
	for (size_t i = 0; i < rec->ntensors; i++)
		if (strcmp(rec->tensors[i].name, name) == 0)
			return &rec->tensors[i];
	return NULL;
}

int
fl_tensors_rawlen(const struct fl_record *rec, size_t *out)
{
	const struct fl_tensor *t;
	uint64_t end;

	if (rec->ntensors == 0) {
		*out = 0;
		return 0;
	}
	t = &rec->tensors[rec->ntensors - 1];
	if (__builtin_add_overflow((uint64_t)t->offset, (uint64_t)t->nbytes,
	    &end))
		return -1;
	if (end != 0 && (end = fl_align64(end)) == 0)
		return -1;
	if (end > SIZE_MAX)
		return -1;
	*out = (size_t)end;
	return 0;
}

static struct fl_tensor *
tensor_add(struct fl_record *rec, const char *name, enum fl_dtype dtype,
    int rank, const uint64_t *dims, int fill, struct fl_error *err);

struct fl_tensor *
fl_tensor_add(struct fl_record *rec, const char *name, enum fl_dtype dtype,
    int rank, const uint64_t *dims, struct fl_error *err)
{
	return tensor_add(rec, name, dtype, rank, dims, 1, err);
}

struct fl_tensor *
fl_tensor_add_over(struct fl_record *rec, const char *name,
    enum fl_dtype dtype, int rank, const uint64_t *dims, struct fl_error *err)
{
	return tensor_add(rec, name, dtype, rank, dims, 0, err);
}

static struct fl_tensor *
tensor_add(struct fl_record *rec, const char *name, enum fl_dtype dtype,
    int rank, const uint64_t *dims, int fill, struct fl_error *err)
{
	struct fl_tensor *t;
	uint64_t numel = 1, nbytes, offset, end;
	size_t len = strlen(name), rawlen;

	if (fl_tensor_check_name(name, len, err) < 0)
		return NULL;
	if (fl_tensor_find(rec, name) != NULL) {
		fl_error_set(err, FL_EINVAL, "duplicate tensor name '%s'",
		    name);
		return NULL;
	}
	if (fl_dtype_size(dtype) == 0) {
		fl_error_set(err, FL_EINVAL, "invalid dtype");
		return NULL;
	}
	if (rank < 0 || rank > FL_MAX_RANK) {
		fl_error_set(err, FL_ELIMIT, "rank %d is more than %d", rank,
		    FL_MAX_RANK);
		return NULL;
	}
	if (rec->ntensors >= FL_MAX_TENSORS) {
		fl_error_set(err, FL_ELIMIT, "more than %d tensors",
		    FL_MAX_TENSORS);
		return NULL;
	}
	for (int i = 0; i < rank; i++)
		if (__builtin_mul_overflow(numel, dims[i], &numel))
			goto toolarge;
	if (__builtin_mul_overflow(numel, (uint64_t)fl_dtype_size(dtype),
	    &nbytes))
		goto toolarge;
	if (fl_tensors_rawlen(rec, &rawlen) < 0)
		goto toolarge;
	offset = rawlen;
	if (__builtin_add_overflow(offset, nbytes, &end))
		goto toolarge;
	end = fl_align64(end);
	if ((end == 0 && nbytes != 0) || end > SIZE_MAX)
		goto toolarge;

	if (rec->ntensors == rec->tensorcap) {
		size_t cap = rec->tensorcap ? rec->tensorcap * 2 : 8;
		struct fl_tensor *ts = realloc(rec->tensors, cap * sizeof(*ts));

		if (ts == NULL) {
			fl_error_set(err, FL_ENOMEM, "out of memory");
			return NULL;
		}
		rec->tensors = ts;
		rec->tensorcap = cap;
	}
	if (end > rec->rawcap || rec->raw == NULL) {
		size_t want = end;

		if (rec->rawcap <= SIZE_MAX / 2 && rec->rawcap * 2 > want)
			want = rec->rawcap * 2;
		if (fl_grow(&rec->raw, &rec->rawcap, want, rec->rawlen,
		    err) < 0)
			return NULL;
	}
	if (fill && end > rec->rawlen)
		memset(rec->raw + rec->rawlen, 0, end - rec->rawlen);
	rec->rawlen = end;

	t = &rec->tensors[rec->ntensors];
	memset(t, 0, sizeof(*t));
	if ((t->name = strdup(name)) == NULL) {
		fl_error_set(err, FL_ENOMEM, "out of memory");
		return NULL;
	}
	t->dtype = dtype;
	t->rank = rank;
	for (int i = 0; i < rank; i++)
		t->dims[i] = dims[i];
	t->numel = numel;
	t->offset = offset;
	t->nbytes = nbytes;
	rec->ntensors++;
	for (size_t i = 0; i < rec->ntensors; i++)
		rec->tensors[i].data = rec->raw + rec->tensors[i].offset;
	return t;

toolarge:
	fl_error_set(err, FL_ELIMIT, "tensor '%s' is too large", name);
	return NULL;
}

double
fl_tensor_get(const struct fl_tensor *t, uint64_t i)
{
	const void *p = t->data;

	switch (t->dtype) {
	case FL_F32: return ((const float *)p)[i];
	case FL_F64: return ((const double *)p)[i];
	case FL_I8: return ((const int8_t *)p)[i];
	case FL_U8: return ((const uint8_t *)p)[i];
	case FL_I16: return ((const int16_t *)p)[i];
	case FL_U16: return ((const uint16_t *)p)[i];
	case FL_I32: return ((const int32_t *)p)[i];
	case FL_U32: return ((const uint32_t *)p)[i];
	case FL_I64: return (double)((const int64_t *)p)[i];
	case FL_U64: return (double)((const uint64_t *)p)[i];
	case FL_F16:
	case FL_BF16:
		return fl_half_to_float(t->dtype, ((const uint16_t *)p)[i]);
	default: return 0;
	}
}

int
fl_shape_parse(const char *s, int *rank, uint64_t dims[FL_MAX_RANK],
    struct fl_error *err)
{
	const char *p = s;
	char sep = 'x', close = '\0', q[FL_QUOTE];
	uint64_t numel = 1;
	int r = 0;

	if (*p == '[') {
		sep = ',';
		close = ']';
		p++;
		if (*p == ']' && p[1] == '\0') {
			*rank = 0;
			return 0;
		}
	} else if (*p == '\0') {
		return fl_error_set(err, FL_EINVAL, "empty shape");
	}
	for (;;) {
		uint64_t d = 0;
		const char *start = p;

		while (*p >= '0' && *p <= '9') {
			if (__builtin_mul_overflow(d, 10, &d) ||
			    __builtin_add_overflow(d, (uint64_t)(*p - '0'), &d))
				return fl_error_set(err, FL_ELIMIT,
				    "dimension too large in shape '%s'",
				    fl_escape(q, sizeof(q), s, strlen(s)));
			p++;
		}
		if (p == start)
			return fl_error_set(err, FL_EINVAL, "bad shape '%s'",
			    fl_escape(q, sizeof(q), s, strlen(s)));
		if (r == FL_MAX_RANK)
			return fl_error_set(err, FL_ELIMIT,
			    "shape '%s' has more than %d dimensions",
			    fl_escape(q, sizeof(q), s, strlen(s)),
			    FL_MAX_RANK);
		if (__builtin_mul_overflow(numel, d, &numel))
			return fl_error_set(err, FL_ELIMIT,
			    "shape '%s' has too many elements",
			    fl_escape(q, sizeof(q), s, strlen(s)));
		dims[r++] = d;
		if (*p == sep) {
			p++;
			continue;
		}
		if (*p == close && (close == '\0' || p[1] == '\0'))
			break;
		return fl_error_set(err, FL_EINVAL, "bad shape '%s'",
		    fl_escape(q, sizeof(q), s, strlen(s)));
	}
	*rank = r;
	return 0;
}

int
fl_shape_format(char *buf, size_t n, int rank, const uint64_t *dims)
{
	size_t len = 0;
	int w;

	w = snprintf(buf, n, "[");
	len += (size_t)w;
	for (int i = 0; i < rank; i++) {
		w = snprintf(len < n ? buf + len : NULL, len < n ? n - len : 0,
		    "%s%llu", i ? "," : "", (unsigned long long)dims[i]);
		len += (size_t)w;
	}
	w = snprintf(len < n ? buf + len : NULL, len < n ? n - len : 0, "]");
	len += (size_t)w;
	return (int)len;
}

int
fl_tensor_remove(struct fl_record *rec, const char *name)
{
	struct fl_tensor *t = fl_tensor_find(rec, name);
	size_t k, offset, rawlen = 0;

	if (t == NULL)
		return 0;
	k = (size_t)(t - rec->tensors);
	offset = t->offset;
	free(t->name);
	memmove(t, t + 1, (rec->ntensors - k - 1) * sizeof(*t));
	rec->ntensors--;
	/* Slide the later tensors down so they tile the payload again. */
	for (size_t i = k; i < rec->ntensors; i++) {
		struct fl_tensor *u = &rec->tensors[i];

		memmove(rec->raw + offset, rec->raw + u->offset, u->nbytes);
		u->offset = offset;
		u->data = rec->raw + offset;
		offset = (size_t)fl_align64(offset + u->nbytes);
	}
	fl_tensors_rawlen(rec, &rawlen);
	if (rec->rawlen > rawlen)
		memset(rec->raw + rawlen, 0, rec->rawlen - rawlen);
	/* Gaps after moved tensors must be zero again. */
	for (size_t i = k; i < rec->ntensors; i++) {
		struct fl_tensor *u = &rec->tensors[i];
		size_t end = u->offset + u->nbytes;
		size_t next = i + 1 < rec->ntensors ?
		    rec->tensors[i + 1].offset : rawlen;

		memset(rec->raw + end, 0, next - end);
	}
	rec->rawlen = rawlen;
	return 1;
}
