#!/usr/bin/env bats
# examples/simulate.sh, the simulation behind `make demo`, on a small
# synthetic population: identities and the enrolment once, then every
# round runs the whole private pipeline (training, clipping, ring
# encoding, distributed noise, masking, dropouts, the consistency round,
# unmasking, forgetting the keys, adaptive clipping, the server optimizer
# and the ledger).

load helper

SIM=$TOP/examples/simulate.sh

@test "simulate.sh: private rounds with dropouts, epsilon within the budget" {
	not_under_sanitizers "a whole simulation"
	# Seeded cohorts, for a run without aborted rounds (a cohort that
	# drops more than the roster tolerates aborts its round).
	run -0 "$SIM" --synthetic -n 80 -c 24 -r 3 -e 8 --dropout=0.3 \
	    --seed=bats --seeded-cohorts -j 2 -d sim
	assert_line --regexp '^# synthetic data: 80 clients, cohort ~24 \(q=0.3\), 3 rounds, noise multiplier [0-9.]+ for epsilon 8 at delta 1e-5$'
	# A line per round: round, accuracy, sampled, survivors, dropped,
	# epsilon, clip.
	[ "$(grep -c '^ *[1-3] ' <<< "$output")" -eq 3 ]
	[ "$(wc -l < sim/results.tsv)" -eq 4 ]
	awk -F'\t' 'NR > 1 {
		if ($2 < 0 || $2 > 1) exit 1          # accuracy
		if ($4 + $5 != $3) exit 1             # survivors + dropped
		if (!($6 > 0 && $6 <= 8)) exit 1      # epsilon so far
		if (NR > 2 && $6 < e) exit 1          # and it only grows
		e = $6
	}' sim/results.tsv
	# Some clients dropped at some stage, and the round still finished.
	awk -F'\t' 'NR > 1 { d += $5 } END { exit !(d > 0) }' sim/results.tsv
	# The ledger charged each round for its survivors.
	run -0 fl-account -l sim/budget.ledger
	assert_line --regexp '^epsilon [0-9.]+ delta 1e-05 .* releases 3$'
	# The model advanced three rounds.
	assert_equal "$(fl-inspect -g round sim/global.flt)" 3
	# Every device's identity was made once, 0600, and enrolled.
	[ "$(find sim/ids -name 'c*.id' | wc -l)" -eq 80 ]
	for f in sim/ids/*.id; do
		assert_equal "$(stat -c %a "$f")" 600
	done
	[ "$(fl-inspect -g secagg.n sim/enrolment.flt)" = 80 ]
	# The last round: its survivors confirmed the survivor list before
	# the reveal, and then every key file was forgotten.
	[ "$(fl-inspect -g client sim/round/confirms.flt | LC_ALL=C sort)" = \
	    "$(LC_ALL=C sort sim/round/survivors)" ]
	[ -e sim/round/roster.flt ]
	[ -z "$(find sim/round -name '*.key')" ]
	# Seeded cohorts are not private, and the ledger says so.
	assert_equal "$(fl-inspect -g cohort.seeded sim/round/cohort.flt)" yes
	cmp <(fl-inspect -d clients sim/round/cohort.flt) sim/round/sampled
	[ "$(grep -c ' not-private=sampling ' sim/budget.ledger)" = 3 ]
	# Everything the devices sent in the last round, key by key: only
	# what the protocol needs, and beyond the client's name nothing that
	# differs between clients (so nothing that depends on their data).
	for f in sim/round/c*.pub sim/round/c*.shares sim/round/m[0-9]*.flt \
	    sim/round/c*.confirm sim/round/c*.reveal; do
		fl-inspect -j "$f"
	done > sent.jsonl
	run -0 $PYTHON - sent.jsonl <<'EOF'
import json, sys
allowed = {"arch", "client", "kind", "mask", "modulus", "round",
           "secagg.session", "secagg.shared", "secagg.survivors",
           "dp.clip", "dp.clip-indicator", "dp.dim", "dp.indicator-noise",
           "dp.mechanism", "dp.noise", "dp.noise-update", "dp.sensitivity",
           "dp.shares", "dp.sigma", "q.beta", "q.bits", "q.clients",
           "q.codec", "q.dim", "q.rotation", "q.rotation-seed", "q.scale"}
seen = {}
kinds = set()
for line in open(sys.argv[1]):
    rec = json.loads(line)
    meta = rec["meta"]
    kinds.add(meta.get("kind"))
    for k, v in meta.items():
        if k not in allowed:
            sys.exit(f"{rec['file']}: key {k}={v} may not leave a device")
        if k != "client":
            seen.setdefault((meta.get("kind"), k), set()).add(v)
differ = {k: v for k, v in seen.items() if len(v) > 1}
if differ:
    sys.exit(f"values that differ between clients: {differ}")
print(sorted(kinds))
EOF
}

@test "simulate.sh: the cohorts come from the OS, and the ledger knows it" {
	not_under_sanitizers "a whole simulation"
	run -0 "$SIM" --synthetic -n 60 -c 20 -r 1 -e 8 --dropout=0 -j 2 -d os
	assert_line --regexp '^ *1 '
	run -1 fl-inspect -g cohort.seeded os/round/cohort.flt
	cmp <(fl-inspect -d clients os/round/cohort.flt) os/round/sampled
	run -0 cat os/budget.ledger
	assert_line --index 1 --regexp "^release=1 round=0 .* q=0.333[0-9]* .* clients=$(wc -l < os/round/sampled) colluding=[0-9]+ .*check="
	refute_output --partial not-private
}

@test "simulate.sh: the same run without privacy; --results (make demo) keeps the results, not the work directory" {
	not_under_sanitizers "a whole simulation"
	mkdir tmp
	TMPDIR=$PWD/tmp run -0 "$SIM" --synthetic -n 60 -c 20 -r 2 \
	    --no-privacy --seed=bats -j 2 --results plain
	assert_line --regexp '^# synthetic data: 60 clients, cohort ~20 \(q=0.333[0-9]*\), 2 rounds, no privacy$'
	assert_line "# results: $PWD/plain/results.tsv"
	[ "$(wc -l < plain/results.tsv)" -eq 3 ]
	[ ! -e plain/budget.ledger ]
	assert_equal "$(fl-inspect -g round plain/global.flt)" 2
	# The work directory (under TMPDIR) is gone, shards and all.
	[ -z "$(ls -A tmp)" ] || fail "left in TMPDIR: $(ls -A tmp)"
	[ ! -e plain/shards ]
	run -2 "$SIM" --synthetic -d work --results plain
	assert_output "simulate.sh: -d or --results, not both"
	[ ! -e work ]
}

@test "simulate.sh --ftrl: cohorts by availability, no coin; devices keep the pattern; the tree's rounds spend the plan's epsilon" {
	not_under_sanitizers "a whole simulation"
	run -0 "$SIM" --synthetic -n 60 -c 15 -r 6 -e 8 --dropout=0.1 \
	    --seed=bats --ftrl -j 2 -d sim
	# 60 clients, 15 a round: each at most twice, 4 rounds apart.
	assert_line --regexp '^# synthetic data: 60 clients, cohorts of 15 in the order they are available, 6 rounds: DP-FTRL, each device at most 2 times, 4 rounds apart; tree noise multiplier [0-9.]+: rho [0-9.]+, epsilon 8 at delta 1e-5$'
	[ "$(wc -l < sim/results.tsv)" -eq 7 ]
	# Every round took 15 devices; the epsilon grows to the plan's 8 at
	# the last round, exactly (the multiplier charged is the plan's).
	awk -F'\t' 'NR > 1 { if ($3 != 15 || $4 + $5 != 15 || $6 > 8) exit 1; e = $6 }
	    END { exit !(e > 7.999) }' sim/results.tsv
	assert_equal "$(fl-inspect -g round sim/global.flt)" 6
	assert_equal "$(fl-inspect -g ftrl.round sim/global.flt)" 6
	# The ledger holds the tree's rows (no sampling) and, exactly, the plan.
	run -0 fl-account -l sim/budget.ledger -a exact
	assert_line --regexp '^epsilon 7\.99[0-9]* delta 1e-05 accountant exact'
	! grep -q 'not-private' sim/budget.ledger
	# Each device's own record of its rounds: 0600, at most 2 of them;
	# the order repeats every 4 rounds, so rounds 1 and 5 (the model's
	# rounds 0 and 4), and 2 and 6, took the same devices.
	twice=0
	for f in sim/ids/c*.part; do
		assert_equal "$(stat -c %a "$f")" 600
		c=$(fl-inspect -g participation.count "$f")
		[ "$c" -le 2 ]
		if [ "$c" = 2 ]; then
			twice=$((twice + 1))
			last=$(fl-inspect -g participation.last "$f")
			[ "$last" = 4 ] || [ "$last" = 5 ]
		fi
	done
	n=$(ls sim/ids/c*.part | wc -l)
	[ "$n" -le 60 ]
	[ "$n" -ge 50 ]
	# (a device that dropped before training recorded nothing: no file,
	# or one round)
	[ "$twice" -ge 20 ]
	[ "$twice" -le 30 ]
	# The tree's state is the server's, 0600.
	assert_equal "$(stat -c %a sim/tree.flt)" 600
}

@test "simulate.sh --ftrl --bands: banded MF's noise by the server, momentum on the noised sums; the plan's epsilon at the last round" {
	not_under_sanitizers "a whole simulation"
	run -0 "$SIM" --synthetic -n 60 -c 15 -r 6 -e 8 --dropout=0.1 \
	    --seed=bats --ftrl --bands=4 -j 2 -d sim
	assert_line --regexp '^# synthetic data: 60 clients, cohorts of 15 in the order they are available, 6 rounds: DP-FTRL, each device at most 2 times, 4 rounds apart; banded MF \(4 bands\) noise multiplier [0-9.]+: rho [0-9.]+, epsilon 8 at delta 1e-5$'
	z=$(fl-account -m banded --bands 4 --target-epsilon 8 -d 1e-5 -T 6 \
	    --participations 2 --separation 4 | awk '{ print $2 }')
	assert_equal "$(fl-inspect -g ftrl.mechanism sim/tree.flt)" banded
	assert_equal "$(fl-inspect -g ftrl.bands sim/tree.flt)" 4
	assert_equal "$(fl-inspect -g ftrl.noise sim/tree.flt)" "$z"
	assert_equal "$(fl-inspect -g ftrl.round sim/global.flt)" 6
	# The server's momentum (FedAvgM) kept its state beside the model.
	assert_equal "$(fl-inspect -g opt sim/state.flt)" avgm
	assert_equal "$(fl-inspect -g round sim/state.flt)" 6
	run -0 fl-account -l sim/budget.ledger -a exact
	assert_line --regexp '^epsilon (7\.99[0-9]*|8) delta 1e-05 accountant exact'
	awk -F'\t' 'NR > 1 { if ($3 != 15 || $6 > 8) exit 1 }' sim/results.tsv
}

@test "simulate.sh: usage" {
	run -0 "$SIM" --help
	assert_line --partial 'usage: simulate.sh'
	run -2 "$SIM" --bogus
	run -2 "$SIM" --ftrl --no-privacy
	assert_output --partial "--ftrl draws no cohorts and is private"
	run -2 "$SIM" --ftrl -n 10 -c 20
	assert_output --partial "--ftrl: the cohort must be 1 to the population (10)"
	run -2 "$SIM" --bands=4
	assert_output --partial "--bands goes with --ftrl"
	run -2 "$SIM" --ftrl -n 60 -c 15 --bands=5
	assert_output --partial "--bands=5: 1 to clients / cohort (4, the rounds between two turns of a device)"
	run -2 "$SIM" --ftrl --bands=x
	assert_output --partial "--bands=x: 1 to clients / cohort"
}

@test "simulate.sh: shellcheck" {
	command -v shellcheck > /dev/null || skip "no shellcheck"
	run -0 shellcheck -s bash "$SIM" "$TOP/examples/secagg.sh"
}
