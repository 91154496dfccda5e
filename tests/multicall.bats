#!/usr/bin/env bats
# The multi-call binary fl (bin/fl.c, make fl): `fl X` and a link named
# fl-X give the same bytes and messages as the separate program fl-X.

load helper

setup() {
	FL=${FL_BIN:-$TOP/bin}/fl
	[ -x "$FL" ] || fail "no $FL: make fl (make check builds it)"
	cd "$BATS_TEST_TMPDIR"
	# A directory of links fl-X -> fl, to the real binary (under
	# make check-cross, FL_BIN holds wrapper scripts).
	real=${FL_REAL_BIN:-${FL_BIN:-$TOP/bin}}
	mkdir links
	for p in $(fl_programs); do
		ln -s "$real/fl" "links/$p"
	done
}

# prog MODE NAME ARG...: run fl-NAME the MODE way: sep (the separate
# program), fl (fl NAME) or link (the link fl-NAME).
prog() {
	local mode=$1 name=$2
	shift 2
	case $mode in
	sep) "fl-$name" "$@" ;;
	fl) "$FL" "$name" "$@" ;;
	link) ${FL_QEMU:-} "$BATS_TEST_TMPDIR/links/fl-$name" "$@" ;;
	esac
}

@test "multicall: fl --help lists every program; --version; -h" {
	run -0 "$FL" --help
	for p in $(fl_programs); do
		grep -qx "  ${p#fl-}" <<< "$output" || fail "fl --help lacks ${p#fl-}"
	done
	run -0 "$FL" -h
	run -0 "$FL" --version
	assert_output --regexp '^fl \(fltools\) [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "multicall: an unknown program or none is a usage error (exit 2)" {
	run -2 "$FL" nosuch
	assert_output "fl: unknown program 'nosuch' (fl --help lists them)"
	run -2 "$FL"
	assert_line --index 0 "fl: no program named"
	ln -s "$real/fl" links/fl-nosuch
	run -2 ${FL_QEMU:-} "$BATS_TEST_TMPDIR/links/fl-nosuch" --help
	assert_output "fl: unknown program 'nosuch' (fl --help lists them)"
}

@test "multicall: every program's --help, --version and a usage error, three ways" {
	for p in $(fl_programs); do
		for how in "--help" "--version" "--no-such-option"; do
			run prog sep "${p#fl-}" $how
			local want=$output st=$status
			for mode in fl link; do
				run prog "$mode" "${p#fl-}" $how
				[ "$status" -eq "$st" ] && [ "$output" = "$want" ] ||
				    fail "$p $how through $mode: status $status (want $st), output differs"
			done
		done
	done
}

# pipeline MODE: a small round in the current directory, every program the
# MODE way; the files it leaves are compared between the modes.
pipeline() {
	local m=$1
	prog "$m" split --synthetic 40 --features 784 --classes 10 --seed 1 \
	    -n 2 -p part
	prog "$m" init -a mlp:784-64-10 --seed 1 -o global.flt
	prog "$m" train -q -m global.flt -e 1 -b 10 --lr 0.1 --seed 1 \
	    -o u.flt part0.flt
	prog "$m" clip-noise --clip 1 --indicator < u.flt |
	    prog "$m" quantize --ring 16 --clients 10 --noise 1 --seed r |
	    prog "$m" clip-noise --noise 1 --shares 10 -m discrete-gaussian \
	    --seed n > ring.flt
	prog "$m" quantize --bits 8 --seed q -o q.flt u.flt
	prog "$m" aggregate u.flt u.flt > agg.flt
	prog "$m" apply -m global.flt -s state.flt --optimizer avgm \
	    --server-lr 1 -o g2.flt agg.flt
	prog "$m" eval -m g2.flt part1.flt > eval.txt
	prog "$m" inspect ring.flt > inspect.txt
	prog "$m" stats --classes 10 -o stats.flt part0.flt
	prog "$m" pack -m kind=update -t 'w:f32:2=1,2' -o pack.flt
	prog "$m" account --sample -q 0.5 -N 10 --round=1 --seed c \
	    -o cohort.flt
	prog "$m" mask --make-identity --client c1 -i c1.id --seed m \
	    -o c1.pub
	# a bad input: the message names the program the same way
	prog "$m" inspect missing.flt 2> err.txt || true
}

@test "multicall: a round through fl X and through links gives the separate programs' bytes" {
	for mode in sep fl link; do
		mkdir "$mode"
		(cd "$mode" && pipeline "$mode") || fail "the $mode pipeline failed"
	done
	[ -s sep/ring.flt ]
	[ -s sep/cohort.flt ]
	[ -s sep/c1.pub ]
	assert_equal "$(cat sep/err.txt)" "fl-inspect: missing.flt: No such file or directory"
	for mode in fl link; do
		diff -r sep "$mode" || fail "the $mode pipeline's files differ"
	done
}
