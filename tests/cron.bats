#!/usr/bin/env bats
# The cron deployment of examples/cron/, complete (issue 19): a device's
# data options and its own trainer (whose output is checked before it
# goes further), the budget checked before a round opens, and the
# accuracy log of a held-out set.  The rounds, crash safety and reruns
# are in tests/examples.bats, HTTPS in tests/https.bats.

load helper
load cron

# csv_setup: the five shards as CSV whose label column is named y (so
# fl-train needs -l y), their stats, the normalizer and class weights.
csv_setup() {
	local i
	fl-split --synthetic 250 --features 784 --classes 10 -n 5 \
	    --seed cron --csv -p data/c
	sed -i '1s/^label,/y,/' data/c?.csv
	mkdir -p stats
	for i in 0 1 2 3 4; do
		fl-stats -l y --classes 10 -o "stats/s$i.flt" "data/c$i.csv"
	done
	fl-stats --normalizer -o stats/norm.flt stats/s?.flt
	fl-stats --class-weights -o stats/cw.flt stats/s?.flt
}

# trainer NAME BODY: an executable trainer script NAME, called as
# NAME MODEL DATA -o OUT, whose body is BODY (sh).
trainer() {
	printf '#!/bin/sh\n# MODEL DATA -o OUT\n%s\n' "$2" > "$1"
	chmod +x "$1"
}

@test "cron: a device's data options and its own trainer; the trainer's output is checked" {
	not_under_sanitizers "whole rounds of cron scripts"
	cron_setup
	csv_setup
	export CRON_DATA=csv FL_LABEL=y FL_NORMALIZE=$PWD/stats/norm.flt \
	    FL_CLASS_WEIGHTS=$PWD/stats/cw.flt
	# (the masking phase waits for every client that shared)
	export FL_MASK_SECS=600
	pass_until rounds/0.1/shares.flt
	# The masking phase: the data options reach fl-train.
	FL_LABEL= run client 0
	assert_failure
	assert_output --partial "no column named 'label'"
	FL_NORMALIZE=nosuch.flt run client 0
	assert_failure
	assert_output --partial 'nosuch.flt'
	FL_TRAIN_OPTS='--momentum=0.5 --weight-decay=-1' run client 0
	assert_failure
	assert_output --partial "invalid --weight-decay '-1'"
	# c1's own trainers: what is not one update record of round 0 (and
	# of the model's architecture) goes no further.
	trainer model.sh 'cp "$1" "$4"'
	trainer two.sh 'fl-train -q -m "$1" -l y "$2" > u && cat u u > "$4"'
	trainer round7.sh 'fl-pack -m kind=update -m round=7 -m arch=logreg:784-10 -t fc1.b:f32=0,0,0,0,0,0,0,0,0,0 -o "$4"'
	trainer arch.sh 'fl-pack -m kind=update -m round=0 -m arch=mlp:784-5-10 -t w:f32=0 -o "$4"'
	trainer fails.sh 'echo "fails.sh: no GPU" >&2; exit 1'
	for t in model two round7 arch fails; do
		CRON_TRAINER=([1]="$PWD/$t.sh")
		run client 1
		assert_failure
		[ ! -e clients/c1/0.1.masked ] || fail "$t.sh: c1 masked"
		[ ! -e rounds/0.1/masked/c1.flt ] || fail "$t.sh: c1 sent"
		run find clients/c1 -name '*.tmp.*'
		assert_output ""
	done
	run grep -c "0.1: the trainer's output is not one update record of round 0" \
	    clients/c1/log
	assert_output 4
	grep -q '(arch=logreg:784-10 kind=model round=0)' clients/c1/log
	grep -q '(arch=logreg:784-10 kind=update round=0 arch=logreg:784-10 kind=update round=0)' \
	    clients/c1/log
	grep -q '(arch=logreg:784-10 kind=update round=7)' clients/c1/log
	grep -q '(arch=mlp:784-5-10 kind=update round=0)' clients/c1/log
	grep -q '0.1: FL_TRAINER failed' clients/c1/log
	# A trainer that does fit, called as TRAINER MODEL DATA -o OUT; the
	# others train with fl-train and the data options.
	trainer good.sh 'echo "$@" >> trainer.args
fl-train -q -m "$1" -l y --normalize stats/norm.flt -e 2 -o "$4" "$2"'
	CRON_TRAINER=([1]="$PWD/good.sh")
	until_done
	run cat trainer.args
	assert_output --regexp "^$PWD/rounds/0\.1/model\.flt data/c1\.csv -o clients/c1/0\.1\.update\.tmp\.[0-9]+$"
	run cat rounds/0.1/survivors
	assert_output "$(printf 'c%s\n' 0 1 2 3)"
	run fl-inspect -g clients rounds/0.1/sum.flt
	assert_output 4
	[ "$(fl-inspect -g round server/model.flt)" = 1 ]
	# The update before its noise is never left behind.
	run find clients -name '*.update*'
	assert_output ""
}

@test "cron: the budget is checked before a round opens: a budget of two rounds opens no third" {
	not_under_sanitizers "whole rounds of cron scripts"
	cron_setup
	# A round of this deployment (four noise shares planned, four
	# survivors) spends epsilon 5.37773; two 8.07941; three more than 9.
	export FL_BUDGET=9 FL_LAST_ROUND=5
	passes_until rounds/1.1/DONE
	grep -q '0.1: opened (clip 1; planned: epsilon 5.37773 ' server/log
	grep -q '1.1: opened (clip [0-9.e-]*; planned: epsilon 8.07941 ' server/log
	[ "$(fl-inspect -g round server/model.flt)" = 2 ]
	cmp server/model.flt rounds/model.flt
	run fl-account -l server/budget.ledger
	assert_line --regexp '^epsilon 8\.07941 .* releases 2$'
	# Round 2 is never opened: no attempt, no roster, no model for it;
	# the devices see the last round, done.
	run server
	assert_success
	assert_output ""
	run grep -c 'not opened' server/log
	assert_output 1
	grep -q "2.1: not opened: $PWD/server/budget.ledger: spend refused (dry run): epsilon would be '1[0-9.]*', over the budget '9'" \
	    server/log
	[ ! -e rounds/2.1 ]
	[ "$(cat rounds/current)" = 1.1 ]
	[ ! -e rounds/STOPPED ]
	# Every script again: nothing changes, the refusal is logged once.
	snapshot > before
	pass
	pass
	snapshot > after
	diff before after
	run grep -c 'not opened' server/log
	assert_output 1
	# A bigger budget: the round opens.
	FL_BUDGET=20 run server
	assert_success
	[ "$(cat rounds/current)" = 2.1 ]
	[ -e rounds/2.1/model.flt ]
	[ ! -e server/not-opened ]
}

@test "cron: each new model on a held-out set: one row a round in the TSV, once; its plot" {
	not_under_sanitizers "whole rounds of cron scripts"
	cron_setup
	fl-split --synthetic 200 --features 784 --classes 10 -n 1 \
	    --seed held-out -o held.flt
	# (round 0's keys phase waits for all five: the first pass is
	# slower, with the evaluation of round 0)
	export FL_LAST_ROUND=2 FL_KEYS_SECS=600
	# An evaluation that fails is logged once and stops nothing.
	FL_EVAL_DATA=nosuch.flt run server
	assert_success
	FL_EVAL_DATA=nosuch.flt run server
	assert_success
	[ "$(cat rounds/current)" = 0.1 ]
	run grep -c 'model of round 0: fl-eval failed: fl-eval: nosuch.flt' server/log
	assert_output 1
	[ ! -e server/eval.tsv ]
	export FL_EVAL_DATA=$PWD/held.flt
	passes_until rounds/0.1/roster.flt
	export FL_KEYS_SECS=3
	passes_until rounds/1.1/sum.flt
	# Killed after installing the model of round 2, before its row: the
	# next run writes it.
	FL_CRASH_AT=installed run server
	assert_equal "$status" 137
	[ -e rounds/1.1/DONE ]
	[ "$(fl-inspect -g round server/model.flt)" = 2 ]
	run cut -f 1 server/eval.tsv
	assert_output "$(printf 'round\n0\n1')"
	run server
	assert_success
	# round, accuracy, loss, epsilon, clients, dropouts: c4 dropped in
	# round 0 (in the roster, not summed), and was not in round 1's.
	run cut -f 1,4- server/eval.tsv
	assert_output "$(printf 'round\tepsilon\tclients\tdropouts\n0\t0\t0\t0\n1\t5.37773\t4\t1\n2\t8.07941\t4\t0')"
	run fl-eval --json -m server/model.flt held.flt
	acc=$(echo "$output" | sed -n 's/.*"accuracy":\([^,}]*\).*/\1/p')
	loss=$(echo "$output" | sed -n 's/.*"loss":\([^,}]*\).*/\1/p')
	run sed -n 4p server/eval.tsv
	assert_output --regexp "^2	$acc	$loss	"
	run grep -c 'model of round 2: accuracy' server/log
	assert_output 1
	# Reruns add nothing (once the clients forgot the round).
	pass
	snapshot > before
	pass
	pass
	snapshot > after
	diff before after
	run grep -c '^round' server/eval.tsv
	assert_output 1
	# The plot, by server.sh and by hand.
	command -v gnuplot > /dev/null || skip "gnuplot is not installed"
	grep -q '<svg' server/eval.svg
	run gnuplot -e "tsv='server/eval.tsv'; out='by-hand.svg'" \
	    "$CRON/plot.gp"
	assert_success
	grep -q 'epsilon spent' by-hand.svg
}

@test "cron: the scripts' default dropout and corrupt fractions are fl-mask's" {
	local opt var want f
	for opt in dropout corrupt; do
		# fl-mask --help: "--dropout=F ... may drop (0.1)".
		want=$(fl-mask --help | sed -n "/--$opt=F/,/)/p" |
		    sed -n 's/.*(\([0-9.]*\)).*/\1/p')
		[ -n "$want" ]
		var=$(echo "$opt" | tr a-z A-Z)
		for f in client.sh server.sh; do
			run -0 grep -c "^$var=\${FL_$var:-$want}\$" "$TOP/examples/cron/$f"
			assert_output 1
		done
	done
}
