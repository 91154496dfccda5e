/* SPDX-License-Identifier: ISC */
/*
 * fl-mask - secure aggregation, the client's side (and the roster, which
 * the server makes): per-round keys, Shamir shares of the two secrets in
 * authenticated envelopes, the masked update, and the one answer to the
 * server's unmask request.  Every message is a file; moving the files
 * between devices and server is the user's business.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "tool.h"

static const char usage[] =
    "fl-mask --keygen --client=id --round=n -k keyfile [--seed=text]\n"
    "           [-o file]\n"
    "       fl-mask --make-roster [--corrupt=f] [--dropout=f] [--degree=k]\n"
    "           [--threshold=t] [-o file] [file ...]\n"
    "       fl-mask --share -k keyfile -r roster [--seed=text] [-o file]\n"
    "       fl-mask -k keyfile -r roster -s shares [-j n] [-o file] [file]\n"
    "       fl-mask --reveal=survivors -k keyfile -r roster -s shares\n"
    "           [-o file]";

static const char options[] =
    "Secure aggregation (SecAgg / SecAgg+), one step of a round per call.\n"
    "\n"
    "      --client=ID           --keygen: this client's id ([A-Za-z0-9._-])\n"
    "      --corrupt=F           --make-roster: fraction of clients that may\n"
    "                            collude with the server (0.05)\n"
    "      --degree=K            --make-roster: neighbours per client (even;\n"
    "                            n-1 for the full graph) instead of the rule\n"
    "      --dropout=F           --make-roster: fraction of clients that may drop\n"
    "                            (0.1)\n"
    "  -h, --help                print this help and exit\n"
    "  -j, --threads=N           mask with N threads (same output for any N)\n"
    "  -k, --key=FILE            this client's key file (0600)\n"
    "      --keygen              make this round's key file and print the public\n"
    "                            keys\n"
    "      --make-roster         server: check the public keys and write the\n"
    "                            roster, which fixes the session and the graph\n"
    "  -o, --output=FILE         write to FILE atomically instead of stdout\n"
    "  -r, --roster=FILE         the round's roster\n"
    "      --reveal=FILE         answer the unmask request: FILE lists the\n"
    "                            survivors, one id per line; only one answer per\n"
    "                            round\n"
    "      --round=N             --keygen: the round the keys are for\n"
    "  -s, --shares=FILE         every client's share envelopes, as the server\n"
    "                            collected them\n"
    "      --seed=TEXT           derive the keys or shares from TEXT: reproducible\n"
    "                            and NOT PRIVATE (tests and simulations only)\n"
    "      --share               make this client's share envelopes\n"
    "      --threshold=T         --make-roster: shares needed to rebuild a secret\n"
    "                            instead of the rule (a majority of the k + 1\n"
    "                            holders, to k + 1)\n"
    "  -V, --version             print the version and exit\n";

enum mode { MASK, KEYGEN, ROSTER, SHARE, REVEAL };

struct opts {
	enum mode mode;
	int set_mode;
	const char *client, *key, *roster, *shares, *survivors, *seed;
	const char *output;
	uint64_t round, degree, threshold;
	int set_round;
	double corrupt, dropout;
	int threads;
};

/* ---- the key file ---- */

static void
read_key(const char *path, struct fl_sa_secret *s)
{
	struct fl_record rec;
	struct fl_error err;
	struct stat st;
	FILE *fp;
	int rc;

	if ((fp = fopen(path, "rb")) == NULL)
		tool_die("%s: %s", path, strerror(errno));
	/* Like ssh: a key others can read is not a secret any more. */
	if (fstat(fileno(fp), &st) == 0 && (st.st_mode & 077) != 0)
		tool_die("%s: key file readable by others (mode %04o): chmod "
		    "600 it", path, (unsigned)(st.st_mode & 07777));
	fl_record_init(&rec);
	rc = fl_record_read(&rec, fp, NULL, &err);
	fclose(fp);
	if (rc == 0)
		tool_die("%s: empty: not a key file", path);
	if (rc < 0 || fl_sa_secret_from_record(s, &rec, &err) < 0)
		tool_die("%s: %s", path, err.msg);
	sodium_memzero(rec.raw, rec.rawlen);
	fl_record_free(&rec);
}

/* Write the key file atomically, 0600 from its creation on. */
static void
write_key(const char *path, const struct fl_sa_secret *s)
{
	struct fl_atomic a;
	struct fl_record rec;
	struct fl_error err;

	fl_record_init(&rec);
	if (fl_sa_secret_to_record(s, &rec, &err) < 0 ||
	    fl_atomic_open(&a, path, 0600, &err) < 0)
		tool_die("%s: %s", path, err.msg);
	if (fl_record_write(a.fp, &rec, 0, &err) < 0) {
		fl_atomic_abort(&a);
		tool_die("%s: %s", path, err.msg);
	}
	sodium_memzero(rec.raw, rec.rawlen);
	fl_record_free(&rec);
	if (fl_atomic_commit(&a, &err) < 0)
		tool_die("%s: %s", path, err.msg);
}

static void
master_key(unsigned char key[FL_RNG_KEYBYTES], const char *seed,
    const char *purpose, const char *id)
{
	struct fl_error err;

	if (seed != NULL)
		fl_sa_seed_key(key, seed, purpose, id);
	else if (fl_rng_seed_os(key, &err) < 0)
		tool_die("%s", err.msg);
}

static void
keygen(const struct opts *o)
{
	struct tool_output out;
	struct fl_sa_secret s;
	struct fl_sa_public p;
	struct fl_record rec;
	struct fl_error err;
	struct fl_rng rng;
	unsigned char key[FL_RNG_KEYBYTES];

	if (fl_sa_check_id(o->client, &err) < 0)
		tool_die("invalid --client: %s", err.msg);
	/* A round's keys are made once: a second key file would orphan the
	 * public keys already sent. */
	if (access(o->key, F_OK) == 0)
		tool_die("%s: exists: a round's keys are made once (remove it "
		    "to start the round over)", o->key);
	tool_output_open(&out, o->output, 1);
	master_key(key, o->seed, "sa-keys", o->client);
	fl_rng_init(&rng, key, 0);
	sodium_memzero(key, sizeof(key));
	if (fl_sa_secret_new(&s, o->client, o->round, &rng, &err) < 0 ||
	    fl_sa_public_of(&s, &p, &err) < 0)
		tool_die("%s", err.msg);
	fl_rng_wipe(&rng);
	/* The public keys go out first (an -o file is committed last): if
	 * they cannot be written, no key file is left to block a rerun. */
	fl_record_init(&rec);
	if (fl_sa_public_to_record(&p, &rec, &err) < 0)
		tool_die("%s", err.msg);
	tool_output_record(&out, &rec, 0);
	if (!out.is_file && fflush(out.fp) != 0)
		tool_die("%s: %s", out.name, strerror(errno));
	write_key(o->key, &s);
	sodium_memzero(&s, sizeof(s));
	tool_output_close(&out);
	fl_record_free(&rec);
}

/* ---- the roster ---- */

static void
make_roster(const struct opts *o, int nfiles, char **files)
{
	struct tool_input in;
	struct tool_output out;
	struct fl_sa_roster r;
	struct fl_secagg_params prm;
	struct fl_sa_public *pub = NULL;
	struct fl_record rec;
	struct fl_error err;
	size_t n = 0, cap = 0;
	int rc;

	tool_output_open(&out, o->output, 1);
	fl_record_init(&rec);
	tool_input_init(&in, nfiles, files);
	while ((rc = tool_input_next(&in, &rec)) != 0) {
		if (rc < 0)
			exit(1);
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			pub = realloc(pub, cap * sizeof(*pub));
			if (pub == NULL)
				tool_die("out of memory");
		}
		if (fl_sa_public_from_record(&pub[n], &rec, &err) < 0)
			tool_die("%s: record %lu: %s", in.name, in.recno,
			    err.msg);
		n++;
	}
	tool_input_free(&in);
	fl_record_free(&rec);
	if (n < 3)
		tool_die("%zu public keys: secure aggregation needs at least 3 "
		    "clients", n);
	if (n > UINT32_MAX / 2)
		tool_die("%zu public keys: too many", n);
	if (o->degree == 0) {
		if (fl_secagg_params((uint32_t)n, o->corrupt, o->dropout, &prm,
		    &err) < 0)
			tool_die("%s", err.msg);
	} else {
		/* A given graph: the smallest majority of its holders, which
		 * tolerates the most dropouts. */
		prm.k = (uint32_t)o->degree;
		prm.t = (uint32_t)((o->degree + 1) / 2 + 1);
	}
	if (o->threshold)
		prm.t = (uint32_t)o->threshold;
	if (prm.k > n - 1)
		tool_die("invalid --degree %u: %zu clients have at most %zu "
		    "neighbours", prm.k, n, n - 1);
	if (fl_sa_roster_init(&r, pub, n, prm.k, prm.t, &err) < 0)
		tool_die("%s", err.msg);
	if (fl_sa_roster_write(out.fp, &r, &err) < 0)
		tool_die("%s: %s", out.name, err.msg);
	tool_output_close(&out);
	fl_sa_roster_free(&r);
}

static void
read_roster(const char *path, struct fl_sa_roster *r)
{
	struct fl_error err;
	FILE *fp;

	if ((fp = fopen(path, "rb")) == NULL)
		tool_die("%s: %s", path, strerror(errno));
	if (fl_sa_roster_read(r, fp, &err) < 0)
		tool_die("%s: %s", path, err.msg);
	fclose(fp);
}

/* This client's number, after checking that the roster lists exactly the
 * keys of this key file: otherwise the server changed them. */
static uint32_t
find_self(const struct opts *o, const struct fl_sa_roster *r,
    const struct fl_sa_secret *s)
{
	struct fl_sa_public p;
	struct fl_error err;
	uint32_t me;

	if (s->round != r->round)
		tool_die("%s: round %llu, but %s is of round %llu", o->roster,
		    (unsigned long long)r->round, o->key,
		    (unsigned long long)s->round);
	if ((me = fl_sa_roster_find(r, s->id)) == 0)
		tool_die("%s: client '%s' is not in the roster", o->roster,
		    s->id);
	if (fl_sa_public_of(s, &p, &err) < 0)
		tool_die("%s", err.msg);
	if (sodium_memcmp(p.pk_mask, r->pub[me - 1].pk_mask, FL_SA_BYTES) ||
	    sodium_memcmp(p.pk_box, r->pub[me - 1].pk_box, FL_SA_BYTES) ||
	    sodium_memcmp(p.commit, r->pub[me - 1].commit, FL_SA_BYTES))
		tool_die("%s: the keys listed for client '%s' are not those "
		    "of %s (a roster that differs from the server's, or "
		    "another round's key file)", o->roster, s->id, o->key);
	return me;
}

/* ---- shares ---- */

static void
share(const struct opts *o)
{
	struct tool_output out;
	struct fl_sa_roster r;
	struct fl_sa_secret s;
	struct fl_sa_share sh;
	struct fl_record rec;
	struct fl_error err;
	struct fl_rng rng;
	unsigned char key[FL_RNG_KEYBYTES], pk[FL_SA_BYTES], sk[FL_SA_BYTES];
	unsigned char (*ms)[FL_SCALAR_BYTES], (*ss)[FL_SCALAR_BYTES];
	unsigned char (*box)[FL_SA_BOXBYTES];
	uint32_t me, *to;
	size_t m;

	tool_output_open(&out, o->output, 1);
	read_key(o->key, &s);
	read_roster(o->roster, &r);
	me = find_self(o, &r, &s);
	to = tool_malloc(((size_t)r.k + 1) * sizeof(*to));
	m = fl_sa_holders(&r.graph, me, to);
	ms = tool_malloc(m * FL_SCALAR_BYTES);
	ss = tool_malloc(m * FL_SCALAR_BYTES);
	box = tool_malloc(m * FL_SA_BOXBYTES);
	master_key(key, o->seed, "sa-share", s.id);
	fl_rng_init(&rng, key, r.round);
	sodium_memzero(key, sizeof(key));
	if (fl_shamir_split(s.mask_seed, r.t, to, m, ms, &rng, &err) < 0 ||
	    fl_shamir_split(s.self, r.t, to, m, ss, &rng, &err) < 0)
		tool_die("%s", err.msg);
	fl_rng_wipe(&rng);
	if (fl_sa_box_keypair(pk, sk, s.box_seed) != 0)
		tool_die("%s: key generation failed", o->key);
	for (size_t i = 0; i < m; i++) {
		memcpy(sh.mask, ms[i], FL_SCALAR_BYTES);
		memcpy(sh.self, ss[i], FL_SCALAR_BYTES);
		if (fl_sa_seal(box[i], &sh, r.session, me, to[i], sk,
		    r.pub[to[i] - 1].pk_box, &err) < 0)
			tool_die("%s: %s", o->roster, err.msg);
	}
	sodium_memzero(&sh, sizeof(sh));
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(ms, m * FL_SCALAR_BYTES);
	sodium_memzero(ss, m * FL_SCALAR_BYTES);
	sodium_memzero(&s, sizeof(s));
	fl_record_init(&rec);
	if (fl_sa_shares_to_record(&rec, &r, me, to,
	    (const unsigned char (*)[FL_SA_BOXBYTES])box, m, &err) < 0)
		tool_die("%s", err.msg);
	tool_output_record(&out, &rec, 0);
	tool_output_close(&out);
	fl_record_free(&rec);
	free(ms);
	free(ss);
	free(box);
	free(to);
	fl_sa_roster_free(&r);
}

/*
 * What the shares file tells this client: who shared (U2, ascending) and
 * the share each of them sent it, opened and checked.  The caller frees
 * *shared and *mine (mine[i] from shared[i]; zero where none was due).
 */
struct received {
	uint32_t *shared;
	size_t nshared;
	struct fl_sa_share *mine;
	unsigned char *has;
};

static void
read_shares(const struct opts *o, const struct fl_sa_roster *r,
    const struct fl_sa_secret *s, uint32_t me, struct received *rc)
{
	struct fl_record rec;
	struct fl_error err;
	struct fl_sa_shares sh;
	struct fl_sa_share *by = tool_malloc(r->n * sizeof(*by));
	unsigned char *seen = calloc(r->n, 1), *has = calloc(r->n, 1);
	unsigned char pk[FL_SA_BYTES], sk[FL_SA_BYTES];
	unsigned long recno = 0;
	FILE *fp;
	int n;

	if (seen == NULL || has == NULL)
		tool_die("out of memory");
	if (fl_sa_box_keypair(pk, sk, s->box_seed) != 0)
		tool_die("%s: key generation failed", o->key);
	if ((fp = fopen(o->shares, "rb")) == NULL)
		tool_die("%s: %s", o->shares, strerror(errno));
	fl_record_init(&rec);
	while ((n = fl_record_read(&rec, fp, NULL, &err)) != 0) {
		recno++;
		if (n < 0 || fl_sa_shares_from_record(&sh, &rec, r, &err) < 0)
			tool_die("%s: record %lu: %s", o->shares, recno,
			    err.msg);
		if (seen[sh.from - 1])
			tool_die("%s: record %lu: client '%s' shared twice",
			    o->shares, recno, r->pub[sh.from - 1].id);
		seen[sh.from - 1] = 1;
		for (size_t i = 0; i < sh.m; i++) {
			if (sh.to[i] != me)
				continue;
			if (sh.from != me && !fl_sa_adjacent(&r->graph, me,
			    sh.from))
				tool_die("%s: record %lu: client '%s' is not "
				    "a neighbour of this client", o->shares,
				    recno, r->pub[sh.from - 1].id);
			if (has[sh.from - 1])
				tool_die("%s: record %lu: two envelopes for "
				    "this client", o->shares, recno);
			if (fl_sa_open(&by[sh.from - 1], sh.box[i],
			    r->session, sh.from, me, sk,
			    r->pub[sh.from - 1].pk_box, &err) < 0)
				tool_die("%s: record %lu: %s", o->shares, recno,
				    err.msg);
			has[sh.from - 1] = 1;
		}
	}
	fclose(fp);
	fl_record_free(&rec);
	sodium_memzero(sk, sizeof(sk));
	if (!seen[me - 1])
		tool_die("%s: no shares from this client ('%s'): it is out of "
		    "the round", o->shares, s->id);
	rc->shared = tool_malloc(r->n * sizeof(*rc->shared));
	rc->nshared = 0;
	for (uint32_t c = 1; c <= r->n; c++) {
		if (!seen[c - 1])
			continue;
		if ((c == me || fl_sa_adjacent(&r->graph, me, c)) &&
		    !has[c - 1])
			tool_die("%s: client '%s' shared, but sent this client "
			    "no envelope", o->shares, r->pub[c - 1].id);
		rc->shared[rc->nshared++] = c;
	}
	rc->mine = by;
	rc->has = has;
	free(seen);
}

static void
free_received(struct received *rc, uint32_t n)
{
	sodium_memzero(rc->mine, n * sizeof(*rc->mine));
	free(rc->mine);
	free(rc->has);
	free(rc->shared);
}

/* ---- masking ---- */

static void
mask(const struct opts *o, int nfiles, char **files)
{
	struct tool_input in;
	struct tool_output out;
	struct fl_sa_roster r;
	struct fl_sa_secret s;
	struct fl_record rec, extra;
	struct fl_error err;
	struct received rc;
	char hash[2 * FL_SA_BYTES + 1], hex[2 * FL_SA_BYTES + 1];
	uint64_t rnd;
	uint32_t me, *h;
	size_t m, live = 0;
	int n;

	if (nfiles > 1)
		tool_usage_error("one update to mask");
	if (o->output == NULL)
		tool_output_open(&out, NULL, 1);
	read_key(o->key, &s);
	read_roster(o->roster, &r);
	me = find_self(o, &r, &s);
	read_shares(o, &r, &s, me, &rc);
	/* Enough of this client's holders must have shared for the server
	 * to rebuild its secrets; masking is pointless otherwise. */
	h = tool_malloc(((size_t)r.k + 1) * sizeof(*h));
	m = fl_sa_holders(&r.graph, me, h);
	for (size_t i = 0; i < m; i++)
		live += rc.has[h[i] - 1];
	if (live < r.t)
		tool_die("%s: %zu of this client's share holders shared, fewer "
		    "than the threshold %u: the round cannot finish",
		    o->shares, live, r.t);
	free(h);

	fl_record_init(&rec);
	fl_record_init(&extra);
	tool_input_init(&in, nfiles, files);
	if ((n = tool_input_next(&in, &rec)) <= 0) {
		if (n == 0)
			tool_die("%s: no update to mask", in.name);
		exit(1);
	}
	if ((n = tool_input_next(&in, &extra)) != 0) {
		if (n > 0)
			tool_die("%s: record %lu: one update per client and "
			    "round", in.name, in.recno);
		exit(1);
	}
	if (fl_meta_get(&rec, "mask") != NULL)
		tool_die("%s: already masked", in.name);
	if (tool_meta_u64(&rec, &in, "round", 0, UINT64_MAX, &rnd) &&
	    rnd != r.round)
		tool_die("%s: an update of round %llu, the keys are for round "
		    "%llu", in.name, (unsigned long long)rnd,
		    (unsigned long long)r.round);
	if (fl_sa_mask_record(&rec, &r, &s, rc.shared, rc.nshared, o->threads,
	    &err) < 0)
		tool_die("%s: %s", in.name, err.msg);
	fl_sa_set_hash(hash, "shared", r.session, rc.shared, rc.nshared);
	sodium_bin2hex(hex, sizeof(hex), r.session, FL_SA_BYTES);
	if (fl_meta_set(&rec, "mask", "secagg", &err) < 0 ||
	    fl_meta_set(&rec, "client", s.id, &err) < 0 ||
	    fl_meta_setf(&rec, &err, "round", "%llu",
	    (unsigned long long)r.round) < 0 ||
	    fl_meta_set(&rec, "secagg.session", hex, &err) < 0 ||
	    fl_meta_set(&rec, "secagg.shared", hash, &err) < 0)
		tool_die("%s", err.msg);
	sodium_memzero(&s, sizeof(s));
	if (o->output != NULL)
		tool_output_open(&out, o->output, 1);
	tool_output_record(&out, &rec, 0);
	tool_output_close(&out);
	fl_record_free(&rec);
	fl_record_free(&extra);
	tool_input_free(&in);
	free_received(&rc, r.n);
	fl_sa_roster_free(&r);
}

/* ---- the unmask request ---- */

/* The survivors named in the file: their ids in order into out, and a
 * flag per client (index id - 1) into seen, which the caller frees. */
static size_t
read_survivors(const struct opts *o, const struct fl_sa_roster *r,
    uint32_t *out, unsigned char **seen_out)
{
	unsigned char *seen = calloc(r->n, 1);
	char *line = NULL, q[FL_QUOTE];
	size_t cap = 0, m = 0;
	unsigned long lineno = 0;
	ssize_t len;
	FILE *fp;

	if (seen == NULL)
		tool_die("out of memory");
	if ((fp = fopen(o->survivors, "r")) == NULL)
		tool_die("%s: %s", o->survivors, strerror(errno));
	while ((len = getline(&line, &cap, fp)) >= 0) {
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
		if ((c = fl_sa_roster_find(r, p)) == 0)
			tool_die("%s: line %lu: unknown client '%s': not in "
			    "the roster", o->survivors, lineno,
			    fl_escape(q, sizeof(q), p, strlen(p)));
		if (seen[c - 1])
			tool_die("%s: line %lu: client '%s' listed twice",
			    o->survivors, lineno, p);
		seen[c - 1] = 1;
	}
	if (ferror(fp))
		tool_die("%s: %s", o->survivors, strerror(errno));
	fclose(fp);
	free(line);
	for (uint32_t c = 1; c <= r->n; c++)
		if (seen[c - 1])
			out[m++] = c;
	*seen_out = seen;
	return m;
}

static void
reveal(const struct opts *o)
{
	struct tool_output out;
	struct fl_sa_roster r;
	struct fl_sa_secret s;
	struct fl_sa_reveal v;
	struct fl_record rec;
	struct fl_error err;
	struct received rc;
	uint32_t me, *surv, *h, *self_of, *mask_of;
	unsigned char (*self_sh)[FL_SCALAR_BYTES], (*mask_sh)[FL_SCALAR_BYTES];
	unsigned char *is_surv, *shared;
	size_t nsurv, m;

	tool_output_open(&out, o->output, 1);
	read_key(o->key, &s);
	read_roster(o->roster, &r);
	me = find_self(o, &r, &s);
	read_shares(o, &r, &s, me, &rc);
	surv = tool_malloc(r.n * sizeof(*surv));
	nsurv = read_survivors(o, &r, surv, &is_surv);
	shared = tool_malloc(r.n);
	memset(shared, 0, r.n);
	for (size_t i = 0; i < rc.nshared; i++)
		shared[rc.shared[i] - 1] = 1;

	/* Bonawitz et al.'s client checks before anything is revealed. */
	for (size_t i = 0; i < nsurv; i++)
		if (!shared[surv[i] - 1])
			tool_die("%s: client '%s' is listed as a survivor but "
			    "never shared", o->survivors, r.pub[surv[i] - 1].id);
	if (!is_surv[me - 1])
		tool_die("%s: this client ('%s') is listed as dropped: "
		    "refusing to answer", o->survivors, s.id);
	if (nsurv < r.t)
		tool_die("%s: %zu survivors, fewer than the threshold %u: the "
		    "round is aborted", o->survivors, nsurv, r.t);

	memset(&v, 0, sizeof(v));
	v.from = me;
	fl_sa_set_hash(v.survivors, "survivors", r.session, surv, nsurv);
	/* One answer per round.  Two different survivor lists could get
	 * the self-mask share and the mask-key share of the same client,
	 * which unmasks its update: the answer is recorded in the key file
	 * before it leaves. */
	if (s.revealed[0] && strcmp(s.revealed, v.survivors) != 0)
		tool_die("%s: this client already answered an unmask request "
		    "for another set of survivors: refusing a second (it "
		    "would expose a client's update)", o->survivors);
	if (!s.revealed[0]) {
		memcpy(s.revealed, v.survivors, sizeof(s.revealed));
		write_key(o->key, &s);
	}

	h = tool_malloc(((size_t)r.k + 1) * sizeof(*h));
	m = fl_sa_holders(&r.graph, me, h);
	self_of = tool_malloc(m * sizeof(*self_of));
	mask_of = tool_malloc(m * sizeof(*mask_of));
	self_sh = tool_malloc(m * FL_SCALAR_BYTES);
	mask_sh = tool_malloc(m * FL_SCALAR_BYTES);
	for (size_t i = 0; i < m; i++) {
		uint32_t c = h[i];

		if (!rc.has[c - 1])
			continue;       /* never shared: out of the round */
		if (is_surv[c - 1]) {
			self_of[v.nself] = c;
			memcpy(self_sh[v.nself++], rc.mine[c - 1].self,
			    FL_SCALAR_BYTES);
		} else {
			mask_of[v.nmask] = c;
			memcpy(mask_sh[v.nmask++], rc.mine[c - 1].mask,
			    FL_SCALAR_BYTES);
		}
	}
	v.self_of = self_of;
	v.mask_of = mask_of;
	v.self_share = (const unsigned char (*)[FL_SCALAR_BYTES])self_sh;
	v.mask_share = (const unsigned char (*)[FL_SCALAR_BYTES])mask_sh;
	fl_record_init(&rec);
	if (fl_sa_reveal_to_record(&rec, &r, &v, &err) < 0)
		tool_die("%s", err.msg);
	tool_output_record(&out, &rec, 0);
	tool_output_close(&out);
	sodium_memzero(self_sh, m * FL_SCALAR_BYTES);
	sodium_memzero(mask_sh, m * FL_SCALAR_BYTES);
	sodium_memzero(&s, sizeof(s));
	fl_record_free(&rec);
	free(self_of);
	free(mask_of);
	free(self_sh);
	free(mask_sh);
	free(h);
	free(surv);
	free(is_surv);
	free(shared);
	free_received(&rc, r.n);
	fl_sa_roster_free(&r);
}

/* ---- options ---- */

static void
set_mode(struct opts *o, enum mode m)
{
	if (o->set_mode && o->mode != m)
		tool_usage_error("--keygen, --make-roster, --share and --reveal "
		    "exclude each other");
	o->mode = m;
	o->set_mode = 1;
}

int
main(int argc, char **argv)
{
	enum { OPT_CLIENT = 256, OPT_CORRUPT, OPT_DEGREE, OPT_DROPOUT,
		OPT_KEYGEN, OPT_ROSTER, OPT_REVEAL, OPT_ROUND, OPT_SEED,
		OPT_SHARE, OPT_THRESHOLD };
	static const struct option longopts[] = {
		{ "client", required_argument, NULL, OPT_CLIENT },
		{ "corrupt", required_argument, NULL, OPT_CORRUPT },
		{ "degree", required_argument, NULL, OPT_DEGREE },
		{ "dropout", required_argument, NULL, OPT_DROPOUT },
		{ "help", no_argument, NULL, 'h' },
		{ "key", required_argument, NULL, 'k' },
		{ "keygen", no_argument, NULL, OPT_KEYGEN },
		{ "make-roster", no_argument, NULL, OPT_ROSTER },
		{ "output", required_argument, NULL, 'o' },
		{ "reveal", required_argument, NULL, OPT_REVEAL },
		{ "roster", required_argument, NULL, 'r' },
		{ "round", required_argument, NULL, OPT_ROUND },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "share", no_argument, NULL, OPT_SHARE },
		{ "shares", required_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 'j' },
		{ "threshold", required_argument, NULL, OPT_THRESHOLD },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct opts o;
	int c, set_graph = 0;

	memset(&o, 0, sizeof(o));
	o.corrupt = 0.05;
	o.dropout = 0.1;
	o.threads = 1;
	tool_init(usage);
	while ((c = getopt_long(argc, argv, "hj:k:o:r:s:V", longopts,
	    NULL)) != -1) {
		switch (c) {
		case OPT_CLIENT:
			o.client = optarg;
			break;
		case OPT_CORRUPT:
			o.corrupt = tool_opt_double("--corrupt", optarg, 0, 1);
			if (!(o.corrupt < 1))
				tool_die("invalid --corrupt '%s': must be "
				    "below 1", optarg);
			set_graph = 1;
			break;
		case OPT_DEGREE:
			o.degree = tool_opt_u64("--degree", optarg, 1,
			    UINT32_MAX / 2);
			set_graph = 1;
			break;
		case OPT_DROPOUT:
			o.dropout = tool_opt_double("--dropout", optarg, 0, 1);
			if (!(o.dropout < 1))
				tool_die("invalid --dropout '%s': must be "
				    "below 1", optarg);
			set_graph = 1;
			break;
		case 'h':
			tool_help(options);
		case 'j':
			o.threads = (int)tool_opt_u64("--threads", optarg, 1,
			    256);
			break;
		case 'k':
			o.key = optarg;
			break;
		case OPT_KEYGEN:
			set_mode(&o, KEYGEN);
			break;
		case OPT_ROSTER:
			set_mode(&o, ROSTER);
			break;
		case 'o':
			o.output = optarg;
			break;
		case 'r':
			o.roster = optarg;
			break;
		case OPT_REVEAL:
			set_mode(&o, REVEAL);
			o.survivors = optarg;
			break;
		case OPT_ROUND:
			o.round = tool_opt_u64("--round", optarg, 0,
			    UINT64_MAX);
			o.set_round = 1;
			break;
		case 's':
			o.shares = optarg;
			break;
		case OPT_SEED:
			o.seed = optarg;
			break;
		case OPT_SHARE:
			set_mode(&o, SHARE);
			break;
		case OPT_THRESHOLD:
			o.threshold = tool_opt_u64("--threshold", optarg, 2,
			    UINT32_MAX);
			set_graph = 1;
			break;
		case 'V':
			tool_version();
		default:
			tool_usage_error(NULL);
		}
	}
	argc -= optind;
	argv += optind;

	/* Each step takes exactly what it needs. */
	if (o.mode != KEYGEN && (o.client != NULL || o.set_round))
		tool_usage_error("--client and --round go with --keygen");
	if (o.mode != ROSTER && set_graph)
		tool_usage_error("--corrupt, --dropout, --degree and "
		    "--threshold go with --make-roster");
	if (o.mode == ROSTER && (o.key != NULL || o.roster != NULL ||
	    o.shares != NULL || o.seed != NULL))
		tool_usage_error("--make-roster reads public keys only");
	if (o.mode != ROSTER && o.key == NULL)
		tool_usage_error("-k keyfile is required");
	if ((o.mode == SHARE || o.mode == MASK || o.mode == REVEAL) &&
	    o.roster == NULL)
		tool_usage_error("-r roster is required");
	if ((o.mode == MASK || o.mode == REVEAL) && o.shares == NULL)
		tool_usage_error("-s shares is required");
	if (o.mode == SHARE && o.shares != NULL)
		tool_usage_error("--share makes the shares: no -s");
	if (o.seed != NULL && o.mode != KEYGEN && o.mode != SHARE)
		tool_usage_error("--seed goes with --keygen and --share");
	if (o.threads > 1 && o.mode != MASK)
		tool_usage_error("-j goes with masking");
	if (o.mode != MASK && o.mode != ROSTER && argc > 0)
		tool_usage_error("no file operands here");

	if (sodium_init() < 0)
		tool_die("libsodium failed to start");
	switch (o.mode) {
	case KEYGEN:
		if (o.client == NULL || !o.set_round)
			tool_usage_error("--keygen needs --client and --round");
		keygen(&o);
		break;
	case ROSTER:
		make_roster(&o, argc, argv);
		break;
	case SHARE:
		share(&o);
		break;
	case MASK:
		mask(&o, argc, argv);
		break;
	case REVEAL:
		reveal(&o);
		break;
	}
	return 0;
}
