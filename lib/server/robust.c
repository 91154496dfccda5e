/* SPDX-License-Identifier: ISC */
/*
 * The robust rules over whole updates in a memory budget: coordinate-wise
 * median, trimmed mean and (multi-)Krum.  They need every update at once,
 * so the updates' payloads are held while they fit the budget; beyond it
 * they are dropped and re-read from their files in chunks of coordinates
 * (pread for stored payloads, the whole record for compressed ones).  A
 * chunk that stops inside a tensor stops at a multiple of FL_AGG_BLOCK, so
 * the kernels of agg.c see the same blocks as on whole tensors and the
 * result is the same bits whatever the budget.  A file that changed since
 * it was first read is an error.  Out of fl-aggregate, where it was the
 * program's second pass.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/internal.h"
#include "server/server.h"

struct piece {
	size_t tensor;
	uint64_t start, len;
	size_t bufoff;          /* bytes into each item's chunk buffer */
};

int
fl_robust_init(struct fl_robust *r, size_t nfiles, uint64_t memory,
    const struct fl_limits *limits, struct fl_error *err)
{
	memset(r, 0, sizeof(*r));
	r->memory = memory;
	r->limits.max_payload = FL_DEFAULT_MAX_PAYLOAD;
	if (limits != NULL)
		r->limits = *limits;
	r->fail_file = -1;
	r->nfiles = nfiles;
	r->files = calloc(nfiles ? nfiles : 1, sizeof(*r->files));
	if (r->files == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	return 0;
}

void
fl_robust_file(struct fl_robust *r, size_t i, const char *path, int fd)
{
	struct fl_robust_file *f = &r->files[i];
	struct stat st;

	if (f->seen)
		return;
	f->seen = 1;
	f->path = path;
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		f->rereadable = 1;
		f->dev = (uint64_t)st.st_dev;
		f->ino = (uint64_t)st.st_ino;
		f->size = (int64_t)st.st_size;
		f->mtime_sec = (int64_t)st.st_mtim.tv_sec;
		f->mtime_nsec = (int64_t)st.st_mtim.tv_nsec;
	}
}

/* Drop the held payloads: from now on, every update is re-read. */
static int
go_chunked(struct fl_robust *r, struct fl_error *err)
{
	for (size_t i = 0; i < r->n; i++) {
		if (!r->files[r->items[i].file].rereadable) {
			r->fail_file = (int)r->items[i].file;
			return fl_error_set(err, FL_ELIMIT, "the updates need "
			    "more than %llu bytes and an input cannot be "
			    "re-read in chunks",
			    (unsigned long long)r->memory);
		}
		free(r->items[i].raw);
		r->items[i].raw = NULL;
	}
	r->chunked = 1;
	r->held = 0;
	return 0;
}

int
fl_robust_hold(struct fl_robust *r, const struct fl_record *rec, size_t file,
    unsigned long recno, uint64_t offset, double scale, struct fl_error *err)
{
	struct fl_robust_item *it;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		void *p = cap > SIZE_MAX / sizeof(*r->items) ? NULL :
		    realloc(r->items, cap * sizeof(*r->items));

		if (p == NULL)
			return fl_error_set(err, FL_ENOMEM, "out of memory");
		r->items = p;
		r->cap = cap;
	}
	it = &r->items[r->n++];
	memset(it, 0, sizeof(*it));
	it->file = file;
	it->recno = recno;
	it->offset = offset;
	it->hlen = rec->pre.hlen;
	it->zlib = (rec->pre.flags & FL_FLAG_ZLIB) != 0;
	it->scale = scale;
	if (!r->chunked && r->held + rec->rawlen > r->memory &&
	    go_chunked(r, err) < 0)
		return -1;
	if (r->chunked) {
		if (!r->files[it->file].rereadable)
			return go_chunked(r, err);      /* fails naming it */
		return 0;
	}
	if ((it->raw = malloc(rec->rawlen ? rec->rawlen : 1)) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	memcpy(it->raw, rec->raw, rec->rawlen);
	r->held += rec->rawlen;
	return 0;
}

void
fl_robust_free(struct fl_robust *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->items[i].raw);
	free(r->items);
	free(r->files);
	memset(r, 0, sizeof(*r));
	r->fail_file = -1;
}

/* The next chunk of at most cap coordinates from (*t, *pos) on.  A piece
 * that stops inside its tensor stops at a multiple of FL_AGG_BLOCK, so that
 * the kernels see the same blocks as on the whole tensor. */
static size_t
plan_chunk(const struct fl_layout *l, size_t *t, uint64_t *pos, uint64_t cap,
    struct piece *pieces, size_t *bytes)
{
	size_t np = 0;
	uint64_t used = 0;

	*bytes = 0;
	while (*t < l->n && used < cap) {
		const struct fl_layout_tensor *lt = &l->t[*t];
		uint64_t len = lt->numel - *pos;

		if (len > cap - used) {
			len = (cap - used) / FL_AGG_BLOCK * FL_AGG_BLOCK;
			if (len == 0)
				break;
		}
		if (len > 0) {
			pieces[np].tensor = *t;
			pieces[np].start = *pos;
			pieces[np].len = len;
			pieces[np].bufoff = *bytes;
			*bytes += len * fl_dtype_size(lt->dtype);
			np++;
		}
		used += len;
		*pos += len;
		if (*pos == lt->numel) {
			(*t)++;
			*pos = 0;
		}
	}
	return np;
}

static int
read_fully(int fd, void *buf, size_t n, uint64_t off, struct fl_error *err)
{
	unsigned char *p = buf;

	while (n > 0) {
		ssize_t r = pread(fd, p, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return fl_error_set(err, FL_EIO, "%s", strerror(errno));
		if (r == 0)
			return fl_error_set(err, FL_EFORMAT, "changed while "
			    "being aggregated");
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/*
 * Fill each listed item's chunk buffer (stride bytes apart in buf) with the
 * pieces, re-reading the files: pread for stored payloads, a whole record
 * for compressed ones.  A file that changed since pass 1 is an error.
 */
static int
read_chunk(struct fl_robust *r, const size_t *which, size_t nwhich,
    const struct piece *pieces, size_t np, unsigned char *buf, size_t stride,
    struct fl_record *tmp, struct fl_error *err)
{
	FILE *fp = NULL;
	size_t cur = 0;
	int rc = -1;

	for (size_t w = 0; w < nwhich; w++) {
		const struct fl_robust_item *it = &r->items[which[w]];
		unsigned char *dst = buf + w * stride;

		r->fail_file = (int)it->file;
		if (fp == NULL || it->file != cur) {
			const struct fl_robust_file *f = &r->files[it->file];
			struct stat st;

			if (fp != NULL)
				fclose(fp);
			if ((fp = fopen(f->path, "rb")) == NULL) {
				fl_error_set(err, FL_EIO, "%s", strerror(errno));
				goto out;
			}
			if (fstat(fileno(fp), &st) < 0 ||
			    (uint64_t)st.st_dev != f->dev ||
			    (uint64_t)st.st_ino != f->ino ||
			    (int64_t)st.st_size != f->size ||
			    (int64_t)st.st_mtim.tv_sec != f->mtime_sec ||
			    (int64_t)st.st_mtim.tv_nsec != f->mtime_nsec) {
				fl_error_set(err, FL_EFORMAT, "changed while "
				    "being aggregated");
				goto out;
			}
			cur = it->file;
		}
		if (!it->zlib) {
			uint64_t base = it->offset + FL_PREAMBLE_SIZE + it->hlen;

			for (size_t p = 0; p < np; p++) {
				const struct fl_layout_tensor *t =
				    &r->layout->t[pieces[p].tensor];
				size_t es = fl_dtype_size(t->dtype);

				if (read_fully(fileno(fp), dst + pieces[p].bufoff,
				    pieces[p].len * es, base + t->offset +
				    pieces[p].start * es, err) < 0)
					goto out;
				if (FL_HOST_BIG_ENDIAN) /* the file's LE */
					fl_swap_elements(dst + pieces[p].bufoff,
					    pieces[p].len * es, es);
			}
			continue;
		}
		if (fseeko(fp, (off_t)it->offset, SEEK_SET) < 0) {
			fl_error_set(err, FL_EIO, "%s", strerror(errno));
			goto out;
		}
		if (fl_record_read(tmp, fp, &r->limits, err) != 1 ||
		    fl_layout_check(r->layout, tmp, err) < 0) {
			fl_error_set(err, FL_EFORMAT, "record %lu: changed while "
			    "being aggregated", it->recno);
			goto out;
		}
		for (size_t p = 0; p < np; p++) {
			const struct fl_tensor *t =
			    &tmp->tensors[pieces[p].tensor];
			size_t es = fl_dtype_size(t->dtype);

			memcpy(dst + pieces[p].bufoff, (unsigned char *)
			    t->data + pieces[p].start * es,
			    pieces[p].len * es);
		}
	}
	r->fail_file = -1;
	rc = 0;
out:
	if (fp != NULL)
		fclose(fp);
	return rc;
}

/* The kernel for one piece: coordinate rules write out; Krum's first pass
 * adds distances into d2, its second averages the selected rows. */
static int
run_piece(const struct fl_layout *r_layout, enum fl_agg_rule rule,
    double trim, int krum_pass, const void **rows, const double *scale,
    size_t n, const struct piece *pc, struct fl_record *out, double *d2,
    struct fl_error *err)
{
	/* The rows are of the inputs' dtype, the output of the
	 * aggregate's (f32 for f16 and bf16). */
	enum fl_dtype dt = r_layout->t[pc->tensor].dtype;
	struct fl_tensor *t = &out->tensors[pc->tensor];
	size_t es = fl_dtype_size(t->dtype);
	void *dst = (unsigned char *)t->data + pc->start * es;

	if (rule == FL_AGG_KRUM && krum_pass == 1)
		return fl_agg_sqdist(rows, scale, n, pc->len, dt, d2, err);
	else if (rule == FL_AGG_MEDIAN)
		return fl_agg_coordinate(FL_COORD_MEDIAN, 0, rows, scale, n,
		    pc->len, dt, dst, err);
	else if (rule == FL_AGG_TRIMMED)
		return fl_agg_coordinate(FL_COORD_TRIMMED,
		    (size_t)floor(trim * (double)n), rows, scale, n, pc->len,
		    dt, dst, err);
	else
		return fl_agg_coordinate(FL_COORD_MEAN, 0, rows, scale, n,
		    pc->len, dt, dst, err);
}

/* One pass of a robust rule over the items listed in which. */
static int
robust_pass(struct fl_robust *r, enum fl_agg_rule rule, double trim,
    int krum_pass, const size_t *which, size_t n, struct fl_record *out,
    double *d2, struct fl_error *err)
{
	const void **rows = malloc(n ? n * sizeof(*rows) : 1);
	double *scale = malloc(n ? n * sizeof(*scale) : 1);
	struct piece *pieces = NULL;
	unsigned char *buf = NULL;
	struct fl_record tmp;
	int rc = -1;

	fl_record_init(&tmp);
	if (rows == NULL || scale == NULL) {
		fl_error_set(err, FL_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t w = 0; w < n; w++)
		scale[w] = r->items[which[w]].scale;
	if (!r->chunked) {
		for (size_t t = 0; t < out->ntensors; t++) {
			struct piece pc = { t, 0, out->tensors[t].numel, 0 };

			for (size_t w = 0; w < n; w++)
				rows[w] = r->items[which[w]].raw +
				    r->layout->t[t].offset;
			if (run_piece(r->layout, rule, trim, krum_pass, rows,
			    scale, n, &pc, out, d2, err) < 0)
				goto out;
		}
	} else {
		uint64_t cap = r->memory / ((uint64_t)r->n * 8);
		size_t t = 0, np, bytes;
		uint64_t pos = 0;

		cap = cap / FL_AGG_BLOCK * FL_AGG_BLOCK;
		if (cap == 0) {
			fl_error_set(err, FL_ELIMIT, "--memory %llu is too small "
			    "for %zu updates: give at least %llu",
			    (unsigned long long)r->memory, r->n,
			    (unsigned long long)r->n * 8 * FL_AGG_BLOCK);
			goto out;
		}
		pieces = malloc((out->ntensors + 1) * sizeof(*pieces));
		buf = malloc(n ? (size_t)cap * 8 * n : 1);
		if (pieces == NULL || buf == NULL) {
			fl_error_set(err, FL_ENOMEM, "out of memory");
			goto out;
		}
		while ((np = plan_chunk(r->layout, &t, &pos, cap, pieces,
		    &bytes)) > 0) {
			if (read_chunk(r, which, n, pieces, np, buf, bytes, &tmp,
			    err) < 0)
				goto out;
			for (size_t p = 0; p < np; p++) {
				for (size_t w = 0; w < n; w++)
					rows[w] = buf + w * bytes +
					    pieces[p].bufoff;
				if (run_piece(r->layout, rule, trim, krum_pass,
				    rows, scale, n, &pieces[p], out, d2,
				    err) < 0)
					goto out;
			}
		}
	}
	rc = 0;
out:
	fl_record_free(&tmp);
	free(buf);
	free(pieces);
	free(rows);
	free(scale);
	return rc;
}

int
fl_robust_run(struct fl_robust *r, const struct fl_layout *layout,
    enum fl_agg_rule rule, double trim, uint64_t f, uint64_t select,
    struct fl_record *out, uint64_t *rejected, struct fl_error *err)
{
	size_t n = r->n, *which = malloc(n ? n * sizeof(*which) : 1);
	double *d2 = NULL;
	size_t *sel = NULL;
	int rc = -1;

	r->layout = layout;
	r->fail_file = -1;
	*rejected = 0;
	if (which == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		which[i] = i;
	if (rule != FL_AGG_KRUM) {
		rc = robust_pass(r, rule, trim, 0, which, n, out, NULL, err);
		goto out;
	}
	if (n > SIZE_MAX / sizeof(double) / n) {
		fl_error_set(err, FL_ENOMEM, "out of memory");
		goto out;
	}
	d2 = malloc(n * n * sizeof(*d2));
	sel = malloc(n * sizeof(*sel));
	if (d2 == NULL || sel == NULL) {
		fl_error_set(err, FL_ENOMEM, "out of memory");
		goto out;
	}
	memset(d2, 0, n * n * sizeof(*d2));
	if (robust_pass(r, rule, trim, 1, which, n, out, d2, err) < 0 ||
	    fl_agg_krum(d2, n, f, select, sel, NULL, err) < 0 ||
	    robust_pass(r, rule, trim, 2, sel, select, out, NULL, err) < 0)
		goto out;
	*rejected = n - select;
	rc = 0;
out:
	free(sel);
	free(d2);
	free(which);
	return rc;
}
