/* SPDX-License-Identifier: ISC */
/*
 * fl-mask - secure aggregation, the client's side (and the roster, which
 * the server makes): a device's identity and the operator's enrolment,
 * per-round keys signed by the identity, Shamir shares of the two secrets
 * in authenticated envelopes, the masked update, the signed confirmation
 * of the survivors and the one answer to the server's unmask request.
 * Every message is a file; moving the files between devices and server is
 * the user's business.  The checks are in the library (saclient.c): this
 * file opens, locks and writes files.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "tool.h"

static const char usage[] =
    "fl-mask --make-identity --client=id -i identity [--operator=file]\n"
    "           [--seed=text] [-o file]\n"
    "       fl-mask --make-enrolment -i operator-identity [-o file] [file ...]\n"
    "       fl-mask --keygen --round=n -k keyfile -i identity [--seed=text]\n"
    "           [-o file]\n"
    "       fl-mask --make-roster -e enrolment [--corrupt=f] [--dropout=f]\n"
    "           [--degree=k] [--threshold=t] [-o file] [file ...]\n"
    "       fl-mask --share -k keyfile -r roster -e enrolment [--min-clients=n]\n"
    "           [--corrupt=f] [--dropout=f] [--degree=k] [--threshold=t]\n"
    "           [-o file]\n"
    "       fl-mask -k keyfile -r roster -s shares [-j n] [-o file] [file]\n"
    "       fl-mask --confirm=survivors -k keyfile -i identity -r roster\n"
    "           -s shares [-o file]\n"
    "       fl-mask --reveal=survivors -k keyfile -r roster -s shares\n"
    "           --confirmations=file [-o file]\n"
    "       fl-mask --forget -k keyfile";

static const char options[] =
    "Secure aggregation (SecAgg / SecAgg+) against a lying server, one step\n"
    "of a round per call.\n"
    "\n"
    "      --client=ID           --make-identity: the device's id\n"
    "                            ([A-Za-z0-9._-])\n"
    "      --confirm=FILE        the consistency round: sign the survivor list\n"
    "                            FILE (one id per line); once per round\n"
    "      --confirmations=FILE  --reveal: the survivors' signed confirmations,\n"
    "                            as the server collected them\n"
    "      --corrupt=F           --make-roster, --share: fraction of clients\n"
    "                            that may collude with the server (0.05)\n"
    "      --degree=K            --make-roster, --share: neighbours per client\n"
    "                            (even; n-1 for the full graph) instead of the\n"
    "                            rule\n"
    "      --dropout=F           --make-roster, --share: fraction of clients\n"
    "                            that may drop (0.1)\n"
    "  -e, --enrolment=FILE      the operator's signed list of enrolled devices\n"
    "      --forget              overwrite and remove the key file (the round\n"
    "                            is over)\n"
    "  -h, --help                print this help and exit\n"
    "  -i, --identity=FILE       the device's long-term identity (0600)\n"
    "  -j, --threads=N           mask with N threads (same output for any N)\n"
    "  -k, --key=FILE            this client's key file of the round (0600)\n"
    "      --keygen              make this round's key file and print the public\n"
    "                            keys, signed by the identity\n"
    "      --make-enrolment      operator: sign the list of the identities given\n"
    "      --make-identity       make a device's identity (once) and print its\n"
    "                            public key\n"
    "      --make-roster         server: check the signed public keys and write\n"
    "                            the roster, which fixes the session and graph\n"
    "      --min-clients=N       --share: refuse a roster of fewer than N clients\n"
    "                            (10)\n"
    "  -o, --output=FILE         write to FILE atomically instead of stdout\n"
    "      --operator=FILE       --make-identity: the operator's public identity,\n"
    "                            the only enrolment key this device will trust\n"
    "  -r, --roster=FILE         the round's roster\n"
    "      --reveal=FILE         answer the unmask request for the survivor list\n"
    "                            FILE, which this client confirmed\n"
    "      --round=N             --keygen: the round the keys are for\n"
    "  -s, --shares=FILE         every client's share envelopes, as the server\n"
    "                            collected them\n"
    "      --seed=TEXT           derive the identity or keys from TEXT:\n"
    "                            reproducible and NOT PRIVATE (tests and\n"
    "                            simulations only)\n"
    "      --share               check the roster and make this client's share\n"
    "                            envelopes; binds the key file to the roster\n"
    "      --threshold=T         --make-roster, --share: shares needed to\n"
    "                            rebuild a secret instead of the rule\n"
    "  -V, --version             print the version and exit\n";

enum mode { MASK, IDENTITY, ENROLMENT, KEYGEN, ROSTER, SHARE, CONFIRM,
	REVEAL, FORGET };

struct opts {
	enum mode mode;
	int set_mode;
	const char *client, *key, *roster, *shares, *survivors, *seed;
	const char *identity, *enrolment, *operator, *confirmations;
	const char *output;
	uint64_t round;
	int set_round, set_graph, set_min;
	struct fl_sa_policy pol;
	int threads;
};

/* ---- files ---- */

static FILE *
open_file(const char *path)
{
	FILE *fp = fopen(path, "rb");

	if (fp == NULL)
		tool_die("%s: %s", path, strerror(errno));
	return fp;
}

/* The one record of a secret file; the caller wipes it. */
static void
load_secret(const char *path, int lock, int *fd, struct fl_record *rec)
{
	struct fl_error err;

	if (fl_secret_open(path, lock, fd, &err) < 0)
		tool_die("%s: %s", path, err.msg);
	fl_record_init(rec);
	if (fl_secret_load(*fd, rec, &err) < 0)
		tool_die("%s: %s", path, err.msg);
}

/* The key file, locked when the step records what it did. */
static int
open_key(const char *path, int lock, struct fl_sa_secret *s)
{
	struct fl_record rec;
	struct fl_error err;
	int fd, rc;

	load_secret(path, lock, &fd, &rec);
	rc = fl_sa_secret_from_record(s, &rec, &err);
	fl_record_wipe(&rec);
	if (rc < 0)
		tool_die("%s: %s", path, err.msg);
	return fd;
}

static void
store_key(const char *path, const struct fl_sa_secret *s, int excl)
{
	struct fl_record rec;
	struct fl_error err;
	int rc;

	fl_record_init(&rec);
	rc = fl_sa_secret_to_record(s, &rec, &err);
	if (rc == 0)
		rc = fl_secret_store(path, &rec, excl, &err);
	fl_record_wipe(&rec);
	if (rc < 0)
		tool_die("%s: %s", path, err.msg);
}

static void
read_identity(const char *path, struct fl_sa_identity *ident)
{
	struct fl_record rec;
	struct fl_error err;
	int fd, rc;

	load_secret(path, 0, &fd, &rec);
	fl_secret_close(fd);
	rc = fl_sa_identity_from_record(ident, &rec, &err);
	fl_record_wipe(&rec);
	if (rc < 0)
		tool_die("%s: %s", path, err.msg);
}

static void
read_roster(const char *path, struct fl_sa_roster *r)
{
	struct fl_error err;
	FILE *fp = open_file(path);

	if (fl_sa_roster_read(r, fp, &err) < 0)
		tool_die("%s: %s", path, err.msg);
	fclose(fp);
}

/* The enrolment of path (one record, kept in rec), signed by pin (NULL:
 * by the key it names). */
static void
read_enrolment(const char *path, const unsigned char *pin,
    struct fl_sa_enrolment *e, struct fl_record *rec)
{
	struct fl_error err;
	FILE *fp = open_file(path);
	int rc;

	fl_record_init(rec);
	if ((rc = fl_record_read(rec, fp, NULL, &err)) <= 0) {
		if (rc == 0)
			tool_die("%s: empty: not an enrolment", path);
		tool_die("%s: %s", path, err.msg);
	}
	if (fl_sa_enrolment_read(e, rec, pin, &err) < 0)
		tool_die("%s: %s", path, err.msg);
	fclose(fp);
}

/* The shares file; with open, this client's envelopes opened (masking
 * checks them, and the reveal needs what they hold; confirming needs only
 * who shared). */
static void
read_received(const struct opts *o, const struct fl_sa_roster *r,
    const struct fl_sa_secret *s, uint32_t me, int open,
    struct fl_sa_received *rc)
{
	struct fl_error err;
	FILE *fp = open_file(o->shares);

	if (fl_sa_received_read(rc, fp, r, s, me, open, &err) < 0)
		tool_die("%s: %s", o->shares, err.msg);
	fclose(fp);
}

static size_t
read_survivors(const struct opts *o, const struct fl_sa_roster *r,
    uint32_t **surv)
{
	struct fl_error err;
	FILE *fp = fopen(o->survivors, "r");
	size_t m;

	if (fp == NULL)
		tool_die("%s: %s", o->survivors, strerror(errno));
	if (fl_sa_survivors_read(fp, r, surv, &m, &err) < 0)
		tool_die("%s: %s", o->survivors, err.msg);
	fclose(fp);
	return m;
}

/* This client in the roster, the key file of its session. */
static uint32_t
find_self(const struct opts *o, const struct fl_sa_roster *r,
    const struct fl_sa_secret *s, int bound)
{
	struct fl_error err;
	uint32_t me;

	if (fl_sa_client_find(r, s, bound, &me, &err) < 0)
		tool_die("%s: %s", o->roster, err.msg);
	return me;
}

/* A seed from --seed (not private) or the operating system. */
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

/* Every record of the file operands (or the standard input), parsed by
 * parse into the next item of an array of size-byte items; a bad record
 * is fatal, named by file and record.  The caller frees the array. */
static void *
read_items(int nfiles, char **files, size_t size,
    int (*parse)(void *, const struct fl_record *, struct fl_error *),
    size_t *n)
{
	struct tool_input in;
	struct fl_record rec;
	struct fl_error err;
	char *v = NULL;
	size_t cap = 0;
	int rc;

	*n = 0;
	fl_record_init(&rec);
	tool_input_init(&in, nfiles, files);
	while ((rc = tool_input_next(&in, &rec)) != 0) {
		if (rc < 0)
			exit(1);
		if (*n == cap) {
			cap = cap ? 2 * cap : 64;
			if ((v = realloc(v, cap * size)) == NULL)
				tool_die("out of memory");
		}
		if (parse(v + *n * size, &rec, &err) < 0)
			tool_die("%s: record %lu: %s", in.name, in.recno,
			    err.msg);
		(*n)++;
	}
	tool_input_free(&in);
	fl_record_free(&rec);
	return v;
}

static int
parse_member(void *item, const struct fl_record *rec, struct fl_error *err)
{
	struct fl_sa_member *m = item;

	return fl_sa_identity_public_from_record(m->id, m->pk, rec, err);
}

static int
parse_public(void *item, const struct fl_record *rec, struct fl_error *err)
{
	return fl_sa_public_from_record(item, rec, err);
}

/* Write the public record, then the secret file that must not exist
 * yet, then commit the output: a failure leaves no secret file that
 * would block a rerun, and an existing one is never overwritten. */
static void
publish_and_store(const struct opts *o, struct fl_record *pub,
    const char *path, const struct fl_record *secret)
{
	struct tool_output out;
	struct fl_error err;

	tool_output_open(&out, o->output, 1);
	tool_output_record(&out, pub, 0);
	if (!out.is_file && fflush(out.fp) != 0)
		tool_die("%s: %s", out.name, strerror(errno));
	if (fl_secret_store(path, secret, 1, &err) < 0) {
		if (err.code == FL_EINVAL)
			tool_die("%s: exists: made once (remove it to start "
			    "over)", path);
		tool_die("%s: %s", path, err.msg);
	}
	tool_output_close(&out);
}

/* ---- identities and the enrolment ---- */

static void
make_identity(const struct opts *o)
{
	struct fl_sa_identity ident;
	struct fl_record pub, sec, oprec;
	struct fl_error err;
	unsigned char key[FL_RNG_KEYBYTES], op[FL_SA_BYTES];
	char opid[FL_SA_MAXID + 1];

	if (fl_sa_check_id(o->client, &err) < 0)
		tool_die("invalid --client: %s", err.msg);
	if (access(o->identity, F_OK) == 0)
		tool_die("%s: exists: a device's identity is made once",
		    o->identity);
	if (o->operator != NULL) {
		FILE *fp = open_file(o->operator);
		int rc;

		fl_record_init(&oprec);
		rc = fl_record_read(&oprec, fp, NULL, &err);
		if (rc == 0)
			tool_die("%s: empty: not an identity", o->operator);
		if (rc < 0 || fl_sa_identity_public_from_record(opid, op,
		    &oprec, &err) < 0)
			tool_die("%s: %s", o->operator, err.msg);
		fclose(fp);
		fl_record_free(&oprec);
	}
	master_key(key, o->seed, "sa-identity", o->client);
	if (fl_sa_identity_make(&ident, o->client, key,
	    o->operator != NULL ? op : NULL, &err) < 0)
		tool_die("%s", err.msg);
	sodium_memzero(key, sizeof(key));
	fl_record_init(&pub);
	fl_record_init(&sec);
	if (fl_sa_identity_public_to_record(&ident, &pub, &err) < 0 ||
	    fl_sa_identity_to_record(&ident, &sec, &err) < 0)
		tool_die("%s", err.msg);
	sodium_memzero(&ident, sizeof(ident));
	publish_and_store(o, &pub, o->identity, &sec);
	fl_record_wipe(&sec);
	fl_record_free(&pub);
}

static void
make_enrolment(const struct opts *o, int nfiles, char **files)
{
	struct fl_sa_identity op;
	struct fl_sa_member *m;
	struct tool_output out;
	struct fl_record rec;
	struct fl_error err;
	size_t n;

	read_identity(o->identity, &op);
	tool_output_open(&out, o->output, 1);
	m = read_items(nfiles, files, sizeof(*m), parse_member, &n);
	fl_record_init(&rec);
	if (fl_sa_enrolment_make(&rec, m, n, &op, &err) < 0)
		tool_die("%s", err.msg);
	sodium_memzero(&op, sizeof(op));
	tool_output_record(&out, &rec, 0);
	tool_output_close(&out);
	fl_record_free(&rec);
	free(m);
}

/* ---- keys and the roster ---- */

static void
keygen(const struct opts *o)
{
	struct fl_sa_identity ident;
	struct fl_sa_secret s;
	struct fl_sa_public p;
	struct fl_record pub, sec;
	struct fl_error err;
	struct fl_rng rng;
	unsigned char key[FL_RNG_KEYBYTES];

	/* A round's keys are made once: a second key file would orphan the
	 * public keys already sent. */
	if (access(o->key, F_OK) == 0)
		tool_die("%s: exists: a round's keys are made once (remove it "
		    "to start the round over)", o->key);
	read_identity(o->identity, &ident);
	master_key(key, o->seed, "sa-keys", ident.id);
	fl_rng_init(&rng, key, 0);
	sodium_memzero(key, sizeof(key));
	if (fl_sa_secret_new(&s, &ident, o->round, &rng, &err) < 0)
		tool_die("%s: %s", o->identity, err.msg);
	fl_rng_wipe(&rng);
	if (fl_sa_public_of(&s, &ident, &p, &err) < 0)
		tool_die("%s", err.msg);
	sodium_memzero(&ident, sizeof(ident));
	fl_record_init(&pub);
	fl_record_init(&sec);
	if (fl_sa_public_to_record(&p, &pub, &err) < 0 ||
	    fl_sa_secret_to_record(&s, &sec, &err) < 0)
		tool_die("%s", err.msg);
	sodium_memzero(&s, sizeof(s));
	publish_and_store(o, &pub, o->key, &sec);
	fl_record_wipe(&sec);
	fl_record_free(&pub);
}

static void
make_roster(const struct opts *o, int nfiles, char **files)
{
	struct tool_output out;
	struct fl_sa_roster r;
	struct fl_sa_enrolment e;
	struct fl_secagg_params prm;
	struct fl_sa_public *pub;
	struct fl_record erec;
	struct fl_error err;
	size_t n;

	tool_output_open(&out, o->output, 1);
	read_enrolment(o->enrolment, NULL, &e, &erec);
	pub = read_items(nfiles, files, sizeof(*pub), parse_public, &n);
	if (n < 3)
		tool_die("%zu public keys: secure aggregation needs at least 3 "
		    "clients", n);
	if (n > (1u << 24))
		tool_die("%zu public keys: too many", n);
	if (fl_sa_policy_params((uint32_t)n, &o->pol, &prm, &err) < 0)
		tool_die("%s", err.msg);
	if (fl_sa_roster_init(&r, pub, n, prm.k, prm.t, prm.corrupt,
	    &err) < 0)
		tool_die("%s", err.msg);
	/* The server checks what every client will: nobody unknown, every
	 * key signed by its device. */
	if (fl_sa_roster_enrolled(&r, &e, 0, &err) < 0)
		tool_die("%s: %s", o->enrolment, err.msg);
	if (fl_sa_roster_write(out.fp, &r, &err) < 0)
		tool_die("%s: %s", out.name, err.msg);
	tool_output_close(&out);
	fl_sa_roster_free(&r);
	fl_record_free(&erec);
}

/* ---- the client's steps ---- */

static void
share(const struct opts *o)
{
	struct tool_output out;
	struct fl_sa_roster r;
	struct fl_sa_secret s;
	struct fl_sa_enrolment e;
	struct fl_record rec, erec;
	struct fl_error err;
	char before[FL_SA_HEX];
	uint32_t me;
	int fd;

	tool_output_open(&out, o->output, 1);
	fd = open_key(o->key, 1, &s);
	read_roster(o->roster, &r);
	me = find_self(o, &r, &s, 0);
	read_enrolment(o->enrolment, s.operator_pk, &e, &erec);
	if (fl_sa_client_accept(&r, me, &e, &o->pol, &err) < 0)
		tool_die("%s: %s", o->roster, err.msg);
	memcpy(before, s.session, sizeof(before));
	fl_record_init(&rec);
	if (fl_sa_client_share(&rec, &r, me, &s, &err) < 0)
		tool_die("%s: %s", o->roster, err.msg);
	/* Bound before the envelopes leave: from now on no other roster. */
	if (strcmp(before, s.session) != 0)
		store_key(o->key, &s, 0);
	sodium_memzero(&s, sizeof(s));
	fl_secret_close(fd);
	tool_output_record(&out, &rec, 0);
	tool_output_close(&out);
	fl_record_free(&rec);
	fl_record_free(&erec);
	fl_sa_roster_free(&r);
}

static void
mask(const struct opts *o, int nfiles, char **files)
{
	struct tool_input in;
	struct tool_output out;
	struct fl_sa_roster r;
	struct fl_sa_secret s;
	struct fl_record rec, extra;
	struct fl_error err;
	struct fl_sa_received rc;
	char before[FL_SA_HEX];
	uint32_t me;
	int n, fd;

	if (nfiles > 1)
		tool_usage_error("one update to mask");
	if (o->output == NULL)
		tool_output_open(&out, NULL, 1);
	fd = open_key(o->key, 1, &s);
	read_roster(o->roster, &r);
	me = find_self(o, &r, &s, 1);
	read_received(o, &r, &s, me, 1, &rc);

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
	memcpy(before, s.masked, sizeof(before));
	if (fl_sa_client_mask(&rec, &r, &s, &rc, o->threads, &err) < 0)
		tool_die("%s: %s", in.name, err.msg);
	if (strcmp(before, s.masked) != 0)
		store_key(o->key, &s, 0);
	sodium_memzero(&s, sizeof(s));
	fl_secret_close(fd);
	if (o->output != NULL)
		tool_output_open(&out, o->output, 1);
	tool_output_record(&out, &rec, 0);
	tool_output_close(&out);
	fl_record_free(&rec);
	fl_record_free(&extra);
	tool_input_free(&in);
	fl_sa_received_free(&rc, r.n);
	fl_sa_roster_free(&r);
}

static void
confirm(const struct opts *o)
{
	struct tool_output out;
	struct fl_sa_roster r;
	struct fl_sa_secret s;
	struct fl_sa_identity ident;
	struct fl_sa_received rc;
	struct fl_record rec;
	struct fl_error err;
	char before[FL_SA_HEX];
	uint32_t me, *surv;
	size_t m;
	int fd;

	tool_output_open(&out, o->output, 1);
	fd = open_key(o->key, 1, &s);
	read_identity(o->identity, &ident);
	read_roster(o->roster, &r);
	me = find_self(o, &r, &s, 1);
	read_received(o, &r, &s, me, 0, &rc);
	m = read_survivors(o, &r, &surv);
	memcpy(before, s.confirmed, sizeof(before));
	fl_record_init(&rec);
	if (fl_sa_client_confirm(&rec, &r, me, &s, &ident, &rc, surv, m,
	    &err) < 0)
		tool_die("%s: %s", err.code == FL_EINVAL ? o->key :
		    o->survivors, err.msg);
	sodium_memzero(&ident, sizeof(ident));
	if (strcmp(before, s.confirmed) != 0)
		store_key(o->key, &s, 0);
	sodium_memzero(&s, sizeof(s));
	fl_secret_close(fd);
	tool_output_record(&out, &rec, 0);
	tool_output_close(&out);
	fl_record_free(&rec);
	free(surv);
	fl_sa_received_free(&rc, r.n);
	fl_sa_roster_free(&r);
}

static void
reveal(const struct opts *o)
{
	struct tool_output out;
	struct fl_sa_roster r;
	struct fl_sa_secret s;
	struct fl_sa_received rc;
	struct fl_record rec;
	struct fl_error err;
	uint32_t me, *surv;
	size_t m;
	FILE *fp;
	int fd;

	tool_output_open(&out, o->output, 1);
	fd = open_key(o->key, 0, &s);
	fl_secret_close(fd);
	read_roster(o->roster, &r);
	me = find_self(o, &r, &s, 1);
	read_received(o, &r, &s, me, 1, &rc);
	m = read_survivors(o, &r, &surv);
	fp = open_file(o->confirmations);
	fl_record_init(&rec);
	/* Only the confirmations are read as records: a message about a
	 * record is about them, any other about the survivor list. */
	if (fl_sa_client_reveal(&rec, &r, me, &s, &rc, surv, m, fp, &err) < 0)
		tool_die("%s: %s", strncmp(err.msg, "record ", 7) == 0 ?
		    o->confirmations : o->survivors, err.msg);
	fclose(fp);
	sodium_memzero(&s, sizeof(s));
	tool_output_record(&out, &rec, 0);
	tool_output_close(&out);
	fl_record_wipe(&rec);
	free(surv);
	fl_sa_received_free(&rc, r.n);
	fl_sa_roster_free(&r);
}

static void
forget(const struct opts *o)
{
	struct fl_sa_secret s;
	struct fl_record rec;
	struct fl_error err;
	int fd, rc;

	if (fl_secret_open(o->key, 1, &fd, &err) < 0)
		tool_die("%s: %s", o->key, err.msg);
	fl_record_init(&rec);
	/* Only a key file is forgotten, or what a forget cut short left of
	 * one: zeros, not yet removed. */
	rc = fl_secret_load(fd, &rec, &err);
	if (rc == 0)
		rc = fl_sa_secret_from_record(&s, &rec, &err);
	fl_record_wipe(&rec);
	sodium_memzero(&s, sizeof(s));
	if (rc < 0 && !fl_secret_zeroed(fd))
		tool_die("%s: %s", o->key, err.msg);
	if (fl_secret_forget(o->key, &err) < 0)
		tool_die("%s: %s", o->key, err.msg);
	fl_secret_close(fd);
}

/* ---- options ---- */

static void
set_mode(struct opts *o, enum mode m)
{
	if (o->set_mode && o->mode != m)
		tool_usage_error("one step per call: --make-identity, "
		    "--make-enrolment, --keygen, --make-roster, --share, "
		    "--confirm, --reveal and --forget exclude each other");
	o->mode = m;
	o->set_mode = 1;
}

/* Each step takes exactly the files and options it needs. */
static void
check_usage(const struct opts *o, int argc)
{
	static const struct {
		enum mode mode;
		const char *name;
		const char *need;       /* k key, r roster, s shares, i identity,
					 * e enrolment, c confirmations */
		const char *may;        /* and o, j, g (graph), m (min), d (seed),
					 * p (operator), f (file operands) */
	} rules[] = {
		{ IDENTITY, "--make-identity", "i", "odp" },
		{ ENROLMENT, "--make-enrolment", "i", "of" },
		{ KEYGEN, "--keygen", "ki", "od" },
		{ ROSTER, "--make-roster", "e", "ogf" },
		{ SHARE, "--share", "kre", "ogm" },
		{ MASK, "masking", "krs", "ojf" },
		{ CONFIRM, "--confirm", "kirs", "o" },
		{ REVEAL, "--reveal", "krsc", "o" },
		{ FORGET, "--forget", "k", "" },
	};
	const struct {
		char c;
		int set;
		const char *opt;
	} have[] = {
		{ 'k', o->key != NULL, "-k keyfile" },
		{ 'r', o->roster != NULL, "-r roster" },
		{ 's', o->shares != NULL, "-s shares" },
		{ 'i', o->identity != NULL, "-i identity" },
		{ 'e', o->enrolment != NULL, "-e enrolment" },
		{ 'c', o->confirmations != NULL, "--confirmations" },
		{ 'o', o->output != NULL, "-o" },
		{ 'j', o->threads > 1, "-j" },
		{ 'g', o->set_graph, "--corrupt, --dropout, --degree and "
		    "--threshold" },
		{ 'm', o->set_min, "--min-clients" },
		{ 'd', o->seed != NULL, "--seed" },
		{ 'p', o->operator != NULL, "--operator" },
		{ 'f', argc > 0, "file operands" },
	};
	size_t i;

	for (i = 0; rules[i].mode != o->mode; i++)
		;
	for (size_t j = 0; j < sizeof(have) / sizeof(have[0]); j++) {
		int needed = strchr(rules[i].need, have[j].c) != NULL;
		int allowed = needed || strchr(rules[i].may, have[j].c) != NULL;

		if (needed && !have[j].set)
			tool_usage_error("%s needs %s", rules[i].name,
			    have[j].opt);
		if (have[j].set && !allowed)
			tool_usage_error("%s takes no %s", rules[i].name,
			    have[j].opt);
	}
	if ((o->mode == IDENTITY) != (o->client != NULL))
		tool_usage_error("--client goes with --make-identity, which "
		    "needs it");
	if ((o->mode == KEYGEN) != o->set_round)
		tool_usage_error("--round goes with --keygen, which needs it");
}

int
main(int argc, char **argv)
{
	enum { OPT_CLIENT = 256, OPT_CONFIRM, OPT_CONFIRMATIONS, OPT_CORRUPT,
		OPT_DEGREE, OPT_DROPOUT, OPT_FORGET, OPT_KEYGEN, OPT_ENROL,
		OPT_IDENTITY, OPT_ROSTER, OPT_MIN, OPT_OPERATOR, OPT_REVEAL,
		OPT_ROUND, OPT_SEED, OPT_SHARE, OPT_THRESHOLD };
	static const struct option longopts[] = {
		{ "client", required_argument, NULL, OPT_CLIENT },
		{ "confirm", required_argument, NULL, OPT_CONFIRM },
		{ "confirmations", required_argument, NULL, OPT_CONFIRMATIONS },
		{ "corrupt", required_argument, NULL, OPT_CORRUPT },
		{ "degree", required_argument, NULL, OPT_DEGREE },
		{ "dropout", required_argument, NULL, OPT_DROPOUT },
		{ "enrolment", required_argument, NULL, 'e' },
		{ "forget", no_argument, NULL, OPT_FORGET },
		{ "help", no_argument, NULL, 'h' },
		{ "identity", required_argument, NULL, 'i' },
		{ "key", required_argument, NULL, 'k' },
		{ "keygen", no_argument, NULL, OPT_KEYGEN },
		{ "make-enrolment", no_argument, NULL, OPT_ENROL },
		{ "make-identity", no_argument, NULL, OPT_IDENTITY },
		{ "make-roster", no_argument, NULL, OPT_ROSTER },
		{ "min-clients", required_argument, NULL, OPT_MIN },
		{ "operator", required_argument, NULL, OPT_OPERATOR },
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
	int c;

	memset(&o, 0, sizeof(o));
	o.pol.corrupt = 0.05;
	o.pol.dropout = 0.1;
	o.pol.min_clients = 10;
	o.threads = 1;
	tool_init(usage);
	while ((c = getopt_long(argc, argv, "e:hi:j:k:o:r:s:V", longopts,
	    NULL)) != -1) {
		switch (c) {
		case OPT_CLIENT:
			o.client = optarg;
			break;
		case OPT_CONFIRM:
			set_mode(&o, CONFIRM);
			o.survivors = optarg;
			break;
		case OPT_CONFIRMATIONS:
			o.confirmations = optarg;
			break;
		case OPT_CORRUPT:
			o.pol.corrupt = tool_opt_double("--corrupt", optarg, 0,
			    1);
			if (!(o.pol.corrupt < 1))
				tool_die("invalid --corrupt '%s': must be "
				    "below 1", optarg);
			o.set_graph = 1;
			break;
		case OPT_DEGREE:
			o.pol.degree = (uint32_t)tool_opt_u64("--degree", optarg,
			    1, 1u << 24);
			o.set_graph = 1;
			break;
		case OPT_DROPOUT:
			o.pol.dropout = tool_opt_double("--dropout", optarg, 0,
			    1);
			if (!(o.pol.dropout < 1))
				tool_die("invalid --dropout '%s': must be "
				    "below 1", optarg);
			o.set_graph = 1;
			break;
		case 'e':
			o.enrolment = optarg;
			break;
		case OPT_FORGET:
			set_mode(&o, FORGET);
			break;
		case 'h':
			tool_help(options);
		case 'i':
			o.identity = optarg;
			break;
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
		case OPT_ENROL:
			set_mode(&o, ENROLMENT);
			break;
		case OPT_IDENTITY:
			set_mode(&o, IDENTITY);
			break;
		case OPT_ROSTER:
			set_mode(&o, ROSTER);
			break;
		case OPT_MIN:
			o.pol.min_clients = (uint32_t)tool_opt_u64(
			    "--min-clients", optarg, 3, 1u << 24);
			o.set_min = 1;
			break;
		case OPT_OPERATOR:
			o.operator = optarg;
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
			o.pol.threshold = (uint32_t)tool_opt_u64("--threshold",
			    optarg, 2, 1u << 24);
			o.set_graph = 1;
			break;
		case 'V':
			tool_version();
		default:
			tool_usage_error(NULL);
		}
	}
	argc -= optind;
	argv += optind;
	check_usage(&o, argc);

	if (sodium_init() < 0)
		tool_die("libsodium failed to start");
	switch (o.mode) {
	case IDENTITY:
		make_identity(&o);
		break;
	case ENROLMENT:
		make_enrolment(&o, argc, argv);
		break;
	case KEYGEN:
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
	case CONFIRM:
		confirm(&o);
		break;
	case REVEAL:
		reveal(&o);
		break;
	case FORGET:
		forget(&o);
		break;
	}
	return 0;
}
