#!/bin/sh
# Issue 19's target: a round of 100 devices of the cron deployment
# (examples/cron) over HTTPS on loopback (nginx with mutual TLS started by
# start-nginx.sh, curl on the devices, server.sh taking the uploads)
# against the same round over a shared directory, side by side in one run.
# Both run the same way, as a simulation would: passes of one server.sh
# run and then the 100 devices' client.sh runs, two at a time (xargs -P
# 2), until the round is DONE (the next model installed and evaluated on a
# held-out set).  Every phase closes as soon as every device's file is in
# (no dropout, no deadline reached).  What a deployment does once (data,
# identities, enrolment, the CA and the certificates, starting nginx) is
# outside the clock; each round starts from the same fresh state.
#
#   BENCH_HTTPS_RUNS  rounds per transport [2]
#   BENCH_HTTPS_N     devices [100] (fewer: to profile)
# bench: no inputs
set -eu
. bench/lib.sh

n=${BENCH_HTTPS_N:-100} runs=${BENCH_HTTPS_RUNS:-2}
W=$WORK/19-https
# (BENCH_CRON: another copy of examples/cron, to compare versions)
CRON=${BENCH_CRON:-examples/cron}
B=$(cd "$FL_BIN" && pwd)
command -v nginx > /dev/null || [ -x /usr/sbin/nginx ] ||
    { echo "19-https: nginx is not installed (make deps)" >&2; exit 1; }
rm -rf "$W"
mkdir -p "$W/tmpl/server" "$W/op"
# (fl-split's shards: c00.flt to c99.flt)
ids=$(seq -f 'c%02g' 0 $((n - 1)))

# Once per deployment: data, identities, enrolment, certificates.
mkdir -p "$W/data"
"$B/fl-split" --synthetic $((n * 50)) --features 784 --classes 10 -n "$n" \
    --seed https -p "$W/data/c" > /dev/null
"$B/fl-split" --synthetic 1000 --features 784 --classes 10 -n 1 \
    --seed held-out -o "$W/held.flt" > /dev/null
"$B/fl-mask" --make-identity --client op -i "$W/op/op.id" -o "$W/op/op.pub"
"$CRON/https/make-ca.sh" "$W/pki" ca > /dev/null
"$CRON/https/make-ca.sh" "$W/pki" server localhost 127.0.0.1 > /dev/null
for c in $ids; do
	mkdir -p "$W/tmpl/clients/$c"
	chmod 700 "$W/tmpl/clients/$c"
	"$B/fl-mask" --make-identity --client "$c" \
	    -i "$W/tmpl/clients/$c/identity" --operator "$W/op/op.pub" \
	    -o "$W/op/$c.idpub"
done
# shellcheck disable=SC2086 # the ids
"$CRON/https/make-ca.sh" "$W/pki" client $ids > /dev/null
for c in $ids; do
	cp "$W/pki/ca.crt" "$W/tmpl/clients/$c/ca.crt"
	cp "$W/pki/clients/$c.crt" "$W/tmpl/clients/$c/client.crt"
	cp "$W/pki/clients/$c.key" "$W/tmpl/clients/$c/client.key"
done
cat "$W"/op/c*.idpub | "$B/fl-mask" --make-enrolment -i "$W/op/op.id" \
    -o "$W/tmpl/server/enrolment.flt"
echo "$ids" > "$W/ids"

# nginx, started once (a deployment's server runs on), on a free port.
mkdir -p "$W/https/rounds"
tries=0
until url=$("$CRON/https/start-nginx.sh" -r "$W/https/rounds" \
    -u "$W/https/uploads" -k "$W/pki" -l 127.0.0.1 \
    -p "$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')" \
    "$W/nginx" 2> "$W/nginx.err"); do
	tries=$((tries + 1))
	[ "$tries" -lt 5 ] || { cat "$W/nginx.err" >&2; exit 1; }
done
trap '"$CRON/https/start-nginx.sh" --stop "$W/nginx"' EXIT

# The environment of both scripts: 100 expected, every phase closes when
# all are in (the deadlines are never reached), one round, evaluated.
export FL_BIN="$B" FL_EXPECT="$n" FL_LAST_ROUND=1 FL_KEYS_SECS=3600 \
    FL_SHARE_SECS=3600 FL_MASK_SECS=3600 FL_CONFIRM_SECS=3600 \
    FL_REVEAL_SECS=3600 FL_EVAL_DATA="$W/held.flt"
unset FL_VERBOSE FL_CRASH_AT FL_TRAINER FL_SERVER_URL FL_UPLOADS

now() { date +%s.%N; }

# round T: one round over transport T (shared or https) from a fresh
# state; its wall time is appended to $W/T.secs, its passes to T.passes.
round() {
	t=$1 w=$W/$1
	rm -rf "$w/server" "$w/clients" "$w/rounds" "$w/uploads"
	mkdir -p "$w/rounds"
	cp -a "$W/tmpl/server" "$W/tmpl/clients" "$w/"
	if [ "$t" = https ]; then
		set -- FL_SERVER_URL="$url" FL_UPLOADS="$w/uploads"
		mkdir -p "$w/uploads"
	else
		set -- FL_TRANSPORT=shared
	fi
	t0=$(now)
	p=0 srv=0
	until [ -e "$w/rounds/0.1/DONE" ]; do
		p=$((p + 1))
		if [ "$p" -gt 20 ]; then
			echo "19-https: $t: no DONE after 20 passes" >&2
			tail "$w/server/log" >&2
			exit 1
		fi
		ts=$(now)
		env "$@" FL_ROUNDS="$w/rounds" FL_SERVER_DIR="$w/server" \
		    "$CRON/server.sh"
		tc=$(now)
		srv=$(awk -v s="$srv" -v a="$ts" -v b="$tc" 'BEGIN { print s + b - a }')
		[ ! -e "$w/rounds/0.1/DONE" ] || break
		xargs -P 2 -I{} env "$@" FL_ROUNDS="$w/rounds" FL_CLIENT={} \
		    FL_DATA="$W/data/{}.flt" FL_CLIENT_DIR="$w/clients/{}" \
		    "$CRON/client.sh" < "$W/ids"
	done
	t1=$(now)
	echo "$srv" >> "$W/$t.server"
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' >> "$W/$t.secs"
	echo "$p" > "$W/$t.passes"
	[ "$("$B/fl-inspect" -g clients "$w/rounds/0.1/sum.flt")" = "$n" ] ||
	    { echo "19-https: $t: not $n clients summed" >&2; exit 1; }
	[ "$("$B/fl-inspect" -g round "$w/server/model.flt")" = 1 ]
	grep -q '^1	' "$w/server/eval.tsv"
}

# Interleaved, so that a burst of noise on this shared machine hits both
# alike (the inputs are in the page cache already: no warm-up round, a
# round takes minutes).
rm -f "$W/shared.secs" "$W/https.secs"
i=0
while [ "$i" -lt "$runs" ]; do
	round shared
	round https
	i=$((i + 1))
done

best() { sort -n "$W/$1.secs" | head -1; }
mean() { awk '{ s += $1 } END { printf "%.2f", s / NR }' "$W/$1.secs"; }
sh_best=$(best shared) tls_best=$(best https)
r=$(ratio "$tls_best" "$sh_best")
# What went over the wire (the access log of the last round: requests
# and TLS handshakes, i.e. connections).
reqs=$(wc -l < "$W/nginx/access.log")
reqs=$((reqs / runs))

echo "## A round of 100 devices over HTTPS against a shared directory (issue 19)"
echo
echo "examples/cron: server.sh and $n devices' client.sh, one round (keys,"
echo "shares, masked updates, confirmations, reveals, unmasking, release,"
echo "the next model evaluated on 1000 held-out examples), logreg:784-10,"
echo "50 synthetic examples a device.  Passes of one server run and then"
echo "the $n client runs two at a time (xargs -P 2) until DONE"
echo "($(cat "$W/https.passes") passes over HTTPS, $(cat "$W/shared.passes") over the shared directory); no dropout."
echo "HTTPS: nginx (start-nginx.sh, mutual TLS, P-256) on 127.0.0.1, curl on"
echo "the devices (about $reqs requests a round), server.sh taking the uploads"
echo "(FL_UPLOADS).  Best of $runs rounds each, interleaved (mean beside"
echo "it)."
echo
table_head
row "a round of $n devices over HTTPS" "$tls_best s (mean $(mean https) s)" \
    "the same round over a shared directory" \
    "$sh_best s (mean $(mean shared) s)" "$r" "BENCH_SECTIONS=19 make bench"
echo
target "a round of 100 devices over HTTPS on loopback: <= 1.5 x the shared directory's wall time" \
    "$r x ($tls_best s against $sh_best s)" "$(ge 1.5 "$r")"
