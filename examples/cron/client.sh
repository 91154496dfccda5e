#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
#
# A client (device) of a cron deployment: run every minute, it does at
# most one step of the current round, when the server's input for it is
# there, and exits.  See examples/cron/README for the round directory, the
# phases and crash safety.
#
#   FL_ROUNDS=/srv/fl/rounds FL_CLIENT=c1 FL_DATA=~/data.flt client.sh
#
# Environment (defaults in brackets):
#   FL_ROUNDS      the shared round directory (required)
#   FL_CLIENT      this client's id, [A-Za-z0-9._-] (required)
#   FL_DATA        the local training data: CSV, IDX or FLT (required)
#   FL_CLIENT_DIR  private state: key files, lock, log
#                  [${XDG_STATE_HOME:-~/.local/state}/fl/$FL_CLIENT]
#   FL_EPOCHS, FL_BATCH, FL_LR   local training [1, 32, 0.1]
#   FL_BIN         put first on PATH
# The privacy parameters (clip, noise, shares, ring) come from the round's
# params file, written by the server.  Exit status: 0 (also when another
# run holds the lock), 1 on an error (the next run retries).
set -eu -o pipefail

: "${FL_ROUNDS:?set FL_ROUNDS to the shared round directory}"
: "${FL_CLIENT:?set FL_CLIENT to the id of this client}"
: "${FL_DATA:?set FL_DATA to the local training data}"
ID=$FL_CLIENT
C=${FL_CLIENT_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/fl/$ID}
case $ID in
'' | *[!A-Za-z0-9._-]*) echo "client.sh: bad FL_CLIENT '$ID'" >&2; exit 1 ;;
esac
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"
start "$C" "$ID"

# publish SRC DIR: SRC becomes DIR/ID.flt, atomically, unless it is there
# already (so that a rerun changes nothing).
publish() {
	if ! cmp -s "$1" "$2/$ID.flt"; then
		cp "$1" "$2/.$ID.flt.tmp.$$"
		mv -f "$2/.$ID.flt.tmp.$$" "$2/$ID.flt"
		log "$(basename "$(dirname "$2")"): sent ${2##*/}"
	fi
}
# listed ID FILE: FILE's records (roster, shares) include client ID.
listed() {
	# (grep reads everything: with -q, fl-inspect could die of SIGPIPE,
	# which pipefail would turn into "not listed")
	fl-inspect "$2" | grep -x "  client=$1" > /dev/null
}
param() {
	sed -n "s/^$1=//p" "$d/params"
}

# Leftovers of a run that died while writing.
rm -f "$C"/*.tmp.* "$FL_ROUNDS"/*/*/".$ID.flt.tmp."*
[ ! -e "$FL_ROUNDS/STOPPED" ] || exit 0
[ -r "$FL_ROUNDS/current" ] || exit 0
id=$(cat "$FL_ROUNDS/current")
case $id in
[0-9]*.[0-9]*) ;;
*) echo "client.sh: bad round '$id' in $FL_ROUNDS/current" >&2; exit 1 ;;
esac
d=$FL_ROUNDS/$id
k=$C/$id

# Forget the secrets of finished rounds.
for f in "$C"/*.key "$C"/*.pub "$C"/*.shares "$C"/*.masked "$C"/*.reveal; do
	[ -e "$f" ] || continue
	r=${f##*/}
	r=${r%.*}
	if [ "$r" != "$id" ] || [ -e "$d/DONE" ] || [ -e "$d/ABORTED" ]; then
		rm -f "$f"
	fi
done
if [ -e "$d/DONE" ] || [ -e "$d/ABORTED" ]; then
	exit 0
fi

if [ ! -e "$d/roster.flt" ]; then
	# Keys: made once per round (fl-mask refuses to overwrite a key
	# file), then sent.  A key file without its public keys (a crash
	# between the two) cannot join: this client sits the round out.
	if [ ! -e "$k.key" ]; then
		fl-mask --keygen --client "$ID" --round "$(param round)" \
		    -k "$k.key" -o "$k.pub"
		log "$id: keys made"
	fi
	crashpoint keygen
	[ ! -e "$k.pub" ] || publish "$k.pub" "$d/pub"
	exit 0
fi
# Not in the roster: too late for this round.
if [ ! -e "$k.key" ] || ! listed "$ID" "$d/roster.flt"; then
	exit 0
fi

if [ ! -e "$d/shares.flt" ]; then
	# Shares: made once and kept, so that a rerun sends the same ones.
	[ -e "$k.shares" ] ||
	    fl-mask --share -k "$k.key" -r "$d/roster.flt" -o "$k.shares"
	crashpoint shared
	publish "$k.shares" "$d/shares"
	exit 0
fi
# Not among the clients that shared: a dropout of this round.
listed "$ID" "$d/shares.flt" || exit 0

if [ ! -e "$d/survivors" ]; then
	# Train, clip, encode, noise, mask: once (the noise is random; a
	# second update would be a second release), kept, then sent.
	if [ ! -e "$k.masked" ]; then
		fl-train -q -m "$d/model.flt" -e "${FL_EPOCHS:-1}" \
		    -b "${FL_BATCH:-32}" --lr "${FL_LR:-0.1}" --client "$ID" \
		    "$FL_DATA" |
		    fl-clip-noise --clip "$(param clip)" --indicator |
		    fl-quantize --ring "$(param bits)" \
			--clients "$(param clients)" --noise "$(param noise)" |
		    fl-clip-noise --noise "$(param noise)" \
			--shares "$(param shares)" -m discrete-gaussian \
			--indicator-noise "$(param indicator-noise)" |
		    fl-mask -k "$k.key" -r "$d/roster.flt" -s "$d/shares.flt" \
			-o "$k.masked"
		log "$id: update masked"
	fi
	crashpoint masked
	publish "$k.masked" "$d/masked"
	exit 0
fi
# Not a survivor: the server gave up on this client's update.
grep -qx "$ID" "$d/survivors" || exit 0

if [ ! -e "$d/sum.flt" ]; then
	# The unmask request: one answer per round (fl-mask records it in
	# the key file and gives the same answer to the same request).
	[ -e "$k.reveal" ] ||
	    fl-mask --reveal "$d/survivors" -k "$k.key" -r "$d/roster.flt" \
		-s "$d/shares.flt" -o "$k.reveal"
	crashpoint revealed
	publish "$k.reveal" "$d/reveal"
fi
