/* SPDX-License-Identifier: ISC */
/*
 * Who may take part in secure aggregation.  Each device holds one
 * long-term Ed25519 identity; an operator signs the enrolment, the list
 * of ids and identity keys allowed in a round.  A server that makes up
 * clients, or swaps an enrolled client's keys, then needs a key it does
 * not have: the operator's (which it need not hold) or the device's.
 * What this cannot stop, a compromised operator key or device, is in
 * fl-mask(1).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "secagg/internal.h"

/* ---- identities ---- */

int
fl_sa_identity_make(struct fl_sa_identity *ident, const char *id,
    const unsigned char seed[FL_SA_BYTES], const unsigned char *operator_pk,
    struct fl_error *err)
{
	unsigned char sk[crypto_sign_SECRETKEYBYTES];

	memset(ident, 0, sizeof(*ident));
	if (fl_sa_check_id(id, err) < 0)
		return -1;
	memcpy(ident->id, id, strlen(id) + 1);
	memcpy(ident->seed, seed, FL_SA_BYTES);
	crypto_sign_seed_keypair(ident->pk, sk, seed);
	sodium_memzero(sk, sizeof(sk));
	if (operator_pk != NULL) {
		ident->pinned = 1;
		memcpy(ident->operator_pk, operator_pk, FL_SA_BYTES);
	}
	return 0;
}

int
fl_sa_identity_to_record(const struct fl_sa_identity *ident,
    struct fl_record *rec, struct fl_error *err)
{
	/* The one secret tensor is the only payload: no growth moves it. */
	if (fl_meta_set(rec, "kind", "secagg-identity-secret", err) < 0 ||
	    fl_meta_set(rec, "client", ident->id, err) < 0 ||
	    (ident->pinned && fl_sa_put_hex(rec, "secagg.operator",
	    ident->operator_pk, err) < 0) ||
	    fl_sa_put_bytes(rec, "sk.identity-seed", ident->seed, FL_SA_BYTES,
	    0, err) < 0)
		return -1;
	return 0;
}

int
fl_sa_identity_from_record(struct fl_sa_identity *ident,
    const struct fl_record *rec, struct fl_error *err)
{
	char id[FL_SA_MAXID + 1];
	unsigned char seed[FL_SA_BYTES], op[FL_SA_BYTES];
	int pinned = fl_meta_get(rec, "secagg.operator") != NULL;
	int rc;

	memset(ident, 0, sizeof(*ident));
	if (fl_sa_need_kind(rec, "secagg-identity-secret", err) < 0 ||
	    fl_sa_need_id(rec, id, err) < 0 ||
	    (pinned && fl_sa_need_hex(rec, "secagg.operator", op, err) < 0) ||
	    fl_sa_get_bytes(rec, "sk.identity-seed", seed, FL_SA_BYTES,
	    err) < 0)
		return -1;
	rc = fl_sa_identity_make(ident, id, seed, pinned ? op : NULL, err);
	sodium_memzero(seed, sizeof(seed));
	return rc;
}

int
fl_sa_identity_public_to_record(const struct fl_sa_identity *ident,
    struct fl_record *rec, struct fl_error *err)
{
	if (fl_meta_set(rec, "kind", "secagg-identity", err) < 0 ||
	    fl_meta_set(rec, "client", ident->id, err) < 0 ||
	    fl_sa_put_bytes(rec, "pk.identity", ident->pk, FL_SA_BYTES, 0,
	    err) < 0)
		return -1;
	return 0;
}

int
fl_sa_identity_public_from_record(char id[FL_SA_MAXID + 1],
    unsigned char pk[FL_SA_BYTES], const struct fl_record *rec,
    struct fl_error *err)
{
	if (fl_sa_need_kind(rec, "secagg-identity", err) < 0 ||
	    fl_sa_need_id(rec, id, err) < 0 ||
	    fl_sa_get_bytes(rec, "pk.identity", pk, FL_SA_BYTES, err) < 0)
		return -1;
	if (fl_tensor_find(rec, "sk.identity-seed") != NULL)
		return fl_error_set(err, FL_EFORMAT, "holds a secret key");
	return 0;
}

void
fl_sa_sign(unsigned char sig[FL_SA_SIGBYTES],
    const unsigned char digest[FL_SA_BYTES],
    const struct fl_sa_identity *ident)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk[crypto_sign_SECRETKEYBYTES];

	crypto_sign_seed_keypair(pk, sk, ident->seed);
	crypto_sign_detached(sig, NULL, digest, FL_SA_BYTES, sk);
	sodium_memzero(sk, sizeof(sk));
}

/*
 * The signatures this process verified: a verification is a function of
 * the signature, the digest and the key alone, so the same three byte
 * strings verified again pass again.  One process checking the same
 * roster or confirmations for each of a batch of devices (fl-mask with
 * many -k) then pays one Ed25519 verification per signature, not one per
 * signature and device.  Only passes are remembered, by their whole bytes
 * (a collision evicts, never passes), up to 1024, each in one of 4 slots
 * its hash picks; all public values.
 */
#define VERIFIED_SLOTS 1024
#define VERIFIED_WAYS 4
#define TRIPLE (FL_SA_SIGBYTES + 2 * FL_SA_BYTES)
static struct {
	unsigned char triple[TRIPLE];
	int used;
} verified[VERIFIED_SLOTS];
static unsigned verified_next;  /* the way to evict next */
static atomic_flag verified_lock = ATOMIC_FLAG_INIT;

/* The first of the triple's slots. */
static size_t
verified_set(const unsigned char t[TRIPLE])
{
	uint64_t h = 0;

	for (size_t i = 0; i < TRIPLE; i += 8) {
		uint64_t w;

		memcpy(&w, t + i, 8);
		h = (h ^ w) * UINT64_C(0x9e3779b97f4a7c15);
	}
	return (size_t)(h >> 54) % (VERIFIED_SLOTS / VERIFIED_WAYS) *
	    VERIFIED_WAYS;
}

static void
verified_lock_take(void)
{
	while (atomic_flag_test_and_set_explicit(&verified_lock,
	    memory_order_acquire)) {
	}
}

static void
verified_lock_drop(void)
{
	atomic_flag_clear_explicit(&verified_lock, memory_order_release);
}

int
fl_sa_verify(const unsigned char sig[FL_SA_SIGBYTES],
    const unsigned char digest[FL_SA_BYTES],
    const unsigned char pk[FL_SA_BYTES])
{
	unsigned char t[TRIPLE];
	size_t set, w, slot;
	int known = 0;

	memcpy(t, sig, FL_SA_SIGBYTES);
	memcpy(t + FL_SA_SIGBYTES, digest, FL_SA_BYTES);
	memcpy(t + FL_SA_SIGBYTES + FL_SA_BYTES, pk, FL_SA_BYTES);
	set = verified_set(t);
	verified_lock_take();
	for (w = 0; w < VERIFIED_WAYS && !known; w++)
		known = verified[set + w].used &&
		    memcmp(verified[set + w].triple, t, TRIPLE) == 0;
	verified_lock_drop();
	if (known)
		return 0;
	if (crypto_sign_verify_detached(sig, digest, FL_SA_BYTES, pk) != 0)
		return -1;
	verified_lock_take();
	slot = set + verified_next++ % VERIFIED_WAYS;
	for (w = 0; w < VERIFIED_WAYS; w++)
		if (!verified[set + w].used) {
			slot = set + w;
			break;
		}
	memcpy(verified[slot].triple, t, TRIPLE);
	verified[slot].used = 1;
	verified_lock_drop();
	return 0;
}

/* ---- the enrolment ---- */

/* An id as its fixed-width row: the bytes, then NULs. */
static void
id_row(unsigned char row[FL_SA_MAXID], const char *id)
{
	size_t len = strlen(id);

	memset(row, 0, FL_SA_MAXID);
	memcpy(row, id, len);
}

/* The digest the operator signs: its key, the count and both tables. */
static void
enrolment_digest(unsigned char out[FL_SA_BYTES],
    const unsigned char op[FL_SA_BYTES], size_t n, const void *ids,
    const void *pks)
{
	crypto_generichash_state st;
	unsigned char count[8];

	fl_store_le64(count, n);
	fl_sa_hash_begin(&st, NULL, 0, FL_SA_BYTES, "fl-mask enrolment v1");
	crypto_generichash_update(&st, op, FL_SA_BYTES);
	crypto_generichash_update(&st, count, sizeof(count));
	crypto_generichash_update(&st, ids, n * FL_SA_MAXID);
	crypto_generichash_update(&st, pks, n * FL_SA_BYTES);
	crypto_generichash_final(&st, out, FL_SA_BYTES);
}

struct entry {
	const char *id;
	const unsigned char *pk;
};

static int
cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->id,
	    ((const struct entry *)b)->id);
}

static int
cmp_key(const void *a, const void *b)
{
	return memcmp(a, b, FL_SA_BYTES);
}

int
fl_sa_enrolment_make(struct fl_record *rec, const struct fl_sa_member *m,
    size_t n, const struct fl_sa_identity *op, struct fl_error *err)
{
	struct entry *e = NULL;
	unsigned char (*keys)[FL_SA_BYTES] = NULL;
	unsigned char digest[FL_SA_BYTES], sig[FL_SA_SIGBYTES];
	struct fl_tensor *tid, *tpk;
	uint64_t dims[2];
	int rc = -1;

	if (n < 1 || n > (1u << 24))
		return fl_error_set(err, FL_EINVAL, "%zu identities: an "
		    "enrolment lists 1 to %u", n, 1u << 24);
	if ((e = malloc(n * sizeof(*e))) == NULL ||
	    (keys = malloc(n * FL_SA_BYTES)) == NULL) {
		fl_error_set(err, FL_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (fl_sa_check_id(m[i].id, err) < 0)
			goto out;
		e[i].id = m[i].id;
		e[i].pk = m[i].pk;
		memcpy(keys[i], m[i].pk, FL_SA_BYTES);
	}
	qsort(e, n, sizeof(*e), cmp_entry);
	qsort(keys, n, FL_SA_BYTES, cmp_key);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(e[i - 1].id, e[i].id) == 0) {
			fl_error_set(err, FL_EINVAL, "client '%s' listed twice",
			    e[i].id);
			goto out;
		}
		if (memcmp(keys[i - 1], keys[i], FL_SA_BYTES) == 0) {
			fl_error_set(err, FL_EINVAL, "two clients with the "
			    "same identity key");
			goto out;
		}
	}
	dims[0] = n;
	dims[1] = FL_SA_MAXID;
	if (fl_meta_set(rec, "kind", "secagg-enrolment", err) < 0 ||
	    fl_meta_setf(rec, err, "secagg.n", "%zu", n) < 0 ||
	    fl_sa_put_hex(rec, "secagg.operator", op->pk, err) < 0 ||
	    fl_tensor_add(rec, "id", FL_U8, 2, dims, err) == NULL)
		goto out;
	dims[1] = FL_SA_BYTES;
	if (fl_tensor_add(rec, "pk.identity", FL_U8, 2, dims, err) == NULL)
		goto out;
	/* Added now: pointers into the payload are stable from here. */
	tid = fl_tensor_find(rec, "id");
	tpk = fl_tensor_find(rec, "pk.identity");
	for (size_t i = 0; i < n; i++) {
		id_row((unsigned char *)tid->data + i * FL_SA_MAXID, e[i].id);
		memcpy((unsigned char *)tpk->data + i * FL_SA_BYTES, e[i].pk,
		    FL_SA_BYTES);
	}
	enrolment_digest(digest, op->pk, n, tid->data, tpk->data);
	fl_sa_sign(sig, digest, op);
	rc = fl_sa_put_bytes(rec, "sig", sig, FL_SA_SIGBYTES, 0, err);
out:
	free(e);
	free(keys);
	return rc;
}

int
fl_sa_enrolment_read(struct fl_sa_enrolment *e, const struct fl_record *rec,
    const unsigned char *pin, struct fl_error *err)
{
	const struct fl_tensor *tid, *tpk, *tsig;
	unsigned char digest[FL_SA_BYTES];
	uint64_t n;

	memset(e, 0, sizeof(*e));
	if (fl_sa_need_kind(rec, "secagg-enrolment", err) < 0 ||
	    fl_sa_need_u64(rec, "secagg.n", 1, 1u << 24, &n, err) < 0 ||
	    fl_sa_need_hex(rec, "secagg.operator", e->operator_pk, err) < 0 ||
	    (tid = fl_sa_need_tensor(rec, "id", FL_U8, (int64_t)n,
	    FL_SA_MAXID, err)) == NULL ||
	    (tpk = fl_sa_need_tensor(rec, "pk.identity", FL_U8, (int64_t)n,
	    FL_SA_BYTES, err)) == NULL ||
	    (tsig = fl_sa_need_tensor(rec, "sig", FL_U8, FL_SA_SIGBYTES, 0,
	    err)) == NULL)
		return -1;
	if (pin != NULL && sodium_memcmp(pin, e->operator_pk,
	    FL_SA_BYTES) != 0)
		return fl_error_set(err, FL_EFORMAT, "signed by another "
		    "operator than the one this device trusts");
	enrolment_digest(digest, e->operator_pk, (size_t)n, tid->data,
	    tpk->data);
	if (fl_sa_verify(tsig->data, digest, e->operator_pk) < 0)
		return fl_error_set(err, FL_EFORMAT, "the operator's "
		    "signature is not valid (altered or forged enrolment)");
	/* Signed, so the operator wrote it; still, nothing is trusted that
	 * the lookups rely on: ids valid, padded and in order. */
	e->id = tid->data;
	e->pk = tpk->data;
	e->n = (size_t)n;
	for (size_t i = 0; i < e->n; i++) {
		const unsigned char *row = e->id[i];
		char id[FL_SA_MAXID + 1];
		size_t len = strnlen((const char *)row, FL_SA_MAXID);

		memcpy(id, row, len);
		id[len] = '\0';
		for (size_t j = len; j < FL_SA_MAXID; j++)
			if (row[j] != 0)
				return fl_error_set(err, FL_EFORMAT, "id row "
				    "%zu is not NUL-padded", i);
		if (fl_sa_check_id(id, err) < 0)
			return -1;
		if (i > 0 && memcmp(e->id[i - 1], row, FL_SA_MAXID) >= 0)
			return fl_error_set(err, FL_EFORMAT, "client '%s' out "
			    "of order or repeated", id);
	}
	return 0;
}

const unsigned char *
fl_sa_enrolment_find(const struct fl_sa_enrolment *e, const char *id)
{
	unsigned char row[FL_SA_MAXID];
	size_t lo = 0, hi = e->n;

	if (strlen(id) > FL_SA_MAXID)
		return NULL;
	id_row(row, id);
	/* NUL-padded rows compare like the ids themselves. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(row, e->id[mid], FL_SA_MAXID);

		if (c == 0)
			return e->pk[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* ---- read from a stream ---- */

int
fl_sa_identity_public_read(FILE *fp, char id[FL_SA_MAXID + 1],
    unsigned char pk[FL_SA_BYTES], struct fl_error *err)
{
	struct fl_record rec;
	int rc;

	fl_record_init(&rec);
	rc = fl_record_read(&rec, fp, NULL, err);
	if (rc == 0)
		rc = fl_error_set(err, FL_EFORMAT, "empty: not an identity");
	else if (rc > 0)
		rc = fl_sa_identity_public_from_record(id, pk, &rec, err);
	fl_record_free(&rec);
	return rc < 0 ? -1 : 0;
}

int
fl_sa_enrolment_load(struct fl_sa_enrolment *e, struct fl_record *rec,
    FILE *fp, const unsigned char *pin, struct fl_error *err)
{
	int rc = fl_record_read(rec, fp, NULL, err);

	if (rc == 0)
		return fl_error_set(err, FL_EFORMAT, "empty: not an "
		    "enrolment");
	if (rc < 0)
		return -1;
	return fl_sa_enrolment_read(e, rec, pin, err);
}
