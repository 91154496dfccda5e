#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""headers.py - the survey of hostile headers, as a corpus (hostile.bats).

Writes DIR/h0000.flt ... : records whose header (or preamble) lies, each
with valid CRCs so that it reaches the parser.  The cases are a grid, not
random: shapes that claim too much or overflow, dtypes, offsets, names and
metadata that break a rule, preambles that lie about lengths, and records
that are valid but extreme (many tensors, a header at its size limit).
The same DIR every time (no randomness), so a failing case keeps its name.

    headers.py DIR      -> prints the number of records written
"""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
import craft  # noqa: E402

MAX_HEADER = 1 << 20

# Dimension texts: ones a reader must refuse, and ones that claim much.
DIMS = ["0", "1", "7", "63", "2147483648", "4294967295", "4294967296",
        "1099511627776", "4611686018427387904", "9223372036854775808",
        "18446744073709551615", "18446744073709551616", "-1", "+1", "01",
        "0x10", "1e3", "", " 1", "1 ", "99999999999999999999999"]
DTYPES = ["f32", "f64", "i8", "u8", "i16", "u16", "i32", "u32", "i64",
          "u64", "F32", "f16x", "f33", "", "f32 ", "\\0", "float"]
OFFSETS = ["0", "1", "63", "64", "128", "4096", "-64", "18446744073709551552",
           "18446744073709551615", "0x40", "", "64 "]
NAMES = ["a", "", "a b", "a=b", "\\x00", "\\xff\\xfe", "\\t", "a\\r",
         "x" * 300, "x" * 70000, "..", "/", "fl.loss", "é"]


def rec(header, raw=b"", **kw):
    return craft.record(header.encode() if isinstance(header, str)
                        else header, raw, **kw)


def unesc(s):
    return craft.unescape(s)


def cases():
    out = []
    base = "kind=update\nweight=1\n"
    # 1. Shapes: every dimension text at every place of ranks 1 to 3,
    # with the payload the rest of the record has (64 bytes) and with a
    # payload length that agrees with the claim.
    for rank, pos, d, (dt, size) in ((r, p, d, t) for r in (1, 2, 3)
                                     for p in range(r) for d in DIMS
                                     for t in (("f32", 4), ("u8", 1),
                                               ("f64", 8))):
        dims = ["2"] * rank
        dims[pos] = d
        h = base + "tensor=a %s [%s] 0\n" % (dt, ",".join(dims))
        out.append(rec(h, b"\0" * 64))
        out.append(rec(h, b"\0" * 64, zlib_level=6))
        try:
            n = size
            for x in dims:
                n *= int(x, 10)
            if 0 < n < 1 << 63:
                out.append(rec(h, b"", plen=(n + 63) & ~63,
                               payload_pad=False))
        except ValueError:
            pass
    # Ranks 0, 8, 9 and a product that overflows only in some orders.
    for dims in ("[]", "[" + ",".join(["2"] * 8) + "]",
                 "[" + ",".join(["2"] * 9) + "]",
                 "[4294967296,4294967296,0]", "[0,4294967296,4294967296]",
                 "[4294967296,0,4294967296]", "[3037000500,3037000500]",
                 "[2", "2]", "[2,]", "[,2]", "[2,,2]", "(2)", "2"):
        out.append(rec(base + "tensor=a f32 %s 0\n" % dims, b"\0" * 64))
    # 2. Dtypes, with each of a few shapes.
    for dt in DTYPES:
        for shape in ("[1]", "[16]", "[17]", "[0]"):
            out.append(rec(unesc(base + "tensor=a %s %s 0\n" % (dt, shape)),
                           b"\0" * 128))
    # 3. Offsets of a second tensor, and of the first.
    for off in OFFSETS:
        out.append(rec(base + "tensor=a f32 [4] 0\ntensor=b f32 [4] %s\n"
                       % off, b"\0" * 128))
        out.append(rec(base + "tensor=a f32 [4] %s\n" % off, b"\0" * 128))
        out.append(rec(base + "tensor=a f32 [16] 0\ntensor=b u8 [1] %s\n"
                       % off, b"\0" * 128))
    # Overlapping, out of order, past the payload, leaving a gap.
    for pair in (("0", "0"), ("64", "0"), ("0", "32"), ("0", "128"),
                 ("0", "192"), ("128", "192")):
        out.append(rec(base + "tensor=a f32 [16] %s\ntensor=b f32 [16] %s\n"
                       % pair, b"\0" * 128))
    # 4. Names, alone and twice.
    for name in NAMES:
        t = "tensor=%s f32 [1] 0\n" % name
        out.append(rec(unesc(base + t), b"\0" * 64))
        out.append(rec(unesc(base + t + "tensor=%s f32 [1] 64\n" % name),
                       b"\0" * 128))
    # 5. Metadata lines that break a rule, before and after the tensors.
    bad = ["noequals", "=v", "k =v", " k=v", "k=v\\r", "k=\\x00",
           "k=\\xc3\\x28", "k=\\xed\\xa0\\x80", "kind=update", "a=1\\na=2",
           "z=1\\na=1", "K=1", "k.=1", "k..x=1", "\\xef\\xbb\\xbfk=1",
           "k=" + "v" * 70000, "k" * 5000 + "=1", "tensor=", "tensor=a",
           "tensor=a f32", "tensor=a f32 [1]", "tensor=a f32 [1] 0 extra",
           "tensor=a  f32 [1] 0", "tensor=a\\tf32 [1] 0"]
    for line in bad:
        out.append(rec(unesc("kind=update\n" + line + "\n"
                             "tensor=a f32 [1] 0\nweight=1\n"), b"\0" * 64))
        out.append(rec(unesc(line + "\n"), b""))
    # Headers that do not end as the format says.
    for h in (b"kind=update", b"kind=update\n\n", b"\n", b"", b" \n",
              b"kind=update\n" + b" " * 30, b"kind=update\r\n"):
        out.append(rec(h, b"", pad=False))
        out.append(rec(h, b""))
    # 6. Preambles that lie, over a valid header.
    good_h = base + "tensor=a f32 [16] 0\n"
    good_raw = b"\1" * 64
    for kw in ({"hlen": 0}, {"hlen": 32}, {"hlen": 96}, {"hlen": 1 << 20},
               {"hlen": (1 << 20) + 32}, {"hlen": 0xffffffe0},
               {"hlen": 0xffffffff}, {"plen": 0}, {"plen": 63},
               {"plen": 128}, {"plen": 1 << 40}, {"plen": (1 << 64) - 64},
               {"plen": (1 << 64) - 1}, {"version": 0}, {"version": 2},
               {"version": 255}, {"flags": 2}, {"flags": 0x80},
               {"flags": 1}, {"reserved": 1}, {"reserved": 0xffff},
               {"pcrc": 0}, {"hcrc": 0}, {"magic": b"\x89FLT\r\n\x1a\0"},
               {"magic": b"\x89flt\r\n\x1a\n"}):
        out.append(rec(good_h, good_raw, **kw))
    # zlib payloads that lie: a bomb beyond the claim, a stream that
    # ends early, a stream with bytes after it, not zlib at all.
    for kw in ({"stored": craft.zlib_zeros(1 << 20)},
               {"stored": craft.zlib_zeros(64)[:-6]},
               {"stored": craft.zlib_zeros(64), "tail": b"x"},
               {"stored": b"\0" * 64}, {"stored": b""}):
        out.append(rec(good_h, good_raw, **kw))
    # 7. Valid but extreme: many tensors, a header at its size limit,
    # one just over it, all of them claiming payload that is not there.
    many = "".join("tensor=t%05d f32 [0] 0\n" % i for i in range(65536))
    out.append(rec("kind=update\n" + many, b""))
    many = "".join("tensor=t%05d f32 [16] %d\n" % (i, 64 * i)
                   for i in range(65537))
    out.append(rec("kind=update\n" + many, b""))
    for size in (MAX_HEADER - 64, MAX_HEADER, MAX_HEADER + 64):
        pad = size - 64 - 32 - len("kind=update\nx=\n")
        h = "kind=update\nx=" + "v" * max(pad, 0) + "\n"
        out.append(rec(h, b""))
    # Every tensor claiming 1 GiB, payload absent, under each dtype.
    for dt in ("f32", "f64", "u8", "i64"):
        out.append(rec(base + "tensor=a %s [1073741824] 0\n" % dt, b"",
                       plen=(1 << 30) * {"u8": 1, "f32": 4}.get(dt, 8),
                       payload_pad=False))
    return out


def main():
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    all_cases = cases()
    for i, r in enumerate(all_cases):
        with open(os.path.join(d, "h%04d.flt" % i), "wb") as f:
            f.write(r)
    print(len(all_cases))


if __name__ == "__main__":
    main()
