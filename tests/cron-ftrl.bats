#!/usr/bin/env bats
# The cron deployment with DP-FTRL (issue 20, deliverable 5): no sampling,
# the devices clip and keep to a participation pattern, the server adds the
# tree's noise to the unmasked sum and charges the ledger before the model
# leaves it; the whole tree's plan is checked before a round opens; the
# tree's state never leaves the server and survives a crash anywhere in
# the release.

load helper
load cron

# ftrl_setup: the five devices of tests/cron.bash, DP-FTRL on the server
# (a tree of 2 rounds, each device at most twice) and on the devices.
ftrl_setup() {
	cron_setup
	export FL_FTRL=tree FL_FTRL_ROUNDS=2 FL_LAST_ROUND=5
	export FL_PARTICIPATIONS=2 FL_SEPARATION=1 FL_BUDGET=8
	unset FL_NOISE FL_BANDS
}

@test "cron DP-FTRL: two rounds of the tree, a crash in each release; no device noise; each device in the pattern; the ledger spends the plan, exactly" {
	not_under_sanitizers "whole rounds of cron scripts"
	ftrl_setup
	# Round 0: a crash after the tree's state moved, before the model:
	# the next run installs the model; the state and model agree.
	passes_until rounds/0.1/sum.flt
	FL_CRASH_AT=marked-done run server
	assert_failure
	[ -e rounds/0.1/DONE ]
	run -0 server
	[ "$(fl-inspect -g round server/model.flt)" = 1 ]
	assert_equal "$(fl-inspect -g ftrl.done server/tree.flt)" 1
	# Round 1: the model made, then the run dies; and as if it had died
	# inside fl-apply, after its model and before its state: the model
	# is made again from the installed state, the same bytes.
	passes_until rounds/1.1/sum.flt
	FL_CRASH_AT=applied run server
	assert_failure
	cp server/next.1.1.flt made
	cp server/tree.flt server/tree.1.1.flt
	FL_CRASH_AT=applied run server
	assert_failure
	cmp made server/next.1.1.flt
	assert_equal "$(fl-inspect -g ftrl.done server/tree.1.1.flt)" 2
	run -0 server
	cmp made server/model.flt
	pass
	[ "$(fl-inspect -g round server/model.flt)" = 2 ]
	cmp server/model.flt rounds/model.flt
	assert_equal "$(fl-inspect -g ftrl.round server/model.flt)" 2
	assert_equal "$(fl-inspect -g ftrl.tree server/model.flt)" \
	    "$(fl-inspect -g ftrl.tree server/tree.flt)"
	# The noise the budget gave, for the whole tree: the plan's epsilon
	# is spent at its last round, exactly.
	plan=$(fl-account -m tree --target-epsilon 8 -d 1e-5 -T 2 \
	    --participations 2 --separation 1)
	z=$(echo "$plan" | awk '{ print $2 }')
	assert_equal "$(fl-inspect -g ftrl.noise server/tree.flt)" "$z"
	run -0 fl-account -l server/budget.ledger -a exact
	assert_line --regexp '^epsilon (7\.99[0-9]*|8) delta 1e-05 accountant exact'
	grep -q '0.1: opened (clip 1; planned: epsilon ' server/log
	# The devices' params ask for no noise; their updates carry none.
	grep -qx 'mechanism=dp-ftrl' rounds/0.1/params
	! grep -q '^noise=' rounds/0.1/params
	for f in rounds/0.1/masked/*.flt rounds/1.1/masked/*.flt; do
		run -0 fl-inspect "$f"
		refute_output --partial 'dp.noise'
		assert_output --partial 'dp.clip=1'
	done
	# Each device that trained recorded its rounds (c4 dropped in round 0
	# before training and is not seen again).
	for i in 0 1 2 3; do
		assert_equal "$(fl-inspect -g participation.count \
		    "clients/c$i/participation")" 2
		assert_equal "$(stat -c %a "clients/c$i/participation")" 600
	done
	[ ! -e clients/c4/participation ]
	# The tree's secret stays on the server: 0600, and no record in
	# the round directory is a tree state or holds its tensors.
	assert_equal "$(stat -c %a server/tree.flt)" 600
	for f in $(find rounds -name '*.flt'); do
		[ "$(fl-inspect -g kind "$f")" != ftrl-state ]
		! fl-inspect "$f" | grep -q '^  secret '
	done
	[ -z "$(find rounds server -name 'tree.*.flt' -o -name 'next.*.flt')" ]
	# The tree is done: no third round opens, said once in the log.
	pass
	pass
	[ "$(cat rounds/current)" = 1.1 ]
	run grep -c "2.1: not opened: the tree's rounds are done" server/log
	assert_output 1
}

@test "cron DP-FTRL: the whole tree's plan is checked before the first round opens" {
	not_under_sanitizers "whole rounds of cron scripts"
	ftrl_setup
	# Noise 0.5 for two rounds of two participations is far over 8.
	export FL_NOISE=0.5
	run -0 server
	[ ! -e rounds/0.1 ]
	grep -q "0.1: not opened: $PWD/server/budget.ledger: spend refused (dry run): epsilon would be '[0-9.]*', over the budget '8'" \
	    server/log
	# Banded MF's plan the same way: bands above the separation refused
	# by its accountant, the round not opened; then a plan that fits.
	FL_FTRL=banded FL_BANDS=2 run -1 server
	[ ! -e rounds/0.1 ]
	FL_FTRL=banded FL_SEPARATION=2 FL_BANDS=2 FL_NOISE=0.5 run -0 server
	[ ! -e rounds/0.1 ]
	run grep -c "0.1: not opened: .*spend refused (dry run)" server/log
	assert_output 2
	# Bad settings: one line, exit 1, nothing opened.
	FL_FTRL=lattice run -1 server
	assert_output "server.sh: FL_FTRL=lattice: tree or banded"
	FL_FTRL=banded run -1 server
	assert_output --partial "FL_FTRL=banded: set FL_BANDS"
	[ ! -e rounds/0.1 ]
	# Enough noise for the whole plan: the round opens.
	FL_NOISE=3 run -0 server
	[ -e rounds/0.1/params ]
	grep -q '0.1: opened (clip 1; planned: epsilon [0-9.]* ' server/log
}

@test "cron DP-FTRL: a device keeps its own pattern, and does not join a round noised by the server unless it agreed" {
	not_under_sanitizers "whole rounds of cron scripts"
	ftrl_setup
	export FL_KEYS_SECS=1
	# Devices that did not agree to DP-FTRL (FL_FTRL unset on them): no
	# keys, the round aborts for want of clients.
	run -0 server
	for i in 0 1 2 3 4; do
		FL_CLIENT=c$i FL_DATA=data/c$i.flt FL_CLIENT_DIR=clients/c$i \
		    FL_FTRL='' run -0 "$CRON/client.sh"
		[ ! -e "rounds/0.1/pub/c$i.flt" ]
	done
	grep -q '0.1: sits out: the round is DP-FTRL (noise by the server, none by this device) and FL_FTRL is not set' \
	    clients/c0/log
	sleep 1
	run -0 server
	grep -q '0.1 aborted: keys: 0 clients, fewer than 3' server/log
	# Devices that allow one round each, while the server declares two
	# (the params of round 1 say participations=2): round 0 runs, round 1
	# finds no device.
	export FL_KEYS_SECS=600
	client() {
		FL_PARTICIPATIONS=1 FL_CLIENT=c$1 FL_DATA=data/c$1.flt \
		    FL_CLIENT_DIR=clients/c$1 "$CRON/client.sh"
	}
	passes_until rounds/0.2/DONE
	pass
	[ "$(cat rounds/current)" = 1.1 ]
	grep -qx 'participations=2' rounds/1.1/params
	pass
	[ -z "$(ls rounds/1.1/pub)" ]
	grep -q '1.1: sits out: this device took part 1 times, the most the pattern allows (at most 1 rounds, 1 apart)' \
	    clients/c0/log
	# A device asked again by a lying server (its update trained, then
	# the round redone) still refuses: fl-clip-noise keeps the record.
	run -1 fl-clip-noise --clip 1 --participation clients/c0/participation \
	    --participations 2 < rounds/0.2/model.flt
	assert_output --partial 'is not after this device'
}
