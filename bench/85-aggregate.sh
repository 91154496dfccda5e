#!/bin/sh
# fl-aggregate: the weighted mean of 100 updates of 10M f32 read from files
# (4 GB), against cat of the same files and memcpy; its peak memory against
# one update; the robust rules on 100 updates of 1M f32.  The inputs are
# made here (one update written by numpy, copied 99 times) and deleted at
# the end: 4.4 GB of disk for the length of this script.
set -eu
. bench/lib.sh

d=$WORK/aggregate
rm -rf "$d"
mkdir -p "$d/mean" "$d/robust"
trap 'rm -rf "$d"' EXIT INT TERM

"$PYTHON" - "$d" <<'EOF'
import os, sys
sys.path.insert(0, os.path.join("examples", "python"))
import numpy as np
import flt
d = sys.argv[1]
rng = np.random.default_rng(6)
w = rng.standard_normal(10_000_000, np.float32)
with open(os.path.join(d, "mean", "u000.flt"), "wb") as f:
    flt.write_record(f, {"kind": "update", "round": 1, "weight": 37}, {"w": w})
for i in range(100):
    w = rng.standard_normal(1_000_000, np.float32)
    with open(os.path.join(d, "robust", "r%03d.flt" % i), "wb") as f:
        flt.write_record(f, {"kind": "update", "round": 1, "weight": 1 + i,
                             "client": "c%d" % i}, {"w": w})
EOF
i=1
while [ "$i" -lt 100 ]; do
	cp "$d/mean/u000.flt" "$d/mean/u$(printf %03d "$i").flt"
	i=$((i + 1))
done
one=$(size_of "$d/mean/u000.flt")
bytes=$((one * 100))
rbytes=$(cat "$d"/robust/*.flt | wc -c | tr -d ' ')

# ---- weighted mean ----
hf aggmean \
    "cat $d/mean/u*.flt > /dev/null" \
    "$FL_BIN/fl-inspect --check $d/mean/u*.flt" \
    "$FL_BIN/fl-aggregate -o $d/mean.flt $d/mean/u*.flt"
rate() { gbps "$bytes" "$(hfget aggmean "$1" min)"; }
memcpy=$(awk -F '\t' '$1 == "memcpy" { printf "%.2f", $2 / $3 / 1e9 }' \
    "$WORK/limits.tsv")
# Peak memory: the f64 sums are the floor (payloads stream into them).
rss() {
	/usr/bin/time -f %M sh -c "$1" 2>&1 > /dev/null | tail -1
}
cmd="$FL_BIN/fl-aggregate -o $d/mean.flt $d/mean/u*.flt"
kib=$(rss "$cmd")
rss_ratio=$(ratio "$((kib * 1024))" "$one")

echo "## fl-aggregate: weighted mean, streaming"
echo
echo "100 updates of one tensor of 10,000,000 f32 ($one bytes each, $bytes"
echo "bytes in all), read from files in the page cache, one core.  The sums"
echo "are kept in f64, and each payload streams into them in 1 MiB pieces:"
echo "memory is two bytes of sums per byte of model, whatever the number of"
echo "updates."
echo
table_head
row "cat FILES > /dev/null" "$(tput "$bytes" aggmean 0)" "memcpy (limits)" \
    "$memcpy GB/s" "$(ratio "$(rate 0)" "$memcpy")" "$(hfcmd aggmean 0)"
row "fl-inspect --check FILES (read + validate)" "$(tput "$bytes" aggmean 1)" \
    "cat" "$(rate 0) GB/s" "$(ratio "$(rate 1)" "$(rate 0)")" \
    "fl-inspect --check $d/mean/u*.flt"
row "fl-aggregate (weighted mean)" "$(tput "$bytes" aggmean 2)" "cat" \
    "$(rate 0) GB/s" "$(ratio "$(rate 2)" "$(rate 0)")" \
    "fl-aggregate -o mean.flt $d/mean/u*.flt"
row "fl-aggregate (weighted mean)" "$(rate 2) GB/s" "memcpy (limits)" \
    "$memcpy GB/s" "$(ratio "$(rate 2)" "$memcpy")" \
    "fl-aggregate -o mean.flt $d/mean/u*.flt"
row "fl-aggregate (weighted mean)" "$(rate 2) GB/s" \
    "fl-inspect --check (the reader alone)" "$(rate 1) GB/s" \
    "$(ratio "$(rate 2)" "$(rate 1)")" \
    "fl-aggregate -o mean.flt $d/mean/u*.flt"
row "peak RSS, fl-aggregate (weighted mean)" "$((kib / 1024)) MiB" \
    "one update" "$((one / 1048576)) MiB" "$rss_ratio" \
    "/usr/bin/time -f %M fl-aggregate -o mean.flt $d/mean/u*.flt"
echo
echo "The floor of the peak is 2.0: the f64 sums (2x), which the result is"
echo "then written over; the rest is a 1 MiB read piece and the process"
echo "itself (libc, the program, the page tables of the sums)."
echo

target "fl-aggregate weighted mean, 100 x 10M f32 from files: >= 1 GB/s" \
    "$(rate 2) GB/s (best of $BENCH_RUNS; mean $(gbps "$bytes" "$(hfget aggmean 2 mean)") GB/s)" \
    "$(ge "$(rate 2)" 1)"
target "fl-aggregate weighted mean: peak RSS <= 3x one update" \
    "$((kib / 1024)) MiB = ${rss_ratio}x of $((one / 1048576)) MiB" \
    "$(ge 3 "$rss_ratio")"

# ---- robust rules ----
hf aggrobust \
    "$FL_BIN/fl-aggregate -r median -o $d/median.flt $d/robust/r*.flt" \
    "$FL_BIN/fl-aggregate -r trimmed-mean -o $d/trimmed.flt $d/robust/r*.flt" \
    "$FL_BIN/fl-aggregate -r krum -f 10 --select=10 -o $d/krum.flt $d/robust/r*.flt" \
    "$FL_BIN/fl-aggregate -r median --memory=64M -o $d/median-64m.flt $d/robust/r*.flt" \
    "$FL_BIN/fl-aggregate -o $d/mean-robust.flt $d/robust/r*.flt"
cmp "$d/median.flt" "$d/median-64m.flt"
secs() {
	printf '%.2f s (best of %s; mean %.2f ± %.2f s)' \
	    "$(hfget aggrobust "$1" min)" "$BENCH_RUNS" \
	    "$(hfget aggrobust "$1" mean)" "$(hfget aggrobust "$1" stddev)"
}
base=$(hfget aggrobust 4 min)
echo "## fl-aggregate: robust rules"
echo
echo "100 updates of 1,000,000 f32 ($rbytes bytes), held in memory (the"
echo "default --memory is 1 GiB) unless said; the baseline is the weighted"
echo "mean of the same files.  --memory=64M works in 8 coordinate chunks,"
echo "re-reading the files, and gives the same bytes (checked)."
echo
table_head
for i in 0 1 2 3; do
	cmd=$(hfcmd aggrobust "$i" | sed "s|$FL_BIN/||; s|$d/robust/r\*.flt|FILES|; s| -o $d/[a-z0-9-]*.flt||")
	row "$cmd" "$(secs "$i")" "weighted mean (fl-aggregate FILES)" \
	    "$(printf '%.2f s' "$base")" \
	    "$(ratio "$(hfget aggrobust "$i" min)" "$base")" "$cmd"
done
echo

target "fl-aggregate -r median, 100 x 1M f32: <= 2 s" "$(secs 0)" \
    "$(ge 2 "$(hfget aggrobust 0 min)")"
target "fl-aggregate -r trimmed-mean, 100 x 1M f32: <= 2 s" "$(secs 1)" \
    "$(ge 2 "$(hfget aggrobust 1 min)")"
target "fl-aggregate -r krum, 100 x 1M f32: <= 5 s" "$(secs 2)" \
    "$(ge 5 "$(hfget aggrobust 2 min)")"
