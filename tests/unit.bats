#!/usr/bin/env bats
# The C unit tests of libfl (tests/unit/unit.c), one Bats test each.

load helper

UNIT=${FL_UNIT:-$TOP/tests/unit/unit}

# Under valgrind, FL_UNIT_QUICK makes the long sweeps a tenth as long.
unit() {
	if [ -n "${FL_VALGRIND:-}" ]; then
		FL_UNIT_QUICK=1 run valgrind -q --error-exitcode=99 \
		    --leak-check=full "$UNIT" "$1"
	else
		run "$UNIT" "$1"
	fi
	assert_success
}

@test "unit: every unit test has a line here" {
	run "$UNIT" --list
	assert_success
	for name in $output; do
		grep -q "^@test \"unit: $name\"" "$BATS_TEST_FILENAME" ||
			fail "unit test '$name' is not run by tests/unit.bats"
	done
}

@test "unit: dtype" {
	unit dtype
}

@test "unit: parse_numbers" {
	unit parse_numbers
}

@test "unit: format_numbers" {
	unit format_numbers
}

@test "unit: meta" {
	unit meta
}

@test "unit: meta_numbers" {
	unit meta_numbers
}

@test "unit: tensor_add" {
	unit tensor_add
}

@test "unit: int_elements" {
	unit int_elements
}

@test "unit: shape_parse" {
	unit shape_parse
}

@test "unit: half" {
	unit half
}

@test "unit: roundtrip" {
	unit roundtrip
}

@test "unit: stream" {
	unit stream
}

@test "unit: limits" {
	unit limits
}

@test "unit: header_padding" {
	unit header_padding
}

@test "unit: stats" {
	unit stats
}

@test "unit: values" {
	unit values
}

@test "unit: atomic" {
	unit atomic
}

@test "unit: sniff" {
	unit sniff
}

@test "unit: crc32" {
	unit crc32
}

@test "unit: int128" {
	unit int128
}

@test "unit: shamir" {
	unit shamir
}

@test "unit: secagg_params" {
	unit secagg_params
}

@test "unit: verify_memory" {
	unit verify_memory
}

@test "unit: class_weighted" {
	unit class_weighted
}

@test "unit: read_stream" {
	unit read_stream
}

@test "unit: acc_pieces" {
	unit acc_pieces
}

@test "unit: sparse_k" {
	unit sparse_k
}

@test "unit: randk" {
	unit randk
}

@test "unit: topk" {
	unit topk
}

@test "unit: error_feedback" {
	unit error_feedback
}

@test "unit: normal_paths" {
	unit normal_paths
}

@test "unit: clip_factor" {
	unit clip_factor
}

@test "unit: dgauss_bits" {
	unit dgauss_bits
}

@test "unit: fwht_blocked" {
	unit fwht_blocked
}

@test "unit: quant_paths" {
	unit quant_paths
}

@test "unit: sparse_record" {
	unit sparse_record
}

# The secure-aggregation derivations (fl-mask(1), DERIVATIONS) from fixed
# inputs: libfl's values and those of an independent implementation
# (tests/secagg_kat.py: Python's BLAKE2b, OpenSSL's ChaCha20, X25519 and
# Ed25519, its own ed25519 group and arithmetic mod L) both equal the
# pinned vectors, so another implementation can check itself against them.
@test "unit: secure-aggregation known-answer vectors (libfl)" {
	if [ -n "${FL_VALGRIND:-}" ]; then
		run valgrind -q --error-exitcode=99 --leak-check=full "$UNIT" \
		    --vectors
	else
		run "$UNIT" --vectors
	fi
	assert_success
	diff <(printf '%s\n' "$output") "$DATA/secagg-vectors.txt" ||
	    fail "libfl's vectors differ from tests/data/secagg-vectors.txt"
	[ "$(wc -l < "$DATA/secagg-vectors.txt")" -eq 41 ]
}

@test "unit: secure-aggregation known-answer vectors (independent Python)" {
	run "$PYTHON" "$TOP/tests/secagg_kat.py"
	assert_success
	diff <(printf '%s\n' "$output") "$DATA/secagg-vectors.txt" ||
	    fail "the Python derivations differ from the pinned vectors"
}

@test "unit: select" {
	unit select
}

@test "unit: release_protection" {
	unit release_protection
}

@test "unit: account_steps" {
	unit account_steps
}

@test "unit: account_shares" {
	unit account_shares
}

@test "unit: account_charge" {
	unit account_charge
}

@test "unit: account_options" {
	unit account_options
}

@test "unit: account_report" {
	unit account_report
}

@test "unit: account_names" {
	unit account_names
}

@test "unit: account_plan" {
	unit account_plan
}

@test "unit: account_ledger_path" {
	unit account_ledger_path
}

@test "unit: sa_keyfile" {
	unit sa_keyfile
}

@test "unit: sa_identity_files" {
	unit sa_identity_files
}

@test "unit: sa_keygen" {
	unit sa_keygen
}

@test "unit: sa_roster_make" {
	unit sa_roster_make
}

@test "unit: aggregation_admit" {
	unit aggregation_admit
}

@test "unit: robust_chunked" {
	unit robust_chunked
}

@test "unit: sa_unmasking" {
	unit sa_unmasking
}

@test "unit: dp_clip_record" {
	unit dp_clip_record
}

@test "unit: dp_weight_pass" {
	unit dp_weight_pass
}

@test "unit: dp_noise_record" {
	unit dp_noise_record
}

@test "unit: clip_adapt" {
	unit clip_adapt
}

@test "unit: tree_cover" {
	unit tree_cover
}

@test "unit: tree_variance" {
	unit tree_variance
}

@test "unit: tree_telescope" {
	unit tree_telescope
}

@test "unit: tree_sens" {
	unit tree_sens
}

@test "unit: zcdp_rdp" {
	unit zcdp_rdp
}

@test "unit: banded_error" {
	unit banded_error
}

@test "unit: banded_optimize" {
	unit banded_optimize
}

@test "unit: banded_sens" {
	unit banded_sens
}

@test "unit: banded_noise" {
	unit banded_noise
}

@test "unit: codec_ring" {
	unit codec_ring
}

@test "unit: codec_sr" {
	unit codec_sr
}

@test "unit: codec_eden" {
	unit codec_eden
}

@test "unit: codec_sparse" {
	unit codec_sparse
}

@test "unit: codec_decode" {
	unit codec_decode
}

@test "unit: codec_common" {
	unit codec_common
}
