#!/usr/bin/env bats
# make install and uninstall honour PREFIX and DESTDIR: programs, man pages
# and completions (bash under every program name, zsh's _fl), libfl
# (libfl.a, its public headers, fl.pc), which examples/libfl/mask-sum.c
# links to clip, noise and mask updates in process, and the examples that
# run installed (the cron deployment, flt.py) under share/fltools, where
# the installed crontab points; make install-strip strips the programs.

load helper

@test "make install puts programs, man pages and completions under DESTDIR/PREFIX" {
	local root=$BATS_TEST_TMPDIR/root p
	run -0 make -s -C "$TOP" install DESTDIR="$root" PREFIX=/opt/fl
	for p in $(fl_programs); do
		[ -x "$root/opt/fl/bin/$p" ] || fail "no $p in bin"
		[ -f "$root/opt/fl/share/man/man1/$p.1" ] || fail "no $p.1"
		cmp -s "$TOP/completions/fl.bash" \
		    "$root/opt/fl/share/bash-completion/completions/$p" ||
		    fail "no bash completion under the name $p"
		run -0 "$root/opt/fl/bin/$p" --version
	done
	# the multi-call binary beside them, with its completion
	run -0 "$root/opt/fl/bin/fl" --version
	cmp -s "$TOP/completions/fl.bash" \
	    "$root/opt/fl/share/bash-completion/completions/fl"
	[ -f "$root/opt/fl/share/man/man5/flt.5" ] || fail "no flt.5"
	[ -f "$root/opt/fl/share/man/man7/fl.7" ] || fail "no fl.7"
	[ -f "$root/opt/fl/share/zsh/site-functions/_fl" ] || fail "no _fl"
	[ -f "$root/opt/fl/lib/libfl.a" ] || fail "no libfl.a"
	[ -f "$root/opt/fl/include/fl/fl.h" ] || fail "no fl.h"
	[ -f "$root/opt/fl/include/fl/privacy/privacy.h" ] || fail "no privacy.h"
	run find "$root/opt/fl/include" -name internal.h
	assert_output ""
	[ -f "$root/opt/fl/lib/pkgconfig/fl.pc" ] || fail "no fl.pc"
	# The examples that run installed, under share/fltools.
	local share=$root/opt/fl/share/fltools f
	for f in cron/server.sh cron/client.sh cron/https/make-ca.sh \
	    cron/https/start-nginx.sh; do
		[ -x "$share/$f" ] || fail "no $f"
		cmp "$TOP/examples/$f" "$share/$f"
	done
	for f in cron/common.sh cron/plot.gp cron/README \
	    cron/https/nginx.conf.in python/flt.py; do
		cmp "$TOP/examples/$f" "$share/$f"
	done
	[ "$(find "$share" -type f | wc -l)" = 10 ]
	# The installed crontab: its PATH holds the programs, and every
	# script it runs is there.
	run grep -c /opt/fl/ "$share/cron/crontab"
	assert_output 3
	grep -qx 'PATH=/opt/fl/bin:/usr/bin:/bin' "$share/cron/crontab"
	for f in $(grep -o '/opt/fl/[^ ]*\.sh' "$share/cron/crontab"); do
		[ -x "$root$f" ] || fail "the crontab's $f is not installed"
	done
	# server.sh runs from there, with the installed programs: it makes
	# the model, then wants the operator's enrolment.
	FL_ROUNDS=$PWD/rounds FL_BIN=$root/opt/fl/bin run "$share/cron/server.sh"
	assert_failure 1
	assert_output --partial "no $PWD/rounds/../server/enrolment.flt"
	[ "$(fl-inspect -g round server/model.flt)" = 0 ]
	run -0 make -s -C "$TOP" uninstall DESTDIR="$root" PREFIX=/opt/fl
	run -0 find "$root" -type f
	assert_output ""
}

@test "libfl installed: fl.pc builds examples/libfl/mask-sum.c, whose masks cancel in the sum" {
	command -v pkg-config > /dev/null || skip "no pkg-config"
	# Under make sanitize its build (O, CC, CFLAGS) reaches this make
	# install: that libfl.a is instrumented, so the example is built with
	# the same compiler and sanitizers, and runs under them.
	local root=$BATS_TEST_TMPDIR/root cc=cc san=
	if [ -n "${FL_SANITIZE:-}" ]; then
		cc=clang san=-fsanitize=address,undefined
	fi
	run -0 make -s -C "$TOP" install DESTDIR="$root" PREFIX=/opt/fl
	export PKG_CONFIG_PATH=$root/opt/fl/lib/pkgconfig
	export PKG_CONFIG_SYSROOT_DIR=$root
	run -0 pkg-config --modversion fl
	assert_output "$(sed -n 's/^#define FL_VERSION "\(.*\)"$/\1/p' "$TOP/lib/base/base.h")"
	# The public headers stand alone, strictly.
	printf '#include <fl.h>\nint main(void) { return 0; }\n' > empty.c
	# shellcheck disable=SC2046 # pkg-config's words
	run -0 $cc -std=c11 -Wall -Wextra -Werror -pedantic $san -o empty empty.c $(pkg-config --cflags --libs fl)
	# shellcheck disable=SC2046
	run -0 $cc -std=c11 -Wall -Wextra -Werror -O2 $san -o mask-sum \
	    "$TOP/examples/libfl/mask-sum.c" $(pkg-config --cflags --libs fl)
	run -0 ./mask-sum
	assert_line "the masks cancelled"
	assert_line --regexp "^device 1's masked vector alone, decoded: mean \|value\| 0\.[1-9]"
}

@test "make install MULTICALL=1 installs fl and links fl-X to it; completions for both forms" {
	local root=$BATS_TEST_TMPDIR/root p bin
	run -0 make -s -C "$TOP" install MULTICALL=1 DESTDIR="$root" PREFIX=/opt/fl
	bin=$root/opt/fl/bin
	[ -x "$bin/fl" ] && [ ! -L "$bin/fl" ] || fail "no fl in bin"
	for p in $(fl_programs); do
		[ "$(readlink "$bin/$p")" = fl ] || fail "$p is not a link to fl"
		run -0 "$bin/$p" --version
		assert_output --regexp "^$p \(fltools\) "
		run -0 "$bin/fl" "${p#fl-}" --version
		assert_output --regexp "^$p \(fltools\) "
	done
	cmp "$TOP/completions/fl.bash" "$root/opt/fl/share/bash-completion/completions/fl"
	head -n 1 "$root/opt/fl/share/zsh/site-functions/_fl" | grep -q '^#compdef fl '
	# the bash completion of the installed form, through the links
	run bash -c 'PATH=$1:$PATH
		source /usr/share/bash-completion/bash_completion
		source "$2/fl"
		COMP_LINE="fl train --epo" COMP_POINT=${#COMP_LINE}
		COMP_WORDS=(fl train --epo) COMP_CWORD=2
		_fl_multi fl --epo train 2>/dev/null; printf "%s\n" "${COMPREPLY[@]}"' _ \
	    "$bin" "$root/opt/fl/share/bash-completion/completions"
	assert_output "--epochs="
	run -0 make -s -C "$TOP" uninstall DESTDIR="$root" PREFIX=/opt/fl
	run find "$root/opt/fl/bin" "$root/opt/fl/share/bash-completion" \
	    -type f -o -type l
	assert_output ""
}

@test "make install-strip installs the programs stripped" {
	command -v readelf > /dev/null || skip "no readelf"
	local root=$BATS_TEST_TMPDIR/root p
	run -0 make -s -C "$TOP" install-strip DESTDIR="$root" PREFIX=/opt/fl
	for p in $(fl_programs); do
		run -0 readelf -S "$root/opt/fl/bin/$p"
		refute_output --partial .symtab
		refute_output --partial .debug_info
		run -0 "$root/opt/fl/bin/$p" --version
	done
	# (the tree's own are not)
	run -0 readelf -S "${FL_REAL_BIN:-${FL_BIN:-$TOP/bin}}/fl-inspect"
	assert_output --partial .symtab
	[ -x "$root/opt/fl/share/fltools/cron/server.sh" ]
}
