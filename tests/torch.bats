#!/usr/bin/env bats
# PyTorch and safetensors through examples/python/flt.py, and a PyTorch
# trainer in federated rounds (examples/pytorch): state_dicts to records
# and back, exactly, for every dtype both have; safetensors written and
# read; the update record of a trained state_dict; and rounds of a small
# CNN on Fashion-MNIST through clipping, ring encoding, secure aggregation
# and fl-apply.  The tests that need torch skip, saying so, where
# `import torch` fails (Debian: python3-torch; CI installs it).

load helper

FLT=$TOP/examples/python/flt.py
TRAIN=$TOP/examples/pytorch/train.py
ROUND=$TOP/examples/pytorch/round.sh
FMNIST=/usr/share/datasets/fashion-mnist
export FLT TRAIN PYTHON PYTHONPATH=$TOP/examples/python:$TOP/examples/pytorch
export PYTHONDONTWRITEBYTECODE=1

need_torch() {
	"$PYTHON" -c 'import torch' 2> /dev/null ||
	    skip "PyTorch is not installed (Debian: python3-torch)"
}

@test "torch: a state_dict of every dtype torch and FLT share goes to a record and back exactly" {
	need_torch
	run "$PYTHON" - <<'EOF'
import io, math, torch, flt
class M(torch.nn.Module):
    def __init__(self):
        super().__init__()
        big = [0.0, -0.0, 1.5, -2.25, math.inf, -math.inf, math.nan, 1e-45]
        self.w32 = torch.nn.Parameter(torch.tensor([[3.4028234663852886e38, *big[:3]], big[4:]]))
        self.w64 = torch.nn.Parameter(torch.tensor([0.1, -1e308, 5e-324, math.nan], dtype=torch.float64))
        self.w16 = torch.nn.Parameter(torch.tensor([65504, -6e-8, 0.1, -0.0], dtype=torch.float16))
        self.wb = torch.nn.Parameter(torch.tensor([3.3e38, -9e-41, 0.1, math.inf], dtype=torch.bfloat16))
        self.register_buffer("i8", torch.tensor([-128, 127, 0], dtype=torch.int8))
        self.register_buffer("u8", torch.tensor([0, 255], dtype=torch.uint8))
        self.register_buffer("i16", torch.tensor([[-32768, 32767]], dtype=torch.int16))
        self.register_buffer("i32", torch.tensor([-2**31, 2**31 - 1], dtype=torch.int32))
        self.register_buffer("i64", torch.tensor(2**63 - 1))      # a scalar, as a counter
        self.register_buffer("empty", torch.zeros(0, 3))
sd = M().state_dict()
buf = io.BytesIO()
flt.write_record(buf, *flt.from_state_dict(sd, {"kind": "model", "round": 0}))
open("m.flt", "wb").write(buf.getvalue())
buf.seek(0)
(meta, tensors), = flt.read_records(buf)
assert meta == {"kind": "model", "round": "0"}, meta
assert [flt.dtype_name(t.dtype) for t in tensors.values()] == \
    ["f32", "f64", "f16", "bf16", "i8", "u8", "i16", "i32", "i64", "f32"]
m = M()
with torch.no_grad():
    for p in m.parameters():
        p.zero_()
back = flt.to_state_dict(tensors, like=m.state_dict())
print(m.load_state_dict(back, strict=True))
for name, t in m.state_dict().items():
    a = sd[name]
    assert t.dtype == a.dtype and t.shape == a.shape, name
    bits = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[a.element_size()]
    assert torch.equal(t.view(bits), a.view(bits)) if a.dim() else t.item() == a.item(), name
# Without like: each tensor in its own dtype.
print(sorted(str(t.dtype)[6:] for t in flt.to_state_dict(tensors).values()))
EOF
	assert_success
	assert_output $'<All keys matched successfully>\n[\'bfloat16\', \'float16\', \'float32\', \'float32\', \'float64\', \'int16\', \'int32\', \'int64\', \'int8\', \'uint8\']'
	run fl-inspect --dump wb m.flt
	assert_output $'3.3e+38\n-9e-41\n0.1\ninf'
	run fl-inspect --dump i64 m.flt
	assert_output 9223372036854775807
}

@test "torch: to_state_dict casts to the model's dtypes and refuses what load_state_dict would not take" {
	need_torch
	run "$PYTHON" - <<'EOF'
import numpy as np, torch, flt
m = torch.nn.Linear(3, 2)
sd = m.state_dict()
_, t = flt.from_state_dict(sd, dtype="f16")
assert t["weight"].dtype == np.float16
back = flt.to_state_dict(t, like=sd)
assert back["weight"].dtype == torch.float32
m.load_state_dict(back)
assert torch.equal(m.weight, sd["weight"].half().float())
for bad in ({"weight": t["weight"]},
            dict(t, extra=np.zeros(1, "f4")),
            dict(t, bias=np.zeros(3, "f4")),
            dict(t, bias=np.zeros(2, "i4"))):
    try:
        flt.to_state_dict(bad, like=sd)
    except ValueError as e:
        print(e)
try:
    flt.from_state_dict({"mask": torch.ones(2, dtype=torch.bool)})
except ValueError as e:
    print(e)
EOF
	assert_success
	assert_output "tensor 'bias' of the model is missing
tensor 'extra' is not in the model
tensor 'bias': shape [3], the model's is [2]
tensor 'bias': i32, the model's is torch.float32
tensor 'mask': torch.bool has no FLT dtype"
}

@test "torch: flt.py works with numpy alone and imports torch only for state_dicts" {
	# A python where import torch fails: sys.modules["torch"] = None.
	run "$PYTHON" - <<'EOF'
import sys
sys.modules["torch"] = None
import io, numpy as np, flt
buf = io.BytesIO()
flt.write_record(buf, {"kind": "model"}, {"w": np.ones(2, "f4")})
buf.seek(0)
print(len(list(flt.read_records(buf))))
try:
    flt.from_state_dict({})
except ValueError as e:
    print(e)
EOF
	assert_success
	assert_output $'1\nthis needs PyTorch (Debian: apt install python3-torch)'
	run "$PYTHON" -c 'import sys, flt; print("torch" in sys.modules)'
	assert_output False
}

@test "torch: to-safetensors writes what the format says and from-safetensors reads it back" {
	# Every FLT dtype, a scalar, an empty tensor; the metadata as __metadata__.
	fl-pack -m kind=model -m round=3 -t a:f32:2x2=1,-2,0.5,-0 -t b:f64=0.1 \
	    -t c:f16=65504,-6e-08 -t d:bf16=0.1,3.3e+38 -t e:i8=-128,127 \
	    -t f:u8=255 -t g:i16=-32768 -t h:u16=65535 -t i:i32=-2147483648 \
	    -t j:u32=4294967295 -t k:i64=-9223372036854775808 \
	    -t l:u64=18446744073709551615 -t s:f32:[]=2.5 -t z:f32:[0,3]= \
	    -o all.flt
	run "$PYTHON" "$FLT" to-safetensors all.flt all.safetensors
	assert_success
	assert_output ""
	# By hand: the length, the JSON header (padded with spaces to 8
	# bytes) listing the tensors in the record's order, and their data
	# with no holes, little-endian, each aligned to its element size
	# (the 8-byte ones first, then 4, 2, 1, as the safetensors library).
	run "$PYTHON" - <<'EOF'
import json, struct
raw = open("all.safetensors", "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
assert n % 8 == 0, n
head = json.loads(raw[8:8 + n])
assert head.pop("__metadata__") == {"kind": "model", "round": "3"}
print("".join(head))
size = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2,
        "BF16": 2, "I16": 2, "U16": 2, "I8": 1, "U8": 1}
end = 0
for name, t in sorted(head.items(), key=lambda kv: kv[1]["data_offsets"]):
    b, e = t["data_offsets"]
    assert b == end and b % size[t["dtype"]] == 0, name
    print(name, t["dtype"], t["shape"], b, e, raw[8 + n + b:8 + n + e].hex() or "-")
    end = e
print(len(raw) - 8 - n == end)
EOF
	assert_success
	assert_output "abcdefghijklsz
b F64 [1] 0 8 9a9999999999b93f
k I64 [1] 8 16 0000000000000080
l U64 [1] 16 24 ffffffffffffffff
a F32 [2, 2] 24 40 0000803f000000c00000003f00000080
i I32 [1] 40 44 00000080
j U32 [1] 44 48 ffffffff
s F32 [] 48 52 00002040
z F32 [0, 3] 52 52 -
c F16 [2] 52 56 ff7b0180
d BF16 [2] 56 60 cd3d787f
g I16 [1] 60 62 0080
h U16 [1] 62 64 ffff
e I8 [2] 64 66 807f
f U8 [1] 66 67 ff
True"
	# Back: the same record, byte for byte (the metadata from -m).
	run "$PYTHON" "$FLT" from-safetensors -m kind=model -m round=3 back.flt all.safetensors
	assert_success
	cmp all.flt back.flt
	# A file made by hand as the safetensors library writes it (header
	# padded to 8 bytes with spaces, tensors in any order in the JSON).
	"$PYTHON" - <<'EOF'
import struct
h = b'{"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]},' \
    b'"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},' \
    b'"__metadata__":{"format":"pt"}}'
h += b" " * (-len(h) % 8)
data = bytes.fromhex("803f00c0") + bytes(4) + struct.pack("<q", -5)
open("hand.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + data)
EOF
	run "$PYTHON" "$FLT" from-safetensors hand.flt hand.safetensors
	assert_success
	run fl-inspect --dump a hand.flt
	assert_output $'1\n-2'
	run fl-inspect --dump b hand.flt
	assert_output -- -5
}

@test "torch: from-* --dtype casts the float tensors, rounded to nearest, and keeps the integers" {
	"$PYTHON" -c '
import numpy as np
np.savez("m.npz", w=np.array([0.1, 1/3, 70000], "f8"), n=np.array([7], "i8"))'
	run "$PYTHON" "$FLT" from-npz --dtype bf16 b.flt m.npz
	assert_success
	run fl-inspect --dump w b.flt
	assert_output $'0.1\n0.334\n70144'
	run fl-inspect b.flt
	assert_line --regexp '^  n +i64 '
	run "$PYTHON" "$FLT" from-npz --dtype f32 f.flt m.npz
	run fl-inspect --dump w f.flt
	assert_output $'0.1\n0.33333334\n70000'
	# 70000 is beyond f16: an error naming the file, nothing written.
	run "$PYTHON" "$FLT" from-npz --dtype f16 h.flt m.npz
	assert_failure 1
	assert_output "flt.py: m.npz: tensor 'w': values beyond the range of f16"
	[ ! -e h.flt ]
	run "$PYTHON" "$FLT" from-npz --dtype i8 h.flt m.npz
	assert_failure 2
}

@test "torch: flt.py update makes fl-train's update record from the model and the trained weights" {
	fl-init -a mlp:4-3-2 --seed 1 -o m0.flt
	fl-split --synthetic 40 --features 4 --classes 2 --seed 1 -o d.flt
	fl-train -q -m m0.flt d.flt -o u0.flt
	fl-apply -m m0.flt -o m1.flt u0.flt         # a model of round 1
	# with metadata that fl-train copies into updates, and some it does not.
	"$PYTHON" -c '
import flt
(meta, t), = flt.load_records("m1.flt")
meta.update({"x-note": "hi", "client": "7", "dp.clip": "1", "q.codec": "sr",
             "ledger.releases": "2", "ledger.check": "0badcafe", "loss": "3"})
flt.write_file("m.flt", [(meta, t)])'
	fl-train -q -m m.flt --seed 2 d.flt -o u.flt
	fl-train -q -m m.flt --seed 2 --trained d.flt -o t.flt
	run "$PYTHON" "$FLT" update -w 40 -m "loss=$(fl-inspect -g loss u.flt)" m.flt t.flt mine.flt
	assert_success
	assert_output ""
	# The same metadata as fl-train's (kind=update, the model's round,
	# arch and x-note, the weight) and the same values.
	diff <(fl-inspect u.flt | sed -n '3,/^  tensor/p') \
	    <(fl-inspect mine.flt | sed -n '3,/^  tensor/p')
	run fl-inspect -g round mine.flt
	assert_output 1
	run fl-inspect -g x-note mine.flt
	assert_output hi
	fl-inspect --diff u.flt mine.flt --tolerance 1e-6
	# fl-apply takes it: the trained weights come back.
	fl-apply -m m.flt -o t2.flt mine.flt
	fl-inspect --diff t.flt t2.flt --tolerance 1e-6
	# From .npz and .safetensors too, and an integer tensor of the model
	# (a counter) left out of the update and kept by fl-apply.
	"$PYTHON" "$FLT" to-npz t.flt t.npz
	"$PYTHON" "$FLT" to-safetensors t.flt t.safetensors
	"$PYTHON" "$FLT" update -w 40 m.flt t.npz n.flt
	"$PYTHON" "$FLT" update -w 40 m.flt t.safetensors s.flt
	fl-inspect --diff mine.flt n.flt --tolerance 1e-6
	fl-inspect --diff mine.flt s.flt --tolerance 1e-6
	"$PYTHON" - <<'EOF'
import flt
(meta, t), = flt.load_records("m.flt")
meta, u = flt.update(meta, dict(t, steps=flt.np.array(9, "i8")), t, 5)
assert "steps" not in u and meta["kind"] == "update" and meta["weight"] == 5, meta
EOF
}

@test "torch: flt.py update refuses a bad model, trained file or weight: one line naming it" {
	fl-init -a mlp:4-3-2 --seed 1 -o m.flt
	fl-init -a mlp:4-2-2 --seed 1 -o other.flt
	fl-pack -m kind=update -t fc1.w:f32:4x3=1,2,3,4,5,6,7,8,9,10,11,12 -o up.flt
	"$PYTHON" -c '
import numpy as np
np.savez("extra.npz", **{"fc1.w": np.zeros((4, 3), "f4"), "x": np.zeros(1, "f4")})'
	run "$PYTHON" "$FLT" update -w 3 up.flt m.flt x.flt
	assert_failure 1
	assert_output "flt.py: up.flt: not a model record (kind=update)"
	run "$PYTHON" "$FLT" update -w 3 m.flt other.flt x.flt
	assert_failure 1
	assert_output "flt.py: other.flt: tensor 'fc1.w': shape [4, 2], the model's is [4, 3]"
	run "$PYTHON" "$FLT" update -w 3 m.flt up.flt x.flt
	assert_failure 1
	assert_output "flt.py: up.flt: tensor 'fc1.b' of the model is missing"
	run "$PYTHON" "$FLT" update -w 3 m.flt extra.npz x.flt
	assert_failure 1
	assert_output "flt.py: extra.npz: tensor 'x' is not in the model"
	run "$PYTHON" "$FLT" update -w 3 m.flt none.npz x.flt
	assert_failure 1
	assert_output "flt.py: none.npz: No such file or directory"
	run "$PYTHON" "$FLT" update -w 0 m.flt m.flt x.flt
	assert_failure 2
	assert_output --partial "weight '0': want a number > 0"
	[ ! -e x.flt ]
}

@test "torch: train.py makes a model record, trains it into an update, and refuses other records" {
	need_torch
	run "$PYTHON" "$TRAIN" --init --seed 3 -o g.flt
	assert_success
	run fl-inspect g.flt
	assert_line '  arch=pytorch:fmnist-cnn'
	assert_line '  kind=model'
	assert_line '  round=0'
	assert_line --regexp '^  fc.weight +f32 +\[10,784\] '
	fl-split --synthetic 64 --features 784 --classes 10 --seed 1 -o d.flt
	"$PYTHON" "$TRAIN" g.flt d.flt -o - | fl-clip-noise -c 1 -o u.flt
	run fl-inspect u.flt
	assert_line '  kind=update'
	assert_line '  round=0'
	assert_line '  dp.clip=1'
	"$PYTHON" "$TRAIN" g.flt d.flt -o u2.flt
	run fl-inspect -g weight u2.flt
	assert_output 64
	run "$PYTHON" "$TRAIN" --eval g.flt d.flt
	assert_success
	assert_line --regexp '^accuracy 0\.[0-9]{4}$'
	assert_line 'examples 64'
	run "$PYTHON" "$TRAIN" u2.flt d.flt -o x.flt
	assert_failure 1
	assert_output 'train.py: u2.flt: not a model record (kind=update)'
	run "$PYTHON" "$TRAIN" g.flt g.flt -o x.flt
	assert_failure 1
	assert_output 'train.py: g.flt: not a data set (kind=model)'
	fl-init -a logreg:784-10 -o mlp.flt
	run "$PYTHON" "$TRAIN" mlp.flt d.flt -o x.flt
	assert_failure 1
	assert_output 'train.py: mlp.flt: arch=logreg:784-10, this trainer'"'"'s is pytorch:fmnist-cnn'
	[ ! -e x.flt ]
	run "$PYTHON" "$TRAIN" g.flt -o x.flt
	assert_failure 2
}

@test "torch: rounds of a PyTorch CNN on Fashion-MNIST through secure aggregation rise above chance" {
	not_under_sanitizers "a whole script"
	need_torch
	[ -r "$FMNIST/train-images-idx3-ubyte.gz" ] ||
	    skip "dataset-fashion-mnist is not installed"
	run "$ROUND" -n 4 -r 2 --examples 300 --test 2000 -j 2 -d run
	assert_success
	assert_line --regexp '^round 1 accuracy 0\.[0-9]{4}$'
	assert_line --regexp '^round 2 accuracy 0\.[0-9]{4}$'
	[ "$(wc -l < run/results.tsv)" -eq 3 ]
	acc=$(awk 'END { print $2 }' run/results.tsv)
	ge "$acc" 0.25 || fail "accuracy $acc after 2 rounds (chance: 0.1)"
	run fl-inspect run/global.flt
	assert_line '  round=2'
	assert_line '  kind=model'
	# What the server summed: masked ring records, then their mean.
	run fl-inspect run/round/m0.flt
	assert_line '  mask=secagg'
	run fl-inspect -g clients run/round/sum.flt
	assert_output 4
}

@test "torch: round.sh with dropouts and a budget: masks of dropped clients taken out, a short round aborted, every release charged" {
	not_under_sanitizers "a whole script"
	need_torch
	[ -r "$FMNIST/train-images-idx3-ubyte.gz" ] ||
	    skip "dataset-fashion-mnist is not installed"
	# Seed 112 (mawk's rand): round 1 keeps 3 of 6 clients, below the
	# roster's quorum of 4, and is aborted before anything is unmasked;
	# round 2 keeps 4 (two dropped after the roster was made: their
	# masks come out through the survivors' reveals).  The checks below
	# hold for any draw.
	run "$ROUND" -n 6 -r 2 --examples 100 --test 500 --drop 0.1 \
	    --epsilon 100 --seed 112 -j 2 -d run
	assert_success
	assert_line --regexp '^# noise multiplier [0-9.e-]+ in 3 shares for epsilon 100 over 2 rounds'
	fl-inspect run/round/roster.flt | grep -qx '  secagg.quorum=4' ||
	    fail "the roster's quorum is not 4"
	charged=0
	while IFS=$'\t' read -r t acc surv eps; do
		[ "$t" = round ] && continue
		if [ "$surv" -lt 4 ]; then
			assert_line "round $t aborted ($surv survivors): the model stays"
			[ "$acc" = - ] || fail "round $t: aborted with accuracy $acc"
		else
			charged=$((charged + 1))
			assert_line --regexp "^round $t accuracy 0\.[0-9]{4} survivors $surv epsilon [0-9.]+\$"
		fi
	done < run/results.tsv
	# One ledger release per round applied, with its survivors, under
	# the budget; the model's round counts the rounds applied.
	run fl-account -l run/budget.ledger
	assert_success
	assert_equal "$(awk '$1 ~ /^[0-9]+$/ { print $7 }' <<<"$output" | paste -sd' ')" \
	    "$(awk -F'\t' 'NR > 1 && $3 >= 4 { print $3 }' run/results.tsv | paste -sd' ')"
	assert_line --regexp "^epsilon [0-9.]+ delta 1e-05 accountant rdp .* releases $charged\$"
	eps=$(awk '/^epsilon/ { print $2 }' <<<"$output")
	ge 100 "$eps" || fail "spent $eps past the budget 100"
	run fl-inspect -g round run/global.flt
	assert_output "$charged"
	if [ "$charged" -gt 0 ]; then
		run fl-inspect -g clients run/round/sum.flt
		assert_output "$(awk 'END { print $3 }' run/results.tsv)"
	fi
	# Options that do not go together.
	run "$ROUND" --noise 1 --epsilon 4
	assert_failure 2
	assert_output 'round.sh: --noise and --epsilon exclude each other'
	run "$ROUND" --noise 1 --drop 0.1
	assert_failure 2
	run "$ROUND" --drop 0.5
	assert_failure 2
	assert_output 'round.sh: --drop: want a probability below 0.5'
}

@test "torch: the README's Bring your own trainer code runs as written" {
	need_torch
	"$PYTHON" "$TRAIN" --init -o global.flt
	{
		echo 'import torch, train'
		echo 'model, data = train.CNN(), range(600)'
		sed -n '/^    import flt  /,/^    flt.write_file/p' "$TOP/README.md" |
		    sed 's/^    //; s/^\.\.\. .*/torch.nn.init.zeros_(model.fc.bias)/'
	} > byo.py
	grep -q 'flt.update(meta, tensors, trained' byo.py
	"$PYTHON" byo.py
	run fl-inspect update.flt
	assert_line '  kind=update'
	assert_line '  round=0'
	assert_line '  weight=600'
	assert_line --regexp '^  fc.bias +f32 +\[10\] '
	# The shell lines: update from safetensors, to-safetensors, --dtype.
	"$PYTHON" "$FLT" to-npz global.flt g.npz
	"$PYTHON" "$FLT" from-npz t.flt g.npz
	"$PYTHON" "$FLT" to-safetensors t.flt trained.safetensors
	cp "$FLT" flt.py
	run bash -c "$(sed -n '/^    flt.py update -w 600/,/^    flt.py from-safetensors/p' "$TOP/README.md" |
	    sed 's|^    flt.py|"$PYTHON" flt.py|; s/w.safetensors/global.safetensors/')"
	assert_success
	run fl-inspect -g weight update.flt
	assert_output 600
	run fl-inspect init.flt
	assert_line --regexp '^  fc.weight +bf16 +\[10,784\] '
}

@test "torch: round.sh is shellcheck-clean, prints its help and refuses bad options" {
	command -v shellcheck > /dev/null || skip "shellcheck is not installed"
	run shellcheck -x "$ROUND"
	assert_success
	run "$ROUND" --help
	assert_success
	assert_line --partial 'usage: round.sh'
	run "$ROUND" -n 3
	assert_failure 2
	assert_output 'round.sh: -n: want a whole number >= 4'
	run "$ROUND" -n 200 --examples 600
	assert_failure 2
	assert_output 'round.sh: -n times --examples is above the 60,000 examples'
	run "$ROUND" --bogus
	assert_failure 2
}
