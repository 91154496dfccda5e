#!/usr/bin/env bats
# The conventions every fl-* program keeps (DESIGN.md section 5), checked
# for each program the build made, in a loop as git's t0012-help.sh does.
# One test per convention; a failing test lists every "PROG ...: problem"
# it found, so one run names all the offenders.
#
# The checks that need a real run take its arguments from the tables below.
# A new program gets an entry there: until then those checks fail, naming
# it, rather than pass by leaving it out.

load helper
load secagg

# Programs whose standard output is binary records: they refuse a terminal.
BINARY_WRITERS="fl-aggregate fl-apply fl-clip-noise fl-init fl-mask fl-pack fl-quantize fl-split fl-stats fl-train"

# Programs that read no file at all: no "missing" run.
NO_INPUT="fl-init"

# Programs that read a record stream from file operands (none, or "-", is
# standard input; several operands are one stream).
STREAM_READERS="fl-clip-noise fl-inspect fl-quantize"

# sample_args PROG KIND: set the array "args" to PROG's arguments for a run
# of this KIND, in a directory prepared by make_inputs:
#   ok       succeeds and writes to standard output
#   bad      fails at run time on bad input (exit 1)
#   missing  reads the file missing.flt, which does not exist
#   big      writes much more than a pipe buffer to standard output
#   stream   (STREAM_READERS only) reads the records of its operands and
#            prints something that does not name the files, so runs on
#            files and on stdin can be compared
# The inputs: one.flt and two.flt (tensor x, f32, 3 and 2 values),
# corrupt.flt (a payload byte flipped), big.flt (2000 tensors), big.txt
# (200000 numbers), model.flt (logreg:4-3), wide.flt (logreg:4-20000),
# data.flt (a data set of 30 examples for them), and a secure-aggregation
# round of three clients: c1.key, roster.flt, shares.flt, ring.flt (a
# ring-encoded update) and bigring.flt (200000 ring values).
sample_args() {
	case $1:$2 in
	fl-account:ok) args=(-q 0.01 -z 1.1 -T 100) ;;
	fl-account:bad) args=(-q 0.1 corrupt.flt) ;;
	fl-account:missing) args=(-q 0.1 missing.flt) ;;
	fl-account:big) args=(-q 0.001 -z 1 -T 100000 --every 10) ;;
	fl-aggregate:ok) args=(-r sum one.flt one.flt) ;;
	fl-aggregate:bad) args=(-r sum one.flt corrupt.flt) ;;
	fl-aggregate:missing) args=(missing.flt) ;;
	fl-aggregate:big) args=(-r sum big.flt) ;;
	fl-apply:ok) args=(-m two.flt two.flt) ;;
	fl-apply:bad) args=(-m two.flt corrupt.flt) ;;
	fl-apply:missing) args=(-m two.flt missing.flt) ;;
	fl-apply:big) args=(-m big.flt big.flt) ;;
	fl-clip-noise:ok) args=(-c 1 one.flt) ;;
	fl-clip-noise:bad) args=(-c 1 corrupt.flt) ;;
	fl-clip-noise:missing) args=(-c 1 missing.flt) ;;
	fl-clip-noise:big) args=(-c 1 big.flt) ;;
	fl-clip-noise:stream) args=(-c 1 -n 1 --seed cli) ;;
	fl-eval:ok) args=(-m model.flt data.flt) ;;
	fl-eval:bad) args=(-m model.flt corrupt.flt) ;;
	fl-eval:missing) args=(-m model.flt missing.flt) ;;
	fl-eval:big) args=(-m wide.flt data.flt) ;;
	fl-init:ok) args=(-a logreg:4-3 --seed cli) ;;
	fl-init:bad) args=(-a mlp:4-0-3) ;;
	fl-init:big) args=(-a mlp:1000-500-10 --seed cli) ;;
	fl-inspect:ok) args=(one.flt) ;;
	fl-inspect:bad) args=(corrupt.flt) ;;
	fl-inspect:missing) args=(missing.flt) ;;
	fl-inspect:big) args=(big.flt) ;;
	fl-inspect:stream) args=(--dump x) ;;
	fl-mask:ok) args=(-k c1.key -r roster.flt -s shares.flt ring.flt) ;;
	fl-mask:bad) args=(-k c1.key -r roster.flt -s shares.flt corrupt.flt) ;;
	fl-mask:missing) args=(--make-roster -e missing.flt) ;;
	fl-mask:big) args=(-k c1.key -r roster.flt -s shares.flt bigring.flt) ;;
	fl-pack:ok) args=(-m kind=update -t x:f32=1,2,3) ;;
	fl-pack:bad) args=(-t x:i8=1,300) ;;
	fl-pack:missing) args=(-t x:f32=@missing.flt) ;;
	fl-pack:big) args=(-t x:f64=@big.txt) ;;
	fl-quantize:ok) args=(-r 16 -n 2 -c 10 --rotation-seed a --seed cli one.flt) ;;
	fl-quantize:bad) args=(-r 16 -n 2 -c 10 --rotation-seed a corrupt.flt) ;;
	fl-quantize:missing) args=(-r 16 -n 2 -c 10 --rotation-seed a missing.flt) ;;
	fl-quantize:big) args=(-r 16 -n 2 -c 1000 --rotation-seed a --seed cli big.flt) ;;
	fl-quantize:stream) args=(-r 16 -n 2 -c 10 --rotation-seed a --seed cli) ;;
	fl-split:ok) args=(--synthetic=20 --seed cli) ;;
	fl-split:bad) args=(big.txt) ;;
	fl-split:missing) args=(missing.flt) ;;
	fl-split:big) args=(--synthetic=100000 --seed cli) ;;
	fl-stats:ok) args=(data.flt) ;;
	fl-stats:bad) args=(corrupt.flt) ;;
	fl-stats:missing) args=(missing.flt) ;;
	fl-stats:big) args=(--classes=200000 data.flt) ;;
	fl-train:ok) args=(-m model.flt --seed cli data.flt) ;;
	fl-train:bad) args=(-m model.flt corrupt.flt) ;;
	fl-train:missing) args=(-m model.flt missing.flt) ;;
	fl-train:big) args=(-m wide.flt --seed cli data.flt) ;;
	*) return 1 ;;
	esac
}

setup() {
	problems=()
	mapfile -t programs < <(fl_programs)
	[ "${#programs[@]}" -gt 0 ] || fail "no fl-* programs built (run make)"
}

# The inputs are made once per file (a shell loop under bats is slow) and
# copied into each test's directory.
setup_file() {
	local t c

	mkdir "$BATS_FILE_TMPDIR/in"
	cd "$BATS_FILE_TMPDIR/in" || return 1
	fl-pack -m kind=update -t x:f32=1,2,3 > one.flt
	fl-pack -t x:f32=4,5 > two.flt
	cp one.flt corrupt.flt
	# Flip a payload byte: the payload checksum no longer matches.
	printf '\001' | dd of=corrupt.flt bs=1 seek=70 conv=notrunc 2>/dev/null
	mapfile -t t < <(seq 2000 | sed 's/.*/-t\nt&:f32=1,2,3/')
	fl-pack "${t[@]}" > big.flt
	seq 200000 > big.txt
	fl-init -a logreg:4-3 --seed cli > model.flt
	fl-init -a logreg:4-20000 --seed cli > wide.flt
	fl-split --synthetic=30 --seed cli > data.flt
	# A secure-aggregation round up to the masking (keys are 0600).
	GRAPH="--corrupt 0 --degree 2 --threshold 2"
	world 3 || return 1
	keys 1 1 2 3 || return 1
	roster roster.flt c?.pub || return 1
	share roster.flt 1 2 3 || return 1
	cat c?.shares > shares.flt
	fl-pack -m kind=update -m round=1 -m modulus=65536 \
	    -t x:u32=1,2,3 > ring.flt
	fl-pack -m kind=update -m round=1 -m modulus=1048576 \
	    -t x:u32=@big.txt > bigring.flt
}

make_inputs() {
	cp "$BATS_FILE_TMPDIR"/in/* .
}

# problem LABEL TEXT: note a failed check and go on with the others.
problem() {
	problems+=("$1: $2")
}

# Fail the test if any check failed, one line per problem.
report() {
	if [ "${#problems[@]}" -gt 0 ]; then
		printf '%s\n' "${problems[@]}" | fail
	fi
}

# What the last run said, for a problem's text (first lines, quoted).
said() {
	local o=${output:0:200} e=${stderr:-}

	e=${e:0:200}
	printf " [stdout '%s', stderr '%s']" "${o//$'\n'/\\n}" "${e//$'\n'/\\n}"
}

# want_status LABEL N: the last run exited N; a crash is its own problem.
want_status() {
	if [ "$status" -ge 128 ]; then
		problem "$1" "crashed with status $status$(said)"
	elif [ "$status" -ne "$2" ]; then
		problem "$1" "exit $status, want $2$(said)"
	fi
}

# want_args PROG KIND: set args from the table, or note that it is missing.
want_args() {
	args=()
	sample_args "$1" "$2" && return 0
	problem "$1" "no '$2' entry in sample_args in tests/cli.bats: add one"
	return 1
}

is_in() {
	case " $2 " in *" $1 "*) return 0 ;; esac
	return 1
}

to_dev_full() {
	"$@" > /dev/full
}

# Run a command with standard output on a pseudo-terminal (and no stdin,
# as in CI).  script(1) copies what the program wrote to stdout and stderr
# to tty.txt, and exits with the program's status; output is that text.
on_tty() {
	script -qec "$(printf '%q ' "$@")" /dev/null < /dev/null > tty.txt
}

tty_text() {
	output=$(tr -d '\000\r' < tty.txt)
	stderr=
}

@test "the build made the programs these tests know" {
	for p in fl-inspect fl-pack; do
		is_in "$p" "${programs[*]}" || problem "$p" "not built"
	done
	report
}

@test "--help and -h: usage on stdout, GNU-style option lines, exit 0" {
	local opt line

	for p in "${programs[@]}"; do
		for opt in --help -h; do
			run --separate-stderr "$p" "$opt"
			want_status "$p $opt" 0
			[[ $output == "usage: $p "* ]] ||
			    problem "$p $opt" "stdout does not start with 'usage: $p'$(said)"
			[ -z "$stderr" ] ||
			    problem "$p $opt" "wrote to stderr$(said)"
			for line in "  -h, --help " "  -V, --version "; do
				[[ $output == *"$line"* ]] ||
				    problem "$p $opt" "no option line '$line'"
			done
			# Every line that starts an option is in the GNU shape
			# "  -o, --output=FILE   text" or "      --long   text".
			while IFS= read -r line; do
				[[ $line =~ ^\ \ (-[[:alnum:]],\ |\ \ \ \ )--[a-z][a-z0-9-]*(=[A-Z][A-Z0-9_=]*|\[=[A-Z][A-Z0-9_]*\])?\ \ +[^\ ] ]] ||
				    problem "$p $opt" "option line not in GNU style: '$line'"
			done < <(grep -E '^ {2,6}-' <<< "$output")
		done
	done
	report
}

@test "--help wins over other arguments (GNU)" {
	for p in "${programs[@]}"; do
		run --separate-stderr "$p" --help no-such-operand
		want_status "$p --help no-such-operand" 0
		[[ $output == "usage: $p "* ]] ||
		    problem "$p --help no-such-operand" "no usage on stdout$(said)"
	done
	report
}

@test "--version: 'PROG (fltools) X.Y.Z' on stdout, exit 0" {
	local version

	version=$(sed -n 's/^#define FL_VERSION "\(.*\)"$/\1/p' "$TOP/lib/base/base.h")
	for p in "${programs[@]}"; do
		run --separate-stderr "$p" --version
		want_status "$p --version" 0
		[[ $output =~ ^"$p (fltools) "[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
		    problem "$p --version" "stdout is not '$p (fltools) X.Y.Z'$(said)"
		[ -z "$stderr" ] || problem "$p --version" "wrote to stderr$(said)"
		[ "${output##* }" = "$version" ] ||
		    problem "$p --version" "version '${output##* }', lib/base/base.h says '$version'"
	done
	report
}

@test "an unknown option: usage and a hint on stderr, nothing on stdout, exit 2" {
	local opt

	for p in "${programs[@]}"; do
		for opt in --no-such-option -%; do
			# Run by its path: getopt's own message names the
			# program, not the path.
			run --separate-stderr "$FL_BIN/$p" "$opt"
			[[ ${stderr_lines[0]} == "$p: "* ]] ||
			    problem "$p $opt" "getopt's message does not start with '$p: '$(said)"
			want_status "$p $opt" 2
			[ -z "$output" ] || problem "$p $opt" "wrote to stdout$(said)"
			[[ $stderr == *"usage: $p "* ]] ||
			    problem "$p $opt" "no 'usage: $p' on stderr$(said)"
			[[ $stderr == *"Try '$p --help' for more information."* ]] ||
			    problem "$p $opt" "no 'Try '$p --help'' hint on stderr$(said)"
		done
	done
	report
}

@test "an option missing its argument is a usage error, exit 2" {
	for p in "${programs[@]}"; do
		run "$p" --help
		[[ $output == *"--output=FILE"* ]] || continue
		run --separate-stderr "$p" --output
		want_status "$p --output" 2
		[[ $stderr == *"Try '$p --help'"* ]] ||
		    problem "$p --output" "no hint on stderr$(said)"
	done
	report
}

@test "> /dev/full: 'PROG: <stdout>: No space left on device', exit 1" {
	local want

	make_inputs
	for p in "${programs[@]}"; do
		want="$p: <stdout>: No space left on device"
		for run_of in --help --version sample; do
			if [ "$run_of" = sample ]; then
				want_args "$p" ok || continue
			else
				args=("$run_of")
			fi
			run --separate-stderr to_dev_full "$p" "${args[@]}"
			want_status "$p ${args[*]} > /dev/full" 1
			[[ $stderr == *"$want"* ]] ||
			    problem "$p ${args[*]} > /dev/full" "stderr lacks '$want'$(said)"
		done
	done
	report
}

@test "a reader that stops early (SIGPIPE) gets no error message" {
	make_inputs
	for p in "${programs[@]}"; do
		want_args "$p" big || continue
		# SIGPIPE at its default: the writer dies quietly.
		run --separate-stderr bash -c \
		    '"$@" | head -c 100 > /dev/null; exit "${PIPESTATUS[0]}"' \
		    sh "$p" "${args[@]}"
		[ -z "$stderr" ] ||
		    problem "$p ${args[*]} | head" "wrote to stderr$(said)"
		[ "$status" -eq 0 ] || [ "$status" -eq 141 ] ||
		    problem "$p ${args[*]} | head" "exit $status, want 141 (SIGPIPE) or 0"
		# SIGPIPE ignored (as some CI runners do): EPIPE, still quiet.
		run --separate-stderr bash -c \
		    'trap "" PIPE; "$@" | head -c 100 > /dev/null; exit "${PIPESTATUS[0]}"' \
		    sh "$p" "${args[@]}"
		[ -z "$stderr" ] ||
		    problem "$p ${args[*]} | head (SIGPIPE ignored)" "wrote to stderr$(said)"
		[ "$status" -lt 128 ] ||
		    problem "$p ${args[*]} | head (SIGPIPE ignored)" "exit $status, want < 128"
	done
	report
}

@test "binary records are never written to a terminal; text may be" {
	script -qec true /dev/null < /dev/null > /dev/null 2>&1 ||
	    skip "script(1) cannot open a pseudo-terminal here"
	make_inputs
	for p in "${programs[@]}"; do
		want_args "$p" ok || continue
		run on_tty "$p" "${args[@]}"
		tty_text
		if is_in "$p" "$BINARY_WRITERS"; then
			# Standard output, and -o naming the terminal itself.
			for o in - /dev/tty /dev/stdout; do
				label="$p ${args[*]} -o $o (tty)"
				want="$p: refusing to write binary records to a terminal"
				[ "$o" = - ] || want="$p: $o: ${want#"$p: "}"
				run on_tty "$p" "${args[@]}" -o "$o"
				tty_text
				want_status "$label" 1
				[[ $output == *"$want"* ]] ||
				    problem "$label" "no refusal message$(said)"
				! grep -q FLT tty.txt ||
				    problem "$label" "wrote a record to the terminal"
			done
			# To a file it is fine, even from a terminal session.
			run on_tty "$p" "${args[@]}" -o tty.out
			want_status "$p ${args[*]} -o tty.out (tty)" 0
			[ -s tty.out ] ||
			    problem "$p ${args[*]} -o tty.out (tty)" "no output file"
		else
			want_status "$p ${args[*]} (tty)" 0
			[ -n "$output" ] ||
			    problem "$p ${args[*]} (tty)" "printed nothing to the terminal"
		fi
	done
	report
}

@test "records come from stdin with no operand, with '-', and from several operands as one stream" {
	local label

	make_inputs
	for p in "${programs[@]}"; do
		is_in "$p" "$STREAM_READERS" || continue
		want_args "$p" stream || continue
		label="$p ${args[*]}"
		# Outputs go to files and are compared with cmp: they may be
		# binary records.
		"$p" "${args[@]}" one.flt > one.out ||
		    problem "$label one.flt" "failed"
		"$p" "${args[@]}" one.flt two.flt > both.out ||
		    problem "$label one.flt two.flt" "failed"
		[ -s one.out ] || problem "$label one.flt" "printed nothing"
		! cmp -s one.out both.out ||
		    problem "$label one.flt two.flt" "the second operand made no difference"

		run --separate-stderr bash -c '"$@" < one.flt > out' sh "$p" "${args[@]}"
		want_status "$label < one.flt" 0
		cmp -s out one.out ||
		    problem "$label < one.flt" "not the same as the operand one.flt"
		run --separate-stderr bash -c '"$@" - < one.flt > out' sh "$p" "${args[@]}"
		want_status "$label - < one.flt" 0
		cmp -s out one.out ||
		    problem "$label - < one.flt" "not the same as the operand one.flt"
		run --separate-stderr bash -c 'cat one.flt two.flt | "$@" > out' sh "$p" "${args[@]}"
		want_status "cat one.flt two.flt | $label" 0
		cmp -s out both.out ||
		    problem "cat one.flt two.flt | $label" "not the same as the operands one.flt two.flt"
		run --separate-stderr bash -c '"$@" one.flt - < two.flt > out' sh "$p" "${args[@]}"
		want_status "$label one.flt - < two.flt" 0
		cmp -s out both.out ||
		    problem "$label one.flt - < two.flt" "not the same as the operands one.flt two.flt"
		rm -f out one.out both.out
	done
	report
}

@test "-o FILE: the same bytes as stdout, permissions from the umask, no temp file left" {
	local label mode

	make_inputs
	for p in "${programs[@]}"; do
		want_args "$p" ok || continue
		label="$p ${args[*]} -o out"
		"$p" "${args[@]}" > want.out ||
		    problem "$p ${args[*]}" "the sample run failed"
		run --separate-stderr bash -c 'umask 022 && "$@"' sh "$p" "${args[@]}" -o out
		want_status "$label" 0
		[ -z "$output" ] || problem "$label" "wrote to stdout too$(said)"
		cmp -s out want.out || problem "$label" "FILE differs from stdout"
		mode=$(stat -c %a out 2>/dev/null || echo none)
		[ "$mode" = 644 ] || problem "$label" "mode $mode under umask 022, want 644"
		rm -f out
		run --separate-stderr bash -c 'umask 027 && "$@"' sh "$p" "${args[@]}" -o out
		mode=$(stat -c %a out 2>/dev/null || echo none)
		[ "$mode" = 640 ] || problem "$label" "mode $mode under umask 027, want 640"
		# An existing file is replaced.
		echo old > out
		run --separate-stderr "$p" "${args[@]}" -o out
		want_status "$label (replacing)" 0
		cmp -s out want.out || problem "$label" "did not replace the old FILE"
		! compgen -G '.fl-tmp.*' > /dev/null ||
		    problem "$label" "left a temporary file: $(echo .fl-tmp.*)"
		rm -f out want.out
	done
	report
}

@test "-o FILE on failure: no FILE, no temp file, an existing FILE untouched" {
	local label

	make_inputs
	for p in "${programs[@]}"; do
		want_args "$p" bad || continue
		label="$p ${args[*]} -o out"
		run --separate-stderr "$p" "${args[@]}" -o out
		want_status "$label" 1
		[ ! -e out ] || problem "$label" "left an output file after failing"
		! compgen -G '.fl-tmp.*' > /dev/null ||
		    problem "$label" "left a temporary file: $(echo .fl-tmp.*)"
		echo precious > out
		run --separate-stderr "$p" "${args[@]}" -o out
		want_status "$label (existing)" 1
		[ "$(cat out)" = precious ] ||
		    problem "$label" "changed the existing file while failing"
		rm -f out .fl-tmp.*
		if want_args "$p" ok; then
			run --separate-stderr "$p" "${args[@]}" -o no-such-dir/out
			want_status "$p -o no-such-dir/out" 1
			[[ $stderr == "$p: no-such-dir/out: "* ]] ||
			    problem "$p -o no-such-dir/out" "message does not start '$p: no-such-dir/out: '$(said)"
		fi
	done
	report
}

@test "-o FILE appears only complete: not while the input is still coming" {
	local label pid rc i

	make_inputs
	mkfifo fifo
	for p in "${programs[@]}"; do
		is_in "$p" "$STREAM_READERS" || continue
		want_args "$p" stream || continue
		label="$p ${args[*]} -o out < fifo"
		"$p" "${args[@]}" -o out < fifo > /dev/null 2>&1 3>&- &
		pid=$!
		exec 5> fifo
		cat one.flt >&5
		# Wait (up to 1 s) for the program to have started its output.
		for i in $(seq 50); do
			compgen -G '.fl-tmp.*' > /dev/null && break
			sleep 0.02
		done
		[ ! -e out ] || problem "$label" "FILE exists before the input ended"
		cat two.flt >&5
		exec 5>&-
		rc=0
		wait "$pid" || rc=$?
		[ "$rc" -eq 0 ] || problem "$label" "exit $rc, want 0"
		"$p" "${args[@]}" one.flt two.flt > want.out
		cmp -s out want.out || problem "$label" "FILE is not the whole output"
		rm -f out want.out
	done
	report
}

@test "a missing input file: 'PROG: FILE: No such file or directory', exit 1" {
	local want

	for p in "${programs[@]}"; do
		is_in "$p" "$NO_INPUT" && continue
		want_args "$p" missing || continue
		want="$p: missing.flt: No such file or directory"
		run --separate-stderr "$p" "${args[@]}"
		want_status "$p ${args[*]}" 1
		[ "$stderr" = "$want" ] ||
		    problem "$p ${args[*]}" "stderr is not '$want'$(said)"
	done
	report
}

@test "bad input: a one-line message 'PROG: ...' on stderr, exit 1" {
	make_inputs
	for p in "${programs[@]}"; do
		want_args "$p" bad || continue
		run --separate-stderr "$p" "${args[@]}"
		want_status "$p ${args[*]}" 1
		[[ $stderr == "$p: "* ]] ||
		    problem "$p ${args[*]}" "message does not start with '$p: '$(said)"
		[ "${#stderr_lines[@]}" -eq 1 ] ||
		    problem "$p ${args[*]}" "message is not one line$(said)"
	done
	report
}
