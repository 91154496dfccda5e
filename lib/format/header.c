/* SPDX-License-Identifier: ISC */
/*
 * The header text of a record: sorted key=value lines, then one tensor line
 * per tensor in payload order, then spaces and a newline up to the 64-byte
 * boundary.  The reader accepts exactly what the writer produces (one
 * canonical form), so a record read and written again is byte-identical.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/internal.h"

#define MAX_LINE (FL_MAX_KEY + 1 + FL_MAX_VALUE)

/* A canonical decimal (no sign, no leading zeros) of len bytes. */
static int
parse_decimal(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20 || (s[0] == '0' && len > 1))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(s[i] - '0'), &v))
			return -1;
	}
	*out = v;
	return 0;
}

static int
name_cmp(const void *a, const void *b)
{
	const struct fl_tensor *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

static int
check_unique_names(const struct fl_record *rec, struct fl_error *err)
{
	const struct fl_tensor **v;
	int rc = 0;

	if (rec->ntensors < 2)
		return 0;
	if ((v = malloc(rec->ntensors * sizeof(*v))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	for (size_t i = 0; i < rec->ntensors; i++)
		v[i] = &rec->tensors[i];
	qsort(v, rec->ntensors, sizeof(*v), name_cmp);
	for (size_t i = 1; i < rec->ntensors; i++) {
		if (strcmp(v[i - 1]->name, v[i]->name) == 0) {
			rc = fl_error_set(err, FL_EFORMAT,
			    "duplicate tensor name '%s'", v[i]->name);
			break;
		}
	}
	free(v);
	return rc;
}

static int
parse_meta_line(struct fl_record *rec, const char *key, size_t klen,
    const char *val, size_t vlen, struct fl_error *err)
{
	struct fl_meta *m;

	if (fl_meta_check_key(key, klen, err) < 0 ||
	    fl_meta_check_value(val, vlen, err) < 0)
		return -1;
	if (rec->ntensors > 0)
		return fl_error_set(err, FL_EFORMAT,
		    "metadata line '%.*s' after the tensor lines", (int)klen,
		    key);
	if (rec->nmeta > 0) {
		const char *prev = rec->meta[rec->nmeta - 1].key;
		size_t plen = strlen(prev), n = plen < klen ? plen : klen;
		int c = memcmp(prev, key, n);

		if (c == 0 && plen == klen)
			return fl_error_set(err, FL_EFORMAT,
			    "duplicate metadata key '%.*s'", (int)klen, key);
		if (c > 0 || (c == 0 && plen > klen))
			return fl_error_set(err, FL_EFORMAT,
			    "metadata keys not sorted ('%s' before '%.*s')",
			    prev, (int)klen, key);
	}
	if (rec->nmeta >= FL_MAX_META)
		return fl_error_set(err, FL_ELIMIT,
		    "more than %d metadata keys", FL_MAX_META);
	if (rec->nmeta == rec->metacap) {
		size_t cap = rec->metacap ? rec->metacap * 2 : 16;

		if ((m = realloc(rec->meta, cap * sizeof(*m))) == NULL)
			return fl_error_set(err, FL_ENOMEM, "out of memory");
		rec->meta = m;
		rec->metacap = cap;
	}
	m = &rec->meta[rec->nmeta];
	m->key = strndup(key, klen);
	m->value = strndup(val, vlen);
	if (m->key == NULL || m->value == NULL) {
		free(m->key);
		free(m->value);
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	}
	rec->nmeta++;
	return 0;
}

/* "NAME DTYPE [D0,D1] OFFSET" */
static int
parse_tensor_line(struct fl_record *rec, const char *s, size_t len,
    uint64_t *end, const struct fl_limits *lim, struct fl_error *err)
{
	const char *f[4], *p = s, *stop = s + len;
	char q[FL_QUOTE];
	size_t flen[4];
	struct fl_tensor t;
	uint64_t off, size, nonzero;

	memset(&t, 0, sizeof(t));
	for (int i = 0; i < 4; i++) {
		const char *sp = i < 3 ? memchr(p, ' ', (size_t)(stop - p)) :
		    stop;

		if (sp == NULL || (i == 3 && memchr(p, ' ', len - (size_t)(p -
		    s)) != NULL))
			return fl_error_set(err, FL_EFORMAT,
			    "bad tensor line 'tensor=%s': want NAME DTYPE "
			    "[DIMS] OFFSET", fl_escape(q, sizeof(q), s, len));
		f[i] = p;
		flen[i] = (size_t)(sp - p);
		p = sp + 1;
	}
	if (fl_tensor_check_name(f[0], flen[0], err) < 0)
		return -1;
	if (fl_dtype_parse(f[1], flen[1], &t.dtype) < 0)
		return fl_error_set(err, FL_EFORMAT,
		    "tensor '%.*s': unsupported dtype '%s'", (int)flen[0],
		    f[0], fl_escape(q, 40, f[1], flen[1]));
	/* The shape: "[" decimals separated by "," "]". */
	if (flen[2] < 2 || f[2][0] != '[' || f[2][flen[2] - 1] != ']')
		goto badshape;
	t.numel = 1;
	nonzero = 1;
	if (flen[2] > 2) {
		const char *d = f[2] + 1, *dend = f[2] + flen[2] - 1;

		while (d <= dend) {
			const char *comma = memchr(d, ',', (size_t)(dend - d));
			const char *de = comma ? comma : dend;

			if (t.rank == FL_MAX_RANK)
				return fl_error_set(err, FL_ELIMIT,
				    "tensor '%.*s': rank above %d",
				    (int)flen[0], f[0], FL_MAX_RANK);
			if (parse_decimal(d, (size_t)(de - d),
			    &t.dims[t.rank]) < 0)
				goto badshape;
			/* The nonzero dimensions' product must fit, in any
			 * order: [0,2^64-1,2^64-1] as [2^64-1,2^64-1,0]. */
			if (t.dims[t.rank] != 0 && __builtin_mul_overflow(
			    nonzero, t.dims[t.rank], &nonzero))
				goto toolarge;
			t.numel *= t.dims[t.rank];
			t.rank++;
			d = de + 1;
		}
	}
	if (__builtin_mul_overflow(t.numel, (uint64_t)fl_dtype_size(t.dtype),
	    &size) || size > lim->max_payload)
		goto toolarge;
	if (parse_decimal(f[3], flen[3], &off) < 0)
		return fl_error_set(err, FL_EFORMAT,
		    "tensor '%.*s': bad offset '%s'", (int)flen[0], f[0],
		    fl_escape(q, 40, f[3], flen[3]));
	/* Tensors tile the payload: each starts at the next 64-byte boundary
	 * after the previous one; no gaps, no overlap, no reordering. */
	if (off != *end)
		return fl_error_set(err, FL_EFORMAT,
		    "tensor '%.*s': offset %llu, expected %llu (tensors must "
		    "tile the payload at 64-byte boundaries)", (int)flen[0],
		    f[0], (unsigned long long)off, (unsigned long long)*end);
	if (__builtin_add_overflow(off, size, end) || *end > lim->max_payload)
		goto toolarge;
	if (*end != 0 && (*end = fl_align64(*end)) == 0)
		goto toolarge;
	if (*end > lim->max_payload)
		goto toolarge;
	/* Within the limit is not within a 32-bit size_t (armhf: the 4 GiB
	 * default is one byte more): refused, never wrapped to a small size. */
	if (*end > SIZE_MAX)
		return fl_error_set(err, FL_ELIMIT, "tensor '%.*s': payload of "
		    "%llu bytes does not fit this machine's %zu-bit size_t",
		    (int)flen[0], f[0], (unsigned long long)*end,
		    8 * sizeof(size_t));
	if (rec->ntensors >= FL_MAX_TENSORS)
		return fl_error_set(err, FL_ELIMIT, "more than %d tensors",
		    FL_MAX_TENSORS);
	if (rec->ntensors == rec->tensorcap) {
		size_t cap = rec->tensorcap ? rec->tensorcap * 2 : 8;
		struct fl_tensor *ts = realloc(rec->tensors, cap * sizeof(*ts));

		if (ts == NULL)
			return fl_error_set(err, FL_ENOMEM, "out of memory");
		rec->tensors = ts;
		rec->tensorcap = cap;
	}
	if ((t.name = strndup(f[0], flen[0])) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	t.offset = (size_t)off;
	t.nbytes = (size_t)size;
	rec->tensors[rec->ntensors++] = t;
	return 0;

badshape:
	return fl_error_set(err, FL_EFORMAT, "tensor '%.*s': bad shape '%s'",
	    (int)flen[0], f[0], fl_escape(q, 60, f[2], flen[2]));
toolarge:
	return fl_error_set(err, FL_ELIMIT,
	    "tensor '%.*s': payload above the limit of %llu bytes",
	    (int)flen[0], f[0], (unsigned long long)lim->max_payload);
}

int
fl_header_parse(struct fl_record *rec, const char *text, size_t len,
    const struct fl_limits *lim, struct fl_error *err)
{
	const char *p = text, *stop = text + len, *pad;
	char q[FL_QUOTE];
	uint64_t end = 0;

	if (len == 0 || text[len - 1] != '\n')
		return fl_error_set(err, FL_EFORMAT,
		    "header does not end with a newline");
	/* The last line is the padding: spaces only. */
	pad = stop - 1;
	while (pad > text && pad[-1] == ' ')
		pad--;
	if (pad > text && pad[-1] != '\n')
		return fl_error_set(err, FL_EFORMAT,
		    "header does not end with a line of space padding");
	/* The shortest padding that aligns, as the writer makes it: one
	 * canonical form, and no room to hide bytes. */
	if (stop - 1 - pad >= FL_ALIGN)
		return fl_error_set(err, FL_EFORMAT,
		    "header padding of %zu spaces (at most 63)",
		    (size_t)(stop - 1 - pad));
	while (p < pad) {
		const char *nl = memchr(p, '\n', (size_t)(pad - p));
		const char *eq, *cr;
		size_t n = (size_t)(nl - p);

		if (n == 0)
			return fl_error_set(err, FL_EFORMAT,
			    "blank line in header");
		if (n > MAX_LINE)
			return fl_error_set(err, FL_ELIMIT,
			    "header line longer than %d bytes", MAX_LINE);
		if ((cr = memchr(p, '\r', n)) != NULL)
			return fl_error_set(err, FL_EFORMAT,
			    "carriage return in header");
		if ((eq = memchr(p, '=', n)) == NULL)
			return fl_error_set(err, FL_EFORMAT,
			    "header line without '=': '%s'",
			    fl_escape(q, 60, p, n));
		if (eq - p == 6 && memcmp(p, "tensor", 6) == 0) {
			if (parse_tensor_line(rec, eq + 1, (size_t)(nl - eq -
			    1), &end, lim, err) < 0)
				return -1;
		} else if (parse_meta_line(rec, p, (size_t)(eq - p), eq + 1,
		    (size_t)(nl - eq - 1), err) < 0) {
			return -1;
		}
		p = nl + 1;
	}
	return check_unique_names(rec, err);
}

int
fl_header_format(const struct fl_record *rec, char **out, size_t *outlen,
    struct fl_error *err)
{
	char shape[FL_MAX_RANK * 21 + 3];
	size_t len = 0, cap = 0, pad;
	char *buf = NULL;

	/* Two passes: measure, then write; the header is small. */
	for (int pass = 0; pass < 2; pass++) {
		len = 0;
		for (size_t i = 0; i < rec->nmeta; i++) {
			const struct fl_meta *m = &rec->meta[i];
			int n = snprintf(buf ? buf + len : NULL,
			    buf ? cap - len : 0, "%s=%s\n", m->key, m->value);

			len += (size_t)n;
		}
		for (size_t i = 0; i < rec->ntensors; i++) {
			const struct fl_tensor *t = &rec->tensors[i];
			int n;

			fl_shape_format(shape, sizeof(shape), t->rank, t->dims);
			n = snprintf(buf ? buf + len : NULL,
			    buf ? cap - len : 0, "tensor=%s %s %s %zu\n",
			    t->name, fl_dtype_name(t->dtype), shape, t->offset);
			len += (size_t)n;
		}
		pad = (FL_ALIGN - (FL_PREAMBLE_SIZE + len + 1) % FL_ALIGN) %
		    FL_ALIGN;
		if (buf == NULL) {
			cap = len + pad + 2;
			if (len + pad + 1 > FL_MAX_HEADER)
				return fl_error_set(err, FL_ELIMIT,
				    "header of %zu bytes is above the limit "
				    "of %u", len + pad + 1, FL_MAX_HEADER);
			if ((buf = malloc(cap)) == NULL)
				return fl_error_set(err, FL_ENOMEM,
				    "out of memory");
		}
	}
	memset(buf + len, ' ', pad);
	buf[len + pad] = '\n';
	*out = buf;
	*outlen = len + pad + 1;
	return 0;
}
