#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
#
# Start (or stop) the nginx of an HTTPS cron deployment: Debian's nginx,
# not as a system service but with its own configuration, pid file, logs
# and temporary files in STATE, made from nginx.conf.in (beside this
# script).  See examples/cron/README, "Over HTTPS".
#
#   start-nginx.sh -r ROUNDS -u UPLOADS -k PKI [-l ADDR] [-p PORT] STATE
#   start-nginx.sh --reload STATE
#   start-nginx.sh --stop STATE
#
#   -r ROUNDS   the round directory, served for GET
#   -u UPLOADS  where devices PUT their files (UPLOADS/ID/R.A/KIND.flt);
#               not inside ROUNDS
#   -k PKI      the directory of ca.crt, ca.crl, server.crt and
#               server.key (make-ca.sh; the CA's key need not be there)
#   -l ADDR     the address to listen on [127.0.0.1]
#   -p PORT     the port [8443]
#
# It prints the URL the devices use (FL_SERVER_URL) and exits; nginx runs
# on as a daemon until --stop (or a TERM to the pid in STATE/nginx.pid).
# Started again while it runs, it prints the URL and changes nothing.
# --reload: nginx reads PKI again (a new ca.crl after make-ca.sh revoke,
# a renewed server certificate) without stopping; a connection made
# with a certificate revoked since is closed after its request.
# Run as root, nginx's workers run as the owner of UPLOADS (give it to an
# unprivileged user).  Exit status: 0, 1 on an error, 2 on a usage error.
set -eu -o pipefail

usage() {
	echo "usage: start-nginx.sh -r ROUNDS -u UPLOADS -k PKI [-l ADDR] [-p PORT] STATE" >&2
	echo "       start-nginx.sh --reload STATE | --stop STATE" >&2
	exit 2
}
die() {
	echo "start-nginx.sh: $*" >&2
	exit 1
}
# running STATE: the pid of the nginx running for STATE, if any.
running() {
	local pid
	[ -r "$1/nginx.pid" ] || return 1
	pid=$(cat "$1/nginx.pid")
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	kill -0 "$pid" 2> /dev/null || return 1
	echo "$pid"
}

if [ "${1:-}" = --stop ]; then
	[ $# -eq 2 ] || usage
	pid=$(running "$2") || exit 0
	kill -TERM "$pid"
	for _ in $(seq 50); do
		kill -0 "$pid" 2> /dev/null || exit 0
		sleep 0.1
	done
	die "nginx (pid $pid) did not stop"
fi

if [ "${1:-}" = --reload ]; then
	[ $# -eq 2 ] || usage
	pid=$(running "$2") || die "nginx is not running for $2"
	command -v nginx > /dev/null || PATH=$PATH:/usr/sbin
	nginx -q -t -p "$2" -e "$2/error.log" -c "$(realpath "$2")/nginx.conf" \
	    2> "$2/reload.err" ||
	    die "the configuration does not load, nginx left as it was: $(tail -n 2 "$2/reload.err")"
	kill -HUP "$pid"
	echo "start-nginx.sh: reloaded (pid $pid)" >&2
	exit 0
fi

ROUNDS='' UPLOADS='' PKI='' ADDR=127.0.0.1 PORT=8443
while getopts r:u:k:l:p: o; do
	case $o in
	r) ROUNDS=$OPTARG ;;
	u) UPLOADS=$OPTARG ;;
	k) PKI=$OPTARG ;;
	l) ADDR=$OPTARG ;;
	p) PORT=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -ne 1 ] || [ -z "$ROUNDS" ] || [ -z "$UPLOADS" ] || [ -z "$PKI" ]; then
	usage
fi
STATE=$1
case $PORT in
'' | *[!0-9]*) die "bad port '$PORT'" ;;
esac
if [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then
	die "bad port '$PORT'"
fi
case $ADDR in
'' | *[!0-9A-Za-z.:-]*) die "bad address '$ADDR'" ;;
*:*) LISTEN="[$ADDR]:$PORT" ;;
*) LISTEN="$ADDR:$PORT" ;;
esac
command -v nginx > /dev/null || PATH=$PATH:/usr/sbin
command -v nginx > /dev/null || die "nginx is not installed (Debian: nginx-core)"
for f in ca.crt ca.crl server.crt server.key; do
	[ -r "$PKI/$f" ] || die "no $PKI/$f: make it with make-ca.sh"
done
[ -d "$ROUNDS" ] || die "no round directory $ROUNDS"
mkdir -p "$UPLOADS" "$STATE"
ROUNDS=$(realpath "$ROUNDS")
UPLOADS=$(realpath "$UPLOADS")
PKI=$(realpath "$PKI")
STATE=$(realpath "$STATE")
case $UPLOADS/ in
"$ROUNDS"/*) die "$UPLOADS is inside the round directory: anyone could GET the uploads" ;;
esac
# The paths go into the configuration between double quotes.
for p in "$ROUNDS" "$UPLOADS" "$PKI" "$STATE"; do
	case $p in
	*[!A-Za-z0-9._/+,=@~-]*) die "'$p': a path of other characters than [A-Za-z0-9._/+,=@~-]" ;;
	esac
done

if pid=$(running "$STATE"); then
	echo "start-nginx.sh: already running (pid $pid)" >&2
else
	USERLINE=
	if [ "$(id -u)" -eq 0 ]; then
		USERLINE="user $(stat -c '%U %G' "$UPLOADS");"
		# The workers write uploads into STATE/body first.
		chown "$(stat -c '%u:%g' "$UPLOADS")" "$STATE"
	fi
	chmod 700 "$STATE"
	sed -e "s|@USER@|$USERLINE|" -e "s|@STATE@|$STATE|g" \
	    -e "s|@ROUNDS@|$ROUNDS|g" -e "s|@UPLOADS@|$UPLOADS|g" \
	    -e "s|@PKI@|$PKI|g" -e "s|@LISTEN@|$LISTEN|g" \
	    "$(dirname "$0")/nginx.conf.in" > "$STATE/nginx.conf.tmp.$$"
	mv -f "$STATE/nginx.conf.tmp.$$" "$STATE/nginx.conf"
	mkdir -p "$STATE/body"
	nginx -q -p "$STATE" -e "$STATE/error.log" -c "$STATE/nginx.conf" ||
	    die "nginx did not start: $(tail -n 3 "$STATE/error.log" 2> /dev/null)"
	# The daemon writes its pid file just after the parent exits.
	for _ in $(seq 50); do
		! running "$STATE" > /dev/null || break
		sleep 0.1
	done
	running "$STATE" > /dev/null || die "nginx did not start: $(tail -n 3 "$STATE/error.log")"
fi
echo "https://$LISTEN/"
