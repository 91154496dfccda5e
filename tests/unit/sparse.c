/* SPDX-License-Identifier: ISC */
/*
 * Unit tests of sparsification (sparse.c): the K of a spec, rand-k's public
 * index sets (deterministic, sorted, uniform), top-k against a sort, and
 * the error-feedback arithmetic.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/fl.h"
#include "unit.h"

void
test_sparse_k(void)
{
	struct fl_error err;
	uint64_t k;

	CHECK(fl_sparse_k("5", 10, &k, &err) == 0 && k == 5);
	CHECK(fl_sparse_k("10", 10, &k, &err) == 0 && k == 10);
	CHECK(fl_sparse_k("1%", 1000, &k, &err) == 0 && k == 10);
	CHECK(fl_sparse_k("0.1%", 10, &k, &err) == 0 && k == 1);
	CHECK(fl_sparse_k("100%", 7, &k, &err) == 0 && k == 7);
	CHECK(fl_sparse_k("50%", 5, &k, &err) == 0 && k == 3);
	CHECK(fl_sparse_k("11", 10, &k, &err) == -1 && err.code == FL_EINVAL);
	CHECK(strstr(err.msg, "more than the 10 coordinates") != NULL);
	CHECK(fl_sparse_k("0", 10, &k, &err) == -1);
	CHECK(fl_sparse_k("-1", 10, &k, &err) == -1);
	CHECK(fl_sparse_k("0%", 10, &k, &err) == -1);
	CHECK(fl_sparse_k("101%", 10, &k, &err) == -1);
	CHECK(fl_sparse_k("x%", 10, &k, &err) == -1);
	CHECK(fl_sparse_k("%", 10, &k, &err) == -1);
	CHECK(fl_sparse_k("", 10, &k, &err) == -1);
	CHECK(fl_sparse_k("3", 0, &k, &err) == -1);
	/* The syntax check the program makes before it knows d. */
	CHECK(fl_sparse_k("100%", UINT64_MAX, &k, &err) == 0 &&
	    k == UINT64_MAX);
}

void
test_randk(void)
{
	unsigned char key[FL_RNG_KEYBYTES], key2[FL_RNG_KEYBYTES];
	uint64_t a[64], b[64], count[20] = { 0 };
	struct fl_error err;
	int same = 1;

	fl_sparse_key(key, "round-1");
	fl_sparse_key(key2, "round-2");
	CHECK(fl_randk_indices(1000, 64, key, a, &err) == 0);
	CHECK(fl_randk_indices(1000, 64, key, b, &err) == 0);
	CHECK(memcmp(a, b, sizeof(a)) == 0);
	for (int i = 0; i < 64; i++) {
		CHECK(a[i] < 1000);
		if (i > 0)
			CHECK(a[i - 1] < a[i]);
	}
	CHECK(fl_randk_indices(1000, 64, key2, b, &err) == 0);
	for (int i = 0; i < 64; i++)
		same &= a[i] == b[i];
	CHECK(!same);
	/* The rotation of the same text is another key. */
	{
		unsigned char rk[FL_RNG_KEYBYTES];

		fl_rht_key(rk, "round-1");
		CHECK(memcmp(rk, key, sizeof(rk)) != 0);
	}
	/* k = d: everything. */
	CHECK(fl_randk_indices(64, 64, key, a, &err) == 0);
	for (int i = 0; i < 64; i++)
		CHECK(a[i] == (uint64_t)i);
	CHECK(fl_randk_indices(10, 0, key, a, &err) == -1);
	CHECK(fl_randk_indices(10, 11, key, a, &err) == -1);
	CHECK(err.code == FL_EINVAL);
	/* Uniform: 4000 draws of 5 of 20, each index expected 1000 times
	 * (std sqrt(4000 .25 .75) = 27.4; 5 std allowed). */
	for (uint64_t s = 0; s < 4000; s++) {
		unsigned char k2[FL_RNG_KEYBYTES];

		fl_rng_derive(k2, key, "test", s);
		CHECK(fl_randk_indices(20, 5, k2, a, &err) == 0);
		for (int i = 0; i < 5; i++)
			count[a[i]]++;
	}
	for (int i = 0; i < 20; i++)
		CHECK(count[i] > 1000 - 137 && count[i] < 1000 + 137);
}

/* Reference order for the brute-force check. */
static const float *ref_x;

static int
ref_cmp(const void *pa, const void *pb)
{
	uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
	float fa = fabsf(ref_x[a]), fb = fabsf(ref_x[b]);

	if (fa != fb)
		return fa > fb ? -1 : 1;
	return (a > b) - (a < b);
}

static int
cmp_u64(const void *pa, const void *pb)
{
	uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;

	return (a > b) - (a < b);
}

void
test_topk(void)
{
	static const float small[6] = { 1, -3, 3, 0, 2, -2 };
	enum { D = 2000 };
	float *x = malloc(D * sizeof(*x)), nan_[3] = { 1, NAN, 2 };
	uint64_t *got = malloc(D * sizeof(*got)), *ref = malloc(D * sizeof(*ref));
	struct fl_error err;
	struct fl_rng r;
	unsigned char key[FL_RNG_KEYBYTES];
	static const uint64_t ks[] = { 1, 2, 7, 100, 999, 1000, 1999, 2000 };

	CHECK(fl_topk_indices(small, 6, 3, got, &err) == 0);
	CHECK(got[0] == 1 && got[1] == 2 && got[2] == 4);  /* tie: 4, not 5 */
	CHECK(fl_topk_indices(small, 6, 1, got, &err) == 0 && got[0] == 1);
	CHECK(fl_topk_indices(nan_, 3, 1, got, &err) == -1);
	CHECK(strstr(err.msg, "index 1") != NULL);
	CHECK(fl_topk_indices(small, 6, 0, got, &err) == -1);
	CHECK(fl_topk_indices(small, 6, 7, got, &err) == -1);

	/* Against a full sort, with many ties (small integers) and with
	 * every value equal (the lowest indices win). */
	fl_rng_seed_text(key, "topk");
	fl_rng_init(&r, key, 0);
	for (int pass = 0; pass < 3; pass++) {
		for (uint64_t i = 0; i < D; i++)
			x[i] = pass == 0 ? (float)((int)fl_rng_below(&r, 11) - 5) :
			    pass == 1 ? (float)fl_normal(&r) : -0.0f;
		ref_x = x;
		for (size_t j = 0; j < sizeof(ks) / sizeof(*ks); j++) {
			uint64_t k = ks[j];

			for (uint64_t i = 0; i < D; i++)
				ref[i] = i;
			qsort(ref, D, sizeof(*ref), ref_cmp);
			qsort(ref, k, sizeof(*ref), cmp_u64);
			CHECK(fl_topk_indices(x, D, k, got, &err) == 0);
			CHECK(memcmp(got, ref, k * sizeof(*got)) == 0);
		}
	}
	/* Sorted input, both ways: no quadratic blow-up, same answer. */
	for (uint64_t i = 0; i < D; i++)
		x[i] = (float)i;
	CHECK(fl_topk_indices(x, D, 10, got, &err) == 0);
	CHECK(got[0] == D - 10 && got[9] == D - 1);
	for (uint64_t i = 0; i < D; i++)
		x[i] = (float)(D - i);
	CHECK(fl_topk_indices(x, D, 10, got, &err) == 0);
	CHECK(got[0] == 0 && got[9] == 9);
	fl_rng_wipe(&r);
	free(x);
	free(got);
	free(ref);
}

void
test_error_feedback(void)
{
	float x[5] = { 1, -4, 0.5f, 3, -0.25f }, e[5] = { 0.5f, 0, 0, -1, 2 };
	float p[5], res[5], vals[2], dense[5];
	uint64_t idx[2];
	struct fl_error err;

	memcpy(p, x, sizeof(p));
	CHECK(fl_ef_add(p, e, 5, &err) == 0);
	CHECK(p[0] == 1.5f && p[1] == -4 && p[3] == 2 && p[4] == 1.75f);
	CHECK(fl_topk_indices(p, 5, 2, idx, &err) == 0);
	CHECK(idx[0] == 1 && idx[1] == 3);
	fl_sparse_gather(p, idx, 2, 1, vals);
	CHECK(vals[0] == -4 && vals[1] == 2);
	fl_ef_residual(res, p, 5, idx, vals, 2);
	CHECK(res[0] == 1.5f && res[1] == 0 && res[2] == 0.5f && res[3] == 0 &&
	    res[4] == 1.75f);
	/* Sent plus residual is update plus old residual, exactly here. */
	fl_sparse_scatter(dense, 5, idx, vals, 2);
	for (int i = 0; i < 5; i++)
		CHECK(dense[i] + res[i] == x[i] + e[i]);
	/* In place, and with scaled values (what was sent is subtracted). */
	fl_sparse_gather(p, idx, 2, 2.5, vals);
	CHECK(vals[0] == -10 && vals[1] == 5);
	fl_ef_residual(p, p, 5, idx, vals, 2);
	CHECK(p[1] == 6 && p[3] == -3 && p[0] == 1.5f);
	/* Overflow is refused. */
	{
		float big[1] = { 3e38f }, big2[1] = { 3e38f };

		CHECK(fl_ef_add(big, big2, 1, &err) == -1);
		CHECK(err.code == FL_EINVAL);
	}
}

/* A sparse record built from kept values expands back to them, zeros
 * elsewhere, in the tensors' shapes, for rand-k (indices given) and top-k
 * (index tensors); a record that does not fit its metadata is refused. */
void
test_sparse_record(void)
{
	static const uint64_t idx[] = { 1, 4, 5, 9, 11 };
	static const float vals[] = { 10, 40, 50, 90, 110 };
	uint64_t wd[2] = { 2, 3 }, bd = 6, one = 1;
	struct fl_record rec, sp, back;
	struct fl_error err;
	char shapes[64];

	fl_record_init(&rec);
	fl_record_init(&sp);
	fl_record_init(&back);
	CHECK(fl_tensor_add(&rec, "w", FL_F32, 2, wd, &err) != NULL);
	CHECK(fl_tensor_add(&rec, "clip.indicator", FL_U32, 1, &one, &err) !=
	    NULL);
	CHECK(fl_tensor_add(&rec, "b", FL_F64, 1, &bd, &err) != NULL);
	CHECK(fl_sparse_shapes(&rec, shapes, sizeof(shapes), &err) == 0);
	CHECK(strcmp(shapes, "[2,3] [6]") == 0);
	CHECK(fl_sparse_shapes(&rec, shapes, 6, &err) == -1 &&
	    err.code == FL_ELIMIT);
	for (int topk = 0; topk < 2; topk++) {
		float dense[12] = { 0 };

		fl_record_clear(&sp);
		fl_record_clear(&back);
		CHECK(fl_sparse_build(&sp, &rec, idx, vals, 5, topk, &err) ==
		    0);
		CHECK(sp.ntensors == (topk ? 5u : 3u));
		CHECK(sp.tensors[0].numel == 3 && sp.tensors[0].dtype ==
		    FL_F32);
		CHECK(strcmp(sp.tensors[topk ? 3 : 2].name, "b") == 0);
		if (topk) {
			CHECK(strcmp(sp.tensors[1].name, "w:idx") == 0);
			CHECK(((uint32_t *)sp.tensors[4].data)[0] == 3);
		}
		CHECK(fl_sparse_expand(&back, &sp, "[2,3] [6]", 5, 12, topk ?
		    NULL : idx, 2, &err) == 0);
		CHECK(back.ntensors == 3);
		fl_sparse_scatter(dense, 12, idx, vals, 5);
		for (int i = 0; i < 6; i++) {
			CHECK(fl_tensor_get(&back.tensors[0], (uint64_t)i) ==
			    dense[i] / 2);
			CHECK(fl_tensor_get(&back.tensors[2], (uint64_t)i) ==
			    dense[6 + i] / 2);
		}
		CHECK(back.tensors[0].rank == 2 && back.tensors[0].dims[1] ==
		    3);
		fl_record_clear(&back);
		CHECK(fl_sparse_expand(&back, &sp, "[2,3] [5]", 5, 12, topk ?
		    NULL : idx, 1, &err) == -1);
		CHECK(strstr(err.msg, "does not add up to q.dim 12") != NULL);
		fl_record_clear(&back);
		CHECK(fl_sparse_expand(&back, &sp, "[2,3] [6]", 4, 12, topk ?
		    NULL : idx, 1, &err) == -1);
		fl_record_clear(&back);
		CHECK(fl_sparse_expand(&back, &sp, "[2,3]x", 5, 12, topk ?
		    NULL : idx, 1, &err) == -1);
		CHECK(strcmp(err.msg, "bad metadata 'q.shapes'") == 0);
	}
	fl_record_free(&rec);
	fl_record_free(&sp);
	fl_record_free(&back);
}
