#!/usr/bin/env bats
# Tensor selection (--only, --exclude; lib/format/select.c) in the programs
# that change values: fl-clip-noise, fl-quantize, fl-apply, on a record
# shaped like a PyTorch state_dict (float weights, an f16 buffer, BatchNorm's
# i64 num_batches_tracked).

load helper

# The update and the global model of a small CNN with BatchNorm.
setup() {
	fl-pack -m kind=update -m round=4 -t 'conv.weight:f32=0.3,-0.4,0.5,0.1' \
	    -t 'conv.bias:f32=0.2,-0.1' -t 'bn.running_mean:f16=0.25,-0.75' \
	    -t 'bn.num_batches_tracked:i64=117' -o u.flt
	fl-pack -m kind=model -m round=4 -t 'conv.weight:f32=1,2,3,4' \
	    -t 'conv.bias:f32=1,1' -t 'bn.running_mean:f16=0.5,0.125' \
	    -t 'bn.num_batches_tracked:i64=9000' -o g.flt
}

# same A B TENSOR...: the tensors hold the same bytes, dtype and shape in
# the first record of A and of B.
same() {
	$PYTHON - "$TOP" "$@" <<'PY' || fail "not byte-identical: ${*:3}"
import sys; sys.path.insert(0, sys.argv[1] + "/examples/python")
import flt
a = next(flt.read_records(open(sys.argv[2], "rb")))[1]
b = next(flt.read_records(open(sys.argv[3], "rb")))[1]
for n in sys.argv[4:]:
    assert a[n].dtype == b[n].dtype and a[n].shape == b[n].shape, n
    assert a[n].tobytes() == b[n].tobytes(), n
PY
}

# tensors FILE: the tensor names of the first record, one line.
tensors() {
	fl-inspect -j "$1" | $PYTHON -c '
import sys, json; print(" ".join(t["name"] for t in json.loads(sys.stdin.readline())["tensors"]))'
}

# one_line_error MESSAGE: exit 1, one line on stderr, equal to MESSAGE,
# and no out.flt.
one_line_error() {
	assert_equal "$status" 1
	assert_equal "${#stderr_lines[@]}" 1
	assert_equal "$stderr" "$1"
	[ ! -e out.flt ] || fail "out.flt was written"
}

@test "fl-clip-noise: an integer tensor is refused with how to leave it out; --exclude drops it" {
	run --separate-stderr fl-clip-noise -c 1 -o out.flt u.flt
	one_line_error "fl-clip-noise: u.flt: record 1: tensor 'bn.num_batches_tracked' is i64: integer tensors are not clipped or noised; leave it out of the update (--exclude 'bn.num_batches_tracked')"
	fl-clip-noise -c 0.5 --exclude bn.num_batches_tracked -o out.flt u.flt
	run -0 tensors out.flt
	assert_output "conv.weight conv.bias bn.running_mean"
	# Clipped together, f16 included, and kept f16.
	run -0 fl-inspect -j out.flt
	assert_output --partial '"name":"bn.running_mean","dtype":"f16"'
	fl-clip-noise -c 1 -n 1 --seed s --exclude 'bn.num_*' -o n.flt u.flt
	run -0 tensors n.flt
	assert_output "conv.weight conv.bias bn.running_mean"
	run -0 fl-inspect -g dp.dim n.flt
	assert_output 8
}

@test "fl-clip-noise: --only and --exclude pick what is clipped; the norm is over the selected tensors" {
	# conv.* alone: norm of (0.3,-0.4,0.5,0.1,0.2,-0.1) = sqrt(0.56).
	fl-clip-noise -c 0.5 --only 'conv.*' -o c.flt u.flt
	run -0 tensors c.flt
	assert_output "conv.weight conv.bias"
	run -0 fl-inspect -d conv.weight c.flt
	$PYTHON -c "import sys, math; v = [float(x) for x in sys.argv[1:]]; f = 0.5 / math.sqrt(0.56)
sys.exit(any(abs(a - b * f) > 1e-6 for a, b in zip(v, [0.3, -0.4, 0.5, 0.1])))" $output ||
	    fail "not clipped over conv.* alone: $output"
	# The same with a list and an explicit integer name: refused, as integers
	# cannot be clipped.
	run --separate-stderr fl-clip-noise -c 1 --only 'conv.weight,bn.num_batches_tracked' -o out.flt u.flt
	one_line_error "fl-clip-noise: u.flt: record 1: tensor 'bn.num_batches_tracked' is i64: integer tensors are not clipped or noised; leave it out of the update (--exclude 'bn.num_batches_tracked')"
	# Repeated options add up.
	fl-clip-noise -c 1 --exclude 'bn.*' --exclude conv.bias -o w.flt u.flt
	run -0 tensors w.flt
	assert_output "conv.weight"
	# With the indicator and the loss: fl-clip-noise's own tensors stay.
	fl-pack -m kind=update -m loss=0.5 -t 'a:f32=3,4' -t 'b:f32=1' -o l.flt
	fl-clip-noise -c 1 --indicator --loss-bound 2 --only a -o il.flt l.flt
	run -0 tensors il.flt
	assert_output "a fl.loss clip.indicator"
}

@test "fl-quantize: tensors not selected (integers by default) pass through byte-identical, and -d passes them on" {
	fl-quantize --bits 8 --seed s -o q.flt u.flt
	run -0 fl-inspect -g q.pass q.flt
	assert_output bn.num_batches_tracked
	same u.flt q.flt bn.num_batches_tracked
	fl-quantize -d -o d.flt q.flt
	same u.flt d.flt bn.num_batches_tracked
	run -1 fl-inspect -g q.pass d.flt
	# An f16 tensor left out, with rand-k; the sum of two decodes.
	fl-quantize --rand-k 2 --sparse-seed k --exclude 'bn.*' -o r.flt u.flt
	run -0 fl-inspect -g q.pass r.flt
	assert_output bn.running_mean,bn.num_batches_tracked
	same u.flt r.flt bn.running_mean bn.num_batches_tracked
	fl-quantize -d -o rd.flt r.flt
	same u.flt rd.flt bn.running_mean bn.num_batches_tracked
	run -0 tensors rd.flt
	assert_output "conv.weight conv.bias bn.running_mean bn.num_batches_tracked"
	# --only: the rest passes through.
	fl-quantize --top-k 1 --only conv.bias -o t.flt u.flt
	same u.flt t.flt conv.weight bn.running_mean bn.num_batches_tracked
	fl-quantize -d -o td.flt t.flt
	same u.flt td.flt conv.weight bn.running_mean bn.num_batches_tracked
}

@test "fl-quantize: --ring is masked whole: no selection, and an integer tensor says to leave it out before" {
	run --separate-stderr fl-quantize --ring 16 -n 10 -c 1 --exclude 'bn.*' u.flt
	assert_equal "$status" 2
	assert_equal "${stderr_lines[0]}" "fl-quantize: --only and --exclude do not combine with --ring: a ring record is masked whole (leave tensors out before, with fl-clip-noise --exclude)"
	run --separate-stderr fl-quantize --ring 16 -n 10 -c 1 -o out.flt u.flt
	one_line_error "fl-quantize: u.flt: record 1: tensor 'bn.num_batches_tracked' is i64: a ring record holds only ring values (it is masked); leave it out of the update before (fl-clip-noise --exclude 'bn.num_batches_tracked')"
	# A record that passes tensors through is not ring-encoded.
	fl-quantize --rand-k 2 --sparse-seed k -o r.flt u.flt
	run --separate-stderr fl-quantize --ring 16 -n 10 -c 1 -o out.flt r.flt
	one_line_error "fl-quantize: r.flt: record 1: passes tensors through (q.pass): a ring record is masked whole; leave them out before (fl-clip-noise --exclude)"
	# The device's way: dropped by fl-clip-noise, then the ring.
	fl-clip-noise -c 1 --exclude bn.num_batches_tracked u.flt |
	    fl-quantize --ring 16 -n 10 --seed s -o ring.flt
	run -0 tensors ring.flt
	assert_output "conv.weight conv.bias bn.running_mean"
	run --separate-stderr fl-quantize -d --only x ring.flt
	assert_equal "$status" 2
}

@test "fl-apply: the tensors left out keep their bytes in the model; an integer tensor must be left out by name" {
	fl-pack -m kind=aggregate -m round=4 -t 'conv.weight:f32=0.5,0.5,0.5,0.5' \
	    -t 'conv.bias:f32=1,1' -t 'bn.running_mean:f16=0.25,0.25' \
	    -t 'bn.num_batches_tracked:i64=117' -o a.flt
	run --separate-stderr fl-apply -m g.flt -o out.flt a.flt
	one_line_error "fl-apply: a.flt: record 1: tensor 'bn.num_batches_tracked' is i64: fl-apply adds float updates; decode it first (fl-quantize -d), or leave it out (--exclude 'bn.num_batches_tracked'; the model keeps its value)"
	fl-apply -m g.flt --exclude 'bn.num*' -o n1.flt a.flt
	same g.flt n1.flt bn.num_batches_tracked
	run -0 fl-inspect -d bn.running_mean n1.flt
	assert_output $'0.75\n0.375'
	fl-apply -m g.flt --only 'conv.*' -o n2.flt a.flt
	same g.flt n2.flt bn.running_mean bn.num_batches_tracked
	run -0 fl-inspect -d conv.bias n2.flt
	assert_output $'2\n2'
	# An adaptive optimizer's state covers the applied tensors only.
	fl-apply -m g.flt --optimizer adam -s st.flt --exclude 'bn.*' -o n3.flt a.flt
	run -0 tensors st.flt
	assert_output "conv.weight:m conv.weight:v conv.bias:m conv.bias:v"
	same g.flt n3.flt bn.running_mean bn.num_batches_tracked
	# The aggregate of a device that dropped the counter needs no option.
	fl-pack -m kind=aggregate -m round=4 -t 'conv.bias:f32=1,1' -o b.flt
	fl-apply -m g.flt -o n4.flt b.flt
	same g.flt n4.flt conv.weight bn.running_mean bn.num_batches_tracked
}

@test "bad input: a pattern that selects nothing, a bad pattern: one line naming the file, exit 1, nothing written" {
	run --separate-stderr fl-clip-noise -c 1 --only 'fc.*' -o out.flt u.flt
	one_line_error "fl-clip-noise: u.flt: record 1: --only 'fc.*' matches no tensor"
	run --separate-stderr fl-clip-noise -c 1 --exclude '*' -o out.flt u.flt
	one_line_error "fl-clip-noise: u.flt: record 1: --only and --exclude select no tensor"
	run --separate-stderr fl-clip-noise -c 1 --exclude 'bn.*,fc.bias' -o out.flt u.flt
	one_line_error "fl-clip-noise: u.flt: record 1: --exclude 'fc.bias' matches no tensor"
	run --separate-stderr fl-quantize --bits 4 --only '*tracked' -o out.flt u.flt
	one_line_error "fl-quantize: u.flt: record 1: --only '*tracked' matches no tensor (an integer tensor is selected only by its full name)"
	run --separate-stderr fl-apply -m g.flt --only nothing -o out.flt u.flt
	one_line_error "fl-apply: u.flt: record 1: --only 'nothing' matches no tensor"
	# The second record of a stream: the -o file is not published.
	cat u.flt u.flt > two.flt
	fl-pack -m kind=update -t 'x:f32=1' >> two.flt
	run --separate-stderr fl-clip-noise -c 1 --exclude 'bn.num*' -o out.flt two.flt
	one_line_error "fl-clip-noise: two.flt: record 3: --exclude 'bn.num*' matches no tensor"
	# Bad patterns.
	run --separate-stderr fl-clip-noise -c 1 --only 'conv[' -o out.flt u.flt
	one_line_error "fl-clip-noise: invalid --only 'conv[': a '[' without its ']'"
	run --separate-stderr fl-quantize --bits 4 --exclude 'a b' -o out.flt u.flt
	one_line_error "fl-quantize: invalid --exclude 'a b': a tensor name has no ' ' (names are [A-Za-z0-9_.:/-])"
	run --separate-stderr fl-apply -m g.flt --only '' -o out.flt u.flt
	one_line_error "fl-apply: invalid --only '': an empty pattern"
	run --separate-stderr fl-apply -m g.flt --exclude 'a,,b' -o out.flt u.flt
	one_line_error "fl-apply: invalid --exclude '': an empty pattern"
	# Where selection has no meaning.
	run --separate-stderr fl-clip-noise --adapt --only x u.flt
	assert_equal "$status" 2
	fl-pack -m modulus=256 -m dp.sensitivity=4 -t 'q:u32=1,2' -o ring.flt
	run --separate-stderr fl-clip-noise -n 1 --only q -o out.flt ring.flt
	one_line_error "fl-clip-noise: ring.flt: record 1: --only and --exclude select float tensors: a record of integers (fl-quantize --ring) is noised whole"
}

@test "fl-aggregate: plain FedAvg of state_dict updates leaves an integer buffer out by name; the model keeps its counter" {
	# Two clients' plain updates, as a PyTorch trainer without DP sends
	# them (BatchNorm's counter beside the weights).
	fl-pack -m kind=update -m round=4 -m client=a -m weight=1 \
	    -t 'conv.weight:f32=1,1,1,1' -t 'conv.bias:f32=0,2' \
	    -t 'bn.running_mean:f16=0.5,0.5' -t 'bn.num_batches_tracked:i64=117' -o a.flt
	fl-pack -m kind=update -m round=4 -m client=b -m weight=3 \
	    -t 'conv.weight:f32=3,3,3,3' -t 'conv.bias:f32=4,2' \
	    -t 'bn.running_mean:f16=0.25,0.25' -t 'bn.num_batches_tracked:i64=9' -o b.flt
	run --separate-stderr fl-aggregate -o out.flt a.flt b.flt
	one_line_error "fl-aggregate: a.flt: record 1: tensor 'bn.num_batches_tracked' is i64: mean takes float tensors; leave it out (--exclude 'bn.num_batches_tracked')"
	fl-aggregate --exclude 'bn.num*' -o m.flt a.flt b.flt
	run -0 tensors m.flt
	assert_output "conv.weight conv.bias bn.running_mean"
	run -0 fl-inspect -d conv.bias m.flt
	assert_output $'3\n2'
	fl-apply -m g.flt -o n.flt m.flt
	same g.flt n.flt bn.num_batches_tracked
	# --only: the rest is left out of the aggregate (not averaged, not
	# passed through: several inputs have no one value to pass).
	fl-aggregate --only 'conv.*' -o c.flt a.flt b.flt
	run -0 tensors c.flt
	assert_output "conv.weight conv.bias"
	# The unselected integer buffer of a sum is left out too.
	fl-aggregate -r sum --only 'conv.bias' -o s.flt a.flt b.flt
	run -0 fl-inspect -d conv.bias s.flt
	assert_output $'4\n4'
	# Without selection, the records are byte for byte what they were.
	fl-aggregate --exclude 'bn.*' -o e1.flt a.flt b.flt
	fl-pack -m kind=update -m round=4 -m client=a -m weight=1 \
	    -t 'conv.weight:f32=1,1,1,1' -t 'conv.bias:f32=0,2' -o a2.flt
	fl-pack -m kind=update -m round=4 -m client=b -m weight=3 \
	    -t 'conv.weight:f32=3,3,3,3' -t 'conv.bias:f32=4,2' -o b2.flt
	fl-aggregate -o e2.flt a2.flt b2.flt
	cmp e1.flt e2.flt
}

@test "fl-aggregate: selection refusals: a pattern that selects nothing, masked or robust inputs, an integer left in" {
	run --separate-stderr fl-aggregate --only 'fc.*' -o out.flt u.flt
	one_line_error "fl-aggregate: u.flt: record 1: --only 'fc.*' matches no tensor"
	run --separate-stderr fl-aggregate --exclude 'conv.*' -o out.flt u.flt
	one_line_error "fl-aggregate: u.flt: record 1: tensor 'bn.num_batches_tracked' is i64: mean takes float tensors; leave it out (--exclude 'bn.num_batches_tracked')"
	run --separate-stderr fl-aggregate -r median --exclude 'bn.*' u.flt
	assert_equal "$status" 2
	[[ $stderr == *"--only and --exclude go with --rule=mean or sum of plain records"* ]]
	run --separate-stderr fl-aggregate --roster r --shares s --reveals v --exclude 'bn.*' u.flt
	assert_equal "$status" 2
	# A quantized record's integers: decode, not leave out.
	fl-pack -m q.codec=bits -t 'q:u8=1,2' -o bits.flt
	run --separate-stderr fl-aggregate -o out.flt bits.flt
	one_line_error "fl-aggregate: bits.flt: record 1: tensor 'q' is u8: mean takes float tensors; decode the record first (fl-quantize -d), or use --rule=sum"
}
