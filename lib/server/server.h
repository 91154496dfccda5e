/* SPDX-License-Identifier: ISC */
/*
 * server/server.h - the server's arithmetic: streaming and robust aggregation, server optimizers.
 * Part of libfl (fl.h includes every part; see fl(7) for the layers).
 */
#ifndef FL_SERVER_H
#define FL_SERVER_H

#include "base/base.h"
#include "format/format.h"

/* ---- aggregation (agg.c) ---- */

/*
 * The layout of a record: its tensors' names, dtypes and shapes in payload
 * order, without values.  An aggregation takes the first record's layout,
 * checks every other record against it and builds its output from it.
 */
struct fl_layout_tensor {
	char *name;
	enum fl_dtype dtype;
	int rank;
	uint64_t dims[FL_MAX_RANK];
	uint64_t numel;
};

struct fl_layout {
	struct fl_layout_tensor *t;
	size_t n;
};

/* Copy rec's layout into l (which the caller frees with fl_layout_free). */
int fl_layout_init(struct fl_layout *l, const struct fl_record *rec,
    struct fl_error *err);

/* 0 if rec has exactly layout l, else -1 (FL_EINVAL) with err naming the
 * first difference, e.g. "tensor 'w' is f32 [3], the first record has
 * f32 [2,2]". */
int fl_layout_check(const struct fl_layout *l, const struct fl_record *rec,
    struct fl_error *err);

/* Append l's tensors, zero-filled, to rec (see fl_tensor_add). */
int fl_layout_add(const struct fl_layout *l, struct fl_record *rec,
    struct fl_error *err);

void fl_layout_free(struct fl_layout *l);

/*
 * A record's float tensors seen as one vector: its L2 norm (overflow-safe;
 * NaN or infinite when a value is) and the number of NaN and infinite
 * values, with the index of the first tensor holding one.  Integer tensors
 * are not counted.
 */
struct fl_scan {
	double l2;
	uint64_t nonfinite;
	size_t bad_tensor;
};

void fl_record_scan(const struct fl_record *rec, struct fl_scan *s);

/*
 * Streaming sums in O(one model) memory, whatever the number of records:
 * float tensors are summed in f64, integer tensors exactly in 64 bits, or
 * modulo `modulus` (unsigned integer tensors only; values must be below
 * it).  fl_acc_add adds w * rec (w must be 1 for integer tensors) and fills
 * scan (if not NULL) as fl_record_scan would, in the same pass; after it
 * fails the sums are unspecified.  fl_acc_result writes sum / div into the
 * tensors of out, which must have the accumulator's layout (fl_layout_add),
 * rounded to their dtype; it fails when a value does not fit the dtype
 * (div must be 1 for integer tensors).
 */
struct fl_acc {
	struct fl_layout layout;
	size_t *off;            /* per tensor: where its sums start in block
	                         * (double, int64_t or uint64_t, 64-aligned) */
	uint64_t modulus;       /* 0: plain sums */
	/* The sums, in one block that grows with the payload bytes that
	 * arrive (doubling, up to total), and is zeroed as they arrive: a
	 * header that claims a size allocates nothing for it, so memory
	 * follows the data actually read. */
	unsigned char *block;
	size_t blocksize;       /* allocated */
	size_t total;           /* the whole layout's sums */
	uint64_t *zeroed;       /* per tensor: how many of its sums are set */
};

int fl_acc_init(struct fl_acc *a, const struct fl_record *first,
    uint64_t modulus, struct fl_error *err);
int fl_acc_add(struct fl_acc *a, const struct fl_record *rec, double w,
    struct fl_scan *scan, struct fl_error *err);
int fl_acc_result(const struct fl_acc *a, struct fl_record *out, double div,
    struct fl_error *err);
void fl_acc_free(struct fl_acc *a);

/*
 * The same sums fed by fl_record_read_stream: fl_acc_add_piece adds the
 * payload bytes [offset, offset + len) of rec (header only, as the stream
 * gives it; the caller checks its layout once with fl_layout_check) and
 * folds them into scan, which the caller zeroes before the first piece.
 * fl_acc_take_result writes sum / div as fl_acc_result would, but into the
 * sums' own memory, which it hands to out (a record without tensors): no
 * second model-sized buffer.  It consumes the sums; free a as usual.
 */
int fl_acc_add_piece(struct fl_acc *a, const struct fl_record *rec,
    size_t offset, const unsigned char *p, size_t len, double w,
    struct fl_scan *scan, struct fl_error *err);
int fl_acc_take_result(struct fl_acc *a, struct fl_record *out, double div,
    struct fl_error *err);

/*
 * Robust rules over n rows of len float values (dtype dt, FL_F32 or
 * FL_F64): row i starts at rows[i] and is multiplied by scale[i] (scale
 * NULL: by 1).  Work goes in blocks of FL_AGG_BLOCK coordinates, so that
 * feeding a long row in pieces whose lengths are multiples of FL_AGG_BLOCK
 * gives bit-identical results.  All return 0, or -1 (FL_ENOMEM, FL_EINVAL).
 *
 * fl_agg_coordinate writes len values of dtype dt to out, per coordinate:
 * FL_COORD_MEAN the mean of the n values; FL_COORD_MEDIAN their median
 * (the mean of the two middle values when n is even); FL_COORD_TRIMMED the
 * mean of the values left after cutting the `trim` smallest and the `trim`
 * largest (2 * trim < n).
 *
 * fl_agg_sqdist adds to d2[i * n + j] (i < j) the squared Euclidean
 * distance between rows i and j, for Krum.
 */
#define FL_AGG_BLOCK 256

enum fl_coord { FL_COORD_MEAN, FL_COORD_MEDIAN, FL_COORD_TRIMMED };

int fl_agg_coordinate(enum fl_coord rule, size_t trim,
    const void *const *rows, const double *scale, size_t n, size_t len,
    enum fl_dtype dt, void *out, struct fl_error *err);
int fl_agg_sqdist(const void *const *rows, const double *scale, size_t n,
    size_t len, enum fl_dtype dt, double *d2, struct fl_error *err);

/*
 * Krum (Blanchard et al. 2017) from the squared distances d2 (upper
 * triangle, as fl_agg_sqdist fills it): the score of update i is the sum
 * of its squared distances to its n - f - 2 nearest other updates.  Writes
 * the indices of the m best-scored updates, ascending, to selected (ties go
 * to the earlier update) and, if score is not NULL, the n scores.  Needs
 * n >= 2f + 3 and 1 <= m <= n - f.
 */
int fl_agg_krum(const double *d2, size_t n, size_t f, size_t m,
    size_t *selected, double *score, struct fl_error *err);

/* The median of v[0..n), n > 0 (the mean of the middle two for even n);
 * reorders v. */
double fl_agg_median(double *v, size_t n);

/* ---- server optimizers (optim.c) ---- */

/*
 * One server step on a float tensor x from the aggregate update d (same
 * numel, any float dtypes), Reddi et al. 2021 "Adaptive Federated
 * Optimization", computed in f64 and stored in x's dtype:
 *
 *   sgd      x += lr d
 *   avgm     m = momentum m + d; x += lr m                 (Hsu et al. 2019)
 *   adagrad  m = b1 m + (1-b1) d; v = v + d^2;             x += lr m / (sqrt(v) + tau)
 *   adam     m = b1 m + (1-b1) d; v = b2 v + (1-b2) d^2;   x += ...
 *   yogi     m = b1 m + (1-b1) d; v = v - (1-b2) d^2 sign(v - d^2); x += ...
 *
 * m and v are state tensors of x's numel and a float dtype (NULL when the
 * optimizer keeps fewer; fl_opt_nstate says how many).  A new state starts
 * at m = 0 and v = tau^2 (fl_opt_state_init).  Fails (FL_EINVAL) when a
 * result is not finite, leaving x partly updated.
 */
enum fl_opt_kind { FL_OPT_SGD, FL_OPT_AVGM, FL_OPT_ADAGRAD, FL_OPT_ADAM,
	FL_OPT_YOGI };

struct fl_opt {
	enum fl_opt_kind kind;
	double lr, momentum, beta1, beta2, tau;
};

/* "sgd", "avgm", ...; NULL for an invalid value. */
const char *fl_opt_name(enum fl_opt_kind k);
/* Parse a name; 0, or -1 if unknown. */
int fl_opt_parse(const char *s, enum fl_opt_kind *k);
/* State tensors per model tensor: 0 (sgd), 1 (avgm: m), 2 (m and v). */
int fl_opt_nstate(enum fl_opt_kind k);
/* The starting value of state tensor i (0: m, 1: v). */
double fl_opt_state_init(const struct fl_opt *o, int i);
int fl_opt_step(const struct fl_opt *o, struct fl_tensor *x,
    const struct fl_tensor *d, struct fl_tensor *m, struct fl_tensor *v,
    struct fl_error *err);

#endif
