/* SPDX-License-Identifier: ISC */
/*
 * Secure aggregation (Bonawitz et al. 2017; SecAgg+, Bell et al. 2020):
 * the cryptographic pieces that the clients (fl-mask) and the server's
 * unmasking (fl-aggregate) must compute identically.  Every derived key is
 * a BLAKE2b hash with its own domain string and is bound to the session id,
 * so nothing made for one round, pair or tensor is valid for another.
 * Masks are ChaCha20 keystreams, addressed by block so that tiles of a
 * tensor can be masked in any order on any number of threads.
 */
#include <stdlib.h>
#include <string.h>

#include "secagg/internal.h"

void
fl_sa_hash_begin(crypto_generichash_state *st, const unsigned char *key,
    size_t keylen, size_t outlen, const char *domain)
{
	crypto_generichash_init(st, key, keylen, outlen);
	crypto_generichash_update(st, (const unsigned char *)domain,
	    strlen(domain) + 1);
}

/* ---- the graph ---- */

int
fl_sa_graph_init(struct fl_sa_graph *g, uint32_t n, uint32_t k,
    const unsigned char session[FL_SA_BYTES], struct fl_error *err)
{
	crypto_generichash_state st;
	unsigned char key[FL_RNG_KEYBYTES];
	struct fl_rng r;

	memset(g, 0, sizeof(*g));
	if (n < 2 || k < 1 || k > n - 1)
		return fl_error_set(err, FL_EINVAL, "%u neighbours for %u "
		    "clients: must be 1 to %u", k, n, n - 1);
	if (k < n - 1 && k % 2 != 0)
		return fl_error_set(err, FL_EINVAL, "%u neighbours: must be "
		    "even (k/2 on either side of the ring) or n - 1", k);
	g->n = n;
	g->k = k;
	g->pos = malloc((size_t)n * sizeof(*g->pos));
	g->at = malloc((size_t)n * sizeof(*g->at));
	if (g->pos == NULL || g->at == NULL) {
		fl_sa_graph_free(g);
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	}
	/* The order comes from the session id: every client can check the
	 * graph, and no party chooses its neighbours. */
	fl_sa_hash_begin(&st, NULL, 0, sizeof(key), "fl-mask graph v1");
	crypto_generichash_update(&st, session, FL_SA_BYTES);
	crypto_generichash_final(&st, key, sizeof(key));
	fl_rng_init(&r, key, 0);
	for (uint32_t p = 0; p < n; p++)
		g->at[p] = p + 1;
	for (uint32_t p = n - 1; p > 0; p--) {
		uint32_t q = (uint32_t)fl_rng_below(&r, (uint64_t)p + 1);
		uint32_t c = g->at[p];

		g->at[p] = g->at[q];
		g->at[q] = c;
	}
	fl_rng_wipe(&r);
	sodium_memzero(key, sizeof(key));
	for (uint32_t p = 0; p < n; p++)
		g->pos[g->at[p] - 1] = p;
	return 0;
}

int
fl_sa_adjacent(const struct fl_sa_graph *g, uint32_t i, uint32_t j)
{
	uint32_t d;

	if (i == j || i < 1 || j < 1 || i > g->n || j > g->n)
		return 0;
	if (g->k >= g->n - 1)
		return 1;
	d = g->pos[i - 1] > g->pos[j - 1] ? g->pos[i - 1] - g->pos[j - 1] :
	    g->pos[j - 1] - g->pos[i - 1];
	if (d > g->n - d)
		d = g->n - d;
	return d <= g->k / 2;
}

size_t
fl_sa_neighbours(const struct fl_sa_graph *g, uint32_t i, uint32_t *out)
{
	size_t m = 0;

	if (g->k >= g->n - 1) {
		for (uint32_t j = 1; j <= g->n; j++)
			if (j != i)
				out[m++] = j;
		return m;
	}
	for (uint32_t o = 1; o <= g->k / 2; o++) {
		uint32_t p = g->pos[i - 1];

		out[m++] = g->at[(p + o) % g->n];
		out[m++] = g->at[(p + g->n - o) % g->n];
	}
	fl_sort_u32(out, m);
	return m;
}

size_t
fl_sa_holders(const struct fl_sa_graph *g, uint32_t i, uint32_t *out)
{
	size_t k = fl_sa_neighbours(g, i, out), j = k;

	while (j > 0 && out[j - 1] > i) {
		out[j] = out[j - 1];
		j--;
	}
	out[j] = i;
	return k + 1;
}

void
fl_sa_graph_free(struct fl_sa_graph *g)
{
	free(g->pos);
	free(g->at);
	g->pos = g->at = NULL;
}

/* ---- keys ---- */

void
fl_sa_seed_key(unsigned char key[FL_RNG_KEYBYTES], const char *seed,
    const char *purpose, const char *id)
{
	unsigned char m[FL_RNG_KEYBYTES];
	crypto_generichash_state st;

	fl_rng_seed_text(m, seed);
	fl_sa_hash_begin(&st, m, sizeof(m), FL_RNG_KEYBYTES, "fl-mask seed v1");
	crypto_generichash_update(&st, (const unsigned char *)purpose,
	    strlen(purpose) + 1);
	crypto_generichash_update(&st, (const unsigned char *)id,
	    strlen(id) + 1);
	crypto_generichash_final(&st, key, FL_RNG_KEYBYTES);
	sodium_memzero(m, sizeof(m));
}

int
fl_sa_mask_keypair(unsigned char pk[FL_SA_BYTES], unsigned char sk[FL_SA_BYTES],
    const unsigned char seed[FL_SA_BYTES])
{
	return crypto_kx_seed_keypair(pk, sk, seed);
}

int
fl_sa_box_keypair(unsigned char pk[FL_SA_BYTES], unsigned char sk[FL_SA_BYTES],
    const unsigned char seed[FL_SA_BYTES])
{
	return crypto_box_seed_keypair(pk, sk, seed);
}

int
fl_sa_pair_seed(unsigned char out[FL_SA_BYTES],
    const unsigned char sk[FL_SA_BYTES], const unsigned char peer_pk[FL_SA_BYTES],
    const unsigned char session[FL_SA_BYTES], uint32_t a, uint32_t b,
    struct fl_error *err)
{
	crypto_generichash_state st;
	unsigned char shared[crypto_scalarmult_BYTES], ids[8];

	if (crypto_scalarmult(shared, sk, peer_pk) != 0)
		return fl_error_set(err, FL_EINVAL, "a mask public key is a "
		    "weak point");
	/* The pair in ascending order, so both ends derive the same seed. */
	fl_store_le32(ids, a < b ? a : b);
	fl_store_le32(ids + 4, a < b ? b : a);
	fl_sa_hash_begin(&st, NULL, 0, FL_SA_BYTES, "fl-mask pair v1");
	crypto_generichash_update(&st, session, FL_SA_BYTES);
	crypto_generichash_update(&st, ids, sizeof(ids));
	crypto_generichash_update(&st, shared, sizeof(shared));
	crypto_generichash_final(&st, out, FL_SA_BYTES);
	sodium_memzero(shared, sizeof(shared));
	return 0;
}

void
fl_sa_self_seed(unsigned char out[FL_SA_BYTES],
    const unsigned char self_secret[FL_SCALAR_BYTES],
    const unsigned char session[FL_SA_BYTES])
{
	crypto_generichash_state st;

	fl_sa_hash_begin(&st, self_secret, FL_SCALAR_BYTES, FL_SA_BYTES,
	    "fl-mask self v1");
	crypto_generichash_update(&st, session, FL_SA_BYTES);
	crypto_generichash_final(&st, out, FL_SA_BYTES);
}

void
fl_sa_commit(unsigned char out[FL_SA_BYTES],
    const unsigned char self_secret[FL_SCALAR_BYTES])
{
	crypto_generichash_state st;

	fl_sa_hash_begin(&st, NULL, 0, FL_SA_BYTES, "fl-mask commit v1");
	crypto_generichash_update(&st, self_secret, FL_SCALAR_BYTES);
	crypto_generichash_final(&st, out, FL_SA_BYTES);
}

void
fl_sa_poly_key(unsigned char key[FL_RNG_KEYBYTES],
    const unsigned char mask_seed[FL_SCALAR_BYTES],
    const unsigned char self_secret[FL_SCALAR_BYTES],
    const unsigned char box_seed[FL_SA_BYTES],
    const unsigned char session[FL_SA_BYTES])
{
	crypto_generichash_state st;

	fl_sa_hash_begin(&st, NULL, 0, FL_RNG_KEYBYTES, "fl-mask poly v1");
	crypto_generichash_update(&st, mask_seed, FL_SCALAR_BYTES);
	crypto_generichash_update(&st, self_secret, FL_SCALAR_BYTES);
	crypto_generichash_update(&st, box_seed, FL_SA_BYTES);
	crypto_generichash_update(&st, session, FL_SA_BYTES);
	crypto_generichash_final(&st, key, FL_RNG_KEYBYTES);
	sodium_memzero(&st, sizeof(st));
}

/* ---- share envelopes ---- */

/* The nonce names the session and the direction: the box key is the same
 * both ways between two clients, the nonce is not. */
static void
box_nonce(unsigned char nonce[crypto_box_NONCEBYTES],
    const unsigned char session[FL_SA_BYTES], uint32_t from, uint32_t to)
{
	crypto_generichash_state st;
	unsigned char ids[8];

	fl_store_le32(ids, from);
	fl_store_le32(ids + 4, to);
	fl_sa_hash_begin(&st, NULL, 0, crypto_box_NONCEBYTES, "fl-mask box v1");
	crypto_generichash_update(&st, session, FL_SA_BYTES);
	crypto_generichash_update(&st, ids, sizeof(ids));
	crypto_generichash_final(&st, nonce, crypto_box_NONCEBYTES);
}

static void
box_plain(unsigned char p[FL_SA_PLAINBYTES], const struct fl_sa_share *s,
    const unsigned char session[FL_SA_BYTES], uint32_t from, uint32_t to)
{
	memcpy(p, session, FL_SA_BYTES);
	fl_store_le32(p + FL_SA_BYTES, from);
	fl_store_le32(p + FL_SA_BYTES + 4, to);
	memcpy(p + FL_SA_BYTES + 8, s->mask, FL_SCALAR_BYTES);
	memcpy(p + FL_SA_BYTES + 8 + FL_SCALAR_BYTES, s->self, FL_SCALAR_BYTES);
}

int
fl_sa_seal(unsigned char box[FL_SA_BOXBYTES], const struct fl_sa_share *s,
    const unsigned char session[FL_SA_BYTES], uint32_t from, uint32_t to,
    const unsigned char from_sk[FL_SA_BYTES],
    const unsigned char to_pk[FL_SA_BYTES], struct fl_error *err)
{
	unsigned char plain[FL_SA_PLAINBYTES], nonce[crypto_box_NONCEBYTES];
	int rc;

	box_plain(plain, s, session, from, to);
	box_nonce(nonce, session, from, to);
	rc = crypto_box_easy(box, plain, sizeof(plain), nonce, to_pk, from_sk);
	sodium_memzero(plain, sizeof(plain));
	if (rc != 0)
		return fl_error_set(err, FL_EINVAL, "the box public key of "
		    "client %u is a weak point", to);
	return 0;
}

int
fl_sa_open(struct fl_sa_share *s, const unsigned char box[FL_SA_BOXBYTES],
    const unsigned char session[FL_SA_BYTES], uint32_t from, uint32_t to,
    const unsigned char to_sk[FL_SA_BYTES],
    const unsigned char from_pk[FL_SA_BYTES], struct fl_error *err)
{
	unsigned char plain[FL_SA_PLAINBYTES], want[FL_SA_PLAINBYTES];
	unsigned char nonce[crypto_box_NONCEBYTES];
	int ok;

	box_nonce(nonce, session, from, to);
	if (crypto_box_open_easy(plain, box, FL_SA_BOXBYTES, nonce, from_pk,
	    to_sk) != 0)
		return fl_error_set(err, FL_EFORMAT, "the share envelope from "
		    "client %u to client %u fails authentication (tampered, "
		    "or made for another round or recipient)", from, to);
	memcpy(s->mask, plain + FL_SA_BYTES + 8, FL_SCALAR_BYTES);
	memcpy(s->self, plain + FL_SA_BYTES + 8 + FL_SCALAR_BYTES,
	    FL_SCALAR_BYTES);
	box_plain(want, s, session, from, to);
	ok = sodium_memcmp(plain, want, FL_SA_BYTES + 8) == 0;
	sodium_memzero(plain, sizeof(plain));
	sodium_memzero(want, sizeof(want));
	if (!ok) {
		sodium_memzero(s, sizeof(*s));
		return fl_error_set(err, FL_EFORMAT, "the share envelope from "
		    "client %u to client %u names another session or pair",
		    from, to);
	}
	/* A sender can seal anything: the shares must be scalars mod L. */
	if (!fl_scalar_is_canonical(s->mask) ||
	    !fl_scalar_is_canonical(s->self)) {
		sodium_memzero(s, sizeof(*s));
		return fl_error_set(err, FL_EFORMAT, "the share envelope from "
		    "client %u to client %u holds a share that is not a "
		    "scalar mod L", from, to);
	}
	return 0;
}

/* ---- masks ---- */

void
fl_sa_tensor_key(unsigned char out[FL_SA_BYTES],
    const unsigned char seed[FL_SA_BYTES], const char *name, unsigned bits,
    uint64_t numel)
{
	crypto_generichash_state st;
	unsigned char shape[12];

	fl_store_le32(shape, bits);
	fl_store_le64(shape + 4, numel);
	fl_sa_hash_begin(&st, seed, FL_SA_BYTES, FL_SA_BYTES, "fl-mask tensor v1");
	crypto_generichash_update(&st, shape, sizeof(shape));
	crypto_generichash_update(&st, (const unsigned char *)name,
	    strlen(name) + 1);
	crypto_generichash_final(&st, out, FL_SA_BYTES);
}

/* 16 KiB of words: the tile and one keystream block stay in L1 while
 * every term is added, so the tensor is read and written once. */
#define TILE 4096

struct mask_job {
	uint32_t *data;
	uint64_t n;
	uint32_t keep;
	const struct fl_sa_term *terms;
	size_t nterms;
};

static void
mask_tile(void *ctx, size_t tile)
{
	const struct mask_job *j = ctx;
	uint32_t ks[TILE];
	uint64_t first = (uint64_t)tile * TILE;
	size_t len = j->n - first < TILE ? (size_t)(j->n - first) : TILE;
	uint32_t *d = j->data + first;

	for (size_t t = 0; t < j->nterms; t++) {
		/* TILE words are 256 ChaCha20 blocks. */
		fl_rng_stream_u32(ks, len, j->terms[t].key, 0, first / 16);
		if (j->terms[t].negate)
			for (size_t i = 0; i < len; i++)
				d[i] -= ks[i];
		else
			for (size_t i = 0; i < len; i++)
				d[i] += ks[i];
	}
	/* Mod 2^bits: wrapping uint32 arithmetic, then the low bits. */
	if (j->keep != UINT32_MAX)
		for (size_t i = 0; i < len; i++)
			d[i] &= j->keep;
	sodium_memzero(ks, sizeof(ks));
}

int
fl_sa_mask(uint32_t *data, uint64_t n, unsigned bits,
    const struct fl_sa_term *terms, size_t nterms, int nthreads,
    struct fl_error *err)
{
	struct mask_job j;

	if (bits < 1 || bits > 32)
		return fl_error_set(err, FL_EINVAL, "a mask of %u bits: must "
		    "be 1 to 32", bits);
	j.data = data;
	j.n = n;
	j.keep = bits == 32 ? UINT32_MAX : (UINT32_C(1) << bits) - 1;
	j.terms = terms;
	j.nterms = nterms;
	return fl_parallel_for((size_t)((n + TILE - 1) / TILE),
	    nthreads < 1 ? 1 : nthreads, mask_tile, &j, err);
}
