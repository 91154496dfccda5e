/* SPDX-License-Identifier: ISC */
/*
 * mask - in-process cost of secure aggregation (lib/secagg/secagg.c, samask.c,
 * saclient.c, shamir.c): the ChaCha20 keystream the masks are made of, a
 * client's masking of a D-word ring record at k neighbours (X25519 pair
 * seeds and the tiled mask kernel), alone and as fl-mask's whole step (the
 * release check and the digest that makes masking once per session), a
 * client's share step with and without the Feldman commitments, the
 * signatures of a round (its neighbours' keys at k = 36, a quorum of
 * confirmations), the server's unmasking of n = 100 survivors' sum with
 * 10% dropout (and with one lying revealer), and Shamir combine.
 *
 *   mask [D [REPS]]         the figures (D words, default 1000000)
 *   mask update FILE D ID   write a ring record of D random u32 words
 *                           (modulus 2^32, values from ID) to FILE
 *
 * One line per figure: name, count, best, mean and sd of the seconds of
 * REPS runs (tab-separated), wall time of the measured work alone.  Lines
 * starting with '#' are notes.  The unmasked sum is checked against the
 * plain sum of the survivors' inputs: a wrong round fails the benchmark.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "fl.h"
#include "timing.h"

static int reps = 7;

static void
die(const struct fl_error *err)
{
	bench_die("mask", err);
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL) {
		fprintf(stderr, "mask: out of memory\n");
		exit(1);
	}
	return p;
}

/* A ring record (modulus 2^32) of one u32 tensor "q" of d words, from id. */
static uint32_t *
ring_record(struct fl_record *rec, uint64_t d, uint32_t id)
{
	struct fl_error err;
	struct fl_tensor *t;
	uint32_t *v;

	fl_record_init(rec);
	if (fl_meta_set(rec, "modulus", "4294967296", &err) < 0 ||
	    fl_meta_set(rec, "round", "1", &err) < 0 ||
	    (t = fl_tensor_add(rec, "q", FL_U32, 1, &d, &err)) == NULL)
		die(&err);
	v = t->data;
	for (uint64_t i = 0; i < d; i++)
		v[i] = (uint32_t)(i * 2654435761u) ^ (id * 40503u + 7);
	return v;
}

static uint32_t *
data_of(struct fl_record *rec)
{
	return rec->tensors[0].data;
}

/* The identities of the clients made by make_round, and their operator
 * (who signs the enrolment). */
static struct fl_sa_identity *idents, op;

/* n clients' identities and secrets and a roster of degree k, threshold
 * t, with C corrupt clients assumed. */
static struct fl_sa_secret *
make_round(struct fl_sa_roster *r, uint32_t n, uint32_t k, uint32_t t,
    uint32_t corrupt)
{
	struct fl_sa_secret *sec = xmalloc(n * sizeof(*sec));
	struct fl_sa_public *pub = xmalloc(n * sizeof(*pub));
	unsigned char key[FL_RNG_KEYBYTES], seed[FL_SA_BYTES];
	struct fl_error err;
	struct fl_rng rng;
	char id[16];

	free(idents);
	idents = xmalloc(n * sizeof(*idents));
	fl_rng_seed_text(key, "bench secagg keys");
	fl_rng_init(&rng, key, n * 1000 + k);
	randombytes_buf(seed, sizeof(seed));
	if (fl_sa_identity_make(&op, "op", seed, NULL, &err) < 0)
		die(&err);
	for (uint32_t c = 1; c <= n; c++) {
		snprintf(id, sizeof(id), "c%04u", c);
		randombytes_buf(seed, sizeof(seed));
		if (fl_sa_identity_make(&idents[c - 1], id, seed, op.pk,
		    &err) < 0 ||
		    fl_sa_secret_new(&sec[c - 1], &idents[c - 1], 1, &rng,
		    &err) < 0 ||
		    fl_sa_public_of(&sec[c - 1], &idents[c - 1], &pub[c - 1],
		    &err) < 0)
			die(&err);
	}
	if (fl_sa_roster_init(r, pub, n, k, t, corrupt, &err) < 0)
		die(&err);
	for (uint32_t c = 1; c <= n; c++)
		if (fl_sa_roster_find(r, sec[c - 1].id) != c) {
			fprintf(stderr, "mask: roster order\n");
			exit(1);
		}
	return sec;
}

static void
chacha_limit(uint64_t d)
{
	uint32_t *buf = xmalloc(d * 4);
	unsigned char key[FL_RNG_KEYBYTES];
	double t[64];

	fl_rng_seed_text(key, "bench chacha");
	for (int i = 0; i < reps; i++) {
		double t0 = now();

		fl_rng_stream(buf, d * 4, key, 0, 0);
		t[i] = now() - t0;
	}
	report("chacha20-1mask", (double)d, t, reps);
	/* The kernel's access pattern: 16 KiB pieces by block number. */
	for (int i = 0; i < reps; i++) {
		double t0 = now();

		for (uint64_t o = 0; o < d; o += 4096)
			fl_rng_stream(buf + o, (d - o < 4096 ? d - o : 4096) * 4,
			    key, 0, o / 16);
		t[i] = now() - t0;
	}
	report("chacha20-1mask-16k", (double)d, t, reps);
	free(buf);
}

/* The keystream alone of nterms masks of d words, tile by tile as the
 * mask kernel reads it (16 KiB pieces by block number): its floor. */
static void
keystream_only(uint64_t d, const struct fl_sa_term *terms, size_t nterms)
{
	static uint32_t ks[4096];

	for (uint64_t o = 0; o < d; o += 4096)
		for (size_t q = 0; q < nterms; q++)
			fl_rng_stream(ks, (d - o < 4096 ? d - o : 4096) * 4,
			    terms[q].key, 0, o / 16);
}

/* Client masking at degree k: n = k + 1 clients (k even: n = 2k + 1 so
 * that the graph is a ring rather than complete) -- here n = 101. */
static void
client_mask(uint64_t d, uint32_t k, uint32_t t_thr, uint32_t corrupt)
{
	struct fl_sa_roster r;
	struct fl_sa_secret *sec;
	struct fl_record rec;
	struct fl_error err;
	struct fl_sa_term *terms;
	uint32_t n = 101, *shared = xmalloc(n * sizeof(*shared));
	uint32_t *nb = xmalloc((k + 1) * sizeof(*nb));
	unsigned char pk[FL_SA_BYTES], sk[FL_SA_BYTES], seed[FL_SA_BYTES];
	char name[64];
	double t[64];

	sec = make_round(&r, n, k, t_thr, corrupt);
	for (uint32_t c = 1; c <= n; c++)
		shared[c - 1] = c;
	ring_record(&rec, d, 1);

	if (fl_sa_mask_keypair(pk, sk, sec[0].mask_seed) != 0) {
		fprintf(stderr, "mask: keypair\n");
		exit(1);
	}
	size_t m = fl_sa_neighbours(&r.graph, 1, nb);
	terms = xmalloc((k + 1) * sizeof(*terms));
	for (uint32_t q = 0; q <= k; q++) {
		randombytes_buf(terms[q].key, FL_SA_BYTES);
		terms[q].negate = q & 1;
	}
	/* Interleaved, so that a burst of noise on this shared machine hits
	 * the baseline and the figures alike: the keystream of k + 1 masks,
	 * the mask kernel with k + 1 terms, the whole client masking on one
	 * and two threads, and its k pair seeds (X25519 + BLAKE2b). */
	{
		double tk[64], tm[64], t1[64], t2[64], ts[64];
		struct fl_sa_received rc = { shared, n, NULL, NULL };
		struct fl_record step;

		for (int i = 0; i < reps; i++) {
			double t0;

			/* fl-mask's step: a fresh update each time (made
			 * outside the clock), the key file's record of it
			 * reset as if this were the first call. */
			ring_record(&step, d, 1);
			sec[0].masked[0] = '\0';
			t0 = now();
			if (fl_sa_client_mask(&step, &r, &sec[0], &rc, 1,
			    &err) < 0)
				die(&err);
			ts[i] = now() - t0;
			fl_record_free(&step);
			t0 = now();
			keystream_only(d, terms, k + 1);
			tk[i] = now() - t0;
			t0 = now();
			if (fl_sa_mask(data_of(&rec), d, 32, terms, k + 1, 1,
			    &err) < 0)
				die(&err);
			tm[i] = now() - t0;
			t0 = now();
			if (fl_sa_mask_record(&rec, &r, &sec[0], shared, n, 1,
			    &err) < 0)
				die(&err);
			t1[i] = now() - t0;
			t0 = now();
			if (fl_sa_mask_record(&rec, &r, &sec[0], shared, n, 2,
			    &err) < 0)
				die(&err);
			t2[i] = now() - t0;
			t0 = now();
			for (size_t q = 0; q < m; q++)
				if (fl_sa_pair_seed(seed, sk,
				    r.pub[nb[q] - 1].pk_mask, r.session, 1,
				    nb[q], &err) < 0)
					die(&err);
			t[i] = now() - t0;
		}
		snprintf(name, sizeof(name), "keystream-%u-masks", k + 1);
		report(name, (double)d * (k + 1), tk, reps);
		snprintf(name, sizeof(name), "mask-kernel-%u-terms", k + 1);
		report(name, (double)d * (k + 1), tm, reps);
		snprintf(name, sizeof(name), "client-mask-k%u-j1", k);
		report(name, (double)d, t1, reps);
		snprintf(name, sizeof(name), "client-mask-k%u-j2", k);
		report(name, (double)d, t2, reps);
		snprintf(name, sizeof(name), "client-mask-step-k%u-j1", k);
		report(name, (double)d, ts, reps);
		snprintf(name, sizeof(name), "pair-seeds-k%u", k);
		report(name, (double)m, t, reps);
	}

	/* The share step: two Shamir splits over the k + 1 holders, the
	 * envelope key pair, k + 1 sealed envelopes and their record. */
	{
		uint32_t *to = xmalloc((k + 1) * sizeof(*to));
		unsigned char (*ms)[FL_SCALAR_BYTES] = xmalloc((k + 1) *
		    FL_SCALAR_BYTES);
		unsigned char (*ss)[FL_SCALAR_BYTES] = xmalloc((k + 1) *
		    FL_SCALAR_BYTES);
		unsigned char (*box)[FL_SA_BOXBYTES] = xmalloc((k + 1) *
		    FL_SA_BOXBYTES);
		unsigned char key[FL_RNG_KEYBYTES];
		struct fl_sa_share sh;
		struct fl_record srec;
		struct fl_rng rng;

		fl_rng_seed_text(key, "bench share");
		for (int i = 0; i < reps; i++) {
			double t0 = now();
			size_t h = fl_sa_holders(&r.graph, 1, to);

			fl_rng_init(&rng, key, 1);
			if (fl_shamir_split(sec[0].mask_seed, r.t, to, h, ms,
			    NULL, &rng, &err) < 0 ||
			    fl_shamir_split(sec[0].self, r.t, to, h, ss, NULL,
			    &rng, &err) < 0)
				die(&err);
			if (fl_sa_box_keypair(pk, sk, sec[0].box_seed) != 0)
				exit(1);
			for (size_t q = 0; q < h; q++) {
				memcpy(sh.mask, ms[q], FL_SCALAR_BYTES);
				memcpy(sh.self, ss[q], FL_SCALAR_BYTES);
				if (fl_sa_seal(box[q], &sh, r.session, 1, to[q],
				    sk, r.pub[to[q] - 1].pk_box, &err) < 0)
					die(&err);
			}
			fl_record_init(&srec);
			{
				struct fl_sa_shares out = { 1, h, to,
				    (const unsigned char (*)[FL_SA_BOXBYTES])box,
				    (const unsigned char (*)[32])ms,
				    (const unsigned char (*)[32])ss };

				if (fl_sa_shares_to_record(&srec, &r, &out,
				    &err) < 0)
					die(&err);
			}
			fl_record_free(&srec);
			t[i] = now() - t0;
		}
		snprintf(name, sizeof(name), "client-share-plain-k%u-t%u", k,
		    r.t);
		report(name, (double)k + 1, t, reps);
		/* fl-mask --share's whole step: the polynomials from the
		 * secrets, the Feldman commitments, the envelopes. */
		for (int i = 0; i < reps; i++) {
			double t0 = now();

			fl_record_init(&srec);
			if (fl_sa_client_share(&srec, &r, 1, &sec[0], &err) < 0)
				die(&err);
			fl_record_free(&srec);
			t[i] = now() - t0;
		}
		snprintf(name, sizeof(name), "client-share-k%u-t%u", k, r.t);
		report(name, (double)k + 1, t, reps);
		free(to);
		free(ms);
		free(ss);
		free(box);
	}
	free(terms);
	free(nb);
	free(shared);
	free(sec);
	fl_record_free(&rec);
	fl_sa_roster_free(&r);
}

/* The server: n clients, degree k, threshold t, every 1/drop-th client
 * (by number) dropping after sharing; the survivors' masked records are
 * summed and unmasked from the survivors' reveals. */
static void
server_unmask(uint64_t d, uint32_t n, uint32_t k, uint32_t thr,
    uint32_t corrupt, uint32_t ndrop)
{
	struct fl_sa_roster r;
	struct fl_sa_secret *sec;
	struct fl_error err;
	struct fl_rng rng;
	unsigned char key[FL_RNG_KEYBYTES];
	uint32_t *all = xmalloc(n * sizeof(*all)), *surv, *h;
	unsigned char *dropped = calloc(n + 1, 1);
	unsigned char (*ms)[FL_SCALAR_BYTES], (*ss)[FL_SCALAR_BYTES];
	uint32_t *hold;         /* hold[(c-1)*(k+1) + i]: i-th holder of c */
	struct fl_record *recs, sum, work;
	struct fl_sa_reveal *rv;
	char shared_hash[2 * FL_SA_BYTES + 1], surv_hash[2 * FL_SA_BYTES + 1];
	size_t nsurv = 0, m = (size_t)k + 1;
	uint32_t *expect = xmalloc(d * 4), *s;
	double t[64];
	char name[80];

	struct fl_record *dealt_rec;
	struct fl_sa_shares *dealt;

	sec = make_round(&r, n, k, thr, corrupt);
	for (uint32_t c = 1; c <= n; c++)
		all[c - 1] = c;
	/* Drop clients spread over the numbers (the ring order is random). */
	for (uint32_t q = 0; q < ndrop; q++)
		dropped[1 + (uint32_t)((uint64_t)q * n / ndrop)] = 1;
	surv = xmalloc(n * sizeof(*surv));
	for (uint32_t c = 1; c <= n; c++)
		if (!dropped[c])
			surv[nsurv++] = c;

	/* Every client shares (U2 = all): the shares of both secrets at its
	 * holders' x-coordinates and the Feldman commitments, as fl-mask
	 * --share makes them (the polynomials from the secrets and the
	 * session). */
	hold = xmalloc((size_t)n * m * sizeof(*hold));
	ms = xmalloc((size_t)n * m * FL_SCALAR_BYTES);
	ss = xmalloc((size_t)n * m * FL_SCALAR_BYTES);
	dealt_rec = xmalloc(n * sizeof(*dealt_rec));
	dealt = xmalloc(n * sizeof(*dealt));
	for (uint32_t c = 1; c <= n; c++) {
		h = hold + (size_t)(c - 1) * m;
		fl_sa_poly_key(key, sec[c - 1].mask_seed, sec[c - 1].self,
		    sec[c - 1].box_seed, r.session);
		fl_rng_init(&rng, key, 0);
		if (fl_sa_holders(&r.graph, c, h) != m ||
		    fl_shamir_split(sec[c - 1].mask_seed, thr, h, m,
		    ms + (size_t)(c - 1) * m, NULL, &rng, &err) < 0 ||
		    fl_shamir_split(sec[c - 1].self, thr, h, m,
		    ss + (size_t)(c - 1) * m, NULL, &rng, &err) < 0) {
			fprintf(stderr, "mask: sharing failed\n");
			exit(1);
		}
		fl_record_init(&dealt_rec[c - 1]);
		if (fl_sa_client_share(&dealt_rec[c - 1], &r, c, &sec[c - 1],
		    &err) < 0 ||
		    fl_sa_shares_from_record(&dealt[c - 1], &dealt_rec[c - 1],
		    &r, &err) < 0)
			die(&err);
	}
	/* Every dropped client must keep t surviving holders. */
	for (uint32_t c = 1; c <= n; c++) {
		size_t live = 0;

		for (size_t i = 0; i < m; i++)
			live += !dropped[hold[(size_t)(c - 1) * m + i]];
		if (live < thr) {
			fprintf(stderr, "mask: client %u keeps %zu holders\n",
			    c, live);
			exit(1);
		}
	}

	/* The survivors mask their records. */
	recs = xmalloc(nsurv * sizeof(*recs));
	memset(expect, 0, d * 4);
	for (size_t i = 0; i < nsurv; i++) {
		uint32_t *v = ring_record(&recs[i], d, surv[i]);

		for (uint64_t j = 0; j < d; j++)
			expect[j] += v[j];
		if (fl_sa_mask_record(&recs[i], &r, &sec[surv[i] - 1], all, n,
		    1, &err) < 0)
			die(&err);
	}
	fl_sa_set_hash(shared_hash, "shared", r.session, all, n);

	/* The modular sum of the survivors' records. */
	ring_record(&sum, d, 0);
	s = data_of(&sum);
	for (int i = 0; i < reps; i++) {
		double t0 = now();

		memcpy(s, data_of(&recs[0]), d * 4);
		for (size_t q = 1; q < nsurv; q++) {
			const uint32_t *v = data_of(&recs[q]);

			for (uint64_t j = 0; j < d; j++)
				s[j] += v[j];
		}
		t[i] = now() - t0;
	}
	snprintf(name, sizeof(name), "server-sum-%zu", nsurv);
	report(name, (double)d * nsurv, t, reps);

	/* Each survivor's reveal: self-mask shares of its surviving holders'
	 * clients, mask-key shares of its dropped ones. */
	fl_sa_set_hash(surv_hash, "survivors", r.session, surv, nsurv);
	rv = xmalloc(nsurv * sizeof(*rv));
	for (size_t i = 0; i < nsurv; i++) {
		uint32_t v = surv[i], *hv = xmalloc(m * sizeof(*hv));
		uint32_t *self_of = xmalloc(m * 4), *mask_of = xmalloc(m * 4);
		unsigned char (*self_sh)[FL_SCALAR_BYTES] = xmalloc(m * 32);
		unsigned char (*mask_sh)[FL_SCALAR_BYTES] = xmalloc(m * 32);

		memset(&rv[i], 0, sizeof(rv[i]));
		rv[i].from = v;
		memcpy(rv[i].survivors, surv_hash, sizeof(surv_hash));
		fl_sa_holders(&r.graph, v, hv);
		for (size_t q = 0; q < m; q++) {
			uint32_t c = hv[q];
			const uint32_t *hc = hold + (size_t)(c - 1) * m;
			size_t at = 0;

			while (at < m && hc[at] != v)
				at++;
			if (at == m) {
				fprintf(stderr, "mask: holder asymmetry\n");
				exit(1);
			}
			if (!dropped[c]) {
				self_of[rv[i].nself] = c;
				memcpy(self_sh[rv[i].nself++],
				    ss[(size_t)(c - 1) * m + at], 32);
			} else {
				mask_of[rv[i].nmask] = c;
				memcpy(mask_sh[rv[i].nmask++],
				    ms[(size_t)(c - 1) * m + at], 32);
			}
		}
		rv[i].self_of = self_of;
		rv[i].mask_of = mask_of;
		rv[i].self_share = (const unsigned char (*)[32])self_sh;
		rv[i].mask_share = (const unsigned char (*)[32])mask_sh;
		free(hv);
	}

	/* The masks the server must make: the survivors' self masks and
	 * the dropped clients' pairwise masks toward surviving neighbours. */
	size_t nterms = nsurv;
	{
		uint32_t *nb = xmalloc(k * sizeof(*nb));

		for (uint32_t c = 1; c <= n; c++)
			if (dropped[c])
				for (size_t q = 0, kk = fl_sa_neighbours(&r.graph,
				    c, nb); q < kk; q++)
					nterms += !dropped[nb[q]];
		free(nb);
	}
	printf("server-unmask-terms\t%zu\t0\t0\t0\n", nterms);

	/* Unmasking alone, on a copy of the sum made outside the clock,
	 * interleaved with the keystream of as many masks (its floor) so
	 * that noise hits both alike. */
	{
		struct fl_sa_term *terms = xmalloc(nterms * sizeof(*terms));
		double tk[64], t1[64], t2[64];

		for (size_t q = 0; q < nterms; q++)
			randombytes_buf(terms[q].key, FL_SA_BYTES);
		ring_record(&work, d, 0);
		for (int i = 0; i < reps; i++) {
			double t0 = now();

			keystream_only(d, terms, nterms);
			tk[i] = now() - t0;
			for (int j = 1; j <= 2; j++) {
				memcpy(data_of(&work), s, d * 4);
				t0 = now();
				struct fl_sa_faults f = { 0 };

				if (fl_sa_unmask_record(&work, &r, surv, nsurv,
				    shared_hash, rv, nsurv, dealt, &f, j,
				    &err) < 0)
					die(&err);
				(j == 1 ? t1 : t2)[i] = now() - t0;
				if (memcmp(data_of(&work), expect, d * 4) != 0) {
					fprintf(stderr, "mask: the unmasked sum "
					    "is not the plain sum\n");
					exit(1);
				}
			}
		}
		snprintf(name, sizeof(name), "keystream-%zu-masks", nterms);
		report(name, (double)d * nterms, tk, reps);
		snprintf(name, sizeof(name), "server-unmask-n%u-k%u-drop%u-j1",
		    n, k, ndrop);
		report(name, (double)d, t1, reps);
		snprintf(name, sizeof(name), "server-unmask-n%u-k%u-drop%u-j2",
		    n, k, ndrop);
		report(name, (double)d, t2, reps);
		free(terms);
	}

	/* One survivor lies: every share it reveals is off by one.  The
	 * secrets it holds shares of miss their commitments, each share is
	 * checked against the Feldman commitments, the liar is named and
	 * the sum is still exact. */
	{
		struct fl_sa_reveal bad = rv[0];
		unsigned char (*self_sh)[FL_SCALAR_BYTES] = xmalloc(m * 32);
		unsigned char (*mask_sh)[FL_SCALAR_BYTES] = xmalloc(m * 32);
		unsigned char one[32] = { 1 };

		for (size_t q = 0; q < bad.nself; q++)
			crypto_core_ed25519_scalar_add(self_sh[q],
			    rv[0].self_share[q], one);
		for (size_t q = 0; q < bad.nmask; q++)
			crypto_core_ed25519_scalar_add(mask_sh[q],
			    rv[0].mask_share[q], one);
		rv[0].self_share = (const unsigned char (*)[32])self_sh;
		rv[0].mask_share = (const unsigned char (*)[32])mask_sh;
		for (int i = 0; i < reps; i++) {
			struct fl_sa_faults f = { 0 };
			double t0;

			memcpy(data_of(&work), s, d * 4);
			t0 = now();
			if (fl_sa_unmask_record(&work, &r, surv, nsurv,
			    shared_hash, rv, nsurv, dealt, &f, 1, &err) < 0)
				die(&err);
			t[i] = now() - t0;
			if (memcmp(data_of(&work), expect, d * 4) != 0 ||
			    f.n != bad.nself + bad.nmask) {
				fprintf(stderr, "mask: a lying revealer broke "
				    "the unmasking (%zu faults)\n", f.n);
				exit(1);
			}
			for (size_t q = 0; q < f.n; q++)
				if (f.v[q].from != bad.from) {
					fprintf(stderr, "mask: blamed the "
					    "wrong client\n");
					exit(1);
				}
			free(f.v);
		}
		snprintf(name, sizeof(name),
		    "server-unmask-n%u-k%u-drop%u-liar-j1", n, k, ndrop);
		report(name, (double)d, t, reps);
		rv[0] = bad;
		free(self_sh);
		free(mask_sh);
	}
	printf("# unmask n=%u k=%u t=%u: %zu survivors, %u dropped; exact "
	    "sum checked\n", n, k, thr, nsurv, ndrop);

	for (size_t i = 0; i < nsurv; i++) {
		free((void *)rv[i].self_of);
		free((void *)rv[i].mask_of);
		free((void *)rv[i].self_share);
		free((void *)rv[i].mask_share);
		fl_record_free(&recs[i]);
	}
	free(rv);
	free(recs);
	fl_record_free(&sum);
	fl_record_free(&work);
	free(hold);
	free(ms);
	free(ss);
	free(expect);
	free(surv);
	free(dropped);
	free(all);
	free(sec);
	for (uint32_t c = 0; c < n; c++)
		fl_record_free(&dealt_rec[c]);
	free(dealt_rec);
	free(dealt);
	fl_sa_roster_free(&r);
}

/*
 * The signatures of a round for one client of n = 150 (the demo's cohort)
 * with the default rule (k = 36, t = 23, 8 corrupt assumed): --keygen
 * signs its keys, --share checks the roster against the enrolment and its
 * 36 neighbours' signatures, --confirm signs the survivor list, --reveal
 * verifies a quorum (80) of confirmations.
 */
static void
signatures(void)
{
	uint32_t n = 150, k = 36, thr = 23, corrupt = 8;
	struct fl_sa_roster r;
	struct fl_sa_secret *sec;
	struct fl_record erec;
	struct fl_sa_enrolment e;
	struct fl_sa_public p;
	struct fl_error err;
	struct fl_sa_member *mem = xmalloc(n * sizeof(*mem));
	unsigned char digest[FL_SA_BYTES], (*sigs)[FL_SA_SIGBYTES];
	double tk[64], tn[64], tc[64];

	sec = make_round(&r, n, k, thr, corrupt);
	for (uint32_t c = 0; c < n; c++) {
		memcpy(mem[c].id, idents[c].id, sizeof(mem[c].id));
		memcpy(mem[c].pk, idents[c].pk, FL_SA_BYTES);
	}
	fl_record_init(&erec);
	if (fl_sa_enrolment_make(&erec, mem, n, &op, &err) < 0 ||
	    fl_sa_enrolment_read(&e, &erec, op.pk, &err) < 0)
		die(&err);
	fl_sa_confirm_digest(digest, r.session, "00");
	sigs = xmalloc(r.quorum * sizeof(*sigs));
	for (uint32_t c = 0; c < r.quorum; c++)
		fl_sa_sign(sigs[c], digest, &idents[c]);
	for (int i = 0; i < reps; i++) {
		double t0 = now();

		if (fl_sa_public_of(&sec[0], &idents[0], &p, &err) < 0)
			die(&err);
		tk[i] = now() - t0;
		t0 = now();
		if (fl_sa_roster_enrolled(&r, &e, 1, &err) < 0)
			die(&err);
		tn[i] = now() - t0;
		t0 = now();
		fl_sa_sign(sigs[0], digest, &idents[0]);
		for (uint32_t c = 0; c < r.quorum; c++)
			if (fl_sa_verify(sigs[c], digest, idents[c].pk) < 0) {
				fprintf(stderr, "mask: a confirmation fails\n");
				exit(1);
			}
		tc[i] = now() - t0;
	}
	report("sign-keys", 1, tk, reps);
	report("verify-roster-n150-k36", k + 1, tn, reps);
	printf("confirm-quorum-n150\t%u\t0\t0\t0\n", r.quorum);
	report("confirm-sign-and-verify-quorum-n150", r.quorum, tc, reps);
	free(sigs);
	free(mem);
	free(sec);
	fl_record_free(&erec);
	fl_sa_roster_free(&r);
}

static void
shamir(uint32_t nsh, uint32_t thr, int calls)
{
	unsigned char secret[32], back[32], key[FL_RNG_KEYBYTES];
	unsigned char (*sh)[FL_SCALAR_BYTES] = xmalloc(nsh * 32);
	uint32_t *xs = xmalloc(nsh * sizeof(*xs));
	struct fl_error err;
	struct fl_rng rng;
	double t[64], t2[64];
	char name[64];

	fl_rng_seed_text(key, "bench shamir");
	fl_rng_init(&rng, key, thr);
	fl_scalar_random(secret, &rng);
	for (uint32_t i = 0; i < nsh; i++)
		xs[i] = 3 * i + 1;
	for (int i = 0; i < reps; i++) {
		double t0 = now();

		for (int q = 0; q < calls; q++)
			if (fl_shamir_split(secret, thr, xs, nsh, sh, NULL,
			    &rng, &err) < 0)
				die(&err);
		t2[i] = (now() - t0) / calls;
	}
	for (int i = 0; i < reps; i++) {
		double t0 = now();

		for (int q = 0; q < calls; q++)
			/* The last t shares, as a server would have them. */
			if (fl_shamir_combine(xs + (nsh - thr),
			    (const unsigned char (*)[32])sh + (nsh - thr), thr,
			    back, &err) < 0)
				die(&err);
		t[i] = (now() - t0) / calls;
	}
	if (memcmp(back, secret, 32) != 0) {
		fprintf(stderr, "mask: shamir combine is wrong\n");
		exit(1);
	}
	snprintf(name, sizeof(name), "shamir-split-n%u-t%u", nsh, thr);
	report(name, 1, t2, reps);
	snprintf(name, sizeof(name), "shamir-combine-t%u", thr);
	report(name, 1, t, reps);
	free(sh);
	free(xs);
}

int
main(int argc, char **argv)
{
	uint64_t d;

	if (sodium_init() < 0)
		return 1;
	if (argc == 5 && strcmp(argv[1], "update") == 0) {
		struct fl_record rec;
		struct fl_error err;
		FILE *fp = fopen(argv[2], "wb");

		ring_record(&rec, strtoull(argv[3], NULL, 10),
		    (uint32_t)strtoul(argv[4], NULL, 10));
		if (fp == NULL || fl_record_write(fp, &rec, 0, &err) < 0 ||
		    fclose(fp) != 0) {
			perror(argv[2]);
			return 1;
		}
		fl_record_free(&rec);
		return 0;
	}
	d = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	if (argc > 2)
		reps = atoi(argv[2]);
	if (reps < 1 || reps > 64 || d == 0) {
		fprintf(stderr, "usage: mask [D [REPS]] | mask update FILE D "
		    "ID\n");
		return 2;
	}
	chacha_limit(d);
	/* k and t by the rule at 5% corrupt: 2t > k + 1 + C. */
	client_mask(d, 10, 9, 6);
	client_mask(d, 100, 54, 6);
	/* The unmasking as before: t = 6 of 11 holders, none corrupt. */
	server_unmask(d, 100, 10, 6, 0, 10);
	signatures();
	shamir(11, 6, 200);
	shamir(101, 51, 10);
	return 0;
}
