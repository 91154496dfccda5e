# Sourced by bench/run and every bench/NN-*.sh.  Each benchmark prints one
# markdown section on stdout: a heading, a sentence, and a table of rows
#
#   | what | figure | baseline | baseline figure | ratio | command |
#
# where ratio = figure / baseline figure, both measured in the same run
# (throughput: above 1 is faster than the baseline; time: below 1 is).
# Targets go to $WORK/targets (one "| target | measured | met? |" row each)
# and bench/run puts them first.  Commands run from the top of the tree.
#
# Environment from bench/run: BENCH_RUNS, WORK, FL_BIN, PYTHON.

# hf NAME COMMAND...: time the commands, BENCH_RUNS rounds after a warm-up
# round, each round running every command once, so that a burst of noise
# on this shared machine hits all of them alike rather than one; writes
# $WORK/NAME.json in hyperfine's shape (results[i]: command, times, min,
# mean, stddev).  hyperfine's messages go to $WORK/hyperfine.log.
hf() {
	hf_name=$1
	shift
	hf_round=0
	while [ "$hf_round" -le "$BENCH_RUNS" ]; do
		hyperfine --style none --runs 1 \
		    --export-json "$WORK/$hf_name.$hf_round.json" "$@" \
		    > /dev/null 2>> "$WORK/hyperfine.log" ||
		    { tail -5 "$WORK/hyperfine.log" >&2; return 1; }
		hf_round=$((hf_round + 1))
	done
	rm "$WORK/$hf_name.0.json"      # the warm-up round
	jq -s '{results: [range(0; .[0].results | length) as $i |
	    [.[].results[$i].times[]] as $t | ($t | add / length) as $m |
	    {command: .[0].results[$i].command, times: $t, min: ($t | min),
	     mean: $m, stddev: (if ($t | length) > 1 then
	        ([$t[] | (. - $m) * (. - $m)] | add / (($t | length) - 1) | sqrt)
	        else 0 end)}]}' "$WORK/$hf_name".[0-9]*.json > "$WORK/$hf_name.json"
	rm "$WORK/$hf_name".[0-9]*.json
}

# hfget NAME INDEX FIELD: min, mean, stddev, median of a hyperfine command.
hfget() {
	jq -r ".results[$2].$3" "$WORK/$1.json"
}

# hfcmd NAME INDEX: the command line hyperfine ran.
hfcmd() {
	jq -r ".results[$2].command" "$WORK/$1.json"
}

# gbps BYTES SECONDS: throughput in GB/s (10^9 bytes per second).
gbps() {
	awk -v b="$1" -v s="$2" 'BEGIN { printf "%.2f", b / s / 1e9 }'
}

ms() {
	awk -v s="$1" 'BEGIN { printf "%.2f", s * 1000 }'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

# tput BYTES NAME INDEX: "X GB/s (best B s of N; mean M ± SD s)".
tput() {
	printf '%s GB/s (best %.3f s of %s; mean %.3f ± %.3f s)' \
	    "$(gbps "$1" "$(hfget "$2" "$3" min)")" "$(hfget "$2" "$3" min)" \
	    "$BENCH_RUNS" "$(hfget "$2" "$3" mean)" "$(hfget "$2" "$3" stddev)"
}

table_head() {
	echo "| what | figure | baseline | baseline figure | ratio | command |"
	echo "|---|---|---|---|---|---|"
}

# row WHAT FIGURE BASELINE BASEFIG RATIO COMMAND (pipes escaped for tables)
# shellcheck disable=SC2016 # the backquotes are markdown
row() {
	printf '| %s | %s | %s | %s | %s | `%s` |\n' "$1" "$2" "$3" "$4" "$5" \
	    "$(printf '%s' "$6" | sed 's/|/\\|/g')"
}

# target TEXT MEASURED OK(0/1)
target() {
	printf '| %s | %s | %s |\n' "$1" "$2" \
	    "$([ "$3" -eq 1 ] && echo yes || echo '**no**')" >> "$WORK/targets"
}

# ge A B: 1 if A >= B else 0
ge() {
	awk -v a="$1" -v b="$2" 'BEGIN { print (a >= b) ? 1 : 0 }'
}

size_of() {
	wc -c < "$1" | tr -d ' '
}

# build_base COMMIT: build the programs of an earlier commit (from the git
# history, once) under $WORK/old-COMMIT, for side-by-side comparisons.
build_base() {
	_old=$WORK/old-$1
	if [ ! -x "$_old/bin/fl-train" ] || [ ! -x "$_old/bin/fl-mask" ]; then
		rm -rf "$_old"
		mkdir -p "$_old"
		git archive "$1" | tar -x -C "$_old"
		make -C "$_old" -s -j2 all > /dev/null
	fi
}

# fmnist_section TITLE: the section's heading; without Fashion-MNIST (the
# package dataset-fashion-mnist, at $FMNIST), a line saying the section
# was skipped, and the script ends there.
FMNIST=/usr/share/datasets/fashion-mnist
fmnist_section() {
	echo "## $1"
	echo
	if [ ! -r "$FMNIST/train-images-idx3-ubyte.gz" ]; then
		echo "Skipped: needs dataset-fashion-mnist ($FMNIST)."
		echo
		exit 0
	fi
}
