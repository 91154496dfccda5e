#!/usr/bin/env bats
# fl-apply: the server step.  The optimizers are checked against numpy
# over several rounds (state carried between runs in the state record), and
# every refusal leaves the model and the state as they were.

load helper

pk() {
	local f=$1
	shift
	fl-pack "$@" -o "$f"
}

dump() {
	fl-inspect -d "$1" "$2" | paste -sd, -
}

no_temp() {
	if compgen -G '.fl-tmp.*' > /dev/null; then
		fail "left a temporary file: $(echo .fl-tmp.*)"
	fi
}

# After "run --separate-stderr apply ...": status 1, no model on stdout,
# one line on stderr containing TEXT.
apply() {
	fl-apply "$@" > out.flt
}

refused() {
	assert_equal "$status" 1
	[ ! -s out.flt ] || fail "wrote $(wc -c < out.flt) bytes to stdout"
	assert_equal "${#stderr_lines[@]}" 1
	[[ $stderr == "fl-apply: "*"$1"* ]] ||
	    fail "stderr lacks '$1'"$'\n'"stderr: $stderr"
}

# A model of round 5 (w, b and an integer tensor no aggregate touches) and
# aggregates of rounds 5, 6 and 7.
setup_model() {
	pk g.flt -m kind=model -m arch=logreg:3-2 -m round=5 \
	    -t w:f32:2x3=0.5,-1,2,0.25,0,1 -t b:f32=1,-1 -t steps:i64=42
	pk a5.flt -m kind=aggregate -m agg=mean -m round=5 -m clients=3 \
	    -t w:f32:2x3=0.1,-0.2,0.3,0,0.05,-0.5 -t b:f32=0.01,0.02
	pk a6.flt -m kind=aggregate -m agg=mean -m round=6 -m clients=3 \
	    -t w:f32:2x3=-0.3,0.1,0.2,0.4,-0.05,0.5 -t b:f32=-0.02,0.03
	pk a7.flt -m kind=aggregate -m agg=mean -m round=7 -m clients=3 \
	    -t w:f32:2x3=0.2,0.2,-0.1,-0.4,0.15,0.25 -t b:f32=0.05,-0.01
}

@test "sgd: model + server-lr x aggregate, round incremented, the rest untouched" {
	setup_model
	fl-apply -m g.flt a5.flt > n.flt
	# f32 + f32, rounded once from f64: what numpy gives.
	run $PYTHON -c '
import numpy as np
w = np.array([0.5, -1, 2, 0.25, 0, 1], np.float32)
d = np.array([0.1, -0.2, 0.3, 0, 0.05, -0.5], np.float32)
print(",".join(str(v) for v in (w.astype(np.float64) + d).astype(np.float32)))'
	assert_equal "$(dump w n.flt)" "$output"
	assert_equal "$(fl-inspect -g round n.flt)" 6
	assert_equal "$(fl-inspect -g kind n.flt)" model
	assert_equal "$(fl-inspect -g arch n.flt)" logreg:3-2
	assert_equal "$(dump steps n.flt)" 42
	fl-apply -m g.flt --server-lr=0.5 < a5.flt > h.flt
	assert_equal "$(dump b h.flt)" "1.005,-0.99"
	# The aggregate of the right round only.
	run --separate-stderr apply -m g.flt a6.flt
	refused "a6.flt: record 1: the aggregate is of round 6, the model g.flt of round 5"
}

# check_numpy OPTIMIZER ARGS...: three rounds of fl-apply against numpy.
check_numpy() {
	local opt=$1 r
	shift
	setup_model
	rm -f state.flt
	cp g.flt model.flt
	for r in 5 6 7; do
		fl-apply -m model.flt -s state.flt --optimizer="$opt" "$@" \
		    -o model.flt "a$r.flt"
		fl-inspect -d w model.flt | paste -sd, - > "w$r.txt"
		fl-inspect -d b model.flt | paste -sd, - > "b$r.txt"
	done
	assert_equal "$(fl-inspect -g round model.flt)" 8
	assert_equal "$(fl-inspect -g round state.flt)" 8
	assert_equal "$(fl-inspect -g opt state.flt)" "$opt"
	assert_equal "$(fl-inspect -g kind state.flt)" state
	run "$PYTHON" - "$opt" "$@" <<'EOF'
import sys
import numpy as np
opt, args = sys.argv[1], sys.argv[2:]
hp = {"lr": 1.0 if opt in ("sgd", "avgm") else 0.01, "momentum": 0.9,
      "beta1": 0.9, "beta2": 0.99, "tau": 1e-3}
for a in args:
    k, v = a.lstrip("-").split("=")
    hp[{"server-lr": "lr"}.get(k, k)] = float(v)
f32 = lambda v: np.array(v, np.float32)
x = {"w": f32([0.5, -1, 2, 0.25, 0, 1]), "b": f32([1, -1])}
aggs = [{"w": f32([0.1, -0.2, 0.3, 0, 0.05, -0.5]), "b": f32([0.01, 0.02])},
        {"w": f32([-0.3, 0.1, 0.2, 0.4, -0.05, 0.5]), "b": f32([-0.02, 0.03])},
        {"w": f32([0.2, 0.2, -0.1, -0.4, 0.15, 0.25]), "b": f32([0.05, -0.01])}]
# Reddi et al. 2021, Algorithm 2; FedAvgM as Hsu et al. 2019.  State
# starts at m = 0, v = tau^2 and is stored in f32 like the model.
m = {k: np.zeros_like(v) for k, v in x.items()}
s = {k: np.full_like(v, hp["tau"] ** 2) for k, v in x.items()}
for r, d in zip((5, 6, 7), aggs):
    for k in x:
        g = d[k].astype(np.float64)
        xk, mk, vk = (a[k].astype(np.float64) for a in (x, m, s))
        if opt == "sgd":
            xk = xk + hp["lr"] * g
        elif opt == "avgm":
            mk = hp["momentum"] * mk + g
            xk = xk + hp["lr"] * mk
        else:
            mk = hp["beta1"] * mk + (1 - hp["beta1"]) * g
            if opt == "adagrad":
                vk = vk + g * g
            elif opt == "adam":
                vk = hp["beta2"] * vk + (1 - hp["beta2"]) * g * g
            else:
                vk = vk - (1 - hp["beta2"]) * g * g * np.sign(vk - g * g)
            xk = xk + hp["lr"] * mk / (np.sqrt(vk) + hp["tau"])
        x[k], m[k], s[k] = f32(xk), f32(mk), f32(vk)
    for k in x:
        got = np.array([float(t) for t in open("%s%d.txt" % (k, r)).read().split(",")])
        if not np.allclose(got, x[k], rtol=1e-6, atol=1e-9):
            sys.exit("round %d tensor %s: got %s, numpy %s" % (r, k, got, x[k]))
print("ok")
EOF
	assert_success
	assert_output ok
}

@test "sgd agrees with numpy over three rounds" {
	check_numpy sgd --server-lr=0.7
}

@test "avgm (FedAvgM) agrees with numpy over three rounds" {
	check_numpy avgm
	fl-inspect state.flt | grep -q 'w:m '
	run fl-inspect -d w:v state.flt
	assert_failure
	check_numpy avgm --momentum=0.5 --server-lr=0.3
}

@test "adagrad (FedAdagrad) agrees with numpy over three rounds" {
	check_numpy adagrad
	check_numpy adagrad --beta1=0 --tau=0.01 --server-lr=0.1
}

@test "adam (FedAdam) agrees with numpy over three rounds" {
	check_numpy adam
	fl-inspect state.flt | grep -q 'b:v '
	check_numpy adam --beta1=0.5 --beta2=0.9 --tau=1e-6 --server-lr=0.05
}

@test "yogi (FedYogi) agrees with numpy over three rounds" {
	check_numpy yogi
	check_numpy yogi --beta2=0.5 --tau=0.1 --server-lr=1
}

@test "state: it must match the optimizer and the model's round" {
	setup_model
	fl-apply -m g.flt -s st.flt --optimizer=adam a5.flt > g6.flt
	cp st.flt st.orig
	# Same state, old model: refused, state untouched.
	run --separate-stderr apply -m g.flt -s st.flt --optimizer=adam a5.flt
	refused "st.flt: record 1: the state is of round 6, the model g.flt of round 5: they do not belong together"
	cmp st.flt st.orig
	run --separate-stderr apply -m g6.flt -s st.flt --optimizer=yogi a6.flt
	refused "st.flt: record 1: the state is for optimizer 'adam', not yogi: remove it to start afresh"
	run --separate-stderr apply -m g6.flt -s a6.flt --optimizer=adam a6.flt
	refused "a6.flt: record 1: not an optimizer state (kind=state)"
	fl-apply -m g6.flt -s st.flt --optimizer=adam a6.flt > g7.flt
	assert_equal "$(fl-inspect -g round st.flt)" 7
	no_temp
	# An adaptive optimizer without a state file is a usage error.
	run --separate-stderr fl-apply -m g.flt --optimizer=adam a5.flt
	assert_equal "$status" 2
	[[ $stderr == *"--optimizer=adam keeps a state: give -s FILE"* ]]
}

@test "-o over the model itself is atomic; a failure leaves it intact" {
	setup_model
	cp g.flt model.flt
	fl-apply -m model.flt -o model.flt a5.flt
	assert_equal "$(fl-inspect -g round model.flt)" 6
	cp model.flt before.flt
	pk nan.flt -m round=6 -t w:f32:2x3=1,nan,1,1,1,1
	run --separate-stderr fl-apply -m model.flt -s st.flt --optimizer=avgm \
	    -o model.flt nan.flt
	assert_equal "$status" 1
	cmp model.flt before.flt
	[ ! -e st.flt ]
	no_temp
	# A step that overflows f32 is refused, not written.
	pk huge.flt -m round=6 -t w:f32:2x3=3e38,0,0,0,0,0
	run --separate-stderr fl-apply -m model.flt --server-lr=10 -o model.flt huge.flt
	assert_equal "$status" 1
	[[ $stderr == "fl-apply: model.flt: tensor 'w' element 0: the step gives a non-finite value" ]]
	cmp model.flt before.flt
	no_temp
}

@test "bad input: aggregates that do not fit the model" {
	setup_model
	pk x.flt -m round=5 -t v:f32=1
	run --separate-stderr apply -m g.flt x.flt
	refused "x.flt: record 1: tensor 'v' is not in the model g.flt"
	pk s.flt -m round=5 -t b:f32=1,2,3
	run --separate-stderr apply -m g.flt s.flt
	refused "s.flt: record 1: tensor 'b' is f32 [3], the model has f32 [2]"
	pk i.flt -m round=5 -t b:u32=1,2
	run --separate-stderr apply -m g.flt i.flt
	refused "i.flt: record 1: tensor 'b' is u32: fl-apply adds float updates; decode it first (fl-quantize -d), or leave it out (--exclude 'b'; the model keeps its value)"
	pk st.flt -m round=5 -t steps:f32=1
	run --separate-stderr apply -m g.flt st.flt
	refused "st.flt: record 1: tensor 'steps' is f32 [1], the model has i64 [1]"
	pk m.flt -m round=5 -m mask=secagg -m modulus=16 -t b:u32=1,2
	run --separate-stderr apply -m g.flt m.flt
	refused "m.flt: record 1: is masked: unmask it first"
	pk n.flt -m round=5 -t b:f32=inf,1
	run --separate-stderr apply -m g.flt n.flt
	refused "n.flt: record 1: 1 NaN or infinite values, the first in tensor 'b'"
	run --separate-stderr apply -m g.flt g.flt
	refused "g.flt: record 1: is a model, not an aggregate update"
	run --separate-stderr apply -m a5.flt a5.flt
	refused "a5.flt: record 1: is an aggregate, not a model"
	cat a5.flt a5.flt > two.flt
	run --separate-stderr apply -m g.flt two.flt
	refused "two.flt: record 2: more than one aggregate: fl-apply applies one"
	: > empty.flt
	run --separate-stderr apply -m g.flt empty.flt
	refused "empty.flt: no aggregate"
	head -c 100 a5.flt > cut.flt
	run --separate-stderr apply -m g.flt cut.flt
	refused "cut.flt: record 1: truncated record"
	run --separate-stderr apply -m cut.flt a5.flt
	refused "cut.flt: record 1: truncated record"
	run --separate-stderr apply -m missing.flt a5.flt
	refused "missing.flt: No such file or directory"
}

@test "usage: the model is required, one aggregate at a time, options checked" {
	setup_model
	run --separate-stderr fl-apply a5.flt
	assert_equal "$status" 2
	[[ $stderr == *"the model is missing: -m FILE"* ]]
	run --separate-stderr fl-apply -m g.flt a5.flt a6.flt
	assert_equal "$status" 2
	run --separate-stderr fl-apply -m g.flt --optimizer=sgdm a5.flt
	assert_equal "$status" 2
	for bad in --beta1=1 --beta2=1.5 --momentum=-0.1 --tau=0 \
	    --server-lr=0 --server-lr=x; do
		run --separate-stderr fl-apply -m g.flt "$bad" a5.flt
		assert_equal "$status" 1
		[[ $stderr == "fl-apply: invalid --"* ]] || fail "$bad: $stderr"
	done
}

@test "a model without a round gets round 1; an update without one applies" {
	pk g.flt -t w:f32=1,2
	pk u.flt -m kind=update -t w:f32=0.5,0.5
	fl-apply -m g.flt u.flt > n.flt
	assert_equal "$(fl-inspect -g round n.flt)" 1
	assert_equal "$(dump w n.flt)" "1.5,2.5"
}

@test "the clients' loss carried in fl.loss becomes the model's loss, not a tensor" {
	setup_model
	# A mean of fl.loss = 0.06 at dp.loss-scale 0.05: a mean loss of 1.2.
	pk l.flt -m kind=aggregate -m agg=mean -m round=5 -m clients=3 \
	    -m dp.loss-scale=0.05 -t w:f32:2x3=0,0,0,0,0,0 -t b:f32=0,0 \
	    -t fl.loss:f64=0.06
	fl-apply -m g.flt l.flt > n.flt
	assert_equal "$(fl-inspect -g loss n.flt)" 1.2
	run -1 fl-inspect -d fl.loss n.flt
	assert_equal "$(dump w n.flt)" "0.5,-1,2,0.25,0,1"
	# A round without it leaves no stale loss behind.
	pk a6.flt -m kind=aggregate -m agg=mean -m round=6 -m clients=3 \
	    -t w:f32:2x3=0,0,0,0,0,0 -t b:f32=0,0
	fl-apply -m n.flt a6.flt > n7.flt
	run -1 fl-inspect -g loss n7.flt
	# fl.loss needs its scale, and is one float value.
	pk bad.flt -m kind=aggregate -m round=5 -t w:f32:2x3=0,0,0,0,0,0 \
	    -t b:f32=0,0 -t fl.loss:f64=0.06
	run --separate-stderr apply -m g.flt bad.flt
	refused "bad.flt: record 1: tensor 'fl.loss' without a positive dp.loss-scale"
	pk bad.flt -m kind=aggregate -m round=5 -m dp.loss-scale=0.05 \
	    -t w:f32:2x3=0,0,0,0,0,0 -t b:f32=0,0 -t fl.loss:f64=0.06,1
	run --separate-stderr apply -m g.flt bad.flt
	refused "bad.flt: record 1: tensor 'fl.loss' is not one float value"
}
