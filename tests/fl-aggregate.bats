#!/usr/bin/env bats
# fl-aggregate: weighted mean, sums (plain and modular), merging partial
# aggregates in any grouping, the robust rules on hand-checkable inputs,
# chunking under a memory budget, and every bad-input rule (one bad record
# fails the round and nothing is written).

load helper

# pk FILE ARGS...: fl-pack ARGS into FILE.
pk() {
	local f=$1
	shift
	fl-pack "$@" -o "$f"
}

# agg ARGS...: fl-aggregate with its standard output in out.flt.
agg() {
	fl-aggregate "$@" > out.flt
}

# dump TENSOR FILE: the values, comma-separated on one line (exact).
dump() {
	fl-inspect -d "$1" "$2" | paste -sd, -
}

# dumpf TENSOR FILE [DIGITS]: float values to DIGITS (8) significant
# digits.
dumpf() {
	fl-inspect -d "$1" "$2" | tr ',' '\n' | awk -v d="${3:-8}" \
	    '{ printf "%s%.*g", (NR > 1 ? "," : ""), d, $1 } END { print "" }'
}

# No temporary file of an atomic write is left.
no_temp() {
	if compgen -G '.fl-tmp.*' > /dev/null; then
		fail "left a temporary file: $(echo .fl-tmp.*)"
	fi
}

# After "run --separate-stderr agg ...": failed with status 1, wrote no
# record and one line on stderr that contains TEXT.
refused() {
	assert_equal "$status" 1
	[ ! -s out.flt ] || fail "wrote $(wc -c < out.flt) bytes to stdout"
	assert_equal "${#stderr_lines[@]}" 1
	[[ $stderr == "fl-aggregate: "*"$1"* ]] ||
	    fail "stderr lacks '$1'"$'\n'"stderr: $stderr"
}

# Two updates of a 2x2 tensor w and a scalar-ish b.
two_updates() {
	pk a.flt -m kind=update -m client=a -m round=3 -m weight=1 \
	    -m x-site=lab -t w:f32:2x2=1,2,3,4 -t b:f32=1
	pk b.flt -m kind=update -m client=b -m round=3 -m weight=3 \
	    -m x-site=lab -t w:f32:2x2=5,6,7,8 -t b:f32=3
}

# updates N DIR [DTYPE]: N updates with awk-made values and weights 1..N.
updates() {
	local i w
	mkdir -p "$2"
	for ((i = 1; i <= $1; i++)); do
		w=$(awk -v i="$i" 'BEGIN { for (k = 0; k < 40; k++)
		    printf "%s%.9g", k ? "," : "", sin(7 * i + k) * i / 3 }')
		pk "$2/u$(printf %03d "$i").flt" -m kind=update -m round=1 \
		    -m client="c$i" -m weight="$i" -t "w:${3:-f32}:5x8=$w" \
		    -t "b:${3:-f32}=$i,-$i"
	done
}

# ---- the weighted mean ----

@test "mean: weighted by 'weight', metadata of an aggregate" {
	two_updates
	fl-aggregate a.flt b.flt > m.flt
	assert_equal "$(dump w m.flt)" "4,5,6,7"
	assert_equal "$(dump b m.flt)" "2.5"
	run fl-inspect -g kind -g agg m.flt
	assert_equal "$(fl-inspect -g kind m.flt)" aggregate
	assert_equal "$(fl-inspect -g agg m.flt)" mean
	assert_equal "$(fl-inspect -g clients m.flt)" 2
	assert_equal "$(fl-inspect -g weight m.flt)" 4
	assert_equal "$(fl-inspect -g round m.flt)" 3
	# Keys every input agrees on pass through; client ids never do.
	assert_equal "$(fl-inspect -g x-site m.flt)" lab
	run fl-inspect -g client m.flt
	assert_failure
}

@test "mean --unweighted: every client counts once; weight is the client count" {
	two_updates
	fl-aggregate --unweighted a.flt b.flt > m.flt
	assert_equal "$(dump w m.flt)" "3,4,5,6"
	assert_equal "$(fl-inspect -g weight m.flt)" 2
	pk c.flt -t w:f32:2x2=1,1,1,1 -t b:f32=1
	fl-aggregate --unweighted a.flt c.flt > m.flt
	assert_equal "$(dump w m.flt)" "1,1.5,2,2.5"
}

@test "mean --denominator: the plain sum over a public N, whatever the weights and the count" {
	two_updates
	fl-aggregate --denominator 4 a.flt b.flt > m.flt
	# (1+5, 2+6, 3+7, 4+8) / 4: the weights 1 and 3 do not count.
	assert_equal "$(dump w m.flt)" "1.5,2,2.5,3"
	assert_equal "$(fl-inspect -g agg m.flt)" mean
	assert_equal "$(fl-inspect -g agg.denominator m.flt)" 4
	# No sum of weights in the result: only the public denominator.
	run -1 fl-inspect -g weight m.flt
	# Updates without a weight (clipped ones) aggregate so too.
	pk c.flt -t w:f32=2 -t b:f32=0
	pk d.flt -t w:f32=4 -t b:f32=1
	fl-aggregate --denominator 10 c.flt d.flt > m.flt
	assert_equal "$(dump w m.flt)" "0.6"
	# A partial sum (noised by the server, say) is divided as it is;
	# a partial mean does not give its sum back.
	fl-aggregate -r sum c.flt d.flt > s.flt
	fl-aggregate --denominator 10 s.flt > m.flt
	assert_equal "$(dump w m.flt)" "0.6"
	assert_equal "$(fl-inspect -g clients m.flt)" 2
	fl-aggregate --unweighted c.flt d.flt > pm.flt
	run -1 fl-aggregate --denominator 10 pm.flt
	assert_output --partial "record is a partial mean: --denominator divides sums"
	run -2 fl-aggregate --denominator 4 -r sum a.flt b.flt
	assert_output --partial "--denominator goes with --rule=mean"
	run -1 fl-aggregate --denominator 0 a.flt b.flt
	run -1 fl-aggregate --denominator=-1 a.flt b.flt
}

@test "mean: f64 inputs give f64 output, accumulated in f64" {
	pk a.flt -m weight=1 -t w:f64=0.1,1e300
	pk b.flt -m weight=2 -t w:f64=0.2,-1e300
	fl-aggregate a.flt b.flt > m.flt
	run fl-inspect m.flt
	assert_output --partial "f64"
	# (0.1 + 0.4) / 3 in f64; (1e300 - 2e300) / 3
	assert_equal "$(dump w m.flt)" "$($PYTHON -c 'print(repr((0.1 + 2 * 0.2) / 3) + "," + repr((1e300 - 2e300) / 3))')"
}

@test "sums of f32 are accumulated in f64, not f32" {
	# In f32, 1e8 + 1 is 1e8 again (the spacing there is 8): sixteen
	# ones would vanish one by one.
	pk a.flt -m weight=1 -t w:f32=1e8
	pk one.flt -m weight=1 -t w:f32=1
	for i in $(seq 16); do cat one.flt; done > ones.flt
	fl-aggregate --rule=sum a.flt ones.flt > s.flt
	run fl-inspect --json s.flt
	assert_output --partial '"max":100000016,'
}

@test "mean: the same from files, from stdin, with '-' and as one stream" {
	updates 5 u
	fl-aggregate u/*.flt > files.flt
	cat u/*.flt | fl-aggregate > stdin.flt
	cat u/u00[2-5].flt | fl-aggregate u/u001.flt - > dash.flt
	cat u/*.flt > stream.flt
	fl-aggregate stream.flt > one.flt
	cmp files.flt stdin.flt
	cmp files.flt dash.flt
	cmp files.flt one.flt
}

@test "output is deterministic: the same inputs give the same bytes" {
	updates 4 u
	fl-aggregate u/*.flt > 1.flt
	fl-aggregate u/*.flt > 2.flt
	cmp 1.flt 2.flt
}

# ---- associativity: partial aggregates merge ----

@test "associativity: partial means merged in any grouping equal one pass" {
	updates 12 u
	fl-aggregate u/*.flt > one.flt
	# ((1..4) (5..8) (9..12))
	fl-aggregate u/u00[1-4].flt > p1.flt
	fl-aggregate u/u00[5-8].flt > p2.flt
	fl-aggregate u/u009.flt u/u01[0-2].flt > p3.flt
	fl-aggregate p1.flt p2.flt p3.flt > t1.flt
	# (1 (2 (3 ... 12))) as a chain of merges
	cp u/u012.flt chain.flt
	for f in u/u01[01].flt u/u00[1-9].flt; do
		fl-aggregate "$f" chain.flt > next.flt
		mv next.flt chain.flt
	done
	# a partial merged with raw updates
	fl-aggregate p1.flt u/u00[5-9].flt u/u01*.flt > t3.flt
	for t in t1 chain t3; do
		run fl-inspect --diff --tolerance=2e-6 one.flt "$t.flt"
		assert_success
		refute_output --partial "meta"
	done
	assert_equal "$(fl-inspect -g clients chain.flt)" 12
	assert_equal "$(fl-inspect -g weight chain.flt)" 78
}

@test "associativity: float sums merge too, and partial kinds are checked" {
	updates 6 u
	fl-aggregate -r sum u/*.flt > one.flt
	fl-aggregate -r sum u/u00[1-2].flt > p1.flt
	fl-aggregate -r sum u/u00[3-6].flt > p2.flt
	fl-aggregate -r sum p2.flt p1.flt > two.flt
	run fl-inspect --diff --tolerance=1e-5 one.flt two.flt
	assert_success
	refute_output --partial "meta"
	# A partial sum is not a mean, nor the other way round.
	run --separate-stderr agg p1.flt p2.flt
	refused "p1.flt: record 1: record is a partial sum: merge it with --rule=sum"
	fl-aggregate u/u00[1-2].flt > m1.flt
	run --separate-stderr agg -r sum m1.flt
	refused "partial mean: merge it with --rule=mean"
}

@test "the examples script: tree aggregation with xargs -P and GNU parallel" {
	not_under_sanitizers "a whole script"
	run "$TOP/examples/tree-aggregate.sh" 20 "$PWD/tree"
	assert_success
	assert_line "tree-xargs: same as one pass (2 tensors within 1e-5)"
	assert_line "ring-tree: byte-identical to one pass"
	assert_line "clients: 20"
	if command -v parallel > /dev/null; then
		assert_line "tree-parallel: same as one pass (2 tensors within 1e-5)"
	fi
}

# ---- sums of integers ----

@test "modular sum: exact, wraps around 2^32, any grouping gives the same bytes" {
	local top=4294967295
	pk r1.flt -m modulus=4294967296 -m round=2 -t q:u32=$top,1,7
	pk r2.flt -m modulus=4294967296 -m round=2 -t q:u32=$top,$top,8
	pk r3.flt -m modulus=4294967296 -m round=2 -t q:u32=2,$top,9
	fl-aggregate -r sum r1.flt r2.flt r3.flt > s.flt
	# (2^32-1)*2 + 2 = 2^33 = 0; 1 + 2*(2^32-1) = 2^33 - 1 = 2^32 - 1
	assert_equal "$(dump q s.flt)" "0,4294967295,24"
	assert_equal "$(fl-inspect -g modulus s.flt)" 4294967296
	fl-aggregate -r sum r1.flt r2.flt > p.flt
	fl-aggregate -r sum r3.flt p.flt > s2.flt
	fl-aggregate -r sum r2.flt r3.flt > p2.flt
	fl-aggregate -r sum p2.flt r1.flt > s3.flt
	cmp s.flt s2.flt
	cmp s.flt s3.flt
}

@test "modular sum: a small modulus, checked against Python's integers" {
	local i vals
	for i in $(seq 1 9); do
		vals=$(awk -v i="$i" 'BEGIN { for (k = 0; k < 10; k++)
		    printf "%s%d", k ? "," : "", (i * 7919 + k * 104729) % 1000 }')
		pk "r$i.flt" -m modulus=1000 -t "q:u16=$vals"
	done
	fl-aggregate -r sum r*.flt > s.flt
	want=$($PYTHON -c '
print(",".join(str(sum((i * 7919 + k * 104729) % 1000 for i in range(1, 10)) % 1000) for k in range(10)))')
	assert_equal "$(dump q s.flt)" "$want"
}

@test "modular sum: values at or above the modulus, signed or float tensors, a mixed modulus" {
	pk a.flt -m modulus=1000 -t q:u32=999,1000
	run --separate-stderr agg -r sum a.flt
	refused "a.flt: record 1: tensor 'q' element 1: value 1000 is not below the modulus 1000"
	pk b.flt -m modulus=1000 -t q:i32=1
	run --separate-stderr agg -r sum b.flt
	refused "b.flt: record 1: tensor 'q' is i32: modular sums take unsigned integer tensors"
	pk c.flt -m modulus=70000 -t q:u16=1
	run --separate-stderr agg -r sum c.flt
	refused "modulus 70000 does not fit tensor 'q' (u16)"
	pk d.flt -m modulus=999 -t q:u32=1,2
	pk e.flt -m modulus=1000 -t q:u32=1,2
	run --separate-stderr agg -r sum e.flt d.flt
	refused "d.flt: record 1: modulus: '999' here, '1000' in record 1 of e.flt"
	pk f.flt -t q:u32=1,2
	run --separate-stderr agg -r sum e.flt f.flt
	refused "f.flt: record 1: modulus: absent here, '1000' in record 1 of e.flt"
	run --separate-stderr agg e.flt
	refused "ring-encoded records (modulus 1000) can only be summed: use --rule=sum"
}

@test "plain integer sums are exact; a sum that does not fit its dtype fails" {
	pk a.flt -t n:i64=9007199254740993,-5 -t c:u8=200
	pk b.flt -t n:i64=1,-5 -t c:u8=55
	fl-aggregate -r sum a.flt b.flt > s.flt
	assert_equal "$(dump n s.flt)" "9007199254740994,-10"
	assert_equal "$(dump c s.flt)" "255"
	pk c.flt -t n:i64=1,1 -t c:u8=1
	run --separate-stderr agg -r sum a.flt b.flt c.flt
	refused "tensor 'c' element 0: the sum 256 does not fit u8"
	pk big.flt -t n:i64=9223372036854775807,0 -t c:u8=0
	run --separate-stderr agg -r sum big.flt big.flt
	refused "big.flt: record 1: tensor 'n': the sum overflows 64 bits"
	# Integers are summed, never averaged.
	run --separate-stderr agg --unweighted a.flt
	refused "tensor 'n' is i64: mean takes float tensors"
}

# ---- bad input: one bad record fails everything, nothing is written ----

@test "bad input: a shape, dtype or name mismatch names the file and record" {
	two_updates
	pk s.flt -m weight=1 -t w:f32:4=1,2,3,4 -t b:f32=1
	run --separate-stderr agg a.flt b.flt s.flt
	refused "s.flt: record 1: tensor 'w' is f32 [4], the first record has f32 [2,2] (record 1 of a.flt)"
	pk d.flt -m weight=1 -t w:f64:2x2=1,2,3,4 -t b:f32=1
	run --separate-stderr agg a.flt d.flt
	refused "d.flt: record 1: tensor 'w' is f64 [2,2], the first record has f32 [2,2]"
	pk n.flt -m weight=1 -t v:f32:2x2=1,2,3,4 -t b:f32=1
	run --separate-stderr agg a.flt n.flt
	refused "n.flt: record 1: tensor 1 is 'v', the first record has 'w' there"
	pk m.flt -m weight=1 -t w:f32:2x2=1,2,3,4
	run --separate-stderr agg a.flt m.flt
	refused "m.flt: record 1: 1 tensors, the first record has 2"
	# The second record of a stream is named as such.
	cat a.flt s.flt > ab.flt
	run --separate-stderr agg ab.flt
	refused "ab.flt: record 2: tensor 'w' is f32 [4]"
}

@test "bad input: rounds must agree; a record without one is accepted" {
	two_updates
	pk c.flt -m client=c -m round=4 -m weight=1 -m x-site=lab \
	    -t w:f32:2x2=1,2,3,4 -t b:f32=1
	run --separate-stderr agg a.flt b.flt c.flt
	refused "c.flt: record 1: round 4, but other inputs are of round 3"
	pk d.flt -m weight=1 -t w:f32:2x2=1,2,3,4 -t b:f32=1
	fl-aggregate a.flt d.flt > m.flt
	assert_equal "$(fl-inspect -g round m.flt)" 3
	pk e.flt -m round=three -m weight=1 -t w:f32:2x2=1,2,3,4 -t b:f32=1
	run --separate-stderr agg e.flt
	refused "e.flt: record 1: bad round 'three': not a whole number"
}

@test "bad input: NaN and infinities fail the round, or are dropped and counted" {
	two_updates
	pk n.flt -m client=n -m round=3 -m weight=5 -t w:f32:2x2=1,nan,3,inf \
	    -t b:f32=1
	run --separate-stderr agg a.flt n.flt b.flt
	refused "n.flt: record 1: 2 NaN or infinite values, the first in tensor 'w' (--drop-nonfinite skips such updates)"
	run --separate-stderr agg --norm-bound=1 a.flt n.flt b.flt
	refused "n.flt: record 1: 2 NaN or infinite values"
	run --separate-stderr agg --drop-nonfinite --log=log.json a.flt n.flt b.flt
	assert_success
	assert_equal "$stderr" "fl-aggregate: n.flt: record 1: dropped: 2 NaN or infinite values"
	assert_equal "$(dump w out.flt)" "4,5,6,7"
	assert_equal "$(fl-inspect -g clients out.flt)" 2
	grep -q '"dropped":1,' log.json
	run --separate-stderr agg --drop-nonfinite n.flt
	assert_equal "$status" 1
	assert_equal "${stderr_lines[1]}" "fl-aggregate: no updates left: 1 dropped"
}

@test "bad input: duplicate client ids" {
	two_updates
	cp a.flt again.flt
	run --separate-stderr agg a.flt b.flt again.flt
	refused "again.flt: record 1: duplicate client 'a' (also record 1 of a.flt)"
}

@test "bad input: weights missing, zero, negative, non-finite or not numbers" {
	two_updates
	local w
	pk none.flt -m client=c -m round=3 -t w:f32:2x2=1,2,3,4 -t b:f32=1
	run --separate-stderr agg a.flt none.flt
	refused "none.flt: record 1: no weight: give every update a weight, or use --unweighted"
	for w in 0 -1 0.0; do
		pk bad.flt -m weight="$w" -t w:f32:2x2=1,2,3,4 -t b:f32=1
		run --separate-stderr agg a.flt bad.flt
		refused "bad.flt: record 1:"
	done
	for w in nan inf 1e999 abc 1,5; do
		pk bad.flt -m weight="$w" -t w:f32:2x2=1,2,3,4 -t b:f32=1
		run --separate-stderr agg a.flt bad.flt
		refused "bad.flt: record 1: bad weight '$w'"
	done
	# The sum needs no weights: it sums those it has when all have one.
	fl-aggregate -r sum a.flt none.flt > s.flt
	run fl-inspect -g weight s.flt
	assert_failure
}

@test "bad input: a truncated or corrupt file among many fails the round and writes nothing" {
	updates 6 u
	head -c 200 u/u003.flt > u/u003.flt.tmp && mv u/u003.flt.tmp u/u003.flt
	run --separate-stderr agg u/*.flt
	refused "u/u003.flt: record 1: truncated record"
	echo precious > out2.flt
	run --separate-stderr fl-aggregate -o out2.flt u/*.flt
	assert_equal "$status" 1
	assert_equal "$(cat out2.flt)" precious
	no_temp
	updates 6 v
	printf '\001' | dd of=v/u005.flt bs=1 seek=200 conv=notrunc 2>/dev/null
	run --separate-stderr agg v/*.flt
	refused "v/u005.flt: record 1: payload checksum mismatch"
	run --separate-stderr agg -r median v/*.flt
	refused "v/u005.flt: record 1: payload checksum mismatch"
	run --separate-stderr agg v/u001.flt missing.flt
	refused "missing.flt: No such file or directory"
	assert_equal "$stderr" "fl-aggregate: missing.flt: No such file or directory"
}

@test "--min-clients: below it, exit 1 and no output at all" {
	updates 3 u
	run --separate-stderr agg -n 4 u/*.flt
	refused "3 clients, fewer than --min-clients 4: nothing written"
	run --separate-stderr fl-aggregate --min-clients=4 -o m.flt u/*.flt
	assert_equal "$status" 1
	[ ! -e m.flt ]
	no_temp
	fl-aggregate -n 3 u/*.flt > m.flt
	# Clients of partial aggregates count.
	fl-aggregate u/u00[12].flt > p.flt
	fl-aggregate -n 3 p.flt u/u003.flt > m.flt
	run --separate-stderr agg -n 3 p.flt
	refused "2 clients, fewer than --min-clients 3"
}

@test "bad input: masked and plain records never mix" {
	pk m1.flt -m mask=secagg -m modulus=65536 -t q:u32=1,2
	pk p.flt -m modulus=65536 -t q:u32=1,2
	run --separate-stderr agg -r sum p.flt m1.flt
	refused "m1.flt: record 1: record is masked, record 1 of p.flt is plain"
	# Masked records are only ever unmasked (fl-mask(1)): a masked sum
	# would be of no use to anyone.
	run --separate-stderr agg -r sum m1.flt p.flt
	refused "m1.flt: record 1: masked record: unmask it with --roster, --shares and --reveals"
	run --separate-stderr agg -r median m1.flt
	refused "masked records (modulus 65536) can only be summed"
}

@test "bad input: models, states and robust aggregates are not updates" {
	two_updates
	pk g.flt -m kind=model -t w:f32:2x2=1,2,3,4 -t b:f32=1
	run --separate-stderr agg a.flt g.flt
	refused "g.flt: record 1: record is a model, not an update"
	fl-aggregate -r median a.flt b.flt > med.flt
	run --separate-stderr agg med.flt a.flt
	refused "med.flt: record 1: record is a 'median' aggregate: robust aggregates do not merge"
	fl-aggregate a.flt b.flt > mean.flt
	run --separate-stderr agg -r median mean.flt a.flt
	refused "record is an aggregate (agg=mean): median takes updates"
	pk arch1.flt -m arch=logreg -m weight=1 -t w:f32:2x2=1,2,3,4 -t b:f32=1
	run --separate-stderr agg arch1.flt a.flt
	refused "a.flt: record 1: arch: absent here, 'logreg' in record 1 of arch1.flt"
}

@test "no input records, unknown rules and misplaced options" {
	: > empty.flt
	run --separate-stderr agg empty.flt
	refused "no updates to aggregate"
	run --separate-stderr fl-aggregate -r average
	assert_equal "$status" 2
	[[ $stderr == *"unknown rule 'average'"* ]] || fail "$stderr"
	for args in "--trim=0.1" "-r median --select=2" "-f 1" \
	    "-r sum --unweighted" "--memory=1G"; do
		# shellcheck disable=SC2086
		run --separate-stderr fl-aggregate $args
		assert_equal "$status" 2
	done
	for args in "-r trimmed-mean --trim=0.5" "--norm-bound=0" \
	    "--norm-bound=-1" "-n 0" "-r median --memory=12X" \
	    "-r median --memory=0"; do
		# shellcheck disable=SC2086
		run --separate-stderr fl-aggregate $args
		assert_equal "$status" 1
		[[ $stderr == "fl-aggregate: invalid --"* ]] || fail "$args: $stderr"
	done
}

# ---- robust rules on hand-checkable inputs ----

# five WITH-VALUES...: records f1..f5.flt holding the given w values (3
# coordinates each, "a,b,c" per record).
five() {
	local i=1 v
	for v in "$@"; do
		pk "f$i.flt" -m client="c$i" -m round=1 -t "w:f32=$v"
		i=$((i + 1))
	done
}

@test "median: odd and even counts, per coordinate" {
	five 1,10,-1 2,20,-2 3,30,-3 100,-100,0 -50,25,7
	# per coordinate: {1,2,3,100,-50} {10,20,30,-100,25} {-1,-2,-3,0,7}
	fl-aggregate -r median f*.flt > m.flt
	assert_equal "$(dumpf w m.flt)" "2,20,-1"
	assert_equal "$(fl-inspect -g agg m.flt)" median
	fl-aggregate -r median f1.flt f2.flt f3.flt f4.flt > m.flt
	# {1,2,3,100} -> 2.5; {10,20,30,-100} -> 15; {-1,-2,-3,0} -> -1.5
	assert_equal "$(dumpf w m.flt)" "2.5,15,-1.5"
	# One update, and equal values.
	fl-aggregate -r median f1.flt > m.flt
	assert_equal "$(dumpf w m.flt)" "1,10,-1"
	five 0,0,1 0,0,1 0,5,1 0,0,1 0,0,1
	fl-aggregate -r median f*.flt > m.flt
	assert_equal "$(dump w m.flt)" "0,0,1"
}

@test "trimmed mean: cuts floor(beta n) values at each end" {
	five 1,10,-1 2,20,-2 3,30,-3 100,-100,0 -50,25,7
	# beta 0.2 of 5: cut 1 at each end -> mean of the middle three
	fl-aggregate -r trimmed-mean f*.flt > t.flt
	assert_equal "$(dumpf w t.flt)" "2,18.333334,-1"
	assert_equal "$(fl-inspect -g agg t.flt)" trimmed-mean
	# beta 0.1: floor(0.5) = 0 cut: the plain mean
	fl-aggregate -r trimmed-mean --trim=0.1 f*.flt > t.flt
	assert_equal "$(dumpf w t.flt)" "11.2,-3,0.2"
	# beta 0.4: cut 2 each end: the median
	fl-aggregate -r trimmed-mean --trim=0.4 f*.flt > t.flt
	assert_equal "$(dumpf w t.flt)" "2,20,-1"
}

@test "median and trimmed mean agree with numpy on random updates" {
	$PYTHON -c 'import numpy' 2>/dev/null || skip "no numpy"
	updates 11 u
	fl-aggregate -r median u/*.flt > m.flt
	fl-aggregate -r trimmed-mean --trim=0.25 u/*.flt > t.flt
	for f in u/*.flt; do fl-inspect -d w "$f" | paste -sd, -; done > all.csv
	run $PYTHON -c '
import numpy as np, sys
x = np.loadtxt("all.csv", delimiter=",", dtype=np.float32).astype(np.float64)
med = np.median(x, axis=0)
s = np.sort(x, axis=0); k = int(0.25 * len(x))
tm = s[k:len(x) - k].mean(axis=0)
got_m = np.loadtxt(sys.argv[1].split(","), dtype=np.float64)
got_t = np.loadtxt(sys.argv[2].split(","), dtype=np.float64)
assert np.allclose(got_m, med.astype(np.float32), rtol=1e-6, atol=1e-7), (got_m, med)
assert np.allclose(got_t, tm.astype(np.float32), rtol=1e-6, atol=1e-7), (got_t, tm)
print("ok")' "$(fl-inspect -d w m.flt | tr '\n' ',' | tr -s ',' | sed 's/,$//')" \
	    "$(fl-inspect -d w t.flt | tr '\n' ',' | tr -s ',' | sed 's/,$//')"
	assert_success
	assert_output ok
}

@test "median and trimmed mean agree with numpy on many ties and odd and even counts" {
	$PYTHON -c 'import numpy' 2>/dev/null || skip "no numpy"
	local n
	for n in 24 25; do
		rm -rf u && mkdir u
		$PYTHON -c '
import numpy as np, sys
rng = np.random.default_rng(int(sys.argv[1]))
# Few distinct values: long runs of ties, zeros most of all.
x = rng.choice([0, 0, 0, 1, -1, 2.5, -7], size=(int(sys.argv[1]), 2000))
np.savetxt("all.csv", x, delimiter=",", fmt="%g")' "$n"
		split -l 1 -d -a 3 all.csv u/row.
		for f in u/row.*; do
			pk "$f.flt" -t "w:f32:2000=@$f"
		done
		fl-aggregate -r median u/*.flt > m.flt
		fl-aggregate -r trimmed-mean --trim=0.3 u/*.flt > t.flt
		fl-inspect -d w m.flt > m.txt
		fl-inspect -d w t.flt > t.txt
		run $PYTHON -c '
import numpy as np
x = np.loadtxt("all.csv", delimiter=",")
s = np.sort(x, axis=0); k = int(0.3 * len(x))
assert np.allclose(np.loadtxt("m.txt"), np.median(x, axis=0), rtol=1e-6, atol=0)
assert np.allclose(np.loadtxt("t.txt"), s[k:len(x) - k].mean(axis=0), rtol=1e-6, atol=1e-7)
print("ok")'
		assert_output ok
	done
}

@test "krum: picks the update closest to its neighbours; multi-krum averages the best" {
	# Four honest updates near (1,1,1) and one far away.
	five 1,1,1 1.1,1,0.9 0.9,1.05,1 1,0.95,1.1 50,-40,30
	# n=5, f=1: each score sums the n-f-2 = 2 nearest squared distances.
	run $PYTHON -c '
import itertools
u = [(1,1,1),(1.1,1,0.9),(0.9,1.05,1),(1,0.95,1.1),(50,-40,30)]
d = lambda a, b: sum((x - y) ** 2 for x, y in zip(a, b))
sc = [sum(sorted(d(u[i], u[j]) for j in range(5) if j != i)[:2]) for i in range(5)]
print(sorted(range(5), key=lambda i: (sc[i], i)))'
	assert_output "[0, 2, 3, 1, 4]"
	fl-aggregate -r krum -f 1 f*.flt > k.flt
	assert_equal "$(dump w k.flt)" "1,1,1"
	assert_equal "$(fl-inspect -g agg k.flt)" krum
	fl-aggregate -r krum -f 1 --select=3 --log=log.json f*.flt > k.flt
	assert_equal "$(fl-inspect -g agg k.flt)" multi-krum
	# mean of updates 0, 2, 3 (f32 values, averaged in f64)
	assert_equal "$(dump w k.flt)" "0.96666664,1,1.0333333"
	grep -q '"rejected":2,' log.json
	run --separate-stderr agg -r krum -f 2 f*.flt
	refused "krum with --byzantine=2 needs at least 7 updates, not 5"
	run --separate-stderr agg -r krum -f 1 --select=5 f*.flt
	refused "--select=5 is more than the 4 updates krum can trust (n - f)"
}

@test "--norm-bound scales each update down to the bound before aggregating" {
	pk a.flt -m weight=1 -t w:f32=3,4
	pk b.flt -m weight=1 -t w:f32=0.375,0.5
	# |a| = 5 -> scaled to norm 1: (0.6, 0.8); b (norm 0.625) unchanged.
	fl-aggregate --norm-bound=1 --log=log.json a.flt b.flt > m.flt
	assert_equal "$(dumpf w m.flt 7)" "0.4875,0.65"
	grep -q '"bounded":1,' log.json
	grep -q '"norm":{"min":0.625,"median":2.8125,"max":5}' log.json
	fl-aggregate -r median --norm-bound=1 a.flt b.flt > m.flt
	assert_equal "$(dumpf w m.flt 7)" "0.4875,0.65"
	fl-aggregate -r sum --norm-bound=1 a.flt b.flt > m.flt
	assert_equal "$(dumpf w m.flt 7)" "0.975,1.3"
}

# ---- memory budget: chunks re-read from the files ----

@test "--memory: chunked robust rules give byte-identical results" {
	local i rule w
	mkdir u
	for i in $(seq 1 9); do
		w=$(awk -v i="$i" 'BEGIN { for (k = 0; k < 3000; k++)
		    printf "%s%.9g", k ? "," : "", sin(i * 3000 + k) * (1 + i % 3) }')
		seq 700 | awk -v i="$i" '{ print $1 * i % 17 }' > c.txt
		# Compressed and stored records, several tensors, f32 and f64.
		# shellcheck disable=SC2046
		fl-pack $([ $((i % 2)) = 0 ] && echo -z) -m client="c$i" \
		    -t "w:f32:3000=$w" -t "z:f32:[0]=" -t "b:f64:3=$i,2,-$i" \
		    -t "c:f32:700=@c.txt" -o "u/u$i.flt"
	done
	for rule in median trimmed-mean "krum -f 2" "krum -f 1 --select=4"; do
		# shellcheck disable=SC2086
		fl-aggregate -r $rule u/*.flt > all.flt
		for m in 30k 100k 250k; do
			# shellcheck disable=SC2086
			fl-aggregate -r $rule --memory=$m u/*.flt > chunked.flt
			cmp all.flt chunked.flt || fail "$rule --memory=$m differs"
		done
	done
	# With a norm bound too.
	fl-aggregate -r median --norm-bound=10 u/*.flt > all.flt
	fl-aggregate -r median --norm-bound=10 --memory=30k u/*.flt > chunked.flt
	cmp all.flt chunked.flt
}

@test "--memory: standard input cannot be re-read, and a file that changes is caught" {
	updates 6 u
	run --separate-stderr bash -c 'cat u/*.flt | fl-aggregate -r median --memory=1k > out.flt'
	refused "<stdin> cannot be re-read in chunks: raise --memory, or give regular files (standard input cannot be re-read)"
	cat u/*.flt | fl-aggregate -r median --memory=1M > m.flt
	fl-aggregate -r median u/*.flt > m2.flt
	cmp m.flt m2.flt
	run --separate-stderr agg -r median --memory=1k u/*.flt
	refused "--memory 1024 is too small for 6 updates: give at least 12288"
}

# ---- the log ----

@test "--log: one JSON line per aggregation, appended, without client ids" {
	$PYTHON -c 'import json' || skip
	updates 4 u
	fl-aggregate --log=round.log u/*.flt > m.flt
	fl-aggregate --log=round.log -r median u/*.flt > m.flt
	assert_equal "$(wc -l < round.log)" 2
	run grep -c 'c1' round.log
	assert_output 0
	run $PYTHON -c '
import json
a, b = [json.loads(l) for l in open("round.log")]
assert a["round"] == 1 and a["rule"] == "mean" and a["clients"] == 4, a
assert a["records"] == 4 and a["weight"] == 10 and a["dropped"] == 0, a
assert a["rejected"] == 0 and a["bounded"] == 0, a
n = a["norm"]; assert 0 < n["min"] <= n["median"] <= n["max"], a
assert b["rule"] == "median" and b["weight"] == 10, b
print(sorted(a))'
	assert_success
	assert_output "['bounded', 'clients', 'dropped', 'norm', 'records', 'rejected', 'round', 'rule', 'weight']"
	# A failed round writes no line, and an unwritable log fails early.
	run fl-aggregate --log=round.log -n 9 u/*.flt
	assert_equal "$(wc -l < round.log)" 2
	run --separate-stderr fl-aggregate --log=no/such/log u/*.flt
	assert_equal "$status" 1
	assert_equal "$stderr" "fl-aggregate: no/such/log: No such file or directory"
	# Integer records have no norms.
	pk r.flt -m modulus=16 -t q:u8=1
	fl-aggregate -r sum --log=int.log r.flt > s.flt
	grep -q '"norm":{"min":null,"median":null,"max":null}' int.log
}

@test "-o: the aggregate appears only complete; an existing file survives a failure" {
	updates 3 u
	fl-aggregate -o m.flt u/*.flt
	fl-aggregate u/*.flt | cmp - m.flt
	pk bad.flt -m weight=1 -t w:f32=1
	echo old > m.flt
	run fl-aggregate -o m.flt u/*.flt bad.flt
	assert_equal "$status" 1
	assert_equal "$(cat m.flt)" old
	no_temp
}
