/* SPDX-License-Identifier: ISC */
/*
 * fl-quantize - the ring encoding for secure aggregation and its decoding:
 * a shared randomized Hadamard rotation, one global scale for all clients,
 * stochastic rounding with conditional re-rounding to the integers mod 2^b
 * (stored as u32), and the decoding of a modular sum of such records; also
 * plain rounding (--bits), EDEN and sparsification.  The codecs are
 * libfl's (lib/compress/codec*.c): here are the options, the record loop,
 * the residual file and the messages.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tool.h"

static const char usage[] =
    "fl-quantize --bits=b [--per-tensor] [--seed=text] [--stats] [-z]\n"
    "           [--only=patterns] [--exclude=patterns] [-o file] [file ...]\n"
    "       fl-quantize --eden=b [--rotation-seed=text] [--stats] [-z]\n"
    "           [--only=patterns] [--exclude=patterns] [-o file] [file ...]\n"
    "       fl-quantize --ring=bits --clients=n [-c clip] [--noise=z] [--scale=s]\n"
    "           [--beta=b] [--modclip-prob=p] [--rotation=hd|none]\n"
    "           [--rotation-seed=text] [--seed=text] [--stats] [-z] [-o file]\n"
    "           [file ...]\n"
    "       fl-quantize --rand-k=k [--sparse-seed=text] [--stats] [-z]\n"
    "           [--only=patterns] [--exclude=patterns] [-o file] [file ...]\n"
    "       fl-quantize --top-k=k [--residual=file] [--stats] [-z]\n"
    "           [--only=patterns] [--exclude=patterns] [-o file] [file ...]\n"
    "       fl-quantize -d [--mean[=n]] [--dtype=type] [--stats] [-z] [-o file]\n"
    "           [file ...]";

static const char options[] =
    "Encode updates in the ring Z_2^b for secure aggregation, round or sparsify\n"
    "them, or decode a sum.\n"
    "\n"
    "      --beta=B              conditional rounding: redraw the rounding until\n"
    "                            the tighter bound holds (default e^-0.5; 0: off)\n"
    "  -b, --bits=B              stochastic rounding to B bits (1 to 16), one\n"
    "                            scale per record (no secure aggregation)\n"
    "  -c, --clip=C              the L2 clip bound (default: the record's dp.clip)\n"
    "  -d, --decode              decode (a modular sum of) ring records, or\n"
    "                            (a sum of) rand-k records, to f32\n"
    "      --dtype=TYPE          with -d: write the float tensors as TYPE (f32,\n"
    "                            f64, f16 or bf16)\n"
    "      --exclude=PATTERNS    with --bits, --eden, --rand-k, --top-k: leave\n"
    "                            out the tensors whose names match a glob\n"
    "                            pattern (comma-separated; repeatable); they\n"
    "                            pass through untouched\n"
    "  -e, --eden=B              EDEN: rotation and Lloyd-Max levels, B bits\n"
    "                            (1 to 4; no secure aggregation)\n"
    "  -h, --help                print this help and exit\n"
    "      --mean[=N]            with -d: divide a sum by the record's clients,\n"
    "                            or by the public N (a fixed denominator)\n"
    "      --modclip-prob=P      wrap-around probability the scale allows (1e-4)\n"
    "  -n, --clients=N           expected number of clients summed\n"
    "      --noise=Z             noise multiplier fl-clip-noise will add (0)\n"
    "      --only=PATTERNS       with --bits, --eden, --rand-k, --top-k: encode\n"
    "                            only the tensors whose names match; the others\n"
    "                            pass through untouched (integer tensors do by\n"
    "                            default)\n"
    "  -o, --output=FILE         write to FILE atomically instead of stdout\n"
    "      --per-tensor          with --bits: one scale per tensor\n"
    "      --rand-k=K            keep K coordinates (or P%), the same for all\n"
    "                            clients of a round, scaled by d/K (unbiased)\n"
    "      --residual=FILE       with --top-k: error feedback; the residual is\n"
    "                            read if FILE exists, then replaced atomically\n"
    "  -r, --ring=BITS           ring encoding mod 2^BITS (2 to 32) of an update\n"
    "                            or of a rand-k record's values\n"
    "      --rotation=R          hd (randomized Hadamard, default) or none\n"
    "      --rotation-seed=TEXT  PUBLIC seed of the rotation, shared by all\n"
    "                            clients (default: round-N from the record's round)\n"
    "      --scale=S             the global scale (default: from bits, clients,\n"
    "                            clip and noise)\n"
    "      --seed=TEXT           derive the rounding from TEXT: reproducible and\n"
    "                            NOT PRIVATE (tests and simulations only)\n"
    "      --sparse-seed=TEXT    PUBLIC seed of the rand-k coordinates, shared by\n"
    "                            all clients (default: round-N from the record)\n"
    "      --stats               print the error (vNMSE) and the bytes before and\n"
    "                            after of each record on stderr\n"
    "      --top-k=K             keep the K (or P%) largest magnitudes\n"
    "  -V, --version             print the version and exit\n"
    "  -z, --zlib                compress the payload with zlib\n";

struct opts {
	int bits, decode, mean, rotate, stats, zlevel, sr, per_tensor, eden;
	uint64_t clients;
	double clip, noise, scale, beta, modclip;
	double denominator;     /* --mean=N, else NAN */
	const char *rotation_seed, *seed;
	const char *randk, *topk, *residual, *sparse_seed;
	int dtype;              /* -d --dtype, else -1 */
};

/* A library failure about the record just read: "FILE: record N: why";
 * out of memory is not the record's. */
static _Noreturn void
die_rec(const struct tool_input *in, const struct fl_error *err)
{
	if (err->code == FL_ENOMEM)
		tool_die("out of memory");
	tool_die("%s: record %lu: %s", in->name, in->recno, err->msg);
}

/* ---- the error-feedback residual of --top-k ---- */

/*
 * The client's error-feedback state (fl_sparse_encode): read from path if
 * it exists, carried from record to record, and written back atomically
 * once every record is out.
 */
struct residual {
	const char *path;
	struct fl_ef_state ef;
};

/* Its temporary file until it is renamed: removed however the program
 * ends before that. */
static struct fl_atomic *pending_residual;

static void
remove_pending_residual(void)
{
	if (pending_residual != NULL)
		fl_atomic_abort(pending_residual);
	pending_residual = NULL;
}

static void
residual_load(struct residual *rs, const struct fl_limits *lim)
{
	struct fl_record extra;
	struct fl_error err;
	FILE *fp;
	int rc;

	fl_record_init(&rs->ef.rec);
	if ((fp = fopen(rs->path, "rb")) == NULL) {
		if (errno == ENOENT)
			return;         /* the first round: zero */
		tool_die("%s: %s", rs->path, strerror(errno));
	}
	if ((rc = fl_record_read(&rs->ef.rec, fp, lim, &err)) < 0)
		tool_die("%s: record 1: %s", rs->path, err.msg);
	if (rc == 0)
		tool_die("%s: no record", rs->path);
	fl_record_init(&extra);
	if ((rc = fl_record_read(&extra, fp, lim, &err)) < 0)
		tool_die("%s: record 2: %s", rs->path, err.msg);
	if (rc == 1)
		tool_die("%s: record 2: more than one record", rs->path);
	fl_record_free(&extra);
	fclose(fp);
	if (fl_ef_state_check(&rs->ef.rec, &err) < 0)
		tool_die("%s: record 1: %s", rs->path, err.msg);
	rs->ef.loaded = 1;
}

/* Write the residual beside its path; renamed after the records. */
static void
residual_write(struct residual *rs, struct fl_atomic *a)
{
	struct fl_error err;

	/* Private: the residual is what the client did not send. */
	if (fl_atomic_open(a, rs->path, 0600, &err) < 0)
		tool_die("%s: %s", rs->path, err.msg);
	pending_residual = a;
	atexit(remove_pending_residual);
	if (fl_record_write(a->fp, &rs->ef.rec, 0, &err) < 0)
		tool_die("%s: %s", rs->path, err.msg);
}

/* ---- one record ---- */

static void
sparse_encode(const struct opts *o, const struct fl_record *rec,
    struct fl_record *outr, const struct tool_input *in,
    struct residual *rs, double *vnmse)
{
	struct fl_sparse_params p = { o->topk ? o->topk : o->randk,
	    o->topk != NULL, o->sparse_seed };
	enum fl_sparse_fault fault;
	struct fl_error err;

	if (fl_sparse_encode(outr, rec, &p, rs ? &rs->ef : NULL, vnmse,
	    &fault, &err) == 0)
		return;
	switch (fault) {
	case FL_SPARSE_NEW:
		tool_die("%s: %s", rs->path, err.msg);
	case FL_SPARSE_MATCH:
		tool_die("%s: record 1: the residual does not match %s record "
		    "%lu: %s", rs->path, in->name, in->recno, err.msg);
	case FL_SPARSE_STATE:
		tool_die("%s: record 1: %s", rs->path, err.msg);
	case FL_SPARSE_SUM:
		tool_die("%s: record %lu: %s (residual %s)", in->name,
		    in->recno, err.msg, rs->path);
	default:
		die_rec(in, &err);
	}
}

static void
ring_encode(const struct opts *o, struct fl_record *rec,
    struct fl_record *outr, const struct tool_input *in,
    const unsigned char *key, double *vnmse)
{
	struct fl_ring_params p = { o->bits, o->clients, o->clip, o->noise,
	    o->scale, o->beta, o->modclip, o->rotate, o->rotation_seed,
	    o->seed != NULL, o->stats };
	struct fl_ring_info info;
	struct fl_error err;

	if (fl_ring_encode(outr, rec, &p, key, &info, &err) < 0) {
		if (info.scale == 0)    /* the options', not the record's */
			tool_die("%s", err.msg);
		die_rec(in, &err);
	}
	*vnmse = info.vnmse;
}

static void
encode(const struct opts *o, struct fl_record *rec, struct fl_record *outr,
    const struct tool_input *in, struct residual *rs,
    const unsigned char *master, unsigned long index, double *vnmse)
{
	unsigned char key[FL_RNG_KEYBYTES];
	struct fl_error err;
	int rc = 0;

	if (o->randk || o->topk) {
		sparse_encode(o, rec, outr, in, rs, vnmse);
		return;
	}
	if (o->eden) {
		rc = fl_eden_encode(outr, rec, o->eden, o->rotation_seed,
		    o->stats ? vnmse : NULL, &err);
	} else {
		/* The private rounding key of this record. */
		fl_rng_derive(key, master, "q-round", index);
		if (o->sr)
			rc = fl_sr_encode(outr, rec, o->sr, o->per_tensor,
			    o->seed != NULL, key, vnmse, &err);
		else
			ring_encode(o, rec, outr, in, key, vnmse);
		sodium_memzero(key, sizeof(key));
	}
	if (rc < 0)
		die_rec(in, &err);
}

/* The tensors the codecs make or carry themselves: never selected away. */
static const char *const own[] = { FL_CLIP_INDICATOR, FL_LOSS_TENSOR, NULL };

/*
 * The tensors to encode: the selection (--only, --exclude; by default the
 * float tensors); the others go into aside, to pass through untouched.  A
 * ring record is masked whole (fl-mask): nothing may pass beside it, and
 * an integer tensor must be left out before (fl-clip-noise --exclude).
 */
static void
select_record(const struct opts *o, const struct fl_select *sel,
    struct fl_record *rec, const struct tool_input *in,
    struct fl_record *aside)
{
	int ring = !o->sr && !o->eden && !o->randk && !o->topk, floats = 0;
	struct fl_error err;

	/* A record without float values: the codec says what it takes. */
	for (size_t i = 0; i < rec->ntensors; i++)
		floats |= fl_dtype_is_float(rec->tensors[i].dtype) &&
		    strcmp(rec->tensors[i].name, FL_LOSS_TENSOR) != 0;
	if (!floats)
		return;
	if (ring && fl_meta_get(rec, "q.pass") != NULL)
		tool_die("%s: record %lu: passes tensors through (q.pass): a "
		    "ring record is masked whole; leave them out before "
		    "(fl-clip-noise --exclude)", in->name, in->recno);
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		enum fl_select_why why = fl_select_why(sel, t);

		if (fl_dtype_is_float(t->dtype) || strcmp(t->name,
		    FL_CLIP_INDICATOR) == 0)
			continue;
		if (ring)
			tool_die("%s: record %lu: tensor '%s' is %s: a ring "
			    "record holds only ring values (it is masked); "
			    "leave it out of the update before (fl-clip-noise "
			    "--exclude '%s')", in->name, in->recno, t->name,
			    fl_dtype_name(t->dtype), t->name);
		if (why == FL_SELECT_YES)
			tool_die("%s: record %lu: tensor '%s' is %s: fl-quantize "
			    "encodes float tensors; take it out of --only (it "
			    "then passes through untouched)", in->name,
			    in->recno, t->name, fl_dtype_name(t->dtype));
	}
	if (fl_select_active(sel))
		tool_select_check(sel, rec, in->name, in->recno, own);
	if (fl_select_split(sel, rec, own, aside, &err) < 0)
		die_rec(in, &err);
}

/* The tensors passed through go after the encoded ones, their names in
 * q.pass, so that decoding finds them and passes them on. */
static void
pass_join(struct fl_record *outr, const struct tool_input *in,
    const struct fl_record *aside)
{
	char names[FL_MAX_VALUE + 1];
	struct fl_error err;

	if (aside->ntensors == 0)
		return;
	if (fl_select_join(outr, aside, &err) < 0 ||
	    fl_select_names(aside, names, sizeof(names), &err) < 0 ||
	    fl_meta_set(outr, "q.pass", names, &err) < 0)
		die_rec(in, &err);
}

static void
pass_take(struct fl_record *rec, const struct tool_input *in,
    struct fl_record *aside)
{
	const char *names = fl_meta_get(rec, "q.pass");
	struct fl_error err;

	fl_record_clear(aside);
	if (names == NULL)
		return;
	if (fl_select_take(rec, names, aside, &err) < 0) {
		char q[FL_QUOTE];

		tool_die("%s: record %lu: q.pass '%s': %s", in->name,
		    in->recno, fl_escape(q, sizeof(q), names, strlen(names)),
		    err.msg);
	}
	fl_meta_del(rec, "q.pass");
}

/* The bytes a record takes when written: a counting sink. */
static ssize_t
count_write(void *cookie, const char *buf, size_t n)
{
	(void)buf;
	*(uint64_t *)cookie += n;
	return (ssize_t)n;
}

static uint64_t
record_bytes(const struct fl_record *rec, int zlevel)
{
	cookie_io_functions_t io = { NULL, count_write, NULL, NULL };
	struct fl_error err;
	uint64_t n = 0;
	FILE *fp = fopencookie(&n, "w", io);

	if (fp == NULL)
		tool_die("out of memory");
	if (fl_record_write(fp, rec, zlevel, &err) < 0)
		tool_die("%s", err.msg);
	fclose(fp);
	return n;
}

int
main(int argc, char **argv)
{
	enum { OPT_BETA = 256, OPT_MEAN, OPT_PER_TENSOR, OPT_MODCLIP, OPT_NOISE, OPT_ROTATION,
	    OPT_ROTATION_SEED, OPT_SCALE, OPT_SEED, OPT_STATS, OPT_RAND_K,
	    OPT_RESIDUAL, OPT_SPARSE_SEED, OPT_TOP_K, OPT_DTYPE };
	static const struct option longopts[] = {
		{ "beta", required_argument, NULL, OPT_BETA },
		{ "bits", required_argument, NULL, 'b' },
		{ "clients", required_argument, NULL, 'n' },
		{ "clip", required_argument, NULL, 'c' },
		{ "decode", no_argument, NULL, 'd' },
		{ "eden", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ "dtype", required_argument, NULL, OPT_DTYPE },
		{ "mean", optional_argument, NULL, OPT_MEAN },
		{ "modclip-prob", required_argument, NULL, OPT_MODCLIP },
		{ "noise", required_argument, NULL, OPT_NOISE },
		{ "output", required_argument, NULL, 'o' },
		{ "per-tensor", no_argument, NULL, OPT_PER_TENSOR },
		{ "rand-k", required_argument, NULL, OPT_RAND_K },
		{ "residual", required_argument, NULL, OPT_RESIDUAL },
		{ "ring", required_argument, NULL, 'r' },
		{ "rotation", required_argument, NULL, OPT_ROTATION },
		{ "rotation-seed", required_argument, NULL, OPT_ROTATION_SEED },
		{ "scale", required_argument, NULL, OPT_SCALE },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "sparse-seed", required_argument, NULL, OPT_SPARSE_SEED },
		{ "stats", no_argument, NULL, OPT_STATS },
		{ "top-k", required_argument, NULL, OPT_TOP_K },
		{ "version", no_argument, NULL, 'V' },
		{ "zlib", no_argument, NULL, 'z' },
		TOOL_SELECT_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct fl_select sel;
	struct opts o;
	unsigned char master[FL_RNG_KEYBYTES];
	struct fl_decode_run run;
	struct residual rs;
	struct fl_atomic ratomic;
	uint64_t kk;
	struct tool_output out;
	struct tool_input in;
	struct fl_record rec, outr, aside;
	struct fl_error err;
	const char *output = NULL;
	unsigned long index = 0;
	int c, rc;

	memset(&o, 0, sizeof(o));
	o.denominator = NAN;
	o.rotate = 1;
	o.clip = o.scale = NAN;
	o.beta = exp(-0.5);
	o.modclip = 1e-4;
	o.dtype = -1;
	tool_init(usage, argv);
	fl_select_init(&sel);
	while ((c = getopt_long(argc, argv, "b:c:de:hn:o:r:Vz", longopts,
	    NULL)) != -1) {
		if (tool_select_option(c, optarg, &sel))
			continue;
		switch (c) {
		case OPT_DTYPE:
			o.dtype = (int)tool_opt_dtype("--dtype", optarg);
			break;
		case OPT_BETA:
			o.beta = tool_opt_double("--beta", optarg, 0, 1);
			if (o.beta >= 1)
				tool_die("invalid --beta '%s': must be below 1",
				    optarg);
			break;
		case 'b':
			o.sr = (int)tool_opt_u64("--bits", optarg, 1, 16);
			break;
		case 'c':
			o.clip = tool_opt_positive("--clip", optarg);
			break;
		case 'd':
			o.decode = 1;
			break;
		case 'e':
			o.eden = (int)tool_opt_u64("--eden", optarg, 1, 4);
			break;
		case 'h':
			tool_help(options);
		case OPT_MEAN:
			o.mean = 1;
			if (optarg != NULL)
				o.denominator = tool_opt_positive("--mean",
				    optarg);
			break;
		case OPT_PER_TENSOR:
			o.per_tensor = 1;
			break;
		case OPT_RAND_K:
		case OPT_TOP_K:
			/* The syntax now, K against d per record. */
			if (fl_sparse_k(optarg, UINT64_MAX, &kk, &err) < 0)
				tool_die("invalid --%s '%s': %s", c == OPT_TOP_K ?
				    "top-k" : "rand-k", optarg, err.msg);
			*(c == OPT_TOP_K ? &o.topk : &o.randk) = optarg;
			break;
		case OPT_RESIDUAL:
			if (*optarg == '\0')
				tool_die("invalid --residual: empty file name");
			o.residual = optarg;
			break;
		case OPT_SPARSE_SEED:
			if (fl_meta_check_value(optarg, strlen(optarg),
			    &err) < 0 || *optarg == '\0')
				tool_die("invalid --sparse-seed: must be "
				    "non-empty printable text");
			o.sparse_seed = optarg;
			break;
		case OPT_MODCLIP:
			o.modclip = tool_opt_double("--modclip-prob", optarg,
			    1e-300, 0.5);
			break;
		case 'n':
			o.clients = tool_opt_u64("--clients", optarg, 1,
			    UINT32_MAX);
			break;
		case OPT_NOISE:
			o.noise = tool_opt_double("--noise", optarg, 0,
			    INFINITY);
			break;
		case 'o':
			output = optarg;
			break;
		case 'r':
			o.bits = (int)tool_opt_u64("--ring", optarg, 2, 32);
			break;
		case OPT_ROTATION:
			if (strcmp(optarg, "hd") == 0)
				o.rotate = 1;
			else if (strcmp(optarg, "none") == 0)
				o.rotate = 0;
			else
				tool_die("invalid --rotation '%s': want hd or "
				    "none", optarg);
			break;
		case OPT_ROTATION_SEED:
			if (fl_meta_check_value(optarg, strlen(optarg),
			    &err) < 0 || *optarg == '\0')
				tool_die("invalid --rotation-seed: must be "
				    "non-empty printable text");
			o.rotation_seed = optarg;
			break;
		case OPT_SCALE:
			o.scale = tool_opt_positive("--scale", optarg);
			break;
		case OPT_SEED:
			o.seed = optarg;
			break;
		case OPT_STATS:
			o.stats = 1;
			break;
		case 'V':
			tool_version();
		case 'z':
			o.zlevel = 6;
			break;
		default:
			tool_usage_error(NULL);
		}
	}
	argc -= optind;
	argv += optind;
	if (o.randk && o.topk)
		tool_usage_error("--rand-k and --top-k exclude each other");
	if (fl_select_active(&sel) && (o.decode || (!o.sr && !o.eden &&
	    !o.randk && !o.topk)))
		tool_usage_error("--only and --exclude do not combine with %s",
		    o.decode ? "-d: a sum is decoded whole" : "--ring: a ring "
		    "record is masked whole (leave tensors out before, with "
		    "fl-clip-noise --exclude)");
	if (o.dtype >= 0 && !o.decode)
		tool_usage_error("--dtype needs -d (an encoding's values are "
		    "its codec's)");
	if (o.residual && !o.topk)
		tool_usage_error("--residual needs --top-k");
	if (o.sparse_seed && !o.randk)
		tool_usage_error("--sparse-seed needs --rand-k");
	if ((o.randk || o.topk) && (o.bits || o.decode))
		tool_usage_error("--%s does not combine with %s: sparse and "
		    "ring or decoded records do not mix here", o.topk ?
		    "top-k" : "rand-k", o.bits ? "--ring" : "-d");
	if (o.randk || o.topk) {
		if (o.eden || o.sr || o.per_tensor || o.clients ||
		    !isnan(o.clip) || !isnan(o.scale) || o.rotation_seed ||
		    o.seed || o.noise > 0 || !o.rotate || o.beta != exp(-0.5) ||
		    o.modclip != 1e-4 || o.mean)
			tool_usage_error(o.topk ? "--top-k takes only "
			    "--residual, --stats, -z and -o" : "--rand-k takes "
			    "only --sparse-seed, --stats, -z and -o");
	} else if (o.decode) {
		if (o.eden || o.sr || o.per_tensor || o.bits || o.clients || !isnan(o.clip) || !isnan(o.scale) ||
		    o.rotation_seed || o.seed || o.noise > 0 || !o.rotate ||
		    o.beta != exp(-0.5) || o.modclip != 1e-4)
			tool_usage_error("-d reads its parameters from the "
			    "records: it takes only --mean, --dtype, --stats, -z "
			    "and -o");
	} else if (o.eden) {
		if (o.sr || o.per_tensor || o.bits || o.clients ||
		    !isnan(o.clip) || !isnan(o.scale) || o.seed ||
		    o.noise > 0 || !o.rotate || o.beta != exp(-0.5) ||
		    o.modclip != 1e-4 || o.mean)
			tool_usage_error("--eden takes only --rotation-seed, "
			    "--stats, -z and -o");
	} else if (o.sr) {
		if (o.bits || o.clients || !isnan(o.clip) || !isnan(o.scale) ||
		    o.rotation_seed || o.noise > 0 || !o.rotate ||
		    o.beta != exp(-0.5) || o.modclip != 1e-4 || o.mean)
			tool_usage_error("--bits takes only --per-tensor, "
			    "--seed, --stats, -z and -o");
	} else {
		if (o.per_tensor)
			tool_usage_error("--per-tensor needs --bits");
		if (o.bits == 0 || o.clients == 0)
			tool_usage_error("give --bits=B, or --ring=BITS and "
			    "--clients=N (or -d to decode)");
		if (o.mean)
			tool_usage_error("--mean needs -d");
	}
	if (!o.decode && !o.sr && !o.eden && !o.randk && !o.topk) {
		double k = fl_ring_k(o.modclip);
		uint64_t most = fl_ring_max_clients(o.bits, k);

		if (o.clients > most)
			tool_die("a ring of %d bits is too small for %llu "
			    "clients: it holds at most %llu at wrap-around "
			    "probability %g", o.bits,
			    (unsigned long long)o.clients,
			    (unsigned long long)most, o.modclip);
	}

	if (o.seed != NULL)
		fl_rng_seed_text(master, o.seed);
	else if (fl_rng_seed_os(master, &err) < 0)
		tool_die("%s", err.msg);

	fl_record_init(&rec);
	fl_record_init(&outr);
	fl_record_init(&aside);
	fl_decode_run_init(&run, o.mean, o.denominator);
	tool_input_init(&in, argc, argv);
	memset(&rs, 0, sizeof(rs));
	rs.path = o.residual;
	if (o.residual != NULL)
		residual_load(&rs, &in.limits);
	tool_output_open(&out, output, 1);
	while ((rc = tool_input_next(&in, &rec)) != 0) {
		if (rc < 0)
			break;
		double vnmse = NAN;

		if (o.decode) {
			run.file = in.name;
			run.recno = in.recno;
			pass_take(&rec, &in, &aside);
			if (fl_codec_decode(&outr, &rec, &run, &err) < 0)
				die_rec(&in, &err);
			if (fl_select_join(&outr, &aside, &err) < 0)
				die_rec(&in, &err);
			if (o.dtype >= 0 && fl_record_cast(&outr,
			    (enum fl_dtype)o.dtype, &err) < 0)
				tool_die("%s: record %lu: the decoded record does "
				    "not fit --dtype %s: %s", in.name, in.recno,
				    fl_dtype_name((enum fl_dtype)o.dtype),
				    err.msg);
		} else {
			fl_record_clear(&aside);
			select_record(&o, &sel, &rec, &in, &aside);
			encode(&o, &rec, &outr, &in, o.residual ? &rs : NULL,
			    master, index, &vnmse);
			pass_join(&outr, &in, &aside);
		}
		index++;
		if (o.stats) {
			char vb[FL_NUMBUF];

			fprintf(stderr, "fl-quantize: %s: record %lu: vNMSE %s, "
			    "%llu -> %llu bytes\n", in.name, in.recno,
			    isnan(vnmse) ? "-" : fl_format_double(vb, vnmse),
			    (unsigned long long)rec.size,
			    (unsigned long long)record_bytes(&outr, o.zlevel));
		}
		tool_output_record(&out, &outr, o.zlevel);
	}
	sodium_memzero(master, sizeof(master));
	fl_decode_run_free(&run);
	fl_record_free(&rec);
	fl_record_free(&outr);
	fl_record_free(&aside);
	fl_select_free(&sel);
	tool_input_free(&in);
	if (in.failed)
		exit(1);
	/* The residual into its temporary file, then the records, then the
	 * rename: a failure before the end leaves both as they were. */
	if (rs.ef.used)
		residual_write(&rs, &ratomic);
	tool_output_close(&out);
	if (rs.ef.used) {
		pending_residual = NULL;
		if (fl_atomic_commit(&ratomic, &err) < 0)
			tool_die("%s: %s (the records were written)", rs.path,
			    err.msg);
	}
	if (o.residual != NULL)
		fl_record_free(&rs.ef.rec);
	return 0;
}
