#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
#
# The private certificate authority of an HTTPS cron deployment (see
# examples/cron/README, "Over HTTPS"), with openssl: the CA, the server's
# certificate, and one client certificate per enrolled device, whose CN is
# the device's client id (the id of its fl-mask --make-identity).
#
# By the operator (the CA's side):
#   make-ca.sh DIR ca                  the CA: DIR/ca.key (0600), ca.crt,
#                                      and its (empty) CRL, DIR/ca.crl
#   make-ca.sh DIR server NAME...      DIR/server.key (0600), server.crt
#                                      for these host names and IP
#                                      addresses (subjectAltName)
#   make-ca.sh DIR client ID|FILE...   DIR/clients/ID.key (0600), ID.crt;
#                                      FILE: a device's public identity
#                                      (ID.idpub), whose client id is used
#   make-ca.sh DIR sign CSR...         DIR/clients/ID.crt for a device's
#                                      request ID.csr (below), whose CN
#                                      is ID; the device's key stays on
#                                      the device
#   make-ca.sh DIR revoke ID...        revoke ID's certificate: it goes
#                                      into DIR/ca.crl (give it to the
#                                      server's nginx: start-nginx.sh
#                                      --reload)
#   make-ca.sh DIR crl                 DIR/ca.crl made again (it is valid
#                                      FL_CRL_DAYS days: renew it before)
# By a device (no CA needed):
#   make-ca.sh DIR request ID          DIR/ID.key (0600), the device's own
#                                      key, and DIR/ID.csr, the request
#                                      to send to the operator
#
# Keys are EC P-256.  Every step is idempotent: what is there is kept (a
# certificate is made again only if it is missing; to renew one, remove
# it), and the CA is never made again once its key exists (remove DIR to
# start over: every certificate it signed is then worthless).  A request
# is signed only if its CN is a client id and no certificate of ID for
# another key is there (DIR/clients/ID.crt: remove it to enrol ID again
# with a new key, after revoking it).  Files appear whole or not at all.
# Environment: FL_CERT_DAYS, the validity of the server and client
# certificates [365] (the CA's is 10 years); FL_CRL_DAYS, the CRL's
# [365]; FL_BIN, put first on PATH (for fl-inspect, reading FILE).
# Exit status: 0, 1 on an error, 2 on a usage error.
set -eu -o pipefail

usage() {
	echo "usage: make-ca.sh DIR ca | DIR server NAME... | DIR client ID|FILE..." >&2
	echo "       make-ca.sh DIR sign CSR... | DIR revoke ID... | DIR crl" >&2
	echo "       make-ca.sh DIR request ID" >&2
	exit 2
}
die() {
	echo "make-ca.sh: $*" >&2
	exit 1
}
[ $# -ge 2 ] || usage
case $2 in
ca | crl) [ $# -eq 2 ] || usage ;;
request) [ $# -eq 3 ] || usage ;;
server | client | sign | revoke) [ $# -ge 3 ] || usage ;;
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
CRLDAYS=${FL_CRL_DAYS:-365}
case $CRLDAYS in
'' | *[!0-9]* | 0) die "bad FL_CRL_DAYS '$CRLDAYS': a number of days" ;;
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

# valid_id ID: a client id, [A-Za-z0-9._-], not first a dot.
valid_id() {
	case $1 in
	'' | .* | *[!A-Za-z0-9._-]*) return 1 ;;
	esac
}

# sign_csr CSR CERT EXTENSIONS: CERT for CSR, signed by the CA, with these
# X.509v3 extensions (one per line).
sign_csr() {
	TMP=$2.tmp.$$
	openssl x509 -req -in "$1" -CA "$DIR/ca.crt" \
	    -CAkey "$DIR/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
	    -days "$DAYS" -extfile <(printf '%s\n' "$3") -out "$TMP" \
	    2> /dev/null || die "openssl cannot sign $2"
	chmod 644 "$TMP"
	mv -f "$TMP" "$2"
	echo "$2"
}

# sign KEY CERT SUBJECT EXTENSIONS: CERT for KEY's public key, signed by
# the CA, with these X.509v3 extensions (one per line).
sign() {
	TMP=$2.tmp.$$
	openssl req -new -key "$1" -subj "$3" -out "$2.tmp.$$.csr" ||
	    die "openssl cannot make the request for $2"
	sign_csr "$2.tmp.$$.csr" "$2" "$4"
	rm -f "$2.tmp.$$.csr"
}

CLIENT_EXT="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"

# The CA must be whole and its certificate must be its key's.
need_ca() {
	[ -e "$DIR/ca.key" ] || die "no CA in $DIR: make it first (make-ca.sh $DIR ca)"
	[ -e "$DIR/ca.crt" ] || die "$DIR/ca.key without ca.crt: remove $DIR/ca.key and make the CA again"
	[ "$(openssl x509 -in "$DIR/ca.crt" -noout -pubkey)" = \
	    "$(openssl pkey -in "$DIR/ca.key" -pubout)" ] ||
	    die "$DIR/ca.crt is not the certificate of $DIR/ca.key"
}

# openssl_ca ARGS...: openssl ca on the CA's database of revocations
# (DIR/index.txt, DIR/crlnumber).
openssl_ca() {
	[ -e "$DIR/index.txt" ] || : > "$DIR/index.txt"
	[ -e "$DIR/crlnumber" ] || echo 01 > "$DIR/crlnumber"
	openssl ca -config <(printf '%s\n' '[ca]' 'default_ca = fl' '[fl]' \
	    "database = $DIR/index.txt" "crlnumber = $DIR/crlnumber" \
	    'default_md = sha256' "default_crl_days = $CRLDAYS") \
	    -keyfile "$DIR/ca.key" -cert "$DIR/ca.crt" "$@" 2> "$DIR/openssl.log"
}

# crl: DIR/ca.crl, the CA's list of revoked certificates, made again.
crl() {
	TMP=$DIR/ca.crl.tmp.$$
	openssl_ca -gencrl -out "$TMP" ||
	    die "openssl cannot make the CRL: $(tail -n 1 "$DIR/openssl.log")"
	chmod 644 "$TMP"
	mv -f "$TMP" "$DIR/ca.crl"
	echo "$DIR/ca.crl"
}

case $CMD in
ca)
	mkdir -p "$DIR"
	if [ -e "$DIR/ca.crt" ]; then
		need_ca
		echo "$DIR/ca.crt (kept: a CA is never made again)"
		[ -e "$DIR/ca.crl" ] || crl
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
	crl
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
		valid_id "$id" ||
		    die "bad client id '$id': [A-Za-z0-9._-], not first a dot"
		if [ -e "$DIR/clients/$id.crt" ]; then
			echo "$DIR/clients/$id.crt (kept)"
			continue
		fi
		key "$DIR/clients/$id.key"
		sign "$DIR/clients/$id.key" "$DIR/clients/$id.crt" "/CN=$id" \
		    "$CLIENT_EXT"
	done
	;;
sign)
	need_ca
	mkdir -p "$DIR/clients"
	for a in "$@"; do
		[ -r "$a" ] || die "$a: no such request"
		# The request's own signature: whoever made it holds the key.
		openssl req -in "$a" -noout -verify 2> /dev/null ||
		    die "$a: not a certificate request signed by its key"
		subj=$(openssl req -in "$a" -noout -subject -nameopt RFC2253)
		subj=${subj#subject=}
		id=${subj#CN=}
		if [ "$subj" != "CN=$id" ] || ! valid_id "$id"; then
			die "$a: the subject '$subj' is not CN=ID of a client id ([A-Za-z0-9._-], not first a dot)"
		fi
		pub=$(openssl req -in "$a" -noout -pubkey)
		crt=$DIR/clients/$id.crt
		if [ -e "$crt" ]; then
			[ "$(openssl x509 -in "$crt" -noout -pubkey)" = "$pub" ] ||
			    die "$a: $id is enrolled to another key ($crt): revoke it and remove $crt first"
			echo "$crt (kept)"
			continue
		fi
		# (a key the CA made for ID, not given out yet, is not ID's)
		rm -f "$DIR/clients/$id.key"
		sign_csr "$a" "$crt" "$CLIENT_EXT"
	done
	;;
revoke)
	need_ca
	for id in "$@"; do
		valid_id "$id" ||
		    die "bad client id '$id': [A-Za-z0-9._-], not first a dot"
		crt=$DIR/clients/$id.crt
		[ -e "$crt" ] || die "no certificate of $id ($crt)"
		serial=$(openssl x509 -in "$crt" -noout -serial)
		serial=${serial#serial=}
		# (revoked already: the database has it as R)
		if ! awk -F '\t' -v s="$serial" '$1 == "R" && $4 == s { f = 1 }
		    END { exit !f }' "$DIR/index.txt" 2> /dev/null; then
			openssl_ca -revoke "$crt" ||
			    die "openssl cannot revoke $crt: $(tail -n 1 "$DIR/openssl.log")"
		fi
		echo "revoked $id (serial $serial)"
	done
	crl
	;;
crl)
	need_ca
	crl
	;;
request)
	id=$1
	valid_id "$id" ||
	    die "bad client id '$id': [A-Za-z0-9._-], not first a dot"
	mkdir -p "$DIR"
	key "$DIR/$id.key"
	if [ -e "$DIR/$id.csr" ] &&
	    [ "$(openssl req -in "$DIR/$id.csr" -noout -pubkey)" = \
	    "$(openssl pkey -in "$DIR/$id.key" -pubout)" ]; then
		echo "$DIR/$id.csr (kept)"
		exit 0
	fi
	TMP=$DIR/$id.csr.tmp.$$
	openssl req -new -key "$DIR/$id.key" -subj "/CN=$id" -out "$TMP" ||
	    die "openssl cannot make the request"
	chmod 644 "$TMP"
	mv -f "$TMP" "$DIR/$id.csr"
	echo "$DIR/$id.csr"
	;;
esac
