/* SPDX-License-Identifier: ISC */
/*
 * fl-quantize - the ring encoding for secure aggregation and its decoding:
 * a shared randomized Hadamard rotation, one global scale for all clients,
 * stochastic rounding with conditional re-rounding to the integers mod 2^b
 * (stored as u32), and the decoding of a modular sum of such records.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tool.h"

#define INDICATOR "clip.indicator"
#define PAD "q.pad"
#define LAYOUT "q.layout"       /* codec sr and eden: shapes */
#define RANGE "q.range"         /* codec sr and eden: scales */

static const char usage[] =
    "fl-quantize --bits=b [--per-tensor] [--seed=text] [--stats] [-z]\n"
    "           [-o file] [file ...]\n"
    "       fl-quantize --eden=b [--rotation-seed=text] [--stats] [-z]\n"
    "           [-o file] [file ...]\n"
    "       fl-quantize --ring=bits --clients=n [-c clip] [--noise=z] [--scale=s]\n"
    "           [--beta=b] [--modclip-prob=p] [--rotation=hd|none]\n"
    "           [--rotation-seed=text] [--seed=text] [--stats] [-z] [-o file]\n"
    "           [file ...]\n"
    "       fl-quantize --rand-k=k [--sparse-seed=text] [--stats] [-z]\n"
    "           [-o file] [file ...]\n"
    "       fl-quantize --top-k=k [--residual=file] [--stats] [-z] [-o file]\n"
    "           [file ...]\n"
    "       fl-quantize -d [--mean[=n]] [--stats] [-z] [-o file] [file ...]";

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
    "  -e, --eden=B              EDEN: rotation and Lloyd-Max levels, B bits\n"
    "                            (1 to 4; no secure aggregation)\n"
    "  -h, --help                print this help and exit\n"
    "      --mean[=N]            with -d: divide a sum by the record's clients,\n"
    "                            or by the public N (a fixed denominator)\n"
    "      --modclip-prob=P      wrap-around probability the scale allows (1e-4)\n"
    "  -n, --clients=N           expected number of clients summed\n"
    "      --noise=Z             noise multiplier fl-clip-noise will add (0)\n"
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
};

/* ---- metadata ---- */

static void
set(struct fl_record *rec, const struct tool_input *in, const char *key,
    const char *value)
{
	struct fl_error err;

	if (fl_meta_set(rec, key, value, &err) < 0)
		tool_die("%s: record %lu: %s", in->name, in->recno, err.msg);
}

static void
set_double(struct fl_record *rec, const struct tool_input *in,
    const char *key, double v)
{
	char buf[FL_NUMBUF];

	set(rec, in, key, fl_format_double(buf, v));
}

static void
set_u64(struct fl_record *rec, const struct tool_input *in, const char *key,
    uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	set(rec, in, key, buf);
}

/* A key decoding needs: missing or bad is an error naming it. */
static const char *
need(const struct fl_record *rec, const struct tool_input *in,
    const char *key)
{
	const char *v = fl_meta_get(rec, key);

	if (v == NULL)
		tool_die("%s: record %lu: missing quantization metadata '%s'",
		    in->name, in->recno, key);
	return v;
}

static double
need_double(const struct fl_record *rec, const struct tool_input *in,
    const char *key, double min, double max)
{
	double d;

	need(rec, in, key);
	tool_meta_double(rec, in, key, min, max, &d);
	return d;
}

static uint64_t
need_u64(const struct fl_record *rec, const struct tool_input *in,
    const char *key, uint64_t min, uint64_t max)
{
	uint64_t u;

	need(rec, in, key);
	tool_meta_u64(rec, in, key, min, max, &u);
	return u;
}

/* An encoder takes plain records: encoding twice would mix codecs. */
static void
refuse_encoded(const struct fl_record *rec, const struct tool_input *in)
{
	const char *v = fl_meta_get(rec, "q.codec");
	char q[FL_QUOTE];

	if (v != NULL)
		tool_die("%s: record %lu: already encoded (q.codec=%s)",
		    in->name, in->recno, fl_escape(q, sizeof(q), v, strlen(v)));
}

/* A decoded record keeps no key of the codec: q.* and the ring's
 * modulus go. */
static void
drop_codec_keys(struct fl_record *rec)
{
	for (size_t i = 0; i < rec->nmeta; ) {
		char key[FL_MAX_KEY + 1];

		snprintf(key, sizeof(key), "%s", rec->meta[i].key);
		if (strncmp(key, "q.", 2) == 0 || strcmp(key, "modulus") == 0)
			fl_meta_del(rec, key);
		else
			i++;
	}
}

/* The float tensors of rec as one f32 vector x (f32 copied, f64
 * narrowed); dies naming the first value that does not fit in f32.
 * Returns how many. */
static uint64_t
gather_floats(const struct fl_record *rec, const struct tool_input *in,
    float *x)
{
	uint64_t off = 0;

	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];

		if (t->dtype == FL_F32) {
			memcpy(x + off, t->data, t->nbytes);
		} else if (t->dtype == FL_F64) {
			const double *v = t->data;

			for (uint64_t j = 0; j < t->numel; j++) {
				x[off + j] = (float)v[j];
				if (!isfinite(x[off + j]))
					tool_die("%s: record %lu: value %llu "
					    "does not fit in f32", in->name,
					    in->recno,
					    (unsigned long long)(off + j));
			}
		} else {
			continue;
		}
		off += t->numel;
	}
	return off;
}

/* ---- encoding ---- */

/* The names of the tensors the codecs add to a record. */
static int
codec_tensor(const char *name)
{
	return strcmp(name, PAD) == 0 || strcmp(name, LAYOUT) == 0 ||
	    strcmp(name, RANGE) == 0;
}

/*
 * The tensors an encoder takes: every tensor but the clip indicator (which
 * must be u32) must be a float tensor, not named like the tensors the
 * codecs add, with finite values.  Returns their number of values (at
 * least one), their count in *nf and their sum of squares in *ss (either
 * may be NULL), from one
 * pass: a NaN or infinity makes the sum non-finite, and only then are the
 * values searched, to name it.  what names the encoder in the messages.
 */
static uint64_t
encoder_input(const struct fl_record *rec, const struct tool_input *in,
    const char *what, size_t *nf, double *ss)
{
	struct fl_error err;
	uint64_t d = 0;
	double s = 0;
	size_t n = 0;

	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];

		if (strcmp(t->name, INDICATOR) == 0) {
			if (t->dtype != FL_U32)
				tool_die("%s: record %lu: tensor '%s' must be "
				    "u32", in->name, in->recno, t->name);
			continue;
		}
		if (codec_tensor(t->name))
			tool_die("%s: record %lu: tensor '%s': a name the "
			    "codecs use for their own tensors", in->name,
			    in->recno, t->name);
		if (!fl_dtype_is_float(t->dtype))
			tool_die("%s: record %lu: tensor '%s' is %s: %s takes "
			    "float tensors", in->name, in->recno, t->name,
			    fl_dtype_name(t->dtype), what);
		s += fl_tensor_sumsq(t);
		d += t->numel;
		n++;
	}
	if (!isfinite(s)) {
		for (size_t i = 0; i < rec->ntensors; i++)
			if (fl_dtype_is_float(rec->tensors[i].dtype) &&
			    fl_tensor_check_finite(&rec->tensors[i], &err) < 0)
				tool_die("%s: record %lu: %s", in->name,
				    in->recno, err.msg);
		tool_die("%s: record %lu: the values are too large: their "
		    "norm overflows a double", in->name, in->recno);
	}
	if (d == 0)
		tool_die("%s: record %lu: no float values to encode", in->name,
		    in->recno);
	if (nf != NULL)
		*nf = n;
	if (ss != NULL)
		*ss = s;
	return d;
}


/*
 * A rand-k record goes through the ring (and so through secure
 * aggregation) as its K values: the ring record keeps the rand-k keys
 * under these names, and decoding a sum gives them back.
 */
static const char *const sparse_keys[][2] = {
	{ "q.codec", "q.sparse.codec" },
	{ "q.k", "q.sparse.k" },
	{ "q.dim", "q.sparse.dim" },
	{ "q.shapes", "q.sparse.shapes" },
};

/* Rename metadata key from to `to` in rec (a missing key is an error). */
static void
move_meta(struct fl_record *rec, const struct tool_input *in,
    const char *from, const char *to)
{
	char *v = strdup(need(rec, in, from));

	if (v == NULL)
		tool_die("out of memory");
	set(rec, in, to, v);
	fl_meta_del(rec, from);
	free(v);
}

/*
 * The values of a rand-k record are the chosen coordinates times d/K.
 * The ring takes them divided by d/K again: the sum is scaled back after
 * decoding (public post-processing), so the sensitivity stays the clip
 * bound instead of d/K times it.  Returns d/K.
 */
static double
unscale_randk(struct fl_record *rec, const struct tool_input *in)
{
	uint64_t k = need_u64(rec, in, "q.k", 1, UINT64_C(1) << 40);
	uint64_t d = need_u64(rec, in, "q.dim", 1, UINT64_C(1) << 40);
	double scale = (double)d / (double)k;

	if (k > d)
		tool_die("%s: record %lu: q.k %llu is more than q.dim %llu",
		    in->name, in->recno, (unsigned long long)k,
		    (unsigned long long)d);
	need(rec, in, "q.shapes");
	need(rec, in, "q.sparse-seed");
	for (size_t i = 0; i < rec->ntensors; i++) {
		struct fl_tensor *t = &rec->tensors[i];

		if (t->dtype != FL_F32)
			continue;
		for (uint64_t j = 0; j < t->numel; j++)
			((float *)t->data)[j] = (float)(((float *)t->data)[j] /
			    scale);
	}
	return scale;
}

static void
encode(const struct opts *o, struct fl_record *rec, struct fl_record *outr,
    const struct tool_input *in, const unsigned char *master,
    unsigned long index, double *vnmse)
{
	struct fl_error err;
	uint64_t d = 0, dpad, off;
	double clip = o->clip, ss = 0, scale, bound, k, mult;
	unsigned char rkey[FL_RNG_KEYBYTES], key[FL_RNG_KEYBYTES];
	char seedbuf[64];
	const char *seed = o->rotation_seed, *v;
	unsigned tries;
	float *buf;
	uint32_t *ring;
	double sparse = 0;      /* d/K of a rand-k record, else 0 */

	v = fl_meta_get(rec, "q.codec");
	if (v != NULL && strcmp(v, "randk") == 0)
		sparse = unscale_randk(rec, in);
	else
		refuse_encoded(rec, in);
	if (fl_meta_get(rec, "dp.mechanism") != NULL)
		tool_die("%s: record %lu: already noised: encode before "
		    "fl-clip-noise --noise", in->name, in->recno);
	d = encoder_input(rec, in, "the ring encoding", NULL, &ss);
	if (isnan(clip)) {
		if ((v = fl_meta_get(rec, "dp.clip")) == NULL)
			tool_die("%s: record %lu: no clip bound: clip first "
			    "(fl-clip-noise -c) or give --clip", in->name,
			    in->recno);
		clip = need_double(rec, in, "dp.clip", 0, INFINITY);
		if (!(clip > 0))
			tool_die("%s: record %lu: dp.clip must be positive",
			    in->name, in->recno);
	}
	/* (Rand-k values times K/d carry the float error of the two
	 * scalings: the bound's own slack covers it.) */
	if (sqrt(ss) > clip * (sparse > 0 ? 1 + 0x1p-20 : 1))
		tool_die("%s: record %lu: L2 norm %g exceeds the clip bound %g: "
		    "clip first (fl-clip-noise -c)", in->name, in->recno,
		    sqrt(ss), clip);

	dpad = o->rotate ? fl_rht_dim(d) : d;
	k = fl_ring_k(o->modclip);
	scale = o->scale;
	if (isnan(scale)) {
		scale = fl_ring_scale(o->bits, o->clients, k, clip,
		    o->noise * clip / sqrt((double)o->clients), dpad);
		if (!(scale > 0))
			tool_die("a ring of %d bits is too small for %llu "
			    "clients", o->bits,
			    (unsigned long long)o->clients);
	}
	bound = fl_ring_bound(clip, scale, dpad, o->beta);

	if (dpad > SIZE_MAX / sizeof(float))
		tool_die("%s: record %lu: too many values", in->name,
		    in->recno);
	mult = scale;
	if (o->rotate) {
		if (seed == NULL) {
			if ((v = fl_meta_get(rec, "round")) == NULL)
				tool_die("%s: record %lu: no rotation seed: "
				    "give --rotation-seed or a record with a "
				    "round", in->name, in->recno);
			snprintf(seedbuf, sizeof(seedbuf), "round-%llu",
			    (unsigned long long)need_u64(rec, in, "round", 0,
			    UINT64_MAX));
			seed = seedbuf;
		}
		fl_rht_key(key, seed);
		mult = scale / sqrt((double)dpad);
	}
	buf = tool_malloc(dpad * sizeof(float));
	ring = tool_malloc(dpad * sizeof(uint32_t));
	/* The values in one vector, padded with zeros; with the rotation,
	 * their signs flipped (D) on the way in. */
	off = 0;
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		const float *from = buf + off;

		if (t->dtype == FL_F32) {
			from = t->data;
		} else if (t->dtype == FL_F64) {
			const double *x = t->data;

			for (uint64_t j = 0; j < t->numel; j++)
				buf[off + j] = (float)x[j];
		} else {
			continue;
		}
		if (o->rotate)
			fl_rht_signs_copy(buf + off, from, t->numel, off, key);
		else if (from != buf + off)
			memcpy(buf + off, from, t->numel * sizeof(float));
		off += t->numel;
	}
	if (o->rotate) {
		fl_rht_signs_copy(buf + d, NULL, dpad - d, d, key);
		if (fl_fwht(buf, dpad, &err) < 0)
			tool_die("%s: record %lu: %s", in->name, in->recno,
			    err.msg);
	} else {
		memset(buf + d, 0, (dpad - d) * sizeof(float));
	}
	fl_rng_derive(rkey, master, "q-round", index);
	if (fl_ring_round(buf, dpad, mult, bound, o->bits, rkey, ring, &tries,
	    &err) < 0)
		tool_die("%s: record %lu: %s", in->name, in->recno, err.msg);
	sodium_memzero(rkey, sizeof(rkey));
	if (o->stats) {
		/* The error of decoding this record alone, measured by
		 * decoding it: padding coordinates are dropped on the way
		 * back, and so is the error that lands on them. */
		uint64_t m = UINT64_C(1) << o->bits;
		double f = o->rotate ? 1 / (scale * sqrt((double)dpad)) :
		    1 / scale, e2 = 0;

		fl_ring_unwrap(ring, dpad, m, f, buf);
		if (o->rotate && fl_rht_hd(buf, dpad, key, 1, &err) < 0)
			tool_die("%s: record %lu: %s", in->name, in->recno,
			    err.msg);
		off = 0;
		for (size_t i = 0; i < rec->ntensors; i++) {
			const struct fl_tensor *t = &rec->tensors[i];

			if (!fl_dtype_is_float(t->dtype))
				continue;
			for (uint64_t j = 0; j < t->numel; j++) {
				double e = (double)buf[off + j] -
				    fl_tensor_get(t, j);

				e2 += e * e;
			}
			off += t->numel;
		}
		*vnmse = e2 / ss;
	}

	/* The encoded record: each float tensor becomes u32 of the same
	 * shape, the indicator stays, the padding goes last. */
	fl_record_clear(outr);
	if (fl_meta_copy(outr, rec, &err) < 0)
		tool_die("%s: record %lu: %s", in->name, in->recno, err.msg);
	off = 0;
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		int ind = strcmp(t->name, INDICATOR) == 0;
		struct fl_tensor *u = fl_tensor_add(outr, t->name, FL_U32,
		    t->rank, t->dims, &err);

		if (u == NULL)
			tool_die("%s: record %lu: %s", in->name, in->recno,
			    err.msg);
		if (ind) {
			memcpy(u->data, t->data, t->nbytes);
			continue;
		}
		memcpy(u->data, ring + off, u->nbytes);
		off += t->numel;
	}
	if (dpad > d) {
		uint64_t dims[1] = { dpad - d };
		struct fl_tensor *u = fl_tensor_add(outr, PAD, FL_U32, 1, dims,
		    &err);

		if (u == NULL)
			tool_die("%s: record %lu: %s", in->name, in->recno,
			    err.msg);
		memcpy(u->data, ring + d, u->nbytes);
	}
	free(buf);
	free(ring);

	if (sparse > 0)
		for (size_t i = 0; i < sizeof(sparse_keys) /
		    sizeof(*sparse_keys); i++)
			move_meta(outr, in, sparse_keys[i][0],
			    sparse_keys[i][1]);
	set(outr, in, "q.codec", "ring");
	set_u64(outr, in, "q.bits", (uint64_t)o->bits);
	set_double(outr, in, "q.scale", scale);
	set(outr, in, "q.rotation", o->rotate ? "hd" : "none");
	if (o->rotate)
		set(outr, in, "q.rotation-seed", seed);
	set_u64(outr, in, "q.dim", d);
	set_u64(outr, in, "q.clients", o->clients);
	set_double(outr, in, "q.beta", o->beta);
	if (o->seed != NULL)
		set(outr, in, "q.seeded", "yes");
	set_u64(outr, in, "modulus", UINT64_C(1) << o->bits);
	set_double(outr, in, "dp.clip", clip);
	set_double(outr, in, "dp.sensitivity", bound);
	fl_meta_del(outr, "dp.sensitivity-l1");
}

/* ---- plain stochastic rounding (codec sr) ---- */

/* Is t one of the encoded payload tensors (not a side table)? */
static int
side_tensor(const char *name)
{
	return strcmp(name, INDICATOR) == 0 || strcmp(name, LAYOUT) == 0 ||
	    strcmp(name, RANGE) == 0;
}

/*
 * Each float tensor, or the whole record, gets the grid of 2^b levels from
 * -M to M (M = its largest magnitude): step 2M / (2^b - 1), level k stands
 * for k step - M.  Values are rounded to a neighbouring level with the
 * probabilities that make the rounding unbiased.  Below 8 bits the levels
 * are packed LSB first into a u8 tensor of ceil(n b / 8) bytes; 8 bits
 * keep the shape in u8, 9 to 16 in u16.  The side tensors q.layout (u64
 * [tensors, 9]: rank and dims) and q.range (f64 [tensors]: M) let decoding
 * restore names, shapes and values.
 */
static void
sr_encode(const struct opts *o, struct fl_record *rec, struct fl_record *outr,
    const struct tool_input *in, const unsigned char *master,
    unsigned long index, double *vnmse)
{
	struct fl_error err;
	unsigned char rkey[FL_RNG_KEYBYTES];
	uint32_t u[4096];
	size_t nf = 0, k = 0;
	double mrec = 0, ss = 0, e2 = 0, levels = ldexp(1, o->sr) - 1;
	uint64_t *layout;
	double *range;

	refuse_encoded(rec, in);
	encoder_input(rec, in, "stochastic rounding", &nf, NULL);
	layout = tool_malloc(nf * 9 * sizeof(*layout));
	range = tool_malloc(nf * sizeof(*range));
	memset(layout, 0, nf * 9 * sizeof(*layout));
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		double m = 0;

		if (!fl_dtype_is_float(t->dtype))
			continue;
		for (uint64_t j = 0; j < t->numel; j++) {
			double x = fabs(fl_tensor_get(t, j));

			m = x > m ? x : m;
		}
		range[k] = m;
		mrec = m > mrec ? m : mrec;
		layout[k * 9] = (uint64_t)t->rank;
		for (int r = 0; r < t->rank; r++)
			layout[k * 9 + 1 + r] = t->dims[r];
		k++;
	}
	if (!o->per_tensor)
		for (k = 0; k < nf; k++)
			range[k] = mrec;

	fl_rng_derive(rkey, master, "q-round", index);
	fl_record_clear(outr);
	if (fl_meta_copy(outr, rec, &err) < 0)
		tool_die("%s: record %lu: %s", in->name, in->recno, err.msg);
	k = 0;
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		struct fl_tensor *w;
		double step, inv;
		unsigned char *pk;
		uint16_t *p16;
		uint64_t acc = 0, nbytes;
		int nbits = 0;

		if (strcmp(t->name, INDICATOR) == 0) {
			w = fl_tensor_add(outr, t->name, t->dtype, t->rank,
			    t->dims, &err);
			if (w == NULL)
				tool_die("%s: record %lu: %s", in->name,
				    in->recno, err.msg);
			memcpy(w->data, t->data, t->nbytes);
			continue;
		}
		step = 2 * range[k] / levels;
		if (o->sr < 8) {
			nbytes = (t->numel * (uint64_t)o->sr + 7) / 8;
			w = fl_tensor_add(outr, t->name, FL_U8, 1, &nbytes,
			    &err);
		} else {
			w = fl_tensor_add(outr, t->name, o->sr == 8 ? FL_U8 :
			    FL_U16, t->rank, t->dims, &err);
		}
		if (w == NULL)
			tool_die("%s: record %lu: %s", in->name, in->recno,
			    err.msg);
		pk = w->data;
		p16 = w->data;
		inv = step > 0 ? 1 / step : 0;
		for (uint64_t j = 0; j < t->numel; j++) {
			double x = fl_tensor_get(t, j), y, f, xhat;
			uint64_t lv;

			if (j % 4096 == 0)
				fl_rng_stream(u, sizeof(u), rkey,
				    (uint64_t)i << 32 | j / 4096, 0);
			y = (x + range[k]) * inv;
			y = y < 0 ? 0 : y > levels ? levels : y;
			f = floor(y);
			lv = (uint64_t)f + ((double)u[j % 4096] < (y - f) *
			    0x1p32);
			lv = lv > (uint64_t)levels ? (uint64_t)levels : lv;
			xhat = (double)lv * step - range[k];
			e2 += (xhat - x) * (xhat - x);
			ss += x * x;
			if (o->sr < 8) {
				acc |= lv << nbits;
				nbits += o->sr;
				while (nbits >= 8) {
					*pk++ = (unsigned char)acc;
					acc >>= 8;
					nbits -= 8;
				}
			} else if (o->sr == 8) {
				pk[j] = (unsigned char)lv;
			} else {
				p16[j] = (uint16_t)lv;
			}
		}
		if (o->sr < 8 && nbits > 0)
			*pk = (unsigned char)acc;
		k++;
	}
	memset(u, 0, sizeof(u));
	sodium_memzero(rkey, sizeof(rkey));
	{
		uint64_t dl[2] = { nf, 9 }, dr[1] = { nf };
		struct fl_tensor *t = fl_tensor_add(outr, LAYOUT, FL_U64, 2, dl,
		    &err);

		if (t == NULL)
			tool_die("%s: record %lu: %s", in->name, in->recno,
			    err.msg);
		memcpy(t->data, layout, t->nbytes);
		t = fl_tensor_add(outr, RANGE, FL_F64, 1, dr, &err);
		if (t == NULL)
			tool_die("%s: record %lu: %s", in->name, in->recno,
			    err.msg);
		memcpy(t->data, range, t->nbytes);
	}
	free(layout);
	free(range);
	set(outr, in, "q.codec", "sr");
	set_u64(outr, in, "q.bits", (uint64_t)o->sr);
	set(outr, in, "q.rotation", "none");
	if (o->seed != NULL)
		set(outr, in, "q.seeded", "yes");
	*vnmse = e2 / ss;
}

static void
sr_decode(struct fl_record *rec, struct fl_record *outr,
    const struct tool_input *in)
{
	struct fl_error err;
	uint64_t bits = need_u64(rec, in, "q.bits", 1, 16), nf = 0, k = 0;
	const struct fl_tensor *lt = fl_tensor_find(rec, LAYOUT);
	const struct fl_tensor *rt = fl_tensor_find(rec, RANGE);
	double levels = ldexp(1, (int)bits) - 1;
	const uint64_t *layout;
	const double *range;

	if (lt == NULL || rt == NULL)
		tool_die("%s: record %lu: missing quantization metadata: "
		    "tensor '%s'", in->name, in->recno, lt == NULL ? LAYOUT :
		    RANGE);
	for (size_t i = 0; i < rec->ntensors; i++)
		nf += !side_tensor(rec->tensors[i].name);
	if (lt->dtype != FL_U64 || lt->rank != 2 || lt->dims[0] != nf ||
	    lt->dims[1] != 9 || rt->dtype != FL_F64 || rt->numel != nf)
		tool_die("%s: record %lu: tensors '%s' and '%s' do not describe "
		    "the %llu encoded tensors", in->name, in->recno, LAYOUT,
		    RANGE, (unsigned long long)nf);
	layout = lt->data;
	range = rt->data;
	fl_record_clear(outr);
	if (fl_meta_copy(outr, rec, &err) < 0)
		tool_die("%s: record %lu: %s", in->name, in->recno, err.msg);
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		uint64_t dims[FL_MAX_RANK], numel = 1, want;
		struct fl_tensor *w;
		int rank;
		double step;
		const unsigned char *pk = t->data;
		float *out;

		if (strcmp(t->name, LAYOUT) == 0 || strcmp(t->name, RANGE) == 0)
			continue;
		if (strcmp(t->name, INDICATOR) == 0) {
			w = fl_tensor_add(outr, t->name, t->dtype, t->rank,
			    t->dims, &err);
			if (w == NULL)
				tool_die("%s: record %lu: %s", in->name,
				    in->recno, err.msg);
			memcpy(w->data, t->data, t->nbytes);
			continue;
		}
		rank = (int)layout[k * 9];
		if (rank > FL_MAX_RANK)
			tool_die("%s: record %lu: bad rank in '%s'", in->name,
			    in->recno, LAYOUT);
		for (int r = 0; r < rank; r++) {
			dims[r] = layout[k * 9 + 1 + r];
			if (dims[r] != 0 && numel > UINT64_MAX / dims[r])
				tool_die("%s: record %lu: bad shape in '%s'",
				    in->name, in->recno, LAYOUT);
			numel *= dims[r];
		}
		want = bits < 8 ? (numel * bits + 7) / 8 : numel;
		if (t->dtype != (bits <= 8 ? FL_U8 : FL_U16) ||
		    t->numel != want || !(range[k] >= 0) ||
		    !isfinite(range[k]))
			tool_die("%s: record %lu: tensor '%s' does not match "
			    "its layout", in->name, in->recno, t->name);
		step = 2 * range[k] / levels;
		w = fl_tensor_add(outr, t->name, FL_F32, rank, dims, &err);
		if (w == NULL)
			tool_die("%s: record %lu: %s", in->name, in->recno,
			    err.msg);
		out = w->data;
		for (uint64_t j = 0; j < numel; j++) {
			uint64_t lv;

			if (bits < 8) {
				uint64_t bit = j * bits;
				unsigned two = pk[bit / 8] | (bit / 8 + 1 <
				    t->numel ? (unsigned)pk[bit / 8 + 1] << 8 :
				    0);

				lv = (two >> (bit % 8)) & ((1u << bits) - 1);
			} else if (bits == 8) {
				lv = pk[j];
			} else {
				lv = ((const uint16_t *)t->data)[j];
			}
			out[j] = (float)((double)lv * step - range[k]);
		}
		k++;
	}
	drop_codec_keys(outr);
}

/* ---- EDEN: rotation and Lloyd-Max levels (codec eden) ---- */

/* The Lloyd-Max quantizer of N(0, 1) with 2^b levels, b = 1..4: the
 * positive half (the negative half mirrors it). */
static const double lloyd_max[5][8] = {
	{ 0 },
	{ 0.7979 },
	{ 0.4528, 1.5104 },
	{ 0.2451, 0.7560, 1.3439, 2.1519 },
	{ 0.1284, 0.3881, 0.6568, 0.9424, 1.2562, 1.6181, 2.0690, 2.7326 },
};

/* Level k of 2^b, ascending: the negatives first. */
static double
eden_level(int b, unsigned k)
{
	unsigned half = 1u << (b - 1);

	return k < half ? -lloyd_max[b][half - 1 - k] : lloyd_max[b][k - half];
}

/* Pack n levels of b bits (b < 8), least significant bit first. */
static void
pack(unsigned char *out, const unsigned char *lv, uint64_t n, int b)
{
	uint64_t acc = 0;
	int nbits = 0;

	for (uint64_t j = 0; j < n; j++) {
		acc |= (uint64_t)lv[j] << nbits;
		nbits += b;
		while (nbits >= 8) {
			*out++ = (unsigned char)acc;
			acc >>= 8;
			nbits -= 8;
		}
	}
	if (nbits > 0)
		*out = (unsigned char)acc;
}

static unsigned
unpack(const unsigned char *pk, uint64_t nbytes, uint64_t j, int b)
{
	uint64_t bit = j * (uint64_t)b;
	unsigned two = pk[bit / 8] | (bit / 8 + 1 < nbytes ?
	    (unsigned)pk[bit / 8 + 1] << 8 : 0);

	return (two >> (bit % 8)) & ((1u << b) - 1);
}

/*
 * Vargaftik et al. 2022: rotate (y = H D x, padded), normalise
 * z = y / ||x|| (coordinates close to N(0, 1)), round each to the nearest
 * Lloyd-Max level c (deterministic), and send the levels with the one
 * scale S = ||x||^2 sqrt(d_pad) / <y, c> that makes the estimate
 * x = D H (S c) / d_pad unbiased over the rotation.  Levels are packed per
 * tensor like --bits; q.layout holds the shapes, q.range the scale S.
 */
static void
eden_encode(const struct opts *o, struct fl_record *rec,
    struct fl_record *outr, const struct tool_input *in, double *vnmse)
{
	struct fl_error err;
	uint64_t d = 0, dpad, off, *layout;
	double ss = 0, norm, dot = 0, S, e2 = 0;
	unsigned char key[FL_RNG_KEYBYTES], *lv;
	char seedbuf[256];
	const char *seed = o->rotation_seed, *v;
	size_t nf = 0, k = 0;
	int b = o->eden;
	float *buf;

	refuse_encoded(rec, in);
	d = encoder_input(rec, in, "EDEN", &nf, &ss);
	if (seed == NULL) {
		const char *c = fl_meta_get(rec, "client");

		if ((v = fl_meta_get(rec, "round")) == NULL)
			tool_die("%s: record %lu: no rotation seed: give "
			    "--rotation-seed or a record with a round",
			    in->name, in->recno);
		/* Each client its own rotation, so that errors average out
		 * over clients. */
		snprintf(seedbuf, sizeof(seedbuf), "round-%llu%s%.64s",
		    (unsigned long long)need_u64(rec, in, "round", 0,
		    UINT64_MAX), c ? ":" : "", c ? c : "");
		seed = seedbuf;
	}
	dpad = fl_rht_dim(d);
	if (dpad > SIZE_MAX / sizeof(float))
		tool_die("%s: record %lu: too many values", in->name,
		    in->recno);
	buf = tool_malloc(dpad * sizeof(float));
	lv = tool_malloc(dpad);
	layout = tool_malloc(nf * 9 * sizeof(*layout));
	memset(layout, 0, nf * 9 * sizeof(*layout));
	gather_floats(rec, in, buf);
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];

		if (!fl_dtype_is_float(t->dtype))
			continue;
		layout[k * 9] = (uint64_t)t->rank;
		for (int r = 0; r < t->rank; r++)
			layout[k * 9 + 1 + r] = t->dims[r];
		k++;
	}
	memset(buf + d, 0, (dpad - d) * sizeof(float));
	fl_rht_key(key, seed);
	if (fl_rht_hd(buf, dpad, key, 0, &err) < 0)
		tool_die("%s: record %lu: %s", in->name, in->recno, err.msg);
	norm = sqrt(ss);
	for (uint64_t j = 0; j < dpad; j++) {
		double z = norm > 0 ? buf[j] / norm : 0;
		unsigned half = 1u << (b - 1), m = 0;

		/* The nearest level: count the midpoints below z. */
		while (m + 1 < half && fabs(z) > (lloyd_max[b][m] +
		    lloyd_max[b][m + 1]) / 2)
			m++;
		lv[j] = (unsigned char)(z < 0 ? half - 1 - m : half + m);
		dot += buf[j] * eden_level(b, lv[j]);
	}
	S = dot > 0 ? ss * sqrt((double)dpad) / dot : 0;
	if (o->stats) {
		/* Decode it to measure the error on the d real values. */
		for (uint64_t j = 0; j < dpad; j++)
			buf[j] = (float)(S * eden_level(b, lv[j]) /
			    sqrt((double)dpad));
		if (fl_rht_hd(buf, dpad, key, 1, &err) < 0)
			tool_die("%s: record %lu: %s", in->name, in->recno,
			    err.msg);
		off = 0;
		for (size_t i = 0; i < rec->ntensors; i++) {
			const struct fl_tensor *t = &rec->tensors[i];

			if (!fl_dtype_is_float(t->dtype))
				continue;
			for (uint64_t j = 0; j < t->numel; j++) {
				double e = buf[off + j] - fl_tensor_get(t, j);

				e2 += e * e;
			}
			off += t->numel;
		}
		*vnmse = e2 / ss;
	}
	free(buf);

	fl_record_clear(outr);
	if (fl_meta_copy(outr, rec, &err) < 0)
		tool_die("%s: record %lu: %s", in->name, in->recno, err.msg);
	off = 0;
	for (size_t i = 0; i <= rec->ntensors; i++) {
		const struct fl_tensor *t = i < rec->ntensors ?
		    &rec->tensors[i] : NULL;
		uint64_t n = t ? t->numel : dpad - d, nbytes;
		struct fl_tensor *w;

		if (t == NULL && n == 0)
			break;
		if (t != NULL && strcmp(t->name, INDICATOR) == 0) {
			w = fl_tensor_add(outr, t->name, t->dtype, t->rank,
			    t->dims, &err);
			if (w == NULL)
				tool_die("%s: record %lu: %s", in->name,
				    in->recno, err.msg);
			memcpy(w->data, t->data, t->nbytes);
			continue;
		}
		nbytes = (n * (uint64_t)b + 7) / 8;
		w = fl_tensor_add(outr, t ? t->name : PAD, FL_U8, 1, &nbytes,
		    &err);
		if (w == NULL)
			tool_die("%s: record %lu: %s", in->name, in->recno,
			    err.msg);
		pack(w->data, lv + off, n, b);
		off += n;
	}
	free(lv);
	{
		uint64_t dl[2] = { nf, 9 }, dr[1] = { 1 };
		struct fl_tensor *t = fl_tensor_add(outr, LAYOUT, FL_U64, 2, dl,
		    &err);

		if (t == NULL)
			tool_die("%s: record %lu: %s", in->name, in->recno,
			    err.msg);
		memcpy(t->data, layout, t->nbytes);
		t = fl_tensor_add(outr, RANGE, FL_F64, 1, dr, &err);
		if (t == NULL)
			tool_die("%s: record %lu: %s", in->name, in->recno,
			    err.msg);
		memcpy(t->data, &S, sizeof(S));
	}
	free(layout);
	set(outr, in, "q.codec", "eden");
	set_u64(outr, in, "q.bits", (uint64_t)b);
	set(outr, in, "q.rotation", "hd");
	set(outr, in, "q.rotation-seed", seed);
	set_u64(outr, in, "q.dim", d);
}

static void
eden_decode(struct fl_record *rec, struct fl_record *outr,
    const struct tool_input *in)
{
	struct fl_error err;
	int b = (int)need_u64(rec, in, "q.bits", 1, 4);
	uint64_t dim = need_u64(rec, in, "q.dim", 1, UINT64_C(1) << 40);
	uint64_t dpad = fl_rht_dim(dim), nf = 0, k = 0, off = 0;
	const char *seed = need(rec, in, "q.rotation-seed");
	const struct fl_tensor *lt = fl_tensor_find(rec, LAYOUT);
	const struct fl_tensor *rt = fl_tensor_find(rec, RANGE);
	unsigned char key[FL_RNG_KEYBYTES];
	const uint64_t *layout;
	double S;
	float *buf;

	if (lt == NULL || rt == NULL)
		tool_die("%s: record %lu: missing quantization metadata: "
		    "tensor '%s'", in->name, in->recno, lt == NULL ? LAYOUT :
		    RANGE);
	for (size_t i = 0; i < rec->ntensors; i++)
		nf += !side_tensor(rec->tensors[i].name) &&
		    strcmp(rec->tensors[i].name, PAD) != 0;
	if (lt->dtype != FL_U64 || lt->rank != 2 || lt->dims[0] != nf ||
	    lt->dims[1] != 9 || rt->dtype != FL_F64 || rt->numel != 1)
		tool_die("%s: record %lu: tensors '%s' and '%s' do not describe "
		    "the %llu encoded tensors", in->name, in->recno, LAYOUT,
		    RANGE, (unsigned long long)nf);
	layout = lt->data;
	S = ((const double *)rt->data)[0];
	if (!isfinite(S))
		tool_die("%s: record %lu: bad scale in '%s'", in->name,
		    in->recno, RANGE);
	buf = tool_malloc(dpad * sizeof(float));
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		uint64_t n = 1;

		if (side_tensor(t->name))
			continue;
		if (strcmp(t->name, PAD) == 0) {
			n = dpad - dim;
		} else {
			if (layout[k * 9] > FL_MAX_RANK)
				tool_die("%s: record %lu: bad rank in '%s'",
				    in->name, in->recno, LAYOUT);
			for (uint64_t r = 0; r < layout[k * 9]; r++) {
				uint64_t dr = layout[k * 9 + 1 + r];

				if (dr != 0 && n > UINT64_MAX / dr)
					tool_die("%s: record %lu: bad shape in "
					    "'%s'", in->name, in->recno,
					    LAYOUT);
				n *= dr;
			}
			k++;
		}
		if (t->dtype != FL_U8 || off + n > dpad ||
		    t->numel != (n * (uint64_t)b + 7) / 8)
			tool_die("%s: record %lu: tensor '%s' does not match "
			    "its layout", in->name, in->recno, t->name);
		for (uint64_t j = 0; j < n; j++)
			buf[off + j] = (float)(S * eden_level(b, unpack(t->data,
			    t->numel, j, b)) / sqrt((double)dpad));
		off += n;
	}
	if (off != dpad)
		tool_die("%s: record %lu: %llu values, q.dim %llu wants %llu",
		    in->name, in->recno, (unsigned long long)off,
		    (unsigned long long)dim, (unsigned long long)dpad);
	fl_rht_key(key, seed);
	if (fl_rht_hd(buf, dpad, key, 1, &err) < 0)
		tool_die("%s: record %lu: %s", in->name, in->recno, err.msg);

	fl_record_clear(outr);
	if (fl_meta_copy(outr, rec, &err) < 0)
		tool_die("%s: record %lu: %s", in->name, in->recno, err.msg);
	off = 0;
	k = 0;
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		uint64_t dims[FL_MAX_RANK];
		struct fl_tensor *w;
		int rank;

		if (strcmp(t->name, INDICATOR) == 0) {
			w = fl_tensor_add(outr, t->name, t->dtype, t->rank,
			    t->dims, &err);
			if (w == NULL)
				tool_die("%s: record %lu: %s", in->name,
				    in->recno, err.msg);
			memcpy(w->data, t->data, t->nbytes);
			continue;
		}
		if (side_tensor(t->name) || strcmp(t->name, PAD) == 0)
			continue;
		rank = (int)layout[k * 9];
		for (int r = 0; r < rank; r++)
			dims[r] = layout[k * 9 + 1 + r];
		k++;
		w = fl_tensor_add(outr, t->name, FL_F32, rank, dims, &err);
		if (w == NULL)
			tool_die("%s: record %lu: %s", in->name, in->recno,
			    err.msg);
		memcpy(w->data, buf + off, w->nbytes);
		off += w->numel;
	}
	free(buf);
	drop_codec_keys(outr);
}

/* ---- sparsification (codecs randk and topk) ---- */

#define SHAPES "q.shapes"

/*
 * The client's error-feedback state: a kind=state record with one f32
 * tensor per float tensor of the updates (same names and shapes), read
 * from path if it exists, carried from record to record, and written back
 * atomically once every record is out.
 */
struct residual {
	const char *path;
	struct fl_record rec;
	int loaded;             /* rec holds a residual (file or last record) */
	int used;               /* a record went through: write it back */
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
	const char *k, *c;
	char q[FL_QUOTE];
	FILE *fp;
	int rc;

	fl_record_init(&rs->rec);
	if ((fp = fopen(rs->path, "rb")) == NULL) {
		if (errno == ENOENT)
			return;         /* the first round: zero */
		tool_die("%s: %s", rs->path, strerror(errno));
	}
	if ((rc = fl_record_read(&rs->rec, fp, lim, &err)) < 0)
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
	k = fl_meta_get(&rs->rec, "kind");
	c = fl_meta_get(&rs->rec, "q.codec");
	if (k == NULL || strcmp(k, "state") != 0 || (c != NULL &&
	    strcmp(c, "topk") != 0))
		tool_die("%s: record 1: not a top-k residual (kind=state%s%s)",
		    rs->path, c ? ", q.codec=" : "", c ? fl_escape(q,
		    sizeof(q), c, strlen(c)) : "");
	rs->loaded = 1;
}

/* The residual's tensors must be the update's float tensors, in order. */
static void
residual_check(struct residual *rs, const struct fl_record *rec,
    const struct tool_input *in)
{
	struct fl_error err;
	size_t j = 0;

	if (!rs->loaded) {
		fl_record_clear(&rs->rec);
		if (fl_meta_set(&rs->rec, "kind", "state", &err) < 0)
			tool_die("%s: %s", rs->path, err.msg);
		for (size_t i = 0; i < rec->ntensors; i++) {
			const struct fl_tensor *t = &rec->tensors[i];

			if (fl_dtype_is_float(t->dtype) &&
			    fl_tensor_add(&rs->rec, t->name, FL_F32, t->rank,
			    t->dims, &err) == NULL)
				tool_die("%s: %s", rs->path, err.msg);
		}
		rs->loaded = 1;
		return;
	}
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i], *r;
		char s1[64], s2[64];

		if (!fl_dtype_is_float(t->dtype))
			continue;
		if (j >= rs->rec.ntensors)
			tool_die("%s: record 1: the residual does not match "
			    "%s record %lu: no tensor '%s'", rs->path,
			    in->name, in->recno, t->name);
		r = &rs->rec.tensors[j++];
		if (strcmp(r->name, t->name) != 0)
			tool_die("%s: record 1: the residual does not match "
			    "%s record %lu: tensor '%s' where the update has "
			    "'%s'", rs->path, in->name, in->recno, r->name,
			    t->name);
		fl_shape_format(s1, sizeof(s1), r->rank, r->dims);
		fl_shape_format(s2, sizeof(s2), t->rank, t->dims);
		if (r->dtype != FL_F32 || strcmp(s1, s2) != 0)
			tool_die("%s: record 1: the residual does not match "
			    "%s record %lu: tensor '%s' is %s %s, the update's "
			    "%s", rs->path, in->name, in->recno, r->name,
			    fl_dtype_name(r->dtype), s1, s2);
	}
	if (j != rs->rec.ntensors)
		tool_die("%s: record 1: the residual does not match %s record "
		    "%lu: tensor '%s' is not in the update", rs->path,
		    in->name, in->recno, rs->rec.tensors[j].name);
}

/* Write the residual beside its path; renamed by residual_commit. */
static void
residual_write(struct residual *rs, struct fl_atomic *a)
{
	struct fl_error err;

	/* Private: the residual is what the client did not send. */
	if (fl_atomic_open(a, rs->path, 0600, &err) < 0)
		tool_die("%s: %s", rs->path, err.msg);
	pending_residual = a;
	atexit(remove_pending_residual);
	if (fl_record_write(a->fp, &rs->rec, 0, &err) < 0)
		tool_die("%s: %s", rs->path, err.msg);
}

/* The shapes of the float tensors, "[2,3] [5]", for decoding. */
static void
set_shapes(struct fl_record *outr, const struct fl_record *rec,
    const struct tool_input *in)
{
	char buf[FL_MAX_VALUE + 1];
	struct fl_error err;

	if (fl_sparse_shapes(rec, buf, sizeof(buf), &err) < 0)
		tool_die("%s: record %lu: %s", in->name, in->recno, err.msg);
	set(outr, in, SHAPES, buf);
}

/* The buffers of the record being coded: reachable from here when a
 * tool_die ends the program in the middle (no leak), freed after each. */
static struct {
	float *x, *p, *vals;
	uint64_t *idx;
} scratch;

static void
sparse_encode(const struct opts *o, struct fl_record *rec,
    struct fl_record *outr, const struct tool_input *in,
    struct residual *rs, double *vnmse)
{
	struct fl_error err;
	int topk = o->topk != NULL;
	const char *spec = topk ? o->topk : o->randk, *v, *seed = NULL;
	uint64_t d = 0, k, off;
	unsigned char key[FL_RNG_KEYBYTES];
	char seedbuf[64];
	double scale = 1, ss = 0, e2 = 0;
	float *x, *p, *vals;
	uint64_t *idx;

	refuse_encoded(rec, in);
	d = encoder_input(rec, in, "sparsification", NULL, NULL);
	for (size_t i = 0; i < rec->ntensors; i++)
		if (rec->tensors[i].numel > UINT32_MAX)   /* top-k's u32 idx */
			tool_die("%s: record %lu: tensor '%s' has more than "
			    "2^32 values", in->name, in->recno,
			    rec->tensors[i].name);
	if (fl_sparse_k(spec, d, &k, &err) < 0)
		tool_die("%s: record %lu: invalid --%s '%s': %s", in->name,
		    in->recno, topk ? "top-k" : "rand-k", spec, err.msg);
	if (!topk) {
		if ((seed = o->sparse_seed) == NULL) {
			if (fl_meta_get(rec, "round") == NULL)
				tool_die("%s: record %lu: no sparse seed: give "
				    "--sparse-seed or a record with a round",
				    in->name, in->recno);
			snprintf(seedbuf, sizeof(seedbuf), "round-%llu",
			    (unsigned long long)need_u64(rec, in, "round", 0,
			    UINT64_MAX));
			seed = seedbuf;
		}
		scale = (double)d / (double)k;
	}
	if (d > SIZE_MAX / sizeof(uint64_t))
		tool_die("%s: record %lu: too many values", in->name,
		    in->recno);
	/* Every check that can fail before the buffers. */
	if (rs != NULL) {
		residual_check(rs, rec, in);
		for (size_t i = 0; i < rs->rec.ntensors; i++)
			if (fl_tensor_check_finite(&rs->rec.tensors[i],
			    &err) < 0)
				tool_die("%s: record 1: %s", rs->path, err.msg);
	}
	x = scratch.x = tool_malloc(d * sizeof(float));
	p = rs != NULL ? (scratch.p = tool_malloc(d * sizeof(float))) : x;
	idx = scratch.idx = tool_malloc(k * sizeof(*idx));
	vals = scratch.vals = tool_malloc(k * sizeof(*vals));
	gather_floats(rec, in, x);

	/* Error feedback: select from update + residual. */
	if (rs != NULL) {
		off = 0;
		for (size_t i = 0; i < rs->rec.ntensors; i++) {
			const struct fl_tensor *t = &rs->rec.tensors[i];

			memcpy(p + off, t->data, t->nbytes);
			off += t->numel;
		}
		if (fl_ef_add(p, x, d, &err) < 0)
			tool_die("%s: record %lu: %s "
			    "(residual %s)", in->name, in->recno, err.msg,
			    rs->path);
	}
	if (topk) {
		if (fl_topk_indices(p, d, k, idx, &err) < 0)
			tool_die("%s: record %lu: %s",
			    in->name, in->recno, err.msg);
	} else {
		fl_sparse_key(key, seed);
		if (fl_randk_indices(d, k, key, idx, &err) < 0)
			tool_die("%s: record %lu: %s",
			    in->name, in->recno, err.msg);
	}
	fl_sparse_gather(p, idx, k, scale, vals);
	for (uint64_t j = 0; j < k; j++)
		if (!isfinite(vals[j]))
			tool_die("%s: record %lu: value "
			    "%llu times d/K = %g does not fit in f32",
			    in->name, in->recno, (unsigned long long)idx[j],
			    scale);

	/* The error of this record against the update read. */
	for (uint64_t i = 0; i < d; i++)
		ss += (double)x[i] * x[i];
	e2 = ss;
	for (uint64_t j = 0; j < k; j++) {
		double xi = x[idx[j]], e = (double)vals[j] - xi;

		e2 += e * e - xi * xi;
	}
	*vnmse = e2 / ss;

	if (rs != NULL) {
		fl_ef_residual(p, p, d, idx, vals, k);
		off = 0;
		for (size_t i = 0; i < rs->rec.ntensors; i++) {
			struct fl_tensor *t = &rs->rec.tensors[i];

			memcpy(t->data, p + off, t->nbytes);
			off += t->numel;
		}
		if ((v = fl_meta_get(rec, "round")) != NULL)
			set(&rs->rec, in, "round", v);
		else
			fl_meta_del(&rs->rec, "round");
		set(&rs->rec, in, "q.codec", "topk");
		rs->used = 1;
	}

	/* The sparse record: per float tensor its chosen values in index
	 * order (f32 [k_t]), and for top-k their flat indices within the
	 * tensor (u32 [k_t], NAME:idx). */
	fl_record_clear(outr);
	if (fl_meta_copy(outr, rec, &err) < 0 ||
	    fl_sparse_build(outr, rec, idx, vals, k, topk, &err) < 0)
		tool_die("%s: record %lu: %s", in->name, in->recno, err.msg);
	free(vals);
	free(idx);
	if (p != x)
		free(p);
	free(x);
	memset(&scratch, 0, sizeof(scratch));
	sodium_memzero(key, sizeof(key));

	set(outr, in, "q.codec", topk ? "topk" : "randk");
	set_u64(outr, in, "q.k", k);
	set_u64(outr, in, "q.dim", d);
	set_shapes(outr, rec, in);
	if (!topk)
		set(outr, in, "q.sparse-seed", seed);
}

/*
 * What -d --mean divides a decoded sum by: the record's exact client count,
 * or with --mean=N the public N.  A fixed denominator (McMahan et al. 2018's
 * fixed-denominator estimator) keeps the released mean from depending on how
 * many clients took part: only the noised sum does.
 */
static double
mean_divisor(const struct opts *o, const struct fl_record *rec,
    const struct tool_input *in, int is_sum)
{
	if (!o->mean || !is_sum)
		return 1;
	if (!isnan(o->denominator))
		return o->denominator;
	if (fl_meta_get(rec, "clients") == NULL)
		return 1;
	return (double)need_u64(rec, in, "clients", 1, UINT64_MAX);
}

static void
mark_mean(const struct opts *o, struct fl_record *outr,
    const struct tool_input *in, double divisor)
{
	struct fl_error err;
	char buf[FL_NUMBUF];

	if (!isnan(o->denominator)) {
		set(outr, in, "agg", "mean");
		if (fl_meta_set(outr, "agg.denominator", fl_format_double(buf,
		    divisor), &err) < 0)
			tool_die("%s: record %lu: %s", in->name, in->recno,
			    err.msg);
	} else if (divisor > 1) {
		set(outr, in, "agg", "mean");
	}
}

static void
sparse_decode(const struct opts *o, struct fl_record *rec,
    struct fl_record *outr, const struct tool_input *in, int topk)
{
	struct fl_error err;
	const char *agg = fl_meta_get(rec, "agg"), *kind;
	uint64_t k, dim, total;
	double count;
	uint64_t *idx = NULL;
	unsigned char key[FL_RNG_KEYBYTES];

	kind = fl_meta_get(rec, "kind");
	if (topk && (agg != NULL || fl_meta_get(rec, "clients") != NULL ||
	    (kind != NULL && strcmp(kind, "aggregate") == 0)))
		tool_die("%s: record %lu: a sum of top-k records cannot be "
		    "decoded (each client sent other coordinates): decode "
		    "each client's record before fl-aggregate", in->name,
		    in->recno);
	k = need_u64(rec, in, "q.k", 1, UINT64_C(1) << 40);
	dim = need_u64(rec, in, "q.dim", 1, UINT64_C(1) << 40);
	if (k > dim)
		tool_die("%s: record %lu: q.k %llu is more than q.dim %llu",
		    in->name, in->recno, (unsigned long long)k,
		    (unsigned long long)dim);
	need(rec, in, SHAPES);
	/* The record's own values bound what the header may ask for: a
	 * header claiming more is refused before anything is allocated. */
	total = 0;
	for (size_t i = 0; i < rec->ntensors; i++)
		if (fl_dtype_is_float(rec->tensors[i].dtype) &&
		    strcmp(rec->tensors[i].name, INDICATOR) != 0)
			total += rec->tensors[i].numel;
	if (total != k)
		tool_die("%s: record %lu: %llu values, q.k says %llu",
		    in->name, in->recno, (unsigned long long)total,
		    (unsigned long long)k);
	if (!topk) {
		/* The public seed gives the coordinates back: every client
		 * of the round sent the same ones, so sums decode too. */
		idx = scratch.idx = tool_malloc(k * sizeof(*idx));
		fl_sparse_key(key, need(rec, in, "q.sparse-seed"));
		if (fl_randk_indices(dim, k, key, idx, &err) < 0)
			tool_die("%s: record %lu: %s", in->name, in->recno,
			    err.msg);
		sodium_memzero(key, sizeof(key));
	}
	count = mean_divisor(o, rec, in, agg == NULL || strcmp(agg, "sum") == 0);

	fl_record_clear(outr);
	if (fl_meta_copy(outr, rec, &err) < 0 || fl_sparse_expand(outr, rec,
	    fl_meta_get(rec, SHAPES), k, dim, idx, count, &err) < 0)
		tool_die("%s: record %lu: %s", in->name, in->recno, err.msg);
	free(idx);
	scratch.idx = NULL;
	drop_codec_keys(outr);
	mark_mean(o, outr, in, count);
}

/* ---- the way back ---- */

/* ---- decoding ---- */

struct stream_state {
	char *seed;             /* rotation seed of the first record */
	unsigned long recno;
	const char *file;
};

/*
 * A ring record, or a sum of them, back to floats.  One whose values were
 * rand-k values (q.sparse.codec) comes back as the rand-k record: its
 * values scaled by d/K again, its keys restored, the mean left to the
 * sparse decoding.
 */
static void
ring_decode(const struct opts *o, struct fl_record *rec,
    struct fl_record *outr, const struct tool_input *in,
    struct stream_state *st)
{
	struct fl_error err;
	const char *rot, *seed = NULL, *sparse;
	uint64_t bits, dim, dpad, mod, n = 0, off;
	unsigned char key[FL_RNG_KEYBYTES];
	double scale, f, unsparse = 1, count;
	char q[FL_QUOTE], q2[FL_QUOTE];
	float *buf;

	sparse = fl_meta_get(rec, "q.sparse.codec");
	if (sparse != NULL) {
		uint64_t k, d;

		if (strcmp(sparse, "randk") != 0)
			tool_die("%s: record %lu: q.sparse.codec '%s': only "
			    "rand-k values go through the ring", in->name,
			    in->recno, fl_escape(q, sizeof(q), sparse,
			    strlen(sparse)));
		k = need_u64(rec, in, "q.sparse.k", 1, UINT64_C(1) << 40);
		d = need_u64(rec, in, "q.sparse.dim", 1, UINT64_C(1) << 40);
		unsparse = (double)d / (double)k;
	}
	bits = need_u64(rec, in, "q.bits", 2, 32);
	scale = need_double(rec, in, "q.scale", 0, INFINITY);
	if (!(scale > 0))
		tool_die("%s: record %lu: metadata q.scale must be positive",
		    in->name, in->recno);
	dim = need_u64(rec, in, "q.dim", 1, UINT64_C(1) << 40);
	mod = need_u64(rec, in, "modulus", 2, UINT64_MAX);
	if (mod != UINT64_C(1) << bits)
		tool_die("%s: record %lu: modulus %llu is not 2^q.bits",
		    in->name, in->recno, (unsigned long long)mod);
	rot = need(rec, in, "q.rotation");
	if (strcmp(rot, "hd") == 0) {
		seed = need(rec, in, "q.rotation-seed");
		dpad = fl_rht_dim(dim);
	} else if (strcmp(rot, "none") == 0) {
		dpad = dim;
	} else {
		tool_die("%s: record %lu: unknown q.rotation '%s'", in->name,
		    in->recno, fl_escape(q, sizeof(q), rot, strlen(rot)));
	}
	/* One decoding run is one round: every record must share the
	 * rotation, or the sums were of different rounds' encodings. */
	if (st->seed == NULL) {
		st->seed = strdup(seed ? seed : "");
		if (st->seed == NULL)
			tool_die("out of memory");
		st->recno = in->recno;
		st->file = in->name;
	} else if (strcmp(st->seed, seed ? seed : "") != 0) {
		tool_die("%s: record %lu: mixed rotation seeds: '%s' here, "
		    "'%s' in %s record %lu", in->name, in->recno,
		    fl_escape(q, sizeof(q), seed ? seed : "",
		    seed ? strlen(seed) : 0), fl_escape(q2, sizeof(q2),
		    st->seed, strlen(st->seed)), st->file, st->recno);
	}
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];

		if (strcmp(t->name, INDICATOR) == 0)
			continue;
		if (t->dtype != FL_U32)
			tool_die("%s: record %lu: tensor '%s' is %s, not a "
			    "ring value (u32)", in->name, in->recno, t->name,
			    fl_dtype_name(t->dtype));
		n += t->numel;
	}
	if (n != dpad)
		tool_die("%s: record %lu: %llu ring values, q.dim %llu wants "
		    "%llu", in->name, in->recno, (unsigned long long)n,
		    (unsigned long long)dim, (unsigned long long)dpad);
	count = mean_divisor(o, rec, in, sparse == NULL);

	buf = tool_malloc(dpad * sizeof(float));
	f = unsparse / (scale * count);
	if (seed != NULL)
		f /= sqrt((double)dpad);
	off = 0;
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		const uint32_t *u = t->data;

		if (strcmp(t->name, INDICATOR) == 0)
			continue;
		fl_ring_unwrap(u, t->numel, mod, f, buf + off);
		off += t->numel;
	}
	/* H here; D as the values are copied out (the padding needs
	 * none). */
	if (seed != NULL) {
		fl_rht_key(key, seed);
		if (fl_fwht(buf, dpad, &err) < 0)
			tool_die("%s: record %lu: %s", in->name, in->recno,
			    err.msg);
	}

	fl_record_clear(outr);
	if (fl_meta_copy(outr, rec, &err) < 0)
		tool_die("%s: record %lu: %s", in->name, in->recno, err.msg);
	off = 0;
	for (size_t i = 0; i < rec->ntensors; i++) {
		const struct fl_tensor *t = &rec->tensors[i];
		int ind = strcmp(t->name, INDICATOR) == 0;
		struct fl_tensor *u;

		if (!ind && strcmp(t->name, PAD) == 0)
			continue;
		u = fl_tensor_add(outr, t->name, ind ? FL_U32 : FL_F32,
		    t->rank, t->dims, &err);
		if (u == NULL)
			tool_die("%s: record %lu: %s", in->name, in->recno,
			    err.msg);
		if (ind) {
			memcpy(u->data, t->data, t->nbytes);
			continue;
		}
		if (seed != NULL)
			fl_rht_signs_copy(u->data, buf + off, t->numel, off,
			    key);
		else
			memcpy(u->data, buf + off, u->nbytes);
		off += t->numel;
	}
	free(buf);
	if (off != dim)
		tool_die("%s: record %lu: %llu values, q.dim says %llu",
		    in->name, in->recno, (unsigned long long)off,
		    (unsigned long long)dim);
	drop_codec_keys(outr);
	if (sparse != NULL) {
		for (size_t i = 0; i < sizeof(sparse_keys) /
		    sizeof(*sparse_keys); i++)
			set(outr, in, sparse_keys[i][0], need(rec, in,
			    sparse_keys[i][1]));
		set(outr, in, "q.sparse-seed", need(rec, in,
		    "q.sparse-seed"));
	}
	mark_mean(o, outr, in, count);
}

static void
decode(const struct opts *o, struct fl_record *rec, struct fl_record *outr,
    const struct tool_input *in, struct stream_state *st)
{
	const char *codec = fl_meta_get(rec, "q.codec");
	char q[FL_QUOTE];

	if (codec == NULL)
		tool_die("%s: record %lu: not ring-encoded: missing "
		    "quantization metadata 'q.codec'", in->name, in->recno);
	if (strcmp(codec, "sr") == 0) {
		sr_decode(rec, outr, in);
	} else if (strcmp(codec, "eden") == 0) {
		eden_decode(rec, outr, in);
	} else if (strcmp(codec, "randk") == 0 || strcmp(codec, "topk") == 0) {
		sparse_decode(o, rec, outr, in, codec[0] == 't');
	} else if (strcmp(codec, "ring") != 0) {
		tool_die("%s: record %lu: q.codec '%s': only 'ring', 'sr', "
		    "'eden', 'randk' and 'topk' records can be decoded",
		    in->name, in->recno, fl_escape(q, sizeof(q), codec,
		    strlen(codec)));
	} else if (fl_meta_get(rec, "q.sparse.codec") == NULL) {
		ring_decode(o, rec, outr, in, st);
	} else {
		/* Rand-k through the ring: both decodings in one go. */
		struct fl_record mid;

		fl_record_init(&mid);
		ring_decode(o, rec, &mid, in, st);
		sparse_decode(o, &mid, outr, in, 0);
		fl_record_free(&mid);
	}
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
	    OPT_RESIDUAL, OPT_SPARSE_SEED, OPT_TOP_K };
	static const struct option longopts[] = {
		{ "beta", required_argument, NULL, OPT_BETA },
		{ "bits", required_argument, NULL, 'b' },
		{ "clients", required_argument, NULL, 'n' },
		{ "clip", required_argument, NULL, 'c' },
		{ "decode", no_argument, NULL, 'd' },
		{ "eden", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
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
		{ NULL, 0, NULL, 0 }
	};
	struct opts o;
	unsigned char master[FL_RNG_KEYBYTES];
	struct stream_state st = { NULL, 0, NULL };
	struct residual rs;
	struct fl_atomic ratomic;
	uint64_t kk;
	struct tool_output out;
	struct tool_input in;
	struct fl_record rec, outr;
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
	tool_init(usage);
	while ((c = getopt_long(argc, argv, "b:c:de:hn:o:r:Vz", longopts,
	    NULL)) != -1) {
		switch (c) {
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
			    "records: it takes only --mean, --stats, -z and -o");
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

		if (o.decode)
			decode(&o, &rec, &outr, &in, &st);
		else if (o.eden)
			eden_encode(&o, &rec, &outr, &in, &vnmse);
		else if (o.randk || o.topk)
			sparse_encode(&o, &rec, &outr, &in, o.residual ? &rs :
			    NULL, &vnmse);
		else if (o.sr)
			sr_encode(&o, &rec, &outr, &in, master, index, &vnmse);
		else
			encode(&o, &rec, &outr, &in, master, index, &vnmse);
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
	free(st.seed);
	fl_record_free(&rec);
	fl_record_free(&outr);
	tool_input_free(&in);
	if (in.failed)
		exit(1);
	/* The residual into its temporary file, then the records, then the
	 * rename: a failure before the end leaves both as they were. */
	if (rs.used)
		residual_write(&rs, &ratomic);
	tool_output_close(&out);
	if (rs.used) {
		pending_residual = NULL;
		if (fl_atomic_commit(&ratomic, &err) < 0)
			tool_die("%s: %s (the records were written)", rs.path,
			    err.msg);
	}
	if (o.residual != NULL)
		fl_record_free(&rs.rec);
	return 0;
}
