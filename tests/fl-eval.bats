#!/usr/bin/env bats
# fl-eval: loss, accuracy, per-class precision and recall; counts records
# that add up across clients.

load helper
load learn

setup() {
	make_blobs
}

@test "fl-eval: the report: examples, loss, accuracy, a line per class" {
	fl-train -m model.flt --seed 1 -e 10 --trained blobs.flt -o t.flt
	run --separate-stderr fl-eval -m t.flt blobs.flt
	assert_success
	assert_line --index 0 --regexp '^examples  300$'
	assert_line --index 1 --regexp '^loss      [0-9]+\.[0-9]{4}$'
	assert_line --index 2 --regexp '^accuracy  0\.[0-9]{4}$'
	assert_equal "$(sed -n 4p <<< "$output")" ''
	assert_line --index 3 'class  precision  recall  support'
	assert_line --index 4 --regexp '^0 +0\.[0-9]{4} +0\.[0-9]{4} +[0-9]+$'
	assert_equal "${#lines[@]}" 7
}

@test "fl-eval: --json agrees with the confusion matrix it is made of" {
	fl-train -m model.flt --seed 1 -e 2 --trained blobs.flt -o t.flt
	fl-eval -m t.flt --json blobs.flt > r.json
	fl-eval -m t.flt --counts blobs.flt -o c.flt
	assert_equal "$(get kind c.flt)" counts
	run "$PYTHON" - <<'PY'
import json, subprocess
r = json.load(open("r.json"))
out = subprocess.run(["fl-inspect", "--dump", "confusion", "c.flt"],
                     capture_output=True, text=True, check=True).stdout
cm = [[int(v) for v in line.split(",")] for line in out.split()]
n = sum(map(sum, cm))
assert r["examples"] == n == 300
assert abs(r["accuracy"] - sum(cm[i][i] for i in range(3)) / n) < 1e-12
for k, c in enumerate(r["classes"]):
    assert c["class"] == k and c["support"] == sum(cm[k])
    assert abs(c["recall"] - cm[k][k] / sum(cm[k])) < 1e-12
    assert abs(c["precision"] - cm[k][k] / sum(row[k] for row in cm)) < 1e-12
loss = float(subprocess.run(["fl-inspect", "--dump", "loss_sum", "c.flt"],
                            capture_output=True, text=True).stdout)
assert abs(r["loss"] - loss / n) < 1e-9
print("ok")
PY
	assert_success
	assert_output ok
}

@test "fl-eval: counts of several clients add up to the whole (federated evaluation)" {
	fl-split --synthetic=300 --features=4 --classes=3 --seed=blobs -n 3 \
	    --dirichlet 0.5 -p part-
	fl-train -m model.flt --seed 1 -e 5 --trained blobs.flt -o t.flt
	for i in 0 1 2; do
		fl-eval -m t.flt --counts "part-$i.flt" -o "c$i.flt"
	done
	fl-eval -m t.flt blobs.flt > whole.txt
	fl-eval --from-counts c0.flt c1.flt c2.flt > sum.txt
	cmp whole.txt sum.txt
	# the loss sums add in another order: equal to rounding
	cat c0.flt c1.flt c2.flt | fl-eval --from-counts --json > a.json
	fl-eval -m t.flt --json blobs.flt > b.json
	"$PYTHON" -c '
import json
a, b = json.load(open("a.json")), json.load(open("b.json"))
assert abs(a.pop("loss") - b.pop("loss")) < 1e-12
assert a == b'

	if command -v fl-aggregate > /dev/null; then
		fl-aggregate -r sum c0.flt c1.flt c2.flt -o agg.flt
		fl-eval --from-counts agg.flt > agg.txt
		cmp whole.txt agg.txt
	fi
}

@test "fl-eval: a class never predicted has no precision; -j gives the same" {
	fl-pack -m kind=model -m arch=logreg:4-3 \
	    -t fc1.w:f32:4x3=0,0,0,0,0,0,0,0,0,0,0,0 -t fc1.b:f32=1,0,0 -o m.flt
	run fl-eval -m m.flt blobs.flt
	assert_line --regexp '^1 +- +0\.0000 +[0-9]+$'
	run fl-eval -m m.flt --json blobs.flt
	assert_output --partial '{"class":1,"precision":null,"recall":0,'
	fl-eval -m model.flt -j 1 blobs.flt > a.txt
	fl-eval -m model.flt -j 3 blobs.flt > b.txt
	cmp a.txt b.txt
}

@test "fl-eval: bad input: an update as model, wrong features, counts of another kind" {
	fl-train -m model.flt --seed 1 blobs.flt -o u.flt
	run --separate-stderr fl-eval -m u.flt blobs.flt
	fails_with "fl-eval: u.flt: record 1: kind=update, not a model"
	fl-init -a logreg:5-3 --seed 1 -o m5.flt
	run --separate-stderr fl-eval -m m5.flt blobs.flt
	fails_with "fl-eval: blobs.flt: record 1: 4 features, the model takes 5"
	run --separate-stderr fl-eval -m m5.flt blobs.csv
	fails_with "fl-eval: blobs.csv: line 1: 4 features, the model takes 5"
	fl-init -a logreg:4-2 --seed 1 -o m2.flt
	run --separate-stderr fl-eval -m m2.flt blobs.csv
	fails_with "label 2 out of range: the model has 2 classes"
	run --separate-stderr fl-eval --from-counts u.flt
	fails_with "fl-eval: u.flt: record 1: kind=update, not counts"
	fl-eval -m model.flt --counts blobs.flt -o c3.flt
	fl-init -a logreg:4-4 --seed 1 -o m4.flt
	fl-split --synthetic=20 --features=4 --classes=4 --seed=1 -o d4.flt
	fl-eval -m m4.flt --counts d4.flt -o c4.flt
	run --separate-stderr fl-eval --from-counts c3.flt c4.flt
	fails_with "c4.flt: record 1: 4 classes, the first record has 3"
	run --separate-stderr fl-eval --from-counts -m model.flt c3.flt
	assert_equal "$status" 2
	run --separate-stderr fl-eval -m model.flt --counts --json blobs.flt
	assert_equal "$status" 2
	run --separate-stderr fl-eval blobs.flt
	assert_equal "$status" 2
}
