#!/bin/bash
# SPDX-License-Identifier: ISC
#
# A private federated training of an MLP on Fashion-MNIST, simulated on one
# machine with the fl-* programs doing everything a real deployment does:
# a population of clients with non-IID data (Dirichlet label skew), a
# cohort drawn by Poisson sampling each round from the OS's CSPRNG
# (fl-account --sample: no one can predict it, so the amplification by
# sampling that the ledger charges for holds), and on every sampled device
#
#   fl-train | fl-clip-noise --indicator | fl-quantize --ring |
#     fl-clip-noise --shares (its share of the distributed noise) | fl-mask
#
# (run for as many batches of devices as jobs, one process per program
# for the batch: fl-train --each and fl-mask with every device's key
# file write each device's record as its own run would, and the filters
# take each record apart)
# with secure aggregation against a lying server: a long-term identity per
# device and the operator's enrolment, made once, then per round keys
# signed by the identity, Shamir shares, the consistency round (the
# survivors sign the survivor list) before the unmask request, and the key
# files forgotten when the round is over; clients dropping at every stage
# of the protocol, and on the server the unmasking (fl-aggregate
# --roster), decoding, adaptive clipping, a server optimizer (fl-apply) and
# the privacy ledger (fl-account), charged for the clients that actually
# survived.  Without the dataset (package dataset-fashion-mnist) it runs on
# synthetic data.
#
#   examples/simulate.sh [options]      (--help lists them)
#
# With --ftrl the cohorts are not sampled: the devices come in the order
# they are available (here a fixed order from --seed, taken cohort by
# cohort, round after round), so each takes part at most k times, at
# least b = clients / cohort rounds apart; each device refuses to break
# that pattern (fl-clip-noise --participation), adds no noise, and the
# server adds DP-FTRL's tree noise to the unmasked sum (fl-apply --ftrl,
# Honaker's estimator; with --bands=B banded matrix factorization's
# correlated noise instead): the guarantee of Kairouz et al. 2021,
# rho-zCDP for the declared pattern, with no sampling to trust.  The
# server's momentum (FedAvgM, 0.9, as the sampled runs use) acts on the
# noised sums only: post-processing (DP-FTRLM in Kairouz et al.).
#
# It prints a line per round (test accuracy, cohort, dropouts, epsilon so
# far) and leaves in the work directory results.tsv, and results.png if
# gnuplot is installed.  With --results DIR (make demo), the work directory
# is a temporary one in memory, removed at the end, and those results,
# the model and the ledger are copied into DIR.
# The clients run as bash -c 'client "$1"': the quotes are for that shell.
# shellcheck disable=SC2016
set -euo pipefail

usage() {
	cat <<'EOF'
usage: simulate.sh [-n clients] [-c cohort] [-r rounds] [-e epsilon]
           [-a arch] [--dropout=p] [--min-clients=m] [--no-privacy]
           [--iid] [-j jobs] [-d dir | --results dir] [--seed=text]
           [--synthetic] [--ftrl] [--bands=B]

  -a ARCH          model (default mlp:784-64-10)
  -b N             client batch size (16)
      --bands=B    with --ftrl: banded matrix factorization with B bands
                   (at most clients / cohort) instead of the tree
  -c N             expected cohort: clients sampled per round (150)
  -d DIR           work directory (default: a new one under $TMPDIR, or
                   /dev/shm if there is one, or /tmp)
      --delta=D    target delta (1e-5)
      --dropout=P  probability that a sampled client drops, at a stage of
                   the protocol drawn at random (0.05)
  -e EPS           user-level epsilon after all rounds (6)
      --ftrl       DP-FTRL instead of sampling: cohorts in the order the
                   devices are available, tree noise added by the server
      --iid        IID clients instead of Dirichlet(0.5) label skew
  -j N             clients run in parallel (default: the CPUs)
      --local-epochs=E  client epochs (1)
      --lr=RATE    client learning rate (0.1)
      --min-clients=M  a client refuses a roster of fewer than M clients,
                   and the server aborts such a round (10)
  -n N             clients in the population (3000)
      --no-privacy the same training without clipping, noise or masking
  -r N             rounds (40)
      --results=DIR  work in a temporary directory (as without -d),
                   removed at the end, and copy results.tsv, results.png,
                   global.flt and budget.ledger into DIR
      --seed=TEXT  seed of the data split and the dropouts (the cohorts,
                   the noise, identities and keys come from the OS)
      --seeded-cohorts  draw the cohorts from the seed too: a reproducible
                   run for tests, NOT PRIVATE (the ledger marks every
                   round not-private=sampling)
      --server-lr=ETA   server learning rate (1)
      --synthetic  synthetic data even if Fashion-MNIST is installed
EOF
}

N=3000 COHORT=150 ROUNDS=40 EPS=6 DELTA=1e-5 ARCH=mlp:784-64-10
DROP=0.05 PRIVATE=1 JOBS=$(nproc 2>/dev/null || echo 2) DIR='' SEED=demo
RESULTS=''
SYNTH=0 EPOCHS=1 LR=0.1 SLR=1 BATCH=16 IID=0 MINC=10 SEEDED=0 FTRL=0 BANDS=
while [ $# -gt 0 ]; do
	case $1 in
	-a) ARCH=$2; shift ;;
	-b) BATCH=$2; shift ;;
	--bands=*) BANDS=${1#*=} ;;
	-c) COHORT=$2; shift ;;
	-d) DIR=$2; shift ;;
	--delta=*) DELTA=${1#*=} ;;
	--dropout=*) DROP=${1#*=} ;;
	-e) EPS=$2; shift ;;
	-j) JOBS=$2; shift ;;
	--local-epochs=*) EPOCHS=${1#*=} ;;
	--lr=*) LR=${1#*=} ;;
	--min-clients=*) MINC=${1#*=} ;;
	-n) N=$2; shift ;;
	--no-privacy) PRIVATE=0 ;;
	-r) ROUNDS=$2; shift ;;
	--results=*) RESULTS=${1#*=} ;;
	--results) RESULTS=$2; shift ;;
	--seed=*) SEED=${1#*=} ;;
	--seeded-cohorts) SEEDED=1 ;;
	--server-lr=*) SLR=${1#*=} ;;
	--synthetic) SYNTH=1 ;;
	--iid) IID=1 ;;
	--ftrl) FTRL=1 ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
[ -n "${FL_BIN:-}" ] && PATH=$FL_BIN:$PATH
if [ "$FTRL" = 1 ]; then
	if [ "$PRIVATE" = 0 ] || [ "$SEEDED" = 1 ]; then
		echo "simulate.sh: --ftrl draws no cohorts and is private:" \
		    "not with --no-privacy or --seeded-cohorts" >&2
		exit 2
	fi
	if ! [ "$COHORT" -ge 1 ] 2> /dev/null || ! [ "$COHORT" -le "$N" ]; then
		echo "simulate.sh: --ftrl: the cohort must be 1 to the" \
		    "population ($N)" >&2
		exit 2
	fi
	if [ -n "$BANDS" ] && { ! [ "$BANDS" -ge 1 ] 2> /dev/null ||
	    ! [ "$BANDS" -le $((N / COHORT)) ]; }; then
		echo "simulate.sh: --bands=$BANDS: 1 to clients / cohort" \
		    "($((N / COHORT)), the rounds between two turns of a" \
		    "device)" >&2
		exit 2
	fi
elif [ -n "$BANDS" ]; then
	echo "simulate.sh: --bands goes with --ftrl" >&2
	exit 2
fi
# By default in memory (/dev/shm) when there is one: nothing of a
# simulation needs to survive a crash (and on tmpfs an fsync costs
# nothing: make demo on the disk took 142 s against 122 s,
# bench/RESULTS-22.md).
if [ -n "$RESULTS" ]; then
	if [ -n "$DIR" ]; then
		echo "simulate.sh: -d or --results, not both" >&2
		exit 2
	fi
	mkdir -p "$RESULTS"
	RESULTS=$(cd "$RESULTS" && pwd)
fi
if [ -z "$DIR" ]; then
	tmp=${TMPDIR:-/tmp}
	[ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] &&
	    tmp=/dev/shm
	DIR=$(mktemp -d "$tmp/fl-simulate.XXXXXX")
	# (removed however the run ends; its results are copied first)
	WORK=$DIR
	[ -z "$RESULTS" ] || trap 'rm -rf "$WORK"' EXIT
fi
mkdir -p "$DIR"
cd "$DIR"
# A run starts over, identities too (fl-mask never overwrites one).
rm -rf round shards ids enrolment.flt
mkdir -p round shards

# A number in [0, 1) per (seed, round, client, purpose): the simulation's
# own choices (who is sampled, who drops), not privacy noise.
draw() {
	awk -v s="$SEED:$1" -v n="$2" 'BEGIN {
		h = 0
		for (i = 1; i <= length(s); i++)
			h = (h * 31 + index("0123456789abcdefghijklmnopqrstuvwxyz:.-_", substr(s, i, 1))) % 2147483647
		srand(h)
		for (i = 0; i < n; i++) printf "%d %.6f\n", i, rand()
	}'
}

# ---- data ----
split_clients() {
	if [ "$IID" = 1 ]; then
		fl-split -n "$N" --iid --seed "$SEED" -p shards/c "$1"
	else
		fl-split -n "$N" --dirichlet 0.5 --min-size 2 --seed "$SEED" \
		    -p shards/c "$1"
	fi
}
FMNIST=/usr/share/datasets/fashion-mnist
if [ "$SYNTH" = 0 ] && [ -r "$FMNIST/train-images-idx3-ubyte.gz" ]; then
	split_clients "$FMNIST/train-images-idx3-ubyte.gz"
	TEST=$FMNIST/t10k-images-idx3-ubyte.gz
	data="Fashion-MNIST"
else
	# One draw (the class means come from the seed), cut in two equal
	# halves: the clients' data and the test set.
	half=$((N * 20 > 10000 ? N * 20 : 10000))
	fl-split --synthetic $((2 * half)) --features 784 --classes 10 \
	    --seed "$SEED" -n 2 -p part
	split_clients part0.flt
	TEST=part1.flt
	data="synthetic data"
fi
# fl-split pads the client number to the width of N - 1.
W=$((N - 1))
W=${#W}

fl-init -a "$ARCH" --seed "$SEED" -o global.flt
rm -f state.flt budget.ledger tree.flt
q=$(awk -v c="$COHORT" -v n="$N" 'BEGIN { printf "%.8g", c / n }')
if [ "$FTRL" = 1 ]; then
	# The participation pattern the availability order keeps: round t
	# takes the devices at places (t-1) C to t C - 1 (mod N) of the
	# order, so two rounds of one device are at least floor(N / C)
	# apart, and ROUNDS rounds hold at most k of them.
	SEP=$((N / COHORT))
	PARTS=$(((ROUNDS - 1) / SEP + 1))
	# The tree with Honaker's estimator, or banded MF's strategy.
	if [ -n "$BANDS" ]; then
		MECH=(--mechanism banded --bands "$BANDS")
		how="banded MF ($BANDS bands) noise"
	else
		MECH=(--mechanism tree)
		how="tree noise"
	fi
	plan=$(fl-account "${MECH[@]}" --target-epsilon "$EPS" -d "$DELTA" \
	    -T "$ROUNDS" --participations "$PARTS" --separation "$SEP") ||
	    exit 1
	Z=$(echo "$plan" | awk '{ for (i = 1; i < NF; i++)
		if ($i == "noise") print $(i + 1) }')
	RHO=$(echo "$plan" | awk '{ for (i = 1; i < NF; i++)
		if ($i == "rho") print $(i + 1) }')
	# The update is the noised sum over the cohort, a public number.
	ETA=$(awk -v e="$SLR" -v c="$COHORT" 'BEGIN { printf "%.10g", e / c }')
	CLIP=0.5 SHARES=1
	export PARTS SEP
	draw avail "$N" | sort -k2,2 -k1,1n | cut -d' ' -f1 > availability
	echo "# $data: $N clients, cohorts of $COHORT in the order they are" \
	    "available, $ROUNDS rounds: DP-FTRL, each device at most $PARTS" \
	    "times, $SEP rounds apart; $how multiplier $Z: rho $RHO," \
	    "epsilon $EPS at delta $DELTA"
elif [ "$PRIVATE" = 1 ]; then
	SIGMA_B=$(awk -v c="$COHORT" 'BEGIN { print c / 10 }')
	DIM=$(echo "$ARCH" | awk -F'[:-]' '{ n = 0
		for (i = 2; i < NF; i++) n += ($i + 1) * $(i + 1)
		d = 1; while (d < n) d *= 2; print d }')
	# The noise multiplier that spends the budget over the run, solved
	# by the accountant that will charge the rounds (--target-epsilon):
	# the distributed discrete Gaussian, of which the accountant does not
	# count the 5% of shares assumed colluding (noise in units of the
	# sensitivity, so 1e6 grid units stand for any), with adaptive
	# clipping's indicator.  The noise is split into SHARES shares, the
	# survivors that a round reaches with probability 0.99 (--dropout:
	# of the population's Poisson sample, a sampled client dropping
	# before masking in two of the three stages); a round with fewer is
	# aborted before the sum is unmasked, so each round charged costs at
	# most the plan's share and the ROUNDS rounds fit the budget.
	plan=$(fl-account -m discrete-gaussian --target-epsilon "$EPS" \
	    --dropout "$(awk -v p="$DROP" 'BEGIN { printf "%.10g", 2 * p / 3 }')" \
	    -N "$N" --sensitivity 1e6 --dim "$DIM" -q "$q" -T "$ROUNDS" \
	    -d "$DELTA" --indicator-noise "$SIGMA_B") || exit 1
	Z=$(echo "$plan" | awk '{ for (i = 1; i < NF; i++)
		if ($i == "noise") print $(i + 1) }')
	SHARES=$(echo "$plan" | awk '{ for (i = 1; i < NF; i++)
		if ($i == "shares") print $(i + 1) }')
	# The mean divides by the expected survivors, a public number (the
	# fixed-denominator estimator).
	SURV=$(awk -v c="$COHORT" -v p="$DROP" 'BEGIN {
		s = int(c * (1 - 2 * p / 3)); print (s < 1 ? 1 : s) }')
	export SHARES
	CLIP=0.5
	echo "# $data: $N clients, cohort ~$COHORT (q=$q), $ROUNDS rounds," \
	    "noise multiplier $Z for epsilon $EPS at delta $DELTA"
else
	echo "# $data: $N clients, cohort ~$COHORT (q=$q), $ROUNDS rounds," \
	    "no privacy"
fi
printf 'round\taccuracy\tsampled\tsurvivors\tdropped\tepsilon\tclip\n' \
    > results.tsv
printf '%5s %8s %7s %9s %7s %7s %7s\n' round accuracy sampled survivors \
    dropped epsilon clip

# ---- a device's steps of a round (run in parallel) ----
# batch FUNCTION [SIZE]: FUNCTION I1 I2... once per batch of up to SIZE
# client numbers from standard input, JOBS batches at a time: for the
# programs that take several devices' files in one call, each device's
# output as if it ran alone; fails if any call fails.  By default the
# devices are cut into JOBS equal batches: a process costs more than a
# device's step, and one process checks the signatures that all its
# devices see once (bench/RESULTS-22.md).
batch() {
	local ids size
	ids=$(cat)
	[ -n "$ids" ] || return 0
	size=${2:-$((($(wc -w <<< "$ids") + JOBS - 1) / JOBS))}
	printf '%s\n' "$ids" | xargs -r -P "$JOBS" -n "$size" bash -c \
	    'set -o pipefail; "$0" "$@"' "$1"
}
# The identities of devices I1 I2... in one call, their public records to
# ids/cI1.idpub in order (each as the device's own call would write it).
identity() {
	local i a=()
	for i; do a+=(--client "c$i" -i "ids/c$i.id"); done
	fl-mask --make-identity "${a[@]}" --operator ids/op.pub \
	    -o "ids/c$1.idpub"
}
# The devices' steps, for a batch of devices I1 I2... in one fl-mask
# call each (every device's record as its own call would write it, in a
# file named after the first): the round's keys, signed by the device's
# identity.
keygen() {
	local i a=()
	for i; do a+=(-k "round/c$i.key" -i "ids/c$i.id"); done
	fl-mask --keygen --round "$MR" "${a[@]}" -o "round/c$1.pub"
}
# A client checks the roster against the enrolment and its own policy,
# which must be the server's: the same --dropout (and the default
# --corrupt), and a floor on the clients.
share() {
	local i a=()
	for i; do a+=(-k "round/c$i.key"); done
	fl-mask --share "${a[@]}" -r round/roster.flt \
	    -e enrolment.flt --dropout "$TOLERATE" --min-clients "$MINC" \
	    -o "round/c$1.shares"
}
confirm() {
	local i a=()
	for i; do a+=(-k "round/c$i.key" -i "ids/c$i.id"); done
	fl-mask --confirm round/survivors "${a[@]}" \
	    -r round/roster.flt -s round/shares.flt -o "round/c$1.confirm"
}
reveal() {
	local i a=()
	for i; do a+=(-k "round/c$i.key"); done
	fl-mask --reveal round/survivors "${a[@]}" \
	    -r round/roster.flt -s round/shares.flt \
	    --confirmations round/confirms.flt -o "round/c$1.reveal"
}
forget() {
	local i a=()
	for i; do a+=(-k "round/c$i.key"); done
	fl-mask --forget "${a[@]}"
}
# Train, clip, encode, add each client's share of the noise, mask: for a
# batch of clients at once, one process per program (fl-train --each
# trains each client's shard apart; the filters take each record apart,
# each with its own noise; fl-mask masks the n-th update with the n-th
# key file), each client's record the same as its own pipeline's.  The
# batch's masked records go to round/mI.flt, I its first client.
clients() {
	local i d=round f shards=() keys=()
	for i; do
		printf -v f 'shards/c%0*d.flt' "$W" "$i"
		shards+=("$f")
		keys+=(-k "$d/c$i.key")
	done
	if [ "$PRIVATE" = 0 ]; then
		fl-train -q -m global.flt -e "$EPOCHS" -b "$BATCH" --lr "$LR" \
		    --each "${shards[@]}" -o "$d/u$1.flt"
		return
	fi
	if [ "$FTRL" = 1 ]; then
		# No noise on the device: the server's tree adds it.  Each
		# device keeps its own record of the rounds it took part in.
		local parts=()
		for i; do parts+=(--participation "ids/c$i.part"); done
		fl-train -q -m global.flt -e "$EPOCHS" -b "$BATCH" --lr "$LR" \
		    --each "${shards[@]}" |
		    fl-clip-noise -c "$CLIP" "${parts[@]}" \
			--participations "$PARTS" --separation "$SEP" |
		    fl-quantize --ring 32 --clients "$COHORT" \
			--rotation-seed "round-$t" |
		    fl-mask "${keys[@]}" -r "$d/roster.flt" -s "$d/shares.flt" \
			-o "$d/m$1.flt"
		return
	fi
	fl-train -q -m global.flt -e "$EPOCHS" -b "$BATCH" --lr "$LR" \
	    --each "${shards[@]}" |
	    fl-clip-noise -c "$CLIP" --indicator |
	    fl-quantize --ring 32 --clients "$COHORT" --noise "$Z" \
		--rotation-seed "round-$t" |
	    fl-clip-noise --noise "$Z" --shares "$SHARES" \
		-m discrete-gaussian --indicator-noise "$SIGMA_B" |
	    fl-mask "${keys[@]}" -r "$d/roster.flt" -s "$d/shares.flt" \
		-o "$d/m$1.flt"
}
export -f clients identity keygen share confirm reveal forget
export PRIVATE EPOCHS BATCH LR CLIP Z COHORT SIGMA_B W MINC FTRL

# threshold ROSTER: t, the shares that rebuild a secret.
threshold() {
	fl-inspect "$1" | sed -n 's/^  secagg\.t=//p'
}
# quorum ROSTER: the survivors a round needs, fl-mask's rule: at least
# the threshold t, and a majority of the n clients counting the C corrupt
# ones twice (then no two survivor lists can both be confirmed).
quorum() {
	fl-inspect "$1" | sed -n 's/^  secagg\.quorum=//p'
}
# end_round: the round is over, however it ended: every sampled client
# overwrites and removes its key file.
end_round() {
	cut -d' ' -f1 round/stage | batch forget
}
# aborted WHY: the round ends without a model; false when the run must
# stop there: a DP-FTRL round is not retried with other devices, whose
# places in the availability order would break the declared separation
# (a deployment would release the tree's next round on an empty sum).
aborted() {
	end_round
	echo "round $t aborted ($1): the model stays" >&2
	if [ "$FTRL" = 1 ]; then
		echo "round $t: DP-FTRL keeps to its schedule; stopping" >&2
		return 1
	fi
}

if [ "$PRIVATE" = 1 ]; then
	# Identities, once per run (a device keeps its own for every
	# round): the operator's, then every device's, trusting only the
	# operator's key; the operator signs the enrolment, the list of
	# devices a roster may name.  The secrets (.id) are 0600.
	mkdir ids
	fl-mask --make-identity --client op -i ids/op.id -o ids/op.pub
	# (Made once, by batches of 256: a process costs more than an
	# identity.)
	seq 0 $((N - 1)) | batch identity 256
	seq 0 256 $((N - 1)) | sed 's|.*|ids/c&.idpub|' | xargs cat |
	    fl-mask --make-enrolment -i ids/op.id -o enrolment.flt
	# The roster's graph and threshold tolerate twice the expected
	# dropout, within [0.1, 0.35]: the survivors must stay a majority
	# of the clients counting the 5% corrupt ones twice, which 35%
	# allows for any roster of 10 clients or more.
	TOLERATE=$(awk -v p="$DROP" \
	    'BEGIN { p *= 2; print (p < 0.1) ? 0.1 : (p > 0.35) ? 0.35 : p }')
	export TOLERATE
fi

eps=0
for t in $(seq 1 "$ROUNDS"); do
	rm -rf round
	mkdir round
	export t CLIP
	# The cohort: Poisson sampling from the OS's CSPRNG, which the ledger
	# is told (--cohort); then for each sampled client whether and when
	# it drops: 1 before sharing, 2 before sending its masked update, 3
	# during the unmask request (after confirming the survivors).
	# (The round is the model's, which the updates and the sum carry.)
	MR=$(fl-inspect -g round global.flt)
	export MR
	if [ "$FTRL" = 1 ]; then
		# Whoever is available next: no coin, nothing to charge for.
		awk -v t="$t" -v c="$COHORT" -v n="$N" '
		    { a[NR - 1] = $1 }
		    END { for (j = 0; j < c; j++) print a[((t - 1) * c + j) % n] }' \
		    availability | sort -n > round/sampled
		notprivate=
	elif [ "$SEEDED" = 1 ]; then
		fl-account --sample -q "$q" -N "$N" --round "$MR" \
		    --seed "$SEED:cohort$t" -o round/cohort.flt 2> /dev/null
		notprivate=--not-private
	else
		fl-account --sample -q "$q" -N "$N" --round "$MR" \
		    -o round/cohort.flt
		notprivate=
	fi
	[ "$FTRL" = 1 ] || fl-inspect -d clients round/cohort.flt > round/sampled
	draw "drop$t" "$N" | awk -v p="$DROP" 'NR == FNR { s[$1]; next }
	    ($1 in s) { st = ($2 < p) ? 1 + int(3 * $2 / p) : 0
		print $1, (st > 3 ? 3 : st) }' round/sampled - > round/stage
	sampled=$(wc -l < round/sampled)
	if [ "$PRIVATE" = 0 ]; then
		cut -d' ' -f1 round/stage | batch clients
		fl-aggregate round/u*.flt > round/agg.flt
		fl-apply -m global.flt -s state.flt --optimizer avgm \
		    --server-lr "$SLR" -o global.flt round/agg.flt
		survivors=$sampled
	else
		# Keys for the sampled clients, signed by their identities;
		# the roster of enrolled clients; then the shares of those
		# that did not drop before sharing.
		cut -d' ' -f1 round/stage | batch keygen
		if [ "$sampled" -lt "$MINC" ] || [ "$sampled" -lt "$SHARES" ] ||
		    ! cat round/c*.pub | fl-mask --make-roster -e enrolment.flt \
			--dropout "$TOLERATE" -o round/roster.flt; then
			aborted "$sampled keys" && continue
			break
		fi
		awk '$2 != 1 { print $1 }' round/stage | batch share
		# Fewer shared than the threshold: no client could mask.
		shared=$(awk '$2 != 1' round/stage | wc -l)
		if [ "$shared" -lt "$(threshold round/roster.flt)" ]; then
			aborted "$shared shared" && continue
			break
		fi
		cat round/c*.shares > round/shares.flt
		awk '$2 == 0 || $2 == 3 { print $1 }' round/stage | batch clients
		awk '$2 == 0 || $2 == 3 { print "c" $1 }' round/stage \
		    > round/survivors
		survivors=$(wc -l < round/survivors)
		# Too few survivors for the consistency round (the clients
		# would refuse to confirm), or fewer noise shares than the plan
		# (the sum would carry less noise): the server gives up at once.
		if [ "$survivors" -lt "$(quorum round/roster.flt)" ] ||
		    [ "$survivors" -lt "$SHARES" ]; then
			aborted "$survivors survivors" && continue
			break
		fi
		# The consistency round: the survivors sign the survivor list;
		# the server forwards the signatures to all of them, and each
		# reveals only for the list a quorum confirmed.
		awk '$2 == 0 || $2 == 3 { print $1 }' round/stage | batch confirm
		cat round/c*.confirm > round/confirms.flt
		awk '$2 == 0 { print $1 }' round/stage | batch reveal
		cat round/c*.reveal > round/reveals.flt 2> /dev/null || true
		# Too few reveals (below the threshold t): the round aborts.
		if ! fl-aggregate --roster round/roster.flt \
		    --shares round/shares.flt --reveals round/reveals.flt \
		    -o round/sum.flt round/m*.flt
		then
			aborted "too few reveals" && continue
			break
		fi
		end_round
		if [ "$FTRL" = 1 ]; then
			# The tree's noise on the decoded sum: the new model is
			# the release, charged to the ledger before it is used.
			# Momentum acts on the noised sums, after the noise.
			init=()
			[ -e tree.flt ] || init=(--ftrl-init --noise "$Z" \
			    --clip "$CLIP" --rounds "$ROUNDS" --participations \
			    "$PARTS" --separation "$SEP" "${MECH[@]}")
			[ -e tree.flt ] || [ -n "$BANDS" ] ||
			    init+=(--estimator honaker)
			fl-quantize -d round/sum.flt |
			    fl-apply -m global.flt --ftrl tree.flt "${init[@]}" \
				-s state.flt --optimizer avgm \
				--server-lr "$ETA" -o round/next.flt
			# (-a exact: the tree's releases compose into one
			# Gaussian mechanism, whose exact epsilon the plan
			# used; a round that completes no new node charges
			# nothing, which fl-account says on stderr.)
			if ! out=$(fl-account -l budget.ledger -a exact -s \
			    -B "$EPS" -d "$DELTA" round/next.flt \
			    2> round/account.err); then
				cat round/account.err >&2
				echo "round $t: the privacy budget is spent;" \
				    "stopping" >&2
				break
			fi
			eps=$(echo "$out" | awk '{ for (i = 1; i < NF; i++)
				if ($i == "epsilon") e = $(i + 1) } END { print e }')
			mv round/next.flt global.flt
		else
			# Charge the release as it happened (the survivors' noise)
			# before using it.  The ledger is the gate: a release that
			# would take epsilon over the budget is refused (exit 3), the
			# sum is discarded and training stops.
			if ! out=$(fl-account -l budget.ledger -s -B "$EPS" \
			    -d "$DELTA" ${notprivate:+"$notprivate"} \
			    --cohort round/cohort.flt round/sum.flt); then
				rm -f round/sum.flt
				echo "round $t: the privacy budget is spent; stopping" >&2
				break
			fi
			eps=$(echo "$out" | awk '{ for (i = 1; i < NF; i++)
				if ($i == "epsilon") e = $(i + 1) } END { print e }')
			# The mean over the planned survivors, a public number, not
			# over the exact count (the fixed-denominator estimator): the
			# released model then depends on the round's clients only
			# through the noised sum.
			fl-quantize -d --mean="$SURV" round/sum.flt |
			    fl-clip-noise --adapt --indicator-noise "$SIGMA_B" \
				-o round/mean.flt
			CLIP=$(fl-inspect -g dp.clip-next round/mean.flt)
			fl-apply -m global.flt -s state.flt --optimizer avgm \
			    --server-lr "$SLR" -o global.flt round/mean.flt
		fi
	fi
	acc=$(fl-eval -j "$JOBS" -m global.flt "$TEST" |
	    awk '$1 == "accuracy" { print $2 }')
	dropped=$((sampled - survivors))
	printf '%5d %8.4f %7d %9d %7d %7s %7.4g\n' "$t" "$acc" "$sampled" \
	    "$survivors" "$dropped" "$eps" "${CLIP:-0}"
	printf '%d\t%s\t%d\t%d\t%d\t%s\t%s\n' "$t" "$acc" "$sampled" \
	    "$survivors" "$dropped" "$eps" "${CLIP:-0}" >> results.tsv
done

# (Not for a run whose every round aborted: nothing to plot.)
if command -v gnuplot > /dev/null && [ "$(wc -l < results.tsv)" -gt 1 ]; then
	gnuplot <<EOF
set terminal pngcairo size 800,480
set output 'results.png'
set xlabel 'round'
set ylabel 'test accuracy'
set y2label 'epsilon'
set ytics nomirror
set y2tics
set key bottom right
plot 'results.tsv' using 1:2 skip 1 with lines lw 2 title 'accuracy', \
     '' using 1:6 skip 1 axes x1y2 with lines lw 2 title 'epsilon'
EOF
fi
if [ -n "$RESULTS" ]; then
	for f in results.tsv results.png global.flt budget.ledger; do
		[ ! -e "$f" ] || cp "$f" "$RESULTS/"
	done
	DIR=$RESULTS
fi
echo "# results: $DIR/results.tsv"
