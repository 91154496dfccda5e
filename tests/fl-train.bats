#!/usr/bin/env bats
# fl-train: local training, the update it writes, DP-SGD, and the data
# it refuses.

load helper
load learn

setup() {
	make_blobs
	make_csv
}

# l2 FILE: the L2 norm of all the tensors of FILE's first record.
l2() {
	fl-inspect --json "$1" | "$PYTHON" -c '
import json, sys, math
r = json.loads(sys.stdin.readline())
print(math.sqrt(sum(t["l2"] ** 2 for t in r["tensors"])))'
}

@test "fl-train: an update with weight = examples, arch, round and loss" {
	fl-init -a logreg:4-3 --seed m -r 5 -o m.flt
	run fl-train -m m.flt --seed 1 blobs.flt -o u.flt
	assert_success
	assert_equal "$(get kind u.flt)" update
	assert_equal "$(get weight u.flt)" 300
	assert_equal "$(get arch u.flt)" logreg:4-3
	assert_equal "$(get round u.flt)" 5
	loss=$(get loss u.flt)
	ge "$loss" 0.01 && ge 5 "$loss"
	run fl-inspect u.flt
	assert_line --regexp '^  fc1\.w +f32 +\[4,3\] '
	assert_line --regexp '^  fc1\.b +f32 +\[3\] '
}

@test "fl-train: the update is the trained model minus the global one" {
	fl-train -m model.flt --seed 1 -e 3 blobs.flt -o u.flt
	fl-train -m model.flt --seed 1 -e 3 --trained blobs.flt -o t.flt
	assert_equal "$(get kind t.flt)" model
	assert_equal "$(fl-inspect --get weight t.flt)" ""
	run "$PYTHON" - <<'PY'
import subprocess
def dump(name, f):
    out = subprocess.run(["fl-inspect", "--dump", name, f], capture_output=True,
                         text=True, check=True).stdout
    return [float(v) for line in out.split() for v in line.split(",")]
for n in ("fc1.w", "fc1.b"):
    u, t, g = dump(n, "u.flt"), dump(n, "t.flt"), dump(n, "model.flt")
    assert max(abs(a - (b - c)) for a, b, c in zip(u, t, g)) < 1e-6, n
    assert max(abs(a) for a in u) > 1e-3, n
print("ok")
PY
	assert_success
	assert_output ok
}

@test "fl-train: it learns: accuracy on held-out data rises" {
	fl-split --synthetic=300 --features=4 --classes=3 --seed=blobs -n 2 \
	    -p half-
	before=$(accuracy -m model.flt half-1.flt)
	fl-train -m model.flt --seed 1 -e 20 --trained half-0.flt -o t.flt
	after=$(accuracy -m t.flt half-1.flt)
	ge "$after" 0.7 || fail "accuracy $after"
	ge "$after" "$before"
	fl-init -a mlp:4-16-3 --seed 1 -o mlp.flt
	fl-train -m mlp.flt --seed 1 -e 20 --cosine --momentum 0.5 --trained \
	    half-0.flt -o t2.flt
	ge "$(accuracy -m t2.flt half-1.flt)" 0.7
}

@test "fl-train: the same seed gives the same bytes whatever -j; another seed differs" {
	fl-init -a mlp:4-40-20-3 --seed 1 -o mlp.flt
	fl-train -m mlp.flt --seed 1 -e 2 -b 7 blobs.flt -o j1.flt
	fl-train -m mlp.flt --seed 1 -e 2 -b 7 -j 2 blobs.flt -o j2.flt
	fl-train -m mlp.flt --seed 1 -e 2 -b 7 -j 5 blobs.flt -o j5.flt
	fl-train -m mlp.flt --seed 2 -e 2 -b 7 blobs.flt -o s2.flt
	cmp j1.flt j2.flt
	cmp j1.flt j5.flt
	! cmp -s j1.flt s2.flt
	# DP-SGD too, noise included
	fl-train -m mlp.flt --seed 1 --dp -b 16 blobs.flt -o d1.flt
	fl-train -m mlp.flt --seed 1 --dp -b 16 -j 3 blobs.flt -o d3.flt
	cmp d1.flt d3.flt
	fl-train -m mlp.flt --seed 1 --dp --poisson -b 16 blobs.flt -o p1.flt
	fl-train -m mlp.flt --seed 1 --dp --poisson -b 16 -j 2 blobs.flt \
	    -o p2.flt
	cmp p1.flt p2.flt
}

@test "fl-train --each: one update per data file, each the bytes of a run on it alone" {
	fl-init -a mlp:4-8-3 --seed 1 -o mlp.flt
	fl-split -n 3 --iid --seed 3 -p part blobs.flt
	for opts in "-e 2 -b 7" "--dp -b 16 --poisson" "-e 1 --trained"; do
		rm -f one.flt
		for p in part0.flt part1.flt part2.flt; do
			# shellcheck disable=SC2086
			fl-train -m mlp.flt --seed 1 $opts "$p" >> one.flt
		done
		# shellcheck disable=SC2086
		fl-train -m mlp.flt --seed 1 $opts --each part0.flt \
		    part1.flt part2.flt -o each.flt
		cmp one.flt each.flt
	done
	run fl-inspect -c each.flt
	assert_success
	# One file, and stdin among them.
	fl-train -m mlp.flt --seed 1 --each part1.flt -o e1.flt
	fl-train -m mlp.flt --seed 1 part1.flt -o o1.flt
	cmp e1.flt o1.flt
	fl-train -m mlp.flt --seed 1 --each part0.flt - < part1.flt > e2.flt
	fl-train -m mlp.flt --seed 1 part0.flt > o2.flt
	fl-train -m mlp.flt --seed 1 part1.flt >> o2.flt
	cmp e2.flt o2.flt
	# Without a seed, each from its own key: the updates differ.
	fl-train -m mlp.flt --each part0.flt part0.flt -o r.flt
	run fl-inspect r.flt
	[ "$(printf '%s\n' "${lines[@]}" | sed -n 's/.* pcrc \([0-9a-f]*\) .*/\1/p' |
	    sort -u | wc -l)" = 2 ]
	# Several files need --each; --client names one update; stdin once.
	run --separate-stderr fl-train -m mlp.flt part0.flt part1.flt \
	    -o x.flt
	assert_equal "$status" 2
	run --separate-stderr fl-train -m mlp.flt --each --client c \
	    part0.flt part1.flt -o x.flt
	assert_equal "$status" 2
	run --separate-stderr fl-train -m mlp.flt --each - - -o x.flt
	assert_equal "$status" 2
	# A bad file among them: exit 1, nothing written.
	run --separate-stderr fl-train -m mlp.flt --each part0.flt nope.flt \
	    -o x.flt
	assert_equal "$status" 1
	assert_equal "$stderr" "fl-train: nope.flt: No such file or directory"
	echo junk > bad.flt
	run --separate-stderr fl-train -m mlp.flt --each part0.flt bad.flt \
	    -o x.flt
	assert_equal "$status" 1
	[ ! -e x.flt ]
}

@test "fl-train: --steps, --epochs, --batch, momentum, weight decay, cosine" {
	fl-train -m model.flt --seed 1 -s 3 -b 10 blobs.flt -o a.flt
	fl-train -m model.flt --seed 1 -s 3 -b 10 --momentum 0.9 \
	    --weight-decay 0.01 --cosine blobs.flt -o b.flt
	! cmp -s a.flt b.flt
	run --separate-stderr fl-train -m model.flt -e 2 -s 3 blobs.flt
	assert_equal "$status" 2
	run --separate-stderr fl-train -m model.flt --momentum 1 blobs.flt
	assert_equal "$status" 1
	run --separate-stderr fl-train -m model.flt -b 0 blobs.flt
	assert_equal "$status" 1
	# a batch larger than the data is the whole data
	fl-train -m model.flt --seed 1 -b 1000 -s 1 blobs.flt -o big.flt
	fl-train -m model.flt --seed 1 -b 300 -s 1 blobs.flt -o all.flt
	cmp big.flt all.flt
}

@test "fl-train: FedProx pulls the local model towards the global one" {
	fl-train -m model.flt --seed 1 -e 5 blobs.flt -o free.flt
	fl-train -m model.flt --seed 1 -e 5 --prox-mu 5 blobs.flt -o prox.flt
	ge "$(l2 free.flt)" "$(l2 prox.flt)"
	! ge "$(l2 prox.flt)" "$(l2 free.flt)"
}

@test "fl-train: --client and metadata of the model pass to the update" {
	fl-pack -m kind=model -m arch=logreg:4-3 -m round=3 -m x-run=a1 \
	    -m weight=9 -t fc1.w:f32:4x3=0,0,0,0,0,0,0,0,0,0,0,0 \
	    -t fc1.b:f32=0,0,0 -o m.flt
	fl-train -m m.flt --seed 1 --client dev-7 blobs.flt -o u.flt
	assert_equal "$(get client u.flt)" dev-7
	assert_equal "$(get x-run u.flt)" a1
	assert_equal "$(get round u.flt)" 3
	assert_equal "$(get weight u.flt)" 300
	run --separate-stderr fl-train -m m.flt --client 'a b ' blobs.flt
	assert_equal "$status" 1
}

@test "fl-train: DP-SGD writes what the accountant needs" {
	fl-train -m model.flt --seed 1 --dp --clip 0.5 --noise 1.3 -b 30 -e 2 \
	    blobs.flt -o u.flt
	assert_equal "$(get dp.level u.flt)" sample
	assert_equal "$(get dp.mechanism u.flt)" gaussian
	assert_equal "$(get dp.clip u.flt)" 0.5
	assert_equal "$(get dp.noise u.flt)" 1.3
	assert_equal "$(get dp.q u.flt)" 0.1
	assert_equal "$(get dp.steps u.flt)" 20
	# Poisson sampling, the accountants' assumption, is the default.
	assert_equal "$(get dp.sampling u.flt)" poisson
	fl-train -m model.flt --seed 1 --dp --poisson -b 30 -s 7 blobs.flt \
	    -o p.flt
	assert_equal "$(get dp.sampling p.flt)" poisson
	assert_equal "$(get dp.steps p.flt)" 7
	assert_equal "$(get dp.seeded p.flt)" yes
	assert_equal "$(get dp.dim p.flt)" 15
	if command -v fl-account > /dev/null; then
		run fl-account p.flt
		assert_success
		assert_output --partial "steps 7"
	fi
	# Shuffled batches are not Poisson sampling: fl-account charges them
	# only when asked to, and says it is an approximation.
	fl-train -m model.flt --seed 1 --dp --shuffle -b 30 -s 7 blobs.flt \
	    -o s.flt
	assert_equal "$(get dp.sampling s.flt)" shuffle
	if command -v fl-account > /dev/null; then
		run --separate-stderr fl-account s.flt
		assert_equal "$status" 1
		[[ $stderr == *"s.flt: record 1: batches drawn by shuffling (dp.sampling=shuffle), which the accountant's Poisson sampling does not cover"* ]] ||
		    fail "stderr: $stderr"
		run --separate-stderr fl-account --shuffle-as-poisson s.flt
		assert_success
		[[ $stderr == *"shuffled batches charged as Poisson sampling: an approximation"* ]] ||
		    fail "stderr: $stderr"
	fi
	run --separate-stderr fl-train -m model.flt --dp --shuffle --poisson \
	    blobs.flt
	assert_equal "$status" 2
	# without --dp there is no DP metadata, and the DP options need it
	fl-train -m model.flt --seed 1 blobs.flt -o plain.flt
	assert_equal "$(fl-inspect --get dp.clip plain.flt)" ""
	for o in --clip=1 --noise=1 --poisson --shuffle; do
		run --separate-stderr fl-train -m model.flt "$o" blobs.flt
		assert_equal "$status" 2
	done
}

@test "fl-train: DP-SGD at a public --rate states a rate and steps that do not depend on the example count" {
	fl-split --synthetic=120 --features=4 --classes=3 --seed=small -o small.flt
	fl-train -m model.flt --seed 1 --dp --rate 0.04 -e 2 blobs.flt -o a.flt
	fl-train -m model.flt --seed 1 --dp --rate 0.04 -e 2 small.flt -o b.flt
	# 300 and 120 examples: the same dp.q and dp.steps, 2 x ceil(1/0.04).
	for f in a.flt b.flt; do
		assert_equal "$(get dp.q "$f")" 0.04
		assert_equal "$(get dp.steps "$f")" 50
		assert_equal "$(get dp.rate "$f")" public
		assert_equal "$(get dp.sampling "$f")" poisson
		run -1 fl-inspect -g weight "$f"
	done
	fl-inspect --privacy a.flt | grep -Eq '^  dp.q +public$'
	# --batch's rate B/n does give n away, and fl-inspect says so.
	fl-train -m model.flt --seed 1 --dp -b 30 -e 1 blobs.flt -o c.flt
	assert_equal "$(get dp.q c.flt)" 0.1
	fl-inspect --privacy c.flt | grep -Eq '^  dp.q +IN CLEAR'
	if command -v fl-account > /dev/null; then
		run -0 fl-account a.flt
		assert_output --partial "steps 50"
	fi
	run -2 fl-train -m model.flt --rate 0.1 blobs.flt
	run -2 fl-train -m model.flt --dp --shuffle --rate 0.1 blobs.flt
	run -1 fl-train -m model.flt --dp --rate 0 blobs.flt
	run -1 fl-train -m model.flt --dp --rate 1.5 blobs.flt
}

# The noise of DP-SGD is fl-clip-noise's: a step's sum of clipped
# gradients is snapped to the grid dp.grid and whole grid steps of noise
# are added, so that the low bits say nothing of the gradients.  From a
# model of zeros, one step of lr x (1 / batch) = 1 makes the update the
# negated noisy sum itself: every value a multiple of the grid.
@test "fl-train: DP-SGD noise lies on its grid; the update carries no example count or loss" {
	fl-pack -m kind=model -m arch=logreg:4-3 -m round=0 \
	    -t 'fc1.w:f32:4x3=0,0,0,0,0,0,0,0,0,0,0,0' -t 'fc1.b:f32=0,0,0' \
	    -o zero.flt
	fl-train -m zero.flt --seed 3 --dp --clip 0.5 --noise 1.1 -b 4 -s 1 \
	    --lr 4 blobs.flt -o u.flt
	grid=$(get dp.grid u.flt)
	assert_equal "$(get dp.sigma u.flt)" 0.55
	# 0.55 lies in [2^-1, 2^0): the grid is 2^-1-18
	assert_equal "$grid" "$("$PYTHON" -c 'print(repr(2.0 ** -19))')"
	"$PYTHON" -c '
import sys, math
sys.path.insert(0, sys.argv[1] + "/examples/python")
import flt, numpy as np
(m, t), = flt.read_records(open("u.flt", "rb"))
g = float(m["dp.grid"]); d = 15
v = np.concatenate([a.ravel().astype(np.float64) for a in t.values()])
steps = v / g
assert np.all(steps == np.round(steps)), "values off the grid"
assert np.count_nonzero(v) == d
# snapping costs g sqrt(d) of sensitivity, and the accountant is told
assert float(m["dp.sensitivity"]) == 0.5 + g * math.sqrt(d)
assert "weight" not in m and "loss" not in m
' "$TOP" || fail "the DP-SGD update is not on its grid"
	# Without --dp the count and the loss are the device's to keep, and
	# an update has them.
	fl-train -m zero.flt --seed 3 -s 1 blobs.flt -o plain.flt
	assert_equal "$(get weight plain.flt)" 300
}

# One extreme example (features of 3e38: its loss is not finite) does not
# end a DP-SGD run, which would tell that it was in the batch: it gives a
# zero gradient, and how many did stays on the device (a message), never
# in the update.
@test "fl-train: DP-SGD leaves out an example whose loss is not finite, and goes on" {
	"$PYTHON" -c '
import random
random.seed(5)
print("label,a,b,c,d")
for i in range(60):
    print(i % 3, *[round(random.gauss(i % 3, 1), 3) for _ in range(4)], sep=",")
print(1, "3e38", "3e38", "-3e38", "3e38", sep=",")' > extreme.csv
	fl-init -a mlp:4-8-3 --seed 1 -o mlp.flt
	run --separate-stderr fl-train -m mlp.flt --seed 1 --dp --clip 1 \
	    --noise 0.5 -b 61 -e 3 extreme.csv -o u.flt
	assert_success
	[[ $stderr == *"extreme.csv: 3 times an example whose loss or gradient is not finite was left out of a batch"* ]] ||
	    fail "stderr: $stderr"
	run fl-inspect u.flt
	assert_output --regexp 'nonfinite'
	[ "$(fl-inspect --json u.flt | "$PYTHON" -c '
import json, sys
r = json.loads(sys.stdin.readline())
print(sum(t["nonfinite"] for t in r["tensors"]))')" = 0 ]
	! fl-inspect u.flt | grep -q "skipped\|3 examples"
	# Without DP, the same data still stops a run: nothing to hide.
	run --separate-stderr fl-train -m mlp.flt --seed 1 -b 61 -e 3 \
	    extreme.csv -o v.flt
	assert_equal "$status" 1
	[[ $stderr == *"training diverged"* ]] || fail "stderr: $stderr"
}

@test "fl-train: DP-SGD clips: without noise each step moves at most lr x clip" {
	fl-init -a mlp:4-32-3 --seed 1 -o mlp.flt
	fl-train -m mlp.flt --seed 1 --dp --noise 0 --clip 0.01 --lr 1 -s 5 \
	    blobs.flt -o u.flt
	n=$(l2 u.flt)
	ge 0.05 "$n" || fail "norm $n after 5 steps of lr 1, clip 0.01"
	ge "$n" 0.01
}

@test "fl-train: DP-SGD noise is Gaussian with std noise x clip / batch" {
	# clip 1e-6 makes the gradient vanish: the update is -lr x the noise
	# of one step divided by the batch, 1 x 1e6 x 1e-6 / 10 per weight
	fl-init -a logreg:1000-20 --seed 1 -o big.flt
	fl-split --synthetic=50 --features=1000 --classes=20 --seed=1 -o d.flt
	fl-train -m big.flt --seed 7 --dp --clip 1e-6 --noise 1e6 --lr 1 \
	    -b 10 -s 1 d.flt -o u.flt
	run "$PYTHON" - <<'PY'
import subprocess, math
out = subprocess.run(["fl-inspect", "--dump", "fc1.w", "u.flt"],
                     capture_output=True, text=True, check=True).stdout
x = [-10 * float(v) for line in out.split() for v in line.split(",")]
n = len(x)
m = sum(x) / n
sd = math.sqrt(sum((v - m) ** 2 for v in x) / n)
k4 = sum((v - m) ** 4 for v in x) / n / sd ** 4
tail = sum(abs(v) > 3 for v in x) / n
# Kolmogorov-Smirnov against N(0,1)
xs = sorted(x)
ks = max(max(abs((i + 1) / n - 0.5 * (1 + math.erf(v / math.sqrt(2)))),
             abs(i / n - 0.5 * (1 + math.erf(v / math.sqrt(2)))))
         for i, v in enumerate(xs))
ok = abs(m) < 0.03 and abs(sd - 1) < 0.02 and abs(k4 - 3) < 0.15 \
    and 0.0015 < tail < 0.0045 and ks * math.sqrt(n) < 1.63
print(n, ok, round(m, 4), round(sd, 4), round(k4, 3), tail, round(ks * math.sqrt(n), 3))
PY
	assert_success
	[[ $output == "20000 True "* ]] || fail "$output"
}

@test "fl-train: a diverging run stops with an error and writes nothing" {
	fl-init -a mlp:4-16-3 --seed 1 -o mlp.flt
	echo precious > u.flt
	run --separate-stderr fl-train -m mlp.flt --seed 1 --lr 1e6 -e 5 \
	    blobs.flt -o u.flt
	fails_with "training diverged: the loss is"
	assert_equal "$(cat u.flt)" precious
}

@test "fl-train: CSV label column by name or number, header detected or forced" {
	fl-init -a logreg:4-3 --seed 1 -o m4.flt
	run fl-train -m m4.flt --seed 1 -l species iris4.csv -o a.flt
	assert_success
	run fl-train -m m4.flt --seed 1 -l 5 iris4.csv -o b.flt
	assert_success
	cmp a.flt b.flt
	# The default is the column named "label"; a header without one is
	# an error that lists the columns (the first column once became the
	# label, silently).
	run --separate-stderr fl-train -m m4.flt iris4.csv
	fails_with "iris4.csv: line 1: no column named 'label' (the columns: $(head -1 iris4.csv | sed 's/,/, /g')): give the label column with -l NAME or -l NUMBER"
	tail -n +2 iris4.csv > nohead.csv
	run fl-train -m m4.flt --seed 1 -l 5 nohead.csv -o c.flt
	assert_success
	cmp a.flt c.flt
	run --separate-stderr fl-train -m m4.flt -l species nohead.csv
	fails_with "no header row to find label column 'species' in"
	run --separate-stderr fl-train -m m4.flt -l 5 --header nohead.csv
	assert_success
	run --separate-stderr fl-train -m m4.flt -l 5 --no-header iris4.csv
	fails_with "iris4.csv: line 1: column 1: not a number: 'a'"
	run --separate-stderr fl-train -m m4.flt -l 6 iris4.csv
	fails_with "no label column 6: the data has 5 columns"
	run --separate-stderr fl-train -m m4.flt -l nope iris4.csv
	fails_with "iris4.csv: line 1: no column named 'nope'"
}

@test "fl-train: data from stdin, '-', CSV, gzip and FLT give the same update" {
	fl-train -m model.flt --seed 1 blobs.flt -o a.flt
	fl-train -m model.flt --seed 1 blobs.csv -o b.flt
	fl-train -m model.flt --seed 1 < blobs.csv > c.flt
	gzip -c blobs.csv > blobs.csv.gz
	fl-train -m model.flt --seed 1 - < blobs.csv.gz > d.flt
	cmp a.flt b.flt
	cmp a.flt c.flt
	cmp a.flt d.flt
	run --separate-stderr fl-train -m - - < model.flt
	assert_equal "$status" 2
}

@test "fl-train: IDX images and labels, plain and gzip, labels found by name" {
	idx_images train-images-idx3-ubyte 4 2 2 0 0 0 255 255 0 0 0 0 255 0 0 \
	    0 0 255 0
	idx_labels train-labels-idx1-ubyte 0 1 1 0
	fl-init -a logreg:4-2 --seed 1 -o m.flt
	run fl-train -m m.flt --seed 1 train-images-idx3-ubyte -o a.flt
	assert_success
	gzip -k train-images-idx3-ubyte train-labels-idx1-ubyte
	mv train-labels-idx1-ubyte other-labels
	run fl-train -m m.flt --seed 1 train-images-idx3-ubyte.gz -o b.flt
	assert_success
	cmp a.flt b.flt
	run fl-train -m m.flt --seed 1 --labels other-labels \
	    train-images-idx3-ubyte -o c.flt
	assert_success
	cmp a.flt c.flt
	run --separate-stderr fl-train -m m.flt train-images-idx3-ubyte
	fails_with "train-labels-idx1-ubyte: No such file or directory"
	run --separate-stderr fl-train -m m.flt - < train-images-idx3-ubyte
	fails_with "<stdin>: IDX images without labels: name the labels file"
	# pixels are bytes: scaled by 1/255 unless --scale says otherwise
	run fl-train -m m.flt --seed 1 --scale 0.00392156862745098 \
	    --labels other-labels train-images-idx3-ubyte -o d.flt
	cmp a.flt d.flt
	# strict headers
	idx_labels short-labels 0 1 1
	run --separate-stderr fl-train -m m.flt --labels short-labels \
	    train-images-idx3-ubyte
	fails_with "short-labels: 3 labels for 4 examples"
	head -c 20 train-images-idx3-ubyte > cut-images
	run --separate-stderr fl-train -m m.flt --labels other-labels cut-images
	fails_with "cut-images: truncated: 1 of 4 examples"
	{ cat train-images-idx3-ubyte; printf x; } > long-images
	run --separate-stderr fl-train -m m.flt --labels other-labels long-images
	fails_with "long-images: bytes after the IDX data"
	idx_labels big-labels 0 1 7 0
	run --separate-stderr fl-train -m m.flt --labels big-labels \
	    train-images-idx3-ubyte
	fails_with "big-labels: example 3: label 7 out of range"
}

@test "fl-train: bad data: a clear message with file and line, exit 1, no output" {
	fl-init -a logreg:2-3 --seed 1 -o m.flt
	printf 'label,a,b\n0,1,2\n1,3\n' > ragged.csv
	printf 'label,a,b\n0,1,2\n1,x,3\n' > text.csv
	printf '0,1,2\n5,1,3\n' > range.csv
	printf '0,1,2\n-1,1,3\n' > negative.csv
	printf '0,1,nan\n' > nan.csv
	printf '0,1,2\n1,-inf,2\n' > inf.csv
	printf '0,1e39,2\n' > overflow.csv
	printf 'label,a,b\n' > empty.csv
	: > zero.csv
	printf '0,1,2,3\n' > wide.csv
	printf '0,1,,3\n1,2,3\n' > emptycell.csv
	printf '0,1,"2\n' > quote.csv
	check() {
		run --separate-stderr fl-train -m m.flt "$1" -o out.flt
		fails_with "$2"
		[ ! -e out.flt ] || fail "$1: wrote out.flt"
	}
	check ragged.csv "fl-train: ragged.csv: line 3: 2 columns, want 3 as in line 1"
	check text.csv "fl-train: text.csv: line 3: column 2: not a number: 'x'"
	check range.csv "fl-train: range.csv: line 2: column 1: label 5 out of range: the model has 3 classes"
	check negative.csv "fl-train: negative.csv: line 2: column 1: label '-1' is not a class number"
	check nan.csv "fl-train: nan.csv: line 1: column 3: 'nan' is not finite"
	check inf.csv "fl-train: inf.csv: line 2: column 2: '-inf' is not finite"
	check overflow.csv "fl-train: overflow.csv: line 1: column 2: '1e39' is too large for a float"
	check empty.csv "fl-train: empty.csv: no examples"
	check zero.csv "fl-train: zero.csv: empty: no examples"
	check wide.csv "fl-train: wide.csv: line 1: 3 features, the model takes 2"
	check emptycell.csv "fl-train: emptycell.csv: line 1: 3 features, the model takes 2"
	# An empty cell in the first row is a missing value, not a header.
	printf '0,,2\n1,2,3\n' > emptyfirst.csv
	check emptyfirst.csv "fl-train: emptyfirst.csv: line 1: column 2: empty cell"
	check quote.csv "fl-train: quote.csv: line 1: a quoted cell runs to the end of the file"
	# The line the quote opened on, the line the NUL is on (not where
	# the 64 KiB read began), an IDX file with a bad magic said so.
	printf '0,1,2\n1,2,3\n2,"3,4\n0,1,2\n' > quote3.csv
	check quote3.csv "fl-train: quote3.csv: line 3: a quoted cell runs to the end of the file"
	printf '0,1,2\n1,2,3\n2,1,3\n0,1\000\n' > nul4.csv
	check nul4.csv "fl-train: nul4.csv: line 4: a NUL byte: binary data, not CSV"
	printf '\000\000\007\001abcdefgh' > bad.idx
	check bad.idx "fl-train: bad.idx: not an IDX file (bad magic 00 00 07 01: want 00 00, a type 08 to 0e and 1 to 8 dimensions), and not CSV"
	printf '0,1,2\n1,,3\n' > hole.csv
	check hole.csv "fl-train: hole.csv: line 2: column 2: empty cell"
	printf '0,1\000\002' > binary.csv
	check binary.csv "binary data, not CSV"
	zstd -q -c hole.csv > z.csv 2>/dev/null || printf '\050\265\057\375xx' > z.csv
	check z.csv "zstd-compressed data"
}

@test "fl-train: data from a pipe named by its path, as from standard input" {
	fl-train -m model.flt --seed 1 blobs.flt -o file.flt
	# /dev/fd/N cannot rewind: the reader peeked at it and lost its
	# first bytes ("line 3: a NUL byte").
	fl-train -m model.flt --seed 1 <(cat blobs.flt) -o pipe.flt
	cmp file.flt pipe.flt
	fl-train -m model.flt --seed 1 <(cat blobs.csv) -o pipecsv.flt
	fl-train -m model.flt --seed 1 blobs.csv -o filecsv.flt
	cmp filecsv.flt pipecsv.flt
}

@test "fl-train: a model that is not a model: an update, a data set, garbage" {
	fl-train -m model.flt --seed 1 blobs.flt -o u.flt
	run --separate-stderr fl-train -m u.flt blobs.flt
	fails_with "fl-train: u.flt: record 1: kind=update, not a model"
	run --separate-stderr fl-train -m blobs.flt blobs.flt
	fails_with "fl-train: blobs.flt: record 1: kind=dataset, not a model"
	run --separate-stderr fl-train -m blobs.csv blobs.flt
	assert_equal "$status" 1
	fl-pack -m kind=model -m arch=logreg:4-3 -t fc1.w:f32:4x2=1,2,3,4,5,6,7,8 \
	    -t fc1.b:f32=0,0,0 -o bad.flt
	run --separate-stderr fl-train -m bad.flt blobs.flt
	fails_with "tensor fc1.w is f32 [4,2], want f32 [4,3] (arch logreg:4-3)"
	fl-pack -m kind=model -m arch=logreg:2-2 -t fc1.w:f32:2x2=1,nan,3,4 \
	    -t fc1.b:f32=0,0 -o nan.flt
	run --separate-stderr fl-train -m nan.flt blobs.flt
	fails_with "tensor fc1.w: value 1 is not finite"
	run --separate-stderr fl-train blobs.flt
	assert_equal "$status" 2
	run --separate-stderr fl-train -m missing.flt blobs.flt
	fails_with "fl-train: missing.flt: No such file or directory"
	# Two models in one file: which one was meant? (Before, the first,
	# silently; fl-apply already refused.)
	cat model.flt model.flt > two.flt
	for p in fl-train fl-eval fl-stats; do
		run --separate-stderr "$p" -m two.flt blobs.flt
		fails_with "$p: two.flt: record 2: more than one record (the file holds one)"
	done
	run --separate-stderr fl-train -m model.flt blobs.flt blobs.csv
	assert_equal "$status" 2
}

@test "fl-train: --normalize and --class-weights take fl-stats records" {
	fl-stats -m model.flt blobs.flt -o s.flt
	fl-stats --normalizer s.flt -o norm.flt
	fl-stats --class-weights s.flt -o cw.flt
	fl-train -m model.flt --seed 1 blobs.flt -o plain.flt
	fl-train -m model.flt --seed 1 --normalize norm.flt blobs.flt -o n.flt
	fl-train -m model.flt --seed 1 --class-weights cw.flt blobs.flt -o c.flt
	! cmp -s plain.flt n.flt
	! cmp -s plain.flt c.flt
	run --separate-stderr fl-train -m model.flt --normalize cw.flt blobs.flt
	fails_with "cw.flt: record 1: kind=class-weights, not a normalizer record"
	fl-init -a logreg:4-5 --seed 1 -o m5.flt
	run --separate-stderr fl-train -m m5.flt --class-weights cw.flt blobs.flt
	fails_with "cw.flt: record 1: weight of 3 classes, the model has 5"
}

@test "fl-train: a progress bar on stderr only when stderr is a terminal" {
	script -qec true /dev/null < /dev/null > /dev/null 2>&1 ||
	    skip "script(1) cannot open a pseudo-terminal here"
	run --separate-stderr fl-train -m model.flt --seed 1 -e 3 blobs.flt -o u.flt
	assert_success
	assert_equal "$stderr" ""
	script -qec "fl-train -m model.flt --seed 1 -e 3 blobs.flt -o u.flt" \
	    /dev/null < /dev/null > tty.txt
	grep -q 'epoch 3/3 step 30/30 loss' tty.txt
	script -qec "fl-train -q -m model.flt --seed 1 -e 3 blobs.flt -o u.flt" \
	    /dev/null < /dev/null > tty.txt
	! grep -q epoch tty.txt
}
