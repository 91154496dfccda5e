#!/usr/bin/env bats
# The HTTPS transport of the cron deployment (examples/cron/https): the
# private CA of make-ca.sh, and Debian's nginx started by start-nginx.sh on
# 127.0.0.1 and a free port, with mutual TLS: a device's certificate
# gets it the round directory (GET) and its own upload location (PUT);
# no certificate, another CA's, an expired one, another device's location
# or a path outside the upload locations are refused, and an upload cut
# in the middle never appears under its name.

load helper
load cron

HTTPS=$TOP/examples/cron/https

# One CA for the file: the server's certificate, devices c0 to c4.
setup_file() {
	command -v openssl > /dev/null || return 0
	"$HTTPS/make-ca.sh" "$BATS_FILE_TMPDIR/pki" ca > /dev/null
	"$HTTPS/make-ca.sh" "$BATS_FILE_TMPDIR/pki" server localhost \
	    127.0.0.1 > /dev/null
	"$HTTPS/make-ca.sh" "$BATS_FILE_TMPDIR/pki" client c0 c1 c2 c3 c4 \
	    > /dev/null
}

setup() {
	command -v nginx > /dev/null || [ -x /usr/sbin/nginx ] ||
	    skip "nginx is not installed (Debian: nginx-core)"
	command -v curl > /dev/null || skip "curl is not installed"
	command -v openssl > /dev/null || skip "openssl is not installed"
	cp -a "$BATS_FILE_TMPDIR/pki" pki
	mkdir -p rounds/0.1
	head -c 100000 /dev/urandom > rounds/0.1/model.flt
	echo 0.1 > rounds/current
	start_nginx
}

teardown() {
	[ ! -d nginx ] || "$HTTPS/start-nginx.sh" --stop nginx
}

# start_nginx: on a free port of 127.0.0.1 (another one if it was taken
# in between); URL is where it listens.
start_nginx() {
	local try port
	for try in 1 2 3 4 5; do
		port=$($PYTHON -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
		if URL=$("$HTTPS/start-nginx.sh" -r rounds -u uploads -k pki \
		    -l 127.0.0.1 -p "$port" nginx 2> start.err); then
			return 0
		fi
		grep -q 'Address already in use' start.err || break
	done
	fail "nginx did not start: $(cat start.err)"
}

# as ID CURL-ARGS...: curl with device ID's certificate; prints the HTTP
# status (000: no response).
as() {
	local id=$1
	shift
	curl -sS -o out --cacert pki/ca.crt --cert "pki/clients/$id.crt" \
	    --key "pki/clients/$id.key" -w '%{http_code}' "$@"
}

@test "https: make-ca.sh makes the CA once, keys 0600, certificates of the CA" {
	run -0 "$HTTPS/make-ca.sh" pki ca
	assert_output 'pki/ca.crt (kept: a CA is never made again)'
	run -0 "$HTTPS/make-ca.sh" pki client c1 c6
	assert_line 'pki/clients/c1.crt (kept)'
	assert_line 'pki/clients/c6.crt'
	[ "$(stat -c %a pki/ca.key pki/server.key pki/clients/c6.key | sort -u)" = 600 ]
	run -0 openssl verify -CAfile pki/ca.crt pki/server.crt \
	    pki/clients/c1.crt pki/clients/c6.crt
	run -0 openssl x509 -in pki/clients/c6.crt -noout -subject -ext extendedKeyUsage
	assert_line 'subject=CN = c6'
	assert_line --partial 'TLS Web Client Authentication'
	run -0 openssl x509 -in pki/server.crt -noout -ext subjectAltName
	assert_line --partial 'DNS:localhost, IP Address:127.0.0.1'
	# FL_CERT_DAYS: valid for 2 days, not 3.
	FL_CERT_DAYS=2 "$HTTPS/make-ca.sh" pki client c7
	openssl x509 -in pki/clients/c7.crt -noout -checkend 86400
	run -1 openssl x509 -in pki/clients/c7.crt -noout -checkend 259200
	run -1 env FL_CERT_DAYS=0 "$HTTPS/make-ca.sh" pki client c5
	assert_output "make-ca.sh: bad FL_CERT_DAYS '0': a number of days"
	# The client id of a device's public identity.
	fl-mask --make-identity --client op -i op.id -o op.pub
	fl-mask --make-identity --client phone-7 -i p.id --operator op.pub \
	    -o phone-7.idpub
	run -0 "$HTTPS/make-ca.sh" pki client phone-7.idpub
	assert_output 'pki/clients/phone-7.crt'
	# A CA key without its certificate is not made again; bad input.
	mv pki/ca.crt ca.crt
	run -1 "$HTTPS/make-ca.sh" pki ca
	assert_output --partial 'ca.key exists without ca.crt'
	mv ca.crt pki/ca.crt
	run -1 "$HTTPS/make-ca.sh" pki client ../x
	assert_output --partial "bad client id '../x'"
	fl-mask --make-enrolment -i op.id -o enrolment.flt < phone-7.idpub
	run -1 "$HTTPS/make-ca.sh" pki client enrolment.flt
	assert_output --partial 'enrolment.flt: not a public identity'
	run -1 "$HTTPS/make-ca.sh" new client c1
	assert_output --partial 'no CA in new'
	run -2 "$HTTPS/make-ca.sh" pki bogus
}

@test "https: a device GETs the round directory; no certificate: 400" {
	run -0 as c1 "${URL}0.1/model.flt"
	assert_output 200
	cmp out rounds/0.1/model.flt
	run -0 as c2 "${URL}current"
	assert_output 200
	run -0 curl -sS -o out --cacert pki/ca.crt -w '%{http_code}' \
	    "${URL}0.1/model.flt"
	assert_output 400
	run ! grep -q model out
	# No listing, nothing but GET.
	run -0 as c1 "$URL"
	assert_output 403
	run -0 as c1 "${URL}0.1/"
	assert_output 403
	run -0 as c1 -T rounds/current "${URL}0.1/model.flt"
	assert_output 403
	run -0 as c1 -X DELETE "${URL}0.1/model.flt"
	assert_output 403
	cmp rounds/current <(echo 0.1)
	[ -s rounds/0.1/model.flt ]
	grep -q ' cn=c2 verify=SUCCESS "GET /current HTTP/1.1" 200 ' nginx/access.log
}

@test "https: a device PUTs its own files whole; into another's: 403" {
	head -c 3000000 /dev/urandom > big
	run -0 as c1 -T big "${URL}upload/c1/0.1/masked.flt"
	assert_output 201
	cmp big uploads/c1/0.1/masked.flt
	# Again (a rerun): replaced.
	run -0 as c1 -T rounds/current "${URL}upload/c1/0.1/masked.flt"
	assert_output 204
	cmp rounds/current uploads/c1/0.1/masked.flt
	run -0 as c1 "${URL}upload/c1/0.1/masked.flt"
	assert_output 200
	# c2 cannot write into c1's location, nor read it.
	run -0 as c2 -T big "${URL}upload/c1/0.1/pub.flt"
	assert_output 403
	run -0 as c2 -T big "${URL}upload/c1/0.1/masked.flt"
	assert_output 403
	run -0 as c2 "${URL}upload/c1/0.1/masked.flt"
	assert_output 403
	cmp rounds/current uploads/c1/0.1/masked.flt
	# Only R.A/KIND.flt, KIND a message of the round.
	for p in c2/0.1/model.flt c2/0.1/pub c2/x/pub.flt c2/0.1/a/pub.flt \
	    c2/../c1/0.1/pub.flt c2/ c2/0.1/ '' .c2/0.1/pub.flt; do
		run -0 as c2 -T big --path-as-is "${URL}upload/$p"
		assert_output 403
	done
	run -0 as c2 -X DELETE "${URL}upload/c1/0.1/masked.flt"
	assert_output 403
	run -0 as c2 -X MKCOL "${URL}upload/c2/0.1/pub.flt"
	assert_output 403
	[ "$(find uploads -type f)" = uploads/c1/0.1/masked.flt ]
	grep -q ' cn=c2 verify=SUCCESS "PUT /upload/c1/0.1/pub.flt HTTP/1.1" 403 ' nginx/access.log
}

@test "https: another CA's certificate, an expired one: refused" {
	# The same CN from another CA.
	"$HTTPS/make-ca.sh" other ca > /dev/null
	"$HTTPS/make-ca.sh" other client c1 > /dev/null
	run -0 curl -sS -o out --cacert pki/ca.crt --cert other/clients/c1.crt \
	    --key other/clients/c1.key -w '%{http_code}' "${URL}0.1/model.flt"
	assert_output 400
	run -0 curl -sS -o out --cacert pki/ca.crt --cert other/clients/c1.crt \
	    --key other/clients/c1.key -T rounds/current -w '%{http_code}' \
	    "${URL}upload/c1/0.1/pub.flt"
	assert_output 400
	# Of this CA, but expired yesterday (openssl x509 -days -1).
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out old.key 2> /dev/null
	openssl req -new -key old.key -subj /CN=c1 -out old.csr
	openssl x509 -req -in old.csr -CA pki/ca.crt -CAkey pki/ca.key \
	    -days -1 -out old.crt 2> /dev/null
	run -0 curl -sS -o out --cacert pki/ca.crt --cert old.crt --key old.key \
	    -T rounds/current -w '%{http_code}' "${URL}upload/c1/0.1/pub.flt"
	assert_output 400
	[ ! -e uploads/c1 ]
	grep -q 'verify=FAILED:certificate has expired "PUT /upload/c1/0.1/pub.flt' nginx/access.log
	grep -q 'verify=FAILED:unable to verify the first certificate "PUT /upload/c1/0.1/pub.flt' nginx/access.log
}

@test "https: a revoked device is refused (GET, PUT) and never joins a round" {
	not_under_sanitizers "cron scripts"
	https_setup
	export FL_EXPECT=4
	server
	# The attack first: c1 is still trusted.
	run -0 as c1 "${URL}current"
	assert_output 200
	run -0 "$HTTPS/make-ca.sh" pki revoke c1
	assert_line --regexp '^revoked c1 \(serial [0-9A-F]+\)$'
	assert_line pki/ca.crl
	# Revoked twice: the same.
	run -0 "$HTTPS/make-ca.sh" pki revoke c1
	run -0 openssl crl -in pki/ca.crl -noout -text
	[ "$(grep -c 'Serial Number' <<< "$output")" = 1 ]
	run -1 "$HTTPS/make-ca.sh" pki revoke c9
	assert_output 'make-ca.sh: no certificate of c9 (pki/clients/c9.crt)'
	run -0 --separate-stderr "$HTTPS/start-nginx.sh" --reload nginx
	[[ $stderr == *reloaded* ]] || fail "stderr: $stderr"
	# (the old worker goes once its connections are closed)
	sleep 0.5
	run -0 as c1 "${URL}current"
	assert_output 400
	run -0 as c1 -T "clients/c0/identity" "${URL}upload/c1/0.1/pub.flt"
	assert_output 400
	grep -q 'verify=FAILED:certificate revoked "GET /current' nginx/access.log
	run client 1
	assert_failure
	assert_output --partial "GET ${URL}current: 400"
	# The others run the round's keys phase: a roster of four without c1.
	for i in 0 2 3 4; do
		client "$i"
	done
	client 1 || :
	server
	[ -e rounds/0.1/roster.flt ]
	[ ! -e uploads/c1 ]
	[ ! -e rounds/0.1/pub/c1.flt ]
	run -0 bash -c "fl-inspect rounds/0.1/roster.flt | sed -n 's/^  client=//p' | sort"
	assert_output "$(printf 'c%s\n' 0 2 3 4)"
	# The others are still served.
	run -0 as c2 "${URL}current"
	assert_output 200
	# A bad configuration is not loaded: nginx goes on as it was.
	rm pki/ca.crl
	run -1 "$HTTPS/start-nginx.sh" --reload nginx
	assert_output --partial 'the configuration does not load'
	run -0 as c2 "${URL}current"
	assert_output 200
	run -1 "$HTTPS/start-nginx.sh" --reload nowhere
	assert_output 'start-nginx.sh: nginx is not running for nowhere'
}

@test "https: a device's own key and request, signed by the CA; bad requests refused" {
	# The device: its key (0600) and request; the key never leaves it.
	run -0 "$HTTPS/make-ca.sh" dev request c5
	assert_output dev/c5.csr
	[ "$(stat -c %a dev/c5.key)" = 600 ]
	run -0 "$HTTPS/make-ca.sh" dev request c5
	assert_output 'dev/c5.csr (kept)'
	# The operator signs the request (only the .csr goes there).
	mkdir req
	cp dev/c5.csr req/
	run -0 "$HTTPS/make-ca.sh" pki sign req/c5.csr
	assert_output pki/clients/c5.crt
	[ ! -e pki/clients/c5.key ]
	run -0 "$HTTPS/make-ca.sh" pki sign req/c5.csr
	assert_output 'pki/clients/c5.crt (kept)'
	run -0 curl -sS -o out --cacert pki/ca.crt --cert pki/clients/c5.crt \
	    --key dev/c5.key -w '%{http_code}' -T rounds/current \
	    "${URL}upload/c5/0.1/pub.flt"
	assert_output 201
	cmp rounds/current uploads/c5/0.1/pub.flt
	# Another key for an enrolled id (c5's, or c1's of make-ca.sh
	# client): refused.
	"$HTTPS/make-ca.sh" other request c5 > /dev/null
	"$HTTPS/make-ca.sh" other request c1 > /dev/null
	run -1 "$HTTPS/make-ca.sh" pki sign other/c5.csr
	assert_output 'make-ca.sh: other/c5.csr: c5 is enrolled to another key (pki/clients/c5.crt): revoke it and remove pki/clients/c5.crt first'
	run -1 "$HTTPS/make-ca.sh" pki sign other/c1.csr
	assert_output --partial 'c1 is enrolled to another key'
	cmp <(openssl x509 -in pki/clients/c1.crt -noout -pubkey) \
	    <(openssl pkey -in pki/clients/c1.key -pubout)
	# A CN that is not a client id, a subject of more than the CN, a
	# request whose signature is not its key's.
	openssl req -new -key dev/c5.key -subj '/CN=.c6' -out bad1.csr
	run -1 "$HTTPS/make-ca.sh" pki sign bad1.csr
	assert_output "make-ca.sh: bad1.csr: the subject 'CN=.c6' is not CN=ID of a client id ([A-Za-z0-9._-], not first a dot)"
	openssl req -new -key dev/c5.key -subj '/O=x/CN=c6' -out bad2.csr
	run -1 "$HTTPS/make-ca.sh" pki sign bad2.csr
	assert_output --partial "the subject 'CN=c6,O=x' is not CN=ID"
	sed '2s/^M/N/' dev/c5.csr > bad3.csr
	run -1 "$HTTPS/make-ca.sh" pki sign bad3.csr
	assert_output 'make-ca.sh: bad3.csr: not a certificate request signed by its key'
	run -1 "$HTTPS/make-ca.sh" pki sign nosuch.csr
	assert_output 'make-ca.sh: nosuch.csr: no such request'
	run -1 "$HTTPS/make-ca.sh" dev request '../x'
	assert_output --partial "bad client id '../x'"
	[ ! -e pki/clients/c6.crt ] && [ ! -e pki/clients/.c6.crt ]
	run -2 "$HTTPS/make-ca.sh" dev request
}

@test "https: an upload cut in the middle never appears under its name" {
	head -c 2000000 /dev/urandom > big
	# At 200 kB/s, cut by curl itself after 1.5 s, some 300 kB in (the
	# connection closed in the middle of the body).
	as c1 --limit-rate 200k --max-time 1.5 -T big \
	    "${URL}upload/c1/0.1/masked.flt" > status 2>&1 &
	local pid=$!
	sleep 0.7
	[ -n "$(find nginx/body -type f)" ]
	[ ! -e uploads/c1/0.1/masked.flt ]
	run ! wait "$pid"
	[ ! -e uploads/c1/0.1/masked.flt ]
	# Nor a body shorter than its Content-Length, the connection closed.
	head -c 1000 big > short
	run as c1 -T short -H 'Content-Length: 5000' --max-time 1 \
	    "${URL}upload/c1/0.1/pub.flt"
	# (nginx removes the body of a request cut short when it sees the
	# connection closed)
	for _ in $(seq 30); do
		[ -n "$(find nginx/body -type f)" ] || break
		sleep 0.1
	done
	[ ! -e uploads/c1/0.1/pub.flt ]
	[ -z "$(find uploads -type f)" ]
	[ -z "$(find nginx/body -type f)" ]
	# The retry goes through.
	run -0 as c1 -T big "${URL}upload/c1/0.1/masked.flt"
	assert_output 201
	cmp big uploads/c1/0.1/masked.flt
}

@test "https: start-nginx.sh: bad input; started twice; stopped" {
	port=${URL##*:}
	port=${port%/}
	run -0 --separate-stderr "$HTTPS/start-nginx.sh" -r rounds -u uploads \
	    -k pki -l 127.0.0.1 -p "$port" nginx
	assert_output "$URL"
	pid=$(cat nginx/nginx.pid)
	"$HTTPS/start-nginx.sh" -r rounds -u uploads -k pki -l 127.0.0.1 \
	    -p "$port" nginx 2> err
	grep -q "already running (pid $pid)" err
	run -2 "$HTTPS/start-nginx.sh" -r rounds nginx2
	run -1 "$HTTPS/start-nginx.sh" -r rounds -u rounds/up -k pki nginx2
	assert_output --partial 'inside the round directory'
	run -1 "$HTTPS/start-nginx.sh" -r rounds -u up -k nowhere nginx2
	assert_output --partial 'no nowhere/ca.crt'
	run -1 "$HTTPS/start-nginx.sh" -r rounds -u up -k pki -p 99999 nginx2
	assert_output "start-nginx.sh: bad port '99999'"
	run -0 "$HTTPS/start-nginx.sh" --stop nginx
	run ! kill -0 "$pid"
	run curl -s -o out --cacert pki/ca.crt -w '%{http_code}' "$URL"
	assert_failure
	assert_output 000
	# As root, the workers run as the owner of the uploads.
	[ "$(id -u)" -eq 0 ] || return 0
	mkdir up
	chown nobody up
	"$HTTPS/start-nginx.sh" -r rounds -u up -k pki -l 127.0.0.1 \
	    -p "$port" nginx
	run -0 ps -o user= --ppid "$(cat nginx/nginx.pid)"
	assert_output nobody
	"$HTTPS/start-nginx.sh" --stop nginx
}

# ---- client.sh and server.sh over HTTPS ----

# https_setup: the cron setup (tests/cron.bash) over this nginx: each
# device with its certificate, the server taking the uploads.
https_setup() {
	local i
	cron_setup
	rm -rf rounds/0.1 rounds/current
	for i in 0 1 2 3 4; do
		cp pki/ca.crt "clients/c$i/ca.crt"
		cp "pki/clients/c$i.crt" "clients/c$i/client.crt"
		cp "pki/clients/c$i.key" "clients/c$i/client.key"
	done
	export FL_SERVER_URL=$URL FL_UPLOADS=$PWD/uploads
}

@test "https: two rounds over HTTPS, a dropout in each; another's id refused" {
	not_under_sanitizers "whole rounds of cron scripts"
	https_setup
	# (the keys of all five close the phase, however slow the machine)
	export FL_KEYS_SECS=600 FL_LAST_ROUND=2
	server
	[ "$(cat rounds/current)" = 0.1 ]
	for i in 0 1 2 4; do
		client "$i"
	done
	[ -e uploads/c0/0.1/pub.flt ]
	[ ! -e clients/c0/rounds/0.1/roster.flt ]
	# c3 sends c0's public keys as its own, and into c0's location.
	run -0 as c3 -T clients/c0/0.1.pub "${URL}upload/c3/0.1/pub.flt"
	assert_output 201
	run -0 as c3 -T clients/c0/0.1.pub "${URL}upload/c0/0.1/masked.flt"
	assert_output 403
	server
	for i in 0 1 2 4; do
		[ -e "rounds/0.1/pub/c$i.flt" ]
		cmp "clients/c$i/0.1.pub" "rounds/0.1/pub/c$i.flt"
	done
	[ ! -e rounds/0.1/pub/c3.flt ]
	grep -q "refused c3/0.1/pub.flt: not one secagg-public record of client c3 (client=c0 kind=secagg-public)" server/log
	# c3 sends its own: taken; then the round goes on, c4 drops.
	client 3
	passes_until rounds/0.1/DONE
	run cat rounds/0.1/survivors
	assert_output "$(printf 'c%s\n' 0 1 2 3)"
	run fl-inspect -g clients rounds/0.1/sum.flt
	assert_output 4
	[ "$(fl-inspect -g round server/model.flt)" = 1 ]
	run fl-account -l server/budget.ledger
	assert_line --regexp 'releases 1$'
	for i in 0 1 2 3; do
		cmp "clients/c$i/rounds/0.1/survivors" rounds/0.1/survivors
		grep -q 'key file forgotten' "clients/c$i/log"
		for k in masked confirm reveal; do
			cmp "uploads/c$i/0.1/$k.flt" "rounds/0.1/$k/c$i.flt"
		done
	done
	# Refused once in the log, however many runs saw it.
	[ "$(grep -c 'refused c3/0.1/pub.flt' server/log)" = 1 ]
	# Nothing was written into the round directory over HTTPS.
	! grep -E '"PUT /[^u]' nginx/access.log
	# Round 1: all five send their keys and shares, then c2 drops (it
	# never masks): the survivors' reveals repair its masks.
	local n=0
	until [ -e rounds/1.1/DONE ]; do
		n=$((n + 1))
		[ "$n" -le 150 ] || fail "no 1.1/DONE: $(cat server/log)"
		server
		# (the devices at the same time, as they would be)
		pids=()
		for i in 0 1 3 4; do
			client "$i" &
			pids+=($!)
		done
		if [ ! -e rounds/1.1/shares/c2.flt ]; then
			client 2 &
			pids+=($!)
		fi
		for p in "${pids[@]}"; do
			wait "$p"
		done
		sleep 0.2
	done
	run -0 bash -c "fl-inspect rounds/1.1/roster.flt | sed -n 's/^  secagg\.n=//p'"
	assert_output 5
	run -0 bash -c "fl-inspect rounds/1.1/shares.flt | sed -n 's/^  client=//p' | sort"
	assert_output "$(printf 'c%s\n' 0 1 2 3 4)"
	run cat rounds/1.1/survivors
	assert_output "$(printf 'c%s\n' 0 1 3 4)"
	[ ! -e uploads/c2/1.1/masked.flt ]
	run fl-inspect -g clients rounds/1.1/sum.flt
	assert_output 4
	[ "$(fl-inspect -g round server/model.flt)" = 2 ]
	cmp rounds/1.1/next.flt server/model.flt
	run fl-account -l server/budget.ledger
	assert_line --regexp 'releases 2$'
	for i in 0 1 3 4; do
		for k in pub shares masked confirm reveal; do
			cmp "uploads/c$i/1.1/$k.flt" "rounds/1.1/$k/c$i.flt"
		done
	done
	# Again: nothing changes (c2 too, once the rounds are over).
	server
	for i in 0 1 2 3 4; do
		client "$i"
	done
	snapshot > before
	server
	for i in 0 1 2 3 4; do
		client "$i"
	done
	snapshot > after
	diff before after
	[ -z "$(find clients -name '*.key' ! -name client.key)" ]
}

@test "https: client.sh without its certificate, or no server: errors" {
	https_setup
	rm clients/c0/client.key
	run --separate-stderr client 0
	assert_failure
	[[ $stderr == *"no clients/c0/client.key"* ]] || fail "stderr: $stderr"
	"$HTTPS/start-nginx.sh" --stop nginx
	run --separate-stderr client 1
	assert_failure
	[[ $stderr == *"GET ${URL}current: no answer"* ]] || fail "stderr: $stderr"
	grep -q "GET ${URL}current: no answer" clients/c1/log
}
