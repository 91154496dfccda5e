/* SPDX-License-Identifier: ISC */
/* secagg/internal.h - what the secure-aggregation files of libfl share: the
 * domain-separated hash and the checked record fields; not installed. */
#ifndef FL_SECAGG_INTERNAL_H
#define FL_SECAGG_INTERNAL_H

#include <sodium.h>

#include "format/internal.h"
#include "secagg/secagg.h"

/* A BLAKE2b state (outlen bytes, optional key) opened with a domain
 * string, NUL included, so that no input of one purpose can be read as
 * the input of another (secagg.c). */
void fl_sa_hash_begin(crypto_generichash_state *st, const unsigned char *key,
    size_t keylen, size_t outlen, const char *domain);

/* Fields of a protocol record, checked (sawire.c).  Each fails with
 * FL_EFORMAT and a message naming the field. */
int fl_sa_need_kind(const struct fl_record *rec, const char *kind,
    struct fl_error *err);
int fl_sa_need_u64(const struct fl_record *rec, const char *key, uint64_t min,
    uint64_t max, uint64_t *out, struct fl_error *err);
int fl_sa_need_id(const struct fl_record *rec, char id[FL_SA_MAXID + 1],
    struct fl_error *err);
int fl_sa_need_hex(const struct fl_record *rec, const char *key,
    unsigned char out[FL_SA_BYTES], struct fl_error *err);
/* The hex field key into out as text, or "" when absent. */
int fl_sa_opt_hex(const struct fl_record *rec, const char *key,
    char out[FL_SA_HEX], struct fl_error *err);
/* The tensor name, of dtype dt and shape [rows] (cols 0) or [rows, cols];
 * rows < 0 takes any row count. */
const struct fl_tensor *fl_sa_need_tensor(const struct fl_record *rec,
    const char *name, enum fl_dtype dt, int64_t rows, uint64_t cols,
    struct fl_error *err);
/* A u8 [len] tensor copied into out. */
int fl_sa_get_bytes(const struct fl_record *rec, const char *name,
    unsigned char *out, size_t len, struct fl_error *err);

int fl_sa_put_head(struct fl_record *rec, const char *kind, const char *id,
    uint64_t round, struct fl_error *err);
int fl_sa_put_hex(struct fl_record *rec, const char *key,
    const unsigned char v[FL_SA_BYTES], struct fl_error *err);
int fl_sa_put_bytes(struct fl_record *rec, const char *name, const void *data,
    uint64_t rows, uint64_t cols, struct fl_error *err);
int fl_sa_put_u32(struct fl_record *rec, const char *name, const uint32_t *v,
    uint64_t n, struct fl_error *err);

#endif
