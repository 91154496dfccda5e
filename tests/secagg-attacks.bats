#!/usr/bin/env bats
# Secure aggregation against a lying server and lying clients: each attack
# of issue 14, as the server would run it with the shipped programs and the
# files it handles, and a server that deviates at each step of a round.
# The server's own computation is tests/secagg_attack.py (it rebuilds a
# target's secrets from every share it can collect, in any session, and
# strips the masks); against 8dee25b each attack recovered the target's
# update (doc/secagg-attacks.md).  Here the attacker gets nothing: an honest
# client refuses, or the round aborts naming the cause.

load helper
load records
load secagg

# ---- attack 1: a key file answers to any roster of its round ----

@test "attack 1: a second roster with clients the server made: not enrolled, refused" {
	GRAPH="--corrupt 0 --degree 4 --threshold 3"
	world 5
	keys 3 1 2 3 4 5
	# The server's own devices, enrolled by a key of its own, and a
	# roster B of the target c1 and them, offered to c1 first.
	fl-mask --make-identity --client evil -i evil.id --seed x -o evil.pub
	for d in 1 2 3 4; do
		fl-mask --make-identity --client "f$d" -i "f$d.id" \
		    --operator evil.pub --seed x -o "f$d.idpub"
		fl-mask --keygen --round 3 -k "f$d.key" -i "f$d.id" --seed x \
		    -o "f$d.pub"
	done
	fl-mask --make-enrolment -i evil.id -o evil.flt c1.idpub f?.idpub
	cat c1.pub f?.pub | fl-mask --make-roster -e evil.flt $GRAPH -o B.flt
	cp c1.key before.key
	# c1 trusts its own operator only; with the real enrolment, the
	# server's clients are unknown.
	run --separate-stderr fl-mask --share -k c1.key -r B.flt -e evil.flt \
	    --min-clients 3 $GRAPH -o c1.B
	refused evil.flt "signed by another operator than the one this device trusts" c1.B
	run --separate-stderr fl-mask --share -k c1.key -r B.flt \
	    -e enrolment.flt --min-clients 3 $GRAPH -o c1.B
	refused B.flt "client 'f1' is not enrolled" c1.B
	cmp c1.key before.key
	# The real round goes on; everything the server holds gives it
	# nothing about c1.
	roster roster.flt c?.pub
	share roster.flt 1 2 3 4 5
	cat c?.shares > shares.flt
	update 1 1234 5678 42
	mask roster.flt shares.flt 1
	attack_fails c1 c1.masked --roster roster.flt --reveals /dev/null \
	    --roster B.flt --reveals /dev/null
}

@test "attack 1: a second roster of the same honest clients: the key file serves one session" {
	round5
	update 1 1234 5678 42
	mask roster.flt shares.flt 1 2 3 4
	# Roster B: the same keys and the same round, another threshold:
	# another session, where c1 "drops" and its mask key is revealed.
	GRAPH="--corrupt 0 --degree 4 --threshold 4" roster B.flt c?.pub
	# (Not "i": Bats's run sets it.)
	for c in 1 2 3 4 5; do
		cp "c$c.key" "before$c.key"
		run --separate-stderr fl-mask --share -k "c$c.key" -r B.flt \
		    -e enrolment.flt --min-clients 3 --corrupt 0 --degree 4 \
		    --threshold 4 -o "c$c.B"
		refused B.flt "another session than the one the key file is bound to" "c$c.B"
		cmp "c$c.key" "before$c.key"
	done
	# Nor do the other steps accept roster B.
	printf 'c2\nc3\nc4\nc5\n' > dropped
	run --separate-stderr fl-mask --confirm dropped -k c2.key -i c2.id \
	    -r B.flt -s shares.flt -o c2.B
	refused B.flt "another session" c2.B
	# The legitimate round unmasks only the sum, and the attack on c1
	# from its reveals gets nothing.
	printf 'c1\nc2\nc3\nc4\n' > alive
	confirm roster.flt shares.flt alive 1 2 3 4
	cat c?.confirm > confirms.flt
	reveal roster.flt shares.flt alive confirms.flt 1 2 3 4
	cat c?.reveal > reveals.flt
	fl-aggregate --roster roster.flt --shares shares.flt \
	    --reveals reveals.flt -o sum.flt c[1-4].masked
	attack_fails c1 c1.masked --roster roster.flt --reveals reveals.flt
}

# ---- attack 2: one corrupt holder and two halves told different lists ----

# n = 100 at the default parameters (5% corrupt: k = 28, t = 18).  The
# server controls one of the target's holders and tells half of the
# target's other holders that it survived, half that it dropped, each
# half with enough other clients for the list the server wants.  Honest
# clients confirm one list each; the corrupt one confirms both.  A list
# needs a quorum of 53 confirmations (a majority counting the 5 corrupt
# twice), so at most one list ever gets one, and nobody reveals for the
# other.
@test "attack 2: equivocating on the survivors at n = 100 with a corrupt holder gets nothing" {
	not_under_sanitizers "attack 2 at n = 100; tests/fl-mask.bats runs it at n = 10"
	GRAPH=""
	world 100
	keys 3 $(seq 1 100)
	roster roster.flt c*.pub
	run fl-inspect roster.flt
	assert_output --partial "secagg.k=28"
	assert_output --partial "secagg.t=18"
	assert_output --partial "secagg.corrupt=5"
	share roster.flt $(seq 1 100)
	cat c*.shares > shares.flt
	update 1 1234 5678 42
	for i in $(seq 2 100); do update "$i" 1 1 1; done
	mask roster.flt shares.flt $(seq 1 100)
	# The target c1's holders, from the roster's graph; the first is the
	# server's.
	read -r -a nb < <("$PYTHON" -c '
import sys
sys.path.insert(0, "'"$TOP"'/tests")
import secagg_attack as a
r = a.Roster("roster.flt")
print(" ".join(r.ids[v - 1][1:] for v in r.neighbours(r.number("c1"))))')
	[ "${#nb[@]}" -eq 28 ] || fail "c1 has ${#nb[@]} neighbours"
	corrupt=${nb[0]}
	half=("${nb[@]:1:13}")
	other=("${nb[@]:14}")
	# Everyone else: split so that list A (c1 survived) has its quorum.
	mapfile -t rest < <(seq 2 100 | grep -vxF -f <(printf '%s\n' "${nb[@]}"))
	A=(1 "${half[@]}" "${rest[@]:0:38}")
	B=("${other[@]}" "${rest[@]:38}")
	printf 'c%s\n' $(seq 1 100) > LA
	grep -vx c1 LA > LB
	cp "c$corrupt.key" x.key       # the server keeps a copy: two answers
	confirm roster.flt shares.flt LA "${A[@]}" "$corrupt"
	cat c*.confirm > confA.flt
	rm -f c*.confirm
	confirm roster.flt shares.flt LB "${B[@]}"
	fl-mask --confirm LB -k x.key -i "c$corrupt.id" -r roster.flt \
	    -s shares.flt -o x.confirm
	cat c*.confirm x.confirm > confB.flt
	cat confA.flt confB.flt > confirms.flt
	[ "$(( ${#A[@]} + 1 ))" -ge 53 ]
	# List B has 48 confirmations: nobody reveals for it.
	for c in "${other[@]:0:3}"; do
		run --separate-stderr fl-mask --reveal LB -k "c$c.key" \
		    -r roster.flt -s shares.flt --confirmations confirms.flt \
		    -o "c$c.reveal"
		refused LB "valid confirmations of this set of survivors, fewer than the 53 needed" "c$c.reveal"
	done
	# The A side reveals; the corrupt holder answers both ways.
	reveal roster.flt shares.flt LA confirms.flt "${A[@]}" "$corrupt"
	cat c*.reveal > revA.flt
	mv "c$corrupt.reveal" corrupt.A
	run fl-mask --reveal LB -k x.key -r roster.flt -s shares.flt \
	    --confirmations confirms.flt -o corrupt.B
	assert_failure
	attack_fails c1 c1.masked --roster roster.flt --reveals revA.flt \
	    --roster roster.flt --reveals corrupt.A
	# Nor does the server get the sum of list A: the holders of c1 it
	# told list B reveal nothing, and 15 of c1's 29 holders are fewer
	# than t = 18.
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares shares.flt --reveals revA.flt -o sum.flt c*.masked
	refused revA.flt "15 shares of client 'c1', fewer than the threshold 18" sum.flt
}

# ---- attack 3: the unmasked aggregate trusts each record's clients ----

@test "attack 3: a masked record claiming clients, a weight or an aggregate is refused; the server counts" {
	round5
	mask roster.flt shares.flt 1 2 3 4
	printf 'c1\nc2\nc3\nc4\n' > alive
	confirm roster.flt shares.flt alive 1 2 3 4
	cat c?.confirm > confirms.flt
	reveal roster.flt shares.flt alive confirms.flt 1 2 3 4
	cat c?.reveal > reveals.flt
	for kv in clients=1000 weight=1000 agg=sum loss=0.1 x-note=hi; do
		edit c4.masked lie.masked "recs[0][0]['${kv%%=*}'] = '${kv#*=}'"
		run --separate-stderr fl-aggregate --roster roster.flt \
		    --shares shares.flt --reveals reveals.flt -n 1000 \
		    -o sum.flt c1.masked c2.masked c3.masked lie.masked
		refused lie.masked "client 'c4': metadata '${kv%%=*}' would travel in clear" sum.flt
	done
	# The honest records: four clients, whatever -n asks.
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares shares.flt --reveals reveals.flt -n 1000 -o sum.flt \
	    c[1-4].masked
	refused "" "4 clients, fewer than --min-clients 1000" sum.flt
	fl-aggregate --roster roster.flt --shares shares.flt \
	    --reveals reveals.flt -o sum.flt c[1-4].masked
	assert_equal "$(fl-inspect -g clients sum.flt)" 4
	# An honest client refuses to mask what would say too much.
	for kv in clients=1000 weight=21 loss=0.49 agg=mean; do
		fl-pack -m kind=update -m modulus=65536 -m round=3 -m "$kv" \
		    -t w:u32=1,2,3 -o leak.ring
		run --separate-stderr fl-mask -k c5.key -r roster.flt \
		    -s shares.flt -o leak.masked leak.ring
		refused leak.ring "metadata '${kv%%=*}' would travel in clear" leak.masked
	done
	fl-pack -m kind=aggregate -m modulus=65536 -m round=3 -t w:u32=1,2,3 \
	    -o agg.ring
	run --separate-stderr fl-mask -k c5.key -r roster.flt -s shares.flt \
	    -o leak.masked agg.ring
	refused agg.ring "only a client's update is masked" leak.masked
}

# ---- attack 4: masking a second update in the same session ----

@test "attack 4: a second, different update under the same masks is refused; the same one gives the same bytes" {
	round5
	mask roster.flt shares.flt 1
	cp c1.key before.key
	update 1 0 0 0
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s shares.flt \
	    -o second.masked c1.ring
	refused c1.ring "already masked another update" second.masked
	cmp c1.key before.key
	# The same update again (a retried upload): the same bytes.
	update 1 1 10 100
	fl-mask -k c1.key -r roster.flt -s shares.flt -o again.masked c1.ring
	cmp again.masked c1.masked
	# The same update with other shares (another U2): other masks, so
	# refused too.
	cat c[1-4].shares > four.flt
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s four.flt \
	    -o other.masked c1.ring
	refused c1.ring "already masked another update (or with other shares)" other.masked
}

# ---- attack 5: sharing twice reused the envelope nonces ----

@test "attack 5: sharing again gives the very same envelopes, never fresh polynomials under old nonces" {
	round5
	for i in 1 2 3; do
		share roster.flt 1
		mv c1.shares "again$i.shares"
	done
	cmp again1.shares again2.shares
	cmp again1.shares again3.shares
	# Byte-identical to what went out the first time.
	cmp <("$PYTHON" -c '
import sys
sys.path.insert(0, "'"$TOP"'/examples/python")
import flt
for m, t in flt.read_records(open("shares.flt", "rb")):
    if m["client"] == "c1":
        sys.stdout.buffer.write(bytes(t["box"]))') \
	    <("$PYTHON" -c '
import sys
sys.path.insert(0, "'"$TOP"'/examples/python")
import flt
(m, t), = flt.read_records(open("again1.shares", "rb"))
sys.stdout.buffer.write(bytes(t["box"]))')
}

# ---- attack 6: two concurrent answers for different survivor lists ----

@test "attack 6: concurrent confirmations of two survivor lists: never both" {
	round5
	mask roster.flt shares.flt 1 2 3 4 5
	printf 'c1\nc2\nc3\nc4\nc5\n' > L5
	printf 'c1\nc2\nc3\nc4\n' > L4
	cp c1.key fresh.key
	both=0 one=0
	for try in $(seq 1 30); do
		cp fresh.key c1.key
		fl-mask --confirm L5 -k c1.key -i c1.id -r roster.flt \
		    -s shares.flt -o a.confirm 2>/dev/null & p1=$!
		fl-mask --confirm L4 -k c1.key -i c1.id -r roster.flt \
		    -s shares.flt -o b.confirm 2>/dev/null & p2=$!
		r1=0 r2=0
		wait "$p1" || r1=$?
		wait "$p2" || r2=$?
		[ "$r1" -eq 0 ] && [ "$r2" -eq 0 ] && both=$((both + 1))
		[ $((r1 + r2)) -eq 1 ] && one=$((one + 1))
		rm -f a.confirm b.confirm
	done
	assert_equal "$both" 0
	assert_equal "$one" 30
}

# ---- attack 7: one corrupted share ----

@test "attack 7: a lying revealer is named and the round goes on; too many lies abort naming them" {
	round5
	mask roster.flt shares.flt 1 2 3 4 5
	printf 'c1\nc2\nc3\nc4\nc5\n' > all
	confirm roster.flt shares.flt all 1 2 3 4 5
	cat c?.confirm > confirms.flt
	reveal roster.flt shares.flt all confirms.flt 1 2 3 4 5
	fl-aggregate -r sum -o plain.flt c?.ring
	# c2 lies about every share it reveals; the first three shares of
	# each secret include c2's, so the fast rebuild misses and the
	# commitments find the liar.
	edit c2.reveal lie.reveal 't = recs[0][1]; t["self.share"][:, 0] ^= 1'
	cat c1.reveal lie.reveal c3.reveal c4.reveal c5.reveal > reveals.flt
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares shares.flt --reveals reveals.flt -o sum.flt c?.masked
	assert_success
	[[ $stderr == *"client 'c2' revealed a wrong share of client 'c1''s self-mask secret"* ]] ||
	    fail "stderr: $stderr"
	[ "$(grep -c "client 'c2' revealed a wrong share" <<< "$stderr")" -eq 5 ]
	cmp <(fl-inspect -d w sum.flt) <(fl-inspect -d w plain.flt)
	# Three liars leave two good shares of each secret, fewer than t.
	rm sum.flt
	for c in 3 4; do
		edit "c$c.reveal" "lie$c.reveal" 't = recs[0][1]; t["self.share"][:, 0] ^= 1'
	done
	cat c1.reveal lie.reveal lie3.reveal lie4.reveal c5.reveal > reveals.flt
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares shares.flt --reveals reveals.flt -o sum.flt c?.masked
	refused reveals.flt "3 of the 5 shares of client 'c1' are wrong, 2 good ones are fewer than the threshold 3" sum.flt
	[[ $stderr == *"client 'c4' revealed a wrong share"* ]] ||
	    fail "stderr: $stderr"
	# A dealer whose commitments are garbage is named as such.
	edit shares.flt badcommit.flt '
for m, t in recs:
    if m["client"] == "c1":
        t["commit.self"][:] = 7'
	cat c1.reveal lie.reveal c3.reveal c4.reveal c5.reveal > reveals.flt
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares badcommit.flt --reveals reveals.flt -o sum.flt c?.masked
	refused reveals.flt "client 'c1' published bad commitments" sum.flt
}

# ---- attack 8: rosters that break the client's policy ----

@test "attack 8: a roster below the minimum, off the rule, or smaller than the noise shares is refused" {
	round5
	# The client's default minimum is 10 clients.
	run --separate-stderr fl-mask --share -k c1.key -r roster.flt \
	    -e enrolment.flt $GRAPH -o x.shares
	refused roster.flt "5 clients, fewer than this client's minimum of 10 (--min-clients)" x.shares
	# A graph the client was not told to expect.
	run --separate-stderr fl-mask --share -k c1.key -r roster.flt \
	    -e enrolment.flt --min-clients 3 --corrupt 0 -o x.shares
	refused roster.flt "k=4, t=3 and 0 corrupt clients, where this client's rule gives k=4, t=4 and 0" x.shares
	# The client counts one corrupt client of five: t = 3 is not safe.
	run --separate-stderr fl-mask --share -k c1.key -r roster.flt \
	    -e enrolment.flt --min-clients 3 --degree 4 --threshold 3 -o x.shares
	refused roster.flt "threshold 3 of 5 share holders, of which 1 may be corrupt: must be at least 4" x.shares
	# k = 2 at n = 12 (the server's choice, valid on its own): clients
	# expect the rule's full graph, and refuse.
	rm -f c*.key c*.pub c*.id c*.idpub op.id
	world 12
	keys 3 $(seq 1 12)
	GRAPH="--degree 2" roster r12.flt c*.pub
	assert_equal "$(fl-inspect r12.flt | sed -n 's/^  secagg\.t=//p')" 3
	run --separate-stderr fl-mask --share -k c1.key -r r12.flt \
	    -e enrolment.flt -o x.shares
	refused r12.flt "k=2, t=3 and 1 corrupt clients, where this client's rule gives k=11, t=10 and 1" x.shares
	# A roster edited to t = 2 is refused when read, whoever made it.
	edit r12.flt weak.flt 'recs[0][0]["secagg.t"] = "2"'
	run --separate-stderr fl-mask --share -k c1.key -r weak.flt \
	    -e enrolment.flt -o x.shares
	refused weak.flt "threshold 2 of 3 share holders, of which 1 may be corrupt: must be at least 3" x.shares
	rm -f c*.key c*.pub c*.id c*.idpub op.id
	# A record planned as one of 100 noise shares, under a roster of 5.
	round5
	fl-pack -m kind=update -m modulus=65536 -m round=3 -m dp.shares=100 \
	    -m dp.mechanism=discrete-gaussian -t w:u32=1,2,3 -o noisy.ring
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s shares.flt \
	    -o noisy.masked noisy.ring
	refused noisy.ring "noise planned as 100 shares, the roster has 5 clients" noisy.masked
}

# ---- attack 9: key files and secrets after the round ----

@test "attack 9: --forget overwrites and removes the key file" {
	round5
	mask roster.flt shares.flt 1
	ln c1.key link.key              # the same file under another name
	fl-mask --forget -k c1.key
	[ ! -e c1.key ]
	# What the disk kept of the key file is zeros.
	size=$(stat -c %s link.key)
	[ "$size" -gt 0 ]
	cmp link.key <(head -c "$size" /dev/zero)
	run --separate-stderr fl-mask --forget -k c1.key
	assert_equal "$status" 1
	[[ $stderr == *"c1.key"* ]] || fail "stderr: $stderr"
	# A forget cut short between the zeros and the removal: the next one
	# finishes it.
	head -c "$(stat -c %s c3.key)" /dev/zero > c3.zero
	cat c3.zero > c3.key
	fl-mask --forget -k c3.key
	[ ! -e c3.key ]
	# Only a key file is forgotten.
	cp c2.ring notakey.flt
	chmod 600 notakey.flt
	run --separate-stderr fl-mask --forget -k notakey.flt
	assert_equal "$status" 1
	cmp notakey.flt c2.ring
}

# A free() that reports every freed block holding a secret of the key
# file or identity, or a secret key derived from them (tests/data/
# freescan.c, preloaded): the steps wipe what they read and derive before
# it goes back to the allocator.  (8dee25b left all three secrets of the
# key file in the 4 KiB stdio buffer that read it.)  Under FL_QEMU it is
# built with FL_CC (make check-cross: the cross compiler) and preloaded
# into the emulated program (QEMU_SET_ENV), not into qemu.
freescan() {
	if [ -n "${FL_QEMU:-}" ]; then
		QEMU_SET_ENV=LD_PRELOAD=$PWD/freescan.so "$@"
	else
		LD_PRELOAD=$PWD/freescan.so "$@"
	fi
}

@test "attack 9: no secret of a key file or identity is left in freed memory" {
	[ -z "${FL_SANITIZE:-}" ] || skip "the sanitizers own free()"
	[ -z "${FL_VALGRIND:-}" ] || skip "valgrind owns free()"
	if ! readelf -l "${FL_REAL_BIN:-${FL_BIN:-$TOP/bin}}/fl-mask" |
	    grep -q 'Requesting program interpreter'; then
		skip "a static build: nothing can be preloaded to watch free()"
	fi
	${FL_CC:-cc} -shared -fPIC -O1 -o freescan.so "$DATA/freescan.c" -ldl ||
	    skip "no C compiler"
	round5
	# The file's secrets, and the X25519 secret keys derived from them
	# (crypto_kx_seed_keypair, crypto_box_seed_keypair).
	secrets=$("$PYTHON" -c '
import hashlib, sys
sys.path.insert(0, "'"$TOP"'/examples/python")
import flt
out = []
for f in ("c1.key", "c1.id"):
    for m, t in flt.read_records(open(f, "rb")):
        sk = {k: bytes(v) for k, v in t.items() if k.startswith("sk.")}
        out += list(sk.values())
        if "sk.mask-seed" in sk:
            out.append(hashlib.blake2b(sk["sk.mask-seed"], digest_size=32).digest())
            out.append(hashlib.sha512(sk["sk.box-seed"]).digest()[:32])
print(",".join(s.hex() for s in out))')
	[ "$(tr , '\n' <<< "$secrets" | wc -l)" -eq 6 ]
	printf 'c1\nc2\nc3\nc4\n' > alive
	export FL_FREESCAN=$secrets FL_FREESCAN_LOG=$PWD/found
	cp c1.key c1.orig
	run freescan fl-mask -k c1.key -r roster.flt \
	    -s shares.flt -o c1.masked c1.ring
	assert_success
	mask roster.flt shares.flt 2 3 4
	run freescan fl-mask --confirm alive -k c1.key \
	    -i c1.id -r roster.flt -s shares.flt -o c1.confirm
	assert_success
	confirm roster.flt shares.flt alive 2 3 4
	cat c?.confirm > confirms.flt
	run freescan fl-mask --reveal alive -k c1.key \
	    -r roster.flt -s shares.flt --confirmations confirms.flt \
	    -o c1.reveal
	assert_success
	cp c1.orig c9.key
	run freescan fl-mask --forget -k c9.key
	assert_success
	[ ! -s found ] || fail "secrets in freed memory: $(cat found)"
	# The scanner finds a secret where there is one.
	FL_FREESCAN_SELFTEST=1 run freescan fl-mask --help
	[ -s found ] || fail "the scanner found nothing in its self-test"
}

# ---- a server that deviates at each step ----

@test "keys: swapped, re-signed or replayed keys, and forged enrolments, are refused" {
	round5
	# The server puts its own keys under c2's name (it cannot sign them
	# with c2's identity).
	fl-mask --make-identity --client c2 -i fake.id --operator op.pub \
	    --seed other -o fake.idpub
	fl-mask --keygen --round 3 -k fake.key -i fake.id --seed other -o fake.pub
	cat c1.pub fake.pub c3.pub c4.pub c5.pub > pubs
	run --separate-stderr fl-mask --make-roster -e enrolment.flt $GRAPH \
	    -o swapped.flt pubs
	refused enrolment.flt "client 'c2' is enrolled with another identity key" swapped.flt
	# The same, with c2's real identity key claimed but not its signature.
	edit fake.pub claim.pub "
import subprocess
real = [t for m, t in __import__('flt').read_records(open('c2.pub', 'rb'))][0]
recs[0][1]['pk.identity'][:] = real['pk.identity']"
	edit roster.flt swapped.flt "
other = [(dict(m), t) for m, t in __import__('flt').read_records(open('claim.pub', 'rb'))][0]
recs[2] = (recs[2][0], {k: v.copy() for k, v in other[1].items()})"
	run --separate-stderr fl-mask --share -k c1.key -r swapped.flt \
	    -e enrolment.flt --min-clients 3 $GRAPH -o x.shares
	refused swapped.flt "" x.shares
	[[ $stderr == *"altered roster"* || $stderr == *"signature is not valid"* ]] ||
	    fail "stderr: $stderr"
	# Keys of another round under this round's roster.
	fl-mask --keygen --round 4 -k r4.key -i c1.id -o c1.r4.pub
	run --separate-stderr fl-mask --make-roster -e enrolment.flt $GRAPH \
	    -o r.flt c1.r4.pub c2.pub c3.pub c4.pub c5.pub
	refused "" "round" r.flt
	# An enrolment altered after the operator signed it.
	edit enrolment.flt altered.flt 'recs[0][1]["pk.identity"][4, 0] ^= 1'
	run --separate-stderr fl-mask --share -k c2.key -r roster.flt \
	    -e altered.flt --min-clients 3 $GRAPH -o x.shares
	refused altered.flt "the operator's signature is not valid" x.shares
	# A roster whose keys carry a bad signature, made by hand (the
	# session recomputed, so only the signature can tell).
	"$PYTHON" - "$TOP/tests" "$TOP/examples/python" <<'EOF'
import sys
sys.path[:0] = sys.argv[1:3]
import flt, secagg_kat as kat
recs = [(dict(m), {k: v.copy() for k, v in t.items()})
        for m, t in flt.read_records(open("roster.flt", "rb"))]
recs[2][1]["sig"][0] ^= 1
flt.write_record(open("badsig.flt", "wb"), *recs[0])
with open("badsig.flt", "ab") as f:
    for m, t in recs[1:]:
        flt.write_record(f, m, t)
EOF
	run --separate-stderr fl-mask --share -k c1.key -r badsig.flt \
	    -e enrolment.flt --min-clients 3 $GRAPH -o x.shares
	refused badsig.flt "client 'c2': the keys' signature is not valid under its identity key" x.shares
}

@test "shares: a server that hides a client's envelope from one client, or shows clients different sets, gets nothing" {
	round5
	# c3's shares record without its envelope for c1.
	edit shares.flt hidden.flt '
for m, t in recs:
    if m["client"] == "c3":
        keep = [i for i, x in enumerate(t["to"]) if x != 1]
        t["to"] = t["to"][keep]
        t["box"] = t["box"][keep]'
	run --separate-stderr fl-mask -k c1.key -r roster.flt -s hidden.flt \
	    -o c1.masked c1.ring
	refused hidden.flt "client 'c3' shared, but sent this client no envelope" c1.masked
	# Different sets of shares for different clients: the masked records
	# disagree on who shared, and the server cannot sum them.
	cat c[1-4].shares > four.flt
	mask roster.flt shares.flt 1 2 3
	fl-mask -k c4.key -r roster.flt -s four.flt -o c4.masked c4.ring
	printf 'c1\nc2\nc3\nc4\n' > alive
	run --separate-stderr fl-aggregate --roster roster.flt \
	    --shares shares.flt --reveals /dev/null -o sum.flt c[1-4].masked
	refused c4.masked "secagg.shared" sum.flt
}

@test "consistency: lists without this client, with a non-sharer, or below the quorum are not confirmed" {
	round5
	mask roster.flt shares.flt 1 2 3 4
	cp c1.key before.key
	printf 'c2\nc3\nc4\n' > without1
	run --separate-stderr fl-mask --confirm without1 -k c1.key -i c1.id \
	    -r roster.flt -s shares.flt -o c1.confirm
	refused without1 "listed as dropped" c1.confirm
	cat c[1-4].shares > four.flt
	printf 'c1\nc2\nc5\n' > with5
	run --separate-stderr fl-mask --confirm with5 -k c1.key -i c1.id \
	    -r roster.flt -s four.flt -o c1.confirm
	refused "" "" c1.confirm
	[[ $stderr == *"client 'c5' is listed as a survivor but never shared"* ||
	    $stderr == *"masked another update (or with other shares)"* ||
	    $stderr == *"c5"* ]] || fail "stderr: $stderr"
	printf 'c1\nc2\n' > two
	run --separate-stderr fl-mask --confirm two -k c1.key -i c1.id \
	    -r roster.flt -s shares.flt -o c1.confirm
	refused two "2 survivors, fewer than the 3 the round needs" c1.confirm
	# Another device's identity cannot confirm for this key file.
	printf 'c1\nc2\nc3\n' > three
	run --separate-stderr fl-mask --confirm three -k c1.key -i c2.id \
	    -r roster.flt -s shares.flt -o c1.confirm
	refused c1.key "the identity of 'c2' did not make the key file of 'c1'" c1.confirm
	cmp c1.key before.key
	# A client that masked nothing (c5) is not a survivor.
	printf 'c1\nc2\nc3\nc5\n' > with5
	run --separate-stderr fl-mask --confirm with5 -k c5.key -i c5.id \
	    -r roster.flt -s shares.flt -o c5.confirm
	refused c5.key "this client has masked no update in this session" c5.confirm
}

@test "reveal: only for the list confirmed, and only with a quorum of valid confirmations" {
	round5
	mask roster.flt shares.flt 1 2 3 4 5
	printf 'c1\nc2\nc3\nc4\nc5\n' > all
	printf 'c1\nc2\nc3\nc4\n' > four
	# Not confirmed yet.
	run --separate-stderr fl-mask --reveal all -k c1.key -r roster.flt \
	    -s shares.flt --confirmations /dev/null -o c1.reveal
	refused all "has not confirmed this set of survivors: --confirm first" c1.reveal
	confirm roster.flt shares.flt all 1 2 3
	cat c1.confirm > one.flt
	# One valid confirmation, a repeat of it, one forged (a flipped bit
	# of c2's), one for another list and one of a non-survivor: 1 + 0.
	edit c2.confirm forged.flt 'recs[0][1]["sig"][5] ^= 1'
	fl-mask --confirm four -k c4.key -i c4.id -r roster.flt -s shares.flt \
	    -o c4.four
	cat c1.confirm c1.confirm forged.flt c4.four > weak.flt
	run --separate-stderr fl-mask --reveal all -k c1.key -r roster.flt \
	    -s shares.flt --confirmations weak.flt -o c1.reveal
	refused all "1 valid confirmations of this set of survivors, fewer than the 3 needed" c1.reveal
	# A confirmation from another session (the same client, another
	# roster) fails its signature here.
	edit c2.confirm relabel.flt 'recs[0][0]["secagg.survivors"] = "0" * 64'
	cat c1.confirm c3.confirm relabel.flt > two.flt
	run --separate-stderr fl-mask --reveal all -k c1.key -r roster.flt \
	    -s shares.flt --confirmations two.flt -o c1.reveal
	refused all "2 valid confirmations" c1.reveal
	# With the quorum, c1 reveals for the list it confirmed, and only it.
	cat c1.confirm c2.confirm c3.confirm > good.flt
	fl-mask --reveal all -k c1.key -r roster.flt -s shares.flt \
	    --confirmations good.flt -o c1.reveal
	run --separate-stderr fl-mask --reveal four -k c1.key -r roster.flt \
	    -s shares.flt --confirmations good.flt -o c1.other
	refused four "this client confirmed another set of survivors" c1.other
	# c4 confirmed list "four": it will not reveal for "all".
	run --separate-stderr fl-mask --reveal all -k c4.key -r roster.flt \
	    -s shares.flt --confirmations good.flt -o c4.reveal
	refused all "confirmed another set of survivors" c4.reveal
}
