/* SPDX-License-Identifier: ISC */
/*
 * Unit test of the exact discrete Gaussian sampler (lib/privacy/dgauss.c):
 * for scales across its ranges (the variance with 16 fractional bits below
 * 1024 and whole above; the acceptance test's denominator below and above
 * 2^63 and its numerator below and above 2^64; up to the largest variance
 * allowed), the values drawn from a seeded generator and the generator's
 * position after them (the random bits consumed) hash to the figures the
 * plain 128-bit sampler of 1852e5a gave.  Any fast path must return the
 * same values and consume the same bits: a change here changes every
 * seeded noise share (tests/derived.bats) and every device's noise.
 */
#include <stdint.h>
#include <stdio.h>

#include "../../lib/fl.h"
#include "privacy/privacy.h"
#include "unit.h"

/* FNV-1a over the eight bytes of v, least significant first (the same
 * hash on any byte order). */
static uint64_t
fnv(uint64_t h, uint64_t v)
{
	for (int b = 0; b < 8; b++) {
		h ^= (v >> (8 * b)) & 0xff;
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

void
test_dgauss_bits(void)
{
	static const struct {
		double sigma;
		uint64_t hash;
	} cases[] = {
		{ 0.3, UINT64_C(0x7d96c930bf694399) },
		{ 0.5, UINT64_C(0x68c2b543572f7d1e) },
		{ 1, UINT64_C(0xee5925f15d7ffa9b) },
		{ 3, UINT64_C(0xe254951114daf98e) },
		{ 15, UINT64_C(0xed93ac785d228de0) },
		{ 31.9, UINT64_C(0x21c392fd04077881) },
		{ 32.1, UINT64_C(0xa3e422111c7c89da) },
		{ 100, UINT64_C(0xc03abaaea805cec5) },
		{ 1000, UINT64_C(0xf93cc9f46cf257f0) },
		/* the demo's noise share */
		{ 38384.991196945826, UINT64_C(0x17f2a6a7f7ddeb7f) },
		{ 46340, UINT64_C(0xcb6e038710e1e688) },
		{ 46341, UINT64_C(0x80ef3b9a9059e523) },
		{ 50000, UINT64_C(0x95114695603a5d81) },
		{ 1e6, UINT64_C(0x9b88ee93d55a524c) },
		{ 2.6e8, UINT64_C(0xbcf6b2d9bae9f58a) },
	};
	const size_t n = 50000;

	for (size_t c = 0; c < sizeof(cases) / sizeof(*cases); c++) {
		unsigned char key[FL_RNG_KEYBYTES];
		struct fl_dgauss dg;
		struct fl_error err;
		struct fl_rng r;
		uint64_t h = UINT64_C(0xcbf29ce484222325);

		CHECK(fl_dgauss_init(&dg, cases[c].sigma, &err) == 0);
		fl_rng_seed_text(key, "unit dgauss");
		fl_rng_init(&r, key, c);
		for (size_t i = 0; i < n; i++)
			h = fnv(h, (uint64_t)fl_dgauss(&r, &dg));
		h = fnv(fnv(h, r.block), (uint64_t)r.pos);
		fl_rng_wipe(&r);
		if (h != cases[c].hash) {
			fprintf(stderr, "dgauss sigma %.17g: hash 0x%016llx, "
			    "want 0x%016llx\n", cases[c].sigma,
			    (unsigned long long)h,
			    (unsigned long long)cases[c].hash);
			failures++;
		}
	}
}
