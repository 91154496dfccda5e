#!/usr/bin/env bats
# Attacks on the privacy claim end to end (issue 15): each test plays the
# adversary against what fltools releases and checks that the ledger
# charges what the attack leaves, or that the program refuses.

load helper

# ---- tensor selection ----

@test "attack: a tensor left out of the noise (--exclude) would travel in clear under the DP claim; it is dropped instead" {
	# A PyTorch-like update: a float weight, a BatchNorm buffer and its
	# i64 batch counter (the example count over the batch size).
	fl-pack -m kind=update -t 'conv.w:f32=0.3,-0.2,0.1' \
	    -t 'bn.running_mean:f32=0.25,0.75' \
	    -t 'bn.num_batches_tracked:i64=117' -o u.flt
	fl-clip-noise -c 1 -n 1 --exclude 'bn.*' -o n.flt u.flt
	# The server's view: the record claims DP ...
	run -0 fl-inspect -g dp.mechanism n.flt
	assert_output gaussian
	# ... so nothing in it may be readable in clear: the left-out tensors
	# must not be there to read.
	run fl-inspect -d bn.num_batches_tracked n.flt
	refute_output 117
	run fl-inspect -d bn.running_mean n.flt
	refute_line 0.25
	run -0 fl-inspect --privacy n.flt
	refute_output --partial "IN CLEAR"
	run -0 fl-inspect -j n.flt
	refute_output --partial '"bn.'
	# The sum the server charges is of the noised tensor alone.
	fl-aggregate -r sum -o s.flt n.flt
	run -0 fl-inspect -j s.flt
	refute_output --partial '"bn.'
}

# ---- colluding clients and distributed noise ----

@test "attack: colluding clients subtract their noise shares; the ledger charges only the honest shares" {
	local n=8 i
	# Each client noises its own update with 1/8 of the variance; the
	# server controls clients 1 and 2, so it knows their updates and
	# seeds and can replay their noise exactly.
	for i in $(seq 1 "$n"); do
		fl-pack -m kind=update -t "w:f32=$(awk -v i="$i" 'BEGIN {
			srand(i); s = ""; for (j = 0; j < 4000; j++)
			s = s (j ? "," : "") sprintf("%.3f", (rand() - 0.5) / 200)
			print s }')" -o "u$i.flt"
		fl-clip-noise -c 1 -n 1 --shares "$n" --seed "client$i" \
		    -o "n$i.flt" "u$i.flt"
	done
	fl-aggregate -r sum -o sum.flt n?.flt
	# The server's view: the sum, minus the colluders' noised updates
	# (which it recomputes), minus the honest clients' data (the worst
	# case: it knows everything but their noise), leaves the honest noise.
	for i in 1 2; do
		fl-clip-noise -c 1 -n 1 --shares "$n" --seed "client$i" \
		    -o "replay$i.flt" "u$i.flt"
		cmp "replay$i.flt" "n$i.flt"
	done
	fl-inspect -d w sum.flt > sum.txt
	for i in $(seq 1 "$n"); do fl-inspect -d w "u$i.flt" > "u$i.txt"; done
	for i in 1 2; do fl-inspect -d w "n$i.flt" > "n$i.txt"; done
	run -0 $PYTHON - <<'EOF'
import numpy as np
s = np.loadtxt("sum.txt")
left = s - np.loadtxt("n1.txt") - np.loadtxt("n2.txt")
for i in range(3, 9):
    left -= np.loadtxt(f"u{i}.txt")
# 6 honest shares of variance 1/8 each: std sqrt(6/8), not 1.
print(f"{left.std():.3f}")
EOF
	$PYTHON -c "import sys; sys.exit(abs($output - (6 / 8) ** 0.5) > 0.03)" ||
	    fail "honest noise std $output"
	# The ledger charges that: noise sqrt(6/8) with --corrupt 0.25 (the
	# seeds make it not private, which the ledger records) ...
	fl-account -l L -s -q 0.01 --not-private --corrupt 0.25 sum.flt
	run -0 grep -cE ' colluding=2 shares=8 planned-noise=[0-9.e+-]+ not-private=noise ' L
	run -0 grep -o ' noise=[^ ]*' L
	local sigma sens
	sigma=$(fl-inspect -g dp.sigma sum.flt)
	sens=$(fl-inspect -g dp.sensitivity sum.flt)
	$PYTHON -c "import sys; sys.exit(abs(${output#* noise=} - $sigma * 6 ** 0.5 / $sens) > 1e-12)" ||
	    fail "charged $output"
	# ... and by default the 5% fl-mask assumes: ceil(0.05 x 8) = 1.
	fl-account -l D -s -q 0.01 --not-private sum.flt
	run -0 grep -c ' clients=8 colluding=1 ' D
	# The roster's count, copied into an unmasked sum, wins over 5%.
	fl-pack -m kind=aggregate -m clients=8 -m secagg.corrupt=3 -m dp.mechanism=gaussian \
	    -m dp.sigma=0.125 -m dp.sensitivity=1 -m dp.shares=8 -t w:f32=0 -o s3.flt
	fl-account -l R -s -q 0.01 s3.flt
	run -0 grep -c ' clients=8 colluding=3 ' R
}

@test "colluding shares: every share colluding is refused; --corrupt only for shares" {
	fl-pack -m kind=aggregate -m clients=3 -m secagg.corrupt=3 -m dp.mechanism=gaussian \
	    -m dp.sigma=0.5 -m dp.sensitivity=1 -m dp.shares=8 -t w:f32=0 -o all.flt
	run -1 --separate-stderr fl-account -l L -s -q 0.01 all.flt
	assert_equal "$stderr" "fl-account: all.flt: record 1: all 3 shares summed may be colluding clients' (3 assumed): their noise protects no one"
	[ ! -e L ]
	run -2 --separate-stderr fl-account -q 0.01 -z 1 --corrupt 0.1
	assert_equal "${stderr%%$'\n'*}" "fl-account: --corrupt is for noise summed from clients' shares (-m discrete-gaussian or skellam, or records with dp.shares)"
	run -1 --separate-stderr fl-account -q 0.01 --corrupt 1 -m skellam --sigma 1 --clients 4 --sensitivity 1 --dim 1
	assert_equal "$stderr" "fl-account: invalid --corrupt '1': must be below 1"
	# Options: ceil(F x clients) of the --clients shares.
	a=$(fl-account -j -q 0.01 --corrupt 0.1 -m skellam --sigma 100 --clients 100 --sensitivity 1000 --dim 10)
	b=$(fl-account -j -q 0.01 --corrupt 0 -m skellam --sigma 100 --clients 90 --sensitivity 1000 --dim 10)
	assert_equal "${a#*epsilon}" "${b#*epsilon}"
}

# ---- who took part ----

@test "attack: a cohort drawn from a known seed is predicted; the ledger refuses to spend it, and OS cohorts cannot be replayed" {
	# The old demo drew its cohorts from awk's srand keyed by a public
	# seed: whoever knows the seed replays the draw and knows who took
	# part, so sampling amplifies nothing against them.
	fl-account --sample -q 0.05 -N 3000 --round 1 --seed demo:round1 -o server.flt 2> /dev/null
	fl-account --sample -q 0.05 -N 3000 --round 1 --seed demo:round1 -o attacker.flt 2> /dev/null
	cmp <(fl-inspect -d clients server.flt) <(fl-inspect -d clients attacker.flt)
	fl-pack -m kind=aggregate -m round=1 -m clients=100 -m dp.mechanism=gaussian \
	    -m dp.noise=1 -t w:f32=0 -o sum.flt
	run -1 fl-account -l L -s --cohort server.flt sum.flt
	assert_output --partial "cohort.seeded=yes"
	[ ! -e L ]
	# Drawn from the OS, the same command gives another cohort: the
	# attacker's replay shares only the ~q of the clients chance gives.
	fl-account --sample -q 0.05 -N 3000 --round 1 -o server.flt
	fl-account --sample -q 0.05 -N 3000 --round 1 -o attacker.flt
	run -0 bash -c 'comm -12 <(fl-inspect -d clients server.flt | sort) <(fl-inspect -d clients attacker.flt | sort) | wc -l'
	both=$output
	n=$(fl-inspect -d clients server.flt | wc -l)
	# Expected overlap 0.05 n (about 7.5), far from n (about 150).
	[ "$both" -lt $((n / 4)) ] || fail "$both of $n clients predicted"
	fl-account -l L -s --cohort server.flt sum.flt > /dev/null
	run -1 grep -c not-private L
}
