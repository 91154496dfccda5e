#!/usr/bin/env bats
# Scale-out on real engines (issue 19): examples/tree-aggregate.sh fans
# its groups out with GNU parallel --sshlogin to a real sshd (Debian's
# openssh-server) that the test starts on a free port of 127.0.0.1 with
# its own host key and an authorized key, and the partial aggregates
# merged here are the same bytes as on one machine.

load helper

# free_port: a TCP port of 127.0.0.1 that nothing listens on.
free_port() {
	"$PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

setup() {
	SSHD=/usr/sbin/sshd
	[ -x "$SSHD" ] || skip "no $SSHD: install openssh-server (tools/deps)"
	command -v parallel > /dev/null || skip "GNU parallel is not installed"
	mkdir -p ssh
	chmod 700 ssh
	ssh-keygen -q -t ed25519 -N '' -C host -f ssh/host_key
	ssh-keygen -q -t ed25519 -N '' -C user -f ssh/id
	cp ssh/id.pub ssh/authorized_keys
	PORT=$(free_port)
	cat > ssh/sshd_config <<EOF
ListenAddress 127.0.0.1
Port $PORT
HostKey $PWD/ssh/host_key
PidFile $PWD/ssh/sshd.pid
AuthorizedKeysFile $PWD/ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
MaxStartups 50
MaxSessions 50
EOF
	# Two names for the one sshd, as two hosts; the host key is known.
	echo "[127.0.0.1]:$PORT $(cat ssh/host_key.pub)" > ssh/known_hosts
	cat > ssh/config <<EOF
Host host1 host2
	HostName 127.0.0.1
	Port $PORT
	User $(id -un)
	IdentityFile $PWD/ssh/id
	IdentitiesOnly yes
	UserKnownHostsFile $PWD/ssh/known_hosts
	StrictHostKeyChecking yes
	BatchMode yes
	LogLevel ERROR
EOF
	# As root, sshd wants its privilege separation directory (which
	# Debian's service makes at start).
	if [ "$(id -u)" -eq 0 ] && [ ! -d /run/sshd ]; then
		mkdir -m 755 /run/sshd
	fi
	"$SSHD" -D -e -f "$PWD/ssh/sshd_config" 2> ssh/sshd.log &
	SSHD_PID=$!
	local n=0
	until ssh -F ssh/config host1 true 2> /dev/null; do
		n=$((n + 1))
		if [ "$n" -gt 50 ] || ! kill -0 "$SSHD_PID" 2> /dev/null; then
			fail "sshd did not start: $(cat ssh/sshd.log)"
		fi
		sleep 0.1
	done
}

teardown() {
	if [ -n "${SSHD_PID:-}" ]; then
		kill "$SSHD_PID" 2> /dev/null || true
		wait "$SSHD_PID" 2> /dev/null || true
	fi
}

@test "scale-out: tree-aggregate.sh over parallel --sshlogin to a real sshd: the same bytes as one machine" {
	not_under_sanitizers "a whole script over ssh"
	# The programs from FL_BIN (absolute): the hosts get this PATH.
	FL_BIN=$(cd "${FL_BIN:-$TOP/bin}" && pwd) \
	    FL_SSHLOGIN=2/host1,2/host2 FL_SSH="ssh -F $PWD/ssh/config" \
	    run "$TOP/examples/tree-aggregate.sh" 24 tree
	assert_success
	assert_line 'tree-ssh: byte-identical to the same groups on this machine'
	assert_line 'ring-ssh: byte-identical to one pass'
	assert_line 'clients: 24'
	# The groups went through sshd: 8 + 4 + 4 jobs (24/3, 8/2, 24/7).
	[ "$(find tree/ssh2 -type f | wc -l)" = 8 ]
	[ "$(find tree/ssh3 -type f | wc -l)" = 4 ]
	[ "$(find tree/ring-ssh1 -type f | wc -l)" = 4 ]
	run grep -c 'Accepted publickey' ssh/sshd.log
	[ "$output" -ge 16 ] || fail "only $output ssh logins: $(cat ssh/sshd.log)"
}

@test "scale-out: secagg-groups.sh unmasks each group on a host of parallel --sshlogin; the merged sum is exact" {
	not_under_sanitizers "a whole script over ssh"
	FL_BIN=$(cd "${FL_BIN:-$TOP/bin}" && pwd) \
	    FL_SSHLOGIN=1/host1,1/host2 FL_SSH="ssh -F $PWD/ssh/config" \
	    run "$TOP/examples/secagg-groups.sh" -g 3 -n 5 -d groups
	assert_success
	assert_line 'groups: 3 of 5 clients, 12 survivors'
	assert_line 'unmasked: each group on a host of 1/host1,1/host2'
	assert_line 'partial sums: the same bytes as each group unmasked here'
	assert_line "merged: the modular sum of 12 clients' inputs, exact"
	[ "$(find groups -name partial.flt | wc -l)" = 3 ]
	run grep -c 'Accepted publickey' ssh/sshd.log
	[ "$output" -ge 3 ] || fail "only $output ssh logins: $(cat ssh/sshd.log)"
	# A host that refuses the key: the run fails.
	: > ssh/authorized_keys
	FL_BIN=$(cd "${FL_BIN:-$TOP/bin}" && pwd) \
	    FL_SSHLOGIN=host1 FL_SSH="ssh -F $PWD/ssh/config" \
	    run "$TOP/examples/secagg-groups.sh" -g 2 -n 4 -d groups
	assert_failure
	refute_line --partial 'merged:'
}

@test "scale-out: a host that refuses the key fails the run" {
	not_under_sanitizers "a whole script over ssh"
	: > ssh/authorized_keys
	FL_BIN=$(cd "${FL_BIN:-$TOP/bin}" && pwd) \
	    FL_SSHLOGIN=host1 FL_SSH="ssh -F $PWD/ssh/config" \
	    run "$TOP/examples/tree-aggregate.sh" 6 tree
	assert_failure
	refute_line --partial 'tree-ssh: byte-identical'
}
