#!/bin/sh
# Where a round of the demo (examples/simulate.sh, make demo) spends its
# time, stage by stage (issue 22): the demo's cohort of 150 clients of the
# 3000 (Fashion-MNIST, Dirichlet 0.5, mlp:784-64-10), every stage run for
# every client one after another (no parallelism, so a stage's time is
# its cost), its outputs in files, once with the work directory on the
# disk and once on /dev/shm (memory: fsync costs nothing there).  Wall
# time and CPU time (user + system of the stage's processes) per stage;
# process start-up and the shell's share are measured apart, with a
# program that does nothing (fl-inspect --version) and the demo's
# parallel loop (xargs, a bash per batch of 16) around a no-op.  Then the
# whole demo with this tree's simulate.sh and with BENCH_SIM_BASE's
# (default 6dfd113, before issue 22), each for BENCH_SIM_ROUNDS rounds
# (default 2) with the same seeds, one after the other in the same run.
# The machine is shared: the load (uptime) is printed beside the figures.
# The stages are strings run by eval, which expands them there.
# shellcheck disable=SC2016,SC2034,SC2086
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
. bench/lib.sh

B=$(cd "$FL_BIN" && pwd)
top=$(pwd)
FMNIST=/usr/share/datasets/fashion-mnist
if [ ! -r "$FMNIST/train-images-idx3-ubyte.gz" ]; then
	printf '## Demo round profile\n\nSkipped: no Fashion-MNIST (%s).\n\n' \
	    "$FMNIST"
	exit 0
fi
load() { uptime | sed 's/.*load average: //'; }
P=$WORK/demo-profile
rm -rf "$P"
mkdir -p "$P"
"$B/fl-split" -n 3000 --dirichlet 0.5 --min-size 2 --seed demo \
    -p "$P/c" "$FMNIST/train-images-idx3-ubyte.gz" > /dev/null
"$B/fl-init" -a mlp:784-64-10 --seed demo -o "$P/global.flt"
MR=$("$B/fl-inspect" -g round "$P/global.flt")
n=150 Z=0.855532 SIGMA_B=15 SURV=145 TOL=0.1
ids=$(seq 0 $((n - 1)))
mkdir -p "$P/ids"
"$B/fl-mask" --make-identity --client op -i "$P/ids/op.id" -o "$P/ids/op.pub"
for i in $ids; do
	"$B/fl-mask" --make-identity --client "c$i" -i "$P/ids/c$i.id" \
	    --operator "$P/ids/op.pub" -o "$P/ids/c$i.idpub"
done
cat "$P"/ids/c*.idpub | "$B/fl-mask" --make-enrolment -i "$P/ids/op.id" \
    -o "$P/enrolment.flt"
printf 'c%d\n' $ids > "$P/survivors"
shard() { printf '%s/c%04d.flt' "$P" "$1"; }

TIMEFORMAT='%R %U %S'
# st NAME PROCS COMMAND...: time COMMAND, appending "NAME PROCS real
# user sys" to $P/times.
st() {
	local name=$1 procs=$2 t
	shift 2
	t=$( { time "$@" > /dev/null 2> "$P/err" ; } 2>&1 ) ||
	    { cat "$P/err" >&2; return 1; }
	echo "$name $procs $t" >> "$P/times"
}
# A round, every stage in W, one client after another.
round() {
	local W=$1 i
	rm -rf "$W"
	mkdir -p "$W"
	: > "$P/times"
	st train $n eval 'for i in $ids; do "$B/fl-train" -q -m "$P/global.flt" \
	    -e 1 -b 16 --lr 0.1 "$(shard "$i")" -o "$W/u$i.flt" || exit 1; done'
	st clip $n eval 'for i in $ids; do "$B/fl-clip-noise" -c 0.5 \
	    --indicator -o "$W/c$i.flt" "$W/u$i.flt" || exit 1; done'
	st ring $n eval 'for i in $ids; do "$B/fl-quantize" --ring 32 \
	    --clients $n --noise $Z --rotation-seed round-1 -o "$W/r$i.flt" \
	    "$W/c$i.flt" || exit 1; done'
	st noise-shares $n eval 'for i in $ids; do "$B/fl-clip-noise" \
	    --noise $Z --shares $SURV -m discrete-gaussian \
	    --indicator-noise $SIGMA_B -o "$W/n$i.flt" "$W/r$i.flt" || exit 1; done'
	st keygen $n eval 'for i in $ids; do "$B/fl-mask" --keygen --round $MR \
	    -k "$W/c$i.key" -i "$P/ids/c$i.id" -o "$W/c$i.pub" || exit 1; done'
	st roster 1 eval 'cat "$W"/c*.pub | "$B/fl-mask" --make-roster \
	    -e "$P/enrolment.flt" --dropout $TOL -o "$W/roster.flt"'
	st share $n eval 'for i in $ids; do "$B/fl-mask" --share \
	    -k "$W/c$i.key" -r "$W/roster.flt" -e "$P/enrolment.flt" \
	    --dropout $TOL --min-clients 10 -o "$W/c$i.shares" || exit 1; done'
	cat "$W"/c*.shares > "$W/shares.flt"
	st mask $n eval 'for i in $ids; do "$B/fl-mask" -k "$W/c$i.key" \
	    -r "$W/roster.flt" -s "$W/shares.flt" -o "$W/m$i.flt" \
	    "$W/n$i.flt" || exit 1; done'
	st confirm $n eval 'for i in $ids; do "$B/fl-mask" \
	    --confirm "$P/survivors" -k "$W/c$i.key" -i "$P/ids/c$i.id" \
	    -r "$W/roster.flt" -s "$W/shares.flt" -o "$W/c$i.confirm" || exit 1; done'
	cat "$W"/c*.confirm > "$W/confirms.flt"
	st reveal $n eval 'for i in $ids; do "$B/fl-mask" \
	    --reveal "$P/survivors" -k "$W/c$i.key" -r "$W/roster.flt" \
	    -s "$W/shares.flt" --confirmations "$W/confirms.flt" \
	    -o "$W/c$i.reveal" || exit 1; done'
	cat "$W"/c*.reveal > "$W/reveals.flt"
	st unmask 1 "$B/fl-aggregate" --roster "$W/roster.flt" \
	    --shares "$W/shares.flt" --reveals "$W/reveals.flt" \
	    -o "$W/sum.flt" "$W"/m*.flt
	st forget $n eval 'for i in $ids; do "$B/fl-mask" --forget \
	    -k "$W/c$i.key" || exit 1; done'
	st account 1 "$B/fl-account" -l "$W/budget.ledger" -s -B 6 \
	    -d 1e-5 -q 0.05 "$W/sum.flt"
	st decode 1 "$B/fl-quantize" -d --mean=$SURV -o "$W/dec.flt" \
	    "$W/sum.flt"
	st adapt 1 "$B/fl-clip-noise" --adapt --indicator-noise $SIGMA_B \
	    -o "$W/mean.flt" "$W/dec.flt"
	cp "$P/global.flt" "$W/global.flt"
	st apply 1 "$B/fl-apply" -m "$W/global.flt" -s "$W/state.flt" \
	    --optimizer avgm --server-lr 1 -o "$W/global.flt" "$W/mean.flt"
	st evaluate 1 "$B/fl-eval" -j 2 -m "$W/global.flt" \
	    "$FMNIST/t10k-images-idx3-ubyte.gz"
	# The same number of processes doing nothing: their start-up.
	st start-up $n eval 'for i in $ids; do "$B/fl-inspect" --version; \
	    done'
	# The demo's parallel loop around a function doing nothing.
	noop() { :; }
	export -f noop
	st shell-loop $n eval 'printf "%s\n" $ids | xargs -r -P 2 -n 16 \
	    bash -c '\''for i; do "$0" "$i" || exit 1 || exit 1; done'\'' noop'
	mv "$P/times" "$W.times"
}
round "$WORK/demo-profile-disk"
l1=$(load)
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	shm=/dev/shm/fl-bench-profile.$$
	round "$shm"
	rm -rf "$shm"
	mv "$shm.times" "$P/shm.times"
else
	cp "$WORK/demo-profile-disk.times" "$P/shm.times"
fi
l2=$(load)

echo "## Demo round profile (issue 22)"
echo
echo "One private round of the demo, stage by stage, for its cohort of $n"
echo "clients (all surviving), every client after the other (the time of a"
echo "stage is its cost; the demo runs the per-client stages on 2 jobs),"
echo "each program's output written with -o.  CPU = user + system time of"
echo "the stage's processes.  The work directory on the disk, then on"
echo "/dev/shm (where fsync costs nothing): their difference is the cost of"
echo "durability.  'start-up' is $n runs of \`fl-inspect --version\` (a"
echo "process that does nothing), 'shell-loop' the demo's \`each\` loop"
echo "(xargs -P 2, a bash per 16 clients) around a no-op; the demo runs 7"
echo "such loops a round.  Load average: $l1 (after the disk run), $l2"
echo "(after /dev/shm)."
echo
echo "| stage | processes | disk wall s | disk CPU s | /dev/shm wall s | /dev/shm CPU s | ms per client (CPU, /dev/shm) |"
echo "|---|---|---|---|---|---|---|"
join "$WORK/demo-profile-disk.times" "$P/shm.times" 2> /dev/null | awk '
    { cd = $4 + $5; cs = $8 + $9
      printf "| %s | %d | %.2f | %.2f | %.2f | %.2f | %.1f |\n",
        $1, $2, $3, cd, $7, cs, 1000 * cs / $2
      if ($1 != "start-up" && $1 != "shell-loop") {
        tw += $3; tc += cd; sw += $7; sc += cs } }
    END { printf "| **all stages** | | %.2f | %.2f | %.2f | %.2f | |\n",
        tw, tc, sw, sc }'
echo

# The whole demo, a few rounds: BENCH_SIM_BASE's simulate.sh and programs
# against this tree's, the same seeds.
base=${BENCH_SIM_BASE:-6dfd113}
rounds=${BENCH_SIM_ROUNDS:-2}
[ "$rounds" -gt 0 ] || exit 0
build_base "$base"
old=$top/$WORK/old-$base
sim() {
	local what=$1 bin=$2 script=$3 d=$4 t
	rm -rf "$d"
	t=$( { time FL_BIN=$bin bash "$script" -r "$rounds" --seeded-cohorts \
	    -d "$d" > "$d.out" 2>&1 ; } 2>&1 )
	echo "$what $t $(load | cut -d, -f1)"
}
echo "### The whole demo, $rounds rounds"
echo
echo "\`examples/simulate.sh -r $rounds --seeded-cohorts\` (3000 clients,"
echo "identities made for all of them first, then $rounds rounds), with"
echo "$base's script and programs, then this tree's, one after the other."
echo "Wall time, CPU (user + system of all its processes) and the 1-minute"
echo "load average at the end of each run."
echo
echo "| tree | wall s | CPU s | load | per round (results.tsv) |"
echo "|---|---|---|---|---|"
{
	sim "$base" "$old/bin" "$old/examples/simulate.sh" "$P/sim-old"
	sim "this" "$B" "$top/examples/simulate.sh" "$P/sim-new"
} | while read -r what r u s l; do
	d=$P/sim-new
	[ "$what" = this ] || d=$P/sim-old
	acc=$(awk 'NR > 1 { printf "%s%s", sep, $2; sep = ", " }' \
	    "$d/results.tsv")
	printf '| %s | %.1f | %.1f | %s | accuracy %s |\n' "$what" "$r" \
	    "$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')" "$l" "$acc"
done
echo
