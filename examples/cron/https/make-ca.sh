#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
#
# The private certificate authority of an HTTPS cron deployment (see
# examples/cron/README, "Over HTTPS"), with openssl: the CA, the server's
# certificate, and one client certificate per enrolled device, whose CN is
# the device's client id (the id of its fl-mask --make-identity).
#
#   make-ca.sh DIR ca                  the CA: DIR/ca.key (0600), ca.crt
#   make-ca.sh DIR server NAME...      DIR/server.key (0600), server.crt
#                                      for these host names and IP
#                                      addresses (subjectAltName)
#   make-ca.sh DIR client ID|FILE...   DIR/clients/ID.key (0600), ID.crt;
#                                      FILE: a device's public identity
#                                      (ID.idpub), whose client id is used
#
# Keys are EC P-256.  Every step is idempotent: what is there is kept (a
# certificate is made again only if it is missing; to renew one, remove
# it), and the CA is never made again once its key exists (remove DIR to
# start over: every certificate it signed is then worthless).  Files
# appear whole or not at all.  Environment: FL_CERT_DAYS, the validity of
# the server and client certificates [365] (the CA's is 10 years);
# FL_BIN, put first on PATH (for fl-inspect, reading FILE).
# Exit status: 0, 1 on an error, 2 on a usage error.
set -eu -o pipefail

usage() {
	echo "usage: make-ca.sh DIR ca | DIR server NAME... | DIR client ID|FILE..." >&2
	exit 2
}
die() {
	echo "make-ca.sh: $*" >&2
	exit 1
}
[ $# -ge 2 ] || usage
case $2 in
ca) [ $# -eq 2 ] || usage ;;
server | client) [ $# -ge 3 ] || usage ;;
*) usage ;;
esac
if [ -n "${FL_BIN:-}" ]; then
	PATH=$FL_BIN:$PATH
fi
DIR=$1
CMD=$2
shift 2
DAYS=${FL_CERT_DAYS:-365}
case $DAYS in
'' | *[!0-9]* | 0) die "bad FL_CERT_DAYS '$DAYS': a number of days" ;;
esac
umask 077
TMP=
trap 'rm -f "$TMP" "$TMP.csr"' EXIT

# key FILE: a new EC P-256 private key in FILE (0600), unless there is one.
key() {
	[ ! -e "$1" ] || return 0
	TMP=$1.tmp.$$
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$TMP" 2> /dev/null || die "openssl cannot make a key"
	mv -f "$TMP" "$1"
}

# sign KEY CERT SUBJECT EXTENSIONS: CERT for KEY's public key, signed by
# the CA, with these X.509v3 extensions (one per line).
sign() {
	TMP=$2.tmp.$$
	openssl req -new -key "$1" -subj "$3" -out "$TMP.csr" ||
	    die "openssl cannot make the request for $2"
	openssl x509 -req -in "$TMP.csr" -CA "$DIR/ca.crt" \
	    -CAkey "$DIR/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
	    -days "$DAYS" -extfile <(printf '%s\n' "$4") -out "$TMP" \
	    2> /dev/null || die "openssl cannot sign $2"
	chmod 644 "$TMP"
	mv -f "$TMP" "$2"
	rm -f "$TMP.csr"
	echo "$2"
}

# The CA must be whole and its certificate must be its key's.
need_ca() {
	[ -e "$DIR/ca.key" ] || die "no CA in $DIR: make it first (make-ca.sh $DIR ca)"
	[ -e "$DIR/ca.crt" ] || die "$DIR/ca.key without ca.crt: remove $DIR/ca.key and make the CA again"
	[ "$(openssl x509 -in "$DIR/ca.crt" -noout -pubkey)" = \
	    "$(openssl pkey -in "$DIR/ca.key" -pubout)" ] ||
	    die "$DIR/ca.crt is not the certificate of $DIR/ca.key"
}

case $CMD in
ca)
	mkdir -p "$DIR"
	if [ -e "$DIR/ca.crt" ]; then
		need_ca
		echo "$DIR/ca.crt (kept: a CA is never made again)"
		exit 0
	fi
	[ ! -e "$DIR/ca.key" ] ||
	    die "$DIR/ca.key exists without ca.crt: the CA is not made again over it"
	key "$DIR/ca.key.new"
	TMP=$DIR/ca.crt.tmp.$$
	openssl req -x509 -new -key "$DIR/ca.key.new" \
	    -subj "/CN=fltools private CA" -days 3650 \
	    -set_serial "0x$(openssl rand -hex 16)" \
	    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
	    -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$TMP" ||
	    die "openssl cannot make the CA"
	chmod 644 "$TMP"
	# The key last: a CA key exists only with its certificate.
	mv -f "$TMP" "$DIR/ca.crt"
	mv -f "$DIR/ca.key.new" "$DIR/ca.key"
	echo "$DIR/ca.crt"
	;;
server)
	need_ca
	san=
	for n in "$@"; do
		case $n in
		'' | *[!A-Za-z0-9.:-]*) die "bad host name or address '$n'" ;;
		esac
		if [[ $n =~ ^[0-9.]+$ || $n == *:* ]]; then
			san=$san${san:+,}IP:$n
		else
			san=$san${san:+,}DNS:$n
		fi
	done
	key "$DIR/server.key"
	if [ -e "$DIR/server.crt" ]; then
		echo "$DIR/server.crt (kept: remove it to make it again)"
		exit 0
	fi
	sign "$DIR/server.key" "$DIR/server.crt" "/CN=$1" \
	    "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=$san"
	;;
client)
	need_ca
	mkdir -p "$DIR/clients"
	for a in "$@"; do
		id=$a
		if [ -f "$a" ]; then
			[ "$(fl-inspect -g kind "$a")" = secagg-identity ] ||
			    die "$a: not a public identity (fl-mask --make-identity -o)"
			id=$(fl-inspect -g client "$a")
		fi
		case $id in
		'' | .* | *[!A-Za-z0-9._-]*)
			die "bad client id '$id': [A-Za-z0-9._-], not first a dot" ;;
		esac
		key "$DIR/clients/$id.key"
		if [ -e "$DIR/clients/$id.crt" ]; then
			echo "$DIR/clients/$id.crt (kept)"
			continue
		fi
		sign "$DIR/clients/$id.key" "$DIR/clients/$id.crt" "/CN=$id" \
		    "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
	done
	;;
esac
