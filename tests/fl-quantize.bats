#!/usr/bin/env bats
# fl-quantize: the ring encoding for secure aggregation and its decoding -
# round trips and sums within the stated rounding bound, the conditional-
# rounding bound enforced exactly, wrap-around at the edge of the ring, the
# rounding error against its exact expectation, the distributed-DP pipeline
# with fl-clip-noise and fl-aggregate, and bad input.

load helper
load secagg

# py SCRIPT ARGS...: python with numpy and examples/python/flt.py.
py() {
	local script=$1
	shift
	$PYTHON -c "
import sys, math; sys.path.insert(0, '$TOP/examples/python')
import flt, numpy as np
from fractions import Fraction
def read(p): return list(flt.read_records(open(p, 'rb')))
def floats(t): return np.concatenate([a.astype(np.float64).ravel() for n, a in t.items() if a.dtype.kind == 'f'])
$script" "$@"
}

# updates FILE N DIM KIND SEED: N records of one f32 tensor 'w' [DIM]
# (KIND gauss or heavy: Student t with 2 degrees of freedom), each with
# round=7, clipped to L2 norm at most 1 in double.
updates() {
	py '
rng = np.random.default_rng(int(sys.argv[5]))
n, d = int(sys.argv[2]), int(sys.argv[3])
with open(sys.argv[1], "wb") as f:
    for i in range(n):
        x = rng.standard_normal(d) if sys.argv[4] == "gauss" else rng.standard_t(2, d)
        x = (x / np.linalg.norm(x) * 0.999).astype(np.float32)
        flt.write_record(f, {"kind": "update", "round": "7", "dp.clip": "1"}, {"w": x})
' "$@"
}

@test "round trip: decode(encode(x)) is within sqrt(d_pad)/s of x, rotated or not" {
	local d rot
	for d in 1 5 1000 4097; do
		for rot in hd none; do
			updates u.flt 1 "$d" gauss "$d"
			fl-quantize --ring 16 -n 10 --rotation "$rot" --seed a -o e.flt u.flt
			fl-quantize -d -o out.flt e.flt
			py '
(m, t), = read(sys.argv[1]); (me, te), = read(sys.argv[2]); (mo, to), = read(sys.argv[3])
s = float(me["q.scale"]); dpad = sum(a.size for n, a in te.items() if n != "clip.indicator")
assert to["w"].dtype == np.float32 and to["w"].shape == t["w"].shape
err = np.linalg.norm(to["w"].astype(np.float64) - t["w"])
bound = math.sqrt(dpad) / s
assert err <= bound * 1.001 + 1e-6, (err, bound)
assert not any(k.startswith("q.") or k == "modulus" for k in mo), mo
' u.flt e.flt out.flt || fail "d=$d rotation=$rot"
		done
	done
}

@test "sum: decode(sum of n encodes) equals the sum within n sqrt(d_pad)/s; --mean divides by clients, --mean=N by N" {
	local n=8
	updates u.flt "$n" 3000 gauss 1
	py '
for i, (m, t) in enumerate(read(sys.argv[1])):
    flt.write_file("c%d.flt" % i, [(m, t)])
' u.flt
	for i in $(seq 0 $((n - 1))); do
		fl-quantize --ring 20 -n "$n" --seed "c$i" "c$i.flt"
	done > enc.flt
	fl-aggregate -r sum -o sum.flt enc.flt
	fl-quantize -d -o dec.flt sum.flt
	fl-quantize -d --mean -o mean.flt sum.flt
	py '
recs = read(sys.argv[1]); (ms, ts), = read(sys.argv[2])
(md, td), = read(sys.argv[3]); (mm, tm), = read(sys.argv[4])
n = len(recs); s = float(ms["q.scale"]); dpad = 4096
true = sum(t["w"].astype(np.float64) for m, t in recs)
err = np.linalg.norm(td["w"] - true)
assert err <= n * math.sqrt(dpad) / s * 1.001, (err, n * math.sqrt(dpad) / s)
assert err > 0
assert np.allclose(tm["w"], td["w"] / n, rtol=1e-6, atol=1e-9)
assert md["clients"] == str(n) and mm["agg"] == "mean"
' u.flt sum.flt dec.flt mean.flt
	# --mean=N: a public denominator (fixed-denominator estimator).
	fl-quantize -d --mean=10 -o fixed.flt sum.flt
	py '
(md, td), = read(sys.argv[1]); (mf, tf), = read(sys.argv[2])
assert np.allclose(tf["w"], td["w"] / 10, rtol=1e-6, atol=1e-7), np.abs(tf["w"] - td["w"] / 10).max()
assert mf["agg"] == "mean" and mf["agg.denominator"] == "10", mf
' dec.flt fixed.flt
	run -1 fl-quantize -d --mean=0 sum.flt
}

@test "the global scale follows the rule of the notes, capped at 1e6; --scale overrides it" {
	updates u.flt 1 1000 gauss 3
	fl-quantize --ring 16 -n 100 --noise 1.1 --seed a -o e.flt u.flt
	fl-quantize --ring 32 -n 2 --seed a -o big.flt u.flt
	fl-quantize --ring 16 -n 100 --scale 1234.5 --seed a -o given.flt u.flt
	py '
from statistics import NormalDist
(m, t), = read(sys.argv[1]); (mb, tb), = read(sys.argv[2]); (mg, tg), = read(sys.argv[3])
k = -NormalDist().inv_cdf(1e-4 / 2)      # sqrt(2) erfcinv(1e-4)
b, n, C, d = 16, 100, 1.0, 1024
sig = 1.1 * C / math.sqrt(n)
s = math.sqrt(2 ** (2 * b) - n * k * k) / (2 * k * math.sqrt(C * C * n * n / d + n * sig * sig))
assert abs(float(m["q.scale"]) / s - 1) < 1e-9, (m["q.scale"], s)
assert float(mb["q.scale"]) == 1e6
assert float(mg["q.scale"]) == 1234.5
assert m["modulus"] == "65536" and m["q.bits"] == "16" and m["q.dim"] == "1000"
assert m["q.rotation"] == "hd" and m["q.rotation-seed"] == "round-7"
g = 1 / s; beta = math.exp(-0.5)
b1 = C + g * math.sqrt(d)
b2 = math.sqrt(C * C + g * g * d / 4 + math.sqrt(2 * math.log(1 / beta)) * g * (C + g * math.sqrt(d) / 2))
assert abs(float(m["dp.sensitivity"]) / (min(b1, b2) * s) - 1) < 1e-5
' e.flt big.flt given.flt
}

@test "conditional rounding: the integer vector is within dp.sensitivity, exactly, every time" {
	local i c
	# Values on half grid steps (scale 1): every coordinate rounds with
	# p = 1/2, and with beta 0.99 the bound is tight enough that plain
	# rounding breaks it for a good share of draws.
	py '
rng = np.random.default_rng(5)
x = ((rng.integers(0, 4, 64) + 0.5) * rng.choice([-1, 1], 64)).astype(np.float32)
flt.write_file("u.flt", [({"round": "1"}, {"w": x})])
print(repr(float(np.linalg.norm(x.astype(np.float64))) * (1 + 1e-9)))
' > clip.txt
	c=$(cat clip.txt)
	for i in $(seq 30); do
		fl-quantize --ring 12 -n 1 --rotation none --scale 1 -c "$c" --beta 0.99 --seed "r$i" u.flt
	done > e.flt
	fl-quantize --ring 12 -n 1 --rotation none --scale 1 -c "$c" --beta 0 --seed r -o e0.flt u.flt
	py '
recs = read(sys.argv[1]); (m0, t0), = read(sys.argv[2]); (m, t), = read(sys.argv[3])
C, s, d = float(sys.argv[4]), 1, 64
b1 = C + math.sqrt(d)
b2 = math.sqrt(C * C + d / 4 + math.sqrt(2 * math.log(1 / 0.99)) * (C + math.sqrt(d) / 2))
assert b2 < b1 * 0.8
assert abs(float(m0["dp.sensitivity"]) / b1 - 1) < 1e-5
distinct = set()
for me, te in recs:
    sens = Fraction(me["dp.sensitivity"])
    assert abs(float(sens) / b2 - 1) < 1e-5
    v = te["w"].astype(np.int64); v = np.where(v >= 2048, v - 4096, v)
    ss = sum(int(x) * int(x) for x in v)
    assert ss <= sens * sens, (ss, float(sens) ** 2)
    assert np.all(np.abs(v - t["w"]) == 0.5)
    distinct.add(v.tobytes())
assert len(distinct) > 20
# plain rounding of the same values breaks the bound often
rng = np.random.default_rng(1); y = t["w"].astype(np.float64)
def draw():
    f = np.floor(y); q = f + (rng.random(y.size) < 0.5); return q @ q
over = sum(draw() > b2 * b2 for _ in range(400))
assert over > 40, over
' e.flt e0.flt u.flt "$c"
}

@test "wrap-around at the edge: sums up to 2^(b-1)-1 decode exactly, one more wraps to -2^(b-1)" {
	local n
	fl-pack -m round=1 -t w:f32=127 -o a.flt
	fl-pack -m round=1 -t w:f32=128 -o b.flt
	fl-pack -m round=1 -t w:f32=64 -o h.flt
	fl-pack -m round=1 -t w:f32=63 -o g.flt
	enc() { fl-quantize --ring 8 -n 2 --rotation none --scale 1 -c 1000 --seed e "$@"; }
	run -0 sh -c 'fl-quantize --ring 8 -n 1 --rotation none --scale 1 -c 1000 --seed e a.flt | fl-quantize -d | fl-inspect --dump w'
	assert_output 127
	run -0 sh -c 'fl-quantize --ring 8 -n 1 --rotation none --scale 1 -c 1000 --seed e b.flt | fl-quantize -d | fl-inspect --dump w'
	assert_output -128
	{ enc h.flt; enc g.flt; } | fl-aggregate -r sum -o s1.flt
	run -0 sh -c 'fl-quantize -d s1.flt | fl-inspect --dump w'
	assert_output 127
	{ enc h.flt; enc h.flt; } | fl-aggregate -r sum -o s2.flt
	run -0 sh -c 'fl-quantize -d s2.flt | fl-inspect --dump w'
	assert_output -128
}

@test "a ring too small for the clients is refused, naming the largest count that fits" {
	# 2^(2b) > n k^2 (k = sqrt(2) erfcinv(p): 3.89 at 1e-4) and n <= 2^b.
	run -1 --separate-stderr fl-quantize --ring 8 -n 257 --seed a -o out.flt /dev/null
	assert_equal "$stderr" "fl-quantize: a ring of 8 bits is too small for 257 clients: it holds at most 256 at wrap-around probability 0.0001"
	assert_output ""
	[ ! -e out.flt ]
	run -0 fl-quantize --ring 8 -n 256 --seed a /dev/null
	run -1 --separate-stderr fl-quantize --ring 3 -n 5 --seed a /dev/null
	assert_equal "$stderr" "fl-quantize: a ring of 3 bits is too small for 5 clients: it holds at most 4 at wrap-around probability 0.0001"
	run -0 fl-quantize --ring 3 -n 4 --seed a /dev/null
	# k = 7.13 at 1e-12: 2^10 / k^2 = 20.1
	run -1 --separate-stderr fl-quantize --ring 5 -n 21 --modclip-prob 1e-12 --seed a /dev/null
	assert_equal "$stderr" "fl-quantize: a ring of 5 bits is too small for 21 clients: it holds at most 20 at wrap-around probability 1e-12"
	run -0 fl-quantize --ring 5 -n 20 --modclip-prob 1e-12 --seed a /dev/null
}

@test "vNMSE of stochastic rounding is within 5% of its exact expectation (Gaussian and heavy-tailed)" {
	local kind i
	for kind in gauss heavy; do
		updates u.flt 1 20000 "$kind" 11
		for i in $(seq 8); do
			fl-quantize --ring 16 -n 1 --rotation none --scale 300 --beta 0 --seed "v$i" u.flt
		done > e.flt
		py '
(m, t), = read(sys.argv[1]); recs = read(sys.argv[2])
x = t["w"].astype(np.float64); s = 300.0
# theory: E||q - y||^2 = sum p(1-p) grid steps^2, p = frac(y), y = s x
y = x.astype(np.float32).astype(np.float64) * s; p = y - np.floor(y)
theory = float((p * (1 - p)).sum()) / s / s / float(x @ x)
meas = []
for me, te in recs:
    v = te["w"].astype(np.int64); v = np.where(v >= 32768, v - 65536, v)
    meas.append(float(((v / s - x) ** 2).sum()) / float(x @ x))
r = np.mean(meas) / theory
assert abs(r - 1) < 0.05, (sys.argv[3], np.mean(meas), theory)
' u.flt e.flt "$kind" || fail "$kind"
	done
}

@test "the distributed-DP pipeline: clip, ring, noise shares, modular sum, decode: close to the true mean" {
	local n=10 i
	updates u.flt "$n" 500 gauss 21
	py '
for i, (m, t) in enumerate(read(sys.argv[1])):
    m = dict(m); del m["dp.clip"]
    t["w"] = t["w"] * 3           # beyond the clip: fl-clip-noise scales it
    flt.write_file("u%d.flt" % i, [(m, t)])
' u.flt
	for i in $(seq 0 $((n - 1))); do
		fl-clip-noise -c 1 --indicator "u$i.flt" |
		    fl-quantize --ring 20 -n "$n" --noise 1 --seed "q$i" |
		    fl-clip-noise --noise 1 --shares "$n" --seed "n$i" > "e$i.flt"
	done
	cat e*.flt | fl-aggregate -r sum -o sum.flt
	fl-quantize -d --mean -o mean.flt sum.flt
	py '
n = int(sys.argv[3])
ups = [t["w"].astype(np.float64) * 3 for m, t in read(sys.argv[1])]
true = sum(u * min(1, 1 / np.linalg.norm(u)) for u in ups) / n
(ms, ts), = read(sys.argv[2]); (mm, tm), = read(sys.argv[4])
s = float(ms["q.scale"]); sens = float(ms["dp.sensitivity"]); sigma = float(ms["dp.sigma"])
assert abs(sigma / (sens / math.sqrt(n)) - 1) < 1e-3, (sigma, sens)
assert ms["dp.mechanism"] in ("discrete-gaussian", "skellam")
# the noise of the mean, per coordinate: sigma sqrt(n) / s / n, over d_pad = 512
expect = math.sqrt(512) * sigma * math.sqrt(n) / s / n
err = np.linalg.norm(tm["w"] - true)
assert 0.6 * expect < err < 1.4 * expect, (err, expect)
assert int(tm["clip.indicator"][0]) == 0 and tm["clip.indicator"].dtype == np.uint32
assert ms["clients"] == str(n)
' u.flt sum.flt "$n" mean.flt
}

@test "clip.indicator passes through encode unchanged and is kept as an integer count by decode" {
	fl-pack -m round=2 -t w:f32=0.1,0.2,-0.1 -o a.flt
	fl-clip-noise -c 1 --indicator a.flt > c.flt
	for i in 1 2 3; do fl-quantize --ring 16 -n 3 --seed "i$i" c.flt; done > e.flt
	run -0 fl-inspect --dump clip.indicator e.flt
	assert_output $'1\n1\n1'
	fl-aggregate -r sum e.flt | fl-quantize -d --mean -o d.flt
	run -0 fl-inspect --dump clip.indicator d.flt
	assert_output 3
	run -0 fl-inspect d.flt
	assert_output --regexp 'clip.indicator +u32'
}

@test "the same --seed gives the same bytes; the rounding changes with the seed" {
	updates u.flt 2 300 gauss 4
	fl-quantize --ring 16 -n 4 --seed x -o a.flt u.flt
	fl-quantize --ring 16 -n 4 --seed x -o b.flt u.flt
	fl-quantize --ring 16 -n 4 --seed y -o c.flt u.flt
	cmp a.flt b.flt
	! cmp -s a.flt c.flt
	run -0 fl-inspect a.flt
	assert_output --partial 'q.seeded=yes'
}

@test "bad input: bits out of range, non-finite values, unclipped, already encoded; exit 1, nothing written" {
	fl-pack -m round=1 -m dp.clip=1 -t w:f32=0.1,nan -o nan.flt
	fl-pack -m round=1 -t w:f32=3,4 -o big.flt
	fl-pack -t w:f32=0.1 -o noround.flt
	fl-pack -m round=1 -t w:i32=1 -o int.flt
	for b in 0 1 33 x; do
		run -1 --separate-stderr fl-quantize --ring "$b" -n 2 -o out.flt big.flt
		assert_output ""
		[[ $stderr == "fl-quantize: invalid --ring '$b': "* ]] || fail "$stderr"
		[ ! -e out.flt ]
	done
	run -1 --separate-stderr fl-quantize --ring 16 -n 2 -o out.flt nan.flt
	assert_equal "$stderr" "fl-quantize: nan.flt: record 1: tensor 'w': non-finite value at index 1"
	[ ! -e out.flt ]
	run -1 --separate-stderr fl-quantize --ring 16 -n 2 -c 1 big.flt
	assert_equal "$stderr" "fl-quantize: big.flt: record 1: L2 norm 5 exceeds the clip bound 1: clip first (fl-clip-noise -c)"
	assert_output ""
	run -1 --separate-stderr fl-quantize --ring 16 -n 2 big.flt
	assert_equal "$stderr" "fl-quantize: big.flt: record 1: no clip bound: clip first (fl-clip-noise -c) or give --clip"
	run -1 --separate-stderr fl-quantize --ring 16 -n 2 -c 1 noround.flt
	assert_equal "$stderr" "fl-quantize: noround.flt: record 1: no rotation seed: give --rotation-seed or a record with a round"
	run -1 --separate-stderr fl-quantize --ring 16 -n 2 -c 1 int.flt
	assert_equal "$stderr" "fl-quantize: int.flt: record 1: tensor 'w' is i32: the ring encoding takes float tensors"
	fl-quantize --ring 16 -n 2 -c 10 -o e.flt big.flt
	run -1 --separate-stderr fl-quantize --ring 16 -n 2 -c 10 e.flt
	assert_equal "$stderr" "fl-quantize: e.flt: record 1: already encoded (q.codec=ring)"
	run -2 fl-quantize --ring 16 big.flt
	run -2 fl-quantize -d --ring 16 e.flt
	run -2 fl-quantize --mean --ring 16 -n 2 e.flt
	# Every encoder checks its input the same way.
	fl-pack -m round=1 -t w:f64=1e200,1 -o huge.flt
	fl-pack -m round=1 -t w:f32=1 -t clip.indicator:f32=1 -o ind.flt
	fl-pack -m round=1 -t q.pad:f32=1 -o pad.flt
	for codec in "--ring 16 -n 2 -c 1" "--bits 4" "--eden 2" "--rand-k 1"; do
		run -1 --separate-stderr fl-quantize $codec -o out.flt nan.flt
		assert_equal "$stderr" "fl-quantize: nan.flt: record 1: tensor 'w': non-finite value at index 1"
		run -1 --separate-stderr fl-quantize $codec -o out.flt huge.flt
		assert_equal "$stderr" "fl-quantize: huge.flt: record 1: the values are too large: their norm overflows a double"
		run -1 --separate-stderr fl-quantize $codec -o out.flt ind.flt
		assert_equal "$stderr" "fl-quantize: ind.flt: record 1: tensor 'clip.indicator' must be u32"
		run -1 --separate-stderr fl-quantize $codec -o out.flt pad.flt
		assert_equal "$stderr" "fl-quantize: pad.flt: record 1: tensor 'q.pad': a name the codecs use for their own tensors"
		[ ! -e out.flt ]
	done
}


@test "attack: a ring record whose clip.indicator is u64 does not overrun the decoder's u32 copy (refused, exit 1, nothing written)" {
	# The decoder copies the indicator into a u32 tensor of the same
	# shape; before the check it copied the input's bytes, so a u64
	# indicator of 4096 counts wrote 16 KiB past the output's payload.
	fl-pack -m round=2 -t w:f32=0.1,0.2,-0.1 -o a.flt
	fl-clip-noise -c 1 --indicator a.flt | fl-quantize --ring 16 -n 1 --seed s -o e.flt
	py '
meta, t = read(sys.argv[1])[0]
t["clip.indicator"] = np.full(4096, 2**40, dtype=np.uint64)
with open(sys.argv[2], "wb") as f:
    flt.write_record(f, meta, t)
' e.flt wide.flt
	run -0 fl-inspect wide.flt
	assert_output --regexp 'clip.indicator +u64 +\[4096\]'
	run -1 --separate-stderr fl-quantize -d -o d.flt wide.flt
	assert_equal "$stderr" "fl-quantize: wide.flt: record 1: tensor 'clip.indicator' is u64, not u32"
	assert_output ""
	[ ! -e d.flt ]
}
@test "bad input to decode: no metadata, missing keys, mixed rotation seeds; exit 1, nothing written" {
	fl-pack -m round=1 -t w:f32=0.5,0.25 -o plain.flt
	run -1 --separate-stderr fl-quantize -d -o out.flt plain.flt
	assert_equal "$stderr" "fl-quantize: plain.flt: record 1: not ring-encoded: missing quantization metadata 'q.codec'"
	[ ! -e out.flt ]
	fl-quantize --ring 16 -n 2 -c 1 --seed a -o e.flt plain.flt
	py '
(m, t), = read(sys.argv[1]); m = dict(m); del m["q.scale"]
flt.write_file("noscale.flt", [(m, t)])
m2 = dict(read(sys.argv[1])[0][0]); m2["modulus"] = "1000"
flt.write_file("badmod.flt", [(m2, t)])
' e.flt
	run -1 --separate-stderr fl-quantize -d noscale.flt
	assert_equal "$stderr" "fl-quantize: noscale.flt: record 1: missing quantization metadata 'q.scale'"
	assert_output ""
	run -1 --separate-stderr fl-quantize -d badmod.flt
	assert_equal "$stderr" "fl-quantize: badmod.flt: record 1: modulus 1000 is not 2^q.bits"
	fl-pack -m round=2 -t w:f32=0.5,0.25 -o plain2.flt
	fl-quantize --ring 16 -n 2 -c 1 --seed a -o e2.flt plain2.flt
	run -1 --separate-stderr fl-quantize -d -o out.flt e.flt e2.flt
	assert_equal "$stderr" "fl-quantize: e2.flt: record 1: mixed rotation seeds: 'round-2' here, 'round-1' in e.flt record 1"
	[ ! -e out.flt ]
	# fl-aggregate refuses to sum them in the first place.
	run -1 fl-aggregate -r sum e.flt e2.flt
}

@test "--stats prints the vNMSE of the encoding and the bytes before and after; -z compresses any output" {
	updates u.flt 1 3000 gauss 9
	run -0 --separate-stderr fl-quantize --ring 12 -n 4 --seed z --stats -o e.flt u.flt
	[[ $stderr =~ ^fl-quantize:\ u.flt:\ record\ 1:\ vNMSE\ ([^,]+),\ ([0-9]+)\ -\>\ ([0-9]+)\ bytes$ ]] ||
	    fail "stats line: $stderr"
	assert_equal "${BASH_REMATCH[2]}" "$(wc -c < u.flt)"
	assert_equal "${BASH_REMATCH[3]}" "$(wc -c < e.flt)"
	fl-quantize -d -o d.flt e.flt
	py '
(m, t), = read(sys.argv[1]); (md, td), = read(sys.argv[2])
x = t["w"].astype(np.float64)
v = float(((td["w"] - x) ** 2).sum() / (x @ x))
assert abs(v / float(sys.argv[3]) - 1) < 1e-3, (v, sys.argv[3])
' u.flt d.flt "${BASH_REMATCH[1]}"
	run -0 --separate-stderr fl-quantize --ring 12 -n 4 --seed z --stats -z -o ez.flt u.flt
	[[ $stderr == *" -> $(wc -c < ez.flt) bytes" ]] || fail "$stderr"
	run -0 fl-inspect ez.flt
	assert_output --partial 'flags 0x01'
	fl-quantize -d -z -o dz.flt ez.flt
	run -0 fl-inspect dz.flt
	assert_output --partial 'flags 0x01'
	run -0 fl-inspect --diff --tolerance 0 d.flt dz.flt
	run -0 --separate-stderr fl-quantize -d --stats -o d2.flt e.flt
	assert_equal "$stderr" "fl-quantize: e.flt: record 1: vNMSE -, $(wc -c < e.flt) -> $(wc -c < d.flt) bytes"
}

# levels ENCODED BITS: python helper text that unpacks tensor 'w' of a
# --bits record into integer levels (LSB-first bit packing below 8 bits).
UNPACK='
def levels(t, name, b, n):
    a = t[name]
    if b < 8:
        bits = np.unpackbits(a, bitorder="little")[: n * b].reshape(n, b)
        return (bits.astype(np.int64) << np.arange(b)).sum(axis=1)
    return a.astype(np.int64).ravel()
'

@test "--bits: round trips within one step, shapes and names restored, sub-byte values packed" {
	local b pt
	py '
rng = np.random.default_rng(2)
flt.write_file("u.flt", [({"kind": "update"}, {"w": rng.standard_normal((37, 11)).astype(np.float32),
    "b": (rng.standard_normal(5) * 10).astype(np.float64)})])
'
	for b in 1 2 3 5 7 8 9 12 16; do
		for pt in "" --per-tensor; do
			fl-quantize -b "$b" $pt --seed "s$b" -o e.flt u.flt
			fl-quantize -d -o d.flt e.flt
			py "$UNPACK"'
(m, t), = read("u.flt"); (me, te), = read("e.flt"); (md, td), = read("d.flt")
b = int(sys.argv[1]); pt = sys.argv[2] == "--per-tensor"
assert me["q.codec"] == "sr" and me["q.bits"] == str(b)
assert list(td) == ["w", "b"] and not any(k.startswith("q.") for k in md)
for name in ("w", "b"):
    x = t[name].astype(np.float64); n = x.size
    M = np.abs(x).max() if pt else max(np.abs(a.astype(np.float64)).max() for a in t.values())
    step = 2 * M / (2 ** b - 1)
    assert td[name].shape == x.shape and td[name].dtype == np.float32
    assert np.all(np.abs(td[name] - x) <= step * (1 + 1e-6)), name
    want = (n * b + 7) // 8 if b < 8 else n
    assert te[name].size == want and te[name].dtype == (np.uint8 if b <= 8 else np.uint16)
    lv = levels(te, name, b, n)
    assert np.allclose(lv * step - M, td[name].ravel(), rtol=1e-6, atol=1e-6 * M)
' "$b" "$pt" || fail "bits $b $pt"
		done
	done
}

@test "--bits: vNMSE within 5% of its exact expectation, Gaussian and heavy-tailed, and unbiased" {
	local kind b i
	for kind in gauss heavy; do
		updates u.flt 1 20000 "$kind" 13
		for b in 2 4; do
			for i in $(seq 8); do
				fl-quantize -b "$b" --seed "v$i" u.flt
			done > e.flt
			py "$UNPACK"'
(m, t), = read(sys.argv[1]); recs = read(sys.argv[2]); b = int(sys.argv[3])
x = t["w"].astype(np.float64); M = np.abs(x).max(); step = 2 * M / (2 ** b - 1)
y = (x + M) / step; p = y - np.floor(y)
theory = float((p * (1 - p)).sum()) * step * step / float(x @ x)
meas, mean = [], 0
for me, te in recs:
    xh = levels(te, "w", b, x.size) * step - M
    meas.append(float(((xh - x) ** 2).sum()) / float(x @ x)); mean = mean + xh / len(recs)
r = np.mean(meas) / theory
assert abs(r - 1) < 0.05, (sys.argv[4], b, np.mean(meas), theory)
# unbiased: the mean of 8 draws is closer to x than one draw, by about sqrt(8)
assert float(((mean - x) ** 2).sum()) / float(x @ x) < np.mean(meas) / 4
' u.flt e.flt "$b" "$kind" || fail "$kind bits $b"
		done
	done
}

@test "--bits: bad input; -z and --stats work with it" {
	fl-pack -t w:f32=0.1,nan -o nan.flt
	fl-pack -t w:f32=0.1,-0.3,0.2 -o a.flt
	for b in 0 17 x; do
		run -1 --separate-stderr fl-quantize --bits "$b" -o out.flt a.flt
		[[ $stderr == "fl-quantize: invalid --bits '$b': "* ]] || fail "$stderr"
		[ ! -e out.flt ]
	done
	run -1 --separate-stderr fl-quantize --bits 4 -o out.flt nan.flt
	assert_equal "$stderr" "fl-quantize: nan.flt: record 1: tensor 'w': non-finite value at index 1"
	[ ! -e out.flt ]
	run -2 fl-quantize --bits 4 --ring 16 a.flt
	run -2 fl-quantize --per-tensor --ring 16 -n 2 a.flt
	fl-quantize --bits 3 --seed z -z -o ez.flt a.flt
	run -0 fl-inspect ez.flt
	assert_output --partial 'flags 0x01'
	run -0 --separate-stderr fl-quantize -d --stats -o d.flt ez.flt
	[[ $stderr == "fl-quantize: ez.flt: record 1: vNMSE -, "* ]] || fail "$stderr"
	py '
(m, t), = read(sys.argv[1]); m = dict(m); del t["q.range"]
flt.write_file("norange.flt", [(m, t)])
' ez.flt
	run -1 --separate-stderr fl-quantize -d -o out.flt norange.flt
	assert_equal "$stderr" "fl-quantize: norange.flt: record 1: missing quantization metadata: tensor 'q.range'"
	[ ! -e out.flt ]
}

@test "--eden: vNMSE within 5% of D_b/(1-D_b) (.571 .133 .0358 .0096), Gaussian and heavy-tailed; names and shapes restored" {
	local kind b c
	for kind in gauss heavy; do
		py '
rng = np.random.default_rng(17); d = 16384
with open("u.flt", "wb") as f:
    for c in range(6):
        x = rng.standard_normal(d) if sys.argv[1] == "gauss" else rng.standard_t(2, d)
        flt.write_record(f, {"kind": "update", "round": "3", "client": "c%d" % c},
            {"w": x[:16000].reshape(160, 100).astype(np.float32), "b": x[16000:].astype(np.float32)})
' "$kind"
		for b in 1 2 3 4; do
			fl-quantize --eden "$b" -o e.flt u.flt
			fl-quantize -d -o d.flt e.flt
			py '
ins = read(sys.argv[1]); encs = read(sys.argv[2]); outs = read(sys.argv[3]); b = int(sys.argv[4])
theory = {1: 0.5708, 2: 0.1331, 3: 0.03584, 4: 0.00959}[b]
v = []
for (m, t), (me, te), (mo, to) in zip(ins, encs, outs):
    assert me["q.codec"] == "eden" and me["q.rotation-seed"] == "round-3:" + m["client"]
    assert te["w"].size == (16000 * b + 7) // 8 and te["w"].dtype == np.uint8
    assert list(to) == ["w", "b"] and to["w"].shape == (160, 100) and to["b"].shape == (384,)
    x = np.concatenate([t["w"].ravel(), t["b"]]).astype(np.float64)
    xh = np.concatenate([to["w"].ravel(), to["b"]]).astype(np.float64)
    v.append(float(((xh - x) ** 2).sum() / (x @ x)))
r = np.mean(v) / theory
assert abs(r - 1) < 0.05, (sys.argv[5], b, np.mean(v), theory)
' u.flt e.flt d.flt "$b" "$kind" || fail "$kind bits $b"
		done
	done
}

@test "--eden: unbiased over rotations; bad input" {
	py '
rng = np.random.default_rng(3); x = rng.standard_normal(1000).astype(np.float32)
with open("u.flt", "wb") as f:
    for c in range(32):
        flt.write_record(f, {"round": "1", "client": "c%d" % c}, {"w": x})
'
	fl-quantize --eden 1 u.flt | fl-quantize -d -o d.flt
	py '
(m, t), = read(sys.argv[1])[:1]; outs = read(sys.argv[2])
x = t["w"].astype(np.float64); xs = [o["w"].astype(np.float64) for _, o in outs]
one = np.mean([((a - x) ** 2).sum() / (x @ x) for a in xs])
avg = ((np.mean(xs, axis=0) - x) ** 2).sum() / (x @ x)
assert avg < one / 16, (avg, one)     # ~ one / 32 when unbiased
' u.flt d.flt
	fl-pack -m round=1 -t w:f32=0.1,nan -o nan.flt
	for b in 0 5 x; do
		run -1 --separate-stderr fl-quantize --eden "$b" -o out.flt u.flt
		[[ $stderr == "fl-quantize: invalid --eden '$b': "* ]] || fail "$stderr"
		[ ! -e out.flt ]
	done
	run -1 --separate-stderr fl-quantize --eden 2 -o out.flt nan.flt
	assert_equal "$stderr" "fl-quantize: nan.flt: record 1: tensor 'w': non-finite value at index 1"
	[ ! -e out.flt ]
	fl-pack -t w:f32=0.1,0.2 -o noround.flt
	run -1 --separate-stderr fl-quantize --eden 2 noround.flt
	assert_equal "$stderr" "fl-quantize: noround.flt: record 1: no rotation seed: give --rotation-seed or a record with a round"
	run -2 fl-quantize --eden 2 --ring 16 -n 2 u.flt
	fl-quantize --eden 2 --rotation-seed s -o e.flt noround.flt
	py '
(m, t), = read(sys.argv[1]); m = dict(m); del m["q.rotation-seed"]
flt.write_file("noseed.flt", [(m, t)])
' e.flt
	run -1 --separate-stderr fl-quantize -d -o out.flt noseed.flt
	assert_equal "$stderr" "fl-quantize: noseed.flt: record 1: missing quantization metadata 'q.rotation-seed'"
	[ ! -e out.flt ]
}

# dense DECODED: python helper text; the f32 tensors of a decoded record
# as one float64 vector, in payload order.
DENSE='
def dense(t): return np.concatenate([a.astype(np.float64).ravel() for n, a in t.items() if n != "clip.indicator"])
'

@test "--rand-k: the same coordinates for every client of a round, others in the next round; values scaled by d/K" {
	py '
rng = np.random.default_rng(21)
for c in range(3):
    w = (rng.standard_normal((20, 10)) + 10).astype(np.float32)   # no zeros
    b = (rng.standard_normal(50) + 10).astype(np.float32)
    r = "8" if c == 2 else "7"
    flt.write_file("c%d.flt" % c, [({"kind": "update", "round": r}, {"w": w, "b": b})])
'
	for c in 0 1 2; do
		fl-quantize --rand-k 25 -o "e$c.flt" "c$c.flt"
		fl-quantize -d -o "d$c.flt" "e$c.flt"
	done
	fl-quantize --rand-k 10% --sparse-seed round-7 -o s.flt c2.flt
	fl-quantize -d -o ds.flt s.flt
	py "$DENSE"'
ins = [read("c%d.flt" % c)[0] for c in range(3)]
encs = [read("e%d.flt" % c)[0] for c in range(3)]
decs = [read("d%d.flt" % c)[0] for c in range(3)]
for (m, t), (me, te), (md, td) in zip(ins, encs, decs):
    assert me["q.codec"] == "randk" and me["q.k"] == "25" and me["q.dim"] == "250"
    assert me["q.sparse-seed"] == "round-" + m["round"] and me["q.shapes"] == "[20,10] [50]"
    assert list(te) == ["w", "b"] and te["w"].size + te["b"].size == 25 and te["w"].ndim == 1
    assert list(td) == ["w", "b"] and td["w"].shape == (20, 10) and td["b"].shape == (50,)
    assert td["w"].dtype == np.float32 and not any(k.startswith("q.") for k in md)
    x, y = dense(t), dense(td)
    nz = np.flatnonzero(y)
    assert nz.size == 25
    assert np.allclose(y[nz], x[nz] * 250 / 25, rtol=1e-6)
pos = [np.flatnonzero(dense(td)) for m, td in decs]
assert np.array_equal(pos[0], pos[1]), "clients of round 7 differ"
assert not np.array_equal(pos[0], pos[2]), "rounds 7 and 8 agree"
# --sparse-seed round-7 on a round-8 record: the coordinates of round 7
(ms, ts), = read("s.flt"); (mds, tds), = read("ds.flt")
assert ms["q.k"] == "25" and ms["q.sparse-seed"] == "round-7"
assert np.array_equal(np.flatnonzero(dense(tds)), pos[0])
'
}

@test "--rand-k: unbiased: the mean of many encodings approaches the update, vNMSE d/K - 1" {
	local i
	updates u.flt 1 1000 gauss 22
	for i in $(seq 64); do
		fl-quantize --rand-k 100 --sparse-seed "s$i" u.flt
	done > e.flt
	fl-quantize -d -o d.flt e.flt
	run -0 --separate-stderr fl-quantize --rand-k 100 --stats -o /dev/null u.flt
	[[ $stderr =~ vNMSE\ ([^,]+), ]] || fail "$stderr"
	py "$DENSE"'
(m, t), = read(sys.argv[1]); outs = [dense(o) for _, o in read(sys.argv[2])]
x = dense(t); n2 = x @ x
one = np.mean([((y - x) ** 2).sum() / n2 for y in outs])
assert abs(one / 9 - 1) < 0.15, one          # d/K - 1 = 9
e8 = ((np.mean(outs[:8], axis=0) - x) ** 2).sum() / n2
e64 = ((np.mean(outs, axis=0) - x) ** 2).sum() / n2
assert e64 < e8 / 3 and e64 < 2 * 9 / 64, (e8, e64)
assert 2 < float(sys.argv[3]) < 30
' u.flt d.flt "${BASH_REMATCH[1]}"
}

@test "--rand-k: a sum (or mean) of records decodes to the sum (mean) of the decoded records" {
	local n=5 i
	updates u.flt "$n" 3000 gauss 23
	py '
for i, (m, t) in enumerate(read(sys.argv[1])):
    flt.write_file("c%d.flt" % i, [(m, t)])
' u.flt
	for i in $(seq 0 $((n - 1))); do
		fl-quantize --rand-k 1% -o "e$i.flt" "c$i.flt"
		fl-quantize -d "e$i.flt"
	done > dec.flt
	fl-aggregate -r sum -o sum.flt e?.flt
	fl-aggregate -r mean --unweighted -o mean.flt e?.flt
	fl-quantize -d -o dsum.flt sum.flt
	fl-quantize -d --mean -o dmean.flt sum.flt
	fl-quantize -d -o dmean2.flt mean.flt
	py "$DENSE"'
decs = [dense(t) for m, t in read("dec.flt")]
(ms, ts), = read("sum.flt"); (m1, t1), = read("dsum.flt")
(m2, t2), = read("dmean.flt"); (m3, t3), = read("dmean2.flt")
assert ts["w"].size == 30 and ms["q.codec"] == "randk"
want = np.sum(decs, axis=0)
assert np.count_nonzero(want) == 30
assert np.allclose(dense(t1), want, rtol=1e-5, atol=1e-7)
assert np.allclose(dense(t2), want / len(decs), rtol=1e-5, atol=1e-7) and m2["agg"] == "mean"
assert np.allclose(dense(t3), want / len(decs), rtol=1e-5, atol=1e-7)
'
}

@test "--rand-k into --ring: through secure aggregation, the sum decodes to the rand-k sum in one -d" {
	local n=4 i
	py '
rng = np.random.default_rng(31)
for i in range(1, 5):
    t = {"w": rng.standard_normal((50, 40)).astype(np.float32),
         "b": rng.standard_normal(77).astype(np.float32)}
    flt.write_file("u%d.flt" % i, [({"kind": "update", "round": "3", "client": "c%d" % i}, t)])
'
	GRAPH="--corrupt 0 --degree 3 --threshold 3"
	world "$n"
	keys 3 1 2 3 4
	roster roster.flt c?.pub
	share roster.flt 1 2 3 4
	cat c?.shares > shares.flt
	for ((i = 1; i <= n; i++)); do
		fl-clip-noise -c 30 --indicator "u$i.flt" |
		    fl-quantize --rand-k 10% -o "r$i.flt"
		fl-quantize --ring 24 --clients "$n" -o "g$i.flt" "r$i.flt"
		fl-mask -k "c$i.key" -r roster.flt -s shares.flt \
		    -o "c$i.masked" "g$i.flt"
	done
	printf 'c1\nc2\nc3\nc4\n' > survivors
	confirm roster.flt shares.flt survivors 1 2 3 4
	cat c?.confirm > confirms.flt
	reveal roster.flt shares.flt survivors confirms.flt 1 2 3 4
	cat c?.reveal > reveals.flt
	fl-aggregate --roster roster.flt --shares shares.flt \
	    --reveals reveals.flt -o sum.flt c?.masked
	fl-quantize -d -o got.flt sum.flt
	fl-quantize -d --mean -o gotm.flt sum.flt
	# The same rand-k records summed in the clear.
	fl-aggregate -r sum -o rsum.flt r?.flt
	fl-quantize -d -o want.flt rsum.flt
	py "$DENSE"'
(mg, tg), = read("got.flt"); (mm, tm), = read("gotm.flt"); (mw, tw), = read("want.flt")
(m1, t1), = read("g1.flt")
# the ring record: K values, the rand-k keys kept aside, the sensitivity
# of the clip bound (not d/K times it)
assert m1["q.codec"] == "ring" and m1["q.sparse.codec"] == "randk"
assert m1["q.sparse.k"] == "208" and m1["q.sparse.dim"] == "2077" and m1["q.dim"] == "208"
assert abs(float(m1["dp.sensitivity"]) / float(m1["q.scale"]) - 30) < 0.1
assert tg["w"].shape == (50, 40) and tg["b"].shape == (77,) and "q.codec" not in mg
g, w = dense(tg), dense(tw)
assert np.count_nonzero(w) == 208 and np.array_equal(g != 0, w != 0)
# within the ring rounding: d/K sqrt(d_pad) / s per client, summed
step = 2077 / 208 * math.sqrt(256) / float(m1["q.scale"])
assert np.max(np.abs(g - w)) < 4 * step, np.max(np.abs(g - w))
assert np.allclose(dense(tm), g / 4, rtol=1e-6, atol=1e-9) and mm["agg"] == "mean"
assert int(tg["clip.indicator"][0]) == int(tw["clip.indicator"][0])
'
}

@test "--rand-k into --ring, bad input: an unknown inner codec, missing rand-k keys, an update over the clip" {
	fl-pack -m kind=update -m round=1 -t w:f32=3,4 -o a.flt
	fl-quantize --rand-k 2 -o r.flt a.flt
	fl-quantize --ring 16 --clients 2 -c 5 --seed x -o g.flt r.flt
	py '
(m, t), = read("g.flt")
m["q.sparse.codec"] = "topk"; flt.write_file("topk.flt", [(m, t)])
(m, t), = read("g.flt")
del m["q.sparse.k"]; flt.write_file("nok.flt", [(m, t)])
(m, t), = read("r.flt")
del m["q.sparse-seed"]; flt.write_file("noseed.flt", [(m, t)])
'
	run -1 --separate-stderr fl-quantize -d -o out.flt topk.flt
	assert_equal "$stderr" "fl-quantize: topk.flt: record 1: q.sparse.codec 'topk': only rand-k values go through the ring"
	run -1 --separate-stderr fl-quantize -d -o out.flt nok.flt
	assert_equal "$stderr" "fl-quantize: nok.flt: record 1: missing quantization metadata 'q.sparse.k'"
	run -1 --separate-stderr fl-quantize --ring 16 --clients 2 -c 5 -o out.flt noseed.flt
	assert_equal "$stderr" "fl-quantize: noseed.flt: record 1: missing quantization metadata 'q.sparse-seed'"
	# the bound is on the update before rand-k: 5 here, not 5 d/K
	run -1 --separate-stderr fl-quantize --ring 16 --clients 2 -c 4 -o out.flt r.flt
	assert_equal "$stderr" "fl-quantize: r.flt: record 1: L2 norm 5 exceeds the clip bound 4: clip first (fl-clip-noise -c)"
	[ ! -e out.flt ]
}

@test "--top-k: exactly the K largest magnitudes, ties to the lower index, values unscaled; K as a percentage" {
	py '
rng = np.random.default_rng(24)
w = rng.integers(-20, 21, (40, 25)).astype(np.float32)     # many ties
b = rng.standard_normal(100).astype(np.float32) * 30
flt.write_file("u.flt", [({"kind": "update", "round": "2"}, {"w": w, "b": b})])
'
	fl-quantize --top-k 37 -o e.flt u.flt
	fl-quantize -d -o d.flt e.flt
	fl-quantize --top-k 5% -o e5.flt u.flt
	py "$DENSE"'
(m, t), = read("u.flt"); (me, te), = read("e.flt"); (md, td), = read("d.flt"); (m5, t5), = read("e5.flt")
x = dense(t); y = dense(td)
order = np.lexsort((np.arange(x.size), -np.abs(x)))      # |x| down, index up
want = np.sort(order[:37])
assert np.array_equal(np.flatnonzero(y), want[x[want] != 0])
assert np.array_equal(y[want], x[want])
assert me["q.codec"] == "topk" and me["q.k"] == "37" and me["q.dim"] == "1100"
assert "q.sparse-seed" not in me and list(te) == ["w", "w:idx", "b", "b:idx"]
assert te["w:idx"].dtype == np.uint32 and np.all(np.diff(te["w:idx"].astype(np.int64)) > 0)
assert td["w"].shape == (40, 25) and td["b"].shape == (100,)
assert m5["q.k"] == "55"
'
}

@test "--top-k --residual: error feedback tracks the cumulative update, bounded residual, replaced atomically" {
	local t ino=
	py '
rng = np.random.default_rng(25)
for r in range(30):
    x = rng.standard_normal(200).astype(np.float32)
    flt.write_file("u%d.flt" % r, [({"kind": "update", "round": str(r)}, {"w": x[:150].reshape(15, 10), "b": x[150:]})])
'
	for t in $(seq 0 29); do
		fl-quantize --top-k 20 --residual res.flt -o "s$t.flt" "u$t.flt"
		[ "$(stat -c %a res.flt)" = 600 ] || fail "mode $(stat -c %a res.flt)"
		[ "$(stat -c %i res.flt)" != "$ino" ] || fail "not replaced"
		ino=$(stat -c %i res.flt)
		cp res.flt "r$t.flt"
		fl-quantize -d -o "d$t.flt" "s$t.flt"
		fl-quantize --top-k 20 "u$t.flt" | fl-quantize -d -o "p$t.flt"
	done
	[ "$(ls | grep -c '^res\.flt')" -eq 1 ] || fail "left over: $(ls)"
	py "$DENSE"'
cu = cs = cp = 0; norms = []
for r in range(30):
    (m, t), = read("u%d.flt" % r); (md, td), = read("d%d.flt" % r)
    (mp, tp), = read("p%d.flt" % r); (mr, tr), = read("r%d.flt" % r)
    cu = cu + dense(t); cs = cs + dense(td); cp = cp + dense(tp)
    assert mr["kind"] == "state" and mr["q.codec"] == "topk" and list(tr) == ["w", "b"]
    assert tr["w"].shape == (15, 10) and tr["w"].dtype == np.float32
    e = dense(tr)
    # what was not sent yet is exactly the residual
    assert np.allclose(cu - cs, e, atol=1e-4), r
    norms.append(np.linalg.norm(e))
un = np.sqrt(200)
assert max(norms) < 4 * un, norms          # bounded, not growing with r
assert max(norms[20:]) < 1.5 * max(norms[:10]) + un, norms
# without feedback the error of the cumulative sum grows like sqrt(r)
assert np.linalg.norm(cu - cp) > 2 * np.linalg.norm(cu - cs)
'
}

@test "--top-k/--rand-k bad input: K out of range, residual mismatch, non-finite, a top-k sum, option clashes; exit 1, nothing written" {
	fl-pack -m kind=update -m round=1 -t w:f32=0.5,-0.25,2 -o a.flt
	fl-pack -m kind=update -m round=1 -t w:f32=0.5,nan,2 -o nan.flt
	fl-pack -m kind=update -m round=1 -t v:f32=1,2,3 -o other.flt
	fl-pack -m kind=update -m round=1 -t w:f32:3x1=1,2,3 -o shape.flt
	fl-pack -m kind=update -m round=1 -t w:i32=1,2 -o int.flt
	fl-pack -m kind=update -t w:f32=1,2 -o noround.flt
	fl-quantize --top-k 1 --residual res.flt -o first.flt a.flt
	cp res.flt res0.flt
	for k in 0 -1 x 0% 101%; do
		run -1 --separate-stderr fl-quantize --top-k "$k" --residual res.flt -o out.flt a.flt
		[[ $stderr == "fl-quantize: invalid --top-k '$k': "* ]] || fail "$stderr"
		[ ! -e out.flt ]
	done
	run -1 --separate-stderr fl-quantize --rand-k 4 -o out.flt a.flt
	assert_equal "$stderr" "fl-quantize: a.flt: record 1: invalid --rand-k '4': more than the 3 coordinates"
	run -1 --separate-stderr fl-quantize --top-k 4 --residual res.flt -o out.flt a.flt
	assert_equal "$stderr" "fl-quantize: a.flt: record 1: invalid --top-k '4': more than the 3 coordinates"
	[ ! -e out.flt ]
	run -1 --separate-stderr fl-quantize --top-k 1 --residual res.flt -o out.flt other.flt
	assert_equal "$stderr" "fl-quantize: res.flt: record 1: the residual does not match other.flt record 1: tensor 'w' where the update has 'v'"
	run -1 --separate-stderr fl-quantize --top-k 1 --residual res.flt -o out.flt shape.flt
	assert_equal "$stderr" "fl-quantize: res.flt: record 1: the residual does not match shape.flt record 1: tensor 'w' is f32 [3], the update's [3,1]"
	run -1 --separate-stderr fl-quantize --top-k 1 --residual res.flt -o out.flt nan.flt
	assert_equal "$stderr" "fl-quantize: nan.flt: record 1: tensor 'w': non-finite value at index 1"
	# a good record, then a bad one: neither the output nor the residual
	run -1 --separate-stderr fl-quantize --top-k 1 --residual res.flt -o out.flt a.flt nan.flt
	[ ! -e out.flt ]
	cmp res.flt res0.flt
	run -1 --separate-stderr fl-quantize --top-k 1 --residual a.flt -o out.flt a.flt
	assert_equal "$stderr" "fl-quantize: a.flt: record 1: not a top-k residual (kind=state)"
	run -1 --separate-stderr fl-quantize --rand-k 1 int.flt
	assert_equal "$stderr" "fl-quantize: int.flt: record 1: tensor 'w' is i32: sparsification takes float tensors"
	run -1 --separate-stderr fl-quantize --rand-k 1 noround.flt
	assert_equal "$stderr" "fl-quantize: noround.flt: record 1: no sparse seed: give --sparse-seed or a record with a round"
	fl-quantize --rand-k 2 -o r.flt a.flt
	run -1 --separate-stderr fl-quantize --top-k 1 r.flt
	assert_equal "$stderr" "fl-quantize: r.flt: record 1: already encoded (q.codec=randk)"
	# a top-k sum: each client sent other coordinates
	fl-quantize --top-k 1 -o t1.flt a.flt
	fl-pack -m kind=update -m round=1 -t w:f32=3,0,1 | fl-quantize --top-k 1 -o t2.flt
	fl-aggregate -r sum -o sum.flt t1.flt t2.flt
	run -1 --separate-stderr fl-quantize -d -o out.flt sum.flt
	assert_equal "$stderr" "fl-quantize: sum.flt: record 1: a sum of top-k records cannot be decoded (each client sent other coordinates): decode each client's record before fl-aggregate"
	[ ! -e out.flt ]
	# a rand-k record whose values do not match its seed
	py '
(m, t), = read(sys.argv[1]); m = dict(m); m["q.sparse-seed"] = "other"
t["w"] = np.zeros(3, np.float32)
flt.write_file("tampered.flt", [(m, t)])
' r.flt
	run -1 --separate-stderr fl-quantize -d -o out.flt tampered.flt
	assert_equal "$stderr" "fl-quantize: tampered.flt: record 1: 3 values, q.k says 2"
	[ ! -e out.flt ]
	# a header asking for more than the record holds is refused before
	# anything is allocated (2^40 values from a record of three)
	py '
(m, t), = read(sys.argv[1]); m = dict(m); m["q.k"] = m["q.dim"] = str(2**40)
m["q.shapes"] = "[%d]" % 2**40
flt.write_file("huge.flt", [(m, t)])
' r.flt
	run -1 --separate-stderr fl-quantize -d -o out.flt huge.flt
	assert_equal "$stderr" "fl-quantize: huge.flt: record 1: 2 values, q.k says 1099511627776"
	[ ! -e out.flt ]
	cmp res.flt res0.flt
	# option clashes: usage errors
	run -2 fl-quantize --top-k 1 --ring 16 -n 2 a.flt
	run -2 fl-quantize --rand-k 1 --ring 16 -n 2 a.flt
	run -2 fl-quantize --rand-k 1 --top-k 1 a.flt
	run -2 fl-quantize --rand-k 1 --residual res.flt a.flt
	run -2 fl-quantize --top-k 1 --sparse-seed s a.flt
	run -2 fl-quantize --rand-k 1 --seed s a.flt
	run -2 fl-quantize --rand-k 1 --bits 4 a.flt
	run -2 fl-quantize -d --top-k 1 a.flt
	cmp res.flt res0.flt
}
