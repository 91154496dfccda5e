#!/bin/sh
# bench: no inputs
# DP-FTRL's two mechanisms at equal privacy: the total variance of the T
# prefix sums' noise (the error a model trained by DP-FTRL carries) of the
# plain tree, Honaker's tree and banded matrix factorization with the
# strategy fl_banded_optimize computes, for the same rounds and
# participation pattern (bench/mf.c; the library functions fl-account
# -m tree and -m banded use).
set -eu
. bench/lib.sh

${CC:-cc} -O2 -std=c11 -Wall -Wextra -Ilib -o "$WORK/mf" bench/mf.c \
    lib/libfl.a -lsodium -lz -lm -pthread
: > "$WORK/mf.tsv"
for T in 16 64 256 1024 2048; do
	# k sep: single participation (bands T), k = 4 (separation T/4), one
	# round in 8, 16, 32 (bands = separation), every round (bands 1).
	for p in "1 1" "4 $((T / 4))" "$((T / 8)) 8" "$((T / 16)) 16" \
	    "$((T / 32)) 32" "$T 1"; do
		set -- $p
		[ "$1" -ge 2 ] || [ "$2" = 1 ] || continue
		b=$2
		[ "$1" = 1 ] && b=$T
		grep -q "^$T	$1	$2	" "$WORK/mf.tsv" ||
		    "$WORK/mf" "$T" "$1" "$2" "$b" >> "$WORK/mf.tsv"
	done
done
: > "$WORK/mf-bands.tsv"
for b in 1 2 4 8 16 32 64 128 256 512 1024; do
	"$WORK/mf" 1024 1 1 "$b" >> "$WORK/mf-bands.tsv"
done

echo "## DP-FTRL: banded matrix factorization against the tree"
echo
echo "The total variance of the T prefix sums' noise, summed over t = 1..T,"
echo "at equal privacy (equal rho), in units of clip^2 / (2 rho): the"
echo "squared sensitivity of the release for the pattern times the variance"
echo "in units of the noise's (plain tree: fl_tree_sens2 x sum of"
echo "popcount(t); Honaker: the same sensitivity, its estimator's"
echo "variances; banded MF: fl_banded_sens2 x |A C^-1|_F^2 with C from"
echo "fl_banded_optimize).  A client takes part in at most k rounds, any two"
echo "at least 'separation' apart; banded MF uses bands = separation (T for"
echo "single participation), the most the pattern allows.  The optimizer's"
echo "CPU time and L-BFGS steps beside (bench/mf.c)."
echo
echo "| T | k | separation | bands | plain tree | Honaker tree | banded MF | MF / plain | MF / Honaker | steps | optimizer |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' '{ printf "| %s | %s | %s | %s | %.6g | %.6g | %.6g | %.3f | %.3f | %s | %s s |\n", $1, $2, $3, $4, $5, $6, $7, $7 / $5, $7 / $6, $8, $9 }' "$WORK/mf.tsv"
echo
echo "Banded MF's error against its bands, T = 1024, single participation"
echo "(the server keeps bands - 1 model-sized noise vectors: the memory the"
echo "error is bought with)."
echo
echo "| bands | banded MF | MF / plain tree | MF / Honaker tree | steps |"
echo "|---|---|---|---|---|"
awk -F'\t' '{ printf "| %s | %.6g | %.3f | %.3f | %s |\n", $4, $7, $7 / $5, $7 / $6, $8 }' "$WORK/mf-bands.tsv"
# The server step's cost: banded MF's w_t (bands - 1 multiply-adds a
# coordinate over the past noise, kept in memory here) against the plain
# tree's step and one Gaussian noise pass, 10M f32 coordinates.
n=10000000
"$WORK/mf" time "$n" > "$WORK/mf-time.tsv"
get() { awk -F'\t' -v k="$1" -v f="$2" '$1 == k { print $f }' "$WORK/mf-time.tsv"; }
nspc() { awk -v s="$(get "$1" 3)" -v c="$(get "$1" 2)" 'BEGIN { printf "%.2f", s / c * 1e9 }'; }
pass=$(nspc gaussian-pass)
echo
echo "The server step on $n f32 coordinates, one thread, in-process"
echo "(bench/mf.c, best of 3, averaged over rounds 1 to 16): banded MF's"
echo "step keeps bands - 1 vectors of f64 past noise (in memory here; in"
echo "fl-apply's state file, 8 (bands - 1) bytes a coordinate, read and"
echo "written every round)."
echo
table_head
row "tree noise, plain, per round" "$(nspc tree-plain-16) ns/coord" "one Gaussian noise pass" "$pass ns" "$(ratio "$(nspc tree-plain-16)" "$pass")" "bench/work/mf time $n"
for b in 2 4 8; do
	row "banded MF, $b bands, per round" "$(nspc banded-$b-16) ns/coord" "one Gaussian noise pass" "$pass ns" "$(ratio "$(nspc banded-$b-16)" "$pass")" "bench/work/mf time $n"
done
best=$(awk -F'\t' 'BEGIN { m = 0 } $4 > 1 && $7 / $6 > m { m = $7 / $6 } END { printf "%.3f", m }' "$WORK/mf.tsv")
target "banded MF's total prefix-sum error <= Honaker tree's at equal rho, every pattern with bands >= 2" "largest ratio $best" "$(ge 1 "$best")"
