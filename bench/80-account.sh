#!/bin/sh
# fl-account: how long the accountants take (whole process, start-up
# included) and how close they come to the published values.  The
# baseline is the start-up alone of a Python accountant (python3 importing
# numpy: Opacus and dp_accounting pay at least this before computing
# anything); /bin/true is the floor of any process.
# shellcheck disable=SC2086 # $mnist is several arguments on purpose
set -eu
# shellcheck source=bench/lib.sh
. bench/lib.sh

A=$FL_BIN/fl-account
L1=$WORK/account-same.ledger
L2=$WORK/account-distinct.ledger

# A ledger of N releases in the documented format (fl-account(1), THE
# LEDGER): the same parameters on every line, or a noise multiplier that
# differs on every line (as when the survivors of each round differ).
ledger() {
	"$PYTHON" - "$1" "$2" "$3" <<'PY'
import sys, zlib
path, n, distinct = sys.argv[1], int(sys.argv[2]), sys.argv[3] == 'distinct'
head = b'# fl-account ledger 1'
out, prev = [head], zlib.crc32(head)
for i in range(1, n + 1):
    z = repr(1 + i * 1e-4).removesuffix('.0') if distinct else '1.1'
    text = ('release=%d round=%d mechanism=gaussian q=0.01 steps=1 noise=%s'
            % (i, i, z)).encode()
    prev = zlib.crc32(text, prev)
    out.append(text + b' check=%08x' % prev)
open(path, 'wb').write(b'\n'.join(out) + b'\n')
PY
}
ledger "$L1" 10000 same
ledger "$L2" 10000 distinct
"$A" -l "$L1" > /dev/null
"$A" -l "$L2" > /dev/null

mnist="-q 256/60000 -z 1.1 -T 14063"
hf account /bin/true "$PYTHON -c 'import numpy'" \
    "$A -q 0.01 -z 1.1 -T 10000" \
    "$A $mnist" \
    "$A --target-epsilon=1 -q 0.01 -T 10000" \
    "$A -a pld $mnist" \
    "$A -a pld -q 0.01 -z 1.1 -T 10000" \
    "$A -a pld -q 0.1 -z 1.1 -T 10000" \
    "$A -a pld --target-epsilon=1 -q 0.01 -T 1000" \
    "$A -l $L1" \
    "$A -l $L2"

py=$(hfget account 1 mean)
fig() {
	printf '%s ms (mean ± %s of %s; best %s ms)' "$(ms "$(hfget account "$1" mean)")" \
	    "$(ms "$(hfget account "$1" stddev)")" "$BENCH_RUNS" \
	    "$(ms "$(hfget account "$1" min)")"
}
line() {
	row "$2" "$(fig "$1")" "python3 -c 'import numpy'" "$(ms "$py") ms" \
	    "$(ratio "$(hfget account "$1" mean)" "$py")" "$(hfcmd account "$1")"
}

echo "## fl-account: privacy accounting"
echo
echo "Whole runs of the program (start-up, accounting, output), each"
echo "the mean of $BENCH_RUNS.  Baseline: the start-up alone of a Python"
echo "accountant (python3 importing numpy), before it computes anything."
echo "The RDP accountant uses 173 orders (1.1 to 2048); the PLD one a loss"
echo "grid of 1e-4, both directions of add/remove adjacency."
echo
table_head
row "/bin/true (any process)" "$(fig 0)" "—" "—" "—" "/bin/true"
line 2 "RDP epsilon, 10^4 steps (q 0.01, sigma 1.1)"
line 3 "RDP epsilon, MNIST (q 256/60000, sigma 1.1, 14063 steps)"
line 4 "RDP noise multiplier for epsilon 1 (q 0.01, 10^4 steps)"
line 5 "PLD epsilon, MNIST (14063 steps)"
line 6 "PLD epsilon, 10^4 steps (q 0.01, sigma 1.1)"
line 7 "PLD epsilon, 10^4 steps (q 0.1, sigma 1.1: the widest of the grid)"
line 8 "PLD noise multiplier for epsilon 1 (q 0.01, 1000 steps)"
line 9 "report of a 10^4-release ledger, all alike (RDP)"
line 10 "report of a 10^4-release ledger, every noise different (RDP)"
echo

target "RDP epsilon for 10^4 steps <= 10 ms" "$(fig 2)" \
    "$(ge 0.010 "$(hfget account 2 mean)")"
target "PLD epsilon <= 1 s: MNIST, 14063 steps" "$(fig 5)" \
    "$(ge 1 "$(hfget account 5 mean)")"
target "PLD epsilon <= 1 s: q 0.1, sigma 1.1, 10^4 steps (widest)" "$(fig 7)" \
    "$(ge 1 "$(hfget account 7 mean)")"
target "noise-multiplier search <= 100 ms (RDP, 10^4 steps)" "$(fig 4)" \
    "$(ge 0.100 "$(hfget account 4 mean)")"

# Accuracy: the published values of ../shared/notes/dp-accounting.md
# (Opacus 1.5.4, dp_accounting 0.6.0, TF Privacy, google-research).
# shellcheck disable=SC2016 # the backquotes are markdown
acc() {
	# acc WHAT REFERENCE FIELD ARGS...
	what=$1 ref=$2 field=$3
	shift 3
	got=$("$A" -j "$@" | sed -n "s/.*\"$field\":\([^,}]*\).*/\1/p")
	printf '| %s | %s | %.6g | %+.2e | `fl-account %s` |\n' "$what" "$ref" \
	    "$got" "$(awk -v g="$got" -v r="$ref" 'BEGIN { print (g - r) / r }')" "$*"
}
echo "### Accuracy against published values"
echo
echo "References rounded as published (4-5 digits): a relative"
echo "difference below 5e-5 is agreement to every digit given."
echo
echo "| case | reference | fl-account | relative difference | command |"
echo "|---|---|---|---|---|"
acc "MNIST, classic conversion (TF Privacy tutorial 3.01)" 3.0084 epsilon -a rdp-classic --orders opacus $mnist
acc "MNIST, RDP (Opacus = dp_accounting)" 2.5967 epsilon $mnist
acc "MNIST, PLD (dp_accounting)" 2.3818 epsilon -a pld $mnist
acc "sigma 0.7, 10547 steps, RDP (Opacus)" 6.3184 epsilon --orders opacus -q 256/60000 -z 0.7 -T 10547
acc "sigma 0.7, 10547 steps, PLD" 5.6397 epsilon -a pld -q 256/60000 -z 0.7 -T 10547
acc "Abadi et al., q 0.01, sigma 4, 10^4 steps, RDP" 1.0355 epsilon --orders opacus -q 0.01 -z 4 -T 10000
acc "Abadi et al., PLD" 0.9470 epsilon -a pld -q 0.01 -z 4 -T 10000
acc "noise for epsilon 1, q 0.01, 1000 steps (dp_accounting RDP)" 1.5131 noise --orders dp-accounting --target-epsilon=1 -q 0.01 -T 1000
acc "noise for epsilon 1, q 0.01, 1000 steps (PLD)" 1.4147 noise -a pld --target-epsilon=1 -q 0.01 -T 1000
acc "q 1, sigma 0.8, 1000 steps: exact (Balle-Wang)" 948.89 epsilon -a exact -q 1 -z 0.8 -T 1000
acc "q 1, sigma 0.8, 1000 steps: PLD (>= exact)" 948.89 epsilon -a pld -q 1 -z 0.8 -T 1000
acc "DDG, q 100/3400, 1500 rounds, no rounding (distributed_dp)" 7.475 epsilon --corrupt 0 --orders 2-128,256 -q 100/3400 -T 1500 -d 0.000294117647058823529 -m discrete-gaussian --sigma 763.0497185645788 --clients 100 --sensitivity 7630.497185645788 --sensitivity-l1 1953407.279525322 --dim 65536
echo
echo "tests/fl-account.bats checks these and more (240 points against an"
echo "independent reference of Opacus' accountant: largest relative"
echo "difference 4e-11)."
echo
