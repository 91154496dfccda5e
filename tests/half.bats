#!/usr/bin/env bats
# f16 and bf16 (flt(5)): as text in and out, against numpy, through every
# program that computes (each compared with the same values held as f32, an
# f16 or bf16 record's exact "twin"), and hostile records.

load helper
load learn

export PYTHONPATH=$TOP/examples/python PYTHONDONTWRITEBYTECODE=1

# py SCRIPT ARGS...: the system python with numpy and flt.py.
py() {
	"$PYTHON" -c "$@"
}

# twin IN OUT: IN with its f16 and bf16 tensors widened to f32 (exactly).
twin() {
	py '
import sys, flt, numpy as np
out = []
for meta, ts in flt.read_records(open(sys.argv[1], "rb")):
    out.append((meta, {k: flt.bf16_to_float32(v) if v.dtype == flt.BF16 else
                       v.astype("<f4") if v.dtype == np.float16 else v
                       for k, v in ts.items()}))
flt.write_file(sys.argv[2], out)' "$1" "$2"
}

# rounded WIDE HALF: every f16 or bf16 tensor of HALF is the tensor of the
# same name in WIDE (f32) rounded to nearest by numpy (bf16: by the bits),
# bit for bit; prints the number of values compared.
rounded() {
	py '
import sys, flt, numpy as np
(_, w), = flt.read_records(open(sys.argv[1], "rb"))
(_, h), = flt.read_records(open(sys.argv[2], "rb"))
n = 0
for k, v in h.items():
    if v.dtype not in (np.float16, flt.BF16):
        continue
    assert w[k].dtype == np.float32, (k, w[k].dtype)
    want = flt.float32_to_bf16(w[k]) if v.dtype == flt.BF16 else w[k].astype(np.float16)
    got, want = v.view("<u2").reshape(-1), want.view("<u2").reshape(-1)
    bad = np.nonzero(got != want)[0]
    assert not len(bad), (k, bad[:5], got[bad[:5]], want[bad[:5]])
    n += v.size
print(n)' "$1" "$2"
}

# An f16 update and a bf16 one (with an f32 tensor beside), their twins.
make_updates() {
	local i
	for i in 1 2 3 4 5; do
		py '
import sys, flt, numpy as np
i = int(sys.argv[1])
r = np.random.default_rng(i)
w = (r.standard_normal((6, 50)) * 2.0 ** r.integers(-6, 3, (6, 50)))
b = r.standard_normal(7)
flt.write_file(f"h{i}.flt", [({"kind": "update", "round": 4, "client": f"c{i}",
    "weight": 10 * i}, {"w": w.astype(np.float16), "b": b.astype("<f4")})])
flt.write_file(f"g{i}.flt", [({"kind": "update", "round": 4, "client": f"c{i}",
    "weight": 10 * i}, {"w": flt.float32_to_bf16(w), "b": b.astype("<f4")})])' "$i"
		twin "h$i.flt" "h$i-32.flt"
		twin "g$i.flt" "g$i-32.flt"
	done
}

@test "half: fl-pack and fl-inspect: values as text in and out, dtype kept" {
	fl-pack -m kind=update -t 'w:f16:2x3=0.1,-2.5,65504,6e-8,-0,nan' \
	    -t 'b:bf16=0.1,3.39e38,-inf,1e-40' -t 'c:f32=1' -o a.flt
	run fl-inspect -d w a.flt
	assert_success
	assert_output $'0.1,-2.5,65504\n6e-08,-0,nan'
	run fl-inspect -d b a.flt
	assert_output $'0.1\n3.39e+38\n-inf\n9e-41'
	run fl-inspect a.flt
	assert_line --regexp '^  w +f16 +\[2,3\] +-2\.5 +65504 '
	assert_line --regexp '^  b +bf16 +\[4\] '
	run fl-inspect --json a.flt
	assert_output --partial '"name":"w","dtype":"f16","shape":[2,3],"numel":6,"offset":0,"bytes":12,'
	assert_output --partial '"name":"b","dtype":"bf16","shape":[4],"numel":4,"offset":64,"bytes":8,'
	# What fl-inspect prints packs back to the same bytes.
	fl-inspect -d w a.flt > w.txt
	fl-inspect -d b a.flt > b.txt
	fl-pack -m kind=update -t w:f16:2x3=@w.txt -t b:bf16=@b.txt \
	    -t c:f32=1 -o again.flt
	cmp a.flt again.flt
	run fl-inspect --check a.flt
	assert_success
	run fl-inspect --diff a.flt again.flt
	assert_success
	assert_line "record 1: tensor w: max abs 0, max rel 0"
	refute_output --regexp 'max abs [^0]'
}

@test "half: text is rounded once, correctly: ties to even, past the range refused" {
	# 1 + 2^-11 is half-way between 1 and the next f16: even, so 1; a
	# hair above it rounds up, though strtod alone would give the tie.
	fl-pack -t 'w:f16=1.00048828125,1.000488281250000000000001,1.00146484375,65519.99,2.980232238769531250001e-8' \
	    -t 'b:bf16=1.00390625,1.003906250000000000000001,3.3895e38' -o t.flt
	run fl-inspect -d w t.flt
	assert_output $'1\n1.001\n1.002\n65504\n6e-08'
	run fl-inspect -d b t.flt
	assert_output $'1\n1.01\n3.39e+38'
	run -1 --separate-stderr fl-pack -t w:f16=1,65520
	assert_equal "$stderr" "fl-pack: -t: line 1: value 2 '65520': too large for f16"
	run -1 --separate-stderr fl-pack -t w:f16=2.98023223876953125e-8
	assert_equal "$stderr" "fl-pack: -t: line 1: value 1 '2.98023223876953125e-8': too small for f16 (rounds to zero)"
	run -1 --separate-stderr fl-pack -t w:bf16=3.4e38
	assert_equal "$stderr" "fl-pack: -t: line 1: value 1 '3.4e38': too large for bf16"
	run -1 --separate-stderr fl-pack -t w:bf16=1e-45
	assert_equal "$stderr" "fl-pack: -t: line 1: value 1 '1e-45': too small for bf16 (rounds to zero)"
	run -1 --separate-stderr fl-pack -t w:f16=0x1p3
	assert_equal "$stderr" "fl-pack: -t: line 1: value 1 '0x1p3': not a number"
}

@test "half: numpy agrees on every f16 pattern, and on rounding f32 to f16 and bf16" {
	# Every pattern, written by numpy: fl-inspect's text reads back in
	# Python to numpy's value, and packs back to the same bytes.
	py '
import flt, numpy as np
bits = np.arange(65536, dtype="<u2")
flt.write_file("all.flt", [({}, {"h": bits.view(np.float16), "b": bits.view(flt.BF16)})])'
	fl-inspect -d h all.flt > h.txt
	fl-inspect -d b all.flt > b.txt
	run py '
import flt, numpy as np
bits = np.arange(65536, dtype="<u2")
nan = np.isnan(bits.view(np.float16))
for name, to in ("h.txt", lambda x: x.astype(np.float16).view("<u2")), \
        ("b.txt", lambda x: flt.float32_to_bf16(x.astype(np.float32))["bf16"]):
    got = np.array([float(x) for x in open(name).read().split()])
    back = to(got)
    if name == "b.txt":
        nan = np.isnan(flt.bf16_to_float32(bits.view(flt.BF16)))
    assert (np.isnan(got) == nan).all(), name
    bad = np.nonzero((back != bits) & ~nan)[0]
    assert not len(bad), (name, bad[:5])
print("ok")'
	assert_success
	assert_output ok
	fl-pack -t h:f16=@h.txt -t b:bf16=@b.txt -o back.flt
	run fl-inspect --diff all.flt back.flt
	assert_success
	# f32 values to f16 and bf16: each f16 value and each half-way point
	# between neighbours (ties), their neighbours in f32, random f32
	# values of every magnitude f16 holds, and the ends of the range.
	# Through fl-apply (x + 1 * d on a zero model: exactly d, then
	# narrowed from f32) against numpy's astype(float16) and the bf16 bit
	# formula in Python integers.
	py '
import flt, numpy as np
h = np.arange(0x7c00, dtype="<u2").view(np.float16).astype(np.float64)
mid = (h[:-1] + h[1:]) / 2                     # ties, exact in f32
x = np.concatenate([h, mid, -mid, [65504, 65519.996, -65519.996, 2.0**-25,
    2.0**-25 * 1.0000001, 2.0**-14 - 2.0**-25]]).astype(np.float32)
u = x.view("<u4")
x = np.concatenate([x, (u + 1).view("<f4"), (u - 1).view("<f4")])
r = np.random.default_rng(7)
rand = (r.random(200000) * 2 - 1) * 2.0 ** r.integers(-26, 16, 200000)
x = np.concatenate([x, rand.astype(np.float32)])
x = x[np.isfinite(x) & (np.abs(x) < 65519.99)]
z = np.zeros(x.size, np.float16)
flt.write_file("d.flt", [({"kind": "aggregate"}, {"h": x, "b": x})])
flt.write_file("zero.flt", [({"kind": "model"}, {"h": z, "b": flt.float32_to_bf16(z)})])
# bf16 by the bit formula, in Python integers
want = [((v + 0x7fff + ((v >> 16) & 1)) >> 16) & 0xffff for v in x.view("<u4").tolist()]
np.save("bf16.npy", np.array(want, "<u2"))
np.save("f16.npy", x.astype(np.float16).view("<u2"))
print(x.size)'
	fl-apply -m zero.flt d.flt -o m.flt
	run py '
import flt, numpy as np
(_, t), = flt.read_records(open("m.flt", "rb"))
assert t["h"].dtype == np.float16 and t["b"].dtype == flt.BF16
assert (t["h"].view("<u2") == np.load("f16.npy")).all()
assert (t["b"]["bf16"] == np.load("bf16.npy")).all()
print(t["h"].size)'
	assert_success
	[ "$output" -gt 250000 ]
}

@test "half: fl-clip-noise keeps the dtype; the clip bound holds after rounding" {
	make_updates
	for f in h g; do
		for i in 1 2 3 4 5; do
			fl-clip-noise -c 0.5 "$f$i.flt" -o c.flt
			run py '
import flt, numpy as np
(m, t), = flt.read_records(open("c.flt", "rb"))
w = t["w"] if t["w"].dtype == np.float16 else flt.bf16_to_float32(t["w"])
assert t["w"].dtype in (np.float16, flt.BF16) and t["b"].dtype == np.float32
n = np.sqrt(np.sum(w.astype(np.float64) ** 2) + np.sum(t["b"].astype(np.float64) ** 2))
step = 2.0 ** -10 if t["w"].dtype == np.float16 else 2.0 ** -7
assert 0.5 * (1 - step) <= n <= 0.5, n
print(m["dp.clip"])'
			assert_success
			assert_output 0.5
		done
		# Noise: as on the f32 twin with the same seed, then rounded
		# once: within half a step of the dtype.
		fl-clip-noise -c 0.5 -n 1 --seed s "${f}1.flt" -o n.flt
		fl-clip-noise -c 0.5 -n 1 --seed s "${f}1-32.flt" -o n32.flt
		run py '
import flt, numpy as np
(m, t), = flt.read_records(open("n.flt", "rb"))
(m32, t32), = flt.read_records(open("n32.flt", "rb"))
assert m == m32, (m, m32)
h = t["w"]
x = h.astype(np.float64) if h.dtype == np.float16 else flt.bf16_to_float32(h).astype(np.float64)
y = t32["w"].astype(np.float64)
bits = 10 if h.dtype == np.float16 else 7
half = 2.0 ** (np.maximum(np.floor(np.log2(np.abs(y))), -14) - bits - 1)
assert (np.abs(x - y) <= half * (1 + 2.0 ** -12)).all()
assert (t["b"] == t32["b"]).all() and not np.array_equal(x, y)
print(m["dp.mechanism"])'
		assert_success
		assert_output gaussian
	done
}

@test "half: fl-quantize encodes f16 and bf16 as it encodes the same values in f32" {
	make_updates
	for f in h g; do
		for q in "--ring 16 --clients 5 -c 100 --seed s" "--bits 8 --seed s" \
		    "--eden 2 --rotation-seed r" "--rand-k 40 --sparse-seed s" \
		    "--top-k 40"; do
			fl-quantize $q "${f}1.flt" -o q.flt
			fl-quantize $q "${f}1-32.flt" -o q32.flt
			cmp q.flt q32.flt
		done
	done
	# Decoding writes f32, as for any input.
	fl-quantize --ring 16 --clients 5 -c 100 --seed s h1.flt |
	    fl-quantize -d -o d.flt
	run fl-inspect d.flt
	assert_line --regexp '^  w +f32 +\[6,50\]'
}

@test "half: fl-aggregate sums f16 and bf16 in f64 and writes f32, as the f32 twins give it" {
	make_updates
	for f in h g; do
		for r in mean sum median trimmed-mean krum; do
			fl-aggregate -r "$r" "$f"[1-5].flt -o a.flt
			fl-aggregate -r "$r" "$f"[1-5]-32.flt -o a32.flt
			cmp a.flt a32.flt
		done
		# Robust rules re-reading the files in chunks (30 kB of
		# updates over a 12 kB budget), the same bits.
		py '
import sys, flt, numpy as np
for i in range(1, 6):
    w = np.random.default_rng(i).standard_normal(3000)
    w = w.astype(np.float16) if sys.argv[1] == "h" else flt.float32_to_bf16(w)
    flt.write_file(f"big{i}.flt", [({"round": 4, "client": f"c{i}"},
        {"w": w, "b": np.arange(7, dtype="<f4")})])' "$f"
		for i in 1 2 3 4 5; do twin "big$i.flt" "big$i-32.flt"; done
		for r in median krum; do
			fl-aggregate -r "$r" --memory 12k big[1-5].flt -o c.flt
			fl-aggregate -r "$r" big[1-5]-32.flt -o c32.flt
			cmp c.flt c32.flt
		done
		# Partial aggregates (f32) merge as any.
		fl-aggregate -r sum "$f"[1-2].flt -o p1.flt
		fl-aggregate -r sum "$f"[3-5].flt -o p2.flt
		fl-aggregate -r sum "$f"[1-5].flt -o all.flt
		fl-aggregate -r sum p1.flt p2.flt -o merged.flt
		run fl-inspect --diff --tolerance 1e-6 all.flt merged.flt
		assert_success
	done
	run fl-inspect a.flt
	assert_line --regexp '^  w +f32 +\[6,50\]'
	# The mean equals numpy's weighted mean of the f16 values, in f64.
	fl-aggregate h[1-5].flt -o m.flt
	run py '
import flt, numpy as np
ws = [flt.read_records(open(f"h{i}.flt", "rb")).__next__()[1]["w"] for i in range(1, 6)]
want = sum(10 * i * w.astype(np.float64) for i, w in enumerate(ws, 1)) / 150
(_, t), = flt.read_records(open("m.flt", "rb"))
assert t["w"].dtype == np.float32
assert (t["w"] == want.astype(np.float32)).all()
print("ok")'
	assert_output ok
	# An f16 update does not join f32 ones.
	run -1 --separate-stderr fl-aggregate h1.flt h2-32.flt
	assert_equal "$stderr" "fl-aggregate: h2-32.flt: record 1: tensor 'w' is f32 [6,50], the first record has f16 [6,50] (record 1 of h1.flt)"
}

@test "half: fl-apply steps an f16 or bf16 model in f32 and keeps its dtype; the state is f32" {
	make_updates
	for f in h g; do
		fl-aggregate "$f"[1-5].flt -o agg.flt
		# The model: update h1's tensors as weights, made a model.
		py '
import sys, flt
(m, t), = flt.read_records(open(sys.argv[1], "rb"))
flt.write_file("m.flt", [({"kind": "model", "round": 4}, t)])' "${f}1.flt"
		twin m.flt m32.flt
		for o in sgd adam; do
			rm -f s.flt s32.flt
			fl-apply -m m.flt --optimizer "$o" -s s.flt agg.flt -o n.flt
			fl-apply -m m32.flt --optimizer "$o" -s s32.flt agg.flt \
			    -o n32.flt
			run rounded n32.flt n.flt
			assert_success
			assert_output 300
			run fl-inspect n.flt
			assert_line --regexp '^  b +f32 '
		done
		run fl-inspect s.flt
		assert_line --regexp '^  w:m +f32 +\[6,50\]'
		assert_line --regexp '^  w:v +f32 +\[6,50\]'
		# A second round with the state it wrote.
		py '
import flt
(m, t), = flt.read_records(open("agg.flt", "rb"))
flt.write_file("agg5.flt", [(dict(m, round=5), t)])'
		# (its f32 twin is the f16 model widened, no longer n32)
		twin n.flt nw.flt
		fl-apply -m n.flt --optimizer adam -s s.flt agg5.flt -o n2.flt
		fl-apply -m nw.flt --optimizer adam -s s32.flt agg5.flt -o n2-32.flt
		run rounded n2-32.flt n2.flt
		assert_output 300
	done
	# A step past f16's largest value is an error, and nothing is written.
	fl-pack -m kind=model -t w:f16=60000 -o big.flt
	fl-pack -m kind=aggregate -t w:f32=10000 -o up.flt
	run -1 --separate-stderr fl-apply -m big.flt up.flt -o out.flt
	assert_equal "$stderr" "fl-apply: big.flt: the new model does not fit its dtype: tensor 'w' element 0: 70000 overflows f16"
	[ ! -e out.flt ]
}

@test "half: --dtype writes an aggregate, a decoded sum or a model in the dtype asked for, rounded once" {
	make_updates
	# An f16 aggregate: the f32 mean rounded to nearest, by numpy.
	fl-aggregate h[1-5].flt -o a32.flt
	fl-aggregate --dtype f16 h[1-5].flt -o a16.flt
	py '
import flt, numpy as np
(_, w), = flt.read_records(open("a32.flt", "rb"))
(_, h), = flt.read_records(open("a16.flt", "rb"))
assert h["w"].dtype == np.float16 and h["b"].dtype == np.float16
for k in "wb":
    assert (h[k].view("<u2") == w[k].astype(np.float16).view("<u2")).all(), k'
	fl-aggregate -r median --dtype bf16 g[1-5].flt -o m16.flt
	fl-aggregate -r median g[1-5].flt -o m32.flt
	fl-aggregate --dtype f64 g[1-5].flt -o m64.flt
	run rounded m32.flt m16.flt
	assert_output 307
	run fl-inspect m64.flt
	assert_line --regexp '^  w +f64 +\[6,50\]'
	# A decoded ring sum as f16: the f32 decoding rounded.
	for i in 1 2 3; do
		fl-quantize --ring 16 --clients 3 -c 100 --seed "s$i" "h$i.flt" -o "r$i.flt"
	done
	fl-aggregate -r sum r[1-3].flt -o rs.flt
	fl-quantize -d --mean rs.flt -o d32.flt
	fl-quantize -d --mean --dtype f16 rs.flt -o d16.flt
	run rounded d32.flt d16.flt
	assert_output 307
	# An f16 model written as f32: what the f32 twin of the model gives.
	py '
import flt
(m, t), = flt.read_records(open("h1.flt", "rb"))
flt.write_file("m.flt", [({"kind": "model", "round": 4}, t)])'
	twin m.flt m32.flt
	fl-apply -m m.flt --dtype f32 a32.flt -o n.flt
	fl-apply -m m32.flt a32.flt -o n32.flt
	cmp n.flt n32.flt
	# Overflows and bad values: one line, exit 1, nothing written.
	fl-pack -m kind=update -m round=4 -m weight=1 -t w:f32=70000,1 -o big.flt
	run -1 --separate-stderr fl-aggregate --dtype f16 big.flt -o out.flt
	assert_equal "$stderr" "fl-aggregate: out.flt: the aggregate does not fit --dtype f16: tensor 'w' element 0: 70000 overflows f16"
	[ ! -e out.flt ]
	fl-pack -m kind=model -t w:f32=60000 -o bigm.flt
	fl-pack -m kind=aggregate -t w:f32=10000 -o up.flt
	run -1 --separate-stderr fl-apply -m bigm.flt --dtype f16 up.flt -o out.flt
	assert_equal "$stderr" "fl-apply: bigm.flt: the new model does not fit --dtype f16: tensor 'w' element 0: 70000 overflows f16"
	[ ! -e out.flt ]
	run -1 --separate-stderr fl-aggregate --dtype i32 h1.flt -o out.flt
	assert_equal "$stderr" "fl-aggregate: invalid --dtype 'i32': a float dtype (f32, f64, f16 or bf16)"
	run -1 --separate-stderr fl-quantize -d --dtype f8 rs.flt -o out.flt
	assert_equal "$stderr" "fl-quantize: invalid --dtype 'f8': a float dtype (f32, f64, f16 or bf16)"
	# Where it has no meaning: usage errors.
	run -2 --separate-stderr fl-quantize --bits 8 --dtype f16 h1.flt
	run -2 --separate-stderr fl-aggregate --roster r --shares s --reveals v --dtype f16 rs.flt
	[ ! -e out.flt ]
}

@test "half: fl-train, fl-eval and fl-stats take an f16 or bf16 model" {
	make_blobs
	fl-init -a mlp:4-8-3 --seed m -o m32.flt
	for dt in f16 bf16; do
		py '
import sys, flt, numpy as np
(m, t), = flt.read_records(open("m32.flt", "rb"))
cast = (lambda v: v.astype(np.float16)) if sys.argv[1] == "f16" else flt.float32_to_bf16
flt.write_file("m.flt", [(m, {k: cast(v) for k, v in t.items()})])' "$dt"
		twin m.flt mw.flt
		# The update is the f32 twin's, rounded to the model's dtype;
		# DP-SGD's too (noised in f32, then rounded).
		fl-train -m m.flt --seed 1 blobs.flt -o u.flt
		fl-train -m mw.flt --seed 1 blobs.flt -o u32.flt
		run rounded u32.flt u.flt
		assert_output $((4 * 8 + 8 + 8 * 3 + 3))
		fl-train -m m.flt --seed 1 --dp --noise 1 -b 32 blobs.flt -o d.flt
		fl-train -m mw.flt --seed 1 --dp --noise 1 -b 32 blobs.flt -o d32.flt
		run rounded d32.flt d.flt
		assert_success
		fl-train -m m.flt --seed 1 --trained blobs.flt -o t.flt
		run fl-inspect t.flt
		assert_line --regexp "^  fc1.w +$dt +\[4,8\]"
		# Evaluation and stats read it as the widened model.
		run fl-eval -m m.flt blobs.flt
		assert_success
		want=$output
		run fl-eval -m mw.flt blobs.flt
		assert_equal "$output" "$want"
		fl-stats -m m.flt blobs.flt -o st.flt
		fl-stats -m mw.flt blobs.flt -o st32.flt
		cmp st.flt st32.flt
	done
}

@test "half: what cannot take f16 says so in one line" {
	fl-pack -m kind=update -m round=1 -m client=a -t w:f16=1,2 -o h.flt
	# Modular sums take unsigned integers (fl-mask refuses f16 as it
	# refuses f32: tests/fl-mask.bats).
	fl-pack -m kind=update -m modulus=65536 -t w:f16=1,2 -o h.ring
	run -1 --separate-stderr fl-aggregate -r sum h.ring
	assert_equal "$stderr" "fl-aggregate: h.ring: record 1: tensor 'w' is f16: modular sums take unsigned integer tensors"
	# Non-finite values: clipping and aggregation refuse them, as in f32.
	fl-pack -m kind=update -m round=1 -t w:f16=1,nan -o nan.flt
	run -1 --separate-stderr fl-clip-noise -c 1 nan.flt
	assert_equal "$stderr" "fl-clip-noise: nan.flt: record 1: tensor 'w': non-finite value at index 1"
	fl-pack -m kind=update -m round=1 -m weight=1 -t w:bf16=1,-inf -o inf.flt
	run -1 --separate-stderr fl-aggregate inf.flt
	assert_equal "$stderr" "fl-aggregate: inf.flt: record 1: 1 NaN or infinite values, the first in tensor 'w' (--drop-nonfinite skips such updates)"
	# Noise that would carry an f16 value past 65504 is refused.
	run -1 --separate-stderr fl-clip-noise -n 600 --sensitivity 1 h.flt
	assert_equal "$stderr" "fl-clip-noise: h.flt: record 1: tensor 'w': noise of std 600 would overflow f16"
}

@test "half: hostile f16 and bf16 records are refused by the generic reader" {
	craft() { "$PYTHON" "$TOP/tests/craft.py" "$@"; }
	# An odd element count: 6 bytes of f16, zero padding to 64: valid.
	craft -H 'tensor=a f16 [3] 0\ntensor=b bf16 [1] 64\n' \
	    --raw-hex 663c007cff7f$(printf '0%.0s' $(seq 1 116))803f -o odd.flt
	run fl-inspect --check odd.flt
	assert_success
	run fl-inspect -d a odd.flt
	assert_output $'1.1\ninf\nnan'
	# Non-zero padding after an f16 tensor, a payload shorter than the
	# tensor, the next tensor placed as if the first were f32, a claim of
	# 2^62 elements, a dtype in capitals.
	craft -H 'tensor=a f16 [3] 0\n' --raw-hex 663c007cff7f01 -o pad.flt
	run -1 --separate-stderr fl-inspect --check pad.flt
	assert_output ""
	assert_regex "$stderr" "^fl-inspect: pad.flt: record 1: .*padding"
	craft -H 'tensor=a f16 [33] 0\n' --raw-zeros 64 -o short.flt
	run -1 --separate-stderr fl-inspect --check short.flt
	[ "${#stderr_lines[@]}" -eq 1 ]
	craft -H 'tensor=a f16 [40] 0\ntensor=b f16 [1] 192\n' --raw-zeros 256 \
	    -o off.flt
	run -1 --separate-stderr fl-inspect --check off.flt
	assert_regex "$stderr" "tensor 'b'.*offset"
	craft -H 'tensor=a bf16 [4611686018427387904] 0\n' -o huge.flt
	run -1 --separate-stderr fl-inspect --check huge.flt
	[ "${#stderr_lines[@]}" -eq 1 ]
	assert_no_crash
	craft -H 'tensor=a F16 [1] 0\n' --raw-zeros 64 -o caps.flt
	run -1 --separate-stderr fl-inspect --check caps.flt
	assert_regex "$stderr" "unsupported dtype 'F16'"
	# Its infinity and NaN are refused, in one line, by what computes.
	run -1 --separate-stderr fl-quantize --bits 4 --seed s odd.flt
	assert_equal "$stderr" "fl-quantize: odd.flt: record 1: tensor 'a': non-finite value at index 1"
	run -1 --separate-stderr fl-clip-noise -n 1 --sensitivity 1 odd.flt
	[ "${#stderr_lines[@]}" -eq 1 ]
}
