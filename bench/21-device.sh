#!/bin/sh
# On a device (issue 21): per architecture (this machine's, and each of
# "$top"/tools/cross list whose toolchain is installed: tools/deps cross NAME),
# the stripped sizes of the programs, of the multi-call fl dynamic and of
# fl static (make fl-static), and the peak RSS of a device's round run by
# the static fl: fl train on 20 Fashion-MNIST examples with the demo's MLP
# (mlp:784-64-10, examples/simulate.sh), then clipping, ring encoding,
# noise shares and masking in a roster of 10 (examples/secagg.sh's steps;
# the setup is done here, natively).  Other architectures run under
# qemu-user, whose own memory is in the RSS: the table gives qemu running
# `fl --version` beside it, and the difference.  The instruction count of
# the round is callgrind's (valgrind), natively on this machine only:
# Debian 12's qemu has the plugin interface but ships no libinsn plugin,
# and perf has no hardware counters in this VM.
# bench: no inputs (it makes its own)
set -eu
. bench/lib.sh

top=$(pwd)
WORK=$top/$WORK
FMNIST=/usr/share/datasets/fashion-mnist
D=$WORK/device
rm -rf "$D"
mkdir -p "$D"
PEAK=$WORK/peak
[ -x "$PEAK" ] || ${CC:-cc} -O2 -std=c11 -o "$PEAK" bench/peak.c

arches=native
for a in $("$top"/tools/cross list); do
	t=$("$top"/tools/cross triplet "$a")
	command -v "$t-gcc" > /dev/null 2>&1 &&
	    command -v "$("$top"/tools/cross qemu "$a")" > /dev/null 2>&1 &&
	    arches="$arches $a"
done

# Builds (quietly): the separate programs, fl and fl static.
for a in $arches; do
	if [ "$a" = native ]; then
		make -s -j2 all fl fl-static > /dev/null
	else
		make -s -j2 ARCH="$a" all fl fl-static > /dev/null
	fi
done
dir() {
	if [ "$1" = native ]; then echo "$top/bin"; else
		echo "$top/build/$("$top"/tools/cross triplet "$1")/bin"; fi
}
strip_of() {
	if [ "$1" = native ]; then echo strip; else
		echo "$("$top"/tools/cross triplet "$1")-strip"; fi
}
# runner ARCH: the command prefix that runs that architecture's programs
runner() {
	[ "$1" = native ] && return 0
	t=$("$top"/tools/cross triplet "$1")
	printf '%s -L /usr/%s' "$("$top"/tools/cross qemu "$1")" "$t"
}
kib() { echo "$(( ($1 + 512) / 1024 ))"; }

# ---- sizes ----
echo "## On a device: sizes, memory and instructions of a round"
echo
echo "Made by \`BENCH_SECTIONS=21 make bench\` (bench/21-device.sh)."
echo "Architectures: $arches (native is $(uname -m); the others are"
echo "cross-built with Debian's toolchains, \`make ARCH=...\`)."
echo
echo "### Stripped sizes (KiB)"
echo
echo "Each program stripped (\`STRIP\`), their sum, the multi-call \`fl\`"
echo "dynamic (stripped) and static (\`make fl-static\`: static, stripped;"
echo "s390x's programs are static already, see the Makefile)."
echo
printf '| program |'
for a in $arches; do printf ' %s |' "$a"; done
echo
printf '|---|'
for a in $arches; do printf -- '---|'; done
echo
for p in $(cd bin && ls fl-* | grep -v '\.[cod]$'); do
	printf '| %s |' "$p"
	for a in $arches; do
		$(strip_of "$a") -o "$D/s" "$(dir "$a")/$p"
		printf ' %s |' "$(kib "$(stat -c %s "$D/s")")"
	done
	echo
done
for row in sum fl fl-static; do
	printf '| **%s** |' "$row"
	for a in $arches; do
		case $row in
		sum)
			n=0
			for p in "$(dir "$a")"/fl-*; do
				case $p in *.[cod]) continue ;; esac
				$(strip_of "$a") -o "$D/s" "$p"
				n=$((n + $(stat -c %s "$D/s")))
			done ;;
		fl)
			$(strip_of "$a") -o "$D/s" "$(dir "$a")/fl"
			n=$(stat -c %s "$D/s") ;;
		fl-static) n=$(stat -c %s "$(dir "$a")/static/fl") ;;
		esac
		printf ' %s |' "$(kib "$n")"
		eval "size_$(echo "$row" | tr -d -)_$a=$n"
	done
	echo
done
echo

# ---- the device round ----
if [ ! -r "$FMNIST/train-images-idx3-ubyte.gz" ]; then
	printf 'The round: skipped, no Fashion-MNIST (%s).\n\n' "$FMNIST"
	exit 0
fi
B=$top/bin
cd "$D"
# 3000 shards of the training set: the first holds 20 examples.
"$B/fl-split" -n 3000 --iid --seed device -p c \
    "$FMNIST/train-images-idx3-ubyte.gz" > /dev/null
examples=$("$B/fl-inspect" c0000.flt | sed -n 's/.*x  *[a-z0-9]*  *\[\([0-9]*\),.*/\1/p' | head -1)
"$B/fl-init" -a mlp:784-64-10 --seed device -o global.flt
# The secure-aggregation setup of a roster of 10 (examples/secagg.sh).
n=10
"$B/fl-mask" --make-identity --client op -i op.id --seed device -o op.pub
i=1
while [ "$i" -le "$n" ]; do
	"$B/fl-mask" --make-identity --client "c$i" -i "c$i.id" --operator op.pub \
	    --seed "device-$i" -o "c$i.idpub"
	i=$((i + 1))
done
cat c*.idpub | "$B/fl-mask" --make-enrolment -i op.id -o enrolment.flt
i=1
while [ "$i" -le "$n" ]; do
	"$B/fl-mask" --keygen --round 0 -k "c$i.key" -i "c$i.id" \
	    --seed "device-$i" -o "c$i.pub"
	i=$((i + 1))
done
cat c*.pub | "$B/fl-mask" --make-roster -e enrolment.flt -o roster.flt
i=1
while [ "$i" -le "$n" ]; do
	"$B/fl-mask" --share -k "c$i.key" -r roster.flt -e enrolment.flt \
	    -o "c$i.shares"
	i=$((i + 1))
done
cat c*.shares > shares.flt
k=$("$B/fl-inspect" roster.flt | sed -n 's/^  secagg\.k=//p')

# The round's stages, each "name|command" run by $F (the fl under test).
stages() {
	cat <<STAGES
train|\$F train -q -m global.flt -e 1 -b 10 --lr 0.1 --seed device -o u.flt c0000.flt
clip|\$F clip-noise --clip 1 --indicator -o clip.flt u.flt
ring|\$F quantize --ring 16 --clients $n --noise 1 --seed device -o ring.flt clip.flt
noise shares|\$F clip-noise --noise 1 --shares $n -m discrete-gaussian --seed device -o noised.flt ring.flt
mask|\$F mask -k c1.key -r roster.flt -s shares.flt -o masked.flt noised.flt
STAGES
}
# round ARCH: "max_kb" of the stages, each stage's to $D/rss-ARCH; the
# masked output kept as masked-ARCH.flt.
round() {
	F="$(runner "$1") $(dir "$1")/static/fl"
	cp c1.key.orig c1.key 2> /dev/null || cp c1.key c1.key.orig
	rm -f masked.flt
	: > "rss-$1"
	stages | while IFS='|' read -r name cmd; do
		# shellcheck disable=SC2086 # $F is a command line
		out=$(eval "\"$PEAK\" $cmd")
		set -- $out
		[ "$1" = 0 ] || { echo "bench: $name on $a failed" >&2; exit 1; }
		echo "$name $3" >> "rss-$a"
	done
	cp masked.flt "masked-$a.flt"
}
echo "### A device's round: peak RSS (KiB)"
echo
echo "fl train on $examples Fashion-MNIST examples (mlp:784-64-10, one epoch,"
echo "batch 10), then fl clip-noise --clip 1 --indicator, fl quantize --ring 16,"
echo "fl clip-noise --shares $n -m discrete-gaussian and fl mask in a roster of"
echo "$n (secagg.k=$k), each stage a process of the static \`fl\`; the peak"
echo "is the largest stage's (bench/peak.c).  Under qemu the figure is"
echo "qemu's process, the guest program and the emulator together: the"
echo "row \"qemu alone\" is qemu running \`fl --version\`, and \"round - qemu"
echo "alone\" an estimate of the program's own."
echo
printf '| stage |'
for a in $arches; do printf ' %s |' "$a"; done
echo
printf '|---|'
for a in $arches; do printf -- '---|'; done
echo
for a in $arches; do
	round "$a" > /dev/null
	out=$(eval "\"$PEAK\" $(runner "$a") $(dir "$a")/static/fl --version")
	set -- $out
	echo "qemu-alone $3" >> "rss-$a"
done
for name in train clip ring noise mask qemu-alone; do
	printf '| %s |' "$name"
	for a in $arches; do
		v=$(awk -v s="$name" '$1 == s { print $NF }' "rss-$a")
		[ "$a" = native ] && [ "$name" = qemu-alone ] && v=-
		printf ' %s |' "$v"
	done
	echo
done
printf '| **round (largest stage)** |'
for a in $arches; do
	m=$(awk '$1 != "qemu-alone" && $NF > m { m = $NF } END { print m }' "rss-$a")
	q=$(awk '$1 == "qemu-alone" { print $NF }' "rss-$a")
	eval "peak_$a=$m qemu_$a=$q"
	printf ' %s |' "$m"
done
echo
printf '| **round - qemu alone** |'
for a in $arches; do
	eval "m=\$peak_$a q=\$qemu_$a"
	if [ "$a" = native ]; then printf ' %s |' "$m"; else
		printf ' %s |' "$((m - q))"; fi
done
echo
echo
same=yes
for a in $arches; do
	cmp -s masked-native.flt "masked-$a.flt" || same="no ($a differs)"
done
echo "The masked update is the same bytes on every architecture: $same."
echo

# ---- instructions (callgrind, natively) ----
echo "### Instructions of the round (x86-64, callgrind)"
echo
echo "Instructions executed (callgrind's Ir, the static \`fl\` of this"
echo "machine), a machine-independent cost beside the seconds of a shared"
echo "machine."
echo
echo "| stage | instructions |"
echo "|---|---|"
F="valgrind --tool=callgrind --callgrind-out-file=/dev/null $top/bin/static/fl"
cp c1.key.orig c1.key
total=0
stages > stages.txt
while IFS='|' read -r name cmd; do
	ir=$(eval "$cmd" 2>&1 | sed -n 's/.*Collected : *//p')
	total=$((total + ir))
	echo "| $name | $ir |"
done < stages.txt
echo "| **round** | $total |"
echo

if [ -n "$(echo "$arches" | grep -w aarch64)" ]; then
	target "static stripped aarch64 fl <= 1.5 MB" \
	    "$(kib "$size_flstatic_aarch64") KiB" \
	    "$([ "$size_flstatic_aarch64" -le 1500000 ] && echo 1 || echo 0)"
	rss=$((peak_aarch64 - qemu_aarch64))
	target "device round RSS <= 8 MB on aarch64 (qemu's own subtracted)" \
	    "$rss KiB ($peak_aarch64 KiB with qemu)" \
	    "$([ "$rss" -le 8000 ] && echo 1 || echo 0)"
fi
