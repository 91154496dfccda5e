# SPDX-License-Identifier: ISC
# shellcheck shell=bash
#
# What server.sh and client.sh share (sourced, not run): FL_BIN on PATH,
# one run at a time, the log, and the crash points of the tests.

if [ -n "${FL_BIN:-}" ]; then
	PATH=$FL_BIN:$PATH
	export PATH
fi

# start DIR WHO: DIR (private, made if missing) holds the lock and the log
# of WHO.  One run at a time: a run that finds the lock taken exits 0 at
# once (the lock goes with the process, even when it is killed).
start() {
	STATE=$1
	WHO=$2
	mkdir -p "$STATE"
	chmod 700 "$STATE"
	exec 9>> "$STATE/lock"
	flock -n 9 || exit 0
}

log() {
	# (printf's date: no process, as runs of many devices log a lot)
	printf '%(%F %T)T %s: %s\n' -1 "$WHO" "$*" >> "$STATE/log"
	[ -z "${FL_VERBOSE:-}" ] || echo "$WHO: $*" >&2
}

# Tests: FL_CRASH_AT=NAME kills this run at crash point NAME.
crashpoint() {
	if [ "${FL_CRASH_AT:-}" = "$1" ]; then
		kill -KILL $$
	fi
}
