/* SPDX-License-Identifier: ISC */
/*
 * Unit tests of secure aggregation's building blocks: Shamir sharing over
 * Z_L (shamir.c) and the SecAgg+ graph parameters (saparams.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../../lib/fl.h"
#include "secagg/internal.h"
#include "unit.h"

#define SB FL_SCALAR_BYTES

/* L, the order of the ed25519 base point, little-endian: from libsodium
 * (-1 mod L, plus one), not from the code under test. */
static unsigned char order[SB];

static void
find_order(void)
{
	unsigned char one[SB] = { 1 };
	unsigned carry = 1;

	if (sodium_init() < 0) {
	}
	crypto_core_ed25519_scalar_negate(order, one);
	for (int i = 0; i < SB; i++) {
		carry += order[i];
		order[i] = (unsigned char)carry;
		carry >>= 8;
	}
}

static void
hex(char out[2 * SB + 1], const unsigned char s[SB])
{
	for (int i = 0; i < SB; i++)
		snprintf(out + 2 * i, 3, "%02x", s[i]);
}

/* n distinct nonzero x-coordinates, some of them large. */
static void
random_xs(uint32_t *xs, size_t n, struct fl_rng *r)
{
	for (size_t i = 0; i < n; i++) {
		int dup;

		do {
			xs[i] = (uint32_t)(i % 2 ? 1 + fl_rng_below(r, 200) :
			    1 + fl_rng_below(r, UINT32_MAX));
			dup = 0;
			for (size_t j = 0; j < i; j++)
				dup |= xs[j] == xs[i];
		} while (dup);
	}
}

/* The first m of a random permutation of 0..n-1 in idx. */
static void
random_subset(size_t *idx, size_t n, size_t m, struct fl_rng *r)
{
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	for (size_t i = 0; i < m; i++) {
		size_t j = i + (size_t)fl_rng_below(r, n - i), tmp = idx[i];

		idx[i] = idx[j];
		idx[j] = tmp;
	}
}

/* Combine the shares idx[0..m-1] of (xs, shares) into out. */
static int
combine_subset(const uint32_t *xs, unsigned char (*shares)[SB],
    const size_t *idx, size_t m, unsigned char out[SB])
{
	uint32_t sx[101];
	unsigned char sy[101][SB];
	struct fl_error err;

	for (size_t i = 0; i < m; i++) {
		sx[i] = xs[idx[i]];
		memcpy(sy[i], shares[idx[i]], SB);
	}
	return fl_shamir_combine(sx, (const unsigned char (*)[SB])sy, m, out,
	    &err);
}

static void
test_scalars(struct fl_rng *r)
{
	unsigned char s[SB], u[SB];

	CHECK(!fl_scalar_is_canonical(order));          /* L */
	memcpy(s, order, SB);
	s[0]--;                                         /* L - 1 */
	CHECK(fl_scalar_is_canonical(s));
	s[0] += 2;                                      /* L + 1 */
	CHECK(!fl_scalar_is_canonical(s));
	memset(s, 0, SB);
	CHECK(fl_scalar_is_canonical(s));
	s[31] = 0x10;                                   /* 2^252 < L */
	CHECK(fl_scalar_is_canonical(s));
	memcpy(s, order, SB);
	s[15] = 0xdf;                   /* above L in a middle byte only */
	CHECK(!fl_scalar_is_canonical(s));
	s[15] = 0x13;
	s[16] = 0xff;                   /* L + 2^128 - 2^120 */
	CHECK(!fl_scalar_is_canonical(s));
	memset(s, 0xff, SB);
	CHECK(!fl_scalar_is_canonical(s));
	s[31] = 0x0f;                                   /* 2^252 - 1 */
	CHECK(fl_scalar_is_canonical(s));

	for (int i = 0; i < 100; i++) {
		fl_scalar_random(s, r);
		CHECK(fl_scalar_is_canonical(s));
	}
	fl_scalar_random(u, r);
	CHECK(memcmp(s, u, SB) != 0);
}

static void
test_roundtrips(struct fl_rng *r)
{
	static const size_t ts[] = { 1, 2, 6, 51 };
	uint32_t xs[101];
	unsigned char (*shares)[SB] = malloc(101 * SB);
	unsigned char secret[SB], out[SB];
	size_t idx[101];
	struct fl_error err;

	CHECK(shares != NULL);
	if (shares == NULL)
		return;
	for (size_t ti = 0; ti < sizeof(ts) / sizeof(*ts); ti++) {
		size_t t = ts[ti];
		size_t ns[] = { t, t + 3, 101 };

		for (size_t ni = 0; ni < 3; ni++) {
			size_t n = ns[ni];

			fl_scalar_random(secret, r);
			random_xs(xs, n, r);
			CHECK(fl_shamir_split(secret, t, xs, n, shares, NULL,
			    r, &err) == 0);
			for (size_t i = 0; i < n; i++) {
				CHECK(fl_scalar_is_canonical(shares[i]));
				if (t == 1)
					CHECK(memcmp(shares[i], secret,
					    SB) == 0);
			}
			if (t > 1)
				CHECK(memcmp(shares[0], secret, SB) != 0);
			for (int rep = 0; rep < 5; rep++) {
				random_subset(idx, n, t, r);
				memset(out, 0, SB);
				CHECK(combine_subset(xs, shares, idx, t,
				    out) == 0);
				CHECK(memcmp(out, secret, SB) == 0);
				/* More than t shares give it too. */
				if (t < n) {
					random_subset(idx, n, t + 1, r);
					CHECK(combine_subset(xs, shares, idx,
					    t + 1, out) == 0);
					CHECK(memcmp(out, secret, SB) == 0);
				}
				if (t > 1) {
					random_subset(idx, n, t - 1, r);
					CHECK(combine_subset(xs, shares, idx,
					    t - 1, out) == 0);
					CHECK(memcmp(out, secret, SB) != 0);
				}
			}
		}
	}
	free(shares);
}

static void
test_shamir_errors(struct fl_rng *r)
{
	uint32_t xs[101];
	unsigned char shares[101][SB], secret[SB], out[SB];
	struct fl_error err;

	for (uint32_t i = 0; i < 101; i++)
		xs[i] = i + 1;
	fl_scalar_random(secret, r);

	/* Split: zero x, repeated x (both the short and the sorting check),
	 * t out of range, a secret that is not canonical. */
	xs[3] = 0;
	err.code = FL_EIO;
	CHECK(fl_shamir_split(secret, 2, xs, 5, shares, NULL, r, &err) == -1);
	CHECK(err.code == FL_EINVAL);
	xs[3] = 2;
	err.code = FL_EIO;
	CHECK(fl_shamir_split(secret, 2, xs, 5, shares, NULL, r, &err) == -1);
	CHECK(err.code == FL_EINVAL);
	xs[3] = 4;
	xs[100] = 77;
	err.code = FL_EIO;
	CHECK(fl_shamir_split(secret, 2, xs, 101, shares, NULL, r, &err) == -1);
	CHECK(err.code == FL_EINVAL);
	xs[100] = 101;
	CHECK(fl_shamir_split(secret, 2, xs, 101, shares, NULL, r, &err) == 0);
	err.code = FL_EIO;
	CHECK(fl_shamir_split(secret, 0, xs, 5, shares, NULL, r, &err) == -1);
	CHECK(err.code == FL_EINVAL);
	err.code = FL_EIO;
	CHECK(fl_shamir_split(secret, 6, xs, 5, shares, NULL, r, &err) == -1);
	CHECK(err.code == FL_EINVAL);
	err.code = FL_EIO;
	CHECK(fl_shamir_split(order, 2, xs, 5, shares, NULL, r, &err) == -1);
	CHECK(err.code == FL_EINVAL);

	/* Combine: no shares, zero x, repeated x, a share that is not
	 * canonical. */
	CHECK(fl_shamir_split(secret, 3, xs, 5, shares, NULL, r, &err) == 0);
	err.code = FL_EIO;
	CHECK(fl_shamir_combine(xs, (const unsigned char (*)[SB])shares, 0,
	    out, &err) == -1);
	CHECK(err.code == FL_EINVAL);
	xs[1] = 0;
	err.code = FL_EIO;
	CHECK(fl_shamir_combine(xs, (const unsigned char (*)[SB])shares, 3,
	    out, &err) == -1);
	CHECK(err.code == FL_EINVAL);
	xs[1] = 3;
	err.code = FL_EIO;
	CHECK(fl_shamir_combine(xs, (const unsigned char (*)[SB])shares, 3,
	    out, &err) == -1);
	CHECK(err.code == FL_EINVAL);
	xs[1] = 2;
	CHECK(fl_shamir_combine(xs, (const unsigned char (*)[SB])shares, 3,
	    out, &err) == 0);
	CHECK(memcmp(out, secret, SB) == 0);
	memcpy(shares[2], order, SB);
	err.code = FL_EIO;
	CHECK(fl_shamir_combine(xs, (const unsigned char (*)[SB])shares, 3,
	    out, &err) == -1);
	CHECK(err.code == FL_EINVAL);
}

/* A fixed seed gives fixed shares (checked against an independent
 * computation: blake2b, ChaCha20 and the polynomial mod L in Python). */
static void
test_shamir_golden(void)
{
	static const char want[] =
	    "005c9a01977199171b986344fb3fd8d7bfe9573eb537caaab63f18e6febe6109";
	unsigned char key[FL_RNG_KEYBYTES], secret[SB], shares[5][SB];
	unsigned char sub[3][SB], out[SB];
	uint32_t xs[5] = { 1, 2, 3, 4, 5 }, subx[3] = { 2, 4, 5 };
	char got[2 * SB + 1];
	struct fl_rng r;
	struct fl_error err;

	for (int i = 0; i < SB; i++)
		secret[i] = (unsigned char)(7 * i + 1);
	secret[31] = 0x0e;
	fl_rng_seed_text(key, "shamir-golden");
	fl_rng_init(&r, key, 0);
	CHECK(fl_shamir_split(secret, 3, xs, 5, shares, NULL, &r, &err) == 0);
	hex(got, shares[0]);
	CHECK(strcmp(got, want) == 0);
	memcpy(sub[0], shares[1], SB);
	memcpy(sub[1], shares[3], SB);
	memcpy(sub[2], shares[4], SB);
	CHECK(fl_shamir_combine(subx, (const unsigned char (*)[SB])sub, 3,
	    out, &err) == 0);
	CHECK(memcmp(out, secret, SB) == 0);
	fl_rng_wipe(&r);
}

/* Feldman commitments: every share fits them, a share that is off by
 * anything, at another x, or against other commitments does not, and
 * commitments that are not points of the prime-order group fit nothing. */
static void
test_feldman(struct fl_rng *r)
{
	static const size_t ts[] = { 1, 2, 7 };
	uint32_t xs[12];
	unsigned char shares[12][SB], commit[7][SB], other[7][SB];
	unsigned char secret[SB], y[SB], one[SB] = { 1 }, pt[SB];
	struct fl_error err;

	for (size_t ti = 0; ti < sizeof(ts) / sizeof(*ts); ti++) {
		size_t t = ts[ti], n = 12;

		fl_scalar_random(secret, r);
		random_xs(xs, n, r);
		CHECK(fl_shamir_split(secret, t, xs, n, shares, commit, r,
		    &err) == 0);
		/* commit[0] is the secret's point. */
		CHECK(crypto_scalarmult_ed25519_base_noclamp(pt, secret) == 0);
		CHECK(memcmp(pt, commit[0], SB) == 0);
		for (size_t i = 0; i < n; i++) {
			CHECK(fl_shamir_verify(xs[i], shares[i],
			    (const unsigned char (*)[SB])commit, t));
			crypto_core_ed25519_scalar_add(y, shares[i], one);
			CHECK(!fl_shamir_verify(xs[i], y,
			    (const unsigned char (*)[SB])commit, t));
			CHECK(!fl_shamir_verify(xs[i] + 1 == 0 ? 1 : xs[i] + 1,
			    shares[i], (const unsigned char (*)[SB])commit,
			    t) || t == 1);
		}
		/* Another polynomial's commitments. */
		CHECK(fl_shamir_split(secret, t, xs, n, shares + 0, other, r,
		    &err) == 0);
		if (t > 1)
			CHECK(!fl_shamir_verify(xs[0], shares[0],
			    (const unsigned char (*)[SB])commit, t));
		/* Not points of the group: the identity (small order) and
		 * bytes that decode to no point. */
		memcpy(other, commit, sizeof(commit));
		memset(other[t - 1], 0, SB);
		other[t - 1][0] = 1;
		CHECK(!fl_shamir_verify(xs[1], shares[1],
		    (const unsigned char (*)[SB])other, t));
		memset(other[t - 1], 0xff, SB);
		CHECK(!fl_shamir_verify(xs[1], shares[1],
		    (const unsigned char (*)[SB])other, t));
		CHECK(!fl_shamir_verify(0, shares[1],
		    (const unsigned char (*)[SB])commit, t));
		CHECK(!fl_shamir_verify(xs[1], shares[1],
		    (const unsigned char (*)[SB])commit, 0));
	}
}

/* A sender can seal anything: a share that is not a scalar mod L is
 * refused when the envelope is opened, with a message. */
static void
test_envelope_scalars(void)
{
	unsigned char apk[SB], ask[SB], bpk[SB], bsk[SB], session[SB] = { 7 };
	unsigned char box[FL_SA_BOXBYTES];
	struct fl_sa_share s = { { 1 }, { 2 } }, got;
	struct fl_error err;

	crypto_box_keypair(apk, ask);
	crypto_box_keypair(bpk, bsk);
	CHECK(fl_sa_seal(box, &s, session, 1, 2, ask, bpk, &err) == 0);
	CHECK(fl_sa_open(&got, box, session, 1, 2, bsk, apk, &err) == 0);
	CHECK(memcmp(&got, &s, sizeof(s)) == 0);
	memcpy(s.self, order, SB);                      /* L itself */
	CHECK(fl_sa_seal(box, &s, session, 1, 2, ask, bpk, &err) == 0);
	CHECK(fl_sa_open(&got, box, session, 1, 2, bsk, apk, &err) == -1);
	CHECK(strstr(err.msg, "not a scalar mod L") != NULL);
	sodium_memzero(ask, SB);
	sodium_memzero(bsk, SB);
}

void
test_shamir(void)
{
	unsigned char key[FL_RNG_KEYBYTES];
	struct fl_rng r;

	find_order();
	fl_rng_seed_text(key, "unit shamir");
	fl_rng_init(&r, key, 0);
	test_scalars(&r);
	test_roundtrips(&r);
	test_shamir_errors(&r);
	test_shamir_golden();
	test_feldman(&r);
	test_envelope_scalars();
	fl_rng_wipe(&r);
}

void
test_secagg_params(void)
{
	struct fl_secagg_params p, q;
	struct fl_sa_policy pol = { 0, 0.05, 0.1, 0, 0 };
	uint32_t c;
	struct fl_error err;

	/* Small n: the full graph, t = n - D, nothing left to chance. */
	CHECK(fl_secagg_params(20, 0.05, 0.05, &p, &err) == 0);
	CHECK(p.n == 20 && p.k == 19 && p.t == 19 && p.corrupt == 1 &&
	    p.corrupt_holders == 1);
	CHECK(p.log2_security == -HUGE_VAL && p.log2_failure == -HUGE_VAL);
	/* C = 2, D = 3: t = 7 is within n - D and 2t > n + C. */
	CHECK(fl_secagg_params(10, 0.2, 0.3, &p, &err) == 0);
	CHECK(p.k == 9 && p.t == 7 && p.corrupt == 2);
	/* C = 4, D = 4: t = 6 is above C and a majority of 10, but a lying
	 * server with 4 corrupt holders would need 2t > 14; and the
	 * survivors could not be a majority counting the corrupt twice. */
	CHECK(fl_secagg_params(10, 0.4, 0.4, &p, &err) == -1);
	CHECK(strstr(err.msg, "majority") != NULL);

	/* The Harary graph, within the bounds. */
	CHECK(fl_secagg_params(100, 0.05, 0.05, &p, &err) == 0);
	CHECK(p.n == 100 && p.k % 2 == 0 && p.k >= 2 && p.k < 99);
	CHECK(p.t >= 2 && p.t <= p.k + 1);
	CHECK(2 * p.t > p.k + 1 + p.corrupt_holders);
	CHECK(p.log2_security <= -40 && p.log2_failure <= -20);

	/* The values fl-mask(1) quotes for its defaults, and Google's for
	 * a semi-malicious server (degree 33 with self, t = 22 at n = 100,
	 * 10% corrupt and dropping), all checked with exact hypergeometric
	 * sums in Python (integer fractions). */
	CHECK(fl_secagg_params(100, 0.05, 0.1, &p, &err) == 0);
	CHECK(p.k == 28 && p.t == 18 && p.corrupt_holders == 5);
	CHECK(fl_secagg_params(150, 0.05, 0.1, &p, &err) == 0);
	CHECK(p.k == 36 && p.t == 23);
	CHECK(fl_secagg_params(1000, 0.05, 0.1, &p, &err) == 0);
	CHECK(p.k == 78 && p.t == 52 && p.corrupt == 50 &&
	    p.corrupt_holders == 24);
	CHECK(p.log2_security <= -40 && p.log2_failure <= -20);
	CHECK(fl_secagg_params(100, 0.1, 0.1, &p, &err) == 0);
	CHECK(p.k == 32 && p.t == 22);
	/* The old rule's k = 22, t = 12 at n = 100 fell to one corrupt
	 * holder (2t = k + 1 + 1); with C = 5 corrupt holders counted it
	 * takes 2t > 22 + 1 + 5. */
	CHECK(fl_secagg_check(100, 22, 12, 5, &c, &err) == -1);
	CHECK(strstr(err.msg, "at least 15") != NULL);
	CHECK(fl_secagg_check(100, 22, 15, 5, &c, &err) == 0 && c == 5);
	CHECK(fl_secagg_check(100, 28, 18, 5, &c, &err) == 0);
	CHECK(fl_secagg_check(100, 27, 18, 5, &c, &err) == -1);  /* odd k */
	CHECK(fl_secagg_check(100, 28, 30, 5, &c, &err) == -1);  /* t > k+1 */
	CHECK(fl_secagg_quorum(100, 18, 5) == 53);
	CHECK(fl_secagg_quorum(5, 4, 1) == 4);
	CHECK(fl_secagg_count(100, 0.05) == 5 && fl_secagg_count(3, 0.9) == 2);

	/* The policy: the rule's parameters, a given graph with the
	 * smallest safe t, or the rule's k with a given t. */
	CHECK(fl_sa_policy_params(100, &pol, &q, &err) == 0);
	CHECK(q.k == 28 && q.t == 18 && q.corrupt == 5);
	pol.degree = 22;
	CHECK(fl_sa_policy_params(100, &pol, &q, &err) == 0);
	CHECK(q.k == 22 && q.t == 15);
	pol.degree = 0;
	pol.threshold = 20;
	CHECK(fl_sa_policy_params(100, &pol, &q, &err) == 0);
	CHECK(q.k == 28 && q.t == 20);
	pol.threshold = 16;             /* below 2t > k + 1 + c */
	CHECK(fl_sa_policy_params(100, &pol, &q, &err) == -1);
	pol.threshold = 0;
	pol.degree = 100;
	CHECK(fl_sa_policy_params(100, &pol, &q, &err) == -1);

	/* More dropout needs more neighbours. */
	CHECK(fl_secagg_params(1000, 0.05, 0.05, &p, &err) == 0);
	CHECK(fl_secagg_params(1000, 0.05, 0.3, &q, &err) == 0);
	CHECK(q.k >= p.k && q.k % 2 == 0 && q.k < 999);

	/* A million clients: finite bounds, a small graph. */
	CHECK(fl_secagg_params(1000000, 0.05, 0.05, &p, &err) == 0);
	CHECK(p.k < 100 && p.t >= 2 && p.t <= p.k + 1);
	CHECK(2 * p.t > p.k + 1 + p.corrupt_holders);
	CHECK(isfinite(p.log2_security) && p.log2_security <= -40);
	CHECK(isfinite(p.log2_failure) && p.log2_failure <= -20);

	/* Invalid arguments. */
	err.code = FL_EIO;
	CHECK(fl_secagg_params(2, 0.05, 0.05, &p, &err) == -1);
	CHECK(err.code == FL_EINVAL);
	err.code = FL_EIO;
	CHECK(fl_secagg_params(100, 1.0, 0.05, &p, &err) == -1);
	CHECK(err.code == FL_EINVAL);
	err.code = FL_EIO;
	CHECK(fl_secagg_params(100, 0.05, -0.1, &p, &err) == -1);
	CHECK(err.code == FL_EINVAL);
	err.code = FL_EIO;
	CHECK(fl_secagg_params(100, NAN, 0.05, &p, &err) == -1);
	CHECK(err.code == FL_EINVAL);

	/* No round with half corrupt and half dropping. */
	err.code = FL_EIO;
	CHECK(fl_secagg_params(10, 0.5, 0.5, &p, &err) == -1);
	CHECK(err.code == FL_EINVAL);
	CHECK(strstr(err.msg, "n=10") != NULL);
	err.code = FL_EIO;
	CHECK(fl_secagg_params(1000, 0.5, 0.5, &p, &err) == -1);
	CHECK(err.code == FL_EINVAL);
}

/* fl_sa_verify remembers the signatures it passed: a remembered pass must
 * never pass anything else.  After a signature passed (and is
 * remembered), each of its bytes, the digest's and the key's flipped in
 * turn is refused; so are they after more signatures than it remembers
 * have passed (evictions), and the original passes all along. */
void
test_verify_memory(void)
{
	unsigned char seed[FL_SA_BYTES], digest[FL_SA_BYTES];
	unsigned char sig[FL_SA_SIGBYTES], bad[FL_SA_SIGBYTES];
	unsigned char d2[FL_SA_BYTES], pk2[FL_SA_BYTES];
	struct fl_sa_identity a, b;
	struct fl_error err;

	memset(seed, 7, sizeof(seed));
	CHECK(fl_sa_identity_make(&a, "a", seed, NULL, &err) == 0);
	seed[0] = 8;
	CHECK(fl_sa_identity_make(&b, "b", seed, NULL, &err) == 0);
	memset(digest, 0x5a, sizeof(digest));
	fl_sa_sign(sig, digest, &a);
	for (int pass = 0; pass < 2; pass++) {
		CHECK(fl_sa_verify(sig, digest, a.pk) == 0);
		CHECK(fl_sa_verify(sig, digest, a.pk) == 0);
		CHECK(fl_sa_verify(sig, digest, b.pk) < 0);
		for (size_t i = 0; i < FL_SA_SIGBYTES; i++) {
			memcpy(bad, sig, sizeof(bad));
			bad[i] ^= 1;
			CHECK(fl_sa_verify(bad, digest, a.pk) < 0);
		}
		for (size_t i = 0; i < FL_SA_BYTES; i++) {
			memcpy(d2, digest, sizeof(d2));
			d2[i] ^= 0x80;
			CHECK(fl_sa_verify(sig, d2, a.pk) < 0);
			memcpy(pk2, a.pk, sizeof(pk2));
			pk2[i] ^= 0x80;
			CHECK(fl_sa_verify(sig, digest, pk2) < 0);
		}
		/* More passes than are remembered: a's is evicted. */
		for (int k = 0; k < 1500 && pass == 0; k++) {
			unsigned char s2[FL_SA_SIGBYTES];

			fl_store_le64(d2, (uint64_t)k);
			fl_sa_sign(s2, d2, &b);
			CHECK(fl_sa_verify(s2, d2, b.pk) == 0);
			CHECK(fl_sa_verify(s2, d2, a.pk) < 0);
		}
	}
}
