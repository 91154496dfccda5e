#!/bin/sh
# fl-inspect --check on zlib-compressed records (informational: no target),
# against zlib's own inflate of the same data in memory.
set -eu
. bench/lib.sh

f=$WORK/zlib-256m.flt
stored=$(size_of "$f")
raw=$((4 * 64 * 1024 * 1024))
"$WORK/limits" inflate "$f" > "$WORK/inflate.tsv"
hf zlib "$FL_BIN/fl-inspect --check $f" "cat $f | $FL_BIN/fl-inspect --check"
get() { awk -F '\t' -v n="$1" -v f="$2" '$1 == n { print $f }' "$WORK/inflate.tsv"; }
inflate=$(gbps "$(get inflate 2)" "$(get inflate 3)")
rate() { gbps "$raw" "$(hfget zlib "$1" min)"; }
fig() {
	printf '%s GB/s raw, %s GB/s stored (best %.3f s of %s; mean %.3f ± %.3f s)' \
	    "$(rate "$1")" "$(gbps "$stored" "$(hfget zlib "$1" min)")" \
	    "$(hfget zlib "$1" min)" "$BENCH_RUNS" "$(hfget zlib "$1" mean)" \
	    "$(hfget zlib "$1" stddev)"
}

echo "## fl-inspect --check: zlib-compressed records (informational)"
echo
echo "4 records of one 64 MiB f32 tensor quantised to 255 levels, stored"
echo "with zlib level 6 as fl-pack -z does: $raw raw bytes in $stored stored"
echo "bytes (ratio $(ratio "$raw" "$stored")).  Throughput counts raw bytes;"
echo "the baseline is zlib inflating the first record in memory."
echo
table_head
row "fl-inspect --check FILE (zlib)" "$(fig 0)" "zlib inflate in memory" \
    "$inflate GB/s" "$(ratio "$(rate 0)" "$inflate")" "$(hfcmd zlib 0)"
row "fl-inspect --check from a pipe (zlib)" "$(fig 1)" \
    "zlib inflate in memory" "$inflate GB/s" \
    "$(ratio "$(rate 1)" "$inflate")" "$(hfcmd zlib 1)"
if [ -n "$(get inflate-libdeflate 2)" ]; then
	ld=$(gbps "$(get inflate-libdeflate 2)" "$(get inflate-libdeflate 3)")
	row "libdeflate_zlib_decompress in memory (what-if)" "$ld GB/s" \
	    "zlib inflate in memory" "$inflate GB/s" "$(ratio "$ld" "$inflate")" \
	    "$WORK/limits inflate $f"
fi
echo
