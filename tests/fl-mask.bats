#!/usr/bin/env bats
# fl-mask and fl-aggregate --roster/--shares/--reveals: secure aggregation
# (SecAgg, SecAgg+) against a lying server.  Exact sums for 3 to 200
# clients with dropouts at every stage (examples/secagg.sh runs whole
# rounds), the threshold and the quorum, one masked record looking
# uniform, envelopes that are tampered with, replayed or sent to the wrong
# client, the one-answer rule of the unmask request (one confirmed
# survivor list), no secret in anything sent, and every bad input refused
# with nothing written.  The attacks on the new protections (a second
# roster, masking or confirming twice, forged confirmations, the
# enrolment) are in secagg-attacks.bats.

load helper
load records

SECAGG=$TOP/examples/secagg.sh

# The operator's enrolment of the test's devices (see ids).
ENROL=$BATS_TEST_TMPDIR/enrol.flt

# The graph options of the roster, which every client's --share is given
# too (a client refuses a roster whose k, t or corrupt count differ from
# what its own options give).  Five clients: the full graph and threshold
# 3, which the rule t > (k + 1 + c) / 2 allows only with no corrupt share
# holder (--corrupt 0: c = 0, and 3 > 5 / 2); the round then needs a
# quorum of max(t, floor(n / 2) + 1) = 3 confirmations.
GRAPH=(--corrupt 0 --degree 4 --threshold 3)

# ids N: the devices' long-term identities, made once per test in its
# directory (every round and subdirectory of the test uses them): the
# operator's op.id (public op.pub), the clients' c1.id..cN.id (public
# cI.idpub, trusting op.pub) and the operator's enrolment enrol.flt of
# c1..cN, all from --seed t.  A later call with a larger N adds the
# missing ones and enrols them too.
ids() {
	local d=$BATS_TEST_TMPDIR i pubs=()
	[ -e "$d/c$1.id" ] && return 0
	if [ ! -e "$d/op.id" ]; then
		fl-mask --make-identity --client op -i "$d/op.id" --seed t \
		    -o "$d/op.pub"
	fi
	for ((i = 1; i <= $1; i++)); do
		if [ ! -e "$d/c$i.id" ]; then
			fl-mask --make-identity --client "c$i" -i "$d/c$i.id" \
			    --operator "$d/op.pub" --seed t -o "$d/c$i.idpub"
		fi
		pubs+=("$d/c$i.idpub")
	done
	fl-mask --make-enrolment -i "$d/op.id" -o "$ENROL" "${pubs[@]}"
}

# keys N [SEED [ROUND]]: the identities (ids N), then the key files
# c1.key..cN.key of round ROUND (3), made from SEED, and the public keys
# c1.pub..cN.pub, signed by the identities.
keys() {
	local i
	ids "$1"
	for ((i = 1; i <= $1; i++)); do
		fl-mask --keygen --round "${3:-3}" -k "c$i.key" \
		    -i "$BATS_TEST_TMPDIR/c$i.id" --seed "${2:-t}" -o "c$i.pub"
	done
}

# share I...: clients I... check roster.flt against the enrolment and
# their own graph options (GRAPH, as the roster's) and make their share
# envelopes cI.shares.
share() {
	local i
	for i in "$@"; do
		fl-mask --share -k "c$i.key" -r roster.flt -e "$ENROL" \
		    --min-clients 3 "${GRAPH[@]}" -o "c$i.shares"
	done
}

# round5: five clients of round 3 (GRAPH: full graph, threshold 3) that
# all shared: roster.flt, shares.flt, and ring inputs c1.ring..c5.ring.
round5() {
	local i
	keys 5
	cat c?.pub | fl-mask --make-roster -e "$ENROL" "${GRAPH[@]}" \
	    -o roster.flt
	share 1 2 3 4 5
	for i in 1 2 3 4 5; do
		fl-pack -m kind=update -m modulus=65536 -m round=3 \
		    -t "w:u32=$i,$((i * 1000)),65535" -o "c$i.ring"
	done
	cat c?.shares > shares.flt
}

# mask I...: clients I... mask their ring input into cI.masked.
mask() {
	local i
	for i in "$@"; do
		fl-mask -k "c$i.key" -r roster.flt -s shares.flt -o "c$i.masked" \
		    "c$i.ring"
	done
}

# confirm SURVIVORS I...: clients I... sign the survivor list SURVIVORS
# (cI.confirm); the server collects every confirmation there is into
# confirms.flt.
confirm() {
	local s=$1 i
	shift
	for i in "$@"; do
		fl-mask --confirm "$s" -k "c$i.key" \
		    -i "$BATS_TEST_TMPDIR/c$i.id" -r roster.flt -s shares.flt \
		    -o "c$i.confirm"
	done
	cat c*.confirm > confirms.flt
}

# reveal SURVIVORS I...: clients I... answer the unmask request for
# SURVIVORS, given the confirmations confirms.flt.
reveal() {
	local s=$1 i
	shift
	for i in "$@"; do
		fl-mask --reveal "$s" -k "c$i.key" -r roster.flt -s shares.flt \
		    --confirmations confirms.flt -o "c$i.reveal"
	done
}

# chi2 FILE: the chi-square statistic of the words of tensor w of FILE
# over 256 buckets of their top byte (16-bit words) and, printed second,
# of their low byte.
chi2() {
	fl-inspect -d w "$1" | awk '
	    { hi[int($1 / 256) % 256]++; lo[$1 % 256]++ }
	    END { e = NR / 256
		for (b = 0; b < 256; b++) {
			x += (hi[b] - e) ^ 2 / e; y += (lo[b] - e) ^ 2 / e }
		printf "%.1f %.1f\n", x, y }'
}

# ---- whole rounds: exact sums ----

# The threshold rule counts corrupt share holders, t > (k + 1 + c) / 2,
# and the default 5% corrupt clients are at least one: the rounds below
# that keep today's small thresholds say --corrupt 0.

@test "secagg.sh: 3 clients, full graph, no dropout: exact sum" {
	run "$SECAGG" -n 3 --corrupt 0 -d r
	assert_success
	assert_output "secagg: 3 clients, 3 survivors, sum exact (3 reveals, k=2, t=2)"
	[ "$(fl-inspect -g clients r/sum.flt)" = 3 ]
	cmp <(fl-inspect -d w r/sum.flt) <(fl-inspect -d w r/expected.flt)
	# The roster's colluding clients travel to the ledger with the sum.
	[ "$(fl-inspect -g secagg.corrupt r/sum.flt)" = 0 ]
}

@test "secagg.sh: 5 clients, t=3: n - t dropouts at each stage" {
	run "$SECAGG" -n 5 --corrupt 0 --degree 4 --threshold 3 \
	    --drop-before-share 2,4
	assert_success
	assert_output --partial "5 clients, 3 survivors, sum exact (3 reveals"
	run "$SECAGG" -n 5 --corrupt 0 --degree 4 --threshold 3 \
	    --drop-before-mask 1,5
	assert_success
	assert_output --partial "5 clients, 3 survivors, sum exact (3 reveals"
	run "$SECAGG" -n 5 --corrupt 0 --degree 4 --threshold 3 \
	    --drop-during-reveal 3,5
	assert_success
	assert_output --partial "5 clients, 5 survivors, sum exact (3 reveals"
	run "$SECAGG" -n 5 --corrupt 0 --degree 4 --threshold 3 \
	    --drop-before-share 1 --drop-before-mask 2
	assert_success
	assert_output --partial "5 clients, 3 survivors, sum exact"
}

@test "secagg.sh: 10 clients, full graph, n - t = 4 dropouts over all stages" {
	run "$SECAGG" -n 10 --degree 9 --threshold 6 --bits 32 \
	    --drop-before-share 1 --drop-before-mask 3,4 \
	    --drop-during-reveal 5 -d r
	assert_success
	assert_output "secagg: 10 clients, 7 survivors, sum exact (6 reveals, k=9, t=6)"
	[ "$(fl-inspect -g modulus r/sum.flt)" = 4294967296 ]
	# One dropout more and the round cannot finish: it fails loudly.
	run --separate-stderr "$SECAGG" -n 10 --degree 9 --threshold 6 \
	    --drop-before-share 1 --drop-before-mask 3,4 \
	    --drop-during-reveal 5,6
	assert_failure
	[[ $stderr == *"fewer than the threshold 6"* ]] ||
	    fail "stderr: $stderr"
	[[ $output != *"sum exact"* ]] || fail "claimed success: $output"
}

@test "secagg.sh: 10 clients by the default rule use the full graph" {
	not_under_sanitizers "the whole script; fl-mask's default rule is tested on its own"
	run "$SECAGG" -n 10 -d r --dim 100 --seed other
	assert_success
	assert_output --partial "10 clients, 10 survivors, sum exact"
	[ "$(fl-inspect r/roster.flt | sed -n 's/^  secagg\.k=//p')" = 9 ]
}

@test "secagg.sh: 40 clients, SecAgg+ (k=8 < n-1), dropouts at every stage" {
	run "$SECAGG" -n 40 --corrupt 0 --degree 8 --threshold 5 \
	    --drop-before-share 7 --drop-before-mask 19,33 \
	    --drop-during-reveal 2,25 -d r
	assert_success
	assert_output "secagg: 40 clients, 37 survivors, sum exact (35 reveals, k=8, t=5)"
	run fl-inspect r/roster.flt
	assert_output --partial "secagg.k=8"
	assert_output --partial "secagg.n=40"
	# The graph is sparse: a client's shares went to k + 1 = 9 holders.
	[ "$(fl-inspect -d to r/c1.shares | wc -l)" = 9 ]
}

@test "secagg.sh: 40 clients, float updates through fl-quantize --ring" {
	not_under_sanitizers "the whole script; the ring encoding has its own tests"
	run "$SECAGG" -n 40 --corrupt 0 --degree 10 --threshold 6 --float \
	    --bits 20 --drop-before-share 4 --drop-before-mask 8 \
	    --drop-during-reveal 9 -d r
	assert_success
	assert_output --partial "40 clients, 38 survivors, sum exact"
	# The unmasked sum decodes to the sum of the survivors' floats.
	fl-quantize -d r/sum.flt -o r/dec.flt
	sed 's/$/.vals/; s|^|r/|' r/survivors | xargs cat | tr , ' ' |
	    awk '{ for (j = 1; j <= NF; j++) s[j] += $j }
		END { for (j = 1; j <= NF; j++) print s[j] }' > want
	paste want <(fl-inspect -d w r/dec.flt) | awk '
	    { d = $1 - $2; d = d < 0 ? -d : d; if (d > m) m = d }
	    END { print "max error", m; exit !(NR == 16 && m < 0.01) }'
}

@test "secagg.sh: the examples in its header run and the sums are exact" {
	not_under_sanitizers "the header's examples, run as scripts"
	local cmd n=0
	# Each "#   examples/secagg.sh ..." command, continuation lines
	# joined.
	while IFS= read -r cmd; do
		n=$((n + 1))
		eval "run ${cmd/examples\/secagg.sh/\"\$SECAGG\"} -d ex$n"
		assert_success
		assert_output --partial "sum exact"
	done < <(sed -n '/^set -euo/q; s/^#   *//p' "$SECAGG" |
	    awk '/^examples\/secagg\.sh/ { c = $0; while (c ~ /\\$/) {
		sub(/\\$/, "", c); getline l; sub(/^ */, " ", l); c = c l }
		print c }')
	[ "$n" -eq 2 ] || fail "found $n examples"
}

@test "secagg.sh: 200 clients, SecAgg+ by the default rule, dropouts at every stage" {
	not_under_sanitizers "200 clients through the whole script"
	run "$SECAGG" -n 200 -j 2 --drop-before-share 10,110 \
	    --drop-before-mask 20,120 --drop-during-reveal 30,130 -d r
	assert_success
	assert_output --partial "secagg: 200 clients, 196 survivors, sum exact (194 reveals"
	k=$(fl-inspect r/roster.flt | sed -n 's/^  secagg\.k=//p')
	[ "$k" -ge 2 ] && [ "$k" -lt 199 ] || fail "secagg.k=$k: not SecAgg+"
	[ "$(fl-inspect -g clients r/sum.flt)" = 196 ]
	# ceil(0.05 x 200) clients assumed colluding, for the ledger.
	[ "$(fl-inspect -g secagg.corrupt r/sum.flt)" = 10 ]
}

@test "secagg.sh: the final check fails when the sums differ" {
	real=$(command -v fl-aggregate)
	mkdir fake
	# An fl-aggregate that unmasks one off in the first value.
	cat > fake/fl-aggregate <<EOF
#!/bin/bash
set -e
"$real" "\$@"
case " \$* " in *" --roster "*) ;; *) exit 0 ;; esac
fl-inspect -d w sum.flt | awk 'NR == 1 { \$1 = (\$1 + 1) % 65536 } 1' > v
fl-pack -m kind=aggregate -m agg=sum -m round=3 -m modulus=65536 \
    -m clients=\$(fl-inspect -g clients sum.flt) -t w:u32=@v -o sum.flt
EOF
	chmod +x fake/fl-aggregate
	FL_BIN=$PWD/fake run --separate-stderr "$SECAGG" -n 4 -d r
	assert_failure
	[[ $stderr == *"differs"* ]] || fail "stderr: $stderr"
	[[ $output != *"sum exact"* ]] || fail "claimed success: $output"
}

@test "secagg.sh: --help, and usage errors exit 2" {
	run "$SECAGG" --help
	assert_success
	assert_output --partial "usage: secagg.sh"
	run "$SECAGG" --bogus
	assert_equal "$status" 2
	run "$SECAGG" -n 2
	assert_equal "$status" 2
	run "$SECAGG" -n 5 --drop-before-mask 6
	assert_equal "$status" 2
	run "$SECAGG" -n 5 --degree 4 --dropout 0.1
	assert_equal "$status" 2
}

@test "fl-mask -j and fl-aggregate -j: the same bytes for any thread count" {
	round5
	seq 0 9999 > v
	fl-pack -m kind=update -m modulus=1048576 -m round=3 -t w:u32=@v \
	    -o big.ring
	for i in 1 2 3 4; do cp big.ring "c$i.ring"; done
	mask 1 2 3 4
	# The same update masked again (with 2 threads): the same bytes.
	fl-mask -j 2 -k c1.key -r roster.flt -s shares.flt -o j.masked c1.ring
	cmp j.masked c1.masked
	printf 'c1\nc2\nc3\nc4\n' > survivors
	confirm survivors 1 2 3 4
	reveal survivors 1 2 3 4
	cat c?.reveal > reveals.flt
	fl-aggregate --roster roster.flt --shares shares.flt \
	    --reveals reveals.flt -o s1.flt c?.masked
	fl-aggregate -j 2 --roster roster.flt --shares shares.flt \
	    --reveals reveals.flt -o s2.flt c?.masked
	cmp s1.flt s2.flt
	fl-aggregate -r sum -o plain.flt c[1-4].ring
	cmp <(fl-inspect -d w s1.flt) <(fl-inspect -d w plain.flt)
}

@test "fl-mask -k K1 -k K2...: a stream of updates, each masked as by its own call" {
	round5
	mask 1 2 3 4
	cat c1.ring c2.ring c3.ring | fl-mask -k c1.key -k c2.key -k c3.key \
	    -r roster.flt -s shares.flt -o three.masked
	cat c1.masked c2.masked c3.masked | cmp - three.masked
	# The server takes them as one file among the others.
	printf 'c1\nc2\nc3\nc4\n' > survivors
	confirm survivors 1 2 3 4
	reveal survivors 1 2 3 4
	cat c?.reveal > reveals.flt
	fl-aggregate --roster roster.flt --shares shares.flt \
	    --reveals reveals.flt -o s1.flt c1.masked c2.masked c3.masked \
	    c4.masked
	fl-aggregate --roster roster.flt --shares shares.flt \
	    --reveals reveals.flt -o s2.flt three.masked c4.masked
	cmp s1.flt s2.flt
	# Fewer or more updates than key files: refused before any key file
	# is touched, nothing written.
	cp c5.key c5.before
	run --separate-stderr fl-mask -k c5.key -k c4.key -r roster.flt \
	    -s shares.flt -o x.flt < c5.ring
	assert_equal "$status" 1
	assert_equal "$stderr" "fl-mask: <stdin>: 1 updates for 2 key files"
	cat c5.ring c4.ring c4.ring > three.ring
	run --separate-stderr fl-mask -k c5.key -k c4.key -r roster.flt \
	    -s shares.flt -o x.flt three.ring
	assert_equal "$status" 1
	assert_equal "$stderr" \
	    "fl-mask: three.ring: record 3: one update per key file"
	[ ! -e x.flt ]
	cmp c5.key c5.before
}

@test "fl-mask: every step of several devices in one call, as each alone" {
	local d=$BATS_TEST_TMPDIR
	ids 5
	# --keygen: the same public keys (seeded) as one call per device.
	fl-mask --keygen --round 3 -k c1.key -k c2.key -k c3.key -k c4.key \
	    -k c5.key -i "$d/c1.id" -i "$d/c2.id" -i "$d/c3.id" \
	    -i "$d/c4.id" -i "$d/c5.id" --seed t -o pubs.flt
	mkdir one
	(cd one && keys 5)
	cat one/c?.pub | cmp - pubs.flt
	for i in 1 2 3 4 5; do cmp "c$i.key" "one/c$i.key"; done
	fl-mask --make-roster -e "$ENROL" "${GRAPH[@]}" -o roster.flt pubs.flt
	# --share, masking, --confirm, --reveal by batches; the sum is exact.
	fl-mask --share -k c1.key -k c2.key -k c3.key -r roster.flt \
	    -e "$ENROL" --min-clients 3 "${GRAPH[@]}" -o s1.flt
	fl-mask --share -k c4.key -k c5.key -r roster.flt -e "$ENROL" \
	    --min-clients 3 "${GRAPH[@]}" -o s2.flt
	cat s1.flt s2.flt > shares.flt
	[ "$(fl-inspect -g client shares.flt | sort -u | wc -l)" = 5 ]
	for i in 1 2 3 4; do
		fl-pack -m kind=update -m modulus=65536 -m round=3 \
		    -t "w:u32=$i,$((i * 1000)),65535" -o "c$i.ring"
	done
	# (the key files as they are before masking: each device alone
	# below, for the same bytes)
	mkdir alone
	cp c[1-4].key alone/
	cat c[1-4].ring | fl-mask -k c1.key -k c2.key -k c3.key -k c4.key \
	    -r roster.flt -s shares.flt -o masked.flt
	printf 'c1\nc2\nc3\nc4\n' > survivors
	fl-mask --confirm survivors -k c1.key -k c2.key -k c3.key -k c4.key \
	    -i "$d/c1.id" -i "$d/c2.id" -i "$d/c3.id" -i "$d/c4.id" \
	    -r roster.flt -s shares.flt -o confirms.flt
	fl-mask --reveal survivors -k c1.key -k c2.key -k c3.key \
	    -r roster.flt -s shares.flt --confirmations confirms.flt \
	    -o reveals.flt
	fl-aggregate --roster roster.flt --shares shares.flt \
	    --reveals reveals.flt -o sum.flt masked.flt
	fl-aggregate -r sum -o plain.flt c[1-4].ring
	cmp <(fl-inspect -d w sum.flt) <(fl-inspect -d w plain.flt)
	# The roster and the shares file are read once for a batch: each
	# device's masked update, confirmation and reveal are the bytes of
	# its call alone.
	for i in 1 2 3 4; do
		fl-mask -k "alone/c$i.key" -r roster.flt -s shares.flt \
		    -o "alone/m$i.flt" "c$i.ring"
	done
	cat alone/m[1-4].flt | cmp - masked.flt
	for i in 1 2 3 4; do
		fl-mask --confirm survivors -k "alone/c$i.key" -i "$d/c$i.id" \
		    -r roster.flt -s shares.flt -o "alone/f$i.flt"
	done
	cat alone/f[1-4].flt | cmp - confirms.flt
	for i in 1 2 3; do
		fl-mask --reveal survivors -k "alone/c$i.key" -r roster.flt \
		    -s shares.flt --confirmations confirms.flt \
		    -o "alone/r$i.flt"
	done
	cat alone/r[1-3].flt | cmp - reveals.flt
	# --forget: every key file.
	fl-mask --forget -k c1.key -k c2.key -k c3.key -k c4.key -k c5.key
	[ -z "$(find . -maxdepth 1 -name 'c*.key')" ]
	# --make-identity: several --client, each with its -i: the public
	# records of the separate calls, in order; the identity files the
	# same bytes, 0600.
	fl-mask --make-identity --client c1 -i m1.id --client c2 -i m2.id \
	    --client c3 -i m3.id --operator "$d/op.pub" --seed t -o idpubs.flt
	cat "$d/c1.idpub" "$d/c2.idpub" "$d/c3.idpub" | cmp - idpubs.flt
	for i in 1 2 3; do
		cmp "m$i.id" "$d/c$i.id"
		[ "$(stat -c %a "m$i.id")" = 600 ]
	done
	# One that exists: none is made.
	run --separate-stderr fl-mask --make-identity --client n1 -i n1.id \
	    --client n2 -i m2.id -o out.flt
	assert_equal "$status" 1
	assert_equal "$stderr" "fl-mask: m2.id: exists: a device's identity is made once"
	[ ! -e n1.id ]
	[ ! -e out.flt ]
	# An identity per key file for --keygen and --confirm, in order;
	# several -k are not for the operator's and server's steps; an
	# identity file per --client, each client once.
	for args in "--keygen --round 3 -k x1.key -k x2.key -i $d/c1.id" \
	    "--keygen --round 3 -k x1.key -i $d/c1.id -i $d/c2.id" \
	    "--make-roster -e $ENROL -k x1.key -k x2.key pubs.flt" \
	    "--make-identity --client n -i n1.id -i n2.id" \
	    "--make-identity --client n --client o -i n1.id" \
	    "--make-identity --client n -i n1.id --client n -i n2.id" \
	    "--make-identity --client n -i n1.id --client o -i n1.id"; do
		# shellcheck disable=SC2086
		run --separate-stderr fl-mask $args -o out.flt
		assert_equal "$status" 2
		[ ! -e out.flt ]
		[ ! -e x1.key ]
		[ ! -e n1.id ]
	done
}

# ---- the threshold ----

# With --corrupt 0 the quorum of survivors a round needs is t = 3 here.
@test "fewer than t survivors: fl-mask --confirm and --reveal refuse, fl-aggregate aborts" {
	round5
	mask 1 2
	printf 'c1\nc2\n' > survivors
	run --separate-stderr fl-mask --confirm survivors -k c1.key -i c1.id \
	    -r roster.flt -s shares.flt -o c1.confirm
	refused survivors "2 survivors, fewer than the 3 the round needs" \
	    c1.confirm
	: > confirms.flt
	run --separate-stderr fl-mask --reveal survivors -k c1.key \
	    -r roster.flt -s shares.flt --confirmations confirms.flt \
	    -o c1.reveal
	refused survivors "2 survivors, fewer than the 3 the round needs" \
	    c1.reveal
	# The key file did not record a confirmation: a later request with
	# enough survivors is confirmed and answered.
	mask 3
	printf 'c1\nc2\nc3\n' > survivors
	confirm survivors 1 2 3
	reveal survivors 1 2
	cat c1.reveal c2.reveal > reveals.flt
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares shares.flt --reveals reveals.flt -o sum.flt c1.masked \
	    c2.masked c3.masked
	refused reveals.flt "fewer than the threshold 3" sum.flt
	[[ $stderr == *"aborted"* ]] || fail "stderr: $stderr"
	# With the third answer the round finishes.
	reveal survivors 3
	cat c?.reveal > reveals.flt
	fl-aggregate --roster roster.flt --shares shares.flt \
	    --reveals reveals.flt -o sum.flt c1.masked c2.masked c3.masked
	fl-aggregate -r sum -o plain.flt c1.ring c2.ring c3.ring
	cmp <(fl-inspect -d w sum.flt) <(fl-inspect -d w plain.flt)
}

@test "fl-mask: refuses to mask when fewer than t of its holders shared" {
	round5
	cat c1.shares c2.shares > two.flt
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s two.flt \
	    -o c1.masked c1.ring
	refused two.flt "fewer than the threshold 3" c1.masked
}

# ---- what the server sees ----

@test "one masked record of zeros is indistinguishable from uniform (chi-square)" {
	round5
	awk 'BEGIN { for (i = 0; i < 65536; i++) print 0 }' > zeros
	fl-pack -m kind=update -m modulus=65536 -m round=3 -t w:u32=@zeros \
	    -o c1.ring
	mask 1
	[ "$(fl-inspect -d w c1.masked | wc -l)" = 65536 ]
	# 255 degrees of freedom: 330 is about the 99.9% critical value.
	read -r hi lo < <(chi2 c1.masked)
	awk -v x="$hi" -v y="$lo" 'BEGIN { exit !(x < 330 && y < 330) }' ||
	    fail "masked zeros: chi-square $hi (top byte), $lo (low byte)"
	# The same test rejects the unmasked record: it can fail.
	read -r hi lo < <(chi2 c1.ring)
	awk -v x="$hi" -v y="$lo" 'BEGIN { exit !(x > 330 && y > 330) }' ||
	    fail "zeros pass as uniform: chi-square $hi, $lo"
	# And the mask is not one client's constant: c2's differs.
	cp c1.ring c2.ring
	mask 2
	! cmp -s <(fl-inspect -d w c1.masked) <(fl-inspect -d w c2.masked)
}

@test "no secret in anything sent to the server; key and identity files are 0600" {
	umask 000
	round5
	mask 1 2 3 4
	printf 'c1\nc2\nc3\nc4\n' > survivors
	confirm survivors 1 2 3 4
	reveal survivors 1 2 3 4
	for i in 1 2 3 4 5; do
		assert_equal "$(stat -c %a "c$i.key")" 600
		assert_equal "$(stat -c %a "c$i.id")" 600
	done
	assert_equal "$(stat -c %a op.id)" 600
	cat > scan.py <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import flt
# The secret tensors of a key file and of an identity file.
SECRETS = {"secagg-secret": ("sk.mask-seed", "sk.box-seed", "sk.self"),
           "secagg-identity-secret": ("sk.identity-seed",)}
args = sys.argv[2:]
cut = args.index("--")
secrets = []
for k in args[:cut]:
    with open(k, "rb") as f:
        for m, t in flt.read_records(f):
            for name in SECRETS[m["kind"]]:
                s = bytes(t[name])
                assert len(s) == 32
                secrets.append((k, name, s))
found = 0
for path in args[cut + 1:]:
    data = open(path, "rb").read()
    for k, name, s in secrets:
        # The bytes, either half of them, or their hex anywhere.
        for w in (s, s[:16], s[16:], s.hex().encode(), s.hex().upper().encode()):
            if w in data:
                print(f"{path}: holds {name} of {k}")
                found += 1
print(f"{len(secrets)} secrets, {len(args) - cut - 1} files, {found} found")
sys.exit(1 if found else 0)
EOF
	run "$PYTHON" scan.py "$TOP/examples/python" c?.key c?.id op.id -- \
	    c?.pub c?.idpub op.pub enrol.flt roster.flt c?.shares shares.flt \
	    c?.masked c?.confirm confirms.flt c?.reveal
	assert_success
	assert_output "21 secrets, 32 files, 0 found"
	# The scan finds a secret where there is one.
	run "$PYTHON" scan.py "$TOP/examples/python" c?.key c?.id op.id -- \
	    c3.key c3.id
	assert_failure
	assert_output --partial "c3.key: holds sk.self of c3.key"
	assert_output --partial "c3.id: holds sk.identity-seed of c3.id"
}

@test "a key file readable by others is refused at every step" {
	round5
	mask 1 2 3
	printf 'c1\nc2\nc3\n' > survivors
	confirm survivors 1 2 3
	chmod 640 c1.key
	run --separate-stderr fl-mask --share -k c1.key -r roster.flt \
	    -e enrol.flt --min-clients 3 "${GRAPH[@]}" -o x.flt
	refused c1.key "readable by others" x.flt
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s shares.flt \
	    -o x.flt c1.ring
	refused c1.key "readable by others" x.flt
	run --separate-stderr fl-mask --confirm survivors -k c1.key -i c1.id \
	    -r roster.flt -s shares.flt -o x.flt
	refused c1.key "readable by others" x.flt
	run --separate-stderr fl-mask --reveal survivors -k c1.key \
	    -r roster.flt -s shares.flt --confirmations confirms.flt -o x.flt
	refused c1.key "readable by others" x.flt
	chmod 604 c1.key
	run --separate-stderr fl-mask --share -k c1.key -r roster.flt \
	    -e enrol.flt --min-clients 3 "${GRAPH[@]}" -o x.flt
	refused c1.key "readable by others" x.flt
}

# ---- share envelopes ----

@test "a tampered envelope is rejected by its recipient, naming the file" {
	round5
	# Flip one byte inside the box c2 sent to c1 (checksums recomputed,
	# so only the authentication can catch it).
	edit shares.flt bad.flt '
for m, t in recs:
    if m["client"] == "c2":
        row = list(t["to"]).index(1)
        t["box"][row, 40] ^= 0x01'
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s bad.flt \
	    -o c1.masked c1.ring
	refused bad.flt "fails authentication" c1.masked
	[[ $stderr == *"record 2"* ]] || fail "stderr: $stderr"
	# Refused masking, c1 is no survivor: it confirms nothing (the
	# consistency round needs only who shared, not the envelopes).
	run --separate-stderr fl-mask --confirm <(printf 'c1\nc2\nc3\n') \
	    -k c1.key -i c1.id -r roster.flt -s bad.flt -o c1.confirm
	refused c1.key "has masked no update" c1.confirm
	: > confirms.flt
	run --separate-stderr fl-mask --reveal <(printf 'c1\nc2\nc3\n') \
	    -k c1.key -r roster.flt -s bad.flt --confirmations confirms.flt \
	    -o c1.reveal
	refused bad.flt "fails authentication" c1.reveal
	# Another recipient does not open that box and is not affected.
	fl-mask -k c3.key -r roster.flt -s bad.flt -o c3.masked c3.ring
	# A byte flipped in the file itself fails the payload checksum.
	cp shares.flt raw.flt
	"$PYTHON" -c '
import sys
b = bytearray(open("raw.flt", "rb").read())
b[len(b) - 100] ^= 0x80
open("raw.flt", "wb").write(b)'
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s raw.flt \
	    -o c1.masked c1.ring
	refused raw.flt "record 5" c1.masked
}

@test "an envelope for another recipient is rejected" {
	round5
	# Swap the boxes c2 sent to c1 and to c3.
	edit shares.flt bad.flt '
for m, t in recs:
    if m["client"] == "c2":
        to = list(t["to"])
        a, b = to.index(1), to.index(3)
        t["box"][[a, b]] = t["box"][[b, a]]'
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s bad.flt \
	    -o c1.masked c1.ring
	refused bad.flt "from client 2 to client 1 fails authentication" \
	    c1.masked
	run --separate-stderr fl-mask -k c3.key -r roster.flt -s bad.flt \
	    -o c3.masked c3.ring
	refused bad.flt "from client 2 to client 3 fails authentication" \
	    c3.masked
	# Relabelling the list instead: c1 gets c3's box under its number.
	edit shares.flt bad2.flt '
for m, t in recs:
    if m["client"] == "c2":
        to = list(t["to"])
        a, b = to.index(1), to.index(3)
        t["to"][a], t["to"][b] = 3, 1'
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s bad2.flt \
	    -o c1.masked c1.ring
	refused bad2.flt "fails authentication" c1.masked
}

@test "replayed envelopes of another round or session are rejected" {
	round5
	# Round 2, the same clients (the same identities), other keys.
	mkdir old
	(cd old && keys 5 old 2 && cat c?.pub |
	    fl-mask --make-roster -e "$ENROL" "${GRAPH[@]}" -o roster.flt &&
	    share 2)
	cat c1.shares old/c2.shares c3.shares c4.shares c5.shares > replay.flt
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s replay.flt \
	    -o c1.masked c1.ring
	refused replay.flt "round 2, the roster is of round 3" c1.masked
	# Relabelled as this round and session, the box still fails.
	session=$(fl-inspect roster.flt | sed -n 's/^  secagg\.session=//p')
	edit old/c2.shares relabel.flt "
for m, t in recs:
    m['round'] = '3'
    m['secagg.session'] = '$session'"
	cat c1.shares relabel.flt c3.shares c4.shares c5.shares > replay.flt
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s replay.flt \
	    -o c1.masked c1.ring
	refused replay.flt "fails authentication" c1.masked
	# The same keys, but another roster (session, threshold 4): c2's
	# envelopes made for it are refused as they are, and when
	# relabelled.  c2.key, bound to roster.flt, would not share for
	# it: a fresh key file of the same keys (the same --seed) does.
	cat c?.pub | fl-mask --make-roster -e "$ENROL" --corrupt 0 \
	    --degree 4 --threshold 4 -o other.flt
	mkdir same
	(cd same && fl-mask --keygen --round 3 -k c2.key -i ../c2.id \
	    --seed t -o c2.pub && cmp c2.pub ../c2.pub &&
	    fl-mask --share -k c2.key -r ../other.flt -e "$ENROL" \
		--min-clients 3 --corrupt 0 --degree 4 --threshold 4 \
		-o ../c2.other)
	cat c1.shares c2.other c3.shares c4.shares c5.shares > replay.flt
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s replay.flt \
	    -o c1.masked c1.ring
	refused replay.flt "another session" c1.masked
	# (Its Feldman commitments, one row per coefficient, are cut to
	# this roster's t = 3 rows, so that only the box can tell.)
	edit c2.other relabel.flt "
for m, t in recs:
    m['secagg.session'] = '$session'
    t['commit.mask'] = t['commit.mask'][:3]
    t['commit.self'] = t['commit.self'][:3]"
	cat c1.shares relabel.flt c3.shares c4.shares c5.shares > replay.flt
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s replay.flt \
	    -o c1.masked c1.ring
	refused replay.flt "fails authentication" c1.masked
	# A client's envelopes given twice.
	cat shares.flt c2.shares > twice.flt
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s twice.flt \
	    -o c1.masked c1.ring
	refused twice.flt "client 'c2' shared twice" c1.masked
}

@test "shares without this client's own envelopes: it is out of the round" {
	round5
	cat c2.shares c3.shares c4.shares c5.shares > four.flt
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s four.flt \
	    -o c1.masked c1.ring
	refused four.flt "no shares from this client" c1.masked
}

# ---- the unmask request ----

@test "--reveal: one answer per round, idempotent, never both shares of a client" {
	round5
	mask 1 2 3 4
	printf 'c1\nc2\nc3\nc4\n' > survivors
	confirm survivors 1 2 3 4
	reveal survivors 1 2 3 4
	# The same request again: the same answer; the same confirmation
	# again: the same signature.
	fl-mask --reveal survivors -k c1.key -r roster.flt -s shares.flt \
	    --confirmations confirms.flt -o again.reveal
	cmp again.reveal c1.reveal
	fl-mask --confirm survivors -k c1.key -i c1.id -r roster.flt \
	    -s shares.flt -o again.confirm
	cmp again.confirm c1.confirm
	# Another survivor list would expose c4 (its self-mask share was
	# sent, now its mask-key share would be): c1 does not confirm it,
	# and answers only for the list it confirmed.
	printf 'c1\nc2\nc3\n' > fewer
	run --separate-stderr fl-mask --confirm fewer -k c1.key -i c1.id \
	    -r roster.flt -s shares.flt -o second.confirm
	refused fewer "this client already confirmed another set of survivors" \
	    second.confirm
	run --separate-stderr fl-mask --reveal fewer -k c1.key -r roster.flt \
	    -s shares.flt --confirmations confirms.flt -o second.reveal
	refused fewer "this client confirmed another set of survivors" \
	    second.reveal
	assert_equal "$(stat -c %a c1.key)" 600
	# The first list is still answered, and still the same.
	fl-mask --reveal survivors -k c1.key -r roster.flt -s shares.flt \
	    --confirmations confirms.flt -o again2.reveal
	cmp again2.reveal c1.reveal
	# Each answer: self-mask shares of the survivors, mask-key shares of
	# the one that shared and dropped, never both for one client.
	for i in 1 2 3 4; do
		assert_equal "$(fl-inspect -d self.of "c$i.reveal" | paste -sd,)" \
		    "1,2,3,4"
		assert_equal "$(fl-inspect -d mask.of "c$i.reveal" | paste -sd,)" \
		    "5"
		both=$(comm -12 <(fl-inspect -d self.of "c$i.reveal" | sort) \
		    <(fl-inspect -d mask.of "c$i.reveal" | sort))
		[ -z "$both" ] || fail "c$i.reveal reveals both for $both"
	done
	cat c?.reveal > reveals.flt
	fl-aggregate --roster roster.flt --shares shares.flt \
	    --reveals reveals.flt -o sum.flt c[1-4].masked
	fl-aggregate -r sum -o plain.flt c[1-4].ring
	cmp <(fl-inspect -d w sum.flt) <(fl-inspect -d w plain.flt)
}

@test "--confirm and --reveal: a survivor list that lists this client as dropped, or a client that never shared, is refused" {
	round5
	mask 1 2 3 4
	cat c[1-4].shares > four.flt
	: > confirms.flt
	printf 'c1\nc2\nc3\n' > survivors
	run --separate-stderr fl-mask --confirm survivors -k c4.key -i c4.id \
	    -r roster.flt -s shares.flt -o c4.confirm
	refused survivors "listed as dropped" c4.confirm
	run --separate-stderr fl-mask --reveal survivors -k c4.key \
	    -r roster.flt -s shares.flt --confirmations confirms.flt \
	    -o c4.reveal
	refused survivors "listed as dropped" c4.reveal
	printf 'c1\nc2\nc5\n' > survivors
	run --separate-stderr fl-mask --confirm survivors -k c1.key -i c1.id \
	    -r roster.flt -s four.flt -o c1.confirm
	refused survivors "client 'c5' is listed as a survivor but never shared" \
	    c1.confirm
	run --separate-stderr fl-mask --reveal survivors -k c1.key \
	    -r roster.flt -s four.flt --confirmations confirms.flt -o c1.reveal
	refused survivors "client 'c5' is listed as a survivor but never shared" \
	    c1.reveal
	printf 'c1\nc2\nc1\n' > survivors
	run --separate-stderr fl-mask --confirm survivors -k c1.key -i c1.id \
	    -r roster.flt -s shares.flt -o c1.confirm
	refused survivors "listed twice" c1.confirm
	run --separate-stderr fl-mask --reveal survivors -k c1.key \
	    -r roster.flt -s shares.flt --confirmations confirms.flt \
	    -o c1.reveal
	refused survivors "listed twice" c1.reveal
	# None of these left a confirmation in the key files.
	printf 'c1\nc2\nc3\n' > survivors
	confirm survivors 1 2 3
	fl-mask --reveal survivors -k c1.key -r roster.flt -s shares.flt \
	    --confirmations confirms.flt -o c1.reveal
}

# A revealed share is checked against its dealer's Feldman commitments
# (in shares.flt) when the rebuilt secret misses its public value: a
# wrong one is named and left out, and the round goes on while t good
# shares remain.
@test "fl-aggregate: a wrong revealed share is named and left out, a forged reveal refused" {
	round5
	mask 1 2 3 4
	printf 'c1\nc2\nc3\nc4\n' > survivors
	confirm survivors 1 2 3 4
	reveal survivors 1 2 3 4
	fl-aggregate -r sum -o plain.flt c[1-4].ring
	# A self-mask share altered: named, and the three good ones unmask.
	edit c1.reveal bad1.reveal 't = recs[0][1]; t["self.share"][0, 3] ^= 1'
	cat bad1.reveal c2.reveal c3.reveal c4.reveal > reveals.flt
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares shares.flt --reveals reveals.flt -o sum.flt c[1-4].masked
	assert_success
	[[ $stderr == *"reveals.flt: client 'c1' revealed a wrong share of client 'c1''s self-mask secret"* ]] ||
	    fail "stderr: $stderr"
	cmp <(fl-inspect -d w sum.flt) <(fl-inspect -d w plain.flt)
	rm sum.flt
	# Without c4's answer two good shares are left: fewer than t.
	cat bad1.reveal c2.reveal c3.reveal > reveals.flt
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares shares.flt --reveals reveals.flt -o sum.flt c[1-4].masked
	refused reveals.flt "1 of the 3 shares of client 'c1' are wrong, 2 good ones are fewer than the threshold 3" \
	    sum.flt
	# A mask-key share altered: the same for c5's mask key.
	edit c1.reveal bad2.reveal 't = recs[0][1]; t["mask.share"][0, 3] ^= 1'
	cat bad2.reveal c2.reveal c3.reveal c4.reveal > reveals.flt
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares shares.flt --reveals reveals.flt -o sum.flt c[1-4].masked
	assert_success
	[[ $stderr == *"reveals.flt: client 'c1' revealed a wrong share of client 'c5''s mask key"* ]] ||
	    fail "stderr: $stderr"
	cmp <(fl-inspect -d w sum.flt) <(fl-inspect -d w plain.flt)
	rm sum.flt
	cat bad2.reveal c2.reveal c3.reveal > reveals.flt
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares shares.flt --reveals reveals.flt -o sum.flt c[1-4].masked
	refused reveals.flt "1 of the 3 shares of client 'c5' are wrong, 2 good ones are fewer than the threshold 3" \
	    sum.flt
	# A reveal claiming both shares of the survivor c1.
	edit c2.reveal both.reveal '
t = recs[0][1]
t["mask.of"] = np.array([5, 1], np.uint32)
t["mask.share"] = np.vstack([t["mask.share"], t["self.share"][:1]])'
	cat c1.reveal both.reveal c3.reveal c4.reveal > reveals.flt
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares shares.flt --reveals reveals.flt -o sum.flt c[1-4].masked
	refused reveals.flt "mask-key share of client 'c1', who survived" sum.flt
	# A reveal from a client that is not a survivor.
	edit c4.reveal c5.reveal 'recs[0][0]["client"] = "c5"'
	cat c1.reveal c2.reveal c3.reveal c5.reveal > reveals.flt
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares shares.flt --reveals reveals.flt -o sum.flt c[1-4].masked
	refused reveals.flt "not a survivor" sum.flt
	# Two reveals from one client.
	cat c1.reveal c2.reveal c3.reveal c3.reveal > reveals.flt
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares shares.flt --reveals reveals.flt -o sum.flt c[1-4].masked
	refused reveals.flt "a second reveal from client 'c3'" sum.flt
}

# A server that sends two halves of the clients different survivor lists
# (c5 alive for one half, dropped for the other) would get c5's self-mask
# secret from the first half and its mask key from the second: two
# aggregations, and c5's update is their difference.  Each client
# confirms one list and reveals only for a list that a quorum of the
# survivors confirmed (more than half of all clients, counting the
# corrupt twice, and at least t): two lists cannot both have one, so
# neither half answers.  And the threshold must be a majority of each
# client's share holders (counting the corrupt twice): rosters with less
# are refused.
@test "a server equivocating on the survivors cannot isolate one client's update" {
	keys 10
	cat c?.pub c10.pub > all.pub
	# Ten clients by default count one corrupt holder (5%): t > 11 / 2.
	GRAPH=(--degree 9 --threshold 5)
	run --separate-stderr fl-mask --make-roster -e "$ENROL" \
	    "${GRAPH[@]}" -o roster.flt all.pub
	refused "" "threshold 5 of 10 share holders, of which 1 may be corrupt: must be at least 6" \
	    roster.flt
	GRAPH=(--degree 9 --threshold 6)
	fl-mask --make-roster -e "$ENROL" "${GRAPH[@]}" -o roster.flt all.pub
	share 1 2 3 4 5 6 7 8 9 10
	cat c*.shares > shares.flt
	for i in 1 2 3 4 5 6 7 8 9 10; do
		fl-pack -m kind=update -m modulus=65536 -m round=3 \
		    -t "w:u32=$((i * 11)),$((i * 7 + 100))" -o "c$i.ring"
		mask "$i"
	done
	printf 'c%s\n' 1 2 3 4 5 6 7 8 9 10 > l1
	grep -vx c5 l1 > l2
	# Each half confirms the list it was sent; the server collects all
	# ten confirmations.  The quorum is max(6, floor((10 + 1) / 2) + 1)
	# = 6: each list has five.
	confirm l1 1 2 3 4 5
	confirm l2 6 7 8 9 10
	for i in 1 2 3 4 5; do
		run --separate-stderr fl-mask --reveal l1 -k "c$i.key" \
		    -r roster.flt -s shares.flt --confirmations confirms.flt \
		    -o "c$i.reveal"
		refused l1 "5 valid confirmations of this set of survivors, fewer than the 6 needed" \
		    "c$i.reveal"
	done
	for i in 6 7 8 9 10; do
		run --separate-stderr fl-mask --reveal l2 -k "c$i.key" \
		    -r roster.flt -s shares.flt --confirmations confirms.flt \
		    -o "c$i.reveal"
		refused l2 "5 valid confirmations of this set of survivors, fewer than the 6 needed" \
		    "c$i.reveal"
	done
	# The server got no answer at all: nothing to unmask.
	[ -z "$(compgen -G 'c*.reveal')" ] || fail "answers: $(echo c*.reveal)"
}

@test "unknown clients: in the survivors file, and a masked record at fl-aggregate" {
	round5
	mask 1 2 3
	printf 'c1\nc2\nc3\nzz\n' > survivors
	run --separate-stderr fl-mask --confirm survivors -k c1.key -i c1.id \
	    -r roster.flt -s shares.flt -o c1.confirm
	refused survivors "line 4: unknown client 'zz'" c1.confirm
	: > confirms.flt
	run --separate-stderr fl-mask --reveal survivors -k c1.key \
	    -r roster.flt -s shares.flt --confirmations confirms.flt \
	    -o c1.reveal
	refused survivors "line 4: unknown client 'zz'" c1.reveal
	printf 'c1\nc2\nc3\n' > survivors
	confirm survivors 1 2 3
	reveal survivors 1 2 3
	cat c?.reveal > reveals.flt
	edit c3.masked zz.masked 'recs[0][0]["client"] = "zz"'
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares shares.flt --reveals reveals.flt -o sum.flt c1.masked \
	    c2.masked zz.masked
	refused zz.masked "unknown client 'zz'" sum.flt
	# A masked record of a client outside this roster (another
	# roster's, of four of the clients).
	mkdir other
	(cd other && keys 4 o 3 &&
	    GRAPH=(--corrupt 0 --degree 3 --threshold 3) && cat c?.pub |
	    fl-mask --make-roster -e "$ENROL" "${GRAPH[@]}" -o roster.flt &&
	    share 1 2 3 4 && cat c?.shares > shares.flt &&
	    cp ../c[1-4].ring . && mask 1 2 3 4)
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares shares.flt --reveals reveals.flt -o sum.flt \
	    other/c4.masked c1.masked c2.masked c3.masked
	refused other/c4.masked "masked for another session" sum.flt
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares shares.flt --reveals reveals.flt -o sum.flt c1.masked \
	    c2.masked c3.masked other/c4.masked
	refused other/c4.masked "secagg.session" sum.flt
	# And a reveal from another roster's client.
	(cd other && printf 'c1\nc2\nc3\nc4\n' > s && confirm s 1 2 3 4 &&
	    reveal s 4)
	cat c1.reveal c2.reveal c3.reveal other/c4.reveal > mixed.flt
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares shares.flt --reveals mixed.flt -o sum.flt c1.masked \
	    c2.masked c3.masked
	refused mixed.flt "record 4" sum.flt
}

@test "duplicate clients and duplicate keys in the public keys are refused" {
	keys 4
	run --separate-stderr fl-mask --make-roster -e enrol.flt -o roster.flt \
	    c1.pub c2.pub c1.pub c3.pub
	refused "" "duplicate client 'c1'" roster.flt
	# Another id with c1's keys.
	edit c1.pub c9.pub 'recs[0][0]["client"] = "c9"'
	run --separate-stderr fl-mask --make-roster -e enrol.flt -o roster.flt \
	    c1.pub c2.pub c3.pub c9.pub
	refused "" "duplicate key" roster.flt
	# One key of c1 only, in another role of another client.
	"$PYTHON" - "$TOP/examples/python" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import flt
(m1, t1), = flt.read_records(open("c1.pub", "rb"))
(m2, t2), = flt.read_records(open("c2.pub", "rb"))
t2 = {k: v.copy() for k, v in t2.items()}
t2["pk.commit"][:] = t1["pk.box"]
flt.write_record(open("c2b.pub", "wb"), m2, t2)
EOF
	run --separate-stderr fl-mask --make-roster -e enrol.flt -o roster.flt \
	    c1.pub c2b.pub c3.pub c4.pub
	refused "" "duplicate key" roster.flt
	# A key of small order (the point 0, and 1) would fail every
	# neighbour later: refused at the roster.
	edit c4.pub c4w.pub 'recs[0][1]["pk.box"][:] = 0'
	run --separate-stderr fl-mask --make-roster -e enrol.flt -o roster.flt \
	    c1.pub c2.pub c3.pub c4w.pub
	refused c4w.pub "a public key of small order" roster.flt
	edit c4.pub c4w.pub 'recs[0][1]["pk.mask"][:] = 0; recs[0][1]["pk.mask"][0] = 1'
	run --separate-stderr fl-mask --make-roster -e enrol.flt -o roster.flt \
	    c1.pub c2.pub c3.pub c4w.pub
	refused c4w.pub "a public key of small order" roster.flt
	# Keys of another round, a key file sent by mistake, a public key
	# record carrying a secret.
	ids 5
	fl-mask --keygen --round 4 -k c5.key -i c5.id --seed t -o c5.pub
	run --separate-stderr fl-mask --make-roster -e enrol.flt -o roster.flt \
	    c?.pub
	refused "" "round 4" roster.flt
	run --separate-stderr fl-mask --make-roster -e enrol.flt -o roster.flt \
	    c1.pub c2.pub c3.key
	refused c3.key "kind 'secagg-secret', want secagg-public" roster.flt
	"$PYTHON" - "$TOP/examples/python" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import flt
(m, t), = flt.read_records(open("c3.pub", "rb"))
(mk, tk), = flt.read_records(open("c3.key", "rb"))
t = dict(t)
t["sk.self"] = tk["sk.self"]
flt.write_record(open("c3s.pub", "wb"), m, t)
EOF
	run --separate-stderr fl-mask --make-roster -e enrol.flt -o roster.flt \
	    c1.pub c2.pub c3s.pub
	refused c3s.pub "holds a secret key" roster.flt
	# Fewer than 3 clients.
	run --separate-stderr fl-mask --make-roster -e enrol.flt -o roster.flt \
	    c1.pub c2.pub
	refused "" "at least 3" roster.flt
}

@test "a roster that differs between clients and server is refused" {
	round5
	# The server swaps c1's keys for others that c1's identity signed
	# too (another key file of c1's), in the roster it sends c1.
	mkdir evil
	(cd evil && keys 1 evil)
	cat evil/c1.pub c[2-5].pub |
	    fl-mask --make-roster -e enrol.flt "${GRAPH[@]}" -o swapped.flt
	run --separate-stderr fl-mask --share -k c1.key -r swapped.flt \
	    -e enrol.flt --min-clients 3 "${GRAPH[@]}" -o x.flt
	refused swapped.flt "the keys listed for client 'c1' are not those of its key file" \
	    x.flt
	run --separate-stderr fl-mask -k c1.key -r swapped.flt -s shares.flt \
	    -o x.flt c1.ring
	refused swapped.flt "not those of its key file" x.flt
	# A roster edited after it was made (threshold raised): the session
	# id gives it away.
	edit roster.flt edited.flt 'recs[0][0]["secagg.t"] = "5"'
	run --separate-stderr fl-mask --share -k c1.key -r edited.flt \
	    -e enrol.flt --min-clients 3 "${GRAPH[@]}" -o x.flt
	refused edited.flt "altered roster" x.flt
	# Another roster of the same keys (threshold 4): the key files are
	# bound to roster.flt's session and refuse it, and fl-aggregate
	# given it refuses the clients' masked records.
	cat c?.pub | fl-mask --make-roster -e enrol.flt --corrupt 0 \
	    --degree 4 --threshold 4 -o other.flt
	run --separate-stderr fl-mask -k c1.key -r other.flt -s shares.flt \
	    -o x.flt c1.ring
	refused other.flt "another session than the one the key file is bound to" \
	    x.flt
	mask 1 2 3 4
	printf 'c1\nc2\nc3\nc4\n' > survivors
	confirm survivors 1 2 3 4
	reveal survivors 1 2 3 4
	cat c?.reveal > reveals.flt
	run --separate-stderr fl-aggregate --roster other.flt \
	    --shares shares.flt --reveals reveals.flt -o sum.flt c[1-4].masked
	refused c1.masked "another session" sum.flt
	run --separate-stderr fl-aggregate --roster edited.flt \
	    --shares shares.flt --reveals reveals.flt -o sum.flt c[1-4].masked
	refused edited.flt "altered roster" sum.flt
	# The right roster unmasks.
	fl-aggregate --roster roster.flt --shares shares.flt \
	    --reveals reveals.flt -o sum.flt c[1-4].masked
}

@test "fl-aggregate: masked records of the wrong shape, dtype, modulus or shares are refused" {
	round5
	# A key file masks one update per session: the odd records below
	# come from copies of c4's taken before it masked.
	cp -p c4.key c4-long.key
	cp -p c4.key c4-split.key
	fl-pack -m kind=update -m modulus=65536 -m round=3 -t w:u32=1,2,3,4 \
	    -o long.ring
	fl-mask -k c4-long.key -r roster.flt -s shares.flt -o long.masked \
	    long.ring
	mask 1 2 3 4
	printf 'c1\nc2\nc3\nc4\n' > survivors
	confirm survivors 1 2 3 4
	reveal survivors 1 2 3 4
	cat c?.reveal > reveals.flt
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares shares.flt --reveals reveals.flt -o sum.flt c[1-3].masked \
	    long.masked
	refused long.masked "u32 [4]" sum.flt
	edit c4.masked i32.masked 'recs[0][1]["w"] = recs[0][1]["w"].view(np.int32)'
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares shares.flt --reveals reveals.flt -o sum.flt c[1-3].masked \
	    i32.masked
	refused i32.masked "" sum.flt
	edit c4.masked f32.masked 'recs[0][1]["w"] = recs[0][1]["w"].view(np.float32)'
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares shares.flt --reveals reveals.flt -o sum.flt c[1-3].masked \
	    f32.masked
	refused f32.masked "" sum.flt
	edit c4.masked mod.masked 'recs[0][0]["modulus"] = "4294967296"'
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares shares.flt --reveals reveals.flt -o sum.flt c[1-3].masked \
	    mod.masked
	refused mod.masked "modulus" sum.flt
	# c4 masked with a shares file lacking c5's envelopes: the server
	# showed clients different sets of shares.
	cat c[1-4].shares > four.flt
	fl-mask -k c4-split.key -r roster.flt -s four.flt -o split.masked \
	    c4.ring
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares shares.flt --reveals reveals.flt -o sum.flt c[1-3].masked \
	    split.masked
	refused split.masked "secagg.shared" sum.flt
	# A masked record twice, a plain one among them, one missing.
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares shares.flt --reveals reveals.flt -o sum.flt c[1-4].masked \
	    c4.masked
	refused c4.masked "duplicate client 'c4'" sum.flt
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares shares.flt --reveals reveals.flt -o sum.flt c[1-3].masked \
	    c4.ring
	refused c4.ring "masked and plain" sum.flt
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares shares.flt --reveals reveals.flt -o sum.flt c[1-3].masked
	refused reveals.flt "the masked records given (3 clients) are not the survivors all" sum.flt
	# Masked records without --roster.
	run --separate-stderr fl-aggregate -r sum -o sum.flt c[1-4].masked
	refused c1.masked "--roster" sum.flt
}

@test "fl-mask: non-ring inputs are refused, naming the file" {
	round5
	fl-pack -m kind=update -m modulus=65536 -m round=3 -t w:f32=1,2,3 \
	    -o f32.ring
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s shares.flt \
	    -o out.flt f32.ring
	refused f32.ring "only u32 ring tensors" out.flt
	fl-pack -m kind=update -m modulus=65536 -m round=3 -t w:i32=1,2,3 \
	    -o i32.ring
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s shares.flt \
	    -o out.flt i32.ring
	refused i32.ring "only u32 ring tensors" out.flt
	fl-pack -m kind=update -m modulus=65536 -m round=3 -t w:f16=1,2,3 \
	    -o f16.ring
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s shares.flt \
	    -o out.flt f16.ring
	refused f16.ring "tensor 'w' is f16: only u32 ring tensors" out.flt
	fl-pack -m kind=update -m modulus=1000 -m round=3 -t w:u32=1,2,3 \
	    -o m1000.ring
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s shares.flt \
	    -o out.flt m1000.ring
	refused m1000.ring "not a power of two" out.flt
	fl-pack -m kind=update -m modulus=8589934592 -m round=3 -t w:u32=1 \
	    -o m33.ring
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s shares.flt \
	    -o out.flt m33.ring
	refused m33.ring "modulus" out.flt
	fl-pack -m kind=update -m modulus=65536 -m round=3 -t w:u32=1,65536,3 \
	    -o big.ring
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s shares.flt \
	    -o out.flt big.ring
	refused big.ring "element 1 is 65536, not below the modulus" out.flt
	fl-pack -m kind=update -m round=3 -t w:u32=1,2,3 -o nomod.ring
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s shares.flt \
	    -o out.flt nomod.ring
	refused nomod.ring "no modulus" out.flt
	fl-pack -m kind=update -m modulus=65536 -m round=4 -t w:u32=1,2,3 \
	    -o r4.ring
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s shares.flt \
	    -o out.flt r4.ring
	refused r4.ring "an update of round '4', the keys are for round 3" \
	    out.flt
	fl-pack -m kind=update -m modulus=65536 -m round=x -t w:u32=1,2,3 \
	    -o rx.ring
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s shares.flt \
	    -o out.flt rx.ring
	refused rx.ring "an update of round 'x'" out.flt
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s shares.flt \
	    -o out.flt <(cat c1.ring c2.ring)
	refused "record 2" "one update per client" out.flt
	mask 1
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s shares.flt \
	    -o out.flt c1.masked
	refused c1.masked "already masked" out.flt
}

@test "--keygen and --make-identity: refuse to overwrite a key or identity file; bad ids" {
	keys 1
	cp c1.key before.key
	run --separate-stderr fl-mask --keygen --round 3 -k c1.key -i c1.id \
	    -o new.pub
	refused c1.key "exists: a round's keys are made once" new.pub
	cmp c1.key before.key
	cp c1.id before.id
	run --separate-stderr fl-mask --make-identity --client c1 -i c1.id \
	    --operator op.pub -o new.idpub
	refused c1.id "exists: a device's identity is made once" new.idpub
	cmp c1.id before.id
	cp op.id before-op.id
	run --separate-stderr fl-mask --make-identity --client op -i op.id \
	    -o new.idpub
	refused op.id "exists: a device's identity is made once" new.idpub
	cmp op.id before-op.id
	run --separate-stderr fl-mask --make-identity --client 'a b' \
	    -i ab.id --operator op.pub -o ab.idpub
	assert_equal "$status" 1
	[[ $stderr == *"invalid --client"* ]] || fail "stderr: $stderr"
	[ ! -e ab.id ]
	[ ! -e ab.idpub ]
}

@test "usage errors exit 2" {
	keys 3
	cat c?.pub | fl-mask --make-roster -e enrol.flt --corrupt 0 \
	    -o roster.flt
	fl-mask --share -k c1.key -r roster.flt -e enrol.flt --min-clients 3 \
	    --corrupt 0 -o c1.shares
	for args in "--bogus" \
	    "--make-identity --client n" "--make-identity -i n.id" \
	    "--make-identity --client n -i n.id -k c1.key" \
	    "--make-identity --client n -i n.id -e enrol.flt" \
	    "--make-identity --client n -i n.id --round 3" \
	    "--make-enrolment" "--make-enrolment -i op.id --seed x" \
	    "--keygen --round 3 -k n.key" "--keygen -k n.key -i c1.id" \
	    "--keygen --round 3 -i c1.id" \
	    "--keygen --client n --round 3 -k n.key -i c1.id" \
	    "--keygen --round 3 -k n.key -i c1.id --operator op.pub" \
	    "--make-roster c1.pub" \
	    "--make-roster -e enrol.flt -k c1.key c1.pub" \
	    "--make-roster -e enrol.flt --min-clients 3 c1.pub" \
	    "--share -k c1.key -e enrol.flt" "--share -k c1.key -r roster.flt" \
	    "--share -k c1.key -r roster.flt -e enrol.flt -s c1.shares" \
	    "--share -k c1.key -r roster.flt -e enrol.flt --seed x" \
	    "--share -k c1.key -r roster.flt -e enrol.flt x" \
	    "-k c1.key -r roster.flt" "-k c1.key -s c1.shares" \
	    "-k c1.key -r roster.flt -s c1.shares --seed x" \
	    "-k c1.key -r roster.flt -s c1.shares --degree 2" \
	    "-k c1.key -r roster.flt -s c1.shares -i c1.id" \
	    "-k c1.key -r roster.flt -s c1.shares a b" \
	    "--confirm s -k c1.key -r roster.flt -s c1.shares" \
	    "--confirm s -k c1.key -i c1.id -r roster.flt" \
	    "--confirm s -k c1.key -i c1.id -r roster.flt -s c1.shares \
		--confirmations c" \
	    "--reveal s -k c1.key -r roster.flt -s c1.shares" \
	    "--reveal s -k c1.key -r roster.flt --confirmations c" \
	    "--reveal s -k c1.key -r roster.flt -s c1.shares --confirmations c \
		-i c1.id" \
	    "--share --reveal s -k c1.key -r roster.flt -e enrol.flt" \
	    "--confirm s --reveal s -k c1.key -i c1.id -r roster.flt \
		-s c1.shares --confirmations c"; do
		# shellcheck disable=SC2086
		run --separate-stderr fl-mask $args -o out.flt
		assert_equal "$status" 2
		[ ! -e out.flt ] || fail "fl-mask $args wrote out.flt"
		[ ! -e n.key ] || fail "fl-mask $args wrote n.key"
		[ ! -e n.id ] || fail "fl-mask $args wrote n.id"
	done
	# --forget takes the key file and nothing else, and on a usage
	# error leaves it be.
	cp c1.key before.key
	for args in "--forget" "--forget -k c1.key -o out.flt" \
	    "--forget -k c1.key -r roster.flt" "--forget -k c1.key c1.pub"; do
		# shellcheck disable=SC2086
		run --separate-stderr fl-mask $args
		assert_equal "$status" 2
		cmp c1.key before.key
	done
	run --separate-stderr fl-aggregate --roster roster.flt -o out.flt c1.pub
	assert_equal "$status" 2
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --reveals c1.shares -o out.flt c1.pub
	assert_equal "$status" 2
	[ ! -e out.flt ]
	# A bad option value is a runtime error here, as in every program.
	run --separate-stderr fl-mask --make-roster -e enrol.flt --degree x \
	    -o out.flt c?.pub
	refused "--degree 'x'" "not a whole number" out.flt
}
