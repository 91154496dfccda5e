/* SPDX-License-Identifier: ISC */
/*
 * Unit tests of DP-FTRL's tree: the cover of a prefix, Honaker's weights
 * and variances, the measured variance of the prefix noise (popcount(t)
 * sigma^2 for the plain tree), the rounds' steps telescoping to the
 * prefix noise, the noise fixed by (secret, tree id), and the exact
 * sensitivity against brute force and the closed form.
 */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/fl.h"
#include "unit.h"

void
test_tree_cover(void)
{
	unsigned h[64];
	uint64_t j[64];
	double v, a, b;

	/* 6 = 4 + 2: rounds 1-4 (node (2, 0)) and 5-6 (node (1, 2)). */
	CHECK(fl_tree_cover(6, h, j) == 2);
	CHECK(h[0] == 2 && j[0] == 0 && h[1] == 1 && j[1] == 2);
	CHECK(fl_tree_cover(0, h, j) == 0);
	CHECK(fl_tree_cover(1, h, j) == 1 && h[0] == 0 && j[0] == 0);
	CHECK(fl_tree_cover(7, h, j) == 3 && h[2] == 0 && j[2] == 6);
	CHECK(fl_tree_node_id(3, 5) == ((uint64_t)3 << 56 | 5));
	/* Honaker: v1 = 1 / (1 + 1/2) = 2/3, weights 2/3 and 1/3; v2 =
	 * 1 / (1 + 3/4) = 4/7, weights 4/7 and 3/7. */
	fl_tree_honaker(0, &v, &a, &b);
	CHECK(v == 1 && a == 1 && b == 0);
	fl_tree_honaker(1, &v, &a, &b);
	CHECK(fabs(v - 2.0 / 3) < 1e-15 && fabs(a - 2.0 / 3) < 1e-15 &&
	    fabs(b - 1.0 / 3) < 1e-15);
	fl_tree_honaker(2, &v, &a, &b);
	CHECK(fabs(v - 4.0 / 7) < 1e-15 && fabs(a - 4.0 / 7) < 1e-15 &&
	    fabs(b - 3.0 / 7) < 1e-15);
	CHECK(fabs(a + b - 1) < 1e-15);       /* b weighs the children's sum */
	CHECK(fl_tree_prefix_var(7, FL_TREE_PLAIN) == 3);
	CHECK(fabs(fl_tree_prefix_var(7, FL_TREE_HONAKER) -
	    (4.0 / 7 + 2.0 / 3 + 1)) < 1e-15);
	/* The limit of v(h): 1/2. */
	fl_tree_honaker(40, &v, &a, &b);
	CHECK(fabs(v - 0.5) < 1e-9);
}

/* The measured variance of n(t), t = 1..16, over n coordinates: within
 * 5 standard errors of the formula (the variance's std error is
 * sqrt(2/n) of it). */
void
test_tree_variance(void)
{
	const uint64_t n = 200000;
	double *x = malloc(n * sizeof(*x)), sigma = 3.0;
	unsigned char secret[FL_RNG_KEYBYTES];
	struct fl_tree tr;
	struct fl_error err;

	CHECK(x != NULL);
	if (x == NULL)
		return;
	fl_rng_seed_text(secret, "unit tree variance");
	for (int e = 0; e <= 1; e++) {
		enum fl_tree_estimator est = e ? FL_TREE_HONAKER :
		    FL_TREE_PLAIN;

		fl_tree_init(&tr, secret, 7, est, sigma);
		for (uint64_t t = 1; t <= 16; t++) {
			double s = 0, ss = 0, var, want;

			CHECK(fl_tree_prefix_noise(&tr, t, 0, x, n, &err) == 0);
			for (uint64_t i = 0; i < n; i++) {
				s += x[i];
				ss += x[i] * x[i];
			}
			var = ss / n - (s / n) * (s / n);
			want = fl_tree_prefix_var(t, est) * sigma * sigma;
			if (!(fabs(var / want - 1) < 5 * sqrt(2.0 / n))) {
				fprintf(stderr, "%s t=%llu: variance %g, want "
				    "%g\n", fl_tree_estimator_name(est),
				    (unsigned long long)t, var, want);
				CHECK(0);
			}
			if (!e)
				CHECK(want == __builtin_popcountll(t) *
				    sigma * sigma);
		}
		fl_tree_wipe(&tr);
	}
	/* Honaker is the better estimator at every t that is not a power
	 * of two's single node (equal there only at t = 1). */
	for (uint64_t t = 2; t <= 64; t++)
		CHECK(fl_tree_prefix_var(t, FL_TREE_HONAKER) <
		    fl_tree_prefix_var(t, FL_TREE_PLAIN));
	free(x);
}

/* Rounds 1..T applied to zero tensors sum to n(T): exactly for the plain
 * tree (whole grid steps), within a step per round for Honaker's. */
void
test_tree_telescope(void)
{
	const uint64_t n = 40000, T = 13;
	uint64_t dims[1] = { n };
	double *sum = calloc(n, sizeof(*sum)), *want = malloc(n *
	    sizeof(*want)), g = fl_noise_grid(0.5);
	unsigned char secret[FL_RNG_KEYBYTES];
	struct fl_record rec;
	struct fl_tensor *x;
	struct fl_tree tr, other;
	struct fl_error err;

	CHECK(sum != NULL && want != NULL);
	if (sum == NULL || want == NULL)
		return;
	fl_rng_seed_text(secret, "unit tree telescope");
	for (int e = 0; e <= 1; e++) {
		fl_tree_init(&tr, secret, 1, e ? FL_TREE_HONAKER :
		    FL_TREE_PLAIN, 0.5);
		memset(sum, 0, n * sizeof(*sum));
		for (uint64_t t = 1; t <= T; t++) {
			fl_record_init(&rec);
			x = fl_tensor_add(&rec, "w", FL_F64, 1, dims, &err);
			CHECK(x != NULL);
			if (x == NULL)
				return;
			memset(x->data, 0, x->nbytes);
			CHECK(fl_tree_noise_tensor(x, 2, t, &tr, &err) == 0);
			for (uint64_t i = 0; i < n; i++) {
				double v = ((double *)x->data)[i];

				/* A lattice point. */
				CHECK(v / g == nearbyint(v / g));
				sum[i] += v;
			}
			fl_record_free(&rec);
		}
		CHECK(fl_tree_prefix_noise(&tr, T, 2, want, n, &err) == 0);
		for (uint64_t i = 0; i < n; i++) {
			if (e == 0)
				CHECK(sum[i] == want[i]);
			else
				CHECK(fabs(sum[i] - want[i]) <= T * g);
		}
		/* Another tree id: other noise. */
		fl_tree_init(&other, secret, 2, FL_TREE_PLAIN, 0.5);
		CHECK(fl_tree_prefix_noise(&other, T, 2, sum, n, &err) == 0);
		CHECK(memcmp(sum, want, n * sizeof(*sum)) != 0);
		fl_tree_wipe(&tr);
	}
	/* Refusals: round 0, integer tensors, a value that is not finite. */
	fl_record_init(&rec);
	x = fl_tensor_add(&rec, "w", FL_F32, 1, dims, &err);
	memset(x->data, 0, x->nbytes);
	CHECK(fl_tree_noise_tensor(x, 0, 0, &tr, &err) < 0);
	((float *)x->data)[5] = NAN;
	CHECK(fl_tree_noise_tensor(x, 0, 1, &tr, &err) < 0);
	CHECK(strstr(err.msg, "index 5") != NULL);
	fl_record_free(&rec);
	free(sum);
	free(want);
}

void
test_tree_sens(void)
{
	struct fl_error err;
	uint64_t s;

	/* Single participation: ceil(log2(T + 1)) nodes on a path. */
	for (uint64_t T = 1; T <= 5000; T += T < 70 ? 1 : 97) {
		CHECK(fl_tree_sens2(T, 1, 1, &s, &err) == 0);
		CHECK(s == (uint64_t)ceil(log2((double)T + 1)));
	}
	/* Against brute force. */
	for (uint64_t T = 1; T <= 16; T++)
		for (uint64_t k = 1; k <= 5; k++)
			for (uint64_t b = 1; b <= 9; b++) {
				uint64_t want = fl_tree_sens2_brute(T, k, b);

				CHECK(fl_tree_sens2(T, k, b, &s, &err) == 0);
				if (s != want) {
					fprintf(stderr, "T=%llu k=%llu b=%llu: "
					    "%llu, brute force %llu\n",
					    (unsigned long long)T,
					    (unsigned long long)k,
					    (unsigned long long)b,
					    (unsigned long long)s,
					    (unsigned long long)want);
					CHECK(0);
				}
			}
	for (uint64_t T = 17; T <= 22; T += 5)
		for (uint64_t k = 2; k <= 4; k++)
			for (uint64_t b = 2; b <= 7; b += 5) {
				CHECK(fl_tree_sens2(T, k, b, &s, &err) == 0);
				CHECK(s == fl_tree_sens2_brute(T, k, b));
			}
	/* k rounds together, b = 1 (every round, T = 2^L): the whole
	 * tree, sum over heights of 2^L / 2^h nodes of (2^h)^2. */
	CHECK(fl_tree_sens2(8, 8, 1, &s, &err) == 0);
	CHECK(s == 8 * 1 + 4 * 4 + 2 * 16 + 1 * 64);
	CHECK(fl_tree_sens2(0, 1, 1, &s, &err) < 0);
	CHECK(fl_tree_sens2(10, 0, 1, &s, &err) < 0);
}

/*
 * The zCDP conversions: Gboard's (through RDP, from rho alone) against an
 * independent minimisation over the order in Python (ternary search to
 * 1e-13 of the order), at Gboard's delta 1e-10 and its range of rho
 * (0.2 to 2; 0.81 is the Spanish model of 2022, published as epsilon 8.9);
 * the exact Gaussian conversion is tighter and the classical bound looser.
 */
void
test_zcdp_rdp(void)
{
	static const struct { double rho, eps; } want[] = {
		{ 0.2, 4.167010588481747 },
		{ 0.81, 8.922207283357817 },
		{ 2.0, 14.870678006813748 },
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++) {
		double e = fl_zcdp_epsilon_rdp(want[i].rho, 1e-10);

		if (!(fabs(e / want[i].eps - 1) < 1e-9)) {
			fprintf(stderr, "rho %g: %.15g, want %.15g\n",
			    want[i].rho, e, want[i].eps);
			CHECK(0);
		}
		CHECK(fl_zcdp_epsilon(want[i].rho, 1e-10) < e);
		CHECK(e < fl_zcdp_bound(want[i].rho, 1e-10));
	}
	/* As published: 8.9 to the digit given. */
	CHECK(fabs(fl_zcdp_epsilon_rdp(0.81, 1e-10) - 8.9) < 0.05);
	/* No privacy loss, no epsilon. */
	CHECK(fl_zcdp_epsilon_rdp(0, 1e-10) >= 0);
}
