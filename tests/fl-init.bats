#!/usr/bin/env bats
# fl-init: a model record from an architecture and a seed.

load helper
load learn

@test "fl-init: a model record with the arch, the round and one tensor pair per layer" {
	run fl-init -a mlp:784-128-10 --seed 1 -r 7 -o m.flt
	assert_success
	assert_equal "$(get kind m.flt)" model
	assert_equal "$(get arch m.flt)" mlp:784-128-10
	assert_equal "$(get round m.flt)" 7
	run fl-inspect m.flt
	assert_line --regexp '^  fc1\.w +f32 +\[784,128\] '
	assert_line --regexp '^  fc1\.b +f32 +\[128\] '
	assert_line --regexp '^  fc2\.w +f32 +\[128,10\] '
	assert_line --regexp '^  fc2\.b +f32 +\[10\] '
	refute_line --partial fc3
}

@test "fl-init: logreg has one layer; round defaults to 0" {
	fl-init -a logreg:4-2 --seed 1 -o m.flt
	assert_equal "$(get round m.flt)" 0
	run fl-inspect m.flt
	assert_line --regexp '^  fc1\.w +f32 +\[4,2\] '
	refute_line --partial fc2
}

@test "fl-init: the same seed gives the same bytes, another seed others, no seed the OS" {
	fl-init -a mlp:20-8-8-3 --seed a -o a1.flt
	fl-init -a mlp:20-8-8-3 --seed a -o a2.flt
	fl-init -a mlp:20-8-8-3 --seed b -o b.flt
	fl-init -a mlp:20-8-8-3 -o os1.flt
	fl-init -a mlp:20-8-8-3 -o os2.flt
	cmp a1.flt a2.flt
	! cmp -s a1.flt b.flt
	! cmp -s os1.flt os2.flt
}

@test "fl-init: He-normal hidden weights, Glorot-uniform output, zero biases" {
	fl-init -a mlp:400-300-10 --seed 3 -o m.flt
	run "$PYTHON" - m.flt <<'PY'
import subprocess, sys, math
def dump(name):
    out = subprocess.run(["fl-inspect", "--dump", name, sys.argv[1]],
                         capture_output=True, text=True, check=True).stdout
    return [float(v) for line in out.split() for v in line.split(",")]
w1, w2 = dump("fc1.w"), dump("fc2.w")
b1, b2 = dump("fc1.b"), dump("fc2.b")
mean = sum(w1) / len(w1)
sd = math.sqrt(sum((x - mean) ** 2 for x in w1) / len(w1))
lim = math.sqrt(6 / 310)
print(len(w1), round(mean, 3), round(sd / math.sqrt(2 / 400), 2),
      max(abs(x) for x in w2) <= lim, round(max(abs(x) for x in w2) / lim, 1),
      set(b1) | set(b2))
PY
	assert_success
	assert_output "120000 0.0 1.0 True 1.0 {0.0}"
}

@test "fl-init: bad architectures are refused, naming the problem" {
	for a in logreg mlp:784-10 logreg:4-3-2 logreg:4-1 mlp:4-0-3 \
	    mlp:4--3 cnn:4-3 mlp:4-3- mlp:04-3-2 logreg:99999999-10; do
		run --separate-stderr fl-init -a "$a" -o m.flt
		assert_equal "$status" 1
		[[ $stderr == "fl-init: --arch: "* ]] || fail "$a: $stderr"
		[ ! -e m.flt ] || fail "$a: wrote m.flt"
	done
	run --separate-stderr fl-init -o m.flt
	assert_equal "$status" 2
	run --separate-stderr fl-init -a logreg:4-3 --round=-1
	assert_equal "$status" 1
	run --separate-stderr fl-init -a logreg:4-3 extra
	assert_equal "$status" 2
}

@test "fl-init: -z compresses, the model reads the same" {
	fl-init -a mlp:100-50-10 --seed 1 -o plain.flt
	fl-init -a mlp:100-50-10 --seed 1 -z -o packed.flt
	run fl-inspect --diff plain.flt packed.flt --tolerance 0
	assert_success
	[ "$(wc -c < packed.flt)" -lt "$(wc -c < plain.flt)" ]
}
