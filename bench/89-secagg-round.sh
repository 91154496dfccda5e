#!/bin/sh
# The secure-aggregation stages of a demo round, with device identities and
# the consistency round (this tree) and without them (commit 8dee25b, the
# last before them, built here from the git history), side by side on the
# same machine in the same run: n = 150 clients (the demo's cohort), the
# demo's update (mlp:784-64-10, 50890 parameters, ring-encoded to 65536
# u32 words), the same graph for both (k = 36, t = 23: this tree's rule at
# 5% corrupt and 10% dropout), 4 clients dropping before sharing, 4 before
# masking, 2 during the unmask request.  The stages run as the demo runs
# them: one client after another, masking on two at a time.  Identities
# and the enrolment are made once per deployment, not per round: outside
# the clock.
set -eu
. bench/lib.sh

base=8dee25b
old=$WORK/old-$base
build_base "$base"
n=150 d=65536 runs=${BENCH_ROUND_RUNS:-3}
sr=$WORK/secagg-round
rm -rf "$sr"
mkdir -p "$sr"
"$WORK/mask" update "$sr/update.flt" "$d" 7 2> /dev/null ||
    { ${CC:-cc} -O2 -std=c11 -D_DEFAULT_SOURCE -Ilib -o "$WORK/mask" \
	bench/mask.c lib/libfl.a -lsodium -lz -lm -pthread &&
      "$WORK/mask" update "$sr/update.flt" "$d" 7; }
ids=$(seq -f 'c%03g' 1 $n)
# Who drops when: before sharing, before masking, during the reveal.
echo "$ids" | sed -n '11,14p' > "$sr/drop1"
echo "$ids" | sed -n '21,24p' > "$sr/drop2"
echo "$ids" | sed -n '31,32p' > "$sr/drop3"
echo "$ids" | grep -vxF -f "$sr/drop1" > "$sr/sharing"
grep -vxF -f "$sr/drop2" "$sr/sharing" > "$sr/survivors"
grep -vxF -f "$sr/drop3" "$sr/survivors" > "$sr/answering"
graph="--degree=36 --threshold=23"

# The new protocol's long-term part, once.
B=$FL_BIN
mkdir -p "$sr/ids"
"$B/fl-mask" --make-identity --client=op -i "$sr/ids/op.id" --seed=b \
    -o "$sr/ids/op.pub"
for c in $ids; do
	"$B/fl-mask" --make-identity --client="$c" -i "$sr/ids/$c.id" \
	    --operator="$sr/ids/op.pub" --seed=b
done > "$sr/ids/all.pub"
"$B/fl-mask" --make-enrolment -i "$sr/ids/op.id" -o "$sr/enrolment.flt" \
    "$sr/ids/all.pub"

now() { date +%s.%N; }
# stage NAME T0 T1: accumulate seconds per stage into $sr/NAME.
stage() { awk -v a="$2" -v b="$3" 'BEGIN { printf "%.6f\n", b - a }' >> "$sr/$1"; }

# One round with the programs of BIN, the protocol of PROTO (old or new).
round() {
	bin=$1 proto=$2 w=$sr/$proto
	rm -rf "$w"
	mkdir -p "$w"
	t0=$(now)
	for c in $ids; do
		if [ "$proto" = old ]; then
			"$bin/fl-mask" --keygen --client="$c" --round=1 \
			    -k "$w/$c.key" -o "$w/$c.pub"
		else
			"$bin/fl-mask" --keygen --round=1 -k "$w/$c.key" \
			    -i "$sr/ids/$c.id" -o "$w/$c.pub"
		fi
	done
	if [ "$proto" = old ]; then
		# shellcheck disable=SC2086
		cat "$w"/c*.pub | "$bin/fl-mask" --make-roster $graph \
		    -o "$w/roster.flt"
	else
		# shellcheck disable=SC2086
		cat "$w"/c*.pub | "$bin/fl-mask" --make-roster \
		    -e "$sr/enrolment.flt" $graph -o "$w/roster.flt"
	fi
	t1=$(now)
	while read -r c; do
		if [ "$proto" = old ]; then
			"$bin/fl-mask" --share -k "$w/$c.key" -r "$w/roster.flt" \
			    -o "$w/$c.shares"
		else
			# shellcheck disable=SC2086
			"$bin/fl-mask" --share -k "$w/$c.key" -r "$w/roster.flt" \
			    -e "$sr/enrolment.flt" $graph -o "$w/$c.shares"
		fi
	done < "$sr/sharing"
	cat "$w"/c*.shares > "$w/shares.flt"
	t2=$(now)
	xargs -P 2 -I{} "$bin/fl-mask" -k "$w/{}.key" -r "$w/roster.flt" \
	    -s "$w/shares.flt" -o "$w/{}.masked" "$sr/update.flt" \
	    < "$sr/survivors"
	t3=$(now)
	if [ "$proto" = new ]; then
		while read -r c; do
			"$bin/fl-mask" --confirm="$sr/survivors" -k "$w/$c.key" \
			    -i "$sr/ids/$c.id" -r "$w/roster.flt" \
			    -s "$w/shares.flt" -o "$w/$c.confirm"
		done < "$sr/survivors"
		cat "$w"/c*.confirm > "$w/confirms.flt"
	fi
	t4=$(now)
	while read -r c; do
		if [ "$proto" = old ]; then
			"$bin/fl-mask" --reveal="$sr/survivors" -k "$w/$c.key" \
			    -r "$w/roster.flt" -s "$w/shares.flt" \
			    -o "$w/$c.reveal"
		else
			"$bin/fl-mask" --reveal="$sr/survivors" -k "$w/$c.key" \
			    -r "$w/roster.flt" -s "$w/shares.flt" \
			    --confirmations="$w/confirms.flt" -o "$w/$c.reveal"
		fi
	done < "$sr/answering"
	cat "$w"/c*.reveal > "$w/reveals.flt"
	t5=$(now)
	if [ "$proto" = old ]; then
		"$bin/fl-aggregate" --roster="$w/roster.flt" \
		    --reveals="$w/reveals.flt" -o "$w/sum.flt" "$w"/c*.masked
	else
		"$bin/fl-aggregate" --roster="$w/roster.flt" \
		    --shares="$w/shares.flt" --reveals="$w/reveals.flt" \
		    -o "$w/sum.flt" "$w"/c*.masked
		for c in $ids; do
			[ ! -e "$w/$c.key" ] || "$bin/fl-mask" --forget -k "$w/$c.key"
		done
	fi
	t6=$(now)
	stage "$proto.keys" "$t0" "$t1"
	stage "$proto.share" "$t1" "$t2"
	stage "$proto.mask" "$t2" "$t3"
	stage "$proto.confirm" "$t3" "$t4"
	stage "$proto.reveal" "$t4" "$t5"
	stage "$proto.unmask" "$t5" "$t6"
	stage "$proto.all" "$t0" "$t6"
}

# Interleaved, so that a burst of noise hits both protocols alike.
i=0
while [ "$i" -lt "$runs" ]; do
	round "$old/bin" old
	round "$B" new
	i=$((i + 1))
done
cmp "$sr/old/sum.flt" "$sr/new/sum.flt" > /dev/null 2>&1 ||
    "$PYTHON" - "$sr/old/sum.flt" "$sr/new/sum.flt" <<'PY'
import sys
sys.path.insert(0, "examples/python")
import flt, numpy as np
a, b = (next(flt.read_records(open(p, "rb")))[1]["q"] for p in sys.argv[1:])
if not np.array_equal(a, b):
    sys.exit("89-secagg-round: the two protocols' sums differ")
PY

best() { sort -n "$sr/$1" | head -1; }
msb() { ms "$(best "$1")"; }

echo "## A demo round's secure aggregation, with and without identities and the consistency round"
echo
echo "n = $n clients, the demo's update ($d ring words), k = 36, t = 23 for"
echo "both, 4 clients dropping before sharing, 4 before masking, 2 during"
echo "the unmask request; stages as the demo runs them (one client after"
echo "another, masking two at a time).  Baseline: commit $base, built"
echo "here, the same stages without identities, signatures, the enrolment"
echo "check, the consistency round and --forget.  Best of $runs rounds each,"
echo "interleaved; the two sums are checked equal."
echo
table_head
cmd="bench/89-secagg-round.sh"
for st in keys share mask confirm reveal unmask all; do
	case $st in
	keys) what="keys (keygen, signed) and the roster" ;;
	share) what="shares (checks roster, enrolment, neighbours' signatures)" ;;
	mask) what="masking (once per session)" ;;
	confirm) what="the consistency round" ;;
	reveal) what="reveals (quorum of confirmations checked)" ;;
	unmask) what="unmask (and --forget of the key files)" ;;
	all) what="all secure-aggregation stages of the round" ;;
	esac
	new=$(msb "new.$st") oldt=$(msb "old.$st")
	if [ "$st" = confirm ]; then
		row "$what" "$new ms" "none in $base" "—" "—" "$cmd"
	else
		row "$what" "$new ms" "$base" "$oldt ms" "$(ratio "$new" "$oldt")" "$cmd"
	fi
done
echo
newall=$(msb new.all) oldall=$(msb old.all)
target "the secure-aggregation stages of a demo round with identities and the consistency round: <= 1.2 x without them" \
    "$(ratio "$newall" "$oldall") x ($newall ms against $oldall ms at $base)" \
    "$(ge 1.2 "$(ratio "$newall" "$oldall")")"
rm -rf "$sr/old" "$sr/new"
