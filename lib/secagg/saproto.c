/* SPDX-License-Identifier: ISC */
/*
 * The secure-aggregation protocol's messages as FLT records, so that
 * fl-inspect shows every one of them: key files, public keys, the roster,
 * share envelopes, confirmations and reveals.  Parsers trust nothing: a
 * message that a client or the server acts on has its kind, round,
 * session, ids and tensor shapes checked here, in one place for both
 * sides.
 */
#include <stdlib.h>
#include <string.h>

#include "secagg/internal.h"

/* ---- key files and public keys ---- */

int
fl_sa_secret_new(struct fl_sa_secret *s, const struct fl_sa_identity *ident,
    uint64_t round, struct fl_rng *rng, struct fl_error *err)
{
	memset(s, 0, sizeof(*s));
	if (!ident->pinned)
		return fl_error_set(err, FL_EINVAL, "identity '%s' trusts no "
		    "operator: make it with --operator, so that rosters can "
		    "be checked against the enrolment", ident->id);
	memcpy(s->id, ident->id, sizeof(s->id));
	s->round = round;
	memcpy(s->identity, ident->pk, FL_SA_BYTES);
	memcpy(s->operator_pk, ident->operator_pk, FL_SA_BYTES);
	/* The two shared secrets are scalars, so that Shamir over Z_L
	 * shares them as they are. */
	fl_scalar_random(s->mask_seed, rng);
	fl_scalar_random(s->self, rng);
	for (int i = 0; i < FL_SA_BYTES; i += 8)
		fl_store_le64(s->box_seed + i, fl_rng_u64(rng));
	return 0;
}

/* The steps a key file records, in metadata: hex hashes, set once. */
static const struct {
	const char *key;
	size_t off;
} steps[] = {
	{ "secagg.session", offsetof(struct fl_sa_secret, session) },
	{ "secagg.masked", offsetof(struct fl_sa_secret, masked) },
	{ "secagg.confirmed", offsetof(struct fl_sa_secret, confirmed) },
};

int
fl_sa_secret_to_record(const struct fl_sa_secret *s, struct fl_record *rec,
    struct fl_error *err)
{
	if (fl_sa_put_head(rec, "secagg-secret", s->id, s->round, err) < 0 ||
	    fl_sa_put_hex(rec, "secagg.identity", s->identity, err) < 0 ||
	    fl_sa_put_hex(rec, "secagg.operator", s->operator_pk, err) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		const char *v = (const char *)s + steps[i].off;

		if (v[0] && fl_meta_set(rec, steps[i].key, v, err) < 0)
			return -1;
	}
	/* Room for the three secret tensors (64-byte aligned each) first:
	 * growing the payload between them would free a copy of the
	 * secrets unwiped. */
	if (fl_grow(&rec->raw, &rec->rawcap, rec->rawlen + 3 * 2 *
	    FL_ALIGN, rec->rawlen, err) < 0 ||
	    fl_sa_put_bytes(rec, "sk.mask-seed", s->mask_seed, FL_SA_BYTES, 0,
	    err) < 0 ||
	    fl_sa_put_bytes(rec, "sk.box-seed", s->box_seed, FL_SA_BYTES, 0,
	    err) < 0 ||
	    fl_sa_put_bytes(rec, "sk.self", s->self, FL_SA_BYTES, 0, err) < 0)
		return -1;
	return 0;
}

int
fl_sa_secret_from_record(struct fl_sa_secret *s, const struct fl_record *rec,
    struct fl_error *err)
{
	memset(s, 0, sizeof(*s));
	if (fl_sa_need_kind(rec, "secagg-secret", err) < 0 ||
	    fl_sa_need_id(rec, s->id, err) < 0 ||
	    fl_sa_need_u64(rec, "round", 0, UINT64_MAX, &s->round, err) < 0 ||
	    fl_sa_need_hex(rec, "secagg.identity", s->identity, err) < 0 ||
	    fl_sa_need_hex(rec, "secagg.operator", s->operator_pk, err) < 0 ||
	    fl_sa_get_bytes(rec, "sk.mask-seed", s->mask_seed, FL_SA_BYTES,
	    err) < 0 ||
	    fl_sa_get_bytes(rec, "sk.box-seed", s->box_seed, FL_SA_BYTES,
	    err) < 0 ||
	    fl_sa_get_bytes(rec, "sk.self", s->self, FL_SA_BYTES, err) < 0)
		goto fail;
	if (!fl_scalar_is_canonical(s->mask_seed) ||
	    !fl_scalar_is_canonical(s->self)) {
		fl_error_set(err, FL_EFORMAT, "a secret is not a canonical "
		    "scalar");
		goto fail;
	}
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (fl_sa_opt_hex(rec, steps[i].key, (char *)s + steps[i].off,
		    err) < 0)
			goto fail;
	if (!s->session[0] && (s->masked[0] || s->confirmed[0])) {
		fl_error_set(err, FL_EFORMAT, "masked or confirmed without a "
		    "session");
		goto fail;
	}
	return 0;
fail:
	sodium_memzero(s, sizeof(*s));
	return -1;
}

/* What an identity signs for a round: the round, the id and the keys. */
static void
public_digest(unsigned char out[FL_SA_BYTES], const struct fl_sa_public *p)
{
	crypto_generichash_state st;
	unsigned char round[8], len = (unsigned char)strlen(p->id);

	fl_store_le64(round, p->round);
	fl_sa_hash_begin(&st, NULL, 0, FL_SA_BYTES, "fl-mask keys v1");
	crypto_generichash_update(&st, round, sizeof(round));
	crypto_generichash_update(&st, &len, 1);
	crypto_generichash_update(&st, (const unsigned char *)p->id, len);
	crypto_generichash_update(&st, p->pk_mask, FL_SA_BYTES);
	crypto_generichash_update(&st, p->pk_box, FL_SA_BYTES);
	crypto_generichash_update(&st, p->commit, FL_SA_BYTES);
	crypto_generichash_final(&st, out, FL_SA_BYTES);
}

int
fl_sa_public_of(const struct fl_sa_secret *s,
    const struct fl_sa_identity *ident, struct fl_sa_public *p,
    struct fl_error *err)
{
	unsigned char sk[FL_SA_BYTES], digest[FL_SA_BYTES];
	int rc;

	memset(p, 0, sizeof(*p));
	if (strcmp(s->id, ident->id) != 0 ||
	    sodium_memcmp(s->identity, ident->pk, FL_SA_BYTES) != 0)
		return fl_error_set(err, FL_EINVAL, "the key file of '%s' was "
		    "not made with identity '%s'", s->id, ident->id);
	memcpy(p->id, s->id, sizeof(p->id));
	p->round = s->round;
	rc = fl_sa_mask_keypair(p->pk_mask, sk, s->mask_seed) |
	    fl_sa_box_keypair(p->pk_box, sk, s->box_seed);
	sodium_memzero(sk, sizeof(sk));
	if (rc != 0)
		return fl_error_set(err, FL_EINVAL, "key generation failed");
	fl_sa_commit(p->commit, s->self);
	memcpy(p->identity, ident->pk, FL_SA_BYTES);
	public_digest(digest, p);
	fl_sa_sign(p->sig, digest, ident);
	return 0;
}

int
fl_sa_public_verify(const struct fl_sa_public *p, struct fl_error *err)
{
	unsigned char digest[FL_SA_BYTES];

	public_digest(digest, p);
	if (fl_sa_verify(p->sig, digest, p->identity) < 0)
		return fl_error_set(err, FL_EFORMAT, "client '%s': the keys' "
		    "signature is not valid under its identity key", p->id);
	return 0;
}

int
fl_sa_public_to_record(const struct fl_sa_public *p, struct fl_record *rec,
    struct fl_error *err)
{
	if (fl_sa_put_head(rec, "secagg-public", p->id, p->round, err) < 0 ||
	    fl_sa_put_bytes(rec, "pk.mask", p->pk_mask, FL_SA_BYTES, 0,
	    err) < 0 ||
	    fl_sa_put_bytes(rec, "pk.box", p->pk_box, FL_SA_BYTES, 0, err) < 0 ||
	    fl_sa_put_bytes(rec, "pk.commit", p->commit, FL_SA_BYTES, 0,
	    err) < 0 ||
	    fl_sa_put_bytes(rec, "pk.identity", p->identity, FL_SA_BYTES, 0,
	    err) < 0 ||
	    fl_sa_put_bytes(rec, "sig", p->sig, FL_SA_SIGBYTES, 0, err) < 0)
		return -1;
	return 0;
}

/*
 * The X25519 public keys of small order (Bernstein's list for Curve25519):
 * 0, 1, the two points of order 8, and p - 1, p and p + 1.  With any of
 * them every neighbour would derive the same all-zero secret.  A key is
 * read with its top bit cleared, as X25519 reads it.  Comparing with the
 * list gives what a scalar multiplication would tell, at no cost: a roster
 * of n clients is read in every step.
 */
static const unsigned char small_order[][FL_SA_BYTES] = {
	{ 0 },
	{ 1 },
	{ 0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3,
	  0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32,
	  0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00 },
	{ 0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1,
	  0x55, 0x9c, 0x83, 0xef, 0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c,
	  0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57 },
	{ 0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
	{ 0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
	{ 0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
};

static int
weak_key(const unsigned char pk[FL_SA_BYTES])
{
	unsigned char u[FL_SA_BYTES];

	memcpy(u, pk, FL_SA_BYTES);
	u[31] &= 0x7f;
	for (size_t i = 0; i < sizeof(small_order) / sizeof(small_order[0]);
	    i++)
		if (memcmp(u, small_order[i], FL_SA_BYTES) == 0)
			return 1;
	return 0;
}

int
fl_sa_public_from_record(struct fl_sa_public *p, const struct fl_record *rec,
    struct fl_error *err)
{
	memset(p, 0, sizeof(*p));
	if (fl_sa_need_kind(rec, "secagg-public", err) < 0 ||
	    fl_sa_need_id(rec, p->id, err) < 0 ||
	    fl_sa_need_u64(rec, "round", 0, UINT64_MAX, &p->round, err) < 0 ||
	    fl_sa_get_bytes(rec, "pk.mask", p->pk_mask, FL_SA_BYTES, err) < 0 ||
	    fl_sa_get_bytes(rec, "pk.box", p->pk_box, FL_SA_BYTES, err) < 0 ||
	    fl_sa_get_bytes(rec, "pk.commit", p->commit, FL_SA_BYTES, err) < 0 ||
	    fl_sa_get_bytes(rec, "pk.identity", p->identity, FL_SA_BYTES,
	    err) < 0 ||
	    fl_sa_get_bytes(rec, "sig", p->sig, FL_SA_SIGBYTES, err) < 0)
		return -1;
	if (fl_tensor_find(rec, "sk.mask-seed") != NULL ||
	    fl_tensor_find(rec, "sk.self") != NULL)
		return fl_error_set(err, FL_EFORMAT, "holds a secret key");
	/* A key of small order gives every neighbour the same all-zero
	 * secret, which libsodium refuses: caught here, before the roster
	 * is fixed, not when the neighbours seal or mask. */
	if (weak_key(p->pk_mask) || weak_key(p->pk_box))
		return fl_error_set(err, FL_EFORMAT, "a public key of small "
		    "order");
	return 0;
}

/* ---- the roster ---- */

static int
cmp_public(const void *a, const void *b)
{
	return strcmp(((const struct fl_sa_public *)a)->id,
	    ((const struct fl_sa_public *)b)->id);
}

static void
session_id(struct fl_sa_roster *r)
{
	crypto_generichash_state st;
	unsigned char head[24], len;

	fl_store_le64(head, r->round);
	fl_store_le32(head + 8, r->n);
	fl_store_le32(head + 12, r->k);
	fl_store_le32(head + 16, r->t);
	fl_store_le32(head + 20, r->corrupt);
	fl_sa_hash_begin(&st, NULL, 0, FL_SA_BYTES, "fl-mask session v2");
	crypto_generichash_update(&st, head, sizeof(head));
	for (size_t i = 0; i < r->npub; i++) {
		const struct fl_sa_public *p = &r->pub[i];

		/* Lengths first: no two rosters hash the same bytes. */
		len = (unsigned char)strlen(p->id);
		crypto_generichash_update(&st, &len, 1);
		crypto_generichash_update(&st, (const unsigned char *)p->id,
		    len);
		crypto_generichash_update(&st, p->pk_mask, FL_SA_BYTES);
		crypto_generichash_update(&st, p->pk_box, FL_SA_BYTES);
		crypto_generichash_update(&st, p->commit, FL_SA_BYTES);
		crypto_generichash_update(&st, p->identity, FL_SA_BYTES);
	}
	crypto_generichash_final(&st, r->session, FL_SA_BYTES);
}

static int
cmp_key(const void *a, const void *b)
{
	return memcmp(a, b, FL_SA_BYTES);
}

/* The client of r that holds key in any role. */
static const char *
key_owner(const struct fl_sa_roster *r, const unsigned char *key)
{
	for (size_t j = 0; j < r->npub; j++) {
		const struct fl_sa_public *p = &r->pub[j];

		if (memcmp(p->pk_mask, key, FL_SA_BYTES) == 0 ||
		    memcmp(p->pk_box, key, FL_SA_BYTES) == 0 ||
		    memcmp(p->commit, key, FL_SA_BYTES) == 0 ||
		    memcmp(p->identity, key, FL_SA_BYTES) == 0)
			return p->id;
	}
	return "?";
}

/* No key may appear twice, in any role: a copied key would let one client
 * stand in for another, and one identity is one device. */
static int
distinct_keys(const struct fl_sa_roster *r, struct fl_error *err)
{
	size_t n = r->npub * 4;
	unsigned char (*k)[FL_SA_BYTES] = malloc(n * FL_SA_BYTES);
	int rc = 0;

	if (k == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	for (size_t i = 0; i < r->npub; i++) {
		memcpy(k[4 * i], r->pub[i].pk_mask, FL_SA_BYTES);
		memcpy(k[4 * i + 1], r->pub[i].pk_box, FL_SA_BYTES);
		memcpy(k[4 * i + 2], r->pub[i].commit, FL_SA_BYTES);
		memcpy(k[4 * i + 3], r->pub[i].identity, FL_SA_BYTES);
	}
	qsort(k, n, FL_SA_BYTES, cmp_key);
	for (size_t i = 1; i < n && rc == 0; i++)
		if (memcmp(k[i - 1], k[i], FL_SA_BYTES) == 0)
			rc = fl_error_set(err, FL_EFORMAT, "duplicate key: "
			    "client '%s' shares a key with another client",
			    key_owner(r, k[i]));
	free(k);
	return rc;
}

int
fl_sa_roster_init(struct fl_sa_roster *r, struct fl_sa_public *pub, size_t n,
    uint32_t k, uint32_t t, uint32_t corrupt, struct fl_error *err)
{
	memset(r, 0, sizeof(*r));
	r->pub = pub;
	r->npub = n;
	if (n < 3 || n > (1u << 24))
		return fl_error_set(err, FL_EFORMAT, "%zu clients: secure "
		    "aggregation needs 3 to %u", n, 1u << 24);
	qsort(pub, n, sizeof(*pub), cmp_public);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && strcmp(pub[i - 1].id, pub[i].id) == 0)
			return fl_error_set(err, FL_EFORMAT, "duplicate client "
			    "'%s'", pub[i].id);
		if (pub[i].round != pub[0].round)
			return fl_error_set(err, FL_EFORMAT, "client '%s' has "
			    "keys for round %llu, client '%s' for round %llu",
			    pub[i].id, (unsigned long long)pub[i].round,
			    pub[0].id, (unsigned long long)pub[0].round);
	}
	if (distinct_keys(r, err) < 0)
		return -1;
	r->round = pub[0].round;
	r->n = (uint32_t)n;
	r->k = k;
	r->t = t;
	r->corrupt = corrupt;
	/* Clients check this too, whoever made the roster. */
	if (fl_secagg_check(r->n, k, t, corrupt, &r->holders_corrupt,
	    err) < 0)
		return -1;
	r->quorum = fl_secagg_quorum(r->n, t, corrupt);
	session_id(r);
	return fl_sa_graph_init(&r->graph, r->n, k, r->session, err);
}

int
fl_sa_roster_write(FILE *fp, const struct fl_sa_roster *r,
    struct fl_error *err)
{
	struct fl_record rec;
	int rc = -1;

	fl_record_init(&rec);
	if (fl_sa_put_head(&rec, "secagg-roster", NULL, r->round, err) < 0 ||
	    fl_meta_setf(&rec, err, "secagg.n", "%u", r->n) < 0 ||
	    fl_meta_setf(&rec, err, "secagg.k", "%u", r->k) < 0 ||
	    fl_meta_setf(&rec, err, "secagg.t", "%u", r->t) < 0 ||
	    fl_meta_setf(&rec, err, "secagg.corrupt", "%u", r->corrupt) < 0 ||
	    fl_meta_setf(&rec, err, "secagg.quorum", "%u", r->quorum) < 0 ||
	    fl_sa_put_hex(&rec, "secagg.session", r->session, err) < 0 ||
	    fl_record_write(fp, &rec, 0, err) < 0)
		goto out;
	for (size_t i = 0; i < r->npub; i++) {
		fl_record_clear(&rec);
		if (fl_sa_public_to_record(&r->pub[i], &rec, err) < 0 ||
		    fl_record_write(fp, &rec, 0, err) < 0)
			goto out;
	}
	rc = 0;
out:
	fl_record_free(&rec);
	return rc;
}

int
fl_sa_roster_read(struct fl_sa_roster *r, FILE *fp, struct fl_error *err)
{
	struct fl_record rec;
	struct fl_sa_public *pub = NULL;
	unsigned char claimed[FL_SA_BYTES];
	uint64_t round, n, k, t, c, q;
	size_t i, cap = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	fl_record_init(&rec);
	if ((rc = fl_record_read(&rec, fp, NULL, err)) <= 0) {
		if (rc == 0)
			fl_error_set(err, FL_EFORMAT, "empty: not a roster");
		goto fail;
	}
	if (fl_sa_need_kind(&rec, "secagg-roster", err) < 0 ||
	    fl_sa_need_u64(&rec, "round", 0, UINT64_MAX, &round, err) < 0 ||
	    fl_sa_need_u64(&rec, "secagg.n", 3, 1u << 24, &n, err) < 0 ||
	    fl_sa_need_u64(&rec, "secagg.k", 1, n - 1, &k, err) < 0 ||
	    fl_sa_need_u64(&rec, "secagg.t", 2, k + 1, &t, err) < 0 ||
	    fl_sa_need_u64(&rec, "secagg.corrupt", 0, n - 1, &c, err) < 0 ||
	    fl_sa_need_u64(&rec, "secagg.quorum", 2, n, &q, err) < 0 ||
	    fl_sa_need_hex(&rec, "secagg.session", claimed, err) < 0)
		goto fail;
	/* The table grows with the records read, not with the head's
	 * claim: a short stream cannot make it allocate for 2^24 clients. */
	for (i = 0; i < n; i++) {
		if (i == cap) {
			void *p;

			cap = cap ? 2 * cap : 64;
			if ((p = realloc(pub, cap * sizeof(*pub))) == NULL) {
				fl_error_set(err, FL_ENOMEM, "out of memory");
				goto fail;
			}
			pub = p;
		}
		if ((rc = fl_record_read(&rec, fp, NULL, err)) <= 0) {
			if (rc == 0)
				fl_error_set(err, FL_EFORMAT, "%zu public keys, "
				    "the roster says %llu", i,
				    (unsigned long long)n);
			goto fail;
		}
		if (fl_sa_public_from_record(&pub[i], &rec, err) < 0) {
			char m[sizeof(err->msg)];

			memcpy(m, err->msg, sizeof(m));
			fl_error_set(err, FL_EFORMAT, "record %zu: %s", i + 2, m);
			goto fail;
		}
		if (i > 0 && strcmp(pub[i - 1].id, pub[i].id) >= 0) {
			fl_error_set(err, FL_EFORMAT, "record %zu: client '%s' "
			    "out of order or repeated", i + 2, pub[i].id);
			goto fail;
		}
		if (pub[i].round != round) {
			fl_error_set(err, FL_EFORMAT, "record %zu: client '%s' "
			    "has keys for round %llu, the roster is of round "
			    "%llu", i + 2, pub[i].id,
			    (unsigned long long)pub[i].round,
			    (unsigned long long)round);
			goto fail;
		}
	}
	if ((rc = fl_record_read(&rec, fp, NULL, err)) != 0) {
		if (rc > 0)
			fl_error_set(err, FL_EFORMAT, "more records than the "
			    "%llu clients the roster says", (unsigned long long)n);
		goto fail;
	}
	fl_record_free(&rec);
	if (fl_sa_roster_init(r, pub, (size_t)n, (uint32_t)k, (uint32_t)t,
	    (uint32_t)c, err) < 0) {
		fl_sa_roster_free(r);
		return -1;
	}
	if (sodium_memcmp(claimed, r->session, FL_SA_BYTES) != 0) {
		fl_sa_roster_free(r);
		return fl_error_set(err, FL_EFORMAT, "the session id does not "
		    "match the roster's contents (altered roster)");
	}
	/* Written for those who read the roster by eye or by script; what
	 * counts is the quorum that n, t and C give. */
	if (q != r->quorum) {
		fl_sa_roster_free(r);
		return fl_error_set(err, FL_EFORMAT, "quorum %llu, but n, t and "
		    "the corrupt clients give %u (altered roster)",
		    (unsigned long long)q, r->quorum);
	}
	return 0;
fail:
	free(pub);
	fl_record_free(&rec);
	return -1;
}

uint32_t
fl_sa_roster_find(const struct fl_sa_roster *r, const char *id)
{
	size_t lo = 0, hi = r->npub;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(id, r->pub[mid].id);

		if (c == 0)
			return (uint32_t)mid + 1;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

int
fl_sa_roster_enrolled(const struct fl_sa_roster *r,
    const struct fl_sa_enrolment *e, uint32_t signed_by, struct fl_error *err)
{
	for (uint32_t c = 1; c <= r->n; c++) {
		const struct fl_sa_public *p = &r->pub[c - 1];
		const unsigned char *pk = fl_sa_enrolment_find(e, p->id);

		if (pk == NULL)
			return fl_error_set(err, FL_EFORMAT, "client '%s' is "
			    "not enrolled", p->id);
		if (sodium_memcmp(pk, p->identity, FL_SA_BYTES) != 0)
			return fl_error_set(err, FL_EFORMAT, "client '%s' is "
			    "enrolled with another identity key", p->id);
		/* A client's own masks and shares involve its neighbours
		 * only; the others' keys are checked by their neighbours. */
		if ((signed_by == 0 || c == signed_by ||
		    fl_sa_adjacent(&r->graph, c, signed_by)) &&
		    fl_sa_public_verify(p, err) < 0)
			return -1;
	}
	return 0;
}

void
fl_sa_roster_free(struct fl_sa_roster *r)
{
	free(r->pub);
	fl_sa_graph_free(&r->graph);
	memset(r, 0, sizeof(*r));
}

void
fl_sa_set_hash(char out[FL_SA_HEX], const char *what,
    const unsigned char session[FL_SA_BYTES], const uint32_t *set, size_t m)
{
	crypto_generichash_state st;
	unsigned char h[FL_SA_BYTES], w[4];

	crypto_generichash_init(&st, NULL, 0, FL_SA_BYTES);
	crypto_generichash_update(&st, (const unsigned char *)what,
	    strlen(what) + 1);
	crypto_generichash_update(&st, session, FL_SA_BYTES);
	for (size_t i = 0; i < m; i++) {
		fl_store_le32(w, set[i]);
		crypto_generichash_update(&st, w, sizeof(w));
	}
	crypto_generichash_final(&st, h, sizeof(h));
	sodium_bin2hex(out, FL_SA_HEX, h, sizeof(h));
}

/* ---- envelopes, confirmations and reveals ---- */

/* Kind, client in the roster, round and session of a message. */
static int
need_message(const struct fl_record *rec, const char *kind,
    const struct fl_sa_roster *r, uint32_t *from, struct fl_error *err)
{
	char id[FL_SA_MAXID + 1];
	unsigned char session[FL_SA_BYTES];
	uint64_t round;

	if (fl_sa_need_kind(rec, kind, err) < 0 ||
	    fl_sa_need_id(rec, id, err) < 0 ||
	    fl_sa_need_u64(rec, "round", 0, UINT64_MAX, &round, err) < 0 ||
	    fl_sa_need_hex(rec, "secagg.session", session, err) < 0)
		return -1;
	if ((*from = fl_sa_roster_find(r, id)) == 0)
		return fl_error_set(err, FL_EFORMAT, "unknown client '%s': not "
		    "in the roster", id);
	if (round != r->round)
		return fl_error_set(err, FL_EFORMAT, "client '%s': round %llu, "
		    "the roster is of round %llu", id,
		    (unsigned long long)round, (unsigned long long)r->round);
	if (sodium_memcmp(session, r->session, FL_SA_BYTES) != 0)
		return fl_error_set(err, FL_EFORMAT, "client '%s': another "
		    "session (made with a different roster)", id);
	return 0;
}

/* The head every message carries. */
static int
put_message(struct fl_record *rec, const char *kind,
    const struct fl_sa_roster *r, uint32_t from, struct fl_error *err)
{
	if (fl_sa_put_head(rec, kind, r->pub[from - 1].id, r->round,
	    err) < 0 ||
	    fl_sa_put_hex(rec, "secagg.session", r->session, err) < 0)
		return -1;
	return 0;
}

/* The u32 values of t, checked to be client numbers. */
static const uint32_t *
client_list(const struct fl_tensor *t, const struct fl_sa_roster *r,
    struct fl_error *err)
{
	static const uint32_t none[1];
	const uint32_t *v = t->numel ? t->data : none;

	for (uint64_t i = 0; i < t->numel; i++)
		if (v[i] < 1 || v[i] > r->n) {
			fl_error_set(err, FL_EFORMAT, "tensor '%s' names client "
			    "%u, the roster has 1 to %u", t->name, v[i], r->n);
			return NULL;
		}
	return v;
}

int
fl_sa_shares_from_record(struct fl_sa_shares *s, const struct fl_record *rec,
    const struct fl_sa_roster *r, struct fl_error *err)
{
	const struct fl_tensor *to, *box, *cm, *cs;

	memset(s, 0, sizeof(*s));
	if (need_message(rec, "secagg-shares", r, &s->from, err) < 0 ||
	    (to = fl_sa_need_tensor(rec, "to", FL_U32, -1, 0, err)) == NULL ||
	    (box = fl_sa_need_tensor(rec, "box", FL_U8, (int64_t)to->dims[0],
	    FL_SA_BOXBYTES, err)) == NULL ||
	    (cm = fl_sa_need_tensor(rec, "commit.mask", FL_U8, r->t,
	    FL_SCALAR_BYTES, err)) == NULL ||
	    (cs = fl_sa_need_tensor(rec, "commit.self", FL_U8, r->t,
	    FL_SCALAR_BYTES, err)) == NULL ||
	    (s->to = client_list(to, r, err)) == NULL)
		return -1;
	s->m = (size_t)to->numel;
	s->box = box->data;
	s->commit_mask = cm->data;
	s->commit_self = cs->data;
	return 0;
}

int
fl_sa_shares_to_record(struct fl_record *rec, const struct fl_sa_roster *r,
    const struct fl_sa_shares *s, struct fl_error *err)
{
	if (put_message(rec, "secagg-shares", r, s->from, err) < 0 ||
	    fl_sa_put_u32(rec, "to", s->to, s->m, err) < 0 ||
	    fl_sa_put_bytes(rec, "box", s->box, s->m, FL_SA_BOXBYTES,
	    err) < 0 ||
	    fl_sa_put_bytes(rec, "commit.mask", s->commit_mask, r->t,
	    FL_SCALAR_BYTES, err) < 0 ||
	    fl_sa_put_bytes(rec, "commit.self", s->commit_self, r->t,
	    FL_SCALAR_BYTES, err) < 0)
		return -1;
	return 0;
}

void
fl_sa_confirm_digest(unsigned char out[FL_SA_BYTES],
    const unsigned char session[FL_SA_BYTES], const char *survivors)
{
	crypto_generichash_state st;
	unsigned char set[FL_SA_BYTES] = { 0 };

	/* The set's hash as bytes (the text is checked hex). */
	sodium_hex2bin(set, sizeof(set), survivors, strlen(survivors), NULL,
	    NULL, NULL);
	fl_sa_hash_begin(&st, NULL, 0, FL_SA_BYTES, "fl-mask confirm v1");
	crypto_generichash_update(&st, session, FL_SA_BYTES);
	crypto_generichash_update(&st, set, sizeof(set));
	crypto_generichash_final(&st, out, FL_SA_BYTES);
}

int
fl_sa_confirm_to_record(struct fl_record *rec, const struct fl_sa_roster *r,
    const struct fl_sa_confirm *c, struct fl_error *err)
{
	if (put_message(rec, "secagg-confirm", r, c->from, err) < 0 ||
	    fl_meta_set(rec, "secagg.survivors", c->survivors, err) < 0 ||
	    fl_sa_put_bytes(rec, "sig", c->sig, FL_SA_SIGBYTES, 0, err) < 0)
		return -1;
	return 0;
}

int
fl_sa_confirm_from_record(struct fl_sa_confirm *c, const struct fl_record *rec,
    const struct fl_sa_roster *r, struct fl_error *err)
{
	const struct fl_tensor *sig;

	memset(c, 0, sizeof(*c));
	if (need_message(rec, "secagg-confirm", r, &c->from, err) < 0 ||
	    fl_sa_opt_hex(rec, "secagg.survivors", c->survivors, err) < 0 ||
	    (sig = fl_sa_need_tensor(rec, "sig", FL_U8, FL_SA_SIGBYTES, 0,
	    err)) == NULL)
		return -1;
	if (!c->survivors[0])
		return fl_error_set(err, FL_EFORMAT, "no 'secagg.survivors'");
	c->sig = sig->data;
	return 0;
}

int
fl_sa_reveal_to_record(struct fl_record *rec, const struct fl_sa_roster *r,
    const struct fl_sa_reveal *v, struct fl_error *err)
{
	if (put_message(rec, "secagg-reveal", r, v->from, err) < 0 ||
	    fl_meta_set(rec, "secagg.survivors", v->survivors, err) < 0 ||
	    fl_sa_put_u32(rec, "self.of", v->self_of, v->nself, err) < 0 ||
	    fl_sa_put_bytes(rec, "self.share", v->self_share, v->nself,
	    FL_SCALAR_BYTES, err) < 0 ||
	    fl_sa_put_u32(rec, "mask.of", v->mask_of, v->nmask, err) < 0 ||
	    fl_sa_put_bytes(rec, "mask.share", v->mask_share, v->nmask,
	    FL_SCALAR_BYTES, err) < 0)
		return -1;
	return 0;
}

int
fl_sa_reveal_from_record(struct fl_sa_reveal *v, const struct fl_record *rec,
    const struct fl_sa_roster *r, struct fl_error *err)
{
	const struct fl_tensor *so, *ss, *mo, *ms;

	memset(v, 0, sizeof(*v));
	if (need_message(rec, "secagg-reveal", r, &v->from, err) < 0 ||
	    fl_sa_opt_hex(rec, "secagg.survivors", v->survivors, err) < 0 ||
	    (so = fl_sa_need_tensor(rec, "self.of", FL_U32, -1, 0,
	    err)) == NULL ||
	    (ss = fl_sa_need_tensor(rec, "self.share", FL_U8,
	    (int64_t)so->dims[0], FL_SCALAR_BYTES, err)) == NULL ||
	    (mo = fl_sa_need_tensor(rec, "mask.of", FL_U32, -1, 0,
	    err)) == NULL ||
	    (ms = fl_sa_need_tensor(rec, "mask.share", FL_U8,
	    (int64_t)mo->dims[0], FL_SCALAR_BYTES, err)) == NULL ||
	    (v->self_of = client_list(so, r, err)) == NULL ||
	    (v->mask_of = client_list(mo, r, err)) == NULL)
		return -1;
	if (!v->survivors[0])
		return fl_error_set(err, FL_EFORMAT, "no 'secagg.survivors'");
	v->nself = (size_t)so->numel;
	v->nmask = (size_t)mo->numel;
	v->self_share = ss->data;
	v->mask_share = ms->data;
	return 0;
}
