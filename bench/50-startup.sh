#!/bin/sh
# Start-up time of every program: --version, and --check of a one-record
# file, run without a shell (hyperfine -N) against /bin/true.
set -eu
. bench/lib.sh

n=${STARTUP_RUNS:-300}
tiny=$WORK/tiny.flt
"$FL_BIN/fl-pack" -m kind=update -t w:f32:2x3=1,2,3,4,5,6 -o "$tiny"
set -- /bin/true
for p in "$FL_BIN"/fl-*; do
	case $p in *.c|*.d|*.o) continue ;; esac
	[ -x "$p" ] && set -- "$@" "$p --version"
done
set -- "$@" "$FL_BIN/fl-inspect --check $tiny"
hyperfine --style none -N --warmup 20 --runs "$n" 2>> "$WORK/hyperfine.log" \
    --export-json "$WORK/startup.json" "$@" > /dev/null
count=$#
mean() { hfget startup "$1" mean; }
fig() {
	printf '%s ± %s ms (mean ± sd of %s; min %s ms)' "$(ms "$(mean "$1")")" \
	    "$(ms "$(hfget startup "$1" stddev)")" "$n" \
	    "$(ms "$(hfget startup "$1" min)")"
}

echo "## Start-up time"
echo
echo "Each command run $n times without a shell (hyperfine -N) after 20"
echo "warm-up runs; the baseline is /bin/true, the cost of any process."
echo
table_head
row "/bin/true" "$(fig 0)" "—" "—" "—" "hyperfine -N /bin/true"
i=1
while [ "$i" -lt "$count" ]; do
	cmd=$(hfcmd startup "$i")
	row "$cmd" "$(fig "$i")" "/bin/true" "$(ms "$(mean 0)") ms" \
	    "$(ratio "$(mean "$i")" "$(mean 0)")" "hyperfine -N '$cmd'"
	target "start-up < 5 ms: $cmd" "$(fig "$i")" \
	    "$(ge 0.005 "$(mean "$i")")"
	i=$((i + 1))
done
echo
