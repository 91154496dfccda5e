#!/usr/bin/env bats
# fl-pack: a record from text values and key=value metadata.  Values are
# read back with fl-inspect --dump and, for the bytes themselves, with the
# Python reader of the format note, so a reader and writer wrong in the
# same way are caught too.

load helper

# pack_dump ARGS...: pack a record from ARGS, print tensor x's values.
pack_dump() {
	fl-pack "$@" > r.flt && fl-inspect --dump x r.flt
}

# The last run's stderr starts with TEXT.
stderr_starts() {
	[[ $stderr == "$1"* ]] ||
	    fail "stderr does not start with '$1'"$'\n'"stderr: $stderr"
}

# The last run's stderr contains TEXT.
stderr_has() {
	[[ $stderr == *"$1"* ]] ||
	    fail "stderr lacks '$1'"$'\n'"stderr: $stderr"
}

# pack ARGS...: fl-pack with stdout to stdout.bin (it may be binary).
pack() {
	fl-pack "$@" > stdout.bin
}

# After "run pack ...": the run failed with status 1, wrote nothing to
# stdout and one line to stderr.
refused() {
	assert_equal "$status" 1
	[ ! -s stdout.bin ] || fail "fl-pack wrote $(wc -c < stdout.bin) bytes to stdout"
	assert_equal "${#stderr_lines[@]}" 1
}

# json EXPR FILE: EXPR evaluated on fl-inspect --json of FILE's first
# record (r), printed as JSON.
json() {
	fl-inspect --json "$2" | "$PYTHON" -c '
import json, sys
r = json.loads(sys.stdin.readline())
print(json.dumps(eval(sys.argv[1]), separators=(",", ":")))' "$1"
}

# The reader of notes/aesthetics-format.md section 4.9 (plus i16, u16,
# i64): print_np FILE prints every tensor as "name dtype shape v,v,..."
# with numpy's own text for the values.
print_np() {
	"$PYTHON" - "$1" <<'EOF'
import struct, sys, zlib, numpy as np
MAGIC = b"\x89FLT\r\n\x1a\n"
DTYPES = {"f32": "<f4", "f64": "<f8", "i8": "i1", "u8": "u1", "i16": "<i2",
          "u16": "<u2", "i32": "<i4", "u32": "<u4", "i64": "<i8", "u64": "<u8"}
f = open(sys.argv[1], "rb")
while pre := f.read(32):
    magic, ver, flags, _, hlen, plen, pcrc, hcrc = struct.unpack("<8sBBHIQII", pre)
    assert magic == MAGIC and ver == 1 and not flags & ~1
    assert (32 + hlen) % 64 == 0 and plen % 64 == 0
    text = f.read(hlen)
    assert zlib.crc32(pre[:28] + text) == hcrc, "hcrc"
    payload = f.read(plen)
    assert zlib.crc32(payload) == pcrc, "pcrc"
    raw = zlib.decompress(payload) if flags & 1 else payload
    for line in text.decode("utf-8").splitlines():
        key, _, val = line.strip().partition("=")
        if key == "tensor":
            name, dt, shape, off = val.split(" ")
            dims = tuple(int(d) for d in shape.strip("[]").split(",") if d)
            a = np.frombuffer(raw, DTYPES[dt], int(np.prod(dims)), int(off))
            print(name, dt, shape, ",".join(repr(v.item()) for v in a))
        elif key:
            print(key + "=" + val)
EOF
}

# ---- ranges: every dtype takes both ends, and rejects one past ----

# int_range DTYPE MIN MAX: MIN and MAX read back exactly; MIN-1 and MAX+1
# are refused with a message naming the value and its line.
int_range() {
	local dt=$1 min=$2 max=$3 below above

	below=$("$PYTHON" -c "print($min - 1)")
	above=$("$PYTHON" -c "print($max + 1)")
	run -0 --separate-stderr pack_dump -t "x:$dt=$min,$max"
	assert_output "$min"$'\n'"$max"
	run -1 --separate-stderr pack -t "x:$dt=$min,$above"
	refused
	assert_equal "$stderr" \
	    "fl-pack: -t: line 1: value 2 '$above': must be at most $max for $dt"
	run -1 --separate-stderr pack -t "x:$dt=$below,$max"
	refused
	stderr_starts "fl-pack: -t: line 1: value 1 '$below': "
	stderr_has "for $dt"
}

@test "i8: -128 and 127 accepted, -129 and 128 refused" {
	int_range i8 -128 127
	run -1 --separate-stderr pack -t "x:i8=-129"
	assert_equal "$stderr" \
	    "fl-pack: -t: line 1: value 1 '-129': must be at least -128 for i8"
}

@test "u8: 0 and 255 accepted, -1 and 256 refused" {
	int_range u8 0 255
}

@test "i16: -32768 and 32767 accepted, one past refused" {
	int_range i16 -32768 32767
}

@test "u16: 0 and 65535 accepted, one past refused" {
	int_range u16 0 65535
}

@test "i32: -2147483648 and 2147483647 accepted, one past refused" {
	int_range i32 -2147483648 2147483647
}

@test "u32: 0 and 4294967295 accepted, one past refused" {
	int_range u32 0 4294967295
}

@test "i64: -9223372036854775808 and 9223372036854775807 accepted, one past refused" {
	int_range i64 -9223372036854775808 9223372036854775807
}

@test "u64: 0 and 18446744073709551615 accepted, one past refused" {
	int_range u64 0 18446744073709551615
}

@test "f32: the largest finite values accepted, past them refused (not made inf)" {
	run -0 --separate-stderr pack_dump -t x:f32=-3.4028234663852886e38,3.4028234663852886e38
	assert_output $'-3.4028235e+38\n3.4028235e+38'
	for v in 3.5e38 -3.5e38 1e39; do
		run -1 --separate-stderr pack -t "x:f32=1,$v"
		refused
		stderr_starts "fl-pack: -t: line 1: value 2 '$v': "
	done
}

@test "f64: the largest finite values accepted, past them refused (not made inf)" {
	run -0 --separate-stderr pack_dump -t x:f64=-1.7976931348623157e308,1.7976931348623157e308
	assert_output $'-1.7976931348623157e+308\n1.7976931348623157e+308'
	for v in 1.8e308 -1.8e308 1e309; do
		run -1 --separate-stderr pack -t "x:f64=1,$v"
		refused
		stderr_starts "fl-pack: -t: line 1: value 2 '$v': "
	done
}

@test "a bad value in an @file is named with its file and line" {
	printf '1 2\n3, 4\n5 x 6\n' > v.txt
	run -1 --separate-stderr pack -t x:f32=@v.txt
	refused
	assert_equal "$stderr" "fl-pack: v.txt: line 3: value 6 'x': not a number"
	printf '1\n\n300\n' > v.txt
	run -1 --separate-stderr pack -t x:u8=@v.txt
	assert_equal "$stderr" \
	    "fl-pack: v.txt: line 3: value 2 '300': must be at most 255 for u8"
}

@test "integers take no fractions, signs, exponents or spaces inside" {
	for v in 1.0 1e3 +1 0x10 1_000 ''; do
		run -1 --separate-stderr pack -t "x:i32:1=$v"
		assert_equal "$status" 1
	done
	run -1 --separate-stderr pack -t x:i32=1.5
	assert_equal "$stderr" \
	    "fl-pack: -t: line 1: value 1 '1.5': not a whole number for i32"
}

# ---- float text round-trips ----

@test "f32 values print back as they were written: 0.1, the smallest denormal, -0" {
	run -0 --separate-stderr pack_dump \
	    -t x:f32=0.1,1e-45,-0,1.17549435e-38,0.30000001,16777217,-2.5,1e10
	assert_output "$(printf '%s\n' 0.1 1e-45 -0 1.1754944e-38 0.3 16777216 -2.5 1e+10)"
}

@test "f64 values print back as they were written: 0.1, 5e-324, -0, 17 digits" {
	run -0 --separate-stderr pack_dump \
	    -t x:f64=0.1,5e-324,-0,0.30000000000000004,0.3333333333333333,1e23,2.2250738585072014e-308
	assert_output "$(printf '%s\n' 0.1 5e-324 -0 0.30000000000000004 \
	    0.3333333333333333 1e+23 2.2250738585072014e-308)"
}

@test "the bytes written are the values numpy reads (every dtype)" {
	fl-pack -t a:f32=0.1,-0,1e-45,3.4028235e38 -t b:f64=0.1,-2.5,5e-324 \
	    -t c:i8=-128,127 -t d:u8=0,255 -t e:i16=-32768,32767 \
	    -t f:u16=0,65535 -t g:i32=-2147483648,2147483647 \
	    -t h:u32=0,4294967295 -t i:i64=-9223372036854775808,9223372036854775807 \
	    -t j:u64=0,18446744073709551615 -t k:f32:2x2=1,2,3,4 > r.flt
	run -0 print_np r.flt
	assert_output - <<'EOF'
a f32 [4] 0.10000000149011612,-0.0,1.401298464324817e-45,3.4028234663852886e+38
b f64 [3] 0.1,-2.5,5e-324
c i8 [2] -128,127
d u8 [2] 0,255
e i16 [2] -32768,32767
f u16 [2] 0,65535
g i32 [2] -2147483648,2147483647
h u32 [2] 0,4294967295
i i64 [2] -9223372036854775808,9223372036854775807
j u64 [2] 0,18446744073709551615
k f32 [2,2] 1.0,2.0,3.0,4.0
EOF
}

@test "nan and inf are values for floats" {
	run -0 --separate-stderr pack_dump -t x:f32=nan,inf,-inf,1
	assert_output $'nan\ninf\n-inf\n1'
	run -0 --separate-stderr pack_dump -t x:f64=nan,inf,-inf,1
	assert_output $'nan\ninf\n-inf\n1'
	run -0 json 'r["tensors"][0]["nonfinite"]' r.flt
	assert_output 3
}

@test "nan and inf are refused for integers" {
	for dt in i8 u8 i16 u16 i32 u32 i64 u64; do
		for v in nan inf -inf; do
			run -1 --separate-stderr pack -t "x:$dt=1,$v"
			refused
			stderr_starts "fl-pack: -t: line 1: value 2 '$v': "
		done
	done
}

# ---- shapes and counts ----

@test "shapes: 2x3, [2,3], [] for a scalar, omitted for one dimension" {
	fl-pack -t x:f32:2x3=1,2,3,4,5,6 > a.flt
	fl-pack -t x:f32:[2,3]=1,2,3,4,5,6 > b.flt
	cmp a.flt b.flt
	run -0 json 'r["tensors"][0]["shape"]' a.flt
	assert_output '[2,3]'
	run -0 fl-inspect --dump x a.flt
	assert_output $'1,2,3\n4,5,6'

	fl-pack -t 'x:f64:[]=2.5' > s.flt
	run -0 json '(r["tensors"][0]["shape"], r["tensors"][0]["numel"])' s.flt
	assert_output '[[],1]'
	run -0 fl-inspect --dump x s.flt
	assert_output 2.5

	fl-pack -t x:i16=5,6,7,8,9 > v.flt
	run -0 json 'r["tensors"][0]["shape"]' v.flt
	assert_output '[5]'

	fl-pack -t x:u8:2x1x3=1,2,3,4,5,6 > c.flt
	run -0 json 'r["tensors"][0]["shape"]' c.flt
	assert_output '[2,1,3]'
}

@test "zero-element tensors: an empty value list, a zero dimension" {
	fl-pack -t x:f32= -t y:i8:3x0= > z.flt
	run -0 json '[(t["shape"], t["numel"], t["bytes"]) for t in r["tensors"]]' z.flt
	assert_output '[[[0],0,0],[[3,0],0,0]]'
	run -0 --separate-stderr fl-inspect --dump x z.flt
	assert_output ''
}

@test "rank 8 is the limit; bad shapes are refused" {
	run -0 pack_dump -t x:f32:1x1x1x1x1x1x1x2=1,2
	run -1 --separate-stderr pack -t x:f32:1x1x1x1x1x1x1x1x2=1,2
	refused
	assert_equal "$stderr" \
	    "fl-pack: tensor 'x': shape '1x1x1x1x1x1x1x1x2' has more than 8 dimensions"
	for s in 2x '[2,3' 'x3' '2,3' '-1' '2x-3' '[2,,3]' 'ab'; do
		run -1 --separate-stderr pack -t "x:f32:$s=1,2,3,4,5,6"
		refused
		stderr_starts "fl-pack: tensor 'x': "
	done
	run -1 --separate-stderr pack -t x:f32:2x=1,2
	assert_equal "$stderr" "fl-pack: tensor 'x': bad shape '2x'"
}

@test "too few or too many values for the shape" {
	run -1 --separate-stderr pack -t a:f32:2x3=1,2,3
	refused
	assert_equal "$stderr" "fl-pack: -t: tensor 'a' has 6 elements, got 3 values"
	run -1 --separate-stderr pack -t a:f32:2x3=1,2,3,4,5,6,7
	refused
	assert_equal "$stderr" \
	    "fl-pack: -t: line 1: more than the 6 values of tensor 'a'"
	run -1 --separate-stderr pack -t 'a:f32:[]=1,2'
	refused
	stderr_starts "fl-pack: -t: line 1: more than the 1 value"
	run -1 --separate-stderr pack -t 'a:f32:[]='
	refused
	assert_equal "$stderr" "fl-pack: -t: tensor 'a' has 1 element, got 0 values"
}

# ---- where values come from ----

@test "values from @file and from @- (stdin) equal the same values inline" {
	fl-pack -t x:f32:2x2=1.5,-2,3,4e-3 > inline.flt
	printf '1.5 -2\n3 4e-3\n' > v.txt
	fl-pack -t x:f32:2x2=@v.txt > file.flt
	cmp inline.flt file.flt
	fl-pack -t x:f32:2x2=@- < v.txt > stdin.flt
	cmp inline.flt stdin.flt
	printf '1.5 -2\n3 4e-3\n' | fl-pack -t x:f32:2x2=@- > pipe.flt
	cmp inline.flt pipe.flt
}

@test "an @file with no values, and a missing @file" {
	: > empty.txt
	run -1 --separate-stderr pack -t x:f32:2=@empty.txt
	refused
	assert_equal "$stderr" "fl-pack: empty.txt: tensor 'x' has 2 elements, got 0 values"
	run -1 --separate-stderr pack -t x:f32=@nope.txt
	refused
	assert_equal "$stderr" "fl-pack: nope.txt: No such file or directory"
}

@test "values on stdin are named '<stdin>' in messages" {
	run -1 --separate-stderr pack -t x:f32=@- <<< '1 2 x'
	refused
	assert_equal "$stderr" "fl-pack: <stdin>: line 1: value 3 'x': not a number"
}

@test "separators: commas, spaces, tabs, newlines, CRLF; '#' comments" {
	printf '1, 2\t3\r\n# a comment 99 100\n\n4 # 101, 102\n,,5,\n' > v.txt
	run -0 --separate-stderr pack_dump -t x:i32=@v.txt
	assert_output "$(printf '%s\n' 1 2 3 4 5)"
	run -0 --separate-stderr pack_dump -t 'x:i32=  7 ,8,	9  '
	assert_output $'7\n8\n9'
}

@test "values longer than 63 characters are refused" {
	run -1 --separate-stderr pack -t "x:f64=1,0.$(printf '%070d' 1)"
	refused
	assert_equal "$stderr" \
	    "fl-pack: -t: line 1: value 2 is longer than 63 characters"
}

# ---- metadata ----

@test "metadata: written sorted, read back by key" {
	fl-pack -m round=12 -m kind=update -m x-note='two words' -m client=site-07 > m.flt
	run -0 print_np m.flt
	assert_output $'client=site-07\nkind=update\nround=12\nx-note=two words'
	run -0 fl-inspect --get x-note m.flt
	assert_output 'two words'
	# The order on the command line does not matter.
	fl-pack -m x-note='two words' -m client=site-07 -m round=12 -m kind=update > m2.flt
	cmp m.flt m2.flt
}

@test "metadata: an upper-case key is refused" {
	run -1 --separate-stderr pack -m Kind=update
	refused
	stderr_starts "fl-pack: -m: bad metadata key 'Kind': "
	stderr_has "bad metadata key 'Kind'"
}

@test "metadata: bad keys are refused" {
	for k in '' .x -x 'a b' 'a/b' "$(printf 'k%.0s' {1..65})" 'ké'; do
		run -1 --separate-stderr pack -m "$k=v"
		refused
		stderr_starts "fl-pack: -m: "
	done
	run -0 fl-pack -m "$(printf 'k%.0s' {1..64})=v" -m a.b_c-9=v -o ok.flt
}

@test "metadata: control characters and edge spaces in a value are refused" {
	for v in $'a\tb' $'a\nb' $'a\rb' $'\x7f' $'a\x01' ' a' 'a '; do
		run -1 --separate-stderr pack -m "k=$v"
		refused
		stderr_starts "fl-pack: -m: "
	done
	run -1 --separate-stderr pack -m $'k=a\tb'
	assert_equal "$stderr" \
	    "fl-pack: -m: control character 0x09 in metadata value"
	run -0 fl-pack -m 'k=a  b=c é' -m empty= -o ok.flt
	run -0 fl-inspect --get k ok.flt
	assert_output 'a  b=c é'
}

@test "metadata: the key 'tensor' is refused" {
	run -1 --separate-stderr pack -m tensor=x
	refused
	assert_equal "$stderr" \
	    "fl-pack: -m: 'tensor' is reserved for tensor lines"
}

@test "a metadata-only record, and an empty one, are valid records" {
	fl-pack -m kind=account -m eps=1.5 > m.flt
	run -0 --separate-stderr fl-inspect --check m.flt
	run -0 json '(r["meta"], r["tensors"], r["payload_bytes"], r["size"])' m.flt
	assert_output '[{"eps":"1.5","kind":"account"},[],0,64]'
	fl-pack > e.flt
	run -0 --separate-stderr fl-inspect --check e.flt
	assert_equal "$(wc -c < e.flt)" 64
}

# ---- tensor specs ----

@test "tensors are kept in the order given, at 64-byte offsets" {
	fl-pack -t z:u8=1,2,3 -t a:f64=1 -t m:i16:[]=-1 > t.flt
	run -0 json '[(t["name"], t["offset"]) for t in r["tensors"]]' t.flt
	assert_output '[["z",0],["a",64],["m",128]]'
}

@test "a duplicate tensor name is refused" {
	run -1 --separate-stderr pack -t a:f32=1 -t a:i8=2
	refused
	assert_equal "$stderr" "fl-pack: tensor 'a': duplicate tensor name 'a'"
}

@test "bad tensor names and unknown dtypes are refused (exit 1)" {
	for n in 'a b' -x 'a,b' "$(printf 'n%.0s' {1..256})"; do
		run -1 --separate-stderr pack -t "$n:f32=1"
		refused
		stderr_starts "fl-pack: tensor '$n': "
	done
	run -1 --separate-stderr pack -t :f32=1
	refused
	run -0 fl-pack -t "fc1.weight:f32=1" -t "a/b_c-d.9:f32=1" -o ok.flt
	run -1 --separate-stderr pack -t x:f8=1
	refused
	assert_equal "$stderr" "fl-pack: tensor 'x': unknown dtype 'f8'"
	run -1 --separate-stderr pack -t x:F32=1
	refused
}

@test "a tensor name may contain ':' (companion tensors such as NAME:scale)" {
	run -0 --separate-stderr fl-pack -t fc.w:f32:2=1,2 -t fc.w:scale:f32=0.5 \
	    -t 'fc.w:zero:i8:[]=-3' -o c.flt
	run -0 json '[(t["name"], t["dtype"], t["shape"]) for t in r["tensors"]]' c.flt
	assert_output '[["fc.w","f32",[2]],["fc.w:scale","f32",[1]],["fc.w:zero","i8",[]]]'
	run -0 fl-inspect --dump fc.w:zero c.flt
	assert_output -3
}

@test "a tensor spec without its ':' or '=' is a usage error (exit 2)" {
	for spec in x=1 x:f32 x 'x;f32=1'; do
		run -2 --separate-stderr pack -t "$spec"
		[ ! -s stdout.bin ]
		assert_equal "${stderr_lines[0]}" \
		    "fl-pack: bad tensor spec '$spec': want NAME:DTYPE[:SHAPE]=VALUES"
		assert_equal "${stderr_lines[1]}" \
		    "usage: fl-pack [-z] [-m key=value]... [-o file] [-t spec]..."
		assert_equal "${stderr_lines[2]}" \
		    "Try 'fl-pack --help' for more information."
	done
}

@test "metadata without '=' and an operand are usage errors (exit 2)" {
	run -2 --separate-stderr fl-pack -m kind
	assert_equal "${stderr_lines[0]}" "fl-pack: bad metadata 'kind': want KEY=VALUE"
	run -2 --separate-stderr fl-pack -t x:f32=1 extra.flt
	assert_equal "${stderr_lines[0]}" "fl-pack: unexpected operand 'extra.flt'"
	run -2 --separate-stderr pack -t
	[ ! -s stdout.bin ]
}

# ---- output ----

@test "-z compresses the payload; the values are the same" {
	fl-pack -t x:f32:4x256=@<(seq 1024 | sed 's/.*/0.5/') -t y:i64=1,-2 > raw.flt
	fl-pack -z -t x:f32:4x256=@<(seq 1024 | sed 's/.*/0.5/') -t y:i64=1,-2 > z.flt
	run -0 json '(r["zlib"], r["flags"], r["raw_bytes"])' z.flt
	assert_output '[true,1,4160]'
	[ "$(wc -c < z.flt)" -lt "$(wc -c < raw.flt)" ]
	[ $(($(wc -c < z.flt) % 64)) -eq 0 ]
	run -0 --separate-stderr fl-inspect --check z.flt
	assert_equal "$(fl-inspect -d x z.flt)" "$(fl-inspect -d x raw.flt)"
	assert_equal "$(fl-inspect -d y z.flt)" $'1\n-2'
	run -0 print_np z.flt
	assert_line --index 1 'y i64 [2] 1,-2'
}

@test "the same command gives the same bytes (also with -z)" {
	args=(-m round=3 -m kind=update -t w:f32:2x2=0.1,0.2,0.3,nan -t b:u64=7)
	fl-pack "${args[@]}" > 1.flt
	fl-pack "${args[@]}" > 2.flt
	cmp 1.flt 2.flt
	fl-pack -z "${args[@]}" > 1z.flt
	fl-pack -z "${args[@]}" > 2z.flt
	cmp 1z.flt 2z.flt
}

@test "the record is a whole number of 64-byte blocks with the FLT magic" {
	fl-pack -m kind=update -t x:f32=1,2,3 -t y:u8=1 > r.flt
	[ $(($(wc -c < r.flt) % 64)) -eq 0 ]
	run -0 bash -c 'head -c 8 r.flt | od -An -tx1 | tr -d " \n"'
	assert_output 89464c540d0a1a0a
}
