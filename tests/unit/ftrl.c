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

/* Banded MF's F = |A C^-1|_F^2 by matrices: C^-1 column 0 by forward
 * substitution (C Toeplitz: so is its inverse), then A C^-1's entries. */
static double
banded_error_direct(uint64_t T, uint64_t b, const double *c)
{
	double *r = calloc(T, sizeof(*r)), F = 0;

	for (uint64_t m = 0; m < T; m++) {
		double v = m == 0 ? 1 : 0;

		for (uint64_t i = 1; i < b && i <= m; i++)
			v -= c[i] * r[m - i];
		r[m] = v;
	}
	for (uint64_t row = 0; row < T; row++)
		for (uint64_t col = 0; col <= row; col++) {
			double s = 0;

			/* (A C^-1)[row][col] = sum_{i=col..row} r[i - col] */
			for (uint64_t i = col; i <= row; i++)
				s += r[i - col];
			F += s * s;
		}
	free(r);
	return F;
}

void
test_banded_error(void)
{
	struct fl_error err;
	double c[12], g[12], F, L, h = 1e-6;

	/* b = 1: C = I, F = |A|_F^2 = T (T + 1) / 2. */
	c[0] = 1;
	CHECK(fl_banded_error(16, 1, c, &F, NULL, &err) == 0 && F == 136);
	CHECK(fl_banded_loss(16, 1, c, &L, g, &err) == 0 && L == 136);
	/* The start: (1 - x)^-1/2 = 1 + x/2 + 3x^2/8 + 5x^3/16 + ... */
	fl_banded_start(5, c);
	CHECK(c[0] == 1 && c[1] == 0.5 && c[2] == 0.375 && c[3] == 0.3125 &&
	    c[4] == 35.0 / 128);
	/* Against the matrices, and the gradient against central
	 * differences, for a few (T, b) and coefficients of either sign. */
	for (uint64_t T = 1; T <= 40; T += 13)
		for (uint64_t b = 1; b <= 12 && b <= T; b += 3) {
			double want;

			for (uint64_t i = 1; i < b; i++)
				c[i] = 0.6 / (double)i * (i % 3 == 2 ? -1 : 1);
			c[0] = 1;
			want = banded_error_direct(T, b, c);
			CHECK(fl_banded_error(T, b, c, &F, g, &err) == 0);
			CHECK(fabs(F - want) <= 1e-12 * want);
			CHECK(g[0] == 0);
			for (uint64_t i = 1; i < b; i++) {
				double up, dn, ci = c[i];

				c[i] = ci + h;
				up = banded_error_direct(T, b, c);
				c[i] = ci - h;
				dn = banded_error_direct(T, b, c);
				c[i] = ci;
				CHECK(fabs(g[i] - (up - dn) / (2 * h)) <=
				    1e-6 * (fabs(g[i]) + want));
			}
			/* The loss's gradient: (sum c^2) F's. */
			CHECK(fl_banded_loss(T, b, c, &L, g, &err) == 0);
			for (uint64_t i = 1; i < b; i++) {
				double up, dn, ci = c[i], n2 = 0;

				for (uint64_t j = 0; j < b; j++)
					n2 += c[j] * c[j];
				c[i] = ci + h;
				up = (n2 - ci * ci + c[i] * c[i]) *
				    banded_error_direct(T, b, c);
				c[i] = ci - h;
				dn = (n2 - ci * ci + c[i] * c[i]) *
				    banded_error_direct(T, b, c);
				c[i] = ci;
				CHECK(fabs(g[i] - (up - dn) / (2 * h)) <=
				    1e-6 * (fabs(g[i]) + L));
			}
		}
	c[0] = 2;
	CHECK(fl_banded_error(8, 2, c, &F, NULL, &err) < 0);
	c[0] = 1;
	CHECK(fl_banded_error(8, 9, c, &F, NULL, &err) < 0);
	CHECK(fl_banded_error(8, 0, c, &F, NULL, &err) < 0);
	CHECK(fl_banded_error(0, 1, c, &F, NULL, &err) < 0);
}

void
test_banded_optimize(void)
{
	struct fl_error err;
	struct fl_banded_fit fit = { 0 };
	double trace[200], c[64], c2[64], prev = INFINITY, tr_plain,
	    tr_honaker, F, s2;
	uint64_t ts2;

	/* b = 1: the identity, no step, F = T (T + 1) / 2. */
	CHECK(fl_banded_optimize(64, 1, c, &fit, &err) == 0);
	CHECK(c[0] == 1 && fit.iterations == 0 && fit.converged);
	CHECK(fit.loss == 64 * 65 / 2);
	/* The loss decreases at every step, from the start's, and stops at
	 * a stationary point; the same bytes on a second run. */
	fit.trace = trace;
	fit.trace_cap = 200;
	CHECK(fl_banded_optimize(256, 64, c, &fit, &err) == 0);
	CHECK(fit.converged && fit.gradient <= 100 * FL_BANDED_TOL);
	CHECK(fit.iterations >= 2 && fit.iterations <= 200);
	prev = fit.start;
	for (uint64_t i = 0; i < fit.iterations; i++) {
		CHECK(trace[i] < prev);
		prev = trace[i];
	}
	CHECK(prev == fit.loss && fit.loss < fit.start);
	fit.trace = NULL;
	CHECK(fl_banded_optimize(256, 64, c2, &fit, &err) == 0);
	CHECK(memcmp(c, c2, sizeof(c)) == 0);
	/* The optimum: a small perturbation of any coefficient does not
	 * lower the loss. */
	for (uint64_t i = 1; i < 64; i += 7)
		for (int sg = -1; sg <= 1; sg += 2) {
			double L, ci = c[i];

			c[i] = ci + sg * 1e-4;
			CHECK(fl_banded_loss(256, 64, c, &L, NULL, &err) == 0);
			CHECK(L >= fit.loss);
			c[i] = ci;
		}
	/* More bands never do worse, and at equal privacy banded MF beats
	 * both trees' total error for these patterns (bench/RESULTS-83.md
	 * has the figures): (T, k, separation = bands). */
	{
		static const uint64_t pat[][3] = { { 16, 1, 16 },
		    { 16, 4, 4 }, { 64, 1, 64 }, { 64, 4, 16 }, { 256, 8, 32 },
		    { 256, 4, 64 } };

		for (size_t p = 0; p < sizeof(pat) / sizeof(*pat); p++) {
			uint64_t T = pat[p][0], k = pat[p][1], b = pat[p][2];
			double last = INFINITY;

			tr_plain = tr_honaker = 0;
			for (uint64_t t = 1; t <= T; t++) {
				tr_plain += fl_tree_prefix_var(t, FL_TREE_PLAIN);
				tr_honaker += fl_tree_prefix_var(t,
				    FL_TREE_HONAKER);
			}
			CHECK(fl_tree_sens2(T, k, b, &ts2, &err) == 0);
			for (uint64_t bb = 1; bb <= b; bb *= 2) {
				CHECK(fl_banded_optimize(T, bb, c, &fit,
				    &err) == 0);
				CHECK(fit.loss <= last * (1 + 1e-12));
				last = fit.loss;
			}
			CHECK(fl_banded_optimize(T, b, c, &fit, &err) == 0);
			CHECK(fl_banded_error(T, b, c, &F, NULL, &err) == 0);
			CHECK(fl_banded_sens2(T, b, c, k, b, &s2, &err) == 0);
			CHECK(s2 * F < (double)ts2 * tr_honaker);
			CHECK(tr_honaker < tr_plain);
		}
	}
	/* What README and fl-account(1) say (bench/RESULTS-83.md): single
	 * participation, bands = T, at equal rho, 0.16 to 0.30 of the plain
	 * tree's total prefix-sum variance and 0.28 to 0.43 of Honaker's. */
	for (uint64_t T = 16; T <= 2048; T *= T == 1024 ? 2 : 4) {
		double *cc = malloc(T * sizeof(*cc)), r1, r2;

		tr_plain = tr_honaker = 0;
		for (uint64_t t = 1; t <= T; t++) {
			tr_plain += fl_tree_prefix_var(t, FL_TREE_PLAIN);
			tr_honaker += fl_tree_prefix_var(t, FL_TREE_HONAKER);
		}
		CHECK(fl_tree_sens2(T, 1, 1, &ts2, &err) == 0);
		CHECK(fl_banded_optimize(T, T, cc, &fit, &err) == 0);
		CHECK(fl_banded_error(T, T, cc, &F, NULL, &err) == 0);
		CHECK(fl_banded_sens2(T, T, cc, 1, 1, &s2, &err) == 0);
		r1 = s2 * F / ((double)ts2 * tr_plain);
		r2 = s2 * F / ((double)ts2 * tr_honaker);
		CHECK(r1 >= 0.16 && r1 <= 0.30 && r2 >= 0.28 && r2 <= 0.435);
		free(cc);
	}
	/* And with several participations (bands = separation): 0.045 to
	 * 0.26 of the plain tree's (the bench's patterns, T <= 256, and
	 * every round of 2048). */
	{
		static const uint64_t pat[][3] = { { 16, 4, 4 }, { 16, 2, 8 },
		    { 16, 16, 1 }, { 64, 4, 16 }, { 64, 8, 8 }, { 64, 2, 32 },
		    { 256, 4, 64 }, { 256, 32, 8 }, { 256, 16, 16 },
		    { 256, 8, 32 }, { 2048, 2048, 1 } };

		for (size_t p = 0; p < sizeof(pat) / sizeof(*pat); p++) {
			uint64_t T = pat[p][0], k = pat[p][1], b = pat[p][2];
			double r;

			tr_plain = 0;
			for (uint64_t t = 1; t <= T; t++)
				tr_plain += fl_tree_prefix_var(t, FL_TREE_PLAIN);
			CHECK(fl_tree_sens2(T, k, b, &ts2, &err) == 0);
			CHECK(fl_banded_optimize(T, b, c, &fit, &err) == 0);
			CHECK(fl_banded_error(T, b, c, &F, NULL, &err) == 0);
			CHECK(fl_banded_sens2(T, b, c, k, b, &s2, &err) == 0);
			r = s2 * F / ((double)ts2 * tr_plain);
			CHECK(r >= 0.045 && r <= 0.26);
		}
	}
	CHECK(fl_banded_optimize(1 << 21, 2, c, &fit, &err) < 0);
	CHECK(fl_banded_optimize(1 << 20, 64, c, &fit, &err) < 0 &&
	    err.code == FL_ELIMIT);
}

void
test_banded_sens(void)
{
	struct fl_error err;
	double c[8], s2;

	/* Exact against brute force over every pattern (and every sign of
	 * the contributions), for coefficients of either sign, bands at
	 * most the separation. */
	for (uint64_t T = 1; T <= 11; T++)
		for (uint64_t b = 1; b <= 4 && b <= T; b++)
			for (uint64_t k = 1; k <= 3; k++)
				for (uint64_t sep = b; sep <= b + 2; sep++) {
					double want;

					for (uint64_t i = 0; i < b; i++)
						c[i] = i == 0 ? 1 : (i % 2 ?
						    -0.4 : 0.3) / (double)i;
					want = fl_banded_sens2_brute(T, b, c, k,
					    sep);
					CHECK(fl_banded_sens2(T, b, c, k, sep,
					    &s2, &err) == 0);
					CHECK(fabs(s2 - want) <= 1e-12 * want);
				}
	/* Single participation: column 0's norm. */
	fl_banded_start(4, c);
	CHECK(fl_banded_sens2(10, 4, c, 1, 1, &s2, &err) == 0);
	CHECK(fabs(s2 - (1 + 0.25 + 0.140625 + 0.09765625)) < 1e-15);
	/* Attack: bands above the separation.  Two participations then
	 * share rows of C and the true sensitivity is above k |c|^2 (brute
	 * force), so the pattern must be refused, not under-noised. */
	CHECK(fl_banded_sens2(10, 4, c, 2, 3, &s2, &err) < 0 &&
	    err.code == FL_EINVAL && strstr(err.msg, "separation") != NULL);
	CHECK(fl_banded_sens2_brute(10, 4, c, 2, 3) >
	    2 * (1 + 0.25 + 0.140625 + 0.09765625) + 0.1);
	/* The ledger's increments (first t rows of the strategy): their
	 * rho add up to the whole release's, and each is the sensitivity
	 * of the first t rows, the brute force's. */
	{
		double cc[3], whole, sum = 0, noise, prev = 0;
		struct fl_banded_fit fit = { 0 };

		CHECK(fl_banded_optimize(12, 3, cc, &fit, &err) == 0);
		CHECK(fl_banded_sens2(12, 3, cc, 3, 4, &whole, &err) == 0);
		for (uint64_t t = 1; t <= 12; t++) {
			double st = fl_banded_sens2_brute(t, t < 3 ? t : 3, cc,
			    3, 4);

			CHECK(fl_banded_increment(t - 1, t, 12, 3, 3, 4, 2,
			    &noise, &err) == 0);
			if (noise > 0) {
				sum += 1 / (noise * noise);
				CHECK(fabs(4 / (noise * noise) - (st - prev)) <=
				    1e-12 * st);
			} else {
				CHECK(fabs(st - prev) <= 1e-12 * st);
			}
			prev = st;
		}
		CHECK(fabs(sum * 4 - whole) <= 1e-12 * whole);
		CHECK(fl_banded_increment(3, 3, 12, 3, 3, 4, 2, &noise,
		    &err) < 0);
		CHECK(fl_banded_increment(3, 13, 12, 3, 3, 4, 2, &noise,
		    &err) < 0);
		CHECK(fl_banded_increment(3, 4, 12, 5, 3, 4, 2, &noise,
		    &err) < 0);
	}
	/* Bands 0, bands above the rounds, no participation. */
	CHECK(fl_banded_sens2(10, 0, c, 1, 1, &s2, &err) < 0);
	CHECK(fl_banded_sens2(3, 4, c, 1, 1, &s2, &err) < 0);
	CHECK(fl_banded_sens2(10, 4, c, 0, 4, &s2, &err) < 0);
	/* More participations than fit: cut to what fits (rounds 0, 4, 8
	 * of 10, the last cut to 2 rows). */
	CHECK(fl_banded_sens2(10, 4, c, 9, 4, &s2, &err) == 0);
	CHECK(fabs(s2 - (2 * (1 + 0.25 + 0.140625 + 0.09765625) + 1.25)) <
	    1e-14);
}

/* Banded MF's server step: round by round, w_t = C^-1 z's row t (z the
 * tree's leaves, solved here directly), added on the grid; the prefix
 * sums' measured total variance is sigma^2 |A C^-1|_F^2; a restart from
 * the history gives the same bytes. */
void
test_banded_noise(void)
{
	enum { N = 40000, T = 8, B = 3 };
	struct fl_record rec = { 0 };
	unsigned char secret[FL_RNG_KEYBYTES];
	struct fl_error err;
	struct fl_tree tr;
	struct fl_tensor *x;
	uint64_t dims[1] = { N };
	double c[B], F, sigma = 2.5, g, *hist, *hist2, *z, *w, *pre, tot = 0;
	double *past[B - 1], *past2[B - 1];
	float *keep = malloc(N * sizeof(*keep));

	memset(secret, 7, sizeof(secret));
	fl_tree_init(&tr, secret, 42, FL_TREE_PLAIN, sigma);
	g = fl_noise_grid(sigma);
	fl_banded_start(B, c);
	c[1] = 0.55;
	c[2] = 0.41;
	CHECK(fl_banded_error(T, B, c, &F, NULL, &err) == 0);
	hist = calloc((B - 1) * (size_t)N, sizeof(*hist));
	hist2 = calloc((B - 1) * (size_t)N, sizeof(*hist2));
	for (size_t l = 0; l < B - 1; l++)
		past[l] = hist + l * (size_t)N;
	z = malloc((size_t)T * N * sizeof(*z));
	w = malloc((size_t)T * N * sizeof(*w));
	pre = calloc(N, sizeof(*pre));
	for (uint64_t t = 1; t <= T; t++)
		for (uint64_t ch = 0; ch * FL_TREE_CHUNK < N; ch++) {
			uint64_t m = N - ch * FL_TREE_CHUNK;

			fl_tree_node_normal(&tr, 0, t - 1, 3, ch,
			    z + (t - 1) * N + ch * FL_TREE_CHUNK,
			    m < FL_TREE_CHUNK ? m : FL_TREE_CHUNK);
		}
	/* w = C^-1 z by forward substitution. */
	for (uint64_t t = 0; t < T; t++)
		for (uint64_t i = 0; i < N; i++) {
			double v = z[t * N + i];

			for (uint64_t l = 1; l < B && l <= t; l++)
				v -= c[l] * w[(t - l) * N + i];
			w[t * N + i] = v;
		}
	x = fl_tensor_add(&rec, "w", FL_F32, 1, dims, &err);
	CHECK(x != NULL);
	for (uint64_t t = 1; t <= T; t++) {
		for (uint64_t i = 0; i < N; i++)
			((float *)x->data)[i] = 0;
		if (t == 5) {
			/* A restart: the history as stored (row by row, in
			 * the order of the pointers), the same step. */
			for (size_t l = 0; l < B - 1; l++) {
				past2[l] = hist2 + l * (size_t)N;
				memcpy(past2[l], past[l], N * sizeof(*hist));
			}
			CHECK(fl_banded_noise_tensor(x, 3, t, &tr, B, c, past2,
			    &err) == 0);
			memcpy(keep, x->data, N * sizeof(float));
			for (uint64_t i = 0; i < N; i++)
				((float *)x->data)[i] = 0;
		}
		CHECK(fl_banded_noise_tensor(x, 3, t, &tr, B, c, past,
		    &err) == 0);
		if (t == 5) {
			CHECK(memcmp(keep, x->data, N * sizeof(float)) == 0);
			for (size_t l = 0; l < B - 1; l++)
				CHECK(memcmp(past[l], past2[l], N *
				    sizeof(*hist)) == 0);
		}
		/* The rows rotated: past[l - 1] is w_{t+1-l}, exactly. */
		for (uint64_t l = 1; l < B && l <= t; l++)
			for (uint64_t i = 0; i < N; i += 997)
				CHECK(past[l - 1][i] == w[(t - l) * N + i]);
		for (uint64_t i = 0; i < N; i++) {
			double v = ((float *)x->data)[i];

			CHECK(fabs(v - w[(t - 1) * N + i] * sigma) <=
			    0.5 * g + 1e-6 * fabs(v));
			pre[i] += v;
			tot += pre[i] * pre[i];
		}
	}
	/* Total variance over the T prefixes: sigma^2 F within 5 std errors
	 * (each prefix's variance estimate has relative error sqrt(2/N)). */
	tot /= N;
	CHECK(fabs(tot - sigma * sigma * F) <= 5 * sqrt(2.0 / N) * sigma *
	    sigma * F);
	/* Bad input: an integer tensor, round 0, a strategy without c_0 1. */
	CHECK(fl_banded_noise_tensor(x, 3, 0, &tr, B, c, past, &err) < 0);
	c[0] = 2;
	CHECK(fl_banded_noise_tensor(x, 3, 1, &tr, B, c, past, &err) < 0);
	fl_tree_wipe(&tr);
	fl_record_free(&rec);
	free(keep);
	free(hist);
	free(hist2);
	free(z);
	free(w);
	free(pre);
}
