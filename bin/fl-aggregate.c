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
    "      --dtype=TYPE       write the float tensors as TYPE (f32, f64, f16,\n"
    "                         bf16; default: f32 for half inputs, else theirs)\n"
    "      --exclude=GLOBS    mean and sum: leave out the tensors whose names\n"
    "                         match (comma-separated globs, repeatable)\n"
    "  -h, --help             print this help and exit\n"
    "      --log=FILE         append a JSON line on the aggregation to FILE\n"
    "      --memory=BYTES     robust rules: hold at most BYTES of values\n"
    "                         (suffix k, M, G, T; default 1G), beyond that\n"
    "                         re-read the files in coordinate chunks\n"
    "  -n, --min-clients=N    fail, writing nothing, below N clients\n"
    "                         (default 1)\n"
    "      --norm-bound=C     scale each update down to L2 norm C first\n"
    "      --only=GLOBS       mean and sum: aggregate only the tensors whose\n"
    "                         names match (an integer one by its full name);\n"
    "                         the others are left out of the aggregate\n"
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

struct opts {
	enum fl_agg_rule rule;
	int unweighted, drop_nonfinite;
	double norm_bound;      /* 0: none */
	double trim;
	uint64_t byzantine, select, min_clients, memory;
	int set_trim, set_krum, set_memory, set_rule;
	const char *log;
	const char *roster, *reveals, *shares;  /* secure aggregation */
	int threads;
	double denominator;     /* --denominator, else NAN */
	struct fl_select sel;   /* --only, --exclude */
	int dtype;              /* --dtype, else -1 */
};

struct agg {
	const struct opts *o;
	struct tool_input in;
	struct fl_record rec;           /* the record being read, reused */
	struct fl_aggregation g;        /* what the records add up to */
	struct fl_robust rob;           /* robust rules */
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

/* Why fl_aggregation_admit or _weigh refused the record, in our words:
 * the first record and a duplicate's first are named by file. */
static _Noreturn void
refused(const struct agg *a, const struct fl_error *err)
{
	const struct fl_aggregation *g = &a->g;
	const struct fl_tensor *t = a->rec.tensors;
	char where[512], q1[FL_QUOTE], q2[FL_QUOTE];
	const char *v1, *v2;

	snprintf(where, sizeof(where), "record %lu of %s", g->first_recno,
	    g->first_file);
	switch (g->refusal) {
	case FL_AGG_NOT_REFUSED:
		tool_die("%s", err->msg);
	case FL_AGG_MIXED:
		bad(a, "record is %s, %s is %s: masked and plain updates never "
		    "mix", g->masked ? "plain" : "masked", where,
		    g->masked ? "masked" : "plain");
	case FL_AGG_DISAGREE:
		v1 = fl_meta_get(&a->rec, g->key);
		v2 = fl_meta_get(&g->keep, g->key);
		bad(a, "%s: %s%s%s here, %s%s%s in %s", g->key, v1 ? "'" : "",
		    v1 ? fl_escape(q1, sizeof(q1), v1, strlen(v1)) : "absent",
		    v1 ? "'" : "", v2 ? "'" : "", v2 ? fl_escape(q2,
		    sizeof(q2), v2, strlen(v2)) : "absent", v2 ? "'" : "",
		    where);
	case FL_AGG_DUPLICATE:
		bad(a, "duplicate client '%s' (also record %lu of %s)",
		    fl_meta_get(&a->rec, "client"), g->dup->recno,
		    g->dup->file);
	case FL_AGG_LAYOUT:
		bad(a, "%s (%s)", err->msg, where);
	case FL_AGG_INTEGER:
		bad(a, "%s", err->msg);
	case FL_AGG_INTEGER_BOUND:
		t += g->tensor;
		bad(a, "tensor '%s' is %s: --norm-bound takes float tensors",
		    t->name, fl_dtype_name(t->dtype));
	default:
		bad(a, "%s", err->msg);
	}
}

static const char *
operand_name(const struct agg *a, int file)
{
	const char *f = a->in.files[file];

	return strcmp(f, "-") == 0 ? "<stdin>" : f;
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

/* One protocol file into u; a failure is fatal, named by the file. */
static void
unmask_read(struct fl_sa_unmasking *u, const char *path,
    int (*fn)(struct fl_sa_unmasking *, FILE *, struct fl_error *))
{
	struct fl_error err;
	FILE *fp = fopen(path, "rb");

	if (fp == NULL)
		tool_die("%s: %s", path, strerror(errno));
	if (fn(u, fp, &err) < 0) {
		if (u->recno)
			tool_die("%s: record %lu: %s", path, u->recno, err.msg);
		tool_die("%s", err.msg);
	}
	fclose(fp);
}

/* Take the masks out of the modular sum in out. */
static void
unmask(struct agg *a, struct fl_record *out)
{
	const struct opts *o = a->o;
	struct fl_sa_unmasking u;
	struct fl_error err;
	int rc;

	if (fl_sa_unmasking_init(&u, &a->roster, &err) < 0)
		tool_die("%s", err.msg);
	unmask_read(&u, o->shares, fl_sa_unmasking_shares);
	unmask_read(&u, o->reveals, fl_sa_unmasking_reveals);
	rc = fl_sa_unmasking_run(&u, out, a->survivors, a->nsurvivors,
	    fl_meta_get(&a->g.keep, "secagg.shared"), o->threads, &err);
	/* What the reveals held that failed the owners' commitments. */
	for (size_t i = 0; i < u.faults.n; i++)
		tool_warn("%s: client '%s' revealed a wrong share of client "
		    "'%s''s %s (it lied, or '%s' dealt it a wrong one)",
		    o->reveals, a->roster.pub[u.faults.v[i].from - 1].id,
		    a->roster.pub[u.faults.v[i].of - 1].id,
		    u.faults.v[i].self ? "self-mask secret" : "mask key",
		    a->roster.pub[u.faults.v[i].of - 1].id);
	if (rc < 0)
		tool_die("%s: %s", o->reveals, err.msg);
	fl_sa_unmasking_free(&u);
	if (fl_sa_unmasked_meta(out, &a->roster, &err) < 0)
		tool_die("%s: %s", o->roster, err.msg);
}

/* ---- pass 1: check every record ---- */

/* What the header tells (every check but the values'): the record's
 * weight, and its client count in *clients. */
static double
take_head(struct agg *a, uint64_t *clients)
{
	int idx = a->in.next - 1;
	struct fl_error err;
	double w;

	fl_robust_file(&a->rob, (size_t)idx, a->in.files[idx],
	    a->in.fp != stdin ? fileno(a->in.fp) : -1);
	if (fl_aggregation_admit(&a->g, &a->rec, a->in.name, a->in.recno,
	    &err) < 0)
		refused(a, &err);
	if (a->g.masked)
		note_survivor(a, fl_meta_get(&a->rec, "client"));
	if (fl_aggregation_weigh(&a->g, &a->rec, &w, clients, &err) < 0)
		refused(a, &err);
	return w;
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
	a->g.dropped++;
}

static void
take(struct agg *a)
{
	const struct opts *o = a->o;
	struct fl_error err;
	struct fl_scan s;
	uint64_t clients;
	double w, scale;

	w = take_head(a, &clients);
	fl_record_scan(&a->rec, &s);
	if (s.nonfinite) {
		drop_or_die(a, &s);
		return;
	}
	scale = fl_aggregation_scale(&a->g, s.l2);
	if (o->rule == FL_AGG_MEAN || o->rule == FL_AGG_SUM) {
		if (fl_acc_add(&a->g.acc, &a->rec, o->rule == FL_AGG_MEAN ?
		    w * scale : scale, NULL, &err) < 0)
			bad(a, "%s", err.msg);
	} else if (fl_robust_hold(&a->rob, &a->rec, (size_t)(a->in.next - 1),
	    a->in.recno, a->in.offset, scale, &err) < 0) {
		if (err.code == FL_ELIMIT)
			tool_die("the updates need more than --memory %llu "
			    "bytes and %s cannot be re-read in chunks: raise "
			    "--memory, or give regular files (standard input "
			    "cannot be re-read)", (unsigned long long)o->memory,
			    operand_name(a, a->rob.fail_file));
		tool_die("%s", err.msg);
	}
	if (fl_aggregation_count(&a->g, &a->rec, s.l2, w, clients, &err) < 0)
		tool_die("%s", err.msg);
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

	return fl_acc_add_piece(&st->a->g.acc, rec, offset, p, len,
	    st->a->o->rule == FL_AGG_MEAN ? st->w : 1, &st->scan, err);
}

static int
take_streamed(struct agg *a)
{
	struct streamed st = { a, { 0, 0, 0 }, 0, 0 };
	struct fl_stream fs = { stream_head, stream_piece, &st };
	struct fl_error err;
	int rc = tool_input_next_stream(&a->in, &a->rec, &fs);

	if (rc == 1) {
		if (st.scan.nonfinite)
			drop_or_die(a, &st.scan);
		if (fl_aggregation_count(&a->g, &a->rec, st.scan.l2, st.w,
		    st.clients, &err) < 0)
			tool_die("%s", err.msg);
	}
	return rc;
}

/*
 * --only / --exclude: the tensors left out are dropped from the record
 * before it is checked and added (each record whole in memory, one at a
 * time: still one model's memory).  An integer tensor must be left out by
 * name, as everywhere: the mean says so when one is left in.
 */
static void
select_record(struct agg *a)
{
	struct fl_error err;

	/* Not selected by default is not enough for an integer tensor: the
	 * sum of plain integers is exact, and leaving one out is said. */
	for (size_t i = 0; i < a->rec.ntensors; i++) {
		const struct fl_tensor *t = &a->rec.tensors[i];

		if (fl_select_why(&a->o->sel, t) == FL_SELECT_INTEGER)
			bad(a, "tensor '%s' is %s: %s takes float tensors; "
			    "leave it out (--exclude '%s')", t->name,
			    fl_dtype_name(t->dtype), fl_agg_rule_name(
			    a->o->rule), t->name);
	}
	tool_select_check(&a->o->sel, &a->rec, a->in.name, a->in.recno, NULL);
	if (fl_select_split(&a->o->sel, &a->rec, NULL, NULL, &err) < 0)
		bad(a, "%s", err.msg);
}

/* ---- robust rules ---- */

static void
robust(struct agg *a, struct fl_record *out, uint64_t *rejected)
{
	const struct opts *o = a->o;
	size_t n = a->rob.n;
	struct fl_error err;

	if (o->rule == FL_AGG_TRIMMED &&
	    (size_t)floor(o->trim * (double)n) * 2 >= n)
		tool_die("--trim %g cuts every one of %zu updates", o->trim, n);
	if (o->rule == FL_AGG_KRUM && n < 2 * o->byzantine + 3)
		tool_die("krum with --byzantine=%llu needs at least %llu "
		    "updates, not %zu", (unsigned long long)o->byzantine,
		    (unsigned long long)(2 * o->byzantine + 3), n);
	if (o->rule == FL_AGG_KRUM && o->select > n - o->byzantine)
		tool_die("--select=%llu is more than the %llu updates krum can "
		    "trust (n - f)", (unsigned long long)o->select,
		    (unsigned long long)(n - o->byzantine));
	if (fl_robust_run(&a->rob, &a->g.layout, o->rule, o->trim,
	    o->byzantine, o->select, out, rejected, &err) < 0) {
		if (a->rob.fail_file >= 0)
			tool_die("%s: %s", operand_name(a, a->rob.fail_file),
			    err.msg);
		tool_die("%s", err.msg);
	}
}

/* ---- output ---- */

/* --dtype: the aggregate's float tensors as dtype (-1: as they are). */
static void
cast(struct fl_record *rec, int dtype, const char *output)
{
	struct fl_error err;

	if (dtype >= 0 && fl_record_cast(rec, (enum fl_dtype)dtype, &err) < 0)
		tool_die("%s: the aggregate does not fit --dtype %s: %s",
		    output ? output : "<stdout>",
		    fl_dtype_name((enum fl_dtype)dtype), err.msg);
}

static void
write_log(int fd, const char *path, struct agg *a, uint64_t rejected)
{
	struct fl_aggregation *g = &a->g;
	char *line = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&line, &len);
	double lo, mid, hi;

	if (fp == NULL)
		tool_die("out of memory");
	fl_aggregation_norms(g, &lo, &mid, &hi);
	if (g->have_round)
		fprintf(fp, "{\"round\":%llu,", (unsigned long long)g->round);
	else
		fputs("{\"round\":null,", fp);
	fprintf(fp, "\"rule\":\"%s\",\"records\":%llu,\"clients\":%llu,"
	    "\"weight\":", fl_aggregation_label(g),
	    (unsigned long long)g->records, (unsigned long long)g->clients);
	fl_json_number(fp, g->all_weighted || (g->rule == FL_AGG_MEAN &&
	    g->unweighted) ? g->wsum : NAN);
	fprintf(fp, ",\"dropped\":%llu,\"rejected\":%llu,\"bounded\":%llu,"
	    "\"norm\":{\"min\":", (unsigned long long)g->dropped,
	    (unsigned long long)rejected, (unsigned long long)g->bounded);
	fl_json_number(fp, lo);
	fputs(",\"median\":", fp);
	fl_json_number(fp, mid);
	fputs(",\"max\":", fp);
	fl_json_number(fp, hi);
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
		OPT_UNWEIGHTED, OPT_DENOMINATOR, OPT_DTYPE };
	static const struct option longopts[] = {
		{ "byzantine", required_argument, NULL, 'f' },
		{ "denominator", required_argument, NULL, OPT_DENOMINATOR },
		{ "drop-nonfinite", no_argument, NULL, OPT_DROP },
		{ "dtype", required_argument, NULL, OPT_DTYPE },
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
		TOOL_SELECT_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct opts o = { FL_AGG_MEAN, 0, 0, 0, 0.2, 0, 1, 1, UINT64_C(1) << 30,
		0, 0, 0, 0, NULL, NULL, NULL, NULL, 1, NAN };
	struct tool_output out;
	struct fl_record res;
	struct fl_error err;
	struct agg a;
	const char *output = NULL;
	uint64_t rejected = 0;
	int c, rc, logfd = -1;

	tool_init(usage, argv);
	fl_select_init(&o.sel);
	o.dtype = -1;
	while ((c = getopt_long(argc, argv, "f:hj:n:o:r:V", longopts,
	    NULL)) != -1) {
		if (tool_select_option(c, optarg, &o.sel))
			continue;
		switch (c) {
		case 'f':
			o.byzantine = tool_opt_u64("--byzantine", optarg, 0,
			    UINT32_MAX);
			o.set_krum = 1;
			break;
		case OPT_DROP:
			o.drop_nonfinite = 1;
			break;
		case OPT_DTYPE:
			o.dtype = (int)tool_opt_dtype("--dtype", optarg);
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
		case 'r':
			if (fl_agg_rule_parse(optarg, &o.rule) < 0)
				tool_usage_error("unknown rule '%s': mean, sum, "
				    "median, trimmed-mean or krum", optarg);
			o.set_rule = 1;
			break;
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
		if (o.set_rule && o.rule != FL_AGG_SUM)
			tool_usage_error("masked records are summed: --roster "
			    "takes no --rule but sum");
		o.rule = FL_AGG_SUM;
	}
	if (o.set_trim && o.rule != FL_AGG_TRIMMED)
		tool_usage_error("--trim goes with --rule=trimmed-mean");
	if (o.set_krum && o.rule != FL_AGG_KRUM)
		tool_usage_error("--byzantine and --select go with --rule=krum");
	if (o.unweighted && o.rule != FL_AGG_MEAN)
		tool_usage_error("--unweighted goes with --rule=mean");
	if (!isnan(o.denominator) && (o.rule != FL_AGG_MEAN || o.roster != NULL))
		tool_usage_error("--denominator goes with --rule=mean, not "
		    "with --roster (decode the sum with fl-quantize -d "
		    "--mean=N)");
	/* Selection drops tensors from each record as it is read; the
	 * robust rules re-read files in chunks (the dropped tensors would be
	 * back), and a masked record is one vector. */
	if (fl_select_active(&o.sel) && (o.roster != NULL ||
	    (o.rule != FL_AGG_MEAN && o.rule != FL_AGG_SUM)))
		tool_usage_error("--only and --exclude go with --rule=mean or "
		    "sum of plain records");
	if (o.dtype >= 0 && o.roster != NULL)
		tool_usage_error("--dtype: a masked sum is integers (give it to "
		    "fl-quantize -d --dtype)");
	if (o.set_memory && (o.rule == FL_AGG_MEAN || o.rule == FL_AGG_SUM))
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
	fl_record_init(&a.rec);
	fl_aggregation_init(&a.g, o.rule, o.unweighted, o.denominator,
	    o.norm_bound, o.select);
	tool_input_init(&a.in, argc - optind, argv + optind);
	if (fl_robust_init(&a.rob, (size_t)a.in.nfiles, o.memory,
	    &a.in.limits, &err) < 0)
		tool_die("%s", err.msg);
	if (o.roster != NULL) {
		FILE *fp = fopen(o.roster, "rb");

		if (fp == NULL)
			tool_die("%s: %s", o.roster, strerror(errno));
		if (fl_sa_roster_read(&a.roster, fp, &err) < 0)
			tool_die("%s: %s", o.roster, err.msg);
		fclose(fp);
		a.survivors = tool_malloc(a.roster.n * sizeof(*a.survivors));
		if (sodium_init() < 0)
			tool_die("libsodium failed to start");
	}
	if ((o.rule == FL_AGG_MEAN || o.rule == FL_AGG_SUM) &&
	    o.norm_bound == 0 && !o.drop_nonfinite &&
	    !fl_select_active(&o.sel)) {
		/* One bad input fails the round. */
		while ((rc = take_streamed(&a)) != 0)
			if (rc < 0)
				exit(1);
	} else {
		while ((rc = tool_input_next(&a.in, &a.rec)) != 0) {
			if (rc < 0)
				exit(1);
			if (fl_select_active(&o.sel))
				select_record(&a);
			take(&a);
		}
	}

	if (a.g.records == 0)
		tool_die(a.g.dropped ? "no updates left: %llu dropped" :
		    "no updates to aggregate", (unsigned long long)a.g.dropped);
	if (a.g.clients < o.min_clients)
		tool_die("%llu clients, fewer than --min-clients %llu: nothing "
		    "written", (unsigned long long)a.g.clients,
		    (unsigned long long)o.min_clients);

	if (o.rule == FL_AGG_MEAN || o.rule == FL_AGG_SUM) {
		/* The result is written over the sums: no second
		 * model-sized allocation. */
		fl_record_clear(&a.rec);
		if (fl_aggregation_meta(&a.g, &a.rec, &err) < 0 ||
		    fl_acc_take_result(&a.g.acc, &a.rec, o.rule != FL_AGG_MEAN ?
		    1 : isnan(o.denominator) ? a.g.wsum : o.denominator,
		    &err) < 0)
			tool_die("%s", err.msg);
		if (a.g.masked)
			unmask(&a, &a.rec);
		else if (o.roster != NULL)
			tool_die("--roster given, but the records are not "
			    "masked");
		fl_acc_free(&a.g.acc);
		cast(&a.rec, o.dtype, output);
		if (output != NULL)
			tool_output_open(&out, output, 1);
		tool_output_record(&out, &a.rec, 0);
	} else {
		fl_record_free(&a.rec);
		fl_record_init(&res);
		if (fl_aggregation_meta(&a.g, &res, &err) < 0 ||
		    fl_layout_add(&a.g.layout, &res, &err) < 0)
			tool_die("%s", err.msg);
		robust(&a, &res, &rejected);
		cast(&res, o.dtype, output);
		if (output != NULL)
			tool_output_open(&out, output, 1);
		tool_output_record(&out, &res, 0);
		fl_record_free(&res);
	}
	tool_output_close(&out);
	if (logfd >= 0)
		write_log(logfd, o.log, &a, rejected);

	free(a.survivors);
	if (o.roster != NULL)
		fl_sa_roster_free(&a.roster);
	fl_robust_free(&a.rob);
	fl_aggregation_free(&a.g);
	fl_record_free(&a.rec);
	tool_input_free(&a.in);
	fl_select_free(&o.sel);
	return 0;
}
