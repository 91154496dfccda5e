#!/bin/sh
# Remake the checked-in inputs of the hostile corpus (MANIFEST says what
# each one broke).  Inputs too large to check in are made by
# tests/hostile.bats itself.  Run from anywhere: tests/data/hostile/make.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
craft="/usr/bin/python3 $here/../../craft.py"
cd "$here"
$craft -H 'kind=update\nweight=1\ntensor=a f32 [268435456] 0\n' \
    --plen 1073741824 -o claim-1g.flt
$craft -H 'arch=mlp:16777216-127-3\nkind=model\ntensor=fc1.b f32 [127] 0\n' \
    --raw-zeros 512 -o arch-claim-8g.flt
# IDX images whose header claims what never comes: one example of
# 65536 x 65536 bytes (4 GiB), 2^24 examples of 28 x 28, one example of
# 2^28 f32 (1 GiB as read); and the one label the first and last need.
/usr/bin/python3 - <<'PY'
import struct
def idx(name, t, dims):
    open(name, "wb").write(bytes([0, 0, t, len(dims)]) +
                           struct.pack(">%dI" % len(dims), *dims))
idx("idx-claim-4g-images", 0x08, [1, 65536, 65536])
idx("idx-claim-16m-images", 0x08, [1 << 24, 28, 28])
idx("idx-claim-f32-images", 0x0d, [1, 1 << 28])
open("idx-one-label", "wb").write(bytes([0, 0, 8, 1]) + struct.pack(">I", 1) + b"\0")
PY
# A ledger whose second line has a valid check and 2^64 - 1 steps.
/usr/bin/python3 - <<'PY'
import zlib
head = b"# fl-account ledger 1"
rows = [b"release=1 mechanism=gaussian q=0.01 steps=1 noise=1.1",
        b"release=2 mechanism=gaussian q=0.01 steps=18446744073709551615 noise=1.1"]
out, prev = [head], zlib.crc32(head)
for r in rows:
    prev = zlib.crc32(r, prev)
    out.append(r + b" check=%08x" % prev)
open("steps-wrap.ledger", "wb").write(b"\n".join(out) + b"\n")
PY
