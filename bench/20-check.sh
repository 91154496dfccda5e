#!/bin/sh
# fl-inspect --check on 1 GiB of uncompressed f32 records, from a file, from
# stdin redirected from the file, and from a pipe, against cat.
set -eu
. bench/lib.sh

f=$WORK/f32-1g.flt
bytes=$(size_of "$f")
hf check \
    "cat $f > /dev/null" \
    "cat $f | cat > /dev/null" \
    "$FL_BIN/fl-inspect --check $f" \
    "$FL_BIN/fl-inspect --check < $f" \
    "cat $f | $FL_BIN/fl-inspect --check"
rate() { gbps "$bytes" "$(hfget check "$1" min)"; }
crc=$(awk -F '\t' '$1 == "crc32" { printf "%.2f", $2 / $3 / 1e9 }' \
    "$WORK/limits.tsv")

echo "## fl-inspect --check: uncompressed records"
echo
echo "$bytes bytes: 4 records of one 256 MiB f32 tensor each (bench/gen.py)."
echo "Validation reads every byte, checks both CRCs and the zero padding."
echo
table_head
row "cat, pipe ceiling (two processes)" "$(tput "$bytes" check 1)" \
    "cat file > /dev/null" "$(rate 0) GB/s" \
    "$(ratio "$(rate 1)" "$(rate 0)")" "$(hfcmd check 1)"
row "fl-inspect --check FILE" "$(tput "$bytes" check 2)" \
    "cat file > /dev/null" "$(rate 0) GB/s" \
    "$(ratio "$(rate 2)" "$(rate 0)")" "$(hfcmd check 2)"
row "fl-inspect --check FILE" "$(rate 2) GB/s" "crc32 alone (limits)" \
    "$crc GB/s" "$(ratio "$(rate 2)" "$crc")" "$(hfcmd check 2)"
row "fl-inspect --check < FILE" "$(tput "$bytes" check 3)" \
    "cat file > /dev/null" "$(rate 0) GB/s" \
    "$(ratio "$(rate 3)" "$(rate 0)")" "$(hfcmd check 3)"
row "fl-inspect --check from a pipe" "$(tput "$bytes" check 4)" \
    "cat \| cat (pipe ceiling)" "$(rate 1) GB/s" \
    "$(ratio "$(rate 4)" "$(rate 1)")" "$(hfcmd check 4)"

# Peak memory: one record's payload (256 MiB) is the floor.
rss() {
	/usr/bin/time -f %M sh -c "$1" 2>&1 > /dev/null | tail -1
}
payload=$((256 * 1024))
for how in FILE pipe; do
	cmd="$FL_BIN/fl-inspect --check $f"
	[ "$how" = pipe ] && cmd="cat $f | $FL_BIN/fl-inspect --check"
	kib=$(rss "$cmd")
	row "peak RSS, fl-inspect --check ($how)" "$((kib / 1024)) MiB" \
	    "one record's payload" "256 MiB" "$(ratio "$kib" "$payload")" \
	    "/usr/bin/time -f %M sh -c '$cmd'"
done
echo
echo "The pipe ceiling moves 1 GiB through a 64 KiB pipe between two"
echo "processes; a reader that also checksums every byte cannot beat it."
echo

target "fl-inspect --check from a pipe, uncompressed f32: >= 1 GB/s" \
    "$(rate 4) GB/s (best of $BENCH_RUNS; mean $(gbps "$bytes" "$(hfget check 4 mean)") GB/s)" \
    "$(ge "$(rate 4)" 1)"
target "fl-inspect --check from a file: >= 1 GB/s" "$(rate 2) GB/s" \
    "$(ge "$(rate 2)" 1)"
