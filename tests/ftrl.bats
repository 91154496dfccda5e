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
	mkdir b
	cp m3.flt m4.flt a*.flt b/
	cp st0.flt b/st.flt
	cd b
	# Each round another process; between them the state moves, as
	# to a new machine, and the process is killed mid-round once.
	fl-apply -m m4.flt --ftrl=st.flt a4.flt -o m5.flt
	mv st.flt moved.flt && mv moved.flt st.flt
	timeout -s KILL 0.001 fl-apply -m m5.flt --ftrl=st.flt a5.flt \
	    -o m6.flt || true
	[ "$(fl-inspect -g ftrl.done st.flt)" = 2 ] || rm -f m6.flt
	[ -e m6.flt ] || fl-apply -m m5.flt --ftrl=st.flt a5.flt -o m6.flt
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
		[ ! -e st.flt ] && [ ! -e x.flt ]
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
