# Loaded by every tests/*.bats file: assertions, the programs on PATH and a
# scratch directory per test.
bats_require_minimum_version 1.5.0
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
DATA=$BATS_TEST_DIRNAME/data
PATH="${FL_BIN:-$TOP/bin}:$PATH"
export PATH TOP DATA

# Every program the build made, by name.
# make sanitize (FL_SANITIZE) skips the tests that are numeric sweeps,
# statistical tests or whole scripts of many programs: the sanitizers check
# memory, and these add minutes of the same paths.  make check runs them, and
# every program's own tests run under the sanitizers.  make valgrind
# (FL_VALGRIND) skips them too, whichever files VALGRIND_TESTS names.
not_under_sanitizers() {
	[ -z "${FL_SANITIZE:-}" ] || skip "under the sanitizers: $1, run by make check"
	[ -z "${FL_VALGRIND:-}" ] || skip "under valgrind: $1, run by make check"
}

# Under the sanitizers, LeakSanitizer's check at exit costs about 45 ms a
# process on CI's machines (it stops the world through ptrace), twice the
# rest of ASan's start-up.  A sweep that starts one process per case turns
# the check off for those processes when a test of the same file reads the
# same cases in one process with the check on: a leak on any case's path
# adds up there.
sweep_without_leak_check() {
	if [ -n "${FL_SANITIZE:-}" ]; then
		export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
	fi
}

# vm_limit KB: the ulimit -v argument that leaves a program about KB
# kilobytes of address space.  Natively KB.  Under FL_QEMU the emulator's
# own mappings count against the limit too (qemu-user 7.2 maps a 128 MiB
# JIT buffer and its libraries before the program's first instruction:
# fl-inspect needs 272 MB under qemu-aarch64, 4 MB natively), so KB is
# added to what the emulator needs to start fl-inspect, measured once per
# file; "unlimited" where that is over 4 GiB (qemu for a 32-bit guest
# reserves the guest's whole address space up front, and the guest's
# allocations are then inside it, out of the limit's reach).
vm_limit() {
	local floor=${BATS_FILE_TMPDIR:-$BATS_TEST_TMPDIR}/qemu-vm-floor lo=0 hi m
	if [ -z "${FL_QEMU:-}" ]; then
		echo "$1"
		return
	fi
	if [ ! -s "$floor" ]; then
		hi=$((16 << 20))
		while [ $((hi - lo)) -gt 1024 ]; do
			m=$(((lo + hi) / 2))
			if (ulimit -v "$m" && exec fl-inspect --help) > /dev/null 2>&1; then
				hi=$m
			else
				lo=$m
			fi
		done
		echo "$hi" > "$floor"
	fi
	read -r m < "$floor"
	if [ "$m" -gt $((4 << 20)) ]; then
		echo unlimited
	else
		echo $((m + $1))
	fi
}

fl_programs() {
	local p
	for p in "${FL_REAL_BIN:-${FL_BIN:-$TOP/bin}}"/fl-*; do
		[ -x "$p" ] && basename "$p"
	done
}

# A failure must be an exit status, never a crash (signals give >= 128).
assert_no_crash() {
	if [ "$status" -ge 128 ]; then
		fail "crashed with status $status: $output"
	fi
}

# The system python with numpy (the pyenv python3 on PATH has none).
PYTHON=/usr/bin/python3

# near GOT WANT REL [ABS]: |GOT - WANT| <= max(REL |WANT|, ABS).
near() {
	awk -v g="$1" -v w="$2" -v r="$3" -v a="${4:-0}" 'BEGIN {
		d = g - w; if (d < 0) d = -d
		t = r * (w < 0 ? -w : w); if (a > t) t = a
		if (!(d <= t)) { printf "got %s, want %s (tolerance %g)\n", g, w, t; exit 1 }
	}'
}

# ge A B: A >= B.
ge() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (!(a >= b)) { printf "%s < %s\n", a, b; exit 1 } }'
}

cd "$BATS_TEST_TMPDIR" || exit 1
