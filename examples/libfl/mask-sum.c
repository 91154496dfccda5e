/* SPDX-License-Identifier: ISC */
/*
 * mask-sum - libfl in process: three devices each clip their update, add
 * Gaussian noise, encode it on the ring Z_(2^20) and mask it with the
 * pairwise masks of secure aggregation; the "server" adds the masked
 * vectors and decodes the sum.  The masks cancel only in the sum: each
 * masked vector alone is uniform on the ring.
 *
 * This is the arithmetic of one round without the protocol around it (no
 * identities, roster, shares or dropouts: see fl-mask(1) and secagg.sh for
 * those).  Build it against an installed libfl:
 *
 *     cc -o mask-sum mask-sum.c $(pkg-config --cflags --libs fl)
 *     ./mask-sum
 *
 * It prints the error of the decoded sum against the sum of the noised
 * updates (the ring rounding only: at most one grid step per device and
 * coordinate) and exits 1 if the masks did not cancel.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <fl.h>

enum { DEVICES = 3, DIM = 1000, BITS = 20 };

static int
fail(const char *what, const struct fl_error *err)
{
	fprintf(stderr, "mask-sum: %s: %s\n", what, err->msg);
	return 1;
}

int
main(void)
{
	static uint32_t ring[DEVICES][DIM], sum[DIM];
	static float noised[DEVICES][DIM], decoded[DIM];
	unsigned char sk[DEVICES][FL_SA_BYTES], pk[DEVICES][FL_SA_BYTES];
	unsigned char session[FL_SA_BYTES] = { 1 }, seed[FL_SA_BYTES];
	const double clip = 1.0, sigma = 0.01;
	/* The ring's scale for this many devices (fl-quantize --ring). */
	double k = fl_ring_k(1e-9);
	double scale = fl_ring_scale(BITS, DEVICES, k, clip, sigma, DIM);
	/* The rounding's norm bound: the clipped update plus its noise
	 * (norm sigma sqrt(DIM), here with 5 sigma of room). */
	double bound = fl_ring_bound(clip + 5 * sigma * sqrt(DIM), scale,
	    DIM, 0), err_max = 0;
	uint64_t dims[1] = { DIM };
	struct fl_error err;

	for (uint32_t d = 0; d < DEVICES; d++) {
		struct fl_record rec;
		struct fl_tensor *t;
		struct fl_noise nz = { .mechanism = FL_MECH_GAUSSIAN,
		    .sigma = sigma };
		struct fl_rng rng;
		unsigned char key[FL_RNG_KEYBYTES], mseed[FL_SA_BYTES];
		char text[32];
		unsigned tries;
		int clipped;

		/* The device's update: here made up, 1000 values. */
		fl_record_init(&rec);
		if ((t = fl_tensor_add(&rec, "w", FL_F32, 1, dims, &err)) == NULL)
			return fail("tensor", &err);
		snprintf(text, sizeof(text), "device %u data", d);
		fl_rng_seed_text(key, text);
		fl_rng_init(&rng, key, 0);
		for (int i = 0; i < DIM; i++)
			((float *)t->data)[i] = (float)(fl_normal(&rng) * 0.1);
		/* Clip to L2 norm 1, then noise from a private key. */
		if (fl_clip_tensors(&t, 1, clip, &clipped, &err) < 0)
			return fail("clip", &err);
		if (fl_rng_seed_os(nz.key, &err) < 0)
			return fail("seed", &err);
		if (fl_noise_tensor(t, 0, &nz, &err) < 0)
			return fail("noise", &err);
		for (int i = 0; i < DIM; i++)
			noised[d][i] = ((float *)t->data)[i];
		/* Onto the ring: stochastic rounding of value x scale. */
		if (fl_rng_seed_os(key, &err) < 0)
			return fail("seed", &err);
		if (fl_ring_round(t->data, DIM, scale, bound, BITS, key,
		    ring[d], &tries, &err) < 0)
			return fail("ring", &err);
		fl_record_free(&rec);
		fl_rng_wipe(&rng);
		/* The device's mask key pair (from a random seed). */
		if (fl_rng_seed_os(mseed, &err) < 0)
			return fail("seed", &err);
		if (fl_sa_mask_keypair(pk[d], sk[d], mseed) < 0) {
			fprintf(stderr, "mask-sum: a weak key pair\n");
			return 1;
		}
	}

	/* Each device masks with one term per peer: added towards a higher
	 * id, subtracted towards a lower one, so each pair cancels. */
	for (uint32_t d = 0; d < DEVICES; d++) {
		struct fl_sa_term terms[DEVICES - 1];
		size_t n = 0;

		for (uint32_t p = 0; p < DEVICES; p++) {
			if (p == d)
				continue;
			if (fl_sa_pair_seed(seed, sk[d], pk[p], session, d + 1,
			    p + 1, &err) < 0)
				return fail("pair", &err);
			fl_sa_tensor_key(terms[n].key, seed, "w", BITS, DIM);
			terms[n++].negate = p < d;
		}
		if (fl_sa_mask(ring[d], DIM, BITS, terms, n, 1, &err) < 0)
			return fail("mask", &err);
	}

	/* The server: the sum mod 2^20 of the masked vectors, decoded. */
	for (int i = 0; i < DIM; i++) {
		uint64_t s = 0;

		for (int d = 0; d < DEVICES; d++)
			s += ring[d][i];
		sum[i] = (uint32_t)(s & ((1u << BITS) - 1));
	}
	fl_ring_unwrap(sum, DIM, UINT64_C(1) << BITS, 1 / scale, decoded);
	for (int i = 0; i < DIM; i++) {
		double want = 0;

		for (int d = 0; d < DEVICES; d++)
			want += noised[d][i];
		err_max = fmax(err_max, fabs(decoded[i] - want));
	}
	printf("devices %d, coordinates %d, ring 2^%d, scale %.6g\n", DEVICES,
	    DIM, BITS, scale);
	printf("decoded sum vs the sum of the noised updates: max error %.3g "
	    "(bound %.3g)\n", err_max, DEVICES / scale);
	if (!(err_max <= DEVICES / scale)) {
		printf("the masks did not cancel\n");
		return 1;
	}
	/* One masked vector alone tells the server nothing: decoded, it is
	 * noise spread over the whole ring. */
	fl_ring_unwrap(ring[0], DIM, UINT64_C(1) << BITS, 1 / scale, decoded);
	{
		double alone = 0, own = 0;

		for (int i = 0; i < DIM; i++) {
			alone += fabs(decoded[i]) / DIM;
			own += fabs(noised[0][i]) / DIM;
		}
		printf("device 1's masked vector alone, decoded: mean |value| "
		    "%.3g (its update: %.3g)\n", alone, own);
	}
	printf("the masks cancelled\n");
	return 0;
}
