/* SPDX-License-Identifier: ISC */
/*
 * format/format.h - the FLT v1 record: dtypes, shapes, metadata, tensors, reading, writing, atomic output, tensor summaries, tensor selection and numbers as text.
 * Part of libfl (fl.h includes every part; see fl(7) for the layers).
 */
#ifndef FL_FORMAT_H
#define FL_FORMAT_H

#include "base/base.h"

/* The record format (flt(5)).  Caps are checked before any allocation. */
#define FL_MAGIC "\x89" "FLT\r\n\x1a\n"
#define FL_FORMAT_VERSION 1
#define FL_PREAMBLE_SIZE 32
#define FL_FLAG_ZLIB 0x01u
#define FL_MAX_HEADER (1u << 20)        /* header bytes */
#define FL_MAX_KEY 64                   /* metadata key bytes */
#define FL_MAX_VALUE 4096               /* metadata value bytes */
#define FL_MAX_NAME 255                 /* tensor name bytes */
#define FL_MAX_META 1024                /* metadata entries per record */
#define FL_MAX_TENSORS 65536            /* tensors per record */
#define FL_MAX_RANK 8                   /* dimensions per tensor */
#define FL_DEFAULT_MAX_PAYLOAD (UINT64_C(4) << 30) /* raw payload bytes */

/* The codes are stable (fl-mask's transcript hashes them): new dtypes are
 * appended. */
enum fl_dtype {
	FL_F32, FL_F64, FL_I8, FL_U8, FL_I16, FL_U16, FL_I32, FL_U32,
	FL_I64, FL_U64, FL_F16, FL_BF16,
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

/* ---- dtypes ---- */

/* "f32", "u32", ...; NULL for an invalid value. */
const char *fl_dtype_name(enum fl_dtype dt);

/* Element size in bytes; 0 for an invalid value. */
size_t fl_dtype_size(enum fl_dtype dt);

/* Parse a dtype name of len bytes.  Returns 0, or -1 if unknown. */
int fl_dtype_parse(const char *s, size_t len, enum fl_dtype *out);

/* 1 for f32, f64, f16 and bf16, 0 for the integer types. */
int fl_dtype_is_float(enum fl_dtype dt);

/* 1 for f16 and bf16, the half-precision floats, 0 otherwise. */
int fl_dtype_is_half(enum fl_dtype dt);

/* 1 for the signed integer types, 0 otherwise. */
int fl_dtype_is_signed_int(enum fl_dtype dt);

/* The values an integer dtype holds: [*min, *max] (both 0 for a float
 * dtype). */
void fl_dtype_int_range(enum fl_dtype dt, int64_t *min, uint64_t *max);

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
 * The number under key, in [min, max]: returns 1 with *out set, 0 when the
 * key is absent (*out untouched), or -1 (FL_EFORMAT) when the value is not
 * such a number, as "metadata KEY 'VALUE': why" with the value escaped.
 */
int fl_meta_double(const struct fl_record *rec, const char *key, double min,
    double max, double *out, struct fl_error *err);
int fl_meta_u64(const struct fl_record *rec, const char *key, uint64_t min,
    uint64_t max, uint64_t *out, struct fl_error *err);

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

/* Element i of t as a double (exact for every value of 32-bit types and
 * of f16 and bf16). */
double fl_tensor_get(const struct fl_tensor *t, uint64_t i);

/* Element i of an unsigned (fl_tensor_get_u64) or signed (_i64) integer
 * tensor, widened exactly; 0 for a tensor of another kind. */
uint64_t fl_tensor_get_u64(const struct fl_tensor *t, uint64_t i);
int64_t fl_tensor_get_i64(const struct fl_tensor *t, uint64_t i);

/* Store element i of an integer tensor: v if its dtype is signed, else u,
 * narrowed to the dtype (the caller checked the range with
 * fl_dtype_int_range).  Other dtypes are left alone. */
void fl_tensor_set_int(struct fl_tensor *t, uint64_t i, int64_t v,
    uint64_t u);

/* ---- half precision (half.c) ---- */

/*
 * f16 (IEEE 754 binary16: 1 sign, 5 exponent, 10 fraction bits) and bf16
 * (bfloat16: the upper 16 bits of an f32) elements, as their bits; dt is
 * FL_F16 or FL_BF16.  Widening to float is exact.  Narrowing rounds the
 * exact value once, to nearest with ties to even (fl_half_toward_zero:
 * toward zero, so the magnitude never grows): subnormals are rounded as
 * well, values past the largest finite (f16 65504) become infinite (toward
 * zero: the largest finite), and a NaN stays a NaN, keeping its sign and
 * the top bits of its payload (f16 -> f32 -> f16 gives every pattern back).
 */
float fl_half_to_float(enum fl_dtype dt, uint16_t h);
uint16_t fl_half_from_float(enum fl_dtype dt, float x);
uint16_t fl_half_from_double(enum fl_dtype dt, double x);
uint16_t fl_half_toward_zero(enum fl_dtype dt, double x);

/* Shortest text that reads back (fl-pack, fl_values_parse) to the same
 * bits: at most 5 significant digits for f16, 4 for bf16. */
char *fl_format_half(char buf[FL_NUMBUF], enum fl_dtype dt, uint16_t h);

/*
 * Half tensors computed in f32 (widen.c): fl_record_widen turns every f16
 * and bf16 tensor of rec into an f32 tensor of the same name, shape and
 * place (exact), and, if h is not NULL, notes their names and dtypes in h
 * (freed with fl_halves_free).  fl_record_narrow turns back each f32 or
 * f64 tensor of rec whose name h holds, rounding to nearest (ties to
 * even); other tensors, new ones included, keep their dtypes.  A finite
 * value that overflows the half dtype fails it (FL_ELIMIT, naming the
 * tensor and the element).  Both replace the payload: saved pointers are
 * invalid afterwards; on failure rec is unchanged.
 */
struct fl_halves {
	size_t n;
	char **names;           /* sorted */
	enum fl_dtype *dtypes;
};

int fl_record_widen(struct fl_record *rec, struct fl_halves *h,
    struct fl_error *err);
int fl_record_narrow(struct fl_record *rec, const struct fl_halves *h,
    struct fl_error *err);
void fl_halves_free(struct fl_halves *h);

/* Every float tensor of rec to the float dtype dt (f16, bf16, f32 or
 * f64), each value rounded once to nearest (ties to even); integer
 * tensors keep theirs.  A finite value that overflows dt fails it
 * (FL_ELIMIT, naming the tensor and the element) and leaves rec as it
 * was; a dt that is not a float dtype is FL_EINVAL.  Replaces the payload
 * when anything changes: saved pointers are invalid afterwards. */
int fl_record_cast(struct fl_record *rec, enum fl_dtype dt,
    struct fl_error *err);

/* ---- tensor selection (select.c) ---- */

/*
 * Which tensors of a record a program changes: --only and --exclude glob
 * patterns (fnmatch(3), no flags: '*' crosses '.' and '/') on tensor
 * names.  A tensor is selected when it matches an --only pattern (any
 * tensor, without --only), matches no --exclude pattern, and is a float
 * tensor (f32, f64, f16, bf16) or is named by an --only pattern without
 * glob syntax: integer tensors are never selected by a wildcard or by
 * default.  fl_select_add takes one pattern or a comma-separated list
 * (names have no commas), checked: tensor-name characters and glob syntax
 * only, '[' closed (FL_EINVAL).
 */
struct fl_select {
	size_t n;               /* patterns */
	char **pat;
	unsigned char *exclude; /* per pattern: 1 --exclude, 0 --only */
	size_t nonly;           /* --only patterns among them */
};

enum fl_select_why {
	FL_SELECT_YES,          /* selected */
	FL_SELECT_EXCLUDED,     /* left out by the patterns */
	FL_SELECT_INTEGER       /* an integer tensor not named by --only */
};

void fl_select_init(struct fl_select *s);
void fl_select_free(struct fl_select *s);
int fl_select_add(struct fl_select *s, int exclude, const char *patterns,
    struct fl_error *err);
/* 1 when a pattern was given. */
int fl_select_active(const struct fl_select *s);
int fl_select_match(const struct fl_select *s, const struct fl_tensor *t);
enum fl_select_why fl_select_why(const struct fl_select *s,
    const struct fl_tensor *t);

/*
 * The selection on one record (FL_EFORMAT): every pattern must act (an
 * --only pattern select a tensor, an --exclude pattern leave out one
 * that it matches) and at least one tensor must be selected.  The tensors
 * named in keep (NULL-terminated list, or NULL), a program's own, are not
 * counted.
 */
int fl_select_check(const struct fl_select *s, const struct fl_record *rec,
    const char *const *keep, struct fl_error *err);

/*
 * fl_select_split moves every tensor of rec that is not selected (and not
 * in keep) into aside, in order (aside NULL: drops them); fl_select_join
 * appends aside's tensors, untouched, after rec's (FL_EFORMAT when rec
 * has a tensor of that name).  Both move payloads: saved pointers are
 * invalid afterwards.
 */
int fl_select_split(const struct fl_select *s, struct fl_record *rec,
    const char *const *keep, struct fl_record *aside, struct fl_error *err);
int fl_select_join(struct fl_record *rec, const struct fl_record *aside,
    struct fl_error *err);

/*
 * The names of aside's tensors, comma-separated, into buf (n bytes: at
 * most FL_MAX_VALUE + 1 for a metadata value; FL_ELIMIT when longer), and
 * back: fl_select_take moves the tensors of rec named in such a list into
 * aside (FL_EFORMAT for a name rec does not have).
 */
int fl_select_names(const struct fl_record *aside, char *buf, size_t n,
    struct fl_error *err);
int fl_select_take(struct fl_record *rec, const char *names,
    struct fl_record *aside, struct fl_error *err);

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

/* ---- numbers as text ---- */

/* How many numbers text holds (separated by commas and white space; '#'
 * starts a comment that runs to the end of the line). */
size_t fl_values_count(const char *text, size_t len);

/*
 * Parse exactly t->numel numbers from text into t's data, checking each
 * against the dtype's range (floats also accept nan and inf; decimals are
 * rounded correctly to the dtype, f16 and bf16 included).  Errors name
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

/* ---- input sniffing ---- */

/*
 * Name the format of a buffer that is not FLT ("gzip", "zstd", "a numpy
 * .npy file", "a safetensors file"), or NULL when it is not recognised.
 */
const char *fl_sniff_format(const unsigned char *buf, size_t len);

#endif
