#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
#
# Federated rounds of a PyTorch model with fltools doing the rest: a small
# CNN on Fashion-MNIST (examples/pytorch/train.py) trained by PyTorch on
# each client, its update clipped, ring-encoded and masked for secure
# aggregation, summed by the server, decoded, applied, and the new global
# model evaluated by PyTorch on the test set.  Per round and client:
#
#   train.py global.flt shard -o - | fl-clip-noise -c CLIP |
#     fl-quantize --ring 32 --clients N [--noise Z] |
#     [fl-clip-noise --noise Z --shares N -m discrete-gaussian |]
#     fl-mask -k KEY -r roster.flt -s shares.flt -o masked.flt
#
# and on the server: fl-aggregate --roster (the unmasked modular sum),
# fl-quantize -d --mean=N (the mean update), fl-apply (the next model).
# The secure aggregation steps are those of examples/secagg.sh and
# examples/simulate.sh (identities and enrolment once, then per round
# keys, roster, shares, masking, the consistency round, reveals, and the
# keys forgotten).  With --drop, clients drop before sending their masked
# update and the survivors' reveals take their masks out.  With --epsilon
# the noise is planned by fl-account for that budget over the rounds and
# the expected dropouts, and every round is charged to a privacy ledger
# (budget.ledger) before its sum is used: a round with fewer survivors
# than the plan's noise shares is aborted (the model stays), and a round
# over the budget stops the run.
#
#   examples/pytorch/round.sh -n 10 -r 10 --examples 600
#   examples/pytorch/round.sh -n 20 -r 5 --examples 600 --drop 0.1 --epsilon 8
#
# It prints "round R accuracy A [survivors S epsilon E]" per round and
# leaves results.tsv, budget.ledger (with noise) and global.flt (the last
# model) in the work directory.  Needs python3 with
# PyTorch and numpy (/usr/bin/python3, or $PYTHON) and Fashion-MNIST
# (Debian: dataset-fashion-mnist).
set -euo pipefail

prog=${0##*/}
usage() {
	cat <<'EOF'
usage: round.sh [-n clients] [-r rounds] [--examples N] [-e epochs]
           [-b batch] [--lr RATE] [--clip C] [--noise Z | --epsilon E]
           [--drop P] [--server-lr ETA] [--test N] [--seed S] [-j jobs]
           [-d dir]

  -n N            clients, all in every round (default 10; at least 4)
  -r N            rounds (default 5)
  --examples N    training examples per client (default 600; the clients
                  hold disjoint IID parts of the 60,000)
  -e N            client epochs per round (1)
  -b N            client batch size (32)
  --lr RATE       client learning rate (0.1)
  --clip C        L2 clip bound of an update (0.5)
  --noise Z       noise multiplier, distributed among the clients as
                  discrete Gaussian shares (default 0: none; the noise on
                  the mean is Z C / N per coordinate, so privacy with
                  accuracy needs hundreds of clients per round); each
                  round is charged to budget.ledger
  --epsilon E     plan the noise with fl-account for epsilon E over the
                  rounds at delta 1e-5 (every client every round, q = 1),
                  the shares for the survivors --drop leaves with
                  probability 0.99; the ledger refuses a round past E
  --drop P        probability that a client drops before sending its
                  masked update (default 0; drawn from --seed)
  --server-lr ETA fl-apply's learning rate (1)
  --test N        evaluate on the first N examples of the (shuffled) test
                  set (default all 10,000)
  --seed S        seed of the data split, the initial model and the
                  clients' example order (1)
  -j N            clients trained in parallel (default: the CPUs)
  -d DIR          work directory (default: a new one under /tmp)
  -h, --help      print this help and exit

Environment: FL_BIN, if set, is put first on PATH; PYTHON is the python
with torch and numpy (default /usr/bin/python3).
EOF
}

N=10 ROUNDS=5 EXAMPLES=600 EPOCHS=1 BATCH=16 LR=0.1 CLIP=0.5 Z=0 SLR=1 TESTN=10000
SEED=1 JOBS=$(nproc 2>/dev/null || echo 2) DIR='' EPS='' DROP=0
while [ $# -gt 0 ]; do
	case $1 in
	--*=*) set -- "${1%%=*}" "${1#*=}" "${@:2}"; continue ;;
	-h | --help) usage; exit 0 ;;
	-n | -r | --examples | -e | -b | --lr | --clip | --noise | \
	    --epsilon | --drop | --server-lr | --test | --seed | -j | -d)
		[ $# -ge 2 ] || { echo "$prog: $1 needs a value" >&2; exit 2; }
		case $1 in
		-n) N=$2 ;; -r) ROUNDS=$2 ;; --examples) EXAMPLES=$2 ;;
		-e) EPOCHS=$2 ;; -b) BATCH=$2 ;; --lr) LR=$2 ;;
		--clip) CLIP=$2 ;; --noise) Z=$2 ;; --server-lr) SLR=$2 ;;
		--epsilon) EPS=$2 ;; --drop) DROP=$2 ;;
		--test) TESTN=$2 ;; --seed) SEED=$2 ;; -j) JOBS=$2 ;; -d) DIR=$2 ;;
		esac
		shift 2
		;;
	*) usage >&2; exit 2 ;;
	esac
done
# shellcheck source-path=SCRIPTDIR source=../options.sh
. "$(dirname "$0")/../options.sh"
num -n "$N" 4
num -r "$ROUNDS" 1
num --examples "$EXAMPLES" 1
num -j "$JOBS" 1
num --seed "$SEED" 0
num --test "$TESTN" 1
[ $((N * EXAMPLES)) -le 60000 ] ||
    { echo "$prog: -n times --examples is above the 60,000 examples" >&2; exit 2; }
# frac OPTION VALUE: VALUE is a number in [0, 0.5), or a usage error.
frac() {
	if ! [[ $2 =~ ^0*(\.[0-9]+)?$|^0\.[0-9]+$ ]] ||
	    ! awk -v p="$2" 'BEGIN { exit !(p + 0 < 0.5) }'; then
		echo "$prog: $1: want a probability below 0.5" >&2
		exit 2
	fi
}
frac --drop "$DROP"
if [ -n "$EPS" ] && [ "$Z" != 0 ]; then
	echo "$prog: --noise and --epsilon exclude each other" >&2
	exit 2
fi
if [ "$DROP" != 0 ] && [ -z "$EPS" ] && [ "$Z" != 0 ]; then
	echo "$prog: --drop with noise: give --epsilon, which plans the" \
	    "noise shares for the survivors" >&2
	exit 2
fi

HERE=$(cd "$(dirname "$0")" && pwd)
TRAIN=$HERE/train.py
PYTHON=${PYTHON:-/usr/bin/python3}
[ -n "${FL_BIN:-}" ] && PATH=$FL_BIN:$PATH
export PATH PYTHON TRAIN
FMNIST=/usr/share/datasets/fashion-mnist
[ -r "$FMNIST/train-images-idx3-ubyte.gz" ] ||
    { echo "$prog: no $FMNIST (Debian: dataset-fashion-mnist)" >&2; exit 1; }
"$PYTHON" -c 'import torch, numpy' 2> /dev/null ||
    { echo "$prog: $PYTHON cannot import torch and numpy" >&2; exit 1; }
if [ -z "$DIR" ]; then
	DIR=$(mktemp -d "${TMPDIR:-/tmp}/fl-pytorch.XXXXXX")
fi
mkdir -p "$DIR"
cd "$DIR"
rm -rf shards ids round enrolment.flt
mkdir shards ids

# The data: the training set cut into parts of EXAMPLES (the first N are
# the clients'), the test set as one record.
fl-split -n $((60000 / EXAMPLES)) --iid --seed "$SEED" -p shards/c \
    "$FMNIST/train-images-idx3-ubyte.gz"
fl-split --iid --seed "$SEED" -o test.flt "$FMNIST/t10k-images-idx3-ubyte.gz"
W=$((60000 / EXAMPLES - 1))
W=${#W}
export W

# The initial model, made by PyTorch: kind=model round=0.
"$PYTHON" "$TRAIN" --init --seed "$SEED" -o global.flt

# Identities once: the operator's, every client's, the enrolment.
fl-mask --make-identity --client op -i ids/op.id -o ids/op.pub
for i in $(seq 0 $((N - 1))); do
	fl-mask --make-identity --client "c$i" -i "ids/c$i.id" \
	    --operator ids/op.pub -o "ids/c$i.idpub"
done
cat ids/c*.idpub | fl-mask --make-enrolment -i ids/op.id -o enrolment.flt
# The roster's graph and threshold tolerate twice the expected dropout,
# within [0.1, 0.35] (as examples/simulate.sh).
TOLERATE=$(awk -v p="$DROP" \
    'BEGIN { p *= 2; print (p < 0.1) ? 0.1 : (p > 0.35) ? 0.35 : p }')

# The noise: --noise Z as given, split into N shares (no one drops); or,
# with --epsilon, the multiplier that spends E over the rounds, split into
# the shares that the survivors reach with probability 0.99 (fl-account
# --dropout), in units of the sensitivity (1e6 grid units stand for any)
# over the ring's coordinates (the float weights, padded to a power of 2
# by the rotation).  Each client adds 1/SHARES of the variance.
SHARES=$N
if [ -n "$EPS" ]; then
	DIM=$(fl-inspect -j global.flt | "$PYTHON" -c '
import sys, json
n = sum(t["numel"] for t in json.loads(sys.stdin.readline())["tensors"]
        if t["dtype"] in ("f32", "f64", "f16", "bf16"))
d = 1
while d < n: d *= 2
print(d)')
	plan=$(fl-account -m discrete-gaussian --target-epsilon "$EPS" \
	    --dropout "$DROP" -N "$N" -q 1 -T "$ROUNDS" -d 1e-5 \
	    --sensitivity 1e6 --dim "$DIM") || exit 1
	Z=$(echo "$plan" | awk '{ for (i = 1; i < NF; i++)
		if ($i == "noise") print $(i + 1) }')
	SHARES=$(echo "$plan" | awk '{ for (i = 1; i < NF; i++)
		if ($i == "shares") print $(i + 1) }')
	echo "# noise multiplier $Z in $SHARES shares for epsilon $EPS" \
	    "over $ROUNDS rounds (delta 1e-5)"
fi
# The mean divides by the expected survivors, a public number (the
# fixed-denominator estimator).
SURV=$(awk -v n="$N" -v p="$DROP" 'BEGIN { s = int(n * (1 - p)); print s }')
rm -f budget.ledger

# client I: train, clip, encode, add its share of the noise, mask.
client() {
	local shard
	shard=$(printf 'shards/c%0*d.flt' "$W" "$1")
	"$PYTHON" "$TRAIN" -e "$EPOCHS" -b "$BATCH" --lr "$LR" \
	    --seed "$((SEED * 100000 + t * 1000 + $1))" global.flt "$shard" -o - |
	    fl-clip-noise -c "$CLIP" |
	    fl-quantize --ring 32 --clients "$N" --noise "$Z" |
	    if [ "$Z" = 0 ]; then cat; else
		fl-clip-noise --noise "$Z" --shares "$SHARES" -m discrete-gaussian
	    fi |
	    fl-mask -k "round/c$1.key" -r round/roster.flt -s round/shares.flt \
		-o "round/m$1.flt"
}
export -f client
export EPOCHS BATCH LR CLIP Z N SEED SHARES

# forget: every client of the roster overwrites and removes its key file,
# however the round ended.
forget() {
	local i
	for i in $(seq 0 $((N - 1))); do
		fl-mask --forget -k "round/c$i.key"
	done
}

printf 'round\taccuracy\tsurvivors\tepsilon\n' > results.tsv
eps=-
for t in $(seq 1 "$ROUNDS"); do
	export t
	rm -rf round
	mkdir round
	MR=$(fl-inspect -g round global.flt)
	for i in $(seq 0 $((N - 1))); do
		fl-mask --keygen --round "$MR" -k "round/c$i.key" \
		    -i "ids/c$i.id" -o "round/c$i.pub"
	done
	cat round/c*.pub | fl-mask --make-roster -e enrolment.flt \
	    --dropout "$TOLERATE" -o round/roster.flt
	for i in $(seq 0 $((N - 1))); do
		fl-mask --share -k "round/c$i.key" -r round/roster.flt \
		    -e enrolment.flt --dropout "$TOLERATE" --min-clients "$N" \
		    -o "round/c$i.shares"
	done
	cat round/c*.shares > round/shares.flt
	# Who sends its masked update: a coin per client from --seed (the
	# simulator's choice, not privacy noise).
	awk -v s="$SEED" -v t="$t" -v n="$N" -v p="$DROP" 'BEGIN {
		srand(s * 100003 + t)
		for (i = 0; i < n; i++) if (rand() >= p) print i }' > round/live
	xargs -P "$JOBS" -I{} bash -c 'set -o pipefail; client {}' < round/live
	sed 's/^/c/' round/live > round/survivors
	survivors=$(wc -l < round/survivors)
	# Too few survivors for the consistency round, or fewer noise shares
	# than the plan: the server gives up before unmasking anything.
	quorum=$(fl-inspect round/roster.flt | sed -n 's/^  secagg\.quorum=//p')
	if [ "$survivors" -lt "$quorum" ] || { [ "$Z" != 0 ] &&
	    [ "$survivors" -lt "$SHARES" ]; }; then
		forget
		echo "round $t aborted ($survivors survivors): the model stays"
		printf '%d\t-\t%d\t%s\n' "$t" "$survivors" "$eps" >> results.tsv
		continue
	fi
	while read -r i; do
		fl-mask --confirm round/survivors -k "round/c$i.key" \
		    -i "ids/c$i.id" -r round/roster.flt -s round/shares.flt \
		    -o "round/c$i.confirm"
	done < round/live
	cat round/c*.confirm > round/confirms.flt
	while read -r i; do
		fl-mask --reveal round/survivors -k "round/c$i.key" \
		    -r round/roster.flt -s round/shares.flt \
		    --confirmations round/confirms.flt -o "round/c$i.reveal"
	done < round/live
	cat round/c*.reveal > round/reveals.flt
	fl-aggregate --roster round/roster.flt --shares round/shares.flt \
	    --reveals round/reveals.flt -o round/sum.flt round/m*.flt
	forget
	# With noise, the ledger is the gate: the release is charged before
	# it is used, and one past the budget (exit 3) stops the run.
	if [ "$Z" != 0 ]; then
		st=0
		out=$(fl-account -l budget.ledger -s ${EPS:+-B "$EPS"} -d 1e-5 \
		    -q 1 round/sum.flt) || st=$?
		if [ "$st" -eq 3 ]; then
			echo "round $t: the privacy budget is spent; stopping"
			break
		fi
		[ "$st" -eq 0 ] || exit 1
		eps=$(echo "$out" | awk '{ for (i = 1; i < NF; i++)
			if ($i == "epsilon") e = $(i + 1) } END { print e }')
	fi
	fl-quantize -d --mean="$SURV" -o round/mean.flt round/sum.flt
	fl-apply -m global.flt --server-lr "$SLR" -o global.flt round/mean.flt
	acc=$("$PYTHON" "$TRAIN" --eval --limit "$TESTN" global.flt test.flt |
	    awk '$1 == "accuracy" { print $2 }')
	if [ "$Z" != 0 ] || [ "$DROP" != 0 ]; then
		echo "round $t accuracy $acc survivors $survivors epsilon $eps"
	else
		echo "round $t accuracy $acc"
	fi
	printf '%d\t%s\t%d\t%s\n' "$t" "$acc" "$survivors" "$eps" >> results.tsv
done
