#!/bin/sh
# Hostile input: every case of the hostile corpus (tests/data/hostile/
# MANIFEST, the inputs that once made a program allocate what a header
# merely claimed), its time to reject and its peak RSS, the worst of each
# against the targets; and 1,000 ledger spends with the disk "filling" (a
# file-size limit) at a random byte, after which the ledger must parse and
# its epsilon equal the one recomputed from the spends that said so.  The
# baseline is the floor of any process (/bin/true under the same
# measuring).
set -eu
# shellcheck source=bench/lib.sh
. bench/lib.sh

top=$(pwd)
H=$top/$WORK/hostile
mkdir -p "$H"
case $FL_BIN in
/*) PATH=$FL_BIN:$PATH ;;
*) PATH=$top/$FL_BIN:$PATH ;;
esac
export PATH

# The inputs tests/hostile.bats makes (too large to check in).
yes 0 | head -n 393216 > "$H/zeros.txt"
fl-pack -m kind=update -m weight=1 -t "w:f32=@$H/zeros.txt" -o "$H/whole.flt"
head -c "$(($(size_of "$H/whole.flt") - 262144))" "$H/whole.flt" \
    > "$H/cut-stream.flt"
fl-split --synthetic=50 --features=4 --classes=3 --seed=x -o "$H/small.flt"
{ printf 'label,x\n1,'; head -c 100000000 /dev/zero | tr '\0' 1; echo; } |
    gzip -1 > "$H/bigcell.csv.gz"
fl-init -a logreg:1-2 --seed=m -o "$H/model1.flt"

# measure CMD...: "status seconds rss_kb" of one run (bench/peak.c: the
# child's own ru_maxrss, started from a small C parent).
measure() {
	"$top/$WORK/peak" "$@"
}

echo "## Hostile input (bench/15-hostile.sh)"
echo
echo "Each case of tests/data/hostile/MANIFEST, best time of $BENCH_RUNS runs" \
    "and its peak RSS (the child's ru_maxrss, measured by bench/peak.c)."
echo
echo "| input | command | exit | time to reject | peak RSS |"
echo "|---|---|---|---|---|"
floor=$(measure /bin/true)
worst_t=0 worst_r=0 worst_what=
while IFS="$(printf '\t')" read -r file cmd want msg mb; do
	case $file in ''|'#'*) continue ;; esac
	path=$top/tests/data/hostile/$file
	[ -e "$path" ] || path=$H/$file
	best_t=
	rss=0
	i=0
	while [ "$i" -lt "$BENCH_RUNS" ]; do
		# shellcheck disable=SC2046 # the command's words
		set -- $(cd "$H" && measure $(echo "$cmd" | sed "s|FILE|$path|"))
		st=$1
		[ -z "$best_t" ] || [ "$(ge "$best_t" "$2")" -eq 1 ] && best_t=$2
		[ "$3" -gt "$rss" ] && rss=$3
		i=$((i + 1))
	done
	echo "| $file | \`$cmd\` | $st (want $want) | $(ms "$best_t") ms | $((rss / 1024)) MB |"
	if [ "$(ge "$best_t" "$worst_t")" -eq 1 ]; then
		worst_t=$best_t
		worst_what="$file: $cmd"
	fi
	[ "$rss" -gt "$worst_r" ] && worst_r=$rss
	: "$msg" "$mb"
done < tests/data/hostile/MANIFEST
echo
echo "Process floor (/bin/true, measured the same way):" \
    "$(ms "$(echo "$floor" | cut -d' ' -f2)") ms," \
    "$(($(echo "$floor" | cut -d' ' -f3) / 1024)) MB."

# The header survey (tests/data/hostile/headers.py): each lying header
# through both record readers, once.
"$PYTHON" tests/data/hostile/headers.py "$H/hh" > "$H/hh.count"
hw_t=0 hw_r=0 hw_what= refused=0 runs=0
for f in "$H"/hh/h*.flt; do
	for p in "fl-inspect --check" "fl-aggregate -r sum"; do
		# shellcheck disable=SC2086 # the program and its option
		set -- $(measure $p "$f")
		runs=$((runs + 1))
		[ "$1" = 1 ] && refused=$((refused + 1))
		if [ "$(ge "$2" "$hw_t")" -eq 1 ]; then
			hw_t=$2
			hw_what="${f##*/}: $p"
		fi
		[ "$3" -gt "$hw_r" ] && hw_r=$3
	done
done
echo
echo "Header survey (tests/data/hostile/headers.py, $(cat "$H/hh.count")" \
    "records, each through fl-inspect --check and fl-aggregate -r sum):" \
    "$refused of $runs runs refused, the rest valid; slowest $(ms "$hw_t") ms" \
    "($hw_what), peak RSS at most $((hw_r / 1024)) MB."
[ "$hw_r" -gt "$worst_r" ] && worst_r=$hw_r
if [ "$(ge "$hw_t" "$worst_t")" -eq 1 ]; then
	worst_t=$hw_t
	worst_what=$hw_what
fi
target "hostile corpus: peak RSS at most 64 MB (worst case)" \
    "$((worst_r / 1024)) MB" "$([ "$worst_r" -le 65536 ] && echo 1 || echo 0)"
target "hostile corpus: time to reject at most 0.1 s (worst: $worst_what)" \
    "$(ms "$worst_t") ms" "$(ge 0.1 "$worst_t")"

# 1,000 spends, each with the file-size limit at a random byte of the
# next line (or beyond it).
L=$H/fill.ledger
rm -f "$L"
fl-account -l "$L" -s -q 0.01 -z 1.1 > /dev/null
ok=1 torn=0 i=0
: > "$H/bad"
while [ "$i" -lt 1000 ]; do
	size=$(size_of "$L")
	limit=$((size + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 150))
	if prlimit --fsize="$limit" fl-account -l "$L" -s -q 0.01 -z 1.1 \
	    > /dev/null 2> "$H/err"; then
		ok=$((ok + 1))
	elif ! grep -q "the ledger is as it was" "$H/err"; then
		torn=$((torn + 1))
		sed "s/^/spend $i, limit +$((limit - size)): /" "$H/err" >> "$H/bad"
	fi
	if ! fl-account -l "$L" > /dev/null 2> "$H/err"; then
		torn=$((torn + 1))
		sed "s/^/report after spend $i: /" "$H/err" >> "$H/bad"
	fi
	i=$((i + 1))
done
rows=$(($(wc -l < "$L") - 1))
got=$(fl-account -j -l "$L" | jq -r .epsilon)
want=$(fl-account -j -q 0.01 -z 1.1 -T "$ok" | jq -r .epsilon)
echo
echo "1,000 spends with a file-size limit at a random byte (prlimit --fsize):" \
    "$ok landed, $rows rows in the ledger, $torn failures that left it" \
    "unreadable or unexplained; epsilon $got, recomputed from the $ok" \
    "landed spends $want."
if [ -s "$H/bad" ]; then
	echo
	echo "The failures not explained:"
	echo
	sed 's/^/    /' "$H/bad"
fi
# The ledger composes 1-step releases one by one, the recomputation one
# release of that many steps: equal to rounding.
same=$(awk -v a="$got" -v b="$want" 'BEGIN { d = a - b; if (d < 0) d = -d
	print (d <= 1e-12 * b) ? 1 : 0 }')
target "1,000 spends with the disk filling at a random moment: the ledger always parses and its epsilon is the recomputed one" \
    "$ok landed = $rows rows, $torn bad, epsilon $got vs $want" \
    "$([ "$torn" -eq 0 ] && [ "$rows" -eq "$ok" ] && [ "$same" -eq 1 ] && echo 1 || echo 0)"
echo
