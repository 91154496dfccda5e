#!/bin/sh
# Where fl-inspect --check spends its time on 1 GiB from a pipe and from a
# file: perf record (sampling, no call graphs) and perf stat.  Skipped when
# perf is missing or not allowed.
set -eu
. bench/lib.sh

f=$WORK/f32-1g.flt
if ! command -v perf > /dev/null 2>&1 ||
    ! perf record -q -o "$WORK/perf.test" true > /dev/null 2>&1; then
	echo "## Profile"
	echo
	echo "Skipped: perf is missing or not permitted here."
	echo
	exit 0
fi

echo "## Profile: fl-inspect --check"
echo
echo "Samples of fl-inspect alone (perf record, cpu-clock), symbols at 1% or"
echo "more; [k] is the kernel.  Then perf stat of the whole pipeline."
for how in pipe FILE; do
	if [ "$how" = pipe ]; then
		cmd="cat $f | $FL_BIN/fl-inspect --check"
		# shellcheck disable=SC2002 # the point is a pipe
		cat "$f" | perf record -q -o "$WORK/perf.$how" \
		    "$FL_BIN/fl-inspect" --check > /dev/null 2>&1
	else
		cmd="$FL_BIN/fl-inspect --check $f"
		perf record -q -o "$WORK/perf.$how" "$FL_BIN/fl-inspect" \
		    --check "$f" > /dev/null 2>&1
	fi
	echo
	echo "### $how: \`$(printf '%s' "$cmd")\`"
	echo
	echo "| share | object | symbol |"
	echo "|---|---|---|"
	perf report -i "$WORK/perf.$how" --stdio --sort dso,symbol \
	    --percent-limit 1 2> /dev/null | awk '
	    /^#/ || NF < 4 { next }
	    { printf "| %s | %s | %s %s |\n", $1, $2, $3, $4 }'
	echo
	perf stat -x, -e task-clock,context-switches,page-faults \
	    -o "$WORK/stat.$how" -- sh -c "$cmd"
	awk -F, '/task-clock/ { printf "task-clock %.0f ms (%s CPUs used); ", $1, $6 }
	    /context-switches/ { printf "%s context switches; ", $1 }
	    /page-faults/ { printf "%s page faults\n", $1 }' "$WORK/stat.$how"
done
echo
