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
	size_t offset;          /* in the record's payload */
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

/*
 * The dtype an aggregate of dt tensors is written in: f32 for f16 and bf16
 * (a sum of f16 values soon passes 65504, and a mean of many carries more
 * precision than either holds), dt itself for the others.
 */
enum fl_dtype fl_agg_dtype(enum fl_dtype dt);

/* Append l's tensors, zero-filled, to rec (see fl_tensor_add) in the
 * dtypes of an aggregate (fl_agg_dtype): the aggregate's tensors. */
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
 * float tensors are summed in f64 (f16 and bf16 widened exactly), integer
 * tensors exactly in 64 bits, or modulo `modulus` (unsigned integer tensors
 * only; values must be below it).  fl_acc_add adds w * rec (w must be 1
 * for integer tensors) and fills scan (if not NULL) as fl_record_scan
 * would, in the same pass; after it fails the sums are unspecified.
 * fl_acc_result writes sum / div into the tensors of out, which must be
 * the accumulator's layout as fl_layout_add makes it (an aggregate's
 * dtypes), rounded to their dtype; it fails when a value does not fit the
 * dtype (div must be 1 for integer tensors).
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
 * Robust rules over n rows of len float values (dtype dt, FL_F32, FL_F64,
 * FL_F16 or FL_BF16): row i starts at rows[i] and is multiplied by
 * scale[i] (scale NULL: by 1).  Work goes in blocks of FL_AGG_BLOCK
 * coordinates, so that feeding a long row in pieces whose lengths are
 * multiples of FL_AGG_BLOCK gives bit-identical results.  All return 0, or
 * -1 (FL_ENOMEM, FL_EINVAL).
 *
 * fl_agg_coordinate writes len values of dtype fl_agg_dtype(dt) to out,
 * per coordinate:
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

/* ---- one aggregation's records (admit.c) ---- */

/*
 * The rules of fl-aggregate: the weighted (or unweighted) mean, the plain
 * or modular sum, and the robust ones.  fl_agg_rule_name gives "mean",
 * "sum", "median", "trimmed-mean" or "krum" (NULL for an invalid value);
 * fl_agg_rule_parse reads one back (0, or -1 if unknown).
 */
enum fl_agg_rule { FL_AGG_MEAN, FL_AGG_SUM, FL_AGG_MEDIAN, FL_AGG_TRIMMED,
	FL_AGG_KRUM };

const char *fl_agg_rule_name(enum fl_agg_rule rule);
int fl_agg_rule_parse(const char *s, enum fl_agg_rule *rule);

/*
 * What a server admits into one aggregation, and what the aggregate says
 * of its inputs.  fl_aggregation_init sets the rule and its choices:
 * unweighted (the mean counts each client once), denominator (the mean
 * divides the plain sum by this public number; NAN: by the weights),
 * norm_bound (> 0: updates are scaled down to this L2 norm; float tensors
 * only) and select (Krum's count, for the aggregate's name).
 *
 * fl_aggregation_admit checks record `recno` of `file` (names kept, for
 * the caller's messages): an update or, for the mean and the sum, a
 * partial aggregate of the same rule (a sum under a denominator); the
 * first record fixes the ring (modulus), the masking, the layout (in
 * g->acc for the mean and the sum, g->layout for the others) and what
 * must agree; each later one must be as masked as the first and agree
 * with it on arch, mask, modulus, q.* and secagg.*, all must be of one
 * round, and no client id may come twice.  fl_aggregation_weigh then
 * reads the record's weight (*weight: what the sum multiplies it by) and
 * client count, and checks its layout.  Both fail with err and
 * g->refusal saying what the failure is about: FL_AGG_NOT_REFUSED, not
 * the record (out of memory); FL_AGG_REFUSED, the record, err says why;
 * or a refusal that cites another record, for a caller that names it in
 * its own words: FL_AGG_MIXED (masked and plain: g->masked is the first
 * record's), FL_AGG_DISAGREE (g->key, valid until the next call),
 * FL_AGG_DUPLICATE (g->dup: the client's first record), FL_AGG_LAYOUT
 * (err is fl_layout_check's) and FL_AGG_INTEGER or FL_AGG_INTEGER_BOUND
 * (tensor g->tensor is an integer one, which the rule, or the norm
 * bound, does not take).  err's text calls the first record "the first
 * record".
 *
 * fl_aggregation_scale gives an admitted update's factor under the norm
 * bound (counting it in g->bounded when below 1); fl_aggregation_count
 * counts the update (its norm, weight and clients) and narrows the kept
 * metadata to what it agrees on.  A caller that drops an update counts
 * it in g->dropped.  fl_aggregation_label is the aggregate's name
 * ("multi-krum" for Krum selecting more than one), fl_aggregation_meta
 * puts the aggregate's metadata into out (kind=aggregate, agg, clients,
 * round, weight or agg.denominator, and the metadata every input agreed
 * on but client, weight and round), and fl_aggregation_norms gives the
 * smallest, median and largest norm of the updates (NAN without float
 * tensors or updates; reorders g->norms).
 */
enum fl_agg_refusal { FL_AGG_NOT_REFUSED, FL_AGG_REFUSED, FL_AGG_MIXED,
	FL_AGG_DISAGREE, FL_AGG_DUPLICATE, FL_AGG_LAYOUT, FL_AGG_INTEGER,
	FL_AGG_INTEGER_BOUND };

struct fl_agg_client {
	char *id;
	const char *file;
	unsigned long recno;
};

struct fl_aggregation {
	enum fl_agg_rule rule;
	int unweighted;
	double denominator;
	double norm_bound;
	uint64_t select;
	/* what the first record fixed */
	int started, masked, have_float;
	uint64_t modulus;               /* 0: none */
	const char *first_file;
	unsigned long first_recno;
	struct fl_acc acc;              /* the mean and the sum */
	struct fl_layout layout;        /* the robust rules */
	struct fl_record keep;          /* metadata every input agrees on */
	/* what the inputs add up to */
	int have_round, all_weighted;
	uint64_t round;
	double wsum;
	uint64_t records, clients, dropped, bounded;
	double *norms;
	size_t nnorms, normcap;
	struct fl_agg_client *seen;     /* open addressing on client ids */
	size_t seencap, nseen;
	/* the last failure */
	enum fl_agg_refusal refusal;
	const char *key;
	const struct fl_agg_client *dup;
	size_t tensor;
};

void fl_aggregation_init(struct fl_aggregation *g, enum fl_agg_rule rule,
    int unweighted, double denominator, double norm_bound, uint64_t select);
int fl_aggregation_admit(struct fl_aggregation *g, const struct fl_record *rec,
    const char *file, unsigned long recno, struct fl_error *err);
int fl_aggregation_weigh(struct fl_aggregation *g, const struct fl_record *rec,
    double *weight, uint64_t *clients, struct fl_error *err);
double fl_aggregation_scale(struct fl_aggregation *g, double l2);
int fl_aggregation_count(struct fl_aggregation *g, const struct fl_record *rec,
    double l2, double weight, uint64_t clients, struct fl_error *err);
const char *fl_aggregation_label(const struct fl_aggregation *g);
int fl_aggregation_meta(const struct fl_aggregation *g, struct fl_record *out,
    struct fl_error *err);
void fl_aggregation_norms(struct fl_aggregation *g, double *lo, double *mid,
    double *hi);
void fl_aggregation_free(struct fl_aggregation *g);

/* ---- robust aggregation in a memory budget (robust.c) ---- */

/*
 * The robust rules over whole updates: they need every update at once, so
 * the payloads are held while they fit a budget of `memory` bytes and,
 * beyond it, dropped and re-read from their files in chunks of coordinates
 * (cut at multiples of FL_AGG_BLOCK inside a tensor: the same bits
 * whatever the budget).
 *
 * fl_robust_init readies r for nfiles input files, the budget and the
 * reader limits for re-reading compressed records (NULL: defaults); the
 * caller frees it with fl_robust_free.  Fails only for memory.
 *
 * fl_robust_file notes input file i the first time it is read (later
 * calls do nothing): path is where to open it again, fd its open
 * descriptor, whose identity (device, inode, size, modification time) a
 * re-read must find again.  Only a regular file can be re-read; fd < 0
 * (standard input) never can.  r keeps the path pointer.
 *
 * fl_robust_hold takes an update: record `recno` of file `file`,
 * starting at byte `offset`, each value multiplied by scale.  Its payload
 * is copied while the budget holds; past it every held payload is
 * dropped.  Fails (FL_ELIMIT, r->fail_file the file at fault) when the
 * updates must be re-read and one of them is in a file that cannot be,
 * or (FL_ENOMEM) for memory.
 *
 * fl_robust_run writes into out (with layout's tensors, which every
 * update has: fl_layout_add) the rule's result, FL_AGG_MEDIAN,
 * FL_AGG_TRIMMED (the mean after cutting floor(trim n) values at each
 * end) or FL_AGG_KRUM (the mean of the `select` updates Krum scores best
 * with f Byzantine ones: fl_agg_krum; *rejected = n - select, else 0).
 * The caller checks the parameters against the count of updates first
 * (2 floor(trim n) < n; n >= 2f + 3 and 1 <= select <= n - f).  A failure
 * to re-read a file sets r->fail_file (else -1), err saying why: the
 * system's error text, "changed while being aggregated" or "record N:
 * changed while being aggregated".  A budget too small for one block of
 * every update fails with FL_ELIMIT, "--memory M is too small for N
 * updates: give at least B" (fl-aggregate's option).
 */
struct fl_robust_item {
	size_t file;
	unsigned long recno;
	uint64_t offset;                /* of the record in its file */
	uint32_t hlen;
	int zlib;
	double scale;
	unsigned char *raw;             /* the payload, while it fits */
};

struct fl_robust_file {
	const char *path;
	int seen, rereadable;
	uint64_t dev, ino;
	int64_t size, mtime_sec, mtime_nsec;
};

struct fl_robust {
	const struct fl_layout *layout; /* fl_robust_run's */
	uint64_t memory;
	struct fl_limits limits;
	struct fl_robust_file *files;
	size_t nfiles;
	struct fl_robust_item *items;
	size_t n, cap;
	uint64_t held;                  /* bytes of payloads held */
	int chunked;                    /* re-read in chunks */
	int fail_file;                  /* the file a failure is about, or -1 */
};

int fl_robust_init(struct fl_robust *r, size_t nfiles, uint64_t memory,
    const struct fl_limits *limits, struct fl_error *err);
void fl_robust_file(struct fl_robust *r, size_t i, const char *path, int fd);
int fl_robust_hold(struct fl_robust *r, const struct fl_record *rec,
    size_t file, unsigned long recno, uint64_t offset, double scale,
    struct fl_error *err);
int fl_robust_run(struct fl_robust *r, const struct fl_layout *layout,
    enum fl_agg_rule rule, double trim, uint64_t f, uint64_t select,
    struct fl_record *out, uint64_t *rejected, struct fl_error *err);
void fl_robust_free(struct fl_robust *r);

#endif
