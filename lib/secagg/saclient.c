/* SPDX-License-Identifier: ISC */
/*
 * A client's checks and computations in each step of a round, apart from
 * the files: which roster it accepts, what it takes from the shares file,
 * which survivor list it confirms and when it reveals.  Every rule here is
 * one that a lying server would like the client to skip; fl-mask(1)'s
 * THREAT MODEL says which attack each one stops.  The key file's record
 * of what was done (session, masked, confirmed) is updated in the struct;
 * the caller stores it, under the key file's lock, before anything leaves.
 */
#include <stdlib.h>
#include <string.h>

#include "secagg/internal.h"

int
fl_sa_client_find(const struct fl_sa_roster *r, const struct fl_sa_secret *s,
    int bound, uint32_t *me, struct fl_error *err)
{
	char hex[FL_SA_HEX];
	struct fl_sa_public *p;

	if (s->round != r->round)
		return fl_error_set(err, FL_EFORMAT, "round %llu, but the key "
		    "file is of round %llu", (unsigned long long)r->round,
		    (unsigned long long)s->round);
	if ((*me = fl_sa_roster_find(r, s->id)) == 0)
		return fl_error_set(err, FL_EFORMAT, "client '%s' is not in "
		    "the roster", s->id);
	p = &r->pub[*me - 1];
	/* The roster must list this client with the keys of this key file:
	 * otherwise the server swapped them. */
	{
		unsigned char pk[FL_SA_BYTES], sk[FL_SA_BYTES];
		unsigned char box[FL_SA_BYTES], commit[FL_SA_BYTES];
		int same;

		fl_sa_mask_keypair(pk, sk, s->mask_seed);
		fl_sa_box_keypair(box, sk, s->box_seed);
		fl_sa_commit(commit, s->self);
		sodium_memzero(sk, sizeof(sk));
		same = sodium_memcmp(pk, p->pk_mask, FL_SA_BYTES) == 0 &&
		    sodium_memcmp(box, p->pk_box, FL_SA_BYTES) == 0 &&
		    sodium_memcmp(commit, p->commit, FL_SA_BYTES) == 0 &&
		    sodium_memcmp(s->identity, p->identity, FL_SA_BYTES) == 0;
		if (!same)
			return fl_error_set(err, FL_EFORMAT, "the keys listed "
			    "for client '%s' are not those of its key file (a "
			    "roster that differs from the server's, or another "
			    "round's key file)", s->id);
	}
	sodium_bin2hex(hex, sizeof(hex), r->session, FL_SA_BYTES);
	if (s->session[0] && strcmp(s->session, hex) != 0)
		return fl_error_set(err, FL_EFORMAT, "another session than the "
		    "one the key file is bound to: a key file serves one "
		    "roster (refusing, or a second roster could unmask this "
		    "client)");
	if (bound && !s->session[0])
		return fl_error_set(err, FL_EFORMAT, "the key file has not "
		    "shared in this session: --share first");
	return 0;
}

int
fl_sa_client_accept(const struct fl_sa_roster *r, uint32_t me,
    const struct fl_sa_enrolment *e, const struct fl_sa_policy *pol,
    struct fl_error *err)
{
	struct fl_secagg_params p;

	if (fl_sa_roster_enrolled(r, e, me, err) < 0)
		return -1;
	if (r->n < pol->min_clients)
		return fl_error_set(err, FL_EFORMAT, "%u clients, fewer than "
		    "this client's minimum of %u (--min-clients)", r->n,
		    pol->min_clients);
	/* The same rule as --make-roster, from this client's own
	 * fractions, or the graph it was told to expect. */
	if (fl_sa_policy_params(r->n, pol, &p, err) < 0)
		return -1;
	if (r->k != p.k || r->t != p.t || r->corrupt != p.corrupt)
		return fl_error_set(err, FL_EFORMAT, "k=%u, t=%u and %u corrupt "
		    "clients, where this client's rule gives k=%u, t=%u and %u "
		    "(--corrupt, --dropout, --degree, --threshold)", r->k,
		    r->t, r->corrupt, p.k, p.t, p.corrupt);
	return 0;
}

int
fl_sa_client_share(struct fl_record *rec, const struct fl_sa_roster *r,
    uint32_t me, struct fl_sa_secret *s, struct fl_error *err)
{
	struct fl_sa_shares out = { 0 };
	struct fl_sa_share sh;
	struct fl_rng rng;
	unsigned char key[FL_RNG_KEYBYTES], pk[FL_SA_BYTES], sk[FL_SA_BYTES];
	unsigned char (*ms)[FL_SCALAR_BYTES] = NULL, (*ss)[FL_SCALAR_BYTES] = NULL;
	unsigned char (*cm)[FL_SCALAR_BYTES] = NULL, (*cs)[FL_SCALAR_BYTES] = NULL;
	unsigned char (*box)[FL_SA_BOXBYTES] = NULL;
	uint32_t *to = NULL;
	size_t m = (size_t)r->k + 1;
	int rc = -1;

	if ((to = malloc(m * sizeof(*to))) == NULL ||
	    (ms = malloc(m * FL_SCALAR_BYTES)) == NULL ||
	    (ss = malloc(m * FL_SCALAR_BYTES)) == NULL ||
	    (cm = malloc((size_t)r->t * FL_SCALAR_BYTES)) == NULL ||
	    (cs = malloc((size_t)r->t * FL_SCALAR_BYTES)) == NULL ||
	    (box = malloc(m * FL_SA_BOXBYTES)) == NULL) {
		fl_error_set(err, FL_ENOMEM, "out of memory");
		goto out;
	}
	m = fl_sa_holders(&r->graph, me, to);
	/* The polynomials are a function of the secrets and the session:
	 * asked again, the client sends the same envelopes, never fresh
	 * polynomials under the same nonces. */
	fl_sa_poly_key(key, s->mask_seed, s->self, s->box_seed, r->session);
	fl_rng_init(&rng, key, 0);
	sodium_memzero(key, sizeof(key));
	if (fl_shamir_split(s->mask_seed, r->t, to, m, ms, cm, &rng,
	    err) < 0 ||
	    fl_shamir_split(s->self, r->t, to, m, ss, cs, &rng, err) < 0)
		goto out;
	if (fl_sa_box_keypair(pk, sk, s->box_seed) != 0) {
		fl_error_set(err, FL_EINVAL, "key generation failed");
		goto out;
	}
	for (size_t i = 0; i < m; i++) {
		memcpy(sh.mask, ms[i], FL_SCALAR_BYTES);
		memcpy(sh.self, ss[i], FL_SCALAR_BYTES);
		if (fl_sa_seal(box[i], &sh, r->session, me, to[i], sk,
		    r->pub[to[i] - 1].pk_box, err) < 0)
			goto out;
	}
	out.from = me;
	out.m = m;
	out.to = to;
	out.box = (const unsigned char (*)[FL_SA_BOXBYTES])box;
	out.commit_mask = (const unsigned char (*)[FL_SCALAR_BYTES])cm;
	out.commit_self = (const unsigned char (*)[FL_SCALAR_BYTES])cs;
	if (fl_sa_shares_to_record(rec, r, &out, err) < 0)
		goto out;
	sodium_bin2hex(s->session, sizeof(s->session), r->session,
	    FL_SA_BYTES);
	rc = 0;
out:
	fl_rng_wipe(&rng);
	sodium_memzero(&sh, sizeof(sh));
	sodium_memzero(sk, sizeof(sk));
	if (ms != NULL)
		sodium_memzero(ms, m * FL_SCALAR_BYTES);
	if (ss != NULL)
		sodium_memzero(ss, m * FL_SCALAR_BYTES);
	free(ms);
	free(ss);
	free(cm);
	free(cs);
	free(box);
	free(to);
	return rc;
}

/* ---- the shares file ---- */

int
fl_sa_shares_file_read(struct fl_sa_shares_file *f, FILE *fp,
    const struct fl_sa_roster *r, struct fl_error *err)
{
	unsigned char *seen = calloc(r->n, 1);
	struct fl_record rec;
	char m0[sizeof(err->msg)];
	int n;

	memset(f, 0, sizeof(*f));
	/* One record per client of the roster at most (a second from the
	 * same client is refused): r bounds what is kept. */
	f->recs = calloc(r->n, sizeof(*f->recs));
	f->sh = calloc(r->n, sizeof(*f->sh));
	if (seen == NULL || f->recs == NULL || f->sh == NULL) {
		free(seen);
		fl_sa_shares_file_free(f);
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	}
	fl_record_init(&rec);
	while ((n = fl_record_read(&rec, fp, NULL, err)) != 0) {
		struct fl_sa_shares sh;

		if (n < 0 || fl_sa_shares_from_record(&sh, &rec, r, err) < 0)
			goto bad;
		if (seen[sh.from - 1]) {
			fl_error_set(err, FL_EFORMAT, "client '%s' shared twice",
			    r->pub[sh.from - 1].id);
			goto bad;
		}
		seen[sh.from - 1] = 1;
		/* The record moves into the array (sh points into its
		 * buffers, which move with it). */
		f->recs[f->n] = rec;
		f->sh[f->n] = sh;
		f->n++;
		fl_record_init(&rec);
	}
	free(seen);
	return 0;
bad:
	memcpy(m0, err->msg, sizeof(m0));
	fl_error_set(err, FL_EFORMAT, "record %zu: %s", f->n + 1, m0);
	fl_record_free(&rec);
	free(seen);
	fl_sa_shares_file_free(f);
	return -1;
}

void
fl_sa_shares_file_free(struct fl_sa_shares_file *f)
{
	if (f->recs != NULL)
		for (size_t i = 0; i < f->n; i++)
			fl_record_free(&f->recs[i]);
	free(f->recs);
	free(f->sh);
	memset(f, 0, sizeof(*f));
}

int
fl_sa_received_take(struct fl_sa_received *rc,
    const struct fl_sa_shares_file *f, const struct fl_sa_roster *r,
    const struct fl_sa_secret *s, uint32_t me, int open,
    struct fl_error *err)
{
	unsigned char *seen = calloc(r->n, 1);
	unsigned char pk[FL_SA_BYTES], sk[FL_SA_BYTES];
	uint32_t *h = malloc(((size_t)r->k + 1) * sizeof(*h));
	size_t m, live = 0;
	int ok = -1;

	memset(rc, 0, sizeof(*rc));
	rc->mine = calloc(r->n, sizeof(*rc->mine));
	rc->has = calloc(r->n, 1);
	rc->shared = malloc(r->n * sizeof(*rc->shared));
	if (seen == NULL || h == NULL || rc->mine == NULL || rc->has == NULL ||
	    rc->shared == NULL) {
		fl_error_set(err, FL_ENOMEM, "out of memory");
		goto out;
	}
	fl_sa_box_keypair(pk, sk, s->box_seed);
	for (size_t j = 0; j < f->n; j++) {
		const struct fl_sa_shares *sh = &f->sh[j];
		char m0[sizeof(err->msg)];

		seen[sh->from - 1] = 1;
		for (size_t i = 0; i < sh->m; i++) {
			if (sh->to[i] != me)
				continue;
			if (sh->from != me && !fl_sa_adjacent(&r->graph, me,
			    sh->from)) {
				fl_error_set(err, FL_EFORMAT, "client '%s' is "
				    "not a neighbour of this client",
				    r->pub[sh->from - 1].id);
				goto bad;
			}
			if (rc->has[sh->from - 1]) {
				fl_error_set(err, FL_EFORMAT, "two envelopes "
				    "for this client");
				goto bad;
			}
			if (open && fl_sa_open(&rc->mine[sh->from - 1],
			    sh->box[i], r->session, sh->from, me, sk,
			    r->pub[sh->from - 1].pk_box, err) < 0)
				goto bad;
			rc->has[sh->from - 1] = 1;
		}
		continue;
bad:
		memcpy(m0, err->msg, sizeof(m0));
		fl_error_set(err, FL_EFORMAT, "record %zu: %s", j + 1, m0);
		goto out;
	}
	if (!seen[me - 1]) {
		fl_error_set(err, FL_EFORMAT, "no shares from this client "
		    "('%s'): it is out of the round", s->id);
		goto out;
	}
	for (uint32_t c = 1; c <= r->n; c++) {
		if (!seen[c - 1])
			continue;
		if ((c == me || fl_sa_adjacent(&r->graph, me, c)) &&
		    !rc->has[c - 1]) {
			fl_error_set(err, FL_EFORMAT, "client '%s' shared, but "
			    "sent this client no envelope", r->pub[c - 1].id);
			goto out;
		}
		rc->shared[rc->nshared++] = c;
	}
	/* Enough of this client's holders must have shared for the server
	 * to rebuild its secrets; going on is pointless otherwise. */
	m = fl_sa_holders(&r->graph, me, h);
	for (size_t i = 0; i < m; i++)
		live += rc->has[h[i] - 1];
	if (live < r->t) {
		fl_error_set(err, FL_EFORMAT, "%zu of this client's share "
		    "holders shared, fewer than the threshold %u: the round "
		    "cannot finish", live, r->t);
		goto out;
	}
	ok = 0;
out:
	sodium_memzero(sk, sizeof(sk));
	free(seen);
	free(h);
	if (ok < 0)
		fl_sa_received_free(rc, r->n);
	return ok;
}

int
fl_sa_received_read(struct fl_sa_received *rc, FILE *fp,
    const struct fl_sa_roster *r, const struct fl_sa_secret *s, uint32_t me,
    int open, struct fl_error *err)
{
	struct fl_sa_shares_file f;
	int rc_take;

	memset(rc, 0, sizeof(*rc));
	if (fl_sa_shares_file_read(&f, fp, r, err) < 0)
		return -1;
	rc_take = fl_sa_received_take(rc, &f, r, s, me, open, err);
	fl_sa_shares_file_free(&f);
	return rc_take;
}

void
fl_sa_received_free(struct fl_sa_received *rc, uint32_t n)
{
	if (rc->mine != NULL)
		sodium_memzero(rc->mine, n * sizeof(*rc->mine));
	free(rc->mine);
	free(rc->has);
	free(rc->shared);
	memset(rc, 0, sizeof(*rc));
}

/* ---- masking ---- */

int
fl_sa_client_mask(struct fl_record *rec, const struct fl_sa_roster *r,
    struct fl_sa_secret *s, const struct fl_sa_received *rc, int nthreads,
    struct fl_error *err)
{
	const char *v = fl_meta_get(rec, "round");
	char shared[FL_SA_HEX], digest[FL_SA_HEX];
	uint64_t u;

	if (fl_meta_get(rec, "mask") != NULL)
		return fl_error_set(err, FL_EFORMAT, "already masked");
	if (v != NULL && (fl_parse_u64(v, 0, UINT64_MAX, &u, NULL) < 0 ||
	    u != r->round))
		return fl_error_set(err, FL_EFORMAT, "an update of round '%s', "
		    "the keys are for round %llu", v,
		    (unsigned long long)r->round);
	if (fl_release_check_masked(rec, err) < 0)
		return -1;
	/* The distributed noise is planned for dp.shares clients: fewer in
	 * the roster, and the sum could never carry it. */
	if ((v = fl_meta_get(rec, "dp.shares")) != NULL &&
	    (fl_parse_u64(v, 1, UINT64_MAX, &u, NULL) < 0 || u > r->n))
		return fl_error_set(err, FL_EFORMAT, "noise planned as %s "
		    "shares, the roster has %u clients: the sum would carry "
		    "less noise than the release claims", v, r->n);
	/* Once per session: the masks are the same every time, so a second,
	 * different update would give the server the difference of the two. */
	fl_sa_set_hash(shared, "shared", r->session, rc->shared, rc->nshared);
	fl_sa_masked_digest(digest, rec, s, r->session, shared);
	if (s->masked[0] && strcmp(s->masked, digest) != 0)
		return fl_error_set(err, FL_EFORMAT, "this key file already "
		    "masked another update (or with other shares) in this "
		    "session: refusing a second (the server would learn the "
		    "difference)");
	memcpy(s->masked, digest, sizeof(s->masked));
	if (fl_sa_mask_record(rec, r, s, rc->shared, rc->nshared, nthreads,
	    err) < 0)
		return -1;
	if (fl_meta_set(rec, "mask", "secagg", err) < 0 ||
	    fl_meta_set(rec, "client", s->id, err) < 0 ||
	    fl_meta_setf(rec, err, "round", "%llu",
	    (unsigned long long)r->round) < 0 ||
	    fl_sa_put_hex(rec, "secagg.session", r->session, err) < 0 ||
	    fl_meta_set(rec, "secagg.shared", shared, err) < 0)
		return -1;
	return 0;
}

/* ---- the survivors ---- */

int
fl_sa_survivors_read(FILE *fp, const struct fl_sa_roster *r, uint32_t **out,
    size_t *m, struct fl_error *err)
{
	unsigned char *seen = calloc(r->n, 1);
	uint32_t *surv = malloc(r->n * sizeof(*surv));
	char *line = NULL, q[FL_QUOTE];
	size_t cap = 0;
	unsigned long lineno = 0;
	int rc = -1;

	*m = 0;
	if (seen == NULL || surv == NULL) {
		fl_error_set(err, FL_ENOMEM, "out of memory");
		goto out;
	}
	while (getline(&line, &cap, fp) >= 0) {
		char *p = line, *e;
		uint32_t c;

		lineno++;
		while (*p == ' ' || *p == '\t')
			p++;
		e = p + strlen(p);
		while (e > p && (e[-1] == '\n' || e[-1] == '\r' ||
		    e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (*p == '\0' || *p == '#')
			continue;
		if ((c = fl_sa_roster_find(r, p)) == 0) {
			fl_error_set(err, FL_EFORMAT, "line %lu: unknown client "
			    "'%s': not in the roster", lineno,
			    fl_escape(q, sizeof(q), p, strlen(p)));
			goto out;
		}
		if (seen[c - 1]) {
			fl_error_set(err, FL_EFORMAT, "line %lu: client '%s' "
			    "listed twice", lineno, p);
			goto out;
		}
		seen[c - 1] = 1;
	}
	if (ferror(fp)) {
		fl_error_set(err, FL_EIO, "read error");
		goto out;
	}
	for (uint32_t c = 1; c <= r->n; c++)
		if (seen[c - 1])
			surv[(*m)++] = c;
	*out = surv;
	surv = NULL;
	rc = 0;
out:
	free(line);
	free(seen);
	free(surv);
	return rc;
}

/* Bonawitz et al.'s client checks on a survivor list, before this client
 * signs or reveals anything for it; the list's hash into hash. */
static int
check_survivors(const struct fl_sa_roster *r, uint32_t me,
    const struct fl_sa_received *rc, const uint32_t *surv, size_t m,
    char hash[FL_SA_HEX], struct fl_error *err)
{
	size_t j = 0, mine = 0;

	/* Both lists ascend: every survivor must be among those who shared. */
	for (size_t i = 0; i < m; i++) {
		while (j < rc->nshared && rc->shared[j] < surv[i])
			j++;
		if (j == rc->nshared || rc->shared[j] != surv[i])
			return fl_error_set(err, FL_EFORMAT, "client '%s' is "
			    "listed as a survivor but never shared",
			    r->pub[surv[i] - 1].id);
		mine += surv[i] == me;
	}
	if (!mine)
		return fl_error_set(err, FL_EFORMAT, "this client ('%s') is "
		    "listed as dropped: refusing to answer",
		    r->pub[me - 1].id);
	if (m < r->quorum)
		return fl_error_set(err, FL_EFORMAT, "%zu survivors, fewer than "
		    "the %u the round needs (a majority of the %u clients "
		    "counting the %u corrupt twice, and at least t = %u): the "
		    "round is aborted", m, r->quorum, r->n, r->corrupt, r->t);
	fl_sa_set_hash(hash, "survivors", r->session, surv, m);
	return 0;
}

int
fl_sa_client_confirm(struct fl_record *rec, const struct fl_sa_roster *r,
    uint32_t me, struct fl_sa_secret *s, const struct fl_sa_identity *ident,
    const struct fl_sa_received *rc, const uint32_t *surv, size_t m,
    struct fl_error *err)
{
	struct fl_sa_confirm c;
	unsigned char digest[FL_SA_BYTES], sig[FL_SA_SIGBYTES];

	if (strcmp(ident->id, s->id) != 0 ||
	    sodium_memcmp(ident->pk, s->identity, FL_SA_BYTES) != 0)
		return fl_error_set(err, FL_EINVAL, "the identity of '%s' did "
		    "not make the key file of '%s'", ident->id, s->id);
	if (!s->masked[0])
		return fl_error_set(err, FL_EINVAL, "this client has masked "
		    "no update in this session: it is not a survivor");
	memset(&c, 0, sizeof(c));
	if (check_survivors(r, me, rc, surv, m, c.survivors, err) < 0)
		return -1;
	/* One survivor set per session: with two, honest clients could be
	 * made to confirm lists that together unmask someone. */
	if (s->confirmed[0] && strcmp(s->confirmed, c.survivors) != 0)
		return fl_error_set(err, FL_EFORMAT, "this client already "
		    "confirmed another set of survivors: refusing a second (it "
		    "could expose a client's update)");
	memcpy(s->confirmed, c.survivors, sizeof(s->confirmed));
	fl_sa_confirm_digest(digest, r->session, c.survivors);
	fl_sa_sign(sig, digest, ident);
	c.from = me;
	c.sig = sig;
	return fl_sa_confirm_to_record(rec, r, &c, err);
}

/* The valid confirmations of the set hash in the stream fp, from distinct
 * survivors, up to need (reading stops there). */
static int
count_confirmations(FILE *fp, const struct fl_sa_roster *r,
    const unsigned char *is_surv, const char *hash, uint32_t need,
    uint32_t *valid, struct fl_error *err)
{
	struct fl_record rec;
	struct fl_sa_confirm c;
	unsigned char *seen = calloc(r->n, 1), digest[FL_SA_BYTES];
	unsigned long recno = 0;
	int n, rc = 0;

	*valid = 0;
	if (seen == NULL)
		return fl_error_set(err, FL_ENOMEM, "out of memory");
	fl_sa_confirm_digest(digest, r->session, hash);
	fl_record_init(&rec);
	while (*valid < need && (n = fl_record_read(&rec, fp, NULL, err)) != 0) {
		recno++;
		if (n < 0 || fl_sa_confirm_from_record(&c, &rec, r, err) < 0) {
			char m0[sizeof(err->msg)];

			memcpy(m0, err->msg, sizeof(m0));
			rc = fl_error_set(err, FL_EFORMAT, "record %lu: %s",
			    recno, m0);
			break;
		}
		/* Others' lists, non-survivors, repeats and bad signatures
		 * count for nothing: only a quorum on this very list does. */
		if (strcmp(c.survivors, hash) != 0 || !is_surv[c.from - 1] ||
		    seen[c.from - 1] ||
		    fl_sa_verify(c.sig, digest, r->pub[c.from - 1].identity) < 0)
			continue;
		seen[c.from - 1] = 1;
		(*valid)++;
	}
	fl_record_free(&rec);
	free(seen);
	return rc;
}

int
fl_sa_client_reveal(struct fl_record *rec, const struct fl_sa_roster *r,
    uint32_t me, const struct fl_sa_secret *s,
    const struct fl_sa_received *rc, const uint32_t *surv, size_t m,
    FILE *confirmations, struct fl_error *err)
{
	struct fl_sa_reveal v;
	unsigned char *is_surv = calloc(r->n, 1);
	uint32_t *h = malloc(((size_t)r->k + 1) * sizeof(*h));
	uint32_t *self_of = NULL, *mask_of = NULL, valid;
	unsigned char (*self_sh)[FL_SCALAR_BYTES] = NULL;
	unsigned char (*mask_sh)[FL_SCALAR_BYTES] = NULL;
	size_t k = (size_t)r->k + 1;
	int ok = -1;

	memset(&v, 0, sizeof(v));
	if (is_surv == NULL || h == NULL ||
	    (self_of = malloc(k * sizeof(*self_of))) == NULL ||
	    (mask_of = malloc(k * sizeof(*mask_of))) == NULL ||
	    (self_sh = malloc(k * FL_SCALAR_BYTES)) == NULL ||
	    (mask_sh = malloc(k * FL_SCALAR_BYTES)) == NULL) {
		fl_error_set(err, FL_ENOMEM, "out of memory");
		goto out;
	}
	if (check_survivors(r, me, rc, surv, m, v.survivors, err) < 0)
		goto out;
	if (strcmp(s->confirmed, v.survivors) != 0) {
		fl_error_set(err, FL_EFORMAT, s->confirmed[0] ? "this client "
		    "confirmed another set of survivors: refusing to reveal "
		    "for this one" : "this client has not confirmed this set "
		    "of survivors: --confirm first");
		goto out;
	}
	for (size_t i = 0; i < m; i++)
		is_surv[surv[i] - 1] = 1;
	/* The consistency round: a quorum of survivors signed this list, so
	 * no other list can have one, and every honest client that reveals
	 * reveals for this list. */
	if (count_confirmations(confirmations, r, is_surv, v.survivors,
	    r->quorum, &valid, err) < 0)
		goto out;
	if (valid < r->quorum) {
		fl_error_set(err, FL_EFORMAT, "%u valid confirmations of this "
		    "set of survivors, fewer than the %u needed: refusing to "
		    "reveal", valid, r->quorum);
		goto out;
	}
	v.from = me;
	k = fl_sa_holders(&r->graph, me, h);
	for (size_t i = 0; i < k; i++) {
		uint32_t c = h[i];

		if (!rc->has[c - 1])
			continue;       /* never shared: out of the round */
		/* Exactly one share per client, never both. */
		if (is_surv[c - 1]) {
			self_of[v.nself] = c;
			memcpy(self_sh[v.nself++], rc->mine[c - 1].self,
			    FL_SCALAR_BYTES);
		} else {
			mask_of[v.nmask] = c;
			memcpy(mask_sh[v.nmask++], rc->mine[c - 1].mask,
			    FL_SCALAR_BYTES);
		}
	}
	v.self_of = self_of;
	v.mask_of = mask_of;
	v.self_share = (const unsigned char (*)[FL_SCALAR_BYTES])self_sh;
	v.mask_share = (const unsigned char (*)[FL_SCALAR_BYTES])mask_sh;
	ok = fl_sa_reveal_to_record(rec, r, &v, err);
out:
	if (self_sh != NULL)
		sodium_memzero(self_sh, ((size_t)r->k + 1) * FL_SCALAR_BYTES);
	if (mask_sh != NULL)
		sodium_memzero(mask_sh, ((size_t)r->k + 1) * FL_SCALAR_BYTES);
	free(self_sh);
	free(mask_sh);
	free(self_of);
	free(mask_of);
	free(is_surv);
	free(h);
	return ok;
}
