#!/bin/sh
# Local training speed and memory on Fashion-MNIST (issue 9): one epoch of
# the 60k training images, MLP 784-128-10, batch 32, lr 0.1, one thread,
# fl-train against numpy and PyTorch on OpenBLAS, same model, data,
# batch, learning rate and initialisation scheme (bench/train/mlp.py);
# DP-SGD against non-private training, and its noise snapped to a grid
# (as fl-clip-noise's) against the plain float noise of commit 8dee25b.
set -eu
. bench/lib.sh

BLAS=/usr/lib/x86_64-linux-gnu/openblas-pthread
fmnist_section "Local training (fl-train) on Fashion-MNIST"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte; do
	[ -s "$WORK/$f" ] || zcat "$FMNIST/$f.gz" > "$WORK/$f"
done
img=$WORK/train-images-idx3-ubyte
lab=$WORK/train-labels-idx1-ubyte
"$FL_BIN/fl-init" -a mlp:784-128-10 --seed bench -o "$WORK/mlp.flt"
train="$FL_BIN/fl-train -q -m $WORK/mlp.flt --seed bench"

# The baselines pick the BLAS that libblas.so.3 resolves to: OpenBLAS
# (pthread build), one thread.
pyenv="env OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 FL_THREADS=1 LD_LIBRARY_PATH=$BLAS"
blasso=$($pyenv "$PYTHON" -c 'import numpy
print(sorted(set(l.split()[-1].rsplit("/", 1)[-1] for l in open("/proc/self/maps") if "libopenblas" in l))[0])')
torchv=$($pyenv "$PYTHON" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo none)

hf train \
    "$train $img > /dev/null" \
    "$train --dp $img > /dev/null" \
    "$train -b 256 $img > /dev/null" \
    "$train -b 256 --dp $img > /dev/null" \
    "$train -s 1 $img > /dev/null" \
    "$train -j 2 $img > /dev/null"
# The snapped noise: this tree against 8dee25b (plain float32 noise), both
# with shuffled batches (8dee25b's only sampling).
base=8dee25b
build_base "$base"
oldtrain="$WORK/old-$base/bin/fl-train -q -m $WORK/mlp.flt --seed bench"
hf snap \
    "$oldtrain -b 256 --dp $img > /dev/null" \
    "$train -b 256 --dp --shuffle $img > /dev/null"
plain256=$(hfget snap 0 min)
snap256=$(hfget snap 1 min)
ours=$(hfget train 0 min)
dp=$(hfget train 1 min)
ours256=$(hfget train 2 min)
dp256=$(hfget train 3 min)
load=$(hfget train 4 min)
j2=$(hfget train 5 min)

# epochs CMD: best epoch time of BENCH_RUNS epochs after a warm-up one.
epochs() {
	$pyenv "$PYTHON" bench/train/mlp.py "$1" "$img" "$lab" \
	    "$((BENCH_RUNS + 1))" 32 0.1 | sed 1d | awk '/^[0-9]/ {
		if (n == 0 || $1 < m) m = $1; s += $1; q += $1 * $1; n++ }
	    END { printf "%s %s %s\n", m, s / n, (n > 1 ? sqrt((q - s * s / n) / (n - 1)) : 0) }'
}
np=$(epochs numpy)
npbest=${np%% *}
if [ "$torchv" != none ]; then
	th=$(epochs torch)
	thbest=${th%% *}
fi
# the keystream floor of DP-SGD's noise: 8 bytes per parameter per step
${CC:-cc} -O2 -o "$WORK/keystream" bench/train/keystream.c -lsodium
ks_bytes=$((101770 * 1875 * 8))
ks=$("$WORK/keystream" "$ks_bytes")
rss() {
	/usr/bin/time -f %M sh -c "$1 > /dev/null" 2>&1 >/dev/null | tail -n 1
}
rss_ours=$(rss "$train $img")
rss_np=$(rss "$pyenv $PYTHON bench/train/mlp.py numpy $img $lab 1")
[ "$torchv" = none ] || rss_th=$(rss "$pyenv $PYTHON bench/train/mlp.py torch $img $lab 1")
secs() {
	printf '%.3f s (best of %s)' "$1" "$BENCH_RUNS"
}
pyfig() {
	# shellcheck disable=SC2086 # "best mean sd": split on purpose
	set -- $1
	printf '%.3f s (best of %s epochs; mean %.3f ± %.3f s)' "$1" \
	    "$BENCH_RUNS" "$2" "$3"
}

echo "One epoch of the 60000 training images (uncompressed IDX in the page"
echo "cache), MLP 784-128-10, batch 32, learning rate 0.1, one thread.  The"
echo "fl-train figures are whole runs: process start, reading the data,"
echo "training, writing the update ($(secs "$load") of it is the run"
echo "without training, -s 1).  The baselines (bench/train/mlp.py) time"
echo "the epoch alone, inside Python, data already in memory as float32:"
echo "numpy $($PYTHON -c 'import numpy; print(numpy.__version__)') and" \
    "PyTorch $torchv (Debian), both on $blasso (libopenblas0-pthread, selected with"
echo "LD_LIBRARY_PATH=$BLAS; OPENBLAS_NUM_THREADS=1, torch.set_num_threads(1))."
echo "fl-train uses no BLAS: its own kernels (lib/learn/train.c), plain C compiled"
echo "for SSE2, AVX2 and AVX-512 and picked at load time.  Time ratios: below"
echo "1 is faster than the baseline."
echo
table_head
row "fl-train, 1 epoch" "$(secs "$ours")" "numpy + OpenBLAS epoch" \
    "$(printf '%.3f s' "$npbest")" "$(ratio "$ours" "$npbest")" \
    "$(hfcmd train 0)"
if [ "$torchv" != none ]; then
	row "fl-train, 1 epoch" "$(secs "$ours")" "PyTorch CPU + OpenBLAS epoch" \
	    "$(printf '%.3f s' "$thbest")" "$(ratio "$ours" "$thbest")" \
	    "$(hfcmd train 0)"
fi
row "numpy + OpenBLAS, 1 epoch" "$(pyfig "$np")" "—" "—" "—" \
    "$PYTHON bench/train/mlp.py numpy IMAGES LABELS"
[ "$torchv" = none ] ||
row "PyTorch + OpenBLAS, 1 epoch" "$(pyfig "$th")" "—" "—" "—" \
    "$PYTHON bench/train/mlp.py torch IMAGES LABELS"
row "fl-train -j 2, 1 epoch" "$(secs "$j2")" "fl-train -j 1" "$(secs "$ours")" \
    "$(ratio "$j2" "$ours")" "$(hfcmd train 5)"
row "fl-train --dp, batch 32" "$(secs "$dp")" "fl-train, batch 32" \
    "$(secs "$ours")" "$(ratio "$dp" "$ours")" "$(hfcmd train 1)"
row "fl-train, batch 256" "$(secs "$ours256")" "—" "—" "—" "$(hfcmd train 2)"
row "fl-train --dp, batch 256" "$(secs "$dp256")" "fl-train, batch 256" \
    "$(secs "$ours256")" "$(ratio "$dp256" "$ours256")" "$(hfcmd train 3)"
row "fl-train --dp --shuffle, batch 256 (noise on the grid)" "$(secs "$snap256")" \
    "8dee25b fl-train --dp, batch 256 (plain float noise)" "$(secs "$plain256")" \
    "$(ratio "$snap256" "$plain256")" "$(hfcmd snap 1)"
row "peak RSS, fl-train 1 epoch" "$((rss_ours / 1024)) MiB" \
    "numpy (whole process)" "$((rss_np / 1024)) MiB" \
    "$(ratio "$rss_ours" "$rss_np")" "/usr/bin/time -f %M $(hfcmd train 0)"
[ "$torchv" = none ] ||
row "peak RSS, fl-train 1 epoch" "$((rss_ours / 1024)) MiB" \
    "PyTorch (whole process)" "$((rss_th / 1024)) MiB" \
    "$(ratio "$rss_ours" "$rss_th")" "/usr/bin/time -f %M $(hfcmd train 0)"
echo
echo "DP-SGD draws one Gaussian per parameter per step (101770 per step,"
echo "1875 steps an epoch at batch 32: 191 million), each from a 64-bit"
echo "ChaCha20 word (ziggurat on 53-bit uniforms): $ks_bytes bytes of"
echo "keystream an epoch, which libsodium's ChaCha20 alone takes"
echo "$(printf '%.3f' "$ks") s to make here (bench/train/keystream.c, 64 KiB chunks"
echo "as fl-train makes them).  That floor is $(ratio "$ks" "$ours") times the whole"
echo "non-private epoch at batch 32, so DP-SGD there cannot come within"
echo "1.5x with this noise; at batch 256 (a usual DP-SGD batch) the noise"
echo "is 8 times less and the floor $(printf '%.3f' "$(awk -v k="$ks" 'BEGIN { print k / 8 }')") s."
echo

target "fl-train epoch (MLP 784-128-10, batch 32, 1 thread) faster than numpy + OpenBLAS" \
    "$(printf '%.3f s vs %.3f s (ratio %s)' "$ours" "$npbest" "$(ratio "$ours" "$npbest")")" \
    "$(ge "$npbest" "$ours")"
if [ "$torchv" != none ]; then
	target "fl-train epoch faster than PyTorch CPU + OpenBLAS" \
	    "$(printf '%.3f s vs %.3f s (ratio %s)' "$ours" "$thbest" "$(ratio "$ours" "$thbest")")" \
	    "$(ge "$thbest" "$ours")"
	target "fl-train peak RSS <= 1/5 of PyTorch's" \
	    "$((rss_ours / 1024)) MiB vs $((rss_th / 1024)) MiB (ratio $(ratio "$rss_ours" "$rss_th"))" \
	    "$(ge "$(awk -v t="$rss_th" 'BEGIN { print t / 5 }')" "$rss_ours")"
fi
target "DP-SGD epoch <= 1.5x non-private, batch 32" \
    "$(printf '%.3f s vs %.3f s (ratio %s)' "$dp" "$ours" "$(ratio "$dp" "$ours")")" \
    "$(ge "$(awk -v t="$ours" 'BEGIN { print 1.5 * t }')" "$dp")"
target "DP-SGD epoch <= 1.5x non-private, batch 256" \
    "$(printf '%.3f s vs %.3f s (ratio %s)' "$dp256" "$ours256" "$(ratio "$dp256" "$ours256")")" \
    "$(ge "$(awk -v t="$ours256" 'BEGIN { print 1.5 * t }')" "$dp256")"
target "DP-SGD noise on the grid <= 1.10x plain float noise (8dee25b), batch 256" \
    "$(printf '%.3f s vs %.3f s (ratio %s)' "$snap256" "$plain256" "$(ratio "$snap256" "$plain256")")" \
    "$(ge "$(awk -v t="$plain256" 'BEGIN { print 1.1 * t }')" "$snap256")"
