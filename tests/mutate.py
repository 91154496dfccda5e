#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""mutate.py - damaged copies of a record, for the format tests.

    mutate.py write truncations FILE DIR   DIR/tNNNNN.flt: the first N bytes,
                                           for every N in 1 .. size-1
    mutate.py write flips FILE DIR         DIR/mNNNNN.flt: bit N flipped,
                                           for every bit of every byte
    mutate.py check truncations|flips FILE PROGRAM [ARG]...

"check" runs PROGRAM ARG... m.flt once per mutant (one process each, in
the current directory) and requires exit status 1, nothing on stdout and
exactly one line on stderr that starts "PROGRAM: m.flt: record 1: " (and,
for truncations, says "truncated record").  A signal is reported as a
crash.  It prints how many mutants it checked, and the failures (at most
ten) before exiting 1.
"""
import os
import subprocess
import sys


def mutants(kind, data):
    """Yield (label, bytes) for every mutant of the given kind."""
    if kind == "truncations":
        for n in range(1, len(data)):
            yield "t%05d" % n, data[:n]
    elif kind == "flips":
        # FL_FLIP_STEP=k: every k-th bit only (the sanitizer build, where
        # a process costs ten times as much; make check flips them all).
        step = int(os.environ.get("FL_FLIP_STEP", "1"))
        for i in range(0, len(data) * 8, step):
            m = bytearray(data)
            m[i // 8] ^= 1 << (i % 8)
            yield "m%05d" % i, bytes(m)
    else:
        sys.exit("mutate.py: unknown kind '%s'" % kind)


def check(kind, data, argv):
    prog = os.path.basename(argv[0])
    want = ("%s: m.flt: record 1: " % prog).encode()
    failures, count = [], 0
    for label, m in mutants(kind, data):
        with open("m.flt", "wb") as f:
            f.write(m)
        r = subprocess.run(argv + ["m.flt"], stdin=subprocess.DEVNULL,
                           capture_output=True)
        count += 1
        lines = r.stderr.splitlines()
        why = None
        if r.returncode < 0 or r.returncode >= 128:
            why = "crashed (status %d)" % r.returncode
        elif r.returncode != 1:
            why = "exit status %d" % r.returncode
        elif r.stdout:
            why = "output on stdout"
        elif len(lines) != 1 or not r.stderr.endswith(b"\n"):
            why = "%d lines on stderr" % len(lines)
        elif not lines[0].startswith(want):
            why = "message does not name the file and record 1"
        elif kind == "truncations" and b"truncated record" not in lines[0]:
            why = "not reported as truncated"
        if why:
            failures.append("%s: %s: %s" % (label, why,
                            r.stderr.decode("utf-8", "replace").strip()))
    print("%d %s checked, %d failed" % (count, kind, len(failures)))
    for f in failures[:10]:
        print(f)
    return 1 if failures else 0


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ("write", "check"):
        sys.exit(__doc__)
    mode, kind, path = sys.argv[1:4]
    with open(path, "rb") as f:
        data = f.read()
    if mode == "write":
        if len(sys.argv) != 5:
            sys.exit(__doc__)
        out = sys.argv[4]
        os.makedirs(out, exist_ok=True)
        for label, m in mutants(kind, data):
            with open(os.path.join(out, label + ".flt"), "wb") as f:
                f.write(m)
        return 0
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    return check(kind, data, sys.argv[4:])


if __name__ == "__main__":
    sys.exit(main())
