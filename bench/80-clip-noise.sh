#!/bin/sh
# fl-clip-noise: clip + Gaussian noise per coordinate against the ChaCha20
# keystream (4 bytes a coordinate, the physical limit) and against numpy's
# and PyTorch's Gaussian generators (what Opacus users pay); the exact
# discrete Gaussian per sample on one and two threads.  In-process figures
# come from bench/noise.c; the end-to-end program is timed with hyperfine.
set -eu
. bench/lib.sh

n=10000000
${CC:-cc} -O2 -std=c11 -Ilib -o "$WORK/noise" bench/noise.c lib/libfl.a \
    -lsodium -lz -lm -pthread
"$WORK/noise" "$n" > "$WORK/noise.tsv"
get() { awk -F'\t' -v k="$1" -v f="$2" '$1 == k { print $f }' "$WORK/noise.tsv"; }
nspc() { awk -v s="$(get "$1" 3)" -v c="$(get "$1" 2)" 'BEGIN { printf "%.2f", s / c * 1e9 }'; }

# numpy and torch draw N(0,1) float32 for the same count, then clip.
"$PYTHON" - "$n" > "$WORK/noise-py.tsv" <<'PY'
import sys, time
import numpy as np
n = int(sys.argv[1])
x = np.random.default_rng(1).random(n, dtype=np.float32) - 0.5
def best(f, reps=5):
    t = []
    for _ in range(reps):
        t0 = time.perf_counter(); f(); t.append(time.perf_counter() - t0)
    return min(t)
rng = np.random.default_rng(2)
def np_clip_noise():
    y = x * min(1.0, 1.0 / float(np.linalg.norm(x)))
    y += rng.standard_normal(n, dtype=np.float32)
print(f"numpy\t{best(np_clip_noise) / n * 1e9:.2f}")
try:
    import torch
    torch.set_num_threads(1)
    tx = torch.from_numpy(x)
    def torch_clip_noise():
        y = tx * min(1.0, 1.0 / float(torch.linalg.vector_norm(tx)))
        y += torch.normal(0.0, 1.0, size=(n,))
    print(f"torch\t{best(torch_clip_noise) / n * 1e9:.2f}")
except Exception as e:       # torch missing: the row says so
    print(f"torch\tnan")
PY
np_ns=$(awk -F'\t' '$1 == "numpy" { print $2 }' "$WORK/noise-py.tsv")
torch_ns=$(awk -F'\t' '$1 == "torch" { print $2 }' "$WORK/noise-py.tsv")

chacha=$(nspc chacha20-4B)
clip=$(nspc clip+gaussian-f32)

# End to end: one record of 10M f32 through the program (I/O included).
"$PYTHON" bench/gen.py f32 "$WORK/f32-40m.flt" 1 40
hf clipnoise "$FL_BIN/fl-clip-noise -c 1 -n 1 $WORK/f32-40m.flt > /dev/null" \
    "$FL_BIN/fl-clip-noise -c 1 -n 1 --exact -j 2 $WORK/f32-40m.flt > /dev/null" \
    "$FL_BIN/fl-inspect --check $WORK/f32-40m.flt"
coords=$((40 << 18))
e2e=$(awk -v s="$(hfget clipnoise 0 min)" -v c="$coords" 'BEGIN { printf "%.2f", s / c * 1e9 }')
exact=$(awk -v s="$(hfget clipnoise 1 min)" -v c="$coords" 'BEGIN { printf "%.2f", s / c * 1e9 }')
read_only=$(awk -v s="$(hfget clipnoise 2 min)" -v c="$coords" 'BEGIN { printf "%.2f", s / c * 1e9 }')

echo "## fl-clip-noise: clipping and noise"
echo
echo "Clip to norm 1 and add Gaussian noise to $n f32 coordinates, one"
echo "thread, in-process (bench/noise.c, best of 5), against the ChaCha20"
echo "keystream alone at 4 bytes a coordinate, and against numpy and"
echo "PyTorch (float32 normal generators, 1 thread) doing the same."
echo
table_head
row "ChaCha20 keystream, 4 B/coordinate" "$chacha ns/coord" "—" "—" "—" "bench/work/noise $n"
row "clip + Gaussian (ziggurat on the 2^-18 grid)" "$clip ns/coord" "ChaCha20 keystream" "$chacha ns" "$(ratio "$clip" "$chacha")" "bench/work/noise $n"
row "clip + Gaussian" "$clip ns/coord" "numpy clip + standard_normal" "$np_ns ns" "$(ratio "$clip" "$np_ns")" "bench/80-clip-noise.sh"
row "clip + Gaussian" "$clip ns/coord" "torch clip + torch.normal" "$torch_ns ns" "$(ratio "$clip" "$torch_ns")" "bench/80-clip-noise.sh"
row "fl-clip-noise -c 1 -n 1, end to end" "$e2e ns/coord" "fl-inspect --check (read only)" "$read_only ns" "$(ratio "$e2e" "$read_only")" "$(hfcmd clipnoise 0)"
row "fl-clip-noise --exact -j 2, end to end" "$exact ns/coord" "ziggurat, 1 thread" "$e2e ns" "$(ratio "$exact" "$e2e")" "$(hfcmd clipnoise 1)"
echo
echo "The exact discrete Gaussian (CKS, integer arithmetic), per sample:"
echo
table_head
for s in 1 100 10000 42470.7; do
	one=$(nspc "dgauss-sigma$s-j1")
	two=$(nspc "dgauss-sigma$s-j2")
	row "sigma $s, 1 thread" "$one ns/sample" "—" "—" "—" "bench/work/noise $n"
	row "sigma $s, 2 threads" "$two ns/sample" "1 thread" "$one ns" "$(ratio "$two" "$one")" "bench/work/noise $n"
	target "exact discrete Gaussian, sigma $s: <= 200 ns/sample on one core" "$one ns" "$(ge 200 "$one")"
	# "Scaling with cores": 2 threads on this 2-core machine at most 3/4
	# of the time of one.
	target "exact discrete Gaussian, sigma $s, -j 2: <= 0.75 x one thread" "$(ratio "$two" "$one") ($two ns)" "$(ge 0.75 "$(ratio "$two" "$one")")"
done
echo
# The issue's 5 ns was set against a keystream of 1.7 ns a coordinate:
# on a slower or busier run the same ratio is the fair bound.
scaled=$(awk -v c="$chacha" 'BEGIN { printf "%.2f", 5 * c / 1.7 }')
target "clip + Gaussian noise, 10M f32: <= 5 ns/coordinate on one core" "$clip ns (ChaCha20 alone: $chacha ns)" "$(ge 5 "$clip")"
target "the same, as a ratio: <= 5/1.7 = 2.94 x the ChaCha20 keystream" "$(ratio "$clip" "$chacha") ($clip ns against $scaled ns)" "$(ge "$scaled" "$clip")"
