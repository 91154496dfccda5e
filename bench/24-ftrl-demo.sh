#!/bin/sh
# DP-FTRL beside Poisson-sampled DP-FedAvg on the demo's population
# (issue 20, deliverable 5): examples/simulate.sh --ftrl (cohorts in the
# order devices are available, tree noise by the server, Honaker's
# estimator) and examples/simulate.sh (Poisson cohorts from the OS,
# distributed discrete Gaussian noise), 3000 clients with Dirichlet(0.5)
# label skew, ~150 a round, the demo's MLP, both through the whole private
# pipeline with secure aggregation; test accuracy after each round, at
# epsilon 2, 4 and 8 and delta 1e-10 (Gboard's) and 1e-5.
#
#   FL_FTRL_ROUNDS (40), FL_FTRL_EPS ("8 4 2"), FL_FTRL_DELTAS ("1e-10 1e-5")
set -eu
. bench/lib.sh

R=${FL_FTRL_ROUNDS:-40}
echo "## DP-FTRL beside Poisson-sampled DP-FedAvg (examples/simulate.sh)"
echo
bin=$(cd "$FL_BIN" && pwd)
mem=$WORK
[ -d /dev/shm ] && [ -w /dev/shm ] && mem=/dev/shm
load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "The demo's population (3000 clients, Dirichlet(0.5) label skew on"
echo "Fashion-MNIST, ~150 a round, $R rounds, the MLP 784-64-10, clip 0.5,"
echo "5% dropouts), through the whole private pipeline with secure"
echo "aggregation: \`simulate.sh --ftrl\` (each device at most"
echo "ceil($R / 20) times, 20 rounds apart; the tree's noise added by the"
echo "server, rho-zCDP converted exactly) and \`simulate.sh\` (Poisson"
echo "cohorts, q = 0.05; distributed discrete Gaussian; RDP), each planned"
echo "by fl-account for the epsilon and delta of its row. Accuracy on the"
echo "10k test set after rounds 10, 20, 30 and the last. Load average"
echo "before the runs: $load (2 CPUs)."
echo
echo "| mechanism | epsilon | delta | noise multiplier | round 10 | round 20 | round 30 | last round | epsilon spent | wall s |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for delta in ${FL_FTRL_DELTAS:-1e-10 1e-5}; do
	for eps in ${FL_FTRL_EPS:-8 4 2}; do
		for mech in ${FL_FTRL_MECHS:-banded ftrl poisson}; do
			d=$mem/fl-ftrl-demo
			rm -rf "$d"
			case $mech in
			banded) flag="--ftrl --bands=$((3000 / 150))" ;;
			ftrl) flag=--ftrl ;;
			*) flag= ;;
			esac
			t0=$(date +%s.%N)
			FL_BIN=$bin examples/simulate.sh $flag -e "$eps" \
			    --delta="$delta" -r "$R" -d "$d" > "$d.out" 2>&1 ||
			    { tail -3 "$d.out" >&2; continue; }
			t1=$(date +%s.%N)
			z=$(sed -n 's/.*multiplier \([0-9.e+-]*\).*/\1/p' "$d.out" | head -1)
			awk -F'\t' -v m="$mech" -v e="$eps" -v dl="$delta" -v z="$z" \
			    -v w="$(echo "$t1 - $t0" | bc)" -v r="$R" '
			    NR > 1 { a[$1] = $2; last = $1; spent = $6 }
			    END { printf "| %s | %s | %s | %s | %s | %s | %s | %s (%d) | %s | %.0f |\n",
				m == "ftrl" ? "DP-FTRL (tree, Honaker)" : m == "banded" ? \
				"DP-FTRL (banded MF, 20 bands)" : "DP-FedAvg (Poisson)",
				e, dl, z, a[10], a[20], a[30], a[last], last, spent, w }' \
			    "$d/results.tsv"
			cp "$d/results.tsv" "$WORK/ftrl-demo-$mech-$eps-$delta.tsv"
		done
	done
done
echo
echo "Per-round accuracies: \`$WORK/ftrl-demo-MECH-EPS-DELTA.tsv\`."
echo
