#!/usr/bin/env bats
# fl-inspect: the default view, --json, --check, --dump, --get and --diff.
# Records are made with fl-pack; expected statistics are worked out by hand
# for small tensors and with numpy for the rest.

load helper

# The last run's stderr is exactly TEXT / starts with TEXT.
stderr_is() {
	assert_equal "$stderr" "$1"
}

stderr_starts() {
	[[ $stderr == "$1"* ]] ||
	    fail "stderr does not start with '$1'"$'\n'"stderr: $stderr"
}

# crcs FILE [N]: the pcrc and hcrc of record N (default 1) of FILE as
# fl-inspect prints them, computed by Python from the bytes.
crcs() {
	"$PYTHON" - "$1" "${2:-1}" <<'EOF'
import struct, sys, zlib
f = open(sys.argv[1], "rb")
for _ in range(int(sys.argv[2])):
    pre = f.read(32)
    hlen, plen = struct.unpack("<IQ", pre[12:24])
    header, payload = f.read(hlen), f.read(plen)
print("pcrc %08x  hcrc %08x" % (zlib.crc32(payload), zlib.crc32(pre[:28] + header)))
EOF
}

# A small record whose statistics are easy to work out by hand:
#   w = [[1, -2], [0, nan]]: finite 1, -2, 0; mean -1/3;
#     std = sqrt(((4/3)^2 + (5/3)^2 + (1/3)^2) / 3) = sqrt(14)/3 = 1.24722;
#     l2 = sqrt(5) = 2.23607; one zero, one non-finite.
#   b = [-5, 0, 7]: mean 2/3; std = sqrt(218/9) = 4.92161;
#     l2 = sqrt(74) = 8.60233; one zero.
small() {
	fl-pack -m kind=update -m round=3 -t w:f32:2x2=1,-2,0,nan \
	    -t b:i16=-5,0,7 > "${1:-small.flt}"
}

# ---- the default view ----

@test "the default view: preamble, metadata and per-tensor statistics" {
	small
	run -0 --separate-stderr fl-inspect small.flt
	assert_equal "$stderr" ""
	assert_output - <<EOF
small.flt: record 1: 256 bytes at offset 0
  version 1  flags 0x00  header 96  payload 128  $(crcs small.flt)
  kind=update
  round=3
  tensor dtype shape min max      mean     std      l2 zeros nonfinite
  w      f32   [2,2]  -2   1 -0.333333 1.24722 2.23607     1         1
  b      i16   [3]    -5   7  0.666667 4.92161 8.60233     1         0
EOF
}

@test "the default view of several records: numbered per file, with offsets" {
	small
	fl-pack -t x:u8=1 > one.flt
	cat small.flt one.flt > two.flt
	run -0 --separate-stderr fl-inspect two.flt one.flt
	assert_line --index 0 'two.flt: record 1: 256 bytes at offset 0'
	assert_line 'two.flt: record 2: 128 bytes at offset 256'
	assert_line "  version 1  flags 0x00  header 32  payload 64  $(crcs two.flt 2)"
	assert_line 'one.flt: record 1: 128 bytes at offset 0'
	run -0 --separate-stderr fl-inspect < two.flt
	assert_line --index 0 '<stdin>: record 1: 256 bytes at offset 0'
}

@test "a zlib record shows its flag and raw size, and the same statistics" {
	small
	fl-pack -z -m kind=update -m round=3 -t w:f32:2x2=1,-2,0,nan \
	    -t b:i16=-5,0,7 > z.flt
	run -0 --separate-stderr fl-inspect z.flt
	[[ ${lines[1]} == "  version 1  flags 0x01  header 96  payload "*" (zlib, 128 raw)  $(crcs z.flt)" ]] ||
	    fail "preamble line: ${lines[1]}"
	assert_equal "$(fl-inspect z.flt | tail -n 3)" \
	    "$(fl-inspect small.flt | tail -n 3)"
}

@test "a metadata-only record has no tensor table" {
	fl-pack -m kind=account -m eps=0.5 > m.flt
	run -0 --separate-stderr fl-inspect m.flt
	assert_output - <<EOF
m.flt: record 1: 64 bytes at offset 0
  version 1  flags 0x00  header 32  payload 0  $(crcs m.flt)
  eps=0.5
  kind=account
EOF
}

@test "integer extremes are exact: u64 max, i64 min" {
	fl-pack -t u:u64=0,18446744073709551615 -t i:i64=-9223372036854775808,5 > x.flt
	run -0 --separate-stderr fl-inspect x.flt
	assert_line --regexp '^  u +u64 +\[2\] +0 +18446744073709551615 '
	assert_line --regexp '^  i +i64 +\[2\] +-9223372036854775808 +5 '
	run -0 "$PYTHON" -c '
import json, sys
r = json.loads(sys.stdin.readline())
print([(t["min"], t["max"]) for t in r["tensors"]])' < <(fl-inspect --json x.flt)
	assert_output '[(0, 18446744073709551615), (-9223372036854775808, 5)]'
}

# ---- non-finite values ----

@test "statistics cover the finite values; nan and inf are counted" {
	fl-pack -t x:f32=nan,1,3,inf,-inf -t y:f64=nan,nan -t z:f64= > n.flt
	run -0 --separate-stderr fl-inspect n.flt
	# x: finite 1, 3: mean 2, std 1, l2 sqrt(10) = 3.16228.
	assert_line --regexp '^  x +f32 +\[5\] +1 +3 +2 +1 +3\.16228 +0 +3$'
	# y: no finite value: no min or max, no mean.
	assert_line --regexp '^  y +f64 +\[2\] +- +- +nan +nan +nan +0 +2$'
	# z: no values at all; its L2 norm is 0.
	assert_line --regexp '^  z +f64 +\[0\] +- +- +nan +nan +0 +0 +0$'
	run -0 "$PYTHON" -c '
import json, sys
r = json.loads(sys.stdin.readline())
for t in r["tensors"]:
    print(t["name"], t["min"], t["max"], t["mean"], t["std"], t["l2"], t["zeros"], t["nonfinite"])
' < <(fl-inspect --json n.flt)
	assert_output - <<'EOF'
x 1 3 2 1 3.1622776601683795 0 3
y None None None None None 0 2
z None None None None 0 0 0
EOF
}

@test "statistics of huge finite values are finite (no overflow inside)" {
	fl-pack -t a:f64=1e200,1e200 -t b:f64=1e308,1e308 -t c:f64=1e308,-1e308 \
	    -t d:f32=3e38,3e38 > h.flt
	run -0 "$PYTHON" -c '
import json, math, struct, sys
r = json.loads(sys.stdin.readline())
t = {x["name"]: x for x in r["tensors"]}
want = [("a", "l2", math.sqrt(2) * 1e200), ("a", "std", 0.0),
        ("b", "mean", 1e308), ("b", "l2", math.sqrt(2) * 1e308),
        ("c", "mean", 0.0), ("c", "std", 1e308),
        ("d", "l2", math.sqrt(2) * struct.unpack("<f", struct.pack("<f", 3e38))[0])]
for name, key, v in want:
    got = t[name][key]
    if got is None or not math.isclose(got, v, rel_tol=1e-6, abs_tol=1e-300):
        print("%s %s: got %s, want %.17g" % (name, key, got, v))
' < <(fl-inspect --json h.flt)
	assert_output ''
}

# ---- --json ----

@test "--json: one valid JSON object per record, the same numbers numpy gets" {
	fl-pack -m kind=update -m 'x-q=say "hi" \ there' \
	    -t a:f32:3x4=0.1,-2,3.5,1e-3,7,0,0,-0,nan,inf,2.25,-1e10 \
	    -t b:f64=0.30000000000000004,-1,1e-300,4 -t c:i8=-128,127,0 \
	    -t d:u8=0,255,3 -t e:i16=-32768,3 -t f:u16=65535,1 \
	    -t g:i32=-2147483648,2147483647 -t h:u32=4294967295,0 \
	    -t i:i64=-9223372036854775808,9223372036854775807,-1 \
	    -t j:u64=18446744073709551615,1 -t 's:f64:[]=-7.5' > r1.flt
	fl-pack -z -t a:f32:2x2=1,2,3,4 > r2.flt
	cat r1.flt r2.flt > all.flt
	fl-inspect --json all.flt > out.json
	fl-inspect all.flt > out.txt
	run -0 "$PYTHON" - all.flt out.json out.txt <<'EOF'
import json, math, struct, sys, zlib
import numpy as np
DT = {"f32": "<f4", "f64": "<f8", "i8": "i1", "u8": "u1", "i16": "<i2",
      "u16": "<u2", "i32": "<i4", "u32": "<u4", "i64": "<i8", "u64": "<u8"}
bad = []
def check(what, got, want):
    if isinstance(want, float) and isinstance(got, (int, float)):
        if math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-300):
            return
    elif got == want:
        return
    bad.append("%s: got %r, want %r" % (what, got, want))
def g6(v):  # the text view's number format (C's %.6g)
    return "nan" if v is None else "%.6g" % v
f = open(sys.argv[1], "rb")
docs = [json.loads(line) for line in open(sys.argv[2])]  # valid JSON
text = open(sys.argv[3]).read().splitlines()
rows = {}
for line in text:
    cols = line.split()
    if line.startswith("  ") and len(cols) == 10 and cols[0] != "tensor":
        rows.setdefault(cols[0], []).append(cols)
offset = 0
for n, doc in enumerate(docs, 1):
    pre = f.read(32)
    _, ver, flags, _, hlen, plen, pcrc, hcrc = struct.unpack("<8sBBHIQII", pre)
    header, payload = f.read(hlen), f.read(plen)
    raw = zlib.decompress(payload) if flags & 1 else payload
    check("record", doc["record"], n)
    check("file", doc["file"], sys.argv[1])
    check("offset", doc["offset"], offset)
    check("size", doc["size"], 32 + hlen + plen)
    offset += 32 + hlen + plen
    for k, v in [("version", ver), ("flags", flags), ("zlib", bool(flags & 1)),
                 ("header_bytes", hlen), ("payload_bytes", plen),
                 ("raw_bytes", len(raw)), ("pcrc", "%08x" % zlib.crc32(payload)),
                 ("hcrc", "%08x" % zlib.crc32(pre[:28] + header))]:
        check("record %d %s" % (n, k), doc[k], v)
    meta, tensors = {}, []
    for line in header.decode().splitlines():
        key, _, val = line.strip().partition("=")
        if key == "tensor":
            tensors.append(val.split(" "))
        elif key:
            meta[key] = val
    check("meta", doc["meta"], meta)
    check("tensor count", len(doc["tensors"]), len(tensors))
    for t, (name, dt, shape, off) in zip(doc["tensors"], tensors):
        dims = [int(d) for d in shape.strip("[]").split(",") if d]
        a = np.frombuffer(raw, DT[dt], int(np.prod(dims)), int(off))
        w = "%s %s" % (n, name)
        check(w + " name", t["name"], name)
        check(w + " dtype", t["dtype"], dt)
        check(w + " shape", t["shape"], dims)
        check(w + " numel", t["numel"], a.size)
        check(w + " offset", t["offset"], int(off))
        check(w + " bytes", t["bytes"], a.nbytes)
        if dt[0] == "f":
            fin = a[np.isfinite(a)].astype(np.float64)
            check(w + " min", t["min"], float(fin.min()))
            check(w + " max", t["max"], float(fin.max()))
        else:
            fin = a
            check(w + " min", t["min"], int(a.min()))
            check(w + " max", t["max"], int(a.max()))
        x = [float(v) for v in fin.tolist()]
        mean = math.fsum(x) / len(x)
        check(w + " mean", t["mean"], mean)
        check(w + " std", t["std"], math.sqrt(math.fsum((v - mean) ** 2 for v in x) / len(x)))
        check(w + " l2", t["l2"], math.sqrt(math.fsum(v * v for v in x)))
        check(w + " zeros", t["zeros"], int(np.count_nonzero(fin == 0)))
        check(w + " nonfinite", t["nonfinite"], a.size - fin.size)
        # The text view shows the same numbers.
        row = rows[name].pop(0)
        ext = (lambda v: str(v)) if dt[0] != "f" else g6
        want = [name, dt, shape, ext(t["min"]), ext(t["max"]), g6(t["mean"]),
                g6(t["std"]), g6(t["l2"]), str(t["zeros"]), str(t["nonfinite"])]
        check(w + " text row", row, want)
check("records", len(docs), 2)
check("end of file", f.read(), b"")
print("\n".join(bad))
EOF
	assert_output ''
	# The metadata value with quotes and a backslash is escaped right.
	run -0 "$PYTHON" -c 'import json,sys; print(json.loads(sys.stdin.readline())["meta"]["x-q"])' < out.json
	assert_output 'say "hi" \ there'
}

@test "--json is valid for json.tool, one line per record" {
	small
	cat small.flt small.flt > two.flt
	run -0 --separate-stderr fl-inspect --json two.flt
	assert_equal "${#lines[@]}" 2
	run -0 "$PYTHON" -m json.tool < <(fl-inspect --json small.flt)
}

# ---- --check ----

@test "--check: silent and exit 0 for valid records" {
	small
	fl-pack -z -t x:f32=1 > z.flt
	run -0 --separate-stderr fl-inspect --check small.flt z.flt
	assert_output ''
	assert_equal "$stderr" ""
	run -0 --separate-stderr fl-inspect -c < small.flt
	assert_output ''
	run -0 --separate-stderr fl-inspect -c < /dev/null
	assert_output ''
}

@test "--check: exit 1 for an invalid record, a message on stderr only" {
	small
	head -c 200 small.flt > cut.flt
	run -1 --separate-stderr fl-inspect --check small.flt cut.flt
	assert_output ''
	stderr_is "fl-inspect: cut.flt: record 1: truncated record: payload has 72 of 128 bytes"
}

# ---- damaged input among good ----

@test "a corrupt record among several: the valid ones are reported, exit 1" {
	small
	fl-pack -t x:u8=1 > one.flt
	cat one.flt small.flt > bad.flt
	# Flip a payload byte of record 2 (at 128 + 32 + 96 + 1).
	printf '\377' | dd of=bad.flt bs=1 seek=257 conv=notrunc 2>/dev/null
	run -1 --separate-stderr fl-inspect small.flt bad.flt one.flt
	assert_line 'small.flt: record 1: 256 bytes at offset 0'
	assert_line 'bad.flt: record 1: 128 bytes at offset 0'
	refute_line --partial 'bad.flt: record 2'
	assert_line 'one.flt: record 1: 128 bytes at offset 0'
	stderr_starts "fl-inspect: bad.flt: record 2: payload checksum mismatch"
	assert_equal "${#stderr_lines[@]}" 1
}

@test "damaged input: each kind named with its file and record" {
	small
	head -c 20 small.flt > pre.flt
	cat small.flt pre.flt > cut2.flt
	run -1 --separate-stderr fl-inspect cut2.flt
	stderr_is "fl-inspect: cut2.flt: record 2: truncated record: preamble has 20 of 32 bytes"
	head -c 100 small.flt > cuth.flt
	run -1 --separate-stderr fl-inspect cuth.flt
	stderr_is "fl-inspect: cuth.flt: record 1: truncated record: header has 68 of 96 bytes"
	cp small.flt hdr.flt
	printf 'K' | dd of=hdr.flt bs=1 seek=32 conv=notrunc 2>/dev/null
	run -1 --separate-stderr fl-inspect hdr.flt
	stderr_starts "fl-inspect: hdr.flt: record 1: "
	gzip -c small.flt > small.flt.gz
	run -1 --separate-stderr fl-inspect small.flt.gz
	stderr_starts "fl-inspect: small.flt.gz: record 1: not an FLT record"
	assert_equal "${#stderr_lines[@]}" 1
}

@test "FL_MAX_PAYLOAD caps the payload a record may have" {
	fl-pack -t x:f32:1000=@<(seq 1000) > big.flt
	run -1 --separate-stderr env FL_MAX_PAYLOAD=1000 fl-inspect --check big.flt
	stderr_starts "fl-inspect: big.flt: record 1: "
	run -0 env FL_MAX_PAYLOAD=4096 fl-inspect --check big.flt
	run -1 --separate-stderr env FL_MAX_PAYLOAD=lots fl-inspect --check big.flt
	stderr_is "fl-inspect: invalid FL_MAX_PAYLOAD 'lots': not a whole number"
}

# ---- --dump ----

@test "--dump: a vector one value per line" {
	fl-pack -t v:f32=0.1,-0,1e-45,nan,-inf,3 > v.flt
	run -0 --separate-stderr fl-inspect --dump v v.flt
	assert_output "$(printf '%s\n' 0.1 -0 1e-45 nan -inf 3)"
	run -0 --separate-stderr fl-inspect -d v < v.flt
	assert_output "$(printf '%s\n' 0.1 -0 1e-45 nan -inf 3)"
}

@test "--dump: a matrix as CSV rows, higher ranks by rows of the last dimension" {
	fl-pack -t m:f64:2x3=1.5,2,3,4,5,6.25 -t c:i32:2x2x2=1,2,3,4,5,6,7,8 \
	    -t r:u8:1x4=9,8,7,6 > m.flt
	run -0 --separate-stderr fl-inspect --dump m m.flt
	assert_output $'1.5,2,3\n4,5,6.25'
	run -0 --separate-stderr fl-inspect --dump c m.flt
	assert_output $'1,2\n3,4\n5,6\n7,8'
	run -0 --separate-stderr fl-inspect --dump r m.flt
	assert_output '9,8,7,6'
}

@test "--dump: a scalar" {
	fl-pack -t 's:f64:[]=-2.5' -t 't:u64:[]=18446744073709551615' > s.flt
	run -0 --separate-stderr fl-inspect --dump s s.flt
	assert_output -- -2.5
	run -0 --separate-stderr fl-inspect --dump t s.flt
	assert_output 18446744073709551615
}

@test "--dump: integers exactly, every dtype" {
	fl-pack -t a:u64=18446744073709551615,9007199254740993,0 \
	    -t b:i64=-9223372036854775808,9223372036854775807,-9007199254740993 \
	    -t c:i8=-128,127 -t d:u32=4294967295 -t e:i32=-2147483648 \
	    -t f:u16=65535 -t g:i16=-32768 -t h:u8=255 > i.flt
	run -0 fl-inspect -d a i.flt
	assert_output $'18446744073709551615\n9007199254740993\n0'
	run -0 fl-inspect -d b i.flt
	assert_output $'-9223372036854775808\n9223372036854775807\n-9007199254740993'
	run -0 fl-inspect -d c i.flt
	assert_output $'-128\n127'
	assert_equal "$(fl-inspect -d d i.flt) $(fl-inspect -d e i.flt)" \
	    "4294967295 -2147483648"
	assert_equal "$(fl-inspect -d f i.flt) $(fl-inspect -d g i.flt) $(fl-inspect -d h i.flt)" \
	    "65535 -32768 255"
}

@test "--dump: every record of the stream in turn" {
	fl-pack -t x:i8=1,2 > a.flt
	fl-pack -t x:i8:1x3=3,4,5 > b.flt
	run -0 --separate-stderr fl-inspect -d x a.flt b.flt
	assert_output $'1\n2\n3,4,5'
}

@test "--dump: a missing tensor is an error naming file and record; others still print" {
	fl-pack -t x:i8=1 > a.flt
	fl-pack -t y:i8=2 > b.flt
	cat a.flt b.flt a.flt > s.flt
	run -1 --separate-stderr fl-inspect --dump x s.flt
	assert_output $'1\n1'
	stderr_is "fl-inspect: s.flt: record 2: no tensor 'x'"
	run -1 --separate-stderr fl-inspect --dump nope < a.flt
	assert_output ''
	stderr_is "fl-inspect: <stdin>: record 1: no tensor 'nope'"
}

# ---- --get ----

@test "--get: the value of a key, one line per record" {
	fl-pack -m kind=update -m round=3 > a.flt
	fl-pack -m kind=model -m 'x-note=a b = c' > b.flt
	run -0 --separate-stderr fl-inspect --get kind a.flt b.flt
	assert_output $'update\nmodel'
	run -0 --separate-stderr fl-inspect -g x-note < b.flt
	assert_output 'a b = c'
}

@test "--get: a missing key is an error naming file and record; others still print" {
	fl-pack -m kind=update -m round=3 > a.flt
	fl-pack -m kind=model > b.flt
	run -1 --separate-stderr fl-inspect --get round a.flt b.flt a.flt
	assert_output $'3\n3'
	stderr_is "fl-inspect: b.flt: record 1: no metadata key 'round'"
}

# ---- --diff ----

@test "--diff: identical streams differ by zero" {
	small
	cat small.flt small.flt > two.flt
	cp two.flt copy.flt
	run -0 --separate-stderr fl-inspect --diff two.flt copy.flt
	assert_output - <<'EOF'
record 1: tensor w: max abs 0, max rel 0
record 1: tensor b: max abs 0, max rel 0
record 2: tensor w: max abs 0, max rel 0
record 2: tensor b: max abs 0, max rel 0
EOF
	assert_equal "$stderr" ""
}

@test "--diff: a known difference gives the right max abs and max rel" {
	# |1-1| = 0, |2-2.5| = 0.5 (rel 0.5/2.5 = 0.2), |4-3| = 1 (rel 1/4).
	fl-pack -t x:f64=1,2,4 -t n:i32=10,-20 > a.flt
	fl-pack -t x:f64=1,2.5,3 -t n:i32=10,-25 > b.flt
	run -0 --separate-stderr fl-inspect --diff a.flt b.flt
	assert_output - <<'EOF'
record 1: tensor x: max abs 1, max rel 0.25
record 1: tensor n: max abs 5, max rel 0.2
EOF
	run -0 --separate-stderr fl-inspect --diff --json a.flt b.flt
	assert_output - <<'EOF'
{"record":1,"tensor":"x","max_abs":1,"max_rel":0.25}
{"record":1,"tensor":"n","max_abs":5,"max_rel":0.2}
EOF
	run -0 "$PYTHON" -c 'import json, sys; [json.loads(l) for l in sys.stdin]' \
	    < <(fl-inspect --diff --json a.flt b.flt)
}

@test "--diff: metadata differences are listed" {
	fl-pack -m kind=update -m round=3 -t x:f32=1 > a.flt
	fl-pack -m kind=model -m x-new=1 -t x:f32=1 > b.flt
	run -0 --separate-stderr fl-inspect --diff a.flt b.flt
	assert_output - <<'EOF'
record 1: meta kind: 'update' vs 'model'
record 1: meta round: '3' vs (absent)
record 1: meta x-new: (absent) vs '1'
record 1: tensor x: max abs 0, max rel 0
EOF
	run -0 --separate-stderr fl-inspect --diff -j a.flt b.flt
	assert_line --index 1 '{"record":1,"meta":"round","a":"3","b":null}'
}

@test "--diff --tolerance: passes at or below it, fails above it" {
	fl-pack -t x:f64=1,2,4 > a.flt
	fl-pack -t x:f64=1,2.5,3 > b.flt
	run -0 --separate-stderr fl-inspect --diff --tolerance 1 a.flt b.flt
	assert_equal "$stderr" ""
	run -0 --separate-stderr fl-inspect --diff --tolerance=2.5 a.flt b.flt
	run -1 --separate-stderr fl-inspect --diff --tolerance 0.5 a.flt b.flt
	# The report is still printed; stderr says which tensor and by how much.
	assert_output 'record 1: tensor x: max abs 1, max rel 0.25'
	[[ $stderr == "fl-inspect: a.flt: record 1: tensor 'x' differs from b.flt by 1, above the tolerance 0.5" ]] ||
	    fail "stderr: $stderr"
	run -0 --separate-stderr fl-inspect --diff --tolerance 0 a.flt a.flt
}

@test "--diff: NaN equals NaN; NaN against a number is an infinite difference" {
	fl-pack -t x:f32=nan,1,inf > a.flt
	fl-pack -t x:f32=nan,1,inf > b.flt
	fl-pack -t x:f32=1,1,inf > c.flt
	run -0 --separate-stderr fl-inspect --diff --tolerance 0 a.flt b.flt
	assert_output 'record 1: tensor x: max abs 0, max rel 0'
	run -1 --separate-stderr fl-inspect --diff --tolerance 1e300 a.flt c.flt
	assert_output 'record 1: tensor x: max abs inf, max rel inf'
}

@test "--diff: integers are compared exactly (u64, i64 near their limits)" {
	fl-pack -t x:u64=18446744073709551615,5 > a.flt
	fl-pack -t x:u64=18446744073709551614,5 > b.flt
	run -1 --separate-stderr fl-inspect --diff --tolerance 0 a.flt b.flt
	assert_output 'record 1: tensor x: max abs 1, max rel 5.42101e-20'
	fl-pack -t x:i64=-9223372036854775808 > c.flt
	fl-pack -t x:i64=-9223372036854775807 > d.flt
	run -1 --separate-stderr fl-inspect --diff --tolerance 0 c.flt d.flt
	assert_output 'record 1: tensor x: max abs 1, max rel 1.0842e-19'
}

@test "--diff: a dtype or shape mismatch is an error naming the tensor" {
	fl-pack -t w:f32:2x2=1,2,3,4 -t b:f32=1 > a.flt
	fl-pack -t w:f64:2x2=1,2,3,4 -t b:f32=1 > b.flt
	fl-pack -t w:f32:4=1,2,3,4 -t b:f32=1 > c.flt
	run -1 --separate-stderr fl-inspect --diff a.flt b.flt
	assert_output 'record 1: tensor b: max abs 0, max rel 0'
	[[ $stderr == "fl-inspect: a.flt: record 1: tensor 'w' is f32 [2,2], in b.flt f64 [2,2]" ]] ||
	    fail "stderr: $stderr"
	run -1 --separate-stderr fl-inspect --diff a.flt c.flt
	[[ $stderr == "fl-inspect: a.flt: record 1: tensor 'w' is f32 [2,2], in c.flt f32 [4]" ]] ||
	    fail "stderr: $stderr"
}

@test "--diff: a tensor in one stream only is an error" {
	fl-pack -t w:f32=1 -t b:f32=1 > a.flt
	fl-pack -t w:f32=1 > b.flt
	run -1 --separate-stderr fl-inspect --diff a.flt b.flt
	assert_output 'record 1: tensor w: max abs 0, max rel 0'
	stderr_is "fl-inspect: b.flt: record 1: no tensor 'b' (it is in a.flt)"
	run -1 --separate-stderr fl-inspect --diff b.flt a.flt
	stderr_is "fl-inspect: b.flt: record 1: no tensor 'b' (it is in a.flt)"
}

@test "--diff: different record counts are an error" {
	fl-pack -t x:f32=1 > one.flt
	cat one.flt one.flt > two.flt
	run -1 --separate-stderr fl-inspect --diff one.flt two.flt
	assert_output 'record 1: tensor x: max abs 0, max rel 0'
	stderr_is "fl-inspect: two.flt: record 2: one.flt has no record 2"
	run -1 --separate-stderr fl-inspect --diff two.flt one.flt
	stderr_is "fl-inspect: two.flt: record 2: one.flt has no record 2"
	run -1 --separate-stderr fl-inspect --diff one.flt /dev/null
	stderr_is "fl-inspect: one.flt: record 1: /dev/null has no record 1"
}

@test "--diff: a missing or damaged input is an error" {
	fl-pack -t x:f32=1 > one.flt
	run -1 --separate-stderr fl-inspect --diff one.flt nope.flt
	stderr_is "fl-inspect: nope.flt: No such file or directory"
	head -c 50 one.flt > cut.flt
	run -1 --separate-stderr fl-inspect --diff cut.flt one.flt
	stderr_starts "fl-inspect: cut.flt: record 1: truncated record"
	run -0 --separate-stderr fl-inspect --diff one.flt - < one.flt
}

# ---- usage ----

# usage_error ARGS...: fl-inspect ARGS is a usage error (exit 2) whose first
# line is $want, then the usage and the hint.
usage_error() {
	run -2 --separate-stderr fl-inspect "$@"
	assert_output ''
	assert_equal "${stderr_lines[0]}" "fl-inspect: $want"
	assert_equal "${stderr_lines[1]}" \
	    "usage: fl-inspect [-c | -j | -d name | -g key | --privacy] [-o file]"
	assert_equal "${stderr_lines[-1]}" \
	    "Try 'fl-inspect --help' for more information."
}

@test "--check, --dump, --diff, --get and --privacy are mutually exclusive (exit 2)" {
	small
	want="--check, --dump, --diff, --get and --privacy are mutually exclusive"
	usage_error --privacy -c small.flt
	usage_error -c -d w small.flt
	usage_error -d w -g kind small.flt
	usage_error --diff -c small.flt small.flt
	usage_error -g kind --diff small.flt small.flt
	usage_error -c -c small.flt
}

@test "--json goes only with the default view or --diff (exit 2)" {
	small
	want="--json goes with the default view or --diff"
	usage_error -j -c small.flt
	usage_error -j -d w small.flt
	usage_error -j -g kind small.flt
}

@test "--tolerance needs --diff; --diff needs exactly two inputs (exit 2)" {
	small
	want="--tolerance needs --diff"
	usage_error --tolerance 1 small.flt
	want="--diff compares exactly two inputs"
	usage_error --diff small.flt
	usage_error --diff
	usage_error --diff small.flt small.flt small.flt
}

@test "a bad --tolerance value is named in the message" {
	small
	for t in abc -1 nan inf 1e400 ''; do
		run --separate-stderr fl-inspect --diff --tolerance "$t" small.flt small.flt
		assert_equal "$status" 1
		stderr_starts "fl-inspect: invalid --tolerance '$t': "
	done
}

@test "no input at all is an empty stream: nothing to show, exit 0" {
	run -0 --separate-stderr fl-inspect < /dev/null
	assert_output ''
	assert_equal "$stderr" ""
}

@test "--privacy: what protects each key and tensor once the record leaves a device" {
	fl-pack -m kind=update -m round=3 -m weight=120 -m loss=0.5 -m x-note=hi \
	    -t w:f32=1,2 -o u.flt
	run -0 fl-inspect --privacy u.flt
	assert_line --index 0 "u.flt: record 1: privacy"
	assert_line --regexp '^  kind +public$'
	assert_line --regexp "^  weight +IN CLEAR: the client's example count"
	assert_line --regexp "^  loss +IN CLEAR: the client's training loss"
	assert_line --regexp '^  x-note +IN CLEAR: may depend on the data$'
	assert_line --regexp '^  tensor w +not noised, IN CLEAR$'
	# Clipped and noised: weight and loss dropped, the tensor noised.
	fl-clip-noise -c 1 -n 1 --indicator u.flt 2> /dev/null > n.flt
	run -0 fl-inspect --privacy n.flt
	refute_line --regexp '^  (weight|loss) '
	assert_line --regexp '^  x-note +IN CLEAR: may depend on the data$'
	assert_line --regexp '^  tensor w +noised \(gaussian\)$'
	# Unmasked, the indicator is one client's exact bit.
	assert_line --regexp '^  tensor clip.indicator +noised by the server after the sum \(--adapt\), IN CLEAR$'
	# One client's share of distributed noise is private only once summed.
	fl-clip-noise -c 1 -n 1 --shares 10 u.flt > s.flt
	run -0 fl-inspect --privacy s.flt
	assert_line --regexp '^  tensor w +noised \(gaussian\), a 1/10 share: weak until masked$'
	# DP-SGD's rate gives away the data set's size.
	fl-pack -m kind=update -m dp.mechanism=gaussian -m dp.q=0.004 -t w:f32=0 -o sgd.flt
	run -0 fl-inspect --privacy sgd.flt
	assert_line --regexp '^  dp.q +IN CLEAR: DP-SGD.s sampling rate gives away the example count \(fl-train --rate makes it public\)$'
	# At a public rate (fl-train --rate) the rate and the steps are public.
	fl-pack -m kind=update -m dp.mechanism=gaussian -m dp.q=0.004 \
	    -m dp.steps=250 -m dp.rate=public -t w:f32=0 -o pub.flt
	run -0 fl-inspect --privacy pub.flt
	assert_line --regexp '^  dp.q +public$'
	assert_line --regexp '^  dp.steps +public$'
	run -2 fl-inspect --privacy -g kind u.flt
}
