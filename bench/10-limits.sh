#!/bin/sh
# Physical limits: memcpy and crc32 over a 256 MiB buffer (bench/limits.c).
# Other benchmarks read $WORK/limits.tsv.
set -eu
. bench/lib.sh

"$WORK/limits" mem 256 > "$WORK/limits.tsv"
get() { awk -F '\t' -v n="$1" -v f="$2" '$1 == n { print $f }' "$WORK/limits.tsv"; }
fig() {
	printf '%s GB/s (best %s ms of 7; mean %s ± %s ms)' \
	    "$(gbps "$(get "$1" 2)" "$(get "$1" 3)")" "$(ms "$(get "$1" 3)")" \
	    "$(ms "$(get "$1" 4)")" "$(ms "$(get "$1" 5)")"
}
rate() { gbps "$(get "$1" 2)" "$(get "$1" 3)"; }

echo "## Physical limits"
echo
echo "One core, 256 MiB buffers already in memory (bench/limits.c): what any"
echo "reader of this much data pays at least.  memcpy counts bytes copied."
echo
table_head
row "memcpy, 256 MiB" "$(fig memcpy)" "—" "—" "—" "$WORK/limits mem 256"
row "crc32 (zlib crc32_z), 256 MiB" "$(fig crc32)" "memcpy" \
    "$(rate memcpy) GB/s" "$(ratio "$(rate crc32)" "$(rate memcpy)")" \
    "$WORK/limits mem 256"
row "crc32 (zlib), 1 MiB chunks in cache" "$(fig crc32-cache)" \
    "crc32 from memory" "$(rate crc32) GB/s" \
    "$(ratio "$(rate crc32-cache)" "$(rate crc32)")" "$WORK/limits mem 256"
if [ -n "$(get crc32-libdeflate 2)" ]; then
	row "crc32 (libdeflate_crc32, same polynomial; what-if)" \
	    "$(fig crc32-libdeflate)" "crc32 (zlib)" "$(rate crc32) GB/s" \
	    "$(ratio "$(rate crc32-libdeflate)" "$(rate crc32)")" \
	    "$WORK/limits mem 256"
fi
echo
