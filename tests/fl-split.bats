#!/usr/bin/env bats
# fl-split: partitions among clients, and the synthetic data set.

load helper
load learn

# sizes FILE: the examples of each record of FILE, space-separated.
sizes() {
	fl-inspect "$1" | awk '$1 == "y" { sub(/^\[/, "", $3); sub(/\]$/, "", $3); printf "%s%s", sep, $3; sep = " " } END { print "" }'
}

# labels FILE: per record, the sorted distinct labels, one line each.
labels() {
	"$PYTHON" - "$1" <<'PY'
import subprocess, sys
out = subprocess.run(["fl-inspect", "--dump", "y", sys.argv[1]],
                     capture_output=True, text=True, check=True).stdout
# --dump prints the values of every record one after the other: split
# them by the sizes fl-inspect reports
info = subprocess.run(["fl-inspect", sys.argv[1]], capture_output=True,
                      text=True, check=True).stdout
ns = [int(l.split()[2].strip("[]")) for l in info.splitlines()
      if l.split()[:1] == ["y"]]
vals = [int(v) for v in out.split()]
i = 0
for n in ns:
    print(" ".join(map(str, sorted(set(vals[i:i + n])))))
    i += n
PY
}

@test "fl-split: the synthetic data set, as records and as CSV" {
	fl-split --synthetic=50 --features=3 --classes=4 --seed=1 -o d.flt
	assert_equal "$(get kind d.flt)" dataset
	run fl-inspect d.flt
	assert_line --regexp '^  x +f32 +\[50,3\] '
	assert_line --regexp '^  y +i32 +\[50\] +0 +3 '
	fl-split --synthetic=50 --features=3 --classes=4 --seed=1 --csv -o d.csv
	assert_equal "$(head -n 1 d.csv)" label,x1,x2,x3
	assert_equal "$(wc -l < d.csv)" 51
	# the CSV holds the same data, float for float
	fl-split -o d2.flt d.csv
	fl-inspect --diff d.flt d2.flt --tolerance 0
	fl-split --synthetic=50 --features=3 --classes=4 --seed=1 -o d3.flt
	cmp d.flt d3.flt
	fl-split --synthetic=50 --features=3 --classes=4 --seed=2 -o d4.flt
	! cmp -s d.flt d4.flt
}

@test "fl-split: IID: equal parts that make up the whole" {
	fl-split --synthetic=103 --seed=1 -o all.flt
	fl-split -n 4 --seed=2 all.flt -o parts.flt
	assert_equal "$(sizes parts.flt)" "26 26 25 26"
	assert_equal "$(fl-inspect --get client parts.flt | tr '\n' ' ')" "0 1 2 3 "
	# the union is the data set: train on it in one go and compare
	fl-init -a logreg:4-3 --seed 1 -o m.flt
	fl-eval -m m.flt all.flt > a.txt
	fl-eval -m m.flt parts.flt > b.txt
	cmp a.txt b.txt
}

@test "fl-split: --prefix writes one file per client, numbered to the same width" {
	fl-split --synthetic=120 --seed=1 -n 12 -p out/c- 2>/dev/null && fail "no out/ yet"
	mkdir out
	fl-split --synthetic=120 --seed=1 -n 12 -p out/c-
	run ls out
	assert_equal "${lines[0]}" c-00.flt
	assert_equal "${lines[11]}" c-11.flt
	assert_equal "${#lines[@]}" 12
	fl-split --synthetic=30 --seed=1 -n 3 --csv -p out/k-
	assert_equal "$(head -n 1 out/k-2.csv)" label,x1,x2,x3,x4
	assert_equal "$(cat out/k-*.csv | grep -vc label)" 30
	! compgen -G 'out/.fl-tmp.*' > /dev/null
}

@test "fl-split: Dirichlet label skew: skewed, reproducible, every client served" {
	fl-split --synthetic=2000 --classes=10 --seed=1 -o all.flt
	fl-split -n 10 --dirichlet 0.1 --seed=3 all.flt -o a.flt
	fl-split -n 10 --dirichlet 0.1 --seed=3 all.flt -o b.flt
	cmp a.flt b.flt
	run sizes a.flt
	for s in $output; do [ "$s" -ge 10 ] || fail "a client of $s examples"; done
	# alpha 0.1: most clients see only a few classes; alpha 1000: all
	few=$(labels a.flt | awk '{ n += NF } END { print n / NR }')
	fl-split -n 10 --dirichlet 1000 --seed=3 all.flt -o c.flt
	all=$(labels c.flt | awk '{ n += NF } END { print n / NR }')
	ge 6 "$few" || fail "alpha 0.1: $few classes per client"
	assert_equal "$all" 10
}

@test "fl-split: label shards (McMahan): k sorted shards per client" {
	fl-split --synthetic=1000 --classes=10 --seed=1 -o all.flt
	fl-split -n 20 --shards 2 --seed=1 all.flt -o s.flt
	assert_equal "$(sizes s.flt)" "$(printf '50 %.0s' $(seq 20) | sed 's/ $//')"
	run labels s.flt
	for l in "${lines[@]}"; do
		set -- $l
		[ "$#" -le 4 ] || fail "a client with labels $l"
	done
}

@test "fl-split: quantity skew: sizes vary, labels do not" {
	fl-split --synthetic=1000 --seed=1 -o all.flt
	fl-split -n 5 --quantity 0.5 --min-size 20 --seed=1 all.flt -o q.flt
	run sizes q.flt
	set -- $output
	assert_equal "$#" 5
	assert_equal "$(( $1 + $2 + $3 + $4 + $5 ))" 1000
	min=1000 max=0
	for s; do
		[ "$s" -lt "$min" ] && min=$s
		[ "$s" -gt "$max" ] && max=$s
	done
	[ "$min" -ge 20 ]
	[ "$max" -gt $((2 * min)) ]
}

@test "fl-split: IDX input keeps the pixels as bytes" {
	idx_images imgs-images-idx3-ubyte 4 2 2 0 1 2 3 4 5 6 7 8 9 10 11 \
	    12 13 14 15
	idx_labels imgs-labels-idx1-ubyte 0 1 0 1
	fl-split -n 2 --seed=1 imgs-images-idx3-ubyte -o s.flt
	run fl-inspect s.flt
	assert_line --regexp '^  x +u8 +\[2,4\] '
	fl-split --csv imgs-images-idx3-ubyte -o s.csv
	assert_equal "$(sed -n 2p s.csv)" 0,0,1,2,3
}

@test "fl-split: usage and bad input" {
	fl-split --synthetic=10 --seed=1 -o ten.flt
	run --separate-stderr fl-split -n 11 ten.flt
	fails_with "11 clients for 10 examples: want 1 to 10"
	run --separate-stderr fl-split -n 2 --shards 6 ten.flt
	fails_with "12 shards of 10 examples"
	run --separate-stderr fl-split -n 5 --dirichlet 0.01 --min-size 2 \
	    --seed=1 ten.flt
	fails_with "no partition with at least 2 examples per client"
	run --separate-stderr fl-split --iid --dirichlet 1 ten.flt
	assert_equal "$status" 2
	run --separate-stderr fl-split -n 2 --csv ten.flt
	assert_equal "$status" 2
	run --separate-stderr fl-split --synthetic=5 ten.flt
	assert_equal "$status" 2
	run --separate-stderr fl-split -p x -o y ten.flt
	assert_equal "$status" 2
	run --separate-stderr fl-split --dirichlet 0 ten.flt
	assert_equal "$status" 1
	run --separate-stderr fl-split --synthetic=5 --classes=1
	assert_equal "$status" 1
}

@test "fl-split: --prefix on a full disk leaves no shard, and the old ones as they were" {
	command -v prlimit > /dev/null || skip "no prlimit(1)"
	# Quantity skew: client 1 gets most of the data, so a file-size
	# limit above client 0's shard and below client 1's fails part-way
	# (before: s0.flt stayed, a split that looked finished).
	fl-split --synthetic=3000 --features=20 --classes=3 --seed=y -n 4 \
	    --quantity=0.3 -p s
	[ "$(stat -c %s s0.flt)" -lt 50000 ] && [ "$(stat -c %s s1.flt)" -gt 50000 ] ||
	    fail "shard sizes do not straddle the limit: $(ls -l s?.flt)"
	rm s?.flt
	run -1 prlimit --fsize=50000 fl-split --synthetic=3000 --features=20 \
	    --classes=3 --seed=y -n 4 --quantity=0.3 -p s
	assert_output "fl-split: s1.flt: File too large"
	assert_equal "$(ls -A)" ""
	# Over an earlier split: every old shard stays whole.
	echo old > s0.flt
	run -1 prlimit --fsize=50000 fl-split --synthetic=3000 --features=20 \
	    --classes=3 --seed=y -n 4 --quantity=0.3 -p s
	assert_equal "$(ls -A)" "s0.flt"
	assert_equal "$(cat s0.flt)" old
}
