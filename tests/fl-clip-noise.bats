#!/usr/bin/env bats
# fl-clip-noise: clipping, the noise distributions (against the exact ones,
# tests/dpstats.py), determinism, the metadata it writes and bad input.

load helper

STATS="$PYTHON $TOP/tests/dpstats.py"

# zeros FILE DTYPE N [fl-pack options...]: a record of one zero tensor 'x'.
zeros() {
	local file=$1 dtype=$2 n=$3
	shift 3
	yes 0 | head -n "$n" > zeros.txt
	fl-pack "$@" -t "x:$dtype=@zeros.txt" -o "$file"
}

# norm FILE [TENSOR]: the L2 norm of the float tensors (or one), in double.
norm() {
	$PYTHON -c '
import sys, math; sys.path.insert(0, sys.argv[1] + "/examples/python")
import flt, numpy as np
for meta, t in flt.read_records(open(sys.argv[2], "rb")):
    names = [sys.argv[3]] if len(sys.argv) > 3 else [n for n, a in t.items() if a.dtype.kind == "f"]
    print(repr(math.sqrt(sum(float((t[n].astype(np.float64) ** 2).sum()) for n in names))))
' "$TOP" "$@"
}

# random_update FILE SEED SCALE: a record with two float tensors of random
# values (numpy, not the project's generator) times SCALE.
random_update() {
	$PYTHON -c '
import sys; sys.path.insert(0, sys.argv[1] + "/examples/python")
import flt, numpy as np
rng = np.random.default_rng(int(sys.argv[3])); s = float(sys.argv[4])
t = {"fc.w": (rng.standard_normal((37, 11)) * s).astype(np.float32),
     "fc.b": (rng.standard_normal(11) * s).astype(np.float64)}
with open(sys.argv[2], "wb") as f:
    flt.write_record(f, {"kind": "update"}, t)
' "$TOP" "$@"
}

@test "clipping: the L2 norm after clipping is at most C, exactly in double" {
	local seed scale c norms
	# 24 records, one per seed and scale, in one file: each is clipped
	# on its own.
	for seed in 1 2 3 4 5 6; do
		for scale in 0.001 1 1000 1e30; do
			echo "$seed $scale"
		done
	done | $PYTHON -c '
import sys; sys.path.insert(0, sys.argv[1] + "/examples/python")
import flt, numpy as np
with open("u.flt", "wb") as f:
    for line in sys.stdin:
        seed, s = line.split()
        rng = np.random.default_rng(int(seed)); s = float(s)
        t = {"fc.w": (rng.standard_normal((37, 11)) * s).astype(np.float32),
             "fc.b": (rng.standard_normal(11) * s).astype(np.float64)}
        flt.write_record(f, {"kind": "update"}, t)
' "$TOP"
	for c in 1 0.1 3.7 1e-20; do
		fl-clip-noise -c "$c" -o out.flt u.flt
		norms=$(norm out.flt)
		[ "$(wc -l <<< "$norms")" -eq 24 ] || fail "clip $c: $norms"
		$PYTHON -c "
import sys
bad = [n for n in sys.argv[2:] if not float(n) <= float(sys.argv[1])]
sys.exit('norms above $c: %s' % bad if bad else 0)" "$c" $norms ||
		    fail "clip $c"
	done
}

# At the edges of the floating-point range: subnormal values, whose
# squares vanish in a double (f64) or which a factor near 1 leaves where
# they are (f32), are clipped all the same, in bounded time; noise whose
# grid is no normal number of the type, or that could overflow it, is
# refused rather than written as inf or NaN.
@test "clipping at the edges: subnormal values are clipped in bounded time, noise that cannot be represented is refused" {
	fl-pack -t 'x:f32=1e-45,1e-45,1e-45' -o s32.flt
	run -0 timeout 10 fl-clip-noise -c 2e-45 -o c32.flt s32.flt
	$PYTHON -c "import sys; sys.exit(not (float('$(norm c32.flt)') <= 2e-45))"
	fl-pack -t 'x:f64=1e-310,1e-310,1e-310,1e-310' -o s64.flt
	run -0 fl-clip-noise -c 1e-310 -o c64.flt s64.flt
	# The norm of subnormals, scaled so that the squares do not vanish.
	$PYTHON -c '
import sys; sys.path.insert(0, sys.argv[1] + "/examples/python")
import flt, numpy as np
(m, t), = flt.read_records(open("c64.flt", "rb")); x = t["x"]
n = float(np.abs(x).max()) * float(np.sqrt(np.sum((x / np.abs(x).max()) ** 2)))
sys.exit(not (0 < n <= 1e-310))' "$TOP" || fail "f64 subnormals not clipped"
	run -1 --separate-stderr fl-clip-noise -c 1e-310 -n 1 --seed s \
	    -o out.flt s64.flt
	assert_equal "$stderr" "fl-clip-noise: s64.flt: record 1: tensor 'x': noise of std 1e-310 has its grid below the smallest normal f64: raise the clip bound or the noise multiplier"
	fl-pack -t 'x:f32=1e30,2e30' -o big.flt
	run -1 --separate-stderr fl-clip-noise -c 1e38 -n 100 --seed s \
	    -o out.flt big.flt
	assert_equal "$stderr" "fl-clip-noise: big.flt: record 1: tensor 'x': noise of std 1e+40 would overflow f32"
	[ ! -e out.flt ]
	# Within the range, the noised values are finite, on their grid.
	run -0 fl-clip-noise -c 1e-30 -n 1 --seed s -o ok.flt s32.flt
	run -0 fl-inspect -g dp.clip ok.flt
	[ "$(fl-inspect ok.flt | awk '$1 == "x" { print $NF }')" = 0 ]
}

@test "clipping: an update within the bound passes unchanged; dp.clip is recorded" {
	random_update u.flt 7 0.01
	run -0 fl-clip-noise -c 100 -o out.flt u.flt
	run -0 fl-inspect --diff --tolerance 0 u.flt out.flt
	run -0 fl-inspect --get dp.clip out.flt
	assert_output 100
}

@test "clipping: a clipped update points the same way" {
	fl-pack -t 'w:f64=3,4' -t 'b:f64=0,12' -o u.flt
	fl-clip-noise -c 1.3 -o out.flt u.flt
	run -0 fl-inspect --dump w out.flt
	# 3,4,0,12 has norm 13: scaled by 0.1.
	assert_output $'0.30000000000000004\n0.4'
}

@test "clipping with noise: the noise pass applies the clip factor" {
	local n
	# Noise of 1e-9 on a clipped update: the clip shows through it.
	fl-pack -t 'w:f64=3000,4000' -t 'b:f32=0' -o u.flt
	fl-clip-noise -c 1 -n 1e-9 --seed c -o out.flt u.flt
	run -0 fl-inspect --dump w out.flt
	$PYTHON -c "import sys; a, b = map(float, sys.argv[1:]); sys.exit(not (abs(a - 0.6) < 1e-7 and abs(b - 0.8) < 1e-7))" ${output} ||
	    fail "clipped and noised: $output"
	random_update u.flt 5 1000
	fl-clip-noise -c 2 -n 1e-9 --seed c -o out.flt u.flt
	n=$(norm out.flt)
	$PYTHON -c "import sys; sys.exit(not (abs($n - 2) < 1e-6))" || fail "norm $n"
	# Per tensor too: each tensor has its own factor.
	fl-clip-noise -c 2 --per-tensor -n 1e-9 --seed c -o pt.flt u.flt
	for t in fc.w fc.b; do
		n=$(norm pt.flt "$t")
		$PYTHON -c "import sys, math; sys.exit(not (abs($n - math.sqrt(2)) < 1e-6))" ||
		    fail "per tensor: $t norm $n"
	done
	# The same update clipped in place first: the same values, up to
	# the grid and the float rounding of the in-place clip.
	fl-clip-noise -c 2 -o c.flt u.flt
	fl-clip-noise -n 1e-9 --sensitivity 2 --seed c -o cn.flt c.flt
	run -0 fl-inspect --diff --tolerance 1e-6 out.flt cn.flt
	# A NaN is still refused when the clip is left to the noise pass.
	fl-pack -t 'w:f32=1,nan' -o bad.flt
	run -1 --separate-stderr fl-clip-noise -c 1 -n 1 -o x.flt bad.flt
	assert_equal "$stderr" "fl-clip-noise: bad.flt: record 1: tensor 'w': non-finite value at index 1"
	assert [ ! -e x.flt ]
}

@test "clipping per tensor: equal, size and explicit splits bound each tensor" {
	random_update u.flt 11 10
	fl-clip-noise -c 2 --per-tensor -o eq.flt u.flt
	run -0 fl-inspect --get dp.clip-split eq.flt
	assert_output equal
	for t in fc.w fc.b; do
		n=$(norm eq.flt "$t")
		# The bound is C sqrt(w / sum w), as fl-clip-noise computes it.
		$PYTHON -c "import sys, math; sys.exit(not ($n <= 2 * math.sqrt(1 / 2)))" ||
		    fail "equal split: $t norm $n"
	done
	fl-clip-noise -c 2 --per-tensor=size -o size.flt u.flt
	n=$(norm size.flt fc.b)
	$PYTHON -c "import sys, math; sys.exit(not ($n <= 2 * math.sqrt(11 / 418)))" ||
	    fail "size split: fc.b norm $n"
	fl-clip-noise -c 2 --per-tensor=fc.w=3,fc.b=1 -o w.flt u.flt
	n=$(norm w.flt fc.w)
	$PYTHON -c "import sys, math; sys.exit(not ($n <= 2 * math.sqrt(3 / 4)))" ||
	    fail "weights: fc.w norm $n"
	n=$(norm w.flt)
	$PYTHON -c "import sys; sys.exit(not ($n <= 2))" || fail "total norm $n"
	run -1 --separate-stderr fl-clip-noise -c 2 --per-tensor=fc.w=3 u.flt
	assert_equal "$stderr" "fl-clip-noise: u.flt: record 1: --per-tensor gives no weight for tensor 'fc.b'"
}

@test "the clip indicator says within (1) or clipped (0), and nothing of the norm" {
	fl-pack -t 'w:f32=3,4' -o u.flt
	fl-clip-noise -c 10 --indicator -o in.flt u.flt
	fl-clip-noise -c 1 --indicator -o out.flt u.flt
	run -0 fl-inspect --dump clip.indicator in.flt
	assert_output 1
	run -0 fl-inspect --dump clip.indicator out.flt
	assert_output 0
	run -0 fl-inspect --get dp.clip-indicator out.flt
	assert_output clip.indicator
	# No key or tensor of the output holds the raw norm, 5.
	run -0 fl-inspect --json out.flt
	refute_output --partial '":"5"'
	# 0.6f and 0.8f have a norm a hair above 1 in double: shrunk once more.
	run -0 fl-inspect --dump w out.flt
	assert_output $'0.59999996\n0.79999995'
}

@test "--adapt: the next clip bound follows the quantile (geometric rule)" {
	# 80 of 100 within the bound, target 0.5, lr 0.2, no indicator noise:
	# C' = 2 exp(-0.2 (0.8 - 0.5)).
	fl-pack -m clients=100 -m dp.clip=2 -t 'clip.indicator:u32=80' -t 'w:f32=1' -o agg.flt
	fl-clip-noise --adapt --indicator-noise 0 -o next.flt agg.flt
	run -0 fl-inspect --get dp.clip-next next.flt
	$PYTHON -c "import math, sys; sys.exit(abs($output - 2 * math.exp(-0.2 * 0.3)) > 1e-15)" ||
	    fail "dp.clip-next $output"
	run -0 fl-inspect --get dp.clip-fraction next.flt
	assert_output 0.8
	# The indicator is gone; the update is untouched.
	run -1 fl-inspect --dump clip.indicator next.flt
	run -0 fl-inspect --dump w next.flt
	assert_output 1
	# Quantile 0.9 and lr 1 with everyone clipped: the bound grows e^0.9.
	fl-pack -m clients=10 -m dp.clip=1 -t 'clip.indicator:u32=0' -o zero.flt
	run -0 sh -c 'fl-clip-noise --adapt --indicator-noise 0 --target-quantile 0.9 --clip-lr 1 zero.flt | fl-inspect --get dp.clip-next'
	$PYTHON -c "import math, sys; sys.exit(abs($output - math.exp(0.9)) > 1e-12)" ||
	    fail "dp.clip-next $output"
}

@test "--adapt over a fixed denominator: the clipped fraction is over agg.denominator, not clients" {
	# 80 within the bound of 90 that took part, planned 100: 0.8, not 0.89.
	fl-pack -m clients=90 -m agg.denominator=100 -m dp.clip=2 \
	    -t 'clip.indicator:u32=80' -t 'w:f32=1' -o agg.flt
	run -0 sh -c 'fl-clip-noise --adapt --indicator-noise 0 agg.flt | fl-inspect --get dp.clip-fraction'
	assert_output 0.8
}

@test "--weight-cap: weighted DP-FedAvg scales the clipped update by min(weight, W)/W, within the bound" {
	fl-pack -m kind=update -m round=1 -m weight=5 -m loss=0.3 -t w:f32=3,4 -o a.flt
	fl-pack -m kind=update -m round=1 -m weight=50 -t w:f32=0.3,0.4 -o b.flt
	# a: clipped to (0.6, 0.8), then weight 5/10; b: within the bound, 50 capped at 10.
	run -0 sh -c 'fl-clip-noise -c 1 --weight-cap 10 a.flt | fl-inspect -d w'
	assert_output $'0.29999998\n0.39999998'
	run -0 sh -c 'fl-clip-noise -c 1 --weight-cap 10 b.flt | fl-inspect -d w'
	assert_output $'0.3\n0.4'
	# The weight and the loss stay on the device; the public cap travels.
	fl-clip-noise -c 1 --weight-cap 10 a.flt > ca.flt
	run -1 fl-inspect -g weight ca.flt
	run -1 fl-inspect -g loss ca.flt
	assert_equal "$(fl-inspect -g dp.weight-cap ca.flt)" 10
	fl-inspect --privacy ca.flt | grep -Eq '^  dp.weight-cap +public$'
	# With noise, the weight goes through the noise pass's factor: the
	# noiseless part is the same (noise 1e-9 of the clip).
	run -0 sh -c 'fl-clip-noise -c 1 -n 1e-9 --seed s --weight-cap 10 a.flt | fl-inspect -d w'
	assert_output $'0.3\n0.4'
	# Random large updates of every weight: the norm never exceeds C.
	local seed n
	for seed in 1 2 3 4; do
		$PYTHON -c '
import sys; sys.path.insert(0, sys.argv[1] + "/examples/python")
import flt, numpy as np
rng = np.random.default_rng(int(sys.argv[2]))
t = {"fc.w": (rng.standard_normal((37, 11)) * 100).astype(np.float32)}
with open("rw.flt", "wb") as f:
    flt.write_record(f, {"kind": "update", "weight": str(int(sys.argv[2]) * 7)}, t)
' "$TOP" "$seed"
		fl-clip-noise -c 1 --weight-cap 20 -o out.flt rw.flt
		n=$(norm out.flt)
		# weight 7 s capped at 20: the norm is min(7 s, 20) / 20 of C.
		$PYTHON -c "import sys; w = min(7 * $seed, 20) / 20; sys.exit(not (float('$n') <= w and float('$n') > w * (1 - 1e-6)))" ||
		    fail "seed $seed: norm $n"
	done
	run -1 fl-clip-noise -c 1 --weight-cap 10 <(fl-pack -m kind=update -t w:f32=1)
	assert_output --partial "--weight-cap needs the update's example count"
	run -1 fl-clip-noise -c 1 --weight-cap 10 <(fl-pack -m weight=0 -t w:f32=1)
	assert_output --partial "weight must be positive"
	run -2 fl-clip-noise -n 1 --weight-cap 10 a.flt
	run -1 fl-clip-noise -c 1 --weight-cap 0 a.flt
}

@test "--loss-bound: the loss rides inside the clip bound as fl.loss, clamped, and leaves the metadata" {
	fl-pack -m kind=update -m round=1 -m weight=10 -m loss=0.7 -t w:f32=3,4 -o l.flt
	fl-clip-noise -c 1 --loss-bound 2 l.flt > c.flt
	# 0.1 C x 0.7 / 2 (less 4 ulp); the update clipped to C sqrt(0.99).
	run -0 fl-inspect -d fl.loss c.flt
	assert_output 0.03499999999999997
	$PYTHON -c "import sys, math; n = float('$(norm c.flt w)'); sys.exit(not (n <= math.sqrt(0.99) and n > math.sqrt(0.99) * (1 - 1e-6)))" ||
	    fail "update norm $(norm c.flt w)"
	run -1 fl-inspect -g loss c.flt
	assert_equal "$(fl-inspect -g dp.loss-scale c.flt)" 0.05
	assert_equal "$(fl-inspect -g dp.loss-bound c.flt)" 2
	# Clamped to [0, B].
	fl-pack -m loss=9 -t w:f32=0 | fl-clip-noise -c 1 --loss-bound 2 > hi.flt
	assert_equal "$(fl-inspect -d fl.loss hi.flt)" 0.09999999999999992
	fl-pack -m loss=-3 -t w:f32=0 | fl-clip-noise -c 1 --loss-bound 2 > lo.flt
	assert_equal "$(fl-inspect -d fl.loss lo.flt)" 0
	# Update and loss together within C, whatever the update, with
	# noise's factor path and with the weight.
	local seed n
	for seed in 1 2 3; do
		$PYTHON -c '
import sys; sys.path.insert(0, sys.argv[1] + "/examples/python")
import flt, numpy as np
rng = np.random.default_rng(int(sys.argv[2]))
t = {"fc.w": (rng.standard_normal((37, 11)) * 100).astype(np.float32),
     "fc.b": (rng.standard_normal(11) * 100).astype(np.float64)}
with open("rl.flt", "wb") as f:
    flt.write_record(f, {"kind": "update", "loss": "5", "weight": "3"}, t)
' "$TOP" "$seed"
		fl-clip-noise -c 1 --loss-bound 1 -o out.flt rl.flt
		n=$(norm out.flt)
		$PYTHON -c "import sys; sys.exit(not (1 - 1e-6 < float('$n') <= 1))" ||
		    fail "seed $seed: joint norm $n"
		fl-clip-noise -c 1 --loss-bound 1 --weight-cap 6 -o out.flt rl.flt
		n=$(norm out.flt)
		$PYTHON -c "import sys; sys.exit(not (0.5 - 1e-6 < float('$n') <= 0.5))" ||
		    fail "seed $seed: weighted joint norm $n"
		fl-clip-noise -c 1 --loss-bound 1 --weight-cap 6 -n 1e-9 --seed s -o out.flt rl.flt
		run -0 fl-inspect -d fl.loss out.flt
		$PYTHON -c "import sys; sys.exit(abs(float('$output') - 0.05) > 1e-8)" ||
		    fail "seed $seed: noised weighted loss coordinate $output"
	done
	run -1 fl-clip-noise -c 1 --loss-bound 2 <(fl-pack -t w:f32=1)
	assert_output --partial "--loss-bound needs the update's training loss"
	run -1 fl-clip-noise -c 1 --loss-bound 2 <(fl-pack -m loss=nan -t w:f32=1)
	assert_output --partial "loss"
	run -1 fl-clip-noise -c 1 --loss-bound 2 c.flt
	run -1 fl-clip-noise -c 1 --loss-bound 2 <(fl-pack -m loss=1 -t w:f32=1 -t fl.loss:f64=1)
	assert_output --partial "already carries a tensor 'fl.loss'"
	run -2 fl-clip-noise -n 1 --loss-bound 2 l.flt
}

@test "--loss-bound through the ring, the sum and a fixed denominator: the weighted mean loss comes back" {
	local i
	fl-init -a mlp:4-3-2 --seed 1 -o g.flt
	for i in 1 2 3; do
		fl-pack -m kind=update -m round=0 -m weight=$((i * 10)) -m loss=$i \
		    -t fc1.w:f32:4x3=1,1,1,1,1,1,1,1,1,1,1,$i -t fc1.b:f32=0,0,1 \
		    -t fc2.w:f32:3x2=0,0,0,0,0,1 -t fc2.b:f32=0,1 |
		    fl-clip-noise -c 1 --loss-bound 4 --weight-cap 30 |
		    fl-quantize --ring 32 --clients 3 > "r$i.flt"
	done
	fl-aggregate -r sum r1.flt r2.flt r3.flt | fl-quantize -d --mean=2 |
	    fl-apply -m g.flt -o g2.flt
	# (1/3 x 1 + 2/3 x 2 + 1 x 3) / 2, within the ring's rounding.
	run -0 fl-inspect -g loss g2.flt
	$PYTHON -c "import sys; sys.exit(abs(float('$output') - 7 / 3) > 1e-4)" ||
	    fail "loss $output"
}

@test "--adapt: the indicator noise is exact discrete Gaussian, clients/10 by default" {
	fl-pack -m clients=800 -m dp.clip=1 -t 'clip.indicator:u32=400' -o agg.flt
	fl-clip-noise --adapt --seed a -o a.flt agg.flt
	run -0 fl-inspect --get dp.indicator-noise a.flt
	assert_output 80
	not_under_sanitizers "200 draws of a statistical test"
	# Over many seeds, the noised fraction has the right spread: sd 80/800.
	for s in $(seq 200); do
		fl-clip-noise --adapt --seed "$s" agg.flt | fl-inspect --get dp.clip-fraction
	done > fractions
	$PYTHON -c '
import sys, statistics as st
x = [float(v) for v in open("fractions")]
m, sd = st.mean(x), st.pstdev(x)
print(m, sd)
sys.exit(not (abs(m - 0.5) < 0.03 and 0.08 < sd < 0.12))'
}

@test "Gaussian noise on floats: mean, variance and KS against N(0, sigma^2)" {
	zeros z.flt f64 100000
	fl-clip-noise --noise 2.5 --sensitivity 1 --seed gauss -o n.flt z.flt
	run -0 $STATS gauss n.flt 2.5
	fl-clip-noise --noise 2.5 --sensitivity 1 --exact --seed exact -o e.flt z.flt
	run -0 $STATS gauss e.flt 2.5
	run -0 fl-inspect --get dp.sampler e.flt
	assert_output exact-discrete-gaussian
}

@test "Gaussian noise on floats lands on the power-of-two grid (no porous low bits)" {
	random_update u.flt 3 1
	fl-clip-noise -c 1 -n 1 --seed grid -o n.flt u.flt
	run -0 fl-inspect --get dp.grid n.flt
	g=$output
	$PYTHON -c '
import sys, math; sys.path.insert(0, sys.argv[1] + "/examples/python")
import flt, numpy as np
g = float(sys.argv[3])
assert math.frexp(g)[0] == 0.5, "grid not a power of two"
for meta, t in flt.read_records(open(sys.argv[2], "rb")):
    for a in t.values():
        q = a.astype(np.float64) / g
        # f32 rounds large multiples; f64 keeps them exact.
        if a.dtype == np.float64:
            assert np.all(q == np.round(q)), "off the grid"
        sigma_g = 1 / g
        assert 2**18 <= sigma_g < 2**19, sigma_g
' "$TOP" n.flt "$g"
}

@test "discrete Gaussian for sigma 0.5, 1, 3 and 100: moments and chi-square against the exact pmf" {
	zeros z.flt i64 100000
	for s in 0.5 1 3 100; do
		fl-clip-noise --noise "$s" --sensitivity 1 --seed "dg$s" -o n.flt z.flt
		run $STATS dgauss n.flt "$s"
		[ "$status" -eq 0 ] || fail "sigma $s: $output"
	done
}

@test "Skellam for sigma 0.5, 1, 3 and 100: moments and chi-square against the exact pmf" {
	zeros z.flt i64 100000
	for s in 0.5 1 3 100; do
		fl-clip-noise -m skellam --noise "$s" --sensitivity 1 --seed "sk$s" -o n.flt z.flt
		run $STATS skellam n.flt "$s"
		[ "$status" -eq 0 ] || fail "sigma $s: $output"
	done
	run -0 fl-inspect --get dp.sensitivity-l1 n.flt
	assert_output 1
}

@test "distributed: 16 shares of variance sigma^2/16 sum to variance sigma^2" {
	zeros z.flt i64 20000
	for i in $(seq 16); do cat z.flt; done > clients.flt
	fl-clip-noise --noise 8 --sensitivity 1 --shares 16 --seed shares -o n.flt clients.flt
	run -0 fl-inspect --get dp.sigma n.flt
	[ "${lines[0]}" = 2 ] || fail "share sigma ${lines[0]}"
	run -0 $STATS sum n.flt 8
}

@test "noise is independent across chunks, tensors and records" {
	yes 0 | head -n 65536 > z.txt
	fl-pack -t x:f32=@z.txt -t y:f32=@z.txt -o z.flt
	cat z.flt z.flt > two.flt
	fl-clip-noise --noise 1 --sensitivity 1 --seed ind -j 3 -o n.flt two.flt
	run -0 $STATS independent n.flt
	zeros zi.flt i64 65536
	fl-clip-noise --noise 5 --sensitivity 1 --seed indi -o ni.flt zi.flt
	run -0 $STATS independent ni.flt
}

@test "--seed gives the same bytes whatever the thread count; no seed gives fresh noise" {
	zeros z.flt f32 100000
	zeros zi.flt i64 50000
	fl-clip-noise -n 1 --sensitivity 1 --seed s -j 1 -o a.flt z.flt
	fl-clip-noise -n 1 --sensitivity 1 --seed s -j 4 -o b.flt z.flt
	cmp a.flt b.flt
	fl-clip-noise -n 1 --sensitivity 1 --seed s -j 1 -o ai.flt zi.flt
	fl-clip-noise -n 1 --sensitivity 1 --seed s -j 3 -o bi.flt zi.flt
	cmp ai.flt bi.flt
	fl-clip-noise -n 1 --sensitivity 1 --seed t -o c.flt z.flt
	! cmp -s a.flt c.flt
	fl-clip-noise -n 1 --sensitivity 1 -o d.flt z.flt
	fl-clip-noise -n 1 --sensitivity 1 -o e.flt z.flt
	! cmp -s d.flt e.flt
	# The seed is never written, and a seeded record says it is.
	! grep -q s3cr3t-seed <(fl-clip-noise -n 1 --sensitivity 1 --seed s3cr3t-seed z.flt)
	run -0 fl-inspect --get dp.seeded a.flt
	assert_output yes
	run -1 fl-inspect --get dp.seeded d.flt
}

@test "the metadata carries what the accountant needs" {
	random_update u.flt 5 1
	fl-clip-noise -c 2 -n 1.5 --shares 4 --seed m -o n.flt u.flt
	for kv in dp.clip=2 dp.noise=1.5 dp.mechanism=gaussian dp.sigma=1.5 \
	    dp.shares=4 dp.dim=418 dp.sampler=ziggurat; do
		run -0 fl-inspect --get "${kv%%=*}" n.flt
		[ "$output" = "${kv#*=}" ] || fail "${kv%%=*}: $output, want ${kv#*=}"
	done
	# The sensitivity includes the snapping: C + g sqrt(d).
	run -0 fl-inspect --get dp.sensitivity n.flt
	s=$output
	run -0 fl-inspect --get dp.grid n.flt
	$PYTHON -c "import math, sys; sys.exit(abs($s - (2 + $output * math.sqrt(418))) > 1e-12)" ||
	    fail "dp.sensitivity $s"
}

@test "adaptive clipping splits the noise multiplier: z^-2 = z_u^-2 + s^-2 (the 0/1 sum has sensitivity 1)" {
	random_update u.flt 9 1
	fl-clip-noise -c 1 --indicator -n 1 --indicator-noise 2 --seed a -o n.flt u.flt
	run -0 fl-inspect --get dp.noise-update n.flt
	$PYTHON -c "import sys; sys.exit(abs($output - (1 - 1 / 4) ** -0.5) > 1e-12)" ||
	    fail "dp.noise-update $output"
	run -1 --separate-stderr fl-clip-noise -c 1 -n 1 --indicator-noise 1 u.flt
	assert_equal "$stderr" "fl-clip-noise: u.flt: record 1: --noise 1 needs --indicator-noise above 1 (z < sigma_b)"
}

@test "ring noise wraps around the modulus; plain integers refuse to overflow" {
	zeros r.flt u32 50000 -m modulus=1024
	fl-clip-noise -n 3 --sensitivity 1 --seed r -o n.flt r.flt
	$PYTHON -c '
import sys; sys.path.insert(0, sys.argv[1] + "/examples/python")
import flt, numpy as np
(meta, t), = flt.read_records(open("n.flt", "rb"))
x = t["x"].astype(np.int64)
assert x.max() < 1024 and x.min() >= 0
c = np.where(x >= 512, x - 1024, x)
assert abs(c.mean()) < 0.1 and 8 < c.var() < 10, (c.mean(), c.var())
assert (x > 1000).sum() > 1000      # negatives wrapped to the top
' "$TOP"
	fl-pack -t 'x:i32=2147483647,2147483647,2147483647,2147483647' -o big.flt
	run -1 --separate-stderr fl-clip-noise -n 10 --sensitivity 1 --seed o big.flt
	assert_equal "$stderr" "fl-clip-noise: big.flt: record 1: tensor 'x': noise overflows i32"
}

@test "a share that exceeds its sensitivity bound is refused, checked exactly" {
	# 3^2 + 4^2 = 25: within 5, not within 4.999999999.
	fl-pack -m modulus=65536 -t 'x:u32=3,65532' -o s.flt
	run -0 fl-clip-noise -n 1 --sensitivity 5 --shares 10 --seed a s.flt
	run -1 --separate-stderr fl-clip-noise -n 1 --sensitivity 4.999999999 --shares 10 -o out.flt s.flt
	assert_equal "$stderr" "fl-clip-noise: s.flt: record 1: the update exceeds its L2 sensitivity bound 4.999999999"
	[ ! -e out.flt ]
}

@test "bad input: non-finite values, bad clip or noise, wrong kind of tensor, missing metadata" {
	fl-pack -t 'w:f32=1,nan' -o nan.flt
	run -1 --separate-stderr fl-clip-noise -c 1 -o out.flt nan.flt
	assert_equal "$stderr" "fl-clip-noise: nan.flt: record 1: tensor 'w': non-finite value at index 1"
	[ ! -e out.flt ]
	fl-pack -t 'w:f32=1,inf' -o inf.flt
	run -1 fl-clip-noise -n 1 --sensitivity 1 inf.flt
	assert_output --partial "non-finite value at index 1"
	# (An infinity is named as such, not as a norm that overflows.)
	run -1 --separate-stderr fl-clip-noise -c 1 inf.flt
	assert_equal "$stderr" "fl-clip-noise: inf.flt: record 1: tensor 'w': non-finite value at index 1"
	# Finite values whose norm overflows a double: refused, with or
	# without noise (never clipped to zeros).
	fl-pack -t 'w:f64=1e200,1e200' -o huge.flt
	for n in "" "-n 1"; do
		run -1 --separate-stderr fl-clip-noise -c 1 $n -o out.flt huge.flt
		assert_equal "$stderr" "fl-clip-noise: huge.flt: record 1: the values are too large to clip: their norm overflows a double"
		[ ! -e out.flt ]
	done

	fl-pack -t 'w:f32=1,2' -o f.flt
	run -1 --separate-stderr fl-clip-noise -c 0 f.flt
	assert_equal "$stderr" "fl-clip-noise: invalid --clip '0': must be positive"
	run -1 --separate-stderr fl-clip-noise -c -1 f.flt
	assert_equal "$stderr" "fl-clip-noise: invalid --clip '-1': must be positive"
	run -1 --separate-stderr fl-clip-noise -c 1 -n -0.5 f.flt
	assert_equal "$stderr" "fl-clip-noise: invalid --noise '-0.5': must be at least 0"
	run -1 --separate-stderr fl-clip-noise -c 1 -n 1 -m skellam f.flt
	assert_equal "$stderr" "fl-clip-noise: f.flt: record 1: skellam noise asked of float tensors"

	fl-pack -m modulus=256 -t 'q:u32=1,2' -o q.flt
	run -1 --separate-stderr fl-clip-noise -n 1 -m gaussian --sensitivity 1 q.flt
	assert_equal "$stderr" "fl-clip-noise: q.flt: record 1: gaussian noise asked of integer tensors"
	run -1 --separate-stderr fl-clip-noise -n 1 q.flt
	assert_equal "$stderr" "fl-clip-noise: q.flt: record 1: missing quantization metadata: integer noise needs dp.sensitivity (from fl-quantize --ring) or --sensitivity"
	fl-pack -t 'q:u32=1,2' -o nomod.flt
	run -1 --separate-stderr fl-clip-noise -n 1 --sensitivity 1 nomod.flt
	assert_equal "$stderr" "fl-clip-noise: nomod.flt: record 1: missing quantization metadata: u32 tensor 'q' without a 'modulus'"
	run -1 --separate-stderr fl-clip-noise -c 1 q.flt
	assert_equal "$stderr" "fl-clip-noise: q.flt: record 1: tensor 'q' is u32: clipping applies to float tensors (clip before fl-quantize)"
	run -1 --separate-stderr fl-clip-noise -n 1 f.flt
	assert_equal "$stderr" "fl-clip-noise: f.flt: record 1: no clip bound: clip first (-c) or give --sensitivity"

	# Noise twice is refused, and so is clipping a noised record.
	fl-clip-noise -c 1 -n 1 -o once.flt f.flt
	run -1 --separate-stderr fl-clip-noise -n 1 once.flt
	assert_equal "$stderr" "fl-clip-noise: once.flt: record 1: already noised (dp.mechanism=gaussian)"
	run -1 fl-clip-noise -c 1 once.flt
	assert_output --partial "already noised"
}

@test "dp.sigma is z x S: the clip bound for floats, dp.sensitivity over sqrt(shares) for ring shares" {
	fl-pack -m kind=update -m round=1 -t w:f32=0.3,0.4,0.1 -o u.flt
	fl-clip-noise -c 0.5 -n 1.3 --seed s -o f.flt u.flt
	near "$(fl-inspect -g dp.sigma f.flt)" 0.65 1e-12
	# The accountant divides by dp.sensitivity, the bound plus the grid.
	ge "$(fl-inspect -g dp.sensitivity f.flt)" 0.5
	fl-clip-noise -c 1 u.flt | fl-quantize --ring 16 -n 4 --seed x |
	    fl-clip-noise -n 1.3 --shares 4 -m discrete-gaussian -o i.flt
	near "$(fl-inspect -g dp.sigma i.flt)" \
	    "$(awk -v s="$(fl-inspect -g dp.sensitivity i.flt)" 'BEGIN { printf "%.17g", 1.3 * s / 2 }')" 1e-6
}

@test "noise on a mean or a robust aggregate is refused: its sensitivity is not the clip bound" {
	# A mean of n clipped updates moves by clip/n when one client
	# changes: noise sized to dp.clip on it is n times too much (or, with
	# a fixed denominator, mis-sized); a median's or Krum's sensitivity is
	# another question.  Noise goes on the sum, before the division.
	local rule
	for i in 1 2 3; do
		fl-pack -m kind=update -m round=1 -m weight=1 -t "w:f32=0.$i,0.2" |
		    fl-clip-noise -c 1 -o "u$i.flt"
	done
	for rule in mean trimmed-mean median krum; do
		if [ "$rule" = mean ]; then
			fl-aggregate --unweighted -o agg.flt u1.flt u2.flt u3.flt
		else
			fl-aggregate -r "$rule" -o agg.flt u1.flt u2.flt u3.flt
		fi
		run -1 --separate-stderr fl-clip-noise --noise 1 --seed s \
		    -o out.flt agg.flt
		[[ $stderr == "fl-clip-noise: agg.flt: record 1: noise on an aggregate of agg=$rule, whose sensitivity is not the clip bound"*"fl-aggregate -r sum"*"--sensitivity" ]] ||
		    fail "$rule: $stderr"
		[ ! -e out.flt ]
	done
	fl-aggregate --denominator 3 -o fixed.flt u1.flt u2.flt u3.flt
	run -1 fl-clip-noise --noise 1 --seed s fixed.flt
	# The sum takes the noise; an explicit --sensitivity is the user's.
	fl-aggregate -r sum -o sum.flt u1.flt u2.flt u3.flt
	run -0 fl-clip-noise --noise 1 --seed s -o noised.flt sum.flt
	[ "$(fl-inspect -g dp.sigma noised.flt)" = 1 ]
	fl-aggregate --unweighted -o mean.flt u1.flt u2.flt u3.flt
	run -0 fl-clip-noise --noise 1 --sensitivity 0.3333 --seed s \
	    -o noised.flt mean.flt
}

@test "a bad record in the middle of a stream: exit 1 and no -o file" {
	fl-pack -t 'w:f32=1,2' -o a.flt
	fl-pack -t 'w:f32=1,nan' -o b.flt
	run -1 fl-clip-noise -c 1 -o out.flt a.flt b.flt a.flt
	[ ! -e out.flt ]
	head -c 100 a.flt > cut.flt
	run -1 fl-clip-noise -c 1 -o out.flt a.flt cut.flt
	assert_output --partial "cut.flt: record 1: truncated record"
	[ ! -e out.flt ]
}

@test "usage errors exit 2" {
	fl-pack -t 'w:f32=1' -o f.flt
	run -2 fl-clip-noise f.flt
	assert_output --partial "nothing to do"
	run -2 fl-clip-noise --adapt -c 1 f.flt
	run -2 fl-clip-noise --shares 3 -c 1 f.flt
	run -2 fl-clip-noise --indicator f.flt
	run -2 fl-clip-noise --per-tensor -n 1 f.flt
	run -1 fl-clip-noise -m laplace -n 1 f.flt
	assert_output --partial "invalid --mechanism 'laplace'"
}

@test "--adapt needs an aggregate with the indicator, a clip and a client count" {
	fl-pack -m dp.clip=1 -t 'w:f32=1' -o noind.flt
	run -1 --separate-stderr fl-clip-noise --adapt noind.flt
	assert_equal "$stderr" "fl-clip-noise: noind.flt: record 1: no clip.indicator tensor (clients add it with --indicator)"
	fl-pack -m dp.clip=1 -t 'clip.indicator:u32=3' -o noclients.flt
	run -1 fl-clip-noise --adapt noclients.flt
	assert_output --partial "no 'clients' count"
	fl-pack -m clients=3 -t 'clip.indicator:u32=3' -o noclip.flt
	run -1 fl-clip-noise --adapt noclip.flt
	assert_output --partial "no dp.clip to adapt"
}
