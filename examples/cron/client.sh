#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
#
# A client (device) of a cron deployment: run every minute, it does at
# most one step of the current round, when the server's input for it is
# there, and exits.  See examples/cron/README for the round directory, the
# phases and crash safety.
#
#   FL_ROUNDS=/srv/fl/rounds FL_CLIENT=c1 FL_DATA=~/data.flt client.sh
#   FL_SERVER_URL=https://fl.example.org:8443/ FL_CLIENT=c1 \
#       FL_DATA=~/data.flt client.sh                  (over HTTPS)
#
# Once, before the first run (README, "Setting up"): the device makes its
# long-term identity, $FL_CLIENT_DIR/identity (0600), trusting only the
# operator's public identity, and the operator enrols it:
#
#   mkdir -p -m 700 "$FL_CLIENT_DIR"
#   fl-mask --make-identity --client c1 -i "$FL_CLIENT_DIR/identity" \
#       --operator op.pub -o c1.idpub        # c1.idpub goes to the operator
#
# Environment (defaults in brackets):
#   FL_ROUNDS      the shared round directory (required, unless
#                  FL_SERVER_URL is set)
#   FL_SERVER_URL  over HTTPS (README, "Over HTTPS"): the server's nginx;
#                  the server's files are fetched into FL_CLIENT_DIR/rounds
#                  and the messages PUT into upload/FL_CLIENT/
#   FL_CA, FL_CERT, FL_KEY       over HTTPS: the CA's certificate, this
#                  device's certificate and key (make-ca.sh)
#                  [FL_CLIENT_DIR/ca.crt, client.crt, client.key]
#   FL_CLIENT      this client's id, [A-Za-z0-9._-] (required)
#   FL_DATA        the local training data: CSV, IDX or FLT (required)
#   FL_CLIENT_DIR  private state: identity, key files, lock, log
#                  [${XDG_STATE_HOME:-~/.local/state}/fl/$FL_CLIENT]
#   FL_EPOCHS, FL_BATCH, FL_LR   local training [1, 32, 0.1]
#   FL_LABEL       the CSV label column, a header name or a number from
#                  1 (fl-train -l) [fl-train's: 'label', else the first]
#   FL_NORMALIZE   a normalizer record (fl-stats --normalizer) to
#                  standardize the features with [none]
#   FL_CLASS_WEIGHTS  a class-weights record (fl-stats --class-weights)
#                  [none]
#   FL_TRAIN_OPTS  more options for fl-train, split at blanks (no
#                  quoting), e.g. "--momentum=0.9 --prox-mu=0.01" [none]
#   FL_TRAINER     instead of fl-train, a command of the device's own,
#                  split at blanks, run as
#                      $FL_TRAINER MODEL.flt DATA -o UPDATE.flt
#                  that reads the model record and writes the update
#                  record (the trained weights minus the model's, with
#                  weight = its examples; e.g. examples/pytorch/train.py).
#                  The data options above are fl-train's: a trainer takes
#                  its own.  Its output must be one record of kind
#                  update of the model's round (and architecture), else
#                  nothing is sent and the run fails [none: fl-train]
#   FL_MIN_CLIENTS this device's policy: refuse a roster of fewer
#                  clients [3]
#   FL_DROPOUT, FL_CORRUPT       this device's policy: the roster's graph
#                  and threshold must be those fl-mask derives from these
#                  fractions, as the server's must [0.1, 0.05: fl-mask's]
#   FL_FTRL        set (to anything) to take part in DP-FTRL rounds
#                  (params mechanism=dp-ftrl): the device adds no noise,
#                  the server adds the tree's to the sum, which secure
#                  aggregation still keeps this device's update out of.
#                  Without it the device sits such rounds out [unset]
#   FL_PARTICIPATIONS, FL_SEPARATION  this device's policy for DP-FTRL:
#                  at most K rounds, B apart, and never more often than
#                  the round's params declare (the pattern the server's
#                  accountant charged); kept in FL_CLIENT_DIR/participation
#                  (fl-clip-noise --participation) [1, 1]
#   FL_BIN         put first on PATH
# The privacy parameters (clip, noise, shares, ring) come from the round's
# params file, written by the server; the secure-aggregation policy is the
# device's own, so that a server cannot weaken it.  Exit status: 0 (also
# when another run holds the lock), 1 on an error (the next run retries).
set -eu -o pipefail

: "${FL_CLIENT:?set FL_CLIENT to the id of this client}"
: "${FL_DATA:?set FL_DATA to the local training data}"
ID=$FL_CLIENT
C=${FL_CLIENT_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/fl/$ID}
URL=${FL_SERVER_URL:-}
if [ -n "$URL" ]; then
	# The server's files of the current attempt, as fetched so far.
	FL_ROUNDS=$C/rounds
	URL=${URL%/}/
	for f in "${FL_CA:-$C/ca.crt}" "${FL_CERT:-$C/client.crt}" \
	    "${FL_KEY:-$C/client.key}"; do
		if [ ! -r "$f" ]; then
			echo "client.sh: no $f: the device's certificate and" \
			    "key, and the CA's certificate (README, \"Over HTTPS\")" >&2
			exit 1
		fi
	done
else
	: "${FL_ROUNDS:?set FL_ROUNDS to the shared round directory, or FL_SERVER_URL}"
fi
case $ID in
'' | *[!A-Za-z0-9._-]*) echo "client.sh: bad FL_CLIENT '$ID'" >&2; exit 1 ;;
esac
MINC=${FL_MIN_CLIENTS:-3}
DROPOUT=${FL_DROPOUT:-0.1}
CORRUPT=${FL_CORRUPT:-0.05}
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"
start "$C" "$ID"
IDENTITY=$C/identity
if [ ! -r "$IDENTITY" ]; then
	echo "client.sh: no identity $IDENTITY: make it once (README," \
	    "\"Setting up\")" >&2
	exit 1
fi

# curl ARGS...: curl with this device's certificate, trusting only the
# CA (ARGS has -w '%{http_code}' to print the HTTP status).
https() {
	curl -sS --cacert "${FL_CA:-$C/ca.crt}" --cert "${FL_CERT:-$C/client.crt}" \
	    --key "${FL_KEY:-$C/client.key}" "$@"
}
# fetch NAME...: the server's NAMEs (relative to the round directory)
# into FL_ROUNDS/NAME, each whole, if it is there (and not rewritten if
# the same), all over one connection (one curl, one TLS handshake); fails
# if the server cannot be asked.  (Few processes: on a device, each costs
# about what a request does.  What is not kept is left for the exit's
# rm of this run's temporary files.)
fetch() {
	local i=0 st args=() sts a b
	for f in "$@"; do
		args+=(-o "$C/fetch.$i.tmp.$$" "$URL$f")
		i=$((i + 1))
	done
	https "${args[@]}" -w '%{http_code}\n' > "$C/status.tmp.$$" || :
	mapfile -t sts < "$C/status.tmp.$$"
	i=0
	for f in "$@"; do
		st=${sts[$i]:-}
		[ "$st" != 000 ] || st=
		case $st in
		200)
			a='' b=x
			if [ -e "$FL_ROUNDS/$f" ]; then
				# (only current, a line of text, is fetched
				# again while there)
				IFS= read -r -d '' a < "$C/fetch.$i.tmp.$$" || :
				IFS= read -r -d '' b < "$FL_ROUNDS/$f" || :
			fi
			[ "$a" = "$b" ] ||
			    mv -f "$C/fetch.$i.tmp.$$" "$FL_ROUNDS/$f"
			;;
		404) ;;
		*)
			log "GET $URL$f: ${st:-no answer}"
			echo "client.sh: GET $URL$f: ${st:-no answer}" >&2
			exit 1
			;;
		esac
		i=$((i + 1))
	done
}
# The server's files of an attempt, in the order it writes them.
ORDER="model.flt params enrolment.flt roster.flt shares.flt survivors
confirms.flt sum.flt"
# missing ID: the files of attempt ID not fetched yet (ORDER, then DONE
# and ABORTED), as ID/NAME, added to the array want (no subshell).
missing() {
	local f
	for f in $ORDER DONE ABORTED; do
		[ -e "$FL_ROUNDS/$1/$f" ] || want+=("$1/$f")
	done
}
# publish SRC DIR: SRC becomes DIR/ID.flt, atomically, unless it is there
# already (so that a rerun changes nothing).  Over HTTPS: SRC is PUT
# into upload/ID/R.A/KIND.flt (KIND: DIR's name), unless this copy went
# already (FL_ROUNDS/R.A/.sent.KIND is what went).
publish() {
	if [ -n "$URL" ]; then
		local kind=${2##*/} st
		if [ -e "$d/.sent.$kind" ] && cmp -s "$1" "$d/.sent.$kind"; then
			return 0
		fi
		st=$(https -o /dev/null -w '%{http_code}' -T "$1" \
		    "${URL}upload/$ID/$id/$kind.flt") || st=
		case $st in
		201 | 204) ;;
		*)
			log "$id: PUT of $kind: ${st:-no answer}"
			echo "client.sh: PUT ${URL}upload/$ID/$id/$kind.flt:" \
			    "${st:-no answer}" >&2
			exit 1
			;;
		esac
		# (a message is made once and never changed: a link will do)
		ln -f "$1" "$d/.sent.$kind"
		log "$id: sent $kind"
		return 0
	fi
	if ! cmp -s "$1" "$2/$ID.flt"; then
		cp "$1" "$2/.$ID.flt.tmp.$$"
		mv -f "$2/.$ID.flt.tmp.$$" "$2/$ID.flt"
		log "$(basename "$(dirname "$2")"): sent ${2##*/}"
	fi
}
# listed ID FILE: FILE's records (roster, shares, confirmations) include
# client ID.
listed() {
	# (grep reads everything: with -q, fl-inspect could die of SIGPIPE,
	# which pipefail would turn into "not listed")
	fl-inspect "$2" | grep -x "  client=$1" > /dev/null
}
param() {
	sed -n "s/^$1=//p" "$d/params"
}
# pattern: with DP-FTRL, the participation pattern this device keeps, K
# and B, into PK and PB: its own policy or the round's, the stricter.
pattern() {
	PK=${FL_PARTICIPATIONS:-1} PB=${FL_SEPARATION:-1}
	[ "$(param participations)" -ge "$PK" ] || PK=$(param participations)
	[ "$(param separation)" -le "$PB" ] || PB=$(param separation)
}
# sits_out: with DP-FTRL, whether this device stays out of the attempt:
# it did not agree to rounds noised by the server (FL_FTRL), or taking
# part would break its pattern (fl-clip-noise --participation would
# refuse the update after training; deciding before the keys keeps the
# roster to devices that will answer).  Logged once per attempt.
sits_out() {
	local why='' st=0
	case $(param mechanism) in
	'') return 1 ;;
	dp-ftrl) ;;
	*)
		echo "client.sh: $d/params: unknown mechanism" \
		    "'$(param mechanism)'" >&2
		exit 1
		;;
	esac
	if [ -z "${FL_FTRL:-}" ]; then
		why="the round is DP-FTRL (noise by the server, none by this device) and FL_FTRL is not set"
	else
		# fl-clip-noise's own rule, the one the update would meet:
		# 3 and why when the pattern refuses the round.
		pattern
		why=$(fl-clip-noise --may-join="$(param round)" \
		    --participation="$C/participation" \
		    --participations="$PK" --separation="$PB" 2>&1) || st=$?
		case $st in
		0) why= ;;
		3) why="${why#*refused: } (at most $PK rounds, $PB apart)" ;;
		*)
			echo "client.sh: $why" >&2
			exit 1
			;;
		esac
	fi
	[ -n "$why" ] || return 1
	if [ ! -e "$k.out" ]; then
		: > "$k.out"
		log "$id: sits out: $why"
	fi
	return 0
}

# train OUT: the update of this device's data against the attempt's model
# into OUT (fl-train, or FL_TRAINER), checked: one record of kind update,
# of the model's round and architecture; else a line in the log, exit 1.
train() {
	local want got
	if [ -n "${FL_TRAINER:-}" ]; then
		# shellcheck disable=SC2086 # a command and its arguments
		if ! $FL_TRAINER "$d/model.flt" "$FL_DATA" -o "$1"; then
			rm -f "$1"
			log "$id: FL_TRAINER failed"
			echo "client.sh: FL_TRAINER ($FL_TRAINER) failed" >&2
			exit 1
		fi
	else
		# shellcheck disable=SC2086 # options, split at blanks
		fl-train -q -m "$d/model.flt" -e "${FL_EPOCHS:-1}" \
		    -b "${FL_BATCH:-32}" --lr "${FL_LR:-0.1}" --client "$ID" \
		    ${FL_LABEL:+-l "$FL_LABEL"} \
		    ${FL_NORMALIZE:+--normalize "$FL_NORMALIZE"} \
		    ${FL_CLASS_WEIGHTS:+--class-weights "$FL_CLASS_WEIGHTS"} \
		    ${FL_TRAIN_OPTS:-} -o "$1" "$FL_DATA"
	fi
	# (fl-inspect prints each record's metadata sorted: two records
	# give two of each)
	want=$(fl-inspect "$d/model.flt" | sed -n 's/^  arch=/arch=/p')
	want="${want:+$want }kind=update round=$(param round)"
	got=$(fl-inspect "$1" 2> /dev/null |
	    sed -n 's/^  \(arch\|kind\|round\)=/\1=/p' | tr '\n' ' ') ||
	    got=
	if [ "$got" != "$want " ]; then
		rm -f "$1"
		log "$id: the trainer's output is not one update record" \
		    "of round $(param round) (${got% })"
		echo "client.sh: the trainer's output is not one update" \
		    "record of round $(param round) (${got% })" >&2
		exit 1
	fi
}

# Leftovers of a run that died while writing; this run's go with it (the
# update before its noise among them).
rm -f "$C"/*.tmp.* "$FL_ROUNDS"/*/*/".$ID.flt.tmp."*
trap 'rm -f "$C"/*.tmp.$$' EXIT
if [ -n "$URL" ]; then
	# Over HTTPS: what changes (current, STOPPED) every time; the
	# attempt's files, each written once by the server, until fetched,
	# and the end of the attempt (DONE, ABORTED).  All in one curl
	# for the attempt fetched last time (which is current most of the
	# time), and one more if current names another.
	[ -d "$FL_ROUNDS" ] || mkdir -p "$FL_ROUNDS"
	old=
	[ ! -r "$FL_ROUNDS/current" ] || read -r old < "$FL_ROUNDS/current" || :
	case $old in
	[0-9]*.[0-9]*) ;;
	*) old= ;;
	esac
	want=(current)
	[ -e "$FL_ROUNDS/STOPPED" ] || want+=(STOPPED)
	if [ -n "$old" ]; then
		[ -d "$FL_ROUNDS/$old" ] || mkdir -p "$FL_ROUNDS/$old"
		missing "$old"
	fi
	fetch "${want[@]}"
	if [ -r "$FL_ROUNDS/current" ]; then
		read -r id < "$FL_ROUNDS/current" || :
		case $id in
		[0-9]*.[0-9]*) ;;
		*) echo "client.sh: bad round '$id' from $URL" >&2; exit 1 ;;
		esac
		for f in "$FL_ROUNDS"/*/; do
			[ "$f" = "$FL_ROUNDS/$id/" ] || rm -rf "$f"
		done
		if [ "$id" != "$old" ]; then
			mkdir -p "$FL_ROUNDS/$id"
			want=()
			missing "$id"
			fetch "${want[@]}"
		fi
		# Kept only up to the first one missing (one written
		# between two requests waits for the next run).
		gap=
		for f in $ORDER; do
			if [ -n "$gap" ]; then
				rm -f "$FL_ROUNDS/$id/$f"
			elif [ ! -e "$FL_ROUNDS/$id/$f" ]; then
				gap=1
			fi
		done
	fi
fi
[ ! -e "$FL_ROUNDS/STOPPED" ] || exit 0
[ -r "$FL_ROUNDS/current" ] || exit 0
id=$(cat "$FL_ROUNDS/current")
case $id in
[0-9]*.[0-9]*) ;;
*) echo "client.sh: bad round '$id' in $FL_ROUNDS/current" >&2; exit 1 ;;
esac
d=$FL_ROUNDS/$id
k=$C/$id

# Forget the secrets of finished attempts: a key file is overwritten and
# removed (fl-mask --forget), the messages are deleted.  The identity
# stays: it is for every round.
for f in "$C"/*.key "$C"/*.pub "$C"/*.shares "$C"/*.masked "$C"/*.confirm \
    "$C"/*.reveal "$C"/*.out; do
	[ -e "$f" ] || continue
	r=${f##*/}
	# (only the files of an attempt, R.A.EXT: not client.key)
	case $r in
	[0-9]*.[0-9]*.*) ;;
	*) continue ;;
	esac
	r=${r%.*}
	if [ "$r" != "$id" ] || [ -e "$d/DONE" ] || [ -e "$d/ABORTED" ]; then
		case $f in
		*.key) fl-mask --forget -k "$f" ;;
		*) rm -f "$f" ;;
		esac
	fi
done
if [ -e "$d/DONE" ] || [ -e "$d/ABORTED" ]; then
	exit 0
fi

if [ ! -e "$d/roster.flt" ]; then
	# Keys: made once per round (fl-mask refuses to overwrite a key
	# file), signed by the identity, then sent.  A key file without its
	# public keys (a crash between the two) cannot join: this client
	# sits the round out.
	if [ ! -e "$k.key" ]; then
		! sits_out || exit 0
		fl-mask --keygen --round "$(param round)" -k "$k.key" \
		    -i "$IDENTITY" -o "$k.pub"
		log "$id: keys made"
	fi
	crashpoint keygen
	[ ! -e "$k.pub" ] || publish "$k.pub" "$d/pub"
	exit 0
fi
# No key file (none made in time, or forgotten after the reveal), or not
# in the roster (too late): nothing more to do in this attempt.
if [ ! -e "$k.key" ] || ! listed "$ID" "$d/roster.flt"; then
	exit 0
fi

if [ ! -e "$d/shares.flt" ]; then
	# Shares: fl-mask first checks the roster (every client enrolled by
	# the operator, the graph and threshold of this device's policy, at
	# least FL_MIN_CLIENTS clients) and binds the key file to it.  Made
	# once and kept, so that a rerun sends the same ones.
	[ -e "$k.shares" ] ||
	    fl-mask --share -k "$k.key" -r "$d/roster.flt" \
		-e "$d/enrolment.flt" --min-clients "$MINC" \
		--dropout "$DROPOUT" --corrupt "$CORRUPT" -o "$k.shares"
	crashpoint shared
	publish "$k.shares" "$d/shares"
	exit 0
fi
# Not among the clients that shared: a dropout of this round.
listed "$ID" "$d/shares.flt" || exit 0

if [ ! -e "$d/survivors" ]; then
	# Train, clip, encode, noise, mask: once (the noise is random; a
	# second update would be a second release, and fl-mask refuses to
	# mask another one with this key file), kept, then sent.  The noise
	# is planned for the params' shares, but never for more clients than
	# the roster holds (fl-mask refuses that plan: the sum could not
	# carry the noise it claims).
	if [ ! -e "$k.masked" ] && [ "$(param mechanism)" = dp-ftrl ]; then
		# DP-FTRL: clipped and recorded against the pattern
		# (fl-clip-noise refuses an update that breaks it), no noise:
		# the server adds the tree's to the sum.
		! sits_out || exit 0
		pattern
		train "$k.update.tmp.$$"
		fl-clip-noise --clip "$(param clip)" \
		    --participation "$C/participation" \
		    --participations "$PK" --separation "$PB" \
		    < "$k.update.tmp.$$" |
		    fl-quantize --ring "$(param bits)" \
			--clients "$(param clients)" |
		    fl-mask -k "$k.key" -r "$d/roster.flt" -s "$d/shares.flt" \
			-o "$k.masked"
		rm -f "$k.update.tmp.$$"
		log "$id: update masked (DP-FTRL)"
	elif [ ! -e "$k.masked" ]; then
		shares=$(param shares)
		n=$(fl-inspect "$d/roster.flt" | sed -n 's/^  secagg\.n=//p')
		[ "$shares" -le "$n" ] || shares=$n
		train "$k.update.tmp.$$"
		fl-clip-noise --clip "$(param clip)" --indicator \
		    < "$k.update.tmp.$$" |
		    fl-quantize --ring "$(param bits)" \
			--clients "$(param clients)" --noise "$(param noise)" |
		    fl-clip-noise --noise "$(param noise)" \
			--shares "$shares" -m discrete-gaussian \
			--indicator-noise "$(param indicator-noise)" |
		    fl-mask -k "$k.key" -r "$d/roster.flt" -s "$d/shares.flt" \
			-o "$k.masked"
		rm -f "$k.update.tmp.$$"
		log "$id: update masked"
	fi
	crashpoint masked
	publish "$k.masked" "$d/masked"
	exit 0
fi
# Not a survivor: the server gave up on this client's update.
grep -qx "$ID" "$d/survivors" || exit 0

if [ ! -e "$d/confirms.flt" ]; then
	# The consistency round: sign the survivor list with the identity,
	# once (fl-mask records the list in the key file and refuses
	# another; the same list gives the same bytes), kept, then sent.
	[ -e "$k.confirm" ] ||
	    fl-mask --confirm "$d/survivors" -k "$k.key" -i "$IDENTITY" \
		-r "$d/roster.flt" -s "$d/shares.flt" -o "$k.confirm"
	crashpoint confirmed
	publish "$k.confirm" "$d/confirm"
	exit 0
fi
# Not among the confirmations the server collected: too late.
listed "$ID" "$d/confirms.flt" || exit 0

if [ ! -e "$d/sum.flt" ] && [ ! -e "$k.reveal" ]; then
	# The unmask request: fl-mask answers only for the list this client
	# confirmed, and only if a quorum of the survivors confirmed it too
	# (the same answer every time).
	fl-mask --reveal "$d/survivors" -k "$k.key" -r "$d/roster.flt" \
	    -s "$d/shares.flt" --confirmations "$d/confirms.flt" \
	    -o "$k.reveal"
	crashpoint revealed
fi
if [ -e "$k.reveal" ]; then
	[ -e "$d/sum.flt" ] || publish "$k.reveal" "$d/reveal"
	# The answer is sent: the round needs nothing more of the key file,
	# so forget it now rather than when the attempt ends.
	fl-mask --forget -k "$k.key"
	log "$id: key file forgotten"
fi
