#!/bin/sh
# Run the local-training benchmarks alone (bench/90-train.sh and
# bench/95-fmnist-accuracy.sh) the way bench/run does, and write
# bench/RESULTS-train.md.  `make bench` runs them too, into
# bench/RESULTS.md, with every other benchmark.
#   BENCH_RUNS (default 7), FL_BIN (default bin/), FL_ROUNDS (150)
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
BENCH_RUNS=${BENCH_RUNS:-7}
WORK=bench/work/train
FL_BIN=${FL_BIN:-bin}
PYTHON=/usr/bin/python3
export BENCH_RUNS WORK FL_BIN PYTHON
mkdir -p "$WORK"
rm -f "$WORK/targets"
out=$WORK/sections.md
: > "$out"
for b in bench/90-train.sh bench/95-fmnist-accuracy.sh; do
	echo "bench: $b" >&2
	sh "$b" >> "$out"
done
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
commit=$(git rev-parse --short HEAD 2> /dev/null || echo unknown)
git diff --quiet HEAD 2> /dev/null || commit="$commit (with uncommitted changes)"
{
	echo "# Local training benchmark results"
	echo
	echo "Made by bench/train/results.sh (bench/90-train.sh,"
	echo "bench/95-fmnist-accuracy.sh); do not edit by hand."
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- machine: $(nproc) CPUs ($cpu), $mem RAM, $(uname -sr); shared with other work, so times are noisy: each figure is the best of $BENCH_RUNS runs, ratios are from the same run"
	echo "- fltools: $("$FL_BIN/fl-train" --version), commit $commit"
	echo "- compiler: $(${CC:-cc} --version | head -1), CFLAGS -O2"
	echo "- tools: $(hyperfine --version), Python $("$PYTHON" -c 'import sys, numpy; print(sys.version.split()[0], "+ numpy", numpy.__version__)')"
	echo
	echo "## Targets"
	echo
	echo "| target | measured | met? |"
	echo "|---|---|---|"
	cat "$WORK/targets"
	echo
	cat "$out"
} > bench/RESULTS-train.md.tmp
mv bench/RESULTS-train.md.tmp bench/RESULTS-train.md
echo "bench: wrote bench/RESULTS-train.md" >&2
