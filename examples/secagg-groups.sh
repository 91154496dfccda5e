#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
#
# A round of many devices split into secure-aggregation groups, each
# unmasked on its own (on its own host), the partial sums merged: the
# server's side of examples/cron/README, "Scale-out".
#
#   examples/secagg-groups.sh [-g GROUPS] [-n N] [-d DIR]
#
# Each of GROUPS groups (default 3) of N clients (default 5) runs a
# secure-aggregation round of its own with examples/secagg.sh in
# DIR/group-G: its own identities, enrolment, roster, shares, masked
# updates, confirmations and reveals; in each group client 2 drops after
# sharing, so every group's unmasking repairs a dropout.  Then the
# server's part: each group is unmasked on its own (fl-aggregate --roster
# --shares --reveals of the group's survivors' masked updates, the
# group's modular sum), the groups at the same time, and the partial sums
# are merged (fl-aggregate --rule=sum: exact, sums modulo 2^bits are
# associative).  With FL_SSHLOGIN (GNU parallel's --sshlogin, e.g.
# "2/h1,2/h2"; FL_SSH: the ssh command, e.g. "ssh -F cfg"), the groups
# are unmasked on those hosts, one job per group on whichever host is
# free, which must see DIR at the same path and have the programs on the
# PATH given here; else here, two at a time (xargs -P 2).  Checks: each
# group's partial sum is the same bytes as the one secagg.sh unmasked
# here, and the merged sum is the plain modular sum of every survivor's
# input, with the total clients.  Prints a line a step; exits 1 if a
# check fails.  FL_BIN: where the fl-* programs are.
set -euo pipefail

usage() {
	echo "usage: secagg-groups.sh [-g GROUPS] [-n N] [-d DIR]" >&2
	exit 2
}
g=3 n=5 dir=
while getopts g:n:d:h o; do
	case $o in
	g) g=$OPTARG ;;
	n) n=$OPTARG ;;
	d) dir=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage
case $g$n in
*[!0-9]*) usage ;;
esac
if [ "$g" -lt 1 ] || [ "$n" -lt 4 ]; then
	usage
fi
if [ -n "${FL_BIN:-}" ]; then
	PATH=$FL_BIN:$PATH
	export PATH
fi
if [ -z "$dir" ]; then
	dir=$(mktemp -d "${TMPDIR:-/tmp}/secagg-groups.XXXXXX")
	trap 'rm -rf "$dir"' EXIT INT TERM
fi
mkdir -p "$dir"
# (absolute: a remote shell starts in its home directory)
dir=$(cd "$dir" && pwd)
here=$(cd "$(dirname "$0")" && pwd)

# The groups' rounds, each its own secure aggregation (the devices' side
# and the collection of their messages; secagg.sh also unmasks the sum
# here, to compare with below).
i=1
while [ "$i" -le "$g" ]; do
	"$here/secagg.sh" -q -n "$n" -d "$dir/group-$i" --seed "group-$i" \
	    --drop-before-mask 2
	# The survivors' masked updates, for the unmasking.
	sed 's/$/.masked/' "$dir/group-$i/survivors" > "$dir/group-$i/masked.list"
	rm -f "$dir/group-$i/partial.flt"
	i=$((i + 1))
done
echo "groups: $g of $n clients, $(cat "$dir"/group-*/survivors | wc -l) survivors"

# The server: each group unmasked on its own, the engine doing the
# fan-out.
unmask='cd {} && xargs fl-aggregate --roster roster.flt --shares shares.flt --reveals reveals.flt -o partial.flt < masked.list'
if [ -n "${FL_SSHLOGIN:-}" ]; then
	command -v parallel > /dev/null ||
	    { echo "secagg-groups: FL_SSHLOGIN needs GNU parallel" >&2; exit 1; }
	printf '%s\n' "$dir"/group-*/ | parallel --will-cite \
	    --sshlogin "$FL_SSHLOGIN" ${FL_SSH:+--ssh "$FL_SSH"} --env PATH \
	    "$unmask"
	echo "unmasked: each group on a host of $FL_SSHLOGIN"
else
	printf '%s\0' "$dir"/group-*/ | xargs -0 -P 2 -I{} sh -c "$unmask"
	echo "unmasked: each group here"
fi
for d in "$dir"/group-*/; do
	cmp "$d/sum.flt" "$d/partial.flt"
done
echo "partial sums: the same bytes as each group unmasked here"

# The partial sums merged; the check: the survivors' own inputs summed.
fl-aggregate --rule=sum -o "$dir/sum.flt" "$dir"/group-*/partial.flt
fl-aggregate --rule=sum -o "$dir/expected.flt" "$dir"/group-*/expected.flt
want=$(cat "$dir"/group-*/survivors | wc -l)
got=$(fl-inspect -g clients "$dir/sum.flt")
[ "$got" = "$want" ] ||
    { echo "secagg-groups: the merged sum counts $got clients, not $want" >&2; exit 1; }
cmp <(fl-inspect -d w "$dir/sum.flt") <(fl-inspect -d w "$dir/expected.flt") ||
    { echo "secagg-groups: the merged sum is not the survivors' modular sum" >&2; exit 1; }
echo "merged: the modular sum of $got clients' inputs, exact"
