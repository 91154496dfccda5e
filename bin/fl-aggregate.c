/* SPDX-License-Identifier: ISC */
/*
 * fl-aggregate - the server's sum: weighted mean, plain and modular sums
 * that stream in O(one model) memory and merge associatively (tree
 * aggregation), and robust rules (coordinate-wise median, trimmed mean,
 * Krum) that hold the updates within a memory budget, re-reading files in
 * coordinate chunks beyond it.  Every input is checked before anything is
 * written: one bad record fails the whole round.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "tool.h"

static const char usage[] =
    "fl-aggregate [-r rule] [-n min] [option ...] [-o file] [file ...]\n"
    "       fl-aggregate --roster=file --shares=file --reveals=file [-j n]\n"
    "           [-n min] [-o file] [file ...]";

static const char options[] =
    "Aggregate updates into one record: all inputs must have the same\n"
    "tensors and round; any bad record fails the whole aggregation.\n"
    "\n"
    "  -f, --byzantine=F      krum: Byzantine updates tolerated (default 0)\n"
    "      --denominator=N    mean: divide the plain sum by the public N (a\n"
    "                         fixed denominator), not by the weights\n"
    "      --drop-nonfinite   skip updates holding NaN or infinite values,\n"
    "                         counting them, instead of failing\n"
    "  -h, --help             print this help and exit\n"
    "      --log=FILE         append a JSON line on the aggregation to FILE\n"
    "      --memory=BYTES     robust rules: hold at most BYTES of values\n"
    "                         (suffix k, M, G, T; default 1G), beyond that\n"
    "                         re-read the files in coordinate chunks\n"
    "  -n, --min-clients=N    fail, writing nothing, below N clients\n"
    "                         (default 1)\n"
    "      --norm-bound=C     scale each update down to L2 norm C first\n"
    "  -o, --output=FILE      write to FILE atomically instead of stdout\n"
    "      --reveals=FILE     masked input: the survivors' answers to the\n"
    "                         unmask request (fl-mask --reveal), one stream\n"
    "      --roster=FILE      masked input: the round's roster; the output is\n"
    "                         the survivors' plain modular sum\n"
    "      --shares=FILE      masked input: the clients' share envelopes and\n"
    "                         commitments, as sent to the clients (to tell a\n"
    "                         wrong revealed share from a right one)\n"
    "  -r, --rule=RULE        mean (weighted, the default), sum, median,\n"
    "                         trimmed-mean or krum\n"
    "      --select=M         krum: average the M best updates (multi-Krum;\n"
    "                         default 1)\n"
    "  -j, --threads=N        unmask with N threads (same output for any N)\n"
    "      --trim=BETA        trimmed-mean: cut this fraction of the values\n"
    "                         at each end (default 0.2)\n"
    "      --unweighted       mean: every client counts the same\n"
    "  -V, --version          print the version and exit\n"
    "\n"
    "Environment: FL_MAX_PAYLOAD caps a record's payload in bytes "
    "(default 4 GiB).\n";

enum rule { MEAN, SUM, MEDIAN, TRIMMED, KRUM };

static const char *const rule_names[] = {
	[MEAN] = "mean", [SUM] = "sum", [MEDIAN] = "median",
	[TRIMMED] = "trimmed-mean", [KRUM] = "krum",
};

struct opts {
	enum rule rule;
	int unweighted, drop_nonfinite;
	double norm_bound;      /* 0: none */
	double trim;
	uint64_t byzantine, select, min_clients, memory;
	int set_trim, set_krum, set_memory, set_rule;
	const char *log;
	const char *roster, *reveals, *shares;  /* secure aggregation */
	int threads;
	double denominator;     /* --denominator, else NAN */
};

/* One accepted record: where to find it again, and what pass 1 learnt. */
struct item {
	int file;               /* operand index */
	unsigned long recno;
	uint64_t offset;        /* of the record in its file */
	uint32_t hlen;
	int zlib;
	double scale;           /* from --norm-bound */
	unsigned char *raw;     /* the payload, while it fits --memory */
};

struct operand {
	int seen, rereadable;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct seen_client {
	char *id;
	const char *file;
	unsigned long recno;
};

struct agg {
	const struct opts *o;
	struct tool_input in;
	struct fl_record rec;           /* the record being read, reused */
	struct fl_record keep;          /* metadata every input agrees on */
	struct fl_layout layout;
	struct fl_acc acc;              /* mean and sum */
	int started;
	const char *first_file;
	unsigned long first_recno;
	int have_round;
	uint64_t round;                 /* the common round, if any */
	int masked, have_float, all_weighted;
	uint64_t modulus;

	double wsum;
	uint64_t records, clients, dropped, bounded;
	double *norms;
	size_t nnorms, normcap;

	struct item *items;             /* robust rules */
	size_t nitems, itemcap;
	uint64_t held;                  /* bytes of payloads held */
	int chunked;
	struct operand *ops;

	struct seen_client *seen;       /* open addressing on client ids */
	size_t seencap, nseen;

	struct fl_sa_roster roster;     /* with --roster */
	uint32_t *survivors;            /* client numbers of masked records */
	size_t nsurvivors;
};

/* ---- messages ---- */

static _Noreturn void __attribute__((format(printf, 2, 3)))
bad(const struct agg *a, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tool_die("%s: record %lu: %s", a->in.name, a->in.recno, msg);
}

static const char *
first_where(const struct agg *a, char *buf, size_t n)
{
	snprintf(buf, n, "record %lu of %s", a->first_recno, a->first_file);
	return buf;
}

static void *
xrealloc(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		tool_die("out of memory");
	if ((p = realloc(p, n && size ? n * size : 1)) == NULL)
		tool_die("out of memory");
	return p;
}

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		tool_die("out of memory");
	return p;
}

/* ---- options ---- */

static uint64_t
parse_bytes(const char *opt, const char *arg)
{
	char num[64], q[FL_QUOTE];
	size_t len = strlen(arg);
	uint64_t v, mul = 1;
	int shift = 0;

	if (len > 0 && len < sizeof(num)) {
		switch (arg[len - 1]) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		case 't': case 'T': shift = 40; break;
		}
	}
	if (len >= sizeof(num))
		tool_die("invalid %s '%s': not a number", opt,
		    fl_escape(q, sizeof(q), arg, len));
	memcpy(num, arg, len + 1);
	if (shift)
		num[len - 1] = '\0';
	mul = UINT64_C(1) << shift;
	v = tool_opt_u64(opt, num, 1, UINT64_MAX >> shift);
	return v * mul;
}

/* ---- client ids ---- */

static uint64_t
hash_str(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void
note_client(struct agg *a, const char *id)
{
	size_t i;

	if (a->nseen * 2 >= a->seencap) {
		struct seen_client *old = a->seen;
		size_t oldcap = a->seencap;

		a->seencap = oldcap ? oldcap * 2 : 64;
		a->seen = xrealloc(NULL, a->seencap, sizeof(*a->seen));
		memset(a->seen, 0, a->seencap * sizeof(*a->seen));
		for (size_t j = 0; j < oldcap; j++) {
			if (old[j].id == NULL)
				continue;
			i = hash_str(old[j].id) & (a->seencap - 1);
			while (a->seen[i].id != NULL)
				i = (i + 1) & (a->seencap - 1);
			a->seen[i] = old[j];
		}
		free(old);
	}
	i = hash_str(id) & (a->seencap - 1);
	for (; a->seen[i].id != NULL; i = (i + 1) & (a->seencap - 1))
		if (strcmp(a->seen[i].id, id) == 0)
			bad(a, "duplicate client '%s' (also record %lu of %s)",
			    id, a->seen[i].recno, a->seen[i].file);
	a->seen[i].id = xstrdup(id);
	a->seen[i].file = a->in.name;
	a->seen[i].recno = a->in.recno;
	a->nseen++;
}

/* ---- pass 1: check every record ---- */

/* Keys whose values must be equal in every input (presence included):
 * summing records of different models, rings or masking sessions is
 * meaningless. */
static int
must_agree(const char *key)
{
	return strcmp(key, "arch") == 0 || strcmp(key, "mask") == 0 ||
	    strcmp(key, "modulus") == 0 || strncmp(key, "q.", 2) == 0 ||
	    strncmp(key, "secagg.", 7) == 0;
}

static void
check_agree(struct agg *a, const struct fl_record *first_meta)
{
	const struct fl_record *r = &a->rec;
	char where[512], q1[FL_QUOTE], q2[FL_QUOTE];

	/* Every must-agree key of either record. */
	for (int pass = 0; pass < 2; pass++) {
		const struct fl_record *x = pass ? r : first_meta;

		for (size_t i = 0; i < x->nmeta; i++) {
			const char *k = x->meta[i].key, *v1, *v2;

			if (!must_agree(k))
				continue;
			v1 = fl_meta_get(r, k);
			v2 = fl_meta_get(first_meta, k);
			if (v1 != NULL && v2 != NULL && strcmp(v1, v2) == 0)
				continue;
			bad(a, "%s: %s%s%s here, %s%s%s in %s", k,
			    v1 ? "'" : "", v1 ? fl_escape(q1, sizeof(q1), v1,
			    strlen(v1)) : "absent", v1 ? "'" : "",
			    v2 ? "'" : "", v2 ? fl_escape(q2, sizeof(q2), v2,
			    strlen(v2)) : "absent", v2 ? "'" : "",
			    first_where(a, where, sizeof(where)));
		}
	}
}

/* Drop from keep the keys this record lacks or disagrees on. */
static void
narrow_keep(struct agg *a)
{
	for (size_t i = a->keep.nmeta; i-- > 0;) {
		const char *v = fl_meta_get(&a->rec, a->keep.meta[i].key);

		if (v == NULL || strcmp(v, a->keep.meta[i].value) != 0)
			fl_meta_del(&a->keep, a->keep.meta[i].key);
	}
}

static void
check_kind(struct agg *a)
{
	const char *kind = fl_meta_get(&a->rec, "kind");
	const char *agg = fl_meta_get(&a->rec, "agg");
	const struct opts *o = a->o;
	char q[FL_QUOTE];

	if (kind != NULL && (strcmp(kind, "model") == 0 ||
	    strcmp(kind, "state") == 0 || strcmp(kind, "account") == 0))
		bad(a, "record is a %s, not an update", kind);
	if (agg == NULL)
		return;
	fl_escape(q, sizeof(q), agg, strlen(agg));
	if (o->rule != MEAN && o->rule != SUM)
		bad(a, "record is an aggregate (agg=%s): %s takes updates",
		    q, rule_names[o->rule]);
	if (strcmp(agg, "mean") != 0 && strcmp(agg, "sum") != 0)
		bad(a, "record is a '%s' aggregate: robust aggregates do not "
		    "merge", q);
	/* --denominator divides a plain sum: partial sums merge into it
	 * (noised by the server, say); a mean does not give its sum back. */
	if (!isnan(o->denominator)) {
		if (strcmp(agg, "sum") != 0)
			bad(a, "record is a partial mean: --denominator divides "
			    "sums (merge with -r sum, then divide once)");
		return;
	}
	if (strcmp(agg, rule_names[o->rule]) != 0)
		bad(a, "record is a partial %s: merge it with --rule=%s", q, q);
}

static double
record_weight(struct agg *a, uint64_t *clients)
{
	const char *w = fl_meta_get(&a->rec, "weight");
	const char *c = fl_meta_get(&a->rec, "clients");
	struct fl_error err;
	char q[FL_QUOTE];
	double v = 0;

	*clients = 1;
	if (c != NULL && fl_parse_u64(c, 1, UINT64_MAX, clients, &err) < 0)
		bad(a, "bad clients '%s': %s",
		    fl_escape(q, sizeof(q), c, strlen(c)), err.msg);
	if (w != NULL) {
		if (fl_parse_double(w, 0, INFINITY, &v, &err) < 0)
			bad(a, "bad weight '%s': %s",
			    fl_escape(q, sizeof(q), w, strlen(w)), err.msg);
		if (!(v > 0))
			bad(a, "weight '%s' is not positive",
			    fl_escape(q, sizeof(q), w, strlen(w)));
	} else {
		a->all_weighted = 0;
		if (a->o->rule == MEAN && !a->o->unweighted &&
		    isnan(a->o->denominator))
			bad(a, "no weight: give every update a weight, or use "
			    "--unweighted");
	}
	if (a->o->rule == MEAN && !isnan(a->o->denominator))
		return 1;       /* an update, or a partial sum: as it is */
	if (a->o->rule == MEAN && a->o->unweighted)
		return (double)*clients;
	return v;
}

static void
check_round(struct agg *a)
{
	const char *r = fl_meta_get(&a->rec, "round");
	struct fl_error err;
	uint64_t v;
	char q[FL_QUOTE];

	if (r == NULL)
		return;
	if (fl_parse_u64(r, 0, UINT64_MAX, &v, &err) < 0)
		bad(a, "bad round '%s': %s",
		    fl_escape(q, sizeof(q), r, strlen(r)), err.msg);
	if (!a->have_round) {
		a->have_round = 1;
		a->round = v;
	} else if (v != a->round) {
		bad(a, "round %llu, but other inputs are of round %llu",
		    (unsigned long long)v, (unsigned long long)a->round);
	}
}

/* What the first record fixes: layout, ring, masking. */
static void
start(struct agg *a)
{
	const struct opts *o = a->o;
	const char *mod = fl_meta_get(&a->rec, "modulus");
	struct fl_error err;
	char q[FL_QUOTE];

	a->started = 1;
	a->first_file = a->in.name;
	a->first_recno = a->in.recno;
	a->masked = fl_meta_get(&a->rec, "mask") != NULL;
	if (fl_meta_copy(&a->keep, &a->rec, &err) < 0)
		tool_die("%s", err.msg);
	if (mod != NULL && fl_parse_u64(mod, 2, UINT64_MAX, &a->modulus,
	    &err) < 0)
		bad(a, "bad modulus '%s': %s",
		    fl_escape(q, sizeof(q), mod, strlen(mod)), err.msg);
	if (a->masked && mod == NULL)
		bad(a, "masked record without a modulus");
	if (mod != NULL && o->rule != SUM)
		bad(a, "%s records (modulus %s) can only be summed: use "
		    "--rule=sum", a->masked ? "masked" : "ring-encoded",
		    fl_escape(q, sizeof(q), mod, strlen(mod)));
	for (size_t i = 0; i < a->rec.ntensors; i++) {
		const struct fl_tensor *t = &a->rec.tensors[i];

		if (fl_dtype_is_float(t->dtype)) {
			a->have_float = 1;
			continue;
		}
		if (o->rule != SUM)
			bad(a, "tensor '%s' is %s: %s takes float tensors "
			    "(decode integer ones first, or use --rule=sum)",
			    t->name, fl_dtype_name(t->dtype),
			    rule_names[o->rule]);
		if (o->norm_bound > 0)
			bad(a, "tensor '%s' is %s: --norm-bound takes float "
			    "tensors", t->name, fl_dtype_name(t->dtype));
	}
	if (o->rule == MEAN || o->rule == SUM) {
		if (fl_acc_init(&a->acc, &a->rec, a->modulus, &err) < 0)
			bad(a, "%s", err.msg);
	} else if (fl_layout_init(&a->layout, &a->rec, &err) < 0) {
		tool_die("%s", err.msg);
	}
}

static void
note_norm(struct agg *a, double l2)
{
	if (a->nnorms == a->normcap) {
		a->normcap = a->normcap ? a->normcap * 2 : 64;
		a->norms = xrealloc(a->norms, a->normcap, sizeof(*a->norms));
	}
	a->norms[a->nnorms++] = l2;
}

static void
drop_or_die(struct agg *a, const struct fl_scan *s)
{
	if (!a->o->drop_nonfinite)
		bad(a, "%llu NaN or infinite values, the first in tensor "
		    "'%s' (--drop-nonfinite skips such updates)",
		    (unsigned long long)s->nonfinite,
		    a->rec.tensors[s->bad_tensor].name);
	tool_warn("%s: record %lu: dropped: %llu NaN or infinite values",
	    a->in.name, a->in.recno, (unsigned long long)s->nonfinite);
	a->dropped++;
}

static void
note_operand(struct agg *a)
{
	int idx = a->in.next - 1;
	struct operand *op = &a->ops[idx];
	struct stat st;

	if (op->seen)
		return;
	op->seen = 1;
	if (a->in.fp != stdin && fstat(fileno(a->in.fp), &st) == 0 &&
	    S_ISREG(st.st_mode)) {
		op->rereadable = 1;
		op->dev = st.st_dev;
		op->ino = st.st_ino;
		op->size = st.st_size;
		op->mtime = st.st_mtim;
	}
}

static void
go_chunked(struct agg *a)
{
	const struct opts *o = a->o;

	for (size_t i = 0; i < a->nitems; i++) {
		if (!a->ops[a->items[i].file].rereadable)
			tool_die("the updates need more than --memory %llu "
			    "bytes and %s cannot be re-read in chunks: raise "
			    "--memory, or give regular files (standard input "
			    "cannot be re-read)", (unsigned long long)o->memory,
			    a->in.files[a->items[i].file][0] == '-' &&
			    a->in.files[a->items[i].file][1] == '\0' ?
			    "<stdin>" : a->in.files[a->items[i].file]);
		free(a->items[i].raw);
		a->items[i].raw = NULL;
	}
	a->chunked = 1;
	a->held = 0;
}

static void
hold(struct agg *a, double scale)
{
	struct item *it;

	if (a->nitems == a->itemcap) {
		a->itemcap = a->itemcap ? a->itemcap * 2 : 64;
		a->items = xrealloc(a->items, a->itemcap, sizeof(*a->items));
	}
	it = &a->items[a->nitems++];
	memset(it, 0, sizeof(*it));
	it->file = a->in.next - 1;
	it->recno = a->in.recno;
	it->offset = a->in.offset;
	it->hlen = a->rec.pre.hlen;
	it->zlib = (a->rec.pre.flags & FL_FLAG_ZLIB) != 0;
	it->scale = scale;
	if (!a->chunked && a->held + a->rec.rawlen > a->o->memory)
		go_chunked(a);
	if (a->chunked) {
		if (!a->ops[it->file].rereadable)
			go_chunked(a);  /* dies naming the file */
		return;
	}
	it->raw = tool_malloc(a->rec.rawlen);
	memcpy(it->raw, a->rec.raw, a->rec.rawlen);
	a->held += a->rec.rawlen;
}

/* ---- secure aggregation ---- */

/* A masked record: from a client of the roster's session, whose number
 * joins the survivors (U3). */
static void
note_survivor(struct agg *a, const char *client)
{
	const char *sess = fl_meta_get(&a->rec, "secagg.session");
	char hex[FL_SA_HEX];
	struct fl_error err;
	uint32_t c;

	if (a->o->roster == NULL)
		bad(a, "masked record: unmask it with --roster, --shares and "
		    "--reveals");
	if (client == NULL)
		bad(a, "masked record without a client id");
	if ((c = fl_sa_roster_find(&a->roster, client)) == 0)
		bad(a, "unknown client '%s': not in %s", client, a->o->roster);
	sodium_bin2hex(hex, sizeof(hex), a->roster.session, FL_SA_BYTES);
	if (sess == NULL || strcmp(sess, hex) != 0)
		bad(a, "client '%s' masked for another session than %s's",
		    client, a->o->roster);
	if (fl_meta_get(&a->rec, "secagg.shared") == NULL)
		bad(a, "masked record without secagg.shared");
	/* Count, don't trust: a masked record that claims clients or a
	 * weight would make the sum claim them; its own metadata must be
	 * what a client may send in clear, and nothing more. */
	if (fl_release_check_masked(&a->rec, &err) < 0)
		bad(a, "client '%s': %s", client, err.msg);
	a->survivors[a->nsurvivors++] = c;
}


/* The records of a protocol file, all of it (a few per client). */
static size_t
read_all(const char *path, struct fl_record **out)
{
	struct fl_record *recs = NULL;
	struct fl_error err;
	size_t n = 0, cap = 0;
	FILE *fp = fopen(path, "rb");
	int rc;

	if (fp == NULL)
		tool_die("%s: %s", path, strerror(errno));
	for (;;) {
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			recs = xrealloc(recs, cap, sizeof(*recs));
		}
		fl_record_init(&recs[n]);
		if ((rc = fl_record_read(&recs[n], fp, NULL, &err)) == 0)
			break;
		if (rc < 0)
			tool_die("%s: record %zu: %s", path, n + 1, err.msg);
		n++;
	}
	fl_record_free(&recs[n]);
	fclose(fp);
	*out = recs;
	return n;
}

/* What the reveals held that failed the owners' commitments. */
static void
warn_faults(const struct agg *a, const struct fl_sa_faults *f)
{
	for (size_t i = 0; i < f->n; i++)
		tool_warn("%s: client '%s' revealed a wrong share of client "
		    "'%s''s %s (it lied, or '%s' dealt it a wrong one)",
		    a->o->reveals, a->roster.pub[f->v[i].from - 1].id,
		    a->roster.pub[f->v[i].of - 1].id, f->v[i].self ?
		    "self-mask secret" : "mask key",
		    a->roster.pub[f->v[i].of - 1].id);
}

/* Take the masks out of the modular sum in out. */
static void
unmask(struct agg *a, struct fl_record *out)
{
	const struct opts *o = a->o;
	struct fl_record *recs, *srecs;
	struct fl_sa_reveal *rv;
	struct fl_sa_shares *dealt = calloc(a->roster.n, sizeof(*dealt));
	struct fl_sa_faults faults = { 0 };
	unsigned char *seen = calloc(a->roster.n, 1);
	struct fl_error err;
	size_t n, ns;
	int rc;

	if (seen == NULL || dealt == NULL)
		tool_die("out of memory");
	ns = read_all(o->shares, &srecs);
	for (size_t i = 0; i < ns; i++) {
		struct fl_sa_shares sh;

		if (fl_sa_shares_from_record(&sh, &srecs[i], &a->roster,
		    &err) < 0)
			tool_die("%s: record %zu: %s", o->shares, i + 1, err.msg);
		if (dealt[sh.from - 1].m)
			tool_die("%s: record %zu: client '%s' shared twice",
			    o->shares, i + 1, a->roster.pub[sh.from - 1].id);
		dealt[sh.from - 1] = sh;
	}
	n = read_all(o->reveals, &recs);
	rv = xrealloc(NULL, n, sizeof(*rv));
	for (size_t i = 0; i < n; i++) {
		if (fl_sa_reveal_from_record(&rv[i], &recs[i], &a->roster,
		    &err) < 0)
			tool_die("%s: record %zu: %s", o->reveals, i + 1,
			    err.msg);
		if (seen[rv[i].from - 1])
			tool_die("%s: record %zu: a second reveal from client "
			    "'%s'", o->reveals, i + 1,
			    a->roster.pub[rv[i].from - 1].id);
		seen[rv[i].from - 1] = 1;
	}
	fl_sort_u32(a->survivors, a->nsurvivors);
	rc = fl_sa_unmask_record(out, &a->roster, a->survivors, a->nsurvivors,
	    fl_meta_get(&a->keep, "secagg.shared"), rv, n, dealt, &faults,
	    o->threads, &err);
	warn_faults(a, &faults);
	if (rc < 0)
		tool_die("%s: %s", o->reveals, err.msg);
	/* The revealed shares rebuild secrets: not left in freed memory. */
	for (size_t i = 0; i < n; i++)
		fl_record_wipe(&recs[i]);
	for (size_t i = 0; i < ns; i++)
		fl_record_free(&srecs[i]);
	free(recs);
	free(srecs);
	free(rv);
	free(dealt);
	free(seen);
	free(faults.v);
	fl_meta_del(out, "mask");
	fl_meta_del(out, "secagg.session");
	fl_meta_del(out, "secagg.shared");
	/* The clients the roster assumed colluding with the server: their
	 * noise shares protect no one, and fl-account charges without them. */
	if (fl_meta_setf(out, &err, "secagg.corrupt", "%lu",
	    (unsigned long)a->roster.corrupt) < 0)
		tool_die("%s: %s", o->roster, err.msg);
}

/* What the header tells (every check but the values'): the record's
 * weight, and its client count in *clients. */
static double
take_head(struct agg *a, uint64_t *clients)
{
	const struct opts *o = a->o;
	struct fl_error err;
	const char *client;
	double w;

	note_operand(a);
	check_kind(a);
	if (!a->started) {
		start(a);
	} else {
		int masked = fl_meta_get(&a->rec, "mask") != NULL;
		char where[512];

		if (masked != a->masked)
			bad(a, "record is %s, %s is %s: masked and plain "
			    "updates never mix", masked ? "masked" : "plain",
			    first_where(a, where, sizeof(where)),
			    a->masked ? "masked" : "plain");
		check_agree(a, &a->keep);
	}
	check_round(a);
	if ((client = fl_meta_get(&a->rec, "client")) != NULL)
		note_client(a, client);
	if (a->masked)
		note_survivor(a, client);
	w = record_weight(a, clients);
	if (fl_layout_check(o->rule == MEAN || o->rule == SUM ?
	    &a->acc.layout : &a->layout, &a->rec, &err) < 0) {
		char where[512];

		bad(a, "%s (%s)", err.msg, first_where(a, where,
		    sizeof(where)));
	}
	return w;
}

static void
take_done(struct agg *a, const struct fl_scan *s, double w, uint64_t clients)
{
	note_norm(a, s->l2);
	narrow_keep(a);
	a->records++;
	a->clients += clients;
	a->wsum += w;
}

static void
take(struct agg *a)
{
	const struct opts *o = a->o;
	struct fl_error err;
	struct fl_scan s;
	uint64_t clients;
	double w, scale = 1;

	w = take_head(a, &clients);
	fl_record_scan(&a->rec, &s);
	if (s.nonfinite) {
		drop_or_die(a, &s);
		return;
	}
	if (o->norm_bound > 0 && s.l2 > o->norm_bound) {
		scale = o->norm_bound / s.l2;
		a->bounded++;
	}
	if (o->rule == MEAN || o->rule == SUM) {
		if (fl_acc_add(&a->acc, &a->rec, o->rule == MEAN ? w * scale :
		    scale, NULL, &err) < 0)
			bad(a, "%s", err.msg);
	} else {
		hold(a, scale);
	}
	take_done(a, &s, w, clients);
}

/*
 * The mean and the sum without norm bounds: each record's payload goes
 * from the file into the sums piece by piece, so memory is the sums alone
 * whatever the model's size.  A bad value, or a checksum that fails after
 * the pieces were added, fails the whole aggregation, so adding first does
 * no harm.
 */
struct streamed {
	struct agg *a;
	struct fl_scan scan;
	double w;
	uint64_t clients;
};

static int
stream_head(void *ctx, struct fl_record *rec, struct fl_error *err)
{
	struct streamed *st = ctx;

	(void)rec;
	(void)err;
	st->w = take_head(st->a, &st->clients);
	memset(&st->scan, 0, sizeof(st->scan));
	return 0;
}

static int
stream_piece(void *ctx, const struct fl_record *rec, size_t offset,
    const unsigned char *p, size_t len, struct fl_error *err)
{
	struct streamed *st = ctx;

	return fl_acc_add_piece(&st->a->acc, rec, offset, p, len,
	    st->a->o->rule == MEAN ? st->w : 1, &st->scan, err);
}

static int
take_streamed(struct agg *a)
{
	struct streamed st = { a, { 0, 0, 0 }, 0, 0 };
	struct fl_stream fs = { stream_head, stream_piece, &st };
	int rc = tool_input_next_stream(&a->in, &a->rec, &fs);

	if (rc == 1) {
		if (st.scan.nonfinite)
			drop_or_die(a, &st.scan);
		take_done(a, &st.scan, st.w, st.clients);
	}
	return rc;
}

/* ---- robust rules ---- */

struct piece {
	size_t tensor;
	uint64_t start, len;
	size_t bufoff;          /* bytes into each item's chunk buffer */
};

/* The next chunk of at most cap coordinates from (*t, *pos) on.  A piece
 * that stops inside its tensor stops at a multiple of FL_AGG_BLOCK, so that
 * the kernels see the same blocks as on the whole tensor. */
static size_t
plan_chunk(const struct fl_layout *l, size_t *t, uint64_t *pos, uint64_t cap,
    struct piece *pieces, size_t *bytes)
{
	size_t np = 0;
	uint64_t used = 0;

	*bytes = 0;
	while (*t < l->n && used < cap) {
		const struct fl_layout_tensor *lt = &l->t[*t];
		uint64_t len = lt->numel - *pos;

		if (len > cap - used) {
			len = (cap - used) / FL_AGG_BLOCK * FL_AGG_BLOCK;
			if (len == 0)
				break;
		}
		if (len > 0) {
			pieces[np].tensor = *t;
			pieces[np].start = *pos;
			pieces[np].len = len;
			pieces[np].bufoff = *bytes;
			*bytes += len * fl_dtype_size(lt->dtype);
			np++;
		}
		used += len;
		*pos += len;
		if (*pos == lt->numel) {
			(*t)++;
			*pos = 0;
		}
	}
	return np;
}

static const char *
operand_name(const struct agg *a, int file)
{
	const char *f = a->in.files[file];

	return strcmp(f, "-") == 0 ? "<stdin>" : f;
}

static void
read_fully(int fd, void *buf, size_t n, uint64_t off, const char *name)
{
	unsigned char *p = buf;

	while (n > 0) {
		ssize_t r = pread(fd, p, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			tool_die("%s: %s", name, strerror(errno));
		if (r == 0)
			tool_die("%s: changed while being aggregated", name);
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
}

/*
 * Fill each listed item's chunk buffer (stride bytes apart in buf) with the
 * pieces, re-reading the files: pread for stored payloads, a whole record
 * for compressed ones.  A file that changed since pass 1 is an error.
 */
static void
read_chunk(struct agg *a, const size_t *which, size_t nwhich,
    const struct piece *pieces, size_t np, unsigned char *buf, size_t stride,
    struct fl_record *tmp, const struct fl_record *out)
{
	FILE *fp = NULL;
	int cur = -1;

	for (size_t w = 0; w < nwhich; w++) {
		const struct item *it = &a->items[which[w]];
		const char *name = operand_name(a, it->file);
		unsigned char *dst = buf + w * stride;

		if (it->file != cur) {
			const struct operand *op = &a->ops[it->file];
			struct stat st;

			if (fp != NULL)
				fclose(fp);
			if ((fp = fopen(a->in.files[it->file], "rb")) == NULL)
				tool_die("%s: %s", name, strerror(errno));
			if (fstat(fileno(fp), &st) < 0 || st.st_dev != op->dev ||
			    st.st_ino != op->ino || st.st_size != op->size ||
			    st.st_mtim.tv_sec != op->mtime.tv_sec ||
			    st.st_mtim.tv_nsec != op->mtime.tv_nsec)
				tool_die("%s: changed while being aggregated",
				    name);
			cur = it->file;
		}
		if (!it->zlib) {
			uint64_t base = it->offset + FL_PREAMBLE_SIZE + it->hlen;

			for (size_t p = 0; p < np; p++) {
				const struct fl_tensor *t =
				    &out->tensors[pieces[p].tensor];
				size_t es = fl_dtype_size(t->dtype);

				read_fully(fileno(fp), dst + pieces[p].bufoff,
				    pieces[p].len * es, base + t->offset +
				    pieces[p].start * es, name);
			}
			continue;
		}
		{
			struct fl_error err;

			if (fseeko(fp, (off_t)it->offset, SEEK_SET) < 0)
				tool_die("%s: %s", name, strerror(errno));
			if (fl_record_read(tmp, fp, &a->in.limits, &err) != 1 ||
			    fl_layout_check(&a->layout, tmp, &err) < 0)
				tool_die("%s: record %lu: changed while being "
				    "aggregated", name, it->recno);
			for (size_t p = 0; p < np; p++) {
				const struct fl_tensor *t =
				    &tmp->tensors[pieces[p].tensor];
				size_t es = fl_dtype_size(t->dtype);

				memcpy(dst + pieces[p].bufoff, (unsigned char *)
				    t->data + pieces[p].start * es,
				    pieces[p].len * es);
			}
		}
	}
	if (fp != NULL)
		fclose(fp);
}

/* The kernel for one piece: coordinate rules write out; Krum's first pass
 * adds distances into d2, its second averages the selected rows. */
static void
run_piece(const struct agg *a, int krum_pass, const void **rows,
    const double *scale, size_t n, const struct piece *pc,
    struct fl_record *out, double *d2)
{
	const struct opts *o = a->o;
	struct fl_tensor *t = &out->tensors[pc->tensor];
	size_t es = fl_dtype_size(t->dtype);
	void *dst = (unsigned char *)t->data + pc->start * es;
	struct fl_error err;
	int rc;

	if (o->rule == KRUM && krum_pass == 1)
		rc = fl_agg_sqdist(rows, scale, n, pc->len, t->dtype, d2, &err);
	else if (o->rule == MEDIAN)
		rc = fl_agg_coordinate(FL_COORD_MEDIAN, 0, rows, scale, n,
		    pc->len, t->dtype, dst, &err);
	else if (o->rule == TRIMMED)
		rc = fl_agg_coordinate(FL_COORD_TRIMMED,
		    (size_t)floor(o->trim * (double)n), rows, scale, n, pc->len,
		    t->dtype, dst, &err);
	else
		rc = fl_agg_coordinate(FL_COORD_MEAN, 0, rows, scale, n,
		    pc->len, t->dtype, dst, &err);
	if (rc < 0)
		tool_die("%s", err.msg);
}

/* One pass of a robust rule over the items listed in which. */
static void
robust_pass(struct agg *a, int krum_pass, const size_t *which, size_t n,
    struct fl_record *out, double *d2)
{
	const void **rows = tool_malloc(n * sizeof(*rows));
	double *scale = tool_malloc(n * sizeof(*scale));
	struct piece *pieces;

	for (size_t w = 0; w < n; w++)
		scale[w] = a->items[which[w]].scale;
	if (!a->chunked) {
		for (size_t t = 0; t < out->ntensors; t++) {
			struct piece pc = { t, 0, out->tensors[t].numel, 0 };

			for (size_t w = 0; w < n; w++)
				rows[w] = a->items[which[w]].raw +
				    out->tensors[t].offset;
			run_piece(a, krum_pass, rows, scale, n, &pc, out, d2);
		}
	} else {
		struct fl_record tmp;
		uint64_t cap = a->o->memory / ((uint64_t)a->nitems * 8);
		size_t t = 0, np, bytes;
		uint64_t pos = 0;
		unsigned char *buf;

		cap = cap / FL_AGG_BLOCK * FL_AGG_BLOCK;
		if (cap == 0)
			tool_die("--memory %llu is too small for %zu updates: "
			    "give at least %llu", (unsigned long long)a->o->memory,
			    a->nitems, (unsigned long long)a->nitems * 8 *
			    FL_AGG_BLOCK);
		pieces = tool_malloc((out->ntensors + 1) * sizeof(*pieces));
		buf = tool_malloc((size_t)cap * 8 * n);
		fl_record_init(&tmp);
		while ((np = plan_chunk(&a->layout, &t, &pos, cap, pieces,
		    &bytes)) > 0) {
			read_chunk(a, which, n, pieces, np, buf, bytes, &tmp, out);
			for (size_t p = 0; p < np; p++) {
				for (size_t w = 0; w < n; w++)
					rows[w] = buf + w * bytes +
					    pieces[p].bufoff;
				run_piece(a, krum_pass, rows, scale, n, &pieces[p],
				    out, d2);
			}
		}
		fl_record_free(&tmp);
		free(buf);
		free(pieces);
	}
	free(rows);
	free(scale);
}

static void
robust(struct agg *a, struct fl_record *out, uint64_t *rejected)
{
	const struct opts *o = a->o;
	size_t n = a->nitems, *which = tool_malloc(n * sizeof(*which));
	struct fl_error err;

	for (size_t i = 0; i < n; i++)
		which[i] = i;
	if (o->rule == TRIMMED && (size_t)floor(o->trim * (double)n) * 2 >= n)
		tool_die("--trim %g cuts every one of %zu updates", o->trim, n);
	if (o->rule != KRUM) {
		robust_pass(a, 0, which, n, out, NULL);
	} else {
		double *d2;
		size_t *sel;

		if (n < 2 * o->byzantine + 3)
			tool_die("krum with --byzantine=%llu needs at least "
			    "%llu updates, not %zu",
			    (unsigned long long)o->byzantine,
			    (unsigned long long)(2 * o->byzantine + 3), n);
		if (o->select > n - o->byzantine)
			tool_die("--select=%llu is more than the %llu updates "
			    "krum can trust (n - f)",
			    (unsigned long long)o->select,
			    (unsigned long long)(n - o->byzantine));
		if (n > SIZE_MAX / sizeof(double) / n)
			tool_die("out of memory");
		d2 = tool_malloc(n * n * sizeof(*d2));
		memset(d2, 0, n * n * sizeof(*d2));
		sel = tool_malloc(n * sizeof(*sel));
		robust_pass(a, 1, which, n, out, d2);
		if (fl_agg_krum(d2, n, o->byzantine, o->select, sel, NULL,
		    &err) < 0)
			tool_die("%s", err.msg);
		robust_pass(a, 2, sel, o->select, out, NULL);
		*rejected = n - o->select;
		free(sel);
		free(d2);
	}
	free(which);
}

/* ---- output ---- */

static void
set_meta(struct fl_record *out, const struct agg *a)
{
	const struct opts *o = a->o;
	struct fl_error err;
	char buf[FL_NUMBUF];
	const char *name = rule_names[o->rule];

	if (o->rule == KRUM && o->select > 1)
		name = "multi-krum";
	if (fl_meta_copy(out, &a->keep, &err) < 0)
		tool_die("%s", err.msg);
	fl_meta_del(out, "client");
	fl_meta_del(out, "weight");
	fl_meta_del(out, "round");
	if (fl_meta_set(out, "kind", "aggregate", &err) < 0 ||
	    fl_meta_set(out, "agg", name, &err) < 0 ||
	    fl_meta_setf(out, &err, "clients", "%llu",
	    (unsigned long long)a->clients) < 0 ||
	    (a->have_round && fl_meta_setf(out, &err, "round", "%llu",
	    (unsigned long long)a->round) < 0) ||
	    (isnan(o->denominator) && (a->all_weighted || (o->rule == MEAN &&
	    o->unweighted)) && fl_meta_set(out, "weight",
	    fl_format_double(buf, a->wsum), &err) < 0) ||
	    (!isnan(o->denominator) && fl_meta_set(out, "agg.denominator",
	    fl_format_double(buf, o->denominator), &err) < 0))
		tool_die("%s", err.msg);
}

static void
write_log(int fd, const char *path, struct agg *a, uint64_t rejected)
{
	const struct opts *o = a->o;
	char *line = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&line, &len);
	double lo = NAN, mid = NAN, hi = NAN;

	if (fp == NULL)
		tool_die("out of memory");
	if (a->have_float && a->nnorms > 0) {
		lo = hi = a->norms[0];
		for (size_t i = 1; i < a->nnorms; i++) {
			lo = fmin(lo, a->norms[i]);
			hi = fmax(hi, a->norms[i]);
		}
		mid = fl_agg_median(a->norms, a->nnorms);
	}
	if (a->have_round)
		fprintf(fp, "{\"round\":%llu,", (unsigned long long)a->round);
	else
		fputs("{\"round\":null,", fp);
	fprintf(fp, "\"rule\":\"%s\",\"records\":%llu,"
	    "\"clients\":%llu,\"weight\":", o->rule == KRUM && o->select > 1 ? "multi-krum" :
	    rule_names[o->rule], (unsigned long long)a->records,
	    (unsigned long long)a->clients);
	tool_json_number(fp, a->all_weighted || (o->rule == MEAN && o->unweighted) ?
	    a->wsum : NAN);
	fprintf(fp, ",\"dropped\":%llu,\"rejected\":%llu,\"bounded\":%llu,"
	    "\"norm\":{\"min\":", (unsigned long long)a->dropped,
	    (unsigned long long)rejected, (unsigned long long)a->bounded);
	tool_json_number(fp, lo);
	fputs(",\"median\":", fp);
	tool_json_number(fp, mid);
	fputs(",\"max\":", fp);
	tool_json_number(fp, hi);
	fputs("}}\n", fp);
	if (fclose(fp) != 0)
		tool_die("out of memory");
	/* One write on an O_APPEND descriptor: lines of concurrent runs do
	 * not interleave. */
	if (write(fd, line, len) != (ssize_t)len || close(fd) < 0)
		tool_die("%s: %s", path, strerror(errno));
	free(line);
}

int
main(int argc, char **argv)
{
	enum { OPT_DROP = 256, OPT_LOG, OPT_MEMORY, OPT_NORM_BOUND,
		OPT_REVEALS, OPT_ROSTER, OPT_SELECT, OPT_SHARES, OPT_TRIM,
		OPT_UNWEIGHTED, OPT_DENOMINATOR };
	static const struct option longopts[] = {
		{ "byzantine", required_argument, NULL, 'f' },
		{ "denominator", required_argument, NULL, OPT_DENOMINATOR },
		{ "drop-nonfinite", no_argument, NULL, OPT_DROP },
		{ "help", no_argument, NULL, 'h' },
		{ "log", required_argument, NULL, OPT_LOG },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "min-clients", required_argument, NULL, 'n' },
		{ "norm-bound", required_argument, NULL, OPT_NORM_BOUND },
		{ "output", required_argument, NULL, 'o' },
		{ "reveals", required_argument, NULL, OPT_REVEALS },
		{ "roster", required_argument, NULL, OPT_ROSTER },
		{ "shares", required_argument, NULL, OPT_SHARES },
		{ "rule", required_argument, NULL, 'r' },
		{ "select", required_argument, NULL, OPT_SELECT },
		{ "threads", required_argument, NULL, 'j' },
		{ "trim", required_argument, NULL, OPT_TRIM },
		{ "unweighted", no_argument, NULL, OPT_UNWEIGHTED },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct opts o = { MEAN, 0, 0, 0, 0.2, 0, 1, 1, UINT64_C(1) << 30,
		0, 0, 0, 0, NULL, NULL, NULL, NULL, 1, NAN };
	struct tool_output out;
	struct fl_record res;
	struct fl_error err;
	struct agg a;
	const char *output = NULL;
	uint64_t rejected = 0;
	int c, rc, logfd = -1;

	tool_init(usage);
	while ((c = getopt_long(argc, argv, "f:hj:n:o:r:V", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'f':
			o.byzantine = tool_opt_u64("--byzantine", optarg, 0,
			    UINT32_MAX);
			o.set_krum = 1;
			break;
		case OPT_DROP:
			o.drop_nonfinite = 1;
			break;
		case 'h':
			tool_help(options);
		case 'j':
			o.threads = (int)tool_opt_u64("--threads", optarg, 1,
			    256);
			break;
		case OPT_LOG:
			o.log = optarg;
			break;
		case OPT_REVEALS:
			o.reveals = optarg;
			break;
		case OPT_ROSTER:
			o.roster = optarg;
			break;
		case OPT_SHARES:
			o.shares = optarg;
			break;
		case OPT_MEMORY:
			o.memory = parse_bytes("--memory", optarg);
			o.set_memory = 1;
			break;
		case 'n':
			o.min_clients = tool_opt_u64("--min-clients", optarg,
			    1, UINT64_MAX);
			break;
		case OPT_NORM_BOUND:
			o.norm_bound = tool_opt_double("--norm-bound", optarg,
			    0, INFINITY);
			if (!(o.norm_bound > 0))
				tool_die("invalid --norm-bound '%s': must be "
				    "positive", optarg);
			break;
		case 'o':
			output = optarg;
			break;
		case 'r': {
			size_t i;

			for (i = 0; i < sizeof(rule_names) /
			    sizeof(rule_names[0]); i++)
				if (strcmp(optarg, rule_names[i]) == 0)
					break;
			if (i == sizeof(rule_names) / sizeof(rule_names[0]))
				tool_usage_error("unknown rule '%s': mean, sum, "
				    "median, trimmed-mean or krum", optarg);
			o.rule = (enum rule)i;
			o.set_rule = 1;
			break;
		}
		case OPT_SELECT:
			o.select = tool_opt_u64("--select", optarg, 1,
			    UINT32_MAX);
			o.set_krum = 1;
			break;
		case OPT_TRIM:
			o.trim = tool_opt_double("--trim", optarg, 0, 0.5);
			if (!(o.trim < 0.5))
				tool_die("invalid --trim '%s': must be below "
				    "0.5", optarg);
			o.set_trim = 1;
			break;
		case OPT_UNWEIGHTED:
			o.unweighted = 1;
			break;
		case OPT_DENOMINATOR:
			o.denominator = tool_opt_positive("--denominator",
			    optarg);
			break;
		case 'V':
			tool_version();
		default:
			tool_usage_error(NULL);
		}
	}
	if (o.threads > 1 && o.roster == NULL)
		tool_usage_error("-j goes with --roster (unmasking)");
	if ((o.roster == NULL) != (o.reveals == NULL) ||
	    (o.roster == NULL) != (o.shares == NULL))
		tool_usage_error("--roster, --shares and --reveals go together");
	if (o.roster != NULL) {
		/* Masked records can only be summed. */
		if (o.set_rule && o.rule != SUM)
			tool_usage_error("masked records are summed: --roster "
			    "takes no --rule but sum");
		o.rule = SUM;
	}
	if (o.set_trim && o.rule != TRIMMED)
		tool_usage_error("--trim goes with --rule=trimmed-mean");
	if (o.set_krum && o.rule != KRUM)
		tool_usage_error("--byzantine and --select go with --rule=krum");
	if (o.unweighted && o.rule != MEAN)
		tool_usage_error("--unweighted goes with --rule=mean");
	if (!isnan(o.denominator) && (o.rule != MEAN || o.roster != NULL))
		tool_usage_error("--denominator goes with --rule=mean, not "
		    "with --roster (decode the sum with fl-quantize -d "
		    "--mean=N)");
	if (o.set_memory && (o.rule == MEAN || o.rule == SUM))
		tool_usage_error("--memory is for the robust rules (mean and "
		    "sum stream in one model's memory)");

	/* Refuse a terminal before the work, not after it. */
	if (output == NULL)
		tool_output_open(&out, NULL, 1);
	if (o.log != NULL && (logfd = open(o.log, O_WRONLY | O_APPEND |
	    O_CREAT | O_CLOEXEC, 0666)) < 0)
		tool_die("%s: %s", o.log, strerror(errno));

	memset(&a, 0, sizeof(a));
	a.o = &o;
	a.all_weighted = 1;
	fl_record_init(&a.rec);
	fl_record_init(&a.keep);
	tool_input_init(&a.in, argc - optind, argv + optind);
	a.ops = xrealloc(NULL, (size_t)a.in.nfiles, sizeof(*a.ops));
	if (o.roster != NULL) {
		FILE *fp = fopen(o.roster, "rb");

		if (fp == NULL)
			tool_die("%s: %s", o.roster, strerror(errno));
		if (fl_sa_roster_read(&a.roster, fp, &err) < 0)
			tool_die("%s: %s", o.roster, err.msg);
		fclose(fp);
		a.survivors = xrealloc(NULL, a.roster.n, sizeof(*a.survivors));
		if (sodium_init() < 0)
			tool_die("libsodium failed to start");
	}
	memset(a.ops, 0, (size_t)a.in.nfiles * sizeof(*a.ops));
	if ((o.rule == MEAN || o.rule == SUM) && o.norm_bound == 0 &&
	    !o.drop_nonfinite) {
		/* One bad input fails the round. */
		while ((rc = take_streamed(&a)) != 0)
			if (rc < 0)
				exit(1);
	} else {
		while ((rc = tool_input_next(&a.in, &a.rec)) != 0) {
			if (rc < 0)
				exit(1);
			take(&a);
		}
	}

	if (a.records == 0)
		tool_die(a.dropped ? "no updates left: %llu dropped" :
		    "no updates to aggregate", (unsigned long long)a.dropped);
	if (a.clients < o.min_clients)
		tool_die("%llu clients, fewer than --min-clients %llu: nothing "
		    "written", (unsigned long long)a.clients,
		    (unsigned long long)o.min_clients);

	if (o.rule == MEAN || o.rule == SUM) {
		/* The result is written over the sums: no second
		 * model-sized allocation. */
		fl_record_clear(&a.rec);
		set_meta(&a.rec, &a);
		if (fl_acc_take_result(&a.acc, &a.rec, o.rule != MEAN ? 1 :
		    isnan(o.denominator) ? a.wsum : o.denominator, &err) < 0)
			tool_die("%s", err.msg);
		if (a.masked)
			unmask(&a, &a.rec);
		else if (o.roster != NULL)
			tool_die("--roster given, but the records are not "
			    "masked");
		fl_acc_free(&a.acc);
		if (output != NULL)
			tool_output_open(&out, output, 1);
		tool_output_record(&out, &a.rec, 0);
	} else {
		fl_record_free(&a.rec);
		fl_record_init(&res);
		set_meta(&res, &a);
		if (fl_layout_add(&a.layout, &res, &err) < 0)
			tool_die("%s", err.msg);
		robust(&a, &res, &rejected);
		if (output != NULL)
			tool_output_open(&out, output, 1);
		tool_output_record(&out, &res, 0);
		fl_record_free(&res);
	}
	tool_output_close(&out);
	if (logfd >= 0)
		write_log(logfd, o.log, &a, rejected);

	for (size_t i = 0; i < a.nitems; i++)
		free(a.items[i].raw);
	free(a.items);
	for (size_t i = 0; i < a.seencap; i++)
		free(a.seen[i].id);
	free(a.seen);
	free(a.norms);
	free(a.ops);
	free(a.survivors);
	if (o.roster != NULL)
		fl_sa_roster_free(&a.roster);
	fl_layout_free(&a.layout);
	fl_record_free(&a.keep);
	fl_record_free(&a.rec);
	tool_input_free(&a.in);
	return 0;
}
