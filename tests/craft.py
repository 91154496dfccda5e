#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""craft.py - build raw FLT v1 records, valid or hostile, for the tests.

The header text and the payload are taken as given; the lengths, padding and
both CRCs are computed so that a hostile header gets past the checksums and
reaches the parser.  Any preamble field can be overridden; the header CRC is
computed after the overrides (unless --hcrc itself is given), so a record
with a lying hlen or plen still has a valid CRC.

    craft.py -H 'kind=update\\ntensor=a f32 [2] 0\\n' --raw-zeros 8 -o a.flt
    craft.py -H 'tensor=a u8 [1024] 0\\n' --bomb 1048576 > bomb.flt
    craft.py -H 'round=1\\n' --version 2 > v2.flt

Header and --raw/--tail texts decode backslash escapes (\\n \\r \\t \\0
\\xNN \\\\), so NUL, CR and invalid UTF-8 can be written on a command line.
Also importable: craft.record(header_bytes, raw_bytes, ...) returns bytes.
"""
import argparse
import codecs
import struct
import sys
import zlib

MAGIC = b"\x89FLT\r\n\x1a\n"


def align64(n):
    return (n + 63) & ~63


def pad_header(text):
    """Append the padding line: spaces and a newline up to the boundary."""
    spaces = (64 - (32 + len(text) + 1) % 64) % 64
    return text + b" " * spaces + b"\n"


def zlib_zeros(n, level=9):
    """A zlib stream of n zero bytes, built without holding n bytes."""
    c = zlib.compressobj(level)
    chunk = b"\0" * (1 << 20)
    out = []
    while n > 0:
        out.append(c.compress(chunk[:min(n, len(chunk))]))
        n -= min(n, len(chunk))
    out.append(c.flush())
    return b"".join(out)


def record(header, raw=b"", *, pad=True, zlib_level=None, stored=None,
           tail=b"", payload_pad=True, magic=MAGIC, version=1, flags=None,
           reserved=0, hlen=None, plen=None, pcrc=None, hcrc=None):
    """Bytes of one record.

    header: header text (bytes); pad adds the space padding line.
    raw: the raw payload; padded with zeros to 64 (before compression, and
    the stored payload after it) unless payload_pad is off.
    zlib_level: compress raw (sets flag bit 0).  stored: use these stored
    payload bytes as they are (flag bit 0 set unless flags is given).
    tail: bytes appended to the stored payload before its zero padding.
    The rest override preamble fields (reserved is the 16-bit field).
    """
    if pad:
        header = pad_header(header)
    z = False
    if payload_pad:
        raw += b"\0" * (align64(len(raw)) - len(raw))
    if stored is not None:
        body = stored
        z = True
    elif zlib_level is not None:
        body = zlib.compress(raw, zlib_level)
        z = True
    else:
        body = raw
    body += tail
    if payload_pad:
        body += b"\0" * (align64(len(body)) - len(body))
    if flags is None:
        flags = 1 if z else 0
    pre = struct.pack("<8sBBHIQI", magic, version, flags, reserved,
                      len(header) if hlen is None else hlen,
                      len(body) if plen is None else plen,
                      zlib.crc32(body) if pcrc is None else pcrc)
    if hcrc is None:
        hcrc = zlib.crc32(pre + header)
    return pre + struct.pack("<I", hcrc) + header + body


def unescape(s):
    return codecs.escape_decode(s.encode("utf-8"))[0]


def number(s):
    return int(s, 0)


def main():
    ap = argparse.ArgumentParser(
        description="Build a raw FLT v1 record with valid CRCs.")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("-H", "--header", default="",
                   help="header text, backslash escapes decoded")
    g.add_argument("--header-file", help="header text from FILE (- stdin)")
    ap.add_argument("--no-pad", action="store_true",
                    help="do not append the space padding line")
    r = ap.add_mutually_exclusive_group()
    r.add_argument("--raw", help="raw payload, backslash escapes decoded")
    r.add_argument("--raw-hex", help="raw payload in hex")
    r.add_argument("--raw-file", help="raw payload from FILE")
    r.add_argument("--raw-zeros", type=number, help="N zero bytes of payload")
    ap.add_argument("--poke", action="append", default=[],
                    metavar="OFF:HEX", help="overwrite raw bytes at OFF")
    ap.add_argument("-z", "--zlib", type=int, nargs="?", const=6,
                    metavar="LEVEL", help="compress the raw payload")
    s = ap.add_mutually_exclusive_group()
    s.add_argument("--stored-hex", help="stored payload bytes in hex (zlib "
                   "flag set)")
    s.add_argument("--bomb", type=number, metavar="N",
                   help="stored payload: a zlib stream of N zero bytes")
    ap.add_argument("--tail", default="",
                    help="bytes after the stored payload, before padding")
    ap.add_argument("--no-payload-pad", action="store_true",
                    help="do not pad the stored payload to 64 bytes")
    for f in ("version", "flags", "reserved", "hlen", "plen", "pcrc",
              "hcrc"):
        ap.add_argument("--" + f, type=number, help="override " + f)
    ap.add_argument("--magic", help="override the magic (hex)")
    ap.add_argument("-o", "--output", help="write to FILE (default stdout)")
    a = ap.parse_args()

    if a.header_file == "-":
        header = sys.stdin.buffer.read()
    elif a.header_file:
        with open(a.header_file, "rb") as f:
            header = f.read()
    else:
        header = unescape(a.header)
    if a.raw is not None:
        raw = unescape(a.raw)
    elif a.raw_hex is not None:
        raw = bytes.fromhex(a.raw_hex)
    elif a.raw_file is not None:
        with open(a.raw_file, "rb") as f:
            raw = f.read()
    else:
        raw = b"\0" * (a.raw_zeros or 0)
    raw = bytearray(raw)
    for p in a.poke:
        off, _, hx = p.partition(":")
        b = bytes.fromhex(hx)
        off = number(off)
        if len(raw) < off + len(b):
            raw += b"\0" * (off + len(b) - len(raw))
        raw[off:off + len(b)] = b
    stored = None
    if a.stored_hex is not None:
        stored = bytes.fromhex(a.stored_hex)
    elif a.bomb is not None:
        stored = zlib_zeros(a.bomb)
    kw = {f: getattr(a, f) for f in ("flags", "hlen", "plen", "pcrc", "hcrc")}
    out = record(header, bytes(raw), pad=not a.no_pad, zlib_level=a.zlib,
                 stored=stored, tail=unescape(a.tail),
                 payload_pad=not a.no_payload_pad,
                 magic=bytes.fromhex(a.magic) if a.magic else MAGIC,
                 version=1 if a.version is None else a.version,
                 reserved=a.reserved or 0, **kw)
    if a.output:
        with open(a.output, "wb") as f:
            f.write(out)
    else:
        sys.stdout.buffer.write(out)


if __name__ == "__main__":
    main()
