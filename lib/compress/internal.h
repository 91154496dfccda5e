/* SPDX-License-Identifier: ISC */
/* compress/internal.h - what the record codecs of libfl share (codec.c):
 * the names of the codecs' side tensors, the metadata a decoder needs, the
 * checks every encoder makes of its input, packed levels and the mean of a
 * decoded sum; not installed. */
#ifndef FL_COMPRESS_INTERNAL_H
#define FL_COMPRESS_INTERNAL_H

#include "compress/compress.h"

#define FL_Q_INDICATOR "clip.indicator"
#define FL_Q_PAD "q.pad"
#define FL_Q_LAYOUT "q.layout"  /* codec sr and eden: shapes */
#define FL_Q_RANGE "q.range"    /* codec sr and eden: scales */
#define FL_Q_SHAPES "q.shapes"  /* codec randk and topk */

/* Metadata key of rec, which a decoder needs: NULL (FL_EFORMAT, "missing
 * quantization metadata 'KEY'") when absent. */
const char *fl_codec_need(const struct fl_record *rec, const char *key,
    struct fl_error *err);
/* The same as a number in [min, max]: a bad value fails with "metadata
 * KEY 'V': why". */
int fl_codec_need_u64(const struct fl_record *rec, const char *key,
    uint64_t min, uint64_t max, uint64_t *out, struct fl_error *err);
int fl_codec_need_double(const struct fl_record *rec, const char *key,
    double min, double max, double *out, struct fl_error *err);
/* Metadata key = v, as the shortest number text. */
int fl_codec_set_u64(struct fl_record *rec, const char *key, uint64_t v,
    struct fl_error *err);
int fl_codec_set_double(struct fl_record *rec, const char *key, double v,
    struct fl_error *err);

/* An encoder takes plain records: one with a q.codec fails (FL_EINVAL). */
int fl_codec_refuse_encoded(const struct fl_record *rec, struct fl_error *err);

/*
 * The tensors an encoder takes: every tensor but the clip indicator (which
 * must be u32) a float tensor, not named like the codecs' own tensors,
 * with finite values.  *d: their number of values (at least one); *nf
 * (may be NULL): their count; *ss (may be NULL): their sum of squares.
 * what names the encoder in the messages.  -1 (FL_EINVAL) otherwise.
 */
int fl_codec_input(const struct fl_record *rec, const char *what,
    uint64_t *d, size_t *nf, double *ss, struct fl_error *err);

/* The float tensors of rec as one f32 vector x (f32 copied, f64
 * narrowed); -1 (FL_EINVAL) naming the first value that does not fit. */
int fl_codec_gather(const struct fl_record *rec, float *x,
    struct fl_error *err);

/* Tensor t into out as it is (the clip indicator passing through). */
int fl_codec_copy(struct fl_record *out, const struct fl_tensor *t,
    struct fl_error *err);

/* Drop the codec's keys from a decoded record: q.* and modulus. */
void fl_codec_drop_keys(struct fl_record *rec);

/* n levels of b bits (b < 8) packed least significant bit first, and
 * level j of a packed tensor of nbytes bytes. */
void fl_codec_pack(unsigned char *out, const unsigned char *lv, uint64_t n,
    int b);
unsigned fl_codec_unpack(const unsigned char *pk, uint64_t nbytes,
    uint64_t j, int b);

/* What a decoded sum is divided by (1 unless run->mean and is_sum: the
 * public denominator, or the record's clients), and the marks of a mean
 * on the decoded record (agg=mean, agg.denominator). */
int fl_codec_divisor(const struct fl_decode_run *run,
    const struct fl_record *rec, int is_sum, double *divisor,
    struct fl_error *err);
int fl_codec_mark_mean(const struct fl_decode_run *run,
    struct fl_record *out, double divisor, struct fl_error *err);

#endif
