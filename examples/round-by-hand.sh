#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
#
# One round of private federated learning, by hand: 4 clients, distributed
# differential privacy (each client adds a share of the noise) and secure
# aggregation that holds against a lying server (the server only sees the
# sum), every program called once per step, and after every step the files
# it made, as fl-inspect shows them.
# Read it top to bottom next to its output:
#
#   examples/round-by-hand.sh [-d DIR] [--fmnist] [--drop N] [-q]
#
# Everything random takes a --seed, so the output is reproducible (and NOT
# private: anyone who knows a seed can recompute the identities, the keys
# and the noise; a real deployment leaves out every --seed).  See
# examples/cron/ for the same round split between devices and a server,
# and examples/simulate.sh for many rounds of many clients.
set -euo pipefail

prog=${0##*/}
usage() {
	cat <<EOF
usage: $prog [-d DIR] [--fmnist] [--drop N] [-q]

  -d DIR     work in DIR and keep the files there (default: a temporary
             directory, removed at the end)
  --fmnist   train on Fashion-MNIST (/usr/share/datasets/fashion-mnist)
             instead of 400 synthetic examples
  --drop N   client N (0 to 3) shares its keys and then drops: its masked
             update never arrives, and the survivors confirm that and
             reveal what the server needs to remove its masks
  -q         print only the summary lines (the last three)

Environment: FL_BIN, if set, is put first on PATH.
EOF
}

dir='' fmnist=0 drop='' quiet=0
while [ $# -gt 0 ]; do
	case $1 in
	-d) [ $# -ge 2 ] || { usage >&2; exit 2; }; dir=$2; shift ;;
	--fmnist) fmnist=1 ;;
	--drop) [ $# -ge 2 ] || { usage >&2; exit 2; }; drop=$2; shift ;;
	-q) quiet=1 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
case $drop in
'' | [0-3]) ;;
*) echo "$prog: --drop: need a client number 0 to 3" >&2; exit 2 ;;
esac
if [ -n "${FL_BIN:-}" ]; then
	PATH=$FL_BIN:$PATH
	export PATH
fi
if [ -z "$dir" ]; then
	dir=$(mktemp -d "${TMPDIR:-/tmp}/round-by-hand.XXXXXX")
	trap 'rm -rf "$dir"' EXIT
	trap 'exit 1' INT TERM
fi
mkdir -p "$dir"
cd "$dir"
# A run in DIR starts over, identities and enrolment too: the key files
# would be refused (fl-mask never overwrites an identity or a key file,
# since the public keys already sent would no longer match it) and the
# ledger would already hold this round.
rm -rf data keys operator server client-*.flt budget.ledger ./*.idpub \
    ./*.pub ./*.shares ./*.masked ./*.confirm ./*.reveal
mkdir data keys operator server

# say TEXT: a step's title.  show FILE...: what fl-inspect says of the
# files, indented.  Both print nothing with -q.
say() {
	[ "$quiet" = 1 ] || printf '\n### %s\n' "$*"
}
show() {
	[ "$quiet" = 1 ] || fl-inspect "$@" | sed 's/^/    /'
}
# meta FILE KEY...: one line "FILE: KEY=VALUE ..." (the keys that matter).
meta() {
	local f=$1 k line=''
	shift
	for k in "$@"; do
		line="$line $k=$(fl-inspect -g "$k" "$f")"
	done
	[ "$quiet" = 1 ] || echo "    $f:$line"
}

# ---- the parameters of the round ----
N=4          # clients in the round (the cohort)
CLIP=1       # L2 clip bound C of one client's update
Z=1          # noise multiplier: the summed noise has std Z x C
S=2          # std of the noise on the summed clip indicator (adaptive
             # clipping); must be above Z (fl-clip-noise(1))
BITS=32      # the ring Z_2^32 in which updates are summed
Q=0.01       # sampling rate: these 4 were drawn from a population of 400
BUDGET=10    # the epsilon the ledger allows in total
SEED=hand    # the root of every seed below
clients="0 1 2 3"

# ---- the data: one shard per client, and a test set for the server ----
say "data: fl-split makes one data set record per client"
if [ "$fmnist" = 1 ]; then
	FMNIST=/usr/share/datasets/fashion-mnist
	[ -r "$FMNIST/train-images-idx3-ubyte.gz" ] || {
		echo "$prog: $FMNIST: Fashion-MNIST is not installed" >&2
		exit 1
	}
	# 60000 training images cut into 4 IID shards of 15000 (u8 pixels;
	# fl-train scales them by 1/255); the 10000 test images for fl-eval.
	fl-split -n "$N" --seed "$SEED" -p data/c \
	    "$FMNIST/train-images-idx3-ubyte.gz"
	test_set=$FMNIST/t10k-images-idx3-ubyte.gz
else
	# Gaussian blobs in 784 dimensions, 10 classes: 1400 examples, cut
	# into 14 IID parts of 100; parts 0 to 3 are the clients' shards
	# (like "fl-split --synthetic 400 -n 4 -p data/c", but the class
	# means of synthetic data come from the seed, so the test set must
	# come from the same draw), and the other 1000 the server's test set.
	fl-split --synthetic 1400 --features 784 --classes 10 -n 1 \
	    --seed "$SEED" -o data/all.flt
	fl-split -n 14 --seed "$SEED" -p data/part data/all.flt
	for i in $clients; do
		mv "data/part0$i.flt" "data/c$i.flt"
	done
	cat data/part*.flt > data/test.flt
	rm data/all.flt data/part*.flt
	test_set=data/test.flt
fi
show data/c0.flt

# ---- the server starts: a global model, round 0 ----
say "fl-init: the global model (kind=model, round=0)"
# Softmax regression, 784 inputs and 10 classes; --seed fixes the weights.
fl-init -a logreg:784-10 --seed "$SEED" -o server/global.flt
show server/global.flt
round=$(fl-inspect -g round server/global.flt)
acc0=$(fl-eval -m server/global.flt "$test_set" |
    awk '$1 == "accuracy" { print $2 }')

# ---- once, before any round: identities and the enrolment ----
say "fl-mask --make-identity: each device's long-term identity, made once"
# The operator's identity signs the enrolment.  A device's identity
# (secret, 0600, kept on the device for every round) signs its round
# keys; it trusts only the operator's public key, given at setup.
fl-mask --make-identity --client op -i operator/op.id --seed "$SEED" \
    -o operator/op.pub
for i in $clients; do
	fl-mask --make-identity --client "c$i" -i "keys/c$i.id" \
	    --operator operator/op.pub --seed "$SEED" -o "c$i.idpub"
done
show c0.idpub
say "fl-mask --make-enrolment: the operator signs the devices allowed in"
# The server cannot add devices of its own to a roster: every client
# checks the roster against this list.
cat c?.idpub | fl-mask --make-enrolment -i operator/op.id \
    -o server/enrolment.flt
show server/enrolment.flt

# ---- secure aggregation, step 1: keys ----
say "fl-mask --keygen: each client's key file (secret, 0600) and public keys"
for i in $clients; do
	# A key file is for one round only: --round is the model's round.
	# The public keys are signed by the identity.  The .key stays on
	# the device; the .pub goes to the server.
	fl-mask --keygen --round "$round" -k "keys/c$i.key" -i "keys/c$i.id" \
	    --seed "$SEED" -o "c$i.pub"
done
show c0.pub
[ "$quiet" = 1 ] || echo "    keys/c0.key: mode $(stat -c %A keys/c0.key)," \
    "kind=$(fl-inspect -g kind keys/c0.key) (never leaves the device)"

# ---- step 2: the roster ----
say "fl-mask --make-roster: the server fixes the clients, graph and threshold"
# The roster is a secagg-roster record (n, the neighbours k, the threshold
# t, the corrupt clients C it allows for, the session hash) followed by
# every client's public keys, each checked against the enrolment.  With 4
# clients the graph is full (k = 3); the defaults allow for one dropout
# and one corrupt client (C = 1), so t = 3 (2t > k + 1 + C): any 3
# survivors can unmask, and 3 are also the quorum of the consistency round.
cat c?.pub | fl-mask --make-roster -e server/enrolment.flt \
    -o server/roster.flt
[ "$quiet" = 1 ] || fl-inspect server/roster.flt |
    sed -n '1,/record 2:/p' | sed '$d; s/^/    /'
[ "$quiet" = 1 ] || echo "    ... and the 4 public-key records, sorted by client"

# ---- step 3: the shares ----
say "fl-mask --share: Shamir shares of each client's secrets, sealed"
for i in $clients; do
	# Each client first checks the roster: every client enrolled, and
	# the graph and threshold those of its own policy (here the same
	# defaults as the server's), with at least --min-clients clients
	# (10 by default; this round has 4).  Then one envelope per holder
	# (its neighbours and itself), encrypted to the holder's box key:
	# the server relays them but cannot open them.  The key file is now
	# bound to this roster: a second roster would be refused.
	fl-mask --share -k "keys/c$i.key" -r server/roster.flt \
	    -e server/enrolment.flt --min-clients "$N" -o "c$i.shares"
done
show c0.shares
# The server concatenates every envelope record into one file and sends it
# to every client; all must mask with the same file.
cat c?.shares > server/shares.flt

# ---- each client's pipeline: train, clip, encode, noise, mask ----
say "each client: fl-train | fl-clip-noise | fl-quantize | fl-clip-noise | fl-mask"
for i in $clients; do
	if [ "$i" = "$drop" ]; then
		[ "$quiet" = 1 ] || echo "    c$i: dropped (no masked update)"
		continue
	fi
	# fl-train: one epoch of SGD on the local shard; the update is the
	#   trained weights minus the global ones, weight = examples.
	# fl-clip-noise --clip: scale the update to L2 norm <= CLIP, and add
	#   clip.indicator (1 if it was already within the bound); it drops
	#   weight and loss, which depend on the data and would travel in
	#   clear beside the masked values (fl-mask refuses them).
	# fl-quantize --ring: rotate (Hadamard, seeded by the round), scale
	#   and round to integers mod 2^32 so that sums wrap exactly; --noise
	#   lets it size the scale for the noise to come.
	# fl-clip-noise --shares: this client's share (1/4 of the variance)
	#   of the discrete Gaussian noise; the 4 shares sum to std Z x C.
	# fl-mask: add the pairwise and self masks; alone, the record looks
	#   uniformly random.  Once per key file: the same input again
	#   gives the same bytes, another one is refused.
	# tee keeps each stage for the reader; a device would not.
	fl-train -q -m server/global.flt --seed "$SEED-$i" --client "c$i" \
	    "data/c$i.flt" |
	    tee "client-$i-update.flt" |
	    fl-clip-noise --clip "$CLIP" --indicator |
	    tee "client-$i-clipped.flt" |
	    fl-quantize --ring "$BITS" --clients "$N" --noise "$Z" \
		--seed "$SEED-$i" |
	    tee "client-$i-ring.flt" |
	    fl-clip-noise --noise "$Z" --shares "$N" -m discrete-gaussian \
		--indicator-noise "$S" --seed "$SEED-$i" |
	    tee "client-$i-noised.flt" |
	    fl-mask -k "keys/c$i.key" -r server/roster.flt \
		-s server/shares.flt -o "c$i.masked"
done
first=0
[ "$drop" = 0 ] && first=1
say "c$first: the update from fl-train (float, weight = its examples)"
show "client-$first-update.flt"
say "c$first: clipped (dp.clip, the clip.indicator tensor; no weight or loss)"
show "client-$first-clipped.flt"
say "c$first: ring-encoded (u32 mod 2^32, q.* to decode, q.pad from the rotation)"
show "client-$first-ring.flt"
say "c$first: with its noise share (dp.* for the accountant)"
show "client-$first-noised.flt"
say "c$first: masked (mask=secagg, the session and the set of clients that shared)"
show "c$first.masked"

# ---- step 5: the consistency round ----
say "fl-mask --confirm: the survivors sign the list of survivors"
# The server lists the clients whose masked record arrived.
for i in $clients; do
	[ -e "c$i.masked" ] && echo "c$i"
done > server/survivors
[ "$quiet" = 1 ] || sed 's/^/    survivor /' server/survivors
# Each survivor signs the list with its identity, once per round (the
# list's hash goes into the key file, secagg.confirmed: another list is
# refused).  A server that told some clients that c2 dropped and others
# that it survived could unmask c2's update; the signatures show every
# survivor the list the others saw.
mapfile -t survivors < server/survivors
for c in "${survivors[@]}"; do
	fl-mask --confirm server/survivors -k "keys/$c.key" -i "keys/$c.id" \
	    -r server/roster.flt -s server/shares.flt -o "$c.confirm"
done
show "c$first.confirm"
meta "keys/c$first.key" client round secagg.confirmed
# The server forwards every confirmation to every survivor.
sed 's/$/.confirm/' server/survivors | xargs cat > server/confirms.flt

# ---- step 6: the unmask request ----
say "fl-mask --reveal: the survivors answer the server's unmask request"
# Each survivor answers only for the list it confirmed, and only if a
# quorum of survivors (here 3) confirmed that same list: shares of the
# survivors' self-mask secrets and of the dropped clients' mask keys,
# never both for one client.
for c in "${survivors[@]}"; do
	fl-mask --reveal server/survivors -k "keys/$c.key" -r server/roster.flt \
	    -s server/shares.flt --confirmations server/confirms.flt \
	    -o "$c.reveal"
done
show "c$first.reveal"
sed 's/$/.reveal/' server/survivors | xargs cat > server/reveals.flt

# ---- the server: unmask, decode, adapt the clip, apply ----
say "fl-aggregate --roster --shares --reveals: the survivors' plain modular sum"
# Only the sum is unmasked: kind=aggregate, agg=sum, clients=survivors
# (fl-aggregate counts the masked records itself).  The shares file holds
# the clients' commitments, which tell a wrong revealed share from a
# right one.
sed 's/$/.masked/' server/survivors |
    xargs fl-aggregate --roster server/roster.flt \
	--shares server/shares.flt --reveals server/reveals.flt \
	-o server/sum.flt
show server/sum.flt

# ---- the round is over: the clients forget their keys ----
say "fl-mask --forget: every client overwrites and removes its key file"
# The dropped client too, once it learns that the round is over.  Only
# the long-term identities stay on the devices.
for i in $clients; do
	fl-mask --forget -k "keys/c$i.key"
done
[ "$quiet" = 1 ] || echo "    keys/: $(cd keys && echo *)"

say "fl-quantize -d --mean: decoded to floats, divided by the clients"
fl-quantize -d --mean server/sum.flt -o server/mean.flt
show server/mean.flt

say "fl-clip-noise --adapt: the noised fraction within the clip, the next clip"
# The server noises the summed indicator (std S) and moves the clip bound
# towards the median norm: dp.clip-next is the clip for the next round.
fl-clip-noise --adapt --indicator-noise "$S" --seed "$SEED" \
    server/mean.flt -o server/adapted.flt
meta server/adapted.flt dp.clip dp.clip-fraction dp.clip-next

# ---- the ledger is the gate: charge the release before using it ----
say "fl-account --ledger --spend: charge the release (exit 3 if over budget)"
# The accountant reads dp.* of the sum: the discrete Gaussian noise of the
# survivors actually summed (fewer survivors, less noise, more epsilon).
# This round's noise came from --seed, which anyone can replay: the ledger
# takes it only as --not-private (a real round has no seed, and no flag).
# A dropout leaves 3 of the 4 planned noise shares in the sum: less noise
# than planned, which the ledger charges only when told to (--force); a
# server would rather plan its shares for the survivors it expects
# (fl-account --dropout) and abort a round with fewer.
fl-account -l server/budget.ledger -s --not-private ${drop:+--force} \
    -B "$BUDGET" -q "$Q" server/sum.flt 2>/dev/null | sed 's/^/    /' |
    { if [ "$quiet" = 1 ]; then cat > /dev/null; else cat; fi; }
[ "$quiet" = 1 ] || fl-account -l server/budget.ledger | sed 's/^/    /'

say "fl-apply: the new global model (round + 1)"
fl-apply -m server/global.flt -o server/global.flt server/adapted.flt
show server/global.flt

say "fl-eval: the new model on the test set"
[ "$quiet" = 1 ] || fl-eval -m server/global.flt "$test_set" |
    sed -n '1,3p' | sed 's/^/    /'
acc1=$(fl-eval -m server/global.flt "$test_set" |
    awk '$1 == "accuracy" { print $2 }')
eps=$(fl-account -l server/budget.ledger | tail -n 1 | cut -d' ' -f2)

[ "$quiet" = 1 ] || echo
echo "round $round -> $(fl-inspect -g round server/global.flt):" \
    "$(wc -l < server/survivors) of $N clients survived"
echo "accuracy $acc0 -> $acc1"
echo "epsilon $eps of $BUDGET spent (delta 1e-05)"
