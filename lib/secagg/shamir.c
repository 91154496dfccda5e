/* SPDX-License-Identifier: ISC */
/*
 * Shamir secret sharing over Z_L, L the order of the ed25519 base point,
 * for SecAgg+: each client splits its mask seeds among its neighbours, and
 * the server rebuilds the seeds of dropped clients from t shares.  The
 * field arithmetic is libsodium's crypto_core_ed25519_scalar_*, so no
 * bignum code of our own.  Splitting evaluates a random polynomial by
 * Horner's rule; combining is Lagrange interpolation at 0 with a single
 * field inversion (Montgomery's batch trick), t^2 multiplications in all.
 *
 * Feldman's verifiable secret sharing on top: the dealer publishes its
 * polynomial's coefficients times the ed25519 base point, and a share y
 * at x is good exactly when y B is the polynomial evaluated "in the
 * exponent" at x.  Since L is the order of B, the points reveal nothing
 * computable about the coefficients; they let the server tell a wrong
 * revealed share from a right one, which the rebuilt secret alone (a hash
 * that does not match) cannot.
 */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "secagg/internal.h"

#define SB FL_SCALAR_BYTES

/* L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
static const unsigned char order[SB] = {
	0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
	0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10
};

void
fl_scalar_random(unsigned char s[FL_SCALAR_BYTES], struct fl_rng *rng)
{
	unsigned char wide[crypto_core_ed25519_NONREDUCEDSCALARBYTES];

	/* 512 bits reduced mod L: the bias is below 2^-259. */
	for (int i = 0; i < 8; i++)
		fl_store_le64(wide + 8 * i, fl_rng_u64(rng));
	crypto_core_ed25519_scalar_reduce(s, wide);
	sodium_memzero(wide, sizeof(wide));
}

int
fl_scalar_is_canonical(const unsigned char s[FL_SCALAR_BYTES])
{
	unsigned borrow = 0;

	/* s - L without branches on s: s < L exactly when it borrows. */
	for (int i = 0; i < SB; i++)
		borrow = ((unsigned)s[i] - order[i] - borrow) >> 8 & 1;
	return (int)borrow;
}

static void
scalar_from_u32(unsigned char s[SB], uint32_t x)
{
	memset(s, 0, SB);
	fl_store_le32(s, x);
}


/* 0 if the n x-coordinates are nonzero and distinct. */
static int
check_xs(const uint32_t *xs, size_t n, struct fl_error *err)
{
	uint32_t *sorted;
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		if (xs[i] == 0)
			return fl_error_set(err, FL_EINVAL,
			    "shamir: x-coordinate %zu is zero", i);
	if (n <= 64) {
		for (size_t i = 0; i < n; i++)
			for (size_t j = i + 1; j < n; j++)
				if (xs[i] == xs[j])
					return fl_error_set(err, FL_EINVAL,
					    "shamir: x-coordinate %u repeated",
					    (unsigned)xs[i]);
		return 0;
	}
	if ((sorted = malloc(n * sizeof(*sorted))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	memcpy(sorted, xs, n * sizeof(*sorted));
	fl_sort_u32(sorted, n);
	for (size_t i = 1; i < n && rc == 0; i++)
		if (sorted[i] == sorted[i - 1])
			rc = fl_error_set(err, FL_EINVAL,
			    "shamir: x-coordinate %u repeated",
			    (unsigned)sorted[i]);
	free(sorted);
	return rc;
}

int
fl_shamir_split(const unsigned char secret[FL_SCALAR_BYTES], size_t t,
    const uint32_t *xs, size_t n, unsigned char (*shares)[FL_SCALAR_BYTES],
    unsigned char (*commit)[FL_SCALAR_BYTES], struct fl_rng *rng,
    struct fl_error *err)
{
	unsigned char (*coef)[SB], x[SB], acc[SB];
	int rc = 0;

	if (!fl_scalar_is_canonical(secret))
		return fl_error_set(err, FL_EINVAL,
		    "shamir: the secret is not a canonical scalar");
	if (t < 1 || t > n)
		return fl_error_set(err, FL_EINVAL,
		    "shamir: threshold %zu is not in [1, %zu]", t, n);
	if (check_xs(xs, n, err) < 0)
		return -1;
	if (t > SIZE_MAX / SB || (coef = malloc(t * SB)) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");

	/* f(x) = secret + a_1 x + ... + a_{t-1} x^{t-1}, the a_i drawn in
	 * that order. */
	memcpy(coef[0], secret, SB);
	for (size_t i = 1; i < t; i++)
		fl_scalar_random(coef[i], rng);
	for (size_t i = 0; i < n; i++) {
		scalar_from_u32(x, xs[i]);
		memcpy(acc, coef[t - 1], SB);
		for (size_t j = t - 1; j-- > 0;) {
			crypto_core_ed25519_scalar_mul(acc, acc, x);
			crypto_core_ed25519_scalar_add(acc, acc, coef[j]);
		}
		memcpy(shares[i], acc, SB);
	}
	/* A zero coefficient has no point (libsodium refuses the identity):
	 * a chance of t 2^-252, and a zero secret, which nobody draws. */
	for (size_t j = 0; commit != NULL && j < t && rc == 0; j++)
		if (crypto_scalarmult_ed25519_base_noclamp(commit[j],
		    coef[j]) != 0)
			rc = fl_error_set(err, FL_EINVAL, "shamir: a zero "
			    "coefficient has no commitment");
	sodium_memzero(coef, t * SB);
	sodium_memzero(acc, sizeof(acc));
	free(coef);
	return rc;
}

int
fl_shamir_verify(uint32_t x, const unsigned char y[FL_SCALAR_BYTES],
    const unsigned char (*commit)[FL_SCALAR_BYTES], size_t t)
{
	unsigned char xs[SB], acc[SB], lhs[SB];

	if (t == 0 || x == 0 || !fl_scalar_is_canonical(y) ||
	    !crypto_core_ed25519_is_valid_point(commit[t - 1]))
		return 0;
	/* sum_j x^j C_j by Horner's rule, in the group. */
	scalar_from_u32(xs, x);
	memcpy(acc, commit[t - 1], SB);
	for (size_t j = t - 1; j-- > 0;)
		if (crypto_scalarmult_ed25519_noclamp(acc, xs, acc) != 0 ||
		    crypto_core_ed25519_add(acc, acc, commit[j]) != 0)
			return 0;
	if (crypto_scalarmult_ed25519_base_noclamp(lhs, y) != 0)
		return 0;
	return sodium_memcmp(lhs, acc, SB) == 0;
}

int
fl_shamir_combine(const uint32_t *xs,
    const unsigned char (*shares)[FL_SCALAR_BYTES], size_t t,
    unsigned char secret[FL_SCALAR_BYTES], struct fl_error *err)
{
	unsigned char (*d)[SB], (*pre)[SB];
	unsigned char xi[SB], xj[SB], diff[SB], num[SB], prod[SB], inv[SB];
	unsigned char term[SB];
	unsigned char sum[SB] = { 0 };

	if (t == 0)
		return fl_error_set(err, FL_EINVAL,
		    "shamir: no shares to combine");
	for (size_t i = 0; i < t; i++) {
		if (xs[i] == 0)
			return fl_error_set(err, FL_EINVAL,
			    "shamir: x-coordinate %zu is zero", i);
		if (!fl_scalar_is_canonical(shares[i]))
			return fl_error_set(err, FL_EINVAL,
			    "shamir: share %zu is not a canonical scalar", i);
	}
	if (t > SIZE_MAX / (2 * SB) || (d = malloc(2 * t * SB)) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	pre = d + t;

	/*
	 * f(0) = sum_i y_i prod_{j != i} x_j / (x_j - x_i)
	 *      = (prod_j x_j) sum_i y_i / d_i,
	 * d_i = x_i prod_{j != i} (x_j - x_i).
	 * d_i is zero exactly when some x_j repeats x_i (L is prime and the
	 * x's are far below it).  pre[i] = d_0 ... d_{i-1} for the batch
	 * inversion.
	 */
	scalar_from_u32(num, 1);
	for (size_t i = 0; i < t; i++) {
		scalar_from_u32(xi, xs[i]);
		memcpy(d[i], xi, SB);
		for (size_t j = 0; j < t; j++) {
			if (j == i)
				continue;
			scalar_from_u32(xj, xs[j]);
			crypto_core_ed25519_scalar_sub(diff, xj, xi);
			crypto_core_ed25519_scalar_mul(d[i], d[i], diff);
		}
		if (sodium_is_zero(d[i], SB)) {
			free(d);
			return fl_error_set(err, FL_EINVAL,
			    "shamir: x-coordinate %u repeated",
			    (unsigned)xs[i]);
		}
		crypto_core_ed25519_scalar_mul(num, num, xi);
		if (i == 0)
			scalar_from_u32(pre[0], 1);
		else
			crypto_core_ed25519_scalar_mul(pre[i], pre[i - 1],
			    d[i - 1]);
	}
	/* inv = 1 / (d_0 ... d_{t-1}); walking back, 1/d_i = inv pre[i],
	 * then inv *= d_i leaves 1 / (d_0 ... d_{i-1}). */
	crypto_core_ed25519_scalar_mul(prod, pre[t - 1], d[t - 1]);
	if (crypto_core_ed25519_scalar_invert(inv, prod) != 0) {
		free(d);        /* cannot happen: no d_i is zero */
		return fl_error_set(err, FL_EINVAL,
		    "shamir: x-coordinates not invertible");
	}
	for (size_t i = t; i-- > 0;) {
		crypto_core_ed25519_scalar_mul(term, inv, pre[i]);
		crypto_core_ed25519_scalar_mul(inv, inv, d[i]);
		crypto_core_ed25519_scalar_mul(term, term, shares[i]);
		crypto_core_ed25519_scalar_add(sum, sum, term);
	}
	crypto_core_ed25519_scalar_mul(secret, sum, num);
	sodium_memzero(sum, sizeof(sum));
	sodium_memzero(term, sizeof(term));
	sodium_memzero(inv, sizeof(inv));
	sodium_memzero(d, 2 * t * SB);
	free(d);
	return 0;
}
