#!/bin/sh
# Issue 22's targets, as a user meets them: the whole `make demo` (the
# demo's defaults: 3000 Fashion-MNIST clients, 40 rounds, the whole
# private pipeline), and the devices' step of a round (fl-train --each |
# fl-clip-noise --indicator | fl-quantize --ring | fl-clip-noise --noise
# --shares | fl-mask, two batches at once) in client updates a second.
# The step is timed from simulate.sh's own trace (PS4 with
# EPOCHREALTIME): from `batch clients` to the next command of the round,
# over the devices it was given (the `ids=` its trace shows), in
# BENCH_DEMO_STEP_ROUNDS seeded rounds (default 4), with this tree's
# programs and BENCH_DEMO_BASE's (default 22b33b9, before the sampler's
# word-at-a-time digits) alternately, BENCH_DEMO_STEP_RUNS times each
# (default 2), so that the machine's changing speed hits both alike.
#
#   BENCH_DEMO_RUNS   whole demos (default 1; 0 skips them)
# bench: no inputs
# shellcheck disable=SC2086
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -eu
. bench/lib.sh

fmnist_section "The demo's speed (make demo, the devices' step)"
top=$(pwd)
B=$(cd "$FL_BIN" && pwd)
mem=$WORK
[ -d /dev/shm ] && [ -w /dev/shm ] && mem=/dev/shm
load() { cut -d' ' -f1-3 /proc/loadavg; }

runs=${BENCH_DEMO_RUNS:-1}
best=
if [ "$runs" -gt 0 ]; then
	echo "\`make demo\` (\`FL_BIN=$FL_BIN examples/simulate.sh --results"
	echo "DIR\`: its work directory in memory, removed at the end), $runs"
	echo "run(s); wall time, CPU time of all its processes, and the last"
	echo "round's line.  The load average before each run is beside it."
	echo
	echo "| run | load before | wall s | user s | sys s | last round: accuracy, epsilon |"
	echo "|---|---|---|---|---|---|"
	i=1
	while [ "$i" -le "$runs" ]; do
		d=$mem/fl-bench-demo
		rm -rf "$d"
		l=$(load)
		/usr/bin/time -f '%e %U %S' -o "$WORK/demo.time" \
		    env FL_BIN="$B" examples/simulate.sh --results "$d" \
		    > "$WORK/demo.out" 2>&1
		read -r w u s < "$WORK/demo.time"
		last=$(awk -F'\t' 'END { printf "%s, %s", $2, $6 }' \
		    "$d/results.tsv")
		echo "| $i | $l | $w | $u | $s | $last |"
		best=$(awk -v a="$w" -v b="${best:-$w}" \
		    'BEGIN { print (a < b) ? a : b }')
		rm -rf "$d"
		i=$((i + 1))
	done
	echo
	target "make demo (3000 clients, 40 rounds, private): at most 2 minutes" \
	    "$best s (best of $runs)" "$(ge 120 "$best")"
fi

# The devices' step of each round of a traced run: "devices/seconds" per
# round.  The trace's lines of the round loop start with "++" (PS4's "+"
# once per level); batch's first lines list its ids, one a line, quoted
# when more than one.
step_rates() {
	awk '/^\+\+[0-9.]+ batch clients/ {
		t = $1; sub(/^\+\+/, "", t); want = 1; n = 0; inids = 0; next }
	want && /^\+\+[0-9.]+ ids=/ { n = 1
		inids = $0 ~ /ids='\''/ && $0 !~ /'\''$/; next }
	want && inids { n++; if ($0 ~ /'\''$/) inids = 0; next }
	want && /print "c" \$1/ { u = $1; sub(/^\+\+/, "", u)
		printf "%d %.3f\n", n, u - t; want = 0 }' "$1"
}
step_run() {    # BIN SCRIPT TAG
	d=$mem/fl-bench-step-$3
	rm -rf "$d"
	FL_BIN=$1 bash -c 'PS4="+\${EPOCHREALTIME} "; set -x; source "$0" "$@"' \
	    "$2" -r "$steps" --seeded-cohorts -d "$d" \
	    > "$WORK/step-$3.out" 2> "$WORK/step-$3.trace"
	rm -rf "$d"
	step_rates "$WORK/step-$3.trace"
}
steps=${BENCH_DEMO_STEP_ROUNDS:-4}
sruns=${BENCH_DEMO_STEP_RUNS:-2}
base=${BENCH_DEMO_BASE:-22b33b9}
build_base "$base"
old=$top/$WORK/old-$base
: > "$WORK/step-new.rates"
: > "$WORK/step-old.rates"
echo "The devices' step (train, clip, ring, noise shares, masking) of"
echo "each round of \`examples/simulate.sh -r $steps --seeded-cohorts\`,"
echo "timed from the script's trace; this tree's programs and $base's"
echo "alternately, $sruns runs each.  Devices / seconds = updates a"
echo "second, per round.  Load before: $(load)."
echo
i=1
while [ "$i" -le "$sruns" ]; do
	step_run "$old/bin" "$old/examples/simulate.sh" old >> "$WORK/step-old.rates"
	step_run "$B" "$top/examples/simulate.sh" new >> "$WORK/step-new.rates"
	i=$((i + 1))
done
# median: the middle of the numbers on standard input
median() {
	sort -n | awk '{ v[NR] = $1 } END {
		print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
echo "| programs | per round: devices/seconds = updates a second | median updates/s |"
echo "|---|---|---|"
for who in old new; do
	name=this
	[ "$who" = old ] && name=$base
	rounds=$(awk '{ printf "%s%d/%.2f=%.1f", (NR > 1 ? ", " : ""), $1, $2,
	    $1 / $2 }' "$WORK/step-$who.rates")
	m=$(awk '{ print $1 / $2 }' "$WORK/step-$who.rates" | median)
	printf '| %s | %s | %.1f |\n' "$name" "$rounds" "$m"
done
echo
med=$(awk '{ print $1 / $2 }' "$WORK/step-new.rates" | median)
target "the devices' step: at least 100 client updates a second (median of rounds)" \
    "$(printf '%.1f/s' "$med")" "$(ge "$med" 100)"
