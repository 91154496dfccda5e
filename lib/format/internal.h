/* SPDX-License-Identifier: ISC */
/* format/internal.h - what the record files share: the header text, tensors laid over a payload; not installed. */
#ifndef FL_FORMAT_INTERNAL_H
#define FL_FORMAT_INTERNAL_H

#include "base/internal.h"
#include "format/format.h"

/* fl_tensor_add over bytes already in rec->raw (within rawcap): the
 * tensor keeps them instead of being zero-filled (tensor.c). */
struct fl_tensor *fl_tensor_add_over(struct fl_record *rec, const char *name,
    enum fl_dtype dtype, int rank, const uint64_t *dims, struct fl_error *err);

/* Header text (header.c). */
int fl_header_parse(struct fl_record *rec, const char *text, size_t len,
    const struct fl_limits *lim, struct fl_error *err);
int fl_header_format(const struct fl_record *rec, char **out, size_t *len,
    struct fl_error *err);

/* Decimal text (what strtod takes, whole) to f16 or bf16 bits, correctly
 * rounded (half.c): 0, or -1 if s is not a number. */
int fl_half_parse(enum fl_dtype dt, const char *s, uint16_t *out);

/* Reverse the bytes of every element of 2 to 8 bytes that rec's tensors
 * have in payload bytes [off, off + len), held at p (byteorder.c).  The
 * reader and writer call it on big-endian hosts only (FL_HOST_BIG_ENDIAN). */
void fl_payload_swap(const struct fl_record *rec, size_t off, unsigned char *p,
    size_t len);

/* Raw payload size that the tensor table of rec implies; -1 on overflow. */
int fl_tensors_rawlen(const struct fl_record *rec, size_t *out);

#endif
