#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
#
# Central differential privacy at simulation speed: pfl-research's
# central-DP benchmark configuration (Apple, "pfl-research", 2024) on
# Fashion-MNIST.  A population of clients (1000) each holding an IID part
# of the 60,000 training examples; per round a Poisson cohort (expected 50)
# trains the global MLP, each update is clipped (0.4), the server sums
# them, adds Gaussian noise once and applies the sum divided by the
# expected cohort (a public number).  One pipeline per round, one process
# per program whatever the cohort:
#
#   fl-train -m global.flt --each SHARD... -o - | fl-clip-noise -c C |
#     fl-aggregate -r sum | fl-clip-noise --noise Z' -o release.flt
#   fl-apply -m global.flt --server-lr ETA/COHORT -o global.flt release.flt
#
# The noise is sized as pfl sizes it for a simulation, for a larger "noise
# cohort" (1000): the multiplier Z that spends epsilon over the rounds at
# q = noise cohort / population, scaled to the real cohort (Z' = Z x cohort
# / noise cohort), so that the model sees the noise a deployment with
# 1000-client cohorts would add to its mean.  The guarantee (epsilon 2 at
# delta 1e-6 by default) is that deployment's; the line "# this run's
# releases" gives the epsilon of the releases this simulation made
# (cohort q = cohort / population, multiplier Z'), by the same accountant.
#
#   examples/central.sh                 # 1000 clients, 50 a round, 1500 rounds
#   examples/central.sh --no-privacy    # the same without clipping and noise
#
# It prints the plan, "round R accuracy A" every --eval-every rounds and at
# the end, and "updates U seconds S per-second P" (the client updates
# trained and released, the wall time of the rounds).  results.tsv,
# cohorts (one line a round: its number and its clients' shards),
# release.flt (the last round's noised sum) and global.flt stay in the work
# directory.
set -euo pipefail

prog=${0##*/}
usage() {
	cat <<'EOF'
usage: central.sh [-n clients] [-c cohort] [-r rounds] [--epsilon E]
           [--delta D] [--clip C] [--noise-cohort M] [--no-privacy]
           [-a arch] [-e epochs] [-b batch] [--lr RATE] [--server-lr ETA]
           [--eval-every K] [--seed S] [-j threads] [-d dir]

  -n N             clients in the population (default 1000)
  -c N             expected cohort per round, Poisson (default 50)
  -r N             rounds (default 1500)
  --epsilon E      the budget over all rounds (default 2)
  --delta D        (default 1e-6)
  --clip C         L2 clip bound of an update (default 0.4)
  --noise-cohort M the cohort the noise is sized for (default 1000, or the
                   population if smaller)
  --no-privacy     no clipping, no noise: the baseline
  -a ARCH          fl-init architecture (default mlp:784-64-10)
  -e N             client epochs per round (default 1)
  -b N             client batch size (default 10)
  --lr RATE        client learning rate (default 0.1)
  --server-lr ETA  server learning rate on the mean update (default 1)
  --eval-every K   evaluate on the test set every K rounds (default 100)
  --seed S         seed of the split, the model, the cohorts and the noise:
                   reproducible and NOT PRIVATE (default 1)
  -j N             fl-train threads (default 1: a cohort's training is
                   too small to share, and the pipeline's other programs
                   use the second core)
  -d DIR           work directory (default: a new one under /dev/shm or
                   TMPDIR)
  -h, --help       print this help and exit

Environment: FL_BIN, if set, is put first on PATH.  Needs Fashion-MNIST
(Debian: dataset-fashion-mnist).
EOF
}

N=1000 COHORT=50 ROUNDS=1500 EPS=2 DELTA=1e-6 CLIP=0.4 NCOHORT=
PRIVATE=1 ARCH=mlp:784-64-10 EPOCHS=1 BATCH=10 LR=0.1 SLR=1 EVERY=100
SEED=1 JOBS=1 DIR=''
while [ $# -gt 0 ]; do
	case $1 in
	--*=*) set -- "${1%%=*}" "${1#*=}" "${@:2}"; continue ;;
	-h | --help) usage; exit 0 ;;
	--no-privacy) PRIVATE=0; shift ;;
	-n | -c | -r | --epsilon | --delta | --clip | --noise-cohort | -a | \
	    -e | -b | --lr | --server-lr | --eval-every | --seed | -j | -d)
		[ $# -ge 2 ] || { echo "$prog: $1 needs a value" >&2; exit 2; }
		case $1 in
		-n) N=$2 ;; -c) COHORT=$2 ;; -r) ROUNDS=$2 ;;
		--epsilon) EPS=$2 ;; --delta) DELTA=$2 ;; --clip) CLIP=$2 ;;
		--noise-cohort) NCOHORT=$2 ;; -a) ARCH=$2 ;; -e) EPOCHS=$2 ;;
		-b) BATCH=$2 ;; --lr) LR=$2 ;; --server-lr) SLR=$2 ;;
		--eval-every) EVERY=$2 ;; --seed) SEED=$2 ;; -j) JOBS=$2 ;;
		-d) DIR=$2 ;;
		esac
		shift 2
		;;
	*) usage >&2; exit 2 ;;
	esac
done
# shellcheck source-path=SCRIPTDIR source=options.sh
. "$(dirname "$0")/options.sh"
num -n "$N" 2
num -c "$COHORT" 1
num -r "$ROUNDS" 1
[ -n "$NCOHORT" ] || NCOHORT=$((N < 1000 ? N : 1000))
num --noise-cohort "$NCOHORT" 1
num --eval-every "$EVERY" 1
num --seed "$SEED" 0
num -j "$JOBS" 1
[ "$COHORT" -le "$N" ] ||
    { echo "$prog: -c: the cohort is above the population" >&2; exit 2; }
if [ "$PRIVATE" = 1 ] && { [ "$NCOHORT" -lt "$COHORT" ] ||
    [ "$NCOHORT" -gt "$N" ]; }; then
	echo "$prog: --noise-cohort: want a number from the cohort to the population" >&2
	exit 2
fi
[ "$N" -le 60000 ] ||
    { echo "$prog: -n: at most 60,000 clients (one example each)" >&2; exit 2; }

[ -n "${FL_BIN:-}" ] && PATH=$FL_BIN:$PATH
FMNIST=/usr/share/datasets/fashion-mnist
[ -r "$FMNIST/train-images-idx3-ubyte.gz" ] ||
    { echo "$prog: no $FMNIST (Debian: dataset-fashion-mnist)" >&2; exit 1; }
if [ -z "$DIR" ]; then
	base=${TMPDIR:-}
	[ -z "$base" ] && [ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
	DIR=$(mktemp -d "${base:-/tmp}/fl-central.XXXXXX")
fi
mkdir -p "$DIR"
cd "$DIR"
rm -rf shards
mkdir shards

# The data: N IID parts of the training set, the test set as one record.
fl-split -n "$N" --iid --seed "$SEED" -p shards/c \
    "$FMNIST/train-images-idx3-ubyte.gz"
fl-split --iid --seed "$SEED" -o test.flt "$FMNIST/t10k-images-idx3-ubyte.gz"
ls shards > clients
fl-init -a "$ARCH" --seed "$SEED" -o global.flt

q=$(awk -v c="$COHORT" -v n="$N" 'BEGIN { printf "%.10g", c / n }')
# The mean update is the noised sum over the expected cohort, a public
# number (the fixed-denominator estimator): fl-apply's rate on the sum.
ETA=$(awk -v e="$SLR" -v c="$COHORT" 'BEGIN { printf "%.10g", e / c }')
if [ "$PRIVATE" = 1 ]; then
	qn=$(awk -v c="$NCOHORT" -v n="$N" 'BEGIN { printf "%.10g", c / n }')
	plan=$(fl-account --target-epsilon "$EPS" -q "$qn" -T "$ROUNDS" \
	    -d "$DELTA") || exit 1
	Z=$(echo "$plan" | awk '{ for (i = 1; i < NF; i++)
		if ($i == "noise") print $(i + 1) }')
	ZR=$(awk -v z="$Z" -v c="$COHORT" -v m="$NCOHORT" \
	    'BEGIN { printf "%.10g", z * c / m }')
	own=$(fl-account -q "$q" --noise "$ZR" -T "$ROUNDS" -d "$DELTA") ||
	    exit 1
	echo "# central DP: noise multiplier $Z for epsilon $EPS at delta" \
	    "$DELTA over $ROUNDS rounds of $NCOHORT-client cohorts (q=$qn);" \
	    "on the sum of a $COHORT-client cohort: $ZR x clip $CLIP"
	echo "# this run's releases (q=$q, multiplier $ZR): $own"
else
	echo "# no privacy: $N clients, cohorts of ~$COHORT, $ROUNDS rounds"
fi

# The cohorts, one line per round: Poisson draws at rate q from --seed (the
# simulation's own coin, reproducible: NOT a private one), made at once so
# that a round starts no process but its pipeline's.
awk -v s="$SEED" -v q="$q" -v rounds="$ROUNDS" '
	{ c[NR] = $0 }
	END {
		srand(s)
		for (r = 1; r <= rounds; r++) {
			line = r
			for (i = 1; i <= NR; i++)
				if (rand() < q) line = line " shards/" c[i]
			print line
		}
	}' clients > cohorts
exec 3< cohorts

# round R: one pipeline on the next line of cohorts; a cohort of none
# leaves the model as it is.
round() {
	local -a shards
	read -r -a shards <&3
	[ "${shards[0]}" = "$1" ] || { echo "$prog: cohorts out of step" >&2; exit 1; }
	shards=("${shards[@]:1}")
	[ "${#shards[@]}" -gt 0 ] || return 0
	if [ "$PRIVATE" = 1 ]; then
		fl-train -m global.flt -e "$EPOCHS" -b "$BATCH" --lr "$LR" \
		    -j "$JOBS" --seed "$SEED:$1" --each "${shards[@]}" -o - |
		    fl-clip-noise -c "$CLIP" | fl-aggregate -r sum |
		    fl-clip-noise --noise "$ZR" --seed "$SEED:noise:$1" \
			-o release.flt
		fl-apply -m global.flt --server-lr "$ETA" -o global.flt \
		    release.flt
	else
		fl-train -m global.flt -e "$EPOCHS" -b "$BATCH" --lr "$LR" \
		    -j "$JOBS" --seed "$SEED:$1" --each "${shards[@]}" -o - |
		    fl-aggregate -r sum -o release.flt
		fl-apply -m global.flt --server-lr "$ETA" -o global.flt \
		    release.flt
	fi
	echo "${#shards[@]}" >> trained
}

evaluate() {
	fl-eval -j "$JOBS" -m global.flt test.flt |
	    awk '$1 == "accuracy" { print $2 }'
}

printf 'round\taccuracy\n' > results.tsv
: > trained
start=$(date +%s.%N)
for r in $(seq 1 "$ROUNDS"); do
	round "$r"
	if [ $((r % EVERY)) -eq 0 ] || [ "$r" -eq "$ROUNDS" ]; then
		acc=$(evaluate)
		echo "round $r accuracy $acc"
		printf '%d\t%s\n' "$r" "$acc" >> results.tsv
	fi
done
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" '{ u += $1 } END {
	printf "updates %d seconds %.1f per-second %.1f\n", u, e - s, u / (e - s) }' trained
