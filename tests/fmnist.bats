#!/usr/bin/env bats
# Fashion-MNIST from Debian's dataset-fashion-mnist, when installed: the
# real IDX files read, trained on and split.  (Accuracy targets on the
# full data are measured by bench/fmnist-accuracy.sh, not here.)

load helper
load learn

FMNIST=/usr/share/datasets/fashion-mnist

setup() {
	[ -r "$FMNIST/t10k-images-idx3-ubyte.gz" ] ||
	    skip "dataset-fashion-mnist is not installed"
	TEST=$FMNIST/t10k-images-idx3-ubyte.gz
}

@test "fmnist: the 10k test set trains a softmax regression past 78% in one epoch" {
	fl-init -a logreg:784-10 --seed 1 -o m.flt
	fl-train -m m.flt --seed 1 --trained "$TEST" -o t.flt
	run fl-eval -m t.flt --json "$TEST"
	assert_success
	assert_output --partial '"examples":10000,'
	acc=$(accuracy -m t.flt "$TEST")
	ge "$acc" 0.78 || fail "accuracy $acc"
}

@test "fmnist: split into clients as byte data sets, 10 classes of stats" {
	fl-split -n 5 --dirichlet 0.5 --seed 1 -p c- "$TEST"
	run fl-inspect c-0.flt
	assert_line --regexp '^  x +u8 +\[[0-9]+,784\] '
	fl-init -a mlp:784-32-10 --seed 1 -o m.flt
	fl-train -m m.flt --seed 1 -b 64 c-0.flt -o u.flt
	[ "$(get weight u.flt)" -gt 0 ]
	fl-stats -m m.flt c-0.flt -o s.flt
	fl-stats --normalizer s.flt -o n.flt
	run fl-inspect n.flt
	assert_line --regexp '^  mean +f32 +\[784\] +0 '
}
