# Loaded by tests/examples.bats and tests/https.bats: the cron deployment of
# examples/cron/ with five devices, and what cron does in a minute.

CRON=$TOP/examples/cron

# cron_setup: five clients' data, the one-time setup of the README (the
# operator's identity, each device's identity in its state directory,
# the enrolment in the server's directory), and the environment of both
# scripts, with deadlines of a few seconds (only the share phase waits
# for one: c4 makes its keys and is never seen again).
cron_setup() {
	local i
	mkdir -p data operator server
	fl-split --synthetic 250 --features 784 --classes 10 -n 5 \
	    --seed cron -p data/c
	fl-mask --make-identity --client op -i operator/op.id \
	    -o operator/op.pub
	for i in 0 1 2 3 4; do
		mkdir -p -m 700 "clients/c$i"
		fl-mask --make-identity --client "c$i" -i "clients/c$i/identity" \
		    --operator operator/op.pub -o "operator/c$i.idpub"
	done
	cat operator/c?.idpub |
	    fl-mask --make-enrolment -i operator/op.id -o server/enrolment.flt
	export FL_ROUNDS=$PWD/rounds FL_SERVER_DIR=$PWD/server
	export FL_EXPECT=5 FL_LAST_ROUND=1 FL_KEYS_SECS=3 FL_SHARE_SECS=3
	export FL_MASK_SECS=3 FL_CONFIRM_SECS=3 FL_REVEAL_SECS=3
	# Five devices of which one drops: a roster that tolerates 1 in 5.
	export FL_DROPOUT=0.2
	unset FL_CRASH_AT FL_VERBOSE FL_MIN_CLIENTS FL_CORRUPT \
	    FL_SERVER_URL FL_UPLOADS FL_TRAINER FL_LABEL FL_NORMALIZE \
	    FL_CLASS_WEIGHTS FL_TRAIN_OPTS FL_EVAL_DATA FL_EVAL_OPTS \
	    CRON_DATA CRON_TRAINER
}

server() {
	"$CRON/server.sh"
}

# client I: one run of client cI, on data/cI.flt (data/cI.$CRON_DATA if
# set), with FL_TRAINER=${CRON_TRAINER[I]} if set (a bash array).
client() {
	FL_CLIENT=c$1 FL_DATA=data/c$1.${CRON_DATA:-flt} \
	    FL_TRAINER=${CRON_TRAINER[$1]:-${FL_TRAINER:-}} \
	    FL_CLIENT_DIR=clients/c$1 "$CRON/client.sh"
}

# pass: what cron does in a minute, here in a row: the server, then each
# client.  c4 drops: it runs until its public keys are sent, never after.
pass() {
	server
	local i
	for i in 0 1 2 3; do
		client "$i"
	done
	[ -e rounds/0.1/pub/c4.flt ] || client 4
}

# pass_until FILE: passes until the server makes FILE; the clients do
# not run after it appears.
pass_until() {
	local n=0 i
	while :; do
		n=$((n + 1))
		[ "$n" -le 150 ] || fail "no $1 after 150 passes: $(cat server/log)"
		server
		[ ! -e "$1" ] || return 0
		for i in 0 1 2 3; do
			client "$i"
		done
		[ -e rounds/0.1/pub/c4.flt ] || client 4
		sleep 0.2
	done
}

# passes_until FILE: whole passes until FILE exists (at most 150, 0.2 s
# apart).
passes_until() {
	local n=0
	while [ ! -e "$1" ]; do
		n=$((n + 1))
		[ "$n" -le 150 ] || fail "no $1 after 150 passes: $(cat server/log)"
		pass
		sleep 0.2
	done
}

# until_done: passes until round 0.1 is DONE.
until_done() {
	passes_until rounds/0.1/DONE
	# Once more: the server installs nothing new, the clients forget.
	pass
}

# snapshot: every file with its size, time and checksum.
snapshot() {
	find rounds server clients -type f -printf '%p %s %T@\n' | sort
	find rounds server clients -type f -print0 | sort -z |
	    xargs -0 sha256sum
}
