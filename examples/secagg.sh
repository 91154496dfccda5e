#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
#
# One round of secure aggregation (fl-mask, SecAgg / SecAgg+ against a
# lying server) for N simulated clients in one directory, with clients
# dropping out at every stage, and a check that the server's unmasked sum
# is exactly the plain modular sum of the survivors' inputs.
#
#   examples/secagg.sh -n 20 --dropout 0.2 --drop-before-share 3 \
#       --drop-before-mask 5,6 --drop-during-reveal 9
#   examples/secagg.sh -n 5 --degree 4 --threshold 3 --corrupt 0 \
#       --drop-before-mask 1,5
#
# (20 clients tolerating 20% dropout: t = 16, and 17 survivors are a
# quorum; with the default 10% the threshold would be 18.  5 clients with
# t = 3 need --corrupt 0: one corrupt holder would make the smallest safe
# threshold 4.)
#
# Each step of the protocol is one program call per client; what the
# server receives is every file named *.idpub (once, for the operator's
# enrolment), *.pub, *.shares, *.masked, *.confirm and *.reveal.
# Identities and keys are derived from --seed: reproducible and NOT
# PRIVATE (a simulation).  The programs come from PATH ($FL_BIN first if
# set).
set -euo pipefail

prog=${0##*/}
usage="usage: $prog [-n N] [-d DIR] [--drop-before-share LIST]
           [--drop-before-mask LIST] [--drop-before-confirm LIST]
           [--drop-during-reveal LIST]
           [--degree K --threshold T | --dropout F] [--corrupt G]
           [--min-clients M] [--dim D] [--bits B] [--round R] [--seed S]
           [--float] [-j JOBS] [-q]"

help() {
	cat <<EOF
$usage

Run one secure-aggregation round (identities and the operator's
enrolment, keys, roster, shares, masking, the consistency round, unmask
request, unmasking, forgetting the keys) for N clients and check the
unmasked sum against the plain modular sum of the survivors' inputs.
Prints one line, e.g. "secagg: 20 clients, 17 survivors, sum exact",
and exits 0; exits 1 if any step fails or the sums differ, 2 on a usage
error.

  -n N                      clients (default 10; at least 3)
  -d DIR                    work in DIR and keep it (default: a temporary
                            directory, removed at the end); the files of
                            an earlier run there are replaced
  --drop-before-share LIST  clients (numbers 1..N, comma-separated) that
                            send their public keys and then drop
  --drop-before-mask LIST   clients that share and then drop: no masked
                            update arrives from them
  --drop-before-confirm LIST
                            survivors (their masked update arrived) that
                            drop before confirming the survivor list:
                            they neither confirm nor reveal
  --drop-during-reveal LIST survivors that confirm the survivor list and
                            then drop before answering the unmask request
  --degree K                neighbours per client (even, or N-1 for the
                            full graph); goes with --threshold
  --threshold T             shares needed to rebuild a secret: more than
                            (K + 1 + corrupt holders) / 2
  --dropout F               let fl-mask --make-roster choose the graph
                            for this dropout fraction instead (fl-mask's
                            default 0.1)
  --corrupt G               the fraction of clients that may collude with
                            the server (fl-mask's default 0.05); with
                            either of the above
  --min-clients M           each client refuses a roster of fewer than M
                            clients (default N: every client knows the
                            cohort); at least 3
  --dim D                   values per client (default 16)
  --bits B                  ring modulus 2^B (default 16; 1 to 32)
  --round R                 the round number (default 3)
  --seed S                  seed of the data, identities and keys
                            (default 1)
  --float                   make float updates and ring-encode them with
                            fl-quantize --ring B (B >= 2) instead of
                            making integers directly
  -j JOBS                   run the clients' steps JOBS at a time (1)
  -q                        print nothing on success
  -h, --help                print this help and exit

Environment: FL_BIN, if set, is put first on PATH.
EOF
	exit 0
}

die() {
	echo "$prog: $*" >&2
	exit 1
}

usage_error() {
	[ $# -gt 0 ] && echo "$prog: $*" >&2
	echo "$usage" >&2
	exit 2
}

if [ -n "${FL_BIN:-}" ]; then
	PATH="$FL_BIN:$PATH"
	export PATH
fi

n=10 dir='' before_share='' before_mask='' before_confirm=''
during_reveal='' degree='' threshold='' dropout='' corrupt='' min_clients=''
dim=16 bits=16 round=3 seed=1 float=0 jobs=1 quiet=0

# need OPTION VALUE...: the option's value, or a usage error.
need() {
	[ $# -ge 2 ] || usage_error "$1 needs a value"
}

while [ $# -gt 0 ]; do
	opt=$1
	val=
	case $opt in
	--*=*)
		val=${opt#*=}
		opt=${opt%%=*}
		set -- "$opt" "$val" "${@:2}"
		;;
	esac
	case $opt in
	-h | --help) help ;;
	-q | --quiet) quiet=1; shift; continue ;;
	--float) float=1; shift; continue ;;
	-n | -d | -j | --drop-before-share | --drop-before-mask | \
	    --drop-before-confirm | --drop-during-reveal | --degree | \
	    --threshold | --dropout | --corrupt | --min-clients | --dim | \
	    --bits | --round | --seed)
		need "$@"
		val=$2
		shift 2
		;;
	--) shift; break ;;
	*) usage_error "unknown option '$opt'" ;;
	esac
	case $opt in
	-n) n=$val ;;
	-d) dir=$val ;;
	-j) jobs=$val ;;
	--drop-before-share) before_share=$val ;;
	--drop-before-mask) before_mask=$val ;;
	--drop-before-confirm) before_confirm=$val ;;
	--drop-during-reveal) during_reveal=$val ;;
	--degree) degree=$val ;;
	--threshold) threshold=$val ;;
	--dropout) dropout=$val ;;
	--corrupt) corrupt=$val ;;
	--min-clients) min_clients=$val ;;
	--dim) dim=$val ;;
	--bits) bits=$val ;;
	--round) round=$val ;;
	--seed) seed=$val ;;
	esac
done
[ $# -eq 0 ] || usage_error "no operands: '$1'"

is_num() {
	[[ $1 =~ ^[0-9]+$ ]] && [ "${#1}" -le 9 ]
}
# in_range VALUE MIN MAX: VALUE is a whole number from MIN to MAX.
in_range() {
	is_num "$1" && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]
}
in_range "$n" 3 999999 || usage_error "-n: need a number >= 3"
in_range "$dim" 1 999999999 || usage_error "--dim: need a number >= 1"
in_range "$bits" 1 32 || usage_error "--bits: need 1 to 32"
is_num "$round" || usage_error "--round: need a number"
in_range "$jobs" 1 999 || usage_error "-j: need a number >= 1"
[ "$float" = 0 ] || [ "$bits" -ge 2 ] || usage_error "--float needs --bits >= 2"
: "${min_clients:=$n}"
in_range "$min_clients" 3 999999 ||
    usage_error "--min-clients: need a number >= 3"
# --corrupt goes with either: the threshold rule counts corrupt holders.
if [ -n "$degree$threshold" ] && [ -n "$dropout" ]; then
	usage_error "--degree/--threshold exclude --dropout"
fi

# The drop lists as arrays of flags: drop_share[i]=1 etc.
declare -a drop_share drop_mask drop_confirm drop_reveal
parse_list() {
	local name=$1 list=$2 i
	local -n arr=$3
	[ -z "$list" ] && return 0
	IFS=, read -r -a items <<<"$list"
	for i in "${items[@]}"; do
		in_range "$i" 1 "$n" ||
		    usage_error "$name: '$i' is not a client number 1..$n"
		# shellcheck disable=SC2034 # arr names the caller's array
		arr[i]=1
	done
}
parse_list --drop-before-share "$before_share" drop_share
parse_list --drop-before-mask "$before_mask" drop_mask
parse_list --drop-before-confirm "$before_confirm" drop_confirm
parse_list --drop-during-reveal "$during_reveal" drop_reveal

if [ -z "$dir" ]; then
	dir=$(mktemp -d "${TMPDIR:-/tmp}/secagg.XXXXXX")
	trap 'rm -rf "$dir"' EXIT
	trap 'exit 1' INT TERM
else
	mkdir -p "$dir"
fi
cd "$dir"
# (fl-mask refuses to overwrite an identity or a key file.)
rm -f -- c*.id c*.idpub c*.key c*.pub c*.shares c*.ring c*.masked \
    c*.confirm c*.reveal c*.vals op.id op.pub enrolment.flt roster.flt \
    shares.flt survivors confirms.flt reveals.flt sum.flt expected.flt
modulus=$((1 << bits))

# each FUNCTION CLIENT...: FUNCTION CLIENT for every client, JOBS at a
# time; fails if any call fails.
each() {
	local f=$1
	shift
	[ $# -gt 0 ] || return 0
	if [ "$jobs" -le 1 ]; then
		local c
		for c in "$@"; do
			"$f" "$c"
		done
	else
		# shellcheck disable=SC2163 # exports the function named $f
		export -f "$f" graph_opts
		export round seed modulus bits n float degree threshold \
		    dropout corrupt min_clients
		# shellcheck disable=SC2016 # $1 is the inner shell's
		printf '%s\n' "$@" | xargs -P "$jobs" -n 1 bash -c \
		    'set -euo pipefail; '"$f"' "$1"' "$f" || exit 1
	fi
}

# 1. The clients' inputs: every client's values in one awk run
# (Park-Miller generator, exact in double arithmetic, so the same numbers
# on any awk), seeded from --seed.
s0=$(printf '%s' "$seed" | cksum | cut -d' ' -f1)
awk -v n="$n" -v dim="$dim" -v s0="$s0" -v mod="$modulus" -v float="$float" '
function next_() { x = (x * 16807) % 2147483647; return x }
BEGIN {
	x = s0 % 2147483646 + 1
	for (i = 1; i <= n; i++) {
		f = "c" i ".vals"
		for (j = 0; j < dim; j++) {
			hi = next_() % 65536; lo = next_() % 65536
			if (float)
				printf "%s%.6f", (j ? "," : ""), \
				    (hi * 65536 + lo) / 4294967296 - 0.5 > f
			else
				printf "%s%.0f", (j ? "," : ""), \
				    (hi * 65536 + lo) % mod > f
		}
		printf "\n" > f
		close(f)
	}
}'

make_input() {
	local i=$1
	if [ "$float" = 1 ]; then
		fl-pack -m kind=update -m "round=$round" -m "client=c$i" \
		    -t "w:f32=@c$i.vals" |
		    fl-quantize --ring "$bits" --clients "$n" -c 8 \
			--seed "$seed-$i" -o "c$i.ring"
	else
		fl-pack -m kind=update -m "round=$round" -m "client=c$i" \
		    -m "modulus=$modulus" -t "w:u32=@c$i.vals" -o "c$i.ring"
	fi
}

# graph_opts: the graph options, one a line, for --make-roster and for
# every client's --share (a client recomputes k, t and the corrupt count
# from its own options and refuses a roster with other ones).
graph_opts() {
	[ -z "$degree" ] || printf '%s\n' --degree "$degree"
	[ -z "$threshold" ] || printf '%s\n' --threshold "$threshold"
	[ -z "$dropout" ] || printf '%s\n' --dropout "$dropout"
	[ -z "$corrupt" ] || printf '%s\n' --corrupt "$corrupt"
}

# A device's long-term identity, made once and trusting only the
# operator's key for enrolments; the public half goes to the operator.
make_identity() {
	fl-mask --make-identity --client "c$1" -i "c$1.id" --operator op.pub \
	    --seed "$seed" -o "c$1.idpub"
}

# The round's keys, signed by the identity.
keygen() {
	fl-mask --keygen --round "$round" -k "c$1.key" -i "c$1.id" \
	    --seed "$seed" -o "c$1.pub"
}

share() {
	local -a g
	mapfile -t g < <(graph_opts)
	fl-mask --share -k "c$1.key" -r roster.flt -e enrolment.flt \
	    --min-clients "$min_clients" "${g[@]}" -o "c$1.shares"
}

mask() {
	fl-mask -k "c$1.key" -r roster.flt -s shares.flt -o "c$1.masked" \
	    "c$1.ring"
}

confirm() {
	fl-mask --confirm survivors -k "c$1.key" -i "c$1.id" -r roster.flt \
	    -s shares.flt -o "c$1.confirm"
}

reveal() {
	fl-mask --reveal survivors -k "c$1.key" -r roster.flt -s shares.flt \
	    --confirmations confirms.flt -o "c$1.reveal"
}

forget() {
	fl-mask --forget -k "c$1.key"
}

all=() sharing=() masking=() confirming=() revealing=()
for ((i = 1; i <= n; i++)); do
	all+=("$i")
	[ -n "${drop_share[i]:-}" ] && continue
	sharing+=("$i")
	[ -n "${drop_mask[i]:-}" ] && continue
	masking+=("$i")
	[ -n "${drop_confirm[i]:-}" ] && continue
	confirming+=("$i")
	[ -n "${drop_reveal[i]:-}" ] && continue
	revealing+=("$i")
done
[ "${#masking[@]}" -gt 0 ] || die "every client dropped: no survivors"

each make_input "${all[@]}"

# 2. Identities, once (a device keeps its own for every round): the
# operator's, then each client's; the operator signs the enrolment, the
# list of devices allowed into a roster.
fl-mask --make-identity --client op -i op.id --seed "$seed" -o op.pub
each make_identity "${all[@]}"
for i in "${all[@]}"; do
	echo "c$i.idpub"
done | xargs cat | fl-mask --make-enrolment -i op.id -o enrolment.flt

# 3. Keys: every client makes its round's keys and sends the public ones;
# the server makes the roster of enrolled clients.
each keygen "${all[@]}"
mapfile -t roster_opts < <(graph_opts)
for i in "${all[@]}"; do
	echo "c$i.pub"
done | xargs cat |
    fl-mask --make-roster -e enrolment.flt "${roster_opts[@]}" -o roster.flt

# 4. Shares: the clients still there check the roster and send their
# share envelopes; the server forwards all of them to everyone.
each share "${sharing[@]}"
for i in "${sharing[@]}"; do
	echo "c$i.shares"
done | xargs cat > shares.flt

# 5. Masking: the clients still there mask their input; the survivors are
# those whose masked record arrived.
each mask "${masking[@]}"
for i in "${masking[@]}"; do
	echo "c$i"
done > survivors

# 6. The consistency round: the survivors still there sign the survivor
# list, and the server forwards the signatures to all of them.  A client
# reveals only for a list that a quorum confirmed, so a server cannot
# tell some holders that a client dropped and others that it survived.
each confirm "${confirming[@]}"
for i in "${confirming[@]}"; do
	echo "c$i.confirm"
done | xargs -r cat > confirms.flt

# 7. The unmask request: survivors still there answer it.
each reveal "${revealing[@]}"
for i in "${revealing[@]}"; do
	echo "c$i.reveal"
done | xargs -r cat > reveals.flt

# 8. The server unmasks the sum of the masked records (the shares file
# holds the commitments that tell a wrong revealed share from a right
# one).  The round is over: every client forgets its key file.
for i in "${masking[@]}"; do
	echo "c$i.masked"
done | xargs fl-aggregate --roster roster.flt --shares shares.flt \
    --reveals reveals.flt -o sum.flt || exit 1
each forget "${all[@]}"

# 9. The check: the plain modular sum of the survivors' own inputs.
for i in "${masking[@]}"; do
	echo "c$i.ring"
done | xargs fl-aggregate -r sum -o expected.flt
got=$(fl-inspect -g clients sum.flt)
[ "$got" = "${#masking[@]}" ] ||
    die "the unmasked sum counts $got clients, not ${#masking[@]}"
[ "$(fl-inspect -g modulus sum.flt)" = "$modulus" ] ||
    die "the unmasked sum's modulus is not $modulus"
if ! cmp -s <(fl-inspect -d w sum.flt) <(fl-inspect -d w expected.flt); then
	diff <(fl-inspect -d w sum.flt) <(fl-inspect -d w expected.flt) |
	    head -20 >&2 || true
	die "$dir/sum.flt: the unmasked sum differs from the survivors'" \
	    "modular sum"
fi
k=$(fl-inspect roster.flt | sed -n 's/^  secagg\.k=//p')
t=$(fl-inspect roster.flt | sed -n 's/^  secagg\.t=//p')
[ "$quiet" = 1 ] || echo "secagg: $n clients, ${#masking[@]} survivors," \
    "sum exact (${#revealing[@]} reveals, k=$k, t=$t)"
