/* SPDX-License-Identifier: ISC */
/*
 * fl.h - libfl, the library under the fltools programs.
 *
 * libfl reads and writes FLT v1 records (see flt(5)), holds their metadata
 * and tensors in memory, parses numbers strictly and writes files
 * atomically.  It never prints and never exits: every function that can fail
 * returns 0 on success and -1 on failure (readers: 1 record, 0 clean end,
 * -1 failure) and, when given one, fills a struct fl_error with a one-line,
 * lower-case message that a program prefixes with its name and the file.
 *
 * Ownership: the creator frees.  A struct fl_record owns its metadata,
 * tensor table and payload; tensor data pointers point into the payload.
 */
#ifndef FL_H
#define FL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define FL_VERSION "0.1.0"

/* The record format (flt(5)).  Caps are checked before any allocation. */
#define FL_MAGIC "\x89" "FLT\r\n\x1a\n"
#define FL_FORMAT_VERSION 1
#define FL_PREAMBLE_SIZE 32
#define FL_ALIGN 64
#define FL_FLAG_ZLIB 0x01u
#define FL_MAX_HEADER (1u << 20)        /* header bytes */
#define FL_MAX_KEY 64                   /* metadata key bytes */
#define FL_MAX_VALUE 4096               /* metadata value bytes */
#define FL_MAX_NAME 255                 /* tensor name bytes */
#define FL_MAX_META 1024                /* metadata entries per record */
#define FL_MAX_TENSORS 65536            /* tensors per record */
#define FL_MAX_RANK 8                   /* dimensions per tensor */
#define FL_DEFAULT_MAX_PAYLOAD (UINT64_C(4) << 30) /* raw payload bytes */

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

enum fl_dtype {
	FL_F32, FL_F64, FL_I8, FL_U8, FL_I16, FL_U16, FL_I32, FL_U32,
	FL_I64, FL_U64,
	FL_DTYPE_COUNT
};

struct fl_meta {
	char *key;
	char *value;
};

/*
 * A tensor: C order, little-endian elements at data.  data points into the
 * owning record's payload, at the 64-aligned byte offset `offset`.
 */
struct fl_tensor {
	char *name;
	enum fl_dtype dtype;
	int rank;
	uint64_t dims[FL_MAX_RANK];
	uint64_t numel;         /* product of dims; 1 for a scalar */
	size_t offset;          /* byte offset into the raw payload */
	size_t nbytes;          /* numel * element size */
	void *data;
};

/* The 32-byte preamble of the record last read into a struct fl_record. */
struct fl_preamble {
	unsigned version;
	unsigned flags;
	uint32_t hlen;
	uint64_t plen;
	uint32_t pcrc;
	uint32_t hcrc;
};

/*
 * A record.  Zero-initialise it (or fl_record_init) before first use and
 * release it with fl_record_free.  meta is kept sorted by key bytewise; the
 * tensors are in payload order.  raw holds rawlen payload bytes, 64-aligned,
 * with every byte that no tensor covers equal to zero.
 */
struct fl_record {
	struct fl_meta *meta;
	size_t nmeta;
	struct fl_tensor *tensors;
	size_t ntensors;
	unsigned char *raw;
	size_t rawlen;
	struct fl_preamble pre;  /* filled by fl_record_read */
	uint64_t size;           /* bytes the record took in the stream */

	/* private: capacities and scratch buffers kept for reuse */
	size_t metacap, tensorcap, rawcap;
	char *hbuf;
	size_t hcap;
	unsigned char *zbuf;
	size_t zcap;
};

/* Reader limits.  A NULL pointer means the defaults. */
struct fl_limits {
	uint64_t max_payload;   /* raw (decompressed) payload bytes */
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

/* ---- dtypes ---- */

/* "f32", "u32", ...; NULL for an invalid value. */
const char *fl_dtype_name(enum fl_dtype dt);

/* Element size in bytes; 0 for an invalid value. */
size_t fl_dtype_size(enum fl_dtype dt);

/* Parse a dtype name of len bytes.  Returns 0, or -1 if unknown. */
int fl_dtype_parse(const char *s, size_t len, enum fl_dtype *out);

/* 1 for f32/f64, 0 for the integer types. */
int fl_dtype_is_float(enum fl_dtype dt);

/* 1 for the signed integer types, 0 otherwise. */
int fl_dtype_is_signed_int(enum fl_dtype dt);

/* ---- records ---- */

void fl_record_init(struct fl_record *rec);

/* Free everything rec owns and leave it as after fl_record_init.
 * Accepts NULL. */
void fl_record_free(struct fl_record *rec);

/* fl_record_free for a record that held secrets: the payload and the
 * buffers that held it are overwritten with zeros before they are freed. */
void fl_record_wipe(struct fl_record *rec);

/* Drop metadata and tensors but keep the buffers for the next record. */
void fl_record_clear(struct fl_record *rec);

/*
 * Read the next record of the stream fp into rec (which is cleared first;
 * its buffers are reused).  Every rule of flt(5) is checked: sizes and caps
 * before allocation, the header CRC before anything payload-sized, the
 * payload CRC before inflating, zlib output of exactly the expected length,
 * and zero padding.  lim may be NULL for the defaults.
 *
 * Returns 1 when a record was read, 0 at a clean end of stream (EOF exactly
 * at a record boundary), -1 on failure with err filled (FL_ETRUNC for a
 * stream that ends inside a record; bad magic names gzip, zstd, .npy and
 * safetensors input when it recognises them).  After -1 the stream position
 * is unspecified; rec is left empty but valid.
 */
int fl_record_read(struct fl_record *rec, FILE *fp,
    const struct fl_limits *lim, struct fl_error *err);

/*
 * Read the next record without holding its payload: after the header is
 * read and checked, head(ctx, rec) sees rec's metadata and tensor table
 * (tensor data pointers are NULL, rawlen is set) and may fail to stop;
 * then piece(ctx, rec, offset, bytes, len) gets the raw payload in order,
 * in pieces whose offsets and lengths are multiples of 64 (but for the
 * end), so no element is split.  Every check of fl_record_read is made,
 * but the payload CRC and the zlib stream's end are known only after the
 * last piece: a failure then means the pieces held bad data, and the
 * caller must discard what it made of them.  Returns as fl_record_read;
 * the memory used is a few pieces, whatever the record's size.
 */
struct fl_stream {
	int (*head)(void *ctx, struct fl_record *rec, struct fl_error *err);
	int (*piece)(void *ctx, const struct fl_record *rec, size_t offset,
	    const unsigned char *p, size_t len, struct fl_error *err);
	void *ctx;
};

int fl_record_read_stream(struct fl_record *rec, FILE *fp,
    const struct fl_limits *lim, const struct fl_stream *fs,
    struct fl_error *err);

/*
 * Parse one whole record held in memory (buf, len bytes; len must be the
 * exact record size).  Same checks and results as fl_record_read.
 */
int fl_record_parse(struct fl_record *rec, const void *buf, size_t len,
    const struct fl_limits *lim, struct fl_error *err);

/*
 * Write rec to fp.  zlevel 0 stores the payload as is; 1-9 compresses it
 * with zlib at that level (flag bit 0).  Output is a deterministic function
 * of rec and zlevel.  Returns 0, or -1 with err filled (FL_EIO: errno set).
 */
int fl_record_write(FILE *fp, const struct fl_record *rec, int zlevel,
    struct fl_error *err);

/* ---- metadata ---- */

/* Value of key, or NULL.  The pointer is valid until the key changes. */
const char *fl_meta_get(const struct fl_record *rec, const char *key);

/*
 * Set key to value (copied), keeping the keys sorted.  key must match
 * [a-z0-9][a-z0-9._-]{0,63} and not be "tensor"; value must be valid UTF-8
 * of at most 4096 bytes without control characters or leading or trailing
 * spaces.  Returns 0, or -1 (FL_EINVAL, FL_ELIMIT, FL_ENOMEM).
 */
int fl_meta_set(struct fl_record *rec, const char *key, const char *value,
    struct fl_error *err);

/* fl_meta_set with a printf-formatted value. */
int fl_meta_setf(struct fl_record *rec, struct fl_error *err, const char *key,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Remove key if present.  Returns 1 if removed, 0 if absent. */
int fl_meta_del(struct fl_record *rec, const char *key);

/* Copy every metadata entry of src into dst (overwriting equal keys). */
int fl_meta_copy(struct fl_record *dst, const struct fl_record *src,
    struct fl_error *err);

/* Validation alone: 0 if valid, else -1 with err naming the problem. */
int fl_meta_check_key(const char *key, size_t len, struct fl_error *err);
int fl_meta_check_value(const char *value, size_t len, struct fl_error *err);

/* ---- tensors ---- */

/* The tensor called name, or NULL. */
struct fl_tensor *fl_tensor_find(const struct fl_record *rec,
    const char *name);

/*
 * Append a zero-filled tensor at the end of the payload.  name must match
 * [A-Za-z0-9_.:/-]{1,255} without a leading '-' and be new in rec.
 * Growing the payload may move it: data pointers of every tensor are
 * updated, but pointers the caller saved (to data or to a struct
 * fl_tensor) are invalid after the call.  Returns the new tensor or NULL
 * with err filled.
 */
struct fl_tensor *fl_tensor_add(struct fl_record *rec, const char *name,
    enum fl_dtype dtype, int rank, const uint64_t *dims,
    struct fl_error *err);

/* Remove the tensor called name, sliding later tensors down; pointers to
 * tensors and data are invalid afterwards.  1 if removed, 0 if absent. */
int fl_tensor_remove(struct fl_record *rec, const char *name);

/* Validation of a tensor name alone: 0 if valid, else -1. */
int fl_tensor_check_name(const char *name, size_t len, struct fl_error *err);

/* Element i of t as a double (exact for every value of 32-bit types). */
double fl_tensor_get(const struct fl_tensor *t, uint64_t i);

/* ---- shapes ---- */

/*
 * Parse a shape: "[2,3]" ("[]" is a scalar) or "2x3" ("" is not a shape).
 * Returns 0, or -1 for bad syntax, rank > 8 or a product that overflows.
 */
int fl_shape_parse(const char *s, int *rank, uint64_t dims[FL_MAX_RANK],
    struct fl_error *err);

/* Write "[2,3]" into buf (size n); returns the length it needs. */
int fl_shape_format(char *buf, size_t n, int rank, const uint64_t *dims);

/* ---- statistics ---- */

/*
 * Summary of a tensor.  min/max/mean/std/l2 cover the finite values only
 * (they are NaN when there are none); nonfinite counts NaN and infinities;
 * std is the population standard deviation.  For integer tensors imin/imax
 * (signed types) or umin/umax (unsigned) hold the exact extremes.
 */
struct fl_stats {
	uint64_t count, finite, nonfinite, zeros;
	double min, max, mean, std, l2;
	int64_t imin, imax;
	uint64_t umin, umax;
};

void fl_tensor_stats(const struct fl_tensor *t, struct fl_stats *st);

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

/* ---- numbers as text ---- */

/* How many numbers text holds (separated by commas and white space; '#'
 * starts a comment that runs to the end of the line). */
size_t fl_values_count(const char *text, size_t len);

/*
 * Parse exactly t->numel numbers from text into t's data, checking each
 * against the dtype's range (floats also accept nan and inf).  Errors name
 * the line and the value's position.
 */
int fl_values_parse(struct fl_tensor *t, const char *text, size_t len,
    struct fl_error *err);

/* ---- atomic output ---- */

/*
 * Write a file so that readers see the old file or the whole new one, never
 * a part: fl_atomic_open creates a temporary file beside path (permissions
 * mode & ~umask), fl_atomic_commit flushes, fsyncs and renames it over path,
 * fl_atomic_abort removes it.  Both end the struct's life.
 */
struct fl_atomic {
	FILE *fp;
	char *path;
	char *tmp;
};

int fl_atomic_open(struct fl_atomic *a, const char *path, unsigned mode,
    struct fl_error *err);
int fl_atomic_commit(struct fl_atomic *a, struct fl_error *err);
/* fl_atomic_commit for a file that must not exist yet: -1 (FL_EINVAL,
 * "exists") when path exists, even if another process made it while this
 * one wrote (link(2) instead of rename(2)). */
int fl_atomic_commit_new(struct fl_atomic *a, struct fl_error *err);
void fl_atomic_abort(struct fl_atomic *a);
/* fl_atomic_commit in two steps, for a set of files that must appear all
 * or none: fl_atomic_finish flushes, fsyncs and closes the temporary file
 * (which stays, unnamed to readers: a->fp is NULL, a->tmp is kept);
 * fl_atomic_place renames it over path.  After the first of a set fails,
 * the rest are fl_atomic_abort'ed, which removes a finished one too. */
int fl_atomic_finish(struct fl_atomic *a, struct fl_error *err);
int fl_atomic_place(struct fl_atomic *a, struct fl_error *err);

/* ---- randomness ---- */

/*
 * Keys are 32 bytes.  A production key comes from the OS (fl_rng_seed_os);
 * fl_rng_seed_text turns a --seed string into a key for reproducible tests
 * and simulations, which makes the output predictable: not private.
 * Purpose keys come from fl_rng_derive (purpose: up to 8 characters, e.g.
 * "dp-noise"; id: e.g. the tensor index).  Wipe keys with fl_rng_wipe or
 * sodium_memzero when done.
 */
#define FL_RNG_KEYBYTES 32

int fl_rng_seed_os(unsigned char key[FL_RNG_KEYBYTES], struct fl_error *err);
void fl_rng_seed_text(unsigned char key[FL_RNG_KEYBYTES], const char *seed);
void fl_rng_derive(unsigned char out[FL_RNG_KEYBYTES],
    const unsigned char master[FL_RNG_KEYBYTES], const char *purpose,
    uint64_t id);

/* n bytes of the ChaCha20 keystream of (key, stream) from 64-byte block
 * `block` on: random access, for chunked and parallel generation. */
void fl_rng_stream(void *out, size_t n, const unsigned char key[FL_RNG_KEYBYTES],
    uint64_t stream, uint64_t block);

/* A sequential generator over one keystream. */
struct fl_rng {
	unsigned char key[FL_RNG_KEYBYTES];
	uint64_t stream, block;
	size_t pos;
	unsigned char buf[4096];
};

void fl_rng_init(struct fl_rng *r, const unsigned char key[FL_RNG_KEYBYTES],
    uint64_t stream);
uint64_t fl_rng_u64(struct fl_rng *r);
/* 48 random bits (6 keystream bytes), for samplers that need no more. */
uint64_t fl_rng_u48(struct fl_rng *r);
/* Uniform on [0, bound) by rejection (bound 0: a full 64-bit word). */
uint64_t fl_rng_below(struct fl_rng *r, uint64_t bound);
void fl_rng_wipe(struct fl_rng *r);

/* Poisson sampling (sample.c): the items of 0..n-1, each independently with
 * probability q (0 < q <= 1), ascending into idx (room for cap); returns
 * how many.  When more than cap were chosen, *overflow is set and the
 * caller draws again with more room from a copy of r as it was. */
size_t fl_sample_poisson(uint64_t *idx, size_t cap, uint64_t n, double q,
    struct fl_rng *r, int *overflow);

/*
 * A round's cohort (sample.c): the clients 0..n-1, each with probability
 * q, drawn from key; out becomes a record kind=cohort with round,
 * dp.population, dp.q, dp.sampling=poisson, cohort.seeded=yes when the key
 * came from a seed, and the ascending client numbers as the u64 tensor
 * `clients` (doc/metadata.md).  fl_cohort_from_record checks one.
 */
#define FL_COHORT_MAX_POPULATION ((uint64_t)1 << 40)
struct fl_cohort {
	uint64_t round, population, size;
	double q;
	int seeded;
};
int fl_cohort_draw(struct fl_record *out, uint64_t n, double q,
    uint64_t round, const unsigned char key[FL_RNG_KEYBYTES], int seeded,
    struct fl_error *err);
int fl_cohort_from_record(struct fl_cohort *c, const struct fl_record *rec,
    struct fl_error *err);

/* ---- parallel work (parallel.c) ---- */

/*
 * Run fn(ctx, i) for every i in [0, n) on up to nthreads threads (the
 * caller's included).  Items run in no fixed order; fn must make each
 * item's result independent of the others for deterministic output.
 */
typedef void (*fl_task_fn)(void *ctx, size_t index);
int fl_parallel_for(size_t n, int nthreads, fl_task_fn fn, void *ctx,
    struct fl_error *err);

/* ---- noise samplers (gauss.c, dgauss.c) ---- */

/* A standard normal sample (ziggurat, double precision; not exact), or n
 * of them into out (the same values as n calls, faster); fl_normal_steps
 * writes round(s x) for each sample x, the same values as n calls of
 * fl_normal with the product rounded to the nearest integer (ties to
 * even; |s x| must stay below 2^51). */
double fl_normal(struct fl_rng *r);
void fl_normal_fill(struct fl_rng *r, double *out, size_t n);
void fl_normal_steps(struct fl_rng *r, double *out, size_t n, double s);

/*
 * The exact discrete Gaussian of Canonne, Kamath and Steinke: P[x] is
 * proportional to exp(-x^2 / (2 sigma^2)) on the integers.  fl_dgauss_init
 * fixes sigma^2 as a rational rounded up (dg->sigma is the scale used) and
 * refuses a variance above FL_DGAUSS_MAX_VAR.
 */
#define FL_DGAUSS_MAX_VAR 72057594037927936.0   /* 2^56 */
struct fl_dgauss {
	uint64_t num, den, t;
	double sigma;
};
int fl_dgauss_init(struct fl_dgauss *dg, double sigma, struct fl_error *err);
int64_t fl_dgauss(struct fl_rng *r, const struct fl_dgauss *dg);

/* Skellam: Poisson(sigma^2/2) - Poisson(sigma^2/2), variance sigma^2
 * (double-precision Poisson sampler: accurate to rounding, not exact). */
int64_t fl_skellam(struct fl_rng *r, double sigma);

/* ---- clipping and noise (dp.c) ---- */

enum fl_mechanism { FL_MECH_GAUSSIAN, FL_MECH_DGAUSS, FL_MECH_SKELLAM };

/*
 * Noise for fl_noise_tensor.  sigma is the standard deviation in the
 * tensor's units: float units for FL_MECH_GAUSSIAN, grid steps for the
 * integer mechanisms.  Float Gaussian noise is added on the power-of-two
 * grid fl_noise_grid(sigma) (the value snapped, integer noise added
 * exactly); exact selects the exact discrete Gaussian on that grid instead
 * of the fast ziggurat.  modulus: integer tensors are a ring mod modulus
 * (0 with u64: mod 2^64; 0 with i32/i64: plain integers, overflow is an
 * error).  key: the record's noise key (chunk streams are derived from it).
 */
struct fl_noise {
	enum fl_mechanism mechanism;
	double sigma;
	int exact;
	uint64_t modulus;
	int threads;
	double max_abs;         /* a known bound on |values| (0: scan them) */
	/* Float values are multiplied by this before the noise: a clip
	 * factor from fl_clip_factor, so clipping costs no pass of its own
	 * (0 means 1; max_abs bounds the scaled values). */
	double scale;
	unsigned char key[FL_RNG_KEYBYTES];
};

/* Sum of squares of a float tensor's values, in double. */
double fl_tensor_sumsq(const struct fl_tensor *t);

/* 0 if every value is finite, else -1 naming the first bad index. */
int fl_tensor_check_finite(const struct fl_tensor *t, struct fl_error *err);

/* Scale float tensors ts[0..n) so their joint L2 norm (in double) is at
 * most clip; *clipped says whether they were over it.  -1 as
 * fl_clip_factor for values that are not finite or too large. */
int fl_clip_tensors(struct fl_tensor **ts, size_t n, double clip,
    int *clipped, struct fl_error *err);

/* The factor min(1, clip (1 - e) / norm) for float tensors ts[0..n) of
 * joint L2 norm `norm`, with a margin e (below 3e-10 at 10M values) that
 * covers the norm's rounding: the values x * factor, each rounded once to
 * double, have a norm of at most clip.  Nothing is scaled: pass the factor
 * as fl_noise.scale, or scale the values.  *clipped is norm > clip.  A
 * value that is not finite is an error naming it. */
int fl_clip_factor(struct fl_tensor **ts, size_t n, double clip,
    double *factor, int *clipped, struct fl_error *err);

/* Multiply float tensors ts[0..n) by f in [0, 1] (1 and above: nothing):
 * |fl(x f)| <= |x|, so a clipped set stays within its bound.  Weighted
 * DP-FedAvg scales a clipped update by its capped weight so. */
void fl_scale_tensors(struct fl_tensor **ts, size_t n, double f);

/* The noise grid for float noise of scale sigma: a power of two with
 * sigma/grid in [2^18, 2^19). */
double fl_noise_grid(double sigma);

/* Add noise to t in place; tensor_index tells its streams apart. */
int fl_noise_tensor(struct fl_tensor *t, uint64_t tensor_index,
    const struct fl_noise *nz, struct fl_error *err);

/* Add the exact squared L2 norm of an integer tensor (ring values centred
 * on 0) to *acc; -1 if the sum would overflow 128 bits. */
int fl_int_sumsq(const struct fl_tensor *t, uint64_t modulus,
    unsigned __int128 *acc);

/* Exactly: is ss <= bound^2? */
int fl_int_sumsq_le(unsigned __int128 ss, double bound);

/* ---- privacy accounting (account.c, pld.c, ledger.c) ---- */

/*
 * A release: `steps` compositions of one mechanism on a Poisson sample of
 * rate q, under add/remove adjacency.  gaussian: noise is the multiplier
 * z = noise std / L2 sensitivity.  discrete-gaussian and skellam (integer
 * noise summed over clients, distributed DP): sigma is the std of one
 * client's share, sens2 and sens1 the L2 and L1 sensitivity (0: derived as
 * sens2 min(sqrt(dim), sens2)), all in grid units; clients is the number
 * of shares in the sum (the survivors) and dim the coordinates noised.
 * indicator: for the integer mechanisms, the noise multiplier of a
 * Gaussian query on the same sample (adaptive clipping's clip indicator),
 * 0 if none; a gaussian release has it folded into noise.  clip (0:
 * unknown) and round (FL_ROUND_NONE: unknown) are informational.
 * (enum fl_mechanism is declared with the noise, above.)
 */
#define FL_ROUND_NONE UINT64_MAX

struct fl_release {
	uint64_t release;       /* 1-based row of a ledger; 0 if none */
	uint64_t round;
	enum fl_mechanism mech;
	double q;
	uint64_t steps;
	double noise;
	double clip;
	uint64_t clients;
	/* Distributed noise: of the clients' shares summed, how many the
	 * server may know (clients colluding with it subtract their own
	 * noise); only the other clients - colluding shares are charged. */
	uint64_t colluding;
	double sigma, sens2, sens1;
	uint64_t dim;
	double indicator;
	unsigned not_private;   /* FL_NOT_PRIVATE_* bits */
};

/* Why a release is not private, though charged (fl-account
 * --not-private): its noise, or the choice of who took part, came from a
 * --seed that whoever knows it can replay. */
#define FL_NOT_PRIVATE_NOISE 1u
#define FL_NOT_PRIVATE_SAMPLING 2u

/* The fraction of clients assumed to collude with the server when nothing
 * says otherwise: fl-mask's default --corrupt, so that the ledger charges
 * for the same adversary the secure aggregation is built against. */
#define FL_CORRUPT_DEFAULT 0.05

/* "gaussian", "discrete-gaussian", "skellam"; parse returns 0 or -1. */
const char *fl_mechanism_name(enum fl_mechanism m);
int fl_mechanism_parse(const char *s, enum fl_mechanism *m);

/* The most steps one release may state (the command line's --steps). */
#define FL_MAX_STEPS ((uint64_t)1 << 40)

/* 0 if r is a valid release (q in (0, 1], noise > 0, 1 <= steps <=
 * FL_MAX_STEPS, ...), else -1. */
int fl_release_check(const struct fl_release *r, struct fl_error *err);

/* The effective noise multiplier (distributed: sigma sqrt(clients) / sens2). */
double fl_release_noise(const struct fl_release *r);

/*
 * The release a noised record stands for, from its dp.* metadata
 * (doc/metadata.md): with distributed noise (dp.shares > 1) the noise is
 * that of the `clients` shares actually summed.  q is dp.q, else the
 * planned cohort max(dp.shares, clients) / population if population > 0,
 * else 0 for the caller to set; steps is dp.steps or 1.  The colluding
 * shares of distributed noise: ceil(corrupt x the planned cohort) when
 * corrupt is a fraction in [0, 1); when it is NAN, the record's
 * secagg.corrupt (the roster's count, which fl-aggregate copies into the
 * sum), else FL_CORRUPT_DEFAULT of the planned cohort.
 */
int fl_release_from_record(struct fl_release *r, const struct fl_record *rec,
    uint64_t population, double corrupt, struct fl_error *err);

/* The shares whose noise protects anyone: clients - colluding. */
uint64_t fl_release_honest(const struct fl_release *r);

/* RDP orders: "default" (NULL), "opacus", "dp-accounting", or a list
 * "1.5,2,4-64,128" (LO-HI: every integer), sorted, duplicates dropped. */
#define FL_RDP_MAX_ORDERS 1024
#define FL_RDP_MAX_ORDER 100000
struct fl_orders {
	size_t n;
	double a[FL_RDP_MAX_ORDERS];
};

int fl_orders_parse(struct fl_orders *o, const char *spec,
    struct fl_error *err);

/* RDP of one step of the Poisson-subsampled Gaussian at order alpha. */
double fl_rdp_sgm(double q, double noise, double alpha);

/* RDP of one step of r at each order (rdp: o->n values). */
int fl_rdp_release(const struct fl_release *r, const struct fl_orders *o,
    double *rdp, struct fl_error *err);

/* The smallest epsilon (delta) over the orders for a given delta
 * (epsilon); classic: Mironov's 2017 conversion instead of the tight one.
 * best (may be NULL) gets the index of the order that gave it. */
double fl_rdp_epsilon(const struct fl_orders *o, const double *rdp,
    double delta, int classic, size_t *best);
double fl_rdp_delta(const struct fl_orders *o, const double *rdp,
    double epsilon, int classic, size_t *best);

/* log erfc(x) and log Phi(x), accurate in the far tails. */
double fl_log_erfc(double x);
double fl_log_ndtr(double x);

enum fl_accountant { FL_ACC_RDP, FL_ACC_RDP_CLASSIC, FL_ACC_PLD,
	FL_ACC_EXACT };

/* orders: NULL for the default; interval: the PLD grid (0: 1e-4). */
struct fl_account {
	enum fl_accountant accountant;
	const struct fl_orders *orders;
	double interval;
};

/* An answer: order is the best RDP order, interval the PLD grid used
 * (NAN when not applicable). */
struct fl_privacy {
	double epsilon, delta, order, interval;
};

/*
 * Compose the n releases.  given_eps 0: epsilon for delta = given; 1:
 * delta for epsilon = given.  cumulative: out[i] after each release i
 * (n entries), else out[0] for all.  The exact accountant takes only
 * gaussian releases with q = 1, the PLD one only gaussian releases.
 */
int fl_account_run(const struct fl_account *acct, const struct fl_release *r,
    size_t n, int cumulative, int given_eps, double given,
    struct fl_privacy *out, struct fl_error *err);

/*
 * The smallest noise multiplier for tmpl (its noise, or for distributed
 * noise its sigma, ignored) that keeps epsilon at delta, after the fixed
 * releases, at most target: *noise and what it gives in *got.  For
 * distributed noise the multiplier z is that of the full noise: each of
 * tmpl->clients shares has sigma z sens2 / sqrt(clients), and the
 * colluding clients' shares are not counted.
 */
int fl_account_noise(const struct fl_account *acct,
    const struct fl_release *fixed, size_t nfixed,
    const struct fl_release *tmpl, double target, double delta,
    double *noise, struct fl_privacy *got, struct fl_error *err);

/*
 * A privacy loss distribution on the grid loss = (lo + i) d: mass p[i]
 * (n bins, owned) and p_inf at infinity.  fl_pld_sgm discretises one step
 * (add 0: remove direction, 1: add direction) pessimistically; compose
 * operations replace their first argument.
 */
struct fl_pld {
	double d;
	int64_t lo;
	size_t n;
	double *p;
	double pinf;
};

int fl_pld_sgm(struct fl_pld *pl, double q, double noise, int add, double d,
    struct fl_error *err);
int fl_pld_self_compose(struct fl_pld *pl, uint64_t steps,
    struct fl_error *err);
int fl_pld_compose(struct fl_pld *a, const struct fl_pld *b,
    struct fl_error *err);
double fl_pld_width(const struct fl_pld *pl, uint64_t steps);
double fl_pld_epsilon(const struct fl_pld *pl, double delta);
double fl_pld_delta(const struct fl_pld *pl, double epsilon);
void fl_pld_free(struct fl_pld *pl);
/* fl_account_run's PLD half. */
int fl_pld_account(const struct fl_account *acct, const struct fl_release *r,
    size_t n, int cumulative, int given_eps, double given,
    struct fl_privacy *out, struct fl_error *err);

/* The Gaussian mechanism exactly (Balle and Wang 2018), mu = 1 / noise
 * (T steps: sqrt(T) / noise). */
double fl_gaussian_delta(double mu, double epsilon);
double fl_gaussian_epsilon(double mu, double delta);

/*
 * The budget ledger (fl-account(1) describes the file).  fl_ledger_open
 * locks the file (write: exclusively, creating it if missing; else
 * shared) and reads every row, failing on any line it would not have
 * written, named "line N: ...".  fl_ledger_append numbers the rows on,
 * appends them in one write and fsyncs.  The lock lasts until
 * fl_ledger_close.
 */
struct fl_ledger {
	int fd;
	int writable;
	char *path;
	size_t size;            /* bytes in the file */
	struct fl_release *rows;
	uint32_t *checks;       /* each row's check */
	size_t nrows, cap;
	uint32_t chain;         /* check of the last line */
};

int fl_ledger_open(struct fl_ledger *l, const char *path, int write,
    struct fl_error *err);
int fl_ledger_append(struct fl_ledger *l, const struct fl_release *rows,
    size_t n, struct fl_error *err);
void fl_ledger_close(struct fl_ledger *l);

/*
 * The ledger's head anchored outside the file, where the server keeps
 * state anyway (the model fl-apply writes): ledger.releases, its release
 * count, and ledger.check, the check of its last line.  A ledger cut at a
 * line boundary, truncated to its header or to nothing, or rewritten, no
 * longer reaches its anchor: fl_ledger_check_anchor fails (FL_EFORMAT)
 * saying which.  fl_ledger_anchor_read: 1 with the values, 0 when rec has
 * no anchor, -1 on a bad one.
 */
int fl_ledger_anchor_write(const struct fl_ledger *l, struct fl_record *rec,
    struct fl_error *err);
int fl_ledger_anchor_read(const struct fl_record *rec, uint64_t *releases,
    uint32_t *check, struct fl_error *err);
int fl_ledger_check_anchor(const struct fl_ledger *l, uint64_t releases,
    uint32_t check, struct fl_error *err);

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

/* ---- quantization (quant.c, hadamard.c) ---- */

/*
 * The fast Walsh-Hadamard transform of v[0..n) in place, unnormalised
 * (applied twice it multiplies by n); n must be a power of two.  Blocked:
 * two passes over memory whatever n.  -1 (FL_EINVAL, FL_ENOMEM) on error.
 */
int fl_fwht(float *v, uint64_t n, struct fl_error *err);

/*
 * The randomized Hadamard transform R = H D / sqrt(n) (D: random signs from
 * a PUBLIC key, shared by every client and the server): fl_rht_dim is the
 * padded length (the next power of two), fl_rht_key derives the key from a
 * public seed text, fl_rht_signs multiplies v[0..n) by D, fl_rht applies R
 * (inverse 0) or R^-1 = D H / sqrt(n) (inverse 1) in place, and fl_rht_hd
 * the same without the 1/sqrt(n): H D or D H.
 */
uint64_t fl_rht_dim(uint64_t n);
void fl_rht_key(unsigned char key[FL_RNG_KEYBYTES], const char *seed);
void fl_rht_signs(float *v, uint64_t n,
    const unsigned char key[FL_RNG_KEYBYTES]);
/* dst[i] = D src[i] for the coordinates at .. at + n - 1 of a rotated
 * vector (src NULL: zeros; dst == src: in place), so that copying a piece
 * in and flipping its signs is one pass over memory. */
void fl_rht_signs_copy(float *dst, const float *src, uint64_t n, uint64_t at,
    const unsigned char key[FL_RNG_KEYBYTES]);
int fl_rht(float *v, uint64_t n, const unsigned char key[FL_RNG_KEYBYTES],
    int inverse, struct fl_error *err);
int fl_rht_hd(float *v, uint64_t n, const unsigned char key[FL_RNG_KEYBYTES],
    int inverse, struct fl_error *err);

/*
 * The ring encoding for secure aggregation (TFF's DistributedDpSumFactory
 * rule; fl-quantize(1)).  fl_ring_k: standard deviations of the aggregate
 * that must fit the ring for a wrap-around probability p (sqrt 2
 * erfcinv(p)).  fl_ring_max_clients: the most clients a ring of `bits`
 * bits holds (2^(2b) > n k^2 and n <= 2^b).  fl_ring_scale: the global scale
 * s = sqrt(2^(2b) - n k^2) / (2k sqrt(C^2 n^2 / d + n sigma_local^2)),
 * capped at 1e6, or 0 when the ring is too small.  fl_ring_bound: the
 * rounding-inflated L2 bound in grid units (beta 0: C + sqrt(d)/s; beta >
 * 0: the smaller conditional-rounding bound), times s.
 */
double fl_ring_k(double modclip_prob);
uint64_t fl_ring_max_clients(int bits, double k);
double fl_ring_scale(int bits, uint64_t clients, double k, double clip,
    double sigma_local, uint64_t dim);
double fl_ring_bound(double clip, double scale, uint64_t dim, double beta);

/*
 * Stochastic rounding of y[i] * mult to integers q[i] (unbiased; uniforms
 * from the private key's ChaCha20 streams), drawn again until the exact
 * ||q||_2 <= bound (conditional rounding; at most 1000 tries), written
 * mod 2^bits (1..32) to out.  *tries says how many draws it took.  Fails
 * (FL_EINVAL) on a value that is not finite or reaches 2^31 grid steps,
 * (FL_ELIMIT) when no draw met the bound.
 */
int fl_ring_round(const float *y, uint64_t n, double mult, double bound,
    int bits, const unsigned char key[FL_RNG_KEYBYTES], uint32_t *out,
    unsigned *tries, struct fl_error *err);

/* The inverse map for decoding: out[i] = u[i] as a signed value of the
 * ring Z_mod ([mod/2, mod) stand for the negatives), times f, as a float.
 * mod is at most 2^32. */
void fl_ring_unwrap(const uint32_t *u, uint64_t n, uint64_t mod, double f,
    float *out);

/* ---- data sets (data.c) ---- */

/*
 * A labelled data set in memory: n examples of dim features, row-major,
 * stored as bytes when the source holds bytes (IDX pixels, u8 tensors) and
 * as floats otherwise (a quarter of the memory for Fashion-MNIST).
 * Features are read through fl_data_get, which scales and normalizes.
 * The data set owns x, y, names and label_name (fl_data_free).
 */
enum fl_data_format { FL_DATA_CSV, FL_DATA_IDX, FL_DATA_FLT };

struct fl_data {
	uint64_t n;             /* examples, at least 1 */
	uint64_t dim;           /* features per example, at least 1 */
	enum fl_dtype xtype;    /* FL_U8 or FL_F32 */
	void *x;                /* n * dim features */
	int32_t *y;             /* n labels, each >= 0 */
	uint32_t classes;       /* 1 + the largest label */
	float scale;            /* the default scale: 1/255 for u8, else 1 */
	enum fl_data_format format;
	char **names;           /* CSV header: dim feature names, or NULL */
	char *label_name;       /* CSV header: the label column's name */
};

/*
 * How to read a data set.  Zero-initialised options mean: detect a CSV
 * header row, label column "label" (or the first column without a
 * header), labels file from the IDX images file name, any sizes.
 */
struct fl_data_opts {
	const char *label;      /* CSV label column: header name or 1-based
				   number; NULL: "label", else column 1 */
	int header;             /* CSV: 0 detect (a first row holding a cell
				   that is not a number), 1 yes, -1 no */
	const char *labels;     /* IDX labels file; NULL: the images file
				   name with images-idx3 -> labels-idx1 */
	uint64_t features;      /* 0, or the features each example must have */
	uint32_t classes;       /* 0, or labels must be below this */
	uint64_t max_bytes;     /* a cap on the features' memory; 0: 16 GiB */
	uint64_t max_cell;      /* CSV: the longest cell in bytes; 0: 1 MiB */
};

/*
 * Load a data set from path ("-" is standard input): CSV (through libcsv,
 * streamed), IDX (Fashion-MNIST's ubyte files, with a labels file) or FLT
 * records of kind "dataset" (tensors x [n,dim] and y [n], several records
 * make one data set); each may be gzip-compressed.  Every cell, header and
 * size is checked: ragged rows, cells that are not finite numbers, labels
 * that are not whole numbers in range, feature counts other than
 * o->features, no examples at all.  Memory grows with the data read, not
 * with sizes claimed by headers.  Messages start with the file name and
 * name the line and column (CSV), the example (IDX) or the record:
 * "data.csv: line 3: column 2: not a number: 'x'".  o may be NULL.
 * Returns 0, or -1 with err filled; d needs fl_data_free either way.
 */
int fl_data_load(struct fl_data *d, const char *path,
    const struct fl_data_opts *o, struct fl_error *err);

/* The same from open streams, named name and labels_name in messages;
 * labels (the IDX labels file) may be NULL.  The streams stay open. */
int fl_data_read(struct fl_data *d, FILE *fp, const char *name,
    FILE *labels, const char *labels_name, const struct fl_data_opts *o,
    struct fl_error *err);

void fl_data_free(struct fl_data *d);

/*
 * Feature preprocessing: v = x * scale, then (v - mean[j]) * invstd[j]
 * when mean is not NULL (from a normalizer record of fl-stats).
 */
struct fl_prep {
	float scale;
	const float *mean;
	const float *invstd;
};

/* Features of examples idx[0..m) (or first..first+m when idx is NULL)
 * into out (m * dim floats), preprocessed; p NULL: d->scale alone.
 * Safe to call from several threads at once. */
void fl_data_get(const struct fl_data *d, const struct fl_prep *p,
    const uint64_t *idx, uint64_t first, size_t m, float *out);

/*
 * A data set as an FLT record of kind "dataset": examples idx[0..m) (all
 * when idx is NULL) as tensor x (u8 or f32, [m,dim]) and y (i32, [m]).
 */
int fl_data_to_record(const struct fl_data *d, const uint64_t *idx,
    uint64_t m, struct fl_record *rec, struct fl_error *err);

/* ---- models (model.c) ---- */

/*
 * An architecture: "logreg:IN-CLASSES" (multinomial logistic regression;
 * 2 classes is binary) or "mlp:IN-H1-...-CLASSES" (dense layers, ReLU
 * between them).  The string is the arch metadata key of model records.
 */
#define FL_MAX_LAYERS 16
#define FL_MAX_PARAMS (UINT64_C(1) << 31)
#define FL_ARCH_MAX 256

struct fl_arch {
	int mlp;                                /* 0: logreg, 1: mlp */
	int layers;                             /* dense layers */
	uint64_t sizes[FL_MAX_LAYERS + 1];      /* inputs ... classes */
};

int fl_arch_parse(struct fl_arch *a, const char *s, struct fl_error *err);
/* Write the canonical string into buf (FL_ARCH_MAX bytes). */
void fl_arch_format(const struct fl_arch *a, char buf[FL_ARCH_MAX]);

/*
 * A model: layer l has weights w[l] [sizes[l], sizes[l+1]] (input-major:
 * out = in . w + b) and biases b[l] [sizes[l+1]], named "fcL.w" and
 * "fcL.b" (L from 1) in records.  All parameters live in one 64-aligned
 * block, each tensor at a 64-byte boundary, zeros between.
 */
struct fl_model {
	struct fl_arch arch;
	float *params;                  /* nfloats floats */
	size_t nfloats;                 /* including the gaps */
	uint64_t nparams;               /* weights and biases */
	float *w[FL_MAX_LAYERS];
	float *b[FL_MAX_LAYERS];
};

/* A model of arch a with every parameter zero.  Returns 0 or -1. */
int fl_model_new(struct fl_model *m, const struct fl_arch *a,
    struct fl_error *err);
void fl_model_free(struct fl_model *m);
int fl_model_copy(struct fl_model *dst, const struct fl_model *src,
    struct fl_error *err);

/* He-normal weights for ReLU layers, Glorot-uniform for the output layer,
 * zero biases, all drawn from the ChaCha20 key. */
void fl_model_init_random(struct fl_model *m,
    const unsigned char key[FL_RNG_KEYBYTES]);

/*
 * A model from a record of kind "model": the arch key, tensors fcL.w and
 * fcL.b of dtype f32 and the arch's shapes, every value finite.  An update
 * or any other kind is refused, naming it.
 */
int fl_model_from_record(struct fl_model *m, const struct fl_record *rec,
    struct fl_error *err);

/* Add m's tensors to rec (and the arch key).  If base is not NULL the
 * tensors hold m - base (an update).  Fails on a value that is not
 * finite: a NaN update is never written. */
int fl_model_to_record(const struct fl_model *m, const struct fl_model *base,
    struct fl_record *rec, struct fl_error *err);

/* ---- training and evaluation (train.c) ---- */

/*
 * Minibatch SGD on the mean cross-entropy.  The kernels are plain C that
 * the compiler vectorises (with AVX2 and AVX-512 clones on x86-64 GCC);
 * -ffp-contract stays off, so every code path computes the same bits.
 */

struct fl_train_progress {
	uint64_t step, steps;   /* done, planned */
	uint64_t epoch, epochs; /* the current epoch from 1; planned */
	double loss;            /* mean loss of the current epoch so far */
};

struct fl_train_opts {
	double lr;              /* learning rate, > 0 */
	int cosine;             /* decay lr to 0 along a half cosine */
	double momentum;        /* heavy ball, [0, 1) */
	double weight_decay;    /* L2 coefficient, added to the gradient */
	double prox_mu;         /* FedProx: mu * (w - global) added */
	uint64_t batch;         /* examples per step (DP Poisson: expected) */
	uint64_t epochs;        /* passes over the data, when steps is 0 */
	uint64_t steps;         /* optimizer steps, or 0 */
	int threads;            /* 1 or more; the result does not depend on it */
	unsigned char key[FL_RNG_KEYBYTES];     /* shuffling, sampling, noise */
	struct fl_prep prep;
	const float *class_weights;     /* loss weight per class, or NULL */
	/* DP-SGD: clip each example's gradient to L2 norm clip, snap a
	 * batch's sum to the grid fl_noise_grid(noise * clip) and add Gaussian
	 * noise of std noise * clip in whole grid steps (fl_normal_steps on
	 * ChaCha20 of the key) to every coordinate, divide by the batch size
	 * (Poisson: the expected one).  An example whose loss or gradient is
	 * not finite contributes nothing and is counted (res->skipped). */
	int dp;
	int poisson;            /* Poisson sampling (rate batch/n), else
				   shuffling */
	double rate;            /* Poisson: a public rate instead of batch/n
				   (0: none); an epoch is then ceil(1/rate)
				   steps, so neither depends on n */
	double clip, noise;
	/* called after every step, from the calling thread */
	void (*progress)(void *arg, const struct fl_train_progress *p);
	void *progress_arg;
};

struct fl_train_result {
	uint64_t steps;         /* optimizer steps taken */
	uint64_t seen;          /* examples processed */
	double loss;            /* mean loss over the last epoch */
	double q;               /* sampling rate batch / n */
	double grid;            /* DP-SGD: the noise's grid (0: no noise) */
	uint64_t skipped;       /* DP-SGD: examples whose loss or gradient was
				   not finite, left out (never released) */
};

/*
 * Train m in place on d.  global (may be NULL without prox_mu) is the
 * model the proximal term pulls towards.  The result is a deterministic
 * function of the inputs and o->key, whatever o->threads.  Without DP, a
 * loss that is not finite stops training with an error (FL_EINVAL) naming
 * the step; with DP, so does a weight that is not finite at the end; m is
 * then unspecified.  Labels must be below m's class count and d's
 * features must be m's inputs (else FL_EINVAL).  Returns 0 or -1.
 */
int fl_train(struct fl_model *m, const struct fl_model *global,
    const struct fl_data *d, const struct fl_train_opts *o,
    struct fl_train_result *res, struct fl_error *err);

/*
 * Evaluate m on d: confusion (classes x classes, classes being m's class
 * count; row = true label, column = predicted; zeroed first) and the sum
 * of the cross-entropy losses.  The same for any thread count.  Returns 0
 * or -1.
 */
int fl_evaluate(const struct fl_model *m, const struct fl_data *d,
    const struct fl_prep *p, int threads, uint64_t *confusion,
    double *loss_sum, struct fl_error *err);

/*
 * fl_evaluate, and besides the loss sum per true class: class_loss
 * (classes entries, zeroed first; NULL: not wanted).  Each class's sum
 * adds its examples' losses in the order of the data.
 */
int fl_evaluate_by_class(const struct fl_model *m, const struct fl_data *d,
    const struct fl_prep *p, int threads, uint64_t *confusion,
    double *loss_sum, double *class_loss, struct fl_error *err);

/*
 * The class-weighted figures of an evaluation, with n_c the examples of
 * class c (row c of confusion, classes x classes), L_c their loss sum
 * (class_loss) and w_c = weights[c]: the weighted mean loss
 * sum_c w_c L_c / sum_c w_c n_c (up to a constant factor, the loss that
 * training with these class weights minimises) in *wloss, and the
 * weighted accuracy sum_c w_c confusion[c][c] / sum_c w_c n_c in *wacc.
 * Both are sums over the classes, so evaluations of several clients add
 * up before this.  class_loss may be NULL: *wloss is then NaN; both are
 * NaN without examples.  The weights must be finite and >= 0, and not all 0 over
 * the classes with examples (else FL_EINVAL).  Returns 0 or -1.
 */
int fl_class_weighted(uint64_t classes, const uint64_t *confusion,
    const double *class_loss, const float *weights, double *wloss,
    double *wacc, struct fl_error *err);

/* ---- partitions for simulations (split.c) ---- */

enum fl_split_method {
	FL_SPLIT_IID,           /* shuffled, equal sizes */
	FL_SPLIT_DIRICHLET,     /* label skew: class shares ~ Dir(alpha) */
	FL_SPLIT_SHARDS,        /* sorted by label, `shards` shards each */
	FL_SPLIT_QUANTITY       /* IID labels, sizes ~ Dir(alpha) */
};

struct fl_split_opts {
	enum fl_split_method method;
	double alpha;           /* DIRICHLET, QUANTITY: > 0 */
	uint64_t shards;        /* SHARDS: per client */
	uint64_t min_size;      /* DIRICHLET, QUANTITY: redraw until every
				   client has this many (capped at n/clients;
				   0: 1) */
};

/*
 * Partition d among clients: order (allocated, n entries) lists the
 * examples of client j at order[start[j]..start[j+1]), increasing;
 * start has clients + 1 entries.  Deterministic in key.  Returns 0 or -1.
 */
int fl_split(const struct fl_data *d, uint64_t clients,
    const struct fl_split_opts *o, const unsigned char key[FL_RNG_KEYBYTES],
    uint64_t **order, uint64_t *start, struct fl_error *err);

/* A synthetic data set: n examples of `features` f32 features, labels
 * uniform over `classes`, Gaussian blobs around random class means. */
int fl_data_synthetic(struct fl_data *d, uint64_t n, uint64_t features,
    uint32_t classes, const unsigned char key[FL_RNG_KEYBYTES],
    struct fl_error *err);

/* ---- secure aggregation (shamir.c, saparams.c, secagg.c, saident.c,
 * saproto.c, sakey.c, samask.c) ---- */

/*
 * Shamir secret sharing over Z_L, L = 2^252 + 27742317777372353535851937790883648493
 * the order of the ed25519 base point (libsodium's crypto_core_ed25519_scalar_*).
 * Secrets and shares are canonical 32-byte little-endian scalars (< L);
 * share i is f(xs[i]) for a random polynomial f of degree t - 1 with
 * f(0) = secret.  x-coordinates are nonzero and distinct.
 */
#define FL_SCALAR_BYTES 32

/* A uniform scalar: 64 bytes of rng reduced mod L. */
void fl_scalar_random(unsigned char s[FL_SCALAR_BYTES], struct fl_rng *rng);

/* 1 if s is a canonical scalar (< L), else 0. */
int fl_scalar_is_canonical(const unsigned char s[FL_SCALAR_BYTES]);

/*
 * n shares of secret, any t of which rebuild it (1 <= t <= n), the
 * coefficients drawn from rng.  With commit not NULL, also the Feldman
 * commitments of the polynomial: commit[j] = a_j B (ed25519 points,
 * a_0 the secret), which let anyone check a share (fl_shamir_verify)
 * without learning the secret.  -1 (FL_EINVAL) for a non-canonical
 * secret, t out of range, or a zero or repeated x.
 */
int fl_shamir_split(const unsigned char secret[FL_SCALAR_BYTES], size_t t,
    const uint32_t *xs, size_t n, unsigned char (*shares)[FL_SCALAR_BYTES],
    unsigned char (*commit)[FL_SCALAR_BYTES], struct fl_rng *rng,
    struct fl_error *err);

/* The secret from t shares by Lagrange interpolation at 0.  -1 (FL_EINVAL)
 * for t == 0, a zero or repeated x, or a non-canonical share. */
int fl_shamir_combine(const uint32_t *xs,
    const unsigned char (*shares)[FL_SCALAR_BYTES], size_t t,
    unsigned char secret[FL_SCALAR_BYTES], struct fl_error *err);

/* 1 if share y at x lies on the polynomial of the t commitments
 * (y B = sum_j x^j commit[j]), 0 if not or if a commitment is not a
 * valid point. */
int fl_shamir_verify(uint32_t x, const unsigned char y[FL_SCALAR_BYTES],
    const unsigned char (*commit)[FL_SCALAR_BYTES], size_t t);

/*
 * SecAgg+ graph parameters for n clients of which a fraction `corrupt`
 * may collude with the server and a fraction `dropout` may drop: k, the
 * neighbours of each client (even; n - 1 is the full graph), and t, the
 * threshold out of the k + 1 share holders (the neighbours and the client
 * itself).  The rule is in fl-mask(1): the smallest k for which some t has
 * a 2^-40 chance of a client with more than c corrupt holders or of the
 * survivors' graph falling apart, a 2^-20 chance of a client with fewer
 * than t surviving holders, and 2t > k + 1 + c, so that a server lying
 * about who survived cannot collect both shares of one client; t is the
 * largest such.  Small n use the full graph (c = C).  -1 (FL_EINVAL) when
 * no (k, t) meets the bounds, or when the survivors could not be a
 * majority counting the corrupt clients twice (2(n - D) <= n + C), which
 * the consistency round needs.
 */
struct fl_secagg_params {
	uint32_t n, k, t;
	uint32_t corrupt;          /* C: clients assumed corrupt */
	uint32_t corrupt_holders;  /* c: corrupt holders counted per client */
	double log2_security;   /* log2 of the bound on a privacy failure */
	double log2_failure;    /* log2 of the bound on an aborted round */
};

int fl_secagg_params(uint32_t n, double corrupt, double dropout,
    struct fl_secagg_params *p, struct fl_error *err);

/* The clients a fraction stands for: ceil(fraction n), at most n - 1. */
uint32_t fl_secagg_count(uint32_t n, double fraction);

/* Check a given (k, t) for n clients with C corrupt: k even or n - 1, t
 * in [2, k + 1] and 2t > k + 1 + c, c the corrupt holders the rule counts
 * for k (stored in *holders when not NULL).  -1 (FL_EINVAL) if not. */
int fl_secagg_check(uint32_t n, uint32_t k, uint32_t t, uint32_t corrupt,
    uint32_t *holders, struct fl_error *err);

/* The confirmations a client needs before it reveals: a majority of the
 * n clients counting the C corrupt ones twice, and at least t. */
uint32_t fl_secagg_quorum(uint32_t n, uint32_t t, uint32_t corrupt);

/* What a roster must be, for --make-roster and for every client that
 * checks one: the declared fractions of corrupt and dropping clients, and
 * optionally the graph (degree: k, threshold: t; 0 for the rule's).
 * fl_sa_policy_params gives (k, t, C) for n clients: the rule's, or the
 * given k with the smallest safe t, or the rule's k with the given t; all
 * checked by fl_secagg_check. */
struct fl_sa_policy {
	uint32_t min_clients;           /* clients: refuse smaller rosters */
	double corrupt, dropout;
	uint32_t degree, threshold;
};

int fl_sa_policy_params(uint32_t n, const struct fl_sa_policy *pol,
    struct fl_secagg_params *p, struct fl_error *err);

/*
 * The secure-aggregation protocol's pieces (secagg.c), shared by fl-mask
 * (the clients) and fl-aggregate (the server's unmasking).  Clients are
 * numbered 1..n in roster order; the numbers are also the Shamir
 * x-coordinates.  All keys are 32 bytes; see fl-mask(1) for the
 * derivations, which are bound to the session id (a hash of the roster).
 */
#define FL_SA_BYTES 32
#define FL_SA_SIGBYTES 64
#define FL_SA_HEX (2 * FL_SA_BYTES + 1)
#define FL_SA_PLAINBYTES (FL_SA_BYTES + 8 + 2 * FL_SCALAR_BYTES)
#define FL_SA_BOXBYTES (FL_SA_PLAINBYTES + 16)   /* + Poly1305 tag */

/* The SecAgg+ graph: a ring of the n clients in an order drawn from the
 * session id, each client linked to the k/2 ring positions on either side
 * (k = n - 1: everyone).  Clients are 1-based. */
struct fl_sa_graph {
	uint32_t n, k;
	uint32_t *pos;          /* pos[i - 1]: ring position of client i */
	uint32_t *at;           /* at[p]: client at ring position p */
};

int fl_sa_graph_init(struct fl_sa_graph *g, uint32_t n, uint32_t k,
    const unsigned char session[FL_SA_BYTES], struct fl_error *err);
int fl_sa_adjacent(const struct fl_sa_graph *g, uint32_t i, uint32_t j);
/* i's k neighbours, ascending, into out (room for k); returns k. */
size_t fl_sa_neighbours(const struct fl_sa_graph *g, uint32_t i,
    uint32_t *out);
/* The holders of i's shares: its neighbours and i, ascending, into out
 * (room for k + 1); returns k + 1. */
size_t fl_sa_holders(const struct fl_sa_graph *g, uint32_t i, uint32_t *out);
void fl_sa_graph_free(struct fl_sa_graph *g);

/* The key of a --seed run (tests and simulations, not private): from the
 * seed text, the step's purpose and the client id, so that every client
 * and step draws differently. */
void fl_sa_seed_key(unsigned char key[FL_RNG_KEYBYTES], const char *seed,
    const char *purpose, const char *id);

/* The X25519 mask key pair made from its 32-byte seed (the shared secret). */
int fl_sa_mask_keypair(unsigned char pk[FL_SA_BYTES],
    unsigned char sk[FL_SA_BYTES], const unsigned char seed[FL_SA_BYTES]);
/* The envelope key pair (crypto_box) made from a 32-byte seed. */
int fl_sa_box_keypair(unsigned char pk[FL_SA_BYTES],
    unsigned char sk[FL_SA_BYTES], const unsigned char seed[FL_SA_BYTES]);

/* The seed shared by clients a and b: a hash of X25519(sk, peer_pk), the
 * session and the pair.  -1 (FL_EINVAL) when peer_pk is a weak key. */
int fl_sa_pair_seed(unsigned char out[FL_SA_BYTES],
    const unsigned char sk[FL_SA_BYTES], const unsigned char peer_pk[FL_SA_BYTES],
    const unsigned char session[FL_SA_BYTES], uint32_t a, uint32_t b,
    struct fl_error *err);
/* The self-mask seed of a client from its secret b_u and the session. */
void fl_sa_self_seed(unsigned char out[FL_SA_BYTES],
    const unsigned char self_secret[FL_SCALAR_BYTES],
    const unsigned char session[FL_SA_BYTES]);
/* The published commitment to b_u, which lets the server check a rebuilt
 * secret. */
void fl_sa_commit(unsigned char out[FL_SA_BYTES],
    const unsigned char self_secret[FL_SCALAR_BYTES]);
/* The key of the Shamir polynomials a client deals in a session: from its
 * secrets and the session, so that sharing again gives the same bytes and
 * never fresh polynomials under the same envelope nonces. */
void fl_sa_poly_key(unsigned char key[FL_RNG_KEYBYTES],
    const unsigned char mask_seed[FL_SCALAR_BYTES],
    const unsigned char self_secret[FL_SCALAR_BYTES],
    const unsigned char box_seed[FL_SA_BYTES],
    const unsigned char session[FL_SA_BYTES]);

/* One share envelope: from's shares of its two secrets, for `to`. */
struct fl_sa_share {
	unsigned char mask[FL_SCALAR_BYTES];    /* of the mask-key seed */
	unsigned char self[FL_SCALAR_BYTES];    /* of the self-mask secret */
};

int fl_sa_seal(unsigned char box[FL_SA_BOXBYTES], const struct fl_sa_share *s,
    const unsigned char session[FL_SA_BYTES], uint32_t from, uint32_t to,
    const unsigned char from_sk[FL_SA_BYTES],
    const unsigned char to_pk[FL_SA_BYTES], struct fl_error *err);
/* -1 (FL_EFORMAT) when the box fails authentication, was made for
 * another session, sender or recipient, or holds a share that is not a
 * canonical scalar. */
int fl_sa_open(struct fl_sa_share *s, const unsigned char box[FL_SA_BOXBYTES],
    const unsigned char session[FL_SA_BYTES], uint32_t from, uint32_t to,
    const unsigned char to_sk[FL_SA_BYTES],
    const unsigned char from_pk[FL_SA_BYTES], struct fl_error *err);

/*
 * Masks.  A term is one keystream added to (or subtracted from) a tensor:
 * word i is the little-endian uint32 at bytes [4i, 4i + 4) of the ChaCha20
 * keystream of the tensor key, cut to `bits` bits.  fl_sa_mask applies
 * every term to data (n words, values < 2^bits) mod 2^bits, in cache-sized
 * tiles, on up to nthreads threads; the result does not depend on them.
 */
struct fl_sa_term {
	unsigned char key[FL_SA_BYTES];
	int negate;
};

void fl_sa_tensor_key(unsigned char out[FL_SA_BYTES],
    const unsigned char seed[FL_SA_BYTES], const char *name, unsigned bits,
    uint64_t numel);
int fl_sa_mask(uint32_t *data, uint64_t n, unsigned bits,
    const struct fl_sa_term *terms, size_t nterms, int nthreads,
    struct fl_error *err);

/*
 * Device identities and the enrolment (saident.c).  A device has one
 * long-term Ed25519 identity, made once; it signs the device's keys of
 * every round and its confirmation of the survivors.  An operator (an
 * identity the aggregation server need not hold) signs the enrolment: the
 * list of ids and identity keys allowed to take part.  A device trusts the
 * operator key pinned in its identity file, and a roster only if every
 * client in it is enrolled with the key it signed with.
 */
#define FL_SA_MAXID 64

int fl_sa_check_id(const char *id, struct fl_error *err);

/* A device's identity (kind=secagg-identity-secret; its public half is
 * kind=secagg-identity: client and pk.identity). */
struct fl_sa_identity {
	char id[FL_SA_MAXID + 1];
	unsigned char seed[FL_SA_BYTES];        /* the Ed25519 seed */
	unsigned char pk[FL_SA_BYTES];
	int pinned;                             /* operator set */
	unsigned char operator_pk[FL_SA_BYTES]; /* the enrolment key trusted */
};

/* The identity of id from its 32-byte seed, pinning operator_pk (NULL:
 * none, as for the operator's own identity). */
int fl_sa_identity_make(struct fl_sa_identity *ident, const char *id,
    const unsigned char seed[FL_SA_BYTES],
    const unsigned char *operator_pk, struct fl_error *err);
int fl_sa_identity_to_record(const struct fl_sa_identity *ident,
    struct fl_record *rec, struct fl_error *err);
int fl_sa_identity_from_record(struct fl_sa_identity *ident,
    const struct fl_record *rec, struct fl_error *err);
int fl_sa_identity_public_to_record(const struct fl_sa_identity *ident,
    struct fl_record *rec, struct fl_error *err);
/* The id and key of a kind=secagg-identity record. */
int fl_sa_identity_public_from_record(char id[FL_SA_MAXID + 1],
    unsigned char pk[FL_SA_BYTES], const struct fl_record *rec,
    struct fl_error *err);

/* Ed25519 signature of a 32-byte message digest by an identity, and its
 * check (0 valid, -1 not). */
void fl_sa_sign(unsigned char sig[FL_SA_SIGBYTES],
    const unsigned char digest[FL_SA_BYTES],
    const struct fl_sa_identity *ident);
int fl_sa_verify(const unsigned char sig[FL_SA_SIGBYTES],
    const unsigned char digest[FL_SA_BYTES],
    const unsigned char pk[FL_SA_BYTES]);

/* The enrolment (kind=secagg-enrolment): n ids (sorted, distinct) with
 * their identity keys (distinct), signed by the operator. */
struct fl_sa_enrolment {
	unsigned char operator_pk[FL_SA_BYTES];
	size_t n;
	const unsigned char (*id)[FL_SA_MAXID];   /* NUL-padded, in the record */
	const unsigned char (*pk)[FL_SA_BYTES];
};

/* One enrolled device: its id and identity key. */
struct fl_sa_member {
	char id[FL_SA_MAXID + 1];
	unsigned char pk[FL_SA_BYTES];
};

/* Sign the list of n members, in any order, as operator op: the record is
 * filled, sorted.  -1 for a bad or repeated id or key. */
int fl_sa_enrolment_make(struct fl_record *rec,
    const struct fl_sa_member *m, size_t n, const struct fl_sa_identity *op,
    struct fl_error *err);
/* Parse and check an enrolment record, its signature under its own
 * operator key, and that key against pin (NULL: any).  e points into
 * rec. */
int fl_sa_enrolment_read(struct fl_sa_enrolment *e, const struct fl_record *rec,
    const unsigned char *pin, struct fl_error *err);
/* The identity key enrolled for id, or NULL. */
const unsigned char *fl_sa_enrolment_find(const struct fl_sa_enrolment *e,
    const char *id);

/*
 * The protocol's records (saproto.c).  Each parser checks everything the
 * format promises (kind, client id, round, tensor names, dtypes and
 * shapes, hex fields) and fails with FL_EFORMAT and a one-line message.
 * Client ids are 1 to 64 of [A-Za-z0-9._-].
 */

/* A client's secrets for one round, and what it has done with them: its
 * key file (kind=secagg-secret).  A key file serves one session: the
 * first --share binds it, and it masks one update and confirms one
 * survivor set; the hashes are hex, "" until done. */
struct fl_sa_secret {
	char id[FL_SA_MAXID + 1];
	uint64_t round;
	unsigned char mask_seed[FL_SCALAR_BYTES];       /* shared by Shamir */
	unsigned char box_seed[FL_SA_BYTES];
	unsigned char self[FL_SCALAR_BYTES];            /* b_u, shared */
	unsigned char identity[FL_SA_BYTES];    /* the device's identity key */
	unsigned char operator_pk[FL_SA_BYTES]; /* the enrolment key trusted */
	char session[FL_SA_HEX];        /* bound by the first --share */
	char masked[FL_SA_HEX];         /* the update masked, and who shared */
	char confirmed[FL_SA_HEX];      /* the survivor set signed */
};

/* What a client publishes (kind=secagg-public), signed by its identity. */
struct fl_sa_public {
	char id[FL_SA_MAXID + 1];
	uint64_t round;
	unsigned char pk_mask[FL_SA_BYTES], pk_box[FL_SA_BYTES];
	unsigned char commit[FL_SA_BYTES];
	unsigned char identity[FL_SA_BYTES];
	unsigned char sig[FL_SA_SIGBYTES];
};

/* A key file for ident (which must pin an operator) and round, its
 * secrets drawn from rng. */
int fl_sa_secret_new(struct fl_sa_secret *s, const struct fl_sa_identity *ident,
    uint64_t round, struct fl_rng *rng, struct fl_error *err);
int fl_sa_secret_to_record(const struct fl_sa_secret *s,
    struct fl_record *rec, struct fl_error *err);
int fl_sa_secret_from_record(struct fl_sa_secret *s,
    const struct fl_record *rec, struct fl_error *err);
/* The public keys of s, signed by ident (the identity s was made for). */
int fl_sa_public_of(const struct fl_sa_secret *s,
    const struct fl_sa_identity *ident, struct fl_sa_public *p,
    struct fl_error *err);
/* 0 if p's signature is valid under p->identity, else -1 naming p->id. */
int fl_sa_public_verify(const struct fl_sa_public *p, struct fl_error *err);
int fl_sa_public_to_record(const struct fl_sa_public *p,
    struct fl_record *rec, struct fl_error *err);
int fl_sa_public_from_record(struct fl_sa_public *p,
    const struct fl_record *rec, struct fl_error *err);

/*
 * The roster: a kind=secagg-roster record (round, n, k, t, the corrupt
 * clients C assumed, the quorum they give and the session id) followed by
 * the n public records in client-id order.  The session id is a hash of all of it but the
 * signatures, so a client and the server agree on the session only if
 * they hold the same roster.
 */
struct fl_sa_roster {
	uint64_t round;
	uint32_t n, k, t, corrupt;
	uint32_t holders_corrupt;       /* c, from fl_secagg_check */
	uint32_t quorum;                /* confirmations needed to reveal */
	unsigned char session[FL_SA_BYTES];
	struct fl_sa_public *pub;       /* pub[i - 1] is client i */
	size_t npub;
	struct fl_sa_graph graph;
};

/* Sort pub by id, check it (distinct ids and keys, one round, (k, t, C)
 * by fl_secagg_check) and fill the session id and graph.  r takes pub
 * (malloc'd).  Signatures are not checked here: fl_sa_roster_enrolled. */
int fl_sa_roster_init(struct fl_sa_roster *r, struct fl_sa_public *pub,
    size_t n, uint32_t k, uint32_t t, uint32_t corrupt,
    struct fl_error *err);
/* Write the roster's records (head, then the public keys) to fp. */
int fl_sa_roster_write(FILE *fp, const struct fl_sa_roster *r,
    struct fl_error *err);
/* Read a roster from fp, checking its session id against its contents. */
int fl_sa_roster_read(struct fl_sa_roster *r, FILE *fp, struct fl_error *err);
/* The client number of id (1..n), or 0 if it is not in the roster. */
uint32_t fl_sa_roster_find(const struct fl_sa_roster *r, const char *id);
/* Check the roster against the enrolment: every client enrolled with the
 * identity key its keys name, and the signature of client `signed_by`'s
 * neighbours and itself valid (signed_by 0: every client's).  -1 naming
 * the first client that fails. */
int fl_sa_roster_enrolled(const struct fl_sa_roster *r,
    const struct fl_sa_enrolment *e, uint32_t signed_by,
    struct fl_error *err);
void fl_sa_roster_free(struct fl_sa_roster *r);

/* A hash of a set of client numbers (ascending) in the session, as hex:
 * what masked records, confirmations and reveals say about who shared and
 * who survived. */
void fl_sa_set_hash(char out[FL_SA_HEX], const char *what,
    const unsigned char session[FL_SA_BYTES], const uint32_t *set, size_t m);

/* A client's share envelopes (kind=secagg-shares): box[i] is for to[i];
 * commit_mask and commit_self hold the t Feldman commitments of the two
 * polynomials.  The parsed form points into the record. */
struct fl_sa_shares {
	uint32_t from;
	size_t m;
	const uint32_t *to;
	const unsigned char (*box)[FL_SA_BOXBYTES];
	const unsigned char (*commit_mask)[FL_SCALAR_BYTES];
	const unsigned char (*commit_self)[FL_SCALAR_BYTES];
};

int fl_sa_shares_from_record(struct fl_sa_shares *s,
    const struct fl_record *rec, const struct fl_sa_roster *r,
    struct fl_error *err);
int fl_sa_shares_to_record(struct fl_record *rec, const struct fl_sa_roster *r,
    const struct fl_sa_shares *s, struct fl_error *err);

/* A survivor's signature over the survivor set (kind=secagg-confirm): the
 * consistency round.  Points into the record. */
struct fl_sa_confirm {
	uint32_t from;
	char survivors[FL_SA_HEX];
	const unsigned char *sig;
};

/* The digest a confirmation signs: the session and the set's hash. */
void fl_sa_confirm_digest(unsigned char out[FL_SA_BYTES],
    const unsigned char session[FL_SA_BYTES], const char *survivors);
int fl_sa_confirm_from_record(struct fl_sa_confirm *c,
    const struct fl_record *rec, const struct fl_sa_roster *r,
    struct fl_error *err);
int fl_sa_confirm_to_record(struct fl_record *rec,
    const struct fl_sa_roster *r, const struct fl_sa_confirm *c,
    struct fl_error *err);

/* A survivor's answer to the unmask request (kind=secagg-reveal): shares of
 * the self-mask secrets of survivors (self_of) and of the mask-key seeds of
 * clients that dropped after sharing (mask_of).  Points into the record. */
struct fl_sa_reveal {
	uint32_t from;
	char survivors[FL_SA_HEX];
	size_t nself, nmask;
	const uint32_t *self_of, *mask_of;
	const unsigned char (*self_share)[FL_SCALAR_BYTES];
	const unsigned char (*mask_share)[FL_SCALAR_BYTES];
};

int fl_sa_reveal_from_record(struct fl_sa_reveal *v,
    const struct fl_record *rec, const struct fl_sa_roster *r,
    struct fl_error *err);
int fl_sa_reveal_to_record(struct fl_record *rec, const struct fl_sa_roster *r,
    const struct fl_sa_reveal *v, struct fl_error *err);

/*
 * Secret files (sakey.c): key files and identities, 0600, refused when
 * the group or others may read them, read without leaving a copy in
 * freed memory (fl_record_wipe), written atomically.
 *
 * fl_secret_open opens path for reading; with lock, it holds an
 * exclusive flock(2) on the file that is at path (a writer that replaced
 * it in the meantime is waited for), so that check-then-write steps of
 * two processes never interleave.  fl_secret_load reads the one record of
 * the open file.  fl_secret_store writes rec to path atomically, mode
 * 0600; with excl it fails (FL_EINVAL, "exists") when path exists, even
 * against a concurrent writer (link(2), not rename).  fl_secret_close
 * releases the lock.  fl_secret_forget overwrites the file with zeros,
 * syncs it and removes it; fl_secret_zeroed tells (1) whether the open
 * file is nothing but zeros, what a forget cut short between the two
 * leaves behind.
 */
int fl_secret_open(const char *path, int lock, int *fd, struct fl_error *err);
int fl_secret_load(int fd, struct fl_record *rec, struct fl_error *err);
int fl_secret_store(const char *path, const struct fl_record *rec, int excl,
    struct fl_error *err);
void fl_secret_close(int fd);
int fl_secret_forget(const char *path, struct fl_error *err);
int fl_secret_zeroed(int fd);

/*
 * Masking and unmasking whole records (samask.c).  fl_sa_ring_bits checks
 * that rec is a ring record (modulus 2^bits <= 2^32, u32 tensors, values
 * below the modulus).  fl_sa_mask_record masks rec in place as client sec
 * of roster r, with pairwise masks toward its neighbours in `shared` (U2:
 * the clients whose shares went out, ascending).  fl_sa_unmask_record
 * takes the masks out of the modular sum of the survivors' records (surv,
 * ascending) with the reveals rv, after checking them against the
 * protocol and shared_hash (U2's hash from the masked records).  A
 * secret is rebuilt from the first t shares revealed for it; when that
 * misses the owner's commitment or public key, every share is checked
 * against the owner's Feldman commitments (dealt[owner - 1], from the
 * shares file; m == 0 when absent), the ones that fail go to *faults, and
 * the secret is rebuilt from t that pass.  It fails, leaving sum
 * unspecified, when a secret has fewer than t good shares.
 */
struct fl_sa_fault {
	uint32_t from, of;      /* who revealed a bad share, of whose secret */
	int self;               /* 1: of the self-mask secret, 0: mask key */
};

struct fl_sa_faults {
	struct fl_sa_fault *v;
	size_t n, cap;
};

int fl_sa_ring_bits(const struct fl_record *rec, unsigned *bits,
    struct fl_error *err);
int fl_sa_mask_record(struct fl_record *rec, const struct fl_sa_roster *r,
    const struct fl_sa_secret *sec, const uint32_t *shared, size_t nshared,
    int nthreads, struct fl_error *err);
int fl_sa_unmask_record(struct fl_record *sum, const struct fl_sa_roster *r,
    const uint32_t *surv, size_t nsurv, const char *shared_hash,
    const struct fl_sa_reveal *rv, size_t nrv,
    const struct fl_sa_shares *dealt, struct fl_sa_faults *faults,
    int nthreads, struct fl_error *err);

/*
 * A client's steps (saclient.c), apart from its files.  Each checks what
 * a lying server could get wrong on purpose, and records in the key file
 * struct what it did (session, masked, confirmed); the caller stores the
 * key file, under its lock, before anything leaves the device.
 *
 * fl_sa_client_find: this client's number in r, after checking the round
 * and that r lists exactly its keys, and that r is of the session the key
 * file is bound to (bound: that it is bound at all).
 * fl_sa_client_accept: --share's checks of a roster: every client
 * enrolled in e with the identity key it signed with, the signatures of
 * this client's neighbours valid, and the roster's n, k, t and C those of
 * the policy.
 * fl_sa_client_share: the share envelopes and Feldman commitments of
 * client me into rec, the polynomials derived from the secrets and the
 * session (the same bytes every time); binds s to r's session.
 * fl_sa_received_read: the shares file: who shared (U2) and the
 * envelopes for this client, opened and checked when open is 1 (else
 * only counted); fails when fewer than t of its holders shared.
 * Messages about a record start "record N: ".
 * fl_sa_client_mask: mask the update rec (refusing what the release
 * policy refuses, noise planned for more shares than the roster has
 * clients, and a second, different update in the session).
 * fl_sa_survivors_read: the server's survivor list (one id per line;
 * blank lines and '#' lines skipped), ascending; messages "line N: ".
 * fl_sa_client_confirm: the consistency round: sign the survivor list,
 * once per session, after Bonawitz et al.'s checks (every survivor
 * shared, this client is one, at least the quorum); FL_EINVAL when the
 * key file or identity is at fault (another device's identity, no update
 * masked), FL_EFORMAT when the list is.
 * fl_sa_client_reveal: the answer to the unmask request, only for the
 * list this client confirmed, and only with a quorum of valid
 * confirmations of it from distinct survivors in the stream
 * confirmations: one share per holder, of the self-mask secret of a
 * survivor or of the mask key of a client that shared and dropped.
 */
struct fl_sa_received {
	uint32_t *shared;               /* U2, ascending */
	size_t nshared;
	struct fl_sa_share *mine;       /* mine[c - 1]: from client c */
	unsigned char *has;             /* has[c - 1]: an envelope came */
};

int fl_sa_client_find(const struct fl_sa_roster *r,
    const struct fl_sa_secret *s, int bound, uint32_t *me,
    struct fl_error *err);
int fl_sa_client_accept(const struct fl_sa_roster *r, uint32_t me,
    const struct fl_sa_enrolment *e, const struct fl_sa_policy *pol,
    struct fl_error *err);
int fl_sa_client_share(struct fl_record *rec, const struct fl_sa_roster *r,
    uint32_t me, struct fl_sa_secret *s, struct fl_error *err);
int fl_sa_received_read(struct fl_sa_received *rc, FILE *fp,
    const struct fl_sa_roster *r, const struct fl_sa_secret *s, uint32_t me,
    int open, struct fl_error *err);
void fl_sa_received_free(struct fl_sa_received *rc, uint32_t n);
int fl_sa_client_mask(struct fl_record *rec, const struct fl_sa_roster *r,
    struct fl_sa_secret *s, const struct fl_sa_received *rc, int nthreads,
    struct fl_error *err);
int fl_sa_survivors_read(FILE *fp, const struct fl_sa_roster *r,
    uint32_t **surv, size_t *m, struct fl_error *err);
int fl_sa_client_confirm(struct fl_record *rec, const struct fl_sa_roster *r,
    uint32_t me, struct fl_sa_secret *s, const struct fl_sa_identity *ident,
    const struct fl_sa_received *rc, const uint32_t *surv, size_t m,
    struct fl_error *err);
int fl_sa_client_reveal(struct fl_record *rec, const struct fl_sa_roster *r,
    uint32_t me, const struct fl_sa_secret *s,
    const struct fl_sa_received *rc, const uint32_t *surv, size_t m,
    FILE *confirmations, struct fl_error *err);

/* What a key file records of the update it masked, so that it masks one
 * update only: a keyed digest (key from sec's secrets, the session and
 * U2's hash) of the update's metadata and tensors (names, dtypes, shapes,
 * bytes), whatever its compression. */
void fl_sa_masked_digest(char out[FL_SA_HEX], const struct fl_record *rec,
    const struct fl_sa_secret *sec, const unsigned char session[FL_SA_BYTES],
    const char *shared_hash);

/*
 * What may leave a device in clear (release.c).  A masked record carries
 * the update's tensors masked and metadata that does not depend on the
 * data: kind (update), round, arch, client, modulus, the codec's q.* and
 * the mechanism's dp.* parameters, and the protocol's own keys.
 * fl_release_check_masked fails (FL_EFORMAT) naming the first other key,
 * and the way to carry what it says.
 */
int fl_release_check_masked(const struct fl_record *rec, struct fl_error *err);

/* 1 if key of rec may travel in clear beside masked values (the same for
 * every client of a round), else 0 with *why the advice for the keys
 * fltools knows (weight, loss, clients, ...) or NULL.  rec (may be NULL)
 * decides dp.q and dp.steps: public at a public DP-SGD rate (dp.rate). */
int fl_release_key_public(const struct fl_record *rec, const char *key,
    const char **why);

/* Drop the keys fltools writes on a device that depend on the client's
 * data (weight: the example count, loss), from a record about to be
 * released (fl-clip-noise --clip). */
void fl_release_strip(struct fl_record *rec);

/* The training loss carried inside the clipped, noised and masked vector
 * (fl-clip-noise --loss-bound): a tensor of one float value, in units of
 * the record's dp.loss-scale. */
#define FL_LOSS_TENSOR "fl.loss"

/* Take the carried loss out of an aggregate: *loss = its fl.loss value /
 * dp.loss-scale (a mean loss when the aggregate is a mean), the tensor
 * removed; *loss = NAN and nothing changed when there is none.  -1
 * (FL_EFORMAT) when the tensor is not one float value or has no positive
 * dp.loss-scale. */
int fl_release_take_loss(struct fl_record *agg, double *loss,
    struct fl_error *err);

/* Client ids (and Shamir x-coordinates) in ascending order. */
void fl_sort_u32(uint32_t *v, size_t n);

/* ---- sparsification (sparse.c) ---- */

/*
 * Sparsification for fl-quantize(1) --rand-k and --top-k.  Index sets are
 * k distinct indices in [0, d), ascending.
 *
 * fl_sparse_k: the K of a spec, "N" (a count) or "P%" (P percent of d,
 * 0 < P <= 100, to the nearest integer, at least 1).  -1 (FL_EINVAL) for
 * bad syntax, K < 1, d = 0 or K > d.
 *
 * fl_sparse_key: the rand-k key from a PUBLIC seed text shared by every
 * client of a round (a hash of the text, then a purpose key of its own).
 * fl_randk_indices: k indices uniform without replacement (Floyd's
 * algorithm, fl_rng_below on the key's ChaCha20 stream): the same key gives
 * the same set on every machine.  -1 (FL_EINVAL: k not in [1, d];
 * FL_ENOMEM).
 *
 * fl_topk_indices: the k indices of the largest |x[i]|, ties to the lower
 * index (so the set is unique), by quickselect in O(d) expected time (heap
 * sort past a depth limit).  -1 (FL_EINVAL: k not in [1, d] or a value
 * that is not finite; FL_ENOMEM: it needs 8 d bytes).
 *
 * fl_sparse_gather: out[j] = x[idx[j]] * scale.  fl_sparse_scatter: x[0..d)
 * zero but x[idx[j]] = vals[j].
 *
 * Error feedback (Stich et al. 2018): fl_ef_add: p += e (update plus
 * residual), -1 (FL_EINVAL) when a sum is not finite, p then partly
 * updated.  fl_ef_residual: e = p, minus sent[j] at idx[j] (what was not
 * sent); e may be p.
 */
int fl_sparse_k(const char *spec, uint64_t d, uint64_t *k,
    struct fl_error *err);
void fl_sparse_key(unsigned char key[FL_RNG_KEYBYTES], const char *seed);
int fl_randk_indices(uint64_t d, uint64_t k,
    const unsigned char key[FL_RNG_KEYBYTES], uint64_t *idx,
    struct fl_error *err);
int fl_topk_indices(const float *x, uint64_t d, uint64_t k, uint64_t *idx,
    struct fl_error *err);
void fl_sparse_gather(const float *x, const uint64_t *idx, uint64_t k,
    double scale, float *out);
void fl_sparse_scatter(float *x, uint64_t d, const uint64_t *idx,
    const float *vals, uint64_t k);
int fl_ef_add(float *p, const float *e, uint64_t d, struct fl_error *err);
void fl_ef_residual(float *e, const float *p, uint64_t d, const uint64_t *idx,
    const float *sent, uint64_t k);

/*
 * Sparse records (fl-quantize(1) codecs randk and topk): per float tensor
 * of the update, in order, an f32 vector of its kept values, and for top-k
 * their flat indices within the tensor after it (u32, NAME:idx); other
 * tensors (the clip indicator) pass through.  The kept values vals[0..k)
 * sit at the global indices idx[0..k) (ascending) of the concatenation of
 * the float tensors.
 *
 * fl_sparse_shapes: q.shapes, the float tensors' shapes ("[20,10] [50]"),
 * into buf; -1 (FL_ELIMIT) if they do not fit in cap.
 * fl_sparse_build: the tensors of the sparse record of rec into out.
 * fl_sparse_expand: the dense tensors back from a sparse record rec of k
 * values out of dim, shaped by shapes: at idx (rand-k, which stores none)
 * or, with idx NULL, at the record's index tensors (top-k); values divided
 * by divisor (a count, for a mean).  -1 (FL_EFORMAT) when the record does
 * not fit its metadata.
 */
int fl_sparse_shapes(const struct fl_record *rec, char *buf, size_t cap,
    struct fl_error *err);
int fl_sparse_build(struct fl_record *out, const struct fl_record *rec,
    const uint64_t *idx, const float *vals, uint64_t k, int with_indices,
    struct fl_error *err);
int fl_sparse_expand(struct fl_record *out, const struct fl_record *rec,
    const char *shapes, uint64_t k, uint64_t dim, const uint64_t *idx,
    double divisor, struct fl_error *err);

/* ---- input sniffing ---- */

/*
 * Name the format of a buffer that is not FLT ("gzip", "zstd", "a numpy
 * .npy file", "a safetensors file"), or NULL when it is not recognised.
 */
const char *fl_sniff_format(const unsigned char *buf, size_t len);

#endif
