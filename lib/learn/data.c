/* SPDX-License-Identifier: ISC */
/*
 * Data sets: CSV (libcsv, streamed line by line so that every message can
 * name its line), IDX (the format of MNIST and Fashion-MNIST: a 4-byte
 * magic, big-endian dimensions, then the items) and FLT records of kind
 * "dataset", each plain or gzip-compressed.  Everything read is checked
 * before it is trusted: sizes against caps before allocating, memory grown
 * as data actually arrives (a header cannot make us allocate what the file
 * does not hold), cells parsed whole and finite.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <csv.h>
#include <zlib.h>

#include "base/internal.h"
#include "learn/learn.h"

#define CHUNK 65536
#define DEFAULT_MAX_BYTES (UINT64_C(16) << 30)
/* A number is a few dozen bytes and a header name rarely more: a cell
 * beyond this is not data, and libcsv would hold all of it. */
#define DEFAULT_MAX_CELL (UINT64_C(1) << 20)
/* The most bytes libcsv is given at once: a cell longer than the cap is
 * found within two slices of it. */
#define CSV_SLICE 4096
#define MAX_CLASSES (UINT32_C(1) << 24)
#define MAX_COLUMNS (UINT64_C(1) << 24)

/* ---- input: a FILE, inflated when it is gzip ---- */

struct src {
	FILE *fp;
	const char *name;
	struct fl_error *err;
	int gz, zinit, zend, rawend;
	z_stream z;
	unsigned char in[CHUNK];
	unsigned char *p;       /* raw mode: next unread byte of in */
	size_t avail;           /* raw mode: unread bytes at p */
	unsigned char head[16]; /* bytes peeked and given back */
	size_t headlen, headpos;
};

static int
src_fill(struct src *s)
{
	size_t n;

	if (s->rawend)
		return 0;
	n = fread(s->in, 1, sizeof(s->in), s->fp);
	if (n == 0) {
		if (ferror(s->fp))
			return fl_error_set(s->err, FL_EIO, "%s: read error: %s",
			    s->name, strerror(errno));
		s->rawend = 1;
	}
	s->p = s->in;
	s->avail = n;
	return (int)(n > 0);
}

static int
src_open(struct src *s, FILE *fp, const char *name, struct fl_error *err)
{
	memset(s, 0, sizeof(*s));
	s->fp = fp;
	s->name = name;
	s->err = err;
	if (src_fill(s) < 0)
		return -1;
	if (s->avail >= 2 && s->in[0] == 0x1f && s->in[1] == 0x8b) {
		s->gz = 1;
		if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK)
			return fl_error_set(err, FL_ENOMEM, "%s: cannot "
			    "initialise zlib", name);
		s->zinit = 1;
		s->z.next_in = s->p;
		s->z.avail_in = (uInt)s->avail;
	}
	return 0;
}

static void
src_close(struct src *s)
{
	if (s->zinit)
		inflateEnd(&s->z);
}

/* Up to n bytes into buf; fewer only at the end.  Returns the count or -1. */
static long
src_read(struct src *s, void *buf, size_t n)
{
	unsigned char *out = buf;
	size_t got = 0;

	while (got < n && s->headpos < s->headlen)
		out[got++] = s->head[s->headpos++];
	while (got < n) {
		if (!s->gz) {
			size_t k;

			if (s->avail == 0) {
				int rc = src_fill(s);

				if (rc < 0)
					return -1;
				if (rc == 0)
					break;
			}
			k = s->avail < n - got ? s->avail : n - got;
			memcpy(out + got, s->p, k);
			s->p += k;
			s->avail -= k;
			got += k;
			continue;
		}
		if (s->zend) {
			/* Another gzip member may follow (as gzip -c a b). */
			if (s->z.avail_in == 0) {
				int rc = src_fill(s);

				if (rc < 0)
					return -1;
				if (rc == 0)
					break;
				s->z.next_in = s->p;
				s->z.avail_in = (uInt)s->avail;
			}
			if (inflateReset(&s->z) != Z_OK)
				return fl_error_set(s->err, FL_EFORMAT,
				    "%s: bad gzip data", s->name);
			s->zend = 0;
		}
		if (s->z.avail_in == 0) {
			int rc = src_fill(s);

			if (rc < 0)
				return -1;
			if (rc == 0)
				return fl_error_set(s->err, FL_ETRUNC,
				    "%s: truncated gzip data", s->name);
			s->z.next_in = s->p;
			s->z.avail_in = (uInt)s->avail;
		}
		s->z.next_out = out + got;
		s->z.avail_out = (uInt)(n - got > CHUNK ? CHUNK : n - got);
		{
			uInt before = s->z.avail_out;
			int rc = inflate(&s->z, Z_NO_FLUSH);

			got += before - s->z.avail_out;
			if (rc == Z_STREAM_END)
				s->zend = 1;
			else if (rc != Z_OK && rc != Z_BUF_ERROR)
				return fl_error_set(s->err, FL_EFORMAT,
				    "%s: bad gzip data: %s", s->name,
				    s->z.msg ? s->z.msg : "inflate failed");
		}
	}
	return (long)got;
}

/* Read exactly n bytes, or fail naming what was being read. */
static int
src_exact(struct src *s, void *buf, size_t n, const char *what)
{
	long got = src_read(s, buf, n);

	if (got < 0)
		return -1;
	if ((size_t)got < n)
		return fl_error_set(s->err, FL_ETRUNC, "%s: truncated %s "
		    "(%ld of %zu bytes)", s->name, what, got, n);
	return 0;
}

/* Look at the first bytes without consuming them. */
static long
src_peek(struct src *s, size_t n)
{
	long got;

	if (n > sizeof(s->head))
		n = sizeof(s->head);
	if ((got = src_read(s, s->head, n)) < 0)
		return -1;
	s->headlen = (size_t)got;
	s->headpos = 0;
	return got;
}

/* ---- growing the data set ---- */

static int
reserve(struct fl_data *d, uint64_t *cap, uint64_t rows, uint64_t max_bytes,
    const char *name, struct fl_error *err)
{
	size_t esz = d->xtype == FL_U8 ? 1 : sizeof(float);
	uint64_t ncap;
	void *x;
	int32_t *y;

	if (rows <= *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 1024;
	if (ncap < rows)
		ncap = rows;
	if (d->dim != 0 && ncap > max_bytes / esz / d->dim) {
		ncap = max_bytes / esz / d->dim;
		if (ncap < rows)
			return fl_error_set(err, FL_ELIMIT, "%s: more than "
			    "%llu bytes of features", name,
			    (unsigned long long)max_bytes);
	}
	if ((x = realloc(d->x, (size_t)(ncap * d->dim * esz))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "%s: out of memory", name);
	d->x = x;
	if ((y = realloc(d->y, (size_t)ncap * sizeof(*y))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "%s: out of memory", name);
	d->y = y;
	*cap = ncap;
	return 0;
}

static void
set_scale(struct fl_data *d)
{
	d->scale = d->xtype == FL_U8 ? 1.0f / 255.0f : 1.0f;
}

/* ---- numbers ---- */

/* A cell as a finite double: digits alone fast, else strtod whole. */
static int
parse_number(const char *s, size_t len, double *v)
{
	char *end;

	if (len == 0 || strlen(s) != len)
		return -1;
	if (len <= 9) {
		uint32_t u = 0;
		size_t i;

		for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			u = u * 10 + (uint32_t)(s[i] - '0');
		if (i == len) {
			*v = u;
			return 0;
		}
	}
	/* strtod takes leading space, hex and "nan": allow only what a
	 * decimal number can hold, then let strtod judge the syntax. */
	if (strspn(s, "0123456789+-.eE") != len && strspn(s,
	    "0123456789+-.eEinfatyINFATY") != len)
		return -1;
	errno = 0;
	*v = strtod(s, &end);
	if (end != s + len)
		return -1;
	return isfinite(*v) ? 0 : -2;
}

static int
check_label(double v, uint32_t classes, int32_t *out)
{
	if (v < 0 || v != floor(v) || v >= MAX_CLASSES)
		return -1;
	if (classes != 0 && v >= classes)
		return -2;
	*out = (int32_t)v;
	return 0;
}

/* ---- CSV ---- */

struct csv {
	struct fl_data *d;
	const struct fl_data_opts *o;
	const char *name;
	struct fl_error *err;
	uint64_t max_bytes;
	uint64_t max_cell;
	uint64_t pending;       /* bytes fed since the last cell ended */
	uint64_t cell_line;     /* the line the next cell starts on */
	uint64_t line;          /* the line being fed */
	uint64_t cap;           /* rows allocated */
	int failed;
	int started;            /* the first row is done */
	size_t col;             /* fields seen in the current row */
	size_t ncols;
	size_t labelcol;
	uint64_t first_line;
	char **first;           /* cells of the first row */
	size_t nfirst, capfirst;
	float *row;
	int32_t label;
};

static void csv_cell(struct csv *c, const char *s, size_t len);
static void csv_end_row(struct csv *c);

#define CSV_FAIL(c, ...) do {						\
	fl_error_set((c)->err, FL_EFORMAT, __VA_ARGS__);		\
	(c)->failed = 1;						\
} while (0)

static void
first_cell(struct csv *c, const char *s, size_t len)
{
	char *copy;

	if (c->nfirst == c->capfirst) {
		size_t ncap = c->capfirst ? c->capfirst * 2 : 64;
		char **p;

		if (ncap > MAX_COLUMNS) {
			CSV_FAIL(c, "%s: line %llu: more than %llu columns",
			    c->name, (unsigned long long)c->line,
			    (unsigned long long)MAX_COLUMNS);
			return;
		}
		if ((p = realloc(c->first, ncap * sizeof(*p))) == NULL) {
			CSV_FAIL(c, "%s: out of memory", c->name);
			return;
		}
		c->first = p;
		c->capfirst = ncap;
	}
	if ((copy = malloc(len + 1)) == NULL) {
		CSV_FAIL(c, "%s: out of memory", c->name);
		return;
	}
	if (len)
		memcpy(copy, s, len);
	copy[len] = '\0';
	c->first[c->nfirst++] = copy;
}

static void
cb_field(void *s, size_t len, void *arg)
{
	struct csv *c = arg;

	c->pending = 0;
	c->cell_line = c->line;
	if (c->failed)
		return;
	if (!c->started) {
		if (c->nfirst == 0)
			c->first_line = c->line;
		first_cell(c, s ? s : "", s ? len : 0);
		return;
	}
	csv_cell(c, s ? s : "", s ? len : 0);
}

/* The class number of label text s in the list "a,b,c" (o->class_names),
 * or -1. */
static int32_t
class_index(const char *list, const char *s, size_t len)
{
	int32_t k = 0;

	for (const char *p = list;; k++) {
		size_t n = strcspn(p, ",");

		if (n == len && memcmp(p, s, len) == 0)
			return k;
		if (p[n] == '\0')
			return -1;
		p += n + 1;
	}
}

int
fl_class_names_check(const char *list, struct fl_error *err)
{
	char q[FL_QUOTE];
	size_t k = 0;

	for (const char *p = list;; k++) {
		size_t n = strcspn(p, ",");

		if (n == 0)
			return fl_error_set(err, FL_EINVAL, "an empty class name");
		if (k >= MAX_CLASSES)
			return fl_error_set(err, FL_EINVAL, "more than %lu classes",
			    (unsigned long)MAX_CLASSES);
		if (class_index(list, p, n) != (int32_t)k)
			return fl_error_set(err, FL_EINVAL, "class '%s' twice",
			    fl_escape(q, sizeof(q), p, n));
		if (p[n] == '\0')
			return (int)k + 1;
		p += n + 1;
	}
}

/* For telling a header: "nan" and "1e999" are numbers, if bad ones. */
static int
is_number_cell(const char *s)
{
	double v;

	return parse_number(s, strlen(s), &v) != -1;
}

/* "a, b, c" of a header's n names, escaped, cut with ", ..." and the
 * count to fit n bytes. */
static void
column_list(char *buf, size_t n, char *const *names, size_t count)
{
	size_t used = 0;
	char q[FL_QUOTE], tail[48];

	buf[0] = '\0';
	snprintf(tail, sizeof(tail), ", ... (%zu columns)", count);
	for (size_t i = 0; i < count; i++) {
		const char *name = fl_escape(q, sizeof(q), names[i],
		    strlen(names[i]));
		size_t need = strlen(name) + (i > 0 ? 2 : 0);

		if (used + need + (i + 1 < count ? strlen(tail) : 0) >= n) {
			snprintf(buf + used, n - used, "%s", tail);
			return;
		}
		used += (size_t)snprintf(buf + used, n - used, "%s%s",
		    i > 0 ? ", " : "", name);
	}
}

/* The first row is done: header or data, which column is the label. */
static void
csv_start(struct csv *c)
{
	const struct fl_data_opts *o = c->o;
	struct fl_data *d = c->d;
	char q[FL_QUOTE];
	int header = 0;
	uint64_t idx = 0;
	int numeric_label = 0;

	c->ncols = c->nfirst;
	if (c->ncols < 2) {
		CSV_FAIL(c, "%s: line %llu: one column: want a label and at "
		    "least one feature", c->name,
		    (unsigned long long)c->first_line);
		return;
	}
	if (o->header > 0) {
		header = 1;
	} else if (o->header == 0) {
		/* A header has a name: an empty cell is a missing value. */
		for (size_t i = 0; i < c->nfirst && !header; i++)
			header = c->first[i][0] != '\0' &&
			    !is_number_cell(c->first[i]) &&
			    !(o->class_names != NULL && class_index(
			    o->class_names, c->first[i], strlen(c->first[i]))
			    >= 0);
	}
	if (o->label != NULL) {
		struct fl_error e;

		numeric_label = strspn(o->label, "0123456789") ==
		    strlen(o->label);
		if (numeric_label && fl_parse_u64(o->label, 1, c->ncols,
		    &idx, &e) < 0) {
			CSV_FAIL(c, "%s: no label column %s: the data has "
			    "%zu columns", c->name, fl_escape(q, sizeof(q),
			    o->label, strlen(o->label)), c->ncols);
			return;
		}
	}
	if (o->label != NULL && !numeric_label) {
		if (!header) {
			CSV_FAIL(c, "%s: no header row to find label column "
			    "'%s' in", c->name, fl_escape(q, sizeof(q),
			    o->label, strlen(o->label)));
			return;
		}
		for (size_t i = 0; i < c->ncols && idx == 0; i++)
			if (strcmp(c->first[i], o->label) == 0)
				idx = i + 1;
		if (idx == 0) {
			CSV_FAIL(c, "%s: line %llu: no column named '%s'",
			    c->name, (unsigned long long)c->first_line,
			    fl_escape(q, sizeof(q), o->label,
			    strlen(o->label)));
			return;
		}
	} else if (o->label == NULL) {
		/* Without a header the label is the first column; with one,
		 * the column named "label" only: taking the first column of
		 * a header without one trains on whatever it holds. */
		idx = header ? 0 : 1;
		for (size_t i = 0; header && i < c->ncols; i++)
			if (strcmp(c->first[i], "label") == 0) {
				idx = i + 1;
				break;
			}
		if (idx == 0) {
			char cols[96];

			column_list(cols, sizeof(cols), c->first, c->ncols);
			CSV_FAIL(c, "%s: line %llu: no column named 'label' "
			    "(the columns: %s): give the label column with -l "
			    "NAME or -l NUMBER", c->name,
			    (unsigned long long)c->first_line, cols);
			return;
		}
	}
	c->labelcol = (size_t)idx - 1;
	d->dim = c->ncols - 1;
	if (o->features != 0 && d->dim != o->features) {
		CSV_FAIL(c, "%s: line %llu: %llu features, the model takes "
		    "%llu", c->name, (unsigned long long)c->first_line,
		    (unsigned long long)d->dim,
		    (unsigned long long)o->features);
		return;
	}
	if ((c->row = malloc(d->dim * sizeof(float))) == NULL) {
		CSV_FAIL(c, "%s: out of memory", c->name);
		return;
	}
	c->started = 1;
	if (header) {
		if ((d->names = calloc(d->dim, sizeof(char *))) == NULL) {
			CSV_FAIL(c, "%s: out of memory", c->name);
			return;
		}
		for (size_t i = 0, j = 0; i < c->ncols; i++) {
			if (i == c->labelcol)
				d->label_name = c->first[i];
			else
				d->names[j++] = c->first[i];
			c->first[i] = NULL;
		}
		return;
	}
	/* No header: the first row is data. */
	{
		uint64_t line = c->line;

		c->line = c->first_line;
		for (size_t i = 0; i < c->nfirst && !c->failed; i++)
			csv_cell(c, c->first[i], strlen(c->first[i]));
		if (!c->failed)
			csv_end_row(c);
		c->line = line;
	}
}

static void
csv_cell(struct csv *c, const char *s, size_t len)
{
	char q[FL_QUOTE];
	size_t col = c->col++;
	double v;
	int rc;

	if (col >= c->ncols)
		return;         /* counted; csv_end_row names the problem */
	if (col == c->labelcol && c->o->class_names != NULL) {
		char names[96];

		if ((c->label = class_index(c->o->class_names, s, len)) >= 0 &&
		    (c->o->classes == 0 || (uint32_t)c->label < c->o->classes))
			return;
		if (c->label >= 0)
			CSV_FAIL(c, "%s: line %llu: column %zu: label '%s' is "
			    "class %d: the model has %u classes", c->name,
			    (unsigned long long)c->line, col + 1,
			    fl_escape(q, 48, s, len), (int)c->label,
			    c->o->classes);
		else
			CSV_FAIL(c, "%s: line %llu: column %zu: label '%s' is "
			    "not one of --classes %s", c->name,
			    (unsigned long long)c->line, col + 1,
			    fl_escape(q, 48, s, len), fl_escape(names,
			    sizeof(names), c->o->class_names,
			    strlen(c->o->class_names)));
		return;
	}
	rc = parse_number(s, len, &v);
	if (rc == -1 && len == 0) {
		CSV_FAIL(c, "%s: line %llu: column %zu: empty cell", c->name,
		    (unsigned long long)c->line, col + 1);
		return;
	}
	if (rc == -1) {
		CSV_FAIL(c, "%s: line %llu: column %zu: not a number: '%s'",
		    c->name, (unsigned long long)c->line, col + 1,
		    fl_escape(q, 48, s, len));
		return;
	}
	if (rc == -2) {
		CSV_FAIL(c, "%s: line %llu: column %zu: '%s' is not finite",
		    c->name, (unsigned long long)c->line, col + 1,
		    fl_escape(q, 48, s, len));
		return;
	}
	if (col == c->labelcol) {
		rc = check_label(v, c->o->classes, &c->label);
		if (rc == -1)
			CSV_FAIL(c, "%s: line %llu: column %zu: label '%s' is "
			    "not a class number (0, 1, ...)", c->name,
			    (unsigned long long)c->line, col + 1,
			    fl_escape(q, 48, s, len));
		else if (rc == -2)
			CSV_FAIL(c, "%s: line %llu: column %zu: label %s out "
			    "of range: the model has %u classes", c->name,
			    (unsigned long long)c->line, col + 1,
			    fl_escape(q, 48, s, len), c->o->classes);
		return;
	}
	if (fabs(v) > 3.4028234663852886e38) {
		CSV_FAIL(c, "%s: line %llu: column %zu: '%s' is too large "
		    "for a float", c->name, (unsigned long long)c->line,
		    col + 1, fl_escape(q, 48, s, len));
		return;
	}
	c->row[col < c->labelcol ? col : col - 1] = (float)v;
}

static void
csv_end_row(struct csv *c)
{
	struct fl_data *d = c->d;

	if (c->col != c->ncols) {
		CSV_FAIL(c, "%s: line %llu: %zu columns, want %zu as in line "
		    "%llu", c->name, (unsigned long long)c->line, c->col,
		    c->ncols, (unsigned long long)c->first_line);
		return;
	}
	c->col = 0;
	if (reserve(d, &c->cap, d->n + 1, c->max_bytes, c->name, c->err) < 0) {
		c->failed = 1;
		return;
	}
	memcpy((float *)d->x + d->n * d->dim, c->row, d->dim * sizeof(float));
	d->y[d->n++] = c->label;
	if ((uint32_t)c->label + 1 > d->classes)
		d->classes = (uint32_t)c->label + 1;
}

static void
cb_row(int term, void *arg)
{
	struct csv *c = arg;

	(void)term;
	c->pending = 0;
	c->cell_line = c->line + 1;
	if (c->failed)
		return;
	if (!c->started) {
		if (c->nfirst == 0)
			return;
		csv_start(c);
		return;
	}
	csv_end_row(c);
}

static int
read_csv(struct fl_data *d, struct src *s, const struct fl_data_opts *o,
    uint64_t max_bytes, struct fl_error *err)
{
	struct csv_parser p;
	struct csv c;
	unsigned char *buf, *nul;
	long n;
	int rc = -1, first = 1;

	memset(&c, 0, sizeof(c));
	c.d = d;
	c.o = o;
	c.name = s->name;
	c.err = err;
	c.max_bytes = max_bytes;
	c.max_cell = o != NULL && o->max_cell ? o->max_cell : DEFAULT_MAX_CELL;
	c.line = c.cell_line = 1;
	d->format = FL_DATA_CSV;
	d->xtype = FL_F32;
	if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL |
	    CSV_EMPTY_IS_NULL) != 0)
		return fl_error_set(err, FL_ENOMEM, "%s: out of memory",
		    s->name);
	if ((buf = malloc(CHUNK)) == NULL) {
		fl_error_set(err, FL_ENOMEM, "%s: out of memory", s->name);
		goto out;
	}
	while ((n = src_read(s, buf, CHUNK)) > 0) {
		unsigned char *q = buf, *end = buf + n;

		/* A UTF-8 byte order mark is not part of the first cell. */
		if (first && n >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
			q += 3;
		first = 0;
		if ((nul = memchr(q, '\0', (size_t)(end - q))) != NULL) {
			/* The line the NUL is on, not the chunk's first. */
			uint64_t line = c.line;

			for (unsigned char *x = q; x < nul; x++)
				line += *x == '\n';
			fl_error_set(err, FL_EFORMAT, "%s: line %llu: a NUL "
			    "byte: binary data, not CSV", s->name,
			    (unsigned long long)line);
			goto out;
		}
		while (q < end) {
			/* Fed a line, or a slice of one, at a time: a cell
			 * that ends inside a slice resets the count and hides
			 * at most that slice from it. */
			size_t span = end - q < CSV_SLICE ? (size_t)(end - q) :
			    CSV_SLICE;
			unsigned char *nl = memchr(q, '\n', span);
			unsigned char *e = nl ? nl + 1 : q + span;

			/* What libcsv holds of an unfinished cell is at
			 * most what was fed since the last cell ended. */
			c.pending += (uint64_t)(e - q);
			if (c.pending > c.max_cell + CSV_SLICE) {
				fl_error_set(err, FL_EFORMAT, "%s: line %llu: a "
				    "cell longer than %llu bytes (FL_MAX_CELL)",
				    s->name, (unsigned long long)c.line,
				    (unsigned long long)c.max_cell);
				goto out;
			}
			if (csv_parse(&p, q, (size_t)(e - q), cb_field, cb_row,
			    &c) != (size_t)(e - q)) {
				if (!c.failed)
					fl_error_set(err, FL_EFORMAT, "%s: line "
					    "%llu: %s", s->name,
					    (unsigned long long)c.line,
					    csv_error(&p) == CSV_EPARSE ?
					    "malformed quotes" :
					    csv_strerror(csv_error(&p)));
				goto out;
			}
			if (c.failed)
				goto out;
			if (nl != NULL)
				c.line++;
			q = e;
		}
	}
	if (n < 0)
		goto out;
	if (csv_fini(&p, cb_field, cb_row, &c) != 0) {
		if (!c.failed)
			fl_error_set(err, FL_EFORMAT, "%s: line %llu: a quoted "
			    "cell runs to the end of the file", s->name,
			    (unsigned long long)c.cell_line);
		goto out;
	}
	if (c.failed)
		goto out;
	if (d->n == 0) {
		fl_error_set(err, FL_EFORMAT, "%s: no examples", s->name);
		goto out;
	}
	rc = 0;
out:
	csv_free(&p);
	free(buf);
	free(c.row);
	for (size_t i = 0; i < c.nfirst; i++)
		free(c.first[i]);
	free(c.first);
	return rc;
}

/* ---- IDX ---- */

struct idx {
	int type;               /* 0x08 u8 ... 0x0e f64 */
	size_t esize;
	int ndim;
	uint64_t dims[8];
	uint64_t count;         /* items: product of dims */
};

static int
idx_type(int t, size_t *esize)
{
	switch (t) {
	case 0x08: case 0x09: *esize = 1; return 0;
	case 0x0b: *esize = 2; return 0;
	case 0x0c: case 0x0d: *esize = 4; return 0;
	case 0x0e: *esize = 8; return 0;
	default: return -1;
	}
}

static int
is_idx_magic(const unsigned char *b, long n)
{
	size_t es;

	return n >= 4 && b[0] == 0 && b[1] == 0 && idx_type(b[2], &es) == 0 &&
	    b[3] >= 1 && b[3] <= 8;
}

static int
idx_header(struct src *s, struct idx *h, uint64_t max_bytes)
{
	unsigned char b[4 * 9];

	if (src_exact(s, b, 4, "IDX header") < 0)
		return -1;
	if (b[0] != 0 || b[1] != 0)
		return fl_error_set(s->err, FL_EFORMAT, "%s: not an IDX file "
		    "(bad magic)", s->name);
	h->type = b[2];
	if (idx_type(h->type, &h->esize) < 0)
		return fl_error_set(s->err, FL_EFORMAT, "%s: IDX element type "
		    "0x%02x unknown", s->name, h->type);
	h->ndim = b[3];
	if (h->ndim < 1 || h->ndim > 8)
		return fl_error_set(s->err, FL_EFORMAT, "%s: IDX with %d "
		    "dimensions (1 to 8 allowed)", s->name, h->ndim);
	if (src_exact(s, b, 4 * (size_t)h->ndim, "IDX header") < 0)
		return -1;
	h->count = 1;
	for (int i = 0; i < h->ndim; i++) {
		const unsigned char *p = b + 4 * i;

		h->dims[i] = (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 |
		    (uint64_t)p[2] << 8 | p[3];
		if (h->dims[i] == 0)
			return fl_error_set(s->err, FL_EFORMAT, "%s: no "
			    "examples (IDX dimension %d is 0)", s->name,
			    i + 1);
		if (__builtin_mul_overflow(h->count, h->dims[i], &h->count) ||
		    h->count > max_bytes / h->esize)
			return fl_error_set(s->err, FL_ELIMIT, "%s: IDX data "
			    "larger than %llu bytes", s->name,
			    (unsigned long long)max_bytes);
	}
	return 0;
}

static double
idx_value(const struct idx *h, const unsigned char *p)
{
	uint64_t u = 0;

	for (size_t i = 0; i < h->esize; i++)
		u = u << 8 | p[i];
	switch (h->type) {
	case 0x08: return (double)u;
	case 0x09: return (double)(int8_t)u;
	case 0x0b: return (double)(int16_t)u;
	case 0x0c: return (double)(int32_t)u;
	case 0x0d: {
		uint32_t w = (uint32_t)u;
		float f;

		memcpy(&f, &w, 4);
		return f;
	}
	default: {
		double f;

		memcpy(&f, &u, 8);
		return f;
	}
	}
}

static int
idx_end(struct src *s)
{
	unsigned char b;
	long n = src_read(s, &b, 1);

	if (n < 0)
		return -1;
	if (n > 0)
		return fl_error_set(s->err, FL_EFORMAT, "%s: bytes after the "
		    "IDX data", s->name);
	return 0;
}

/*
 * The images: n = dims[0] examples of the other dimensions' product.  The
 * header's claim sizes nothing: the features grow with the bytes that
 * arrive, a chunk at a time (one example of 4 GiB claimed and never sent
 * allocates 64 KiB, not 4 GiB), and the labels are sized by the examples
 * actually read.
 */
static int
read_idx_images(struct fl_data *d, struct src *s,
    const struct fl_data_opts *o, uint64_t max_bytes)
{
	size_t xsize;           /* bytes of one feature as stored */
	struct idx h;
	unsigned char *buf = NULL;
	uint64_t cap = 0, done = 0;     /* items (features), not examples */
	int32_t *y;
	int rc = -1;

	if (idx_header(s, &h, max_bytes) < 0)
		return -1;
	d->format = FL_DATA_IDX;
	d->xtype = h.type == 0x08 ? FL_U8 : FL_F32;
	xsize = d->xtype == FL_U8 ? 1 : sizeof(float);
	d->dim = h.count / h.dims[0];
	if (o->features != 0 && d->dim != o->features)
		return fl_error_set(s->err, FL_EFORMAT, "%s: %llu features "
		    "per example, the model takes %llu", s->name,
		    (unsigned long long)d->dim,
		    (unsigned long long)o->features);
	if ((buf = malloc(CHUNK)) == NULL)
		return fl_error_set(s->err, FL_ENOMEM, "%s: out of memory",
		    s->name);
	while (done < h.count) {
		uint64_t k = CHUNK / h.esize;
		long got;

		if (k > h.count - done)
			k = h.count - done;
		if ((got = src_read(s, buf, (size_t)(k * h.esize))) < 0)
			goto out;
		if ((uint64_t)got < k * h.esize) {
			fl_error_set(s->err, FL_ETRUNC, "%s: truncated: %llu "
			    "of %llu examples", s->name, (unsigned long long)
			    ((done + (uint64_t)got / h.esize) / d->dim),
			    (unsigned long long)h.dims[0]);
			goto out;
		}
		if (done + k > cap) {
			/* doubling, from what has arrived; never past the
			 * claim, which idx_header bounded */
			uint64_t ncap = cap * 2 > done + k ? cap * 2 : done + k;
			void *x;

			if (ncap > h.count)
				ncap = h.count;
			if ((x = realloc(d->x, (size_t)(ncap * xsize))) == NULL) {
				fl_error_set(s->err, FL_ENOMEM, "%s: out of "
				    "memory", s->name);
				goto out;
			}
			d->x = x;
			cap = ncap;
		}
		if (d->xtype == FL_U8) {
			memcpy((unsigned char *)d->x + done, buf, (size_t)k);
		} else {
			float *x = (float *)d->x + done;

			for (uint64_t i = 0; i < k; i++) {
				double v = idx_value(&h, buf + i * h.esize);

				if (!isfinite(v) || fabs(v) >
				    3.4028234663852886e38) {
					fl_error_set(s->err, FL_EFORMAT, "%s: "
					    "example %llu: feature %llu is not "
					    "a finite float", s->name,
					    (unsigned long long)((done + i) /
					    d->dim + 1), (unsigned long long)
					    ((done + i) % d->dim + 1));
					goto out;
				}
				x[i] = (float)v;
			}
		}
		done += k;
	}
	d->n = h.dims[0];
	if ((y = realloc(d->y, (size_t)d->n * sizeof(*y))) == NULL) {
		fl_error_set(s->err, FL_ENOMEM, "%s: out of memory", s->name);
		goto out;
	}
	d->y = y;
	rc = idx_end(s);
out:
	free(buf);
	return rc;
}

static int
read_idx_labels(struct fl_data *d, struct src *s,
    const struct fl_data_opts *o)
{
	struct idx h;
	unsigned char b[8];

	if (idx_header(s, &h, DEFAULT_MAX_BYTES) < 0)
		return -1;
	if (h.ndim != 1 || h.type == 0x0d || h.type == 0x0e)
		return fl_error_set(s->err, FL_EFORMAT, "%s: not an IDX labels "
		    "file (want one dimension of integers)", s->name);
	if (h.count != d->n)
		return fl_error_set(s->err, FL_EFORMAT, "%s: %llu labels for "
		    "%llu examples", s->name, (unsigned long long)h.count,
		    (unsigned long long)d->n);
	d->classes = 0;
	for (uint64_t i = 0; i < d->n; i++) {
		double v;
		int rc;

		if (src_exact(s, b, h.esize, "IDX labels") < 0)
			return -1;
		v = idx_value(&h, b);
		if ((rc = check_label(v, o->classes, &d->y[i])) < 0)
			return fl_error_set(s->err, FL_EFORMAT, "%s: example "
			    "%llu: label %.0f %s", s->name,
			    (unsigned long long)(i + 1), v, rc == -1 ?
			    "is not a class number" : "out of range");
		if ((uint32_t)d->y[i] + 1 > d->classes)
			d->classes = (uint32_t)d->y[i] + 1;
	}
	return idx_end(s);
}

/* ---- FLT records of kind "dataset" ---- */

static int
read_flt(struct fl_data *d, struct src *s, const struct fl_data_opts *o,
    uint64_t max_bytes, struct fl_error *err)
{
	struct fl_record rec;
	unsigned char pre[FL_PREAMBLE_SIZE], *buf = NULL;
	uint64_t cap = 0;
	unsigned long recno = 0;
	int rc = -1;

	fl_record_init(&rec);
	d->format = FL_DATA_FLT;
	for (;;) {
		const struct fl_tensor *x, *y;
		struct fl_error e;
		uint64_t hlen, plen, total, n, have, room;
		const char *kind;
		long got;
		unsigned char *nb;

		if ((got = src_read(s, pre, sizeof(pre))) < 0)
			goto out;
		if (got == 0 && recno > 0)
			break;
		recno++;
		if ((size_t)got < sizeof(pre) || memcmp(pre, FL_MAGIC, 8) != 0) {
			fl_error_set(err, FL_EFORMAT, "%s: record %lu: %s",
			    s->name, recno, (size_t)got < sizeof(pre) ?
			    "truncated" : "not an FLT record");
			goto out;
		}
		hlen = fl_load_le32(pre + 12);
		plen = fl_load_le64(pre + 16);
		if (hlen > FL_MAX_HEADER || plen > max_bytes) {
			fl_error_set(err, FL_ELIMIT, "%s: record %lu: too "
			    "large", s->name, recno);
			goto out;
		}
		total = FL_PREAMBLE_SIZE + hlen + plen;
		/* The buffer grows with the bytes that arrive, never to
		 * what the preamble merely claims. */
		have = sizeof(pre);
		room = 0;
		do {
			uint64_t want = have * 2 > CHUNK ? have * 2 : CHUNK;

			if (want > total)
				want = total;
			if (want > room) {
				if ((nb = realloc(buf, (size_t)want)) == NULL) {
					fl_error_set(err, FL_ENOMEM, "%s: out "
					    "of memory", s->name);
					goto out;
				}
				if (room == 0)
					memcpy(nb, pre, sizeof(pre));
				buf = nb;
				room = want;
			}
			if ((got = src_read(s, buf + have, (size_t)(room -
			    have))) < 0)
				goto out;
			have += (uint64_t)got;
			if (have < room) {
				fl_error_set(err, FL_ETRUNC, "%s: record %lu: "
				    "truncated: %llu of %llu bytes", s->name,
				    recno, (unsigned long long)have,
				    (unsigned long long)total);
				goto out;
			}
		} while (have < total);
		if (fl_record_parse(&rec, buf, (size_t)total, NULL, &e) < 0) {
			fl_error_set(err, e.code, "%s: record %lu: %s",
			    s->name, recno, e.msg);
			goto out;
		}
		kind = fl_meta_get(&rec, "kind");
		if (kind == NULL || strcmp(kind, "dataset") != 0) {
			char q[FL_QUOTE];

			fl_error_set(err, FL_EFORMAT, "%s: record %lu: %s%s%s, "
			    "not a data set (kind=dataset)", s->name, recno,
			    kind ? "kind=" : "no kind", kind ? fl_escape(q,
			    sizeof(q), kind, strlen(kind)) : "", "");
			goto out;
		}
		x = fl_tensor_find(&rec, "x");
		y = fl_tensor_find(&rec, "y");
		if (x == NULL || y == NULL || x->rank != 2 || y->rank != 1 ||
		    x->dims[0] != y->dims[0] || fl_dtype_is_float(y->dtype) ||
		    x->dims[0] == 0 || x->dims[1] == 0) {
			fl_error_set(err, FL_EFORMAT, "%s: record %lu: want "
			    "tensors x [n,features] and y [n] of integers, "
			    "n > 0", s->name, recno);
			goto out;
		}
		n = x->dims[0];
		if (recno == 1) {
			d->dim = x->dims[1];
			d->xtype = x->dtype == FL_U8 ? FL_U8 : FL_F32;
			if (o->features != 0 && d->dim != o->features) {
				fl_error_set(err, FL_EFORMAT, "%s: record 1: "
				    "%llu features, the model takes %llu",
				    s->name, (unsigned long long)d->dim,
				    (unsigned long long)o->features);
				goto out;
			}
		} else if (x->dims[1] != d->dim || (x->dtype == FL_U8) !=
		    (d->xtype == FL_U8)) {
			fl_error_set(err, FL_EFORMAT, "%s: record %lu: "
			    "features differ from record 1", s->name, recno);
			goto out;
		}
		if (reserve(d, &cap, d->n + n, max_bytes, s->name, err) < 0)
			goto out;
		if (d->xtype == FL_U8) {
			memcpy((unsigned char *)d->x + d->n * d->dim, x->data,
			    x->nbytes);
		} else {
			float *out = (float *)d->x + d->n * d->dim;

			for (uint64_t i = 0; i < x->numel; i++) {
				double v = fl_tensor_get(x, i);

				if (!isfinite(v) || fabs(v) >
				    3.4028234663852886e38) {
					fl_error_set(err, FL_EFORMAT, "%s: "
					    "record %lu: example %llu: feature "
					    "%llu is not a finite float",
					    s->name, recno,
					    (unsigned long long)(i / d->dim +
					    1), (unsigned long long)(i %
					    d->dim + 1));
					goto out;
				}
				out[i] = (float)v;
			}
		}
		for (uint64_t i = 0; i < n; i++) {
			double v = fl_tensor_get(y, i);
			int32_t *lab = &d->y[d->n + i];
			int r = check_label(v, o->classes, lab);

			if (r < 0) {
				fl_error_set(err, FL_EFORMAT, "%s: record %lu: "
				    "example %llu: label %.0f %s", s->name,
				    recno, (unsigned long long)(i + 1), v,
				    r == -1 ? "is not a class number" :
				    "out of range");
				goto out;
			}
			if ((uint32_t)*lab + 1 > d->classes)
				d->classes = (uint32_t)*lab + 1;
		}
		d->n += n;
	}
	rc = 0;
out:
	free(buf);
	fl_record_free(&rec);
	return rc;
}

/* ---- loading ---- */

int
fl_data_read(struct fl_data *d, FILE *fp, const char *name, FILE *labels,
    const char *labels_name, const struct fl_data_opts *o,
    struct fl_error *err)
{
	static const struct fl_data_opts defaults;
	uint64_t max_bytes;
	struct src s;
	const char *what;
	long n;
	int rc = -1;

	memset(d, 0, sizeof(*d));
	if (o == NULL)
		o = &defaults;
	max_bytes = o->max_bytes ? o->max_bytes : DEFAULT_MAX_BYTES;
	if (src_open(&s, fp, name, err) < 0)
		goto out;
	if ((n = src_peek(&s, 12)) < 0)
		goto out;
	if (n == 0) {
		fl_error_set(err, FL_EFORMAT, "%s: empty: no examples", name);
		goto out;
	}
	if (o->class_names != NULL && ((n >= 8 && memcmp(s.head, FL_MAGIC,
	    8) == 0) || is_idx_magic(s.head, n))) {
		fl_error_set(err, FL_EINVAL, "%s: --classes names the labels of "
		    "CSV data; this file's labels are class numbers", name);
	} else if (n >= 8 && memcmp(s.head, FL_MAGIC, 8) == 0) {
		rc = read_flt(d, &s, o, max_bytes, err);
	} else if (is_idx_magic(s.head, n)) {
		if (read_idx_images(d, &s, o, max_bytes) < 0)
			goto out;
		if (labels == NULL) {
			fl_error_set(err, FL_EINVAL, "%s: IDX images without "
			    "labels: name the labels file", name);
			goto out;
		}
		src_close(&s);
		if (src_open(&s, labels, labels_name, err) < 0)
			goto out;
		rc = read_idx_labels(d, &s, o);
	} else if ((what = fl_sniff_format(s.head, (size_t)n)) != NULL) {
		fl_error_set(err, FL_EFORMAT, "%s: %s, not a data set", name,
		    what);
	} else if (n >= 4 && s.head[0] == 0 && s.head[1] == 0) {
		/* Text never starts with two NULs; IDX does. */
		fl_error_set(err, FL_EFORMAT, "%s: not an IDX file (bad magic "
		    "%02x %02x %02x %02x: want 00 00, a type 08 to 0e and 1 "
		    "to 8 dimensions), and not CSV", name, s.head[0],
		    s.head[1], s.head[2], s.head[3]);
	} else {
		rc = read_csv(d, &s, o, max_bytes, err);
	}
out:
	src_close(&s);
	if (rc == 0)
		set_scale(d);
	return rc;
}

/* The labels file beside an IDX images file, Fashion-MNIST style. */
static char *
labels_path(const char *images)
{
	const char *base = strrchr(images, '/'), *p;
	char *out;

	base = base ? base + 1 : images;
	if ((p = strstr(base, "images-idx3")) == NULL)
		return NULL;
	if ((out = strdup(images)) == NULL)
		return NULL;
	memcpy(out + (p - images), "labels-idx1", 11);
	return out;
}

int
fl_data_load(struct fl_data *d, const char *path,
    const struct fl_data_opts *o, struct fl_error *err)
{
	static const struct fl_data_opts defaults;
	int is_stdin = strcmp(path, "-") == 0;
	const char *name = is_stdin ? "<stdin>" : path;
	FILE *fp, *lf = NULL;
	char *lpath = NULL;
	const char *lname = NULL;
	unsigned char head[4];
	size_t n = 0;
	int rc, lerrno = 0;
	struct stat st;

	memset(d, 0, sizeof(*d));
	if (o == NULL)
		o = &defaults;
	if (is_stdin)
		fp = stdin;
	else if ((fp = fopen(path, "rb")) == NULL)
		return fl_error_set(err, FL_EIO, "%s: %s", path,
		    strerror(errno));
	/* Only IDX needs the labels file: open it when the images say IDX
	 * (a gzip file is looked into by fl_data_read; try its name too). */
	/* Peeking needs a rewind: a pipe named by its path (/dev/fd/N,
	 * a FIFO) cannot go back, and is read as standard input is. */
	if (!is_stdin && fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode)) {
		n = fread(head, 1, sizeof(head), fp);
		rewind(fp);
		if ((n == 4 && is_idx_magic(head, 4)) || (n >= 2 &&
		    head[0] == 0x1f && head[1] == 0x8b)) {
			if (o->labels != NULL)
				lname = o->labels;
			else if ((lpath = labels_path(path)) != NULL)
				lname = lpath;
		}
	} else {
		lname = o->labels;
	}
	if (lname != NULL && (lf = fopen(lname, "rb")) == NULL) {
		lerrno = errno;
		if (o->labels != NULL || (n == 4 && is_idx_magic(head, 4))) {
			rc = fl_error_set(err, FL_EIO, "%s: %s", lname,
			    strerror(lerrno));
			goto out;
		}
	}
	rc = fl_data_read(d, fp, name, lf, lname, o, err);
	/* gzip: only now do we know that it held IDX images */
	if (rc < 0 && lf == NULL && lerrno != 0 && d->format == FL_DATA_IDX &&
	    d->n > 0)
		fl_error_set(err, FL_EIO, "%s: %s", lname, strerror(lerrno));
out:
	if (lf != NULL)
		fclose(lf);
	if (fp != stdin)
		fclose(fp);
	free(lpath);
	return rc;
}

void
fl_data_free(struct fl_data *d)
{
	if (d == NULL)
		return;
	free(d->x);
	free(d->y);
	if (d->names != NULL)
		for (uint64_t i = 0; i < d->dim; i++)
			free(d->names[i]);
	free(d->names);
	free(d->label_name);
	memset(d, 0, sizeof(*d));
}

/* Blocks of 16 with restrict pointers: vectorised at -O2 as well. */
static void
row_u8(uint64_t dim, const unsigned char *restrict x, float scale,
    float *restrict o)
{
	uint64_t j = 0;

	for (; j + 16 <= dim; j += 16)
		for (int u = 0; u < 16; u++)
			o[j + u] = (float)x[j + u] * scale;
	for (; j < dim; j++)
		o[j] = (float)x[j] * scale;
}

static void
row_f32(uint64_t dim, const float *restrict x, float scale,
    float *restrict o)
{
	uint64_t j = 0;

	for (; j + 16 <= dim; j += 16)
		for (int u = 0; u < 16; u++)
			o[j + u] = x[j + u] * scale;
	for (; j < dim; j++)
		o[j] = x[j] * scale;
}

static void
row_norm(uint64_t dim, float *restrict o, const float *restrict mean,
    const float *restrict invstd)
{
	uint64_t j = 0;

	for (; j + 16 <= dim; j += 16)
		for (int u = 0; u < 16; u++)
			o[j + u] = (o[j + u] - mean[j + u]) * invstd[j + u];
	for (; j < dim; j++)
		o[j] = (o[j] - mean[j]) * invstd[j];
}

void
fl_data_get(const struct fl_data *d, const struct fl_prep *p,
    const uint64_t *idx, uint64_t first, size_t m, float *out)
{
	const uint64_t dim = d->dim;
	const float scale = p ? p->scale : d->scale;

	for (size_t r = 0; r < m; r++) {
		uint64_t i = idx ? idx[r] : first + r;
		float *o = out + r * dim;

		if (d->xtype == FL_U8)
			row_u8(dim, (const unsigned char *)d->x + i * dim,
			    scale, o);
		else
			row_f32(dim, (const float *)d->x + i * dim, scale, o);
		if (p != NULL && p->mean != NULL)
			row_norm(dim, o, p->mean, p->invstd);
	}
}

int
fl_data_to_record(const struct fl_data *d, const uint64_t *idx, uint64_t m,
    struct fl_record *rec, struct fl_error *err)
{
	uint64_t dims[2];
	struct fl_tensor *t;
	size_t esz = d->xtype == FL_U8 ? 1 : sizeof(float);

	if (idx == NULL)
		m = d->n;
	dims[0] = m;
	dims[1] = d->dim;
	if (fl_meta_set(rec, "kind", "dataset", err) < 0)
		return -1;
	if ((t = fl_tensor_add(rec, "x", d->xtype, 2, dims, err)) == NULL)
		return -1;
	for (uint64_t r = 0; r < m; r++)
		memcpy((unsigned char *)t->data + r * d->dim * esz,
		    (const unsigned char *)d->x + (idx ? idx[r] : r) * d->dim *
		    esz, (size_t)(d->dim * esz));
	if ((t = fl_tensor_add(rec, "y", FL_I32, 1, dims, err)) == NULL)
		return -1;
	for (uint64_t r = 0; r < m; r++)
		((int32_t *)t->data)[r] = d->y[idx ? idx[r] : r];
	return 0;
}
