#!/bin/sh
# pfl-research's central-DP benchmark configuration (issue 22, point 4):
# examples/central.sh, Fashion-MNIST, 1000 clients, Poisson cohorts of ~50,
# 1500 rounds, clip 0.4, noise for epsilon 2 at delta 1e-6 sized for a
# cohort of 1000 (pfl's "noise cohort"), the demo's MLP; and the same run
# without DP.  Wall time, client updates per second and test accuracy.
#
#   FL_CENTRAL_ROUNDS (1500)
set -eu
. bench/lib.sh

R=${FL_CENTRAL_ROUNDS:-1500}
fmnist_section "Central DP at simulation speed (examples/central.sh)"
bin=$(cd "$FL_BIN" && pwd)
# The work directories on memory (durability means nothing to a
# simulation), as central.sh chooses by itself.
mem=$WORK
[ -d /dev/shm ] && [ -w /dev/shm ] && mem=/dev/shm
load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "pfl-research's central-DP benchmark configuration, after its paper"
echo "(Granqvist et al. 2024): 1000 clients of 60 IID Fashion-MNIST"
echo "examples, Poisson cohorts of ~50 a round, $R rounds, client SGD 1"
echo "epoch, batch 10, lr 0.1; the MLP 784-64-10; updates clipped to L2"
echo "0.4 and summed, Gaussian noise added once to the sum, the sum over"
echo "50 applied with server lr 1.  One pipeline a round (fl-train --each"
echo "| fl-clip-noise | fl-aggregate -r sum | fl-clip-noise --noise |"
echo "fl-apply), the work directory on $mem; accuracy on the 10k test"
echo "set.  Load average before the runs: $load (2 CPUs)."
echo
echo "| run | command | rounds | updates | wall s | updates/s | test accuracy |"
echo "|---|---|---|---|---|---|---|"
for mode in private baseline; do
	d=$mem/fl-central-$mode
	rm -rf "$d"
	opt=''
	[ "$mode" = baseline ] && opt=--no-privacy
	cmd="examples/central.sh -r $R${opt:+ $opt}"
	FL_BIN=$bin $cmd -d "$d" > "$WORK/central-$mode.out"
	u=$(awk '$1 == "updates" { print $2 }' "$WORK/central-$mode.out")
	s=$(awk '$1 == "updates" { print $4 }' "$WORK/central-$mode.out")
	p=$(awk '$1 == "updates" { print $6 }' "$WORK/central-$mode.out")
	a=$(awk 'END { print $2 }' "$d/results.tsv")
	echo "| $mode | \`$cmd\` | $R | $u | $s | $p | $(awk -v a="$a" 'BEGIN { printf "%.2f%%", 100 * a }') |"
	eval "rate_$mode=\$p"
	cp "$d/results.tsv" "$WORK/central-$mode.tsv"
	rm -rf "$d"
done
echo
echo "The private run's plan, as central.sh printed it:"
echo
grep '^#' "$WORK/central-private.out" | sed 's/^/    /'
echo
echo "Accuracy every 100 rounds (private, baseline):"
echo
echo "| round | private | no DP |"
echo "|---|---|---|"
paste "$WORK/central-private.tsv" "$WORK/central-baseline.tsv" |
    awk 'NR > 1 { printf "| %s | %.2f%% | %.2f%% |\n", $1, 100 * $2, 100 * $4 }'
echo
# shellcheck disable=SC2154 # set by the eval above
target "central-DP configuration: at least 500 client updates a second" \
    "$rate_private/s" "$(ge "$rate_private" 500)"
