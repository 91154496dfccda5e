# fltools - federated learning with real privacy, as Unix tools.
# make [all] | check | sanitize | valgrind | fuzz | bench | install | install-strip | deps | lint

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
# The examples that run installed: the cron deployment (with its HTTPS
# parts) and flt.py.
DATADIR ?= $(PREFIX)/share/fltools
# make install-strip: the programs stripped.
INSTALL_STRIP ?=

# Cross builds (the device guide in README.md): `make ARCH=aarch64` (or
# CROSS=aarch64-linux-gnu; tools/cross list names armhf and s390x too) builds
# with Debian's crossbuild-essential toolchain and that architecture's
# multiarch libraries (`tools/deps cross aarch64` installs them) into
# build/TRIPLET, never over bin/.  Run programs with $(QEMU) (qemu-user).
ARCH ?=
ifneq ($(ARCH),)
CROSS := $(shell tools/cross triplet $(ARCH))
ifeq ($(CROSS),)
$(error ARCH=$(ARCH): not in tools/cross list)
endif
endif
CROSS ?=
# STATIC=1 (with ARCH=): every program linked static, into
# build/TRIPLET-static.  Under this machine's qemu-user a dynamically
# linked aarch64 or armhf program hangs (or crashes) when it starts a
# second thread, in the dynamic loader's code (bench/RESULTS-21.md);
# static ones run, so the threaded tests run under qemu this way.
STATIC ?=
ifneq ($(CROSS),)
O ?= build/$(CROSS)$(if $(STATIC),-static)
CC = $(CROSS)-gcc
AR = $(CROSS)-ar
STRIP = $(CROSS)-strip
# What tools/deps unpacked where multiarch could not install it (zlib on s390x).
CROSS_ROOT = /opt/fl-cross/$(CROSS)
ifneq ($(wildcard $(CROSS_ROOT)/usr/include),)
CROSS_CPPFLAGS = -I$(CROSS_ROOT)/usr/include
CROSS_LDFLAGS = -L$(CROSS_ROOT)/usr/lib/$(CROSS)
QEMU_ENV = -E LD_LIBRARY_PATH=$(CROSS_ROOT)/lib/$(CROSS)
endif
# GCC has no __int128 on 32-bit ARM, which the exact arithmetic uses; clang
# has it with -fforce-enable-int128, and lib/base/int128.c supplies the
# helpers (__udivti3 ...) that neither libgcc nor compiler-rt has there.
ifeq ($(CROSS),arm-linux-gnueabihf)
CC = clang --target=$(CROSS) -fforce-enable-int128
CROSS_CPPFLAGS += -DFL_INT128_BUILTINS
endif
# Debian 12's qemu-s390x (7.2) aborts every dynamically linked s390x program
# at start ("stack smashing detected", a hello world too); static ones run.
ifeq ($(CROSS),s390x-linux-gnu)
CROSS_LDFLAGS += -static
# GCC evaluates float arithmetic in double on s390x under -std=c11
# (FLT_EVAL_METHOD 1): a clipped update would round once where every other
# machine rounds twice.  "fast" is the hardware's float arithmetic, IEEE
# single as elsewhere; lib/base/num.c refuses a build without it.
CROSS_CPPFLAGS += -fexcess-precision=fast
endif
ifneq ($(STATIC),)
CROSS_LDFLAGS += -static
endif
QEMU = $(shell tools/cross qemu $(CROSS)) -L /usr/$(CROSS) $(QEMU_ENV)
endif
STRIP ?= strip

# O is the build directory: "." builds in the tree (lib/libfl.a, bin/fl-*);
# the sanitizer build goes to build/sanitize so both can coexist.
O ?= .
B = $(if $(filter .,$(O)),,$(O)/)
CC ?= cc
CFLAGS ?= -O2 -g
WARN = -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wno-missing-field-initializers
ALL_CPPFLAGS = -D_DEFAULT_SOURCE -Ilib $(CROSS_CPPFLAGS) $(CPPFLAGS)
ALL_CFLAGS = $(WARN) $(CFLAGS) -pthread -MMD -MP
LDLIBS_ALL = $(CROSS_LDFLAGS) -pthread -Wl,--as-needed -lsodium -lcsv -lz -lm $(LDLIBS)

LIB_SRC = $(sort $(wildcard lib/*/*.c))
LIB_HDR = $(sort $(wildcard lib/*.h lib/*/*.h))
# The installed headers: fl.h and each folder's public header, not the
# internal ones.
PUB_HDR = $(filter-out %/internal.h,$(wildcard lib/*/*.h))
TOOL_SRC = bin/tool.c
PROG_SRC = $(sort $(wildcard bin/fl-*.c))
PROGS = $(patsubst bin/%.c,%,$(PROG_SRC))
LIB_OBJ = $(patsubst %.c,$(B)%.o,$(LIB_SRC))
TOOL_OBJ = $(patsubst %.c,$(B)%.o,$(TOOL_SRC))
BIN = $(addprefix $(B)bin/,$(PROGS))
LIBA = $(B)lib/libfl.a
UNIT = $(B)tests/unit/unit
MAN1 = $(sort $(wildcard man/man1/*.1))
MAN5 = $(sort $(wildcard man/man5/*.5))
MAN7 = $(sort $(wildcard man/man7/*.7))

FUZZ_SECONDS ?= 60
FUZZERS = record values data secagg ledger
SAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all

comma = ,
.PHONY: all fl fl-static check check-cross check-cross-ci sanitize valgrind fuzz fuzz-build bench demo install install-strip deps-bench \
	uninstall clean deps lint
.DELETE_ON_ERROR:

all: $(LIBA) $(BIN)

# The multi-call binary (bin/fl.c): every program once more, compiled with
# -Dmain=fl_X_main, behind one dispatcher; `fl train` or a link fl-train.
# `make fl-static` links it static and stripped (the device build; with
# ARCH= for a board).  The separate programs stay the default build.
MC_OBJ = $(patsubst bin/%.c,$(B)bin/mc/%.o,$(PROG_SRC))
FL_PROGS = $(foreach p,$(PROGS),FL_PROG($(subst -,_,$(patsubst fl-%,%,$(p)))))
MC = $(B)bin/fl

$(B)bin/mc/fl-%.o: bin/fl-%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) -Dmain=fl_$(subst -,_,$*)_main $(ALL_CFLAGS) \
	    -Wno-missing-prototypes -c -o $@ $<

$(B)bin/fl.o: bin/fl.c Makefile
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) -DFL_PROGS='$(FL_PROGS)' $(ALL_CFLAGS) -c -o $@ $<

$(MC): $(B)bin/fl.o $(MC_OBJ) $(TOOL_OBJ) $(LIBA)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(B)bin/fl.o $(MC_OBJ) $(TOOL_OBJ) \
	    $(LIBA) $(LDLIBS_ALL)

fl: $(MC)

# Static and stripped, with its links: $(B)bin/static/fl and fl-X -> fl.
fl-static: $(B)bin/static/fl
$(B)bin/static/fl: $(B)bin/fl.o $(MC_OBJ) $(TOOL_OBJ) $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -static -s -o $@ $(B)bin/fl.o $(MC_OBJ) \
	    $(TOOL_OBJ) $(LIBA) $(filter-out -Wl$(comma)--as-needed,$(LDLIBS_ALL))
	for p in $(PROGS); do ln -sf fl $(@D)/$$p; done

$(B)%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(LIBA): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $(LIB_OBJ)

$(B)bin/fl-%: $(B)bin/fl-%.o $(TOOL_OBJ) $(LIBA)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(TOOL_OBJ) $(LIBA) $(LDLIBS_ALL)

$(UNIT): $(patsubst %.c,$(B)%.o,$(sort $(wildcard tests/unit/*.c))) $(LIBA)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

# The README's test command.  FL_BIN says where the programs under test are.
# TESTS picks the files (default: every tests/*.bats).
TESTS ?=
check: all $(MC) $(UNIT)
	FL_BIN=$(abspath $(B)bin) FL_UNIT=$(abspath $(UNIT)) tests/run $(TESTS)

# The suite under ASan and UBSan, but for the files that check documents,
# the HTTPS transport (nginx and curl) and the PyTorch scripts: text and
# scripts, whose programs' paths the other files run.
SANITIZE_TESTS ?= $(filter-out tests/docs.bats tests/https.bats \
	tests/torch.bats,$(sort $(wildcard tests/*.bats)))
sanitize:
	$(MAKE) O=build/sanitize CC=clang CFLAGS='$(SAN_FLAGS)' \
	    LDFLAGS='-fsanitize=address,undefined' check FL_SANITIZE=1 \
	    TESTS='$(SANITIZE_TESTS)'

# Every program under valgrind; leaks and memory errors fail the test.
# VALGRIND_TESTS picks the files (the whole suite takes long).
VALGRIND_TESTS ?= tests/unit.bats tests/fl-inspect.bats tests/fl-pack.bats
valgrind: all $(UNIT)
	FL_BIN=$(abspath $(B)bin) FL_UNIT=$(abspath $(UNIT)) FL_VALGRIND=1 \
	    tests/run $(VALGRIND_TESTS)

# The suite under qemu-user for one cross architecture (ARCH=aarch64, armhf
# or s390x; tools/deps cross ARCH installs what it needs).  CROSS_TESTS
# picks the files, by default the unit tests (with the secure-aggregation
# known-answer vectors), the record format and its golden records, the
# programs of a device's round and the multi-call binary;
# CROSS_TESTS="$$(ls tests/*.bats)" is the whole suite: python, torch,
# nginx, sshd and the shells run natively around the emulated programs.
# Measured under qemu-aarch64 on this 2-core machine (bench/RESULTS-21.md,
# 2026-12-07): 28 of the 35 files, 444 tests pass, 0 skipped; the files
# that run a program with -j 2 or more never finish with dynamically
# linked programs, because a dynamic two-thread guest program hangs under
# this machine's qemu-user (in ld.so; a 6-line pthread program does):
# with STATIC=1 (static programs) the other 7 pass too (fl-clip-noise,
# fl-train, fl-eval, fl-mask, format, examples, demo).  make check-cross-ci
# runs CROSS_CI_TESTS, the subset .ci/run runs for aarch64 and armhf: the
# unit tests (known-answer vectors, int128), the seeded derivations' golden
# records (tests/derived.bats, a few seconds) and the multi-call binary, 67
# tests in 2.4 minutes per architecture measured on this 2-core machine
# under a load of 7 (the build included), against ~13 minutes for
# format.bats alone on armhf before its per-mutant sweeps were skipped
# under qemu: CI grows by about 6 minutes (tools/deps cross included).
CROSS_TESTS ?= tests/unit.bats tests/derived.bats tests/format.bats tests/fl-pack.bats \
	tests/fl-inspect.bats tests/fl-train.bats tests/fl-clip-noise.bats \
	tests/fl-quantize.bats tests/fl-mask.bats tests/fl-aggregate.bats \
	tests/multicall.bats
CROSS_CI_TESTS = tests/unit.bats tests/derived.bats tests/multicall.bats
check-cross-ci:
	$(MAKE) check-cross CROSS_TESTS='$(CROSS_CI_TESTS)'

check-cross:
	@[ -n "$(CROSS)" ] || { echo "make check-cross: say ARCH= ($$(tools/cross list))" >&2; exit 2; }
	$(MAKE) all $(MC) $(UNIT)
	FL_BIN=$(abspath $(B)bin) FL_UNIT=$(abspath $(UNIT)) \
	    FL_QEMU='$(QEMU)' FL_CC='$(CC)' tests/run $(CROSS_TESTS)

fuzz-build: $(addprefix build/fuzz/fuzz-,$(FUZZERS))

# The library is compiled once for all fuzzers (instrumented for coverage,
# ASan and UBSan), each harness links it.
FUZZ_FLAGS = -std=c11 -D_DEFAULT_SOURCE -Ilib -g -O1 -pthread -MMD -MP \
	-fno-sanitize-recover=all
FUZZ_OBJ = $(patsubst %.c,build/fuzz/obj/%.o,$(LIB_SRC))
.SECONDARY: $(FUZZ_OBJ)

build/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link,address,undefined \
	    -c -o $@ $<

build/fuzz/fuzz-%: tests/fuzz/fuzz-%.c $(FUZZ_OBJ)
	@mkdir -p $(@D)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer,address,undefined \
	    -o $@ $< $(FUZZ_OBJ) -lsodium -lcsv -lz -lm

-include $(FUZZ_OBJ:.o=.d) $(patsubst %,build/fuzz/fuzz-%.d,$(FUZZERS))

# Each fuzzer runs FUZZ_SECONDS from the seed corpus; new inputs it finds go
# to build/fuzz/corpus-NAME, never into the checked-in seeds.  They are
# independent single-process runs: `make -j2 fuzz` runs two at a time.
fuzz: $(addprefix fuzz-run-,$(FUZZERS))

fuzz-run-%: build/fuzz/fuzz-%
	@mkdir -p build/fuzz/corpus-$*
	@build/fuzz/fuzz-$* -max_total_time=$(FUZZ_SECONDS) \
	    -max_len=65536 -print_final_stats=1 \
	    build/fuzz/corpus-$* tests/fuzz/corpus-$* \
	    2>build/fuzz/fuzz-$*.log || { tail -50 build/fuzz/fuzz-$*.log; exit 1; }
	@echo "fuzz-$*: $(FUZZ_SECONDS) s, $$(grep -E 'stat::number_of_executed_units' build/fuzz/fuzz-$*.log | tr -s ' ' | cut -d' ' -f2) inputs"

bench: all
	bench/run

# A private federated training on Fashion-MNIST (synthetic data without
# the dataset package): DEMO_DIR keeps the results, DEMO_ARGS are passed to
# examples/simulate.sh (its --help lists them).  The simulation works in
# memory (/dev/shm when there is one) and copies its results to DEMO_DIR.
DEMO_DIR ?= demo
DEMO_ARGS ?=
demo: all
	FL_BIN=$(abspath $(B)bin) examples/simulate.sh --results $(abspath $(DEMO_DIR)) $(DEMO_ARGS)

# Man pages (mandoc and groff, whose mdoc differs: an author named Li is
# its .Li macro unless escaped), the completions, and libfl's layering (lib/LAYERS) over the
# built objects.
lint: all
	mandoc -T lint -W warning $(MAN1) $(MAN5) $(MAN7)
	@for m in $(MAN1) $(MAN5) $(MAN7); do \
	    w=$$(groff -mdoc -ww -z -Tutf8 $$m 2>&1); \
	    [ -z "$$w" ] || { echo "groff: $$m: $$w"; exit 1; }; \
	done
	shellcheck tools/layers
	tools/layers
	bash -n completions/fl.bash
	shellcheck -s bash completions/fl.bash

# make install MULTICALL=1 (a device's form): fl and links fl-X -> fl
# instead of the separate programs; by default both are installed.
MULTICALL ?=
install: all $(MC)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 \
	    $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	install -m 755 $(INSTALL_STRIP) $(MC) $(DESTDIR)$(BINDIR)
	if [ -n "$(MULTICALL)" ]; then \
	    for p in $(PROGS); do ln -sf fl $(DESTDIR)$(BINDIR)/$$p; done; \
	else \
	    install -m 755 $(INSTALL_STRIP) $(BIN) $(DESTDIR)$(BINDIR); \
	fi
	install -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1
	install -m 644 $(MAN5) $(DESTDIR)$(MANDIR)/man5
	install -m 644 $(MAN7) $(DESTDIR)$(MANDIR)/man7
	for p in fl $(PROGS); do \
	    install -m 644 completions/fl.bash $(DESTDIR)$(BASHCOMPDIR)/$$p; \
	done
	install -m 644 completions/_fl $(DESTDIR)$(ZSHCOMPDIR)/_fl
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	    $(addprefix $(DESTDIR)$(INCLUDEDIR)/fl/,$(patsubst lib/%,%,$(dir $(PUB_HDR))))
	install -m 644 $(LIBA) $(DESTDIR)$(LIBDIR)/libfl.a
	install -m 644 lib/fl.h $(DESTDIR)$(INCLUDEDIR)/fl/fl.h
	for h in $(patsubst lib/%,%,$(PUB_HDR)); do \
	    install -m 644 lib/$$h $(DESTDIR)$(INCLUDEDIR)/fl/$$h; \
	done
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e "s|@VERSION@|$$(sed -n 's/^#define FL_VERSION \"\(.*\)\"$$/\1/p' lib/base/base.h)|" \
	    lib/fl.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/fl.pc
	install -d $(DESTDIR)$(DATADIR)/cron/https $(DESTDIR)$(DATADIR)/python
	install -m 755 examples/cron/server.sh examples/cron/client.sh \
	    $(DESTDIR)$(DATADIR)/cron
	install -m 644 examples/cron/common.sh examples/cron/plot.gp \
	    examples/cron/README $(DESTDIR)$(DATADIR)/cron
	sed -e 's|/usr/local/share/fltools|$(DATADIR)|g' \
	    -e 's|^PATH=/usr/local/bin:|PATH=$(BINDIR):|' examples/cron/crontab \
	    > $(DESTDIR)$(DATADIR)/cron/crontab
	install -m 755 examples/cron/https/make-ca.sh \
	    examples/cron/https/start-nginx.sh $(DESTDIR)$(DATADIR)/cron/https
	install -m 644 examples/cron/https/nginx.conf.in \
	    $(DESTDIR)$(DATADIR)/cron/https
	install -m 644 examples/python/flt.py $(DESTDIR)$(DATADIR)/python

install-strip:
	$(MAKE) install INSTALL_STRIP=-s

uninstall:
	for p in fl $(PROGS); do \
	    rm -f $(DESTDIR)$(BINDIR)/$$p $(DESTDIR)$(BASHCOMPDIR)/$$p; \
	done
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(MAN1))) \
	    $(addprefix $(DESTDIR)$(MANDIR)/man5/,$(notdir $(MAN5))) \
	    $(addprefix $(DESTDIR)$(MANDIR)/man7/,$(notdir $(MAN7))) \
	    $(DESTDIR)$(ZSHCOMPDIR)/_fl
	rm -f $(DESTDIR)$(LIBDIR)/libfl.a $(DESTDIR)$(PKGCONFIGDIR)/fl.pc
	rm -rf $(DESTDIR)$(INCLUDEDIR)/fl $(DESTDIR)$(DATADIR)

deps:
	@tools/deps

deps-bench:
	@tools/deps --bench

clean:
	rm -rf bin/mc bin/static
	rm -f lib/*/*.o lib/*/*.d lib/libfl.a bin/*.o bin/*.d bin/fl $(addprefix bin/,$(PROGS)) \
	    tests/unit/*.o tests/unit/*.d tests/unit/unit
	rm -rf build

-include $(wildcard $(B)lib/*/*.d $(B)bin/*.d $(B)bin/mc/*.d $(B)tests/unit/*.d)
.SECONDARY: $(patsubst %.c,$(B)%.o,$(PROG_SRC)) $(MC_OBJ)
