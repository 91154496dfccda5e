#!/usr/bin/env bats
# The layering check (tools/layers, lib/LAYERS): it passes on the tree, and
# it catches each kind of violation planted in a copy.

load helper

@test "layers: the tree keeps lib/LAYERS" {
	run "$TOP/tools/layers"
	assert_success
	assert_output ""
}

@test "layers: an include upward, an include without a folder, a call upward and a cycle are each caught" {
	[ -n "$(ls "$TOP"/lib/*/*.o 2> /dev/null)" ] || skip "no objects in the tree (make)"
	mkdir t
	cp -r "$TOP/lib" t/
	# format may not use learn
	printf '#include "learn/learn.h"\n' >> t/lib/format/meta.c
	printf '#include "internal.h"\n' >> t/lib/base/num.c
	run "$TOP/tools/layers" t
	assert_failure
	assert_line "layers: lib/format/meta.c: includes learn/learn.h, but format may not use learn"
	assert_line "layers: lib/base/num.c: #include \"internal.h\" names no folder"
	# Two objects of base that call each other, and one that calls up.
	mkdir u
	cp -r "$TOP/lib" u/
	printf 'void ping(void);\nvoid pong(void) { ping(); }\n' > pong.c
	printf 'void pong(void);\nvoid ping(void) { pong(); }\n' > ping.c
	printf 'int fl_rng_init(void);\nint up(void) { return fl_rng_init(); }\n' > up.c
	cc -c -o u/lib/base/pong.o pong.c
	cc -c -o u/lib/base/ping.o ping.c
	cc -c -o u/lib/base/up.o up.c
	run "$TOP/tools/layers" u
	assert_failure
	assert_line --partial "layers: a cycle among the files' calls:"
	assert_output --partial "lib/base/ping.o lib/base/pong.o"
	assert_line "layers: lib/base/up.o: calls fl_rng_init in lib/privacy/rng.o, but base may not use privacy"
}
