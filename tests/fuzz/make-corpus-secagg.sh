#!/bin/sh
# Regenerate tests/fuzz/corpus-secagg, the seeds of fuzz-secagg, from a real
# round played with fl-mask --seed: the one fuzz-secagg.c rebuilds in
# process (an operator "op" and four clients c1..c4 of round 3, seed "s",
# --degree 3 --threshold 3 --corrupt 0, ring records w:u32 = i,1000i,65535
# with modulus 65536).
# Needs the programs built (make).  Run from anywhere:
#   tests/fuzz/make-corpus-secagg.sh
#
# Each seed is one byte naming the target (byte % 4, see fuzz-secagg.c)
# and the bytes for it:
#   \000  roster stream          \001  one record (key, public key,
#   \002  reveals for ending 0          shares, confirmation, reveal,
#                                      identity, enrolment)
#   \006  reveals for ending 1   \003  sender, recipient, share envelope
#   \012  reveals for ending 2
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=$top/bin
out=$top/tests/fuzz/corpus-secagg
for p in fl-mask fl-pack fl-aggregate; do
	[ -x "$bin/$p" ] || { echo "$0: $bin/$p: run make first" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
rm -rf "$out"
mkdir -p "$out"

# seed NAME BYTE FILE...: the target byte (octal) and the files.
seed() {
	name=$1 byte=$2
	shift 2
	{ printf "\\$byte"; cat "$@"; } > "$out/$name"
}

graph="--degree 3 --threshold 3 --corrupt 0"
"$bin/fl-mask" --make-identity --client op -i op.id --seed s -o op.pub
for i in 1 2 3 4; do
	"$bin/fl-mask" --make-identity --client "c$i" -i "c$i.id" \
	    --operator op.pub --seed s -o "c$i.idpub"
done
"$bin/fl-mask" --make-enrolment -i op.id -o enrolment.flt c?.idpub
for i in 1 2 3 4; do
	"$bin/fl-mask" --keygen --round 3 -k "c$i.key" -i "c$i.id" \
	    --seed s -o "c$i.pub"
done
# shellcheck disable=SC2086
cat c1.pub c2.pub c3.pub c4.pub |
    "$bin/fl-mask" --make-roster -e enrolment.flt $graph -o roster.flt
for i in 1 2 3 4; do
	# shellcheck disable=SC2086
	"$bin/fl-mask" --share -k "c$i.key" -r roster.flt -e enrolment.flt \
	    --min-clients 3 $graph -o "c$i.shares"
	"$bin/fl-pack" -m kind=update -m modulus=65536 -m round=3 \
	    -t "w:u32=$i,$((i * 1000)),65535" -o "c$i.ring"
done
cat c1.shares c2.shares c3.shares c4.shares > shares4.flt
cat c1.shares c2.shares c3.shares > shares3.flt
printf 'c1\nc2\nc3\n' > surv3
printf 'c1\nc2\nc3\nc4\n' > surv4

# ending SURVIVORS SHARES CLIENTS...: the confirmations and reveals of
# CLIENTS (from copies of the key files: one survivor list per key file),
# checked by fl-aggregate on the masked records, into reveals.flt.
ending() {
	surv=$1 sh=$2
	shift 2
	rm -f reveals.flt confirms.flt
	for i in "$@"; do
		cp "c$i.key" "k$i.key"
		"$bin/fl-mask" -k "k$i.key" -r roster.flt -s "$sh" \
		    -o "m$i.flt" "c$i.ring"
		"$bin/fl-mask" --confirm "$surv" -k "k$i.key" -i "c$i.id" \
		    -r roster.flt -s "$sh" -o "y$i.flt"
		cat "y$i.flt" >> confirms.flt
	done
	for i in "$@"; do
		"$bin/fl-mask" --reveal "$surv" -k "k$i.key" -r roster.flt \
		    -s "$sh" --confirmations confirms.flt -o "r$i.flt"
		cat "r$i.flt" >> reveals.flt
		rm -f "k$i.key"
	done
	masked=$(for i in "$@"; do echo "m$i.flt"; done)
	# shellcheck disable=SC2086
	"$bin/fl-aggregate" --roster roster.flt --shares "$sh" \
	    --reveals reveals.flt -o sum.flt $masked
}

# Rosters: the real one, and one cut short.
seed roster 000 roster.flt
head -c 1000 roster.flt > short.flt
seed roster-short 000 short.flt

# Single records: a key file, a public key, share envelopes, an identity
# (secret and public), the enrolment; a confirmation and a reveal below.
seed secret 001 c1.key
seed public 001 c2.pub
seed shares 001 c1.shares
seed identity 001 c1.id
seed identity-public 001 c1.idpub
seed enrolment 001 enrolment.flt

# Reveals: every ending, and one reveal short of the threshold.
ending surv3 shares4.flt 1 2 3
seed reveal 001 r1.flt
seed confirm 001 y1.flt
seed unmask-0 002 reveals.flt
seed unmask-0-two 002 r1.flt r2.flt
ending surv4 shares4.flt 1 2 3 4
seed unmask-1 006 reveals.flt
ending surv3 shares3.flt 1 2 3
seed unmask-2 012 reveals.flt

# A share envelope of c1 for c2 (box 2 of c1.shares: the payload holds
# "to", u32 [4] padded to 64 bytes, then the boxes of 120 bytes).
hlen=$(od -An -tu4 -j12 -N4 c1.shares | tr -d ' ')
{ printf '\003\000\001'; dd if=c1.shares bs=1 skip=$((32 + hlen + 64 + 120)) \
    count=120 2>/dev/null; } > "$out/box-1-2"

# A known finding (see README): a roster head claiming 2^24 clients, which
# fl_sa_roster_read answers with calloc(n, sizeof(struct fl_sa_public)),
# 2.9 GB, before reading a single public key.  libFuzzer reports it as
# out-of-memory (malloc limit 2 GB); it stays as a seed once fixed.
/usr/bin/python3 "$top/tests/craft.py" -H 'kind=secagg-roster\nround=3\nsecagg.k=2\nsecagg.n=16777216\nsecagg.corrupt=0\nsecagg.session=fcf926cef2158b95545801c46edc6dc59368811b113b25ad5dbff3bf4a34a883\nsecagg.t=2\n' \
    -o big.flt
seed oom-roster-n16m 000 big.flt
