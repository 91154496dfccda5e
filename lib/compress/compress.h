/* SPDX-License-Identifier: ISC */
/*
 * compress/compress.h - the codecs of an update: rotation, quantizers, sparsification.
 * Part of libfl (fl.h includes every part; see fl(7) for the layers).
 */
#ifndef FL_COMPRESS_H
#define FL_COMPRESS_H

#include "base/base.h"
#include "format/format.h"
#include "privacy/privacy.h"

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

/* ---- the record codecs of fl-quantize(1) (codec.c) ---- */

/*
 * Each encoder reads an update record rec (float tensors, and a u32
 * clip.indicator that passes through unchanged) and writes the encoded
 * record to out: cleared first, rec's metadata copied, the codec's keys
 * (q.codec, q.bits, ...) added.  Each decoder does the reverse.  An error
 * is -1 with err holding one line about the record: FL_EINVAL for a record
 * the codec refuses, FL_EFORMAT for an encoded record that does not fit
 * its metadata, FL_ENOMEM.  The caller owns both records.
 *
 * A decoding run: its options, and what it remembers from record to record
 * (fl_decode_run_init, then fl_decode_run_free).  The caller names each
 * record in file and recno before decoding it, for the message about
 * records of different rounds.
 */
struct fl_decode_run {
	int mean;               /* divide a sum by its clients (--mean) */
	double denominator;     /* ... or by this public count; NAN: no */
	const char *file;       /* the record being decoded: where from */
	unsigned long recno;
	char *seed;             /* the first ring record's rotation seed */
	const char *seed_file;  /* ... and where it came from */
	unsigned long seed_recno;
};

void fl_decode_run_init(struct fl_decode_run *run, int mean,
    double denominator);
void fl_decode_run_free(struct fl_decode_run *run);

/* ---- ring encoding of a record (codec-ring.c) ---- */

/*
 * The ring encoding for secure aggregation (fl-quantize --ring): the float
 * values in one vector padded to dpad (the next power of two with the
 * rotation), rotated by the randomized Hadamard transform of the public
 * seed, scaled by the global scale and rounded stochastically (key: the
 * record's PRIVATE rounding key) to the integers mod 2^bits, with
 * conditional re-rounding to the bound.  Each float tensor becomes u32 of
 * its shape, the padding goes to q.pad.  A rand-k record (q.codec=randk)
 * is encoded as its K values divided by d/K again (in rec, in place); its
 * keys move to q.sparse.*.  The L2 norm must be within the clip bound
 * (p->clip, or NAN: the record's dp.clip), and the record not yet noised.
 *
 * info->scale: the scale used; 0 after a failure because the ring is too
 * small for the clients at this clip and noise (a message about the
 * options, not the record).  info->vnmse: with p->stats, the error of
 * decoding this record alone, over the sum of squares; else NAN.
 *
 * fl_ring_decode: a ring record, or a modular sum of ring records of one
 * round (one rotation seed in the run), back to f32, divided as the run
 * says.  One whose values were rand-k values comes back as that rand-k
 * record (values times d/K, q.sparse.* keys restored; the mean is left to
 * fl_sparse_decode).
 */
struct fl_ring_params {
	int bits;               /* the ring Z_2^bits: 2 to 32 */
	uint64_t clients;       /* the clients to be summed */
	double clip;            /* L2 bound; NAN: the record's dp.clip */
	double noise;           /* noise multiplier to be added later */
	double scale;           /* NAN: from bits, clients, clip, noise */
	double beta;            /* conditional rounding, 0: off */
	double modclip;         /* the wrap-around probability allowed */
	int rotate;             /* 1: randomized Hadamard, 0: none */
	const char *rotation_seed;      /* NULL: round-N of the record */
	int seeded;             /* the key came from a text: q.seeded=yes */
	int stats;              /* measure info->vnmse */
};

struct fl_ring_info {
	double scale;
	double vnmse;
};

int fl_ring_encode(struct fl_record *out, struct fl_record *rec,
    const struct fl_ring_params *p, const unsigned char key[FL_RNG_KEYBYTES],
    struct fl_ring_info *info, struct fl_error *err);
int fl_ring_decode(struct fl_record *out, const struct fl_record *rec,
    struct fl_decode_run *run, struct fl_error *err);

/* ---- plain stochastic rounding of a record (codec-sr.c) ---- */

/*
 * Codec sr (fl-quantize --bits): each float tensor, or with per_tensor 0
 * the whole record, gets the grid of 2^bits levels (bits 1 to 16) from -M
 * to M (M: its largest magnitude); values are rounded to a neighbouring
 * level without bias, uniforms from the record's PRIVATE key.  Below 8
 * bits the levels are packed into u8 [ceil(n bits / 8)], 8 bits keep the
 * shape in u8, 9 to 16 in u16; q.layout (u64 [tensors, 9]: rank, dims) and
 * q.range (f64 [tensors]: M) let decoding restore them.  seeded marks the
 * record q.seeded=yes.  *vnmse: the error over the sum of squares.
 */
int fl_sr_encode(struct fl_record *out, const struct fl_record *rec,
    int bits, int per_tensor, int seeded,
    const unsigned char key[FL_RNG_KEYBYTES], double *vnmse,
    struct fl_error *err);
int fl_sr_decode(struct fl_record *out, const struct fl_record *rec,
    struct fl_error *err);

/* ---- EDEN (codec-eden.c) ---- */

/*
 * Codec eden (fl-quantize --eden; Vargaftik et al. 2022): the values
 * rotated (y = H D x, padded to a power of two; D from the PUBLIC
 * rotation_seed, or NULL: round-N:CLIENT of the record, each client its
 * own), normalised by ||x||, each rounded to the nearest of the 2^bits
 * (1 to 4) Lloyd-Max levels of N(0, 1), and sent with the one scale that
 * makes the estimate unbiased over the rotation.  Levels are packed per
 * tensor as in codec sr; q.layout holds the shapes, q.range the scale.
 * vnmse: NULL, or where to put the error of decoding the record alone.
 */
int fl_eden_encode(struct fl_record *out, const struct fl_record *rec,
    int bits, const char *rotation_seed, double *vnmse,
    struct fl_error *err);
int fl_eden_decode(struct fl_record *out, const struct fl_record *rec,
    struct fl_error *err);

/* ---- sparsification of a record (codec-sparse.c) ---- */

/*
 * Codecs randk and topk (fl-quantize --rand-k, --top-k): the K (p->k, "N"
 * or "P%" of d) coordinates kept, rand-k's from the PUBLIC seed (p->seed,
 * NULL: round-N of the record) and scaled by d/K, top-k's the largest
 * magnitudes; the record as fl_sparse_build makes it, with q.k, q.dim,
 * q.shapes (and q.sparse-seed).  *vnmse: the error over the sum of squares.
 *
 * Top-k may carry error feedback: ef (NULL: none) holds the residual, a
 * kind=state record with an f32 tensor per float tensor of the updates;
 * ef->loaded 0 means zero (it is then made for this update).  The keys
 * are chosen from update plus residual, and the residual becomes what was
 * not sent; ef->used is set.  On failure *fault says what the message is
 * about: the record, or the residual (FL_SPARSE_NEW: making it;
 * FL_SPARSE_MATCH: its tensors do not match the update's;
 * FL_SPARSE_STATE: its values; FL_SPARSE_SUM: update plus residual).
 *
 * fl_ef_state_check: a residual read from a file must be kind=state, and
 * q.codec topk if it has one.
 *
 * fl_sparse_decode: a rand-k record, or a sum of them, or one top-k record
 * (topk 1), back to dense f32 tensors, divided as the run says.
 */
struct fl_sparse_params {
	const char *k;          /* "N" or "P%" */
	int topk;               /* 1: top-k, 0: rand-k */
	const char *seed;       /* rand-k: NULL, round-N of the record */
};

struct fl_ef_state {
	struct fl_record rec;   /* the residual */
	int loaded;             /* rec holds one (read, or the last record's) */
	int used;               /* a record went through: save it */
};

enum fl_sparse_fault {
	FL_SPARSE_RECORD,
	FL_SPARSE_NEW,
	FL_SPARSE_MATCH,
	FL_SPARSE_STATE,
	FL_SPARSE_SUM
};

int fl_sparse_encode(struct fl_record *out, const struct fl_record *rec,
    const struct fl_sparse_params *p, struct fl_ef_state *ef, double *vnmse,
    enum fl_sparse_fault *fault, struct fl_error *err);
int fl_ef_state_check(const struct fl_record *state, struct fl_error *err);
int fl_sparse_decode(struct fl_record *out, const struct fl_record *rec,
    const struct fl_decode_run *run, int topk, struct fl_error *err);

/* ---- decoding any codec (codec-decode.c) ---- */

/* A record of any codec above (by its q.codec), or a sum, back to f32:
 * rand-k values that went through the ring are decoded twice. */
int fl_codec_decode(struct fl_record *out, const struct fl_record *rec,
    struct fl_decode_run *run, struct fl_error *err);

#endif
