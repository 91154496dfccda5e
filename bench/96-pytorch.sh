#!/bin/sh
# Accuracy per round of a PyTorch trainer in fltools rounds (issue 18,
# deliverable 4): examples/pytorch/round.sh, a small CNN on Fashion-MNIST
# trained by PyTorch on each client, its update through fl-clip-noise,
# fl-quantize --ring, fl-mask, fl-aggregate --roster, fl-quantize -d and
# fl-apply, and the new model evaluated by PyTorch on the 10k test set.
#
#   FL_TORCH_CLIENTS (10), FL_TORCH_ROUNDS (10), FL_TORCH_EXAMPLES (600)
set -eu
. bench/lib.sh

FMNIST=/usr/share/datasets/fashion-mnist
N=${FL_TORCH_CLIENTS:-10}
R=${FL_TORCH_ROUNDS:-10}
X=${FL_TORCH_EXAMPLES:-600}
echo "## A PyTorch trainer in rounds (examples/pytorch/round.sh)"
echo
if [ ! -r "$FMNIST/train-images-idx3-ubyte.gz" ] ||
    ! "$PYTHON" -c 'import torch' 2> /dev/null; then
	echo "Skipped: needs dataset-fashion-mnist and python3-torch."
	echo
	exit 0
fi
d=$WORK/torch
rm -rf "$d"
cmd="examples/pytorch/round.sh -n $N -r $R --examples $X -j 2"
t0=$(date +%s)
FL_BIN=$(cd "$FL_BIN" && pwd) PYTHON=$PYTHON $cmd -d "$d" > /dev/null
t1=$(date +%s)
torch=$("$PYTHON" -c 'import torch; print(torch.__version__)')
echo "\`$cmd\` (PyTorch $torch): $N clients of $X IID"
echo "examples each, all in every round; train.py (conv 3x3 8, pool, conv"
echo "3x3 16, pool, fc 10; 9,098 weights) 1 epoch of SGD, batch 16, lr"
echo "0.1; updates clipped to L2 0.5, no noise (--noise 0), ring-encoded"
echo "mod 2^32, masked and summed by secure aggregation, the mean applied"
echo "with server lr 1.  Test accuracy on the 10k test set after each"
echo "round; $R rounds took $((t1 - t0)) s (two clients at a time)."
echo
echo "| round | test accuracy |"
echo "|---|---|"
awk 'NR > 1 { printf "| %s | %.2f%% |\n", $1, 100 * $2 }' "$d/results.tsv"
echo
final=$(awk 'END { print $2 }' "$d/results.tsv")
target "PyTorch CNN in $R secure-aggregation rounds, $N clients: above chance (10%)" \
    "$(awk -v a="$final" 'BEGIN { printf "%.2f%%", 100 * a }')" "$(ge "$final" 0.2)"
