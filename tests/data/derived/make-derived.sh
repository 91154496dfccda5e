#!/bin/sh
# Regenerate into DIR (default: this directory), with the programs on PATH,
# the records of the seeded derivations of an update: the ring encoding
# (randomized Hadamard signs and randomized rounding), the stochastic
# rounding of --bits, a discrete Gaussian noise share and central Gaussian
# noise, each from a --seed; and three seeded DP-FTRL rounds of the server
# (fl-apply --ftrl) with each mechanism.  tests/derived.bats runs this into a scratch
# directory and compares every file with cmp, natively and under qemu-user
# for the cross builds (make check-cross): the same seed gives the same
# bytes on every architecture, big-endian s390x included.  After a
# deliberate change of a derivation, run it here:
#   cd tests/data/derived && PATH=../../../bin:$PATH sh make-derived.sh
set -eu
dir=${1:-$(dirname "$0")}
tmp=$dir/.values.$$
trap 'rm -f "$tmp" "$tmp".*' EXIT

# 1000 values of an update, as decimal text (awk's integer arithmetic
# only: the same text on every machine).
awk 'BEGIN { x = 12345
	for (i = 0; i < 1000; i++) {
		x = (x * 1103515245 + 12345) % 2147483648
		printf "%s%d.%06d", (i ? "," : ""), (x % 3) - 1, x % 1000000
	} }' > "$tmp"
fl-pack -m kind=update -m round=3 -m weight=20 -t "w:f32:40x25=@$tmp" \
    -t 'b:f32=0.5,-0.25,0.125' | fl-clip-noise -c 1 -o "$dir/clipped.flt"
fl-quantize --ring 32 --clients 10 --noise 1 --rotation-seed rot \
    --seed ring -o "$dir/ring.flt" "$dir/clipped.flt"
fl-quantize --bits 4 --seed bits -o "$dir/bits.flt" "$dir/clipped.flt"
fl-clip-noise --noise 1 --shares 5 -m discrete-gaussian --seed share \
    -o "$dir/share.flt" "$dir/ring.flt"
fl-clip-noise -c 1 --noise 0.8 --seed gauss -o "$dir/gauss.flt" \
    "$dir/clipped.flt"

# DP-FTRL on the server (fl-apply --ftrl, noise from --seed): three rounds
# of a small model, each the same clipped sum, with the plain tree,
# Honaker's estimator and banded MF (whose strategy fl-apply optimizes);
# the model and the state after the third.
for i in 1 2 3; do
	fl-pack -m kind=update -m weight=10 -t "w:f32:2x3=$i,-1,0.5,2,-$i,1" \
	    -t "b:f32=0.$i,-0.5" | fl-clip-noise -c 1
done | fl-aggregate -r sum -o "$tmp.sum"
fl-pack -m kind=model -m round=0 -t 'w:f32:2x3=0,0,0,0,0,0' \
    -t 'b:f32=0,0' -o "$tmp.m0"
for mech in plain honaker banded; do
	case $mech in
	banded) init="--mechanism=banded --bands=2 --separation=2" ;;
	*) init="--estimator=$mech" ;;
	esac
	cp "$tmp.m0" "$tmp.m"
	rm -f "$dir/ftrl-$mech-state.flt"
	# shellcheck disable=SC2086 # options, split at blanks
	fl-apply -m "$tmp.m" --ftrl "$dir/ftrl-$mech-state.flt" --ftrl-init \
	    --noise 1 --clip 1 --rounds 4 $init --seed "ftrl-$mech" \
	    -o "$tmp.m" "$tmp.sum" 2> /dev/null
	fl-apply -m "$tmp.m" --ftrl "$dir/ftrl-$mech-state.flt" -o "$tmp.m" \
	    "$tmp.sum"
	fl-apply -m "$tmp.m" --ftrl "$dir/ftrl-$mech-state.flt" \
	    -o "$dir/ftrl-$mech-model.flt" "$tmp.sum"
done
rm -f "$tmp.sum" "$tmp.m0" "$tmp.m"
