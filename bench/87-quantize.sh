#!/bin/sh
# fl-quantize: the ring encoding (copy, random signs, blocked Walsh-Hadamard
# transform, stochastic rounding with the exact L2 check, wrap mod 2^20) and
# its decoding (unwrap, scale, transform, signs) of 10M f32 on one core,
# in-process (bench/quant.c), against the ChaCha20 keystream it reads; the
# blocked transform of 2^24 floats against the naive radix-2 one
# (bench/naive.h, also the unit tests' reference).
set -eu
. bench/lib.sh

n=10000000
${CC:-cc} -O2 -std=c11 -D_DEFAULT_SOURCE -Ilib -o "$WORK/quant" \
    bench/quant.c lib/libfl.a -lsodium -lz -lm -pthread
"$WORK/quant" "$n" > "$WORK/quant.tsv" 2> "$WORK/quant.log"
get() { awk -F'\t' -v k="$1" -v f="$2" '$1 == k { print $f }' "$WORK/quant.tsv"; }
nspc() { awk -v s="$(get "$1" 3)" -v c="$(get "$1" 2)" 'BEGIN { printf "%.2f", s / c * 1e9 }'; }
msof() { awk -v s="$(get "$1" 3)" 'BEGIN { printf "%.1f", s * 1000 }'; }

enc=$(nspc ring-encode)
dec=$(nspc ring-decode)
both=$(nspc ring-encode+decode)
# The keystream is timed for the padded length; per original coordinate,
# like the rows it is compared with.
chacha=$(awk -v s="$(get chacha20-4B 3)" -v c="$n" 'BEGIN { printf "%.2f", s / c * 1e9 }')
fwht=$(msof fwht-2^24)
naive=$(msof fwht-naive-2^24)

echo "## fl-quantize: ring encoding and the Hadamard transform"
echo
echo "Encode and decode $n f32 coordinates (padded to 2^24) in a 2^20 ring,"
echo "rotation included, one thread, in-process (bench/quant.c, best of 5);"
echo "ns per original coordinate.  ChaCha20 at 4 bytes per padded coordinate"
echo "is what the rounding alone must read (also per original coordinate)."
echo
table_head
row "ring encode (signs, FWHT, SR + exact bound, wrap)" "$enc ns/coord" "ChaCha20 keystream of the rounding, 4 B/padded coord" "$chacha ns" "$(ratio "$enc" "$chacha")" "bench/work/quant $n"
row "ring decode (unwrap, FWHT, signs)" "$dec ns/coord" "—" "—" "—" "bench/work/quant $n"
row "ring encode + decode" "$both ns/coord" "—" "—" "—" "bench/work/quant $n"
row "FWHT of 2^24 f32, blocked two-pass" "$fwht ms" "naive radix-2 (24 passes)" "$naive ms" "$(ratio "$fwht" "$naive")" "bench/work/quant $n"
echo
target "ring encode + decode of 10M f32 incl. rotation: <= 10 ns/coordinate on one core" "$both ns" "$(ge 10 "$both")"
target "Hadamard transform of 2^24 f32: <= 40 ms" "$fwht ms" "$(ge 40 "$fwht")"
