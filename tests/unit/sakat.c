/* SPDX-License-Identifier: ISC */
/*
 * Known-answer vectors of every secure-aggregation derivation (fl-mask(1),
 * DERIVATIONS), from fixed inputs: `unit --vectors` prints them as
 * "name hex" lines.  tests/data/secagg-vectors.txt pins them, and
 * tests/secagg_kat.py recomputes each one independently (Python's BLAKE2b,
 * OpenSSL's ChaCha20, X25519 and Ed25519, its own ed25519 points and
 * arithmetic mod L), so that another implementation can check itself
 * against the same file.  The inputs are hashes of short labels.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../../lib/fl.h"
#include "secagg/internal.h"
#include "unit.h"

#define B FL_SA_BYTES

static void
put(FILE *fp, const char *name, const void *v, size_t n)
{
	const unsigned char *p = v;

	fprintf(fp, "%s ", name);
	for (size_t i = 0; i < n; i++)
		fprintf(fp, "%02x", p[i]);
	fputc('\n', fp);
}

/* The inputs: BLAKE2b of "kat:" and a label, 32 bytes, or 64 reduced
 * mod L for a scalar. */
static void
input(unsigned char *out, size_t n, const char *what, const char *who)
{
	char label[128];
	unsigned char wide[64];

	snprintf(label, sizeof(label), "kat:%s:%s", what, who);
	crypto_generichash(n == B ? out : wide, n == B ? B : 64,
	    (const unsigned char *)label, strlen(label), NULL, 0);
	if (n != B)
		crypto_core_ed25519_scalar_reduce(out, wide);
}

static const char *const names[3] = { "alice", "bob", "carol" };

struct kat_client {
	struct fl_sa_identity ident;
	struct fl_sa_secret sec;
	struct fl_sa_public pub;
};

void
print_secagg_vectors(FILE *fp)
{
	struct kat_client c[3];
	struct fl_sa_identity op;
	struct fl_sa_public *pub = malloc(3 * sizeof(*pub));
	struct fl_sa_roster r;
	struct fl_sa_graph g;
	struct fl_error err;
	unsigned char seed[B], key[B], sk[B], pk[B], out[B];
	unsigned char nonce[crypto_box_NONCEBYTES];
	char label[64];

	if (sodium_init() < 0 || pub == NULL)
		abort();
	input(seed, B, "identity", "op");
	CHECK(fl_sa_identity_make(&op, "op", seed, NULL, &err) == 0);
	put(fp, "identity.op.pk", op.pk, B);
	for (int i = 0; i < 3; i++) {
		struct kat_client *k = &c[i];
		struct fl_sa_secret *s = &k->sec;

		input(seed, B, "identity", names[i]);
		CHECK(fl_sa_identity_make(&k->ident, names[i], seed, op.pk,
		    &err) == 0);
		memset(s, 0, sizeof(*s));
		memcpy(s->id, names[i], strlen(names[i]) + 1);
		s->round = 7;
		input(s->mask_seed, 64, "mask-seed", names[i]);
		input(s->self, 64, "self", names[i]);
		input(s->box_seed, B, "box-seed", names[i]);
		memcpy(s->identity, k->ident.pk, B);
		memcpy(s->operator_pk, op.pk, B);
		CHECK(fl_sa_public_of(s, &k->ident, &k->pub, &err) == 0);
		pub[i] = k->pub;
		snprintf(label, sizeof(label), "identity.%s.pk", names[i]);
		put(fp, label, k->ident.pk, B);
		snprintf(label, sizeof(label), "mask.%s.pk", names[i]);
		put(fp, label, k->pub.pk_mask, B);
		snprintf(label, sizeof(label), "box.%s.pk", names[i]);
		put(fp, label, k->pub.pk_box, B);
		snprintf(label, sizeof(label), "commit.%s", names[i]);
		put(fp, label, k->pub.commit, B);
		snprintf(label, sizeof(label), "keys.%s.sig", names[i]);
		put(fp, label, k->pub.sig, FL_SA_SIGBYTES);
	}

	/* The roster of the three: full graph, t = 2, no corrupt client. */
	CHECK(fl_sa_roster_init(&r, pub, 3, 2, 2, 0, &err) == 0);
	put(fp, "session", r.session, B);
	CHECK(fl_sa_graph_init(&g, 10, 4, r.session, &err) == 0);
	{
		unsigned char at[40];

		for (int p = 0; p < 10; p++)
			fl_store_le32(at + 4 * p, g.at[p]);
		put(fp, "graph.n10.k4.at", at, sizeof(at));
	}
	fl_sa_graph_free(&g);

	/* Pairwise and self masks of alice (client 1) and bob (client 2). */
	fl_sa_mask_keypair(pk, sk, c[0].sec.mask_seed);
	CHECK(fl_sa_pair_seed(out, sk, c[1].pub.pk_mask, r.session, 1, 2,
	    &err) == 0);
	put(fp, "pair.alice.bob", out, B);
	fl_sa_mask_keypair(pk, sk, c[1].sec.mask_seed);
	CHECK(fl_sa_pair_seed(key, sk, c[0].pub.pk_mask, r.session, 2, 1,
	    &err) == 0);
	CHECK(memcmp(key, out, B) == 0);        /* both ends agree */
	fl_sa_self_seed(seed, c[0].sec.self, r.session);
	put(fp, "self.alice", seed, B);
	fl_sa_tensor_key(key, seed, "w", 20, 5);
	put(fp, "tensor.self.alice.w.20.5", key, B);
	{
		struct fl_sa_term term;
		uint32_t w[5] = { 0 };
		unsigned char le[20];

		memcpy(term.key, key, B);
		term.negate = 0;
		CHECK(fl_sa_mask(w, 5, 20, &term, 1, 1, &err) == 0);
		for (int i = 0; i < 5; i++)
			fl_store_le32(le + 4 * i, w[i]);
		put(fp, "maskwords.self.alice.w.20.5", le, sizeof(le));
	}

	/* Alice's shares: the polynomials from her secrets and the session,
	 * the envelope to bob, and the record --share makes of it all. */
	fl_sa_poly_key(key, c[0].sec.mask_seed, c[0].sec.self,
	    c[0].sec.box_seed, r.session);
	put(fp, "poly.alice", key, B);
	{
		uint32_t xs[3] = { 1, 2, 3 };
		unsigned char ms[3][B], ss[3][B], cm[2][B], cs[2][B];
		unsigned char box[FL_SA_BOXBYTES], bpk[B], bsk[B];
		struct fl_record rec;
		struct fl_sa_shares sh;
		struct fl_sa_share share, opened;
		struct fl_rng rng;

		fl_rng_init(&rng, key, 0);
		CHECK(fl_shamir_split(c[0].sec.mask_seed, 2, xs, 3, ms, cm,
		    &rng, &err) == 0);
		CHECK(fl_shamir_split(c[0].sec.self, 2, xs, 3, ss, cs, &rng,
		    &err) == 0);
		fl_rng_wipe(&rng);
		for (int i = 0; i < 3; i++) {
			snprintf(label, sizeof(label), "share.alice.mask.%d",
			    i + 1);
			put(fp, label, ms[i], B);
			snprintf(label, sizeof(label), "share.alice.self.%d",
			    i + 1);
			put(fp, label, ss[i], B);
			CHECK(fl_shamir_verify(xs[i], ms[i],
			    (const unsigned char (*)[B])cm, 2));
			CHECK(fl_shamir_verify(xs[i], ss[i],
			    (const unsigned char (*)[B])cs, 2));
		}
		for (int j = 0; j < 2; j++) {
			snprintf(label, sizeof(label), "feldman.alice.mask.%d",
			    j);
			put(fp, label, cm[j], B);
			snprintf(label, sizeof(label), "feldman.alice.self.%d",
			    j);
			put(fp, label, cs[j], B);
		}
		memcpy(share.mask, ms[1], B);
		memcpy(share.self, ss[1], B);
		fl_sa_box_keypair(pk, sk, c[0].sec.box_seed);
		CHECK(fl_sa_seal(box, &share, r.session, 1, 2, sk, c[1].pub.pk_box,
		    &err) == 0);
		put(fp, "envelope.alice.bob", box, sizeof(box));
		/* The nonce, as the derivation gives it, opens it. */
		{
			crypto_generichash_state st;
			unsigned char ids[8];

			fl_store_le32(ids, 1);
			fl_store_le32(ids + 4, 2);
			crypto_generichash_init(&st, NULL, 0, sizeof(nonce));
			crypto_generichash_update(&st,
			    (const unsigned char *)"fl-mask box v1", 15);
			crypto_generichash_update(&st, r.session, B);
			crypto_generichash_update(&st, ids, 8);
			crypto_generichash_final(&st, nonce, sizeof(nonce));
			put(fp, "nonce.alice.bob", nonce, sizeof(nonce));
		}
		fl_sa_box_keypair(bpk, bsk, c[1].sec.box_seed);
		CHECK(fl_sa_open(&opened, box, r.session, 1, 2, bsk,
		    c[0].pub.pk_box, &err) == 0);
		CHECK(memcmp(&opened, &share, sizeof(share)) == 0);
		fl_record_init(&rec);
		CHECK(fl_sa_client_share(&rec, &r, 1, &c[0].sec, &err) == 0);
		CHECK(fl_sa_shares_from_record(&sh, &rec, &r, &err) == 0);
		CHECK(sh.m == 3 && memcmp(sh.box[1], box, sizeof(box)) == 0);
		CHECK(memcmp(sh.commit_mask, cm, sizeof(cm)) == 0);
		CHECK(memcmp(sh.commit_self, cs, sizeof(cs)) == 0);
		fl_record_free(&rec);
		sodium_memzero(bsk, B);
	}

	/* The consistency round over all three surviving. */
	{
		uint32_t all[3] = { 1, 2, 3 };
		char hash[FL_SA_HEX];
		unsigned char digest[B], sig[FL_SA_SIGBYTES], h[B];

		fl_sa_set_hash(hash, "survivors", r.session, all, 3);
		sodium_hex2bin(h, B, hash, strlen(hash), NULL, NULL, NULL);
		put(fp, "set.survivors.1.2.3", h, B);
		fl_sa_set_hash(hash, "shared", r.session, all, 3);
		sodium_hex2bin(h, B, hash, strlen(hash), NULL, NULL, NULL);
		put(fp, "set.shared.1.2.3", h, B);
		fl_sa_set_hash(hash, "survivors", r.session, all, 3);
		fl_sa_confirm_digest(digest, r.session, hash);
		put(fp, "confirm.digest", digest, B);
		fl_sa_sign(sig, digest, &c[0].ident);
		put(fp, "confirm.alice.sig", sig, sizeof(sig));
		CHECK(fl_sa_verify(sig, digest, c[0].ident.pk) == 0);
	}

	/* The enrolment of the three, signed by op. */
	{
		struct fl_sa_member m[3];
		struct fl_record rec;
		struct fl_sa_enrolment e;
		const struct fl_tensor *sig;

		for (int i = 2; i >= 0; i--) {          /* any order */
			memcpy(m[2 - i].id, names[i], strlen(names[i]) + 1);
			memcpy(m[2 - i].pk, c[i].ident.pk, B);
		}
		fl_record_init(&rec);
		CHECK(fl_sa_enrolment_make(&rec, m, 3, &op, &err) == 0);
		CHECK(fl_sa_enrolment_read(&e, &rec, op.pk, &err) == 0);
		CHECK(fl_sa_enrolment_find(&e, "bob") != NULL &&
		    memcmp(fl_sa_enrolment_find(&e, "bob"), c[1].ident.pk,
		    B) == 0);
		sig = fl_tensor_find(&rec, "sig");
		put(fp, "enrolment.sig", sig->data, FL_SA_SIGBYTES);
		fl_record_free(&rec);
	}

	/* What alice's key file records of the update it masked. */
	{
		struct fl_record rec;
		struct fl_tensor *t;
		uint64_t dims = 5;
		char hash[FL_SA_HEX], digest[FL_SA_HEX];
		uint32_t all[3] = { 1, 2, 3 };
		unsigned char h[B];

		fl_record_init(&rec);
		CHECK(fl_meta_set(&rec, "round", "7", &err) == 0);
		CHECK(fl_meta_set(&rec, "kind", "update", &err) == 0);
		CHECK(fl_meta_set(&rec, "modulus", "1048576", &err) == 0);
		t = fl_tensor_add(&rec, "w", FL_U32, 1, &dims, &err);
		for (uint32_t i = 0; i < 5; i++)
			((uint32_t *)t->data)[i] = i + 1;
		fl_sa_set_hash(hash, "shared", r.session, all, 3);
		fl_sa_masked_digest(digest, &rec, &c[0].sec, r.session, hash);
		sodium_hex2bin(h, B, digest, strlen(digest), NULL, NULL, NULL);
		put(fp, "masked.digest", h, B);
		fl_record_free(&rec);
	}
	sodium_memzero(sk, B);
	sodium_memzero(c, sizeof(c));
	fl_sa_roster_free(&r);
}
