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

# weights FILE W...: a class-weights record of the weights W.
weights() {
	local f=$1
	shift
	local IFS=,
	fl-pack -m kind=class-weights -t "weight:f32=$*" -o "$f"
}

@test "fl-eval: --class-weights: equal weights change nothing, one class alone gives its loss and recall" {
	fl-train -m model.flt --seed 1 -e 2 --trained blobs.flt -o t.flt
	weights w1.flt 1 1 1
	weights w2.flt 2.5 2.5 2.5
	weights w010.flt 0 1 0
	run --separate-stderr fl-eval -m t.flt --class-weights=w1.flt blobs.flt
	assert_success
	assert_line --index 0 --regexp '^examples           300$'
	assert_line --index 1 --regexp '^loss               [0-9]+\.[0-9]{4}$'
	assert_line --index 2 --regexp '^accuracy           0\.[0-9]{4}$'
	assert_line --index 3 --regexp '^weighted-loss      [0-9]+\.[0-9]{4}$'
	assert_line --index 4 --regexp '^weighted-accuracy  0\.[0-9]{4}$'
	assert_line --index 5 'class  precision  recall  support'
	assert_equal "${#lines[@]}" 9
	fl-eval -m t.flt --json blobs.flt > plain.json
	fl-eval -m t.flt --json --class-weights=w1.flt blobs.flt > w1.json
	fl-eval -m t.flt --json --class-weights=w2.flt blobs.flt > w2.json
	fl-eval -m t.flt --json --class-weights=w010.flt blobs.flt > w010.json
	fl-eval -m t.flt --counts blobs.flt -o c.flt
	run "$PYTHON" - <<'PY'
import json, subprocess
p = json.load(open("plain.json"))
def dump(name):
    out = subprocess.run(["fl-inspect", "--dump", name, "c.flt"],
                         capture_output=True, text=True, check=True).stdout
    return [float(v) for v in out.replace(",", " ").split()]
assert "weighted_loss" not in p and "weighted_accuracy" not in p
for f in ("w1.json", "w2.json"):
    w = json.load(open(f))
    assert abs(w.pop("weighted_loss") - p["loss"]) < 1e-12, f
    assert abs(w.pop("weighted_accuracy") - p["accuracy"]) < 1e-12, f
    assert w == p, f
w = json.load(open("w010.json"))
cls = dump("class_loss_sum")
assert len(cls) == 3 and abs(sum(cls) - dump("loss_sum")[0]) < 1e-9
one = p["classes"][1]
assert abs(w["weighted_accuracy"] - one["recall"]) < 1e-12
assert abs(w["weighted_loss"] - cls[1] / one["support"]) < 1e-12
assert abs(w["weighted_loss"] - p["loss"]) > 1e-6
print("ok")
PY
	assert_success
	assert_output ok
}

@test "fl-eval: --class-weights with --from-counts: the clients' counts add up to the whole" {
	fl-split --synthetic=300 --features=4 --classes=3 --seed=blobs -n 2 \
	    --dirichlet 0.5 -p part-
	fl-train -m model.flt --seed 1 -e 5 --trained blobs.flt -o t.flt
	fl-eval -m t.flt --counts part-0.flt -o c0.flt
	fl-eval -m t.flt --counts part-1.flt -o c1.flt
	weights w.flt 0.5 3 1
	fl-eval -m t.flt --class-weights=w.flt blobs.flt > whole.txt
	fl-eval --from-counts --class-weights=w.flt c0.flt c1.flt > sum.txt
	cmp whole.txt sum.txt
	fl-eval -m t.flt --json --class-weights=w.flt blobs.flt > a.json
	fl-eval --from-counts --json --class-weights=w.flt c0.flt c1.flt > b.json
	fl-eval --from-counts --json --class-weights=w.flt c0.flt > c.json
	"$PYTHON" -c '
import json
a, b, c = (json.load(open(f)) for f in ("a.json", "b.json", "c.json"))
for k in ("loss", "weighted_loss"):
    assert abs(a.pop(k) - b.pop(k)) < 1e-12, k
assert a == b
assert c["weighted_accuracy"] != b["weighted_accuracy"]'

	fl-aggregate -r sum c0.flt c1.flt -o agg.flt
	fl-eval --from-counts --class-weights=w.flt agg.flt > agg.txt
	cmp whole.txt agg.txt
}

@test "fl-eval: counts without class_loss_sum (older fl-eval) still read: no weighted loss" {
	fl-pack -m kind=counts -m arch=logreg:4-3 \
	    -t confusion:u64:3x3=8,1,1,0,10,0,2,2,6 -t loss_sum:f64:[]=12 \
	    -t examples:u64:[]=30 -o old.flt
	run --separate-stderr fl-eval --from-counts old.flt
	assert_success
	assert_line --index 2 'accuracy  0.8000'
	weights w.flt 1 0 1
	run --separate-stderr fl-eval --from-counts --json --class-weights=w.flt old.flt
	assert_success
	assert_output --partial '"weighted_loss":null,"weighted_accuracy":0.7,'
	assert_equal "$stderr" "fl-eval: a counts record without class_loss_sum (from an older fl-eval): no weighted loss"
	run --separate-stderr fl-eval --from-counts --class-weights=w.flt old.flt
	assert_line --index 3 'weighted-loss      -'
	assert_line --index 4 'weighted-accuracy  0.7000'
}

@test "fl-eval: bad class weights: one line naming the file, exit 1, nothing written" {
	fl-eval -m model.flt --counts blobs.flt -o c.flt
	weights w2.flt 1 1
	weights neg.flt 1 -0.5 1
	weights nan.flt 1 nan 1
	weights zero.flt 0 0 0
	fl-pack -m kind=normalizer -t weight:f32=1,1,1 -o kind.flt
	fl-split --synthetic=30 --features=4 --classes=3 --seed=1 -o d.csv --csv
	awk -F, 'NR == 1 || $1 == 2' d.csv > only2.csv
	weights not2.flt 1 1 0
	run --separate-stderr fl-eval -m model.flt --class-weights=w2.flt -o r.txt blobs.flt
	fails_with "fl-eval: w2.flt: record 1: weight of 2 classes, the model has 3"
	run --separate-stderr fl-eval --from-counts --class-weights=w2.flt -o r.txt c.flt
	fails_with "fl-eval: w2.flt: record 1: weight of 2 classes, the model has 3"
	run --separate-stderr fl-eval -m model.flt --class-weights=neg.flt -o r.txt blobs.flt
	fails_with "fl-eval: neg.flt: record 1: the weight of class 1 is negative"
	run --separate-stderr fl-eval --from-counts --class-weights=nan.flt -o r.txt c.flt
	fails_with "fl-eval: nan.flt: record 1: weight: value 1 is not finite"
	run --separate-stderr fl-eval -m model.flt --class-weights=zero.flt -o r.txt blobs.flt
	fails_with "fl-eval: zero.flt: record 1: every class in the data has weight 0"
	run --separate-stderr fl-eval -m model.flt --class-weights=not2.flt -o r.txt only2.csv
	fails_with "fl-eval: not2.flt: record 1: every class in the data has weight 0"
	run --separate-stderr fl-eval -m model.flt --class-weights=kind.flt -o r.txt blobs.flt
	fails_with "fl-eval: kind.flt: record 1: kind=normalizer, not a class-weights record"
	[ ! -e r.txt ] || fail "r.txt written"
	run --separate-stderr fl-eval -m model.flt --class-weights=not2.flt blobs.flt
	assert_success
	run --separate-stderr fl-eval -m model.flt --counts --class-weights=not2.flt blobs.flt
	assert_equal "$status" 2
}
