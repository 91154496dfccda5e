# Loaded by the secure-aggregation tests: a round played by hand, one
# step at a time, so that a test can let the server deviate at any step.
# Identities and keys come from --seed: reproducible, and not private.

# world N [ID...]: an operator identity (op.id, op.pub), N client
# identities c1..cN (cI.id, cI.idpub) pinning it, and the enrolment of
# all of them (enrolment.flt).
world() {
	local n=$1 i
	fl-mask --make-identity --client op -i op.id --seed t -o op.pub
	for ((i = 1; i <= n; i++)); do
		fl-mask --make-identity --client "c$i" -i "c$i.id" \
		    --operator op.pub --seed t -o "c$i.idpub"
	done
	fl-mask --make-enrolment -i op.id -o enrolment.flt c*.idpub
}

# keys ROUND I...: clients I... make their keys of ROUND (cI.key, cI.pub).
keys() {
	local round=$1 i
	shift
	for i in "$@"; do
		fl-mask --keygen --round "$round" -k "c$i.key" -i "c$i.id" \
		    --seed t -o "c$i.pub"
	done
}

# GRAPH: the graph options every step of a test's round gives, to the
# roster and to each client alike.
GRAPH=${GRAPH:-}

# roster OUT PUB...: the server's roster of the public keys.
roster() {
	local out=$1
	shift
	# shellcheck disable=SC2086
	cat "$@" | fl-mask --make-roster -e enrolment.flt $GRAPH -o "$out"
}

# share ROSTER I...: clients I... share (cI.shares), checking ROSTER.
share() {
	local r=$1 i
	shift
	for i in "$@"; do
		# shellcheck disable=SC2086
		fl-mask --share -k "c$i.key" -r "$r" -e enrolment.flt \
		    --min-clients 3 $GRAPH -o "c$i.shares"
	done
}

# update I VALUES...: cI.ring, a ring record (modulus 2^16) of VALUES.
update() {
	local i=$1 v
	shift
	v=$(IFS=,; echo "$*")
	fl-pack -m kind=update -m modulus=65536 -m round=3 -t "w:u32=$v" \
	    -o "c$i.ring"
}

# mask ROSTER SHARES I...: clients I... mask cI.ring into cI.masked.
mask() {
	local r=$1 s=$2 i
	shift 2
	for i in "$@"; do
		fl-mask -k "c$i.key" -r "$r" -s "$s" -o "c$i.masked" "c$i.ring"
	done
}

# confirm ROSTER SHARES LIST I...: clients I... confirm the survivor
# list LIST (cI.confirm).
confirm() {
	local r=$1 s=$2 l=$3 i
	shift 3
	for i in "$@"; do
		fl-mask --confirm "$l" -k "c$i.key" -i "c$i.id" -r "$r" -s "$s" \
		    -o "c$i.confirm"
	done
}

# reveal ROSTER SHARES LIST CONFIRMATIONS I...: clients I... answer the
# unmask request (cI.reveal).
reveal() {
	local r=$1 s=$2 l=$3 c=$4 i
	shift 4
	for i in "$@"; do
		fl-mask --reveal "$l" -k "c$i.key" -r "$r" -s "$s" \
		    --confirmations "$c" -o "c$i.reveal"
	done
}

# round5: five enrolled clients of round 3, none assumed corrupt (full
# graph, t = 3, quorum 3): roster.flt, shares.flt, ring updates
# cI.ring = I, 10 I, 100 I.
round5() {
	GRAPH="--corrupt 0 --degree 4 --threshold 3"
	world 5
	keys 3 1 2 3 4 5
	roster roster.flt c?.pub
	share roster.flt 1 2 3 4 5
	cat c?.shares > shares.flt
	for i in 1 2 3 4 5; do
		update "$i" "$i" $((10 * i)) $((100 * i))
	done
}

# attack TARGET MASKED [--roster R --reveals F]...: the server's best
# computation (tests/secagg_attack.py) from the files it holds; the
# attacker must get nothing.
attack_fails() {
	run "$PYTHON" "$TOP/tests/secagg_attack.py" "$@"
	assert_failure 1
	assert_output --partial "nothing"
}
