#!/bin/sh
# SPDX-License-Identifier: ISC
#
# Tree aggregation: fl-aggregate's output carries its total weight and
# client count, so partial aggregates merge associatively.  The updates of
# a round can be aggregated in groups, in parallel processes or on other
# machines, and the partial results aggregated again: any grouping gives
# the one-pass result (to float rounding for means; exactly for modular
# sums).
#
#   examples/tree-aggregate.sh [N [DIR]]   N updates (default 24) in DIR
#                                          (default: a new temporary one)
#
# Across machines, GNU parallel runs the same command over ssh; with the
# updates on a shared file system (NFS) it is one option more:
#
#   ls updates/*.flt | parallel -N 8 --sshlogin host1,host2 \
#       fl-aggregate -o partial/{#}.flt {}
#
# (without a shared file system, parallel's --trc copies files to the
# hosts and back; see parallel(1)).  With FL_SSHLOGIN set (parallel's
# --sshlogin, e.g. "4/host1,4/host2"; FL_SSH: the ssh command, e.g.
# "ssh -F cfg"), this script also runs the groups of the parallel run and
# the modular sums on those hosts, which must see DIR at the same path
# and have the programs on the PATH given here, and checks that they
# write the same bytes as on this machine.
set -eu

case ${1:-} in
-h|--help)
	echo "usage: tree-aggregate.sh [N [DIR]]"
	echo "  N updates (default 24) aggregated in groups two ways (xargs -P"
	echo "  and GNU parallel) and compared with one pass, in DIR (default: a"
	echo "  new temporary one).  FL_BIN: where the fl-* programs are."
	echo "  FL_SSHLOGIN (FL_SSH): also over ssh with parallel --sshlogin"
	echo "  (--ssh), writing the same bytes as on this machine."
	exit 0 ;;
-*)
	echo "usage: tree-aggregate.sh [N [DIR]]" >&2
	exit 2 ;;
esac
if [ -n "${FL_BIN:-}" ]; then
	PATH=$FL_BIN:$PATH
fi
n=${1:-24}
dir=${2:-}
if [ -z "$dir" ]; then
	dir=$(mktemp -d "${TMPDIR:-/tmp}/tree-aggregate.XXXXXX")
	trap 'rm -rf "$dir"' EXIT INT TERM
fi
mkdir -p "$dir/updates" "$dir/rings" "$dir/level1" "$dir/level2" \
    "$dir/level3" "$dir/ring1" "$dir/ssh2" "$dir/ssh3" "$dir/ring-ssh1"
# (absolute: a remote shell starts in its home directory)
dir=$(cd "$dir" && pwd)

# N clients' updates (two tensors, weights 1..N) and their ring-encoded
# counterparts (u32 modulo 2^32, values near the top so that sums wrap).
i=1
while [ "$i" -le "$n" ]; do
	w=$(awk -v i="$i" 'BEGIN { for (k = 0; k < 32; k++)
	    printf "%s%.7g", k ? "," : "", sin(7 * i + k) * i }')
	b=$(awk -v i="$i" 'BEGIN { printf "%.7g,%.7g", cos(i), -i / 3 }')
	r=$(awk -v i="$i" 'BEGIN { for (k = 0; k < 8; k++)
	    printf "%s%d", k ? "," : "", 4294967295 - i * 1000003 - k }')
	fl-pack -m kind=update -m round=7 -m client="c$i" -m weight="$i" \
	    -t "w:f32:4x8=$w" -t "b:f32=$b" -o "$dir/updates/c$i.flt"
	fl-pack -m kind=update -m round=7 -m client="c$i" \
	    -m modulus=4294967296 -t "q:u32=$r" -o "$dir/rings/c$i.flt"
	i=$((i + 1))
done

# The reference: one pass over everything.
fl-aggregate "$dir"/updates/*.flt -o "$dir/one-pass.flt"
fl-aggregate --rule=sum "$dir"/rings/*.flt -o "$dir/ring-one-pass.flt"

# Two levels with xargs: groups of 5 updates, 4 processes at a time; each
# group's partial is named after its first update.
# shellcheck disable=SC2016 # the inner shell expands them
printf '%s\0' "$dir"/updates/*.flt | xargs -0 -n 5 -P 4 sh -c \
    'fl-aggregate -o "$0/level1/${1##*/}" "$@"' "$dir"
fl-aggregate "$dir"/level1/*.flt -o "$dir/tree-xargs.flt"

# Three levels with GNU parallel (if installed): groups of 3, then pairs.
if command -v parallel > /dev/null 2>&1; then
	printf '%s\0' "$dir"/updates/*.flt | parallel -0 --will-cite -N 3 -j 4 \
	    fl-aggregate -o "$dir/level2/{#}.flt" {}
	printf '%s\0' "$dir"/level2/*.flt | parallel -0 --will-cite -N 2 -j 4 \
	    fl-aggregate -o "$dir/level3/{#}.flt" {}
	fl-aggregate "$dir"/level3/*.flt -o "$dir/tree-parallel.flt"
	trees="tree-xargs tree-parallel"
else
	echo "tree-aggregate: GNU parallel is not installed: skipping it" >&2
	trees=tree-xargs
fi

# Modular sums: partial sums of any grouping, summed again, are exact.
# shellcheck disable=SC2016
printf '%s\0' "$dir"/rings/*.flt | xargs -0 -n 7 -P 4 sh -c \
    'fl-aggregate --rule=sum -o "$0/ring1/${1##*/}" "$@"' "$dir"
fl-aggregate --rule=sum "$dir"/ring1/*.flt -o "$dir/ring-tree.flt"

# Same metadata (weight, clients, round), same values to f32 rounding.
for t in $trees; do
	fl-inspect --diff --tolerance=1e-5 "$dir/one-pass.flt" "$dir/$t.flt" \
	    > "$dir/$t.diff"
	if grep -q meta "$dir/$t.diff"; then
		cat "$dir/$t.diff" >&2
		exit 1
	fi
	echo "$t: same as one pass ($(grep -c tensor "$dir/$t.diff") tensors" \
	    "within 1e-5)"
done
cmp "$dir/ring-one-pass.flt" "$dir/ring-tree.flt"
echo "ring-tree: byte-identical to one pass"

# Over ssh: the same groups on the hosts of FL_SSHLOGIN (the engine does
# the fan-out), the partials merged here.
if [ -n "${FL_SSHLOGIN:-}" ]; then
	if ! command -v parallel > /dev/null 2>&1; then
		echo "tree-aggregate: FL_SSHLOGIN needs GNU parallel" >&2
		exit 1
	fi
	# over ssh GROUP DEST RULE: the files on stdin (NUL-separated) in
	# groups of GROUP, each aggregated (--rule=RULE) on a host into
	# DEST/N.flt, the programs found on this PATH.
	over_ssh() {
		parallel -0 --will-cite -N "$1" --sshlogin "$FL_SSHLOGIN" \
		    ${FL_SSH:+--ssh "$FL_SSH"} --env PATH \
		    fl-aggregate --rule="$3" -o "$2/{#}.flt" {}
	}
	printf '%s\0' "$dir"/updates/*.flt | over_ssh 3 "$dir/ssh2" mean
	printf '%s\0' "$dir"/ssh2/*.flt | over_ssh 2 "$dir/ssh3" mean
	fl-aggregate "$dir"/ssh3/*.flt -o "$dir/tree-ssh.flt"
	cmp "$dir/tree-parallel.flt" "$dir/tree-ssh.flt"
	echo "tree-ssh: byte-identical to the same groups on this machine"
	printf '%s\0' "$dir"/rings/*.flt | over_ssh 7 "$dir/ring-ssh1" sum
	fl-aggregate --rule=sum "$dir"/ring-ssh1/*.flt -o "$dir/ring-ssh.flt"
	cmp "$dir/ring-one-pass.flt" "$dir/ring-ssh.flt"
	echo "ring-ssh: byte-identical to one pass"
fi
fl-inspect -g clients "$dir/one-pass.flt" | sed 's/^/clients: /'
