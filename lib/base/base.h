/* SPDX-License-Identifier: ISC */
/*
 * base/base.h - errors, strict numbers, aligned memory, CPU features, threads, checksums and sorting: what every other part uses.
 * Part of libfl (fl.h includes every part; see fl(7) for the layers).
 */
#ifndef FL_BASE_H
#define FL_BASE_H


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define FL_VERSION "0.1.0"

/* Alignment of payloads, tensors and the buffers that hold them. */
#define FL_ALIGN 64

/* Error classes, so callers can tell a damaged stream from a failed disk. */
enum fl_errcode {
	FL_OK = 0,
	FL_EIO,         /* a system call failed; errno text is in msg */
	FL_ETRUNC,      /* input ended inside a record */
	FL_EFORMAT,     /* input breaks a rule of the format */
	FL_ELIMIT,      /* input exceeds a cap (size, count, rank) */
	FL_ENOMEM,      /* allocation failed */
	FL_EINVAL       /* a caller's argument is invalid (bad key, number...) */
};

struct fl_error {
	enum fl_errcode code;
	char msg[256];
};

/* ---- errors ---- */

/* Fill err (if not NULL) with code and a printf-style message; returns -1. */
int fl_error_set(struct fl_error *err, enum fl_errcode code, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

/*
 * s (len bytes) made safe to quote in a one-line message: printable ASCII
 * kept, any other byte written \xNN, cut with "..." to fit buf (n bytes).
 * Returns buf.
 */
#define FL_QUOTE 96
const char *fl_escape(char *buf, size_t n, const char *s, size_t len);

/* ---- numbers ---- */

/*
 * Strict parsers in the C locale: the whole string must be a number in
 * [min, max] (and finite, for doubles).  Return 0, or -1 with err saying why
 * ("not a number", "must be at least 1", ...).
 */
int fl_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out,
    struct fl_error *err);
int fl_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out,
    struct fl_error *err);
int fl_parse_double(const char *s, double min, double max, double *out,
    struct fl_error *err);

/* Shortest text that reads back to exactly v (double or float). */
#define FL_NUMBUF 32
char *fl_format_double(char buf[FL_NUMBUF], double v);
char *fl_format_float(char buf[FL_NUMBUF], float v);
/* v as a JSON number: fl_format_double's text, null when not finite. */
void fl_json_number(FILE *fp, double v);

/* ---- parallel work (parallel.c) ---- */

/*
 * Run fn(ctx, i) for every i in [0, n) on up to nthreads threads (the
 * caller's included).  Items run in no fixed order; fn must make each
 * item's result independent of the others for deterministic output.
 */
typedef void (*fl_task_fn)(void *ctx, size_t index);
int fl_parallel_for(size_t n, int nthreads, fl_task_fn fn, void *ctx,
    struct fl_error *err);

/* ---- sorting (sort.c) ---- */

/* Client ids (and Shamir x-coordinates) in ascending order. */
void fl_sort_u32(uint32_t *v, size_t n);

#endif
