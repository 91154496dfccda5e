/* SPDX-License-Identifier: ISC */
/*
 * fl-mask - secure aggregation, the client's side (and the roster, which
 * the server makes): a device's identity and the operator's enrolment,
 * per-round keys signed by the identity, Shamir shares of the two secrets
 * in authenticated envelopes, the masked update, the signed confirmation
 * of the survivors and the one answer to the server's unmask request.
 * Every message is a file; moving the files between devices and server is
 * the user's business.  The checks, the keys and the key file's lock are
 * in the library (saclient.c, sasetup.c, sakeyfile.c): this file opens
 * and writes files.
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
    "       fl-mask -k keyfile [-k keyfile]... -r roster -s shares [-j n]\n"
    "           [-o file] [file]\n"
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
    "                            ([A-Za-z0-9._-]); several --client, each\n"
    "                            with its -i in order: several devices\n"
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
    "  -k, --key=FILE            this client's key file of the round (0600);\n"
    "                            a device's steps take several, one per\n"
    "                            device in order (and -i as many)\n"
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
	const char *identity, *enrolment, *operator, *confirmations, *output;
	const char **keys;      /* every -k, in order */
	const char **identities;        /* every -i, in order */
	const char **clients;           /* every --client, in order */
	int nkeys, nidentities, nclients;
	uint64_t round;
	int set_round, set_graph, set_min, threads;
	struct fl_sa_policy pol;
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

/* A failed library call about path is fatal, named by path. */
static void
check(int rc, const char *path, const struct fl_error *err)
{
	if (rc < 0)
		tool_die("%s: %s", path, err->msg);
}

/* The enrolment of path (one record, kept in rec), signed by pin (NULL:
 * by the key it names). */
static void
read_enrolment(const char *path, const unsigned char *pin,
    struct fl_sa_enrolment *e, struct fl_record *rec)
{
	struct fl_error err;
	FILE *fp = open_file(path);

	fl_record_init(rec);
	check(fl_sa_enrolment_load(e, rec, fp, pin, &err), path, &err);
	fclose(fp);
}

/* What every device of a call reads alike, the roster and the shares
 * file, read and parsed once (a call with several -k; the demo's batches
 * of 75 devices spent a tenth of their masking re-reading them): each
 * device's own checks still run on them (fl_sa_client_find,
 * fl_sa_received_take), and a file is read when the first device needs
 * it, as a call with that device alone would. */
static struct {
	int have_roster, have_shares;
	struct fl_sa_roster r;
	struct fl_sa_shares_file sf;
} common;

/* What a client's step holds: its key file, the roster and its number
 * in it, what the shares file has for it, the survivor list. */
struct step {
	struct fl_sa_keyfile kf;
	struct fl_sa_identity ident;    /* --confirm's */
	const struct fl_sa_roster *r;
	uint32_t me;
	struct fl_sa_received rc;
	uint32_t *surv;
	size_t m;
};

/* The files of a client's step, in this order: the key file (locked when
 * the step records what it did: all but --reveal), the identity
 * (--confirm), the roster and this client in it (of the key file's
 * session but for --share, which binds it), the shares file (not for
 * --share; this client's envelopes opened, except for --confirm, which
 * needs only who shared) and the survivor list (--confirm, --reveal). */
static void
begin(const struct opts *o, struct step *st)
{
	struct fl_error err;
	FILE *fp;

	memset(st, 0, sizeof(*st));
	check(fl_sa_keyfile_open(&st->kf, o->key, o->mode != REVEAL, &err),
	    o->key, &err);
	if (o->mode == CONFIRM)
		check(fl_sa_identity_load(&st->ident, o->identity, &err),
		    o->identity, &err);
	if (!common.have_roster) {
		fp = open_file(o->roster);
		check(fl_sa_roster_read(&common.r, fp, &err), o->roster, &err);
		fclose(fp);
		common.have_roster = 1;
	}
	st->r = &common.r;
	check(fl_sa_client_find(st->r, &st->kf.s, o->mode != SHARE, &st->me,
	    &err), o->roster, &err);
	if (o->mode == SHARE)
		return;
	if (!common.have_shares) {
		fp = open_file(o->shares);
		check(fl_sa_shares_file_read(&common.sf, fp, st->r, &err),
		    o->shares, &err);
		fclose(fp);
		common.have_shares = 1;
	}
	check(fl_sa_received_take(&st->rc, &common.sf, st->r, &st->kf.s,
	    st->me, o->mode != CONFIRM, &err), o->shares, &err);
	if (o->survivors == NULL)
		return;
	fp = open_file(o->survivors);
	check(fl_sa_survivors_read(fp, st->r, &st->surv, &st->m, &err),
	    o->survivors, &err);
	fclose(fp);
}

static void
end(struct step *st)
{
	fl_sa_keyfile_close(&st->kf);
	free(st->surv);
	fl_sa_received_free(&st->rc, st->r->n);
}

/* The files every device read, when the call ends. */
static void
common_free(void)
{
	if (common.have_shares)
		fl_sa_shares_file_free(&common.sf);
	if (common.have_roster)
		fl_sa_roster_free(&common.r);
	memset(&common, 0, sizeof(common));
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
 * would block a rerun, and an existing one is never overwritten.  Both
 * records are freed, the secret wiped. */
static void
publish_and_store(struct tool_output *out, struct fl_record *pub,
    const char *path, struct fl_record *secret)
{
	struct fl_error err;

	tool_output_record(out, pub, 0);
	if (!out->is_file && fflush(out->fp) != 0)
		tool_die("%s: %s", out->name, strerror(errno));
	if (fl_secret_store(path, secret, 1, &err) < 0) {
		if (err.code == FL_EINVAL)
			tool_die("%s: exists: made once (remove it to start "
			    "over)", path);
		tool_die("%s: %s", path, err.msg);
	}
	fl_record_wipe(secret);
	fl_record_free(pub);
}

/* ---- identities and the enrolment ---- */

/*
 * A device's identity, or several devices' (--client and -i paired in
 * order: the public records to one output, each as its own call writes
 * it).  Every id and identity file is checked before the first is made.
 */
static void
make_identity(const struct opts *o)
{
	struct tool_output out;
	struct fl_record pub, sec;
	struct fl_error err;
	struct fl_sa_member op;         /* the operator's public identity */

	for (int k = 0; k < o->nclients; k++) {
		if (fl_sa_check_id(o->clients[k], &err) < 0)
			tool_die("invalid --client: %s", err.msg);
		if (access(o->identities[k], F_OK) == 0)
			tool_die("%s: exists: a device's identity is made once",
			    o->identities[k]);
		for (int j = 0; j < k; j++)
			if (strcmp(o->clients[j], o->clients[k]) == 0 ||
			    strcmp(o->identities[j], o->identities[k]) == 0)
				tool_usage_error("--client '%s' or -i '%s' "
				    "given twice", o->clients[k],
				    o->identities[k]);
	}
	if (o->operator != NULL) {
		FILE *fp = open_file(o->operator);

		check(fl_sa_identity_public_read(fp, op.id, op.pk, &err),
		    o->operator, &err);
		fclose(fp);
	}
	tool_output_open(&out, o->output, 1);
	for (int k = 0; k < o->nclients; k++) {
		fl_record_init(&pub);
		fl_record_init(&sec);
		if (fl_sa_identity_create(&pub, &sec, o->clients[k], o->seed,
		    o->operator != NULL ? op.pk : NULL, &err) < 0)
			tool_die("%s", err.msg);
		publish_and_store(&out, &pub, o->identities[k], &sec);
	}
	tool_output_close(&out);
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

	check(fl_sa_identity_load(&op, o->identity, &err), o->identity, &err);
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
keygen(const struct opts *o, struct tool_output *out)
{
	struct fl_sa_identity ident;
	struct fl_record pub, sec;
	struct fl_error err;

	/* A round's keys are made once: a second key file would orphan the
	 * public keys already sent. */
	if (access(o->key, F_OK) == 0)
		tool_die("%s: exists: a round's keys are made once (remove it "
		    "to start the round over)", o->key);
	check(fl_sa_identity_load(&ident, o->identity, &err), o->identity,
	    &err);
	fl_record_init(&pub);
	fl_record_init(&sec);
	if (fl_sa_keygen(&pub, &sec, &ident, o->round, o->seed, &err) < 0) {
		if (err.code == FL_EINVAL)
			tool_die("%s: %s", o->identity, err.msg);
		tool_die("%s", err.msg);
	}
	sodium_memzero(&ident, sizeof(ident));
	publish_and_store(out, &pub, o->key, &sec);
}

static void
make_roster(const struct opts *o, int nfiles, char **files)
{
	struct tool_output out;
	struct fl_sa_roster r;
	struct fl_sa_enrolment e;
	struct fl_sa_public *pub;
	struct fl_record erec;
	struct fl_error err;
	size_t n;

	tool_output_open(&out, o->output, 1);
	read_enrolment(o->enrolment, NULL, &e, &erec);
	pub = read_items(nfiles, files, sizeof(*pub), parse_public, &n);
	if (fl_sa_roster_make(&r, pub, n, &o->pol, &err) < 0)
		tool_die("%s", err.msg);
	/* The server checks what every client will: nobody unknown, every
	 * key signed by its device. */
	check(fl_sa_roster_enrolled(&r, &e, 0, &err), o->enrolment, &err);
	check(fl_sa_roster_write(out.fp, &r, &err), out.name, &err);
	tool_output_close(&out);
	fl_sa_roster_free(&r);
	fl_record_free(&erec);
}

/* ---- the client's steps ---- */

static void
share(const struct opts *o, struct tool_output *out)
{
	struct step st;
	struct fl_sa_enrolment e;
	struct fl_record rec, erec;
	struct fl_error err;

	begin(o, &st);
	read_enrolment(o->enrolment, st.kf.s.operator_pk, &e, &erec);
	fl_record_init(&rec);
	if (fl_sa_client_accept(st.r, st.me, &e, &o->pol, &err) < 0 ||
	    fl_sa_client_share(&rec, st.r, st.me, &st.kf.s, &err) < 0)
		tool_die("%s: %s", o->roster, err.msg);
	/* Bound before the envelopes leave: from now on no other roster. */
	check(fl_sa_keyfile_commit(&st.kf, o->key, &err), o->key, &err);
	tool_output_record(out, &rec, 0);
	fl_record_free(&rec);
	fl_record_free(&erec);
	end(&st);
}

static void
mask(const struct opts *o, int nfiles, char **files)
{
	struct tool_input in;
	struct tool_output out;
	struct step st;
	struct opts one = *o;
	struct fl_record *recs, extra;
	struct fl_error err;
	int n, k;

	if (nfiles > 1)
		tool_usage_error(o->nkeys > 1 ? "one stream of updates to "
		    "mask" : "one update to mask");
	if (o->output == NULL)
		tool_output_open(&out, NULL, 1);
	/* Every update read, and no more than one per key, before a key
	 * file is touched. */
	if ((recs = calloc((size_t)o->nkeys, sizeof(*recs))) == NULL)
		tool_die("out of memory");
	fl_record_init(&extra);
	tool_input_init(&in, nfiles, files);
	for (k = 0; k < o->nkeys; k++) {
		fl_record_init(&recs[k]);
		if ((n = tool_input_next(&in, &recs[k])) == 0) {
			if (o->nkeys == 1)
				tool_die("%s: no update to mask", in.name);
			tool_die("%s: %d updates for %d key files", in.name, k,
			    o->nkeys);
		}
		if (n < 0)
			exit(1);
	}
	if ((n = tool_input_next(&in, &extra)) < 0)
		exit(1);
	if (n > 0)
		tool_die(o->nkeys == 1 ? "%s: record %lu: one update per "
		    "client and round" : "%s: record %lu: one update per key "
		    "file", in.name, in.recno);
	/* Each update as a call with its key alone would mask it. */
	for (k = 0; k < o->nkeys; k++) {
		one.key = o->keys[k];
		begin(&one, &st);
		if (fl_sa_client_mask(&recs[k], st.r, &st.kf.s, &st.rc,
		    o->threads, &err) < 0)
			tool_die("%s: %s", in.name, err.msg);
		check(fl_sa_keyfile_commit(&st.kf, one.key, &err), one.key,
		    &err);
		if (k == 0 && o->output != NULL)
			tool_output_open(&out, o->output, 1);
		tool_output_record(&out, &recs[k], 0);
		fl_record_free(&recs[k]);
		end(&st);
	}
	tool_output_close(&out);
	free(recs);
	fl_record_free(&extra);
	tool_input_free(&in);
}

static void
confirm(const struct opts *o, struct tool_output *out)
{
	struct step st;
	struct fl_record rec;
	struct fl_error err;

	begin(o, &st);
	fl_record_init(&rec);
	if (fl_sa_client_confirm(&rec, st.r, st.me, &st.kf.s, &st.ident,
	    &st.rc, st.surv, st.m, &err) < 0)
		tool_die("%s: %s", err.code == FL_EINVAL ? o->key :
		    o->survivors, err.msg);
	sodium_memzero(&st.ident, sizeof(st.ident));
	check(fl_sa_keyfile_commit(&st.kf, o->key, &err), o->key, &err);
	tool_output_record(out, &rec, 0);
	fl_record_free(&rec);
	end(&st);
}

static void
reveal(const struct opts *o, struct tool_output *out)
{
	struct step st;
	struct fl_record rec;
	struct fl_error err;
	FILE *fp;

	begin(o, &st);
	fp = open_file(o->confirmations);
	fl_record_init(&rec);
	/* Only the confirmations are read as records: a message about a
	 * record is about them, any other about the survivor list. */
	if (fl_sa_client_reveal(&rec, st.r, st.me, &st.kf.s, &st.rc, st.surv,
	    st.m, fp, &err) < 0)
		tool_die("%s: %s", strncmp(err.msg, "record ", 7) == 0 ?
		    o->confirmations : o->survivors, err.msg);
	fclose(fp);
	fl_sa_keyfile_close(&st.kf);
	tool_output_record(out, &rec, 0);
	fl_record_wipe(&rec);
	end(&st);
}

/* A device's step (--keygen, --share, --confirm, --reveal, --forget)
 * for every -k in order (and the -i of the same rank), the records to
 * one output, each as the call with that key file alone writes it. */
static void
devices(const struct opts *o)
{
	struct tool_output out;
	struct opts one = *o;
	struct fl_error err;

	if (o->mode != FORGET)
		tool_output_open(&out, o->output, 1);
	for (int k = 0; k < o->nkeys; k++) {
		one.key = o->keys[k];
		if (o->nidentities > 0)
			one.identity = o->identities[k];
		switch (o->mode) {
		case KEYGEN: keygen(&one, &out); break;
		case SHARE: share(&one, &out); break;
		case CONFIRM: confirm(&one, &out); break;
		case REVEAL: reveal(&one, &out); break;
		default:
			check(fl_sa_keyfile_forget(one.key, &err), one.key,
			    &err);
			break;
		}
	}
	if (o->mode != FORGET)
		tool_output_close(&out);
}

/* ---- options ---- */

/* The step; file: the survivor list of --confirm and --reveal, else
 * NULL. */
static void
set_mode(struct opts *o, enum mode m, const char *file)
{
	if (o->set_mode && o->mode != m)
		tool_usage_error("one step per call: --make-identity, "
		    "--make-enrolment, --keygen, --make-roster, --share, "
		    "--confirm, --reveal and --forget exclude each other");
	o->mode = m;
	o->set_mode = 1;
	o->survivors = file;
}

/* Each step takes exactly the files and options it needs. */
static void
check_usage(const struct opts *o, int argc)
{
	static const struct {
		const char *name;
		const char *need;       /* k key, r roster, s shares, i identity,
					 * e enrolment, c confirmations */
		const char *may;        /* and o, j, g (graph), m (min), d (seed),
					 * p (operator), f (file operands) */
	} rules[] = {
		[IDENTITY] = { "--make-identity", "i", "odp" },
		[ENROLMENT] = { "--make-enrolment", "i", "of" },
		[KEYGEN] = { "--keygen", "ki", "od" },
		[ROSTER] = { "--make-roster", "e", "ogf" },
		[SHARE] = { "--share", "kre", "ogm" },
		[MASK] = { "masking", "krs", "ojf" },
		[CONFIRM] = { "--confirm", "kirs", "o" },
		[REVEAL] = { "--reveal", "krsc", "o" },
		[FORGET] = { "--forget", "k", "" },
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
	size_t i = o->mode;

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
	struct opts o = { .pol = { .min_clients = 10, .corrupt = 0.05,
	    .dropout = 0.1 }, .threads = 1 };
	int c;

	tool_init(usage, argv);
	/* At most one -k per argument. */
	if ((o.keys = calloc((size_t)argc, sizeof(*o.keys))) == NULL ||
	    (o.clients = calloc((size_t)argc, sizeof(*o.clients))) == NULL ||
	    (o.identities = calloc((size_t)argc, sizeof(*o.identities))) ==
	    NULL)
		tool_die("out of memory");
	while ((c = getopt_long(argc, argv, "e:hi:j:k:o:r:s:V", longopts,
	    NULL)) != -1) {
		switch (c) {
		case OPT_CLIENT:
			o.clients[o.nclients++] = optarg;
			o.client = o.clients[0];
			break;
		case OPT_CONFIRM: set_mode(&o, CONFIRM, optarg); break;
		case OPT_CONFIRMATIONS: o.confirmations = optarg; break;
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
		case 'e': o.enrolment = optarg; break;
		case OPT_FORGET: set_mode(&o, FORGET, NULL); break;
		case 'h': tool_help(options);
		case 'i':
			o.identities[o.nidentities++] = optarg;
			o.identity = o.identities[0];
			break;
		case 'j':
			o.threads = (int)tool_opt_u64("--threads", optarg, 1,
			    256);
			break;
		case 'k':
			o.keys[o.nkeys++] = optarg;
			o.key = o.keys[0];
			break;
		case OPT_KEYGEN: set_mode(&o, KEYGEN, NULL); break;
		case OPT_ENROL: set_mode(&o, ENROLMENT, NULL); break;
		case OPT_IDENTITY: set_mode(&o, IDENTITY, NULL); break;
		case OPT_ROSTER: set_mode(&o, ROSTER, NULL); break;
		case OPT_MIN:
			o.pol.min_clients = (uint32_t)tool_opt_u64(
			    "--min-clients", optarg, 3, 1u << 24);
			o.set_min = 1;
			break;
		case OPT_OPERATOR: o.operator = optarg; break;
		case 'o': o.output = optarg; break;
		case 'r': o.roster = optarg; break;
		case OPT_REVEAL: set_mode(&o, REVEAL, optarg); break;
		case OPT_ROUND:
			o.round = tool_opt_u64("--round", optarg, 0,
			    UINT64_MAX);
			o.set_round = 1;
			break;
		case 's': o.shares = optarg; break;
		case OPT_SEED: o.seed = optarg; break;
		case OPT_SHARE: set_mode(&o, SHARE, NULL); break;
		case OPT_THRESHOLD:
			o.pol.threshold = (uint32_t)tool_opt_u64("--threshold",
			    optarg, 2, 1u << 24);
			o.set_graph = 1;
			break;
		case 'V': tool_version();
		default:
			tool_usage_error(NULL);
		}
	}
	argc -= optind;
	argv += optind;
	check_usage(&o, argc);
	/* Several devices at once: a key file each, and for --keygen and
	 * --confirm an identity each, paired in order. */
	if (o.nkeys > 1 && (o.mode == IDENTITY || o.mode == ENROLMENT ||
	    o.mode == ROSTER))
		tool_usage_error("several -k are for the devices' steps");
	if (o.mode == IDENTITY && o.nidentities != o.nclients)
		tool_usage_error("several --client: one -i identity file each, "
		    "in order");
	if (o.mode != IDENTITY && (o.nidentities > 1 || (o.nkeys > 1 &&
	    o.nidentities > 0)) && o.nidentities != o.nkeys)
		tool_usage_error("several -i: one per -k keyfile, in order");

	if (sodium_init() < 0)
		tool_die("libsodium failed to start");
	switch (o.mode) {
	case IDENTITY: make_identity(&o); break;
	case ENROLMENT: make_enrolment(&o, argc, argv); break;
	case ROSTER: make_roster(&o, argc, argv); break;
	case MASK: mask(&o, argc, argv); break;
	default: devices(&o); break;
	}
	common_free();
	free(o.keys);
	free(o.identities);
	free(o.clients);
	return 0;
}
