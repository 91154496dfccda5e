#!/bin/sh
# DP-FTRL's server step (fl-apply --ftrl): the tree's noise n(t) - n(t-1)
# on a sum of 10M f32 coordinates, in-process (bench/tree.c, rounds 1-16:
# 2 nodes a round on average) and end to end, beside one Gaussian noise
# pass of the same size (fl-clip-noise -n 1), one thread each; and the
# error of the prefix sums, plain tree against Honaker's estimator.
set -eu
. bench/lib.sh

n=10000000
${CC:-cc} -O2 -std=c11 -Ilib -o "$WORK/tree" bench/tree.c lib/libfl.a \
    -lsodium -lz -lm -pthread
"$WORK/tree" "$n" > "$WORK/tree.tsv"
get() { awk -F'\t' -v k="$1" -v f="$2" '$1 == k { print $f }' "$WORK/tree.tsv"; }
nspc() { awk -v s="$(get "$1" 3)" -v c="$(get "$1" 2)" 'BEGIN { printf "%.2f", s / c * 1e9 }'; }
pass=$(nspc gaussian-pass)
plain=$(nspc tree-plain-16)
honaker=$(nspc tree-honaker-16)

# End to end: a model and a sum of 40 MiB f32 each, tree round 2 (two
# nodes: the average) from a copy of the state after round 1.
"$PYTHON" - "$WORK" <<'PY'
import os, sys
sys.path.insert(0, "examples/python")
import numpy as np, flt
w = sys.argv[1]
n = 40 << 18
rng = np.random.default_rng(7)
for name, meta in (("ftrl-model", {"kind": "model", "round": 0}),
                   ("ftrl-a0", {"kind": "aggregate", "agg": "sum", "dp.clip": "1", "round": 0}),
                   ("ftrl-a1", {"kind": "aggregate", "agg": "sum", "dp.clip": "1", "round": 1})):
    with open(os.path.join(w, name + ".flt"), "wb") as f:
        flt.write_record(f, meta, {"w": rng.standard_normal(n, np.float32) * 0.01})
PY
rm -f "$WORK/ftrl-st0.flt"
"$FL_BIN/fl-apply" -m "$WORK/ftrl-model.flt" --ftrl="$WORK/ftrl-st0.flt" \
    --ftrl-init --noise=1 --clip=1 --rounds=16 --seed=bench \
    "$WORK/ftrl-a0.flt" -o "$WORK/ftrl-m1.flt" 2> /dev/null
hf ftrl "cp $WORK/ftrl-st0.flt $WORK/ftrl-st.flt && $FL_BIN/fl-apply -m $WORK/ftrl-m1.flt --ftrl=$WORK/ftrl-st.flt $WORK/ftrl-a1.flt > /dev/null" \
    "$FL_BIN/fl-apply -m $WORK/ftrl-m1.flt $WORK/ftrl-a1.flt > /dev/null" \
    "$FL_BIN/fl-clip-noise -n 1 $WORK/ftrl-a1.flt > /dev/null"
coords=$((40 << 18))
e2e=$(awk -v s="$(hfget ftrl 0 min)" -v c="$coords" 'BEGIN { printf "%.2f", s / c * 1e9 }')
sgd=$(awk -v s="$(hfget ftrl 1 min)" -v c="$coords" 'BEGIN { printf "%.2f", s / c * 1e9 }')
cn=$(awk -v s="$(hfget ftrl 2 min)" -v c="$coords" 'BEGIN { printf "%.2f", s / c * 1e9 }')

echo "## DP-FTRL: the tree's noise on the server"
echo
echo "The noise n(t) - n(t-1) added to round t's sum of $n f32 coordinates,"
echo "one thread, in-process (bench/tree.c, best of 3, averaged over rounds"
echo "1 to 16, 1.94 nodes a round for the plain tree), against one Gaussian"
echo "noise pass (fl_noise_tensor, as fl-clip-noise -n 1); end to end, tree"
echo "round 2 (two nodes) through fl-apply, against fl-apply without"
echo "--ftrl and fl-clip-noise -n 1 on the same record."
echo
table_head
row "tree noise, plain, per round" "$plain ns/coord" "one Gaussian noise pass" "$pass ns" "$(ratio "$plain" "$pass")" "bench/work/tree $n"
row "tree noise, Honaker, per round" "$honaker ns/coord" "one Gaussian noise pass" "$pass ns" "$(ratio "$honaker" "$pass")" "bench/work/tree $n"
row "fl-apply --ftrl, round 2, end to end" "$e2e ns/coord" "fl-clip-noise -n 1" "$cn ns" "$(ratio "$e2e" "$cn")" "$(hfcmd ftrl 0)"
row "fl-apply --ftrl, round 2, end to end" "$e2e ns/coord" "fl-apply (sgd, no noise)" "$sgd ns" "$(ratio "$e2e" "$sgd")" "$(hfcmd ftrl 0)"
echo
echo "The error of the prefix sums: the variance of n(t) in units of the"
echo "node noise's, summed over t = 1..T and at its largest (the same"
echo "privacy for both estimators)."
echo
echo "| T | plain, total | Honaker, total | ratio | plain, largest | Honaker, largest |"
echo "|---|---|---|---|---|---|"
awk -F'\t' '$1 == "error" { printf "| %s | %s | %s | %.3f | %s | %s |\n", $2, $3, $4, $4 / $3, $5, $6 }' "$WORK/tree.tsv"
target "DP-FTRL server step (plain tree noise), 10M: <= 2 x one Gaussian noise pass" "$(ratio "$plain" "$pass") ($plain ns against $pass ns)" "$(ge 2 "$(ratio "$plain" "$pass")")"
