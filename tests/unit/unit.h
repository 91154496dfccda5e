/* SPDX-License-Identifier: ISC */
/* unit.h - what the unit test files share: the CHECK macro, the failure
 * count it bumps (unit.c's main turns it into the exit status), and the
 * tests defined outside unit.c. */
#ifndef FL_UNIT_H
#define FL_UNIT_H

#include <stdio.h>

extern int failures;

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		failures++;						\
	}								\
} while (0)

/* select.c */
void test_select(void);

/* half.c */
void test_half(void);

/* stream.c */
void test_read_stream(void);
void test_acc_pieces(void);

/* secagg.c */
void test_shamir(void);
void test_secagg_params(void);
void test_verify_memory(void);

/* sakat.c: the secure-aggregation known-answer vectors, "name hex". */
void print_secagg_vectors(FILE *fp);

/* noise.c */
void test_normal_paths(void);
void test_clip_factor(void);

/* dgauss.c */
void test_dgauss_bits(void);

/* quant.c */
void test_fwht_blocked(void);
void test_quant_paths(void);

/* sparse.c */
void test_sparse_k(void);
void test_randk(void);
void test_topk(void);
void test_error_feedback(void);
void test_sparse_record(void);

/* release.c */
void test_release_protection(void);

/* account.c */
void test_account_steps(void);
void test_account_shares(void);
void test_account_charge(void);
void test_account_options(void);
void test_account_report(void);
void test_account_names(void);
void test_account_plan(void);
void test_account_ledger_path(void);

/* mask.c */
void test_sa_keyfile(void);
void test_sa_identity_files(void);
void test_sa_keygen(void);
void test_sa_roster_make(void);

/* aggregate.c */
void test_aggregation_admit(void);
void test_robust_chunked(void);
void test_sa_unmasking(void);

/* clipnoise.c */
void test_dp_clip_record(void);
void test_dp_weight_pass(void);
void test_dp_noise_record(void);
void test_clip_adapt(void);

/* ftrl.c */
void test_tree_cover(void);
void test_tree_variance(void);
void test_tree_telescope(void);
void test_tree_sens(void);
void test_zcdp_rdp(void);
void test_banded_error(void);
void test_banded_optimize(void);
void test_banded_sens(void);
void test_banded_noise(void);

/* quantize.c */
void test_codec_ring(void);
void test_codec_sr(void);
void test_codec_eden(void);
void test_codec_sparse(void);
void test_codec_decode(void);
void test_codec_common(void);

#endif
