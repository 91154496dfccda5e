#!/usr/bin/env bats
# The hostile corpus (tests/data/hostile/MANIFEST): every input that once
# broke a program, with the exit status, the message and the peak memory it
# must keep.  Peak RSS is the child's ru_maxrss; it is not checked under
# the sanitizers or valgrind, whose own memory it would measure.

load helper

# The inputs too large to check in, made here.
make_generated() {
	# 1.5 MiB of payload (two pieces of the streaming reader), cut
	# 256 KiB before its end.
	yes 0 | head -n 393216 > zeros.txt
	fl-pack -m kind=update -m weight=1 -t "w:f32=@zeros.txt" -o whole.flt
	head -c "$(($(stat -c %s whole.flt) - 262144))" whole.flt > cut-stream.flt
	# Data for the programs that take a model.
	fl-split --synthetic=50 --features=4 --classes=3 --seed=x -o small.flt
	# One CSV cell of 100 MB, 430 KB gzipped.
	{ printf 'label,x\n1,'; head -c 100000000 /dev/zero | tr '\0' 1; echo; } |
	    gzip -1 > bigcell.csv.gz
	fl-init -a logreg:1-2 --seed=m -o model1.flt
}

# case_words FILE CMD: the words of a MANIFEST command in the array words,
# with FILE its input (in the corpus, or made here) and LABELS the one-label
# IDX file.
case_words() {
	local path=$DATA/hostile/$1
	[ -e "$path" ] || path=$PWD/$1
	[ -e "$path" ] || fail "$1: no such input"
	local cmd=${2//FILE/$path}
	# shellcheck disable=SC2206 # the command's words
	words=(${cmd//LABELS/$DATA/hostile/idx-one-label})
}

# run_measured CMD...: status, output (stderr and stdout) and rss_mb.
run_measured() {
	local out
	out=$($PYTHON - "$@" <<'PY'
import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
sys.stdout.write("%d %d\n%s" % (r.returncode, rss // 1024,
                 r.stderr.decode(errors="replace")))
PY
)
	status=${out%% *}
	out=${out#* }
	rss_mb=${out%%$'\n'*}
	output=${out#*$'\n'}
}

@test "hostile corpus: each input fails as its line says, within its memory" {
	local file cmd want msg mb path n=0
	make_generated
	while IFS=$'\t' read -r file cmd want msg mb; do
		case $file in ''|'#'*) continue ;; esac
		case_words "$file" "$cmd"
		set -- "${words[@]}"
		run_measured "$@"
		[ "$status" = "$want" ] ||
		    fail "$file: $cmd: exit $status, want $want: $output"
		[[ $output == *"$msg"* ]] ||
		    fail "$file: $cmd: message '$output', want '$msg'"
		[ "$(printf '%s' "$output" | wc -l)" -le 1 ] ||
		    fail "$file: $cmd: more than one line: $output"
		if [ -z "${FL_SANITIZE:-}" ] && [ -z "${FL_VALGRIND:-}" ]; then
			[ "$rss_mb" -le "$mb" ] ||
			    fail "$file: $cmd: peak RSS $rss_mb MB, want <= $mb"
		fi
		n=$((n + 1))
	done < "$DATA/hostile/MANIFEST"
	[ "$n" -ge 21 ] || fail "only $n cases ran"
}

@test "FL_MAX_CELL sets the longest CSV cell; a bad value is an error" {
	# A cell of 100 kB: within the default; over a cap of 10 bytes,
	# found at most 64 KiB after the cap.
	{ printf 'label,x\n1,'; head -c 100000 /dev/zero | tr '\0' 1; echo; } > long.csv
	run -1 fl-stats long.csv
	assert_output --partial "is not finite"
	FL_MAX_CELL=10 run -1 fl-stats long.csv
	assert_output "fl-stats: long.csv: line 2: a cell longer than 10 bytes (FL_MAX_CELL)"
	# Found within 8 KiB of the cap: a 9,000-byte cell over a cap of 10.
	{ printf 'label,x\n1,'; head -c 9000 /dev/zero | tr '\0' 1; echo; } > long9k.csv
	FL_MAX_CELL=10 run -1 fl-stats long9k.csv
	assert_output "fl-stats: long9k.csv: line 2: a cell longer than 10 bytes (FL_MAX_CELL)"
	FL_MAX_CELL=x run -1 fl-stats long.csv
	assert_output "fl-stats: invalid FL_MAX_CELL 'x': not a whole number"
	FL_MAX_CELL=0 run -1 fl-stats long.csv
}

@test "hostile corpus: no crash under a 1 GiB address-space limit" {
	[ -z "${FL_SANITIZE:-}" ] || skip "ASan reserves more address space than the limit"
	local file cmd want msg mb path limit
	limit=$(vm_limit 1048576)
	make_generated
	while IFS=$'\t' read -r file cmd want msg mb; do
		case $file in ''|'#'*) continue ;; esac
		case_words "$file" "$cmd"
		set -- "${words[@]}"
		run bash -c 'ulimit -v "$0"; exec "$@"' "$limit" "$@"
		assert_no_crash
		# the same answer as without the limit: nothing was sized by
		# the claim (before: "out of memory" for an IDX claim)
		[ "$status" = "$want" ] && [[ $output == *"$msg"* ]] ||
		    fail "$file: $cmd: under ulimit -v: exit $status: $output"
	done < "$DATA/hostile/MANIFEST"
}

@test "hostile headers: over 1,100 lying headers and preambles, each refused in one line or valid, alike by both readers, under a 64 MB address space" {
	local n step=1 limit
	limit="ulimit -v $(vm_limit 65536)"
	n=$($PYTHON "$DATA/hostile/headers.py" hh)
	[ "$n" -ge 1100 ] || fail "only $n cases"
	# The sanitizers reserve terabytes of address space and run slower:
	# there, every third case and no limit.
	if [ -n "${FL_SANITIZE:-}" ]; then
		step=3
		limit=:
	fi
	# (the leak check is below, every case in one process)
	sweep_without_leak_check
	# One shell runs them all: ulimit binds each program it starts.
	# shellcheck disable=SC2016 # expanded by the inner shell
	bash -c "$limit"'
	step=$1
	i=0
	for f in hh/h*.flt; do
		i=$((i + 1))
		[ $((i % step)) = 0 ] || [ "$step" = 1 ] || continue
		for p in "fl-inspect --check" "fl-aggregate -r sum"; do
			$p "$f" > /dev/null 2> err
			st=$?
			mapfile -t said < err   # a builtin: no process per case
			echo "$f|${p%% *}|$st|${#said[@]}|${said[0]:0:300}"
		done
	done > results' sh "$step"
	run awk -F'|' '
	    $3 != 0 && $3 != 1 { print "exit " $3 ": " $0; bad = 1 }
	    $3 == 0 && $4 != 0 { print "accepted with a message: " $0; bad = 1 }
	    $3 == 1 && ($4 != 1 || index($5, $2 ": " $1 ": ") != 1) {
		print "not one line naming the file: " $0; bad = 1 }
	    { s[$1] = s[$1] $3 }
	    END {
		for (f in s) if (s[f] != "00" && s[f] != "11") {
			print f ": the readers disagree (" s[f] ")"; bad = 1 }
		exit bad }' results
	assert_success
	# Nearly all are refused; the valid ones are the few honest shapes.
	run grep -c '|fl-inspect|1|' results
	[ "$output" -ge $((1100 / step)) ] || fail "only $output refused"
	# Every case in one process (buffers reused from one to the next),
	# with the sanitizers' leak check: one line per refused record, each
	# naming its file, nothing else (a sanitizer's report is not).
	ASAN_OPTIONS=${ASAN_OPTIONS%detect_leaks=0} \
	    run --separate-stderr fl-inspect --check hh/h*.flt
	assert_no_crash
	assert_equal "$status" 1
	[ "${#stderr_lines[@]}" -ge 1100 ] ||
	    fail "only ${#stderr_lines[@]} refused at once"
	run awk '!/^fl-inspect: hh\/h[0-9]+\.flt: / { print; bad = 1 } END { exit bad }' \
	    <<< "$stderr"
	assert_success
}
