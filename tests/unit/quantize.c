/* SPDX-License-Identifier: ISC */
/*
 * Unit tests of the record codecs (lib/compress/codec*.c, fl-quantize(1)):
 * each encoder's record against its decoder, hand-computed cases where
 * the codec is exact (one-bit levels, top-k with error feedback), the
 * metadata they write, and their refusals with the messages the program
 * prints.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/fl.h"
#include "compress/internal.h"
#include "unit.h"

static void
add_f32(struct fl_record *rec, const char *name, int rank,
    const uint64_t *dims, const float *v)
{
	struct fl_error err;
	struct fl_tensor *t = fl_tensor_add(rec, name, FL_F32, rank, dims,
	    &err);

	CHECK(t != NULL);
	if (t != NULL)
		memcpy(t->data, v, t->nbytes);
}

static void
add_meta(struct fl_record *rec, const char *key, const char *value)
{
	struct fl_error err;

	CHECK(fl_meta_set(rec, key, value, &err) == 0);
}

static int
meta_is(const struct fl_record *rec, const char *key, const char *value)
{
	const char *v = fl_meta_get(rec, key);

	return v != NULL && strcmp(v, value) == 0;
}

/* The record of the ring tests: w [2,3] f32, b [1] f64 and the indicator,
 * norm below 1. */
static void
update(struct fl_record *rec)
{
	static const float w[6] = { 0.1f, -0.2f, 0.3f, 0.05f, -0.4f, 0.25f };
	uint64_t wd[2] = { 2, 3 }, one = 1;
	struct fl_error err;
	struct fl_tensor *t;

	fl_record_clear(rec);
	add_meta(rec, "round", "1");
	add_meta(rec, "dp.clip", "1");
	add_f32(rec, "w", 2, wd, w);
	t = fl_tensor_add(rec, "b", FL_F64, 1, &one, &err);
	CHECK(t != NULL);
	if (t != NULL)
		((double *)t->data)[0] = -0.125;
	t = fl_tensor_add(rec, "clip.indicator", FL_U32, 1, &one, &err);
	CHECK(t != NULL);
	if (t != NULL)
		((uint32_t *)t->data)[0] = 1;
}

static struct fl_ring_params
ring_params(int bits, uint64_t clients)
{
	struct fl_ring_params p;

	memset(&p, 0, sizeof(p));
	p.bits = bits;
	p.clients = clients;
	p.clip = NAN;
	p.scale = NAN;
	p.beta = exp(-0.5);
	p.modclip = 1e-4;
	p.rotate = 1;
	p.stats = 1;
	return p;
}

/* Encoded and decoded: within a few grid steps of the values, each tensor
 * back in its name and shape, the indicator unchanged, the codec's keys
 * gone; the error measured while encoding is that of the decoding. */
void
test_codec_ring(void)
{
	struct fl_record rec, enc, dec, again;
	struct fl_ring_params p = ring_params(16, 1);
	struct fl_ring_info info;
	struct fl_decode_run run;
	struct fl_error err;
	unsigned char key[FL_RNG_KEYBYTES];
	double e2 = 0, ss = 0;

	fl_record_init(&rec);
	fl_record_init(&enc);
	fl_record_init(&dec);
	fl_record_init(&again);
	fl_rng_seed_text(key, "unit ring");
	update(&rec);
	for (int rotate = 1; rotate >= 0; rotate--) {
		p.rotate = rotate;
		CHECK(fl_ring_encode(&enc, &rec, &p, key, &info, &err) == 0);
		CHECK(info.scale > 0 && info.vnmse >= 0 && info.vnmse < 1e-4);
		CHECK(meta_is(&enc, "q.codec", "ring"));
		CHECK(meta_is(&enc, "modulus", "65536"));
		CHECK(meta_is(&enc, "q.dim", "7"));
		CHECK(meta_is(&enc, "q.rotation", rotate ? "hd" : "none"));
		CHECK(!rotate || meta_is(&enc, "q.rotation-seed", "round-1"));
		CHECK(enc.ntensors == (rotate ? 4u : 3u));
		CHECK(enc.tensors[0].dtype == FL_U32 && enc.tensors[0].rank == 2);
		CHECK(!rotate || (strcmp(enc.tensors[3].name, "q.pad") == 0 &&
		    enc.tensors[3].numel == 1));
		fl_decode_run_init(&run, 0, NAN);
		run.file = "f";
		run.recno = 1;
		CHECK(fl_ring_decode(&dec, &enc, &run, &err) == 0);
		CHECK(dec.ntensors == 3 && fl_meta_get(&dec, "q.codec") == NULL);
		CHECK(fl_meta_get(&dec, "modulus") == NULL);
		CHECK(meta_is(&dec, "round", "1"));
		e2 = ss = 0;
		for (size_t i = 0; i < 3; i++) {
			const struct fl_tensor *a = &rec.tensors[i];
			const struct fl_tensor *b = &dec.tensors[i];

			CHECK(strcmp(a->name, b->name) == 0 &&
			    a->rank == b->rank && a->numel == b->numel);
			if (i == 2) {
				CHECK(b->dtype == FL_U32 &&
				    ((uint32_t *)b->data)[0] == 1);
				continue;
			}
			CHECK(b->dtype == FL_F32);
			for (uint64_t j = 0; j < a->numel; j++) {
				double e = fl_tensor_get(b, j) -
				    fl_tensor_get(a, j);

				CHECK(fabs(e) < 1e-3);
				e2 += e * e;
				ss += fl_tensor_get(a, j) * fl_tensor_get(a, j);
			}
		}
		CHECK(fabs(e2 / ss - info.vnmse) <= 0.05 * info.vnmse);
		/* A mean by a public denominator halves the values. */
		fl_decode_run_free(&run);
		fl_decode_run_init(&run, 1, 2);
		CHECK(fl_codec_decode(&again, &enc, &run, &err) == 0);
		CHECK(fabs(fl_tensor_get(&again.tensors[0], 1) -
		    fl_tensor_get(&dec.tensors[0], 1) / 2) < 1e-6);
		CHECK(meta_is(&again, "agg", "mean"));
		CHECK(meta_is(&again, "agg.denominator", "2"));
		fl_decode_run_free(&run);
	}

	/* One run is one round: a record of another rotation is refused,
	 * naming the first. */
	p.rotate = 1;
	CHECK(fl_ring_encode(&enc, &rec, &p, key, &info, &err) == 0);
	fl_decode_run_init(&run, 0, NAN);
	run.file = "first.flt";
	run.recno = 3;
	CHECK(fl_ring_decode(&dec, &enc, &run, &err) == 0);
	CHECK(fl_meta_set(&enc, "q.rotation-seed", "other", &err) == 0);
	run.file = "second.flt";
	run.recno = 1;
	CHECK(fl_ring_decode(&dec, &enc, &run, &err) == -1);
	CHECK(strcmp(err.msg, "mixed rotation seeds: 'other' here, 'round-1' "
	    "in first.flt record 3") == 0);
	fl_decode_run_free(&run);

	/* Refusals: encoded twice, a ring too small (scale 0: the options'
	 * fault), over the clip bound, no clip bound, already noised. */
	CHECK(fl_ring_encode(&again, &enc, &p, key, &info, &err) == -1);
	CHECK(strcmp(err.msg, "already encoded (q.codec=ring)") == 0);
	p = ring_params(2, 1000);
	CHECK(fl_ring_encode(&enc, &rec, &p, key, &info, &err) == -1);
	CHECK(info.scale == 0);
	CHECK(strcmp(err.msg, "a ring of 2 bits is too small for 1000 "
	    "clients") == 0);
	p = ring_params(16, 1);
	p.clip = 0.1;
	CHECK(fl_ring_encode(&enc, &rec, &p, key, &info, &err) == -1);
	CHECK(info.scale != 0 && strncmp(err.msg, "L2 norm ", 8) == 0);
	p.clip = NAN;
	fl_meta_del(&rec, "dp.clip");
	CHECK(fl_ring_encode(&enc, &rec, &p, key, &info, &err) == -1);
	CHECK(strcmp(err.msg, "no clip bound: clip first (fl-clip-noise -c) "
	    "or give --clip") == 0);
	add_meta(&rec, "dp.mechanism", "gaussian");
	CHECK(fl_ring_encode(&enc, &rec, &p, key, &info, &err) == -1);
	CHECK(strcmp(err.msg, "already noised: encode before fl-clip-noise "
	    "--noise") == 0);
	fl_record_free(&rec);
	fl_record_free(&enc);
	fl_record_free(&dec);
	fl_record_free(&again);
}

/* One bit a value: the levels are -M and M, so values at +-M come back
 * exactly, packed least significant bit first; 16 bits: within a step. */
void
test_codec_sr(void)
{
	static const float w[5] = { -2, 2, 2, -2, 2 };
	static const float v[3] = { 0.5f, -0.75f, 0.125f };
	uint64_t five = 5, three = 3;
	struct fl_record rec, enc, dec;
	struct fl_error err;
	unsigned char key[FL_RNG_KEYBYTES];
	double vnmse = -1;
	const struct fl_tensor *t;

	fl_record_init(&rec);
	fl_record_init(&enc);
	fl_record_init(&dec);
	fl_rng_seed_text(key, "unit sr");
	add_f32(&rec, "w", 1, &five, w);
	CHECK(fl_sr_encode(&enc, &rec, 1, 0, 1, key, &vnmse, &err) == 0);
	CHECK(vnmse == 0);
	CHECK(meta_is(&enc, "q.codec", "sr") && meta_is(&enc, "q.bits", "1"));
	CHECK(meta_is(&enc, "q.seeded", "yes"));
	CHECK(enc.ntensors == 3 && enc.tensors[0].dtype == FL_U8 &&
	    enc.tensors[0].numel == 1);
	CHECK(((unsigned char *)enc.tensors[0].data)[0] == 0x16);
	t = fl_tensor_find(&enc, "q.range");
	CHECK(t != NULL && t->numel == 1 && ((double *)t->data)[0] == 2);
	CHECK(fl_sr_decode(&dec, &enc, &err) == 0);
	CHECK(dec.ntensors == 1 && memcmp(dec.tensors[0].data, w,
	    sizeof(w)) == 0 && fl_meta_get(&dec, "q.codec") == NULL);

	/* Two tensors, one range each with per_tensor. */
	add_f32(&rec, "v", 1, &three, v);
	CHECK(fl_sr_encode(&enc, &rec, 16, 1, 0, key, &vnmse, &err) == 0);
	CHECK(fl_meta_get(&enc, "q.seeded") == NULL);
	CHECK(enc.tensors[1].dtype == FL_U16 && enc.tensors[1].numel == 3);
	t = fl_tensor_find(&enc, "q.range");
	CHECK(t != NULL && t->numel == 2 && ((double *)t->data)[1] == 0.75);
	CHECK(fl_sr_decode(&dec, &enc, &err) == 0);
	for (uint64_t j = 0; j < 3; j++)
		CHECK(fabs(fl_tensor_get(&dec.tensors[1], j) - v[j]) <=
		    1.5 / 65535);
	CHECK(vnmse > 0 && vnmse < 1e-8);

	/* A record without its layout, or that does not match it. */
	fl_record_clear(&dec);
	CHECK(fl_sr_decode(&dec, &rec, &err) == -1);
	CHECK(strcmp(err.msg, "missing quantization metadata 'q.bits'") == 0);
	add_meta(&enc, "q.bits", "8");
	CHECK(fl_sr_decode(&dec, &enc, &err) == -1);
	CHECK(strcmp(err.msg, "tensor 'w' does not match its layout") == 0);
	add_meta(&enc, "q.bits", "17");
	CHECK(fl_sr_decode(&dec, &enc, &err) == -1);
	CHECK(strncmp(err.msg, "metadata q.bits '17': ", 22) == 0);
	fl_record_free(&rec);
	fl_record_free(&enc);
	fl_record_free(&dec);
}

/* EDEN: decoding gives the error the encoder measured, small at 4 bits;
 * the rotation is per client unless given. */
void
test_codec_eden(void)
{
	uint64_t n = 300;
	float *x = malloc(n * sizeof(*x));
	struct fl_record rec, enc, dec;
	struct fl_error err;
	unsigned char key[FL_RNG_KEYBYTES];
	struct fl_rng r;
	double vnmse = -1, e2 = 0, ss = 0;

	fl_record_init(&rec);
	fl_record_init(&enc);
	fl_record_init(&dec);
	CHECK(x != NULL);
	if (x == NULL)
		return;
	fl_rng_seed_text(key, "unit eden");
	fl_rng_init(&r, key, 0);
	for (uint64_t i = 0; i < n; i++)
		x[i] = (float)fl_normal(&r);
	fl_rng_wipe(&r);
	add_f32(&rec, "w", 1, &n, x);
	CHECK(fl_eden_encode(&enc, &rec, 4, NULL, NULL, &err) == -1);
	CHECK(strcmp(err.msg, "no rotation seed: give --rotation-seed or a "
	    "record with a round") == 0);
	add_meta(&rec, "round", "5");
	add_meta(&rec, "client", "c7");
	CHECK(fl_eden_encode(&enc, &rec, 4, NULL, &vnmse, &err) == 0);
	CHECK(meta_is(&enc, "q.rotation-seed", "round-5:c7"));
	CHECK(meta_is(&enc, "q.dim", "300") && meta_is(&enc, "q.bits", "4"));
	/* 300 values padded to 512: 150 bytes and the padding's 106. */
	CHECK(enc.tensors[0].numel == 150 && enc.tensors[1].numel == 106);
	CHECK(vnmse > 0 && vnmse < 0.05);
	CHECK(fl_eden_decode(&dec, &enc, &err) == 0);
	CHECK(dec.ntensors == 1 && dec.tensors[0].numel == n);
	for (uint64_t i = 0; i < n; i++) {
		double e = fl_tensor_get(&dec.tensors[0], i) - x[i];

		e2 += e * e;
		ss += (double)x[i] * x[i];
	}
	CHECK(fabs(e2 / ss - vnmse) <= 1e-9);
	CHECK(fl_eden_encode(&enc, &rec, 1, "pub", NULL, &err) == 0);
	CHECK(meta_is(&enc, "q.rotation-seed", "pub"));
	/* A scale that is not finite. */
	{
		struct fl_tensor *t = fl_tensor_find(&enc, "q.range");

		CHECK(t != NULL);
		if (t != NULL)
			((double *)t->data)[0] = INFINITY;
		CHECK(fl_eden_decode(&dec, &enc, &err) == -1);
		CHECK(strcmp(err.msg, "bad scale in 'q.range'") == 0);
	}
	free(x);
	fl_record_free(&rec);
	fl_record_free(&enc);
	fl_record_free(&dec);
}

/* Top-k with error feedback by hand: update [1, -4, 0.5, 2, 1.75], K 2
 * sends -4 and 2; the residual keeps the rest and is added next time. */
void
test_codec_sparse(void)
{
	static const float x[5] = { 1, -4, 0.5f, 2, 1.75f };
	uint64_t five = 5, two = 2;
	struct fl_sparse_params p = { "2", 1, NULL };
	struct fl_record rec, enc, dec, other;
	struct fl_ef_state ef;
	struct fl_decode_run run;
	enum fl_sparse_fault fault;
	struct fl_error err;
	double vnmse;
	const float *r;

	fl_record_init(&rec);
	fl_record_init(&enc);
	fl_record_init(&dec);
	fl_record_init(&other);
	memset(&ef, 0, sizeof(ef));
	fl_record_init(&ef.rec);
	add_meta(&rec, "round", "9");
	add_f32(&rec, "w", 1, &five, x);
	CHECK(fl_sparse_encode(&enc, &rec, &p, &ef, &vnmse, &fault,
	    &err) == 0);
	CHECK(ef.used && ef.loaded && meta_is(&ef.rec, "kind", "state"));
	CHECK(meta_is(&ef.rec, "q.codec", "topk") &&
	    meta_is(&ef.rec, "round", "9"));
	CHECK(fl_ef_state_check(&ef.rec, &err) == 0);
	CHECK(meta_is(&enc, "q.k", "2") && meta_is(&enc, "q.dim", "5") &&
	    meta_is(&enc, "q.shapes", "[5]"));
	CHECK(enc.ntensors == 2 && ((float *)enc.tensors[0].data)[0] == -4 &&
	    ((float *)enc.tensors[0].data)[1] == 2);
	CHECK(((uint32_t *)enc.tensors[1].data)[1] == 3);
	CHECK(vnmse == (1 + 0.25 + 1.75 * 1.75) / (1 + 16 + 0.25 + 4 +
	    1.75 * 1.75));
	r = ef.rec.tensors[0].data;
	CHECK(r[0] == 1 && r[1] == 0 && r[2] == 0.5f && r[3] == 0 &&
	    r[4] == 1.75f);
	/* Next time the residual counts: 1 + 1 and 1.75 + 1.75 lead. */
	CHECK(fl_sparse_encode(&enc, &rec, &p, &ef, &vnmse, &fault,
	    &err) == 0);
	CHECK(((uint32_t *)enc.tensors[1].data)[0] == 1 &&
	    ((uint32_t *)enc.tensors[1].data)[1] == 4);
	CHECK(((float *)enc.tensors[0].data)[1] == 3.5f);
	fl_decode_run_init(&run, 0, NAN);
	CHECK(fl_sparse_decode(&dec, &enc, &run, 1, &err) == 0);
	CHECK(fl_tensor_get(&dec.tensors[0], 1) == -4 &&
	    fl_tensor_get(&dec.tensors[0], 4) == 3.5 &&
	    fl_tensor_get(&dec.tensors[0], 0) == 0);
	/* A sum of top-k records cannot be decoded. */
	add_meta(&enc, "clients", "2");
	CHECK(fl_codec_decode(&dec, &enc, &run, &err) == -1);
	CHECK(strncmp(err.msg, "a sum of top-k records cannot be decoded",
	    40) == 0);

	/* The residual of other tensors: its fault, its message. */
	add_f32(&other, "v", 1, &two, x);
	CHECK(fl_sparse_encode(&enc, &other, &p, &ef, &vnmse, &fault,
	    &err) == -1);
	CHECK(fault == FL_SPARSE_MATCH);
	CHECK(strcmp(err.msg, "tensor 'w' where the update has 'v'") == 0);
	CHECK(fl_meta_set(&ef.rec, "kind", "update", &err) == 0);
	CHECK(fl_ef_state_check(&ef.rec, &err) == -1);
	CHECK(strcmp(err.msg, "not a top-k residual (kind=state, "
	    "q.codec=topk)") == 0);
	p.k = "6";
	CHECK(fl_sparse_encode(&enc, &rec, &p, NULL, &vnmse, &fault,
	    &err) == -1);
	CHECK(fault == FL_SPARSE_RECORD && strncmp(err.msg, "invalid --top-k "
	    "'6': ", 17) == 0);

	/* Rand-k: d/K times the seed's coordinates, the same for every
	 * record of the seed; a sum's mean by its clients. */
	p.k = "40%";
	p.topk = 0;
	p.seed = "pub";
	CHECK(fl_sparse_encode(&enc, &rec, &p, NULL, &vnmse, &fault,
	    &err) == 0);
	CHECK(meta_is(&enc, "q.codec", "randk") &&
	    meta_is(&enc, "q.sparse-seed", "pub") && meta_is(&enc, "q.k", "2"));
	CHECK(enc.ntensors == 1 && enc.tensors[0].numel == 2);
	add_meta(&enc, "clients", "2");
	fl_decode_run_free(&run);
	fl_decode_run_init(&run, 1, NAN);
	CHECK(fl_codec_decode(&dec, &enc, &run, &err) == 0);
	CHECK(meta_is(&dec, "agg", "mean"));
	{
		int kept = 0;

		for (uint64_t i = 0; i < 5; i++) {
			double y = fl_tensor_get(&dec.tensors[0], i);

			CHECK(y == 0 || y == (double)(float)(x[i] * 2.5) / 2);
			kept += y != 0;
		}
		CHECK(kept == 2);
	}
	p.seed = NULL;
	fl_meta_del(&rec, "round");
	CHECK(fl_sparse_encode(&enc, &rec, &p, NULL, &vnmse, &fault,
	    &err) == -1);
	CHECK(strcmp(err.msg, "no sparse seed: give --sparse-seed or a record "
	    "with a round") == 0);
	fl_decode_run_free(&run);
	fl_record_free(&rec);
	fl_record_free(&enc);
	fl_record_free(&dec);
	fl_record_free(&other);
	fl_record_free(&ef.rec);
}

/* Rand-k values through the ring decode to the rand-k record's decoding
 * in one call; records that are not encoded, or of no codec, are
 * refused. */
void
test_codec_decode(void)
{
	static const float x[8] = { 0.1f, -0.2f, 0.3f, 0.05f, -0.4f, 0.25f,
	    0.02f, -0.1f };
	uint64_t eight = 8;
	struct fl_sparse_params sp = { "4", 0, "pub" };
	struct fl_ring_params p = ring_params(20, 1);
	struct fl_record rec, sparse, enc, dec, ref;
	struct fl_ring_info info;
	struct fl_decode_run run;
	enum fl_sparse_fault fault;
	struct fl_error err;
	unsigned char key[FL_RNG_KEYBYTES];
	double vnmse;

	fl_record_init(&rec);
	fl_record_init(&sparse);
	fl_record_init(&enc);
	fl_record_init(&dec);
	fl_record_init(&ref);
	fl_rng_seed_text(key, "unit decode");
	add_meta(&rec, "round", "1");
	add_f32(&rec, "w", 1, &eight, x);
	CHECK(fl_sparse_encode(&sparse, &rec, &sp, NULL, &vnmse, &fault,
	    &err) == 0);
	fl_decode_run_init(&run, 0, NAN);
	CHECK(fl_codec_decode(&ref, &sparse, &run, &err) == 0);
	p.clip = 1;
	CHECK(fl_ring_encode(&enc, &sparse, &p, key, &info, &err) == 0);
	CHECK(meta_is(&enc, "q.sparse.codec", "randk") &&
	    meta_is(&enc, "q.sparse.k", "4") && meta_is(&enc, "q.dim", "4"));
	CHECK(fl_codec_decode(&dec, &enc, &run, &err) == 0);
	CHECK(dec.ntensors == 1 && dec.tensors[0].numel == 8);
	for (uint64_t i = 0; i < 8; i++)
		CHECK(fabs(fl_tensor_get(&dec.tensors[0], i) -
		    fl_tensor_get(&ref.tensors[0], i)) < 1e-4);
	CHECK(fl_codec_decode(&dec, &rec, &run, &err) == -1);
	CHECK(strcmp(err.msg, "not ring-encoded: missing quantization "
	    "metadata 'q.codec'") == 0);
	add_meta(&rec, "q.codec", "zip");
	CHECK(fl_codec_decode(&dec, &rec, &run, &err) == -1);
	CHECK(strcmp(err.msg, "q.codec 'zip': only 'ring', 'sr', 'eden', "
	    "'randk' and 'topk' records can be decoded") == 0);
	fl_decode_run_free(&run);
	fl_record_free(&rec);
	fl_record_free(&sparse);
	fl_record_free(&enc);
	fl_record_free(&dec);
	fl_record_free(&ref);
}

/* The shared pieces: an encoder's input checks, packing, metadata. */
void
test_codec_common(void)
{
	static const unsigned char lv[7] = { 1, 2, 3, 0, 3, 1, 2 };
	unsigned char pk[2] = { 0, 0 };
	uint64_t two = 2, d = 0, u;
	struct fl_record rec;
	struct fl_error err;
	struct fl_tensor *t;
	float f[2] = { 1, 2 };
	double ss = 0;
	size_t nf = 0;

	fl_codec_pack(pk, lv, 7, 2);
	CHECK(pk[0] == 0x39 && pk[1] == 0x27);
	for (uint64_t j = 0; j < 7; j++)
		CHECK(fl_codec_unpack(pk, 2, j, 2) == lv[j]);

	fl_record_init(&rec);
	CHECK(fl_codec_input(&rec, "X", &d, &nf, &ss, &err) == -1);
	CHECK(strcmp(err.msg, "no float values to encode") == 0);
	add_f32(&rec, "w", 1, &two, f);
	CHECK(fl_codec_input(&rec, "X", &d, &nf, &ss, &err) == 0);
	CHECK(d == 2 && nf == 1 && ss == 5);
	t = fl_tensor_add(&rec, "n", FL_I32, 1, &two, &err);
	CHECK(t != NULL);
	CHECK(fl_codec_input(&rec, "X", &d, NULL, NULL, &err) == -1);
	CHECK(strcmp(err.msg, "tensor 'n' is i32: X takes float tensors") ==
	    0);
	fl_record_clear(&rec);
	add_f32(&rec, "q.pad", 1, &two, f);
	CHECK(fl_codec_input(&rec, "X", &d, NULL, NULL, &err) == -1);
	CHECK(strcmp(err.msg, "tensor 'q.pad': a name the codecs use for "
	    "their own tensors") == 0);
	fl_record_clear(&rec);
	f[1] = NAN;
	add_f32(&rec, "w", 1, &two, f);
	CHECK(fl_codec_input(&rec, "X", &d, NULL, NULL, &err) == -1);
	CHECK(strcmp(err.msg, "tensor 'w': non-finite value at index 1") ==
	    0);
	f[1] = INFINITY;
	memcpy(rec.tensors[0].data, f, sizeof(f));
	CHECK(fl_codec_input(&rec, "X", &d, NULL, NULL, &err) == -1);
	CHECK(strcmp(err.msg, "tensor 'w': non-finite value at index 1") ==
	    0);

	add_meta(&rec, "q.k", "x");
	CHECK(fl_codec_need_u64(&rec, "q.k", 1, 10, &u, &err) == -1);
	CHECK(strncmp(err.msg, "metadata q.k 'x': ", 18) == 0);
	CHECK(fl_codec_need(&rec, "q.dim", &err) == NULL);
	CHECK(strcmp(err.msg, "missing quantization metadata 'q.dim'") == 0);
	CHECK(fl_codec_refuse_encoded(&rec, &err) == 0);
	add_meta(&rec, "q.codec", "sr");
	add_meta(&rec, "modulus", "4");
	add_meta(&rec, "round", "1");
	CHECK(fl_codec_refuse_encoded(&rec, &err) == -1);
	fl_codec_drop_keys(&rec);
	CHECK(rec.nmeta == 1 && meta_is(&rec, "round", "1"));
	fl_record_free(&rec);
}
