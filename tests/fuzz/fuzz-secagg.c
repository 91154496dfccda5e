/* SPDX-License-Identifier: ISC */
/*
 * fuzz-secagg - libFuzzer harness for the secure-aggregation protocol's
 * parsers (lib/secagg/saproto.c), the unmasking fed by reveals (lib/secagg/samask.c) and
 * the share envelopes (fl_sa_open, lib/secagg/secagg.c).
 *
 * At start the harness rebuilds, in process, the round that
 * make-corpus-secagg.sh plays with fl-mask --seed s: four clients c1..c4
 * of round 3 (identities and keys made as fl-mask --make-identity and
 * --keygen --seed make them), the roster with k = 3, t = 3 and no corrupt
 * client, every client's shares record (for the Feldman commitments), and
 * the masked sums of three endings of the round (ring records w:u32 = i,
 * 1000 i, 65535 with modulus 65536):
 *   0  all four shared, c4 dropped before masking: survivors c1..c3
 *   1  all four shared and survived
 *   2  c4 dropped before sharing: c1..c3 shared and survived
 *
 * The first input byte picks the target (byte % 4); the rest is
 *   0  a roster stream for fl_sa_roster_read (over fmemopen);
 *   1  one record (fl_record_parse) given to fl_sa_secret_from_record,
 *      fl_sa_public_from_record, fl_sa_shares_from_record,
 *      fl_sa_confirm_from_record and fl_sa_reveal_from_record against the
 *      fixed roster, and to the identity and enrolment parsers;
 *   2  a stream of reveal records (up to MAX_REVEALS) for
 *      fl_sa_unmask_record on the masked sum of ending (byte / 4) % 3;
 *   3  a share envelope: a byte for the sender, a byte for the recipient
 *      (each % 4 + 1), then FL_SA_BOXBYTES of box (zero-padded).
 * The CRCs of every record in the rest are repaired first, so mutations
 * reach the protocol instead of dying at the checksums (fuzz-record covers
 * those).
 *
 * Invariants, each an abort() when broken:
 *   - every failure comes with a non-empty one-line message;
 *   - an accepted roster has n >= 3 clients in strictly ascending id
 *     order, all of its round, 1 <= k <= n - 1, 2t > k + 1 + c (the corrupt
 *     holders counted), fl_sa_roster_find(id) == index + 1, a symmetric
 *     graph of k neighbours each, and it is written and read back to the
 *     same roster;
 *   - an accepted enrolment is signed by its operator key, its ids are
 *     valid and ascending, and each is found with its key;
 *   - an accepted message names clients 1..n only, its counts match its
 *     tensors, its pointers stay inside the record, and it is written
 *     (*_to_record) and parsed back to the same values;
 *   - a share envelope opens only if it is the very box fl_sa_seal makes
 *     for the share it opens to (sealing is deterministic), in that
 *     direction only;
 *   - fl_sa_unmask_record either fails or gives exactly the survivors'
 *     plain sum, and the shares it blames are of real clients.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zlib.h>

#include "../../lib/fl.h"

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz-secagg: invariant broken: %s "	\
		    "(line %d)\n", #cond, __LINE__);			\
		abort();						\
	}								\
} while (0)

/* The records' payload cap (the library's default is 4 GiB, over
 * libFuzzer's malloc limit for a legal zlib record). */
#define FUZZ_MAX_PAYLOAD (UINT64_C(64) << 20)
#define MAX_REVEALS 8
#define NC 4                    /* clients in the fixed round */
#define NW 3                    /* words of the ring tensor */
#define ROUND 3
#define SEED "s"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ending {
	uint32_t surv[NC], shared[NC];
	size_t nsurv, nshared;
	char shared_hash[2 * FL_SA_BYTES + 1];
	uint32_t masked[NW];    /* the modular sum of the masked records */
	uint32_t plain[NW];     /* the survivors' plain sum */
};

static struct {
	struct fl_sa_identity ident[NC];
	struct fl_sa_secret sec[NC];    /* sec[i] is client i + 1 */
	unsigned char box_pk[NC][FL_SA_BYTES], box_sk[NC][FL_SA_BYTES];
	struct fl_sa_roster roster;
	struct fl_record dealt_rec[NC];
	struct fl_sa_shares dealt[NC];
	struct ending end[3];
} G;

static const struct fl_limits lim = { FUZZ_MAX_PAYLOAD };

static void
check_error(const struct fl_error *err)
{
	CHECK(err->msg[0] != '\0' && strchr(err->msg, '\n') == NULL);
}

static int
is_hex64(const char *s)
{
	if (strlen(s) != 2 * FL_SA_BYTES)
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
		    (*s >= 'A' && *s <= 'F')))
			return 0;
	return 1;
}

/* p[0, len) lies inside the record's payload. */
static int
inside(const struct fl_record *rec, const void *p, uint64_t len)
{
	const unsigned char *b = p;

	if (len == 0)
		return 1;
	return rec->raw != NULL && b >= rec->raw &&
	    (uint64_t)(b - rec->raw) <= rec->rawlen &&
	    len <= rec->rawlen - (uint64_t)(b - rec->raw);
}

/* ---- the fixed round ---- */

static void
ring_record(struct fl_record *rec, const uint32_t w[NW])
{
	struct fl_error err;
	uint64_t dims[1] = { NW };
	struct fl_tensor *t;

	fl_record_init(rec);
	CHECK(fl_meta_set(rec, "kind", "update", &err) == 0);
	CHECK(fl_meta_set(rec, "modulus", "65536", &err) == 0);
	CHECK(fl_meta_set(rec, "round", "3", &err) == 0);
	CHECK((t = fl_tensor_add(rec, "w", FL_U32, 1, dims, &err)) != NULL);
	memcpy(t->data, w, sizeof(uint32_t) * NW);
}

static void
make_ending(struct ending *e, const uint32_t *surv, size_t nsurv,
    const uint32_t *shared, size_t nshared)
{
	struct fl_error err;

	memcpy(e->surv, surv, nsurv * sizeof(*surv));
	memcpy(e->shared, shared, nshared * sizeof(*shared));
	e->nsurv = nsurv;
	e->nshared = nshared;
	fl_sa_set_hash(e->shared_hash, "shared", G.roster.session, shared,
	    nshared);
	for (size_t i = 0; i < nsurv; i++) {
		uint32_t c = surv[i];
		uint32_t w[NW] = { c, 1000 * c, 65535 };
		struct fl_record rec;
		const uint32_t *m;

		ring_record(&rec, w);
		if (fl_sa_mask_record(&rec, &G.roster, &G.sec[c - 1], shared,
		    nshared, 1, &err) < 0) {
			fprintf(stderr, "fuzz-secagg: mask: %s\n", err.msg);
			abort();
		}
		m = rec.tensors[0].data;
		for (int j = 0; j < NW; j++) {
			e->masked[j] = (e->masked[j] + m[j]) & 0xffff;
			e->plain[j] = (e->plain[j] + w[j]) & 0xffff;
		}
		fl_record_free(&rec);
	}
}

static void
setup(void)
{
	static int ready;
	static const uint32_t all[NC] = { 1, 2, 3, 4 };
	struct fl_sa_public *pub;
	struct fl_error err;

	struct fl_sa_identity op;
	unsigned char key[FL_RNG_KEYBYTES];

	if (ready)
		return;
	ready = 1;
	CHECK(sodium_init() >= 0);
	CHECK((pub = calloc(NC, sizeof(*pub))) != NULL);
	fl_sa_seed_key(key, SEED, "sa-identity", "op");
	CHECK(fl_sa_identity_make(&op, "op", key, NULL, &err) == 0);
	for (int i = 0; i < NC; i++) {
		char id[8];
		struct fl_rng rng;

		snprintf(id, sizeof(id), "c%d", i + 1);
		fl_sa_seed_key(key, SEED, "sa-identity", id);
		CHECK(fl_sa_identity_make(&G.ident[i], id, key, op.pk,
		    &err) == 0);
		fl_sa_seed_key(key, SEED, "sa-keys", id);
		fl_rng_init(&rng, key, 0);
		CHECK(fl_sa_secret_new(&G.sec[i], &G.ident[i], ROUND, &rng,
		    &err) == 0);
		fl_rng_wipe(&rng);
		CHECK(fl_sa_public_of(&G.sec[i], &G.ident[i], &pub[i],
		    &err) == 0);
		CHECK(fl_sa_box_keypair(G.box_pk[i], G.box_sk[i],
		    G.sec[i].box_seed) == 0);
	}
	/* r takes pub; ids c1..c4 sort as they are, so sec[i] is client
	 * i + 1. */
	if (fl_sa_roster_init(&G.roster, pub, NC, 3, 3, 0, &err) < 0) {
		fprintf(stderr, "fuzz-secagg: roster: %s\n", err.msg);
		abort();
	}
	for (uint32_t c = 1; c <= NC; c++) {
		CHECK(fl_sa_roster_find(&G.roster, G.sec[c - 1].id) == c);
		fl_record_init(&G.dealt_rec[c - 1]);
		CHECK(fl_sa_client_share(&G.dealt_rec[c - 1], &G.roster, c,
		    &G.sec[c - 1], &err) == 0);
		CHECK(fl_sa_shares_from_record(&G.dealt[c - 1],
		    &G.dealt_rec[c - 1], &G.roster, &err) == 0);
	}
	make_ending(&G.end[0], all, 3, all, 4);
	make_ending(&G.end[1], all, 4, all, 4);
	make_ending(&G.end[2], all, 3, all, 3);
}

/* ---- CRC repair ---- */

static uint64_t
le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void
store_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Repair the hcrc and pcrc of each record of the stream c, in place, as
 * far as the records are delimited by their preambles. */
static void
repair(uint8_t *c, size_t size)
{
	size_t off = 0;

	while (size - off >= FL_PREAMBLE_SIZE &&
	    memcmp(c + off, FL_MAGIC, 8) == 0) {
		uint8_t *p = c + off;
		size_t left = size - off - FL_PREAMBLE_SIZE;
		uint64_t hlen = le(p + 12, 4), plen = le(p + 16, 8);

		if (hlen > left)
			return;
		if (plen > left - hlen)
			plen = left - hlen;
		store_le32(p + 24, (uint32_t)crc32(0, p + FL_PREAMBLE_SIZE +
		    hlen, (uInt)plen));
		store_le32(p + 28, (uint32_t)crc32(crc32(0, p, 28), p +
		    FL_PREAMBLE_SIZE, (uInt)hlen));
		off += FL_PREAMBLE_SIZE + (size_t)hlen + (size_t)plen;
	}
}

/* ---- share envelopes ---- */

/* Open box as from -> to: it must open exactly when it is the box that
 * sealing the opened share makes. */
static void
check_open(const unsigned char box[FL_SA_BOXBYTES], uint32_t from,
    uint32_t to)
{
	struct fl_sa_share sh;
	struct fl_error err;
	unsigned char again[FL_SA_BOXBYTES];

	CHECK(from >= 1 && from <= NC && to >= 1 && to <= NC);
	if (fl_sa_open(&sh, box, G.roster.session, from, to,
	    G.box_sk[to - 1], G.box_pk[from - 1], &err) < 0) {
		check_error(&err);
		return;
	}
	CHECK(fl_sa_seal(again, &sh, G.roster.session, from, to,
	    G.box_sk[from - 1], G.box_pk[to - 1], &err) == 0);
	CHECK(memcmp(again, box, FL_SA_BOXBYTES) == 0);
}

static void
fuzz_open(const uint8_t *data, size_t size)
{
	unsigned char box[FL_SA_BOXBYTES] = { 0 };
	uint32_t from, to;

	if (size < 2)
		return;
	from = data[0] % NC + 1;
	to = data[1] % NC + 1;
	memcpy(box, data + 2, size - 2 < sizeof(box) ? size - 2 : sizeof(box));
	check_open(box, from, to);
	if (from != to)
		check_open(box, to, from);
}

/* ---- the roster ---- */

static void
same_public(const struct fl_sa_public *a, const struct fl_sa_public *b)
{
	CHECK(strcmp(a->id, b->id) == 0);
	CHECK(a->round == b->round);
	CHECK(memcmp(a->pk_mask, b->pk_mask, FL_SA_BYTES) == 0);
	CHECK(memcmp(a->pk_box, b->pk_box, FL_SA_BYTES) == 0);
	CHECK(memcmp(a->commit, b->commit, FL_SA_BYTES) == 0);
	CHECK(memcmp(a->identity, b->identity, FL_SA_BYTES) == 0);
	CHECK(memcmp(a->sig, b->sig, FL_SA_SIGBYTES) == 0);
}

static void
check_roster(const struct fl_sa_roster *r)
{
	struct fl_sa_roster back;
	struct fl_error err;
	uint32_t *nb;
	char *buf = NULL;
	size_t blen = 0;
	FILE *fp;

	CHECK(r->n >= 3 && r->npub == r->n && r->pub != NULL);
	CHECK(r->k >= 1 && r->k <= r->n - 1);
	CHECK(r->t >= 2 && r->t <= r->k + 1);
	CHECK(2 * (uint64_t)r->t > (uint64_t)r->k + 1 + r->holders_corrupt);
	CHECK(r->corrupt < r->n && r->quorum >= r->t && r->quorum <= r->n);
	CHECK(r->graph.n == r->n && r->graph.k == r->k);
	for (size_t i = 0; i < r->npub; i++) {
		CHECK(fl_sa_check_id(r->pub[i].id, NULL) == 0);
		CHECK(r->pub[i].round == r->round);
		if (i > 0)
			CHECK(strcmp(r->pub[i - 1].id, r->pub[i].id) < 0);
		CHECK(fl_sa_roster_find(r, r->pub[i].id) == i + 1);
	}
	CHECK((nb = malloc(((size_t)r->k + 1) * sizeof(*nb))) != NULL);
	for (uint32_t i = 1; i <= r->n; i++) {
		size_t k = fl_sa_neighbours(&r->graph, i, nb);

		CHECK(k == r->k);
		for (size_t j = 0; j < k; j++) {
			CHECK(nb[j] >= 1 && nb[j] <= r->n && nb[j] != i);
			if (j > 0)
				CHECK(nb[j - 1] < nb[j]);
			CHECK(fl_sa_adjacent(&r->graph, i, nb[j]));
			CHECK(fl_sa_adjacent(&r->graph, nb[j], i));
		}
		CHECK(!fl_sa_adjacent(&r->graph, i, i));
	}
	free(nb);

	/* Written and read back: the same roster. */
	CHECK((fp = open_memstream(&buf, &blen)) != NULL);
	CHECK(fl_sa_roster_write(fp, r, &err) == 0);
	CHECK(fclose(fp) == 0);
	CHECK((fp = fmemopen(buf, blen, "rb")) != NULL);
	if (fl_sa_roster_read(&back, fp, &err) < 0) {
		fprintf(stderr, "fuzz-secagg: roster re-read: %s\n", err.msg);
		abort();
	}
	fclose(fp);
	free(buf);
	CHECK(back.round == r->round && back.n == r->n && back.k == r->k &&
	    back.t == r->t && back.corrupt == r->corrupt);
	CHECK(memcmp(back.session, r->session, FL_SA_BYTES) == 0);
	for (size_t i = 0; i < r->npub; i++)
		same_public(&back.pub[i], &r->pub[i]);
	fl_sa_roster_free(&back);
}

/* 1 if every record of the stream reads within the fuzz payload cap (the
 * roster reader takes the library's 4 GiB default). */
static int
within_cap(const uint8_t *data, size_t size)
{
	struct fl_record rec;
	struct fl_error err;
	FILE *fp;
	int rc, ok = 1;

	if ((fp = fmemopen((void *)data, size, "rb")) == NULL)
		return 0;
	fl_record_init(&rec);
	while ((rc = fl_record_read(&rec, fp, &lim, &err)) == 1)
		;
	if (rc < 0 && err.code == FL_ELIMIT)
		ok = 0;
	fl_record_free(&rec);
	fclose(fp);
	return ok;
}

static void
fuzz_roster(const uint8_t *data, size_t size)
{
	struct fl_sa_roster r;
	struct fl_error err;
	FILE *fp;

	if (size == 0 || !within_cap(data, size))
		return;
	CHECK((fp = fmemopen((void *)data, size, "rb")) != NULL);
	if (fl_sa_roster_read(&r, fp, &err) == 0) {
		check_roster(&r);
		fl_sa_roster_free(&r);
	} else {
		check_error(&err);
		CHECK(r.pub == NULL && r.graph.pos == NULL);
	}
	fclose(fp);
}

/* ---- one message ---- */

static void
fuzz_secret(const struct fl_record *rec)
{
	struct fl_sa_secret s, back;
	struct fl_record out;
	struct fl_error err;

	if (fl_sa_secret_from_record(&s, rec, &err) < 0) {
		check_error(&err);
		return;
	}
	CHECK(fl_sa_check_id(s.id, NULL) == 0);
	CHECK(fl_scalar_is_canonical(s.mask_seed));
	CHECK(fl_scalar_is_canonical(s.self));
	CHECK(s.session[0] == '\0' || is_hex64(s.session));
	CHECK(s.masked[0] == '\0' || is_hex64(s.masked));
	CHECK(s.confirmed[0] == '\0' || is_hex64(s.confirmed));
	CHECK(s.session[0] || (!s.masked[0] && !s.confirmed[0]));
	fl_record_init(&out);
	CHECK(fl_sa_secret_to_record(&s, &out, &err) == 0);
	CHECK(fl_sa_secret_from_record(&back, &out, &err) == 0);
	CHECK(strcmp(s.id, back.id) == 0 && s.round == back.round);
	CHECK(memcmp(s.mask_seed, back.mask_seed, FL_SCALAR_BYTES) == 0);
	CHECK(memcmp(s.box_seed, back.box_seed, FL_SA_BYTES) == 0);
	CHECK(memcmp(s.self, back.self, FL_SCALAR_BYTES) == 0);
	CHECK(strcmp(s.session, back.session) == 0);
	CHECK(strcmp(s.masked, back.masked) == 0);
	CHECK(strcmp(s.confirmed, back.confirmed) == 0);
	CHECK(memcmp(s.identity, back.identity, FL_SA_BYTES) == 0);
	CHECK(memcmp(s.operator_pk, back.operator_pk, FL_SA_BYTES) == 0);
	fl_record_free(&out);
}

static void
fuzz_public(const struct fl_record *rec)
{
	struct fl_sa_public p, back;
	struct fl_record out;
	struct fl_error err;

	if (fl_sa_public_from_record(&p, rec, &err) < 0) {
		check_error(&err);
		return;
	}
	CHECK(fl_sa_check_id(p.id, NULL) == 0);
	CHECK(fl_tensor_find(rec, "sk.mask-seed") == NULL &&
	    fl_tensor_find(rec, "sk.self") == NULL);
	fl_record_init(&out);
	CHECK(fl_sa_public_to_record(&p, &out, &err) == 0);
	CHECK(fl_sa_public_from_record(&back, &out, &err) == 0);
	same_public(&p, &back);
	fl_record_free(&out);
}

static void
check_clients(const uint32_t *v, size_t m)
{
	for (size_t i = 0; i < m; i++)
		CHECK(v[i] >= 1 && v[i] <= G.roster.n);
}

static void
fuzz_shares(const struct fl_record *rec)
{
	const struct fl_sa_roster *r = &G.roster;
	const struct fl_tensor *t;
	struct fl_sa_shares s, back;
	struct fl_record out;
	struct fl_error err;

	if (fl_sa_shares_from_record(&s, rec, r, &err) < 0) {
		check_error(&err);
		return;
	}
	CHECK(s.from >= 1 && s.from <= r->n);
	CHECK((t = fl_tensor_find(rec, "to")) != NULL && t->numel == s.m);
	CHECK((t = fl_tensor_find(rec, "box")) != NULL &&
	    t->nbytes == (uint64_t)s.m * FL_SA_BOXBYTES);
	CHECK(inside(rec, s.to, (uint64_t)s.m * 4));
	CHECK(inside(rec, s.box, (uint64_t)s.m * FL_SA_BOXBYTES));
	CHECK(inside(rec, s.commit_mask, (uint64_t)r->t * FL_SCALAR_BYTES));
	CHECK(inside(rec, s.commit_self, (uint64_t)r->t * FL_SCALAR_BYTES));
	check_clients(s.to, s.m);
	for (size_t i = 0; i < s.m; i++)
		check_open(s.box[i], s.from, s.to[i]);
	fl_record_init(&out);
	CHECK(fl_sa_shares_to_record(&out, r, &s, &err) == 0);
	CHECK(fl_sa_shares_from_record(&back, &out, r, &err) == 0);
	CHECK(back.from == s.from && back.m == s.m);
	CHECK(memcmp(back.commit_mask, s.commit_mask, (size_t)r->t *
	    FL_SCALAR_BYTES) == 0);
	CHECK(memcmp(back.commit_self, s.commit_self, (size_t)r->t *
	    FL_SCALAR_BYTES) == 0);
	CHECK(s.m == 0 || memcmp(back.to, s.to, s.m * 4) == 0);
	CHECK(s.m == 0 || memcmp(back.box, s.box, s.m * FL_SA_BOXBYTES) == 0);
	fl_record_free(&out);
}

static void
check_reveal(const struct fl_sa_reveal *v, const struct fl_record *rec)
{
	const struct fl_tensor *t;

	CHECK(v->from >= 1 && v->from <= G.roster.n);
	CHECK(is_hex64(v->survivors));
	CHECK((t = fl_tensor_find(rec, "self.of")) != NULL &&
	    t->numel == v->nself);
	CHECK((t = fl_tensor_find(rec, "mask.of")) != NULL &&
	    t->numel == v->nmask);
	CHECK(inside(rec, v->self_of, (uint64_t)v->nself * 4));
	CHECK(inside(rec, v->mask_of, (uint64_t)v->nmask * 4));
	CHECK(inside(rec, v->self_share, (uint64_t)v->nself *
	    FL_SCALAR_BYTES));
	CHECK(inside(rec, v->mask_share, (uint64_t)v->nmask *
	    FL_SCALAR_BYTES));
	check_clients(v->self_of, v->nself);
	check_clients(v->mask_of, v->nmask);
}

static void
fuzz_reveal(const struct fl_record *rec)
{
	struct fl_sa_reveal v, back;
	struct fl_record out;
	struct fl_error err;

	if (fl_sa_reveal_from_record(&v, rec, &G.roster, &err) < 0) {
		check_error(&err);
		return;
	}
	check_reveal(&v, rec);
	fl_record_init(&out);
	CHECK(fl_sa_reveal_to_record(&out, &G.roster, &v, &err) == 0);
	CHECK(fl_sa_reveal_from_record(&back, &out, &G.roster, &err) == 0);
	CHECK(back.from == v.from && back.nself == v.nself &&
	    back.nmask == v.nmask);
	CHECK(strcmp(back.survivors, v.survivors) == 0);
	CHECK(v.nself == 0 || (memcmp(back.self_of, v.self_of,
	    v.nself * 4) == 0 && memcmp(back.self_share, v.self_share,
	    v.nself * FL_SCALAR_BYTES) == 0));
	CHECK(v.nmask == 0 || (memcmp(back.mask_of, v.mask_of,
	    v.nmask * 4) == 0 && memcmp(back.mask_share, v.mask_share,
	    v.nmask * FL_SCALAR_BYTES) == 0));
	fl_record_free(&out);
}

static void
fuzz_confirm(const struct fl_record *rec)
{
	struct fl_sa_confirm c, back;
	struct fl_record out;
	struct fl_error err;
	unsigned char digest[FL_SA_BYTES];

	if (fl_sa_confirm_from_record(&c, rec, &G.roster, &err) < 0) {
		check_error(&err);
		return;
	}
	CHECK(c.from >= 1 && c.from <= G.roster.n && is_hex64(c.survivors));
	CHECK(inside(rec, c.sig, FL_SA_SIGBYTES));
	/* A signature verifies only if the client's identity made it. */
	fl_sa_confirm_digest(digest, G.roster.session, c.survivors);
	if (fl_sa_verify(c.sig, digest, G.ident[c.from - 1].pk) == 0) {
		unsigned char again[FL_SA_SIGBYTES];

		fl_sa_sign(again, digest, &G.ident[c.from - 1]);
		CHECK(memcmp(again, c.sig, FL_SA_SIGBYTES) == 0);
	}
	fl_record_init(&out);
	CHECK(fl_sa_confirm_to_record(&out, &G.roster, &c, &err) == 0);
	CHECK(fl_sa_confirm_from_record(&back, &out, &G.roster, &err) == 0);
	CHECK(back.from == c.from && strcmp(back.survivors, c.survivors) == 0);
	CHECK(memcmp(back.sig, c.sig, FL_SA_SIGBYTES) == 0);
	fl_record_free(&out);
}

static void
fuzz_identity(const struct fl_record *rec)
{
	struct fl_sa_identity ident, back;
	struct fl_sa_enrolment e;
	struct fl_record out;
	struct fl_error err;
	char id[FL_SA_MAXID + 1];
	unsigned char pk[FL_SA_BYTES];

	if (fl_sa_identity_from_record(&ident, rec, &err) == 0) {
		CHECK(fl_sa_check_id(ident.id, NULL) == 0);
		fl_record_init(&out);
		CHECK(fl_sa_identity_to_record(&ident, &out, &err) == 0);
		CHECK(fl_sa_identity_from_record(&back, &out, &err) == 0);
		CHECK(memcmp(&back, &ident, sizeof(back)) == 0);
		fl_record_free(&out);
	} else {
		check_error(&err);
	}
	if (fl_sa_identity_public_from_record(id, pk, rec, &err) == 0)
		CHECK(fl_sa_check_id(id, NULL) == 0);
	else
		check_error(&err);
	if (fl_sa_enrolment_read(&e, rec, NULL, &err) == 0) {
		CHECK(e.n >= 1);
		for (size_t i = 0; i < e.n; i++) {
			char name[FL_SA_MAXID + 1] = { 0 };
			const unsigned char *found;

			memcpy(name, e.id[i], FL_SA_MAXID);
			CHECK(fl_sa_check_id(name, NULL) == 0);
			CHECK((found = fl_sa_enrolment_find(&e, name)) != NULL);
			CHECK(found == e.pk[i]);
		}
	} else {
		check_error(&err);
	}
}

static void
fuzz_message(const uint8_t *data, size_t size)
{
	struct fl_record rec;
	struct fl_error err;
	int rc;

	fl_record_init(&rec);
	rc = fl_record_parse(&rec, data, size, &lim, &err);
	if (rc == 1) {
		fuzz_secret(&rec);
		fuzz_public(&rec);
		fuzz_shares(&rec);
		fuzz_confirm(&rec);
		fuzz_reveal(&rec);
		fuzz_identity(&rec);
	} else if (rc < 0) {
		check_error(&err);
	}
	fl_record_free(&rec);
}

/* ---- unmasking ---- */

static void
fuzz_unmask(const struct ending *e, const uint8_t *data, size_t size)
{
	struct fl_record recs[MAX_REVEALS], sum;
	struct fl_sa_reveal rv[MAX_REVEALS];
	struct fl_sa_faults faults = { 0 };
	struct fl_error err;
	size_t n = 0;
	FILE *fp;
	int rc = 0;

	if (size == 0 || (fp = fmemopen((void *)data, size, "rb")) == NULL)
		return;
	for (size_t i = 0; i < MAX_REVEALS; i++)
		fl_record_init(&recs[i]);
	while (n < MAX_REVEALS &&
	    (rc = fl_record_read(&recs[n], fp, &lim, &err)) == 1) {
		if (fl_sa_reveal_from_record(&rv[n], &recs[n], &G.roster,
		    &err) < 0) {
			rc = -1;
			break;
		}
		check_reveal(&rv[n], &recs[n]);
		n++;
	}
	fclose(fp);
	if (rc < 0) {
		check_error(&err);
		goto out;
	}

	/* The server's sum of the survivors' masked records. */
	ring_record(&sum, e->masked);
	rc = fl_sa_unmask_record(&sum, &G.roster, e->surv, e->nsurv,
	    e->shared_hash, rv, n, G.dealt, &faults, 1, &err);
	for (size_t i = 0; i < faults.n; i++)
		CHECK(faults.v[i].from >= 1 && faults.v[i].from <= NC &&
		    faults.v[i].of >= 1 && faults.v[i].of <= NC);
	free(faults.v);
	if (rc == 0) {
		CHECK(sum.ntensors == 1 && sum.tensors[0].numel == NW);
		CHECK(memcmp(sum.tensors[0].data, e->plain,
		    sizeof(e->plain)) == 0);
	} else {
		check_error(&err);
	}
	fl_record_free(&sum);
out:
	for (size_t i = 0; i < MAX_REVEALS; i++)
		fl_record_free(&recs[i]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *rest;
	size_t n;

	if (size == 0)
		return 0;
	setup();
	n = size - 1;
	/* A copy of its own: ASan sees reads past the end, and the CRCs
	 * can be repaired. */
	if ((rest = malloc(n ? n : 1)) == NULL)
		return 0;
	memcpy(rest, data + 1, n);
	switch (data[0] % 4) {
	case 0:
		repair(rest, n);
		fuzz_roster(rest, n);
		break;
	case 1:
		repair(rest, n);
		fuzz_message(rest, n);
		break;
	case 2:
		repair(rest, n);
		fuzz_unmask(&G.end[data[0] / 4 % 3], rest, n);
		break;
	default:
		fuzz_open(rest, n);
		break;
	}
	free(rest);
	return 0;
}
