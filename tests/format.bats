#!/usr/bin/env bats
# The FLT v1 record format (flt(5)) as the programs see it: golden records,
# streams, and hostile input - every truncation, every bit flip, and crafted
# headers whose CRCs are valid so they reach the parser (tests/craft.py).
# Every rejection is exit 1 with one line "fl-inspect: FILE: record N: ...".

load helper

GOLDEN=$DATA/golden

craft() {
	"$PYTHON" "$TOP/tests/craft.py" "$@"
}

# rejects REGEX FILE [RECNO]: fl-inspect --check FILE, and the same bytes
# through a pipe, exit 1 with nothing on stdout and one line on stderr that
# names the input and the record and matches REGEX.
rejects() {
	local re=$1 file=$2 recno=${3:-1}

	run --separate-stderr fl-inspect --check "$file"
	echo "stderr: $stderr"
	assert_no_crash
	assert_equal "$status" 1
	assert_equal "$output" ""
	assert_equal "${#stderr_lines[@]}" 1
	assert_regex "$stderr" "^fl-inspect: $file: record $recno: "
	assert_regex "$stderr" "$re"
	run --separate-stderr bash -c 'cat "$1" | fl-inspect --check' _ "$file"
	echo "stderr: $stderr"
	assert_no_crash
	assert_equal "$status" 1
	assert_equal "${#stderr_lines[@]}" 1
	assert_regex "$stderr" "^fl-inspect: <stdin>: record $recno: "
	assert_regex "$stderr" "$re"
}

# crafted REGEX CRAFT-ARGS...: a record built by craft.py is rejected.
crafted() {
	local re=$1

	shift
	echo "case: craft.py $*"
	craft "$@" -o h.flt
	rejects "$re" h.flt
}

# run_small SCRIPT: run a shell script with about 300 MB of address space,
# so that a reader trusting a large claim fails (or is killed) instead of
# quietly succeeding on a big machine.  ASan and valgrind reserve far more
# address space than that, so under FL_SANITIZE / FL_VALGRIND the limit is
# left off (the script still runs and must still fail cleanly); under
# FL_QEMU it is 300 MB over the emulator's own (vm_limit).
run_small() {
	local limit="ulimit -v $(vm_limit 300000) || exit 99; "

	if [ -n "${FL_SANITIZE:-}${FL_VALGRIND:-}" ]; then
		limit=
	fi
	run --separate-stderr bash -c "$limit$1"
	echo "stderr: $stderr"
}

# small_rejects REGEX FILE: rejects, from a file and a pipe, under run_small.
small_rejects() {
	local re=$1 file=$2

	run_small "fl-inspect --check '$file'"
	assert_no_crash
	assert_equal "$status" 1
	assert_equal "${#stderr_lines[@]}" 1
	assert_regex "$stderr" "^fl-inspect: $file: record 1: "
	assert_regex "$stderr" "$re"
	run_small "cat '$file' | fl-inspect --check"
	assert_no_crash
	assert_equal "$status" 1
	assert_equal "${#stderr_lines[@]}" 1
	assert_regex "$stderr" "^fl-inspect: <stdin>: record 1: "
	assert_regex "$stderr" "$re"
}

# ---- golden records ----

@test "golden: fl-inspect --json output matches each .json byte for byte" {
	local f n=0

	for f in "$GOLDEN"/*.flt; do
		f=${f##*/}
		(cd "$GOLDEN" && fl-inspect --json "$f") > "${f%.flt}.out"
		diff -u "$GOLDEN/${f%.flt}.json" "${f%.flt}.out"
		n=$((n + 1))
	done
	assert_equal "$n" 6
}

@test "golden: make-golden.sh regenerates every record byte for byte" {
	local f

	mkdir out
	run sh "$GOLDEN/make-golden.sh" out
	assert_success
	assert_output ""
	for f in "$GOLDEN"/*.flt; do
		cmp "$f" "out/${f##*/}"
	done
	# ... and makes nothing else.
	assert_equal "$(ls out)" "$(cd "$GOLDEN" && ls ./*.flt | sed 's|^\./||')"
}

@test "golden: every record is valid, alone and concatenated" {
	run fl-inspect --check "$GOLDEN"/*.flt
	assert_success
	assert_output ""
	cat "$GOLDEN"/*.flt > all.flt
	run fl-inspect --check all.flt
	assert_success
	assert_output ""
}

@test "golden: an independent Python reader agrees with the bytes" {
	# Not libfl: struct, zlib and numpy per flt(5), checking every rule the
	# golden records should show (CRCs, alignment, tiling, zero padding).
	cat > check.py <<'EOF'
import struct, sys, zlib
import numpy as np
DT = {"f32": "<f4", "f64": "<f8", "i8": "i1", "u8": "u1", "i16": "<i2",
      "u16": "<u2", "i32": "<i4", "u32": "<u4", "i64": "<i8", "u64": "<u8",
      "f16": "<f2", "bf16": "<u2"}
out = {}
for path in sys.argv[1:]:
    b = open(path, "rb").read()
    magic, ver, flags, res, hlen, plen, pcrc, hcrc = struct.unpack(
        "<8sBBHIQII", b[:32])
    assert magic == b"\x89FLT\r\n\x1a\n" and ver == 1 and res == 0
    assert (32 + hlen) % 64 == 0 and plen % 64 == 0
    assert len(b) == 32 + hlen + plen
    head, stored = b[32:32 + hlen], b[32 + hlen:]
    assert zlib.crc32(b[:28] + head) == hcrc and zlib.crc32(stored) == pcrc
    raw = zlib.decompress(stored) if flags & 1 else stored
    lines = head.decode().split("\n")
    assert lines[-1] == "" and lines[-2].strip() == "" and len(lines[-2]) < 64
    keys, end, covered = [], 0, bytearray(len(raw))
    for line in lines[:-2]:
        k, _, v = line.partition("=")
        if k != "tensor":
            keys.append(k)
            continue
        name, dt, shape, off = v.split(" ")
        shape = [int(d) for d in shape[1:-1].split(",") if d]
        assert int(off) == end, (path, name)
        a = np.frombuffer(raw, DT[dt], int(np.prod(shape)), int(off))
        covered[int(off):int(off) + a.nbytes] = b"\1" * a.nbytes
        end = (int(off) + a.nbytes + 63) // 64 * 64
        out[path.split("/")[-1] + ":" + name] = a.reshape(shape)
    assert keys == sorted(keys) and end == len(raw)
    assert all(r == 0 for r, c in zip(raw, covered) if not c)
u = out["update.flt:fc.w"]
assert u.dtype == np.float32 and u.shape == (2, 3)
assert u.tolist() == [[0.5, -1, 2], [0.25, 0, 3]]
assert out["update-z.flt:fc.b"].tolist() == [1, -1]
assert out["dtypes.flt:scalar"].shape == () and out["dtypes.flt:scalar"] == 3.25
assert out["dtypes.flt:empty"].shape == (0,)
assert {str(a.dtype) for k, a in out.items() if k.startswith("dtypes")} == {
    "float32", "float64", "int8", "uint8", "int16", "uint16", "int32",
    "uint32", "int64", "uint64"}
assert out["dtypes.flt:w.u64"].tolist() == [[0, 2**64 - 1]]
assert out["dtypes.flt:w.i64"].tolist() == [-2**63, 2**63 - 1]
# f16 as numpy rounds the same decimals (correctly, from the double);
# bf16 as its bits.
h = out["half.flt:w.f16"]
assert h.dtype == np.float16 and h.shape == (2, 4)
want = np.array([0.1, -65504, 6.1035e-5, 6e-8, -0.0, np.inf, np.nan,
                 1.00048828125], np.float16)
assert h.reshape(-1).view("<u2").tolist() == want.view("<u2").tolist()
b = out["half.flt:w.bf16"]
assert b.tolist() == [0x3dcd, 0xff7f, 0x0080, 0x0001, 0x8000, 0xff80, 0x7fc0]
f = (b.astype("<u4") << 16).view("<f4")
assert f[0] == np.float32(0.10009765625) and f[1] == -np.float32(3.3895314e38)
print(len(out), "tensors")
EOF
	run "$PYTHON" check.py "$GOLDEN"/*.flt
	assert_success
	assert_output "18 tensors"
}

# ---- streams ----

@test "stream: concatenated records, numbered with their offsets" {
	cat "$GOLDEN/update.flt" "$GOLDEN/update-z.flt" "$GOLDEN/dtypes.flt" \
	    > s.flt
	run bash -c 'cat "$1" "$2" "$3" | fl-inspect --check' _ \
	    "$GOLDEN/update.flt" "$GOLDEN/update-z.flt" "$GOLDEN/dtypes.flt"
	assert_success
	assert_output ""
	run bash -c 'fl-inspect --json < s.flt | cut -d, -f1-4'
	assert_success
	assert_output - <<'EOF'
{"file":"<stdin>","record":1,"offset":0,"size":256
{"file":"<stdin>","record":2,"offset":256,"size":192
{"file":"<stdin>","record":3,"offset":448,"size":1088
EOF
	# File operands: numbering starts again in each file.
	run bash -c 'fl-inspect --json s.flt "$1" | cut -d, -f1-4' _ \
	    "$GOLDEN/empty.flt"
	assert_success
	assert_output - <<EOF
{"file":"s.flt","record":1,"offset":0,"size":256
{"file":"s.flt","record":2,"offset":256,"size":192
{"file":"s.flt","record":3,"offset":448,"size":1088
{"file":"$GOLDEN/empty.flt","record":1,"offset":0,"size":64
EOF
}

@test "stream: an empty input is a valid empty stream" {
	: > empty.flt
	run --separate-stderr fl-inspect --check empty.flt
	assert_success
	assert_output ""
	assert_equal "$stderr" ""
	run --separate-stderr fl-inspect --json < /dev/null
	assert_success
	assert_output ""
	assert_equal "$stderr" ""
	run --separate-stderr bash -c ': | fl-inspect'
	assert_success
	assert_output ""
	assert_equal "$stderr" ""
}

@test "stream: a bad record after good ones is reported as its number" {
	cat "$GOLDEN/update.flt" "$GOLDEN/meta-only.flt" > two.flt
	head -c 100 "$GOLDEN/update.flt" >> two.flt
	rejects 'record 3: truncated record: header has 68 of 96 bytes' two.flt 3
	# Bytes after the last record that are too few for a preamble.
	cat "$GOLDEN/update.flt" > tail.flt
	head -c 5 "$GOLDEN/update.flt" >> tail.flt
	rejects 'truncated record: preamble has 5 of 32 bytes' tail.flt 2
	# fl-inspect still reports the records before the damage.
	run --separate-stderr fl-inspect --json two.flt
	assert_equal "$status" 1
	assert_equal "${#lines[@]}" 2
}

@test "stream: zlib round trip holds the same tensors as stored" {
	local spec=(-m kind=update -m round=3
	    -t "a:f32:4x8=$(seq -s, 1 32)" -t "b:f64=0.1,-0,inf,nan,1e-300"
	    -t "c:u16:[2,2,2]=1,2,3,4,5,6,7,8" -t 'd:i8:[]=-7' -t 'e:u64:[0]=')

	fl-pack "${spec[@]}" -o plain.flt
	fl-pack -z "${spec[@]}" -o z.flt
	run fl-inspect --diff --tolerance 0 plain.flt z.flt
	assert_success
	assert_output - <<'EOF'
record 1: tensor a: max abs 0, max rel 0
record 1: tensor b: max abs 0, max rel 0
record 1: tensor c: max abs 0, max rel 0
record 1: tensor d: max abs 0, max rel 0
record 1: tensor e: max abs 0, max rel 0
EOF
	# The same record but for the flag, the lengths and the CRCs.
	diff <(fl-inspect --json plain.flt | sed 's/"size".*"meta"//') \
	    <(fl-inspect --json z.flt | sed 's/"size".*"meta"//' |
	    sed 's/"z.flt"/"plain.flt"/')
	for t in a b c d e; do
		diff <(fl-inspect -d "$t" plain.flt) <(fl-inspect -d "$t" z.flt)
	done
	# And the payloads differ on disk: z.flt is compressed.
	run fl-inspect --json z.flt
	assert_output --partial '"flags":1,"zlib":true'
}

@test "stream: a record whose tensors are all zero-size" {
	# Its payload is empty, like a metadata-only record's, but it has
	# tensors pointing into it.
	fl-pack -m kind=update -t 'e:f32:[0]=' -t 'f:u8:[2,0,3]=' -o zero.flt
	run fl-inspect --json zero.flt
	assert_success
	assert_output --partial '"payload_bytes":0,"raw_bytes":0'
	assert_output --partial '"name":"f","dtype":"u8","shape":[2,0,3],"numel":0,"offset":0,"bytes":0'
	fl-pack -z -t 'e:f32:[0]=' -o zeroz.flt
	run fl-inspect --check zero.flt zeroz.flt
	assert_success
	run fl-inspect -d e zeroz.flt
	assert_success
	assert_output ""
}

# ---- every truncation ----

# One process per mutant: thousands of runs, too slow under valgrind, where
# the all-at-once tests (one process for every mutant) still run.
per_process() {
	if [ -n "${FL_VALGRIND:-}" ]; then
		skip "one process per mutant is too slow under valgrind"
	fi
	# (the all-at-once tests below still read every mutant emulated)
	if [ -n "${FL_QEMU:-}" ]; then
		skip "one process per mutant is too slow under qemu"
	fi
	# the all-at-once tests below read every mutant with the leak check
	sweep_without_leak_check
}

# The bit flips of each sweep: all of them, or every 8th under the
# sanitizers (FL_FLIP_STEP; one process per flip is ten times dearer
# there, and make check flips every bit).
# Sets n, the flips to expect.
flips() { # BITS
	n=$1
	if [ -n "${FL_SANITIZE:-}" ]; then
		export FL_FLIP_STEP=8
		n=$((($1 + 7) / 8))
	fi
}

@test "truncation: every prefix of a stored record fails as truncated" {
	local f

	per_process
	for f in update meta-only; do
		run "$PYTHON" "$TOP/tests/mutate.py" check truncations \
		    "$GOLDEN/$f.flt" fl-inspect --check
		assert_success
		echo "# $f.flt: ${lines[0]}" >&3
	done
}

@test "truncation: every prefix of a zlib record fails as truncated" {
	per_process
	run "$PYTHON" "$TOP/tests/mutate.py" check truncations \
	    "$GOLDEN/update-z.flt" fl-inspect --check
	assert_success
	assert_output "191 truncations checked, 0 failed"
}

@test "truncation: all prefixes at once, from files and from a pipe" {
	local n f

	"$PYTHON" "$TOP/tests/mutate.py" write truncations \
	    "$GOLDEN/dtypes.flt" t
	n=$(ls t | wc -l)
	assert_equal "$n" 1087
	# One invocation, one line per file: buffers reused across inputs.
	run --separate-stderr fl-inspect --check t/*.flt
	assert_no_crash
	assert_equal "$status" 1
	assert_equal "${#stderr_lines[@]}" "$n"
	run bash -c 'fl-inspect --check t/*.flt 2>&1 |
	    grep -Evc "^fl-inspect: t/t[0-9]{5}\.flt: record 1: truncated record: "'
	assert_output 0
	# The records of the one-process-per-prefix tests above, all at once
	# (under the sanitizers, the leak check of their paths is here).
	for f in update meta-only update-z; do
		"$PYTHON" "$TOP/tests/mutate.py" write truncations \
		    "$GOLDEN/$f.flt" "$f"
		n=$(ls "$f" | wc -l)
		run --separate-stderr fl-inspect --check "$f"/*.flt
		assert_no_crash
		assert_equal "$status" 1
		assert_equal "${#stderr_lines[@]}" "$n"
	done
	# Through a pipe the reader cannot stat the size: a sample.
	for f in t/t*[05]0.flt t/t*[16]6.flt; do
		run --separate-stderr bash -c 'cat "$1" | fl-inspect --check' _ "$f"
		assert_no_crash
		assert_equal "$status" 1
		assert_regex "$stderr" '^fl-inspect: <stdin>: record 1: truncated record: [a-z]+ has [0-9]+ of [0-9]+ bytes$'
	done
}

# ---- every bit flip ----

@test "bit flips: every single-bit flip of a stored record is rejected" {
	per_process
	flips 2048
	run "$PYTHON" "$TOP/tests/mutate.py" check flips \
	    "$GOLDEN/update.flt" fl-inspect --check
	assert_success
	assert_output "$n flips checked, 0 failed"
	echo "# update.flt: ${lines[0]}" >&3
}

@test "bit flips: every single-bit flip of a zlib record is rejected" {
	per_process
	flips 1536
	run "$PYTHON" "$TOP/tests/mutate.py" check flips \
	    "$GOLDEN/update-z.flt" fl-inspect --check
	assert_success
	assert_output "$n flips checked, 0 failed"
	echo "# update-z.flt: ${lines[0]}" >&3
}

@test "bit flips: all flips at once, one message each" {
	local f n

	for f in update update-z; do
		"$PYTHON" "$TOP/tests/mutate.py" write flips "$GOLDEN/$f.flt" "$f"
		n=$(ls "$f" | wc -l)
		run --separate-stderr fl-inspect --check "$f"/*.flt
		assert_no_crash
		assert_equal "$status" 1
		assert_equal "${#stderr_lines[@]}" "$n"
		run bash -c 'fl-inspect --check "$1"/*.flt 2>&1 |
		    grep -Evc "^fl-inspect: $1/m[0-9]{5}\.flt: record 1: [a-z]"' _ "$f"
		assert_output 0
	done
}

@test "bit flips: checksum failures name the checksum" {
	craft -H 'kind=update\ntensor=a f32 [2] 0\n' --raw-zeros 8 -o ok.flt
	run fl-inspect --check ok.flt
	assert_success
	crafted 'header checksum mismatch \(stored 00000000, computed [0-9a-f]{8}\)$' \
	    -H 'kind=update\n' --hcrc 0
	crafted 'payload checksum mismatch \(stored 00000001, computed [0-9a-f]{8}\)$' \
	    -H 'tensor=a f32 [2] 0\n' --raw-zeros 8 --pcrc 1
	crafted 'payload checksum mismatch' \
	    -H 'tensor=a f32 [2] 0\n' --raw-zeros 8 -z --pcrc 1
}

# ---- hostile preambles (valid CRCs) ----

@test "hostile: foreign formats are named in the message" {
	gzip -c "$GOLDEN/update.flt" > u.gz
	rejects 'not an FLT record: input is gzip-compressed data' u.gz
	if command -v zstd >/dev/null; then
		zstd -qc "$GOLDEN/update.flt" > u.zst
		rejects 'not an FLT record: input is zstd-compressed data' u.zst
	fi
	"$PYTHON" -c 'import numpy as np; np.save("a.npy", np.arange(6.0))
np.savez("a.npz", a=np.arange(6.0))'
	rejects 'not an FLT record: input is a numpy \.npy file' a.npy
	rejects 'not an FLT record: input is a zip archive' a.npz
	"$PYTHON" -c 'import json, struct, sys
h = json.dumps({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})
sys.stdout.buffer.write(struct.pack("<Q", len(h)) + h.encode() + bytes(8))' \
	    > a.safetensors
	rejects 'not an FLT record: input is a safetensors file' a.safetensors
	printf '%s\n' 'this is a text file, long enough for a preamble' > a.txt
	rejects 'not an FLT record \(bad magic\)$' a.txt
}

@test "hostile: a short input that is not FLT is not called truncated" {
	# Fewer than 32 bytes that do not start like the magic are not an
	# FLT record at all; "truncated record" would send the user hunting
	# for the rest of a file that never was one.
	printf 'hello\n' > hello.txt
	rejects 'not an FLT record' hello.txt
	# A real prefix of the magic is a truncated record.
	head -c 5 "$GOLDEN/update.flt" > short.flt
	rejects 'truncated record: preamble has 5 of 32 bytes' short.flt
}

@test "hostile: version, flags and reserved bytes" {
	crafted 'unsupported format version 2$' -H 'kind=x\n' --version 2
	crafted 'unsupported format version 0$' -H 'kind=x\n' --version 0
	crafted 'unknown flags 0x02$' -H 'kind=x\n' --flags 2
	crafted 'unknown flags 0x81$' -H 'kind=x\n' --flags 0x81
	crafted 'reserved preamble bytes are not zero$' -H 'kind=x\n' --reserved 1
	crafted 'reserved preamble bytes are not zero$' -H 'kind=x\n' \
	    --reserved 0x100
	crafted 'bad magic' -H 'kind=x\n' --magic 894c464c0d0a1a0a
}

@test "hostile: header and payload lengths off the 64-byte grid" {
	crafted 'header length 40 does not end on a 64-byte boundary$' \
	    --no-pad -H 'kind=update                            \n'
	crafted 'header length 0 does not end on a 64-byte boundary$' \
	    --no-pad -H ''
	crafted 'payload length 8 is not a multiple of 64$' \
	    -H 'tensor=a f32 [2] 0\n' --raw-zeros 8 --no-payload-pad
	crafted 'payload length 64, the tensors need 128$' \
	    -H 'tensor=a f32 [2] 0\ntensor=b f32 [2] 64\n' --raw-zeros 64
	crafted 'payload length 128, the tensors need 64$' \
	    -H 'tensor=a f32 [2] 0\n' --raw-zeros 128
}

@test "hostile: huge hlen and plen in the preamble fail before allocating" {
	craft -H 'kind=x\n' --hlen 0xFFFFFFC0 -o hlen.flt
	small_rejects 'header length 4294967232 above the limit of 1048576$' \
	    hlen.flt
	craft -H 'kind=x\n' --hlen $((1048576 + 32)) -o hlen2.flt
	small_rejects 'header length 1048608 above the limit' hlen2.flt
	craft -H 'tensor=a f32 [2] 0\n' --raw-zeros 8 \
	    --plen 9223372036854775808 -o plen.flt
	small_rejects 'payload length 9223372036854775808, the tensors need 64$' \
	    plen.flt
	craft -H 'tensor=a f32 [2] 0\n' --raw-zeros 8 -z \
	    --plen 9223372036854775808 -o zplen.flt
	small_rejects 'compressed payload length 9223372036854775808 impossible for 64 raw bytes$' \
	    zplen.flt
	craft -H 'tensor=a f32 [2] 0\n' --raw-zeros 8 -z --plen 0 -o zplen0.flt
	small_rejects 'compressed payload length 0 impossible' zplen0.flt
	# The ratio rounded up: 1032 x 64 + 64 raw bytes from 64 is beyond
	# deflate's 1032:1 (the check rounded down and let it through).
	craft -H 'tensor=a u8 [66112] 0\n' --raw-zeros 66112 -z --plen 64 -o zratio.flt
	small_rejects 'compressed payload length 64 impossible for 66112 raw bytes$' \
	    zratio.flt
}

# ---- hostile tensor tables ----

@test "hostile: dims whose product overflows 2^64" {
	craft -H 'tensor=a f32 [4294967296,4294967296] 0\n' -o ovf.flt
	small_rejects "tensor 'a': payload above the limit of 4294967296 bytes$" \
	    ovf.flt
	craft -H 'tensor=a u8 [18446744073709551615,2] 0\n' -o ovf2.flt
	small_rejects "tensor 'a': payload above the limit" ovf2.flt
	crafted "tensor 'a': bad shape" -H 'tensor=a u8 [18446744073709551616] 0\n'
	# A zero does not hide an overflow, wherever it stands (before, the
	# first was accepted and the second refused).
	craft -H 'tensor=a u8 [0,18446744073709551615,18446744073709551615] 0\n' -o ovf3.flt
	small_rejects "tensor 'a': payload above the limit" ovf3.flt
	craft -H 'tensor=a u8 [18446744073709551615,18446744073709551615,0] 0\n' -o ovf4.flt
	small_rejects "tensor 'a': payload above the limit" ovf4.flt
	# A zero beside a dimension that fits is an empty tensor.
	craft -H 'tensor=a u8 [0,18446744073709551615] 0\n' -o empty.flt
	run -0 fl-inspect --check empty.flt
}

@test "hostile: a payload beyond a 32-bit size_t is refused there, never wrapped" {
	local bits
	# The programs' word size (under make check-cross, qemu's guest's):
	# EI_CLASS, the ELF header's fifth byte, is 1 for 32-bit, 2 for 64.
	bits=$(od -An -tu1 -j4 -N1 "${FL_REAL_BIN:-${FL_BIN:-$TOP/bin}}/fl-inspect" | tr -d ' ')
	# 2^32 bytes: within the 4 GiB default limit, one above SIZE_MAX
	# there; 2^32 - 1 bytes: its 64-byte padding reaches 2^32.
	craft -H 'tensor=a u8 [4294967296] 0\n' --plen 0 -o big32.flt
	craft -H 'tensor=a u8 [4294967295] 0\n' --plen 0 -o pad32.flt
	if [ "$bits" = 1 ]; then
		small_rejects "tensor 'a': payload of 4294967296 bytes does not fit this machine's 32-bit size_t$" \
		    big32.flt
		small_rejects "tensor 'a': payload of 4294967296 bytes does not fit this machine's 32-bit size_t$" \
		    pad32.flt
	else
		small_rejects 'payload length 0, the tensors need 4294967296$' big32.flt
		small_rejects 'payload length 0, the tensors need 4294967296$' pad32.flt
	fi
}

@test "hostile: huge dims products that do not overflow" {
	local shape

	# numel fits in 64 bits but the bytes do not; then 4 TiB; then one
	# element more than the 4 GiB default limit.
	for shape in '[4294967296,4294967295]' '[1048576,1048576]' \
	    '[1073741825]' '[2,2,2,2,2,2,2,536870912]'; do
		craft -H "tensor=w f32 $shape 0\n" --plen 0 -o big.flt
		small_rejects "tensor 'w': payload above the limit of 4294967296 bytes$" \
		    big.flt
	done
	# The limit is the environment's when set.
	craft -H 'tensor=w f32 [1000] 0\n' --raw-zeros 4000 -o k.flt
	run fl-inspect --check k.flt
	assert_success
	FL_MAX_PAYLOAD=3999 rejects "tensor 'w': payload above the limit of 3999 bytes$" k.flt
}

@test "hostile: size arithmetic survives the largest FL_MAX_PAYLOAD" {
	# With the payload cap raised as far as it goes, offset + size must
	# not wrap: here b ends at 2^64, which wraps to 0, and a reader that
	# misses it accepts a 64-byte payload for 2^64 bytes of tensors.
	craft -H 'tensor=a u8 [64] 0\ntensor=b u8 [18446744073709551552] 64\n' \
	    --plen 0 -o wrap.flt
	FL_MAX_PAYLOAD=18446744073709551615 rejects 'payload' wrap.flt
	craft -H 'tensor=a u8 [9223372036854775808] 0\ntensor=b u8 [9223372036854775808] 9223372036854775808\n' \
	    --plen 0 -o wrap2.flt
	FL_MAX_PAYLOAD=9223372036854775808 rejects 'payload' wrap2.flt
	# fl-inspect shows tensors after reading them: it must not crash.
	FL_MAX_PAYLOAD=18446744073709551615 run fl-inspect wrap.flt
	assert_no_crash
	assert_failure 1
}

@test "hostile: rank above 8 and bad shapes" {
	craft -H 'tensor=a u8 [1,1,1,1,1,1,1,2] 0\n' --raw 'ab' -o r8.flt
	run fl-inspect --check r8.flt
	assert_success
	crafted "tensor 'a': rank above 8$" -H 'tensor=a u8 [1,1,1,1,1,1,1,1,1] 0\n'
	crafted "tensor 'a': rank above 8$" \
	    -H "tensor=a u8 [$(seq -s, 1000 | sed 's/[0-9]*/1/g')] 0\n"
	local s
	for s in '[2,]' '[,2]' '[02]' '[-1]' '[+2]' '[2,,3]' '2x3' '[2' '2]' \
	    '[2;3]' '[0x10]' '[]]'; do
		crafted "tensor 'a': bad shape" -H "tensor=a u8 $s 0\n" --raw-zeros 64
	done
}

@test "hostile: 100k and 70k tensor lines hit a cap before allocating" {
	local n

	for n in 100000 70000; do
		"$PYTHON" -c 'import sys
for i in range(int(sys.argv[1])):
    print("tensor=t%d u8 [0] 0" % i)' "$n" > h.txt
		craft --header-file h.txt -o many.flt
		small_rejects '(header length [0-9]+ above the limit of 1048576|more than 65536 tensors)$' \
		    many.flt
	done
}

@test "hostile: 50000 tensor lines under the header cap read quickly" {
	# Names of 1-3 characters keep 50000 zero-size tensors under 1 MiB;
	# duplicate detection and tiling must not be quadratic.
	"$PYTHON" -c 'import itertools, string
cs = string.ascii_letters + string.digits
names = itertools.chain(cs, ("".join(p) for n in (2, 3)
                             for p in itertools.product(cs, repeat=n)))
for name in itertools.islice(names, 50000):
    print("tensor=%s u8 [0] 0" % name)' > h.txt
	craft --header-file h.txt -o many.flt
	run_small 'time -p fl-inspect --check many.flt'
	assert_success
	local real
	real=$(awk '/^real/ { print int($2) }' <<< "$stderr")
	[ "$real" -lt 5 ] || fail "50000 tensors took $real s"
	# The same with one duplicate name at the end.
	printf 'tensor=a u8 [0] 0\n' >> h.txt
	craft --header-file h.txt -o dup.flt
	rejects "duplicate tensor name 'a'$" dup.flt
}

@test "hostile: more than 1024 metadata keys" {
	"$PYTHON" -c 'for i in range(1025): print("k%04d=v" % i)' > h.txt
	craft --header-file h.txt -o m.flt
	rejects 'more than 1024 metadata keys$' m.flt
	head -n 1024 h.txt > h2.txt
	craft --header-file h2.txt -o m2.flt
	run fl-inspect --check m2.flt
	assert_success
}

@test "hostile: duplicate tensor names" {
	crafted "duplicate tensor name 'a'$" \
	    -H 'tensor=a u8 [1] 0\ntensor=a u8 [1] 64\n' --raw-zeros 128
	crafted "duplicate tensor name 'x'$" \
	    -H 'tensor=x u8 [1] 0\ntensor=b u8 [0] 64\ntensor=x u8 [0] 64\n' \
	    --raw-zeros 64
}

@test "hostile: metadata keys duplicated, unsorted or after the tensors" {
	crafted "duplicate metadata key 'kind'$" -H 'kind=a\nkind=b\n'
	crafted "metadata keys not sorted \('round' before 'kind'\)$" \
	    -H 'round=1\nkind=a\n'
	crafted "metadata keys not sorted \('kinda' before 'kind'\)$" \
	    -H 'kinda=1\nkind=2\n'
	crafted "metadata line 'kind' after the tensor lines$" \
	    -H 'tensor=a u8 [1] 0\nkind=a\n' --raw-zeros 1
}

@test "hostile: offsets that overlap, leave gaps, misalign or reorder" {
	local h='tensor=a f32 [2] 0\ntensor=b f32 [2]'

	crafted "tensor 'b': offset 0, expected 64 \(tensors must tile the payload at 64-byte boundaries\)$" \
	    -H "$h 0\n" --raw-zeros 128
	crafted "tensor 'b': offset 8, expected 64" -H "$h 8\n" --raw-zeros 128
	crafted "tensor 'b': offset 32, expected 64" -H "$h 32\n" --raw-zeros 128
	crafted "tensor 'b': offset 128, expected 64" -H "$h 128\n" --raw-zeros 192
	crafted "tensor 'b': offset 64, expected 0" \
	    -H 'tensor=b f32 [2] 64\ntensor=a f32 [2] 0\n' --raw-zeros 128
	crafted "tensor 'a': offset 64, expected 0" -H 'tensor=a f32 [2] 64\n' \
	    --raw-zeros 128
	crafted "tensor 'a': bad offset '064'" -H 'tensor=a f32 [2] 064\n' \
	    --raw-zeros 64
	crafted "tensor 'a': bad offset '-0'" -H 'tensor=a f32 [2] -0\n' \
	    --raw-zeros 64
	crafted "tensor 'a': bad offset '18446744073709551616'" \
	    -H 'tensor=a f32 [2] 18446744073709551616\n' --raw-zeros 64
}

@test "hostile: non-zero padding between tensors and in the tail" {
	local h='tensor=a f32 [2] 0\ntensor=b f32 [2] 64\n'

	crafted "non-zero padding byte at payload offset 8 \(after tensor 'a'\)$" \
	    -H "$h" --raw-zeros 128 --poke 8:01
	crafted "non-zero padding byte at payload offset 63 \(after tensor 'a'\)$" \
	    -H "$h" --raw-zeros 128 --poke 63:80
	crafted "non-zero padding byte at payload offset 72 \(after tensor 'b'\)$" \
	    -H "$h" --raw-zeros 128 --poke 72:20
	crafted "non-zero padding byte at payload offset 127 \(after tensor 'b'\)$" \
	    -H "$h" --raw-zeros 128 --poke 127:ff
	# The same inside a compressed payload, found after inflating.
	crafted "non-zero padding byte at payload offset 9 \(after tensor 'a'\)$" \
	    -H "$h" --raw-zeros 128 --poke 9:01 -z
	crafted "non-zero padding byte at payload offset 100 \(after tensor 'b'\)$" \
	    -H "$h" --raw-zeros 128 --poke 100:01 -z
	# A zero-size tensor last: the payload ends at its offset.
	crafted "non-zero padding byte at payload offset 10 \(after tensor 'a'\)$" \
	    -H 'tensor=a u8 [1] 0\ntensor=e u8 [0] 64\n' --raw-zeros 64 --poke 10:01
}

@test "hostile: bytes after the zlib stream" {
	local h='tensor=a f32 [16] 0\n'

	crafted 'non-zero padding after the compressed stream$' \
	    -H "$h" --raw-zeros 64 -z --tail '\x01'
	crafted 'non-zero padding after the compressed stream$' \
	    -H "$h" --raw-zeros 64 -z --tail '\0\0\0x'
	crafted '[0-9]+ bytes after the compressed stream$' \
	    -H "$h" --raw-zeros 64 -z --tail "$(printf '\\0%.0s' $(seq 64))"
	# A second zlib stream after the first is not padding either.
	crafted 'bytes after the compressed stream|non-zero padding after the compressed stream' \
	    -H "$h" --raw-zeros 64 -z --tail '\x78\x9c\x03\x00\x00\x00\x00\x01'
}

@test "hostile: zlib streams that inflate to more or fewer bytes" {
	local h='tensor=a f32 [16] 0\n'

	crafted 'compressed payload inflates to more than the 64 bytes the tensors need$' \
	    -H "$h" --bomb 65
	crafted 'compressed payload inflates to 63 bytes, tensors need 64$' \
	    -H "$h" --bomb 63
	crafted 'compressed payload inflates to 0 bytes, tensors need 64$' \
	    -H "$h" --bomb 0
	crafted 'corrupt compressed payload' -H "$h" --stored-hex 789cffff0000
	crafted 'corrupt compressed payload' -H "$h" --stored-hex 0000
	# A stream cut short: the first half of a valid one.
	"$PYTHON" -c 'import zlib; print(zlib.compress(bytes(range(64)), 9).hex())' > s.hex
	local hx
	hx=$(cat s.hex)
	crafted 'corrupt compressed payload' -H "$h" --stored-hex "${hx:0:40}"
}

@test "hostile: decompression bombs are cut off at the tensors' size" {
	# Deflate tops out near 1032:1, so a 1 KiB stream can claim 1 KiB of
	# tensors and inflate to 1 MiB, and a 97 KB one inflates to 100 MB
	# while the header claims 128 KiB.  Both stop at the claimed size.
	craft -H 'tensor=a u8 [1024] 0\n' --bomb 1048576 -o bomb1.flt
	[ "$(wc -c < bomb1.flt)" -le 1216 ]
	small_rejects 'inflates to more than the 1024 bytes the tensors need$' \
	    bomb1.flt
	craft -H 'tensor=a u8 [131072] 0\n' --bomb 100000000 -o bomb2.flt
	[ "$(wc -c < bomb2.flt)" -le 100000 ]
	run_small 'time -p fl-inspect --check bomb2.flt'
	assert_no_crash
	assert_equal "$status" 1
	assert_regex "${stderr_lines[0]}" 'inflates to more than the 131072 bytes the tensors need$'
	local real
	real=$(awk '/^real/ { print int($2) }' <<< "$stderr")
	[ "$real" -lt 2 ] || fail "the bomb took $real s"
}

@test "hostile: a 3 GiB payload claim on a 1 KiB stream is truncated" {
	# Stored: a pipe gets its buffer grown only as bytes arrive; a
	# regular file is checked against its size.
	craft -H 'tensor=a u8 [3221225472] 0\n' --plen 3221225472 --raw-zeros 1024 \
	    -o claim.flt
	small_rejects 'truncated record: payload has 1024 of 3221225472 bytes$' \
	    claim.flt
	# Compressed: the stream itself is 1 KiB and valid; it must fail
	# cleanly (out of memory within the limit, or too short when inflated).
	craft -H 'tensor=a u8 [3221225472] 0\n' --bomb 1048576 -o zclaim.flt
	small_rejects '(out of memory|inflates to|impossible)' zclaim.flt
}

# ---- hostile header text ----

@test "hostile: CR and NUL in the header" {
	crafted 'carriage return in header$' -H 'kind=up\rdate\n'
	crafted 'carriage return in header$' -H 'kind=update\r\n'
	crafted 'control character 0x00 in metadata value$' -H 'kind=up\0date\n'
	crafted "bad metadata key 'ki" -H 'ki\0nd=update\n'
	crafted "bad tensor name" -H 'tensor=a\0b u8 [1] 0\n' --raw-zeros 1
	crafted "unsupported dtype" -H 'tensor=a u8\0 [1] 0\n' --raw-zeros 1
	crafted "header line without '='" -H '\0\n'
}

@test "hostile: the padding line" {
	# No padding line: the last line is a metadata line that happens to
	# end on the boundary.
	local x26 sp23
	x26=$(printf 'x%.0s' $(seq 26))
	sp23=$(printf '%23s' '')
	crafted 'header does not end with a line of space padding$' \
	    --no-pad -H "kind=$x26\n"
	crafted 'header does not end with a newline$' --no-pad -H "kind=${x26}x"
	crafted 'header does not end with a newline$' \
	    --no-pad -H "kind=x\n$sp23  "
	crafted 'header does not end with a line of space padding$' \
	    --no-pad -H "kind=x\n$sp23\t\n"
	crafted 'blank line in header$' -H 'kind=x\n\n'
	crafted 'blank line in header$' -H '\nkind=x\n'
}

@test "hostile: a padding line longer than needed is not canonical" {
	# The writer pads with 0-63 spaces; the reader accepts exactly what
	# the writer produces, so a record read and written back is
	# byte-identical.  64 more spaces would be a second form of the same
	# record (and 1 MiB of them a header the writer could never make).
	crafted 'padding' --no-pad -H "kind=x\n$(printf '%88s' '')\n"
}

@test "hostile: metadata keys outside the charset" {
	crafted "bad metadata key 'Kind'" -H 'Kind=x\n'
	crafted "bad metadata key '.kind'" -H '.kind=x\n'
	crafted "bad metadata key '-kind'" --header='-kind=x\n'
	crafted "bad metadata key '_kind'" -H '_kind=x\n'
	crafted "bad metadata key 'ki nd'" -H 'ki nd=x\n'
	crafted "bad metadata key 'kind\+'" -H 'kind+=x\n'
	crafted "bad metadata key 'k" -H 'k\xc3\xa9=x\n'
	crafted 'empty metadata key$' -H '=x\n'
	crafted 'metadata key longer than 64 bytes$' -H "$(printf 'k%.0s' $(seq 65))=x\n"
	craft -H "$(printf 'k%.0s' $(seq 64))=x\nx-y.z_0=1\n" -o ok.flt
	run fl-inspect --check ok.flt
	assert_success
}

@test "hostile: the key 'tensor' cannot hold metadata" {
	crafted "bad tensor line 'tensor=update': want NAME DTYPE \[DIMS\] OFFSET$" \
	    -H 'tensor=update\n'
	crafted 'bad tensor line' -H 'tensor=\n'
	crafted 'bad tensor line' -H 'tensor=a u8 [1] 0 extra\n' --raw-zeros 1
	crafted 'bad tensor line' -H 'tensor=a u8  [1] 0\n' --raw-zeros 1
	crafted 'bad tensor line' -H 'tensor=a u8 [1] 0 \n' --raw-zeros 1
	crafted 'bad tensor line' -H 'tensor= a u8 [1] 0\n' --raw-zeros 1
}

@test "hostile: tensor names outside the charset" {
	crafted "tensor name '-a' starts with '-'$" -H 'tensor=-a u8 [1] 0\n' \
	    --raw-zeros 1
	crafted "bad tensor name 'a@b'" -H 'tensor=a@b u8 [1] 0\n' --raw-zeros 1
	crafted "bad tensor name" -H 'tensor=caf\xc3\xa9 u8 [1] 0\n' --raw-zeros 1
	crafted 'tensor name longer than 255 bytes$' \
	    -H "tensor=$(printf 'n%.0s' $(seq 256)) u8 [1] 0\n" --raw-zeros 1
	craft -H "tensor=$(printf 'n%.0s' $(seq 255)) u8 [1] 0\ntensor=A_z.0:/- u8 [] 64\n" \
	    --raw-zeros 65 -o ok.flt
	run fl-inspect --check ok.flt
	assert_success
}

@test "hostile: metadata values with control characters or bad UTF-8" {
	crafted 'control character 0x09 in metadata value$' -H 'kind=a\tb\n'
	crafted 'control character 0x1b in metadata value$' -H 'kind=\x1b[31m\n'
	crafted 'control character 0x7f in metadata value$' -H 'kind=a\x7f\n'
	local v
	# Lone byte, lone continuation, overlong '/', surrogate, past U+10FFFF,
	# cut-short sequence, an F5 lead byte.
	for v in '\xff' '\x80' '\xc0\xaf' '\xe0\x80\xaf' '\xed\xa0\x80' \
	    '\xf4\x90\x80\x80' 'a\xe2\x82' '\xf5\x80\x80\x80'; do
		crafted 'metadata value is not valid UTF-8$' -H "kind=$v\n"
	done
	crafted 'metadata value has leading or trailing spaces$' -H 'kind= update\n'
	crafted 'metadata value has leading or trailing spaces$' -H 'kind=update \n'
	crafted 'metadata value longer than 4096 bytes$' \
	    -H "kind=$(printf 'v%.0s' $(seq 4097))\n"
	# The largest value, and UTF-8 up to U+10FFFF, are fine.
	craft -H "kind=$(printf 'v%.0s' $(seq 4096))\nx=caf\xc3\xa9 \xf4\x8f\xbf\xbf\n" -o ok.flt
	run fl-inspect --check ok.flt
	assert_success
}

@test "hostile: unknown dtype and header lines without '='" {
	crafted "tensor 'a': unsupported dtype 'f8'$" -H 'tensor=a f8 [2] 0\n' \
	    --raw-zeros 4
	crafted "tensor 'a': unsupported dtype 'BF16'$" -H 'tensor=a BF16 [2] 0\n' \
	    --raw-zeros 4
	crafted "tensor 'a': unsupported dtype 'F32'$" -H 'tensor=a F32 [2] 0\n' \
	    --raw-zeros 8
	crafted "header line without '=': 'kind'$" -H 'kind\n'
	crafted "header line without '='" -H '# a comment\n'
}

@test "hostile: messages do not copy control characters to the terminal" {
	# Quoted header bytes are escaped: a hostile name must not be able to
	# retitle or clear the terminal of whoever runs fl-inspect on it.
	local h
	for h in 'tensor=a\x1b]0;owned\x07 u8 [1] 0\n' 'k\x1b[2J=x\n' \
	    'tensor=a u8\x1b[2J [1] 0\n' 'tensor=a u8 [1\x1b[2J] 0\n' \
	    'tensor=a u8 [1] 0\x1b[2J\n' 'x\x1b[2J\n' 'tensor=a\x1b u8\n'; do
		echo "case: $h"
		craft -H "$h" --raw-zeros 1 -o e.flt
		run fl-inspect --check e.flt
		assert_no_crash
		assert_equal "$status" 1
		fl-inspect --check e.flt 2> err.txt || true
		run bash -c "LC_ALL=C tr -d '\n' < err.txt | LC_ALL=C grep -c '[[:cntrl:]]'"
		assert_output 0
	done
	# A NUL must not cut the quote short: 'u8' followed by NUL is not u8.
	craft -H 'tensor=a u8\0 [1] 0\n' --raw-zeros 1 -o nul.flt
	run --separate-stderr fl-inspect --check nul.flt
	assert_equal "$status" 1
	assert_regex "$stderr" "unsupported dtype"
	refute_regex "$stderr" "dtype 'u8'$"
}
