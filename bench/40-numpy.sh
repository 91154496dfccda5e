#!/bin/sh
# Context: what reading the same 1 GiB costs from Python (numpy, and the
# strict reader examples/python/flt.py), timed in-process so the
# interpreter's start does not count.  The baseline is fl-inspect --check
# from 20-check.sh, in the same make bench run.
set -eu
. bench/lib.sh

f=$WORK/f32-1g.flt
bytes=$(size_of "$f")
# runs CMD: run it BENCH_RUNS times after one warm-up; "best mean sd" seconds.
runs() {
	sh -c "$1" > /dev/null
	i=0
	while [ "$i" -lt "$BENCH_RUNS" ]; do
		sh -c "$1"
		i=$((i + 1))
	done | awk '{ s += $1; q += $1 * $1; if (NR == 1 || $1 < m) m = $1 }
	    END { printf "%s %s %s\n", m, s / NR, (NR > 1 ? sqrt((q - s * s / NR) / (NR - 1)) : 0) }'
}
fig() {
	# shellcheck disable=SC2086 # "best mean sd": split on purpose
	set -- $1
	printf '%s GB/s (best %.3f s of %s; mean %.3f ± %.3f s)' \
	    "$(gbps "$bytes" "$1")" "$1" "$BENCH_RUNS" "$2" "$3"
}
file=$(gbps "$bytes" "$(hfget check 2 min)")
pipe=$(gbps "$bytes" "$(hfget check 4 min)")

echo "## Python baselines (context)"
echo
echo "The same $bytes bytes read by Python 3 + numpy, timed inside the"
echo "process (bench/pyread.py).  np.fromfile only reads; flt.py validates"
echo "like fl-inspect --check.  Baseline: fl-inspect --check from the run above."
echo
table_head
for mode in fromfile fromfile-crc flt; do
	cmd="$PYTHON bench/pyread.py $mode $f"
	r=$(runs "$cmd")
	case $mode in
	fromfile) what="np.fromfile (read only, no checks)" ;;
	fromfile-crc) what="np.fromfile + zlib.crc32" ;;
	flt) what="flt.py read_records FILE (all checks)" ;;
	esac
	row "$what" "$(fig "$r")" "fl-inspect --check FILE" "$file GB/s" \
	    "$(ratio "$(gbps "$bytes" "${r%% *}")" "$file")" "$cmd"
done
cmd="cat $f | $PYTHON bench/pyread.py flt -"
r=$(runs "$cmd")
row "flt.py read_records from a pipe (all checks)" "$(fig "$r")" \
    "fl-inspect --check from a pipe" "$pipe GB/s" \
    "$(ratio "$(gbps "$bytes" "${r%% *}")" "$pipe")" "$cmd"
echo
