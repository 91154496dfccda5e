# SPDX-License-Identifier: ISC
"""Benchmark inputs, written with examples/python/flt.py (numpy is fast).

  gen.py f32 OUT RECORDS MIB   RECORDS records of one MIB MiB f32 tensor of
                               standard normal values (incompressible)
  gen.py zlib OUT RECORDS MIB  the same, quantised to 255 levels (as an
                               8-bit quantised update would be) and stored
                               compressed: what fl-pack -z writes
Fixed seeds: the same arguments give the same bytes.
"""
import os, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "examples", "python"))
import numpy as np  # noqa: E402
import flt  # noqa: E402


def main(kind, out, records, mib):
    rng = np.random.default_rng(2024)
    n = int(mib) << 18                          # f32 elements in MIB MiB
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        for r in range(int(records)):
            w = rng.standard_normal(n, np.float32)
            if kind == "zlib":
                w = np.clip(np.round(w * 32), -127, 127).astype(np.float32) / 32
            flt.write_record(f, {"kind": "update", "round": r, "client": "bench"},
                             {"w": w}, compress=kind == "zlib")
    os.replace(tmp, out)


if __name__ == "__main__":
    main(*sys.argv[1:])
