#!/usr/bin/env bats
# examples/python/flt.py against libfl: each reads what the other writes,
# both write the same bytes for the same content, and both refuse the same
# damaged records.

load helper

FLT=$TOP/examples/python/flt.py
export FLT PYTHON PYTHONPATH=$TOP/examples/python PYTHONDONTWRITEBYTECODE=1

# Every dtype at its extremes (float text is exact, so strtof/strtod and
# numpy agree bit for bit), a 2-D tensor, a scalar and two zero-size tensors.
SPECS=(
	'f32:f32=0,-0,1.5,-2.25,3.4028234663852886e+38,1.1754943508222875e-38,1.401298464324817e-45,inf,-inf,nan'
	'f64:f64=0,-0,0.1,-1e308,2.2250738585072014e-308,5e-324,1.7976931348623157e+308,-inf,nan'
	'i8:i8=-128,127,0,-1'
	'u8:u8=0,255,1'
	'i16:i16:2x3=-32768,32767,0,-1,1,2'
	'u16:u16=65535,0'
	'i32:i32=-2147483648,2147483647,0'
	'u32:u32=4294967295,0,1'
	'i64:i64=-9223372036854775808,9223372036854775807,0'
	'u64:u64=18446744073709551615,0,9007199254740993'
	'scalar:f64:[]=2.5'
	'empty:f32:[0,3]='
	'none:u64:[0]='
)

# fl-pack arguments for SPECS, plus the same content as a Python expression.
pack_args() {
	local s
	for s in "${SPECS[@]}"; do
		printf -- '-t\0%s\0' "$s"
	done
}

# Python: TENSORS, the SPECS parsed with numpy, and same(a, b), an exact
# comparison (bits, so -0.0 differs from 0.0; any NaN equals any NaN).
cat_specs_py() {
	printf 'SPECS = r"""\n'
	printf '%s\n' "${SPECS[@]}"
	cat <<'EOF'
"""
import numpy as np, flt
DT = {k: np.dtype(v) for k, v in flt.DTYPES.items()}
def parse(spec):
    head, _, vals = spec.partition("=")
    name, dt, *shape = head.split(":")
    vals = [v for v in vals.split(",") if v]
    conv = float if dt[0] == "f" else int
    a = np.array([conv(v) for v in vals], DT[dt])
    if shape:
        s = shape[0].strip("[]")
        dims = [int(d) for d in s.replace("x", ",").split(",") if d]
        a = a.reshape(dims)
    return name, a
TENSORS = dict(parse(s) for s in SPECS.strip().split("\n"))
def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind == "f":
        nan = np.isnan(a)
        if not np.array_equal(nan, np.isnan(b)):
            return False
        a, b = np.where(nan, 0, a), np.where(nan, 0, b)
    return a.tobytes() == b.tobytes()
EOF
}

@test "python: flt.py reads fl-pack records of every dtype exactly" {
	pack_args | xargs -0 fl-pack -m kind=update -m round=7 -m x-note='héllo wörld' -o plain.flt
	pack_args | xargs -0 fl-pack -z -m kind=update -m round=7 -m x-note='héllo wörld' -o z.flt
	{ cat_specs_py; cat <<'EOF'; } > check.py
import sys
for path in sys.argv[1:]:
    recs = list(flt.read_records(open(path, "rb")))
    assert len(recs) == 1, path
    meta, tensors = recs[0]
    assert meta == {"kind": "update", "round": "7", "x-note": "héllo wörld"}, meta
    assert list(tensors) == list(TENSORS), list(tensors)
    for name, want in TENSORS.items():
        assert same(tensors[name], want), (path, name, tensors[name], want)
    assert tensors["scalar"].shape == () and tensors["empty"].shape == (0, 3)
print("ok", len(sys.argv) - 1)
EOF
	run "$PYTHON" check.py plain.flt z.flt
	assert_success
	assert_output "ok 2"
}

@test "python: fl-inspect accepts what flt.py writes, and --dump gives the values back" {
	{ cat_specs_py; cat <<'EOF'; } > write.py
import sys
rng = np.random.default_rng(42)
extra = {"r.f32": rng.standard_normal((3, 5)).astype(np.float32),
         "r.f64": rng.standard_normal(7) * 1e-300,
         "r.i64": rng.integers(-2**63, 2**63 - 1, 6, dtype=np.int64),
         "r.u64": rng.integers(0, 2**64 - 1, 6, dtype=np.uint64),
         "big.endian": np.arange(5, dtype=">i4"),
         "fortran": np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3))}
with open(sys.argv[1], "wb") as f:
    flt.write_record(f, {"kind": "model", "round": 3}, {**TENSORS, **extra})
    flt.write_record(f, {}, {}, compress=True)
    flt.write_record(f, {"kind": "update"}, {**extra, **TENSORS}, compress=True)
EOF
	run "$PYTHON" write.py py.flt
	assert_success
	run fl-inspect --check py.flt
	assert_success
	assert_output ""
	# Each tensor of records 1 and 3, dumped by C, parsed by Python.
	{ cat_specs_py; cat <<'EOF'; } > compare.py
import subprocess, sys
recs = list(flt.read_records(open(sys.argv[1], "rb")))
assert len(recs) == 3 and recs[1] == ({}, {})
n = 0
for meta, tensors in recs[0], recs[2]:
    for name, t in tensors.items():
        out = subprocess.run(["fl-inspect", "--dump", name, sys.argv[1]],
                             capture_output=True, text=True).stdout
        vals = [v for v in out.replace("\n", ",").split(",") if v]
        # --dump prints each tensor of that name in every record: take ours.
        per = t.size
        vals = vals[:per] if meta.get("kind") == "model" else vals[-per:] if per else []
        conv = float if t.dtype.kind == "f" else int
        got = np.array([conv(v) for v in vals], t.dtype.newbyteorder("=")).reshape(t.shape)
        assert same(got, t.astype(t.dtype.newbyteorder("="))), (name, got, t)
        n += 1
print("ok", n)
EOF
	run "$PYTHON" compare.py py.flt
	assert_success
	assert_output "ok $(( 2 * (${#SPECS[@]} + 6) ))"
}

@test "python: flt.py write_record and fl-pack write identical bytes" {
	# A compressible tensor large enough for several deflate blocks (xargs
	# appends the SPECS after it).
	"$PYTHON" -c 'print(",".join(str((i * 7919) % 1000 / 8) for i in range(300000)))' \
	    > long.txt
	meta=(-m round=12 -m kind=update -m a.b=x -m x-note='héllo wörld' -m weight=5120)
	pack_args | xargs -0 fl-pack "${meta[@]}" -t long:f32=@long.txt -o c.flt
	pack_args | xargs -0 fl-pack -z "${meta[@]}" -t long:f32=@long.txt -o cz.flt
	fl-pack -o empty.flt
	fl-pack -z -o emptyz.flt
	{ cat_specs_py; cat <<'EOF'; } > same.py
import io
long = np.array([float(v) for v in open("long.txt").read().split(",")], np.float32)
meta = {"weight": 5120, "x-note": "héllo wörld", "round": "12", "kind": "update", "a.b": "x"}
for path, m, t, z in [("p.flt", meta, {"long": long, **TENSORS}, False),
                      ("pz.flt", meta, {"long": long, **TENSORS}, True),
                      ("pempty.flt", {}, {}, False), ("pemptyz.flt", {}, {}, True)]:
    with open(path, "wb") as f:
        flt.write_record(f, m, t, compress=z)
EOF
	run "$PYTHON" same.py
	assert_success
	cmp c.flt p.flt
	cmp cz.flt pz.flt
	cmp empty.flt pempty.flt
	cmp emptyz.flt pemptyz.flt
	# And a record read by flt.py and written again is unchanged.
	cat c.flt cz.flt empty.flt emptyz.flt > all.flt
	run "$PYTHON" -c '
import flt, io, sys
data = open("all.flt", "rb").read()
out = io.BytesIO()
for i, (m, t) in enumerate(flt.read_records(io.BytesIO(data))):
    flt.write_record(out, m, t, compress=i % 2 == 1)
sys.exit(out.getvalue() != data)'
	assert_success
}

@test "python: concatenated streams, C to Python and Python to C" {
	fl-pack -m round=1 -t a:f32=1,2,3 -o r1.flt
	fl-pack -z -m round=2 -t a:f32=4,5,6 -o r2.flt
	fl-pack -m round=3 -o r3.flt
	run "$PYTHON" -c '
import flt, sys
for meta, t in flt.read_records(sys.stdin.buffer):
    print(meta["round"], [float(v) for v in t.get("a", [])])' < <(cat r1.flt r2.flt r3.flt r1.flt)
	assert_success
	assert_output $'1 [1.0, 2.0, 3.0]\n2 [4.0, 5.0, 6.0]\n3 []\n1 [1.0, 2.0, 3.0]'
	run bash -c 'cat r1.flt r2.flt | "$PYTHON" "$FLT" show -' 
	assert_success
	assert_line --index 0 "-: record 1"
	assert_line "-: record 2"
	run "$PYTHON" -c '
import flt, numpy as np
recs = [({"round": r}, {"a": np.full(r, r, np.int32)}) for r in (1, 2, 3)]
flt.write_file("py.flt", recs[:2])
flt.write_file("pyz.flt", recs[2:], compress=True)'
	assert_success
	run bash -c 'cat py.flt pyz.flt r2.flt | fl-inspect -g round'
	assert_success
	assert_output $'1\n2\n3\n2'
	run bash -c 'cat pyz.flt py.flt | fl-inspect --dump a'
	assert_success
	assert_output $'3\n3\n3\n1\n2\n2'
}

@test "python: .npy and .npz files go in and come out through flt.py" {
	run "$PYTHON" -c '
import numpy as np
np.save("w.npy", np.arange(12, dtype=np.float32).reshape(3, 4) / 4)
np.save("bias.npy", np.array([-1, 2], dtype=">i8"))
np.save("s.npy", np.float64(0.1))'
	assert_success
	run fl-inspect w.npy
	assert_failure 1
	assert_output --partial 'numpy .npy file (convert it with examples/python/flt.py)'
	run "$PYTHON" "$FLT" from-npy -m kind=model m.flt fc.w=w.npy bias.npy s.npy
	assert_success
	run fl-inspect --check m.flt
	assert_success
	run fl-inspect -g kind m.flt
	assert_output model
	run fl-inspect --dump fc.w m.flt
	assert_output $'0,0.25,0.5,0.75\n1,1.25,1.5,1.75\n2,2.25,2.5,2.75'
	run fl-inspect --dump bias m.flt
	assert_output $'-1\n2'
	run "$PYTHON" "$FLT" show m.flt
	assert_success
	assert_output "m.flt: record 1
  kind=model
  tensor fc.w f32 [3,4]
  tensor bias i64 [2]
  tensor s f64 []"
	run "$PYTHON" "$FLT" to-npz m.flt m.npz
	assert_success
	run "$PYTHON" -c '
import numpy as np
d = np.load("m.npz")
assert list(d) == ["fc.w", "bias", "s"], list(d)
for k, f in ("fc.w", "w.npy"), ("bias", "bias.npy"), ("s", "s.npy"):
    a, b = d[k], np.load(f)
    assert a.shape == b.shape and a.dtype.kind == b.dtype.kind and (a == b).all(), k
print("ok")'
	assert_output ok
	# .npz in, compressed, and a multi-record stream needs a record number.
	run "$PYTHON" "$FLT" from-npz -z mz.flt m.npz
	assert_success
	run fl-inspect --json mz.flt
	assert_output --partial '"zlib":true'
	cat m.flt mz.flt > two.flt
	run "$PYTHON" "$FLT" to-npz two.flt x.npz
	assert_failure
	assert_output --partial 'has 2 records'
	run "$PYTHON" "$FLT" to-npz two.flt x.npz 2
	assert_success
}

@test "python: safetensors files convert with flt.py" {
	run "$PYTHON" -c '
import json, struct, numpy as np
w = np.arange(6, dtype="<f4").reshape(2, 3); b = np.array([7, -8], "<i2")
head = {"__metadata__": {"format": "pt"},
        "b": {"dtype": "I16", "shape": [2], "data_offsets": [24, 28]},
        "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}
h = json.dumps(head).encode()
open("m.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + w.tobytes() + b.tobytes())
head["b"]["dtype"] = "BOOL"; h = json.dumps(head).encode()
open("bool.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + w.tobytes() + b.tobytes())'
	assert_success
	run fl-inspect m.safetensors
	assert_failure
	assert_output --partial 'safetensors file (convert it with examples/python/flt.py)'
	run "$PYTHON" "$FLT" from-safetensors m.flt m.safetensors
	assert_success
	run fl-inspect --dump w m.flt
	assert_output $'0,1,2\n3,4,5'
	run fl-inspect --dump b m.flt
	assert_output $'7\n-8'
	run "$PYTHON" "$FLT" from-safetensors x.flt bool.safetensors
	assert_failure 1
	assert_output "flt.py: bool.safetensors: tensor 'b': BOOL has no FLT dtype"
	[ ! -e x.flt ]
}

@test "python: f16 and bf16 through flt.py: numpy float16, flt.BF16, safetensors F16 and BF16" {
	# safetensors as PyTorch writes a half model: F16 and BF16 tensors.
	run "$PYTHON" -c '
import json, struct, numpy as np, flt
h = np.array([0.1, -65504, 6e-8], np.float16)
b = flt.float32_to_bf16(np.array([[0.1, 3.3e38], [-1e-40, 1]], np.float32))
head = {"__metadata__": {"format": "pt"},
        "h": {"dtype": "F16", "shape": [3], "data_offsets": [0, 6]},
        "b": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [6, 14]}}
t = json.dumps(head).encode()
open("half.safetensors", "wb").write(struct.pack("<Q", len(t)) + t + h.tobytes() + b.tobytes())
print(b["bf16"].ravel().tolist())'
	assert_success
	assert_output "[15821, 32632, 32769, 16256]"
	run "$PYTHON" "$FLT" from-safetensors -m kind=model m.flt half.safetensors
	assert_success
	run fl-inspect -d h m.flt
	assert_output $'0.1\n-65504\n6e-08'
	run fl-inspect -d b m.flt
	assert_output $'0.1,3.3e+38\n-9e-41,1'
	run "$PYTHON" "$FLT" show m.flt
	assert_line "  tensor h f16 [3]"
	assert_line "  tensor b bf16 [2,2]"
	# Read back: float16 and BF16 arrays, written again to the same bytes
	# (and to what fl-pack writes); bf16 widens exactly; float32_to_bf16
	# rounds as libfl does (ties to even, NaN kept).
	fl-pack -m kind=model -t h:f16=0.1,-65504,6e-8 -t b:bf16:2x2=0.1,3.3e38,-1e-40,1 -o p.flt
	run "$PYTHON" -c '
import io, flt, numpy as np
(meta, t), = flt.read_records(open("m.flt", "rb"))
assert t["h"].dtype == np.float16 and t["b"].dtype == flt.BF16
f = io.BytesIO(); flt.write_record(f, meta, t)
assert f.getvalue() == open("m.flt", "rb").read() == open("p.flt", "rb").read()
w = flt.bf16_to_float32(t["b"])
assert w.dtype == np.float32 and w[1, 1] == 1 and w[0, 0] == np.float32(0.10009765625)
x = np.array([1 + 2**-8, 1 + 3 * 2**-8, 3.4e38, -0.0, np.nan], np.float32)
assert flt.float32_to_bf16(x)["bf16"].tolist() == [0x3f80, 0x3f82, 0x7f80, 0x8000, 0x7fc0]
print("ok")'
	assert_success
	assert_output ok
	# to-npz keeps both: float16, and BF16 as its structured bits.
	run "$PYTHON" "$FLT" to-npz m.flt m.npz
	assert_success
	run "$PYTHON" -c '
import numpy as np
z = np.load("m.npz")
print(z["h"].dtype, z["b"].dtype.descr)'
	assert_output "float16 [('bf16', '<u2')]"
}

@test "python: flt.py rejects damaged records (checksums, truncation)" {
	fl-pack -m kind=update -t w:f32:2x3=1,2,3,4,5,6 -t b:f32=1,2 -o good.flt
	fl-pack -z -t w:f32=1,2,3 -o goodz.flt
	size=$(wc -c < good.flt)
	# A flipped payload byte, a flipped header byte, cuts at every part.
	"$PYTHON" -c '
import sys
d = bytearray(open("good.flt", "rb").read())
p = bytearray(d); p[-60] ^= 1; open("pcrc.flt", "wb").write(p)
h = bytearray(d); h[40] ^= 0x20; open("hcrc.flt", "wb").write(h)
z = bytearray(open("goodz.flt", "rb").read()); z[70] ^= 4; open("zcrc.flt", "wb").write(z)'
	run "$PYTHON" "$FLT" show pcrc.flt
	assert_failure 1
	assert_output --regexp '^flt.py: pcrc.flt: record 1: payload checksum mismatch \(stored [0-9a-f]{8}, computed [0-9a-f]{8}\)$'
	run "$PYTHON" "$FLT" show hcrc.flt
	assert_failure 1
	assert_output --partial 'record 1: header checksum mismatch'
	run "$PYTHON" "$FLT" show zcrc.flt
	assert_failure 1
	assert_output --partial 'record 1: payload checksum mismatch'
	for cut in 1 31 33 100 $((size - 1)); do
		head -c "$cut" good.flt > cut.flt
		run "$PYTHON" "$FLT" show cut.flt
		assert_failure 1
		assert_output --partial 'record 1: truncated record'
		run fl-inspect --check cut.flt
		assert_failure 1
	done
	# A few bytes that cannot start a record are not a truncated one.
	printf 'hello' > short.flt
	run "$PYTHON" "$FLT" show short.flt
	assert_failure 1
	assert_output 'flt.py: short.flt: record 1: not an FLT record (bad magic)'
	# The first record of a stream is still delivered before the error.
	head -c 100 good.flt | cat good.flt - > tail.flt
	run "$PYTHON" -c '
import flt
it = flt.read_records(open("tail.flt", "rb"))
print(next(it)[0]["kind"])
try:
    next(it)
except ValueError as e:
    print(e)'
	assert_success
	assert_output $'update\nrecord 2: truncated record: header has 68 of 96 bytes'
}

@test "python: flt.py and libfl refuse the same malformed records" {
	# Records with valid checksums that break one rule each.  fl-inspect
	# is the reference: both must say no.
	run "$PYTHON" -c '
import io, struct, zlib, flt, numpy as np

def rec(header, payload, flags=0, version=1, reserved=0, hlen=None, plen=None):
    pre = flt.PREAMBLE.pack(flt.MAGIC, version, flags, reserved,
                            len(header) if hlen is None else hlen,
                            len(payload) if plen is None else plen, zlib.crc32(payload), 0)
    pre = pre[:28] + struct.pack("<I", zlib.crc32(header, zlib.crc32(pre[:28])))
    return pre + header + payload

def hdr(*lines):
    text = b"".join((l if type(l) is bytes else l.encode()) + b"\n" for l in lines)
    return text + b" " * (-(32 + len(text) + 1) % 64) + b"\n"

w = np.arange(3, dtype="<f4").tobytes()
pay = w + bytes(52)
bad = {
    "version": rec(hdr("tensor=w f32 [3] 0"), pay, version=2),
    "flags": rec(hdr("tensor=w f32 [3] 0"), pay, flags=2),
    "reserved": rec(hdr("tensor=w f32 [3] 0"), pay, reserved=1),
    "hlen": rec(hdr("tensor=w f32 [3] 0") + b" ", pay),
    "plen": rec(hdr("tensor=w f32 [3] 0"), pay + bytes(64)),
    "padding": rec(hdr("tensor=w f32 [3] 0"), w + bytes(51) + b"\x01"),
    "offset": rec(hdr("tensor=w f32 [3] 64"), bytes(64) + pay),
    "unsorted": rec(hdr("round=1", "kind=x"), b""),
    "duplicate-key": rec(hdr("kind=x", "kind=x"), b""),
    "duplicate-name": rec(hdr("tensor=w f32 [3] 0", "tensor=w f32 [3] 64"), pay + pay),
    "meta-after-tensor": rec(hdr("tensor=w f32 [3] 0", "zz=1"), pay),
    "f8": rec(hdr("tensor=w f8 [3] 0"), pay),
    "leading-zero": rec(hdr("tensor=w f32 [03] 0"), pay),
    "rank9": rec(hdr("tensor=w f32 [1,1,1,1,1,1,1,1,1] 0"), bytes(64)),
    "blank-line": rec(hdr("kind=x", "", "round=1"), b""),
    "trailing-space": rec(hdr("kind=x "), b""),
    "control-char": rec(hdr("kind=a\tb"), b""),
    "bad-utf8": rec(hdr(b"kind=\xed\xa0\x80"), b""),
    "uppercase-key": rec(hdr("Kind=x"), b""),
    "bad-name": rec(hdr("tensor=-w f32 [3] 0"), pay),
    "no-padding-line": rec(b"kind=x" + b" " * 25 + b"\n", b""),
    "padding-64": rec(hdr("kind=x")[:-1] + b" " * 64 + b"\n", b""),
    "z-trailing": rec(hdr("tensor=w f32 [3] 0"), zlib.compress(pay) + bytes(64 - len(zlib.compress(pay)) % 64) + bytes(64), flags=1),
    "z-junk": rec(hdr("tensor=w f32 [3] 0"), (zlib.compress(pay) + b"\x01").ljust(64, b"\0"), flags=1),
    "z-short": rec(hdr("tensor=w f32 [3] 0"), zlib.compress(w).ljust(64, b"\0"), flags=1),
    "z-long": rec(hdr("tensor=w f32 [3] 0"), zlib.compress(pay + bytes(64)).ljust(64, b"\0"), flags=1),
    "z-empty": rec(hdr("tensor=w f32 [3] 0"), b"", flags=1),
    "z-ratio": rec(hdr("tensor=w f32 [1000000] 0"),
                   zlib.compress(bytes(4000000)).ljust(4096, b"\0")[:64], flags=1),
}
for name, data in bad.items():
    open(f"bad-{name}.flt", "wb").write(data)
    try:
        list(flt.read_records(io.BytesIO(data)))
        print("accepted", name)
    except ValueError as e:
        pass
print(len(bad))'
	assert_success
	assert_output 28
	for f in bad-*.flt; do
		run fl-inspect --check "$f"
		[ "$status" -eq 1 ] || fail "fl-inspect accepts $f"
	done
}

@test "python: flt.py write_record refuses what the format cannot hold" {
	run "$PYTHON" -c '
import io, flt, numpy as np
cases = [({"Bad": "x"}, {}), ({"tensor": "x"}, {}), ({"k": " x"}, {}),
         ({"k": "a\nb"}, {}), ({}, {"-w": np.zeros(1)}), ({}, {"a b": np.zeros(1)}),
         ({}, {"c": np.zeros(2, np.complex64)}), ({}, {"b": np.zeros(2, bool)}),
         ({}, {"v": np.zeros(2, "V2")}), ({}, {"s": np.zeros(2, [("x", "<u2")])}),
         ({}, {"r": np.zeros((1,) * 9)})]
for meta, tensors in cases:
    try:
        flt.write_record(io.BytesIO(), meta, tensors)
        print("accepted", meta, tensors)
    except ValueError:
        pass
print("ok")'
	assert_success
	assert_output ok
}
