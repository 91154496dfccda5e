#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
#
# The server of a cron deployment: run every minute, it advances the
# current round by at most one phase and exits.  See examples/cron/README
# for the round directory, the phases, the deadlines and crash safety.
#
#   FL_ROUNDS=/srv/fl/rounds FL_SERVER_DIR=/srv/fl/server server.sh
#
# The operator's enrolment, the signed list of the devices allowed, must
# be in FL_SERVER_DIR/enrolment.flt (README, "Setting up"); the server
# cannot make or change it.
#
# Environment (defaults in brackets):
#   FL_ROUNDS            the shared round directory (required)
#   FL_SERVER_DIR        the server's private state: enrolment.flt,
#                        model.flt, budget.ledger, lock, log
#                        [$FL_ROUNDS/../server]
#   FL_ARCH              the model made by the first run [logreg:784-10]
#   FL_EXPECT            clients expected each round [5]
#   FL_MIN_CLIENTS       fewer keys than this at the deadline: abort [3]
#   FL_DROPOUT, FL_CORRUPT  fractions of clients that may drop and that
#                        may collude with the server (fl-mask --make-roster
#                        --dropout, --corrupt); the devices must use the
#                        same [0.1, 0.05: fl-mask's]
#   FL_CLIP              the first round's clip bound (then adaptive) [1]
#   FL_NOISE             noise multiplier Z of the summed update [1]
#   FL_INDICATOR_NOISE   noise of the summed clip indicator, above Z [2]
#   FL_SHARES            noise shares planned (a low estimate of the
#                        survivors; a client plans for at most the
#                        roster's clients; a round with fewer survivors
#                        is aborted before its sum is unmasked, as it
#                        would carry less noise than planned; fl-account
#                        --dropout computes it) [FL_EXPECT x (1 - FL_DROPOUT)]
#   FL_BITS              ring bits [32]
#   FL_SAMPLE_RATE       the rate q at which clients are in a round [1]
#   FL_BUDGET, FL_DELTA  the privacy budget: epsilon at delta [10, 1e-5];
#                        a round whose planned release (FL_SHARES noise
#                        shares) would go over it is not opened
#   FL_SERVER_LR         server learning rate (FedAvg) [1]
#   FL_LAST_ROUND        stop once the model reaches this round [none]
#   FL_KEYS_SECS, FL_SHARE_SECS, FL_MASK_SECS, FL_CONFIRM_SECS,
#   FL_REVEAL_SECS       phase deadlines in seconds [600, 300, 1800, 300,
#                        300]
#   FL_UPLOADS           over HTTPS (README, "Over HTTPS"): the devices'
#                        uploads (start-nginx.sh -u), ID/R.A/KIND.flt,
#                        taken into R.A/KIND/ID.flt when their records
#                        are ID's [none: the devices write into
#                        FL_ROUNDS]
#   FL_FTRL              DP-FTRL instead of sampling (README, "Without
#                        sampling: DP-FTRL"): tree (Honaker's estimator)
#                        or banded; the devices add no noise, the server
#                        adds the tree's (fl-apply --ftrl) [none]
#   FL_FTRL_ROUNDS       DP-FTRL: the rounds T of the tree [FL_LAST_ROUND]
#   FL_PARTICIPATIONS, FL_SEPARATION  DP-FTRL: the pattern the accountant
#                        charges: a device in at most K rounds, B apart;
#                        the devices keep to it [1, 1]
#   FL_BANDS             FL_FTRL=banded: the strategy's bands [none]
#                        (with FL_FTRL, FL_NOISE is the tree's noise
#                        multiplier, by default the one that spends
#                        FL_BUDGET over the T rounds after the ledger,
#                        and FL_CLIP the fixed clip bound)
#   FL_EVAL_DATA         a held-out data set: each new model is
#                        evaluated on it (fl-eval) [none]
#   FL_EVAL_OPTS         more options for fl-eval, split at blanks, e.g.
#                        "-l y --normalize norm.flt" [none]
#   FL_EVAL_LOG          the evaluation log, a TSV: round, accuracy, loss,
#                        epsilon, clients, dropouts [FL_SERVER_DIR/eval.tsv]
#   FL_EVAL_PLOT         its plot, redrawn after each row if gnuplot is
#                        installed (plot.gp) [FL_EVAL_LOG as .svg]
#   FL_BIN               put first on PATH
# Exit status: 0 (also when another run holds the lock), 1 on an error
# (the next run retries).
set -eu -o pipefail

: "${FL_ROUNDS:?set FL_ROUNDS to the shared round directory}"
S=${FL_SERVER_DIR:-$FL_ROUNDS/../server}
ARCH=${FL_ARCH:-logreg:784-10}
EXPECT=${FL_EXPECT:-5}
MIN=${FL_MIN_CLIENTS:-3}
DROPOUT=${FL_DROPOUT:-0.1}
CORRUPT=${FL_CORRUPT:-0.05}
CLIP0=${FL_CLIP:-1}
NOISE=${FL_NOISE:-1}
INOISE=${FL_INDICATOR_NOISE:-2}
SHARES=${FL_SHARES:-$(awk -v n="$EXPECT" -v p="$DROPOUT" \
    'BEGIN { s = int(n * (1 - p)); print (s < 1 ? 1 : s) }')}
BITS=${FL_BITS:-32}
Q=${FL_SAMPLE_RATE:-1}
BUDGET=${FL_BUDGET:-10}
DELTA=${FL_DELTA:-1e-5}
LR=${FL_SERVER_LR:-1}
LAST=${FL_LAST_ROUND:-}
FTRL=${FL_FTRL:-}
ACCT=() QOPT=()
if [ -n "$FTRL" ]; then
	case $FTRL in
	tree) MECH=(--mechanism tree) ;;
	banded)
		: "${FL_BANDS:?FL_FTRL=banded: set FL_BANDS}"
		MECH=(--mechanism banded --bands "$FL_BANDS")
		;;
	*) echo "server.sh: FL_FTRL=$FTRL: tree or banded" >&2; exit 1 ;;
	esac
	T=${FL_FTRL_ROUNDS:-$LAST}
	: "${T:?FL_FTRL: set FL_FTRL_ROUNDS, the rounds of the tree}"
	PARTS=${FL_PARTICIPATIONS:-1}
	SEP=${FL_SEPARATION:-1}
	PATTERN=(-T "$T" --participations "$PARTS" --separation "$SEP")
	# The tree's releases compose into one Gaussian mechanism, whose
	# exact epsilon is the plan's.
	ACCT=(-a exact)
	QOPT=()
else
	QOPT=(-q "$Q")
fi
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"
mkdir -p "$FL_ROUNDS"
start "$S" server

# put SRC DEST: copy atomically (a temporary file beside DEST, renamed).
put() {
	cp "$1" "$2.tmp.$$"
	mv -f "$2.tmp.$$" "$2"
}
# write DEST: standard input to DEST, atomically.
write() {
	cat > "$1.tmp.$$"
	mv -f "$1.tmp.$$" "$1"
}
# age FILE: seconds since FILE was written (the phase it opened began).
age() {
	echo $(($(date +%s) - $(stat -c %Y "$1")))
}
# ids FILE: the client ids of the records of FILE, sorted.
ids() {
	fl-inspect "$1" | sed -n 's/^  client=//p' | LC_ALL=C sort
}
# threshold: the roster's t, the fewest shares that rebuild a secret.
threshold() {
	fl-inspect "$d/roster.flt" | sed -n 's/^  secagg\.t=//p'
}
# quorum: the fewest survivors a round can finish with (fl-mask's rule):
# t, and a majority of the roster's n clients counting its C corrupt
# ones twice, so that no two survivor lists can both be confirmed.
quorum() {
	fl-inspect "$d/roster.flt" | sed -n 's/^  secagg\.quorum=//p'
}
# enrolled: the ids of the attempt's enrolment, one a line (its id
# tensor holds them as rows of bytes, NUL-padded).
enrolled() {
	fl-inspect -d id "$d/enrolment.flt" | LC_ALL=C awk -F, '{ s = ""
		for (i = 1; i <= NF && $i != 0; i++) s = s sprintf("%c", $i)
		print s }'
}
# present DIR LIST: the ids of LIST (a file) with DIR/ID.flt, one a line.
present() {
	while read -r c; do
		[ ! -e "$1/$c.flt" ] || echo "$c"
	done < "$2"
}
# collect: over HTTPS, the devices' uploads of the attempt into it.  nginx
# let only the holder of ID's certificate write FL_UPLOADS/ID/R.A/KIND.flt;
# it is taken as R.A/KIND/ID.flt only if it is one record of KIND's kind
# whose client id is ID, else refused (a line in the log, once per
# upload).  Taken again when it changes (written after it was taken), as
# a device may rewrite its file in a shared directory; the phases read
# only what they expect.  Few processes, as a round of many devices
# would feel one per file per run more than the transport: the times
# tell what is new (no cmp of what was taken), one cp snapshots the new
# uploads (a new upload replaces the file, not the copy) and one
# fl-inspect reads them all (one at a time only if one is no record).
collect() {
	local f c k want got
	local stage=$d/.collect.tmp.$$ files=() checked=()
	# (no device writes into the round directory: the temporary files
	# there are a dead run's)
	rm -rf "$d"/*/.*.tmp.* "$d"/.collect.tmp.*
	for f in "$FL_UPLOADS"/*/"$id"/*.flt; do
		[ -f "$f" ] || continue
		c=${f#"$FL_UPLOADS"/}
		c=${c%%/*}
		k=${f##*/}
		k=${k%.flt}
		case $k in
		pub | shares | masked | confirm | reveal) ;;
		*) continue ;;
		esac
		if [ -e "$d/$k/$c.flt" ] && ! [ "$f" -nt "$d/$k/$c.flt" ]; then
			continue
		fi
		files+=("$c/$id/$k.flt")
	done
	[ "${#files[@]}" -gt 0 ] || return 0
	case $stage in
	/*) ;;
	*) stage=$PWD/$stage ;;
	esac
	mkdir "$stage"
	(cd "$FL_UPLOADS" && cp --parents -t "$stage" -- "${files[@]}")
	# One fl-inspect: each file's client and kind lines, joined.
	declare -A rec=()
	if fl-inspect "${files[@]/#/$stage/}" > "$stage.out" 2> /dev/null; then
		while IFS=$'\t' read -r f got; do
			rec[$f]=$got
		done < <(awk -v p="$stage/" '
		    /^[^ ].*: record [0-9]+: / { f = $0; sub(/: record [0-9]+: .*/, "", f)
			if (index(f, p) == 1) f = substr(f, length(p) + 1)
			if (!(f in g)) { o[++n] = f; g[f] = "" } next }
		    /^  (client|kind)=/ { sub(/^  /, ""); g[f] = g[f] $0 " " }
		    END { for (i = 1; i <= n; i++) printf "%s\t%s\n", o[i], g[o[i]] }' \
		    "$stage.out")
	else
		for f in "${files[@]}"; do
			rec[$f]=$(fl-inspect "$stage/$f" 2> /dev/null |
			    sed -n 's/^  \(client\|kind\)=/\1=/p' | tr '\n' ' ') ||
			    rec[$f]="not a record"
		done
	fi
	for f in "${files[@]}"; do
		c=${f%%/*}
		k=${f##*/}
		k=${k%.flt}
		case $k in
		pub) want=secagg-public ;;
		shares) want=secagg-shares ;;
		masked) want=update ;;
		confirm) want=secagg-confirm ;;
		reveal) want=secagg-reveal ;;
		esac
		got=${rec[$f]:-not a record}
		if [ "$got" = "client=$c kind=$want " ]; then
			# (written again but the same: the copy is only
			# renewed, so that it is newer than the upload)
			if [ -e "$d/$k/$c.flt" ] && cmp -s "$stage/$f" "$d/$k/$c.flt"; then
				mv -f "$stage/$f" "$d/$k/$c.flt"
				continue
			fi
			mv -f "$stage/$f" "$d/$k/$c.flt"
			log "$id: took $c's $k"
		else
			got="$id: refused $f: not one $want record of client $c (${got% })"
			checked+=("$got $(cksum < "$stage/$f")")
		fi
	done
	rm -rf "$stage" "$stage.out"
	[ "${#checked[@]}" -gt 0 ] || return 0
	touch "$S/refused"
	for got in "${checked[@]}"; do
		if ! grep -qxF -- "$got" "$S/refused"; then
			echo "$got" >> "$S/refused"
			log "${got% * *}"
		fi
	done
}
# anchor: the option that makes fl-account refuse a ledger cut or reset
# since the model anchored its head (fl-apply --ledger), if it did.
anchor() {
	if fl-inspect -g ledger.releases "$S/model.flt" > /dev/null 2>&1; then
		echo "--anchor=$S/model.flt"
	fi
}
# planned CLIP OUT: the release round R would make, as a record for
# fl-account: the dp.* metadata that the devices' steps (fl-clip-noise,
# fl-quantize, fl-clip-noise with the attempt's params) give an update
# of the model, and the sum of FL_SHARES noise shares that the roster of
# FL_EXPECT clients, C of them corrupt (fl-mask's C: ceil(FL_CORRUPT
# FL_EXPECT), at most FL_EXPECT - 1), would carry.
planned() {
	local meta
	meta=$(fl-clip-noise --clip "$1" --indicator < "$S/model.flt" |
	    fl-quantize --ring "$BITS" --clients "$EXPECT" --noise "$NOISE" |
	    fl-clip-noise --noise "$NOISE" --shares "$SHARES" \
		-m discrete-gaussian --indicator-noise "$INOISE" |
	    fl-inspect - | sed -n 's/^  \(dp\.[^=]*=.*\)$/-m\n\1/p')
	mapfile -t meta <<< "$meta"
	fl-pack "${meta[@]}" -m kind=aggregate -m round="$R" \
	    -m clients="$SHARES" -m secagg.corrupt="$(awk -v f="$CORRUPT" \
		-v n="$EXPECT" 'BEGIN { c = f * n - 1e-9; i = int(c)
		if (i < c) i++; if (i < 0) i = 0; if (i > n - 1) i = n - 1
		print i }')" -t planned:u32=0 -o "$2"
}
# tree_noise: with FL_FTRL, the tree's noise multiplier: the tree's own
# once it exists, else FL_NOISE, else the one that spends FL_BUDGET
# over the T rounds after the ledger's spend (the same answer on every
# run until the tree starts: the ledger does not change meanwhile).
tree_noise() {
	if [ -e "$S/tree.flt" ]; then
		fl-inspect -g ftrl.noise "$S/tree.flt"
	elif [ -n "${FL_NOISE:-}" ]; then
		echo "$FL_NOISE"
	else
		fl-account "${MECH[@]}" "${PATTERN[@]}" "${ACCT[@]}" \
		    -l "$S/budget.ledger" --target-epsilon "$BUDGET" -d "$DELTA" |
		    awk '{ for (i = 1; i < NF; i++)
			if ($i == "noise") print $(i + 1) }'
	fi
}
# planned_tree OUT: with FL_FTRL, the release of the tree's last round as
# fl-apply --ftrl would write it (its ftrl.* metadata): charged after the
# ledger's rows of the same tree, it is the whole rest of the plan, so a
# round is opened only if the tree can finish within the budget.  A
# tree not started yet gets an id of its own (no row of it exists).
planned_tree() {
	local tree z bands=()
	if [ -e "$S/tree.flt" ]; then
		tree=$(fl-inspect -g ftrl.tree "$S/tree.flt")
	else
		tree=$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')
	fi
	z=$(tree_noise)
	[ "$FTRL" = tree ] ||
	    bands=(-m ftrl.mechanism=banded -m ftrl.rounds="$T" \
		-m ftrl.bands="$FL_BANDS")
	fl-pack -m kind=model -m round=$((R + 1)) -m ftrl.tree="$tree" \
	    -m ftrl.round="$T" -m ftrl.participations="$PARTS" \
	    -m ftrl.separation="$SEP" -m ftrl.noise="$z" \
	    -m ftrl.noise-effective="$z" -m ftrl.clip="$CLIP0" "${bands[@]}" \
	    -t planned:u32=0 -o "$1"
}
# evaluate: with FL_EVAL_DATA, the server's model on the held-out set, a
# row in FL_EVAL_LOG once per model (a rerun finds the row and does
# nothing): the model's round, accuracy, loss, and of the round that
# made it the ledger's epsilon after it, the clients summed and the
# dropouts (the roster's clients that were not); then the plot.  A
# failure is logged (once) and does not stop the rounds.
evaluate() {
	local tsv=${FL_EVAL_LOG:-$S/eval.tsv} r out acc loss eps=0 sum=0 drop=0
	local prev n
	[ -n "${FL_EVAL_DATA:-}" ] || return 0
	r=$(fl-inspect -g round "$S/model.flt")
	if [ -e "$tsv" ] && awk -F '\t' -v r="$r" 'NR > 1 && $1 == r { f = 1 }
	    END { exit !f }' "$tsv"; then
		return 0
	fi
	# shellcheck disable=SC2086 # options, split at blanks
	if ! out=$(fl-eval --json ${FL_EVAL_OPTS:-} -m "$S/model.flt" \
	    "$FL_EVAL_DATA" 2> "$S/eval.tmp.$$"); then
		out="model of round $r: fl-eval failed: $(head -n 1 "$S/eval.tmp.$$")"
		if [ "$(cat "$S/eval-failed" 2> /dev/null)" != "$out" ]; then
			echo "$out" | write "$S/eval-failed"
			log "$out"
		fi
		return 0
	fi
	rm -f "$S/eval-failed"
	acc=$(echo "$out" | sed -n 's/.*"accuracy":\([^,}]*\).*/\1/p')
	loss=$(echo "$out" | sed -n 's/.*"loss":\([^,}]*\).*/\1/p')
	if [ "$r" -gt 0 ]; then
		prev=$(find "$FL_ROUNDS" -maxdepth 2 \
		    -path "*/$((r - 1)).*/DONE" | head -n 1)
		prev=${prev%/DONE}
		sum=$(fl-inspect -g clients "$prev/sum.flt")
		n=$(fl-inspect "$prev/roster.flt" |
		    sed -n 's/^  secagg\.n=//p')
		drop=$((n - sum))
		# (the last row up to that round: a DP-FTRL round that
		# completes no node of the tree adds no row)
		eps=$(fl-account -l "$S/budget.ledger" "${ACCT[@]}" |
		    awk -v r=$((r - 1)) '$1 ~ /^[0-9]+$/ && $2 <= r { e = $NF }
			END { print e }')
	fi
	{
		if [ -s "$tsv" ]; then
			cat "$tsv"
		else
			printf 'round\taccuracy\tloss\tepsilon\tclients\tdropouts\n'
		fi
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$acc" "$loss" "$eps" \
		    "$sum" "$drop"
	} | write "$tsv"
	log "model of round $r: accuracy $acc, loss $loss"
	# The plot (gnuplot, if installed): FL_EVAL_PLOT, the TSV as SVG.
	local plot=${FL_EVAL_PLOT:-${tsv%.tsv}.svg}
	if command -v gnuplot > /dev/null; then
		if gnuplot -e "tsv='$tsv'; out='$plot.tmp.$$'" \
		    "$(dirname "$0")/plot.gp" 2> "$S/eval.tmp.$$"; then
			mv -f "$plot.tmp.$$" "$plot"
		else
			rm -f "$plot.tmp.$$"
			log "model of round $r: gnuplot failed:" \
			    "$(grep -v '^Warning' "$S/eval.tmp.$$" | head -n 1)"
		fi
	fi
}
# install: the attempt's new model becomes the server's and the
# devices'; with DP-FTRL its tree state first (a crash between the two
# leaves the attempt DONE and the old model: the next run installs
# again, the tree's state already moved).
install() {
	[ ! -e "$S/tree.$id.flt" ] || mv -f "$S/tree.$id.flt" "$S/tree.flt"
	put "$d/next.flt" "$S/model.flt"
	put "$d/next.flt" "$FL_ROUNDS/model.flt"
	rm -f "$S/next.$id.flt"
}
# finish: the attempt's next.flt made (and charged): DONE, then the
# install (a run that dies in between finds DONE and installs), then
# the evaluation.
finish() {
	: > "$d/DONE"
	crashpoint marked-done
	install
	log "$id: done: model of round $(fl-inspect -g round "$S/model.flt")"
	crashpoint installed
	evaluate
}
# charge RELEASE: the release of round R charged to the ledger, once
# (the ledger is keyed by the model's round: a run that died after
# charging does not charge again).  Over the budget (exit 3), the attempt
# is aborted, what it made is dropped and STOPPED written.
charge() {
	local st=0 anchor
	if fl-account -l "$S/budget.ledger" "${ACCT[@]}" 2> /dev/null |
	    awk -v r="$R" '$1 ~ /^[0-9]+$/ && $2 == r { f = 1 }
		END { exit !f }'; then
		return 0
	fi
	# The model anchors the ledger's head (fl-apply --ledger): a ledger
	# cut or reset since is refused, not read as unspent.
	anchor=$(anchor)
	fl-account -l "$S/budget.ledger" -s -B "$BUDGET" -d "$DELTA" \
	    "${ACCT[@]}" ${anchor:+"$anchor"} "${QOPT[@]}" "$1" \
	    > "$d/.spend.tmp.$$" 2>> "$S/log" || st=$?
	if [ "$st" -eq 3 ]; then
		rm -f "$S/next.$id.flt" "$S/tree.$id.flt"
		abort "the privacy budget $BUDGET is spent"
		echo "budget" | write "$FL_ROUNDS/STOPPED"
		exit 0
	fi
	[ "$st" -eq 0 ] || exit 1
	log "$id: charged: $(cat "$d/.spend.tmp.$$")"
}
abort() {
	echo "$*" | write "$d/ABORTED"
	log "$id aborted: $*"
}
# closes N WANT SINCE SECS: a phase can close: N of the WANT inputs are
# in, or SECS seconds have passed since SINCE was written.
closes() {
	[ "$1" -ge "$2" ] || [ "$(age "$3")" -ge "$4" ]
}

# Leftovers of a run that died while writing (the files in progress are
# .tmp.PID, and the programs' own .fl-tmp.XXXXXX; no other run is going,
# we hold the lock).
find "$S" "$FL_ROUNDS" -maxdepth 2 \( -name '*.tmp.*' -o -name '.fl-tmp.*' \) \
    -exec rm -rf {} +
[ ! -e "$FL_ROUNDS/STOPPED" ] || exit 0

# The server's model is the truth: its round R names the round in progress.
if [ ! -e "$S/model.flt" ]; then
	fl-init -a "$ARCH" -o "$S/model.flt"
	log "new model $ARCH"
fi
R=$(fl-inspect -g round "$S/model.flt")

# The round's attempts are R.1, R.2, ... (a new one after an abort).
a=0
while [ -e "$FL_ROUNDS/$R.$((a + 1))" ]; do
	a=$((a + 1))
done
d=$FL_ROUNDS/$R.$a
id=$R.$a
# This run's lists of the phase in progress go with it.
trap 'rm -rf "$d"/.*.tmp.$$ "$S"/*.tmp.$$' EXIT

# A DONE round whose model is not installed yet: install it (the crash
# fell between the two).
if [ "$a" -gt 0 ] && [ -e "$d/DONE" ]; then
	install
	log "$id: installed the model of round $((R + 1))"
	evaluate
	exit 0
fi
# The model on the held-out set, if a run died before its row.
evaluate

# Open a new attempt when there is none, or the last one aborted.
if [ "$a" -eq 0 ] || [ -e "$d/ABORTED" ]; then
	if [ -n "$LAST" ] && [ "$R" -ge "$LAST" ]; then
		exit 0
	fi
	if [ ! -r "$S/enrolment.flt" ]; then
		echo "server.sh: no $S/enrolment.flt: the operator's" \
		    "enrolment (README, \"Setting up\")" >&2
		exit 1
	fi
	if [ -n "$FTRL" ] && [ -e "$S/tree.flt" ] &&
	    [ "$(fl-inspect -g ftrl.done "$S/tree.flt")" -ge \
	    "$(fl-inspect -g ftrl.rounds "$S/tree.flt")" ]; then
		got="$R.$((a + 1)): not opened: the tree's rounds are done"
		if [ "$(cat "$S/not-opened" 2> /dev/null)" != "$got" ]; then
			echo "$got" | write "$S/not-opened"
			log "$got"
		fi
		exit 0
	fi
	clip=$CLIP0
	if [ "$R" -gt 0 ] && [ -z "$FTRL" ]; then
		# The clip bound adapted by the last completed round.
		prev=$(find "$FL_ROUNDS" -maxdepth 2 -path "*/$((R - 1)).*/DONE" |
		    head -n 1)
		if [ -n "$prev" ]; then
			clip=$(fl-inspect -g dp.clip-next "${prev%/DONE}/mean.flt")
		fi
	fi
	# The budget, before anything of the round happens: a dry-run
	# spend of the planned release.  A round that could not be paid
	# for is not opened (one line in the log, until that changes: a
	# bigger FL_BUDGET, other params).
	if [ -n "$FTRL" ]; then
		planned_tree "$S/planned.tmp.$$"
	else
		planned "$clip" "$S/planned.tmp.$$"
	fi
	anchor=$(anchor)
	st=0
	fl-account -l "$S/budget.ledger" -s -n -B "$BUDGET" -d "$DELTA" \
	    "${ACCT[@]}" ${anchor:+"$anchor"} "${QOPT[@]}" \
	    "$S/planned.tmp.$$" > "$S/spend.tmp.$$" 2> "$S/refusal.tmp.$$" ||
	    st=$?
	rm -f "$S/planned.tmp.$$"
	if [ "$st" -eq 3 ]; then
		got="$R.$((a + 1)): not opened: $(sed -n '$s/^fl-account: //p' \
		    "$S/refusal.tmp.$$")"
		if [ "$(cat "$S/not-opened" 2> /dev/null)" != "$got" ]; then
			echo "$got" | write "$S/not-opened"
			log "$got"
		fi
		exit 0
	fi
	if [ "$st" -ne 0 ]; then
		cat "$S/refusal.tmp.$$" >> "$S/log"
		cat "$S/refusal.tmp.$$" >&2
		exit 1
	fi
	rm -f "$S/not-opened"
	a=$((a + 1))
	id=$R.$a
	d=$FL_ROUNDS/$id
	t=$FL_ROUNDS/.$id.tmp.$$
	mkdir -p "$t/pub" "$t/shares" "$t/masked" "$t/confirm" "$t/reveal"
	cp "$S/model.flt" "$t/model.flt"
	# The enrolment in force for the whole attempt (the operator may
	# enrol more devices meanwhile); the clients check the roster
	# against it, and its signature against the operator's key.
	cp "$S/enrolment.flt" "$t/enrolment.flt"
	if [ -n "$FTRL" ]; then
		# The devices clip and keep to the pattern; the noise is
		# the server's (a device must agree to that: FL_FTRL on it).
		cat > "$t/params" <<EOF
round=$R
mechanism=dp-ftrl
clip=$clip
clients=$EXPECT
participations=$PARTS
separation=$SEP
bits=$BITS
EOF
	else
		cat > "$t/params" <<EOF
round=$R
clip=$clip
clients=$EXPECT
shares=$SHARES
noise=$NOISE
indicator-noise=$INOISE
bits=$BITS
EOF
	fi
	chmod -R a+rX "$t"
	mv "$t" "$d"
	echo "$id" | write "$FL_ROUNDS/current"
	log "$id: opened (clip $clip; planned: $(cat "$S/spend.tmp.$$"))"
	exit 0
fi

# The attempt in progress: its phase is the last file the server wrote.
[ -z "${FL_UPLOADS:-}" ] || collect
if [ ! -e "$d/roster.flt" ]; then
	# Keys: close when every expected client sent its public keys, or
	# at the deadline.  Only well-formed keys of this round from
	# enrolled clients count (fl-mask --make-roster refuses the rest).
	enrolled > "$d/.enrolled.tmp.$$"
	: > "$d/.keys.tmp.$$"
	for f in "$d"/pub/*.flt; do
		[ -e "$f" ] || continue
		c=${f##*/}
		c=${c%.flt}
		if grep -qxF -- "$c" "$d/.enrolled.tmp.$$" &&
		    [ "$(fl-inspect -g round "$f" 2> /dev/null)" = "$R" ] &&
		    [ "$(fl-inspect -g client "$f" 2> /dev/null)" = "$c" ]; then
			echo "$f" >> "$d/.keys.tmp.$$"
		fi
	done
	n=$(wc -l < "$d/.keys.tmp.$$")
	closes "$n" "$EXPECT" "$d/model.flt" "${FL_KEYS_SECS:-600}" || exit 0
	if [ "$n" -lt "$MIN" ]; then
		abort "keys: $n clients, fewer than $MIN"
		exit 0
	fi
	# A key file whose signature does not verify fails the roster:
	# abort, and try again with fresh keys.
	if ! xargs cat < "$d/.keys.tmp.$$" |
	    fl-mask --make-roster -e "$d/enrolment.flt" --dropout "$DROPOUT" \
		--corrupt "$CORRUPT" -o "$d/roster.flt" 2>> "$S/log"; then
		abort "keys: fl-mask --make-roster refused them (see the log)"
		exit 0
	fi
	log "$id: roster of $n clients"
elif [ ! -e "$d/shares.flt" ]; then
	# Shares: from every client of the roster, or at the deadline from
	# at least the threshold.
	ids "$d/roster.flt" > "$d/.in.tmp.$$"
	present "$d/shares" "$d/.in.tmp.$$" > "$d/.got.tmp.$$"
	n=$(wc -l < "$d/.got.tmp.$$")
	closes "$n" "$(wc -l < "$d/.in.tmp.$$")" "$d/roster.flt" \
	    "${FL_SHARE_SECS:-300}" || exit 0
	if [ "$n" -lt "$(threshold)" ]; then
		abort "shares: $n clients, below the threshold $(threshold)"
		exit 0
	fi
	sed "s|.*|$d/shares/&.flt|" "$d/.got.tmp.$$" | xargs cat |
	    write "$d/shares.flt"
	log "$id: shares of $n clients"
elif [ ! -e "$d/survivors" ]; then
	# Masking: the survivors are the clients that shared and whose
	# masked update arrived by the deadline (or all of them).  Fewer
	# than the quorum could not confirm a list: abort now.
	ids "$d/shares.flt" > "$d/.in.tmp.$$"
	present "$d/masked" "$d/.in.tmp.$$" > "$d/.got.tmp.$$"
	n=$(wc -l < "$d/.got.tmp.$$")
	closes "$n" "$(wc -l < "$d/.in.tmp.$$")" "$d/shares.flt" \
	    "${FL_MASK_SECS:-1800}" || exit 0
	if [ "$n" -lt "$(quorum)" ]; then
		abort "masking: $n survivors, below the quorum $(quorum)"
		exit 0
	fi
	# Each client added 1/SHARES of the noise: fewer survivors would
	# sum less noise than the plan (and the budget check) assumed.
	if [ "$n" -lt "$SHARES" ]; then
		abort "masking: $n survivors, fewer than the $SHARES noise" \
		    "shares planned"
		exit 0
	fi
	write "$d/survivors" < "$d/.got.tmp.$$"
	log "$id: $n survivors"
elif [ ! -e "$d/confirms.flt" ]; then
	# The consistency round: every survivor's signed confirmation of
	# the list, or at the deadline whatever came; each client checks
	# them and reveals only if a quorum confirmed its list, so fewer
	# abort now.
	present "$d/confirm" "$d/survivors" > "$d/.got.tmp.$$"
	n=$(wc -l < "$d/.got.tmp.$$")
	closes "$n" "$(wc -l < "$d/survivors")" "$d/survivors" \
	    "${FL_CONFIRM_SECS:-300}" || exit 0
	if [ "$n" -lt "$(quorum)" ]; then
		abort "confirming: $n confirmations, below the quorum $(quorum)"
		exit 0
	fi
	sed "s|.*|$d/confirm/&.flt|" "$d/.got.tmp.$$" | xargs cat |
	    write "$d/confirms.flt"
	log "$id: $n confirmations"
elif [ ! -e "$d/sum.flt" ]; then
	# The unmask request: the answer of every client whose
	# confirmation went out, or at the deadline whatever came;
	# fl-aggregate says whether that is enough (it checks each share
	# against the commitments in shares.flt, and names a bad one).
	ids "$d/confirms.flt" > "$d/.in.tmp.$$"
	present "$d/reveal" "$d/.in.tmp.$$" > "$d/.got.tmp.$$"
	n=$(wc -l < "$d/.got.tmp.$$")
	closes "$n" "$(wc -l < "$d/.in.tmp.$$")" "$d/confirms.flt" \
	    "${FL_REVEAL_SECS:-300}" || exit 0
	sed "s|.*|$d/reveal/&.flt|" "$d/.got.tmp.$$" | xargs -r cat \
	    > "$d/.reveals.tmp.$$"
	if ! sed "s|.*|$d/masked/&.flt|" "$d/survivors" |
	    xargs fl-aggregate --roster "$d/roster.flt" \
		--shares "$d/shares.flt" --reveals "$d/.reveals.tmp.$$" \
		-o "$d/sum.flt" 2>> "$S/log"; then
		abort "unmasking failed with $n reveals (see the log)"
		exit 0
	fi
	mv -f "$d/.reveals.tmp.$$" "$d/reveals.flt"
	log "$id: unmasked the sum of $(fl-inspect -g clients "$d/sum.flt")"
elif [ -n "$FTRL" ]; then
	# Release with DP-FTRL: the tree's noise on the decoded sum
	# (fl-apply --ftrl), into the server's own directory; the new model
	# is the release, charged to the ledger before it goes into the
	# round directory.  The tree's state of this attempt is a copy, the
	# installed one stays the last round's until the install: a run
	# that dies before the model is made starts again from it, and the
	# noise, addressed by the tree's secret and node, is the same (a
	# tree not started yet gets a new secret: nothing of the dead run's
	# was released).
	if [ ! -e "$d/next.flt" ]; then
		# fl-apply writes the model, then the tree's state: a model
		# whose state is not there (a run that died in between) is
		# made again.
		if [ -e "$S/next.$id.flt" ] &&
		    [ "$(fl-inspect -g ftrl.done "$S/tree.$id.flt" 2> /dev/null)" != \
		    "$(fl-inspect -g ftrl.round "$S/next.$id.flt")" ]; then
			rm -f "$S/next.$id.flt"
		fi
		if [ ! -e "$S/next.$id.flt" ]; then
			rm -f "$S/tree.$id.flt"
			init=()
			if [ -e "$S/tree.flt" ]; then
				cp "$S/tree.flt" "$S/tree.$id.flt"
			else
				init=(--ftrl-init --noise "$(tree_noise)" \
				    --clip "$CLIP0" --rounds "$T" \
				    --participations "$PARTS" \
				    --separation "$SEP" "${MECH[@]}")
				[ "$FTRL" = banded ] ||
				    init+=(--estimator honaker)
			fi
			# (the mean over the planned clients, a public number;
			# the model anchors the ledger's head as it was before
			# this round's row, none before the first)
			ledger=()
			[ ! -e "$S/budget.ledger" ] ||
			    ledger=(--ledger "$S/budget.ledger")
			fl-quantize -d "$d/sum.flt" |
			    fl-apply -m "$S/model.flt" --ftrl "$S/tree.$id.flt" \
				"${init[@]}" --server-lr "$(awk -v l="$LR" \
				-v n="$EXPECT" 'BEGIN { printf "%.10g", l / n }')" \
				"${ledger[@]}" -o "$S/next.$id.flt"
		fi
		crashpoint applied
		# (a round that completes no node of the tree adds no row:
		# charging it again adds none either)
		charge "$S/next.$id.flt"
		crashpoint charged
		put "$S/next.$id.flt" "$d/next.flt"
	fi
	finish
else
	# Release: the ledger is the gate.  The round is charged once (the
	# ledger is keyed by the model's round R), before the sum is used;
	# a spend over the budget stops the training.
	charge "$d/sum.flt"
	crashpoint charged
	# Decode, adapt the clip (noise from the OS: made once, kept), apply.
	if [ ! -e "$d/mean.flt" ]; then
		fl-quantize -d --mean "$d/sum.flt" |
		    fl-clip-noise --adapt --indicator-noise "$INOISE" \
			-o "$d/mean.flt"
	fi
	crashpoint decoded
	if [ ! -e "$d/next.flt" ]; then
		fl-apply -m "$S/model.flt" --server-lr "$LR" \
		    --ledger "$S/budget.ledger" -o "$d/next.flt" "$d/mean.flt"
	fi
	crashpoint applied
	finish
fi
