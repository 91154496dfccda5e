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

@test "--classes A,B,C: string labels map to class numbers the same way in fl-train, fl-eval, fl-stats and fl-split" {
	fl-split --synthetic 60 --features 4 --classes 3 --seed c --csv -n 1 -o num.csv
	# The same data with names for 0, 1, 2 (in --classes order, not the
	# order they first appear).
	awk -F, 'NR == 1 { print; next } { $1 = ($1 == 0 ? "setosa" : $1 == 1 ? "versicolor" : "virginica") } 1' OFS=, num.csv > names.csv
	local classes=--classes=setosa,versicolor,virginica
	fl-init -a logreg:4-3 --seed m -o m.flt
	fl-train -m m.flt --seed t num.csv -o u1.flt
	fl-train -m m.flt --seed t "$classes" names.csv -o u2.flt
	cmp u1.flt u2.flt
	cmp <(fl-eval -m m.flt num.csv) <(fl-eval -m m.flt "$classes" names.csv)
	fl-stats num.csv -o s1.flt
	fl-stats "$classes" names.csv -o s2.flt
	cmp s1.flt s2.flt
	fl-split -n 3 --dirichlet 1 --seed s num.csv -o p1.flt
	fl-split -n 3 --dirichlet 1 --seed s "$classes" names.csv -o p2.flt
	cmp p1.flt p2.flt
	# Without a header row: the names are data, not a header.
	tail -n +2 names.csv > nohead.csv
	fl-stats "$classes" nohead.csv -o s3.flt
	cmp s1.flt s3.flt
	# A count instead of names: five classes, two of them empty.
	fl-stats --classes=5 num.csv -o s5.flt
	run -0 fl-inspect -d class_count s5.flt
	assert_equal "${#lines[@]}" 5
}

@test "--classes: a label not named, names against the model, IDX data, and bad lists" {
	printf 'label,x\nsetosa,1\nrose,2\n' > bad.csv
	run -1 --separate-stderr fl-stats --classes=setosa,virginica bad.csv -o out.flt
	assert_equal "$stderr" "fl-stats: bad.csv: line 3: column 1: label 'rose' is not one of --classes setosa,virginica"
	[ ! -e out.flt ]
	fl-init -a logreg:1-3 --seed m -o m.flt
	run -2 fl-train -m m.flt --classes=setosa,virginica bad.csv -o u.flt
	assert_line --index 0 "fl-train: --classes names 2 classes, the model has 3"
	run -2 fl-eval -m m.flt --classes=7 bad.csv
	assert_line --index 0 "fl-eval: --classes names 7 classes, the model has 3"
	run -2 fl-stats --classes=a,,b bad.csv
	assert_line --index 0 "fl-stats: invalid --classes 'a,,b': an empty class name"
	run -2 fl-split --classes=a,b,a bad.csv
	assert_line --index 0 "fl-split: invalid --classes 'a,b,a': class 'a' twice"
	fl-split --synthetic 10 -n 1 -o d.flt
	run -1 fl-stats --classes=a,b,c d.flt
	assert_output "fl-stats: d.flt: --classes names the labels of CSV data; this file's labels are class numbers"
}
