#!/usr/bin/env bats
# make install and uninstall honour PREFIX and DESTDIR: programs, man pages
# and completions (bash under every program name, zsh's _fl).

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
	[ -f "$root/opt/fl/share/man/man5/flt.5" ] || fail "no flt.5"
	[ -f "$root/opt/fl/share/man/man7/fl.7" ] || fail "no fl.7"
	[ -f "$root/opt/fl/share/zsh/site-functions/_fl" ] || fail "no _fl"
	run -0 make -s -C "$TOP" uninstall DESTDIR="$root" PREFIX=/opt/fl
	run -0 find "$root" -type f
	assert_output ""
}
