#!/bin/sh
# Regenerate the checked-in seed corpora (small: the fuzzer's own finds go
# to build/fuzz/corpus-NAME, never here).  Run from anywhere:
#   tests/fuzz/make-corpus.sh
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
craft="/usr/bin/python3 $top/tests/craft.py"
rec=$top/tests/fuzz/corpus-record
val=$top/tests/fuzz/corpus-values
rm -rf "$rec" "$val"
mkdir -p "$rec" "$val"

# Records: the golden files, a stream, and hostile headers with valid CRCs
# so the fuzzer starts past the checksums.
cp "$top"/tests/data/golden/*.flt "$rec/"
cat "$top/tests/data/golden/update.flt" "$top/tests/data/golden/update-z.flt" \
    > "$rec/stream.flt"
head -c 100 "$top/tests/data/golden/update.flt" > "$rec/truncated.flt"
$craft -H 'tensor=a f8 [2] 0\n' --raw-zeros 64 -o "$rec/f8.flt"
$craft -H 'tensor=a f16 [3] 0\ntensor=b bf16 [1] 64\n' \
    --raw-hex 663c007cff7f$(printf '0%.0s' $(seq 1 116))803f -o "$rec/odd.flt"
$craft -H 'tensor=a u8 [1,1,1,1,1,1,1,2] 0\n' --raw 'ab' -o "$rec/rank8.flt"
$craft -H 'tensor=a u8 [2] 0\ntensor=b u8 [1] 64\n' --raw-zeros 128 \
    --poke 10:01 -o "$rec/gap.flt"
$craft -H 'tensor=a f32 [4] 0\n' --raw-zeros 16 -z --tail '\x01' \
    -o "$rec/ztail.flt"
$craft -H 'tensor=a u8 [4294967296,4294967296] 0\n' -o "$rec/overflow.flt"
$craft -H 'a=1\nb=caf\xc3\xa9\nx-y.z_w=v\ntensor=s f64 [] 0\n' \
    --raw-hex 000000000000f03f -o "$rec/meta.flt"
$craft -H 'dp.loss-scale=0.05\ntensor=fl.loss f64 [1] 0\ntensor=w f32 [1] 64\n' \
    --raw-hex 9a9999999999a93f$(printf '0%.0s' $(seq 1 112))0000803f -o "$rec/loss.flt"

# Values: the first byte picks the dtype (byte % 12, the dtype's code: '0'
# f32, '1' f64, '2' i8, '3' u8, '4' i16, '5' u16, '6' i32, '7' u32, '8' i64,
# '9' u64, ':' f16, ';' bf16); the rest is the text, also tried as a shape
# and as single numbers.
printf '0 0.5, -1, 2\n# a comment\n3e-3 nan -inf 1e-45' > "$val/f32.txt"
printf '10.1,1e308,-4.9e-324,0x1p3' > "$val/f64.txt"
printf '2-128 127 0' > "$val/i8.txt"
printf '9 0,18446744073709551615\r\n' > "$val/u64.txt"
printf '8-9223372036854775808 9223372036854775807' > "$val/i64.txt"
printf '2[2,3]' > "$val/shape.txt"
printf '22x3x4' > "$val/shapex.txt"
printf '1-12.5e-3' > "$val/double.txt"
printf '199999999999999991.599999999 ' > "$val/near-1e17.txt"
printf ':0.1 65504 -6e-8 nan -inf 65519.99 1.000488281250000001,-0' \
    > "$val/f16.txt"
printf ';0.1 3.39e38 9.2e-41 -0 1.00390625 inf' > "$val/bf16.txt"
