/* SPDX-License-Identifier: ISC */
/*
 * Masking a client's ring-encoded record, and removing the masks from the
 * servers's modular sum.  Both sides build the same terms from the same
 * rule, which is why they live together:
 *
 *   y_u = x_u + PRG(self_u) + sum over neighbours v that shared of
 *         (+PRG(s_uv) if u < v, -PRG(s_uv) if u > v)        mod 2^bits
 *
 * In the sum over survivors U3 the pairwise terms between survivors
 * cancel.  Left are each survivor's self mask, rebuilt from shares, and
 * the terms toward neighbours that shared but dropped before sending y,
 * rebuilt from their mask-key seed.
 */
#include <stdlib.h>
#include <string.h>

#include "secagg/internal.h"

/* Seeds of the terms of one record, made into per-tensor keys. */
struct seeds {
	unsigned char (*seed)[FL_SA_BYTES];
	int *negate;
	size_t n, cap;
};

/* *p grown from old to new bytes, the old copy wiped before it is freed
 * (realloc would leave the secrets in freed memory). */
static int
grow_secret(void *p, size_t old, size_t new, struct fl_error *err)
{
	void **pp = p, *a = malloc(new);

	if (a == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	if (*pp != NULL) {
		memcpy(a, *pp, old);
		sodium_memzero(*pp, old);
		free(*pp);
	}
	*pp = a;
	return 0;
}

static int
seeds_add(struct seeds *s, const unsigned char seed[FL_SA_BYTES], int negate,
    struct fl_error *err)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		void *a;

		if (grow_secret(&s->seed, s->cap * FL_SA_BYTES,
		    cap * FL_SA_BYTES, err) < 0)
			return -1;
		if ((a = realloc(s->negate, cap * sizeof(int))) == NULL)
			return fl_error_set(err, FL_ENOMEM, "out of memory");
		s->negate = a;
		s->cap = cap;
	}
	memcpy(s->seed[s->n], seed, FL_SA_BYTES);
	s->negate[s->n++] = negate;
	return 0;
}

static void
seeds_free(struct seeds *s)
{
	if (s->seed != NULL)
		sodium_memzero(s->seed, s->cap * FL_SA_BYTES);
	free(s->seed);
	free(s->negate);
}

/* The bits of a ring record: modulus 2^bits, 1 <= bits <= 32. */
int
fl_sa_ring_bits(const struct fl_record *rec, unsigned *bits,
    struct fl_error *err)
{
	const char *m = fl_meta_get(rec, "modulus");
	uint64_t mod;
	struct fl_error e;

	if (m == NULL)
		return fl_error_set(err, FL_EFORMAT, "no modulus: mask the "
		    "ring encoding of fl-quantize --ring");
	if (fl_parse_u64(m, 2, UINT64_C(1) << 32, &mod, &e) < 0)
		return fl_error_set(err, FL_EFORMAT, "modulus '%s': %s (at "
		    "most 2^32)", m, e.msg);
	if ((mod & (mod - 1)) != 0)
		return fl_error_set(err, FL_EFORMAT, "modulus %s is not a "
		    "power of two", m);
	for (*bits = 0; (UINT64_C(1) << *bits) < mod; (*bits)++)
		;
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		const uint32_t *v = t->data;

		if (t->dtype != FL_U32)
			return fl_error_set(err, FL_EFORMAT, "tensor '%s' is "
			    "%s: only u32 ring tensors can be masked", t->name,
			    fl_dtype_name(t->dtype));
		if (*bits < 32)
			for (uint64_t j = 0; j < t->numel; j++)
				if (v[j] >> *bits)
					return fl_error_set(err, FL_EFORMAT,
					    "tensor '%s' element %llu is %u, "
					    "not below the modulus %s",
					    t->name, (unsigned long long)j,
					    v[j], m);
	}
	return 0;
}

/* Apply the seeds' masks to every tensor of rec. */
static int
apply(struct fl_record *rec, const struct seeds *s, unsigned bits,
    int nthreads, struct fl_error *err)
{
	struct fl_sa_term *terms = malloc((s->n ? s->n : 1) * sizeof(*terms));
	int rc = 0;

	if (terms == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	for (size_t i = 0; i < rec->ntensors && rc == 0; i++) {
		struct fl_tensor *t = &rec->tensors[i];

		for (size_t j = 0; j < s->n; j++) {
			fl_sa_tensor_key(terms[j].key, s->seed[j], t->name,
			    bits, t->numel);
			terms[j].negate = s->negate[j];
		}
		if (t->numel)
			rc = fl_sa_mask(t->data, t->numel, bits, terms, s->n,
			    nthreads, err);
	}
	sodium_memzero(terms, (s->n ? s->n : 1) * sizeof(*terms));
	free(terms);
	return rc;
}

static int
in_set(const uint32_t *set, size_t m, uint32_t x)
{
	size_t lo = 0, hi = m;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (set[mid] == x)
			return 1;
		if (set[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

int
fl_sa_mask_record(struct fl_record *rec, const struct fl_sa_roster *r,
    const struct fl_sa_secret *sec, const uint32_t *shared, size_t nshared,
    int nthreads, struct fl_error *err)
{
	struct seeds s = { 0 };
	unsigned char pk[FL_SA_BYTES], sk[FL_SA_BYTES], seed[FL_SA_BYTES];
	uint32_t me = fl_sa_roster_find(r, sec->id), *nb = NULL;
	unsigned bits;
	size_t k;
	int rc = -1;

	if (me == 0)
		return fl_error_set(err, FL_EINVAL, "client '%s' is not in "
		    "the roster", sec->id);
	if (fl_sa_ring_bits(rec, &bits, err) < 0)
		return -1;
	if ((nb = malloc((size_t)r->k * sizeof(*nb))) == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	fl_sa_self_seed(seed, sec->self, r->session);
	if (seeds_add(&s, seed, 0, err) < 0)
		goto out;
	if (fl_sa_mask_keypair(pk, sk, sec->mask_seed) != 0) {
		fl_error_set(err, FL_EINVAL, "client '%s': the mask key seed "
		    "gives no key pair", sec->id);
		goto out;
	}
	k = fl_sa_neighbours(&r->graph, me, nb);
	for (size_t i = 0; i < k; i++) {
		/* Only toward neighbours that shared (U2): the server can
		 * rebuild the masks of exactly those. */
		if (!in_set(shared, nshared, nb[i]))
			continue;
		if (fl_sa_pair_seed(seed, sk, r->pub[nb[i] - 1].pk_mask,
		    r->session, me, nb[i], err) < 0 ||
		    seeds_add(&s, seed, me > nb[i], err) < 0)
			goto out;
	}
	rc = apply(rec, &s, bits, nthreads, err);
out:
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(seed, sizeof(seed));
	seeds_free(&s);
	free(nb);
	return rc;
}

/* The shares revealed for one client's secret. */
struct pile {
	uint32_t *x;
	unsigned char (*y)[FL_SCALAR_BYTES];
	size_t n, cap;
	int kind;               /* 0 none, 1 self, 2 mask */
};

static int
pile_add(struct pile *p, uint32_t x, const unsigned char y[FL_SCALAR_BYTES],
    struct fl_error *err)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 8;
		void *a = realloc(p->x, cap * sizeof(*p->x));

		if (a == NULL)
			return fl_error_set(err, FL_ENOMEM, "out of memory");
		p->x = a;
		if (grow_secret(&p->y, p->cap * FL_SCALAR_BYTES,
		    cap * FL_SCALAR_BYTES, err) < 0)
			return -1;
		p->cap = cap;
	}
	p->x[p->n] = x;
	memcpy(p->y[p->n++], y, FL_SCALAR_BYTES);
	return 0;
}

/* File the shares of one reveal, checking each against the protocol. */
static int
file_reveal(struct pile *piles, const struct fl_sa_roster *r,
    const uint32_t *surv, size_t nsurv, const struct fl_sa_reveal *v,
    struct fl_error *err)
{
	const char *who = r->pub[v->from - 1].id;

	for (int kind = 1; kind <= 2; kind++) {
		size_t n = kind == 1 ? v->nself : v->nmask;
		const uint32_t *of = kind == 1 ? v->self_of : v->mask_of;

		for (size_t i = 0; i < n; i++) {
			uint32_t o = of[i];
			struct pile *p = &piles[o - 1];

			if (o != v->from && !fl_sa_adjacent(&r->graph, o,
			    v->from))
				return fl_error_set(err, FL_EFORMAT, "client "
				    "'%s' reveals a share of client '%s', who "
				    "is not its neighbour", who,
				    r->pub[o - 1].id);
			if ((kind == 1) != in_set(surv, nsurv, o))
				return fl_error_set(err, FL_EFORMAT, "client "
				    "'%s' reveals a %s share of client '%s', "
				    "who %s", who, kind == 1 ? "self-mask" :
				    "mask-key", r->pub[o - 1].id, kind == 1 ?
				    "did not survive" : "survived");
			for (size_t j = 0; j < p->n; j++)
				if (p->x[j] == v->from)
					return fl_error_set(err, FL_EFORMAT,
					    "client '%s' reveals two shares of "
					    "client '%s'", who,
					    r->pub[o - 1].id);
			p->kind = kind;
			if (pile_add(p, v->from, kind == 1 ? v->self_share[i] :
			    v->mask_share[i], err) < 0)
				return -1;
		}
	}
	return 0;
}

static int
add_fault(struct fl_sa_faults *f, uint32_t from, uint32_t of, int self,
    struct fl_error *err)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 16;
		void *a = realloc(f->v, cap * sizeof(*f->v));

		if (a == NULL)
			return fl_error_set(err, FL_ENOMEM, "out of memory");
		f->v = a;
		f->cap = cap;
	}
	f->v[f->n].from = from;
	f->v[f->n].of = of;
	f->v[f->n++].self = self;
	return 0;
}

/* Whether secret is the one client c published: b_u against its
 * commitment, the mask-key seed against its public key. */
static int
matches(const struct fl_sa_public *p, int self,
    const unsigned char secret[FL_SCALAR_BYTES])
{
	unsigned char pk[FL_SA_BYTES], sk[FL_SA_BYTES];
	int ok;

	if (self) {
		fl_sa_commit(pk, secret);
		return sodium_memcmp(pk, p->commit, FL_SA_BYTES) == 0;
	}
	ok = fl_sa_mask_keypair(pk, sk, secret) == 0 &&
	    sodium_memcmp(pk, p->pk_mask, FL_SA_BYTES) == 0;
	sodium_memzero(sk, sizeof(sk));
	return ok;
}

/*
 * Client c's secret from the shares in its pile.  The first t are tried;
 * a wrong one among them makes the result miss the published value (the
 * Lagrange coefficients at 0 are never zero).  Then each share is checked
 * against c's Feldman commitments, the failures are noted, and t good
 * ones rebuild it: the round goes on as long as t good shares came.
 */
static int
rebuild(const struct fl_sa_roster *r, uint32_t c, struct pile *p,
    const struct fl_sa_shares *dealt, struct fl_sa_faults *faults,
    unsigned char secret[FL_SCALAR_BYTES], struct fl_error *err)
{
	const unsigned char (*commit)[FL_SCALAR_BYTES];
	const char *id = r->pub[c - 1].id, *what;
	int self = p->kind == 1;
	size_t good = 0;

	what = self ? "self-mask secret" : "mask key";
	if (p->n < r->t)
		return fl_error_set(err, FL_EINVAL, "%zu shares of client "
		    "'%s', fewer than the threshold %u: the round is aborted "
		    "and nothing unmasked", p->n, id, r->t);
	if (fl_shamir_combine(p->x, (const unsigned char (*)[FL_SCALAR_BYTES])
	    p->y, r->t, secret, err) < 0)
		return -1;
	if (matches(&r->pub[c - 1], self, secret))
		return 0;
	if (dealt == NULL || dealt[c - 1].m == 0)
		return fl_error_set(err, FL_EFORMAT, "the %s rebuilt for client "
		    "'%s' does not match its public one: a revealed share is "
		    "wrong, and without its shares record the wrong one cannot "
		    "be told", what, id);
	commit = self ? dealt[c - 1].commit_self : dealt[c - 1].commit_mask;
	/* Good shares to the front, in order; which ones failed is known
	 * once there is at least one good one (if none is, the owner's
	 * commitments are at fault, not every holder). */
	for (size_t i = 0; i < p->n; i++)
		if (fl_shamir_verify(p->x[i], p->y[i], commit, r->t)) {
			uint32_t x = p->x[good];
			unsigned char y[FL_SCALAR_BYTES];

			memcpy(y, p->y[good], FL_SCALAR_BYTES);
			p->x[good] = p->x[i];
			memcpy(p->y[good], p->y[i], FL_SCALAR_BYTES);
			p->x[i] = x;
			memcpy(p->y[i], y, FL_SCALAR_BYTES);
			sodium_memzero(y, sizeof(y));
			good++;
		}
	if (good == 0)
		return fl_error_set(err, FL_EFORMAT, "no share of client '%s' "
		    "fits its Feldman commitments: client '%s' published bad "
		    "commitments", id, id);
	for (size_t i = good; i < p->n; i++)
		if (add_fault(faults, p->x[i], c, self, err) < 0)
			return -1;
	if (good < r->t)
		return fl_error_set(err, FL_EINVAL, "%zu of the %zu shares of "
		    "client '%s' are wrong, %zu good ones are fewer than the "
		    "threshold %u: the round is aborted and nothing unmasked",
		    p->n - good, p->n, id, good, r->t);
	if (fl_shamir_combine(p->x, (const unsigned char (*)[FL_SCALAR_BYTES])
	    p->y, r->t, secret, err) < 0)
		return -1;
	if (!matches(&r->pub[c - 1], self, secret))
		return fl_error_set(err, FL_EFORMAT, "client '%s' dealt shares "
		    "of another %s than the one it published", id, what);
	return 0;
}

int
fl_sa_unmask_record(struct fl_record *sum, const struct fl_sa_roster *r,
    const uint32_t *surv, size_t nsurv, const char *shared_hash,
    const struct fl_sa_reveal *rv, size_t nrv,
    const struct fl_sa_shares *dealt, struct fl_sa_faults *faults,
    int nthreads, struct fl_error *err)
{
	struct pile *piles = calloc(r->n, sizeof(*piles));
	struct seeds s = { 0 };
	unsigned char secret[FL_SCALAR_BYTES], seed[FL_SA_BYTES];
	unsigned char pk[FL_SA_BYTES], sk[FL_SA_BYTES];
	char hash[FL_SA_HEX];
	uint32_t *shared = NULL, *nb = NULL;
	size_t nshared = 0;
	unsigned bits;
	int rc = -1;

	if (piles == NULL || (shared = malloc(r->n * sizeof(*shared))) == NULL ||
	    (nb = malloc((size_t)r->k * sizeof(*nb))) == NULL) {
		fl_error_set(err, FL_ENOMEM, "out of memory");
		goto out;
	}
	if (fl_sa_ring_bits(sum, &bits, err) < 0)
		goto out;
	if (nsurv < r->t) {
		fl_error_set(err, FL_EINVAL, "%zu survivors, fewer than the "
		    "threshold %u: the round is aborted and nothing unmasked",
		    nsurv, r->t);
		goto out;
	}
	fl_sa_set_hash(hash, "survivors", r->session, surv, nsurv);
	/* Every reveal made for one list, and not the masked records' list:
	 * the records given are wrong (one missing, or one of a client not
	 * confirmed), not a revealer. */
	if (nrv > 0 && strcmp(rv[0].survivors, hash) != 0) {
		size_t agree = 1;

		while (agree < nrv && strcmp(rv[agree].survivors,
		    rv[0].survivors) == 0)
			agree++;
		if (agree == nrv) {
			fl_error_set(err, FL_EFORMAT, "the masked records given "
			    "(%zu clients) are not the survivors all %zu reveals "
			    "were made for: a masked record is missing, or one "
			    "is of a client not on the confirmed list", nsurv,
			    nrv);
			goto out;
		}
	}
	for (size_t i = 0; i < nrv; i++) {
		if (!in_set(surv, nsurv, rv[i].from)) {
			fl_error_set(err, FL_EFORMAT, "a reveal from client "
			    "'%s', who is not a survivor",
			    r->pub[rv[i].from - 1].id);
			goto out;
		}
		if (strcmp(rv[i].survivors, hash) != 0) {
			fl_error_set(err, FL_EFORMAT, "client '%s' revealed "
			    "for another set of survivors than the masked "
			    "records given", r->pub[rv[i].from - 1].id);
			goto out;
		}
		if (file_reveal(piles, r, surv, nsurv, &rv[i], err) < 0)
			goto out;
	}

	/* Who shared (U2): the survivors and those whose mask key is
	 * revealed.  The masked records' hash of U2 proves none is missed. */
	for (uint32_t c = 1; c <= r->n; c++)
		if (in_set(surv, nsurv, c) || piles[c - 1].kind == 2)
			shared[nshared++] = c;
	fl_sa_set_hash(hash, "shared", r->session, shared, nshared);
	if (strcmp(hash, shared_hash) != 0) {
		fl_error_set(err, FL_EINVAL, "the reveals account for %zu "
		    "clients that shared, the masked records for others: "
		    "too few reveals to rebuild every dropped client's masks",
		    nshared);
		goto out;
	}

	for (uint32_t c = 1; c <= r->n; c++) {
		struct pile *p = &piles[c - 1];
		int survivor = in_set(surv, nsurv, c);

		if (!survivor && p->kind != 2)
			continue;
		p->kind = survivor ? 1 : 2;
		if (rebuild(r, c, p, dealt, faults, secret, err) < 0)
			goto out;
		if (survivor) {
			fl_sa_self_seed(seed, secret, r->session);
			if (seeds_add(&s, seed, 1, err) < 0)
				goto out;
			continue;
		}
		/* A client that dropped after sharing: its pairwise masks
		 * toward the survivors stay in the sum; take them out. */
		if (fl_sa_mask_keypair(pk, sk, secret) != 0) {
			fl_error_set(err, FL_EINVAL, "no mask key pair for "
			    "client '%s'", r->pub[c - 1].id);
			goto out;
		}
		for (size_t i = 0, k = fl_sa_neighbours(&r->graph, c, nb);
		    i < k; i++) {
			uint32_t u = nb[i];

			if (!in_set(surv, nsurv, u))
				continue;
			/* u added +PRG when u < c: subtract it then. */
			if (fl_sa_pair_seed(seed, sk, r->pub[u - 1].pk_mask,
			    r->session, c, u, err) < 0 ||
			    seeds_add(&s, seed, u < c, err) < 0)
				goto out;
		}
	}
	rc = apply(sum, &s, bits, nthreads, err);
out:
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(sk, sizeof(sk));
	if (piles != NULL)
		for (uint32_t c = 0; c < r->n; c++) {
			free(piles[c].x);
			if (piles[c].y != NULL)
				sodium_memzero(piles[c].y, piles[c].cap *
				    FL_SCALAR_BYTES);
			free(piles[c].y);
		}
	free(piles);
	free(shared);
	free(nb);
	seeds_free(&s);
	return rc;
}

/*
 * The record of what a key file masked.  It never leaves the key file, so
 * a universal hash under a key only the key file can make does: Poly1305
 * (about 4 GB/s here, where BLAKE2b runs at a few hundred MB/s), whose
 * tags of two different updates of l bytes agree with chance at most
 * 8 ceil(l / 16) / 2^106 over the key.  The tag is then hashed with the
 * key into the 32 bytes the key file stores.
 */
void
fl_sa_masked_digest(char out[FL_SA_HEX], const struct fl_record *rec,
    const struct fl_sa_secret *sec, const unsigned char session[FL_SA_BYTES],
    const char *shared_hash)
{
	crypto_generichash_state st;
	crypto_onetimeauth_state mac;
	unsigned char key[crypto_onetimeauth_KEYBYTES], h[FL_SA_BYTES], w[8],
	    le[4096];
	unsigned char tag[crypto_onetimeauth_BYTES];

	fl_sa_hash_begin(&st, NULL, 0, sizeof(key), "fl-mask masked v2");
	crypto_generichash_update(&st, sec->mask_seed, FL_SCALAR_BYTES);
	crypto_generichash_update(&st, sec->self, FL_SCALAR_BYTES);
	crypto_generichash_update(&st, sec->box_seed, FL_SA_BYTES);
	crypto_generichash_update(&st, session, FL_SA_BYTES);
	crypto_generichash_update(&st, (const unsigned char *)shared_hash,
	    strlen(shared_hash) + 1);
	crypto_generichash_final(&st, key, sizeof(key));
	crypto_onetimeauth_init(&mac, key);
	for (size_t i = 0; i < rec->nmeta; i++) {
		const struct fl_meta *m = &rec->meta[i];

		crypto_onetimeauth_update(&mac, (const unsigned char *)m->key,
		    strlen(m->key) + 1);
		crypto_onetimeauth_update(&mac, (const unsigned char *)m->value,
		    strlen(m->value) + 1);
	}
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];

		crypto_onetimeauth_update(&mac, (const unsigned char *)t->name,
		    strlen(t->name) + 1);
		fl_store_le32(w, (uint32_t)t->dtype);
		fl_store_le32(w + 4, (uint32_t)t->rank);
		crypto_onetimeauth_update(&mac, w, 8);
		for (int d = 0; d < t->rank; d++) {
			fl_store_le64(w, t->dims[d]);
			crypto_onetimeauth_update(&mac, w, 8);
		}
		if (t->nbytes && !FL_HOST_BIG_ENDIAN)
			crypto_onetimeauth_update(&mac, t->data, t->nbytes);
		/* the elements as little-endian bytes, as the file has them */
		for (size_t o = 0, es = fl_dtype_size(t->dtype);
		    FL_HOST_BIG_ENDIAN && o < t->nbytes; o += sizeof(le)) {
			size_t n = t->nbytes - o < sizeof(le) ? t->nbytes - o :
			    sizeof(le);

			memcpy(le, (const unsigned char *)t->data + o, n);
			fl_swap_elements(le, n, es);
			crypto_onetimeauth_update(&mac, le, n);
		}
	}
	crypto_onetimeauth_final(&mac, tag);
	fl_sa_hash_begin(&st, key, sizeof(key), sizeof(h), "fl-mask masked tag");
	crypto_generichash_update(&st, tag, sizeof(tag));
	crypto_generichash_final(&st, h, sizeof(h));
	sodium_bin2hex(out, FL_SA_HEX, h, sizeof(h));
	sodium_memzero(key, sizeof(key));
	sodium_memzero(&mac, sizeof(mac));
	sodium_memzero(&st, sizeof(st));
}
