#!/usr/bin/env bats
# DP-FTRL (fl-apply --ftrl, fl-account -m tree): the tree's noise from a
# 0600 state that keeps a secret and a round counter, a server that
# restarts continuing exactly, and every way to get fresh noise, replay a
# round or charge the wrong sensitivity refused with the state untouched.

load helper

# A model of round 3 with w (8 values) and aggregates of rounds 3..8:
# sums of updates clipped to 0.5.
setup_tree() {
	fl-pack -m kind=model -m round=3 -t w:f32=1,2,3,4,5,6,7,8 -o m3.flt
	local r
	for r in 3 4 5 6 7 8; do
		fl-pack -m kind=aggregate -m agg=sum -m clients=2 -m dp.clip=0.5 \
		    -m round=$r -t w:f32=0.$r,-0.1,0,0,0.2,0,0,0.05 -o a$r.flt
	done
}

# run_rounds STATE FROM TO: rounds FROM..TO-1 applied to mFROM.flt.
run_rounds() {
	local st=$1 r=$2
	while [ "$r" -lt "$3" ]; do
		fl-apply -m m$r.flt --ftrl="$st" a$r.flt -o m$((r + 1)).flt
		r=$((r + 1))
	done
}

init() {
	fl-apply -m m3.flt --ftrl=st.flt --ftrl-init --noise=2 --clip=0.5 \
	    --rounds=4 "$@" a3.flt -o m4.flt
}

refused() {
	assert_equal "$status" 1
	assert_equal "${#stderr_lines[@]}" 1
	[[ $stderr == "fl-apply: "*"$1"* ]] ||
	    fail "stderr lacks '$1'"$'\n'"stderr: $stderr"
}

# resume_elsewhere DONE: rounds 4 and 5 again from st0.flt (the state
# after round 3) in b/, which it enters: each round another process,
# the state moved between them as to a new machine, and round 5's
# process killed mid-round once (DONE: the state's ftrl.done had that
# round finished; else its model is made again).
resume_elsewhere() {
	mkdir b
	cp m3.flt m4.flt a*.flt b/
	cp st0.flt b/st.flt
	cd b || return 1
	fl-apply -m m4.flt --ftrl=st.flt a4.flt -o m5.flt
	mv st.flt moved.flt && mv moved.flt st.flt
	timeout -s KILL 0.001 fl-apply -m m5.flt --ftrl=st.flt a5.flt \
	    -o m6.flt || true
	[ "$(fl-inspect -g ftrl.done st.flt)" = "$1" ] || rm -f m6.flt
	[ -e m6.flt ] || fl-apply -m m5.flt --ftrl=st.flt a5.flt -o m6.flt
}

@test "ftrl: a tree of 4 rounds; the state is 0600, the models carry the tree and its round" {
	setup_tree
	init --seed=t 2> err
	grep -q 'NOT PRIVATE' err
	assert_equal "$(stat -c %a st.flt)" 600
	assert_equal "$(fl-inspect -g kind st.flt)" ftrl-state
	assert_equal "$(fl-inspect -g ftrl.done st.flt)" 1
	assert_equal "$(fl-inspect -g ftrl.round m4.flt)" 1
	assert_equal "$(fl-inspect -g round m4.flt)" 4
	assert_equal "$(fl-inspect -g ftrl.tree m4.flt)" "$(fl-inspect -g ftrl.tree st.flt)"
	run_rounds st.flt 4 7
	assert_equal "$(fl-inspect -g ftrl.done st.flt)" 4
	assert_equal "$(fl-inspect -g ftrl.round m7.flt)" 4
	# The noise is on the grid and of the right scale: not the clear sum.
	run fl-inspect -d w m4.flt
	refute_line 1.3
	# Round 5 of a 4-round tree: refused, nothing changes.
	cp st.flt st.before
	run --separate-stderr fl-apply -m m7.flt --ftrl=st.flt a7.flt -o m8.flt
	refused "the tree's 4 rounds are done"
	cmp st.flt st.before
	[ ! -e m8.flt ]
}

@test "ftrl: a restarted server continues exactly (same bytes as an uninterrupted run)" {
	setup_tree
	init --seed=restart 2> /dev/null
	cp st.flt st0.flt
	run_rounds st.flt 4 7
	resume_elsewhere 2
	fl-apply -m m6.flt --ftrl=st.flt a6.flt -o m7.flt
	cd ..
	cmp m7.flt b/m7.flt
	cmp st.flt b/st.flt
}

@test "ftrl: attack: a server that re-draws fresh noise (new state, lost state, another tree) is refused" {
	setup_tree
	init 2> /dev/null
	run_rounds st.flt 4 5
	cp st.flt st.before
	# A new tree on a model a tree made: its noise would average out.
	mv st.flt kept.flt
	run --separate-stderr fl-apply -m m5.flt --ftrl=new.flt --ftrl-init \
	    --noise=2 --clip=0.5 --rounds=4 a5.flt -o m6.flt
	refused "m5.flt: record 1: was made by tree"
	[ ! -e new.flt ]
	# The state lost: no way on.
	run --separate-stderr fl-apply -m m5.flt --ftrl=st.flt a5.flt -o m6.flt
	refused "st.flt: no DP-FTRL state"
	# Over an existing state: refused.
	mv kept.flt st.flt
	run --separate-stderr fl-apply -m m3.flt --ftrl=st.flt --ftrl-init \
	    --noise=2 --clip=0.5 --rounds=4 a3.flt -o m4b.flt
	refused "st.flt: exists"
	# Another tree's state (same model round, other secret).
	fl-apply -m m3.flt --ftrl=other.flt --ftrl-init --noise=2 --clip=0.5 \
	    --rounds=4 a3.flt -o o4.flt
	fl-apply -m o4.flt --ftrl=other.flt a4.flt -o o5.flt
	run --separate-stderr fl-apply -m m5.flt --ftrl=other.flt a5.flt -o m6.flt
	refused "m5.flt: record 1: made by tree '$(fl-inspect -g ftrl.tree m5.flt)', the state other.flt is of tree"
	[ ! -e m6.flt ]
	cmp st.flt st.before
	# Stripped of its tree id, the model is refused too.
	fl-pack -m kind=model -m round=5 -t w:f32=1,2,3,4,5,6,7,8 -o bare5.flt
	run --separate-stderr fl-apply -m bare5.flt --ftrl=st.flt a5.flt -o m6.flt
	refused "bare5.flt: record 1: no ftrl.tree, but the state st.flt has applied 2 rounds"
	cmp st.flt st.before
}

@test "ftrl: attack: replaying a round (an old model) or skipping one is refused" {
	setup_tree
	init 2> /dev/null
	run_rounds st.flt 4 6
	cp st.flt st.before
	# Round 4 again, with other data: the same n(2) - n(1) twice would
	# let the difference of the two models reveal the data's.
	run --separate-stderr fl-apply -m m4.flt --ftrl=st.flt a4.flt -o x.flt
	refused "m4.flt: record 1: tree round '1', the state st.flt has applied 3"
	# A model of a later round with the right tree round cannot exist;
	# a model whose round skips ahead is refused.
	fl-pack -m kind=model -m round=9 -m ftrl.tree=$(fl-inspect -g ftrl.tree st.flt) \
	    -m ftrl.round=3 -t w:f32=1,2,3,4,5,6,7,8 -o m9.flt
	fl-pack -m kind=aggregate -m agg=sum -m dp.clip=0.5 -m round=9 \
	    -t w:f32=0,0,0,0,0,0,0,0 -o a9.flt
	run --separate-stderr fl-apply -m m9.flt --ftrl=st.flt a9.flt -o x.flt
	refused "m9.flt: record 1: round 9, the state st.flt expects round 6"
	cmp st.flt st.before
	[ ! -e x.flt ]
}

@test "ftrl: bad aggregates: noised, another clip bound, a weighted mean, no clip, a loss" {
	setup_tree
	init 2> /dev/null
	cp st.flt st.before
	bad() {
		fl-pack -m kind=aggregate -m round=4 "$@" -t w:f32=0,0,0,0,0,0,0,0 -o bad.flt
		run --separate-stderr fl-apply -m m4.flt --ftrl=st.flt bad.flt -o x.flt
	}
	bad -m agg=sum -m dp.clip=0.5 -m dp.noise=1
	refused "bad.flt: record 1: already carries noise or a loss (dp.noise)"
	bad -m agg=sum -m dp.clip=0.5 -m dp.sigma=0.5
	refused "already carries noise or a loss (dp.sigma)"
	bad -m agg=sum -m dp.clip=1
	refused "bad.flt: record 1: clip bound '1', the tree's is '0.5'"
	bad -m agg=sum
	refused "bad.flt: record 1: no dp.clip"
	bad -m agg=mean -m dp.clip=0.5
	refused "bad.flt: record 1: agg 'mean': --ftrl takes a sum"
	bad -m agg=median -m dp.clip=0.5
	refused "agg 'median'"
	bad -m agg=sum -m dp.clip=0.5 -m dp.loss-bound=4
	refused "carries a loss (dp.loss-bound)"
	cmp st.flt st.before
	[ ! -e x.flt ]
	# A mean over a public denominator is taken: noise over it too.
	bad -m agg=mean -m agg.denominator=10 -m dp.clip=0.5
	assert_success
}

@test "ftrl: usage errors" {
	setup_tree
	run --separate-stderr fl-apply -m m3.flt --ftrl-init --noise=1 --clip=1 --rounds=2 a3.flt
	assert_equal "$status" 2
	run --separate-stderr fl-apply -m m3.flt --ftrl=st.flt --ftrl-init --noise=1 a3.flt
	assert_equal "$status" 2
	run --separate-stderr fl-apply -m m3.flt --ftrl=st.flt --noise=1 a3.flt
	assert_equal "$status" 2
	run --separate-stderr fl-apply -m m3.flt --ftrl=st.flt --only=w a3.flt
	assert_equal "$status" 2
	for bad in "--noise=0" "--noise=x" "--clip=-1" "--rounds=0" \
	    "--participations=0" "--separation=0" "--estimator=best"; do
		rm -f st.flt
		run --separate-stderr fl-apply -m m3.flt --ftrl=st.flt --ftrl-init \
		    --noise=1 --clip=0.5 --rounds=4 "$bad" a3.flt -o x.flt
		assert_equal "$status" 1
		[ ! -e st.flt ]
		[ ! -e x.flt ]
	done
}

# The noise's scale, measured: std of model(t) - model(0) = sqrt(var(n(t)))
# for zero aggregates: popcount(t) sigma^2 plain, Honaker's sum of v(h).
@test "ftrl: the prefix noise's variance, plain and honaker, measured on 40000 values" {
	not_under_sanitizers "statistical test"
	local est
	for est in plain honaker; do
		rm -f st.flt
		$PYTHON -c 'import sys; sys.stdout.write(",".join(["0"] * 40000))' > zeros
		fl-pack -m kind=model -m round=0 -t "w:f32=$(cat zeros)" -o m0.flt
		for r in 0 1 2; do
			fl-pack -m kind=aggregate -m agg=sum -m dp.clip=0.5 -m round=$r \
			    -t "w:f32=$(cat zeros)" -o a$r.flt
		done
		fl-apply -m m0.flt --ftrl=st.flt --ftrl-init --noise=3 --clip=0.5 \
		    --rounds=3 --estimator=$est a0.flt -o m1.flt
		run_rounds st.flt 1 3
		fl-inspect -d w m3.flt > v3
		# sigma = 1.5; n(3): plain 2 sigma^2, honaker (2/3 + 1) sigma^2.
		want=$($PYTHON -c "print(2 * 2.25 if '$est' == 'plain' else (2/3 + 1) * 2.25)")
		got=$($PYTHON -c 'import numpy as np; print(np.loadtxt("v3").var())')
		near "$got" "$want" 0.05
	done
}

# ---- fl-account -m tree ----

# json_field JSON KEY: a number of fl-account -j's object.
json_field() {
	$PYTHON -c 'import json, sys; print(repr(json.loads(sys.argv[1])[sys.argv[2]]))' "$1" "$2"
}

# The exact Gaussian's epsilon at delta for mu (Balle and Wang 2018),
# written again in Python (no scipy here: erfc from math, bisection).
GAUSS_PY='
import math, sys
def Phi(x): return 0.5 * math.erfc(-x / math.sqrt(2))
def delta(mu, e): return Phi(-e / mu + mu / 2) - math.exp(e) * Phi(-e / mu - mu / 2)
def eps(mu, d):
    lo, hi = 0.0, 1.0
    while delta(mu, hi) > d: lo, hi = hi, 2 * hi
    for _ in range(200): 
        m = (lo + hi) / 2
        lo, hi = (m, hi) if delta(mu, m) > d else (lo, m)
    return hi
'

@test "fl-account -m tree: single participation is the closed form rho = ceil(log2(T+1)) / (2 z^2) to 1e-9" {
	local T z out
	for T in 1 7 8 1000 65536; do
		for z in 0.7 10.5; do
			out=$(fl-account -m tree -z $z -T $T -j)
			want=$($PYTHON -c "import math; print(math.ceil(math.log2($T + 1)) / (2 * $z ** 2))")
			near "$(json_field "$out" rho)" "$want" 1e-9
		done
	done
}

@test "fl-account -m tree: epsilon is the exact Gaussian's of mu = sqrt(2 rho), at delta and at 1e-10 (Python, independently)" {
	local z T d out mu
	for z in 0.5 4 20; do
		for T in 2000; do
			for d in 1e-5 1e-10; do
				out=$(fl-account -m tree -z $z -T $T -d $d -j)
				mu=$($PYTHON -c "import math; print(math.sqrt(2 * $(json_field "$out" rho)))")
				want=$($PYTHON -c "$GAUSS_PY
print(eps($mu, $d))")
				near "$(json_field "$out" epsilon)" "$want" 1e-6
				want=$($PYTHON -c "$GAUSS_PY
print(eps($mu, 1e-10))")
				near "$(json_field "$out" epsilon_at_1e-10)" "$want" 1e-6
			done
		done
	done
	# Delta at epsilon: the same curve read the other way.
	out=$(fl-account -m tree -z 2 -T 1000 -e 3 -j)
	want=$($PYTHON -c "$GAUSS_PY
print(delta(math.sqrt(2 * 1.25), 3))")
	near "$(json_field "$out" delta)" "$want" 1e-9
	run fl-account -m tree -z 2 -T 1000
	assert_output --partial "conversion exact-gaussian"
	assert_output --partial "rho 1.25 "
}

@test "fl-account -m tree: Gboard's conversion of rho to epsilon at 1e-10 is Python's minimisation over the order (0.81 -> 8.9 as published)" {
	# T = 1, single participation: D = 1, rho = 1 / (2 z^2).
	for rho in 0.2 0.81 2; do
		z=$($PYTHON -c "import math; print(repr(1 / math.sqrt(2 * $rho)))")
		out=$(fl-account -m tree -z "$z" -T 1 -j)
		near "$(json_field "$out" rho)" "$rho" 1e-9
		want=$($PYTHON -c "
import math
rho = $rho
f = lambda a: a * rho + math.log1p(-1 / a) + (-math.log(1e-10) - math.log(a)) / (a - 1)
lo, hi = 1 + 1e-9, 1e5
for _ in range(400):
    m1, m2 = lo + (hi - lo) / 3, hi - (hi - lo) / 3
    if f(m1) < f(m2): hi = m2
    else: lo = m1
print(repr(f((lo + hi) / 2)))")
		near "$(json_field "$out" zcdp_epsilon_at_1e-10)" "$want" 1e-9
	done
	out=$(fl-account -m tree -z "$($PYTHON -c 'print(repr(1 / (1.62 ** 0.5)))')" -T 1)
	[[ $out == *" zcdp-epsilon-at-1e-10 8.92221 "* ]] || fail "$out"
}

@test "fl-account -m tree: k participations b apart: the sensitivity is Python's brute force over every allowed pattern" {
	local T k b out
	for T in 9 12 16; do
		for k in 2 3; do
			for b in 1 3 5; do
				want=$($PYTHON -c "
import itertools
T, k, b = $T, $k, $b
nodes = [(h, j) for h in range(6) for j in range(T) if (j + 1) << h <= T]
best = 0
for n in range(1, k + 1):
    for S in itertools.combinations(range(1, T + 1), n):
        if any(y - x < b for x, y in zip(S, S[1:])): continue
        v = sum(sum(1 for i in S if (i - 1) >> h == j) ** 2 for h, j in nodes)
        best = max(best, v)
print(best ** 0.5)")
				out=$(fl-account -m tree -z 1 -T $T --participations=$k --separation=$b -j)
				near "$(json_field "$out" sensitivity)" "$want" 1e-12
			done
		done
	done
}

@test "fl-account -m tree --target-epsilon: the smallest noise (6 digits, rounded up) within the target" {
	local out z
	out=$(fl-account -m tree --target-epsilon=4 -T 2000 --participations=5 --separation=100 -d 1e-10 -j)
	z=$(json_field "$out" noise)
	ge 4 "$(json_field "$out" epsilon)"
	# One unit of the 6th digit less is over the target.
	less=$($PYTHON -c "z = $z; import math; e = math.floor(math.log10(z)) - 5; print(z - 10 ** e)")
	out=$(fl-account -m tree -z "$less" -T 2000 --participations=5 --separation=100 -d 1e-10 -j)
	ge "$(json_field "$out" epsilon)" 4
}

@test "fl-account -m tree: usage errors and a sensitivity that is not the clip bound" {
	for args in "-m tree -z 1 -q 0.1" "-m tree -z 1 -N 100 -b 10" "-m tree -T 5" \
	    "-m tree -z 1 --target-epsilon=2" "-z 1 -q 1 --participations=2" \
	    "-m tree -z 1 --separation=2 --sigma=3" "-m tree -z 1 -l L -s" \
	    "-m tree -z 1 -l L" "-m tree -z 1 --every=2"; do
		run --separate-stderr fl-account $args
		assert_equal "$status" 2
	done
	[ ! -e L ]
	run --separate-stderr fl-account -m tree -z 1 -T 10 --clip=1 --sensitivity=2
	assert_equal "$status" 1
	[[ $stderr == *"--sensitivity '2' does not match the clip bound '1'"* ]]
	for bad in "-z 0" "-z -1" "-z x" "-T 0" "--participations=0" "--separation=0"; do
		run --separate-stderr fl-account -m tree -z 1 -T 10 $bad
		assert [ "$status" -ge 1 ] && assert [ "$status" -le 2 ]
	done
}

# A seeded tree of 6 rounds, models m1..m6 (round r's model mR.flt).
make_tree() {
	fl-pack -m kind=model -m round=0 -t w:f32=1,2,3,4 -o m0.flt
	local r
	for r in 0 1 2 3 4 5; do
		fl-pack -m kind=aggregate -m agg=sum -m dp.clip=1 -m round=$r \
		    -t w:f32=0.1,0,0,0 -o a$r.flt
	done
	fl-apply -m m0.flt --ftrl=st.flt --ftrl-init --noise=2 --clip=1 \
	    --rounds=6 "$@" a0.flt -o m1.flt 2> /dev/null
	run_rounds st.flt 1 6
}

@test "fl-account -l -s MODEL: a tree charged round by round; the rows compose to the whole release's Gaussian" {
	make_tree --seed=ledger
	run --separate-stderr fl-account -l L -s m1.flt
	assert_equal "$status" 1
	[[ $stderr == *"m1.flt: record 1: tree noise from a seed (ftrl.seeded): not private"* ]]
	[ ! -e L ]
	for r in 1 2 3 4; do
		fl-account -l L -s --not-private m$r.flt 2> err$r
	done
	# Round 3 completes no node beyond round 2's: no row.
	grep -q "round 3 completes no node" err3
	assert_equal "$(grep -c tree-round= L)" 3
	grep -q 'tree-round=4 participations=1 separation=1' L
	# PLD of the rows = the exact Gaussian of the tree of 4 rounds.
	zeff=$(fl-inspect -g ftrl.noise-effective m4.flt)
	want=$(fl-account -m tree -z "$zeff" -T 4 -j)
	got=$(fl-account -l L -a pld -j)
	near "$(json_field "$got" epsilon)" "$(json_field "$want" epsilon)" 1e-3
	# The model alone, no ledger: the tree's rounds 1..4.
	got=$(fl-account -a pld -j m4.flt 2> /dev/null)
	near "$(json_field "$got" epsilon)" "$(json_field "$want" epsilon)" 1e-3
	# A round again: refused, the ledger untouched.
	cp L L.before
	run --separate-stderr fl-account -l L -s --not-private m2.flt
	assert_equal "$status" 1
	[[ $stderr == *"round 2 was charged already (the ledger is at round 4)"* ]]
	cmp L L.before
}

@test "fl-account -l -s -B: the tree round over the budget is refused, exit 3, the ledger untouched" {
	make_tree --seed=budget
	fl-account -l L -s -B 3 --not-private m1.flt 2> /dev/null
	cp L L.before
	run --separate-stderr fl-account -l L -s -B 3 --not-private m2.flt
	assert_equal "$status" 3
	[[ $stderr == *"spend refused"* ]]
	cmp L L.before
}

@test "fl-account: a ledger row whose tree noise is not its pattern's sensitivity is refused (check recomputed)" {
	make_tree --seed=forge
	fl-account -l L -s --not-private m1.flt m2.flt 2> /dev/null
	# Forge row 2 to charge a larger noise, with a valid check.
	$PYTHON - <<'PY'
import re, zlib
lines = open("L").read().splitlines()
chain = zlib.crc32(lines[0].encode())
out = [lines[0]]
for i, l in enumerate(lines[1:]):
    body = l[:l.index(" check=")]
    if i == 1:
        body = re.sub(r" noise=[^ ]+", " noise=4", body, count=1)
    chain = zlib.crc32(body.encode(), chain)
    out.append("%s check=%08x" % (body, chain))
open("L", "w").write("\n".join(out) + "\n")
PY
	run --separate-stderr fl-account -l L
	assert_equal "$status" 1
	[[ $stderr == *"L: line 3: the tree's charge is not its sensitivity's: noise 4, want"* ]]
	# An unknown mechanism in a ledger: refused by name.
	sed -i 's/mechanism=gaussian/mechanism=tree/' L
	run --separate-stderr fl-account -l L
	assert_equal "$status" 1
	[[ $stderr == *"line 2: "* ]]
}

@test "fl-clip-noise --participation: a device asked to train again too soon, too often or for an old round refuses" {
	upd() { fl-pack -m kind=update -m round=$1 -t w:f32=3,4 -o u$1.flt; }
	for r in 5 6 8 9 12 20; do upd $r; done
	clip() { fl-clip-noise -c 1 --participation=dev.flt --participations=3 --separation=3 "$@"; }
	clip u5.flt -o c5.flt
	assert_equal "$(stat -c %a dev.flt)" 600
	assert_equal "$(fl-inspect -g participation.last dev.flt)" 5
	cp dev.flt dev.before
	run --separate-stderr clip u6.flt -o c6.flt
	assert_equal "$status" 1
	[[ $stderr == *"u6.flt: record 1: refused: too soon: round 6 is 1 after this device's last one (5), the separation is 3 (dev.flt)"* ]]
	[ ! -e c6.flt ]
	cmp dev.flt dev.before
	run --separate-stderr clip u5.flt -o c5b.flt
	assert_equal "$status" 1
	[[ $stderr == *"round 5 is not after this device's last one, 5"* ]]
	clip u8.flt -o c8.flt
	clip u12.flt -o c12.flt
	assert_equal "$(fl-inspect -g participation.count dev.flt)" 3
	run --separate-stderr clip u20.flt -o c20.flt
	assert_equal "$status" 1
	[[ $stderr == *"this device took part 3 times, the most the pattern allows"* ]]
	# The update that left is clipped as ever.
	assert_equal "$(fl-inspect -g dp.clip c12.flt)" 1
	# Bad input and usage.
	fl-pack -m kind=model -t w:f32=1 -o notdev.flt
	run --separate-stderr fl-clip-noise -c 1 --participation=notdev.flt u9.flt
	assert_equal "$status" 1
	[[ $stderr == *"notdev.flt: record 1: not a participation record"* ]]
	fl-pack -m kind=update -t w:f32=1 -o noround.flt
	run --separate-stderr fl-clip-noise -c 1 --participation=new.flt noround.flt
	assert_equal "$status" 1
	[ ! -e new.flt ]
	run --separate-stderr fl-clip-noise -c 1 --separation=2 u9.flt
	assert_equal "$status" 2
	run --separate-stderr fl-clip-noise -n 1 --participation=new.flt u9.flt
	assert_equal "$status" 2
}

@test "fl-clip-noise --may-join: the answer the update would get, the record untouched; bad input and usage" {
	# Every round 1..14 asked before it is sent, for a device at most 3
	# times 3 rounds apart that sends whenever it may: --may-join says
	# yes (0) exactly when the update is then taken, no (3) when it is
	# refused, and leaves the file as it was.
	local r said got
	pat=(--participation=dev.flt --participations=3 --separation=3)
	for r in $(seq 1 14); do
		fl-pack -m kind=update -m round="$r" -t w:f32=3,4 -o "u$r.flt"
		[ ! -e dev.flt ] || cp dev.flt before.flt
		run --separate-stderr fl-clip-noise --may-join="$r" "${pat[@]}"
		said=$status
		[ ! -e dev.flt ] || cmp dev.flt before.flt
		got=0
		fl-clip-noise -c 1 "${pat[@]}" -o "c$r.flt" "u$r.flt" 2> /dev/null ||
		    got=3
		[ "$said" = "$got" ] || fail "round $r: --may-join $said, the update $got"
		if [ "$said" = 3 ]; then
			[[ $stderr == "fl-clip-noise: dev.flt: round $r refused: "* ]] ||
			    fail "round $r: $stderr"
		fi
	done
	# Taken in rounds 1, 4 and 7, then never again.
	assert_equal "$(ls c*.flt | sort -V | tr '\n' ' ')" "c1.flt c4.flt c7.flt "
	run --separate-stderr fl-clip-noise --may-join=20 "${pat[@]}"
	assert_equal "$status" 3
	assert_equal "$stderr" "fl-clip-noise: dev.flt: round 20 refused: this device took part 3 times, the most the pattern allows"
	# A device that never took part may join (no file: none made).
	run -0 fl-clip-noise --may-join=1 --participation=none.flt
	[ ! -e none.flt ]
	# Bad input: one line naming the file, exit 1.
	fl-pack -m kind=model -t w:f32=1 -o notdev.flt
	run --separate-stderr fl-clip-noise --may-join=2 --participation=notdev.flt
	assert_equal "$status" 1
	assert_equal "$stderr" "fl-clip-noise: notdev.flt: record 1: not a participation record (kind=participation)"
	# A round that is not a number: the option's value, exit 1.
	run --separate-stderr fl-clip-noise --may-join=x --participation=dev.flt
	assert_equal "$status" 1
	assert_equal "$stderr" "fl-clip-noise: invalid --may-join 'x': not a whole number"
	# Usage (exit 2): one file, no records, nothing else.
	for args in "--may-join=2" \
	    "--may-join=2 --participation=dev.flt --participation=b.flt" \
	    "--may-join=2 --participation=dev.flt u1.flt" \
	    "--may-join=2 --participation=dev.flt -c 1" \
	    "--may-join=2 --participation=dev.flt -o out.flt"; do
		# shellcheck disable=SC2086 # the words of args
		run --separate-stderr fl-clip-noise $args
		assert_equal "$status" 2
		[ ! -e out.flt ]
	done
}

@test "fl-clip-noise --participation once per device: a batch's Nth record is the Nth device's, as its own run" {
	for r in 5 6; do
		fl-pack -m kind=update -m round=$r -t w:f32=3,4 -o a$r.flt
		fl-pack -m kind=update -m round=$r -t w:f32=0,2 -o b$r.flt
	done
	pat=(--participations=2 --separation=3)
	cat a5.flt b5.flt | fl-clip-noise -c 1 --participation=A.flt \
	    --participation=B.flt "${pat[@]}" -o both.flt
	fl-clip-noise -c 1 --participation=A1.flt "${pat[@]}" -o one-a.flt a5.flt
	fl-clip-noise -c 1 --participation=B1.flt "${pat[@]}" -o one-b.flt b5.flt
	cmp both.flt <(cat one-a.flt one-b.flt)
	cmp A.flt A1.flt
	cmp B.flt B1.flt
	# One device too soon: the batch fails, nothing is written, and the
	# records of the devices before it keep their round (it may have left).
	cp A.flt A.before
	run --separate-stderr bash -c 'cat b6.flt a6.flt | fl-clip-noise -c 1 \
	    --participation=B.flt --participation=A.flt "$@" -o late.flt' _ "${pat[@]}"
	assert_equal "$status" 1
	[[ $stderr == *"record 1: refused: too soon: round 6 is 1 after this device's last one (5)"*"(B.flt)"* ]]
	[ ! -e late.flt ]
	cmp A.flt A.before
	# More records than devices: refused, naming the count.
	run --separate-stderr bash -c 'cat a5.flt b5.flt | fl-clip-noise -c 1 \
	    --participation=C.flt -o two.flt'
	assert_equal "$status" 1
	[[ $stderr == *"<stdin>: record 2: --participation takes one update per file (1 given)"* ]]
	[ ! -e two.flt ]
}

@test "fl-train: an update from a DP-FTRL model leaves the tree's ftrl.* keys with the model" {
	fl-init -a mlp:4-3-2 --seed 1 -o m0.flt
	fl-split --synthetic 40 --features 4 --classes 2 --seed 1 -n 2 -p d > /dev/null
	fl-train -q -m m0.flt d0.flt | fl-clip-noise -c 1 | fl-aggregate -r sum |
	    fl-apply -m m0.flt --ftrl=tree.flt --ftrl-init --noise=1 --clip=1 \
		--rounds=4 -o m1.flt
	[ -n "$(fl-inspect -g ftrl.tree m1.flt)" ]
	fl-train -q -m m1.flt -o u.flt d1.flt
	run fl-inspect u.flt
	refute_output --partial "ftrl."
	assert_equal "$(fl-inspect -g round u.flt)" 1
}

@test "fl-apply --ftrl: the multiplier charged is the one asked, not a hair below (the grid's sensitivity is in the noise)" {
	# 51,000 coordinates: the grid's g sqrt(d) is 0.09% of the clip bound.
	yes 0 | head -n 51000 | tr '\n' ' ' > zeros
	fl-pack -m kind=model -m round=0 -t "w:f32=@zeros" -o m0.flt
	fl-pack -m kind=update -m round=0 -t "w:f32=@zeros" | fl-clip-noise -c 0.5 |
	    fl-aggregate -r sum -o a.flt
	fl-apply -m m0.flt --ftrl=st.flt --ftrl-init --noise=1.58806 --clip=0.5 \
	    --rounds=12 --participations=2 --separation=10 -o m1.flt a.flt
	zeff=$(fl-inspect -g ftrl.noise-effective m1.flt)
	ge "$zeff" 1.58806
	near "$zeff" 1.58806 1e-12
	# So the ledger's exact epsilon of the whole tree is the plan's.
	plan=$(fl-account -m tree -z 1.58806 -T 12 --participations=2 --separation=10 -j)
	got=$(fl-account -m tree -z "$zeff" -T 12 --participations=2 --separation=10 -j)
	near "$(json_field "$got" epsilon)" "$(json_field "$plan" epsilon)" 1e-9
}

@test "ftrl: the README's DP-FTRL commands run as written" {
	fl-pack -m kind=model -m round=0 -t w:f32=1,2,3 -o global.flt
	fl-pack -m kind=update -m round=0 -t w:f32=3,4,0 -o update.flt
	mkdir clipped
	sed -n '/^<!-- ftrl-example/,/^[^ <]/{/^    /p}' "$TOP/README.md" > block.sh
	[ "$(wc -l < block.sh)" -ge 8 ]
	run bash -e block.sh
	assert_success
	assert_line --partial "noise 6.67192 rho 0.718867"
	assert_equal "$(fl-inspect -g ftrl.round next.flt)" 1
	assert_equal "$(fl-inspect -g participation.last me.flt)" 0
	assert_equal "$(grep -c 'tree-round=1 participations=4 separation=250' budget.ledger)" 1
	# The device will not take part again 1 round later.
	fl-pack -m kind=update -m round=1 -t w:f32=3,4,0 -o update.flt
	run bash -e block.sh
	assert_failure
	assert_output --partial "too soon"
}

@test "ftrl: a state that is not one, or has a bad field, is refused naming the file and the field" {
	setup_tree
	init --seed=bad 2> /dev/null
	fl-pack -m kind=state -m opt=sgd -t w:f32=1 -o opt.flt
	run --separate-stderr fl-apply -m m4.flt --ftrl=opt.flt a4.flt -o x.flt
	refused "opt.flt: record 1: not a DP-FTRL state (kind=ftrl-state)"
	# Each field edited in turn (the secret kept).
	fl-inspect -d secret st.flt | paste -sd, - > secret.txt
	edit() {
		local args=() k v
		for k in ftrl.tree ftrl.start ftrl.done ftrl.rounds ftrl.participations \
		    ftrl.separation ftrl.estimator ftrl.noise ftrl.clip; do
			v=$(fl-inspect -g $k st.flt)
			[ "$k" = "$1" ] && v=$2
			[ -n "$v" ] && args+=(-m "$k=$v")
		done
		fl-pack -m kind=ftrl-state "${args[@]}" -t "secret:u8=$(cat secret.txt)" -o bad.flt
		run --separate-stderr fl-apply -m m4.flt --ftrl=bad.flt a4.flt -o x.flt
	}
	edit ftrl.done 7
	refused "bad.flt: record 1: metadata ftrl.done '7': "
	edit ftrl.tree XYZ
	refused "bad.flt: record 1: bad or missing 'ftrl.tree'"
	edit ftrl.noise -1
	refused "bad.flt: record 1: metadata ftrl.noise '-1': "
	edit ftrl.estimator best
	refused "bad.flt: record 1: bad or missing 'ftrl.estimator'"
	edit ftrl.clip ""
	refused "bad.flt: record 1: no 'ftrl.clip'"
	fl-pack -m kind=ftrl-state -t secret:u8=1,2 -o short.flt
	run --separate-stderr fl-apply -m m4.flt --ftrl=short.flt a4.flt -o x.flt
	refused "short.flt: record 1:"
	[ ! -e x.flt ]
}

# ---- -m banded: DP-FTRL by banded matrix factorization ----

@test "fl-account -m banded: attack: bands above the separation (shared rows, under-noised) are refused; bad bands" {
	# k > 1 with bands > separation: the sensitivity would be understated.
	run --separate-stderr fl-account -m banded --bands=8 -z 1 -T 64 --participations=4 --separation=4
	assert_equal "$status" 1
	assert_equal "$output" ""
	[[ $stderr == "fl-account: bands 8 exceed the separation 4: two participations"* ]] ||
	    fail "stderr: $stderr"
	assert_equal "${#stderr_lines[@]}" 1
	# Equal is allowed; so is any bands for a single participation.
	run -0 fl-account -m banded --bands=4 -z 1 -T 64 --participations=4 --separation=4
	run -0 fl-account -m banded --bands=64 -z 1 -T 64
	run --separate-stderr fl-account -m banded --bands=17 -z 1 -T 16
	assert_equal "$status" 1
	[[ $stderr == "fl-account: bands 17: more than the 16 rounds" ]] || fail "stderr: $stderr"
	run --separate-stderr fl-account -m banded --bands=0 -z 1 -T 16
	assert_equal "$status" 1
	[[ $stderr == *"invalid --bands '0'"* ]] || fail "stderr: $stderr"
	for bad in "--bands=x" "--bands=-1" "-z 0" "-T 0" "--participations=0" "--separation=0"; do
		run --separate-stderr fl-account -m banded --bands=2 -z 1 -T 10 $bad
		assert_equal "$status" 1
		assert_equal "${#stderr_lines[@]}" 1
	done
	# Too large to optimize: a clear refusal, not a hang.
	run --separate-stderr fl-account -m banded --bands=1024 -z 1 -T 1000000
	assert_equal "$status" 1
	[[ $stderr == *"too many to optimize"* ]] || fail "stderr: $stderr"
	# Usage: no --bands, --bands elsewhere, sampling options, -l without a target.
	for args in "-m banded -z 1 -T 8" "-m tree --bands=2 -z 1 -T 8" "--bands=2 -z 1" \
	    "-m banded --bands=2 -z 1 -T 8 -q 0.1" "-m banded --bands=2 -z 1 -T 8 -l L" \
	    "-m banded --bands=2 -T 8" "-m banded --bands=2 -z 1 -T 8 -l L -s"; do
		run --separate-stderr fl-account $args
		assert_equal "$status" 2
	done
	[ ! -e L ]
}

# The known answer, independently in numpy from the printed coefficients:
# F = |A C^-1|_F^2 by matrices, the sensitivity by brute force over every
# allowed pattern (and signs), rho; and the optimum by Newton's method on
# the matrix loss from the (1 - x)^-1/2 series, which must reach the same
# loss to 1e-6 relative, fltools' coefficients being a stationary point.
BANDED_PY='
import itertools, json, math, sys
import numpy as np
d = json.loads(sys.argv[1]); T = d["rounds"]; b = d["bands"]; k = d["participations"]; sep = d["separation"]; z = d["noise"]
c = np.array(d["coefficients"])
assert len(c) == b and c[0] == 1
A = np.tril(np.ones((T, T)))
def C_of(c):
    C = np.zeros((T, T))
    for i, v in enumerate(c):
        C += v * np.eye(T, k=-i)
    return C
def F(c):
    M = A @ np.linalg.inv(C_of(c))
    return float((M * M).sum())
def loss(x):
    cc = np.concatenate(([1.0], x))
    return float((cc * cc).sum()) * F(cc)
C = C_of(c)
best = 0.0
for n in range(1, k + 1):
    for S in itertools.combinations(range(T), n):
        if any(y - x < sep for x, y in zip(S, S[1:])): continue
        for sg in itertools.product((1, -1), repeat=n):
            v = sum(s * C[:, j] for s, j in zip(sg, S))
            best = max(best, float(v @ v))
def near(name, got, want, rel):
    if not abs(got - want) <= rel * abs(want):
        sys.exit("%s: got %r, want %r" % (name, got, want))
near("sensitivity", d["sensitivity"], math.sqrt(best), 1e-12)
near("rho", d["rho"], best / (2 * z * z), 1e-12)
near("prefix_sum_variance", d["prefix_sum_variance"], z * z * F(c), 1e-9)
x = np.array([math.comb(2 * i, i) / 4 ** i for i in range(1, b)])
h = 1e-5
def grad(x):
    g = np.zeros_like(x)
    for i in range(len(x)):
        e = np.zeros_like(x); e[i] = h
        g[i] = (loss(x + e) - loss(x - e)) / (2 * h)
    return g
for it in range(50):
    g = grad(x)
    H = np.zeros((len(x), len(x)))
    for i in range(len(x)):
        e = np.zeros_like(x); e[i] = h
        H[:, i] = (grad(x + e) - grad(x - e)) / (2 * h)
    step = np.linalg.solve((H + H.T) / 2, g)
    t = 1.0
    while loss(x - t * step) > loss(x) and t > 1e-8: t /= 2
    x = x - t * step
    if np.linalg.norm(t * step) < 1e-10: break
mine = loss(c[1:])
near("loss at the optimum", mine, loss(x), 1e-6)
rg = np.linalg.norm(grad(c[1:])) * np.linalg.norm(c) / mine
if rg > 1e-5: sys.exit("not stationary: relative gradient %g" % rg)
print("ok", mine, loss(x))
'

@test "fl-account -m banded: the known answer (numpy: |A C^-1|_F^2 by matrices, brute-force sensitivity, Newton's optimum to 1e-6)" {
	local out
	for args in "-T 8 --bands=8" "-T 16 --bands=4" "-T 12 --bands=3 --participations=3 --separation=4" \
	    "-T 12 --bands=4 --participations=3 --separation=4" "-T 10 --bands=5 --participations=2 --separation=6" \
	    "-T 24 --bands=6"; do
		out=$(fl-account -m banded -z 1.5 $args -j)
		run -0 $PYTHON -c "$BANDED_PY" "$out"
		assert_output --partial "ok "
	done
	# Bands 1: the identity, F = T (T + 1) / 2, sensitivity sqrt(k).
	out=$(fl-account -m banded --bands=1 -z 2 -T 16 --participations=16 --separation=1 -j)
	near "$(json_field "$out" prefix_sum_variance)" $((4 * 16 * 17 / 2)) 1e-15
	near "$(json_field "$out" sensitivity)" 4 1e-15
	near "$(json_field "$out" rho)" 2 1e-15
}

@test "fl-account -m banded: the strategy is the same bytes on every run; text and JSON agree" {
	a=$(fl-account -m banded --bands=64 -z 3 -T 512 --participations=4 --separation=64 -j)
	b=$(fl-account -m banded --bands=64 -z 3 -T 512 --participations=4 --separation=64 -j)
	assert_equal "$a" "$b"
	run -0 fl-account -m banded --bands=64 -z 3 -T 512 --participations=4 --separation=64
	assert_output --regexp "^rho [0-9.e+-]+ epsilon [0-9.e+-]+ delta 1e-05 conversion exact-gaussian epsilon-at-1e-10 [0-9.e+-]+ zcdp-epsilon-at-1e-10 [0-9.e+-]+ noise 3 sensitivity [0-9.e+-]+ rounds 512 participations 4 separation 64 bands 64 prefix-sum-variance [0-9.e+-]+$"
	near "${lines[0]#rho }" "$(json_field "$a" rho)" 1e-5
}

@test "fl-account -m banded --target-epsilon: the smallest noise (6 digits, rounded up); less error than the tree at the same epsilon" {
	local out z less tree
	out=$(fl-account -m banded --bands=100 --target-epsilon=4 -T 2000 --participations=5 --separation=100 -d 1e-10 -j)
	z=$(json_field "$out" noise)
	ge 4 "$(json_field "$out" epsilon)"
	less=$($PYTHON -c "z = $z; import math; e = math.floor(math.log10(z)) - 5; print(z - 10 ** e)")
	run -0 fl-account -m banded --bands=100 -z "$less" -T 2000 --participations=5 --separation=100 -d 1e-10 -j
	ge "$(json_field "$output" epsilon)" 4
	# The tree at the same target: its prefix sums' total variance
	# (z^2 sum_t popcount(t), clip units) is larger than banded MF's.
	tree=$(fl-account -m tree --target-epsilon=4 -T 2000 --participations=5 --separation=100 -d 1e-10 -j)
	tv=$($PYTHON -c "z = $(json_field "$tree" noise); print(z * z * sum(bin(t).count('1') for t in range(1, 2001)))")
	ge "$tv" "$(json_field "$out" prefix_sum_variance)"
}

# ---- fl-apply --ftrl-init --mechanism=banded ----

init_banded() {
	fl-apply -m m3.flt --ftrl=st.flt --ftrl-init --noise=2 --clip=0.5 \
	    --rounds=6 --mechanism=banded --bands=3 "$@" a3.flt -o m4.flt
}

@test "ftrl banded: 6 rounds; the state (0600) keeps the strategy and bands - 1 noise vectors; a restarted server continues exactly" {
	setup_tree
	init_banded --seed=banded 2> /dev/null
	assert_equal "$(stat -c %a st.flt)" 600
	assert_equal "$(fl-inspect -g ftrl.mechanism st.flt)" banded
	assert_equal "$(fl-inspect -g ftrl.bands m4.flt)" 3
	assert_equal "$(fl-inspect -g ftrl.mechanism m4.flt)" banded
	# The strategy is fl-account's, to the last digit.
	run -0 fl-inspect -d coefficients st.flt
	want=$(fl-account -m banded --bands=3 -z 2 -T 6 -j | $PYTHON -c 'import json, sys; print("\n".join(repr(c) for c in json.load(sys.stdin)["coefficients"]))')
	$PYTHON - "$output" "$want" <<'PY'
import sys
a = [float(x) for x in sys.argv[1].split()]
b = [float(x) for x in sys.argv[2].split()]
assert len(a) == 3 and a == b, (a, b)
PY
	run -0 fl-inspect st.flt
	assert_output --partial "w1:w"
	assert_output --partial "w2:w"
	cp st.flt st0.flt
	run_rounds st.flt 4 9
	assert_equal "$(fl-inspect -g ftrl.done st.flt)" 6
	resume_elsewhere 3
	run_rounds st.flt 6 9
	cd ..
	cmp m9.flt b/m9.flt
	cmp st.flt b/st.flt
	# Round 7 of 6: refused, nothing changes.
	cp st.flt st.before
	fl-pack -m kind=aggregate -m agg=sum -m dp.clip=0.5 -m round=9 -t w:f32=0,0,0,0,0,0,0,0 -o a9.flt
	run --separate-stderr fl-apply -m m9.flt --ftrl=st.flt a9.flt -o m10.flt
	refused "the tree's 6 rounds are done"
	cmp st.flt st.before
}

@test "ftrl banded: attack: bands above the separation, a tampered strategy, lost past noise, other tensors; bad options" {
	setup_tree
	# Two participations 2 apart cannot share 3 bands: refused, no state.
	run --separate-stderr init_banded --participations=2 --separation=2
	refused "bands 3 exceed the separation 2"
	[ ! -e st.flt ]
	[ ! -e m4.flt ]
	run --separate-stderr fl-apply -m m3.flt --ftrl=st.flt --ftrl-init --noise=2 \
	    --clip=0.5 --rounds=2 --mechanism=banded --bands=3 a3.flt -o m4.flt
	refused "bands 3: more than the 2 rounds"
	run --separate-stderr fl-apply -m m3.flt --ftrl=st.flt --ftrl-init --noise=2 \
	    --clip=0.5 --rounds=6 --mechanism=banded --bands=0 a3.flt -o m4.flt
	refused "invalid --bands '0'"
	[ ! -e st.flt ]
	for args in "--mechanism=banded" "--bands=3" "--mechanism=banded --bands=3 --estimator=honaker" \
	    "--mechanism=blt --bands=3"; do
		run --separate-stderr fl-apply -m m3.flt --ftrl=st.flt --ftrl-init --noise=2 \
		    --clip=0.5 --rounds=6 $args a3.flt -o m4.flt
		assert_equal "$status" 2
	done
	init_banded 2> /dev/null
	run_rounds st.flt 4 5
	run --separate-stderr fl-apply -m m5.flt --ftrl=st.flt --mechanism=banded a5.flt -o m6.flt
	assert_equal "$status" 2
	cp st.flt st.before
	# A strategy other than the one computed (the noise would not be the
	# accounted factorization's): refused.
	$PYTHON - <<'PY'
import sys
sys.path.insert(0, "%s/examples/python" % __import__("os").environ["TOP"])
import flt
with open("st.before", "rb") as f:
    meta, tensors = flt.read_record(f)
tensors["coefficients"] = tensors["coefficients"].copy()
tensors["coefficients"][1] += 1e-9
with open("st.flt", "wb") as f:
    flt.write_record(f, meta, tensors)
past = {k: v for k, v in tensors.items() if not k.startswith("w2:")}
past["coefficients"][1] -= 1e-9
with open("lost.flt", "wb") as f:
    flt.write_record(f, meta, past)
PY
	chmod 600 st.flt lost.flt
	run --separate-stderr fl-apply -m m5.flt --ftrl=st.flt a5.flt -o m6.flt
	refused "st.flt: record 1: the tensor 'coefficients' is not the strategy of 3 bands over 6 rounds"
	run --separate-stderr fl-apply -m m5.flt --ftrl=lost.flt a5.flt -o m6.flt
	refused "lost.flt: record 1: no past noise 'w2:w'"
	cp st.before st.flt
	# An aggregate with another tensor set: the past noise would not line up.
	fl-pack -m kind=aggregate -m agg=sum -m dp.clip=0.5 -m round=5 -t w:f32=0,0,0,0,0,0,0,0 -t v:f32=1 -o x5.flt
	fl-pack -m kind=model -m round=5 -m ftrl.tree=$(fl-inspect -g ftrl.tree st.flt) -m ftrl.round=2 \
	    -t w:f32=1,2,3,4,5,6,7,8 -t v:f32=0 -o mv5.flt
	run --separate-stderr fl-apply -m mv5.flt --ftrl=st.flt x5.flt -o m6.flt
	refused "x5.flt: record 1: 2 tensors, the state st.flt keeps the noise of 1: a banded tree noises the same tensors every round"
	# As many tensors as the state's, another one.
	fl-pack -m kind=aggregate -m agg=sum -m dp.clip=0.5 -m round=5 -t v:f32=1 -o y5.flt
	run --separate-stderr fl-apply -m mv5.flt --ftrl=st.flt y5.flt -o m6.flt
	refused "no past noise 'w1:v'"
	cmp st.flt st.before
	[ ! -e m6.flt ]
}

@test "ftrl banded: the prefix sums' measured noise variance is fl-account's prefix-sum-variance (40000 values)" {
	not_under_sanitizers "statistical test"
	$PYTHON -c 'import sys; sys.stdout.write(",".join(["0"] * 40000))' > zeros
	fl-pack -m kind=model -m round=0 -t "w:f32=$(cat zeros)" -o m0.flt
	for r in 0 1 2 3 4 5 6 7; do
		fl-pack -m kind=aggregate -m agg=sum -m dp.clip=0.5 -m round=$r \
		    -t "w:f32=$(cat zeros)" -o a$r.flt
	done
	fl-apply -m m0.flt --ftrl=st.flt --ftrl-init --noise=3 --clip=0.5 \
	    --rounds=8 --mechanism=banded --bands=4 a0.flt -o m1.flt
	run_rounds st.flt 1 8
	for r in 1 2 3 4 5 6 7 8; do fl-inspect -d w m$r.flt > v$r; done
	# Total over the 8 prefixes: z^2 F in clip units, times clip^2.
	want=$(fl-account -m banded --bands=4 -z 3 -T 8 -j | $PYTHON -c 'import json, sys; print(json.load(sys.stdin)["prefix_sum_variance"] * 0.25)')
	got=$($PYTHON -c 'import numpy as np; print(sum(np.loadtxt("v%d" % r).var() for r in range(1, 9)))')
	near "$got" "$want" 0.03
}

@test "ftrl banded: fl-account -l -s charges banded rounds; the rows compose to fl-account -m banded's Gaussian; bad rows refused" {
	setup_tree
	fl-apply -m m3.flt --ftrl=st.flt --ftrl-init --noise=2 --clip=0.5 \
	    --rounds=6 --mechanism=banded --bands=3 --participations=2 \
	    --separation=3 --seed=l a3.flt -o m4.flt 2> /dev/null
	run_rounds st.flt 4 9
	assert_equal "$(fl-inspect -g ftrl.rounds m9.flt)" 6
	for r in 4 5 6 7 8 9; do
		fl-account -l L -s --not-private m$r.flt 2> err$r
	done
	assert_equal "$(grep -c 'bands=3 tree-rounds=6' L)" 6
	# The rows' rho add up to the whole release's (PLD: the same Gaussian).
	zeff=$(fl-inspect -g ftrl.noise-effective m9.flt)
	want=$(fl-account -m banded --bands=3 -z "$zeff" -T 6 --participations=2 --separation=3 -j)
	rho=$($PYTHON -c '
import re, sys
print(sum(1 / (2 * float(n) ** 2) for n in re.findall(r" noise=([^ ]+)", open("L").read())))')
	near "$rho" "$(json_field "$want" rho)" 1e-9
	got=$(fl-account -l L -a pld -j)
	near "$(json_field "$got" epsilon)" "$(json_field "$want" epsilon)" 1e-3
	# A round again: refused, the ledger untouched.
	cp L L.before
	run --separate-stderr fl-account -l L -s --not-private m6.flt
	assert_equal "$status" 1
	[[ $stderr == *"round 3 was charged already (the ledger is at round 6)"* ]] || fail "stderr: $stderr"
	cmp L L.before
	# Rows forged with a valid check: bands or rounds edited (row 2's
	# noise is then not its sensitivity's), one without the other, the
	# bands dropped (a tree's row), a noise the pattern does not give.
	for edit in 's/bands=3/bands=2/' 's/tree-rounds=6/tree-rounds=7/' \
	    's/ tree-rounds=6//' 's/ bands=3 tree-rounds=6//' 's/ noise=[^ ]*/ noise=9/'; do
		$PYTHON - "$edit" <<'PY'
import re, sys, zlib
pat, rep = sys.argv[1].split("/")[1:3]
lines = open("L.before").read().splitlines()
chain = zlib.crc32(lines[0].encode())
out = [lines[0]]
for i, l in enumerate(lines[1:]):
    body = l[:l.index(" check=")]
    if i == 1:
        body = re.sub(pat, rep, body, count=1)
    chain = zlib.crc32(body.encode(), chain)
    out.append("%s check=%08x" % (body, chain))
open("L2", "w").write("\n".join(out) + "\n")
PY
		run --separate-stderr fl-account -l L2 -j
		assert_equal "$status" 1
		[[ $stderr == "fl-account: L2: line 3: "* ]] || fail "$edit: $stderr"
		echo "$edit: $stderr" >> forged
	done
	grep -q "bands and tree-rounds go together" forged
	grep -q "was charged with 3 bands over 6 rounds, not 0 over 0" forged
	grep -q "was charged with 3 bands over 6 rounds, not 2 over 6" forged
	grep -q "the tree's charge is not its sensitivity's" forged
	# A model of an unknown mechanism.
	fl-pack -m kind=model -m round=9 -m ftrl.tree=$(fl-inspect -g ftrl.tree st.flt) -m ftrl.round=6 \
	    -m ftrl.mechanism=blt -t w:f32=1 -o x.flt
	run --separate-stderr fl-account -l L -s --not-private x.flt
	assert_equal "$status" 1
	[[ $stderr == *"unknown DP-FTRL mechanism 'ftrl.mechanism=blt'"* ]] || fail "stderr: $stderr"
	cmp L L.before
}

@test "ftrl banded: the README's banded MF commands run as written" {
	fl-pack -m kind=model -m round=0 -t w:f32=1,2,3 -o global.flt
	fl-pack -m kind=update -m round=0 -t w:f32=3,4,0 -o update.flt
	mkdir clipped
	fl-clip-noise -c 1 update.flt > clipped/me.flt
	sed -n '/^<!-- mf-example/,/^[^ <]/{/^    /p}' "$TOP/README.md" > block.sh
	[ "$(wc -l < block.sh)" -ge 6 ]
	run bash -e block.sh
	assert_success
	assert_line --partial "noise 3.2038 rho 0.718867"
	assert_equal "$(fl-inspect -g ftrl.mechanism next.flt)" banded
	assert_equal "$(fl-inspect -g ftrl.bands mf.flt)" 250
	# The tree needs 6.67192 for the same epsilon (the README's first block).
	run -0 fl-account -m tree --target-epsilon=8 -d 1e-10 -T 2000 --participations=4 --separation=250
	assert_output --partial "noise 6.67192 "
}

@test "ftrl banded: a round holds the state twice, not more (fl-apply(1)): peak RSS of 1M parameters at 5 bands" {
	not_under_sanitizers "peak memory"
	# 1M f32 parameters: model and sum 4 MB each, the state's past noise
	# 4 x 8 MB = 32 MB, read and written once each (64 MB; measured 73
	# MB in all); a third copy of it would pass 100.
	$PYTHON -c 'import sys; sys.stdout.write(",".join(["0"] * 1000000))' > zeros
	fl-pack -m kind=model -m round=0 -t w:f32:1000x1000=@zeros -o m0.flt
	for r in 0 1; do
		fl-pack -m kind=aggregate -m agg=sum -m dp.clip=0.5 -m round=$r \
		    -t w:f32:1000x1000=@zeros -o a$r.flt
	done
	fl-apply -m m0.flt --ftrl=st.flt --ftrl-init --noise=1 --clip=0.5 \
	    --rounds=10 --participations=2 --separation=5 --mechanism=banded \
	    --bands=5 -o m1.flt a0.flt
	rss=$($PYTHON -c '
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)' \
	    fl-apply -m m1.flt --ftrl=st.flt -o m2.flt a1.flt)
	assert_equal "$(fl-inspect -g ftrl.round m2.flt)" 2
	[ "$rss" -le 100 ] || fail "peak RSS $rss MB, want <= 100"
	[ "$rss" -ge 64 ] || fail "peak RSS $rss MB: the state is 32 MB, read and written"
}
