#!/usr/bin/env bats
# The seeded derivations of a device's update (ring encoding, stochastic
# rounding, discrete Gaussian share, Gaussian noise) and of the server's
# DP-FTRL rounds (fl-apply --ftrl: plain tree, Honaker, banded MF with the
# strategy it optimizes) against the records
# in tests/data/derived: the same seed, the same bytes, natively and under
# qemu-user for every cross build (make check-cross), big-endian s390x
# included (the keystream is read as little-endian words everywhere).

load helper

DERIVED=$DATA/derived

@test "derived: make-derived.sh regenerates every seeded record byte for byte" {
	local f

	mkdir out
	run sh "$DERIVED/make-derived.sh" out
	assert_success
	assert_output ""
	for f in "$DERIVED"/*.flt; do
		cmp "$f" "out/${f##*/}" ||
		    fail "${f##*/}: $(fl-inspect --diff "$f" "out/${f##*/}" 2>&1 | head -3)"
	done
	assert_equal "$(ls out)" "$(cd "$DERIVED" && ls ./*.flt | sed 's|^\./||')"
}

@test "derived: the records decode and check as their programs wrote them" {
	fl-quantize -d -o ring-dec.flt "$DERIVED/ring.flt"
	fl-quantize -d -o bits-dec.flt "$DERIVED/bits.flt"
	fl-inspect --check "$DERIVED"/*.flt ring-dec.flt bits-dec.flt
	assert_equal "$(fl-inspect -g dp.shares "$DERIVED/share.flt")" 5
	assert_equal "$(fl-inspect -g q.rotation-seed "$DERIVED/ring.flt")" rot
}
