#!/bin/sh
# Regenerate the golden records into DIR (default: this directory) with the
# fl-pack on PATH.  tests/format.bats runs this into a scratch directory and
# compares every file with cmp: the writer must be deterministic.  After a
# deliberate format change, run it here and regenerate the .json files:
#   cd tests/data/golden && PATH=../../../bin:$PATH sh make-golden.sh &&
#   for f in *.flt; do fl-inspect --json "$f" > "${f%.flt}.json"; done
# The zlib record depends on zlib's deflate output (Debian zlib 1.2.13).
set -eu
dir=${1:-$(dirname "$0")}

# An uncompressed update: metadata and two f32 tensors (flt(5)'s example).
fl-pack -m kind=update -m round=12 -m client=site-07 -m weight=5120 \
    -t 'fc.w:f32:2x3=0.5,-1,2,0.25,0,3' -t 'fc.b:f32=1,-1' \
    -o "$dir/update.flt"

# The same update with a zlib-compressed payload.
fl-pack -z -m kind=update -m round=12 -m client=site-07 -m weight=5120 \
    -t 'fc.w:f32:2x3=0.5,-1,2,0.25,0,3' -t 'fc.b:f32=1,-1' \
    -o "$dir/update-z.flt"

# Every dtype at its extremes, a scalar and a zero-size tensor (which shares
# its offset with the next tensor), NaN and infinity among the f64 values.
fl-pack -m kind=model \
    -t 'w.f32:f32:2x2=0.1,-2.5,0,3.4028235e38' \
    -t 'w.f64:f64=0.1,-1e30,inf,nan' \
    -t 'w.i8:i8=-128,-1,0,127' \
    -t 'w.u8:u8=0,1,255' \
    -t 'scalar:f64:[]=3.25' \
    -t 'empty:i32:[0]=' \
    -t 'w.i16:i16=-32768,32767' \
    -t 'w.u16:u16=0,65535' \
    -t 'w.i32:i32=-2147483648,2147483647' \
    -t 'w.u32:u32=0,4294967295' \
    -t 'w.i64:i64=-9223372036854775808,9223372036854775807' \
    -t 'w.u64:u64:1x2=0,18446744073709551615' \
    -o "$dir/dtypes.flt"

# The half-precision floats: f16's largest, smallest normal and subnormal,
# a value that rounds (0.1), a tie that rounds to even (1.00048828125 is
# 1), signed zero, infinity and NaN; bf16 likewise, its largest finite
# 3.39e38 and its smallest subnormal 9.2e-41.
fl-pack -m kind=update -m round=3 \
    -t 'w.f16:f16:2x4=0.1,-65504,6.1035e-5,6e-8,-0,inf,nan,1.00048828125' \
    -t 'w.bf16:bf16=0.1,-3.39e38,1.1755e-38,9.2e-41,-0,-inf,nan' \
    -o "$dir/half.flt"

# Metadata only, no tensors (e.g. a privacy-accounting record); values that
# need JSON escaping and UTF-8.
fl-pack -m kind=account -m eps=1.5 -m delta=1e-05 -m 'x-note=a=b "q" \ é' \
    -o "$dir/meta-only.flt"

# Nothing at all: the smallest record.
fl-pack -o "$dir/empty.flt"
