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

#endif
