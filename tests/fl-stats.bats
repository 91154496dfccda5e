#!/usr/bin/env bats
# fl-stats: federated statistics: sums that add up across clients, and
# the normalizer and class weights made from them.

load helper
load learn

# vals NAME FILE: the values of tensor NAME on one line, as %.8g.
vals() {
	fl-inspect --dump "$1" "$2" | awk '{ printf "%.8g ", $1 }'
}

setup() {
	make_blobs
	printf 'label,a,b\n0,1,10\n1,3,10\n1,5,10\n2,7,10\n' > small.csv
}

@test "fl-stats: class counts and feature sums, sums of squares and counts" {
	run fl-stats small.csv -o s.flt
	assert_success
	assert_equal "$(get kind s.flt)" stats
	assert_equal "$(vals class_count s.flt)" "1 2 1 "
	assert_equal "$(vals feature_sum s.flt)" "16 40 "
	assert_equal "$(vals feature_sumsq s.flt)" "84 400 "
	assert_equal "$(vals feature_count s.flt)" "4 4 "
	# the class count can come from the model or be given
	fl-stats --classes=5 small.csv -o s5.flt
	assert_equal "$(vals class_count s5.flt)" "1 2 1 0 0 "
	fl-stats --scale=0.5 small.csv -o half.flt
	assert_equal "$(vals feature_sum half.flt)" "8 20 "
}

@test "fl-stats: the normalizer and class weights of summed stats" {
	fl-stats small.csv -o s.flt
	fl-stats --normalizer s.flt -o n.flt
	assert_equal "$(get kind n.flt)" normalizer
	# a: mean 4, std sqrt(5); b: constant, std 1 (below --min-std)
	assert_equal "$(vals mean n.flt)" "4 10 "
	assert_equal "$(vals std n.flt)" "2.236068 1 "
	fl-stats --class-weights s.flt -o w.flt
	assert_equal "$(get kind w.flt)" class-weights
	# n / (classes x count): 4/3, 2/3, 4/3
	assert_equal "$(vals weight w.flt)" "1.3333334 0.6666667 1.3333334 "
}

@test "fl-stats: the clients' records add up to the stats of all the data" {
	fl-split -n 4 --dirichlet 0.5 --min-size 5 --seed=1 blobs.flt -p part-
	for i in 0 1 2 3; do
		fl-stats -m model.flt "part-$i.flt" -o "s$i.flt"
	done
	fl-stats -m model.flt blobs.flt -o all.flt
	fl-stats --normalizer s0.flt s1.flt s2.flt s3.flt -o n4.flt
	cat s?.flt | fl-stats --normalizer -o n4b.flt
	fl-stats --normalizer all.flt -o n1.flt
	fl-inspect --diff n4.flt n1.flt --tolerance 1e-5
	cmp n4.flt n4b.flt
	fl-stats --class-weights s?.flt -o w4.flt
	fl-stats --class-weights all.flt -o w1.flt
	fl-inspect --diff w4.flt w1.flt --tolerance 0
	if command -v fl-aggregate > /dev/null; then
		fl-aggregate -r sum s?.flt -o agg.flt
		fl-stats --normalizer agg.flt -o na.flt
		fl-inspect --diff na.flt n1.flt --tolerance 1e-5
	fi
}

@test "fl-stats: training with the normalizer standardizes the features" {
	fl-stats -m model.flt blobs.flt -o s.flt
	fl-stats --normalizer s.flt -o n.flt
	fl-train -m model.flt --seed 1 -e 10 --normalize n.flt --trained \
	    blobs.flt -o t.flt
	ge "$(accuracy -m t.flt --normalize n.flt blobs.flt)" 0.7
}

@test "fl-stats: bad input and usage" {
	fl-stats small.csv -o s.flt
	fl-stats --classes=4 small.csv -o s4.flt
	run --separate-stderr fl-stats --class-weights s.flt s4.flt
	fails_with "s4.flt: record 1: 4 classes and 2 features, the first record has 3 and 2"
	run --separate-stderr fl-stats --normalizer model.flt
	fails_with "model.flt: record 1: kind=model, not stats"
	run --separate-stderr fl-stats --normalizer --class-weights s.flt
	assert_equal "$status" 2
	run --separate-stderr fl-stats --normalizer -m model.flt s.flt
	assert_equal "$status" 2
	run --separate-stderr fl-stats -m model.flt --classes=3 small.csv
	assert_equal "$status" 2
	run --separate-stderr fl-stats -m model.flt small.csv
	fails_with "small.csv: line 1: 2 features, the model takes 4"
	printf '0,1\n1,x\n' > bad.csv
	run --separate-stderr fl-stats bad.csv
	fails_with "bad.csv: line 2: column 2: not a number: 'x'"
}
