#!/usr/bin/env bats
# The examples: examples/round-by-hand.sh (one round by hand),
# examples/tree-aggregate.sh, and the cron deployment in examples/cron/
# (the one-time setup of identities and enrolment, then server.sh and
# client.sh run in turn as cron would, with a client that drops, the
# consistency round, key files forgotten, reruns that must change nothing,
# and killed runs and half-written files that the next run must recover
# from).

load helper
load cron

EX=$TOP/examples

# ---- round-by-hand.sh ----

@test "examples: round-by-hand.sh runs one round and spends epsilon" {
	not_under_sanitizers "a whole script"
	run "$EX/round-by-hand.sh" -d hand
	assert_success
	assert_line 'round 0 -> 1: 4 of 4 clients survived'
	assert_line --regexp '^epsilon [0-9.]+ of 10 spent'
	assert_output --partial '### fl-mask --keygen'
	assert_output --partial 'kind=secagg-roster'
	assert_output --partial 'mask=secagg'
	[ "$(fl-inspect -g round hand/server/global.flt)" = 1 ]
	run fl-account -l hand/server/budget.ledger
	assert_success
	assert_line --regexp '^epsilon [0-9.]+ delta 1e-05 .* releases 1$'
}

@test "examples: round-by-hand.sh is reproducible and survives a dropout" {
	not_under_sanitizers "a whole script"
	"$EX/round-by-hand.sh" -q -d a > a.out
	"$EX/round-by-hand.sh" -q -d a > b.out
	cmp a.out b.out
	cp a/server/global.flt first.flt
	"$EX/round-by-hand.sh" -q -d b
	cmp first.flt b/server/global.flt
	run "$EX/round-by-hand.sh" -q --drop 2
	assert_success
	assert_line 'round 0 -> 1: 3 of 4 clients survived'
}

@test "examples: round-by-hand.sh --fmnist trains on Fashion-MNIST" {
	not_under_sanitizers "a whole script"
	[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] ||
	    skip "dataset-fashion-mnist is not installed"
	run "$EX/round-by-hand.sh" -q --fmnist
	assert_success
	assert_line 'round 0 -> 1: 4 of 4 clients survived'
	assert_line --regexp '^accuracy 0\.[0-9]+ -> 0\.[0-9]+$'
}

# ---- tree-aggregate.sh ----

@test "examples: tree-aggregate.sh finds every grouping equal to one pass" {
	not_under_sanitizers "a whole script"
	# The programs from FL_BIN, as the other examples take them.
	run env PATH=/usr/local/bin:/usr/bin:/bin FL_BIN="${FL_BIN:-$TOP/bin}" \
	    "$EX/tree-aggregate.sh" 24 tree
	assert_success
	assert_line --regexp '^tree-xargs: same as one pass \(2 tensors within 1e-5\)$'
	assert_line 'ring-tree: byte-identical to one pass'
	assert_line 'clients: 24'
	if command -v parallel > /dev/null; then
		assert_line --regexp '^tree-parallel: same as one pass'
	fi
}

@test "examples: tree-aggregate.sh --help prints its usage, exit 0; a bad option exits 2" {
	run -0 "$EX/tree-aggregate.sh" --help
	assert_line --index 0 "usage: tree-aggregate.sh [N [DIR]]"
	run -2 --separate-stderr "$EX/tree-aggregate.sh" --bogus
	assert_output ""
}

# ---- central.sh ----

@test "examples: central.sh runs central-DP rounds as planned, the same bytes for any -j, and a baseline without DP" {
	not_under_sanitizers "a whole script"
	[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] ||
	    skip "dataset-fashion-mnist is not installed"
	run "$EX/central.sh" -n 40 -c 8 -r 6 --noise-cohort 20 --eval-every 3 -d c1
	assert_success
	assert_line --regexp '^# central DP: noise multiplier [0-9.]+ for epsilon 2 at delta 1e-6 over 6 rounds of 20-client cohorts \(q=0\.5\); on the sum of a 8-client cohort: [0-9.]+ x clip 0\.4$'
	assert_line --regexp "^# this run's releases \(q=0\.2, multiplier [0-9.]+\): epsilon [0-9.]+ delta 1e-06 "
	assert_line --regexp '^round 3 accuracy 0\.[0-9]+$'
	assert_line --regexp '^round 6 accuracy 0\.[0-9]+$'
	# The updates are the cohorts' clients.
	u=$(awk '{ u += NF - 1 } END { print u }' c1/cohorts)
	assert_line --regexp "^updates $u seconds [0-9.]+ per-second [0-9.]+\$"
	# The multiplier on the cohort's sum is the noise cohort's, scaled by
	# 8/20, and it is what the last release carries.
	z=$(sed -n 's/^# central DP: noise multiplier \([0-9.]*\) .*/\1/p' <<<"$output")
	zr=$(sed -n 's/.*8-client cohort: \([0-9.]*\) x clip.*/\1/p' <<<"$output")
	awk -v z="$z" -v zr="$zr" 'BEGIN { d = zr - z * 8 / 20; exit !(d < 1e-6 * z && d > -1e-6 * z) }' ||
	    fail "multiplier $zr is not $z x 8/20"
	run fl-account --target-epsilon 2 -q 0.5 -T 6 -d 1e-6
	assert_output --regexp "^noise $z "
	assert_equal "$(fl-inspect -g dp.noise c1/release.flt)" "$zr"
	assert_equal "$(fl-inspect -g dp.clip c1/release.flt)" 0.4
	assert_equal "$(fl-inspect -g agg c1/release.flt)" sum
	# The model's round counts the rounds that had a cohort; the last
	# release summed the last cohort.
	assert_equal "$(fl-inspect -g round c1/global.flt)" \
	    "$(awk 'NF > 1' c1/cohorts | wc -l)"
	assert_equal "$(fl-inspect -g clients c1/release.flt)" \
	    "$(awk 'NF > 1 { n = NF - 1 } END { print n }' c1/cohorts)"
	# Reproducible, and the same with two training threads.
	cp c1/global.flt first.flt
	"$EX/central.sh" -n 40 -c 8 -r 6 --noise-cohort 20 --eval-every 3 -j 2 -d c2 > /dev/null
	cmp first.flt c2/global.flt
	# The baseline: no clipping, no noise.
	run "$EX/central.sh" --no-privacy -n 40 -c 8 -r 6 --eval-every 3 -d c3
	assert_success
	assert_line '# no privacy: 40 clients, cohorts of ~8, 6 rounds'
	cmp c1/cohorts c3/cohorts
	run fl-inspect -g dp.noise c3/release.flt
	assert_failure
	! cmp -s first.flt c3/global.flt
	# Bad options.
	run "$EX/central.sh" -c 50 -n 40
	assert_failure 2
	assert_output 'central.sh: -c: the cohort is above the population'
	run "$EX/central.sh" -n 40 -c 8 --noise-cohort 4
	assert_failure 2
	run "$EX/central.sh" --bogus
	assert_failure 2
	run "$EX/central.sh" --help
	assert_success
	assert_line --partial 'usage: central.sh'
}

@test "examples: the scripts are shellcheck-clean" {
	command -v shellcheck > /dev/null || skip "shellcheck is not installed"
	run shellcheck -x -s bash "$EX/round-by-hand.sh" "$CRON/server.sh" \
	    "$CRON/client.sh" "$CRON/common.sh"
	assert_success
	run shellcheck -x "$EX/tree-aggregate.sh" "$EX/central.sh" "$EX/options.sh" \
	    "$EX/secagg-groups.sh"
	assert_success
	run shellcheck "$CRON/https/make-ca.sh" "$CRON/https/start-nginx.sh"
	assert_success
}

# ---- the cron deployment (tests/cron.bash) ----

@test "cron: a round completes with a dropout; rerunning changes nothing" {
	not_under_sanitizers "whole rounds of cron scripts"
	cron_setup
	until_done
	[ "$(fl-inspect -g round server/model.flt)" = 1 ]
	cmp server/model.flt rounds/model.flt
	[ "$(cat rounds/current)" = 0.1 ]
	# c4 sent keys and nothing else: in the roster, not a survivor.
	run fl-inspect -g clients rounds/0.1/sum.flt
	assert_output 4
	run cat rounds/0.1/survivors
	assert_output "$(printf 'c%s\n' 0 1 2 3)"
	grep -qx '  client=c4' <(fl-inspect rounds/0.1/roster.flt)
	# One release in the ledger, of round 0.
	run fl-account -l server/budget.ledger
	assert_success
	assert_line --regexp '^ +1 +0 +discrete-gaussian .* 4 +[0-9.]+$'
	assert_line --regexp 'releases 1$'
	# Every survivor confirmed the survivor list before revealing.
	run fl-inspect -g client rounds/0.1/confirms.flt
	assert_output "$(printf 'c%s\n' 0 1 2 3)"
	# The finished round's secrets are gone from the clients that ran
	# (fl-mask --forget); their identities stay, 0600.
	for i in 0 1 2 3; do
		[ -z "$(find "clients/c$i" -name '*.key')" ]
		grep -q 'key file forgotten' "clients/c$i/log"
		assert_equal "$(stat -c %a "clients/c$i/identity")" 600
	done
	# c4 comes back after the round: it only forgets its keys.
	[ -e clients/c4/0.1.key ]
	client 4
	[ -z "$(find clients/c4 -name '*.key')" ]
	[ -e clients/c4/identity ]
	# Every script again, twice: nothing changes.
	snapshot > before
	pass
	client 4
	pass
	snapshot > after
	diff before after
}

@test "cron: killed runs and half-written files are recovered" {
	not_under_sanitizers "whole rounds of cron scripts"
	cron_setup
	# (every phase but the share phase, where c4 is missing, closes when
	# all its inputs are in, without its deadline, which a loaded
	# machine passes between the killed runs and their reruns below)
	export FL_KEYS_SECS=600 FL_MASK_SECS=600 FL_CONFIRM_SECS=600 \
	    FL_REVEAL_SECS=600
	# c1 is killed between making its keys and sending them; the next
	# run sends them.
	server
	FL_CRASH_AT=keygen run client 1
	[ "$status" -eq 137 ]
	[ -e clients/c1/0.1.key ]
	[ ! -e rounds/0.1/pub/c1.flt ]
	client 1
	[ -e rounds/0.1/pub/c1.flt ]
	# Half-written temporary files of dead runs, one of them as if
	# killed while sending its masked update.
	head -c 100 rounds/0.1/pub/c1.flt > rounds/0.1/pub/.c2.flt.tmp.99999
	head -c 100 server/model.flt > server/model.flt.tmp.99999
	head -c 100 server/model.flt > server/.fl-tmp.Ab12Cd
	mkdir rounds/.0.2.tmp.99999
	# c2 is killed after signing the survivor list, before sending it;
	# the next run sends the same confirmation.
	pass_until rounds/0.1/survivors
	FL_CRASH_AT=confirmed run client 2
	[ "$status" -eq 137 ]
	[ -e clients/c2/0.1.confirm ]
	[ ! -e rounds/0.1/confirm/c2.flt ]
	client 2
	cmp clients/c2/0.1.confirm rounds/0.1/confirm/c2.flt
	# c3 is killed after answering the unmask request, before sending
	# the answer and forgetting its key file; the next run does both.
	pass_until rounds/0.1/confirms.flt
	FL_CRASH_AT=revealed run client 3
	[ "$status" -eq 137 ]
	[ -e clients/c3/0.1.reveal ]
	[ -e clients/c3/0.1.key ]
	[ ! -e rounds/0.1/reveal/c3.flt ]
	client 3
	cmp clients/c3/0.1.reveal rounds/0.1/reveal/c3.flt
	[ ! -e clients/c3/0.1.key ]
	# The server dies after charging the ledger and again after marking
	# DONE: neither charges twice nor skips installing the model.
	pass_until rounds/0.1/sum.flt
	# Every client that revealed forgot its key file at once; c4, which
	# dropped, keeps its own until it learns that the round is over.
	[ -z "$(find clients/c0 clients/c1 clients/c2 clients/c3 -name '*.key')" ]
	[ -e clients/c4/0.1.key ]
	head -c 1000 clients/c0/0.1.masked \
	    > rounds/0.1/masked/.c0.flt.tmp.99998
	FL_CRASH_AT=charged run server
	[ "$status" -eq 137 ]
	[ ! -e rounds/0.1/mean.flt ]
	FL_CRASH_AT=marked-done run server
	[ "$status" -eq 137 ]
	[ -e rounds/0.1/DONE ]
	[ "$(fl-inspect -g round server/model.flt)" = 0 ]
	until_done
	[ "$(fl-inspect -g round server/model.flt)" = 1 ]
	cmp server/model.flt rounds/0.1/next.flt
	run fl-account -l server/budget.ledger
	assert_line --regexp 'releases 1$'
	run find rounds server clients -name '*.tmp.*' -o -name '.fl-tmp.*'
	assert_output ''
	[ ! -e rounds/0.2 ]
}

@test "cron: a run while another holds the lock does nothing" {
	cron_setup
	mkdir -p server
	exec 8>> server/lock
	flock -n 8
	server
	exec 8>&-
	[ ! -e server/model.flt ]
	[ ! -e rounds/current ]
}

@test "cron: no identity on a device, no enrolment on the server: errors" {
	cron_setup
	rm clients/c0/identity
	server
	[ "$(cat rounds/current)" = 0.1 ]
	[ -e rounds/0.1/enrolment.flt ]
	run --separate-stderr client 0
	assert_failure
	[[ $stderr == *"no identity"* ]] || fail "stderr: $stderr"
	[ ! -e rounds/0.1/pub/c0.flt ]
	# The server opens no attempt without the operator's enrolment.
	rm -rf rounds server
	mkdir server
	run --separate-stderr server
	assert_failure
	[[ $stderr == *"enrolment"* ]] || fail "stderr: $stderr"
	[ ! -e rounds/current ]
}

@test "cron: keys of a device the operator did not enrol are left out" {
	not_under_sanitizers "whole rounds of cron scripts"
	cron_setup
	export FL_KEYS_SECS=0
	mkdir -p -m 700 clients/c9
	fl-mask --make-identity --client c9 -i clients/c9/identity \
	    --operator operator/op.pub -o operator/c9.idpub
	server
	for i in 0 1 2 3 9; do
		client "$i"
	done
	[ -e rounds/0.1/pub/c9.flt ]
	server
	run sed -n 's/^  client=//p' <(fl-inspect rounds/0.1/roster.flt)
	assert_output "$(printf 'c%s\n' 0 1 2 3)"
	# c9 is not in the roster: it does nothing more in this attempt.
	client 9
	[ ! -e clients/c9/0.1.shares ]
}

@test "cron: too few keys by the deadline abort; a new attempt opens" {
	not_under_sanitizers "whole rounds of cron scripts"
	cron_setup
	export FL_KEYS_SECS=0
	server
	client 0
	client 1
	server
	run cat rounds/0.1/ABORTED
	assert_output 'keys: 2 clients, fewer than 3'
	server
	[ "$(cat rounds/current)" = 0.2 ]
	client 0
	[ ! -e clients/c0/0.1.key ]
	[ -e clients/c0/0.2.key ]
	grep -q "0.2: keys made" clients/c0/log
}

@test "cron: fewer survivors than the noise shares planned: aborted before the sum is unmasked" {
	not_under_sanitizers "whole rounds of cron scripts"
	cron_setup
	# Five shares planned, c4 drops: the four survivors' sum would
	# carry less noise than planned and cost more than the budget check
	# assumed: the server aborts before unmasking, charges nothing, and
	# the next attempt opens.
	export FL_SHARES=5
	passes_until rounds/0.1/ABORTED
	run cat rounds/0.1/ABORTED
	assert_output 'masking: 4 survivors, fewer than the 5 noise shares planned'
	[ ! -e rounds/0.1/sum.flt ]
	[ ! -e server/budget.ledger ] ||
	    [ "$(grep -c release= server/budget.ledger)" = 0 ]
	passes_until rounds/0.2
}

@test "cron: the ledger refuses a round over budget: aborted and stopped" {
	not_under_sanitizers "whole rounds of cron scripts"
	cron_setup
	# The round is planned within the budget (it opens); once its
	# survivors are in, something else is charged to the ledger (a
	# spend by hand), and the release, now over the budget, is refused
	# by the ledger.
	export FL_BUDGET=9
	passes_until rounds/0.1/survivors
	grep -q '0.1: opened (clip 1; planned: epsilon ' server/log
	fl-account -l server/budget.ledger -s -q 1 -z 0.5 > /dev/null
	passes_until rounds/0.1/ABORTED
	run cat rounds/0.1/ABORTED
	assert_output 'the privacy budget 9 is spent'
	[ -e rounds/STOPPED ]
	[ "$(fl-inspect -g round server/model.flt)" = 0 ]
	[ "$(grep -c release= server/budget.ledger)" = 1 ]
	snapshot > before
	pass
	snapshot > after
	diff before after
}
