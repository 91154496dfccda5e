#!/bin/sh
# The same commands run by this tree's programs and by an earlier
# revision's, side by side in one hyperfine round each (a regression check:
# a reorganisation of the library should cost nothing).  BENCH_BASE picks
# the revision (default dc39921: the last before lib/ moved into its
# subsystem folders and the programs' algorithms into lib/).  The base is
# built in $WORK/base from `git archive`, once per revision.
set -eu
. bench/lib.sh

base=${BENCH_BASE:-dc39921}
rev=$(git rev-parse --short "$base^{commit}")
b=$WORK/base-$rev
if [ ! -x "$b/bin/fl-aggregate" ]; then
	rm -rf "$b"
	mkdir -p "$b"
	git archive "$rev" | tar -x -C "$b"
	make -s -C "$b" -j"$(nproc)" all > /dev/null
fi
d=$WORK/revision
rm -rf "$d"
mkdir -p "$d"
trap 'rm -rf "$d"' EXIT INT TERM

# 40 updates of 1M f32 (clipped to norm 1), a model for them, and the
# Fashion-MNIST training images (IDX, gzip) when installed.
"$PYTHON" - "$d" <<'PY'
import os, sys
sys.path.insert(0, os.path.join("examples", "python"))
import numpy as np
import flt
d = sys.argv[1]
rng = np.random.default_rng(98)
with open(os.path.join(d, "u.flt"), "wb") as f:
    for i in range(40):
        w = rng.standard_normal(1_000_000).astype(np.float32)
        w *= np.float32(0.999 / np.linalg.norm(w))
        flt.write_record(f, {"kind": "update", "round": 3, "weight": 10,
                             "client": "c%d" % i}, {"w": w})
PY
fmnist=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
"$FL_BIN/fl-quantize" --ring 20 -n 40 --seed r -c 1 -o "$d/ring.flt" \
    "$d/u.flt"

# NAME COMMAND: the command with this tree's programs, then the base's.
pairs=""
pair() {
	pairs="$pairs
$1	$2"
}
pair "fl-aggregate, mean of 40 x 1M f32" \
    "fl-aggregate -o /dev/null $d/u.flt"
pair "fl-aggregate -r sum of 40 ring records" \
    "fl-aggregate -r sum -o /dev/null $d/ring.flt"
pair "fl-clip-noise -c 1 -n 1 (40 x 1M)" \
    "fl-clip-noise -c 1 -n 1 --seed s -o /dev/null $d/u.flt"
pair "fl-quantize --ring 20 (40 x 1M)" \
    "fl-quantize --ring 20 -n 40 --seed r -c 1 -o /dev/null $d/u.flt"
pair "fl-quantize -d of the ring sum" \
    "sh -c 'BIN/fl-aggregate -r sum $d/ring.flt | BIN/fl-quantize -d -o /dev/null'"
pair "fl-account: RDP, q 0.01, 10,000 steps, a curve every 100" \
    "fl-account -q 0.01 -z 1.1 -T 10000 --every 100"
pair "fl-account: PLD, q 0.01, 1,000 steps" \
    "fl-account -a pld -q 0.01 -z 1.1 -T 1000"
if [ -r "$fmnist" ]; then
	pair "fl-stats of Fashion-MNIST's training images (IDX)" \
	    "fl-stats $fmnist"
fi

echo "## Against revision $rev"
echo
echo "Each command run by this tree's programs and by those of $rev"
echo "(\`BENCH_BASE=$base\`), built alike (-O2), side by side in every"
echo "hyperfine round; best of $BENCH_RUNS.  Ratio: this tree's time over"
echo "$rev's (below 1 is faster)."
echo
echo "| what | this tree | $rev | ratio | command |"
echo "|---|---|---|---|---|"
n=0
printf '%s\n' "$pairs" | while IFS='	' read -r what cmd; do
	[ -n "$what" ] || continue
	n=$((n + 1))
	case $cmd in
	sh\ *) new=$(echo "$cmd" | sed "s|BIN/|$FL_BIN/|g")
		old=$(echo "$cmd" | sed "s|BIN/|$b/bin/|g") ;;
	*) new="$FL_BIN/$cmd" old="$b/bin/$cmd" ;;
	esac
	hf "revision$n" "$new" "$old"
	t_new=$(hfget "revision$n" 0 min)
	t_old=$(hfget "revision$n" 1 min)
	echo "| $what | $(ms "$t_new") ms | $(ms "$t_old") ms |" \
	    "$(ratio "$t_new" "$t_old") | \`$(echo "$cmd" | sed 's|BIN/||g')\` |"
done
echo
